/*
 * nn_testutil.h - shared helpers of the neural-network tests
 * (test_nn_ref.c, test_nn_ops.c, test_sdm_model.c, test_ckpt.c): fixture
 * loading, tensor comparison with a report, layout conversion, random data.
 *
 * Fixtures are files in the model format (ckpt.h) written by
 * tests/ref/gen_fixtures.py. check_close() reports max-abs error, max-rel
 * error and NMSE (ggml), the worst index and the first values (llm.c
 * check_tensor) and returns nonzero on failure; the caller turns that into a
 * failed assertion, so a mismatch always fails the test program.
 *
 * Tolerances (one table, also in docs/formats.md "Reference tolerances"): an
 * element passes when |got - want| <= atol + rtol * |want|.
 */
#ifndef GPN_NN_TESTUTIL_H
#define GPN_NN_TESTUTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpn/ckpt.h"

struct tol { double atol, rtol; };
static const struct tol TOL_ELEM = {1e-6, 1e-5};     /* elementwise: relu, pools, optimiser steps, loss */
static const struct tol TOL_REDUCE = {1e-5, 1e-4};   /* conv, linear, BN forward */
static const struct tol TOL_GRAD = {1e-4, 1e-4};     /* backward reductions (sums over batch and space) */
static const struct tol TOL_FD = {1e-4, 1e-4};       /* analytic vs double finite differences */
static const struct tol TOL_MODEL = {2e-4, 1e-3};    /* whole-model logits and gradients vs PyTorch */

#define FIXDIR "tests/ref/fixtures/"

/* 0 when every element is within tolerance; prints a report either way on failure. */
static inline int check_close(const char *what, const float *got, const float *want, size_t n, struct tol t)
{
    double maxabs = 0, maxrel = 0, se = 0, sw = 0;
    size_t worst = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= t.atol + t.rtol * fabs(want[i]))) bad++;
        if (!(d <= maxabs)) {
            maxabs = d;
            worst = i;
        }
        double r = d / (fabs(want[i]) + 1e-12);
        if (r > maxrel && fabs(want[i]) > t.atol) maxrel = r;
        se += d * d;
        sw += (double)want[i] * want[i];
    }
    if (!bad) return 0;
    fprintf(stderr, "  %s: %zu/%zu elements off; maxabs %.3g maxrel %.3g nmse %.3g (atol %g rtol %g)\n", what, bad,
            n, maxabs, maxrel, sw > 0 ? se / sw : se, t.atol, t.rtol);
    fprintf(stderr, "    worst [%zu]: got %.9g want %.9g\n    first:", worst, got[worst], want[worst]);
    for (size_t i = 0; i < n && i < 5; i++) fprintf(stderr, " %.6g/%.6g", got[i], want[i]);
    fprintf(stderr, "\n");
    return 1;
}

/* A fixture's tensor as f32 data, or NULL (prints why). */
static inline const float *fx_f32(const struct gpn_ckpt *ck, const char *name, size_t *n)
{
    const struct gpn_ckpt_tensor *t = gpn_ckpt_find(ck, name);
    if (!t || t->dtype != GPN_CKPT_F32) {
        fprintf(stderr, "  fixture tensor '%s' missing or not f32\n", name);
        return NULL;
    }
    if (n) *n = t->nbytes / 4;
    return t->data;
}

static inline const struct gpn_ckpt_tensor *fx_t(const struct gpn_ckpt *ck, const char *name)
{
    const struct gpn_ckpt_tensor *t = gpn_ckpt_find(ck, name);
    if (!t) fprintf(stderr, "  fixture tensor '%s' missing\n", name);
    return t;
}

/* Opens FIXDIR<name>, or NULL with a message. */
static inline struct gpn_ckpt *fx_open(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, FIXDIR "%s", name);
    struct gpn_ckpt *ck = NULL;
    struct gpn_err err = {0};
    if (gpn_ckpt_open(path, &ck, &err)) fprintf(stderr, "  cannot open fixture %s: %s\n", path, err.msg);
    return ck;
}

/* Integer field of the fixture's config JSON ("key":value), or -1. */
static inline long fx_int(const struct gpn_ckpt *ck, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(gpn_ckpt_config(ck), pat);
    return p ? strtol(p + strlen(pat), NULL, 10) : -1;
}

/* NCHW (N, C, HW) <-> channel-major (C, N, HW). */
static inline void nchw_to_cnhw(float *dst, const float *src, int N, int C, size_t HW)
{
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) memcpy(dst + ((size_t)c * N + n) * HW, src + ((size_t)n * C + c) * HW, HW * 4);
}

static inline void cnhw_to_nchw(float *dst, const float *src, int N, int C, size_t HW)
{
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) memcpy(dst + ((size_t)n * C + c) * HW, src + ((size_t)c * N + n) * HW, HW * 4);
}

/* Deterministic uniform(-1, 1) fill. */
static inline void fill_rand(float *x, size_t n, uint64_t *s)
{
    for (size_t i = 0; i < n; i++) {
        *s = *s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
}

static inline float *fcopy(const float *src, size_t n)
{
    float *p = malloc(n * sizeof(float) + 4);
    if (p && src) memcpy(p, src, n * sizeof(float));
    return p;
}

#endif
