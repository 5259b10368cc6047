/*
 * raster.c - raster reading through GDAL: init, error capture, open, info,
 * windowed and resampled reads. Writing (COG, VRT) is in raster_write.c.
 *
 * Why GDAL and only here: GDAL reads every format the project meets
 * (GeoTIFF/COG, the GeoPlant JPEG/TIFF patches, VRT mosaics, rasters over
 * HTTP through /vsicurl/), picks overviews for down-sampled reads and writes
 * valid COGs. Keeping it behind raster.h means the rest of the code sees
 * plain buffers and our own error codes.
 *
 * Configuration (set once in gpn_raster_init, only where the environment
 * does not already set the option, so users can still override it):
 *   GDAL_CACHEMAX=256 (MB)            moderate block cache shared by threads
 *   GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR   no directory listing per open
 *                                     (one HTTP request saved on /vsicurl/)
 *   GDAL_PAM_ENABLED=NO               never write .aux.xml side files
 *   GDAL_ERROR_ON_LIBJPEG_WARNING=TRUE  a truncated JPEG is an error, not a
 *                                     grey-filled image
 *   GDAL_NUM_THREADS is left unset: reads and writes stay deterministic.
 *
 * Data layout: see raster.h; buffers are (bands, rows, cols), row-major.
 * Resampled reads map output pixel i to source [x0 + i*sx, x0 + (i+1)*sx)
 * with sx = xsize / out_w; an output pixel whose centre falls outside the
 * raster gets `fill`, the others are read in one GDAL call with a
 * floating-point source window.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "gpn/log.h"
#include "gpn/util.h"
#include "raster_priv.h"

struct gpn_raster {
    GDALDatasetH ds;
    int width, height, bands;
};

/* ==== init and error capture =========================================== */

static pthread_once_t g_init_once = PTHREAD_ONCE_INIT;

static void set_default_config(const char *key, const char *value)
{
    /* CPLSetConfigOption values win over the environment, so only set
     * options the user has not chosen. */
    if (!getenv(key)) CPLSetConfigOption(key, value);
}

static void raster_init_once(void)
{
    set_default_config("GDAL_CACHEMAX", "256");
    set_default_config("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR");
    set_default_config("GDAL_PAM_ENABLED", "NO");
    set_default_config("GDAL_ERROR_ON_LIBJPEG_WARNING", "TRUE");
    GDALAllRegister();
}

void gpn_raster_init(void)
{
    pthread_once(&g_init_once, raster_init_once);
}

static void CPL_STDCALL cap_handler(CPLErr cls, CPLErrorNum num, const char *msg)
{
    struct gpn__gdal_cap *cap = CPLGetErrorHandlerUserData();
    if (!msg) msg = "";
    if (cls == CE_Failure || cls == CE_Fatal) {
        if (cap && cap->n_fail++ == 0) {
            cap->first_num = num;
            gpn_strlcpy(cap->msg, msg, sizeof cap->msg);
        }
        gpn_log_debug("GDAL error %d: %s", (int)num, msg);
    } else if (cls == CE_Warning) {
        if (cap && cap->n_warn++ == 0) gpn_strlcpy(cap->warn, msg, sizeof cap->warn);
        gpn_log_debug("GDAL warning %d: %s", (int)num, msg);
    }
}

void gpn__gdal_cap_begin(struct gpn__gdal_cap *cap)
{
    memset(cap, 0, sizeof *cap);
    gpn_raster_init();
    CPLPushErrorHandlerEx(cap_handler, cap);
}

void gpn__gdal_cap_end(struct gpn__gdal_cap *cap)
{
    (void)cap;
    CPLPopErrorHandler();
}

int gpn__gdal_cap_err(const struct gpn__gdal_cap *cap, struct gpn_err *err, int code, const char *what,
                      const char *fallback)
{
    return gpn_err_set(err, code, "%s: %s", what, cap->msg[0] ? cap->msg : fallback);
}

/* ==== data types ======================================================== */

size_t gpn_dtype_size(enum gpn_dtype dt)
{
    switch (dt) {
    case GPN_DT_U8: return 1;
    case GPN_DT_U16:
    case GPN_DT_I16: return 2;
    case GPN_DT_U32:
    case GPN_DT_I32:
    case GPN_DT_F32: return 4;
    case GPN_DT_F64: return 8;
    }
    return 0;
}

const char *gpn_dtype_name(enum gpn_dtype dt)
{
    switch (dt) {
    case GPN_DT_U8: return "uint8";
    case GPN_DT_U16: return "uint16";
    case GPN_DT_I16: return "int16";
    case GPN_DT_U32: return "uint32";
    case GPN_DT_I32: return "int32";
    case GPN_DT_F32: return "float32";
    case GPN_DT_F64: return "float64";
    }
    return "unknown";
}

int gpn_dtype_parse(const char *s, enum gpn_dtype *out)
{
    static const enum gpn_dtype all[] = {GPN_DT_U8,  GPN_DT_U16, GPN_DT_I16, GPN_DT_U32,
                                         GPN_DT_I32, GPN_DT_F32, GPN_DT_F64};
    if (!s) return GPN_EINVAL;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (!strcmp(s, gpn_dtype_name(all[i]))) {
            *out = all[i];
            return 0;
        }
    }
    return GPN_EINVAL;
}

GDALDataType gpn__dtype_to_gdal(enum gpn_dtype dt)
{
    switch (dt) {
    case GPN_DT_U8: return GDT_Byte;
    case GPN_DT_U16: return GDT_UInt16;
    case GPN_DT_I16: return GDT_Int16;
    case GPN_DT_U32: return GDT_UInt32;
    case GPN_DT_I32: return GDT_Int32;
    case GPN_DT_F32: return GDT_Float32;
    case GPN_DT_F64: return GDT_Float64;
    }
    return GDT_Unknown;
}

enum gpn_dtype gpn__dtype_from_gdal(GDALDataType t)
{
    switch (t) {
    case GDT_Byte: return GPN_DT_U8;
    case GDT_UInt16: return GPN_DT_U16;
    case GDT_Int16: return GPN_DT_I16;
    case GDT_UInt32: return GPN_DT_U32;
    case GDT_Int32: return GPN_DT_I32;
    case GDT_Float32: return GPN_DT_F32;
    case GDT_Float64: return GPN_DT_F64;
    default: return (enum gpn_dtype)0;
    }
}

/* ==== open / close ====================================================== */

int gpn_raster_open(const char *path, struct gpn_raster **out, struct gpn_err *err)
{
    if (!out) return gpn_err_set(err, GPN_EINVAL, "gpn_raster_open: out is NULL");
    *out = NULL;
    if (!path || !path[0]) return gpn_err_set(err, GPN_EINVAL, "gpn_raster_open: empty path");

    struct gpn__gdal_cap cap;
    gpn__gdal_cap_begin(&cap);
    GDALDatasetH ds = GDALOpenEx(path, GDAL_OF_RASTER | GDAL_OF_READONLY | GDAL_OF_VERBOSE_ERROR, NULL, NULL, NULL);
    int rc = 0;
    if (!ds) {
        int missing = strncmp(path, "/vsi", 4) != 0 && !gpn_path_exists(path);
        const char *why = missing ? "no such file" : "not a raster GDAL can read";
        if (strstr(cap.msg, path)) /* GDAL's message already names the file */
            rc = gpn_err_set(err, missing ? GPN_ENOTFOUND : GPN_EFORMAT, "gpn_raster_open: %s", cap.msg);
        else
            rc = gpn_err_set(err, missing ? GPN_ENOTFOUND : GPN_EFORMAT, "gpn_raster_open: %s: %s", path,
                             cap.msg[0] ? cap.msg : why);
    } else if (GDALGetRasterCount(ds) < 1) {
        rc = gpn_err_set(err, GPN_EFORMAT, "%s: raster has no bands", path);
    }
    gpn__gdal_cap_end(&cap);
    if (rc) {
        if (ds) GDALClose(ds);
        return rc;
    }

    struct gpn_raster *r = calloc(1, sizeof *r);
    if (!r) {
        GDALClose(ds);
        return gpn_err_set(err, GPN_ENOMEM, "gpn_raster_open: out of memory");
    }
    r->ds = ds;
    r->width = GDALGetRasterXSize(ds);
    r->height = GDALGetRasterYSize(ds);
    r->bands = GDALGetRasterCount(ds);
    *out = r;
    return 0;
}

void gpn_raster_close(struct gpn_raster *r)
{
    if (!r) return;
    struct gpn__gdal_cap cap;
    gpn__gdal_cap_begin(&cap);
    GDALClose(r->ds);
    gpn__gdal_cap_end(&cap);
    free(r);
}

/* ==== info ============================================================== */

static void copy_md_item(char *dst, size_t n, GDALDatasetH ds, const char *key, const char *domain)
{
    const char *v = GDALGetMetadataItem(ds, key, domain);
    gpn_strlcpy(dst, v ? v : "", n);
}

int gpn_raster_get_info(struct gpn_raster *r, struct gpn_raster_info *info, struct gpn_err *err)
{
    if (!r || !info) return gpn_err_set(err, GPN_EINVAL, "gpn_raster_get_info: NULL argument");
    memset(info, 0, sizeof *info);
    struct gpn__gdal_cap cap;
    gpn__gdal_cap_begin(&cap);

    info->width = r->width;
    info->height = r->height;
    info->bands = r->bands;
    GDALRasterBandH b1 = GDALGetRasterBand(r->ds, 1);
    info->dtype = gpn__dtype_from_gdal(GDALGetRasterDataType(b1));
    if (GDALGetGeoTransform(r->ds, info->gt) != CE_None) {
        /* GDAL's default for ungeoreferenced rasters: pixel = map units. */
        double id[6] = {0, 1, 0, 0, 0, 1};
        memcpy(info->gt, id, sizeof id);
    }
    info->nodata = GDALGetRasterNoDataValue(b1, &info->has_nodata);
    info->n_overviews = GDALGetOverviewCount(b1);
    GDALGetBlockSize(b1, &info->block_w, &info->block_h);
    copy_md_item(info->layout, sizeof info->layout, r->ds, "LAYOUT", "IMAGE_STRUCTURE");
    copy_md_item(info->compression, sizeof info->compression, r->ds, "COMPRESSION", "IMAGE_STRUCTURE");

    OGRSpatialReferenceH srs0 = GDALGetSpatialRef(r->ds);
    if (srs0) {
        OGRSpatialReferenceH srs = OSRClone(srs0);
        if (srs) {
            const char *auth = OSRGetAuthorityName(srs, NULL);
            if (!auth || strcmp(auth, "EPSG") != 0) OSRAutoIdentifyEPSG(srs); /* failure just means no code */
            auth = OSRGetAuthorityName(srs, NULL);
            const char *code = OSRGetAuthorityCode(srs, NULL);
            if (auth && code && !strcmp(auth, "EPSG")) info->epsg = atoi(code);
            char *wkt = NULL;
            if (OSRExportToWkt(srs, &wkt) == OGRERR_NONE && wkt) {
                if (strlen(wkt) < sizeof info->crs_wkt) gpn_strlcpy(info->crs_wkt, wkt, sizeof info->crs_wkt);
                else gpn_log_debug("gpn_raster_get_info: CRS WKT longer than %zu bytes, left out", sizeof info->crs_wkt);
            }
            CPLFree(wkt);
            OSRDestroySpatialReference(srs);
        }
    }
    gpn__gdal_cap_end(&cap);
    return 0;
}

const char *gpn_raster_band_description(struct gpn_raster *r, int b)
{
    if (!r || b < 1 || b > r->bands) return "";
    const char *d = GDALGetDescription(GDALGetRasterBand(r->ds, b));
    return d ? d : "";
}

const char *gpn_raster_metadata(struct gpn_raster *r, const char *key)
{
    if (!r || !key) return NULL;
    return GDALGetMetadataItem(r->ds, key, NULL);
}

const char *const *gpn_raster_metadata_list(struct gpn_raster *r)
{
    if (!r) return NULL;
    return (const char *const *)GDALGetMetadata(r->ds, NULL);
}

int gpn_raster_size(const struct gpn_raster *r, int *width, int *height, int *bands)
{
    if (!r) return GPN_EINVAL;
    if (width) *width = r->width;
    if (height) *height = r->height;
    if (bands) *bands = r->bands;
    return 0;
}

/* ==== reads ============================================================= */

static int check_bands(const struct gpn_raster *r, int b0, int nb, int **map, const char *fn, struct gpn_err *err)
{
    if (nb < 1 || b0 < 1 || b0 > r->bands || nb > r->bands - b0 + 1)
        return gpn_err_set(err, GPN_ERANGE, "%s: bands [%d, %d) outside 1..%d", fn, b0, b0 + nb, r->bands);
    int *m = malloc((size_t)nb * sizeof *m);
    if (!m) return gpn_err_set(err, GPN_ENOMEM, "%s: out of memory", fn);
    for (int i = 0; i < nb; i++) m[i] = b0 + i;
    *map = m;
    return 0;
}

int gpn_raster_read(struct gpn_raster *r, int b0, int nb, int x0, int y0, int w, int h, enum gpn_dtype dt,
                    void *buf, struct gpn_err *err)
{
    static const char fn[] = "gpn_raster_read";
    if (!r || !buf) return gpn_err_set(err, GPN_EINVAL, "%s: NULL argument", fn);
    GDALDataType gdt = gpn__dtype_to_gdal(dt);
    if (gdt == GDT_Unknown) return gpn_err_set(err, GPN_EINVAL, "%s: invalid dtype %d", fn, (int)dt);
    if (w < 1 || h < 1 || x0 < 0 || y0 < 0 || x0 > r->width - w || y0 > r->height - h)
        return gpn_err_set(err, GPN_ERANGE, "%s: window (%d,%d %dx%d) outside the %dx%d raster", fn, x0, y0, w, h,
                           r->width, r->height);
    int *map = NULL;
    int rc = check_bands(r, b0, nb, &map, fn, err);
    if (rc) return rc;

    struct gpn__gdal_cap cap;
    gpn__gdal_cap_begin(&cap);
    CPLErr e = GDALDatasetRasterIOEx(r->ds, GF_Read, x0, y0, w, h, buf, w, h, gdt, nb, map, 0, 0, 0, NULL);
    if (e != CE_None || cap.n_fail) rc = gpn__gdal_cap_err(&cap, err, GPN_EIO, fn, "read failed");
    gpn__gdal_cap_end(&cap);
    free(map);
    return rc;
}

static GDALRIOResampleAlg resample_to_gdal(enum gpn_resample rs)
{
    switch (rs) {
    case GPN_RESAMPLE_AVERAGE: return GRIORA_Average;
    case GPN_RESAMPLE_BILINEAR: return GRIORA_Bilinear;
    case GPN_RESAMPLE_MODE: return GRIORA_Mode;
    case GPN_RESAMPLE_NEAREST:
    default: return GRIORA_NearestNeighbour;
    }
}

/* Output pixels [*o0, *o1) along one axis whose centres x0 + (i + .5) * s
 * lie in [0, n). */
static void inside_range(double x0, double s, int out_n, int n, int *o0, int *o1)
{
    double a = ceil(-x0 / s - 0.5), b = ceil(((double)n - x0) / s - 0.5);
    if (a < 0) a = 0;
    if (b > out_n) b = out_n;
    if (a > out_n) a = out_n;
    if (b < a) b = a;
    *o0 = (int)a;
    *o1 = (int)b;
}

int gpn_raster_read_resampled(struct gpn_raster *r, int b0, int nb, double x0, double y0, double xsize,
                              double ysize, int out_w, int out_h, enum gpn_resample rs, enum gpn_dtype dt,
                              double fill, void *buf, struct gpn_err *err)
{
    static const char fn[] = "gpn_raster_read_resampled";
    if (!r || !buf) return gpn_err_set(err, GPN_EINVAL, "%s: NULL argument", fn);
    GDALDataType gdt = gpn__dtype_to_gdal(dt);
    if (gdt == GDT_Unknown) return gpn_err_set(err, GPN_EINVAL, "%s: invalid dtype %d", fn, (int)dt);
    if (out_w < 1 || out_h < 1 || !(xsize > 0) || !(ysize > 0) || !isfinite(x0) || !isfinite(y0) ||
        !isfinite(xsize) || !isfinite(ysize))
        return gpn_err_set(err, GPN_EINVAL, "%s: bad window (%g,%g %gx%g) -> %dx%d", fn, x0, y0, xsize, ysize, out_w,
                           out_h);
    if (rs < GPN_RESAMPLE_NEAREST || rs > GPN_RESAMPLE_MODE)
        return gpn_err_set(err, GPN_EINVAL, "%s: invalid resampling %d", fn, (int)rs);
    int *map = NULL;
    int rc = check_bands(r, b0, nb, &map, fn, err);
    if (rc) return rc;

    size_t ds = gpn_dtype_size(dt);
    size_t plane = (size_t)out_w * (size_t)out_h;
    double sx = xsize / out_w, sy = ysize / out_h;
    int c0, c1, r0, r1;
    inside_range(x0, sx, out_w, r->width, &c0, &c1);
    inside_range(y0, sy, out_h, r->height, &r0, &r1);

    struct gpn__gdal_cap cap;
    gpn__gdal_cap_begin(&cap);
    if (c0 > 0 || r0 > 0 || c1 < out_w || r1 < out_h) {
        /* Fill the whole buffer once; the inside part is overwritten below. */
        for (int b = 0; b < nb; b++)
            GDALCopyWords64(&fill, GDT_Float64, 0, (char *)buf + (size_t)b * plane * ds, gdt, (int)ds,
                            (GPtrDiff_t)plane);
    }
    if (c1 > c0 && r1 > r0) {
        /* Source window of the inside output pixels, clipped to the raster
         * (a border output pixel may straddle the edge by < 1/2 pixel). */
        double wx0 = fmax(0.0, x0 + c0 * sx), wx1 = fmin((double)r->width, x0 + c1 * sx);
        double wy0 = fmax(0.0, y0 + r0 * sy), wy1 = fmin((double)r->height, y0 + r1 * sy);
        int ix0 = (int)floor(wx0), iy0 = (int)floor(wy0);
        int ix1 = (int)ceil(wx1), iy1 = (int)ceil(wy1);
        if (ix1 > r->width) ix1 = r->width;
        if (iy1 > r->height) iy1 = r->height;
        if (ix1 <= ix0) ix1 = ix0 + 1;
        if (iy1 <= iy0) iy1 = iy0 + 1;

        GDALRasterIOExtraArg extra;
        INIT_RASTERIO_EXTRA_ARG(extra);
        extra.eResampleAlg = resample_to_gdal(rs);
        extra.bFloatingPointWindowValidity = TRUE;
        extra.dfXOff = wx0;
        extra.dfYOff = wy0;
        extra.dfXSize = wx1 - wx0;
        extra.dfYSize = wy1 - wy0;
        char *dst = (char *)buf + ((size_t)r0 * (size_t)out_w + (size_t)c0) * ds;
        CPLErr e = GDALDatasetRasterIOEx(r->ds, GF_Read, ix0, iy0, ix1 - ix0, iy1 - iy0, dst, c1 - c0, r1 - r0, gdt,
                                         nb, map, (GSpacing)ds, (GSpacing)(ds * (size_t)out_w),
                                         (GSpacing)(ds * plane), &extra);
        if (e != CE_None || cap.n_fail) rc = gpn__gdal_cap_err(&cap, err, GPN_EIO, fn, "read failed");
    }
    gpn__gdal_cap_end(&cap);
    free(map);
    return rc;
}
