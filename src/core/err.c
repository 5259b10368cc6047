/*
 * err.c - the error table and error-context helpers (see err.h).
 */
#include "gpn/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int gpn_err_setv(struct gpn_err *err, int code, const char *fmt, va_list ap)
{
    if (err) {
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    }
    return code;
}

int gpn_err_set(struct gpn_err *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    gpn_err_setv(err, code, fmt, ap);
    va_end(ap);
    return code;
}

/* Copies src at dst + at (at < n), truncating, and returns the new length. */
static size_t str_put(char *dst, const char *src, size_t at, size_t n)
{
    size_t len = strlen(src);
    if (at + len >= n) len = n - 1 - at;
    memcpy(dst + at, src, len);
    dst[at + len] = '\0';
    return at + len;
}

int gpn_err_prefix(struct gpn_err *err, const char *fmt, ...)
{
    if (!err) return GPN_EINTERNAL;
    char head[GPN_ERR_MSG_MAX], old[GPN_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    /* "head: old", truncated to the buffer (truncation is intended). */
    size_t n = str_put(err->msg, head, 0, sizeof err->msg);
    n = str_put(err->msg, ": ", n, sizeof err->msg);
    str_put(err->msg, old, n, sizeof err->msg);
    return err->code;
}

void gpn_err_clear(struct gpn_err *err)
{
    if (err) {
        err->code = 0;
        err->msg[0] = '\0';
    }
}

const char *gpn_strerror(int code)
{
    switch (code) {
    case GPN_OK: return "success";
#define GPN__ERR_STR(name, val, http, msg) case val: return msg;
    GPN_ERRNO_MAP(GPN__ERR_STR)
#undef GPN__ERR_STR
    default: return "unknown error";
    }
}

const char *gpn_errname(int code)
{
    switch (code) {
    case GPN_OK: return "OK";
#define GPN__ERR_NAME(name, val, http, msg) case val: return #name;
    GPN_ERRNO_MAP(GPN__ERR_NAME)
#undef GPN__ERR_NAME
    default: return "UNKNOWN";
    }
}

int gpn_err_http_status(int code)
{
    switch (code) {
    case GPN_OK: return 200;
#define GPN__ERR_HTTP(name, val, http, msg) case val: return http;
    GPN_ERRNO_MAP(GPN__ERR_HTTP)
#undef GPN__ERR_HTTP
    default: return 500;
    }
}

void gpn__assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, expr);
    fflush(stderr);
    abort();
}
