/*
 * sdm_priv.h - internals shared by the trainer files of src/sdm: random
 * numbers, the batch sampler (sampler.c) and the JSON trainer state.
 *
 * Random numbers. Two kinds, both from splitmix64:
 *   - a sequential generator (struct gpn__rng, one uint64 of state) for the
 *     epoch shuffles; its state is saved in the checkpoint;
 *   - counter-based draws keyed by (seed, purpose, epoch, sample) for the
 *     per-sample randomness of a batch (background absences, augmentation),
 *     so a batch is the same whichever thread prepares it and whenever.
 */
#ifndef GPN_SDM_PRIV_H
#define GPN_SDM_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "gpn/dataset.h"
#include "gpn/err.h"

/* ==== random numbers ===================================================== */

struct gpn__rng {
    uint64_t s;
};

static inline uint64_t gpn__mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t gpn__rng_next(struct gpn__rng *r)
{
    r->s += 0x9e3779b97f4a7c15ull;
    uint64_t z = r->s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform integer in [0, n) (n >= 1), Lemire's multiply-shift. */
static inline uint64_t gpn__rng_below(struct gpn__rng *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)gpn__rng_next(r) * n) >> 64);
}

/* A generator keyed by (seed, purpose, a, b). */
static inline struct gpn__rng gpn__rng_keyed(uint64_t seed, uint64_t purpose, uint64_t a, uint64_t b)
{
    struct gpn__rng r = {gpn__mix64(gpn__mix64(gpn__mix64(seed ^ 0x5d5d5d5dull) ^ purpose) ^ a) ^
                         gpn__mix64(b + 0x1234567ull)};
    return r;
}

enum { GPN__RNG_SPLIT = 1, GPN__RNG_BACKGROUND = 2, GPN__RNG_AUGMENT = 3, GPN__RNG_SHUFFLE = 4, GPN__RNG_NORM = 5 };

/* ==== the sampler ======================================================== */

/* What the trainer samples from: the dataset, the training sample list and
 * the target-group neighbour index over the training PO samples. */
struct gpn__sampler {
    const struct gpn_dataset *d;
    int C;                    /* n_species */
    uint64_t seed;
    int po_k;                 /* background absences per PO sample */
    float po_w;               /* loss weight of PO labels */
    double radius_m;          /* neighbourhood radius */
    int augment;
    /* uniform grid of cell size >= radius over the training PO samples */
    double gx0, gy0, cell;
    int64_t gw, gh;
    int64_t *cell_start;      /* (gw * gh + 1) CSR into cell_item */
    int64_t *cell_item;       /* (n_po_train) sample indices grouped by cell */
};

/* Builds the neighbour index over the PO samples i with use[i] != 0
 * (use: (d->n), e.g. "training sample"). po_k 0 skips the index. */
int gpn__sampler_init(struct gpn__sampler *s, const struct gpn_dataset *d, const uint8_t *use, uint64_t seed,
                      int po_k, double radius_km, double po_weight, int augment, struct gpn_err *err);
void gpn__sampler_free(struct gpn__sampler *s);

/* The target-group background candidates of PO sample i: distinct species
 * recorded by PO samples within the radius (i itself included), minus the
 * species of i. Writes them to cand (C) in increasing order and returns
 * their count. mark: (C) zeroed scratch, left zeroed. */
int gpn__background_candidates(const struct gpn__sampler *s, int64_t i, uint8_t *mark, int32_t *cand);

/* A prepared mini-batch: inputs gathered contiguous, targets and loss
 * weights. Buffers are sized for cap samples at allocation. */
struct gpn__batch {
    int cap, B, C;
    int64_t *idx;             /* (cap) dataset rows */
    uint8_t *s2;              /* (cap, s2_c, s2_h, s2_w) or NULL */
    float *ls;                /* (cap, ls_c, ls_q, ls_y) or NULL */
    float *cl;                /* (cap, cl_c, cl_y, cl_m) or NULL */
    float *y;                 /* (cap, C) 0/1 targets */
    float *w;                 /* (cap, C) loss weights (0 = masked) */
    double wsum;              /* sum of w over the B rows */
    int n_po;                 /* PO samples in the batch */
    uint8_t *mark;            /* (C) scratch */
    int32_t *cand;            /* (C) scratch */
};

int gpn__batch_alloc(struct gpn__batch *b, const struct gpn_dataset *d, int cap, struct gpn_err *err);
void gpn__batch_free(struct gpn__batch *b);

/* Fills b with rows idx[0..B) (B <= cap). train 1: PO rows are masked to
 * their presences plus background draws of this epoch and Sentinel patches
 * are augmented when enabled; train 0: every label counts, no augmentation. */
void gpn__batch_fill(struct gpn__batch *b, const struct gpn__sampler *s, const int64_t *idx, int B, int epoch,
                     int train);

#endif
