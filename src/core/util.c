/*
 * util.c - strict parsing, append buffer, atomic files and paths (util.h).
 */
#define _GNU_SOURCE
#include "gpn/util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ==== strict parsing ==================================================== */

int gpn_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out, const char *what, struct gpn_err *err)
{
    if (!s) return gpn_err_set(err, GPN_EFORMAT, "%s: missing value", what);
    const char *p = s;
    while (*p == ' ' || *p == '\t') p++;
    if (!*p) return gpn_err_set(err, GPN_EFORMAT, "%s: empty value, expected an integer", what);
    errno = 0;
    char *end;
    long long v = strtoll(p, &end, 10);
    while (*end == ' ' || *end == '\t' || *end == '\r') end++;
    if (end == p || *end)
        return gpn_err_set(err, GPN_EFORMAT, "%s: '%s' is not an integer", what, s);
    if (errno == ERANGE || v < lo || v > hi)
        return gpn_err_set(err, GPN_ERANGE, "%s: %s is outside [%lld, %lld]", what, s, (long long)lo,
                           (long long)hi);
    *out = v;
    return 0;
}

int gpn_parse_int(const char *s, int lo, int hi, int *out, const char *what, struct gpn_err *err)
{
    int64_t v;
    int rc = gpn_parse_i64(s, lo, hi, &v, what, err);
    if (rc == 0) *out = (int)v;
    return rc;
}

int gpn_parse_double(const char *s, double lo, double hi, double *out, const char *what, struct gpn_err *err)
{
    if (!s) return gpn_err_set(err, GPN_EFORMAT, "%s: missing value", what);
    const char *p = s;
    while (*p == ' ' || *p == '\t') p++;
    if (!*p) return gpn_err_set(err, GPN_EFORMAT, "%s: empty value, expected a number", what);
    errno = 0;
    char *end;
    double v = strtod(p, &end);
    while (*end == ' ' || *end == '\t' || *end == '\r') end++;
    if (end == p || *end) return gpn_err_set(err, GPN_EFORMAT, "%s: '%s' is not a number", what, s);
    if (!isfinite(v)) return gpn_err_set(err, GPN_EFORMAT, "%s: '%s' is not a finite number", what, s);
    if (v < lo || v > hi) return gpn_err_set(err, GPN_ERANGE, "%s: %s is outside [%g, %g]", what, s, lo, hi);
    *out = v;
    return 0;
}

int gpn_parse_doubles(const char *s, double *out, int n, const char *what, struct gpn_err *err)
{
    if (!s) return gpn_err_set(err, GPN_EFORMAT, "%s: missing value", what);
    char tmp[512];
    if (gpn_strlcpy(tmp, s, sizeof tmp) >= sizeof tmp)
        return gpn_err_set(err, GPN_ETOOBIG, "%s: value too long", what);
    char *save = NULL, *tok = strtok_r(tmp, ",", &save);
    int i = 0;
    for (; tok && i < n; i++, tok = strtok_r(NULL, ",", &save)) {
        int rc = gpn_parse_double(tok, -HUGE_VAL, HUGE_VAL, &out[i], what, err);
        if (rc) return rc;
    }
    if (i != n || tok) return gpn_err_set(err, GPN_EFORMAT, "%s: expected %d comma-separated numbers in '%s'", what, n, s);
    return 0;
}

/* ==== append buffer ===================================================== */

int gpn_buf_reserve(struct gpn_buf *b, size_t extra)
{
    if (b->oom) return GPN_ENOMEM;
    if (b->len + extra + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) {
        if (cap > SIZE_MAX / 2) { b->oom = 1; return GPN_ENOMEM; }
        cap *= 2;
    }
    char *d = realloc(b->data, cap);
    if (!d) { b->oom = 1; return GPN_ENOMEM; }
    b->data = d;
    b->cap = cap;
    return 0;
}

int gpn_buf_append(struct gpn_buf *b, const void *data, size_t len)
{
    int rc = gpn_buf_reserve(b, len);
    if (rc) return rc;
    if (len) memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int gpn_buf_puts(struct gpn_buf *b, const char *s) { return gpn_buf_append(b, s, strlen(s)); }

int gpn_buf_printf(struct gpn_buf *b, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) { va_end(ap2); return GPN_EINTERNAL; }
    int rc = gpn_buf_reserve(b, (size_t)n);
    if (rc) { va_end(ap2); return rc; }
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    b->len += (size_t)n;
    return 0;
}

int gpn_buf_json_str(struct gpn_buf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int rc;
        switch (*p) {
        case '"': rc = gpn_buf_puts(b, "\\\""); break;
        case '\\': rc = gpn_buf_puts(b, "\\\\"); break;
        case '\n': rc = gpn_buf_puts(b, "\\n"); break;
        case '\r': rc = gpn_buf_puts(b, "\\r"); break;
        case '\t': rc = gpn_buf_puts(b, "\\t"); break;
        default:
            if (*p < 0x20) rc = gpn_buf_printf(b, "\\u%04x", *p);
            else rc = gpn_buf_append(b, p, 1);
        }
        if (rc) return rc;
    }
    return 0;
}

int gpn_buf_xml_str(struct gpn_buf *b, const char *s)
{
    for (const char *p = s; *p; p++) {
        int rc;
        switch (*p) {
        case '<': rc = gpn_buf_puts(b, "&lt;"); break;
        case '>': rc = gpn_buf_puts(b, "&gt;"); break;
        case '&': rc = gpn_buf_puts(b, "&amp;"); break;
        case '"': rc = gpn_buf_puts(b, "&quot;"); break;
        case '\'': rc = gpn_buf_puts(b, "&apos;"); break;
        default: rc = gpn_buf_append(b, p, 1);
        }
        if (rc) return rc;
    }
    return 0;
}

void gpn_buf_reset(struct gpn_buf *b)
{
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

void gpn_buf_free(struct gpn_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

char *gpn_buf_steal(struct gpn_buf *b, size_t *len)
{
    char *d = b->data;
    if (len) *len = b->len;
    memset(b, 0, sizeof *b);
    return d;
}

/* ==== files ============================================================= */

int gpn_file_read(const char *path, char **data, size_t *len, struct gpn_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return gpn_err_set(err, errno == ENOENT ? GPN_ENOTFOUND : GPN_EIO, "%s: %s", path, strerror(errno));
    struct gpn_buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (gpn_buf_append(&b, chunk, n)) {
            fclose(f);
            gpn_buf_free(&b);
            return gpn_err_set(err, GPN_ENOMEM, "%s: out of memory reading file", path);
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        gpn_buf_free(&b);
        return gpn_err_set(err, GPN_EIO, "%s: read error", path);
    }
    if (!b.data && gpn_buf_reserve(&b, 0)) return gpn_err_set(err, GPN_ENOMEM, "%s: out of memory", path);
    *data = gpn_buf_steal(&b, len);
    return 0;
}

int gpn_tmp_path(const char *final, char *buf, size_t n)
{
    static _Atomic unsigned counter = 0;
    unsigned c = atomic_fetch_add(&counter, 1);
    int k = snprintf(buf, n, "%s.tmp-%ld-%u", final, (long)getpid(), c);
    return (k < 0 || (size_t)k >= n) ? GPN_ETOOBIG : 0;
}

static void fsync_dir_of(const char *path)
{
    char dir[PATH_MAX];
    gpn_strlcpy(dir, path, sizeof dir);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else gpn_strlcpy(dir, ".", sizeof dir);
    int fd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int gpn_rename_atomic(const char *tmp, const char *final, struct gpn_err *err)
{
    int fd = open(tmp, O_RDONLY);
    if (fd >= 0) {
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) fsync(fd);
        close(fd);
    }
    if (rename(tmp, final) != 0)
        return gpn_err_set(err, GPN_EIO, "rename %s -> %s: %s", tmp, final, strerror(errno));
    fsync_dir_of(final);
    return 0;
}

int gpn_file_write_atomic(const char *path, const void *data, size_t len, struct gpn_err *err)
{
    char tmp[PATH_MAX];
    if (gpn_tmp_path(path, tmp, sizeof tmp)) return gpn_err_set(err, GPN_ETOOBIG, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return gpn_err_set(err, GPN_EIO, "%s: %s", tmp, strerror(errno));
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            return gpn_err_set(err, GPN_EIO, "%s: write: %s", path, strerror(e));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        unlink(tmp);
        return gpn_err_set(err, GPN_EIO, "%s: sync: %s", path, strerror(errno));
    }
    int rc = gpn_rename_atomic(tmp, path, err);
    if (rc) unlink(tmp);
    return rc;
}

int gpn_mkdir_p(const char *path, struct gpn_err *err)
{
    char tmp[PATH_MAX];
    if (gpn_strlcpy(tmp, path, sizeof tmp) >= sizeof tmp)
        return gpn_err_set(err, GPN_ETOOBIG, "mkdir %s: path too long", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return gpn_err_set(err, GPN_EIO, "mkdir %s: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return gpn_err_set(err, GPN_EIO, "mkdir %s: %s", tmp, strerror(errno));
    if (!gpn_is_dir(tmp)) return gpn_err_set(err, GPN_EIO, "mkdir %s: exists and is not a folder", tmp);
    return 0;
}

int gpn_path_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int gpn_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int gpn_rm_rf(const char *path, struct gpn_err *err)
{
    struct stat st;
    if (lstat(path, &st) != 0) return 0;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d) return gpn_err_set(err, GPN_EIO, "%s: %s", path, strerror(errno));
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char sub[PATH_MAX];
            if (gpn_path_join(sub, sizeof sub, path, e->d_name)) {
                closedir(d);
                return gpn_err_set(err, GPN_ETOOBIG, "%s: path too long", path);
            }
            int rc = gpn_rm_rf(sub, err);
            if (rc) {
                closedir(d);
                return rc;
            }
        }
        closedir(d);
        if (rmdir(path) != 0) return gpn_err_set(err, GPN_EIO, "rmdir %s: %s", path, strerror(errno));
    } else if (unlink(path) != 0) {
        return gpn_err_set(err, GPN_EIO, "unlink %s: %s", path, strerror(errno));
    }
    return 0;
}

int gpn_path_join(char *buf, size_t n, const char *a, const char *b)
{
    size_t la = strlen(a);
    int k = (la && a[la - 1] == '/') ? snprintf(buf, n, "%s%s", a, b) : snprintf(buf, n, "%s/%s", a, b);
    return (k < 0 || (size_t)k >= n) ? GPN_ETOOBIG : 0;
}

/* ==== sorting =========================================================== */

void gpn_qsort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    if (n > 1 && base) qsort(base, n, size, cmp);
}

/* ==== strings =========================================================== */

size_t gpn_strlcpy(char *dst, const char *src, size_t n)
{
    size_t len = strlen(src);
    if (n) {
        size_t c = len < n - 1 ? len : n - 1;
        memcpy(dst, src, c);
        dst[c] = '\0';
    }
    return len;
}

char *gpn_strtrim(char *s)
{
    char *p = s;
    while (*p && isspace((unsigned char)*p)) p++;
    if (p != s) memmove(s, p, strlen(p) + 1);
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
    return s;
}

int gpn_str_endswith(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && !strcmp(s + ls - lx, suffix);
}
