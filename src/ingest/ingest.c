/*
 * ingest.c - the `gpn ingest` driver (ingest.h): observation CSVs +
 * modality sources -> dataset folder.
 *
 * Passes, in order, so that every input error is found before anything is
 * renamed into place:
 *   1. read   PA then PO CSV into samples and records (ingest_csv.c)
 *   2. sort   records per sample; duplicate (survey, species) rows fail
 *   3. labels optional --species filter; the label space is the sorted set
 *             of speciesIds present in the kept samples (or the list given)
 *   4. probe  each sample's modalities (a stat or a lookup, no decoding);
 *             the missing-data policy drops, zero-fills or fails here
 *   5. write  decode kept samples in batches of INGEST_BATCH (OpenMP threads
 *             when every source is a folder; a raster source shares one
 *             GDAL handle and is read by one thread) and append them in
 *             input order to the dataset writer, which streams to
 *             "<out>.tmp-<pid>" and renames at commit
 * Memory is O(rows + samples) plus one batch of sample arrays; a
 * 90k-survey Sentinel stack never sits in memory.
 *
 * Also here: the EPSG:3035 forward projection used when a CSV has no
 * x_EPSG3035/y_EPSG3035 (closed form, see gpn_ingest_lonlat_to_3035), and
 * the spatial block hash.
 */
#include "gpn/ingest.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpn/csv.h"
#include "gpn/dataset.h"
#include "gpn/log.h"
#include "gpn/progress.h"
#include "gpn/util.h"
#include "ingest_priv.h"

/* ==== building blocks ==================================================== */

void gpn_ingest_opts_init(struct gpn_ingest_opts *o) {
    memset(o, 0, sizeof *o);
    o->block_km = 10;
    o->missing = GPN_MISSING_ERROR;
}

static uint64_t splitmix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

int32_t gpn_ingest_block_id(double x, double y, double block_m) {
    int64_t bx = (int64_t)floor(x / block_m), by = (int64_t)floor(y / block_m);
    uint64_t key = ((uint64_t)(uint32_t)bx << 32) | (uint64_t)(uint32_t)by;
    return (int32_t)(splitmix64(key) >> 33);
}

/* q(phi) of the IOGP LAEA formulas. */
static double laea_q(double sinp, double e) {
    double e2 = e * e;
    return (1 - e2) * (sinp / (1 - e2 * sinp * sinp) - (1 / (2 * e)) * log((1 - e * sinp) / (1 + e * sinp)));
}

void gpn_ingest_lonlat_to_3035(double lon, double lat, double *x, double *y) {
    const double deg = M_PI / 180.0;
    const double a = 6378137.0, f = 1 / 298.257222101; /* GRS80 */
    const double e = sqrt(2 * f - f * f);
    const double phi0 = 52 * deg, lam0 = 10 * deg, FE = 4321000.0, FN = 3210000.0;
    double qp = laea_q(1.0, e), q0 = laea_q(sin(phi0), e), q = laea_q(sin(lat * deg), e);
    double beta0 = asin(q0 / qp), beta = asin(fmax(-1.0, fmin(1.0, q / qp)));
    double Rq = a * sqrt(qp / 2);
    double D = a * (cos(phi0) / sqrt(1 - e * e * sin(phi0) * sin(phi0))) / (Rq * cos(beta0));
    double dl = lon * deg - lam0;
    double B = Rq * sqrt(2 / (1 + sin(beta0) * sin(beta) + cos(beta0) * cos(beta) * cos(dl)));
    *x = FE + (B * D) * cos(beta) * sin(dl);
    *y = FN + (B / D) * (cos(beta0) * sin(beta) - sin(beta0) * cos(beta) * cos(dl));
}

/* ==== label space ========================================================= */

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Loads the speciesId column of path into a sorted unique array. */
static int load_species_list(const char *path, int32_t **out, size_t *n, struct gpn_err *err) {
    *out = NULL;
    *n = 0;
    struct gpn_csv *c = NULL;
    int rc = gpn_csv_open(path, 0, &c, err);
    if (rc) return rc;
    int col;
    int32_t *v = NULL;
    size_t nv = 0, cap = 0;
    if ((rc = gpn_csv_require(c, "speciesId", &col, err))) goto done;
    while ((rc = gpn_csv_next(c, err)) == 1) {
        int64_t id;
        if (gpn_ingest_parse_id(gpn_csv_field(c, col), 0, INT32_MAX, &id)) {
            rc = gpn_err_set(err, GPN_EFORMAT, "%s:%ld: speciesId: expected an integer, found '%s'", path,
                             gpn_csv_line(c), gpn_csv_field(c, col));
            goto done;
        }
        if (nv == cap) {
            cap = cap ? cap * 2 : 1024;
            int32_t *t = realloc(v, cap * sizeof *t);
            if (!t) {
                rc = gpn_err_set(err, GPN_ENOMEM, "%s: out of memory", path);
                goto done;
            }
            v = t;
        }
        v[nv++] = (int32_t)id;
    }
    if (rc < 0) goto done;
    rc = 0;
    if (nv) gpn_qsort(v, nv, sizeof *v, cmp_i32);
    size_t u = 0;
    for (size_t i = 0; i < nv; i++)
        if (!u || v[u - 1] != v[i]) v[u++] = v[i];
    *out = v;
    *n = u;
    v = NULL;
done:
    free(v);
    gpn_csv_close(c);
    return rc;
}

static int label_of(const int32_t *sp, size_t n, int32_t id) {
    const int32_t *p = bsearch(&id, sp, n, sizeof *sp, cmp_i32);
    return p ? (int)(p - sp) : -1;
}

/* ==== the run ============================================================= */

/* Samples decoded per parallel batch (bounded memory: 64 x 64 KiB patches). */
#define INGEST_BATCH 64

static const char *const mod_label[ING_NMOD] = {"Sentinel-2 patch", "Landsat cube", "climate cube"};
static const char *const mod_key[ING_NMOD] = {"sentinel", "landsat", "climate"};
static const char *const policy_name[] = {"error", "zero", "drop"};

/* "FILE:LINE: surveyId S" for messages about a sample. */
static void sample_where(const struct ing_data *d, const struct ing_sample *s, char *buf, size_t n) {
    snprintf(buf, n, "%s:%ld: %s %" PRId64, d->files[s->file], s->line,
             s->patch_id >= 0 ? "patchID" : "surveyId", s->patch_id >= 0 ? s->patch_id : s->survey_id);
}

static int add_source_meta(struct gpn_dataset_writer *w, struct ing_source *const *src,
                           const struct gpn_ingest_opts *o, const struct gpn_ingest_stats *st,
                           struct gpn_err *err) {
    struct gpn_buf b = {0};
    const char *paths[ING_NMOD] = {o->sentinel, o->landsat, o->climate};
    gpn_buf_puts(&b, "{\"pa\": ");
    if (o->pa) {
        gpn_buf_puts(&b, "\"");
        gpn_buf_json_str(&b, o->pa);
        gpn_buf_puts(&b, "\"");
    } else {
        gpn_buf_puts(&b, "null");
    }
    gpn_buf_puts(&b, ", \"po\": ");
    if (o->po) {
        gpn_buf_puts(&b, "\"");
        gpn_buf_json_str(&b, o->po);
        gpn_buf_puts(&b, "\"");
    } else {
        gpn_buf_puts(&b, "null");
    }
    for (int m = 0; m < ING_NMOD; m++) {
        gpn_buf_printf(&b, ", \"%s\": ", mod_key[m]);
        if (!src[m]) {
            gpn_buf_puts(&b, "null");
            continue;
        }
        gpn_buf_puts(&b, "{\"path\": \"");
        gpn_buf_json_str(&b, paths[m]);
        gpn_buf_printf(&b, "\", \"kind\": \"%s\", \"zero_filled\": %" PRId64 "}",
                       gpn__ingest_source_kind(src[m]), st->zero_filled[m]);
    }
    gpn_buf_puts(&b, "}");
    int rc = b.oom ? gpn_err_set(err, GPN_ENOMEM, "meta.json: out of memory")
                   : gpn_dataset_writer_meta_json(w, "sources", b.data, err);
    gpn_buf_free(&b);
    if (rc) return rc;
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if ((rc = gpn_dataset_writer_meta_num(w, "block_km", o->block_km, err)) ||
        (rc = gpn_dataset_writer_meta_num(w, "po_group_radius_m", o->po_group_radius_m, err)) ||
        (rc = gpn_dataset_writer_meta_str(w, "missing_policy", policy_name[o->missing], err)) ||
        (rc = gpn_dataset_writer_meta_num(w, "rows", (double)st->rows, err)) ||
        (rc = gpn_dataset_writer_meta_num(w, "dropped", (double)st->dropped, err)) ||
        (rc = gpn_dataset_writer_meta_str(w, "species_list", o->species, err)) ||
        (rc = gpn_dataset_writer_meta_str(w, "created", when, err)))
        return rc;
    return 0;
}

int gpn_ingest_run(const struct gpn_ingest_opts *o, struct gpn_ingest_stats *st_out, struct gpn_err *err) {
    if (!o || !o->out || !o->out[0]) return gpn_err_set(err, GPN_EINVAL, "gpn_ingest_run: no output folder");
    if (!o->pa && !o->po) return gpn_err_set(err, GPN_EINVAL, "gpn_ingest_run: expected --pa and/or --po");
    if (!(o->block_km > 0) || !(o->po_group_radius_m >= 0) || o->patch_size < 0 || o->patch_size > 4096 ||
        o->missing < GPN_MISSING_ERROR || o->missing > GPN_MISSING_DROP)
        return gpn_err_set(err, GPN_EINVAL, "gpn_ingest_run: bad option value");
    if (gpn_path_exists(o->out) && !o->force)
        return gpn_err_set(err, GPN_EEXISTS, "%s: already exists (use --force to replace it)", o->out);

    struct gpn_ingest_stats st = {0};
    struct ing_data d = {0};
    struct ing_source *src[ING_NMOD] = {0};
    struct gpn_dataset_writer *w = NULL;
    int32_t *species = NULL;
    size_t n_species = 0;
    int32_t *labels = NULL;
    uint8_t *s2buf = NULL;
    float *cube[2] = {NULL, NULL};
    size_t *rec0 = NULL, *keep = NULL;
    int brc[INGEST_BATCH], bmod[INGEST_BATCH];
    unsigned bmiss[INGEST_BATCH];
    struct gpn_err *berr = calloc(INGEST_BATCH, sizeof *berr);
    int rc;
    if (!berr) return gpn_err_set(err, GPN_ENOMEM, "gpn_ingest_run: out of memory");

    /* 1-2. observations */
    struct gpn_progress prog;
    gpn_progress_init(&prog, "read", 0, "rows");
    if (!o->progress) prog.enabled = 0;
    if ((o->pa && (rc = gpn__ingest_read_csv(&d, o->pa, GPN_SAMPLE_PA, 0, &prog, err))) ||
        (o->po && (rc = gpn__ingest_read_csv(&d, o->po, GPN_SAMPLE_PO, o->po_group_radius_m, &prog, err))))
        goto done;
    gpn_progress_finish(&prog);
    st.rows = d.rows;
    if ((rc = gpn__ingest_sort_records(&d, err))) goto done;
    gpn_log_info("ingest: %" PRId64 " rows -> %zu samples, %zu (sample, species) records", d.rows, d.ns,
                 d.nr);

    /* 3a. optional fixed label space */
    if (o->species) {
        if ((rc = load_species_list(o->species, &species, &n_species, err))) goto done;
        size_t k = 0;
        for (size_t i = 0; i < d.nr; i++) {
            if (label_of(species, n_species, d.r[i].species) < 0)
                st.unknown_species++;
            else
                d.r[k++] = d.r[i];
        }
        d.nr = k;
        if (st.unknown_species)
            gpn_log_warn("ingest: %" PRId64 " rows name a species outside %s and were skipped",
                         st.unknown_species, o->species);
    }

    /* 4. modality sources and availability */
    const char *paths[ING_NMOD] = {o->sentinel, o->landsat, o->climate};
    for (int m = 0; m < ING_NMOD; m++)
        if (paths[m] && (rc = gpn__ingest_source_open(m, paths[m], o->patch_size, &d, &src[m], err)))
            goto done;
    {
        /* PO samples left without labels (by --species) carry no signal. */
        size_t ri = 0;
        for (size_t i = 0; i < d.ns; i++) {
            size_t r0 = ri;
            while (ri < d.nr && d.r[ri].sample == (int64_t)i)
                ri++;
            if (ri == r0 && d.s[i].kind == GPN_SAMPLE_PO) d.s[i].dropped = 1;
        }
    }
    for (size_t i = 0; i < d.ns; i++) {
        struct ing_sample *s = &d.s[i];
        for (int m = 0; m < ING_NMOD && !s->dropped; m++) {
            if (!src[m]) continue;
            char what[PATH_MAX];
            struct gpn_err e = {0};
            int has = gpn__ingest_source_probe(src[m], s, what, sizeof what, &e);
            if (has < 0) {
                char where[PATH_MAX];
                sample_where(&d, s, where, sizeof where);
                rc = gpn_err_set(err, has, "%s: %s", where, e.msg);
                goto done;
            }
            if (has) continue;
            if (o->missing == GPN_MISSING_ERROR) {
                char where[PATH_MAX];
                sample_where(&d, s, where, sizeof where);
                rc = gpn_err_set(
                    err, GPN_ENOTFOUND,
                    "%s: expected a %s, but %s was not found (use --missing zero|drop to accept this)", where,
                    mod_label[m], what);
                goto done;
            }
            if (o->missing == GPN_MISSING_DROP)
                s->dropped = 1;
            else
                s->missing |= 1u << m;
        }
    }

    /* 3b. label space from the kept samples */
    if (!o->species) {
        size_t cap = 0;
        for (size_t i = 0; i < d.nr; i++) {
            if (d.s[d.r[i].sample].dropped) continue;
            if (n_species == cap) {
                cap = cap ? cap * 2 : 1024;
                int32_t *t = realloc(species, cap * sizeof *t);
                if (!t) {
                    rc = gpn_err_set(err, GPN_ENOMEM, "gpn_ingest_run: out of memory");
                    goto done;
                }
                species = t;
            }
            species[n_species++] = d.r[i].species;
        }
        if (n_species) gpn_qsort(species, n_species, sizeof *species, cmp_i32);
        size_t u = 0;
        for (size_t i = 0; i < n_species; i++)
            if (!u || species[u - 1] != species[i]) species[u++] = species[i];
        n_species = u;
    }
    if (n_species > INT32_MAX) {
        rc = gpn_err_set(err, GPN_ETOOBIG, "gpn_ingest_run: too many species");
        goto done;
    }

    /* 5. write */
    struct gpn_dataset_spec spec = {0};
    spec.n_species = (int)n_species;
    spec.species_id = species;
    spec.force = o->force;
    int dims[ING_NMOD][3] = {{0}};
    for (int m = 0; m < ING_NMOD; m++)
        if (src[m]) gpn__ingest_source_dims(src[m], dims[m]);
    if (src[ING_S2] && dims[ING_S2][1] == 0) {
        if (o->missing == GPN_MISSING_ZERO) {
            dims[ING_S2][1] = dims[ING_S2][2] = 128;
            gpn_log_warn("ingest: no Sentinel-2 patch found for any sample; all zero-filled at 128x128");
        } else {
            /* Every sample was dropped for lack of a patch. */
            dims[ING_S2][1] = dims[ING_S2][2] = 128;
        }
    }
    spec.s2_c = src[ING_S2] ? dims[ING_S2][0] : 0, spec.s2_h = src[ING_S2] ? dims[ING_S2][1] : 0;
    spec.s2_w = src[ING_S2] ? dims[ING_S2][2] : 0;
    spec.ls_c = dims[ING_LS][0], spec.ls_q = dims[ING_LS][1], spec.ls_y = dims[ING_LS][2];
    spec.cl_c = dims[ING_CL][0], spec.cl_y = dims[ING_CL][1], spec.cl_m = dims[ING_CL][2];
    size_t s2n = (size_t)spec.s2_c * (size_t)spec.s2_h * (size_t)spec.s2_w;
    size_t cn[2] = {(size_t)spec.ls_c * spec.ls_q * spec.ls_y, (size_t)spec.cl_c * spec.cl_y * spec.cl_m};
    s2buf = s2n ? malloc(INGEST_BATCH * s2n) : NULL;
    cube[0] = cn[0] ? malloc(INGEST_BATCH * cn[0] * sizeof(float)) : NULL;
    cube[1] = cn[1] ? malloc(INGEST_BATCH * cn[1] * sizeof(float)) : NULL;
    labels = malloc((n_species ? n_species : 1) * sizeof *labels);
    if ((s2n && !s2buf) || (cn[0] && !cube[0]) || (cn[1] && !cube[1]) || !labels) {
        rc = gpn_err_set(err, GPN_ENOMEM, "gpn_ingest_run: out of memory");
        goto done;
    }
    if ((rc = gpn_dataset_writer_create(o->out, &spec, &w, err))) goto done;

    /* Kept samples and where their records start (records are sorted by sample). */
    rec0 = malloc((d.ns + 1) * sizeof *rec0);
    keep = malloc((d.ns ? d.ns : 1) * sizeof *keep);
    if (!rec0 || !keep) {
        rc = gpn_err_set(err, GPN_ENOMEM, "gpn_ingest_run: out of memory");
        goto done;
    }
    size_t n_keep = 0;
    for (size_t i = 0, ri = 0; i <= d.ns; i++) {
        rec0[i] = ri;
        while (i < d.ns && ri < d.nr && d.r[ri].sample == (int64_t)i)
            ri++;
        if (i < d.ns && !d.s[i].dropped) keep[n_keep++] = i;
    }
    st.dropped = (int64_t)(d.ns - n_keep);
    if (n_keep == 0) {
        rc = gpn_err_set(err, GPN_EFORMAT,
                         "%s: expected at least one sample, found none to write (%zu read, %zu dropped)",
                         o->pa ? o->pa : o->po, d.ns, d.ns);
        goto done;
    }
    if (st.dropped)
        gpn_log_warn("ingest: %" PRId64 " of %zu samples dropped (missing modality or no known species)",
                     st.dropped, d.ns);
    /* Samples are decoded in batches, in parallel when every source can be
     * read from several threads (folders), then appended in input order. */
    int par = 1;
    for (int m = 0; m < ING_NMOD; m++)
        if (src[m] && !gpn__ingest_source_thread_safe(src[m])) par = 0;
    gpn_progress_init(&prog, "ingest", (int64_t)n_keep, "samples");
    if (!o->progress) prog.enabled = 0;
    double block_m = o->block_km * 1000.0;
    const size_t bytes[ING_NMOD] = {s2n, cn[0] * sizeof(float), cn[1] * sizeof(float)};
    char *const bufs[ING_NMOD] = {(char *)s2buf, (char *)cube[0], (char *)cube[1]};
    for (size_t b0 = 0; b0 < n_keep; b0 += INGEST_BATCH) {
        int nb = (int)(n_keep - b0 < INGEST_BATCH ? n_keep - b0 : INGEST_BATCH);
#pragma omp parallel for schedule(dynamic) if (par && nb > 1)
        for (int j = 0; j < nb; j++) {
            const struct ing_sample *s = &d.s[keep[b0 + (size_t)j]];
            brc[j] = 0;
            bmiss[j] = 0;
            gpn_err_clear(&berr[j]);
            bmod[j] = 0;
            for (int m = 0; m < ING_NMOD && !brc[j]; m++) {
                if (!src[m]) continue;
                char *buf = bufs[m] + (size_t)j * bytes[m];
                int r = (s->missing & (1u << m)) ? GPN_ENOTFOUND
                                                 : gpn__ingest_source_read(src[m], s, buf, &berr[j]);
                if (r == GPN_ENOTFOUND && o->missing != GPN_MISSING_ERROR) {
                    memset(buf, 0, bytes[m]);
                    bmiss[j] |= 1u << m;
                    r = 0;
                }
                brc[j] = r;
                bmod[j] = m;
            }
        }
        for (int j = 0; j < nb; j++) {
            const struct ing_sample *s = &d.s[keep[b0 + (size_t)j]];
            if (brc[j]) {
                char where[PATH_MAX];
                sample_where(&d, s, where, sizeof where);
                if (berr[j].msg[0])
                    rc = gpn_err_set(err, brc[j], "%s: %s", where, berr[j].msg);
                else
                    rc = gpn_err_set(err, brc[j], "%s: expected a %s, none found", where, mod_label[bmod[j]]);
                goto done;
            }
            size_t r0 = rec0[keep[b0 + (size_t)j]], r1 = rec0[keep[b0 + (size_t)j] + 1], nl = 0;
            for (size_t k = r0; k < r1; k++)
                labels[nl++] = label_of(species, n_species, d.r[k].species);
            char miss[64] = "";
            for (int m = 0; m < ING_NMOD; m++)
                if (bmiss[j] & (1u << m)) {
                    st.zero_filled[m]++;
                    snprintf(miss + strlen(miss), sizeof miss - strlen(miss), "%s%s", miss[0] ? "|" : "",
                             mod_key[m]);
                }
            struct gpn_sample_meta meta = {
                s->survey_id, s->kind, s->lon,  s->lat,
                s->x,         s->y,    s->year, gpn_ingest_block_id(s->x, s->y, block_m)};
            struct gpn_sample_extra ex = {s->n_records, s->patch_id, s->ts_id, miss[0] ? miss : NULL};
            const void *p[ING_NMOD];
            for (int m = 0; m < ING_NMOD; m++)
                p[m] = src[m] ? bufs[m] + (size_t)j * bytes[m] : NULL;
            if ((rc = gpn_dataset_writer_add(w, &meta, &ex, labels, nl, p[0], p[1], p[2], err))) goto done;
            st.nnz += (int64_t)nl;
            if (s->kind == GPN_SAMPLE_PA)
                st.n_pa++;
            else
                st.n_po++;
            gpn_progress_add(&prog, 1);
        }
    }
    gpn_progress_finish(&prog);
    st.samples = gpn_dataset_writer_count(w);
    st.n_species = (int64_t)n_species;
    if ((rc = add_source_meta(w, src, o, &st, err))) goto done;
    rc = gpn_dataset_writer_commit(w, err);
    w = NULL;
    if (rc) goto done;
    gpn_log_info("ingest: wrote %s: %" PRId64 " samples (%" PRId64 " PA, %" PRId64 " PO), %" PRId64
                 " species, %" PRId64 " presences",
                 o->out, st.samples, st.n_pa, st.n_po, st.n_species, st.nnz);
    if (st_out) *st_out = st;
done:
    gpn_dataset_writer_abort(w);
    for (int m = 0; m < ING_NMOD; m++)
        gpn__ingest_source_close(src[m]);
    gpn__ingest_data_free(&d);
    free(species);
    free(labels);
    free(s2buf);
    free(cube[0]);
    free(cube[1]);
    free(rec0);
    free(keep);
    free(berr);
    return rc;
}
