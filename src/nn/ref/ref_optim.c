/*
 * ref_optim.c - naive reference BCE-with-logits loss and optimiser steps,
 * the oracle of ops_loss.c / optim.c.
 *
 * Written straight from PyTorch's documented formulas (torch.nn.
 * BCEWithLogitsLoss, torch.optim.SGD, torch.optim.AdamW with amsgrad off),
 * in double, one element at a time.
 */
#include "gpn/nn.h"

#include <math.h>

double gpn_bce_logits_ref(float *dlogits, const float *logits, const float *targets, const float *weight,
                          const float *pos_weight, int64_t B, int64_t C)
{
    double total = 0, n = (double)B * (double)C;
    for (int64_t b = 0; b < B; b++)
        for (int64_t c = 0; c < C; c++) {
            size_t i = (size_t)(b * C + c);
            double x = logits[i], y = targets[i];
            double w = weight ? weight[i] : 1.0, pw = pos_weight ? pos_weight[c] : 1.0;
            /* log sigmoid(x) = -softplus(-x), log(1 - sigmoid(x)) = -softplus(x) */
            double sp_neg = x < 0 ? -x + log1p(exp(x)) : log1p(exp(-x));
            double sp_pos = x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
            total += w * (pw * y * sp_neg + (1 - y) * sp_pos);
            if (dlogits) {
                double sig = 1.0 / (1.0 + exp(-x));
                /* d/dx: pw*y*(sig-1) + (1-y)*sig */
                dlogits[i] = (float)(w * (pw * y * (sig - 1.0) + (1.0 - y) * sig) / n);
            }
        }
    return total / n;
}

void gpn_sgd_step_ref(float *params, float *momentum_buf, const float *grads, size_t n, float lr, float momentum,
                      float dampening, float weight_decay, int nesterov, int64_t t)
{
    for (size_t i = 0; i < n; i++) {
        double g = (double)grads[i] + (double)weight_decay * params[i];
        if (momentum != 0) {
            double buf = t <= 1 ? g : (double)momentum * momentum_buf[i] + (1.0 - dampening) * g;
            momentum_buf[i] = (float)buf;
            g = nesterov ? g + (double)momentum * buf : buf;
        }
        params[i] = (float)(params[i] - (double)lr * g);
    }
}

void gpn_adamw_step_ref(float *params, float *m, float *v, const float *grads, size_t n, float lr, float beta1,
                        float beta2, float eps, float weight_decay, int64_t t)
{
    double bc1 = 1.0 - pow(beta1, (double)t), bc2 = 1.0 - pow(beta2, (double)t);
    for (size_t i = 0; i < n; i++) {
        double p = params[i] * (1.0 - (double)lr * weight_decay);
        double g = grads[i];
        double mi = (double)beta1 * m[i] + (1.0 - beta1) * g;
        double vi = (double)beta2 * v[i] + (1.0 - beta2) * g * g;
        m[i] = (float)mi;
        v[i] = (float)vi;
        double denom = sqrt(vi) / sqrt(bc2) + eps;
        params[i] = (float)(p - (double)lr / bc1 * mi / denom);
    }
}
