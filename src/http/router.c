/*
 * router.c - the app: lifecycle, routing, the generic HTTP rules and the
 * access log (http.h).
 *
 * Routes (first match wins):
 *   /wms, /ows, and / with SERVICE=WMS        WMS 1.3.0 / 1.1.1      (wms.c)
 *   /wmts, /wmts/1.0.0/...                     WMTS KVP and REST      (wmts.c)
 *   /tiles/...                                 XYZ tiles, TileJSON    (tiles.c)
 *   /layers/{name}.tif                         COG with Range         (static.c)
 *   /api/health, /api/layers                   JSON, served here
 *   /api/report[/...]                          gpn_api_report  (weak, report module)
 *   /api/...                                   gpn_api_handle  (weak, report module)
 *   anything else                              web app files          (static.c)
 *
 * After the handler: handler errors (negative codes) become JSON errors
 * under /api/ and plain-text errors elsewhere; buffered 200 responses get a
 * content ETag (so If-None-Match answers 304 without a body); XML, JSON,
 * HTML, JS, CSS and text bodies over 512 bytes are gzip-compressed when the
 * client accepts it (small static text files are read into memory for
 * that); CORS is open (maps are embedded anywhere).
 *
 * The janitor thread checks the catalog every reload_s seconds and swaps
 * in a new layer snapshot when it changed (request threads never wait for
 * a reload), and runs the tile-cache maintenance (stale versions,
 * eviction) at start, after a reload, when kicked by a cache write past the
 * bound, and every 5 minutes.
 *
 * Each request runs inside a worker scope (layers.c): it checks out a
 * context of open rasters and transforms for its duration.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "app.h"
#include "gpn/log.h"
#include "gpn/progress.h"
#include "gpn/version.h"

/* The report module's hooks (issue 6); NULL when not linked. */
int gpn_api_init(struct gpn_http_atlas *atlas, struct gpn_err *err) __attribute__((weak));
void gpn_api_fini(struct gpn_http_atlas *atlas) __attribute__((weak));
int gpn_api_report(const struct gpn_http_req *req, struct gpn_http_resp *resp, void *atlas_ctx)
    __attribute__((weak));
int gpn_api_handle(const struct gpn_http_req *req, struct gpn_http_resp *resp, void *atlas_ctx)
    __attribute__((weak));

/* ==== layer snapshots and reloads ======================================= */

/* A signature of the catalog files: changes when SQLite writes (the WAL
 * file grows or the database is checkpointed/replaced). */
static int64_t catalog_sig(const char *atlas)
{
    char p[GPN_HTTP_PATH_MAX + 16];
    uint64_t sig = 0; /* unsigned: the mixing may wrap */
    const char *suffix[2] = {"", "-wal"};
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%s%s", atlas, GPN_CATALOG_FILE, suffix[i]);
        struct stat st;
        if (stat(p, &st) == 0)
            sig = sig * 1000003u + (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec +
                  (uint64_t)st.st_size * 7u + (uint64_t)st.st_ino;
    }
    return (int64_t)(sig >> 1);
}

/* Reloads the layer registry when the catalog files changed (janitor
 * thread only). Returns 1 when a new snapshot was installed. */
static int reload_if_changed(struct gpn_http_app *app)
{
    int64_t sig = catalog_sig(app->cfg.atlas);
    if (sig == app->cat_sig) return 0;
    struct gpn__layers *nl = NULL;
    struct gpn_err err = {0};
    int64_t gen = app->layers->generation + 1; /* only this thread swaps */
    if (gpn__layers_load(app->cfg.atlas, gen, &nl, &err)) {
        gpn_log_warn("serve: catalog reload failed (keeping the previous layers): %s", err.msg);
        app->cat_sig = sig; /* do not retry until it changes again */
        return 0;
    }
    pthread_mutex_lock(&app->mu);
    struct gpn__layers *old = app->layers;
    app->layers = nl;
    app->cat_sig = sig;
    pthread_mutex_unlock(&app->mu);
    gpn__layers_release(old);
    gpn_log_info("serve: catalog changed, %zu layers loaded (generation %lld)", nl->n, (long long)gen);
    return 1;
}

struct gpn__layers *gpn__app_layers(struct gpn_http_app *app)
{
    pthread_mutex_lock(&app->mu);
    struct gpn__layers *ls = app->layers;
    if (ls) atomic_fetch_add(&ls->refs, 1);
    pthread_mutex_unlock(&app->mu);
    return ls;
}

void gpn__base_url(const struct gpn_http_app *app, const struct gpn_http_req *req, char *buf, size_t n)
{
    if (app->cfg.public_url[0]) {
        gpn_strlcpy(buf, app->cfg.public_url, n);
    } else {
        const char *host = gpn_http_req_header(req, "Host");
        const char *proto = gpn_http_req_header(req, "X-Forwarded-Proto");
        char h[256];
        if (!host || !*host || strlen(host) >= sizeof h) {
            snprintf(h, sizeof h, "%s:%d", app->cfg.bind, app->cfg.port);
        } else {
            /* Only host[:port] characters; anything else is refused. */
            size_t i = 0;
            for (; host[i]; i++) {
                char c = host[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                      c == '-' || c == ':' || c == '[' || c == ']'))
                    break;
            }
            if (host[i]) snprintf(h, sizeof h, "%s:%d", app->cfg.bind, app->cfg.port);
            else gpn_strlcpy(h, host, sizeof h);
        }
        snprintf(buf, n, "%s://%s", proto && !strcmp(proto, "https") ? "https" : "http", h);
    }
    size_t len = strlen(buf);
    while (len > 0 && buf[len - 1] == '/') buf[--len] = 0;
}

/* ==== janitor =========================================================== */

void gpn__app_kick_janitor(struct gpn_http_app *app)
{
    if (!app->janitor_started) return;
    pthread_mutex_lock(&app->mu);
    app->janitor_kick = 1;
    pthread_cond_signal(&app->janitor_cv);
    pthread_mutex_unlock(&app->mu);
}

/* The janitor: reloads the catalog when it changes (every reload_s
 * seconds; request threads never block on a reload) and maintains the tile
 * cache at start, when kicked, after a reload and every 5 minutes. */
static void *janitor_main(void *arg)
{
    struct gpn_http_app *app = arg;
    double next_maint = 0;
    for (;;) {
        pthread_mutex_lock(&app->mu);
        if (!app->janitor_kick && !app->janitor_stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int wait_s = app->cfg.reload_s > 0 && app->cfg.reload_s < 300 ? app->cfg.reload_s : 300;
            ts.tv_sec += wait_s;
            pthread_cond_timedwait(&app->janitor_cv, &app->mu, &ts);
        }
        int stop = app->janitor_stop, kick = app->janitor_kick;
        app->janitor_kick = 0;
        pthread_mutex_unlock(&app->mu);
        if (stop) break;
        int reloaded = app->cfg.reload_s > 0 ? reload_if_changed(app) : 0;
        double now = gpn_now();
        if (kick || reloaded || now >= next_maint) {
            struct gpn__layers *ls = gpn__app_layers(app);
            gpn__cache_maintain(app->cache, ls);
            gpn__layers_release(ls);
            next_maint = now + 300;
        }
    }
    return NULL;
}

/* ==== lifecycle ========================================================= */

/* The web app's build: ./web/dist, else <dir of the program>/../web/dist
 * (build/gpn run from anywhere in a checkout). "" when neither exists. */
static void find_web_root(char *buf, size_t n)
{
    buf[0] = 0;
    if (gpn_is_dir("web/dist")) {
        gpn_strlcpy(buf, "web/dist", n);
        return;
    }
    char exe[GPN_HTTP_PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0) return;
    exe[len] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash) return;
    *slash = 0;
    char cand[GPN_HTTP_PATH_MAX + 32];
    snprintf(cand, sizeof cand, "%s/../web/dist", exe);
    if (gpn_is_dir(cand)) gpn_strlcpy(buf, cand, n);
}

int gpn_http_app_create(const struct gpn_http_cfg *cfg, struct gpn_http_app **out, struct gpn_err *err)
{
    static const char fn[] = "gpn_http_app_create";
    *out = NULL;
    if (!cfg->atlas[0]) return gpn_err_set(err, GPN_EINVAL, "%s: no atlas folder given", fn);
    if (!gpn_is_dir(cfg->atlas)) return gpn_err_set(err, GPN_ENOTFOUND, "%s: atlas %s is not a folder", fn, cfg->atlas);
    struct gpn_http_app *app = calloc(1, sizeof *app);
    if (!app) return gpn_err_set(err, GPN_ENOMEM, "%s: out of memory", fn);
    app->cfg = *cfg;
    app->log_fd = -1;
    pthread_mutex_init(&app->mu, NULL);
    pthread_mutex_init(&app->caps_mu, NULL);
    pthread_cond_init(&app->janitor_cv, NULL);
    if (!app->cfg.cache_dir[0] && gpn_path_join(app->cfg.cache_dir, sizeof app->cfg.cache_dir, cfg->atlas, "cache")) {
        free(app);
        return gpn_err_set(err, GPN_ETOOBIG, "%s: atlas path too long", fn);
    }
    if (!app->cfg.web_root[0]) find_web_root(app->cfg.web_root, sizeof app->cfg.web_root);
    app->atlas.dir = app->cfg.atlas;
    app->atlas.cfg = &app->cfg;
    int rc;
    rc = gpn__layers_load(cfg->atlas, 1, &app->layers, err);
    if (rc) goto fail;
    /* After the load: opening the catalog may create its WAL file. */
    app->cat_sig = catalog_sig(cfg->atlas);
    rc = gpn__cache_open(app->cfg.cache_dir, app->cfg.cache_mb * 1024 * 1024, &app->cache, err);
    if (rc) goto fail;
    rc = gpn__memcache_create(app->cfg.mem_cache_mb * 1024 * 1024, &app->mem, err);
    if (rc) goto fail;
    rc = gpn__workers_create(&app->workers, err);
    if (rc) goto fail;
    if (app->cfg.access_log[0]) {
        if (!strcmp(app->cfg.access_log, "-")) {
            app->log_fd = dup(2);
        } else {
            app->log_fd = open(app->cfg.access_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
            if (app->log_fd < 0) {
                rc = gpn_err_set(err, GPN_EIO, "%s: access log %s: %s", fn, app->cfg.access_log, strerror(errno));
                goto fail;
            }
        }
    }
    if (gpn_api_init) {
        /* The API module failing (e.g. an atlas without report data) must
         * not keep the maps from being served: its routes answer 503. */
        struct gpn_err e2 = {0};
        if (gpn_api_init(&app->atlas, &e2) == 0) {
            app->api_inited = 1;
        } else {
            gpn_strlcpy(app->api_error, e2.msg, sizeof app->api_error);
            gpn_log_warn("serve: the report API is unavailable: %s", e2.msg);
        }
    }
    if (app->cfg.cache_mb > 0 || app->cfg.reload_s > 0) {
        if (pthread_create(&app->janitor, NULL, janitor_main, app) == 0) {
            app->janitor_started = 1;
            gpn__app_kick_janitor(app);
        }
    }
    *out = app;
    return 0;
fail:
    gpn_http_app_destroy(app);
    return rc;
}

void gpn_http_app_destroy(struct gpn_http_app *app)
{
    if (!app) return;
    if (app->janitor_started) {
        pthread_mutex_lock(&app->mu);
        app->janitor_stop = 1;
        pthread_cond_signal(&app->janitor_cv);
        pthread_mutex_unlock(&app->mu);
        pthread_join(app->janitor, NULL);
    }
    if (app->api_inited && gpn_api_fini) gpn_api_fini(&app->atlas);
    gpn__layers_release(app->layers);
    gpn__cache_close(app->cache);
    gpn__memcache_destroy(app->mem);
    gpn__workers_destroy(app->workers);
    if (app->log_fd >= 0) close(app->log_fd);
    for (int i = 0; i < 3; i++) gpn_buf_free(&app->caps[i].doc);
    pthread_cond_destroy(&app->janitor_cv);
    pthread_mutex_destroy(&app->caps_mu);
    pthread_mutex_destroy(&app->mu);
    free(app);
}

const struct gpn_http_cfg *gpn_http_app_cfg(const struct gpn_http_app *app)
{
    return &app->cfg;
}

size_t gpn_http_app_layer_count(struct gpn_http_app *app)
{
    struct gpn__layers *ls = gpn__app_layers(app);
    size_t n = ls ? ls->n : 0;
    gpn__layers_release(ls);
    return n;
}

/* ==== built-in JSON API ================================================= */

int gpn__api_layers(struct gpn_http_app *app, const struct gpn_http_req *req, struct gpn_http_resp *resp)
{
    struct gpn__layers *ls = gpn__app_layers(app);
    if (!ls) return gpn_err_set(&resp->err, GPN_EINTERNAL, "no layers");
    char base[600];
    gpn__base_url(app, req, base, sizeof base);
    struct gpn_buf *b = &resp->body;
    gpn_buf_reset(b);
    gpn_buf_printf(b, "{\"generation\":%lld,\"layers\":[", (long long)ls->generation);
    for (size_t i = 0; i < ls->n; i++) {
        const struct gpn__layer *l = &ls->v[i];
        gpn_buf_puts(b, i ? ",{\"name\":\"" : "{\"name\":\"");
        gpn_buf_json_str(b, l->meta.name);
        gpn_buf_puts(b, "\",\"title\":\"");
        gpn_buf_json_str(b, l->meta.title);
        gpn_buf_puts(b, "\",\"abstract\":\"");
        gpn_buf_json_str(b, l->meta.abstract);
        gpn_buf_printf(b, "\",\"group\":\"%s\",\"dtype\":\"%s\",\"crs\":\"", gpn_layer_group_name(l->meta.group),
                       gpn_dtype_name(l->info.dtype));
        gpn_buf_json_str(b, l->crs);
        gpn_buf_printf(b, "\",\"version\":%lld,\"bbox\":[%.7f,%.7f,%.7f,%.7f],\"width\":%d,\"height\":%d,",
                       (long long)l->meta.version, l->bbox_ll[0], l->bbox_ll[1], l->bbox_ll[2], l->bbox_ll[3],
                       l->info.width, l->info.height);
        gpn_buf_puts(b, "\"tiles\":\"");
        gpn_buf_json_str(b, base);
        gpn_buf_puts(b, "/tiles/");
        gpn_buf_json_str(b, l->meta.name);
        gpn_buf_puts(b, "/{z}/{x}/{y}.png\",\"cog\":\"");
        gpn_buf_json_str(b, base);
        gpn_buf_puts(b, "/layers/");
        gpn_buf_json_str(b, l->meta.name);
        gpn_buf_puts(b, ".tif\",\"styles\":[");
        for (int s = 0; s < l->n_styles; s++) {
            const struct gpn_style *st = &l->styles[s];
            static const char *kinds[] = {"", "ramp", "classes", "presence"};
            gpn_buf_puts(b, s ? ",{\"name\":\"" : "{\"name\":\"");
            gpn_buf_json_str(b, st->name);
            gpn_buf_printf(b, "\",\"kind\":\"%s\"", kinds[st->kind]);
            if (st->kind == GPN_STYLE_RAMP) {
                gpn_buf_printf(b, ",\"min\":%.10g,\"max\":%.10g,\"units\":\"", st->vmin, st->vmax);
                gpn_buf_json_str(b, st->units);
                gpn_buf_printf(b, "\",\"colors\":[\"#%02x%02x%02x\",\"#%02x%02x%02x\",\"#%02x%02x%02x\"]", st->pal[1][0],
                               st->pal[1][1], st->pal[1][2], st->pal[128][0], st->pal[128][1], st->pal[128][2],
                               st->pal[255][0], st->pal[255][1], st->pal[255][2]);
            } else if (st->kind == GPN_STYLE_PRESENCE) {
                gpn_buf_printf(b, ",\"threshold\":%.10g,\"color\":\"#%02x%02x%02x\"", st->threshold, st->pal[1][0],
                               st->pal[1][1], st->pal[1][2]);
            } else {
                gpn_buf_puts(b, ",\"classes\":[");
                for (int c = 0; c < st->n_classes; c++) {
                    gpn_buf_printf(b, "%s{\"value\":%.10g,\"code\":\"", c ? "," : "", st->classes[c].value);
                    gpn_buf_json_str(b, st->classes[c].code);
                    gpn_buf_puts(b, "\",\"name\":\"");
                    gpn_buf_json_str(b, st->classes[c].name);
                    gpn_buf_printf(b, "\",\"color\":\"#%02x%02x%02x\"}", st->pal[c + 1][0], st->pal[c + 1][1],
                                   st->pal[c + 1][2]);
                }
                gpn_buf_puts(b, "]");
            }
            gpn_buf_puts(b, ",\"legend\":\"");
            gpn_buf_json_str(b, base);
            gpn_buf_puts(b, "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetLegendGraphic&FORMAT=image/png&LAYER=");
            gpn_buf_json_str(b, l->meta.name);
            gpn_buf_puts(b, "&STYLE=");
            gpn_buf_json_str(b, st->name);
            gpn_buf_puts(b, "\"}");
        }
        gpn_buf_puts(b, "]}");
    }
    gpn_buf_puts(b, "]}\n");
    gpn__layers_release(ls);
    if (b->oom) return gpn_err_set(&resp->err, GPN_ENOMEM, "out of memory");
    resp->status = 200;
    gpn_strlcpy(resp->content_type, "application/json", sizeof resp->content_type);
    return 0;
}

static int api_health(struct gpn_http_app *app, struct gpn_http_resp *resp)
{
    struct gpn__layers *ls = gpn__app_layers(app);
    char json[320];
    int n = snprintf(json, sizeof json,
                     "{\"status\":\"ok\",\"version\":\"%s\",\"layers\":%zu,\"generation\":%lld,\"cache_bytes\":%lld,\"mem_cache_bytes\":%lld}\n",
                     GPN_VERSION, ls ? ls->n : 0, ls ? (long long)ls->generation : 0LL,
                     (long long)gpn__cache_bytes(app->cache), (long long)gpn__memcache_bytes(app->mem));
    gpn__layers_release(ls);
    return gpn_http_resp_json(resp, 200, json, (size_t)n);
}

/* ==== routing =========================================================== */

static int starts(const char *s, const char *prefix)
{
    return !strncmp(s, prefix, strlen(prefix));
}

static int route(struct gpn_http_app *app, struct gpn_http_req *req, struct gpn_http_resp *resp, int *is_api)
{
    const char *p = req->path;
    int get = !strcmp(req->method, "GET") || !strcmp(req->method, "HEAD");
    *is_api = starts(p, "/api/") || !strcmp(p, "/api");
    if (*is_api) {
        if (!strcmp(p, "/api/health")) return get ? api_health(app, resp) : GPN_EUNSUPPORTED;
        if (!strcmp(p, "/api/layers")) return get ? gpn__api_layers(app, req, resp) : GPN_EUNSUPPORTED;
        int report = !strcmp(p, "/api/report") || starts(p, "/api/report/");
        if ((report && !gpn_api_report) || (!report && !gpn_api_handle))
            return gpn_http_resp_json_error(resp, 501, "NotImplemented", "%s is not built into this server", p);
        if (gpn_api_init && !app->api_inited)
            return gpn_http_resp_json_error(resp, 503, "Unavailable", "%s", app->api_error);
        return report ? gpn_api_report(req, resp, &app->atlas) : gpn_api_handle(req, resp, &app->atlas);
    }
    if (!get) {
        if (!strcmp(req->method, "OPTIONS")) {
            resp->status = 204;
            gpn_http_resp_header(resp, "Allow", "GET, HEAD, OPTIONS");
            return 0;
        }
        gpn_http_resp_header(resp, "Allow", "GET, HEAD");
        return gpn_http_resp_text_error(resp, 405, "method %s not allowed", req->method);
    }
    if (!strcmp(p, "/wms") || !strcmp(p, "/wms/") || !strcmp(p, "/ows") ||
        (!strcmp(p, "/") && gpn_http_req_param(req, "SERVICE") &&
         !strcasecmp(gpn_http_req_param(req, "SERVICE"), "WMS")))
        return gpn__wms_handle(app, req, resp);
    if (!strcmp(p, "/wmts") || starts(p, "/wmts/")) return gpn__wmts_handle(app, req, resp);
    if (starts(p, "/tiles/")) return gpn__tiles_handle(app, req, resp);
    if (starts(p, "/layers/")) return gpn__cog_handle(app, req, resp);
    return gpn__static_handle(app, req, resp);
}

static int compressible(const char *ct)
{
    return starts(ct, "text/") || strstr(ct, "json") || strstr(ct, "xml") || strstr(ct, "javascript") ||
           strstr(ct, "yaml") || strstr(ct, "svg");
}

static int accepts_gzip(const struct gpn_http_req *req)
{
    const char *ae = gpn_http_req_header(req, "Accept-Encoding");
    if (!ae) return 0;
    const char *g = strcasestr(ae, "gzip");
    if (!g) return 0;
    const char *q = g + 4;
    while (*q == ' ') q++;
    if (*q == ';') {
        const char *qv = strstr(q, "q=");
        if (qv && strtod(qv + 2, NULL) <= 0) return 0;
    }
    return 1;
}

static int gzip_body(struct gpn_http_resp *resp)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, 5, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return -1;
    uLong bound = deflateBound(&zs, (uLong)resp->body.len) + 32;
    char *out = malloc(bound);
    if (!out) {
        deflateEnd(&zs);
        return -1;
    }
    zs.next_in = (Bytef *)resp->body.data;
    zs.avail_in = (uInt)resp->body.len;
    zs.next_out = (Bytef *)out;
    zs.avail_out = (uInt)bound;
    int zr = deflate(&zs, Z_FINISH);
    size_t n = zs.total_out;
    deflateEnd(&zs);
    if (zr != Z_STREAM_END) {
        free(out);
        return -1;
    }
    gpn_buf_reset(&resp->body);
    int rc = gpn_buf_append(&resp->body, out, n);
    free(out);
    return rc;
}

/* Reads a small file window into the body (to compress it). */
static int load_file_window(struct gpn_http_resp *resp)
{
    int fd = open(resp->file_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    gpn_buf_reset(&resp->body);
    int rc = gpn_buf_reserve(&resp->body, (size_t)resp->file_len);
    if (!rc) {
        ssize_t got = pread(fd, resp->body.data, (size_t)resp->file_len, resp->file_off);
        if (got == resp->file_len) {
            resp->body.len = (size_t)got;
            resp->body.data[got] = 0;
        } else {
            rc = -1;
        }
    }
    close(fd);
    if (!rc) resp->file_path[0] = 0;
    return rc;
}

int gpn_http_app_handle(struct gpn_http_app *app, struct gpn_http_req *req, struct gpn_http_resp *resp)
{
    int is_api = 0;
    int entered = gpn__worker_enter(app->workers);
    int rc = entered < 0 ? gpn_err_set(&resp->err, GPN_ENOMEM, "out of memory") : route(app, req, resp, &is_api);
    gpn__worker_leave(app->workers, entered);
    if (rc < 0) {
        int code = rc;
        int status = gpn_err_http_status(code);
        if (status < 400) status = 500;
        const char *msg = resp->err.msg[0] ? resp->err.msg : gpn_strerror(code);
        if (is_api) gpn_http_resp_json_error(resp, status, gpn_errname(code), "%s", msg);
        else gpn_http_resp_text_error(resp, status, "%s", msg);
        if (status >= 500) gpn_log_warn("serve: %s %s -> %d: %s", req->method, req->target, status, msg);
    } else if (resp->status == 0) {
        gpn_http_resp_text_error(resp, 500, "handler produced no response");
    }
    if (resp->status == 204 && !resp->content_type[0]) gpn_strlcpy(resp->content_type, "text/plain", sizeof resp->content_type);
    /* Content ETag of buffered successful GETs. */
    int get = !strcmp(req->method, "GET") || !strcmp(req->method, "HEAD");
    if (get && resp->status == 200 && !resp->file_path[0] && !gpn_http_resp_get_header(resp, "ETag") &&
        resp->body.len) {
        char etag[32];
        gpn_http_etag(resp->body.data, resp->body.len, etag, sizeof etag);
        gpn_http_resp_header(resp, "ETag", etag);
    }
    const char *etag = gpn_http_resp_get_header(resp, "ETag");
    if (get && resp->status == 200 && etag && gpn_http_etag_matches(req, etag)) {
        resp->status = 304;
        gpn_buf_reset(&resp->body);
        resp->file_path[0] = 0;
    }
    /* gzip for text bodies. */
    if (resp->status == 200 && !resp->no_gzip && compressible(resp->content_type) && accepts_gzip(req)) {
        if (resp->file_path[0] && resp->file_len >= 512 && resp->file_len <= (4 << 20)) load_file_window(resp);
        if (!resp->file_path[0] && resp->body.len >= 512 && gzip_body(resp) == 0) {
            gpn_http_resp_header(resp, "Content-Encoding", "gzip");
            if (etag) {
                char gz[80];
                size_t el = strlen(etag);
                if (el >= 2 && el < 60 && etag[el - 1] == '"') {
                    snprintf(gz, sizeof gz, "%.*s-gz\"", (int)(el - 1), etag);
                    gpn_http_resp_header(resp, "ETag", gz);
                }
            }
        }
    }
    if (compressible(resp->content_type)) gpn_http_resp_header(resp, "Vary", "Accept-Encoding");
    gpn_http_resp_header(resp, "Access-Control-Allow-Origin", "*");
    gpn_http_resp_header(resp, "Server", "gpn/" GPN_VERSION);
    return resp->status;
}

/* ==== access log ======================================================== */

void gpn_http_app_log(struct gpn_http_app *app, const struct gpn_http_req *req, const struct gpn_http_resp *resp,
                      int64_t bytes_sent)
{
    if (app->log_fd < 0 || resp->no_log) return;
    char date[64], line[1024];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%d/%b/%Y:%H:%M:%S +0000", &tm);
    double ms = (gpn_now() - req->t_start) * 1000.0;
    /* The target is written as received but cut and without control bytes. */
    char target[512];
    size_t j = 0;
    for (const char *p = req->target; *p && j < sizeof target - 1; p++)
        target[j++] = (unsigned char)*p < 0x20 || *p == '"' ? '?' : *p;
    target[j] = 0;
    const char *ua = gpn_http_req_header(req, "User-Agent");
    int n = snprintf(line, sizeof line, "%s - - [%s] \"%s %s\" %d %lld %.1fms \"%.120s\"\n",
                     req->remote[0] ? req->remote : "-", date, req->method, target, resp->status,
                     (long long)bytes_sent, ms, ua ? ua : "-");
    if (n > (int)sizeof line - 1) n = (int)sizeof line - 1;
    ssize_t w = write(app->log_fd, line, (size_t)n);
    (void)w;
}
