/*
 * bench_sdm.c - Deep-SDM throughput: training samples/s (forward, BCE,
 * backward, SGD step) and inference samples/s (eval forward), plus the
 * map-time variant that reuses one climate embedding per 1 km cell, the
 * sgemm peak of this machine and the achieved GFLOP/s.
 *
 * Before timing it validates the optimised kernels against the *_ref twins
 * on awkward shapes and the model's inference path (BN folded, batch split)
 * against its training-mode twin in eval mode, and exits 1 on a mismatch.
 * Prints one machine-readable line per case:
 *   bench=sdm case=<train|infer|infer_shared_climate|sgemm> config=<name> batch=B threads=T
 *   samples_per_s=X ms_per_batch=Y gflops=Z peak_gflops=P frac_peak=F
 * bench/run_sdm_bench.sh runs it next to tools/bench_sdm_torch.py and
 * prints the ratio table.
 *
 * Usage: bench_sdm [--config demo|geoplant|geoplant64|FILE.json] [--species N]
 *                  [--train-batch 64] [--infer-batch 256] [--seconds S]
 *                  [--cases train,infer,shared,sgemm] [--no-check] [--no-winograd]
 * Threads: OMP_NUM_THREADS / OPENBLAS_NUM_THREADS (run_sdm_bench.sh sets 2).
 * FLOP napkin math: a 3x3 conv does 2*OC*C*9*H*W flops per sample forward;
 * training does the forward, the weight gradient (same again) and the input
 * gradient (same again, except layer 1), plus the head's three GEMMs.
 */
#define _GNU_SOURCE
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpn/nn.h"
#include "gpn/sdm.h"
#include "gpn/util.h"

void gpn__sdm_set_winograd(struct gpn_sdm *m, int on); /* src/nn/nn_internal.h */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void fill(float *x, size_t n, uint64_t *s, float scale, float shift)
{
    for (size_t i = 0; i < n; i++) {
        *s = *s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0) * scale + shift;
    }
}

/* ==== validation ========================================================== */

static int close_enough(const float *a, const float *b, size_t n, double atol, double rtol, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (!(fabs((double)a[i] - b[i]) <= atol + rtol * fabs(b[i]))) {
            fprintf(stderr, "bench_sdm: validation failed: %s [%zu] %g vs %g\n", what, i, a[i], b[i]);
            return 0;
        }
    return 1;
}

static int validate_kernels(void)
{
    /* conv forward/backward at N=1 (layouts coincide) and awkward shape */
    const int N = 1, C = 5, H = 9, W = 7, OC = 6;
    size_t nx = (size_t)N * C * H * W, no = (size_t)N * OC * H * W, nw = (size_t)OC * C * 9;
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *o1 = malloc(no * 4), *o2 = malloc(no * 4), *d = malloc(no * 4);
    float *dx1 = malloc(nx * 4), *dx2 = malloc(nx * 4), *dw1 = calloc(nw, 4), *dw2 = calloc(nw, 4);
    size_t sn = gpn_conv3x3_scratch(C, H, W, OC, N) * (size_t)omp_get_max_threads();
    float *scr = malloc(sn * 4);
    uint64_t s = 1;
    fill(x, nx, &s, 1, 0), fill(w, nw, &s, 1, 0), fill(d, no, &s, 1, 0);
    gpn_conv3x3_forward_ref(o1, x, w, NULL, N, C, H, W, OC);
    gpn_conv3x3_forward(o2, x, w, NULL, N, C, H, W, OC, 0, scr, sn);
    gpn_conv3x3_backward_ref(dx1, dw1, NULL, d, x, w, N, C, H, W, OC);
    gpn_conv3x3_backward(dx2, dw2, NULL, d, x, w, N, C, H, W, OC, scr, sn);
    int ok = close_enough(o2, o1, no, 1e-5, 1e-4, "conv forward") && close_enough(dx2, dx1, nx, 1e-4, 1e-4, "conv dx") &&
             close_enough(dw2, dw1, nw, 1e-4, 1e-4, "conv dweight");
    float l1[35], l2[35], in[5 * 7];
    fill(in, 35, &s, 1, 0);
    gpn_linear_forward_ref(l1, in, w, NULL, 5, 7, 7);
    gpn_linear_forward(l2, in, w, NULL, 5, 7, 7);
    ok = ok && close_enough(l2, l1, 35, 1e-5, 1e-4, "linear");
    free(x), free(w), free(o1), free(o2), free(d), free(dx1), free(dx2), free(dw1), free(dw2), free(scr);
    return ok;
}

/* The inference path (folded BN, batch split) equals the training model's
 * eval mode on the same weights. */
static int validate_model(const struct gpn_sdm_config *cfg)
{
    struct gpn_err err = {0};
    struct gpn_sdm_config c = *cfg;
    if (c.n_species > 64) c.n_species = 64;
    struct gpn_sdm *t = NULL, *m = NULL;
    const int B = 5;
    if (gpn_sdm_create(&c, B, 1, 3, &t, &err) || gpn_sdm_clone(t, B, 0, &m, &err)) {
        fprintf(stderr, "bench_sdm: %s\n", err.msg);
        return 0;
    }
    size_t n2 = (size_t)B * c.in_c[0] * c.in_h[0] * c.in_w[0], nl = (size_t)B * c.in_c[1] * c.in_h[1] * c.in_w[1],
           nc = (size_t)B * c.in_c[2] * c.in_h[2] * c.in_w[2];
    uint8_t *s2 = malloc(n2 + 1);
    float *ls = malloc(nl * 4 + 4), *cl = malloc(nc * 4 + 4), *a = malloc((size_t)B * c.n_species * 4),
          *b = malloc((size_t)B * c.n_species * 4);
    uint64_t s = 2;
    for (size_t i = 0; i < n2; i++) s2[i] = (uint8_t)(i * 131 % 256);
    fill(ls, nl, &s, 1, 0), fill(cl, nc, &s, 1, 0);
    gpn_sdm_set_train(t, 0);
    int ok = !gpn_sdm_forward(t, B, s2, ls, cl, a, &err) && !gpn_sdm_forward(m, B, s2, ls, cl, b, &err) &&
             close_enough(b, a, (size_t)B * c.n_species, 1e-4, 1e-3, "inference path vs training model");
    free(s2), free(ls), free(cl), free(a), free(b);
    gpn_sdm_destroy(t);
    gpn_sdm_destroy(m);
    return ok;
}

/* ==== cases =============================================================== */

static double sgemm_peak(double seconds)
{
    const int n = 1536;
    float *a = malloc((size_t)n * n * 4), *b = malloc((size_t)n * n * 4), *c = malloc((size_t)n * n * 4);
    uint64_t s = 9;
    fill(a, (size_t)n * n, &s, 1, 0), fill(b, (size_t)n * n, &s, 1, 0);
    double best = 0, t_end = now() + seconds;
    do {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double g = 2.0 * n * n * (double)n / (now() - t0) * 1e-9;
        if (g > best) best = g;
    } while (now() < t_end);
    free(a), free(b), free(c);
    return best;
}

struct batch {
    uint8_t *s2;
    float *ls, *cl, *y, *logits, *dl;
};

static int batch_alloc(struct batch *b, const struct gpn_sdm_config *c, int B)
{
    size_t n2 = (size_t)B * c->in_c[0] * c->in_h[0] * c->in_w[0], nl = (size_t)B * c->in_c[1] * c->in_h[1] * c->in_w[1],
           nc = (size_t)B * c->in_c[2] * c->in_h[2] * c->in_w[2], ns = (size_t)B * c->n_species;
    b->s2 = malloc(n2 + 1);
    b->ls = malloc(nl * 4 + 4);
    b->cl = malloc(nc * 4 + 4);
    b->y = malloc(ns * 4);
    b->logits = malloc(ns * 4);
    b->dl = malloc(ns * 4);
    if (!b->s2 || !b->ls || !b->cl || !b->y || !b->logits || !b->dl) return -1;
    uint64_t s = 4;
    for (size_t i = 0; i < n2; i++) b->s2[i] = (uint8_t)((i * 2654435761u) >> 11);
    fill(b->ls, nl, &s, 1, 0), fill(b->cl, nc, &s, 1, 0);
    for (size_t i = 0; i < ns; i++) b->y[i] = (i * 7919 % 13) == 0;
    return 0;
}

static void batch_free(struct batch *b)
{
    free(b->s2), free(b->ls), free(b->cl), free(b->y), free(b->logits), free(b->dl);
}

/* Training flops per sample. */
static double train_flops(const struct gpn_sdm_config *c)
{
    double f = 0;
    for (int m = 0; m < GPN_SDM_N_MODALITIES; m++) {
        if (!c->use[m]) continue;
        int ch = c->in_c[m], h = c->in_h[m], w = c->in_w[m];
        for (int l = 0; l < c->n_layers; l++) {
            double fw = 2.0 * h * w * c->width[l] * ch * 9.0;
            f += fw * (l == 0 ? 2 : 3);
            ch = c->width[l];
            if (c->pool[l]) h /= 2, w /= 2;
        }
    }
    return f + 3 * 2.0 * gpn_sdm_config_concat_dim(c) * c->n_species;
}

static double g_cpu_per_iter; /* process CPU seconds per iteration of the last time_it */

static void print_case(const char *name, const struct gpn_sdm_config *c, int B, double sec_per_batch, double flops,
                       double peak)
{
    double sps = B / sec_per_batch, gf = flops * B / sec_per_batch * 1e-9;
    printf("bench=sdm case=%s config=%s species=%d batch=%d threads=%d samples_per_s=%.1f ms_per_batch=%.2f "
           "cpu_ms_per_batch=%.2f gflops=%.1f peak_gflops=%.1f frac_peak=%.3f\n",
           name, c->name, c->n_species, B, omp_get_max_threads(), sps, sec_per_batch * 1e3, g_cpu_per_iter * 1e3, gf,
           peak, peak > 0 ? gf / peak : 0);
    fflush(stdout);
}

/* Runs fn until `seconds` elapsed (at least 3 iterations after 1 warm-up);
 * returns the fastest iteration's wall seconds (interference from other
 * processes only ever slows an iteration down, so the minimum is the most
 * repeatable statistic on a shared machine; the PyTorch side uses the same).
 * Also records the mean process CPU seconds per iteration. */
typedef int (*step_fn)(void *ctx);
static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double time_it(step_fn fn, void *ctx, double seconds)
{
    if (fn(ctx)) return -1;
    double times[1000];
    int n = 0;
    double t_end = now() + seconds, c0 = cpu_now();
    while (n < 1000 && (n < 3 || now() < t_end)) {
        double t0 = now();
        if (fn(ctx)) return -1;
        times[n++] = now() - t0;
    }
    g_cpu_per_iter = (cpu_now() - c0) / n;
    qsort(times, (size_t)n, sizeof times[0], cmp_d);
    return times[0];
}

struct train_ctx {
    struct gpn_sdm *m;
    struct gpn_optim *opt;
    struct batch *b;
    int B, S;
};

static int train_step(void *p)
{
    struct train_ctx *t = p;
    struct gpn_err err = {0};
    if (gpn_sdm_forward(t->m, t->B, t->b->s2, t->b->ls, t->b->cl, t->b->logits, &err)) return -1;
    gpn_bce_logits(t->b->dl, t->b->logits, t->b->y, NULL, NULL, t->B, t->S);
    gpn_sdm_zero_grad(t->m);
    if (gpn_sdm_backward(t->m, t->b->dl, &err)) return -1;
    gpn_optim_step(t->opt, gpn_sdm_params(t->m, NULL), gpn_sdm_grads(t->m, NULL), 0.01f);
    return 0;
}

static int infer_step(void *p)
{
    struct train_ctx *t = p;
    struct gpn_err err = {0};
    return gpn_sdm_forward(t->m, t->B, t->b->s2, t->b->ls, t->b->cl, t->b->logits, &err);
}

/* Map-time inference: 400 cells of 50 m share one 1 km climate cube; the
 * climate embedding is computed once per 1 km cell (here: once per batch of
 * B <= 400 cells) and broadcast by the head. */
struct shared_ctx {
    struct gpn_sdm *m;
    struct batch *b;
    int B;
    float *emb_s2, *emb_ls, *emb_cl;
};

static int shared_step(void *p)
{
    struct shared_ctx *t = p;
    struct gpn_err err = {0};
    const struct gpn_sdm_config *c = gpn_sdm_get_config(t->m);
    int D = gpn_sdm_config_emb_dim(c);
    if (c->use[0] && gpn_sdm_embed(t->m, GPN_SDM_SENTINEL, t->B, t->b->s2, t->emb_s2, &err)) return -1;
    if (c->use[1] && gpn_sdm_embed(t->m, GPN_SDM_LANDSAT, t->B, t->b->ls, t->emb_ls, &err)) return -1;
    if (c->use[2] && gpn_sdm_embed(t->m, GPN_SDM_CLIMATE, 1, t->b->cl, t->emb_cl, &err)) return -1;
    const float *e[3] = {t->emb_s2, t->emb_ls, t->emb_cl};
    size_t st[3] = {(size_t)D, (size_t)D, 0};
    return gpn_sdm_head(t->m, t->B, e, st, t->b->logits, &err);
}

int main(int argc, char **argv)
{
    const char *config = "demo", *cases = "sgemm,train,infer,shared";
    int species = -1, tb = 64, ib = 256, check = 1, wino = 1;
    double seconds = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc) config = argv[++i];
        else if (!strcmp(argv[i], "--species") && i + 1 < argc) species = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--train-batch") && i + 1 < argc) tb = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--infer-batch") && i + 1 < argc) ib = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--cases") && i + 1 < argc) cases = argv[++i];
        else if (!strcmp(argv[i], "--no-check")) check = 0;
        else if (!strcmp(argv[i], "--no-winograd")) wino = 0;
        else {
            fprintf(stderr, "usage: bench_sdm [--config NAME|FILE] [--species N] [--train-batch B] [--infer-batch B]\n"
                            "                 [--seconds S] [--cases sgemm,train,infer,shared] [--no-check] [--no-winograd]\n");
            return 2;
        }
    }
    struct gpn_err err = {0};
    struct gpn_sdm_config cfg;
    if (gpn_sdm_config_named(config, &cfg, NULL)) {
        char *js;
        size_t n;
        if (gpn_file_read(config, &js, &n, &err) || gpn_sdm_config_from_json(js, &cfg, &err)) {
            fprintf(stderr, "bench_sdm: %s\n", err.msg);
            return 1;
        }
        free(js);
    }
    if (species > 0) cfg.n_species = species;
    if (cfg.n_species < 1) cfg.n_species = 500;
    if (check) {
        if (!validate_kernels() || !validate_model(&cfg)) return 1;
        fprintf(stderr, "bench_sdm: kernels and inference path validated against the references\n");
    }
    double peak = 0;
    if (strstr(cases, "sgemm")) {
        peak = sgemm_peak(seconds < 2 ? seconds : 2);
        printf("bench=sdm case=sgemm n=1536 threads=%d gflops=%.1f\n", openblas_get_num_threads(), peak);
    }
    double fwd = 2.0 * gpn_sdm_config_macs(&cfg), trn = train_flops(&cfg);
    fprintf(stderr, "bench_sdm: config %s: %.1f MFLOP/sample forward, %.1f MFLOP/sample training\n", cfg.name,
            fwd * 1e-6, trn * 1e-6);
    if (strstr(cases, "train")) {
        struct gpn_sdm *m = NULL;
        struct gpn_optim *opt = NULL;
        struct batch b;
        struct gpn_optim_config oc;
        gpn_optim_config_default(&oc, GPN_OPTIM_SGD);
        size_t np;
        if (gpn_sdm_create(&cfg, tb, 1, 1, &m, &err) || batch_alloc(&b, &cfg, tb) ||
            (gpn_sdm_params(m, &np), gpn_optim_create(&oc, np, &opt, &err))) {
            fprintf(stderr, "bench_sdm: %s\n", err.msg);
            return 1;
        }
        gpn__sdm_set_winograd(m, wino);
        struct train_ctx t = {m, opt, &b, tb, cfg.n_species};
        double sec = time_it(train_step, &t, seconds);
        if (sec < 0) return 1;
        print_case("train", &cfg, tb, sec, trn, peak);
        gpn_optim_destroy(opt);
        gpn_sdm_destroy(m);
        batch_free(&b);
    }
    if (strstr(cases, "infer") || strstr(cases, "shared")) {
        struct gpn_sdm *m = NULL;
        struct batch b;
        if (gpn_sdm_create(&cfg, ib, 0, 1, &m, &err) || batch_alloc(&b, &cfg, ib)) {
            fprintf(stderr, "bench_sdm: %s\n", err.msg);
            return 1;
        }
        gpn__sdm_set_winograd(m, wino);
        if (strstr(cases, "infer")) {
            struct train_ctx t = {m, NULL, &b, ib, cfg.n_species};
            double sec = time_it(infer_step, &t, seconds);
            if (sec < 0) return 1;
            print_case("infer", &cfg, ib, sec, fwd, peak);
        }
        if (strstr(cases, "shared")) {
            int D = gpn_sdm_config_emb_dim(&cfg);
            struct shared_ctx t = {m, &b, ib, malloc((size_t)ib * D * 4), malloc((size_t)ib * D * 4),
                                   malloc((size_t)D * 4)};
            double sec = time_it(shared_step, &t, seconds);
            if (sec < 0) return 1;
            print_case("infer_shared_climate", &cfg, ib, sec, fwd, peak);
            free(t.emb_s2), free(t.emb_ls), free(t.emb_cl);
        }
        gpn_sdm_destroy(m);
        batch_free(&b);
    }
    return 0;
}
