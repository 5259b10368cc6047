/*
 * sdm.c - the Deep-SDM model (sdm.h): memory plan, initialisation, training
 * forward/backward, the fused inference path and map-time embeddings.
 *
 * Memory plan (sized from the config and max_batch once, in gpn_sdm_create):
 *   params  flat vector of every parameter, PyTorch order and names
 *           (enc.<mod>.<l>.conv.weight (OC, C, 3, 3), .bn.weight, .bn.bias,
 *           head.weight (S, E), head.bias (S)); the convs have no bias
 *           because BN follows them (as GeoPlant's ResNet-6)
 *   grads   same layout (training models only)
 *   stats   BN running mean / var of every layer, normalisation stats
 *   folded  eval weights: conv weight * BN scale (OC, C*9) and bias (OC)
 *   acts    training activations, channel-major (C, B, H, W), per encoder:
 *           X (normalised input), per layer Y (conv out = BN in), A (BN+ReLU
 *           out), P (pooled, when the layer pools), BN mean/rstd (OC); then
 *           the embeddings (B, E), d embeddings (B, E), two gradient
 *           ping-pong buffers of the largest activation and the im2col
 *           scratch
 *   eval    per-thread buffers of the inference path (below)
 *
 * Training step: each kernel runs on the whole batch with the OpenMP team
 * (OpenBLAS single-threaded inside, see nn_internal.h). Layers that qualify
 * for Winograd (>= 16 channels in and out, maps >= 4x4) compute the forward
 * convolution and the input gradient (a convolution of dY with the flipped,
 * transposed weights) by Winograd F(2x2, 3x3); the weight gradient stays
 * im2col.
 *
 * Inference (eval mode): BN is folded into the conv weights, ReLU is fused
 * into the conv's bias pass, and the batch is split across OpenMP threads,
 * each running single-threaded GEMMs on micro-batches sized so that a
 * micro-batch's activations stay in cache (EVAL_ACT_CAP floats); this beats
 * threading inside each GEMM on the small per-layer GEMMs of this model and
 * needs no synchronisation between layers.
 */
#include "gpn/sdm.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "gpn/util.h"
#include "nn_internal.h"

#define N_MOD GPN_SDM_N_MODALITIES
#define MAX_L GPN_SDM_MAX_LAYERS
/* Largest activation of one eval micro-batch, in floats (~1 MiB). */
#define EVAL_ACT_CAP ((size_t)32 * 1024)
/* Training im2col chunk per thread, in floats (1 MiB: cache-resident), unless one sample needs more. */
#define TRAIN_COL_CAP ((size_t)256 * 1024)
#define MAX_THREADS 64

static const char *MOD_NAME[N_MOD] = {"sentinel", "landsat", "climate"};

struct layer {
    int C, H, W, OC, pool, OH, OW;  /* input C x H x W; output OC x OH x OW (after the pool) */
    size_t w, g, b;                 /* param offsets: conv weight, bn weight, bn bias */
    size_t rm, rv;                  /* stats offsets: running mean, var */
    size_t fw, fb;                  /* folded offsets: weight (OC, C*9), bias (OC) */
    size_t fu;                      /* folded offset: Winograd weights (16, OC, C) */
    int wino;                       /* eval convolution by Winograd F(2x2, 3x3) */
    float *Y, *A, *P, *mean, *rstd; /* training activations (NULL in inference models) */
    float *Ut, *Ub;                 /* training Winograd weights: forward (16, OC, C), input-gradient (16, C, OC) */
};

struct encoder {
    int used, L, D;                 /* layers, embedding width */
    int C0, H0, W0;
    struct layer l[MAX_L];
    float *X;                       /* (C0, B, H0, W0) normalised input (training) */
    int mb;                         /* eval micro-batch */
    size_t eval_in, eval_act, eval_col; /* eval buffer floats per micro-batch */
    int emb_off;                    /* column offset in the concat embedding */
};

struct param_info {
    char name[64];
    size_t off;
    int rank;
    int64_t shape[4];
};

struct buffer_info {
    char name[64];
    size_t off, n;
};

struct gpn_sdm {
    struct gpn_sdm_config cfg;
    int max_batch, trainable, train_mode;
    int last_B, last_train;         /* the last forward pass: batch, mode (-1: none) */
    int E, S;                       /* concat width, n_species */
    struct encoder enc[N_MOD];
    size_t head_w, head_b;
    float *params, *grads, *stats, *folded, *acts, *eval;
    size_t n_params, n_stats, n_folded, n_acts, n_eval_per_thread;
    int n_threads;
    int fold_dirty;
    int use_wino;                   /* 1 (default): Winograd layers in eval mode */
    float *emb, *demb;              /* (B, E) */
    float *emb_own;                 /* inference models: the (B, E) block */
    float *headtmp;                 /* (S) gpn_sdm_head broadcast row */
    float *gbuf[2];                 /* gradient ping-pong */
    float *scratch;                 /* im2col / Winograd (training) */
    float *wflip;                   /* (C, OC, 3, 3) flipped weights of the Winograd input gradient */
    size_t n_scratch;
    float *norm_mean[N_MOD], *norm_std[N_MOD]; /* into stats; sentinel unused */
    int32_t *species;
    char *meta;
    struct param_info *pinfo;
    int n_pinfo;
    struct buffer_info *binfo;
    int n_binfo;
};

/* ==== small helpers ======================================================= */

/* splitmix64: the deterministic generator of parameter initialisation. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static float rng_uniform(uint64_t *s, float bound)
{
    double u = (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
    return (float)((2.0 * u - 1.0) * bound);
}

static int add_param(struct gpn_sdm *m, const char *name, size_t *cursor, int rank, const int64_t *shape,
                     size_t *off_out)
{
    struct param_info *p = &m->pinfo[m->n_pinfo++];
    gpn_strlcpy(p->name, name, sizeof p->name);
    p->off = *cursor;
    p->rank = rank;
    size_t n = 1;
    for (int i = 0; i < rank; i++) {
        p->shape[i] = shape[i];
        n *= (size_t)shape[i];
    }
    *off_out = *cursor;
    *cursor += n;
    return 0;
}

static void add_buffer(struct gpn_sdm *m, const char *name, size_t *cursor, size_t n, size_t *off_out)
{
    struct buffer_info *b = &m->binfo[m->n_binfo++];
    gpn_strlcpy(b->name, name, sizeof b->name);
    b->off = *cursor;
    b->n = n;
    *off_out = *cursor;
    *cursor += n;
}

static size_t act_floats(const struct layer *ly, int B) { return (size_t)ly->OC * B * ly->H * ly->W; }

/* ==== layout ============================================================== */

/* Fills dims and offsets of every encoder, head, stats; counts the blocks. */
static void plan(struct gpn_sdm *m)
{
    const struct gpn_sdm_config *c = &m->cfg;
    size_t pc = 0, sc = 0, fc = 0;
    char name[64];
    int emb_off = 0;
    m->S = c->n_species;
    m->E = gpn_sdm_config_concat_dim(c);
    for (int md = 0; md < N_MOD; md++) {
        struct encoder *e = &m->enc[md];
        memset(e, 0, sizeof *e);
        e->used = c->use[md];
        if (!e->used) continue;
        e->L = c->n_layers;
        e->D = gpn_sdm_config_emb_dim(c);
        e->C0 = c->in_c[md];
        e->H0 = c->in_h[md];
        e->W0 = c->in_w[md];
        e->emb_off = emb_off;
        emb_off += e->D;
        int ch = e->C0, h = e->H0, w = e->W0;
        for (int l = 0; l < e->L; l++) {
            struct layer *ly = &e->l[l];
            ly->C = ch;
            ly->H = h;
            ly->W = w;
            ly->OC = c->width[l];
            ly->pool = c->pool[l];
            ly->OH = ly->pool ? h / 2 : h;
            ly->OW = ly->pool ? w / 2 : w;
            int64_t wshape[4] = {ly->OC, ch, 3, 3}, vshape[1] = {ly->OC};
            snprintf(name, sizeof name, "enc.%s.%d.conv.weight", MOD_NAME[md], l);
            add_param(m, name, &pc, 4, wshape, &ly->w);
            snprintf(name, sizeof name, "enc.%s.%d.bn.weight", MOD_NAME[md], l);
            add_param(m, name, &pc, 1, vshape, &ly->g);
            snprintf(name, sizeof name, "enc.%s.%d.bn.bias", MOD_NAME[md], l);
            add_param(m, name, &pc, 1, vshape, &ly->b);
            snprintf(name, sizeof name, "enc.%s.%d.bn.running_mean", MOD_NAME[md], l);
            add_buffer(m, name, &sc, (size_t)ly->OC, &ly->rm);
            snprintf(name, sizeof name, "enc.%s.%d.bn.running_var", MOD_NAME[md], l);
            add_buffer(m, name, &sc, (size_t)ly->OC, &ly->rv);
            ly->fw = fc;
            fc += (size_t)ly->OC * ch * 9;
            ly->fb = fc;
            fc += (size_t)ly->OC;
            /* Winograd where it pays for its transforms: >= 16 channels in and
             * out and maps of >= 16x16 cells (measured: on Landsat's 4x21 and
             * climate's 19x12 and smaller maps im2col is faster) */
            ly->wino = ch >= 16 && ly->OC >= 16 && h >= 8 && w >= 8 && h * w >= 256;
            ly->fu = fc;
            if (ly->wino) fc += (size_t)16 * ly->OC * ch;
            ch = ly->OC;
            h = ly->OH;
            w = ly->OW;
        }
    }
    int64_t hw[2] = {m->S, m->E}, hb[1] = {m->S};
    add_param(m, "head.weight", &pc, 2, hw, &m->head_w);
    add_param(m, "head.bias", &pc, 1, hb, &m->head_b);
    m->n_params = pc;
    m->n_folded = fc;
    /* normalisation statistics live after the BN buffers */
    for (int md = GPN_SDM_LANDSAT; md <= GPN_SDM_CLIMATE; md++) {
        if (!c->use[md]) continue;
        size_t off_mean, off_std;
        snprintf(name, sizeof name, "norm.%s.mean", MOD_NAME[md]);
        add_buffer(m, name, &sc, (size_t)c->in_c[md], &off_mean);
        snprintf(name, sizeof name, "norm.%s.std", MOD_NAME[md]);
        add_buffer(m, name, &sc, (size_t)c->in_c[md], &off_std);
        (void)off_mean;
        (void)off_std;
    }
    m->n_stats = sc;
}

/* Eval micro-batch sizes and per-thread buffer floats. */
static void plan_eval(struct gpn_sdm *m)
{
    size_t per_thread = 0;
    for (int md = 0; md < N_MOD; md++) {
        struct encoder *e = &m->enc[md];
        if (!e->used) continue;
        size_t act1 = 0;
        for (int l = 0; l < e->L; l++) {
            size_t a = act_floats(&e->l[l], 1);
            if (a > act1) act1 = a;
        }
        size_t in1 = (size_t)e->C0 * e->H0 * e->W0;
        if (in1 > act1) act1 = in1;
        size_t mb = EVAL_ACT_CAP / act1;
        if (mb < 1) mb = 1;
        if (mb > (size_t)m->max_batch) mb = (size_t)m->max_batch;
        e->mb = (int)mb;
        e->eval_act = act1 * mb;
        e->eval_col = 0;
        for (int l = 0; l < e->L; l++) {
            const struct layer *ly = &e->l[l];
            size_t col = gpn_conv3x3_scratch(ly->C, ly->H, ly->W, ly->OC, (int)mb);
            if (ly->wino) {
                size_t wc = gpn_conv3x3_wino_scratch(ly->C, ly->OC, (int)mb, ly->H, ly->W);
                if (wc > col) col = wc;
            }
            if (col > e->eval_col) e->eval_col = col;
        }
        e->eval_in = 0;
        size_t need = 2 * e->eval_act + e->eval_col;
        if (need > per_thread) per_thread = need;
    }
    m->n_eval_per_thread = (per_thread + 15) / 16 * 16;
}

/* Training activation block: returns floats needed; binds pointers when base
 * is not NULL. */
static size_t plan_acts(struct gpn_sdm *m, float *base)
{
    const int B = m->max_batch;
    size_t cur = 0, maxact = 0, maxcol = 0, maxflip = 0;
#define TAKE(ptr, n)                                  \
    do {                                              \
        if (base) (ptr) = base + cur;                 \
        cur += ((size_t)(n) + 15) / 16 * 16;          \
    } while (0)
    for (int md = 0; md < N_MOD; md++) {
        struct encoder *e = &m->enc[md];
        if (!e->used) continue;
        TAKE(e->X, (size_t)e->C0 * B * e->H0 * e->W0);
        for (int l = 0; l < e->L; l++) {
            struct layer *ly = &e->l[l];
            size_t a = act_floats(ly, B);
            if (a > maxact) maxact = a;
            TAKE(ly->Y, a);
            TAKE(ly->A, a);
            if (ly->pool) TAKE(ly->P, (size_t)ly->OC * B * ly->OH * ly->OW);
            TAKE(ly->mean, ly->OC);
            TAKE(ly->rstd, ly->OC);
            size_t col1 = (size_t)ly->C * 9 * ly->H * ly->W;
            size_t nb = TRAIN_COL_CAP / col1;
            if (nb < 1) nb = 1;
            if (nb > (size_t)B) nb = (size_t)B;
            size_t need = gpn_conv3x3_scratch(ly->C, ly->H, ly->W, ly->OC, (int)nb) * (size_t)m->n_threads;
            if (need > maxcol) maxcol = need;
            if (ly->wino) {
                TAKE(ly->Ut, (size_t)16 * ly->OC * ly->C);
                TAKE(ly->Ub, (size_t)16 * ly->OC * ly->C);
                size_t wf = gpn_conv3x3_wino_scratch(ly->C, ly->OC, B, ly->H, ly->W) * (size_t)m->n_threads;
                size_t wb = gpn_conv3x3_wino_scratch(ly->OC, ly->C, B, ly->H, ly->W) * (size_t)m->n_threads;
                if (wf > maxcol) maxcol = wf;
                if (wb > maxcol) maxcol = wb;
                size_t flip = (size_t)9 * ly->OC * ly->C;
                if (flip > maxflip) maxflip = flip;
            }
        }
    }
    TAKE(m->wflip, maxflip);
    TAKE(m->emb, (size_t)B * m->E);
    TAKE(m->demb, (size_t)B * m->E);
    TAKE(m->gbuf[0], maxact);
    TAKE(m->gbuf[1], maxact);
    TAKE(m->scratch, maxcol);
    m->n_scratch = maxcol;
#undef TAKE
    return cur;
}

/* ==== initialisation and folding ========================================== */

static void init_params(struct gpn_sdm *m, uint64_t seed)
{
    uint64_t s = seed ^ 0x5D5D5D5Dull;
    for (int md = 0; md < N_MOD; md++) {
        struct encoder *e = &m->enc[md];
        if (!e->used) continue;
        for (int l = 0; l < e->L; l++) {
            struct layer *ly = &e->l[l];
            size_t n = (size_t)ly->OC * ly->C * 9;
            float bound = 1.0f / sqrtf((float)(ly->C * 9));
            for (size_t i = 0; i < n; i++) m->params[ly->w + i] = rng_uniform(&s, bound);
            for (int o = 0; o < ly->OC; o++) {
                m->params[ly->g + o] = 1.0f;
                m->params[ly->b + o] = 0.0f;
                m->stats[ly->rm + o] = 0.0f;
                m->stats[ly->rv + o] = 1.0f;
            }
        }
    }
    float bound = 1.0f / sqrtf((float)m->E);
    for (size_t i = 0; i < (size_t)m->S * m->E; i++) m->params[m->head_w + i] = rng_uniform(&s, bound);
    for (int o = 0; o < m->S; o++) m->params[m->head_b + o] = rng_uniform(&s, bound);
    for (int md = GPN_SDM_LANDSAT; md <= GPN_SDM_CLIMATE; md++) {
        if (!m->cfg.use[md]) continue;
        for (int c = 0; c < m->cfg.in_c[md]; c++) {
            m->norm_mean[md][c] = 0.0f;
            m->norm_std[md][c] = 1.0f;
        }
    }
    for (int i = 0; i < m->S; i++) m->species[i] = i;
}

static void fold(struct gpn_sdm *m)
{
    for (int md = 0; md < N_MOD; md++) {
        struct encoder *e = &m->enc[md];
        if (!e->used) continue;
        for (int l = 0; l < e->L; l++) {
            struct layer *ly = &e->l[l];
            gpn_batchnorm_fold(m->folded + ly->fw, m->folded + ly->fb, m->params + ly->w, NULL, m->params + ly->g,
                               m->params + ly->b, m->stats + ly->rm, m->stats + ly->rv, ly->OC,
                               (int64_t)ly->C * 9, m->cfg.bn_eps);
            if (ly->wino) gpn_conv3x3_wino_weights(m->folded + ly->fu, m->folded + ly->fw, ly->OC, ly->C);
        }
    }
    m->fold_dirty = 0;
}

/* ==== create / destroy ==================================================== */

void gpn_sdm_destroy(struct gpn_sdm *m)
{
    if (!m) return;
    free(m->params);
    free(m->grads);
    free(m->stats);
    free(m->folded);
    free(m->acts);
    free(m->eval);
    free(m->species);
    free(m->emb_own);
    free(m->headtmp);
    free(m->meta);
    free(m->pinfo);
    free(m->binfo);
    free(m);
}

int gpn_sdm_create(const struct gpn_sdm_config *cfg, int max_batch, int train, uint64_t seed,
                   struct gpn_sdm **out, struct gpn_err *err)
{
    *out = NULL;
    int rc = gpn_sdm_config_validate(cfg, 1, err);
    if (rc) return rc;
    if (max_batch < 1 || max_batch > 1 << 20)
        return gpn_err_set(err, GPN_ERANGE, "gpn_sdm_create: max_batch %d out of range", max_batch);
    struct gpn_sdm *m = calloc(1, sizeof *m);
    if (!m) return gpn_err_set(err, GPN_ENOMEM, "gpn_sdm_create: out of memory");
    m->cfg = *cfg;
    m->max_batch = max_batch;
    m->trainable = train ? 1 : 0;
    m->train_mode = m->trainable;
    m->last_train = -1;
    m->fold_dirty = 1;
    m->use_wino = 1;
    int max_p = N_MOD * MAX_L * 3 + 2, max_b = N_MOD * MAX_L * 2 + 4;
    m->pinfo = calloc((size_t)max_p, sizeof *m->pinfo);
    m->binfo = calloc((size_t)max_b, sizeof *m->binfo);
    if (!m->pinfo || !m->binfo) goto oom;
    plan(m);
    plan_eval(m);
    m->params = malloc(m->n_params * sizeof(float));
    m->stats = malloc((m->n_stats ? m->n_stats : 1) * sizeof(float));
    m->folded = malloc(m->n_folded * sizeof(float));
    m->species = malloc((size_t)m->S * sizeof(int32_t));
    m->headtmp = malloc((size_t)m->S * sizeof(float));
    m->n_threads = omp_get_max_threads();
    if (m->n_threads > MAX_THREADS) m->n_threads = MAX_THREADS;
    if (m->n_threads < 1) m->n_threads = 1;
    m->eval = malloc(m->n_eval_per_thread * (size_t)m->n_threads * sizeof(float));
    if (!m->params || !m->stats || !m->folded || !m->species || !m->headtmp || !m->eval) goto oom;
    for (int md = GPN_SDM_LANDSAT; md <= GPN_SDM_CLIMATE; md++) {
        if (!cfg->use[md]) continue;
        char nm[64];
        for (int i = 0; i < m->n_binfo; i++) {
            snprintf(nm, sizeof nm, "norm.%s.mean", MOD_NAME[md]);
            if (!strcmp(m->binfo[i].name, nm)) m->norm_mean[md] = m->stats + m->binfo[i].off;
            snprintf(nm, sizeof nm, "norm.%s.std", MOD_NAME[md]);
            if (!strcmp(m->binfo[i].name, nm)) m->norm_std[md] = m->stats + m->binfo[i].off;
        }
    }
    if (m->trainable) {
        m->grads = calloc(m->n_params, sizeof(float));
        m->n_acts = plan_acts(m, NULL);
        m->acts = malloc(m->n_acts * sizeof(float));
        if (!m->grads || !m->acts) goto oom;
        plan_acts(m, m->acts);
    } else {
        m->emb = m->emb_own = malloc((size_t)max_batch * (size_t)m->E * sizeof(float));
        if (!m->emb) goto oom;
    }
    init_params(m, seed);
    fold(m);
    *out = m;
    return 0;
oom:
    gpn_sdm_destroy(m);
    return gpn_err_set(err, GPN_ENOMEM, "gpn_sdm_create: out of memory (config '%s', max_batch %d)", cfg->name,
                       max_batch);
}

int gpn_sdm_clone(const struct gpn_sdm *src, int max_batch, int train, struct gpn_sdm **out, struct gpn_err *err)
{
    struct gpn_sdm *m;
    int rc = gpn_sdm_create(&src->cfg, max_batch, train, 0, &m, err);
    if (rc) return rc;
    memcpy(m->params, src->params, src->n_params * sizeof(float));
    memcpy(m->stats, src->stats, src->n_stats * sizeof(float));
    memcpy(m->species, src->species, (size_t)src->S * sizeof(int32_t));
    if (src->meta && (rc = gpn_sdm_set_meta(m, src->meta, err))) {
        gpn_sdm_destroy(m);
        return rc;
    }
    fold(m);
    *out = m;
    return 0;
}

/* ==== accessors =========================================================== */

const struct gpn_sdm_config *gpn_sdm_get_config(const struct gpn_sdm *m) { return &m->cfg; }
int gpn_sdm_max_batch(const struct gpn_sdm *m) { return m->max_batch; }
int gpn_sdm_trainable(const struct gpn_sdm *m) { return m->trainable; }

int gpn_sdm_set_train(struct gpn_sdm *m, int train)
{
    if (train && !m->trainable) return GPN_ESTATE;
    m->train_mode = train ? 1 : 0;
    if (!train) m->fold_dirty = 1;
    return 0;
}

float *gpn_sdm_params(struct gpn_sdm *m, size_t *n)
{
    if (n) *n = m->n_params;
    return m->params;
}

float *gpn_sdm_grads(struct gpn_sdm *m, size_t *n)
{
    if (n) *n = m->grads ? m->n_params : 0;
    return m->grads;
}

void gpn_sdm_params_changed(struct gpn_sdm *m) { m->fold_dirty = 1; }

void gpn__sdm_set_winograd(struct gpn_sdm *m, int on) { m->use_wino = on ? 1 : 0; }

void gpn_sdm_zero_grad(struct gpn_sdm *m)
{
    if (m->grads) memset(m->grads, 0, m->n_params * sizeof(float));
}

int gpn_sdm_param_count(const struct gpn_sdm *m) { return m->n_pinfo; }

int gpn_sdm_param_info(const struct gpn_sdm *m, int i, const char **name, size_t *offset, int *rank,
                       int64_t shape[4])
{
    if (i < 0 || i >= m->n_pinfo) return GPN_ERANGE;
    const struct param_info *p = &m->pinfo[i];
    if (name) *name = p->name;
    if (offset) *offset = p->off;
    if (rank) *rank = p->rank;
    if (shape)
        for (int k = 0; k < 4; k++) shape[k] = k < p->rank ? p->shape[k] : 1;
    return 0;
}

int gpn_sdm_buffer_count(const struct gpn_sdm *m) { return m->n_binfo; }

int gpn_sdm_buffer_info(const struct gpn_sdm *m, int i, const char **name, float **data, size_t *n)
{
    if (i < 0 || i >= m->n_binfo) return GPN_ERANGE;
    if (name) *name = m->binfo[i].name;
    if (data) *data = m->stats + m->binfo[i].off;
    if (n) *n = m->binfo[i].n;
    return 0;
}

int gpn_sdm_set_norm(struct gpn_sdm *m, int mod, const float *mean, const float *std, struct gpn_err *err)
{
    if ((mod != GPN_SDM_LANDSAT && mod != GPN_SDM_CLIMATE) || !m->cfg.use[mod])
        return gpn_err_set(err, GPN_EINVAL, "gpn_sdm_set_norm: modality %d has no normalisation in this model", mod);
    for (int c = 0; c < m->cfg.in_c[mod]; c++)
        if (!isfinite(mean[c]) || !(std[c] > 0) || !isfinite(std[c]))
            return gpn_err_set(err, GPN_ERANGE, "gpn_sdm_set_norm: %s channel %d: mean %g std %g", MOD_NAME[mod], c,
                               mean[c], std[c]);
    memcpy(m->norm_mean[mod], mean, (size_t)m->cfg.in_c[mod] * sizeof(float));
    memcpy(m->norm_std[mod], std, (size_t)m->cfg.in_c[mod] * sizeof(float));
    return 0;
}

int gpn_sdm_get_norm(const struct gpn_sdm *m, int mod, const float **mean, const float **std)
{
    if ((mod != GPN_SDM_LANDSAT && mod != GPN_SDM_CLIMATE) || !m->cfg.use[mod]) return GPN_EINVAL;
    *mean = m->norm_mean[mod];
    *std = m->norm_std[mod];
    return 0;
}

void gpn_sdm_norm_compute(const float *x, int64_t n, int c, int64_t hw, float *mean, float *std)
{
    for (int ch = 0; ch < c; ch++) {
        double s = 0, ss = 0;
        int64_t cnt = 0;
        for (int64_t i = 0; i < n; i++) {
            const float *p = x + ((size_t)i * c + ch) * (size_t)hw;
            for (int64_t k = 0; k < hw; k++)
                if (isfinite(p[k])) {
                    s += p[k];
                    cnt++;
                }
        }
        if (!cnt) {
            mean[ch] = 0;
            std[ch] = 1;
            continue;
        }
        double mu = s / (double)cnt;
        for (int64_t i = 0; i < n; i++) {
            const float *p = x + ((size_t)i * c + ch) * (size_t)hw;
            for (int64_t k = 0; k < hw; k++)
                if (isfinite(p[k])) ss += (p[k] - mu) * (p[k] - mu);
        }
        double sd = sqrt(ss / (double)cnt);
        mean[ch] = (float)mu;
        std[ch] = (float)(sd > 1e-6 ? sd : 1e-6);
    }
}

int gpn_sdm_set_species(struct gpn_sdm *m, const int32_t *species_id, struct gpn_err *err)
{
    if (!species_id) return gpn_err_set(err, GPN_EINVAL, "gpn_sdm_set_species: NULL");
    memcpy(m->species, species_id, (size_t)m->S * sizeof(int32_t));
    return 0;
}

const int32_t *gpn_sdm_get_species(const struct gpn_sdm *m) { return m->species; }

int gpn_sdm_set_meta(struct gpn_sdm *m, const char *json, struct gpn_err *err)
{
    char *copy = NULL;
    if (json && !(copy = strdup(json))) return gpn_err_set(err, GPN_ENOMEM, "gpn_sdm_set_meta: out of memory");
    free(m->meta);
    m->meta = copy;
    return 0;
}

const char *gpn_sdm_get_meta(const struct gpn_sdm *m) { return m->meta; }

/* ==== input normalisation ================================================= */

/* Writes samples b0..b0+nb-1 of a caller's NCHW input into channel-major
 * dst (C, nb, H, W), normalised. */
static void load_input(const struct gpn_sdm *m, int md, float *dst, const void *input, int b0, int nb)
{
    const struct encoder *e = &m->enc[md];
    const size_t HW = (size_t)e->H0 * e->W0;
    for (int c = 0; c < e->C0; c++)
        for (int j = 0; j < nb; j++) {
            float *d = dst + ((size_t)c * nb + j) * HW;
            size_t src_off = ((size_t)(b0 + j) * e->C0 + c) * HW;
            if (md == GPN_SDM_SENTINEL) {
                const uint8_t *s = (const uint8_t *)input + src_off;
                for (size_t i = 0; i < HW; i++) d[i] = (float)s[i] * (1.0f / 127.5f) - 1.0f;
            } else {
                const float *s = (const float *)input + src_off;
                float mu = m->norm_mean[md][c], inv = 1.0f / m->norm_std[md][c];
                for (size_t i = 0; i < HW; i++) {
                    float v = (s[i] - mu) * inv;
                    d[i] = isfinite(v) ? v : 0.0f;
                }
            }
        }
}

/* ==== inference path ====================================================== */

/* One micro-batch: samples [s0, s0+nb) of one encoder in eval mode, on the
 * calling thread; writes emb rows (stride ld). buf: this thread's buffer. */
static void encoder_eval(const struct gpn_sdm *m, int md, const void *input, int s0, int nb, float *emb,
                         size_t ld, float *buf)
{
    const struct encoder *e = &m->enc[md];
    float *ping = buf, *pong = buf + e->eval_act, *col = buf + 2 * e->eval_act;
    load_input(m, md, ping, input, s0, nb);
    float *cur = ping, *nxt = pong;
    for (int l = 0; l < e->L; l++) {
        const struct layer *ly = &e->l[l];
        if (ly->wino && m->use_wino)
            gpn_conv3x3_wino_forward(nxt, cur, m->folded + ly->fu, m->folded + ly->fb, nb, ly->C, ly->H, ly->W, ly->OC,
                                     1, col, e->eval_col);
        else
            gpn_conv3x3_forward(nxt, cur, m->folded + ly->fw, m->folded + ly->fb, nb, ly->C, ly->H, ly->W, ly->OC, 1,
                                col, e->eval_col);
        if (ly->pool) {
            gpn_maxpool2_forward(cur, nxt, (int64_t)ly->OC * nb, ly->H, ly->W);
        } else {
            float *t = cur;
            cur = nxt;
            nxt = t;
        }
    }
    const struct layer *last = &e->l[e->L - 1];
    size_t HW = (size_t)last->OH * last->OW;
    float inv = 1.0f / (float)HW;
    for (int c = 0; c < e->D; c++)
        for (int j = 0; j < nb; j++) {
            const float *r = cur + ((size_t)c * nb + j) * HW;
            float s = 0;
            for (size_t i = 0; i < HW; i++) s += r[i];
            emb[(size_t)(s0 + j) * ld + (size_t)c] = s * inv;
        }
}

/* Runs the used encoders (mask) on B samples in eval mode; emb rows of
 * width ld, modality md at column offset off[md]. The work items are
 * (modality, micro-batch) pairs handed to the threads dynamically: costs
 * differ between modalities, and a thread that loses its core on a busy
 * machine does not hold the others up. */
static void encoders_eval(struct gpn_sdm *m, int B, const void *const in[N_MOD], float *emb, size_t ld,
                          const int off[N_MOD], int mask)
{
    if (m->fold_dirty || m->trainable) fold(m);
    int first[N_MOD + 1], n_items = 0;
    for (int md = 0; md < N_MOD; md++) {
        first[md] = n_items;
        if (m->enc[md].used && (mask >> md & 1)) n_items += (B + m->enc[md].mb - 1) / m->enc[md].mb;
    }
    first[N_MOD] = n_items;
    int T = m->n_threads < n_items ? m->n_threads : n_items;
    if (T < 1) T = 1;
    int blas_threads = gpn__blas_threads_single();
#pragma omp parallel for num_threads(T) schedule(dynamic, 1)
    for (int it = 0; it < n_items; it++) {
        int md = 0;
        while (it >= first[md + 1]) md++;
        const struct encoder *e = &m->enc[md];
        int s0 = (it - first[md]) * e->mb, nb = B - s0 < e->mb ? B - s0 : e->mb;
        float *buf = m->eval + (size_t)omp_get_thread_num() * m->n_eval_per_thread;
        encoder_eval(m, md, in[md], s0, nb, emb + off[md], ld, buf);
    }
    gpn__blas_threads_restore(blas_threads);
}

int gpn_sdm_embed(struct gpn_sdm *m, int mod, int B, const void *input, float *emb, struct gpn_err *err)
{
    if (m->train_mode) return gpn_err_set(err, GPN_ESTATE, "gpn_sdm_embed: model is in training mode");
    if (mod < 0 || mod >= N_MOD || !m->enc[mod].used)
        return gpn_err_set(err, GPN_EINVAL, "gpn_sdm_embed: modality %d not used by this model", mod);
    if (B < 0 || !input) return gpn_err_set(err, GPN_EINVAL, "gpn_sdm_embed: bad batch or NULL input");
    if (B == 0) return 0;
    const void *in[N_MOD] = {NULL, NULL, NULL};
    int off[N_MOD] = {0, 0, 0};
    in[mod] = input;
    encoders_eval(m, B, in, emb, (size_t)m->enc[mod].D, off, 1 << mod);
    return 0;
}

int gpn_sdm_head(struct gpn_sdm *m, int B, const float *const emb[N_MOD], const size_t emb_stride[N_MOD],
                 float *logits, struct gpn_err *err)
{
    if (B < 0) return gpn_err_set(err, GPN_EINVAL, "gpn_sdm_head: negative batch");
    const float *W = m->params + m->head_w, *bias = m->params + m->head_b;
    const int S = m->S, E = m->E;
    for (int b = 0; b < B; b++) memcpy(logits + (size_t)b * S, bias, (size_t)S * sizeof(float));
    for (int md = 0; md < N_MOD; md++) {
        const struct encoder *e = &m->enc[md];
        if (!e->used) continue;
        if (!emb[md]) return gpn_err_set(err, GPN_EINVAL, "gpn_sdm_head: missing %s embedding", MOD_NAME[md]);
        if (emb_stride[md] == 0) {
            /* one embedding for all rows: v = W_md @ e once, added to every row */
            memset(m->headtmp, 0, (size_t)S * sizeof(float));
            cblas_sgemv(CblasRowMajor, CblasNoTrans, S, e->D, 1.0f, W + e->emb_off, E, emb[md], 1, 0.0f, m->headtmp,
                        1);
            for (int b = 0; b < B; b++) {
                float *row = logits + (size_t)b * S;
                for (int s = 0; s < S; s++) row[s] += m->headtmp[s];
            }
        } else {
            gpn__sgemm(0, 1, B, S, e->D, 1.0f, emb[md], (int)emb_stride[md], W + e->emb_off, E, 1.0f, logits, S);
        }
    }
    return 0;
}

/* ==== training path ======================================================= */

static void encoder_train_forward(struct gpn_sdm *m, int md, const void *input, int B)
{
    struct encoder *e = &m->enc[md];
    const struct gpn_sdm_config *c = &m->cfg;
    load_input(m, md, e->X, input, 0, B);
    const float *cur = e->X;
    for (int l = 0; l < e->L; l++) {
        struct layer *ly = &e->l[l];
        int64_t M = (int64_t)B * ly->H * ly->W;
        if (ly->wino && m->use_wino) {
            gpn_conv3x3_wino_weights(ly->Ut, m->params + ly->w, ly->OC, ly->C);
            gpn_conv3x3_wino_forward(ly->Y, cur, ly->Ut, NULL, B, ly->C, ly->H, ly->W, ly->OC, 0, m->scratch,
                                     m->n_scratch);
        } else {
            gpn_conv3x3_forward(ly->Y, cur, m->params + ly->w, NULL, B, ly->C, ly->H, ly->W, ly->OC, 0, m->scratch,
                                m->n_scratch);
        }
        gpn_batchnorm_forward_train(ly->A, ly->mean, ly->rstd, ly->Y, m->params + ly->g, m->params + ly->b,
                                    m->stats + ly->rm, m->stats + ly->rv, ly->OC, M, c->bn_eps, c->bn_momentum, 1);
        if (ly->pool) {
            gpn_maxpool2_forward(ly->P, ly->A, (int64_t)ly->OC * B, ly->H, ly->W);
            cur = ly->P;
        } else {
            cur = ly->A;
        }
    }
    const struct layer *last = &e->l[e->L - 1];
    int64_t HW = (int64_t)last->OH * last->OW;
    /* global average pool straight into the concat rows */
    float inv = 1.0f / (float)HW;
    for (int ch = 0; ch < e->D; ch++)
        for (int b = 0; b < B; b++) {
            const float *r = cur + ((size_t)ch * B + b) * (size_t)HW;
            float s = 0;
            for (int64_t i = 0; i < HW; i++) s += r[i];
            m->emb[(size_t)b * m->E + e->emb_off + ch] = s * inv;
        }
}

static void encoder_train_backward(struct gpn_sdm *m, int md, int B)
{
    struct encoder *e = &m->enc[md];
    const struct layer *last = &e->l[e->L - 1];
    int64_t HW = (int64_t)last->OH * last->OW;
    float *g = m->gbuf[0], *h = m->gbuf[1];
    /* d(layer output) from the global average pool */
    float inv = 1.0f / (float)HW;
    for (int ch = 0; ch < e->D; ch++)
        for (int b = 0; b < B; b++) {
            float v = m->demb[(size_t)b * m->E + e->emb_off + ch] * inv;
            float *r = g + ((size_t)ch * B + b) * (size_t)HW;
            for (int64_t i = 0; i < HW; i++) r[i] = v;
        }
    for (int l = e->L - 1; l >= 0; l--) {
        struct layer *ly = &e->l[l];
        int64_t M = (int64_t)B * ly->H * ly->W;
        float *dA = g;
        if (ly->pool) {
            gpn_maxpool2_backward(h, g, ly->A, (int64_t)ly->OC * B, ly->H, ly->W);
            dA = h;
            h = g;
            g = dA;
        }
        /* g = dA (gradient after the ReLU); h is free */
        gpn_batchnorm_backward(g, m->grads + ly->g, m->grads + ly->b, g, ly->Y, ly->mean, ly->rstd,
                               m->params + ly->g, ly->A, ly->OC, M);
        const float *in = l == 0 ? e->X : (e->l[l - 1].pool ? e->l[l - 1].P : e->l[l - 1].A);
        if (ly->wino && m->use_wino && l > 0) {
            /* weight gradient by im2col; input gradient = conv(dY, W') with
             * W'[c][o][ky][kx] = W[o][c][2-ky][2-kx], by Winograd */
            gpn_conv3x3_backward(NULL, m->grads + ly->w, NULL, g, in, m->params + ly->w, B, ly->C, ly->H, ly->W, ly->OC,
                                 m->scratch, m->n_scratch);
            const float *w = m->params + ly->w;
            for (int o = 0; o < ly->OC; o++)
                for (int c = 0; c < ly->C; c++)
                    for (int k = 0; k < 9; k++)
                        m->wflip[((size_t)c * ly->OC + o) * 9 + (size_t)(8 - k)] = w[((size_t)o * ly->C + c) * 9 + (size_t)k];
            gpn_conv3x3_wino_weights(ly->Ub, m->wflip, ly->C, ly->OC);
            gpn_conv3x3_wino_forward(h, g, ly->Ub, NULL, B, ly->OC, ly->H, ly->W, ly->C, 0, m->scratch, m->n_scratch);
        } else {
            gpn_conv3x3_backward(l == 0 ? NULL : h, m->grads + ly->w, NULL, g, in, m->params + ly->w, B, ly->C, ly->H,
                                 ly->W, ly->OC, m->scratch, m->n_scratch);
        }
        float *t = g;
        g = h;
        h = t;
    }
}

int gpn_sdm_forward(struct gpn_sdm *m, int B, const uint8_t *sentinel, const float *landsat, const float *climate,
                    float *logits, struct gpn_err *err)
{
    if (B < 1 || B > m->max_batch)
        return gpn_err_set(err, GPN_EINVAL, "gpn_sdm_forward: batch %d outside [1, %d]", B, m->max_batch);
    const void *in[N_MOD] = {sentinel, landsat, climate};
    for (int md = 0; md < N_MOD; md++)
        if (m->enc[md].used && !in[md])
            return gpn_err_set(err, GPN_EINVAL, "gpn_sdm_forward: missing %s input", MOD_NAME[md]);
    m->last_B = B;
    m->last_train = m->train_mode;
    if (!m->train_mode) {
        int off[N_MOD];
        for (int md = 0; md < N_MOD; md++) off[md] = m->enc[md].emb_off;
        encoders_eval(m, B, in, m->emb, (size_t)m->E, off, (1 << N_MOD) - 1);
        gpn_linear_forward(logits, m->emb, m->params + m->head_w, m->params + m->head_b, B, m->E, m->S);
        return 0;
    }
    for (int md = 0; md < N_MOD; md++)
        if (m->enc[md].used) encoder_train_forward(m, md, in[md], B);
    gpn_linear_forward(logits, m->emb, m->params + m->head_w, m->params + m->head_b, B, m->E, m->S);
    return 0;
}

int gpn_sdm_backward(struct gpn_sdm *m, const float *dlogits, struct gpn_err *err)
{
    if (!m->trainable || m->last_train != 1)
        return gpn_err_set(err, GPN_ESTATE, "gpn_sdm_backward: no training-mode forward pass to differentiate");
    int B = m->last_B;
    gpn_linear_backward(m->demb, m->grads + m->head_w, m->grads + m->head_b, dlogits, m->emb,
                        m->params + m->head_w, B, m->E, m->S);
    for (int md = 0; md < N_MOD; md++)
        if (m->enc[md].used) encoder_train_backward(m, md, B);
    m->last_train = -1;
    return 0;
}
