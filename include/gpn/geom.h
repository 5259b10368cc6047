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
 * gpn_geom_contains() applies the very same rule with the very same
 * floating-point expressions, so rasterising a tile and testing each cell
 * centre with gpn_geom_contains() give identical masks.
 *
 * Error codes: malformed input is GPN_EFORMAT with a message naming the
 * JSON path ("features[2].geometry.coordinates[0][5]: ..."), geometry types
 * other than (Multi)Polygon are GPN_EUNSUPPORTED, input beyond the limits
 * is GPN_ETOOBIG.
 *
 * Many tiles of one large geometry: build a gpn_geom_prep once (edges sorted
 * into 25 km bands per polygon) and rasterise each tile from it; the
 * prepared object is read-only, so several threads may rasterise from it.
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

/* Parses GeoJSON text (Polygon, MultiPolygon, Feature, FeatureCollection,
 * GeometryCollection of those; features with a null geometry are skipped) in
 * EPSG:4326 lon/lat (or the CRS named by a legacy "crs" member). Rings must
 * have >= 4 positions with first == last; extra dimensions (z) are ignored;
 * lon/lat must lie in [-180, 180] x [-90, 90]. lim may be NULL (defaults).
 * Fails with GPN_EFORMAT when no polygon is found. On success *out is owned
 * by the caller (gpn_geom_free); on failure *out is NULL. */
int gpn_geom_from_geojson(const char *text, size_t len, const struct gpn_geom_limits *lim,
                          struct gpn_geom **out, struct gpn_err *err);
/* A rectangle as a geometry (one polygon, one counter-clockwise ring).
 * GPN_EINVAL unless finite with xmin < xmax and ymin < ymax. */
int gpn_geom_from_bbox(double xmin, double ymin, double xmax, double ymax, int epsg, struct gpn_geom **out,
                       struct gpn_err *err);
/* Loads a country (by name, case-insensitive, or ISO 3166-1 numeric id such
 * as "250" or "40" for "040") from a Natural Earth TopoJSON (world-atlas
 * countries-*.json, object "countries") as lon/lat (epsg 4326).
 * GPN_ENOTFOUND (with close names suggested) when absent, GPN_EIO /
 * GPN_EFORMAT for unreadable files. *out is owned by the caller. */
int gpn_geom_country(const char *topojson_path, const char *name_or_id, struct gpn_geom **out,
                     struct gpn_err *err);
/* Land polygons (world-atlas land-*.json, object "land") clipped to
 * nothing: the whole set, lon/lat. *out is owned by the caller. */
int gpn_geom_land(const char *topojson_path, struct gpn_geom **out, struct gpn_err *err);
/* A country as it lies on the grid: gpn_geom_country(), then only the
 * polygons that meet EPSG:3035's area of use (so French Guiana or Reunion
 * do not count as France's grid land), transformed to EPSG:3035.
 * GPN_ENOTFOUND also when no polygon of the country is in that area. */
int gpn_geom_country_grid(const char *topojson_path, const char *name_or_id, struct gpn_geom **out,
                          struct gpn_err *err);
/* Reprojects in place to EPSG `to` (through reproj.h). From a geographic
 * CRS (4326) edges longer than 0.05 degree are first densified (GeoJSON
 * edges are straight in lon/lat, not in the target), so points may be
 * added. All-or-nothing: on failure (GPN_ERANGE when a point does not
 * transform, GPN_EINVAL for epsg 0) g is unchanged. */
int gpn_geom_transform(struct gpn_geom *g, int to_epsg, struct gpn_err *err);
/* Drops every polygon whose bbox does not meet bbox (xmin, ymin, xmax,
 * ymax, in g's CRS). Stores the number dropped in *dropped (may be NULL).
 * Never allocates; never fails. */
void gpn_geom_keep_bbox(struct gpn_geom *g, const double bbox[4], size_t *dropped);
/* bbox = (xmin, ymin, xmax, ymax); all HUGE_VAL/-HUGE_VAL for an empty g. */
void gpn_geom_bbox(const struct gpn_geom *g, double bbox[4]);
/* Planar area in CRS units squared: per polygon |exterior| - sum |holes|
 * (holes assumed inside their exterior), summed over polygons (assumed
 * disjoint). 0 for NULL. */
double gpn_geom_area(const struct gpn_geom *g);
/* 1 when (x, y) is inside (even-odd per polygon, union over polygons, the
 * left/bottom edge rule above), 0 otherwise or for NULL. O(points). */
int gpn_geom_contains(const struct gpn_geom *g, double x, double y);
/* Frees g and everything it owns; NULL is a no-op. */
void gpn_geom_free(struct gpn_geom *g);

/* Meta-tiles (within the id range, corners in [0, 10000] km) holding at
 * least one cell whose centre is inside g (g in EPSG:3035), sorted by
 * gpn_tile_cmp. Exact: tiles crossed by an edge are rasterised, the others
 * are classified by one scanline per tile row. *tiles is malloc'ed (NULL
 * when *n is 0). GPN_ETOOBIG beyond max_tiles (0 = no limit), GPN_EINVAL
 * when g is not in EPSG:3035. */
int gpn_geom_tiles(const struct gpn_geom *g, size_t max_tiles, struct gpn_tile **tiles, size_t *n,
                   struct gpn_err *err);
/* Rasterises g (EPSG:3035) over tile t by the cell-centre rule into mask
 * (500 * 500 bytes, row from north): 1 inside, 0 outside. Returns the
 * number of cells set in *count (may be NULL). Prepares g on each call
 * (O(points)); for many tiles use gpn_geom_prepare. GPN_ERANGE for a tile
 * outside the id range, GPN_EINVAL for a geometry not in EPSG:3035. */
int gpn_geom_rasterize_tile(const struct gpn_geom *g, struct gpn_tile t, uint8_t *mask, int64_t *count,
                            struct gpn_err *err);

/* ==== prepared geometry (many tiles) ==================================== */

struct gpn_geom_prep;

/* Builds the rasterisation index of g (EPSG:3035; coordinates must be
 * finite with |v| <= 1e8 m, else GPN_EINVAL / GPN_ERANGE). The result does
 * not point into g. *out is owned by the caller (gpn_geom_prep_free). */
int gpn_geom_prepare(const struct gpn_geom *g, struct gpn_geom_prep **out, struct gpn_err *err);
/* gpn_geom_rasterize_tile from a prepared geometry; thread-safe (p is only
 * read; a small scratch array is allocated per call). */
int gpn_geom_prep_rasterize_tile(const struct gpn_geom_prep *p, struct gpn_tile t, uint8_t *mask, int64_t *count,
                                 struct gpn_err *err);
/* gpn_geom_tiles from a prepared geometry. */
int gpn_geom_prep_tiles(const struct gpn_geom_prep *p, size_t max_tiles, struct gpn_tile **tiles, size_t *n,
                        struct gpn_err *err);
/* Frees p; NULL is a no-op. */
void gpn_geom_prep_free(struct gpn_geom_prep *p);

#endif
