/*
 * ingest_priv.h - internals shared by the ingest files (not installed).
 *
 *   ingest_csv.c    observation CSVs -> samples + (sample, species) records
 *   ingest_modal.c  modality sources (Sentinel, Landsat, climate readers)
 *   ingest.c        the driver: label space, missing policy, dataset writing
 *
 * Data layout: samples live in one growable array; observation rows become
 * struct ing_rec {sample, species, line} in another, sorted at the end into
 * per-sample runs (a CSR without the pointer array), so memory is ~24 bytes
 * per row plus ~100 bytes per sample, whatever the input size.
 */
#ifndef GPN_INGEST_PRIV_H
#define GPN_INGEST_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "gpn/err.h"
#include "gpn/progress.h"

struct ing_sample {
    int64_t survey_id;
    int kind;              /* enum gpn_sample_kind */
    double lon, lat, x, y; /* EPSG:4326 / EPSG:3035 */
    int year;              /* 0 when unknown */
    int64_t patch_id;      /* -1 when none (then survey_id is the patch key) */
    int64_t ts_id;         /* timeSerieID, -1 when none */
    int64_t n_records;     /* rows merged into this sample */
    int file;              /* index into ing_data.files */
    long line;             /* CSV line of the sample's first row */
    int keyed;             /* 1: grouped by an id (surveyId/patchID): a repeated species is an error */
    int dropped;           /* 1: left out of the dataset */
    unsigned missing;      /* bit m: modality m zero-filled */
};

struct ing_rec {
    int64_t sample;  /* index into samples */
    int32_t species; /* GeoPlant speciesId */
    int32_t file;
    long line;
};

struct ing_data {
    struct ing_sample *s; /* (ns) */
    size_t ns, cap_s;
    struct ing_rec *r; /* (nr) */
    size_t nr, cap_r;
    char files[2][1024]; /* paths of the CSVs read (PA, PO) */
    int nfiles;
    int64_t rows;
};

/* Reads one observation CSV of kind GPN_SAMPLE_PA or GPN_SAMPLE_PO into d
 * (appending samples and records). radius_m is the GLC23 PO grouping radius.
 * Input errors are "FILE:LINE: ...". prog may be NULL. */
int gpn__ingest_read_csv(struct ing_data *d, const char *path, int kind, double radius_m,
                         struct gpn_progress *prog, struct gpn_err *err);
/* Sorts d->r by (sample, species, line); for survey-keyed input (PA, and PO
 * with surveyId) a repeated (sample, species) is an error naming the second
 * row; for grouped GLC23 PO records repeats are merged. */
int gpn__ingest_sort_records(struct ing_data *d, struct gpn_err *err);
void gpn__ingest_data_free(struct ing_data *d);

/* ==== modality sources =================================================== */

enum { ING_S2 = 0, ING_LS = 1, ING_CL = 2, ING_NMOD = 3 };

struct ing_source;

/* Opens a source for modality `mod` from a folder or raster path. For the
 * GLC23 time-series folder, only the ids used by d's samples are loaded.
 * patch_size: Sentinel patch side (0 = auto). */
int gpn__ingest_source_open(int mod, const char *path, int patch_size, const struct ing_data *d,
                            struct ing_source **out, struct gpn_err *err);
void gpn__ingest_source_close(struct ing_source *src);
/* Shape of one sample's array (C, H, W) / (6, 4, 21) / (4, 19, 12). For
 * Sentinel folders with patch_size 0 this is known after the first
 * successful gpn__ingest_source_probe(). */
void gpn__ingest_source_dims(const struct ing_source *src, int dims[3]);
/* Cheap availability check: 1 when sample s has data, 0 when not; fills
 * what (may be NULL) with the file or key looked for. Negative on error. */
int gpn__ingest_source_probe(struct ing_source *src, const struct ing_sample *s, char *what, size_t n,
                             struct gpn_err *err);
/* Reads sample s into buf (uint8 for Sentinel, float for the cubes;
 * dims-product elements). Returns 0, GPN_ENOTFOUND when the sample has no
 * data, or another negative code with err set. */
int gpn__ingest_source_read(struct ing_source *src, const struct ing_sample *s, void *buf,
                            struct gpn_err *err);
/* 1 when gpn__ingest_source_read() may be called from several threads at
 * once (folder sources, after the first probe), 0 for shared handles. */
int gpn__ingest_source_thread_safe(const struct ing_source *src);
/* Short description for meta.json ("jpeg-folder", "raster", ...). */
const char *gpn__ingest_source_kind(const struct ing_source *src);

#endif
