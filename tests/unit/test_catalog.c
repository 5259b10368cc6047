/*
 * test_catalog.c - the SQLite catalog: schema and migrations, the real
 * species reference table and EUNIS hierarchy, layers, tiles, model runs,
 * transactions, hostile input, and the `gpn catalog` command line.
 *
 * Reads data/species/species_reference.csv and the CSVs in data/eunis/ from the
 * repository (tests run from the repository root).
 */
#include "test.h"

#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "gpn/catalog.h"
#include "gpn/util.h"

#define SPECIES_CSV "data/species/species_reference.csv"
#define EUNIS_CSV "data/eunis/eunis_hierarchy.csv"
#define EUNIS_PLAIN_CSV "data/eunis/eunis_habitats.csv"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    fputs(text, f);
    fclose(f);
}

/* Opens a fresh catalog in the test's temp folder. */
static struct gpn_catalog *fresh(char *path, size_t n)
{
    struct gpn_err e = {0};
    snprintf(path, n, "%s/%s", test_tmpdir(), GPN_CATALOG_FILE);
    struct gpn_catalog *cat = NULL;
    if (gpn_catalog_open(path, GPN_CATALOG_CREATE, &cat, &e)) {
        fprintf(stderr, "  open failed: %s\n", e.msg);
        return NULL;
    }
    return cat;
}

/* ==== schema ============================================================= */

static void test_open_migrate_reopen(void)
{
    struct gpn_err e = {0};
    char path[600], wal[640];
    struct gpn_catalog *cat = fresh(path, sizeof path);
    ASSERT_TRUE(cat != NULL);
    int v = -1;
    ASSERT_OK(gpn_catalog_schema_version(cat, &v, &e), &e);
    ASSERT_EQ_INT(v, GPN_CATALOG_SCHEMA_VERSION);
    ASSERT_OK(gpn_catalog_tile_set(cat, "t1", GPN_TILE_DONE, NULL, &e), &e);
    snprintf(wal, sizeof wal, "%s-wal", path);
    ASSERT_TRUE(gpn_path_exists(wal)); /* WAL mode */
    gpn_catalog_close(cat);

    /* Re-opening (with or without CREATE, or read-only) keeps the data and
     * the version: migrations are not applied twice. */
    for (int flags = 0; flags <= GPN_CATALOG_READONLY; flags++) {
        ASSERT_OK(gpn_catalog_open(path, flags, &cat, &e), &e);
        v = -1;
        ASSERT_OK(gpn_catalog_schema_version(cat, &v, &e), &e);
        ASSERT_EQ_INT(v, GPN_CATALOG_SCHEMA_VERSION);
        struct gpn_tile_status t;
        ASSERT_OK(gpn_catalog_tile_get(cat, "t1", &t, &e), &e);
        ASSERT_EQ_INT(t.state, GPN_TILE_DONE);
        gpn_catalog_close(cat);
    }
    /* Read-only connections refuse writes. */
    ASSERT_OK(gpn_catalog_open(path, GPN_CATALOG_READONLY, &cat, &e), &e);
    ASSERT_RC(gpn_catalog_tile_set(cat, "t2", GPN_TILE_DONE, NULL, &e), GPN_ESTATE);
    gpn_catalog_close(cat);
    gpn_catalog_close(NULL);
}

static void test_open_errors(void)
{
    struct gpn_err e = {0};
    char path[600];
    struct gpn_catalog *cat = (struct gpn_catalog *)1;
    snprintf(path, sizeof path, "%s/missing.sqlite", test_tmpdir());
    ASSERT_RC(gpn_catalog_open(path, 0, &cat, &e), GPN_ENOTFOUND);
    ASSERT_TRUE(cat == NULL);
    ASSERT_STR_CONTAINS(e.msg, "missing.sqlite");
    ASSERT_FALSE(gpn_path_exists(path)); /* not created without the flag */

    /* A text file is reported as such and left untouched. */
    static const char text[] = "id,name\n1,not a database at all, just some text that is long enough\n";
    snprintf(path, sizeof path, "%s/notdb.sqlite", test_tmpdir());
    write_file(path, text);
    ASSERT_RC(gpn_catalog_open(path, GPN_CATALOG_CREATE, &cat, &e), GPN_EFORMAT);
    ASSERT_STR_CONTAINS(e.msg, "not an SQLite database");
    ASSERT_STR_CONTAINS(e.msg, "notdb.sqlite");
    char *data = NULL;
    size_t len = 0;
    ASSERT_OK(gpn_file_read(path, &data, &len, &e), &e);
    ASSERT_EQ_INT(len, strlen(text));
    ASSERT_TRUE(!memcmp(data, text, len));
    free(data);

    /* A folder is not a catalog. */
    ASSERT_RC(gpn_catalog_open(test_tmpdir(), GPN_CATALOG_CREATE, &cat, &e), GPN_EINVAL);
}

/* PRAGMA user_version is the big-endian 32-bit integer at byte 60 of the
 * database header: a catalog from a future gpn must be refused, not
 * silently misread. */
static void test_newer_schema_refused(void)
{
    struct gpn_err e = {0};
    char path[600];
    struct gpn_catalog *cat = fresh(path, sizeof path);
    ASSERT_TRUE(cat != NULL);
    gpn_catalog_close(cat); /* checkpoints the WAL into the main file */
    FILE *f = fopen(path, "r+b");
    ASSERT_TRUE(f != NULL);
    unsigned char v[4] = {0, 0, 0, 99};
    ASSERT_EQ_INT(fseek(f, 60, SEEK_SET), 0);
    ASSERT_EQ_INT(fwrite(v, 1, 4, f), 4);
    fclose(f);
    ASSERT_RC(gpn_catalog_open(path, 0, &cat, &e), GPN_EUNSUPPORTED);
    ASSERT_STR_CONTAINS(e.msg, "newer");
}

static void test_transactions_and_wal_readers(void)
{
    struct gpn_err e = {0};
    char path[600];
    struct gpn_catalog *a = fresh(path, sizeof path), *b = NULL;
    ASSERT_TRUE(a != NULL);
    ASSERT_OK(gpn_catalog_open(path, 0, &b, &e), &e);

    ASSERT_OK(gpn_catalog_begin(a, &e), &e);
    ASSERT_RC(gpn_catalog_begin(a, &e), GPN_ESTATE);
    for (int i = 0; i < 50; i++) {
        char id[32];
        snprintf(id, sizeof id, "tile%03d", i);
        ASSERT_OK(gpn_catalog_tile_set(a, id, GPN_TILE_PENDING, NULL, &e), &e);
    }
    struct gpn_tile_status t;
    ASSERT_RC(gpn_catalog_tile_get(b, "tile000", &t, &e), GPN_ENOTFOUND); /* not committed yet */
    gpn_catalog_rollback(a);
    int64_t counts[GPN_TILE_NSTATES];
    ASSERT_OK(gpn_catalog_tiles_count(a, counts, &e), &e);
    ASSERT_EQ_INT(counts[GPN_TILE_PENDING], 0);

    ASSERT_OK(gpn_catalog_begin(a, &e), &e);
    ASSERT_OK(gpn_catalog_tile_set(a, "tile000", GPN_TILE_RUNNING, NULL, &e), &e);
    /* Layer adds nest inside an outer transaction through a savepoint. */
    struct gpn_layer l = {.group = GPN_LAYER_OTHER};
    strcpy(l.name, "in_txn");
    strcpy(l.path, "layers/in_txn.tif");
    ASSERT_OK(gpn_catalog_layer_add(a, &l, NULL, NULL, &e), &e);
    ASSERT_OK(gpn_catalog_commit(a, &e), &e);
    ASSERT_RC(gpn_catalog_commit(a, &e), GPN_ESTATE);
    ASSERT_OK(gpn_catalog_tile_get(b, "tile000", &t, &e), &e);
    ASSERT_EQ_INT(t.state, GPN_TILE_RUNNING);
    struct gpn_layer got;
    ASSERT_OK(gpn_catalog_layer_get(b, "in_txn", &got, &e), &e);
    gpn_catalog_close(b);
    gpn_catalog_close(a);
}

/* ==== species ============================================================ */

static void test_species_reference_table(void)
{
    struct gpn_err e = {0};
    char path[600];
    struct gpn_catalog *cat = fresh(path, sizeof path);
    ASSERT_TRUE(cat != NULL);
    size_t n = 0;
    ASSERT_OK(gpn_catalog_species_load_csv(cat, SPECIES_CSV, &n, &e), &e);
    ASSERT_TRUE(n > 5000);
    int64_t count = 0;
    ASSERT_OK(gpn_catalog_species_count(cat, 0, &count, &e), &e);
    ASSERT_EQ_INT(count, (int64_t)n);

    struct gpn_species sp;
    ASSERT_OK(gpn_catalog_species_find(cat, "Ailanthus altissima", &sp, &e), &e);
    ASSERT_TRUE(sp.flags & GPN_SPECIES_INVASIVE);
    ASSERT_TRUE(sp.flags & GPN_SPECIES_ALIEN);
    ASSERT_TRUE(sp.flags & GPN_SPECIES_TREE);
    ASSERT_FALSE(sp.flags & GPN_SPECIES_ENDEMIC);
    ASSERT_STR_EQ(sp.family, "Simaroubaceae");

    /* Case-insensitive exact look-up; GeoPlant id kept. */
    ASSERT_OK(gpn_catalog_species_find(cat, "fagus SYLVATICA", &sp, &e), &e);
    ASSERT_STR_EQ(sp.scientific_name, "Fagus sylvatica");
    ASSERT_STR_EQ(sp.genus, "Fagus");
    ASSERT_STR_EQ(sp.family, "Fagaceae");
    ASSERT_TRUE(sp.flags & GPN_SPECIES_TREE);
    ASSERT_FALSE(sp.flags & (GPN_SPECIES_INVASIVE | GPN_SPECIES_ALIEN));
    ASSERT_EQ_INT(sp.geoplant_id, 5314);
    ASSERT_RC(gpn_catalog_species_find(cat, "Fagus sylv", &sp, &e), GPN_ENOTFOUND);

    static const struct {
        const char *name;
        int64_t gid;
    } gp[] = {{"Pinus sylvestris", 8987}, {"Quercus robur", 9324}, {"Picea abies", 1283},
              {"Abies alba", 6574},       {"Betula pendula", 8079}};
    for (size_t i = 0; i < sizeof gp / sizeof gp[0]; i++) {
        ASSERT_OK(gpn_catalog_species_find_geoplant(cat, gp[i].gid, &sp, &e), &e);
        ASSERT_STR_EQ(sp.scientific_name, gp[i].name);
        ASSERT_TRUE(sp.flags & GPN_SPECIES_TREE);
    }

    /* The Sicilian fir: Italian endemic, Habitats Directive, CR, 1 region. */
    ASSERT_OK(gpn_catalog_species_find(cat, "Abies nebrodensis", &sp, &e), &e);
    ASSERT_TRUE(sp.flags & GPN_SPECIES_ENDEMIC);
    ASSERT_TRUE(sp.flags & GPN_SPECIES_DIRECTIVE);
    ASSERT_TRUE(sp.flags & GPN_SPECIES_SPECIALIST);
    ASSERT_STR_EQ(sp.redlist, "CR");
    ASSERT_EQ_INT(sp.it_regions, 1);
    ASSERT_TRUE(sp.gbif_key > 0);
    /* A Directive species that is not endemic. */
    ASSERT_OK(gpn_catalog_species_find(cat, "Cypripedium calceolus", &sp, &e), &e);
    ASSERT_TRUE(sp.flags & GPN_SPECIES_DIRECTIVE);
    ASSERT_FALSE(sp.flags & GPN_SPECIES_ENDEMIC);
    /* A Directive species from outside Italy is in the table too. */
    ASSERT_OK(gpn_catalog_species_find(cat, "Marsilea batardae", &sp, &e), &e);
    ASSERT_TRUE(sp.flags & GPN_SPECIES_DIRECTIVE);
    ASSERT_EQ_INT(sp.it_regions, -1);
    /* A widespread native species carries no policy flag. */
    ASSERT_OK(gpn_catalog_species_find(cat, "Lamium galeobdolon", &sp, &e), &e);
    ASSERT_FALSE(sp.flags & (GPN_SPECIES_INVASIVE | GPN_SPECIES_DIRECTIVE | GPN_SPECIES_ALIEN));

    /* Flag counts are plausible and nested. */
    int64_t trees = 0, inv = 0, end = 0, dir = 0, inv_trees = 0;
    ASSERT_OK(gpn_catalog_species_count(cat, GPN_SPECIES_TREE, &trees, &e), &e);
    ASSERT_OK(gpn_catalog_species_count(cat, GPN_SPECIES_INVASIVE, &inv, &e), &e);
    ASSERT_OK(gpn_catalog_species_count(cat, GPN_SPECIES_ENDEMIC, &end, &e), &e);
    ASSERT_OK(gpn_catalog_species_count(cat, GPN_SPECIES_DIRECTIVE, &dir, &e), &e);
    ASSERT_OK(gpn_catalog_species_count(cat, GPN_SPECIES_INVASIVE | GPN_SPECIES_TREE, &inv_trees, &e), &e);
    ASSERT_TRUE(trees > 150 && trees < 1000);
    ASSERT_TRUE(inv > 150 && inv < 1000);
    ASSERT_TRUE(end > 800);
    ASSERT_TRUE(dir > 500);
    ASSERT_TRUE(inv_trees >= 5 && inv_trees < trees && inv_trees < inv);

    /* Loading again is idempotent (upsert by id). */
    ASSERT_OK(gpn_catalog_species_load_csv(cat, SPECIES_CSV, &n, &e), &e);
    ASSERT_OK(gpn_catalog_species_count(cat, 0, &count, &e), &e);
    ASSERT_EQ_INT(count, (int64_t)n);
    gpn_catalog_close(cat);
}

static int count_cb(const struct gpn_species *sp, void *ud)
{
    size_t *c = ud;
    if (!(sp->flags & GPN_SPECIES_TREE)) return -100; /* the filter failed */
    return ++*c == 10 ? 7 : 0;                        /* stop after 10 */
}

static void test_species_search_and_injection(void)
{
    struct gpn_err e = {0};
    char path[600];
    struct gpn_catalog *cat = fresh(path, sizeof path);
    ASSERT_TRUE(cat != NULL);
    ASSERT_OK(gpn_catalog_species_load_csv(cat, SPECIES_CSV, NULL, &e), &e);
    int64_t total = 0;
    ASSERT_OK(gpn_catalog_species_count(cat, 0, &total, &e), &e);

    struct gpn_species *sp = NULL;
    size_t n = 0;
    ASSERT_OK(gpn_catalog_species_search(cat, "quercus ", 0, 5, &sp, &n, &e), &e);
    ASSERT_EQ_INT(n, 5);
    for (size_t i = 0; i < n; i++) {
        ASSERT_TRUE(!strncmp(sp[i].scientific_name, "Quercus ", 8));
        if (i) ASSERT_TRUE(strcmp(sp[i - 1].scientific_name, sp[i].scientific_name) < 0);
    }
    free(sp);
    ASSERT_OK(gpn_catalog_species_search(cat, "Quercus", GPN_SPECIES_TREE, 0, &sp, &n, &e), &e);
    ASSERT_TRUE(n >= 10);
    for (size_t i = 0; i < n; i++) ASSERT_TRUE(sp[i].flags & GPN_SPECIES_TREE);
    free(sp);

    /* Wildcards are literal; SQL in a search string is just text. */
    static const char *const hostile[] = {"%",  "_", "\\", "Quercus%", "x'; DROP TABLE species; --",
                                          "\" OR 1=1 --", "') OR ('1'='1"};
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        ASSERT_OK(gpn_catalog_species_search(cat, hostile[i], 0, 0, &sp, &n, &e), &e);
        ASSERT_EQ_INT(n, 0);
        ASSERT_TRUE(sp == NULL);
        struct gpn_species one;
        ASSERT_RC(gpn_catalog_species_find(cat, hostile[i], &one, &e), GPN_ENOTFOUND);
    }
    int64_t after = 0;
    ASSERT_OK(gpn_catalog_species_count(cat, 0, &after, &e), &e);
    ASSERT_EQ_INT(after, total);

    /* An empty prefix with a limit lists the first ids in name order. */
    ASSERT_OK(gpn_catalog_species_search(cat, "", 0, 3, &sp, &n, &e), &e);
    ASSERT_EQ_INT(n, 3);
    ASSERT_EQ_INT(sp[0].id, 1);
    free(sp);

    size_t seen = 0;
    ASSERT_EQ_INT(gpn_catalog_species_foreach(cat, GPN_SPECIES_TREE, count_cb, &seen, &e), 7);
    ASSERT_EQ_INT(seen, 10);
    gpn_catalog_close(cat);
}

static void test_species_upsert(void)
{
    struct gpn_err e = {0};
    char path[600];
    struct gpn_catalog *cat = fresh(path, sizeof path);
    ASSERT_TRUE(cat != NULL);
    struct gpn_species sp, got;
    gpn_species_init(&sp);
    strcpy(sp.scientific_name, "Testia prima");
    sp.flags = GPN_SPECIES_TREE | GPN_SPECIES_ENDEMIC;
    strcpy(sp.redlist, "VU");
    int64_t id1 = 0, id2 = 0;
    ASSERT_OK(gpn_catalog_species_upsert(cat, &sp, &id1, &e), &e);
    ASSERT_TRUE(id1 > 0);
    ASSERT_OK(gpn_catalog_species_get(cat, id1, &got, &e), &e);
    ASSERT_STR_EQ(got.genus, "Testia"); /* derived from the name */
    ASSERT_EQ_INT(got.flags, GPN_SPECIES_TREE | GPN_SPECIES_ENDEMIC);
    ASSERT_STR_EQ(got.redlist, "VU");
    ASSERT_EQ_INT(got.geoplant_id, -1);
    ASSERT_EQ_INT(got.gbif_key, -1);
    ASSERT_EQ_INT(got.it_regions, -1);

    /* Same name (other case), no id: updates the same row. */
    strcpy(sp.scientific_name, "TESTIA PRIMA");
    sp.flags = GPN_SPECIES_INVASIVE;
    sp.redlist[0] = 0;
    sp.geoplant_id = 42;
    ASSERT_OK(gpn_catalog_species_upsert(cat, &sp, &id2, &e), &e);
    ASSERT_EQ_INT(id2, id1);
    ASSERT_OK(gpn_catalog_species_find_geoplant(cat, 42, &got, &e), &e);
    ASSERT_EQ_INT(got.flags, GPN_SPECIES_INVASIVE);
    ASSERT_STR_EQ(got.redlist, "");

    /* Explicit id taking an existing name: refused. */
    gpn_species_init(&sp);
    sp.id = id1 + 100;
    strcpy(sp.scientific_name, "Testia prima");
    ASSERT_RC(gpn_catalog_species_upsert(cat, &sp, NULL, &e), GPN_EEXISTS);
    ASSERT_RC(gpn_catalog_species_get(cat, id1 + 100, &got, &e), GPN_ENOTFOUND);
    /* Bad red list code and empty name. */
    strcpy(sp.scientific_name, "Testia secunda");
    strcpy(sp.redlist, "XX");
    ASSERT_RC(gpn_catalog_species_upsert(cat, &sp, NULL, &e), GPN_EINVAL);
    gpn_species_init(&sp);
    ASSERT_RC(gpn_catalog_species_upsert(cat, &sp, NULL, &e), GPN_EINVAL);

    unsigned f = 0;
    ASSERT_OK(gpn_species_flag_parse("invasive", &f, &e), &e);
    ASSERT_EQ_INT(f, GPN_SPECIES_INVASIVE);
    ASSERT_OK(gpn_species_flag_parse("habitats_directive", &f, &e), &e);
    ASSERT_EQ_INT(f, GPN_SPECIES_DIRECTIVE);
    ASSERT_RC(gpn_species_flag_parse("shrub", &f, &e), GPN_EINVAL);
    ASSERT_STR_EQ(gpn_species_flag_name(GPN_SPECIES_SPECIALIST), "specialist");
    gpn_catalog_close(cat);
}

static void test_species_csv_errors(void)
{
    struct gpn_err e = {0};
    char path[600], csv[600];
    struct gpn_catalog *cat = fresh(path, sizeof path);
    ASSERT_TRUE(cat != NULL);
    snprintf(csv, sizeof csv, "%s/bad.csv", test_tmpdir());
    write_file(csv, "id,scientific_name,tree\n1,Abies alba,1\n2,Picea abies,yes\n");
    ASSERT_RC(gpn_catalog_species_load_csv(cat, csv, NULL, &e), GPN_EFORMAT);
    ASSERT_STR_CONTAINS(e.msg, "bad.csv:3");
    ASSERT_STR_CONTAINS(e.msg, "tree");
    int64_t n = -1;
    ASSERT_OK(gpn_catalog_species_count(cat, 0, &n, &e), &e);
    ASSERT_EQ_INT(n, 0); /* all or nothing */
    write_file(csv, "id,name\n1,Abies alba\n");
    ASSERT_RC(gpn_catalog_species_load_csv(cat, csv, NULL, &e), GPN_EFORMAT);
    ASSERT_STR_CONTAINS(e.msg, "scientific_name");
    write_file(csv, "id,scientific_name,redlist\n1,Abies alba,ZZ\n");
    ASSERT_RC(gpn_catalog_species_load_csv(cat, csv, NULL, &e), GPN_EINVAL);
    ASSERT_STR_CONTAINS(e.msg, "bad.csv:2");
    gpn_catalog_close(cat);
}

/* ==== habitats =========================================================== */

static void test_habitat_codes(void)
{
    struct gpn_err e = {0};
    char buf[16];
    ASSERT_EQ_INT(gpn_habitat_code_level("T"), 1);
    ASSERT_EQ_INT(gpn_habitat_code_level("T1"), 2);
    ASSERT_EQ_INT(gpn_habitat_code_level("T1A"), 3);
    ASSERT_EQ_INT(gpn_habitat_code_level("MA"), 1);
    ASSERT_EQ_INT(gpn_habitat_code_level("MA2"), 2);
    ASSERT_EQ_INT(gpn_habitat_code_level("MA22"), 3);
    ASSERT_EQ_INT(gpn_habitat_code_level("MA221"), 4);
    ASSERT_EQ_INT(gpn_habitat_code_level("t1"), -1);
    ASSERT_EQ_INT(gpn_habitat_code_level("T1'"), -1);
    ASSERT_EQ_INT(gpn_habitat_code_level(""), -1);
    ASSERT_EQ_INT(gpn_habitat_code_level("T1234"), -1);
    ASSERT_OK(gpn_habitat_code_ancestor("T11", 1, buf, sizeof buf, &e), &e);
    ASSERT_STR_EQ(buf, "T");
    ASSERT_OK(gpn_habitat_code_ancestor("MA221", 2, buf, sizeof buf, &e), &e);
    ASSERT_STR_EQ(buf, "MA2");
    ASSERT_OK(gpn_habitat_code_ancestor("MA22", 1, buf, sizeof buf, &e), &e);
    ASSERT_STR_EQ(buf, "MA");
    ASSERT_OK(gpn_habitat_code_ancestor("R1A", 3, buf, sizeof buf, &e), &e);
    ASSERT_STR_EQ(buf, "R1A");
    ASSERT_RC(gpn_habitat_code_ancestor("T1", 3, buf, sizeof buf, &e), GPN_EINVAL);
}

static void test_habitats_eunis(void)
{
    struct gpn_err e = {0};
    char path[600];
    struct gpn_catalog *cat = fresh(path, sizeof path);
    ASSERT_TRUE(cat != NULL);
    size_t n = 0;
    ASSERT_OK(gpn_catalog_habitats_load_csv(cat, EUNIS_CSV, &n, &e), &e);
    ASSERT_EQ_INT(n, 331);
    int64_t c[5];
    for (int l = 0; l <= 4; l++) ASSERT_OK(gpn_catalog_habitats_count(cat, l, &c[l], &e), &e);
    ASSERT_EQ_INT(c[1], 8); /* N Q R S T U V + MA */
    ASSERT_EQ_INT(c[2], 41);
    ASSERT_EQ_INT(c[3], 272);
    ASSERT_EQ_INT(c[4], 11);
    ASSERT_EQ_INT(c[0], 332);

    struct gpn_habitat chain[GPN_HABITAT_MAX_LEVEL];
    int k = 0;
    ASSERT_OK(gpn_catalog_habitat_chain(cat, "T11", chain, &k, &e), &e);
    ASSERT_EQ_INT(k, 3);
    ASSERT_STR_EQ(chain[0].code, "T11");
    ASSERT_STR_EQ(chain[0].name, "Temperate Salix and Populus riparian forest");
    ASSERT_STR_EQ(chain[1].code, "T1");
    ASSERT_STR_EQ(chain[1].name, "Broadleaved deciduous forests");
    ASSERT_STR_EQ(chain[2].code, "T");
    ASSERT_EQ_INT(chain[2].level, 1);
    ASSERT_STR_EQ(chain[2].parent, "");

    struct gpn_habitat h;
    ASSERT_OK(gpn_catalog_habitat_get(cat, "MA22", &h, &e), &e);
    ASSERT_EQ_INT(h.level, 3);
    ASSERT_STR_EQ(h.parent, "MA2");
    ASSERT_OK(gpn_catalog_habitat_chain(cat, "MA221", chain, &k, &e), &e);
    ASSERT_EQ_INT(k, 4);
    ASSERT_STR_EQ(chain[1].code, "MA22");
    ASSERT_STR_EQ(chain[2].code, "MA2");
    ASSERT_STR_EQ(chain[3].code, "MA");
    ASSERT_RC(gpn_catalog_habitat_get(cat, "Z9", &h, &e), GPN_ENOTFOUND);
    ASSERT_RC(gpn_catalog_habitat_get(cat, "t11", &h, &e), GPN_ENOTFOUND);

    struct gpn_habitat *list = NULL;
    size_t nl = 0;
    ASSERT_OK(gpn_catalog_habitats_list(cat, 1, &list, &nl, &e), &e);
    ASSERT_EQ_INT(nl, 8);
    ASSERT_STR_EQ(list[0].code, "MA");
    ASSERT_STR_EQ(list[7].code, "V");
    free(list);
    /* Every level-3 habitat chains to a level-1 one. */
    ASSERT_OK(gpn_catalog_habitats_list(cat, 3, &list, &nl, &e), &e);
    ASSERT_EQ_INT(nl, 272);
    for (size_t i = 0; i < nl; i++) {
        ASSERT_OK(gpn_catalog_habitat_chain(cat, list[i].code, chain, &k, &e), &e);
        ASSERT_EQ_INT(k, 3);
        ASSERT_EQ_INT(chain[2].level, 1);
    }
    free(list);

    /* The plain Code,Name file gives the same hierarchy (levels derived). */
    ASSERT_OK(gpn_catalog_habitats_load_csv(cat, EUNIS_PLAIN_CSV, &n, &e), &e);
    ASSERT_EQ_INT(n, 331);
    ASSERT_OK(gpn_catalog_habitats_count(cat, 0, &c[0], &e), &e);
    ASSERT_EQ_INT(c[0], 332);
    gpn_catalog_close(cat);
}

static void test_habitats_csv_errors(void)
{
    struct gpn_err e = {0};
    char path[600], csv[600];
    struct gpn_catalog *cat = fresh(path, sizeof path);
    ASSERT_TRUE(cat != NULL);
    snprintf(csv, sizeof csv, "%s/hab.csv", test_tmpdir());
    write_file(csv, "code,level,parent,name\nT,1,,Forests\nT1,2,T,Broadleaved\nT11,2,T1,Wrong level\n");
    ASSERT_RC(gpn_catalog_habitats_load_csv(cat, csv, NULL, &e), GPN_EFORMAT);
    ASSERT_STR_CONTAINS(e.msg, "hab.csv:4");
    write_file(csv, "code,level,parent,name\nT,1,,Forests\nT11,3,T2,Wrong parent\n");
    ASSERT_RC(gpn_catalog_habitats_load_csv(cat, csv, NULL, &e), GPN_EFORMAT);
    ASSERT_STR_CONTAINS(e.msg, "parent");
    write_file(csv, "code,name\nT11,Orphan\n");
    ASSERT_RC(gpn_catalog_habitats_load_csv(cat, csv, NULL, &e), GPN_EFORMAT);
    ASSERT_STR_CONTAINS(e.msg, "T1 is missing");
    write_file(csv, "code,name\nT;1,Bad code\n");
    ASSERT_RC(gpn_catalog_habitats_load_csv(cat, csv, NULL, &e), GPN_EFORMAT);
    int64_t n = -1;
    ASSERT_OK(gpn_catalog_habitats_count(cat, 0, &n, &e), &e);
    ASSERT_EQ_INT(n, 0);
    gpn_catalog_close(cat);
}

/* ==== layers ============================================================= */

static void test_layers(void)
{
    struct gpn_err e = {0};
    char path[600];
    struct gpn_catalog *cat = fresh(path, sizeof path);
    ASSERT_TRUE(cat != NULL);
    struct gpn_layer l;
    memset(&l, 0, sizeof l);
    strcpy(l.name, "richness");
    strcpy(l.title, "Species richness");
    l.group = GPN_LAYER_INDICATORS;
    strcpy(l.path, "layers/richness.tif");
    strcpy(l.dtype, "float32");
    l.epsg = 3035;
    l.bbox[0] = 4000000;
    l.bbox[1] = 2000000;
    l.bbox[2] = 4100000;
    l.bbox[3] = 2100000;
    l.has_nodata = 1;
    l.nodata = NAN;
    int64_t v = 0;
    ASSERT_OK(gpn_catalog_layer_add(cat, &l, "{\"unit\":\"species\",\"min\":0}", &v, &e), &e);
    ASSERT_EQ_INT(v, 1);
    ASSERT_OK(gpn_catalog_layer_add(cat, &l, NULL, &v, &e), &e);
    ASSERT_EQ_INT(v, 2);
    struct gpn_layer got;
    ASSERT_OK(gpn_catalog_layer_get(cat, "richness", &got, &e), &e);
    ASSERT_EQ_INT(got.version, 2);
    ASSERT_EQ_INT(got.group, GPN_LAYER_INDICATORS);
    ASSERT_STR_EQ(got.title, "Species richness");
    ASSERT_STR_EQ(got.dtype, "float32");
    ASSERT_EQ_INT(got.epsg, 3035);
    ASSERT_NEAR(got.bbox[2], 4100000, 0);
    ASSERT_EQ_INT(got.has_nodata, 1);
    ASSERT_TRUE(isnan(got.nodata)); /* NaN nodata survives */
    ASSERT_TRUE(got.updated_at > 1600000000);
    char *meta = NULL;
    ASSERT_OK(gpn_catalog_layer_metadata(cat, "richness", &meta, &e), &e);
    ASSERT_STR_EQ(meta, "{}");
    free(meta);

    /* Remove then add again: the version keeps growing (cache keys). */
    ASSERT_OK(gpn_catalog_layer_remove(cat, "richness", &e), &e);
    ASSERT_RC(gpn_catalog_layer_get(cat, "richness", &got, &e), GPN_ENOTFOUND);
    ASSERT_RC(gpn_catalog_layer_remove(cat, "richness", &e), GPN_ENOTFOUND);
    l.has_nodata = 1;
    l.nodata = 255;
    ASSERT_OK(gpn_catalog_layer_add(cat, &l, "[1,2]", &v, &e), &e);
    ASSERT_EQ_INT(v, 3);
    ASSERT_OK(gpn_catalog_layer_get(cat, "richness", &got, &e), &e);
    ASSERT_NEAR(got.nodata, 255, 0);
    ASSERT_OK(gpn_catalog_layer_metadata(cat, "richness", &meta, &e), &e);
    ASSERT_STR_EQ(meta, "[1,2]");
    free(meta);

    /* Groups and listing order. */
    static const struct {
        const char *name;
        enum gpn_layer_group g;
    } more[] = {{"sp_fagus_sylvatica", GPN_LAYER_SPECIES},
                {"sp_abies_alba", GPN_LAYER_SPECIES},
                {"habitat_l3", GPN_LAYER_HABITATS_L3},
                {"elevation", GPN_LAYER_INPUTS}};
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) {
        strcpy(l.name, more[i].name);
        l.group = more[i].g;
        ASSERT_OK(gpn_catalog_layer_add(cat, &l, NULL, &v, &e), &e);
        ASSERT_EQ_INT(v, 1);
    }
    struct gpn_layer *arr = NULL;
    size_t n = 0;
    ASSERT_OK(gpn_catalog_layers_list(cat, -1, &arr, &n, &e), &e);
    ASSERT_EQ_INT(n, 5);
    ASSERT_STR_EQ(arr[0].name, "sp_abies_alba");
    ASSERT_STR_EQ(arr[1].name, "sp_fagus_sylvatica");
    ASSERT_STR_EQ(arr[2].name, "richness");
    ASSERT_STR_EQ(arr[3].name, "habitat_l3");
    ASSERT_STR_EQ(arr[4].name, "elevation");
    free(arr);
    ASSERT_OK(gpn_catalog_layers_list(cat, GPN_LAYER_SPECIES, &arr, &n, &e), &e);
    ASSERT_EQ_INT(n, 2);
    free(arr);
    ASSERT_OK(gpn_catalog_layers_list(cat, GPN_LAYER_TRUTH, &arr, &n, &e), &e);
    ASSERT_EQ_INT(n, 0);
    ASSERT_TRUE(arr == NULL);

    /* Bad input is refused before touching the table. */
    ASSERT_RC(gpn_catalog_layer_add(cat, &l, "{\"unterminated\":", NULL, &e), GPN_EINVAL);
    ASSERT_RC(gpn_catalog_layer_add(cat, &l, "42", NULL, &e), GPN_EINVAL);
    strcpy(l.name, "../etc/passwd");
    ASSERT_RC(gpn_catalog_layer_add(cat, &l, NULL, NULL, &e), GPN_EINVAL);
    strcpy(l.name, "x'; DROP TABLE layers; --");
    ASSERT_RC(gpn_catalog_layer_add(cat, &l, NULL, NULL, &e), GPN_EINVAL);
    ASSERT_RC(gpn_catalog_layer_get(cat, "x'; DROP TABLE layers; --", &got, &e), GPN_ENOTFOUND);
    ASSERT_OK(gpn_catalog_layers_list(cat, -1, &arr, &n, &e), &e);
    ASSERT_EQ_INT(n, 5);
    free(arr);

    enum gpn_layer_group g;
    ASSERT_OK(gpn_layer_group_parse("habitats_l2", &g, &e), &e);
    ASSERT_EQ_INT(g, GPN_LAYER_HABITATS_L2);
    ASSERT_OK(gpn_layer_group_parse("l1", &g, &e), &e);
    ASSERT_EQ_INT(g, GPN_LAYER_HABITATS_L1);
    ASSERT_RC(gpn_layer_group_parse("rasters", &g, &e), GPN_EINVAL);
    ASSERT_STR_EQ(gpn_layer_group_name(GPN_LAYER_TRUTH), "truth");
    ASSERT_TRUE(gpn_layer_group_name(GPN_LAYER_NGROUPS) == NULL);
    gpn_catalog_close(cat);
}

/* ==== tiles and model runs =============================================== */

static void test_tiles(void)
{
    struct gpn_err e = {0};
    char path[600];
    struct gpn_catalog *cat = fresh(path, sizeof path);
    ASSERT_TRUE(cat != NULL);
    ASSERT_OK(gpn_catalog_tile_set(cat, "25kmE3600N2200", GPN_TILE_PENDING, NULL, &e), &e);
    ASSERT_OK(gpn_catalog_tile_set(cat, "25kmE3625N2200", GPN_TILE_PENDING, NULL, &e), &e);
    ASSERT_OK(gpn_catalog_tile_set(cat, "25kmE3650N2200", GPN_TILE_PENDING, NULL, &e), &e);
    ASSERT_OK(gpn_catalog_tile_set(cat, "25kmE3600N2200", GPN_TILE_RUNNING, NULL, &e), &e);
    ASSERT_OK(gpn_catalog_tile_set(cat, "25kmE3600N2200", GPN_TILE_DONE, "ok", &e), &e);
    char longmsg[600];
    memset(longmsg, 'x', sizeof longmsg - 1);
    longmsg[sizeof longmsg - 1] = 0;
    ASSERT_OK(gpn_catalog_tile_set(cat, "25kmE3625N2200", GPN_TILE_FAILED, longmsg, &e), &e);

    struct gpn_tile_status t;
    ASSERT_OK(gpn_catalog_tile_get(cat, "25kmE3600N2200", &t, &e), &e);
    ASSERT_EQ_INT(t.state, GPN_TILE_DONE);
    ASSERT_STR_EQ(t.message, "ok");
    ASSERT_OK(gpn_catalog_tile_get(cat, "25kmE3625N2200", &t, &e), &e);
    ASSERT_EQ_INT(t.state, GPN_TILE_FAILED);
    ASSERT_EQ_INT(strlen(t.message), 255);
    ASSERT_RC(gpn_catalog_tile_get(cat, "25kmE0000N0000", &t, &e), GPN_ENOTFOUND);

    struct gpn_tile_status *arr = NULL;
    size_t n = 0;
    ASSERT_OK(gpn_catalog_tiles_list(cat, GPN_TILE_PENDING, &arr, &n, &e), &e);
    ASSERT_EQ_INT(n, 1);
    ASSERT_STR_EQ(arr[0].tile_id, "25kmE3650N2200");
    free(arr);
    ASSERT_OK(gpn_catalog_tiles_list(cat, -1, &arr, &n, &e), &e);
    ASSERT_EQ_INT(n, 3);
    ASSERT_STR_EQ(arr[0].tile_id, "25kmE3600N2200");
    free(arr);
    int64_t counts[GPN_TILE_NSTATES];
    ASSERT_OK(gpn_catalog_tiles_count(cat, counts, &e), &e);
    ASSERT_EQ_INT(counts[GPN_TILE_PENDING], 1);
    ASSERT_EQ_INT(counts[GPN_TILE_RUNNING], 0);
    ASSERT_EQ_INT(counts[GPN_TILE_DONE], 1);
    ASSERT_EQ_INT(counts[GPN_TILE_FAILED], 1);

    ASSERT_RC(gpn_catalog_tile_set(cat, "", GPN_TILE_DONE, NULL, &e), GPN_EINVAL);
    ASSERT_RC(gpn_catalog_tile_set(cat, "t", (enum gpn_tile_state)9, NULL, &e), GPN_EINVAL);
    enum gpn_tile_state s;
    ASSERT_OK(gpn_tile_state_parse("running", &s, &e), &e);
    ASSERT_EQ_INT(s, GPN_TILE_RUNNING);
    ASSERT_RC(gpn_tile_state_parse("DONE", &s, &e), GPN_EINVAL);
    gpn_catalog_close(cat);
}

static void test_model_runs(void)
{
    struct gpn_err e = {0};
    char path[600];
    struct gpn_catalog *cat = fresh(path, sizeof path);
    ASSERT_TRUE(cat != NULL);
    struct gpn_model_run *m = malloc(sizeof *m);
    ASSERT_TRUE(m != NULL);
    ASSERT_RC(gpn_catalog_model_run_latest(cat, GPN_MODEL_SDM, m, &e), GPN_ENOTFOUND);
    int64_t id1, id2, id3;
    ASSERT_OK(gpn_catalog_model_run_add(cat, GPN_MODEL_SDM, "models/sdm1.gpnm", "{\"epochs\":3}", NULL, &id1, &e),
              &e);
    ASSERT_OK(gpn_catalog_model_run_add(cat, GPN_MODEL_HDM, "models/hdm1.gpnm", NULL, NULL, &id2, &e), &e);
    ASSERT_OK(gpn_catalog_model_run_add(cat, GPN_MODEL_SDM, "models/sdm2.gpnm", "{\"epochs\":5}", NULL, &id3, &e),
              &e);
    ASSERT_TRUE(id1 < id2 && id2 < id3);
    ASSERT_OK(gpn_catalog_model_run_latest(cat, GPN_MODEL_SDM, m, &e), &e);
    ASSERT_EQ_INT(m->id, id3);
    ASSERT_STR_EQ(m->path, "models/sdm2.gpnm");
    ASSERT_STR_EQ(m->config, "{\"epochs\":5}");
    ASSERT_STR_EQ(m->metrics, "{}");
    ASSERT_OK(gpn_catalog_model_run_set_metrics(cat, id3, "{\"micro_f1\":0.31}", &e), &e);
    ASSERT_OK(gpn_catalog_model_run_get(cat, id3, m, &e), &e);
    ASSERT_STR_EQ(m->metrics, "{\"micro_f1\":0.31}");
    ASSERT_EQ_INT(m->kind, GPN_MODEL_SDM);
    ASSERT_OK(gpn_catalog_model_run_latest(cat, GPN_MODEL_HDM, m, &e), &e);
    ASSERT_EQ_INT(m->id, id2);
    free(m);

    struct gpn_model_run *arr = NULL;
    size_t n = 0;
    ASSERT_OK(gpn_catalog_model_runs_list(cat, GPN_MODEL_SDM, &arr, &n, &e), &e);
    ASSERT_EQ_INT(n, 2);
    ASSERT_EQ_INT(arr[0].id, id1);
    free(arr);
    ASSERT_OK(gpn_catalog_model_runs_list(cat, -1, &arr, &n, &e), &e);
    ASSERT_EQ_INT(n, 3);
    free(arr);

    ASSERT_RC(gpn_catalog_model_run_add(cat, GPN_MODEL_SDM, "m", "not json", NULL, NULL, &e), GPN_EINVAL);
    ASSERT_RC(gpn_catalog_model_run_add(cat, GPN_MODEL_SDM, "", NULL, NULL, NULL, &e), GPN_EINVAL);
    ASSERT_RC(gpn_catalog_model_run_set_metrics(cat, 9999, "{}", &e), GPN_ENOTFOUND);
    char *big = malloc(GPN_MODEL_JSON_MAX + 16);
    ASSERT_TRUE(big != NULL);
    big[0] = '[';
    for (int i = 1; i < GPN_MODEL_JSON_MAX + 8; i += 2) big[i] = '0', big[i + 1] = ',';
    strcpy(big + GPN_MODEL_JSON_MAX + 9, "0]");
    ASSERT_RC(gpn_catalog_model_run_add(cat, GPN_MODEL_SDM, "m", big, NULL, NULL, &e), GPN_ETOOBIG);
    free(big);
    gpn_catalog_close(cat);
}

/* ==== command line ======================================================= */

/* Runs a shell command, captures stdout into out (n bytes), returns the
 * exit status. */
static int run_cmd(const char *cmd, char *out, size_t n)
{
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t k = fread(out, 1, n - 1, p);
    out[k] = 0;
    while (fgetc(p) != EOF) {
    }
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cli(void)
{
    const char *bin = getenv("GPN_BIN");
    char def[600];
    if (!bin) {
        snprintf(def, sizeof def, "%s/build/gpn", getenv("PWD") ? getenv("PWD") : ".");
        bin = def;
    }
    ASSERT_TRUE(access(bin, X_OK) == 0);
    char cmd[2048], out[65536], atlas[600];
    snprintf(atlas, sizeof atlas, "%s/atlas", test_tmpdir());

    snprintf(cmd, sizeof cmd, "'%s' catalog init --atlas '%s' 2>/dev/null", bin, atlas);
    ASSERT_EQ_INT(run_cmd(cmd, out, sizeof out), 0);
    ASSERT_STR_CONTAINS(out, "species");
    ASSERT_STR_CONTAINS(out, "L3 272");
    snprintf(cmd, sizeof cmd, "'%s' catalog init --atlas '%s' 2>/dev/null", bin, atlas); /* idempotent */
    ASSERT_EQ_INT(run_cmd(cmd, out, sizeof out), 0);

    snprintf(cmd, sizeof cmd, "'%s' catalog species --atlas '%s' --search 'fagus syl'", bin, atlas);
    ASSERT_EQ_INT(run_cmd(cmd, out, sizeof out), 0);
    ASSERT_STR_CONTAINS(out, "Fagus sylvatica\tFagaceae\ttree\t-\t5314");
    snprintf(cmd, sizeof cmd, "'%s' catalog species --atlas '%s' --flag tree,invasive --count", bin, atlas);
    ASSERT_EQ_INT(run_cmd(cmd, out, sizeof out), 0);
    ASSERT_TRUE(atoi(out) >= 5);
    snprintf(cmd, sizeof cmd, "'%s' catalog species --atlas '%s' --search Quercus --limit 2 | wc -l", bin, atlas);
    ASSERT_EQ_INT(run_cmd(cmd, out, sizeof out), 0);
    ASSERT_EQ_INT(atoi(out), 3); /* header + 2 */
    snprintf(cmd, sizeof cmd, "'%s' catalog species --atlas '%s' --flag shrub 2>/dev/null", bin, atlas);
    ASSERT_EQ_INT(run_cmd(cmd, out, sizeof out), 2);

    snprintf(cmd, sizeof cmd, "'%s' catalog habitats --atlas '%s' --chain MA22", bin, atlas);
    ASSERT_EQ_INT(run_cmd(cmd, out, sizeof out), 0);
    ASSERT_STR_CONTAINS(out, "MA22\t3\tMA2\t");
    ASSERT_STR_CONTAINS(out, "MA2\t2\tMA\t");
    snprintf(cmd, sizeof cmd, "'%s' catalog habitats --atlas '%s' --level 3 | wc -l", bin, atlas);
    ASSERT_EQ_INT(run_cmd(cmd, out, sizeof out), 0);
    ASSERT_EQ_INT(atoi(out), 273);
    snprintf(cmd, sizeof cmd, "'%s' catalog layers --atlas '%s'", bin, atlas);
    ASSERT_EQ_INT(run_cmd(cmd, out, sizeof out), 0);
    ASSERT_STR_CONTAINS(out, "name\tgroup");
    snprintf(cmd, sizeof cmd, "'%s' catalog tiles --atlas '%s' 2>/dev/null", bin, atlas);
    ASSERT_EQ_INT(run_cmd(cmd, out, sizeof out), 0);
    snprintf(cmd, sizeof cmd, "'%s' catalog --help", bin);
    ASSERT_EQ_INT(run_cmd(cmd, out, sizeof out), 0);
    ASSERT_STR_CONTAINS(out, "Usage: gpn catalog init");

    /* Errors: missing atlas (runtime, 1), missing option (usage, 2). */
    snprintf(cmd, sizeof cmd, "'%s' catalog species --atlas '%s/none' 2>&1", bin, test_tmpdir());
    ASSERT_EQ_INT(run_cmd(cmd, out, sizeof out), 1);
    ASSERT_STR_CONTAINS(out, "gpn catalog: ");
    ASSERT_STR_CONTAINS(out, "no catalog");
    snprintf(cmd, sizeof cmd, "'%s' catalog species 2>/dev/null", bin);
    ASSERT_EQ_INT(run_cmd(cmd, out, sizeof out), 2);
    snprintf(cmd, sizeof cmd, "'%s' catalog frobnicate 2>/dev/null", bin);
    ASSERT_EQ_INT(run_cmd(cmd, out, sizeof out), 2);
}

/* The shipped table is exactly what the tool makes from the shared data:
 * it is reproducible and nobody edited it by hand. */
static void test_reference_table_reproducible(void)
{
    struct gpn_err e = {0};
    char cmd[2048], out[4096], made[600];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 tools/build_species_reference.py --shared '%s' --out '%s' 2>&1 >/dev/null",
             test_shared(), test_tmpdir());
    ASSERT_EQ_INT(run_cmd(cmd, out, sizeof out), 0);
    ASSERT_STR_CONTAINS(out, "species_reference.csv");
    snprintf(made, sizeof made, "%s/species_reference.csv", test_tmpdir());
    char *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    ASSERT_OK(gpn_file_read(SPECIES_CSV, &a, &na, &e), &e);
    if (gpn_file_read(made, &b, &nb, &e)) {
        free(a);
        ASSERT_OK(-1, &e);
    }
    int same = na == nb && !memcmp(a, b, na);
    free(a);
    free(b);
    ASSERT_TRUE(same);
}

int main(void)
{
    RUN(test_open_migrate_reopen);
    RUN(test_open_errors);
    RUN(test_newer_schema_refused);
    RUN(test_transactions_and_wal_readers);
    RUN(test_species_reference_table);
    RUN(test_species_search_and_injection);
    RUN(test_species_upsert);
    RUN(test_species_csv_errors);
    RUN(test_habitat_codes);
    RUN(test_habitats_eunis);
    RUN(test_habitats_csv_errors);
    RUN(test_layers);
    RUN(test_tiles);
    RUN(test_model_runs);
    RUN(test_cli);
    RUN(test_reference_table_reproducible);
    return test_summary();
}
