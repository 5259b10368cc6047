/*
 * sampler.c - what the trainer feeds the model: the spatial-block
 * validation split, mini-batch assembly, and presence-only target-group
 * background absences.
 *
 * Split (gpn_train_split). Every distinct spatial block id of the dataset
 * gets the key mix64(seed, block); blocks are taken in key order until the
 * held-out PA surveys reach val_frac of all PA surveys. Whole blocks go, so
 * validation surveys are never next door to training ones (spatial
 * autocorrelation would otherwise inflate the validation scores), and PO
 * samples of held-out blocks are held out too.
 *
 * Target-group background. A PO sample says where an observer recorded some
 * species, not which species were absent. Following the target-group idea
 * (the other records of the same observer community show where and what
 * observers look at), its absences are drawn from the species recorded by
 * the PO observers within R km: the candidates of sample i are the distinct
 * species of the training PO samples j with |x_j - x_i| <= R (EPSG:3035
 * metres, i included), minus the species of i. Each epoch K of them
 * (all when fewer) are drawn without replacement, keyed by (seed, epoch,
 * i); these K labels get target 0, the species of i target 1, both with
 * weight po_weight; every other label of the row has weight 0. A uniform
 * grid of cells no smaller than R indexes the PO samples, so the candidates
 * of a sample come from the 3 x 3 cells around it with an exact distance
 * test, in O(records nearby).
 *
 * Batches (gpn__batch_fill) copy the rows' inputs out of the memory-mapped
 * arrays into contiguous buffers in dataset layout, so the model reads
 * them as one (B, C, H, W) array; the trainer runs this in a second thread
 * for the next batch while the model works on the current one.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gpn/log.h"
#include "gpn/train.h"
#include "sdm_priv.h"

/* ==== split ============================================================== */

struct block_key {
    uint64_t key;
    int32_t block;
    int64_t n_pa;
};

static int cmp_block_id(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_block_key(const void *a, const void *b)
{
    const struct block_key *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->block < y->block ? -1 : x->block > y->block;
}

/* Index of block b in the sorted ids (n), or -1. */
static int64_t find_block(const int32_t *ids, int64_t n, int32_t b)
{
    int64_t lo = 0, hi = n - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (ids[mid] == b) return mid;
        if (ids[mid] < b) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

int gpn_train_split(const struct gpn_dataset *d, double val_frac, uint64_t seed, uint8_t *is_val,
                    struct gpn_err *err)
{
    memset(is_val, 0, (size_t)d->n);
    if (!(val_frac > 0)) return 0;
    if (!(val_frac < 1)) return gpn_err_set(err, GPN_ERANGE, "gpn_train_split: val_frac %g not below 1", val_frac);
    int32_t *ids = malloc((size_t)(d->n > 0 ? d->n : 1) * sizeof *ids);
    if (!ids) return gpn_err_set(err, GPN_ENOMEM, "gpn_train_split: out of memory");
    for (int64_t i = 0; i < d->n; i++) ids[i] = d->meta[i].block;
    qsort(ids, (size_t)d->n, sizeof *ids, cmp_block_id);
    int64_t nb = 0;
    for (int64_t i = 0; i < d->n; i++)
        if (nb == 0 || ids[nb - 1] != ids[i]) ids[nb++] = ids[i];
    struct block_key *bk = calloc((size_t)(nb > 0 ? nb : 1), sizeof *bk);
    uint8_t *val_block = calloc((size_t)(nb > 0 ? nb : 1), 1);
    if (!bk || !val_block) {
        free(ids);
        free(bk);
        free(val_block);
        return gpn_err_set(err, GPN_ENOMEM, "gpn_train_split: out of memory");
    }
    for (int64_t b = 0; b < nb; b++) {
        bk[b].block = ids[b];
        bk[b].key = gpn__mix64(gpn__mix64(seed ^ 0x73706c6974ull) ^ (uint64_t)(uint32_t)ids[b]);
    }
    int64_t n_pa = 0, pa_blocks = 0;
    for (int64_t i = 0; i < d->n; i++)
        if (d->meta[i].kind == GPN_SAMPLE_PA) {
            int64_t b = find_block(ids, nb, d->meta[i].block);
            if (bk[b].n_pa++ == 0) pa_blocks++;
            n_pa++;
        }
    int rc = 0;
    if (pa_blocks < 2) {
        rc = gpn_err_set(err, GPN_EINVAL,
                         "gpn_train_split: the %lld PA surveys lie in %lld spatial block(s); a block split needs at "
                         "least two (use a validation fraction of 0)",
                         (long long)n_pa, (long long)pa_blocks);
        goto done;
    }
    qsort(bk, (size_t)nb, sizeof *bk, cmp_block_key);
    int64_t target = (int64_t)ceil(val_frac * (double)n_pa), held = 0, taken_pa_blocks = 0;
    for (int64_t k = 0; k < nb && held < target; k++) {
        if (bk[k].n_pa == 0) continue;
        /* never hold out every PA block */
        if (taken_pa_blocks + 1 >= pa_blocks) break;
        val_block[find_block(ids, nb, bk[k].block)] = 1;
        held += bk[k].n_pa;
        taken_pa_blocks++;
    }
    for (int64_t i = 0; i < d->n; i++) is_val[i] = val_block[find_block(ids, nb, d->meta[i].block)];
done:
    free(ids);
    free(bk);
    free(val_block);
    return rc;
}

/* ==== neighbour index ==================================================== */

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return x < y ? -1 : x > y;
}

int gpn__sampler_init(struct gpn__sampler *s, const struct gpn_dataset *d, const uint8_t *use, uint64_t seed,
                      int po_k, double radius_km, double po_weight, int augment, struct gpn_err *err)
{
    memset(s, 0, sizeof *s);
    s->d = d;
    s->C = d->n_species;
    s->seed = seed;
    s->po_k = po_k;
    s->po_w = (float)po_weight;
    s->radius_m = radius_km * 1000.0;
    s->augment = augment;
    if (po_k <= 0) return 0;
    if (!(s->radius_m > 0)) return gpn_err_set(err, GPN_ERANGE, "gpn__sampler_init: PO radius must be > 0");
    double x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
    int64_t n_po = 0;
    for (int64_t i = 0; i < d->n; i++) {
        if (!use[i] || d->meta[i].kind != GPN_SAMPLE_PO) continue;
        x0 = fmin(x0, d->meta[i].x);
        y0 = fmin(y0, d->meta[i].y);
        x1 = fmax(x1, d->meta[i].x);
        y1 = fmax(y1, d->meta[i].y);
        n_po++;
    }
    if (n_po == 0) return 0;
    double cell = s->radius_m;
    for (;;) {
        double gw = floor((x1 - x0) / cell) + 1, gh = floor((y1 - y0) / cell) + 1;
        if (gw * gh <= 4e7) {
            s->gw = (int64_t)gw;
            s->gh = (int64_t)gh;
            break;
        }
        cell *= 2;
    }
    s->gx0 = x0;
    s->gy0 = y0;
    s->cell = cell;
    int64_t ncell = s->gw * s->gh;
    s->cell_start = calloc((size_t)ncell + 1, sizeof *s->cell_start);
    s->cell_item = malloc((size_t)n_po * sizeof *s->cell_item);
    if (!s->cell_start || !s->cell_item) {
        gpn__sampler_free(s);
        return gpn_err_set(err, GPN_ENOMEM, "gpn__sampler_init: out of memory (%lld grid cells)", (long long)ncell);
    }
#define CELL_OF(i)                                                                                 \
    ((int64_t)floor((d->meta[i].y - s->gy0) / s->cell) * s->gw + (int64_t)floor((d->meta[i].x - s->gx0) / s->cell))
    for (int64_t i = 0; i < d->n; i++)
        if (use[i] && d->meta[i].kind == GPN_SAMPLE_PO) s->cell_start[CELL_OF(i) + 1]++;
    for (int64_t c = 0; c < ncell; c++) s->cell_start[c + 1] += s->cell_start[c];
    int64_t *fill = malloc((size_t)ncell * sizeof *fill);
    if (!fill) {
        gpn__sampler_free(s);
        return gpn_err_set(err, GPN_ENOMEM, "gpn__sampler_init: out of memory");
    }
    memcpy(fill, s->cell_start, (size_t)ncell * sizeof *fill);
    for (int64_t i = 0; i < d->n; i++)
        if (use[i] && d->meta[i].kind == GPN_SAMPLE_PO) s->cell_item[fill[CELL_OF(i)]++] = i;
#undef CELL_OF
    free(fill);
    return 0;
}

void gpn__sampler_free(struct gpn__sampler *s)
{
    if (!s) return;
    free(s->cell_start);
    free(s->cell_item);
    s->cell_start = NULL;
    s->cell_item = NULL;
}

int gpn__background_candidates(const struct gpn__sampler *s, int64_t i, uint8_t *mark, int32_t *cand)
{
    const struct gpn_dataset *d = s->d;
    if (!s->cell_start) return 0;
    double x = d->meta[i].x, y = d->meta[i].y, r2 = s->radius_m * s->radius_m;
    int64_t cx = (int64_t)floor((x - s->gx0) / s->cell), cy = (int64_t)floor((y - s->gy0) / s->cell);
    int n = 0;
    for (int64_t gy = cy - 1; gy <= cy + 1; gy++) {
        if (gy < 0 || gy >= s->gh) continue;
        for (int64_t gx = cx - 1; gx <= cx + 1; gx++) {
            if (gx < 0 || gx >= s->gw) continue;
            int64_t c = gy * s->gw + gx;
            for (int64_t k = s->cell_start[c]; k < s->cell_start[c + 1]; k++) {
                int64_t j = s->cell_item[k];
                double dx = d->meta[j].x - x, dy = d->meta[j].y - y;
                if (dx * dx + dy * dy > r2) continue;
                for (int64_t p = d->label_ptr[j]; p < d->label_ptr[j + 1]; p++) {
                    int32_t sp = d->label_idx[p];
                    if (!mark[sp]) {
                        mark[sp] = 1;
                        cand[n++] = sp;
                    }
                }
            }
        }
    }
    /* drop the sample's own species (mark 2), clear every mark again */
    for (int64_t p = d->label_ptr[i]; p < d->label_ptr[i + 1]; p++) mark[d->label_idx[p]] = 2;
    int m = 0;
    for (int k = 0; k < n; k++) {
        int32_t sp = cand[k];
        if (mark[sp] == 1) cand[m++] = sp;
        mark[sp] = 0;
    }
    for (int64_t p = d->label_ptr[i]; p < d->label_ptr[i + 1]; p++) mark[d->label_idx[p]] = 0;
    /* increasing order (the draw then depends only on the set, not on the
     * order records were stored in) */
    qsort(cand, (size_t)m, sizeof *cand, cmp_i32);
    return m;
}

/* ==== batches ============================================================ */

int gpn__batch_alloc(struct gpn__batch *b, const struct gpn_dataset *d, int cap, struct gpn_err *err)
{
    memset(b, 0, sizeof *b);
    b->cap = cap;
    b->C = d->n_species;
    size_t C = (size_t)d->n_species, n = (size_t)cap;
    b->idx = malloc(n * sizeof *b->idx);
    b->y = malloc(n * C * sizeof *b->y);
    b->w = malloc(n * C * sizeof *b->w);
    b->mark = calloc(C ? C : 1, 1);
    b->cand = malloc((C ? C : 1) * sizeof *b->cand);
    int bad = !b->idx || !b->y || !b->w || !b->mark || !b->cand;
    if (d->s2_c) bad |= !(b->s2 = malloc(n * (size_t)d->s2_c * (size_t)d->s2_h * (size_t)d->s2_w));
    if (d->ls_c) bad |= !(b->ls = malloc(n * (size_t)d->ls_c * (size_t)d->ls_q * (size_t)d->ls_y * sizeof(float)));
    if (d->cl_c) bad |= !(b->cl = malloc(n * (size_t)d->cl_c * (size_t)d->cl_y * (size_t)d->cl_m * sizeof(float)));
    if (bad) {
        gpn__batch_free(b);
        return gpn_err_set(err, GPN_ENOMEM, "gpn__batch_alloc: out of memory (batch of %d)", cap);
    }
    return 0;
}

void gpn__batch_free(struct gpn__batch *b)
{
    if (!b) return;
    free(b->idx);
    free(b->s2);
    free(b->ls);
    free(b->cl);
    free(b->y);
    free(b->w);
    free(b->mark);
    free(b->cand);
    memset(b, 0, sizeof *b);
}

/* One of the 8 symmetries of the square (4 flips when H != W) of a patch
 * (Cn, H, W) from src into dst. */
static void augment_patch(uint8_t *dst, const uint8_t *src, int Cn, int H, int W, unsigned t)
{
    if (H != W) t &= 3;
    for (int c = 0; c < Cn; c++) {
        const uint8_t *s = src + (size_t)c * H * W;
        uint8_t *o = dst + (size_t)c * H * W;
        for (int r = 0; r < H; r++)
            for (int q = 0; q < W; q++) {
                int rr = r, qq = q;
                if (t & 1) qq = W - 1 - qq;
                if (t & 2) rr = H - 1 - rr;
                if (t & 4) {
                    int tmp = rr;
                    rr = qq;
                    qq = tmp;
                }
                o[(size_t)r * W + q] = s[(size_t)rr * W + qq];
            }
    }
}

void gpn__batch_fill(struct gpn__batch *b, const struct gpn__sampler *s, const int64_t *idx, int B, int epoch,
                     int train)
{
    const struct gpn_dataset *d = s->d;
    const size_t C = (size_t)b->C;
    const size_t s2n = (size_t)d->s2_c * d->s2_h * d->s2_w, lsn = (size_t)d->ls_c * d->ls_q * d->ls_y,
                 cln = (size_t)d->cl_c * d->cl_y * d->cl_m;
    b->B = B;
    b->wsum = 0;
    b->n_po = 0;
    for (int k = 0; k < B; k++) {
        int64_t i = idx[k];
        b->idx[k] = i;
        if (b->s2) {
            const uint8_t *src = d->sentinel + (size_t)i * s2n;
            uint8_t *dst = b->s2 + (size_t)k * s2n;
            if (train && s->augment) {
                struct gpn__rng r = gpn__rng_keyed(s->seed, GPN__RNG_AUGMENT, (uint64_t)epoch, (uint64_t)i);
                augment_patch(dst, src, d->s2_c, d->s2_h, d->s2_w, (unsigned)(gpn__rng_next(&r) >> 61));
            } else {
                memcpy(dst, src, s2n);
            }
        }
        if (b->ls) memcpy(b->ls + (size_t)k * lsn, d->landsat + (size_t)i * lsn, lsn * sizeof(float));
        if (b->cl) memcpy(b->cl + (size_t)k * cln, d->climate + (size_t)i * cln, cln * sizeof(float));
        float *y = b->y + (size_t)k * C, *w = b->w + (size_t)k * C;
        memset(y, 0, C * sizeof *y);
        for (int64_t p = d->label_ptr[i]; p < d->label_ptr[i + 1]; p++) y[d->label_idx[p]] = 1.0f;
        if (!train || d->meta[i].kind == GPN_SAMPLE_PA) {
            for (size_t c = 0; c < C; c++) w[c] = 1.0f;
            b->wsum += (double)C;
            continue;
        }
        /* presence-only: presences plus K background absences */
        b->n_po++;
        memset(w, 0, C * sizeof *w);
        int64_t npos = d->label_ptr[i + 1] - d->label_ptr[i];
        for (int64_t p = d->label_ptr[i]; p < d->label_ptr[i + 1]; p++) w[d->label_idx[p]] = s->po_w;
        int m = gpn__background_candidates(s, i, b->mark, b->cand);
        int K = s->po_k < m ? s->po_k : m;
        struct gpn__rng r = gpn__rng_keyed(s->seed, GPN__RNG_BACKGROUND, (uint64_t)epoch, (uint64_t)i);
        for (int k2 = 0; k2 < K; k2++) {
            int j = k2 + (int)gpn__rng_below(&r, (uint64_t)(m - k2));
            int32_t t = b->cand[k2];
            b->cand[k2] = b->cand[j];
            b->cand[j] = t;
            w[b->cand[k2]] = s->po_w;
        }
        b->wsum += (double)s->po_w * (double)(npos + K);
    }
}
