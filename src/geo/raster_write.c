/*
 * raster_write.c - writing rasters through GDAL: Cloud-Optimised GeoTIFFs
 * from memory or from any raster, and VRT mosaics.
 *
 * Why this shape: GDAL's COG driver only has CreateCopy, so a COG is always
 * translated from a source dataset. For in-memory data the source is a MEM
 * dataset whose bands point straight at the caller's buffer (DATAPOINTER),
 * so a 400 MB grid is not copied a second time. The COG driver then writes
 * tiles, builds the overviews (NEAREST for classes, AVERAGE for continuous
 * values, nodata-aware) and lays the file out so that a client can read the
 * header, the overviews and any tile with few range requests. Callers may
 * skip the overviews (gpn_cog_opts.no_overviews) for rasters only read at
 * full resolution.
 *
 * Atomicity: every output is written to "<final>.tmp-<pid>-<n>" (util.h
 * gpn_tmp_path) and renamed over the final name only after GDAL closed it
 * without error. The COG driver makes its own temporaries beside the output
 * ("<tmp>.ovr.tmp", ...); on failure every file whose name starts with the
 * temp name is removed, so nothing "*.tmp-*" is left behind and the final
 * name keeps whatever it held before.
 */
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "gpn/log.h"
#include "gpn/util.h"
#include "raster_priv.h"

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

/* ==== temp files ======================================================== */

/* Removes tmp and every file beside it whose name starts with tmp's name
 * (the COG driver's "<tmp>.ovr.tmp", "<tmp>.msk.ovr.tmp", ...). */
static void remove_tmp_family(const char *tmp)
{
    char dir[PATH_MAX];
    gpn_strlcpy(dir, tmp, sizeof dir);
    char *slash = strrchr(dir, '/');
    const char *base;
    if (slash) {
        *slash = '\0';
        base = tmp + (slash - dir) + 1;
        if (!dir[0]) gpn_strlcpy(dir, "/", sizeof dir);
    } else {
        gpn_strlcpy(dir, ".", sizeof dir);
        base = tmp;
    }
    size_t bl = strlen(base);
    unlink(tmp);
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, base, bl) != 0) continue;
        char p[PATH_MAX];
        if (gpn_path_join(p, sizeof p, dir, e->d_name) == 0) unlink(p);
    }
    closedir(d);
}

/* ==== COG options ======================================================= */

struct cog_params {
    const char *compress; /* upper-case, validated */
    int blocksize;
    int categorical;
    int predictor;        /* 1: PREDICTOR=YES */
    int no_overviews;     /* 1: OVERVIEWS=NONE */
    int level;            /* 0: driver default, else LEVEL=n (validated) */
};

static int parse_compress(const char *c, const char **out, const char *fn, struct gpn_err *err)
{
    static const char *const ok[] = {"DEFLATE", "ZSTD", "LZW", "NONE"};
    if (!c || !c[0]) {
        *out = "DEFLATE";
        return 0;
    }
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        if (!strcasecmp(c, ok[i])) {
            *out = ok[i];
            return 0;
        }
    }
    return gpn_err_set(err, GPN_EINVAL, "%s: compression \"%s\" not supported (DEFLATE, ZSTD, LZW, NONE)", fn, c);
}

static int check_level(const char *compress, int level, const char *fn, struct gpn_err *err)
{
    if (level == 0) return 0;
    int max = !strcmp(compress, "DEFLATE") ? 12 : !strcmp(compress, "ZSTD") ? 22 : 0;
    if (level < 1 || level > max) {
        if (!max) return gpn_err_set(err, GPN_EINVAL, "%s: %s takes no compression level (got %d)", fn, compress, level);
        return gpn_err_set(err, GPN_EINVAL, "%s: %s level %d not in [1, %d]", fn, compress, level, max);
    }
    return 0;
}

static int check_blocksize(int bs, int *out, const char *fn, struct gpn_err *err)
{
    if (bs == 0) bs = 512;
    if (bs < 16 || bs > 4096 || bs % 16)
        return gpn_err_set(err, GPN_EINVAL, "%s: blocksize %d must be a multiple of 16 in [16, 4096]", fn, bs);
    *out = bs;
    return 0;
}

static int is_float(GDALDataType t)
{
    return t == GDT_Float32 || t == GDT_Float64;
}

struct progress_bridge {
    int (*fn)(double frac, void *ctx);
    void *ctx;
    int aborted; /* set when fn asked to stop (GDAL may say nothing) */
};

static int CPL_STDCALL progress_cb(double frac, const char *msg, void *data)
{
    (void)msg;
    struct progress_bridge *pb = data;
    if (pb->fn(frac, pb->ctx) != 0) {
        pb->aborted = 1;
        return FALSE;
    }
    return TRUE;
}

/* Translates src into a COG at dst (atomically). pb may be NULL. */
static int cog_from_dataset(GDALDatasetH src, const char *dst, const struct cog_params *p,
                            struct progress_bridge *pb, const char *fn, struct gpn_err *err)
{
    char tmp[PATH_MAX];
    if (gpn_tmp_path(dst, tmp, sizeof tmp)) return gpn_err_set(err, GPN_ETOOBIG, "%s: %s: path too long", fn, dst);

    char co_compress[32], co_block[32], co_resampling[48], co_level[32];
    snprintf(co_compress, sizeof co_compress, "COMPRESS=%s", p->compress);
    snprintf(co_block, sizeof co_block, "BLOCKSIZE=%d", p->blocksize);
    snprintf(co_resampling, sizeof co_resampling, "OVERVIEW_RESAMPLING=%s", p->categorical ? "NEAREST" : "AVERAGE");
    const char *argv[32];
    int k = 0;
    argv[k++] = "-of";
    argv[k++] = "COG";
    argv[k++] = "-co";
    argv[k++] = co_compress;
    argv[k++] = "-co";
    argv[k++] = co_block;
    argv[k++] = "-co";
    argv[k++] = co_resampling;
    argv[k++] = "-co";
    argv[k++] = "BIGTIFF=IF_SAFER";
    if (p->predictor && strcmp(p->compress, "NONE") != 0) {
        argv[k++] = "-co";
        argv[k++] = "PREDICTOR=YES";
    }
    if (p->level > 0) {
        snprintf(co_level, sizeof co_level, "LEVEL=%d", p->level);
        argv[k++] = "-co";
        argv[k++] = co_level;
    }
    if (p->no_overviews) {
        argv[k++] = "-co";
        argv[k++] = "OVERVIEWS=NONE";
    }
    argv[k] = NULL;

    int rc = 0;
    struct gpn__gdal_cap cap;
    gpn__gdal_cap_begin(&cap);
    GDALTranslateOptions *opts = GDALTranslateOptionsNew((char **)argv, NULL);
    if (!opts) {
        rc = gpn__gdal_cap_err(&cap, err, GPN_ELIB, fn, "bad translate options");
        goto done;
    }
    if (pb && pb->fn) GDALTranslateOptionsSetProgress(opts, progress_cb, pb);
    int usage_err = 0;
    GDALDatasetH out = GDALTranslate(tmp, src, opts, &usage_err);
    GDALTranslateOptionsFree(opts);
    if (out) GDALClose(out); /* the COG is complete once GDALTranslate returns; close may still fail */
    if (!out || cap.n_fail) {
        char what[PATH_MAX + 64];
        snprintf(what, sizeof what, "%s: %s", fn, dst);
        if ((pb && pb->aborted) || cap.first_num == CPLE_UserInterrupt)
            rc = gpn_err_set(err, GPN_ESTATE, "%s: aborted by the caller", what);
        else
            rc = gpn__gdal_cap_err(&cap, err, GPN_EIO, what, "COG write failed");
        goto done;
    }
done:
    gpn__gdal_cap_end(&cap);
    if (rc == 0) {
        /* Side files (e.g. a .aux.xml if PAM was re-enabled by the user)
         * would be orphaned by the rename; remove them first. */
        char side[PATH_MAX + 16];
        snprintf(side, sizeof side, "%s.aux.xml", tmp);
        unlink(side);
        rc = gpn_rename_atomic(tmp, dst, err);
    }
    if (rc) remove_tmp_family(tmp);
    return rc;
}

/* ==== gpn_cog_write ===================================================== */

static int nodata_fits(enum gpn_dtype dt, double v)
{
    double lo, hi;
    switch (dt) {
    case GPN_DT_U8: lo = 0, hi = 255; break;
    case GPN_DT_U16: lo = 0, hi = 65535; break;
    case GPN_DT_I16: lo = -32768, hi = 32767; break;
    case GPN_DT_U32: lo = 0, hi = 4294967295.0; break;
    case GPN_DT_I32: lo = -2147483648.0, hi = 2147483647.0; break;
    default: return 1; /* floats: anything, NaN included */
    }
    return isfinite(v) && v == floor(v) && v >= lo && v <= hi;
}

int gpn_cog_write(const char *path, const struct gpn_cog_opts *o, const void *data, struct gpn_err *err)
{
    static const char fn[] = "gpn_cog_write";
    if (!path || !path[0] || !o || !data) return gpn_err_set(err, GPN_EINVAL, "%s: NULL argument", fn);
    GDALDataType gdt = gpn__dtype_to_gdal(o->dtype);
    if (gdt == GDT_Unknown) return gpn_err_set(err, GPN_EINVAL, "%s: invalid dtype %d", fn, (int)o->dtype);
    if (o->width < 1 || o->height < 1 || o->bands < 1)
        return gpn_err_set(err, GPN_EINVAL, "%s: bad size %dx%d, %d bands", fn, o->width, o->height, o->bands);
    if (o->has_nodata && !nodata_fits(o->dtype, o->nodata))
        return gpn_err_set(err, GPN_EINVAL, "%s: nodata %g not representable as %s", fn, o->nodata,
                           gpn_dtype_name(o->dtype));
    struct cog_params p = {.categorical = o->categorical, .no_overviews = o->no_overviews != 0};
    int rc = parse_compress(o->compress, &p.compress, fn, err);
    if (!rc) rc = check_blocksize(o->blocksize, &p.blocksize, fn, err);
    if (!rc) rc = check_level(p.compress, o->level, fn, err);
    if (rc) return rc;
    p.level = o->level;
    p.predictor = !o->no_predictor && (is_float(gdt) || !o->categorical);
    if (o->metadata) {
        for (const char *const *m = o->metadata; *m; m++)
            if (!strchr(*m, '=') || **m == '=')
                return gpn_err_set(err, GPN_EINVAL, "%s: metadata item \"%s\" is not KEY=VALUE", fn, *m);
    }

    struct gpn__gdal_cap cap;
    gpn__gdal_cap_begin(&cap);
    GDALDatasetH mem = NULL;
    OGRSpatialReferenceH srs = NULL;
    GDALDriverH drv = GDALGetDriverByName("MEM");
    if (!drv) {
        rc = gpn_err_set(err, GPN_ELIB, "%s: GDAL MEM driver missing", fn);
        goto fail;
    }
    mem = GDALCreate(drv, "", o->width, o->height, 0, gdt, NULL);
    if (!mem) {
        rc = gpn__gdal_cap_err(&cap, err, GPN_ELIB, fn, "cannot create MEM dataset");
        goto fail;
    }
    size_t plane = (size_t)o->width * (size_t)o->height * gpn_dtype_size(o->dtype);
    for (int b = 0; b < o->bands; b++) {
        /* The MEM band only reads through this pointer (the dataset is a
         * translate source), so casting away const is safe. */
        char ptr_opt[64];
        snprintf(ptr_opt, sizeof ptr_opt, "DATAPOINTER=%p", (void *)((const char *)data + (size_t)b * plane));
        char *band_opts[] = {ptr_opt, NULL};
        if (GDALAddBand(mem, gdt, band_opts) != CE_None) {
            rc = gpn__gdal_cap_err(&cap, err, GPN_ELIB, fn, "cannot add MEM band");
            goto fail;
        }
        GDALRasterBandH band = GDALGetRasterBand(mem, b + 1);
        if (o->has_nodata) GDALSetRasterNoDataValue(band, o->nodata);
        if (o->band_desc && o->band_desc[b]) GDALSetDescription(band, o->band_desc[b]);
    }
    static const double zero_gt[6] = {0};
    if (memcmp(o->gt, zero_gt, sizeof zero_gt) != 0) GDALSetGeoTransform(mem, (double *)o->gt);
    if (o->epsg) {
        srs = OSRNewSpatialReference(NULL);
        if (!srs || OSRImportFromEPSG(srs, o->epsg) != OGRERR_NONE) {
            rc = gpn_err_set(err, GPN_EINVAL, "%s: unknown EPSG code %d", fn, o->epsg);
            goto fail;
        }
        OSRSetAxisMappingStrategy(srs, OAMS_TRADITIONAL_GIS_ORDER);
        GDALSetSpatialRef(mem, srs);
    }
    if (o->metadata) {
        for (const char *const *m = o->metadata; *m; m++) {
            char key[256];
            size_t kl = (size_t)(strchr(*m, '=') - *m);
            if (kl >= sizeof key) {
                rc = gpn_err_set(err, GPN_EINVAL, "%s: metadata key too long in \"%.40s...\"", fn, *m);
                goto fail;
            }
            memcpy(key, *m, kl);
            key[kl] = '\0';
            GDALSetMetadataItem(mem, key, *m + kl + 1, NULL);
        }
    }
    if (cap.n_fail) {
        rc = gpn__gdal_cap_err(&cap, err, GPN_ELIB, fn, "setting up the source failed");
        goto fail;
    }
    gpn__gdal_cap_end(&cap);

    struct progress_bridge pb = {o->progress, o->progress_ctx, 0};
    rc = cog_from_dataset(mem, path, &p, &pb, fn, err);
    gpn__gdal_cap_begin(&cap);
    GDALClose(mem);
    if (srs) OSRDestroySpatialReference(srs);
    gpn__gdal_cap_end(&cap);
    return rc;

fail:
    if (mem) GDALClose(mem);
    if (srs) OSRDestroySpatialReference(srs);
    gpn__gdal_cap_end(&cap);
    return rc;
}

/* ==== gpn_cog_translate ================================================= */

static int open_source(const char *src, GDALDatasetH *out, const char *fn, struct gpn_err *err)
{
    struct gpn__gdal_cap cap;
    gpn__gdal_cap_begin(&cap);
    GDALDatasetH ds = GDALOpenEx(src, GDAL_OF_RASTER | GDAL_OF_READONLY | GDAL_OF_VERBOSE_ERROR, NULL, NULL, NULL);
    int rc = 0;
    if (!ds) {
        int missing = strncmp(src, "/vsi", 4) != 0 && !gpn_path_exists(src);
        const char *why = missing ? "no such file" : "not a raster GDAL can read";
        if (strstr(cap.msg, src)) /* GDAL's message already names the file */
            rc = gpn_err_set(err, missing ? GPN_ENOTFOUND : GPN_EFORMAT, "%s: %s", fn, cap.msg);
        else
            rc = gpn_err_set(err, missing ? GPN_ENOTFOUND : GPN_EFORMAT, "%s: %s: %s", fn, src,
                             cap.msg[0] ? cap.msg : why);
    }
    gpn__gdal_cap_end(&cap);
    *out = ds;
    return rc;
}

int gpn_cog_translate(const char *src, const char *dst, int categorical, const char *compress, struct gpn_err *err)
{
    static const char fn[] = "gpn_cog_translate";
    if (!src || !dst || !src[0] || !dst[0]) return gpn_err_set(err, GPN_EINVAL, "%s: NULL or empty path", fn);
    struct cog_params p = {.categorical = categorical, .blocksize = 512};
    int rc = parse_compress(compress, &p.compress, fn, err);
    if (rc) return rc;
    GDALDatasetH ds = NULL;
    rc = open_source(src, &ds, fn, err);
    if (rc) return rc;
    if (GDALGetRasterCount(ds) < 1) {
        rc = gpn_err_set(err, GPN_EFORMAT, "%s: %s has no bands", fn, src);
    } else {
        p.predictor = is_float(GDALGetRasterDataType(GDALGetRasterBand(ds, 1))) || !categorical;
        rc = cog_from_dataset(ds, dst, &p, NULL, fn, err);
    }
    struct gpn__gdal_cap cap;
    gpn__gdal_cap_begin(&cap);
    GDALClose(ds);
    gpn__gdal_cap_end(&cap);
    return rc;
}

/* ==== gpn_vrt_build ===================================================== */

int gpn_vrt_build(const char *path, const char *const *srcs, int n, struct gpn_err *err)
{
    static const char fn[] = "gpn_vrt_build";
    if (!path || !path[0] || !srcs || n < 1) return gpn_err_set(err, GPN_EINVAL, "%s: no path or no sources", fn);
    for (int i = 0; i < n; i++) {
        if (!srcs[i] || !srcs[i][0]) return gpn_err_set(err, GPN_EINVAL, "%s: source %d is empty", fn, i);
        if (strncmp(srcs[i], "/vsi", 4) != 0 && !gpn_path_exists(srcs[i]))
            return gpn_err_set(err, GPN_ENOTFOUND, "%s: %s: no such file", fn, srcs[i]);
    }
    /* The VRT path is made absolute too, so that GDAL can express sources
     * relative to it. */
    char vpath[PATH_MAX], tmp[PATH_MAX];
    if (path[0] == '/') {
        gpn_strlcpy(vpath, path, sizeof vpath);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd) || gpn_path_join(vpath, sizeof vpath, cwd, path))
            return gpn_err_set(err, GPN_EIO, "%s: %s: cannot resolve path", fn, path);
    }
    if (gpn_tmp_path(vpath, tmp, sizeof tmp)) return gpn_err_set(err, GPN_ETOOBIG, "%s: %s: path too long", fn, path);
    /* Relative local paths are relative to the current folder, but GDAL
     * would store them as they are and resolve them against the reader's
     * folder later; make them absolute (GDAL then writes them relative to
     * the VRT when they lie in or under its folder). */
    char **full = calloc((size_t)n + 1, sizeof *full);
    if (!full) return gpn_err_set(err, GPN_ENOMEM, "%s: out of memory", fn);
    for (int i = 0; i < n; i++) {
        full[i] = (srcs[i][0] == '/') ? strdup(srcs[i]) : realpath(srcs[i], NULL);
        if (!full[i]) {
            for (int j = 0; j < i; j++) free(full[j]);
            free(full);
            return gpn_err_set(err, GPN_EIO, "%s: %s: cannot resolve path", fn, srcs[i]);
        }
    }

    int rc = 0;
    struct gpn__gdal_cap cap;
    gpn__gdal_cap_begin(&cap);
    GDALBuildVRTOptions *opts = GDALBuildVRTOptionsNew(NULL, NULL);
    if (!opts) {
        rc = gpn__gdal_cap_err(&cap, err, GPN_ELIB, fn, "bad options");
        goto done;
    }
    int usage_err = 0;
    GDALDatasetH vrt = GDALBuildVRT(tmp, n, NULL, (const char *const *)full, opts, &usage_err);
    GDALBuildVRTOptionsFree(opts);
    if (vrt) GDALClose(vrt); /* writes the XML */
    if (!vrt || cap.n_fail) {
        rc = gpn__gdal_cap_err(&cap, err, GPN_EFORMAT, fn, "VRT build failed");
        goto done;
    }
    /* gdalbuildvrt skips incompatible sources with a mere warning; a mosaic
     * silently missing tiles is an error here. */
    if (cap.n_warn && strstr(cap.warn, "kipping")) {
        rc = gpn_err_set(err, GPN_EFORMAT, "%s: %s", fn, cap.warn);
        goto done;
    }
done:
    gpn__gdal_cap_end(&cap);
    for (int i = 0; i < n; i++) free(full[i]);
    free(full);
    if (rc == 0) rc = gpn_rename_atomic(tmp, path, err);
    if (rc) remove_tmp_family(tmp);
    return rc;
}
