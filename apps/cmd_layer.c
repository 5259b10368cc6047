/*
 * cmd_layer.c - `gpn layer`: publish rasters as map layers.
 *
 *   gpn layer add  --atlas DIR NAME FILE [--style STYLE] [--title T] [--group G]
 *                  [--abstract A] [--metadata JSON|@FILE]
 *   gpn layer list --atlas DIR [--json]
 *   gpn layer rm   --atlas DIR NAME
 *
 * Any GDAL-readable raster can be published (a COG is best: the server
 * reads it by overview and window, and /layers/NAME.tif serves it to
 * remote GDAL/QGIS clients). `add` opens the raster to record its type,
 * CRS, extent and nodata in the catalog; re-adding a name bumps the layer
 * version, which invalidates the tile cache of that layer. A running
 * `gpn serve` notices catalog changes within a few seconds.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "gpn/catalog.h"
#include "gpn/raster.h"
#include "gpn/render.h"
#include "gpn/util.h"

static const char CMD[] = "layer";

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: gpn layer add  --atlas DIR NAME FILE [--style STYLE] [--title T] [--group G]\n"
            "                      [--abstract A] [--metadata JSON|@FILE]\n"
            "       gpn layer list --atlas DIR [--json]\n"
            "       gpn layer rm   --atlas DIR NAME\n"
            "\n"
            "Publishes a raster (any GDAL-readable file; COG recommended) as layer NAME of the\n"
            "atlas catalog, for `gpn serve` (WMS, XYZ/WMTS tiles, /layers/NAME.tif).\n"
            "  --style   viridis|magma|inferno|plasma|cividis|grey[:MIN:MAX]  continuous ramp\n"
            "            presence[:THRESHOLD[:#RRGGBB]]                    species presence\n"
            "            classes | eunis                                   categorical classes\n"
            "            (default by group: species presence, habitats classes, else viridis)\n"
            "  --group   species|indicators|habitats_l1|habitats_l2|habitats_l3|inputs|truth|other\n"
            "            (default other)\n"
            "  --metadata JSON object with optional keys: min, max (ramp range), units, band,\n"
            "            classes ([{\"value\":1,\"code\":\"T1\",\"name\":\"...\"}] or {\"1\":\"T1\"});\n"
            "            class tables are also read from FILE's sidecar <stem>_metadata.csv or\n"
            "            <stem>.csv (raster_value,habitat_code[,name])\n"
            "Re-adding a NAME replaces it and bumps its version (the tile cache of the old\n"
            "version is dropped).\n"
            "Options: -h/--help, -v/--verbose, -q/--quiet\n");
}

static int open_catalog(const char *atlas, int create, struct gpn_catalog **cat, struct gpn_err *err)
{
    char path[4096];
    if (create && gpn_mkdir_p(atlas, err)) return err->code;
    if (gpn_catalog_path(atlas, path, sizeof path, err)) return err->code;
    return gpn_catalog_open(path, create ? GPN_CATALOG_CREATE : 0, cat, err);
}

/* Checks a style spec by building it on a dummy range / class table. */
static int check_style(const char *spec, struct gpn_err *err)
{
    struct gpn_style st;
    struct gpn_style_class dummy = {1, "x", "x"};
    int rc = gpn_style_build(spec, GPN_DT_F32, 0, 1, &dummy, 1, &st, err);
    if (!rc) gpn_style_free(&st);
    return rc;
}

static int cmd_add(const char *atlas, int argc, char **argv, const char *style, const char *title,
                   const char *group, const char *abstract, const char *metadata)
{
    if (argc != 2) return app_usage_error(CMD, "add needs NAME and FILE");
    const char *name = argv[0], *file = argv[1];
    struct gpn_err err = {0};
    if (!gpn_layer_name_valid(name))
        return app_usage_error(CMD, "layer name '%s' must match [A-Za-z0-9._-]+", name);
    struct gpn_layer l;
    memset(&l, 0, sizeof l);
    gpn_strlcpy(l.name, name, sizeof l.name);
    gpn_strlcpy(l.title, title ? title : name, sizeof l.title);
    if (abstract) gpn_strlcpy(l.abstract, abstract, sizeof l.abstract);
    l.group = GPN_LAYER_OTHER;
    if (group) {
        enum gpn_layer_group g;
        if (gpn_layer_group_parse(group, &g, &err)) return app_usage_error(CMD, "%s", err.msg);
        l.group = g;
    }
    if (style) {
        if (strlen(style) >= sizeof l.style) return app_usage_error(CMD, "style too long");
        if (check_style(style, &err)) return app_usage_error(CMD, "--style: %s", err.msg);
        gpn_strlcpy(l.style, style, sizeof l.style);
    }
    char *meta = NULL;
    if (metadata) {
        if (metadata[0] == '@') {
            size_t len;
            if (gpn_file_read(metadata + 1, &meta, &len, &err)) return app_fail(CMD, &err);
        } else {
            meta = strdup(metadata);
            if (!meta) {
                gpn_err_set(&err, GPN_ENOMEM, "out of memory");
                return app_fail(CMD, &err);
            }
        }
    }
    /* The raster: type, CRS, extent, nodata. */
    char real[PATH_MAX];
    if (!realpath(file, real)) {
        gpn_err_set(&err, GPN_ENOTFOUND, "%s: no such file", file);
        free(meta);
        return app_fail(CMD, &err);
    }
    struct gpn_raster *r = NULL;
    struct gpn_raster_info info;
    if (gpn_raster_open(real, &r, &err) || gpn_raster_get_info(r, &info, &err)) {
        gpn_raster_close(r);
        free(meta);
        return app_fail(CMD, &err);
    }
    gpn_raster_close(r);
    if (!info.epsg && !info.crs_wkt[0]) {
        gpn_err_set(&err, GPN_EUNSUPPORTED, "%s: the raster has no CRS", file);
        free(meta);
        return app_fail(CMD, &err);
    }
    /* Inside the atlas: stored relative, so the atlas can move. */
    char atlas_real[PATH_MAX];
    size_t al = 0;
    if (realpath(atlas, atlas_real)) al = strlen(atlas_real);
    if (al && !strncmp(real, atlas_real, al) && real[al] == '/') gpn_strlcpy(l.path, real + al + 1, sizeof l.path);
    else gpn_strlcpy(l.path, real, sizeof l.path);
    gpn_strlcpy(l.dtype, gpn_dtype_name(info.dtype), sizeof l.dtype);
    l.epsg = info.epsg;
    const double *gt = info.gt;
    double x0 = gt[0], x1 = gt[0] + info.width * gt[1], y0 = gt[3], y1 = gt[3] + info.height * gt[5];
    l.bbox[0] = x0 < x1 ? x0 : x1;
    l.bbox[2] = x0 < x1 ? x1 : x0;
    l.bbox[1] = y0 < y1 ? y0 : y1;
    l.bbox[3] = y0 < y1 ? y1 : y0;
    l.has_nodata = info.has_nodata;
    l.nodata = info.nodata;
    struct gpn_catalog *cat = NULL;
    int64_t version = 0;
    int rc = open_catalog(atlas, 1, &cat, &err);
    if (!rc) rc = gpn_catalog_layer_add(cat, &l, meta, &version, &err);
    gpn_catalog_close(cat);
    free(meta);
    if (rc) return app_fail(CMD, &err);
    printf("layer %s version %lld: %dx%d %s EPSG:%d group %s style %s\n", l.name, (long long)version, info.width,
           info.height, l.dtype, l.epsg, gpn_layer_group_name(l.group), l.style[0] ? l.style : "(default)");
    return 0;
}

static int cmd_list(const char *atlas, int json)
{
    struct gpn_err err = {0};
    struct gpn_catalog *cat = NULL;
    struct gpn_layer *v = NULL;
    size_t n = 0;
    if (open_catalog(atlas, 0, &cat, &err) || gpn_catalog_layers_list(cat, -1, &v, &n, &err)) {
        gpn_catalog_close(cat);
        return app_fail(CMD, &err);
    }
    gpn_catalog_close(cat);
    if (json) {
        struct gpn_buf b = {0};
        gpn_buf_puts(&b, "[");
        for (size_t i = 0; i < n; i++) {
            gpn_buf_puts(&b, i ? ",\n {\"name\":\"" : "\n {\"name\":\"");
            gpn_buf_json_str(&b, v[i].name);
            gpn_buf_puts(&b, "\",\"title\":\"");
            gpn_buf_json_str(&b, v[i].title);
            gpn_buf_printf(&b, "\",\"group\":\"%s\",\"path\":\"", gpn_layer_group_name(v[i].group));
            gpn_buf_json_str(&b, v[i].path);
            gpn_buf_puts(&b, "\",\"style\":\"");
            gpn_buf_json_str(&b, v[i].style);
            gpn_buf_printf(&b, "\",\"dtype\":\"%s\",\"epsg\":%d,\"bbox\":[%.17g,%.17g,%.17g,%.17g],\"version\":%lld}",
                           v[i].dtype, v[i].epsg, v[i].bbox[0], v[i].bbox[1], v[i].bbox[2], v[i].bbox[3],
                           (long long)v[i].version);
        }
        gpn_buf_puts(&b, "\n]\n");
        fputs(b.data ? b.data : "[]\n", stdout);
        gpn_buf_free(&b);
    } else {
        printf("name\tgroup\tstyle\tdtype\tepsg\tversion\tpath\ttitle\n");
        for (size_t i = 0; i < n; i++)
            printf("%s\t%s\t%s\t%s\t%d\t%lld\t%s\t%s\n", v[i].name, gpn_layer_group_name(v[i].group),
                   v[i].style[0] ? v[i].style : "-", v[i].dtype, v[i].epsg, (long long)v[i].version, v[i].path,
                   v[i].title);
    }
    free(v);
    return 0;
}

static int cmd_rm(const char *atlas, int argc, char **argv)
{
    if (argc != 1) return app_usage_error(CMD, "rm needs one NAME");
    struct gpn_err err = {0};
    struct gpn_catalog *cat = NULL;
    int rc = open_catalog(atlas, 0, &cat, &err);
    if (!rc) rc = gpn_catalog_layer_remove(cat, argv[0], &err);
    gpn_catalog_close(cat);
    if (rc) return app_fail(CMD, &err);
    printf("layer %s removed\n", argv[0]);
    return 0;
}

int gpn_cmd_layer(int argc, char **argv)
{
    static const struct option longopts[] = {
        APP_COMMON_LONGOPTS,
        {"atlas", required_argument, 0, 'a'},
        {"style", required_argument, 0, 's'},
        {"title", required_argument, 0, 't'},
        {"group", required_argument, 0, 'g'},
        {"abstract", required_argument, 0, 'A'},
        {"metadata", required_argument, 0, 'm'},
        {"json", no_argument, 0, 'j'},
        {0, 0, 0, 0},
    };
    const char *atlas = NULL, *style = NULL, *title = NULL, *group = NULL, *abstract = NULL, *metadata = NULL;
    int json = 0;
    app_getopt_reset();
    int opt;
    while ((opt = getopt_long(argc, argv, "hvqa:s:t:g:A:m:j", longopts, NULL)) != -1) {
        if (app_common_option(opt)) continue;
        switch (opt) {
        case 'h': usage(stdout); return 0;
        case 'a': atlas = optarg; break;
        case 's': style = optarg; break;
        case 't': title = optarg; break;
        case 'g': group = optarg; break;
        case 'A': abstract = optarg; break;
        case 'm': metadata = optarg; break;
        case 'j': json = 1; break;
        default: return app_usage_error(CMD, "unknown option");
        }
    }
    if (optind >= argc) return app_usage_error(CMD, "missing action (add, list, rm)");
    const char *action = argv[optind++];
    if (!atlas) return app_usage_error(CMD, "--atlas DIR is required");
    if (!strcmp(action, "add"))
        return cmd_add(atlas, argc - optind, argv + optind, style, title, group, abstract, metadata);
    if (!strcmp(action, "list") || !strcmp(action, "ls")) return cmd_list(atlas, json);
    if (!strcmp(action, "rm") || !strcmp(action, "remove")) return cmd_rm(atlas, argc - optind, argv + optind);
    return app_usage_error(CMD, "unknown action '%s' (add, list, rm)", action);
}
