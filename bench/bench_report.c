/*
 * bench_report.c - AOI report latency against the per-layer GDAL approach.
 *
 * Data (built once into /tmp/gpn-bench-report, reused while the generator
 * version matches; --rebuild forces it): a 5 x 5 meta-tile region (125 km x
 * 125 km, 6.25 M cells of 50 m) with two atlases, one of 500 and one of
 * 5,000 synthetic species (the first 500 species are the same in both).
 * Each species is a union of 1-4 ellipses (10% "common" species with radii
 * of 40-150 km, the others 0.5-30 km) filled with patchy runs (run lengths
 * 5-64 cells, gaps 1-25 cells, hashed from the species, row and position),
 * so the stores hold run, array and bitset containers like thresholded SDM
 * maps do; each tile also gets an 8-band uint16 indicators.tif and a
 * habitat.tif, which the report reads too.
 *
 * Cases: circles (64 vertices) of 1, 10, 100, 1,000 and 10,000 km2 around
 * the region's centre. For each:
 *   engine warm   gpn_report_run on an open engine (stores cached, as in
 *                 the server): median of several runs;
 *   engine cold   engine opened, run once, closed (stores opened, mmap'ed
 *                 and indexed; OS page cache warm);
 *   naive         per species layer (a 2500 x 2500 uint8 COG of the region,
 *                 written for the first K species): open the COG,
 *                 rasterise the area over the window, read the window,
 *                 count. Measured on K layers and scaled to all species
 *                 (layers are independent: the cost is linear);
 *   informed      the same with the area rasterised once for all layers.
 * Before timing, the engine's counts for the K species are checked against
 * the naive counts (they must be equal). Output: a table on stdout and one
 * CSV line per case ("bench_report,species,km2,...").
 *
 * Usage: bench_report [--rebuild] [--layers K] [--threads N]
 */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gpn/geom.h"
#include "gpn/log.h"
#include "gpn/progress.h"
#include "gpn/raster.h"
#include "gpn/report.h"
#include "gpn/store.h"
#include "gpn/util.h"

#define ROOT "/tmp/gpn-bench-report"
#define GEN_VERSION "4"
#define TX 5
#define TY 5
#define E0 4000 /* km */
#define N0 2500
#define NSP_MAX 5000
#define RW (TX * 500) /* region width in cells */
#define RH (TY * 500)

/* ==== synthetic species ================================================= */

struct blob {
    double cx, cy, a, b; /* global cell coordinates, radii in cells */
};

struct species {
    int nb;
    struct blob b[4];
};

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static double unif(uint64_t *s)
{
    *s = mix(*s + 0x9E3779B97F4A7C15ull);
    return (double)(*s >> 11) / 9007199254740992.0;
}

static void make_species(int k, struct species *sp)
{
    uint64_t s = 1000003ull * (uint64_t)(k + 1);
    int common = k % 10 == 3;
    sp->nb = 1 + (int)(unif(&s) * 4);
    double gx0 = E0 * 20.0, gy0 = N0 * 20.0;
    for (int i = 0; i < sp->nb; i++) {
        struct blob *b = &sp->b[i];
        b->cx = gx0 - 200 + unif(&s) * (RW + 400);
        b->cy = gy0 - 200 + unif(&s) * (RH + 400);
        double lo = common ? 800 : 10, hi = common ? 3000 : 600;
        b->a = exp(log(lo) + unif(&s) * (log(hi) - log(lo)));
        b->b = b->a * (0.4 + unif(&s) * 1.2);
    }
}

/* Calls fn(x0, x1) for the present runs [x0, x1) of species k on global row
 * gy, clipped to [xmin, xmax). Runs of overlapping blobs may overlap. */
static void species_row(int k, const struct species *sp, int64_t gy, int64_t xmin, int64_t xmax,
                        void (*fn)(int64_t x0, int64_t x1, void *ud), void *ud)
{
    for (int i = 0; i < sp->nb; i++) {
        const struct blob *b = &sp->b[i];
        double dy = ((double)gy + 0.5 - b->cy) / b->b;
        if (fabs(dy) >= 1) continue;
        double hw = b->a * sqrt(1 - dy * dy);
        int64_t x = (int64_t)floor(b->cx - hw), xe = (int64_t)ceil(b->cx + hw);
        uint64_t h = mix(((uint64_t)k << 40) ^ ((uint64_t)gy << 8) ^ (uint64_t)i);
        while (x < xe) {
            h = mix(h + 1);
            int64_t run = 5 + (int64_t)(h % 60), gap = 1 + (int64_t)((h >> 20) % 25);
            int64_t r0 = x, r1 = x + run < xe ? x + run : xe;
            if (r0 < xmin) r0 = xmin;
            if (r1 > xmax) r1 = xmax;
            if (r0 < r1) fn(r0, r1, ud);
            x += run + gap;
            if (x >= xmax) break;
        }
    }
}

/* ==== building ========================================================== */

struct tile_add {
    struct gpn_store_writer *w;
    uint32_t id;
    int64_t gx0, row;
    int rc;
};

static void add_run(int64_t x0, int64_t x1, void *ud)
{
    struct tile_add *t = ud;
    if (t->rc) return;
    uint32_t c0 = (uint32_t)(t->row * 500 + (x0 - t->gx0)), c1 = (uint32_t)(t->row * 500 + (x1 - t->gx0));
    t->rc = gpn_store_writer_add_range(t->w, t->id, c0, c1, NULL);
}

struct row_fill {
    uint8_t *row;
    int64_t gx0;
};

static void fill_run(int64_t x0, int64_t x1, void *ud)
{
    struct row_fill *f = ud;
    memset(f->row + (x0 - f->gx0), 1, (size_t)(x1 - x0));
}

static int build_tile(const char *atlas, struct gpn_tile t, int nsp, const struct species *sps, struct gpn_err *e)
{
    struct gpn_store_writer *w;
    int rc = gpn_store_writer_create(t, &w, e);
    if (rc) return rc;
    int64_t gx0 = t.e_km * 20, gy0 = t.n_km * 20;
    for (int k = 0; k < nsp && !rc; k++) {
        struct tile_add ta = {.w = w, .id = (uint32_t)(k + 1), .gx0 = gx0};
        for (int r = 0; r < 500 && !ta.rc; r++) {
            ta.row = r;
            species_row(k, &sps[k], gy0 + 499 - r, gx0, gx0 + 500, add_run, &ta);
        }
        rc = ta.rc ? gpn_err_set(e, ta.rc, "add_range failed") : 0;
    }
    char path[1024];
    gpn_store_tile_path(atlas, t, path, sizeof path);
    if (!rc) rc = gpn_store_writer_write(w, path, e);
    gpn_store_writer_destroy(w);
    return rc;
}

static int build_rasters(const char *atlas, struct gpn_tile t, struct gpn_err *e)
{
    uint16_t *ind = malloc(8 * 250000 * sizeof *ind);
    uint8_t *hab = malloc(250000);
    if (!ind || !hab) {
        free(ind);
        free(hab);
        return gpn_err_set(e, GPN_ENOMEM, "out of memory");
    }
    for (int r = 0; r < 500; r++)
        for (int c = 0; c < 500; c++) {
            double gx = t.e_km * 20 + c, gy = t.n_km * 20 + 499 - r;
            double f = sin(gx / 97.0) * cos(gy / 131.0);
            for (int b = 0; b < 8; b++)
                ind[(size_t)b * 250000 + r * 500 + c] = (uint16_t)(b == 0 ? 300 + 250 * f : (b * 7 + (int)(40 * f)) & 63);
            hab[r * 500 + c] = (uint8_t)(1 + ((int)(gx / 40) + (int)(gy / 55)) % 6);
        }
    char id[32], path[1024];
    gpn_tile_format(t, id, sizeof id);
    static const char *desc[8] = {"richness", "directive", "threatened", "most_threatened",
                                  "tree",     "invasive",  "specialist", "endemic"};
    struct gpn_cog_opts o = {.width = 500, .height = 500, .bands = 8, .dtype = GPN_DT_U16, .epsg = 3035,
                             .has_nodata = 1, .nodata = 65535, .band_desc = desc, .compress = "ZSTD",
                             .blocksize = 128};
    gpn_tile_geotransform(t, o.gt);
    snprintf(path, sizeof path, "%s/tiles/%s/indicators.tif", atlas, id);
    int rc = gpn_cog_write(path, &o, ind, e);
    const char *md[] = {"GPN_CLASS_CODES=R1A,R22,T11,T12,S31,Q51", NULL};
    struct gpn_cog_opts oh = {.width = 500, .height = 500, .bands = 1, .dtype = GPN_DT_U8, .epsg = 3035,
                              .has_nodata = 1, .nodata = 0, .categorical = 1, .metadata = md, .compress = "ZSTD",
                              .blocksize = 128};
    gpn_tile_geotransform(t, oh.gt);
    snprintf(path, sizeof path, "%s/tiles/%s/habitat.tif", atlas, id);
    if (!rc) rc = gpn_cog_write(path, &oh, hab, e);
    free(ind);
    free(hab);
    return rc;
}

static int write_layer(const char *dir, int k, const struct species *sp, struct gpn_err *e)
{
    uint8_t *img = calloc((size_t)RW * RH, 1);
    if (!img) return gpn_err_set(e, GPN_ENOMEM, "out of memory");
    int64_t gx0 = E0 * 20, gytop = N0 * 20 + RH - 1;
    for (int r = 0; r < RH; r++) {
        struct row_fill f = {.row = img + (size_t)r * RW, .gx0 = gx0};
        species_row(k, sp, gytop - r, gx0, gx0 + RW, fill_run, &f);
    }
    struct gpn_cog_opts o = {.width = RW, .height = RH, .bands = 1, .dtype = GPN_DT_U8, .epsg = 3035,
                             .has_nodata = 0, .categorical = 1};
    o.gt[0] = E0 * 1000.0;
    o.gt[1] = 50;
    o.gt[3] = (N0 + TY * 25) * 1000.0;
    o.gt[5] = -50;
    char path[1024];
    snprintf(path, sizeof path, "%s/sp%05d.tif", dir, k + 1);
    int rc = gpn_cog_write(path, &o, img, e);
    free(img);
    return rc;
}

static int build_all(int layers, struct species *sps, struct gpn_err *e)
{
    char stamp[256];
    snprintf(stamp, sizeof stamp, ROOT "/stamp-v" GEN_VERSION "-k%d", layers);
    if (gpn_path_exists(stamp)) return 0;
    fprintf(stderr, "building the benchmark data in " ROOT " (once)...\n");
    int rc = gpn_rm_rf(ROOT, e);
    if (rc) return rc;
    double t0 = gpn_now();
    struct gpn_tile tiles[TX * TY];
    for (int j = 0; j < TY; j++)
        for (int i = 0; i < TX; i++) tiles[j * TX + i] = (struct gpn_tile){E0 + 25 * i, N0 + 25 * j};
    static const int counts[2] = {500, 5000};
    struct gpn_progress p;
    gpn_progress_init(&p, "build", 2 * TX * TY + layers, "items");
    int fail = 0;
    struct gpn_err ferr = {0};
    for (int a = 0; a < 2; a++) {
        char atlas[256];
        snprintf(atlas, sizeof atlas, ROOT "/atlas%d", counts[a]);
#pragma omp parallel for schedule(dynamic, 1)
        for (int i = 0; i < TX * TY; i++) {
            struct gpn_err le = {0};
            int r = build_tile(atlas, tiles[i], counts[a], sps, &le);
            if (!r) r = build_rasters(atlas, tiles[i], &le);
#pragma omp critical
            if (r && !fail) {
                fail = r;
                ferr = le;
            }
            gpn_progress_add(&p, 1);
        }
        if (fail) break;
    }
    if (!fail) {
        rc = gpn_mkdir_p(ROOT "/layers", e);
        if (rc) return rc;
#pragma omp parallel for schedule(dynamic, 1)
        for (int k = 0; k < layers; k++) {
            struct gpn_err le = {0};
            int r = write_layer(ROOT "/layers", k, &sps[k], &le);
#pragma omp critical
            if (r && !fail) {
                fail = r;
                ferr = le;
            }
            gpn_progress_add(&p, 1);
        }
    }
    gpn_progress_finish(&p);
    if (fail) {
        if (e) *e = ferr;
        return fail;
    }
    fprintf(stderr, "built in %.1f s\n", gpn_now() - t0);
    return gpn_file_write_atomic(stamp, "ok\n", 3, e);
}

/* ==== the naive per-layer approach ===================================== */

/* Counts the cells of layer k inside the area: opens the COG, reads the
 * window of the area's tiles, rasterises the area over it (unless mask is
 * given: the "informed" variant passes the area rasterised once), counts. */
static int64_t layer_count(int k, const struct gpn_geom_prep *prep, const struct gpn_tile *tiles, size_t nt,
                           const uint8_t *masks, uint8_t *scratch_mask, uint8_t *buf, struct gpn_err *e)
{
    char path[256];
    snprintf(path, sizeof path, ROOT "/layers/sp%05d.tif", k + 1);
    struct gpn_raster *r;
    if (gpn_raster_open(path, &r, e)) return -1;
    int64_t n = 0;
    /* Window: the area's tiles, as region pixel offsets. */
    int tx0 = 1 << 30, tx1 = -1, ty0 = 1 << 30, ty1 = -1;
    for (size_t i = 0; i < nt; i++) {
        int tx = (tiles[i].e_km - E0) / 25, ty = (N0 + TY * 25 - 25 - tiles[i].n_km) / 25;
        if (tx < tx0) tx0 = tx;
        if (tx > tx1) tx1 = tx;
        if (ty < ty0) ty0 = ty;
        if (ty > ty1) ty1 = ty;
    }
    int ww = (tx1 - tx0 + 1) * 500, wh = (ty1 - ty0 + 1) * 500;
    if (gpn_raster_read(r, 1, 1, tx0 * 500, ty0 * 500, ww, wh, GPN_DT_U8, buf, e)) {
        gpn_raster_close(r);
        return -1;
    }
    gpn_raster_close(r);
    for (size_t i = 0; i < nt; i++) {
        const uint8_t *m = masks ? masks + i * 250000 : scratch_mask;
        if (!masks) gpn_geom_prep_rasterize_tile(prep, tiles[i], scratch_mask, NULL, e);
        int tx = (tiles[i].e_km - E0) / 25 - tx0, ty = (N0 + TY * 25 - 25 - tiles[i].n_km) / 25 - ty0;
        for (int row = 0; row < 500; row++) {
            const uint8_t *src = buf + (size_t)(ty * 500 + row) * ww + tx * 500;
            const uint8_t *mm = m + row * 500;
            for (int c = 0; c < 500; c++) n += src[c] & mm[c];
        }
    }
    return n;
}

/* ==== main ============================================================== */

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double loadavg(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1) l = -1;
        fclose(f);
    }
    return l;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static struct gpn_geom *circle(double km2)
{
    double r = sqrt(km2 * 1e6 / M_PI) / sqrt(64.0 / (2 * M_PI) * sin(2 * M_PI / 64)); /* polygon area = km2 */
    double cx = E0 * 1000.0 + TX * 12500.0 + 137.1, cy = N0 * 1000.0 + TY * 12500.0 + 71.3;
    char json[8192];
    int k = snprintf(json, sizeof json,
                     "{\"type\":\"Polygon\",\"crs\":{\"type\":\"name\",\"properties\":{\"name\":\"EPSG:3035\"}},"
                     "\"coordinates\":[[");
    for (int i = 0; i <= 64; i++) {
        double a = 2 * M_PI * (i % 64) / 64;
        k += snprintf(json + k, sizeof json - (size_t)k, "%s[%.3f,%.3f]", i ? "," : "", cx + r * cos(a), cy + r * sin(a));
    }
    snprintf(json + k, sizeof json - (size_t)k, "]]}");
    struct gpn_geom *g = NULL;
    struct gpn_err e = {0};
    if (gpn_report_area_from_geojson(json, strlen(json), NULL, &g, &e)) fprintf(stderr, "circle: %s\n", e.msg);
    return g;
}

int main(int argc, char **argv)
{
    int layers = 40, threads = 0, rebuild = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rebuild")) rebuild = 1;
        else if (!strcmp(argv[i], "--layers") && i + 1 < argc) layers = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_report [--rebuild] [--layers K] [--threads N]\n");
            return 2;
        }
    }
    if (layers < 1 || layers > 500) layers = 40;
    gpn_log_set_level(GPN_LOG_WARN);
    struct gpn_err e = {0};
    struct species *sps = malloc(NSP_MAX * sizeof *sps);
    if (!sps) return 1;
    for (int k = 0; k < NSP_MAX; k++) make_species(k, &sps[k]);
    if (rebuild) gpn_rm_rf(ROOT, NULL);
    if (build_all(layers, sps, &e)) {
        fprintf(stderr, "bench_report: %s\n", e.msg);
        return 1;
    }
    if (threads > 0) omp_set_num_threads(threads);
    int nthr = omp_get_max_threads();

    static const double sizes[5] = {1, 10, 100, 1000, 10000};
    static const int counts[2] = {500, 5000};
    uint8_t *buf = malloc((size_t)RW * RH);
    uint8_t *scratch = malloc(250000);
    uint8_t *masks = malloc((size_t)TX * TY * 250000);
    if (!buf || !scratch || !masks) return 1;
    printf("# AOI report latency, %d x %d meta-tiles, %d OpenMP threads, load average %.1f at start; naive/informed "
           "measured on %d layers and scaled linearly to all species\n",
           TX, TY, nthr, loadavg(), layers);
    printf("# warm_ms: median wall time on an open engine; cpu_ms: CPU time of one warm report (all threads);\n"
           "# cold_ms: engine open + report; x_naive = naive_ms / warm_ms\n");
    printf("%8s %9s %9s %5s %10s %10s %10s %12s %12s %10s %10s\n", "species", "km2", "cells", "tiles", "warm_ms",
           "cpu_ms", "cold_ms", "naive_ms", "informed_ms", "x_naive", "x_informed");
    int failures = 0;
    for (int a = 0; a < 2; a++) {
        char atlas[256];
        snprintf(atlas, sizeof atlas, ROOT "/atlas%d", counts[a]);
        struct gpn_report_engine *eng;
        if (gpn_report_engine_open(atlas, NULL, &eng, &e)) {
            fprintf(stderr, "bench_report: %s\n", e.msg);
            return 1;
        }
        for (int si = 0; si < 5; si++) {
            struct gpn_geom *g = circle(sizes[si]);
            if (!g) return 1;
            struct gpn_report_limits lim = {0};
            struct gpn_report *r = NULL;
            /* Warm-up (opens and caches the stores), then validation. */
            if (gpn_report_run(eng, g, &lim, &r, &e)) {
                fprintf(stderr, "bench_report: %s\n", e.msg);
                return 1;
            }
            struct gpn_geom_prep *prep;
            struct gpn_tile *tiles;
            size_t nt;
            double bb[4];
            gpn_geom_bbox(g, bb);
            if (gpn_geom_prepare(g, &prep, &e) || gpn_tiles_in_bbox(bb[0], bb[1], bb[2], bb[3], 0, &tiles, &nt, &e)) {
                fprintf(stderr, "bench_report: %s\n", e.msg);
                return 1;
            }
            for (int k = 0; k < layers; k++) {
                int64_t want = layer_count(k, prep, tiles, nt, NULL, scratch, buf, &e), got = 0;
                for (size_t i = 0; i < r->nspecies; i++)
                    if (r->species[i].id == (uint32_t)(k + 1)) got = r->species[i].cells;
                if (want != got) {
                    fprintf(stderr, "MISMATCH species %d, %g km2: engine %lld, raster %lld\n", k + 1, sizes[si],
                            (long long)got, (long long)want);
                    failures++;
                }
            }
            int64_t cells = r->cells;
            gpn_report_free(r);

            int reps = sizes[si] <= 100 ? 21 : (sizes[si] <= 1000 ? 7 : 3);
            double t[32];
            double c0 = cpu_now();
            for (int i = 0; i < reps; i++) {
                double t0 = gpn_now();
                gpn_report_run(eng, g, &lim, &r, &e);
                t[i] = (gpn_now() - t0) * 1000;
                gpn_report_free(r);
            }
            double cpu = (cpu_now() - c0) * 1000 / reps;
            qsort(t, (size_t)reps, sizeof *t, cmp_double);
            double warm = t[reps / 2];
            double cold;
            {
                double t0 = gpn_now();
                struct gpn_report_engine *ce;
                gpn_report_engine_open(atlas, NULL, &ce, &e);
                gpn_report_run(ce, g, &lim, &r, &e);
                gpn_report_free(r);
                gpn_report_engine_close(ce);
                cold = (gpn_now() - t0) * 1000;
            }
            /* Naive and informed, on the K layers, single-threaded per
             * layer as a GDAL script would run. */
            double t0 = gpn_now();
            for (int k = 0; k < layers; k++) layer_count(k, prep, tiles, nt, NULL, scratch, buf, &e);
            double naive = (gpn_now() - t0) * 1000 / layers * counts[a];
            t0 = gpn_now();
            for (size_t i = 0; i < nt; i++) gpn_geom_prep_rasterize_tile(prep, tiles[i], masks + i * 250000, NULL, &e);
            for (int k = 0; k < layers; k++) layer_count(k, prep, tiles, nt, masks, scratch, buf, &e);
            double informed = (gpn_now() - t0) * 1000 / layers * counts[a];
            printf("%8d %9g %9lld %5zu %10.2f %10.2f %10.2f %12.0f %12.0f %10.0f %10.0f\n", counts[a], sizes[si],
                   (long long)cells, nt, warm, cpu, cold, naive, informed, naive / warm, informed / warm);
            fprintf(stderr, "bench_report,%d,%g,%lld,%zu,%.3f,%.3f,%.3f,%.1f,%.1f,%d\n", counts[a], sizes[si],
                    (long long)cells, nt, warm, cpu, cold, naive, informed, nthr);
            fflush(stdout);
            free(tiles);
            gpn_geom_prep_free(prep);
            gpn_geom_free(g);
        }
        gpn_report_engine_close(eng);
    }
    free(buf);
    free(scratch);
    free(masks);
    free(sps);
    if (failures) {
        fprintf(stderr, "bench_report: %d count mismatches between the engine and the rasters\n", failures);
        return 1;
    }
    return 0;
}
