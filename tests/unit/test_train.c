/*
 * test_train.c - the Deep-SDM trainer (src/sdm/train.c, sampler.c, eval.c,
 * plot.c) on tiny synthetic datasets written with the dataset writer:
 * the loss decreases and validation AUC rises on learnable data, a stopped
 * and resumed run ends with the same weights as an uninterrupted one, early
 * stopping fires on unlearnable data, the spatial-block split, the
 * presence-only target-group background, hyper-parameter resolution, the
 * run-folder files and the PNG plot.
 *
 * Data: each sample has a latent vector z (6 values); its Landsat channels
 * are z plus noise, its climate channels a mix of z plus noise; species s is
 * present with probability sigmoid(3 w_s . z - 1.5). Positions lie on a
 * 60 x 60 km square in EPSG:3035, blocks are 10 km cells.
 */
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "../../src/sdm/sdm_priv.h"
#include "gpn/dataset.h"
#include "gpn/plot.h"
#include "gpn/raster.h"
#include "gpn/sdm.h"
#include "gpn/train.h"
#include "gpn/util.h"
#include "test.h"

#define NS 12 /* species */

static double urand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (double)(*s >> 11) * 0x1.0p-53;
}

static double nrand(uint64_t *s)
{
    double u = urand(s) + 1e-12, v = urand(s);
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* Writes a dataset of n_pa PA and n_po PO samples into dir. learnable 0:
 * labels are independent of the inputs. */
static int write_dataset(const char *dir, int n_pa, int n_po, int learnable, uint64_t seed, struct gpn_err *err)
{
    int32_t ids[NS];
    for (int s = 0; s < NS; s++) ids[s] = 1000 + 7 * s;
    struct gpn_dataset_spec spec = {.n_species = NS, .ls_c = 6, .ls_q = 4, .ls_y = 21, .cl_c = 4, .cl_y = 19,
                                    .cl_m = 12, .species_id = ids};
    struct gpn_dataset_writer *w = NULL;
    int rc = gpn_dataset_writer_create(dir, &spec, &w, err);
    if (rc) return rc;
    uint64_t rs = seed * 2654435761u + 1;
    double W[NS][6];
    for (int s = 0; s < NS; s++)
        for (int k = 0; k < 6; k++) W[s][k] = nrand(&rs) * 0.8;
    float ls[6 * 4 * 21], cl[4 * 19 * 12];
    for (int i = 0; i < n_pa + n_po; i++) {
        double z[6];
        for (int k = 0; k < 6; k++) z[k] = nrand(&rs);
        for (int c = 0; c < 6; c++)
            for (int t = 0; t < 84; t++) ls[c * 84 + t] = (float)(100 + 20 * z[c] + 5 * nrand(&rs));
        for (int c = 0; c < 4; c++)
            for (int t = 0; t < 228; t++) cl[c * 228 + t] = (float)(z[c] - 0.5 * z[c + 2] + 0.3 * nrand(&rs));
        int32_t lab[NS];
        size_t nl = 0;
        double p[NS];
        for (int s = 0; s < NS; s++) {
            double a = 0;
            for (int k = 0; k < 6; k++) a += W[s][k] * z[k];
            p[s] = learnable ? 1 / (1 + exp(-(3 * a - 1.5))) : 0.25;
        }
        if (i < n_pa) {
            for (int s = 0; s < NS; s++)
                if (urand(&rs) < p[s]) lab[nl++] = s;
        } else {
            /* a PO visit records one or two of the likely species */
            int first = -1;
            for (int tries = 0; tries < 50 && nl < 2; tries++) {
                int s = (int)(urand(&rs) * NS);
                if (s != first && urand(&rs) < p[s]) {
                    lab[nl++] = s;
                    first = s;
                }
            }
            if (nl == 0) lab[nl++] = (int)(urand(&rs) * NS);
            if (nl == 2 && lab[0] > lab[1]) {
                int32_t t = lab[0];
                lab[0] = lab[1];
                lab[1] = t;
            }
        }
        struct gpn_sample_meta m = {0};
        m.survey_id = i + 1;
        m.kind = i < n_pa ? GPN_SAMPLE_PA : GPN_SAMPLE_PO;
        m.x = 3800000 + urand(&rs) * 60000;
        m.y = 2275000 + urand(&rs) * 60000;
        m.lon = 4;
        m.lat = 43.5;
        m.year = 2020;
        m.block = (int32_t)(floor((m.x - 3800000) / 10000) * 10 + floor((m.y - 2275000) / 10000));
        if ((rc = gpn_dataset_writer_add(w, &m, NULL, lab, nl, NULL, ls, cl, err))) {
            gpn_dataset_writer_abort(w);
            return rc;
        }
    }
    return gpn_dataset_writer_commit(w, err);
}

/* A small model config with a "train" object. */
static const char *write_config(const char *dir, const char *train_json)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/tiny.json", dir);
    char text[1024];
    snprintf(text, sizeof text,
             "{\"name\":\"tiny\",\"widths\":[8,16],\"pool\":[0,1],\"modalities\":[\"landsat\",\"climate\"],"
             "\"train\":%s}",
             train_json);
    struct gpn_err err = {0};
    if (gpn_file_write_atomic(path, text, strlen(text), &err)) return NULL;
    return path;
}

static void init_opts(struct gpn_train_opts *o, const char *data, const char *out, const char *config)
{
    gpn_train_opts_init(o);
    o->data = data;
    o->out = out;
    o->config = config;
    o->threads = 2;
}

static int file_starts_with(const char *path, const void *magic, size_t n)
{
    char *buf = NULL;
    size_t len = 0;
    if (gpn_file_read(path, &buf, &len, NULL)) return 0;
    int ok = len >= n && !memcmp(buf, magic, n);
    free(buf);
    return ok;
}

static int count_lines(const char *path)
{
    char *buf = NULL;
    size_t len = 0;
    if (gpn_file_read(path, &buf, &len, NULL)) return -1;
    int n = 0;
    for (size_t i = 0; i < len; i++) n += buf[i] == '\n';
    free(buf);
    return n;
}

/* ==== training ============================================================ */

static void test_loss_decreases_and_files(void)
{
    struct gpn_err err = {0};
    char data[1024], out[1024], p[1200];
    snprintf(data, sizeof data, "%s/ds", test_tmpdir());
    snprintf(out, sizeof out, "%s/model.gpnm", test_tmpdir());
    ASSERT_OK(write_dataset(data, 400, 120, 1, 7, &err), &err);
    const char *cfg = write_config(test_tmpdir(), "{\"epochs\":6,\"batch\":32,\"lr\":0.006,\"patience\":0,"
                                                  "\"val_frac\":0.25,\"po_background\":4}");
    ASSERT_TRUE(cfg != NULL);
    struct gpn_train_opts o;
    init_opts(&o, data, out, cfg);
    struct gpn_train_result r;
    ASSERT_OK(gpn_sdm_train(&o, &r, &err), &err);
    ASSERT_EQ_INT(r.epochs_done, 6);
    ASSERT_TRUE(r.finished);
    ASSERT_FALSE(r.stopped_early);
    ASSERT_TRUE(r.n_val > 0 && r.n_train > 0);
    ASSERT_TRUE(r.samples_per_s > 0);

    /* the loss of the last epoch is well below that of the first */
    snprintf(p, sizeof p, "%s.run/metrics.csv", out);
    ASSERT_EQ_INT(count_lines(p), 7);
    FILE *f = fopen(p, "r");
    ASSERT_TRUE(f != NULL);
    char line[512];
    double first = NAN, last = NAN, auc_last = NAN;
    int ep;
    double tl, vl, am, ai;
    ASSERT_TRUE(fgets(line, sizeof line, f) != NULL); /* header */
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%d,%lf,%lf,%lf,%lf", &ep, &tl, &vl, &am, &ai) == 5) {
            if (ep == 1) first = tl;
            last = tl;
            auc_last = am;
        }
    fclose(f);
    fprintf(stderr, "  train loss %.4f -> %.4f, val AUC %.4f, best %.4f at epoch %d\n", first, last, auc_last,
            r.best_val_auc, r.best_epoch);
    ASSERT_TRUE(last < 0.8 * first);
    ASSERT_TRUE(r.best_val_auc > 0.75);

    /* run folder */
    const char *files[] = {"checkpoint.gpnm", "train.log", "loss.png"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s.run/%s", out, files[i]);
        ASSERT_TRUE(gpn_path_exists(p));
    }
    snprintf(p, sizeof p, "%s.run/loss.png", out);
    ASSERT_TRUE(file_starts_with(p, "\x89PNG\r\n\x1a\n", 8));
    snprintf(p, sizeof p, "%s.run/train.log", out);
    ASSERT_TRUE(count_lines(p) >= 8); /* 2 set-up lines, one per epoch, the end */

    /* the model file: species ids, config adapted to the data, trainer metadata */
    struct gpn_sdm *m = NULL;
    ASSERT_OK(gpn_sdm_load(out, 16, 0, &m, NULL, &err), &err);
    const struct gpn_sdm_config *c = gpn_sdm_get_config(m);
    int ok = c->n_species == NS && !c->use[GPN_SDM_SENTINEL] && gpn_sdm_get_species(m)[3] == 1021 &&
             gpn_sdm_get_meta(m) && strstr(gpn_sdm_get_meta(m), "\"val_frac\":0.25");
    const float *mean, *std;
    gpn_sdm_get_norm(m, GPN_SDM_LANDSAT, &mean, &std);
    ok = ok && fabsf(mean[0] - 100) < 3 && fabsf(std[0] - 20.6f) < 2;
    gpn_sdm_destroy(m);
    ASSERT_TRUE(ok);

    /* eval-sdm on the same split reproduces the validation AUC of the best epoch */
    struct gpn_eval_opts eo = {.model = out, .data = data, .split = GPN_EVAL_VAL, .batch = 64};
    struct gpn_eval_result er;
    ASSERT_OK(gpn_sdm_eval(&eo, &er, &err), &err);
    ASSERT_EQ_INT(er.m.n_samples, r.n_val);
    ASSERT_NEAR(er.m.auc_macro, r.best_val_auc, 1e-4);
    /* 12 species: the top 25 is capped at all 12 */
    ASSERT_NEAR(er.m.precision_at_25, er.m.mean_present / NS, 1e-12);
    eo.split = GPN_EVAL_ALL;
    ASSERT_OK(gpn_sdm_eval(&eo, &er, &err), &err);
    ASSERT_EQ_INT(er.m.n_samples, 400);

    /* ground truth: truth rasters holding the model's own probabilities at
     * the surveys (uint8 p x 250, 100 m pixels, as gpn synth writes them) for
     * species 0..5; eval --truth must read them back at the right places */
    char truth[1024];
    snprintf(truth, sizeof truth, "%s/truth", test_tmpdir());
    snprintf(p, sizeof p, "%s/species", truth);
    ASSERT_OK(gpn_mkdir_p(p, &err), &err);
    struct gpn_sdm *pm = NULL;
    struct gpn_dataset *d = NULL;
    ASSERT_OK(gpn_sdm_load(out, 64, 0, &pm, NULL, &err), &err);
    ASSERT_OK(gpn_dataset_open(data, &d, &err), &err);
    const int W = 600;
    float *lg = malloc((size_t)d->n * NS * sizeof *lg);
    uint8_t *img = malloc((size_t)W * W);
    int rc = lg && img ? gpn_sdm_predict_rows(pm, d, NULL, d->n, 64, lg, NULL, &err) : GPN_ENOMEM;
    const char *desc[1] = {"test species: presence probability x 250"};
    struct gpn_cog_opts co = {.width = W, .height = W, .bands = 1, .dtype = GPN_DT_U8,
                              .gt = {3800000, 100, 0, 2335000, 0, -100}, .epsg = 3035, .has_nodata = 1,
                              .nodata = 255, .band_desc = desc};
    for (int sp = 0; sp < 6 && !rc; sp++) {
        memset(img, 255, (size_t)W * W);
        for (int64_t i = 0; i < d->n; i++) {
            int col = (int)((d->meta[i].x - 3800000) / 100), row = (int)((2335000 - d->meta[i].y) / 100);
            img[row * W + col] = (uint8_t)lrint(250 / (1 + exp(-lg[i * NS + sp])));
        }
        snprintf(p, sizeof p, "%s/species/%d.tif", truth, 1000 + 7 * sp);
        rc = gpn_cog_write(p, &co, img, &err);
    }
    free(lg);
    free(img);
    gpn_sdm_destroy(pm);
    gpn_dataset_close(d);
    ASSERT_OK(rc, &err);
    eo.truth = truth;
    ASSERT_OK(gpn_sdm_eval(&eo, &er, &err), &err);
    fprintf(stderr, "  truth: %d species, Pearson %.4f, Spearman %.4f, MAE %.4f, oracle AUC %.4f vs %.4f\n",
            er.truth.n_species, er.truth.pearson_mean, er.truth.spearman_mean, er.truth.mae, er.truth.auc_oracle,
            er.m.auc_macro);
    ASSERT_TRUE(er.has_truth);
    ASSERT_EQ_INT(er.truth.n_species, 6);
    ASSERT_TRUE(er.truth.pearson_mean > 0.99);
    ASSERT_TRUE(er.truth.mae < 0.01);
    ASSERT_TRUE(er.truth.auc_truth_draws > 0.6);

    /* a second run into the same folder is refused; resuming a finished run does nothing */
    ASSERT_RC(gpn_sdm_train(&o, &r, &err), GPN_EEXISTS);
    o.resume = 1;
    ASSERT_OK(gpn_sdm_train(&o, &r, &err), &err);
    ASSERT_EQ_INT(r.epochs_done, 6);
    ASSERT_TRUE(r.finished);
}

static int read_params(const char *path, float **p, size_t *n, char **meta)
{
    struct gpn_err err = {0};
    struct gpn_sdm *m = NULL;
    if (gpn_sdm_load(path, 32, 1, &m, NULL, &err)) return -1;
    size_t np;
    const float *src = gpn_sdm_params(m, &np);
    *p = malloc(np * sizeof **p);
    memcpy(*p, src, np * sizeof **p);
    *n = np;
    *meta = strdup(gpn_sdm_get_meta(m));
    gpn_sdm_destroy(m);
    return 0;
}

static void test_resume_equals_uninterrupted(void)
{
    struct gpn_err err = {0};
    char data[1024], a[1024], b[1024], pa[1200], pb[1200];
    snprintf(data, sizeof data, "%s/ds", test_tmpdir());
    snprintf(a, sizeof a, "%s/a.gpnm", test_tmpdir());
    snprintf(b, sizeof b, "%s/b.gpnm", test_tmpdir());
    ASSERT_OK(write_dataset(data, 200, 80, 1, 11, &err), &err);
    const char *cfg = write_config(test_tmpdir(), "{\"epochs\":4,\"batch\":24,\"lr\":0.004,\"patience\":0,"
                                                  "\"schedule\":\"cosine\",\"po_background\":3,\"po_ratio\":0.2}");
    /* One thread: the nn kernels hand work to threads dynamically (robust on
     * a loaded machine), so with several threads the float sums of two
     * identical runs may round differently; with one thread a resumed run
     * must match bit for bit. */
    struct gpn_train_opts o;
    struct gpn_train_result r;
    init_opts(&o, data, a, cfg);
    o.threads = 1;
    ASSERT_OK(gpn_sdm_train(&o, &r, &err), &err);
    ASSERT_EQ_INT(r.epochs_done, 4);

    init_opts(&o, data, b, cfg);
    o.threads = 1;
    o.stop_after = 2;
    ASSERT_OK(gpn_sdm_train(&o, &r, &err), &err);
    ASSERT_EQ_INT(r.epochs_done, 2);
    ASSERT_FALSE(r.finished);
    o.stop_after = 0;
    o.config = "no-such-config"; /* ignored on resume: settings come from the checkpoint */
    o.resume = 1;
    ASSERT_OK(gpn_sdm_train(&o, &r, &err), &err);
    ASSERT_EQ_INT(r.epochs_done, 4);
    ASSERT_TRUE(r.finished);

    snprintf(pa, sizeof pa, "%s.run/checkpoint.gpnm", a);
    snprintf(pb, sizeof pb, "%s.run/checkpoint.gpnm", b);
    float *xa = NULL, *xb = NULL;
    size_t na = 0, nb = 0;
    char *ma = NULL, *mb = NULL;
    ASSERT_EQ_INT(read_params(pa, &xa, &na, &ma), 0);
    ASSERT_EQ_INT(read_params(pb, &xb, &nb, &mb), 0);
    int same = na == nb && !memcmp(xa, xb, na * sizeof *xa);
    size_t ndiff = 0;
    double maxd = 0;
    for (size_t i = 0; na == nb && i < na; i++) {
        double dd = fabs((double)xa[i] - xb[i]);
        if (dd > 0) ndiff++;
        if (dd > maxd) maxd = dd;
    }
    /* the histories agree too, apart from wall times and rates */
    const char *ha = strstr(ma, "\"history\""), *hb = strstr(mb, "\"history\"");
    int hist_same = ha && hb;
    double la = NAN, lb = NAN;
    if (hist_same) {
        const char *ta = strstr(ha, "\"epoch\":4"), *tb = strstr(hb, "\"epoch\":4");
        hist_same = ta && tb && sscanf(strstr(ta, "train_loss") + 12, "%lf", &la) == 1 &&
                    sscanf(strstr(tb, "train_loss") + 12, "%lf", &lb) == 1 && la == lb;
    }
    free(xa);
    free(xb);
    free(ma);
    free(mb);
    if (!same) fprintf(stderr, "  %zu of %zu parameters differ, max |diff| %g\n", ndiff, na, maxd);
    ASSERT_TRUE(same);
    ASSERT_TRUE(hist_same);
}

static void test_early_stopping(void)
{
    struct gpn_err err = {0};
    char data[1024], out[1024];
    snprintf(data, sizeof data, "%s/ds", test_tmpdir());
    snprintf(out, sizeof out, "%s/m.gpnm", test_tmpdir());
    ASSERT_OK(write_dataset(data, 240, 0, 0, 3, &err), &err);
    /* unlearnable labels and a high constant learning rate: the model fits
     * training noise and the validation loss rises */
    const char *cfg = write_config(test_tmpdir(), "{\"epochs\":40,\"batch\":16,\"lr\":0.02,\"patience\":2,"
                                                  "\"schedule\":\"constant\",\"weight_decay\":0}");
    struct gpn_train_opts o;
    struct gpn_train_result r;
    init_opts(&o, data, out, cfg);
    ASSERT_OK(gpn_sdm_train(&o, &r, &err), &err);
    fprintf(stderr, "  stopped after %d epochs, best %d\n", r.epochs_done, r.best_epoch);
    ASSERT_TRUE(r.stopped_early);
    ASSERT_TRUE(r.finished);
    ASSERT_TRUE(r.epochs_done < 40);
    ASSERT_EQ_INT(r.best_epoch, r.epochs_done - 2);
    /* resuming does not restart a run that stopped early... */
    o.resume = 1;
    ASSERT_OK(gpn_sdm_train(&o, &r, &err), &err);
    int done = r.epochs_done;
    ASSERT_TRUE(r.stopped_early);
    /* ...unless the patience is raised */
    o.hp.patience = 100;
    o.stop_after = 1;
    ASSERT_OK(gpn_sdm_train(&o, &r, &err), &err);
    ASSERT_EQ_INT(r.epochs_done, done + 1);
}

static void test_errors(void)
{
    struct gpn_err err = {0};
    char data[1024], out[1024];
    snprintf(data, sizeof data, "%s/ds", test_tmpdir());
    snprintf(out, sizeof out, "%s/m.gpnm", test_tmpdir());
    ASSERT_OK(write_dataset(data, 60, 0, 1, 5, &err), &err);
    struct gpn_train_opts o;
    init_opts(&o, data, out, NULL);
    o.resume = 1;
    ASSERT_RC(gpn_sdm_train(&o, NULL, &err), GPN_ENOTFOUND);
    ASSERT_STR_CONTAINS(err.msg, "nothing to resume");
    o.resume = 0;
    o.config = "no-such-config";
    ASSERT_RC(gpn_sdm_train(&o, NULL, &err), GPN_ENOTFOUND);
    const char *cfg = write_config(test_tmpdir(), "{\"epochs\":2,\"optimiser\":\"sgd\"}");
    o.config = cfg;
    ASSERT_RC(gpn_sdm_train(&o, NULL, &err), GPN_EFORMAT);
    ASSERT_STR_CONTAINS(err.msg, "unknown key \"optimiser\"");
    /* the demo config wants Sentinel patches: the model leaves them out for this dataset */
    o.config = "demo";
    o.hp.epochs = 1;
    o.hp.batch = 8;
    o.hp.val_frac = 0;
    ASSERT_OK(gpn_sdm_train(&o, NULL, &err), &err);
    /* evaluating that model: no validation split recorded -> all PA surveys */
    struct gpn_eval_opts eo = {.model = out, .data = data, .split = GPN_EVAL_VAL};
    struct gpn_eval_result er;
    ASSERT_OK(gpn_sdm_eval(&eo, &er, &err), &err);
    ASSERT_EQ_INT(er.split, GPN_EVAL_ALL);
    ASSERT_EQ_INT(er.m.n_samples, 60);
}

/* ==== hyper-parameters ==================================================== */

static void test_hparams_resolve(void)
{
    struct gpn_err err = {0};
    struct gpn_train_hparams given, hp;
    gpn_train_hparams_unset(&given);
    ASSERT_OK(gpn_train_hparams_resolve(&given, NULL, NULL, &hp, &err), &err);
    ASSERT_EQ_INT(hp.optim, GPN_OPTIM_ADAMW);
    ASSERT_NEAR(hp.lr, 1e-3, 0);
    ASSERT_NEAR(hp.weight_decay, 0.01, 0);
    ASSERT_NEAR(hp.val_frac, 0.2, 0);
    ASSERT_NEAR(hp.po_ratio, 0, 0);
    ASSERT_OK(gpn_train_hparams_resolve(&given, NULL, "demo", &hp, &err), &err);
    ASSERT_NEAR(hp.po_ratio, 1, 0);
    ASSERT_EQ_INT(hp.epochs, 10);
    /* config "train" beats the named defaults; given values beat both */
    const char *cfg = "{\"widths\":[4],\"train\":{\"epochs\":7,\"optim\":\"sgd\",\"lr\":0.05,\"augment\":false}}";
    given.lr = 0.1;
    ASSERT_OK(gpn_train_hparams_resolve(&given, cfg, "demo", &hp, &err), &err);
    ASSERT_EQ_INT(hp.epochs, 7);
    ASSERT_EQ_INT(hp.optim, GPN_OPTIM_SGD);
    ASSERT_EQ_INT(hp.augment, 0);
    ASSERT_NEAR(hp.lr, 0.1, 0);
    ASSERT_NEAR(hp.weight_decay, 0.0, 0); /* SGD default */
    /* a config without "train" */
    gpn_train_hparams_unset(&given);
    ASSERT_OK(gpn_train_hparams_resolve(&given, "{\"widths\":[4]}", "demo", &hp, &err), &err);
    ASSERT_EQ_INT(hp.batch, 64);
    ASSERT_RC(gpn_train_hparams_resolve(&given, "{\"train\":{\"epochs\":0}}", NULL, &hp, &err), GPN_ERANGE);
    ASSERT_RC(gpn_train_hparams_resolve(&given, "{\"train\":{\"schedule\":\"linear\"}}", NULL, &hp, &err),
              GPN_EFORMAT);
    ASSERT_RC(gpn_train_hparams_resolve(&given, "{\"train\":[1]}", NULL, &hp, &err), GPN_EFORMAT);
    given.batch = 1;
    ASSERT_RC(gpn_train_hparams_resolve(&given, NULL, NULL, &hp, &err), GPN_ERANGE);
}

/* ==== split and sampler =================================================== */

static void test_split(void)
{
    struct gpn_err err = {0};
    char data[1024];
    snprintf(data, sizeof data, "%s/ds", test_tmpdir());
    ASSERT_OK(write_dataset(data, 400, 100, 1, 9, &err), &err);
    struct gpn_dataset *d = NULL;
    ASSERT_OK(gpn_dataset_open(data, &d, &err), &err);
    uint8_t *a = malloc((size_t)d->n), *b = malloc((size_t)d->n), *c = malloc((size_t)d->n);
    int rc = gpn_train_split(d, 0.25, 1, a, &err);
    int rc2 = gpn_train_split(d, 0.25, 1, b, &err);
    int rc3 = gpn_train_split(d, 0.25, 2, c, &err);
    int64_t n_pa = 0, held = 0, differ = 0, same_ab = 1, mixed_block = 0;
    for (int64_t i = 0; i < d->n; i++) {
        if (d->meta[i].kind == GPN_SAMPLE_PA) {
            n_pa++;
            held += a[i];
        }
        same_ab &= a[i] == b[i];
        differ += a[i] != c[i];
        for (int64_t j = 0; j < i; j++)
            if (d->meta[j].block == d->meta[i].block && a[j] != a[i]) mixed_block++;
    }
    int rc4 = gpn_train_split(d, 0, 1, c, &err);
    int64_t none = 0;
    for (int64_t i = 0; i < d->n; i++) none += c[i];
    gpn_dataset_close(d);
    free(a);
    free(b);
    free(c);
    ASSERT_EQ_INT(rc, 0);
    ASSERT_EQ_INT(rc2, 0);
    ASSERT_EQ_INT(rc3, 0);
    ASSERT_EQ_INT(rc4, 0);
    ASSERT_TRUE(same_ab);                       /* deterministic */
    ASSERT_TRUE(differ > 0);                    /* depends on the seed */
    ASSERT_EQ_INT(mixed_block, 0);              /* whole blocks */
    ASSERT_TRUE(held >= n_pa / 4 && held < n_pa / 2); /* at least the fraction, not far above */
    ASSERT_EQ_INT(none, 0);
}

/* Hand-placed PO samples: the background candidates are the species
 * recorded within the radius, minus the sample's own, and a PO batch row
 * counts exactly its presences and K of them. */
static void test_po_background(void)
{
    struct gpn_err err = {0};
    char data[1024];
    snprintf(data, sizeof data, "%s/po", test_tmpdir());
    int32_t ids[NS];
    for (int s = 0; s < NS; s++) ids[s] = s + 1;
    struct gpn_dataset_spec spec = {.n_species = NS, .ls_c = 1, .ls_q = 1, .ls_y = 2, .species_id = ids};
    struct gpn_dataset_writer *w = NULL;
    ASSERT_OK(gpn_dataset_writer_create(data, &spec, &w, &err), &err);
    /* x offsets in metres from sample 0; radius 1 km */
    const double dx[] = {0, 300, 900, 1500, 0, 50};
    const int kind[] = {1, 1, 1, 1, 0, 1};
    const int32_t lab[][3] = {{0, 1, -1}, {1, 2, 3}, {4, -1, -1}, {5, -1, -1}, {6, 7, -1}, {8, -1, -1}};
    float ls[2] = {1, 2};
    for (int i = 0; i < 6; i++) {
        struct gpn_sample_meta m = {.survey_id = i + 1, .kind = kind[i], .x = 3800000 + dx[i], .y = 2275000,
                                    .year = 2020, .block = 1};
        int32_t l[3];
        size_t nl = 0;
        for (int k = 0; k < 3 && lab[i][k] >= 0; k++) l[nl++] = lab[i][k];
        ASSERT_OK(gpn_dataset_writer_add(w, &m, NULL, l, nl, NULL, ls, NULL, &err), &err);
    }
    ASSERT_OK(gpn_dataset_writer_commit(w, &err), &err);
    struct gpn_dataset *d = NULL;
    ASSERT_OK(gpn_dataset_open(data, &d, &err), &err);
    /* sample 5 is PO but not a training sample: its species must not appear */
    uint8_t use[6] = {1, 1, 1, 1, 1, 0};
    struct gpn__sampler s;
    ASSERT_OK(gpn__sampler_init(&s, d, use, 1, 2, 1.0, 1.0, 0, &err), &err);
    uint8_t mark[NS] = {0};
    int32_t cand[NS];
    int n = gpn__background_candidates(&s, 0, mark, cand);
    /* within 1 km of sample 0: samples 1 (species 1,2,3) and 2 (4); own 0,1 removed; 3 too far, 4 is PA */
    int ok = n == 3 && cand[0] == 2 && cand[1] == 3 && cand[2] == 4;
    int clean = 1;
    for (int k = 0; k < NS; k++) clean &= mark[k] == 0;
    struct gpn__batch b;
    int rb = gpn__batch_alloc(&b, d, 4, &err);
    int64_t rows[2] = {0, 4};
    double wsum = -1, wrow0 = 0, wrow1 = 0, ypos = 0;
    int masked_ok = 1;
    if (!rb) {
        gpn__batch_fill(&b, &s, rows, 2, 3, 1);
        wsum = b.wsum;
        for (int c = 0; c < NS; c++) {
            wrow0 += b.w[c];
            wrow1 += b.w[NS + c];
            ypos += b.y[c];
            /* row 0: weight only on its presences 0, 1 and candidates 2, 3, 4 */
            if (b.w[c] != 0 && c > 4) masked_ok = 0;
            if (c <= 1 && (b.w[c] != 1 || b.y[c] != 1)) masked_ok = 0;
        }
        gpn__batch_free(&b);
    }
    gpn__sampler_free(&s);
    gpn_dataset_close(d);
    ASSERT_TRUE(ok);
    ASSERT_TRUE(clean);
    ASSERT_EQ_INT(rb, 0);
    ASSERT_NEAR(wrow0, 4, 0);       /* 2 presences + K = 2 background */
    ASSERT_NEAR(wrow1, NS, 0);      /* a PA row counts every label */
    ASSERT_NEAR(wsum, 4 + NS, 0);
    ASSERT_NEAR(ypos, 2, 0);
    ASSERT_TRUE(masked_ok);
}

/* ==== plot ================================================================ */

static void test_plot(void)
{
    struct gpn_err err = {0};
    double x[5] = {1, 2, 3, 4, 5}, y[5] = {0.9, 0.5, NAN, 0.3, 0.25};
    struct gpn_plot_series se = {"loss", x, y, 5, 0xff0000};
    struct gpn_plot_panel p[2] = {{"title", "epoch", "loss", &se, 1, 1}, {"empty", NULL, NULL, NULL, 0, 0}};
    uint8_t *rgb = NULL;
    ASSERT_OK(gpn_plot_render(400, 300, p, 2, &rgb, &err), &err);
    int64_t red = 0, dark = 0;
    for (int i = 0; i < 400 * 300; i++) {
        const uint8_t *q = rgb + (size_t)i * 3;
        red += q[0] > 200 && q[1] < 80 && q[2] < 80;
        dark += q[0] < 80 && q[1] < 80 && q[2] < 80;
    }
    /* the curve is drawn only in the top panel */
    int64_t red_bottom = 0;
    for (int i = 400 * 150; i < 400 * 300; i++) {
        const uint8_t *q = rgb + (size_t)i * 3;
        red_bottom += q[0] > 200 && q[1] < 80 && q[2] < 80;
    }
    uint8_t *png = NULL;
    size_t len = 0;
    int rc = gpn_plot_encode_png(rgb, 400, 300, &png, &len, &err);
    free(rgb);
    ASSERT_OK(rc, &err);
    ASSERT_TRUE(len > 100 && !memcmp(png, "\x89PNG\r\n\x1a\n", 8));
    free(png);
    ASSERT_TRUE(red > 100);
    ASSERT_TRUE(dark > 50); /* text */
    ASSERT_EQ_INT(red_bottom, 0);
    char path[1024];
    snprintf(path, sizeof path, "%s/p.png", test_tmpdir());
    ASSERT_OK(gpn_plot_png(path, 400, 300, p, 2, &err), &err);
    ASSERT_TRUE(file_starts_with(path, "\x89PNG", 4));
    ASSERT_RC(gpn_plot_render(100, 300, p, 2, &rgb, &err), GPN_EINVAL);
}

int main(void)
{
    RUN(test_hparams_resolve);
    RUN(test_split);
    RUN(test_po_background);
    RUN(test_plot);
    RUN(test_errors);
    RUN(test_loss_decreases_and_files);
    RUN(test_resume_equals_uninterrupted);
    RUN(test_early_stopping);
    return test_summary();
}
