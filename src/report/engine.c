/*
 * engine.c - the AOI report engine (report.h): per-tile rasterisation,
 * bitmap intersection counts, indicator and habitat statistics, the merge,
 * and the catalog snapshot that names what was counted.
 *
 * Why this shape:
 *  - The area is prepared once (gpn_geom_prepare) and each meta-tile is
 *    rasterised from it by the cell-centre rule into a byte mask, turned
 *    into a dense bit mask (struct gpn_cellmask) and intersected with every
 *    species bitmap of the tile's store in place (store.h kernels). No
 *    raster of any species is read.
 *  - Tiles are independent, so they run in an OpenMP loop; every thread has
 *    its own accumulator (struct acc) and the accumulators are merged after
 *    the loop, so the loop takes no lock except the store cache's.
 *  - Indicator and habitat rasters are read per tile only over the rows and
 *    columns the area spans, and only cells inside the mask are counted.
 *  - Names, flags and the EUNIS hierarchy come from a snapshot of the
 *    catalog held in memory (SQLite connections are per thread; a report
 *    must not wait on SQL). The snapshot is reloaded when catalog.sqlite or
 *    its WAL file changes. Reports copy the strings they use, so they
 *    outlive the snapshot and the engine.
 *  - Opened stores are cached (mmap'ed, immutable, shared by threads,
 *    refcounted); an entry is replaced when the file's inode, size or mtime
 *    changes (map production rewrites stores atomically by rename).
 *
 * Indicator statistics: mean, min and max are exact; the median and the
 * histogram count values rounded to integers (every indicator is a count or
 * an ordinal category), so they are exact for integer rasters.
 */
#define _GNU_SOURCE
#include <jansson.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gpn/util.h"
#include "gpn/catalog.h"
#include "gpn/log.h"
#include "gpn/progress.h"
#include "gpn/raster.h"
#include "gpn/reproj.h"
#include "gpn/report.h"
#include "gpn/store.h"

const char *const gpn_report_indicator_names[GPN_REPORT_NIND] = {
    "richness", "directive", "threatened", "most_threatened", "tree", "invasive", "specialist", "endemic",
};

#define HIST_KEY_MAX (1 << 20)

/* ==== string pool ======================================================= */

/* Strings are appended to chained blocks so pointers stay valid. */
struct pool_block {
    struct pool_block *next;
    size_t used, cap;
    char data[];
};

static const char *pool_str(struct pool_block **head, const char *s)
{
    if (!s) s = "";
    size_t n = strlen(s) + 1;
    struct pool_block *b = *head;
    if (!b || b->used + n > b->cap) {
        size_t cap = n > 65536 ? n : 65536;
        struct pool_block *nb = malloc(sizeof *nb + cap);
        if (!nb) return NULL;
        nb->next = b;
        nb->used = 0;
        nb->cap = cap;
        *head = nb;
        b = nb;
    }
    char *d = b->data + b->used;
    memcpy(d, s, n);
    b->used += n;
    return d;
}

static void pool_free(struct pool_block *b)
{
    while (b) {
        struct pool_block *n = b->next;
        free(b);
        b = n;
    }
}

/* ==== catalog snapshot ================================================== */

struct sp_meta {
    uint32_t id;
    unsigned flags;
    char redlist[4];
    const char *name, *genus, *family;
};

struct hab_meta {
    char code[GPN_HABITAT_CODE_MAX];
    const char *name;
};

struct meta {
    int refs;                    /* guarded by the engine mutex */
    struct sp_meta *sp;          /* (nsp) sorted by id */
    size_t nsp, capsp;
    struct hab_meta *hab;        /* (nhab) sorted by code */
    size_t nhab;
    char **l3_codes;             /* level-3 codes in code order (fallback class table) */
    size_t nl3;
    char sdm_model[256], hdm_model[256], species_source[64];
    double alpha, threshold;
    struct pool_block *pool;
    struct timespec mt_db, mt_wal; /* mtimes when loaded */
    off_t sz_db, sz_wal;
};

static void meta_free(struct meta *m)
{
    if (!m) return;
    free(m->sp);
    free(m->hab);
    free(m->l3_codes);
    pool_free(m->pool);
    free(m);
}

static int cmp_sp(const void *a, const void *b)
{
    uint32_t x = ((const struct sp_meta *)a)->id, y = ((const struct sp_meta *)b)->id;
    return x < y ? -1 : x > y;
}

static int cmp_hab(const void *a, const void *b)
{
    return strcmp(((const struct hab_meta *)a)->code, ((const struct hab_meta *)b)->code);
}

static int add_species_cb(const struct gpn_species *s, void *ud)
{
    struct meta *m = ud;
    if (s->id <= 0 || s->id > UINT32_MAX) return 0;
    if (m->nsp == m->capsp) {
        size_t nc = m->capsp ? m->capsp * 2 : 1024;
        struct sp_meta *n = realloc(m->sp, nc * sizeof *n);
        if (!n) return GPN_ENOMEM;
        m->sp = n;
        m->capsp = nc;
    }
    struct sp_meta *d = &m->sp[m->nsp];
    d->id = (uint32_t)s->id;
    d->flags = s->flags;
    memcpy(d->redlist, s->redlist, sizeof d->redlist);
    d->redlist[3] = 0;
    d->name = pool_str(&m->pool, s->scientific_name);
    d->genus = pool_str(&m->pool, s->genus);
    d->family = pool_str(&m->pool, s->family);
    if (!d->name || !d->genus || !d->family) return GPN_ENOMEM;
    m->nsp++;
    return 0;
}

/* Finds "key": number in a JSON object text; NAN when absent. */
static double json_num(const char *text, const char *key)
{
    json_t *root = json_loads(text, 0, NULL);
    double v = NAN;
    if (root) {
        json_t *x = json_object_get(root, key);
        if (json_is_number(x)) v = json_number_value(x);
        json_decref(root);
    }
    return v;
}

static void json_strval(const char *text, const char *key, char *buf, size_t n)
{
    json_t *root = json_loads(text, 0, NULL);
    if (root) {
        json_t *x = json_object_get(root, key);
        if (json_is_string(x)) gpn_strlcpy(buf, json_string_value(x), n);
        json_decref(root);
    }
}

static void stat_pair(const char *db, struct timespec *mt_db, off_t *sz_db, struct timespec *mt_wal, off_t *sz_wal)
{
    struct stat st;
    char wal[4200];
    memset(mt_db, 0, sizeof *mt_db);
    memset(mt_wal, 0, sizeof *mt_wal);
    *sz_db = *sz_wal = -1;
    if (stat(db, &st) == 0) {
        *mt_db = st.st_mtim;
        *sz_db = st.st_size;
    }
    snprintf(wal, sizeof wal, "%s-wal", db);
    if (stat(wal, &st) == 0) {
        *mt_wal = st.st_mtim;
        *sz_wal = st.st_size;
    }
}

/* "run <id>: <model path>", truncated to n bytes. */
static void run_label(const struct gpn_model_run *run, char *buf, size_t n)
{
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "run %lld: %s", (long long)run->id, run->path);
    gpn_strlcpy(buf, tmp, n);
}

/* Loads a snapshot of the catalog (an empty one when there is none). */
static int meta_load(const char *atlas, struct meta **out, struct gpn_err *err)
{
    *out = NULL;
    struct meta *m = calloc(1, sizeof *m);
    if (!m) return gpn_err_set(err, GPN_ENOMEM, "report: out of memory");
    m->alpha = NAN;
    m->threshold = NAN;
    char db[4096];
    if (gpn_catalog_path(atlas, db, sizeof db, err)) {
        meta_free(m);
        return GPN_ETOOBIG;
    }
    stat_pair(db, &m->mt_db, &m->sz_db, &m->mt_wal, &m->sz_wal);
    if (!gpn_path_exists(db)) {
        *out = m;
        return 0;
    }
    struct gpn_catalog *cat = NULL;
    struct gpn_model_run *run = NULL;
    struct gpn_habitat *habs = NULL;
    size_t nh = 0;
    int rc = gpn_catalog_open(db, GPN_CATALOG_READONLY, &cat, err);
    if (rc) goto fail;
    rc = gpn_catalog_species_foreach(cat, 0, add_species_cb, m, err);
    if (rc) goto fail;
    gpn_qsort(m->sp, m->nsp, sizeof *m->sp, cmp_sp);
    rc = gpn_catalog_habitats_list(cat, 0, &habs, &nh, err);
    if (rc) goto fail;
    m->hab = calloc(nh ? nh : 1, sizeof *m->hab);
    m->l3_codes = calloc(nh ? nh : 1, sizeof *m->l3_codes);
    if (!m->hab || !m->l3_codes) {
        rc = gpn_err_set(err, GPN_ENOMEM, "report: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < nh; i++) {
        gpn_strlcpy(m->hab[i].code, habs[i].code, sizeof m->hab[i].code);
        m->hab[i].name = pool_str(&m->pool, habs[i].name);
        if (!m->hab[i].name) {
            rc = gpn_err_set(err, GPN_ENOMEM, "report: out of memory");
            goto fail;
        }
    }
    m->nhab = nh;
    gpn_qsort(m->hab, m->nhab, sizeof *m->hab, cmp_hab);
    for (size_t i = 0; i < m->nhab; i++)
        if (gpn_habitat_code_level(m->hab[i].code) == 3) m->l3_codes[m->nl3++] = m->hab[i].code;
    run = malloc(sizeof *run);
    if (!run) {
        rc = gpn_err_set(err, GPN_ENOMEM, "report: out of memory");
        goto fail;
    }
    struct gpn_err e2 = {0};
    if (gpn_catalog_model_run_latest(cat, GPN_MODEL_SDM, run, &e2) == 0) {
        run_label(run, m->sdm_model, sizeof m->sdm_model);
        m->alpha = json_num(run->config, "alpha");
        if (isnan(m->alpha)) m->alpha = json_num(run->metrics, "alpha");
        m->threshold = json_num(run->config, "threshold");
        json_strval(run->config, "source", m->species_source, sizeof m->species_source);
        if (!m->species_source[0]) gpn_strlcpy(m->species_source, "predict", sizeof m->species_source);
    }
    if (gpn_catalog_model_run_latest(cat, GPN_MODEL_HDM, run, &e2) == 0)
        run_label(run, m->hdm_model, sizeof m->hdm_model);
    free(run);
    free(habs);
    gpn_catalog_close(cat);
    *out = m;
    return 0;
fail:
    free(run);
    free(habs);
    gpn_catalog_close(cat);
    meta_free(m);
    return rc;
}

static const struct sp_meta *meta_species(const struct meta *m, uint32_t id)
{
    size_t lo = 0, hi = m->nsp;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->sp[mid].id < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < m->nsp && m->sp[lo].id == id ? &m->sp[lo] : NULL;
}

static const char *meta_habitat_name(const struct meta *m, const char *code)
{
    size_t lo = 0, hi = m->nhab;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->hab[mid].code, code);
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo < m->nhab && !strcmp(m->hab[lo].code, code) ? m->hab[lo].name : "";
}

/* ==== engine and store cache ============================================ */

struct cached {
    struct gpn_tile tile;
    struct gpn_store *store;
    int refs;
    int dead;                 /* replaced: close when refs drops to 0 */
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    uint64_t last_use;
};

struct tras;
static void tras_free(struct tras *t);

struct gpn_report_engine {
    char atlas[4096];
    struct gpn_report_opts opts;
    pthread_mutex_t mu;
    struct meta *meta;        /* current snapshot (one ref held by the engine) */
    double meta_checked;      /* gpn_now() of the last change check */
    struct cached **cache;    /* (ncache, opts.store_cache) */
    size_t ncache;
    uint64_t clock;
    /* EPSG:3035 -> 4326 transforms for the report's bbox, reused: creating
     * one costs tens of milliseconds (PROJ database look-ups) and a
     * transform serves one thread at a time. */
    struct gpn_transform *tr_pool[16];
    int ntr;
    /* decoded tile rasters (struct tras), bounded by bytes */
    struct tras **rcache;     /* (nrcache, caprcache) */
    size_t nrcache, caprcache;
    size_t rbytes, raster_budget; /* raster_budget 0: no cache */
};

int gpn_report_engine_open(const char *atlas, const struct gpn_report_opts *opts, struct gpn_report_engine **out,
                           struct gpn_err *err)
{
    *out = NULL;
    if (!atlas || !*atlas) return gpn_err_set(err, GPN_EINVAL, "gpn_report_engine_open: no atlas folder");
    if (!gpn_is_dir(atlas)) return gpn_err_set(err, GPN_ENOTFOUND, "gpn_report_engine_open: %s: no such folder", atlas);
    struct gpn_report_engine *e = calloc(1, sizeof *e);
    if (!e) return gpn_err_set(err, GPN_ENOMEM, "gpn_report_engine_open: out of memory");
    if (gpn_strlcpy(e->atlas, atlas, sizeof e->atlas) >= sizeof e->atlas) {
        free(e);
        return gpn_err_set(err, GPN_ETOOBIG, "gpn_report_engine_open: path too long");
    }
    if (opts) e->opts = *opts;
    if (!e->opts.store_cache) e->opts.store_cache = 256;
    e->raster_budget = e->opts.raster_cache_mb < 0 ? 0
                       : (size_t)(e->opts.raster_cache_mb ? e->opts.raster_cache_mb : 256) << 20;
    e->caprcache = 4096;
    pthread_mutex_init(&e->mu, NULL);
    e->cache = calloc(e->opts.store_cache, sizeof *e->cache);
    e->rcache = calloc(e->caprcache, sizeof *e->rcache);
    if (!e->cache || !e->rcache) {
        gpn_report_engine_close(e);
        return gpn_err_set(err, GPN_ENOMEM, "gpn_report_engine_open: out of memory");
    }
    int rc = meta_load(atlas, &e->meta, err);
    if (rc) {
        gpn_report_engine_close(e);
        return rc;
    }
    e->meta->refs = 1;
    e->meta_checked = gpn_now();
    *out = e;
    return 0;
}

void gpn_report_engine_close(struct gpn_report_engine *e)
{
    if (!e) return;
    if (e->cache)
        for (size_t i = 0; i < e->ncache; i++) {
            gpn_store_close(e->cache[i]->store);
            free(e->cache[i]);
        }
    free(e->cache);
    for (int i = 0; i < e->ntr; i++) gpn_transform_destroy(e->tr_pool[i]);
    if (e->rcache)
        for (size_t i = 0; i < e->nrcache; i++) tras_free(e->rcache[i]);
    free(e->rcache);
    meta_free(e->meta);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

const char *gpn_report_engine_atlas(const struct gpn_report_engine *e) { return e->atlas; }

/* Returns a referenced snapshot, reloading it when the catalog changed
 * (checked at most once a second). */
static struct meta *meta_acquire(struct gpn_report_engine *e)
{
    pthread_mutex_lock(&e->mu);
    int check = gpn_now() - e->meta_checked >= 1.0;
    struct meta *m = e->meta;
    if (check) e->meta_checked = gpn_now();
    pthread_mutex_unlock(&e->mu);
    if (check) {
        char db[4096];
        struct timespec a, b;
        off_t sa, sb;
        if (gpn_catalog_path(e->atlas, db, sizeof db, NULL) == 0) {
            stat_pair(db, &a, &sa, &b, &sb);
            if (a.tv_sec != m->mt_db.tv_sec || a.tv_nsec != m->mt_db.tv_nsec || sa != m->sz_db ||
                b.tv_sec != m->mt_wal.tv_sec || b.tv_nsec != m->mt_wal.tv_nsec || sb != m->sz_wal) {
                struct meta *nm;
                struct gpn_err err = {0};
                if (meta_load(e->atlas, &nm, &err) == 0) {
                    gpn_log_info("report: catalog changed, reloaded (%zu species)", nm->nsp);
                    pthread_mutex_lock(&e->mu);
                    struct meta *old = e->meta;
                    nm->refs = 1;
                    e->meta = nm;
                    if (--old->refs == 0) meta_free(old);
                    pthread_mutex_unlock(&e->mu);
                } else {
                    gpn_log_warn("report: catalog reload failed: %s", err.msg);
                }
            }
        }
    }
    pthread_mutex_lock(&e->mu);
    m = e->meta;
    m->refs++;
    pthread_mutex_unlock(&e->mu);
    return m;
}

static void meta_release(struct gpn_report_engine *e, struct meta *m)
{
    pthread_mutex_lock(&e->mu);
    int last = --m->refs == 0;
    pthread_mutex_unlock(&e->mu);
    if (last) meta_free(m);
}

/* The store of tile t, or NULL when the tile has none (*rc = 0) or it
 * cannot be read (*rc < 0, err set). Release with store_release. */
static struct cached *store_acquire(struct gpn_report_engine *e, struct gpn_tile t, int *rc, struct gpn_err *err)
{
    char path[4200];
    *rc = 0;
    if (gpn_store_tile_path(e->atlas, t, path, sizeof path)) {
        *rc = gpn_err_set(err, GPN_ETOOBIG, "report: path too long");
        return NULL;
    }
    struct stat st;
    if (stat(path, &st) != 0) return NULL;
    pthread_mutex_lock(&e->mu);
    for (size_t i = 0; i < e->ncache; i++) {
        struct cached *c = e->cache[i];
        if (!gpn_tile_equal(c->tile, t)) continue;
        if (c->dev == st.st_dev && c->ino == st.st_ino && c->size == st.st_size &&
            c->mtime.tv_sec == st.st_mtim.tv_sec && c->mtime.tv_nsec == st.st_mtim.tv_nsec) {
            c->refs++;
            c->last_use = ++e->clock;
            pthread_mutex_unlock(&e->mu);
            return c;
        }
    }
    pthread_mutex_unlock(&e->mu);

    struct cached *nc = calloc(1, sizeof *nc);
    if (!nc) {
        *rc = gpn_err_set(err, GPN_ENOMEM, "report: out of memory");
        return NULL;
    }
    *rc = gpn_store_open(path, e->opts.verify ? GPN_STORE_VERIFY : 0, &nc->store, err);
    if (*rc) {
        free(nc);
        return NULL;
    }
    if (!gpn_tile_equal(gpn_store_tile(nc->store), t)) {
        *rc = gpn_err_set(err, GPN_EFORMAT, "%s: the store belongs to another tile", path);
        gpn_store_close(nc->store);
        free(nc);
        return NULL;
    }
    nc->tile = t;
    nc->dev = st.st_dev;
    nc->ino = st.st_ino;
    nc->size = st.st_size;
    nc->mtime = st.st_mtim;
    nc->refs = 1;

    pthread_mutex_lock(&e->mu);
    nc->last_use = ++e->clock;
    /* Retire an older version of the same tile. */
    for (size_t i = 0; i < e->ncache; i++) {
        struct cached *c = e->cache[i];
        if (gpn_tile_equal(c->tile, t)) {
            c->dead = 1;
            e->cache[i] = e->cache[--e->ncache];
            if (c->refs == 0) {
                gpn_store_close(c->store);
                free(c);
            }
            break;
        }
    }
    if (e->ncache == e->opts.store_cache) {
        /* Evict the least recently used unreferenced entry. */
        size_t victim = SIZE_MAX;
        for (size_t i = 0; i < e->ncache; i++)
            if (e->cache[i]->refs == 0 && (victim == SIZE_MAX || e->cache[i]->last_use < e->cache[victim]->last_use))
                victim = i;
        if (victim != SIZE_MAX) {
            struct cached *c = e->cache[victim];
            e->cache[victim] = e->cache[--e->ncache];
            gpn_store_close(c->store);
            free(c);
        }
    }
    if (e->ncache < e->opts.store_cache) e->cache[e->ncache++] = nc;
    else nc->dead = 1; /* cache full of entries in use: this one lives for this report only */
    pthread_mutex_unlock(&e->mu);
    return nc;
}

static void store_release(struct gpn_report_engine *e, struct cached *c)
{
    if (!c) return;
    pthread_mutex_lock(&e->mu);
    int free_it = --c->refs == 0 && c->dead;
    pthread_mutex_unlock(&e->mu);
    if (free_it) {
        gpn_store_close(c->store);
        free(c);
    }
}

static struct gpn_transform *transform_acquire(struct gpn_report_engine *e)
{
    struct gpn_transform *t = NULL;
    pthread_mutex_lock(&e->mu);
    if (e->ntr > 0) t = e->tr_pool[--e->ntr];
    pthread_mutex_unlock(&e->mu);
    if (!t) {
        struct gpn_err e2 = {0};
        if (gpn_transform_create("EPSG:3035", "EPSG:4326", &t, &e2) != 0) return NULL;
    }
    return t;
}

static void transform_release(struct gpn_report_engine *e, struct gpn_transform *t)
{
    if (!t) return;
    pthread_mutex_lock(&e->mu);
    if (e->ntr < (int)(sizeof e->tr_pool / sizeof *e->tr_pool)) {
        e->tr_pool[e->ntr++] = t;
        t = NULL;
    }
    pthread_mutex_unlock(&e->mu);
    gpn_transform_destroy(t);
}

/* ==== per-thread accumulation =========================================== */

struct pair {
    uint32_t id;
    int64_t cells;
};

struct hcount {
    char code[GPN_HABITAT_CODE_MAX];
    int64_t cells;
};

struct acc {
    int64_t cells, cells_data;
    size_t tiles_data;
    struct pair *pairs;
    size_t npairs, cappairs;
    int64_t *counts;          /* scratch for gpn_store_count_all */
    size_t capcounts;
    int ind_present[GPN_REPORT_NIND];
    int64_t ind_n[GPN_REPORT_NIND];
    double ind_sum[GPN_REPORT_NIND], ind_min[GPN_REPORT_NIND], ind_max[GPN_REPORT_NIND];
    int64_t *ind_hist[GPN_REPORT_NIND]; /* count of each rounded value, clamped to [0, HIST_KEY_MAX) */
    size_t ind_hist_len[GPN_REPORT_NIND];
    int hab_present;
    int64_t hab_cells;
    struct hcount *hab;
    size_t nhab, caphab;
    int rc;
    struct gpn_err err;
};

/* Makes the histogram of indicator k hold keys [0, n). */
static int hist_reserve(struct acc *a, int k, size_t n)
{
    if (n <= a->ind_hist_len[k]) return 0;
    int64_t *h = realloc(a->ind_hist[k], n * sizeof *h);
    if (!h) return GPN_ENOMEM;
    memset(h + a->ind_hist_len[k], 0, (n - a->ind_hist_len[k]) * sizeof *h);
    a->ind_hist[k] = h;
    a->ind_hist_len[k] = n;
    return 0;
}

static void acc_free(struct acc *a)
{
    free(a->pairs);
    free(a->counts);
    for (int k = 0; k < GPN_REPORT_NIND; k++) free(a->ind_hist[k]);
    free(a->hab);
}

static int acc_fail(struct acc *a, int rc)
{
    if (!a->rc) a->rc = rc;
    return rc;
}

static int hist_add(struct acc *a, int k, double v)
{
    double r = nearbyint(v);
    size_t key = r < 0 ? 0 : (r >= HIST_KEY_MAX ? HIST_KEY_MAX - 1 : (size_t)r);
    if (key >= a->ind_hist_len[k]) {
        size_t nl = a->ind_hist_len[k] ? a->ind_hist_len[k] : 64;
        while (nl <= key) nl *= 2;
        int64_t *n = realloc(a->ind_hist[k], nl * sizeof *n);
        if (!n) return GPN_ENOMEM;
        memset(n + a->ind_hist_len[k], 0, (nl - a->ind_hist_len[k]) * sizeof *n);
        a->ind_hist[k] = n;
        a->ind_hist_len[k] = nl;
    }
    a->ind_hist[k][key]++;
    return 0;
}

static struct hcount *hab_slot(struct acc *a, const char *code)
{
    for (size_t i = 0; i < a->nhab; i++)
        if (!strcmp(a->hab[i].code, code)) return &a->hab[i];
    if (a->nhab == a->caphab) {
        size_t nc = a->caphab ? a->caphab * 2 : 32;
        struct hcount *n = realloc(a->hab, nc * sizeof *n);
        if (!n) return NULL;
        a->hab = n;
        a->caphab = nc;
    }
    struct hcount *h = &a->hab[a->nhab++];
    gpn_strlcpy(h->code, code, sizeof h->code);
    h->cells = 0;
    return h;
}

/* Rows [*r0, *r1] and columns [*c0, *c1] the mask spans. */
static void mask_extent(const uint8_t *mask, int *r0, int *r1, int *c0, int *c1)
{
    *r0 = 500;
    *r1 = -1;
    *c0 = 500;
    *c1 = -1;
    for (int r = 0; r < 500; r++) {
        const uint8_t *row = mask + r * 500;
        int first = -1, last = -1;
        for (int c = 0; c < 500; c++)
            if (row[c]) {
                if (first < 0) first = c;
                last = c;
            }
        if (first < 0) continue;
        if (*r0 == 500) *r0 = r;
        *r1 = r;
        if (first < *c0) *c0 = first;
        if (last > *c1) *c1 = last;
    }
}

static void tile_file(const char *atlas, struct gpn_tile t, const char *name, char *buf, size_t n)
{
    char id[GPN_TILE_ID_MAX];
    gpn_tile_format(t, id, sizeof id);
    snprintf(buf, n, "%s/tiles/%s/%s", atlas, id, name);
}

/* ==== tile rasters (indicators.tif, habitat.tif) ======================= */

/* A decoded window of a tile raster. Cached ones hold the whole tile plus
 * full-tile summaries (so a tile entirely inside an area costs a merge of
 * small histograms, not a pass over 250,000 cells); uncached ones hold just
 * the area's window. Immutable once built, so threads share cached ones. */
enum { TR_IND = 0, TR_HAB = 1 };

struct tras {
    int kind;
    int x0, y0, w, h;                /* window held, in tile pixels */
    int nplanes;                     /* planes in data */
    int plane_of[GPN_REPORT_NIND];   /* indicator -> plane, -1 when absent */
    int integer;                     /* planes are uint16 (else float) */
    void *data;                      /* (nplanes, h, w) */
    int has_nodata;
    double nodata;
    char *table;                     /* habitat: owned "A,B,C" split in place */
    char **codes;                    /* class v >= 1 is codes[v - 1] */
    size_t ncodes;
    /* full-tile summaries (cached, integer indicators and habitats) */
    int has_summary;
    int64_t s_n[GPN_REPORT_NIND];
    double s_sum[GPN_REPORT_NIND], s_min[GPN_REPORT_NIND], s_max[GPN_REPORT_NIND];
    int64_t *s_hist[GPN_REPORT_NIND];
    size_t s_len[GPN_REPORT_NIND];
    int64_t *class_counts;           /* (ncodes + 1) */
    /* cache bookkeeping (guarded by the engine mutex) */
    struct gpn_tile tile;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    int refs, dead, cached;
    uint64_t last_use;
    size_t bytes;
};

static void tras_free(struct tras *t)
{
    if (!t) return;
    free(t->data);
    free(t->table);
    free(t->codes);
    for (int k = 0; k < GPN_REPORT_NIND; k++) free(t->s_hist[k]);
    free(t->class_counts);
    free(t);
}

/* Band of each indicator in the raster (1-based), 0 when absent. */
static void indicator_bands(struct gpn_raster *r, int nbands, int band_of[GPN_REPORT_NIND])
{
    int any_desc = 0;
    for (int k = 0; k < GPN_REPORT_NIND; k++) band_of[k] = 0;
    for (int b = 1; b <= nbands; b++) {
        const char *d = gpn_raster_band_description(r, b);
        if (!d || !*d) continue;
        for (int k = 0; k < GPN_REPORT_NIND; k++)
            if (!strcasecmp(d, gpn_report_indicator_names[k])) {
                band_of[k] = b;
                any_desc = 1;
            }
    }
    if (!any_desc)
        for (int k = 0; k < GPN_REPORT_NIND && k < nbands; k++) band_of[k] = k + 1;
}

/* Splits "A,B,C" into at most max codes (pointers into s). */
static size_t split_codes(char *s, char **codes, size_t max)
{
    size_t n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(s, ",", &save); tok && n < max; tok = strtok_r(NULL, ",", &save))
        codes[n++] = gpn_strtrim(tok);
    return n;
}

/* Nodata as a uint16 value, or -1 when it cannot occur in uint16 data. */
static int32_t nodata_u16(int has_nodata, double nodata)
{
    return has_nodata && nodata >= 0 && nodata <= 65535 && nodata == floor(nodata) ? (int32_t)nodata : -1;
}

/* Reads the window (x0, y0, w, h) of a tile raster. Habitat classes are
 * stored as uint16 class numbers, 0 for none (nodata, 0, or beyond the
 * class table). */
static int tras_load(const char *path, int kind, const struct meta *m, int x0, int y0, int w, int h,
                     struct tras **out, struct gpn_err *err)
{
    *out = NULL;
    struct gpn_raster *r = NULL;
    struct gpn_raster_info info;
    int32_t *tmp = NULL;
    struct tras *t = calloc(1, sizeof *t);
    if (!t) return gpn_err_set(err, GPN_ENOMEM, "report: out of memory");
    t->kind = kind;
    t->x0 = x0;
    t->y0 = y0;
    t->w = w;
    t->h = h;
    size_t plane = (size_t)w * h;
    int rc = gpn_raster_open(path, &r, err);
    if (!rc) rc = gpn_raster_get_info(r, &info, err);
    if (rc) goto done;
    if (info.width != 500 || info.height != 500) {
        rc = gpn_err_set(err, GPN_EFORMAT, "%s: %dx%d pixels, a tile raster has 500x500", path, info.width,
                         info.height);
        goto done;
    }
    t->has_nodata = info.has_nodata;
    t->nodata = info.nodata;
    if (kind == TR_IND) {
        int band_of[GPN_REPORT_NIND];
        indicator_bands(r, info.bands, band_of);
        int bmin = info.bands + 1, bmax = 0;
        for (int k = 0; k < GPN_REPORT_NIND; k++)
            if (band_of[k]) {
                if (band_of[k] < bmin) bmin = band_of[k];
                if (band_of[k] > bmax) bmax = band_of[k];
            }
        for (int k = 0; k < GPN_REPORT_NIND; k++) t->plane_of[k] = band_of[k] ? band_of[k] - bmin : -1;
        if (bmax == 0) goto done;
        t->nplanes = bmax - bmin + 1;
        t->integer = info.dtype == GPN_DT_U8 || info.dtype == GPN_DT_U16;
        enum gpn_dtype dt = t->integer ? GPN_DT_U16 : GPN_DT_F32;
        t->data = malloc((size_t)t->nplanes * plane * gpn_dtype_size(dt));
        if (!t->data) {
            rc = gpn_err_set(err, GPN_ENOMEM, "report: out of memory");
            goto done;
        }
        /* One read for all bands: pixel-interleaved files decode each block once. */
        rc = gpn_raster_read(r, bmin, t->nplanes, x0, y0, w, h, dt, t->data, err);
        goto done;
    }
    const char *meta_codes = gpn_raster_metadata(r, "GPN_CLASS_CODES");
    if (meta_codes) {
        t->table = strdup(meta_codes);
    } else {
        /* No table in the file: the catalog's level-3 codes in code order. */
        struct gpn_buf b = {0};
        for (size_t i = 0; i < m->nl3; i++) gpn_buf_printf(&b, "%s%s", i ? "," : "", m->l3_codes[i]);
        t->table = b.oom ? NULL : gpn_buf_steal(&b, NULL);
        gpn_buf_free(&b);
        if (!t->table && !b.oom) t->table = strdup("");
    }
    size_t maxcodes = 1;
    for (const char *q = t->table ? t->table : ""; *q; q++) maxcodes += *q == ',';
    if (maxcodes > 65535) maxcodes = 65535;
    t->codes = calloc(maxcodes + 1, sizeof *t->codes);
    tmp = malloc(plane * sizeof *tmp);
    t->data = malloc(plane * sizeof(uint16_t));
    if (!t->table || !t->codes || !tmp || !t->data) {
        rc = gpn_err_set(err, GPN_ENOMEM, "report: out of memory");
        goto done;
    }
    t->ncodes = split_codes(t->table, t->codes, maxcodes);
    t->nplanes = 1;
    rc = gpn_raster_read(r, 1, 1, x0, y0, w, h, GPN_DT_I32, tmp, err);
    if (rc) goto done;
    uint16_t *cls = t->data;
    int32_t nod = info.has_nodata ? (int32_t)info.nodata : 0;
    for (size_t i = 0; i < plane; i++) {
        int32_t v = tmp[i];
        cls[i] = (uint16_t)((v <= 0 || (info.has_nodata && v == nod) || (size_t)v > t->ncodes) ? 0 : v);
    }
done:
    free(tmp);
    gpn_raster_close(r);
    if (rc) {
        tras_free(t);
        return gpn_err_prefix(err, "%s", kind == TR_IND ? "indicators" : "habitat");
    }
    *out = t;
    return 0;
}

/* Full-tile summaries of a whole-tile tras. */
static int tras_summarize(struct tras *t)
{
    const size_t plane = GPN_STORE_TILE_CELLS;
    if (t->kind == TR_HAB) {
        t->class_counts = calloc(t->ncodes + 1, sizeof *t->class_counts);
        if (!t->class_counts) return GPN_ENOMEM;
        const uint16_t *cls = t->data;
        for (size_t i = 0; i < plane; i++) t->class_counts[cls[i]]++;
        t->has_summary = 1;
        return 0;
    }
    if (!t->integer || !t->data) return 0;
    int32_t nod = nodata_u16(t->has_nodata, t->nodata);
    for (int k = 0; k < GPN_REPORT_NIND; k++) {
        if (t->plane_of[k] < 0) continue;
        const uint16_t *v = (const uint16_t *)t->data + (size_t)t->plane_of[k] * plane;
        int32_t mx = -1;
        for (size_t i = 0; i < plane; i++)
            if (v[i] != nod && v[i] > mx) mx = v[i];
        t->s_len[k] = (size_t)(mx + 1);
        t->s_hist[k] = calloc(t->s_len[k] ? t->s_len[k] : 1, sizeof **t->s_hist);
        if (!t->s_hist[k]) return GPN_ENOMEM;
        int64_t n = 0, sum = 0;
        int32_t mn = INT32_MAX;
        for (size_t i = 0; i < plane; i++) {
            int32_t x = v[i];
            if (x == nod) continue;
            n++;
            sum += x;
            mn = x < mn ? x : mn;
            t->s_hist[k][x]++;
        }
        t->s_n[k] = n;
        t->s_sum[k] = (double)sum;
        t->s_min[k] = mn;
        t->s_max[k] = mx;
    }
    t->has_summary = 1;
    return 0;
}

/* Adds the values of one band inside the mask: the integer path (uint8 and
 * uint16 rasters, every real indicator) indexes the histogram directly; the
 * float path rounds through hist_add. band points at the window's pixel
 * (r0, c0) in tile coordinates, with row stride `stride`. */
static int add_band_u16(struct acc *a, int k, const uint16_t *band, size_t stride, int w, int h,
                        const uint8_t *mask, int r0, int c0, int32_t nod)
{
    /* The histogram grows to the largest value seen (indicators are small
     * counts: a 65,536-slot table per band would cost more to clear than
     * a small area costs to count). */
    if (hist_reserve(a, k, 64)) return GPN_ENOMEM;
    int64_t *hist = a->ind_hist[k];
    size_t len = a->ind_hist_len[k];
    int64_t n = 0, sum = 0;
    int32_t mn = INT32_MAX, mx = INT32_MIN;
    for (int y = 0; y < h; y++) {
        const uint8_t *mrow = mask + (size_t)(r0 + y) * 500 + c0;
        const uint16_t *vrow = band + (size_t)y * stride;
        for (int x = 0; x < w; x++) {
            if (!mrow[x]) continue;
            int32_t v = vrow[x];
            if (v == nod) continue;
            n++;
            sum += v;
            mn = v < mn ? v : mn;
            mx = v > mx ? v : mx;
            if ((size_t)v >= len) {
                size_t nl = len;
                while (nl <= (size_t)v) nl *= 2;
                if (hist_reserve(a, k, nl)) return GPN_ENOMEM;
                hist = a->ind_hist[k];
                len = nl;
            }
            hist[v]++;
        }
    }
    if (!n) return 0;
    if (a->ind_n[k] == 0 || mn < a->ind_min[k]) a->ind_min[k] = mn;
    if (a->ind_n[k] == 0 || mx > a->ind_max[k]) a->ind_max[k] = mx;
    a->ind_n[k] += n;
    a->ind_sum[k] += (double)sum;
    return 0;
}

static int add_band_f32(struct acc *a, int k, const float *band, size_t stride, int w, int h, const uint8_t *mask,
                        int r0, int c0, int has_nodata, double nodata)
{
    double nod = has_nodata ? (double)(float)nodata : NAN;
    for (int y = 0; y < h; y++) {
        const uint8_t *mrow = mask + (size_t)(r0 + y) * 500 + c0;
        const float *vrow = band + (size_t)y * stride;
        for (int x = 0; x < w; x++) {
            if (!mrow[x]) continue;
            double v = vrow[x];
            if (isnan(v) || v == nod) continue;
            if (a->ind_n[k] == 0 || v < a->ind_min[k]) a->ind_min[k] = v;
            if (a->ind_n[k] == 0 || v > a->ind_max[k]) a->ind_max[k] = v;
            a->ind_n[k]++;
            a->ind_sum[k] += v;
            if (hist_add(a, k, v)) return GPN_ENOMEM;
        }
    }
    return 0;
}

/* Accumulates the area's cells [r0..r1] x [c0..c1] of t (which holds that
 * window or more); full: the mask covers the whole tile. */
static int acc_tras(struct acc *a, const struct tras *t, const uint8_t *mask, int r0, int r1, int c0, int c1,
                    int full)
{
    int w = c1 - c0 + 1, h = r1 - r0 + 1;
    size_t plane = (size_t)t->w * t->h, off = (size_t)(r0 - t->y0) * t->w + (size_t)(c0 - t->x0);
    if (t->kind == TR_IND) {
        int32_t nod = nodata_u16(t->has_nodata, t->nodata);
        for (int k = 0; k < GPN_REPORT_NIND; k++) {
            if (t->plane_of[k] < 0 || !t->data) continue;
            a->ind_present[k] = 1;
            if (full && t->has_summary) {
                if (!t->s_n[k]) continue;
                if (hist_reserve(a, k, t->s_len[k])) return GPN_ENOMEM;
                for (size_t v = 0; v < t->s_len[k]; v++) a->ind_hist[k][v] += t->s_hist[k][v];
                if (a->ind_n[k] == 0 || t->s_min[k] < a->ind_min[k]) a->ind_min[k] = t->s_min[k];
                if (a->ind_n[k] == 0 || t->s_max[k] > a->ind_max[k]) a->ind_max[k] = t->s_max[k];
                a->ind_n[k] += t->s_n[k];
                a->ind_sum[k] += t->s_sum[k];
                continue;
            }
            size_t base = (size_t)t->plane_of[k] * plane + off;
            int rc = t->integer
                         ? add_band_u16(a, k, (const uint16_t *)t->data + base, (size_t)t->w, w, h, mask, r0, c0, nod)
                         : add_band_f32(a, k, (const float *)t->data + base, (size_t)t->w, w, h, mask, r0, c0,
                                        t->has_nodata, t->nodata);
            if (rc) return rc;
        }
        return 0;
    }
    a->hab_present = 1;
    int64_t *per_class = NULL, *local = NULL;
    if (full && t->has_summary) {
        per_class = t->class_counts;
    } else {
        local = calloc(t->ncodes + 1, sizeof *local);
        if (!local) return GPN_ENOMEM;
        const uint16_t *cls = (const uint16_t *)t->data + off;
        for (int y = 0; y < h; y++) {
            const uint8_t *mrow = mask + (size_t)(r0 + y) * 500 + c0;
            const uint16_t *vrow = cls + (size_t)y * t->w;
            for (int x = 0; x < w; x++)
                if (mrow[x]) local[vrow[x]]++;
        }
        per_class = local;
    }
    int rc = 0;
    for (size_t v = 1; v <= t->ncodes; v++) {
        if (!per_class[v]) continue;
        struct hcount *hc = hab_slot(a, t->codes[v - 1]);
        if (!hc) {
            rc = GPN_ENOMEM;
            break;
        }
        hc->cells += per_class[v];
        a->hab_cells += per_class[v];
    }
    free(local);
    return rc;
}

/* The decoded raster `kind` of tile t, from the engine's cache (whole tile)
 * or, with the cache off, just the window. NULL with *rc = 0 when the tile
 * has no such raster. Release with tras_release. */
static struct tras *tras_acquire(struct gpn_report_engine *e, const struct meta *m, struct gpn_tile t, int kind,
                                 int r0, int r1, int c0, int c1, int *rc, struct gpn_err *err)
{
    char path[4200];
    *rc = 0;
    tile_file(e->atlas, t, kind == TR_IND ? "indicators.tif" : "habitat.tif", path, sizeof path);
    struct stat st;
    if (stat(path, &st) != 0) return NULL;
    struct tras *tr = NULL;
    if (e->raster_budget == 0) {
        *rc = tras_load(path, kind, m, c0, r0, c1 - c0 + 1, r1 - r0 + 1, &tr, err);
        return tr;
    }
    pthread_mutex_lock(&e->mu);
    for (size_t i = 0; i < e->nrcache; i++) {
        struct tras *c = e->rcache[i];
        if (c->kind != kind || !gpn_tile_equal(c->tile, t)) continue;
        if (c->dev == st.st_dev && c->ino == st.st_ino && c->size == st.st_size &&
            c->mtime.tv_sec == st.st_mtim.tv_sec && c->mtime.tv_nsec == st.st_mtim.tv_nsec) {
            c->refs++;
            c->last_use = ++e->clock;
            pthread_mutex_unlock(&e->mu);
            return c;
        }
    }
    pthread_mutex_unlock(&e->mu);
    *rc = tras_load(path, kind, m, 0, 0, 500, 500, &tr, err);
    if (*rc) return NULL;
    if (tras_summarize(tr)) {
        tras_free(tr);
        *rc = gpn_err_set(err, GPN_ENOMEM, "report: out of memory");
        return NULL;
    }
    tr->tile = t;
    tr->dev = st.st_dev;
    tr->ino = st.st_ino;
    tr->size = st.st_size;
    tr->mtime = st.st_mtim;
    tr->refs = 1;
    tr->cached = 1;
    tr->bytes = (size_t)tr->nplanes * GPN_STORE_TILE_CELLS * (tr->integer || kind == TR_HAB ? 2 : 4);
    pthread_mutex_lock(&e->mu);
    tr->last_use = ++e->clock;
    for (size_t i = 0; i < e->nrcache; i++) {
        struct tras *c = e->rcache[i];
        if (c->kind == kind && gpn_tile_equal(c->tile, t)) { /* an older version of the file */
            c->dead = 1;
            e->rbytes -= c->bytes;
            e->rcache[i] = e->rcache[--e->nrcache];
            if (c->refs == 0) tras_free(c);
            break;
        }
    }
    /* Evict least recently used unreferenced entries beyond the budget. */
    while (e->rbytes + tr->bytes > e->raster_budget) {
        size_t victim = SIZE_MAX;
        for (size_t i = 0; i < e->nrcache; i++)
            if (e->rcache[i]->refs == 0 &&
                (victim == SIZE_MAX || e->rcache[i]->last_use < e->rcache[victim]->last_use))
                victim = i;
        if (victim == SIZE_MAX) break;
        struct tras *c = e->rcache[victim];
        e->rbytes -= c->bytes;
        e->rcache[victim] = e->rcache[--e->nrcache];
        tras_free(c);
    }
    if (e->rbytes + tr->bytes <= e->raster_budget && e->nrcache < e->caprcache) {
        e->rcache[e->nrcache++] = tr;
        e->rbytes += tr->bytes;
    } else {
        tr->dead = 1; /* no room: lives for this report only */
    }
    pthread_mutex_unlock(&e->mu);
    return tr;
}

static void tras_release(struct gpn_report_engine *e, struct tras *t)
{
    if (!t) return;
    if (!t->cached) {
        tras_free(t);
        return;
    }
    pthread_mutex_lock(&e->mu);
    int free_it = --t->refs == 0 && t->dead;
    pthread_mutex_unlock(&e->mu);
    if (free_it) tras_free(t);
}

static int tile_rasters(struct gpn_report_engine *e, const struct meta *m, struct gpn_tile t, const uint8_t *mask,
                        int64_t count, struct acc *a)
{
    int r0, r1, c0, c1;
    mask_extent(mask, &r0, &r1, &c0, &c1);
    if (r1 < r0) return 0;
    int full = count == GPN_STORE_TILE_CELLS;
    for (int kind = TR_IND; kind <= TR_HAB; kind++) {
        int rc;
        struct tras *tr = tras_acquire(e, m, t, kind, r0, r1, c0, c1, &rc, &a->err);
        if (rc) return rc;
        if (!tr) continue;
        rc = acc_tras(a, tr, mask, r0, r1, c0, c1, full);
        tras_release(e, tr);
        if (rc) return gpn_err_set(&a->err, rc, "report: out of memory");
    }
    return 0;
}

/* One tile: rasterise, count species, read indicators and habitats. */
static void run_tile(struct gpn_report_engine *e, const struct meta *m, const struct gpn_geom_prep *prep,
                     struct gpn_tile t, uint8_t *mask, struct gpn_cellmask *cm, struct acc *a)
{
    int64_t count = 0;
    int rc = gpn_geom_prep_rasterize_tile(prep, t, mask, &count, &a->err);
    if (rc) {
        acc_fail(a, rc);
        return;
    }
    if (count == 0) return;
    a->cells += count;
    struct cached *c = store_acquire(e, t, &rc, &a->err);
    if (rc) {
        acc_fail(a, rc);
        return;
    }
    if (!c) return; /* no data in this tile */
    a->cells_data += count;
    a->tiles_data++;
    gpn_cellmask_from_u8(cm, mask);
    size_t n = gpn_store_count(c->store);
    if (n > a->capcounts) {
        int64_t *nc = realloc(a->counts, n * sizeof *nc);
        if (!nc) {
            store_release(e, c);
            acc_fail(a, gpn_err_set(&a->err, GPN_ENOMEM, "report: out of memory"));
            return;
        }
        a->counts = nc;
        a->capcounts = n;
    }
    gpn_store_count_all(c->store, cm, a->counts);
    for (size_t i = 0; i < n; i++) {
        if (!a->counts[i]) continue;
        if (a->npairs == a->cappairs) {
            size_t ncap = a->cappairs ? a->cappairs * 2 : 4096;
            struct pair *np = realloc(a->pairs, ncap * sizeof *np);
            if (!np) {
                store_release(e, c);
                acc_fail(a, gpn_err_set(&a->err, GPN_ENOMEM, "report: out of memory"));
                return;
            }
            a->pairs = np;
            a->cappairs = ncap;
        }
        a->pairs[a->npairs].id = gpn_store_species_id(c->store, i);
        a->pairs[a->npairs].cells = a->counts[i];
        a->npairs++;
    }
    store_release(e, c);
    rc = tile_rasters(e, m, t, mask, count, a);
    if (rc) acc_fail(a, rc);
}

/* ==== merge ============================================================= */

static int cmp_pair_id(const void *x, const void *y)
{
    uint32_t a = ((const struct pair *)x)->id, b = ((const struct pair *)y)->id;
    return a < b ? -1 : a > b;
}

static int cmp_species_rank(const void *x, const void *y)
{
    const struct gpn_report_species *a = x, *b = y;
    if (a->cells != b->cells) return a->cells > b->cells ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

static int cmp_hab_rank(const void *x, const void *y)
{
    const struct gpn_report_habitat *a = x, *b = y;
    if (a->cells != b->cells) return a->cells > b->cells ? -1 : 1;
    return strcmp(a->code, b->code);
}

struct report_priv {
    struct pool_block *pool;
};

void gpn_report_free(struct gpn_report *r)
{
    if (!r) return;
    free(r->species);
    for (int l = 0; l < 3; l++) free(r->habitats[l]);
    struct report_priv *p = r->priv;
    if (p) {
        pool_free(p->pool);
        free(p);
    }
    free(r);
}

static void finish_indicator(struct gpn_report_indicator *ind, const struct acc *accs, int nacc, int k)
{
    int64_t n = 0;
    double sum = 0, mn = INFINITY, mx = -INFINITY;
    size_t len = 0;
    for (int t = 0; t < nacc; t++) {
        const struct acc *a = &accs[t];
        if (a->ind_present[k]) ind->present = 1;
        if (!a->ind_n[k]) continue;
        n += a->ind_n[k];
        sum += a->ind_sum[k];
        mn = fmin(mn, a->ind_min[k]);
        mx = fmax(mx, a->ind_max[k]);
        if (a->ind_hist_len[k] > len) len = a->ind_hist_len[k];
    }
    ind->cells = n;
    ind->mean = ind->min = ind->max = ind->median = NAN;
    if (!n) return;
    ind->mean = sum / (double)n;
    ind->min = mn;
    ind->max = mx;
    /* Median (lower middle for even counts, mean of the two middles when
     * they differ) from the merged integer histogram. */
    int64_t lo_rank = (n - 1) / 2, hi_rank = n / 2, seen = 0;
    double lo_v = NAN, hi_v = NAN;
    int64_t kmin = (int64_t)nearbyint(mn), kmax = (int64_t)nearbyint(mx);
    if (kmin < 0) kmin = 0;
    if (kmax >= HIST_KEY_MAX) kmax = HIST_KEY_MAX - 1;
    int nb = (int)(kmax - kmin + 1);
    if (nb > GPN_REPORT_HIST_BINS) nb = GPN_REPORT_HIST_BINS;
    double width = ceil((double)(kmax - kmin + 1) / nb);
    ind->nbins = nb;
    ind->hist_lo = (double)kmin;
    ind->hist_w = width;
    for (size_t v = 0; v < len; v++) {
        int64_t c = 0;
        for (int t = 0; t < nacc; t++)
            if (v < accs[t].ind_hist_len[k]) c += accs[t].ind_hist[k][v];
        if (!c) continue;
        if (isnan(lo_v) && seen + c > lo_rank) lo_v = (double)v;
        if (isnan(hi_v) && seen + c > hi_rank) hi_v = (double)v;
        seen += c;
        int64_t bin = (int64_t)(((double)v - (double)kmin) / width);
        if (bin < 0) bin = 0;
        if (bin >= nb) bin = nb - 1;
        ind->hist[bin] += c;
    }
    ind->median = (lo_v + hi_v) / 2;
}

static int merge(struct gpn_report *r, const struct meta *m, struct acc *accs, int nacc, struct gpn_err *err)
{
    struct report_priv *p = r->priv;
    size_t total = 0;
    for (int t = 0; t < nacc; t++) {
        r->cells += accs[t].cells;
        r->cells_with_data += accs[t].cells_data;
        r->tiles_with_data += accs[t].tiles_data;
        total += accs[t].npairs;
    }
    struct pair *all = malloc((total ? total : 1) * sizeof *all);
    if (!all) return gpn_err_set(err, GPN_ENOMEM, "report: out of memory");
    size_t k = 0;
    for (int t = 0; t < nacc; t++) {
        if (accs[t].npairs) memcpy(all + k, accs[t].pairs, accs[t].npairs * sizeof *all);
        k += accs[t].npairs;
    }
    gpn_qsort(all, total, sizeof *all, cmp_pair_id);
    size_t nsp = 0;
    for (size_t i = 0; i < total; i++)
        if (i == 0 || all[i].id != all[i - 1].id) nsp++;
    r->species = calloc(nsp ? nsp : 1, sizeof *r->species);
    if (!r->species) {
        free(all);
        return gpn_err_set(err, GPN_ENOMEM, "report: out of memory");
    }
    for (size_t i = 0; i < total; i++) {
        if (i == 0 || all[i].id != all[i - 1].id) {
            struct gpn_report_species *s = &r->species[r->nspecies++];
            s->id = all[i].id;
            s->cells = 0;
        }
        r->species[r->nspecies - 1].cells += all[i].cells;
    }
    free(all);
    double denom = r->cells_with_data > 0 ? (double)r->cells_with_data : 1.0;
    for (size_t i = 0; i < r->nspecies; i++) {
        struct gpn_report_species *s = &r->species[i];
        s->pct = 100.0 * (double)s->cells / denom;
        const struct sp_meta *sm = meta_species(m, s->id);
        s->name = pool_str(&p->pool, sm ? sm->name : "");
        s->genus = pool_str(&p->pool, sm ? sm->genus : "");
        s->family = pool_str(&p->pool, sm ? sm->family : "");
        if (!s->name || !s->genus || !s->family) return gpn_err_set(err, GPN_ENOMEM, "report: out of memory");
        s->flags = sm ? sm->flags : 0;
        if (sm) memcpy(s->redlist, sm->redlist, sizeof s->redlist);
        if (s->flags & GPN_SPECIES_DIRECTIVE) r->n_directive++;
        if (s->flags & GPN_SPECIES_INVASIVE) r->n_invasive++;
        if (s->flags & GPN_SPECIES_ENDEMIC) r->n_endemic++;
        if (s->flags & GPN_SPECIES_TREE) r->n_tree++;
        if (s->flags & GPN_SPECIES_SPECIALIST) r->n_specialist++;
        if (!strcmp(s->redlist, "CR")) r->n_cr++;
        if (!strcmp(s->redlist, "EN")) r->n_en++;
        if (!strcmp(s->redlist, "VU")) r->n_vu++;
    }
    r->n_threatened = r->n_cr + r->n_en + r->n_vu;
    gpn_qsort(r->species, r->nspecies, sizeof *r->species, cmp_species_rank);

    for (int i = 0; i < GPN_REPORT_NIND; i++) {
        r->ind[i].name = gpn_report_indicator_names[i];
        finish_indicator(&r->ind[i], accs, nacc, i);
    }

    /* Habitats: merge per-thread L3 counts, then roll up to L2 and L1. */
    for (int t = 0; t < nacc; t++) {
        if (accs[t].hab_present) r->habitats_present = 1;
        r->habitat_cells += accs[t].hab_cells;
    }
    struct acc merged = {0};
    for (int t = 0; t < nacc; t++)
        for (size_t i = 0; i < accs[t].nhab; i++) {
            struct hcount *h = hab_slot(&merged, accs[t].hab[i].code);
            if (!h) {
                acc_free(&merged);
                return gpn_err_set(err, GPN_ENOMEM, "report: out of memory");
            }
            h->cells += accs[t].hab[i].cells;
        }
    for (int level = 1; level <= 3; level++) {
        struct acc lv = {0};
        for (size_t i = 0; i < merged.nhab; i++) {
            char code[GPN_HABITAT_CODE_MAX];
            int cl = gpn_habitat_code_level(merged.hab[i].code);
            if (level == 3 || cl < 0) {
                gpn_strlcpy(code, merged.hab[i].code, sizeof code);
            } else if (gpn_habitat_code_ancestor(merged.hab[i].code, level, code, sizeof code, NULL) != 0) {
                gpn_strlcpy(code, merged.hab[i].code, sizeof code);
            }
            struct hcount *h = hab_slot(&lv, code);
            if (!h) {
                acc_free(&lv);
                acc_free(&merged);
                return gpn_err_set(err, GPN_ENOMEM, "report: out of memory");
            }
            h->cells += merged.hab[i].cells;
        }
        r->habitats[level - 1] = calloc(lv.nhab ? lv.nhab : 1, sizeof **r->habitats);
        if (!r->habitats[level - 1]) {
            acc_free(&lv);
            acc_free(&merged);
            return gpn_err_set(err, GPN_ENOMEM, "report: out of memory");
        }
        for (size_t i = 0; i < lv.nhab; i++) {
            struct gpn_report_habitat *h = &r->habitats[level - 1][i];
            gpn_strlcpy(h->code, lv.hab[i].code, sizeof h->code);
            h->name = pool_str(&p->pool, meta_habitat_name(m, lv.hab[i].code));
            h->level = level;
            h->cells = lv.hab[i].cells;
            h->pct = r->habitat_cells > 0 ? 100.0 * (double)h->cells / (double)r->habitat_cells : 0;
            if (!h->name) {
                acc_free(&lv);
                acc_free(&merged);
                return gpn_err_set(err, GPN_ENOMEM, "report: out of memory");
            }
        }
        r->nhabitats[level - 1] = lv.nhab;
        gpn_qsort(r->habitats[level - 1], lv.nhab, sizeof **r->habitats, cmp_hab_rank);
        acc_free(&lv);
    }
    acc_free(&merged);

    gpn_strlcpy(r->sdm_model, m->sdm_model, sizeof r->sdm_model);
    gpn_strlcpy(r->hdm_model, m->hdm_model, sizeof r->hdm_model);
    gpn_strlcpy(r->species_source, m->species_source, sizeof r->species_source);
    r->alpha = m->alpha;
    r->threshold = m->threshold;
    return 0;
}

/* ==== run =============================================================== */

/* The meta-tiles of each polygon's bounding box, sorted and de-duplicated.
 * (A superset of the tiles holding a cell centre of the area: tiles with
 * none rasterise to an empty mask and are skipped. Bounding boxes rather
 * than an exact tile list keep this independent of edge cases of the exact
 * classification; per polygon, so far-apart parts stay cheap.) */
static int area_tiles(const struct gpn_geom *g, size_t max_tiles, struct gpn_tile **out, size_t *nout,
                      struct gpn_err *err)
{
    *out = NULL;
    *nout = 0;
    struct gpn_tile *all = NULL;
    size_t n = 0, cap = 0;
    for (size_t p = 0; p < g->npolys; p++) {
        const struct gpn_ring *ext = &g->rings[g->polys[p].ring0];
        double b[4] = {INFINITY, INFINITY, -INFINITY, -INFINITY};
        for (size_t i = 0; i < ext->n; i++) {
            const double *xy = g->xy + 2 * (ext->off + i);
            b[0] = fmin(b[0], xy[0]);
            b[1] = fmin(b[1], xy[1]);
            b[2] = fmax(b[2], xy[0]);
            b[3] = fmax(b[3], xy[1]);
        }
        struct gpn_tile *t = NULL;
        size_t nt = 0;
        /* Half-open bbox: a centre on the max edge is outside anyway. */
        int rc = gpn_tiles_in_bbox(b[0], b[1], b[2], b[3], max_tiles, &t, &nt, err);
        if (rc) {
            free(all);
            return rc;
        }
        if (n + nt > cap) {
            size_t nc = cap ? cap : 64;
            while (nc < n + nt) nc *= 2;
            struct gpn_tile *na = realloc(all, nc * sizeof *na);
            if (!na) {
                free(t);
                free(all);
                return gpn_err_set(err, GPN_ENOMEM, "report: out of memory");
            }
            all = na;
            cap = nc;
        }
        if (nt) memcpy(all + n, t, nt * sizeof *t);
        n += nt;
        free(t);
    }
    gpn_qsort(all, n, sizeof *all, gpn_tile_cmp);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || !gpn_tile_equal(all[i], all[k - 1])) all[k++] = all[i];
    if (max_tiles && k > max_tiles) {
        free(all);
        return gpn_err_set(err, GPN_ETOOBIG, "%zu meta-tiles", k);
    }
    *out = all;
    *nout = k;
    return 0;
}

int gpn_report_run(struct gpn_report_engine *e, const struct gpn_geom *area, const struct gpn_report_limits *lim,
                   struct gpn_report **out, struct gpn_err *err)
{
    *out = NULL;
    double t0 = gpn_now();
    struct gpn_report_limits l = lim ? *lim : (struct gpn_report_limits){0};
    gpn_report_limits_fill(&l);
    if (!area || area->epsg != 3035)
        return gpn_err_set(err, GPN_EINVAL, "gpn_report_run: the area must be in EPSG:3035");
    struct gpn_geom_prep *prep = NULL;
    struct gpn_tile *tiles = NULL;
    size_t ntiles = 0;
    struct acc *accs = NULL;
    struct meta *m = NULL;
    struct gpn_report *r = NULL;
    int nthr = e->opts.threads > 0 ? e->opts.threads : omp_get_max_threads();
    int rc = gpn_geom_prepare(area, &prep, err);
    if (rc) goto done;
    rc = area_tiles(area, l.max_tiles, &tiles, &ntiles, err);
    if (rc) {
        if (rc == GPN_ETOOBIG) gpn_err_prefix(err, "area: covers more than %zu meta-tiles", l.max_tiles);
        goto done;
    }
    if (ntiles == 0) {
        rc = gpn_err_set(err, GPN_ERANGE, "area: holds no 50 m cell centre (too small or outside the grid)");
        goto done;
    }
    if ((size_t)nthr > ntiles) nthr = (int)ntiles;
    accs = calloc((size_t)nthr, sizeof *accs);
    r = calloc(1, sizeof *r);
    if (r) r->priv = calloc(1, sizeof(struct report_priv));
    if (!accs || !r || !r->priv) {
        rc = gpn_err_set(err, GPN_ENOMEM, "report: out of memory");
        goto done;
    }
    m = meta_acquire(e);

#pragma omp parallel num_threads(nthr)
    {
        struct acc *a = &accs[omp_get_thread_num()];
        uint8_t *mask = malloc(GPN_STORE_TILE_CELLS);
        struct gpn_cellmask *cm = malloc(sizeof *cm);
        if (!mask || !cm) acc_fail(a, gpn_err_set(&a->err, GPN_ENOMEM, "report: out of memory"));
#pragma omp for schedule(dynamic, 1)
        for (size_t i = 0; i < ntiles; i++) {
            if (a->rc) continue;
            run_tile(e, m, prep, tiles[i], mask, cm, a);
        }
        free(mask);
        free(cm);
    }
    for (int t = 0; t < nthr; t++)
        if (accs[t].rc) {
            rc = accs[t].rc;
            if (err) *err = accs[t].err;
            goto done;
        }
    r->tiles = ntiles;
    rc = merge(r, m, accs, nthr, err);
    if (rc) goto done;
    if (r->cells == 0) {
        rc = gpn_err_set(err, GPN_ERANGE, "area: holds no 50 m cell centre");
        goto done;
    }
    if (r->cells_with_data == 0) {
        rc = gpn_err_set(err, GPN_ERANGE, "area: lies outside the atlas data (none of its %zu meta-tiles has a store)",
                         ntiles);
        goto done;
    }
    r->area_km2 = (double)r->cells * 0.0025;
    r->geom_area_km2 = gpn_geom_area(area) / 1e6;
    /* The bbox in lon/lat, from the 3035 bbox corners and edges. */
    {
        double b[4];
        gpn_geom_bbox(area, b);
        struct gpn_err e2 = {0};
        struct gpn_transform *tr = transform_acquire(e);
        for (int i = 0; i < 4; i++) r->bbox[i] = NAN;
        if (tr && gpn_transform_bbox(tr, b, r->bbox, &e2) != 0)
            for (int i = 0; i < 4; i++) r->bbox[i] = NAN;
        transform_release(e, tr);
    }
    r->elapsed_ms = (gpn_now() - t0) * 1000.0;
done:
    if (m) meta_release(e, m);
    if (accs)
        for (int t = 0; t < nthr; t++) acc_free(&accs[t]);
    free(accs);
    free(tiles);
    gpn_geom_prep_free(prep);
    if (rc) {
        gpn_report_free(r);
        return rc;
    }
    *out = r;
    return 0;
}
