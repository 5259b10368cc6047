/*
 * test_report.c - the AOI report engine on a small atlas built here: per
 * species cell counts, indicator statistics and habitat shares against a
 * brute-force computation (every cell centre tested with
 * gpn_geom_contains, species presence from the generating functions), for
 * rectangles, concave shapes with holes, multipolygons and partial data
 * coverage; invalid geometries and areas outside the data; the exports;
 * the store cache noticing a rewritten store. (The independent cross-check
 * with GDAL's rasteriser is tests/scripts/test_report_crosscheck.py.)
 */
#include "test.h"

#include <jansson.h>
#include <stdint.h>

#include "gpn/catalog.h"
#include "gpn/geom.h"
#include "gpn/http.h"
#include "gpn/raster.h"
#include "gpn/report.h"
#include "gpn/store.h"
#include "gpn/util.h"

#define NSP 6
static const uint32_t SP_IDS[NSP] = {101, 102, 103, 104, 105, 106};
/* Tiles with a store; tile (4050, 2500) exists in no file (no data). */
static const struct gpn_tile TILES[4] = {{4000, 2500}, {4025, 2500}, {4000, 2525}, {4025, 2525}};

static uint32_t hash32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352d;
    x ^= x >> 15;
    x *= 0x846ca68b;
    x ^= x >> 16;
    return x;
}

/* Presence of species k at global cell (gx, gy) in a tile with a store. */
static int present(int k, int64_t gx, int64_t gy)
{
    switch (k) {
    case 0: { /* a disc of 300 cells around (81000, 50500) */
        int64_t dx = gx - 81000, dy = gy - 50500;
        return dx * dx + dy * dy < 300 * 300;
    }
    case 1: return (gx * 7 + gy * 13) % 11 == 0;     /* sparse lattice */
    case 2: return gx % 2 == 0;                      /* every other column */
    case 3: return gy >= 50700;                      /* northern block */
    case 4: return hash32((uint32_t)(gx * 100003 + gy)) % 10 < 3; /* random 30% */
    default: return gx >= 80500 && gy >= 50500;      /* tile (4025, 2525) only */
    }
}

/* Indicator band k at a cell; NAN for nodata. */
static double ind_value(int k, int64_t gx, int64_t gy)
{
    if ((gx + gy) % 97 == 0) return NAN;
    if (k == 0) {
        int n = 0;
        for (int s = 0; s < NSP; s++) n += present(s, gx, gy);
        return n;
    }
    return (double)((gx * (k + 1) + gy * 3) % (5 + k));
}

/* Habitat class code at a cell, NULL for none; per-tile class tables. */
static const char *TABLE_A[3] = {"R1A", "T11", "MA221"};
static const char *TABLE_B[2] = {"T11", "R1A"};
static int hab_value(int tile, int64_t gx, int64_t gy)
{
    int v = (int)((gx / 10 + gy / 7) % 4); /* 0 = no habitat */
    if (tile == 1 && v == 3) v = 0;
    return v;
}
static const char *hab_code(int tile, int64_t gx, int64_t gy)
{
    int v = hab_value(tile, gx, gy);
    if (!v) return NULL;
    return tile == 0 ? TABLE_A[v - 1] : TABLE_B[v - 1];
}

static int tile_index(int64_t gx, int64_t gy)
{
    for (int t = 0; t < 4; t++)
        if (gx >= TILES[t].e_km * 20 && gx < TILES[t].e_km * 20 + 500 && gy >= TILES[t].n_km * 20 &&
            gy < TILES[t].n_km * 20 + 500)
            return t;
    return -1;
}

/* Builds the atlas: catalog, 4 stores, indicators on tiles 0-1, habitats on
 * tiles 0-1. Returns 0 or an error. */
static int build_atlas(const char *atlas, struct gpn_err *e)
{
    char path[1024];
    int rc = gpn_mkdir_p(atlas, e);
    if (rc) return rc;
    struct gpn_catalog *cat;
    snprintf(path, sizeof path, "%s/catalog.sqlite", atlas);
    rc = gpn_catalog_open(path, GPN_CATALOG_CREATE, &cat, e);
    if (rc) return rc;
    static const char *names[5] = {"Alpha prima", "Beta secunda", "Gamma tertia", "Delta quarta", "Epsilon quinta"};
    static const unsigned flags[5] = {GPN_SPECIES_DIRECTIVE, GPN_SPECIES_INVASIVE,
                                      GPN_SPECIES_TREE | GPN_SPECIES_ENDEMIC, GPN_SPECIES_SPECIALIST, 0};
    static const char *red[5] = {"CR", "", "", "VU", "LC"};
    for (int k = 0; k < 5 && !rc; k++) {
        struct gpn_species sp;
        gpn_species_init(&sp);
        sp.id = SP_IDS[k];
        gpn_strlcpy(sp.scientific_name, names[k], sizeof sp.scientific_name);
        snprintf(sp.genus, sizeof sp.genus, "%.*s", (int)(strchr(names[k], ' ') - names[k]), names[k]);
        gpn_strlcpy(sp.family, "Testaceae", sizeof sp.family);
        sp.flags = flags[k];
        gpn_strlcpy(sp.redlist, red[k], sizeof sp.redlist);
        rc = gpn_catalog_species_upsert(cat, &sp, NULL, e);
    }
    if (!rc) rc = gpn_catalog_habitats_load_csv(cat, "data/eunis/eunis_hierarchy.csv", NULL, e);
    if (!rc) rc = gpn_catalog_model_run_add(cat, GPN_MODEL_SDM, "models/sdm.gpnm", "{\"alpha\":0.05}", NULL, NULL, e);
    gpn_catalog_close(cat);
    if (rc) return rc;

    float *ind = malloc(8 * 250000 * sizeof *ind);
    uint8_t *hab = malloc(250000);
    uint32_t *cells[NSP];
    for (int k = 0; k < NSP; k++) cells[k] = malloc(250000 * sizeof **cells);
    for (int t = 0; t < 4 && !rc; t++) {
        struct gpn_store_writer *w;
        rc = gpn_store_writer_create(TILES[t], &w, e);
        if (rc) break;
        size_t ncells[NSP] = {0};
        for (int r = 0; r < 500; r++)
            for (int c = 0; c < 500; c++) {
                int64_t gx = TILES[t].e_km * 20 + c, gy = TILES[t].n_km * 20 + 499 - r;
                for (int k = 0; k < NSP; k++)
                    if (present(k, gx, gy)) cells[k][ncells[k]++] = (uint32_t)(r * 500 + c);
                if (t >= 2) continue;
                for (int b = 0; b < 8; b++) {
                    double v = ind_value(b, gx, gy);
                    ind[(size_t)b * 250000 + r * 500 + c] = isnan(v) ? -9999.0f : (float)v;
                }
                hab[r * 500 + c] = (uint8_t)hab_value(t, gx, gy);
            }
        for (int k = 0; k < NSP && !rc; k++)
            if (ncells[k]) rc = gpn_store_writer_add_cells(w, SP_IDS[k], cells[k], ncells[k], e);
        if (!rc) {
            gpn_store_tile_path(atlas, TILES[t], path, sizeof path);
            rc = gpn_store_writer_write(w, path, e);
        }
        gpn_store_writer_destroy(w);
        if (rc || t >= 2) continue;
        char id[32];
        gpn_tile_format(TILES[t], id, sizeof id);
        struct gpn_cog_opts o = {.width = 500, .height = 500, .bands = 8, .dtype = GPN_DT_F32, .epsg = 3035,
                                 .has_nodata = 1, .nodata = -9999};
        gpn_tile_geotransform(TILES[t], o.gt);
        /* Tile 1 stores its bands in another order, named by description. */
        static const char *desc0[8] = {"richness", "directive", "threatened", "most_threatened",
                                       "tree",     "invasive",  "specialist", "endemic"};
        static const char *desc1[8] = {"endemic", "richness", "directive", "threatened",
                                       "most_threatened", "tree", "invasive", "specialist"};
        float *data = ind;
        float *perm = NULL;
        if (t == 1) {
            perm = malloc(8 * 250000 * sizeof *perm);
            memcpy(perm, ind + 7 * 250000, 250000 * sizeof *perm);
            memcpy(perm + 250000, ind, 7 * 250000 * sizeof *perm);
            data = perm;
        }
        o.band_desc = t == 0 ? desc0 : desc1;
        snprintf(path, sizeof path, "%s/tiles/%s/indicators.tif", atlas, id);
        rc = gpn_cog_write(path, &o, data, e);
        free(perm);
        if (rc) break;
        const char *md_a[] = {"GPN_CLASS_CODES=R1A,T11,MA221", NULL};
        const char *md_b[] = {"GPN_CLASS_CODES=T11,R1A", NULL};
        struct gpn_cog_opts oh = {.width = 500, .height = 500, .bands = 1, .dtype = GPN_DT_U8, .epsg = 3035,
                                  .has_nodata = 1, .nodata = 255, .categorical = 1};
        gpn_tile_geotransform(TILES[t], oh.gt);
        oh.metadata = t == 0 ? md_a : md_b;
        snprintf(path, sizeof path, "%s/tiles/%s/habitat.tif", atlas, id);
        rc = gpn_cog_write(path, &oh, hab, e);
    }
    free(ind);
    free(hab);
    for (int k = 0; k < NSP; k++) free(cells[k]);
    return rc;
}

/* The atlas shared by the read-only tests, built once in main(). */
static char g_atlas[600];
static int g_atlas_rc;
static struct gpn_err g_atlas_err;

static const char *atlas_dir(void) { return g_atlas; }

/* A private atlas for a test that modifies it. */
static const char *private_atlas(void)
{
    static char buf[600];
    snprintf(buf, sizeof buf, "%s/atlas", test_tmpdir());
    return buf;
}

/* Expected values by brute force over the area's cells. */
struct expect {
    int64_t cells, cells_data;
    int64_t sp[NSP];
    int64_t ind_n[8];
    double ind_sum[8], ind_min[8], ind_max[8];
    double *ind_vals[8];
    int64_t hab_cells;
    int64_t hab_l3[3]; /* R1A, T11, MA221 */
};

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void brute(const struct gpn_geom *g, struct expect *x)
{
    memset(x, 0, sizeof *x);
    double b[4];
    gpn_geom_bbox(g, b);
    int64_t gx0 = (int64_t)floor(b[0] / 50) - 1, gx1 = (int64_t)floor(b[2] / 50) + 1;
    int64_t gy0 = (int64_t)floor(b[1] / 50) - 1, gy1 = (int64_t)floor(b[3] / 50) + 1;
    size_t cap = (size_t)((gx1 - gx0 + 1) * (gy1 - gy0 + 1));
    for (int k = 0; k < 8; k++) x->ind_vals[k] = malloc(cap * sizeof(double));
    for (int64_t gy = gy0; gy <= gy1; gy++)
        for (int64_t gx = gx0; gx <= gx1; gx++) {
            if (!gpn_geom_contains(g, gx * 50.0 + 25, gy * 50.0 + 25)) continue;
            x->cells++;
            int t = tile_index(gx, gy);
            if (t < 0) continue;
            x->cells_data++;
            for (int k = 0; k < NSP; k++) x->sp[k] += present(k, gx, gy);
            if (t >= 2) continue;
            for (int k = 0; k < 8; k++) {
                double v = ind_value(k, gx, gy);
                if (isnan(v)) continue;
                if (!x->ind_n[k] || v < x->ind_min[k]) x->ind_min[k] = v;
                if (!x->ind_n[k] || v > x->ind_max[k]) x->ind_max[k] = v;
                x->ind_vals[k][x->ind_n[k]++] = v;
                x->ind_sum[k] += v;
            }
            const char *code = hab_code(t, gx, gy);
            if (code) {
                x->hab_cells++;
                x->hab_l3[!strcmp(code, "R1A") ? 0 : !strcmp(code, "T11") ? 1 : 2]++;
            }
        }
}

static void expect_free(struct expect *x)
{
    for (int k = 0; k < 8; k++) free(x->ind_vals[k]);
}

static const struct gpn_report_species *find_sp(const struct gpn_report *r, uint32_t id)
{
    for (size_t i = 0; i < r->nspecies; i++)
        if (r->species[i].id == id) return &r->species[i];
    return NULL;
}

static const struct gpn_report_habitat *find_hab(const struct gpn_report *r, int level, const char *code)
{
    for (size_t i = 0; i < r->nhabitats[level - 1]; i++)
        if (!strcmp(r->habitats[level - 1][i].code, code)) return &r->habitats[level - 1][i];
    return NULL;
}

/* Runs the engine on g and compares everything with the brute force.
 * Returns the number of mismatches (printed). */
static int check_area_x(struct gpn_report_engine *eng, const struct gpn_geom *g, const char *label,
                        struct expect *xp)
{
    struct gpn_err e = {0};
    struct expect x = *xp;
    struct gpn_report *r = NULL;
    int bad = 0;
    int rc = gpn_report_run(eng, g, NULL, &r, &e);
    if (rc) {
        fprintf(stderr, "  %s: report failed: %s\n", label, e.msg);
        return 1;
    }
#define CHECK(cond, ...)                                        \
    do {                                                        \
        if (!(cond)) {                                          \
            fprintf(stderr, "  %s: ", label);                   \
            fprintf(stderr, __VA_ARGS__);                       \
            fprintf(stderr, "\n");                              \
            bad++;                                              \
        }                                                       \
    } while (0)
    CHECK(r->cells == x.cells, "cells %lld vs %lld", (long long)r->cells, (long long)x.cells);
    CHECK(r->cells_with_data == x.cells_data, "cells with data %lld vs %lld", (long long)r->cells_with_data,
          (long long)x.cells_data);
    size_t nexp = 0;
    for (int k = 0; k < NSP; k++) {
        const struct gpn_report_species *s = find_sp(r, SP_IDS[k]);
        int64_t got = s ? s->cells : 0;
        nexp += x.sp[k] > 0;
        CHECK(got == x.sp[k], "species %u: %lld cells vs %lld", SP_IDS[k], (long long)got, (long long)x.sp[k]);
        if (s) CHECK(fabs(s->pct - 100.0 * (double)x.sp[k] / (double)x.cells_data) < 1e-9, "species pct");
    }
    CHECK(r->nspecies == nexp, "%zu species vs %zu", r->nspecies, nexp);
    for (size_t i = 1; i < r->nspecies; i++) CHECK(r->species[i - 1].cells >= r->species[i].cells, "ranking");
    for (int k = 0; k < 8; k++) {
        const struct gpn_report_indicator *ind = &r->ind[k];
        CHECK(ind->cells == x.ind_n[k], "indicator %d: %lld values vs %lld", k, (long long)ind->cells,
              (long long)x.ind_n[k]);
        if (!x.ind_n[k]) continue;
        qsort(x.ind_vals[k], (size_t)x.ind_n[k], sizeof(double), cmp_d);
        int64_t n = x.ind_n[k];
        double med = (x.ind_vals[k][(n - 1) / 2] + x.ind_vals[k][n / 2]) / 2;
        CHECK(fabs(ind->mean - x.ind_sum[k] / (double)n) < 1e-9, "indicator %d mean %g vs %g", k, ind->mean,
              x.ind_sum[k] / (double)n);
        CHECK(ind->min == x.ind_min[k] && ind->max == x.ind_max[k], "indicator %d min/max", k);
        CHECK(ind->median == med, "indicator %d median %g vs %g", k, ind->median, med);
        int64_t hs = 0;
        for (int bi = 0; bi < ind->nbins; bi++) hs += ind->hist[bi];
        CHECK(hs == n, "indicator %d histogram sums to %lld, not %lld", k, (long long)hs, (long long)n);
    }
    CHECK(r->habitat_cells == x.hab_cells, "habitat cells %lld vs %lld", (long long)r->habitat_cells,
          (long long)x.hab_cells);
    static const char *l3[3] = {"R1A", "T11", "MA221"};
    for (int i = 0; i < 3; i++) {
        const struct gpn_report_habitat *h = find_hab(r, 3, l3[i]);
        CHECK((h ? h->cells : 0) == x.hab_l3[i], "habitat %s: %lld vs %lld", l3[i], (long long)(h ? h->cells : 0),
              (long long)x.hab_l3[i]);
    }
    /* Roll-ups: R1A -> R1 -> R, T11 -> T1 -> T, MA221 -> MA2 -> MA. */
    const struct gpn_report_habitat *h;
    h = find_hab(r, 2, "R1");
    CHECK((h ? h->cells : 0) == x.hab_l3[0], "L2 R1");
    h = find_hab(r, 1, "T");
    CHECK((h ? h->cells : 0) == x.hab_l3[1], "L1 T");
    h = find_hab(r, 2, "MA2");
    CHECK((h ? h->cells : 0) == x.hab_l3[2], "L2 MA2");
    h = find_hab(r, 1, "MA");
    CHECK((h ? h->cells : 0) == x.hab_l3[2], "L1 MA");
    if (x.hab_l3[1]) {
        h = find_hab(r, 3, "T11");
        CHECK(h && !strcmp(h->name, "Temperate Salix and Populus riparian forest"), "habitat name");
    }
#undef CHECK
    gpn_report_free(r);
    return bad;
}

/* Runs the engines on g (twice each: the second run reads the caches)
 * against one brute-force computation. */
static int check_area(struct gpn_report_engine **engs, int nengs, const struct gpn_geom *g, const char *label)
{
    struct expect x;
    brute(g, &x);
    int bad = 0;
    for (int i = 0; i < nengs; i++)
        for (int rep = 0; rep < 2; rep++) bad += check_area_x(engs[i], g, label, &x);
    expect_free(&x);
    return bad;
}

static struct gpn_geom *geom_3035(const char *coords_json)
{
    char buf[8192];
    snprintf(buf, sizeof buf,
             "{\"type\":\"MultiPolygon\",\"crs\":{\"type\":\"name\",\"properties\":{\"name\":\"EPSG:3035\"}},"
             "\"coordinates\":%s}",
             coords_json);
    struct gpn_geom *g = NULL;
    struct gpn_err e = {0};
    if (gpn_report_area_from_geojson(buf, strlen(buf), NULL, &g, &e)) fprintf(stderr, "  geojson: %s\n", e.msg);
    return g;
}

static void test_engine_counts(void)
{
    struct gpn_err e = {0};
    ASSERT_OK(g_atlas_rc, &g_atlas_err);
    int bad = 0;
    /* Two engines: with the decoded-raster cache (whole tiles, full-tile
     * summaries) and without it (windowed reads, one thread). */
    struct gpn_report_engine *engs[2];
    struct gpn_report_opts o0 = {0}, o1 = {.raster_cache_mb = -1, .threads = 1};
    ASSERT_OK(gpn_report_engine_open(atlas_dir(), &o0, &engs[0], &e), &e);
    ASSERT_OK(gpn_report_engine_open(atlas_dir(), &o1, &engs[1], &e), &e);
    /* 1. A rectangle over the 4 tiles and the tile without data. */
    struct gpn_geom *g = geom_3035("[[[[4012345.5,2512345.5],[4062345.5,2512345.5],[4062345.5,2537777.7],"
                                   "[4012345.5,2537777.7],[4012345.5,2512345.5]]]]");
    ASSERT_TRUE(g != NULL);
    bad += check_area(engs, 2, g, "rectangle");
    gpn_geom_free(g);
    /* 2. A concave U with a hole, across tile borders. */
    g = geom_3035("[[[[4010003.3,2505007.1],[4040011.9,2505003.2],[4040001.7,2540013.3],[4030009.1,2540001.1],"
                  "[4030013.3,2515011.9],[4020017.7,2515003.3],[4020007.3,2540017.1],[4010011.1,2540003.9],"
                  "[4010003.3,2505007.1]],"
                  "[[4013001.3,2507003.7],[4037009.9,2507001.1],[4036007.7,2512003.3],[4013003.1,2512009.9],"
                  "[4013001.3,2507003.7]]]]");
    ASSERT_TRUE(g != NULL);
    bad += check_area(engs, 2, g, "concave+hole");
    gpn_geom_free(g);
    /* 3. A multipolygon: a triangle and a skewed quad in different tiles. */
    g = geom_3035("[[[[4001013.3,2501011.1],[4009017.7,2501003.3],[4004011.9,2509013.3],[4001013.3,2501011.1]]],"
                  "[[[4031003.3,2531011.1],[4044019.9,2529007.7],[4047013.1,2546003.3],[4033007.3,2541009.9],"
                  "[4031003.3,2531011.1]]]]");
    ASSERT_TRUE(g != NULL);
    bad += check_area(engs, 2, g, "multipolygon");
    gpn_geom_free(g);
    /* 4. Every tile entirely inside (the full-tile shortcuts), with thin
     * strips in the neighbouring tiles. */
    g = geom_3035("[[[[3999000.5,2499000.5],[4061000.5,2499000.5],[4061000.5,2551000.5],[3999000.5,2551000.5],"
                  "[3999000.5,2499000.5]]]]");
    ASSERT_TRUE(g != NULL);
    bad += check_area(engs, 2, g, "all tiles");
    gpn_geom_free(g);
    /* 5. A bbox given in EPSG:3035. */
    struct gpn_geom *g4 = NULL;
    ASSERT_OK(gpn_report_area_from_bbox("4000100,2500100,4049900,2549900", 3035, NULL, &g4, &e), &e);
    bad += check_area(engs, 2, g4, "bbox3035");
    gpn_geom_free(g4);
    gpn_report_engine_close(engs[0]);
    gpn_report_engine_close(engs[1]);
    ASSERT_EQ_INT(bad, 0);
}

static void test_outside_and_empty(void)
{
    struct gpn_err e = {0};
    ASSERT_OK(g_atlas_rc, &g_atlas_err);
    struct gpn_report_engine *eng;
    ASSERT_OK(gpn_report_engine_open(atlas_dir(), NULL, &eng, &e), &e);
    struct gpn_report *r = NULL;
    /* Entirely in the tile without a store. */
    struct gpn_geom *g = geom_3035("[[[[4051000,2501000],[4060000,2501000],[4060000,2510000],[4051000,2501000]]]]");
    ASSERT_TRUE(g != NULL);
    ASSERT_RC(gpn_report_run(eng, g, NULL, &r, &e), GPN_ERANGE);
    ASSERT_STR_CONTAINS(e.msg, "outside the atlas data");
    gpn_geom_free(g);
    /* Smaller than a cell, between cell centres. */
    g = geom_3035("[[[[4010001,2510001],[4010020,2510001],[4010020,2510020],[4010001,2510001]]]]");
    ASSERT_TRUE(g != NULL);
    ASSERT_RC(gpn_report_run(eng, g, NULL, &r, &e), GPN_ERANGE);
    gpn_geom_free(g);
    /* Too many tiles for the limit. */
    g = geom_3035("[[[[4000000,2500000],[4200000,2500000],[4200000,2700000],[4000000,2500000]]]]");
    ASSERT_TRUE(g != NULL);
    struct gpn_report_limits lim = {.max_tiles = 10};
    ASSERT_RC(gpn_report_run(eng, g, &lim, &r, &e), GPN_ETOOBIG);
    gpn_geom_free(g);
    /* Not in EPSG:3035. */
    struct gpn_geom *g4;
    ASSERT_OK(gpn_geom_from_bbox(3, 43, 4, 44, 4326, &g4, &e), &e);
    ASSERT_RC(gpn_report_run(eng, g4, NULL, &r, &e), GPN_EINVAL);
    gpn_geom_free(g4);
    ASSERT_TRUE(r == NULL);
    gpn_report_engine_close(eng);
}

/* Each bad input: the code and a word of the message. */
static void test_invalid_geometry(void)
{
    struct {
        const char *json;
        int code;
        const char *word;
    } cases[] = {
        {"", GPN_EFORMAT, "empty"},
        {"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[1,0],[1,1],[0,1]]]}", GPN_EFORMAT, ""}, /* unclosed */
        {"{\"type\":\"Polygon\",\"coordinates\":[]}", GPN_EFORMAT, ""},                            /* empty */
        {"{\"type\":\"Polygon\",\"coordinates\":[[[5,45],[\"6\",45],[6,46],[5,45]]]}", GPN_EFORMAT, ""},
        {"{\"type\":\"Polygon\",\"coordinates\":[[[5,45],[6,46],[6,45],[5,46],[5,45]]]}", GPN_EFORMAT,
         "self-intersection"}, /* bow-tie */
        {"{\"type\":\"Polygon\",\"coordinates\":[[[5,45],[7,45],[7,47],[6,44],[5,47],[5,45]]]}", GPN_EFORMAT,
         "self-intersection"},
        {"{\"type\":\"Polygon\",\"coordinates\":[[[5,45],[6,45],[7,45],[5,45]]]}", GPN_EFORMAT, "no area"},
        {"{\"type\":\"Polygon\",\"coordinates\":[[[5,45],[6,45],[6,46],[5,46],[5,45]],"
         "[[7,45],[8,45],[8,46],[7,45]]]}",
         GPN_EFORMAT, "outside its exterior"},
        {"{\"type\":\"Polygon\",\"coordinates\":[[[5,45],[6,45],[6,46],[5,46],[5,45]],"
         "[[5.5,44.5],[5.8,45.5],[5.2,45.5],[5.5,44.5]]]}",
         GPN_EFORMAT, "cross"},
        {"{\"type\":\"Polygon\",\"coordinates\":[[[5,45],[6,45],[6,46],[5.5,45],[5,46],[5,45]]]}", GPN_EFORMAT,
         "self-intersection"}, /* a vertex touching an edge */
        {"{\"type\":\"Polygon\",\"coordinates\":[[[-10,35],[30,35],[30,70],[-10,70],[-10,35]]]}", GPN_ERANGE,
         "larger than the limit"},
        {"{\"type\":\"Polygon\",\"coordinates\":[[[5,95],[6,95],[6,96],[5,95]]]}", GPN_EFORMAT, ""},
        {"{\"type\":\"Polygon\",\"coordinates\":[[[-100,45],[-99,45],[-99,46],[-100,45]]]}", GPN_ERANGE,
         "outside Europe"},
        {"{\"type\":\"Point\",\"coordinates\":[5,45]}", GPN_EUNSUPPORTED, ""},
        {"[1,2,3]", GPN_EFORMAT, ""},
        {"{\"type\":\"Polygon\",\"coordinates\":[[[5,45],[6,45],[6,46],[5,45]]]", GPN_EFORMAT, ""},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct gpn_err e = {0};
        struct gpn_geom *g = (struct gpn_geom *)1;
        int rc = gpn_report_area_from_geojson(cases[i].json, strlen(cases[i].json), NULL, &g, &e);
        if (rc != cases[i].code || g != NULL || !strstr(e.msg, cases[i].word)) {
            fprintf(stderr, "  case %zu: rc %d (want %d), msg '%s' (want '%s')\n", i, rc, cases[i].code, e.msg,
                    cases[i].word);
            bad++;
        }
    }
    ASSERT_EQ_INT(bad, 0);

    /* Too many vertices and a too large body, with small limits. */
    struct gpn_buf b = {0};
    gpn_buf_puts(&b, "{\"type\":\"Polygon\",\"coordinates\":[[");
    for (int i = 0; i < 200; i++) {
        double a = 2 * M_PI * i / 200;
        gpn_buf_printf(&b, "[%.6f,%.6f],", 5 + 0.1 * cos(a), 45 + 0.1 * sin(a));
    }
    gpn_buf_puts(&b, "[5.1,45]]]}");
    struct gpn_report_limits lim = {.max_points = 100};
    struct gpn_geom *g = NULL;
    struct gpn_err e = {0};
    ASSERT_RC(gpn_report_area_from_geojson(b.data, b.len, &lim, &g, &e), GPN_ETOOBIG);
    lim = (struct gpn_report_limits){.max_body = 1000};
    ASSERT_RC(gpn_report_area_from_geojson(b.data, b.len, &lim, &g, &e), GPN_ETOOBIG);
    ASSERT_OK(gpn_report_area_from_geojson(b.data, b.len, NULL, &g, &e), &e); /* fine with defaults */
    ASSERT_EQ_INT(g->epsg, 3035);
    ASSERT_NEAR(gpn_geom_area(g) / 1e6, M_PI * 0.1 * 0.1 * 111.2 * 111.2 * cos(45 * M_PI / 180), 3.0);
    gpn_geom_free(g);
    gpn_buf_free(&b);
    /* A hole touching its exterior at one point is valid; a multipolygon
     * with overlapping parts is accepted (union). */
    const char *ok[] = {
        "{\"type\":\"Polygon\",\"coordinates\":[[[5,45],[6,45],[6,46],[5,46],[5,45]],"
        "[[5,45.5],[5.5,45.2],[5.5,45.8],[5,45.5]]]}",
        "{\"type\":\"MultiPolygon\",\"coordinates\":[[[[5,45],[6,45],[6,46],[5,45]]],[[[5.5,45],[6.5,45],[6.5,46],"
        "[5.5,45]]]]}",
        "{\"type\":\"FeatureCollection\",\"features\":[{\"type\":\"Feature\",\"properties\":{},\"geometry\":"
        "{\"type\":\"Polygon\",\"coordinates\":[[[5,45],[6,45],[6,46],[5,45]]]}}]}",
    };
    for (size_t i = 0; i < 3; i++) {
        ASSERT_OK(gpn_report_area_from_geojson(ok[i], strlen(ok[i]), NULL, &g, &e), &e);
        gpn_geom_free(g);
    }
    /* Bboxes. */
    ASSERT_OK(gpn_report_area_from_bbox("3.8,43.5,3.9,43.6", 0, NULL, &g, &e), &e);
    ASSERT_NEAR(gpn_geom_area(g) / 1e6, 0.1 * 111.2 * 0.1 * 111.2 * cos(43.55 * M_PI / 180), 1.0);
    gpn_geom_free(g);
    ASSERT_RC(gpn_report_area_from_bbox("3.9,43.5,3.8,43.6", 0, NULL, &g, &e), GPN_ERANGE);
    ASSERT_RC(gpn_report_area_from_bbox("a,b,c,d", 0, NULL, &g, &e), GPN_EFORMAT);
    ASSERT_RC(gpn_report_area_from_bbox("3,43", 0, NULL, &g, &e), GPN_EFORMAT);
}

static void test_named_areas_and_limits_file(void)
{
    struct gpn_err e = {0};
    const char *atlas = private_atlas();
    char path[700];
    snprintf(path, sizeof path, "%s/areas", atlas);
    ASSERT_OK(gpn_mkdir_p(path, &e), &e);
    snprintf(path, sizeof path, "%s/areas/park.geojson", atlas);
    const char *park = "{\"type\":\"Polygon\",\"coordinates\":[[[3.8,43.5],[3.9,43.5],[3.9,43.6],[3.8,43.5]]]}";
    ASSERT_OK(gpn_file_write_atomic(path, park, strlen(park), &e), &e);
    struct gpn_geom *g = NULL;
    ASSERT_OK(gpn_report_area_named(atlas, "park", NULL, &g, &e), &e);
    ASSERT_EQ_INT(g->epsg, 3035);
    gpn_geom_free(g);
    /* A country from the shipped Natural Earth file (Luxembourg is small). */
    ASSERT_OK(gpn_report_area_named(atlas, "Luxembourg", NULL, &g, &e), &e);
    ASSERT_NEAR(gpn_geom_area(g) / 1e6, 2586, 300);
    gpn_geom_free(g);
    /* France is larger than the default limit. */
    ASSERT_RC(gpn_report_area_named(atlas, "France", NULL, &g, &e), GPN_ERANGE);
    ASSERT_RC(gpn_report_area_named(atlas, "Atlantis", NULL, &g, &e), GPN_ENOTFOUND);
    ASSERT_RC(gpn_report_area_named(atlas, "../../etc/passwd", NULL, &g, &e), GPN_ENOTFOUND);

    struct gpn_report_limits l = {0};
    ASSERT_OK(gpn_report_limits_load(atlas, &l, &e), &e);
    ASSERT_EQ_INT(l.max_points, 100000);
    snprintf(path, sizeof path, "%s/report.json", atlas);
    const char *cfg = "{\"max_area_km2\": 5, \"max_points\": 50}";
    ASSERT_OK(gpn_file_write_atomic(path, cfg, strlen(cfg), &e), &e);
    l = (struct gpn_report_limits){0};
    ASSERT_OK(gpn_report_limits_load(atlas, &l, &e), &e);
    ASSERT_EQ_INT(l.max_points, 50);
    ASSERT_NEAR(l.max_area_km2, 5, 0);
    ASSERT_EQ_INT(l.max_tiles, 1000);
    ASSERT_RC(gpn_report_area_named(atlas, "park", &l, &g, &e), GPN_ERANGE); /* ~50 km2 > 5 */
    const char *bad = "{\"max_area\": 5}";
    ASSERT_OK(gpn_file_write_atomic(path, bad, strlen(bad), &e), &e);
    ASSERT_RC(gpn_report_limits_load(atlas, &l, &e), GPN_EFORMAT);
    ASSERT_STR_CONTAINS(e.msg, "unknown key");
}

static void test_exports(void)
{
    struct gpn_err e = {0};
    ASSERT_OK(g_atlas_rc, &g_atlas_err);
    struct gpn_report_engine *eng;
    ASSERT_OK(gpn_report_engine_open(atlas_dir(), NULL, &eng, &e), &e);
    struct gpn_geom *g = geom_3035("[[[[4012345.5,2512345.5],[4037345.5,2512345.5],[4037345.5,2537777.7],"
                                   "[4012345.5,2537777.7],[4012345.5,2512345.5]]]]");
    ASSERT_TRUE(g != NULL);
    struct gpn_report *r;
    ASSERT_OK(gpn_report_run(eng, g, NULL, &r, &e), &e);
    struct gpn_buf b = {0};
    ASSERT_OK(gpn_report_to_json(r, 0, &b), NULL);
    json_error_t je;
    json_t *root = json_loads(b.data, 0, &je);
    ASSERT_TRUE(root != NULL);
    ASSERT_STR_EQ(json_string_value(json_object_get(root, "schema_version")), GPN_REPORT_SCHEMA_VERSION);
    json_t *area = json_object_get(root, "area");
    ASSERT_EQ_INT(json_integer_value(json_object_get(area, "cells")), r->cells);
    ASSERT_NEAR(json_number_value(json_object_get(area, "km2")), r->cells * 0.0025, 1e-3);
    json_t *counts = json_object_get(root, "counts");
    ASSERT_EQ_INT(json_integer_value(json_object_get(counts, "species")), 6);
    ASSERT_EQ_INT(json_integer_value(json_object_get(counts, "protected")), 1);
    ASSERT_EQ_INT(json_integer_value(json_object_get(counts, "threatened")), 2); /* CR + VU */
    ASSERT_EQ_INT(json_integer_value(json_object_get(counts, "invasive")), 1);
    ASSERT_EQ_INT(json_integer_value(json_object_get(counts, "tree")), 1);
    ASSERT_EQ_INT(json_integer_value(json_object_get(counts, "endemic")), 1);
    json_t *sp = json_object_get(root, "species");
    ASSERT_EQ_INT(json_array_size(sp), 6);
    json_t *first = json_array_get(sp, 0);
    ASSERT_EQ_INT(json_integer_value(json_object_get(first, "rank")), 1);
    ASSERT_EQ_INT(json_integer_value(json_object_get(first, "cells")), r->species[0].cells);
    /* Species 106 is not in the catalog: null name, no flags. */
    int found106 = 0;
    for (size_t i = 0; i < json_array_size(sp); i++) {
        json_t *s = json_array_get(sp, i);
        if (json_integer_value(json_object_get(s, "id")) == 101) {
            ASSERT_STR_EQ(json_string_value(json_object_get(s, "scientific_name")), "Alpha prima");
            ASSERT_STR_EQ(json_string_value(json_object_get(s, "redlist")), "CR");
            ASSERT_TRUE(json_is_true(json_object_get(s, "directive")));
        }
        if (json_integer_value(json_object_get(s, "id")) == 106) {
            found106 = 1;
            ASSERT_TRUE(json_is_null(json_object_get(s, "scientific_name")));
        }
    }
    ASSERT_TRUE(found106);
    json_t *ind = json_object_get(json_object_get(root, "indicators"), "richness");
    ASSERT_TRUE(json_is_object(ind));
    ASSERT_EQ_INT(json_array_size(json_object_get(json_object_get(ind, "histogram"), "counts")), r->ind[0].nbins);
    json_t *hab = json_object_get(root, "habitats");
    ASSERT_TRUE(json_array_size(json_object_get(hab, "level1")) >= 2);
    json_t *models = json_object_get(root, "models");
    ASSERT_NEAR(json_number_value(json_object_get(models, "alpha")), 0.05, 1e-12);
    ASSERT_STR_CONTAINS(json_string_value(json_object_get(models, "sdm")), "models/sdm.gpnm");
    json_decref(root);

    /* Truncated species list keeps the counts. */
    gpn_buf_reset(&b);
    ASSERT_OK(gpn_report_to_json(r, 2, &b), NULL);
    root = json_loads(b.data, 0, &je);
    ASSERT_EQ_INT(json_array_size(json_object_get(root, "species")), 2);
    ASSERT_EQ_INT(json_integer_value(json_object_get(json_object_get(root, "counts"), "species")), 6);
    json_decref(root);

    gpn_buf_reset(&b);
    ASSERT_OK(gpn_report_species_csv(r, &b), NULL);
    int lines = 0;
    for (size_t i = 0; i < b.len; i++) lines += b.data[i] == '\n';
    ASSERT_EQ_INT(lines, 7);
    ASSERT_TRUE(!strncmp(b.data, "rank,id,scientific_name", 23));
    ASSERT_STR_CONTAINS(b.data, ",Alpha prima,Alpha,Testaceae,");
    gpn_buf_reset(&b);
    ASSERT_OK(gpn_report_habitats_csv(r, &b), NULL);
    ASSERT_STR_CONTAINS(b.data, "3,T11,Temperate Salix and Populus riparian forest,");
    ASSERT_STR_CONTAINS(b.data, "\"Grasslands and lands dominated by forbs, mosses or lichens\"");

    gpn_buf_reset(&b);
    ASSERT_OK(gpn_report_to_geojson(r, g, &b, &e), &e);
    root = json_loads(b.data, 0, &je);
    ASSERT_TRUE(root != NULL);
    json_t *feat = json_array_get(json_object_get(root, "features"), 0);
    ASSERT_EQ_INT(json_integer_value(json_object_get(json_object_get(feat, "properties"), "species")), 6);
    json_t *ring = json_array_get(json_array_get(json_object_get(json_object_get(feat, "geometry"), "coordinates"), 0), 0);
    double lon = json_number_value(json_array_get(json_array_get(ring, 0), 0));
    ASSERT_TRUE(lon > -30 && lon < 45);
    ASSERT_EQ_INT(json_array_size(ring), 5); /* closed */
    /* The GeoJSON export reads back as the same area. */
    struct gpn_geom *g2 = NULL;
    ASSERT_OK(gpn_report_area_from_geojson(b.data, b.len, NULL, &g2, &e), &e);
    ASSERT_NEAR(gpn_geom_area(g2), gpn_geom_area(g), gpn_geom_area(g) * 1e-4);
    gpn_geom_free(g2);
    json_decref(root);
    gpn_buf_free(&b);
    gpn_report_free(r);
    gpn_geom_free(g);
    gpn_report_engine_close(eng);
}

/* A store rewritten after the engine cached it is re-read. */
static void test_store_cache_refresh(void)
{
    struct gpn_err e = {0};
    ASSERT_OK(build_atlas(private_atlas(), &e), &e);
    struct gpn_report_opts o = {.threads = 2, .store_cache = 1};
    struct gpn_report_engine *eng;
    ASSERT_OK(gpn_report_engine_open(private_atlas(), &o, &eng, &e), &e);
    struct gpn_geom *g = geom_3035("[[[[4001000,2501000],[4049000,2501000],[4049000,2549000],[4001000,2501000]]]]");
    ASSERT_TRUE(g != NULL);
    struct gpn_report *r;
    ASSERT_OK(gpn_report_run(eng, g, NULL, &r, &e), &e);
    ASSERT_EQ_INT(r->nspecies, 6);
    int64_t before = r->cells;
    gpn_report_free(r);
    /* Replace tile 0's store by one with a single species everywhere. */
    struct gpn_store_writer *w;
    ASSERT_OK(gpn_store_writer_create(TILES[0], &w, &e), &e);
    ASSERT_OK(gpn_store_writer_add_range(w, 999, 0, GPN_STORE_TILE_CELLS, &e), &e);
    char path[700];
    gpn_store_tile_path(private_atlas(), TILES[0], path, sizeof path);
    ASSERT_OK(gpn_store_writer_write(w, path, &e), &e);
    gpn_store_writer_destroy(w);
    ASSERT_OK(gpn_report_run(eng, g, NULL, &r, &e), &e);
    ASSERT_EQ_INT(r->cells, before);
    ASSERT_TRUE(find_sp(r, 999) != NULL);
    gpn_report_free(r);
    gpn_geom_free(g);
    gpn_report_engine_close(eng);
}

/* ==== the HTTP handler (no sockets) ===================================== */

int gpn_api_init(struct gpn_http_atlas *atlas, struct gpn_err *err);
void gpn_api_fini(struct gpn_http_atlas *atlas);
int gpn_api_report(const struct gpn_http_req *req, struct gpn_http_resp *resp, void *atlas_ctx);

/* Calls the handler; returns the status (a handler error becomes the
 * status of its code) and leaves the body in resp. */
static int api_call(struct gpn_http_atlas *at, const char *method, const char *target, const char *body,
                    struct gpn_http_resp *resp)
{
    struct gpn_http_req req;
    struct gpn_err e = {0};
    gpn_http_resp_init(resp);
    if (gpn_http_req_init(&req, method, target, &e)) {
        gpn_http_req_free(&req);
        return -1;
    }
    if (body) gpn_http_req_set_body(&req, body, strlen(body));
    int rc = gpn_api_report(&req, resp, at);
    gpn_http_req_free(&req);
    return rc < 0 ? gpn_err_http_status(rc) : resp->status;
}

/* The "code" of a JSON error body, or "" (static buffer). */
static const char *error_code(const struct gpn_http_resp *resp)
{
    static char buf[64];
    buf[0] = 0;
    json_t *root = resp->body.data ? json_loads(resp->body.data, 0, NULL) : NULL;
    const char *c = json_string_value(json_object_get(json_object_get(root, "error"), "code"));
    if (c) gpn_strlcpy(buf, c, sizeof buf);
    json_decref(root);
    return buf;
}

static void test_api_handler(void)
{
    struct gpn_err e = {0};
    ASSERT_OK(g_atlas_rc, &g_atlas_err);
    struct gpn_http_cfg cfg;
    gpn_http_cfg_defaults(&cfg);
    gpn_strlcpy(cfg.atlas, atlas_dir(), sizeof cfg.atlas);
    cfg.max_body = 4096;
    struct gpn_http_atlas at = {.dir = atlas_dir(), .cfg = &cfg};
    ASSERT_OK(gpn_api_init(&at, &e), &e);
    struct gpn_http_resp resp;
    const char *aoi = "{\"type\":\"Polygon\",\"crs\":{\"type\":\"name\",\"properties\":{\"name\":\"EPSG:3035\"}},"
                      "\"coordinates\":[[[4012345.5,2512345.5],[4037345.5,2512345.5],[4037345.5,2537777.7],"
                      "[4012345.5,2512345.5]]]}";
    ASSERT_EQ_INT(api_call(&at, "POST", "/api/report", aoi, &resp), 200);
    ASSERT_STR_EQ(resp.content_type, "application/json");
    json_t *root = json_loads(resp.body.data, 0, NULL);
    ASSERT_TRUE(root != NULL);
    ASSERT_EQ_INT(json_integer_value(json_object_get(json_object_get(root, "counts"), "species")), 6);
    json_decref(root);
    gpn_http_resp_free(&resp);

    ASSERT_EQ_INT(api_call(&at, "POST", "/api/report?format=csv&csv=habitats", aoi, &resp), 200);
    ASSERT_STR_CONTAINS(resp.content_type, "text/csv");
    ASSERT_TRUE(!strncmp(resp.body.data, "level,code,name,cells,pct", 25));
    gpn_http_resp_free(&resp);
    ASSERT_EQ_INT(api_call(&at, "POST", "/api/report?format=geojson", aoi, &resp), 200);
    ASSERT_STR_EQ(resp.content_type, "application/geo+json");
    gpn_http_resp_free(&resp);
    ASSERT_EQ_INT(api_call(&at, "GET", "/api/report?bbox=4001000,2501000,4049000,2549000&bbox_crs=3035&max_species=3",
                           NULL, &resp),
                  200);
    root = json_loads(resp.body.data, 0, NULL);
    ASSERT_EQ_INT(json_array_size(json_object_get(root, "species")), 3);
    json_decref(root);
    gpn_http_resp_free(&resp);

    /* Every bad input is a 400 with a JSON error. */
    struct {
        const char *method, *target, *body, *code;
    } bad[] = {
        {"POST", "/api/report", "", "FORMAT"},
        {"POST", "/api/report", "{not json", "FORMAT"},
        {"POST", "/api/report", "{\"type\":\"Polygon\",\"coordinates\":[[[5,45],[6,46],[6,45],[5,46],[5,45]]]}", "FORMAT"},
        {"POST", "/api/report", "{\"type\":\"Polygon\",\"coordinates\":[[[5,45],[6,45],[6,46],[5,46]]]}", "FORMAT"},
        {"POST", "/api/report", "{\"type\":\"Polygon\",\"coordinates\":[[[20,60],[21,60],[21,61],[20,60]]]}", "RANGE"},
        {"POST", "/api/report", "{\"type\":\"Polygon\",\"coordinates\":[[[-10,35],[30,35],[30,70],[-10,35]]]}", "RANGE"},
        {"POST", "/api/report", "{\"type\":\"Point\",\"coordinates\":[5,45]}", "UNSUPPORTED"},
        {"POST", "/api/report?format=xml", aoi, "INVAL"},
        {"GET", "/api/report", NULL, "INVAL"},
        {"GET", "/api/report?bbox=1,2,3", NULL, "FORMAT"},
        {"GET", "/api/report?country=Atlantis", NULL, "NOTFOUND"},
        {"GET", "/api/report?bbox=10,50,10.1,50.1", NULL, "RANGE"},
        {"GET", "/api/report?bbox=5,45,6,46&max_species=-1", NULL, "RANGE"},
    };
    int nbad = 0;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int st = api_call(&at, bad[i].method, bad[i].target, bad[i].body, &resp);
        if (st != 400 || strcmp(error_code(&resp), bad[i].code) || strcmp(resp.content_type, "application/json")) {
            fprintf(stderr, "  bad %zu: status %d code '%s' body %s\n", i, st, error_code(&resp),
                    resp.body.data ? resp.body.data : "");
            nbad++;
        }
        gpn_http_resp_free(&resp);
    }
    ASSERT_EQ_INT(nbad, 0);
    /* An oversized body (over the server's max_body). */
    char *big = malloc(6000);
    memset(big, ' ', 5999);
    big[5999] = 0;
    memcpy(big, "{\"type\":\"Polygon\"", 17);
    ASSERT_EQ_INT(api_call(&at, "POST", "/api/report", big, &resp), 400);
    ASSERT_STR_EQ(error_code(&resp), "TOOBIG");
    gpn_http_resp_free(&resp);
    free(big);
    ASSERT_EQ_INT(api_call(&at, "PUT", "/api/report", aoi, &resp), 405);
    gpn_http_resp_free(&resp);
    ASSERT_EQ_INT(api_call(&at, "GET", "/api/report/nothing", NULL, &resp), 404);
    gpn_http_resp_free(&resp);
    gpn_api_fini(&at);
    ASSERT_TRUE(at.api == NULL);
}

int main(void)
{
    snprintf(g_atlas, sizeof g_atlas, "/tmp/gpn-test-report-XXXXXX");
    if (!mkdtemp(g_atlas)) {
        perror("mkdtemp");
        return 1;
    }
    g_atlas_rc = build_atlas(g_atlas, &g_atlas_err);
    RUN(test_engine_counts);
    RUN(test_outside_and_empty);
    RUN(test_invalid_geometry);
    RUN(test_named_areas_and_limits_file);
    RUN(test_exports);
    RUN(test_store_cache_refresh);
    RUN(test_api_handler);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_atlas);
    if (system(cmd) != 0) fprintf(stderr, "  warning: could not remove %s\n", g_atlas);
    return test_summary();
}
