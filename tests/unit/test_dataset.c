/*
 * test_dataset.c - the .npy helpers and the dataset folder (dataset.h):
 * byte-exact npy headers, streamed writing, mmap reading and its checks,
 * the writer's atomic folder commit and the reader's validation.
 */
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gpn/dataset.h"
#include "gpn/util.h"
#include "test.h"

/* "a/b" in one of 8 rotating buffers (callers keep long-lived paths in
 * their own arrays). */
static char *join(const char *a, const char *b) {
    static char buf[8][1024];
    static int k;
    char *p = buf[k++ & 7];
    snprintf(p, 1024, "%s/%s", a, b);
    return p;
}

static size_t file_size(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 ? (size_t)st.st_size : 0;
}

/* ==== npy ================================================================ */

static void test_npy_header_bytes(void) {
    /* The exact header numpy 1.24 writes for np.save(f, np.zeros(5, '<i8'))
     * is "{'descr': '<i8', 'fortran_order': False, 'shape': (5,), }" padded
     * to 128 bytes total; we must produce the same dict text. */
    const char *path = join(test_tmpdir(), "a.npy");
    int64_t v[5] = {0, 1, 2, 3, -4};
    int64_t shape[1] = {5};
    struct gpn_err err = {0};
    ASSERT_OK(gpn_npy_write(path, GPN_NPY_I8, 1, shape, v, &err), &err);
    char *data = NULL;
    size_t len = 0;
    ASSERT_OK(gpn_file_read(path, &data, &len, &err), &err);
    ASSERT_EQ_INT(len, 128 + 40);
    ASSERT_TRUE(!memcmp(data, "\x93NUMPY\x01\x00", 8));
    ASSERT_EQ_INT((unsigned char)data[8] | (unsigned char)data[9] << 8, 118);
    ASSERT_TRUE(!strncmp(data + 10, "{'descr': '<i8', 'fortran_order': False, 'shape': (5,), }", 57));
    ASSERT_EQ_INT(data[127], '\n');
    int64_t back[5];
    memcpy(back, data + 128, sizeof back);
    free(data);
    ASSERT_EQ_INT(back[4], -4);
}

static void test_npy_roundtrip_dtypes(void) {
    struct gpn_err err = {0};
    const char *dir = test_tmpdir();
    float f[6] = {1.5f, -2, 3, NAN, 5, 6};
    uint8_t u[6] = {0, 1, 127, 128, 254, 255};
    int32_t i4[6] = {INT32_MIN, -1, 0, 1, 2, INT32_MAX};
    int64_t shape[2] = {2, 3};
    ASSERT_OK(gpn_npy_write(join(dir, "f.npy"), GPN_NPY_F4, 2, shape, f, &err), &err);
    ASSERT_OK(gpn_npy_write(join(dir, "u.npy"), GPN_NPY_U1, 2, shape, u, &err), &err);
    ASSERT_OK(gpn_npy_write(join(dir, "i.npy"), GPN_NPY_I4, 2, shape, i4, &err), &err);
    struct gpn_npy a;
    ASSERT_OK(gpn_npy_map(join(dir, "f.npy"), &a, &err), &err);
    ASSERT_EQ_INT(a.dtype, GPN_NPY_F4);
    ASSERT_EQ_INT(a.ndim, 2);
    ASSERT_EQ_INT(a.shape[0], 2);
    ASSERT_EQ_INT(a.shape[1], 3);
    ASSERT_EQ_INT(a.nbytes, 24);
    ASSERT_EQ_INT(((uintptr_t)a.data) % 64, 0); /* data aligned for any element type */
    ASSERT_NEAR(((const float *)a.data)[0], 1.5, 0);
    ASSERT_TRUE(isnan(((const float *)a.data)[3]));
    gpn_npy_unmap(&a);
    ASSERT_OK(gpn_npy_map(join(dir, "u.npy"), &a, &err), &err);
    ASSERT_EQ_INT(a.dtype, GPN_NPY_U1);
    ASSERT_EQ_INT(((const uint8_t *)a.data)[5], 255);
    gpn_npy_unmap(&a);
    ASSERT_OK(gpn_npy_map(join(dir, "i.npy"), &a, &err), &err);
    ASSERT_EQ_INT(((const int32_t *)a.data)[0], INT32_MIN);
    ASSERT_EQ_INT(((const int32_t *)a.data)[5], INT32_MAX);
    gpn_npy_unmap(&a);
    /* 0-d and empty arrays. */
    int64_t zero[1] = {0};
    ASSERT_OK(gpn_npy_write(join(dir, "e.npy"), GPN_NPY_I4, 1, zero, NULL, &err), &err);
    ASSERT_OK(gpn_npy_map(join(dir, "e.npy"), &a, &err), &err);
    ASSERT_EQ_INT(a.shape[0], 0);
    ASSERT_EQ_INT(gpn_npy_count(&a), 0);
    gpn_npy_unmap(&a);
    double sc = 2.5;
    ASSERT_OK(gpn_npy_write(join(dir, "s.npy"), GPN_NPY_F8, 0, NULL, &sc, &err), &err);
    ASSERT_OK(gpn_npy_map(join(dir, "s.npy"), &a, &err), &err);
    ASSERT_EQ_INT(a.ndim, 0);
    ASSERT_NEAR(*(const double *)a.data, 2.5, 0);
    gpn_npy_unmap(&a);
}

static void test_npy_streaming_writer(void) {
    struct gpn_err err = {0};
    const char *path = join(test_tmpdir(), "s.npy");
    int64_t shape[3] = {0, 2, 3};
    struct gpn_npy_writer *w = NULL;
    ASSERT_OK(gpn_npy_writer_open(path, GPN_NPY_F4, 3, shape, &w, &err), &err);
    float rows[3][6];
    for (int r = 0; r < 3; r++)
        for (int k = 0; k < 6; k++)
            rows[r][k] = (float)(r * 10 + k);
    ASSERT_OK(gpn_npy_writer_append(w, rows[0], 1, &err), &err);
    ASSERT_OK(gpn_npy_writer_append(w, rows[1], 2, &err), &err);
    ASSERT_OK(gpn_npy_writer_close(w, &err), &err);
    struct gpn_npy a;
    ASSERT_OK(gpn_npy_map(path, &a, &err), &err);
    ASSERT_EQ_INT(a.ndim, 3);
    ASSERT_EQ_INT(a.shape[0], 3);
    ASSERT_EQ_INT(a.shape[2], 3);
    ASSERT_NEAR(((const float *)a.data)[17], 25, 0);
    gpn_npy_unmap(&a);
}

static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(p, 1, n, f);
        fclose(f);
    }
}

static void test_npy_rejects_bad_files(void) {
    struct gpn_err err = {0};
    const char *dir = test_tmpdir();
    struct gpn_npy a;
    write_bytes(join(dir, "magic.npy"), "PK\x03\x04 this is a zip file", 24);
    ASSERT_RC(gpn_npy_map(join(dir, "magic.npy"), &a, &err), GPN_EFORMAT);
    ASSERT_STR_CONTAINS(err.msg, "bad magic");
    /* A header that promises more data than the file has. */
    float f[4] = {1, 2, 3, 4};
    int64_t shape[1] = {4};
    ASSERT_OK(gpn_npy_write(join(dir, "t.npy"), GPN_NPY_F4, 1, shape, f, &err), &err);
    ASSERT_EQ_INT(truncate(join(dir, "t.npy"), 128 + 8), 0);
    ASSERT_RC(gpn_npy_map(join(dir, "t.npy"), &a, &err), GPN_EFORMAT);
    ASSERT_STR_CONTAINS(err.msg, "truncated npy file");
    /* Fortran order and big-endian descr. */
    char hdr[128];
    memset(hdr, ' ', sizeof hdr);
    memcpy(hdr, "\x93NUMPY\x01\x00\x76\x00", 10);
    const char *d1 = "{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }";
    memcpy(hdr + 10, d1, strlen(d1));
    hdr[127] = '\n';
    char buf[132];
    memcpy(buf, hdr, 128);
    memset(buf + 128, 0, 4);
    write_bytes(join(dir, "fo.npy"), buf, sizeof buf);
    ASSERT_RC(gpn_npy_map(join(dir, "fo.npy"), &a, &err), GPN_EUNSUPPORTED);
    ASSERT_STR_CONTAINS(err.msg, "Fortran");
    const char *d2 = "{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }";
    memcpy(buf + 10, d2, strlen(d2));
    write_bytes(join(dir, "be.npy"), buf, sizeof buf);
    ASSERT_RC(gpn_npy_map(join(dir, "be.npy"), &a, &err), GPN_EUNSUPPORTED);
    ASSERT_STR_CONTAINS(err.msg, "'>f4' not supported");
    ASSERT_RC(gpn_npy_map(join(dir, "nope.npy"), &a, &err), GPN_ENOTFOUND);
}

/* ==== dataset ============================================================= */

static const int32_t SPECIES[3] = {12, 500, 6310};

/* Writes a 3-sample dataset with Sentinel (4,2,2) and climate (4,19,12). */
static int write_small(const char *dir, int force, struct gpn_err *err) {
    struct gpn_dataset_spec spec = {0};
    spec.n_species = 3;
    spec.species_id = SPECIES;
    spec.s2_c = 4, spec.s2_h = 2, spec.s2_w = 2;
    spec.cl_c = 4, spec.cl_y = 19, spec.cl_m = 12;
    spec.force = force;
    struct gpn_dataset_writer *w = NULL;
    int rc = gpn_dataset_writer_create(dir, &spec, &w, err);
    if (rc) return rc;
    uint8_t s2[16];
    float cl[912];
    for (int i = 0; i < 3; i++) {
        for (int k = 0; k < 16; k++)
            s2[k] = (uint8_t)(i * 16 + k);
        for (int k = 0; k < 912; k++)
            cl[k] = (float)i + (float)k / 1000.0f;
        struct gpn_sample_meta m = {
            100 + i, i == 2 ? GPN_SAMPLE_PO : GPN_SAMPLE_PA, 5.5 + i, 45.25, 4000000.5 + i, 2500000, 2019 + i,
            77 * i};
        struct gpn_sample_extra ex = {i + 1, -1, 999, i == 1 ? "sentinel" : NULL};
        int32_t labels[3] = {0, 1, 2};
        /* Sample 0: labels {0, 2}; sample 1: none; sample 2: {0, 1, 2}. */
        const int32_t *lab = i == 0 ? (const int32_t[]){0, 2} : labels;
        size_t nl = i == 0 ? 2 : i == 1 ? 0 : 3;
        if ((rc = gpn_dataset_writer_add(w, &m, &ex, lab, nl, s2, NULL, cl, err))) {
            gpn_dataset_writer_abort(w);
            return rc;
        }
    }
    if ((rc = gpn_dataset_writer_meta_str(w, "note", "unit test", err)) ||
        (rc = gpn_dataset_writer_meta_num(w, "block_km", 10, err))) {
        gpn_dataset_writer_abort(w);
        return rc;
    }
    return gpn_dataset_writer_commit(w, err);
}

static void test_dataset_write_open(void) {
    struct gpn_err err = {0};
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/ds", test_tmpdir());
    ASSERT_OK(write_small(dir, 0, &err), &err);
    struct gpn_dataset *d = NULL;
    ASSERT_OK(gpn_dataset_open(dir, &d, &err), &err);
    ASSERT_EQ_INT(d->n, 3);
    ASSERT_EQ_INT(d->n_species, 3);
    ASSERT_EQ_INT(d->s2_c, 4);
    ASSERT_EQ_INT(d->s2_h, 2);
    ASSERT_EQ_INT(d->ls_c, 0);
    ASSERT_TRUE(d->landsat == NULL);
    ASSERT_EQ_INT(d->cl_y, 19);
    ASSERT_EQ_INT(d->sentinel[16 * 2 + 15], 47);
    ASSERT_NEAR(d->climate[912 * 1 + 911], 1.911, 1e-6);
    ASSERT_EQ_INT(d->label_ptr[0], 0);
    ASSERT_EQ_INT(d->label_ptr[1], 2);
    ASSERT_EQ_INT(d->label_ptr[2], 2);
    ASSERT_EQ_INT(d->label_ptr[3], 5);
    ASSERT_EQ_INT(d->label_idx[1], 2);
    ASSERT_EQ_INT(d->species_id[2], 6310);
    ASSERT_EQ_INT(d->meta[1].survey_id, 101);
    ASSERT_EQ_INT(d->meta[2].kind, GPN_SAMPLE_PO);
    ASSERT_NEAR(d->meta[2].lon, 7.5, 1e-9);
    ASSERT_NEAR(d->meta[0].x, 4000000.5, 1e-3);
    ASSERT_EQ_INT(d->meta[2].year, 2021);
    ASSERT_EQ_INT(d->meta[2].block, 154);
    gpn_dataset_close(d);
    /* No temporary folder is left beside the dataset. */
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", dir, (long)getpid());
    ASSERT_FALSE(gpn_path_exists(tmp));
    char *meta = NULL;
    size_t len;
    ASSERT_OK(gpn_file_read(join(dir, "meta.json"), &meta, &len, &err), &err);
    int has_note = strstr(meta, "\"note\": \"unit test\"") != NULL;
    free(meta);
    ASSERT_TRUE(has_note);
}

static void test_dataset_exists_force_abort(void) {
    struct gpn_err err = {0};
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/ds", test_tmpdir());
    ASSERT_OK(write_small(dir, 0, &err), &err);
    ASSERT_RC(write_small(dir, 0, &err), GPN_EEXISTS);
    ASSERT_STR_CONTAINS(err.msg, "already exists");
    ASSERT_OK(write_small(dir, 1, &err), &err);
    /* Abort: nothing appears under a new name and the temp folder is gone. */
    char dir2[1024];
    snprintf(dir2, sizeof dir2, "%s/ds2", test_tmpdir());
    struct gpn_dataset_spec spec = {0};
    struct gpn_dataset_writer *w = NULL;
    ASSERT_OK(gpn_dataset_writer_create(dir2, &spec, &w, &err), &err);
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", dir2, (long)getpid());
    ASSERT_TRUE(gpn_is_dir(tmp));
    gpn_dataset_writer_abort(w);
    ASSERT_FALSE(gpn_path_exists(tmp));
    ASSERT_FALSE(gpn_path_exists(dir2));
    /* Reserved meta keys and bad labels are refused. */
    ASSERT_OK(gpn_dataset_writer_create(dir2, &spec, &w, &err), &err);
    ASSERT_RC(gpn_dataset_writer_meta_num(w, "n", 5, &err), GPN_EINVAL);
    struct gpn_sample_meta m = {0};
    int32_t lab[1] = {0};
    ASSERT_RC(gpn_dataset_writer_add(w, &m, NULL, lab, 1, NULL, NULL, NULL, &err), GPN_EINVAL);
    gpn_dataset_writer_abort(w);
}

static void test_dataset_open_validates(void) {
    struct gpn_err err = {0};
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/ds", test_tmpdir());
    ASSERT_OK(write_small(dir, 0, &err), &err);
    struct gpn_dataset *d = NULL;
    /* Wrong shape of one array. */
    uint8_t junk[3 * 4 * 3 * 3] = {0};
    int64_t bad[4] = {3, 4, 3, 3};
    ASSERT_OK(gpn_npy_write(join(dir, "sentinel.npy"), GPN_NPY_U1, 4, bad, junk, &err), &err);
    ASSERT_RC(gpn_dataset_open(dir, &d, &err), GPN_EFORMAT);
    ASSERT_STR_CONTAINS(err.msg, "sentinel.npy: shape (3, 4, 3, 3), meta.json says (3, 4, 2, 2)");
    ASSERT_TRUE(d == NULL);
    /* A label index outside the label space. */
    ASSERT_OK(write_small(dir, 1, &err), &err);
    int32_t idx[5] = {0, 2, 0, 1, 3};
    int64_t n5 = 5;
    ASSERT_OK(gpn_npy_write(join(dir, "label_idx.npy"), GPN_NPY_I4, 1, &n5, idx, &err), &err);
    ASSERT_RC(gpn_dataset_open(dir, &d, &err), GPN_EFORMAT);
    ASSERT_STR_CONTAINS(err.msg, "label_idx.npy: element 4 = 3 outside [0, 3)");
    /* A samples.csv with a row too few. */
    ASSERT_OK(write_small(dir, 1, &err), &err);
    char *txt = NULL;
    size_t len;
    ASSERT_OK(gpn_file_read(join(dir, "samples.csv"), &txt, &len, &err), &err);
    char *last = txt + len - 2;
    while (last > txt && *last != '\n')
        last--;
    ASSERT_OK(gpn_file_write_atomic(join(dir, "samples.csv"), txt, (size_t)(last - txt + 1), &err), &err);
    free(txt);
    ASSERT_RC(gpn_dataset_open(dir, &d, &err), GPN_EFORMAT);
    ASSERT_STR_CONTAINS(err.msg, "samples.csv: 2 rows, meta.json says n = 3");
    ASSERT_RC(gpn_dataset_open(join(dir, "nope"), &d, &err), GPN_ENOTFOUND);
    ASSERT_TRUE(file_size(join(dir, "meta.json")) > 0);
}

int main(void) {
    RUN(test_npy_header_bytes);
    RUN(test_npy_roundtrip_dtypes);
    RUN(test_npy_streaming_writer);
    RUN(test_npy_rejects_bad_files);
    RUN(test_dataset_write_open);
    RUN(test_dataset_exists_force_abort);
    RUN(test_dataset_open_validates);
    return test_summary();
}
