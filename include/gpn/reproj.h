/*
 * reproj.h - coordinate transforms between CRSs (the only PROJ user).
 *
 * Axis order is ALWAYS x/easting/longitude first, y/northing/latitude second
 * in this API, whatever the CRS authority says (PROJ's
 * proj_normalize_for_visualization); protocol code (WMS 1.3.0 EPSG:4326
 * lat/lon) swaps at its own boundary.
 *
 * A transform owns its own PROJ context and is NOT thread-safe: create one
 * per thread. Creating one costs ~1 ms; reuse it.
 */
#ifndef GPN_REPROJ_H
#define GPN_REPROJ_H

#include <stddef.h>

#include "gpn/err.h"

struct gpn_transform;

/* from/to: "EPSG:3035", "EPSG:4326", "CRS:84", "EPSG:3857", or a structured
 * CRS string PROJ accepts (AUTH:CODE, WKT, PROJ strings, PROJJSON,
 * "urn:ogc:def:crs:EPSG::3035"); bare names are refused because PROJ would
 * match them fuzzily ("FOO" -> Amersfoort). Geographic
 * CRSs take and give degrees. On success *out is owned by the caller
 * (gpn_transform_destroy); on failure *out is NULL and err says which CRS
 * PROJ rejected (GPN_EINVAL) or GPN_ENOMEM / GPN_ELIB. */
int gpn_transform_create(const char *from, const char *to, struct gpn_transform **out, struct gpn_err *err);
/* Transforms n points in place. Points that cannot be transformed become
 * HUGE_VAL and the call returns GPN_ERANGE after transforming the others. */
int gpn_transform_points(struct gpn_transform *t, double *x, double *y, size_t n, struct gpn_err *err);
/* The same on interleaved (x, y) pairs: xy is (n, 2). */
int gpn_transform_points_xy(struct gpn_transform *t, double *xy, size_t n, struct gpn_err *err);
/* Transforms a bbox in = (xmin, ymin, xmax, ymax) by sampling its edges
 * (21 points per side) and writes the bbox of the transformed samples to
 * out. Samples that fail to transform are ignored; GPN_ERANGE when none
 * transforms, GPN_EINVAL when in is not a finite, ordered box. Does not
 * handle boxes whose image crosses the antimeridian. */
int gpn_transform_bbox(struct gpn_transform *t, const double in[4], double out[4], struct gpn_err *err);
/* Frees t; NULL is a no-op. */
void gpn_transform_destroy(struct gpn_transform *t);

/* EPSG code of a CRS string ("EPSG:3857" -> 3857, "CRS:84" -> 4326 with
 * lon/lat order; also "urn:ogc:def:crs:EPSG::3035", "OGC:CRS84",
 * "urn:ogc:def:crs:OGC:1.3:CRS84" and
 * "http://www.opengis.net/def/crs/EPSG/0/3035"); 0 when not an EPSG code or
 * NULL. Case-insensitive; no PROJ lookup. */
int gpn_crs_epsg(const char *crs);

#endif
