/*
 * gpn.c - the gpn program: dispatches to sub-commands.
 *
 * The table below is the user-facing command list (DESIGN.md fixes the
 * names). Each entry points at gpn_cmd_<name>, defined in apps/cmd_<name>.c.
 * The references are weak, so a command whose file does not exist yet links
 * as NULL and `gpn <cmd>` says honestly that it is not built yet and which
 * issue builds it, instead of a stub pretending to work.
 */
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "gpn/log.h"
#include "gpn/version.h"

typedef int (*cmd_fn)(int argc, char **argv);

#define GPN_COMMANDS(XX)                                                                        \
    XX(synth, "synth", "generate a synthetic demo region with ground truth", 3)                 \
    XX(ingest, "ingest", "read GeoPlant CSVs and modalities into a training dataset", 2)        \
    XX(train_sdm, "train-sdm", "train the multimodal Deep-SDM", 4)                               \
    XX(eval_sdm, "eval-sdm", "evaluate a Deep-SDM (GeoPlant metrics)", 4)                        \
    XX(calibrate, "calibrate", "conformal calibration of species assemblages", 0)               \
    XX(train_hdm, "train-hdm", "train the Deep-HDM habitat model", 0)                            \
    XX(eval_hdm, "eval-hdm", "evaluate the Deep-HDM on surveys", 0)                              \
    XX(classify, "classify", "classify an assemblage into EUNIS habitats", 0)                   \
    XX(predict, "predict", "produce maps for meta-tiles", 0)                                    \
    XX(mosaic, "mosaic", "mosaic meta-tile products into COG layers", 0)                        \
    XX(import, "import", "import external species maps into the assemblage store", 6)          \
    XX(layer, "layer", "manage published layers (layer add|list|rm)", 5)                        \
    XX(seed, "seed", "pre-render tile caches", 5)                                               \
    XX(serve, "serve", "serve WMS, XYZ/WMTS tiles, the report API and the web app", 5)          \
    XX(report, "report", "area-of-interest biodiversity report", 6)                            \
    XX(grid, "grid", "EPSG:3035 grid: cells, meta-tiles, coordinate transforms", 2)             \
    XX(catalog, "catalog", "create and query the SQLite catalog", 2)                             \
    XX(raster, "raster", "raster utilities: info, COG conversion, VRT mosaics", 2)

#define DECLARE(id, name, help, issue) int gpn_cmd_##id(int argc, char **argv) __attribute__((weak));
GPN_COMMANDS(DECLARE)
#undef DECLARE

struct command {
    const char *name;
    cmd_fn fn;
    const char *help;
    int issue;
};

static void print_help(FILE *f)
{
    fprintf(f,
            "gpn %s - biodiversity maps of European plants at 50 m (geoplantnet)\n\n"
            "Usage: gpn <command> [options]\n"
            "       gpn <command> --help     options of one command\n\n"
            "Commands:\n",
            GPN_VERSION);
#define PRINT(id, name, help, issue) \
    fprintf(f, "  %-10s %s%s\n", name, help, gpn_cmd_##id ? "" : "  (not built yet)");
    GPN_COMMANDS(PRINT)
#undef PRINT
    fprintf(f, "\nEnvironment: GPN_LOG=debug|info|warn|error, GPN_PROGRESS=0 to silence progress bars.\n");
}

int main(int argc, char **argv)
{
    gpn_log_init_from_env();
    if (argc < 2) {
        print_help(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    /* "gpn help CMD" is "gpn CMD --help": rebuild argv in a function-scope array. */
    char *help_argv[4];
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        if (argc > 2) {
            help_argv[0] = argv[0];
            help_argv[1] = argv[2];
            help_argv[2] = "--help";
            help_argv[3] = NULL;
            argv = help_argv;
            argc = 3;
            cmd = argv[1];
        } else {
            print_help(stdout);
            return 0;
        }
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("gpn %s\n", GPN_VERSION);
        return 0;
    }
    static const struct command table[] = {
#define ENTRY(id, name, help, issue) {name, gpn_cmd_##id, help, issue},
        GPN_COMMANDS(ENTRY)
#undef ENTRY
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcmp(table[i].name, cmd)) continue;
        if (!table[i].fn) {
            fprintf(stderr, "gpn %s: not built yet%s", cmd, table[i].issue ? "" : "\n");
            if (table[i].issue) fprintf(stderr, " (see issue %d)\n", table[i].issue);
            return 2;
        }
        app_getopt_reset();
        return table[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "gpn: unknown command '%s'\n\n", cmd);
    print_help(stderr);
    return 2;
}
