/*
 * cmd_synth.c - `gpn synth`: generate the synthetic demo region with its
 * ground truth (library: include/gpn/synth.h; model: docs/synthetic.md).
 *
 * --quick is applied before the other options, so `--quick --species 80`
 * means the quick region with 80 species. The summary line (with the wall
 * time) goes to stdout; progress and the log go to stderr.
 */
#include <inttypes.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "gpn/grid.h"
#include "gpn/log.h"
#include "gpn/reproj.h"
#include "gpn/synth.h"
#include "gpn/util.h"

#define CMD "synth"

static const char USAGE[] =
    "Usage: gpn synth --out DIR [--tiles N | --bbox W,S,E,N] [--species N] [--seed S] [options]\n"
    "\n"
    "Generates a synthetic region with ground truth in real EPSG:3035 coordinates\n"
    "(default: 2 x 2 meta-tiles = 50 x 50 km around Montpellier, coast and relief):\n"
    "Sentinel-2 and Landsat mosaics, a monthly climate cube, elevation, land cover,\n"
    "roads, GeoPlant PA/PO CSVs, vegetation plots with EUNIS L3 habitats, truth\n"
    "rasters (per-species presence probability, richness, habitats), species.csv,\n"
    "quicklook.png and region.json. Same options and seed -> same bytes.\n"
    "\n"
    "Region:\n"
    "  --out DIR            output folder (created)\n"
    "  --tiles N            N x N meta-tiles of 25 km from --origin (default 2)\n"
    "  --origin TILEID      lower-left meta-tile (default 25kmE3800N2275)\n"
    "  --bbox W,S,E,N       a rectangle instead of tiles, snapped outward to 1 km\n"
    "  --bbox-crs CRS       CRS of --bbox (default EPSG:3035 metres; EPSG:4326 = lon/lat)\n"
    "Content:\n"
    "  --species N          species drawn from the reference table (default 500)\n"
    "  --surveys N          presence-absence surveys (default 5000)\n"
    "  --po N               presence-only records, about (default 50000)\n"
    "  --plots N            vegetation plots besides the PA surveys (default 20000)\n"
    "  --seed S             random seed (default 42)\n"
    "  --s2-res M           Sentinel-2 pixel size in m, divides 1000 (default 10)\n"
    "  --landsat-res M      Landsat pixel size in m (default 30)\n"
    "  --quick              test preset: 1 tile, 50 species, 600 surveys, 3000 PO,\n"
    "                       1000 plots, Sentinel-2 at 20 m, Landsat at 90 m\n"
    "  --no-truth-species   skip the per-species truth rasters\n"
    "  --no-quicklook       skip quicklook.png\n"
    "  --tiled-imagery      Sentinel-2 and Landsat as one COG per meta-tile + VRT mosaic\n"
    "                       (automatic when a Landsat stack would exceed 2 GB)\n"
    "Inputs (defaults are found under $GPN_DATA, ./data or <exe>/../data):\n"
    "  --species-table CSV  reference species (default species/species_reference.csv)\n"
    "  --land FILE          Natural Earth land TopoJSON (boundaries/land-50m.json)\n"
    "  --countries FILE     Natural Earth countries TopoJSON (boundaries/countries-50m.json)\n"
    "Run:\n"
    "  --force              replace a region already in DIR\n"
    "  --threads N          OpenMP threads (default: all cores)\n"
    "  -v, --verbose / -q, --quiet / -h, --help\n"
    "\n"
    "Example: gpn synth --out demo/region --tiles 2 --seed 42\n";

enum {
    OPT_OUT = 1000, OPT_TILES, OPT_ORIGIN, OPT_BBOX, OPT_BBOX_CRS, OPT_SPECIES, OPT_SURVEYS, OPT_PO, OPT_PLOTS,
    OPT_SEED, OPT_S2RES, OPT_LSRES, OPT_QUICK, OPT_NO_TRUTH, OPT_NO_QL, OPT_TABLE, OPT_LAND, OPT_COUNTRIES,
    OPT_FORCE, OPT_THREADS, OPT_TILED,
};

static int bbox_to_3035(const char *crs, double b[4], struct gpn_err *err)
{
    if (!strcmp(crs, "EPSG:3035")) return 0;
    struct gpn_transform *t = NULL;
    int rc = gpn_transform_create(crs, "EPSG:3035", &t, err);
    if (rc) return rc;
    double out[4];
    rc = gpn_transform_bbox(t, b, out, err);
    gpn_transform_destroy(t);
    if (!rc) memcpy(b, out, sizeof out);
    return rc;
}

int gpn_cmd_synth(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"out", required_argument, 0, OPT_OUT},
        {"tiles", required_argument, 0, OPT_TILES},
        {"origin", required_argument, 0, OPT_ORIGIN},
        {"bbox", required_argument, 0, OPT_BBOX},
        {"bbox-crs", required_argument, 0, OPT_BBOX_CRS},
        {"species", required_argument, 0, OPT_SPECIES},
        {"surveys", required_argument, 0, OPT_SURVEYS},
        {"po", required_argument, 0, OPT_PO},
        {"plots", required_argument, 0, OPT_PLOTS},
        {"seed", required_argument, 0, OPT_SEED},
        {"s2-res", required_argument, 0, OPT_S2RES},
        {"landsat-res", required_argument, 0, OPT_LSRES},
        {"quick", no_argument, 0, OPT_QUICK},
        {"no-truth-species", no_argument, 0, OPT_NO_TRUTH},
        {"no-quicklook", no_argument, 0, OPT_NO_QL},
        {"species-table", required_argument, 0, OPT_TABLE},
        {"land", required_argument, 0, OPT_LAND},
        {"countries", required_argument, 0, OPT_COUNTRIES},
        {"force", no_argument, 0, OPT_FORCE},
        {"threads", required_argument, 0, OPT_THREADS},
        {"tiled-imagery", no_argument, 0, OPT_TILED},
        APP_COMMON_LONGOPTS,
        {0, 0, 0, 0},
    };
    struct gpn_synth_opts o;
    gpn_synth_opts_init(&o);
    o.progress = 1;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--quick")) gpn_synth_opts_quick(&o);
    struct gpn_err err = {0};
    const char *bbox_crs = "EPSG:3035";
    int64_t v;
    int opt;
    app_getopt_reset();
    while ((opt = getopt_long(argc, argv, "hvq", longopts, NULL)) != -1) {
        if (app_common_option(opt)) continue;
        switch (opt) {
        case 'h': fputs(USAGE, stdout); return 0;
        case OPT_OUT: o.out_dir = optarg; break;
        case OPT_TILES:
            if (gpn_parse_i64(optarg, 1, 8, &v, "--tiles", &err)) return app_usage_error(CMD, "%s", err.msg);
            o.tiles = (int)v;
            o.use_bbox = 0;
            break;
        case OPT_ORIGIN:
            if (gpn_tile_parse(optarg, &o.origin, &err)) return app_usage_error(CMD, "--origin: %s", err.msg);
            break;
        case OPT_BBOX:
            if (gpn_parse_doubles(optarg, o.bbox, 4, "--bbox", &err)) return app_usage_error(CMD, "%s", err.msg);
            o.use_bbox = 1;
            break;
        case OPT_BBOX_CRS: bbox_crs = optarg; break;
        case OPT_SPECIES:
            if (gpn_parse_i64(optarg, 1, 20000, &v, "--species", &err)) return app_usage_error(CMD, "%s", err.msg);
            o.n_species = (int)v;
            break;
        case OPT_SURVEYS:
            if (gpn_parse_i64(optarg, 0, 10000000, &o.n_surveys, "--surveys", &err))
                return app_usage_error(CMD, "%s", err.msg);
            break;
        case OPT_PO:
            if (gpn_parse_i64(optarg, 0, 100000000, &o.n_po, "--po", &err)) return app_usage_error(CMD, "%s", err.msg);
            break;
        case OPT_PLOTS:
            if (gpn_parse_i64(optarg, 0, 10000000, &o.n_plots, "--plots", &err))
                return app_usage_error(CMD, "%s", err.msg);
            break;
        case OPT_SEED:
            if (gpn_parse_i64(optarg, 0, INT64_MAX, &v, "--seed", &err)) return app_usage_error(CMD, "%s", err.msg);
            o.seed = (uint64_t)v;
            break;
        case OPT_S2RES:
            if (gpn_parse_i64(optarg, 1, 1000, &v, "--s2-res", &err)) return app_usage_error(CMD, "%s", err.msg);
            if (1000 % v) return app_usage_error(CMD, "--s2-res must divide 1000 (5, 10, 20, 25, 50 ...)");
            o.s2_res = (int)v;
            break;
        case OPT_LSRES:
            if (gpn_parse_i64(optarg, 5, 1000, &v, "--landsat-res", &err)) return app_usage_error(CMD, "%s", err.msg);
            o.landsat_res = (int)v;
            break;
        case OPT_QUICK: break; /* applied before parsing */
        case OPT_NO_TRUTH: o.write_truth_species = 0; break;
        case OPT_NO_QL: o.write_quicklook = 0; break;
        case OPT_TABLE: o.species_csv = optarg; break;
        case OPT_LAND: o.land_json = optarg; break;
        case OPT_COUNTRIES: o.countries_json = optarg; break;
        case OPT_FORCE: o.force = 1; break;
        case OPT_TILED: o.tiled_imagery = 1; break;
        case OPT_THREADS:
            if (gpn_parse_i64(optarg, 1, 1024, &v, "--threads", &err)) return app_usage_error(CMD, "%s", err.msg);
            omp_set_num_threads((int)v);
            break;
        default: return app_usage_error(CMD, "unknown option");
        }
    }
    if (optind < argc) return app_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (!o.out_dir) return app_usage_error(CMD, "--out DIR is required");
    if (o.use_bbox && bbox_to_3035(bbox_crs, o.bbox, &err)) return app_usage_error(CMD, "--bbox-crs: %s", err.msg);
    if (gpn_log_get_level() > GPN_LOG_INFO) o.progress = 0; /* --quiet: no bars either */
    struct gpn_synth_result r;
    if (gpn_synth_run(&o, &r, &err)) {
        /* Library messages start with "synth: "; app_fail adds "gpn synth: ". */
        if (!strncmp(err.msg, "synth: ", 7)) memmove(err.msg, err.msg + 7, strlen(err.msg + 7) + 1);
        return app_fail(CMD, &err);
    }
    printf("synth: %s: %d x %d cells (%d meta-tiles), land %.0f%%, %d species, %" PRId64 " PA surveys (%" PRId64
           " rows, %.1f species each), %" PRId64 " PO records, %" PRId64 " plots in %.1f s\n",
           o.out_dir, r.width, r.height, r.n_tiles, 100.0 * r.land_fraction, r.n_species, r.n_pa_surveys, r.n_pa_rows,
           r.mean_pa_richness, r.n_po_rows, r.n_plots, r.seconds);
    printf("synth: phases: terrain+climate %.1f s, species+truth %.1f s, observations %.1f s, imagery %.1f s, "
           "layers+tables %.1f s\n",
           r.t_terrain, r.t_species, r.t_obs, r.t_imagery, r.t_write);
    return 0;
}
