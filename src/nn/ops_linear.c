/*
 * ops_linear.c - fully connected layer (nn.Linear layout) on OpenBLAS sgemm.
 *
 *   out (B, OC)     = in (B, IC) @ weight^T (IC, OC) + bias
 *   dweight (OC,IC) += dout^T (OC, B) @ in (B, IC)
 *   din (B, IC)     = dout (B, OC) @ weight (OC, IC)
 */
#include "gpn/nn.h"

#include "nn_internal.h"

void gpn_linear_forward(float *out, const float *in, const float *weight, const float *bias, int B, int IC,
                        int OC)
{
    if (bias) {
        for (int b = 0; b < B; b++)
            for (int o = 0; o < OC; o++) out[(size_t)b * OC + o] = bias[o];
    }
    gpn__sgemm(0, 1, B, OC, IC, 1.0f, in, IC, weight, IC, bias ? 1.0f : 0.0f,
                out, OC);
}

void gpn_linear_backward(float *din, float *dweight, float *dbias, const float *dout, const float *in,
                         const float *weight, int B, int IC, int OC)
{
    if (dbias)
        for (int b = 0; b < B; b++)
            for (int o = 0; o < OC; o++) dbias[o] += dout[(size_t)b * OC + o];
    gpn__sgemm(1, 0, OC, IC, B, 1.0f, dout, OC, in, IC, 1.0f, dweight, IC);
    if (din)
        gpn__sgemm(0, 0, B, IC, OC, 1.0f, dout, OC, weight, IC, 0.0f, din, IC);
}
