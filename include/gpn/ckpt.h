/*
 * ckpt.h - the project's self-describing model file: a kind string, a config
 * JSON text and a directory of named, typed, shaped tensors, little-endian,
 * with a CRC-32 over the whole file. Used by the SDM (sdm.c) and usable by
 * any other model (the HDM): the kind string tells them apart.
 *
 * Layout (all integers little-endian; documented in docs/formats.md):
 *   header (64 bytes)
 *     0  char[8] magic "GPNMODL\0"
 *     8  u32     version (1)
 *    12  u32     header size (64)
 *    16  u64     file size in bytes
 *    24  u32     n_tensors
 *    28  u32     kind length  (bytes, <= 64)
 *    32  u64     config JSON length (bytes)
 *    40  u64     directory offset   (= 64 + kind + config lengths)
 *    48  u64     data offset        (multiple of 64)
 *    56  u64     reserved (0)
 *   kind text, config text (no NUL terminators)
 *   directory: n_tensors entries
 *     u16 name length (1..255), name bytes (printable ASCII), u8 dtype,
 *     u8 rank (0..8), u64 shape[rank], u64 offset (from data offset, multiple
 *     of 64), u64 nbytes (= product(shape) * dtype size)
 *   zero padding up to the data offset, tensor data (each 64-aligned)
 *   footer (8 bytes): u32 CRC-32 (zlib polynomial) of every byte before the
 *     footer, then char[4] "GPNE"
 * The reader validates every field (sizes, overflow, overlap, names unique,
 * UTF-8-free printable names, checksum) before handing out any pointer, so
 * arbitrary bytes are rejected with GPN_EFORMAT / GPN_ECHECKSUM and never
 * read out of bounds (tests/unit/test_ckpt.c, fuzz-friendly gpn_ckpt_parse).
 */
#ifndef GPN_CKPT_H
#define GPN_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "gpn/err.h"

#define GPN_CKPT_VERSION 1
#define GPN_CKPT_MAX_RANK 8
#define GPN_CKPT_MAX_NAME 255
#define GPN_CKPT_MAX_KIND 64

enum gpn_ckpt_dtype {
    GPN_CKPT_F32 = 1,
    GPN_CKPT_I32 = 2,
    GPN_CKPT_U8 = 3,
    GPN_CKPT_I64 = 4,
    GPN_CKPT_F64 = 5,
};

/* Bytes per element of a dtype, 0 for an unknown one. */
size_t gpn_ckpt_dtype_size(int dtype);

struct gpn_ckpt_tensor {
    char name[GPN_CKPT_MAX_NAME + 1];
    int dtype;                       /* enum gpn_ckpt_dtype */
    int rank;
    int64_t shape[GPN_CKPT_MAX_RANK];
    size_t nbytes;
    const void *data;                /* writer: borrowed from the caller; reader: into the file image */
};

/* ==== writing ============================================================= */

struct gpn_ckpt_writer;

/* Starts a file of the given kind (<= 64 bytes) and config text (copied).
 * Owned by the caller (gpn_ckpt_writer_destroy). */
int gpn_ckpt_writer_create(const char *kind, const char *config_json, struct gpn_ckpt_writer **out,
                           struct gpn_err *err);
/* Adds a tensor; data is borrowed and must stay valid until
 * gpn_ckpt_writer_write. Rejects bad names, duplicates, ranks > 8. */
int gpn_ckpt_writer_add(struct gpn_ckpt_writer *w, const char *name, int dtype, int rank, const int64_t *shape,
                        const void *data, struct gpn_err *err);
/* Serialises into a malloc'ed buffer (*buf owned by the caller). */
int gpn_ckpt_writer_serialize(const struct gpn_ckpt_writer *w, uint8_t **buf, size_t *len, struct gpn_err *err);
/* Writes the file atomically (temp file + fsync + rename). */
int gpn_ckpt_writer_write(const struct gpn_ckpt_writer *w, const char *path, struct gpn_err *err);
void gpn_ckpt_writer_destroy(struct gpn_ckpt_writer *w);

/* ==== reading ============================================================= */

struct gpn_ckpt;

/* Reads and validates a whole file. *out owned by the caller (gpn_ckpt_close). */
int gpn_ckpt_open(const char *path, struct gpn_ckpt **out, struct gpn_err *err);
/* Validates a file image of len bytes (copied). */
int gpn_ckpt_parse(const uint8_t *buf, size_t len, struct gpn_ckpt **out, struct gpn_err *err);
void gpn_ckpt_close(struct gpn_ckpt *ck); /* NULL is a no-op */

/* NUL-terminated texts owned by ck. */
const char *gpn_ckpt_kind(const struct gpn_ckpt *ck);
const char *gpn_ckpt_config(const struct gpn_ckpt *ck);
int gpn_ckpt_count(const struct gpn_ckpt *ck);
/* Tensor i (0..count-1), or NULL. */
const struct gpn_ckpt_tensor *gpn_ckpt_tensor_at(const struct gpn_ckpt *ck, int i);
/* Tensor by name, or NULL. */
const struct gpn_ckpt_tensor *gpn_ckpt_find(const struct gpn_ckpt *ck, const char *name);
/* Finds name and checks dtype, rank and shape; returns its data or NULL with
 * GPN_EFORMAT in err (message names the tensor and both shapes). */
const void *gpn_ckpt_expect(const struct gpn_ckpt *ck, const char *name, int dtype, int rank,
                            const int64_t *shape, struct gpn_err *err);

/* CRC-32 (zlib) of len bytes, chained from crc (start with 0). */
uint32_t gpn_crc32(uint32_t crc, const void *data, size_t len);

#endif
