/*
 * reproj.c - coordinate transforms between CRSs; the only file that
 * includes proj.h.
 *
 * Design: a gpn_transform wraps one PJ_CONTEXT and one PJ built by
 * proj_create_crs_to_crs() and then proj_normalize_for_visualization(), so
 * every CRS is used x/easting/longitude first whatever its authority axis
 * order (EPSG:4326 is lat/lon and EPSG:3035 northing/easting for EPSG).
 * The context is private to the object: PROJ contexts are not thread-safe,
 * and one object per thread is the documented use. PROJ's own logging
 * (which would print to stderr) is captured into the object and copied into
 * gpn_err messages instead.
 *
 * Layout: struct gpn_transform { ctx, pj, last PROJ log line, CRS names }.
 * Points are transformed by proj_trans_generic() with strides, in place.
 */
#include "gpn/reproj.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <proj.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gpn/util.h"

#define CRS_NAME_MAX 96

struct gpn_transform {
    PJ_CONTEXT *ctx;
    PJ *pj;
    char last_log[256];            /* last message PROJ logged on ctx */
    char from[CRS_NAME_MAX];       /* for messages, truncated */
    char to[CRS_NAME_MAX];
};

/* ==== helpers =========================================================== */

static void proj_logger(void *app, int level, const char *msg)
{
    struct gpn_transform *t = app;
    if (level <= PJ_LOG_ERROR && msg) gpn_strlcpy(t->last_log, msg, sizeof t->last_log);
}

/* PROJ does not know the WMS 1.3.0 name "CRS:84": map it to OGC:CRS84. */
static const char *proj_name(const char *crs)
{
    if (!strcasecmp(crs, "CRS:84") || !strcasecmp(crs, "CRS84")) return "OGC:CRS84";
    return crs;
}

/* PROJ also resolves bare object names, fuzzily ("FOO" finds the
 * "Amersfoort" CRS), which would turn typos into wrong answers. Only
 * structured forms are passed on: AUTH:CODE and URN/URL forms (a ':'),
 * WKT (a '['), PROJ strings ("+proj=..." or "proj=...") and PROJJSON. */
static int crs_syntax_ok(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n') s++;
    return strchr(s, ':') || strchr(s, '[') || s[0] == '+' || s[0] == '{' || strstr(s, "proj=");
}

/* ==== lifecycle ========================================================= */

int gpn_transform_create(const char *from, const char *to, struct gpn_transform **out, struct gpn_err *err)
{
    if (out) *out = NULL;
    if (!from || !to || !out || !from[0] || !to[0])
        return gpn_err_set(err, GPN_EINVAL, "gpn_transform_create: missing CRS");
    struct gpn_transform *t = calloc(1, sizeof *t);
    if (!t) return gpn_err_set(err, GPN_ENOMEM, "gpn_transform_create: out of memory");
    gpn_strlcpy(t->from, from, sizeof t->from);
    gpn_strlcpy(t->to, to, sizeof t->to);
    int rc;
    t->ctx = proj_context_create();
    if (!t->ctx) {
        rc = gpn_err_set(err, GPN_ENOMEM, "gpn_transform_create: proj_context_create failed");
        goto fail;
    }
    proj_log_func(t->ctx, t, proj_logger);
    proj_log_level(t->ctx, PJ_LOG_ERROR);
    /* Check each CRS on its own first, so the message names the bad one. */
    const char *names[2] = {proj_name(from), proj_name(to)};
    for (int i = 0; i < 2; i++) {
        if (!crs_syntax_ok(names[i])) {
            rc = gpn_err_set(err, GPN_EINVAL,
                             "gpn_transform_create: unknown CRS '%.80s' (use AUTH:CODE such as EPSG:3035, WKT or a "
                             "PROJ string)", i ? to : from);
            goto fail;
        }
        PJ *crs = proj_create(t->ctx, names[i]);
        int ok = crs && proj_is_crs(crs);
        if (crs) proj_destroy(crs);
        if (!ok) {
            rc = gpn_err_set(err, GPN_EINVAL, "gpn_transform_create: unknown CRS '%.80s'%s%s", i ? to : from,
                             t->last_log[0] ? ": " : "", t->last_log);
            goto fail;
        }
    }
    PJ *raw = proj_create_crs_to_crs(t->ctx, names[0], names[1], NULL);
    if (!raw) {
        rc = gpn_err_set(err, GPN_ELIB, "gpn_transform_create: no transformation from %.80s to %.80s: %s", from,
                         to, t->last_log[0] ? t->last_log : proj_context_errno_string(t->ctx, proj_context_errno(t->ctx)));
        goto fail;
    }
    t->pj = proj_normalize_for_visualization(t->ctx, raw);
    proj_destroy(raw);
    if (!t->pj) {
        rc = gpn_err_set(err, GPN_ELIB, "gpn_transform_create: cannot normalise axis order of %.80s -> %.80s", from,
                         to);
        goto fail;
    }
    *out = t;
    return 0;
fail:
    gpn_transform_destroy(t);
    return rc;
}

void gpn_transform_destroy(struct gpn_transform *t)
{
    if (!t) return;
    if (t->pj) proj_destroy(t->pj);
    if (t->ctx) proj_context_destroy(t->ctx);
    free(t);
}

/* ==== transforming ====================================================== */

/* Transforms n points at x/y with byte strides sx/sy; failures -> HUGE_VAL. */
static int transform_strided(struct gpn_transform *t, double *x, size_t sx, double *y, size_t sy, size_t n,
                             const char *fn, struct gpn_err *err)
{
    if (!t || (!x && n) || (!y && n)) return gpn_err_set(err, GPN_EINVAL, "%s: NULL argument", fn);
    if (n == 0) return 0;
    /* Non-finite inputs are failures by definition; park them at 0 so PROJ
     * does not see them, and restore HUGE_VAL afterwards. */
    size_t nbad_in = 0;
    uint8_t *bad = NULL;
    for (size_t i = 0; i < n; i++) {
        double *px = (double *)((char *)x + i * sx), *py = (double *)((char *)y + i * sy);
        if (isfinite(*px) && isfinite(*py)) continue;
        if (!bad) {
            bad = calloc(n, 1);
            if (!bad) return gpn_err_set(err, GPN_ENOMEM, "%s: out of memory", fn);
        }
        bad[i] = 1;
        *px = *py = 0;
        nbad_in++;
    }
    proj_errno_reset(t->pj);
    /* proj_trans_generic's size arguments are size_t; it processes every
     * point and marks failed ones with HUGE_VAL. */
    proj_trans_generic(t->pj, PJ_FWD, x, sx, n, y, sy, n, NULL, 0, 0, NULL, 0, 0);
    proj_errno_reset(t->pj);
    size_t nfail = 0, first_fail = 0;
    for (size_t i = 0; i < n; i++) {
        double *px = (double *)((char *)x + i * sx), *py = (double *)((char *)y + i * sy);
        if ((bad && bad[i]) || !isfinite(*px) || !isfinite(*py) || *px == HUGE_VAL || *py == HUGE_VAL) {
            *px = *py = HUGE_VAL;
            if (nfail++ == 0) first_fail = i;
        }
    }
    free(bad);
    if (nfail)
        return gpn_err_set(err, GPN_ERANGE, "%s: %zu of %zu points cannot be transformed from %s to %s (first: #%zu)",
                           fn, nfail, n, t->from, t->to, first_fail);
    return 0;
}

int gpn_transform_points(struct gpn_transform *t, double *x, double *y, size_t n, struct gpn_err *err)
{
    return transform_strided(t, x, sizeof(double), y, sizeof(double), n, "gpn_transform_points", err);
}

int gpn_transform_points_xy(struct gpn_transform *t, double *xy, size_t n, struct gpn_err *err)
{
    return transform_strided(t, xy, 2 * sizeof(double), xy ? xy + 1 : NULL, 2 * sizeof(double), n,
                             "gpn_transform_points_xy", err);
}

int gpn_transform_bbox(struct gpn_transform *t, const double in[4], double out[4], struct gpn_err *err)
{
    enum { PER_SIDE = 21, NS = 4 * PER_SIDE };
    if (!t || !in || !out) return gpn_err_set(err, GPN_EINVAL, "gpn_transform_bbox: NULL argument");
    for (int i = 0; i < 4; i++)
        if (!isfinite(in[i])) return gpn_err_set(err, GPN_EINVAL, "gpn_transform_bbox: non-finite bbox");
    if (!(in[2] >= in[0]) || !(in[3] >= in[1]))
        return gpn_err_set(err, GPN_EINVAL, "gpn_transform_bbox: bbox min > max (%g,%g,%g,%g)", in[0], in[1], in[2],
                           in[3]);
    double x[NS], y[NS];
    for (int i = 0; i < PER_SIDE; i++) {
        double f = (double)i / (PER_SIDE - 1);
        double xs = in[0] + f * (in[2] - in[0]), ys = in[1] + f * (in[3] - in[1]);
        x[i] = xs, y[i] = in[1];                              /* south edge */
        x[PER_SIDE + i] = xs, y[PER_SIDE + i] = in[3];        /* north edge */
        x[2 * PER_SIDE + i] = in[0], y[2 * PER_SIDE + i] = ys; /* west edge */
        x[3 * PER_SIDE + i] = in[2], y[3 * PER_SIDE + i] = ys; /* east edge */
    }
    struct gpn_err e2 = {0};
    int rc = gpn_transform_points(t, x, y, NS, &e2);
    if (rc && rc != GPN_ERANGE) {
        if (err) *err = e2;
        return rc;
    }
    double b[4] = {HUGE_VAL, HUGE_VAL, -HUGE_VAL, -HUGE_VAL};
    int nok = 0;
    for (int i = 0; i < NS; i++) {
        if (x[i] == HUGE_VAL) continue;
        nok++;
        b[0] = fmin(b[0], x[i]);
        b[1] = fmin(b[1], y[i]);
        b[2] = fmax(b[2], x[i]);
        b[3] = fmax(b[3], y[i]);
    }
    if (!nok)
        return gpn_err_set(err, GPN_ERANGE, "gpn_transform_bbox: no point of (%g,%g,%g,%g) transforms from %s to %s",
                           in[0], in[1], in[2], in[3], t->from, t->to);
    memcpy(out, b, sizeof b);
    return 0;
}

/* ==== CRS names ========================================================= */

/* Parses a positive decimal code filling the rest of s; 0 when not one. */
static int code_at(const char *s)
{
    long v = 0;
    if (!*s) return 0;
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s) || v > 999999) return 0;
        v = v * 10 + (*s - '0');
    }
    return (int)v;
}

int gpn_crs_epsg(const char *crs)
{
    if (!crs) return 0;
    static const char *geo84[] = {"CRS:84", "CRS84", "OGC:CRS84", "urn:ogc:def:crs:OGC:1.3:CRS84",
                                  "urn:ogc:def:crs:OGC::CRS84", "http://www.opengis.net/def/crs/OGC/1.3/CRS84"};
    for (size_t i = 0; i < sizeof geo84 / sizeof geo84[0]; i++)
        if (!strcasecmp(crs, geo84[i])) return 4326;
    static const char *prefixes[] = {"EPSG:", "urn:ogc:def:crs:EPSG::", "urn:x-ogc:def:crs:EPSG::",
                                     "urn:ogc:def:crs:EPSG:", "http://www.opengis.net/def/crs/EPSG/0/",
                                     "https://www.opengis.net/def/crs/EPSG/0/"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t k = strlen(prefixes[i]);
        if (!strncasecmp(crs, prefixes[i], k)) {
            const char *rest = crs + k;
            /* "urn:ogc:def:crs:EPSG:6.6:4326" carries a version. */
            if (i == 3) {
                const char *c = strchr(rest, ':');
                if (!c) return 0;
                rest = c + 1;
            }
            return code_at(rest);
        }
    }
    return 0;
}
