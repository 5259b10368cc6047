/*
 * test_report_import.c - `gpn import` as a library (gpn_import_run): file
 * name parsing, maps on the grid reproduced bit for bit, probability and
 * binary kinds, updates versus --replace, catalog resolution (GeoPlant id,
 * name, new species), STAC items, and errors. (The EPSG:3857 GeoPl@ntNet
 * logit product is checked against an independent GDAL/osr computation in
 * tests/scripts/test_report_crosscheck.py.) Also: the indicator bands
 * against a naive per-cell count, scaled uint8 probability maps with their
 * coverage (indicators nodata outside), and habitat rasters with a class
 * table (good and bad).
 */
#include "test.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

/* Indicators from a store against a naive per-cell evaluation. */
static void test_indicators_naive(void)
{
    struct gpn_err e = {0};
    struct gpn_tile t = {4000, 2500};
    enum { NS = 7 };
    /* id, flags, redlist */
    struct gpn_indicator_species tr[NS] = {
        {3, GPN_SPECIES_TREE, 0},
        {5, GPN_SPECIES_DIRECTIVE | GPN_SPECIES_ENDEMIC, 5},
        {8, GPN_SPECIES_INVASIVE, 1},
        {9, GPN_SPECIES_SPECIALIST, 3},
        {12, GPN_SPECIES_TREE | GPN_SPECIES_SPECIALIST, 2},
        {20, 0, 4},
        {21, GPN_SPECIES_ENDEMIC, 0},
    };
    ASSERT_EQ_INT(gpn_redlist_ordinal("CR"), 5);
    ASSERT_EQ_INT(gpn_redlist_ordinal("VU"), 3);
    ASSERT_EQ_INT(gpn_redlist_ordinal("DD"), 0);
    ASSERT_EQ_INT(gpn_redlist_ordinal(NULL), 0);
    ASSERT_TRUE(gpn_indicator_species_find(tr, NS, 12) == &tr[4]);
    ASSERT_TRUE(gpn_indicator_species_find(tr, NS, 13) == NULL);
    uint8_t *pres = calloc((size_t)(NS + 1) * GPN_STORE_TILE_CELLS, 1); /* last: id 99, not in traits */
    uint8_t *cov = malloc(GPN_STORE_TILE_CELLS);
    struct gpn_store_writer *w;
    ASSERT_OK(gpn_store_writer_create(t, &w, &e), &e);
    for (int k = 0; k <= NS; k++) {
        uint32_t id = k < NS ? tr[k].id : 99;
        for (uint32_t c = 0; c < GPN_STORE_TILE_CELLS; c++)
            if ((c * 2654435761u >> (k + 3)) % (k + 2) == 0) {
                pres[(size_t)k * GPN_STORE_TILE_CELLS + c] = 1;
                ASSERT_OK(gpn_store_writer_add(w, id, c, &e), &e);
            }
    }
    for (uint32_t c = 0; c < GPN_STORE_TILE_CELLS; c++) cov[c] = c % 97 != 5;
    char path[700];
    snprintf(path, sizeof path, "%s/ind/species.roar", test_tmpdir());
    ASSERT_OK(gpn_store_writer_write(w, path, &e), &e);
    gpn_store_writer_destroy(w);
    struct gpn_store *s;
    ASSERT_OK(gpn_store_open(path, GPN_STORE_VERIFY, &s, &e), &e);
    uint16_t *b = malloc((size_t)GPN_REPORT_NIND * GPN_STORE_TILE_CELLS * sizeof *b);
    ASSERT_OK(gpn_indicators_compute(s, tr, NS, cov, b, &e), &e);
    int bad = 0;
    for (uint32_t c = 0; c < GPN_STORE_TILE_CELLS && bad < 5; c++) {
        uint16_t want[GPN_REPORT_NIND] = {0};
        for (int k = 0; k <= NS; k++) {
            if (!pres[(size_t)k * GPN_STORE_TILE_CELLS + c]) continue;
            want[0]++;
            if (k == NS) continue;
            unsigned f = tr[k].flags;
            want[1] += !!(f & GPN_SPECIES_DIRECTIVE);
            want[2] += tr[k].redlist >= 3;
            if (tr[k].redlist > want[3]) want[3] = (uint16_t)tr[k].redlist;
            want[4] += !!(f & GPN_SPECIES_TREE);
            want[5] += !!(f & GPN_SPECIES_INVASIVE);
            want[6] += !!(f & GPN_SPECIES_SPECIALIST);
            want[7] += !!(f & GPN_SPECIES_ENDEMIC);
        }
        for (int k = 0; k < GPN_REPORT_NIND; k++) {
            uint16_t got = b[(size_t)k * GPN_STORE_TILE_CELLS + c], exp = cov[c] ? want[k] : GPN_INDICATOR_NODATA;
            if (got != exp) {
                fprintf(stderr, "cell %u band %s: got %u want %u\n", c, gpn_report_indicator_names[k], got, exp);
                bad++;
            }
        }
    }
    ASSERT_EQ_INT(bad, 0);
    /* Written as a COG with named bands and nodata, read back the same. */
    snprintf(path, sizeof path, "%s/ind/indicators.tif", test_tmpdir());
    ASSERT_OK(gpn_indicators_write(path, t, b, NULL, &e), &e);
    struct gpn_raster *r;
    ASSERT_OK(gpn_raster_open(path, &r, &e), &e);
    ASSERT_STR_EQ(gpn_raster_band_description(r, 4), "most_threatened");
    uint16_t *rb = malloc(GPN_STORE_TILE_CELLS * sizeof *rb);
    ASSERT_OK(gpn_raster_read(r, 4, 1, 0, 0, 500, 500, GPN_DT_U16, rb, &e), &e);
    ASSERT_TRUE(!memcmp(rb, b + 3 * (size_t)GPN_STORE_TILE_CELLS, GPN_STORE_TILE_CELLS * sizeof *rb));
    gpn_raster_close(r);
    gpn_store_close(s);
    free(rb);
    free(b);
    free(pres);
    free(cov);
}

/* uint8 probability x 250 maps (as gpn synth writes), --scale 0.004: store,
 * indicators (nodata where no map covers), and a habitat raster. */
static void test_import_scaled_and_habitat(void)
{
    struct gpn_err e = {0};
    char maps[600], atlas[600], p[700], csv[700];
    snprintf(maps, sizeof maps, "%s/scaled", test_tmpdir());
    snprintf(atlas, sizeof atlas, "%s/atlas_scaled", test_tmpdir());
    ASSERT_OK(gpn_mkdir_p(maps, &e), &e);
    uint8_t *a = malloc(1000 * 1000), *h = malloc(1000 * 1000);
    int64_t want[4] = {0};
    for (int r = 0; r < 1000; r++)
        for (int c = 0; c < 1000; c++) {
            int i = r * 1000 + c, tile = (r < 500 ? 2 : 0) + (c >= 500);
            a[i] = (uint8_t)((r * 3 + c) % 251);     /* 0..250: p = v / 250 */
            if (c < 100) a[i] = 255;                  /* nodata: uncovered */
            want[tile] += a[i] != 255 && a[i] >= 125; /* p >= 0.5 */
            h[i] = (uint8_t)(c < 300 ? 0 : 1 + (r / 100) % 3);
        }
    snprintf(p, sizeof p, "%s/101.tif", maps);
    ASSERT_OK(write_map(p, GPN_DT_U8, a, &e), &e);
    struct gpn_import_opts o = {.threshold = 0.5, .scale = 0.004};
    struct gpn_import_stats st;
    const char *in[] = {maps};
    ASSERT_OK(gpn_import_run(atlas, in, 1, &o, &st, &e), &e);
    struct gpn_tile tiles[4] = {{4000, 2500}, {4025, 2500}, {4000, 2525}, {4025, 2525}};
    for (int t = 0; t < 4; t++) ASSERT_EQ_INT(store_cells(atlas, tiles[t], 101), want[t]);
    /* Indicators of tile NW (rows 0..499 of the map): richness = presence,
     * nodata over the 100 uncovered columns. */
    snprintf(p, sizeof p, "%s/tiles/25kmE4000N2525/indicators.tif", atlas);
    struct gpn_raster *r;
    ASSERT_OK(gpn_raster_open(p, &r, &e), &e);
    uint16_t *rich = malloc(GPN_STORE_TILE_CELLS * sizeof *rich);
    ASSERT_OK(gpn_raster_read(r, 1, 1, 0, 0, 500, 500, GPN_DT_U16, rich, &e), &e);
    gpn_raster_close(r);
    int bad = 0;
    for (int y = 0; y < 500; y++)
        for (int x = 0; x < 500; x++) {
            uint8_t v = a[y * 1000 + x];
            uint16_t exp = v == 255 ? GPN_INDICATOR_NODATA : v >= 125;
            bad += rich[y * 500 + x] != exp;
        }
    ASSERT_EQ_INT(bad, 0);
    free(rich);

    /* Habitats: classes 1..3 -> T11, R1A, S31; 0 none. */
    snprintf(p, sizeof p, "%s/habitat.tif", maps);
    ASSERT_OK(write_map(p, GPN_DT_U8, h, &e), &e);
    snprintf(csv, sizeof csv, "%s/classes.csv", maps);
    const char *tab = "value,code,name\n1,T11,x\n2,R1A,y\n3,S31,z\n";
    ASSERT_OK(gpn_file_write_atomic(csv, tab, strlen(tab), &e), &e);
    size_t nt = 0;
    ASSERT_OK(gpn_import_habitat(atlas, p, csv, 0, &nt, &e), &e);
    ASSERT_EQ_INT(nt, 4);
    snprintf(p, sizeof p, "%s/tiles/25kmE4025N2500/habitat.tif", atlas);
    ASSERT_OK(gpn_raster_open(p, &r, &e), &e);
    ASSERT_STR_EQ(gpn_raster_metadata(r, "GPN_CLASS_CODES"), "T11,R1A,S31");
    uint8_t *hc = malloc(GPN_STORE_TILE_CELLS);
    ASSERT_OK(gpn_raster_read(r, 1, 1, 0, 0, 500, 500, GPN_DT_U8, hc, &e), &e);
    gpn_raster_close(r);
    bad = 0;
    for (int y = 0; y < 500; y++) /* tile SE = map rows 500.., cols 500.. */
        for (int x = 0; x < 500; x++) bad += hc[y * 500 + x] != h[(500 + y) * 1000 + 500 + x];
    ASSERT_EQ_INT(bad, 0);
    free(hc);
    /* A bad code names the CSV line. */
    tab = "value,code\n1,T11\n2,NOTACODE\n";
    ASSERT_OK(gpn_file_write_atomic(csv, tab, strlen(tab), &e), &e);
    snprintf(p, sizeof p, "%s/habitat.tif", maps);
    ASSERT_RC(gpn_import_habitat(atlas, p, csv, 0, &nt, &e), GPN_EFORMAT);
    ASSERT_STR_CONTAINS(e.msg, "classes.csv:3");
    /* No table at all. */
    ASSERT_RC(gpn_import_habitat(atlas, p, NULL, 0, &nt, &e), GPN_EFORMAT);
    free(a);
    free(h);
}

int main(void)
{
    RUN(test_parse_name);
    RUN(test_import_on_grid);
    RUN(test_indicators_naive);
    RUN(test_import_scaled_and_habitat);
    return test_summary();
}
