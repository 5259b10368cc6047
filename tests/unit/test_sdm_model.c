/*
 * test_sdm_model.c - the whole Deep-SDM against PyTorch on the same weights
 * and inputs (tests/ref/fixtures/sdm_small.model + sdm_small.bin from
 * gen_fixtures.py): eval logits, training-mode logits, every parameter
 * gradient, BN running statistics, and the loss curves of 10 SGD and 10
 * AdamW steps. Plus the map-time API (embed + head, broadcast embeddings),
 * batch-size independence, configs and error paths.
 *
 * Tolerances: TOL_MODEL (2e-4 absolute + 1e-3 relative) for logits and
 * gradients, 1e-3 relative for the loss curves (fp32 GEMMs in a different
 * summation order than oneDNN's; 10 optimiser steps compound the
 * differences).
 */
#include "gpn/nn.h"
#include "gpn/sdm.h"
#include "nn_testutil.h"
#include "test.h"

#define MODEL_FILE FIXDIR "sdm_small.model"

struct fixture {
    struct gpn_ckpt *ck;
    const uint8_t *s2;
    const float *ls, *cl, *y;
    int B, S;
};

static int fixture_open(struct fixture *f)
{
    memset(f, 0, sizeof *f);
    f->ck = fx_open("sdm_small.bin");
    if (!f->ck) return 1;
    const struct gpn_ckpt_tensor *t = fx_t(f->ck, "sentinel");
    f->ls = fx_f32(f->ck, "landsat", NULL);
    f->cl = fx_f32(f->ck, "climate", NULL);
    f->y = fx_f32(f->ck, "targets", NULL);
    if (!t || !f->ls || !f->cl || !f->y) return 1;
    f->s2 = t->data;
    f->B = (int)fx_int(f->ck, "B");
    f->S = 13;
    return 0;
}

static void test_eval_logits_match_pytorch(void)
{
    struct fixture f;
    struct gpn_err err = {0};
    ASSERT_FALSE(fixture_open(&f));
    float logits[3 * 13];
    for (int trainable = 0; trainable <= 1; trainable++) {
        struct gpn_sdm *m = NULL;
        ASSERT_OK(gpn_sdm_load(MODEL_FILE, 3, trainable, &m, NULL, &err), &err);
        ASSERT_EQ_INT(gpn_sdm_get_config(m)->n_species, 13);
        ASSERT_EQ_INT(gpn_sdm_get_species(m)[4], 104);
        ASSERT_OK(gpn_sdm_set_train(m, 0), &err);
        ASSERT_OK(gpn_sdm_forward(m, 3, f.s2, f.ls, f.cl, logits, &err), &err);
        int bad = check_close(trainable ? "eval logits (trainable model)" : "eval logits", logits,
                              fx_f32(f.ck, "logits_eval", NULL), 3 * 13, TOL_MODEL);
        gpn_sdm_destroy(m);
        ASSERT_FALSE(bad);
    }
    gpn_ckpt_close(f.ck);
}

static void test_train_forward_backward_match_pytorch(void)
{
    struct fixture f;
    struct gpn_err err = {0};
    ASSERT_FALSE(fixture_open(&f));
    struct gpn_sdm *m = NULL;
    ASSERT_OK(gpn_sdm_load(MODEL_FILE, 3, 1, &m, NULL, &err), &err);
    float logits[3 * 13], dl[3 * 13];
    ASSERT_OK(gpn_sdm_forward(m, 3, f.s2, f.ls, f.cl, logits, &err), &err);
    int bad = check_close("train logits", logits, fx_f32(f.ck, "logits_train", NULL), 39, TOL_MODEL);
    float loss = (float)gpn_bce_logits(dl, logits, f.y, NULL, NULL, 3, 13);
    bad |= check_close("loss", &loss, fx_f32(f.ck, "loss", NULL), 1, TOL_MODEL);
    gpn_sdm_zero_grad(m);
    ASSERT_OK(gpn_sdm_backward(m, dl, &err), &err);
    float *grads = gpn_sdm_grads(m, NULL);
    for (int i = 0; i < gpn_sdm_param_count(m); i++) {
        const char *name;
        size_t off, n;
        int rank;
        int64_t shape[4];
        gpn_sdm_param_info(m, i, &name, &off, &rank, shape);
        char fxname[96];
        snprintf(fxname, sizeof fxname, "grad.%s", name);
        const float *want = fx_f32(f.ck, fxname, &n);
        if (!want) {
            bad = 1;
            continue;
        }
        bad |= check_close(fxname, grads + off, want, n, TOL_MODEL);
    }
    for (int i = 0; i < gpn_sdm_buffer_count(m); i++) {
        const char *name;
        float *data;
        size_t n, nf;
        gpn_sdm_buffer_info(m, i, &name, &data, &n);
        if (!strstr(name, "running")) continue;
        char fxname[96];
        snprintf(fxname, sizeof fxname, "after.%s", name);
        const float *want = fx_f32(f.ck, fxname, &nf);
        bad |= !want || nf != n || check_close(fxname, data, want, n, TOL_MODEL);
    }
    /* a second backward without a new forward is a state error */
    ASSERT_RC(gpn_sdm_backward(m, dl, &err), GPN_ESTATE);
    gpn_sdm_destroy(m);
    gpn_ckpt_close(f.ck);
    ASSERT_FALSE(bad);
}

/* 10 optimiser steps reproduce PyTorch's loss curve. */
static int curve_case(int adamw)
{
    struct fixture f;
    struct gpn_err err = {0};
    if (fixture_open(&f)) return 1;
    struct gpn_sdm *m = NULL;
    int bad = 0;
    if (gpn_sdm_load(MODEL_FILE, 4, 1, &m, NULL, &err)) {
        fprintf(stderr, "  %s\n", err.msg);
        return 1;
    }
    struct gpn_optim_config oc;
    gpn_optim_config_default(&oc, adamw ? GPN_OPTIM_ADAMW : GPN_OPTIM_SGD);
    if (adamw) {
        oc.lr = 3e-3f;
        oc.weight_decay = 0.01f;
    } else {
        oc.lr = 0.05f;
        oc.momentum = 0.9f;
        oc.weight_decay = 1e-3f;
    }
    size_t np;
    float *params = gpn_sdm_params(m, &np);
    struct gpn_optim *opt = NULL;
    if (gpn_optim_create(&oc, np, &opt, &err)) return 1;
    const uint8_t *s2 = fx_t(f.ck, "steps.sentinel")->data;
    const float *ls = fx_f32(f.ck, "steps.landsat", NULL), *cl = fx_f32(f.ck, "steps.climate", NULL),
                *y = fx_f32(f.ck, "steps.targets", NULL);
    const float *want = fx_f32(f.ck, adamw ? "losses.adamw" : "losses.sgd", NULL);
    float losses[10], logits[4 * 13], dl[4 * 13], pw[13];
    for (int i = 0; i < 13; i++) pw[i] = 2.0f;
    for (int step = 0; step < 10; step++) {
        const size_t B = 4;
        gpn_sdm_forward(m, 4, s2 + step * B * 4 * 9 * 11, ls + step * B * 6 * 4 * 21, cl + step * B * 4 * 19 * 12,
                        logits, &err);
        losses[step] = (float)gpn_bce_logits(dl, logits, y + step * B * 13, NULL, pw, 4, 13);
        gpn_sdm_zero_grad(m);
        gpn_sdm_backward(m, dl, &err);
        gpn_optim_step(opt, params, gpn_sdm_grads(m, NULL), oc.lr);
    }
    fprintf(stderr, "  %s losses:", adamw ? "adamw" : "sgd");
    for (int i = 0; i < 10; i++) fprintf(stderr, " %.5f/%.5f", losses[i], want[i]);
    fprintf(stderr, "\n");
    bad |= check_close(adamw ? "adamw loss curve" : "sgd loss curve", losses, want, 10, (struct tol){1e-5, 1e-3});
    /* eval logits after training (running statistics and weights both moved) */
    gpn_sdm_set_train(m, 0);
    gpn_sdm_forward(m, 3, f.s2, f.ls, f.cl, logits, &err);
    bad |= check_close("eval logits after training", logits,
                       fx_f32(f.ck, adamw ? "adamw.logits_eval" : "sgd.logits_eval", NULL), 39,
                       (struct tol){2e-3, 5e-3});
    gpn_optim_destroy(opt);
    gpn_sdm_destroy(m);
    gpn_ckpt_close(f.ck);
    return bad;
}

static void test_sgd_loss_curve_matches_pytorch(void) { ASSERT_FALSE(curve_case(0)); }
static void test_adamw_loss_curve_matches_pytorch(void) { ASSERT_FALSE(curve_case(1)); }

/* ==== map-time API ======================================================== */

static void test_embed_and_head_equal_forward(void)
{
    struct fixture f;
    struct gpn_err err = {0};
    ASSERT_FALSE(fixture_open(&f));
    struct gpn_sdm *m = NULL;
    ASSERT_OK(gpn_sdm_load(MODEL_FILE, 3, 0, &m, NULL, &err), &err);
    const int D = gpn_sdm_config_emb_dim(gpn_sdm_get_config(m));
    float emb[3][3 * 8], logits[39], ref[39];
    ASSERT_EQ_INT(D, 8);
    ASSERT_OK(gpn_sdm_embed(m, GPN_SDM_SENTINEL, 3, f.s2, emb[0], &err), &err);
    ASSERT_OK(gpn_sdm_embed(m, GPN_SDM_LANDSAT, 3, f.ls, emb[1], &err), &err);
    ASSERT_OK(gpn_sdm_embed(m, GPN_SDM_CLIMATE, 3, f.cl, emb[2], &err), &err);
    const float *e[3] = {emb[0], emb[1], emb[2]};
    size_t stride[3] = {(size_t)D, (size_t)D, (size_t)D};
    ASSERT_OK(gpn_sdm_head(m, 3, e, stride, logits, &err), &err);
    int bad = check_close("embed+head", logits, fx_f32(f.ck, "logits_eval", NULL), 39, TOL_MODEL);
    /* three cells sharing one climate cube: broadcast climate embedding 0 */
    float cl3[3 * 4 * 19 * 12];
    for (int b = 0; b < 3; b++) memcpy(cl3 + b * 912, f.cl, 912 * sizeof(float));
    ASSERT_OK(gpn_sdm_forward(m, 3, f.s2, f.ls, cl3, ref, &err), &err);
    stride[2] = 0;
    ASSERT_OK(gpn_sdm_head(m, 3, e, stride, logits, &err), &err);
    bad |= check_close("broadcast climate embedding", logits, ref, 39, TOL_REDUCE);
    const float *missing[3] = {emb[0], NULL, emb[2]};
    ASSERT_RC(gpn_sdm_head(m, 3, missing, stride, logits, &err), GPN_EINVAL);
    gpn_sdm_destroy(m);
    gpn_ckpt_close(f.ck);
    ASSERT_FALSE(bad);
}

/* Results do not depend on the batch split: micro-batches, thread ranges,
 * batch 1 versus a large batch. */
static void test_batch_independence(void)
{
    struct gpn_err err = {0};
    struct gpn_sdm_config cfg;
    ASSERT_OK(gpn_sdm_config_named("demo", &cfg, &err), &err);
    cfg.n_species = 21;
    cfg.in_h[0] = cfg.in_w[0] = 17; /* odd S2 patch */
    struct gpn_sdm *m = NULL, *t = NULL;
    const int B = 37;
    ASSERT_OK(gpn_sdm_create(&cfg, 64, 0, 42, &m, &err), &err);
    ASSERT_OK(gpn_sdm_clone(m, B, 1, &t, &err), &err);
    size_t n2 = (size_t)B * 4 * 17 * 17, nl = (size_t)B * 6 * 84, nc = (size_t)B * 4 * 228;
    uint8_t *s2 = malloc(n2);
    float *ls = malloc(nl * 4), *cl = malloc(nc * 4), *all = malloc((size_t)B * 21 * 4), one[21];
    float *all_t = malloc((size_t)B * 21 * 4);
    uint64_t s = 3;
    fill_rand(ls, nl, &s);
    fill_rand(cl, nc, &s);
    for (size_t i = 0; i < n2; i++) s2[i] = (uint8_t)((i * 2654435761u) >> 13);
    ASSERT_OK(gpn_sdm_forward(m, B, s2, ls, cl, all, &err), &err);
    int bad = 0;
    for (int b = 0; b < B; b += 7) {
        ASSERT_OK(gpn_sdm_forward(m, 1, s2 + (size_t)b * 4 * 289, ls + (size_t)b * 504, cl + (size_t)b * 912, one, &err),
                  &err);
        bad |= check_close("batch 1 vs batch 37", one, all + (size_t)b * 21, 21, TOL_REDUCE);
    }
    /* the trainable clone in eval mode gives the same logits */
    ASSERT_OK(gpn_sdm_set_train(t, 0), &err);
    ASSERT_OK(gpn_sdm_forward(t, B, s2, ls, cl, all_t, &err), &err);
    bad |= check_close("clone (trainable, eval mode)", all_t, all, (size_t)B * 21, TOL_REDUCE);
    for (size_t i = 0; i < (size_t)B * 21; i++) bad |= !isfinite(all[i]);
    free(s2), free(ls), free(cl), free(all), free(all_t);
    gpn_sdm_destroy(m);
    gpn_sdm_destroy(t);
    ASSERT_FALSE(bad);
}

/* The Winograd inference layers give the im2col result. */
void gpn__sdm_set_winograd(struct gpn_sdm *m, int on); /* src/nn/nn_internal.h */

static void test_winograd_path_equals_im2col(void)
{
    struct gpn_err err = {0};
    struct gpn_sdm_config cfg;
    ASSERT_OK(gpn_sdm_config_from_json("{\"base\":\"demo\",\"n_species\":17,\"widths\":[16,24,32,40],\"sentinel\":[4,21,19]}",
                                       &cfg, &err),
              &err);
    struct gpn_sdm *m = NULL;
    const int B = 6;
    ASSERT_OK(gpn_sdm_create(&cfg, B, 0, 5, &m, &err), &err);
    size_t n2 = (size_t)B * 4 * 21 * 19, nl = (size_t)B * 504, nc = (size_t)B * 912;
    uint8_t *s2 = malloc(n2);
    float *ls = malloc(nl * 4), *cl = malloc(nc * 4), a[6 * 17], b[6 * 17];
    uint64_t s = 8;
    fill_rand(ls, nl, &s);
    fill_rand(cl, nc, &s);
    for (size_t i = 0; i < n2; i++) s2[i] = (uint8_t)(i * 7 + (i >> 5));
    gpn__sdm_set_winograd(m, 0);
    ASSERT_OK(gpn_sdm_forward(m, B, s2, ls, cl, a, &err), &err);
    gpn__sdm_set_winograd(m, 1);
    ASSERT_OK(gpn_sdm_forward(m, B, s2, ls, cl, b, &err), &err);
    free(s2), free(ls), free(cl);
    gpn_sdm_destroy(m);
    ASSERT_FALSE(check_close("winograd vs im2col logits", b, a, (size_t)B * 17, TOL_REDUCE));
}

/* Training with Winograd layers (forward and input gradient) gives the
 * im2col logits and gradients. */
static void test_winograd_training_equals_im2col(void)
{
    struct gpn_err err = {0};
    struct gpn_sdm_config cfg;
    ASSERT_OK(gpn_sdm_config_from_json("{\"base\":\"demo\",\"n_species\":11,\"widths\":[16,24,32,40],\"sentinel\":[4,13,18]}",
                                       &cfg, &err),
              &err);
    struct gpn_sdm *a = NULL, *b = NULL;
    const int B = 5;
    ASSERT_OK(gpn_sdm_create(&cfg, B, 1, 9, &a, &err), &err);
    ASSERT_OK(gpn_sdm_clone(a, B, 1, &b, &err), &err);
    gpn__sdm_set_winograd(a, 0);
    gpn__sdm_set_winograd(b, 1);
    size_t n2 = (size_t)B * 4 * 13 * 18, nl = (size_t)B * 504, nc = (size_t)B * 912, np;
    uint8_t *s2 = malloc(n2);
    float *ls = malloc(nl * 4), *cl = malloc(nc * 4), la[5 * 11], lb[5 * 11], y[5 * 11], da[5 * 11], db[5 * 11];
    uint64_t s = 12;
    fill_rand(ls, nl, &s);
    fill_rand(cl, nc, &s);
    for (size_t i = 0; i < n2; i++) s2[i] = (uint8_t)(i * 13 + (i >> 4));
    for (int i = 0; i < B * 11; i++) y[i] = (float)(i % 3 == 0);
    ASSERT_OK(gpn_sdm_forward(a, B, s2, ls, cl, la, &err), &err);
    ASSERT_OK(gpn_sdm_forward(b, B, s2, ls, cl, lb, &err), &err);
    gpn_bce_logits(da, la, y, NULL, NULL, B, 11);
    gpn_bce_logits(db, lb, y, NULL, NULL, B, 11);
    gpn_sdm_zero_grad(a);
    gpn_sdm_zero_grad(b);
    ASSERT_OK(gpn_sdm_backward(a, da, &err), &err);
    ASSERT_OK(gpn_sdm_backward(b, db, &err), &err);
    int bad = check_close("train logits, winograd vs im2col", lb, la, (size_t)B * 11, TOL_REDUCE);
    const float *gb = gpn_sdm_grads(b, &np), *ga = gpn_sdm_grads(a, NULL);
    bad |= check_close("gradients, winograd vs im2col", gb, ga, np, TOL_MODEL);
    free(s2), free(ls), free(cl);
    gpn_sdm_destroy(a);
    gpn_sdm_destroy(b);
    ASSERT_FALSE(bad);
}

/* ==== configs and errors ================================================== */

static void test_configs(void)
{
    struct gpn_err err = {0};
    struct gpn_sdm_config c, d;
    ASSERT_OK(gpn_sdm_config_named("geoplant", &c, &err), &err);
    ASSERT_EQ_INT(c.n_species, 11255);
    ASSERT_EQ_INT(c.width[3], 512);
    ASSERT_EQ_INT(c.in_h[GPN_SDM_SENTINEL], 128);
    ASSERT_EQ_INT(gpn_sdm_config_concat_dim(&c), 1536);
    ASSERT_OK(gpn_sdm_config_validate(&c, 1, &err), &err);
    /* JSON round trip */
    char *js = gpn_sdm_config_to_json(&c);
    ASSERT_TRUE(js);
    ASSERT_OK(gpn_sdm_config_from_json(js, &d, &err), &err);
    free(js);
    ASSERT_TRUE(!memcmp(&c, &d, sizeof c));
    /* parameter count of the GeoPlant MME, from the architecture */
    struct gpn_sdm *m = NULL;
    ASSERT_OK(gpn_sdm_create(&c, 1, 0, 1, &m, &err), &err);
    size_t np;
    gpn_sdm_params(m, &np);
    size_t expect = 0;
    const int cin[3] = {4, 6, 4};
    for (int md = 0; md < 3; md++) {
        int ch = cin[md];
        for (int l = 0; l < 4; l++) {
            expect += (size_t)c.width[l] * ch * 9 + 2 * (size_t)c.width[l];
            ch = c.width[l];
        }
    }
    expect += 1536 * 11255 + 11255;
    ASSERT_EQ_INT(np, expect);
    gpn_sdm_destroy(m);
    ASSERT_RC(gpn_sdm_config_named("nope", &c, &err), GPN_ENOTFOUND);
    ASSERT_OK(gpn_sdm_config_from_json("{\"base\":\"demo\",\"n_species\":7,\"widths\":[8,8,8],\"modalities\":[\"climate\"]}",
                                       &d, &err),
              &err);
    ASSERT_EQ_INT(d.n_layers, 3);
    ASSERT_EQ_INT(d.pool[1], 1);
    ASSERT_EQ_INT(d.pool[2], 0);
    ASSERT_EQ_INT(d.use[GPN_SDM_SENTINEL], 0);
    ASSERT_EQ_INT(gpn_sdm_config_concat_dim(&d), 8);
    ASSERT_RC(gpn_sdm_config_from_json("{\"widht\":[8]}", &d, &err), GPN_EFORMAT);
    ASSERT_STR_CONTAINS(err.msg, "widht");
    ASSERT_RC(gpn_sdm_config_from_json("{\"widths\":[0,8]}", &d, &err), GPN_ERANGE);
    /* three pools shrink Landsat's 4 rows to 0 */
    ASSERT_RC(gpn_sdm_config_from_json("{\"widths\":[4,4,4],\"pool\":[1,1,1]}", &d, &err), GPN_ERANGE);
    ASSERT_STR_CONTAINS(err.msg, "landsat");
    ASSERT_RC(gpn_sdm_config_from_json("{\"modalities\":[]}", &d, &err), GPN_EINVAL);
    ASSERT_RC(gpn_sdm_config_from_json("[1]", &d, &err), GPN_EFORMAT);
    ASSERT_OK(gpn_sdm_config_from_json("{\"base\":\"demo\",\"train\":{\"epochs\":3}}", &d, &err), &err);
    /* n_species 0 is allowed in a config but not in a model */
    ASSERT_RC(gpn_sdm_create(&d, 4, 1, 0, &m, &err), GPN_ERANGE);
}

static void test_errors(void)
{
    struct gpn_err err = {0};
    struct gpn_sdm_config c;
    ASSERT_OK(gpn_sdm_config_from_json("{\"base\":\"demo\",\"n_species\":5,\"widths\":[4,4,4,4],\"sentinel\":[4,8,8]}",
                                       &c, &err),
              &err);
    struct gpn_sdm *m = NULL;
    ASSERT_OK(gpn_sdm_create(&c, 2, 0, 1, &m, &err), &err);
    uint8_t s2[2 * 4 * 64] = {0};
    float ls[2 * 504] = {0}, cl[2 * 912] = {0}, lg[10], dl[10] = {0};
    ASSERT_RC(gpn_sdm_forward(m, 3, s2, ls, cl, lg, &err), GPN_EINVAL);
    ASSERT_RC(gpn_sdm_forward(m, 0, s2, ls, cl, lg, &err), GPN_EINVAL);
    ASSERT_RC(gpn_sdm_forward(m, 2, s2, NULL, cl, lg, &err), GPN_EINVAL);
    ASSERT_STR_CONTAINS(err.msg, "landsat");
    ASSERT_OK(gpn_sdm_forward(m, 2, s2, ls, cl, lg, &err), &err);
    ASSERT_RC(gpn_sdm_backward(m, dl, &err), GPN_ESTATE);
    ASSERT_RC(gpn_sdm_set_train(m, 1), GPN_ESTATE);
    ASSERT_TRUE(gpn_sdm_grads(m, NULL) == NULL);
    float mean[6] = {0}, bad_std[6] = {1, 1, 0, 1, 1, 1};
    ASSERT_RC(gpn_sdm_set_norm(m, GPN_SDM_LANDSAT, mean, bad_std, &err), GPN_ERANGE);
    ASSERT_RC(gpn_sdm_set_norm(m, GPN_SDM_SENTINEL, mean, bad_std, &err), GPN_EINVAL);
    gpn_sdm_destroy(m);
    ASSERT_OK(gpn_sdm_create(&c, 2, 1, 1, &m, &err), &err);
    float emb[2 * 4];
    ASSERT_RC(gpn_sdm_embed(m, GPN_SDM_CLIMATE, 2, cl, emb, &err), GPN_ESTATE);
    gpn_sdm_destroy(m);
    gpn_sdm_destroy(NULL);
}

/* Standardisation hook: statistics over finite values, NaN gaps ignored,
 * constant channels floored; NaN inputs never reach the logits. */
static void test_norm_compute(void)
{
    /* (n=2, c=2, hw=3) */
    float x[12] = {1, 2, 3, 5, 5, 5, 3, NAN, 5, 5, 5, 5};
    float mean[2], std[2];
    gpn_sdm_norm_compute(x, 2, 2, 3, mean, std);
    ASSERT_NEAR(mean[0], 2.8, 1e-6);
    ASSERT_NEAR(std[0], sqrt((3.24 + 0.64 + 0.04 + 0.04 + 4.84) / 5.0), 1e-6);
    ASSERT_NEAR(mean[1], 5, 1e-6);
    ASSERT_NEAR(std[1], 1e-6, 1e-9);
    struct gpn_err err = {0};
    struct gpn_sdm_config c;
    ASSERT_OK(gpn_sdm_config_from_json("{\"n_species\":3,\"widths\":[4,4],\"modalities\":[\"landsat\"]}", &c, &err), &err);
    struct gpn_sdm *m = NULL;
    ASSERT_OK(gpn_sdm_create(&c, 1, 0, 1, &m, &err), &err);
    float ls[504], lg[3];
    for (int i = 0; i < 504; i++) ls[i] = i % 5 ? 100.0f + i : NAN;
    float mu[6] = {100, 100, 100, 100, 100, 100}, sd[6] = {50, 50, 50, 50, 50, 50};
    ASSERT_OK(gpn_sdm_set_norm(m, GPN_SDM_LANDSAT, mu, sd, &err), &err);
    ASSERT_OK(gpn_sdm_forward(m, 1, NULL, ls, NULL, lg, &err), &err);
    for (int i = 0; i < 3; i++) ASSERT_TRUE(isfinite(lg[i]));
    gpn_sdm_destroy(m);
}

int main(void)
{
    RUN(test_eval_logits_match_pytorch);
    RUN(test_train_forward_backward_match_pytorch);
    RUN(test_sgd_loss_curve_matches_pytorch);
    RUN(test_adamw_loss_curve_matches_pytorch);
    RUN(test_embed_and_head_equal_forward);
    RUN(test_batch_independence);
    RUN(test_winograd_path_equals_im2col);
    RUN(test_winograd_training_equals_im2col);
    RUN(test_configs);
    RUN(test_errors);
    RUN(test_norm_compute);
    return test_summary();
}
