/*
 * eval.c - evaluating a Deep-SDM on a dataset (`gpn eval-sdm`, train.h).
 *
 * Steps: load the model for inference (BN folded), check that its inputs
 * match the dataset's modalities, pick the surveys (PA samples of the
 * model's held-out spatial blocks, or all PA samples), predict logits batch
 * by batch, map dataset labels to model columns by speciesId, and compute
 * the GeoPlant metrics (metrics.h) on the logits.
 *
 * Ground truth (--truth DIR, the synthetic region's truth/ folder): for
 * every model species with DIR/species/<speciesId>.tif, the true
 * probability is read at each evaluated survey (the 50 m pixel containing
 * the survey's EPSG:3035 point; only the window spanning the surveys is
 * read). Float rasters hold probabilities; integer rasters hold p x K
 * with K given at the end of the band description ("presence probability
 * x 250", as gpn synth writes them), else K = 255. Nodata and points
 * outside the raster are skipped. Reported:
 * per-species Pearson and Spearman correlation between predicted and true
 * probability (averaged over species), pooled Pearson and mean absolute
 * error over all pairs, the macro AUC of the predictions against presences
 * drawn from the truth (Bernoulli(p_true), counter-based draws keyed by
 * truth_seed, species and survey), and the macro AUC of the truth itself
 * against the observed survey labels: the score a perfect model of the
 * probabilities would get, the ceiling for the observed-label AUC.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gpn/log.h"
#include "gpn/metrics.h"
#include "gpn/progress.h"
#include "gpn/raster.h"
#include "gpn/sdm.h"
#include "gpn/train.h"
#include "gpn/util.h"
#include "sdm_priv.h"

/* ==== prediction ========================================================= */

int gpn_sdm_predict_rows(struct gpn_sdm *m, const struct gpn_dataset *d, const int64_t *rows, int64_t n,
                         int batch, float *logits, struct gpn_progress *progress, struct gpn_err *err)
{
    const struct gpn_sdm_config *cfg = gpn_sdm_get_config(m);
    if (batch < 1 || batch > gpn_sdm_max_batch(m)) batch = gpn_sdm_max_batch(m);
    const size_t s2n = (size_t)d->s2_c * d->s2_h * d->s2_w, lsn = (size_t)d->ls_c * d->ls_q * d->ls_y,
                 cln = (size_t)d->cl_c * d->cl_y * d->cl_m;
    int use_s2 = cfg->use[GPN_SDM_SENTINEL], use_ls = cfg->use[GPN_SDM_LANDSAT], use_cl = cfg->use[GPN_SDM_CLIMATE];
    uint8_t *s2 = use_s2 ? malloc((size_t)batch * s2n) : NULL;
    float *ls = use_ls ? malloc((size_t)batch * lsn * sizeof *ls) : NULL;
    float *cl = use_cl ? malloc((size_t)batch * cln * sizeof *cl) : NULL;
    int rc = 0;
    if ((use_s2 && !s2) || (use_ls && !ls) || (use_cl && !cl)) {
        rc = gpn_err_set(err, GPN_ENOMEM, "gpn_sdm_predict_rows: out of memory");
        goto done;
    }
    size_t S = (size_t)cfg->n_species;
    for (int64_t b0 = 0; b0 < n; b0 += batch) {
        int B = (int)(n - b0 < batch ? n - b0 : batch);
        for (int k = 0; k < B; k++) {
            int64_t i = rows ? rows[b0 + k] : b0 + k;
            if (s2) memcpy(s2 + (size_t)k * s2n, d->sentinel + (size_t)i * s2n, s2n);
            if (ls) memcpy(ls + (size_t)k * lsn, d->landsat + (size_t)i * lsn, lsn * sizeof *ls);
            if (cl) memcpy(cl + (size_t)k * cln, d->climate + (size_t)i * cln, cln * sizeof *cl);
        }
        rc = gpn_sdm_forward(m, B, s2, ls, cl, logits + (size_t)b0 * S, err);
        if (rc) goto done;
        if (progress) gpn_progress_add(progress, B);
    }
done:
    free(s2);
    free(ls);
    free(cl);
    return rc;
}

/* ==== input checks ======================================================= */

/* GPN_EINVAL unless every modality the model uses is in d with its shape. */
static int check_inputs(const struct gpn_sdm_config *cfg, const struct gpn_dataset *d, struct gpn_err *err)
{
    static const char *name[3] = {"sentinel", "landsat", "climate"};
    int have[3][3] = {{d->s2_c, d->s2_h, d->s2_w}, {d->ls_c, d->ls_q, d->ls_y}, {d->cl_c, d->cl_y, d->cl_m}};
    for (int md = 0; md < 3; md++) {
        if (!cfg->use[md]) continue;
        if (have[md][0] != cfg->in_c[md] || have[md][1] != cfg->in_h[md] || have[md][2] != cfg->in_w[md])
            return gpn_err_set(err, GPN_EINVAL, "the model takes %s inputs of %dx%dx%d but the dataset has %dx%dx%d",
                               name[md], cfg->in_c[md], cfg->in_h[md], cfg->in_w[md], have[md][0], have[md][1],
                               have[md][2]);
    }
    return 0;
}

/* ==== ground truth ======================================================= */

static float sigmoidf_(float x) { return 1.0f / (1.0f + expf(-x)); }

/* Reads the truth of one species at the n survey points into t (n), NaN
 * where unknown. Returns 0, GPN_ENOTFOUND (no raster) or an error. */
static int read_truth(const char *path, const struct gpn_dataset *d, const int64_t *rows, int64_t n, float *t,
                      struct gpn_err *err)
{
    if (!gpn_path_exists(path)) return GPN_ENOTFOUND;
    struct gpn_raster *r = NULL;
    float *buf = NULL;
    int64_t *pc = malloc((size_t)n * 2 * sizeof *pc);
    if (!pc) return gpn_err_set(err, GPN_ENOMEM, "read_truth: out of memory");
    int rc = gpn_raster_open(path, &r, err);
    if (rc) goto done;
    struct gpn_raster_info info;
    if ((rc = gpn_raster_get_info(r, &info, err))) goto done;
    if (info.epsg && info.epsg != 3035) {
        rc = gpn_err_set(err, GPN_EFORMAT, "%s: truth raster is in EPSG:%d, expected EPSG:3035", path, info.epsg);
        goto done;
    }
    int64_t c0 = INT64_MAX, c1 = -1, r0 = INT64_MAX, r1 = -1;
    for (int64_t k = 0; k < n; k++) {
        const struct gpn_sample_meta *sm = &d->meta[rows[k]];
        double fc = floor((sm->x - info.gt[0]) / info.gt[1]), fr = floor((sm->y - info.gt[3]) / info.gt[5]);
        int64_t col = -1, row = -1;
        if (fc >= 0 && fc < info.width && fr >= 0 && fr < info.height) {
            col = (int64_t)fc;
            row = (int64_t)fr;
            if (col < c0) c0 = col;
            if (col > c1) c1 = col;
            if (row < r0) r0 = row;
            if (row > r1) r1 = row;
        }
        pc[2 * k] = col;
        pc[2 * k + 1] = row;
    }
    for (int64_t k = 0; k < n; k++) t[k] = NAN;
    if (c1 < 0) goto done;
    int w = (int)(c1 - c0 + 1), h = (int)(r1 - r0 + 1);
    buf = malloc((size_t)w * (size_t)h * sizeof *buf);
    if (!buf) {
        rc = gpn_err_set(err, GPN_ENOMEM, "read_truth: out of memory (%dx%d window)", w, h);
        goto done;
    }
    if ((rc = gpn_raster_read(r, 1, 1, (int)c0, (int)r0, w, h, GPN_DT_F32, buf, err))) goto done;
    float scale = 1.0f;
    if (info.dtype != GPN_DT_F32 && info.dtype != GPN_DT_F64) {
        /* integer rasters store p x K, K named at the end of the band
         * description ("... presence probability x 250"); else K = 255 */
        const char *desc = gpn_raster_band_description(r, 1), *x = desc ? strrchr(desc, 'x') : NULL;
        double k = 0;
        char *end = NULL;
        if (x && x > desc && x[-1] == ' ') k = strtod(x + 1, &end);
        scale = k > 0 && end && *end == 0 ? (float)(1.0 / k) : 1.0f / 255.0f;
    }
    for (int64_t k = 0; k < n; k++) {
        if (pc[2 * k] < 0) continue;
        float v = buf[(size_t)(pc[2 * k + 1] - r0) * (size_t)w + (size_t)(pc[2 * k] - c0)];
        if (info.has_nodata && v == (float)info.nodata) continue;
        if (!isfinite(v)) continue;
        t[k] = v * scale;
    }
done:
    free(buf);
    free(pc);
    gpn_raster_close(r);
    return rc;
}

static int eval_truth(const struct gpn_eval_opts *o, struct gpn_sdm *m, const struct gpn_dataset *d,
                      const int64_t *rows, int64_t n, const float *logits, const uint8_t *labels,
                      struct gpn_eval_truth *out, struct gpn_err *err)
{
    const int S = gpn_sdm_get_config(m)->n_species;
    const int32_t *sid = gpn_sdm_get_species(m);
    memset(out, 0, sizeof *out);
    float *t = malloc((size_t)n * sizeof *t);
    float *pt = malloc((size_t)n * sizeof *pt);
    float *tt = malloc((size_t)n * sizeof *tt);
    uint8_t *yl = malloc((size_t)n);
    uint8_t *yd = malloc((size_t)n);
    int rc = 0;
    if (!t || !pt || !tt || !yl || !yd) {
        rc = gpn_err_set(err, GPN_ENOMEM, "eval_truth: out of memory");
        goto done;
    }
    double sum_p = 0, sum_s = 0, sum_auc_d = 0, sum_auc_o = 0, sae = 0;
    int np = 0, ns = 0, nad = 0, nao = 0;
    int64_t npairs = 0;
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
    struct gpn_progress prog;
    gpn_progress_init(&prog, "truth", S, "species");
    if (!o->progress) prog.enabled = 0;
    for (int s = 0; s < S; s++) {
        gpn_progress_add(&prog, 1);
        char path[4096];
        snprintf(path, sizeof path, "%s/species/%d.tif", o->truth, (int)sid[s]);
        int r = read_truth(path, d, rows, n, t, err);
        if (r == GPN_ENOTFOUND) continue;
        if (r) {
            rc = r;
            goto done;
        }
        int64_t k2 = 0;
        for (int64_t k = 0; k < n; k++) {
            if (isnan(t[k])) continue;
            float pr = sigmoidf_(logits[(size_t)k * S + s]);
            pt[k2] = pr;
            tt[k2] = t[k];
            yl[k2] = labels[(size_t)k * S + s];
            struct gpn__rng g = gpn__rng_keyed(o->truth_seed, 0x7472757468ull, (uint64_t)sid[s], (uint64_t)rows[k]);
            double u = (double)(gpn__rng_next(&g) >> 11) * 0x1.0p-53;
            yd[k2] = u < t[k];
            double a = pr, b = t[k];
            sx += a;
            sy += b;
            sxx += a * a;
            syy += b * b;
            sxy += a * b;
            sae += fabs(a - b);
            k2++;
        }
        out->n_species++;
        npairs += k2;
        double c = gpn_metrics_pearson(pt, 1, tt, 1, k2);
        if (isfinite(c)) {
            sum_p += c;
            np++;
        }
        c = gpn_metrics_spearman(pt, 1, tt, 1, k2);
        if (isfinite(c)) {
            sum_s += c;
            ns++;
        }
        double auc;
        if (gpn_metrics_auc(pt, yd, k2, 1, &auc, NULL) == 0) {
            sum_auc_d += auc;
            nad++;
        }
        if (gpn_metrics_auc(tt, yl, k2, 1, &auc, NULL) == 0) {
            sum_auc_o += auc;
            nao++;
        }
    }
    gpn_progress_finish(&prog);
    out->n_species_auc = nad;
    out->pearson_mean = np ? sum_p / np : NAN;
    out->spearman_mean = ns ? sum_s / ns : NAN;
    out->auc_truth_draws = nad ? sum_auc_d / nad : NAN;
    out->auc_oracle = nao ? sum_auc_o / nao : NAN;
    out->mae = npairs ? sae / (double)npairs : NAN;
    if (npairs > 1) {
        double N = (double)npairs, cov = sxy - sx * sy / N, vx = sxx - sx * sx / N, vy = syy - sy * sy / N;
        out->pearson_pooled = vx > 0 && vy > 0 ? cov / sqrt(vx * vy) : NAN;
    } else {
        out->pearson_pooled = NAN;
    }
    if (out->n_species == 0)
        gpn_log_warn("eval-sdm: no truth raster found under %s/species/ for the model's species", o->truth);
done:
    free(t);
    free(pt);
    free(tt);
    free(yl);
    free(yd);
    return rc;
}

/* ==== evaluation ========================================================= */

struct id_col {
    int32_t id;
    int col;
};

static int cmp_id_col(const void *a, const void *b)
{
    const struct id_col *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Reads the validation split of the model's trainer metadata. */
static int model_split(struct gpn_sdm *m, double *val_frac, uint64_t *seed)
{
    *val_frac = 0;
    *seed = 0;
    const char *meta = gpn_sdm_get_meta(m);
    if (!meta) return -1;
    json_t *root = json_loads(meta, 0, NULL);
    if (!root) return -1;
    json_t *hp = json_object_get(root, "hparams");
    json_t *vf = hp ? json_object_get(hp, "val_frac") : NULL, *sd = hp ? json_object_get(hp, "seed") : NULL;
    int rc = -1;
    if (json_is_number(vf) && json_is_integer(sd)) {
        *val_frac = json_number_value(vf);
        *seed = (uint64_t)json_integer_value(sd);
        rc = 0;
    }
    json_decref(root);
    return rc;
}

int gpn_sdm_eval(const struct gpn_eval_opts *o, struct gpn_eval_result *r, struct gpn_err *err)
{
    memset(r, 0, sizeof *r);
    struct gpn_dataset *d = NULL;
    struct gpn_sdm *m = NULL;
    int64_t *rows = NULL;
    uint8_t *is_val = NULL, *labels = NULL;
    float *logits = NULL;
    struct id_col *ic = NULL;
    int *map = NULL;
    int batch = o->batch > 0 ? o->batch : 256;
    int rc = gpn_sdm_load(o->model, batch, 0, &m, NULL, err);
    if (rc) goto done;
    if ((rc = gpn_dataset_open(o->data, &d, err))) goto done;
    const struct gpn_sdm_config *cfg = gpn_sdm_get_config(m);
    if ((rc = check_inputs(cfg, d, err))) goto done;
    const int S = cfg->n_species;

    /* the surveys */
    r->split = o->split;
    if (!(is_val = calloc((size_t)(d->n ? d->n : 1), 1)) || !(rows = malloc((size_t)(d->n ? d->n : 1) * sizeof *rows))) {
        rc = gpn_err_set(err, GPN_ENOMEM, "gpn_sdm_eval: out of memory");
        goto done;
    }
    if (o->split == GPN_EVAL_VAL) {
        double vf;
        uint64_t seed;
        if (model_split(m, &vf, &seed) != 0 || !(vf > 0)) {
            gpn_log_warn("eval-sdm: the model records no validation split; evaluating on all PA surveys");
            r->split = GPN_EVAL_ALL;
        } else if ((rc = gpn_train_split(d, vf, seed, is_val, err))) {
            goto done;
        }
    }
    int64_t n = 0;
    for (int64_t i = 0; i < d->n; i++)
        if (d->meta[i].kind == GPN_SAMPLE_PA && (r->split == GPN_EVAL_ALL || is_val[i])) rows[n++] = i;
    if (n == 0) {
        rc = gpn_err_set(err, GPN_EINVAL, "gpn_sdm_eval: %s: no presence-absence surveys to evaluate (%s split)",
                         o->data, r->split == GPN_EVAL_ALL ? "all" : "validation");
        goto done;
    }

    /* dataset label index -> model column, by speciesId */
    const int32_t *sid = gpn_sdm_get_species(m);
    ic = malloc((size_t)S * sizeof *ic);
    map = malloc((size_t)(d->n_species ? d->n_species : 1) * sizeof *map);
    if (!ic || !map) {
        rc = gpn_err_set(err, GPN_ENOMEM, "gpn_sdm_eval: out of memory");
        goto done;
    }
    for (int s = 0; s < S; s++) {
        ic[s].id = sid[s];
        ic[s].col = s;
    }
    qsort(ic, (size_t)S, sizeof *ic, cmp_id_col);
    for (int j = 0; j < d->n_species; j++) {
        struct id_col key = {d->species_id[j], 0};
        struct id_col *hit = bsearch(&key, ic, (size_t)S, sizeof *ic, cmp_id_col);
        map[j] = hit ? hit->col : -1;
    }
    labels = calloc((size_t)n * (size_t)S, 1);
    logits = malloc((size_t)n * (size_t)S * sizeof *logits);
    if (!labels || !logits) {
        rc = gpn_err_set(err, GPN_ENOMEM, "gpn_sdm_eval: out of memory (%lld x %d predictions)", (long long)n, S);
        goto done;
    }
    for (int64_t k = 0; k < n; k++)
        for (int64_t p = d->label_ptr[rows[k]]; p < d->label_ptr[rows[k] + 1]; p++) {
            int c = map[d->label_idx[p]];
            if (c < 0) r->unknown_labels++;
            else labels[(size_t)k * S + c] = 1;
        }
    if (r->unknown_labels)
        gpn_log_warn("eval-sdm: %lld presences of species the model does not know were ignored",
                     (long long)r->unknown_labels);

    struct gpn_progress prog;
    gpn_progress_init(&prog, "predict", n, "surveys");
    if (!o->progress) prog.enabled = 0;
    rc = gpn_sdm_predict_rows(m, d, rows, n, batch, logits, &prog, err);
    gpn_progress_finish(&prog);
    if (rc) goto done;
    if ((rc = gpn_metrics_sdm(logits, labels, n, S, &r->m, NULL, err))) goto done;
    if (o->truth) {
        if ((rc = eval_truth(o, m, d, rows, n, logits, labels, &r->truth, err))) goto done;
        r->has_truth = 1;
    }
done:
    free(rows);
    free(is_val);
    free(labels);
    free(logits);
    free(ic);
    free(map);
    gpn_sdm_destroy(m);
    gpn_dataset_close(d);
    return rc;
}
