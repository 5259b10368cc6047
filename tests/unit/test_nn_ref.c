/*
 * test_nn_ref.c - the reference kernels (src/nn/ref, *_ref) against PyTorch
 * fixtures (tests/ref/fixtures, written by tests/ref/gen_fixtures.py), and
 * their backward passes against finite differences in double precision.
 *
 * Finite differences: each op's forward is re-implemented here in double (a
 * few lines each, from the definition); the scalar L = sum(out * dout) with
 * the fixture's dout is differentiated by central differences (h = 1e-6) for
 * every input and parameter element, and compared with the ref backward.
 * Inputs come from the fixtures, which keep them away from kinks (ReLU near
 * 0, max-pool ties).
 */
#include "gpn/ckpt.h"
#include "gpn/nn.h"
#include "nn_testutil.h"
#include "test.h"

/* ==== double-precision forwards (the finite-difference oracle) ============ */

struct fd_ctx {
    int op;
    int N, C, H, W, OC;
    double *x, *w, *b, *dout; /* dout: the weights of L */
    double eps;
};

enum { OP_CONV, OP_BN, OP_MAXPOOL, OP_AVGPOOL, OP_LINEAR };

static double loss_d(const struct fd_ctx *c)
{
    double L = 0;
    const int N = c->N, C = c->C, H = c->H, W = c->W, OC = c->OC;
    if (c->op == OP_CONV) {
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OC; o++)
                for (int y = 0; y < H; y++)
                    for (int x = 0; x < W; x++) {
                        double s = c->b[o];
                        for (int ci = 0; ci < C; ci++)
                            for (int ky = 0; ky < 3; ky++)
                                for (int kx = 0; kx < 3; kx++) {
                                    int iy = y + ky - 1, ix = x + kx - 1;
                                    if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                                        s += c->x[((n * C + ci) * H + iy) * W + ix] *
                                             c->w[((o * C + ci) * 3 + ky) * 3 + kx];
                                }
                        L += s * c->dout[((n * OC + o) * H + y) * W + x];
                    }
    } else if (c->op == OP_BN) {
        int HW = H * W;
        for (int ci = 0; ci < C; ci++) {
            double s = 0, ss = 0, M = (double)N * HW;
            for (int n = 0; n < N; n++)
                for (int p = 0; p < HW; p++) s += c->x[(n * C + ci) * HW + p];
            double mu = s / M;
            for (int n = 0; n < N; n++)
                for (int p = 0; p < HW; p++) {
                    double d = c->x[(n * C + ci) * HW + p] - mu;
                    ss += d * d;
                }
            double rs = 1.0 / sqrt(ss / M + c->eps);
            for (int n = 0; n < N; n++)
                for (int p = 0; p < HW; p++) {
                    int i = (n * C + ci) * HW + p;
                    L += ((c->x[i] - mu) * rs * c->w[ci] + c->b[ci]) * c->dout[i];
                }
        }
    } else if (c->op == OP_MAXPOOL) {
        int OH = H / 2, OW = W / 2;
        for (int p = 0; p < N * C; p++)
            for (int oy = 0; oy < OH; oy++)
                for (int ox = 0; ox < OW; ox++) {
                    double m = -INFINITY;
                    for (int dy = 0; dy < 2; dy++)
                        for (int dx = 0; dx < 2; dx++) m = fmax(m, c->x[(p * H + 2 * oy + dy) * W + 2 * ox + dx]);
                    L += m * c->dout[(p * OH + oy) * OW + ox];
                }
    } else if (c->op == OP_AVGPOOL) {
        for (int p = 0; p < N * C; p++) {
            double s = 0;
            for (int i = 0; i < H * W; i++) s += c->x[p * H * W + i];
            L += s / (H * W) * c->dout[p];
        }
    } else { /* OP_LINEAR: N = B, C = IC */
        for (int bb = 0; bb < N; bb++)
            for (int o = 0; o < OC; o++) {
                double s = c->b[o];
                for (int i = 0; i < C; i++) s += c->x[bb * C + i] * c->w[o * C + i];
                L += s * c->dout[bb * OC + o];
            }
    }
    return L;
}

/* Central differences of L with respect to each of the n elements of p. */
static void fd_grad(struct fd_ctx *c, double *p, size_t n, float *g)
{
    const double h = 1e-6;
    for (size_t i = 0; i < n; i++) {
        double v = p[i];
        p[i] = v + h;
        double lp = loss_d(c);
        p[i] = v - h;
        double lm = loss_d(c);
        p[i] = v;
        g[i] = (float)((lp - lm) / (2 * h));
    }
}

static double *todouble(const float *x, size_t n)
{
    double *d = malloc((n ? n : 1) * sizeof(double));
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

/* ==== conv ================================================================ */

static int conv_case(const char *file)
{
    struct gpn_ckpt *ck = fx_open(file);
    if (!ck) return 1;
    int N = (int)fx_int(ck, "N"), C = (int)fx_int(ck, "C"), H = (int)fx_int(ck, "H"), W = (int)fx_int(ck, "W"),
        OC = (int)fx_int(ck, "OC");
    size_t nx, nw, nout;
    const float *x = fx_f32(ck, "x", &nx), *w = fx_f32(ck, "weight", &nw), *b = fx_f32(ck, "bias", NULL),
                *out = fx_f32(ck, "out", &nout), *dout = fx_f32(ck, "dout", NULL), *dx = fx_f32(ck, "dx", NULL),
                *dw = fx_f32(ck, "dweight", NULL), *db = fx_f32(ck, "dbias", NULL);
    int fail = !x || !w || !b || !out || !dout || !dx || !dw || !db;
    if (fail) goto done;
    float *o = calloc(nout, 4), *gx = calloc(nx, 4), *gw = calloc(nw, 4), *gb = calloc((size_t)OC, 4);
    gpn_conv3x3_forward_ref(o, x, w, b, N, C, H, W, OC);
    fail |= check_close("conv out", o, out, nout, TOL_REDUCE);
    gpn_conv3x3_backward_ref(gx, gw, gb, dout, x, w, N, C, H, W, OC);
    fail |= check_close("conv dx", gx, dx, nx, TOL_GRAD);
    fail |= check_close("conv dweight", gw, dw, nw, TOL_GRAD);
    fail |= check_close("conv dbias", gb, db, (size_t)OC, TOL_GRAD);
    /* finite differences in double */
    struct fd_ctx c = {OP_CONV, N, C, H, W, OC, todouble(x, nx), todouble(w, nw), todouble(b, (size_t)OC),
                       todouble(dout, nout), 0};
    float *fx = calloc(nx, 4), *fw = calloc(nw, 4), *fb = calloc((size_t)OC, 4);
    fd_grad(&c, c.x, nx, fx);
    fd_grad(&c, c.w, nw, fw);
    fd_grad(&c, c.b, (size_t)OC, fb);
    fail |= check_close("conv dx vs finite differences", gx, fx, nx, TOL_FD);
    fail |= check_close("conv dweight vs finite differences", gw, fw, nw, TOL_FD);
    fail |= check_close("conv dbias vs finite differences", gb, fb, (size_t)OC, TOL_FD);
    free(c.x), free(c.w), free(c.b), free(c.dout), free(fx), free(fw), free(fb);
    free(o), free(gx), free(gw), free(gb);
done:
    gpn_ckpt_close(ck);
    return fail;
}

static void test_conv_ref_n1(void) { ASSERT_FALSE(conv_case("conv3x3_n1.bin")); }
static void test_conv_ref_n3(void) { ASSERT_FALSE(conv_case("conv3x3_n3.bin")); }
static void test_conv_ref_1x1_map(void) { ASSERT_FALSE(conv_case("conv3x3_tiny.bin")); }

/* ==== batch norm ========================================================== */

static int bn_case(const char *file)
{
    struct gpn_ckpt *ck = fx_open(file);
    if (!ck) return 1;
    int N = (int)fx_int(ck, "N"), C = (int)fx_int(ck, "C"), HW = (int)(fx_int(ck, "H") * fx_int(ck, "W"));
    size_t n;
    const float *x = fx_f32(ck, "x", &n), *g = fx_f32(ck, "gamma", NULL), *be = fx_f32(ck, "beta", NULL),
                *rm0 = fx_f32(ck, "running_mean0", NULL), *rv0 = fx_f32(ck, "running_var0", NULL),
                *out = fx_f32(ck, "out", NULL), *out_eval = fx_f32(ck, "out_eval", NULL),
                *rm = fx_f32(ck, "running_mean", NULL), *rv = fx_f32(ck, "running_var", NULL),
                *dout = fx_f32(ck, "dout", NULL), *dx = fx_f32(ck, "dx", NULL), *dg = fx_f32(ck, "dgamma", NULL),
                *db = fx_f32(ck, "dbeta", NULL);
    int fail = !x || !g || !be || !rm0 || !rv0 || !out || !out_eval || !rm || !rv || !dout || !dx || !dg || !db;
    if (fail) goto done;
    float *o = calloc(n, 4), *mean = calloc((size_t)C, 4), *rstd = calloc((size_t)C, 4);
    float *crm = fcopy(rm0, (size_t)C), *crv = fcopy(rv0, (size_t)C);
    gpn_batchnorm_forward_eval_ref(o, x, g, be, rm0, rv0, N, C, HW, 1e-5f);
    fail |= check_close("bn eval out", o, out_eval, n, TOL_REDUCE);
    gpn_batchnorm_forward_train_ref(o, mean, rstd, x, g, be, crm, crv, N, C, HW, 1e-5f, 0.1f);
    fail |= check_close("bn train out", o, out, n, TOL_REDUCE);
    fail |= check_close("bn running_mean", crm, rm, (size_t)C, TOL_REDUCE);
    fail |= check_close("bn running_var", crv, rv, (size_t)C, TOL_REDUCE);
    float *gx = calloc(n, 4), *gg = calloc((size_t)C, 4), *gb = calloc((size_t)C, 4);
    gpn_batchnorm_backward_ref(gx, gg, gb, dout, x, g, N, C, HW, 1e-5f);
    fail |= check_close("bn dx", gx, dx, n, TOL_GRAD);
    fail |= check_close("bn dgamma", gg, dg, (size_t)C, TOL_GRAD);
    fail |= check_close("bn dbeta", gb, db, (size_t)C, TOL_GRAD);
    struct fd_ctx c = {OP_BN, N, C, HW, 1, 0, todouble(x, n), todouble(g, (size_t)C), todouble(be, (size_t)C),
                       todouble(dout, n), 1e-5};
    float *fx = calloc(n, 4), *fg = calloc((size_t)C, 4), *fb = calloc((size_t)C, 4);
    fd_grad(&c, c.x, n, fx);
    fd_grad(&c, c.w, (size_t)C, fg);
    fd_grad(&c, c.b, (size_t)C, fb);
    fail |= check_close("bn dx vs finite differences", gx, fx, n, TOL_FD);
    fail |= check_close("bn dgamma vs finite differences", gg, fg, (size_t)C, TOL_FD);
    fail |= check_close("bn dbeta vs finite differences", gb, fb, (size_t)C, TOL_FD);
    free(c.x), free(c.w), free(c.b), free(c.dout), free(fx), free(fg), free(fb);
    free(o), free(mean), free(rstd), free(crm), free(crv), free(gx), free(gg), free(gb);
done:
    gpn_ckpt_close(ck);
    return fail;
}

static void test_bn_ref_n3(void) { ASSERT_FALSE(bn_case("batchnorm_n3.bin")); }
static void test_bn_ref_n1(void) { ASSERT_FALSE(bn_case("batchnorm_n1.bin")); }

/* ==== relu, pools ========================================================= */

static void test_relu_ref(void)
{
    struct gpn_ckpt *ck = fx_open("relu_n37.bin");
    ASSERT_TRUE(ck);
    size_t n;
    const float *x = fx_f32(ck, "x", &n), *out = fx_f32(ck, "out", NULL), *dout = fx_f32(ck, "dout", NULL),
                *dx = fx_f32(ck, "dx", NULL);
    int fail = !x || !out || !dout || !dx;
    if (!fail) {
        float o[64], g[64];
        gpn_relu_forward_ref(o, x, n);
        gpn_relu_backward_ref(g, dout, x, n);
        fail |= check_close("relu out", o, out, n, TOL_ELEM) | check_close("relu dx", g, dx, n, TOL_ELEM);
    }
    gpn_ckpt_close(ck);
    ASSERT_FALSE(fail);
}

static int pool_case(const char *file, int maxpool)
{
    struct gpn_ckpt *ck = fx_open(file);
    if (!ck) return 1;
    int N = (int)fx_int(ck, "N"), C = (int)fx_int(ck, "C"), H = (int)fx_int(ck, "H"), W = (int)fx_int(ck, "W");
    size_t n, no;
    const float *x = fx_f32(ck, "x", &n), *out = fx_f32(ck, "out", &no), *dout = fx_f32(ck, "dout", NULL),
                *dx = fx_f32(ck, "dx", NULL);
    int fail = !x || !out || !dout || !dx;
    if (fail) goto done;
    float *o = calloc(no, 4), *g = calloc(n, 4), *f = calloc(n, 4);
    if (maxpool) {
        gpn_maxpool2_forward_ref(o, x, (int64_t)N * C, H, W);
        gpn_maxpool2_backward_ref(g, dout, x, (int64_t)N * C, H, W);
    } else {
        gpn_avgpool_forward_ref(o, x, N, C, (int64_t)H * W);
        gpn_avgpool_backward_ref(g, dout, N, C, (int64_t)H * W);
    }
    fail |= check_close("pool out", o, out, no, TOL_ELEM);
    fail |= check_close("pool dx", g, dx, n, TOL_ELEM);
    struct fd_ctx c = {maxpool ? OP_MAXPOOL : OP_AVGPOOL, N, C, H, W, 0, todouble(x, n), NULL, NULL,
                       todouble(dout, no), 0};
    fd_grad(&c, c.x, n, f);
    fail |= check_close("pool dx vs finite differences", g, f, n, TOL_FD);
    free(c.x), free(c.dout), free(o), free(g), free(f);
done:
    gpn_ckpt_close(ck);
    return fail;
}

static void test_maxpool_ref_odd(void) { ASSERT_FALSE(pool_case("maxpool2_odd.bin", 1)); }
static void test_maxpool_ref_even(void) { ASSERT_FALSE(pool_case("maxpool2_even.bin", 1)); }
static void test_avgpool_ref(void) { ASSERT_FALSE(pool_case("avgpool_n3.bin", 0)); }

/* ==== linear, loss ======================================================== */

static int linear_case(const char *file)
{
    struct gpn_ckpt *ck = fx_open(file);
    if (!ck) return 1;
    int B = (int)fx_int(ck, "B"), IC = (int)fx_int(ck, "IC"), OC = (int)fx_int(ck, "OC");
    size_t nx = (size_t)B * IC, nw = (size_t)OC * IC, no = (size_t)B * OC;
    const float *x = fx_f32(ck, "x", NULL), *w = fx_f32(ck, "weight", NULL), *b = fx_f32(ck, "bias", NULL),
                *out = fx_f32(ck, "out", NULL), *dout = fx_f32(ck, "dout", NULL), *dx = fx_f32(ck, "dx", NULL),
                *dw = fx_f32(ck, "dweight", NULL), *db = fx_f32(ck, "dbias", NULL);
    int fail = !x || !w || !b || !out || !dout || !dx || !dw || !db;
    if (fail) goto done;
    float *o = calloc(no, 4), *gx = calloc(nx, 4), *gw = calloc(nw, 4), *gb = calloc((size_t)OC, 4);
    gpn_linear_forward_ref(o, x, w, b, B, IC, OC);
    gpn_linear_backward_ref(gx, gw, gb, dout, x, w, B, IC, OC);
    fail |= check_close("linear out", o, out, no, TOL_REDUCE);
    fail |= check_close("linear dx", gx, dx, nx, TOL_GRAD);
    fail |= check_close("linear dweight", gw, dw, nw, TOL_GRAD);
    fail |= check_close("linear dbias", gb, db, (size_t)OC, TOL_GRAD);
    struct fd_ctx c = {OP_LINEAR, B, IC, 1, 1, OC, todouble(x, nx), todouble(w, nw), todouble(b, (size_t)OC),
                       todouble(dout, no), 0};
    float *fx = calloc(nx, 4), *fw = calloc(nw, 4);
    fd_grad(&c, c.x, nx, fx);
    fd_grad(&c, c.w, nw, fw);
    fail |= check_close("linear dx vs finite differences", gx, fx, nx, TOL_FD);
    fail |= check_close("linear dweight vs finite differences", gw, fw, nw, TOL_FD);
    free(c.x), free(c.w), free(c.b), free(c.dout), free(fx), free(fw), free(o), free(gx), free(gw), free(gb);
done:
    gpn_ckpt_close(ck);
    return fail;
}

static void test_linear_ref_n3(void) { ASSERT_FALSE(linear_case("linear_n3.bin")); }
static void test_linear_ref_n1(void) { ASSERT_FALSE(linear_case("linear_n1.bin")); }

static int bce_case(const char *file)
{
    struct gpn_ckpt *ck = fx_open(file);
    if (!ck) return 1;
    int B = (int)fx_int(ck, "B"), C = (int)fx_int(ck, "C");
    size_t n = (size_t)B * C;
    const float *x = fx_f32(ck, "logits", NULL), *y = fx_f32(ck, "targets", NULL), *w = fx_f32(ck, "weight", NULL),
                *pw = fx_f32(ck, "pos_weight", NULL), *loss = fx_f32(ck, "loss", NULL),
                *dl = fx_f32(ck, "dlogits", NULL);
    int fail = !x || !y || !w || !pw || !loss || !dl;
    if (fail) goto done;
    float *g = calloc(n, 4), *f = calloc(n, 4);
    float l = (float)gpn_bce_logits_ref(g, x, y, w, pw, B, C);
    fail |= check_close("bce loss", &l, loss, 1, TOL_ELEM);
    fail |= check_close("bce dlogits", g, dl, n, TOL_ELEM);
    /* finite differences of the loss in double (the ref computes in double) */
    float *xp = fcopy(x, n);
    for (size_t i = 0; i < n; i++) {
        float v = xp[i], h = 1e-2f;
        xp[i] = v + h;
        double lp = gpn_bce_logits_ref(NULL, xp, y, w, pw, B, C);
        xp[i] = v - h;
        double lm = gpn_bce_logits_ref(NULL, xp, y, w, pw, B, C);
        xp[i] = v;
        f[i] = (float)((lp - lm) / (2.0 * h));
    }
    fail |= check_close("bce dlogits vs finite differences", g, f, n, (struct tol){1e-5, 1e-3});
    free(g), free(f), free(xp);
done:
    gpn_ckpt_close(ck);
    return fail;
}

static void test_bce_ref_plain(void) { ASSERT_FALSE(bce_case("bce_plain.bin")); }
static void test_bce_ref_weighted(void) { ASSERT_FALSE(bce_case("bce_weighted.bin")); }

/* ==== optimisers ========================================================== */

static double fx_num(const struct gpn_ckpt *ck, const char *key, double dflt)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(gpn_ckpt_config(ck), pat);
    if (!p) return dflt;
    p += strlen(pat);
    if (!strncmp(p, "true", 4)) return 1;
    if (!strncmp(p, "false", 5)) return 0;
    if (*p == '[') p++;
    return strtod(p, NULL);
}

static int optim_case(const char *file, int adamw)
{
    struct gpn_ckpt *ck = fx_open(file);
    if (!ck) return 1;
    int n = (int)fx_int(ck, "n"), steps = (int)fx_int(ck, "steps");
    const float *p0 = fx_f32(ck, "params0", NULL), *grads = fx_f32(ck, "grads", NULL),
                *want = fx_f32(ck, "params", NULL);
    int fail = !p0 || !grads || !want;
    if (fail) goto done;
    float *p = fcopy(p0, (size_t)n), *s0 = calloc((size_t)n, 4), *s1 = calloc((size_t)n, 4);
    float lr = (float)fx_num(ck, "lr", 0);
    for (int t = 1; t <= steps; t++) {
        const float *g = grads + (size_t)(t - 1) * n;
        if (adamw) {
            float b1 = (float)fx_num(ck, "betas", 0.9), b2 = 0.999f;
            const char *bp = strstr(gpn_ckpt_config(ck), "\"betas\":[");
            if (bp) b2 = (float)strtod(strchr(bp, ',') + 1, NULL);
            gpn_adamw_step_ref(p, s0, s1, g, (size_t)n, lr, b1, b2, (float)fx_num(ck, "eps", 1e-8),
                               (float)fx_num(ck, "weight_decay", 0.01), t);
        } else {
            gpn_sgd_step_ref(p, s0, g, (size_t)n, lr, (float)fx_num(ck, "momentum", 0),
                             (float)fx_num(ck, "dampening", 0), (float)fx_num(ck, "weight_decay", 0),
                             (int)fx_num(ck, "nesterov", 0), t);
        }
        char what[64];
        snprintf(what, sizeof what, "%s step %d", file, t);
        fail |= check_close(what, p, want + (size_t)(t - 1) * n, (size_t)n, TOL_ELEM);
    }
    free(p), free(s0), free(s1);
done:
    gpn_ckpt_close(ck);
    return fail;
}

static void test_sgd_ref_momentum(void) { ASSERT_FALSE(optim_case("sgd_momentum.bin", 0)); }
static void test_sgd_ref_nesterov(void) { ASSERT_FALSE(optim_case("sgd_nesterov.bin", 0)); }
static void test_sgd_ref_plain(void) { ASSERT_FALSE(optim_case("sgd_plain.bin", 0)); }
static void test_adamw_ref_default(void) { ASSERT_FALSE(optim_case("adamw_default.bin", 1)); }
static void test_adamw_ref_betas(void) { ASSERT_FALSE(optim_case("adamw_betas.bin", 1)); }

/* The comparison helper must fail on a wrong tensor (guards against a
 * harness that cannot fail). */
static void test_check_close_detects_mismatch(void)
{
    float a[3] = {1, 2, 3}, b[3] = {1, 2, 3.01f};
    ASSERT_FALSE(check_close("same", a, a, 3, TOL_ELEM));
    fprintf(stderr, "  (a mismatch report is expected below)\n");
    ASSERT_TRUE(check_close("different", a, b, 3, TOL_ELEM));
}

int main(void)
{
    RUN(test_check_close_detects_mismatch);
    RUN(test_conv_ref_n1);
    RUN(test_conv_ref_n3);
    RUN(test_conv_ref_1x1_map);
    RUN(test_bn_ref_n3);
    RUN(test_bn_ref_n1);
    RUN(test_relu_ref);
    RUN(test_maxpool_ref_odd);
    RUN(test_maxpool_ref_even);
    RUN(test_avgpool_ref);
    RUN(test_linear_ref_n3);
    RUN(test_linear_ref_n1);
    RUN(test_bce_ref_plain);
    RUN(test_bce_ref_weighted);
    RUN(test_sgd_ref_momentum);
    RUN(test_sgd_ref_nesterov);
    RUN(test_sgd_ref_plain);
    RUN(test_adamw_ref_default);
    RUN(test_adamw_ref_betas);
    return test_summary();
}
