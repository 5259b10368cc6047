/*
 * test_synth.c - the synthetic region generator (src/synth/, gpn synth).
 *
 * One small region (the quick preset: 1 meta-tile at the coast near Sete,
 * 50 species, with coarse imagery to stay fast) is generated twice at the
 * start, with 2 threads and with 1, into folders that live for the whole
 * program; the tests then check:
 *   - determinism: both runs wrote identical bytes (CSVs, rasters, PNG,
 *     region.json), and another seed writes different ones;
 *   - the rule table: every habitat code is a real EUNIS L3 code;
 *   - the statistics the issue asks for: species per PA survey in bounds,
 *     tree species mostly in forest plots, PO records nearer to roads than
 *     random land cells, PA presences in line with the truth rasters;
 *   - the layout and shapes of the outputs; every truth raster holds real
 *     data matching species.csv; the COG options of the stacks (no
 *     overviews, level, no predictor) work;
 *   - bad options and an existing region are refused;
 *   - a round trip through `gpn ingest` ($GPN_BIN) into a dataset that
 *     gpn_dataset_open() accepts.
 */
#include "test.h"

#include <inttypes.h>
#include <omp.h>
#include <stdint.h>
#include <sys/stat.h>

#include "gpn/csv.h"
#include "gpn/dataset.h"
#include "gpn/log.h"
#include "gpn/raster.h"
#include "gpn/reproj.h"
#include "gpn/synth.h"
#include "gpn/util.h"

static char g_root[512], g_a[600], g_b[600];
static int g_ready;
static struct gpn_synth_result g_res;
static double g_gen_seconds;

static void quick_opts(struct gpn_synth_opts *o, const char *out)
{
    gpn_synth_opts_init(o);
    gpn_synth_opts_quick(o);
    o->out_dir = out;
    o->s2_res = 25;
    o->landsat_res = 150;
    o->seed = 7;
}

/* Generates the two regions once. */
static int ensure_regions(void)
{
    if (g_ready) return g_ready > 0;
    g_ready = -1;
    snprintf(g_root, sizeof g_root, "/tmp/gpn-test-synth-XXXXXX");
    if (!mkdtemp(g_root)) return 0;
    snprintf(g_a, sizeof g_a, "%s/a", g_root);
    snprintf(g_b, sizeof g_b, "%s/b", g_root);
    struct gpn_synth_opts o;
    struct gpn_err err = {0};
    quick_opts(&o, g_a);
    omp_set_num_threads(2);
    if (gpn_synth_run(&o, &g_res, &err)) {
        fprintf(stderr, "  synth A failed: %s\n", err.msg);
        return 0;
    }
    quick_opts(&o, g_b);
    omp_set_num_threads(1);
    struct gpn_synth_result rb;
    int rc = gpn_synth_run(&o, &rb, &err);
    omp_set_num_threads(2);
    if (rc) {
        fprintf(stderr, "  synth B failed: %s\n", err.msg);
        return 0;
    }
    g_gen_seconds = g_res.seconds;
    g_ready = 1;
    return 1;
}

static int files_equal(const char *a, const char *b)
{
    char *da = NULL, *db = NULL;
    size_t na = 0, nb = 0;
    struct gpn_err err = {0};
    if (gpn_file_read(a, &da, &na, &err) || gpn_file_read(b, &db, &nb, &err)) {
        free(da);
        free(db);
        return -1;
    }
    int eq = na == nb && memcmp(da, db, na) == 0;
    free(da);
    free(db);
    return eq;
}

/* ==== helpers over the outputs ============================================= */

struct species_row {
    int32_t id;
    int tree, invasive;
};

static int load_species(const char *dir, struct species_row **out, int *n)
{
    char p[800];
    snprintf(p, sizeof p, "%s/species.csv", dir);
    struct gpn_csv *c = NULL;
    struct gpn_err err = {0};
    if (gpn_csv_open(p, 0, &c, &err)) return -1;
    int ci = gpn_csv_col(c, "speciesId"), ct = gpn_csv_col(c, "tree"), cv = gpn_csv_col(c, "invasive");
    struct species_row *rows = NULL;
    int k = 0, cap = 0;
    while (gpn_csv_next(c, &err) == 1) {
        if (k == cap) {
            cap = cap ? 2 * cap : 64;
            rows = realloc(rows, (size_t)cap * sizeof *rows);
        }
        rows[k].id = atoi(gpn_csv_field(c, ci));
        rows[k].tree = atoi(gpn_csv_field(c, ct));
        rows[k].invasive = atoi(gpn_csv_field(c, cv));
        k++;
    }
    gpn_csv_close(c);
    *out = rows;
    *n = k;
    return 0;
}

static const struct species_row *find_species(const struct species_row *s, int n, int32_t id)
{
    for (int i = 0; i < n; i++)
        if (s[i].id == id) return &s[i];
    return NULL;
}

/* Reads a one-band 50 m region raster as floats; (W, H, gt) returned. */
static float *read_layer(const char *path, int *W, int *H, double gt[6])
{
    struct gpn_raster *r = NULL;
    struct gpn_err err = {0};
    if (gpn_raster_open(path, &r, &err)) return NULL;
    struct gpn_raster_info info;
    gpn_raster_get_info(r, &info, &err);
    float *buf = malloc((size_t)info.width * info.height * sizeof *buf);
    if (buf && gpn_raster_read(r, 1, 1, 0, 0, info.width, info.height, GPN_DT_F32, buf, &err)) {
        free(buf);
        buf = NULL;
    }
    *W = info.width;
    *H = info.height;
    memcpy(gt, info.gt, sizeof info.gt);
    gpn_raster_close(r);
    return buf;
}

/* ==== tests ================================================================== */

static void test_habitat_codes_are_real_eunis_l3(void)
{
    char path[1100];
    snprintf(path, sizeof path, "data/eunis/eunis_hierarchy.csv");
    if (!gpn_path_exists(path)) snprintf(path, sizeof path, "%s", test_shared_path("data/eunis_plantbert/eunis_hierarchy.csv"));
    struct gpn_csv *c = NULL;
    struct gpn_err err = {0};
    ASSERT_OK(gpn_csv_open(path, 0, &c, &err), &err);
    int cc = gpn_csv_col(c, "code"), cl = gpn_csv_col(c, "level"), cn = gpn_csv_col(c, "name");
    ASSERT_TRUE(cc >= 0 && cl >= 0 && cn >= 0);
    int n = gpn_synth_habitat_count();
    ASSERT_TRUE(n > 50);
    int *found = calloc((size_t)n, sizeof *found);
    while (gpn_csv_next(c, &err) == 1) {
        for (int i = 0; i < n; i++)
            if (!strcmp(gpn_csv_field(c, cc), gpn_synth_habitat_code(i))) {
                found[i] = 1;
                if (strcmp(gpn_csv_field(c, cl), "3") || strcmp(gpn_csv_field(c, cn), gpn_synth_habitat_name(i))) found[i] = -1;
            }
    }
    gpn_csv_close(c);
    for (int i = 0; i < n; i++) {
        if (found[i] != 1) {
            fprintf(stderr, "  habitat %s (%s): %s\n", gpn_synth_habitat_code(i), gpn_synth_habitat_name(i),
                    found[i] ? "not level 3 or name differs" : "not in the hierarchy");
            free(found);
            ASSERT_TRUE(0);
        }
        for (int j = 0; j < i; j++) ASSERT_TRUE(strcmp(gpn_synth_habitat_code(i), gpn_synth_habitat_code(j)) != 0);
    }
    free(found);
    ASSERT_TRUE(gpn_synth_habitat_code(n) == NULL);
    ASSERT_TRUE(gpn_synth_habitat_code(-1) == NULL);
}

static void test_generation_runs_and_is_deterministic(void)
{
    ASSERT_TRUE(ensure_regions());
    fprintf(stderr, "  quick region generated in %.1f s\n", g_gen_seconds);
    static const char *const FILES[] = {
        "geoplant/PA_metadata_train.csv", "geoplant/PO_metadata_train.csv", "plots/plots.csv", "species.csv",
        "region.json", "inputs/elevation.tif", "inputs/landcover.tif", "inputs/roads.tif", "inputs/climate.tif",
        "inputs/sentinel2.tif", "inputs/landsat.tif", "truth/richness.tif",
        "truth/habitat_l3.tif", "truth/habitat_l3.csv", "quicklook.png", NULL};
    for (const char *const *f = FILES; *f; f++) {
        char a[800], b[800];
        snprintf(a, sizeof a, "%s/%s", g_a, *f);
        snprintf(b, sizeof b, "%s/%s", g_b, *f);
        int eq = files_equal(a, b);
        if (eq != 1) fprintf(stderr, "  %s: %s\n", *f, eq < 0 ? "missing" : "differs between 2 and 1 threads");
        ASSERT_EQ_INT(eq, 1);
    }
    /* Every truth raster too. */
    struct species_row *sp = NULL;
    int ns = 0;
    ASSERT_EQ_INT(load_species(g_a, &sp, &ns), 0);
    ASSERT_EQ_INT(ns, 50);
    for (int i = 0; i < ns; i++) {
        char a[800], b[800];
        snprintf(a, sizeof a, "%s/truth/species/%d.tif", g_a, sp[i].id);
        snprintf(b, sizeof b, "%s/truth/species/%d.tif", g_b, sp[i].id);
        int eq = files_equal(a, b);
        if (eq != 1) {
            free(sp);
            fprintf(stderr, "  %s differs or is missing\n", a);
            ASSERT_EQ_INT(eq, 1);
        }
    }
    free(sp);
}

static void test_other_seed_differs(void)
{
    ASSERT_TRUE(ensure_regions());
    char out[700];
    snprintf(out, sizeof out, "%s/c", g_root);
    struct gpn_synth_opts o;
    quick_opts(&o, out);
    o.seed = 8;
    o.n_surveys = 100;
    o.n_po = 300;
    o.n_plots = 0;
    o.write_truth_species = 0;
    o.write_quicklook = 0;
    o.s2_res = 100;
    o.landsat_res = 500;
    struct gpn_err err = {0};
    ASSERT_OK(gpn_synth_run(&o, NULL, &err), &err);
    char a[800], b[800];
    snprintf(a, sizeof a, "%s/geoplant/PA_metadata_train.csv", g_a);
    snprintf(b, sizeof b, "%s/geoplant/PA_metadata_train.csv", out);
    ASSERT_EQ_INT(files_equal(a, b), 0);
    snprintf(a, sizeof a, "%s/inputs/elevation.tif", g_a);
    snprintf(b, sizeof b, "%s/inputs/elevation.tif", out);
    ASSERT_EQ_INT(files_equal(a, b), 0);
}

static void test_outputs_layout_and_shapes(void)
{
    ASSERT_TRUE(ensure_regions());
    struct gpn_err err = {0};
    struct {
        const char *rel;
        int bands;
    } R[] = {{"inputs/sentinel2.tif", 4}, {"inputs/landsat.tif", 504}, {"inputs/climate.tif", 912},
             {"inputs/elevation.tif", 1}, {"inputs/landcover.tif", 1}, {"truth/richness.tif", 1},
             {"truth/habitat_l3.tif", 1}};
    for (size_t k = 0; k < sizeof R / sizeof R[0]; k++) {
        char p[800];
        snprintf(p, sizeof p, "%s/%s", g_a, R[k].rel);
        struct gpn_raster *r = NULL;
        ASSERT_OK(gpn_raster_open(p, &r, &err), &err);
        struct gpn_raster_info info;
        ASSERT_OK(gpn_raster_get_info(r, &info, &err), &err);
        if (info.bands != R[k].bands) fprintf(stderr, "  %s: %d bands\n", R[k].rel, info.bands);
        ASSERT_EQ_INT(info.bands, R[k].bands);
        ASSERT_EQ_INT(info.epsg, 3035);
        /* Every raster covers the region exactly or (Landsat) to the pixel. */
        double x0 = info.gt[0], y1 = info.gt[3], x1 = x0 + info.width * info.gt[1], y0 = y1 + info.height * info.gt[5];
        ASSERT_TRUE(x0 <= 3800000.0 && y1 >= 2300000.0 && x1 >= 3825000.0 && y0 <= 2275000.0);
        ASSERT_TRUE(x0 > 3800000.0 - 150.0 && x1 < 3825000.0 + 150.0);
        ASSERT_STR_EQ(info.layout, "COG");
        if (R[k].bands == 912) ASSERT_STR_EQ(gpn_raster_band_description(r, 912), "precip_2018_12");
        if (R[k].bands == 504) {
            ASSERT_STR_EQ(gpn_raster_band_description(r, 1), "red_q1_2000");
            ASSERT_STR_EQ(gpn_raster_band_description(r, 1 + (3 * 4 + 2) * 21 + 20), "nir_q3_2020");
        }
        gpn_raster_close(r);
    }
    /* Climate: January colder than July on the coast; precipitation >= 0. */
    char p[800];
    snprintf(p, sizeof p, "%s/inputs/climate.tif", g_a);
    struct gpn_raster *r = NULL;
    ASSERT_OK(gpn_raster_open(p, &r, &err), &err);
    float jan, jul, pr;
    ASSERT_OK(gpn_raster_read(r, 1 + 0 * 12 + 0, 1, 12, 12, 1, 1, GPN_DT_F32, &jan, &err), &err);
    ASSERT_OK(gpn_raster_read(r, 1 + 0 * 12 + 6, 1, 12, 12, 1, 1, GPN_DT_F32, &jul, &err), &err);
    ASSERT_OK(gpn_raster_read(r, 1 + (3 * 19 + 5) * 12 + 9, 1, 12, 12, 1, 1, GPN_DT_F32, &pr, &err), &err);
    gpn_raster_close(r);
    ASSERT_TRUE(jul > jan + 8.f);
    ASSERT_TRUE(jan > -10.f && jul < 35.f);
    ASSERT_TRUE(pr >= 0.f && pr < 1000.f);
    /* Land and sea: the quick tile has both. */
    ASSERT_TRUE(g_res.land_fraction > 0.5 && g_res.land_fraction < 0.95);
    ASSERT_TRUE(g_res.lc_fraction[GPN_SYNTH_LC_FOREST] > 0.02);
    ASSERT_TRUE(g_res.lc_fraction[GPN_SYNTH_LC_CROPLAND] > 0.05);
    ASSERT_TRUE(g_res.lc_fraction[GPN_SYNTH_LC_URBAN] > 0.002);
    char *js = NULL;
    size_t jn = 0;
    snprintf(p, sizeof p, "%s/region.json", g_a);
    ASSERT_OK(gpn_file_read(p, &js, &jn, &err), &err);
    ASSERT_STR_CONTAINS(js, "\"25kmE3800N2275\"");
    ASSERT_STR_CONTAINS(js, "\"country\": \"France\"");
    ASSERT_STR_CONTAINS(js, "\"region\": \"MEDITERRANEAN\"");
    free(js);
    snprintf(p, sizeof p, "%s/quicklook.png", g_a);
    struct stat st;
    ASSERT_EQ_INT(stat(p, &st), 0);
    ASSERT_TRUE(st.st_size > 20000);
}

/* Every truth raster holds real data: a non-empty 1-band uint8 COG over
 * the region, 255 exactly on sea cells, some presence on land, and its mean
 * over land equal to species.csv's mean_p_land (to the 1/250 rounding). */
static void test_truth_species_have_data(void)
{
    ASSERT_TRUE(ensure_regions());
    char p[800];
    int W, H;
    double gt[6];
    snprintf(p, sizeof p, "%s/inputs/landcover.tif", g_a);
    float *lc = read_layer(p, &W, &H, gt);
    ASSERT_TRUE(lc != NULL);
    ASSERT_TRUE(W == 500 && H == 500);
    snprintf(p, sizeof p, "%s/species.csv", g_a);
    struct gpn_csv *c = NULL;
    struct gpn_err err = {0};
    ASSERT_OK(gpn_csv_open(p, 0, &c, &err), &err);
    int ci = gpn_csv_col(c, "speciesId"), cm = gpn_csv_col(c, "mean_p_land");
    ASSERT_TRUE(ci >= 0 && cm >= 0);
    uint8_t *q = malloc((size_t)W * H);
    ASSERT_TRUE(q != NULL);
    int n = 0, bad = 0;
    double worst = 0;
    while (gpn_csv_next(c, &err) == 1 && !bad) {
        int id = atoi(gpn_csv_field(c, ci));
        double want = atof(gpn_csv_field(c, cm));
        snprintf(p, sizeof p, "%s/truth/species/%d.tif", g_a, id);
        struct stat st;
        struct gpn_raster *r = NULL;
        struct gpn_raster_info info;
        if (stat(p, &st) || st.st_size < 1000 || gpn_raster_open(p, &r, &err)) {
            fprintf(stderr, "  %s: missing, empty or unreadable\n", p);
            bad = 1;
            break;
        }
        gpn_raster_get_info(r, &info, &err);
        int ok = info.bands == 1 && info.dtype == GPN_DT_U8 && info.width == W && info.height == H &&
                 info.has_nodata && info.nodata == 255.0 && !memcmp(info.gt, gt, sizeof gt) &&
                 !strcmp(info.layout, "COG") && gpn_raster_read(r, 1, 1, 0, 0, W, H, GPN_DT_U8, q, &err) == 0;
        gpn_raster_close(r);
        int64_t nland = 0, npos = 0, sum = 0;
        for (size_t i = 0; ok && i < (size_t)W * H; i++) {
            int sea = lc[i] == 9.f || lc[i] == 0.f;
            if (sea != (q[i] == 255)) ok = 0;
            if (sea) continue;
            nland++;
            sum += q[i];
            npos += q[i] > 0;
        }
        double mean = nland ? (double)sum / 250.0 / (double)nland : -1;
        if (fabs(mean - want) > worst) worst = fabs(mean - want);
        if (!ok || npos == 0 || fabs(mean - want) > 0.0025) {
            fprintf(stderr, "  %s: %s, %" PRId64 " land cells > 0, mean %.4f (species.csv %.4f)\n", p,
                    ok ? "readable" : "bad header, sea mask or data", npos, mean, want);
            bad = 1;
        }
        n++;
    }
    gpn_csv_close(c);
    free(q);
    free(lc);
    fprintf(stderr, "  %d truth rasters checked, |mean - mean_p_land| <= %.4f\n", n, worst);
    ASSERT_EQ_INT(bad, 0);
    ASSERT_EQ_INT(n, 50);
}

/* The COG options the synthetic stacks use (raster.h): no overviews, a
 * compression level, no predictor; the pixels round-trip either way. */
static void test_cog_stack_options(void)
{
    enum { S = 600 };
    uint8_t *d = malloc(2 * S * S), *back = malloc(2 * S * S);
    ASSERT_TRUE(d && back);
    for (int b = 0; b < 2; b++)
        for (int i = 0; i < S * S; i++) d[(size_t)b * S * S + i] = (uint8_t)((i % S) / 7 + (i / S) / 5 + 40 * b);
    char p[700];
    struct gpn_err err = {0};
    for (int variant = 0; variant < 2; variant++) {
        struct gpn_cog_opts o = {.width = S, .height = S, .bands = 2, .dtype = GPN_DT_U8, .epsg = 3035,
                                 .compress = "ZSTD", .blocksize = 128};
        o.gt[0] = 3800000;
        o.gt[1] = 30;
        o.gt[3] = 2300000;
        o.gt[5] = -30;
        if (variant) {
            o.no_overviews = 1;
            o.no_predictor = 1;
            o.level = 6;
        }
        snprintf(p, sizeof p, "%s/cog%d.tif", test_tmpdir(), variant);
        ASSERT_OK(gpn_cog_write(p, &o, d, &err), &err);
        struct gpn_raster *r = NULL;
        ASSERT_OK(gpn_raster_open(p, &r, &err), &err);
        struct gpn_raster_info info;
        ASSERT_OK(gpn_raster_get_info(r, &info, &err), &err);
        ASSERT_OK(gpn_raster_read(r, 1, 2, 0, 0, S, S, GPN_DT_U8, back, &err), &err);
        gpn_raster_close(r);
        ASSERT_STR_EQ(info.layout, "COG");
        ASSERT_STR_EQ(info.compression, "ZSTD");
        if (variant) ASSERT_EQ_INT(info.n_overviews, 0);
        else ASSERT_TRUE(info.n_overviews >= 2);
        ASSERT_TRUE(memcmp(d, back, 2 * S * S) == 0);
    }
    struct gpn_cog_opts bad = {.width = 16, .height = 16, .bands = 1, .dtype = GPN_DT_U8, .compress = "ZSTD",
                               .level = 23};
    snprintf(p, sizeof p, "%s/bad.tif", test_tmpdir());
    ASSERT_RC(gpn_cog_write(p, &bad, d, &err), GPN_EINVAL);
    bad.compress = "LZW";
    bad.level = 3;
    ASSERT_RC(gpn_cog_write(p, &bad, d, &err), GPN_EINVAL);
    ASSERT_TRUE(!gpn_path_exists(p));
    free(d);
    free(back);
}

/* Species per PA survey within bounds; per-species prevalence sane. */
static void test_pa_prevalence_within_bounds(void)
{
    ASSERT_TRUE(ensure_regions());
    char p[800];
    snprintf(p, sizeof p, "%s/geoplant/PA_metadata_train.csv", g_a);
    struct gpn_csv *c = NULL;
    struct gpn_err err = {0};
    ASSERT_OK(gpn_csv_open(p, 0, &c, &err), &err);
    int cs = gpn_csv_col(c, "surveyId"), csp = gpn_csv_col(c, "speciesId");
    ASSERT_TRUE(cs >= 0 && csp >= 0);
    int64_t last = -1, nsurv = 0, rows = 0, in_bounds = 0, cur = 0;
    static int counts[100000];
    memset(counts, 0, sizeof counts);
    int max_id = 0;
    while (gpn_csv_next(c, &err) == 1) {
        int64_t s = atoll(gpn_csv_field(c, cs));
        int id = (int)atof(gpn_csv_field(c, csp));
        ASSERT_TRUE(strstr(gpn_csv_field(c, csp), ".0") != NULL); /* GeoPlant writes 6310.0 */
        if (id > 0 && id < 100000) counts[id]++;
        if (id > max_id) max_id = id;
        if (s != last) {
            if (last >= 0 && cur >= 1 && cur <= 40) in_bounds++;
            ASSERT_TRUE(s > last); /* rows grouped by surveyId, increasing */
            last = s;
            nsurv++;
            cur = 0;
        }
        cur++;
        rows++;
    }
    if (cur >= 1 && cur <= 40) in_bounds++;
    gpn_csv_close(c);
    double mean = (double)rows / (double)nsurv;
    fprintf(stderr, "  %" PRId64 " surveys, %.2f species each, %.1f%% with 1-40\n", nsurv, mean,
            100.0 * in_bounds / nsurv);
    ASSERT_EQ_INT(nsurv, 600);
    ASSERT_EQ_INT(g_res.n_pa_rows, rows);
    /* The quick region's 50-species pool cannot reach the calibration
     * target (min(20, 0.2 N) = 10): every pmax is at its cap and, with
     * narrow climate belts and steep land-cover profiles, it saturates at
     * ~3 species per survey (3.3 with seed 42); the default 500-species region gives 20.3.
     * The bounds hold for both. */
    ASSERT_TRUE(mean >= 2.0 && mean <= 40.0);
    ASSERT_TRUE(in_bounds >= 0.95 * nsurv);
    /* No species everywhere; most species seen at least once. */
    int seen = 0, maxc = 0;
    for (int i = 0; i <= max_id && i < 100000; i++) {
        if (counts[i]) seen++;
        if (counts[i] > maxc) maxc = counts[i];
    }
    ASSERT_TRUE(maxc < 0.8 * nsurv);
    ASSERT_TRUE(seen >= 25);
}

/* Tree species occur mostly in forest plots (far above forest's share). */
static void test_trees_mostly_in_forest(void)
{
    ASSERT_TRUE(ensure_regions());
    struct species_row *sp = NULL;
    int ns = 0;
    ASSERT_EQ_INT(load_species(g_a, &sp, &ns), 0);
    char p[800];
    snprintf(p, sizeof p, "%s/plots/plots.csv", g_a);
    struct gpn_csv *c = NULL;
    struct gpn_err err = {0};
    ASSERT_OK(gpn_csv_open(p, 0, &c, &err), &err);
    int cl = gpn_csv_col(c, "landcover"), cs = gpn_csv_col(c, "species"), ch = gpn_csv_col(c, "habitat");
    int64_t plots = 0, forest_plots = 0, tree_occ = 0, tree_in_forest = 0, forest_hab_t = 0;
    while (gpn_csv_next(c, &err) == 1) {
        int forest = !strcmp(gpn_csv_field(c, cl), "forest");
        plots++;
        forest_plots += forest;
        if (forest && gpn_csv_field(c, ch)[0] == 'T') forest_hab_t++;
        const char *s = gpn_csv_field(c, cs);
        float prev = 1e9f;
        while (*s) {
            int id = atoi(s);
            const char *colon = strchr(s, ':');
            ASSERT_TRUE(colon != NULL);
            float cov = (float)atof(colon + 1);
            ASSERT_TRUE(cov <= prev); /* decreasing cover */
            prev = cov;
            const struct species_row *r = find_species(sp, ns, id);
            ASSERT_TRUE(r != NULL);
            if (r->tree) {
                tree_occ++;
                tree_in_forest += forest;
            }
            const char *sp_ = strchr(s, ' ');
            if (!sp_) break;
            s = sp_ + 1;
        }
    }
    gpn_csv_close(c);
    free(sp);
    double share = (double)forest_plots / plots, frac = (double)tree_in_forest / (double)tree_occ;
    fprintf(stderr, "  forest plots %.1f%%, tree occurrences in forest %.1f%% (%" PRId64 ")\n", 100 * share, 100 * frac,
            tree_occ);
    ASSERT_TRUE(tree_occ > 50);
    ASSERT_TRUE(frac > 0.5);
    ASSERT_TRUE(frac > 2.0 * share);
    /* Forest plots get forest (T) habitats, bar coastal dune pine forests. */
    ASSERT_TRUE(forest_hab_t >= 0.9 * forest_plots);
}

/* PO records are nearer to roads than random land cells. */
static void test_po_biased_towards_roads(void)
{
    ASSERT_TRUE(ensure_regions());
    char p[800];
    int W, H;
    double gt[6];
    snprintf(p, sizeof p, "%s/inputs/roads.tif", g_a);
    float *road = read_layer(p, &W, &H, gt);
    snprintf(p, sizeof p, "%s/inputs/landcover.tif", g_a);
    float *lc = read_layer(p, &W, &H, gt);
    ASSERT_TRUE(road && lc);
    /* near[i]: a road within 5 cells (250 m). */
    uint8_t *near = calloc((size_t)W * H, 1);
    for (int r = 0; r < H; r++)
        for (int c = 0; c < W; c++)
            if (road[(size_t)r * W + c] > 0)
                for (int dr = -5; dr <= 5; dr++)
                    for (int dc = -5; dc <= 5; dc++) {
                        int rr = r + dr, cc = c + dc;
                        if (rr >= 0 && rr < H && cc >= 0 && cc < W && dr * dr + dc * dc <= 25) near[(size_t)rr * W + cc] = 1;
                    }
    int64_t land = 0, land_near = 0;
    for (size_t i = 0; i < (size_t)W * H; i++)
        if (lc[i] != 9 && lc[i] != 7 && lc[i] != 0) {
            land++;
            land_near += near[i];
        }
    struct gpn_transform *t = NULL;
    struct gpn_err err = {0};
    ASSERT_OK(gpn_transform_create("EPSG:4326", "EPSG:3035", &t, &err), &err);
    snprintf(p, sizeof p, "%s/geoplant/PO_metadata_train.csv", g_a);
    struct gpn_csv *c = NULL;
    ASSERT_OK(gpn_csv_open(p, 0, &c, &err), &err);
    int clon = gpn_csv_col(c, "lon"), clat = gpn_csv_col(c, "lat");
    int64_t po = 0, po_near = 0;
    while (gpn_csv_next(c, &err) == 1) {
        double x = atof(gpn_csv_field(c, clon)), y = atof(gpn_csv_field(c, clat));
        ASSERT_OK(gpn_transform_points(t, &x, &y, 1, &err), &err);
        int col = (int)((x - gt[0]) / gt[1]), row = (int)((y - gt[3]) / gt[5]);
        if (col < 0 || row < 0 || col >= W || row >= H) continue;
        po++;
        po_near += near[(size_t)row * W + col];
    }
    gpn_csv_close(c);
    gpn_transform_destroy(t);
    free(near);
    free(road);
    free(lc);
    double fp = (double)po_near / po, fl = (double)land_near / land;
    fprintf(stderr, "  within 250 m of a road: PO records %.1f%%, land cells %.1f%%\n", 100 * fp, 100 * fl);
    ASSERT_TRUE(po > 2500);
    ASSERT_TRUE(fp > 1.5 * fl);
}

/* PA presences agree with the truth: the mean number of species per survey
 * matches the mean sum of truth probabilities at the survey cells. */
static void test_pa_agrees_with_truth(void)
{
    ASSERT_TRUE(ensure_regions());
    struct species_row *sp = NULL;
    int ns = 0;
    ASSERT_EQ_INT(load_species(g_a, &sp, &ns), 0);
    char p[800];
    snprintf(p, sizeof p, "%s/plots/plots.csv", g_a);
    struct gpn_csv *c = NULL;
    struct gpn_err err = {0};
    ASSERT_OK(gpn_csv_open(p, 0, &c, &err), &err);
    int cx = gpn_csv_col(c, "x3035"), cy = gpn_csv_col(c, "y3035"), cn = gpn_csv_col(c, "n_species"),
        csrc = gpn_csv_col(c, "source");
    int n = 0, cap = 2048;
    int *cells = malloc((size_t)cap * sizeof *cells);
    double obs = 0;
    while (gpn_csv_next(c, &err) == 1 && n < cap) {
        if (strcmp(gpn_csv_field(c, csrc), "pa")) continue;
        double x = atof(gpn_csv_field(c, cx)), y = atof(gpn_csv_field(c, cy));
        int col = (int)((x - 3800000.0) / 50.0), row = (int)((2300000.0 - y) / 50.0);
        cells[n++] = row * 500 + col;
        obs += atoi(gpn_csv_field(c, cn));
    }
    gpn_csv_close(c);
    double expect = 0;
    uint8_t *q = malloc(500 * 500);
    for (int s = 0; s < ns; s++) {
        snprintf(p, sizeof p, "%s/truth/species/%d.tif", g_a, sp[s].id);
        struct gpn_raster *r = NULL;
        ASSERT_OK(gpn_raster_open(p, &r, &err), &err);
        ASSERT_OK(gpn_raster_read(r, 1, 1, 0, 0, 500, 500, GPN_DT_U8, q, &err), &err);
        gpn_raster_close(r);
        for (int k = 0; k < n; k++) {
            ASSERT_TRUE(q[cells[k]] != 255); /* surveys are on land */
            expect += q[cells[k]] / 250.0;
        }
    }
    free(q);
    free(cells);
    free(sp);
    /* A survey with no species is moved, which lifts the mean a little. */
    fprintf(stderr, "  %d PA surveys: observed %.2f species each, truth %.2f\n", n, obs / n, expect / n);
    ASSERT_EQ_INT(n, 600);
    ASSERT_TRUE(obs / n > 0.9 * expect / n && obs / n < 1.2 * expect / n);
}

static void test_bad_options_and_existing_region(void)
{
    ASSERT_TRUE(ensure_regions());
    struct gpn_synth_opts o;
    struct gpn_err err = {0};
    quick_opts(&o, g_a);
    ASSERT_RC(gpn_synth_run(&o, NULL, &err), GPN_EEXISTS);
    ASSERT_STR_CONTAINS(err.msg, "--force");
    char out[700];
    snprintf(out, sizeof out, "%s/bad", g_root);
    quick_opts(&o, out);
    o.s2_res = 7;
    ASSERT_RC(gpn_synth_run(&o, NULL, &err), GPN_EINVAL);
    quick_opts(&o, out);
    o.n_species = 20000;
    ASSERT_RC(gpn_synth_run(&o, NULL, &err), GPN_ERANGE);
    ASSERT_STR_CONTAINS(err.msg, "reference table");
    quick_opts(&o, out);
    o.species_csv = "/nonexistent/species.csv";
    ASSERT_RC(gpn_synth_run(&o, NULL, &err), GPN_ENOTFOUND);
    quick_opts(&o, NULL);
    ASSERT_RC(gpn_synth_run(&o, NULL, &err), GPN_EINVAL);
    /* A region entirely at sea is refused with a clear message. */
    quick_opts(&o, out);
    o.origin.e_km = 3900;
    o.origin.n_km = 2100;
    ASSERT_RC(gpn_synth_run(&o, NULL, &err), GPN_EINVAL);
    ASSERT_STR_CONTAINS(err.msg, "land");
}

/* Reads the whole of a raster (bands, H, W) as bytes. */
static uint8_t *read_all_u8(const char *path, struct gpn_raster_info *info)
{
    struct gpn_raster *r = NULL;
    struct gpn_err err = {0};
    if (gpn_raster_open(path, &r, &err)) return NULL;
    gpn_raster_get_info(r, info, &err);
    uint8_t *buf = malloc((size_t)info->bands * info->width * info->height);
    if (buf && gpn_raster_read(r, 1, info->bands, 0, 0, info->width, info->height, GPN_DT_U8, buf, &err)) {
        free(buf);
        buf = NULL;
    }
    gpn_raster_close(r);
    return buf;
}

/* Per-tile imagery + VRT (large regions) gives exactly the pixels of the
 * single-file mosaic, on a bbox region that straddles two meta-tiles and
 * is not aligned to them (nor, for Landsat at 150 m, to its lattice). */
static void test_tiled_imagery_matches_single(void)
{
    ASSERT_TRUE(ensure_regions());
    char one[700], til[700];
    snprintf(one, sizeof one, "%s/single", g_root);
    snprintf(til, sizeof til, "%s/tiled", g_root);
    struct gpn_synth_opts o;
    struct gpn_err err = {0};
    for (int pass = 0; pass < 2; pass++) {
        quick_opts(&o, pass ? til : one);
        o.use_bbox = 1;
        o.bbox[0] = 3820000;
        o.bbox[1] = 2288000;
        o.bbox[2] = 3830000;
        o.bbox[3] = 2294000;
        o.s2_res = 50;
        o.n_species = 20;
        o.n_surveys = 50;
        o.n_po = 200;
        o.n_plots = 0;
        o.write_truth_species = 0;
        o.write_quicklook = 0;
        o.tiled_imagery = pass;
        ASSERT_OK(gpn_synth_run(&o, NULL, &err), &err);
    }
    static const char *const NAMES[2] = {"sentinel2", "landsat"};
    for (int k = 0; k < 2; k++) {
        char a[800], b[800], t1[800], t2[800];
        snprintf(a, sizeof a, "%s/inputs/%s.tif", one, NAMES[k]);
        snprintf(b, sizeof b, "%s/inputs/%s.vrt", til, NAMES[k]);
        snprintf(t1, sizeof t1, "%s/inputs/%s/25kmE3800N2275.tif", til, NAMES[k]);
        snprintf(t2, sizeof t2, "%s/inputs/%s/25kmE3825N2275.tif", til, NAMES[k]);
        ASSERT_TRUE(gpn_path_exists(t1) && gpn_path_exists(t2));
        struct gpn_raster_info ia, ib;
        uint8_t *da = read_all_u8(a, &ia), *db = read_all_u8(b, &ib);
        int same = da && db && ia.width == ib.width && ia.height == ib.height && ia.bands == ib.bands &&
                   !memcmp(ia.gt, ib.gt, sizeof ia.gt) &&
                   !memcmp(da, db, (size_t)ia.bands * ia.width * ia.height);
        if (!same) fprintf(stderr, "  %s: tiled VRT differs from the single mosaic\n", NAMES[k]);
        free(da);
        free(db);
        ASSERT_TRUE(same);
    }
    char js[800];
    snprintf(js, sizeof js, "%s/region.json", til);
    char *text = NULL;
    size_t n = 0;
    ASSERT_OK(gpn_file_read(js, &text, &n, &err), &err);
    ASSERT_STR_CONTAINS(text, "\"inputs/landsat.vrt\"");
    free(text);
}

/* The region goes through `gpn ingest` into a dataset gpn_dataset_open accepts. */
static void test_ingest_round_trip(void)
{
    ASSERT_TRUE(ensure_regions());
    const char *bin = getenv("GPN_BIN");
    char cmd[4096];
    if (!bin) bin = "build/gpn";
    snprintf(cmd, sizeof cmd, "%s ingest --help >/dev/null 2>&1", bin);
    if (system(cmd) != 0) {
        fprintf(stderr, "  NOTE: '%s ingest --help' failed: the ingest command is not built; the round trip cannot "
                        "run (lead: decide)\n", bin);
        ASSERT_TRUE(0);
    }
    char ds[700];
    snprintf(ds, sizeof ds, "%s/dataset", g_root);
    snprintf(cmd, sizeof cmd,
             "GPN_PROGRESS=0 %s ingest -q --out %s --pa %s/geoplant/PA_metadata_train.csv --po "
             "%s/geoplant/PO_metadata_train.csv --sentinel %s/inputs/sentinel2.tif --landsat %s/inputs/landsat.tif "
             "--climate %s/inputs/climate.tif --patch-size 16 --force",
             bin, ds, g_a, g_a, g_a, g_a, g_a);
    int rc = system(cmd);
    if (rc != 0) fprintf(stderr, "  command failed (%d): %s\n", rc, cmd);
    ASSERT_EQ_INT(rc, 0);
    struct gpn_dataset *d = NULL;
    struct gpn_err err = {0};
    ASSERT_OK(gpn_dataset_open(ds, &d, &err), &err);
    int64_t npa = 0, npo = 0;
    for (int64_t i = 0; i < d->n; i++) {
        if (d->meta[i].kind == GPN_SAMPLE_PA) npa++;
        else npo++;
    }
    fprintf(stderr, "  dataset: %" PRId64 " samples (%" PRId64 " PA, %" PRId64 " PO), %d species\n", d->n, npa, npo,
            d->n_species);
    int ok = npa == g_res.n_pa_surveys && npo == g_res.n_po_visits && d->n_species <= 50 && d->n_species >= 25 &&
             d->s2_c == 4 && d->ls_c == 6 && d->ls_q == 4 && d->ls_y == 21 && d->cl_c == 4 && d->cl_y == 19 &&
             d->cl_m == 12 && d->label_ptr[d->n] == g_res.n_pa_rows + g_res.n_po_rows;
    /* The climate cube of the first sample: a seasonal cycle, not zeros. */
    if (ok && d->climate) {
        const float *cl = d->climate;
        ok = cl[6] > cl[0] + 5.f;
    }
    /* Every sample's Landsat and climate cube is the raster pixel holding
     * its (x, y) (ingest reads the cube rasters block by block). */
    static const char *const CUBES[2] = {"landsat", "climate"};
    int64_t checked = 0, mismatched = 0;
    for (int k = 0; ok && k < 2; k++) {
        char p[800];
        snprintf(p, sizeof p, "%s/inputs/%s.tif", g_a, CUBES[k]);
        struct gpn_raster_info info;
        uint8_t *u8 = NULL;
        float *f32 = NULL;
        size_t nb = k ? 912 : 504;
        if (k == 0) u8 = read_all_u8(p, &info);
        else {
            struct gpn_raster *r = NULL;
            if (!gpn_raster_open(p, &r, &err)) {
                gpn_raster_get_info(r, &info, &err);
                f32 = malloc(nb * info.width * info.height * sizeof *f32);
                if (f32 && gpn_raster_read(r, 1, (int)nb, 0, 0, info.width, info.height, GPN_DT_F32, f32, &err)) {
                    free(f32);
                    f32 = NULL;
                }
                gpn_raster_close(r);
            }
        }
        if (!u8 && !f32) {
            ok = 0;
            break;
        }
        const float *cube = k ? d->climate : d->landsat;
        size_t plane = (size_t)info.width * info.height;
        for (int64_t i = 0; i < d->n; i++) {
            int col = (int)floor((d->meta[i].x - info.gt[0]) / info.gt[1]);
            int row = (int)floor((d->meta[i].y - info.gt[3]) / info.gt[5]);
            if (col < 0 || row < 0 || col >= info.width || row >= info.height) continue;
            size_t off = (size_t)row * info.width + col;
            for (size_t b = 0; b < nb; b++) {
                float want = k ? f32[b * plane + off] : (float)u8[b * plane + off];
                if (cube[(size_t)i * nb + b] != want) {
                    mismatched++;
                    break;
                }
            }
            checked++;
        }
        free(u8);
        free(f32);
    }
    fprintf(stderr, "  cubes equal to the raster pixel: %" PRId64 " of %" PRId64 "\n", checked - mismatched, checked);
    gpn_dataset_close(d);
    ASSERT_TRUE(ok);
    ASSERT_EQ_INT(mismatched, 0);
    ASSERT_TRUE(checked >= 2 * (npa + npo) - 10);
}

int main(void)
{
    gpn_log_set_level(GPN_LOG_WARN);
    RUN(test_habitat_codes_are_real_eunis_l3);
    RUN(test_generation_runs_and_is_deterministic);
    RUN(test_other_seed_differs);
    RUN(test_outputs_layout_and_shapes);
    RUN(test_truth_species_have_data);
    RUN(test_cog_stack_options);
    RUN(test_pa_prevalence_within_bounds);
    RUN(test_trees_mostly_in_forest);
    RUN(test_po_biased_towards_roads);
    RUN(test_pa_agrees_with_truth);
    RUN(test_bad_options_and_existing_region);
    RUN(test_tiled_imagery_matches_single);
    RUN(test_ingest_round_trip);
    int failed = t__failed;
    if (g_root[0]) {
        if (failed) {
            fprintf(stderr, "  (kept %s)\n", g_root);
        } else {
            char cmd[700];
            snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
            if (system(cmd) != 0) fprintf(stderr, "  warning: could not remove %s\n", g_root);
        }
    }
    return test_summary();
}
