/*
 * cmd_seed.c - `gpn seed`: pre-render XYZ tiles into the atlas tile cache.
 *
 *   gpn seed --atlas DIR --layers L,... --zoom A-B [--bbox W,S,E,N] [--threads N]
 *            [--rate TILES_PER_S] [--force] [--style S] [--format png|webp|jpg]
 *
 * The tiles land where `gpn serve` looks for them (ATLAS/cache or
 * --cache-dir), keyed by layer version, so a seeded cache is used at once
 * and dropped automatically when the layer is re-published. --rate
 * throttles rendering (a token bucket shared by the threads) for machines
 * that serve while seeding; already-cached tiles are skipped unless --force.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "gpn/http.h"
#include "gpn/progress.h"
#include "gpn/util.h"

static const char CMD[] = "seed";

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: gpn seed --atlas DIR --layers L,... --zoom A-B [--bbox W,S,E,N] [--threads N]\n"
            "                [--rate TILES_PER_S] [--force] [--style S] [--format png|webp|jpg]\n"
            "                [--cache-size MB] [--cache-dir DIR] [--max-tiles N]\n"
            "\n"
            "Renders the XYZ tiles (EPSG:3857, 256 px) of the layers over zoom levels A..B into the\n"
            "tile cache that `gpn serve` uses. --bbox is in degrees (lon/lat; default: each layer's\n"
            "extent). --rate limits rendering to that many tiles per second; cached tiles are skipped\n"
            "unless --force. --max-tiles refuses larger plans (default 1000000).\n"
            "Options: -h/--help, -v/--verbose, -q/--quiet\n");
}

int gpn_cmd_seed(int argc, char **argv)
{
    static const struct option longopts[] = {
        APP_COMMON_LONGOPTS,
        {"atlas", required_argument, 0, 'a'},
        {"layers", required_argument, 0, 'l'},
        {"zoom", required_argument, 0, 'z'},
        {"bbox", required_argument, 0, 'b'},
        {"threads", required_argument, 0, 't'},
        {"rate", required_argument, 0, 'r'},
        {"force", no_argument, 0, 'F'},
        {"style", required_argument, 0, 's'},
        {"format", required_argument, 0, 'f'},
        {"cache-size", required_argument, 0, 'c'},
        {"cache-dir", required_argument, 0, 'C'},
        {"max-tiles", required_argument, 0, 'M'},
        {0, 0, 0, 0},
    };
    struct gpn_http_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    gpn_http_cfg_defaults(&cfg);
    cfg.reload_s = 0;
    struct gpn_http_seed_opts o;
    memset(&o, 0, sizeof o);
    o.threads = 2;
    const char *layers = NULL, *zoom = NULL, *bbox = NULL;
    struct gpn_err err = {0};
    app_getopt_reset();
    int opt;
    while ((opt = getopt_long(argc, argv, "hvqa:l:z:b:t:r:s:f:", longopts, NULL)) != -1) {
        if (app_common_option(opt)) continue;
        switch (opt) {
        case 'h': usage(stdout); return 0;
        case 'a':
            if (gpn_http_cfg_set(&cfg, "atlas", optarg, &err)) return app_usage_error(CMD, "%s", err.msg);
            break;
        case 'l': layers = optarg; break;
        case 'z': zoom = optarg; break;
        case 'b': bbox = optarg; break;
        case 't':
            if (gpn_parse_int(optarg, 1, 64, &o.threads, "--threads", &err)) return app_usage_error(CMD, "%s", err.msg);
            break;
        case 'r':
            if (gpn_parse_double(optarg, 0, 1e6, &o.max_rate, "--rate", &err))
                return app_usage_error(CMD, "%s", err.msg);
            break;
        case 'F': o.force = 1; break;
        case 's': o.style = optarg; break;
        case 'f': o.format = optarg; break;
        case 'c':
            if (gpn_http_cfg_set(&cfg, "cache_size", optarg, &err)) return app_usage_error(CMD, "%s", err.msg);
            break;
        case 'C':
            if (gpn_http_cfg_set(&cfg, "cache_dir", optarg, &err)) return app_usage_error(CMD, "%s", err.msg);
            break;
        case 'M': {
            int64_t m;
            if (gpn_parse_i64(optarg, 1, 1000000000LL, &m, "--max-tiles", &err))
                return app_usage_error(CMD, "%s", err.msg);
            o.max_tiles = m;
            break;
        }
        default: return app_usage_error(CMD, "unknown option");
        }
    }
    if (optind < argc) return app_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (!cfg.atlas[0]) return app_usage_error(CMD, "--atlas DIR is required");
    if (!layers || !*layers) return app_usage_error(CMD, "--layers L,... is required");
    if (!zoom) return app_usage_error(CMD, "--zoom A-B is required");
    {
        char zb[32];
        gpn_strlcpy(zb, zoom, sizeof zb);
        char *dash = strchr(zb, '-');
        if (dash) *dash = 0;
        if (gpn_parse_int(zb, 0, 22, &o.zmin, "--zoom", &err) ||
            gpn_parse_int(dash ? dash + 1 : zb, 0, 22, &o.zmax, "--zoom", &err))
            return app_usage_error(CMD, "%s (expected A-B with 0 <= A <= B <= 22)", err.msg);
        if (o.zmin > o.zmax) return app_usage_error(CMD, "--zoom: %d > %d", o.zmin, o.zmax);
    }
    if (bbox) {
        if (gpn_parse_doubles(bbox, o.bbox, 4, "--bbox", &err)) return app_usage_error(CMD, "%s", err.msg);
        if (!(o.bbox[2] > o.bbox[0]) || !(o.bbox[3] > o.bbox[1]) || o.bbox[0] < -180 || o.bbox[2] > 180 ||
            o.bbox[1] < -90 || o.bbox[3] > 90)
            return app_usage_error(CMD, "--bbox must be W,S,E,N in degrees with W < E and S < N");
        o.has_bbox = 1;
    }
    /* Split the layer list (the strings live in a copy). */
    char *list = strdup(layers);
    const char **names = calloc(strlen(layers) + 1, sizeof *names);
    if (!list || !names) {
        free(list);
        free(names);
        gpn_err_set(&err, GPN_ENOMEM, "out of memory");
        return app_fail(CMD, &err);
    }
    char *save = NULL;
    for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) names[o.n_layers++] = t;
    o.layers = names;

    struct gpn_http_app *app = NULL;
    int rc = gpn_http_app_create(&cfg, &app, &err);
    int64_t rendered = 0, skipped = 0;
    if (!rc) {
        struct gpn_progress p;
        gpn_progress_init(&p, "seed", 0, "tiles");
        double t0 = gpn_now();
        rc = gpn_http_app_seed(app, &o, &p, &rendered, &skipped, &err);
        gpn_progress_finish(&p);
        double dt = gpn_now() - t0;
        if (!rc)
            printf("seeded %lld tiles (%lld already cached or empty) in %.1f s, %.1f tiles/s\n", (long long)rendered,
                   (long long)skipped, dt, dt > 0 ? rendered / dt : 0.0);
    }
    gpn_http_app_destroy(app);
    free(list);
    free(names);
    return rc ? app_fail(CMD, &err) : 0;
}
