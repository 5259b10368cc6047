/*
 * cmd_raster.c - `gpn raster`: small raster utilities over raster.h.
 *
 *   gpn raster info FILE [--json]       size, type, CRS, layout, overviews...
 *   gpn raster cog SRC DST [--categorical] [--compress DEFLATE|ZSTD|LZW|NONE]
 *   gpn raster vrt OUT SRC...           VRT mosaic of rasters
 *
 * The first argument picks the action; each action parses its own options
 * with getopt_long. Text output is for people, --json for scripts (one JSON
 * object on stdout; NaN nodata is written as the string "nan").
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "gpn/raster.h"
#include "gpn/util.h"

static const char CMD[] = "raster";

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: gpn raster info FILE [--json]\n"
            "       gpn raster cog SRC DST [--categorical] [--compress DEFLATE|ZSTD|LZW|NONE]\n"
            "       gpn raster vrt OUT SRC...\n"
            "\n"
            "Raster utilities (any GDAL-readable file, VRT or /vsicurl/ URL).\n"
            "  info   print size, data type, CRS (EPSG), geotransform, nodata, block size,\n"
            "         overviews, IMAGE_STRUCTURE layout (COG) and compression, band\n"
            "         descriptions and metadata; --json prints one JSON object\n"
            "  cog    convert SRC to a Cloud-Optimised GeoTIFF DST (tiled 512x512, internal\n"
            "         overviews, written atomically); --categorical builds overviews by\n"
            "         NEAREST (class rasters) instead of AVERAGE; --compress (default DEFLATE)\n"
            "  vrt    build a VRT mosaic OUT of rasters with the same CRS and bands\n"
            "\n"
            "Options: -h/--help, -v/--verbose, -q/--quiet\n");
}

/* Parses the common options only; returns optind, -1 for --help, -2 for a
 * usage error. */
static int parse_plain(int argc, char **argv, int *json)
{
    static const struct option lo[] = {{"json", no_argument, 0, 'j'}, APP_COMMON_LONGOPTS, {0, 0, 0, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "hvq", lo, NULL)) != -1) {
        if (opt == 'h') return -1;
        if (opt == 'j' && json) {
            *json = 1;
            continue;
        }
        if (app_common_option(opt)) continue;
        return -2;
    }
    return optind;
}

/* ==== info ============================================================== */

static void json_double(struct gpn_buf *b, double v)
{
    if (isfinite(v)) gpn_buf_printf(b, "%.17g", v);
    else gpn_buf_printf(b, "\"%s\"", isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf"));
}

static void json_string(struct gpn_buf *b, const char *s)
{
    gpn_buf_puts(b, "\"");
    gpn_buf_json_str(b, s);
    gpn_buf_puts(b, "\"");
}

static int print_info_json(const char *path, struct gpn_raster *r, const struct gpn_raster_info *in)
{
    struct gpn_buf b = {0};
    const double *g = in->gt;
    gpn_buf_puts(&b, "{\"path\":");
    json_string(&b, path);
    gpn_buf_printf(&b, ",\"width\":%d,\"height\":%d,\"bands\":%d,\"dtype\":\"%s\",\"epsg\":%d,", in->width,
                   in->height, in->bands, gpn_dtype_name(in->dtype), in->epsg);
    gpn_buf_puts(&b, "\"geotransform\":[");
    for (int i = 0; i < 6; i++) {
        if (i) gpn_buf_puts(&b, ",");
        json_double(&b, g[i]);
    }
    double x0 = g[0], x1 = g[0] + g[1] * in->width + g[2] * in->height;
    double y0 = g[3], y1 = g[3] + g[4] * in->width + g[5] * in->height;
    gpn_buf_puts(&b, "],\"extent\":[");
    json_double(&b, fmin(x0, x1));
    gpn_buf_puts(&b, ",");
    json_double(&b, fmin(y0, y1));
    gpn_buf_puts(&b, ",");
    json_double(&b, fmax(x0, x1));
    gpn_buf_puts(&b, ",");
    json_double(&b, fmax(y0, y1));
    gpn_buf_puts(&b, "],\"nodata\":");
    if (in->has_nodata) json_double(&b, in->nodata);
    else gpn_buf_puts(&b, "null");
    gpn_buf_printf(&b, ",\"block\":[%d,%d],\"overviews\":%d,\"layout\":", in->block_w, in->block_h, in->n_overviews);
    json_string(&b, in->layout);
    gpn_buf_puts(&b, ",\"compression\":");
    json_string(&b, in->compression);
    gpn_buf_puts(&b, ",\"band_descriptions\":[");
    for (int i = 1; i <= in->bands; i++) {
        if (i > 1) gpn_buf_puts(&b, ",");
        json_string(&b, gpn_raster_band_description(r, i));
    }
    gpn_buf_puts(&b, "],\"metadata\":{");
    int first = 1;
    for (const char *const *m = gpn_raster_metadata_list(r); m && *m; m++) {
        const char *eq = strchr(*m, '=');
        if (!eq) continue;
        if (!first) gpn_buf_puts(&b, ",");
        first = 0;
        char key[256];
        size_t kl = (size_t)(eq - *m);
        if (kl >= sizeof key) kl = sizeof key - 1;
        memcpy(key, *m, kl);
        key[kl] = '\0';
        json_string(&b, key);
        gpn_buf_puts(&b, ":");
        json_string(&b, eq + 1);
    }
    gpn_buf_puts(&b, "}}\n");
    if (b.oom) {
        gpn_buf_free(&b);
        return -1;
    }
    fputs(b.data, stdout);
    gpn_buf_free(&b);
    return 0;
}

static void print_info_text(const char *path, struct gpn_raster *r, const struct gpn_raster_info *in)
{
    const double *g = in->gt;
    printf("file:         %s\n", path);
    printf("size:         %d x %d, %d band%s, %s\n", in->width, in->height, in->bands, in->bands == 1 ? "" : "s",
           gpn_dtype_name(in->dtype));
    if (in->epsg) printf("crs:          EPSG:%d\n", in->epsg);
    else printf("crs:          %s\n", in->crs_wkt[0] ? "(no EPSG code)" : "(none)");
    printf("geotransform: %.17g, %.17g, %.17g, %.17g, %.17g, %.17g\n", g[0], g[1], g[2], g[3], g[4], g[5]);
    double x1 = g[0] + g[1] * in->width + g[2] * in->height, y1 = g[3] + g[4] * in->width + g[5] * in->height;
    printf("extent:       %.6f %.6f %.6f %.6f\n", fmin(g[0], x1), fmin(g[3], y1), fmax(g[0], x1), fmax(g[3], y1));
    if (in->has_nodata) printf("nodata:       %.17g\n", in->nodata);
    else printf("nodata:       (none)\n");
    printf("block:        %d x %d\n", in->block_w, in->block_h);
    printf("overviews:    %d\n", in->n_overviews);
    printf("layout:       %s\n", in->layout[0] ? in->layout : "(not COG)");
    printf("compression:  %s\n", in->compression[0] ? in->compression : "(none)");
    for (int i = 1; i <= in->bands; i++) {
        const char *d = gpn_raster_band_description(r, i);
        if (d[0]) printf("band %-7d %s\n", i, d);
    }
    for (const char *const *m = gpn_raster_metadata_list(r); m && *m; m++) printf("metadata:     %s\n", *m);
}

static int do_info(int argc, char **argv)
{
    int json = 0;
    int k = parse_plain(argc, argv, &json);
    if (k == -1) {
        usage(stdout);
        return 0;
    }
    if (k == -2) return app_usage_error(CMD, "info: unknown option");
    if (argc - k != 1) return app_usage_error(CMD, "info takes exactly one FILE");
    const char *path = argv[k];
    struct gpn_err err = {0};
    struct gpn_raster *r = NULL;
    if (gpn_raster_open(path, &r, &err)) return app_fail(CMD, &err);
    struct gpn_raster_info info;
    if (gpn_raster_get_info(r, &info, &err)) {
        gpn_raster_close(r);
        return app_fail(CMD, &err);
    }
    int rc = 0;
    if (json) {
        if (print_info_json(path, r, &info)) {
            gpn_err_set(&err, GPN_ENOMEM, "info: out of memory");
            rc = app_fail(CMD, &err);
        }
    } else {
        print_info_text(path, r, &info);
    }
    gpn_raster_close(r);
    return rc;
}

/* ==== cog =============================================================== */

static int do_cog(int argc, char **argv)
{
    static const struct option lo[] = {{"categorical", no_argument, 0, 'c'},
                                       {"compress", required_argument, 0, 'z'},
                                       APP_COMMON_LONGOPTS,
                                       {0, 0, 0, 0}};
    int categorical = 0, opt;
    const char *compress = NULL;
    while ((opt = getopt_long(argc, argv, "hvq", lo, NULL)) != -1) {
        switch (opt) {
        case 'h': usage(stdout); return 0;
        case 'c': categorical = 1; break;
        case 'z': compress = optarg; break;
        default:
            if (app_common_option(opt)) break;
            return app_usage_error(CMD, "cog: unknown option");
        }
    }
    if (argc - optind != 2) return app_usage_error(CMD, "cog takes SRC and DST");
    struct gpn_err err = {0};
    if (gpn_cog_translate(argv[optind], argv[optind + 1], categorical, compress, &err)) {
        if (err.code == GPN_EINVAL) return app_usage_error(CMD, "%s", err.msg);
        return app_fail(CMD, &err);
    }
    return 0;
}

/* ==== vrt =============================================================== */

static int do_vrt(int argc, char **argv)
{
    int k = parse_plain(argc, argv, NULL);
    if (k == -1) {
        usage(stdout);
        return 0;
    }
    if (k == -2) return app_usage_error(CMD, "vrt: unknown option");
    if (argc - k < 2) return app_usage_error(CMD, "vrt takes OUT and at least one SRC");
    struct gpn_err err = {0};
    if (gpn_vrt_build(argv[k], (const char *const *)(argv + k + 1), argc - k - 1, &err)) return app_fail(CMD, &err);
    return 0;
}

int gpn_cmd_raster(int argc, char **argv)
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
    /* The action becomes argv[0] of its own option parsing. */
    app_getopt_reset();
    if (!strcmp(action, "info")) return do_info(argc - 1, argv + 1);
    if (!strcmp(action, "cog")) return do_cog(argc - 1, argv + 1);
    if (!strcmp(action, "vrt")) return do_vrt(argc - 1, argv + 1);
    if (action[0] == '-') return app_usage_error(CMD, "unknown option '%s'", action);
    return app_usage_error(CMD, "unknown action '%s' (info, cog, vrt)", action);
}
