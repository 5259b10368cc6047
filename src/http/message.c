/*
 * message.c - HTTP requests and responses without sockets (http.h).
 *
 * Parsing of the request target is the part of the server that faces raw
 * bytes from the network, so it is written defensively and fuzzed
 * (tests/fuzz/fuzz_wms_params.c): every length is bounded, every escape
 * checked, and all strings live in a per-request arena, so a request is
 * freed in one call whatever path the handler took.
 *
 * Arena layout: a chain of blocks, each a header followed by its bytes;
 * allocations are bumped from the newest block, a large allocation gets a
 * block of its own.
 *
 * Range requests (RFC 9110 section 14): one range streams the file window
 * (server.c sends it with sendfile); several ranges are assembled in memory
 * as multipart/byteranges, bounded so that a hostile Range header cannot
 * make the server copy a large file many times.
 */
#include "gpn/http.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include "gpn/progress.h"

/* ==== arena ============================================================= */

struct gpn_http_arena_block {
    struct gpn_http_arena_block *next;
    size_t cap, used;
    _Alignas(16) unsigned char data[];
};

#define ARENA_BLOCK 8192

void *gpn_http_alloc(struct gpn_http_req *req, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    struct gpn_http_arena_block *b = req->arena;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > ARENA_BLOCK / 2 ? n : ARENA_BLOCK;
        if (cap > SIZE_MAX - sizeof *b) return NULL;
        struct gpn_http_arena_block *nb = malloc(sizeof *nb + cap);
        if (!nb) return NULL;
        nb->cap = cap;
        nb->used = 0;
        if (b && cap > ARENA_BLOCK) {
            /* Keep bumping from the current block: put the big one behind it. */
            nb->next = b->next;
            b->next = nb;
            nb->used = n;
            memset(nb->data, 0, n);
            return nb->data;
        }
        nb->next = b;
        req->arena = b = nb;
    }
    void *p = b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

char *gpn_http_strdup(struct gpn_http_req *req, const char *s)
{
    size_t n = strlen(s);
    char *d = gpn_http_alloc(req, n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

static char *arena_strndup(struct gpn_http_req *req, const char *s, size_t n)
{
    char *d = gpn_http_alloc(req, n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

void gpn_http_req_free(struct gpn_http_req *req)
{
    if (!req) return;
    struct gpn_http_arena_block *b = req->arena;
    while (b) {
        struct gpn_http_arena_block *n = b->next;
        free(b);
        b = n;
    }
    req->arena = NULL;
}

/* ==== request parsing =================================================== */

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

long gpn_http_url_decode(char *dst, const char *src, size_t n, int plus_space)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c == '%') {
            if (i + 2 >= n) return -1;
            int h = hexval(src[i + 1]), l = hexval(src[i + 2]);
            if (h < 0 || l < 0) return -1;
            c = (unsigned char)(h * 16 + l);
            if (c == 0) return -1;
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        } else if (c == 0) {
            return -1;
        }
        dst[o++] = (char)c;
    }
    dst[o] = 0;
    return (long)o;
}

int gpn_http_req_init(struct gpn_http_req *req, const char *method, const char *target, struct gpn_err *err)
{
    memset(req, 0, sizeof *req);
    req->t_start = gpn_now();
    req->method = "GET";
    req->target = "/";
    req->path = "/";
    req->query = "";
    req->body = "";
    req->remote = "";
    if (method) {
        char *m = arena_strndup(req, method, strnlen(method, 32));
        if (!m) return gpn_err_set(err, GPN_ENOMEM, "gpn_http_req_init: out of memory");
        req->method = m;
    }
    if (!target) return gpn_err_set(err, GPN_EFORMAT, "gpn_http_req_init: no request target");
    size_t tlen = strnlen(target, GPN_HTTP_MAX_TARGET + 1);
    if (tlen > GPN_HTTP_MAX_TARGET)
        return gpn_err_set(err, GPN_ETOOBIG, "gpn_http_req_init: request target longer than %d bytes",
                           GPN_HTTP_MAX_TARGET);
    char *t = arena_strndup(req, target, tlen);
    if (!t) return gpn_err_set(err, GPN_ENOMEM, "gpn_http_req_init: out of memory");
    req->target = t;
    /* An absolute-form target ("http://host/path") is reduced to its path. */
    const char *p = t;
    if (!strncasecmp(p, "http://", 7) || !strncasecmp(p, "https://", 8)) {
        p = strchr(p + (p[4] == ':' ? 7 : 8), '/');
        if (!p) p = "/";
    }
    if (p[0] != '/') return gpn_err_set(err, GPN_EFORMAT, "gpn_http_req_init: target must start with '/'");
    const char *q = strchr(p, '?');
    size_t plen = q ? (size_t)(q - p) : strlen(p);
    /* Drop a fragment if a client sent one. */
    const char *hash = memchr(p, '#', plen);
    if (hash) plen = (size_t)(hash - p);
    char *path = gpn_http_alloc(req, plen + 1);
    if (!path) return gpn_err_set(err, GPN_ENOMEM, "gpn_http_req_init: out of memory");
    if (gpn_http_url_decode(path, p, plen, 0) < 0)
        return gpn_err_set(err, GPN_EFORMAT, "gpn_http_req_init: bad percent-escape in path");
    req->path = path;
    if (!q) return 0;
    const char *qs = q + 1;
    size_t qlen = strcspn(qs, "#");
    char *query = arena_strndup(req, qs, qlen);
    if (!query) return gpn_err_set(err, GPN_ENOMEM, "gpn_http_req_init: out of memory");
    req->query = query;
    const char *s = query;
    while (*s) {
        size_t len = strcspn(s, "&;");
        if (len > 0) {
            if (req->n_params >= GPN_HTTP_MAX_PARAMS)
                return gpn_err_set(err, GPN_ETOOBIG, "gpn_http_req_init: more than %d query parameters",
                                   GPN_HTTP_MAX_PARAMS);
            const char *eq = memchr(s, '=', len);
            size_t klen = eq ? (size_t)(eq - s) : len;
            size_t vlen = eq ? len - klen - 1 : 0;
            char *k = gpn_http_alloc(req, klen + 1);
            char *v = gpn_http_alloc(req, vlen + 1);
            if (!k || !v) return gpn_err_set(err, GPN_ENOMEM, "gpn_http_req_init: out of memory");
            if (gpn_http_url_decode(k, s, klen, 1) < 0 || (eq && gpn_http_url_decode(v, eq + 1, vlen, 1) < 0))
                return gpn_err_set(err, GPN_EFORMAT, "gpn_http_req_init: bad percent-escape in query parameter %zu",
                                   req->n_params + 1);
            req->params[req->n_params].key = k;
            req->params[req->n_params].val = v;
            req->n_params++;
        }
        s += len;
        if (*s) s++;
    }
    return 0;
}

int gpn_http_req_add_header(struct gpn_http_req *req, const char *name, const char *value)
{
    if (req->n_headers >= GPN_HTTP_MAX_HEADERS) return 0;
    char *k = gpn_http_strdup(req, name ? name : "");
    char *v = gpn_http_strdup(req, value ? value : "");
    if (!k || !v) return GPN_ENOMEM;
    req->headers[req->n_headers].key = k;
    req->headers[req->n_headers].val = v;
    req->n_headers++;
    return 0;
}

int gpn_http_req_set_body(struct gpn_http_req *req, const void *body, size_t len)
{
    char *b = gpn_http_alloc(req, len + 1);
    if (!b) return GPN_ENOMEM;
    if (len) memcpy(b, body, len);
    b[len] = 0;
    req->body = b;
    req->body_len = len;
    return 0;
}

void gpn_http_req_set_remote(struct gpn_http_req *req, const char *remote)
{
    char *r = gpn_http_strdup(req, remote ? remote : "");
    if (r) req->remote = r;
}

const char *gpn_http_req_param(const struct gpn_http_req *req, const char *key)
{
    for (size_t i = 0; i < req->n_params; i++)
        if (!strcasecmp(req->params[i].key, key)) return req->params[i].val;
    return NULL;
}

const char *gpn_http_req_header(const struct gpn_http_req *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (!strcasecmp(req->headers[i].key, name)) return req->headers[i].val;
    return NULL;
}

/* ==== response ========================================================== */

void gpn_http_resp_init(struct gpn_http_resp *resp)
{
    memset(resp, 0, sizeof *resp);
}

void gpn_http_resp_free(struct gpn_http_resp *resp)
{
    if (!resp) return;
    gpn_buf_free(&resp->body);
}

int gpn_http_resp_header(struct gpn_http_resp *resp, const char *name, const char *value)
{
    if (strlen(name) >= sizeof resp->headers[0].name || strlen(value) >= sizeof resp->headers[0].value)
        return GPN_ETOOBIG;
    int i;
    for (i = 0; i < resp->n_headers; i++)
        if (!strcasecmp(resp->headers[i].name, name)) break;
    if (i == resp->n_headers) {
        if (resp->n_headers >= GPN_HTTP_MAX_RESP_HEADERS) return GPN_ETOOBIG;
        resp->n_headers++;
    }
    gpn_strlcpy(resp->headers[i].name, name, sizeof resp->headers[i].name);
    gpn_strlcpy(resp->headers[i].value, value, sizeof resp->headers[i].value);
    return 0;
}

const char *gpn_http_resp_get_header(const struct gpn_http_resp *resp, const char *name)
{
    for (int i = 0; i < resp->n_headers; i++)
        if (!strcasecmp(resp->headers[i].name, name)) return resp->headers[i].value;
    return NULL;
}

int gpn_http_resp_set(struct gpn_http_resp *resp, int status, const char *content_type, const void *body,
                      size_t len)
{
    resp->status = status;
    gpn_strlcpy(resp->content_type, content_type ? content_type : "", sizeof resp->content_type);
    resp->file_path[0] = 0;
    gpn_buf_reset(&resp->body);
    if (len && gpn_buf_append(&resp->body, body, len)) return GPN_ENOMEM;
    return 0;
}

int gpn_http_resp_json(struct gpn_http_resp *resp, int status, const char *json, size_t len)
{
    return gpn_http_resp_set(resp, status, "application/json", json, len);
}

int gpn_http_resp_json_error(struct gpn_http_resp *resp, int status, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    resp->status = status;
    gpn_strlcpy(resp->content_type, "application/json", sizeof resp->content_type);
    resp->file_path[0] = 0;
    gpn_buf_reset(&resp->body);
    gpn_buf_puts(&resp->body, "{\"error\":{\"code\":\"");
    gpn_buf_json_str(&resp->body, code);
    gpn_buf_puts(&resp->body, "\",\"message\":\"");
    gpn_buf_json_str(&resp->body, msg);
    gpn_buf_puts(&resp->body, "\"}}\n");
    return resp->body.oom ? GPN_ENOMEM : 0;
}

int gpn_http_resp_text_error(struct gpn_http_resp *resp, int status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    resp->status = status;
    gpn_strlcpy(resp->content_type, "text/plain; charset=utf-8", sizeof resp->content_type);
    resp->file_path[0] = 0;
    gpn_buf_reset(&resp->body);
    gpn_buf_printf(&resp->body, "%d %s\n", status, msg);
    return resp->body.oom ? GPN_ENOMEM : 0;
}

/* ==== ETags and MIME types ============================================== */

void gpn_http_etag(const void *data, size_t len, char *buf, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    snprintf(buf, n, "\"%016llx\"", (unsigned long long)h);
}

int gpn_http_etag_matches(const struct gpn_http_req *req, const char *etag)
{
    const char *inm = gpn_http_req_header(req, "If-None-Match");
    if (!inm || !etag || !etag[0]) return 0;
    size_t el = strlen(etag);
    const char *s = inm;
    while (*s) {
        while (*s == ' ' || *s == ',' || *s == '\t') s++;
        if (!*s) break;
        if (*s == '*') return 1;
        if (!strncmp(s, "W/", 2)) s += 2; /* weak comparison for If-None-Match */
        size_t len = strcspn(s, ",");
        while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t')) len--;
        if (len == el && !memcmp(s, etag, el)) return 1;
        s += len;
        while (*s && *s != ',') s++;
    }
    return 0;
}

const char *gpn_http_mime_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } map[] = {
        {".html", "text/html; charset=utf-8"},
        {".htm", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".geojson", "application/geo+json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},
        {".webp", "image/webp"},
        {".gif", "image/gif"},
        {".ico", "image/x-icon"},
        {".woff", "font/woff"},
        {".woff2", "font/woff2"},
        {".ttf", "font/ttf"},
        {".txt", "text/plain; charset=utf-8"},
        {".csv", "text/csv; charset=utf-8"},
        {".xml", "text/xml; charset=utf-8"},
        {".yaml", "application/yaml"},
        {".yml", "application/yaml"},
        {".tif", "image/tiff"},
        {".tiff", "image/tiff"},
        {".wasm", "application/wasm"},
        {".pdf", "application/pdf"},
    };
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash)) return "application/octet-stream";
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcasecmp(dot, map[i].ext)) return map[i].type;
    return "application/octet-stream";
}

/* ==== files and ranges ================================================== */

struct range {
    int64_t off, len;
};

/* Parses "bytes=a-b, c-, -n" for a file of size `size` into at most `max`
 * satisfiable ranges. Returns the number of ranges, 0 when none is
 * satisfiable (-> 416), -1 when the header is malformed or not in bytes
 * (-> ignore it and send the whole file, as RFC 9110 allows). */
static int parse_ranges(const char *h, int64_t size, struct range *out, int max)
{
    while (*h == ' ') h++;
    if (strncasecmp(h, "bytes=", 6)) return -1;
    h += 6;
    int n = 0, seen = 0;
    while (*h) {
        while (*h == ' ' || *h == '\t') h++;
        if (*h == ',') {
            h++;
            continue;
        }
        if (!*h) break;
        int64_t a = -1, b = -1;
        char *end;
        if (*h == '-') {
            errno = 0;
            long long suf = strtoll(h + 1, &end, 10);
            if (end == h + 1 || errno || suf < 0) return -1;
            h = end;
            if (suf == 0) { seen++; goto next; }
            a = suf >= size ? 0 : size - suf;
            b = size - 1;
        } else {
            if (!isdigit((unsigned char)*h)) return -1;
            errno = 0;
            long long x = strtoll(h, &end, 10);
            if (errno || *end != '-') return -1;
            h = end + 1;
            a = x;
            if (isdigit((unsigned char)*h)) {
                long long y = strtoll(h, &end, 10);
                if (errno || y < x) return -1;
                h = end;
                b = y;
            } else {
                b = size - 1;
            }
            if (b > size - 1) b = size - 1;
        }
        seen++;
        if (a < size && a <= b) {
            if (n >= max) return -1;
            out[n].off = a;
            out[n].len = b - a + 1;
            n++;
        }
    next:
        while (*h == ' ' || *h == '\t') h++;
        if (*h && *h != ',') return -1;
    }
    if (!seen) return -1;
    return n;
}

static void http_date(time_t t, char *buf, size_t n)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

#define MULTI_RANGE_MAX 32
#define MULTI_RANGE_BYTES (16 << 20)

int gpn_http_resp_file(const struct gpn_http_req *req, struct gpn_http_resp *resp, const char *path,
                       const char *content_type, struct gpn_err *err)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return gpn_err_set(err, GPN_ENOTFOUND, "gpn_http_resp_file: %s: not a regular file", path);
    if (strlen(path) >= sizeof resp->file_path)
        return gpn_err_set(err, GPN_ETOOBIG, "gpn_http_resp_file: path too long");
    int64_t size = (int64_t)st.st_size;
    char etag[64], date[64];
    snprintf(etag, sizeof etag, "\"%llx-%llx\"", (unsigned long long)size, (unsigned long long)st.st_mtime);
    http_date(st.st_mtime, date, sizeof date);
    gpn_http_resp_header(resp, "ETag", etag);
    gpn_http_resp_header(resp, "Last-Modified", date);
    gpn_http_resp_header(resp, "Accept-Ranges", "bytes");
    gpn_strlcpy(resp->content_type, content_type ? content_type : gpn_http_mime_type(path),
                sizeof resp->content_type);
    gpn_buf_reset(&resp->body);
    resp->file_path[0] = 0;
    resp->no_gzip = 1;
    if (gpn_http_etag_matches(req, etag)) {
        resp->status = 304;
        return 0;
    }
    const char *rh = gpn_http_req_header(req, "Range");
    const char *ifr = gpn_http_req_header(req, "If-Range");
    if (rh && ifr && strcmp(ifr, etag) && strcmp(ifr, date)) rh = NULL; /* changed: whole file */
    struct range rg[MULTI_RANGE_MAX];
    int nr = rh ? parse_ranges(rh, size, rg, MULTI_RANGE_MAX) : -1;
    char v[128];
    if (nr == 0) {
        resp->status = 416;
        snprintf(v, sizeof v, "bytes */%lld", (long long)size);
        gpn_http_resp_header(resp, "Content-Range", v);
        gpn_strlcpy(resp->content_type, "text/plain; charset=utf-8", sizeof resp->content_type);
        gpn_buf_puts(&resp->body, "416 range not satisfiable\n");
        return 0;
    }
    if (nr == 1) {
        resp->status = 206;
        gpn_strlcpy(resp->file_path, path, sizeof resp->file_path);
        resp->file_off = rg[0].off;
        resp->file_len = rg[0].len;
        snprintf(v, sizeof v, "bytes %lld-%lld/%lld", (long long)rg[0].off, (long long)(rg[0].off + rg[0].len - 1),
                 (long long)size);
        gpn_http_resp_header(resp, "Content-Range", v);
        return 0;
    }
    if (nr > 1) {
        int64_t total = 0;
        for (int i = 0; i < nr; i++) total += rg[i].len;
        if (total <= MULTI_RANGE_BYTES) {
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0) return gpn_err_set(err, GPN_EIO, "gpn_http_resp_file: %s: %s", path, strerror(errno));
            const char *boundary = "gpn-byteranges-7d1f0e3a";
            char ct[96];
            gpn_strlcpy(ct, resp->content_type, sizeof ct);
            struct gpn_buf *b = &resp->body;
            int rc = 0;
            for (int i = 0; i < nr && !rc; i++) {
                gpn_buf_printf(b, "\r\n--%s\r\nContent-Type: %s\r\nContent-Range: bytes %lld-%lld/%lld\r\n\r\n",
                               boundary, ct, (long long)rg[i].off, (long long)(rg[i].off + rg[i].len - 1),
                               (long long)size);
                if (gpn_buf_reserve(b, (size_t)rg[i].len)) {
                    rc = gpn_err_set(err, GPN_ENOMEM, "gpn_http_resp_file: out of memory");
                    break;
                }
                ssize_t got = pread(fd, b->data + b->len, (size_t)rg[i].len, rg[i].off);
                if (got != rg[i].len) {
                    rc = gpn_err_set(err, GPN_EIO, "gpn_http_resp_file: short read of %s", path);
                    break;
                }
                b->len += (size_t)got;
                b->data[b->len] = 0;
            }
            close(fd);
            if (rc) return rc;
            gpn_buf_printf(b, "\r\n--%s--\r\n", boundary);
            if (b->oom) return gpn_err_set(err, GPN_ENOMEM, "gpn_http_resp_file: out of memory");
            resp->status = 206;
            snprintf(resp->content_type, sizeof resp->content_type, "multipart/byteranges; boundary=%s", boundary);
            return 0;
        }
        /* Too much to assemble: fall through to the whole file. */
    }
    resp->status = 200;
    gpn_strlcpy(resp->file_path, path, sizeof resp->file_path);
    resp->file_off = 0;
    resp->file_len = size;
    return 0;
}
