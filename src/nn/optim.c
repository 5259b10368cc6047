/*
 * optim.c - SGD (momentum, dampening, Nesterov, L2 weight decay) and AdamW,
 * with PyTorch's exact update order, over one flat parameter vector.
 *
 * The optimiser object holds its state in one block: SGD the momentum buffer
 * (n floats), AdamW the first and second moments (2n floats), plus the step
 * counter t (PyTorch's state['step']), so a checkpoint can save and restore
 * it for --resume. The step kernels are elementwise and run in parallel.
 */
#include "gpn/nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ==== step kernels ======================================================== */

void gpn_sgd_step(float *params, float *momentum_buf, const float *grads, size_t n, float lr, float momentum,
                  float dampening, float weight_decay, int nesterov, int64_t t)
{
    const int first = t <= 1;
#pragma omp parallel for schedule(dynamic, 16384) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        float g = grads[i];
        if (weight_decay != 0) g += weight_decay * params[i];
        if (momentum != 0) {
            float buf = first ? g : momentum * momentum_buf[i] + (1.0f - dampening) * g;
            momentum_buf[i] = buf;
            g = nesterov ? g + momentum * buf : buf;
        }
        params[i] -= lr * g;
    }
}

void gpn_adamw_step(float *params, float *m, float *v, const float *grads, size_t n, float lr, float beta1,
                    float beta2, float eps, float weight_decay, int64_t t)
{
    const float bc1 = (float)(1.0 - pow(beta1, (double)t));
    const float bc2_sqrt = (float)sqrt(1.0 - pow(beta2, (double)t));
    const float step = lr / bc1, decay = 1.0f - lr * weight_decay;
#pragma omp parallel for schedule(dynamic, 16384) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        float g = grads[i];
        float mi = beta1 * m[i] + (1.0f - beta1) * g;
        float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        params[i] = params[i] * decay - step * mi / denom;
    }
}

/* ==== optimiser object ==================================================== */

struct gpn_optim {
    struct gpn_optim_config cfg;
    size_t n;
    int64_t t;        /* steps taken */
    int n_state;      /* 1 (SGD) or 2 (AdamW) */
    float *state;     /* (n_state, n) */
};

void gpn_optim_config_default(struct gpn_optim_config *cfg, int kind)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->kind = kind;
    cfg->beta1 = 0.9f;
    cfg->beta2 = 0.999f;
    cfg->eps = 1e-8f;
    if (kind == GPN_OPTIM_ADAMW) {
        cfg->lr = 1e-3f;
        cfg->weight_decay = 0.01f;
    } else {
        cfg->lr = 0.01f;
        cfg->momentum = 0.9f;
    }
}

int gpn_optim_create(const struct gpn_optim_config *cfg, size_t n, struct gpn_optim **out, struct gpn_err *err)
{
    *out = NULL;
    if (cfg->kind != GPN_OPTIM_SGD && cfg->kind != GPN_OPTIM_ADAMW)
        return gpn_err_set(err, GPN_EINVAL, "gpn_optim_create: unknown optimiser kind %d", cfg->kind);
    if (!(cfg->lr >= 0) || !(cfg->weight_decay >= 0) || !(cfg->momentum >= 0) || cfg->momentum >= 1 ||
        !(cfg->beta1 >= 0 && cfg->beta1 < 1) || !(cfg->beta2 >= 0 && cfg->beta2 < 1) || !(cfg->eps >= 0))
        return gpn_err_set(err, GPN_ERANGE, "gpn_optim_create: hyper-parameter out of range");
    if (cfg->nesterov && (cfg->momentum <= 0 || cfg->dampening != 0))
        return gpn_err_set(err, GPN_EINVAL, "gpn_optim_create: Nesterov needs momentum > 0 and dampening 0");
    struct gpn_optim *o = calloc(1, sizeof *o);
    if (!o) return gpn_err_set(err, GPN_ENOMEM, "gpn_optim_create: out of memory");
    o->cfg = *cfg;
    o->n = n;
    o->n_state = cfg->kind == GPN_OPTIM_ADAMW ? 2 : 1;
    o->state = calloc((size_t)o->n_state * (n ? n : 1), sizeof(float));
    if (!o->state) {
        free(o);
        return gpn_err_set(err, GPN_ENOMEM, "gpn_optim_create: out of memory for %zu parameters", n);
    }
    *out = o;
    return 0;
}

void gpn_optim_destroy(struct gpn_optim *o)
{
    if (!o) return;
    free(o->state);
    free(o);
}

void gpn_optim_step(struct gpn_optim *o, float *params, const float *grads, float lr)
{
    o->t++;
    const struct gpn_optim_config *c = &o->cfg;
    if (c->kind == GPN_OPTIM_ADAMW)
        gpn_adamw_step(params, o->state, o->state + o->n, grads, o->n, lr, c->beta1, c->beta2, c->eps,
                       c->weight_decay, o->t);
    else
        gpn_sgd_step(params, c->momentum != 0 ? o->state : NULL, grads, o->n, lr, c->momentum, c->dampening,
                     c->weight_decay, c->nesterov, o->t);
}

const struct gpn_optim_config *gpn_optim_get_config(const struct gpn_optim *o) { return &o->cfg; }
size_t gpn_optim_size(const struct gpn_optim *o) { return o->n; }
int64_t gpn_optim_steps(const struct gpn_optim *o) { return o->t; }
void gpn_optim_set_steps(struct gpn_optim *o, int64_t t) { o->t = t < 0 ? 0 : t; }
int gpn_optim_state_count(const struct gpn_optim *o) { return o->n_state; }

float *gpn_optim_state(struct gpn_optim *o, int i)
{
    if (i < 0 || i >= o->n_state) return NULL;
    return o->state + (size_t)i * o->n;
}
