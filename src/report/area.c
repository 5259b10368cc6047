/*
 * area.c - areas of interest from untrusted input: limits, validity checks
 * (self-intersections by an edge sweep) and the GeoJSON / bbox / named-area
 * entry points of report.h.
 *
 * Why a validity check at all: the rasteriser (geom.h) would happily fill a
 * bow-tie polygon by the even-odd rule, but a user who drew one did not mean
 * that area, and a report for it would be silently wrong. So a polygon must
 * be simple: rings of >= 3 distinct points enclosing some area, no two
 * non-adjacent edges of a ring meeting, edges of different rings of one
 * polygon never crossing or overlapping (touching at a point is allowed, as
 * in OGC Simple Features), holes inside their exterior. Polygons of a
 * MultiPolygon may overlap: the area is their union (the rasteriser's rule).
 *
 * The sweep: the edges of one polygon are sorted by their smallest x; each
 * edge is tested against the following edges until their smallest x passes
 * its largest x (and skipped quickly when their y ranges miss). That is
 * O(n log n) for ordinary drawn shapes; the number of pair tests is capped
 * (GPN_ETOOBIG "too complex") so a hostile input cannot burn the CPU.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpn/util.h"
#include "gpn/paths.h"
#include "gpn/report.h"

#define MAX_PAIR_TESTS 50000000ull

/* ==== limits ============================================================ */

void gpn_report_limits_fill(struct gpn_report_limits *l)
{
    if (!l->max_body) l->max_body = 8u << 20;
    if (!l->max_points) l->max_points = 100000;
    if (!l->max_rings) l->max_rings = 10000;
    if (!(l->max_area_km2 > 0)) l->max_area_km2 = 100000;
    if (!l->max_tiles) l->max_tiles = 1000;
}

int gpn_report_limits_load(const char *atlas, struct gpn_report_limits *l, struct gpn_err *err)
{
    char path[4096];
    if (gpn_path_join(path, sizeof path, atlas, "report.json"))
        return gpn_err_set(err, GPN_ETOOBIG, "gpn_report_limits_load: path too long");
    if (!gpn_path_exists(path)) {
        gpn_report_limits_fill(l);
        return 0;
    }
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) return gpn_err_set(err, GPN_EFORMAT, "%s:%d: %s", path, je.line, je.text);
    int rc = 0;
    if (!json_is_object(root)) {
        rc = gpn_err_set(err, GPN_EFORMAT, "%s: expected a JSON object", path);
        goto done;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (!json_is_number(v) || json_number_value(v) <= 0) {
            rc = gpn_err_set(err, GPN_EFORMAT, "%s: %s must be a positive number", path, key);
            goto done;
        }
        double d = json_number_value(v);
        if (!strcmp(key, "max_body")) l->max_body = (size_t)d;
        else if (!strcmp(key, "max_points")) l->max_points = (size_t)d;
        else if (!strcmp(key, "max_rings")) l->max_rings = (size_t)d;
        else if (!strcmp(key, "max_area_km2")) l->max_area_km2 = d;
        else if (!strcmp(key, "max_tiles")) l->max_tiles = (size_t)d;
        else {
            rc = gpn_err_set(err, GPN_EFORMAT,
                             "%s: unknown key '%s' (known: max_body, max_points, max_rings, max_area_km2, max_tiles)",
                             path, key);
            goto done;
        }
    }
    gpn_report_limits_fill(l);
done:
    json_decref(root);
    return rc;
}

/* ==== validity ========================================================== */

struct edge {
    double x0, y0, x1, y1;
    double xmin, xmax, ymin, ymax;
    uint32_t ring;   /* ring index inside the polygon */
    uint32_t k;      /* edge index inside its (de-duplicated) ring */
    uint32_t m;      /* edges of that ring */
};

static int cmp_edge(const void *a, const void *b)
{
    double x = ((const struct edge *)a)->xmin, y = ((const struct edge *)b)->xmin;
    return x < y ? -1 : x > y;
}

static double orient(double ax, double ay, double bx, double by, double cx, double cy)
{
    return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax);
}

static int sgn(double v) { return v > 0 ? 1 : (v < 0 ? -1 : 0); }

/* 1 when c (collinear with a-b) lies within the segment's box. */
static int on_seg(double ax, double ay, double bx, double by, double cx, double cy)
{
    return cx >= fmin(ax, bx) && cx <= fmax(ax, bx) && cy >= fmin(ay, by) && cy <= fmax(ay, by);
}

/* Classifies how two segments meet: 0 apart, 1 touching at one point,
 * 2 crossing properly, 3 overlapping collinearly (more than a point). */
static int seg_meet(const struct edge *p, const struct edge *q)
{
    int o1 = sgn(orient(p->x0, p->y0, p->x1, p->y1, q->x0, q->y0));
    int o2 = sgn(orient(p->x0, p->y0, p->x1, p->y1, q->x1, q->y1));
    int o3 = sgn(orient(q->x0, q->y0, q->x1, q->y1, p->x0, p->y0));
    int o4 = sgn(orient(q->x0, q->y0, q->x1, q->y1, p->x1, p->y1));
    if (o1 == 0 && o2 == 0) {
        /* Collinear: project on the longer axis and compare intervals. */
        int usex = fabs(p->x1 - p->x0) >= fabs(p->y1 - p->y0);
        double a0 = usex ? p->x0 : p->y0, a1 = usex ? p->x1 : p->y1;
        double b0 = usex ? q->x0 : q->y0, b1 = usex ? q->x1 : q->y1;
        double lo = fmax(fmin(a0, a1), fmin(b0, b1)), hi = fmin(fmax(a0, a1), fmax(b0, b1));
        if (lo < hi) return 3;
        return lo == hi ? 1 : 0;
    }
    if (o1 * o2 < 0 && o3 * o4 < 0) return 2;
    if ((o1 == 0 && on_seg(p->x0, p->y0, p->x1, p->y1, q->x0, q->y0)) ||
        (o2 == 0 && on_seg(p->x0, p->y0, p->x1, p->y1, q->x1, q->y1)) ||
        (o3 == 0 && on_seg(q->x0, q->y0, q->x1, q->y1, p->x0, p->y0)) ||
        (o4 == 0 && on_seg(q->x0, q->y0, q->x1, q->y1, p->x1, p->y1)))
        return 1;
    return 0;
}

/* -1 outside, 0 on the boundary, 1 inside the closed ring pts[0..n). */
static int point_in_ring(const double *pts, size_t n, double x, double y)
{
    int in = 0;
    for (size_t i = 0, j = n - 1; i < n; j = i++) {
        double xi = pts[2 * i], yi = pts[2 * i + 1], xj = pts[2 * j], yj = pts[2 * j + 1];
        if (orient(xj, yj, xi, yi, x, y) == 0 && on_seg(xj, yj, xi, yi, x, y)) return 0;
        if ((yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) in = !in;
    }
    return in ? 1 : -1;
}

static int check_polygon(const struct gpn_geom *g, size_t pi, struct edge *edges, double *area2, uint64_t *tests,
                         struct gpn_err *err)
{
    const struct gpn_polygon *poly = &g->polys[pi];
    size_t ne = 0;
    for (size_t ri = 0; ri < poly->nrings; ri++) {
        const struct gpn_ring *ring = &g->rings[poly->ring0 + ri];
        const double *p = g->xy + 2 * ring->off;
        /* De-duplicate consecutive equal points (closing point included). */
        size_t m = 0, first = ne;
        area2[ri] = 0;
        for (size_t i = 0; i < ring->n; i++) {
            size_t j = (i + 1) % ring->n;
            if (p[2 * i] == p[2 * j] && p[2 * i + 1] == p[2 * j + 1]) continue;
            struct edge *e = &edges[ne++];
            e->x0 = p[2 * i];
            e->y0 = p[2 * i + 1];
            e->x1 = p[2 * j];
            e->y1 = p[2 * j + 1];
            e->xmin = fmin(e->x0, e->x1);
            e->xmax = fmax(e->x0, e->x1);
            e->ymin = fmin(e->y0, e->y1);
            e->ymax = fmax(e->y0, e->y1);
            e->ring = (uint32_t)ri;
            e->k = (uint32_t)m++;
            area2[ri] += e->x0 * e->y1 - e->x1 * e->y0;
        }
        if (m < 3)
            return gpn_err_set(err, GPN_EFORMAT, "polygon %zu ring %zu: fewer than 3 distinct points", pi, ri);
        for (size_t k = first; k < ne; k++) edges[k].m = (uint32_t)m;
        int line = 1;
        for (size_t k = first + 1; k < ne && line; k++)
            line = orient(edges[first].x0, edges[first].y0, edges[first].x1, edges[first].y1, edges[k].x1,
                          edges[k].y1) == 0;
        if (line)
            return gpn_err_set(err, GPN_EFORMAT, "polygon %zu ring %zu: encloses no area (all points on a line)", pi,
                               ri);
    }
    /* Crossings first: they explain most other symptoms (a bow-tie has no
     * net area, a crossing hole has a vertex outside). */
    gpn_qsort(edges, ne, sizeof *edges, cmp_edge);
    for (size_t i = 0; i < ne; i++) {
        const struct edge *a = &edges[i];
        for (size_t j = i + 1; j < ne && edges[j].xmin <= a->xmax; j++) {
            const struct edge *b = &edges[j];
            if (b->ymin > a->ymax || b->ymax < a->ymin) continue;
            if (++*tests > MAX_PAIR_TESTS)
                return gpn_err_set(err, GPN_ETOOBIG, "polygon %zu: too complex to validate (simplify it)", pi);
            int meet = seg_meet(a, b);
            if (!meet) continue;
            if (a->ring == b->ring) {
                uint32_t d = a->k > b->k ? a->k - b->k : b->k - a->k;
                int adjacent = d == 1 || d == a->m - 1;
                if (adjacent && meet != 3) continue; /* the shared vertex */
                return gpn_err_set(err, GPN_EFORMAT,
                                   "polygon %zu ring %u: self-intersection near (%.7g, %.7g) (edges %u and %u %s)", pi,
                                   a->ring, meet == 2 ? (a->x0 + a->x1) / 2 : b->x0, meet == 2 ? (a->y0 + a->y1) / 2 : b->y0,
                                   a->k < b->k ? a->k : b->k, a->k < b->k ? b->k : a->k,
                                   meet == 3 ? "overlap" : (meet == 2 ? "cross" : "touch"));
            }
            if (meet == 1) continue; /* rings touching at a point */
            return gpn_err_set(err, GPN_EFORMAT, "polygon %zu: rings %u and %u %s near (%.7g, %.7g)", pi,
                               a->ring < b->ring ? a->ring : b->ring, a->ring < b->ring ? b->ring : a->ring,
                               meet == 2 ? "cross" : "overlap", b->x0, b->y0);
        }
    }
    for (size_t ri = 0; ri < poly->nrings; ri++) {
        if (area2[ri] == 0 || !isfinite(area2[ri]))
            return gpn_err_set(err, GPN_EFORMAT, "polygon %zu ring %zu: encloses no area", pi, ri);
        if (ri == 0) continue;
        /* A hole must lie inside its exterior: the first of its points not
         * on the exterior's boundary decides (rings do not cross here). */
        const struct gpn_ring *ring = &g->rings[poly->ring0 + ri];
        const double *p = g->xy + 2 * ring->off;
        const struct gpn_ring *ext = &g->rings[poly->ring0];
        const double *ep = g->xy + 2 * ext->off;
        for (size_t i = 0; i < ring->n; i++) {
            int where = point_in_ring(ep, ext->n, p[2 * i], p[2 * i + 1]);
            if (where == 0) continue;
            if (where < 0)
                return gpn_err_set(err, GPN_EFORMAT, "polygon %zu ring %zu: hole lies outside its exterior ring", pi,
                                   ri);
            break;
        }
    }
    return 0;
}

int gpn_report_geom_check(const struct gpn_geom *g, const struct gpn_report_limits *lim, struct gpn_err *err)
{
    struct gpn_report_limits l = lim ? *lim : (struct gpn_report_limits){0};
    gpn_report_limits_fill(&l);
    if (!g || g->npolys == 0 || g->npts == 0) return gpn_err_set(err, GPN_EFORMAT, "area: empty geometry");
    if (g->npts > l.max_points)
        return gpn_err_set(err, GPN_ETOOBIG, "area: %zu vertices, the limit is %zu", g->npts, l.max_points);
    if (g->nrings > l.max_rings)
        return gpn_err_set(err, GPN_ETOOBIG, "area: %zu rings, the limit is %zu", g->nrings, l.max_rings);
    for (size_t i = 0; i < g->npts; i++) {
        double x = g->xy[2 * i], y = g->xy[2 * i + 1];
        if (!isfinite(x) || !isfinite(y))
            return gpn_err_set(err, GPN_EFORMAT, "area: vertex %zu is not a finite number", i);
        if (g->epsg == 4326 && (fabs(x) > 180 || fabs(y) > 90))
            return gpn_err_set(err, GPN_ERANGE, "area: vertex %zu (%g, %g) is not a longitude/latitude", i, x, y);
    }
    size_t maxring = 0;
    for (size_t p = 0; p < g->npolys; p++) {
        size_t n = 0;
        for (size_t r = 0; r < g->polys[p].nrings; r++) n += g->rings[g->polys[p].ring0 + r].n;
        if (n > maxring) maxring = n;
    }
    size_t maxrings = 0;
    for (size_t p = 0; p < g->npolys; p++)
        if (g->polys[p].nrings > maxrings) maxrings = g->polys[p].nrings;
    struct edge *edges = malloc((maxring ? maxring : 1) * sizeof *edges);
    double *area2 = malloc((maxrings ? maxrings : 1) * sizeof *area2);
    if (!edges || !area2) {
        free(edges);
        free(area2);
        return gpn_err_set(err, GPN_ENOMEM, "area: out of memory");
    }
    uint64_t tests = 0;
    int rc = 0;
    for (size_t p = 0; p < g->npolys && !rc; p++) rc = check_polygon(g, p, edges, area2, &tests, err);
    free(edges);
    free(area2);
    if (rc) gpn_err_prefix(err, "area");
    return rc;
}

/* ==== entry points ====================================================== */

/* Transforms g to EPSG:3035 when needed and checks its size. */
static int finish_area(struct gpn_geom *g, const struct gpn_report_limits *l, struct gpn_err *err)
{
    if (g->epsg != 3035) {
        if (g->epsg == 4326) {
            /* Outside EPSG:3035's area of use the projection is meaningless. */
            double b[4];
            gpn_geom_bbox(g, b);
            if (b[2] < GPN_GRID_AREA_WEST || b[0] > GPN_GRID_AREA_EAST || b[3] < GPN_GRID_AREA_SOUTH ||
                b[1] > GPN_GRID_AREA_NORTH)
                return gpn_err_set(err, GPN_ERANGE,
                                   "area: (%.4g, %.4g, %.4g, %.4g) lies outside Europe's grid (EPSG:3035 area of use)",
                                   b[0], b[1], b[2], b[3]);
        }
        int rc = gpn_geom_transform(g, 3035, err);
        if (rc) return gpn_err_prefix(err, "area");
    }
    double km2 = gpn_geom_area(g) / 1e6;
    if (!isfinite(km2) || km2 > l->max_area_km2)
        return gpn_err_set(err, GPN_ERANGE, "area: %.6g km2 is larger than the limit of %.6g km2", km2,
                           l->max_area_km2);
    return 0;
}

int gpn_report_area_from_geojson(const char *text, size_t len, const struct gpn_report_limits *lim,
                                 struct gpn_geom **out, struct gpn_err *err)
{
    *out = NULL;
    struct gpn_report_limits l = lim ? *lim : (struct gpn_report_limits){0};
    gpn_report_limits_fill(&l);
    if (!text || len == 0) return gpn_err_set(err, GPN_EFORMAT, "area: empty body (expected GeoJSON)");
    if (len > l.max_body)
        return gpn_err_set(err, GPN_ETOOBIG, "area: %zu bytes of GeoJSON, the limit is %zu", len, l.max_body);
    struct gpn_geom_limits gl = {.max_points = l.max_points, .max_rings = l.max_rings};
    struct gpn_geom *g = NULL;
    int rc = gpn_geom_from_geojson(text, len, &gl, &g, err);
    if (rc) return rc;
    rc = gpn_report_geom_check(g, &l, err);
    if (!rc) rc = finish_area(g, &l, err);
    if (rc) {
        gpn_geom_free(g);
        return rc;
    }
    *out = g;
    return 0;
}

int gpn_report_area_from_bbox(const char *bbox, int epsg, const struct gpn_report_limits *lim,
                              struct gpn_geom **out, struct gpn_err *err)
{
    *out = NULL;
    struct gpn_report_limits l = lim ? *lim : (struct gpn_report_limits){0};
    gpn_report_limits_fill(&l);
    if (epsg == 0) epsg = 4326;
    double b[4];
    int rc = gpn_parse_doubles(bbox, b, 4, "bbox", err);
    if (rc) return rc;
    if (!(b[0] < b[2] && b[1] < b[3]))
        return gpn_err_set(err, GPN_ERANGE, "bbox: expected W,S,E,N with W < E and S < N");
    if (epsg == 4326 && (b[0] < -180 || b[2] > 180 || b[1] < -90 || b[3] > 90))
        return gpn_err_set(err, GPN_ERANGE, "bbox: not longitude/latitude degrees");
    struct gpn_geom *g;
    rc = gpn_geom_from_bbox(b[0], b[1], b[2], b[3], epsg, &g, err);
    if (rc) return rc;
    rc = finish_area(g, &l, err);
    if (rc) {
        gpn_geom_free(g);
        return rc;
    }
    *out = g;
    return 0;
}

static int name_ok(const char *s)
{
    if (!s || !*s || strlen(s) > 128 || s[0] == '.') return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
              *p == '-' || *p == '.'))
            return 0;
    return 1;
}

int gpn_report_area_named(const char *atlas, const char *name, const struct gpn_report_limits *lim,
                          struct gpn_geom **out, struct gpn_err *err)
{
    *out = NULL;
    struct gpn_report_limits l = lim ? *lim : (struct gpn_report_limits){0};
    gpn_report_limits_fill(&l);
    if (!name || !*name) return gpn_err_set(err, GPN_EINVAL, "area: empty name");
    if (atlas && name_ok(name)) {
        char path[4096];
        int k = snprintf(path, sizeof path, "%s/areas/%s.geojson", atlas, name);
        if (k > 0 && (size_t)k < sizeof path && gpn_path_exists(path)) {
            char *text;
            size_t len;
            int rc = gpn_file_read(path, &text, &len, err);
            if (rc) return rc;
            rc = gpn_report_area_from_geojson(text, len, &l, out, err);
            free(text);
            if (rc) gpn_err_prefix(err, "%s", path);
            return rc;
        }
    }
    char ne[4096];
    int rc = gpn_data_path("boundaries/countries-50m.json", ne, sizeof ne, err);
    if (rc) return rc;
    struct gpn_geom *g;
    rc = gpn_geom_country_grid(ne, name, &g, err);
    if (rc) {
        if (rc == GPN_ENOTFOUND) gpn_err_prefix(err, "area '%s' is neither a registered area nor a country", name);
        return rc;
    }
    rc = finish_area(g, &l, err);
    if (rc) {
        gpn_geom_free(g);
        return rc;
    }
    *out = g;
    return 0;
}
