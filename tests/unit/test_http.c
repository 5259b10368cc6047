/*
 * test_http.c - the HTTP layer without the map protocols: request target
 * parsing, ranges and conditional requests, MIME types, configuration
 * files, static files (path traversal), routing and JSON errors, gzip,
 * the tile cache's eviction, and the real socket server (libmicrohttpd)
 * answering over TCP, including its body limit.
 */
#include "test.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <zlib.h>

#include "../../src/http/app.h"
#include "gpn/catalog.h"
#include "gpn/http.h"
#include "gpn/util.h"

int gpn_api_report(const struct gpn_http_req *req, struct gpn_http_resp *resp, void *atlas_ctx)
    __attribute__((weak));

static void write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    fwrite(data, 1, len, f);
    fclose(f);
}

/* ==== request parsing =================================================== */

static void test_url_decode(void)
{
    char out[64];
    ASSERT_EQ_INT(gpn_http_url_decode(out, "a%20b+c", 7, 1), 5);
    ASSERT_STR_EQ(out, "a b c");
    ASSERT_EQ_INT(gpn_http_url_decode(out, "a+b", 3, 0), 3);
    ASSERT_STR_EQ(out, "a+b");
    ASSERT_EQ_INT(gpn_http_url_decode(out, "%2F%2e", 6, 0), 2);
    ASSERT_STR_EQ(out, "/.");
    ASSERT_EQ_INT(gpn_http_url_decode(out, "%zz", 3, 0), -1);
    ASSERT_EQ_INT(gpn_http_url_decode(out, "%4", 2, 0), -1);
    ASSERT_EQ_INT(gpn_http_url_decode(out, "%", 1, 0), -1);
    ASSERT_EQ_INT(gpn_http_url_decode(out, "a%00b", 5, 0), -1); /* encoded NUL */
}

static void test_req_params(void)
{
    struct gpn_http_req req;
    struct gpn_err err = {0};
    ASSERT_OK(gpn_http_req_init(&req, "GET", "/wms?SERVICE=WMS&b=%41+c&&flag&Layers=a%2Cb#frag", &err), &err);
    ASSERT_STR_EQ(req.path, "/wms");
    ASSERT_EQ_INT(req.n_params, 4);
    ASSERT_STR_EQ(gpn_http_req_param(&req, "service"), "WMS");
    ASSERT_STR_EQ(gpn_http_req_param(&req, "B"), "A c");
    ASSERT_STR_EQ(gpn_http_req_param(&req, "flag"), "");
    ASSERT_STR_EQ(gpn_http_req_param(&req, "LAYERS"), "a,b");
    ASSERT_TRUE(gpn_http_req_param(&req, "frag") == NULL);
    ASSERT_OK(gpn_http_req_add_header(&req, "Accept-Encoding", "gzip"), &err);
    ASSERT_STR_EQ(gpn_http_req_header(&req, "accept-encoding"), "gzip");
    gpn_http_req_free(&req);

    ASSERT_OK(gpn_http_req_init(&req, "GET", "http://example.org/tiles/a%20b/1/2/3.png", &err), &err);
    ASSERT_STR_EQ(req.path, "/tiles/a b/1/2/3.png");
    gpn_http_req_free(&req);
}

static void test_req_bad_targets(void)
{
    struct gpn_http_req req;
    struct gpn_err err = {0};
    ASSERT_RC(gpn_http_req_init(&req, "GET", "/a%zz", &err), GPN_EFORMAT);
    gpn_http_req_free(&req);
    ASSERT_RC(gpn_http_req_init(&req, "GET", "/a?x=%00", &err), GPN_EFORMAT);
    gpn_http_req_free(&req);
    ASSERT_RC(gpn_http_req_init(&req, "GET", "nopath", &err), GPN_EFORMAT);
    gpn_http_req_free(&req);
    /* Too many parameters. */
    struct gpn_buf b = {0};
    gpn_buf_puts(&b, "/wms?");
    for (int i = 0; i < GPN_HTTP_MAX_PARAMS + 5; i++) gpn_buf_printf(&b, "k%d=v&", i);
    ASSERT_RC(gpn_http_req_init(&req, "GET", b.data, &err), GPN_ETOOBIG);
    gpn_http_req_free(&req);
    gpn_buf_free(&b);
    /* Too long. */
    char *big = malloc(GPN_HTTP_MAX_TARGET + 10);
    memset(big, 'a', GPN_HTTP_MAX_TARGET + 9);
    big[0] = '/';
    big[GPN_HTTP_MAX_TARGET + 9] = 0;
    ASSERT_RC(gpn_http_req_init(&req, "GET", big, &err), GPN_ETOOBIG);
    gpn_http_req_free(&req);
    free(big);
}

/* ==== files, ranges, ETags ============================================== */

static void setup_req(struct gpn_http_req *req, const char *range, const char *inm)
{
    struct gpn_err err = {0};
    if (gpn_http_req_init(req, "GET", "/f", &err)) abort();
    if (range) gpn_http_req_add_header(req, "Range", range);
    if (inm) gpn_http_req_add_header(req, "If-None-Match", inm);
}

static void test_ranges(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/f.bin", test_tmpdir());
    char data[1000];
    for (int i = 0; i < 1000; i++) data[i] = (char)(i % 251);
    write_file(path, data, sizeof data);
    struct {
        const char *range;
        int status;
        long long off, len;
    } cases[] = {
        {NULL, 200, 0, 1000},          {"bytes=0-99", 206, 0, 100},   {"bytes=-100", 206, 900, 100},
        {"bytes=900-", 206, 900, 100}, {"bytes=990-5000", 206, 990, 10}, {"bytes=2000-3000", 416, 0, 0},
        {"items=0-1", 200, 0, 1000},   {"bytes=5-1", 200, 0, 1000},   {"bytes=-0", 416, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct gpn_http_req req;
        struct gpn_http_resp resp;
        struct gpn_err err = {0};
        setup_req(&req, cases[i].range, NULL);
        gpn_http_resp_init(&resp);
        ASSERT_OK(gpn_http_resp_file(&req, &resp, path, NULL, &err), &err);
        ASSERT_EQ_INT(resp.status, cases[i].status);
        if (cases[i].status != 416) {
            ASSERT_EQ_INT(resp.file_off, cases[i].off);
            ASSERT_EQ_INT(resp.file_len, cases[i].len);
        } else {
            ASSERT_STR_EQ(gpn_http_resp_get_header(&resp, "Content-Range"), "bytes */1000");
        }
        gpn_http_resp_free(&resp);
        gpn_http_req_free(&req);
    }
    /* Two ranges: multipart/byteranges holding both parts' bytes. */
    struct gpn_http_req req;
    struct gpn_http_resp resp;
    struct gpn_err err = {0};
    setup_req(&req, "bytes=0-3, 500-503", NULL);
    gpn_http_resp_init(&resp);
    ASSERT_OK(gpn_http_resp_file(&req, &resp, path, "application/octet-stream", &err), &err);
    ASSERT_EQ_INT(resp.status, 206);
    ASSERT_STR_CONTAINS(resp.content_type, "multipart/byteranges; boundary=");
    ASSERT_TRUE(resp.file_path[0] == 0);
    ASSERT_TRUE(memmem(resp.body.data, resp.body.len, "Content-Range: bytes 500-503/1000\r\n\r\n", 37) != NULL);
    const char *p = memmem(resp.body.data, resp.body.len, "500-503/1000\r\n\r\n", 16);
    ASSERT_TRUE(p && !memcmp(p + 16, data + 500, 4));
    /* ETag -> 304 on If-None-Match. */
    char etag[64];
    gpn_strlcpy(etag, gpn_http_resp_get_header(&resp, "ETag"), sizeof etag);
    gpn_http_resp_free(&resp);
    gpn_http_req_free(&req);
    setup_req(&req, NULL, etag);
    gpn_http_resp_init(&resp);
    ASSERT_OK(gpn_http_resp_file(&req, &resp, path, NULL, &err), &err);
    ASSERT_EQ_INT(resp.status, 304);
    gpn_http_resp_free(&resp);
    gpn_http_req_free(&req);
    /* If-Range with another validator: the whole file. */
    setup_req(&req, "bytes=0-9", NULL);
    gpn_http_req_add_header(&req, "If-Range", "\"other\"");
    gpn_http_resp_init(&resp);
    ASSERT_OK(gpn_http_resp_file(&req, &resp, path, NULL, &err), &err);
    ASSERT_EQ_INT(resp.status, 200);
    gpn_http_resp_free(&resp);
    gpn_http_req_free(&req);
    /* Not a file. */
    gpn_http_resp_init(&resp);
    setup_req(&req, NULL, NULL);
    ASSERT_RC(gpn_http_resp_file(&req, &resp, test_tmpdir(), NULL, &err), GPN_ENOTFOUND);
    gpn_http_resp_free(&resp);
    gpn_http_req_free(&req);
}

static void test_etag_match(void)
{
    struct gpn_http_req req;
    setup_req(&req, NULL, "\"aa\", W/\"bb\" , \"cc\"");
    ASSERT_TRUE(gpn_http_etag_matches(&req, "\"bb\""));
    ASSERT_TRUE(gpn_http_etag_matches(&req, "\"cc\""));
    ASSERT_FALSE(gpn_http_etag_matches(&req, "\"a\""));
    gpn_http_req_free(&req);
    setup_req(&req, NULL, "*");
    ASSERT_TRUE(gpn_http_etag_matches(&req, "\"zz\""));
    gpn_http_req_free(&req);
    char e1[32], e2[32];
    gpn_http_etag("abc", 3, e1, sizeof e1);
    gpn_http_etag("abd", 3, e2, sizeof e2);
    ASSERT_TRUE(strcmp(e1, e2) != 0);
    ASSERT_EQ_INT(e1[0], '"');
}

static void test_mime(void)
{
    ASSERT_STR_EQ(gpn_http_mime_type("/a/index.html"), "text/html; charset=utf-8");
    ASSERT_STR_EQ(gpn_http_mime_type("app.JS"), "text/javascript; charset=utf-8");
    ASSERT_STR_EQ(gpn_http_mime_type("x.css"), "text/css; charset=utf-8");
    ASSERT_STR_EQ(gpn_http_mime_type("x.svg"), "image/svg+xml");
    ASSERT_STR_EQ(gpn_http_mime_type("x.woff2"), "font/woff2");
    ASSERT_STR_EQ(gpn_http_mime_type("dir.d/noext"), "application/octet-stream");
}

/* ==== configuration ===================================================== */

static void test_config(void)
{
    char path[600];
    struct gpn_http_cfg cfg;
    struct gpn_err err = {0};
    memset(&cfg, 0, sizeof cfg);
    gpn_http_cfg_defaults(&cfg);
    ASSERT_EQ_INT(cfg.port, 8080);
    ASSERT_STR_EQ(cfg.bind, "127.0.0.1");
    ASSERT_EQ_INT(cfg.max_size, 4096);
    snprintf(path, sizeof path, "%s/serve.conf", test_tmpdir());
    const char *kv = "# comment\natlas = /data/atlas\nport=9090  # trailing\nthreads = 4\n"
                     "cache_size = 256\npublic_url = \"https://maps.example.org\"\n\n";
    write_file(path, kv, strlen(kv));
    ASSERT_OK(gpn_http_cfg_load(&cfg, path, &err), &err);
    ASSERT_STR_EQ(cfg.atlas, "/data/atlas");
    ASSERT_EQ_INT(cfg.port, 9090);
    ASSERT_EQ_INT(cfg.threads, 4);
    ASSERT_EQ_INT(cfg.cache_mb, 256);
    ASSERT_STR_EQ(cfg.public_url, "https://maps.example.org");
    const char *bad = "port = 8080\nprot = 1\n";
    write_file(path, bad, strlen(bad));
    ASSERT_RC(gpn_http_cfg_load(&cfg, path, &err), GPN_EINVAL);
    ASSERT_STR_CONTAINS(err.msg, "serve.conf:2");
    const char *range = "port = 70000\n";
    write_file(path, range, strlen(range));
    ASSERT_RC(gpn_http_cfg_load(&cfg, path, &err), GPN_ERANGE);
    const char *json = "{\"port\": 8181, \"bind\": \"0.0.0.0\", \"max_size\": 2048}";
    write_file(path, json, strlen(json));
    ASSERT_OK(gpn_http_cfg_load(&cfg, path, &err), &err);
    ASSERT_EQ_INT(cfg.port, 8181);
    ASSERT_STR_EQ(cfg.bind, "0.0.0.0");
    ASSERT_EQ_INT(cfg.max_size, 2048);
    const char *json_bad = "{\"port\": [1]}";
    write_file(path, json_bad, strlen(json_bad));
    ASSERT_RC(gpn_http_cfg_load(&cfg, path, &err), GPN_EFORMAT);
}

/* ==== the app: static files, routing, gzip ============================== */

static struct gpn_http_app *make_app(const char *atlas, const char *web_root)
{
    struct gpn_http_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    gpn_http_cfg_defaults(&cfg);
    gpn_strlcpy(cfg.atlas, atlas, sizeof cfg.atlas);
    if (web_root) gpn_strlcpy(cfg.web_root, web_root, sizeof cfg.web_root);
    cfg.cache_mb = 0;
    cfg.reload_s = 0;
    struct gpn_http_app *app = NULL;
    struct gpn_err err = {0};
    if (gpn_http_app_create(&cfg, &app, &err)) {
        fprintf(stderr, "app_create: %s\n", err.msg);
        return NULL;
    }
    return app;
}

/* Runs one request through the app; resp must be freed by the caller. */
static int run(struct gpn_http_app *app, const char *method, const char *target, const char *accept_encoding,
               struct gpn_http_resp *resp)
{
    struct gpn_http_req req;
    struct gpn_err err = {0};
    gpn_http_resp_init(resp);
    if (gpn_http_req_init(&req, method, target, &err)) {
        gpn_http_req_free(&req);
        return -1;
    }
    gpn_http_req_add_header(&req, "Host", "localhost:8080");
    if (accept_encoding) gpn_http_req_add_header(&req, "Accept-Encoding", accept_encoding);
    int st = gpn_http_app_handle(app, &req, resp);
    gpn_http_req_free(&req);
    return st;
}

static void test_static_files(void)
{
    char root[600], atlas[600], p[700];
    snprintf(atlas, sizeof atlas, "%s/atlas", test_tmpdir());
    snprintf(root, sizeof root, "%s/www", test_tmpdir());
    ASSERT_OK(gpn_mkdir_p(atlas, NULL), NULL);
    snprintf(p, sizeof p, "%s/assets", root);
    ASSERT_OK(gpn_mkdir_p(p, NULL), NULL);
    snprintf(p, sizeof p, "%s/index.html", root);
    write_file(p, "<html>app</html>", 16);
    snprintf(p, sizeof p, "%s/assets/app.js", root);
    write_file(p, "console.log(1)", 14);
    snprintf(p, sizeof p, "%s/.secret", root);
    write_file(p, "s", 1);
    snprintf(p, sizeof p, "%s/secret.txt", test_tmpdir());
    write_file(p, "outside", 7);
    char link[700];
    snprintf(link, sizeof link, "%s/leak.txt", root);
    ASSERT_EQ_INT(symlink(p, link), 0);
    struct gpn_http_app *app = make_app(atlas, root);
    ASSERT_TRUE(app != NULL);
    struct gpn_http_resp r;
    ASSERT_EQ_INT(run(app, "GET", "/", NULL, &r), 200);
    ASSERT_STR_CONTAINS(r.content_type, "text/html");
    gpn_http_resp_free(&r);
    ASSERT_EQ_INT(run(app, "GET", "/assets/app.js", NULL, &r), 200);
    ASSERT_STR_CONTAINS(r.content_type, "text/javascript");
    ASSERT_STR_CONTAINS(gpn_http_resp_get_header(&r, "Cache-Control"), "immutable");
    gpn_http_resp_free(&r);
    /* SPA route -> index.html; missing asset -> 404. */
    ASSERT_EQ_INT(run(app, "GET", "/species/123", NULL, &r), 200);
    ASSERT_TRUE(strstr(r.file_path, "index.html") != NULL);
    gpn_http_resp_free(&r);
    ASSERT_EQ_INT(run(app, "GET", "/missing.js", NULL, &r), 404);
    gpn_http_resp_free(&r);
    /* Traversal attempts, raw and encoded, hidden files, symlinks out. */
    const char *bad[] = {"/../secret.txt", "/%2e%2e/secret.txt", "/assets/../../secret.txt", "/.secret",
                         "/assets/%2E%2E/%2E%2E/secret.txt", "/leak.txt", "//etc/passwd", "/a\\..\\b.txt"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int st = run(app, "GET", bad[i], NULL, &r);
        if (st != 404) fprintf(stderr, "  %s -> %d\n", bad[i], st);
        ASSERT_EQ_INT(st, 404);
        ASSERT_TRUE(r.file_path[0] == 0);
        gpn_http_resp_free(&r);
    }
    gpn_http_app_destroy(app);
}

static void test_routes_and_errors(void)
{
    char atlas[600];
    snprintf(atlas, sizeof atlas, "%s/atlas", test_tmpdir());
    ASSERT_OK(gpn_mkdir_p(atlas, NULL), NULL);
    struct gpn_http_app *app = make_app(atlas, NULL);
    ASSERT_TRUE(app != NULL);
    struct gpn_http_resp r;
    ASSERT_EQ_INT(run(app, "GET", "/api/health", NULL, &r), 200);
    ASSERT_STR_CONTAINS(r.body.data, "\"status\":\"ok\"");
    gpn_http_resp_free(&r);
    ASSERT_EQ_INT(run(app, "GET", "/api/layers", NULL, &r), 200);
    ASSERT_STR_CONTAINS(r.body.data, "\"layers\":[]");
    gpn_http_resp_free(&r);
    if (!gpn_api_report) {
        ASSERT_EQ_INT(run(app, "POST", "/api/report", NULL, &r), 501);
        ASSERT_STR_CONTAINS(r.content_type, "application/json");
        ASSERT_STR_CONTAINS(r.body.data, "{\"error\":{\"code\":\"NotImplemented\"");
        gpn_http_resp_free(&r);
    }
    ASSERT_EQ_INT(run(app, "POST", "/wms", NULL, &r), 405);
    gpn_http_resp_free(&r);
    ASSERT_EQ_INT(run(app, "GET", "/tiles/nolayer/1/0/0.png", NULL, &r), 404);
    gpn_http_resp_free(&r);
    ASSERT_EQ_INT(run(app, "GET", "/tiles/x/1/2/0.png", NULL, &r), 404);
    gpn_http_resp_free(&r);
    ASSERT_EQ_INT(run(app, "GET", "/layers/nolayer.tif", NULL, &r), 404);
    gpn_http_resp_free(&r);
    ASSERT_EQ_INT(run(app, "GET", "/layers/../catalog.sqlite", NULL, &r), 404);
    gpn_http_resp_free(&r);
    /* WMS capabilities: gzip when accepted, same document once inflated. */
    ASSERT_EQ_INT(run(app, "GET", "/wms?SERVICE=WMS&REQUEST=GetCapabilities", NULL, &r), 200);
    struct gpn_buf plain = r.body;
    memset(&r.body, 0, sizeof r.body);
    char etag[64];
    gpn_strlcpy(etag, gpn_http_resp_get_header(&r, "ETag"), sizeof etag);
    gpn_http_resp_free(&r);
    ASSERT_EQ_INT(run(app, "GET", "/wms?SERVICE=WMS&REQUEST=GetCapabilities", "gzip, deflate", &r), 200);
    ASSERT_STR_EQ(gpn_http_resp_get_header(&r, "Content-Encoding"), "gzip");
    ASSERT_TRUE(r.body.len < plain.len);
    char *inflated = malloc(plain.len + 16);
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    ASSERT_EQ_INT(inflateInit2(&zs, 15 + 16), Z_OK);
    zs.next_in = (Bytef *)r.body.data;
    zs.avail_in = (uInt)r.body.len;
    zs.next_out = (Bytef *)inflated;
    zs.avail_out = (uInt)(plain.len + 16);
    ASSERT_EQ_INT(inflate(&zs, Z_FINISH), Z_STREAM_END);
    ASSERT_EQ_INT(zs.total_out, plain.len);
    ASSERT_TRUE(memcmp(inflated, plain.data, plain.len) == 0);
    inflateEnd(&zs);
    free(inflated);
    gpn_buf_free(&plain);
    gpn_http_resp_free(&r);
    /* If-None-Match on a generated document -> 304 without a body. */
    {
        struct gpn_http_req req;
        struct gpn_err err = {0};
        gpn_http_resp_init(&r);
        ASSERT_OK(gpn_http_req_init(&req, "GET", "/wms?SERVICE=WMS&REQUEST=GetCapabilities", &err), &err);
        gpn_http_req_add_header(&req, "Host", "localhost:8080");
        gpn_http_req_add_header(&req, "If-None-Match", etag);
        ASSERT_EQ_INT(gpn_http_app_handle(app, &req, &r), 304);
        ASSERT_EQ_INT(r.body.len, 0);
        gpn_http_req_free(&req);
        gpn_http_resp_free(&r);
    }
    gpn_http_app_destroy(app);
}

/* ==== the tile cache ==================================================== */

static void test_cache_eviction(void)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/cache", test_tmpdir());
    struct gpn__cache *c = NULL;
    struct gpn_err err = {0};
    ASSERT_OK(gpn__cache_open(dir, 100 * 1024, &c, &err), &err);
    char data[4096];
    memset(data, 7, sizeof data);
    char key[256], path[1024];
    int over = 0;
    time_t now = time(NULL);
    for (int i = 0; i < 40; i++) {
        gpn__cache_key(key, sizeof key, "lay", 1, "viridis", 5, i, 0, "png");
        over |= gpn__cache_put(c, key, data, sizeof data);
        /* Tile i was last used i hours ago... reversed: tile 0 is the oldest. */
        snprintf(path, sizeof path, "%s/%s", dir, key);
        struct timespec ts[2] = {{now - 100000 + i * 100, 0}, {now - 100000 + i * 100, 0}};
        ASSERT_EQ_INT(utimensat(AT_FDCWD, path, ts, 0), 0);
    }
    ASSERT_TRUE(over); /* 160 KiB written into a 100 KiB cache */
    gpn__cache_maintain(c, NULL);
    ASSERT_TRUE(gpn__cache_bytes(c) <= 90 * 1024);
    ASSERT_TRUE(gpn__cache_bytes(c) > 60 * 1024);
    gpn__cache_key(key, sizeof key, "lay", 1, "viridis", 5, 0, 0, "png");
    ASSERT_FALSE(gpn__cache_get(c, key, path, sizeof path)); /* oldest evicted */
    gpn__cache_key(key, sizeof key, "lay", 1, "viridis", 5, 39, 0, "png");
    ASSERT_TRUE(gpn__cache_get(c, key, path, sizeof path)); /* newest kept */
    gpn__cache_close(c);
    /* A disabled cache stores nothing. */
    ASSERT_OK(gpn__cache_open(dir, 0, &c, &err), &err);
    gpn__cache_key(key, sizeof key, "lay", 1, "viridis", 6, 0, 0, "png");
    ASSERT_EQ_INT(gpn__cache_put(c, key, data, 10), 0);
    ASSERT_FALSE(gpn__cache_get(c, key, path, sizeof path));
    gpn__cache_close(c);
}

/* ==== the socket server ================================================= */

/* Sends a raw request and reads the whole response (Connection: close). */
static int http_raw(int port, const char *request, size_t req_len, char *out, size_t n)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
        close(fd);
        return -1;
    }
    size_t off = 0;
    while (off < req_len) {
        ssize_t w = write(fd, request + off, req_len - off);
        if (w <= 0) break;
        off += (size_t)w;
    }
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fd, out + got, n - 1 - got);
        if (r <= 0) break;
        got += (size_t)r;
        if (got >= n - 1) break;
    }
    out[got] = 0;
    close(fd);
    return (int)got;
}

static void test_server_socket(void)
{
    char atlas[600];
    snprintf(atlas, sizeof atlas, "%s/atlas", test_tmpdir());
    ASSERT_OK(gpn_mkdir_p(atlas, NULL), NULL);
    struct gpn_http_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    gpn_http_cfg_defaults(&cfg);
    gpn_strlcpy(cfg.atlas, atlas, sizeof cfg.atlas);
    cfg.port = 0;
    cfg.threads = 2;
    cfg.cache_mb = 0;
    cfg.max_body = 4096;
    struct gpn_http_app *app = NULL;
    struct gpn_http_server *srv = NULL;
    struct gpn_err err = {0};
    ASSERT_OK(gpn_http_app_create(&cfg, &app, &err), &err);
    ASSERT_OK(gpn_http_server_start(app, &cfg, &srv, &err), &err);
    int port = gpn_http_server_port(srv);
    ASSERT_TRUE(port > 0);
    static char buf[65536];
    const char *get = "GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    ASSERT_TRUE(http_raw(port, get, strlen(get), buf, sizeof buf) > 0);
    ASSERT_STR_CONTAINS(buf, "HTTP/1.1 200");
    ASSERT_STR_CONTAINS(buf, "\"status\":\"ok\"");
    ASSERT_STR_CONTAINS(buf, "Access-Control-Allow-Origin: *");
    /* A body over max_body: 413. */
    struct gpn_buf big = {0};
    gpn_buf_printf(&big, "POST /api/report HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 10000\r\n\r\n");
    for (int i = 0; i < 10000; i++) gpn_buf_append(&big, "x", 1);
    ASSERT_TRUE(http_raw(port, big.data, big.len, buf, sizeof buf) > 0);
    ASSERT_STR_CONTAINS(buf, "HTTP/1.1 413");
    gpn_buf_free(&big);
    /* A malformed target: 400, the server stays up. */
    const char *bad = "GET /wms?x=%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    ASSERT_TRUE(http_raw(port, bad, strlen(bad), buf, sizeof buf) > 0);
    ASSERT_STR_CONTAINS(buf, "HTTP/1.1 400");
    ASSERT_TRUE(http_raw(port, get, strlen(get), buf, sizeof buf) > 0);
    ASSERT_STR_CONTAINS(buf, "HTTP/1.1 200");
    /* HEAD: headers only. */
    const char *head = "HEAD /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    ASSERT_TRUE(http_raw(port, head, strlen(head), buf, sizeof buf) > 0);
    ASSERT_STR_CONTAINS(buf, "HTTP/1.1 200");
    ASSERT_TRUE(strstr(buf, "\"status\"") == NULL);
    gpn_http_server_stop(srv);
    gpn_http_app_destroy(app);
}

int main(void)
{
    RUN(test_url_decode);
    RUN(test_req_params);
    RUN(test_req_bad_targets);
    RUN(test_ranges);
    RUN(test_etag_match);
    RUN(test_mime);
    RUN(test_config);
    RUN(test_static_files);
    RUN(test_routes_and_errors);
    RUN(test_cache_eviction);
    RUN(test_server_socket);
    return test_summary();
}
