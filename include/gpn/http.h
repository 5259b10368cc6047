/*
 * http.h - the map server's HTTP model: requests, responses, the router and
 * the server, independent of the socket library.
 *
 * Why: only src/http/server.c includes libmicrohttpd. Everything else (WMS,
 * tiles, WMTS, COG range access, static files, the JSON API of the report
 * module) sees the two plain structs below, so handlers are unit-tested and
 * fuzzed without sockets, and the socket layer can be swapped.
 *
 * Flow: server.c receives a connection, fills a struct gpn_http_req with
 * gpn_http_req_init() (raw request target -> decoded path + query
 * parameters), gpn_http_req_add_header() and gpn_http_req_set_body(), then
 * calls gpn_http_app_handle(), which routes to a handler that fills a
 * struct gpn_http_resp. The app then applies the generic HTTP rules
 * (If-None-Match -> 304, gzip of XML/JSON when accepted, HEAD) and server.c
 * sends the response: either resp->body (a gpn_buf) or the file window
 * resp->file_path[file_off, file_off + file_len).
 *
 * Memory: a request owns an arena (gpn_http_alloc) freed in one call by
 * gpn_http_req_free() when the response is done; every string in the request
 * lives in it. A response owns its body buffer; gpn_http_resp_free()
 * releases it (server.c may steal it with gpn_buf_steal first).
 *
 * Threads: requests are handled on a pool of worker threads; an app is
 * shared by all of them and is thread-safe. Handlers must not keep pointers
 * into a request after returning.
 *
 * ---- The /api/ hook (issue 6, the report module) --------------------------
 * The report module implements, in its own files, any of these functions;
 * router.c references them as WEAK symbols, so the server links without
 * them and answers 501 {"error":{"code":"NotImplemented",...}} instead:
 *
 *   int  gpn_api_init(struct gpn_http_atlas *atlas, struct gpn_err *err);
 *        Called once when the app is created (before any request); may set
 *        atlas->api to module state. Nonzero return fails app creation.
 *   void gpn_api_fini(struct gpn_http_atlas *atlas);
 *        Called once when the app is destroyed; frees atlas->api.
 *   int  gpn_api_report(const struct gpn_http_req *req, struct gpn_http_resp *resp, void *atlas_ctx);
 *        Serves /api/report and /api/report/<anything> (any method).
 *   int  gpn_api_handle(const struct gpn_http_req *req, struct gpn_http_resp *resp, void *atlas_ctx);
 *        Serves every other /api/... path the server itself does not serve
 *        (the server serves /api/layers and /api/health). Returns
 *        GPN_ENOTFOUND for paths it does not know (-> 404 JSON).
 *
 * LINKING: a weak reference does not pull an object file out of a static
 * archive (libgpn.a), so the object defining these hooks must be linked for
 * another reason: reference one of them strongly from a file that is linked
 * anyway, e.g. `int (*const keep)(...) = gpn_api_report;` in
 * apps/cmd_report.c or a function of the same .c file that `gpn report`
 * calls. Check with `nm build/gpn | grep gpn_api_report` (T, not w).
 * If gpn_api_init fails, the server still serves maps and the /api/ hooks
 * answer 503 {"error":{"code":"Unavailable",...}}.
 *
 * atlas_ctx is a struct gpn_http_atlas * (below). A handler returns 0 after
 * filling resp (any status, e.g. with gpn_http_resp_json()), or a negative
 * GPN_E* code with a message in resp->err (gpn_err_set(&resp->err, ...)):
 * the router then answers {"error":{"code":"<GPN name>","message":...}}
 * with the status gpn_err_http_status(code). Handlers may be called from
 * several threads at once. The JSON API answers failures with
 * {"error":{"code":"...","message":"..."}} (gpn_http_resp_json_error).
 */
#ifndef GPN_HTTP_H
#define GPN_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "gpn/err.h"
#include "gpn/util.h"

/* ==== limits ============================================================ */

#define GPN_HTTP_MAX_PARAMS 128     /* query parameters kept per request */
#define GPN_HTTP_MAX_HEADERS 64     /* request headers kept per request */
#define GPN_HTTP_MAX_TARGET 16384   /* bytes of request target (path + query) */
#define GPN_HTTP_MAX_RESP_HEADERS 16
#define GPN_HTTP_PATH_MAX 4096

/* ==== request =========================================================== */

/* One decoded key/value pair (query parameter or header). */
struct gpn_http_kv {
    const char *key;
    const char *val;
};

struct gpn_http_arena_block; /* internal */

struct gpn_http_req {
    const char *method;  /* "GET", "HEAD", "POST", ... as received */
    const char *target;  /* the raw request target, e.g. "/wms?SERVICE=WMS" */
    const char *path;    /* percent-decoded path, starts with '/', no query */
    const char *query;   /* raw query string after '?', "" when none */
    struct gpn_http_kv params[GPN_HTTP_MAX_PARAMS];   /* (n_params) decoded, in order */
    size_t n_params;
    struct gpn_http_kv headers[GPN_HTTP_MAX_HEADERS]; /* (n_headers) as received */
    size_t n_headers;
    const char *body;    /* (body_len) bytes, NUL-terminated; "" when none */
    size_t body_len;
    const char *remote;  /* client address text, "" when unknown */
    double t_start;      /* gpn_now() when the request arrived */
    struct gpn_http_arena_block *arena; /* owned: gpn_http_req_free */
};

/* Initialises req from a method and a raw request target ("/path?query").
 * Percent-decodes the path (rejecting encoded NUL and '/'-escapes are kept
 * decoded) and splits the query on '&' into params (keys and values decoded,
 * '+' read as a space; at most GPN_HTTP_MAX_PARAMS kept, the rest is an
 * error). Returns 0, GPN_EFORMAT (bad escape, NUL, not starting with '/'),
 * GPN_ETOOBIG (target or parameter count over the limits) or GPN_ENOMEM.
 * On failure req is still valid (path "/" when unparsable) and must be
 * freed with gpn_http_req_free(). */
int gpn_http_req_init(struct gpn_http_req *req, const char *method, const char *target, struct gpn_err *err);
/* Adds a header (copied into the arena). Headers past the limit are
 * dropped. Returns 0 or GPN_ENOMEM. */
int gpn_http_req_add_header(struct gpn_http_req *req, const char *name, const char *value);
/* Copies the body into the arena. Returns 0 or GPN_ENOMEM. */
int gpn_http_req_set_body(struct gpn_http_req *req, const void *body, size_t len);
/* Sets the client address text (copied). */
void gpn_http_req_set_remote(struct gpn_http_req *req, const char *remote);
/* Frees the arena; req may be NULL. */
void gpn_http_req_free(struct gpn_http_req *req);
/* Allocates n bytes from the request arena (zeroed, 16-byte aligned);
 * freed with the request. NULL when out of memory. */
void *gpn_http_alloc(struct gpn_http_req *req, size_t n);
char *gpn_http_strdup(struct gpn_http_req *req, const char *s);

/* Value of the first query parameter named key, compared ASCII
 * case-insensitively (WMS keys are case-insensitive); NULL when absent. */
const char *gpn_http_req_param(const struct gpn_http_req *req, const char *key);
/* Value of a header (case-insensitive name); NULL when absent. */
const char *gpn_http_req_header(const struct gpn_http_req *req, const char *name);

/* Percent-decodes src[0, n) into dst (capacity >= n + 1, NUL-terminated);
 * plus_space: '+' becomes ' '. Returns the decoded length, or -1 on a bad
 * escape or an encoded NUL. */
long gpn_http_url_decode(char *dst, const char *src, size_t n, int plus_space);

/* ==== response ========================================================== */

struct gpn_http_resp {
    int status;                 /* HTTP status; 0 until a handler sets it */
    char content_type[96];
    struct {
        char name[40];
        char value[472];
    } headers[GPN_HTTP_MAX_RESP_HEADERS]; /* (n_headers) extra headers */
    int n_headers;
    struct gpn_buf body;        /* owned body bytes (when file_path is empty) */
    /* A file window to stream instead of body (COG range reads, cached
     * tiles, static files): bytes [file_off, file_off + file_len). */
    char file_path[GPN_HTTP_PATH_MAX];
    int64_t file_off, file_len;
    int no_gzip;                /* 1: never compress this response */
    int no_log;                 /* 1: not written to the access log */
    struct gpn_err err;         /* detail when a handler returns < 0 */
};

void gpn_http_resp_init(struct gpn_http_resp *resp);
void gpn_http_resp_free(struct gpn_http_resp *resp);
/* Sets (replaces) a header; returns GPN_ETOOBIG when full or too long. */
int gpn_http_resp_header(struct gpn_http_resp *resp, const char *name, const char *value);
/* The value of a response header set earlier, or NULL. */
const char *gpn_http_resp_get_header(const struct gpn_http_resp *resp, const char *name);
/* Sets status, content type and body (copied). Returns 0 or GPN_ENOMEM. */
int gpn_http_resp_set(struct gpn_http_resp *resp, int status, const char *content_type, const void *body,
                      size_t len);
/* Sets a JSON body (status, "application/json"). */
int gpn_http_resp_json(struct gpn_http_resp *resp, int status, const char *json, size_t len);
/* {"error":{"code":code,"message":message}} with status. */
int gpn_http_resp_json_error(struct gpn_http_resp *resp, int status, const char *code, const char *fmt, ...)
    GPN_PRINTF(4, 5);
/* Plain-text error page. */
int gpn_http_resp_text_error(struct gpn_http_resp *resp, int status, const char *fmt, ...) GPN_PRINTF(3, 4);

/* Answers req with the file at path (regular files only): sets ETag
 * ("size-mtime"), Last-Modified, Accept-Ranges, handles If-None-Match
 * (304), and Range (one range: 206 + Content-Range with the file window;
 * several ranges: 206 multipart/byteranges built in memory up to 16 MiB;
 * unsatisfiable: 416). Returns 0 with resp filled, GPN_ENOTFOUND when
 * path is not a regular file. */
int gpn_http_resp_file(const struct gpn_http_req *req, struct gpn_http_resp *resp, const char *path,
                       const char *content_type, struct gpn_err *err);

/* A strong ETag from bytes (64-bit FNV-1a, quoted). buf >= 24 bytes. */
void gpn_http_etag(const void *data, size_t len, char *buf, size_t n);
/* 1 when the If-None-Match header of req matches etag (or is "*"). */
int gpn_http_etag_matches(const struct gpn_http_req *req, const char *etag);
/* MIME type from a file name's extension ("application/octet-stream"
 * when unknown). Static string. */
const char *gpn_http_mime_type(const char *path);

/* ==== configuration ===================================================== */

struct gpn_http_cfg {
    char atlas[GPN_HTTP_PATH_MAX];      /* atlas folder (required) */
    char bind[64];                      /* default "127.0.0.1" */
    int port;                           /* default 8080; 0 = any free port */
    int threads;                        /* worker threads; 0 = number of CPUs */
    int64_t cache_mb;                   /* tile cache bound, MiB; 0 = no disk cache */
    int64_t mem_cache_mb;               /* in-memory hot-tile cache, MiB; default 64; 0 = off */
    char cache_dir[GPN_HTTP_PATH_MAX];  /* default ATLAS/cache */
    char web_root[GPN_HTTP_PATH_MAX];   /* static files; default web/dist when present */
    char access_log[GPN_HTTP_PATH_MAX]; /* path, "-" for stderr, "" = off */
    char public_url[512];               /* base URL in capabilities; "" = from Host */
    int max_size;                       /* max WIDTH/HEIGHT, default 4096 */
    int64_t max_body;                   /* max request body bytes, default 8 MiB */
    int timeout_s;                      /* connection idle timeout, default 30 */
    int max_connections;                /* default 1024 */
    int tile_max_age;                   /* Cache-Control max-age of tiles, s; default 3600 */
    int reload_s;                       /* catalog change check interval, s; default 2 */
};

/* Fills the defaults (everything but atlas). */
void gpn_http_cfg_defaults(struct gpn_http_cfg *cfg);
/* Reads a config file: "key = value" lines ('#' comments) with the keys
 * atlas, bind, port, threads, cache_size (MiB), mem_cache (MiB), cache_dir, web_root,
 * access_log, public_url, max_size, max_body, timeout, max_connections,
 * tile_max_age, reload. A file starting with '{' is read as a flat JSON
 * object with the same keys. Unknown keys are errors (with file:line). */
int gpn_http_cfg_load(struct gpn_http_cfg *cfg, const char *path, struct gpn_err *err);
/* Sets one key (as in the file) from a string. */
int gpn_http_cfg_set(struct gpn_http_cfg *cfg, const char *key, const char *value, struct gpn_err *err);

/* ==== the app: router + layers + renderers + cache ======================= */

struct gpn_http_app;

/* What the /api/ hooks receive as atlas_ctx. */
struct gpn_http_atlas {
    const char *dir;                 /* the atlas folder */
    const struct gpn_http_cfg *cfg;  /* the server configuration (limits) */
    void *api;                       /* owned by the API module (gpn_api_init/fini) */
};

/* Creates the app for cfg (copied): opens the atlas (catalog layers),
 * prepares the tile cache and calls gpn_api_init when linked. *out is
 * owned by the caller (gpn_http_app_destroy). */
int gpn_http_app_create(const struct gpn_http_cfg *cfg, struct gpn_http_app **out, struct gpn_err *err);
/* Routes req and fills resp (always: errors become error responses), then
 * applies conditional requests, gzip and HEAD. Thread-safe. Returns the
 * final HTTP status. */
int gpn_http_app_handle(struct gpn_http_app *app, struct gpn_http_req *req, struct gpn_http_resp *resp);
/* Writes the access-log line of a finished exchange (when configured). */
void gpn_http_app_log(struct gpn_http_app *app, const struct gpn_http_req *req, const struct gpn_http_resp *resp,
                      int64_t bytes_sent);
const struct gpn_http_cfg *gpn_http_app_cfg(const struct gpn_http_app *app);
/* Number of layers currently served. */
size_t gpn_http_app_layer_count(struct gpn_http_app *app);
/* Stops background work and frees the app; NULL is allowed. */
void gpn_http_app_destroy(struct gpn_http_app *app);

/* ==== seeding the tile cache (gpn seed) ================================= */

struct gpn_progress;

struct gpn_http_seed_opts {
    const char *const *layers;  /* (n_layers) layer names */
    int n_layers;
    int zmin, zmax;             /* XYZ zoom range, 0..22 */
    int has_bbox;
    double bbox[4];             /* lon/lat west, south, east, north; else the layers' extents */
    int threads;                /* render threads, >= 1 */
    double max_rate;            /* tiles per second, 0 = unlimited (throttling) */
    int force;                  /* 1: re-render tiles already cached */
    const char *style;          /* NULL or "" = each layer's default style */
    const char *format;         /* "png" (default), "webp", "jpg" */
    int64_t max_tiles;          /* refuse plans above this many tiles; 0 = 1,000,000 */
};

/* Renders the XYZ tiles of the layers over the zoom range into the tile
 * cache (the same files the server serves), reporting to p (may be NULL).
 * *rendered / *skipped (may be NULL) count new and already-cached tiles.
 * Returns 0, GPN_ENOTFOUND (unknown layer), GPN_ESTATE (cache disabled),
 * GPN_ETOOBIG (plan over max_tiles), or the first render error. */
int gpn_http_app_seed(struct gpn_http_app *app, const struct gpn_http_seed_opts *o, struct gpn_progress *p,
                      int64_t *rendered, int64_t *skipped, struct gpn_err *err);

/* ==== the server (server.c, libmicrohttpd) ============================== */

struct gpn_http_server;

/* Starts listening on cfg->bind:cfg->port with cfg->threads worker threads
 * serving app (borrowed: it must outlive the server). */
int gpn_http_server_start(struct gpn_http_app *app, const struct gpn_http_cfg *cfg, struct gpn_http_server **out,
                          struct gpn_err *err);
/* The port actually bound (useful with port 0). */
int gpn_http_server_port(const struct gpn_http_server *srv);
/* Stops accepting, finishes in-flight requests, joins the workers, frees. */
void gpn_http_server_stop(struct gpn_http_server *srv);

#endif
