/*
 * train.h - training and evaluating the Deep-SDM on a dataset
 * (`gpn train-sdm`, `gpn eval-sdm`; docs/sdm.md "Training and evaluation").
 *
 * Training reads a dataset folder (dataset.h), builds the model of a named or
 * JSON configuration (sdm.h) adapted to the dataset (species count, patch
 * sizes, modalities present), and runs mini-batch training:
 *   - loss: binary cross-entropy with logits over the labels that count,
 *     optional positive weight; presence-absence (PA) surveys count every
 *     label; presence-only (PO) samples count their recorded species as
 *     presences plus K target-group background absences (species recorded by
 *     PO observers within R km, not at this sample), every other label is
 *     masked out; the loss is the mean over counted labels;
 *   - optimiser SGD (momentum, weight decay) or AdamW, learning-rate schedule
 *     constant / cosine / step / plateau;
 *   - a spatial-block validation split (whole 10 km blocks are held out,
 *     chosen by seed), early stopping on the validation loss;
 *   - the next batch is prepared in a second thread while the model runs.
 * Files: the best model (lowest validation loss) at `out`; the run folder
 * "<out>.run/" holds checkpoint.gpnm (last epoch, with optimiser and trainer
 * state, for --resume), train.log, metrics.csv and loss.png. Every file is
 * written atomically after every epoch.
 *
 * Determinism: shuffles come from a sequential generator whose state is in
 * the checkpoint; background draws from a counter-based generator keyed by
 * (seed, epoch, sample). A run stopped and resumed gives bit for bit the
 * weights of an uninterrupted one with one thread; with several threads
 * the nn kernels' dynamically scheduled sums may round differently from run
 * to run (uninterrupted runs alike, differences of float32 rounding size).
 */
#ifndef GPN_TRAIN_H
#define GPN_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "gpn/dataset.h"
#include "gpn/err.h"
#include "gpn/metrics.h"
#include "gpn/sdm.h"

enum gpn_train_schedule {
    GPN_SCHED_CONSTANT = 0,
    GPN_SCHED_COSINE = 1,  /* lr0 * (0.01 + 0.99 * (1 + cos(pi * step / total)) / 2) */
    GPN_SCHED_STEP = 2,    /* lr0 * 0.1^floor(epoch / max(1, epochs / 3)) */
    GPN_SCHED_PLATEAU = 3, /* lr x 0.1 after max(1, patience / 2) epochs without improvement */
};

/* Hyper-parameters. In struct gpn_train_opts an int < 0 or a NaN double
 * means "not given": the config's "train" object, then the named config's
 * defaults, then the built-in defaults fill it (gpn_train_hparams_resolve).
 * All of them are stored in the checkpoint and restored by --resume. */
struct gpn_train_hparams {
    int epochs;             /* passes over the training samples */
    int batch;              /* samples per step */
    int optim;              /* enum gpn_optim_kind */
    int schedule;           /* enum gpn_train_schedule */
    int patience;           /* epochs without val-loss improvement before stopping; 0: never stop early */
    int po_background;      /* K background absences per PO sample; 0: PO samples are not used */
    int augment;            /* 1: random flips / 90-degree rotations of Sentinel patches */
    int64_t seed;           /* split, shuffles, initial weights, background draws */
    double lr;              /* base learning rate */
    double momentum;        /* SGD */
    double weight_decay;    /* SGD L2 / AdamW decoupled */
    double pos_weight;      /* BCE weight of presences (1: plain BCE) */
    double val_frac;        /* share of PA surveys held out by spatial block; 0: no validation */
    double po_radius_km;    /* target-group neighbourhood radius R */
    double po_weight;       /* loss weight of PO labels relative to PA labels */
    double po_ratio;        /* > 0: each epoch uses at most ceil(po_ratio x training PA) PO samples,
                               drawn afresh; 0: all PO samples every epoch */
};

/* Fills hp with "not given" markers. */
void gpn_train_hparams_unset(struct gpn_train_hparams *hp);
/* Resolves, highest priority first: the given values; the "train" object
 * of config_json (the text of a whole model config file, may be NULL or lack
 * "train"); the defaults of config_name ("demo", "geoplant", ...; NULL or
 * unknown: the generic ones). Unknown keys or bad values in the "train"
 * object are GPN_EFORMAT / GPN_ERANGE; out-of-range results GPN_ERANGE.
 * Keys of "train": epochs, batch, optim ("sgd"|"adamw"), schedule
 * ("constant"|"cosine"|"step"|"plateau"), patience, po_background, augment,
 * seed, lr, momentum, weight_decay, pos_weight, val_frac, po_radius_km,
 * po_weight, po_ratio (the fields above). */
int gpn_train_hparams_resolve(const struct gpn_train_hparams *given, const char *config_json, const char *config_name,
                              struct gpn_train_hparams *out, struct gpn_err *err);

struct gpn_train_opts {
    const char *data;       /* dataset folder (required) */
    const char *out;        /* model file (required); the run folder is "<out>.run" */
    const char *config;     /* named config or a JSON file; NULL: "demo". Ignored with resume */
    int resume;             /* 1: continue "<out>.run/checkpoint.gpnm" */
    struct gpn_train_hparams hp; /* given values (see gpn_train_hparams_unset) */
    int threads;            /* OpenMP / OpenBLAS threads; 0: default */
    int stop_after;         /* > 0: return after this many epochs of this call (resumable) */
    double time_limit_s;    /* > 0: return after the epoch that ends past this many seconds (resumable) */
    int progress;           /* 1: progress bar on stderr */
    const char *atlas;      /* atlas folder: record the run in its catalog; NULL: do not */
};

/* Zeroes o and marks every hyper-parameter "not given". */
void gpn_train_opts_init(struct gpn_train_opts *o);

struct gpn_train_result {
    int epochs_done;        /* epochs completed in total (including resumed ones) */
    int best_epoch;         /* 1-based epoch of the saved model */
    double best_val_loss;   /* NaN without validation */
    double best_val_auc;    /* macro AUC on the validation surveys at best_epoch */
    double last_train_loss;
    double seconds;         /* wall time of this call */
    double samples_per_s;   /* training throughput of this call */
    int64_t n_train, n_val; /* training samples (PA + used PO), validation PA surveys */
    int finished;           /* 1: epochs reached or stopped early; 0: stopped by stop_after / time limit */
    int stopped_early;      /* 1: patience ran out */
};

/* Trains as described above. Returns 0 with *res filled (res may be NULL),
 * or a negative code with err set. Fails with GPN_EEXISTS when the run
 * folder holds a checkpoint and resume is 0 (delete it or pass resume), and
 * GPN_ENOTFOUND when resume is 1 and there is no checkpoint. */
int gpn_sdm_train(const struct gpn_train_opts *o, struct gpn_train_result *res, struct gpn_err *err);

/* ==== the validation split =============================================== */

/* Marks the held-out samples: is_val (d->n) gets 1 for every sample (PA and
 * PO) in a held-out spatial block. Blocks (d->meta[i].block) are ordered by
 * a hash of (seed, block) and taken in that order until at least val_frac of
 * the PA surveys are held out; deterministic for a dataset and seed, and
 * independent of sample order. val_frac 0 holds out nothing. GPN_EINVAL when
 * val_frac > 0 but the PA surveys lie in fewer than two blocks. */
int gpn_train_split(const struct gpn_dataset *d, double val_frac, uint64_t seed, uint8_t *is_val,
                    struct gpn_err *err);

/* ==== evaluation ========================================================= */

enum gpn_eval_split { GPN_EVAL_VAL = 0, GPN_EVAL_ALL = 1 };

struct gpn_eval_opts {
    const char *model;      /* model file (required) */
    const char *data;       /* dataset folder (required) */
    const char *truth;      /* synthetic truth folder (REGION/truth) or NULL */
    int split;              /* enum gpn_eval_split: held-out PA surveys of the model's split, or all PA */
    int threads;            /* 0: default */
    int batch;              /* inference batch; 0: 256 */
    uint64_t truth_seed;    /* draws of truth-sampled presences */
    int progress;
};

/* Comparison with the synthetic ground truth at the evaluated survey
 * locations (docs/sdm.md): per species with a truth raster, predicted
 * probability vs true probability. */
struct gpn_eval_truth {
    int n_species;          /* species with a truth raster */
    int n_species_auc;      /* of which with both classes among the truth draws */
    double pearson_mean;    /* mean over species of Pearson(pred, truth) */
    double spearman_mean;   /* mean over species of Spearman(pred, truth) */
    double pearson_pooled;  /* Pearson over all (survey, species) pairs */
    double mae;             /* mean |pred - truth| over all pairs */
    double auc_truth_draws; /* macro AUC of the predictions against presences drawn ~ Bernoulli(truth) */
    double auc_oracle;      /* macro AUC of the true probabilities against the observed survey labels */
};

struct gpn_eval_result {
    struct gpn_sdm_metrics m; /* GeoPlant metrics on the evaluated surveys */
    int split;              /* the split actually used */
    int64_t unknown_labels; /* dataset presences of species the model does not know (ignored) */
    int has_truth;
    struct gpn_eval_truth truth;
};

/* Evaluates a model on the PA surveys of a dataset. Species are matched by
 * speciesId. GPN_EINVAL when the model's inputs do not match the dataset's
 * modalities or there are no surveys to evaluate. */
int gpn_sdm_eval(const struct gpn_eval_opts *o, struct gpn_eval_result *r, struct gpn_err *err);

/* Predicts logits (n, n_species of the model) for samples rows[0..n) of d
 * with an eval-mode model, batch by batch (batch <= max_batch). progress may
 * be NULL. Returns 0 or the model's error. */
struct gpn_progress;
int gpn_sdm_predict_rows(struct gpn_sdm *m, const struct gpn_dataset *d, const int64_t *rows, int64_t n,
                         int batch, float *logits, struct gpn_progress *progress, struct gpn_err *err);

#endif
