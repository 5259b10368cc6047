/*
 * csv.c - streaming CSV reader (see csv.h).
 *
 * The reader pulls bytes through zlib's gzread (which also reads plain files)
 * into a 64 KiB window and splits records with a small state machine. Fields
 * are collected into one growing buffer; field offsets are kept in an array
 * so that gpn_csv_field() is O(1).
 */
#include "gpn/csv.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "gpn/util.h"

struct gpn_csv {
    gzFile gz;
    char path[1024];
    char delim;
    unsigned char in[65536];
    int in_len, in_pos;
    int eof;
    long line;        /* current physical line (1-based) */
    long rec_line;    /* line where the current record started */
    struct gpn_buf text;
    size_t *offs;     /* (nf) start of each field in text */
    int nf, cap_f;
    char **header;    /* (nh) owned copies */
    int nh;
    int pending_cr;
};

static int getc_(struct gpn_csv *c)
{
    if (c->in_pos >= c->in_len) {
        if (c->eof) return -1;
        int n = gzread(c->gz, c->in, sizeof c->in);
        if (n <= 0) {
            c->eof = 1;
            return n < 0 ? -2 : -1;
        }
        c->in_len = n;
        c->in_pos = 0;
    }
    return c->in[c->in_pos++];
}

static int peekc(struct gpn_csv *c)
{
    int ch = getc_(c);
    if (ch >= 0) c->in_pos--;
    return ch;
}

static int push_field(struct gpn_csv *c)
{
    if (c->nf == c->cap_f) {
        int nc = c->cap_f ? c->cap_f * 2 : 32;
        size_t *o = realloc(c->offs, (size_t)nc * sizeof *o);
        if (!o) return GPN_ENOMEM;
        c->offs = o;
        c->cap_f = nc;
    }
    c->offs[c->nf++] = c->text.len;
    return 0;
}

/* Reads one raw record into text/offs. Returns 1, 0 at EOF, <0 on error. */
static int read_record(struct gpn_csv *c, struct gpn_err *err)
{
    for (;;) {
        gpn_buf_reset(&c->text);
        c->nf = 0;
        c->rec_line = c->line;
        int ch = getc_(c);
        if (ch == -1) return 0;
        if (ch == -2) return gpn_err_set(err, GPN_EIO, "%s:%ld: read error (truncated or corrupt file)", c->path, c->line);
        if (ch == '\n') { c->line++; continue; }            /* blank line */
        if (ch == '\r' && peekc(c) == '\n') { getc_(c); c->line++; continue; }
        if (push_field(c)) return gpn_err_set(err, GPN_ENOMEM, "%s: out of memory", c->path);
        int quoted = 0, after_quote = 0;
        for (;;) {
            if (ch == -2) return gpn_err_set(err, GPN_EIO, "%s:%ld: read error (truncated or corrupt file)", c->path, c->line);
            if (quoted) {
                if (ch == -1)
                    return gpn_err_set(err, GPN_EFORMAT, "%s:%ld: unterminated quoted field (file ends inside quotes)",
                                       c->path, c->rec_line);
                if (ch == '"') {
                    if (peekc(c) == '"') { getc_(c); gpn_buf_append(&c->text, "\"", 1); }
                    else { quoted = 0; after_quote = 1; }
                } else {
                    if (ch == '\n') c->line++;
                    gpn_buf_append(&c->text, (char *)&ch, 1);
                }
            } else if (ch == -1 || ch == '\n' || (ch == '\r' && (peekc(c) == '\n' || peekc(c) == -1))) {
                if (ch == '\r') getc_(c);
                if (ch != -1) c->line++;
                break;
            } else if (ch == c->delim) {
                gpn_buf_append(&c->text, "", 1);
                if (push_field(c)) return gpn_err_set(err, GPN_ENOMEM, "%s: out of memory", c->path);
                after_quote = 0;
            } else if (ch == '"' && c->text.len == c->offs[c->nf - 1] && !after_quote) {
                quoted = 1;
            } else {
                if (after_quote && ch != ' ')
                    return gpn_err_set(err, GPN_EFORMAT, "%s:%ld: field %d: unexpected character after closing quote",
                                       c->path, c->rec_line, c->nf);
                gpn_buf_append(&c->text, (char *)&ch, 1);
            }
            ch = getc_(c);
        }
        gpn_buf_append(&c->text, "", 1);
        if (c->text.oom) return gpn_err_set(err, GPN_ENOMEM, "%s: out of memory", c->path);
        return 1;
    }
}

int gpn_csv_open(const char *path, char delim, struct gpn_csv **out, struct gpn_err *err)
{
    *out = NULL;
    struct gpn_csv *c = calloc(1, sizeof *c);
    if (!c) return gpn_err_set(err, GPN_ENOMEM, "gpn_csv_open: out of memory");
    gpn_strlcpy(c->path, path, sizeof c->path);
    c->line = 1;
    c->gz = gzopen(path, "rb");
    if (!c->gz) {
        free(c);
        return gpn_err_set(err, GPN_ENOTFOUND, "%s: cannot open file", path);
    }
    gzbuffer(c->gz, 1 << 17);
    if (delim == 0) {
        /* Count candidate delimiters on the first line, outside quotes. */
        int n = gzread(c->gz, c->in, sizeof c->in);
        if (n < 0) {
            gpn_csv_close(c);
            return gpn_err_set(err, GPN_EIO, "%s: read error", path);
        }
        c->in_len = n;
        int counts[3] = {0, 0, 0}, q = 0;
        for (int i = 0; i < n && c->in[i] != '\n'; i++) {
            if (c->in[i] == '"') q = !q;
            if (q) continue;
            counts[0] += c->in[i] == ',';
            counts[1] += c->in[i] == ';';
            counts[2] += c->in[i] == '\t';
        }
        delim = ',';
        if (counts[1] > counts[0] && counts[1] >= counts[2]) delim = ';';
        else if (counts[2] > counts[0] && counts[2] > counts[1]) delim = '\t';
    }
    c->delim = delim;
    int rc = read_record(c, err);
    if (rc <= 0) {
        gpn_csv_close(c);
        return rc < 0 ? rc : gpn_err_set(err, GPN_EFORMAT, "%s:1: empty file, expected a header line", path);
    }
    c->header = calloc((size_t)c->nf, sizeof *c->header);
    if (!c->header) {
        gpn_csv_close(c);
        return gpn_err_set(err, GPN_ENOMEM, "gpn_csv_open: out of memory");
    }
    c->nh = c->nf;
    for (int i = 0; i < c->nf; i++) {
        const char *h = c->text.data + c->offs[i];
        if (i == 0 && (unsigned char)h[0] == 0xEF && (unsigned char)h[1] == 0xBB && (unsigned char)h[2] == 0xBF)
            h += 3; /* UTF-8 byte order mark */
        c->header[i] = strdup(h);
        if (!c->header[i]) {
            gpn_csv_close(c);
            return gpn_err_set(err, GPN_ENOMEM, "gpn_csv_open: out of memory");
        }
        gpn_strtrim(c->header[i]);
    }
    *out = c;
    return 0;
}

int gpn_csv_next(struct gpn_csv *c, struct gpn_err *err)
{
    int rc = read_record(c, err);
    if (rc <= 0) return rc;
    if (c->nf != c->nh)
        return gpn_err_set(err, GPN_EFORMAT, "%s:%ld: expected %d fields (as in the header), found %d", c->path,
                           c->rec_line, c->nh, c->nf);
    return 1;
}

void gpn_csv_close(struct gpn_csv *c)
{
    if (!c) return;
    if (c->gz) gzclose(c->gz);
    for (int i = 0; i < c->nh; i++) free(c->header[i]);
    free(c->header);
    free(c->offs);
    gpn_buf_free(&c->text);
    free(c);
}

int gpn_csv_nfields(const struct gpn_csv *c) { return c->nf; }
const char *gpn_csv_field(const struct gpn_csv *c, int i)
{
    return (i >= 0 && i < c->nf) ? c->text.data + c->offs[i] : "";
}
const char *gpn_csv_header(const struct gpn_csv *c, int i) { return (i >= 0 && i < c->nh) ? c->header[i] : ""; }

int gpn_csv_col(const struct gpn_csv *c, const char *name)
{
    for (int i = 0; i < c->nh; i++)
        if (!strcmp(c->header[i], name)) return i;
    for (int i = 0; i < c->nh; i++)
        if (!strcasecmp(c->header[i], name)) return i;
    return -1;
}

int gpn_csv_require(const struct gpn_csv *c, const char *name, int *col, struct gpn_err *err)
{
    *col = gpn_csv_col(c, name);
    if (*col >= 0) return 0;
    struct gpn_buf b = {0};
    for (int i = 0; i < c->nh && i < 20; i++) gpn_buf_printf(&b, "%s%s", i ? ", " : "", c->header[i]);
    gpn_err_set(err, GPN_EFORMAT, "%s:1: missing column '%s' (header has: %s)", c->path, name,
                b.data ? b.data : "");
    gpn_buf_free(&b);
    return GPN_EFORMAT;
}

long gpn_csv_line(const struct gpn_csv *c) { return c->rec_line; }
const char *gpn_csv_path(const struct gpn_csv *c) { return c->path; }
char gpn_csv_delim(const struct gpn_csv *c) { return c->delim; }
