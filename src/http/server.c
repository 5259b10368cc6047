/*
 * server.c - the socket layer: libmicrohttpd (the only file including
 * microhttpd.h) in front of the app (http.h).
 *
 * Model: MHD_USE_EPOLL_INTERNAL_THREAD with a thread pool
 * (MHD_OPTION_THREAD_POOL_SIZE): each pool thread runs its own event loop
 * over its share of the connections and calls the app synchronously, so
 * rendering and GDAL reads happen on these worker threads, each with its
 * own open rasters (layers.c), and never on a shared loop. N threads serve
 * N requests at once; keep-alive connections cost nothing while idle.
 *
 * The raw request target (needed for our own strict, fuzzed parser) comes
 * from MHD_OPTION_URI_LOG_CALLBACK, which also allocates the per-request
 * state: the target copy and the body accumulated from upload chunks (413
 * past cfg.max_body). Responses are either the app's body buffer (handed
 * to MHD without a copy) or a file window sent from a file descriptor.
 *
 * Limits: connection idle timeout, connection count, per-connection memory
 * (request line and headers), body size; WIDTH/HEIGHT and friends are
 * bounded by the handlers.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "gpn/http.h"
#include "gpn/log.h"

struct gpn_http_server {
    struct MHD_Daemon *d;
    struct gpn_http_app *app;
    int64_t max_body;
    int port;
};

/* Per-request state, created by the URI callback. */
struct req_state {
    char *uri;
    struct gpn_buf body;
    int too_big;
    int started;
};

static void *uri_cb(void *cls, const char *uri, struct MHD_Connection *con)
{
    (void)cls;
    (void)con;
    struct req_state *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    size_t n = strnlen(uri ? uri : "/", GPN_HTTP_MAX_TARGET + 1);
    st->uri = malloc(n + 1);
    if (!st->uri) {
        free(st);
        return NULL;
    }
    memcpy(st->uri, uri ? uri : "/", n);
    st->uri[n] = 0;
    return st;
}

static void completed_cb(void *cls, struct MHD_Connection *con, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)con;
    (void)toe;
    struct req_state *st = *con_cls;
    if (!st) return;
    free(st->uri);
    gpn_buf_free(&st->body);
    free(st);
    *con_cls = NULL;
}

static enum MHD_Result header_cb(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    gpn_http_req_add_header(cls, key, value ? value : "");
    return MHD_YES;
}

static void logger_cb(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n') msg[--n] = 0;
    gpn_log_debug("microhttpd: %s", msg);
}

static enum MHD_Result queue_simple(struct MHD_Connection *con, int status, const char *ct, const char *body)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", ct);
    enum MHD_Result ret = MHD_queue_response(con, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *con, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    (void)url;
    (void)version;
    struct gpn_http_server *srv = cls;
    struct req_state *st = *con_cls;
    if (!st) return queue_simple(con, 500, "text/plain", "500 out of memory\n");
    if (!st->started) {
        /* Never answer in the first call, even for GET: libmicrohttpd
         * cannot know the request is complete then and closes the
         * connection after the response (no keep-alive). */
        st->started = 1;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!st->too_big) {
            if ((int64_t)(st->body.len + *upload_data_size) > srv->max_body) {
                st->too_big = 1;
                gpn_buf_free(&st->body);
            } else if (gpn_buf_append(&st->body, upload_data, *upload_data_size)) {
                st->too_big = 1;
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (st->too_big)
        return queue_simple(con, 413, "application/json",
                            "{\"error\":{\"code\":\"TOOBIG\",\"message\":\"request body too large\"}}\n");

    struct gpn_http_req req;
    struct gpn_http_resp resp;
    struct gpn_err err = {0};
    gpn_http_resp_init(&resp);
    int prc = gpn_http_req_init(&req, method, st->uri, &err);
    MHD_get_connection_values(con, MHD_HEADER_KIND, header_cb, &req);
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        char addr[INET6_ADDRSTRLEN] = "";
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, addr, sizeof addr);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, addr, sizeof addr);
        gpn_http_req_set_remote(&req, addr);
    }
    if (st->body.len) gpn_http_req_set_body(&req, st->body.data, st->body.len);
    if (prc) {
        gpn_http_resp_text_error(&resp, prc == GPN_ETOOBIG ? 414 : 400, "%s", err.msg);
    } else {
        gpn_http_app_handle(srv->app, &req, &resp);
    }

    struct MHD_Response *r = NULL;
    int64_t sent = 0;
    if (resp.file_path[0]) {
        int fd = open(resp.file_path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            r = MHD_create_response_from_fd_at_offset64((uint64_t)resp.file_len, fd, (uint64_t)resp.file_off);
            if (!r) close(fd);
            sent = resp.file_len;
        } else {
            gpn_http_resp_text_error(&resp, 404, "not found");
        }
    }
    if (!r && !resp.file_path[0]) {
        size_t len = resp.body.len;
        if (len) {
            char *data = gpn_buf_steal(&resp.body, &len);
            r = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
            if (!r) free(data);
        } else {
            r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        }
        sent = (int64_t)len;
    }
    enum MHD_Result ret = MHD_NO;
    if (r) {
        if (resp.content_type[0] && resp.status != 304) MHD_add_response_header(r, "Content-Type", resp.content_type);
        for (int i = 0; i < resp.n_headers; i++) MHD_add_response_header(r, resp.headers[i].name, resp.headers[i].value);
        ret = MHD_queue_response(con, (unsigned)resp.status, r);
        MHD_destroy_response(r);
    }
    if (!strcmp(method, "HEAD") || resp.status == 304) sent = 0;
    gpn_http_app_log(srv->app, &req, &resp, sent);
    gpn_http_resp_free(&resp);
    gpn_http_req_free(&req);
    return ret;
}

int gpn_http_server_start(struct gpn_http_app *app, const struct gpn_http_cfg *cfg, struct gpn_http_server **out,
                          struct gpn_err *err)
{
    static const char fn[] = "gpn_http_server_start";
    *out = NULL;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t slen;
    struct sockaddr_in *s4 = (struct sockaddr_in *)(void *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)(void *)&ss;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    if (inet_pton(AF_INET, cfg->bind, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)cfg->port);
        slen = sizeof *s4;
    } else if (inet_pton(AF_INET6, cfg->bind, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)cfg->port);
        slen = sizeof *s6;
        flags |= MHD_USE_IPv6;
    } else {
        return gpn_err_set(err, GPN_EINVAL, "%s: bind address '%s' is not an IPv4 or IPv6 address", fn, cfg->bind);
    }
    (void)slen;
    struct gpn_http_server *srv = calloc(1, sizeof *srv);
    if (!srv) return gpn_err_set(err, GPN_ENOMEM, "%s: out of memory", fn);
    srv->app = app;
    srv->max_body = cfg->max_body > 0 ? cfg->max_body : (8 << 20);
    int threads = cfg->threads > 0 ? cfg->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1) threads = 1;
    srv->d = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, access_cb, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)(cfg->timeout_s > 0 ? cfg->timeout_s : 30), MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)(cfg->max_connections > 0 ? cfg->max_connections : 1024), MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)(32 * 1024), MHD_OPTION_URI_LOG_CALLBACK, uri_cb, srv, MHD_OPTION_NOTIFY_COMPLETED, completed_cb, srv,
        MHD_OPTION_EXTERNAL_LOGGER, logger_cb, srv, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_END);
    if (!srv->d) {
        int e = errno;
        free(srv);
        return gpn_err_set(err, GPN_EIO, "%s: cannot listen on %s:%d: %s", fn, cfg->bind, cfg->port,
                           e ? strerror(e) : "libmicrohttpd failed to start");
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : cfg->port;
    *out = srv;
    return 0;
}

int gpn_http_server_port(const struct gpn_http_server *srv)
{
    return srv ? srv->port : 0;
}

void gpn_http_server_stop(struct gpn_http_server *srv)
{
    if (!srv) return;
    if (srv->d) MHD_stop_daemon(srv->d);
    free(srv);
}
