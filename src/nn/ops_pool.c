/*
 * ops_pool.c - max-pool 2x2 stride 2 and global average pooling.
 *
 * Max-pool treats the input as P independent H x W planes, which holds for
 * both NCHW and channel-major layouts. Odd sizes drop the last row/column
 * (floor, as PyTorch's default ceil_mode=False). The backward pass finds the
 * arg-max again from the forward input instead of storing indices (one less
 * buffer; ties resolve to the first element in row-major window order, as
 * PyTorch does).
 * Global average pooling reads channel-major (C, N, HW) and writes (N, C),
 * the row-per-sample layout of the linear head.
 */
#include "gpn/nn.h"

void gpn_maxpool2_forward(float *out, const float *x, int64_t P, int H, int W)
{
    const int OH = H / 2, OW = W / 2;
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < P; p++) {
        const float *xp = x + (size_t)p * H * W;
        float *op = out + (size_t)p * OH * OW;
        for (int oy = 0; oy < OH; oy++) {
            const float *r0 = xp + (size_t)(2 * oy) * W, *r1 = r0 + W;
            float *o = op + (size_t)oy * OW;
            for (int ox = 0; ox < OW; ox++) {
                float a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];
                float m = a;
                if (b > m) m = b;
                if (c > m) m = c;
                if (d > m) m = d;
                o[ox] = m;
            }
        }
    }
}

void gpn_maxpool2_backward(float *dx, const float *dout, const float *x, int64_t P, int H, int W)
{
    const int OH = H / 2, OW = W / 2;
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < P; p++) {
        const float *xp = x + (size_t)p * H * W;
        float *dp = dx + (size_t)p * H * W;
        const float *gp = dout + (size_t)p * OH * OW;
        /* one pass: every window writes its four cells (gradient at the
         * arg-max, 0 elsewhere); cells outside all windows are zeroed */
        for (int oy = 0; oy < OH; oy++) {
            const float *r0 = xp + (size_t)(2 * oy) * W, *r1 = r0 + W;
            float *d0 = dp + (size_t)(2 * oy) * W, *d1 = d0 + W;
            for (int ox = 0; ox < OW; ox++) {
                float a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];
                float g = gp[(size_t)oy * OW + ox];
                int best = 0;
                float m = a;
                if (b > m) { m = b; best = 1; }
                if (c > m) { m = c; best = 2; }
                if (d > m) { best = 3; }
                d0[2 * ox] = best == 0 ? g : 0.0f;
                d0[2 * ox + 1] = best == 1 ? g : 0.0f;
                d1[2 * ox] = best == 2 ? g : 0.0f;
                d1[2 * ox + 1] = best == 3 ? g : 0.0f;
            }
            if (W & 1) d0[W - 1] = d1[W - 1] = 0.0f;
        }
        if (H & 1)
            for (int i = 0; i < W; i++) dp[(size_t)(H - 1) * W + i] = 0.0f;
    }
}

void gpn_avgpool_forward(float *out, const float *x, int N, int C, int64_t HW)
{
    const float inv = 1.0f / (float)HW;
#pragma omp parallel for schedule(static) if ((int64_t)N * C * HW > 65536)
    for (int c = 0; c < C; c++)
        for (int n = 0; n < N; n++) {
            const float *r = x + ((size_t)c * N + n) * (size_t)HW;
            float s = 0;
            for (int64_t i = 0; i < HW; i++) s += r[i];
            out[(size_t)n * C + c] = s * inv;
        }
}

void gpn_avgpool_backward(float *dx, const float *dout, int N, int C, int64_t HW)
{
    const float inv = 1.0f / (float)HW;
#pragma omp parallel for schedule(static) if ((int64_t)N * C * HW > 65536)
    for (int c = 0; c < C; c++)
        for (int n = 0; n < N; n++) {
            float g = dout[(size_t)n * C + c] * inv;
            float *r = dx + ((size_t)c * N + n) * (size_t)HW;
            for (int64_t i = 0; i < HW; i++) r[i] = g;
        }
}
