/*
 * cmd_grid.c - `gpn grid`: the EPSG:3035 grid from the command line.
 *
 *   gpn grid tile-of LON LAT [--crs CRS]      tile, cell and x/y of a point
 *   gpn grid cell X Y [--crs CRS] [--index]   a 50 m cell: ids, bounds, centre
 *   gpn grid tiles (--bbox W,S,E,N [--crs CRS] | --country NAME | --geojson FILE)
 *                  [--count] [--max-tiles N]  meta-tiles of an area, one per line
 *   gpn grid transform --from CRS --to CRS [X Y ...]   (pairs from stdin if none)
 *
 * Numbers may be negative ("tile-of -9.14 38.72"): positional arguments are
 * separated from options before getopt sees them (split_args). Output goes to
 * stdout, one value per line or "key value" lines, so scripts can parse it.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "gpn/geom.h"
#include "gpn/grid.h"
#include "gpn/paths.h"
#include "gpn/reproj.h"
#include "gpn/util.h"

#define CMD "grid"
#define MAX_POS 64

static const char USAGE[] =
    "Usage: gpn grid <action> [options]\n"
    "\n"
    "The EPSG:3035 (ETRS89-LAEA) grid: 50 m cells, 25 km meta-tiles named by their\n"
    "lower-left corner in km (25kmE3600N2200). Axis order is always x/lon first.\n"
    "\n"
    "Actions:\n"
    "  tile-of LON LAT       meta-tile, cell and EPSG:3035 x/y of a point\n"
    "  cell X Y              a 50 m cell: global index, tile, col/row, bounds, centre\n"
    "  tiles                 meta-tiles holding at least one cell centre of an area\n"
    "  transform             transform coordinates between CRSs\n"
    "\n"
    "Run 'gpn grid <action> --help' for the options of an action.\n";

static const char USAGE_TILE_OF[] =
    "Usage: gpn grid tile-of LON LAT [--crs CRS]\n"
    "\n"
    "Prints the meta-tile, the global cell (gx gy), the in-tile column/row (row 0\n"
    "is the north edge) and the EPSG:3035 coordinates of a point.\n"
    "\n"
    "  --crs CRS     CRS of the input point (default EPSG:4326, lon lat order)\n"
    "  -h, --help    this help\n"
    "\n"
    "Example: gpn grid tile-of 2.3522 48.8566\n";

static const char USAGE_CELL[] =
    "Usage: gpn grid cell X Y [--crs CRS] [--index]\n"
    "\n"
    "Describes the 50 m cell holding point X Y (EPSG:3035 metres by default):\n"
    "global index, tile, col/row, bounds, centre in EPSG:3035 and in lon/lat.\n"
    "\n"
    "  --crs CRS     CRS of X Y (default EPSG:3035)\n"
    "  --index       X Y are the global cell index gx gy instead of coordinates\n"
    "  -h, --help    this help\n";

static const char USAGE_TILES[] =
    "Usage: gpn grid tiles (--bbox W,S,E,N [--crs CRS] | --country NAME | --geojson FILE)\n"
    "                      [--count] [--max-tiles N] [--boundaries FILE]\n"
    "\n"
    "Prints the meta-tiles (one id per line, sorted north then east) holding at\n"
    "least one 50 m cell whose centre is inside the area.\n"
    "\n"
    "  --bbox W,S,E,N     a rectangle, in --crs (default EPSG:4326 lon/lat)\n"
    "  --crs CRS          CRS of --bbox, e.g. EPSG:4326, EPSG:3035, EPSG:3857\n"
    "  --country NAME     a country's land inside EPSG:3035's area of use, by Natural\n"
    "                     Earth name (case-insensitive, e.g. France, 'Bosnia and Herz.')\n"
    "                     or ISO 3166-1 numeric code (250)\n"
    "  --geojson FILE     (Multi)Polygon / Feature(Collection) GeoJSON, lon/lat\n"
    "  --boundaries FILE  countries TopoJSON (default DATA/boundaries/countries-50m.json,\n"
    "                     DATA = $GPN_DATA, ./data or <exe dir>/../data)\n"
    "  --count            print only the number of tiles\n"
    "  --max-tiles N      fail when more than N tiles (default: no limit)\n"
    "  -h, --help         this help\n";

static const char USAGE_TRANSFORM[] =
    "Usage: gpn grid transform --from CRS --to CRS [X Y ...]\n"
    "\n"
    "Transforms coordinate pairs (x/lon first, whatever the CRS's axis order) and\n"
    "prints one 'X Y' line per pair. Without pairs on the command line, reads\n"
    "'X Y' lines from stdin. Degrees are printed with 9 decimals, metres with 4.\n"
    "A point that cannot be transformed prints 'inf inf' and the exit status is 1.\n"
    "\n"
    "  --from CRS    source CRS (EPSG:4326, CRS:84, EPSG:3035, EPSG:3857, WKT, PROJ string)\n"
    "  --to CRS      target CRS\n"
    "  -h, --help    this help\n"
    "\n"
    "Example: gpn grid transform --from EPSG:4326 --to EPSG:3035 -9.1393 38.7223\n";

/* ==== argument helpers ================================================== */

/* 1 when s is a plain number (so "-9.14" is a value, not an option). */
static int is_number(const char *s)
{
    if (!s || !*s) return 0;
    char *end;
    errno = 0;
    (void)strtod(s, &end);
    return *end == 0 && end != s;
}

/* Separates positional arguments from options before getopt sees them, so
 * negative numbers ("-9.14") are values, not options, and keep their order
 * among the other positional arguments. Options (and the value that follows
 * a required_argument long option written as "--opt value") stay in argv,
 * compacted; positional arguments go to pos in order. Returns the new argc. */
static int split_args(int argc, char **argv, const struct option *longopts, char **pos, int *npos)
{
    int w = 1;
    *npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            for (int k = i + 1; k < argc && *npos < MAX_POS; k++) pos[(*npos)++] = argv[k];
            break;
        }
        if (a[0] == '-' && a[1] && !is_number(a)) {
            argv[w++] = argv[i];
            if (a[1] == '-' && !strchr(a, '=')) {
                for (const struct option *o = longopts; o->name; o++)
                    if (!strcmp(o->name, a + 2) && o->has_arg == required_argument && i + 1 < argc) {
                        argv[w++] = argv[++i];
                        break;
                    }
            }
            continue;
        }
        if (*npos < MAX_POS) pos[(*npos)++] = argv[i];
    }
    argv[w] = NULL;
    return w;
}

static int parse_num(const char *s, const char *what, double *out)
{
    struct gpn_err err = {0};
    if (gpn_parse_double(s, -HUGE_VAL, HUGE_VAL, out, what, &err))
        return app_usage_error(CMD, "%s", err.msg);
    return 0;
}

static int is_geographic(const char *crs)
{
    int e = gpn_crs_epsg(crs);
    return e == 4326 || e == 4258;
}

/* Transforms one point from crs to EPSG:3035 (no-op when already there). */
static int to_3035(const char *crs, double *x, double *y, struct gpn_err *err)
{
    if (gpn_crs_epsg(crs) == GPN_GRID_EPSG) return 0;
    struct gpn_transform *t = NULL;
    int rc = gpn_transform_create(crs, "EPSG:3035", &t, err);
    if (!rc) rc = gpn_transform_points(t, x, y, 1, err);
    gpn_transform_destroy(t);
    return rc;
}

/* ==== actions =========================================================== */

static int act_tile_of(int argc, char **argv)
{
    static const struct option longopts[] = {{"crs", required_argument, 0, 'c'}, APP_COMMON_LONGOPTS, {0, 0, 0, 0}};
    char *pos[MAX_POS];
    int npos, opt;
    const char *crs = "EPSG:4326";
    argc = split_args(argc, argv, longopts, pos, &npos);
    while ((opt = getopt_long(argc, argv, "hvq", longopts, NULL)) != -1) {
        if (app_common_option(opt)) continue;
        switch (opt) {
        case 'c': crs = optarg; break;
        case 'h': fputs(USAGE_TILE_OF, stdout); return 0;
        default: return app_usage_error(CMD, "bad option for tile-of");
        }
    }
    if (npos != 2) return app_usage_error(CMD, "tile-of needs LON LAT (got %d values)", npos);
    double x, y;
    int rc;
    if ((rc = parse_num(pos[0], "LON", &x)) || (rc = parse_num(pos[1], "LAT", &y))) return rc;
    struct gpn_err err = {0};
    if (to_3035(crs, &x, &y, &err)) return app_fail(CMD, &err);
    int64_t gx, gy;
    int col, row;
    struct gpn_tile t = gpn_tile_of_xy(x, y);
    char id[GPN_TILE_ID_MAX];
    gpn_cell_of_xy(x, y, &gx, &gy);
    gpn_cell_to_tile(gx, gy, NULL, &col, &row);
    gpn_tile_format(t, id, sizeof id);
    printf("tile %s\ncell %lld %lld\ncol %d\nrow %d\nx %.3f\ny %.3f\n", id, (long long)gx, (long long)gy, col, row, x,
           y);
    if (t.e_km < 0 || t.n_km < 0 || t.e_km > GPN_GRID_KM_MAX || t.n_km > GPN_GRID_KM_MAX)
        fprintf(stderr, "gpn grid: warning: the point is outside the grid's tile id range\n");
    return 0;
}

static int act_cell(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"crs", required_argument, 0, 'c'}, {"index", no_argument, 0, 'i'}, APP_COMMON_LONGOPTS, {0, 0, 0, 0}};
    char *pos[MAX_POS];
    int npos, opt, index = 0;
    const char *crs = "EPSG:3035";
    argc = split_args(argc, argv, longopts, pos, &npos);
    while ((opt = getopt_long(argc, argv, "hvq", longopts, NULL)) != -1) {
        if (app_common_option(opt)) continue;
        switch (opt) {
        case 'c': crs = optarg; break;
        case 'i': index = 1; break;
        case 'h': fputs(USAGE_CELL, stdout); return 0;
        default: return app_usage_error(CMD, "bad option for cell");
        }
    }
    if (npos != 2) return app_usage_error(CMD, "cell needs X Y (got %d values)", npos);
    struct gpn_err err = {0};
    int64_t gx, gy;
    if (index) {
        if (gpn_parse_i64(pos[0], -((int64_t)1 << 40), (int64_t)1 << 40, &gx, "GX", &err) ||
            gpn_parse_i64(pos[1], -((int64_t)1 << 40), (int64_t)1 << 40, &gy, "GY", &err))
            return app_usage_error(CMD, "%s", err.msg);
    } else {
        double x, y;
        int rc;
        if ((rc = parse_num(pos[0], "X", &x)) || (rc = parse_num(pos[1], "Y", &y))) return rc;
        if (to_3035(crs, &x, &y, &err)) return app_fail(CMD, &err);
        gpn_cell_of_xy(x, y, &gx, &gy);
    }
    struct gpn_tile t;
    int col, row;
    char id[GPN_TILE_ID_MAX];
    gpn_cell_to_tile(gx, gy, &t, &col, &row);
    gpn_tile_format(t, id, sizeof id);
    double cx, cy;
    gpn_cell_center(gx, gy, &cx, &cy);
    double lon = cx, lat = cy;
    struct gpn_transform *tr = NULL;
    if (gpn_transform_create("EPSG:3035", "EPSG:4326", &tr, &err) || gpn_transform_points(tr, &lon, &lat, 1, &err)) {
        gpn_transform_destroy(tr);
        return app_fail(CMD, &err);
    }
    gpn_transform_destroy(tr);
    printf("cell %lld %lld\ntile %s\ncol %d\nrow %d\nbounds %.0f %.0f %.0f %.0f\ncenter %.0f %.0f\nlonlat %.9f %.9f\n",
           (long long)gx, (long long)gy, id, col, row, cx - 25, cy - 25, cx + 25, cy + 25, cx, cy, lon, lat);
    return 0;
}

static int act_tiles(int argc, char **argv)
{
    static const struct option longopts[] = {{"bbox", required_argument, 0, 'b'},
                                             {"crs", required_argument, 0, 'c'},
                                             {"country", required_argument, 0, 'C'},
                                             {"geojson", required_argument, 0, 'g'},
                                             {"boundaries", required_argument, 0, 'B'},
                                             {"count", no_argument, 0, 'n'},
                                             {"max-tiles", required_argument, 0, 'm'},
                                             APP_COMMON_LONGOPTS,
                                             {0, 0, 0, 0}};
    const char *bbox = NULL, *crs = "EPSG:4326", *country = NULL, *geojson = NULL, *boundaries = NULL;
    int opt, count_only = 0;
    int64_t max_tiles = 0;
    struct gpn_err err = {0};
    while ((opt = getopt_long(argc, argv, "hvq", longopts, NULL)) != -1) {
        if (app_common_option(opt)) continue;
        switch (opt) {
        case 'b': bbox = optarg; break;
        case 'c': crs = optarg; break;
        case 'C': country = optarg; break;
        case 'g': geojson = optarg; break;
        case 'B': boundaries = optarg; break;
        case 'n': count_only = 1; break;
        case 'm':
            if (gpn_parse_i64(optarg, 1, INT64_MAX, &max_tiles, "--max-tiles", &err))
                return app_usage_error(CMD, "%s", err.msg);
            break;
        case 'h': fputs(USAGE_TILES, stdout); return 0;
        default: return app_usage_error(CMD, "bad option for tiles");
        }
    }
    if (optind < argc) return app_usage_error(CMD, "tiles: unexpected argument '%s'", argv[optind]);
    if ((bbox != NULL) + (country != NULL) + (geojson != NULL) != 1)
        return app_usage_error(CMD, "tiles needs exactly one of --bbox, --country, --geojson");
    struct gpn_geom *g = NULL;
    int rc = 0;
    if (bbox) {
        double b[4];
        if (gpn_parse_doubles(bbox, b, 4, "--bbox", &err)) return app_usage_error(CMD, "%s", err.msg);
        int epsg = gpn_crs_epsg(crs);
        if (!epsg) return app_usage_error(CMD, "--crs must be an EPSG code such as EPSG:4326 (got '%s')", crs);
        if (!(b[0] < b[2]) || !(b[1] < b[3]))
            return app_usage_error(CMD, "--bbox must be W,S,E,N with W < E and S < N");
        rc = gpn_geom_from_bbox(b[0], b[1], b[2], b[3], epsg, &g, &err);
    } else if (country) {
        char path[4096];
        if (boundaries) {
            gpn_strlcpy(path, boundaries, sizeof path);
        } else if (gpn_data_path("boundaries/countries-50m.json", path, sizeof path, &err)) {
            return app_fail(CMD, &err);
        }
        rc = gpn_geom_country_grid(path, country, &g, &err);
    } else {
        char *text = NULL;
        size_t len = 0;
        rc = gpn_file_read(geojson, &text, &len, &err);
        if (!rc) {
            rc = gpn_geom_from_geojson(text, len, NULL, &g, &err);
            if (rc) gpn_err_prefix(&err, "%s", geojson);
        }
        free(text);
    }
    if (!rc) rc = gpn_geom_transform(g, GPN_GRID_EPSG, &err);
    struct gpn_tile *tiles = NULL;
    size_t n = 0;
    if (!rc) rc = gpn_geom_tiles(g, (size_t)max_tiles, &tiles, &n, &err);
    gpn_geom_free(g);
    if (rc) return app_fail(CMD, &err);
    if (count_only) {
        printf("%zu\n", n);
    } else {
        char id[GPN_TILE_ID_MAX];
        for (size_t i = 0; i < n; i++) {
            gpn_tile_format(tiles[i], id, sizeof id);
            puts(id);
        }
    }
    free(tiles);
    return 0;
}

static void print_xy(double x, double y, int geographic)
{
    if (x == HUGE_VAL || y == HUGE_VAL) printf("inf inf\n");
    else if (geographic) printf("%.9f %.9f\n", x, y);
    else printf("%.4f %.4f\n", x, y);
}

static int act_transform(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"from", required_argument, 0, 'f'}, {"to", required_argument, 0, 't'}, APP_COMMON_LONGOPTS, {0, 0, 0, 0}};
    char *pos[MAX_POS];
    int npos, opt;
    const char *from = NULL, *to = NULL;
    argc = split_args(argc, argv, longopts, pos, &npos);
    while ((opt = getopt_long(argc, argv, "hvq", longopts, NULL)) != -1) {
        if (app_common_option(opt)) continue;
        switch (opt) {
        case 'f': from = optarg; break;
        case 't': to = optarg; break;
        case 'h': fputs(USAGE_TRANSFORM, stdout); return 0;
        default: return app_usage_error(CMD, "bad option for transform");
        }
    }
    if (!from || !to) return app_usage_error(CMD, "transform needs --from and --to");
    if (npos % 2) return app_usage_error(CMD, "transform needs X Y pairs (got %d values)", npos);
    struct gpn_err err = {0};
    struct gpn_transform *t = NULL;
    if (gpn_transform_create(from, to, &t, &err)) return app_fail(CMD, &err);
    int geographic = is_geographic(to), failed = 0, rc = 0;
    if (npos) {
        for (int i = 0; i < npos; i += 2) {
            double x, y;
            if ((rc = parse_num(pos[i], "X", &x)) || (rc = parse_num(pos[i + 1], "Y", &y))) goto done;
            if (gpn_transform_points(t, &x, &y, 1, &err)) failed = 1;
            print_xy(x, y, geographic);
        }
    } else {
        char line[512];
        long lineno = 0;
        while (fgets(line, sizeof line, stdin)) {
            lineno++;
            char *s = gpn_strtrim(line);
            if (!*s || *s == '#') continue;
            double x, y;
            char extra;
            if (sscanf(s, "%lf %lf %c", &x, &y, &extra) != 2) {
                fprintf(stderr, "gpn grid: stdin:%ld: expected 'X Y'\n", lineno);
                rc = 1;
                goto done;
            }
            if (gpn_transform_points(t, &x, &y, 1, &err)) failed = 1;
            print_xy(x, y, geographic);
        }
    }
    if (failed) {
        fprintf(stderr, "gpn grid: some points could not be transformed\n");
        rc = 1;
    }
done:
    gpn_transform_destroy(t);
    return rc;
}

/* ==== entry point ======================================================= */

int gpn_cmd_grid(int argc, char **argv)
{
    if (argc < 2) {
        fputs(USAGE, stderr);
        return 2;
    }
    const char *act = argv[1];
    if (!strcmp(act, "-h") || !strcmp(act, "--help") || !strcmp(act, "help")) {
        fputs(USAGE, stdout);
        return 0;
    }
    /* The action becomes argv[0] of its own option parsing. */
    argc--;
    argv++;
    app_getopt_reset();
    if (!strcmp(act, "tile-of")) return act_tile_of(argc, argv);
    if (!strcmp(act, "cell")) return act_cell(argc, argv);
    if (!strcmp(act, "tiles")) return act_tiles(argc, argv);
    if (!strcmp(act, "transform")) return act_transform(argc, argv);
    return app_usage_error(CMD, "unknown action '%s' (tile-of, cell, tiles, transform)", act);
}
