/*
 * test_geom.c - polygons (geom.h): GeoJSON parsing and its error messages,
 * TopoJSON decoding (checked against GDAL's TopoJSON driver), measures,
 * reprojection, and the cell-centre rasteriser against brute force.
 *
 * Oracles:
 * - rasteriser: every cell centre of every touched tile tested one by one
 *   with gpn_geom_contains() (must match bit for bit, by construction) and
 *   with an independent classic crossing-number test (pnpoly) written here,
 *   on random concave polygons with holes and overlapping multipolygons;
 *   lattice polygons whose edges run through cell centres check the
 *   left/bottom-inside rule against hand-counted cells;
 * - gpn_geom_tiles: brute force over every tile of the bbox;
 * - world-atlas decoding: France's ring sizes, first vertex and envelope as
 *   printed by GDAL 3.6.2's TopoJSON driver (ogr.Open(countries-50m.json),
 *   layer "countries"; OGR repeats the closing vertex, we do not).
 */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "gpn/geom.h"
#include "gpn/paths.h"
#include "gpn/reproj.h"
#include "test.h"

#define CELLS (GPN_GRID_TILE_CELLS * GPN_GRID_TILE_CELLS)

static int parse(const char *json, struct gpn_geom **g, struct gpn_err *err)
{
    return gpn_geom_from_geojson(json, strlen(json), NULL, g, err);
}

/* ==== GeoJSON =========================================================== */

static void test_geojson_polygon_multipolygon_feature(void)
{
    struct gpn_err err = {0};
    struct gpn_geom *g = NULL;
    ASSERT_OK(parse("{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[1,0],[1,1],[0,1],[0,0]],"
                    "[[0.2,0.2],[0.4,0.2],[0.4,0.4],[0.2,0.2]]]}",
                    &g, &err),
              &err);
    ASSERT_EQ_INT(g->npolys, 1);
    ASSERT_EQ_INT(g->nrings, 2);
    ASSERT_EQ_INT(g->npts, 7); /* closing positions dropped */
    ASSERT_EQ_INT(g->rings[1].off, 4);
    ASSERT_EQ_INT(g->rings[1].n, 3);
    ASSERT_EQ_INT(g->epsg, 4326);
    ASSERT_NEAR(g->xy[2 * 5], 0.4, 0);
    gpn_geom_free(g);

    ASSERT_OK(parse("{\"type\":\"FeatureCollection\",\"features\":["
                    "{\"type\":\"Feature\",\"properties\":{},\"geometry\":null},"
                    "{\"type\":\"Feature\",\"properties\":{},\"geometry\":{\"type\":\"MultiPolygon\",\"coordinates\":"
                    "[[[[0,0,5],[1,0,5],[1,1,5],[0,0,5]]],[[[2,2],[3,2],[3,3],[2,2]]]]}},"
                    "{\"type\":\"Feature\",\"geometry\":{\"type\":\"GeometryCollection\",\"geometries\":["
                    "{\"type\":\"Polygon\",\"coordinates\":[[[5,5],[6,5],[6,6],[5,5]]]}]}}]}",
                    &g, &err),
              &err);
    ASSERT_EQ_INT(g->npolys, 3);
    ASSERT_EQ_INT(g->nrings, 3);
    ASSERT_EQ_INT(g->npts, 9);
    ASSERT_EQ_INT(g->polys[2].ring0, 2);
    double b[4];
    gpn_geom_bbox(g, b);
    ASSERT_NEAR(b[0], 0, 0);
    ASSERT_NEAR(b[3], 6, 0);
    gpn_geom_free(g);

    /* Legacy crs member: projected coordinates, no lon/lat range check. */
    ASSERT_OK(parse("{\"type\":\"Feature\",\"crs\":{\"type\":\"name\",\"properties\":{\"name\":"
                    "\"urn:ogc:def:crs:EPSG::3035\"}},\"geometry\":{\"type\":\"Polygon\",\"coordinates\":"
                    "[[[3600000,2200000],[3601000,2200000],[3601000,2201000],[3600000,2200000]]]}}",
                    &g, &err),
              &err);
    ASSERT_EQ_INT(g->epsg, 3035);
    ASSERT_NEAR(gpn_geom_area(g), 500000, 1e-6);
    gpn_geom_free(g);
}

struct bad_case {
    const char *json;
    int code;
    const char *needle; /* must appear in the message */
};

static void test_geojson_errors_are_explained(void)
{
    static const struct bad_case cases[] = {
        {"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[1,0],[1,1],[0,0]]", GPN_EFORMAT, "invalid JSON at line 1"},
        {"[1,2]", GPN_EFORMAT, "top level is not a JSON object"},
        {"{\"coordinates\":[]}", GPN_EFORMAT, "missing \"type\""},
        {"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[1,\"0\"],[1,1],[0,0]]]}", GPN_EFORMAT,
         "coordinates[0][1]: coordinate is not a number"},
        {"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[1,null],[1,1],[0,0]]]}", GPN_EFORMAT,
         "coordinate is not a number"},
        {"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[1],[1,1],[0,0]]]}", GPN_EFORMAT,
         "position is not an array of 2 or more numbers"},
        {"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[1,0],[0,0]]]}", GPN_EFORMAT,
         "ring has 3 positions; a closed ring needs at least 4"},
        {"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[1,0],[1,1],[0,1]]]}", GPN_EFORMAT,
         "ring is not closed: first position (0, 0) != last (0, 1)"},
        {"{\"type\":\"Polygon\",\"coordinates\":[]}", GPN_EFORMAT, "polygon has no ring"},
        {"{\"type\":\"Polygon\"}", GPN_EFORMAT, "coordinates: missing"},
        {"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[1,0],[1,100],[0,0]]]}", GPN_EFORMAT,
         "is not a lon/lat position"},
        {"{\"type\":\"MultiPolygon\",\"coordinates\":[[[[0,0],[1,0],[1,1],[0,0]]],[[[0,0],[1,0],[1,1]]]]}",
         GPN_EFORMAT, "coordinates[1][0]: ring has 3 positions"},
        {"{\"type\":\"FeatureCollection\",\"features\":[]}", GPN_EFORMAT, "no Polygon or MultiPolygon found"},
        {"{\"type\":\"FeatureCollection\",\"features\":[{\"type\":\"Feature\",\"geometry\":{\"type\":\"Polygon\","
         "\"coordinates\":[[[0,0],[1,0],[1,1],[0,0]]]}},{\"type\":\"Feature\",\"geometry\":{\"type\":\"Polygon\","
         "\"coordinates\":[[[0,0],[1,0],[1,true],[0,0]]]}}]}",
         GPN_EFORMAT, "features[1].geometry.coordinates[0][2]: coordinate is not a number"},
        {"{\"type\":\"FeatureCollection\",\"features\":[{\"type\":\"Polygon\"}]}", GPN_EFORMAT,
         "features[0]: member of \"features\" is not a Feature"},
        {"{\"type\":\"Feature\",\"properties\":{}}", GPN_EFORMAT, "geometry: missing"},
        {"{\"type\":\"Point\",\"coordinates\":[1,2]}", GPN_EUNSUPPORTED, "\"Point\" is not supported"},
        {"{\"type\":\"Polygon\",\"crs\":{\"type\":\"name\",\"properties\":{\"name\":\"foo\"}},\"coordinates\":[]}",
         GPN_EUNSUPPORTED, "'foo' is not an EPSG code"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct gpn_err err = {0};
        struct gpn_geom *g = (struct gpn_geom *)&err; /* must come back NULL */
        int rc = parse(cases[i].json, &g, &err);
        if (rc != cases[i].code) T__FAIL("case %zu: rc=%d, expected %d (%s)", i, rc, cases[i].code, err.msg);
        if (g != NULL) T__FAIL("case %zu: output not reset", i);
        if (!strstr(err.msg, cases[i].needle)) T__FAIL("case %zu: message \"%s\" lacks \"%s\"", i, err.msg, cases[i].needle);
        if (strncmp(err.msg, "gpn_geom_from_geojson: ", 23)) T__FAIL("case %zu: \"%s\" does not name the function", i, err.msg);
    }
}

static void test_geojson_limits(void)
{
    struct gpn_err err = {0};
    struct gpn_geom *g = NULL;
    const char *json = "{\"type\":\"MultiPolygon\",\"coordinates\":[[[[0,0],[1,0],[1,1],[0,0]]],"
                       "[[[2,2],[3,2],[3,3],[2,2]]],[[[4,4],[5,4],[5,5],[4,4]]]]}";
    struct gpn_geom_limits lim = {.max_points = 8};
    ASSERT_RC(gpn_geom_from_geojson(json, strlen(json), &lim, &g, &err), GPN_ETOOBIG);
    ASSERT_STR_CONTAINS(err.msg, "more than 8 points");
    lim = (struct gpn_geom_limits){.max_rings = 2};
    ASSERT_RC(gpn_geom_from_geojson(json, strlen(json), &lim, &g, &err), GPN_ETOOBIG);
    ASSERT_STR_CONTAINS(err.msg, "more than 2 rings");
    lim = (struct gpn_geom_limits){.max_points = 9, .max_rings = 3};
    ASSERT_OK(gpn_geom_from_geojson(json, strlen(json), &lim, &g, &err), &err);
    gpn_geom_free(g);
    /* len is honoured: the text is not read past it. */
    ASSERT_RC(gpn_geom_from_geojson(json, 20, NULL, &g, &err), GPN_EFORMAT);
}

/* ==== measures ========================================================== */

static void test_area_bbox_contains(void)
{
    struct gpn_err err = {0};
    struct gpn_geom *g = NULL;
    /* A 1000 m square with a 100 m square hole, plus a 200 m x 100 m
     * triangle elsewhere (area 10000). */
    ASSERT_OK(parse("{\"type\":\"MultiPolygon\",\"crs\":{\"type\":\"name\",\"properties\":{\"name\":\"EPSG:3035\"}},"
                    "\"coordinates\":[[[[4000000,3000000],[4001000,3000000],[4001000,3001000],[4000000,3001000],"
                    "[4000000,3000000]],[[4000100,3000100],[4000100,3000200],[4000200,3000200],[4000200,3000100],"
                    "[4000100,3000100]]],[[[4002000,3000000],[4002200,3000000],[4002000,3000100],"
                    "[4002000,3000000]]]]}",
                    &g, &err),
              &err);
    ASSERT_NEAR(gpn_geom_area(g), 1000000.0 - 10000.0 + 10000.0, 1e-6);
    double b[4];
    gpn_geom_bbox(g, b);
    ASSERT_NEAR(b[0], 4000000, 0);
    ASSERT_NEAR(b[1], 3000000, 0);
    ASSERT_NEAR(b[2], 4002200, 0);
    ASSERT_NEAR(b[3], 3001000, 0);
    /* Left/bottom edges inside, right/top outside; holes are outside. */
    ASSERT_EQ_INT(gpn_geom_contains(g, 4000000, 3000500), 1);
    ASSERT_EQ_INT(gpn_geom_contains(g, 4001000, 3000500), 0);
    ASSERT_EQ_INT(gpn_geom_contains(g, 4000500, 3000000), 1);
    ASSERT_EQ_INT(gpn_geom_contains(g, 4000500, 3001000), 0);
    ASSERT_EQ_INT(gpn_geom_contains(g, 4000150, 3000150), 0);
    ASSERT_EQ_INT(gpn_geom_contains(g, 4000099, 3000150), 1);
    ASSERT_EQ_INT(gpn_geom_contains(g, 4002010, 3000010), 1);
    ASSERT_EQ_INT(gpn_geom_contains(g, 4002190, 3000090), 0);
    ASSERT_EQ_INT(gpn_geom_contains(NULL, 0, 0), 0);
    /* keep_bbox drops the triangle only. */
    const double keep[4] = {3999000, 2999000, 4001500, 3002000};
    size_t dropped = 0;
    gpn_geom_keep_bbox(g, keep, &dropped);
    ASSERT_EQ_INT(dropped, 1);
    ASSERT_EQ_INT(g->npolys, 1);
    ASSERT_EQ_INT(g->nrings, 2);
    ASSERT_EQ_INT(g->npts, 8);
    ASSERT_NEAR(gpn_geom_area(g), 990000, 1e-6);
    gpn_geom_free(g);
    /* gpn_geom_from_bbox. */
    ASSERT_OK(gpn_geom_from_bbox(0, 0, 3, 2, 3035, &g, &err), &err);
    ASSERT_NEAR(gpn_geom_area(g), 6, 0);
    gpn_geom_free(g);
    ASSERT_RC(gpn_geom_from_bbox(0, 0, 0, 2, 3035, &g, &err), GPN_EINVAL);
    ASSERT_TRUE(g == NULL);
}

/* ==== rasterisation ===================================================== */

/* Classic crossing-number test (W. R. Franklin's pnpoly), even-odd over the
 * rings of each polygon, union over polygons: an oracle independent of
 * geom.c's edge code. */
static int pnpoly(const struct gpn_geom *g, double x, double y)
{
    for (size_t k = 0; k < g->npolys; k++) {
        int c = 0;
        for (size_t r = 0; r < g->polys[k].nrings; r++) {
            const struct gpn_ring *ring = &g->rings[g->polys[k].ring0 + r];
            const double *p = g->xy + 2 * ring->off;
            for (size_t i = 0, j = ring->n - 1; i < ring->n; j = i++) {
                if (((p[2 * i + 1] > y) != (p[2 * j + 1] > y)) &&
                    (x < (p[2 * j] - p[2 * i]) * (y - p[2 * i + 1]) / (p[2 * j + 1] - p[2 * i + 1]) + p[2 * i]))
                    c = !c;
            }
        }
        if (c) return 1;
    }
    return 0;
}

static uint64_t rng_state = 88172645463325252ull;
static double urand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* Adds a star-shaped (generally concave) ring around (cx, cy) with radii in
 * [rmin, rmax]; snap > 0 rounds vertices to that lattice. */
static void add_star(struct gpn_geom *g, double cx, double cy, double rmin, double rmax, int n, double snap, int new_poly)
{
    if (new_poly) {
        g->polys[g->npolys].ring0 = g->nrings;
        g->polys[g->npolys].nrings = 0;
        g->npolys++;
    }
    g->rings[g->nrings].off = g->npts;
    g->rings[g->nrings].n = (size_t)n;
    g->nrings++;
    g->polys[g->npolys - 1].nrings++;
    double a0 = urand() * 6.283185307179586;
    for (int i = 0; i < n; i++) {
        double a = a0 + 6.283185307179586 * (i + 0.8 * urand()) / n;
        double r = rmin + (rmax - rmin) * urand();
        double x = cx + r * cos(a), y = cy + r * sin(a);
        if (snap > 0) x = round(x / snap) * snap, y = round(y / snap) * snap;
        g->xy[2 * g->npts] = x;
        g->xy[2 * g->npts + 1] = y;
        g->npts++;
    }
}

static struct gpn_geom *geom_alloc(size_t maxpts, size_t maxrings)
{
    struct gpn_geom *g = calloc(1, sizeof *g);
    g->xy = malloc(maxpts * 2 * sizeof(double));
    g->rings = malloc(maxrings * sizeof *g->rings);
    g->polys = malloc(maxrings * sizeof *g->polys);
    g->epsg = 3035;
    return g;
}

/* Compares the rasterised masks of every tile met by g's bbox with brute
 * force. use_pnpoly: also compare with the independent oracle. Returns the
 * number of mismatching cells and adds inside cells to *total. */
static long check_raster(const struct gpn_geom *g, int use_pnpoly, int64_t *total, struct gpn_err *err)
{
    double b[4];
    gpn_geom_bbox(g, b);
    struct gpn_tile *tiles = NULL;
    size_t nt = 0;
    if (gpn_tiles_in_bbox(b[0], b[1], b[2] + 1, b[3] + 1, 0, &tiles, &nt, err)) return -1;
    static uint8_t mask[CELLS];
    long bad = 0;
    struct gpn_geom_prep *p = NULL;
    if (gpn_geom_prepare(g, &p, err)) {
        free(tiles);
        return -1;
    }
    for (size_t k = 0; k < nt; k++) {
        int64_t count = -1;
        if (gpn_geom_prep_rasterize_tile(p, tiles[k], mask, &count, err)) {
            bad = -1;
            break;
        }
        int64_t sum = 0;
        for (int row = 0; row < 500; row++)
            for (int col = 0; col < 500; col++) {
                int64_t gx, gy;
                double x, y;
                gpn_cell_from_tile(tiles[k], col, row, &gx, &gy);
                gpn_cell_center(gx, gy, &x, &y);
                int m = mask[row * 500 + col];
                sum += m;
                /* Outside the bbox nothing is inside (saves brute force). */
                int inb = !(x < b[0] || x > b[2] || y < b[1] || y > b[3]);
                int c = inb ? gpn_geom_contains(g, x, y) : 0;
                int q = (inb && use_pnpoly) ? pnpoly(g, x, y) : c;
                if (m != c || m != q) {
                    if (bad < 5)
                        fprintf(stderr, "  mismatch tile %d,%d col %d row %d (%.3f, %.3f): mask %d contains %d pnpoly %d\n",
                                (int)tiles[k].e_km, (int)tiles[k].n_km, col, row, x, y, m, c, pnpoly(g, x, y));
                    bad++;
                }
            }
        if (sum != count) bad += 1000000;
        *total += count;
    }
    gpn_geom_prep_free(p);
    free(tiles);
    return bad;
}

static void test_raster_matches_brute_force_random(void)
{
    struct gpn_err err = {0};
    int64_t total = 0;
    for (int trial = 0; trial < 6; trial++) {
        struct gpn_geom *g = geom_alloc(2000, 20);
        /* Three overlapping stars near the corner of four tiles, the first
         * two with holes (a hole inside a hole-free part of another star
         * tests the union). */
        double cx = 3625000 + (urand() - 0.5) * 8000, cy = 2225000 + (urand() - 0.5) * 8000;
        add_star(g, cx, cy, 4000, 12000, 30 + trial * 8, 0, 1);
        add_star(g, cx + 300, cy - 200, 300, 3500, 25, 0, 0);
        add_star(g, cx + 9000, cy + 4000, 2500, 9000, 45, 0, 1);
        add_star(g, cx + 9000, cy + 4000, 100, 2000, 17, 0, 0);
        add_star(g, cx - 200, cy + 100, 500, 2200, 13, 0, 1);
        long bad = check_raster(g, 1, &total, &err);
        gpn_geom_free(g);
        if (bad) T__FAIL("trial %d: %ld mismatches (%s)", trial, bad, err.msg);
    }
    /* Not a vacuous comparison: many cells were inside. */
    ASSERT_TRUE(total > 200000);
}

static void test_raster_lattice_polygons_match_contains(void)
{
    /* Vertices on the 25 m lattice: edges run through cell centres and
     * along rows of centres, where the half-open rule decides. */
    struct gpn_err err = {0};
    int64_t total = 0;
    for (int trial = 0; trial < 6; trial++) {
        struct gpn_geom *g = geom_alloc(500, 8);
        double cx = 3612500 + round(urand() * 100) * 25, cy = 2212500 + round(urand() * 100) * 25;
        add_star(g, cx, cy, 200, 1500, 40, 25, 1);
        add_star(g, cx, cy, 20, 150, 11, 25, 0);
        add_star(g, cx + 1000, cy + 100, 100, 800, 30, 50, 1);
        long bad = check_raster(g, 0, &total, &err);
        gpn_geom_free(g);
        if (bad) T__FAIL("lattice trial %d: %ld mismatches (%s)", trial, bad, err.msg);
    }
    ASSERT_TRUE(total > 1000);
}

static void test_raster_edge_rule_hand_counted(void)
{
    struct gpn_err err = {0};
    static uint8_t mask[CELLS];
    int64_t n = 0;
    const double x0 = 3600000, y0 = 2200000;
    const struct gpn_tile t = {3600, 2200};
    struct gpn_geom *a = NULL, *b = NULL;
    /* Square whose corners are cell centres: centres on the left and bottom
     * edges count, those on the right and top edges do not: 2 x 2 cells. */
    ASSERT_OK(gpn_geom_from_bbox(x0 + 25, y0 + 25, x0 + 125, y0 + 125, 3035, &a, &err), &err);
    ASSERT_OK(gpn_geom_rasterize_tile(a, t, mask, &n, &err), &err);
    ASSERT_EQ_INT(n, 4);
    ASSERT_EQ_INT(mask[499 * 500 + 0], 1);
    ASSERT_EQ_INT(mask[499 * 500 + 1], 1);
    ASSERT_EQ_INT(mask[498 * 500 + 0], 1);
    ASSERT_EQ_INT(mask[498 * 500 + 1], 1);
    /* Its eastern neighbour shares the edge: 4 other cells, no overlap. */
    ASSERT_OK(gpn_geom_from_bbox(x0 + 125, y0 + 25, x0 + 225, y0 + 125, 3035, &b, &err), &err);
    static uint8_t mask2[CELLS];
    ASSERT_OK(gpn_geom_rasterize_tile(b, t, mask2, &n, &err), &err);
    ASSERT_EQ_INT(n, 4);
    for (int i = 0; i < CELLS; i++)
        if (mask[i] && mask2[i]) T__FAIL("cell %d in both neighbours", i);
    ASSERT_EQ_INT(mask2[499 * 500 + 2], 1);
    ASSERT_EQ_INT(mask2[498 * 500 + 3], 1);
    gpn_geom_free(a);
    gpn_geom_free(b);
    /* Right triangle with its hypotenuse through centres: i + j <= 9. */
    const char *tri = "{\"type\":\"Polygon\",\"crs\":{\"type\":\"name\",\"properties\":{\"name\":\"EPSG:3035\"}},"
                      "\"coordinates\":[[[3600025,2200025],[3600525,2200025],[3600025,2200525],[3600025,2200025]]]}";
    ASSERT_OK(parse(tri, &a, &err), &err);
    ASSERT_OK(gpn_geom_rasterize_tile(a, t, mask, &n, &err), &err);
    ASSERT_EQ_INT(n, 55);
    for (int i = 0; i < 11; i++)
        for (int j = 0; j < 11; j++)
            if (mask[(499 - j) * 500 + i] != (i + j <= 9)) T__FAIL("triangle cell %d,%d wrong", i, j);
    gpn_geom_free(a);
    /* Cell-aligned square (edges on cell borders): exactly its cells. */
    ASSERT_OK(gpn_geom_from_bbox(x0 + 1000, y0 + 2000, x0 + 1500, y0 + 2250, 3035, &a, &err), &err);
    ASSERT_OK(gpn_geom_rasterize_tile(a, t, mask, &n, &err), &err);
    ASSERT_EQ_INT(n, 50);
    gpn_geom_free(a);
    /* Smaller than a cell and around no centre: nothing. */
    ASSERT_OK(gpn_geom_from_bbox(x0 + 1, y0 + 1, x0 + 20, y0 + 20, 3035, &a, &err), &err);
    ASSERT_OK(gpn_geom_rasterize_tile(a, t, mask, &n, &err), &err);
    ASSERT_EQ_INT(n, 0);
    struct gpn_tile *tl = NULL;
    size_t nt = 99;
    ASSERT_OK(gpn_geom_tiles(a, 0, &tl, &nt, &err), &err);
    ASSERT_EQ_INT(nt, 0);
    gpn_geom_free(a);
}

static void test_raster_whole_tile_is_fast(void)
{
    struct gpn_err err = {0};
    struct gpn_geom *g = NULL;
    static uint8_t mask[CELLS];
    /* A pentagon covering the whole tile and more. */
    const char *json = "{\"type\":\"Polygon\",\"crs\":{\"type\":\"name\",\"properties\":{\"name\":\"EPSG:3035\"}},"
                       "\"coordinates\":[[[3590000,2190000],[3640000,2190000],[3645000,2215000],[3620000,2240000],"
                       "[3590000,2230000],[3590000,2190000]]]}";
    ASSERT_OK(parse(json, &g, &err), &err);
    int64_t n = 0;
    struct timespec t0, t1;
    const int reps = 200;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < reps; i++) {
        if (gpn_geom_rasterize_tile(g, (struct gpn_tile){3600, 2200}, mask, &n, &err)) break;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    gpn_geom_free(g);
    ASSERT_EQ_INT(n, CELLS);
    double ms = ((t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6) / reps;
    fprintf(stderr, "  whole 500x500 tile (prepare + rasterise + count): %.3f ms\n", ms);
    /* Budget 5 ms; measured ~0.1 ms in the -O2 build (sanitizers slower). */
    ASSERT_TRUE(ms < 5.0);
}

static void test_raster_rejects_bad_input(void)
{
    struct gpn_err err = {0};
    struct gpn_geom *g = NULL;
    static uint8_t mask[CELLS];
    int64_t n;
    ASSERT_OK(gpn_geom_from_bbox(0, 40, 1, 41, 4326, &g, &err), &err);
    ASSERT_RC(gpn_geom_rasterize_tile(g, (struct gpn_tile){3600, 2200}, mask, &n, &err), GPN_EINVAL);
    ASSERT_STR_CONTAINS(err.msg, "EPSG:4326");
    g->epsg = 3035;
    ASSERT_RC(gpn_geom_rasterize_tile(g, (struct gpn_tile){-25, 2200}, mask, &n, &err), GPN_ERANGE);
    ASSERT_RC(gpn_geom_rasterize_tile(g, (struct gpn_tile){10, 2200}, mask, &n, &err), GPN_ERANGE);
    g->xy[0] = NAN;
    ASSERT_RC(gpn_geom_rasterize_tile(g, (struct gpn_tile){3600, 2200}, mask, &n, &err), GPN_EINVAL);
    g->xy[0] = 1e12;
    ASSERT_RC(gpn_geom_rasterize_tile(g, (struct gpn_tile){3600, 2200}, mask, &n, &err), GPN_ERANGE);
    gpn_geom_free(g);
}

/* ==== tiles of a geometry =============================================== */

static void test_geom_tiles_match_brute_force(void)
{
    struct gpn_err err = {0};
    static uint8_t mask[CELLS];
    for (int trial = 0; trial < 3; trial++) {
        /* Trials 0-1: a large concave star with a large hole (uniform
         * inside, hole and outside tiles) and a small island. Trial 2:
         * polygons hanging over the grid's south-west corner (x, y < 0 are
         * clipped to the id range). */
        struct gpn_geom *g = geom_alloc(1000, 10);
        if (trial < 2) {
            add_star(g, 4000000, 3000000, 90000, 160000, 70, 0, 1);
            add_star(g, 4000000, 3000000, 36000, 40000, 30, 0, 0);
            add_star(g, 4200000, 3150000, 100, 900, 9, 0, 1);
        } else {
            add_star(g, 10000, 100000, 5000, 30000, 12, 0, 1);
            add_star(g, 5000, 5000, 20000, 60000, 12, 0, 1);
        }
        struct gpn_tile *got = NULL, *all = NULL;
        size_t ngot = 0, nall = 0;
        ASSERT_OK(gpn_geom_tiles(g, 0, &got, &ngot, &err), &err);
        double b[4];
        gpn_geom_bbox(g, b);
        ASSERT_OK(gpn_tiles_in_bbox(b[0], b[1], b[2] + 1, b[3] + 1, 0, &all, &nall, &err), &err);
        struct gpn_geom_prep *p = NULL;
        ASSERT_OK(gpn_geom_prepare(g, &p, &err), &err);
        size_t k = 0, full = 0, bad = 0;
        for (size_t i = 0; i < nall; i++) {
            int64_t c = 0;
            ASSERT_OK(gpn_geom_prep_rasterize_tile(p, all[i], mask, &c, &err), &err);
            full += c == CELLS;
            if (c > 0) {
                if (k >= ngot || !gpn_tile_equal(got[k], all[i])) bad++;
                else k++;
            }
        }
        bad += ngot - k;
        fprintf(stderr, "  trial %d: %zu tiles, %zu of them full, %zu in the bbox\n", trial, ngot, full, nall);
        size_t holes = 0;
        for (size_t i = 0; i < ngot; i++)
            if (got[i].e_km == 4000 && got[i].n_km == 3000) holes++;
        gpn_geom_prep_free(p);
        gpn_geom_free(g);
        free(got);
        free(all);
        if (bad) T__FAIL("trial %d: %zu tiles differ from brute force (%zu listed)", trial, bad, ngot);
        if (trial == 2) {
            ASSERT_TRUE(ngot > 5);
            continue;
        }
        ASSERT_TRUE(full > 20);      /* uniform interior tiles were exercised */
        ASSERT_EQ_INT(holes, 0);     /* a tile inside the hole (corners < 35.4 km from its centre) is not listed */
        ASSERT_TRUE(ngot > 50);
    }
    /* The limit. */
    struct gpn_geom *g = NULL;
    struct gpn_tile *t = NULL;
    size_t n = 0;
    ASSERT_OK(gpn_geom_from_bbox(3600000, 2200000, 3700000, 2300000, 3035, &g, &err), &err);
    ASSERT_OK(gpn_geom_tiles(g, 16, &t, &n, &err), &err);
    ASSERT_EQ_INT(n, 16);
    free(t);
    ASSERT_RC(gpn_geom_tiles(g, 15, &t, &n, &err), GPN_ETOOBIG);
    gpn_geom_free(g);
}

/* ==== reprojection ====================================================== */

static void test_transform_densifies_and_is_all_or_nothing(void)
{
    struct gpn_err err = {0};
    struct gpn_geom *g = NULL;
    ASSERT_OK(gpn_geom_from_bbox(0, 45, 1, 46, 4326, &g, &err), &err);
    ASSERT_OK(gpn_geom_transform(g, 3035, &err), &err);
    ASSERT_EQ_INT(g->epsg, 3035);
    ASSERT_EQ_INT(g->npts, 80); /* 4 edges of 1 degree in 0.05 degree steps */
    /* Every vertex equals a direct transform of the lon/lat point. */
    struct gpn_transform *t = NULL;
    ASSERT_OK(gpn_transform_create("EPSG:4326", "EPSG:3035", &t, &err), &err);
    double x = 0.5, y = 45; /* 10th vertex of the south edge */
    gpn_transform_points(t, &x, &y, 1, &err);
    gpn_transform_destroy(t);
    ASSERT_NEAR(g->xy[2 * 10], x, 1e-6);
    ASSERT_NEAR(g->xy[2 * 10 + 1], y, 1e-6);
    /* Equal-area CRS: the planar area matches the GRS80 ellipsoidal area
     * of the 1 x 1 degree cell at 45-46N, a^2 dlon / 2 (q(46) - q(45)) with
     * Snyder's q (1987, eq. 3-12) = 8686.495 km2, computed by hand. */
    ASSERT_NEAR(gpn_geom_area(g) / 1e6, 8686.495, 0.5);
    gpn_geom_free(g);
    /* The antipode of the LAEA centre cannot be transformed: g unchanged. */
    ASSERT_OK(gpn_geom_from_bbox(-170.5, -52.5, -169.5, -51.5, 4326, &g, &err), &err);
    g->xy[0] = -170;
    g->xy[1] = -52;
    ASSERT_RC(gpn_geom_transform(g, 3035, &err), GPN_ERANGE);
    ASSERT_STR_CONTAINS(err.msg, "gpn_geom_transform");
    ASSERT_EQ_INT(g->epsg, 4326);
    ASSERT_EQ_INT(g->npts, 4);
    ASSERT_NEAR(g->xy[0], -170, 0);
    g->epsg = 0;
    ASSERT_RC(gpn_geom_transform(g, 3035, &err), GPN_EINVAL);
    gpn_geom_free(g);
}

/* ==== TopoJSON ========================================================== */

static void test_topojson_decoding(void)
{
    struct gpn_err err = {0};
    char path[600];
    snprintf(path, sizeof path, "%s/t.json", test_tmpdir());
    FILE *f = fopen(path, "w");
    ASSERT_TRUE(f != NULL);
    /* arc 0: (0,0) (4,0) (4,4); arc 1: (4,4) (0,4) (0,0) - delta encoded;
     * x = q * 0.5 + 10, y = q * 0.25 + 40. */
    fputs("{\"type\":\"Topology\",\"transform\":{\"scale\":[0.5,0.25],\"translate\":[10,40]},"
          "\"objects\":{\"countries\":{\"type\":\"GeometryCollection\",\"geometries\":["
          "{\"type\":\"Polygon\",\"arcs\":[[0,1]],\"id\":\"042\",\"properties\":{\"name\":\"Squareland\"}},"
          "{\"type\":\"MultiPolygon\",\"arcs\":[[[-2,-1]]],\"id\":\"7\",\"properties\":{\"name\":\"Otherland\"}}]},"
          "\"land\":{\"type\":\"GeometryCollection\",\"geometries\":[{\"type\":\"Polygon\",\"arcs\":[[0,1]]}]}},"
          "\"arcs\":[[[0,0],[4,0],[0,4]],[[4,4],[-4,0],[0,-4]]]}",
          f);
    fclose(f);
    struct gpn_geom *g = NULL;
    ASSERT_OK(gpn_geom_country(path, "squareland", &g, &err), &err);
    ASSERT_EQ_INT(g->npts, 4);
    const double want[8] = {10, 40, 12, 40, 12, 41, 10, 41};
    for (int i = 0; i < 8; i++) ASSERT_NEAR(g->xy[i], want[i], 0);
    gpn_geom_free(g);
    ASSERT_OK(gpn_geom_country(path, "42", &g, &err), &err); /* "042" numerically */
    gpn_geom_free(g);
    /* ~1 then ~0: arc 1 reversed, then arc 0 reversed. */
    ASSERT_OK(gpn_geom_country(path, "7", &g, &err), &err);
    ASSERT_EQ_INT(g->npts, 4);
    const double want2[8] = {10, 40, 10, 41, 12, 41, 12, 40};
    for (int i = 0; i < 8; i++) ASSERT_NEAR(g->xy[i], want2[i], 0);
    ASSERT_NEAR(gpn_geom_area(g), 2, 0);
    gpn_geom_free(g);
    ASSERT_OK(gpn_geom_land(path, &g, &err), &err);
    ASSERT_EQ_INT(g->npolys, 1);
    gpn_geom_free(g);
    ASSERT_RC(gpn_geom_country(path, "Squarelandia", &g, &err), GPN_ENOTFOUND);
    ASSERT_STR_CONTAINS(err.msg, "did you mean 'Squareland'");
    snprintf(path, sizeof path, "%s/missing.json", test_tmpdir());
    ASSERT_RC(gpn_geom_country(path, "x", &g, &err), GPN_EIO);
}

static void test_world_atlas_france_matches_ogr(void)
{
    struct gpn_err err = {0};
    char path[1024];
    ASSERT_OK(gpn_data_path("boundaries/countries-50m.json", path, sizeof path, &err), &err);
    struct gpn_geom *g = NULL;
    ASSERT_OK(gpn_geom_country(path, "France", &g, &err), &err);
    /* OGR: 10 polygons of one ring each, point counts with the closing
     * vertex 61 534 8 15 15 22 13 13 9 127. */
    static const size_t n_ogr[10] = {61, 534, 8, 15, 15, 22, 13, 13, 9, 127};
    ASSERT_EQ_INT(g->npolys, 10);
    for (size_t k = 0; k < 10; k++) {
        ASSERT_EQ_INT(g->polys[k].nrings, 1);
        ASSERT_EQ_INT(g->rings[g->polys[k].ring0].n, n_ogr[k] - 1);
    }
    ASSERT_NEAR(g->xy[0], 9.480694806948065, 1e-12);
    ASSERT_NEAR(g->xy[1], 42.805264214517166, 1e-12);
    size_t o = g->rings[1].off;
    ASSERT_NEAR(g->xy[2 * o], 7.615876158761608, 1e-12);
    ASSERT_NEAR(g->xy[2 * o + 1], 47.59316174005491, 1e-12);
    double b[4];
    gpn_geom_bbox(g, b); /* OGR envelope: minx maxx miny maxy */
    ASSERT_NEAR(b[0], -61.792817928179, 1e-9);
    ASSERT_NEAR(b[2], 55.838358383584, 1e-9);
    ASSERT_NEAR(b[1], -21.369575461536, 1e-9);
    ASSERT_NEAR(b[3], 51.096416709792, 1e-9);
    size_t npts = g->npts;
    gpn_geom_free(g);
    ASSERT_OK(gpn_geom_country(path, "250", &g, &err), &err);
    ASSERT_EQ_INT(g->npts, npts);
    gpn_geom_free(g);
    ASSERT_RC(gpn_geom_country(path, "Czech", &g, &err), GPN_ENOTFOUND);
    ASSERT_STR_CONTAINS(err.msg, "Czechia");
}

static int has_tile(const struct gpn_tile *t, size_t n, struct gpn_tile x)
{
    return bsearch(&x, t, n, sizeof x, gpn_tile_cmp) != NULL;
}

static void test_country_tiles_france(void)
{
    struct gpn_err err = {0};
    char path[1024];
    ASSERT_OK(gpn_data_path("boundaries/countries-50m.json", path, sizeof path, &err), &err);
    struct gpn_geom *g = NULL;
    ASSERT_OK(gpn_geom_country_grid(path, "France", &g, &err), &err);
    ASSERT_EQ_INT(g->epsg, 3035);
    ASSERT_EQ_INT(g->npolys, 3); /* mainland, Corsica, Oleron: overseas dropped */
    /* Equal-area CRS: the 50m outline of European France is ~547,000 km2
     * (INSEE: 543,940 km2 for metropolitan France). */
    double km2 = gpn_geom_area(g) / 1e6;
    ASSERT_TRUE(km2 > 530000 && km2 < 560000);
    struct gpn_tile *t = NULL;
    size_t n = 0;
    ASSERT_OK(gpn_geom_tiles(g, 0, &t, &n, &err), &err);
    /* Rasterised over its tiles, the cells add up to the polygon area
     * (measured: 218,858,378 cells = 547,146 km2 both ways). */
    struct gpn_geom_prep *p = NULL;
    ASSERT_OK(gpn_geom_prepare(g, &p, &err), &err);
    static uint8_t mask[CELLS];
    int64_t cells = 0, c = 0, empty = 0;
    for (size_t i = 0; i < n; i++) {
        if (gpn_geom_prep_rasterize_tile(p, t[i], mask, &c, &err)) break;
        cells += c;
        empty += c == 0;
    }
    gpn_geom_prep_free(p);
    double rel = fabs(cells * 2500.0 - gpn_geom_area(g)) / gpn_geom_area(g);
    gpn_geom_free(g);
    ASSERT_EQ_INT(empty, 0); /* every listed tile has a cell inside */
    ASSERT_TRUE(rel < 5e-4);
    /* Paris (2.3522, 48.8566) -> 3760771.86, 2889484.80 (gdaltransform). */
    struct gpn_tile paris = gpn_tile_of_xy(3760771.86, 2889484.80);
    /* Madrid (-3.7038, 40.4168) and Bern (7.4474, 46.948) are not France. */
    struct gpn_transform *tr = NULL;
    ASSERT_OK(gpn_transform_create("EPSG:4326", "EPSG:3035", &tr, &err), &err);
    double x[2] = {-3.7038, 7.4474}, y[2] = {40.4168, 46.948};
    gpn_transform_points(tr, x, y, 2, &err);
    gpn_transform_destroy(tr);
    struct gpn_tile madrid = gpn_tile_of_xy(x[0], y[0]), bern = gpn_tile_of_xy(x[1], y[1]);
    int ok_paris = has_tile(t, n, paris), ok_madrid = has_tile(t, n, madrid), ok_bern = has_tile(t, n, bern);
    free(t);
    ASSERT_EQ_INT(paris.e_km, 3750);
    ASSERT_EQ_INT(paris.n_km, 2875);
    ASSERT_TRUE(ok_paris);
    ASSERT_FALSE(ok_madrid);
    ASSERT_FALSE(ok_bern);
    /* 543,940 km2 / 625 km2 = 870 full tiles at least; coast and border
     * tiles add a few hundred partial ones. Measured: 996. */
    ASSERT_TRUE(n >= 870 && n <= 1200);
}

static void test_land(void)
{
    struct gpn_err err = {0};
    char path[1024];
    ASSERT_OK(gpn_data_path("boundaries/land-50m.json", path, sizeof path, &err), &err);
    struct gpn_geom *g = NULL;
    ASSERT_OK(gpn_geom_land(path, &g, &err), &err);
    ASSERT_TRUE(g->npolys > 1000);
    ASSERT_EQ_INT(gpn_geom_contains(g, 2.3522, 48.8566), 1);  /* Paris */
    ASSERT_EQ_INT(gpn_geom_contains(g, 10, 52), 1);           /* Lower Saxony */
    ASSERT_EQ_INT(gpn_geom_contains(g, -5, 46), 0);           /* Bay of Biscay */
    ASSERT_EQ_INT(gpn_geom_contains(g, 18, 35), 0);           /* Ionian Sea */
    ASSERT_EQ_INT(gpn_geom_contains(g, 9.0, 40.0), 1);        /* Sardinia */
    gpn_geom_free(g);
}

/* Regression (found by the report engine's cross-check): tiles crossed only by
 * a HORIZONTAL edge (which the scanline rasteriser drops) were missed. */
static void test_geom_tiles_horizontal_edges(void)
{
    struct gpn_err err = {0};
    struct gpn_geom *g = NULL;
    ASSERT_OK(gpn_geom_from_bbox(3999000.5, 2499000.5, 4061000.5, 2551000.5, 3035, &g, &err), &err);
    struct gpn_tile *got = NULL, *all = NULL;
    size_t ngot = 0, nall = 0;
    ASSERT_OK(gpn_geom_tiles(g, 0, &got, &ngot, &err), &err);
    ASSERT_OK(gpn_tiles_in_bbox(3999000.5, 2499000.5, 4061001, 2551001, 0, &all, &nall, &err), &err);
    static uint8_t m[CELLS];
    size_t expect = 0, k = 0, bad = 0;
    int seen_corner = 0;
    for (size_t i = 0; i < nall; i++) {
        int64_t c = 0;
        ASSERT_OK(gpn_geom_rasterize_tile(g, all[i], m, &c, &err), &err);
        if (c == 0) continue;
        expect++;
        if (all[i].e_km == 4000 && all[i].n_km == 2475) seen_corner = 1;
        if (k < ngot && gpn_tile_equal(got[k], all[i])) k++;
        else bad++;
    }
    ASSERT_TRUE(seen_corner);
    ASSERT_EQ_INT(bad, 0);
    ASSERT_EQ_INT(ngot, expect);
    free(got);
    free(all);
    gpn_geom_free(g);
}

int main(void)
{
    RUN(test_geojson_polygon_multipolygon_feature);
    RUN(test_geojson_errors_are_explained);
    RUN(test_geojson_limits);
    RUN(test_area_bbox_contains);
    RUN(test_raster_matches_brute_force_random);
    RUN(test_raster_lattice_polygons_match_contains);
    RUN(test_raster_edge_rule_hand_counted);
    RUN(test_raster_whole_tile_is_fast);
    RUN(test_raster_rejects_bad_input);
    RUN(test_geom_tiles_match_brute_force);
    RUN(test_geom_tiles_horizontal_edges);
    RUN(test_transform_densifies_and_is_all_or_nothing);
    RUN(test_topojson_decoding);
    RUN(test_world_atlas_france_matches_ogr);
    RUN(test_country_tiles_france);
    RUN(test_land);
    return test_summary();
}
