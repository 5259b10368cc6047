/*
 * train.c - the Deep-SDM training loop (`gpn train-sdm`, train.h).
 *
 * One call of gpn_sdm_train:
 *   1. open the dataset; start a run (config -> model adapted to the data,
 *      normalisation statistics from training samples, species ids) or
 *      resume one (model, optimiser and trainer state from the checkpoint);
 *   2. split by spatial block (sampler.c) and build the PO neighbour index;
 *   3. per epoch: shuffle the training samples with the sequential
 *      generator, then for each step prepare batch k+1 in a worker thread
 *      while the model runs forward, masked BCE, backward and the optimiser
 *      step on batch k; evaluate the held-out PA surveys (loss, macro and
 *      micro AUC) in eval mode; update early stopping / plateau state; write
 *      the best model, the checkpoint, train.log, metrics.csv and loss.png,
 *      each atomically.
 *
 * Loss normalisation: gpn_bce_logits returns the weighted sum over the
 * batch divided by B*C; the trainer rescales loss and gradient by
 * B*C / sum(weights), so the loss is the mean over the labels that count
 * (plain PyTorch BCEWithLogitsLoss on a PA-only batch).
 *
 * Trainer state (JSON, stored as the model metadata of both the checkpoint
 * and the best model):
 *   {"trainer":"gpn-train-sdm","version":1,"data":PATH,"config":NAME,
 *    "hparams":{...every struct gpn_train_hparams field...},
 *    "epoch":E (completed),"step":S,"rng":"<16 hex digits>",
 *    "best_epoch":B,"best_val_loss":L|null,"best_val_auc":A|null,
 *    "bad_epochs":N,"lr_scale":F,"stopped_early":false,"n_train":..,"n_val":..,
 *    "history":[{"epoch":1,"train_loss":..,"val_loss":..,"val_auc_macro":..,
 *                "val_auc_micro":..,"lr":..,"seconds":..,"samples_per_s":..}]}
 * Reals are written with 17 significant digits, so a resumed run compares
 * exactly the numbers the uninterrupted one would.
 */
#include <cblas.h>
#include <jansson.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpn/catalog.h"
#include "gpn/log.h"
#include "gpn/nn.h"
#include "gpn/plot.h"
#include "gpn/progress.h"
#include "gpn/sdm.h"
#include "gpn/train.h"
#include "gpn/util.h"
#include "sdm_priv.h"

#define CHECKPOINT_NAME "checkpoint.gpnm"
#define NORM_MAX_SAMPLES 20000

static const char *OPTIM_NAMES[] = {"sgd", "adamw"};
static const char *SCHED_NAMES[] = {"constant", "cosine", "step", "plateau"};

/* ==== hyper-parameters ==================================================== */

void gpn_train_hparams_unset(struct gpn_train_hparams *hp)
{
    hp->epochs = hp->batch = hp->optim = hp->schedule = hp->patience = hp->po_background = hp->augment = -1;
    hp->seed = -1;
    hp->lr = hp->momentum = hp->weight_decay = hp->pos_weight = hp->val_frac = hp->po_radius_km = hp->po_weight =
        hp->po_ratio = NAN;
}

void gpn_train_opts_init(struct gpn_train_opts *o)
{
    memset(o, 0, sizeof *o);
    gpn_train_hparams_unset(&o->hp);
}

/* Built-in defaults, then those of a named config. lr and weight decay
 * depend on the optimiser and are filled after it is known (NaN here). */
static void hparams_defaults(const char *config_name, struct gpn_train_hparams *hp)
{
    hp->epochs = 20;
    hp->batch = 64;
    hp->optim = GPN_OPTIM_ADAMW;
    hp->schedule = GPN_SCHED_COSINE;
    hp->patience = 5;
    hp->po_background = 64;
    hp->augment = 1;
    hp->seed = 1;
    hp->lr = NAN;
    hp->momentum = 0.9;
    hp->weight_decay = NAN;
    hp->pos_weight = 1.0;
    hp->val_frac = 0.2;
    hp->po_radius_km = 5.0;
    hp->po_weight = 1.0;
    hp->po_ratio = 0;
    if (config_name && !strcmp(config_name, "demo")) {
        /* tuned on the default synthetic region (docs/sdm.md): every PA
         * survey and as many PO samples per epoch, ten epochs */
        hp->epochs = 10;
        hp->batch = 64;
        hp->lr = 2e-3;
        hp->patience = 4;
        hp->po_ratio = 1.0;
    }
}

static int parse_enum(const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(s, names[i])) return i;
    return -1;
}

/* Reads training keys into hp (only the keys present). is_config 1: text
 * is a whole model config and the keys are those of its "train" object (none
 * when it has no "train"); 0: text is the object of training keys itself. */
static int hparams_from_json(const char *text, int is_config, struct gpn_train_hparams *hp, struct gpn_err *err)
{
    json_error_t je;
    json_t *root = json_loads(text, 0, &je);
    if (!root) return gpn_err_set(err, GPN_EFORMAT, "train config: line %d: %s", je.line, je.text);
    json_t *t = is_config ? json_object_get(root, "train") : root;
    int rc = 0;
    if (!t) goto done;
    if (!json_is_object(t)) {
        rc = gpn_err_set(err, GPN_EFORMAT, "train config: \"train\" must be an object");
        goto done;
    }
    const char *key;
    json_t *v;
    json_object_foreach(t, key, v)
    {
#define INT_KEY(k, field, lo, hi)                                                                      \
    if (!strcmp(key, k)) {                                                                             \
        if (!json_is_integer(v) || json_integer_value(v) < (lo) || json_integer_value(v) > (hi)) {     \
            rc = gpn_err_set(err, GPN_ERANGE, "train config: \"%s\" must be an integer in [%lld, %lld]", k, \
                             (long long)(lo), (long long)(hi));                                        \
            goto done;                                                                                 \
        }                                                                                              \
        hp->field = (int)json_integer_value(v);                                                        \
        continue;                                                                                      \
    }
#define NUM_KEY(k, field, lo, hi)                                                                             \
    if (!strcmp(key, k)) {                                                                                    \
        if (!json_is_number(v) || !(json_number_value(v) >= (lo)) || !(json_number_value(v) <= (hi))) {       \
            rc = gpn_err_set(err, GPN_ERANGE, "train config: \"%s\" must be a number in [%g, %g]", k, (double)(lo), \
                             (double)(hi));                                                                   \
            goto done;                                                                                        \
        }                                                                                                     \
        hp->field = json_number_value(v);                                                                     \
        continue;                                                                                             \
    }
        INT_KEY("epochs", epochs, 1, 100000)
        INT_KEY("batch", batch, 2, 65536)
        INT_KEY("patience", patience, 0, 100000)
        INT_KEY("po_background", po_background, 0, 1000000)
        NUM_KEY("lr", lr, 1e-12, 10)
        NUM_KEY("momentum", momentum, 0, 0.9999)
        NUM_KEY("weight_decay", weight_decay, 0, 10)
        NUM_KEY("pos_weight", pos_weight, 1e-6, 1e6)
        NUM_KEY("val_frac", val_frac, 0, 0.9)
        NUM_KEY("po_radius_km", po_radius_km, 1e-3, 1e4)
        NUM_KEY("po_weight", po_weight, 0, 1e3)
        NUM_KEY("po_ratio", po_ratio, 0, 1e6)
#undef INT_KEY
#undef NUM_KEY
        if (!strcmp(key, "seed")) {
            if (!json_is_integer(v) || json_integer_value(v) < 0) {
                rc = gpn_err_set(err, GPN_ERANGE, "train config: \"seed\" must be a non-negative integer");
                goto done;
            }
            hp->seed = json_integer_value(v);
            continue;
        }
        if (!strcmp(key, "augment")) {
            if (!json_is_boolean(v) && !json_is_integer(v)) {
                rc = gpn_err_set(err, GPN_EFORMAT, "train config: \"augment\" must be true or false");
                goto done;
            }
            hp->augment = json_is_boolean(v) ? json_is_true(v) : json_integer_value(v) != 0;
            continue;
        }
        if (!strcmp(key, "optim") || !strcmp(key, "schedule")) {
            int is_opt = key[0] == 'o';
            int val = json_is_string(v) ? parse_enum(json_string_value(v), is_opt ? OPTIM_NAMES : SCHED_NAMES,
                                                     is_opt ? 2 : 4)
                                        : -1;
            if (val < 0) {
                rc = gpn_err_set(err, GPN_EFORMAT, "train config: \"%s\" must be %s", key,
                                 is_opt ? "\"sgd\" or \"adamw\"" : "\"constant\", \"cosine\", \"step\" or \"plateau\"");
                goto done;
            }
            if (is_opt) hp->optim = val;
            else hp->schedule = val;
            continue;
        }
        rc = gpn_err_set(err, GPN_EFORMAT, "train config: unknown key \"%s\"", key);
        goto done;
    }
done:
    json_decref(root);
    return rc;
}

int gpn_train_hparams_resolve(const struct gpn_train_hparams *given, const char *train_json, const char *config_name,
                              struct gpn_train_hparams *out, struct gpn_err *err)
{
    struct gpn_train_hparams hp;
    hparams_defaults(config_name, &hp);
    if (train_json) {
        int rc = hparams_from_json(train_json, 1, &hp, err);
        if (rc) return rc;
    }
#define TAKE_INT(f) if (given->f >= 0) hp.f = given->f
#define TAKE_NUM(f) if (!isnan(given->f)) hp.f = given->f
    TAKE_INT(epochs);
    TAKE_INT(batch);
    TAKE_INT(optim);
    TAKE_INT(schedule);
    TAKE_INT(patience);
    TAKE_INT(po_background);
    TAKE_INT(augment);
    TAKE_INT(seed);
    TAKE_NUM(lr);
    TAKE_NUM(momentum);
    TAKE_NUM(weight_decay);
    TAKE_NUM(pos_weight);
    TAKE_NUM(val_frac);
    TAKE_NUM(po_radius_km);
    TAKE_NUM(po_weight);
    TAKE_NUM(po_ratio);
#undef TAKE_INT
#undef TAKE_NUM
    if (isnan(hp.lr)) hp.lr = hp.optim == GPN_OPTIM_SGD ? 0.01 : 1e-3;
    if (isnan(hp.weight_decay)) hp.weight_decay = hp.optim == GPN_OPTIM_SGD ? 0.0 : 0.01;
    if (hp.epochs < 1) return gpn_err_set(err, GPN_ERANGE, "epochs must be >= 1");
    if (hp.batch < 2) return gpn_err_set(err, GPN_ERANGE, "batch must be >= 2 (batch normalisation)");
    if (hp.optim < 0 || hp.optim > 1) return gpn_err_set(err, GPN_ERANGE, "unknown optimiser");
    if (hp.schedule < 0 || hp.schedule > 3) return gpn_err_set(err, GPN_ERANGE, "unknown schedule");
    if (!(hp.lr > 0)) return gpn_err_set(err, GPN_ERANGE, "learning rate must be > 0");
    if (!(hp.momentum >= 0 && hp.momentum < 1)) return gpn_err_set(err, GPN_ERANGE, "momentum must be in [0, 1)");
    if (!(hp.weight_decay >= 0)) return gpn_err_set(err, GPN_ERANGE, "weight decay must be >= 0");
    if (!(hp.pos_weight > 0)) return gpn_err_set(err, GPN_ERANGE, "pos-weight must be > 0");
    if (!(hp.val_frac >= 0 && hp.val_frac < 1)) return gpn_err_set(err, GPN_ERANGE, "val-frac must be in [0, 1)");
    if (!(hp.po_radius_km > 0)) return gpn_err_set(err, GPN_ERANGE, "po-radius must be > 0");
    if (!(hp.po_weight >= 0)) return gpn_err_set(err, GPN_ERANGE, "po-weight must be >= 0");
    if (!(hp.po_ratio >= 0)) return gpn_err_set(err, GPN_ERANGE, "po-ratio must be >= 0");
    *out = hp;
    return 0;
}

static json_t *hparams_to_json(const struct gpn_train_hparams *hp)
{
    return json_pack("{s:i,s:i,s:s,s:s,s:i,s:i,s:b,s:I,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f}", "epochs", hp->epochs, "batch",
                     hp->batch, "optim", OPTIM_NAMES[hp->optim], "schedule", SCHED_NAMES[hp->schedule], "patience",
                     hp->patience, "po_background", hp->po_background, "augment", hp->augment, "seed",
                     (json_int_t)hp->seed, "lr", hp->lr, "momentum", hp->momentum, "weight_decay", hp->weight_decay,
                     "pos_weight", hp->pos_weight, "val_frac", hp->val_frac, "po_radius_km", hp->po_radius_km,
                     "po_weight", hp->po_weight, "po_ratio", hp->po_ratio);
}

/* ==== trainer state ====================================================== */

struct epoch_rec {
    int epoch;
    double train_loss, val_loss, val_auc_macro, val_auc_micro, lr, seconds, samples_per_s;
};

struct tstate {
    char data[1024];
    char config[64];
    struct gpn_train_hparams hp;
    int epoch;             /* completed epochs */
    int64_t step;          /* optimiser steps taken */
    uint64_t rng;          /* shuffle generator state */
    int best_epoch;
    double best_val_loss, best_val_auc;
    int bad_epochs;
    double lr_scale;       /* plateau schedule */
    int stopped_early;
    int64_t n_train, n_val;
    struct epoch_rec *hist;
    int n_hist, cap_hist;
};

static json_t *jnum(double v) { return isfinite(v) ? json_real(v) : json_null(); }
static double jget_num(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static const char *jget_str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static char *tstate_to_json(const struct tstate *st)
{
    char rng[17];
    snprintf(rng, sizeof rng, "%016llx", (unsigned long long)st->rng);
    json_t *hist = json_array();
    for (int i = 0; i < st->n_hist; i++) {
        const struct epoch_rec *e = &st->hist[i];
        json_t *o = json_object();
        json_object_set_new(o, "epoch", json_integer(e->epoch));
        json_object_set_new(o, "train_loss", jnum(e->train_loss));
        json_object_set_new(o, "val_loss", jnum(e->val_loss));
        json_object_set_new(o, "val_auc_macro", jnum(e->val_auc_macro));
        json_object_set_new(o, "val_auc_micro", jnum(e->val_auc_micro));
        json_object_set_new(o, "lr", jnum(e->lr));
        json_object_set_new(o, "seconds", jnum(e->seconds));
        json_object_set_new(o, "samples_per_s", jnum(e->samples_per_s));
        json_array_append_new(hist, o);
    }
    json_t *root = json_object();
    json_object_set_new(root, "trainer", json_string("gpn-train-sdm"));
    json_object_set_new(root, "version", json_integer(1));
    json_object_set_new(root, "data", json_string(st->data));
    json_object_set_new(root, "config", json_string(st->config));
    json_object_set_new(root, "hparams", hparams_to_json(&st->hp));
    json_object_set_new(root, "epoch", json_integer(st->epoch));
    json_object_set_new(root, "step", json_integer(st->step));
    json_object_set_new(root, "rng", json_string(rng));
    json_object_set_new(root, "best_epoch", json_integer(st->best_epoch));
    json_object_set_new(root, "best_val_loss", jnum(st->best_val_loss));
    json_object_set_new(root, "best_val_auc", jnum(st->best_val_auc));
    json_object_set_new(root, "bad_epochs", json_integer(st->bad_epochs));
    json_object_set_new(root, "lr_scale", json_real(st->lr_scale));
    json_object_set_new(root, "stopped_early", json_boolean(st->stopped_early));
    json_object_set_new(root, "n_train", json_integer(st->n_train));
    json_object_set_new(root, "n_val", json_integer(st->n_val));
    json_object_set_new(root, "history", hist);
    char *s = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(root);
    return s;
}

static int hist_push(struct tstate *st, const struct epoch_rec *e)
{
    if (st->n_hist == st->cap_hist) {
        int cap = st->cap_hist ? st->cap_hist * 2 : 32;
        struct epoch_rec *h = realloc(st->hist, (size_t)cap * sizeof *h);
        if (!h) return GPN_ENOMEM;
        st->hist = h;
        st->cap_hist = cap;
    }
    st->hist[st->n_hist++] = *e;
    return 0;
}

static int tstate_from_json(const char *text, struct tstate *st, struct gpn_err *err)
{
    json_error_t je;
    json_t *root = text ? json_loads(text, 0, &je) : NULL;
    int rc = 0;
    if (!root || !json_is_object(root) || strcmp(jget_str(root, "trainer"), "gpn-train-sdm")) {
        rc = gpn_err_set(err, GPN_EFORMAT, "checkpoint: no trainer state in the model metadata");
        goto done;
    }
    gpn_strlcpy(st->data, jget_str(root, "data"), sizeof st->data);
    gpn_strlcpy(st->config, jget_str(root, "config"), sizeof st->config);
    char *hp_text = json_dumps(json_object_get(root, "hparams"), JSON_COMPACT | JSON_REAL_PRECISION(17));
    struct gpn_train_hparams none;
    gpn_train_hparams_unset(&none);
    if (!hp_text) rc = gpn_err_set(err, GPN_EFORMAT, "checkpoint: no hparams");
    else if (!(rc = hparams_from_json(hp_text, 0, &none, err))) rc = gpn_train_hparams_resolve(&none, NULL, NULL, &st->hp, err);
    free(hp_text);
    if (rc) goto done;
    st->epoch = (int)json_integer_value(json_object_get(root, "epoch"));
    st->step = json_integer_value(json_object_get(root, "step"));
    const char *rng = json_string_value(json_object_get(root, "rng"));
    st->rng = rng ? strtoull(rng, NULL, 16) : 0;
    st->best_epoch = (int)json_integer_value(json_object_get(root, "best_epoch"));
    st->best_val_loss = jget_num(root, "best_val_loss");
    st->best_val_auc = jget_num(root, "best_val_auc");
    st->bad_epochs = (int)json_integer_value(json_object_get(root, "bad_epochs"));
    st->lr_scale = jget_num(root, "lr_scale");
    if (!(st->lr_scale > 0)) st->lr_scale = 1;
    st->stopped_early = json_is_true(json_object_get(root, "stopped_early"));
    st->n_train = json_integer_value(json_object_get(root, "n_train"));
    st->n_val = json_integer_value(json_object_get(root, "n_val"));
    json_t *hist = json_object_get(root, "history");
    size_t i;
    json_t *e;
    json_array_foreach(hist, i, e)
    {
        struct epoch_rec r = {(int)json_integer_value(json_object_get(e, "epoch")), jget_num(e, "train_loss"),
                              jget_num(e, "val_loss"), jget_num(e, "val_auc_macro"), jget_num(e, "val_auc_micro"),
                              jget_num(e, "lr"), jget_num(e, "seconds"), jget_num(e, "samples_per_s")};
        if (hist_push(st, &r)) {
            rc = gpn_err_set(err, GPN_ENOMEM, "checkpoint: out of memory");
            goto done;
        }
    }
done:
    json_decref(root);
    return rc;
}

/* ==== run folder files =================================================== */

struct run {
    char dir[4096];
    char ckpt[4200];
    struct gpn_buf log;
};

static void run_log(struct run *r, const char *fmt, ...) GPN_PRINTF(2, 3);
static void run_log(struct run *r, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm);
    gpn_buf_printf(&r->log, "%s %s\n", ts, msg);
    gpn_log_info("train-sdm: %s", msg);
}

static int run_write_file(struct run *r, const char *name, const void *data, size_t len, struct gpn_err *err)
{
    char path[4200];
    if (gpn_path_join(path, sizeof path, r->dir, name))
        return gpn_err_set(err, GPN_ETOOBIG, "train-sdm: path too long: %s/%s", r->dir, name);
    return gpn_file_write_atomic(path, data, len, err);
}

static int write_metrics_csv(struct run *r, const struct tstate *st, struct gpn_err *err)
{
    struct gpn_buf b = {0};
    gpn_buf_puts(&b, "epoch,train_loss,val_loss,val_auc_macro,val_auc_micro,lr,seconds,samples_per_s\n");
    for (int i = 0; i < st->n_hist; i++) {
        const struct epoch_rec *e = &st->hist[i];
        gpn_buf_printf(&b, "%d,%.6f,%.6f,%.6f,%.6f,%.6g,%.2f,%.1f\n", e->epoch, e->train_loss, e->val_loss,
                       e->val_auc_macro, e->val_auc_micro, e->lr, e->seconds, e->samples_per_s);
    }
    int rc = b.oom ? gpn_err_set(err, GPN_ENOMEM, "train-sdm: out of memory")
                   : run_write_file(r, "metrics.csv", b.data, b.len, err);
    gpn_buf_free(&b);
    return rc;
}

static int write_plot(struct run *r, const struct tstate *st, struct gpn_err *err)
{
    int n = st->n_hist;
    double *x = malloc((size_t)(n ? n : 1) * 5 * sizeof *x);
    if (!x) return gpn_err_set(err, GPN_ENOMEM, "train-sdm: out of memory");
    double *tl = x + n, *vl = x + 2 * n, *am = x + 3 * n, *ai = x + 4 * n;
    for (int i = 0; i < n; i++) {
        x[i] = st->hist[i].epoch;
        tl[i] = st->hist[i].train_loss;
        vl[i] = st->hist[i].val_loss;
        am[i] = st->hist[i].val_auc_macro;
        ai[i] = st->hist[i].val_auc_micro;
    }
    struct gpn_plot_series loss[2] = {{"training loss", x, tl, n, 0x1f77b4}, {"validation loss", x, vl, n, 0xd62728}};
    struct gpn_plot_series auc[2] = {{"val AUC (macro)", x, am, n, 0x2ca02c}, {"val AUC (micro)", x, ai, n, 0x9467bd}};
    struct gpn_plot_panel panels[2] = {{"Deep-SDM training", "epoch", "BCE loss", loss, 2, 1},
                                       {"Validation (held-out spatial blocks)", "epoch", "AUC", auc, 2, 1}};
    char path[4200];
    int rc = gpn_path_join(path, sizeof path, r->dir, "loss.png")
                 ? gpn_err_set(err, GPN_ETOOBIG, "train-sdm: path too long")
                 : gpn_plot_png(path, 760, 600, panels, 2, err);
    free(x);
    return rc;
}

/* ==== model set-up ======================================================= */

/* Loads the named or JSON-file config; *train_json receives the file text
 * (for its "train" object) or NULL for a named config. */
static int load_config(const char *spec, struct gpn_sdm_config *cfg, char **train_json, struct gpn_err *err)
{
    *train_json = NULL;
    if (!spec) spec = "demo";
    int is_file = gpn_str_endswith(spec, ".json") || strchr(spec, '/') || gpn_path_exists(spec);
    if (!is_file) return gpn_sdm_config_named(spec, cfg, err);
    char *text = NULL;
    size_t len;
    int rc = gpn_file_read(spec, &text, &len, err);
    if (rc) return rc;
    rc = gpn_sdm_config_from_json(text, cfg, err);
    if (rc) {
        gpn_err_prefix(err, "%s", spec);
        free(text);
        return rc;
    }
    *train_json = text;
    return 0;
}

/* Adapts cfg to the dataset: species count, modalities present and their
 * shapes (patch size and cube sizes come from the data). */
static int adapt_config(struct gpn_sdm_config *cfg, const struct gpn_dataset *d, struct run *r, struct gpn_err *err)
{
    static const char *name[3] = {"sentinel", "landsat", "climate"};
    int have[3][3] = {{d->s2_c, d->s2_h, d->s2_w}, {d->ls_c, d->ls_q, d->ls_y}, {d->cl_c, d->cl_y, d->cl_m}};
    cfg->n_species = d->n_species;
    for (int md = 0; md < 3; md++) {
        if (!cfg->use[md]) continue;
        if (!have[md][0]) {
            run_log(r, "the dataset has no %s input: the model will not use it", name[md]);
            cfg->use[md] = 0;
            continue;
        }
        if (have[md][0] != cfg->in_c[md] || have[md][1] != cfg->in_h[md] || have[md][2] != cfg->in_w[md])
            run_log(r, "%s input %dx%dx%d taken from the dataset (config: %dx%dx%d)", name[md], have[md][0],
                    have[md][1], have[md][2], cfg->in_c[md], cfg->in_h[md], cfg->in_w[md]);
        cfg->in_c[md] = have[md][0];
        cfg->in_h[md] = have[md][1];
        cfg->in_w[md] = have[md][2];
    }
    return gpn_sdm_config_validate(cfg, 1, err);
}

/* Normalisation statistics of Landsat and climate from up to
 * NORM_MAX_SAMPLES training samples (evenly spaced in the training list). */
static int set_norm_stats(struct gpn_sdm *m, const struct gpn_dataset *d, const int64_t *train, int64_t n_train,
                          struct gpn_err *err)
{
    const struct gpn_sdm_config *cfg = gpn_sdm_get_config(m);
    int64_t n = n_train < NORM_MAX_SAMPLES ? n_train : NORM_MAX_SAMPLES;
    for (int md = GPN_SDM_LANDSAT; md <= GPN_SDM_CLIMATE; md++) {
        if (!cfg->use[md] || n == 0) continue;
        int c = cfg->in_c[md];
        size_t hw = (size_t)cfg->in_h[md] * cfg->in_w[md], row = (size_t)c * hw;
        const float *src = md == GPN_SDM_LANDSAT ? d->landsat : d->climate;
        float *buf = malloc((size_t)n * row * sizeof *buf), mean[64], std[64];
        if (!buf) return gpn_err_set(err, GPN_ENOMEM, "train-sdm: out of memory (normalisation statistics)");
        for (int64_t k = 0; k < n; k++) {
            int64_t i = train[(int64_t)((double)k * (double)n_train / (double)n)];
            memcpy(buf + (size_t)k * row, src + (size_t)i * row, row * sizeof *buf);
        }
        gpn_sdm_norm_compute(buf, n, c, (int64_t)hw, mean, std);
        free(buf);
        int rc = gpn_sdm_set_norm(m, md, mean, std, err);
        if (rc) return rc;
    }
    return 0;
}

/* ==== the batch worker =================================================== */

struct fill_job {
    struct gpn__batch *b;
    const struct gpn__sampler *s;
    const int64_t *idx;
    int B, epoch;
};

static void *fill_thread(void *arg)
{
    struct fill_job *j = arg;
    gpn__batch_fill(j->b, j->s, j->idx, j->B, j->epoch, 1);
    return NULL;
}

/* ==== schedule =========================================================== */

static double schedule_lr(const struct tstate *st, int64_t step, int64_t total_steps, int epoch)
{
    const struct gpn_train_hparams *hp = &st->hp;
    switch (hp->schedule) {
    case GPN_SCHED_COSINE: {
        double f = total_steps > 0 ? (double)step / (double)total_steps : 0;
        if (f > 1) f = 1;
        return hp->lr * (0.01 + 0.99 * 0.5 * (1 + cos(M_PI * f)));
    }
    case GPN_SCHED_STEP: {
        int size = hp->epochs / 3 > 1 ? hp->epochs / 3 : 1;
        return hp->lr * pow(0.1, (double)(epoch / size));
    }
    case GPN_SCHED_PLATEAU: return hp->lr * st->lr_scale;
    default: return hp->lr;
    }
}

/* ==== validation ========================================================= */

static int validate(struct gpn_sdm *m, const struct gpn_dataset *d, const int64_t *val, int64_t n_val, int batch,
                    const float *pos_weight, float *logits, uint8_t *labels, float *ytmp, double *loss,
                    double *auc_macro, double *auc_micro, struct gpn_err *err)
{
    const int C = d->n_species;
    int rc = gpn_sdm_set_train(m, 0);
    if (rc) return gpn_err_set(err, rc, "train-sdm: cannot switch to eval mode");
    rc = gpn_sdm_predict_rows(m, d, val, n_val, batch, logits, NULL, err);
    int rc2 = gpn_sdm_set_train(m, 1);
    if (rc) return rc;
    if (rc2) return gpn_err_set(err, rc2, "train-sdm: cannot switch back to training mode");
    double sum = 0;
    for (int64_t k = 0; k < n_val; k++) {
        for (int c = 0; c < C; c++) ytmp[c] = labels[(size_t)k * C + c];
        sum += gpn_bce_logits(NULL, logits + (size_t)k * C, ytmp, NULL, pos_weight, 1, C);
    }
    *loss = sum / (double)n_val;
    for (size_t i = 0; i < (size_t)n_val * (size_t)C; i++)
        if (!isfinite(logits[i])) {
            *auc_macro = *auc_micro = NAN;
            return 0;
        }
    struct gpn_sdm_metrics mt;
    rc = gpn_metrics_sdm(logits, labels, n_val, C, &mt, NULL, err);
    if (rc) return rc;
    *auc_macro = mt.auc_macro;
    *auc_micro = mt.auc_micro;
    return 0;
}

/* ==== the loop =========================================================== */

static int record_in_atlas(const char *atlas, const char *model_path, const struct gpn_sdm *m,
                           const struct tstate *st, struct gpn_err *err)
{
    char path[4200];
    int rc = gpn_catalog_path(atlas, path, sizeof path, err);
    if (rc) return rc;
    struct gpn_catalog *cat = NULL;
    if ((rc = gpn_catalog_open(path, GPN_CATALOG_CREATE, &cat, err))) return rc;
    char *cfg = gpn_sdm_config_to_json(gpn_sdm_get_config(m));
    json_t *mt = json_pack("{s:i,s:o,s:o,s:I,s:I,s:b}", "best_epoch", st->best_epoch, "val_loss",
                           jnum(st->best_val_loss), "val_auc_macro", jnum(st->best_val_auc), "n_train",
                           (json_int_t)st->n_train, "n_val", (json_int_t)st->n_val, "stopped_early",
                           st->stopped_early);
    char *metrics = mt ? json_dumps(mt, JSON_COMPACT) : NULL;
    json_decref(mt);
    if (!cfg || !metrics) rc = gpn_err_set(err, GPN_ENOMEM, "train-sdm: out of memory");
    else rc = gpn_catalog_model_run_add(cat, GPN_MODEL_SDM, model_path, cfg, metrics, NULL, err);
    free(cfg);
    free(metrics);
    gpn_catalog_close(cat);
    return rc;
}

int gpn_sdm_train(const struct gpn_train_opts *o, struct gpn_train_result *res, struct gpn_err *err)
{
    struct gpn_train_result rs;
    memset(&rs, 0, sizeof rs);
    rs.best_val_loss = rs.best_val_auc = NAN;
    double t_call = gpn_now();
    struct gpn_dataset *d = NULL;
    struct gpn_sdm *m = NULL;
    struct gpn_optim *opt = NULL;
    struct gpn__sampler smp;
    memset(&smp, 0, sizeof smp);
    struct gpn__batch bt[2];
    memset(bt, 0, sizeof bt);
    struct tstate st;
    memset(&st, 0, sizeof st);
    struct run run;
    memset(&run, 0, sizeof run);
    char *train_json = NULL, *meta = NULL;
    uint8_t *is_val = NULL, *val_labels = NULL;
    int64_t *train = NULL, *val = NULL, *perm = NULL;
    float *logits = NULL, *dlogits = NULL, *pos_weight = NULL, *val_logits = NULL, *ytmp = NULL;
    int rc = 0;

    if (!o->data || !o->out) return gpn_err_set(err, GPN_EINVAL, "gpn_sdm_train: data and out are required");
    if (o->threads > 0) {
        omp_set_num_threads(o->threads);
        openblas_set_num_threads(o->threads);
    }
    if (snprintf(run.dir, sizeof run.dir, "%s.run", o->out) >= (int)sizeof run.dir ||
        gpn_path_join(run.ckpt, sizeof run.ckpt, run.dir, CHECKPOINT_NAME)) {
        rc = gpn_err_set(err, GPN_ETOOBIG, "train-sdm: output path too long");
        goto done;
    }
    if ((rc = gpn_dataset_open(o->data, &d, err))) goto done;
    const int C = d->n_species;
    if (C < 1) {
        rc = gpn_err_set(err, GPN_EINVAL, "train-sdm: %s has no species", o->data);
        goto done;
    }

    /* ---- start or resume ---- */
    if (o->resume) {
        if (!gpn_path_exists(run.ckpt)) {
            rc = gpn_err_set(err, GPN_ENOTFOUND, "train-sdm: nothing to resume: %s does not exist", run.ckpt);
            goto done;
        }
        struct gpn_sdm *probe = NULL;
        /* the batch size is in the trainer state: read it first */
        if ((rc = gpn_sdm_load(run.ckpt, 1, 0, &probe, NULL, err))) goto done;
        rc = tstate_from_json(gpn_sdm_get_meta(probe), &st, err);
        gpn_sdm_destroy(probe);
        if (rc) goto done;
        if (o->hp.epochs >= 0) st.hp.epochs = o->hp.epochs;
        if (o->hp.patience >= 0) st.hp.patience = o->hp.patience;
        if ((rc = gpn_sdm_load(run.ckpt, st.hp.batch, 1, &m, &opt, err))) goto done;
        if (!opt) {
            rc = gpn_err_set(err, GPN_EFORMAT, "train-sdm: %s holds no optimiser state", run.ckpt);
            goto done;
        }
        if (gpn_sdm_get_config(m)->n_species != C) {
            rc = gpn_err_set(err, GPN_EINVAL, "train-sdm: the checkpoint has %d species, the dataset %d",
                             gpn_sdm_get_config(m)->n_species, C);
            goto done;
        }
        char logpath[4200];
        gpn_path_join(logpath, sizeof logpath, run.dir, "train.log");
        char *old = NULL;
        size_t oldlen = 0;
        if (gpn_file_read(logpath, &old, &oldlen, NULL) == 0) gpn_buf_append(&run.log, old, oldlen);
        free(old);
        run_log(&run, "resuming %s after epoch %d of %d", run.ckpt, st.epoch, st.hp.epochs);
    } else {
        if (gpn_path_exists(run.ckpt)) {
            rc = gpn_err_set(err, GPN_EEXISTS,
                             "train-sdm: %s already holds a run (pass --resume to continue it, or delete the folder)",
                             run.dir);
            goto done;
        }
        if ((rc = gpn_mkdir_p(run.dir, err))) goto done;
        struct gpn_sdm_config cfg;
        if ((rc = load_config(o->config, &cfg, &train_json, err))) goto done;
        if ((rc = gpn_train_hparams_resolve(&o->hp, train_json, cfg.name, &st.hp, err))) goto done;
        if ((rc = adapt_config(&cfg, d, &run, err))) goto done;
        gpn_strlcpy(st.config, cfg.name, sizeof st.config);
        gpn_strlcpy(st.data, o->data, sizeof st.data);
        st.best_val_loss = st.best_val_auc = NAN;
        st.lr_scale = 1;
        st.rng = gpn__mix64((uint64_t)st.hp.seed ^ 0x73687566ull);
        if ((rc = gpn_sdm_create(&cfg, st.hp.batch, 1, (uint64_t)st.hp.seed, &m, err))) goto done;
        if ((rc = gpn_sdm_set_species(m, d->species_id, err))) goto done;
        struct gpn_optim_config oc;
        gpn_optim_config_default(&oc, st.hp.optim);
        oc.lr = (float)st.hp.lr;
        oc.weight_decay = (float)st.hp.weight_decay;
        if (st.hp.optim == GPN_OPTIM_SGD) oc.momentum = (float)st.hp.momentum;
        size_t np;
        gpn_sdm_params(m, &np);
        if ((rc = gpn_optim_create(&oc, np, &opt, err))) goto done;
        char *cj = gpn_sdm_config_to_json(&cfg);
        run_log(&run, "new run: data %s, config %s (%.1f MMAC/sample), %s lr %g, %s schedule, batch %d, %d epochs",
                o->data, cj ? cj : cfg.name, gpn_sdm_config_macs(&cfg) / 1e6, OPTIM_NAMES[st.hp.optim], st.hp.lr,
                SCHED_NAMES[st.hp.schedule], st.hp.batch, st.hp.epochs);
        free(cj);
    }
    const struct gpn_train_hparams *hp = &st.hp;

    /* ---- split and sample lists ---- */
    is_val = malloc((size_t)(d->n ? d->n : 1));
    train = malloc((size_t)(d->n ? d->n : 1) * sizeof *train);
    val = malloc((size_t)(d->n ? d->n : 1) * sizeof *val);
    perm = malloc((size_t)(d->n ? d->n : 1) * sizeof *perm);
    if (!is_val || !train || !val || !perm) {
        rc = gpn_err_set(err, GPN_ENOMEM, "train-sdm: out of memory");
        goto done;
    }
    if ((rc = gpn_train_split(d, hp->val_frac, (uint64_t)hp->seed, is_val, err))) goto done;
    /* training list: PA samples first, then PO samples (when used) */
    int64_t n_train = 0, n_val = 0, n_po_train = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int64_t i = 0; i < d->n; i++) {
            int po = d->meta[i].kind == GPN_SAMPLE_PO;
            if (po != pass) continue;
            if (is_val[i]) {
                if (!po) val[n_val++] = i;
                is_val[i] = 0; /* reused below as "training sample" */
                continue;
            }
            if (po && hp->po_background <= 0) continue;
            train[n_train++] = i;
            is_val[i] = 1;
            n_po_train += po;
        }
    const int64_t n_pa_train = n_train - n_po_train;
    int64_t po_per_epoch = n_po_train;
    if (hp->po_ratio > 0 && (double)n_po_train > ceil(hp->po_ratio * (double)n_pa_train))
        po_per_epoch = (int64_t)ceil(hp->po_ratio * (double)n_pa_train);
    const int64_t n_epoch = n_pa_train + po_per_epoch; /* samples per epoch */
    if (n_epoch < 2) {
        rc = gpn_err_set(err, GPN_EINVAL, "train-sdm: only %lld training samples", (long long)n_train);
        goto done;
    }
    st.n_train = n_train;
    st.n_val = n_val;
    rs.n_train = n_train;
    rs.n_val = n_val;
    if ((rc = gpn__sampler_init(&smp, d, is_val, (uint64_t)hp->seed, hp->po_background, hp->po_radius_km,
                                hp->po_weight, hp->augment, err)))
        goto done;
    if (!o->resume) {
        if ((rc = set_norm_stats(m, d, train, n_train, err))) goto done;
        run_log(&run, "%lld training samples (%lld PA, %lld PO with %d background absences within %g km), %lld "
                      "validation surveys (%.0f%% of PA, by spatial block)",
                (long long)n_train, (long long)n_pa_train, (long long)n_po_train, hp->po_background,
                hp->po_radius_km, (long long)n_val, hp->val_frac * 100);
        if (po_per_epoch < n_po_train)
            run_log(&run, "each epoch uses all %lld PA and %lld PO samples drawn afresh (po_ratio %g)",
                    (long long)n_pa_train, (long long)po_per_epoch, hp->po_ratio);
    }

    if ((rc = run_write_file(&run, "train.log", run.log.data ? run.log.data : "", run.log.len, err))) goto done;

    /* ---- buffers ---- */
    const int Bmax = hp->batch;
    if ((rc = gpn__batch_alloc(&bt[0], d, Bmax, err)) || (rc = gpn__batch_alloc(&bt[1], d, Bmax, err))) goto done;
    logits = malloc((size_t)Bmax * C * sizeof *logits);
    dlogits = malloc((size_t)Bmax * C * sizeof *dlogits);
    ytmp = malloc((size_t)C * sizeof *ytmp);
    if (hp->pos_weight != 1.0) pos_weight = malloc((size_t)C * sizeof *pos_weight);
    if (n_val) {
        val_logits = malloc((size_t)n_val * C * sizeof *val_logits);
        rc = gpn_metrics_labels_from_csr(d->label_ptr, d->label_idx, val, n_val, C, &val_labels, NULL, err);
        if (rc) goto done;
    }
    if (!logits || !dlogits || !ytmp || (hp->pos_weight != 1.0 && !pos_weight) || (n_val && !val_logits)) {
        rc = gpn_err_set(err, GPN_ENOMEM, "train-sdm: out of memory");
        goto done;
    }
    if (pos_weight)
        for (int c = 0; c < C; c++) pos_weight[c] = (float)hp->pos_weight;

    int64_t steps_per_epoch = n_epoch / Bmax + (n_epoch % Bmax >= 2 ? 1 : 0);
    int64_t total_steps = steps_per_epoch * hp->epochs;
    size_t n_params;
    float *params = gpn_sdm_params(m, &n_params), *grads = gpn_sdm_grads(m, NULL);
    double t_train = 0;
    int64_t samples_this_call = 0;
    int epochs_this_call = 0;

    /* ---- epochs ---- */
    while (st.epoch < hp->epochs && !(st.stopped_early && hp->patience > 0 && st.bad_epochs >= hp->patience)) {
        st.stopped_early = 0;
        int epoch = st.epoch; /* 0-based index of this epoch */
        double t0 = gpn_now();
        /* this epoch's samples: every PA sample and po_per_epoch PO samples
         * (a fresh uniform draw when capped), then shuffled */
        memcpy(perm, train, (size_t)n_train * sizeof *perm);
        struct gpn__rng rng = {st.rng};
        if (po_per_epoch < n_po_train) {
            int64_t *po = perm + n_pa_train;
            for (int64_t i = 0; i < po_per_epoch; i++) {
                int64_t j = i + (int64_t)gpn__rng_below(&rng, (uint64_t)(n_po_train - i));
                int64_t t = po[i];
                po[i] = po[j];
                po[j] = t;
            }
        }
        for (int64_t i = n_epoch - 1; i > 0; i--) {
            int64_t j = (int64_t)gpn__rng_below(&rng, (uint64_t)i + 1);
            int64_t t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        st.rng = rng.s;
        struct gpn_progress prog;
        char label[32];
        snprintf(label, sizeof label, "epoch %d/%d", epoch + 1, hp->epochs);
        gpn_progress_init(&prog, label, steps_per_epoch * Bmax < n_epoch ? steps_per_epoch * Bmax : n_epoch,
                          "samples");
        if (!o->progress) prog.enabled = 0;
        double loss_sum = 0, w_sum = 0, lr = hp->lr;
        int64_t seen = 0;
        gpn__batch_fill(&bt[0], &smp, perm, (int)(n_epoch < Bmax ? n_epoch : Bmax), epoch, 1);
        for (int64_t k = 0; k < steps_per_epoch; k++) {
            struct gpn__batch *cur = &bt[k & 1];
            pthread_t th;
            struct fill_job job;
            int started = 0;
            if (k + 1 < steps_per_epoch) {
                int64_t off = (k + 1) * Bmax;
                job = (struct fill_job){&bt[(k + 1) & 1], &smp, perm + off,
                                        (int)(n_epoch - off < Bmax ? n_epoch - off : Bmax), epoch};
                if (pthread_create(&th, NULL, fill_thread, &job) == 0) started = 1;
                else fill_thread(&job);
            }
            const int B = cur->B;
            gpn_sdm_zero_grad(m);
            rc = gpn_sdm_forward(m, B, cur->s2, cur->ls, cur->cl, logits, err);
            if (!rc) {
                double l = gpn_bce_logits(dlogits, logits, cur->y, cur->n_po ? cur->w : NULL, pos_weight, B, C);
                double scale = cur->wsum > 0 ? (double)B * C / cur->wsum : 0;
                l *= scale;
                float fs = (float)scale;
                for (size_t i = 0; i < (size_t)B * C; i++) dlogits[i] *= fs;
                if (!isfinite(l)) {
                    rc = gpn_err_set(err, GPN_ERANGE,
                                     "train-sdm: the loss diverged (%g at epoch %d, step %lld); lower the learning rate",
                                     l, epoch + 1, (long long)k + 1);
                } else {
                    rc = gpn_sdm_backward(m, dlogits, err);
                    loss_sum += l * cur->wsum;
                    w_sum += cur->wsum;
                }
            }
            if (!rc) {
                lr = schedule_lr(&st, st.step, total_steps, epoch);
                gpn_optim_step(opt, params, grads, (float)lr);
                st.step++;
                seen += B;
                gpn_progress_add(&prog, B);
                gpn_progress_note(&prog, "loss %.4f", w_sum > 0 ? loss_sum / w_sum : 0);
            }
            if (started) pthread_join(th, NULL);
            if (rc) goto done;
        }
        gpn_progress_finish(&prog);
        double t_ep = gpn_now() - t0;
        t_train += t_ep;
        samples_this_call += seen;
        struct epoch_rec er = {epoch + 1, w_sum > 0 ? loss_sum / w_sum : NAN, NAN, NAN, NAN, lr, 0,
                               t_ep > 0 ? seen / t_ep : 0};
        if (n_val) {
            rc = validate(m, d, val, n_val, Bmax, pos_weight, val_logits, val_labels, ytmp, &er.val_loss,
                          &er.val_auc_macro, &er.val_auc_micro, err);
            if (rc) goto done;
        }
        er.seconds = gpn_now() - t0;
        if ((rc = hist_push(&st, &er))) {
            rc = gpn_err_set(err, GPN_ENOMEM, "train-sdm: out of memory");
            goto done;
        }
        st.epoch = epoch + 1;
        epochs_this_call++;
        int improved = n_val == 0 || (isfinite(er.val_loss) && !(er.val_loss >= st.best_val_loss));
        if (improved) {
            st.best_epoch = epoch + 1;
            st.best_val_loss = er.val_loss;
            st.best_val_auc = er.val_auc_macro;
            st.bad_epochs = 0;
        } else {
            st.bad_epochs++;
            if (hp->schedule == GPN_SCHED_PLATEAU && st.bad_epochs % (hp->patience / 2 > 1 ? hp->patience / 2 : 1) == 0)
                st.lr_scale *= 0.1;
            if (hp->patience > 0 && st.bad_epochs >= hp->patience) st.stopped_early = 1;
        }
        run_log(&run, "epoch %d/%d: train loss %.5f, val loss %.5f, val AUC %.4f macro / %.4f micro, lr %.3g, %.1f "
                      "samples/s, %.1f s%s",
                epoch + 1, hp->epochs, er.train_loss, er.val_loss, er.val_auc_macro, er.val_auc_micro, lr,
                er.samples_per_s, er.seconds, improved ? " (best)" : "");
        if (st.stopped_early)
            run_log(&run, "early stop: no validation improvement for %d epochs; best epoch %d", st.bad_epochs,
                    st.best_epoch);

        /* ---- files of this epoch ---- */
        free(meta);
        meta = tstate_to_json(&st);
        if (!meta || (rc = gpn_sdm_set_meta(m, meta, err))) {
            if (!rc) rc = gpn_err_set(err, GPN_ENOMEM, "train-sdm: out of memory");
            goto done;
        }
        if (improved && (rc = gpn_sdm_save(m, NULL, o->out, err))) goto done;
        if ((rc = gpn_sdm_save(m, opt, run.ckpt, err))) goto done;
        if ((rc = write_metrics_csv(&run, &st, err))) goto done;
        if ((rc = write_plot(&run, &st, err))) goto done;
        if ((rc = run_write_file(&run, "train.log", run.log.data ? run.log.data : "", run.log.len, err))) goto done;

        if (st.stopped_early) break;
        if (o->stop_after > 0 && epochs_this_call >= o->stop_after) break;
        if (o->time_limit_s > 0 && gpn_now() - t_call >= o->time_limit_s) {
            run_log(&run, "time limit of %.0f s reached after epoch %d (continue with --resume)", o->time_limit_s,
                    st.epoch);
            break;
        }
    }
    rs.finished = st.epoch >= hp->epochs || st.stopped_early;
    if (rs.finished && epochs_this_call == 0) run_log(&run, "nothing to do: the run already finished");
    if (rs.finished) run_log(&run, "finished: best epoch %d, val loss %.5f, val AUC %.4f; model %s", st.best_epoch,
                             st.best_val_loss, st.best_val_auc, o->out);
    if ((rc = run_write_file(&run, "train.log", run.log.data ? run.log.data : "", run.log.len, err))) goto done;
    if (o->atlas && rs.finished && epochs_this_call > 0) {
        rc = record_in_atlas(o->atlas, o->out, m, &st, err);
        if (rc) {
            gpn_log_warn("train-sdm: could not record the run in %s: %s", o->atlas, err->msg);
            rc = 0;
        }
    }
    rs.epochs_done = st.epoch;
    rs.best_epoch = st.best_epoch;
    rs.best_val_loss = st.best_val_loss;
    rs.best_val_auc = st.best_val_auc;
    rs.last_train_loss = st.n_hist ? st.hist[st.n_hist - 1].train_loss : NAN;
    rs.stopped_early = st.stopped_early;
    rs.samples_per_s = t_train > 0 ? samples_this_call / t_train : 0;
done:
    rs.seconds = gpn_now() - t_call;
    if (res) *res = rs;
    free(train_json);
    free(meta);
    free(is_val);
    free(val_labels);
    free(train);
    free(val);
    free(perm);
    free(logits);
    free(dlogits);
    free(pos_weight);
    free(val_logits);
    free(ytmp);
    free(st.hist);
    gpn_buf_free(&run.log);
    gpn__batch_free(&bt[0]);
    gpn__batch_free(&bt[1]);
    gpn__sampler_free(&smp);
    gpn_optim_destroy(opt);
    gpn_sdm_destroy(m);
    gpn_dataset_close(d);
    return rc;
}
