/*
 * ops_conv.c - 3x3 convolution (stride 1, padding 1) forward and backward
 * via im2col + OpenBLAS sgemm, on channel-major tensors.
 *
 * Why channel-major (C, N, H, W): the im2col matrix of a run of nb samples is
 * (C*9, nb*H*W) and the output rows of those samples are contiguous runs of
 * the (OC, N*H*W) output, so one GEMM covers nb samples (leading dimension
 * N*H*W) and no transpose is needed before or after; small feature maps
 * (Landsat 4x21, climate 19x12) still give GEMMs with thousands of columns.
 *
 *   forward:  out[:, chunk] = weight (OC, K) @ col (K, nb*HW), K = C*9
 *   backward: dweight += dout[:, chunk] @ col^T
 *             dcol     = weight^T @ dout[:, chunk]   (reusing col's memory)
 *             din      = col2im(dcol)
 * im2col row r = c*9 + ky*3 + kx holds in[c, b, y+ky-1, x+kx-1] (0 outside).
 *
 * Threading: the batch is cut into chunks of nb samples and the chunks are
 * handed to the OpenMP threads dynamically; each thread runs im2col, a
 * single-threaded GEMM and the epilogue (bias, ReLU) on its chunk while the
 * chunk is still in cache. The backward pass deals the chunks into fixed
 * groups with one weight-gradient buffer each, and sums the buffers in group
 * order at the end, so the result is the same whichever thread ran which
 * group (reproducible training). One parallel region per call, no OpenBLAS thread pool next to the
 * OpenMP team (see nn_internal.h), and a thread that loses its core on a
 * busy machine only delays the chunks it holds. Called from inside a
 * parallel region, the kernel runs serially on the calling thread.
 *
 * Scratch: gpn_conv3x3_scratch() gives the floats one thread needs for nb
 * samples: an im2col chunk plus its share (GROUPS_PER_THREAD buffers) of the
 * backward pass's group gradients. The forward pass uses all of it for
 * im2col.
 */
#include "gpn/nn.h"

#include <cblas.h>
#include <omp.h>
#include <string.h>

#include "nn_internal.h"

/* Weight-gradient groups per thread in the backward pass (see there). */
#define GROUPS_PER_THREAD 4

size_t gpn_conv3x3_scratch(int C, int H, int W, int OC, int nb)
{
    return (size_t)C * 9 * (size_t)H * (size_t)W * (size_t)(nb < 1 ? 1 : nb) +
           (size_t)GROUPS_PER_THREAD * ((size_t)OC * C * 9 + (size_t)OC);
}

/* Threads to use: the team size, but no more than the scratch can serve
 * (each thread needs `need` floats). */
static int team_size(size_t scratch_n, size_t need)
{
    int T = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (need > 0 && scratch_n / need < (size_t)T) T = (int)(scratch_n / need);
    return T < 1 ? 1 : T;
}

/* ==== im2col / col2im ===================================================== */

/* col (C*9, nb*HW) from samples b0..b0+nb-1 of in (C, N, H, W). */
static void im2col(float *col, const float *in, int N, int C, int H, int W, int b0, int nb)
{
    const size_t HW = (size_t)H * W, ncol = (size_t)nb * HW;
    for (int r = 0; r < C * 9; r++) {
        int c = r / 9, ky = (r % 9) / 3, kx = r % 3;
        float *dst = col + (size_t)r * ncol;
        for (int j = 0; j < nb; j++) {
            const float *src = in + ((size_t)c * N + b0 + j) * HW;
            float *d = dst + (size_t)j * HW;
            for (int y = 0; y < H; y++) {
                int iy = y + ky - 1;
                float *drow = d + (size_t)y * W;
                if (iy < 0 || iy >= H) {
                    memset(drow, 0, sizeof(float) * (size_t)W);
                    continue;
                }
                const float *srow = src + (size_t)iy * W;
                if (kx == 1) {
                    memcpy(drow, srow, sizeof(float) * (size_t)W);
                } else if (kx == 0) { /* drow[x] = srow[x-1] */
                    drow[0] = 0;
                    memcpy(drow + 1, srow, sizeof(float) * (size_t)(W - 1));
                } else { /* drow[x] = srow[x+1] */
                    memcpy(drow, srow + 1, sizeof(float) * (size_t)(W - 1));
                    drow[W - 1] = 0;
                }
            }
        }
    }
}

/* din samples b0.. (C, N, H, W) = col2im(col (C*9, nb*HW)), written. */
static void col2im(float *din, const float *col, int N, int C, int H, int W, int b0, int nb)
{
    const size_t HW = (size_t)H * W, ncol = (size_t)nb * HW;
    for (int c = 0; c < C; c++) {
        for (int j = 0; j < nb; j++) {
            float *d = din + ((size_t)c * N + b0 + j) * HW;
            /* the centre tap covers every pixel: assign it, then add the other eight */
            memcpy(d, col + ((size_t)c * 9 + 4) * ncol + (size_t)j * HW, sizeof(float) * HW);
            for (int k = 0; k < 9; k++) {
                if (k == 4) continue;
                int ky = k / 3, kx = k % 3;
                const float *s = col + ((size_t)c * 9 + k) * ncol + (size_t)j * HW;
                /* col[y, x] belongs to in[y+ky-1, x+kx-1] */
                for (int y = 0; y < H; y++) {
                    int iy = y + ky - 1;
                    if (iy < 0 || iy >= H) continue;
                    const float *srow = s + (size_t)y * W;
                    float *drow = d + (size_t)iy * W;
                    if (kx == 1) {
                        for (int x = 0; x < W; x++) drow[x] += srow[x];
                    } else if (kx == 0) {
                        for (int x = 1; x < W; x++) drow[x - 1] += srow[x];
                    } else {
                        for (int x = 0; x < W - 1; x++) drow[x + 1] += srow[x];
                    }
                }
            }
        }
    }
}

/* ==== forward ============================================================= */

/* Samples per chunk for a per-thread col space of `space` floats: as many as
 * fit, but no more than needed to give every thread two chunks. */
static int chunk_samples(int N, int T, size_t col1, size_t space)
{
    size_t nb = space / col1;
    size_t fair = ((size_t)N + 2 * (size_t)T - 1) / (2 * (size_t)T);
    if (T > 1 && nb > fair) nb = fair;
    if (nb < 1) nb = 1;
    if (nb > (size_t)N) nb = (size_t)N;
    return (int)nb;
}

void gpn_conv3x3_forward(float *out, const float *in, const float *weight, const float *bias, int N, int C,
                         int H, int W, int OC, int relu, float *scratch, size_t scratch_n)
{
    const int K = C * 9, T = team_size(scratch_n, (size_t)K * H * W);
    const size_t HW = (size_t)H * W, ld = (size_t)N * HW, per = scratch_n / (size_t)T;
    const int nb = chunk_samples(N, T, (size_t)K * HW, per);
    const int chunks = (N + nb - 1) / nb;
    int prev = gpn__blas_threads_single();
#pragma omp parallel for num_threads(T) schedule(dynamic, 1) if (T > 1 && chunks > 1)
    for (int ch = 0; ch < chunks; ch++) {
        const int b0 = ch * nb, n = N - b0 < nb ? N - b0 : nb;
        const int ncol = (int)((size_t)n * HW);
        float *col = scratch + (size_t)omp_get_thread_num() * per;
        im2col(col, in, N, C, H, W, b0, n);
        float *o = out + (size_t)b0 * HW;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, OC, ncol, K, 1.0f, weight, K, col, ncol, 0.0f, o,
                    (int)ld);
        if (!bias && !relu) continue;
        for (int oc = 0; oc < OC; oc++) {
            float *row = o + (size_t)oc * ld, bo = bias ? bias[oc] : 0.0f;
            if (relu)
                for (int i = 0; i < ncol; i++) {
                    float v = row[i] + bo;
                    row[i] = v > 0 ? v : 0.0f;
                }
            else
                for (int i = 0; i < ncol; i++) row[i] += bo;
        }
    }
    gpn__blas_threads_restore(prev);
}

/* ==== backward ============================================================ */

void gpn_conv3x3_backward(float *din, float *dweight, float *dbias, const float *dout, const float *in,
                          const float *weight, int N, int C, int H, int W, int OC, float *scratch,
                          size_t scratch_n)
{
    const int K = C * 9, T = team_size(scratch_n, gpn_conv3x3_scratch(C, H, W, OC, 1));
    const size_t HW = (size_t)H * W, ld = (size_t)N * HW;
    const size_t wsz = (size_t)OC * K, head = wsz + (size_t)OC, col1 = (size_t)K * HW;
    /* Scratch: G group gradient buffers, then one im2col buffer per thread. */
    const int G = GROUPS_PER_THREAD * T;
    const size_t per = (scratch_n - (size_t)G * head) / (size_t)T;
    int nb = chunk_samples(N, G / 2 > 0 ? G / 2 : 1, col1, per);
    const int chunks = (N + nb - 1) / nb;
    const int groups = chunks < G ? chunks : G;
    float *gbuf = scratch, *cols = scratch + (size_t)G * head;
    int prev = gpn__blas_threads_single();
    /* Chunks are dealt into `groups` fixed runs, each with its own gradient
     * buffer, processed in order by whichever thread takes the group
     * (dynamic: a thread that loses its core only delays its current group)
     * and summed in group order at the end: the result does not depend on
     * which thread ran what, so training is reproducible. */
#pragma omp parallel num_threads(T) if (T > 1 && groups > 1)
    {
        float *col = cols + (size_t)omp_get_thread_num() * per;
#pragma omp for schedule(dynamic, 1)
        for (int gi = 0; gi < groups; gi++) {
            float *dw = gbuf + (size_t)gi * head, *db = dw + wsz;
            memset(dw, 0, head * sizeof(float));
            const int c0 = (int)((int64_t)chunks * gi / groups), c1 = (int)((int64_t)chunks * (gi + 1) / groups);
            for (int ch = c0; ch < c1; ch++) {
                const int b0 = ch * nb, n = N - b0 < nb ? N - b0 : nb;
                const int ncol = (int)((size_t)n * HW);
                const float *g = dout + (size_t)b0 * HW;
                if (dbias)
                    for (int oc = 0; oc < OC; oc++) {
                        const float *row = g + (size_t)oc * ld;
                        float sum = 0;
                        for (int i = 0; i < ncol; i++) sum += row[i];
                        db[oc] += sum;
                    }
                im2col(col, in, N, C, H, W, b0, n);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, OC, K, ncol, 1.0f, g, (int)ld, col, ncol, 1.0f, dw,
                            K);
                if (!din) continue;
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, ncol, OC, 1.0f, weight, K, g, (int)ld, 0.0f,
                            col, ncol);
                col2im(din, col, N, C, H, W, b0, n);
            }
        }
        /* sum the group gradients in group order (implicit barrier above) */
#pragma omp for schedule(dynamic, 4096)
        for (size_t i = 0; i < head; i++) {
            float sum = 0;
            for (int gi = 0; gi < groups; gi++) sum += gbuf[(size_t)gi * head + i];
            if (i < wsz) dweight[i] += sum;
            else if (dbias) dbias[i - wsz] += sum;
        }
    }
    gpn__blas_threads_restore(prev);
}
