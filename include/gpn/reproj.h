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

/* from/to: "EPSG:3035", "EPSG:4326", "CRS:84", "EPSG:3857", or any string
 * PROJ accepts (WKT, PROJ strings). On success *out is owned by the caller
 * (gpn_transform_destroy). */
int gpn_transform_create(const char *from, const char *to, struct gpn_transform **out, struct gpn_err *err);
/* Transforms n points in place. Points that cannot be transformed become
 * HUGE_VAL and the call returns GPN_ERANGE after transforming the others. */
int gpn_transform_points(struct gpn_transform *t, double *x, double *y, size_t n, struct gpn_err *err);
/* Transforms a bbox by sampling its edges (21 points per side) and returns
 * the bbox of the result. */
int gpn_transform_bbox(struct gpn_transform *t, const double in[4], double out[4], struct gpn_err *err);
void gpn_transform_destroy(struct gpn_transform *t);

/* EPSG code of a CRS string ("EPSG:3857" -> 3857, "CRS:84" -> 4326 with
 * lon/lat order); 0 when not an EPSG code. */
int gpn_crs_epsg(const char *crs);

#endif
