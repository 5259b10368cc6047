/*
 * geom.h - polygons: GeoJSON/TopoJSON parsing, reprojection, tests and
 * rasterisation onto the EPSG:3035 50 m grid.
 *
 * A struct gpn_geom is a MultiPolygon: polygons made of rings (the first ring
 * of a polygon is its exterior, the others holes), coordinates stored as one
 * flat (x, y) array. Rings are closed implicitly (the last point is not a
 * copy of the first). All geometry is owned by the gpn_geom.
 *
 * Rasterisation rule: a cell belongs to an area when its CENTRE is inside the
 * area (even-odd over all rings of a polygon, union over polygons); a centre
 * exactly on an edge counts as inside on the left/bottom edges only (the
 * usual half-open scanline rule), so adjacent areas never share a cell.
 */
#ifndef GPN_GEOM_H
#define GPN_GEOM_H

#include <stddef.h>
#include <stdint.h>

#include "gpn/err.h"
#include "gpn/grid.h"

struct gpn_ring {
    size_t off;   /* index of the first point in xy (in points) */
    size_t n;     /* number of points (>= 3) */
};

struct gpn_polygon {
    size_t ring0; /* index of the first ring in rings */
    size_t nrings;
};

struct gpn_geom {
    double *xy;                  /* (npts, 2) */
    size_t npts;
    struct gpn_ring *rings;      /* (nrings) */
    size_t nrings;
    struct gpn_polygon *polys;   /* (npolys) */
    size_t npolys;
    int epsg;                    /* CRS of xy: 4326 (lon, lat) or 3035 ... */
};

/* Limits applied while parsing untrusted input. */
struct gpn_geom_limits {
    size_t max_points;           /* 0 = 1,000,000 */
    size_t max_rings;            /* 0 = 10,000 */
};

/* Parses GeoJSON text (Polygon, MultiPolygon, Feature, FeatureCollection of
 * those) in EPSG:4326 lon/lat (or the CRS named by a legacy "crs" member).
 * On success *out is owned by the caller (gpn_geom_free). */
int gpn_geom_from_geojson(const char *text, size_t len, const struct gpn_geom_limits *lim,
                          struct gpn_geom **out, struct gpn_err *err);
/* A rectangle as a geometry. */
int gpn_geom_from_bbox(double xmin, double ymin, double xmax, double ymax, int epsg, struct gpn_geom **out,
                       struct gpn_err *err);
/* Loads a country (by name, case-insensitive, or ISO 3166-1 numeric id) from
 * a Natural Earth TopoJSON (world-atlas countries-*.json) as lon/lat. */
int gpn_geom_country(const char *topojson_path, const char *name_or_id, struct gpn_geom **out,
                     struct gpn_err *err);
/* Land polygons (world-atlas land-*.json) clipped to nothing: the whole set. */
int gpn_geom_land(const char *topojson_path, struct gpn_geom **out, struct gpn_err *err);
/* Reprojects in place to EPSG `to` (through reproj.h). */
int gpn_geom_transform(struct gpn_geom *g, int to_epsg, struct gpn_err *err);
void gpn_geom_bbox(const struct gpn_geom *g, double bbox[4]);
/* Planar area in CRS units squared (holes subtracted). */
double gpn_geom_area(const struct gpn_geom *g);
/* 1 when (x, y) is inside (even-odd per polygon, union over polygons). */
int gpn_geom_contains(const struct gpn_geom *g, double x, double y);
void gpn_geom_free(struct gpn_geom *g);

/* Meta-tiles whose cells' centres fall inside g (g in EPSG:3035), sorted.
 * *tiles is malloc'ed. */
int gpn_geom_tiles(const struct gpn_geom *g, size_t max_tiles, struct gpn_tile **tiles, size_t *n,
                   struct gpn_err *err);
/* Rasterises g (EPSG:3035) over tile t by the cell-centre rule into mask
 * (500 * 500 bytes, row from north): 1 inside, 0 outside. Returns the
 * number of cells set in *count. */
int gpn_geom_rasterize_tile(const struct gpn_geom *g, struct gpn_tile t, uint8_t *mask, int64_t *count,
                            struct gpn_err *err);

#endif
