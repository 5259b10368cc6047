/*
 * ops_winograd.c - 3x3 convolution (stride 1, padding 1) forward by
 * Winograd's minimal filtering F(2x2, 3x3), for the inference path.
 *
 * Why: the wide layers of the SDM encoders (GeoPlant widths 64..512) are
 * GEMM-bound, and F(2x2, 3x3) computes each 2x2 output tile from a 4x4 input
 * tile with 16 instead of 36 multiplies per (input, output) channel pair:
 * 2.25x fewer GEMM flops than im2col. F(2x2, 3x3) is the variant that stays
 * accurate in fp32 (its transforms only add, subtract and halve; larger
 * tiles lose digits). Used for inference only; training keeps im2col.
 *
 * Algorithm (Lavin & Gray 2016), per tile and channel pair:
 *   U = G g G^T (4x4, from the 3x3 filter g; precomputed once per model)
 *   V = B^T d B (4x4, from the 4x4 input tile d, zero outside the image)
 *   M = sum over c of U[o][c] (.) V[c]     -> 16 GEMMs (OC, C) @ (C, tiles)
 *   Y = A^T M A (2x2 output tile; cells past the image edge are dropped)
 * with B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],
 *      G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1],
 *      A^T = [1 1 1 0; 0 1 -1 -1].
 * Layouts: input (C, N, H, W) and output (OC, N, H, W) channel-major as the
 * other kernels; U (16, OC, C); per block of Tb tiles the scratch holds
 * V (16, C, Tb) and M (16, OC, Tb), sized so they stay in cache. Tiles are
 * numbered over (sample, tile row, tile column) of the whole (sub-)batch.
 * Threading as ops_conv.c: tile blocks handed to OpenMP threads dynamically,
 * serial when called from inside a parallel region.
 */
#include "gpn/nn.h"

#include <cblas.h>
#include <omp.h>

#include "nn_internal.h"

/* Tile-block budget: V + M of one block, in floats (4 MiB per thread). */
#define WINO_BLOCK_FLOATS ((size_t)1024 * 1024)

static int block_tiles(int C, int OC, int64_t tiles)
{
    int64_t tb = (int64_t)(WINO_BLOCK_FLOATS / (16 * (size_t)(C + OC)));
    tb = tb / 16 * 16;
    if (tb < 32) tb = 32;
    if (tb > tiles) tb = tiles;
    return (int)tb;
}

size_t gpn_conv3x3_wino_scratch(int C, int OC, int N, int H, int W)
{
    int64_t tiles = (int64_t)N * ((H + 1) / 2) * ((W + 1) / 2);
    return (size_t)16 * (size_t)(C + OC) * (size_t)block_tiles(C, OC, tiles);
}

void gpn_conv3x3_wino_weights(float *U, const float *weight, int OC, int C)
{
    for (int o = 0; o < OC; o++)
        for (int c = 0; c < C; c++) {
            const float *g = weight + ((size_t)o * C + c) * 9;
            float t[4][3]; /* G g */
            for (int j = 0; j < 3; j++) {
                t[0][j] = g[j];
                t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
                t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
                t[3][j] = g[6 + j];
            }
            for (int i = 0; i < 4; i++) { /* (G g) G^T */
                float u[4] = {t[i][0], 0.5f * (t[i][0] + t[i][1] + t[i][2]), 0.5f * (t[i][0] - t[i][1] + t[i][2]),
                              t[i][2]};
                for (int j = 0; j < 4; j++) U[((size_t)(i * 4 + j) * OC + o) * C + c] = u[j];
            }
        }
}

/* V (16, C, tb) for tiles t0..t0+tb-1. */
static void input_transform(float *V, const float *in, int N, int C, int H, int W, int tw, int tpi, int64_t t0,
                            int tb)
{
    const size_t HW = (size_t)H * W, ldv = (size_t)C * tb;
    for (int c = 0; c < C; c++)
        for (int j = 0; j < tb; j++) {
            int64_t t = t0 + j;
            int b = (int)(t / tpi), r = (int)(t % tpi), ty = r / tw, tx = r % tw;
            const float *x = in + ((size_t)c * N + b) * HW;
            int y0 = 2 * ty - 1, x0 = 2 * tx - 1;
            float d[4][4];
            if (y0 >= 0 && x0 >= 0 && y0 + 3 < H && x0 + 3 < W) {
                for (int i = 0; i < 4; i++)
                    for (int k = 0; k < 4; k++) d[i][k] = x[(size_t)(y0 + i) * W + x0 + k];
            } else {
                for (int i = 0; i < 4; i++)
                    for (int k = 0; k < 4; k++) {
                        int yy = y0 + i, xx = x0 + k;
                        d[i][k] = (yy >= 0 && yy < H && xx >= 0 && xx < W) ? x[(size_t)yy * W + xx] : 0.0f;
                    }
            }
            float s[4][4]; /* B^T d */
            for (int k = 0; k < 4; k++) {
                s[0][k] = d[0][k] - d[2][k];
                s[1][k] = d[1][k] + d[2][k];
                s[2][k] = d[2][k] - d[1][k];
                s[3][k] = d[1][k] - d[3][k];
            }
            float *v = V + (size_t)c * tb + j;
            for (int i = 0; i < 4; i++) { /* (B^T d) B */
                v[(size_t)(i * 4 + 0) * ldv] = s[i][0] - s[i][2];
                v[(size_t)(i * 4 + 1) * ldv] = s[i][1] + s[i][2];
                v[(size_t)(i * 4 + 2) * ldv] = s[i][2] - s[i][1];
                v[(size_t)(i * 4 + 3) * ldv] = s[i][1] - s[i][3];
            }
        }
}

/* out tiles t0.. from M (16, OC, tb), + bias, ReLU. */
static void output_transform(float *out, const float *M, const float *bias, int relu, int N, int OC, int H, int W,
                             int tw, int tpi, int64_t t0, int tb)
{
    const size_t HW = (size_t)H * W, ldm = (size_t)OC * tb;
    for (int o = 0; o < OC; o++) {
        const float bo = bias ? bias[o] : 0.0f;
        for (int j = 0; j < tb; j++) {
            int64_t t = t0 + j;
            int b = (int)(t / tpi), r = (int)(t % tpi), ty = r / tw, tx = r % tw;
            const float *m = M + (size_t)o * tb + j;
            float q[2][4]; /* A^T m */
            for (int k = 0; k < 4; k++) {
                float m0 = m[(size_t)(0 * 4 + k) * ldm], m1 = m[(size_t)(1 * 4 + k) * ldm],
                      m2 = m[(size_t)(2 * 4 + k) * ldm], m3 = m[(size_t)(3 * 4 + k) * ldm];
                q[0][k] = m0 + m1 + m2;
                q[1][k] = m1 - m2 - m3;
            }
            float *y = out + ((size_t)o * N + b) * HW;
            for (int i = 0; i < 2; i++) {
                int yy = 2 * ty + i;
                if (yy >= H) break;
                float v0 = q[i][0] + q[i][1] + q[i][2] + bo, v1 = q[i][1] - q[i][2] - q[i][3] + bo;
                if (relu) {
                    v0 = v0 > 0 ? v0 : 0.0f;
                    v1 = v1 > 0 ? v1 : 0.0f;
                }
                y[(size_t)yy * W + 2 * tx] = v0;
                if (2 * tx + 1 < W) y[(size_t)yy * W + 2 * tx + 1] = v1;
            }
        }
    }
}

void gpn_conv3x3_wino_forward(float *out, const float *in, const float *U, const float *bias, int N, int C, int H,
                              int W, int OC, int relu, float *scratch, size_t scratch_n)
{
    const int th = (H + 1) / 2, tw = (W + 1) / 2, tpi = th * tw;
    const int64_t tiles = (int64_t)N * tpi;
    const int tb = block_tiles(C, OC, tiles);
    const size_t per = (size_t)16 * (size_t)(C + OC) * (size_t)tb;
    int T = omp_in_parallel() ? 1 : omp_get_max_threads();
    if ((size_t)T > scratch_n / per) T = (int)(scratch_n / per);
    if (T < 1) T = 1;
    const int64_t blocks = (tiles + tb - 1) / tb;
    int prev = gpn__blas_threads_single();
#pragma omp parallel for num_threads(T) schedule(dynamic, 1) if (T > 1 && blocks > 1)
    for (int64_t blk = 0; blk < blocks; blk++) {
        const int64_t t0 = blk * tb;
        const int n = (int)(tiles - t0 < tb ? tiles - t0 : tb);
        float *V = scratch + (size_t)omp_get_thread_num() * per, *M = V + (size_t)16 * C * tb;
        input_transform(V, in, N, C, H, W, tw, tpi, t0, n);
        for (int xi = 0; xi < 16; xi++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, OC, n, C, 1.0f, U + (size_t)xi * OC * C, C,
                        V + (size_t)xi * C * n, n, 0.0f, M + (size_t)xi * OC * n, n);
        output_transform(out, M, bias, relu, N, OC, H, W, tw, tpi, t0, n);
    }
    gpn__blas_threads_restore(prev);
}
