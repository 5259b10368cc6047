/*
 * test_reproj.c - coordinate transforms (reproj.h) against an independent
 * oracle.
 *
 * The expected values were produced by hand, once, with GDAL's
 * gdaltransform 3.6.2 (PROJ 9.1.1) on Debian bookworm:
 *   gdaltransform -s_srs EPSG:4326 -t_srs EPSG:3035 -output_xy < pts.txt
 *   gdaltransform -s_srs EPSG:4326 -t_srs EPSG:3857 -output_xy < pts.txt
 *   gdaltransform -s_srs EPSG:3035 -t_srs EPSG:4326 -output_xy < pts3035.txt
 *   gdaltransform -s_srs EPSG:3857 -t_srs EPSG:4326 -output_xy
 *   gdaltransform -s_srs EPSG:3035 -t_srs EPSG:3857 -output_xy < pts3035.txt
 * Axis order: gdaltransform uses the traditional GIS order for EPSG:4326
 * input and output (lon lat; checked: "-9.1393 38.7223" gives Lisbon at
 * E 2665519 N 1946764, while cs2cs with the EPSG order needs "38.7223
 * -9.1393"), and -output_xy prints EPSG:3035 as easting northing. So every
 * pair below is x/lon first, the order of our API. Tolerance: 1 cm in
 * metres, 1e-8 degree (about 1 mm) in degrees.
 */
#include <math.h>
#include <pthread.h>

#include "gpn/reproj.h"
#include "test.h"

struct pt {
    const char *name;
    double lon, lat;     /* input */
    double x3035, y3035; /* gdaltransform EPSG:4326 -> EPSG:3035 */
    double x3857, y3857; /* gdaltransform EPSG:4326 -> EPSG:3857 */
};

static const struct pt PTS[] = {
    {"Lisbon", -9.1393, 38.7223, 2665519.21431248, 1946764.04481795, -1017382.22220697, 4681971.13322187},
    {"Montpellier", 3.8767, 43.6108, 3826050.87815567, 2298202.50535697, 431552.269958284, 5405408.81346075},
    {"Helsinki", 24.9384, 60.1699, 5145297.88049377, 4206147.97181187, 2776129.98919897, 8437661.78200259},
    {"Athens", 23.7275, 37.9838, 5528419.39495232, 1764743.25260243, 2641333.2177974, 4577137.5488964},
    {"Reykjavik", -21.9426, 64.1466, 2821215.66106921, 4911736.92174749, -2442639.05868048, 9387089.64983784},
    {"Las Palmas (Canaries)", -15.4134, 28.1235, 1818278.95686766, 983825.725484396, -1715811.83939304,
     3264553.25564341},
    {"Paris", 2.3522, 48.8566, 3760771.86483801, 2889484.8019008, 261845.706243938, 6250564.34954313},
    {"Berlin", 13.405, 52.52, 4552036.45015454, 3273268.27356806, 1492237.77408383, 6894699.80128242},
    {"Nordkapp", 25.7836, 71.1685, 4891957.21130295, 5402001.73068212, 2870217.22281745, 11460133.8478545},
    {"LAEA centre", 10, 52, 4321000, 3210000, 1113194.90793274, 6800125.45439731},
};
#define NPTS (sizeof PTS / sizeof PTS[0])

/* gdaltransform EPSG:3035 -> EPSG:4326 and -> EPSG:3857. */
static const struct {
    double x, y, lon, lat, x3857, y3857;
} INV[] = {
    {3600000, 2200000, 1.23072200704872, 42.5272328717627, 137003.347132739, 5240286.49666183},
    {4321000, 3210000, 10, 52, 1113194.90793274, 6800125.45439731},
    {2635000, 1725000, -8.92199795854471, 36.7105846862499, -993192.269603823, 4398842.4361776},
    {5000000, 4500000, 23.4389620739597, 63.0153615443959, 2609213.32279604, 9104018.58366517},
    {3012345.678, 2987654.321, -7.9246270147117, 48.5595702126011, -882165.444004326, 6200457.43073805},
};
#define NINV (sizeof INV / sizeof INV[0])

static void test_4326_to_3035_matches_gdaltransform(void)
{
    struct gpn_err err = {0};
    struct gpn_transform *t = NULL;
    ASSERT_OK(gpn_transform_create("EPSG:4326", "EPSG:3035", &t, &err), &err);
    for (size_t i = 0; i < NPTS; i++) {
        double x = PTS[i].lon, y = PTS[i].lat;
        int rc = gpn_transform_points(t, &x, &y, 1, &err);
        if (rc || fabs(x - PTS[i].x3035) > 0.01 || fabs(y - PTS[i].y3035) > 0.01) {
            gpn_transform_destroy(t);
            T__FAIL("%s: got %.4f %.4f, gdaltransform %.4f %.4f (rc %d)", PTS[i].name, x, y, PTS[i].x3035,
                    PTS[i].y3035, rc);
        }
    }
    gpn_transform_destroy(t);
}

static void test_4326_to_3857_matches_gdaltransform(void)
{
    struct gpn_err err = {0};
    struct gpn_transform *t = NULL;
    ASSERT_OK(gpn_transform_create("EPSG:4326", "EPSG:3857", &t, &err), &err);
    double x[NPTS], y[NPTS];
    for (size_t i = 0; i < NPTS; i++) x[i] = PTS[i].lon, y[i] = PTS[i].lat;
    int rc = gpn_transform_points(t, x, y, NPTS, &err);
    gpn_transform_destroy(t);
    ASSERT_OK(rc, &err);
    for (size_t i = 0; i < NPTS; i++) {
        ASSERT_NEAR(x[i], PTS[i].x3857, 0.01);
        ASSERT_NEAR(y[i], PTS[i].y3857, 0.01);
    }
}

static void test_inverse_matches_gdaltransform(void)
{
    struct gpn_err err = {0};
    struct gpn_transform *t = NULL, *m = NULL, *w = NULL;
    ASSERT_OK(gpn_transform_create("EPSG:3035", "EPSG:4326", &t, &err), &err);
    ASSERT_OK(gpn_transform_create("EPSG:3035", "EPSG:3857", &m, &err), &err);
    ASSERT_OK(gpn_transform_create("EPSG:3857", "EPSG:4326", &w, &err), &err);
    int ok = 1;
    for (size_t i = 0; i < NINV && ok; i++) {
        double x = INV[i].x, y = INV[i].y, mx = INV[i].x, my = INV[i].y;
        ok = !gpn_transform_points(t, &x, &y, 1, &err) && !gpn_transform_points(m, &mx, &my, 1, &err);
        ok = ok && fabs(x - INV[i].lon) < 1e-8 && fabs(y - INV[i].lat) < 1e-8;
        ok = ok && fabs(mx - INV[i].x3857) < 0.01 && fabs(my - INV[i].y3857) < 0.01;
        if (!ok) fprintf(stderr, "  point %zu: %.10f %.10f / %.4f %.4f\n", i, x, y, mx, my);
    }
    /* gdaltransform -s_srs EPSG:3857 -t_srs EPSG:4326 */
    double wx[2] = {1000000, -1500000}, wy[2] = {6000000, 4500000};
    int rc = gpn_transform_points(w, wx, wy, 2, &err);
    gpn_transform_destroy(t);
    gpn_transform_destroy(m);
    gpn_transform_destroy(w);
    ASSERT_TRUE(ok);
    ASSERT_OK(rc, &err);
    ASSERT_NEAR(wx[0], 8.98315284119521, 1e-8);
    ASSERT_NEAR(wy[0], 47.3537047024331, 1e-8);
    ASSERT_NEAR(wx[1], -13.4747292617928, 1e-8);
    ASSERT_NEAR(wy[1], 37.4356072027454, 1e-8);
}

static void test_crs84_and_urn_names_are_lonlat(void)
{
    const char *names[] = {"CRS:84", "OGC:CRS84", "urn:ogc:def:crs:EPSG::4326", "EPSG:4326"};
    for (size_t k = 0; k < 4; k++) {
        struct gpn_err err = {0};
        struct gpn_transform *t = NULL;
        int rc = gpn_transform_create(names[k], "urn:ogc:def:crs:EPSG::3035", &t, &err);
        if (rc) T__FAIL("%s: %s", names[k], err.msg);
        double x = PTS[0].lon, y = PTS[0].lat;
        rc = gpn_transform_points(t, &x, &y, 1, &err);
        gpn_transform_destroy(t);
        ASSERT_OK(rc, &err);
        ASSERT_NEAR(x, PTS[0].x3035, 0.01);
        ASSERT_NEAR(y, PTS[0].y3035, 0.01);
    }
}

static void test_roundtrip_grid_of_points(void)
{
    struct gpn_err err = {0};
    struct gpn_transform *f = NULL, *b = NULL;
    ASSERT_OK(gpn_transform_create("EPSG:4326", "EPSG:3035", &f, &err), &err);
    ASSERT_OK(gpn_transform_create("EPSG:3035", "EPSG:4326", &b, &err), &err);
    enum { N = 41 * 31 };
    static double xy[2 * N], ref[2 * N];
    size_t k = 0;
    for (int i = 0; i < 41; i++)
        for (int j = 0; j < 31; j++, k++) {
            xy[2 * k] = ref[2 * k] = -30 + 1.75 * i;   /* -30 .. 40 E */
            xy[2 * k + 1] = ref[2 * k + 1] = 27 + 1.8 * j; /* 27 .. 81 N */
        }
    int rc = gpn_transform_points_xy(f, xy, N, &err);
    if (!rc) rc = gpn_transform_points_xy(b, xy, N, &err);
    gpn_transform_destroy(f);
    gpn_transform_destroy(b);
    ASSERT_OK(rc, &err);
    double worst = 0;
    for (size_t i = 0; i < 2 * N; i++) worst = fmax(worst, fabs(xy[i] - ref[i]));
    /* PROJ 9.1's LAEA inverse uses a series for the authalic latitude:
     * the round trip measured 1.3e-8 degree (1.4 mm) at worst here. */
    ASSERT_NEAR(worst, 0, 1e-7);
}

static void test_failed_points_become_huge_val(void)
{
    struct gpn_err err = {0};
    struct gpn_transform *t = NULL;
    ASSERT_OK(gpn_transform_create("EPSG:3035", "EPSG:4326", &t, &err), &err);
    /* 1e8 m is outside the LAEA disk; NaN is not a point. */
    double x[4] = {4321000, 1e8, 3600000, NAN}, y[4] = {3210000, 1e8, 2200000, 0};
    int rc = gpn_transform_points(t, x, y, 4, &err);
    gpn_transform_destroy(t);
    ASSERT_RC(rc, GPN_ERANGE);
    ASSERT_STR_CONTAINS(err.msg, "2 of 4 points");
    ASSERT_NEAR(x[0], 10, 1e-9);
    ASSERT_NEAR(y[0], 52, 1e-9);
    ASSERT_TRUE(x[1] == HUGE_VAL && y[1] == HUGE_VAL);
    ASSERT_NEAR(x[2], 1.23072200704872, 1e-8);
    ASSERT_TRUE(x[3] == HUGE_VAL && y[3] == HUGE_VAL);
}

static void test_unknown_crs_is_rejected(void)
{
    struct gpn_err err = {0};
    struct gpn_transform *t = (struct gpn_transform *)&err; /* must be reset to NULL */
    ASSERT_RC(gpn_transform_create("EPSG:999999", "EPSG:4326", &t, &err), GPN_EINVAL);
    ASSERT_TRUE(t == NULL);
    ASSERT_STR_CONTAINS(err.msg, "EPSG:999999");
    ASSERT_RC(gpn_transform_create("EPSG:4326", "not a crs", &t, &err), GPN_EINVAL);
    ASSERT_STR_CONTAINS(err.msg, "not a crs");
    /* PROJ alone would resolve "FOO" to the Amersfoort CRS by fuzzy name. */
    ASSERT_RC(gpn_transform_create("EPSG:4326", "FOO", &t, &err), GPN_EINVAL);
    ASSERT_STR_CONTAINS(err.msg, "use AUTH:CODE");
    /* Structured forms pass: a PROJ string and WKT. */
    ASSERT_OK(gpn_transform_create("+proj=longlat +datum=WGS84 +no_defs +type=crs",
                                   "PROJCS[\"LAEA\",GEOGCS[\"ETRS89\",DATUM[\"ETRS89\",SPHEROID[\"GRS 1980\",6378137,"
                                   "298.257222101]],PRIMEM[\"Greenwich\",0],UNIT[\"degree\",0.0174532925199433]],"
                                   "PROJECTION[\"Lambert_Azimuthal_Equal_Area\"],PARAMETER[\"latitude_of_center\",52],"
                                   "PARAMETER[\"longitude_of_center\",10],PARAMETER[\"false_easting\",4321000],"
                                   "PARAMETER[\"false_northing\",3210000],UNIT[\"metre\",1]]",
                                   &t, &err),
              &err);
    double x = PTS[0].lon, y = PTS[0].lat;
    int rc = gpn_transform_points(t, &x, &y, 1, &err);
    gpn_transform_destroy(t);
    ASSERT_OK(rc, &err);
    ASSERT_NEAR(x, PTS[0].x3035, 0.01);
    ASSERT_NEAR(y, PTS[0].y3035, 0.01);
    ASSERT_RC(gpn_transform_create(NULL, "EPSG:4326", &t, &err), GPN_EINVAL);
    gpn_transform_destroy(NULL);
}

static void test_transform_bbox_samples_edges(void)
{
    struct gpn_err err = {0};
    struct gpn_transform *t = NULL;
    ASSERT_OK(gpn_transform_create("EPSG:4326", "EPSG:3035", &t, &err), &err);
    const double in[4] = {-10, 35, 30, 60};
    double out[4];
    int rc = gpn_transform_bbox(t, in, out, &err);
    /* Brute force: 2001 samples per edge. */
    double b[4] = {HUGE_VAL, HUGE_VAL, -HUGE_VAL, -HUGE_VAL};
    for (int s = 0; s < 4 && !rc; s++) {
        for (int i = 0; i <= 2000; i++) {
            double f = i / 2000.0, x, y;
            if (s == 0) x = in[0] + f * (in[2] - in[0]), y = in[1];
            else if (s == 1) x = in[0] + f * (in[2] - in[0]), y = in[3];
            else if (s == 2) x = in[0], y = in[1] + f * (in[3] - in[1]);
            else x = in[2], y = in[1] + f * (in[3] - in[1]);
            rc = gpn_transform_points(t, &x, &y, 1, &err);
            b[0] = fmin(b[0], x), b[1] = fmin(b[1], y), b[2] = fmax(b[2], x), b[3] = fmax(b[3], y);
        }
    }
    const double bad[4] = {1, 1, 0, 2};
    int rc_bad = gpn_transform_bbox(t, bad, out + 0, &err);
    gpn_transform_destroy(t);
    ASSERT_OK(rc, &err);
    ASSERT_RC(rc_bad, GPN_EINVAL);
    /* Samples are true points: never outside the brute-force box, and
     * within 1 km of it (the northern edge bulges between samples). */
    ASSERT_TRUE(out[0] >= b[0] - 1e-6 && out[1] >= b[1] - 1e-6);
    ASSERT_TRUE(out[2] <= b[2] + 1e-6 && out[3] <= b[3] + 1e-6);
    for (int i = 0; i < 4; i++) ASSERT_NEAR(out[i], b[i], 1000);
    /* The southern edge bulges south of its corners in LAEA: gdaltransform
     * puts the corners (-10, 35) and (30, 35) at y 1565571.766 and the
     * edge's midpoint (10, 35) at y 1327857.734, which is the box's ymin. */
    ASSERT_NEAR(out[1], 1327857.73377067, 0.01);
}

static void test_crs_epsg_names(void)
{
    ASSERT_EQ_INT(gpn_crs_epsg("EPSG:3035"), 3035);
    ASSERT_EQ_INT(gpn_crs_epsg("epsg:3857"), 3857);
    ASSERT_EQ_INT(gpn_crs_epsg("CRS:84"), 4326);
    ASSERT_EQ_INT(gpn_crs_epsg("OGC:CRS84"), 4326);
    ASSERT_EQ_INT(gpn_crs_epsg("urn:ogc:def:crs:OGC:1.3:CRS84"), 4326);
    ASSERT_EQ_INT(gpn_crs_epsg("urn:ogc:def:crs:EPSG::3035"), 3035);
    ASSERT_EQ_INT(gpn_crs_epsg("urn:ogc:def:crs:EPSG:6.6:4326"), 4326);
    ASSERT_EQ_INT(gpn_crs_epsg("http://www.opengis.net/def/crs/EPSG/0/3035"), 3035);
    ASSERT_EQ_INT(gpn_crs_epsg("EPSG:"), 0);
    ASSERT_EQ_INT(gpn_crs_epsg("EPSG:30x5"), 0);
    ASSERT_EQ_INT(gpn_crs_epsg("+proj=longlat"), 0);
    ASSERT_EQ_INT(gpn_crs_epsg(NULL), 0);
}

/* Each thread owns its transform: results must equal the serial ones. */
struct job {
    double xy[2 * 2000];
    int rc;
};

static void *worker(void *arg)
{
    struct job *j = arg;
    struct gpn_err err = {0};
    struct gpn_transform *t = NULL;
    j->rc = gpn_transform_create("EPSG:4326", "EPSG:3035", &t, &err);
    for (int rep = 0; rep < 20 && !j->rc; rep++) {
        for (int i = 0; i < 2000; i++) j->xy[2 * i] = -10 + i * 0.02, j->xy[2 * i + 1] = 40 + i * 0.01;
        j->rc = gpn_transform_points_xy(t, j->xy, 2000, &err);
    }
    gpn_transform_destroy(t);
    return NULL;
}

static void test_one_transform_per_thread(void)
{
    static struct job jobs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) ASSERT_EQ_INT(pthread_create(&th[i], NULL, worker, &jobs[i]), 0);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) ASSERT_EQ_INT(jobs[i].rc, 0);
    for (int i = 1; i < 4; i++) ASSERT_TRUE(!memcmp(jobs[0].xy, jobs[i].xy, sizeof jobs[0].xy));
    /* And equal to gdaltransform where the sample hits a reference point:
     * i = 500 is (0, 45) - check against the oracle-checked serial path. */
    struct gpn_err err = {0};
    struct gpn_transform *t = NULL;
    ASSERT_OK(gpn_transform_create("EPSG:4326", "EPSG:3035", &t, &err), &err);
    double x = -10 + 500 * 0.02, y = 40 + 500 * 0.01;
    gpn_transform_points(t, &x, &y, 1, &err);
    gpn_transform_destroy(t);
    ASSERT_TRUE(x == jobs[0].xy[1000] && y == jobs[0].xy[1001]);
}

int main(void)
{
    RUN(test_4326_to_3035_matches_gdaltransform);
    RUN(test_4326_to_3857_matches_gdaltransform);
    RUN(test_inverse_matches_gdaltransform);
    RUN(test_crs84_and_urn_names_are_lonlat);
    RUN(test_roundtrip_grid_of_points);
    RUN(test_failed_points_become_huge_val);
    RUN(test_unknown_crs_is_rejected);
    RUN(test_transform_bbox_samples_edges);
    RUN(test_crs_epsg_names);
    RUN(test_one_transform_per_thread);
    return test_summary();
}
