/*
 * test_raster.c - raster module: COG writing (float32 and categorical uint8
 * in EPSG:3035), windowed reads with exact values, info (layout, compression,
 * overviews, nodata, descriptions, metadata), resampled reads against means
 * computed by hand, windows partly outside the raster, a real GeoPlant JPEG
 * patch (checked against libjpeg decoding it directly) and a truncated copy,
 * VRT mosaics, atomic writes that fail midway, and per-thread error capture.
 */
#include "test.h"

#include <dirent.h>
#include <jpeglib.h>
#include <pthread.h>
#include <stdint.h>

#include "gpn/log.h"
#include "gpn/raster.h"
#include "gpn/util.h"

#define W 1000
#define H 800
#define JPEG_PATCH "data/glc23_sample/SatelliteImages/rgb/83/70/5217083.jpeg"

static const double GT3035[6] = {4000000.0, 50.0, 0.0, 3000000.0, 0.0, -50.0};

/* Value of band b at (x, y) of the float test image: exact in float32. */
static float fval(int b, int x, int y)
{
    return (float)(b * 1000000 + y * 1000 + x);
}

/* Class of the categorical image: constant on 8x8 blocks. */
static uint8_t cval(int x, int y)
{
    return (uint8_t)(((x / 8) * 7 + (y / 8) * 3) % 13 + 1);
}

static float *make_float_image(int bands)
{
    float *d = malloc((size_t)bands * W * H * sizeof *d);
    if (!d) abort();
    for (int b = 0; b < bands; b++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) d[((size_t)b * H + y) * W + x] = fval(b, x, y);
    return d;
}

static int write_float_cog(const char *path, struct gpn_err *err)
{
    float *d = make_float_image(2);
    static const char *const desc[] = {"temperature", "precipitation"};
    static const char *const md[] = {"GPN_LAYER=test", "UNITS=degC", NULL};
    struct gpn_cog_opts o = {.width = W, .height = H, .bands = 2, .dtype = GPN_DT_F32, .epsg = 3035,
                             .has_nodata = 1, .nodata = -9999.0, .band_desc = desc, .metadata = md};
    memcpy(o.gt, GT3035, sizeof o.gt);
    int rc = gpn_cog_write(path, &o, d, err);
    free(d);
    return rc;
}

static char *read_all(const char *path, size_t *len)
{
    char *data = NULL;
    struct gpn_err e = {0};
    if (gpn_file_read(path, &data, len, &e)) return NULL;
    return data;
}

/* Number of entries in dir whose name contains ".tmp-". */
static int count_tmp_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".tmp-")) n++;
    closedir(d);
    return n;
}

static void test_dtype_table(void)
{
    ASSERT_EQ_INT(gpn_dtype_size(GPN_DT_U8), 1);
    ASSERT_EQ_INT(gpn_dtype_size(GPN_DT_I16), 2);
    ASSERT_EQ_INT(gpn_dtype_size(GPN_DT_F32), 4);
    ASSERT_EQ_INT(gpn_dtype_size(GPN_DT_F64), 8);
    ASSERT_EQ_INT(gpn_dtype_size((enum gpn_dtype)99), 0);
    enum gpn_dtype dt;
    ASSERT_OK(gpn_dtype_parse("float32", &dt), (struct gpn_err *)NULL);
    ASSERT_EQ_INT(dt, GPN_DT_F32);
    ASSERT_RC(gpn_dtype_parse("float16", &dt), GPN_EINVAL);
    ASSERT_STR_EQ(gpn_dtype_name(GPN_DT_U16), "uint16");
}

static void test_cog_float_roundtrip(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/f32.tif", test_tmpdir());
    struct gpn_err err = {0};
    ASSERT_OK(write_float_cog(path, &err), &err);

    struct gpn_raster *r = NULL;
    ASSERT_OK(gpn_raster_open(path, &r, &err), &err);
    struct gpn_raster_info info;
    ASSERT_OK(gpn_raster_get_info(r, &info, &err), &err);
    ASSERT_EQ_INT(info.width, W);
    ASSERT_EQ_INT(info.height, H);
    ASSERT_EQ_INT(info.bands, 2);
    ASSERT_EQ_INT(info.dtype, GPN_DT_F32);
    ASSERT_EQ_INT(info.epsg, 3035);
    ASSERT_STR_CONTAINS(info.crs_wkt, "LAEA");
    for (int i = 0; i < 6; i++) ASSERT_NEAR(info.gt[i], GT3035[i], 1e-9);
    ASSERT_EQ_INT(info.has_nodata, 1);
    ASSERT_NEAR(info.nodata, -9999.0, 0);
    ASSERT_TRUE(info.n_overviews >= 1);
    ASSERT_EQ_INT(info.block_w, 512);
    ASSERT_EQ_INT(info.block_h, 512);
    ASSERT_STR_EQ(info.layout, "COG");
    ASSERT_STR_EQ(info.compression, "DEFLATE");
    ASSERT_STR_EQ(gpn_raster_band_description(r, 1), "temperature");
    ASSERT_STR_EQ(gpn_raster_band_description(r, 2), "precipitation");
    ASSERT_STR_EQ(gpn_raster_band_description(r, 3), "");
    ASSERT_STR_EQ(gpn_raster_metadata(r, "GPN_LAYER"), "test");
    ASSERT_STR_EQ(gpn_raster_metadata(r, "UNITS"), "degC");
    ASSERT_TRUE(gpn_raster_metadata(r, "NOPE") == NULL);
    int found = 0;
    for (const char *const *m = gpn_raster_metadata_list(r); m && *m; m++) found += !strcmp(*m, "UNITS=degC");
    ASSERT_EQ_INT(found, 1);

    /* Windows: corners, an odd interior one crossing tile borders, both bands. */
    const int win[][4] = {{0, 0, 10, 10}, {990, 790, 10, 10}, {123, 456, 477, 133}, {511, 511, 2, 2}};
    for (size_t k = 0; k < sizeof win / sizeof win[0]; k++) {
        int x0 = win[k][0], y0 = win[k][1], w = win[k][2], h = win[k][3];
        float *buf = malloc((size_t)2 * w * h * sizeof *buf);
        ASSERT_TRUE(buf != NULL);
        int rc = gpn_raster_read(r, 1, 2, x0, y0, w, h, GPN_DT_F32, buf, &err);
        if (rc) free(buf);
        ASSERT_OK(rc, &err);
        long bad = 0;
        for (int b = 0; b < 2; b++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) bad += buf[((size_t)b * h + y) * w + x] != fval(b, x0 + x, y0 + y);
        free(buf);
        ASSERT_EQ_INT(bad, 0);
    }
    /* Band 2 alone, converted to float64. */
    double d[12];
    ASSERT_OK(gpn_raster_read(r, 2, 1, 500, 400, 4, 3, GPN_DT_F64, d, &err), &err);
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 4; x++) ASSERT_NEAR(d[y * 4 + x], fval(1, 500 + x, 400 + y), 0);

    /* Out-of-range windows and bands are errors, not clipped reads. */
    ASSERT_RC(gpn_raster_read(r, 1, 1, 995, 0, 10, 10, GPN_DT_F32, d, &err), GPN_ERANGE);
    ASSERT_RC(gpn_raster_read(r, 1, 1, -1, 0, 2, 2, GPN_DT_F32, d, &err), GPN_ERANGE);
    ASSERT_RC(gpn_raster_read(r, 2, 2, 0, 0, 2, 2, GPN_DT_F32, d, &err), GPN_ERANGE);
    ASSERT_RC(gpn_raster_read(r, 0, 1, 0, 0, 2, 2, GPN_DT_F32, d, &err), GPN_ERANGE);
    gpn_raster_close(r);
}

static void test_cog_categorical_u8(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/classes.tif", test_tmpdir());
    uint8_t *c = malloc((size_t)W * H);
    ASSERT_TRUE(c != NULL);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) c[(size_t)y * W + x] = cval(x, y);
    struct gpn_cog_opts o = {.width = W, .height = H, .bands = 1, .dtype = GPN_DT_U8, .epsg = 3035,
                             .has_nodata = 1, .nodata = 0, .categorical = 1, .compress = "ZSTD",
                             .blocksize = 256};
    memcpy(o.gt, GT3035, sizeof o.gt);
    struct gpn_err err = {0};
    int rc = gpn_cog_write(path, &o, c, &err);
    free(c);
    ASSERT_OK(rc, &err);

    struct gpn_raster *r = NULL;
    ASSERT_OK(gpn_raster_open(path, &r, &err), &err);
    struct gpn_raster_info info;
    ASSERT_OK(gpn_raster_get_info(r, &info, &err), &err);
    ASSERT_EQ_INT(info.dtype, GPN_DT_U8);
    ASSERT_STR_EQ(info.layout, "COG");
    ASSERT_STR_EQ(info.compression, "ZSTD");
    ASSERT_EQ_INT(info.block_w, 256);
    ASSERT_TRUE(info.n_overviews >= 2); /* 500x400, 250x200 */
    ASSERT_EQ_INT(info.has_nodata, 1);
    ASSERT_NEAR(info.nodata, 0, 0);
    ASSERT_EQ_INT(info.epsg, 3035);

    uint8_t win[37 * 41];
    ASSERT_OK(gpn_raster_read(r, 1, 1, 601, 377, 37, 41, GPN_DT_U8, win, &err), &err);
    long bad = 0;
    for (int y = 0; y < 41; y++)
        for (int x = 0; x < 37; x++) bad += win[y * 37 + x] != cval(601 + x, 377 + y);
    ASSERT_EQ_INT(bad, 0);

    /* Down-sampled NEAREST read (served by the NEAREST overviews): every
     * output pixel is the class of the 8x8 block under it, never a blend. */
    uint8_t *half = malloc(250 * 200);
    ASSERT_TRUE(half != NULL);
    rc = gpn_raster_read_resampled(r, 1, 1, 0, 0, W, H, 250, 200, GPN_RESAMPLE_NEAREST, GPN_DT_U8, 0, half, &err);
    if (rc) free(half);
    ASSERT_OK(rc, &err);
    bad = 0;
    for (int y = 0; y < 200; y++)
        for (int x = 0; x < 250; x++) bad += half[y * 250 + x] != cval(4 * x, 4 * y);
    free(half);
    ASSERT_EQ_INT(bad, 0);
    gpn_raster_close(r);
}

/* Whole raster to 100x80 with AVERAGE: each output pixel is the mean of a
 * 10x10 block. The image is constant along x within each block and varies
 * along y, so the mean is computed here by hand from the formula. */
static void test_resampled_mean(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/blocks.tif", test_tmpdir());
    float *d = malloc((size_t)W * H * sizeof *d);
    ASSERT_TRUE(d != NULL);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) d[(size_t)y * W + x] = (float)((x / 10) * 3 + (y / 10) * 100 + (y % 10));
    struct gpn_cog_opts o = {.width = W, .height = H, .bands = 1, .dtype = GPN_DT_F32, .epsg = 3035};
    memcpy(o.gt, GT3035, sizeof o.gt);
    struct gpn_err err = {0};
    int rc = gpn_cog_write(path, &o, d, &err);
    free(d);
    ASSERT_OK(rc, &err);

    struct gpn_raster *r = NULL;
    ASSERT_OK(gpn_raster_open(path, &r, &err), &err);
    float out[100 * 80];
    ASSERT_OK(gpn_raster_read_resampled(r, 1, 1, 0, 0, W, H, 100, 80, GPN_RESAMPLE_AVERAGE, GPN_DT_F32, -1, out,
                                        &err),
              &err);
    double max_diff = 0;
    for (int by = 0; by < 80; by++)
        for (int bx = 0; bx < 100; bx++) {
            double s = 0; /* the mean of y % 10 over 0..9 is 4.5 */
            for (int k = 0; k < 10; k++) s += k;
            double expect = bx * 3 + by * 100 + s / 10;
            max_diff = fmax(max_diff, fabs(out[by * 100 + bx] - expect));
        }
    ASSERT_NEAR(max_diff, 0, 1e-3);
    gpn_raster_close(r);
}

static void test_resampled_partly_outside(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/f32.tif", test_tmpdir());
    struct gpn_err err = {0};
    ASSERT_OK(write_float_cog(path, &err), &err);
    struct gpn_raster *r = NULL;
    ASSERT_OK(gpn_raster_open(path, &r, &err), &err);

    /* Top-left overhang at full resolution: pixel (i, j) is source
     * (i - 50, j - 20) when both are >= 0, else the fill value. */
    float out[100 * 40];
    ASSERT_OK(gpn_raster_read_resampled(r, 1, 1, -50, -20, 100, 40, 100, 40, GPN_RESAMPLE_NEAREST, GPN_DT_F32, -1,
                                        out, &err),
              &err);
    long bad = 0;
    for (int j = 0; j < 40; j++)
        for (int i = 0; i < 100; i++) {
            float e = (i >= 50 && j >= 20) ? fval(0, i - 50, j - 20) : -1.0f;
            bad += out[j * 100 + i] != e;
        }
    ASSERT_EQ_INT(bad, 0);

    /* Bottom-right overhang, band 2 as int32. */
    int32_t iout[100 * 40];
    ASSERT_OK(gpn_raster_read_resampled(r, 2, 1, 950, 780, 100, 40, 100, 40, GPN_RESAMPLE_NEAREST, GPN_DT_I32, -7,
                                        iout, &err),
              &err);
    bad = 0;
    for (int j = 0; j < 40; j++)
        for (int i = 0; i < 100; i++) {
            int32_t e = (i < 50 && j < 20) ? (int32_t)fval(1, 950 + i, 780 + j) : -7;
            bad += iout[j * 100 + i] != e;
        }
    ASSERT_EQ_INT(bad, 0);

    /* Left overhang at half resolution with AVERAGE: output pixel (i, j)
     * covers source x in [2i - 100, 2i - 98), y in [2j, 2j + 2); the mean of
     * x + 1000 y over that 2x2 block is (2i - 99.5) + 1000 (2j + 0.5). */
    float avg[100 * 50];
    ASSERT_OK(gpn_raster_read_resampled(r, 1, 1, -100, 0, 200, 100, 100, 50, GPN_RESAMPLE_AVERAGE, GPN_DT_F32, -1,
                                        avg, &err),
              &err);
    double max_diff = 0;
    for (int j = 0; j < 50; j++)
        for (int i = 0; i < 100; i++) {
            double e = i >= 50 ? (2 * i - 99.5) + 1000.0 * (2 * j + 0.5) : -1.0;
            max_diff = fmax(max_diff, fabs(avg[j * 100 + i] - e));
        }
    ASSERT_NEAR(max_diff, 0, 1e-2);

    /* Fractional window: half-pixel offsets at full scale sample the pixel
     * whose area contains each output centre. */
    float fr[4 * 3];
    ASSERT_OK(gpn_raster_read_resampled(r, 1, 1, 10.25, 20.25, 4, 3, 4, 3, GPN_RESAMPLE_NEAREST, GPN_DT_F32, -1, fr,
                                        &err),
              &err);
    for (int j = 0; j < 3; j++)
        for (int i = 0; i < 4; i++) ASSERT_NEAR(fr[j * 4 + i], fval(0, 10 + i, 20 + j), 0);

    /* Entirely outside: all fill, not an error. */
    float none[16];
    ASSERT_OK(gpn_raster_read_resampled(r, 1, 1, 2000, 2000, 4, 4, 4, 4, GPN_RESAMPLE_NEAREST, GPN_DT_F32, 3.5, none,
                                        &err),
              &err);
    for (int i = 0; i < 16; i++) ASSERT_NEAR(none[i], 3.5, 0);

    ASSERT_RC(gpn_raster_read_resampled(r, 1, 1, 0, 0, 0, 10, 4, 4, GPN_RESAMPLE_NEAREST, GPN_DT_F32, 0, none, &err),
              GPN_EINVAL);
    gpn_raster_close(r);
}

/* Decodes a JPEG with libjpeg directly: the oracle for GDAL's reading. */
static unsigned char *libjpeg_decode(const char *path, int *w, int *h, int *c)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr jerr;
    cinfo.err = jpeg_std_error(&jerr);
    jpeg_create_decompress(&cinfo);
    jpeg_stdio_src(&cinfo, f);
    jpeg_read_header(&cinfo, TRUE);
    jpeg_start_decompress(&cinfo);
    *w = (int)cinfo.output_width;
    *h = (int)cinfo.output_height;
    *c = cinfo.output_components;
    unsigned char *px = malloc((size_t)*w * *h * *c);
    while (px && cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = px + (size_t)cinfo.output_scanline * *w * *c;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    fclose(f);
    return px;
}

static void test_jpeg_patch(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s", test_shared_path(JPEG_PATCH));
    struct gpn_err err = {0};
    struct gpn_raster *r = NULL;
    ASSERT_OK(gpn_raster_open(path, &r, &err), &err);
    struct gpn_raster_info info;
    ASSERT_OK(gpn_raster_get_info(r, &info, &err), &err);
    ASSERT_EQ_INT(info.width, 128);
    ASSERT_EQ_INT(info.height, 128);
    ASSERT_EQ_INT(info.bands, 3);
    ASSERT_EQ_INT(info.dtype, GPN_DT_U8);
    ASSERT_EQ_INT(info.epsg, 0);
    uint8_t *px = malloc(3 * 128 * 128);
    ASSERT_TRUE(px != NULL);
    int rc = gpn_raster_read(r, 1, 3, 0, 0, 128, 128, GPN_DT_U8, px, &err);
    gpn_raster_close(r);
    if (rc) free(px);
    ASSERT_OK(rc, &err);

    int w = 0, h = 0, c = 0;
    unsigned char *ref = libjpeg_decode(path, &w, &h, &c);
    if (!ref) free(px);
    ASSERT_TRUE(ref != NULL);
    ASSERT_EQ_INT(w, 128);
    ASSERT_EQ_INT(c, 3);
    int max_diff = 0;
    long sum = 0;
    for (int b = 0; b < 3; b++)
        for (int i = 0; i < 128 * 128; i++) {
            int v = px[(size_t)b * 128 * 128 + i];
            int dv = abs(v - ref[(size_t)i * 3 + b]);
            if (dv > max_diff) max_diff = dv;
            sum += v;
        }
    free(ref);
    free(px);
    ASSERT_EQ_INT(max_diff, 0);
    ASSERT_TRUE(sum > 0); /* not an all-black decode */

    /* A truncated copy must give an error (at open or at read), not a
     * silently grey-filled patch. */
    size_t len = 0;
    char *bytes = read_all(path, &len);
    ASSERT_TRUE(bytes != NULL && len > 1000);
    char cut[600];
    snprintf(cut, sizeof cut, "%s/cut.jpeg", test_tmpdir());
    rc = gpn_file_write_atomic(cut, bytes, len / 2, &err);
    free(bytes);
    ASSERT_OK(rc, &err);
    rc = gpn_raster_open(cut, &r, &err);
    if (rc == 0) {
        uint8_t *buf = malloc(3 * 128 * 128);
        ASSERT_TRUE(buf != NULL);
        rc = gpn_raster_read(r, 1, 3, 0, 0, 128, 128, GPN_DT_U8, buf, &err);
        free(buf);
        gpn_raster_close(r);
        ASSERT_RC(rc, GPN_EIO);
    }
    ASSERT_TRUE(rc < 0);
    ASSERT_TRUE(err.msg[0] != 0);
}

static void test_open_errors(void)
{
    struct gpn_err err = {0};
    struct gpn_raster *r = (struct gpn_raster *)1;
    char path[600];
    snprintf(path, sizeof path, "%s/missing.tif", test_tmpdir());
    ASSERT_RC(gpn_raster_open(path, &r, &err), GPN_ENOTFOUND);
    ASSERT_TRUE(r == NULL);
    ASSERT_STR_CONTAINS(err.msg, "missing.tif");
    snprintf(path, sizeof path, "%s/text.tif", test_tmpdir());
    ASSERT_OK(gpn_file_write_atomic(path, "hello, not a tiff\n", 18, &err), &err);
    ASSERT_RC(gpn_raster_open(path, &r, &err), GPN_EFORMAT);
    ASSERT_STR_CONTAINS(err.msg, "text.tif");
    ASSERT_RC(gpn_raster_open("", &r, &err), GPN_EINVAL);
}

/* Four 100x100 tiles of a 200x200 mosaic: the VRT reads as one raster. */
static void test_vrt_mosaic(void)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/a", test_tmpdir());
    char paths[5][700];
    const char *srcs[4];
    struct gpn_err err = {0};
    ASSERT_OK(gpn_mkdir_p(dir, &err), &err);
    float *t = malloc(100 * 100 * sizeof *t);
    ASSERT_TRUE(t != NULL);
    for (int k = 0; k < 4; k++) {
        int tx = k % 2, ty = k / 2;
        for (int y = 0; y < 100; y++)
            for (int x = 0; x < 100; x++) t[y * 100 + x] = (float)((tx * 100 + x) + 1000 * (ty * 100 + y));
        struct gpn_cog_opts o = {.width = 100, .height = 100, .bands = 1, .dtype = GPN_DT_F32, .epsg = 3035,
                                 .has_nodata = 1, .nodata = -1};
        memcpy(o.gt, GT3035, sizeof o.gt);
        o.gt[0] += tx * 100 * 50.0;
        o.gt[3] -= ty * 100 * 50.0;
        snprintf(paths[k], sizeof paths[k], "%s/tile_%d.tif", dir, k);
        srcs[k] = paths[k];
        int rc = gpn_cog_write(paths[k], &o, t, &err);
        if (rc) free(t);
        ASSERT_OK(rc, &err);
    }
    free(t);
    snprintf(paths[4], sizeof paths[4], "%s/mosaic.vrt", dir);
    ASSERT_OK(gpn_vrt_build(paths[4], srcs, 4, &err), &err);
    ASSERT_EQ_INT(count_tmp_files(dir), 0);

    struct gpn_raster *r = NULL;
    ASSERT_OK(gpn_raster_open(paths[4], &r, &err), &err);
    struct gpn_raster_info info;
    ASSERT_OK(gpn_raster_get_info(r, &info, &err), &err);
    ASSERT_EQ_INT(info.width, 200);
    ASSERT_EQ_INT(info.height, 200);
    ASSERT_EQ_INT(info.epsg, 3035);
    ASSERT_NEAR(info.gt[0], GT3035[0], 1e-6);
    ASSERT_NEAR(info.gt[3], GT3035[3], 1e-6);
    float *all = malloc(200 * 200 * sizeof *all);
    ASSERT_TRUE(all != NULL);
    int rc = gpn_raster_read(r, 1, 1, 0, 0, 200, 200, GPN_DT_F32, all, &err);
    gpn_raster_close(r);
    if (rc) free(all);
    ASSERT_OK(rc, &err);
    long bad = 0;
    for (int y = 0; y < 200; y++)
        for (int x = 0; x < 200; x++) bad += all[y * 200 + x] != (float)(x + 1000 * y);
    free(all);
    ASSERT_EQ_INT(bad, 0);

    /* The tiles + VRT folder can be moved: sources are stored relative to
     * the VRT. A VRT built from a relative path in the current folder is
     * readable from elsewhere. */
    char cwd[1024], moved[700], rel_vrt[800];
    ASSERT_TRUE(getcwd(cwd, sizeof cwd) != NULL);
    ASSERT_EQ_INT(chdir(dir), 0);
    const char *rel_src[1] = {"tile_3.tif"};
    int rrc = gpn_vrt_build("rel.vrt", rel_src, 1, &err);
    ASSERT_EQ_INT(chdir(cwd), 0);
    ASSERT_OK(rrc, &err);
    snprintf(moved, sizeof moved, "%s/b", test_tmpdir());
    ASSERT_EQ_INT(rename(dir, moved), 0);
    float v[2];
    snprintf(rel_vrt, sizeof rel_vrt, "%s/mosaic.vrt", moved);
    ASSERT_OK(gpn_raster_open(rel_vrt, &r, &err), &err);
    rc = gpn_raster_read(r, 1, 1, 199, 199, 1, 1, GPN_DT_F32, v, &err);
    gpn_raster_close(r);
    ASSERT_OK(rc, &err);
    ASSERT_NEAR(v[0], 199 + 1000 * 199, 0);
    snprintf(rel_vrt, sizeof rel_vrt, "%s/rel.vrt", moved);
    ASSERT_OK(gpn_raster_open(rel_vrt, &r, &err), &err);
    rc = gpn_raster_read(r, 1, 1, 0, 0, 2, 1, GPN_DT_F32, v, &err);
    gpn_raster_close(r);
    ASSERT_OK(rc, &err);
    ASSERT_NEAR(v[1], 101 + 1000 * 100, 0);
    ASSERT_EQ_INT(rename(moved, dir), 0);

    /* A source with another band count cannot join the mosaic. */
    char odd[700];
    snprintf(odd, sizeof odd, "%s/odd.tif", dir);
    ASSERT_OK(write_float_cog(odd, &err), &err);
    const char *mixed[2] = {paths[0], odd};
    char bad_vrt[700];
    snprintf(bad_vrt, sizeof bad_vrt, "%s/bad.vrt", dir);
    ASSERT_RC(gpn_vrt_build(bad_vrt, mixed, 2, &err), GPN_EFORMAT);
    ASSERT_FALSE(gpn_path_exists(bad_vrt));
    const char *missing[1] = {"/nonexistent/x.tif"};
    ASSERT_RC(gpn_vrt_build(bad_vrt, missing, 1, &err), GPN_ENOTFOUND);
    ASSERT_EQ_INT(count_tmp_files(dir), 0);
}

struct abort_ctx {
    int calls;
    double max_frac;
};

static int abort_midway(double frac, void *ctx)
{
    struct abort_ctx *a = ctx;
    a->calls++;
    if (frac > a->max_frac) a->max_frac = frac;
    return frac > 0.3; /* non-zero: stop */
}

/* A write that fails midway leaves the previous file byte-identical and no
 * temp files behind. */
static void test_atomic_failure(void)
{
    const char *dir = test_tmpdir();
    char path[600];
    snprintf(path, sizeof path, "%s/layer.tif", dir);
    struct gpn_err err = {0};
    ASSERT_OK(write_float_cog(path, &err), &err);
    size_t len0 = 0;
    char *before = read_all(path, &len0);
    ASSERT_TRUE(before != NULL);

    /* 1. Aborted by the progress callback after GDAL wrote part of the file. */
    float *d = make_float_image(1);
    struct abort_ctx a = {0};
    struct gpn_cog_opts o = {.width = W, .height = H, .bands = 1, .dtype = GPN_DT_F32, .epsg = 3035,
                             .progress = abort_midway, .progress_ctx = &a};
    memcpy(o.gt, GT3035, sizeof o.gt);
    int rc = gpn_cog_write(path, &o, d, &err);
    free(d);
    if (rc != GPN_ESTATE) fprintf(stderr, "msg: %s\n", err.msg);
    ASSERT_RC(rc, GPN_ESTATE);
    ASSERT_TRUE(a.calls > 1);
    ASSERT_TRUE(a.max_frac > 0.3 && a.max_frac < 1.0);

    /* 2. Invalid options are refused before anything is written. */
    float one = 1;
    struct gpn_cog_opts bad = {.width = 1, .height = 1, .bands = 1, .dtype = GPN_DT_F32, .blocksize = 100};
    ASSERT_RC(gpn_cog_write(path, &bad, &one, &err), GPN_EINVAL);
    bad.blocksize = 0;
    bad.compress = "BOGUS";
    ASSERT_RC(gpn_cog_write(path, &bad, &one, &err), GPN_EINVAL);
    bad.compress = NULL;
    bad.epsg = 999999;
    ASSERT_RC(gpn_cog_write(path, &bad, &one, &err), GPN_EINVAL);

    /* 3. A real GDAL failure midway: translating a truncated COG fails when
     * the missing tiles are read, after the temp COG was started. */
    char cut[600];
    snprintf(cut, sizeof cut, "%s/cut.tif", dir);
    rc = gpn_file_write_atomic(cut, before, len0 * 6 / 10, &err);
    if (rc) free(before);
    ASSERT_OK(rc, &err);
    rc = gpn_cog_translate(cut, path, 0, NULL, &err);
    if (rc == 0) free(before);
    ASSERT_TRUE(rc < 0);
    ASSERT_TRUE(err.msg[0] != 0);

    size_t len1 = 0;
    char *after = read_all(path, &len1);
    int same = after && len1 == len0 && memcmp(before, after, len0) == 0;
    free(before);
    free(after);
    ASSERT_TRUE(same);
    ASSERT_EQ_INT(count_tmp_files(dir), 0);

    /* The old file still opens as the valid COG it was. */
    struct gpn_raster *r = NULL;
    ASSERT_OK(gpn_raster_open(path, &r, &err), &err);
    struct gpn_raster_info info;
    ASSERT_OK(gpn_raster_get_info(r, &info, &err), &err);
    gpn_raster_close(r);
    ASSERT_EQ_INT(info.bands, 2);
}

static void test_cog_translate(void)
{
    const char *dir = test_tmpdir();
    char src[600], dst[600];
    snprintf(src, sizeof src, "%s/src.tif", dir);
    snprintf(dst, sizeof dst, "%s/dst.tif", dir);
    struct gpn_err err = {0};
    ASSERT_OK(write_float_cog(src, &err), &err);
    ASSERT_OK(gpn_cog_translate(src, dst, 0, "zstd", &err), &err);
    struct gpn_raster *r = NULL;
    ASSERT_OK(gpn_raster_open(dst, &r, &err), &err);
    struct gpn_raster_info info;
    ASSERT_OK(gpn_raster_get_info(r, &info, &err), &err);
    ASSERT_STR_EQ(info.compression, "ZSTD");
    ASSERT_STR_EQ(info.layout, "COG");
    ASSERT_EQ_INT(info.epsg, 3035);
    ASSERT_NEAR(info.nodata, -9999.0, 0);
    ASSERT_STR_EQ(gpn_raster_band_description(r, 2), "precipitation");
    ASSERT_STR_EQ(gpn_raster_metadata(r, "GPN_LAYER"), "test");
    float v[6];
    int rc = gpn_raster_read(r, 1, 2, 997, 799, 3, 1, GPN_DT_F32, v, &err);
    gpn_raster_close(r);
    ASSERT_OK(rc, &err);
    for (int b = 0; b < 2; b++)
        for (int i = 0; i < 3; i++) ASSERT_NEAR(v[b * 3 + i], fval(b, 997 + i, 799), 0);
    ASSERT_RC(gpn_cog_translate("/nonexistent.tif", dst, 0, NULL, &err), GPN_ENOTFOUND);
    ASSERT_EQ_INT(count_tmp_files(dir), 0);
}

/* Errors are captured per thread: concurrent failing opens each get their
 * own message, never the other thread's. */
struct thr_arg {
    char path[600];
    int wrong;
};

static void *open_loop(void *p)
{
    struct thr_arg *a = p;
    for (int i = 0; i < 40; i++) {
        struct gpn_err err = {0};
        struct gpn_raster *r = NULL;
        if (gpn_raster_open(a->path, &r, &err) == 0) {
            gpn_raster_close(r);
            a->wrong++;
        } else if (!strstr(err.msg, a->path)) {
            a->wrong++;
        }
    }
    return NULL;
}

static void test_thread_errors(void)
{
    struct thr_arg a[2];
    snprintf(a[0].path, sizeof a[0].path, "%s/none_a.tif", test_tmpdir());
    snprintf(a[1].path, sizeof a[1].path, "%s/junk_b.tif", test_tmpdir());
    struct gpn_err err = {0};
    ASSERT_OK(gpn_file_write_atomic(a[1].path, "junk junk junk junk", 19, &err), &err);
    a[0].wrong = a[1].wrong = 0;
    pthread_t t[2];
    for (int i = 0; i < 2; i++) ASSERT_EQ_INT(pthread_create(&t[i], NULL, open_loop, &a[i]), 0);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    ASSERT_EQ_INT(a[0].wrong, 0);
    ASSERT_EQ_INT(a[1].wrong, 0);
}

int main(void)
{
    gpn_log_init_from_env();
    RUN(test_dtype_table);
    RUN(test_cog_float_roundtrip);
    RUN(test_cog_categorical_u8);
    RUN(test_resampled_mean);
    RUN(test_resampled_partly_outside);
    RUN(test_jpeg_patch);
    RUN(test_open_errors);
    RUN(test_vrt_mosaic);
    RUN(test_atomic_failure);
    RUN(test_cog_translate);
    RUN(test_thread_errors);
    return test_summary();
}
