/*
 * tiles.c - XYZ tiles, TileJSON, map composition and cache seeding.
 *
 * Routes: /tiles/{layer}/{z}/{x}/{y}.{png|webp|jpg}[?style=S]
 *         /tiles/{layer}.json and /tiles/{layer}/tilejson.json (TileJSON 3.0.0)
 *
 * A tile is 256 x 256 pixels of the Web Mercator (EPSG:3857) quadtree,
 * y counted from the north (the XYZ / "slippy map" scheme; WMTS's
 * GoogleMapsCompatible set is the same grid). Serving order, cheapest
 * first: If-None-Match against the tile's ETag (a hash of layer, version,
 * style, z/x/y and format: no disk access at all), a tile outside the
 * layer's extent (an empty transparent tile, never cached), the disk cache
 * (a file response streamed by the socket layer), and finally rendering,
 * whose result is stored in the cache for the next request.
 *
 * Seeding (gpn seed) enumerates the tiles of the requested zooms over the
 * layers' extents (or a bbox), and renders them on a few threads that share
 * a token bucket (max_rate) so a seed run can be throttled on a machine
 * that also serves.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "app.h"
#include "gpn/log.h"
#include "gpn/progress.h"

#define TILE 256
#define MAX_Z 24

/* ==== composition ======================================================= */

static const char *layer_crs(const struct gpn__layer *l)
{
    return l->crs[0] ? l->crs : l->info.crs_wkt;
}

int gpn__map_render(const struct gpn__layer *const *layers, const struct gpn_style *const *styles, int n,
                    const char *crs, const double bbox[4], int width, int height, struct gpn_image *img,
                    struct gpn_err *err)
{
    int rc = gpn_image_init(img, width, height, n == 1, err);
    if (rc) return rc;
    uint8_t *idx = n == 1 ? img->px : malloc((size_t)width * (size_t)height);
    if (!idx) {
        gpn_image_free(img);
        return gpn_err_set(err, GPN_ENOMEM, "gpn__map_render: out of memory");
    }
    for (int i = 0; i < n && !rc; i++) {
        struct gpn_raster *r;
        struct gpn_transform *t;
        rc = gpn__layer_raster(layers[i], &r, err);
        if (!rc) rc = gpn__transform(crs, layer_crs(layers[i]), &t, err);
        if (rc) break;
        struct gpn_render_src src = {r, &layers[i]->info, layers[i]->band, styles[i]};
        struct gpn_render_view view = {{bbox[0], bbox[1], bbox[2], bbox[3]}, width, height, t};
        rc = gpn_render_raster(&src, &view, idx, err);
        if (rc == GPN_ENORESULT) rc = 0;
        if (rc) break;
        if (n == 1) {
            memcpy(img->pal, styles[0]->pal, sizeof img->pal);
            img->n_pal = styles[0]->n_pal;
        } else {
            struct gpn_image layer = {width, height, 1, idx, {{0}}, styles[i]->n_pal};
            memcpy(layer.pal, styles[i]->pal, sizeof layer.pal);
            gpn_image_composite(img, &layer);
        }
    }
    if (n != 1) free(idx);
    if (rc) gpn_image_free(img);
    return rc;
}

static int bbox_disjoint(const double a[4], const double b[4])
{
    return a[2] <= b[0] || b[2] <= a[0] || a[3] <= b[1] || b[3] <= a[1];
}

static enum gpn_image_format ext_format(const char *ext)
{
    if (!strcmp(ext, "png")) return GPN_IMG_PNG;
    if (!strcmp(ext, "webp")) return gpn_image_webp_available() ? GPN_IMG_WEBP : 0;
    if (!strcmp(ext, "jpg") || !strcmp(ext, "jpeg")) return GPN_IMG_JPEG;
    return 0;
}

int gpn__tile_render(const struct gpn__layer *l, const struct gpn_style *st, int z, int x, int y,
                     enum gpn_image_format fmt, struct gpn_buf *out, struct gpn_err *err)
{
    double bbox[4];
    gpn_tile_xyz_bounds(z, x, y, bbox);
    int empty = bbox_disjoint(bbox, l->bbox_3857);
    struct gpn_image img;
    int rc;
    if (empty) {
        rc = gpn_image_init(&img, TILE, TILE, 1, err);
        if (rc) return rc;
        memcpy(img.pal, st->pal, sizeof img.pal);
        img.n_pal = st->n_pal;
    } else {
        const struct gpn__layer *ls[1] = {l};
        const struct gpn_style *ss[1] = {st};
        rc = gpn__map_render(ls, ss, 1, "EPSG:3857", bbox, TILE, TILE, &img, err);
        if (rc) return rc;
    }
    rc = gpn_image_encode(&img, fmt, 1, NULL, 85, out, err);
    gpn_image_free(&img);
    if (rc) return rc;
    return empty ? GPN_ENORESULT : 0;
}

/* ==== serving =========================================================== */

static void tile_etag(char *buf, size_t n, const struct gpn__layer *l, const char *style, int z, int x, int y,
                      const char *ext)
{
    char key[512];
    int k = snprintf(key, sizeof key, "%s|%lld|%lld|%s|%d|%d|%d|%s", l->meta.name, (long long)l->meta.version,
                     (long long)l->meta.updated_at, style, z, x, y, ext);
    gpn_http_etag(key, (size_t)(k < (int)sizeof key ? k : (int)sizeof key - 1), buf, n);
}

int gpn__tile_serve(struct gpn_http_app *app, const struct gpn_http_req *req, struct gpn_http_resp *resp,
                    const struct gpn__layers *ls, const char *layer, const char *style, int z, int x, int y,
                    const char *ext)
{
    const struct gpn__layer *l = gpn__layers_find(ls, layer);
    if (!l) return gpn_err_set(&resp->err, GPN_ENOTFOUND, "layer '%s' does not exist", layer);
    const struct gpn_style *st = gpn__layer_style(l, style);
    if (!st) return gpn_err_set(&resp->err, GPN_ENOTFOUND, "layer '%s' has no style '%s'", layer, style);
    enum gpn_image_format fmt = ext_format(ext);
    if (!fmt) return gpn_err_set(&resp->err, GPN_EUNSUPPORTED, "tile format '%s' is not supported", ext);
    if (z < 0 || z > MAX_Z) return gpn_err_set(&resp->err, GPN_ERANGE, "zoom %d outside [0, %d]", z, MAX_Z);
    int64_t nt = (int64_t)1 << z;
    if (x < 0 || y < 0 || x >= nt || y >= nt)
        return gpn_err_set(&resp->err, GPN_ERANGE, "tile %d/%d/%d outside the zoom level", z, x, y);
    char etag[32], cc[64];
    tile_etag(etag, sizeof etag, l, st->name, z, x, y, ext);
    gpn_http_resp_header(resp, "ETag", etag);
    snprintf(cc, sizeof cc, "public, max-age=%d", app->cfg.tile_max_age);
    gpn_http_resp_header(resp, "Cache-Control", cc);
    const char *mime = gpn_image_format_mime(fmt);
    resp->no_gzip = 1;
    if (gpn_http_etag_matches(req, etag)) {
        resp->status = 304;
        return 0;
    }
    char key[GPN_HTTP_PATH_MAX], path[GPN_HTTP_PATH_MAX];
    gpn__cache_key(key, sizeof key, l->meta.name, l->meta.version, st->name, z, x, y, ext);
    gpn_strlcpy(resp->content_type, mime, sizeof resp->content_type);
    /* Memory first (no system call), then the disk cache (read whole:
     * tiles are small, and the bytes then go to the memory cache). */
    gpn_buf_reset(&resp->body);
    if (gpn__memcache_get(app->mem, key, &resp->body)) {
        resp->status = 200;
        gpn_http_resp_header(resp, "X-Cache", "HIT");
        return 0;
    }
    if (gpn__cache_get(app->cache, key, path, sizeof path)) {
        char *data = NULL;
        size_t len = 0;
        if (gpn_file_read(path, &data, &len, NULL) == 0) {
            gpn__memcache_put(app->mem, key, data, len);
            gpn_buf_free(&resp->body);
            resp->body.data = data;
            resp->body.len = len;
            resp->body.cap = len + 1;
            resp->status = 200;
            gpn_http_resp_header(resp, "X-Cache", "HIT");
            return 0;
        }
    }
    struct gpn_buf out = {0};
    int rc = gpn__tile_render(l, st, z, x, y, fmt, &out, &resp->err);
    if (rc && rc != GPN_ENORESULT) {
        gpn_buf_free(&out);
        return rc;
    }
    if (rc == 0) {
        if (gpn__cache_put(app->cache, key, out.data, out.len)) gpn__app_kick_janitor(app);
        gpn__memcache_put(app->mem, key, out.data, out.len);
    }
    resp->status = 200;
    gpn_buf_free(&resp->body);
    resp->body = out;
    gpn_http_resp_header(resp, "X-Cache", rc == GPN_ENORESULT ? "EMPTY" : "MISS");
    return 0;
}

/* ==== TileJSON ========================================================== */

/* Zoom at which web-mercator pixels (at the equator) are no coarser than
 * the layer's own pixels, + 1 for over-zoom, within [0, 22]. */
static int layer_maxzoom(const struct gpn__layer *l)
{
    double res = (l->bbox_3857[2] - l->bbox_3857[0]) / fmax(1, l->info.width);
    if (!(res > 0)) return 18;
    double z = ceil(log2(156543.03392804097 / res)) + 1;
    return z < 0 ? 0 : z > 22 ? 22 : (int)z;
}

int gpn__tilejson_handle(struct gpn_http_app *app, const struct gpn_http_req *req, struct gpn_http_resp *resp,
                         const char *layer)
{
    struct gpn__layers *ls = gpn__app_layers(app);
    if (!ls) return gpn_err_set(&resp->err, GPN_EINTERNAL, "no layers");
    const struct gpn__layer *l = gpn__layers_find(ls, layer);
    if (!l) {
        gpn__layers_release(ls);
        return gpn_err_set(&resp->err, GPN_ENOTFOUND, "layer '%s' does not exist", layer);
    }
    char base[600];
    gpn__base_url(app, req, base, sizeof base);
    const char *style = gpn_http_req_param(req, "style");
    const struct gpn_style *st = gpn__layer_style(l, style);
    if (!st) {
        gpn__layers_release(ls);
        return gpn_err_set(&resp->err, GPN_ENOTFOUND, "layer '%s' has no style '%s'", layer, style);
    }
    struct gpn_buf *b = &resp->body;
    gpn_buf_reset(b);
    gpn_buf_puts(b, "{\"tilejson\":\"3.0.0\",\"name\":\"");
    gpn_buf_json_str(b, l->meta.name);
    gpn_buf_puts(b, "\",\"description\":\"");
    gpn_buf_json_str(b, l->meta.title[0] ? l->meta.title : l->meta.name);
    gpn_buf_printf(b, "\",\"version\":\"%lld.0.0\",\"scheme\":\"xyz\",\"tiles\":[\"", (long long)l->meta.version);
    gpn_buf_json_str(b, base);
    gpn_buf_puts(b, "/tiles/");
    gpn_buf_json_str(b, l->meta.name);
    gpn_buf_puts(b, "/{z}/{x}/{y}.png");
    if (style && *style) {
        gpn_buf_puts(b, "?style=");
        gpn_buf_json_str(b, st->name);
    }
    int maxz = layer_maxzoom(l);
    gpn_buf_printf(b, "\"],\"minzoom\":0,\"maxzoom\":%d,\"bounds\":[%.6f,%.6f,%.6f,%.6f],\"center\":[%.6f,%.6f,%d],"
                      "\"legend\":\"",
                   maxz, l->bbox_ll[0], l->bbox_ll[1], l->bbox_ll[2], l->bbox_ll[3],
                   (l->bbox_ll[0] + l->bbox_ll[2]) / 2, (l->bbox_ll[1] + l->bbox_ll[3]) / 2,
                   maxz > 8 ? maxz - 4 : maxz);
    gpn_buf_json_str(b, base);
    gpn_buf_puts(b, "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetLegendGraphic&FORMAT=image/png&LAYER=");
    gpn_buf_json_str(b, l->meta.name);
    gpn_buf_puts(b, "&STYLE=");
    gpn_buf_json_str(b, st->name);
    gpn_buf_puts(b, "\"}\n");
    gpn__layers_release(ls);
    if (b->oom) return gpn_err_set(&resp->err, GPN_ENOMEM, "out of memory");
    resp->status = 200;
    gpn_strlcpy(resp->content_type, "application/json", sizeof resp->content_type);
    return 0;
}

/* ==== /tiles/ routing =================================================== */

static int parse_nonneg(const char *s, size_t len, int *out)
{
    if (len == 0 || len > 9) return -1;
    int v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int gpn__tiles_handle(struct gpn_http_app *app, const struct gpn_http_req *req, struct gpn_http_resp *resp)
{
    const char *p = req->path + strlen("/tiles/");
    /* Split into at most 5 segments. */
    const char *seg[5];
    size_t len[5];
    int ns = 0;
    while (*p && ns < 5) {
        const char *s = strchr(p, '/');
        size_t l = s ? (size_t)(s - p) : strlen(p);
        seg[ns] = p;
        len[ns] = l;
        ns++;
        if (!s) break;
        p = s + 1;
    }
    if (*p && strchr(p, '/') && ns == 5) return gpn_err_set(&resp->err, GPN_ENOTFOUND, "no such tile path");
    char layer[GPN_LAYER_NAME_MAX];
    if (ns == 1 && len[0] > 5 && !strncmp(seg[0] + len[0] - 5, ".json", 5)) {
        if (len[0] - 5 >= sizeof layer) return gpn_err_set(&resp->err, GPN_ENOTFOUND, "no such layer");
        memcpy(layer, seg[0], len[0] - 5);
        layer[len[0] - 5] = 0;
        return gpn__tilejson_handle(app, req, resp, layer);
    }
    if (ns == 2 && len[1] == 13 && !strncmp(seg[1], "tilejson.json", 13)) {
        if (len[0] >= sizeof layer) return gpn_err_set(&resp->err, GPN_ENOTFOUND, "no such layer");
        memcpy(layer, seg[0], len[0]);
        layer[len[0]] = 0;
        return gpn__tilejson_handle(app, req, resp, layer);
    }
    if (ns != 4 || len[0] == 0 || len[0] >= sizeof layer)
        return gpn_err_set(&resp->err, GPN_ENOTFOUND, "tile paths are /tiles/{layer}/{z}/{x}/{y}.png");
    memcpy(layer, seg[0], len[0]);
    layer[len[0]] = 0;
    const char *dot = memchr(seg[3], '.', len[3]);
    if (!dot) return gpn_err_set(&resp->err, GPN_ENOTFOUND, "tile paths are /tiles/{layer}/{z}/{x}/{y}.png");
    char ext[8];
    size_t el = len[3] - (size_t)(dot + 1 - seg[3]);
    if (el == 0 || el >= sizeof ext) return gpn_err_set(&resp->err, GPN_EUNSUPPORTED, "bad tile format");
    memcpy(ext, dot + 1, el);
    ext[el] = 0;
    int z, x, y;
    if (parse_nonneg(seg[1], len[1], &z) || parse_nonneg(seg[2], len[2], &x) ||
        parse_nonneg(seg[3], (size_t)(dot - seg[3]), &y))
        return gpn_err_set(&resp->err, GPN_EINVAL, "tile z/x/y must be non-negative integers");
    struct gpn__layers *ls = gpn__app_layers(app);
    if (!ls) return gpn_err_set(&resp->err, GPN_EINTERNAL, "no layers");
    int rc = gpn__tile_serve(app, req, resp, ls, layer, gpn_http_req_param(req, "style"), z, x, y, ext);
    gpn__layers_release(ls);
    return rc;
}

/* ==== seeding =========================================================== */

struct seed_job {
    const struct gpn__layer *layer;
    const struct gpn_style *style;
    int z, x0, y0, nx, ny; /* tile range of this (layer, zoom) */
    int64_t first;         /* index of the job's first tile in the plan */
};

struct seed_ctx {
    struct gpn_http_app *app;
    const struct gpn_http_seed_opts *o;
    struct seed_job *jobs;
    size_t n_jobs;
    int64_t total;
    _Atomic int64_t next;
    _Atomic int64_t rendered, skipped;
    _Atomic int failed;
    pthread_mutex_t mu;    /* guards the token bucket and first_err */
    double next_slot;
    struct gpn_err first_err;
    struct gpn_progress *p;
    const char *ext;
    enum gpn_image_format fmt;
};

static double lon_to_x(double lon, int z)
{
    return (lon + 180.0) / 360.0 * (double)(1LL << z);
}

static double lat_to_y(double lat, int z)
{
    if (lat > 85.0511287798) lat = 85.0511287798;
    if (lat < -85.0511287798) lat = -85.0511287798;
    double r = lat * M_PI / 180.0;
    return (1.0 - log(tan(r) + 1.0 / cos(r)) / M_PI) / 2.0 * (double)(1LL << z);
}

static void seed_throttle(struct seed_ctx *c)
{
    if (!(c->o->max_rate > 0)) return;
    pthread_mutex_lock(&c->mu);
    double now = gpn_now();
    double slot = c->next_slot > now ? c->next_slot : now;
    c->next_slot = slot + 1.0 / c->o->max_rate;
    pthread_mutex_unlock(&c->mu);
    double wait = slot - now;
    if (wait > 0) {
        struct timespec ts = {(time_t)wait, (long)((wait - floor(wait)) * 1e9)};
        while (nanosleep(&ts, &ts) && errno == EINTR) {
        }
    }
}

static void *seed_worker(void *arg)
{
    struct seed_ctx *c = arg;
    size_t j = 0;
    int entered = gpn__worker_enter(c->app->workers);
    if (entered < 0) {
        pthread_mutex_lock(&c->mu);
        if (!atomic_load(&c->failed)) gpn_err_set(&c->first_err, GPN_ENOMEM, "seed: out of memory");
        atomic_store(&c->failed, 1);
        pthread_mutex_unlock(&c->mu);
        return NULL;
    }
    for (;;) {
        if (atomic_load(&c->failed)) break;
        int64_t i = atomic_fetch_add(&c->next, 1);
        if (i >= c->total) break;
        while (j + 1 < c->n_jobs && c->jobs[j + 1].first <= i) j++;
        while (j > 0 && c->jobs[j].first > i) j--;
        const struct seed_job *jb = &c->jobs[j];
        int64_t k = i - jb->first;
        int x = jb->x0 + (int)(k % jb->nx), y = jb->y0 + (int)(k / jb->nx);
        char key[GPN_HTTP_PATH_MAX], path[GPN_HTTP_PATH_MAX];
        gpn__cache_key(key, sizeof key, jb->layer->meta.name, jb->layer->meta.version, jb->style->name, jb->z, x, y,
                       c->ext);
        if (!c->o->force && gpn__cache_get(c->app->cache, key, path, sizeof path)) {
            atomic_fetch_add(&c->skipped, 1);
            if (c->p) gpn_progress_add(c->p, 1);
            continue;
        }
        seed_throttle(c);
        struct gpn_buf out = {0};
        struct gpn_err e = {0};
        int rc = gpn__tile_render(jb->layer, jb->style, jb->z, x, y, c->fmt, &out, &e);
        if (rc == 0) {
            if (gpn__cache_put(c->app->cache, key, out.data, out.len)) gpn__cache_maintain(c->app->cache, NULL);
            atomic_fetch_add(&c->rendered, 1);
        } else if (rc == GPN_ENORESULT) {
            atomic_fetch_add(&c->skipped, 1);
        } else {
            pthread_mutex_lock(&c->mu);
            if (!atomic_load(&c->failed)) {
                c->first_err = e;
                gpn_err_prefix(&c->first_err, "tile %s %d/%d/%d", jb->layer->meta.name, jb->z, x, y);
            }
            atomic_store(&c->failed, 1);
            pthread_mutex_unlock(&c->mu);
        }
        gpn_buf_free(&out);
        if (c->p) gpn_progress_add(c->p, 1);
    }
    gpn__worker_leave(c->app->workers, entered);
    return NULL;
}

int gpn_http_app_seed(struct gpn_http_app *app, const struct gpn_http_seed_opts *o, struct gpn_progress *p,
                      int64_t *rendered, int64_t *skipped, struct gpn_err *err)
{
    static const char fn[] = "gpn_http_app_seed";
    if (rendered) *rendered = 0;
    if (skipped) *skipped = 0;
    if (!app->cache || app->cfg.cache_mb <= 0)
        return gpn_err_set(err, GPN_ESTATE, "%s: the tile cache is disabled (cache size 0)", fn);
    if (o->zmin < 0 || o->zmax > 22 || o->zmin > o->zmax)
        return gpn_err_set(err, GPN_ERANGE, "%s: zoom range %d-%d outside 0-22", fn, o->zmin, o->zmax);
    const char *ext = o->format && *o->format ? o->format : "png";
    enum gpn_image_format fmt = ext_format(ext);
    if (!fmt) return gpn_err_set(err, GPN_EUNSUPPORTED, "%s: format '%s' (png, webp, jpg)", fn, ext);
    struct gpn__layers *ls = gpn__app_layers(app);
    if (!ls) return gpn_err_set(err, GPN_EINTERNAL, "%s: no layers", fn);
    int nz = o->zmax - o->zmin + 1;
    struct seed_ctx c;
    memset(&c, 0, sizeof c);
    c.jobs = calloc((size_t)o->n_layers * (size_t)nz, sizeof *c.jobs);
    int rc = 0;
    if (!c.jobs) {
        rc = gpn_err_set(err, GPN_ENOMEM, "%s: out of memory", fn);
        goto out;
    }
    int64_t max_tiles = o->max_tiles > 0 ? o->max_tiles : 1000000;
    for (int i = 0; i < o->n_layers; i++) {
        const struct gpn__layer *l = gpn__layers_find(ls, o->layers[i]);
        if (!l) {
            rc = gpn_err_set(err, GPN_ENOTFOUND, "%s: layer '%s' does not exist", fn, o->layers[i]);
            goto out;
        }
        const struct gpn_style *st = gpn__layer_style(l, o->style);
        if (!st) {
            rc = gpn_err_set(err, GPN_ENOTFOUND, "%s: layer '%s' has no style '%s'", fn, o->layers[i], o->style);
            goto out;
        }
        double b[4] = {l->bbox_ll[0], l->bbox_ll[1], l->bbox_ll[2], l->bbox_ll[3]};
        if (o->has_bbox) {
            b[0] = fmax(b[0], o->bbox[0]);
            b[1] = fmax(b[1], o->bbox[1]);
            b[2] = fmin(b[2], o->bbox[2]);
            b[3] = fmin(b[3], o->bbox[3]);
            if (!(b[2] > b[0]) || !(b[3] > b[1])) continue; /* no overlap */
        }
        for (int z = o->zmin; z <= o->zmax; z++) {
            int64_t n = (int64_t)1 << z;
            int64_t x0 = (int64_t)floor(lon_to_x(b[0], z)), x1 = (int64_t)floor(lon_to_x(b[2], z));
            int64_t y0 = (int64_t)floor(lat_to_y(b[3], z)), y1 = (int64_t)floor(lat_to_y(b[1], z));
            x0 = x0 < 0 ? 0 : x0;
            y0 = y0 < 0 ? 0 : y0;
            x1 = x1 >= n ? n - 1 : x1;
            y1 = y1 >= n ? n - 1 : y1;
            if (x1 < x0 || y1 < y0) continue;
            struct seed_job *jb = &c.jobs[c.n_jobs++];
            jb->layer = l;
            jb->style = st;
            jb->z = z;
            jb->x0 = (int)x0;
            jb->y0 = (int)y0;
            jb->nx = (int)(x1 - x0 + 1);
            jb->ny = (int)(y1 - y0 + 1);
            jb->first = c.total;
            c.total += (int64_t)jb->nx * jb->ny;
            if (c.total > max_tiles) {
                rc = gpn_err_set(err, GPN_ETOOBIG, "%s: the plan has more than %lld tiles; narrow --zoom or --bbox", fn,
                                 (long long)max_tiles);
                goto out;
            }
        }
    }
    c.app = app;
    c.o = o;
    c.p = p;
    c.ext = ext;
    c.fmt = fmt;
    atomic_init(&c.next, 0);
    atomic_init(&c.rendered, 0);
    atomic_init(&c.skipped, 0);
    atomic_init(&c.failed, 0);
    pthread_mutex_init(&c.mu, NULL);
    if (p) p->total = c.total;
    int nth = o->threads < 1 ? 1 : o->threads > 64 ? 64 : o->threads;
    pthread_t th[64];
    int started = 0;
    for (int i = 0; i < nth; i++) {
        if (pthread_create(&th[i], NULL, seed_worker, &c)) break;
        started++;
    }
    if (!started) seed_worker(&c);
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    pthread_mutex_destroy(&c.mu);
    if (rendered) *rendered = atomic_load(&c.rendered);
    if (skipped) *skipped = atomic_load(&c.skipped);
    if (atomic_load(&c.failed)) {
        if (err) *err = c.first_err;
        rc = c.first_err.code ? c.first_err.code : GPN_EIO;
    }
    gpn__cache_maintain(app->cache, ls);
out:
    free(c.jobs);
    gpn__layers_release(ls);
    return rc;
}
