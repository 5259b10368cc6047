/*
 * gemm.c - OpenMP-threaded sgemm over single-threaded OpenBLAS calls (see
 * nn_internal.h for why).
 *
 * Split rule: the output C (M x N) is cut into about 4 slabs per thread along
 * N when N >= M (column slabs, multiples of 16 floats so each thread's
 * stores stay on its own cache lines), else along M, scheduled dynamically. op(A)/op(B) offsets follow from the
 * row-major layouts: a column slab [n0, n1) of C needs columns n0.. of op(B),
 * i.e. B + n0 (no transpose) or B + n0 * ldb (transposed); a row slab needs
 * rows m0.. of op(A), i.e. A + m0 * lda or A + m0.
 */
#include <cblas.h>
#include <omp.h>

#include "nn_internal.h"

int gpn__blas_threads_single(void)
{
    int prev = openblas_get_num_threads();
    if (prev != 1) openblas_set_num_threads(1);
    return prev;
}

void gpn__blas_threads_restore(int prev)
{
    if (prev != 1 && prev > 0) openblas_set_num_threads(prev);
}

void gpn__sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                int ldb, float beta, float *C, int ldc)
{
    const enum CBLAS_TRANSPOSE ta = transA ? CblasTrans : CblasNoTrans, tb = transB ? CblasTrans : CblasNoTrans;
    if (M <= 0 || N <= 0) return;
    int T = omp_in_parallel() ? 1 : omp_get_max_threads();
    double work = (double)M * N * (K > 0 ? K : 1);
    if (work < 2e5) T = 1;
    int prev = gpn__blas_threads_single();
    if (T <= 1) {
        cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        gpn__blas_threads_restore(prev);
        return;
    }
    /* Slabs: 4 per thread, handed out dynamically, so a thread that loses
     * its core for a while (a loaded machine) does not hold the others. */
    const int by_cols = N >= M;
    const int len = by_cols ? N : M;
    int slabs = 4 * T, chunk = (len + slabs - 1) / slabs;
    if (by_cols) chunk = (chunk + 15) / 16 * 16;
    if (chunk < 16) chunk = 16;
    slabs = (len + chunk - 1) / chunk;
#pragma omp parallel for num_threads(T) schedule(dynamic, 1)
    for (int sb = 0; sb < slabs; sb++) {
        int a0 = sb * chunk, a1 = a0 + chunk < len ? a0 + chunk : len;
        if (by_cols)
            cblas_sgemm(CblasRowMajor, ta, tb, M, a1 - a0, K, alpha, A, lda, transB ? B + (size_t)a0 * ldb : B + a0, ldb,
                        beta, C + a0, ldc);
        else
            cblas_sgemm(CblasRowMajor, ta, tb, a1 - a0, N, K, alpha, transA ? A + a0 : A + (size_t)a0 * lda, lda, B, ldb,
                        beta, C + (size_t)a0 * ldc, ldc);
    }
    gpn__blas_threads_restore(prev);
}
