/*
 * raster.h - raster I/O: the only module that includes GDAL.
 *
 * Reads any GDAL-readable raster (GeoTIFF/COG, JPEG patches, VRT, /vsicurl/
 * URLs) by window and bands; writes Cloud-Optimised GeoTIFFs atomically
 * (temp file + rename: a crash never leaves a half file under the final
 * name); builds VRT mosaics. GDAL errors are captured by a thread-local
 * handler and copied into struct gpn_err, never printed.
 *
 * Threads: a struct gpn_raster wraps one GDALDatasetH and must be used by
 * one thread at a time; open one handle per worker thread. gpn_raster_init()
 * registers drivers once (idempotent, thread-safe) and is called by every
 * function here, so callers need not call it.
 *
 * Data layout: pixel buffers are band-sequential, row-major, north-up:
 * buf[(b * h + row) * w + col] - shape (B, H, W).
 */
#ifndef GPN_RASTER_H
#define GPN_RASTER_H

#include <stddef.h>
#include <stdint.h>

#include "gpn/err.h"

enum gpn_dtype {
    GPN_DT_U8 = 1,
    GPN_DT_U16,
    GPN_DT_I16,
    GPN_DT_U32,
    GPN_DT_I32,
    GPN_DT_F32,
    GPN_DT_F64,
};

/* Bytes per value; 0 for an invalid dt. */
size_t gpn_dtype_size(enum gpn_dtype dt);
/* "uint8", "uint16", "int16", "uint32", "int32", "float32", "float64";
 * "unknown" for an invalid dt. Static string. */
const char *gpn_dtype_name(enum gpn_dtype dt);
/* Inverse of gpn_dtype_name. Returns 0, or GPN_EINVAL (no message) for an
 * unknown name or NULL. */
int gpn_dtype_parse(const char *s, enum gpn_dtype *out);

enum gpn_resample {
    GPN_RESAMPLE_NEAREST = 0,
    GPN_RESAMPLE_AVERAGE,
    GPN_RESAMPLE_BILINEAR,
    GPN_RESAMPLE_MODE,
};

struct gpn_raster;

struct gpn_raster_info {
    int width, height, bands;
    enum gpn_dtype dtype;   /* of band 1 */
    double gt[6];           /* GDAL geotransform */
    int epsg;               /* 0 when the CRS has no EPSG code */
    char crs_wkt[2048];     /* empty when no CRS */
    int has_nodata;
    double nodata;          /* of band 1 */
    int n_overviews;        /* of band 1 */
    int block_w, block_h;   /* of band 1 */
    char layout[16];        /* IMAGE_STRUCTURE LAYOUT ("COG" for COGs) or "" */
    char compression[16];   /* IMAGE_STRUCTURE COMPRESSION or "" */
};

/* Registers GDAL drivers and sets default GDAL options once (thread-safe,
 * idempotent). Every function below calls it. */
void gpn_raster_init(void);

/* Opens path (a file, a VRT, "/vsicurl/https://...") read-only.
 * Returns 0 and sets *out (owned by the caller: gpn_raster_close), or
 * GPN_ENOTFOUND (local file missing), GPN_EFORMAT (not readable as a raster,
 * or no bands), GPN_EINVAL (NULL/empty path); *out is NULL on failure. */
int gpn_raster_open(const char *path, struct gpn_raster **out, struct gpn_err *err);
/* Closes and frees r; NULL is a no-op. */
void gpn_raster_close(struct gpn_raster *r);
/* Fills *info (see the struct). Never fails on an open raster; returns
 * GPN_EINVAL for NULL arguments. */
int gpn_raster_get_info(struct gpn_raster *r, struct gpn_raster_info *info, struct gpn_err *err);
/* Width, height and band count (any pointer may be NULL). 0 or GPN_EINVAL. */
int gpn_raster_size(const struct gpn_raster *r, int *width, int *height, int *bands);
/* Description of band b (1-based); "" when none or b is out of range.
 * Pointer owned by r, valid until close. */
const char *gpn_raster_band_description(struct gpn_raster *r, int b);
/* Metadata item of the dataset (default domain); NULL when absent. Owned by
 * r, valid until close. */
const char *gpn_raster_metadata(struct gpn_raster *r, const char *key);
/* All default-domain metadata as a NULL-terminated "KEY=VALUE" list, or NULL
 * when there is none. Owned by r, valid until close. */
const char *const *gpn_raster_metadata_list(struct gpn_raster *r);

/* Reads the window (x0, y0, w, h) of bands [b0, b0 + nb) (1-based) into buf
 * (nb, h, w) converted to dt (caller-owned, nb*h*w*gpn_dtype_size(dt) bytes).
 * The window must lie inside the raster (GPN_ERANGE otherwise). A decode
 * error (truncated or corrupt file) gives GPN_EIO with GDAL's message; buf
 * content is then unspecified. */
int gpn_raster_read(struct gpn_raster *r, int b0, int nb, int x0, int y0, int w, int h, enum gpn_dtype dt,
                    void *buf, struct gpn_err *err);
/* Reads the source window (x0, y0, xsize, ysize) in pixel units (fractional,
 * may extend beyond the raster: outside pixels get `fill`) resampled to
 * (out_w, out_h). GDAL picks the best overview level. Output pixel (i, j)
 * covers source [x0 + i*xsize/out_w, x0 + (i+1)*xsize/out_w) (same in y); it
 * is `fill` when its centre lies outside the raster. A window entirely
 * outside gives an all-`fill` buffer and returns 0. Nodata source pixels are
 * skipped by AVERAGE/BILINEAR/MODE (GDAL semantics). buf: (nb, out_h, out_w)
 * of dt, caller-owned. Errors as gpn_raster_read, GPN_EINVAL for bad sizes. */
int gpn_raster_read_resampled(struct gpn_raster *r, int b0, int nb, double x0, double y0, double xsize,
                              double ysize, int out_w, int out_h, enum gpn_resample rs, enum gpn_dtype dt,
                              double fill, void *buf, struct gpn_err *err);

/* ==== writing ========================================================== */

struct gpn_cog_opts {
    int width, height, bands;
    enum gpn_dtype dtype;
    double gt[6];                /* GDAL geotransform; all zeros = none */
    int epsg;                    /* CRS as EPSG code (3035 for grid products); 0 = none */
    int has_nodata;
    double nodata;               /* must be representable in dtype */
    int categorical;             /* 1: overviews by NEAREST (classes, bits); 0: AVERAGE */
    const char *compress;        /* "DEFLATE" (default when NULL), "ZSTD", "LZW" or "NONE" */
    int blocksize;               /* 0 = 512 */
    const char *const *band_desc;/* (bands) or NULL */
    const char *const *metadata; /* "KEY=VALUE" list, NULL-terminated, or NULL */
    /* Optional: called with the fraction done (0..1); return non-zero to
     * abort the write (GPN_ESTATE, the previous file at path is kept). */
    int (*progress)(double frac, void *ctx);
    void *progress_ctx;
    /* 1: no internal overviews (COG driver OVERVIEWS=NONE). For rasters only
     * ever read at full resolution (model inputs such as a 504-band Landsat
     * stack, where GDAL's overview pass costs several times the whole
     * compression). 0 (default): overviews as described below. */
    int no_overviews;
    /* Compression level: 0 = GDAL's default (DEFLATE 6, ZSTD 9); DEFLATE
     * 1-12, ZSTD 1-22; must be 0 for LZW and NONE. */
    int level;
    /* 1: never PREDICTOR=YES (see below). Horizontal differencing can make
     * smooth-but-quantised pixel-interleaved stacks bigger and slower to
     * write (the synthetic Landsat stack: +45 % size, +35 % CPU). */
    int no_predictor;
};

/* Writes data (bands, height, width) of o->dtype as a COG at path:
 * tiled (o->blocksize, multiple of 16 in [16, 4096]), o->compress at
 * o->level, internal overviews unless o->no_overviews (NEAREST when
 * o->categorical, else AVERAGE, until the smallest level fits one block),
 * PREDICTOR=YES for floats and for non-categorical integers unless
 * o->no_predictor, CRS from o->epsg (0: none), nodata on every
 * band, band descriptions and metadata in the TIFF. Atomic: written to
 * "<path>.tmp-<pid>-<n>" and renamed; on any failure the temp file and its
 * side files are removed and a previous file at path is left untouched.
 * data is only read (the caller keeps ownership). Returns 0, GPN_EINVAL
 * (bad options), GPN_ESTATE (aborted by progress), GPN_EIO/GPN_ELIB. */
int gpn_cog_write(const char *path, const struct gpn_cog_opts *o, const void *data, struct gpn_err *err);
/* Converts any GDAL-readable raster src to a COG at dst (atomically, same
 * options and guarantees as gpn_cog_write; compress NULL = DEFLATE).
 * Georeferencing, nodata, descriptions and metadata are kept. */
int gpn_cog_translate(const char *src, const char *dst, int categorical, const char *compress,
                      struct gpn_err *err);
/* Builds a VRT mosaic of n rasters (same CRS and band layout) at path,
 * atomically. Relative local source paths are taken from the current folder
 * and made absolute; the VRT stores them relative to itself when they lie in
 * or under its folder (so a folder of tiles + VRT can be moved). Returns 0,
 * GPN_EINVAL, GPN_ENOTFOUND, GPN_EFORMAT (sources GDAL cannot combine: a
 * source GDAL would skip, e.g. another band count, is an error) or GPN_EIO. */
int gpn_vrt_build(const char *path, const char *const *srcs, int n, struct gpn_err *err);

#endif
