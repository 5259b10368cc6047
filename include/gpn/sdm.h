/*
 * sdm.h - the Deep-SDM: a multimodal CNN (one "ResNet-6" encoder per input
 * modality, embeddings concatenated, one linear layer, a sigmoid per species).
 *
 * Architecture (GeoPlant's ResNet-6 ensemble, REFERENCE.md section 2.1), per
 * modality m with n_layers conv layers (default 4):
 *   x -> [conv3x3 pad1 (C_in->w1), BN, ReLU, (maxpool 2x2 if pool[0])]
 *     -> [conv3x3 (w1->w2), BN, ReLU, (maxpool if pool[1])] ... -> global
 *   average pool -> embedding (w_last)
 * logits = concat(emb_sentinel, emb_landsat, emb_climate) @ W^T + b, with
 * W (n_species, E) in PyTorch's nn.Linear layout and E = n_modalities *
 * w_last. Probabilities are sigmoid(logits); the model returns logits.
 *
 * Inputs (caller's buffers, C order, as in include/gpn/dataset.h):
 *   sentinel uint8   (B, s2_c, s2_h, s2_w)  scaled to [-1, 1]: (x/255-0.5)/0.5
 *   landsat  float32 (B, ls_c, ls_h, ls_w)  (6, 4, 21) bands x quarters x years
 *   climate  float32 (B, cl_c, cl_h, cl_w)  (4, 19, 12) variables x years x months
 * Landsat and climate are standardised per channel, (x - mean[c]) / std[c],
 * with statistics stored in the model file (gpn_sdm_set_norm; the trainer
 * computes them with gpn_sdm_norm_compute). Non-finite input values (NaN
 * gaps in Landsat series) are replaced by the channel mean, i.e. 0 after
 * standardisation.
 *
 * Memory (llm.c style): one block of parameters, one of gradients, one of
 * activations and one of scratch buffers, all sized from the config and
 * max_batch at creation; forward/backward never allocate. Parameters are laid
 * out in a fixed order (gpn_sdm_param_info), which the optimiser (nn.h
 * struct gpn_optim) sees as one flat vector.
 *
 * Threading: a model object is used by one thread at a time; inside, the
 * kernels use OpenMP / OpenBLAS threads. Use one model (gpn_sdm_clone) per
 * worker when several workers predict at once.
 *
 * File: gpn_sdm_save writes the project's model format (ckpt.h, documented in
 * docs/formats.md "Model files"): the config JSON, parameters, BN running
 * statistics, normalisation statistics, species ids, optional trainer
 * metadata JSON and optional optimiser state (for --resume).
 */
#ifndef GPN_SDM_H
#define GPN_SDM_H

#include <stddef.h>
#include <stdint.h>

#include "gpn/err.h"
#include "gpn/nn.h"

#define GPN_SDM_MAX_LAYERS 8
#define GPN_SDM_FILE_KIND "gpn-sdm"

/* Modalities, in the order their embeddings are concatenated. */
enum gpn_sdm_modality {
    GPN_SDM_SENTINEL = 0,
    GPN_SDM_LANDSAT = 1,
    GPN_SDM_CLIMATE = 2,
    GPN_SDM_N_MODALITIES = 3,
};

struct gpn_sdm_config {
    char name[32];                    /* "demo", "geoplant", or a user's name */
    int n_species;                    /* outputs */
    int n_layers;                     /* conv layers per encoder, 1..GPN_SDM_MAX_LAYERS */
    int width[GPN_SDM_MAX_LAYERS];    /* output channels of each conv layer */
    int pool[GPN_SDM_MAX_LAYERS];     /* 1: max-pool 2x2 after this layer */
    int use[GPN_SDM_N_MODALITIES];    /* 1 when the modality is an input */
    int in_c[GPN_SDM_N_MODALITIES];   /* input channels of each modality */
    int in_h[GPN_SDM_N_MODALITIES];   /* input height */
    int in_w[GPN_SDM_N_MODALITIES];   /* input width */
    float bn_eps;                     /* 1e-5 as PyTorch */
    float bn_momentum;                /* 0.1 as PyTorch */
};

/* Named configurations:
 *   "demo"       widths 16/32/64/128, pools after layers 2 and 4, S2 4x32x32,
 *                Landsat 6x4x21, climate 4x19x12, n_species 0 (the trainer
 *                sets it from the dataset)
 *   "geoplant"   widths 64/128/256/512, S2 4x128x128, 11255 species
 *   "geoplant64" as geoplant with S2 4x64x64
 * Returns 0, or GPN_ENOTFOUND for an unknown name. */
int gpn_sdm_config_named(const char *name, struct gpn_sdm_config *cfg, struct gpn_err *err);

/* Parses a config JSON object (the format gpn_sdm_config_to_json writes):
 *   {"name":"demo","n_species":200,"widths":[16,32,64,128],"pool":[0,1,0,1],
 *    "modalities":["sentinel","landsat","climate"],"sentinel":[4,32,32],
 *    "landsat":[6,4,21],"climate":[4,19,12],"bn_eps":1e-5,"bn_momentum":0.1}
 * Keys left out keep the values of the "base" named config ("demo" when
 * "base" is absent); "widths" without "pool" pools after every second layer.
 * Unknown keys are an error (GPN_EFORMAT) except "train", an object left to
 * the trainer. The result is validated (gpn_sdm_config_validate) except for
 * n_species, which may still be 0. */
int gpn_sdm_config_from_json(const char *json, struct gpn_sdm_config *cfg, struct gpn_err *err);

/* Writes cfg as a JSON object into a malloc'ed NUL-terminated string
 * (caller frees). Returns NULL when out of memory. */
char *gpn_sdm_config_to_json(const struct gpn_sdm_config *cfg);

/* Checks ranges and that every used modality's feature map stays >= 1x1
 * through the pools. require_species: n_species must be >= 1. */
int gpn_sdm_config_validate(const struct gpn_sdm_config *cfg, int require_species, struct gpn_err *err);

/* Embedding width of one modality (width[n_layers-1]) and of the concat. */
int gpn_sdm_config_emb_dim(const struct gpn_sdm_config *cfg);
int gpn_sdm_config_concat_dim(const struct gpn_sdm_config *cfg);

/* Multiply-accumulates of one forward pass of one sample (convs + head). */
double gpn_sdm_config_macs(const struct gpn_sdm_config *cfg);

/* ==== the model =========================================================== */

struct gpn_sdm; /* opaque */

/* Creates a model for batches of up to max_batch samples. train: 1 allocates
 * gradients and the activations backward needs and starts in training mode
 * (BN uses batch statistics); 0 builds an inference-only model (eval mode,
 * BN folded into the convs, smaller buffers; backward is GPN_ESTATE).
 * Parameters are initialised as PyTorch does (kaiming-uniform a=sqrt(5) for
 * conv and linear weights, uniform(+-1/sqrt(fan_in)) biases, BN weight 1 and
 * bias 0, running mean 0 / var 1) from a deterministic generator seeded by
 * seed. Normalisation statistics start as mean 0, std 1; species ids as
 * 0..n_species-1. *out is owned by the caller (gpn_sdm_destroy). */
int gpn_sdm_create(const struct gpn_sdm_config *cfg, int max_batch, int train, uint64_t seed,
                   struct gpn_sdm **out, struct gpn_err *err);
/* Deep copy (parameters, statistics, species, metadata; not gradients) into a
 * new model with its own buffers. */
int gpn_sdm_clone(const struct gpn_sdm *src, int max_batch, int train, struct gpn_sdm **out,
                  struct gpn_err *err);
void gpn_sdm_destroy(struct gpn_sdm *m); /* NULL is a no-op */

const struct gpn_sdm_config *gpn_sdm_get_config(const struct gpn_sdm *m);
int gpn_sdm_max_batch(const struct gpn_sdm *m);
/* 1 when created with train=1. */
int gpn_sdm_trainable(const struct gpn_sdm *m);

/* Training mode (1: BN batch statistics and running-stat updates, forward
 * keeps activations for backward) or eval mode (0: running statistics, BN
 * folded). GPN_ESTATE when mode 1 is asked of an inference-only model. */
int gpn_sdm_set_train(struct gpn_sdm *m, int train);

/* Forward pass of B <= max_batch samples. Inputs of unused modalities may be
 * NULL; used ones must not. logits: (B, n_species), caller-owned. Returns 0,
 * GPN_EINVAL (B out of range, missing input). */
int gpn_sdm_forward(struct gpn_sdm *m, int B, const uint8_t *sentinel, const float *landsat,
                    const float *climate, float *logits, struct gpn_err *err);

/* Backward pass of the last training-mode forward. dlogits: (B, n_species),
 * d loss / d logits (e.g. from gpn_bce_logits). Gradients are ADDED to the
 * gradient block (call gpn_sdm_zero_grad first, as in PyTorch). Returns
 * GPN_ESTATE when the last forward was not in training mode. */
int gpn_sdm_backward(struct gpn_sdm *m, const float *dlogits, struct gpn_err *err);
void gpn_sdm_zero_grad(struct gpn_sdm *m);

/* The flat parameter and gradient vectors (n floats each; grads NULL for
 * inference-only models). Owned by the model. After changing parameters
 * through this pointer outside an optimiser step on a training model, nothing
 * else is needed; on an inference-only model call gpn_sdm_params_changed. */
float *gpn_sdm_params(struct gpn_sdm *m, size_t *n);
float *gpn_sdm_grads(struct gpn_sdm *m, size_t *n);
void gpn_sdm_params_changed(struct gpn_sdm *m);

/* Parameter tensor i of gpn_sdm_param_count(m): its name (PyTorch-style, e.g.
 * "enc.sentinel.0.conv.weight", "enc.landsat.2.bn.bias", "head.weight"),
 * offset into the flat vector, and shape (rank <= 4). Returns 0 or
 * GPN_ERANGE. Running statistics are buffers, not parameters:
 * gpn_sdm_buffer_info lists them ("enc.sentinel.0.bn.running_mean", ...). */
int gpn_sdm_param_count(const struct gpn_sdm *m);
int gpn_sdm_param_info(const struct gpn_sdm *m, int i, const char **name, size_t *offset, int *rank,
                       int64_t shape[4]);
int gpn_sdm_buffer_count(const struct gpn_sdm *m);
int gpn_sdm_buffer_info(const struct gpn_sdm *m, int i, const char **name, float **data, size_t *n);

/* ==== normalisation, species ids, metadata ================================ */

/* Sets the per-channel standardisation of GPN_SDM_LANDSAT or GPN_SDM_CLIMATE
 * (mean and std: in_c[mod] floats each, copied; std must be > 0). */
int gpn_sdm_set_norm(struct gpn_sdm *m, int mod, const float *mean, const float *std, struct gpn_err *err);
/* Reads them (pointers into the model, in_c[mod] floats). */
int gpn_sdm_get_norm(const struct gpn_sdm *m, int mod, const float **mean, const float **std);
/* Per-channel mean and std (population, floor 1e-6) of x (n, c, hw) over
 * the finite values; channels with no finite value get mean 0, std 1.
 * mean/std: (c) caller-owned. n may be large: accumulates in double. */
void gpn_sdm_norm_compute(const float *x, int64_t n, int c, int64_t hw, float *mean, float *std);

/* Label index -> external species id (GeoPlant speciesId), n_species
 * int32s, copied / returned as a pointer into the model. */
int gpn_sdm_set_species(struct gpn_sdm *m, const int32_t *species_id, struct gpn_err *err);
const int32_t *gpn_sdm_get_species(const struct gpn_sdm *m);

/* Free-form trainer metadata (a JSON text: epochs, metrics, data path...),
 * copied; stored in the model file. NULL clears. get returns NULL if unset. */
int gpn_sdm_set_meta(struct gpn_sdm *m, const char *json, struct gpn_err *err);
const char *gpn_sdm_get_meta(const struct gpn_sdm *m);

/* ==== map-time inference: per-modality embeddings ========================= */

/* Embeddings of one modality for B samples (eval mode only: GPN_ESTATE in
 * training mode). input: uint8 for GPN_SDM_SENTINEL, float otherwise, shape
 * (B, in_c, in_h, in_w); B may exceed max_batch (the encoder runs in
 * micro-batches). emb: (B, emb_dim) caller-owned. Neighbouring 50 m
 * cells share one 1 km climate cube: embed it once and pass it with stride 0
 * to gpn_sdm_head. */
int gpn_sdm_embed(struct gpn_sdm *m, int mod, int B, const void *input, float *emb, struct gpn_err *err);

/* The head on precomputed embeddings: logits[b] = b + sum over used
 * modalities of W_mod @ emb[mod][b * emb_stride[mod]]. emb[mod] may be NULL
 * for unused modalities; emb_stride[mod] is in floats (emb_dim for packed
 * rows, 0 to broadcast one embedding to all B rows). logits: (B, n_species).
 * B may exceed max_batch (the head needs no model buffer). */
int gpn_sdm_head(struct gpn_sdm *m, int B, const float *const emb[GPN_SDM_N_MODALITIES],
                 const size_t emb_stride[GPN_SDM_N_MODALITIES], float *logits, struct gpn_err *err);

/* ==== files =============================================================== */

/* Writes the model (and the optimiser state when opt is not NULL) to path
 * atomically. Returns 0 or GPN_EIO / GPN_ENOMEM. */
int gpn_sdm_save(const struct gpn_sdm *m, const struct gpn_optim *opt, const char *path, struct gpn_err *err);

/* Loads a model file, validating magic, version, checksum, config and every
 * tensor's name, dtype and shape. max_batch / train as gpn_sdm_create. When
 * opt_out is not NULL and the file holds optimiser state, *opt_out receives
 * a new optimiser with that state (else NULL). Returns 0, GPN_EIO,
 * GPN_EFORMAT, GPN_ECHECKSUM, GPN_EUNSUPPORTED (newer version) or
 * GPN_ENOMEM; nothing is returned on failure. */
int gpn_sdm_load(const char *path, int max_batch, int train, struct gpn_sdm **out, struct gpn_optim **opt_out,
                 struct gpn_err *err);

#endif
