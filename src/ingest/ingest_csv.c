/*
 * ingest_csv.c - observation CSVs (GeoPlant long format and GLC23 layout)
 * into samples and (sample, species) records.
 *
 * Layouts, told apart by the header:
 *   long   has a surveyId column. One row per (surveyId, speciesId); rows
 *          with the same surveyId form one sample (a survey's multi-hot
 *          label set). Required: lon, lat, speciesId, surveyId; optional:
 *          year, patchID, timeSerieID (other columns are ignored). The
 *          GLC22 names observation_id, latitude, longitude, species_id are
 *          accepted as aliases (each GLC22 observation is one sample).
 *   glc23  has glcID or patchID but no surveyId (GLC23 ';' files:
 *          glcID;gbifID;observer;datasetName;date;dayOfYear;year;lon;lat;
 *          x_EPSG3035;y_EPSG3035;geoUncertaintyInM;speciesId;patchID;
 *          timeSerieID). Required: lon, lat, speciesId.
 *            PA rows are grouped by patchID: in GLC23 a patch is extracted
 *            once per survey (same place and date), so rows sharing a
 *            patchID are one survey. Without a patchID the key is
 *            (lon, lat, date). surveyId := patchID.
 *            PO records are grouped by observer: a record joins the first
 *            earlier sample of the same observer whose first record lies
 *            within radius_m (EPSG:3035 metres; 0 = the same point). An
 *            empty observer makes a sample of its own. surveyId := glcID of
 *            the first record.
 * Rows of one id-keyed sample must share lon/lat (else FILE:LINE error).
 * speciesId and surveyId may be written as integral floats ("6310.0").
 * EPSG:3035 coordinates come from x_EPSG3035/y_EPSG3035 when present and
 * non-empty, else from lon/lat (gpn_ingest_lonlat_to_3035).
 *
 * A small open-addressing hash map (string key -> int64) does the grouping;
 * keys live in one append buffer.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpn/csv.h"
#include "gpn/dataset.h"
#include "gpn/ingest.h"
#include "gpn/util.h"
#include "ingest_priv.h"

/* ==== string -> int64 hash map =========================================== */

struct smap_slot {
    uint64_t h;
    size_t key; /* offset into keys; SIZE_MAX = empty */
    int64_t val;
};

struct smap {
    struct smap_slot *t;
    size_t cap, n; /* cap is a power of two */
    struct gpn_buf keys;
};

static uint64_t hash_str(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static void smap_free(struct smap *m) {
    free(m->t);
    gpn_buf_free(&m->keys);
    memset(m, 0, sizeof *m);
}

static int smap_grow(struct smap *m) {
    size_t nc = m->cap ? m->cap * 2 : 1024;
    struct smap_slot *t = malloc(nc * sizeof *t);
    if (!t) return GPN_ENOMEM;
    for (size_t i = 0; i < nc; i++)
        t[i].key = SIZE_MAX;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->t[i].key == SIZE_MAX) continue;
        size_t j = m->t[i].h & (nc - 1);
        while (t[j].key != SIZE_MAX)
            j = (j + 1) & (nc - 1);
        t[j] = m->t[i];
    }
    free(m->t);
    m->t = t;
    m->cap = nc;
    return 0;
}

/* Finds key; returns a pointer to its value, or NULL. */
static int64_t *smap_get(struct smap *m, const char *key) {
    if (!m->cap) return NULL;
    size_t n = strlen(key);
    uint64_t h = hash_str(key, n);
    for (size_t j = h & (m->cap - 1);; j = (j + 1) & (m->cap - 1)) {
        if (m->t[j].key == SIZE_MAX) return NULL;
        if (m->t[j].h == h && !strcmp(m->keys.data + m->t[j].key, key)) return &m->t[j].val;
    }
}

/* Inserts or overwrites key -> val. */
static int smap_put(struct smap *m, const char *key, int64_t val) {
    int64_t *v = smap_get(m, key);
    if (v) {
        *v = val;
        return 0;
    }
    if ((m->n + 1) * 2 > m->cap && smap_grow(m)) return GPN_ENOMEM;
    size_t n = strlen(key);
    uint64_t h = hash_str(key, n);
    size_t off = m->keys.len;
    if (gpn_buf_append(&m->keys, key, n + 1)) return GPN_ENOMEM;
    size_t j = h & (m->cap - 1);
    while (m->t[j].key != SIZE_MAX)
        j = (j + 1) & (m->cap - 1);
    m->t[j].h = h;
    m->t[j].key = off;
    m->t[j].val = val;
    m->n++;
    return 0;
}

/* ==== field parsing ====================================================== */

int gpn_ingest_parse_id(const char *s, int64_t lo, int64_t hi, int64_t *out) {
    if (!s) return GPN_EFORMAT;
    while (*s == ' ' || *s == '\t')
        s++;
    if (!*s) return GPN_EFORMAT;
    char *end;
    long long v = strtoll(s, &end, 10);
    while (*end == ' ' || *end == '\t' || *end == '\r')
        end++;
    if (end != s && !*end) {
        if (v < lo || v > hi) return GPN_ERANGE;
        *out = v;
        return 0;
    }
    double d = strtod(s, &end);
    while (*end == ' ' || *end == '\t' || *end == '\r')
        end++;
    if (end == s || *end || !isfinite(d) || d != floor(d)) return GPN_EFORMAT;
    if (d < -9007199254740992.0 || d > 9007199254740992.0 || d < (double)lo || d > (double)hi)
        return GPN_ERANGE;
    *out = (int64_t)d;
    return 0;
}

static int field_id(const char *path, long line, const char *col, const char *s, int64_t lo, int64_t hi,
                    int64_t *out, struct gpn_err *err) {
    int rc = gpn_ingest_parse_id(s, lo, hi, out);
    if (rc == GPN_ERANGE)
        return gpn_err_set(err, rc,
                           "%s:%ld: %s: expected an integer in [%" PRId64 ", %" PRId64 "], found '%s'", path,
                           line, col, lo, hi, s);
    if (rc)
        return gpn_err_set(err, rc, "%s:%ld: %s: expected an integer (like 6310 or 6310.0), found '%s'", path,
                           line, col, s);
    return 0;
}

static int field_num(const char *path, long line, const char *col, const char *s, double lo, double hi,
                     double *out, struct gpn_err *err) {
    struct gpn_err e2 = {0};
    int rc = gpn_parse_double(s, lo, hi, out, col, &e2);
    if (rc == GPN_ERANGE)
        return gpn_err_set(err, rc, "%s:%ld: %s: expected a number in [%g, %g], found '%s'", path, line, col,
                           lo, hi, s);
    if (rc) return gpn_err_set(err, rc, "%s:%ld: %s: expected a number, found '%s'", path, line, col, s);
    return 0;
}

static int is_blank(const char *s) {
    while (*s == ' ' || *s == '\t' || *s == '\r')
        s++;
    return !*s;
}

/* Column `name`, else its GLC22 alias (observation_id, latitude, ...). */
static int col_any(const struct gpn_csv *c, const char *name, const char *alias) {
    int k = gpn_csv_col(c, name);
    return k >= 0 ? k : gpn_csv_col(c, alias);
}

static int require_any(const struct gpn_csv *c, const char *name, const char *alias, int *col,
                       struct gpn_err *err) {
    *col = col_any(c, name, alias);
    return *col >= 0 ? 0 : gpn_csv_require(c, name, col, err);
}

/* ==== appending ========================================================== */

static int push_sample(struct ing_data *d, const struct ing_sample *s, int64_t *idx) {
    if (d->ns == d->cap_s) {
        size_t nc = d->cap_s ? d->cap_s * 2 : 1024;
        struct ing_sample *t = realloc(d->s, nc * sizeof *t);
        if (!t) return GPN_ENOMEM;
        d->s = t;
        d->cap_s = nc;
    }
    d->s[d->ns] = *s;
    *idx = (int64_t)d->ns++;
    return 0;
}

static int push_rec(struct ing_data *d, int64_t sample, int32_t species, int file, long line) {
    if (d->nr == d->cap_r) {
        size_t nc = d->cap_r ? d->cap_r * 2 : 4096;
        struct ing_rec *t = realloc(d->r, nc * sizeof *t);
        if (!t) return GPN_ENOMEM;
        d->r = t;
        d->cap_r = nc;
    }
    d->r[d->nr++] = (struct ing_rec){sample, species, file, line};
    return 0;
}

void gpn__ingest_data_free(struct ing_data *d) {
    free(d->s);
    free(d->r);
    memset(d, 0, sizeof *d);
}

/* ==== reading one CSV ==================================================== */

enum { LAYOUT_LONG, LAYOUT_GLC23 };

struct cols {
    int lon, lat, species, survey, year, x, y, patch, ts, observer, date, glcid;
};

/* Looks up the PO cluster a record at (x, y) by `observer` joins, or -1.
 * Cells of side radius are keyed "observer\x1fcx\x1fcy" -> head sample of a
 * list chained through next[]. */
static int64_t po_cluster_find(struct smap *m, const int64_t *next, const struct ing_data *d,
                               const char *observer, double x, double y, double r, struct gpn_buf *key) {
    int64_t best = -1;
    int64_t cx = (int64_t)floor(x / r), cy = (int64_t)floor(y / r);
    for (int dy = -1; dy <= 1; dy++)
        for (int dx = -1; dx <= 1; dx++) {
            gpn_buf_reset(key);
            gpn_buf_printf(key, "%s\x1f%" PRId64 "\x1f%" PRId64, observer, cx + dx, cy + dy);
            if (key->oom) return -2;
            int64_t *head = smap_get(m, key->data);
            for (int64_t j = head ? *head : -1; j >= 0; j = next[j]) {
                double ex = d->s[j].x - x, ey = d->s[j].y - y;
                if (ex * ex + ey * ey <= r * r && (best < 0 || j < best)) best = j;
            }
        }
    return best;
}

int gpn__ingest_read_csv(struct ing_data *d, const char *path, int kind, double radius_m,
                         struct gpn_progress *prog, struct gpn_err *err) {
    if (d->nfiles >= 2) return gpn_err_set(err, GPN_EINVAL, "gpn__ingest_read_csv: at most two files");
    int file = d->nfiles++;
    gpn_strlcpy(d->files[file], path, sizeof d->files[file]);
    struct gpn_csv *c = NULL;
    struct smap map = {0};
    struct gpn_buf key = {0};
    int64_t *next = NULL; /* (ns) cluster chains for GLC23 PO, indexed by sample */
    size_t cap_next = 0;
    int rc = gpn_csv_open(path, 0, &c, err);
    if (rc) return rc;
    struct cols k;
    k.survey = col_any(c, "surveyId", "observation_id");
    k.glcid = gpn_csv_col(c, "glcID");
    k.patch = gpn_csv_col(c, "patchID");
    int layout;
    if (k.survey >= 0)
        layout = LAYOUT_LONG;
    else if (k.glcid >= 0 || k.patch >= 0)
        layout = LAYOUT_GLC23;
    else {
        rc = gpn_err_set(
            err, GPN_EFORMAT,
            "%s:1: missing column 'surveyId' (expected a GeoPlant header lon, lat, year, "
            "geoUncertaintyInM, areaInM2, region, country, speciesId, surveyId, or a GLC23 one with "
            "glcID/patchID)",
            path);
        goto done;
    }
    if ((rc = require_any(c, "lon", "longitude", &k.lon, err)) ||
        (rc = require_any(c, "lat", "latitude", &k.lat, err)) ||
        (rc = require_any(c, "speciesId", "species_id", &k.species, err)))
        goto done;
    k.year = gpn_csv_col(c, "year");
    k.ts = gpn_csv_col(c, "timeSerieID");
    k.x = gpn_csv_col(c, "x_EPSG3035");
    k.y = gpn_csv_col(c, "y_EPSG3035");
    k.observer = gpn_csv_col(c, "observer");
    k.date = gpn_csv_col(c, "date");
    int po_grouped = layout == LAYOUT_GLC23 && kind == GPN_SAMPLE_PO;
    const char *id_name = layout == LAYOUT_LONG ? "surveyId" : "patchID";
    while ((rc = gpn_csv_next(c, err)) == 1) {
        long line = gpn_csv_line(c);
        d->rows++;
        if (prog) gpn_progress_add(prog, 1);
        struct ing_sample s = {0};
        s.kind = kind;
        s.file = file;
        s.line = line;
        s.n_records = 1;
        s.patch_id = -1;
        s.ts_id = -1;
        int64_t sp;
        if ((rc = field_num(path, line, "lon", gpn_csv_field(c, k.lon), -180, 180, &s.lon, err)) ||
            (rc = field_num(path, line, "lat", gpn_csv_field(c, k.lat), -90, 90, &s.lat, err)) ||
            (rc = field_id(path, line, "speciesId", gpn_csv_field(c, k.species), 0, INT32_MAX, &sp, err)))
            goto done;
        if (k.year >= 0 && !is_blank(gpn_csv_field(c, k.year))) {
            int64_t y;
            if ((rc = field_id(path, line, "year", gpn_csv_field(c, k.year), 0, 9999, &y, err))) goto done;
            s.year = (int)y;
        }
        if (k.patch >= 0 && !is_blank(gpn_csv_field(c, k.patch)) &&
            (rc = field_id(path, line, "patchID", gpn_csv_field(c, k.patch), 0, INT64_MAX, &s.patch_id, err)))
            goto done;
        if (k.ts >= 0 && !is_blank(gpn_csv_field(c, k.ts)) &&
            (rc = field_id(path, line, "timeSerieID", gpn_csv_field(c, k.ts), 0, INT64_MAX, &s.ts_id, err)))
            goto done;
        if (k.x >= 0 && k.y >= 0 && !is_blank(gpn_csv_field(c, k.x)) && !is_blank(gpn_csv_field(c, k.y))) {
            if ((rc = field_num(path, line, "x_EPSG3035", gpn_csv_field(c, k.x), -1e7, 2e7, &s.x, err)) ||
                (rc = field_num(path, line, "y_EPSG3035", gpn_csv_field(c, k.y), -1e7, 2e7, &s.y, err)))
                goto done;
        } else {
            gpn_ingest_lonlat_to_3035(s.lon, s.lat, &s.x, &s.y);
        }
        /* The grouping key of this row. */
        gpn_buf_reset(&key);
        int64_t idx = -1;
        if (layout == LAYOUT_LONG) {
            if ((rc = field_id(path, line, "surveyId", gpn_csv_field(c, k.survey), INT64_MIN, INT64_MAX,
                               &s.survey_id, err)))
                goto done;
            gpn_buf_printf(&key, "S%" PRId64, s.survey_id);
            s.keyed = 1;
        } else if (!po_grouped) {
            if (s.patch_id >= 0) {
                s.survey_id = s.patch_id;
                gpn_buf_printf(&key, "P%" PRId64, s.patch_id);
            } else {
                /* No patchID: one survey per (lon, lat, date). The survey
                 * id is then the line of its first row. */
                s.survey_id = line;
                gpn_buf_printf(&key, "L%.9g\x1f%.9g\x1f%s", s.lon, s.lat,
                               k.date >= 0 ? gpn_csv_field(c, k.date) : "");
                id_name = "location/date";
            }
            s.keyed = 1;
        } else {
            if (k.glcid >= 0 && !is_blank(gpn_csv_field(c, k.glcid))) {
                if ((rc = field_id(path, line, "glcID", gpn_csv_field(c, k.glcid), INT64_MIN, INT64_MAX,
                                   &s.survey_id, err)))
                    goto done;
            } else {
                s.survey_id = line;
            }
            const char *obs = k.observer >= 0 ? gpn_csv_field(c, k.observer) : "";
            if (!is_blank(obs)) {
                if (radius_m > 0) {
                    idx = po_cluster_find(&map, next, d, obs, s.x, s.y, radius_m, &key);
                    if (idx == -2) goto oom;
                    gpn_buf_reset(&key);
                    gpn_buf_printf(&key, "%s\x1f%" PRId64 "\x1f%" PRId64, obs, (int64_t)floor(s.x / radius_m),
                                   (int64_t)floor(s.y / radius_m));
                } else {
                    gpn_buf_printf(&key, "%s\x1f%.3f\x1f%.3f", obs, s.x, s.y);
                    int64_t *v = smap_get(&map, key.data);
                    idx = v ? *v : -1;
                }
            }
        }
        if (key.oom) goto oom;
        if (layout == LAYOUT_LONG || !po_grouped) {
            int64_t *v = smap_get(&map, key.data);
            idx = v ? *v : -1;
            if (idx >= 0) {
                const struct ing_sample *f = &d->s[idx];
                if (fabs(f->lon - s.lon) > 1e-7 || fabs(f->lat - s.lat) > 1e-7) {
                    rc = gpn_err_set(
                        err, GPN_EFORMAT,
                        "%s:%ld: %s %" PRId64 ": expected the same lon/lat as line %ld (%.7g, %.7g), "
                        "found (%.7g, %.7g)",
                        path, line, id_name, f->survey_id, f->line, f->lon, f->lat, s.lon, s.lat);
                    goto done;
                }
            }
        }
        if (idx >= 0) {
            d->s[idx].n_records++;
        } else {
            if (push_sample(d, &s, &idx)) goto oom;
            if (po_grouped && radius_m > 0 && key.len) {
                /* New cluster seed: chain it into its cell's list. */
                if ((size_t)idx >= cap_next) {
                    size_t nc = cap_next ? cap_next * 2 : 1024;
                    while (nc <= (size_t)idx)
                        nc *= 2;
                    int64_t *t = realloc(next, nc * sizeof *t);
                    if (!t) goto oom;
                    next = t;
                    cap_next = nc;
                }
                int64_t *head = smap_get(&map, key.data);
                next[idx] = head ? *head : -1;
                if (smap_put(&map, key.data, idx)) goto oom;
            } else if (key.len && smap_put(&map, key.data, idx)) {
                goto oom;
            }
        }
        if (push_rec(d, idx, (int32_t)sp, file, line)) goto oom;
    }
    if (rc < 0) goto done;
    rc = 0;
    goto done;
oom:
    rc = gpn_err_set(err, GPN_ENOMEM, "%s: out of memory after %" PRId64 " rows", path, d->rows);
done:
    free(next);
    gpn_buf_free(&key);
    smap_free(&map);
    gpn_csv_close(c);
    return rc;
}

/* ==== records ============================================================ */

static int rec_cmp(const void *a, const void *b) {
    const struct ing_rec *x = a, *y = b;
    if (x->sample != y->sample) return x->sample < y->sample ? -1 : 1;
    if (x->species != y->species) return x->species < y->species ? -1 : 1;
    if (x->file != y->file) return x->file < y->file ? -1 : 1;
    return (x->line > y->line) - (x->line < y->line);
}

int gpn__ingest_sort_records(struct ing_data *d, struct gpn_err *err) {
    if (d->nr) gpn_qsort(d->r, d->nr, sizeof *d->r, rec_cmp);
    size_t o = 0;
    for (size_t i = 0; i < d->nr; i++) {
        if (o > 0 && d->r[o - 1].sample == d->r[i].sample && d->r[o - 1].species == d->r[i].species) {
            const struct ing_sample *s = &d->s[d->r[i].sample];
            if (s->keyed)
                return gpn_err_set(
                    err, GPN_EFORMAT,
                    "%s:%ld: duplicate row: expected each speciesId once per survey, but survey %" PRId64
                    " already lists speciesId %d on line %ld",
                    d->files[d->r[i].file], d->r[i].line, s->survey_id, (int)d->r[i].species,
                    d->r[o - 1].line);
            continue; /* grouped PO records: the same species seen again */
        }
        d->r[o++] = d->r[i];
    }
    d->nr = o;
    return 0;
}
