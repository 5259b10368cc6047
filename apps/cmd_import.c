/*
 * cmd_import.c - `gpn import`: builds the assemblage store of an atlas
 * from species maps produced elsewhere (report.h gpn_import_run).
 *
 *   gpn import --atlas DIR FILE_OR_DIR... [--threshold T] [--scale S]
 *              [--kind auto|binary|probability|logit] [--replace] [--threads N]
 *              [--no-indicators] [--habitat FILE [--habitat-classes CSV]]
 *
 * Inputs: GeoTIFF/COG files in any CRS, folders of them (searched
 * recursively) and STAC Item JSON files. GeoPl@ntNet's published products
 * (gpn_v1_50m_{country}_{speciesId}_{slug}.tif, float32 logits in
 * EPSG:3857, nodata -1) are recognised by name.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "gpn/log.h"
#include "gpn/progress.h"
#include "gpn/report.h"
#include "gpn/util.h"

static const char CMD[] = "import";

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: gpn import --atlas DIR FILE_OR_DIR... [--threshold T] [--scale S]\n"
            "                  [--kind KIND] [--replace] [--threads N] [--no-indicators]\n"
            "       gpn import --atlas DIR [FILE_OR_DIR...] --habitat FILE [--habitat-classes CSV]\n"
            "\n"
            "Builds ATLAS/tiles/<tile>/species.roar (the assemblage store that reports read)\n"
            "from species maps made elsewhere: GeoTIFF/COG files in any CRS, folders of them\n"
            "and STAC Item JSON files. Each 50 m cell of the EPSG:3035 grid takes the value\n"
            "of the map pixel under its centre.\n"
            "\n"
            "Species come from file names: gpn_v1_50m_{country}_{speciesId}_{slug}.tif\n"
            "(GeoPl@ntNet products; speciesId is the GeoPlant id), {id}.tif (catalog id) or\n"
            "{Genus_species}.tif; species missing from ATLAS/catalog.sqlite are added.\n"
            "Each touched tile's indicators.tif (richness, directive, threatened,\n"
            "most_threatened, tree, invasive, specialist, endemic) is recomputed from its\n"
            "store and the catalog's species traits.\n"
            "\n"
            "  --threshold T   presence threshold on probabilities (default 0.5); for logit\n"
            "                  maps it applies to sigmoid(value)\n"
            "  --kind KIND     auto (default: logit for GeoPl@ntNet names, probability for\n"
            "                  float rasters or with --scale, else binary), binary (value != 0),\n"
            "                  probability (value >= T) or logit (sigmoid(value) >= T)\n"
            "  --scale S       multiply pixel values by S first (e.g. 0.004 for probabilities\n"
            "                  stored as uint8 x 250, as gpn synth's truth maps)\n"
            "  --no-indicators leave the tiles' indicators.tif alone\n"
            "  --habitat FILE  also write each tile's habitat.tif from this classified raster\n"
            "                  (any CRS; the class of the pixel under each cell centre)\n"
            "  --habitat-classes CSV  value,code[,name] table of FILE's classes (EUNIS codes;\n"
            "                  default: FILE's GPN_CLASS_CODES metadata)\n"
            "  --replace       rebuild touched stores from these inputs only (default: update,\n"
            "                  keeping the other species already stored)\n"
            "  --threads N     tiles processed in parallel (default: all cores)\n"
            "  -h/--help, -v/--verbose, -q/--quiet\n");
}

int gpn_cmd_import(int argc, char **argv)
{
    enum { O_ATLAS = 1000, O_THRESHOLD, O_KIND, O_REPLACE, O_THREADS, O_SCALE, O_NOIND, O_HAB, O_HABCLS };
    static const struct option lo[] = {{"atlas", required_argument, 0, O_ATLAS},
                                       {"threshold", required_argument, 0, O_THRESHOLD},
                                       {"kind", required_argument, 0, O_KIND},
                                       {"replace", no_argument, 0, O_REPLACE},
                                       {"threads", required_argument, 0, O_THREADS},
                                       {"scale", required_argument, 0, O_SCALE},
                                       {"no-indicators", no_argument, 0, O_NOIND},
                                       {"habitat", required_argument, 0, O_HAB},
                                       {"habitat-classes", required_argument, 0, O_HABCLS},
                                       APP_COMMON_LONGOPTS,
                                       {0, 0, 0, 0}};
    const char *atlas = NULL, *habitat = NULL, *habitat_classes = NULL;
    struct gpn_import_opts o = {.threshold = 0.5};
    struct gpn_err err = {0};
    int opt;
    while ((opt = getopt_long(argc, argv, "hvq", lo, NULL)) != -1) {
        switch (opt) {
        case 'h': usage(stdout); return 0;
        case O_ATLAS: atlas = optarg; break;
        case O_THRESHOLD:
            if (gpn_parse_double(optarg, 1e-9, 1 - 1e-9, &o.threshold, "--threshold", &err))
                return app_usage_error(CMD, "%s (a probability in (0, 1))", err.msg);
            break;
        case O_KIND:
            if (!strcmp(optarg, "auto")) o.kind = GPN_IMPORT_AUTO;
            else if (!strcmp(optarg, "binary")) o.kind = GPN_IMPORT_BINARY;
            else if (!strcmp(optarg, "probability")) o.kind = GPN_IMPORT_PROBABILITY;
            else if (!strcmp(optarg, "logit")) o.kind = GPN_IMPORT_LOGIT;
            else return app_usage_error(CMD, "--kind must be auto, binary, probability or logit");
            break;
        case O_REPLACE: o.replace = 1; break;
        case O_SCALE:
            if (gpn_parse_double(optarg, 1e-12, 1e12, &o.scale, "--scale", &err))
                return app_usage_error(CMD, "%s (a positive factor)", err.msg);
            break;
        case O_NOIND: o.no_indicators = 1; break;
        case O_HAB: habitat = optarg; break;
        case O_HABCLS: habitat_classes = optarg; break;
        case O_THREADS:
            if (gpn_parse_int(optarg, 1, 1024, &o.threads, "--threads", &err))
                return app_usage_error(CMD, "%s", err.msg);
            break;
        default:
            if (app_common_option(opt)) break;
            return app_usage_error(CMD, "unknown option");
        }
    }
    if (!atlas) return app_usage_error(CMD, "--atlas DIR is required");
    if (optind >= argc && !habitat) return app_usage_error(CMD, "give at least one FILE_OR_DIR (or --habitat FILE) to import");
    if (habitat_classes && !habitat) return app_usage_error(CMD, "--habitat-classes needs --habitat FILE");
    double t0 = gpn_now();
    if (optind < argc) {
        struct gpn_import_stats st;
        int rc = gpn_import_run(atlas, (const char *const *)(argv + optind), (size_t)(argc - optind), &o, &st, &err);
        if (rc) return app_fail(CMD, &err);
        gpn_log_info("import: %zu files, %zu species, %zu tile stores, %lld present cells in %.1f s", st.files,
                     st.species, st.tiles, (long long)st.cells, gpn_now() - t0);
        printf("imported %zu files (%zu species) into %zu tile stores of %s (%lld present cells)%s\n", st.files,
               st.species, st.tiles, atlas, (long long)st.cells, o.no_indicators ? "" : ", indicators updated");
    }
    if (habitat) {
        size_t nt = 0;
        int rc = gpn_import_habitat(atlas, habitat, habitat_classes, o.threads, &nt, &err);
        if (rc) return app_fail(CMD, &err);
        printf("imported habitats of %s into %zu tiles of %s\n", habitat, nt, atlas);
    }
    return 0;
}
