/*
 * sdm_io.c - saving and loading Deep-SDM models (sdm.h) in the model file
 * format of ckpt.h (kind "gpn-sdm").
 *
 * Tensors written (all little-endian, names as gpn_sdm_param_info /
 * gpn_sdm_buffer_info give them):
 *   every parameter           f32, its PyTorch shape
 *   every buffer              f32 (C): BN running_mean / running_var,
 *                             norm.landsat.mean / .std, norm.climate.*
 *   species                   i32 (n_species) label index -> species id
 *   meta                      u8  trainer metadata JSON text (optional)
 *   optim.hparams             f64 (10) kind, lr, momentum, dampening,
 *                             nesterov, weight_decay, beta1, beta2, eps, step
 *   optim.state0, .state1     f32 (n_params) momentum / Adam moments
 * The model config JSON is the file's config text. The loader rebuilds the
 * model from the config and then requires every tensor with exactly the
 * expected dtype and shape, so a file cannot load into a model of another
 * shape.
 */
#include "gpn/ckpt.h"
#include "gpn/sdm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int gpn_sdm_save(const struct gpn_sdm *cm, const struct gpn_optim *copt, const char *path, struct gpn_err *err)
{
    struct gpn_sdm *m = (struct gpn_sdm *)cm;   /* accessors are non-const; nothing is modified */
    struct gpn_optim *opt = (struct gpn_optim *)copt;
    const struct gpn_sdm_config *cfg = gpn_sdm_get_config(m);
    struct gpn_ckpt_writer *w = NULL;
    char *cj = gpn_sdm_config_to_json(cfg);
    if (!cj) return gpn_err_set(err, GPN_ENOMEM, "gpn_sdm_save: out of memory");
    int rc = gpn_ckpt_writer_create(GPN_SDM_FILE_KIND, cj, &w, err);
    free(cj);
    if (rc) return rc;
    size_t np;
    float *params = gpn_sdm_params(m, &np);
    double hp[10];
    for (int i = 0; i < gpn_sdm_param_count(m) && !rc; i++) {
        const char *name;
        size_t off;
        int rank;
        int64_t shape[4];
        gpn_sdm_param_info(m, i, &name, &off, &rank, shape);
        rc = gpn_ckpt_writer_add(w, name, GPN_CKPT_F32, rank, shape, params + off, err);
    }
    for (int i = 0; i < gpn_sdm_buffer_count(m) && !rc; i++) {
        const char *name;
        float *data;
        size_t n;
        gpn_sdm_buffer_info(m, i, &name, &data, &n);
        int64_t shape[1] = {(int64_t)n};
        rc = gpn_ckpt_writer_add(w, name, GPN_CKPT_F32, 1, shape, data, err);
    }
    if (!rc) {
        int64_t shape[1] = {cfg->n_species};
        rc = gpn_ckpt_writer_add(w, "species", GPN_CKPT_I32, 1, shape, gpn_sdm_get_species(m), err);
    }
    const char *meta = gpn_sdm_get_meta(m);
    if (!rc && meta) {
        int64_t shape[1] = {(int64_t)strlen(meta)};
        rc = gpn_ckpt_writer_add(w, "meta", GPN_CKPT_U8, 1, shape, meta, err);
    }
    if (!rc && opt) {
        if (gpn_optim_size(opt) != np) {
            rc = gpn_err_set(err, GPN_EINVAL, "gpn_sdm_save: optimiser has %zu parameters, model %zu",
                             gpn_optim_size(opt), np);
        } else {
            const struct gpn_optim_config *oc = gpn_optim_get_config(opt);
            double v[10] = {oc->kind, oc->lr, oc->momentum, oc->dampening, oc->nesterov, oc->weight_decay,
                            oc->beta1, oc->beta2, oc->eps, (double)gpn_optim_steps(opt)};
            memcpy(hp, v, sizeof hp);
            int64_t s10[1] = {10}, sn[1] = {(int64_t)np};
            rc = gpn_ckpt_writer_add(w, "optim.hparams", GPN_CKPT_F64, 1, s10, hp, err);
            for (int i = 0; i < gpn_optim_state_count(opt) && !rc; i++) {
                char nm[32];
                snprintf(nm, sizeof nm, "optim.state%d", i);
                rc = gpn_ckpt_writer_add(w, nm, GPN_CKPT_F32, 1, sn, gpn_optim_state(opt, i), err);
            }
        }
    }
    if (!rc) rc = gpn_ckpt_writer_write(w, path, err);
    gpn_ckpt_writer_destroy(w);
    return rc;
}

static int load_optim(const struct gpn_ckpt *ck, size_t np, struct gpn_optim **out, struct gpn_err *err)
{
    *out = NULL;
    int64_t s10[1] = {10}, sn[1] = {(int64_t)np};
    const double *hp = gpn_ckpt_expect(ck, "optim.hparams", GPN_CKPT_F64, 1, s10, err);
    if (!hp) return err ? err->code : GPN_EFORMAT;
    for (int i = 0; i < 10; i++)
        if (!isfinite(hp[i])) return gpn_err_set(err, GPN_EFORMAT, "model file: optim.hparams not finite");
    if (hp[9] < 0 || hp[9] > 1e15) return gpn_err_set(err, GPN_EFORMAT, "model file: bad optimiser step count");
    struct gpn_optim_config oc = {
        .kind = (int)hp[0], .lr = (float)hp[1], .momentum = (float)hp[2], .dampening = (float)hp[3],
        .nesterov = (int)hp[4], .weight_decay = (float)hp[5], .beta1 = (float)hp[6], .beta2 = (float)hp[7],
        .eps = (float)hp[8],
    };
    struct gpn_optim *o;
    int rc = gpn_optim_create(&oc, np, &o, err);
    if (rc) {
        gpn_err_prefix(err, "model file: optimiser");
        return rc;
    }
    for (int i = 0; i < gpn_optim_state_count(o); i++) {
        char nm[32];
        snprintf(nm, sizeof nm, "optim.state%d", i);
        const float *st = gpn_ckpt_expect(ck, nm, GPN_CKPT_F32, 1, sn, err);
        if (!st) {
            gpn_optim_destroy(o);
            return GPN_EFORMAT;
        }
        memcpy(gpn_optim_state(o, i), st, np * sizeof(float));
    }
    gpn_optim_set_steps(o, (int64_t)hp[9]);
    *out = o;
    return 0;
}

int gpn_sdm_load(const char *path, int max_batch, int train, struct gpn_sdm **out, struct gpn_optim **opt_out,
                 struct gpn_err *err)
{
    struct gpn_ckpt *ck = NULL;
    struct gpn_sdm *m = NULL;
    struct gpn_optim *opt = NULL;
    struct gpn_sdm_config cfg;
    char *meta = NULL;
    *out = NULL;
    if (opt_out) *opt_out = NULL;
    int rc = gpn_ckpt_open(path, &ck, err);
    if (rc) return rc;
    if (strcmp(gpn_ckpt_kind(ck), GPN_SDM_FILE_KIND)) {
        rc = gpn_err_set(err, GPN_EFORMAT, "%s: a '%s' model file, not an SDM (%s)", path, gpn_ckpt_kind(ck),
                         GPN_SDM_FILE_KIND);
        goto fail;
    }
    if ((rc = gpn_sdm_config_from_json(gpn_ckpt_config(ck), &cfg, err)) ||
        (rc = gpn_sdm_config_validate(&cfg, 1, err))) {
        gpn_err_prefix(err, "%s", path);
        goto fail;
    }
    if ((rc = gpn_sdm_create(&cfg, max_batch, train, 0, &m, err))) goto fail;
    size_t np;
    float *params = gpn_sdm_params(m, &np);
    for (int i = 0; i < gpn_sdm_param_count(m); i++) {
        const char *name;
        size_t off;
        int rank;
        int64_t shape[4];
        gpn_sdm_param_info(m, i, &name, &off, &rank, shape);
        const float *src = gpn_ckpt_expect(ck, name, GPN_CKPT_F32, rank, shape, err);
        if (!src) goto fail_fmt;
        size_t n = 1;
        for (int k = 0; k < rank; k++) n *= (size_t)shape[k];
        memcpy(params + off, src, n * sizeof(float));
        for (size_t k = 0; k < n; k++)
            if (!isfinite(params[off + k])) {
                rc = gpn_err_set(err, GPN_EFORMAT, "%s: tensor '%s' has a non-finite value", path, name);
                goto fail;
            }
    }
    for (int i = 0; i < gpn_sdm_buffer_count(m); i++) {
        const char *name;
        float *data;
        size_t n;
        gpn_sdm_buffer_info(m, i, &name, &data, &n);
        int64_t shape[1] = {(int64_t)n};
        const float *src = gpn_ckpt_expect(ck, name, GPN_CKPT_F32, 1, shape, err);
        if (!src) goto fail_fmt;
        for (size_t k = 0; k < n; k++) {
            int is_var = strstr(name, "running_var") || strstr(name, ".std");
            if (!isfinite(src[k]) || (is_var && !(src[k] > 0))) {
                rc = gpn_err_set(err, GPN_EFORMAT, "%s: tensor '%s' has an invalid value", path, name);
                goto fail;
            }
        }
        memcpy(data, src, n * sizeof(float));
    }
    int64_t ss[1] = {cfg.n_species};
    const int32_t *sp = gpn_ckpt_expect(ck, "species", GPN_CKPT_I32, 1, ss, err);
    if (!sp) goto fail_fmt;
    gpn_sdm_set_species(m, sp, err);
    const struct gpn_ckpt_tensor *mt = gpn_ckpt_find(ck, "meta");
    if (mt) {
        if (mt->dtype != GPN_CKPT_U8 || mt->rank != 1) {
            rc = gpn_err_set(err, GPN_EFORMAT, "%s: tensor 'meta' must be u8 text", path);
            goto fail;
        }
        meta = malloc(mt->nbytes + 1);
        if (!meta) {
            rc = gpn_err_set(err, GPN_ENOMEM, "%s: out of memory", path);
            goto fail;
        }
        memcpy(meta, mt->data, mt->nbytes);
        meta[mt->nbytes] = 0;
        if (strlen(meta) != mt->nbytes) {
            rc = gpn_err_set(err, GPN_EFORMAT, "%s: NUL byte inside 'meta'", path);
            goto fail;
        }
        if ((rc = gpn_sdm_set_meta(m, meta, err))) goto fail;
    }
    if (opt_out && gpn_ckpt_find(ck, "optim.hparams")) {
        if ((rc = load_optim(ck, np, &opt, err))) {
            gpn_err_prefix(err, "%s", path);
            goto fail;
        }
    }
    gpn_sdm_params_changed(m);
    free(meta);
    gpn_ckpt_close(ck);
    *out = m;
    if (opt_out) *opt_out = opt;
    return 0;
fail_fmt:
    rc = GPN_EFORMAT;
    gpn_err_prefix(err, "%s", path);
fail:
    free(meta);
    gpn_optim_destroy(opt);
    gpn_sdm_destroy(m);
    gpn_ckpt_close(ck);
    return rc;
}
