/*
 * metrics.c - GeoPlant metrics (metrics.h): ROC AUC by sorting, top-k F1,
 * precision and recall, Pearson and Spearman correlation.
 *
 * AUC. Each score becomes an order-preserving 32-bit key (the IEEE bits with
 * the sign handled so that unsigned order equals float order; -0 is mapped
 * to +0 so the two zeros tie as they compare equal). Positive and negative
 * keys are gathered into two arrays, each sorted by an LSD radix sort (3
 * passes of 11 bits; a plain insertion sort below 64 keys), and one merge
 * walk over the distinct key values accumulates, per tie group with p
 * positives and q negatives and `below` negatives with a smaller key,
 *     acc += 2 * p * below + p * q
 * in 64-bit integers; AUC = acc / (2 P N). acc <= 2 P N <= n^2 / 2, which
 * stays exact in uint64 and in a double below n ~ 9e7, so the result is the
 * exact Mann-Whitney statistic rounded once.
 *
 * Top-k. Per row, key = (score key << 32) | ~column: a larger key is a
 * higher score and, among equal scores, the lower column, so keys are
 * distinct and "the k largest keys" is exactly numpy's stable argsort(-s)[:k].
 * A quickselect puts the kmax = min(max k, C) largest keys first, a sort of
 * those kmax orders them, and the true positives of every k <= kmax are
 * prefix counts.
 */
#include "gpn/metrics.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpn/util.h"

const int gpn_metrics_k[GPN_METRICS_N_K] = {25, 50, 250};

/* ==== order-preserving keys and sorting ================================== */

static inline uint32_t float_key(float f)
{
    if (f == 0.0f) f = 0.0f; /* -0 -> +0 */
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

/* Sorts a (n) ascending, using tmp (n) as scratch. */
static void radix_sort_u32(uint32_t *a, uint32_t *tmp, int64_t n)
{
    if (n < 64) {
        for (int64_t i = 1; i < n; i++) {
            uint32_t v = a[i];
            int64_t j = i - 1;
            while (j >= 0 && a[j] > v) {
                a[j + 1] = a[j];
                j--;
            }
            a[j + 1] = v;
        }
        return;
    }
    uint32_t *src = a, *dst = tmp;
    for (int pass = 0; pass < 3; pass++) {
        int shift = pass * 11;
        int64_t count[2048];
        memset(count, 0, sizeof count);
        for (int64_t i = 0; i < n; i++) count[(src[i] >> shift) & 2047u]++;
        int64_t sum = 0;
        for (int b = 0; b < 2048; b++) {
            int64_t c = count[b];
            count[b] = sum;
            sum += c;
        }
        for (int64_t i = 0; i < n; i++) dst[count[(src[i] >> shift) & 2047u]++] = src[i];
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
    /* three passes: the result is in tmp */
    memcpy(a, src, (size_t)n * sizeof *a);
}

/* AUC core with caller scratch: keys (n), tmp (n) uint32. Returns 0,
 * GPN_ENORESULT (one class), or GPN_EINVAL with *bad = index of a
 * non-finite score. */
static int auc_core(const float *scores, const uint8_t *labels, int64_t n, int64_t stride, uint32_t *keys,
                    uint32_t *tmp, double *auc, int64_t *bad)
{
    int64_t P = 0, N = 0;
    for (int64_t i = 0; i < n; i++) {
        float s = scores[i * stride];
        if (!isfinite(s)) {
            *bad = i;
            *auc = NAN;
            return GPN_EINVAL;
        }
        if (labels[i * stride]) P++;
        else N++;
    }
    if (P == 0 || N == 0) {
        *auc = NAN;
        return GPN_ENORESULT;
    }
    /* positives at keys[0, P), negatives at keys[P, n) */
    int64_t ip = 0, in = P;
    for (int64_t i = 0; i < n; i++) {
        uint32_t k = float_key(scores[i * stride]);
        if (labels[i * stride]) keys[ip++] = k;
        else keys[in++] = k;
    }
    uint32_t *pos = keys, *neg = keys + P;
    radix_sort_u32(pos, tmp, P);
    radix_sort_u32(neg, tmp, N);
    uint64_t acc = 0, below = 0;
    int64_t i = 0, j = 0;
    while (i < P) {
        uint32_t k = pos[i];
        uint64_t p = 0, q = 0;
        while (i < P && pos[i] == k) {
            p++;
            i++;
        }
        while (j < N && neg[j] < k) {
            below++;
            j++;
        }
        while (j < N && neg[j] == k) {
            q++;
            j++;
        }
        acc += 2 * p * below + p * q;
        below += q;
    }
    *auc = (double)acc / (2.0 * (double)P * (double)N);
    return 0;
}

int gpn_metrics_auc(const float *scores, const uint8_t *labels, int64_t n, int64_t stride, double *auc,
                    struct gpn_err *err)
{
    *auc = NAN;
    if (n <= 0) return GPN_ENORESULT;
    if (!scores || !labels || stride < 1) return gpn_err_set(err, GPN_EINVAL, "gpn_metrics_auc: bad arguments");
    uint32_t *keys = malloc((size_t)n * 2 * sizeof *keys);
    if (!keys) return gpn_err_set(err, GPN_ENOMEM, "gpn_metrics_auc: out of memory (%lld scores)", (long long)n);
    int64_t bad = -1;
    int rc = auc_core(scores, labels, n, stride, keys, keys + n, auc, &bad);
    free(keys);
    if (rc == GPN_EINVAL)
        return gpn_err_set(err, GPN_EINVAL, "gpn_metrics_auc: score %lld is not finite", (long long)bad);
    return rc;
}

/* ==== top-k ============================================================== */

static inline uint64_t topk_key(float s, int col)
{
    return ((uint64_t)float_key(s) << 32) | (uint64_t)(uint32_t)~(uint32_t)col;
}

/* Rearranges a (n) so that its k largest values come first (any order). */
static void select_largest(uint64_t *a, int64_t n, int64_t k)
{
    if (k <= 0 || k >= n) return;
    int64_t lo = 0, hi = n - 1;
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    while (lo < hi) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        int64_t pi = lo + (int64_t)(rng % (uint64_t)(hi - lo + 1));
        uint64_t pivot = a[pi];
        /* three-way not needed: keys are distinct. Partition descending. */
        uint64_t t = a[pi];
        a[pi] = a[hi];
        a[hi] = t;
        int64_t store = lo;
        for (int64_t i = lo; i < hi; i++)
            if (a[i] > pivot) {
                t = a[i];
                a[i] = a[store];
                a[store] = t;
                store++;
            }
        t = a[store];
        a[store] = a[hi];
        a[hi] = t;
        /* a[lo..store-1] > pivot, a[store] = pivot, rest < pivot */
        if (store == k - 1 || store == k) return;
        if (store > k) hi = store - 1;
        else lo = store + 1;
    }
}

static int cmp_u64_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* For each row, the true positives among the top kk[j] (j < nk, ascending,
 * each <= C) and the row's number of present species; sums of F1, precision
 * and recall per k into f1s/precs/recs (nk each). */
static int topk_multi(const float *scores, const uint8_t *labels, int64_t n, int C, const int *kk, int nk,
                      double *f1s, double *precs, double *recs, double *mean_present, struct gpn_err *err)
{
    int kmax = kk[nk - 1];
    double *rowvals = malloc((size_t)n * (size_t)nk * 3 * sizeof *rowvals);
    double *present = malloc((size_t)n * sizeof *present);
    if (!rowvals || !present) {
        free(rowvals);
        free(present);
        return gpn_err_set(err, GPN_ENOMEM, "gpn_metrics: out of memory (top-k of %lld rows)", (long long)n);
    }
    int64_t bad_row = -1;
    int bad_col = -1, oom = 0;
#pragma omp parallel
    {
        uint64_t *keys = malloc((size_t)C * sizeof *keys);
        if (!keys) {
#pragma omp atomic write
            oom = 1;
        }
#pragma omp for schedule(dynamic, 16)
        for (int64_t r = 0; r < n; r++) {
            if (!keys) continue;
            const float *s = scores + r * (int64_t)C;
            const uint8_t *l = labels + r * (int64_t)C;
            int np = 0, ok = 1;
            for (int c = 0; c < C; c++) {
                if (!isfinite(s[c])) {
#pragma omp critical(gpn_metrics_bad)
                    if (bad_row < 0 || r < bad_row) {
                        bad_row = r;
                        bad_col = c;
                    }
                    ok = 0;
                    break;
                }
                keys[c] = topk_key(s[c], c);
                np += l[c] != 0;
            }
            present[r] = np;
            if (!ok) continue;
            select_largest(keys, C, kmax);
            qsort(keys, (size_t)kmax, sizeof *keys, cmp_u64_desc);
            int tp = 0, j = 0;
            for (int i = 0; i < kmax && j < nk; i++) {
                int col = (int)~(uint32_t)(keys[i] & 0xffffffffu);
                tp += l[col] != 0;
                while (j < nk && i + 1 == kk[j]) {
                    double k = kk[j];
                    double *v = rowvals + ((size_t)r * (size_t)nk + (size_t)j) * 3;
                    v[0] = 2.0 * tp / (k + np);
                    v[1] = tp / k;
                    v[2] = tp / (np > 0 ? (double)np : 1.0);
                    j++;
                }
            }
        }
        free(keys);
    }
    if (oom) {
        free(rowvals);
        free(present);
        return gpn_err_set(err, GPN_ENOMEM, "gpn_metrics: out of memory (top-k scratch)");
    }
    if (bad_row >= 0) {
        free(rowvals);
        free(present);
        return gpn_err_set(err, GPN_EINVAL, "gpn_metrics: score of sample %lld, species column %d is not finite",
                           (long long)bad_row, bad_col);
    }
    for (int j = 0; j < nk; j++) {
        double a = 0, b = 0, c = 0;
        for (int64_t r = 0; r < n; r++) {
            const double *v = rowvals + ((size_t)r * (size_t)nk + (size_t)j) * 3;
            a += v[0];
            b += v[1];
            c += v[2];
        }
        if (f1s) f1s[j] = a / (double)n;
        if (precs) precs[j] = b / (double)n;
        if (recs) recs[j] = c / (double)n;
    }
    if (mean_present) {
        double a = 0;
        for (int64_t r = 0; r < n; r++) a += present[r];
        *mean_present = a / (double)n;
    }
    free(rowvals);
    free(present);
    return 0;
}

int gpn_metrics_topk(const float *scores, const uint8_t *labels, int64_t n, int C, int k, double *f1,
                     double *precision, double *recall, struct gpn_err *err)
{
    if (!scores || !labels || n < 1 || C < 1 || k < 1)
        return gpn_err_set(err, GPN_EINVAL, "gpn_metrics_topk: bad arguments (n %lld, C %d, k %d)", (long long)n,
                           C, k);
    int kk = k < C ? k : C;
    return topk_multi(scores, labels, n, C, &kk, 1, f1, precision, recall, NULL, err);
}

/* ==== the full table ===================================================== */

int gpn_metrics_sdm(const float *scores, const uint8_t *labels, int64_t n, int C, struct gpn_sdm_metrics *out,
                    double *per_species_auc, struct gpn_err *err)
{
    memset(out, 0, sizeof *out);
    if (!scores || !labels || n < 1 || C < 1)
        return gpn_err_set(err, GPN_EINVAL, "gpn_metrics_sdm: bad arguments (n %lld, C %d)", (long long)n, C);
    out->n_samples = n;
    out->n_species = C;
    double *auc = per_species_auc ? per_species_auc : malloc((size_t)C * sizeof *auc);
    if (!auc) return gpn_err_set(err, GPN_ENOMEM, "gpn_metrics_sdm: out of memory");
    int oom = 0;
    int64_t bad_row = -1;
    int bad_col = -1;
#pragma omp parallel
    {
        uint32_t *keys = malloc((size_t)n * 2 * sizeof *keys);
        if (!keys) {
#pragma omp atomic write
            oom = 1;
        }
#pragma omp for schedule(dynamic, 8)
        for (int c = 0; c < C; c++) {
            auc[c] = NAN;
            if (!keys) continue;
            int64_t bad = -1;
            int rc = auc_core(scores + c, labels + c, n, C, keys, keys + n, &auc[c], &bad);
            if (rc == GPN_EINVAL) {
#pragma omp critical(gpn_metrics_bad)
                if (bad_row < 0 || bad < bad_row || (bad == bad_row && c < bad_col)) {
                    bad_row = bad;
                    bad_col = c;
                }
            }
        }
        free(keys);
    }
    int rc = 0;
    if (oom) {
        rc = gpn_err_set(err, GPN_ENOMEM, "gpn_metrics_sdm: out of memory (AUC scratch)");
        goto done;
    }
    if (bad_row >= 0) {
        rc = gpn_err_set(err, GPN_EINVAL, "gpn_metrics_sdm: score of sample %lld, species column %d is not finite",
                         (long long)bad_row, bad_col);
        goto done;
    }
    double sum = 0;
    int cnt = 0;
    for (int c = 0; c < C; c++)
        if (!isnan(auc[c])) {
            sum += auc[c];
            cnt++;
        }
    out->n_species_auc = cnt;
    out->auc_macro = cnt ? sum / cnt : NAN;
    rc = gpn_metrics_auc(scores, labels, n * (int64_t)C, 1, &out->auc_micro, err);
    if (rc == GPN_ENORESULT) rc = 0;
    if (rc) goto done;
    int kk[GPN_METRICS_N_K + 1];
    int nk = 0, k25 = -1;
    /* distinct capped k values in ascending order: 25, 50, 250 capped at C */
    int want[GPN_METRICS_N_K];
    for (int j = 0; j < GPN_METRICS_N_K; j++) want[j] = gpn_metrics_k[j] < C ? gpn_metrics_k[j] : C;
    for (int j = 0; j < GPN_METRICS_N_K; j++)
        if (nk == 0 || kk[nk - 1] != want[j]) kk[nk++] = want[j];
    double f1s[GPN_METRICS_N_K + 1], precs[GPN_METRICS_N_K + 1], recs[GPN_METRICS_N_K + 1];
    rc = topk_multi(scores, labels, n, C, kk, nk, f1s, precs, recs, &out->mean_present, err);
    if (rc) goto done;
    for (int j = 0; j < GPN_METRICS_N_K; j++)
        for (int i = 0; i < nk; i++)
            if (kk[i] == want[j]) {
                out->recall_at[j] = recs[i];
                if (j == 0) k25 = i;
            }
    out->f1_at_25 = f1s[k25];
    out->precision_at_25 = precs[k25];
done:
    if (!per_species_auc) free(auc);
    return rc;
}

/* ==== correlation ======================================================== */

static double pearson_d(const double *x, const double *y, int64_t n)
{
    if (n < 2) return NAN;
    double mx = 0, my = 0;
    for (int64_t i = 0; i < n; i++) {
        mx += x[i];
        my += y[i];
    }
    mx /= (double)n;
    my /= (double)n;
    double sxy = 0, sxx = 0, syy = 0;
    for (int64_t i = 0; i < n; i++) {
        double a = x[i] - mx, b = y[i] - my;
        sxy += a * b;
        sxx += a * a;
        syy += b * b;
    }
    if (sxx <= 0 || syy <= 0) return NAN;
    return sxy / sqrt(sxx * syy);
}

/* Copies the finite pairs into x/y doubles; returns their count. */
static int64_t finite_pairs(const float *x, int64_t sx, const float *y, int64_t sy, int64_t n, double *dx,
                            double *dy)
{
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        float a = x[i * sx], b = y[i * sy];
        if (!isfinite(a) || !isfinite(b)) continue;
        dx[m] = a;
        dy[m] = b;
        m++;
    }
    return m;
}

double gpn_metrics_pearson(const float *x, int64_t sx, const float *y, int64_t sy, int64_t n)
{
    if (n < 2) return NAN;
    double *d = malloc((size_t)n * 2 * sizeof *d);
    if (!d) return NAN;
    int64_t m = finite_pairs(x, sx, y, sy, n, d, d + n);
    double r = pearson_d(d, d + n, m);
    free(d);
    return r;
}

struct rank_item {
    double v;
    int64_t i;
};

static int cmp_rank_item(const void *a, const void *b)
{
    const struct rank_item *x = a, *y = b;
    if (x->v < y->v) return -1;
    if (x->v > y->v) return 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Replaces v (n) by its average ranks (1-based). */
static int average_ranks(double *v, int64_t n)
{
    struct rank_item *it = malloc((size_t)n * sizeof *it);
    if (!it) return -1;
    for (int64_t i = 0; i < n; i++) {
        it[i].v = v[i];
        it[i].i = i;
    }
    qsort(it, (size_t)n, sizeof *it, cmp_rank_item);
    for (int64_t a = 0; a < n;) {
        int64_t b = a;
        while (b + 1 < n && it[b + 1].v == it[a].v) b++;
        double r = 0.5 * (double)(a + b) + 1.0;
        for (int64_t k = a; k <= b; k++) v[it[k].i] = r;
        a = b + 1;
    }
    free(it);
    return 0;
}

double gpn_metrics_spearman(const float *x, int64_t sx, const float *y, int64_t sy, int64_t n)
{
    if (n < 2) return NAN;
    double *d = malloc((size_t)n * 2 * sizeof *d);
    if (!d) return NAN;
    int64_t m = finite_pairs(x, sx, y, sy, n, d, d + n);
    double r = NAN;
    if (m >= 2) {
        memmove(d + m, d + n, (size_t)m * sizeof *d);
        if (average_ranks(d, m) == 0 && average_ranks(d + m, m) == 0) r = pearson_d(d, d + m, m);
    }
    free(d);
    return r;
}

/* ==== labels and output ================================================== */

int gpn_metrics_labels_from_csr(const int64_t *label_ptr, const int32_t *label_idx, const int64_t *rows,
                                int64_t n, int C, uint8_t **out, int64_t *skipped, struct gpn_err *err)
{
    *out = NULL;
    if (skipped) *skipped = 0;
    uint8_t *y = calloc((size_t)(n > 0 ? n : 1) * (size_t)(C > 0 ? C : 1), 1);
    if (!y)
        return gpn_err_set(err, GPN_ENOMEM, "gpn_metrics_labels_from_csr: out of memory (%lld x %d labels)",
                           (long long)n, C);
    int64_t skip = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t r = rows ? rows[i] : i;
        for (int64_t p = label_ptr[r]; p < label_ptr[r + 1]; p++) {
            int32_t c = label_idx[p];
            if (c < 0 || c >= C) {
                skip++;
                continue;
            }
            y[(size_t)i * (size_t)C + (size_t)c] = 1;
        }
    }
    if (skipped) *skipped = skip;
    *out = y;
    return 0;
}

char *gpn_metrics_format_table(const struct gpn_sdm_metrics *m)
{
    struct gpn_buf b = {0};
    gpn_buf_printf(&b, "GeoPlant metrics: %lld surveys, %d species (%d with presences and absences)\n",
                   (long long)m->n_samples, m->n_species, m->n_species_auc);
    gpn_buf_printf(&b, "  %-22s %8s\n", "metric", "value");
    gpn_buf_printf(&b, "  %-22s %8.4f\n", "AUC (macro)", m->auc_macro);
    gpn_buf_printf(&b, "  %-22s %8.4f\n", "AUC (micro)", m->auc_micro);
    gpn_buf_printf(&b, "  %-22s %8.4f\n", "F1@25 (samples)", m->f1_at_25);
    gpn_buf_printf(&b, "  %-22s %8.4f\n", "Precision@25 (samples)", m->precision_at_25);
    for (int j = 0; j < GPN_METRICS_N_K; j++) {
        char name[32];
        snprintf(name, sizeof name, "Recall@%d (samples)", gpn_metrics_k[j]);
        gpn_buf_printf(&b, "  %-22s %8.4f\n", name, m->recall_at[j]);
    }
    gpn_buf_printf(&b, "  %-22s %8.2f\n", "present species / row", m->mean_present);
    if (b.oom) {
        gpn_buf_free(&b);
        return NULL;
    }
    return gpn_buf_steal(&b, NULL);
}

static void json_num(struct gpn_buf *b, const char *key, double v, int comma)
{
    if (isfinite(v)) gpn_buf_printf(b, "\"%s\":%.17g", key, v);
    else gpn_buf_printf(b, "\"%s\":null", key);
    if (comma) gpn_buf_puts(b, ",");
}

char *gpn_metrics_to_json(const struct gpn_sdm_metrics *m)
{
    struct gpn_buf b = {0};
    gpn_buf_printf(&b, "{\"n_samples\":%lld,\"n_species\":%d,\"n_species_auc\":%d,", (long long)m->n_samples,
                   m->n_species, m->n_species_auc);
    json_num(&b, "auc_macro", m->auc_macro, 1);
    json_num(&b, "auc_micro", m->auc_micro, 1);
    json_num(&b, "f1_at_25", m->f1_at_25, 1);
    json_num(&b, "precision_at_25", m->precision_at_25, 1);
    for (int j = 0; j < GPN_METRICS_N_K; j++) {
        char key[32];
        snprintf(key, sizeof key, "recall_at_%d", gpn_metrics_k[j]);
        json_num(&b, key, m->recall_at[j], 1);
    }
    json_num(&b, "mean_present", m->mean_present, 0);
    gpn_buf_puts(&b, "}");
    if (b.oom) {
        gpn_buf_free(&b);
        return NULL;
    }
    return gpn_buf_steal(&b, NULL);
}
