/*
 * bench_raster.c - speed of COG reads through raster.h.
 *
 * Creates a 10000x10000 float32 COG (DEFLATE, 512x512 tiles, AVERAGE
 * overviews) in /tmp once per run, then times random 256x256 reads:
 *   cog_write         time to write the COG (one op)
 *   read_full_256     full-resolution windows (one tile or a few)
 *   read_ovr_x4_256   1024x1024 source windows to 256x256 (overview 1/4)
 *   read_ovr_x16_256  4096x4096 source windows to 256x256 (overview 1/16)
 *   read_whole_256    the whole raster to 256x256 (smallest overviews)
 *   read_full_256_cold same as read_full_256 on a freshly opened handle per
 *                     read (no GDAL block cache reuse)
 * Output: one JSON line per case, e.g.
 *   {"bench":"raster","case":"read_full_256","n":200,"ms_per_op":0.8}
 * Usage: bench_raster [SIZE [N]]  (defaults 10000 and 200). The file is
 * removed at the end. Single-threaded.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "gpn/log.h"
#include "gpn/progress.h"
#include "gpn/raster.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

static void report(const char *name, int n, double seconds)
{
    printf("{\"bench\":\"raster\",\"case\":\"%s\",\"n\":%d,\"ms_per_op\":%.3f}\n", name, n, 1000.0 * seconds / n);
    fflush(stdout);
}

/* Times n reads of src windows of size src_sz (random position) into
 * 256x256. src_sz == 256 is a plain read. */
static int bench_reads(const char *path, const char *name, int size, int src_sz, int n, int reopen)
{
    struct gpn_err err = {0};
    struct gpn_raster *r = NULL;
    float *buf = malloc(256 * 256 * sizeof *buf);
    if (!buf) return 1;
    if (!reopen && gpn_raster_open(path, &r, &err)) goto fail;
    double t0 = gpn_now();
    for (int i = 0; i < n; i++) {
        int x = src_sz >= size ? 0 : (int)rnd((uint32_t)(size - src_sz));
        int y = src_sz >= size ? 0 : (int)rnd((uint32_t)(size - src_sz));
        int s = src_sz >= size ? size : src_sz;
        if (reopen && gpn_raster_open(path, &r, &err)) goto fail;
        int rc = s == 256 ? gpn_raster_read(r, 1, 1, x, y, 256, 256, GPN_DT_F32, buf, &err)
                          : gpn_raster_read_resampled(r, 1, 1, x, y, s, s, 256, 256, GPN_RESAMPLE_AVERAGE,
                                                      GPN_DT_F32, NAN, buf, &err);
        if (rc) goto fail;
        if (reopen) {
            gpn_raster_close(r);
            r = NULL;
        }
    }
    report(name, n, gpn_now() - t0);
    gpn_raster_close(r);
    free(buf);
    return 0;
fail:
    fprintf(stderr, "bench_raster: %s: %s\n", name, err.msg);
    gpn_raster_close(r);
    free(buf);
    return 1;
}

int main(int argc, char **argv)
{
    gpn_log_init_from_env();
    int size = argc > 1 ? atoi(argv[1]) : 10000;
    int n = argc > 2 ? atoi(argv[2]) : 200;
    if (size < 4096 || n < 1) {
        fprintf(stderr, "usage: bench_raster [SIZE>=4096 [N>=1]]\n");
        return 2;
    }
    char path[256];
    snprintf(path, sizeof path, "/tmp/gpn-bench-raster-%ld.tif", (long)getpid());

    /* A smooth field with some texture, so DEFLATE has real work to do. */
    float *d = malloc((size_t)size * size * sizeof *d);
    if (!d) {
        fprintf(stderr, "bench_raster: out of memory\n");
        return 1;
    }
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++)
            d[(size_t)y * size + x] = (float)(sinf(x * 0.01f) * cosf(y * 0.013f) * 100.0f + (float)((x * 31 + y * 17) % 7));
    struct gpn_cog_opts o = {.width = size, .height = size, .bands = 1, .dtype = GPN_DT_F32, .epsg = 3035,
                             .gt = {4000000, 50, 0, 3000000, 0, -50}, .has_nodata = 1, .nodata = -9999};
    struct gpn_err err = {0};
    double t0 = gpn_now();
    int rc = gpn_cog_write(path, &o, d, &err);
    free(d);
    if (rc) {
        fprintf(stderr, "bench_raster: %s\n", err.msg);
        return 1;
    }
    report("cog_write", 1, gpn_now() - t0);

    int bad = 0;
    bad |= bench_reads(path, "read_full_256", size, 256, n, 0);
    bad |= bench_reads(path, "read_full_256_cold", size, 256, n, 1);
    bad |= bench_reads(path, "read_ovr_x4_256", size, 1024, n, 0);
    bad |= bench_reads(path, "read_ovr_x16_256", size, 4096, n / 4 > 0 ? n / 4 : 1, 0);
    bad |= bench_reads(path, "read_whole_256", size, size, 10, 0);
    unlink(path);
    return bad;
}
