/*
 * npy.c - NumPy .npy reading (mmap) and writing (whole or streamed).
 *
 * Why .npy: it is the simplest self-describing array file Python reads
 * without any extra package (numpy.load), so every array the project writes
 * for training can be checked by an independent tool. The format
 * (numpy/lib/format.py, NEP 1):
 *
 *   offset 0   "\x93NUMPY"                 6-byte magic
 *   offset 6   major, minor                 1 byte each (we write 1.0)
 *   offset 8   HEADER_LEN                   uint16 LE (v1.0) / uint32 LE (v2, v3)
 *   offset 10  "{'descr': '<f4', 'fortran_order': False, 'shape': (N, 6), }"
 *              padded with spaces and ended by '\n' so that the data starts
 *              at a multiple of 64 bytes
 *   then       the elements, C order, little-endian
 *
 * The streaming writer reserves a header of GPN__NPY_HDR bytes (room for any
 * 8-d shape of 19-digit dimensions), appends rows, and rewrites the header
 * with the final first dimension at close. Since the header is always the
 * same size, the rewrite never moves the data.
 *
 * Only little-endian hosts are supported (checked at run time), so the
 * elements are written with plain write() and mapped without byte swaps.
 */
#include "gpn/dataset.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gpn/util.h"

#define GPN__NPY_HDR 256 /* total header bytes written (magic .. '\n') */

/* ==== dtype table ======================================================== */

size_t gpn_npy_dtype_size(enum gpn_npy_dtype dt) {
    switch (dt) {
    case GPN_NPY_U1:
        return 1;
    case GPN_NPY_I4:
        return 4;
    case GPN_NPY_I8:
        return 8;
    case GPN_NPY_F4:
        return 4;
    case GPN_NPY_F8:
        return 8;
    }
    return 0;
}

const char *gpn_npy_dtype_descr(enum gpn_npy_dtype dt) {
    switch (dt) {
    case GPN_NPY_U1:
        return "|u1";
    case GPN_NPY_I4:
        return "<i4";
    case GPN_NPY_I8:
        return "<i8";
    case GPN_NPY_F4:
        return "<f4";
    case GPN_NPY_F8:
        return "<f8";
    }
    return "?";
}

static int descr_parse(const char *s, enum gpn_npy_dtype *dt) {
    static const struct {
        const char *d;
        enum gpn_npy_dtype t;
    } tab[] = {
        {"|u1", GPN_NPY_U1}, {"<u1", GPN_NPY_U1}, {"u1", GPN_NPY_U1},  {"|b1", GPN_NPY_U1},
        {"<i4", GPN_NPY_I4}, {"<i8", GPN_NPY_I8}, {"<f4", GPN_NPY_F4}, {"<f8", GPN_NPY_F8},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (!strcmp(s, tab[i].d)) {
            *dt = tab[i].t;
            return 0;
        }
    return -1;
}

int64_t gpn_npy_count(const struct gpn_npy *a) {
    int64_t n = 1;
    for (int i = 0; i < a->ndim; i++)
        n *= a->shape[i];
    return n;
}

static int host_is_le(void) {
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

/* ==== header ============================================================= */

/* Formats the full header (magic to '\n') of exactly `total` bytes into
 * buf; returns 0, or -1 when the dict does not fit. */
static int header_format(char *buf, size_t total, enum gpn_npy_dtype dt, int ndim, const int64_t *shape) {
    char dict[GPN__NPY_HDR];
    int k = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                     gpn_npy_dtype_descr(dt));
    for (int i = 0; i < ndim && k > 0 && (size_t)k < sizeof dict; i++)
        k += snprintf(dict + k, sizeof dict - (size_t)k, "%" PRId64 "%s", shape[i],
                      (ndim == 1 || i + 1 < ndim) ? ", " : "");
    if (k > 0 && (size_t)k < sizeof dict) k += snprintf(dict + k, sizeof dict - (size_t)k, "), }");
    if (k <= 0 || (size_t)k + 10 + 1 > total) return -1;
    /* numpy writes "(5,)" for 1-d shapes; the trailing ", " above gives
     * "(5, )", which Python also parses, but we match numpy exactly. */
    char *p = strstr(dict, ", )");
    if (p) memmove(p + 1, p + 2, strlen(p + 2) + 1);
    size_t dl = strlen(dict);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    uint16_t hl = (uint16_t)(total - 10);
    buf[8] = (char)(hl & 0xff);
    buf[9] = (char)(hl >> 8);
    memcpy(buf + 10, dict, dl);
    memset(buf + 10 + dl, ' ', total - 10 - dl - 1);
    buf[total - 1] = '\n';
    return 0;
}

/* Parses the header dict: finds 'descr', 'fortran_order', 'shape'. */
static int dict_parse(const char *path, const char *d, struct gpn_npy *a, struct gpn_err *err) {
    const char *p = strstr(d, "'descr'");
    if (!p) return gpn_err_set(err, GPN_EFORMAT, "%s: npy header has no 'descr'", path);
    p = strchr(p + 7, '\'');
    const char *q = p ? strchr(p + 1, '\'') : NULL;
    if (!p || !q || q - p - 1 >= 16)
        return gpn_err_set(err, GPN_EFORMAT, "%s: npy header: bad 'descr'", path);
    char descr[16];
    memcpy(descr, p + 1, (size_t)(q - p - 1));
    descr[q - p - 1] = '\0';
    if (descr_parse(descr, &a->dtype))
        return gpn_err_set(err, GPN_EUNSUPPORTED,
                           "%s: npy dtype '%s' not supported (expected |u1, <i4, <i8, <f4 or <f8)", path,
                           descr);
    p = strstr(d, "'fortran_order'");
    if (!p) return gpn_err_set(err, GPN_EFORMAT, "%s: npy header has no 'fortran_order'", path);
    p += strlen("'fortran_order'");
    while (*p == ' ' || *p == ':')
        p++;
    if (!strncmp(p, "True", 4))
        return gpn_err_set(err, GPN_EUNSUPPORTED, "%s: Fortran-order npy arrays are not supported", path);
    if (strncmp(p, "False", 5))
        return gpn_err_set(err, GPN_EFORMAT, "%s: npy header: bad 'fortran_order'", path);
    p = strstr(d, "'shape'");
    if (!p) return gpn_err_set(err, GPN_EFORMAT, "%s: npy header has no 'shape'", path);
    p = strchr(p, '(');
    if (!p) return gpn_err_set(err, GPN_EFORMAT, "%s: npy header: bad 'shape'", path);
    p++;
    a->ndim = 0;
    for (;;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == ')') break;
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0 || errno)
            return gpn_err_set(err, GPN_EFORMAT, "%s: npy header: bad 'shape'", path);
        if (a->ndim == GPN_NPY_MAXDIM)
            return gpn_err_set(err, GPN_EUNSUPPORTED, "%s: npy arrays with more than %d dimensions", path,
                               GPN_NPY_MAXDIM);
        a->shape[a->ndim++] = v;
        p = end;
        while (*p == ' ')
            p++;
        if (*p != ',' && *p != ')') return gpn_err_set(err, GPN_EFORMAT, "%s: npy header: bad 'shape'", path);
    }
    return 0;
}

/* ==== reading ============================================================ */

int gpn_npy_map(const char *path, struct gpn_npy *out, struct gpn_err *err) {
    memset(out, 0, sizeof *out);
    if (!path) return gpn_err_set(err, GPN_EINVAL, "gpn_npy_map: NULL path");
    if (!host_is_le())
        return gpn_err_set(err, GPN_EUNSUPPORTED, "gpn_npy_map: big-endian hosts not supported");
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return gpn_err_set(err, errno == ENOENT ? GPN_ENOTFOUND : GPN_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return gpn_err_set(err, GPN_EIO, "%s: %s", path, strerror(e));
    }
    size_t len = (size_t)st.st_size;
    if (len < 12) {
        close(fd);
        return gpn_err_set(err, GPN_EFORMAT, "%s: not an npy file (only %zu bytes)", path, len);
    }
    void *base = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (base == MAP_FAILED) return gpn_err_set(err, GPN_EIO, "%s: mmap: %s", path, strerror(errno));
    const unsigned char *b = base;
    char *dict = NULL;
    int rc;
    if (memcmp(b, "\x93NUMPY", 6)) {
        rc = gpn_err_set(err, GPN_EFORMAT, "%s: not an npy file (bad magic)", path);
        goto fail;
    }
    size_t hstart, hlen;
    if (b[6] == 1) {
        hlen = (size_t)b[8] | (size_t)b[9] << 8;
        hstart = 10;
    } else if (b[6] == 2 || b[6] == 3) {
        hlen = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        hstart = 12;
    } else {
        rc = gpn_err_set(err, GPN_EUNSUPPORTED, "%s: npy version %d.%d not supported", path, b[6], b[7]);
        goto fail;
    }
    if (hlen > len - hstart) {
        rc = gpn_err_set(err, GPN_EFORMAT, "%s: truncated npy header", path);
        goto fail;
    }
    dict = malloc(hlen + 1);
    if (!dict) {
        rc = gpn_err_set(err, GPN_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    memcpy(dict, b + hstart, hlen);
    dict[hlen] = '\0';
    rc = dict_parse(path, dict, out, err);
    if (rc) goto fail;
    size_t data_off = hstart + hlen;
    int64_t count = gpn_npy_count(out);
    size_t es = gpn_npy_dtype_size(out->dtype);
    if (count < 0 || (uint64_t)count > (SIZE_MAX - data_off) / es) {
        rc = gpn_err_set(err, GPN_EFORMAT, "%s: npy shape too large", path);
        goto fail;
    }
    size_t need = (size_t)count * es;
    if (len - data_off < need) {
        rc = gpn_err_set(err, GPN_EFORMAT,
                         "%s: truncated npy file: header promises %zu data bytes, file has %zu", path, need,
                         len - data_off);
        goto fail;
    }
    free(dict);
    out->data = b + data_off;
    out->nbytes = need;
    out->map_base = base;
    out->map_len = len;
    return 0;
fail:
    free(dict);
    munmap(base, len);
    memset(out, 0, sizeof *out);
    return rc;
}

void gpn_npy_unmap(struct gpn_npy *a) {
    if (!a) return;
    if (a->map_base) munmap(a->map_base, a->map_len);
    memset(a, 0, sizeof *a);
}

/* ==== writing ============================================================ */

struct gpn_npy_writer {
    int fd;
    char *path;
    enum gpn_npy_dtype dt;
    int ndim;
    int64_t shape[GPN_NPY_MAXDIM];
    size_t row_bytes;
    int64_t rows;
};

static int write_all(int fd, const void *data, size_t len) {
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len > (1u << 30) ? (1u << 30) : len);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static int check_shape(const char *path, enum gpn_npy_dtype dt, int ndim, const int64_t *shape,
                       struct gpn_err *err) {
    if (!host_is_le()) return gpn_err_set(err, GPN_EUNSUPPORTED, "%s: big-endian hosts not supported", path);
    if (!gpn_npy_dtype_size(dt)) return gpn_err_set(err, GPN_EINVAL, "%s: bad npy dtype %d", path, (int)dt);
    if (ndim < 0 || ndim > GPN_NPY_MAXDIM || (ndim > 0 && !shape))
        return gpn_err_set(err, GPN_EINVAL, "%s: bad npy ndim %d", path, ndim);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0) return gpn_err_set(err, GPN_EINVAL, "%s: negative npy dimension", path);
    return 0;
}

int gpn_npy_writer_open(const char *path, enum gpn_npy_dtype dt, int ndim, const int64_t *shape,
                        struct gpn_npy_writer **out, struct gpn_err *err) {
    *out = NULL;
    if (!path) return gpn_err_set(err, GPN_EINVAL, "gpn_npy_writer_open: NULL path");
    int rc = check_shape(path, dt, ndim, shape, err);
    if (rc) return rc;
    if (ndim < 1) return gpn_err_set(err, GPN_EINVAL, "%s: a streamed npy array needs ndim >= 1", path);
    struct gpn_npy_writer *w = calloc(1, sizeof *w);
    if (!w) return gpn_err_set(err, GPN_ENOMEM, "%s: out of memory", path);
    w->fd = -1;
    w->path = strdup(path);
    if (!w->path) {
        rc = gpn_err_set(err, GPN_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    w->dt = dt;
    w->ndim = ndim;
    memcpy(w->shape, shape, (size_t)ndim * sizeof *shape);
    w->row_bytes = gpn_npy_dtype_size(dt);
    for (int i = 1; i < ndim; i++)
        w->row_bytes *= (size_t)shape[i];
    w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (w->fd < 0) {
        rc = gpn_err_set(err, GPN_EIO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    char hdr[GPN__NPY_HDR];
    w->shape[0] = 0;
    if (header_format(hdr, sizeof hdr, dt, ndim, w->shape) || write_all(w->fd, hdr, sizeof hdr)) {
        rc = gpn_err_set(err, GPN_EIO, "%s: cannot write npy header: %s", path, strerror(errno));
        goto fail;
    }
    *out = w;
    return 0;
fail:
    gpn_npy_writer_discard(w);
    return rc;
}

int gpn_npy_writer_append(struct gpn_npy_writer *w, const void *rows, int64_t nrows, struct gpn_err *err) {
    if (nrows < 0 || (nrows > 0 && !rows))
        return gpn_err_set(err, GPN_EINVAL, "gpn_npy_writer_append: bad rows");
    size_t bytes = (size_t)nrows * w->row_bytes;
    if (bytes && write_all(w->fd, rows, bytes))
        return gpn_err_set(err, GPN_EIO, "%s: write: %s", w->path, strerror(errno));
    w->rows += nrows;
    return 0;
}

int gpn_npy_writer_close(struct gpn_npy_writer *w, struct gpn_err *err) {
    if (!w) return gpn_err_set(err, GPN_EINVAL, "gpn_npy_writer_close: NULL writer");
    char hdr[GPN__NPY_HDR];
    int rc = 0;
    w->shape[0] = w->rows;
    if (header_format(hdr, sizeof hdr, w->dt, w->ndim, w->shape)) {
        rc = gpn_err_set(err, GPN_EINTERNAL, "%s: npy header does not fit", w->path);
    } else if (pwrite(w->fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr || fsync(w->fd) != 0) {
        rc = gpn_err_set(err, GPN_EIO, "%s: %s", w->path, strerror(errno));
    }
    if (close(w->fd) != 0 && !rc) rc = gpn_err_set(err, GPN_EIO, "%s: close: %s", w->path, strerror(errno));
    w->fd = -1;
    gpn_npy_writer_discard(w);
    return rc;
}

void gpn_npy_writer_discard(struct gpn_npy_writer *w) {
    if (!w) return;
    if (w->fd >= 0) close(w->fd);
    free(w->path);
    free(w);
}

int gpn_npy_write(const char *path, enum gpn_npy_dtype dt, int ndim, const int64_t *shape, const void *data,
                  struct gpn_err *err) {
    if (!path) return gpn_err_set(err, GPN_EINVAL, "gpn_npy_write: NULL path");
    int rc = check_shape(path, dt, ndim, shape, err);
    if (rc) return rc;
    size_t n = gpn_npy_dtype_size(dt);
    for (int i = 0; i < ndim; i++)
        n *= (size_t)shape[i];
    if (n && !data) return gpn_err_set(err, GPN_EINVAL, "%s: NULL data", path);
    char hdr[GPN__NPY_HDR];
    size_t hsz = 128; /* smallest multiple of 64 that fits; grows for long shapes */
    while (hsz <= sizeof hdr && header_format(hdr, hsz, dt, ndim, shape))
        hsz += 64;
    if (hsz > sizeof hdr) return gpn_err_set(err, GPN_EINTERNAL, "%s: npy header does not fit", path);
    struct gpn_buf b = {0};
    if (gpn_buf_reserve(&b, hsz + n) || gpn_buf_append(&b, hdr, hsz) || (n && gpn_buf_append(&b, data, n))) {
        gpn_buf_free(&b);
        return gpn_err_set(err, GPN_ENOMEM, "%s: out of memory", path);
    }
    rc = gpn_file_write_atomic(path, b.data, b.len, err);
    gpn_buf_free(&b);
    return rc;
}
