/*
 * grid.h - the EPSG:3035 reference grid: 50 m cells, 25 km meta-tiles.
 *
 * Europe's maps live on the EEA reference grid (ETRS89-LAEA, EPSG:3035,
 * metres, easting x / northing y). Cells are 50 m squares aligned on
 * multiples of 50 m; meta-tiles are 25 km squares aligned on multiples of
 * 25 km, i.e. 500 x 500 cells, named like the EEA grid by their lower-left
 * corner in km: "25kmE3600N2200" covers x in [3600000, 3625000),
 * y in [2200000, 2225000).
 *
 * Global cell indices: gx = floor(x / 50), gy = floor(y / 50) (gy grows to
 * the north). Inside a meta-tile, rasters are stored north-up as GeoTIFFs
 * are: column c = gx - E*20 in [0, 500) from the west, row r in [0, 500)
 * from the NORTH edge: r = (N*20 + 499) - gy.
 *
 * Pure arithmetic here; coordinate transforms between CRSs are in
 * reproj.h (the only PROJ user). Everything is thread-safe.
 */
#ifndef GPN_GRID_H
#define GPN_GRID_H

#include <stddef.h>
#include <stdint.h>

#include "gpn/err.h"

#define GPN_GRID_EPSG 3035
#define GPN_GRID_CELL_M 50
#define GPN_GRID_TILE_KM 25
#define GPN_GRID_TILE_M 25000
#define GPN_GRID_TILE_CELLS 500 /* cells per tile side */
#define GPN_TILE_ID_MAX 32      /* buffer size for a formatted id */

/* Tile ids exist for lower-left corners in [0, GPN_GRID_KM_MAX] km on both
 * axes, i.e. tile indices e_km/25 and n_km/25 in [0, GPN_GRID_TILE_IDX_MAX]. */
#define GPN_GRID_KM_MAX 10000
#define GPN_GRID_TILE_IDX_MAX (GPN_GRID_KM_MAX / GPN_GRID_TILE_KM)

/* EPSG:3035's area of use (EPSG dataset) in lon/lat degrees: west, south,
 * east, north. Geometry outside it (overseas territories) is meaningless on
 * this grid; gpn_geom_keep_bbox() drops such polygons. */
#define GPN_GRID_AREA_WEST (-35.58)
#define GPN_GRID_AREA_SOUTH 24.6
#define GPN_GRID_AREA_EAST 44.83
#define GPN_GRID_AREA_NORTH 84.73

/* A meta-tile: lower-left corner in km (multiples of 25). */
struct gpn_tile {
    int32_t e_km;
    int32_t n_km;
};

/* Formats "25kmE3600N2200" into buf (>= GPN_TILE_ID_MAX bytes; shorter
 * buffers get a truncated, terminated string). Tiles outside the id range
 * still format (e.g. "25kmE-25N0") but do not parse back. */
void gpn_tile_format(struct gpn_tile t, char *buf, size_t n);
/* Parses an id like "25kmE3600N2200" (exactly the form gpn_tile_format
 * writes: no sign, blank or leading zero); rejects corners that are not
 * multiples of 25 km or outside [0, 10000] km with GPN_EFORMAT / GPN_ERANGE
 * and a message quoting the id. NULL s is GPN_EINVAL. */
int gpn_tile_parse(const char *s, struct gpn_tile *t, struct gpn_err *err);
/* The tile containing EPSG:3035 point (x, y) (floor division, so points
 * west/south of the origin give negative corners). */
struct gpn_tile gpn_tile_of_xy(double x, double y);
/* Tile bounds in EPSG:3035 metres. */
void gpn_tile_bounds(struct gpn_tile t, double *xmin, double *ymin, double *xmax, double *ymax);
/* Geotransform of the tile's 500 x 500 north-up 50 m raster (GDAL order). */
void gpn_tile_geotransform(struct gpn_tile t, double gt[6]);
int gpn_tile_equal(struct gpn_tile a, struct gpn_tile b);
/* Orders tiles by northing then easting (for sorted lists). */
int gpn_tile_cmp(const void *a, const void *b);

/* Global cell of a point (floor(x / 50), floor(y / 50)), and the centre of
 * a global cell ((g + 0.5) * 50, exact in double). */
void gpn_cell_of_xy(double x, double y, int64_t *gx, int64_t *gy);
void gpn_cell_center(int64_t gx, int64_t gy, double *x, double *y);
/* Tile and in-tile (col, row from north) of a global cell, and back. Any
 * int64 cell works, negative ones included (floor division). */
void gpn_cell_to_tile(int64_t gx, int64_t gy, struct gpn_tile *t, int *col, int *row);
void gpn_cell_from_tile(struct gpn_tile t, int col, int row, int64_t *gx, int64_t *gy);

/* Tiles intersecting the EPSG:3035 bbox [xmin,xmax) x [ymin,ymax), sorted,
 * restricted to the id range (corners in [0, 10000] km). *tiles is malloc'ed
 * (caller frees; NULL when *n is 0); an empty bbox gives *n = 0. Fails with
 * GPN_EINVAL on non-finite bounds and GPN_ETOOBIG beyond max_tiles
 * (0 = no limit). */
int gpn_tiles_in_bbox(double xmin, double ymin, double xmax, double ymax, size_t max_tiles,
                      struct gpn_tile **tiles, size_t *n, struct gpn_err *err);

#endif
