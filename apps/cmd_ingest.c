/*
 * cmd_ingest.c - `gpn ingest`: GeoPlant observations + modalities into an
 * SDM training dataset (include/gpn/ingest.h; docs/ingest.md).
 *
 * The command only parses options into struct gpn_ingest_opts and prints a
 * one-line summary on stdout; all work and all input checks are in
 * src/ingest/. Exit status: 0 ok, 1 bad input / I/O (nothing written),
 * 2 usage error.
 */
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "gpn/ingest.h"
#include "gpn/util.h"

static const char CMD[] = "ingest";

static void usage(FILE *f) {
    fprintf(f, "Usage: gpn ingest --out DATASET --pa CSV [--po CSV] [--sentinel DIR|RASTER]\n"
               "                  [--landsat DIR|RASTER] [--climate DIR|RASTER] [--patch-size N]\n"
               "                  [--po-group-radius M] [--block-km KM] [--missing error|zero|drop]\n"
               "                  [--species CSV] [--force]\n"
               "\n"
               "Reads GeoPlant presence-absence (PA) and presence-only (PO) observations and\n"
               "their Sentinel-2, Landsat and climate inputs into a dataset folder for\n"
               "train-sdm / eval-sdm (format: docs/formats.md). Nothing is written unless the\n"
               "whole input is valid.\n"
               "\n"
               "  --out DATASET        dataset folder to create\n"
               "  --pa CSV             PA surveys: GeoPlant long format (lon, lat, year, ...,\n"
               "                       speciesId, surveyId; rows grouped by surveyId) or the GLC23\n"
               "                       ';' layout (rows grouped by patchID)\n"
               "  --po CSV             PO records (GeoPlant: grouped by surveyId; GLC23: grouped by\n"
               "                       observer within --po-group-radius)\n"
               "  --sentinel DIR|RASTER  patch folder <dir>/<last2>/<prev2>/<id>.jpeg (rgb + nir\n"
               "                       folders) or .tiff (4 bands), or a 4-band EPSG:3035 mosaic\n"
               "  --landsat DIR|RASTER GLC23 time_series_*.csv folder, folder of <surveyId>.npy\n"
               "                       (6,4,21), or a 504-band raster\n"
               "  --climate DIR|RASTER folder of <surveyId>.npy (4,19,12), or a 912-band raster\n"
               "  --patch-size N       Sentinel patch side in pixels (default: size of the first\n"
               "                       patch in a folder, 128 for a mosaic)\n"
               "  --po-group-radius M  GLC23 PO: radius in metres for grouping one observer's\n"
               "                       records into one sample (default 0: same point)\n"
               "  --block-km KM        spatial block size for cross-validation (default 10)\n"
               "  --missing POLICY     sample without data for a modality: error (default),\n"
               "                       zero (zero-fill, noted in samples.csv) or drop\n"
               "  --species CSV        fix the label space to the speciesId column of CSV (e.g.\n"
               "                       the species.csv of a training dataset); other rows skipped\n"
               "  --force              replace DATASET if it exists\n"
               "  -h/--help, -v/--verbose, -q/--quiet\n");
}

static int parse_num(const char *s, double lo, double hi, double *out, const char *what) {
    struct gpn_err e = {0};
    if (gpn_parse_double(s, lo, hi, out, what, &e)) return app_usage_error(CMD, "%s", e.msg);
    return 0;
}

int gpn_cmd_ingest(int argc, char **argv) {
    enum { O_PA = 256, O_PO, O_S2, O_LS, O_CL, O_PS, O_RAD, O_BLOCK, O_MISS, O_SPEC, O_FORCE };
    static const struct option lo[] = {
        {"out", required_argument, 0, 'o'},
        {"pa", required_argument, 0, O_PA},
        {"po", required_argument, 0, O_PO},
        {"sentinel", required_argument, 0, O_S2},
        {"landsat", required_argument, 0, O_LS},
        {"climate", required_argument, 0, O_CL},
        {"patch-size", required_argument, 0, O_PS},
        {"po-group-radius", required_argument, 0, O_RAD},
        {"block-km", required_argument, 0, O_BLOCK},
        {"missing", required_argument, 0, O_MISS},
        {"species", required_argument, 0, O_SPEC},
        {"force", no_argument, 0, O_FORCE},
        APP_COMMON_LONGOPTS,
        {0, 0, 0, 0},
    };
    struct gpn_ingest_opts o;
    gpn_ingest_opts_init(&o);
    o.progress = 1;
    app_getopt_reset();
    int opt;
    double v;
    while ((opt = getopt_long(argc, argv, "o:hvq", lo, NULL)) != -1) {
        switch (opt) {
        case 'h':
            usage(stdout);
            return 0;
        case 'o':
            o.out = optarg;
            break;
        case O_PA:
            o.pa = optarg;
            break;
        case O_PO:
            o.po = optarg;
            break;
        case O_S2:
            o.sentinel = optarg;
            break;
        case O_LS:
            o.landsat = optarg;
            break;
        case O_CL:
            o.climate = optarg;
            break;
        case O_SPEC:
            o.species = optarg;
            break;
        case O_FORCE:
            o.force = 1;
            break;
        case O_PS:
            if (parse_num(optarg, 1, 4096, &v, "--patch-size")) return 2;
            if (v != (int)v)
                return app_usage_error(CMD, "--patch-size: expected an integer, found '%s'", optarg);
            o.patch_size = (int)v;
            break;
        case O_RAD:
            if (parse_num(optarg, 0, 1e6, &o.po_group_radius_m, "--po-group-radius")) return 2;
            break;
        case O_BLOCK:
            if (parse_num(optarg, 0.001, 1e4, &o.block_km, "--block-km")) return 2;
            break;
        case O_MISS:
            if (!strcmp(optarg, "error"))
                o.missing = GPN_MISSING_ERROR;
            else if (!strcmp(optarg, "zero"))
                o.missing = GPN_MISSING_ZERO;
            else if (!strcmp(optarg, "drop"))
                o.missing = GPN_MISSING_DROP;
            else
                return app_usage_error(CMD, "--missing: expected error, zero or drop, found '%s'", optarg);
            break;
        default:
            if (app_common_option(opt)) break;
            return app_usage_error(CMD, "unknown option");
        }
    }
    if (optind < argc) return app_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (!o.out) return app_usage_error(CMD, "--out DATASET is required");
    if (!o.pa && !o.po) return app_usage_error(CMD, "--pa CSV (and/or --po CSV) is required");

    struct gpn_err err = {0};
    struct gpn_ingest_stats st;
    if (gpn_ingest_run(&o, &st, &err)) return app_fail(CMD, &err);
    printf("%s: %lld samples (%lld PA, %lld PO), %lld species, %lld presences from %lld rows", o.out,
           (long long)st.samples, (long long)st.n_pa, (long long)st.n_po, (long long)st.n_species,
           (long long)st.nnz, (long long)st.rows);
    if (st.dropped) printf(", %lld samples dropped", (long long)st.dropped);
    if (st.zero_filled[0] || st.zero_filled[1] || st.zero_filled[2])
        printf(", zero-filled sentinel/landsat/climate %lld/%lld/%lld", (long long)st.zero_filled[0],
               (long long)st.zero_filled[1], (long long)st.zero_filled[2]);
    printf("\n");
    return 0;
}
