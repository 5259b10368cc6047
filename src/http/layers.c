/*
 * layers.c - the layer registry of the map server and the worker contexts
 * (pools of open rasters and transforms) (app.h).
 *
 * A snapshot is built from the catalog's layers table: for each layer the
 * raster is opened once to learn its grid, CRS and nodata, its extent is
 * transformed into every advertised CRS, its styles are built (the catalog
 * style is the default; ramps get the other ramps as alternatives), and
 * for ramps without an explicit range the data range is scanned at low
 * resolution (an overview read). Categorical layers get their class table
 * from, in order: the layer metadata JSON {"classes": [{"value", "code",
 * "name"}] or {"<value>": "<code>"}}, a sidecar CSV next to the raster
 * (<stem>_metadata.csv, <stem>.classes.csv or <stem>.csv with columns
 * raster_value/value, habitat_code/code[, name]; GeoPl@ntNet's habitat
 * product ships such a file), the raster metadata item GPN_CLASSES (same
 * JSON), or else the distinct values found in the scan. EUNIS names come
 * from the catalog's habitats table.
 *
 * Worker contexts: a GDAL dataset and a PROJ context must not be used by
 * two threads at once, so each request (and each seeding thread) checks
 * out a worker context holding a small LRU of open rasters (keyed by path
 * and layer version, so a re-published layer is reopened) and transforms.
 * The pool grows to the number of concurrent requests and is freed by the
 * app.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "app.h"
#include "gpn/util.h"
#include "gpn/csv.h"
#include "gpn/log.h"

/* ==== worker contexts ==================================================== */

#define TL_RASTERS 64
#define TL_TRANSFORMS 16

/* Open rasters and transforms of one worker context. A context is used by
 * one thread at a time (checked out for a request or a seeding thread), so
 * GDAL datasets and PROJ contexts are never used concurrently; they are
 * closed by the app's owner thread at destroy. (Thread-local storage with a
 * pthread key destructor was the first design: GDAL then closes datasets
 * after its own per-thread PROJ context is gone and leaks a new one per
 * thread, as LeakSanitizer showed.) */
struct gpn__worker {
    struct {
        char *path;
        int64_t version;
        struct gpn_raster *r;
        uint64_t used;
    } r[TL_RASTERS];
    int nr;
    struct {
        char *from, *to;
        struct gpn_transform *t;
        uint64_t used;
    } t[TL_TRANSFORMS];
    int nt;
    uint64_t tick;
    struct gpn__worker *next_free, *next_all;
};

struct gpn__workers {
    pthread_mutex_t mu;
    struct gpn__worker *free_list, *all;
};

/* The context of the calling thread while it is inside a worker scope. */
static _Thread_local struct gpn__worker *tl_worker;

static void worker_free(struct gpn__worker *s)
{
    for (int i = 0; i < s->nr; i++) {
        gpn_raster_close(s->r[i].r);
        free(s->r[i].path);
    }
    for (int i = 0; i < s->nt; i++) {
        gpn_transform_destroy(s->t[i].t);
        free(s->t[i].from);
        free(s->t[i].to);
    }
    free(s);
}

int gpn__workers_create(struct gpn__workers **out, struct gpn_err *err)
{
    *out = calloc(1, sizeof **out);
    if (!*out) return gpn_err_set(err, GPN_ENOMEM, "gpn__workers_create: out of memory");
    pthread_mutex_init(&(*out)->mu, NULL);
    return 0;
}

void gpn__workers_destroy(struct gpn__workers *ws)
{
    if (!ws) return;
    struct gpn__worker *w = ws->all;
    while (w) {
        struct gpn__worker *n = w->next_all;
        worker_free(w);
        w = n;
    }
    pthread_mutex_destroy(&ws->mu);
    free(ws);
}

int gpn__worker_enter(struct gpn__workers *ws)
{
    if (tl_worker) return 0; /* nested scope: keep the outer context */
    pthread_mutex_lock(&ws->mu);
    struct gpn__worker *w = ws->free_list;
    if (w) {
        ws->free_list = w->next_free;
    } else {
        w = calloc(1, sizeof *w);
        if (w) {
            w->next_all = ws->all;
            ws->all = w;
        }
    }
    pthread_mutex_unlock(&ws->mu);
    if (!w) return GPN_ENOMEM;
    tl_worker = w;
    return 1;
}

void gpn__worker_leave(struct gpn__workers *ws, int entered)
{
    if (entered != 1 || !tl_worker) return;
    struct gpn__worker *w = tl_worker;
    tl_worker = NULL;
    pthread_mutex_lock(&ws->mu);
    w->next_free = ws->free_list;
    ws->free_list = w;
    pthread_mutex_unlock(&ws->mu);
}

int gpn__layer_raster(const struct gpn__layer *l, struct gpn_raster **out, struct gpn_err *err)
{
    struct gpn__worker *s = tl_worker;
    if (!s) return gpn_err_set(err, GPN_ESTATE, "gpn__layer_raster: called outside a worker scope");
    s->tick++;
    int lru = 0;
    for (int i = 0; i < s->nr; i++) {
        if (!strcmp(s->r[i].path, l->path)) {
            if (s->r[i].version == l->meta.version) {
                s->r[i].used = s->tick;
                *out = s->r[i].r;
                return 0;
            }
            lru = i; /* stale version of the same file: replace it */
            goto replace;
        }
        if (s->r[i].used < s->r[lru].used) lru = i;
    }
    if (s->nr < TL_RASTERS) {
        lru = s->nr;
        struct gpn_raster *r;
        int rc = gpn_raster_open(l->path, &r, err);
        if (rc) return rc;
        s->r[lru].path = strdup(l->path);
        if (!s->r[lru].path) {
            gpn_raster_close(r);
            return gpn_err_set(err, GPN_ENOMEM, "gpn__layer_raster: out of memory");
        }
        s->r[lru].r = r;
        s->r[lru].version = l->meta.version;
        s->r[lru].used = s->tick;
        s->nr++;
        *out = r;
        return 0;
    }
replace: {
    struct gpn_raster *r;
    int rc = gpn_raster_open(l->path, &r, err);
    if (rc) return rc;
    char *p = strdup(l->path);
    if (!p) {
        gpn_raster_close(r);
        return gpn_err_set(err, GPN_ENOMEM, "gpn__layer_raster: out of memory");
    }
    gpn_raster_close(s->r[lru].r);
    free(s->r[lru].path);
    s->r[lru].path = p;
    s->r[lru].r = r;
    s->r[lru].version = l->meta.version;
    s->r[lru].used = s->tick;
    *out = r;
    return 0;
}
}

int gpn__transform(const char *from, const char *to, struct gpn_transform **out, struct gpn_err *err)
{
    *out = NULL;
    if (!strcasecmp(from, to)) return 0;
    struct gpn__worker *s = tl_worker;
    if (!s) return gpn_err_set(err, GPN_ESTATE, "gpn__transform: called outside a worker scope");
    s->tick++;
    int lru = 0;
    for (int i = 0; i < s->nt; i++) {
        if (!strcmp(s->t[i].from, from) && !strcmp(s->t[i].to, to)) {
            s->t[i].used = s->tick;
            *out = s->t[i].t;
            return 0;
        }
        if (s->t[i].used < s->t[lru].used) lru = i;
    }
    struct gpn_transform *t;
    int rc = gpn_transform_create(from, to, &t, err);
    if (rc) return rc;
    char *f = strdup(from), *o = strdup(to);
    if (!f || !o) {
        free(f);
        free(o);
        gpn_transform_destroy(t);
        return gpn_err_set(err, GPN_ENOMEM, "gpn__transform: out of memory");
    }
    int slot = s->nt < TL_TRANSFORMS ? s->nt++ : lru;
    if (slot == lru && s->t[slot].t) {
        gpn_transform_destroy(s->t[slot].t);
        free(s->t[slot].from);
        free(s->t[slot].to);
    }
    s->t[slot].from = f;
    s->t[slot].to = o;
    s->t[slot].t = t;
    s->t[slot].used = s->tick;
    *out = t;
    return 0;
}

/* ==== snapshots ========================================================= */

static void layer_free(struct gpn__layer *l)
{
    for (int i = 0; l->styles && i < l->n_styles; i++) gpn_style_free(&l->styles[i]);
    free(l->styles);
    l->styles = NULL;
}

void gpn__layers_release(struct gpn__layers *ls)
{
    if (!ls) return;
    if (atomic_fetch_sub(&ls->refs, 1) != 1) return;
    for (size_t i = 0; i < ls->n; i++) layer_free(&ls->v[i]);
    free(ls->v);
    free(ls);
}

static int layer_name_cmp(const void *a, const void *b)
{
    return strcmp(((const struct gpn__layer *)a)->meta.name, ((const struct gpn__layer *)b)->meta.name);
}

const struct gpn__layer *gpn__layers_find(const struct gpn__layers *ls, const char *name)
{
    size_t lo = 0, hi = ls->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(ls->v[mid].meta.name, name);
        if (!c) return &ls->v[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const struct gpn_style *gpn__layer_style(const struct gpn__layer *l, const char *name)
{
    if (!name || !*name || !strcasecmp(name, "default")) return &l->styles[0];
    for (int i = 0; i < l->n_styles; i++)
        if (!strcasecmp(l->styles[i].name, name)) return &l->styles[i];
    return NULL;
}

/* ==== loading one layer ================================================= */

struct class_table {
    struct gpn_style_class *v;
    int n;
};

static int classes_add(struct class_table *ct, double value, const char *code, const char *name)
{
    if (ct->n >= GPN_STYLE_MAX_CLASSES) return -1;
    for (int i = 0; i < ct->n; i++)
        if (ct->v[i].value == value) return 0;
    struct gpn_style_class *c = &ct->v[ct->n++];
    memset(c, 0, sizeof *c);
    c->value = value;
    gpn_strlcpy(c->code, code ? code : "", sizeof c->code);
    gpn_strlcpy(c->name, name ? name : "", sizeof c->name);
    return 0;
}

/* Classes from JSON: [{"value":1,"code":"T1","name":"..."}] or {"1":"T1"}. */
static void classes_from_json(struct class_table *ct, json_t *j)
{
    if (json_is_array(j)) {
        size_t i;
        json_t *e;
        json_array_foreach(j, i, e) {
            json_t *v = json_object_get(e, "value");
            if (!json_is_number(v)) continue;
            const char *code = json_string_value(json_object_get(e, "code"));
            const char *name = json_string_value(json_object_get(e, "name"));
            classes_add(ct, json_number_value(v), code, name);
        }
    } else if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) {
            char *end;
            double val = strtod(k, &end);
            if (end == k || *end) continue;
            if (json_is_string(v)) classes_add(ct, val, json_string_value(v), NULL);
            else if (json_is_object(v))
                classes_add(ct, val, json_string_value(json_object_get(v, "code")),
                            json_string_value(json_object_get(v, "name")));
        }
    }
}

/* Classes from a sidecar CSV; returns 1 when a file was read. */
static int classes_from_csv(struct class_table *ct, const char *raster_path)
{
    char stem[GPN_HTTP_PATH_MAX];
    gpn_strlcpy(stem, raster_path, sizeof stem);
    char *dot = strrchr(stem, '.');
    char *slash = strrchr(stem, '/');
    if (dot && (!slash || dot > slash)) *dot = 0;
    const char *suffixes[] = {"_metadata.csv", ".classes.csv", ".csv"};
    for (size_t s = 0; s < 3; s++) {
        char path[GPN_HTTP_PATH_MAX + 32];
        snprintf(path, sizeof path, "%s%s", stem, suffixes[s]);
        char *data;
        size_t len;
        if (!gpn_path_exists(path) || gpn_file_read(path, &data, &len, NULL)) continue;
        /* Header: find the value, code and name columns. */
        int cv = -1, cc = -1, cn = -1, line = 0;
        char *save = NULL;
        for (char *row = strtok_r(data, "\r\n", &save); row; row = strtok_r(NULL, "\r\n", &save), line++) {
            char *cols[8] = {0};
            int nc = 0;
            char *p = row;
            while (nc < 8) {
                cols[nc++] = p;
                char *c = strchr(p, ',');
                if (!c) break;
                *c = 0;
                p = c + 1;
            }
            for (int i = 0; i < nc; i++) gpn_strtrim(cols[i]);
            if (line == 0) {
                for (int i = 0; i < nc; i++) {
                    if (!strcasecmp(cols[i], "raster_value") || !strcasecmp(cols[i], "value")) cv = i;
                    else if (!strcasecmp(cols[i], "habitat_code") || !strcasecmp(cols[i], "code")) cc = i;
                    else if (!strcasecmp(cols[i], "name") || !strcasecmp(cols[i], "habitat_name")) cn = i;
                }
                if (cv < 0 || cc < 0) break;
                continue;
            }
            if (cv >= nc || cc >= nc) continue;
            char *end;
            double v = strtod(cols[cv], &end);
            if (end == cols[cv]) continue;
            classes_add(ct, v, cols[cc], cn >= 0 && cn < nc ? cols[cn] : NULL);
        }
        free(data);
        if (ct->n > 0) return 1;
    }
    return 0;
}

/* Scans the raster at low resolution: min/max of valid values and, for
 * integer rasters, the distinct values (up to 255). */
static int scan_raster(struct gpn_raster *r, const struct gpn_raster_info *info, int band, double *mn, double *mx,
                       struct class_table *distinct, struct gpn_err *err)
{
    int w = info->width, h = info->height;
    double scale = fmax(1.0, fmax(w / 512.0, h / 512.0));
    int ow = (int)fmax(1, floor(w / scale)), oh = (int)fmax(1, floor(h / scale));
    float *buf = malloc(sizeof *buf * (size_t)ow * (size_t)oh);
    if (!buf) return gpn_err_set(err, GPN_ENOMEM, "scan_raster: out of memory");
    int rc = gpn_raster_read_resampled(r, band, 1, 0, 0, w, h, ow, oh, GPN_RESAMPLE_NEAREST, GPN_DT_F32, NAN, buf,
                                       err);
    if (rc) {
        free(buf);
        return rc;
    }
    double lo = HUGE_VAL, hi = -HUGE_VAL;
    for (size_t i = 0; i < (size_t)ow * (size_t)oh; i++) {
        float v = buf[i];
        if (v != v || (info->has_nodata && (v == (float)info->nodata))) continue;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
        if (distinct && distinct->n < GPN_STYLE_MAX_CLASSES) {
            char code[32];
            snprintf(code, sizeof code, "%g", (double)v);
            classes_add(distinct, v, code, NULL);
        }
    }
    free(buf);
    *mn = lo;
    *mx = hi;
    return 0;
}

static const char *default_style_for(enum gpn_layer_group g)
{
    switch (g) {
    case GPN_LAYER_SPECIES:
        return "presence";
    case GPN_LAYER_HABITATS_L1:
    case GPN_LAYER_HABITATS_L2:
    case GPN_LAYER_HABITATS_L3:
        return "classes";
    default:
        return "viridis";
    }
}

static int load_layer(struct gpn_catalog *cat, const char *atlas, const struct gpn_layer *row, struct gpn__layer *l,
                      struct gpn_err *err)
{
    memset(l, 0, sizeof *l);
    l->meta = *row;
    l->band = 1;
    l->queryable = 1;
    if (row->path[0] == '/') gpn_strlcpy(l->path, row->path, sizeof l->path);
    else if (gpn_path_join(l->path, sizeof l->path, atlas, row->path))
        return gpn_err_set(err, GPN_ETOOBIG, "layer %s: path too long", row->name);

    /* Metadata JSON (optional keys: min, max, units, band, classes). */
    json_t *meta = NULL;
    char *mjson = NULL;
    if (cat && gpn_catalog_layer_metadata(cat, row->name, &mjson, NULL) == 0 && mjson) {
        meta = json_loads(mjson, 0, NULL);
        free(mjson);
    }
    int rc = 0;
    struct gpn_raster *r = NULL;
    struct class_table ct = {0};
    ct.v = calloc(GPN_STYLE_MAX_CLASSES, sizeof *ct.v);
    if (!ct.v) {
        rc = gpn_err_set(err, GPN_ENOMEM, "layer %s: out of memory", row->name);
        goto done;
    }
    rc = gpn_raster_open(l->path, &r, err);
    if (rc) goto done;
    rc = gpn_raster_get_info(r, &l->info, err);
    if (rc) goto done;
    if (meta && json_is_integer(json_object_get(meta, "band"))) {
        int b = (int)json_integer_value(json_object_get(meta, "band"));
        if (b >= 1 && b <= l->info.bands) l->band = b;
    }
    if (meta && json_is_string(json_object_get(meta, "units")))
        gpn_strlcpy(l->units, json_string_value(json_object_get(meta, "units")), sizeof l->units);
    int epsg = l->info.epsg ? l->info.epsg : row->epsg;
    if (epsg) snprintf(l->crs, sizeof l->crs, "EPSG:%d", epsg);
    else if (!l->info.crs_wkt[0]) {
        rc = gpn_err_set(err, GPN_EUNSUPPORTED, "layer %s: the raster has no CRS", row->name);
        goto done;
    }
    const char *src_crs = l->crs[0] ? l->crs : l->info.crs_wkt;
    const double *gt = l->info.gt;
    double xs[4] = {gt[0], gt[0] + l->info.width * gt[1], gt[0] + l->info.height * gt[2],
                    gt[0] + l->info.width * gt[1] + l->info.height * gt[2]};
    double ys[4] = {gt[3], gt[3] + l->info.width * gt[4], gt[3] + l->info.height * gt[5],
                    gt[3] + l->info.width * gt[4] + l->info.height * gt[5]};
    l->bbox_native[0] = fmin(fmin(xs[0], xs[1]), fmin(xs[2], xs[3]));
    l->bbox_native[2] = fmax(fmax(xs[0], xs[1]), fmax(xs[2], xs[3]));
    l->bbox_native[1] = fmin(fmin(ys[0], ys[1]), fmin(ys[2], ys[3]));
    l->bbox_native[3] = fmax(fmax(ys[0], ys[1]), fmax(ys[2], ys[3]));

    /* Extents in the advertised CRSs. */
    struct gpn_transform *t = NULL;
    memcpy(l->bbox_ll, l->bbox_native, sizeof l->bbox_ll);
    if (strcasecmp(src_crs, "EPSG:4326")) {
        rc = gpn_transform_create(src_crs, "EPSG:4326", &t, err);
        if (!rc) rc = gpn_transform_bbox(t, l->bbox_native, l->bbox_ll, err);
        gpn_transform_destroy(t);
        if (rc) goto done;
    }
    double ll[4] = {fmax(-180, l->bbox_ll[0]), fmax(-85.0511287798, l->bbox_ll[1]), fmin(180, l->bbox_ll[2]),
                    fmin(85.0511287798, l->bbox_ll[3])};
    memcpy(l->bbox_ll, (double[4]){fmax(-180, l->bbox_ll[0]), fmax(-90, l->bbox_ll[1]), fmin(180, l->bbox_ll[2]),
                                   fmin(90, l->bbox_ll[3])},
           sizeof l->bbox_ll);
    if (!strcasecmp(src_crs, "EPSG:3857")) {
        memcpy(l->bbox_3857, l->bbox_native, sizeof l->bbox_3857);
    } else if (ll[3] > ll[1]) {
        rc = gpn_transform_create("EPSG:4326", "EPSG:3857", &t, err);
        if (!rc) rc = gpn_transform_bbox(t, ll, l->bbox_3857, err);
        gpn_transform_destroy(t);
        if (rc) goto done;
    }
    if (!strcasecmp(src_crs, "EPSG:3035")) {
        memcpy(l->bbox_3035, l->bbox_native, sizeof l->bbox_3035);
        l->has_3035 = 1;
    } else {
        struct gpn_err e2 = {0};
        if (gpn_transform_create(src_crs, "EPSG:3035", &t, &e2) == 0 &&
            gpn_transform_bbox(t, l->bbox_native, l->bbox_3035, &e2) == 0)
            l->has_3035 = 1;
        gpn_transform_destroy(t);
    }

    /* Styles. */
    const char *spec = row->style[0] ? row->style : default_style_for(row->group);
    int want_classes = !strncasecmp(spec, "classes", 7) || !strncasecmp(spec, "eunis", 5);
    if (want_classes) {
        json_t *jc = meta ? json_object_get(meta, "classes") : NULL;
        if (jc) classes_from_json(&ct, jc);
        if (!ct.n) classes_from_csv(&ct, l->path);
        if (!ct.n) {
            const char *mc = gpn_raster_metadata(r, "GPN_CLASSES");
            json_t *j = mc ? json_loads(mc, 0, NULL) : NULL;
            if (j) classes_from_json(&ct, j);
            json_decref(j);
        }
    }
    /* Data range: from metadata, else a low-resolution scan. */
    l->data_min = 0;
    l->data_max = 1;
    json_t *jmin = meta ? json_object_get(meta, "min") : NULL, *jmax = meta ? json_object_get(meta, "max") : NULL;
    int need_scan = !(json_is_number(jmin) && json_is_number(jmax)) || (want_classes && !ct.n);
    if (need_scan) {
        double mn = 0, mx = -1;
        rc = scan_raster(r, &l->info, l->band, &mn, &mx, want_classes && !ct.n ? &ct : NULL, err);
        if (rc) goto done;
        if (mn <= mx) {
            l->data_min = mn;
            l->data_max = mx > mn ? mx : mn + 1;
        }
    }
    if (json_is_number(jmin)) l->data_min = json_number_value(jmin);
    if (json_is_number(jmax)) l->data_max = json_number_value(jmax);
    /* EUNIS names from the catalog for classes that have only a code. */
    for (int i = 0; cat && i < ct.n; i++) {
        if (ct.v[i].name[0] || !ct.v[i].code[0]) continue;
        struct gpn_habitat hb;
        if (gpn_catalog_habitat_get(cat, ct.v[i].code, &hb, NULL) == 0)
            gpn_strlcpy(ct.v[i].name, hb.name, sizeof ct.v[i].name);
    }

    l->styles = calloc(GPN__MAX_STYLES, sizeof *l->styles);
    if (!l->styles) {
        rc = gpn_err_set(err, GPN_ENOMEM, "layer %s: out of memory", row->name);
        goto done;
    }
    enum gpn_dtype dt = l->info.dtype;
    rc = gpn_style_build(spec, dt, l->data_min, l->data_max, ct.v, ct.n, &l->styles[0], err);
    if (rc) {
        gpn_err_prefix(err, "layer %s", row->name);
        goto done;
    }
    gpn_strlcpy(l->styles[0].units, l->units, sizeof l->styles[0].units);
    l->n_styles = 1;
    if (l->styles[0].kind == GPN_STYLE_RAMP) {
        static const char *alts[] = {"viridis", "magma", "inferno", "plasma", "cividis", "grey"};
        for (size_t i = 0; i < sizeof alts / sizeof alts[0] && l->n_styles < GPN__MAX_STYLES; i++) {
            if (!strcasecmp(alts[i], l->styles[0].name)) continue;
            char s[96];
            snprintf(s, sizeof s, "%s:%.17g:%.17g", alts[i], l->styles[0].vmin, l->styles[0].vmax);
            struct gpn_style *st = &l->styles[l->n_styles];
            if (gpn_style_build(s, dt, l->data_min, l->data_max, NULL, 0, st, NULL) == 0) {
                gpn_strlcpy(st->units, l->units, sizeof st->units);
                l->n_styles++;
            }
        }
    } else if (l->styles[0].kind == GPN_STYLE_PRESENCE && (dt == GPN_DT_F32 || dt == GPN_DT_F64)) {
        /* Probability maps can also be shown as a ramp. */
        struct gpn_style *st = &l->styles[l->n_styles];
        if (gpn_style_build("viridis", dt, l->data_min, l->data_max, NULL, 0, st, NULL) == 0) {
            gpn_strlcpy(st->name, "probability", sizeof st->name);
            l->n_styles++;
        }
    }
    if (l->n_styles < GPN__MAX_STYLES) {
        struct gpn_style *shrunk = realloc(l->styles, sizeof *l->styles * (size_t)l->n_styles);
        if (shrunk) l->styles = shrunk;
    }
done:
    free(ct.v);
    json_decref(meta);
    gpn_raster_close(r);
    if (rc) layer_free(l);
    return rc;
}

int gpn__layers_load(const char *atlas, int64_t generation, struct gpn__layers **out, struct gpn_err *err)
{
    *out = NULL;
    struct gpn__layers *ls = calloc(1, sizeof *ls);
    if (!ls) return gpn_err_set(err, GPN_ENOMEM, "gpn__layers_load: out of memory");
    atomic_init(&ls->refs, 1);
    ls->generation = generation;
    char cpath[GPN_HTTP_PATH_MAX];
    if (gpn_catalog_path(atlas, cpath, sizeof cpath, err)) {
        free(ls);
        return err->code;
    }
    if (!gpn_path_exists(cpath)) {
        gpn_log_warn("serve: %s does not exist yet: no layers", cpath);
        *out = ls;
        return 0;
    }
    struct gpn_catalog *cat = NULL;
    int rc = gpn_catalog_open(cpath, GPN_CATALOG_READONLY, &cat, err);
    if (rc) {
        free(ls);
        return rc;
    }
    struct gpn_layer *rows = NULL;
    size_t n = 0;
    rc = gpn_catalog_layers_list(cat, -1, &rows, &n, err);
    if (rc) {
        gpn_catalog_close(cat);
        free(ls);
        return rc;
    }
    ls->v = calloc(n ? n : 1, sizeof *ls->v);
    if (!ls->v) {
        free(rows);
        gpn_catalog_close(cat);
        free(ls);
        return gpn_err_set(err, GPN_ENOMEM, "gpn__layers_load: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        struct gpn_err e2 = {0};
        if (load_layer(cat, atlas, &rows[i], &ls->v[ls->n], &e2)) {
            gpn_log_warn("serve: layer %s skipped: %s", rows[i].name, e2.msg);
            continue;
        }
        ls->n++;
    }
    free(rows);
    gpn_catalog_close(cat);
    gpn_qsort(ls->v, ls->n, sizeof *ls->v, layer_name_cmp);
    *out = ls;
    return 0;
}
