/*
 * store.c - the assemblage store (store.h): per meta-tile Roaring bitmaps of
 * each species' present cells, their file format, a bounds-checked zero-copy
 * reader and a writer.
 *
 * Why not deserialise with CRoaring at read time: a report touches every
 * species of every tile it overlaps (5,000 species x 16 tiles for a 10,000
 * km2 area), and deserialising copies every container. The portable format
 * is simple and fixed (RoaringFormatSpec), so the reader indexes the
 * containers of each bitmap once at open (validating every length against
 * the file size) and the counting kernels read the mapped bytes in place.
 * CRoaring is used for writing (run-optimisation, serialisation) and as an
 * independent decoder in tests.
 *
 * Portable Roaring format, as parsed here (all little-endian):
 *   cookie u32: 12347 | (ncontainers - 1) << 16  -> has run containers, then
 *               a bitset of (n + 7) / 8 bytes marking which containers are runs;
 *            or 12346 followed by u32 ncontainers -> no run containers.
 *   n x (u16 key, u16 cardinality - 1)
 *   n x u32 offset (byte offset of each container from the bitmap start),
 *     present unless (has runs and n < 4).
 *   containers: run: u16 nruns, nruns x (u16 start, u16 length - 1);
 *               array (cardinality <= 4096): cardinality x u16;
 *               bitset: 1024 x u64.
 * A tile holds cells 0..249,999, so keys are 0..3 (at most 4 containers).
 *
 * File layout (docs/formats.md, "Assemblage store"):
 *   header (64 bytes)   magic "GPNROAR\n", u32 version, u32 header size,
 *                       i32 e_km, i32 n_km, u32 n species, u32 tile cells,
 *                       u64 directory offset, u64 file size, u32 dir CRC,
 *                       u32 header CRC (of bytes 0..51), u64 payload offset
 *   directory (n x 24)  u32 species id, u32 cardinality, u64 offset, u64 size
 *                       sorted by strictly increasing species id
 *   payload             portable bitmaps, each at an 8-byte aligned offset
 *   trailer (16 bytes)  u32 CRC-32 of all bytes before it, u32 0, "GPNREND\n"
 */
#define _GNU_SOURCE
#include "gpn/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <roaring/roaring.h>

#include "gpn/util.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "store.c reads little-endian files in place: port the loads for big-endian hosts"
#endif

#define HDR_SIZE 64
#define DIR_ENTRY 24
#define TRAILER 16
#define COOKIE_RUN 12347u
#define COOKIE_NORUN 12346u
#define TILE_CONTAINERS 4 /* 250,000 cells < 4 * 65,536 */

static const char MAGIC[8] = {'G', 'P', 'N', 'R', 'O', 'A', 'R', '\n'};
static const char END_MAGIC[8] = {'G', 'P', 'N', 'R', 'E', 'N', 'D', '\n'};

/* ==== little-endian loads and stores =================================== */

static inline uint16_t rd16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}
static inline uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static inline uint64_t rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}
static inline void wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void wr64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static uint32_t crc32_buf(const uint8_t *p, size_t n)
{
    uLong c = crc32(0L, Z_NULL, 0);
    while (n > 0) {
        uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, p, chunk);
        p += chunk;
        n -= chunk;
    }
    return (uint32_t)c;
}

/* ==== cell masks ======================================================== */

static void cellmask_finish(struct gpn_cellmask *m)
{
    uint32_t r = 0;
    m->wlo = GPN_CELLMASK_WORDS;
    m->whi = 0;
    for (uint32_t w = 0; w < GPN_CELLMASK_WORDS; w++) {
        m->rank[w] = r;
        if (m->bits[w]) {
            if (m->wlo == GPN_CELLMASK_WORDS) m->wlo = w;
            m->whi = w;
            r += (uint32_t)__builtin_popcountll(m->bits[w]);
        }
    }
    m->rank[GPN_CELLMASK_WORDS] = r;
    m->count = r;
    for (uint32_t k = 0; k < 4; k++) {
        uint32_t cells = k < 3 ? 65536 : GPN_STORE_TILE_CELLS - 3 * 65536;
        uint32_t end = k < 3 ? (k + 1) * 1024 : GPN_CELLMASK_WORDS;
        m->full[k] = m->rank[end] - m->rank[k * 1024] == cells;
    }
    if (r == 0) {
        m->wlo = 1;
        m->whi = 0;
    }
}

void gpn_cellmask_from_u8(struct gpn_cellmask *m, const uint8_t *mask)
{
    memset(m->bits, 0, sizeof m->bits);
    for (uint32_t i = 0; i < GPN_STORE_TILE_CELLS; i++)
        if (mask[i]) m->bits[i >> 6] |= 1ull << (i & 63);
    cellmask_finish(m);
}

void gpn_cellmask_from_cells(struct gpn_cellmask *m, const uint32_t *cells, size_t n)
{
    memset(m->bits, 0, sizeof m->bits);
    for (size_t i = 0; i < n; i++)
        if (cells[i] < GPN_STORE_TILE_CELLS) m->bits[cells[i] >> 6] |= 1ull << (cells[i] & 63);
    cellmask_finish(m);
}

int gpn_cellmask_has(const struct gpn_cellmask *m, uint32_t cell)
{
    if (cell >= GPN_STORE_TILE_CELLS) return 0;
    return (int)((m->bits[cell >> 6] >> (cell & 63)) & 1);
}

/* ==== reader ============================================================ */

enum { CT_ARRAY = 1, CT_BITSET = 2, CT_RUN = 3 };

/* One container of one bitmap, located in the mapped file. */
struct cont {
    uint64_t data;  /* byte offset of the container's payload in the file */
    uint32_t n;     /* array: values; bitset: cardinality; run: number of runs */
    uint32_t card;  /* cells (from the container header) */
    uint16_t key;   /* high 16 bits of its cells (0..3) */
    uint8_t type;   /* CT_* */
};

struct entry {
    uint32_t id;
    uint32_t card;
    uint32_t c0;    /* first container in conts */
    uint32_t nc;    /* containers (0..4) */
};

struct gpn_store {
    const uint8_t *base;
    size_t len;
    int mapped;     /* 1: base is our mmap */
    struct gpn_tile tile;
    size_t n;
    struct entry *ents;   /* (n) */
    struct cont *conts;   /* (total containers) */
};

/* Parses the portable bitmap at [off, off + size) of the file, appending
 * its containers to conts. Checks every length against size. */
static int parse_bitmap(const uint8_t *base, uint64_t off, uint64_t size, uint32_t id, uint32_t card,
                        struct cont *conts, uint32_t *nconts, struct gpn_err *err)
{
    const uint8_t *p = base + off;
    uint64_t pos = 0;
    if (size < 4) return gpn_err_set(err, GPN_EFORMAT, "gpn_store_open: species %u: bitmap of %llu bytes", id,
                                     (unsigned long long)size);
    uint32_t cookie = rd32(p);
    uint32_t n;
    int has_run;
    const uint8_t *runbits = NULL;
    if ((cookie & 0xFFFFu) == COOKIE_RUN) {
        has_run = 1;
        n = (cookie >> 16) + 1;
        pos = 4;
        if (n > TILE_CONTAINERS) goto bad_count;
        if (pos + (n + 7) / 8 > size) goto truncated;
        runbits = p + pos;
        pos += (n + 7) / 8;
    } else if (cookie == COOKIE_NORUN) {
        has_run = 0;
        if (size < 8) goto truncated;
        n = rd32(p + 4);
        pos = 8;
        if (n > TILE_CONTAINERS) goto bad_count;
    } else {
        return gpn_err_set(err, GPN_EFORMAT, "gpn_store_open: species %u: not a portable Roaring bitmap (cookie %u)",
                           id, cookie);
    }
    if (pos + 4ull * n > size) goto truncated;
    const uint8_t *desc = p + pos;
    pos += 4ull * n;
    const uint8_t *offs = NULL;
    if (!has_run || n >= 4) {
        if (pos + 4ull * n > size) goto truncated;
        offs = p + pos;
        pos += 4ull * n;
    }
    uint64_t total = 0;
    int prev_key = -1;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t key = rd16(desc + 4 * i);
        uint32_t c = (uint32_t)rd16(desc + 4 * i + 2) + 1;
        if ((int)key <= prev_key || key >= TILE_CONTAINERS)
            return gpn_err_set(err, GPN_EFORMAT, "gpn_store_open: species %u: container key %u out of order or range",
                               id, key);
        prev_key = (int)key;
        if (offs && rd32(offs + 4 * i) != pos)
            return gpn_err_set(err, GPN_EFORMAT, "gpn_store_open: species %u: container offset %u, expected %llu", id,
                               rd32(offs + 4 * i), (unsigned long long)pos);
        struct cont *ct = &conts[*nconts];
        ct->key = (uint16_t)key;
        ct->card = c;
        if (has_run && (runbits[i / 8] >> (i % 8)) & 1) {
            if (pos + 2 > size) goto truncated;
            uint32_t nr = rd16(p + pos);
            pos += 2;
            if (pos + 4ull * nr > size) goto truncated;
            ct->type = CT_RUN;
            ct->n = nr;
            ct->data = off + pos;
            pos += 4ull * nr;
        } else if (c <= 4096) {
            if (pos + 2ull * c > size) goto truncated;
            ct->type = CT_ARRAY;
            ct->n = c;
            ct->data = off + pos;
            pos += 2ull * c;
        } else {
            if (pos + 8192 > size) goto truncated;
            ct->type = CT_BITSET;
            ct->n = c;
            ct->data = off + pos;
            pos += 8192;
        }
        total += c;
        (*nconts)++;
    }
    if (pos != size)
        return gpn_err_set(err, GPN_EFORMAT, "gpn_store_open: species %u: bitmap uses %llu of its %llu bytes", id,
                           (unsigned long long)pos, (unsigned long long)size);
    if (total != card)
        return gpn_err_set(err, GPN_EFORMAT, "gpn_store_open: species %u: directory says %u cells, bitmap %llu", id,
                           card, (unsigned long long)total);
    return 0;
bad_count:
    return gpn_err_set(err, GPN_EFORMAT, "gpn_store_open: species %u: %u containers (a tile needs at most %d)", id, n,
                       TILE_CONTAINERS);
truncated:
    return gpn_err_set(err, GPN_EFORMAT, "gpn_store_open: species %u: bitmap truncated", id);
}

/* The content checks of GPN_STORE_VERIFY: values sorted and inside the
 * tile, runs disjoint, cardinalities exact. */
static int verify_container(const uint8_t *base, const struct cont *c, uint32_t id, struct gpn_err *err)
{
    const uint8_t *d = base + c->data;
    uint32_t limit = GPN_STORE_TILE_CELLS - ((uint32_t)c->key << 16); /* values must be < limit */
    if (limit > 65536) limit = 65536;
    if (c->type == CT_ARRAY) {
        int64_t prev = -1;
        for (uint32_t i = 0; i < c->n; i++) {
            uint32_t v = rd16(d + 2 * i);
            if ((int64_t)v <= prev || v >= limit) goto bad;
            prev = v;
        }
    } else if (c->type == CT_BITSET) {
        uint64_t cnt = 0;
        for (uint32_t w = 0; w < 1024; w++) {
            uint64_t x = rd64(d + 8 * w);
            if (x && w * 64 + 63 - (uint32_t)__builtin_clzll(x) >= limit) goto bad;
            cnt += (uint64_t)__builtin_popcountll(x);
        }
        if (cnt != c->n) goto bad;
    } else {
        int64_t prev_end = -2;
        uint64_t total = 0;
        for (uint32_t i = 0; i < c->n; i++) {
            uint32_t s = rd16(d + 4 * i), l = rd16(d + 4 * i + 2);
            if ((int64_t)s <= prev_end || s + l >= limit) goto bad;
            prev_end = s + l;
            total += (uint64_t)l + 1;
        }
        if (total != c->card) goto bad;
    }
    return 0;
bad:
    return gpn_err_set(err, GPN_EFORMAT, "gpn_store_open: species %u: container %u has invalid contents", id, c->key);
}

static int store_parse(struct gpn_store *s, unsigned flags, struct gpn_err *err)
{
    const uint8_t *b = s->base;
    size_t len = s->len;
    if (len < HDR_SIZE + TRAILER || memcmp(b, MAGIC, 8) != 0)
        return gpn_err_set(err, GPN_EFORMAT, "gpn_store_open: not an assemblage store (bad magic or %zu bytes)", len);
    uint32_t version = rd32(b + 8);
    if (version > GPN_STORE_VERSION)
        return gpn_err_set(err, GPN_EUNSUPPORTED, "gpn_store_open: store version %u is newer than this program's %d",
                           version, GPN_STORE_VERSION);
    if (version == 0 || rd32(b + 12) != HDR_SIZE)
        return gpn_err_set(err, GPN_EFORMAT, "gpn_store_open: bad version or header size");
    if (crc32_buf(b, 52) != rd32(b + 52)) return gpn_err_set(err, GPN_ECHECKSUM, "gpn_store_open: header checksum");
    int32_t e_km = (int32_t)rd32(b + 16), n_km = (int32_t)rd32(b + 20);
    uint32_t n = rd32(b + 24);
    if (rd32(b + 28) != GPN_GRID_TILE_CELLS)
        return gpn_err_set(err, GPN_EFORMAT, "gpn_store_open: tiles of %u cells, expected %d", rd32(b + 28),
                           GPN_GRID_TILE_CELLS);
    if (e_km < 0 || n_km < 0 || e_km > 10000 || n_km > 10000 || e_km % 25 || n_km % 25)
        return gpn_err_set(err, GPN_EFORMAT, "gpn_store_open: bad tile corner E%d N%d", e_km, n_km);
    s->tile.e_km = e_km;
    s->tile.n_km = n_km;
    if (rd64(b + 40) != len)
        return gpn_err_set(err, GPN_EFORMAT, "gpn_store_open: file has %zu bytes, header says %llu (truncated?)", len,
                           (unsigned long long)rd64(b + 40));
    if (memcmp(b + len - 8, END_MAGIC, 8) != 0) return gpn_err_set(err, GPN_EFORMAT, "gpn_store_open: bad trailer");
    if (rd64(b + 32) != HDR_SIZE || n > (len - HDR_SIZE - TRAILER) / DIR_ENTRY)
        return gpn_err_set(err, GPN_EFORMAT, "gpn_store_open: directory of %u entries does not fit", n);
    uint64_t dir_end = HDR_SIZE + (uint64_t)n * DIR_ENTRY;
    uint64_t payload = (dir_end + 7) & ~7ull;
    if (rd64(b + 56) != payload || payload > len - TRAILER)
        return gpn_err_set(err, GPN_EFORMAT, "gpn_store_open: bad payload offset");
    if (crc32_buf(b + HDR_SIZE, (size_t)n * DIR_ENTRY) != rd32(b + 48))
        return gpn_err_set(err, GPN_ECHECKSUM, "gpn_store_open: directory checksum");
    if ((flags & GPN_STORE_VERIFY) && crc32_buf(b, len - TRAILER) != rd32(b + len - TRAILER))
        return gpn_err_set(err, GPN_ECHECKSUM, "gpn_store_open: file checksum mismatch");

    s->n = n;
    s->ents = calloc(n ? n : 1, sizeof *s->ents);
    s->conts = calloc((size_t)n * TILE_CONTAINERS + 1, sizeof *s->conts);
    if (!s->ents || !s->conts) return gpn_err_set(err, GPN_ENOMEM, "gpn_store_open: out of memory (%u species)", n);
    uint32_t nconts = 0;
    int64_t prev_id = -1;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *d = b + HDR_SIZE + (size_t)i * DIR_ENTRY;
        uint32_t id = rd32(d), card = rd32(d + 4);
        uint64_t off = rd64(d + 8), size = rd64(d + 16);
        if ((int64_t)id <= prev_id)
            return gpn_err_set(err, GPN_EFORMAT, "gpn_store_open: species id %u out of order", id);
        prev_id = id;
        if (card == 0 || card > GPN_STORE_TILE_CELLS)
            return gpn_err_set(err, GPN_EFORMAT, "gpn_store_open: species %u: %u cells", id, card);
        if (off < payload || off > len - TRAILER || size > len - TRAILER - off)
            return gpn_err_set(err, GPN_EFORMAT, "gpn_store_open: species %u: bitmap outside the file", id);
        struct entry *e = &s->ents[i];
        e->id = id;
        e->card = card;
        e->c0 = nconts;
        int rc = parse_bitmap(b, off, size, id, card, s->conts, &nconts, err);
        if (rc) return rc;
        e->nc = nconts - e->c0;
        if (flags & GPN_STORE_VERIFY) {
            for (uint32_t k = 0; k < e->nc; k++) {
                rc = verify_container(b, &s->conts[e->c0 + k], id, err);
                if (rc) return rc;
            }
            uint32_t cells_total = 0;
            for (uint32_t k = 0; k < e->nc; k++) {
                const struct cont *c = &s->conts[e->c0 + k];
                if (c->type != CT_RUN) {
                    cells_total += c->n;
                    continue;
                }
                const uint8_t *r = b + c->data;
                for (uint32_t j = 0; j < c->n; j++) cells_total += (uint32_t)rd16(r + 4 * j + 2) + 1;
            }
            if (cells_total != card)
                return gpn_err_set(err, GPN_EFORMAT, "gpn_store_open: species %u: runs hold %u cells, directory %u",
                                   id, cells_total, card);
        }
    }
    return 0;
}

int gpn_store_open_mem(const void *data, size_t len, unsigned flags, struct gpn_store **out, struct gpn_err *err)
{
    *out = NULL;
    struct gpn_store *s = calloc(1, sizeof *s);
    if (!s) return gpn_err_set(err, GPN_ENOMEM, "gpn_store_open: out of memory");
    s->base = data;
    s->len = len;
    int rc = data ? store_parse(s, flags, err)
                  : gpn_err_set(err, GPN_EINVAL, "gpn_store_open_mem: NULL buffer");
    if (rc) {
        gpn_store_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

int gpn_store_open(const char *path, unsigned flags, struct gpn_store **out, struct gpn_err *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return gpn_err_set(err, e == ENOENT ? GPN_ENOTFOUND : GPN_EIO, "gpn_store_open: %s: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return gpn_err_set(err, GPN_EIO, "gpn_store_open: %s: not a regular file", path);
    }
    if ((uint64_t)st.st_size < HDR_SIZE + TRAILER) {
        close(fd);
        return gpn_err_set(err, GPN_EFORMAT, "gpn_store_open: %s: %lld bytes is too short for a store", path,
                           (long long)st.st_size);
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED) return gpn_err_set(err, GPN_EIO, "gpn_store_open: mmap %s: %s", path, strerror(e));
    struct gpn_store *s = calloc(1, sizeof *s);
    if (!s) {
        munmap(map, (size_t)st.st_size);
        return gpn_err_set(err, GPN_ENOMEM, "gpn_store_open: out of memory");
    }
    s->base = map;
    s->len = (size_t)st.st_size;
    s->mapped = 1;
    int rc = store_parse(s, flags, err);
    if (rc) {
        gpn_err_prefix(err, "%s", path);
        gpn_store_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void gpn_store_close(struct gpn_store *s)
{
    if (!s) return;
    if (s->mapped) munmap((void *)s->base, s->len);
    free(s->ents);
    free(s->conts);
    free(s);
}

struct gpn_tile gpn_store_tile(const struct gpn_store *s) { return s->tile; }
size_t gpn_store_count(const struct gpn_store *s) { return s->n; }
uint32_t gpn_store_species_id(const struct gpn_store *s, size_t i) { return i < s->n ? s->ents[i].id : 0; }
int64_t gpn_store_cardinality(const struct gpn_store *s, size_t i) { return i < s->n ? s->ents[i].card : 0; }
size_t gpn_store_size(const struct gpn_store *s) { return s->len; }

int64_t gpn_store_find(const struct gpn_store *s, uint32_t species_id)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->ents[mid].id < species_id) lo = mid + 1;
        else hi = mid;
    }
    return (lo < s->n && s->ents[lo].id == species_id) ? (int64_t)lo : -1;
}

int gpn_store_cells(const struct gpn_store *s, size_t i, uint32_t **cells, size_t *n, struct gpn_err *err)
{
    *cells = NULL;
    *n = 0;
    if (i >= s->n) return gpn_err_set(err, GPN_EINVAL, "gpn_store_cells: entry %zu of %zu", i, s->n);
    const struct entry *e = &s->ents[i];
    uint32_t *out = malloc((size_t)e->card * sizeof *out + 1);
    if (!out) return gpn_err_set(err, GPN_ENOMEM, "gpn_store_cells: out of memory");
    size_t k = 0;
    for (uint32_t c = 0; c < e->nc; c++) {
        const struct cont *ct = &s->conts[e->c0 + c];
        const uint8_t *d = s->base + ct->data;
        uint32_t hi = (uint32_t)ct->key << 16;
        if (ct->type == CT_ARRAY) {
            for (uint32_t j = 0; j < ct->n && k < e->card; j++) out[k++] = hi | rd16(d + 2 * j);
        } else if (ct->type == CT_BITSET) {
            for (uint32_t w = 0; w < 1024; w++) {
                uint64_t x = rd64(d + 8 * w);
                while (x && k < e->card) {
                    out[k++] = hi | (w * 64 + (uint32_t)__builtin_ctzll(x));
                    x &= x - 1;
                }
            }
        } else {
            for (uint32_t j = 0; j < ct->n; j++) {
                uint32_t st = rd16(d + 4 * j), l = rd16(d + 4 * j + 2);
                for (uint32_t v = st; v <= st + l && v < 65536 && k < e->card; v++) out[k++] = hi | v;
            }
        }
    }
    *cells = out;
    *n = k;
    return 0;
}

/* ==== counting kernels ================================================== */

/* The kernels exist twice: with the POPCNT instruction (chosen at run time
 * when the CPU has it) and portable. The body is one always-inline function
 * so both copies are the same code. */

static inline __attribute__((always_inline)) uint32_t mask_rank(const struct gpn_cellmask *m, uint32_t x)
{
    /* Set bits of m below global bit x (x <= 262,144). */
    uint32_t w = x >> 6, b = x & 63;
    uint32_t r = m->rank[w];
    if (b) r += (uint32_t)__builtin_popcountll(m->bits[w] & ((1ull << b) - 1));
    return r;
}

static inline __attribute__((always_inline)) int64_t count_cont(const uint8_t *base, const struct cont *c,
                                                               const struct gpn_cellmask *m)
{
    uint32_t kw = (uint32_t)c->key * 1024; /* first mask word of this container */
    if (m->whi < kw || m->wlo > kw + 1023 || m->wlo > m->whi) return 0;
    if (m->full[c->key]) return c->card; /* the area covers the whole container */
    uint32_t a = (m->wlo > kw ? m->wlo : kw) - kw;            /* word range inside the container */
    uint32_t b = (m->whi < kw + 1023 ? m->whi : kw + 1023) - kw;
    const uint8_t *d = base + c->data;
    int64_t cnt = 0;
    if (c->type == CT_BITSET) {
        const uint64_t *mw = m->bits + kw;
        for (uint32_t w = a; w <= b; w++) cnt += __builtin_popcountll(rd64(d + 8 * w) & mw[w]);
        return cnt;
    }
    uint32_t lo = a * 64, hi = b * 64 + 63; /* value range the area spans */
    if (c->type == CT_ARRAY) {
        uint32_t l = 0, h = c->n;
        while (l < h) {
            uint32_t mid = l + (h - l) / 2;
            if (rd16(d + 2 * mid) < lo) l = mid + 1;
            else h = mid;
        }
        const uint64_t *mw = m->bits + kw;
        for (uint32_t j = l; j < c->n; j++) {
            uint32_t v = rd16(d + 2 * j);
            if (v > hi) break;
            cnt += (int64_t)((mw[v >> 6] >> (v & 63)) & 1);
        }
        return cnt;
    }
    /* Runs: the last run starting at or before lo may reach into the range. */
    uint32_t l = 0, h = c->n;
    while (l < h) {
        uint32_t mid = l + (h - l) / 2;
        if (rd16(d + 4 * mid) <= lo) l = mid + 1;
        else h = mid;
    }
    uint32_t j = l > 0 ? l - 1 : 0;
    uint32_t gbase = kw * 64;
    for (; j < c->n; j++) {
        uint32_t st = rd16(d + 4 * j);
        if (st > hi) break;
        uint32_t en = st + rd16(d + 4 * j + 2); /* inclusive, <= 131,070 */
        if (en < lo) continue;
        uint32_t s2 = st > lo ? st : lo, e2 = en < hi ? en : hi;
        cnt += mask_rank(m, gbase + e2 + 1) - mask_rank(m, gbase + s2);
    }
    return cnt;
}

static inline __attribute__((always_inline)) void count_all_body(const struct gpn_store *s,
                                                                 const struct gpn_cellmask *m, int64_t *counts)
{
    for (size_t i = 0; i < s->n; i++) {
        const struct entry *e = &s->ents[i];
        int64_t cnt = 0;
        for (uint32_t k = 0; k < e->nc; k++) cnt += count_cont(s->base, &s->conts[e->c0 + k], m);
        counts[i] = cnt;
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("popcnt"))) static void count_all_popcnt(const struct gpn_store *s,
                                                               const struct gpn_cellmask *m, int64_t *counts)
{
    count_all_body(s, m, counts);
}
static int have_popcnt(void) { return __builtin_cpu_supports("popcnt"); }
#else
static void count_all_popcnt(const struct gpn_store *s, const struct gpn_cellmask *m, int64_t *counts)
{
    count_all_body(s, m, counts);
}
static int have_popcnt(void) { return 0; }
#endif

static void count_all_generic(const struct gpn_store *s, const struct gpn_cellmask *m, int64_t *counts)
{
    count_all_body(s, m, counts);
}

void gpn_store_count_all(const struct gpn_store *s, const struct gpn_cellmask *m, int64_t *counts)
{
    if (have_popcnt()) count_all_popcnt(s, m, counts);
    else count_all_generic(s, m, counts);
}

int64_t gpn_store_count_in(const struct gpn_store *s, size_t i, const struct gpn_cellmask *m)
{
    if (i >= s->n) return 0;
    const struct entry *e = &s->ents[i];
    int64_t cnt = 0;
    for (uint32_t k = 0; k < e->nc; k++) cnt += count_cont(s->base, &s->conts[e->c0 + k], m);
    return cnt;
}

int gpn_store_tile_path(const char *atlas, struct gpn_tile t, char *buf, size_t n)
{
    char id[GPN_TILE_ID_MAX];
    gpn_tile_format(t, id, sizeof id);
    int k = snprintf(buf, n, "%s/tiles/%s/%s", atlas, id, GPN_STORE_FILENAME);
    return (k < 0 || (size_t)k >= n) ? GPN_ETOOBIG : 0;
}

/* ==== writer ============================================================ */

struct wentry {
    uint32_t id;
    roaring_bitmap_t *bm; /* NULL after drop */
};

struct gpn_store_writer {
    struct gpn_tile tile;
    struct wentry *ents; /* (n, cap) */
    size_t n, cap;
    int32_t *slots;      /* open-addressing index into ents, -1 = empty; (nslots) */
    size_t nslots;
};

static size_t hash_id(uint32_t id, size_t nslots) { return (size_t)((id * 2654435761u) & (nslots - 1)); }

int gpn_store_writer_create(struct gpn_tile t, struct gpn_store_writer **out, struct gpn_err *err)
{
    *out = NULL;
    struct gpn_store_writer *w = calloc(1, sizeof *w);
    if (!w) goto fail;
    w->tile = t;
    w->nslots = 256;
    w->slots = malloc(w->nslots * sizeof *w->slots);
    if (!w->slots) goto fail;
    for (size_t i = 0; i < w->nslots; i++) w->slots[i] = -1;
    *out = w;
    return 0;
fail:
    gpn_store_writer_destroy(w);
    return gpn_err_set(err, GPN_ENOMEM, "gpn_store_writer_create: out of memory");
}

void gpn_store_writer_destroy(struct gpn_store_writer *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->n; i++)
        if (w->ents[i].bm) roaring_bitmap_free(w->ents[i].bm);
    free(w->ents);
    free(w->slots);
    free(w);
}

/* Returns the bitmap of species_id, creating it; NULL when out of memory. */
static roaring_bitmap_t *writer_get(struct gpn_store_writer *w, uint32_t id)
{
    size_t h = hash_id(id, w->nslots);
    while (w->slots[h] >= 0) {
        struct wentry *e = &w->ents[w->slots[h]];
        if (e->id == id) {
            if (!e->bm) e->bm = roaring_bitmap_create();
            return e->bm;
        }
        h = (h + 1) & (w->nslots - 1);
    }
    if (w->n == w->cap) {
        size_t nc = w->cap ? w->cap * 2 : 64;
        struct wentry *ne = realloc(w->ents, nc * sizeof *ne);
        if (!ne) return NULL;
        w->ents = ne;
        w->cap = nc;
    }
    if ((w->n + 1) * 2 > w->nslots) {
        size_t ns = w->nslots * 2;
        int32_t *nsl = malloc(ns * sizeof *nsl);
        if (!nsl) return NULL;
        for (size_t i = 0; i < ns; i++) nsl[i] = -1;
        for (size_t i = 0; i < w->n; i++) {
            size_t k = hash_id(w->ents[i].id, ns);
            while (nsl[k] >= 0) k = (k + 1) & (ns - 1);
            nsl[k] = (int32_t)i;
        }
        free(w->slots);
        w->slots = nsl;
        w->nslots = ns;
        h = hash_id(id, ns);
        while (w->slots[h] >= 0) h = (h + 1) & (ns - 1);
    }
    roaring_bitmap_t *bm = roaring_bitmap_create();
    if (!bm) return NULL;
    w->ents[w->n].id = id;
    w->ents[w->n].bm = bm;
    w->slots[h] = (int32_t)w->n;
    w->n++;
    return bm;
}

int gpn_store_writer_add(struct gpn_store_writer *w, uint32_t species_id, uint32_t cell, struct gpn_err *err)
{
    if (cell >= GPN_STORE_TILE_CELLS)
        return gpn_err_set(err, GPN_ERANGE, "gpn_store_writer_add: cell %u outside the tile", cell);
    roaring_bitmap_t *bm = writer_get(w, species_id);
    if (!bm) return gpn_err_set(err, GPN_ENOMEM, "gpn_store_writer_add: out of memory");
    roaring_bitmap_add(bm, cell);
    return 0;
}

int gpn_store_writer_add_cells(struct gpn_store_writer *w, uint32_t species_id, const uint32_t *cells, size_t n,
                               struct gpn_err *err)
{
    for (size_t i = 0; i < n; i++)
        if (cells[i] >= GPN_STORE_TILE_CELLS)
            return gpn_err_set(err, GPN_ERANGE, "gpn_store_writer_add_cells: cell %u outside the tile", cells[i]);
    roaring_bitmap_t *bm = writer_get(w, species_id);
    if (!bm) return gpn_err_set(err, GPN_ENOMEM, "gpn_store_writer_add_cells: out of memory");
    roaring_bitmap_add_many(bm, n, cells);
    return 0;
}

int gpn_store_writer_add_range(struct gpn_store_writer *w, uint32_t species_id, uint32_t c0, uint32_t c1,
                               struct gpn_err *err)
{
    if (c0 > c1 || c1 > GPN_STORE_TILE_CELLS)
        return gpn_err_set(err, GPN_ERANGE, "gpn_store_writer_add_range: [%u, %u) outside the tile", c0, c1);
    roaring_bitmap_t *bm = writer_get(w, species_id);
    if (!bm) return gpn_err_set(err, GPN_ENOMEM, "gpn_store_writer_add_range: out of memory");
    if (c1 > c0) roaring_bitmap_add_range_closed(bm, c0, c1 - 1);
    return 0;
}

int gpn_store_writer_add_mask(struct gpn_store_writer *w, uint32_t species_id, const uint8_t *mask,
                              struct gpn_err *err)
{
    roaring_bitmap_t *bm = writer_get(w, species_id);
    if (!bm) return gpn_err_set(err, GPN_ENOMEM, "gpn_store_writer_add_mask: out of memory");
    uint32_t i = 0;
    while (i < GPN_STORE_TILE_CELLS) {
        if (!mask[i]) {
            i++;
            continue;
        }
        uint32_t j = i;
        while (j < GPN_STORE_TILE_CELLS && mask[j]) j++;
        roaring_bitmap_add_range_closed(bm, i, j - 1);
        i = j;
    }
    return 0;
}

int gpn_store_writer_load(struct gpn_store_writer *w, const struct gpn_store *s, struct gpn_err *err)
{
    if (!gpn_tile_equal(w->tile, s->tile))
        return gpn_err_set(err, GPN_EINVAL, "gpn_store_writer_load: store of another tile");
    for (size_t i = 0; i < s->n; i++) {
        uint32_t *cells;
        size_t n;
        int rc = gpn_store_cells(s, i, &cells, &n, err);
        if (rc) return rc;
        rc = gpn_store_writer_add_cells(w, s->ents[i].id, cells, n, err);
        free(cells);
        if (rc) return rc;
    }
    return 0;
}

void gpn_store_writer_drop(struct gpn_store_writer *w, uint32_t species_id)
{
    size_t h = hash_id(species_id, w->nslots);
    while (w->slots[h] >= 0) {
        struct wentry *e = &w->ents[w->slots[h]];
        if (e->id == species_id) {
            if (e->bm) roaring_bitmap_free(e->bm);
            e->bm = NULL;
            return;
        }
        h = (h + 1) & (w->nslots - 1);
    }
}

size_t gpn_store_writer_count(const struct gpn_store_writer *w)
{
    size_t k = 0;
    for (size_t i = 0; i < w->n; i++)
        if (w->ents[i].bm && !roaring_bitmap_is_empty(w->ents[i].bm)) k++;
    return k;
}

static int cmp_wentry(const void *a, const void *b)
{
    uint32_t x = ((const struct wentry *)a)->id, y = ((const struct wentry *)b)->id;
    return x < y ? -1 : x > y;
}

int gpn_store_writer_write(struct gpn_store_writer *w, const char *path, struct gpn_err *err)
{
    int rc = 0;
    uint8_t *buf = NULL;
    struct wentry *list = malloc((w->n ? w->n : 1) * sizeof *list);
    uint64_t *sizes = malloc((w->n ? w->n : 1) * sizeof *sizes);
    if (!list || !sizes) {
        rc = gpn_err_set(err, GPN_ENOMEM, "gpn_store_writer_write: out of memory");
        goto done;
    }
    size_t n = 0;
    for (size_t i = 0; i < w->n; i++)
        if (w->ents[i].bm && !roaring_bitmap_is_empty(w->ents[i].bm)) list[n++] = w->ents[i];
    gpn_qsort(list, n, sizeof *list, cmp_wentry);
    if (n > UINT32_MAX / 2) {
        rc = gpn_err_set(err, GPN_ETOOBIG, "gpn_store_writer_write: %zu species", n);
        goto done;
    }
    uint64_t payload = ((uint64_t)HDR_SIZE + (uint64_t)n * DIR_ENTRY + 7) & ~7ull;
    uint64_t total = payload;
    for (size_t i = 0; i < n; i++) {
        roaring_bitmap_run_optimize(list[i].bm);
        sizes[i] = roaring_bitmap_portable_size_in_bytes(list[i].bm);
        total = ((total + 7) & ~7ull) + sizes[i];
    }
    total += TRAILER;
    buf = calloc(1, (size_t)total);
    if (!buf) {
        rc = gpn_err_set(err, GPN_ENOMEM, "gpn_store_writer_write: out of memory (%llu bytes)",
                         (unsigned long long)total);
        goto done;
    }
    memcpy(buf, MAGIC, 8);
    wr32(buf + 8, GPN_STORE_VERSION);
    wr32(buf + 12, HDR_SIZE);
    wr32(buf + 16, (uint32_t)w->tile.e_km);
    wr32(buf + 20, (uint32_t)w->tile.n_km);
    wr32(buf + 24, (uint32_t)n);
    wr32(buf + 28, GPN_GRID_TILE_CELLS);
    wr64(buf + 32, HDR_SIZE);
    wr64(buf + 40, total);
    wr64(buf + 56, payload);
    uint64_t off = payload;
    for (size_t i = 0; i < n; i++) {
        off = (off + 7) & ~7ull;
        size_t wrote = roaring_bitmap_portable_serialize(list[i].bm, (char *)buf + off);
        if (wrote != sizes[i]) {
            rc = gpn_err_set(err, GPN_EINTERNAL, "gpn_store_writer_write: serialised %zu bytes, expected %llu", wrote,
                             (unsigned long long)sizes[i]);
            goto done;
        }
        uint8_t *d = buf + HDR_SIZE + i * DIR_ENTRY;
        wr32(d, list[i].id);
        wr32(d + 4, (uint32_t)roaring_bitmap_get_cardinality(list[i].bm));
        wr64(d + 8, off);
        wr64(d + 16, sizes[i]);
        off += sizes[i];
    }
    wr32(buf + 48, crc32_buf(buf + HDR_SIZE, n * DIR_ENTRY));
    wr32(buf + 52, crc32_buf(buf, 52));
    memcpy(buf + total - 8, END_MAGIC, 8);
    wr32(buf + total - TRAILER, crc32_buf(buf, (size_t)total - TRAILER));

    char dir[4096];
    gpn_strlcpy(dir, path, sizeof dir);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        rc = gpn_mkdir_p(dir, err);
        if (rc) goto done;
    }
    rc = gpn_file_write_atomic(path, buf, (size_t)total, err);
done:
    free(buf);
    free(list);
    free(sizes);
    return rc;
}
