/*
 * dataset.c - the SDM dataset folder: writer (streamed, atomic by folder
 * rename) and reader (memory-mapped, validated). See dataset.h for the API
 * and docs/formats.md ("Dataset") for the on-disk layout.
 *
 * Why a folder of .npy files: training reads the same large arrays over and
 * over in random order; mmap'ed C-order arrays give O(1) access to sample i
 * with no parsing, and numpy.load opens the same files for independent
 * checks. Labels are a CSR pair (label_ptr, label_idx) because a survey has
 * ~20 present species out of >10,000.
 *
 * Atomicity: the writer builds "<dir>.tmp-<pid>" and renames it to <dir>
 * at commit. Readers never see a half-written dataset; a killed ingest
 * leaves only a folder whose name says it is temporary. With force, an
 * existing <dir> is first renamed to "<dir>.old-<pid>" and removed after
 * the new one is in place.
 *
 * meta.json is the source of truth for shapes: the reader checks every
 * .npy header against it, and the CSV files against n and n_species.
 */
#include "gpn/dataset.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpn/csv.h"
#include "gpn/log.h"
#include "gpn/util.h"
#include "gpn/version.h"

#define DS_FORMAT "gpn-dataset"

/* The modality arrays, in the order they appear in meta.json. */
enum { MOD_S2 = 0, MOD_LS, MOD_CL, MOD_N };
static const char *const mod_name[MOD_N] = {"sentinel", "landsat", "climate"};

/* ==== reader ============================================================= */

struct ds_priv {
    struct gpn_npy arr[MOD_N];
    struct gpn_npy ptr, idx;
};

void gpn_dataset_close(struct gpn_dataset *d) {
    if (!d) return;
    struct ds_priv *p = d->priv;
    if (p) {
        for (int i = 0; i < MOD_N; i++)
            gpn_npy_unmap(&p->arr[i]);
        gpn_npy_unmap(&p->ptr);
        gpn_npy_unmap(&p->idx);
        free(p);
    }
    free(d->meta);
    free(d->species_id);
    free(d);
}

/* Reads an integer member of obj that must be >= 0. */
static int json_get_count(const char *path, json_t *obj, const char *key, int64_t max, int64_t *out,
                          struct gpn_err *err) {
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
        return gpn_err_set(err, GPN_EFORMAT, "%s: '%s' must be an integer in [0, %" PRId64 "]", path, key,
                           max);
    *out = json_integer_value(v);
    return 0;
}

/* Maps dir/name.npy and checks dtype and shape against the expected ones. */
static int map_checked(const char *dir, const char *name, enum gpn_npy_dtype dt, int ndim,
                       const int64_t *shape, struct gpn_npy *a, struct gpn_err *err) {
    char path[PATH_MAX], file[64];
    snprintf(file, sizeof file, "%s.npy", name);
    if (gpn_path_join(path, sizeof path, dir, file))
        return gpn_err_set(err, GPN_ETOOBIG, "%s: path too long", dir);
    int rc = gpn_npy_map(path, a, err);
    if (rc) return rc;
    if (a->dtype != dt)
        return gpn_err_set(err, GPN_EFORMAT, "%s: dtype %s, expected %s", path, gpn_npy_dtype_descr(a->dtype),
                           gpn_npy_dtype_descr(dt));
    int same = a->ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = a->shape[i] == shape[i];
    if (!same) {
        char got[160] = "", want[160] = "";
        for (int i = 0; i < a->ndim; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%" PRId64, i ? ", " : "", a->shape[i]);
        for (int i = 0; i < ndim; i++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%" PRId64, i ? ", " : "", shape[i]);
        return gpn_err_set(err, GPN_EFORMAT, "%s: shape (%s), meta.json says (%s)", path, got, want);
    }
    return 0;
}

/* Reads the shape of modality `name` from meta.json "arrays" into dims[3];
 * all 0 when the modality is absent (null or missing). */
static int meta_mod_shape(const char *path, json_t *arrays, const char *name, int64_t n, int dims[3],
                          struct gpn_err *err) {
    dims[0] = dims[1] = dims[2] = 0;
    json_t *a = json_object_get(arrays, name);
    if (!a || json_is_null(a)) return 0;
    json_t *shape = json_object_get(a, "shape");
    if (!json_is_array(shape) || json_array_size(shape) != 4)
        return gpn_err_set(err, GPN_EFORMAT, "%s: arrays.%s.shape must be a list of 4 integers", path, name);
    for (size_t i = 0; i < 4; i++) {
        json_t *v = json_array_get(shape, i);
        if (!json_is_integer(v) || json_integer_value(v) < (i ? 1 : 0) || json_integer_value(v) > 100000)
            return gpn_err_set(err, GPN_EFORMAT, "%s: arrays.%s.shape[%zu] is not a valid dimension", path,
                               name, i);
        if (i == 0 && json_integer_value(v) != n)
            return gpn_err_set(err, GPN_EFORMAT, "%s: arrays.%s.shape[0] = %" PRId64 " but n = %" PRId64,
                               path, name, (int64_t)json_integer_value(v), n);
        if (i) dims[i - 1] = (int)json_integer_value(v);
    }
    return 0;
}

static int read_samples(const char *dir, struct gpn_dataset *d, struct gpn_err *err) {
    char path[PATH_MAX];
    if (gpn_path_join(path, sizeof path, dir, "samples.csv"))
        return gpn_err_set(err, GPN_ETOOBIG, "%s: path too long", dir);
    struct gpn_csv *c = NULL;
    int rc = gpn_csv_open(path, ',', &c, err);
    if (rc) return rc;
    static const char *const cols[] = {"index", "surveyId", "kind", "lon",  "lat",
                                       "x3035", "y3035",    "year", "block"};
    int ci[9];
    for (int i = 0; i < 9; i++)
        if ((rc = gpn_csv_require(c, cols[i], &ci[i], err))) goto done;
    int64_t i = 0;
    while ((rc = gpn_csv_next(c, err)) == 1) {
        long line = gpn_csv_line(c);
        if (i >= d->n) {
            rc = gpn_err_set(err, GPN_EFORMAT, "%s:%ld: more rows than n = %" PRId64 " in meta.json", path,
                             line, d->n);
            goto done;
        }
        struct gpn_sample_meta *m = &d->meta[i];
        int64_t idx, block;
        const char *kind = gpn_csv_field(c, ci[2]);
        if ((rc = gpn_parse_i64(gpn_csv_field(c, ci[0]), i, i, &idx, "index", err)) ||
            (rc = gpn_parse_i64(gpn_csv_field(c, ci[1]), INT64_MIN, INT64_MAX, &m->survey_id, "surveyId",
                                err)) ||
            (rc = gpn_parse_double(gpn_csv_field(c, ci[3]), -180, 180, &m->lon, "lon", err)) ||
            (rc = gpn_parse_double(gpn_csv_field(c, ci[4]), -90, 90, &m->lat, "lat", err)) ||
            (rc = gpn_parse_double(gpn_csv_field(c, ci[5]), -1e8, 1e8, &m->x, "x3035", err)) ||
            (rc = gpn_parse_double(gpn_csv_field(c, ci[6]), -1e8, 1e8, &m->y, "y3035", err)) ||
            (rc = gpn_parse_int(gpn_csv_field(c, ci[7]), 0, 9999, &m->year, "year", err)) ||
            (rc = gpn_parse_i64(gpn_csv_field(c, ci[8]), INT32_MIN, INT32_MAX, &block, "block", err))) {
            gpn_err_prefix(err, "%s:%ld", path, line);
            goto done;
        }
        if (!strcmp(kind, "PA"))
            m->kind = GPN_SAMPLE_PA;
        else if (!strcmp(kind, "PO"))
            m->kind = GPN_SAMPLE_PO;
        else {
            rc = gpn_err_set(err, GPN_EFORMAT, "%s:%ld: kind must be PA or PO, found '%s'", path, line, kind);
            goto done;
        }
        m->block = (int32_t)block;
        i++;
    }
    if (rc < 0) goto done;
    rc = 0;
    if (i != d->n)
        rc =
            gpn_err_set(err, GPN_EFORMAT, "%s: %" PRId64 " rows, meta.json says n = %" PRId64, path, i, d->n);
done:
    gpn_csv_close(c);
    return rc;
}

static int read_species(const char *dir, struct gpn_dataset *d, struct gpn_err *err) {
    char path[PATH_MAX];
    if (gpn_path_join(path, sizeof path, dir, "species.csv"))
        return gpn_err_set(err, GPN_ETOOBIG, "%s: path too long", dir);
    struct gpn_csv *c = NULL;
    int rc = gpn_csv_open(path, ',', &c, err);
    if (rc) return rc;
    int cl, cs;
    if ((rc = gpn_csv_require(c, "label", &cl, err)) || (rc = gpn_csv_require(c, "speciesId", &cs, err)))
        goto done;
    int64_t i = 0;
    while ((rc = gpn_csv_next(c, err)) == 1) {
        long line = gpn_csv_line(c);
        if (i >= d->n_species) {
            rc = gpn_err_set(err, GPN_EFORMAT, "%s:%ld: more rows than n_species = %d", path, line,
                             d->n_species);
            goto done;
        }
        int64_t lab, sid;
        if ((rc = gpn_parse_i64(gpn_csv_field(c, cl), i, i, &lab, "label", err)) ||
            (rc = gpn_parse_i64(gpn_csv_field(c, cs), 0, INT32_MAX, &sid, "speciesId", err))) {
            gpn_err_prefix(err, "%s:%ld", path, line);
            goto done;
        }
        d->species_id[i++] = (int32_t)sid;
    }
    if (rc < 0) goto done;
    rc = 0;
    if (i != d->n_species)
        rc = gpn_err_set(err, GPN_EFORMAT, "%s: %" PRId64 " rows, meta.json says n_species = %d", path, i,
                         d->n_species);
done:
    gpn_csv_close(c);
    return rc;
}

int gpn_dataset_open(const char *dir, struct gpn_dataset **out, struct gpn_err *err) {
    if (out) *out = NULL;
    if (!dir || !out) return gpn_err_set(err, GPN_EINVAL, "gpn_dataset_open: NULL argument");
    if (!gpn_is_dir(dir)) return gpn_err_set(err, GPN_ENOTFOUND, "%s: no such dataset folder", dir);
    char path[PATH_MAX];
    if (gpn_path_join(path, sizeof path, dir, "meta.json"))
        return gpn_err_set(err, GPN_ETOOBIG, "%s: path too long", dir);
    int rc;
    json_t *root = NULL;
    struct gpn_dataset *d = calloc(1, sizeof *d);
    struct ds_priv *p = calloc(1, sizeof *p);
    if (!d || !p) {
        free(d);
        free(p);
        return gpn_err_set(err, GPN_ENOMEM, "gpn_dataset_open: out of memory");
    }
    d->priv = p;
    json_error_t jerr;
    root = json_load_file(path, 0, &jerr);
    if (!root) {
        rc = gpn_err_set(err, gpn_path_exists(path) ? GPN_EFORMAT : GPN_ENOTFOUND, "%s:%d: %s", path,
                         jerr.line, jerr.text);
        goto fail;
    }
    json_t *fmt = json_object_get(root, "format");
    if (!json_is_string(fmt) || strcmp(json_string_value(fmt), DS_FORMAT)) {
        rc = gpn_err_set(err, GPN_EFORMAT, "%s: not a gpn dataset (format must be \"%s\")", path, DS_FORMAT);
        goto fail;
    }
    int64_t ver, n, ns, nnz;
    if ((rc = json_get_count(path, root, "version", 1000, &ver, err))) goto fail;
    if (ver != GPN_DATASET_VERSION) {
        rc = gpn_err_set(err, GPN_EUNSUPPORTED, "%s: dataset version %" PRId64 ", this gpn reads version %d",
                         path, ver, GPN_DATASET_VERSION);
        goto fail;
    }
    if ((rc = json_get_count(path, root, "n", INT64_MAX / 2, &n, err)) ||
        (rc = json_get_count(path, root, "n_species", INT32_MAX, &ns, err)) ||
        (rc = json_get_count(path, root, "nnz", INT64_MAX / 2, &nnz, err)))
        goto fail;
    d->n = n;
    d->n_species = (int)ns;
    json_t *arrays = json_object_get(root, "arrays");
    if (!json_is_object(arrays)) {
        rc = gpn_err_set(err, GPN_EFORMAT, "%s: missing object 'arrays'", path);
        goto fail;
    }
    int dims[MOD_N][3];
    for (int m = 0; m < MOD_N; m++)
        if ((rc = meta_mod_shape(path, arrays, mod_name[m], n, dims[m], err))) goto fail;
    d->s2_c = dims[MOD_S2][0], d->s2_h = dims[MOD_S2][1], d->s2_w = dims[MOD_S2][2];
    d->ls_c = dims[MOD_LS][0], d->ls_q = dims[MOD_LS][1], d->ls_y = dims[MOD_LS][2];
    d->cl_c = dims[MOD_CL][0], d->cl_y = dims[MOD_CL][1], d->cl_m = dims[MOD_CL][2];
    static const enum gpn_npy_dtype mod_dt[MOD_N] = {GPN_NPY_U1, GPN_NPY_F4, GPN_NPY_F4};
    for (int m = 0; m < MOD_N; m++) {
        if (!dims[m][0]) continue;
        int64_t shape[4] = {n, dims[m][0], dims[m][1], dims[m][2]};
        if ((rc = map_checked(dir, mod_name[m], mod_dt[m], 4, shape, &p->arr[m], err))) goto fail;
    }
    d->sentinel = p->arr[MOD_S2].data;
    d->landsat = p->arr[MOD_LS].data;
    d->climate = p->arr[MOD_CL].data;
    int64_t sp = n + 1;
    if ((rc = map_checked(dir, "label_ptr", GPN_NPY_I8, 1, &sp, &p->ptr, err)) ||
        (rc = map_checked(dir, "label_idx", GPN_NPY_I4, 1, &nnz, &p->idx, err)))
        goto fail;
    d->label_ptr = p->ptr.data;
    d->label_idx = p->idx.data;
    /* The CSR structure must be consistent before anyone indexes with it. */
    if (d->label_ptr[0] != 0 || d->label_ptr[n] != nnz) {
        rc = gpn_err_set(err, GPN_EFORMAT, "%s/label_ptr.npy: must run from 0 to nnz = %" PRId64, dir, nnz);
        goto fail;
    }
    for (int64_t i = 0; i < n; i++)
        if (d->label_ptr[i + 1] < d->label_ptr[i]) {
            rc = gpn_err_set(err, GPN_EFORMAT, "%s/label_ptr.npy: decreases at sample %" PRId64, dir, i);
            goto fail;
        }
    for (int64_t k = 0; k < nnz; k++)
        if (d->label_idx[k] < 0 || d->label_idx[k] >= d->n_species) {
            rc = gpn_err_set(err, GPN_EFORMAT, "%s/label_idx.npy: element %" PRId64 " = %d outside [0, %d)",
                             dir, k, (int)d->label_idx[k], d->n_species);
            goto fail;
        }
    d->meta = calloc((size_t)(n ? n : 1), sizeof *d->meta);
    d->species_id = calloc((size_t)(ns ? ns : 1), sizeof *d->species_id);
    if (!d->meta || !d->species_id) {
        rc = gpn_err_set(err, GPN_ENOMEM, "gpn_dataset_open: out of memory for %" PRId64 " samples", n);
        goto fail;
    }
    if ((rc = read_samples(dir, d, err)) || (rc = read_species(dir, d, err))) goto fail;
    json_decref(root);
    *out = d;
    return 0;
fail:
    json_decref(root);
    gpn_dataset_close(d);
    return rc;
}

/* ==== writer ============================================================= */

struct gpn_dataset_writer {
    char dir[PATH_MAX];
    char tmp[PATH_MAX];
    struct gpn_dataset_spec spec;
    int32_t *species_id;    /* (n_species) */
    int64_t *species_count; /* (n_species) samples where present */
    struct gpn_npy_writer *arr[MOD_N];
    struct gpn_npy_writer *ptr, *idx;
    FILE *samples;
    int64_t n, nnz, n_pa, n_po;
    json_t *extra; /* user keys for meta.json */
};

static int tmp_file(const struct gpn_dataset_writer *w, const char *name, char *buf, size_t n,
                    struct gpn_err *err) {
    if (gpn_path_join(buf, n, w->tmp, name))
        return gpn_err_set(err, GPN_ETOOBIG, "%s: path too long", w->tmp);
    return 0;
}

int gpn_dataset_writer_create(const char *dir, const struct gpn_dataset_spec *spec,
                              struct gpn_dataset_writer **out, struct gpn_err *err) {
    *out = NULL;
    if (!dir || !spec || spec->n_species < 0 || (spec->n_species > 0 && !spec->species_id))
        return gpn_err_set(err, GPN_EINVAL, "gpn_dataset_writer_create: bad arguments");
    int mods[MOD_N][3] = {{spec->s2_c, spec->s2_h, spec->s2_w},
                          {spec->ls_c, spec->ls_q, spec->ls_y},
                          {spec->cl_c, spec->cl_y, spec->cl_m}};
    for (int m = 0; m < MOD_N; m++) {
        int nz = (mods[m][0] > 0) + (mods[m][1] > 0) + (mods[m][2] > 0);
        if ((nz != 0 && nz != 3) || mods[m][0] < 0 || mods[m][1] < 0 || mods[m][2] < 0)
            return gpn_err_set(err, GPN_EINVAL,
                               "gpn_dataset_writer_create: %s shape must be all positive or all 0",
                               mod_name[m]);
    }
    for (int i = 1; i < spec->n_species; i++)
        if (spec->species_id[i] <= spec->species_id[i - 1])
            return gpn_err_set(err, GPN_EINVAL,
                               "gpn_dataset_writer_create: species ids must be strictly increasing");
    if (gpn_path_exists(dir) && !spec->force)
        return gpn_err_set(err, GPN_EEXISTS, "%s: already exists (use --force to replace it)", dir);
    struct gpn_dataset_writer *w = calloc(1, sizeof *w);
    if (!w) return gpn_err_set(err, GPN_ENOMEM, "gpn_dataset_writer_create: out of memory");
    int rc;
    w->spec = *spec;
    size_t ns = (size_t)(spec->n_species ? spec->n_species : 1);
    w->species_id = calloc(ns, sizeof *w->species_id);
    w->species_count = calloc(ns, sizeof *w->species_count);
    w->extra = json_object();
    if (!w->species_id || !w->species_count || !w->extra) {
        rc = gpn_err_set(err, GPN_ENOMEM, "gpn_dataset_writer_create: out of memory");
        goto fail;
    }
    if (spec->n_species) memcpy(w->species_id, spec->species_id, (size_t)spec->n_species * sizeof(int32_t));
    w->spec.species_id = w->species_id;
    if (gpn_strlcpy(w->dir, dir, sizeof w->dir) >= sizeof w->dir ||
        snprintf(w->tmp, sizeof w->tmp, "%s.tmp-%ld", dir, (long)getpid()) >= (int)sizeof w->tmp) {
        rc = gpn_err_set(err, GPN_ETOOBIG, "%s: path too long", dir);
        goto fail;
    }
    /* Trailing slashes would make the temporary name a child of dir. */
    size_t dl = strlen(w->dir);
    while (dl > 1 && w->dir[dl - 1] == '/')
        w->dir[--dl] = '\0';
    snprintf(w->tmp, sizeof w->tmp, "%s.tmp-%ld", w->dir, (long)getpid());
    if ((rc = gpn_rm_rf(w->tmp, err)) || (rc = gpn_mkdir_p(w->tmp, err))) goto fail;
    char path[PATH_MAX];
    for (int m = 0; m < MOD_N; m++) {
        if (!mods[m][0]) continue;
        char name[32];
        snprintf(name, sizeof name, "%s.npy", mod_name[m]);
        int64_t shape[4] = {0, mods[m][0], mods[m][1], mods[m][2]};
        if ((rc = tmp_file(w, name, path, sizeof path, err)) ||
            (rc =
                 gpn_npy_writer_open(path, m == MOD_S2 ? GPN_NPY_U1 : GPN_NPY_F4, 4, shape, &w->arr[m], err)))
            goto fail_rm;
    }
    int64_t zero = 0;
    if ((rc = tmp_file(w, "label_ptr.npy", path, sizeof path, err)) ||
        (rc = gpn_npy_writer_open(path, GPN_NPY_I8, 1, &zero, &w->ptr, err)) ||
        (rc = gpn_npy_writer_append(w->ptr, &zero, 1, err)) ||
        (rc = tmp_file(w, "label_idx.npy", path, sizeof path, err)) ||
        (rc = gpn_npy_writer_open(path, GPN_NPY_I4, 1, &zero, &w->idx, err)) ||
        (rc = tmp_file(w, "samples.csv", path, sizeof path, err)))
        goto fail_rm;
    w->samples = fopen(path, "w");
    if (!w->samples) {
        rc = gpn_err_set(err, GPN_EIO, "%s: %s", path, strerror(errno));
        goto fail_rm;
    }
    fputs("index,surveyId,kind,lon,lat,x3035,y3035,year,block,n_records,patchId,timeSerieId,missing\n",
          w->samples);
    *out = w;
    return 0;
fail_rm:
    gpn_dataset_writer_abort(w);
    return rc;
fail:
    json_decref(w->extra);
    free(w->species_id);
    free(w->species_count);
    free(w);
    return rc;
}

int64_t gpn_dataset_writer_count(const struct gpn_dataset_writer *w) {
    return w ? w->n : 0;
}

int gpn_dataset_writer_add(struct gpn_dataset_writer *w, const struct gpn_sample_meta *m,
                           const struct gpn_sample_extra *extra, const int32_t *labels, size_t n_labels,
                           const uint8_t *sentinel, const float *landsat, const float *climate,
                           struct gpn_err *err) {
    if (!w || !m || (n_labels && !labels))
        return gpn_err_set(err, GPN_EINVAL, "gpn_dataset_writer_add: NULL argument");
    const void *mod[MOD_N] = {sentinel, landsat, climate};
    for (int i = 0; i < MOD_N; i++)
        if ((w->arr[i] != NULL) != (mod[i] != NULL))
            return gpn_err_set(err, GPN_EINVAL, "gpn_dataset_writer_add: %s data %s", mod_name[i],
                               w->arr[i] ? "missing" : "given but absent from the spec");
    for (size_t k = 0; k < n_labels; k++)
        if (labels[k] < 0 || labels[k] >= w->spec.n_species || (k && labels[k] <= labels[k - 1]))
            return gpn_err_set(err, GPN_EINVAL,
                               "gpn_dataset_writer_add: labels must be strictly increasing in [0, %d)",
                               w->spec.n_species);
    if (m->kind != GPN_SAMPLE_PA && m->kind != GPN_SAMPLE_PO)
        return gpn_err_set(err, GPN_EINVAL, "gpn_dataset_writer_add: bad sample kind %d", m->kind);
    int rc;
    for (int i = 0; i < MOD_N; i++)
        if (w->arr[i] && (rc = gpn_npy_writer_append(w->arr[i], mod[i], 1, err))) return rc;
    int64_t end = w->nnz + (int64_t)n_labels;
    if ((n_labels && (rc = gpn_npy_writer_append(w->idx, labels, (int64_t)n_labels, err))) ||
        (rc = gpn_npy_writer_append(w->ptr, &end, 1, err)))
        return rc;
    for (size_t k = 0; k < n_labels; k++)
        w->species_count[labels[k]]++;
    w->nnz = end;
    char pid[24] = "", tid[24] = "";
    if (extra && extra->patch_id >= 0) snprintf(pid, sizeof pid, "%" PRId64, extra->patch_id);
    if (extra && extra->ts_id >= 0) snprintf(tid, sizeof tid, "%" PRId64, extra->ts_id);
    int k = fprintf(w->samples, "%" PRId64 ",%" PRId64 ",%s,%.9g,%.9g,%.3f,%.3f,%d,%d,%" PRId64 ",%s,%s,%s\n",
                    w->n, m->survey_id, m->kind == GPN_SAMPLE_PA ? "PA" : "PO", m->lon, m->lat, m->x, m->y,
                    m->year, (int)m->block, extra ? extra->n_records : 1, pid, tid,
                    extra && extra->missing ? extra->missing : "");
    if (k < 0) return gpn_err_set(err, GPN_EIO, "%s/samples.csv: write: %s", w->tmp, strerror(errno));
    if (m->kind == GPN_SAMPLE_PA)
        w->n_pa++;
    else
        w->n_po++;
    w->n++;
    return 0;
}

static const char *const reserved_keys[] = {"format", "version", "n",      "n_species",  "nnz",
                                            "n_pa",   "n_po",    "arrays", "gpn_version"};

static int meta_set(struct gpn_dataset_writer *w, const char *key, json_t *v, struct gpn_err *err) {
    if (!w || !key || !v) {
        json_decref(v);
        return gpn_err_set(err, v ? GPN_EINVAL : GPN_EFORMAT, "gpn_dataset_writer_meta: bad key or value");
    }
    for (size_t i = 0; i < sizeof reserved_keys / sizeof reserved_keys[0]; i++)
        if (!strcmp(key, reserved_keys[i])) {
            json_decref(v);
            return gpn_err_set(err, GPN_EINVAL, "gpn_dataset_writer_meta: key '%s' is reserved", key);
        }
    if (json_object_set_new(w->extra, key, v))
        return gpn_err_set(err, GPN_ENOMEM, "gpn_dataset_writer_meta: out of memory");
    return 0;
}

int gpn_dataset_writer_meta_str(struct gpn_dataset_writer *w, const char *key, const char *value,
                                struct gpn_err *err) {
    return meta_set(w, key, value ? json_string(value) : json_null(), err);
}

int gpn_dataset_writer_meta_num(struct gpn_dataset_writer *w, const char *key, double value,
                                struct gpn_err *err) {
    json_t *v = (value == (double)(int64_t)value && value > -9e15 && value < 9e15)
                    ? json_integer((json_int_t)value)
                    : json_real(value);
    return meta_set(w, key, v, err);
}

int gpn_dataset_writer_meta_json(struct gpn_dataset_writer *w, const char *key, const char *json,
                                 struct gpn_err *err) {
    json_error_t je;
    json_t *v = json ? json_loads(json, JSON_DECODE_ANY, &je) : NULL;
    if (!v)
        return gpn_err_set(err, GPN_EFORMAT, "gpn_dataset_writer_meta_json: '%s': invalid JSON",
                           key ? key : "");
    return meta_set(w, key, v, err);
}

static json_t *array_entry(const char *file, enum gpn_npy_dtype dt, int ndim, const int64_t *shape) {
    json_t *sh = json_array();
    for (int i = 0; i < ndim; i++)
        json_array_append_new(sh, json_integer(shape[i]));
    return json_pack("{s:s, s:s, s:o}", "file", file, "dtype", gpn_npy_dtype_descr(dt), "shape", sh);
}

static int write_meta(struct gpn_dataset_writer *w, struct gpn_err *err) {
    json_t *root = json_object(), *arrays = json_object();
    if (!root || !arrays) {
        json_decref(root);
        json_decref(arrays);
        return gpn_err_set(err, GPN_ENOMEM, "meta.json: out of memory");
    }
    int mods[MOD_N][3] = {{w->spec.s2_c, w->spec.s2_h, w->spec.s2_w},
                          {w->spec.ls_c, w->spec.ls_q, w->spec.ls_y},
                          {w->spec.cl_c, w->spec.cl_y, w->spec.cl_m}};
    for (int m = 0; m < MOD_N; m++) {
        char file[32];
        snprintf(file, sizeof file, "%s.npy", mod_name[m]);
        int64_t shape[4] = {w->n, mods[m][0], mods[m][1], mods[m][2]};
        json_object_set_new(arrays, mod_name[m],
                            mods[m][0] ? array_entry(file, m == MOD_S2 ? GPN_NPY_U1 : GPN_NPY_F4, 4, shape)
                                       : json_null());
    }
    int64_t sp = w->n + 1;
    json_object_set_new(arrays, "label_ptr", array_entry("label_ptr.npy", GPN_NPY_I8, 1, &sp));
    json_object_set_new(arrays, "label_idx", array_entry("label_idx.npy", GPN_NPY_I4, 1, &w->nnz));
    json_object_set_new(root, "format", json_string(DS_FORMAT));
    json_object_set_new(root, "version", json_integer(GPN_DATASET_VERSION));
    json_object_set_new(root, "gpn_version", json_string(GPN_VERSION));
    json_object_set_new(root, "n", json_integer(w->n));
    json_object_set_new(root, "n_species", json_integer(w->spec.n_species));
    json_object_set_new(root, "nnz", json_integer(w->nnz));
    json_object_set_new(root, "n_pa", json_integer(w->n_pa));
    json_object_set_new(root, "n_po", json_integer(w->n_po));
    json_object_set_new(root, "arrays", arrays);
    json_object_update(root, w->extra);
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!text) return gpn_err_set(err, GPN_ENOMEM, "meta.json: out of memory");
    char path[PATH_MAX];
    int rc = tmp_file(w, "meta.json", path, sizeof path, err);
    if (!rc) {
        struct gpn_buf b = {0};
        gpn_buf_puts(&b, text);
        gpn_buf_puts(&b, "\n");
        rc = b.oom ? gpn_err_set(err, GPN_ENOMEM, "meta.json: out of memory")
                   : gpn_file_write_atomic(path, b.data, b.len, err);
        gpn_buf_free(&b);
    }
    free(text);
    return rc;
}

static int write_species(struct gpn_dataset_writer *w, struct gpn_err *err) {
    struct gpn_buf b = {0};
    gpn_buf_puts(&b, "label,speciesId,n_samples\n");
    for (int i = 0; i < w->spec.n_species; i++)
        gpn_buf_printf(&b, "%d,%d,%" PRId64 "\n", i, (int)w->species_id[i], w->species_count[i]);
    if (b.oom) {
        gpn_buf_free(&b);
        return gpn_err_set(err, GPN_ENOMEM, "species.csv: out of memory");
    }
    char path[PATH_MAX];
    int rc = tmp_file(w, "species.csv", path, sizeof path, err);
    if (!rc) rc = gpn_file_write_atomic(path, b.data, b.len, err);
    gpn_buf_free(&b);
    return rc;
}

/* Releases the open files of w (without finishing them) and w itself. */
static void writer_free(struct gpn_dataset_writer *w) {
    for (int m = 0; m < MOD_N; m++)
        gpn_npy_writer_discard(w->arr[m]);
    gpn_npy_writer_discard(w->ptr);
    gpn_npy_writer_discard(w->idx);
    if (w->samples) fclose(w->samples);
    json_decref(w->extra);
    free(w->species_id);
    free(w->species_count);
    free(w);
}

int gpn_dataset_writer_commit(struct gpn_dataset_writer *w, struct gpn_err *err) {
    if (!w) return gpn_err_set(err, GPN_EINVAL, "gpn_dataset_writer_commit: NULL writer");
    int rc = 0;
    for (int m = 0; m < MOD_N && !rc; m++)
        if (w->arr[m]) {
            rc = gpn_npy_writer_close(w->arr[m], err);
            w->arr[m] = NULL;
        }
    if (!rc) {
        rc = gpn_npy_writer_close(w->ptr, err);
        w->ptr = NULL;
    }
    if (!rc) {
        rc = gpn_npy_writer_close(w->idx, err);
        w->idx = NULL;
    }
    if (!rc) {
        int bad = fflush(w->samples) != 0 || fsync(fileno(w->samples)) != 0;
        bad |= fclose(w->samples) != 0;
        w->samples = NULL;
        if (bad) rc = gpn_err_set(err, GPN_EIO, "%s/samples.csv: %s", w->tmp, strerror(errno));
    }
    if (!rc) rc = write_species(w, err);
    if (!rc) rc = write_meta(w, err);
    char old[PATH_MAX + 32] = "";
    if (!rc && gpn_path_exists(w->dir)) {
        if (!w->spec.force) {
            rc = gpn_err_set(err, GPN_EEXISTS, "%s: already exists (use --force to replace it)", w->dir);
        } else {
            snprintf(old, sizeof old, "%s.old-%ld", w->dir, (long)getpid());
            if ((rc = gpn_rm_rf(old, err)) == 0 && rename(w->dir, old) != 0)
                rc = gpn_err_set(err, GPN_EIO, "rename %s -> %s: %s", w->dir, old, strerror(errno));
        }
    }
    if (!rc) {
        rc = gpn_rename_atomic(w->tmp, w->dir, err);
        if (rc && old[0]) rename(old, w->dir); /* put the old dataset back */
    }
    if (rc) {
        gpn_dataset_writer_abort(w);
        return rc;
    }
    if (old[0]) {
        struct gpn_err e2 = {0};
        if (gpn_rm_rf(old, &e2)) gpn_log_warn("could not remove the replaced dataset %s: %s", old, e2.msg);
    }
    writer_free(w);
    return 0;
}

void gpn_dataset_writer_abort(struct gpn_dataset_writer *w) {
    if (!w) return;
    char tmp[PATH_MAX];
    gpn_strlcpy(tmp, w->tmp, sizeof tmp);
    writer_free(w);
    struct gpn_err e2 = {0};
    if (tmp[0] && gpn_rm_rf(tmp, &e2)) gpn_log_warn("could not remove %s: %s", tmp, e2.msg);
}
