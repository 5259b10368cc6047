/*
 * geom.c - polygons: building, GeoJSON parsing, measures, reprojection and
 * the exact cell-centre rasteriser of the EPSG:3035 grid.
 *
 * Data layout (geom.h): one flat (x, y) array, rings as (offset, count)
 * spans of it with implicit closure, polygons as spans of rings (first ring
 * exterior, then holes). Everything is built through a small builder that
 * grows the three arrays and enforces the parsing limits.
 *
 * The rasteriser. An edge (x0,y0)-(x1,y1) is stored normalised bottom-up
 * as {ya < yb, xa = x at ya, dxdy}; it crosses the horizontal line y = c
 * when ya <= c < yb, at x = xa + (c - ya) * dxdy. A point (px, c) is inside
 * a polygon when the number of its crossings with x <= px is odd. Both
 * gpn_geom_contains() and the scanline rasteriser evaluate exactly these
 * expressions (edge_make / edge_x), and cell centres (g*50+25) are exact
 * doubles, so both give the same answer bit for bit. The rule makes
 * left/bottom edges inside and right/top edges outside.
 *
 * Prepared geometry: per polygon its bbox, its edges and, for each 25 km
 * band of tile rows it spans (clipped to the id range 0..400), the list of
 * its edges that overlap the band (CSR arrays). Rasterising a tile touches
 * only the polygons whose bbox meets the tile and the edges of one band,
 * drops edges entirely east of the tile (they cannot be <= any centre),
 * then runs an active-edge scanline over the 500 rows.
 *
 * Tiles of a geometry: tiles met by an edge (conservatively, with a 1 m
 * margin) are rasterised; every other tile is uniformly in or out, which a
 * single scanline through each tile row decides.
 *
 * TopoJSON support covers what Natural Earth's world-atlas uses: a
 * Topology with quantised, delta-encoded arcs and a transform, and objects
 * of Polygon / MultiPolygon geometries with an id and properties.name.
 */
#include "gpn/geom.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gpn/log.h"
#include "gpn/reproj.h"
#include "gpn/util.h"

#define DEFAULT_MAX_POINTS ((size_t)1000000)
#define DEFAULT_MAX_RINGS ((size_t)10000)
#define DENSIFY_DEG 0.05
#define MAX_DENSIFIED_POINTS ((size_t)50000000)
#define COORD_ABS_MAX 1e8 /* metres; LAEA of the whole sphere stays below 1.3e7 */
#define BAND_M ((double)GPN_GRID_TILE_M)
#define NBANDS (GPN_GRID_TILE_IDX_MAX + 1)

/* ==== builder =========================================================== */

struct builder {
    struct gpn_geom *g;
    size_t cap_pts, cap_rings, cap_polys;
    size_t max_points, max_rings;
    size_t poly_ring0;  /* ring index where the open polygon started */
    size_t ring_off;    /* point index where the open ring started */
};

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

static int b_init(struct builder *b, const struct gpn_geom_limits *lim, int epsg, struct gpn_err *err)
{
    memset(b, 0, sizeof *b);
    b->g = calloc(1, sizeof *b->g);
    if (!b->g) return gpn_err_set(err, GPN_ENOMEM, "gpn_geom: out of memory");
    b->g->epsg = epsg;
    b->max_points = (lim && lim->max_points) ? lim->max_points : DEFAULT_MAX_POINTS;
    b->max_rings = (lim && lim->max_rings) ? lim->max_rings : DEFAULT_MAX_RINGS;
    return 0;
}

static void b_begin_poly(struct builder *b) { b->poly_ring0 = b->g->nrings; }
static void b_begin_ring(struct builder *b) { b->ring_off = b->g->npts; }

static int b_add_pt(struct builder *b, double x, double y, const char *fn, struct gpn_err *err)
{
    struct gpn_geom *g = b->g;
    if (g->npts >= b->max_points)
        return gpn_err_set(err, GPN_ETOOBIG, "%s: more than %zu points", fn, b->max_points);
    if (grow((void **)&g->xy, &b->cap_pts, g->npts + 1, 2 * sizeof(double)))
        return gpn_err_set(err, GPN_ENOMEM, "%s: out of memory", fn);
    g->xy[2 * g->npts] = x;
    g->xy[2 * g->npts + 1] = y;
    g->npts++;
    return 0;
}

/* Closes the open ring (the points added since b_begin_ring). */
static int b_end_ring(struct builder *b, const char *fn, struct gpn_err *err)
{
    struct gpn_geom *g = b->g;
    if (g->nrings >= b->max_rings) return gpn_err_set(err, GPN_ETOOBIG, "%s: more than %zu rings", fn, b->max_rings);
    if (grow((void **)&g->rings, &b->cap_rings, g->nrings + 1, sizeof *g->rings))
        return gpn_err_set(err, GPN_ENOMEM, "%s: out of memory", fn);
    g->rings[g->nrings].off = b->ring_off;
    g->rings[g->nrings].n = g->npts - b->ring_off;
    g->nrings++;
    return 0;
}

/* Abandons the open ring (drops its points). */
static void b_drop_ring(struct builder *b) { b->g->npts = b->ring_off; }

/* Closes the open polygon; a polygon without rings is dropped silently. */
static int b_end_poly(struct builder *b, const char *fn, struct gpn_err *err)
{
    struct gpn_geom *g = b->g;
    if (g->nrings == b->poly_ring0) return 0;
    if (grow((void **)&g->polys, &b->cap_polys, g->npolys + 1, sizeof *g->polys))
        return gpn_err_set(err, GPN_ENOMEM, "%s: out of memory", fn);
    g->polys[g->npolys].ring0 = b->poly_ring0;
    g->polys[g->npolys].nrings = g->nrings - b->poly_ring0;
    g->npolys++;
    return 0;
}

void gpn_geom_free(struct gpn_geom *g)
{
    if (!g) return;
    free(g->xy);
    free(g->rings);
    free(g->polys);
    free(g);
}

int gpn_geom_from_bbox(double xmin, double ymin, double xmax, double ymax, int epsg, struct gpn_geom **out,
                       struct gpn_err *err)
{
    if (!out) return gpn_err_set(err, GPN_EINVAL, "gpn_geom_from_bbox: NULL output");
    *out = NULL;
    if (!isfinite(xmin) || !isfinite(ymin) || !isfinite(xmax) || !isfinite(ymax) || !(xmin < xmax) ||
        !(ymin < ymax))
        return gpn_err_set(err, GPN_EINVAL, "gpn_geom_from_bbox: invalid bbox %g,%g,%g,%g (need min < max)", xmin,
                           ymin, xmax, ymax);
    struct builder b;
    int rc = b_init(&b, NULL, epsg, err);
    if (rc) return rc;
    const double pts[4][2] = {{xmin, ymin}, {xmax, ymin}, {xmax, ymax}, {xmin, ymax}};
    b_begin_poly(&b);
    b_begin_ring(&b);
    for (int i = 0; i < 4 && !rc; i++) rc = b_add_pt(&b, pts[i][0], pts[i][1], "gpn_geom_from_bbox", err);
    if (!rc) rc = b_end_ring(&b, "gpn_geom_from_bbox", err);
    if (!rc) rc = b_end_poly(&b, "gpn_geom_from_bbox", err);
    if (rc) {
        gpn_geom_free(b.g);
        return rc;
    }
    *out = b.g;
    return 0;
}

/* ==== GeoJSON =========================================================== */

#define GJ_FN "gpn_geom_from_geojson"
#define GJ_MAX_DEPTH 8

struct gj {
    struct builder b;
    struct gpn_err *err;
    int check_lonlat;
};

/* snprintf for JSON paths in messages; truncation is acceptable there. */
static void pathf(char *dst, size_t n, const char *fmt, ...) GPN_PRINTF(3, 4);
static void pathf(char *dst, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, n, fmt, ap);
    va_end(ap);
}

static int gj_fail(struct gj *p, int code, const char *path, const char *what)
{
    return gpn_err_set(p->err, code, GJ_FN ": %s: %s", path[0] ? path : "(top level)", what);
}

/* One ring: array of >= 4 positions, first == last; adds all but the last. */
static int gj_ring(struct gj *p, json_t *ring, const char *path)
{
    char sub[192], msg[160];
    if (!json_is_array(ring)) return gj_fail(p, GPN_EFORMAT, path, "ring is not an array of positions");
    size_t m = json_array_size(ring);
    if (m < 4) {
        snprintf(msg, sizeof msg, "ring has %zu position%s; a closed ring needs at least 4 (the last repeating the first)",
                 m, m == 1 ? "" : "s");
        return gj_fail(p, GPN_EFORMAT, path, msg);
    }
    double first[2] = {0, 0}, last[2] = {0, 0};
    b_begin_ring(&p->b);
    for (size_t i = 0; i < m; i++) {
        json_t *pos = json_array_get(ring, i);
        pathf(sub, sizeof sub, "%s[%zu]", path, i);
        if (!json_is_array(pos) || json_array_size(pos) < 2)
            return gj_fail(p, GPN_EFORMAT, sub, "position is not an array of 2 or more numbers");
        json_t *jx = json_array_get(pos, 0), *jy = json_array_get(pos, 1);
        if (!json_is_number(jx) || !json_is_number(jy))
            return gj_fail(p, GPN_EFORMAT, sub, "coordinate is not a number");
        double x = json_number_value(jx), y = json_number_value(jy);
        if (!isfinite(x) || !isfinite(y)) return gj_fail(p, GPN_EFORMAT, sub, "coordinate is not finite");
        if (p->check_lonlat && (fabs(x) > 180.0 || fabs(y) > 90.0)) {
            snprintf(msg, sizeof msg,
                     "(%g, %g) is not a lon/lat position in degrees (GeoJSON is longitude first; projected "
                     "coordinates need a \"crs\" member)", x, y);
            return gj_fail(p, GPN_EFORMAT, sub, msg);
        }
        if (i == 0) first[0] = x, first[1] = y;
        if (i == m - 1) {
            last[0] = x, last[1] = y;
            break;
        }
        int rc = b_add_pt(&p->b, x, y, GJ_FN, p->err);
        if (rc) return rc;
    }
    if (first[0] != last[0] || first[1] != last[1]) {
        snprintf(msg, sizeof msg, "ring is not closed: first position (%.10g, %.10g) != last (%.10g, %.10g)",
                 first[0], first[1], last[0], last[1]);
        return gj_fail(p, GPN_EFORMAT, path, msg);
    }
    return b_end_ring(&p->b, GJ_FN, p->err);
}

/* Polygon coordinates: array of rings (>= 1). */
static int gj_polygon(struct gj *p, json_t *rings, const char *path)
{
    char sub[192];
    if (!json_is_array(rings)) return gj_fail(p, GPN_EFORMAT, path, "polygon coordinates are not an array of rings");
    if (json_array_size(rings) == 0) return gj_fail(p, GPN_EFORMAT, path, "polygon has no ring");
    b_begin_poly(&p->b);
    for (size_t i = 0; i < json_array_size(rings); i++) {
        pathf(sub, sizeof sub, "%s[%zu]", path, i);
        int rc = gj_ring(p, json_array_get(rings, i), sub);
        if (rc) return rc;
    }
    return b_end_poly(&p->b, GJ_FN, p->err);
}

static int gj_object(struct gj *p, json_t *o, const char *path, int depth);

static int gj_geometry(struct gj *p, json_t *o, const char *path, const char *type, int depth)
{
    char sub[192], msg[160];
    if (!strcmp(type, "GeometryCollection")) {
        json_t *gs = json_object_get(o, "geometries");
        pathf(sub, sizeof sub, "%s%sgeometries", path, path[0] ? "." : "");
        if (!json_is_array(gs)) return gj_fail(p, GPN_EFORMAT, sub, "missing or not an array");
        for (size_t i = 0; i < json_array_size(gs); i++) {
            pathf(sub, sizeof sub, "%s%sgeometries[%zu]", path, path[0] ? "." : "", i);
            int rc = gj_object(p, json_array_get(gs, i), sub, depth + 1);
            if (rc) return rc;
        }
        return 0;
    }
    int multi = !strcmp(type, "MultiPolygon");
    if (!multi && strcmp(type, "Polygon")) {
        snprintf(msg, sizeof msg, "geometry type \"%.40s\" is not supported (only Polygon and MultiPolygon areas)",
                 type);
        return gj_fail(p, GPN_EUNSUPPORTED, path, msg);
    }
    json_t *c = json_object_get(o, "coordinates");
    pathf(sub, sizeof sub, "%s%scoordinates", path, path[0] ? "." : "");
    if (!c) return gj_fail(p, GPN_EFORMAT, sub, "missing");
    if (!multi) return gj_polygon(p, c, sub);
    if (!json_is_array(c)) return gj_fail(p, GPN_EFORMAT, sub, "MultiPolygon coordinates are not an array of polygons");
    for (size_t i = 0; i < json_array_size(c); i++) {
        char sub2[200];
        pathf(sub2, sizeof sub2, "%s[%zu]", sub, i);
        int rc = gj_polygon(p, json_array_get(c, i), sub2);
        if (rc) return rc;
    }
    return 0;
}

static int gj_object(struct gj *p, json_t *o, const char *path, int depth)
{
    char sub[192];
    if (depth > GJ_MAX_DEPTH) return gj_fail(p, GPN_EFORMAT, path, "nested too deeply");
    if (!json_is_object(o)) return gj_fail(p, GPN_EFORMAT, path, "not a JSON object");
    json_t *jt = json_object_get(o, "type");
    if (!json_is_string(jt)) return gj_fail(p, GPN_EFORMAT, path, "missing \"type\" string member");
    const char *type = json_string_value(jt);
    if (!strcmp(type, "FeatureCollection")) {
        json_t *fs = json_object_get(o, "features");
        pathf(sub, sizeof sub, "%s%sfeatures", path, path[0] ? "." : "");
        if (!json_is_array(fs)) return gj_fail(p, GPN_EFORMAT, sub, "missing or not an array");
        for (size_t i = 0; i < json_array_size(fs); i++) {
            pathf(sub, sizeof sub, "%s%sfeatures[%zu]", path, path[0] ? "." : "", i);
            json_t *f = json_array_get(fs, i);
            json_t *ft = json_is_object(f) ? json_object_get(f, "type") : NULL;
            if (!json_is_string(ft) || strcmp(json_string_value(ft), "Feature"))
                return gj_fail(p, GPN_EFORMAT, sub, "member of \"features\" is not a Feature");
            int rc = gj_object(p, f, sub, depth + 1);
            if (rc) return rc;
        }
        return 0;
    }
    if (!strcmp(type, "Feature")) {
        json_t *geom = json_object_get(o, "geometry");
        pathf(sub, sizeof sub, "%s%sgeometry", path, path[0] ? "." : "");
        if (!geom) return gj_fail(p, GPN_EFORMAT, sub, "missing (use null for a feature without geometry)");
        if (json_is_null(geom)) return 0;
        if (!json_is_object(geom)) return gj_fail(p, GPN_EFORMAT, sub, "not a JSON object");
        json_t *gt = json_object_get(geom, "type");
        if (!json_is_string(gt)) return gj_fail(p, GPN_EFORMAT, sub, "missing \"type\" string member");
        if (!strcmp(json_string_value(gt), "Feature") || !strcmp(json_string_value(gt), "FeatureCollection"))
            return gj_fail(p, GPN_EFORMAT, sub, "a Feature's geometry cannot be a Feature");
        return gj_geometry(p, geom, sub, json_string_value(gt), depth + 1);
    }
    return gj_geometry(p, o, path, type, depth);
}

/* Reads the legacy "crs" member: {"type":"name","properties":{"name":..}}. */
static int gj_crs(json_t *root, int *epsg, struct gpn_err *err)
{
    json_t *crs = json_object_get(root, "crs");
    *epsg = 4326;
    if (!crs || json_is_null(crs)) return 0;
    json_t *props = json_object_get(crs, "properties");
    json_t *name = props ? json_object_get(props, "name") : NULL;
    if (!json_is_string(name))
        return gpn_err_set(err, GPN_EUNSUPPORTED, GJ_FN ": crs: only {\"type\":\"name\",\"properties\":{\"name\":...}} "
                                                        "is supported");
    int code = gpn_crs_epsg(json_string_value(name));
    if (!code)
        return gpn_err_set(err, GPN_EUNSUPPORTED, GJ_FN ": crs: '%.80s' is not an EPSG code", json_string_value(name));
    *epsg = code;
    return 0;
}

int gpn_geom_from_geojson(const char *text, size_t len, const struct gpn_geom_limits *lim, struct gpn_geom **out,
                          struct gpn_err *err)
{
    if (!out) return gpn_err_set(err, GPN_EINVAL, GJ_FN ": NULL output");
    *out = NULL;
    if (!text) return gpn_err_set(err, GPN_EINVAL, GJ_FN ": NULL text");
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    if (!root)
        return gpn_err_set(err, GPN_EFORMAT, GJ_FN ": invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
                           jerr.text);
    struct gj p = {.err = err};
    int rc, epsg = 4326;
    if (!json_is_object(root)) {
        rc = gpn_err_set(err, GPN_EFORMAT, GJ_FN ": top level is not a JSON object");
        goto fail_json;
    }
    rc = gj_crs(root, &epsg, err);
    if (rc) goto fail_json;
    rc = b_init(&p.b, lim, epsg, err);
    if (rc) goto fail_json;
    p.check_lonlat = epsg == 4326;
    rc = gj_object(&p, root, "", 0);
    if (rc) goto fail;
    if (p.b.g->npolys == 0) {
        rc = gpn_err_set(err, GPN_EFORMAT, GJ_FN ": no Polygon or MultiPolygon found");
        goto fail;
    }
    json_decref(root);
    *out = p.b.g;
    return 0;
fail:
    gpn_geom_free(p.b.g);
fail_json:
    json_decref(root);
    return rc;
}

/* ==== TopoJSON (Natural Earth world-atlas) ============================= */

struct topo {
    const char *path;        /* for messages */
    json_t *root;
    double *pts;             /* decoded arcs, (total, 2) */
    size_t *arc_off;         /* (narcs + 1) offsets into pts, in points */
    size_t narcs;
};

static void topo_free(struct topo *t)
{
    json_decref(t->root);
    free(t->pts);
    free(t->arc_off);
}

/* Loads the file and decodes every arc: quantised delta-encoded positions
 * (cumulative sums times scale plus translate) or plain ones without a
 * transform. */
static int topo_load(const char *path, const char *fn, struct topo *t, struct gpn_err *err)
{
    memset(t, 0, sizeof *t);
    t->path = path;
    if (!path) return gpn_err_set(err, GPN_EINVAL, "%s: NULL path", fn);
    json_error_t jerr;
    t->root = json_load_file(path, 0, &jerr);
    if (!t->root) {
        int missing = !gpn_path_exists(path);
        return gpn_err_set(err, missing ? GPN_EIO : GPN_EFORMAT, "%s:%d: %s", path, jerr.line,
                           missing ? "cannot open file" : jerr.text);
    }
    json_t *type = json_object_get(t->root, "type");
    if (!json_is_string(type) || strcmp(json_string_value(type), "Topology"))
        return gpn_err_set(err, GPN_EFORMAT, "%s: not a TopoJSON Topology", path);
    json_t *arcs = json_object_get(t->root, "arcs");
    if (!json_is_array(arcs)) return gpn_err_set(err, GPN_EFORMAT, "%s: \"arcs\" is not an array", path);
    double scale[2] = {1, 1}, translate[2] = {0, 0};
    int quantised = 0;
    json_t *tr = json_object_get(t->root, "transform");
    if (tr) {
        json_t *s = json_object_get(tr, "scale"), *o = json_object_get(tr, "translate");
        if (!json_is_array(s) || !json_is_array(o) || json_array_size(s) != 2 || json_array_size(o) != 2)
            return gpn_err_set(err, GPN_EFORMAT, "%s: bad \"transform\"", path);
        for (int i = 0; i < 2; i++) {
            if (!json_is_number(json_array_get(s, i)) || !json_is_number(json_array_get(o, i)))
                return gpn_err_set(err, GPN_EFORMAT, "%s: bad \"transform\"", path);
            scale[i] = json_number_value(json_array_get(s, i));
            translate[i] = json_number_value(json_array_get(o, i));
        }
        quantised = 1;
    }
    t->narcs = json_array_size(arcs);
    size_t total = 0;
    for (size_t k = 0; k < t->narcs; k++) {
        json_t *a = json_array_get(arcs, k);
        if (!json_is_array(a) || json_array_size(a) < 2)
            return gpn_err_set(err, GPN_EFORMAT, "%s: arcs[%zu] is not an array of 2 or more positions", path, k);
        total += json_array_size(a);
    }
    t->arc_off = malloc((t->narcs + 1) * sizeof *t->arc_off);
    t->pts = malloc((total ? total : 1) * 2 * sizeof *t->pts);
    if (!t->arc_off || !t->pts) return gpn_err_set(err, GPN_ENOMEM, "%s: out of memory", fn);
    size_t w = 0;
    for (size_t k = 0; k < t->narcs; k++) {
        json_t *a = json_array_get(arcs, k);
        t->arc_off[k] = w;
        double qx = 0, qy = 0;
        for (size_t i = 0; i < json_array_size(a); i++) {
            json_t *pos = json_array_get(a, i);
            json_t *jx = json_array_get(pos, 0), *jy = json_array_get(pos, 1);
            if (!json_is_array(pos) || !json_is_number(jx) || !json_is_number(jy))
                return gpn_err_set(err, GPN_EFORMAT, "%s: arcs[%zu][%zu] is not a position", path, k, i);
            if (quantised) {
                qx += json_number_value(jx);
                qy += json_number_value(jy);
                t->pts[2 * w] = qx * scale[0] + translate[0];
                t->pts[2 * w + 1] = qy * scale[1] + translate[1];
            } else {
                t->pts[2 * w] = json_number_value(jx);
                t->pts[2 * w + 1] = json_number_value(jy);
            }
            w++;
        }
    }
    t->arc_off[t->narcs] = w;
    return 0;
}

/* Appends one ring given as an array of arc indices (~i = arc i reversed);
 * consecutive arcs share their junction point, and the closing point is
 * dropped. Longitudes are unwrapped along the ring so that no edge spans
 * more than 180 degrees; the westmost point then lies in [-180, 180).
 * Rings with fewer than 3 points are dropped; returns 1 then. */
static int topo_ring(struct topo *t, struct builder *b, json_t *ring, const char *fn, struct gpn_err *err)
{
    if (!json_is_array(ring)) return gpn_err_set(err, GPN_EFORMAT, "%s: a ring is not an array of arcs", t->path);
    b_begin_ring(b);
    for (size_t i = 0; i < json_array_size(ring); i++) {
        json_t *ja = json_array_get(ring, i);
        if (!json_is_integer(ja)) return gpn_err_set(err, GPN_EFORMAT, "%s: arc index is not an integer", t->path);
        json_int_t a = json_integer_value(ja);
        int rev = a < 0;
        json_int_t k = rev ? ~a : a;
        if (k < 0 || (size_t)k >= t->narcs)
            return gpn_err_set(err, GPN_EFORMAT, "%s: arc index %lld out of range", t->path, (long long)a);
        size_t o = t->arc_off[k], m = t->arc_off[k + 1] - o;
        for (size_t j = (i > 0); j < m; j++) {
            size_t src = o + (rev ? m - 1 - j : j);
            int rc = b_add_pt(b, t->pts[2 * src], t->pts[2 * src + 1], fn, err);
            if (rc) return rc;
        }
    }
    struct gpn_geom *g = b->g;
    size_t n = g->npts - b->ring_off;
    if (n >= 2 && g->xy[2 * b->ring_off] == g->xy[2 * (g->npts - 1)] &&
        g->xy[2 * b->ring_off + 1] == g->xy[2 * (g->npts - 1) + 1]) {
        g->npts--;
        n--;
    }
    if (n < 3) {
        b_drop_ring(b);
        return 1;
    }
    /* Natural Earth rings that cross the antimeridian jump from +180 to
     * -180 (a short edge on the sphere, a 360 degree one in the plane):
     * unwrap longitudes so consecutive points differ by at most 180. */
    double *r = g->xy + 2 * b->ring_off, lonmin = r[0];
    for (size_t i = 1; i < n; i++) {
        while (r[2 * i] - r[2 * i - 2] > 180.0) r[2 * i] -= 360.0;
        while (r[2 * i] - r[2 * i - 2] < -180.0) r[2 * i] += 360.0;
        lonmin = fmin(lonmin, r[2 * i]);
    }
    /* Then shift the whole ring so that it starts in [-180, 180): a ring
     * that began east of the antimeridian would otherwise sit 360 degrees
     * west of its place. */
    double shift = -360.0 * floor((lonmin + 180.0) / 360.0);
    if (shift != 0)
        for (size_t i = 0; i < n; i++) r[2 * i] += shift;
    return b_end_ring(b, fn, err);
}

static int topo_polygon(struct topo *t, struct builder *b, json_t *rings, const char *fn, struct gpn_err *err)
{
    if (!json_is_array(rings)) return gpn_err_set(err, GPN_EFORMAT, "%s: polygon arcs are not an array", t->path);
    b_begin_poly(b);
    for (size_t i = 0; i < json_array_size(rings); i++) {
        int rc = topo_ring(t, b, json_array_get(rings, i), fn, err);
        if (rc < 0) return rc;
        if (rc == 1 && i == 0) return 0; /* degenerate exterior: skip polygon */
    }
    return b_end_poly(b, fn, err);
}

/* Appends a TopoJSON geometry object (Polygon, MultiPolygon; others and
 * null types are ignored). */
static int topo_geometry(struct topo *t, struct builder *b, json_t *geom, const char *fn, struct gpn_err *err)
{
    const char *type = json_string_value(json_object_get(geom, "type"));
    json_t *arcs = json_object_get(geom, "arcs");
    if (!type) return 0;
    if (!strcmp(type, "Polygon")) return topo_polygon(t, b, arcs, fn, err);
    if (!strcmp(type, "MultiPolygon")) {
        if (!json_is_array(arcs)) return gpn_err_set(err, GPN_EFORMAT, "%s: MultiPolygon arcs are not an array", t->path);
        for (size_t i = 0; i < json_array_size(arcs); i++) {
            int rc = topo_polygon(t, b, json_array_get(arcs, i), fn, err);
            if (rc) return rc;
        }
        return 0;
    }
    if (!strcmp(type, "GeometryCollection")) {
        json_t *gs = json_object_get(geom, "geometries");
        for (size_t i = 0; i < json_array_size(gs); i++) {
            int rc = topo_geometry(t, b, json_array_get(gs, i), fn, err);
            if (rc) return rc;
        }
    }
    return 0;
}

/* The geometries of object `name`, or of the first object when absent. */
static json_t *topo_object(struct topo *t, const char *name)
{
    json_t *objs = json_object_get(t->root, "objects");
    if (!json_is_object(objs)) return NULL;
    json_t *o = json_object_get(objs, name);
    if (!o) {
        void *it = json_object_iter(objs);
        o = it ? json_object_iter_value(it) : NULL;
    }
    return o;
}

static int all_digits(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s)) return 0;
    return 1;
}

static int country_matches(json_t *geom, const char *q)
{
    json_t *id = json_object_get(geom, "id");
    const char *name = json_string_value(json_object_get(json_object_get(geom, "properties"), "name"));
    if (name && !strcasecmp(name, q)) return 1;
    if (json_is_string(id)) {
        const char *s = json_string_value(id);
        if (!strcasecmp(s, q)) return 1;
        if (all_digits(s) && all_digits(q) && strlen(q) < 10 && strtol(s, NULL, 10) == strtol(q, NULL, 10)) return 1;
    } else if (json_is_integer(id) && all_digits(q) && strlen(q) < 10) {
        return json_integer_value(id) == strtol(q, NULL, 10);
    }
    return 0;
}

/* Case-insensitive substring test. */
static int contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (!strncasecmp(hay, needle, n)) return 1;
    return 0;
}

/* Case-insensitive Levenshtein distance, capped at 9 for long strings. */
static int edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 9;
    int prev[64], cur[64];
    for (size_t j = 0; j <= lb; j++) prev[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int sub = prev[j - 1] + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            int del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof *cur);
    }
    return prev[lb];
}

int gpn_geom_country(const char *topojson_path, const char *name_or_id, struct gpn_geom **out, struct gpn_err *err)
{
    static const char fn[] = "gpn_geom_country";
    if (!out) return gpn_err_set(err, GPN_EINVAL, "%s: NULL output", fn);
    *out = NULL;
    if (!name_or_id || !name_or_id[0]) return gpn_err_set(err, GPN_EINVAL, "%s: empty country name", fn);
    struct topo t;
    struct builder b = {0};
    int rc = topo_load(topojson_path, fn, &t, err);
    if (rc) goto done;
    json_t *obj = topo_object(&t, "countries");
    json_t *geoms = json_object_get(obj, "geometries");
    if (!json_is_array(geoms)) {
        rc = gpn_err_set(err, GPN_EFORMAT, "%s: no \"countries\" geometry collection", topojson_path);
        goto done;
    }
    json_t *found = NULL;
    for (size_t i = 0; i < json_array_size(geoms) && !found; i++)
        if (country_matches(json_array_get(geoms, i), name_or_id)) found = json_array_get(geoms, i);
    if (!found) {
        struct gpn_buf sugg = {0};
        for (size_t i = 0; i < json_array_size(geoms); i++) {
            const char *name =
                json_string_value(json_object_get(json_object_get(json_array_get(geoms, i), "properties"), "name"));
            if (name && (contains_ci(name, name_or_id) || edit_distance(name, name_or_id) <= 2))
                gpn_buf_printf(&sugg, "%s'%s'", sugg.len ? ", " : "", name);
            if (sugg.len > 200) break;
        }
        rc = gpn_err_set(err, GPN_ENOTFOUND, "%s: no country named or numbered '%.60s' in %s%s%s%s", fn, name_or_id,
                         topojson_path, sugg.len ? " (did you mean " : "", sugg.len ? sugg.data : "",
                         sugg.len ? "?)" : "");
        gpn_buf_free(&sugg);
        goto done;
    }
    struct gpn_geom_limits lim = {SIZE_MAX, SIZE_MAX};
    rc = b_init(&b, &lim, 4326, err);
    if (rc) goto done;
    rc = topo_geometry(&t, &b, found, fn, err);
    if (rc) goto done;
    if (b.g->npolys == 0) {
        rc = gpn_err_set(err, GPN_ENOTFOUND, "%s: country '%s' has no polygon in %s", fn, name_or_id, topojson_path);
        goto done;
    }
    *out = b.g;
    b.g = NULL;
done:
    gpn_geom_free(b.g);
    topo_free(&t);
    return rc;
}

int gpn_geom_land(const char *topojson_path, struct gpn_geom **out, struct gpn_err *err)
{
    static const char fn[] = "gpn_geom_land";
    if (!out) return gpn_err_set(err, GPN_EINVAL, "%s: NULL output", fn);
    *out = NULL;
    struct topo t;
    struct builder b = {0};
    int rc = topo_load(topojson_path, fn, &t, err);
    if (rc) goto done;
    json_t *obj = topo_object(&t, "land");
    if (!json_is_object(obj)) {
        rc = gpn_err_set(err, GPN_EFORMAT, "%s: no \"land\" object", topojson_path);
        goto done;
    }
    struct gpn_geom_limits lim = {SIZE_MAX, SIZE_MAX};
    rc = b_init(&b, &lim, 4326, err);
    if (!rc) rc = topo_geometry(&t, &b, obj, fn, err);
    if (rc) goto done;
    if (b.g->npolys == 0) {
        rc = gpn_err_set(err, GPN_EFORMAT, "%s: no land polygon", topojson_path);
        goto done;
    }
    *out = b.g;
    b.g = NULL;
done:
    gpn_geom_free(b.g);
    topo_free(&t);
    return rc;
}

int gpn_geom_country_grid(const char *topojson_path, const char *name_or_id, struct gpn_geom **out,
                          struct gpn_err *err)
{
    int rc = gpn_geom_country(topojson_path, name_or_id, out, err);
    if (rc) return rc;
    const double area[4] = {GPN_GRID_AREA_WEST, GPN_GRID_AREA_SOUTH, GPN_GRID_AREA_EAST, GPN_GRID_AREA_NORTH};
    size_t dropped = 0;
    gpn_geom_keep_bbox(*out, area, &dropped);
    if (dropped) gpn_log_debug("gpn_geom_country_grid: %s: dropped %zu polygons outside EPSG:3035's area", name_or_id, dropped);
    if ((*out)->npolys == 0) {
        rc = gpn_err_set(err, GPN_ENOTFOUND, "gpn_geom_country_grid: '%s' has no land in EPSG:3035's area of use",
                         name_or_id);
        goto fail;
    }
    rc = gpn_geom_transform(*out, GPN_GRID_EPSG, err);
    if (rc) goto fail;
    return 0;
fail:
    gpn_geom_free(*out);
    *out = NULL;
    return rc;
}

/* ==== measures ========================================================== */

static void ring_bbox(const struct gpn_geom *g, const struct gpn_ring *r, double b[4])
{
    for (size_t i = 0; i < r->n; i++) {
        double x = g->xy[2 * (r->off + i)], y = g->xy[2 * (r->off + i) + 1];
        if (x < b[0]) b[0] = x;
        if (y < b[1]) b[1] = y;
        if (x > b[2]) b[2] = x;
        if (y > b[3]) b[3] = y;
    }
}

static void poly_bbox(const struct gpn_geom *g, const struct gpn_polygon *p, double b[4])
{
    b[0] = b[1] = HUGE_VAL;
    b[2] = b[3] = -HUGE_VAL;
    for (size_t r = 0; r < p->nrings; r++) ring_bbox(g, &g->rings[p->ring0 + r], b);
}

void gpn_geom_bbox(const struct gpn_geom *g, double bbox[4])
{
    bbox[0] = bbox[1] = HUGE_VAL;
    bbox[2] = bbox[3] = -HUGE_VAL;
    if (!g) return;
    for (size_t r = 0; r < g->nrings; r++) ring_bbox(g, &g->rings[r], bbox);
}

static double ring_area(const struct gpn_geom *g, const struct gpn_ring *r)
{
    if (r->n < 3) return 0;
    const double *p = g->xy + 2 * r->off;
    double x0 = p[0], y0 = p[1], s = 0;
    /* Shoelace relative to the first vertex, for precision far from 0. */
    for (size_t i = 1; i + 1 < r->n; i++)
        s += (p[2 * i] - x0) * (p[2 * i + 3] - y0) - (p[2 * i + 2] - x0) * (p[2 * i + 1] - y0);
    return 0.5 * fabs(s);
}

double gpn_geom_area(const struct gpn_geom *g)
{
    if (!g) return 0;
    double a = 0;
    for (size_t k = 0; k < g->npolys; k++) {
        const struct gpn_polygon *p = &g->polys[k];
        for (size_t r = 0; r < p->nrings; r++) {
            double ra = ring_area(g, &g->rings[p->ring0 + r]);
            a += r == 0 ? ra : -ra;
        }
    }
    return a;
}

void gpn_geom_keep_bbox(struct gpn_geom *g, const double bbox[4], size_t *dropped)
{
    size_t nd = 0;
    if (!g || !bbox) {
        if (dropped) *dropped = 0;
        return;
    }
    /* Compacts polygons, rings and points in order (in place, moving down). */
    size_t wp = 0, wr = 0, wpt = 0;
    for (size_t k = 0; k < g->npolys; k++) {
        struct gpn_polygon p = g->polys[k];
        double b[4];
        poly_bbox(g, &p, b);
        if (b[2] < bbox[0] || b[0] > bbox[2] || b[3] < bbox[1] || b[1] > bbox[3]) {
            nd++;
            continue;
        }
        g->polys[wp].ring0 = wr;
        g->polys[wp].nrings = p.nrings;
        wp++;
        for (size_t r = 0; r < p.nrings; r++) {
            struct gpn_ring ring = g->rings[p.ring0 + r];
            memmove(g->xy + 2 * wpt, g->xy + 2 * ring.off, ring.n * 2 * sizeof(double));
            g->rings[wr].off = wpt;
            g->rings[wr].n = ring.n;
            wr++;
            wpt += ring.n;
        }
    }
    g->npolys = wp;
    g->nrings = wr;
    g->npts = wpt;
    if (dropped) *dropped = nd;
}

/* ==== edges: the one crossing rule ====================================== */

struct edge {
    double ya, yb;  /* ya < yb */
    double xa;      /* x at ya */
    double dxdy;
    double xmin, xmax;
};

/* Normalises (x0,y0)-(x1,y1) bottom-up; returns 0 for horizontal edges,
 * which never cross a scanline. Leaves xmin/xmax alone (edge_make_box). */
static inline int edge_make(double x0, double y0, double x1, double y1, struct edge *e)
{
    if (y0 == y1) return 0;
    if (y0 < y1) {
        e->ya = y0, e->yb = y1, e->xa = x0;
        e->dxdy = (x1 - x0) / (y1 - y0);
    } else {
        e->ya = y1, e->yb = y0, e->xa = x1;
        e->dxdy = (x0 - x1) / (y0 - y1);
    }
    return 1;
}

static inline int edge_make_box(double x0, double y0, double x1, double y1, struct edge *e)
{
    if (!edge_make(x0, y0, x1, y1, e)) return 0;
    e->xmin = x0 < x1 ? x0 : x1;
    e->xmax = x0 < x1 ? x1 : x0;
    return 1;
}

static inline int edge_crosses(const struct edge *e, double y) { return e->ya <= y && y < e->yb; }
static inline double edge_x(const struct edge *e, double y) { return e->xa + (y - e->ya) * e->dxdy; }

int gpn_geom_contains(const struct gpn_geom *g, double x, double y)
{
    if (!g) return 0;
    for (size_t k = 0; k < g->npolys; k++) {
        const struct gpn_polygon *p = &g->polys[k];
        int odd = 0;
        for (size_t r = 0; r < p->nrings; r++) {
            const struct gpn_ring *ring = &g->rings[p->ring0 + r];
            const double *q = g->xy + 2 * ring->off;
            for (size_t i = 0; i < ring->n; i++) {
                size_t j = (i + 1 == ring->n) ? 0 : i + 1;
                /* Same test as edge_crosses(): exactly one end at or
                 * below y (also rejects horizontal edges), done first
                 * because it is cheap. */
                if ((q[2 * i + 1] <= y) == (q[2 * j + 1] <= y)) continue;
                struct edge e;
                if (!edge_make(q[2 * i], q[2 * i + 1], q[2 * j], q[2 * j + 1], &e)) continue;
                if (edge_crosses(&e, y) && edge_x(&e, y) <= x) odd ^= 1;
            }
        }
        if (odd) return 1;
    }
    return 0;
}

/* ==== reprojection ====================================================== */

/* Returns a densified copy of g's points and rings (edges no longer than
 * step in both axes) in *xy / *rings / *npts. */
static int densify(const struct gpn_geom *g, double step, double **xy_out, struct gpn_ring **rings_out, size_t *npts_out,
                   struct gpn_err *err)
{
    size_t total = 0;
    for (size_t r = 0; r < g->nrings; r++) {
        const struct gpn_ring *ring = &g->rings[r];
        const double *q = g->xy + 2 * ring->off;
        for (size_t i = 0; i < ring->n; i++) {
            size_t j = (i + 1 == ring->n) ? 0 : i + 1;
            double d = fmax(fabs(q[2 * j] - q[2 * i]), fabs(q[2 * j + 1] - q[2 * i + 1]));
            double k = ceil(d / step);
            if (!(k >= 1)) k = 1;
            if (k > (double)MAX_DENSIFIED_POINTS) k = (double)MAX_DENSIFIED_POINTS;
            total += (size_t)k;
            if (total > MAX_DENSIFIED_POINTS)
                return gpn_err_set(err, GPN_ETOOBIG, "gpn_geom_transform: densified geometry exceeds %zu points",
                                   MAX_DENSIFIED_POINTS);
        }
    }
    double *xy = malloc((total ? total : 1) * 2 * sizeof *xy);
    struct gpn_ring *rings = malloc((g->nrings ? g->nrings : 1) * sizeof *rings);
    if (!xy || !rings) {
        free(xy);
        free(rings);
        return gpn_err_set(err, GPN_ENOMEM, "gpn_geom_transform: out of memory");
    }
    size_t w = 0;
    for (size_t r = 0; r < g->nrings; r++) {
        const struct gpn_ring *ring = &g->rings[r];
        const double *q = g->xy + 2 * ring->off;
        rings[r].off = w;
        for (size_t i = 0; i < ring->n; i++) {
            size_t j = (i + 1 == ring->n) ? 0 : i + 1;
            double x0 = q[2 * i], y0 = q[2 * i + 1], x1 = q[2 * j], y1 = q[2 * j + 1];
            double d = fmax(fabs(x1 - x0), fabs(y1 - y0));
            double kd = ceil(d / step);
            size_t k = (kd >= 1) ? (size_t)fmin(kd, (double)MAX_DENSIFIED_POINTS) : 1;
            for (size_t s = 0; s < k; s++) {
                double f = (double)s / (double)k;
                xy[2 * w] = s ? x0 + f * (x1 - x0) : x0;
                xy[2 * w + 1] = s ? y0 + f * (y1 - y0) : y0;
                w++;
            }
        }
        rings[r].n = w - rings[r].off;
    }
    *xy_out = xy;
    *rings_out = rings;
    *npts_out = w;
    return 0;
}

int gpn_geom_transform(struct gpn_geom *g, int to_epsg, struct gpn_err *err)
{
    if (!g) return gpn_err_set(err, GPN_EINVAL, "gpn_geom_transform: NULL geometry");
    if (g->epsg <= 0 || to_epsg <= 0)
        return gpn_err_set(err, GPN_EINVAL, "gpn_geom_transform: unknown CRS (EPSG %d -> %d)", g->epsg, to_epsg);
    if (g->epsg == to_epsg) return 0;
    double *xy = NULL;
    struct gpn_ring *rings = NULL;
    size_t npts = g->npts;
    int rc;
    if (g->epsg == 4326 || g->epsg == 4258) {
        rc = densify(g, DENSIFY_DEG, &xy, &rings, &npts, err);
        if (rc) return rc;
    } else {
        xy = malloc((npts ? npts : 1) * 2 * sizeof *xy);
        if (!xy) return gpn_err_set(err, GPN_ENOMEM, "gpn_geom_transform: out of memory");
        memcpy(xy, g->xy, npts * 2 * sizeof *xy);
    }
    char from[24], to[24];
    snprintf(from, sizeof from, "EPSG:%d", g->epsg);
    snprintf(to, sizeof to, "EPSG:%d", to_epsg);
    struct gpn_transform *t = NULL;
    rc = gpn_transform_create(from, to, &t, err);
    if (!rc) rc = gpn_transform_points_xy(t, xy, npts, err);
    gpn_transform_destroy(t);
    if (rc) {
        free(xy);
        free(rings);
        return gpn_err_prefix(err, "gpn_geom_transform");
    }
    free(g->xy);
    g->xy = xy;
    g->npts = npts;
    if (rings) {
        free(g->rings);
        g->rings = rings;
    }
    g->epsg = to_epsg;
    return 0;
}

/* ==== prepared geometry ================================================= */

struct ppoly {
    double bbox[4];     /* xmin, ymin, xmax, ymax */
    size_t e0, ne;      /* edges[e0 .. e0+ne) */
    int32_t band0;      /* first band (tile row index) indexed, or -1 */
    int32_t nbands;
    size_t bs0;         /* band_start[bs0 .. bs0+nbands] */
};

struct gpn_geom_prep {
    struct ppoly *polys;     /* (npolys) */
    size_t npolys;
    struct edge *edges;      /* (nedges) */
    size_t nedges;
    size_t *band_start;      /* per polygon (nbands + 1) offsets into band_edges */
    uint32_t *band_edges;    /* edge indices relative to the polygon's e0 */
    double *hedges;          /* (nhedges, 3) horizontal edges: y, xmin, xmax. The
                              * rasteriser never needs them (they cross no scanline)
                              * but the tile finder must mark the tiles they touch. */
    size_t nhedges;
    double bbox[4];
};

void gpn_geom_prep_free(struct gpn_geom_prep *p)
{
    if (!p) return;
    free(p->polys);
    free(p->edges);
    free(p->band_start);
    free(p->band_edges);
    free(p->hedges);
    free(p);
}

/* Band range [*j0, *j1] (clipped to 0..NBANDS-1) overlapped by [ya, yb]. */
static int band_range(double ya, double yb, int32_t *j0, int32_t *j1)
{
    double a = floor(ya / BAND_M), b = floor(yb / BAND_M);
    if (b < 0 || a > NBANDS - 1) return 0;
    *j0 = a < 0 ? 0 : (int32_t)a;
    *j1 = b > NBANDS - 1 ? NBANDS - 1 : (int32_t)b;
    return 1;
}

int gpn_geom_prepare(const struct gpn_geom *g, struct gpn_geom_prep **out, struct gpn_err *err)
{
    static const char fn[] = "gpn_geom_prepare";
    if (!out) return gpn_err_set(err, GPN_EINVAL, "%s: NULL output", fn);
    *out = NULL;
    if (!g) return gpn_err_set(err, GPN_EINVAL, "%s: NULL geometry", fn);
    if (g->epsg != GPN_GRID_EPSG)
        return gpn_err_set(err, GPN_EINVAL, "%s: geometry is in EPSG:%d; transform it to EPSG:3035 first", fn, g->epsg);
    for (size_t i = 0; i < 2 * g->npts; i++) {
        if (!isfinite(g->xy[i])) return gpn_err_set(err, GPN_EINVAL, "%s: non-finite coordinate", fn);
        if (fabs(g->xy[i]) > COORD_ABS_MAX)
            return gpn_err_set(err, GPN_ERANGE, "%s: coordinate %g m is outside EPSG:3035's plane", fn, g->xy[i]);
    }
    int rc = GPN_ENOMEM;
    struct gpn_geom_prep *p = calloc(1, sizeof *p);
    if (!p) goto nomem;
    p->npolys = g->npolys;
    p->polys = calloc(g->npolys ? g->npolys : 1, sizeof *p->polys);
    p->edges = malloc((g->npts ? g->npts : 1) * sizeof *p->edges);
    if (!p->polys || !p->edges) goto nomem;
    if (g->npts > UINT32_MAX) {
        rc = gpn_err_set(err, GPN_ETOOBIG, "%s: too many points", fn);
        goto fail;
    }
    p->bbox[0] = p->bbox[1] = HUGE_VAL;
    p->bbox[2] = p->bbox[3] = -HUGE_VAL;
    /* Edges and band counts. */
    size_t nbs = 0, hcap = 0;
    for (size_t k = 0; k < g->npolys; k++) {
        const struct gpn_polygon *gp = &g->polys[k];
        struct ppoly *pp = &p->polys[k];
        poly_bbox(g, gp, pp->bbox);
        p->bbox[0] = fmin(p->bbox[0], pp->bbox[0]);
        p->bbox[1] = fmin(p->bbox[1], pp->bbox[1]);
        p->bbox[2] = fmax(p->bbox[2], pp->bbox[2]);
        p->bbox[3] = fmax(p->bbox[3], pp->bbox[3]);
        pp->e0 = p->nedges;
        for (size_t r = 0; r < gp->nrings; r++) {
            const struct gpn_ring *ring = &g->rings[gp->ring0 + r];
            const double *q = g->xy + 2 * ring->off;
            for (size_t i = 0; i < ring->n; i++) {
                size_t j = (i + 1 == ring->n) ? 0 : i + 1;
                if (edge_make_box(q[2 * i], q[2 * i + 1], q[2 * j], q[2 * j + 1], &p->edges[p->nedges])) {
                    p->nedges++;
                } else if (q[2 * i] != q[2 * j]) {
                    if (grow((void **)&p->hedges, &hcap, p->nhedges + 1, 3 * sizeof *p->hedges)) {
                        rc = gpn_err_set(err, GPN_ENOMEM, "%s: out of memory", fn);
                        goto fail;
                    }
                    double *h = p->hedges + 3 * p->nhedges++;
                    h[0] = q[2 * i + 1];
                    h[1] = fmin(q[2 * i], q[2 * j]);
                    h[2] = fmax(q[2 * i], q[2 * j]);
                }
            }
        }
        pp->ne = p->nedges - pp->e0;
        int32_t j0, j1;
        if (pp->ne && band_range(pp->bbox[1], pp->bbox[3], &j0, &j1)) {
            pp->band0 = j0;
            pp->nbands = j1 - j0 + 1;
        } else {
            pp->band0 = -1;
            pp->nbands = 0;
        }
        pp->bs0 = nbs;
        nbs += (size_t)pp->nbands + 1;
    }
    p->band_start = calloc(nbs ? nbs : 1, sizeof *p->band_start);
    if (!p->band_start) goto nomem;
    /* Count, prefix-sum, fill (CSR per polygon). */
    size_t total = 0;
    for (size_t k = 0; k < p->npolys; k++) {
        struct ppoly *pp = &p->polys[k];
        size_t *bs = p->band_start + pp->bs0;
        for (size_t e = 0; e < pp->ne; e++) {
            int32_t j0, j1;
            const struct edge *ed = &p->edges[pp->e0 + e];
            if (!band_range(ed->ya, ed->yb, &j0, &j1)) continue;
            for (int32_t j = j0; j <= j1; j++) bs[j - pp->band0 + 1]++;
        }
        for (int32_t b = 0; b < pp->nbands; b++) bs[b + 1] += bs[b];
        for (int32_t b = 0; b <= pp->nbands; b++) bs[b] += total;
        total = bs[pp->nbands];
    }
    p->band_edges = malloc((total ? total : 1) * sizeof *p->band_edges);
    if (!p->band_edges) goto nomem;
    for (size_t k = 0; k < p->npolys; k++) {
        struct ppoly *pp = &p->polys[k];
        const size_t *bs = p->band_start + pp->bs0;
        size_t cur[NBANDS];
        for (int32_t b = 0; b < pp->nbands; b++) cur[b] = bs[b];
        for (size_t e = 0; e < pp->ne; e++) {
            int32_t j0, j1;
            const struct edge *ed = &p->edges[pp->e0 + e];
            if (!band_range(ed->ya, ed->yb, &j0, &j1)) continue;
            for (int32_t j = j0; j <= j1; j++) p->band_edges[cur[j - pp->band0]++] = (uint32_t)e;
        }
    }
    *out = p;
    return 0;
nomem:
    rc = gpn_err_set(err, GPN_ENOMEM, "%s: out of memory", fn);
fail:
    gpn_geom_prep_free(p);
    return rc;
}

/* ==== rasterisation ===================================================== */

static int cmp_edge_ya(const void *a, const void *b)
{
    const struct edge *x = *(const struct edge *const *)a, *y = *(const struct edge *const *)b;
    return (x->ya > y->ya) - (x->ya < y->ya);
}

/* First column c in [0, 500] whose centre x0 + 25 + 50c is >= v. */
static inline int first_col_ge(double x0, double v)
{
    if (!(v > x0 + 25)) return 0;
    if (v > x0 + GPN_GRID_TILE_M - 25) return GPN_GRID_TILE_CELLS;
    int c = (int)ceil((v - x0 - 25) / GPN_GRID_CELL_M);
    if (c < 0) c = 0;
    if (c > GPN_GRID_TILE_CELLS) c = GPN_GRID_TILE_CELLS;
    while (c > 0 && x0 + 25 + (double)(c - 1) * GPN_GRID_CELL_M >= v) c--;
    while (c < GPN_GRID_TILE_CELLS && x0 + 25 + (double)c * GPN_GRID_CELL_M < v) c++;
    return c;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static inline void sort_doubles(double *v, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        double t = v[i];
        size_t j = i;
        while (j > 0 && v[j - 1] > t) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = t;
    }
}

static int tile_in_range(struct gpn_tile t)
{
    return t.e_km >= 0 && t.n_km >= 0 && t.e_km <= GPN_GRID_KM_MAX && t.n_km <= GPN_GRID_KM_MAX &&
           t.e_km % GPN_GRID_TILE_KM == 0 && t.n_km % GPN_GRID_TILE_KM == 0;
}

/* Scratch for one rasterisation: candidate edge pointers, the active list
 * and crossings; grown on demand. */
struct scratch {
    const struct edge **cand, **act;
    double *xs;
    size_t cap;
};

static int scratch_reserve(struct scratch *s, size_t n)
{
    if (n <= s->cap) return 0;
    size_t c = s->cap ? s->cap : 64;
    while (c < n) c *= 2;
    const struct edge **a = realloc(s->cand, c * sizeof *a);
    if (!a) return -1;
    s->cand = a;
    const struct edge **b = realloc(s->act, c * sizeof *b);
    if (!b) return -1;
    s->act = b;
    double *x = realloc(s->xs, c * sizeof *x);
    if (!x) return -1;
    s->xs = x;
    s->cap = c;
    return 0;
}

static void scratch_free(struct scratch *s)
{
    free(s->cand);
    free(s->act);
    free(s->xs);
}

/* ORs polygon pp's cells over the tile into mask. */
static int raster_poly(const struct gpn_geom_prep *p, const struct ppoly *pp, double x0, double y0, int32_t band,
                       uint8_t *mask, struct scratch *s)
{
    const size_t *bs = p->band_start + pp->bs0;
    size_t b = (size_t)(band - pp->band0);
    size_t lo = bs[b], hi = bs[b + 1];
    if (scratch_reserve(s, hi - lo)) return -1;
    const double yc_first = y0 + 25, yc_last = y0 + GPN_GRID_TILE_M - 25, x_east = x0 + GPN_GRID_TILE_M;
    size_t nc = 0;
    for (size_t i = lo; i < hi; i++) {
        const struct edge *e = &p->edges[pp->e0 + p->band_edges[i]];
        if (e->ya > yc_last || e->yb <= yc_first) continue; /* never active on a row centre */
        if (e->xmin > x_east) continue;                      /* east of every centre */
        s->cand[nc++] = e;
    }
    if (nc == 0) return 0;
    gpn_qsort(s->cand, nc, sizeof *s->cand, cmp_edge_ya);
    size_t next = 0, nact = 0;
    for (int row = GPN_GRID_TILE_CELLS - 1; row >= 0; row--) {
        double yc = y0 + 25 + (double)(GPN_GRID_TILE_CELLS - 1 - row) * GPN_GRID_CELL_M;
        while (next < nc && s->cand[next]->ya <= yc) s->act[nact++] = s->cand[next++];
        size_t w = 0;
        for (size_t i = 0; i < nact; i++)
            if (s->act[i]->yb > yc) s->act[w++] = s->act[i];
        nact = w;
        if (nact == 0) continue;
        for (size_t i = 0; i < nact; i++) s->xs[i] = edge_x(s->act[i], yc);
        sort_doubles(s->xs, nact);
        uint8_t *line = mask + (size_t)row * GPN_GRID_TILE_CELLS;
        /* Inside iff an odd number of crossings are <= the centre: spans
         * [xs0, xs1), [xs2, xs3), ... and [xs_last, east) when odd. */
        for (size_t i = 0; i < nact; i += 2) {
            int c0 = first_col_ge(x0, s->xs[i]);
            int c1 = (i + 1 < nact) ? first_col_ge(x0, s->xs[i + 1]) : GPN_GRID_TILE_CELLS;
            if (c1 > c0) memset(line + c0, 1, (size_t)(c1 - c0));
        }
    }
    return 0;
}

int gpn_geom_prep_rasterize_tile(const struct gpn_geom_prep *p, struct gpn_tile t, uint8_t *mask, int64_t *count,
                                 struct gpn_err *err)
{
    static const char fn[] = "gpn_geom_rasterize_tile";
    if (count) *count = 0;
    if (!p || !mask) return gpn_err_set(err, GPN_EINVAL, "%s: NULL argument", fn);
    if (!tile_in_range(t))
        return gpn_err_set(err, GPN_ERANGE, "%s: tile %d,%d km is outside the grid's id range", fn, (int)t.e_km,
                           (int)t.n_km);
    memset(mask, 0, (size_t)GPN_GRID_TILE_CELLS * GPN_GRID_TILE_CELLS);
    double x0 = (double)t.e_km * 1000.0, y0 = (double)t.n_km * 1000.0;
    int32_t band = t.n_km / GPN_GRID_TILE_KM;
    struct scratch s = {0};
    for (size_t k = 0; k < p->npolys; k++) {
        const struct ppoly *pp = &p->polys[k];
        if (pp->nbands == 0 || band < pp->band0 || band >= pp->band0 + pp->nbands) continue;
        if (pp->bbox[2] < x0 + 25 || pp->bbox[0] > x0 + GPN_GRID_TILE_M - 25) continue;
        if (pp->bbox[3] < y0 + 25 || pp->bbox[1] > y0 + GPN_GRID_TILE_M - 25) continue;
        if (raster_poly(p, pp, x0, y0, band, mask, &s)) {
            scratch_free(&s);
            return gpn_err_set(err, GPN_ENOMEM, "%s: out of memory", fn);
        }
    }
    scratch_free(&s);
    if (count) {
        int64_t c = 0;
        for (size_t i = 0; i < (size_t)GPN_GRID_TILE_CELLS * GPN_GRID_TILE_CELLS; i++) c += mask[i];
        *count = c;
    }
    return 0;
}

int gpn_geom_rasterize_tile(const struct gpn_geom *g, struct gpn_tile t, uint8_t *mask, int64_t *count,
                            struct gpn_err *err)
{
    if (count) *count = 0;
    struct gpn_geom_prep *p = NULL;
    int rc = gpn_geom_prepare(g, &p, err);
    if (rc) return rc;
    rc = gpn_geom_prep_rasterize_tile(p, t, mask, count, err);
    gpn_geom_prep_free(p);
    return rc;
}

/* ==== tiles of a geometry =============================================== */

/* Marks, in flags (w x h, origin tile (i0, j0)), every tile whose rectangle
 * (grown by 1 m) the segment may touch. Walks the segment column by column
 * so long diagonal edges cost what they cross, not their bbox. */
static void mark_edge(const struct edge *e, uint8_t *flags, int64_t i0, int64_t j0, int64_t w, int64_t h)
{
    /* Endpoints back from the normalised form. */
    double ya = e->ya, yb = e->yb, xa = e->xa, xb = e->xa + (e->yb - e->ya) * e->dxdy;
    double xlo = e->xmin - 1, xhi = e->xmax + 1;
    int64_t ia = (int64_t)floor(xlo / BAND_M), ib = (int64_t)floor(xhi / BAND_M);
    if (ia < i0) ia = i0;
    if (ib > i0 + w - 1) ib = i0 + w - 1;
    for (int64_t i = ia; i <= ib; i++) {
        /* y-range of the segment over the column's x-range (clamped). */
        double cx0 = fmax(xlo, (double)i * BAND_M - 1), cx1 = fmin(xhi, (double)(i + 1) * BAND_M + 1);
        double ylo, yhi;
        if (xb == xa) {
            ylo = ya, yhi = yb;
        } else {
            double t0 = (cx0 - xa) / (xb - xa), t1 = (cx1 - xa) / (xb - xa);
            double u0 = fmin(t0, t1), u1 = fmax(t0, t1);
            if (u0 < 0) u0 = 0;
            if (u1 > 1) u1 = 1;
            ylo = ya + u0 * (yb - ya);
            yhi = ya + u1 * (yb - ya);
        }
        int64_t ja = (int64_t)floor((ylo - 1) / BAND_M), jb = (int64_t)floor((yhi + 1) / BAND_M);
        if (ja < j0) ja = j0;
        if (jb > j0 + h - 1) jb = j0 + h - 1;
        for (int64_t j = ja; j <= jb; j++) flags[(j - j0) * w + (i - i0)] = 1;
    }
}

int gpn_geom_prep_tiles(const struct gpn_geom_prep *p, size_t max_tiles, struct gpn_tile **tiles, size_t *n,
                        struct gpn_err *err)
{
    static const char fn[] = "gpn_geom_tiles";
    if (!p || !tiles || !n) return gpn_err_set(err, GPN_EINVAL, "%s: NULL argument", fn);
    *tiles = NULL;
    *n = 0;
    if (p->npolys == 0 || p->nedges == 0) return 0;
    /* Tile range of the bbox, clipped to the id range. */
    int64_t i0 = (int64_t)floor(p->bbox[0] / BAND_M), i1 = (int64_t)floor(p->bbox[2] / BAND_M);
    int64_t j0 = (int64_t)floor(p->bbox[1] / BAND_M), j1 = (int64_t)floor(p->bbox[3] / BAND_M);
    if (i0 < 0) i0 = 0;
    if (j0 < 0) j0 = 0;
    if (i1 > GPN_GRID_TILE_IDX_MAX) i1 = GPN_GRID_TILE_IDX_MAX;
    if (j1 > GPN_GRID_TILE_IDX_MAX) j1 = GPN_GRID_TILE_IDX_MAX;
    if (i1 < i0 || j1 < j0) return 0;
    int64_t w = i1 - i0 + 1, h = j1 - j0 + 1;
    /* flags: bit0 boundary (edge nearby), bit1 inside (uniform tiles). */
    uint8_t *flags = calloc((size_t)(w * h), 1);
    uint8_t *mask = malloc((size_t)GPN_GRID_TILE_CELLS * GPN_GRID_TILE_CELLS);
    double *xs = NULL;
    size_t xs_cap = 0;
    struct gpn_tile *out = NULL;
    size_t nout = 0, cap = 0;
    int rc = 0;
    if (!flags || !mask) goto nomem;
    for (size_t e = 0; e < p->nedges; e++) mark_edge(&p->edges[e], flags, i0, j0, w, h);
    for (size_t e = 0; e < p->nhedges; e++) {
        const double *hd = p->hedges + 3 * e;
        int64_t ia = (int64_t)floor((hd[1] - 1) / BAND_M), ib = (int64_t)floor((hd[2] + 1) / BAND_M);
        int64_t ja = (int64_t)floor((hd[0] - 1) / BAND_M), jb = (int64_t)floor((hd[0] + 1) / BAND_M);
        for (int64_t j = ja < j0 ? j0 : ja; j <= jb && j <= j1; j++)
            for (int64_t i = ia < i0 ? i0 : ia; i <= ib && i <= i1; i++) flags[(j - j0) * w + (i - i0)] |= 1;
    }
    /* Uniform tiles: one scanline per tile row through the centre of cell
     * (col 250, row 249): x = i*25000 + 12525, y = j*25000 + 12525. */
    for (int64_t j = j0; j <= j1; j++) {
        double yc = (double)j * BAND_M + 12525;
        uint8_t *frow = flags + (j - j0) * w;
        for (size_t k = 0; k < p->npolys; k++) {
            const struct ppoly *pp = &p->polys[k];
            if (pp->nbands == 0 || j < pp->band0 || j >= pp->band0 + pp->nbands) continue;
            const size_t *bs = p->band_start + pp->bs0;
            size_t lo = bs[j - pp->band0], hi = bs[j - pp->band0 + 1], nx = 0;
            if (hi - lo > xs_cap) {
                size_t c = xs_cap ? xs_cap : 64;
                while (c < hi - lo) c *= 2;
                double *q = realloc(xs, c * sizeof *q);
                if (!q) goto nomem;
                xs = q;
                xs_cap = c;
            }
            for (size_t i = lo; i < hi; i++) {
                const struct edge *ed = &p->edges[pp->e0 + p->band_edges[i]];
                if (edge_crosses(ed, yc)) xs[nx++] = edge_x(ed, yc);
            }
            if (nx == 0) continue;
            gpn_qsort(xs, nx, sizeof *xs, cmp_double);
            size_t le = 0; /* crossings <= xc */
            for (int64_t i = i0; i <= i1; i++) {
                double xc = (double)i * BAND_M + 12525;
                while (le < nx && xs[le] <= xc) le++;
                if ((le & 1) && !(frow[i - i0] & 1)) frow[i - i0] |= 2;
            }
        }
    }
    /* Collect in (n, e) order; rasterise the boundary tiles. */
    for (int64_t j = j0; j <= j1; j++) {
        for (int64_t i = i0; i <= i1; i++) {
            uint8_t f = flags[(j - j0) * w + (i - i0)];
            struct gpn_tile t = {(int32_t)(i * GPN_GRID_TILE_KM), (int32_t)(j * GPN_GRID_TILE_KM)};
            if (f & 1) {
                int64_t cnt = 0;
                rc = gpn_geom_prep_rasterize_tile(p, t, mask, &cnt, err);
                if (rc) goto done;
                if (cnt == 0) continue;
            } else if (!(f & 2)) {
                continue;
            }
            if (max_tiles && nout >= max_tiles) {
                rc = gpn_err_set(err, GPN_ETOOBIG, "%s: more than the limit of %zu tiles", fn, max_tiles);
                goto done;
            }
            if (grow((void **)&out, &cap, nout + 1, sizeof *out)) goto nomem;
            out[nout++] = t;
        }
    }
    *tiles = out;
    *n = nout;
    out = NULL;
    goto done;
nomem:
    rc = gpn_err_set(err, GPN_ENOMEM, "%s: out of memory", fn);
done:
    free(out);
    free(flags);
    free(mask);
    free(xs);
    return rc;
}

int gpn_geom_tiles(const struct gpn_geom *g, size_t max_tiles, struct gpn_tile **tiles, size_t *n,
                   struct gpn_err *err)
{
    if (tiles) *tiles = NULL;
    if (n) *n = 0;
    struct gpn_geom_prep *p = NULL;
    int rc = gpn_geom_prepare(g, &p, err);
    if (rc) return rc;
    rc = gpn_geom_prep_tiles(p, max_tiles, tiles, n, err);
    gpn_geom_prep_free(p);
    return rc;
}
