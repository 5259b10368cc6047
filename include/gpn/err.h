/*
 * err.h - error codes, error context and always-on assertions.
 *
 * Every fallible library function returns int: 0 for success, a negative
 * GPN_E* code on failure (libuv style). Detail travels in a caller-owned
 * struct gpn_err filled by gpn_err_set(); messages start with the name of
 * the function (or file:line for input errors) that detected the problem.
 * The code table is one X-macro, so names, messages and HTTP statuses cannot
 * drift apart. Only apps/ may call exit().
 */
#ifndef GPN_ERR_H
#define GPN_ERR_H

#include <stdarg.h>
#include <stddef.h>

/* XX(NAME, value, http_status, message) */
#define GPN_ERRNO_MAP(XX)                                                   \
    XX(NOMEM,       -1, 500, "out of memory")                               \
    XX(INVAL,       -2, 400, "invalid argument")                            \
    XX(IO,          -3, 500, "input/output error")                          \
    XX(NOTFOUND,    -4, 404, "not found")                                   \
    XX(FORMAT,      -5, 400, "malformed input")                             \
    XX(RANGE,       -6, 400, "value out of range")                          \
    XX(EXISTS,      -7, 409, "already exists")                              \
    XX(UNSUPPORTED, -8, 400, "not supported")                               \
    XX(LIB,         -9, 500, "external library error")                      \
    XX(TOOBIG,     -10, 413, "too large")                                   \
    XX(TIMEOUT,    -11, 503, "timed out")                                   \
    XX(NORESULT,   -12, 204, "no result")                                   \
    XX(INTERNAL,   -13, 500, "internal error")                              \
    XX(STATE,      -14, 409, "wrong state")                                 \
    XX(CHECKSUM,   -15, 400, "checksum mismatch")

enum gpn_errno {
    GPN_OK = 0,
#define GPN__ERR_ENUM(name, val, http, msg) GPN_E##name = val,
    GPN_ERRNO_MAP(GPN__ERR_ENUM)
#undef GPN__ERR_ENUM
};

#define GPN_ERR_MSG_MAX 512

/* An error context: a code and a human message. Caller-owned, usually on the
 * stack; zero-initialise or gpn_err_clear() before use. */
struct gpn_err {
    int code;
    char msg[GPN_ERR_MSG_MAX];
};

#if defined(__GNUC__)
#define GPN_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define GPN_NORETURN __attribute__((noreturn))
#else
#define GPN_PRINTF(f, a)
#define GPN_NORETURN
#endif

/* Sets err (when not NULL) to code and the formatted message. Returns code,
 * so callers can write `return gpn_err_set(err, GPN_EINVAL, "...")`. */
int gpn_err_set(struct gpn_err *err, int code, const char *fmt, ...) GPN_PRINTF(3, 4);
int gpn_err_setv(struct gpn_err *err, int code, const char *fmt, va_list ap);

/* Prepends "prefix: " to an existing message (keeps the code). Returns code. */
int gpn_err_prefix(struct gpn_err *err, const char *fmt, ...) GPN_PRINTF(2, 3);

void gpn_err_clear(struct gpn_err *err);

/* Static strings for a code; unknown codes give "unknown error". */
const char *gpn_strerror(int code);
const char *gpn_errname(int code);
/* HTTP status for a code (500 for unknown codes, 200 for GPN_OK). */
int gpn_err_http_status(int code);

/* Always-on assertion for programmer errors (not for bad input). */
GPN_NORETURN void gpn__assert_fail(const char *expr, const char *file, int line);
#define GPN_ASSERT(x) \
    do { if (!(x)) gpn__assert_fail(#x, __FILE__, __LINE__); } while (0)

#endif
