/*
 * dataset.h - the compact SDM training dataset written by `gpn ingest` and
 * read by `gpn train-sdm` / `gpn eval-sdm`, plus the NumPy .npy helpers it
 * is built on.
 *
 * A dataset is a folder (format documented in docs/formats.md, "Dataset"):
 *   meta.json        counts, shapes, sources, format version
 *   samples.csv      one row per sample: index, surveyId, kind (PA|PO), lon,
 *                    lat, x3035, y3035, year, block (spatial block id), then
 *                    informative columns (n_records, patchId, timeSerieId,
 *                    missing) that readers may ignore
 *   species.csv      label index -> GeoPlant speciesId (+ sample counts)
 *   sentinel.npy     uint8   (N, C, H, W)  Sentinel-2 patches (R, G, B, NIR)
 *   landsat.npy      float32 (N, 6, 4, 21) bands x quarters x years
 *   climate.npy      float32 (N, 4, 19, 12) variables x years x months
 *   label_ptr.npy    int64   (N + 1)  CSR row pointers into label_idx
 *   label_idx.npy    int32   (nnz)    label indices of present species
 * Arrays are NumPy .npy v1.0 (little-endian, C order), so Python can check
 * them with numpy.load. Modalities absent from the input are absent files
 * (their shapes are 0 in the struct below). Readers mmap the arrays.
 *
 * Writing: struct gpn_dataset_writer builds the folder under
 * "<dir>.tmp-<pid>" and renames it to <dir> only in
 * gpn_dataset_writer_commit(), so a failed or aborted ingest leaves no
 * partial dataset behind. Samples are appended one at a time (arrays are
 * streamed to disk; nothing of size N x patch is held in memory).
 */
#ifndef GPN_DATASET_H
#define GPN_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "gpn/err.h"

#define GPN_DATASET_VERSION 1

enum gpn_sample_kind {
    GPN_SAMPLE_PA = 0, /* presence-absence survey: absent labels are true absences */
    GPN_SAMPLE_PO = 1, /* presence-only record(s): absences need a background rule */
};

struct gpn_sample_meta {
    int64_t survey_id;
    int kind;          /* enum gpn_sample_kind */
    double lon, lat;   /* EPSG:4326 */
    double x, y;       /* EPSG:3035 */
    int year;
    int32_t block;     /* spatial block id (10 km EPSG:3035 blocks) */
};

struct gpn_dataset {
    int64_t n;                       /* samples */
    int n_species;                   /* label space size */
    int s2_c, s2_h, s2_w;            /* 0 when absent */
    int ls_c, ls_q, ls_y;            /* 6, 4, 21 or 0 */
    int cl_c, cl_y, cl_m;            /* 4, 19, 12 or 0 */
    const uint8_t *sentinel;         /* (n, s2_c, s2_h, s2_w) */
    const float *landsat;            /* (n, ls_c, ls_q, ls_y) */
    const float *climate;            /* (n, cl_c, cl_y, cl_m) */
    const int64_t *label_ptr;        /* (n + 1) */
    const int32_t *label_idx;        /* (label_ptr[n]) */
    struct gpn_sample_meta *meta;    /* (n) */
    int32_t *species_id;             /* (n_species) GeoPlant speciesId of each label */
    void *priv;                      /* mappings; owned by the dataset */
};

/* Opens a dataset folder; arrays are memory-mapped read-only. *out is owned
 * by the caller (gpn_dataset_close). Checks shapes against meta.json and
 * fails with a message naming the file on any mismatch. Also checks that
 * label_ptr is non-decreasing from 0 to nnz and every label index lies in
 * [0, n_species). dir NULL -> GPN_EINVAL. */
int gpn_dataset_open(const char *dir, struct gpn_dataset **out, struct gpn_err *err);
/* Unmaps and frees everything; accepts NULL. */
void gpn_dataset_close(struct gpn_dataset *d);

/* ==== writing ============================================================ */

/* What a dataset will hold. Modality shapes of 0 mean "absent". */
struct gpn_dataset_spec {
    int n_species;             /* label space size (>= 0) */
    int s2_c, s2_h, s2_w;      /* e.g. 4, 128, 128, or 0, 0, 0 */
    int ls_c, ls_q, ls_y;      /* 6, 4, 21 or 0, 0, 0 */
    int cl_c, cl_y, cl_m;      /* 4, 19, 12 or 0, 0, 0 */
    const int32_t *species_id; /* (n_species) speciesId of each label, copied */
    int force;                 /* 1: replace an existing <dir> at commit */
};

/* Optional per-sample information written to samples.csv (not read back
 * into struct gpn_dataset). */
struct gpn_sample_extra {
    int64_t n_records;   /* input rows merged into the sample */
    int64_t patch_id;    /* -1 when none */
    int64_t ts_id;       /* timeSerieID, -1 when none */
    const char *missing; /* e.g. "sentinel|landsat" zero-filled, or NULL */
};

struct gpn_dataset_writer;

/* Starts a dataset that will become the folder `dir`. Creates
 * "<dir>.tmp-<pid>" (removing a stale one of the same name). Fails with
 * GPN_EEXISTS when dir exists and spec->force is 0 (checked again at
 * commit). On success *out is owned by the caller, who must call either
 * gpn_dataset_writer_commit() or gpn_dataset_writer_abort(). */
int gpn_dataset_writer_create(const char *dir, const struct gpn_dataset_spec *spec,
                              struct gpn_dataset_writer **out, struct gpn_err *err);
/* Appends one sample. labels: (n_labels) label indices in [0, n_species),
 * strictly increasing. sentinel (s2_c, s2_h, s2_w), landsat (ls_c, ls_q,
 * ls_y), climate (cl_c, cl_y, cl_m) must be non-NULL exactly when the
 * modality is present in the spec. extra may be NULL. Data is copied. */
int gpn_dataset_writer_add(struct gpn_dataset_writer *w, const struct gpn_sample_meta *m,
                           const struct gpn_sample_extra *extra, const int32_t *labels, size_t n_labels,
                           const uint8_t *sentinel, const float *landsat, const float *climate,
                           struct gpn_err *err);
/* Adds a top-level key to meta.json: a string, a number, or a JSON text
 * (parsed, must be valid JSON). Keys the writer owns (format, version, n,
 * n_species, nnz, shapes, counts) cannot be overridden. */
int gpn_dataset_writer_meta_str(struct gpn_dataset_writer *w, const char *key, const char *value,
                                struct gpn_err *err);
int gpn_dataset_writer_meta_num(struct gpn_dataset_writer *w, const char *key, double value,
                                struct gpn_err *err);
int gpn_dataset_writer_meta_json(struct gpn_dataset_writer *w, const char *key, const char *json,
                                 struct gpn_err *err);
/* Samples appended so far. */
int64_t gpn_dataset_writer_count(const struct gpn_dataset_writer *w);
/* Finishes the arrays, writes meta.json, species.csv, fsyncs and renames
 * the folder into place (replacing an old one when spec->force). Frees w in
 * all cases; on failure the temporary folder is removed and nothing is left
 * under dir (an old dataset there stays as it was). */
int gpn_dataset_writer_commit(struct gpn_dataset_writer *w, struct gpn_err *err);
/* Removes the temporary folder and frees w; accepts NULL. */
void gpn_dataset_writer_abort(struct gpn_dataset_writer *w);

/* ==== NumPy .npy files ==================================================== */

/* Element types this project reads and writes (little-endian). */
enum gpn_npy_dtype {
    GPN_NPY_U1 = 1, /* '|u1' (also read as '<u1') uint8 */
    GPN_NPY_I4,     /* '<i4' int32 */
    GPN_NPY_I8,     /* '<i8' int64 */
    GPN_NPY_F4,     /* '<f4' float32 */
    GPN_NPY_F8,     /* '<f8' float64 (read only in practice) */
};

#define GPN_NPY_MAXDIM 8

/* A mapped (or read) array: data points at shape-product elements in C order. */
struct gpn_npy {
    enum gpn_npy_dtype dtype;
    int ndim;
    int64_t shape[GPN_NPY_MAXDIM];
    const void *data;
    size_t nbytes;  /* bytes of data */
    void *map_base; /* internal: the mapping */
    size_t map_len;
};

/* Size in bytes of one element; descr string as written ('<f4', '|u1', ...). */
size_t gpn_npy_dtype_size(enum gpn_npy_dtype dt);
const char *gpn_npy_dtype_descr(enum gpn_npy_dtype dt);
/* Product of the shape (1 for ndim 0). */
int64_t gpn_npy_count(const struct gpn_npy *a);

/* Maps path read-only and parses its header (v1.0, v2.0 and v3.0; C order;
 * little-endian descr only). Fails with "PATH: ..." on a bad magic, an
 * unsupported dtype, Fortran order or a file shorter than the header says.
 * Release with gpn_npy_unmap (accepts a zeroed struct). */
int gpn_npy_map(const char *path, struct gpn_npy *out, struct gpn_err *err);
void gpn_npy_unmap(struct gpn_npy *a);

/* Writes a whole array as a v1.0 .npy file, atomically. */
int gpn_npy_write(const char *path, enum gpn_npy_dtype dt, int ndim, const int64_t *shape, const void *data,
                  struct gpn_err *err);

/* A streaming writer: rows of shape (shape[1..ndim-1]) are appended and the
 * first dimension is fixed up in the header at close. Not atomic by itself
 * (the dataset writer renames the whole folder). */
struct gpn_npy_writer;
/* shape[0] is ignored (the number of rows appended). *out owned by caller. */
int gpn_npy_writer_open(const char *path, enum gpn_npy_dtype dt, int ndim, const int64_t *shape,
                        struct gpn_npy_writer **out, struct gpn_err *err);
/* Appends nrows rows (nrows * row size elements). */
int gpn_npy_writer_append(struct gpn_npy_writer *w, const void *rows, int64_t nrows, struct gpn_err *err);
/* Rewrites the header with the final row count, fsyncs, closes, frees w. */
int gpn_npy_writer_close(struct gpn_npy_writer *w, struct gpn_err *err);
/* Closes and frees without finishing (the file is left as is); accepts NULL. */
void gpn_npy_writer_discard(struct gpn_npy_writer *w);

#endif
