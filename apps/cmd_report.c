/*
 * cmd_report.c - `gpn report`: the biodiversity report of an area of
 * interest, computed from the atlas's assemblage store and per-tile
 * indicator/habitat rasters (report.h), printed as JSON, CSV or GeoJSON.
 *
 *   gpn report --atlas DIR --aoi FILE [--format json|csv|geojson]
 *   gpn report --atlas DIR --bbox W,S,E,N [--bbox-crs EPSG]
 *   gpn report --atlas DIR --country NAME | --area NAME
 *
 * Exactly one area option. The output is the same document POST
 * /api/report returns. Limits come from ATLAS/report.json, then from the
 * --max-* options.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "gpn/http.h"
#include "gpn/report.h"
#include "gpn/util.h"

static const char CMD[] = "report";

/* `gpn serve` finds the report API (src/http/api_report.c) through weak
 * symbols, and a weak reference does not pull a member out of a static
 * library. This strong reference links the API into the gpn program. */
int gpn_api_report(const struct gpn_http_req *req, struct gpn_http_resp *resp, void *atlas_ctx);
__attribute__((used)) static int (*const keep_api_report)(const struct gpn_http_req *, struct gpn_http_resp *,
                                                          void *) = gpn_api_report;

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: gpn report --atlas DIR (--aoi FILE | --bbox W,S,E,N | --country NAME | --area NAME)\n"
            "                  [--format json|csv|geojson] [--csv species|habitats] [--out FILE]\n"
            "\n"
            "Biodiversity report of an area: its species ranked by coverage (with taxonomy,\n"
            "Habitats Directive, Red List, invasive, endemic, tree and specialist flags), the\n"
            "counts of protected/threatened/invasive/endemic/tree species, the mean, min, max,\n"
            "median and histogram of each indicator, and the EUNIS habitats at levels 1-3.\n"
            "Cells are the 50 m cells of EPSG:3035 whose centre lies inside the area.\n"
            "\n"
            "Area (exactly one):\n"
            "  --aoi FILE        GeoJSON Polygon/MultiPolygon/Feature/FeatureCollection in\n"
            "                    EPSG:4326 (or the CRS of a legacy \"crs\" member); '-' = stdin\n"
            "  --bbox W,S,E,N    a rectangle, lon/lat unless --bbox-crs EPSG says otherwise\n"
            "  --country NAME    a country of the Natural Earth boundaries (name or ISO number)\n"
            "  --area NAME       a polygon registered as ATLAS/areas/NAME.geojson, else a country\n"
            "Output:\n"
            "  --format F        json (default), csv or geojson (the area with the summary)\n"
            "  --csv WHAT        with --format csv: species (default) or habitats\n"
            "  --max-species N   list at most N species in JSON (counts cover all)\n"
            "  --out FILE        write there (atomically) instead of stdout\n"
            "Limits (defaults, or ATLAS/report.json):\n"
            "  --max-area KM2 (100000)  --max-points N (100000)  --max-tiles N (1000)\n"
            "Other: --threads N, --verify (check store checksums), -h/--help, -v/--verbose, -q/--quiet\n");
}

int gpn_cmd_report(int argc, char **argv)
{
    enum { O_ATLAS = 1000, O_AOI, O_BBOX, O_BBOX_CRS, O_COUNTRY, O_AREA, O_FORMAT, O_CSV, O_OUT, O_MAXSP, O_MAXAREA,
           O_MAXPTS, O_MAXTILES, O_THREADS, O_VERIFY };
    static const struct option lo[] = {
        {"atlas", required_argument, 0, O_ATLAS},       {"aoi", required_argument, 0, O_AOI},
        {"bbox", required_argument, 0, O_BBOX},         {"bbox-crs", required_argument, 0, O_BBOX_CRS},
        {"country", required_argument, 0, O_COUNTRY},   {"area", required_argument, 0, O_AREA},
        {"format", required_argument, 0, O_FORMAT},     {"csv", required_argument, 0, O_CSV},
        {"out", required_argument, 0, O_OUT},           {"max-species", required_argument, 0, O_MAXSP},
        {"max-area", required_argument, 0, O_MAXAREA},  {"max-points", required_argument, 0, O_MAXPTS},
        {"max-tiles", required_argument, 0, O_MAXTILES}, {"threads", required_argument, 0, O_THREADS},
        {"verify", no_argument, 0, O_VERIFY},           APP_COMMON_LONGOPTS,
        {0, 0, 0, 0}};
    const char *atlas = NULL, *aoi = NULL, *bbox = NULL, *country = NULL, *areaname = NULL, *out = NULL;
    const char *format = "json", *csv = "species";
    int bbox_epsg = 4326, threads = 0, verify = 0;
    int64_t max_species = 0, v64;
    double vd;
    struct gpn_report_limits cli = {0};
    struct gpn_err err = {0};
    int opt;
    while ((opt = getopt_long(argc, argv, "hvq", lo, NULL)) != -1) {
        switch (opt) {
        case 'h': usage(stdout); return 0;
        case O_ATLAS: atlas = optarg; break;
        case O_AOI: aoi = optarg; break;
        case O_BBOX: bbox = optarg; break;
        case O_BBOX_CRS:
            if (gpn_parse_int(optarg, 1, 999999, &bbox_epsg, "--bbox-crs", &err))
                return app_usage_error(CMD, "%s", err.msg);
            break;
        case O_COUNTRY: country = optarg; break;
        case O_AREA: areaname = optarg; break;
        case O_FORMAT: format = optarg; break;
        case O_CSV: csv = optarg; break;
        case O_OUT: out = optarg; break;
        case O_MAXSP:
            if (gpn_parse_i64(optarg, 0, INT64_MAX, &max_species, "--max-species", &err))
                return app_usage_error(CMD, "%s", err.msg);
            break;
        case O_MAXAREA:
            if (gpn_parse_double(optarg, 1e-6, 1e9, &vd, "--max-area", &err)) return app_usage_error(CMD, "%s", err.msg);
            cli.max_area_km2 = vd;
            break;
        case O_MAXPTS:
            if (gpn_parse_i64(optarg, 4, 100000000, &v64, "--max-points", &err))
                return app_usage_error(CMD, "%s", err.msg);
            cli.max_points = (size_t)v64;
            break;
        case O_MAXTILES:
            if (gpn_parse_i64(optarg, 1, 100000000, &v64, "--max-tiles", &err))
                return app_usage_error(CMD, "%s", err.msg);
            cli.max_tiles = (size_t)v64;
            break;
        case O_THREADS:
            if (gpn_parse_int(optarg, 1, 1024, &threads, "--threads", &err)) return app_usage_error(CMD, "%s", err.msg);
            break;
        case O_VERIFY: verify = 1; break;
        default:
            if (app_common_option(opt)) break;
            return app_usage_error(CMD, "unknown option");
        }
    }
    if (optind < argc) return app_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (!atlas) return app_usage_error(CMD, "--atlas DIR is required");
    int nareas = !!aoi + !!bbox + !!country + !!areaname;
    if (nareas != 1) return app_usage_error(CMD, "give exactly one of --aoi, --bbox, --country, --area");
    if (strcmp(format, "json") && strcmp(format, "csv") && strcmp(format, "geojson"))
        return app_usage_error(CMD, "--format must be json, csv or geojson");
    if (strcmp(csv, "species") && strcmp(csv, "habitats"))
        return app_usage_error(CMD, "--csv must be species or habitats");

    struct gpn_report_limits lim = {0};
    if (gpn_report_limits_load(atlas, &lim, &err)) return app_fail(CMD, &err);
    if (cli.max_area_km2 > 0) lim.max_area_km2 = cli.max_area_km2;
    if (cli.max_points) lim.max_points = cli.max_points;
    if (cli.max_tiles) lim.max_tiles = cli.max_tiles;
    lim.max_body = (size_t)1 << 30; /* a local file is trusted for size */

    struct gpn_geom *area = NULL;
    struct gpn_report_engine *eng = NULL;
    struct gpn_report *r = NULL;
    struct gpn_buf b = {0};
    int rc;
    if (aoi) {
        char *text = NULL;
        size_t len = 0;
        if (!strcmp(aoi, "-")) {
            struct gpn_buf in = {0};
            char chunk[65536];
            size_t k;
            while ((k = fread(chunk, 1, sizeof chunk, stdin)) > 0) gpn_buf_append(&in, chunk, k);
            if (in.oom) {
                gpn_buf_free(&in);
                gpn_err_set(&err, GPN_ENOMEM, "out of memory reading stdin");
                return app_fail(CMD, &err);
            }
            text = gpn_buf_steal(&in, &len);
            rc = 0;
        } else {
            rc = gpn_file_read(aoi, &text, &len, &err);
        }
        if (!rc) rc = gpn_report_area_from_geojson(text ? text : "", len, &lim, &area, &err);
        if (rc && strcmp(aoi, "-")) gpn_err_prefix(&err, "%s", aoi);
        free(text);
    } else if (bbox) {
        rc = gpn_report_area_from_bbox(bbox, bbox_epsg, &lim, &area, &err);
    } else {
        rc = gpn_report_area_named(atlas, country ? country : areaname, &lim, &area, &err);
    }
    if (rc) goto fail;
    /* One report: read only the area's windows, no decoded-tile cache. */
    struct gpn_report_opts ro = {.threads = threads, .verify = verify, .raster_cache_mb = -1};
    rc = gpn_report_engine_open(atlas, &ro, &eng, &err);
    if (!rc) rc = gpn_report_run(eng, area, &lim, &r, &err);
    if (rc) goto fail;
    if (!strcmp(format, "json")) rc = gpn_report_to_json(r, (size_t)max_species, &b);
    else if (!strcmp(format, "geojson")) rc = gpn_report_to_geojson(r, area, &b, &err);
    else if (!strcmp(csv, "habitats")) rc = gpn_report_habitats_csv(r, &b);
    else rc = gpn_report_species_csv(r, &b);
    if (rc) {
        if (!err.msg[0]) gpn_err_set(&err, rc, "out of memory");
        goto fail;
    }
    if (out) {
        rc = gpn_file_write_atomic(out, b.data ? b.data : "", b.len, &err);
        if (rc) goto fail;
    } else if (b.len && fwrite(b.data, 1, b.len, stdout) != b.len) {
        rc = gpn_err_set(&err, GPN_EIO, "cannot write to stdout");
        goto fail;
    }
    gpn_buf_free(&b);
    gpn_report_free(r);
    gpn_report_engine_close(eng);
    gpn_geom_free(area);
    return 0;
fail:
    gpn_buf_free(&b);
    gpn_report_free(r);
    gpn_report_engine_close(eng);
    gpn_geom_free(area);
    return app_fail(CMD, &err);
}
