/*
 * ref_norm.c - naive reference batch normalisation, ReLU, max-pool 2x2 and
 * global average pool (NCHW), the oracle of ops_norm.c / ops_act.c /
 * ops_pool.c.
 *
 * Batch norm follows the definition in double: per channel, mean and biased
 * variance over (N, H, W) normalise, the unbiased variance feeds the running
 * estimate (PyTorch). The backward pass recomputes the statistics from x
 * instead of trusting what the forward pass saved, so it checks the saved
 * values too.
 */
#include "gpn/nn.h"

#include <math.h>

/* ==== batch norm ========================================================== */

static void ref_stats(const float *x, int N, int C, int64_t HW, int c, double *mean, double *var)
{
    double s = 0, ss = 0;
    int64_t M = (int64_t)N * HW;
    for (int n = 0; n < N; n++)
        for (int64_t p = 0; p < HW; p++) s += x[((size_t)n * C + c) * HW + p];
    double mu = s / (double)M;
    for (int n = 0; n < N; n++)
        for (int64_t p = 0; p < HW; p++) {
            double d = x[((size_t)n * C + c) * HW + p] - mu;
            ss += d * d;
        }
    *mean = mu;
    *var = ss / (double)M;
}

void gpn_batchnorm_forward_train_ref(float *out, float *mean, float *rstd, const float *x, const float *gamma,
                                     const float *beta, float *running_mean, float *running_var, int N, int C,
                                     int64_t HW, float eps, float momentum)
{
    int64_t M = (int64_t)N * HW;
    for (int c = 0; c < C; c++) {
        double mu, var;
        ref_stats(x, N, C, HW, c, &mu, &var);
        double rs = 1.0 / sqrt(var + eps);
        for (int n = 0; n < N; n++)
            for (int64_t p = 0; p < HW; p++) {
                size_t i = ((size_t)n * C + c) * HW + p;
                out[i] = (float)((x[i] - mu) * rs * gamma[c] + beta[c]);
            }
        if (mean) mean[c] = (float)mu;
        if (rstd) rstd[c] = (float)rs;
        if (running_mean) running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mu);
        if (running_var) {
            double unbiased = M > 1 ? var * (double)M / (double)(M - 1) : var;
            running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * unbiased);
        }
    }
}

void gpn_batchnorm_forward_eval_ref(float *out, const float *x, const float *gamma, const float *beta,
                                    const float *running_mean, const float *running_var, int N, int C,
                                    int64_t HW, float eps)
{
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int64_t p = 0; p < HW; p++) {
                size_t i = ((size_t)n * C + c) * HW + p;
                out[i] = (float)(((double)x[i] - running_mean[c]) / sqrt((double)running_var[c] + eps) * gamma[c] +
                                 beta[c]);
            }
}

void gpn_batchnorm_backward_ref(float *dx, float *dgamma, float *dbeta, const float *dout, const float *x,
                                const float *gamma, int N, int C, int64_t HW, float eps)
{
    double M = (double)N * (double)HW;
    for (int c = 0; c < C; c++) {
        double mu, var;
        ref_stats(x, N, C, HW, c, &mu, &var);
        double rs = 1.0 / sqrt(var + eps);
        double sum_dy = 0, sum_dy_xhat = 0;
        for (int n = 0; n < N; n++)
            for (int64_t p = 0; p < HW; p++) {
                size_t i = ((size_t)n * C + c) * HW + p;
                sum_dy += dout[i];
                sum_dy_xhat += dout[i] * (x[i] - mu) * rs;
            }
        dgamma[c] += (float)sum_dy_xhat;
        dbeta[c] += (float)sum_dy;
        for (int n = 0; n < N; n++)
            for (int64_t p = 0; p < HW; p++) {
                size_t i = ((size_t)n * C + c) * HW + p;
                double xhat = (x[i] - mu) * rs;
                dx[i] = (float)(gamma[c] * rs * (dout[i] - sum_dy / M - xhat * sum_dy_xhat / M));
            }
    }
}

/* ==== ReLU ================================================================ */

void gpn_relu_forward_ref(float *out, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = x[i] > 0 ? x[i] : 0.0f;
}

/* Gradient of ReLU at its input x (0 at x <= 0, PyTorch's convention). */
void gpn_relu_backward_ref(float *dx, const float *dout, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) dx[i] = x[i] > 0 ? dout[i] : 0.0f;
}

/* ==== pooling ============================================================= */

void gpn_maxpool2_forward_ref(float *out, const float *x, int64_t P, int H, int W)
{
    int OH = H / 2, OW = W / 2;
    for (int64_t p = 0; p < P; p++)
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                float m = -INFINITY;
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++) {
                        float v = x[((size_t)p * H + 2 * oy + dy) * W + 2 * ox + dx];
                        if (v > m) m = v;
                    }
                out[((size_t)p * OH + oy) * OW + ox] = m;
            }
}

void gpn_maxpool2_backward_ref(float *dx, const float *dout, const float *x, int64_t P, int H, int W)
{
    int OH = H / 2, OW = W / 2;
    for (size_t i = 0; i < (size_t)P * H * W; i++) dx[i] = 0;
    for (int64_t p = 0; p < P; p++)
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                size_t best = 0;
                float m = -INFINITY;
                for (int dy = 0; dy < 2; dy++)
                    for (int dxx = 0; dxx < 2; dxx++) {
                        size_t i = ((size_t)p * H + 2 * oy + dy) * W + 2 * ox + dxx;
                        if (x[i] > m) {
                            m = x[i];
                            best = i;
                        }
                    }
                dx[best] += dout[((size_t)p * OH + oy) * OW + ox];
            }
}

void gpn_avgpool_forward_ref(float *out, const float *x, int N, int C, int64_t HW)
{
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            double s = 0;
            for (int64_t p = 0; p < HW; p++) s += x[((size_t)n * C + c) * HW + p];
            out[(size_t)n * C + c] = (float)(s / (double)HW);
        }
}

void gpn_avgpool_backward_ref(float *dx, const float *dout, int N, int C, int64_t HW)
{
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int64_t p = 0; p < HW; p++)
                dx[((size_t)n * C + c) * HW + p] = (float)((double)dout[(size_t)n * C + c] / (double)HW);
}
