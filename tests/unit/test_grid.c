/*
 * test_grid.c - the EPSG:3035 grid arithmetic (grid.h) and the data folder
 * lookup (paths.h).
 *
 * Checks tile id formatting/parsing (round trip over the whole id range and
 * rejection of malformed ids), point -> tile/cell with floor semantics on
 * both sides of 0 and on tile edges, cell <-> (tile, col, row) round trips
 * including negative cells, geotransforms, bbox tile lists (half-open edges,
 * clipping, limits) and gpn_data_path's three lookup rules.
 */
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "gpn/grid.h"
#include "gpn/paths.h"
#include "test.h"

static void test_tile_format_parse_roundtrip(void)
{
    struct gpn_err err = {0};
    char id[GPN_TILE_ID_MAX];
    struct gpn_tile t = {3600, 2200}, u;
    gpn_tile_format(t, id, sizeof id);
    ASSERT_STR_EQ(id, "25kmE3600N2200");
    t = (struct gpn_tile){0, 0};
    gpn_tile_format(t, id, sizeof id);
    ASSERT_STR_EQ(id, "25kmE0N0");
    /* Every id of the range parses back to its tile. */
    for (int e = 0; e <= GPN_GRID_KM_MAX; e += 25) {
        for (int n = 0; n <= GPN_GRID_KM_MAX; n += 25) {
            t.e_km = e;
            t.n_km = n;
            gpn_tile_format(t, id, sizeof id);
            int rc = gpn_tile_parse(id, &u, &err);
            if (rc || !gpn_tile_equal(t, u)) T__FAIL("round trip of %s failed: rc=%d %s", id, rc, err.msg);
        }
    }
    /* A short buffer gets a terminated prefix. */
    char small[6];
    gpn_tile_format((struct gpn_tile){3600, 2200}, small, sizeof small);
    ASSERT_STR_EQ(small, "25kmE");
}

static void test_tile_parse_rejects_bad_ids(void)
{
    struct {
        const char *id;
        int code;
    } bad[] = {
        {"", GPN_EFORMAT},
        {"25kmE3600", GPN_EFORMAT},
        {"25kmE3600N", GPN_EFORMAT},
        {"25kmEN2200", GPN_EFORMAT},
        {"10kmE3600N2200", GPN_EFORMAT},
        {"25KME3600N2200", GPN_EFORMAT},
        {"25kmE3600N2200x", GPN_EFORMAT},
        {" 25kmE3600N2200", GPN_EFORMAT},
        {"25kmE 3600N2200", GPN_EFORMAT},
        {"25kmE+3600N2200", GPN_EFORMAT},
        {"25kmE-25N2200", GPN_EFORMAT},
        {"25kmE03600N2200", GPN_EFORMAT},
        {"25kmE3600N02200", GPN_EFORMAT},
        {"25kmE99999999999N0", GPN_EFORMAT},
        {"25kmE3601N2200", GPN_ERANGE},
        {"25kmE3600N2210", GPN_ERANGE},
        {"25kmE10025N0", GPN_ERANGE},
        {"25kmE0N10025", GPN_ERANGE},
        {"25kmE999975N0", GPN_ERANGE},
    };
    struct gpn_tile t = {-1, -1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct gpn_err err = {0};
        int rc = gpn_tile_parse(bad[i].id, &t, &err);
        if (rc != bad[i].code) T__FAIL("'%s': rc=%d, expected %d", bad[i].id, rc, bad[i].code);
        if (!strstr(err.msg, "gpn_tile_parse")) T__FAIL("'%s': message '%s' does not name the function", bad[i].id, err.msg);
    }
    /* The message quotes the id. */
    struct gpn_err err = {0};
    ASSERT_RC(gpn_tile_parse("25kmE3601N2200", &t, &err), GPN_ERANGE);
    ASSERT_STR_CONTAINS(err.msg, "25kmE3601N2200");
    ASSERT_RC(gpn_tile_parse(NULL, &t, &err), GPN_EINVAL);
    /* Failed parses leave the output untouched. */
    ASSERT_EQ_INT(t.e_km, -1);
}

static void test_tile_of_xy_edges(void)
{
    struct gpn_tile t = gpn_tile_of_xy(3600000, 2200000);
    ASSERT_EQ_INT(t.e_km, 3600);
    ASSERT_EQ_INT(t.n_km, 2200);
    t = gpn_tile_of_xy(3624999.999, 2224999.999);
    ASSERT_EQ_INT(t.e_km, 3600);
    ASSERT_EQ_INT(t.n_km, 2200);
    t = gpn_tile_of_xy(3625000, 2225000);
    ASSERT_EQ_INT(t.e_km, 3625);
    ASSERT_EQ_INT(t.n_km, 2225);
    t = gpn_tile_of_xy(-0.001, -25000);
    ASSERT_EQ_INT(t.e_km, -25);
    ASSERT_EQ_INT(t.n_km, -25);
    t = gpn_tile_of_xy(-25000.001, 0);
    ASSERT_EQ_INT(t.e_km, -50);
    ASSERT_EQ_INT(t.n_km, 0);
    double x0, y0, x1, y1;
    gpn_tile_bounds((struct gpn_tile){3600, 2200}, &x0, &y0, &x1, &y1);
    ASSERT_EQ_INT(x0, 3600000);
    ASSERT_EQ_INT(y0, 2200000);
    ASSERT_EQ_INT(x1, 3625000);
    ASSERT_EQ_INT(y1, 2225000);
}

static void test_cell_of_xy_floor(void)
{
    int64_t gx, gy;
    gpn_cell_of_xy(0, 0, &gx, &gy);
    ASSERT_EQ_INT(gx, 0);
    ASSERT_EQ_INT(gy, 0);
    gpn_cell_of_xy(49.999, 50, &gx, &gy);
    ASSERT_EQ_INT(gx, 0);
    ASSERT_EQ_INT(gy, 1);
    gpn_cell_of_xy(-0.0001, -50, &gx, &gy);
    ASSERT_EQ_INT(gx, -1);
    ASSERT_EQ_INT(gy, -1);
    gpn_cell_of_xy(-50.0001, 3760771.86, &gx, &gy);
    ASSERT_EQ_INT(gx, -2);
    ASSERT_EQ_INT(gy, 75215);
    double x, y;
    gpn_cell_center(-1, 75215, &x, &y);
    ASSERT_EQ_INT(x, -25);
    ASSERT_EQ_INT(y, 3760775);
}

static void test_cell_tile_negative_edges(void)
{
    struct gpn_tile t;
    int col, row;
    gpn_cell_to_tile(0, 0, &t, &col, &row);
    ASSERT_EQ_INT(t.e_km, 0);
    ASSERT_EQ_INT(t.n_km, 0);
    ASSERT_EQ_INT(col, 0);
    ASSERT_EQ_INT(row, 499); /* southernmost row of the tile */
    gpn_cell_to_tile(-1, -1, &t, &col, &row);
    ASSERT_EQ_INT(t.e_km, -25);
    ASSERT_EQ_INT(t.n_km, -25);
    ASSERT_EQ_INT(col, 499);
    ASSERT_EQ_INT(row, 0); /* northernmost row */
    gpn_cell_to_tile(-500, -501, &t, &col, &row);
    ASSERT_EQ_INT(t.e_km, -25);
    ASSERT_EQ_INT(t.n_km, -50);
    ASSERT_EQ_INT(col, 0);
    ASSERT_EQ_INT(row, 0);
    gpn_cell_to_tile(500, 999, &t, &col, &row);
    ASSERT_EQ_INT(t.e_km, 25);
    ASSERT_EQ_INT(t.n_km, 25);
    ASSERT_EQ_INT(col, 0);
    ASSERT_EQ_INT(row, 0);
    /* Paris: cell 75215 57789 is in 25kmE3750N2875, col 215, row 210. */
    gpn_cell_to_tile(75215, 57789, &t, &col, &row);
    ASSERT_EQ_INT(t.e_km, 3750);
    ASSERT_EQ_INT(t.n_km, 2875);
    ASSERT_EQ_INT(col, 215);
    ASSERT_EQ_INT(row, 210);
}

static void test_cell_tile_roundtrip_random(void)
{
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 200000; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        int64_t gx = (int64_t)(s % 600000) - 100000;
        int64_t gy = (int64_t)((s >> 20) % 600000) - 100000;
        if (i < 4) gx = (i & 1) ? -1 : 0, gy = (i & 2) ? -1 : 0;
        struct gpn_tile t;
        int col, row;
        gpn_cell_to_tile(gx, gy, &t, &col, &row);
        if (col < 0 || col >= 500 || row < 0 || row >= 500) T__FAIL("cell %lld %lld: col %d row %d", (long long)gx, (long long)gy, col, row);
        int64_t bx, by;
        gpn_cell_from_tile(t, col, row, &bx, &by);
        if (bx != gx || by != gy) T__FAIL("cell %lld %lld came back as %lld %lld", (long long)gx, (long long)gy, (long long)bx, (long long)by);
        /* The cell centre lies in that tile and that cell. */
        double x, y;
        gpn_cell_center(gx, gy, &x, &y);
        struct gpn_tile u = gpn_tile_of_xy(x, y);
        if (!gpn_tile_equal(t, u)) T__FAIL("cell %lld %lld: tile mismatch", (long long)gx, (long long)gy);
        int64_t cx, cy;
        gpn_cell_of_xy(x, y, &cx, &cy);
        if (cx != gx || cy != gy) T__FAIL("centre of %lld %lld is in cell %lld %lld", (long long)gx, (long long)gy, (long long)cx, (long long)cy);
        /* The geotransform maps (col, row) to the same centre. */
        double gt[6];
        gpn_tile_geotransform(t, gt);
        double gxc = gt[0] + (col + 0.5) * gt[1], gyc = gt[3] + (row + 0.5) * gt[5];
        if (gxc != x || gyc != y) T__FAIL("geotransform centre %.3f %.3f != %.3f %.3f", gxc, gyc, x, y);
    }
}

static void test_geotransform(void)
{
    double gt[6];
    gpn_tile_geotransform((struct gpn_tile){3600, 2200}, gt);
    ASSERT_EQ_INT(gt[0], 3600000);
    ASSERT_EQ_INT(gt[1], 50);
    ASSERT_EQ_INT(gt[2], 0);
    ASSERT_EQ_INT(gt[3], 2225000);
    ASSERT_EQ_INT(gt[4], 0);
    ASSERT_EQ_INT(gt[5], -50);
}

static void test_tiles_in_bbox(void)
{
    struct gpn_err err = {0};
    struct gpn_tile *t = NULL;
    size_t n = 0;
    /* Exactly one tile: max edges are exclusive. */
    ASSERT_OK(gpn_tiles_in_bbox(3600000, 2200000, 3625000, 2225000, 0, &t, &n, &err), &err);
    ASSERT_EQ_INT(n, 1);
    ASSERT_EQ_INT(t[0].e_km, 3600);
    ASSERT_EQ_INT(t[0].n_km, 2200);
    free(t);
    /* 1 m over the edge adds a column and a row; sorted north then east. */
    ASSERT_OK(gpn_tiles_in_bbox(3599999, 2200000, 3625001, 2225001, 0, &t, &n, &err), &err);
    ASSERT_EQ_INT(n, 6);
    ASSERT_EQ_INT(t[0].e_km, 3575);
    ASSERT_EQ_INT(t[0].n_km, 2200);
    ASSERT_EQ_INT(t[2].e_km, 3625);
    ASSERT_EQ_INT(t[3].n_km, 2225);
    for (size_t i = 1; i < n; i++) ASSERT_TRUE(gpn_tile_cmp(&t[i - 1], &t[i]) < 0);
    free(t);
    /* Clipped to the id range. */
    ASSERT_OK(gpn_tiles_in_bbox(-1e7, -1e7, 50000, 25000, 0, &t, &n, &err), &err);
    ASSERT_EQ_INT(n, 2);
    ASSERT_EQ_INT(t[0].e_km, 0);
    ASSERT_EQ_INT(t[1].e_km, 25);
    free(t);
    ASSERT_OK(gpn_tiles_in_bbox(-1e300, -1e300, 1e300, 1e300, 0, &t, &n, &err), &err);
    ASSERT_EQ_INT(n, 401 * 401);
    free(t);
    /* Empty, inverted, limits, non-finite. */
    ASSERT_OK(gpn_tiles_in_bbox(10, 10, 10, 20, 0, &t, &n, &err), &err);
    ASSERT_EQ_INT(n, 0);
    ASSERT_TRUE(t == NULL);
    ASSERT_OK(gpn_tiles_in_bbox(-5e4, -5e4, -1, -1, 0, &t, &n, &err), &err);
    ASSERT_EQ_INT(n, 0);
    ASSERT_RC(gpn_tiles_in_bbox(0, 0, 1e6, 1e6, 100, &t, &n, &err), GPN_ETOOBIG);
    ASSERT_STR_CONTAINS(err.msg, "1600 tiles");
    ASSERT_RC(gpn_tiles_in_bbox(0, NAN, 1e6, 1e6, 0, &t, &n, &err), GPN_EINVAL);
}

static void test_tile_cmp_sorts_north_then_east(void)
{
    struct gpn_tile t[4] = {{100, 50}, {25, 75}, {50, 50}, {0, 0}};
    qsort(t, 4, sizeof t[0], gpn_tile_cmp);
    ASSERT_EQ_INT(t[0].n_km, 0);
    ASSERT_EQ_INT(t[1].e_km, 50);
    ASSERT_EQ_INT(t[2].e_km, 100);
    ASSERT_EQ_INT(t[3].n_km, 75);
}

static void test_data_path(void)
{
    struct gpn_err err = {0};
    char path[1024];
    const char *saved = getenv("GPN_DATA");
    char *keep = saved ? strdup(saved) : NULL;
    unsetenv("GPN_DATA");
    /* Tests run from the repository root: ./data is found. */
    int rc = gpn_data_path("boundaries/countries-50m.json", path, sizeof path, &err);
    if (rc) T__FAIL("default lookup failed: %s", err.msg);
    ASSERT_STR_EQ(path, "data/boundaries/countries-50m.json");
    ASSERT_RC(gpn_data_path("boundaries/no-such-file.json", path, sizeof path, &err), GPN_ENOTFOUND);
    ASSERT_STR_CONTAINS(err.msg, "no-such-file.json");
    /* An override is used, and only it. */
    char dir[600], file[700];
    snprintf(dir, sizeof dir, "%s/boundaries", test_tmpdir());
    ASSERT_EQ_INT(mkdir(dir, 0755), 0);
    snprintf(file, sizeof file, "%s/x.json", dir);
    FILE *f = fopen(file, "w");
    ASSERT_TRUE(f != NULL);
    fputs("{}", f);
    fclose(f);
    setenv("GPN_DATA", test_tmpdir(), 1);
    rc = gpn_data_path("boundaries/x.json", path, sizeof path, &err);
    int rc2 = gpn_data_path("boundaries/countries-50m.json", path + 512, sizeof path - 512, &err);
    if (keep) setenv("GPN_DATA", keep, 1);
    else unsetenv("GPN_DATA");
    free(keep);
    ASSERT_OK(rc, &err);
    ASSERT_STR_EQ(path, file);
    ASSERT_RC(rc2, GPN_ENOTFOUND);
    ASSERT_STR_CONTAINS(err.msg, "GPN_DATA");
    char tiny[8];
    ASSERT_RC(gpn_data_path("boundaries/countries-50m.json", tiny, sizeof tiny, &err), GPN_ETOOBIG);
}

int main(void)
{
    RUN(test_tile_format_parse_roundtrip);
    RUN(test_tile_parse_rejects_bad_ids);
    RUN(test_tile_of_xy_edges);
    RUN(test_cell_of_xy_floor);
    RUN(test_cell_tile_negative_edges);
    RUN(test_cell_tile_roundtrip_random);
    RUN(test_geotransform);
    RUN(test_tiles_in_bbox);
    RUN(test_tile_cmp_sorts_north_then_east);
    RUN(test_data_path);
    return test_summary();
}
