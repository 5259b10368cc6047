/*
 * metrics.h - the GeoPlant evaluation metrics of a multi-label species
 * model, with their exact definitions (REFERENCE.md 2.6), plus the
 * correlation measures used against synthetic ground truth.
 *
 * Data layout: scores (n, C) row-major float32, one row per sample (survey)
 * and one column per species; labels (n, C) row-major uint8, 1 = present,
 * 0 = absent. Scores may be probabilities or logits: every metric here
 * depends only on the order of the scores within a column (AUC) or a row
 * (top-k), and the sigmoid is strictly increasing, so logits give the metric
 * of the exact probabilities without float32 saturation ties near 0 and 1.
 *
 * Definitions:
 *   AUC (one column): the Mann-Whitney statistic with ties counted 1/2,
 *     AUC = (sum over positives p, negatives q of [s_p > s_q] + [s_p = s_q]/2)
 *           / (P * N),
 *     equal to the trapezoidal area under the ROC curve with tied scores as
 *     one point (scikit-learn's roc_auc_score). Computed by sorting: O(n log
 *     n) (radix sort of order-preserving integer keys, then one merge walk
 *     over tie groups; integer counts, one final division), so it agrees
 *     with scikit-learn to rounding (tests/scripts/test_metrics_sklearn.py).
 *   macro AUC: mean of the per-species AUC over species that have at least
 *     one positive and one negative among the n samples (others skipped).
 *   micro AUC: the AUC of all n*C (score, label) pairs pooled.
 *   top-k of a row: the k highest scores; ties broken by the lower column
 *     index (numpy's stable argsort of -score), k capped at C.
 *   F1@k (sample-averaged): per row, F1 = TP / (TP + (FP + FN) / 2) with the
 *     top-k as predicted positives; mean over rows (a row with no present
 *     species has F1 = 0, scikit-learn's zero_division=0 convention).
 *   Precision@k: TP / k per row, averaged.
 *   Recall@k (sample-averaged): TP / max(1, number of present species).
 *
 * Non-finite scores are rejected (GPN_EINVAL naming the sample and column):
 * a NaN in the model output is a bug to report, not a value to rank.
 * Threads: functions use OpenMP over species / samples; results do not
 * depend on the thread count (per-item values are summed in a fixed order).
 */
#ifndef GPN_METRICS_H
#define GPN_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "gpn/err.h"

/* The k values of the GeoPlant recall table. */
#define GPN_METRICS_N_K 3
extern const int gpn_metrics_k[GPN_METRICS_N_K]; /* {25, 50, 250} */

struct gpn_sdm_metrics {
    int64_t n_samples;          /* rows evaluated */
    int n_species;              /* columns */
    int n_species_auc;          /* columns with both classes (macro AUC denominator) */
    double auc_macro;           /* NaN when n_species_auc == 0 */
    double auc_micro;           /* NaN when all labels are equal */
    double f1_at_25;            /* sample-averaged F1 of the top 25 */
    double precision_at_25;     /* sample-averaged precision of the top 25 */
    double recall_at[GPN_METRICS_N_K]; /* sample-averaged recall of the top 25, 50, 250 */
    double mean_present;        /* mean number of present species per row */
};

/* AUC of n (score, label) pairs, score i at scores[i * stride], label i at
 * labels[i * stride] (0 absent, anything else present). Returns 0 and sets
 * *auc; GPN_ENORESULT (no message, *auc = NaN) when the labels are all equal
 * or n == 0; GPN_EINVAL for a non-finite score; GPN_ENOMEM. Allocates O(n)
 * scratch. */
int gpn_metrics_auc(const float *scores, const uint8_t *labels, int64_t n, int64_t stride, double *auc,
                    struct gpn_err *err);

/* All metrics of the table above for scores / labels (n, C). per_species_auc
 * (C doubles, may be NULL) receives each column's AUC (NaN when skipped).
 * Returns 0, GPN_EINVAL (n < 1, C < 1, NULL arrays, non-finite score) or
 * GPN_ENOMEM. */
int gpn_metrics_sdm(const float *scores, const uint8_t *labels, int64_t n, int C, struct gpn_sdm_metrics *out,
                    double *per_species_auc, struct gpn_err *err);

/* Sample-averaged F1, precision and recall of the top k of each row (k >= 1,
 * capped at C). Any output pointer may be NULL. Returns 0 or GPN_EINVAL /
 * GPN_ENOMEM. */
int gpn_metrics_topk(const float *scores, const uint8_t *labels, int64_t n, int C, int k, double *f1,
                     double *precision, double *recall, struct gpn_err *err);

/* Pearson correlation of x and y (n values each, strides in elements);
 * NaN when n < 2 or either has zero variance. Accumulates in double. */
double gpn_metrics_pearson(const float *x, int64_t sx, const float *y, int64_t sy, int64_t n);
/* Spearman rank correlation (Pearson of average ranks, ties averaged, as
 * scipy.stats.spearmanr). NaN as Pearson; GPN_ENOMEM-free: returns NaN when
 * scratch cannot be allocated. */
double gpn_metrics_spearman(const float *x, int64_t sx, const float *y, int64_t sy, int64_t n);

/* Builds dense labels (n, C) uint8 (0/1) from CSR rows: row i holds the
 * columns label_idx[label_ptr[i] .. label_ptr[i+1]) of row rows[i] of the
 * CSR arrays (rows NULL: row i). Columns outside [0, C) are skipped and
 * counted in *skipped (may be NULL). *out is malloc'ed (caller frees).
 * Returns 0 or GPN_ENOMEM. */
int gpn_metrics_labels_from_csr(const int64_t *label_ptr, const int32_t *label_idx, const int64_t *rows,
                                int64_t n, int C, uint8_t **out, int64_t *skipped, struct gpn_err *err);

/* Writes the metrics as a human-readable table (one metric per line) into a
 * malloc'ed string (caller frees); NULL when out of memory. */
char *gpn_metrics_format_table(const struct gpn_sdm_metrics *m);
/* Writes the metrics as a JSON object text (malloc'ed; NaN as null). */
char *gpn_metrics_to_json(const struct gpn_sdm_metrics *m);

#endif
