/*
 * ingest.h - `gpn ingest`: GeoPlant-format observations and modalities into
 * the SDM training dataset (dataset.h).
 *
 * Inputs (docs/ingest.md has the full rules):
 *   - PA / PO observation CSVs, either the GeoPlant long format (columns
 *     lon, lat, year, geoUncertaintyInM, areaInM2, region, country,
 *     speciesId, surveyId; one row per (surveyId, speciesId); rows grouped
 *     by surveyId) or the older GLC23 ';' layout (glcID, ..., lon, lat,
 *     x_EPSG3035, y_EPSG3035, speciesId, patchID, timeSerieID): PA rows are
 *     grouped by patchID, PO records by observer within a radius.
 *   - Sentinel-2: a folder of patches by GeoPlant path convention (RGB +
 *     NIR JPEG, or 4-band TIFF), or a 4-band 10 m mosaic in EPSG:3035 from
 *     which a patch centred on each sample is cut.
 *   - Landsat: the GLC23 time-series CSVs, a folder of <surveyId>.npy cubes
 *     (6, 4, 21), or a 504-band raster sampled at each point.
 *   - Climate: a folder of <surveyId>.npy cubes (4, 19, 12) or a 912-band
 *     raster sampled at each point.
 * Output: the dataset folder, written to "<out>.tmp-<pid>" and renamed into
 * place only on success, so bad input leaves no partial output.
 *
 * Errors in input data are reported as "FILE:LINE: what was expected".
 */
#ifndef GPN_INGEST_H
#define GPN_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "gpn/err.h"

/* What to do with a sample that has no data for a requested modality. */
enum gpn_missing_policy {
    GPN_MISSING_ERROR = 0, /* fail with FILE:LINE of the sample (default) */
    GPN_MISSING_ZERO,      /* zero-fill (GeoPlant's NaN -> 0) and note it in samples.csv */
    GPN_MISSING_DROP,      /* leave the sample out */
};

struct gpn_ingest_opts {
    const char *out;          /* dataset folder to create (required) */
    const char *pa;           /* presence-absence CSV, or NULL */
    const char *po;           /* presence-only CSV, or NULL (at least one of pa/po) */
    const char *sentinel;     /* folder or raster, or NULL */
    const char *landsat;      /* folder or raster, or NULL */
    const char *climate;      /* folder or raster, or NULL */
    const char *species;      /* CSV with a speciesId column fixing the label space, or NULL */
    int patch_size;           /* Sentinel patch side in px; 0 = from the first patch (128 for rasters) */
    double po_group_radius_m; /* GLC23 PO grouping radius (0 = same exact location) */
    double block_km;          /* spatial block size (default 10) */
    int missing;              /* enum gpn_missing_policy */
    int force;                /* replace an existing output folder */
    int progress;             /* 1: show progress bars (stderr) */
};

struct gpn_ingest_stats {
    int64_t rows;            /* observation rows read (PA + PO) */
    int64_t samples;         /* samples written */
    int64_t n_pa, n_po;      /* of which PA / PO */
    int64_t n_species;       /* label space size */
    int64_t nnz;             /* (sample, species) presences */
    int64_t dropped;         /* samples dropped (missing modality or empty label set after --species) */
    int64_t zero_filled[3];  /* samples zero-filled: sentinel, landsat, climate */
    int64_t unknown_species; /* rows whose species is not in --species (skipped) */
};

/* Defaults: block_km 10, everything else 0/NULL. */
void gpn_ingest_opts_init(struct gpn_ingest_opts *o);

/* Runs an ingest. Returns 0 with *st filled (st may be NULL), or a negative
 * code with err set ("FILE:LINE: ..." for input errors); on failure nothing
 * is left under o->out (an existing dataset there is untouched). */
int gpn_ingest_run(const struct gpn_ingest_opts *o, struct gpn_ingest_stats *st, struct gpn_err *err);

/* ==== building blocks (also used by tests) =============================== */

/* Spatial block id of EPSG:3035 point (x, y) for blocks of block_m metres:
 *   bx = floor(x / block_m), by = floor(y / block_m)
 *   h  = splitmix64(((uint64_t)(uint32_t)bx << 32) | (uint32_t)by)
 *   id = (int32_t)(h >> 33)          (non-negative, 31 bits)
 * so that `id % k` spreads blocks evenly over k folds. */
int32_t gpn_ingest_block_id(double x, double y, double block_m);

/* lon/lat (ETRS89 ~ WGS84, degrees) to EPSG:3035 metres by the closed-form
 * ellipsoidal Lambert azimuthal equal-area formulas (IOGP Guidance Note
 * 7-2, method 9820; GRS80, lat0 52, lon0 10, FE 4321000, FN 3210000).
 * Agrees with PROJ to well under a millimetre. */
void gpn_ingest_lonlat_to_3035(double lon, double lat, double *x, double *y);

/* Parses an integral id written as an integer or an integral float
 * ("6310", "6310.0", "6.31e3"); rejects "6310.5", blanks, NaN and values
 * outside [lo, hi]. Returns 0 or GPN_EFORMAT / GPN_ERANGE (no message). */
int gpn_ingest_parse_id(const char *s, int64_t lo, int64_t hi, int64_t *out);

#endif
