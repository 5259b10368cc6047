/*
 * dataset.h - the compact SDM training dataset written by `gpn ingest` and
 * read by `gpn train-sdm` / `gpn eval-sdm`.
 *
 * A dataset is a folder (format documented in docs/formats.md):
 *   meta.json        counts, shapes, sources, format version
 *   samples.csv      one row per sample: index, surveyId, kind (PA|PO), lon,
 *                    lat, x3035, y3035, year, block (spatial block id)
 *   species.csv      label index -> GeoPlant speciesId (+ record counts)
 *   sentinel.npy     uint8   (N, C, H, W)  Sentinel-2 patches (R, G, B, NIR)
 *   landsat.npy      float32 (N, 6, 4, 21) bands x quarters x years
 *   climate.npy      float32 (N, 4, 19, 12) variables x years x months
 *   label_ptr.npy    int64   (N + 1)  CSR row pointers into label_idx
 *   label_idx.npy    int32   (nnz)    label indices of present species
 * Arrays are NumPy .npy v1.0 (little-endian, C order), so Python can check
 * them with numpy.load. Modalities absent from the input are absent files
 * (their shapes are 0 in the struct below). Readers mmap the arrays.
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
 * fails with a message naming the file on any mismatch. */
int gpn_dataset_open(const char *dir, struct gpn_dataset **out, struct gpn_err *err);
void gpn_dataset_close(struct gpn_dataset *d);

#endif
