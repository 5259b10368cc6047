/*
 * test_nn_ops.c - every optimised kernel (src/nn/ops_*.c, optim.c) against
 * its naive reference twin (src/nn/ref) at awkward shapes: batch 1 and 3+,
 * odd channel counts, odd and 1-pixel H/W, small and large im2col scratch
 * (one sample per GEMM versus the whole batch), gradients accumulated onto
 * non-zero buffers, and calls from inside an OpenMP parallel region.
 *
 * The optimised image kernels take channel-major (C, N, H, W) tensors and
 * the references NCHW, so the test converts between the two; for N = 1 the
 * layouts coincide.
 */
#include <omp.h>

#include "gpn/nn.h"
#include "nn_testutil.h"
#include "test.h"

/* ==== conv ================================================================ */

static int conv_check(int N, int C, int H, int W, int OC, int full_scratch, uint64_t seed)
{
    size_t HW = (size_t)H * W, nx = (size_t)N * C * HW, no = (size_t)N * OC * HW, nw = (size_t)OC * C * 9;
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *b = malloc((size_t)OC * 4), *dout = malloc(no * 4);
    fill_rand(x, nx, &seed);
    fill_rand(w, nw, &seed);
    fill_rand(b, (size_t)OC, &seed);
    fill_rand(dout, no, &seed);
    /* reference, NCHW */
    float *ro = malloc(no * 4), *rdx = malloc(nx * 4), *rdw = calloc(nw, 4), *rdb = calloc((size_t)OC, 4);
    for (size_t i = 0; i < nw; i++) rdw[i] = 0.5f;
    for (int i = 0; i < OC; i++) rdb[i] = -0.25f;
    gpn_conv3x3_forward_ref(ro, x, w, b, N, C, H, W, OC);
    gpn_conv3x3_backward_ref(rdx, rdw, rdb, dout, x, w, N, C, H, W, OC);
    /* optimised, channel-major */
    float *cx = malloc(nx * 4), *cdout = malloc(no * 4), *co = malloc(no * 4), *cdx = malloc(nx * 4);
    float *dw = malloc(nw * 4), *db = malloc((size_t)OC * 4), *back = malloc((no > nx ? no : nx) * 4);
    for (size_t i = 0; i < nw; i++) dw[i] = 0.5f;
    for (int i = 0; i < OC; i++) db[i] = -0.25f;
    nchw_to_cnhw(cx, x, N, C, HW);
    nchw_to_cnhw(cdout, dout, N, OC, HW);
    size_t sn = gpn_conv3x3_scratch(C, H, W, OC, full_scratch ? N : 1) * (size_t)omp_get_max_threads();
    float *scratch = malloc(sn * 4);
    int fail = 0;
    gpn_conv3x3_forward(co, cx, w, b, N, C, H, W, OC, 0, scratch, sn);
    cnhw_to_nchw(back, co, N, OC, HW);
    fail |= check_close("conv out", back, ro, no, TOL_REDUCE);
    /* fused ReLU */
    gpn_conv3x3_forward(co, cx, w, b, N, C, H, W, OC, 1, scratch, sn);
    cnhw_to_nchw(back, co, N, OC, HW);
    for (size_t i = 0; i < no; i++) ro[i] = ro[i] > 0 ? ro[i] : 0;
    fail |= check_close("conv out relu", back, ro, no, TOL_REDUCE);
    gpn_conv3x3_backward(cdx, dw, db, cdout, cx, w, N, C, H, W, OC, scratch, sn);
    cnhw_to_nchw(back, cdx, N, C, HW);
    fail |= check_close("conv dx", back, rdx, nx, TOL_GRAD);
    fail |= check_close("conv dweight (accumulated)", dw, rdw, nw, TOL_GRAD);
    fail |= check_close("conv dbias (accumulated)", db, rdb, (size_t)OC, TOL_GRAD);
    /* din == NULL leaves weight gradients right */
    for (size_t i = 0; i < nw; i++) dw[i] = 0.5f;
    gpn_conv3x3_backward(NULL, dw, NULL, cdout, cx, w, N, C, H, W, OC, scratch, sn);
    fail |= check_close("conv dweight (no din)", dw, rdw, nw, TOL_GRAD);
    if (fail) fprintf(stderr, "  shape N=%d C=%d H=%d W=%d OC=%d scratch=%s\n", N, C, H, W, OC, full_scratch ? "full" : "1");
    free(x), free(w), free(b), free(dout), free(ro), free(rdx), free(rdw), free(rdb);
    free(cx), free(cdout), free(co), free(cdx), free(dw), free(db), free(back), free(scratch);
    return fail;
}

static const int CONV_SHAPES[][5] = {
    {1, 1, 1, 1, 1}, {3, 5, 7, 9, 6}, {1, 4, 32, 32, 16}, {3, 3, 4, 21, 7},
    {2, 6, 1, 5, 3}, {5, 7, 13, 9, 11}, {3, 4, 19, 12, 8}, {1, 16, 8, 8, 32},
};

static void test_conv_vs_ref(void)
{
    for (size_t i = 0; i < sizeof CONV_SHAPES / sizeof CONV_SHAPES[0]; i++)
        for (int full = 0; full <= 1; full++) {
            const int *s = CONV_SHAPES[i];
            ASSERT_FALSE(conv_check(s[0], s[1], s[2], s[3], s[4], full, 100 + i));
        }
}

/* The inference path calls the kernels from inside a parallel region, one
 * sub-batch per thread: results must equal the serial call. */
static void test_conv_inside_parallel_region(void)
{
    const int N = 4, C = 3, H = 6, W = 5, OC = 4;
    size_t HW = (size_t)H * W, nx = (size_t)N * C * HW, no = (size_t)N * OC * HW;
    float x[4 * 3 * 30], w[4 * 3 * 9], out_serial[4 * 4 * 30], out_par[2][2 * 4 * 30];
    uint64_t s = 7;
    fill_rand(x, nx, &s);
    fill_rand(w, sizeof w / 4, &s);
    size_t sn = gpn_conv3x3_scratch(C, H, W, OC, N);
    float *scratch = malloc(sn * 4 * 3);
    gpn_conv3x3_forward(out_serial, x, w, NULL, N, C, H, W, OC, 0, scratch, sn);
    /* thread t convolves samples 2t, 2t+1 from its own channel-major copy */
#pragma omp parallel num_threads(2)
    {
        int t = omp_get_thread_num();
        float in[3 * 2 * 30];
        for (int c = 0; c < C; c++)
            memcpy(in + (size_t)c * 2 * HW, x + ((size_t)c * N + 2 * t) * HW, 2 * HW * 4);
        gpn_conv3x3_forward(out_par[t], in, w, NULL, 2, C, H, W, OC, 0, scratch + (size_t)(t + 1) * sn, sn);
    }
    float got[4 * 4 * 30];
    for (int t = 0; t < 2; t++)
        for (int o = 0; o < OC; o++)
            memcpy(got + ((size_t)o * N + 2 * t) * HW, out_par[t] + (size_t)o * 2 * HW, 2 * HW * 4);
    free(scratch);
    ASSERT_FALSE(check_close("conv in parallel region", got, out_serial, no, TOL_ELEM));
}

/* Winograd forward equals the reference convolution (with bias, ReLU) */
static int wino_check(int N, int C, int H, int W, int OC, uint64_t seed, int inside_parallel)
{
    size_t HW = (size_t)H * W, nx = (size_t)N * C * HW, no = (size_t)N * OC * HW, nw = (size_t)OC * C * 9;
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *b = malloc((size_t)OC * 4), *U = malloc(nw * 16 / 9 * 4 + 64);
    float *ro = malloc(no * 4), *cx = malloc(nx * 4), *co = malloc(no * 4), *back = malloc(no * 4);
    fill_rand(x, nx, &seed);
    fill_rand(w, nw, &seed);
    fill_rand(b, (size_t)OC, &seed);
    gpn_conv3x3_forward_ref(ro, x, w, b, N, C, H, W, OC);
    for (size_t i = 0; i < no; i++) ro[i] = ro[i] > 0 ? ro[i] : 0;
    nchw_to_cnhw(cx, x, N, C, HW);
    gpn_conv3x3_wino_weights(U, w, OC, C);
    size_t sn = gpn_conv3x3_wino_scratch(C, OC, N, H, W) * (size_t)omp_get_max_threads();
    float *scratch = malloc(sn * 4);
    if (inside_parallel) {
#pragma omp parallel num_threads(2)
        {
#pragma omp single
            gpn_conv3x3_wino_forward(co, cx, U, b, N, C, H, W, OC, 1, scratch, sn);
        }
    } else {
        gpn_conv3x3_wino_forward(co, cx, U, b, N, C, H, W, OC, 1, scratch, sn);
    }
    cnhw_to_nchw(back, co, N, OC, HW);
    int fail = check_close("winograd conv", back, ro, no, TOL_REDUCE);
    if (fail) fprintf(stderr, "  shape N=%d C=%d H=%d W=%d OC=%d\n", N, C, H, W, OC);
    free(x), free(w), free(b), free(U), free(ro), free(cx), free(co), free(back), free(scratch);
    return fail;
}

static void test_winograd_vs_ref(void)
{
    for (size_t i = 0; i < sizeof CONV_SHAPES / sizeof CONV_SHAPES[0]; i++) {
        const int *s = CONV_SHAPES[i];
        ASSERT_FALSE(wino_check(s[0], s[1], s[2], s[3], s[4], 200 + i, (int)(i & 1)));
    }
    /* many tile blocks (more tiles than one block holds) */
    ASSERT_FALSE(wino_check(9, 32, 17, 15, 24, 300, 0));
}

/* ==== batch norm ========================================================== */

static int bn_check(int N, int C, int H, int W, uint64_t seed)
{
    size_t HW = (size_t)H * W, n = (size_t)N * C * HW;
    int64_t M = (int64_t)N * (int64_t)HW;
    float *x = malloc(n * 4), *dout = malloc(n * 4), g[64], be[64], rm[64], rv[64];
    fill_rand(x, n, &seed);
    for (size_t i = 0; i < n; i++) x[i] = x[i] * 3 + 2; /* |mean| > std */
    fill_rand(dout, n, &seed);
    fill_rand(g, (size_t)C, &seed);
    fill_rand(be, (size_t)C, &seed);
    fill_rand(rm, (size_t)C, &seed);
    fill_rand(rv, (size_t)C, &seed);
    for (int c = 0; c < C; c++) rv[c] = rv[c] + 1.5f;
    float rrm[64], rrv[64], crm[64], crv[64], rmean[64], rrstd[64], mean[64], rstd[64];
    memcpy(rrm, rm, sizeof rm), memcpy(rrv, rv, sizeof rv), memcpy(crm, rm, sizeof rm), memcpy(crv, rv, sizeof rv);
    float *ro = malloc(n * 4), *rdx = malloc(n * 4), rdg[64] = {0}, rdb[64] = {0};
    gpn_batchnorm_forward_train_ref(ro, rmean, rrstd, x, g, be, rrm, rrv, N, C, (int64_t)HW, 1e-5f, 0.1f);
    gpn_batchnorm_backward_ref(rdx, rdg, rdb, dout, x, g, N, C, (int64_t)HW, 1e-5f);
    float *cx = malloc(n * 4), *cdout = malloc(n * 4), *co = malloc(n * 4), *back = malloc(n * 4), dg[64] = {0},
          db[64] = {0};
    nchw_to_cnhw(cx, x, N, C, HW);
    nchw_to_cnhw(cdout, dout, N, C, HW);
    int fail = 0;
    gpn_batchnorm_forward_train(co, mean, rstd, cx, g, be, crm, crv, C, M, 1e-5f, 0.1f, 0);
    cnhw_to_nchw(back, co, N, C, HW);
    fail |= check_close("bn train out", back, ro, n, TOL_REDUCE);
    fail |= check_close("bn mean", mean, rmean, (size_t)C, TOL_REDUCE);
    fail |= check_close("bn rstd", rstd, rrstd, (size_t)C, TOL_REDUCE);
    fail |= check_close("bn running mean", crm, rrm, (size_t)C, TOL_REDUCE);
    fail |= check_close("bn running var", crv, rrv, (size_t)C, TOL_REDUCE);
    /* backward in place (dx aliases dout), as the model calls it */
    float *cd = fcopy(cdout, n);
    gpn_batchnorm_backward(cd, dg, db, cd, cx, mean, rstd, g, NULL, C, M);
    cnhw_to_nchw(back, cd, N, C, HW);
    fail |= check_close("bn dx", back, rdx, n, TOL_GRAD);
    fail |= check_close("bn dgamma", dg, rdg, (size_t)C, TOL_GRAD);
    fail |= check_close("bn dbeta", db, rdb, (size_t)C, TOL_GRAD);
    /* BN + ReLU fused, against ref BN then ref ReLU (forward and backward) */
    float *rr = malloc(n * 4), *rdr = malloc(n * 4), *co2 = malloc(n * 4), rdg2[64] = {0}, rdb2[64] = {0}, dg2[64] = {0},
          db2[64] = {0};
    gpn_relu_forward_ref(rr, ro, n);
    gpn_relu_backward_ref(rdr, dout, ro, n);
    gpn_batchnorm_backward_ref(rdx, rdg2, rdb2, rdr, x, g, N, C, (int64_t)HW, 1e-5f);
    gpn_batchnorm_forward_train(co2, mean, rstd, cx, g, be, NULL, NULL, C, M, 1e-5f, 0.1f, 1);
    cnhw_to_nchw(back, co2, N, C, HW);
    fail |= check_close("bn+relu out", back, rr, n, TOL_REDUCE);
    memcpy(cd, cdout, n * 4);
    gpn_batchnorm_backward(cd, dg2, db2, cd, cx, mean, rstd, g, co2, C, M);
    cnhw_to_nchw(back, cd, N, C, HW);
    fail |= check_close("bn+relu dx", back, rdx, n, TOL_GRAD);
    fail |= check_close("bn+relu dgamma", dg2, rdg2, (size_t)C, TOL_GRAD);
    fail |= check_close("bn+relu dbeta", db2, rdb2, (size_t)C, TOL_GRAD);
    free(rr), free(rdr), free(co2);
    gpn_batchnorm_forward_eval_ref(ro, x, g, be, rm, rv, N, C, (int64_t)HW, 1e-5f);
    gpn_batchnorm_forward_eval(co, cx, g, be, rm, rv, C, M, 1e-5f);
    cnhw_to_nchw(back, co, N, C, HW);
    fail |= check_close("bn eval out", back, ro, n, TOL_REDUCE);
    if (fail) fprintf(stderr, "  shape N=%d C=%d H=%d W=%d\n", N, C, H, W);
    free(x), free(dout), free(ro), free(rdx), free(cx), free(cdout), free(co), free(back), free(cd);
    return fail;
}

static void test_bn_vs_ref(void)
{
    ASSERT_FALSE(bn_check(1, 3, 1, 2, 1));
    ASSERT_FALSE(bn_check(3, 5, 7, 9, 2));
    ASSERT_FALSE(bn_check(1, 7, 4, 21, 3));
    ASSERT_FALSE(bn_check(5, 17, 6, 5, 4));
}

/* conv with folded weights + bias == conv then eval BN */
static void test_bn_fold(void)
{
    const int N = 3, C = 5, H = 7, W = 6, OC = 9;
    size_t HW = (size_t)H * W, nx = (size_t)N * C * HW, no = (size_t)N * OC * HW, nw = (size_t)OC * C * 9;
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *o1 = malloc(no * 4), *o2 = malloc(no * 4), *wf = malloc(nw * 4);
    float g[9], be[9], rm[9], rv[9], bf[9];
    uint64_t s = 11;
    fill_rand(x, nx, &s), fill_rand(w, nw, &s), fill_rand(g, 9, &s), fill_rand(be, 9, &s), fill_rand(rm, 9, &s),
        fill_rand(rv, 9, &s);
    for (int i = 0; i < 9; i++) rv[i] += 1.2f;
    gpn_conv3x3_forward_ref(o1, x, w, NULL, N, C, H, W, OC);
    gpn_batchnorm_forward_eval_ref(o1, o1, g, be, rm, rv, N, OC, (int64_t)HW, 1e-5f);
    gpn_batchnorm_fold(wf, bf, w, NULL, g, be, rm, rv, OC, (int64_t)C * 9, 1e-5f);
    gpn_conv3x3_forward_ref(o2, x, wf, bf, N, C, H, W, OC);
    int fail = check_close("folded conv", o2, o1, no, TOL_REDUCE);
    free(x), free(w), free(o1), free(o2), free(wf);
    ASSERT_FALSE(fail);
}

/* ==== relu, pools, linear, loss =========================================== */

static void test_relu_vs_ref(void)
{
    float x[101], d[101], o1[101], o2[101], g1[101], g2[101];
    uint64_t s = 3;
    fill_rand(x, 101, &s), fill_rand(d, 101, &s);
    x[0] = 0.0f;
    gpn_relu_forward_ref(o1, x, 101);
    gpn_relu_forward(o2, x, 101);
    gpn_relu_backward_ref(g1, d, x, 101);
    gpn_relu_backward(g2, d, o2, 101);
    ASSERT_FALSE(check_close("relu", o2, o1, 101, TOL_ELEM));
    ASSERT_FALSE(check_close("relu backward", g2, g1, 101, TOL_ELEM));
}

static int pool_check(int N, int C, int H, int W, uint64_t seed)
{
    int64_t P = (int64_t)N * C;
    size_t n = (size_t)P * H * W, no = (size_t)P * (H / 2) * (W / 2);
    float *x = malloc(n * 4), *d = malloc(no * 4 + 4), *o1 = malloc(no * 4 + 4), *o2 = malloc(no * 4 + 4);
    float *g1 = malloc(n * 4), *g2 = malloc(n * 4);
    fill_rand(x, n, &seed);
    fill_rand(d, no, &seed);
    gpn_maxpool2_forward_ref(o1, x, P, H, W);
    gpn_maxpool2_forward(o2, x, P, H, W);
    gpn_maxpool2_backward_ref(g1, d, x, P, H, W);
    gpn_maxpool2_backward(g2, d, x, P, H, W);
    int fail = check_close("maxpool", o2, o1, no, TOL_ELEM) | check_close("maxpool backward", g2, g1, n, TOL_ELEM);
    /* global average pool: fast reads channel-major, ref NCHW */
    float *cx = malloc(n * 4), *a1 = malloc((size_t)P * 4), *a2 = malloc((size_t)P * 4), *da = malloc((size_t)P * 4);
    float *cg = malloc(n * 4);
    fill_rand(da, (size_t)P, &seed);
    nchw_to_cnhw(cx, x, N, C, (size_t)H * W);
    gpn_avgpool_forward_ref(a1, x, N, C, (int64_t)H * W);
    gpn_avgpool_forward(a2, cx, N, C, (int64_t)H * W);
    fail |= check_close("avgpool", a2, a1, (size_t)P, TOL_REDUCE);
    gpn_avgpool_backward_ref(g1, da, N, C, (int64_t)H * W);
    gpn_avgpool_backward(cg, da, N, C, (int64_t)H * W);
    cnhw_to_nchw(g2, cg, N, C, (size_t)H * W);
    fail |= check_close("avgpool backward", g2, g1, n, TOL_ELEM);
    if (fail) fprintf(stderr, "  shape N=%d C=%d H=%d W=%d\n", N, C, H, W);
    free(x), free(d), free(o1), free(o2), free(g1), free(g2), free(cx), free(a1), free(a2), free(da), free(cg);
    return fail;
}

static void test_pools_vs_ref(void)
{
    ASSERT_FALSE(pool_check(1, 1, 2, 2, 1));
    ASSERT_FALSE(pool_check(3, 5, 7, 9, 2));
    ASSERT_FALSE(pool_check(2, 3, 4, 21, 3));
    ASSERT_FALSE(pool_check(1, 4, 19, 12, 4));
    ASSERT_FALSE(pool_check(3, 2, 3, 2, 5));
    /* rows wide enough for the 16-window vector path, with a scalar tail */
    ASSERT_FALSE(pool_check(2, 3, 6, 37, 6));
    ASSERT_FALSE(pool_check(1, 2, 5, 64, 7));
    ASSERT_FALSE(pool_check(3, 2, 4, 16, 8)); /* the 8-wide path */
    ASSERT_FALSE(pool_check(1, 3, 3, 51, 9)); /* 16 + 8 + 1 windows */
}

/* Ties resolve to the first element of the window, like PyTorch. */
static void test_maxpool_ties(void)
{
    float x[4] = {1, 1, 1, 1}, d[1] = {2}, g[4];
    gpn_maxpool2_backward(g, d, x, 1, 2, 2);
    ASSERT_NEAR(g[0], 2, 0);
    ASSERT_NEAR(g[1] + g[2] + g[3], 0, 0);
    /* the vector path: 2 x 34 rows of pairwise ties (a = b, c = d > a) */
    float xv[2 * 34], dv[17], gv[2 * 34], gr[2 * 34];
    for (int i = 0; i < 34; i++) xv[i] = 1.0f, xv[34 + i] = (i % 4 < 2) ? 3.0f : 1.0f;
    for (int i = 0; i < 17; i++) dv[i] = (float)(i + 1);
    gpn_maxpool2_backward(gv, dv, xv, 1, 2, 34);
    gpn_maxpool2_backward_ref(gr, dv, xv, 1, 2, 34);
    ASSERT_FALSE(check_close("maxpool ties (vector path)", gv, gr, 68, TOL_ELEM));
}

static int linear_check(int B, int IC, int OC, uint64_t seed)
{
    size_t nx = (size_t)B * IC, nw = (size_t)OC * IC, no = (size_t)B * OC;
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *b = malloc((size_t)OC * 4), *d = malloc(no * 4);
    float *o1 = malloc(no * 4), *o2 = malloc(no * 4), *dx1 = malloc(nx * 4), *dx2 = malloc(nx * 4);
    float *dw1 = calloc(nw, 4), *dw2 = calloc(nw, 4), *db1 = calloc((size_t)OC, 4), *db2 = calloc((size_t)OC, 4);
    fill_rand(x, nx, &seed), fill_rand(w, nw, &seed), fill_rand(b, (size_t)OC, &seed), fill_rand(d, no, &seed);
    for (size_t i = 0; i < nw; i++) dw1[i] = dw2[i] = 1.0f;
    gpn_linear_forward_ref(o1, x, w, b, B, IC, OC);
    gpn_linear_forward(o2, x, w, b, B, IC, OC);
    gpn_linear_backward_ref(dx1, dw1, db1, d, x, w, B, IC, OC);
    gpn_linear_backward(dx2, dw2, db2, d, x, w, B, IC, OC);
    int fail = check_close("linear", o2, o1, no, TOL_REDUCE) | check_close("linear dx", dx2, dx1, nx, TOL_GRAD) |
               check_close("linear dweight", dw2, dw1, nw, TOL_GRAD) |
               check_close("linear dbias", db2, db1, (size_t)OC, TOL_GRAD);
    gpn_linear_forward_ref(o1, x, w, NULL, B, IC, OC);
    gpn_linear_forward(o2, x, w, NULL, B, IC, OC);
    fail |= check_close("linear no bias", o2, o1, no, TOL_REDUCE);
    free(x), free(w), free(b), free(d), free(o1), free(o2), free(dx1), free(dx2), free(dw1), free(dw2), free(db1),
        free(db2);
    return fail;
}

static void test_linear_vs_ref(void)
{
    ASSERT_FALSE(linear_check(1, 1, 1, 1));
    ASSERT_FALSE(linear_check(3, 7, 5, 2));
    ASSERT_FALSE(linear_check(17, 384, 201, 3));
}

static void test_bce_vs_ref(void)
{
    const int B = 5, C = 37;
    float x[5 * 37], y[5 * 37], w[5 * 37], pw[37], g1[5 * 37], g2[5 * 37];
    uint64_t s = 9;
    fill_rand(x, (size_t)B * C, &s);
    fill_rand(w, (size_t)B * C, &s);
    fill_rand(pw, (size_t)C, &s);
    for (int i = 0; i < B * C; i++) {
        x[i] *= 20; /* up to |20| */
        y[i] = w[i] > 0.3f ? 1.0f : w[i] < -0.9f ? 0.5f : 0.0f;
        w[i] = w[i] > 0.8f ? 0.0f : 1.0f;
    }
    x[0] = 100, x[1] = -100, y[0] = 0, y[1] = 1;
    for (int c = 0; c < C; c++) pw[c] = 1 + 5 * (pw[c] + 1);
    double l1 = gpn_bce_logits_ref(g1, x, y, w, pw, B, C), l2 = gpn_bce_logits(g2, x, y, w, pw, B, C);
    ASSERT_NEAR(l2, l1, 1e-5 * fabs(l1));
    ASSERT_FALSE(check_close("bce dlogits", g2, g1, (size_t)B * C, TOL_ELEM));
    l1 = gpn_bce_logits_ref(g1, x, y, NULL, NULL, B, C);
    l2 = gpn_bce_logits(g2, x, y, NULL, NULL, B, C);
    ASSERT_NEAR(l2, l1, 1e-5 * fabs(l1));
    ASSERT_FALSE(check_close("bce dlogits (no weights)", g2, g1, (size_t)B * C, TOL_ELEM));
    ASSERT_TRUE(isfinite(l2));
}

/* ==== optimisers ========================================================== */

static void test_optim_vs_ref(void)
{
    const size_t n = 1001;
    float p1[1001], p2[1001], m1[1001], m2[1001], v1[1001], v2[1001], g[1001];
    for (int kind = 0; kind < 3; kind++) {
        uint64_t s = 5 + kind;
        fill_rand(p1, n, &s);
        memcpy(p2, p1, sizeof p1);
        memset(m1, 0, sizeof m1), memset(m2, 0, sizeof m2), memset(v1, 0, sizeof v1), memset(v2, 0, sizeof v2);
        for (int t = 1; t <= 5; t++) {
            fill_rand(g, n, &s);
            if (kind == 0) {
                gpn_sgd_step_ref(p1, m1, g, n, 0.1f, 0.9f, 0.1f, 0.01f, 0, t);
                gpn_sgd_step(p2, m2, g, n, 0.1f, 0.9f, 0.1f, 0.01f, 0, t);
            } else if (kind == 1) {
                gpn_sgd_step_ref(p1, m1, g, n, 0.05f, 0.8f, 0.0f, 0.0f, 1, t);
                gpn_sgd_step(p2, m2, g, n, 0.05f, 0.8f, 0.0f, 0.0f, 1, t);
            } else {
                gpn_adamw_step_ref(p1, m1, v1, g, n, 0.01f, 0.9f, 0.999f, 1e-8f, 0.01f, t);
                gpn_adamw_step(p2, m2, v2, g, n, 0.01f, 0.9f, 0.999f, 1e-8f, 0.01f, t);
            }
        }
        ASSERT_FALSE(check_close("optimiser params", p2, p1, n, TOL_ELEM));
        ASSERT_FALSE(check_close("optimiser state", m2, m1, n, TOL_ELEM));
    }
}

/* The optimiser object equals the raw kernel, keeps its step count, and
 * rejects bad hyper-parameters. */
static void test_optim_object(void)
{
    struct gpn_err err = {0};
    struct gpn_optim_config cfg;
    gpn_optim_config_default(&cfg, GPN_OPTIM_ADAMW);
    struct gpn_optim *o = NULL;
    ASSERT_OK(gpn_optim_create(&cfg, 64, &o, &err), &err);
    float p1[64], p2[64], g[64], m[64] = {0}, v[64] = {0};
    uint64_t s = 1;
    fill_rand(p1, 64, &s);
    memcpy(p2, p1, sizeof p1);
    for (int t = 1; t <= 3; t++) {
        fill_rand(g, 64, &s);
        gpn_optim_step(o, p1, g, 0.02f);
        gpn_adamw_step(p2, m, v, g, 64, 0.02f, cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay, t);
    }
    ASSERT_EQ_INT(gpn_optim_steps(o), 3);
    ASSERT_EQ_INT(gpn_optim_state_count(o), 2);
    ASSERT_FALSE(check_close("optim object", p1, p2, 64, TOL_ELEM));
    ASSERT_FALSE(check_close("optim state v", gpn_optim_state(o, 1), v, 64, TOL_ELEM));
    gpn_optim_destroy(o);
    cfg.beta1 = 1.5f;
    ASSERT_RC(gpn_optim_create(&cfg, 8, &o, &err), GPN_ERANGE);
    ASSERT_TRUE(o == NULL);
    gpn_optim_config_default(&cfg, GPN_OPTIM_SGD);
    cfg.nesterov = 1;
    cfg.dampening = 0.5f;
    ASSERT_RC(gpn_optim_create(&cfg, 8, &o, &err), GPN_EINVAL);
    cfg.kind = 7;
    ASSERT_RC(gpn_optim_create(&cfg, 8, &o, &err), GPN_EINVAL);
    gpn_optim_destroy(NULL);
}

int main(void)
{
    RUN(test_conv_vs_ref);
    RUN(test_conv_inside_parallel_region);
    RUN(test_winograd_vs_ref);
    RUN(test_bn_vs_ref);
    RUN(test_bn_fold);
    RUN(test_relu_vs_ref);
    RUN(test_pools_vs_ref);
    RUN(test_maxpool_ties);
    RUN(test_linear_vs_ref);
    RUN(test_bce_vs_ref);
    RUN(test_optim_vs_ref);
    RUN(test_optim_object);
    return test_summary();
}
