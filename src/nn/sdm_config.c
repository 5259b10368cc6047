/*
 * sdm_config.c - Deep-SDM configurations: the named ones, JSON in and out,
 * validation and cost (sdm.h).
 *
 * The config is stored as JSON inside every model file, so a model file is
 * self-describing; gpn_sdm_config_from_json is strict (unknown keys are
 * errors, every number range-checked) because configs also come from users'
 * files. JSON goes through jansson.
 */
#include "gpn/sdm.h"

#include <jansson.h>
#include <string.h>

#include "gpn/util.h"

static const char *MOD_NAME[GPN_SDM_N_MODALITIES] = {"sentinel", "landsat", "climate"};

static void base_config(struct gpn_sdm_config *c)
{
    memset(c, 0, sizeof *c);
    c->n_layers = 4;
    c->pool[1] = 1;
    c->pool[3] = 1;
    for (int m = 0; m < GPN_SDM_N_MODALITIES; m++) c->use[m] = 1;
    c->in_c[GPN_SDM_SENTINEL] = 4;
    c->in_c[GPN_SDM_LANDSAT] = 6;
    c->in_h[GPN_SDM_LANDSAT] = 4;
    c->in_w[GPN_SDM_LANDSAT] = 21;
    c->in_c[GPN_SDM_CLIMATE] = 4;
    c->in_h[GPN_SDM_CLIMATE] = 19;
    c->in_w[GPN_SDM_CLIMATE] = 12;
    c->bn_eps = 1e-5f;
    c->bn_momentum = 0.1f;
}

int gpn_sdm_config_named(const char *name, struct gpn_sdm_config *cfg, struct gpn_err *err)
{
    static const int demo_w[4] = {16, 32, 64, 128}, geo_w[4] = {64, 128, 256, 512};
    base_config(cfg);
    if (name && !strcmp(name, "demo")) {
        memcpy(cfg->width, demo_w, sizeof demo_w);
        cfg->in_h[GPN_SDM_SENTINEL] = cfg->in_w[GPN_SDM_SENTINEL] = 32;
        cfg->n_species = 0;
    } else if (name && (!strcmp(name, "geoplant") || !strcmp(name, "geoplant64"))) {
        memcpy(cfg->width, geo_w, sizeof geo_w);
        cfg->in_h[GPN_SDM_SENTINEL] = cfg->in_w[GPN_SDM_SENTINEL] = !strcmp(name, "geoplant") ? 128 : 64;
        cfg->n_species = 11255;
    } else {
        return gpn_err_set(err, GPN_ENOTFOUND, "gpn_sdm_config_named: unknown config '%s' (demo, geoplant, geoplant64)",
                           name ? name : "(null)");
    }
    gpn_strlcpy(cfg->name, name, sizeof cfg->name);
    return 0;
}

/* ==== validation and cost ================================================= */

int gpn_sdm_config_validate(const struct gpn_sdm_config *c, int require_species, struct gpn_err *err)
{
    if (c->n_layers < 1 || c->n_layers > GPN_SDM_MAX_LAYERS)
        return gpn_err_set(err, GPN_ERANGE, "sdm config: n_layers %d outside [1, %d]", c->n_layers, GPN_SDM_MAX_LAYERS);
    if (c->n_species < (require_species ? 1 : 0) || c->n_species > 1000000)
        return gpn_err_set(err, GPN_ERANGE, "sdm config: n_species %d outside [%d, 1000000]", c->n_species,
                           require_species ? 1 : 0);
    for (int l = 0; l < c->n_layers; l++) {
        if (c->width[l] < 1 || c->width[l] > 8192)
            return gpn_err_set(err, GPN_ERANGE, "sdm config: width[%d] = %d outside [1, 8192]", l, c->width[l]);
        if (c->pool[l] != 0 && c->pool[l] != 1)
            return gpn_err_set(err, GPN_ERANGE, "sdm config: pool[%d] must be 0 or 1", l);
    }
    int n_used = 0;
    for (int m = 0; m < GPN_SDM_N_MODALITIES; m++) {
        if (c->use[m] != 0 && c->use[m] != 1) return gpn_err_set(err, GPN_ERANGE, "sdm config: bad use flag");
        if (!c->use[m]) continue;
        n_used++;
        if (c->in_c[m] < 1 || c->in_c[m] > 64 || c->in_h[m] < 1 || c->in_h[m] > 4096 || c->in_w[m] < 1 ||
            c->in_w[m] > 4096)
            return gpn_err_set(err, GPN_ERANGE, "sdm config: %s input %dx%dx%d out of range", MOD_NAME[m], c->in_c[m],
                               c->in_h[m], c->in_w[m]);
        int h = c->in_h[m], w = c->in_w[m];
        for (int l = 0; l < c->n_layers; l++)
            if (c->pool[l]) {
                h /= 2;
                w /= 2;
                if (h < 1 || w < 1)
                    return gpn_err_set(err, GPN_ERANGE,
                                       "sdm config: %s input %dx%d is too small for the max-pool after layer %d",
                                       MOD_NAME[m], c->in_h[m], c->in_w[m], l + 1);
            }
    }
    if (!n_used) return gpn_err_set(err, GPN_EINVAL, "sdm config: no modality in use");
    if (!(c->bn_eps > 0 && c->bn_eps < 1)) return gpn_err_set(err, GPN_ERANGE, "sdm config: bn_eps out of range");
    if (!(c->bn_momentum >= 0 && c->bn_momentum <= 1))
        return gpn_err_set(err, GPN_ERANGE, "sdm config: bn_momentum out of range");
    return 0;
}

int gpn_sdm_config_emb_dim(const struct gpn_sdm_config *c) { return c->width[c->n_layers - 1]; }

int gpn_sdm_config_concat_dim(const struct gpn_sdm_config *c)
{
    int n = 0;
    for (int m = 0; m < GPN_SDM_N_MODALITIES; m++) n += c->use[m];
    return n * gpn_sdm_config_emb_dim(c);
}

double gpn_sdm_config_macs(const struct gpn_sdm_config *c)
{
    double macs = 0;
    for (int m = 0; m < GPN_SDM_N_MODALITIES; m++) {
        if (!c->use[m]) continue;
        int ch = c->in_c[m], h = c->in_h[m], w = c->in_w[m];
        for (int l = 0; l < c->n_layers; l++) {
            macs += (double)h * w * c->width[l] * ch * 9.0;
            ch = c->width[l];
            if (c->pool[l]) {
                h /= 2;
                w /= 2;
            }
        }
    }
    return macs + (double)gpn_sdm_config_concat_dim(c) * c->n_species;
}

/* ==== JSON ================================================================ */

char *gpn_sdm_config_to_json(const struct gpn_sdm_config *c)
{
    json_t *o = json_object(), *wd = json_array(), *pl = json_array(), *mods = json_array();
    char *s = NULL;
    if (!o || !wd || !pl || !mods) goto done;
    for (int l = 0; l < c->n_layers; l++) {
        json_array_append_new(wd, json_integer(c->width[l]));
        json_array_append_new(pl, json_integer(c->pool[l]));
    }
    json_object_set_new(o, "name", json_string(c->name));
    json_object_set_new(o, "n_species", json_integer(c->n_species));
    json_object_set(o, "widths", wd);
    json_object_set(o, "pool", pl);
    for (int m = 0; m < GPN_SDM_N_MODALITIES; m++) {
        json_t *shape = json_array();
        if (!shape) goto done;
        json_array_append_new(shape, json_integer(c->in_c[m]));
        json_array_append_new(shape, json_integer(c->in_h[m]));
        json_array_append_new(shape, json_integer(c->in_w[m]));
        json_object_set_new(o, MOD_NAME[m], shape);
        if (c->use[m]) json_array_append_new(mods, json_string(MOD_NAME[m]));
    }
    json_object_set(o, "modalities", mods);
    json_object_set_new(o, "bn_eps", json_real(c->bn_eps));
    json_object_set_new(o, "bn_momentum", json_real(c->bn_momentum));
    s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
done:
    json_decref(wd);
    json_decref(pl);
    json_decref(mods);
    json_decref(o);
    return s;
}

static int get_int(json_t *v, const char *key, int lo, int hi, int *out, struct gpn_err *err)
{
    if (!json_is_integer(v)) return gpn_err_set(err, GPN_EFORMAT, "sdm config: '%s' must be an integer", key);
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return gpn_err_set(err, GPN_ERANGE, "sdm config: '%s' = %lld outside [%d, %d]", key, (long long)x, lo, hi);
    *out = (int)x;
    return 0;
}

static int get_int_array(json_t *v, const char *key, int *out, int max, int *n, struct gpn_err *err)
{
    if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > (size_t)max)
        return gpn_err_set(err, GPN_EFORMAT, "sdm config: '%s' must be an array of 1 to %d integers", key, max);
    for (size_t i = 0; i < json_array_size(v); i++) {
        int rc = get_int(json_array_get(v, i), key, 0, 1 << 20, &out[i], err);
        if (rc) return rc;
    }
    *n = (int)json_array_size(v);
    return 0;
}

int gpn_sdm_config_from_json(const char *text, struct gpn_sdm_config *cfg, struct gpn_err *err)
{
    json_error_t je;
    json_t *o = json_loads(text ? text : "", 0, &je);
    if (!o) return gpn_err_set(err, GPN_EFORMAT, "sdm config: JSON error line %d: %s", je.line, je.text);
    int rc = 0;
    if (!json_is_object(o)) {
        rc = gpn_err_set(err, GPN_EFORMAT, "sdm config: top level must be an object");
        goto done;
    }
    struct gpn_sdm_config c;
    json_t *base = json_object_get(o, "base");
    if (base) {
        if (!json_is_string(base)) {
            rc = gpn_err_set(err, GPN_EFORMAT, "sdm config: 'base' must be a string");
            goto done;
        }
        if ((rc = gpn_sdm_config_named(json_string_value(base), &c, err))) goto done;
    } else {
        gpn_sdm_config_named("demo", &c, NULL);
    }
    int nw = -1, np = -1;
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        if (!strcmp(key, "base") || !strcmp(key, "train")) continue;
        if (!strcmp(key, "name")) {
            if (!json_is_string(v) || strlen(json_string_value(v)) >= sizeof c.name) {
                rc = gpn_err_set(err, GPN_EFORMAT, "sdm config: 'name' must be a string of < 32 bytes");
                goto done;
            }
            gpn_strlcpy(c.name, json_string_value(v), sizeof c.name);
        } else if (!strcmp(key, "n_species")) {
            if ((rc = get_int(v, key, 0, 1000000, &c.n_species, err))) goto done;
        } else if (!strcmp(key, "widths")) {
            if ((rc = get_int_array(v, key, c.width, GPN_SDM_MAX_LAYERS, &nw, err))) goto done;
        } else if (!strcmp(key, "pool")) {
            if ((rc = get_int_array(v, key, c.pool, GPN_SDM_MAX_LAYERS, &np, err))) goto done;
        } else if (!strcmp(key, "modalities")) {
            if (!json_is_array(v)) {
                rc = gpn_err_set(err, GPN_EFORMAT, "sdm config: 'modalities' must be an array of names");
                goto done;
            }
            int use[GPN_SDM_N_MODALITIES] = {0};
            for (size_t i = 0; i < json_array_size(v); i++) {
                const char *s = json_string_value(json_array_get(v, i));
                int found = -1;
                for (int m = 0; s && m < GPN_SDM_N_MODALITIES; m++)
                    if (!strcmp(s, MOD_NAME[m])) found = m;
                if (found < 0) {
                    rc = gpn_err_set(err, GPN_EFORMAT, "sdm config: unknown modality '%s' (sentinel, landsat, climate)",
                                     s ? s : "?");
                    goto done;
                }
                use[found] = 1;
            }
            memcpy(c.use, use, sizeof use);
        } else if (!strcmp(key, "sentinel") || !strcmp(key, "landsat") || !strcmp(key, "climate")) {
            int m = key[0] == 's' ? GPN_SDM_SENTINEL : key[0] == 'l' ? GPN_SDM_LANDSAT : GPN_SDM_CLIMATE;
            int shp[3], n = 0;
            if ((rc = get_int_array(v, key, shp, 3, &n, err))) goto done;
            if (n != 3) {
                rc = gpn_err_set(err, GPN_EFORMAT, "sdm config: '%s' must be [channels, height, width]", key);
                goto done;
            }
            c.in_c[m] = shp[0];
            c.in_h[m] = shp[1];
            c.in_w[m] = shp[2];
        } else if (!strcmp(key, "bn_eps") || !strcmp(key, "bn_momentum")) {
            if (!json_is_number(v)) {
                rc = gpn_err_set(err, GPN_EFORMAT, "sdm config: '%s' must be a number", key);
                goto done;
            }
            float x = (float)json_number_value(v);
            if (key[3] == 'e') c.bn_eps = x;
            else c.bn_momentum = x;
        } else {
            rc = gpn_err_set(err, GPN_EFORMAT, "sdm config: unknown key '%s'", key);
            goto done;
        }
    }
    if (nw > 0) {
        c.n_layers = nw;
        for (int l = nw; l < GPN_SDM_MAX_LAYERS; l++) c.width[l] = 0;
        if (np < 0) { /* default pools: after every second layer */
            for (int l = 0; l < GPN_SDM_MAX_LAYERS; l++) c.pool[l] = l < nw && l % 2 == 1;
        }
    }
    if (np > 0 && np != c.n_layers) {
        rc = gpn_err_set(err, GPN_EFORMAT, "sdm config: 'pool' has %d entries for %d layers", np, c.n_layers);
        goto done;
    }
    if ((rc = gpn_sdm_config_validate(&c, 0, err))) goto done;
    *cfg = c;
done:
    json_decref(o);
    return rc;
}
