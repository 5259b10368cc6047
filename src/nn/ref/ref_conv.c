/*
 * ref_conv.c - naive reference convolution 3x3 (stride 1, padding 1) and
 * linear layer, the in-tree oracle of ops_conv.c / ops_linear.c.
 *
 * Written as the textbook sums in PyTorch's NCHW layout with double
 * accumulators and no blocking, so that a reader can check them against the
 * definition at a glance. Slow on purpose; used only by tests and benches.
 *   conv:   in (N, C, H, W), weight (OC, C, 3, 3), out (N, OC, H, W)
 *   linear: in (B, IC), weight (OC, IC), out (B, OC)
 */
#include "gpn/nn.h"

#include <stdlib.h>

/* ==== conv 3x3 ============================================================ */

void gpn_conv3x3_forward_ref(float *out, const float *in, const float *weight, const float *bias, int N, int C,
                             int H, int W, int OC)
{
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    double s = bias ? bias[o] : 0.0;
                    for (int c = 0; c < C; c++)
                        for (int ky = 0; ky < 3; ky++)
                            for (int kx = 0; kx < 3; kx++) {
                                int iy = y + ky - 1, ix = x + kx - 1;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                s += (double)in[(((size_t)n * C + c) * H + iy) * W + ix] *
                                     weight[(((size_t)o * C + c) * 3 + ky) * 3 + kx];
                            }
                    out[(((size_t)n * OC + o) * H + y) * W + x] = (float)s;
                }
}

void gpn_conv3x3_backward_ref(float *din, float *dweight, float *dbias, const float *dout, const float *in,
                              const float *weight, int N, int C, int H, int W, int OC)
{
    if (dbias)
        for (int o = 0; o < OC; o++) {
            double s = 0;
            for (int n = 0; n < N; n++)
                for (int p = 0; p < H * W; p++) s += dout[((size_t)n * OC + o) * H * W + p];
            dbias[o] += (float)s;
        }
    for (int o = 0; o < OC; o++)
        for (int c = 0; c < C; c++)
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++) {
                    double s = 0;
                    for (int n = 0; n < N; n++)
                        for (int y = 0; y < H; y++)
                            for (int x = 0; x < W; x++) {
                                int iy = y + ky - 1, ix = x + kx - 1;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                s += (double)dout[(((size_t)n * OC + o) * H + y) * W + x] *
                                     in[(((size_t)n * C + c) * H + iy) * W + ix];
                            }
                    dweight[(((size_t)o * C + c) * 3 + ky) * 3 + kx] += (float)s;
                }
    if (!din) return;
    /* d in[n,c,iy,ix] = sum over o, ky, kx of dout[n,o,iy-ky+1,ix-kx+1] * w[o,c,ky,kx] */
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int iy = 0; iy < H; iy++)
                for (int ix = 0; ix < W; ix++) {
                    double s = 0;
                    for (int o = 0; o < OC; o++)
                        for (int ky = 0; ky < 3; ky++)
                            for (int kx = 0; kx < 3; kx++) {
                                int y = iy - ky + 1, x = ix - kx + 1;
                                if (y < 0 || y >= H || x < 0 || x >= W) continue;
                                s += (double)dout[(((size_t)n * OC + o) * H + y) * W + x] *
                                     weight[(((size_t)o * C + c) * 3 + ky) * 3 + kx];
                            }
                    din[(((size_t)n * C + c) * H + iy) * W + ix] = (float)s;
                }
}

/* ==== linear ============================================================== */

void gpn_linear_forward_ref(float *out, const float *in, const float *weight, const float *bias, int B, int IC,
                            int OC)
{
    for (int b = 0; b < B; b++)
        for (int o = 0; o < OC; o++) {
            double s = bias ? bias[o] : 0.0;
            for (int i = 0; i < IC; i++) s += (double)in[(size_t)b * IC + i] * weight[(size_t)o * IC + i];
            out[(size_t)b * OC + o] = (float)s;
        }
}

void gpn_linear_backward_ref(float *din, float *dweight, float *dbias, const float *dout, const float *in,
                             const float *weight, int B, int IC, int OC)
{
    for (int o = 0; o < OC; o++) {
        if (dbias) {
            double s = 0;
            for (int b = 0; b < B; b++) s += dout[(size_t)b * OC + o];
            dbias[o] += (float)s;
        }
        for (int i = 0; i < IC; i++) {
            double s = 0;
            for (int b = 0; b < B; b++) s += (double)dout[(size_t)b * OC + o] * in[(size_t)b * IC + i];
            dweight[(size_t)o * IC + i] += (float)s;
        }
    }
    if (!din) return;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < IC; i++) {
            double s = 0;
            for (int o = 0; o < OC; o++) s += (double)dout[(size_t)b * OC + o] * weight[(size_t)o * IC + i];
            din[(size_t)b * IC + i] = (float)s;
        }
}
