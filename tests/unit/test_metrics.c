/*
 * test_metrics.c - the GeoPlant metrics (src/sdm/metrics.c): AUC against
 * hand-computed cases and an O(n^2) pairwise count, tie handling, top-k
 * F1 / precision / recall against a brute-force sort, macro/micro AUC
 * bookkeeping, correlations, and the error paths. The scikit-learn
 * cross-check is tests/scripts/test_metrics_sklearn.py.
 */
#include <stdint.h>
#include <stdlib.h>

#include "gpn/metrics.h"
#include "test.h"

static uint64_t rng_state = 12345;
static double urand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) * 0x1.0p-53;
}

/* Pairwise definition: (#(s_p > s_q) + #(s_p == s_q)/2) / (P N). */
static double auc_brute(const float *s, const uint8_t *l, int64_t n, int64_t stride)
{
    double num = 0;
    int64_t P = 0, N = 0;
    for (int64_t i = 0; i < n; i++) {
        if (l[i * stride]) P++;
        else N++;
    }
    for (int64_t i = 0; i < n; i++) {
        if (!l[i * stride]) continue;
        for (int64_t j = 0; j < n; j++) {
            if (l[j * stride]) continue;
            float a = s[i * stride], b = s[j * stride];
            num += a > b ? 1.0 : a == b ? 0.5 : 0.0;
        }
    }
    return num / ((double)P * (double)N);
}

static void test_auc_hand_cases(void)
{
    struct gpn_err err = {0};
    double auc;
    /* scikit-learn's roc_auc_score docstring example: 0.75 */
    const float s1[] = {0.1f, 0.4f, 0.35f, 0.8f};
    const uint8_t l1[] = {0, 0, 1, 1};
    ASSERT_OK(gpn_metrics_auc(s1, l1, 4, 1, &auc, &err), &err);
    ASSERT_NEAR(auc, 0.75, 1e-15);
    /* perfect and reversed rankings, on logits of both signs */
    const float s2[] = {-3.0f, -1.0f, 2.0f, 5.0f};
    const uint8_t l2[] = {0, 0, 1, 1}, l3[] = {1, 1, 0, 0};
    ASSERT_OK(gpn_metrics_auc(s2, l2, 4, 1, &auc, &err), &err);
    ASSERT_NEAR(auc, 1.0, 0);
    ASSERT_OK(gpn_metrics_auc(s2, l3, 4, 1, &auc, &err), &err);
    ASSERT_NEAR(auc, 0.0, 0);
    /* all scores tied: 0.5; -0 and +0 tie as well */
    const float s4[] = {0.3f, 0.3f, 0.3f, 0.3f, 0.3f};
    const uint8_t l4[] = {1, 0, 1, 0, 0};
    ASSERT_OK(gpn_metrics_auc(s4, l4, 5, 1, &auc, &err), &err);
    ASSERT_NEAR(auc, 0.5, 0);
    const float s5[] = {-0.0f, 0.0f};
    const uint8_t l5[] = {1, 0};
    ASSERT_OK(gpn_metrics_auc(s5, l5, 2, 1, &auc, &err), &err);
    ASSERT_NEAR(auc, 0.5, 0);
    /* a tie between one positive and one of two negatives: (1 + 0.5) / 2 */
    const float s6[] = {0.2f, 0.5f, 0.5f};
    const uint8_t l6[] = {0, 0, 1};
    ASSERT_OK(gpn_metrics_auc(s6, l6, 3, 1, &auc, &err), &err);
    ASSERT_NEAR(auc, 0.75, 0);
    /* strided access reads only every second value */
    const float s7[] = {0.9f, 99.f, 0.1f, -99.f, 0.5f, 99.f};
    const uint8_t l7[] = {1, 0, 0, 1, 1, 0};
    ASSERT_OK(gpn_metrics_auc(s7, l7, 3, 2, &auc, &err), &err);
    ASSERT_NEAR(auc, 1.0, 0);
}

static void test_auc_errors(void)
{
    struct gpn_err err = {0};
    double auc = 0;
    const float s[] = {0.1f, 0.2f, NAN};
    const uint8_t all1[] = {1, 1, 1}, mixed[] = {1, 0, 1};
    ASSERT_RC(gpn_metrics_auc(s, all1, 2, 1, &auc, &err), GPN_ENORESULT);
    ASSERT_TRUE(isnan(auc));
    ASSERT_RC(gpn_metrics_auc(s, mixed, 3, 1, &auc, &err), GPN_EINVAL);
    ASSERT_STR_CONTAINS(err.msg, "not finite");
    ASSERT_RC(gpn_metrics_auc(s, mixed, 0, 1, &auc, &err), GPN_ENORESULT);
    const float inf[] = {INFINITY, -INFINITY};
    const uint8_t l[] = {1, 0};
    ASSERT_RC(gpn_metrics_auc(inf, l, 2, 1, &auc, &err), GPN_EINVAL);
}

/* Radix-sort AUC against the pairwise count, with many ties (scores
 * quantised to 20 levels), for sizes on both sides of the insertion-sort
 * cut-off and with negative values. */
static void test_auc_matches_pairwise(void)
{
    struct gpn_err err = {0};
    const int64_t sizes[] = {3, 17, 63, 64, 65, 500, 3000};
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        int64_t n = sizes[t];
        float *s = malloc((size_t)n * sizeof *s);
        uint8_t *l = malloc((size_t)n);
        ASSERT_TRUE(s && l);
        for (int64_t i = 0; i < n; i++) {
            l[i] = urand() < 0.3;
            double q = floor(urand() * 20) / 20.0 - 0.5 + (l[i] ? 0.15 : 0);
            s[i] = (float)(t % 2 ? q : q * 1e-3);
        }
        l[0] = 1;
        l[1] = 0;
        double auc;
        int rc = gpn_metrics_auc(s, l, n, 1, &auc, &err);
        double ref = auc_brute(s, l, n, 1);
        free(s);
        free(l);
        ASSERT_OK(rc, &err);
        ASSERT_NEAR(auc, ref, 1e-12);
    }
}

/* Top-k by a brute-force selection: the k largest (score, -column). */
static void topk_brute(const float *s, const uint8_t *l, int C, int k, double *f1, double *prec, double *rec)
{
    uint8_t *taken = calloc((size_t)C, 1);
    int tp = 0, np = 0;
    for (int c = 0; c < C; c++) np += l[c] != 0;
    for (int j = 0; j < k && j < C; j++) {
        int best = -1;
        for (int c = 0; c < C; c++)
            if (!taken[c] && (best < 0 || s[c] > s[best])) best = c; /* strict: the lower index wins ties */
        taken[best] = 1;
        tp += l[best] != 0;
    }
    int kk = k < C ? k : C;
    *f1 = 2.0 * tp / (kk + np);
    *prec = (double)tp / kk;
    *rec = (double)tp / (np > 0 ? np : 1);
    free(taken);
}

static void test_topk_matches_brute_force(void)
{
    struct gpn_err err = {0};
    const int C = 300;
    const int64_t n = 40;
    float *s = malloc((size_t)n * C * sizeof *s);
    uint8_t *l = malloc((size_t)n * C);
    ASSERT_TRUE(s && l);
    for (int64_t i = 0; i < n * C; i++) {
        l[i] = urand() < 0.08;
        s[i] = (float)(floor(urand() * 50) / 50.0 + (l[i] ? 0.2 : 0)); /* many ties */
    }
    memset(l + 5 * C, 0, (size_t)C); /* a row without presences */
    const int ks[] = {1, 25, 50, 250, 299, 300, 1000};
    for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++) {
        double f1, pr, re, ef1 = 0, epr = 0, ere = 0;
        ASSERT_OK(gpn_metrics_topk(s, l, n, C, ks[t], &f1, &pr, &re, &err), &err);
        for (int64_t i = 0; i < n; i++) {
            double a, b, c;
            topk_brute(s + i * C, l + i * C, C, ks[t], &a, &b, &c);
            ef1 += a;
            epr += b;
            ere += c;
        }
        ASSERT_NEAR(f1, ef1 / n, 1e-12);
        ASSERT_NEAR(pr, epr / n, 1e-12);
        ASSERT_NEAR(re, ere / n, 1e-12);
    }
    free(s);
    free(l);
}

/* Equal scores: the top-k are the lowest column indices. */
static void test_topk_tie_break(void)
{
    struct gpn_err err = {0};
    float s[10];
    uint8_t l[10] = {1, 1, 0, 0, 0, 0, 0, 0, 0, 1};
    for (int c = 0; c < 10; c++) s[c] = 0.5f;
    double f1, pr, re;
    ASSERT_OK(gpn_metrics_topk(s, l, 1, 10, 2, &f1, &pr, &re, &err), &err);
    ASSERT_NEAR(pr, 1.0, 0);
    ASSERT_NEAR(re, 2.0 / 3.0, 1e-15);
    ASSERT_NEAR(f1, 2.0 * 2 / (2 + 3), 1e-15);
    ASSERT_RC(gpn_metrics_topk(s, l, 1, 10, 0, &f1, &pr, &re, &err), GPN_EINVAL);
}

static void test_sdm_table(void)
{
    struct gpn_err err = {0};
    /* 6 samples x 4 species; species 3 all absent (skipped), species 2 all present (skipped) */
    const float s[6 * 4] = {0.9f, 0.1f, 0.5f, 0.2f, 0.8f, 0.3f, 0.5f, 0.1f, 0.2f, 0.7f, 0.5f, 0.3f,
                            0.1f, 0.9f, 0.5f, 0.2f, 0.6f, 0.4f, 0.5f, 0.9f, 0.3f, 0.2f, 0.5f, 0.0f};
    const uint8_t l[6 * 4] = {1, 0, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 1, 0, 1, 1, 1, 0};
    struct gpn_sdm_metrics m;
    double per[4];
    ASSERT_OK(gpn_metrics_sdm(s, l, 6, 4, &m, per, &err), &err);
    ASSERT_EQ_INT(m.n_samples, 6);
    ASSERT_EQ_INT(m.n_species, 4);
    ASSERT_EQ_INT(m.n_species_auc, 2);
    ASSERT_TRUE(isnan(per[2]) && isnan(per[3]));
    ASSERT_NEAR(per[0], auc_brute(s + 0, l + 0, 6, 4), 1e-15);
    ASSERT_NEAR(per[1], auc_brute(s + 1, l + 1, 6, 4), 1e-15);
    ASSERT_NEAR(m.auc_macro, (per[0] + per[1]) / 2, 1e-15);
    ASSERT_NEAR(m.auc_micro, auc_brute(s, l, 24, 1), 1e-15);
    /* C = 4 < 25: every k is capped at 4, so recall is 1 everywhere a row has presences */
    ASSERT_NEAR(m.recall_at[0], 1.0, 0);
    ASSERT_NEAR(m.recall_at[2], 1.0, 0);
    double mean_present = (2 + 2 + 2 + 2 + 1 + 3) / 6.0;
    ASSERT_NEAR(m.mean_present, mean_present, 1e-15);
    ASSERT_NEAR(m.precision_at_25, mean_present / 4, 1e-15);
    double f1 = 0;
    const int np[6] = {2, 2, 2, 2, 1, 3};
    for (int i = 0; i < 6; i++) f1 += 2.0 * np[i] / (4 + np[i]);
    ASSERT_NEAR(m.f1_at_25, f1 / 6, 1e-15);

    char *js = gpn_metrics_to_json(&m);
    ASSERT_TRUE(js != NULL);
    ASSERT_STR_CONTAINS(js, "\"n_species_auc\":2");
    ASSERT_STR_CONTAINS(js, "\"recall_at_250\":1");
    free(js);
    char *tab = gpn_metrics_format_table(&m);
    ASSERT_TRUE(tab != NULL);
    ASSERT_STR_CONTAINS(tab, "AUC (macro)");
    ASSERT_STR_CONTAINS(tab, "Recall@250");
    free(tab);

    /* no species with both classes: macro AUC is NaN, JSON writes null */
    const uint8_t z[2 * 2] = {0, 1, 0, 1};
    const float s2[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    ASSERT_OK(gpn_metrics_sdm(s2, z, 2, 2, &m, NULL, &err), &err);
    ASSERT_EQ_INT(m.n_species_auc, 0);
    ASSERT_TRUE(isnan(m.auc_macro));
    js = gpn_metrics_to_json(&m);
    ASSERT_STR_CONTAINS(js, "\"auc_macro\":null");
    free(js);

    float bad[4] = {0.1f, NAN, 0.3f, 0.4f};
    const uint8_t lb[4] = {1, 0, 0, 1};
    ASSERT_RC(gpn_metrics_sdm(bad, lb, 2, 2, &m, NULL, &err), GPN_EINVAL);
    ASSERT_STR_CONTAINS(err.msg, "sample 0, species column 1");
}

/* A larger random case: the table's macro and micro AUC against the
 * pairwise definition. */
static void test_sdm_table_random(void)
{
    struct gpn_err err = {0};
    const int64_t n = 200;
    const int C = 37;
    float *s = malloc((size_t)n * C * sizeof *s);
    uint8_t *l = malloc((size_t)n * C);
    ASSERT_TRUE(s && l);
    for (int64_t i = 0; i < n * C; i++) {
        l[i] = urand() < 0.1;
        s[i] = (float)(urand() * 4 - 2 + (l[i] ? 0.8 : 0));
    }
    for (int64_t i = 0; i < n; i++) l[i * C + 3] = 0; /* one column without presences */
    struct gpn_sdm_metrics m;
    ASSERT_OK(gpn_metrics_sdm(s, l, n, C, &m, NULL, &err), &err);
    double sum = 0;
    int cnt = 0;
    for (int c = 0; c < C; c++) {
        if (c == 3) continue;
        sum += auc_brute(s + c, l + c, n, C);
        cnt++;
    }
    ASSERT_EQ_INT(m.n_species_auc, cnt);
    ASSERT_NEAR(m.auc_macro, sum / cnt, 1e-12);
    ASSERT_NEAR(m.auc_micro, auc_brute(s, l, n * C, 1), 1e-12);
    free(s);
    free(l);
}

static void test_correlations(void)
{
    const float x[] = {1, 2, 3, 4, 5}, y[] = {2, 4, 6, 8, 10}, cube[] = {1, 8, 27, 64, 125};
    ASSERT_NEAR(gpn_metrics_pearson(x, 1, y, 1, 5), 1.0, 1e-12);
    ASSERT_NEAR(gpn_metrics_spearman(x, 1, cube, 1, 5), 1.0, 1e-12);
    ASSERT_TRUE(gpn_metrics_pearson(x, 1, cube, 1, 5) < 0.99);
    /* scipy.stats.spearmanr([1,2,2,3],[1,3,2,4]) = 0.9486832980505138 (ties averaged) */
    const float a[] = {1, 2, 2, 3}, b[] = {1, 3, 2, 4};
    ASSERT_NEAR(gpn_metrics_spearman(a, 1, b, 1, 4), 0.9486832980505138, 1e-12);
    /* scipy.stats.pearsonr([1,2,3,4],[2,1,4,3]) = 0.6 */
    const float c[] = {1, 2, 3, 4}, d[] = {2, 1, 4, 3};
    ASSERT_NEAR(gpn_metrics_pearson(c, 1, d, 1, 4), 0.6, 1e-12);
    /* constant input and non-finite pairs */
    const float k[] = {3, 3, 3, 3};
    ASSERT_TRUE(isnan(gpn_metrics_pearson(c, 1, k, 1, 4)));
    const float e[] = {1, 2, NAN, 4}, f[] = {1, 2, 100, 4};
    ASSERT_NEAR(gpn_metrics_pearson(e, 1, f, 1, 4), 1.0, 1e-12);
}

static void test_labels_from_csr(void)
{
    struct gpn_err err = {0};
    const int64_t ptr[] = {0, 2, 2, 5};
    const int32_t idx[] = {0, 3, 1, 2, 7};
    const int64_t rows[] = {2, 0};
    uint8_t *y = NULL;
    int64_t skipped = -1;
    ASSERT_OK(gpn_metrics_labels_from_csr(ptr, idx, rows, 2, 4, &y, &skipped, &err), &err);
    const uint8_t expect[8] = {0, 1, 1, 0, 1, 0, 0, 1};
    ASSERT_TRUE(memcmp(y, expect, 8) == 0);
    ASSERT_EQ_INT(skipped, 1); /* column 7 is outside C = 4 */
    free(y);
}

int main(void)
{
    RUN(test_auc_hand_cases);
    RUN(test_auc_errors);
    RUN(test_auc_matches_pairwise);
    RUN(test_topk_matches_brute_force);
    RUN(test_topk_tie_break);
    RUN(test_sdm_table);
    RUN(test_sdm_table_random);
    RUN(test_correlations);
    RUN(test_labels_from_csr);
    return test_summary();
}
