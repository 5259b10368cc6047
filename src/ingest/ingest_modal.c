/*
 * ingest_modal.c - the modality sources of `gpn ingest`: where a sample's
 * Sentinel-2 patch, Landsat cube and climate cube come from.
 *
 * One struct ing_source per modality, of one of these types:
 *   S2_JPEG     folder of GeoPlant JPEG patches: <rgb>/<last2>/<prev2>/<id>.jpeg
 *               (or .jpg) with the NIR patch at the same place under <nir>,
 *               where <nir> is <rgb> with its last "rgb" replaced by "nir";
 *               given DIR, <rgb> is DIR/rgb when that exists, else DIR.
 *               id = patchID when the sample has one, else surveyId.
 *   S2_FLAT     a folder without rgb/nir split: per sample, a 4-band patch
 *               <last2>/<prev2>/<id>.tiff|.tif (GLC25), else the GLC22 pair
 *               <last2>/<prev2>/<id>_rgb.jpg + <id>_near_ir.jpg
 *   S2_RASTER   a 4-band 10 m mosaic in EPSG:3035; the patch is the
 *               (H, W) window whose centre pixel (H/2, W/2) contains the
 *               sample's (x, y); pixels beyond the mosaic edge are 0.
 *   CUBE_TS     GLC23 Landsat time series: time_series_{red,green,blue,nir,
 *               swir1,swir2}.csv keyed by timeSerieID, columns YYYY_Q.
 *   CUBE_NPY    folder of per-survey cubes <surveyId>.npy, (6,4,21) Landsat
 *               or (4,19,12) climate, any numeric dtype (stored float32).
 *   CUBE_RASTER a raster of 504 (Landsat) or 912 (climate) bands in C order
 *               of the cube, sampled at the pixel containing the point;
 *               EPSG:3035 rasters use (x, y), EPSG:4326 ones (lon, lat).
 *
 * Values: Byte patches are copied; other Sentinel data types are converted
 * as GeoPlant made its JPEGs (clip to [0, 10000], / 10000, ^(1/2.5), x 255,
 * rounded). In cubes, NaN, the raster's nodata value and the GLC23 "eos"
 * marker become 0 (GeoPlant's NaN -> 0 on load).
 *
 * Cube rasters are read block by block when opened: the samples are
 * grouped by the raster block holding their pixel, each block window is
 * read once, and every sample's cube is kept (native uint8, else float32)
 * until it is asked for. A 504-band pixel-interleaved block of 512 x 512 is
 * ~130 MB decoded, so reading sample by sample would depend on GDAL's
 * block cache holding every block the samples touch (a 30 m Landsat stack
 * of the default synthetic region needs 2.1 GB; with GDAL's default cache
 * the reads thrashed for > 5 minutes). When the kept cubes would exceed
 * CUBE_PRELOAD_MAX bytes or a block window CUBE_WINDOW_MAX, samples are
 * read one pixel at a time as before.
 *
 * Rasters go through raster.h only (the GDAL module). JPEG patches are
 * checked for their end-of-image marker before decoding, because libjpeg
 * only warns about a truncated file and returns grey rows.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "gpn/csv.h"
#include "gpn/dataset.h"
#include "gpn/ingest.h"
#include "gpn/log.h"
#include "gpn/progress.h"
#include "gpn/raster.h"
#include "gpn/util.h"
#include "ingest_priv.h"

enum { S2_JPEG, S2_FLAT, S2_RASTER, CUBE_TS, CUBE_NPY, CUBE_RASTER };

static const char *const type_name[] = {"jpeg-folder",       "flat-folder", "raster",
                                        "glc23-time-series", "npy-folder",  "raster"};

/* int64 id -> row index, open addressing (for the time series). */
struct imap {
    int64_t *key;
    int64_t *val;
    size_t cap, n;
};

struct ing_source {
    int mod, type;
    char path[PATH_MAX];
    char rgb[PATH_MAX], nir[PATH_MAX];
    int dims[3];          /* per-sample array shape */
    struct gpn_raster *r; /* S2_RASTER / CUBE_RASTER */
    struct gpn_raster_info info;
    struct imap ids; /* CUBE_TS: id -> row of ts */
    float *ts;       /* CUBE_TS: (n_ids, 6, 4, 21) */
    size_t ts_rows;
    float *tmp; /* scratch for conversions */
    size_t tmp_n;
    /* CUBE_RASTER preload (cube_preload): cube of sample i at pre + i * n
     * values of pre_dt (GPN_DT_U8 or GPN_DT_F32) when pre_ok[i]. */
    const struct ing_sample *pre_base;
    size_t pre_n;
    void *pre;
    unsigned char *pre_ok;
    enum gpn_dtype pre_dt;
};

#ifndef CUBE_PRELOAD_MAX
#define CUBE_PRELOAD_MAX ((size_t)1 << 30) /* kept cubes, bytes (0: never preload) */
#endif
#define CUBE_WINDOW_MAX ((size_t)512 << 20) /* one block window, bytes */

/* ==== small helpers ====================================================== */

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

static int imap_grow(struct imap *m) {
    size_t nc = m->cap ? m->cap * 2 : 256;
    int64_t *k = malloc(nc * sizeof *k), *v = malloc(nc * sizeof *v);
    if (!k || !v) {
        free(k);
        free(v);
        return GPN_ENOMEM;
    }
    for (size_t i = 0; i < nc; i++)
        k[i] = INT64_MIN;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->key[i] == INT64_MIN) continue;
        size_t j = mix64((uint64_t)m->key[i]) & (nc - 1);
        while (k[j] != INT64_MIN)
            j = (j + 1) & (nc - 1);
        k[j] = m->key[i];
        v[j] = m->val[i];
    }
    free(m->key);
    free(m->val);
    m->key = k;
    m->val = v;
    m->cap = nc;
    return 0;
}

static int64_t *imap_get(const struct imap *m, int64_t key) {
    if (!m->cap) return NULL;
    for (size_t j = mix64((uint64_t)key) & (m->cap - 1);; j = (j + 1) & (m->cap - 1)) {
        if (m->key[j] == INT64_MIN) return NULL;
        if (m->key[j] == key) return &m->val[j];
    }
}

static int imap_put(struct imap *m, int64_t key, int64_t val) {
    int64_t *v = imap_get(m, key);
    if (v) {
        *v = val;
        return 0;
    }
    if ((m->n + 1) * 2 > m->cap && imap_grow(m)) return GPN_ENOMEM;
    size_t j = mix64((uint64_t)key) & (m->cap - 1);
    while (m->key[j] != INT64_MIN)
        j = (j + 1) & (m->cap - 1);
    m->key[j] = key;
    m->val[j] = val;
    m->n++;
    return 0;
}

static void imap_free(struct imap *m) {
    free(m->key);
    free(m->val);
    memset(m, 0, sizeof *m);
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* "<dir>/<last2>/<prev2>/<id><ext>" as in GeoPlant's loaders (Python's
 * s[-2:], s[-4:-2]: shorter ids give shorter or empty parts). */
static int patch_path(char *buf, size_t n, const char *dir, int64_t id, const char *ext) {
    char s[32];
    snprintf(s, sizeof s, "%" PRId64, id);
    size_t l = strlen(s);
    const char *last2 = s + (l >= 2 ? l - 2 : 0);
    char prev2[3] = "";
    if (l > 2) {
        size_t a = l >= 4 ? l - 4 : 0, b = l - 2;
        memcpy(prev2, s + a, b - a);
        prev2[b - a] = '\0';
    }
    int k = prev2[0] ? snprintf(buf, n, "%s/%s/%s/%s%s", dir, last2, prev2, s, ext)
                     : snprintf(buf, n, "%s/%s/%s%s", dir, last2, s, ext);
    return (k < 0 || (size_t)k >= n) ? GPN_ETOOBIG : 0;
}

static int64_t sample_patch_key(const struct ing_sample *s) {
    return s->patch_id >= 0 ? s->patch_id : s->survey_id;
}
static int64_t sample_ts_key(const struct ing_sample *s) {
    return s->ts_id >= 0 ? s->ts_id : s->survey_id;
}

/* 1 when the last 32 bytes of a JPEG file hold the EOI marker FF D9. */
static int jpeg_complete(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    unsigned char b[32];
    long size = (fseek(f, 0, SEEK_END) == 0) ? ftell(f) : -1;
    size_t n = 0;
    if (size >= 4) {
        long off = size > (long)sizeof b ? size - (long)sizeof b : 0;
        if (fseek(f, off, SEEK_SET) == 0) n = fread(b, 1, sizeof b, f);
    }
    fclose(f);
    for (size_t i = n; i >= 2; i--)
        if (b[i - 2] == 0xff && b[i - 1] == 0xd9) return 1;
    return 0;
}

static int ensure_tmp(struct ing_source *src, size_t n, struct gpn_err *err) {
    if (src->tmp_n >= n) return 0;
    float *t = realloc(src->tmp, n * sizeof *t);
    if (!t) return gpn_err_set(err, GPN_ENOMEM, "%s: out of memory", src->path);
    src->tmp = t;
    src->tmp_n = n;
    return 0;
}

/* GeoPlant's reflectance -> uint8 transfer (their JPEG patches). */
static uint8_t reflectance_u8(float v) {
    if (!(v > 0)) return 0;
    double t = v >= 10000 ? 1.0 : v / 10000.0;
    double u = 255.0 * pow(t, 1.0 / 2.5);
    return (uint8_t)(u + 0.5 > 255 ? 255 : u + 0.5);
}

/* ==== Sentinel readers ==================================================== */

/* Reads a whole patch file into out (C, H, W) uint8, bands [b0, b0 + nb).
 * Checks its size against the source's dims (fixing them when still 0). */
static int read_patch_file(struct ing_source *src, const char *path, int b0, int nb, uint8_t *out,
                           struct gpn_err *err) {
    struct gpn_raster *r = NULL;
    struct gpn_raster_info info;
    int rc = gpn_raster_open(path, &r, err);
    if (rc) return rc;
    if ((rc = gpn_raster_get_info(r, &info, err))) goto done;
    if (info.bands < b0 + nb - 1) {
        rc = gpn_err_set(err, GPN_EFORMAT, "%s: expected at least %d bands, found %d", path, b0 + nb - 1,
                         info.bands);
        goto done;
    }
    if (src->dims[1] == 0) {
        src->dims[1] = info.height;
        src->dims[2] = info.width;
    }
    if (info.width != src->dims[2] || info.height != src->dims[1]) {
        rc = gpn_err_set(err, GPN_EFORMAT, "%s: expected a %dx%d patch (--patch-size), found %dx%d", path,
                         src->dims[2], src->dims[1], info.width, info.height);
        goto done;
    }
    if (!out) goto done; /* probe for the size only */
    size_t plane = (size_t)info.width * (size_t)info.height;
    if (info.dtype == GPN_DT_U8) {
        rc = gpn_raster_read(r, b0, nb, 0, 0, info.width, info.height, GPN_DT_U8, out, err);
    } else {
        /* A private buffer: folder sources are read from several threads. */
        float *tmp = malloc(plane * (size_t)nb * sizeof *tmp);
        if (!tmp) {
            rc = gpn_err_set(err, GPN_ENOMEM, "%s: out of memory", path);
            goto done;
        }
        rc = gpn_raster_read(r, b0, nb, 0, 0, info.width, info.height, GPN_DT_F32, tmp, err);
        for (size_t i = 0; !rc && i < plane * (size_t)nb; i++)
            out[i] = reflectance_u8(tmp[i]);
        free(tmp);
    }
done:
    gpn_raster_close(r);
    return rc;
}

/* Finds the files of sample s. Returns FOUND_PAIR with rgb and nir set
 * (JPEG RGB + NIR), FOUND_TIFF with rgb set (one 4-band file), or 0 with
 * rgb set to the main path looked for. */
enum { FOUND_NONE = 0, FOUND_PAIR = 1, FOUND_TIFF = 2 };

static int s2_find(const struct ing_source *src, const struct ing_sample *s, char *rgb, char *nir, size_t n) {
    int64_t id = sample_patch_key(s);
    if (src->type == S2_JPEG) {
        static const char *const ext[] = {".jpeg", ".jpg"};
        for (int e = 0; e < 2; e++) {
            if (patch_path(rgb, n, src->rgb, id, ext[e]) || patch_path(nir, n, src->nir, id, ext[e]))
                return 0;
            if (is_file(rgb)) return FOUND_PAIR;
        }
        patch_path(rgb, n, src->rgb, id, ".jpeg");
        return FOUND_NONE;
    }
    static const char *const ext[] = {".tiff", ".tif"};
    for (int e = 0; e < 2; e++) {
        if (patch_path(rgb, n, src->path, id, ext[e])) return 0;
        if (is_file(rgb)) return FOUND_TIFF;
    }
    if (!patch_path(rgb, n, src->path, id, "_rgb.jpg") &&
        !patch_path(nir, n, src->path, id, "_near_ir.jpg") && is_file(rgb))
        return FOUND_PAIR;
    patch_path(rgb, n, src->path, id, ".tiff");
    return FOUND_NONE;
}

/* Pixel (col, row) of the sample in src's raster; 0 when outside. */
static int raster_pixel(const struct ing_source *src, const struct ing_sample *s, int *col, int *row) {
    double X = s->x, Y = s->y;
    if (src->info.epsg == 4326) X = s->lon, Y = s->lat;
    const double *gt = src->info.gt;
    double c = floor((X - gt[0]) / gt[1]), r = floor((Y - gt[3]) / gt[5]);
    if (!(c >= 0 && c < src->info.width && r >= 0 && r < src->info.height)) return 0;
    *col = (int)c;
    *row = (int)r;
    return 1;
}

static int s2_read(struct ing_source *src, const struct ing_sample *s, uint8_t *out, struct gpn_err *err) {
    int rc;
    if (src->type == S2_RASTER) {
        int col, row;
        if (!raster_pixel(src, s, &col, &row)) return GPN_ENOTFOUND;
        int h = src->dims[1], w = src->dims[2];
        int x0 = col - w / 2, y0 = row - h / 2;
        int u8 = src->info.dtype == GPN_DT_U8;
        size_t n = (size_t)4 * (size_t)h * (size_t)w;
        if (!u8 && (rc = ensure_tmp(src, n, err))) return rc;
        void *buf = u8 ? (void *)out : (void *)src->tmp;
        enum gpn_dtype dt = u8 ? GPN_DT_U8 : GPN_DT_F32;
        if (x0 >= 0 && y0 >= 0 && x0 + w <= src->info.width && y0 + h <= src->info.height)
            rc = gpn_raster_read(src->r, 1, 4, x0, y0, w, h, dt, buf, err);
        else
            rc = gpn_raster_read_resampled(src->r, 1, 4, x0, y0, w, h, w, h, GPN_RESAMPLE_NEAREST, dt, 0.0,
                                           buf, err);
        if (rc) return gpn_err_prefix(err, "%s: patch at (%.1f, %.1f)", src->path, s->x, s->y);
        if (!u8)
            for (size_t i = 0; i < n; i++)
                out[i] = reflectance_u8(src->tmp[i]);
        return 0;
    }
    char rgb[PATH_MAX], nir[PATH_MAX];
    int found = s2_find(src, s, rgb, nir, sizeof rgb);
    if (!found) return GPN_ENOTFOUND;
    size_t plane = (size_t)src->dims[1] * (size_t)src->dims[2];
    if (found == FOUND_TIFF) return read_patch_file(src, rgb, 1, 4, out, err);
    if (!is_file(nir))
        return gpn_err_set(err, GPN_ENOTFOUND, "%s: NIR patch missing (RGB patch %s exists)", nir, rgb);
    if (!jpeg_complete(rgb))
        return gpn_err_set(err, GPN_EFORMAT, "%s: truncated JPEG (no end-of-image marker)", rgb);
    if (!jpeg_complete(nir))
        return gpn_err_set(err, GPN_EFORMAT, "%s: truncated JPEG (no end-of-image marker)", nir);
    if ((rc = read_patch_file(src, rgb, 1, 3, out, err))) return rc;
    return read_patch_file(src, nir, 1, 1, out + 3 * plane, err);
}

/* ==== cube readers ======================================================== */

static const char *const ts_band[6] = {"red", "green", "blue", "nir", "swir1", "swir2"};

/* Loads one time_series_<band>.csv: rows of needed ids into src->ts. */
static int ts_load_band(struct ing_source *src, int band, unsigned char *seen, struct gpn_err *err) {
    char path[PATH_MAX], name[64];
    snprintf(name, sizeof name, "time_series_%s.csv", ts_band[band]);
    if (gpn_path_join(path, sizeof path, src->path, name))
        return gpn_err_set(err, GPN_ETOOBIG, "%s: path too long", src->path);
    struct gpn_csv *c = NULL;
    int rc = gpn_csv_open(path, 0, &c, err);
    if (rc) return rc;
    int cid;
    int *slot = NULL;
    if ((rc = gpn_csv_require(c, "timeSerieID", &cid, err))) goto done;
    int nf = gpn_csv_nfields(c);
    slot = malloc((size_t)nf * sizeof *slot);
    if (!slot) {
        rc = gpn_err_set(err, GPN_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    /* Column "YYYY_Q" -> quarter * 21 + (YYYY - first year). */
    int y0 = INT_MAX, y1 = INT_MIN;
    for (int i = 0; i < nf; i++) {
        int y, q;
        char tail;
        if (i != cid && sscanf(gpn_csv_header(c, i), "%d_%d%c", &y, &q, &tail) == 2 && q >= 1 && q <= 4) {
            if (y < y0) y0 = y;
            if (y > y1) y1 = y;
        }
    }
    if (y0 == INT_MAX) {
        rc = gpn_err_set(err, GPN_EFORMAT,
                         "%s:1: expected quarterly columns named YEAR_QUARTER (e.g. 2000_1)", path);
        goto done;
    }
    if (y1 - y0 + 1 > 21) {
        rc = gpn_err_set(err, GPN_EFORMAT,
                         "%s:1: expected at most 21 years of quarterly columns, found %d..%d", path, y0, y1);
        goto done;
    }
    for (int i = 0; i < nf; i++) {
        int y, q;
        char tail;
        slot[i] = -1;
        if (i != cid && sscanf(gpn_csv_header(c, i), "%d_%d%c", &y, &q, &tail) == 2 && q >= 1 && q <= 4)
            slot[i] = (q - 1) * 21 + (y - y0);
    }
    while ((rc = gpn_csv_next(c, err)) == 1) {
        long line = gpn_csv_line(c);
        int64_t id;
        if (gpn_ingest_parse_id(gpn_csv_field(c, cid), INT64_MIN, INT64_MAX, &id)) {
            rc = gpn_err_set(err, GPN_EFORMAT, "%s:%ld: timeSerieID: expected an integer, found '%s'", path,
                             line, gpn_csv_field(c, cid));
            goto done;
        }
        int64_t *row = imap_get(&src->ids, id);
        if (!row) continue; /* not used by any sample */
        seen[*row] = 1;
        float *dst = src->ts + (size_t)*row * 504 + (size_t)band * 84;
        for (int i = 0; i < nf; i++) {
            if (slot[i] < 0) continue;
            const char *v = gpn_csv_field(c, i);
            char *end;
            double d = strtod(v, &end);
            if (end == v) {
                while (*v == ' ')
                    v++;
                if (*v && strcasecmp(v, "eos") && strcasecmp(v, "nan") && strcasecmp(v, "na")) {
                    rc = gpn_err_set(err, GPN_EFORMAT, "%s:%ld: %s: expected a number or 'eos', found '%s'",
                                     path, line, gpn_csv_header(c, i), v);
                    goto done;
                }
                d = 0;
            } else if (*end && *end != ' ' && *end != '\r') {
                rc = gpn_err_set(err, GPN_EFORMAT, "%s:%ld: %s: expected a number, found '%s'", path, line,
                                 gpn_csv_header(c, i), v);
                goto done;
            }
            dst[slot[i]] = isfinite(d) ? (float)d : 0.0f;
        }
    }
    if (rc < 0) goto done;
    rc = 0;
done:
    free(slot);
    gpn_csv_close(c);
    return rc;
}

/* Collects the ids the samples need, loads the six band files and marks in
 * the map which ids were found: found rows keep their row index, ids in no
 * band file become -(row + 1). An id present in some band files but not
 * others keeps zeros for the missing bands. */
static int ts_open(struct ing_source *src, const struct ing_data *d, struct gpn_err *err) {
    for (size_t i = 0; i < d->ns; i++) {
        int64_t id = sample_ts_key(&d->s[i]);
        if (!imap_get(&src->ids, id) && imap_put(&src->ids, id, (int64_t)src->ts_rows++))
            return gpn_err_set(err, GPN_ENOMEM, "%s: out of memory", src->path);
    }
    size_t n = src->ts_rows ? src->ts_rows : 1;
    src->ts = calloc(n * 504, sizeof *src->ts);
    unsigned char *seen = calloc(n, 1);
    if (!src->ts || !seen) {
        free(seen);
        return gpn_err_set(err, GPN_ENOMEM, "%s: out of memory for %zu time series", src->path, src->ts_rows);
    }
    int rc = 0;
    for (int b = 0; b < 6 && !rc; b++) {
        char probe[PATH_MAX], name[64];
        snprintf(name, sizeof name, "time_series_%s.csv", ts_band[b]);
        gpn_path_join(probe, sizeof probe, src->path, name);
        if (!is_file(probe))
            rc = gpn_err_set(
                err, GPN_ENOTFOUND,
                "%s: missing (a GLC23 Landsat folder has time_series_{red,green,blue,nir,swir1,swir2}.csv)",
                probe);
        else
            rc = ts_load_band(src, b, seen, err);
    }
    for (size_t j = 0; !rc && j < src->ids.cap; j++) {
        if (src->ids.key[j] == INT64_MIN) continue;
        int64_t r = src->ids.val[j];
        if (!seen[r]) src->ids.val[j] = -(r + 1);
    }
    free(seen);
    return rc;
}

/* Converts an npy array of any supported dtype to float, NaN -> 0. */
static void npy_to_float(const struct gpn_npy *a, float *out, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double v;
        switch (a->dtype) {
        case GPN_NPY_U1:
            v = ((const uint8_t *)a->data)[i];
            break;
        case GPN_NPY_I4:
            v = ((const int32_t *)a->data)[i];
            break;
        case GPN_NPY_I8:
            v = (double)((const int64_t *)a->data)[i];
            break;
        case GPN_NPY_F4:
            v = ((const float *)a->data)[i];
            break;
        default:
            v = ((const double *)a->data)[i];
            break;
        }
        out[i] = isfinite(v) ? (float)v : 0.0f;
    }
}

static int cube_npy_path(const struct ing_source *src, const struct ing_sample *s, char *buf, size_t n) {
    char name[40];
    snprintf(name, sizeof name, "%" PRId64 ".npy", s->survey_id);
    return gpn_path_join(buf, n, src->path, name);
}

struct pre_key {
    int64_t block; /* row-major block index */
    size_t sample;
};

static int pre_key_cmp(const void *a, const void *b) {
    const struct pre_key *x = a, *y = b;
    if (x->block != y->block) return x->block < y->block ? -1 : 1;
    return x->sample < y->sample ? -1 : x->sample > y->sample;
}

/* Reads the cube of every sample of d that lies on the raster, one block
 * window at a time (see the file comment). Leaves src->pre NULL (samples
 * are then read one by one) when the cubes or a window would be too big. */
static int cube_preload(struct ing_source *src, const struct ing_data *d, struct gpn_err *err) {
    size_t n = (size_t)src->dims[0] * (size_t)src->dims[1] * (size_t)src->dims[2];
    enum gpn_dtype dt = src->info.dtype == GPN_DT_U8 ? GPN_DT_U8 : GPN_DT_F32;
    size_t el = gpn_dtype_size(dt);
    int W = src->info.width, H = src->info.height;
    int bw = src->info.block_w > 0 ? src->info.block_w : 256, bh = src->info.block_h > 0 ? src->info.block_h : 256;
    if (bw > W) bw = W;
    if (bh > H) bh = H;
    if (d->ns == 0) return 0;
    if ((double)d->ns * (double)n * (double)el > (double)CUBE_PRELOAD_MAX ||
        (double)bw * (double)bh * (double)n * (double)el > (double)CUBE_WINDOW_MAX) {
        gpn_log_debug("ingest: %s: %zu cubes or a %d x %d block too big to preload; reading per sample", src->path,
                      d->ns, bw, bh);
        return 0;
    }
    double t0 = gpn_now();
    int64_t nbx = (W + bw - 1) / bw;
    struct pre_key *keys = malloc(d->ns * sizeof *keys);
    src->pre_ok = calloc(d->ns, 1);
    src->pre = malloc(d->ns * n * el);
    void *win = NULL;
    int rc = 0;
    if (!keys || !src->pre_ok || !src->pre) {
        rc = gpn_err_set(err, GPN_ENOMEM, "%s: out of memory for %zu cubes", src->path, d->ns);
        goto done;
    }
    size_t nk = 0;
    for (size_t i = 0; i < d->ns; i++) {
        int col, row;
        if (!raster_pixel(src, &d->s[i], &col, &row)) continue;
        keys[nk].block = (int64_t)(row / bh) * nbx + col / bw;
        keys[nk].sample = i;
        nk++;
    }
    gpn_qsort(keys, nk, sizeof *keys, pre_key_cmp);
    win = malloc((size_t)bw * (size_t)bh * n * el);
    if (nk && !win) {
        rc = gpn_err_set(err, GPN_ENOMEM, "%s: out of memory for a %d x %d block", src->path, bw, bh);
        goto done;
    }
    int nblocks = 0;
    for (size_t k0 = 0, k1; k0 < nk; k0 = k1) {
        for (k1 = k0 + 1; k1 < nk && keys[k1].block == keys[k0].block; k1++) {}
        int x0 = (int)(keys[k0].block % nbx) * bw, y0 = (int)(keys[k0].block / nbx) * bh;
        int ww = W - x0 < bw ? W - x0 : bw, wh = H - y0 < bh ? H - y0 : bh;
        if ((rc = gpn_raster_read(src->r, 1, (int)n, x0, y0, ww, wh, dt, win, err))) {
            rc = gpn_err_prefix(err, "%s: block at pixel (%d, %d)", src->path, x0, y0);
            goto done;
        }
        nblocks++;
        size_t plane = (size_t)ww * (size_t)wh;
        for (size_t k = k0; k < k1; k++) {
            size_t i = keys[k].sample;
            int col, row;
            raster_pixel(src, &d->s[i], &col, &row);
            size_t off = (size_t)(row - y0) * (size_t)ww + (size_t)(col - x0);
            if (dt == GPN_DT_U8) {
                const uint8_t *w8 = win;
                uint8_t *o8 = (uint8_t *)src->pre + i * n;
                for (size_t b = 0; b < n; b++)
                    o8[b] = w8[b * plane + off];
            } else {
                const float *wf = win;
                float *of = (float *)src->pre + i * n;
                for (size_t b = 0; b < n; b++)
                    of[b] = wf[b * plane + off];
            }
            src->pre_ok[i] = 1;
        }
    }
    src->pre_base = d->s;
    src->pre_n = d->ns;
    src->pre_dt = dt;
    gpn_log_debug("ingest: %s: %zu cubes read from %d blocks of %d x %d in %.1f s", src->path, nk, nblocks, bw, bh,
                  gpn_now() - t0);
done:
    free(keys);
    free(win);
    if (rc || !src->pre_base) {
        free(src->pre);
        free(src->pre_ok);
        src->pre = NULL;
        src->pre_ok = NULL;
    }
    return rc;
}

static int cube_read(struct ing_source *src, const struct ing_sample *s, float *out, struct gpn_err *err) {
    size_t n = (size_t)src->dims[0] * (size_t)src->dims[1] * (size_t)src->dims[2];
    int rc;
    if (src->type == CUBE_TS) {
        int64_t *row = imap_get(&src->ids, sample_ts_key(s));
        if (!row || *row < 0) return GPN_ENOTFOUND;
        memcpy(out, src->ts + (size_t)*row * 504, 504 * sizeof *out);
        return 0;
    }
    if (src->type == CUBE_NPY) {
        char path[PATH_MAX];
        if (cube_npy_path(src, s, path, sizeof path) || !is_file(path)) return GPN_ENOTFOUND;
        struct gpn_npy a;
        if ((rc = gpn_npy_map(path, &a, err))) return rc;
        int ok = gpn_npy_count(&a) == (int64_t)n && a.ndim >= 3;
        for (int i = 0; ok && i < 3; i++)
            ok = a.shape[a.ndim - 3 + i] == src->dims[i];
        if (!ok) {
            gpn_npy_unmap(&a);
            return gpn_err_set(err, GPN_EFORMAT, "%s: expected shape (%d, %d, %d)", path, src->dims[0],
                               src->dims[1], src->dims[2]);
        }
        npy_to_float(&a, out, n);
        gpn_npy_unmap(&a);
        return 0;
    }
    int col, row;
    if (!raster_pixel(src, s, &col, &row)) return GPN_ENOTFOUND;
    size_t si = 0;
    int pre = src->pre && s >= src->pre_base && s < src->pre_base + src->pre_n;
    if (pre) si = (size_t)(s - src->pre_base);
    if (pre && src->pre_ok[si]) {
        if (src->pre_dt == GPN_DT_U8) {
            const uint8_t *v = (const uint8_t *)src->pre + si * n;
            for (size_t b = 0; b < n; b++)
                out[b] = (float)v[b];
        } else {
            memcpy(out, (const float *)src->pre + si * n, n * sizeof *out);
        }
    } else {
        rc = gpn_raster_read(src->r, 1, (int)n, col, row, 1, 1, GPN_DT_F32, out, err);
        if (rc) return gpn_err_prefix(err, "%s: pixel (%d, %d)", src->path, col, row);
    }
    for (size_t i = 0; i < n; i++)
        if (!isfinite(out[i]) || (src->info.has_nodata && out[i] == (float)src->info.nodata)) out[i] = 0.0f;
    return 0;
}

/* ==== public (internal) API ================================================ */

static int open_raster(struct ing_source *src, int want_bands, struct gpn_err *err) {
    int rc = gpn_raster_open(src->path, &src->r, err);
    if (rc) return rc;
    if ((rc = gpn_raster_get_info(src->r, &src->info, err))) return rc;
    if (src->info.bands != want_bands)
        return gpn_err_set(err, GPN_EFORMAT, "%s: expected a %d-band raster, found %d bands", src->path,
                           want_bands, src->info.bands);
    if (src->info.gt[2] != 0 || src->info.gt[4] != 0 || src->info.gt[1] == 0 || src->info.gt[5] == 0)
        return gpn_err_set(err, GPN_EUNSUPPORTED, "%s: rotated or degenerate geotransform", src->path);
    if (src->info.epsg != 3035 && !(src->mod != ING_S2 && src->info.epsg == 4326))
        return gpn_err_set(err, GPN_EUNSUPPORTED, "%s: expected CRS EPSG:3035%s, found %s%d", src->path,
                           src->mod != ING_S2 ? " or EPSG:4326" : "",
                           src->info.epsg ? "EPSG:" : "no EPSG code ", src->info.epsg);
    return 0;
}

int gpn__ingest_source_open(int mod, const char *path, int patch_size, const struct ing_data *d,
                            struct ing_source **out, struct gpn_err *err) {
    *out = NULL;
    static const char *const mname[] = {"--sentinel", "--landsat", "--climate"};
    if (!gpn_path_exists(path))
        return gpn_err_set(err, GPN_ENOTFOUND, "%s %s: no such file or folder", mname[mod], path);
    struct ing_source *src = calloc(1, sizeof *src);
    if (!src) return gpn_err_set(err, GPN_ENOMEM, "gpn__ingest_source_open: out of memory");
    src->mod = mod;
    int rc = 0;
    if (gpn_strlcpy(src->path, path, sizeof src->path) >= sizeof src->path) {
        rc = gpn_err_set(err, GPN_ETOOBIG, "%s: path too long", path);
        goto fail;
    }
    size_t pl = strlen(src->path);
    while (pl > 1 && src->path[pl - 1] == '/')
        src->path[--pl] = '\0';
    int dir = gpn_is_dir(src->path);
    if (mod == ING_S2) {
        src->dims[0] = 4;
        src->dims[1] = src->dims[2] = patch_size;
        if (!dir) {
            src->type = S2_RASTER;
            if (!patch_size) src->dims[1] = src->dims[2] = 128;
            if ((rc = open_raster(src, 4, err))) goto fail;
        } else {
            char sub[PATH_MAX];
            gpn_path_join(sub, sizeof sub, src->path, "rgb");
            const char *base = strrchr(src->path, '/');
            base = base ? base + 1 : src->path;
            if (gpn_is_dir(sub)) {
                src->type = S2_JPEG;
                gpn_strlcpy(src->rgb, sub, sizeof src->rgb);
                gpn_path_join(src->nir, sizeof src->nir, src->path, "nir");
            } else if (strstr(base, "rgb")) {
                src->type = S2_JPEG;
                gpn_strlcpy(src->rgb, src->path, sizeof src->rgb);
                gpn_strlcpy(src->nir, src->path, sizeof src->nir);
                /* Replace the last "rgb" of the folder name, as GeoPlant does. */
                char *last = NULL;
                for (char *p = strstr(src->nir, "rgb"); p; p = strstr(p + 1, "rgb"))
                    last = p;
                memcpy(last, "nir", 3);
            } else {
                src->type = S2_FLAT;
            }
            if (src->type == S2_JPEG && !gpn_is_dir(src->nir)) {
                rc =
                    gpn_err_set(err, GPN_ENOTFOUND, "--sentinel %s: NIR folder %s not found", path, src->nir);
                goto fail;
            }
        }
    } else {
        int c = mod == ING_LS ? 6 : 4, h = mod == ING_LS ? 4 : 19, w = mod == ING_LS ? 21 : 12;
        src->dims[0] = c, src->dims[1] = h, src->dims[2] = w;
        if (!dir) {
            src->type = CUBE_RASTER;
            if ((rc = open_raster(src, c * h * w, err))) goto fail;
            if ((rc = cube_preload(src, d, err))) goto fail;
        } else {
            char probe[PATH_MAX];
            gpn_path_join(probe, sizeof probe, src->path, "time_series_red.csv");
            if (mod == ING_LS && is_file(probe)) {
                src->type = CUBE_TS;
                if ((rc = ts_open(src, d, err))) goto fail;
            } else {
                src->type = CUBE_NPY;
            }
        }
    }
    gpn_log_debug("ingest: %s from %s (%s)", mname[mod], src->path, type_name[src->type]);
    *out = src;
    return 0;
fail:
    gpn__ingest_source_close(src);
    return rc;
}

void gpn__ingest_source_close(struct ing_source *src) {
    if (!src) return;
    gpn_raster_close(src->r);
    imap_free(&src->ids);
    free(src->ts);
    free(src->tmp);
    free(src->pre);
    free(src->pre_ok);
    free(src);
}

void gpn__ingest_source_dims(const struct ing_source *src, int dims[3]) {
    memcpy(dims, src->dims, sizeof src->dims);
}

const char *gpn__ingest_source_kind(const struct ing_source *src) {
    return type_name[src->type];
}

int gpn__ingest_source_thread_safe(const struct ing_source *src) {
    /* Folder sources open one file per sample and keep no mutable state
     * once the patch size is known; raster sources share one GDAL handle. */
    return src->type != S2_RASTER && src->type != CUBE_RASTER && (src->mod != ING_S2 || src->dims[1] > 0);
}

int gpn__ingest_source_probe(struct ing_source *src, const struct ing_sample *s, char *what, size_t n,
                             struct gpn_err *err) {
    char buf[PATH_MAX], nir[PATH_MAX];
    int col, row, found;
    switch (src->type) {
    case S2_JPEG:
    case S2_FLAT:
        found = s2_find(src, s, buf, nir, sizeof buf);
        if (found == FOUND_PAIR && !is_file(nir)) {
            found = FOUND_NONE;
            gpn_strlcpy(buf, nir, sizeof buf);
        }
        if (what) gpn_strlcpy(what, buf, n);
        if (found && src->dims[1] == 0) {
            /* Size the patches from the first one found. */
            int rc = read_patch_file(src, buf, 1, found == FOUND_TIFF ? 4 : 3, NULL, err);
            if (rc) return rc;
        }
        return found != FOUND_NONE;
    case S2_RASTER:
    case CUBE_RASTER:
        if (what) snprintf(what, n, "a pixel of %s at (%.1f, %.1f)", src->path, s->x, s->y);
        return raster_pixel(src, s, &col, &row);
    case CUBE_TS: {
        int64_t *r = imap_get(&src->ids, sample_ts_key(s));
        if (what)
            snprintf(what, n, "timeSerieID %" PRId64 " in %s/time_series_*.csv", sample_ts_key(s), src->path);
        return r && *r >= 0;
    }
    default:
        cube_npy_path(src, s, buf, sizeof buf);
        if (what) gpn_strlcpy(what, buf, n);
        return is_file(buf);
    }
}

int gpn__ingest_source_read(struct ing_source *src, const struct ing_sample *s, void *buf,
                            struct gpn_err *err) {
    if (src->mod == ING_S2) return s2_read(src, s, buf, err);
    return cube_read(src, s, buf, err);
}
