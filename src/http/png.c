/*
 * png.c - images and their encoders: PNG (palette or RGBA, libpng), JPEG
 * (libjpeg) and WebP (libwebp, loaded at run time) (render.h).
 *
 * Speed matters more than the last percent of size for dynamic maps: PNGs
 * are written with zlib level 2 and the RLE strategy, which suits maps (long
 * runs of one class) and is several times faster than the default. Palette
 * PNGs use the smallest bit depth that holds the palette (1, 2, 4 or 8 bits)
 * and a tRNS chunk cut after the last non-opaque entry.
 *
 * WebP: libwebp is not among the libraries the build links, so the encoder
 * is loaded with dlopen("libwebp.so.7") on first use; without it WebP
 * requests get a clean InvalidFormat instead of a link dependency.
 *
 * libpng and libjpeg report errors by longjmp; every local that lives across
 * setjmp is volatile or set before it, and nothing is allocated between the
 * setjmp and the encoder's own cleanup that is not freed on both paths.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jpeglib.h>
#include <png.h>
#include <zlib.h>

#include "gpn/render.h"

/* ==== images ============================================================ */

int gpn_image_init(struct gpn_image *img, int w, int h, int indexed, struct gpn_err *err)
{
    memset(img, 0, sizeof *img);
    if (w < 1 || h < 1 || w > 65536 || h > 65536)
        return gpn_err_set(err, GPN_EINVAL, "gpn_image_init: bad size %dx%d", w, h);
    size_t n = (size_t)w * (size_t)h * (indexed ? 1 : 4);
    img->px = calloc(n, 1);
    if (!img->px) return gpn_err_set(err, GPN_ENOMEM, "gpn_image_init: out of memory (%dx%d)", w, h);
    img->w = w;
    img->h = h;
    img->indexed = indexed;
    return 0;
}

void gpn_image_free(struct gpn_image *img)
{
    if (!img) return;
    free(img->px);
    img->px = NULL;
}

int gpn_image_to_rgba(struct gpn_image *img, struct gpn_err *err)
{
    if (!img->indexed) return 0;
    size_t n = (size_t)img->w * (size_t)img->h;
    uint8_t *rgba = malloc(n * 4);
    if (!rgba) return gpn_err_set(err, GPN_ENOMEM, "gpn_image_to_rgba: out of memory");
    const uint32_t *pal = (const uint32_t *)(const void *)img->pal;
    uint32_t *o = (uint32_t *)(void *)rgba;
    for (size_t i = 0; i < n; i++) o[i] = pal[img->px[i]];
    free(img->px);
    img->px = rgba;
    img->indexed = 0;
    return 0;
}

static inline void blend_over(uint8_t *d, const uint8_t *s)
{
    unsigned sa = s[3];
    if (sa == 255) {
        memcpy(d, s, 4);
        return;
    }
    if (sa == 0) return;
    unsigned da = d[3];
    unsigned oa = sa + da * (255 - sa) / 255;
    if (oa == 0) return;
    for (int c = 0; c < 3; c++) d[c] = (uint8_t)((s[c] * sa + d[c] * da * (255 - sa) / 255) / oa);
    d[3] = (uint8_t)oa;
}

void gpn_image_composite(struct gpn_image *dst, const struct gpn_image *src)
{
    if (dst->indexed || dst->w != src->w || dst->h != src->h) return;
    size_t n = (size_t)dst->w * (size_t)dst->h;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *s = src->indexed ? src->pal[src->px[i]] : src->px + i * 4;
        blend_over(dst->px + i * 4, s);
    }
}

/* ==== formats =========================================================== */

enum gpn_image_format gpn_image_format_parse(const char *s)
{
    if (!s) return 0;
    while (*s == ' ') s++;
    if (!strncasecmp(s, "image/", 6)) s += 6;
    if (!strcasecmp(s, "png") || !strcasecmp(s, "png; mode=24bit") || !strcasecmp(s, "png; mode=32bit") ||
        !strcasecmp(s, "x-png"))
        return !strcasecmp(s, "png; mode=32bit") || !strcasecmp(s, "png; mode=24bit") ? GPN_IMG_PNG32 : GPN_IMG_PNG;
    if (!strcasecmp(s, "png8") || !strcasecmp(s, "png; mode=8bit")) return GPN_IMG_PNG8;
    if (!strcasecmp(s, "jpeg") || !strcasecmp(s, "jpg")) return GPN_IMG_JPEG;
    if (!strcasecmp(s, "webp")) return GPN_IMG_WEBP;
    return 0;
}

const char *gpn_image_format_mime(enum gpn_image_format f)
{
    switch (f) {
    case GPN_IMG_PNG:
    case GPN_IMG_PNG32:
        return "image/png";
    case GPN_IMG_PNG8:
        return "image/png; mode=8bit";
    case GPN_IMG_JPEG:
        return "image/jpeg";
    case GPN_IMG_WEBP:
        return "image/webp";
    }
    return "application/octet-stream";
}

/* ==== PNG =============================================================== */

static void png_write_cb(png_structp png, png_bytep data, png_size_t len)
{
    struct gpn_buf *b = png_get_io_ptr(png);
    if (gpn_buf_append(b, data, len)) png_error(png, "out of memory");
}

static void png_flush_cb(png_structp png)
{
    (void)png;
}

/* Writes rows (h pointers of packed pixels) as a PNG. For palette images
 * pal/npal/ntrns describe PLTE/tRNS and bits the depth (pixels one byte
 * each; libpng packs). */
static int png_write(struct gpn_buf *out, int w, int h, int color_type, int bits, uint8_t **rows,
                     const uint8_t (*pal)[4], int npal, int ntrns, struct gpn_err *err)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    if (!png) return gpn_err_set(err, GPN_ENOMEM, "png: out of memory");
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return gpn_err_set(err, GPN_ENOMEM, "png: out of memory");
    }
    size_t start = out->len;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        out->len = start;
        return gpn_err_set(err, GPN_ELIB, "png: encoding failed");
    }
    png_set_write_fn(png, out, png_write_cb, png_flush_cb);
    png_set_compression_level(png, 2);
    png_set_compression_strategy(png, Z_RLE);
    png_set_filter(png, 0, color_type == PNG_COLOR_TYPE_PALETTE ? PNG_FILTER_NONE : PNG_FILTER_SUB);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, bits, color_type, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        png_color plte[256];
        png_byte trns[256];
        for (int i = 0; i < npal; i++) {
            plte[i].red = pal[i][0];
            plte[i].green = pal[i][1];
            plte[i].blue = pal[i][2];
            trns[i] = pal[i][3];
        }
        png_set_PLTE(png, info, plte, npal);
        if (ntrns > 0) png_set_tRNS(png, info, trns, ntrns, NULL);
    }
    png_write_info(png, info);
    if (color_type == PNG_COLOR_TYPE_PALETTE && bits < 8) png_set_packing(png);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}

static int encode_png_indexed(const uint8_t *px, int w, int h, const uint8_t (*pal_in)[4], int n_pal,
                              int transparent, const uint8_t bg[3], struct gpn_buf *out, struct gpn_err *err)
{
    uint8_t pal[256][4];
    /* Entries actually used decide the palette size; the highest index
     * bounds it (indices must stay valid). */
    int maxi = 0;
    size_t n = (size_t)w * (size_t)h;
    for (size_t i = 0; i < n; i++)
        if (px[i] > maxi) maxi = px[i];
    int npal = maxi + 1;
    if (n_pal > 0 && npal < 1) npal = 1;
    memcpy(pal, pal_in, sizeof pal);
    if (!transparent) {
        for (int i = 0; i < npal; i++) {
            unsigned a = pal[i][3];
            for (int c = 0; c < 3; c++) pal[i][c] = (uint8_t)((pal[i][c] * a + bg[c] * (255 - a) + 127) / 255);
            pal[i][3] = 255;
        }
    }
    int ntrns = 0;
    for (int i = 0; i < npal; i++)
        if (pal[i][3] != 255) ntrns = i + 1;
    int bits = npal <= 2 ? 1 : npal <= 4 ? 2 : npal <= 16 ? 4 : 8;
    uint8_t **rows = malloc(sizeof *rows * (size_t)h);
    if (!rows) return gpn_err_set(err, GPN_ENOMEM, "png: out of memory");
    for (int y = 0; y < h; y++) rows[y] = (uint8_t *)px + (size_t)y * (size_t)w;
    int rc = png_write(out, w, h, PNG_COLOR_TYPE_PALETTE, bits, rows, (const uint8_t(*)[4])pal, npal, ntrns, err);
    free(rows);
    return rc;
}

static int encode_png_rgba(const struct gpn_image *img, int transparent, const uint8_t bg[3], struct gpn_buf *out,
                           struct gpn_err *err)
{
    int w = img->w, h = img->h;
    int ch = transparent ? 4 : 3;
    uint8_t *tmp = NULL;
    const uint8_t *src = img->px;
    if (!transparent) {
        tmp = malloc((size_t)w * (size_t)h * 3);
        if (!tmp) return gpn_err_set(err, GPN_ENOMEM, "png: out of memory");
        size_t n = (size_t)w * (size_t)h;
        for (size_t i = 0; i < n; i++) {
            const uint8_t *s = img->px + i * 4;
            unsigned a = s[3];
            for (int c = 0; c < 3; c++) tmp[i * 3 + c] = (uint8_t)((s[c] * a + bg[c] * (255 - a) + 127) / 255);
        }
        src = tmp;
    }
    uint8_t **rows = malloc(sizeof *rows * (size_t)h);
    if (!rows) {
        free(tmp);
        return gpn_err_set(err, GPN_ENOMEM, "png: out of memory");
    }
    for (int y = 0; y < h; y++) rows[y] = (uint8_t *)src + (size_t)y * (size_t)w * (size_t)ch;
    int rc = png_write(out, w, h, transparent ? PNG_COLOR_TYPE_RGBA : PNG_COLOR_TYPE_RGB, 8, rows, NULL, 0, 0, err);
    free(rows);
    free(tmp);
    return rc;
}

/* Quantises an RGBA image with at most 256 distinct colours to indices.
 * Returns 1 when it fitted, 0 when there are more colours, < 0 on OOM. */
static int quantise_exact(const struct gpn_image *img, uint8_t *idx, uint8_t pal[256][4], int *npal)
{
    enum { HS = 1024 };
    uint32_t keys[HS];
    int16_t vals[HS];
    memset(vals, -1, sizeof vals);
    int n = 0;
    size_t np = (size_t)img->w * (size_t)img->h;
    const uint32_t *px = (const uint32_t *)(const void *)img->px;
    for (size_t i = 0; i < np; i++) {
        uint32_t c = px[i];
        if (((const uint8_t *)&c)[3] == 0) c = 0; /* all transparent pixels alike */
        uint32_t hsh = (c * 2654435761u) >> 22;
        for (;;) {
            if (vals[hsh] < 0) {
                if (n == 256) return 0;
                keys[hsh] = c;
                vals[hsh] = (int16_t)n;
                memcpy(pal[n], &c, 4);
                n++;
                break;
            }
            if (keys[hsh] == c) break;
            hsh = (hsh + 1) & (HS - 1);
        }
        idx[i] = (uint8_t)vals[hsh];
    }
    *npal = n;
    return 1;
}

/* ==== JPEG ============================================================== */

struct jpeg_err_jmp {
    struct jpeg_error_mgr mgr;
    jmp_buf jb;
};

static void jpeg_error_exit_cb(j_common_ptr cinfo)
{
    struct jpeg_err_jmp *e = (struct jpeg_err_jmp *)cinfo->err;
    longjmp(e->jb, 1);
}

static int encode_jpeg(const struct gpn_image *img, const uint8_t bg[3], int quality, struct gpn_buf *out,
                       struct gpn_err *err)
{
    int w = img->w, h = img->h;
    uint8_t *rgb = malloc((size_t)w * (size_t)h * 3);
    if (!rgb) return gpn_err_set(err, GPN_ENOMEM, "jpeg: out of memory");
    size_t n = (size_t)w * (size_t)h;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *s = img->indexed ? img->pal[img->px[i]] : img->px + i * 4;
        unsigned a = s[3];
        for (int c = 0; c < 3; c++) rgb[i * 3 + c] = (uint8_t)((s[c] * a + bg[c] * (255 - a) + 127) / 255);
    }
    struct jpeg_compress_struct cinfo;
    struct jpeg_err_jmp jerr;
    unsigned char *volatile mem = NULL;
    unsigned long volatile memlen = 0;
    cinfo.err = jpeg_std_error(&jerr.mgr);
    jerr.mgr.error_exit = jpeg_error_exit_cb;
    if (setjmp(jerr.jb)) {
        jpeg_destroy_compress(&cinfo);
        free(rgb);
        free(mem);
        return gpn_err_set(err, GPN_ELIB, "jpeg: encoding failed");
    }
    jpeg_create_compress(&cinfo);
    unsigned char *m = NULL;
    unsigned long ml = 0;
    jpeg_mem_dest(&cinfo, &m, &ml);
    cinfo.image_width = (JDIMENSION)w;
    cinfo.image_height = (JDIMENSION)h;
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality < 1 ? 85 : quality > 100 ? 100 : quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = rgb + (size_t)cinfo.next_scanline * (size_t)w * 3;
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    mem = m;
    memlen = ml;
    jpeg_destroy_compress(&cinfo);
    free(rgb);
    int rc = gpn_buf_append(out, mem, memlen) ? gpn_err_set(err, GPN_ENOMEM, "jpeg: out of memory") : 0;
    free(mem);
    return rc;
}

/* ==== WebP (dlopen) ===================================================== */

typedef size_t (*webp_enc_fn)(const uint8_t *, int, int, int, float, uint8_t **);
typedef size_t (*webp_enc_ll_fn)(const uint8_t *, int, int, int, uint8_t **);
typedef void (*webp_free_fn)(void *);

static pthread_once_t webp_once = PTHREAD_ONCE_INIT;
static webp_enc_fn webp_enc;
static webp_enc_ll_fn webp_enc_ll;
static webp_free_fn webp_free;

static void webp_load(void)
{
    const char *names[] = {"libwebp.so.7", "libwebp.so", NULL};
    for (int i = 0; names[i]; i++) {
        void *h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (!h) continue;
        /* dlsym returns void *; the cast through a union avoids -Wpedantic's
         * object-to-function pointer complaint. */
        union { void *p; webp_enc_fn f; } a = {dlsym(h, "WebPEncodeRGBA")};
        union { void *p; webp_enc_ll_fn f; } b = {dlsym(h, "WebPEncodeLosslessRGBA")};
        union { void *p; webp_free_fn f; } c = {dlsym(h, "WebPFree")};
        if (a.p && b.p && c.p) {
            webp_enc = a.f;
            webp_enc_ll = b.f;
            webp_free = c.f;
            return; /* the handle stays open for the life of the process */
        }
        dlclose(h);
    }
}

int gpn_image_webp_available(void)
{
    pthread_once(&webp_once, webp_load);
    return webp_enc != NULL;
}

static int encode_webp(const struct gpn_image *img, int transparent, const uint8_t bg[3], int quality,
                       struct gpn_buf *out, struct gpn_err *err)
{
    if (!gpn_image_webp_available()) return gpn_err_set(err, GPN_EUNSUPPORTED, "webp: libwebp is not installed");
    size_t n = (size_t)img->w * (size_t)img->h;
    uint8_t *rgba = malloc(n * 4);
    if (!rgba) return gpn_err_set(err, GPN_ENOMEM, "webp: out of memory");
    for (size_t i = 0; i < n; i++) {
        const uint8_t *s = img->indexed ? img->pal[img->px[i]] : img->px + i * 4;
        if (transparent) {
            memcpy(rgba + i * 4, s, 4);
        } else {
            unsigned a = s[3];
            for (int c = 0; c < 3; c++) rgba[i * 4 + c] = (uint8_t)((s[c] * a + bg[c] * (255 - a) + 127) / 255);
            rgba[i * 4 + 3] = 255;
        }
    }
    uint8_t *enc = NULL;
    size_t len = img->indexed ? webp_enc_ll(rgba, img->w, img->h, img->w * 4, &enc)
                              : webp_enc(rgba, img->w, img->h, img->w * 4, (float)(quality < 1 ? 85 : quality), &enc);
    free(rgba);
    if (!len || !enc) return gpn_err_set(err, GPN_ELIB, "webp: encoding failed");
    int rc = gpn_buf_append(out, enc, len) ? gpn_err_set(err, GPN_ENOMEM, "webp: out of memory") : 0;
    webp_free(enc);
    return rc;
}

/* ==== dispatch ========================================================== */

int gpn_image_encode(const struct gpn_image *img, enum gpn_image_format fmt, int transparent, const uint8_t bg[3],
                     int quality, struct gpn_buf *out, struct gpn_err *err)
{
    static const uint8_t white[3] = {255, 255, 255};
    if (!bg) bg = white;
    switch (fmt) {
    case GPN_IMG_PNG:
    case GPN_IMG_PNG8:
        if (img->indexed)
            return encode_png_indexed(img->px, img->w, img->h, (const uint8_t(*)[4])img->pal, img->n_pal,
                                      transparent, bg, out, err);
        if (fmt == GPN_IMG_PNG8) {
            size_t n = (size_t)img->w * (size_t)img->h;
            uint8_t *idx = malloc(n);
            if (!idx) return gpn_err_set(err, GPN_ENOMEM, "png: out of memory");
            uint8_t pal[256][4];
            int npal = 0;
            int fit = quantise_exact(img, idx, pal, &npal);
            int rc = fit == 1 ? encode_png_indexed(idx, img->w, img->h, (const uint8_t(*)[4])pal, npal, transparent,
                                                   bg, out, err)
                              : encode_png_rgba(img, transparent, bg, out, err);
            free(idx);
            return rc;
        }
        return encode_png_rgba(img, transparent, bg, out, err);
    case GPN_IMG_PNG32: {
        if (!img->indexed) return encode_png_rgba(img, transparent, bg, out, err);
        struct gpn_image tmp = *img;
        tmp.px = malloc((size_t)img->w * (size_t)img->h);
        if (!tmp.px) return gpn_err_set(err, GPN_ENOMEM, "png: out of memory");
        memcpy(tmp.px, img->px, (size_t)img->w * (size_t)img->h);
        int rc = gpn_image_to_rgba(&tmp, err);
        if (!rc) rc = encode_png_rgba(&tmp, transparent, bg, out, err);
        gpn_image_free(&tmp);
        return rc;
    }
    case GPN_IMG_JPEG:
        return encode_jpeg(img, bg, quality, out, err);
    case GPN_IMG_WEBP:
        return encode_webp(img, transparent, bg, quality, out, err);
    }
    return gpn_err_set(err, GPN_EUNSUPPORTED, "gpn_image_encode: unknown format %d", (int)fmt);
}

int gpn_png_decode(const void *data, size_t len, int *w, int *h, uint8_t **rgba, struct gpn_err *err)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&im, data, len))
        return gpn_err_set(err, GPN_EFORMAT, "gpn_png_decode: %s", im.message);
    im.format = PNG_FORMAT_RGBA;
    size_t n = PNG_IMAGE_SIZE(im);
    uint8_t *buf = malloc(n);
    if (!buf) {
        png_image_free(&im);
        return gpn_err_set(err, GPN_ENOMEM, "gpn_png_decode: out of memory");
    }
    if (!png_image_finish_read(&im, NULL, buf, 0, NULL)) {
        free(buf);
        png_image_free(&im);
        return gpn_err_set(err, GPN_EFORMAT, "gpn_png_decode: %s", im.message);
    }
    *w = (int)im.width;
    *h = (int)im.height;
    *rgba = buf;
    return 0;
}
