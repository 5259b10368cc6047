/*
 * store.h - the assemblage store: per meta-tile, one compressed bitmap per
 * species of the 50 m cells where it is present.
 *
 * Why: an area-of-interest report over thousands of species must not read
 * thousands of rasters. A meta-tile (500 x 500 cells) keeps, for every
 * species present in it, a Roaring bitmap of in-tile cell indices
 * (cell = row * 500 + col, row from the north edge, grid.h). A report is then
 * "rasterise the area once per tile, intersect with each bitmap, popcount".
 *
 * File: ATLAS/tiles/<tileid>/species.roar, layout in docs/formats.md
 * ("Assemblage store"): a 64-byte header (magic "GPNROAR\n", version, tile,
 * species count, checksums), a directory sorted by species id (id,
 * cardinality, offset, size), the bitmaps in the portable Roaring format
 * (the one every CRoaring/RoaringBitmap implementation reads), and a
 * trailer with a CRC-32 of everything before it. All integers are
 * little-endian. Files are written atomically (temp + fsync + rename).
 *
 * Reading: the file is mmap'ed and its structure validated once at open
 * (header, directory, every bitmap's container headers: bounds-checked, so a
 * corrupt or hostile file is rejected, never read out of bounds). Counting
 * runs directly on the mapped bytes (no deserialisation, no copies): the
 * area is a dense bit mask of the tile (struct gpn_cellmask) and each
 * container is intersected with it by the kernel that suits its type
 * (bitset: AND + popcount over the words the area spans; array: binary
 * search into the area's range then bit tests; run: prefix-rank of the mask,
 * O(1) per run). An opened store is immutable and may be read by any number
 * of threads at once.
 *
 * Writing: struct gpn_store_writer accumulates cells per species (CRoaring
 * bitmaps in memory), run-optimises and serialises them. It is used by map
 * production (predict), by `gpn import` and by tests.
 */
#ifndef GPN_STORE_H
#define GPN_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "gpn/err.h"
#include "gpn/grid.h"

#define GPN_STORE_VERSION 1
#define GPN_STORE_FILENAME "species.roar"
#define GPN_STORE_TILE_CELLS (GPN_GRID_TILE_CELLS * GPN_GRID_TILE_CELLS) /* 250,000 */
/* The mask covers 4 Roaring containers of 65,536 cells: 262,144 bits. */
#define GPN_CELLMASK_WORDS 4096

/* ==== cell masks ======================================================== */

/* A set of cells of one tile as a dense bit mask, with a rank table so that
 * counting the mask bits in any cell range is O(1). Plain data (~48 KB),
 * caller-allocated; fill it with gpn_cellmask_from_u8 or _set. */
struct gpn_cellmask {
    uint64_t bits[GPN_CELLMASK_WORDS];     /* bit (cell & 63) of word (cell >> 6) */
    uint32_t rank[GPN_CELLMASK_WORDS + 1]; /* rank[w]: set bits in words < w */
    uint32_t wlo, whi;                     /* first and last non-zero word; wlo > whi when empty */
    int64_t count;                         /* cells set */
    uint8_t full[4];                       /* container k (cells k*65536 ...) entirely set: a bitmap's
                                            * count there is its cardinality, no scan needed */
};

/* Builds m from a (500, 500) byte mask (row from north, non-zero = inside),
 * as written by gpn_geom_rasterize_tile. */
void gpn_cellmask_from_u8(struct gpn_cellmask *m, const uint8_t *mask);
/* Builds m from n cell indices (each < 250,000; others are ignored). */
void gpn_cellmask_from_cells(struct gpn_cellmask *m, const uint32_t *cells, size_t n);
/* 1 when cell is in m. */
int gpn_cellmask_has(const struct gpn_cellmask *m, uint32_t cell);

/* ==== reading =========================================================== */

struct gpn_store;

enum gpn_store_flags {
    /* Also check the whole-file CRC-32 and every container's contents
     * (sorted arrays, runs in range, cardinalities). Costs one pass over the
     * file; the structural checks done always already make reading safe. */
    GPN_STORE_VERIFY = 1,
};

/* Opens and validates a store file. On success *out is owned by the caller
 * (gpn_store_close). Errors: GPN_ENOTFOUND (no file), GPN_EFORMAT (not a
 * store, truncated, bad structure), GPN_ECHECKSUM, GPN_EUNSUPPORTED (newer
 * version), GPN_EIO, GPN_ENOMEM. */
int gpn_store_open(const char *path, unsigned flags, struct gpn_store **out, struct gpn_err *err);
/* Same over a caller-owned buffer (e.g. a fuzzer's input); the buffer must
 * outlive the store. */
int gpn_store_open_mem(const void *data, size_t len, unsigned flags, struct gpn_store **out,
                       struct gpn_err *err);
/* Unmaps and frees; NULL is a no-op. */
void gpn_store_close(struct gpn_store *s);

struct gpn_tile gpn_store_tile(const struct gpn_store *s);
/* Number of species entries (sorted by increasing species id). */
size_t gpn_store_count(const struct gpn_store *s);
uint32_t gpn_store_species_id(const struct gpn_store *s, size_t i);
/* Cells where species entry i is present in the whole tile. */
int64_t gpn_store_cardinality(const struct gpn_store *s, size_t i);
/* Index of species_id, or -1 when the tile does not hold it. */
int64_t gpn_store_find(const struct gpn_store *s, uint32_t species_id);
/* Bytes of the mapped file. */
size_t gpn_store_size(const struct gpn_store *s);

/* Cells of entry i that are in m (the intersection cardinality). */
int64_t gpn_store_count_in(const struct gpn_store *s, size_t i, const struct gpn_cellmask *m);
/* counts[i] = gpn_store_count_in(s, i, m) for every entry i
 * (counts has gpn_store_count(s) slots). */
void gpn_store_count_all(const struct gpn_store *s, const struct gpn_cellmask *m, int64_t *counts);
/* Decodes entry i into sorted cell indices: *cells is malloc'ed (caller
 * frees), *n its length. */
int gpn_store_cells(const struct gpn_store *s, size_t i, uint32_t **cells, size_t *n, struct gpn_err *err);

/* "ATLAS/tiles/<tileid>/species.roar" into buf; GPN_ETOOBIG if it does not fit. */
int gpn_store_tile_path(const char *atlas, struct gpn_tile t, char *buf, size_t n);

/* ==== writing =========================================================== */

struct gpn_store_writer;

/* A writer for tile t, empty. *out is owned by the caller
 * (gpn_store_writer_destroy). */
int gpn_store_writer_create(struct gpn_tile t, struct gpn_store_writer **out, struct gpn_err *err);
void gpn_store_writer_destroy(struct gpn_store_writer *w);
/* Marks cell (< 250,000) present for species_id. GPN_ERANGE for a bad cell. */
int gpn_store_writer_add(struct gpn_store_writer *w, uint32_t species_id, uint32_t cell, struct gpn_err *err);
int gpn_store_writer_add_cells(struct gpn_store_writer *w, uint32_t species_id, const uint32_t *cells, size_t n,
                               struct gpn_err *err);
/* Cells [c0, c1) (c1 <= 250,000), e.g. row runs. */
int gpn_store_writer_add_range(struct gpn_store_writer *w, uint32_t species_id, uint32_t c0, uint32_t c1,
                               struct gpn_err *err);
/* Every cell whose byte in the (500, 500) mask is non-zero. */
int gpn_store_writer_add_mask(struct gpn_store_writer *w, uint32_t species_id, const uint8_t *mask,
                              struct gpn_err *err);
/* Copies every entry of an opened store of the same tile (to update a store
 * in place: load, drop the species being replaced, add, write). */
int gpn_store_writer_load(struct gpn_store_writer *w, const struct gpn_store *s, struct gpn_err *err);
/* Forgets species_id (no-op when absent). */
void gpn_store_writer_drop(struct gpn_store_writer *w, uint32_t species_id);
/* Species currently held with at least one cell. */
size_t gpn_store_writer_count(const struct gpn_store_writer *w);
/* Writes the store atomically to path (folders are created). Species with
 * no cell are left out. The writer stays usable. */
int gpn_store_writer_write(struct gpn_store_writer *w, const char *path, struct gpn_err *err);

#endif
