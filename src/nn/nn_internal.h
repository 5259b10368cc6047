/*
 * nn_internal.h - helpers shared by the kernels of src/nn (not public).
 *
 * gpn__sgemm: row-major C = alpha * op(A) @ op(B) + beta * C on OpenBLAS,
 * threaded by OpenMP instead of by OpenBLAS. Why: the model mixes GEMMs with
 * OpenMP elementwise passes; when OpenBLAS runs its own thread pool next to
 * the OpenMP team, the idle team spins while OpenBLAS works (and vice versa)
 * and on a 2-core machine the two pools fight for the cores (measured: ~40%
 * of training time in spin-waits). So every GEMM here is split into one
 * block of columns (or rows, when the matrix is tall) per OpenMP thread, each
 * a single-threaded OpenBLAS call. Inside an enclosing parallel region the
 * call runs as one single-threaded GEMM on the calling thread. OpenBLAS's
 * thread count is set to 1 for the duration and restored afterwards.
 */
#ifndef GPN_NN_INTERNAL_H
#define GPN_NN_INTERNAL_H

void gpn__sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                int ldb, float beta, float *C, int ldc);

/* Sets OpenBLAS to one thread and returns the previous count (restore it
 * with gpn__blas_threads_restore). */
int gpn__blas_threads_single(void);
void gpn__blas_threads_restore(int prev);

/* Convolutions: 1 (default) uses Winograd F(2x2, 3x3) on the layers that
 * qualify (inference forward; training forward and input gradient), 0
 * im2col everywhere (for benchmarks and tests that compare the two). */
struct gpn_sdm;
void gpn__sdm_set_winograd(struct gpn_sdm *m, int on);

#endif
