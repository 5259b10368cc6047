/*
 * ckpt.c - the model file format of ckpt.h: writer, validating reader,
 * CRC-32.
 *
 * The writer collects borrowed tensors and serialises header, texts,
 * directory and 64-aligned data into one buffer, appends the CRC footer and
 * writes it atomically. The reader takes a whole file image and checks, in
 * order: size >= header + footer, footer magic, CRC, header magic, version,
 * header size, file size, then every directory entry against the data
 * section (offsets aligned, ranges inside, no overlap, nbytes consistent with
 * dtype and shape without overflow), names printable and unique. Only after
 * all checks pass does it hand out pointers. Fields are decoded byte by byte
 * (little-endian) so the code is endian-neutral and never reads unaligned.
 */
#include "gpn/ckpt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "gpn/util.h"

#define HDR_SIZE 64
#define FOOTER_SIZE 8
#define ALIGN 64
static const char MAGIC[8] = {'G', 'P', 'N', 'M', 'O', 'D', 'L', 0};
static const char FOOT_MAGIC[4] = {'G', 'P', 'N', 'E'};

size_t gpn_ckpt_dtype_size(int dtype)
{
    switch (dtype) {
    case GPN_CKPT_F32: return 4;
    case GPN_CKPT_I32: return 4;
    case GPN_CKPT_U8: return 1;
    case GPN_CKPT_I64: return 8;
    case GPN_CKPT_F64: return 8;
    default: return 0;
    }
}

uint32_t gpn_crc32(uint32_t crc, const void *data, size_t len)
{
    const Bytef *p = data;
    uLong c = crc;
    while (len > 0) {
        uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;
        c = crc32(c, p, n);
        p += n;
        len -= n;
    }
    return (uint32_t)c;
}

/* ==== little-endian helpers =============================================== */

static void put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put_u32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put_u64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static size_t align_up(size_t x) { return (x + ALIGN - 1) / ALIGN * ALIGN; }

static int name_ok(const char *s, size_t n)
{
    if (n < 1 || n > GPN_CKPT_MAX_NAME) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e) return 0;
    return 1;
}

/* nbytes of a dtype/shape, 0 with *ok = 0 on overflow or bad input. */
static size_t tensor_bytes(int dtype, int rank, const int64_t *shape, int *ok)
{
    size_t es = gpn_ckpt_dtype_size(dtype), n = 1;
    *ok = es != 0 && rank >= 0 && rank <= GPN_CKPT_MAX_RANK;
    if (!*ok) return 0;
    for (int i = 0; i < rank; i++) {
        if (shape[i] < 0 || (uint64_t)shape[i] > (uint64_t)1 << 40) { *ok = 0; return 0; }
        if (shape[i] != 0 && n > SIZE_MAX / (size_t)shape[i]) { *ok = 0; return 0; }
        n *= (size_t)shape[i];
    }
    if (n > SIZE_MAX / es) { *ok = 0; return 0; }
    return n * es;
}

/* ==== writer ============================================================== */

struct gpn_ckpt_writer {
    char kind[GPN_CKPT_MAX_KIND + 1];
    char *config;
    struct gpn_ckpt_tensor *t;
    int n, cap;
};

int gpn_ckpt_writer_create(const char *kind, const char *config_json, struct gpn_ckpt_writer **out,
                           struct gpn_err *err)
{
    *out = NULL;
    if (!kind || strlen(kind) > GPN_CKPT_MAX_KIND || !name_ok(kind, strlen(kind)))
        return gpn_err_set(err, GPN_EINVAL, "gpn_ckpt_writer_create: bad kind");
    struct gpn_ckpt_writer *w = calloc(1, sizeof *w);
    if (!w) return gpn_err_set(err, GPN_ENOMEM, "gpn_ckpt_writer_create: out of memory");
    gpn_strlcpy(w->kind, kind, sizeof w->kind);
    w->config = strdup(config_json ? config_json : "");
    if (!w->config) {
        free(w);
        return gpn_err_set(err, GPN_ENOMEM, "gpn_ckpt_writer_create: out of memory");
    }
    *out = w;
    return 0;
}

void gpn_ckpt_writer_destroy(struct gpn_ckpt_writer *w)
{
    if (!w) return;
    free(w->config);
    free(w->t);
    free(w);
}

int gpn_ckpt_writer_add(struct gpn_ckpt_writer *w, const char *name, int dtype, int rank, const int64_t *shape,
                        const void *data, struct gpn_err *err)
{
    size_t nl = name ? strlen(name) : 0;
    if (!name_ok(name ? name : "", nl))
        return gpn_err_set(err, GPN_EINVAL, "gpn_ckpt_writer_add: bad tensor name '%s'", name ? name : "(null)");
    for (int i = 0; i < w->n; i++)
        if (!strcmp(w->t[i].name, name))
            return gpn_err_set(err, GPN_EEXISTS, "gpn_ckpt_writer_add: duplicate tensor '%s'", name);
    int ok;
    size_t nb = tensor_bytes(dtype, rank, shape, &ok);
    if (!ok) return gpn_err_set(err, GPN_EINVAL, "gpn_ckpt_writer_add: '%s': bad dtype, rank or shape", name);
    if (nb > 0 && !data) return gpn_err_set(err, GPN_EINVAL, "gpn_ckpt_writer_add: '%s': NULL data", name);
    if (w->n == w->cap) {
        int nc = w->cap ? 2 * w->cap : 32;
        void *p = realloc(w->t, (size_t)nc * sizeof *w->t);
        if (!p) return gpn_err_set(err, GPN_ENOMEM, "gpn_ckpt_writer_add: out of memory");
        w->t = p;
        w->cap = nc;
    }
    struct gpn_ckpt_tensor *t = &w->t[w->n++];
    memset(t, 0, sizeof *t);
    memcpy(t->name, name, nl + 1);
    t->dtype = dtype;
    t->rank = rank;
    for (int i = 0; i < rank; i++) t->shape[i] = shape[i];
    t->nbytes = nb;
    t->data = data;
    return 0;
}

int gpn_ckpt_writer_serialize(const struct gpn_ckpt_writer *w, uint8_t **buf, size_t *len, struct gpn_err *err)
{
    size_t kl = strlen(w->kind), cl = strlen(w->config);
    size_t dir = 0;
    for (int i = 0; i < w->n; i++) dir += 2 + strlen(w->t[i].name) + 2 + 8 * (size_t)w->t[i].rank + 16;
    size_t dir_off = HDR_SIZE + kl + cl;
    size_t data_off = align_up(dir_off + dir), data_size = 0;
    for (int i = 0; i < w->n; i++) data_size = align_up(data_size) + w->t[i].nbytes;
    size_t total = data_off + align_up(data_size) + FOOTER_SIZE;
    uint8_t *b = calloc(1, total);
    if (!b) return gpn_err_set(err, GPN_ENOMEM, "gpn_ckpt_writer_serialize: out of memory (%zu bytes)", total);
    memcpy(b, MAGIC, 8);
    put_u32(b + 8, GPN_CKPT_VERSION);
    put_u32(b + 12, HDR_SIZE);
    put_u64(b + 16, total);
    put_u32(b + 24, (uint32_t)w->n);
    put_u32(b + 28, (uint32_t)kl);
    put_u64(b + 32, cl);
    put_u64(b + 40, dir_off);
    put_u64(b + 48, data_off);
    memcpy(b + HDR_SIZE, w->kind, kl);
    memcpy(b + HDR_SIZE + kl, w->config, cl);
    uint8_t *p = b + dir_off;
    size_t off = 0;
    for (int i = 0; i < w->n; i++) {
        const struct gpn_ckpt_tensor *t = &w->t[i];
        size_t nl = strlen(t->name);
        put_u16(p, (uint16_t)nl);
        memcpy(p + 2, t->name, nl);
        p += 2 + nl;
        p[0] = (uint8_t)t->dtype;
        p[1] = (uint8_t)t->rank;
        p += 2;
        for (int r = 0; r < t->rank; r++, p += 8) put_u64(p, (uint64_t)t->shape[r]);
        off = align_up(off);
        put_u64(p, off);
        put_u64(p + 8, t->nbytes);
        p += 16;
        if (t->nbytes) memcpy(b + data_off + off, t->data, t->nbytes);
        off += t->nbytes;
    }
    uint32_t crc = gpn_crc32(0, b, total - FOOTER_SIZE);
    put_u32(b + total - FOOTER_SIZE, crc);
    memcpy(b + total - 4, FOOT_MAGIC, 4);
    *buf = b;
    *len = total;
    return 0;
}

int gpn_ckpt_writer_write(const struct gpn_ckpt_writer *w, const char *path, struct gpn_err *err)
{
    uint8_t *b;
    size_t n;
    int rc = gpn_ckpt_writer_serialize(w, &b, &n, err);
    if (rc) return rc;
    rc = gpn_file_write_atomic(path, b, n, err);
    free(b);
    return rc;
}

/* ==== reader ============================================================== */

struct gpn_ckpt {
    uint8_t *image;   /* the whole file, owned */
    size_t len;
    char *kind;       /* NUL-terminated copies */
    char *config;
    struct gpn_ckpt_tensor *t;
    int n;
};

void gpn_ckpt_close(struct gpn_ckpt *ck)
{
    if (!ck) return;
    free(ck->image);
    free(ck->kind);
    free(ck->config);
    free(ck->t);
    free(ck);
}

#define BAD(...) do { rc = gpn_err_set(err, GPN_EFORMAT, __VA_ARGS__); goto fail; } while (0)

/* Takes ownership of image (freed on failure too). */
static int parse_owned(uint8_t *image, size_t len, const char *what, struct gpn_ckpt **out, struct gpn_err *err)
{
    int rc = 0;
    *out = NULL;
    struct gpn_ckpt *ck = calloc(1, sizeof *ck);
    if (!ck) {
        free(image);
        return gpn_err_set(err, GPN_ENOMEM, "%s: out of memory", what);
    }
    ck->image = image;
    ck->len = len;
    if (len < HDR_SIZE + FOOTER_SIZE) BAD("%s: file too short (%zu bytes) for a model file", what, len);
    if (memcmp(image, MAGIC, 8)) BAD("%s: not a geoplantnet model file (bad magic)", what);
    if (memcmp(image + len - 4, FOOT_MAGIC, 4)) BAD("%s: truncated model file (no footer)", what);
    uint32_t version = get_u32(image + 8);
    if (version > GPN_CKPT_VERSION) {
        rc = gpn_err_set(err, GPN_EUNSUPPORTED, "%s: model format version %u is newer than this program's (%d)",
                         what, version, GPN_CKPT_VERSION);
        goto fail;
    }
    if (version < 1) BAD("%s: bad format version %u", what, version);
    if (get_u64(image + 16) != len) BAD("%s: file size %zu does not match the header's %llu (truncated?)", what,
                                        len, (unsigned long long)get_u64(image + 16));
    uint32_t crc = gpn_crc32(0, image, len - FOOTER_SIZE);
    if (crc != get_u32(image + len - FOOTER_SIZE)) {
        rc = gpn_err_set(err, GPN_ECHECKSUM, "%s: checksum mismatch (file corrupt)", what);
        goto fail;
    }
    if (get_u32(image + 12) != HDR_SIZE) BAD("%s: bad header size", what);
    uint32_t nt = get_u32(image + 24), kl = get_u32(image + 28);
    uint64_t cl = get_u64(image + 32), dir_off = get_u64(image + 40), data_off = get_u64(image + 48);
    size_t body_end = len - FOOTER_SIZE;
    if (kl > GPN_CKPT_MAX_KIND || cl > body_end || dir_off != HDR_SIZE + kl + cl || data_off % ALIGN ||
        data_off < dir_off || data_off > body_end)
        BAD("%s: inconsistent header offsets", what);
    if (nt > (body_end - dir_off) / 20 + 1) BAD("%s: tensor count %u too large for the file", what, nt);
    ck->kind = malloc((size_t)kl + 1);
    ck->config = malloc((size_t)cl + 1);
    ck->t = calloc(nt ? nt : 1, sizeof *ck->t);
    if (!ck->kind || !ck->config || !ck->t) {
        rc = gpn_err_set(err, GPN_ENOMEM, "%s: out of memory", what);
        goto fail;
    }
    memcpy(ck->kind, image + HDR_SIZE, kl);
    ck->kind[kl] = 0;
    memcpy(ck->config, image + HDR_SIZE + kl, cl);
    ck->config[cl] = 0;
    if (strlen(ck->config) != cl) BAD("%s: NUL byte inside the config text", what);
    if (!name_ok(ck->kind, kl)) BAD("%s: bad kind string", what);
    const uint8_t *p = image + dir_off, *end = image + data_off;
    size_t data_size = body_end - data_off;
    uint64_t prev_end = 0;
    for (uint32_t i = 0; i < nt; i++) {
        struct gpn_ckpt_tensor *t = &ck->t[i];
        if (end - p < 2) BAD("%s: directory truncated at tensor %u", what, i);
        size_t nl = get_u16(p);
        p += 2;
        if ((size_t)(end - p) < nl + 2) BAD("%s: directory truncated at tensor %u", what, i);
        if (!name_ok((const char *)p, nl)) BAD("%s: tensor %u has a bad name", what, i);
        memcpy(t->name, p, nl);
        t->name[nl] = 0;
        p += nl;
        t->dtype = p[0];
        t->rank = p[1];
        p += 2;
        if (t->rank > GPN_CKPT_MAX_RANK) BAD("%s: tensor '%s': rank %d > %d", what, t->name, t->rank, GPN_CKPT_MAX_RANK);
        if ((size_t)(end - p) < 8 * (size_t)t->rank + 16) BAD("%s: directory truncated at tensor '%s'", what, t->name);
        for (int r = 0; r < t->rank; r++, p += 8) {
            uint64_t s = get_u64(p);
            if (s > (uint64_t)1 << 40) BAD("%s: tensor '%s': dimension too large", what, t->name);
            t->shape[r] = (int64_t)s;
        }
        uint64_t off = get_u64(p), nb = get_u64(p + 8);
        p += 16;
        int ok;
        size_t want = tensor_bytes(t->dtype, t->rank, t->shape, &ok);
        if (!ok) BAD("%s: tensor '%s': bad dtype %d or shape", what, t->name, t->dtype);
        if (nb != want) BAD("%s: tensor '%s': %llu bytes for its shape needs %zu", what, t->name,
                            (unsigned long long)nb, want);
        if (off % ALIGN || off > data_size || nb > data_size - off)
            BAD("%s: tensor '%s': data outside the file", what, t->name);
        if (off < prev_end) BAD("%s: tensor '%s': data overlaps the previous tensor", what, t->name);
        prev_end = off + nb;
        t->nbytes = (size_t)nb;
        t->data = image + data_off + off;
        for (uint32_t j = 0; j < i; j++)
            if (!strcmp(ck->t[j].name, t->name)) BAD("%s: duplicate tensor name '%s'", what, t->name);
    }
    ck->n = (int)nt;
    *out = ck;
    return 0;
fail:
    gpn_ckpt_close(ck);
    return rc;
}

int gpn_ckpt_parse(const uint8_t *buf, size_t len, struct gpn_ckpt **out, struct gpn_err *err)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) return gpn_err_set(err, GPN_ENOMEM, "gpn_ckpt_parse: out of memory");
    if (len) memcpy(copy, buf, len);
    return parse_owned(copy, len, "gpn_ckpt_parse", out, err);
}

int gpn_ckpt_open(const char *path, struct gpn_ckpt **out, struct gpn_err *err)
{
    char *data;
    size_t len;
    *out = NULL;
    int rc = gpn_file_read(path, &data, &len, err);
    if (rc) return rc;
    return parse_owned((uint8_t *)data, len, path, out, err);
}

const char *gpn_ckpt_kind(const struct gpn_ckpt *ck) { return ck->kind; }
const char *gpn_ckpt_config(const struct gpn_ckpt *ck) { return ck->config; }
int gpn_ckpt_count(const struct gpn_ckpt *ck) { return ck->n; }

const struct gpn_ckpt_tensor *gpn_ckpt_tensor_at(const struct gpn_ckpt *ck, int i)
{
    return i >= 0 && i < ck->n ? &ck->t[i] : NULL;
}

const struct gpn_ckpt_tensor *gpn_ckpt_find(const struct gpn_ckpt *ck, const char *name)
{
    for (int i = 0; i < ck->n; i++)
        if (!strcmp(ck->t[i].name, name)) return &ck->t[i];
    return NULL;
}

static void shape_str(char *buf, size_t n, int rank, const int64_t *shape)
{
    size_t k = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < rank && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < n) snprintf(buf + k, n - k, ")");
}

const void *gpn_ckpt_expect(const struct gpn_ckpt *ck, const char *name, int dtype, int rank,
                            const int64_t *shape, struct gpn_err *err)
{
    const struct gpn_ckpt_tensor *t = gpn_ckpt_find(ck, name);
    if (!t) {
        gpn_err_set(err, GPN_EFORMAT, "model file: tensor '%s' missing", name);
        return NULL;
    }
    int same = t->dtype == dtype && t->rank == rank;
    for (int i = 0; same && i < rank; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char a[128], b[128];
        shape_str(a, sizeof a, t->rank, t->shape);
        shape_str(b, sizeof b, rank, shape);
        gpn_err_set(err, GPN_EFORMAT, "model file: tensor '%s' is dtype %d shape %s, expected dtype %d shape %s",
                    name, t->dtype, a, dtype, b);
        return NULL;
    }
    return t->data;
}
