/*
 * test_ckpt.c - the model file format (ckpt.h) and SDM save/load (sdm.h):
 * round trips, optimiser state for --resume, and rejection of corrupt,
 * truncated, hostile and mismatched files.
 *
 * Hostile files are built by editing a valid image and recomputing its CRC,
 * so the structural checks (not only the checksum) are exercised.
 */
#include <dirent.h>

#include "gpn/ckpt.h"
#include "gpn/sdm.h"
#include "gpn/util.h"
#include "nn_testutil.h"
#include "test.h"

static int build_small(uint8_t **buf, size_t *len)
{
    static const float a[6] = {1, 2, 3, 4, 5, 6};
    static const int32_t b[3] = {-1, 0, 7};
    static const uint8_t c[5] = {'h', 'e', 'l', 'l', 'o'};
    static const double d[1] = {3.25};
    struct gpn_ckpt_writer *w = NULL;
    struct gpn_err err = {0};
    int64_t sa[2] = {2, 3}, sb[1] = {3}, sc[1] = {5}, sd[3] = {1, 1, 1}, sz[1] = {0};
    int rc = gpn_ckpt_writer_create("gpn-test", "{\"k\":1}", &w, &err);
    rc = rc ? rc : gpn_ckpt_writer_add(w, "a", GPN_CKPT_F32, 2, sa, a, &err);
    rc = rc ? rc : gpn_ckpt_writer_add(w, "b.int", GPN_CKPT_I32, 1, sb, b, &err);
    rc = rc ? rc : gpn_ckpt_writer_add(w, "c", GPN_CKPT_U8, 1, sc, c, &err);
    rc = rc ? rc : gpn_ckpt_writer_add(w, "d", GPN_CKPT_F64, 3, sd, d, &err);
    rc = rc ? rc : gpn_ckpt_writer_add(w, "empty", GPN_CKPT_F32, 1, sz, NULL, &err);
    rc = rc ? rc : gpn_ckpt_writer_serialize(w, buf, len, &err);
    if (rc) fprintf(stderr, "  %s\n", err.msg);
    gpn_ckpt_writer_destroy(w);
    return rc;
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void fix_crc(uint8_t *b, size_t len)
{
    uint32_t c = gpn_crc32(0, b, len - 8);
    for (int i = 0; i < 4; i++) b[len - 8 + i] = (uint8_t)(c >> (8 * i));
}

static void test_roundtrip(void)
{
    uint8_t *buf;
    size_t len;
    ASSERT_OK(build_small(&buf, &len), (struct gpn_err *)NULL);
    struct gpn_ckpt *ck = NULL;
    struct gpn_err err = {0};
    ASSERT_OK(gpn_ckpt_parse(buf, len, &ck, &err), &err);
    free(buf);
    ASSERT_STR_EQ(gpn_ckpt_kind(ck), "gpn-test");
    ASSERT_STR_EQ(gpn_ckpt_config(ck), "{\"k\":1}");
    ASSERT_EQ_INT(gpn_ckpt_count(ck), 5);
    const struct gpn_ckpt_tensor *t = gpn_ckpt_find(ck, "a");
    ASSERT_TRUE(t);
    ASSERT_EQ_INT(t->rank, 2);
    ASSERT_EQ_INT(t->shape[1], 3);
    ASSERT_EQ_INT((uintptr_t)t->data % 4, 0);
    ASSERT_NEAR(((const float *)t->data)[5], 6, 0);
    int64_t sb[1] = {3}, bad[1] = {4};
    const int32_t *b = gpn_ckpt_expect(ck, "b.int", GPN_CKPT_I32, 1, sb, &err);
    ASSERT_TRUE(b);
    ASSERT_EQ_INT(b[2], 7);
    ASSERT_TRUE(gpn_ckpt_expect(ck, "b.int", GPN_CKPT_I32, 1, bad, &err) == NULL);
    ASSERT_STR_CONTAINS(err.msg, "(3)");
    ASSERT_TRUE(gpn_ckpt_expect(ck, "b.int", GPN_CKPT_F32, 1, sb, &err) == NULL);
    ASSERT_TRUE(gpn_ckpt_expect(ck, "zzz", GPN_CKPT_F32, 1, sb, &err) == NULL);
    ASSERT_STR_CONTAINS(err.msg, "missing");
    ASSERT_NEAR(((const double *)gpn_ckpt_find(ck, "d")->data)[0], 3.25, 0);
    ASSERT_EQ_INT(gpn_ckpt_find(ck, "empty")->nbytes, 0);
    ASSERT_TRUE(gpn_ckpt_tensor_at(ck, 5) == NULL);
    gpn_ckpt_close(ck);
}

static void test_writer_rejects_bad_input(void)
{
    struct gpn_ckpt_writer *w = NULL;
    struct gpn_err err = {0};
    float x = 1;
    int64_t s[1] = {1}, neg[1] = {-1};
    ASSERT_RC(gpn_ckpt_writer_create("bad kind", "", &w, &err), GPN_EINVAL);
    ASSERT_OK(gpn_ckpt_writer_create("k", "", &w, &err), &err);
    ASSERT_OK(gpn_ckpt_writer_add(w, "x", GPN_CKPT_F32, 1, s, &x, &err), &err);
    ASSERT_RC(gpn_ckpt_writer_add(w, "x", GPN_CKPT_F32, 1, s, &x, &err), GPN_EEXISTS);
    ASSERT_RC(gpn_ckpt_writer_add(w, "has space", GPN_CKPT_F32, 1, s, &x, &err), GPN_EINVAL);
    ASSERT_RC(gpn_ckpt_writer_add(w, "", GPN_CKPT_F32, 1, s, &x, &err), GPN_EINVAL);
    ASSERT_RC(gpn_ckpt_writer_add(w, "y", 99, 1, s, &x, &err), GPN_EINVAL);
    ASSERT_RC(gpn_ckpt_writer_add(w, "y", GPN_CKPT_F32, 9, s, &x, &err), GPN_EINVAL);
    ASSERT_RC(gpn_ckpt_writer_add(w, "y", GPN_CKPT_F32, 1, neg, &x, &err), GPN_EINVAL);
    gpn_ckpt_writer_destroy(w);
}

/* Every single-byte corruption and every truncation is rejected. */
static void test_corruption_rejected(void)
{
    uint8_t *buf;
    size_t len;
    ASSERT_OK(build_small(&buf, &len), (struct gpn_err *)NULL);
    struct gpn_err err = {0};
    struct gpn_ckpt *ck = NULL;
    for (size_t i = 0; i < len; i++) {
        uint8_t *b = malloc(len);
        memcpy(b, buf, len);
        b[i] ^= 0x5a;
        int rc = gpn_ckpt_parse(b, len, &ck, &err);
        free(b);
        if (rc == 0) {
            gpn_ckpt_close(ck);
            free(buf);
            T__FAIL("flipping byte %zu of %zu was not detected", i, len);
        }
        ASSERT_TRUE(ck == NULL);
    }
    for (size_t n = 0; n < len; n++) {
        int rc = gpn_ckpt_parse(buf, n, &ck, &err);
        if (rc == 0) {
            gpn_ckpt_close(ck);
            free(buf);
            T__FAIL("truncation to %zu bytes was not detected", n);
        }
    }
    free(buf);
}

/* Structural lies with a valid checksum. */
static void test_hostile_headers_rejected(void)
{
    uint8_t *buf;
    size_t len;
    ASSERT_OK(build_small(&buf, &len), (struct gpn_err *)NULL);
    struct gpn_err err = {0};
    struct gpn_ckpt *ck = NULL;
    uint8_t *b = malloc(len);
    /* version from the future */
    memcpy(b, buf, len);
    b[8] = 9;
    fix_crc(b, len);
    ASSERT_RC(gpn_ckpt_parse(b, len, &ck, &err), GPN_EUNSUPPORTED);
    /* huge tensor count */
    memcpy(b, buf, len);
    b[24] = 0xff, b[25] = 0xff, b[26] = 0xff, b[27] = 0x7f;
    fix_crc(b, len);
    ASSERT_RC(gpn_ckpt_parse(b, len, &ck, &err), GPN_EFORMAT);
    /* config length past the end */
    memcpy(b, buf, len);
    put_u64(b + 32, (uint64_t)1 << 62);
    fix_crc(b, len);
    ASSERT_RC(gpn_ckpt_parse(b, len, &ck, &err), GPN_EFORMAT);
    /* data offset not aligned */
    memcpy(b, buf, len);
    b[48] += 1;
    fix_crc(b, len);
    ASSERT_RC(gpn_ckpt_parse(b, len, &ck, &err), GPN_EFORMAT);
    /* first tensor: shape lies about its size ("a" is the first entry after
     * kind "gpn-test" (8) and config (7) at offset 64 + 15 = 79:
     * u16 len, 'a', dtype, rank, shape[2], offset, nbytes) */
    size_t e = 79;
    ASSERT_EQ_INT(b[e], 1);
    ASSERT_EQ_INT(b[e + 2], 'a');
    memcpy(b, buf, len);
    put_u64(b + e + 5, 1000); /* shape[0] = 1000 */
    fix_crc(b, len);
    ASSERT_RC(gpn_ckpt_parse(b, len, &ck, &err), GPN_EFORMAT);
    /* huge dimension product that would overflow */
    memcpy(b, buf, len);
    put_u64(b + e + 5, (uint64_t)1 << 40);
    put_u64(b + e + 13, (uint64_t)1 << 40);
    fix_crc(b, len);
    ASSERT_RC(gpn_ckpt_parse(b, len, &ck, &err), GPN_EFORMAT);
    /* data offset outside the file */
    memcpy(b, buf, len);
    put_u64(b + e + 21, (uint64_t)1 << 30);
    fix_crc(b, len);
    ASSERT_RC(gpn_ckpt_parse(b, len, &ck, &err), GPN_EFORMAT);
    /* bad dtype */
    memcpy(b, buf, len);
    b[e + 3] = 42;
    fix_crc(b, len);
    ASSERT_RC(gpn_ckpt_parse(b, len, &ck, &err), GPN_EFORMAT);
    /* rank 200 */
    memcpy(b, buf, len);
    b[e + 4] = 200;
    fix_crc(b, len);
    ASSERT_RC(gpn_ckpt_parse(b, len, &ck, &err), GPN_EFORMAT);
    /* duplicate name: rename "c" to "a" (entries: a, b.int, c) */
    memcpy(b, buf, len);
    size_t e2 = e + 2 + 1 + 2 + 16 + 16, e3 = e2 + 2 + 5 + 2 + 8 + 16;
    ASSERT_EQ_INT(b[e3 + 2], 'c');
    b[e3 + 2] = 'a';
    fix_crc(b, len);
    ASSERT_RC(gpn_ckpt_parse(b, len, &ck, &err), GPN_EFORMAT);
    ASSERT_STR_CONTAINS(err.msg, "duplicate");
    /* name with a control character */
    memcpy(b, buf, len);
    b[e + 2] = '\n';
    fix_crc(b, len);
    ASSERT_RC(gpn_ckpt_parse(b, len, &ck, &err), GPN_EFORMAT);
    /* garbage of every small length */
    for (size_t n = 0; n < 128; n++) {
        memset(b, 'G', n < len ? n : len);
        ASSERT_TRUE(gpn_ckpt_parse(b, n < len ? n : len, &ck, &err) != 0);
    }
    free(b);
    free(buf);
}

/* ==== SDM save / load ===================================================== */

static int make_model(struct gpn_sdm **m, int train)
{
    struct gpn_err err = {0};
    struct gpn_sdm_config c;
    int rc = gpn_sdm_config_from_json("{\"name\":\"t\",\"n_species\":9,\"widths\":[4,6,5,8],\"sentinel\":[4,10,10]}", &c,
                                      &err);
    rc = rc ? rc : gpn_sdm_create(&c, 4, train, 77, m, &err);
    if (rc) fprintf(stderr, "  %s\n", err.msg);
    return rc;
}

struct inputs {
    uint8_t s2[4 * 400];
    float ls[4 * 504], cl[4 * 912];
};

static void make_inputs(struct inputs *in)
{
    uint64_t s = 5;
    for (int i = 0; i < 1600; i++) in->s2[i] = (uint8_t)(i * 37 % 251);
    fill_rand(in->ls, 4 * 504, &s);
    fill_rand(in->cl, 4 * 912, &s);
}

static void test_sdm_save_load_identical(void)
{
    struct gpn_err err = {0};
    struct gpn_sdm *m = NULL, *l = NULL;
    ASSERT_OK(make_model(&m, 1), &err);
    struct inputs in;
    make_inputs(&in);
    float mean[6] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f}, sd[6] = {1, 2, 3, 4, 5, 6};
    int32_t sp[9] = {5, 4, 3, 2, 1, 100, 200, 300, 400};
    ASSERT_OK(gpn_sdm_set_norm(m, GPN_SDM_LANDSAT, mean, sd, &err), &err);
    ASSERT_OK(gpn_sdm_set_species(m, sp, &err), &err);
    ASSERT_OK(gpn_sdm_set_meta(m, "{\"epochs\":3}", &err), &err);
    /* one training step so running statistics are not the defaults */
    float lg[36], lg2[36], dl[36];
    ASSERT_OK(gpn_sdm_forward(m, 4, in.s2, in.ls, in.cl, lg, &err), &err);
    ASSERT_OK(gpn_sdm_set_train(m, 0), &err);
    ASSERT_OK(gpn_sdm_forward(m, 4, in.s2, in.ls, in.cl, lg, &err), &err);
    char path[600];
    snprintf(path, sizeof path, "%s/m.gpnm", test_tmpdir());
    ASSERT_OK(gpn_sdm_save(m, NULL, path, &err), &err);
    for (int train = 0; train <= 1; train++) {
        struct gpn_optim *o = (struct gpn_optim *)&err; /* must be overwritten with NULL */
        ASSERT_OK(gpn_sdm_load(path, 4, train, &l, &o, &err), &err);
        ASSERT_TRUE(o == NULL);
        if (train) ASSERT_OK(gpn_sdm_set_train(l, 0), &err);
        ASSERT_OK(gpn_sdm_forward(l, 4, in.s2, in.ls, in.cl, lg2, &err), &err);
        ASSERT_TRUE(!memcmp(lg, lg2, sizeof lg));
        ASSERT_EQ_INT(gpn_sdm_get_species(l)[5], 100);
        ASSERT_STR_EQ(gpn_sdm_get_meta(l), "{\"epochs\":3}");
        const float *gm, *gs;
        ASSERT_OK(gpn_sdm_get_norm(l, GPN_SDM_LANDSAT, &gm, &gs), &err);
        ASSERT_NEAR(gs[5], 6, 0);
        ASSERT_STR_EQ(gpn_sdm_get_config(l)->name, "t");
        gpn_sdm_destroy(l);
        l = NULL;
    }
    (void)dl;
    /* no temporary file left behind */
    DIR *d = opendir(test_tmpdir());
    struct dirent *de;
    int files = 0;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.') files++;
    closedir(d);
    ASSERT_EQ_INT(files, 1);
    gpn_sdm_destroy(m);
}

/* Saving the optimiser state and resuming gives the same parameters as
 * never stopping. */
static void test_sdm_resume_optimizer(void)
{
    struct gpn_err err = {0};
    struct gpn_sdm *m = NULL, *r = NULL;
    ASSERT_OK(make_model(&m, 1), &err);
    struct inputs in;
    make_inputs(&in);
    size_t np;
    float *p = gpn_sdm_params(m, &np);
    struct gpn_optim_config oc;
    gpn_optim_config_default(&oc, GPN_OPTIM_ADAMW);
    struct gpn_optim *o = NULL, *ro = NULL;
    ASSERT_OK(gpn_optim_create(&oc, np, &o, &err), &err);
    float lg[36], dl[36], y[36];
    for (int i = 0; i < 36; i++) y[i] = (float)(i % 3 == 0);
    char path[600];
    snprintf(path, sizeof path, "%s/resume.gpnm", test_tmpdir());
    for (int step = 0; step < 4; step++) {
        if (step == 2) {
            ASSERT_OK(gpn_sdm_save(m, o, path, &err), &err);
            ASSERT_OK(gpn_sdm_load(path, 4, 1, &r, &ro, &err), &err);
            ASSERT_TRUE(ro != NULL);
            ASSERT_EQ_INT(gpn_optim_steps(ro), 2);
        }
        struct gpn_sdm *mm[2] = {m, r};
        struct gpn_optim *oo[2] = {o, ro};
        for (int k = 0; k < (r ? 2 : 1); k++) {
            ASSERT_OK(gpn_sdm_forward(mm[k], 4, in.s2, in.ls, in.cl, lg, &err), &err);
            gpn_bce_logits(dl, lg, y, NULL, NULL, 4, 9);
            gpn_sdm_zero_grad(mm[k]);
            ASSERT_OK(gpn_sdm_backward(mm[k], dl, &err), &err);
            gpn_optim_step(oo[k], gpn_sdm_params(mm[k], NULL), gpn_sdm_grads(mm[k], NULL), 1e-2f);
        }
    }
    ASSERT_TRUE(!memcmp(p, gpn_sdm_params(r, NULL), np * sizeof(float)));
    gpn_optim_destroy(o);
    gpn_optim_destroy(ro);
    gpn_sdm_destroy(m);
    gpn_sdm_destroy(r);
}

static void test_sdm_load_rejects_wrong_files(void)
{
    struct gpn_err err = {0};
    struct gpn_sdm *m = NULL, *l = NULL;
    char path[600], bad[600];
    snprintf(path, sizeof path, "%s/a.gpnm", test_tmpdir());
    snprintf(bad, sizeof bad, "%s/b.gpnm", test_tmpdir());
    ASSERT_RC(gpn_sdm_load(path, 4, 0, &l, NULL, &err), GPN_ENOTFOUND);
    ASSERT_OK(make_model(&m, 0), &err);
    ASSERT_OK(gpn_sdm_save(m, NULL, path, &err), &err);
    /* a fixture is a model-format file of another kind */
    ASSERT_RC(gpn_sdm_load(FIXDIR "relu_n37.bin", 4, 0, &l, NULL, &err), GPN_EFORMAT);
    ASSERT_STR_CONTAINS(err.msg, "gpn-fixture");
    /* rewrite with one tensor of the wrong shape, valid checksum */
    struct gpn_ckpt *ck = NULL;
    ASSERT_OK(gpn_ckpt_open(path, &ck, &err), &err);
    struct gpn_ckpt_writer *w = NULL;
    ASSERT_OK(gpn_ckpt_writer_create(gpn_ckpt_kind(ck), gpn_ckpt_config(ck), &w, &err), &err);
    for (int i = 0; i < gpn_ckpt_count(ck); i++) {
        const struct gpn_ckpt_tensor *t = gpn_ckpt_tensor_at(ck, i);
        int64_t shape[8];
        memcpy(shape, t->shape, sizeof shape);
        int rank = t->rank;
        if (!strcmp(t->name, "head.bias")) shape[0] = 8; /* 9 species in the config */
        ASSERT_OK(gpn_ckpt_writer_add(w, t->name, t->dtype, rank, shape, t->data, &err), &err);
    }
    ASSERT_OK(gpn_ckpt_writer_write(w, bad, &err), &err);
    gpn_ckpt_writer_destroy(w);
    ASSERT_RC(gpn_sdm_load(bad, 4, 0, &l, NULL, &err), GPN_EFORMAT);
    ASSERT_STR_CONTAINS(err.msg, "head.bias");
    /* missing tensor */
    ASSERT_OK(gpn_ckpt_writer_create(gpn_ckpt_kind(ck), gpn_ckpt_config(ck), &w, &err), &err);
    for (int i = 0; i < gpn_ckpt_count(ck); i++) {
        const struct gpn_ckpt_tensor *t = gpn_ckpt_tensor_at(ck, i);
        if (strcmp(t->name, "enc.climate.2.bn.running_var"))
            ASSERT_OK(gpn_ckpt_writer_add(w, t->name, t->dtype, t->rank, t->shape, t->data, &err), &err);
    }
    ASSERT_OK(gpn_ckpt_writer_write(w, bad, &err), &err);
    gpn_ckpt_writer_destroy(w);
    ASSERT_RC(gpn_sdm_load(bad, 4, 0, &l, NULL, &err), GPN_EFORMAT);
    ASSERT_STR_CONTAINS(err.msg, "running_var");
    /* a broken config */
    ASSERT_OK(gpn_ckpt_writer_create(gpn_ckpt_kind(ck), "{\"widths\":\"x\"}", &w, &err), &err);
    ASSERT_OK(gpn_ckpt_writer_write(w, bad, &err), &err);
    gpn_ckpt_writer_destroy(w);
    ASSERT_RC(gpn_sdm_load(bad, 4, 0, &l, NULL, &err), GPN_EFORMAT);
    gpn_ckpt_close(ck);
    /* a flipped byte in the real file */
    char *data;
    size_t len;
    ASSERT_OK(gpn_file_read(path, &data, &len, &err), &err);
    data[len / 2] ^= 1;
    ASSERT_OK(gpn_file_write_atomic(bad, data, len, &err), &err);
    free(data);
    ASSERT_RC(gpn_sdm_load(bad, 4, 0, &l, NULL, &err), GPN_ECHECKSUM);
    ASSERT_TRUE(l == NULL);
    gpn_sdm_destroy(m);
}

int main(void)
{
    RUN(test_roundtrip);
    RUN(test_writer_rejects_bad_input);
    RUN(test_corruption_rejected);
    RUN(test_hostile_headers_rejected);
    RUN(test_sdm_save_load_identical);
    RUN(test_sdm_resume_optimizer);
    RUN(test_sdm_load_rejects_wrong_files);
    return test_summary();
}
