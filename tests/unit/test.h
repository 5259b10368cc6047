/*
 * test.h - the unit-test harness: typed asserts, one process per test file.
 *
 * A test file defines `static void test_xxx(void)` functions and a main()
 * that calls RUN(test_xxx) for each, then `return test_summary();`.
 * A failed assert prints file:line with both values and returns from the
 * test function; the process exits non-zero if any test failed, and prints
 *   RESULT passed=P failed=F
 * as its last line, which tests/run.sh aggregates. Each file runs in its own
 * process with a timeout (tests/run.sh), as in libuv.
 *
 * Paths: tests run from the repository root. test_shared() gives the shared
 * data folder (GPN_SHARED, default ../shared), test_tmpdir() a fresh temp
 * folder per test, removed when the test passes.
 */
#ifndef GPN_TEST_H
#define GPN_TEST_H

#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpn/err.h"

static int t__passed, t__failed, t__cur_failed;
static char t__tmp[512];

static inline const char *test_shared(void)
{
    const char *s = getenv("GPN_SHARED");
    return s ? s : "../shared";
}

/* Returns a fresh folder for the running test (created on first call). */
static inline const char *test_tmpdir(void)
{
    if (!t__tmp[0]) {
        snprintf(t__tmp, sizeof t__tmp, "/tmp/gpn-test-XXXXXX");
        if (!mkdtemp(t__tmp)) {
            perror("mkdtemp");
            abort();
        }
    }
    return t__tmp;
}

/* Builds "<shared>/<rel>" into a static buffer (one at a time). */
static inline const char *test_shared_path(const char *rel)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s/%s", test_shared(), rel);
    return buf;
}

#define T__FAIL(...)                                                      \
    do {                                                                  \
        fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                 \
        fprintf(stderr, __VA_ARGS__);                                     \
        fprintf(stderr, "\n");                                            \
        t__cur_failed = 1;                                                \
        return;                                                           \
    } while (0)

#define ASSERT_TRUE(x) do { if (!(x)) T__FAIL("ASSERT_TRUE(%s) failed", #x); } while (0)
#define ASSERT_FALSE(x) do { if ((x)) T__FAIL("ASSERT_FALSE(%s) failed", #x); } while (0)
#define ASSERT_EQ_INT(a, b)                                                                        \
    do {                                                                                           \
        long long t__a = (long long)(a), t__b = (long long)(b);                                    \
        if (t__a != t__b) T__FAIL("ASSERT_EQ_INT(%s, %s): %lld != %lld", #a, #b, t__a, t__b);      \
    } while (0)
#define ASSERT_NE_INT(a, b)                                                                        \
    do {                                                                                           \
        long long t__a = (long long)(a), t__b = (long long)(b);                                    \
        if (t__a == t__b) T__FAIL("ASSERT_NE_INT(%s, %s): both %lld", #a, #b, t__a);               \
    } while (0)
#define ASSERT_NEAR(a, b, tol)                                                                     \
    do {                                                                                           \
        double t__a = (double)(a), t__b = (double)(b), t__t = (double)(tol);                       \
        if (!(fabs(t__a - t__b) <= t__t))                                                          \
            T__FAIL("ASSERT_NEAR(%s, %s): %.12g vs %.12g (|diff| %.3g > %.3g)", #a, #b, t__a, t__b, \
                    fabs(t__a - t__b), t__t);                                                      \
    } while (0)
#define ASSERT_STR_EQ(a, b)                                                                        \
    do {                                                                                           \
        const char *t__a = (a), *t__b = (b);                                                       \
        if (!t__a || !t__b || strcmp(t__a, t__b))                                                  \
            T__FAIL("ASSERT_STR_EQ(%s, %s): \"%s\" != \"%s\"", #a, #b, t__a ? t__a : "(null)",      \
                    t__b ? t__b : "(null)");                                                       \
    } while (0)
#define ASSERT_STR_CONTAINS(hay, needle)                                                           \
    do {                                                                                           \
        const char *t__h = (hay), *t__n = (needle);                                                \
        if (!t__h || !strstr(t__h, t__n))                                                          \
            T__FAIL("ASSERT_STR_CONTAINS(%s, \"%s\"): got \"%s\"", #hay, t__n, t__h ? t__h : "(null)"); \
    } while (0)
/* rc must be 0; prints err.msg otherwise. */
#define ASSERT_OK(rc, errp)                                                                        \
    do {                                                                                           \
        int t__rc = (rc);                                                                          \
        const struct gpn_err *t__e = (errp);                                                       \
        if (t__rc != 0) T__FAIL("ASSERT_OK(%s): rc=%d %s", #rc, t__rc, t__e ? t__e->msg : "");      \
    } while (0)
/* rc must be the negative code `code`. */
#define ASSERT_RC(rc, code)                                                                        \
    do {                                                                                           \
        int t__rc = (rc);                                                                          \
        if (t__rc != (code)) T__FAIL("ASSERT_RC(%s): rc=%d, expected %d", #rc, t__rc, (int)(code)); \
    } while (0)

static inline void t__cleanup_tmp(int keep)
{
    if (t__tmp[0]) {
        if (!keep) {
            char cmd[600];
            snprintf(cmd, sizeof cmd, "rm -rf '%s'", t__tmp);
            if (system(cmd) != 0) fprintf(stderr, "  warning: could not remove %s\n", t__tmp);
        } else {
            fprintf(stderr, "  (kept %s)\n", t__tmp);
        }
        t__tmp[0] = 0;
    }
}

#define RUN(fn)                                                        \
    do {                                                               \
        t__cur_failed = 0;                                             \
        fn();                                                          \
        t__cleanup_tmp(t__cur_failed);                                 \
        if (t__cur_failed) {                                           \
            t__failed++;                                               \
            fprintf(stderr, "FAIL %s\n", #fn);                         \
        } else {                                                       \
            t__passed++;                                               \
            fprintf(stderr, "ok   %s\n", #fn);                         \
        }                                                              \
    } while (0)

static inline int test_summary(void)
{
    fprintf(stderr, "RESULT passed=%d failed=%d\n", t__passed, t__failed);
    return t__failed ? 1 : 0;
}

#endif
