/*
 * ops_loss.c - binary cross-entropy with logits (PyTorch BCEWithLogitsLoss,
 * mean reduction), with optional per-element weights and per-class positive
 * weights.
 *
 * Stable form (as PyTorch): with lw = 1 + (pw - 1) * y,
 *   l = (1 - y) * x + lw * (log1p(exp(-|x|)) + max(-x, 0))
 *   dl/dx = (1 - y) - lw * sigmoid(-x)
 * times the element weight, divided by B*C for the mean. The loss sum is
 * accumulated in double.
 */
#include "gpn/nn.h"

#include <math.h>

double gpn_bce_logits(float *dlogits, const float *logits, const float *targets, const float *weight,
                      const float *pos_weight, int64_t B, int64_t C)
{
    const double inv_n = 1.0 / ((double)B * (double)C);
    double total = 0;
#pragma omp parallel for schedule(static) reduction(+ : total) if (B * C > 65536)
    for (int64_t b = 0; b < B; b++) {
        double row = 0;
        for (int64_t c = 0; c < C; c++) {
            size_t i = (size_t)(b * C + c);
            float x = logits[i], y = targets[i];
            float w = weight ? weight[i] : 1.0f, pw = pos_weight ? pos_weight[c] : 1.0f;
            float lw = 1.0f + (pw - 1.0f) * y;
            float e = expf(-fabsf(x));
            float sp = log1pf(e) + (x < 0 ? -x : 0.0f); /* softplus(-x) */
            row += (double)(w * ((1.0f - y) * x + lw * sp));
            if (dlogits) {
                float sig_neg = x >= 0 ? e / (1.0f + e) : 1.0f / (1.0f + e); /* sigmoid(-x) */
                dlogits[i] = (float)(w * ((1.0f - y) - lw * sig_neg) * inv_n);
            }
        }
        total += row;
    }
    return total * inv_n;
}
