/*
 * cmd_eval_sdm.c - `gpn eval-sdm`: GeoPlant metrics of a Deep-SDM on a
 * dataset's presence-absence surveys, optionally against the synthetic
 * ground truth (include/gpn/train.h, include/gpn/metrics.h; docs/sdm.md).
 *
 * A second mode, --metrics-only SCORES.npy LABELS.npy, computes the same
 * metric table for any score matrix (n, C) and label matrix (n, C); the
 * scikit-learn cross-check (tests/scripts/test_metrics_sklearn.py) uses it.
 * Output: a table on stdout, or one JSON object with --json. Exit status:
 * 0 ok, 1 runtime failure, 2 usage error.
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "gpn/dataset.h"
#include "gpn/metrics.h"
#include "gpn/train.h"
#include "gpn/util.h"

static const char CMD[] = "eval-sdm";

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: gpn eval-sdm --model MODEL --data DATASET [--truth DIR] [--split val|all]\n"
            "                    [--json] [--threads T] [--batch B] [--seed S]\n"
            "       gpn eval-sdm --metrics-only SCORES.npy LABELS.npy [--json]\n"
            "\n"
            "Evaluates a Deep-SDM on the presence-absence surveys of a dataset with the\n"
            "GeoPlant metrics: macro AUC (per species, species without both classes\n"
            "skipped), micro AUC, sample-averaged F1@25 and Precision@25, sample-averaged\n"
            "Recall@25/50/250 (definitions: docs/sdm.md).\n"
            "\n"
            "  --model MODEL        model file written by gpn train-sdm\n"
            "  --data DATASET       dataset folder written by gpn ingest\n"
            "  --split val|all      val (default): the surveys of the spatial blocks the model\n"
            "                       held out in training; all: every PA survey of DATASET\n"
            "  --truth DIR          synthetic region truth folder (REGION/truth): also compare\n"
            "                       predicted with true probabilities at the surveys\n"
            "  --json               print one JSON object instead of the table\n"
            "  --threads T          compute threads (default: all cores)\n"
            "  --batch B            inference batch (default 256)\n"
            "  --seed S             seed of the truth-sampled presences (default 1)\n"
            "  --metrics-only S L   metrics of scores S (float32/float64 .npy, shape (n, C))\n"
            "                       against labels L (.npy of the same shape, nonzero =\n"
            "                       present); no model needed\n"
            "  -h/--help, -v/--verbose, -q/--quiet\n");
}

static void jnum(const char *key, double v, int comma)
{
    if (isfinite(v)) printf("\"%s\":%.17g", key, v);
    else printf("\"%s\":null", key);
    if (comma) printf(",");
}

static int metrics_only(const char *scores_path, const char *labels_path, int json)
{
    struct gpn_err err = {0};
    struct gpn_npy s = {0}, l = {0};
    float *sc = NULL;
    uint8_t *lb = NULL;
    int rc = 1;
    if (gpn_npy_map(scores_path, &s, &err) || gpn_npy_map(labels_path, &l, &err)) {
        app_fail(CMD, &err);
        goto done;
    }
    if (s.ndim != 2 || l.ndim != 2 || s.shape[0] != l.shape[0] || s.shape[1] != l.shape[1] || s.shape[0] < 1 ||
        s.shape[1] < 1 || s.shape[1] > 10000000) {
        fprintf(stderr, "gpn %s: scores and labels must be non-empty 2-D arrays of the same shape\n", CMD);
        goto done;
    }
    if (s.dtype != GPN_NPY_F4 && s.dtype != GPN_NPY_F8) {
        fprintf(stderr, "gpn %s: %s: scores must be float32 or float64\n", CMD, scores_path);
        goto done;
    }
    int64_t n = s.shape[0], N = n * s.shape[1];
    int C = (int)s.shape[1];
    sc = malloc((size_t)N * sizeof *sc);
    lb = malloc((size_t)N);
    if (!sc || !lb) {
        fprintf(stderr, "gpn %s: out of memory\n", CMD);
        goto done;
    }
    for (int64_t i = 0; i < N; i++) {
        sc[i] = s.dtype == GPN_NPY_F4 ? ((const float *)s.data)[i] : (float)((const double *)s.data)[i];
        switch (l.dtype) {
        case GPN_NPY_U1: lb[i] = ((const uint8_t *)l.data)[i] != 0; break;
        case GPN_NPY_I4: lb[i] = ((const int32_t *)l.data)[i] != 0; break;
        case GPN_NPY_I8: lb[i] = ((const int64_t *)l.data)[i] != 0; break;
        case GPN_NPY_F4: lb[i] = ((const float *)l.data)[i] != 0; break;
        case GPN_NPY_F8: lb[i] = ((const double *)l.data)[i] != 0; break;
        }
    }
    struct gpn_sdm_metrics m;
    if (gpn_metrics_sdm(sc, lb, n, C, &m, NULL, &err)) {
        app_fail(CMD, &err);
        goto done;
    }
    char *txt = json ? gpn_metrics_to_json(&m) : gpn_metrics_format_table(&m);
    if (!txt) {
        fprintf(stderr, "gpn %s: out of memory\n", CMD);
        goto done;
    }
    fputs(txt, stdout);
    if (json) putchar('\n');
    free(txt);
    rc = 0;
done:
    free(sc);
    free(lb);
    gpn_npy_unmap(&s);
    gpn_npy_unmap(&l);
    return rc;
}

int gpn_cmd_eval_sdm(int argc, char **argv)
{
    enum { O_MODEL = 256, O_DATA, O_TRUTH, O_SPLIT, O_JSON, O_THREADS, O_BATCH, O_SEED, O_MONLY };
    static const struct option lo[] = {
        {"model", required_argument, 0, O_MODEL},
        {"data", required_argument, 0, O_DATA},
        {"truth", required_argument, 0, O_TRUTH},
        {"split", required_argument, 0, O_SPLIT},
        {"json", no_argument, 0, O_JSON},
        {"threads", required_argument, 0, O_THREADS},
        {"batch", required_argument, 0, O_BATCH},
        {"seed", required_argument, 0, O_SEED},
        {"metrics-only", no_argument, 0, O_MONLY},
        APP_COMMON_LONGOPTS,
        {0, 0, 0, 0},
    };
    struct gpn_eval_opts o;
    memset(&o, 0, sizeof o);
    o.split = GPN_EVAL_VAL;
    o.truth_seed = 1;
    o.progress = 1;
    int json = 0, monly = 0;
    app_getopt_reset();
    int opt;
    struct gpn_err e = {0};
    while ((opt = getopt_long(argc, argv, "hvq", lo, NULL)) != -1) {
        switch (opt) {
        case 'h': usage(stdout); return 0;
        case O_MODEL: o.model = optarg; break;
        case O_DATA: o.data = optarg; break;
        case O_TRUTH: o.truth = optarg; break;
        case O_SPLIT:
            if (!strcmp(optarg, "val")) o.split = GPN_EVAL_VAL;
            else if (!strcmp(optarg, "all")) o.split = GPN_EVAL_ALL;
            else return app_usage_error(CMD, "--split: expected val or all, found '%s'", optarg);
            break;
        case O_JSON: json = 1; break;
        case O_MONLY: monly = 1; break;
        case O_THREADS:
            if (gpn_parse_int(optarg, 1, 1024, &o.threads, "--threads", &e)) return app_usage_error(CMD, "%s", e.msg);
            break;
        case O_BATCH:
            if (gpn_parse_int(optarg, 1, 65536, &o.batch, "--batch", &e)) return app_usage_error(CMD, "%s", e.msg);
            break;
        case O_SEED: {
            int64_t s;
            if (gpn_parse_i64(optarg, 0, INT64_MAX, &s, "--seed", &e)) return app_usage_error(CMD, "%s", e.msg);
            o.truth_seed = (uint64_t)s;
            break;
        }
        default:
            if (app_common_option(opt)) break;
            return app_usage_error(CMD, "unknown option");
        }
    }
    if (monly) {
        if (argc - optind != 2) return app_usage_error(CMD, "--metrics-only needs SCORES.npy LABELS.npy");
        if (o.model || o.data || o.truth)
            return app_usage_error(CMD, "--metrics-only takes no --model, --data or --truth");
        return metrics_only(argv[optind], argv[optind + 1], json);
    }
    if (optind < argc) return app_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (!o.model) return app_usage_error(CMD, "--model MODEL is required");
    if (!o.data) return app_usage_error(CMD, "--data DATASET is required");
    if (o.threads > 0) omp_set_num_threads(o.threads);
    if (json) o.progress = 0;

    struct gpn_err err = {0};
    struct gpn_eval_result r;
    if (gpn_sdm_eval(&o, &r, &err)) return app_fail(CMD, &err);
    const char *split = r.split == GPN_EVAL_ALL ? "all" : "val";
    if (json) {
        char *mj = gpn_metrics_to_json(&r.m);
        if (!mj) return app_fail(CMD, &err);
        printf("{\"model\":\"");
        for (const char *p = o.model; *p; p++) {
            if (*p == '"' || *p == '\\') putchar('\\');
            putchar(*p);
        }
        printf("\",\"split\":\"%s\",\"unknown_labels\":%lld,\"metrics\":%s", split, (long long)r.unknown_labels, mj);
        free(mj);
        if (r.has_truth) {
            const struct gpn_eval_truth *t = &r.truth;
            printf(",\"truth\":{\"n_species\":%d,\"n_species_auc\":%d,", t->n_species, t->n_species_auc);
            jnum("pearson_mean", t->pearson_mean, 1);
            jnum("spearman_mean", t->spearman_mean, 1);
            jnum("pearson_pooled", t->pearson_pooled, 1);
            jnum("mae", t->mae, 1);
            jnum("auc_truth_draws", t->auc_truth_draws, 1);
            jnum("auc_oracle", t->auc_oracle, 0);
            printf("}");
        }
        printf("}\n");
        return 0;
    }
    char *tab = gpn_metrics_format_table(&r.m);
    if (!tab) return app_fail(CMD, &err);
    printf("%s (%s surveys of %s)\n%s", o.model, split, o.data, tab);
    free(tab);
    if (r.has_truth) {
        const struct gpn_eval_truth *t = &r.truth;
        printf("Against the synthetic ground truth (%d species with a truth raster):\n", t->n_species);
        printf("  %-34s %8.4f\n", "Pearson r, mean over species", t->pearson_mean);
        printf("  %-34s %8.4f\n", "Spearman rho, mean over species", t->spearman_mean);
        printf("  %-34s %8.4f\n", "Pearson r, all pairs", t->pearson_pooled);
        printf("  %-34s %8.4f\n", "mean |p - p_true|", t->mae);
        printf("  %-34s %8.4f\n", "AUC vs truth-drawn presences", t->auc_truth_draws);
        printf("  %-34s %8.4f\n", "AUC of the truth itself (ceiling)", t->auc_oracle);
    }
    return 0;
}
