/*
 * test_report_import.c - `gpn import` as a library (gpn_import_run): file
 * name parsing, maps on the grid reproduced bit for bit, probability and
 * binary kinds, updates versus --replace, catalog resolution (GeoPlant id,
 * name, new species), STAC items, and errors. (The EPSG:3857 GeoPl@ntNet
 * logit product is checked against an independent GDAL/osr computation in
 * tests/scripts/test_report_crosscheck.py.)
 */
#include "test.h"

#include <stdint.h>

#include "gpn/catalog.h"
#include "gpn/raster.h"
#include "gpn/report.h"
#include "gpn/store.h"
#include "gpn/util.h"

static void test_parse_name(void)
{
    struct gpn_import_name nm;
    struct gpn_err e = {0};
    ASSERT_OK(gpn_import_parse_name("/x/gpn_v1_50m_fr_1358_quercus-ilex.tif", &nm, &e), &e);
    ASSERT_EQ_INT(nm.kind, 1);
    ASSERT_EQ_INT(nm.id, 1358);
    ASSERT_STR_EQ(nm.country, "fr");
    ASSERT_STR_EQ(nm.name, "Quercus ilex");
    ASSERT_OK(gpn_import_parse_name("gpn_v2_50m_it_7_abies_alba_subsp_alba.TIF", &nm, &e), &e);
    ASSERT_EQ_INT(nm.id, 7);
    ASSERT_STR_EQ(nm.name, "Abies alba subsp alba");
    ASSERT_OK(gpn_import_parse_name("maps/4242.tif", &nm, &e), &e);
    ASSERT_EQ_INT(nm.kind, 2);
    ASSERT_EQ_INT(nm.id, 4242);
    ASSERT_OK(gpn_import_parse_name("Fagus_sylvatica.tiff", &nm, &e), &e);
    ASSERT_EQ_INT(nm.kind, 3);
    ASSERT_STR_EQ(nm.name, "Fagus sylvatica");
    ASSERT_RC(gpn_import_parse_name("gpn_v1_50m_fr_abc_x.tif", &nm, &e), GPN_EFORMAT);
    ASSERT_RC(gpn_import_parse_name("gpn_v1_10m_fr_12_x.tif", &nm, &e), GPN_EFORMAT);
    ASSERT_RC(gpn_import_parse_name("_123.tif", &nm, &e), GPN_EFORMAT);
}

/* A 1000 x 1000 map on the grid at E4000 N2500 (2 x 2 tiles). */
static int write_map(const char *path, enum gpn_dtype dt, const void *data, struct gpn_err *e)
{
    struct gpn_cog_opts o = {.width = 1000, .height = 1000, .bands = 1, .dtype = dt, .epsg = 3035,
                             .has_nodata = 1, .nodata = dt == GPN_DT_F32 ? -1 : 255, .categorical = dt != GPN_DT_F32};
    o.gt[0] = 4000000;
    o.gt[1] = 50;
    o.gt[3] = 2550000;
    o.gt[5] = -50;
    return gpn_cog_write(path, &o, data, e);
}

/* Cells of species id in tile t (-1 when the tile has no store). */
static int64_t store_cells(const char *atlas, struct gpn_tile t, uint32_t id)
{
    char path[1024];
    gpn_store_tile_path(atlas, t, path, sizeof path);
    struct gpn_store *s;
    struct gpn_err e = {0};
    if (gpn_store_open(path, GPN_STORE_VERIFY, &s, &e)) return -1;
    int64_t i = gpn_store_find(s, id), n = i < 0 ? 0 : gpn_store_cardinality(s, (size_t)i);
    gpn_store_close(s);
    return n;
}

static void test_import_on_grid(void)
{
    struct gpn_err e = {0};
    char maps[600], atlas[600], p[700];
    snprintf(maps, sizeof maps, "%s/maps", test_tmpdir());
    snprintf(atlas, sizeof atlas, "%s/atlas", test_tmpdir());
    ASSERT_OK(gpn_mkdir_p(maps, &e), &e);
    uint8_t *bin = malloc(1000 * 1000);
    float *prob = malloc(1000 * 1000 * sizeof *prob);
    int64_t want_bin[4] = {0}, want_prob[4] = {0}; /* per tile: SW, SE, NW, NE */
    for (int r = 0; r < 1000; r++)
        for (int c = 0; c < 1000; c++) {
            int i = r * 1000 + c, tile = (r < 500 ? 2 : 0) + (c >= 500);
            bin[i] = (uint8_t)((r * 7 + c * 3) % 11 == 0);
            if (r == 3 && c < 10) bin[i] = 255; /* nodata */
            want_bin[tile] += bin[i] == 1;
            prob[i] = (float)((r + 2 * c) % 100) / 100.0f;
            if (c == 999) prob[i] = -1; /* nodata */
            want_prob[tile] += prob[i] >= 0.8f;
        }
    snprintf(p, sizeof p, "%s/101.tif", maps);
    ASSERT_OK(write_map(p, GPN_DT_U8, bin, &e), &e);
    snprintf(p, sizeof p, "%s/Quercus_ilex.tif", maps);
    ASSERT_OK(write_map(p, GPN_DT_F32, prob, &e), &e);
    /* A GeoPlant id known to the catalog resolves to its catalog id. */
    struct gpn_catalog *cat;
    ASSERT_OK(gpn_mkdir_p(atlas, &e), &e);
    snprintf(p, sizeof p, "%s/catalog.sqlite", atlas);
    ASSERT_OK(gpn_catalog_open(p, GPN_CATALOG_CREATE, &cat, &e), &e);
    struct gpn_species sp;
    gpn_species_init(&sp);
    sp.id = 77;
    sp.geoplant_id = 5555;
    gpn_strlcpy(sp.scientific_name, "Fagus sylvatica", sizeof sp.scientific_name);
    ASSERT_OK(gpn_catalog_species_upsert(cat, &sp, NULL, &e), &e);
    gpn_catalog_close(cat);
    snprintf(p, sizeof p, "%s/gpn_v1_50m_fr_5555_fagus-sylvatica.tif", maps);
    ASSERT_OK(write_map(p, GPN_DT_U8, bin, &e), &e); /* u8 under a logit name: --kind binary below */

    struct gpn_import_opts o = {.threshold = 0.8, .kind = GPN_IMPORT_AUTO};
    struct gpn_import_stats st;
    const char *in1[] = {maps};
    /* auto: the GeoPl@ntNet name makes it a logit map; u8 values 0/1 are
     * logits < logit(0.8) = 1.39, so nothing is present for species 77. */
    ASSERT_OK(gpn_import_run(atlas, in1, 1, &o, &st, &e), &e);
    ASSERT_EQ_INT(st.files, 3);
    ASSERT_EQ_INT(st.species, 3);
    ASSERT_EQ_INT(st.tiles, 4);
    struct gpn_tile tiles[4] = {{4000, 2500}, {4025, 2500}, {4000, 2525}, {4025, 2525}};
    snprintf(p, sizeof p, "%s/catalog.sqlite", atlas);
    ASSERT_OK(gpn_catalog_open(p, 0, &cat, &e), &e);
    ASSERT_OK(gpn_catalog_species_find(cat, "Quercus ilex", &sp, &e), &e);
    uint32_t quercus = (uint32_t)sp.id;
    struct gpn_model_run *run = malloc(sizeof *run);
    ASSERT_OK(gpn_catalog_model_run_latest(cat, GPN_MODEL_SDM, run, &e), &e);
    ASSERT_STR_CONTAINS(run->config, "\"source\":\"import\"");
    ASSERT_STR_CONTAINS(run->config, "\"threshold\":0.8");
    free(run);
    gpn_catalog_close(cat);
    for (int t = 0; t < 4; t++) {
        ASSERT_EQ_INT(store_cells(atlas, tiles[t], 101), want_bin[t]);
        ASSERT_EQ_INT(store_cells(atlas, tiles[t], quercus), want_prob[t]);
        ASSERT_EQ_INT(store_cells(atlas, tiles[t], 77), 0);
    }
    /* Bit for bit: the cells of species 101 in tile NW are the map's. */
    char sp_path[1024];
    gpn_store_tile_path(atlas, tiles[2], sp_path, sizeof sp_path);
    struct gpn_store *s;
    ASSERT_OK(gpn_store_open(sp_path, 0, &s, &e), &e);
    uint32_t *cells;
    size_t n;
    ASSERT_OK(gpn_store_cells(s, (size_t)gpn_store_find(s, 101), &cells, &n, &e), &e);
    int bad = 0;
    for (size_t i = 0; i < n; i++) bad += bin[(cells[i] / 500) * 1000 + cells[i] % 500] != 1;
    free(cells);
    gpn_store_close(s);
    ASSERT_EQ_INT(bad, 0);

    /* Update: re-import only species 77 as binary; the others stay. */
    snprintf(p, sizeof p, "%s/gpn_v1_50m_fr_5555_fagus-sylvatica.tif", maps);
    const char *in2[] = {p};
    o.kind = GPN_IMPORT_BINARY;
    ASSERT_OK(gpn_import_run(atlas, in2, 1, &o, &st, &e), &e);
    for (int t = 0; t < 4; t++) {
        ASSERT_EQ_INT(store_cells(atlas, tiles[t], 77), want_bin[t]);
        ASSERT_EQ_INT(store_cells(atlas, tiles[t], 101), want_bin[t]);
    }
    /* --replace: the stores hold only what this import brought. */
    o.replace = 1;
    ASSERT_OK(gpn_import_run(atlas, in2, 1, &o, &st, &e), &e);
    ASSERT_EQ_INT(store_cells(atlas, tiles[0], 101), 0);
    ASSERT_EQ_INT(store_cells(atlas, tiles[0], 77), want_bin[0]);

    /* A STAC item pointing at a map. */
    char item[700], atlas2[600];
    snprintf(item, sizeof item, "%s/item.json", maps);
    const char *json = "{\"type\":\"Feature\",\"stac_version\":\"1.0.0\",\"id\":\"x\",\"assets\":{"
                       "\"thumb\":{\"href\":\"thumb.png\"},\"data\":{\"href\":\"101.tif\",\"type\":\"image/tiff\"}}}";
    ASSERT_OK(gpn_file_write_atomic(item, json, strlen(json), &e), &e);
    snprintf(atlas2, sizeof atlas2, "%s/atlas2", test_tmpdir());
    const char *in3[] = {item};
    o = (struct gpn_import_opts){0};
    ASSERT_OK(gpn_import_run(atlas2, in3, 1, &o, &st, &e), &e);
    ASSERT_EQ_INT(st.files, 1);
    ASSERT_EQ_INT(store_cells(atlas2, tiles[3], 101), want_bin[3]);

    /* Errors. */
    const char *none[] = {"/nonexistent/maps"};
    ASSERT_RC(gpn_import_run(atlas2, none, 1, &o, &st, &e), GPN_ENOTFOUND);
    o.threshold = 1.5;
    ASSERT_RC(gpn_import_run(atlas2, in3, 1, &o, &st, &e), GPN_ERANGE);
    free(bin);
    free(prob);
}

int main(void)
{
    RUN(test_parse_name);
    RUN(test_import_on_grid);
    return test_summary();
}
