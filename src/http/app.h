/*
 * app.h - internals of the map server shared by the src/http files (not public).
 *
 * The app (struct gpn_http_app) is the long-lived object behind every
 * request: configuration, the layer registry, the tile cache and the API
 * hook state. The layer registry is an immutable snapshot (struct
 * gpn__layers) swapped atomically when the catalog changes: a request takes
 * a reference at its start (gpn__layers_acquire) and drops it at the end,
 * so a reload never pulls a layer from under a running render.
 *
 * Open rasters (keyed by path + layer version) and PROJ transforms live in
 * worker contexts checked out per request (layers.c), because GDAL
 * datasets and PROJ contexts must not be used by two threads at once.
 */
#ifndef GPN_HTTP_APP_H
#define GPN_HTTP_APP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "gpn/catalog.h"
#include "gpn/http.h"
#include "gpn/raster.h"
#include "gpn/render.h"
#include "gpn/reproj.h"

/* ==== layers ============================================================ */

#define GPN__MAX_STYLES 8

/* One servable layer: the catalog row plus what serving needs, computed
 * once at load. Immutable while any snapshot refers to it. */
struct gpn__layer {
    struct gpn_layer meta;            /* the catalog row */
    char path[GPN_HTTP_PATH_MAX];     /* absolute raster path */
    struct gpn_raster_info info;      /* from the raster itself */
    int band;                         /* 1-based band to render */
    char crs[32];                     /* "EPSG:3035" or "" when no EPSG code */
    double bbox_native[4];            /* minx, miny, maxx, maxy in crs */
    double bbox_ll[4];                /* lon/lat (CRS:84) */
    double bbox_3857[4];              /* clamped to the mercator square */
    double bbox_3035[4];
    int has_3035;                     /* 0 when the extent is outside LAEA Europe's domain */
    double data_min, data_max;        /* from metadata or a low-resolution scan */
    int n_styles;                     /* styles[0] is the default */
    struct gpn_style *styles;         /* (n_styles) owned */
    int queryable;
    char units[32];
};

struct gpn__layers {
    _Atomic long refs;
    int64_t generation;               /* bumps on every reload (capabilities updateSequence) */
    size_t n;
    struct gpn__layer *v;             /* (n) sorted by name */
};

/* Loads every catalog layer of atlas (layers whose raster cannot be opened
 * are skipped with a warning). *out has one reference. */
int gpn__layers_load(const char *atlas, int64_t generation, struct gpn__layers **out, struct gpn_err *err);
void gpn__layers_release(struct gpn__layers *ls);
const struct gpn__layer *gpn__layers_find(const struct gpn__layers *ls, const char *name);
/* The style named name ("" or "default" = the default), or NULL. */
const struct gpn_style *gpn__layer_style(const struct gpn__layer *l, const char *name);

/* The pool of worker contexts (open rasters and transforms, see layers.c). */
struct gpn__workers;
int gpn__workers_create(struct gpn__workers **out, struct gpn_err *err);
void gpn__workers_destroy(struct gpn__workers *ws);
/* Checks out a context for the calling thread until gpn__worker_leave.
 * Returns 1 (entered), 0 (already inside a scope: nothing to leave) or
 * GPN_ENOMEM; pass the return value to gpn__worker_leave. */
int gpn__worker_enter(struct gpn__workers *ws);
void gpn__worker_leave(struct gpn__workers *ws, int entered);
/* The open raster of a layer in the calling thread's worker context
 * (opened on first use, reopened when the layer version changes).
 * Borrowed: valid until the context is left or more than 64 rasters are
 * used. GPN_ESTATE outside a worker scope. */
int gpn__layer_raster(const struct gpn__layer *l, struct gpn_raster **out, struct gpn_err *err);
/* A transform from -> to of the worker context (NULL *out when from == to). */
int gpn__transform(const char *from, const char *to, struct gpn_transform **out, struct gpn_err *err);

/* ==== tile cache ======================================================== */

struct gpn__cache;

/* dir: cache folder (created); max_bytes 0 = disabled (get/put no-ops). */
int gpn__cache_open(const char *dir, int64_t max_bytes, struct gpn__cache **out, struct gpn_err *err);
void gpn__cache_close(struct gpn__cache *c);
/* Relative key path "<layer>/v<version>/<style>/<z>/<x>/<y>.<ext>" into buf. */
void gpn__cache_key(char *buf, size_t n, const char *layer, int64_t version, const char *style, int z, int x, int y,
                    const char *ext);
/* Full path of a cached entry into path when present (1), 0 when absent. */
int gpn__cache_get(struct gpn__cache *c, const char *key, char *path, size_t n);
/* Stores data under key (temp file + rename); errors are logged, not
 * fatal. Returns 1 when the cache has grown past its bound (kick the
 * janitor), else 0. */
int gpn__cache_put(struct gpn__cache *c, const char *key, const void *data, size_t len);
/* Removes cache folders of layers/versions not in ls (stale versions),
 * then evicts the oldest entries while over the bound. Called by the
 * janitor thread; safe to call from any thread. */
void gpn__cache_maintain(struct gpn__cache *c, const struct gpn__layers *ls);
int64_t gpn__cache_bytes(struct gpn__cache *c);

/* In-memory LRU of encoded tiles in front of the disk cache (memcache.c);
 * max_bytes 0 = disabled. Thread-safe. */
struct gpn__memcache;
int gpn__memcache_create(int64_t max_bytes, struct gpn__memcache **out, struct gpn_err *err);
void gpn__memcache_destroy(struct gpn__memcache *m);
/* Appends the entry's bytes to out and returns 1 on a hit, else 0. */
int gpn__memcache_get(struct gpn__memcache *m, const char *key, struct gpn_buf *out);
void gpn__memcache_put(struct gpn__memcache *m, const char *key, const void *data, size_t len);
int64_t gpn__memcache_bytes(struct gpn__memcache *m);

/* ==== the app =========================================================== */

struct gpn_http_app {
    struct gpn_http_cfg cfg;
    struct gpn_http_atlas atlas;
    pthread_mutex_t mu;               /* guards layers swap and reload state */
    struct gpn__layers *layers;       /* current snapshot (one reference held) */
    int64_t cat_sig;                  /* signature (mtime/size) of the catalog files (janitor) */
    struct gpn__cache *cache;
    struct gpn__memcache *mem;        /* hot tiles in memory */
    struct gpn__workers *workers;     /* rasters and transforms, one context per concurrent request */
    int log_fd;                       /* access log, -1 = off */
    /* janitor thread: catalog reloads and cache maintenance */
    pthread_t janitor;
    int janitor_started;
    pthread_cond_t janitor_cv;
    int janitor_stop, janitor_kick;
    /* capabilities cache (WMS 1.3.0, 1.1.1, WMTS) */
    pthread_mutex_t caps_mu;
    struct {
        int64_t generation;
        char base[512];
        struct gpn_buf doc;
    } caps[3];
    int api_inited;
    char api_error[GPN_ERR_MSG_MAX];  /* why gpn_api_init failed, when it did */
};

/* Current layer snapshot with a reference (the janitor thread swaps in a
 * new one when the catalog changes). Release with gpn__layers_release. */
struct gpn__layers *gpn__app_layers(struct gpn_http_app *app);
/* Base URL for links in documents: cfg.public_url or http://<Host>. */
void gpn__base_url(const struct gpn_http_app *app, const struct gpn_http_req *req, char *buf, size_t n);
/* Asks the janitor to run cache maintenance soon. */
void gpn__app_kick_janitor(struct gpn_http_app *app);

/* Handlers (each fills resp; return value as in http.h hooks). */
int gpn__wms_handle(struct gpn_http_app *app, const struct gpn_http_req *req, struct gpn_http_resp *resp);
int gpn__tiles_handle(struct gpn_http_app *app, const struct gpn_http_req *req, struct gpn_http_resp *resp);
int gpn__tilejson_handle(struct gpn_http_app *app, const struct gpn_http_req *req, struct gpn_http_resp *resp,
                         const char *layer);
int gpn__wmts_handle(struct gpn_http_app *app, const struct gpn_http_req *req, struct gpn_http_resp *resp);
int gpn__static_handle(struct gpn_http_app *app, const struct gpn_http_req *req, struct gpn_http_resp *resp);
int gpn__cog_handle(struct gpn_http_app *app, const struct gpn_http_req *req, struct gpn_http_resp *resp);
int gpn__api_layers(struct gpn_http_app *app, const struct gpn_http_req *req, struct gpn_http_resp *resp);

/* Renders one XYZ tile (256 x 256, EPSG:3857) of layer/style into out
 * (encoded in fmt). Returns 0, GPN_ENORESULT when the tile misses the
 * layer (out holds a transparent tile then), or an error. */
/* Serves XYZ tile (z, x, y) of layer/style (NULL = default) in format ext
 * ("png", "webp", "jpg") from the cache or by rendering (and caching) it:
 * ETag / If-None-Match, Cache-Control. Fills resp; returns 0 or < 0. */
int gpn__tile_serve(struct gpn_http_app *app, const struct gpn_http_req *req, struct gpn_http_resp *resp,
                    const struct gpn__layers *ls, const char *layer, const char *style, int z, int x, int y,
                    const char *ext);
int gpn__tile_render(const struct gpn__layer *l, const struct gpn_style *st, int z, int x, int y,
                     enum gpn_image_format fmt, struct gpn_buf *out, struct gpn_err *err);
/* Renders a map of several layers (styles[i] for layers[i]) for a view in
 * crs into img (indexed when one layer, RGBA otherwise). */
int gpn__map_render(const struct gpn__layer *const *layers, const struct gpn_style *const *styles, int n,
                    const char *crs, const double bbox[4], int width, int height, struct gpn_image *img,
                    struct gpn_err *err);

#endif
