/*
 * cmd_catalog.c - `gpn catalog`: create and query the atlas catalog.
 *
 *   gpn catalog init     --atlas DIR [--species CSV] [--habitats CSV]
 *   gpn catalog species  --atlas DIR [--search PREFIX] [--flag F]... [--limit N] [--count]
 *   gpn catalog habitats --atlas DIR [--level N] [--chain CODE]
 *   gpn catalog layers   --atlas DIR [--group G]
 *   gpn catalog tiles    --atlas DIR [--state S]
 *   gpn catalog runs     --atlas DIR [--kind sdm|hdm]
 *
 * The first argument picks the action; each action parses its own options.
 * Listings are tab-separated with a header line (easy to read, cut and
 * sort); `init` prints a one-line summary. Publishing layers is `gpn layer`
 * (the server's command), not this one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "gpn/catalog.h"
#include "gpn/paths.h"
#include "gpn/util.h"

static const char CMD[] = "catalog";

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: gpn catalog init     --atlas DIR [--species CSV] [--habitats CSV]\n"
            "       gpn catalog species  --atlas DIR [--search PREFIX] [--flag F]... [--limit N] [--count]\n"
            "       gpn catalog habitats --atlas DIR [--level N] [--chain CODE]\n"
            "       gpn catalog layers   --atlas DIR [--group G]\n"
            "       gpn catalog tiles    --atlas DIR [--state pending|running|done|failed]\n"
            "       gpn catalog runs     --atlas DIR [--kind sdm|hdm]\n"
            "\n"
            "The atlas catalog is DIR/catalog.sqlite (SQLite; schema version %d).\n"
            "  init      create DIR and the catalog (or migrate an old one) and load the\n"
            "            species reference table (default data/species/species_reference.csv)\n"
            "            and the EUNIS hierarchy (default data/eunis/eunis_hierarchy.csv)\n"
            "  species   list species (tab-separated); --search: name prefix, case-insensitive;\n"
            "            --flag directive|invasive|tree|endemic|specialist|alien (repeat or\n"
            "            comma-separate: all must hold); --limit N rows (0 = all, the default);\n"
            "            --count prints only the number of matches\n"
            "  habitats  list EUNIS habitats, all or one --level (1-4); --chain CODE prints\n"
            "            CODE and its parents up to level 1\n"
            "  layers    list published layers (add them with `gpn layer add`)\n"
            "  tiles     list meta-tile states and a count per state\n"
            "  runs      list model runs (training and evaluation records)\n"
            "\n"
            "Options: -h/--help, -v/--verbose, -q/--quiet\n",
            GPN_CATALOG_SCHEMA_VERSION);
}

/* Opens ATLAS/catalog.sqlite; prints the error and returns 1 on failure. */
static int open_atlas(const char *atlas, int flags, struct gpn_catalog **cat)
{
    struct gpn_err err = {0};
    char path[4096];
    if (gpn_catalog_path(atlas, path, sizeof path, &err) || gpn_catalog_open(path, flags, cat, &err))
        return app_fail(CMD, &err);
    return 0;
}

static void print_flags(unsigned flags)
{
    int any = 0;
    for (int i = 0; i < GPN_SPECIES_NFLAGS; i++) {
        unsigned bit = 1u << i;
        if (flags & bit) {
            printf("%s%s", any ? "," : "", gpn_species_flag_name(bit));
            any = 1;
        }
    }
    if (!any) printf("-");
}

/* ==== init =============================================================== */

static int find_data(const char *given, const char *rel, char *buf, size_t n, struct gpn_err *err)
{
    if (given) {
        if (gpn_strlcpy(buf, given, n) >= n) return gpn_err_set(err, GPN_ETOOBIG, "%s: path too long", given);
        return 0;
    }
    return gpn_data_path(rel, buf, n, err);
}

static int cmd_init(int argc, char **argv)
{
    static const struct option lo[] = {{"atlas", required_argument, 0, 'a'},
                                       {"species", required_argument, 0, 's'},
                                       {"habitats", required_argument, 0, 'H'},
                                       APP_COMMON_LONGOPTS,
                                       {0, 0, 0, 0}};
    const char *atlas = NULL, *species = NULL, *habitats = NULL;
    int opt;
    while ((opt = getopt_long(argc, argv, "hvq", lo, NULL)) != -1) {
        switch (opt) {
        case 'a': atlas = optarg; break;
        case 's': species = optarg; break;
        case 'H': habitats = optarg; break;
        case 'h': usage(stdout); return 0;
        default:
            if (app_common_option(opt)) break;
            return app_usage_error(CMD, "invalid option");
        }
    }
    if (optind < argc) return app_usage_error(CMD, "init: unexpected argument '%s'", argv[optind]);
    if (!atlas) return app_usage_error(CMD, "init: --atlas DIR is required");

    struct gpn_err err = {0};
    char sp_path[4096], hab_path[4096];
    if (find_data(species, "species/species_reference.csv", sp_path, sizeof sp_path, &err) ||
        find_data(habitats, "eunis/eunis_hierarchy.csv", hab_path, sizeof hab_path, &err))
        return app_fail(CMD, &err);
    if (gpn_mkdir_p(atlas, &err)) return app_fail(CMD, &err);
    struct gpn_catalog *cat;
    if (open_atlas(atlas, GPN_CATALOG_CREATE, &cat)) return 1;
    size_t nsp = 0, nhab = 0;
    int64_t lv[GPN_HABITAT_MAX_LEVEL + 1] = {0}, flagged[GPN_SPECIES_NFLAGS] = {0};
    int version = 0;
    if (gpn_catalog_species_load_csv(cat, sp_path, &nsp, &err) ||
        gpn_catalog_habitats_load_csv(cat, hab_path, &nhab, &err) ||
        gpn_catalog_schema_version(cat, &version, &err))
        goto fail;
    for (int l = 1; l <= GPN_HABITAT_MAX_LEVEL; l++)
        if (gpn_catalog_habitats_count(cat, l, &lv[l], &err)) goto fail;
    for (int i = 0; i < GPN_SPECIES_NFLAGS; i++)
        if (gpn_catalog_species_count(cat, 1u << i, &flagged[i], &err)) goto fail;
    gpn_catalog_close(cat);
    printf("catalog %s/%s (schema %d): %zu species (", atlas, GPN_CATALOG_FILE, version, nsp);
    for (int i = 0; i < GPN_SPECIES_NFLAGS; i++)
        printf("%s%s %lld", i ? ", " : "", gpn_species_flag_name(1u << i), (long long)flagged[i]);
    printf("), habitats L1 %lld, L2 %lld, L3 %lld, L4 %lld\n", (long long)lv[1], (long long)lv[2], (long long)lv[3],
           (long long)lv[4]);
    return 0;
fail:
    gpn_catalog_close(cat);
    return app_fail(CMD, &err);
}

/* ==== species ============================================================ */

static int parse_flags(const char *arg, unsigned *flags, struct gpn_err *err)
{
    char buf[256];
    if (gpn_strlcpy(buf, arg, sizeof buf) >= sizeof buf) return gpn_err_set(err, GPN_EINVAL, "--flag too long");
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        unsigned f;
        int rc = gpn_species_flag_parse(gpn_strtrim(tok), &f, err);
        if (rc) return rc;
        *flags |= f;
    }
    return 0;
}

static int cmd_species(int argc, char **argv)
{
    static const struct option lo[] = {{"atlas", required_argument, 0, 'a'},
                                       {"search", required_argument, 0, 's'},
                                       {"flag", required_argument, 0, 'f'},
                                       {"limit", required_argument, 0, 'l'},
                                       {"count", no_argument, 0, 'c'},
                                       APP_COMMON_LONGOPTS,
                                       {0, 0, 0, 0}};
    const char *atlas = NULL, *prefix = NULL;
    unsigned flags = 0;
    int64_t limit = 0;
    int count_only = 0, opt;
    struct gpn_err err = {0};
    while ((opt = getopt_long(argc, argv, "hvq", lo, NULL)) != -1) {
        switch (opt) {
        case 'a': atlas = optarg; break;
        case 's': prefix = optarg; break;
        case 'f':
            if (parse_flags(optarg, &flags, &err)) return app_usage_error(CMD, "%s", err.msg);
            break;
        case 'l':
            if (gpn_parse_i64(optarg, 0, INT64_MAX, &limit, "--limit", &err))
                return app_usage_error(CMD, "%s", err.msg);
            break;
        case 'c': count_only = 1; break;
        case 'h': usage(stdout); return 0;
        default:
            if (app_common_option(opt)) break;
            return app_usage_error(CMD, "invalid option");
        }
    }
    if (optind < argc) return app_usage_error(CMD, "species: unexpected argument '%s'", argv[optind]);
    if (!atlas) return app_usage_error(CMD, "species: --atlas DIR is required");
    struct gpn_catalog *cat;
    if (open_atlas(atlas, GPN_CATALOG_READONLY, &cat)) return 1;
    struct gpn_species *sp = NULL;
    size_t n = 0;
    int rc = gpn_catalog_species_search(cat, prefix, flags, count_only ? 0 : (size_t)limit, &sp, &n, &err);
    gpn_catalog_close(cat);
    if (rc) return app_fail(CMD, &err);
    if (count_only) {
        printf("%zu\n", n);
    } else {
        printf("id\tscientific_name\tfamily\tflags\tredlist\tgeoplant_id\n");
        for (size_t i = 0; i < n; i++) {
            printf("%lld\t%s\t%s\t", (long long)sp[i].id, sp[i].scientific_name, sp[i].family[0] ? sp[i].family : "-");
            print_flags(sp[i].flags);
            printf("\t%s\t", sp[i].redlist[0] ? sp[i].redlist : "-");
            if (sp[i].geoplant_id >= 0)
                printf("%lld\n", (long long)sp[i].geoplant_id);
            else
                printf("-\n");
        }
    }
    free(sp);
    return 0;
}

/* ==== habitats =========================================================== */

static int cmd_habitats(int argc, char **argv)
{
    static const struct option lo[] = {{"atlas", required_argument, 0, 'a'},
                                       {"level", required_argument, 0, 'l'},
                                       {"chain", required_argument, 0, 'c'},
                                       APP_COMMON_LONGOPTS,
                                       {0, 0, 0, 0}};
    const char *atlas = NULL, *chain_code = NULL;
    int level = 0, opt;
    struct gpn_err err = {0};
    while ((opt = getopt_long(argc, argv, "hvq", lo, NULL)) != -1) {
        switch (opt) {
        case 'a': atlas = optarg; break;
        case 'l':
            if (gpn_parse_int(optarg, 1, GPN_HABITAT_MAX_LEVEL, &level, "--level", &err))
                return app_usage_error(CMD, "%s", err.msg);
            break;
        case 'c': chain_code = optarg; break;
        case 'h': usage(stdout); return 0;
        default:
            if (app_common_option(opt)) break;
            return app_usage_error(CMD, "invalid option");
        }
    }
    if (optind < argc) return app_usage_error(CMD, "habitats: unexpected argument '%s'", argv[optind]);
    if (!atlas) return app_usage_error(CMD, "habitats: --atlas DIR is required");
    struct gpn_catalog *cat;
    if (open_atlas(atlas, GPN_CATALOG_READONLY, &cat)) return 1;
    int rc;
    printf("code\tlevel\tparent\tname\n");
    if (chain_code) {
        struct gpn_habitat chain[GPN_HABITAT_MAX_LEVEL];
        int n = 0;
        rc = gpn_catalog_habitat_chain(cat, chain_code, chain, &n, &err);
        for (int i = 0; rc == 0 && i < n; i++)
            printf("%s\t%d\t%s\t%s\n", chain[i].code, chain[i].level, chain[i].parent[0] ? chain[i].parent : "-",
                   chain[i].name);
    } else {
        struct gpn_habitat *h = NULL;
        size_t n = 0;
        rc = gpn_catalog_habitats_list(cat, level, &h, &n, &err);
        for (size_t i = 0; rc == 0 && i < n; i++)
            printf("%s\t%d\t%s\t%s\n", h[i].code, h[i].level, h[i].parent[0] ? h[i].parent : "-", h[i].name);
        free(h);
    }
    gpn_catalog_close(cat);
    return rc ? app_fail(CMD, &err) : 0;
}

/* ==== layers, tiles, runs ================================================ */

static int cmd_layers(int argc, char **argv)
{
    static const struct option lo[] = {{"atlas", required_argument, 0, 'a'},
                                       {"group", required_argument, 0, 'g'},
                                       APP_COMMON_LONGOPTS,
                                       {0, 0, 0, 0}};
    const char *atlas = NULL;
    int group = -1, opt;
    struct gpn_err err = {0};
    while ((opt = getopt_long(argc, argv, "hvq", lo, NULL)) != -1) {
        switch (opt) {
        case 'a': atlas = optarg; break;
        case 'g': {
            enum gpn_layer_group g;
            if (gpn_layer_group_parse(optarg, &g, &err)) return app_usage_error(CMD, "%s", err.msg);
            group = (int)g;
            break;
        }
        case 'h': usage(stdout); return 0;
        default:
            if (app_common_option(opt)) break;
            return app_usage_error(CMD, "invalid option");
        }
    }
    if (optind < argc) return app_usage_error(CMD, "layers: unexpected argument '%s'", argv[optind]);
    if (!atlas) return app_usage_error(CMD, "layers: --atlas DIR is required");
    struct gpn_catalog *cat;
    if (open_atlas(atlas, GPN_CATALOG_READONLY, &cat)) return 1;
    struct gpn_layer *l = NULL;
    size_t n = 0;
    int rc = gpn_catalog_layers_list(cat, group, &l, &n, &err);
    gpn_catalog_close(cat);
    if (rc) return app_fail(CMD, &err);
    printf("name\tgroup\tversion\tdtype\tepsg\tpath\ttitle\n");
    for (size_t i = 0; i < n; i++)
        printf("%s\t%s\t%lld\t%s\t%d\t%s\t%s\n", l[i].name, gpn_layer_group_name(l[i].group),
               (long long)l[i].version, l[i].dtype[0] ? l[i].dtype : "-", l[i].epsg, l[i].path,
               l[i].title[0] ? l[i].title : "-");
    free(l);
    return 0;
}

static int cmd_tiles(int argc, char **argv)
{
    static const struct option lo[] = {{"atlas", required_argument, 0, 'a'},
                                       {"state", required_argument, 0, 's'},
                                       APP_COMMON_LONGOPTS,
                                       {0, 0, 0, 0}};
    const char *atlas = NULL;
    int state = -1, opt;
    struct gpn_err err = {0};
    while ((opt = getopt_long(argc, argv, "hvq", lo, NULL)) != -1) {
        switch (opt) {
        case 'a': atlas = optarg; break;
        case 's': {
            enum gpn_tile_state s;
            if (gpn_tile_state_parse(optarg, &s, &err)) return app_usage_error(CMD, "%s", err.msg);
            state = (int)s;
            break;
        }
        case 'h': usage(stdout); return 0;
        default:
            if (app_common_option(opt)) break;
            return app_usage_error(CMD, "invalid option");
        }
    }
    if (optind < argc) return app_usage_error(CMD, "tiles: unexpected argument '%s'", argv[optind]);
    if (!atlas) return app_usage_error(CMD, "tiles: --atlas DIR is required");
    struct gpn_catalog *cat;
    if (open_atlas(atlas, GPN_CATALOG_READONLY, &cat)) return 1;
    struct gpn_tile_status *t = NULL;
    size_t n = 0;
    int64_t counts[GPN_TILE_NSTATES];
    int rc = gpn_catalog_tiles_list(cat, state, &t, &n, &err);
    if (rc == 0) rc = gpn_catalog_tiles_count(cat, counts, &err);
    gpn_catalog_close(cat);
    if (rc) {
        free(t);
        return app_fail(CMD, &err);
    }
    printf("tile_id\tstate\tupdated_at\tmessage\n");
    for (size_t i = 0; i < n; i++)
        printf("%s\t%s\t%lld\t%s\n", t[i].tile_id, gpn_tile_state_name(t[i].state), (long long)t[i].updated_at,
               t[i].message[0] ? t[i].message : "-");
    free(t);
    fprintf(stderr, "tiles: %lld pending, %lld running, %lld done, %lld failed\n", (long long)counts[0],
            (long long)counts[1], (long long)counts[2], (long long)counts[3]);
    return 0;
}

static int cmd_runs(int argc, char **argv)
{
    static const struct option lo[] = {{"atlas", required_argument, 0, 'a'},
                                       {"kind", required_argument, 0, 'k'},
                                       APP_COMMON_LONGOPTS,
                                       {0, 0, 0, 0}};
    const char *atlas = NULL;
    int kind = -1, opt;
    struct gpn_err err = {0};
    while ((opt = getopt_long(argc, argv, "hvq", lo, NULL)) != -1) {
        switch (opt) {
        case 'a': atlas = optarg; break;
        case 'k': {
            enum gpn_model_kind k;
            if (gpn_model_kind_parse(optarg, &k, &err)) return app_usage_error(CMD, "%s", err.msg);
            kind = (int)k;
            break;
        }
        case 'h': usage(stdout); return 0;
        default:
            if (app_common_option(opt)) break;
            return app_usage_error(CMD, "invalid option");
        }
    }
    if (optind < argc) return app_usage_error(CMD, "runs: unexpected argument '%s'", argv[optind]);
    if (!atlas) return app_usage_error(CMD, "runs: --atlas DIR is required");
    struct gpn_catalog *cat;
    if (open_atlas(atlas, GPN_CATALOG_READONLY, &cat)) return 1;
    struct gpn_model_run *m = NULL;
    size_t n = 0;
    int rc = gpn_catalog_model_runs_list(cat, kind, &m, &n, &err);
    gpn_catalog_close(cat);
    if (rc) return app_fail(CMD, &err);
    printf("id\tkind\tcreated_at\tpath\tmetrics\n");
    for (size_t i = 0; i < n; i++)
        printf("%lld\t%s\t%lld\t%s\t%s\n", (long long)m[i].id, gpn_model_kind_name(m[i].kind),
               (long long)m[i].created_at, m[i].path, m[i].metrics);
    free(m);
    return 0;
}

/* ==== dispatch =========================================================== */

int gpn_cmd_catalog(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *action = argv[1];
    if (!strcmp(action, "-h") || !strcmp(action, "--help") || !strcmp(action, "help")) {
        usage(stdout);
        return 0;
    }
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } actions[] = {
        {"init", cmd_init},   {"species", cmd_species}, {"habitats", cmd_habitats},
        {"layers", cmd_layers}, {"tiles", cmd_tiles},     {"runs", cmd_runs},
    };
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++) {
        if (strcmp(action, actions[i].name)) continue;
        app_getopt_reset();
        return actions[i].fn(argc - 1, argv + 1);
    }
    return app_usage_error(CMD, "unknown action '%s' (init, species, habitats, layers, tiles, runs)", action);
}
