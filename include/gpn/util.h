/*
 * util.h - small shared helpers: strict number parsing, an append buffer,
 * files (read whole, write atomically, mkdir -p) and paths.
 *
 * Atomic writes: a file is written to "<final>.tmp-<pid>-<n>" in the same
 * folder, flushed, fsync'ed and renamed over the final name, so a crash never
 * leaves a half-written file under the final name. Helpers that write through
 * other libraries (GDAL, SQLite) use gpn_tmp_path() + gpn_rename_atomic().
 */
#ifndef GPN_UTIL_H
#define GPN_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "gpn/err.h"

/* ==== strict parsing ==================================================== */

/* Parses the whole string s as a base-10 integer in [lo, hi]. Leading and
 * trailing blanks are allowed, nothing else. Returns 0 or GPN_EFORMAT /
 * GPN_ERANGE with a message naming `what`. */
int gpn_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out, const char *what, struct gpn_err *err);
int gpn_parse_int(const char *s, int lo, int hi, int *out, const char *what, struct gpn_err *err);
/* Parses a finite double in [lo, hi]. */
int gpn_parse_double(const char *s, double lo, double hi, double *out, const char *what, struct gpn_err *err);
/* Parses "a,b,c,d" into n doubles. */
int gpn_parse_doubles(const char *s, double *out, int n, const char *what, struct gpn_err *err);

/* ==== append buffer ===================================================== */

/* A growable byte buffer; zero-initialise, then append; free with
 * gpn_buf_free. data is always NUL-terminated when non-NULL. */
struct gpn_buf {
    char *data;
    size_t len;
    size_t cap;
    int oom; /* set once an allocation failed; later appends are no-ops */
};

int gpn_buf_reserve(struct gpn_buf *b, size_t extra);
int gpn_buf_append(struct gpn_buf *b, const void *data, size_t len);
int gpn_buf_puts(struct gpn_buf *b, const char *s);
int gpn_buf_printf(struct gpn_buf *b, const char *fmt, ...) GPN_PRINTF(2, 3);
/* Appends s escaped as the inside of a JSON string (no quotes added). */
int gpn_buf_json_str(struct gpn_buf *b, const char *s);
/* Appends s escaped for XML text and attribute values. */
int gpn_buf_xml_str(struct gpn_buf *b, const char *s);
void gpn_buf_reset(struct gpn_buf *b);
void gpn_buf_free(struct gpn_buf *b);
/* Transfers ownership of the data to the caller (free() it); b is reset. */
char *gpn_buf_steal(struct gpn_buf *b, size_t *len);

/* ==== files ============================================================= */

/* Reads a whole file; *data is malloc'ed (caller frees) and NUL-terminated. */
int gpn_file_read(const char *path, char **data, size_t *len, struct gpn_err *err);
/* Writes len bytes to path atomically (temp file + fsync + rename). */
int gpn_file_write_atomic(const char *path, const void *data, size_t len, struct gpn_err *err);
/* Fills buf with a unique temporary path beside `final`. */
int gpn_tmp_path(const char *final, char *buf, size_t n);
/* fsyncs tmp (when a regular file), renames it to final and fsyncs the folder. */
int gpn_rename_atomic(const char *tmp, const char *final, struct gpn_err *err);
/* mkdir -p with mode 0755. */
int gpn_mkdir_p(const char *path, struct gpn_err *err);
/* 1 when path exists (any type), 0 otherwise. */
int gpn_path_exists(const char *path);
int gpn_is_dir(const char *path);
/* Removes a folder tree (rm -rf). Missing path is not an error. */
int gpn_rm_rf(const char *path, struct gpn_err *err);
/* snprintf into buf of a/b; returns GPN_ETOOBIG if it does not fit. */
int gpn_path_join(char *buf, size_t n, const char *a, const char *b);

/* ==== sorting =========================================================== */

/* qsort that accepts (NULL, 0): the C standard makes qsort(NULL, 0, ...)
 * undefined and UBSan rejects it; empty and one-element arrays return. */
void gpn_qsort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *));

/* ==== strings =========================================================== */

/* Copies at most n-1 bytes and always terminates. Returns strlen(src). */
size_t gpn_strlcpy(char *dst, const char *src, size_t n);
/* Trims leading/trailing ASCII blanks in place; returns s. */
char *gpn_strtrim(char *s);
/* 1 when s ends with suffix. */
int gpn_str_endswith(const char *s, const char *suffix);

#endif
