/*
 * test_ingest.c - `gpn ingest` on real GeoPlant/GLC files and on broken
 * copies of them.
 *
 * Oracles: counts are recomputed here from the CSVs with simple code that
 * shares nothing with the ingest grouping (and cross-checked against numbers
 * obtained by hand with Python's csv module, quoted in comments); pixels are
 * decoded with libjpeg directly (ingest reads through GDAL); Landsat values
 * are read from the time-series CSV text; EPSG:3035 coordinates are checked
 * against the x/y columns GLC23 ships (computed by the organisers with PROJ).
 */
#include "test.h" /* first: it sets _GNU_SOURCE */

#include <stdint.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jpeglib.h> /* needs stdio.h first */

#include "gpn/csv.h"
#include "gpn/dataset.h"
#include "gpn/ingest.h"
#include "gpn/raster.h"
#include "gpn/util.h"

#define GLC23 "data/glc23_sample"
#define PA_CSV GLC23 "/Presence_Absences_occurrences/Presences_Absences_train_sample.csv"
#define PO_CSV GLC23 "/Presence_only_occurrences/Presences_only_train_sample.csv"

static char g_pa[1024], g_po[1024], g_s2[1024], g_ts[1024];

static void init_paths(void) {
    snprintf(g_pa, sizeof g_pa, "%s", test_shared_path(PA_CSV));
    snprintf(g_po, sizeof g_po, "%s", test_shared_path(PO_CSV));
    snprintf(g_s2, sizeof g_s2, "%s", test_shared_path(GLC23 "/SatelliteImages"));
    snprintf(g_ts, sizeof g_ts, "%s", test_shared_path(GLC23 "/SatelliteTimeSeries"));
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Number of distinct values in v (sorted in place). */
static size_t n_distinct(int64_t *v, size_t n) {
    qsort(v, n, sizeof *v, cmp_i64);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        u += !i || v[i] != v[i - 1];
    return u;
}

/* Reads column `col` of every row of a CSV as integers (integral floats ok). */
static size_t read_col(const char *path, const char *col, int64_t *out, size_t max) {
    struct gpn_err err = {0};
    struct gpn_csv *c = NULL;
    if (gpn_csv_open(path, 0, &c, &err)) return 0;
    int k = gpn_csv_col(c, col);
    size_t n = 0;
    while (k >= 0 && n < max && gpn_csv_next(c, &err) == 1)
        out[n++] = (int64_t)strtod(gpn_csv_field(c, k), NULL);
    gpn_csv_close(c);
    return n;
}

/* Decodes a JPEG with libjpeg into a malloc'ed (H, W, C) buffer. */
static uint8_t *jpeg_decode(const char *path, int *w, int *h, int *c) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    struct jpeg_decompress_struct ci;
    struct jpeg_error_mgr jerr;
    ci.err = jpeg_std_error(&jerr);
    jpeg_create_decompress(&ci);
    jpeg_stdio_src(&ci, f);
    jpeg_read_header(&ci, TRUE);
    jpeg_start_decompress(&ci);
    *w = (int)ci.output_width, *h = (int)ci.output_height, *c = ci.output_components;
    uint8_t *buf = malloc((size_t)*w * *h * *c);
    while (buf && ci.output_scanline < ci.output_height) {
        JSAMPROW row = buf + (size_t)ci.output_scanline * *w * *c;
        jpeg_read_scanlines(&ci, &row, 1);
    }
    jpeg_finish_decompress(&ci);
    jpeg_destroy_decompress(&ci);
    fclose(f);
    return buf;
}

static int tmp_left(const char *out) {
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", out, (long)getpid());
    return gpn_path_exists(tmp);
}

/* ==== building blocks ====================================================== */

static void test_parse_id(void) {
    int64_t v = 0;
    ASSERT_OK(gpn_ingest_parse_id("6310", 0, INT32_MAX, &v), NULL);
    ASSERT_EQ_INT(v, 6310);
    ASSERT_OK(gpn_ingest_parse_id("6310.0", 0, INT32_MAX, &v), NULL);
    ASSERT_EQ_INT(v, 6310);
    ASSERT_OK(gpn_ingest_parse_id(" 6.31e3 ", 0, INT32_MAX, &v), NULL);
    ASSERT_EQ_INT(v, 6310);
    ASSERT_RC(gpn_ingest_parse_id("6310.5", 0, INT32_MAX, &v), GPN_EFORMAT);
    ASSERT_RC(gpn_ingest_parse_id("", 0, INT32_MAX, &v), GPN_EFORMAT);
    ASSERT_RC(gpn_ingest_parse_id("nan", 0, INT32_MAX, &v), GPN_EFORMAT);
    ASSERT_RC(gpn_ingest_parse_id("12abc", 0, INT32_MAX, &v), GPN_EFORMAT);
    ASSERT_RC(gpn_ingest_parse_id("-1", 0, INT32_MAX, &v), GPN_ERANGE);
    ASSERT_RC(gpn_ingest_parse_id("3e9", 0, INT32_MAX, &v), GPN_ERANGE);
}

static void test_block_id(void) {
    /* Block (0, 0) hashes splitmix64(0), whose reference value (Vigna's
     * splitmix64.c, first output for seed 0) is 0xe220a8397b1dcdaf; >> 33
     * gives 0x7110541c = 1896895516. */
    ASSERT_EQ_INT(gpn_ingest_block_id(0, 0, 10000), 1896895516);
    ASSERT_EQ_INT(gpn_ingest_block_id(9999.9, 5000, 10000), 1896895516);
    int32_t a = gpn_ingest_block_id(4034867, 2235568, 10000);
    ASSERT_EQ_INT(gpn_ingest_block_id(4030000, 2230000, 10000), a); /* same 10 km block */
    ASSERT_NE_INT(gpn_ingest_block_id(4040000, 2235568, 10000), a); /* next block east */
    ASSERT_NE_INT(gpn_ingest_block_id(4034867, 2240000, 10000), a); /* next block north */
    /* Ids are non-negative and spread over folds. */
    int folds[5] = {0};
    for (int i = 0; i < 50; i++)
        for (int j = 0; j < 50; j++) {
            int32_t b = gpn_ingest_block_id(3e6 + i * 1e4, 2e6 + j * 1e4, 10000);
            ASSERT_TRUE(b >= 0);
            folds[b % 5]++;
        }
    for (int k = 0; k < 5; k++)
        ASSERT_TRUE(folds[k] > 400 && folds[k] < 600);
}

static void test_projection_matches_glc23(void) {
    /* Every GLC23 row ships x_EPSG3035/y_EPSG3035 rounded to ~1 m; our
     * closed-form LAEA must agree within that rounding. */
    const char *files[2] = {g_pa, g_po};
    int rows = 0;
    for (int f = 0; f < 2; f++) {
        struct gpn_err err = {0};
        struct gpn_csv *c = NULL;
        ASSERT_OK(gpn_csv_open(files[f], 0, &c, &err), &err);
        int clon = gpn_csv_col(c, "lon"), clat = gpn_csv_col(c, "lat");
        int cx = gpn_csv_col(c, "x_EPSG3035"), cy = gpn_csv_col(c, "y_EPSG3035");
        while (gpn_csv_next(c, &err) == 1) {
            double x, y;
            gpn_ingest_lonlat_to_3035(atof(gpn_csv_field(c, clon)), atof(gpn_csv_field(c, clat)), &x, &y);
            double ex = atof(gpn_csv_field(c, cx)), ey = atof(gpn_csv_field(c, cy));
            if (fabs(x - ex) > 1.0 || fabs(y - ey) > 1.0) gpn_csv_close(c);
            ASSERT_NEAR(x, ex, 1.0);
            ASSERT_NEAR(y, ey, 1.0);
            rows++;
        }
        gpn_csv_close(c);
    }
    ASSERT_EQ_INT(rows, 200);
    /* The projection centre maps to the false origin exactly. */
    double x, y;
    gpn_ingest_lonlat_to_3035(10, 52, &x, &y);
    ASSERT_NEAR(x, 4321000, 1e-6);
    ASSERT_NEAR(y, 3210000, 1e-6);
}

/* ==== GLC23: PA + PO, JPEG patches and Landsat time series ================= */

static void test_glc23_sample(void) {
    char out[1024];
    snprintf(out, sizeof out, "%s/glc23", test_tmpdir());
    struct gpn_ingest_opts o;
    gpn_ingest_opts_init(&o);
    o.out = out, o.pa = g_pa, o.po = g_po, o.sentinel = g_s2, o.landsat = g_ts;
    o.missing = GPN_MISSING_ZERO; /* the sample ships patches for the PO rows only */
    struct gpn_ingest_stats st;
    struct gpn_err err = {0};
    ASSERT_OK(gpn_ingest_run(&o, &st, &err), &err);

    /* Independent counts. By hand (Python csv module, ';'): PA 100 rows,
     * 99 distinct patchID, 80 species; PO 100 rows, 96 species, and no two
     * records of one observer at one point (45 observer/point pairs + 55
     * rows without observer = 100 samples); 166 species in all. */
    static int64_t v[512];
    size_t n = read_col(g_pa, "patchID", v, 512);
    ASSERT_EQ_INT(n, 100);
    size_t pa_samples = n_distinct(v, n);
    ASSERT_EQ_INT(pa_samples, 99);
    n = read_col(g_pa, "speciesId", v, 512);
    n += read_col(g_po, "speciesId", v + n, 512 - n);
    ASSERT_EQ_INT(n, 200);
    size_t all_species = n_distinct(v, n);
    ASSERT_EQ_INT(all_species, 166);
    ASSERT_EQ_INT(st.rows, 200);
    ASSERT_EQ_INT(st.n_pa, pa_samples);
    ASSERT_EQ_INT(st.n_po, 100);
    ASSERT_EQ_INT(st.samples, 199);
    ASSERT_EQ_INT(st.n_species, all_species);
    ASSERT_EQ_INT(st.nnz, 200);           /* no repeated (patch, species) in PA; one species per PO record */
    ASSERT_EQ_INT(st.zero_filled[0], 99); /* no PA patchID has a JPEG in the sample */
    ASSERT_EQ_INT(st.zero_filled[1], 99); /* nor a time series */

    struct gpn_dataset *d = NULL;
    ASSERT_OK(gpn_dataset_open(out, &d, &err), &err);
    ASSERT_EQ_INT(d->n, 199);
    ASSERT_EQ_INT(d->s2_c, 4);
    ASSERT_EQ_INT(d->s2_h, 128);
    ASSERT_EQ_INT(d->s2_w, 128);
    ASSERT_EQ_INT(d->ls_c, 6);
    ASSERT_EQ_INT(d->ls_q, 4);
    ASSERT_EQ_INT(d->ls_y, 21);
    ASSERT_EQ_INT(d->label_ptr[d->n], 200);

    /* The survey of patchID 129117 (lines 38 and 54 of the PA file: species
     * 4669 and 5501) is one sample with both labels. */
    int found = 0;
    for (int64_t i = 0; i < d->n; i++) {
        if (d->meta[i].survey_id != 129117 || d->meta[i].kind != GPN_SAMPLE_PA) continue;
        found = 1;
        ASSERT_EQ_INT(d->label_ptr[i + 1] - d->label_ptr[i], 2);
        ASSERT_EQ_INT(d->species_id[d->label_idx[d->label_ptr[i]]], 4669);
        ASSERT_EQ_INT(d->species_id[d->label_idx[d->label_ptr[i] + 1]], 5501);
        ASSERT_NEAR(d->meta[i].lon, 7.160314, 1e-9);
        ASSERT_NEAR(d->meta[i].x, 4092997.0, 1e-3);
        ASSERT_EQ_INT(d->meta[i].year, 2019);
        /* Zero-filled modalities are really zero. */
        for (int k = 0; k < 4 * 128 * 128; k++)
            ASSERT_EQ_INT(d->sentinel[(size_t)i * 4 * 128 * 128 + k], 0);
    }
    ASSERT_TRUE(found);

    /* PO record 3569771 (patchID 5189456, timeSerieID 2164564): its patch
     * equals the JPEG pixels, its Landsat NIR row equals the CSV text. */
    int64_t s = -1;
    for (int64_t i = 0; i < d->n; i++)
        if (d->meta[i].survey_id == 3569771) s = i;
    ASSERT_TRUE(s >= 0);
    ASSERT_EQ_INT(d->meta[s].kind, GPN_SAMPLE_PO);
    char p[1200];
    int w, h, c;
    snprintf(p, sizeof p, "%s/rgb/56/94/5189456.jpeg", g_s2);
    uint8_t *rgb = jpeg_decode(p, &w, &h, &c);
    ASSERT_TRUE(rgb != NULL);
    ASSERT_EQ_INT(w * 1000 + h * 10 + c, 128 * 1000 + 128 * 10 + 3);
    const uint8_t *patch = d->sentinel + (size_t)s * 4 * 128 * 128;
    int diff = 0;
    for (int y = 0; y < 128; y++)
        for (int x = 0; x < 128; x++)
            for (int b = 0; b < 3; b++)
                diff += patch[(b * 128 + y) * 128 + x] != rgb[(y * 128 + x) * 3 + b];
    free(rgb);
    ASSERT_EQ_INT(diff, 0);
    snprintf(p, sizeof p, "%s/nir/56/94/5189456.jpeg", g_s2);
    uint8_t *nir = jpeg_decode(p, &w, &h, &c);
    ASSERT_TRUE(nir != NULL);
    ASSERT_EQ_INT(c, 1);
    for (int k = 0; k < 128 * 128; k++)
        diff += patch[3 * 128 * 128 + k] != nir[k];
    ASSERT_EQ_INT(nir[64 * 128 + 64], patch[(3 * 128 + 64) * 128 + 64]);
    free(nir);
    ASSERT_EQ_INT(diff, 0);

    snprintf(p, sizeof p, "%s/time_series_nir.csv", g_ts);
    char *text = NULL;
    size_t len;
    ASSERT_OK(gpn_file_read(p, &text, &len, &err), &err);
    char *line = strstr(text, "\n2164564;");
    ASSERT_TRUE(line != NULL);
    line += 9;
    const float *cube = d->landsat + (size_t)s * 504 + 3 * 84; /* band nir = 3 */
    int checked = 0;
    for (int t = 0; t < 84; t++) {
        char *end = strpbrk(line, ";\n");
        char cell[32] = "";
        memcpy(cell, line, end && end - line < 31 ? (size_t)(end - line) : 0);
        /* Column t is year 2000 + t / 4, quarter t % 4 + 1; "eos" -> 0. */
        float want = strcmp(cell, "eos") ? (float)atof(cell) : 0.0f;
        if (cube[(t % 4) * 21 + t / 4] != want) break;
        checked++;
        if (!end || *end == '\n') break;
        line = end + 1;
    }
    free(text);
    ASSERT_EQ_INT(checked, 84);
    gpn_dataset_close(d);
}

static void test_glc23_po_grouping(void) {
    /* Greedy grouping of one observer's records within a radius, computed by
     * hand in Python over the PO file (first record of a group is its seed,
     * a record joins the first seed of its observer within R): R = 0 and
     * 10 km -> 100 samples, 100 km -> 94, 1000 km -> 92 (= 37 observers + 55
     * records without observer). */
    static const double radius[4] = {0, 10000, 100000, 1e6};
    static const int64_t want[4] = {100, 100, 94, 92};
    for (int k = 0; k < 4; k++) {
        char out[1024];
        snprintf(out, sizeof out, "%s/po%d", test_tmpdir(), k);
        struct gpn_ingest_opts o;
        gpn_ingest_opts_init(&o);
        o.out = out, o.po = g_po, o.po_group_radius_m = radius[k];
        struct gpn_ingest_stats st;
        struct gpn_err err = {0};
        ASSERT_OK(gpn_ingest_run(&o, &st, &err), &err);
        ASSERT_EQ_INT(st.samples, want[k]);
        ASSERT_EQ_INT(st.n_pa, 0);
        ASSERT_EQ_INT(st.n_species, 96);
    }
}

static void test_glc22_patches(void) {
    /* GLC22: ';' observations (observation_id, latitude, longitude,
     * species_id) and <id>_rgb.jpg / <id>_near_ir.jpg patches of 256 px.
     * Of the 6 patch folders, 2 belong to train observations (10561949,
     * 10297014; found with grep on observations_fr_train.csv). */
    char out[1024], obs[1024], patches[1024], p[1200];
    snprintf(out, sizeof out, "%s/glc22", test_tmpdir());
    snprintf(obs, sizeof obs, "%s", test_shared_path("data/glc22_sample_fr/observations_fr_train.csv"));
    snprintf(patches, sizeof patches, "%s", test_shared_path("data/glc22_sample_fr/patches-fr"));
    struct gpn_ingest_opts o;
    gpn_ingest_opts_init(&o);
    o.out = out, o.po = obs, o.sentinel = patches, o.missing = GPN_MISSING_DROP;
    struct gpn_ingest_stats st;
    struct gpn_err err = {0};
    ASSERT_OK(gpn_ingest_run(&o, &st, &err), &err);
    ASSERT_EQ_INT(st.rows, 1000);
    ASSERT_EQ_INT(st.samples, 2);
    ASSERT_EQ_INT(st.dropped, 998);
    struct gpn_dataset *d = NULL;
    ASSERT_OK(gpn_dataset_open(out, &d, &err), &err);
    ASSERT_EQ_INT(d->s2_h, 256);
    ASSERT_EQ_INT(d->meta[0].survey_id, 10561949);
    ASSERT_NEAR(d->meta[0].lat, 45.70511627197271, 1e-7);
    int w, h, c;
    snprintf(p, sizeof p, "%s/49/19/10561949_near_ir.jpg", patches);
    uint8_t *nir = jpeg_decode(p, &w, &h, &c);
    ASSERT_TRUE(nir != NULL);
    int diff = 0;
    for (int k = 0; k < 256 * 256; k++)
        diff += d->sentinel[3 * 256 * 256 + k] != nir[k];
    free(nir);
    gpn_dataset_close(d);
    ASSERT_EQ_INT(diff, 0);
}

/* ==== GLC24 surveys as a GeoPlant long-format CSV ========================== */

static void test_glc24_long_format(void) {
    struct gpn_err err = {0};
    char csv[1024], out[1024], cubes[1024];
    snprintf(csv, sizeof csv, "%s/pa_long.csv", test_tmpdir());
    snprintf(out, sizeof out, "%s/glc24", test_tmpdir());
    snprintf(cubes, sizeof cubes, "%s/climate", test_tmpdir());
    ASSERT_OK(gpn_mkdir_p(cubes, &err), &err);
    struct gpn_csv *c = NULL;
    ASSERT_OK(
        gpn_csv_open(test_shared_path("data/glc24_habitat_surveys/glc24_surveys_species_habitat_dev.csv"), 0,
                     &c, &err),
        &err);
    int cid = gpn_csv_col(c, "surveyId"), clon = gpn_csv_col(c, "lon"), clat = gpn_csv_col(c, "lat");
    int csp = gpn_csv_col(c, "speciesIds");
    ASSERT_TRUE(cid >= 0 && csp >= 0);
    FILE *f = fopen(csv, "w");
    ASSERT_TRUE(f != NULL);
    fprintf(f, "lon,lat,year,geoUncertaintyInM,areaInM2,region,country,speciesId,surveyId\n");
    static int64_t sp[40000];
    size_t nsp = 0, surveys = 0, rows = 0;
    int64_t first_id = -1, first_species[200];
    int first_n = 0;
    while (gpn_csv_next(c, &err) == 1) {
        int64_t id = atoll(gpn_csv_field(c, cid));
        char list[8192];
        gpn_strlcpy(list, gpn_csv_field(c, csp), sizeof list);
        for (char *save = NULL, *t = strtok_r(list, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
            int64_t s = atoll(t);
            /* Every third row writes the id as a float, as GeoPlant does. */
            fprintf(f, "%s,%s,2019,10.0,100.0,CONTINENTAL,France,%lld%s,%lld\n", gpn_csv_field(c, clon),
                    gpn_csv_field(c, clat), (long long)s, rows % 3 == 0 ? ".0" : "", (long long)id);
            if (nsp < 40000) sp[nsp++] = s;
            if ((first_id < 0 || first_id == id) && first_n < 200) first_species[first_n++] = s;
            if (first_id < 0) first_id = id;
            rows++;
        }
        /* A climate cube for every 10th survey, as float64 like np.save. */
        if (surveys % 10 == 0) {
            double cube[912];
            for (int k = 0; k < 912; k++)
                cube[k] = (double)id + k * 0.5;
            cube[7] = NAN;
            int64_t shape[3] = {4, 19, 12};
            char name[64];
            snprintf(name, sizeof name, "%lld.npy", (long long)id);
            char path[1100];
            snprintf(path, sizeof path, "%s/%s", cubes, name);
            ASSERT_OK(gpn_npy_write(path, GPN_NPY_F8, 3, shape, cube, &err), &err);
        }
        surveys++;
    }
    gpn_csv_close(c);
    fclose(f);
    /* By hand: 1310 surveys, 26752 (survey, species) rows, 2290 species. */
    ASSERT_EQ_INT(surveys, 1310);
    ASSERT_EQ_INT(rows, 26752);
    size_t distinct = n_distinct(sp, nsp);
    ASSERT_EQ_INT(distinct, 2290);

    struct gpn_ingest_opts o;
    gpn_ingest_opts_init(&o);
    o.out = out, o.pa = csv, o.progress = 0;
    struct gpn_ingest_stats st;
    ASSERT_OK(gpn_ingest_run(&o, &st, &err), &err);
    ASSERT_EQ_INT(st.samples, surveys);
    ASSERT_EQ_INT(st.n_pa, surveys);
    ASSERT_EQ_INT(st.nnz, rows);
    ASSERT_EQ_INT(st.n_species, distinct);
    struct gpn_dataset *d = NULL;
    ASSERT_OK(gpn_dataset_open(out, &d, &err), &err);
    ASSERT_EQ_INT(d->meta[0].survey_id, first_id);
    ASSERT_EQ_INT(d->label_ptr[1], first_n);
    qsort(first_species, (size_t)first_n, sizeof *first_species, cmp_i64);
    for (int k = 0; k < first_n; k++)
        ASSERT_EQ_INT(d->species_id[d->label_idx[k]], first_species[k]);
    ASSERT_TRUE(d->sentinel == NULL && d->landsat == NULL && d->climate == NULL);
    gpn_dataset_close(d);

    /* With the climate cubes and --missing drop: only the 131 surveys with a
     * cube remain (every 10th of 1310), values converted to float32, NaN->0. */
    o.climate = cubes, o.missing = GPN_MISSING_DROP, o.force = 1;
    ASSERT_OK(gpn_ingest_run(&o, &st, &err), &err);
    ASSERT_EQ_INT(st.samples, 131);
    ASSERT_EQ_INT(st.dropped, 1310 - 131);
    ASSERT_OK(gpn_dataset_open(out, &d, &err), &err);
    ASSERT_EQ_INT(d->cl_c * 10000 + d->cl_y * 100 + d->cl_m, 4 * 10000 + 19 * 100 + 12);
    const float *cl = d->climate + 5 * 912;
    ASSERT_NEAR(cl[0], (double)(float)d->meta[5].survey_id, 0);
    ASSERT_NEAR(cl[911], (double)(float)(d->meta[5].survey_id + 455.5), 0);
    ASSERT_EQ_INT(cl[7], 0);
    gpn_dataset_close(d);
}

/* ==== bad input: message, non-zero, nothing written ======================== */

static const char GOOD[] = "lon,lat,year,geoUncertaintyInM,areaInM2,region,country,speciesId,surveyId\n"
                           "5.5,45.1,2019,10,100,ALPINE,France,6310.0,5189456\n"
                           "5.5,45.1,2019,10,100,ALPINE,France,12,5189456\n"
                           "6.5,46.1,2020,10,100,ALPINE,France,12,77\n";

/* Runs an ingest of `text` and checks failure: message contains `want`,
 * no output folder and no temporary folder. */
static void expect_bad(const char *text, const char *sentinel, const char *want) {
    char csv[1024], out[1024];
    snprintf(csv, sizeof csv, "%s/bad.csv", test_tmpdir());
    snprintf(out, sizeof out, "%s/out", test_tmpdir());
    write_text(csv, text);
    struct gpn_ingest_opts o;
    gpn_ingest_opts_init(&o);
    o.out = out, o.pa = csv, o.sentinel = sentinel;
    struct gpn_err err = {0};
    int rc = gpn_ingest_run(&o, NULL, &err);
    ASSERT_TRUE(rc < 0);
    ASSERT_STR_CONTAINS(err.msg, want);
    ASSERT_FALSE(gpn_path_exists(out));
    ASSERT_FALSE(tmp_left(out));
}

static void test_bad_input(void) {
    char want[1200];
    const char *dir = test_tmpdir();
    /* The good file ingests (so the failures below are the edits). */
    char csv[1024], out[1024];
    snprintf(csv, sizeof csv, "%s/good.csv", dir);
    snprintf(out, sizeof out, "%s/good", dir);
    write_text(csv, GOOD);
    struct gpn_ingest_opts o;
    gpn_ingest_opts_init(&o);
    o.out = out, o.pa = csv;
    struct gpn_ingest_stats st;
    struct gpn_err err = {0};
    ASSERT_OK(gpn_ingest_run(&o, &st, &err), &err);
    ASSERT_EQ_INT(st.samples, 2);
    ASSERT_EQ_INT(st.nnz, 3);
    /* Running again onto the existing folder fails and leaves it alone. */
    ASSERT_RC(gpn_ingest_run(&o, &st, &err), GPN_EEXISTS);
    ASSERT_TRUE(gpn_is_dir(out));

    /* Missing column. */
    snprintf(want, sizeof want, "%s/bad.csv:1: missing column 'speciesId'", dir);
    expect_bad("lon,lat,year,surveyId\n5.5,45.1,2019,1\n", NULL, want);
    if (t__cur_failed) return;
    /* Non-numeric coordinate, line 3. */
    snprintf(want, sizeof want, "%s/bad.csv:3: lon: expected a number, found 'abc'", dir);
    expect_bad("lon,lat,year,geoUncertaintyInM,areaInM2,region,country,speciesId,surveyId\n"
               "5.5,45.1,2019,10,100,ALPINE,France,6310.0,1\n"
               "abc,45.1,2019,10,100,ALPINE,France,12,1\n",
               NULL, want);
    if (t__cur_failed) return;
    /* Latitude out of range. */
    snprintf(want, sizeof want, "%s/bad.csv:2: lat: expected a number in [-90, 90], found '95.5'", dir);
    expect_bad("lon,lat,year,geoUncertaintyInM,areaInM2,region,country,speciesId,surveyId\n"
               "5.5,95.5,2019,10,100,ALPINE,France,6310.0,1\n",
               NULL, want);
    if (t__cur_failed) return;
    /* speciesId not integral. */
    snprintf(want, sizeof want,
             "%s/bad.csv:3: speciesId: expected an integer (like 6310 or 6310.0), found '6310.5'", dir);
    expect_bad("lon,lat,year,geoUncertaintyInM,areaInM2,region,country,speciesId,surveyId\n"
               "5.5,45.1,2019,10,100,ALPINE,France,12,1\n"
               "5.5,45.1,2019,10,100,ALPINE,France,6310.5,1\n",
               NULL, want);
    if (t__cur_failed) return;
    /* Duplicate row: surveyId 1 lists 6310 twice (6310.0 on line 2). */
    snprintf(want, sizeof want, "%s/bad.csv:4: duplicate row", dir);
    expect_bad("lon,lat,year,geoUncertaintyInM,areaInM2,region,country,speciesId,surveyId\n"
               "5.5,45.1,2019,10,100,ALPINE,France,6310.0,1\n"
               "5.5,45.1,2019,10,100,ALPINE,France,12,1\n"
               "5.5,45.1,2019,10,100,ALPINE,France,6310,1\n",
               NULL, want);
    if (t__cur_failed) return;
    /* A header without rows. */
    snprintf(want, sizeof want, "%s/bad.csv: expected at least one sample", dir);
    expect_bad("lon,lat,speciesId,surveyId\n", NULL, want);
    if (t__cur_failed) return;
    /* Rows of one survey at two places. */
    snprintf(want, sizeof want, "%s/bad.csv:3: surveyId 1: expected the same lon/lat as line 2", dir);
    expect_bad("lon,lat,speciesId,surveyId\n5.5,45.1,1,1\n5.6,45.1,2,1\n", NULL, want);
    if (t__cur_failed) return;

    /* Truncated image: a copy of patch 5189456 whose RGB JPEG lost its end. */
    char s2[1024], p[1200], *data = NULL;
    size_t len;
    snprintf(s2, sizeof s2, "%s/patches", dir);
    snprintf(p, sizeof p, "%s/rgb/56/94", s2);
    ASSERT_OK(gpn_mkdir_p(p, &err), &err);
    snprintf(p, sizeof p, "%s/nir/56/94", s2);
    ASSERT_OK(gpn_mkdir_p(p, &err), &err);
    const char *bands[2] = {"rgb", "nir"};
    for (int b = 0; b < 2; b++) {
        snprintf(p, sizeof p, "%s/%s/56/94/5189456.jpeg", g_s2, bands[b]);
        ASSERT_OK(gpn_file_read(p, &data, &len, &err), &err);
        snprintf(p, sizeof p, "%s/%s/56/94/5189456.jpeg", s2, bands[b]);
        ASSERT_OK(gpn_file_write_atomic(p, data, b == 0 ? len / 2 : len, &err), &err);
        free(data);
    }
    /* Survey 77 of GOOD has no patch: first check the missing-patch error. */
    snprintf(want, sizeof want, "%s/bad.csv:4: surveyId 77: expected a Sentinel-2 patch", dir);
    expect_bad(GOOD, s2, want);
    if (t__cur_failed) return;
    snprintf(want, sizeof want, "%s/bad.csv:2: surveyId 5189456: %s/rgb/56/94/5189456.jpeg: truncated JPEG",
             dir, s2);
    expect_bad("lon,lat,speciesId,surveyId\n5.5,45.1,1,5189456\n", s2, want);
}

static void test_species_list_and_force(void) {
    const char *dir = test_tmpdir();
    char csv[1024], bad[1024], out[1024], sp[1024];
    snprintf(csv, sizeof csv, "%s/good.csv", dir);
    snprintf(bad, sizeof bad, "%s/bad.csv", dir);
    snprintf(out, sizeof out, "%s/ds", dir);
    snprintf(sp, sizeof sp, "%s/species.csv", dir);
    write_text(csv, GOOD);
    write_text(bad, "lon,lat,speciesId,surveyId\n5.5,45.1,1.5,1\n");
    write_text(sp, "label,speciesId,n_samples\n0,12,5\n1,999.0,0\n");
    struct gpn_ingest_opts o;
    gpn_ingest_opts_init(&o);
    o.out = out, o.pa = csv, o.species = sp;
    struct gpn_ingest_stats st;
    struct gpn_err err = {0};
    ASSERT_OK(gpn_ingest_run(&o, &st, &err), &err);
    /* The label space is the list (12, 999); the 6310 row is skipped. */
    ASSERT_EQ_INT(st.n_species, 2);
    ASSERT_EQ_INT(st.unknown_species, 1);
    ASSERT_EQ_INT(st.nnz, 2);
    struct gpn_dataset *d = NULL;
    ASSERT_OK(gpn_dataset_open(out, &d, &err), &err);
    ASSERT_EQ_INT(d->species_id[1], 999);
    ASSERT_EQ_INT(d->label_ptr[1], 1);
    ASSERT_EQ_INT(d->label_idx[0], 0);
    gpn_dataset_close(d);
    /* --force with bad input: fails, the old dataset stays as it was. */
    o.pa = bad, o.force = 1, o.species = NULL;
    ASSERT_TRUE(gpn_ingest_run(&o, &st, &err) < 0);
    ASSERT_OK(gpn_dataset_open(out, &d, &err), &err);
    ASSERT_EQ_INT(d->n_species, 2);
    gpn_dataset_close(d);
    ASSERT_FALSE(tmp_left(out));
    /* --force with good input replaces it. */
    o.pa = csv;
    ASSERT_OK(gpn_ingest_run(&o, &st, &err), &err);
    ASSERT_OK(gpn_dataset_open(out, &d, &err), &err);
    ASSERT_EQ_INT(d->n_species, 2); /* 12 and 6310 */
    ASSERT_EQ_INT(d->species_id[1], 6310);
    gpn_dataset_close(d);
    char old[1100];
    snprintf(old, sizeof old, "%s.old-%ld", out, (long)getpid());
    ASSERT_FALSE(gpn_path_exists(old));
}

/* The command line: exit status 1, "gpn ingest: FILE:LINE: ..." on stderr,
 * nothing written; --help exits 0. */
static void test_cli_errors(void) {
    const char *gpn = getenv("GPN_BIN");
    if (!gpn) gpn = "build/gpn";
    ASSERT_TRUE(access(gpn, X_OK) == 0);
    const char *dir = test_tmpdir();
    char csv[1024], out[1024], errf[1024], cmd[4096];
    snprintf(csv, sizeof csv, "%s/bad.csv", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(errf, sizeof errf, "%s/stderr.txt", dir);
    write_text(csv, "lon,lat,speciesId,surveyId\n5.5,45.1,1,1\n5.5,45.1,2.5,1\n");
    snprintf(cmd, sizeof cmd, "'%s' ingest --out '%s' --pa '%s' 2>'%s' >/dev/null", gpn, out, csv, errf);
    int st = system(cmd);
    ASSERT_TRUE(WIFEXITED(st));
    ASSERT_EQ_INT(WEXITSTATUS(st), 1);
    char *text = NULL;
    size_t len;
    struct gpn_err err = {0};
    ASSERT_OK(gpn_file_read(errf, &text, &len, &err), &err);
    char want[1200];
    snprintf(want, sizeof want, "gpn ingest: %s:3: speciesId: expected an integer", csv);
    int ok = strstr(text, want) != NULL;
    if (!ok) fprintf(stderr, "  stderr was: %s\n", text);
    free(text);
    ASSERT_TRUE(ok);
    ASSERT_FALSE(gpn_path_exists(out));
    snprintf(cmd, sizeof cmd, "'%s' ingest --out '%s' 2>/dev/null", gpn, out);
    st = system(cmd);
    ASSERT_EQ_INT(WEXITSTATUS(st), 2);
    snprintf(cmd, sizeof cmd, "'%s' ingest --help >/dev/null", gpn);
    st = system(cmd);
    ASSERT_EQ_INT(WEXITSTATUS(st), 0);
    /* A good run prints its summary and the folder appears. */
    write_text(csv, GOOD);
    snprintf(cmd, sizeof cmd, "GPN_PROGRESS=0 '%s' ingest -q --out '%s' --pa '%s' >'%s'", gpn, out, csv,
             errf);
    st = system(cmd);
    ASSERT_EQ_INT(WEXITSTATUS(st), 0);
    ASSERT_OK(gpn_file_read(errf, &text, &len, &err), &err);
    ok = strstr(text, "2 samples (2 PA, 0 PO), 2 species, 3 presences from 3 rows") != NULL;
    free(text);
    ASSERT_TRUE(ok);
}

/* ==== raster sources: mosaic patches and cube stacks ======================= */

static void test_raster_sources(void) {
    struct gpn_err err = {0};
    const char *dir = test_tmpdir();
    char mosaic[1024], clim[1024], csv[1024], out[1024];
    snprintf(mosaic, sizeof mosaic, "%s/s2.tif", dir);
    snprintf(clim, sizeof clim, "%s/climate.tif", dir);
    snprintf(csv, sizeof csv, "%s/pa.csv", dir);
    snprintf(out, sizeof out, "%s/ds", dir);
    /* A 4-band 10 m mosaic of 200 x 150 px, origin (4000000, 2501500). */
    const int W = 200, H = 150;
    uint8_t *m = malloc((size_t)4 * W * H);
    ASSERT_TRUE(m != NULL);
    for (int b = 0; b < 4; b++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                m[((size_t)b * H + y) * W + x] = (uint8_t)(x * 3 + y * 7 + b * 50);
    struct gpn_cog_opts co = {0};
    co.width = W, co.height = H, co.bands = 4, co.dtype = GPN_DT_U8, co.epsg = 3035;
    double gt[6] = {4000000, 10, 0, 2501500, 0, -10};
    memcpy(co.gt, gt, sizeof gt);
    co.blocksize = 64;
    int rc = gpn_cog_write(mosaic, &co, m, &err);
    if (rc) free(m);
    ASSERT_OK(rc, &err);
    /* A 912-band 1 km climate stack of 3 x 2 px in EPSG:3035, value
     * band * 10 + pixel index, nodata -9999 at band 5 of pixel 3. */
    float *c = malloc(sizeof(float) * 912 * 6);
    ASSERT_TRUE(c != NULL);
    for (int b = 0; b < 912; b++)
        for (int k = 0; k < 6; k++)
            c[b * 6 + k] = (float)(b * 10 + k);
    c[5 * 6 + 3] = -9999;
    struct gpn_cog_opts cc = {0};
    cc.width = 3, cc.height = 2, cc.bands = 912, cc.dtype = GPN_DT_F32, cc.epsg = 3035;
    cc.has_nodata = 1, cc.nodata = -9999;
    cc.blocksize = 16; /* small tiles: 912 band-separate 512x512 tiles would be slow to write and read */
    double gt2[6] = {4000000, 1000, 0, 2501500, 0, -1000};
    memcpy(cc.gt, gt2, sizeof gt2);
    rc = gpn_cog_write(clim, &cc, c, &err);
    free(c);
    if (rc) free(m);
    ASSERT_OK(rc, &err);
    /* Sample 1 well inside; sample 2 near the west edge (patch partly
     * outside); sample 3 outside the mosaic. lon/lat are unused when x/y
     * are given (GLC23 layout). */
    write_text(csv, "glcID;lon;lat;x_EPSG3035;y_EPSG3035;speciesId;patchID\n"
                    "1;5;45;4001005;2500795;10;1\n"
                    "2;5;45;4000055;2500205;11;2\n"
                    "3;5;45;3990000;2500205;12;3\n");
    struct gpn_ingest_opts o;
    gpn_ingest_opts_init(&o);
    o.out = out, o.pa = csv, o.sentinel = mosaic, o.climate = clim, o.patch_size = 32;
    o.missing = GPN_MISSING_ZERO;
    struct gpn_ingest_stats st;
    rc = gpn_ingest_run(&o, &st, &err);
    if (rc) free(m);
    ASSERT_OK(rc, &err);
    ASSERT_EQ_INT(st.samples, 3);
    ASSERT_EQ_INT(st.zero_filled[0], 1);
    ASSERT_EQ_INT(st.zero_filled[2], 1);
    struct gpn_dataset *d = NULL;
    rc = gpn_dataset_open(out, &d, &err);
    if (rc) free(m);
    ASSERT_OK(rc, &err);
    /* Sample 0 at pixel col 100, row 70 -> window cols [84, 116), rows [54, 86). */
    int bad = 0, outside = 0;
    for (int b = 0; b < 4; b++)
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++) {
                bad += d->sentinel[((size_t)b * 32 + y) * 32 + x] != m[((size_t)b * H + 54 + y) * W + 84 + x];
                /* Sample 1 at col 5, row 129: cols [-11, 21), rows [113, 145). */
                int mx = x - 11, my = 113 + y;
                uint8_t want = mx < 0 ? 0 : m[((size_t)b * H + my) * W + mx];
                bad += d->sentinel[(size_t)4 * 32 * 32 + ((size_t)b * 32 + y) * 32 + x] != want;
                outside += d->sentinel[(size_t)2 * 4 * 32 * 32 + ((size_t)b * 32 + y) * 32 + x] != 0;
            }
    free(m);
    ASSERT_EQ_INT(bad, 0);
    ASSERT_EQ_INT(outside, 0);
    /* Climate: sample 0 at (4001005, 2500795) is pixel col 1, row 0 =
     * index 1; sample 1 at (4000055, 2500205) is col 0, row 1 = index 3,
     * whose band 5 holds nodata -> 0. */
    ASSERT_NEAR(d->climate[0], 1, 0);
    ASSERT_NEAR(d->climate[911], 9111, 0);
    ASSERT_NEAR(d->climate[912 + 4], 43, 0);
    ASSERT_NEAR(d->climate[912 + 5], 0, 0);
    ASSERT_NEAR(d->climate[912 + 6], 63, 0);
    gpn_dataset_close(d);
}

int main(void) {
    init_paths();
    RUN(test_parse_id);
    RUN(test_block_id);
    RUN(test_projection_matches_glc23);
    RUN(test_glc23_sample);
    RUN(test_glc23_po_grouping);
    RUN(test_glc22_patches);
    RUN(test_glc24_long_format);
    RUN(test_bad_input);
    RUN(test_species_list_and_force);
    RUN(test_cli_errors);
    RUN(test_raster_sources);
    return test_summary();
}
