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

#include <stdint.h>
#include <string.h>

void gpn_maxpool2_forward(float *out, const float *x, int64_t P, int H, int W)
{
    const int OH = H / 2, OW = W / 2;
#pragma omp parallel for schedule(dynamic, 8)
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

/* ---- vector helpers: 16 windows at a time -------------------------------- */

typedef float v16f __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));

#if defined(__clang__)
#define SHUF2(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#define EVEN_IDX 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30
#define ODD_IDX 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31
#define LO_IDX 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23
#define HI_IDX 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31
#define EVEN(a, b) SHUF2(a, b, EVEN_IDX)
#define ODD(a, b) SHUF2(a, b, ODD_IDX)
#define ILO(a, b) SHUF2(a, b, LO_IDX)
#define IHI(a, b) SHUF2(a, b, HI_IDX)
#else
static const v16i EVEN_M = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
static const v16i ODD_M = {1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31};
static const v16i LO_M = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23};
static const v16i HI_M = {8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
#define EVEN(a, b) __builtin_shuffle(a, b, EVEN_M)
#define ODD(a, b) __builtin_shuffle(a, b, ODD_M)
#define ILO(a, b) __builtin_shuffle(a, b, LO_M)
#define IHI(a, b) __builtin_shuffle(a, b, HI_M)
#endif

static inline v16f vld(const float *p)
{
    v16f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void vst(float *p, v16f v) { memcpy(p, &v, sizeof v); }

static inline v16f vsel(v16i m, v16f a) { return (v16f)((v16i)a & m); }

/* The same for 8 windows (maps of 16..31 columns after the 16-wide part). */
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
#if defined(__clang__)
#define EVEN8(a, b) __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14)
#define ODD8(a, b) __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15)
#define ILO8(a, b) __builtin_shufflevector(a, b, 0, 8, 1, 9, 2, 10, 3, 11)
#define IHI8(a, b) __builtin_shufflevector(a, b, 4, 12, 5, 13, 6, 14, 7, 15)
#else
static const v8i EVEN8_M = {0, 2, 4, 6, 8, 10, 12, 14}, ODD8_M = {1, 3, 5, 7, 9, 11, 13, 15},
                 LO8_M = {0, 8, 1, 9, 2, 10, 3, 11}, HI8_M = {4, 12, 5, 13, 6, 14, 7, 15};
#define EVEN8(a, b) __builtin_shuffle(a, b, EVEN8_M)
#define ODD8(a, b) __builtin_shuffle(a, b, ODD8_M)
#define ILO8(a, b) __builtin_shuffle(a, b, LO8_M)
#define IHI8(a, b) __builtin_shuffle(a, b, HI8_M)
#endif

static inline v8f vld8(const float *p)
{
    v8f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void vst8(float *p, v8f v) { memcpy(p, &v, sizeof v); }

/* One 2x2 window: the gradient g goes to the arg-max with PyTorch's order
 * (first of a, b, c, d wins ties), 0 to the three others. */
static inline void window_grad(float a, float b, float c, float d, float g, float *ga, float *gb, float *gc, float *gd)
{
    int best = 0;
    float m = a;
    if (b > m) { m = b; best = 1; }
    if (c > m) { m = c; best = 2; }
    if (d > m) { best = 3; }
    *ga = best == 0 ? g : 0.0f;
    *gb = best == 1 ? g : 0.0f;
    *gc = best == 2 ? g : 0.0f;
    *gd = best == 3 ? g : 0.0f;
}

void gpn_maxpool2_backward(float *dx, const float *dout, const float *x, int64_t P, int H, int W)
{
    const int OH = H / 2, OW = W / 2;
#pragma omp parallel for schedule(dynamic, 8)
    for (int64_t p = 0; p < P; p++) {
        const float *xp = x + (size_t)p * H * W;
        float *dp = dx + (size_t)p * H * W;
        const float *gp = dout + (size_t)p * OH * OW;
        /* one pass: every window writes its four cells (gradient at the
         * arg-max, 0 elsewhere); cells outside all windows are zeroed.
         * Sixteen windows at a time: deinterleave the two input rows into
         * a, b, c, d, select branch-free, interleave back. */
        for (int oy = 0; oy < OH; oy++) {
            const float *r0 = xp + (size_t)(2 * oy) * W, *r1 = r0 + W;
            float *d0 = dp + (size_t)(2 * oy) * W, *d1 = d0 + W;
            const float *g = gp + (size_t)oy * OW;
            int ox = 0;
            for (; ox + 16 <= OW; ox += 16) {
                v16f l0 = vld(r0 + 2 * ox), h0 = vld(r0 + 2 * ox + 16), l1 = vld(r1 + 2 * ox), h1 = vld(r1 + 2 * ox + 16);
                v16f a = EVEN(l0, h0), b = ODD(l0, h0), c = EVEN(l1, h1), d = ODD(l1, h1), gv = vld(g + ox);
                v16f mab = (v16f)(((v16i)b & (b > a)) | ((v16i)a & ~(b > a)));
                v16i sd = d > (v16f)(((v16i)c & (c > mab)) | ((v16i)mab & ~(c > mab)));
                v16i sc = ~sd & (c > mab);
                v16i sb = ~sd & ~sc & (b > a);
                v16i sa = ~sd & ~sc & ~sb;
                v16f ga = vsel(sa, gv), gb = vsel(sb, gv), gc = vsel(sc, gv), gd = vsel(sd, gv);
                vst(d0 + 2 * ox, ILO(ga, gb));
                vst(d0 + 2 * ox + 16, IHI(ga, gb));
                vst(d1 + 2 * ox, ILO(gc, gd));
                vst(d1 + 2 * ox + 16, IHI(gc, gd));
            }
            for (; ox + 8 <= OW; ox += 8) {
                v8f l0 = vld8(r0 + 2 * ox), h0 = vld8(r0 + 2 * ox + 8), l1 = vld8(r1 + 2 * ox), h1 = vld8(r1 + 2 * ox + 8);
                v8f a = EVEN8(l0, h0), b = ODD8(l0, h0), c = EVEN8(l1, h1), d = ODD8(l1, h1), gv = vld8(g + ox);
                v8f mab = (v8f)(((v8i)b & (b > a)) | ((v8i)a & ~(b > a)));
                v8i sd = d > (v8f)(((v8i)c & (c > mab)) | ((v8i)mab & ~(c > mab)));
                v8i sc = ~sd & (c > mab);
                v8i sb = ~sd & ~sc & (b > a);
                v8i sa = ~sd & ~sc & ~sb;
                v8f ga = (v8f)((v8i)gv & sa), gb = (v8f)((v8i)gv & sb), gc = (v8f)((v8i)gv & sc), gd = (v8f)((v8i)gv & sd);
                vst8(d0 + 2 * ox, ILO8(ga, gb));
                vst8(d0 + 2 * ox + 8, IHI8(ga, gb));
                vst8(d1 + 2 * ox, ILO8(gc, gd));
                vst8(d1 + 2 * ox + 8, IHI8(gc, gd));
            }
            for (; ox < OW; ox++)
                window_grad(r0[2 * ox], r0[2 * ox + 1], r1[2 * ox], r1[2 * ox + 1], g[ox], &d0[2 * ox], &d0[2 * ox + 1],
                            &d1[2 * ox], &d1[2 * ox + 1]);
            if (W & 1) d0[W - 1] = d1[W - 1] = 0.0f;
        }
        if (H & 1)
            for (int i = 0; i < W; i++) dp[(size_t)(H - 1) * W + i] = 0.0f;
    }
}

void gpn_avgpool_forward(float *out, const float *x, int N, int C, int64_t HW)
{
    const float inv = 1.0f / (float)HW;
#pragma omp parallel for schedule(dynamic, 1) if ((int64_t)N * C * HW > 65536)
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
#pragma omp parallel for schedule(dynamic, 1) if ((int64_t)N * C * HW > 65536)
    for (int c = 0; c < C; c++)
        for (int n = 0; n < N; n++) {
            float g = dout[(size_t)n * C + c] * inv;
            float *r = dx + ((size_t)c * N + n) * (size_t)HW;
            for (int64_t i = 0; i < HW; i++) r[i] = g;
        }
}
