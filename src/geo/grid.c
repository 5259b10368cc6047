/*
 * grid.c - the EPSG:3035 reference grid: 50 m cells and 25 km meta-tiles.
 *
 * Pure integer/float arithmetic, no state, no allocation except the tile
 * lists. Layout reminder (see grid.h):
 *   global cell      gx = floor(x / 50), gy = floor(y / 50)
 *   tile             e_km = floor(gx / 500) * 25, n_km = floor(gy / 500) * 25
 *   in-tile column   c = gx - (e_km / 25) * 500            in [0, 500), west to east
 *   in-tile row      r = 499 - (gy - (n_km / 25) * 500)    in [0, 500), north to south
 * All divisions are floor divisions, so negative coordinates (west/south of
 * the LAEA false origin) map consistently even though their tiles have no
 * id. Cell centres (g * 50 + 25) are integers and therefore exact doubles,
 * which the rasteriser (geom.c) relies on for its exact edge rule.
 */
#include "gpn/grid.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==== helpers =========================================================== */

static int64_t floordiv64(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
    return q;
}

/* floor(v / d) as int64, saturated to +-2^62 for huge or non-finite v. */
static int64_t floor_idx(double v, double d)
{
    double q = floor(v / d);
    if (!(q > -4.6e18)) return -((int64_t)1 << 62);
    if (q > 4.6e18) return (int64_t)1 << 62;
    return (int64_t)q;
}

/* ==== tiles ============================================================= */

void gpn_tile_format(struct gpn_tile t, char *buf, size_t n)
{
    if (!buf || n == 0) return;
    snprintf(buf, n, "25kmE%dN%d", (int)t.e_km, (int)t.n_km);
}

/* Parses an unsigned canonical decimal (no sign, no leading zero unless the
 * number is 0, at most 6 digits) at *p, advancing *p. Returns 0 or -1. */
static int parse_km(const char **p, int32_t *out)
{
    const char *s = *p;
    int32_t v = 0;
    int nd = 0;
    while (s[nd] >= '0' && s[nd] <= '9') {
        if (nd == 6) return -1;
        v = v * 10 + (s[nd] - '0');
        nd++;
    }
    if (nd == 0) return -1;
    if (nd > 1 && s[0] == '0') return -1;
    *out = v;
    *p = s + nd;
    return 0;
}

int gpn_tile_parse(const char *s, struct gpn_tile *t, struct gpn_err *err)
{
    if (!s || !t) return gpn_err_set(err, GPN_EINVAL, "gpn_tile_parse: NULL argument");
    const char *p = s;
    int32_t e, n;
    if (strncmp(p, "25kmE", 5) != 0) goto bad;
    p += 5;
    if (parse_km(&p, &e)) goto bad;
    if (*p != 'N') goto bad;
    p++;
    if (parse_km(&p, &n)) goto bad;
    if (*p != 0) goto bad;
    if (e % GPN_GRID_TILE_KM || n % GPN_GRID_TILE_KM)
        return gpn_err_set(err, GPN_ERANGE, "gpn_tile_parse: '%.40s': corner %d,%d km is not a multiple of 25 km",
                           s, (int)e, (int)n);
    if (e > GPN_GRID_KM_MAX || n > GPN_GRID_KM_MAX)
        return gpn_err_set(err, GPN_ERANGE, "gpn_tile_parse: '%.40s': corner outside [0, %d] km", s,
                           GPN_GRID_KM_MAX);
    t->e_km = e;
    t->n_km = n;
    return 0;
bad:
    return gpn_err_set(err, GPN_EFORMAT, "gpn_tile_parse: '%.40s' is not a tile id like 25kmE3600N2200", s);
}

struct gpn_tile gpn_tile_of_xy(double x, double y)
{
    struct gpn_tile t;
    int64_t i = floor_idx(x, GPN_GRID_TILE_M), j = floor_idx(y, GPN_GRID_TILE_M);
    /* Clamp so the km value fits int32 (only absurd inputs get here). */
    if (i > 80000000) i = 80000000;
    if (i < -80000000) i = -80000000;
    if (j > 80000000) j = 80000000;
    if (j < -80000000) j = -80000000;
    t.e_km = (int32_t)(i * GPN_GRID_TILE_KM);
    t.n_km = (int32_t)(j * GPN_GRID_TILE_KM);
    return t;
}

void gpn_tile_bounds(struct gpn_tile t, double *xmin, double *ymin, double *xmax, double *ymax)
{
    double x0 = (double)t.e_km * 1000.0, y0 = (double)t.n_km * 1000.0;
    if (xmin) *xmin = x0;
    if (ymin) *ymin = y0;
    if (xmax) *xmax = x0 + GPN_GRID_TILE_M;
    if (ymax) *ymax = y0 + GPN_GRID_TILE_M;
}

void gpn_tile_geotransform(struct gpn_tile t, double gt[6])
{
    gt[0] = (double)t.e_km * 1000.0;
    gt[1] = GPN_GRID_CELL_M;
    gt[2] = 0.0;
    gt[3] = (double)t.n_km * 1000.0 + GPN_GRID_TILE_M;
    gt[4] = 0.0;
    gt[5] = -(double)GPN_GRID_CELL_M;
}

int gpn_tile_equal(struct gpn_tile a, struct gpn_tile b) { return a.e_km == b.e_km && a.n_km == b.n_km; }

int gpn_tile_cmp(const void *a, const void *b)
{
    const struct gpn_tile *x = a, *y = b;
    if (x->n_km != y->n_km) return x->n_km < y->n_km ? -1 : 1;
    if (x->e_km != y->e_km) return x->e_km < y->e_km ? -1 : 1;
    return 0;
}

/* ==== cells ============================================================= */

void gpn_cell_of_xy(double x, double y, int64_t *gx, int64_t *gy)
{
    if (gx) *gx = floor_idx(x, GPN_GRID_CELL_M);
    if (gy) *gy = floor_idx(y, GPN_GRID_CELL_M);
}

void gpn_cell_center(int64_t gx, int64_t gy, double *x, double *y)
{
    if (x) *x = (double)gx * GPN_GRID_CELL_M + GPN_GRID_CELL_M / 2;
    if (y) *y = (double)gy * GPN_GRID_CELL_M + GPN_GRID_CELL_M / 2;
}

void gpn_cell_to_tile(int64_t gx, int64_t gy, struct gpn_tile *t, int *col, int *row)
{
    int64_t ti = floordiv64(gx, GPN_GRID_TILE_CELLS), tj = floordiv64(gy, GPN_GRID_TILE_CELLS);
    if (t) {
        t->e_km = (int32_t)(ti * GPN_GRID_TILE_KM);
        t->n_km = (int32_t)(tj * GPN_GRID_TILE_KM);
    }
    if (col) *col = (int)(gx - ti * GPN_GRID_TILE_CELLS);
    if (row) *row = (int)(GPN_GRID_TILE_CELLS - 1 - (gy - tj * GPN_GRID_TILE_CELLS));
}

void gpn_cell_from_tile(struct gpn_tile t, int col, int row, int64_t *gx, int64_t *gy)
{
    int64_t ti = floordiv64(t.e_km, GPN_GRID_TILE_KM), tj = floordiv64(t.n_km, GPN_GRID_TILE_KM);
    if (gx) *gx = ti * GPN_GRID_TILE_CELLS + col;
    if (gy) *gy = tj * GPN_GRID_TILE_CELLS + (GPN_GRID_TILE_CELLS - 1 - row);
}

/* ==== tile lists ======================================================== */

int gpn_tiles_in_bbox(double xmin, double ymin, double xmax, double ymax, size_t max_tiles,
                      struct gpn_tile **tiles, size_t *n, struct gpn_err *err)
{
    if (!tiles || !n) return gpn_err_set(err, GPN_EINVAL, "gpn_tiles_in_bbox: NULL output");
    *tiles = NULL;
    *n = 0;
    if (!isfinite(xmin) || !isfinite(ymin) || !isfinite(xmax) || !isfinite(ymax))
        return gpn_err_set(err, GPN_EINVAL, "gpn_tiles_in_bbox: non-finite bbox");
    if (!(xmax > xmin) || !(ymax > ymin)) return 0;
    /* Half-open: the last tile is the one holding the point just below max. */
    int64_t i0 = floor_idx(xmin, GPN_GRID_TILE_M), j0 = floor_idx(ymin, GPN_GRID_TILE_M);
    int64_t i1 = (int64_t)ceil(fmax(-4e18, fmin(xmax / GPN_GRID_TILE_M, 4e18))) - 1;
    int64_t j1 = (int64_t)ceil(fmax(-4e18, fmin(ymax / GPN_GRID_TILE_M, 4e18))) - 1;
    if (i0 < 0) i0 = 0;
    if (j0 < 0) j0 = 0;
    if (i1 > GPN_GRID_TILE_IDX_MAX) i1 = GPN_GRID_TILE_IDX_MAX;
    if (j1 > GPN_GRID_TILE_IDX_MAX) j1 = GPN_GRID_TILE_IDX_MAX;
    if (i1 < i0 || j1 < j0) return 0;
    size_t count = (size_t)(i1 - i0 + 1) * (size_t)(j1 - j0 + 1);
    if (max_tiles && count > max_tiles)
        return gpn_err_set(err, GPN_ETOOBIG, "gpn_tiles_in_bbox: %zu tiles, more than the limit %zu", count,
                           max_tiles);
    struct gpn_tile *out = malloc(count * sizeof *out);
    if (!out) return gpn_err_set(err, GPN_ENOMEM, "gpn_tiles_in_bbox: out of memory for %zu tiles", count);
    size_t k = 0;
    for (int64_t j = j0; j <= j1; j++)
        for (int64_t i = i0; i <= i1; i++) {
            out[k].e_km = (int32_t)(i * GPN_GRID_TILE_KM);
            out[k].n_km = (int32_t)(j * GPN_GRID_TILE_KM);
            k++;
        }
    *tiles = out;
    *n = k;
    return 0;
}
