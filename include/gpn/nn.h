/*
 * nn.h - neural-network kernels (forward/backward pairs over raw float
 * pointers, llm.c style), the loss, the optimisers, and their naive
 * reference twins.
 *
 * Layouts. The optimised image kernels work on "channel-major" tensors
 * (C, N, H, W): every channel of the whole batch is one contiguous row, so a
 * 3x3 convolution of a whole (sub-)batch is one GEMM
 *   out (OC, N*H*W) = weight (OC, C*9) @ im2col(in) (C*9, N*H*W),
 * batch-norm statistics are row reductions and nothing is transposed between
 * layers. For N = 1 this is PyTorch's NCHW. The reference twins (*_ref,
 * src/nn/ref/) use PyTorch's NCHW for every N, are written as plainly as
 * possible (direct loops, double accumulators) and are the oracle the
 * optimised kernels are tested against; they in turn are tested against
 * PyTorch fixtures (tests/ref/).
 *
 * Argument order: outputs, inputs, parameters, then dimensions; gradients are
 * d<name>. Backward kernels ADD weight/bias gradients into dweight/dbias
 * (PyTorch's accumulate-then-zero_grad) and WRITE input gradients.
 * Threading: kernels use OpenMP and OpenBLAS threads internally; they are
 * re-entrant (no hidden state), and when called from inside an OpenMP
 * parallel region they run on the calling thread only.
 */
#ifndef GPN_NN_H
#define GPN_NN_H

#include <stddef.h>
#include <stdint.h>

#include "gpn/err.h"

/* ==== convolution 3x3, stride 1, padding 1 =============================== */

/* Floats of scratch ONE thread of gpn_conv3x3_* needs to process nb samples
 * per GEMM: C*9*H*W*nb (im2col) + 4 * (OC*C*9 + OC) (its share of the
 * backward pass's weight-gradient group buffers).
 * The kernels split scratch_n evenly between omp_get_max_threads() threads
 * (one thread inside a parallel region); each part must hold at least
 * gpn_conv3x3_scratch(C, H, W, OC, 1). More lets a thread batch samples into
 * wider GEMMs. */
size_t gpn_conv3x3_scratch(int C, int H, int W, int OC, int nb);

/* out (OC, N, H, W) = conv(in (C, N, H, W), weight (OC, C, 3, 3)) + bias (OC)
 * (bias may be NULL); relu: 1 applies max(0, .) in the same pass (inference
 * with BN folded in). scratch: scratch_n floats (see gpn_conv3x3_scratch). */
void gpn_conv3x3_forward(float *out, const float *in, const float *weight, const float *bias, int N, int C,
                         int H, int W, int OC, int relu, float *scratch, size_t scratch_n);

/* din (C, N, H, W) = d in (may be NULL: not computed); dweight (OC, C, 3, 3)
 * += d weight; dbias (OC) += d bias (may be NULL). dout (OC, N, H, W). */
void gpn_conv3x3_backward(float *din, float *dweight, float *dbias, const float *dout, const float *in,
                          const float *weight, int N, int C, int H, int W, int OC, float *scratch,
                          size_t scratch_n);

/* Winograd F(2x2, 3x3) forward (inference): same result as
 * gpn_conv3x3_forward up to fp32 rounding, with 2.25x fewer GEMM flops.
 * U (16, OC, C): the transformed weights, from gpn_conv3x3_wino_weights
 * (weight (OC, C, 3, 3)). scratch: scratch_n floats, split between threads
 * like gpn_conv3x3_forward's; each thread needs
 * gpn_conv3x3_wino_scratch(C, OC, N, H, W). */
void gpn_conv3x3_wino_weights(float *U, const float *weight, int OC, int C);
size_t gpn_conv3x3_wino_scratch(int C, int OC, int N, int H, int W);
void gpn_conv3x3_wino_forward(float *out, const float *in, const float *U, const float *bias, int N, int C, int H,
                              int W, int OC, int relu, float *scratch, size_t scratch_n);

/* ==== batch normalisation (per channel, over N*H*W) ======================= */

/* Training mode: x (C, M) with M = N*H*W. out = (x - mean) * rstd * gamma +
 * beta with the batch mean and biased variance; saves mean (C) and rstd (C)
 * for backward; updates running_mean / running_var (C) with momentum as
 * PyTorch (running_var uses the unbiased variance, M/(M-1)). running_* may
 * be NULL. relu: 1 applies max(0, .) in the same pass (BN + ReLU fused).
 * out may alias x only when the caller does not need x for backward. */
void gpn_batchnorm_forward_train(float *out, float *mean, float *rstd, const float *x, const float *gamma,
                                 const float *beta, float *running_mean, float *running_var, int C,
                                 int64_t M, float eps, float momentum, int relu);
/* Eval mode with running statistics. out may alias x. */
void gpn_batchnorm_forward_eval(float *out, const float *x, const float *gamma, const float *beta,
                                const float *running_mean, const float *running_var, int C, int64_t M,
                                float eps);
/* dx (C, M) written (may alias dout); dgamma, dbeta (C) accumulated. x is
 * the BN input of the forward pass; mean/rstd what forward saved. relu_out:
 * NULL for plain BN; for BN + ReLU fused, the forward output, and dout is
 * the gradient after the ReLU (masked here by relu_out > 0). */
void gpn_batchnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dout, const float *x,
                            const float *mean, const float *rstd, const float *gamma, const float *relu_out, int C,
                            int64_t M);
/* Folds eval-mode BN into the preceding conv: wout (OC, K) = w * s, bout =
 * (b - running_mean) * s + beta with s = gamma / sqrt(running_var + eps).
 * conv_b may be NULL (no conv bias). */
void gpn_batchnorm_fold(float *wout, float *bout, const float *conv_w, const float *conv_b, const float *gamma,
                        const float *beta, const float *running_mean, const float *running_var, int OC,
                        int64_t K, float eps);

/* ==== activations, pooling ================================================ */

/* out = max(0, x); n elements; out may alias x. */
void gpn_relu_forward(float *out, const float *x, size_t n);
/* dx = dout where out > 0 else 0 (out: the forward output); dx may alias dout. */
void gpn_relu_backward(float *dx, const float *dout, const float *out, size_t n);

/* Max-pool 2x2 stride 2 over P independent planes of H x W (P = C*N for
 * either layout), output floor(H/2) x floor(W/2) as PyTorch (odd last
 * row/column dropped). Ties go to the first element in row-major order. */
void gpn_maxpool2_forward(float *out, const float *x, int64_t P, int H, int W);
/* dx (P, H, W) written: each dout goes to the arg-max of its window (found
 * again from x), everything else 0. */
void gpn_maxpool2_backward(float *dx, const float *dout, const float *x, int64_t P, int H, int W);

/* Global average pool of channel-major x (C, N, HW) into out (N, C). */
void gpn_avgpool_forward(float *out, const float *x, int N, int C, int64_t HW);
/* dx (C, N, HW) = dout (N, C) / HW broadcast. */
void gpn_avgpool_backward(float *dx, const float *dout, int N, int C, int64_t HW);

/* ==== linear ============================================================== */

/* out (B, OC) = in (B, IC) @ weight^T + bias; weight (OC, IC) as nn.Linear;
 * bias may be NULL. */
void gpn_linear_forward(float *out, const float *in, const float *weight, const float *bias, int B, int IC,
                        int OC);
/* din (B, IC) written (may be NULL); dweight (OC, IC) and dbias (OC, may be
 * NULL) accumulated. */
void gpn_linear_backward(float *din, float *dweight, float *dbias, const float *dout, const float *in,
                         const float *weight, int B, int IC, int OC);

/* ==== loss ================================================================ */

/* Binary cross-entropy with logits, PyTorch's BCEWithLogitsLoss with mean
 * reduction over all B*C elements:
 *   l = -w * (pw[c] * y * log sigmoid(x) + (1 - y) * log(1 - sigmoid(x)))
 * weight (B, C) or NULL (all 1; a 0 weight drops a label from the loss, e.g.
 * presence-only records outside their target-group background), pos_weight
 * (C) or NULL (all 1). Returns the mean loss; dlogits (B, C) (may be NULL)
 * receives d loss / d logits. Numerically stable for any |x|. */
double gpn_bce_logits(float *dlogits, const float *logits, const float *targets, const float *weight,
                      const float *pos_weight, int64_t B, int64_t C);

/* ==== optimisers (PyTorch semantics) ====================================== */

/* torch.optim.SGD step t >= 1 (t == 1 initialises the momentum buffer with
 * the gradient as PyTorch does): g = grad + wd * p; buf = momentum * buf +
 * (1 - dampening) * g; step = nesterov ? g + momentum * buf : buf; p -= lr *
 * step. momentum_buf (n) may be NULL when momentum == 0. */
void gpn_sgd_step(float *params, float *momentum_buf, const float *grads, size_t n, float lr, float momentum,
                  float dampening, float weight_decay, int nesterov, int64_t t);
/* torch.optim.AdamW step t >= 1 (amsgrad off): p *= 1 - lr * wd; m, v
 * moments; p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps). */
void gpn_adamw_step(float *params, float *m, float *v, const float *grads, size_t n, float lr, float beta1,
                    float beta2, float eps, float weight_decay, int64_t t);

enum gpn_optim_kind { GPN_OPTIM_SGD = 0, GPN_OPTIM_ADAMW = 1 };

struct gpn_optim_config {
    int kind;            /* enum gpn_optim_kind */
    float lr;            /* base learning rate (a schedule passes its own to step) */
    float momentum;      /* SGD */
    float dampening;     /* SGD */
    int nesterov;        /* SGD */
    float weight_decay;  /* SGD: L2 added to the gradient; AdamW: decoupled */
    float beta1, beta2;  /* AdamW */
    float eps;           /* AdamW */
};

/* Defaults: SGD lr 0.01 momentum 0.9 wd 0; AdamW lr 1e-3 betas (0.9, 0.999)
 * eps 1e-8 wd 0.01 (PyTorch's AdamW defaults). */
void gpn_optim_config_default(struct gpn_optim_config *cfg, int kind);

/* An optimiser over a flat vector of n parameters, holding its state in one
 * block (SGD: momentum buffer; AdamW: m and v). Owned by the caller. */
struct gpn_optim;
int gpn_optim_create(const struct gpn_optim_config *cfg, size_t n, struct gpn_optim **out, struct gpn_err *err);
void gpn_optim_destroy(struct gpn_optim *o); /* NULL is a no-op */
/* One step with learning rate lr (pass cfg.lr for a constant rate). */
void gpn_optim_step(struct gpn_optim *o, float *params, const float *grads, float lr);
const struct gpn_optim_config *gpn_optim_get_config(const struct gpn_optim *o);
/* State for saving/restoring: n parameters, steps taken, and the n_state
 * state vectors (1 for SGD, 2 for AdamW), each n floats, owned by o. */
size_t gpn_optim_size(const struct gpn_optim *o);
int64_t gpn_optim_steps(const struct gpn_optim *o);
void gpn_optim_set_steps(struct gpn_optim *o, int64_t t);
int gpn_optim_state_count(const struct gpn_optim *o);
float *gpn_optim_state(struct gpn_optim *o, int i);

/* ==== reference twins (NCHW, naive loops, double accumulators) ============= */

void gpn_conv3x3_forward_ref(float *out, const float *in, const float *weight, const float *bias, int N, int C,
                             int H, int W, int OC);
void gpn_conv3x3_backward_ref(float *din, float *dweight, float *dbias, const float *dout, const float *in,
                              const float *weight, int N, int C, int H, int W, int OC);
void gpn_batchnorm_forward_train_ref(float *out, float *mean, float *rstd, const float *x, const float *gamma,
                                     const float *beta, float *running_mean, float *running_var, int N, int C,
                                     int64_t HW, float eps, float momentum);
void gpn_batchnorm_forward_eval_ref(float *out, const float *x, const float *gamma, const float *beta,
                                    const float *running_mean, const float *running_var, int N, int C,
                                    int64_t HW, float eps);
void gpn_batchnorm_backward_ref(float *dx, float *dgamma, float *dbeta, const float *dout, const float *x,
                                const float *gamma, int N, int C, int64_t HW, float eps);
void gpn_relu_forward_ref(float *out, const float *x, size_t n);
void gpn_relu_backward_ref(float *dx, const float *dout, const float *x, size_t n);
void gpn_maxpool2_forward_ref(float *out, const float *x, int64_t P, int H, int W);
void gpn_maxpool2_backward_ref(float *dx, const float *dout, const float *x, int64_t P, int H, int W);
/* x (N, C, HW) -> out (N, C) */
void gpn_avgpool_forward_ref(float *out, const float *x, int N, int C, int64_t HW);
void gpn_avgpool_backward_ref(float *dx, const float *dout, int N, int C, int64_t HW);
void gpn_linear_forward_ref(float *out, const float *in, const float *weight, const float *bias, int B, int IC,
                            int OC);
void gpn_linear_backward_ref(float *din, float *dweight, float *dbias, const float *dout, const float *in,
                             const float *weight, int B, int IC, int OC);
double gpn_bce_logits_ref(float *dlogits, const float *logits, const float *targets, const float *weight,
                          const float *pos_weight, int64_t B, int64_t C);
void gpn_sgd_step_ref(float *params, float *momentum_buf, const float *grads, size_t n, float lr, float momentum,
                      float dampening, float weight_decay, int nesterov, int64_t t);
void gpn_adamw_step_ref(float *params, float *m, float *v, const float *grads, size_t n, float lr, float beta1,
                        float beta2, float eps, float weight_decay, int64_t t);

#endif
