/*
 * test_store.c - the assemblage store: write/read round trips for every
 * container type, the counting kernels against a brute-force count, the
 * file against CRoaring's own decoder, updates, and hostile files
 * (truncations and byte flips must be rejected or read safely, never
 * crash; run under ASan for the "never out of bounds" part).
 */
#include "test.h"

#include <roaring/roaring.h>
#include <stdint.h>

#include "gpn/store.h"
#include "gpn/util.h"

#define NCELL GPN_STORE_TILE_CELLS

/* A tiny deterministic generator (xorshift64*). */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* Species used by several tests, as byte masks (1 = present):
 *   10: sparse random cells (array containers)
 *   20: dense random, half the cells (bitset containers)
 *   30: a disc (run containers)
 *   40: a few cells at the tile's extreme indices (container 3's end)
 *   50: the full tile
 *    7: one cell */
static void make_species(uint8_t *masks[6], uint32_t ids[6])
{
    uint64_t s = 42;
    static const uint32_t id[6] = {7, 10, 20, 30, 40, 50};
    for (int k = 0; k < 6; k++) {
        ids[k] = id[k];
        masks[k] = calloc(NCELL, 1);
    }
    masks[0][123456] = 1;
    for (int i = 0; i < 3000; i++) masks[1][rng_next(&s) % NCELL] = 1;
    for (int i = 0; i < NCELL; i++) masks[2][i] = (rng_next(&s) >> 33) & 1;
    for (int r = 0; r < 500; r++)
        for (int c = 0; c < 500; c++) masks[3][r * 500 + c] = (r - 260) * (r - 260) + (c - 180) * (c - 180) < 150 * 150;
    masks[4][0] = masks[4][65535] = masks[4][65536] = masks[4][196608] = masks[4][NCELL - 1] = 1;
    memset(masks[5], 1, NCELL);
}

static int write_species_store(const char *path, struct gpn_tile t, uint8_t *masks[6], const uint32_t ids[6],
                               struct gpn_err *e)
{
    struct gpn_store_writer *w;
    int rc = gpn_store_writer_create(t, &w, e);
    if (rc) return rc;
    /* Add in a scrambled order through every entry point. */
    rc = gpn_store_writer_add_mask(w, ids[3], masks[3], e);
    for (uint32_t i = 0; !rc && i < NCELL; i++)
        if (masks[2][i]) rc = gpn_store_writer_add(w, ids[2], i, e);
    uint32_t *cells = malloc(NCELL * sizeof *cells);
    for (int k = 0; k < 6 && !rc; k++) {
        if (k == 2 || k == 3 || k == 5) continue;
        size_t n = 0;
        for (uint32_t i = 0; i < NCELL; i++)
            if (masks[k][i]) cells[n++] = i;
        rc = gpn_store_writer_add_cells(w, ids[k], cells, n, e);
    }
    free(cells);
    if (!rc) rc = gpn_store_writer_add_range(w, ids[5], 0, NCELL, e);
    if (!rc) rc = gpn_store_writer_write(w, path, e);
    gpn_store_writer_destroy(w);
    return rc;
}

static int64_t brute_count(const uint8_t *sp, const uint8_t *area)
{
    int64_t n = 0;
    for (int i = 0; i < NCELL; i++) n += sp[i] && area[i];
    return n;
}

static void free_species(uint8_t *masks[6])
{
    for (int k = 0; k < 6; k++) free(masks[k]);
}

static void test_roundtrip(void)
{
    struct gpn_err e = {0};
    struct gpn_tile t = {3600, 2200};
    uint8_t *masks[6];
    uint32_t ids[6];
    make_species(masks, ids);
    char path[600];
    snprintf(path, sizeof path, "%s/tiles/x/species.roar", test_tmpdir());
    ASSERT_OK(write_species_store(path, t, masks, ids, &e), &e);
    struct gpn_store *s;
    ASSERT_OK(gpn_store_open(path, GPN_STORE_VERIFY, &s, &e), &e);
    ASSERT_EQ_INT(gpn_store_count(s), 6);
    ASSERT_EQ_INT(gpn_store_tile(s).e_km, 3600);
    ASSERT_EQ_INT(gpn_store_tile(s).n_km, 2200);
    for (int k = 0; k < 6; k++) {
        ASSERT_EQ_INT(gpn_store_species_id(s, (size_t)k), ids[k]); /* sorted by id */
        ASSERT_EQ_INT(gpn_store_find(s, ids[k]), k);
        int64_t card = 0;
        for (int i = 0; i < NCELL; i++) card += masks[k][i];
        ASSERT_EQ_INT(gpn_store_cardinality(s, (size_t)k), card);
        uint32_t *cells;
        size_t n;
        ASSERT_OK(gpn_store_cells(s, (size_t)k, &cells, &n, &e), &e);
        ASSERT_EQ_INT(n, card);
        int ok = 1;
        for (size_t j = 0; j < n; j++) {
            if (!masks[k][cells[j]] || (j && cells[j] <= cells[j - 1])) ok = 0;
        }
        free(cells);
        ASSERT_TRUE(ok);
    }
    ASSERT_EQ_INT(gpn_store_find(s, 8), -1);
    ASSERT_EQ_INT(gpn_store_find(s, 99), -1);
    gpn_store_close(s);
    free_species(masks);
}

/* Every bitmap in the file must be a valid portable Roaring bitmap that
 * CRoaring's own decoder reads back to the same cells. */
static void test_file_is_portable_roaring(void)
{
    struct gpn_err e = {0};
    struct gpn_tile t = {0, 0};
    uint8_t *masks[6];
    uint32_t ids[6];
    make_species(masks, ids);
    char path[600];
    snprintf(path, sizeof path, "%s/species.roar", test_tmpdir());
    ASSERT_OK(write_species_store(path, t, masks, ids, &e), &e);
    char *data;
    size_t len;
    ASSERT_OK(gpn_file_read(path, &data, &len, &e), &e);
    uint32_t n;
    memcpy(&n, data + 24, 4);
    ASSERT_EQ_INT(n, 6);
    int bad = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t id, card;
        uint64_t off, size;
        memcpy(&id, data + 64 + 24 * i, 4);
        memcpy(&card, data + 64 + 24 * i + 4, 4);
        memcpy(&off, data + 64 + 24 * i + 8, 8);
        memcpy(&size, data + 64 + 24 * i + 16, 8);
        ASSERT_TRUE(off + size <= len);
        roaring_bitmap_t *bm = roaring_bitmap_portable_deserialize_safe(data + off, (size_t)size);
        ASSERT_TRUE(bm != NULL);
        if (roaring_bitmap_get_cardinality(bm) != card) bad++;
        for (uint32_t c = 0; c < NCELL; c += 7)
            if (roaring_bitmap_contains(bm, c) != (masks[i][c] != 0)) bad++;
        roaring_bitmap_free(bm);
    }
    free(data);
    ASSERT_EQ_INT(bad, 0);
    free_species(masks);
}

/* The kernels against a brute-force count over many area shapes. */
static void test_count_kernels(void)
{
    struct gpn_err e = {0};
    struct gpn_tile t = {25, 50};
    uint8_t *masks[6];
    uint32_t ids[6];
    make_species(masks, ids);
    char path[600];
    snprintf(path, sizeof path, "%s/species.roar", test_tmpdir());
    ASSERT_OK(write_species_store(path, t, masks, ids, &e), &e);
    struct gpn_store *s;
    ASSERT_OK(gpn_store_open(path, 0, &s, &e), &e);
    uint8_t *area = malloc(NCELL);
    struct gpn_cellmask *cm = malloc(sizeof *cm);
    uint64_t r = 7;
    int64_t counts[6];
    int mismatches = 0, cases = 0;
    for (int shape = 0; shape < 40; shape++) {
        memset(area, 0, NCELL);
        if (shape == 0) { /* empty */
        } else if (shape == 1) {
            memset(area, 1, NCELL);
        } else if (shape == 2) {
            area[NCELL - 1] = 1;
        } else if (shape == 3) {
            area[0] = 1;
        } else if (shape == 4) { /* the row straddling container 0/1 */
            for (int c = 65530; c < 65540; c++) area[c] = 1;
        } else if (shape < 25) { /* random rectangles */
            int r0 = (int)(rng_next(&r) % 500), c0 = (int)(rng_next(&r) % 500);
            int h = 1 + (int)(rng_next(&r) % (500 - r0)), w = 1 + (int)(rng_next(&r) % (500 - c0));
            for (int y = r0; y < r0 + h; y++) memset(area + y * 500 + c0, 1, (size_t)w);
        } else if (shape < 32) { /* random sparse cells */
            int k = 1 + (int)(rng_next(&r) % 5000);
            for (int i = 0; i < k; i++) area[rng_next(&r) % NCELL] = 1;
        } else { /* rings (hole in the middle) */
            int cy = (int)(rng_next(&r) % 500), cx = (int)(rng_next(&r) % 500), R = 20 + (int)(rng_next(&r) % 200);
            for (int y = 0; y < 500; y++)
                for (int x = 0; x < 500; x++) {
                    int d = (y - cy) * (y - cy) + (x - cx) * (x - cx);
                    area[y * 500 + x] = d < R * R && d > R * R / 4;
                }
        }
        gpn_cellmask_from_u8(cm, area);
        int64_t acount = 0;
        for (int i = 0; i < NCELL; i++) acount += area[i] != 0;
        if (cm->count != acount) mismatches++;
        gpn_store_count_all(s, cm, counts);
        for (int k = 0; k < 6; k++) {
            int64_t want = brute_count(masks[k], area);
            cases++;
            if (counts[k] != want || gpn_store_count_in(s, (size_t)k, cm) != want) {
                fprintf(stderr, "  shape %d species %u: got %lld/%lld want %lld\n", shape, ids[k],
                        (long long)counts[k], (long long)gpn_store_count_in(s, (size_t)k, cm), (long long)want);
                mismatches++;
            }
        }
    }
    ASSERT_EQ_INT(cases, 240);
    ASSERT_EQ_INT(mismatches, 0);
    /* The full area counts every cell of every species. */
    memset(area, 1, NCELL);
    gpn_cellmask_from_u8(cm, area);
    gpn_store_count_all(s, cm, counts);
    ASSERT_EQ_INT(counts[5], NCELL);
    ASSERT_EQ_INT(counts[4], 5);
    ASSERT_TRUE(gpn_cellmask_has(cm, NCELL - 1));
    ASSERT_FALSE(gpn_cellmask_has(cm, NCELL));
    free(area);
    free(cm);
    gpn_store_close(s);
    free_species(masks);
}

static void test_update_and_drop(void)
{
    struct gpn_err e = {0};
    struct gpn_tile t = {100, 200};
    char path[600];
    snprintf(path, sizeof path, "%s/species.roar", test_tmpdir());
    struct gpn_store_writer *w;
    ASSERT_OK(gpn_store_writer_create(t, &w, &e), &e);
    for (uint32_t sp = 1; sp <= 300; sp++) /* enough species to grow the hash table */
        ASSERT_OK(gpn_store_writer_add_range(w, sp * 3, sp * 100, sp * 100 + sp, &e), &e);
    ASSERT_OK(gpn_store_writer_add(w, 5, 10, &e), &e); /* id 5 is not a multiple of 3: a new species */
    ASSERT_RC(gpn_store_writer_add(w, 5, NCELL, &e), GPN_ERANGE);
    ASSERT_RC(gpn_store_writer_add_range(w, 5, 10, NCELL + 1, &e), GPN_ERANGE);
    ASSERT_EQ_INT(gpn_store_writer_count(w), 301);
    ASSERT_OK(gpn_store_writer_write(w, path, &e), &e);
    gpn_store_writer_destroy(w);

    struct gpn_store *s;
    ASSERT_OK(gpn_store_open(path, GPN_STORE_VERIFY, &s, &e), &e);
    ASSERT_EQ_INT(gpn_store_count(s), 301);
    ASSERT_EQ_INT(gpn_store_cardinality(s, (size_t)gpn_store_find(s, 300)), 100);
    /* Update: replace species 300, drop species 3, keep the rest. */
    ASSERT_OK(gpn_store_writer_create(t, &w, &e), &e);
    ASSERT_OK(gpn_store_writer_load(w, s, &e), &e);
    gpn_store_close(s);
    gpn_store_writer_drop(w, 300);
    gpn_store_writer_drop(w, 3);
    gpn_store_writer_drop(w, 4); /* absent: no-op */
    ASSERT_OK(gpn_store_writer_add(w, 300, 7, &e), &e);
    ASSERT_EQ_INT(gpn_store_writer_count(w), 300);
    ASSERT_OK(gpn_store_writer_write(w, path, &e), &e);
    gpn_store_writer_destroy(w);
    ASSERT_OK(gpn_store_open(path, GPN_STORE_VERIFY, &s, &e), &e);
    ASSERT_EQ_INT(gpn_store_count(s), 300);
    ASSERT_EQ_INT(gpn_store_find(s, 3), -1);
    ASSERT_EQ_INT(gpn_store_cardinality(s, (size_t)gpn_store_find(s, 300)), 1);
    ASSERT_EQ_INT(gpn_store_cardinality(s, (size_t)gpn_store_find(s, 297)), 99);
    /* Loading into a writer of another tile is refused. */
    struct gpn_tile other = {125, 200};
    ASSERT_OK(gpn_store_writer_create(other, &w, &e), &e);
    ASSERT_RC(gpn_store_writer_load(w, s, &e), GPN_EINVAL);
    gpn_store_writer_destroy(w);
    gpn_store_close(s);

    /* An empty store (no species) is valid. */
    ASSERT_OK(gpn_store_writer_create(t, &w, &e), &e);
    ASSERT_OK(gpn_store_writer_write(w, path, &e), &e);
    gpn_store_writer_destroy(w);
    ASSERT_OK(gpn_store_open(path, GPN_STORE_VERIFY, &s, &e), &e);
    ASSERT_EQ_INT(gpn_store_count(s), 0);
    gpn_store_close(s);
}

static void test_tile_path_and_missing(void)
{
    char buf[256];
    struct gpn_tile t = {3600, 2200};
    ASSERT_OK(gpn_store_tile_path("/a/atlas", t, buf, sizeof buf), NULL);
    ASSERT_STR_EQ(buf, "/a/atlas/tiles/25kmE3600N2200/species.roar");
    ASSERT_RC(gpn_store_tile_path("/a/atlas", t, buf, 10), GPN_ETOOBIG);
    struct gpn_err e = {0};
    struct gpn_store *s = (struct gpn_store *)1;
    ASSERT_RC(gpn_store_open("/nonexistent/species.roar", 0, &s, &e), GPN_ENOTFOUND);
    ASSERT_TRUE(s == NULL);
    gpn_store_close(NULL);
}

/* Hostile files: every truncation and many byte flips. Each must either be
 * rejected with an error or, if the structure still parses, be counted
 * without reading outside the buffer (ASan proves the latter). With VERIFY,
 * any flip is caught by the checksums. */
static void test_corrupt_files(void)
{
    struct gpn_err e = {0};
    struct gpn_tile t = {0, 25};
    char path[600];
    snprintf(path, sizeof path, "%s/species.roar", test_tmpdir());
    struct gpn_store_writer *w;
    ASSERT_OK(gpn_store_writer_create(t, &w, &e), &e);
    uint64_t r = 3;
    for (uint32_t i = 0; i < 200; i++) ASSERT_OK(gpn_store_writer_add(w, 1, (uint32_t)(rng_next(&r) % NCELL), &e), &e);
    ASSERT_OK(gpn_store_writer_add_range(w, 2, 1000, 90000, &e), &e);
    for (uint32_t i = 0; i < 70000; i++)
        ASSERT_OK(gpn_store_writer_add(w, 3, (uint32_t)(rng_next(&r) % NCELL), &e), &e);
    ASSERT_OK(gpn_store_writer_write(w, path, &e), &e);
    gpn_store_writer_destroy(w);
    char *data;
    size_t len;
    ASSERT_OK(gpn_file_read(path, &data, &len, &e), &e);
    struct gpn_cellmask *cm = malloc(sizeof *cm);
    uint8_t *area = calloc(NCELL, 1);
    for (int i = 0; i < NCELL; i += 3) area[i] = 1;
    gpn_cellmask_from_u8(cm, area);
    free(area);
    struct gpn_store *s;
    ASSERT_OK(gpn_store_open_mem(data, len, GPN_STORE_VERIFY, &s, &e), &e);
    gpn_store_close(s);

    int accepted_truncated = 0;
    for (size_t cut = 0; cut < len; cut += (cut < 256 ? 1 : 97)) {
        /* A heap copy of exactly `cut` bytes, so ASan sees any over-read. */
        char *copy = malloc(cut ? cut : 1);
        memcpy(copy, data, cut);
        if (gpn_store_open_mem(copy, cut, 0, &s, &e) == 0) {
            accepted_truncated++;
            gpn_store_close(s);
        }
        free(copy);
    }
    ASSERT_EQ_INT(accepted_truncated, 0);

    int verify_missed = 0, opened_unverified = 0;
    int64_t counts[3];
    char *copy = malloc(len);
    for (int trial = 0; trial < 3000; trial++) {
        memcpy(copy, data, len);
        int nflip = 1 + (int)(rng_next(&r) % 3);
        for (int f = 0; f < nflip; f++) {
            size_t pos = trial < 600 ? (size_t)(rng_next(&r) % 600 % len) : (size_t)(rng_next(&r) % len);
            copy[pos] ^= (char)(1 + rng_next(&r) % 255);
        }
        if (memcmp(copy, data, len) == 0) continue;
        if (gpn_store_open_mem(copy, len, GPN_STORE_VERIFY, &s, &e) == 0) {
            verify_missed++;
            gpn_store_close(s);
        }
        if (gpn_store_open_mem(copy, len, 0, &s, &e) == 0) {
            opened_unverified++;
            size_t n = gpn_store_count(s);
            if (n <= 3) gpn_store_count_all(s, cm, counts);
            for (size_t i = 0; i < n; i++) {
                uint32_t *cells;
                size_t nc;
                if (gpn_store_cells(s, i, &cells, &nc, &e) == 0) free(cells);
            }
            gpn_store_close(s);
        }
    }
    free(copy);
    free(cm);
    free(data);
    ASSERT_EQ_INT(verify_missed, 0);
    /* Flips inside bitmap payloads keep the structure: some must open. */
    ASSERT_TRUE(opened_unverified > 0);
}

int main(void)
{
    RUN(test_roundtrip);
    RUN(test_file_is_portable_roaring);
    RUN(test_count_kernels);
    RUN(test_update_and_drop);
    RUN(test_tile_path_and_missing);
    RUN(test_corrupt_files);
    return test_summary();
}
