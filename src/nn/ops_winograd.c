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

/* Tile blocks: runs of whole tile rows (the transforms then run along image
 * rows with unit stride and vectorise) of about WINO_TILES tiles: enough
 * columns for efficient GEMMs, while V and M of a block stay in L2 at small
 * channel counts. WINO_BLOCK_FLOATS caps V + M at large channel counts. */
#define WINO_TILES 256
#define WINO_BLOCK_FLOATS ((size_t)4 * 1024 * 1024)

/* Tile rows per block for rows of tw tiles, out of total_rows. */
static int block_rows(int C, int OC, int tw, int64_t total_rows)
{
    int64_t r = (WINO_TILES + tw - 1) / tw;
    int64_t cap = (int64_t)(WINO_BLOCK_FLOATS / (16 * (size_t)(C + OC) * (size_t)tw));
    if (r > cap) r = cap;
    if (r < 1) r = 1;
    if (r > total_rows) r = total_rows;
    return (int)r;
}

/* Per-thread scratch: V and M of one block plus the transforms' row buffers. */
static size_t thread_floats(int C, int OC, int W, int rows, int tw)
{
    size_t nt = (size_t)rows * (size_t)tw, rb = 4 * (2 * (size_t)tw + 2) + (size_t)W;
    if (8 * nt > rb) rb = 8 * nt;
    return (size_t)16 * (size_t)(C + OC) * nt + rb + 16;
}

size_t gpn_conv3x3_wino_scratch(int C, int OC, int N, int H, int W)
{
    int th = (H + 1) / 2, tw = (W + 1) / 2;
    return thread_floats(C, OC, W, block_rows(C, OC, tw, (int64_t)N * th), tw);
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

/* The four zero-padded combined rows of B^T d, p_k (2*tw + 2 each, at
 * p + k * pitch): p_k[j] = combo_k(rows)[j - 1] with combo 0: r0 - r2,
 * 1: r1 + r2, 2: r2 - r1, 3: r1 - r3 (a NULL row is outside the image). */
static void padded_rows(float *restrict p, size_t pitch, const float *r0, const float *r1, const float *r2,
                        const float *r3, int W, int tw, const float *restrict zero)
{
    const float *restrict a0 = r0 ? r0 : zero, *restrict a1 = r1 ? r1 : zero, *restrict a2 = r2 ? r2 : zero,
                         *restrict a3 = r3 ? r3 : zero;
    float *restrict p0 = p, *restrict p1 = p + pitch, *restrict p2 = p + 2 * pitch, *restrict p3 = p + 3 * pitch;
    for (int j = 0; j < W; j++) {
        p0[j + 1] = a0[j] - a2[j];
        p1[j + 1] = a1[j] + a2[j];
        p2[j + 1] = a2[j] - a1[j];
        p3[j + 1] = a1[j] - a3[j];
    }
    for (int k = 0; k < 4; k++) {
        float *pk = p + (size_t)k * pitch;
        pk[0] = 0.0f;
        for (int j = W + 1; j < 2 * tw + 2; j++) pk[j] = 0.0f;
    }
}

/* tile t covers p[2t .. 2t+3]: (.) B along the row */
static void row_B(float *restrict v0, float *restrict v1, float *restrict v2, float *restrict v3,
                  const float *restrict p, int tw)
{
    for (int t = 0; t < tw; t++) {
        float e0 = p[2 * t], o0 = p[2 * t + 1], e1 = p[2 * t + 2], o1 = p[2 * t + 3];
        v0[t] = e0 - e1;
        v1[t] = o0 + e1;
        v2[t] = e1 - o0;
        v3[t] = o0 - o1;
    }
}

/* V (16, C, nt) for the tile rows r0..r0+nr-1 (tile row r = sample r / th,
 * tile row r % th), nt = nr * tw tiles. For one channel and tile row, the
 * four input rows y0..y0+3 are combined first (B^T d, along whole rows, into
 * a zero-padded row p), then each tile's (.) B values are read from p[2t ..
 * 2t+3]; both loops run along the row and vectorise. */
static void input_transform(float *V, const float *in, int N, int C, int H, int W, int th, int tw, int64_t r0, int nr,
                            float *rowbuf)
{
    const size_t HW = (size_t)H * W, nt = (size_t)nr * tw, ldv = (size_t)C * nt, pitch = (size_t)2 * tw + 2;
    float *zero = rowbuf + 4 * pitch; /* W zeros: the rows outside the image */
    for (int j = 0; j < W; j++) zero[j] = 0.0f;
    for (int c = 0; c < C; c++)
        for (int rr = 0; rr < nr; rr++) {
            int64_t r = r0 + rr;
            int b = (int)(r / th), ty = (int)(r % th), y0 = 2 * ty - 1;
            const float *x = in + ((size_t)c * N + b) * HW;
            const float *row[4];
            for (int i = 0; i < 4; i++) row[i] = (y0 + i >= 0 && y0 + i < H) ? x + (size_t)(y0 + i) * W : NULL;
            padded_rows(rowbuf, pitch, row[0], row[1], row[2], row[3], W, tw, zero);
            float *v = V + (size_t)c * nt + (size_t)rr * tw;
            for (int k = 0; k < 4; k++)
                row_B(v + (size_t)(4 * k) * ldv, v + (size_t)(4 * k + 1) * ldv, v + (size_t)(4 * k + 2) * ldv,
                      v + (size_t)(4 * k + 3) * ldv, rowbuf + (size_t)k * pitch, tw);
        }
}

/* q0 = m0 + m1 + m2, q1 = m1 - m2 - m3 (A^T along the tile's rows) */
static void col_AT(float *restrict q0, float *restrict q1, const float *restrict m0, const float *restrict m1,
                   const float *restrict m2, const float *restrict m3, int tw)
{
    for (int t = 0; t < tw; t++) {
        q0[t] = m0[t] + m1[t] + m2[t];
        q1[t] = m1[t] - m2[t] - m3[t];
    }
}

/* one output row: (. A) + bias, ReLU, columns interleaved */
static void row_A(float *restrict y, const float *restrict a0, const float *restrict a1, const float *restrict a2,
                  const float *restrict a3, float bo, int relu, int W)
{
    const int full = W / 2;
    if (relu)
        for (int t = 0; t < full; t++) {
            float v0 = a0[t] + a1[t] + a2[t] + bo, v1 = a1[t] - a2[t] - a3[t] + bo;
            y[2 * t] = v0 > 0 ? v0 : 0.0f;
            y[2 * t + 1] = v1 > 0 ? v1 : 0.0f;
        }
    else
        for (int t = 0; t < full; t++) {
            y[2 * t] = a0[t] + a1[t] + a2[t] + bo;
            y[2 * t + 1] = a1[t] - a2[t] - a3[t] + bo;
        }
    if (W & 1) {
        float v0 = a0[full] + a1[full] + a2[full] + bo;
        y[W - 1] = relu && v0 < 0 ? 0.0f : v0;
    }
}

/* out rows of tile rows r0.. from M (16, OC, nt), + bias, ReLU. For one
 * output channel: q = A^T m along all tiles of the block (unit stride, one
 * long loop), then per tile row (. A) gives the two output columns of every
 * tile, interleaved into the image row. */
static void output_transform(float *out, const float *M, const float *bias, int relu, int N, int OC, int H, int W,
                             int th, int tw, int64_t r0, int nr, float *rowbuf)
{
    const size_t HW = (size_t)H * W, nt = (size_t)nr * tw, ldm = (size_t)OC * nt;
    float *q = rowbuf; /* 8 rows of nt: q[i][k] at (4 * i + k) * nt, all tiles of the block */
    for (int o = 0; o < OC; o++) {
        const float bo = bias ? bias[o] : 0.0f;
        const float *m = M + (size_t)o * nt;
        for (int k = 0; k < 4; k++)
            col_AT(q + (size_t)k * nt, q + (size_t)(4 + k) * nt, m + (size_t)k * ldm, m + (size_t)(4 + k) * ldm,
                   m + (size_t)(8 + k) * ldm, m + (size_t)(12 + k) * ldm, (int)nt);
        for (int rr = 0; rr < nr; rr++) {
            int64_t r = r0 + rr;
            int b = (int)(r / th), ty = (int)(r % th);
            float *y = out + ((size_t)o * N + b) * HW;
            const float *qr = q + (size_t)rr * tw;
            for (int i = 0; i < 2 && 2 * ty + i < H; i++)
                row_A(y + (size_t)(2 * ty + i) * W, qr + (size_t)(4 * i) * nt, qr + (size_t)(4 * i + 1) * nt,
                      qr + (size_t)(4 * i + 2) * nt, qr + (size_t)(4 * i + 3) * nt, bo, relu, W);
        }
    }
}

void gpn_conv3x3_wino_forward(float *out, const float *in, const float *U, const float *bias, int N, int C, int H,
                              int W, int OC, int relu, float *scratch, size_t scratch_n)
{
    const int th = (H + 1) / 2, tw = (W + 1) / 2;
    const int64_t rows = (int64_t)N * th;
    const int rb = block_rows(C, OC, tw, rows);
    const size_t per = thread_floats(C, OC, W, rb, tw);
    int T = omp_in_parallel() ? 1 : omp_get_max_threads();
    if ((size_t)T > scratch_n / per) T = (int)(scratch_n / per);
    if (T < 1) T = 1;
    const int64_t blocks = (rows + rb - 1) / rb;
    int prev = gpn__blas_threads_single();
#pragma omp parallel for num_threads(T) schedule(dynamic, 1) if (T > 1 && blocks > 1)
    for (int64_t blk = 0; blk < blocks; blk++) {
        const int64_t r0 = blk * rb;
        const int nr = (int)(rows - r0 < rb ? rows - r0 : rb), n = nr * tw;
        float *V = scratch + (size_t)omp_get_thread_num() * per, *M = V + (size_t)16 * C * n;
        float *rowbuf = V + (size_t)16 * (C + OC) * (size_t)rb * tw;
        input_transform(V, in, N, C, H, W, th, tw, r0, nr, rowbuf);
        for (int xi = 0; xi < 16; xi++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, OC, n, C, 1.0f, U + (size_t)xi * OC * C, C,
                        V + (size_t)xi * C * n, n, 0.0f, M + (size_t)xi * OC * n, n);
        output_transform(out, M, bias, relu, N, OC, H, W, th, tw, r0, nr, rowbuf);
    }
    gpn__blas_threads_restore(prev);
}
