/*
 * ops_act.c - ReLU forward and backward, elementwise over flat arrays.
 *
 * The backward pass masks with the forward OUTPUT (out > 0 exactly when
 * x > 0), so the training path keeps one activation per layer instead of
 * two. Loops are simple enough for the compiler to vectorise.
 */
#include "gpn/nn.h"

void gpn_relu_forward(float *out, const float *x, size_t n)
{
#pragma omp parallel for schedule(dynamic, 16384) if (n > 65536)
    for (size_t i = 0; i < n; i++) out[i] = x[i] > 0 ? x[i] : 0.0f;
}

void gpn_relu_backward(float *dx, const float *dout, const float *out, size_t n)
{
#pragma omp parallel for schedule(dynamic, 16384) if (n > 65536)
    for (size_t i = 0; i < n; i++) dx[i] = out[i] > 0 ? dout[i] : 0.0f;
}
