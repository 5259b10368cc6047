/*
 * ops_norm.c - batch normalisation on channel-major tensors (C, M), M =
 * N*H*W: training forward (batch statistics, running-stat update, optional
 * fused ReLU), eval forward, backward (optional fused ReLU mask), and
 * folding eval-mode BN into a convolution.
 *
 * Each channel is one contiguous row, so statistics are row reductions,
 * parallel over channels. Memory passes are what this costs (the rows are
 * far larger than the caches at training batch sizes), so the forward reads
 * x twice (mean, then squared deviations: two-pass keeps precision when
 * |mean| >> std) and writes out once with the ReLU fused; the backward reads
 * its inputs twice (the two sums, then dx) with the ReLU mask applied on the
 * fly, instead of separate ReLU passes. Sums use double accumulators: a row
 * can hold millions of values.
 */
#include "gpn/nn.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Row reductions on GCC/Clang vector types (16 float lanes; the compiler
 * maps them to AVX-512, or two AVX2 registers): plain scalar reductions are
 * latency-bound and the compiler will not reassociate them without
 * -ffast-math. Each block of <= 1024 values is summed in float lanes and the
 * block totals in double, which keeps the error small for long rows. */
typedef float v16f __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));
#define VL 16

static inline v16f vload(const float *p)
{
    v16f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline float vsum(v16f v)
{
    float t = 0;
    for (int j = 0; j < VL; j++) t += v[j];
    return t;
}

/* sum x */
static double row_sum(const float *x, int64_t n)
{
    double s = 0;
    for (int64_t i0 = 0; i0 < n; i0 += 1024) {
        int64_t i1 = i0 + 1024 < n ? i0 + 1024 : n, i = i0;
        v16f p = {0};
        for (; i + VL <= i1; i += VL) p += vload(x + i);
        float t = vsum(p);
        for (; i < i1; i++) t += x[i];
        s += t;
    }
    return s;
}

/* sum (x - mu)^2 */
static double row_sqdev(const float *x, int64_t n, float mu)
{
    double s = 0;
    for (int64_t i0 = 0; i0 < n; i0 += 1024) {
        int64_t i1 = i0 + 1024 < n ? i0 + 1024 : n, i = i0;
        v16f p = {0};
        for (; i + VL <= i1; i += VL) {
            v16f d = vload(x + i) - mu;
            p += d * d;
        }
        float t = vsum(p);
        for (; i < i1; i++) t += (x[i] - mu) * (x[i] - mu);
        s += t;
    }
    return s;
}

/* sum g and sum g * (x - mu), g = dy masked by relu_out > 0 when ro != NULL */
static void row_dsums(const float *dy, const float *x, const float *ro, int64_t n, float mu, double *sg, double *sgx)
{
    double a = 0, b = 0;
    const v16f zero = {0};
    for (int64_t i0 = 0; i0 < n; i0 += 1024) {
        int64_t i1 = i0 + 1024 < n ? i0 + 1024 : n, i = i0;
        v16f p = {0}, q = {0};
        if (ro)
            for (; i + VL <= i1; i += VL) {
                v16i keep = vload(ro + i) > zero; /* lanes: -1 (ReLU passed) or 0 */
                v16f g = (v16f)((v16i)vload(dy + i) & keep);
                p += g;
                q += g * (vload(x + i) - mu);
            }
        else
            for (; i + VL <= i1; i += VL) {
                v16f g = vload(dy + i);
                p += g;
                q += g * (vload(x + i) - mu);
            }
        float tp = vsum(p), tq = vsum(q);
        for (; i < i1; i++) {
            float g = (!ro || ro[i] > 0) ? dy[i] : 0.0f;
            tp += g;
            tq += g * (x[i] - mu);
        }
        a += tp;
        b += tq;
    }
    *sg = a;
    *sgx = b;
}

void gpn_batchnorm_forward_train(float *out, float *mean, float *rstd, const float *x, const float *gamma,
                                 const float *beta, float *running_mean, float *running_var, int C,
                                 int64_t M, float eps, float momentum, int relu)
{
#pragma omp parallel for schedule(dynamic, 1)
    for (int c = 0; c < C; c++) {
        const float *row = x + (size_t)c * (size_t)M;
        double mu = row_sum(row, M) / (double)M;
        double ss = row_sqdev(row, M, (float)mu);
        double var = ss / (double)M;
        double rs = 1.0 / sqrt(var + eps);
        float scale = (float)(rs * gamma[c]), shift = (float)(beta[c] - mu * rs * gamma[c]);
        float *o = out + (size_t)c * (size_t)M;
        if (relu)
            for (int64_t i = 0; i < M; i++) {
                float v = row[i] * scale + shift;
                o[i] = v > 0 ? v : 0.0f;
            }
        else
            for (int64_t i = 0; i < M; i++) o[i] = row[i] * scale + shift;
        mean[c] = (float)mu;
        rstd[c] = (float)rs;
        if (running_mean) running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mu);
        if (running_var) {
            double unbiased = M > 1 ? var * (double)M / (double)(M - 1) : var;
            running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * unbiased);
        }
    }
}

void gpn_batchnorm_forward_eval(float *out, const float *x, const float *gamma, const float *beta,
                                const float *running_mean, const float *running_var, int C, int64_t M,
                                float eps)
{
#pragma omp parallel for schedule(dynamic, 1)
    for (int c = 0; c < C; c++) {
        double rs = 1.0 / sqrt((double)running_var[c] + eps);
        float scale = (float)(rs * gamma[c]), shift = (float)(beta[c] - running_mean[c] * rs * gamma[c]);
        const float *row = x + (size_t)c * (size_t)M;
        float *o = out + (size_t)c * (size_t)M;
        for (int64_t i = 0; i < M; i++) o[i] = row[i] * scale + shift;
    }
}

void gpn_batchnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dout, const float *x,
                            const float *mean, const float *rstd, const float *gamma, const float *relu_out, int C,
                            int64_t M)
{
#pragma omp parallel for schedule(dynamic, 1)
    for (int c = 0; c < C; c++) {
        const float *dy = dout + (size_t)c * (size_t)M, *row = x + (size_t)c * (size_t)M;
        const float *ro = relu_out ? relu_out + (size_t)c * (size_t)M : NULL;
        const float mu = mean[c], rs = rstd[c];
        double sdy, sdyx;
        row_dsums(dy, row, ro, M, mu, &sdy, &sdyx);
        sdyx *= rs; /* sum dy * xhat */
        dgamma[c] += (float)sdyx;
        dbeta[c] += (float)sdy;
        /* dx = gamma*rs * (dy - sdy/M - xhat*sdyx/M) */
        const float k = gamma[c] * rs, a = (float)(sdy / (double)M), b = (float)(sdyx / (double)M) * rs;
        float *d = dx + (size_t)c * (size_t)M;
        if (ro)
            for (int64_t i = 0; i < M; i++) {
                float g = ro[i] > 0 ? dy[i] : 0.0f;
                d[i] = k * (g - a - (row[i] - mu) * b);
            }
        else
            for (int64_t i = 0; i < M; i++) d[i] = k * (dy[i] - a - (row[i] - mu) * b);
    }
}

void gpn_batchnorm_fold(float *wout, float *bout, const float *conv_w, const float *conv_b, const float *gamma,
                        const float *beta, const float *running_mean, const float *running_var, int OC,
                        int64_t K, float eps)
{
    for (int o = 0; o < OC; o++) {
        double s = (double)gamma[o] / sqrt((double)running_var[o] + eps);
        for (int64_t k = 0; k < K; k++) wout[(size_t)o * K + k] = (float)(conv_w[(size_t)o * K + k] * s);
        double b = conv_b ? conv_b[o] : 0.0;
        bout[o] = (float)((b - running_mean[o]) * s + beta[o]);
    }
}
