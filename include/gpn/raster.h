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

size_t gpn_dtype_size(enum gpn_dtype dt);
const char *gpn_dtype_name(enum gpn_dtype dt);

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

void gpn_raster_init(void);

/* Opens path read-only. *out is owned by the caller (gpn_raster_close). */
int gpn_raster_open(const char *path, struct gpn_raster **out, struct gpn_err *err);
void gpn_raster_close(struct gpn_raster *r);
int gpn_raster_get_info(struct gpn_raster *r, struct gpn_raster_info *info, struct gpn_err *err);
/* Description of band b (1-based); "" when none. Pointer valid until close. */
const char *gpn_raster_band_description(struct gpn_raster *r, int b);
/* Metadata item of the dataset (default domain); NULL when absent. */
const char *gpn_raster_metadata(struct gpn_raster *r, const char *key);

/* Reads the window (x0, y0, w, h) of bands [b0, b0 + nb) (1-based) into buf
 * (nb, h, w) converted to dt. The window must lie inside the raster. */
int gpn_raster_read(struct gpn_raster *r, int b0, int nb, int x0, int y0, int w, int h, enum gpn_dtype dt,
                    void *buf, struct gpn_err *err);
/* Reads the source window (x0, y0, xsize, ysize) in pixel units (fractional,
 * may extend beyond the raster: outside pixels get `fill`) resampled to
 * (out_w, out_h). GDAL picks the best overview level. */
int gpn_raster_read_resampled(struct gpn_raster *r, int b0, int nb, double x0, double y0, double xsize,
                              double ysize, int out_w, int out_h, enum gpn_resample rs, enum gpn_dtype dt,
                              double fill, void *buf, struct gpn_err *err);

/* ==== writing ========================================================== */

struct gpn_cog_opts {
    int width, height, bands;
    enum gpn_dtype dtype;
    double gt[6];
    int epsg;                    /* CRS as EPSG code (3035 for grid products) */
    int has_nodata;
    double nodata;
    int categorical;             /* 1: overviews by NEAREST (classes, bits); 0: AVERAGE */
    const char *compress;        /* "DEFLATE" (default when NULL) or "ZSTD" */
    int blocksize;               /* 0 = 512 */
    const char *const *band_desc;/* (bands) or NULL */
    const char *const *metadata; /* "KEY=VALUE" list, NULL-terminated, or NULL */
};

/* Writes data (bands, height, width) as a COG at path, atomically. */
int gpn_cog_write(const char *path, const struct gpn_cog_opts *o, const void *data, struct gpn_err *err);
/* Converts any raster to a COG (atomically). */
int gpn_cog_translate(const char *src, const char *dst, int categorical, const char *compress,
                      struct gpn_err *err);
/* Builds a VRT mosaic of n rasters (same CRS and band layout) at path. */
int gpn_vrt_build(const char *path, const char *const *srcs, int n, struct gpn_err *err);

#endif
