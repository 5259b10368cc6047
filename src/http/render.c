/*
 * render.c - the reprojecting raster renderer (render.h).
 *
 * For an output grid (bbox in the output CRS, W x H pixels) and a raster
 * in its own CRS, every output pixel centre has a source position. Calling
 * PROJ for each of the W*H pixels would dominate the cost of a tile, so the
 * mapping is evaluated exactly on a coarse grid of nodes (every `step`
 * pixels, the last row/column always included) and interpolated
 * bilinearly in between, as GDAL's approximate transformer does. The step
 * starts at 32 pixels and is halved until the interpolation error measured
 * at every cell centre is below 1/8 of a source pixel (times the
 * decimation, when the map is zoomed out), down to exact per-pixel
 * transforms if ever needed (near a projection's singularities).
 *
 * Reading: bilinear interpolation stays inside the hull of the node values,
 * so the node extremes bound the source window. The window is read once
 * with gpn_raster_read_resampled() at about the output resolution (GDAL
 * picks the overview level), then each output pixel takes its value by
 * nearest neighbour from that buffer and becomes a palette index. When
 * the output resolution is at or finer than the source (no decimation) the
 * window is aligned to whole source pixels, so an output pixel gets
 * exactly the source pixel its centre falls in, the same rule as
 * `gdalwarp -r near` - the real-client tests compare pixel values on it.
 *
 * Memory per call: the node grid, one source buffer of at most
 * ~4 * W * H values (bounded), and nothing else; idx is the caller's.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gpn/log.h"
#include "gpn/render.h"

#define STEP0 32
#define MAX_BUF_PIXELS (8u << 20)

void gpn_tile_xyz_bounds(int z, int x, int y, double bbox[4])
{
    const double R = 20037508.342789244; /* pi * 6378137 */
    double size = 2 * R / (double)(1LL << z);
    bbox[0] = -R + x * size;
    bbox[2] = -R + (x + 1) * size;
    bbox[3] = R - y * size;
    bbox[1] = R - (y + 1) * size;
}

/* Inverse of a GDAL geotransform; returns -1 when singular. */
static int gt_invert(const double gt[6], double inv[6])
{
    double det = gt[1] * gt[5] - gt[2] * gt[4];
    if (fabs(det) < 1e-300) return -1;
    inv[1] = gt[5] / det;
    inv[2] = -gt[2] / det;
    inv[4] = -gt[4] / det;
    inv[5] = gt[1] / det;
    inv[0] = -(inv[1] * gt[0] + inv[2] * gt[3]);
    inv[3] = -(inv[4] * gt[0] + inv[5] * gt[3]);
    return 0;
}

/* A grid of source positions at output pixel centres u = us[k] + 0.5. */
struct node_grid {
    int nu, nv;
    int *us, *vs;   /* (nu), (nv) output pixel indices of the nodes */
    double *px, *py;/* (nv, nu) source pixel coordinates; HUGE_VAL = failed */
};

static void grid_free(struct node_grid *g)
{
    free(g->us);
    free(g->vs);
    free(g->px);
    free(g->py);
    memset(g, 0, sizeof *g);
}

static int *axis_nodes(int n, int step, int *count)
{
    int k = (n - 1 + step - 1) / step + 1;
    if (n == 1) k = 1;
    int *a = malloc(sizeof *a * (size_t)k);
    if (!a) return NULL;
    for (int i = 0; i < k; i++) a[i] = i * step < n - 1 ? i * step : n - 1;
    *count = k;
    return a;
}

/* Maps output positions (u, v in pixel units, fractional) to source pixel
 * coordinates, exactly. n points in/out through px/py. */
static int map_exact(const struct gpn_render_view *view, const double inv[6], double *px, double *py, size_t n,
                     struct gpn_err *err)
{
    double resx = (view->bbox[2] - view->bbox[0]) / view->width;
    double resy = (view->bbox[3] - view->bbox[1]) / view->height;
    for (size_t i = 0; i < n; i++) {
        px[i] = view->bbox[0] + px[i] * resx;
        py[i] = view->bbox[3] - py[i] * resy;
    }
    if (view->to_src) {
        struct gpn_err e2 = {0};
        int rc = gpn_transform_points(view->to_src, px, py, n, &e2);
        if (rc && rc != GPN_ERANGE) {
            if (err) *err = e2;
            return rc;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(px[i]) || !isfinite(py[i]) || fabs(px[i]) > 1e300) {
            px[i] = py[i] = HUGE_VAL;
            continue;
        }
        double X = px[i], Y = py[i];
        px[i] = inv[0] + inv[1] * X + inv[2] * Y;
        py[i] = inv[3] + inv[4] * X + inv[5] * Y;
    }
    return 0;
}

static int grid_build(struct node_grid *g, const struct gpn_render_view *view, const double inv[6], int step,
                      struct gpn_err *err)
{
    memset(g, 0, sizeof *g);
    g->us = axis_nodes(view->width, step, &g->nu);
    g->vs = axis_nodes(view->height, step, &g->nv);
    size_t n = (size_t)g->nu * (size_t)g->nv;
    g->px = malloc(sizeof *g->px * n);
    g->py = malloc(sizeof *g->py * n);
    if (!g->us || !g->vs || !g->px || !g->py) {
        grid_free(g);
        return gpn_err_set(err, GPN_ENOMEM, "gpn_render_raster: out of memory");
    }
    for (int l = 0; l < g->nv; l++)
        for (int k = 0; k < g->nu; k++) {
            g->px[(size_t)l * g->nu + k] = g->us[k] + 0.5;
            g->py[(size_t)l * g->nu + k] = g->vs[l] + 0.5;
        }
    int rc = map_exact(view, inv, g->px, g->py, n, err);
    if (rc) grid_free(g);
    return rc;
}

/* Bilinear estimate inside cell (k, l) at fractions (a, b). */
static inline void cell_interp(const struct node_grid *g, int k, int l, double a, double b, double *x, double *y)
{
    size_t i00 = (size_t)l * g->nu + k;
    size_t i01 = i00 + (k + 1 < g->nu ? 1 : 0);
    size_t i10 = i00 + (l + 1 < g->nv ? (size_t)g->nu : 0);
    size_t i11 = i10 + (k + 1 < g->nu ? 1 : 0);
    double w00 = (1 - a) * (1 - b), w01 = a * (1 - b), w10 = (1 - a) * b, w11 = a * b;
    *x = g->px[i00] * w00 + g->px[i01] * w01 + g->px[i10] * w10 + g->px[i11] * w11;
    *y = g->py[i00] * w00 + g->py[i01] * w01 + g->py[i10] * w10 + g->py[i11] * w11;
}

/* Largest interpolation error at cell centres, in source pixels; HUGE_VAL
 * when some node failed. */
static double grid_error(const struct node_grid *g, const struct gpn_render_view *view, const double inv[6],
                         struct gpn_err *err, int *rc)
{
    *rc = 0;
    size_t n = (size_t)g->nu * (size_t)g->nv;
    for (size_t i = 0; i < n; i++)
        if (g->px[i] == HUGE_VAL) return HUGE_VAL;
    if (!view->to_src) return 0; /* affine: exact */
    int cu = g->nu > 1 ? g->nu - 1 : 1, cv = g->nv > 1 ? g->nv - 1 : 1;
    size_t m = (size_t)cu * (size_t)cv;
    double *tx = malloc(sizeof *tx * m), *ty = malloc(sizeof *ty * m);
    if (!tx || !ty) {
        free(tx);
        free(ty);
        *rc = gpn_err_set(err, GPN_ENOMEM, "gpn_render_raster: out of memory");
        return 0;
    }
    for (int l = 0; l < cv; l++)
        for (int k = 0; k < cu; k++) {
            int k1 = k + 1 < g->nu ? k + 1 : k, l1 = l + 1 < g->nv ? l + 1 : l;
            tx[(size_t)l * cu + k] = (g->us[k] + g->us[k1]) / 2.0 + 0.5;
            ty[(size_t)l * cu + k] = (g->vs[l] + g->vs[l1]) / 2.0 + 0.5;
        }
    *rc = map_exact(view, inv, tx, ty, m, err);
    double worst = 0;
    for (int l = 0; l < cv && !*rc; l++)
        for (int k = 0; k < cu; k++) {
            double ex = tx[(size_t)l * cu + k], ey = ty[(size_t)l * cu + k];
            if (ex == HUGE_VAL) {
                worst = HUGE_VAL;
                break;
            }
            double ix, iy;
            cell_interp(g, k, l, 0.5, 0.5, &ix, &iy);
            double d = fmax(fabs(ix - ex), fabs(iy - ey));
            if (d > worst) worst = d;
        }
    free(tx);
    free(ty);
    return worst;
}

static enum gpn_dtype read_dtype(enum gpn_dtype dt)
{
    switch (dt) {
    case GPN_DT_U8:
        return GPN_DT_U8;
    case GPN_DT_I32:
    case GPN_DT_U32:
    case GPN_DT_F64:
        return GPN_DT_F64;
    default:
        return GPN_DT_F32;
    }
}

int gpn_render_raster(const struct gpn_render_src *src, const struct gpn_render_view *view, uint8_t *idx,
                      struct gpn_err *err)
{
    static const char fn[] = "gpn_render_raster";
    const struct gpn_raster_info *info = src->info;
    const struct gpn_style *st = src->style;
    int W = view->width, H = view->height;
    if (W < 1 || H < 1) return gpn_err_set(err, GPN_EINVAL, "%s: bad size %dx%d", fn, W, H);
    memset(idx, 0, (size_t)W * (size_t)H);
    double inv[6];
    if (gt_invert(info->gt, inv)) return gpn_err_set(err, GPN_EINVAL, "%s: singular geotransform", fn);

    /* 1. Node grid, refined until interpolation is accurate enough. */
    struct node_grid g;
    int step = view->to_src ? STEP0 : (W > H ? W : H);
    int rc;
    for (;;) {
        rc = grid_build(&g, view, inv, step, err);
        if (rc) return rc;
        if (step == 1) break;
        /* Decimation estimate from the node extremes, for the tolerance. */
        double e = grid_error(&g, view, inv, err, &rc);
        if (rc) {
            grid_free(&g);
            return rc;
        }
        double dec = 1.0;
        if (g.nu > 1 && g.px[0] != HUGE_VAL && g.px[g.nu - 1] != HUGE_VAL)
            dec = fmax(1.0, fabs(g.px[g.nu - 1] - g.px[0]) / fmax(1, g.us[g.nu - 1] - g.us[0]));
        if (e <= 0.125 * dec) break;
        grid_free(&g);
        step /= 2;
    }

    /* 2. Source window and decimation from the nodes. */
    double mnx = HUGE_VAL, mxx = -HUGE_VAL, mny = HUGE_VAL, mxy = -HUGE_VAL;
    double kx = HUGE_VAL, ky = HUGE_VAL;
    for (int l = 0; l < g.nv; l++)
        for (int k = 0; k < g.nu; k++) {
            size_t i = (size_t)l * g.nu + k;
            double x = g.px[i], y = g.py[i];
            if (x == HUGE_VAL) continue;
            mnx = fmin(mnx, x);
            mxx = fmax(mxx, x);
            mny = fmin(mny, y);
            mxy = fmax(mxy, y);
            /* Source pixels per output pixel along each source axis: the
             * larger of the two output-axis derivatives (the footprint),
             * from nodes that have both forward neighbours. */
            if (k + 1 < g.nu && l + 1 < g.nv && g.px[i + 1] != HUGE_VAL && g.px[i + g.nu] != HUGE_VAL) {
                double du = g.us[k + 1] - g.us[k], dv = g.vs[l + 1] - g.vs[l];
                double a = fabs(g.px[i + 1] - x) / du, b = fabs(g.py[i + 1] - y) / du;
                double c = fabs(g.px[i + g.nu] - x) / dv, d = fabs(g.py[i + g.nu] - y) / dv;
                kx = fmin(kx, fmax(a, c));
                ky = fmin(ky, fmax(b, d));
            }
        }
    if (mnx == HUGE_VAL) {
        grid_free(&g);
        return GPN_ENORESULT;
    }
    if (!(kx < HUGE_VAL)) kx = (mxx - mnx) / W;
    if (!(ky < HUGE_VAL)) ky = (mxy - mny) / H;
    /* A pixel's footprint extends half a pixel around its centre. */
    double sx0 = fmax(0.0, floor(mnx - 1)), sx1 = fmin((double)info->width, ceil(mxx + 1));
    double sy0 = fmax(0.0, floor(mny - 1)), sy1 = fmin((double)info->height, ceil(mxy + 1));
    if (!(sx1 > sx0) || !(sy1 > sy0)) {
        grid_free(&g);
        return GPN_ENORESULT;
    }
    double wx = sx1 - sx0, wy = sy1 - sy0;
    /* Below a decimation of 2 no overview applies: read full resolution,
     * so that nearest sampling picks exactly the source pixel under each
     * output pixel centre. Above, sample at about the output resolution. */
    if (!(kx >= 2)) kx = 1;
    if (!(ky >= 2)) ky = 1;
    int bw = (int)fmin(wx, ceil(wx / kx)), bh = (int)fmin(wy, ceil(wy / ky));
    if (bw < 1) bw = 1;
    if (bh < 1) bh = 1;
    while ((size_t)bw * (size_t)bh > MAX_BUF_PIXELS) {
        bw = (bw + 1) / 2;
        bh = (bh + 1) / 2;
    }
    enum gpn_dtype rdt = read_dtype(info->dtype);
    size_t ds = gpn_dtype_size(rdt);
    gpn_log_debug("render: %dx%d, step %d, source window %.0f,%.0f %.0fx%.0f (%.2f x %.2f px/px) -> buffer %dx%d", W,
                  H, step, sx0, sy0, wx, wy, kx, ky, bw, bh);
    void *buf = malloc((size_t)bw * (size_t)bh * ds);
    if (!buf) {
        grid_free(&g);
        return gpn_err_set(err, GPN_ENOMEM, "%s: out of memory", fn);
    }
    double fill = info->has_nodata ? info->nodata : 0;
    rc = gpn_raster_read_resampled(src->raster, src->band, 1, sx0, sy0, wx, wy, bw, bh, GPN_RESAMPLE_NEAREST, rdt,
                                   fill, buf, err);
    if (rc) {
        free(buf);
        grid_free(&g);
        return rc;
    }
    double fx = bw / wx, fy = bh / wy; /* buffer pixels per source pixel */

    /* 3. Value -> index. U8 rasters use a 256-entry table. */
    uint8_t lut[256];
    if (rdt == GPN_DT_U8) {
        for (int v = 0; v < 256; v++) lut[v] = gpn_style_index(st, v);
        if (info->has_nodata && info->nodata >= 0 && info->nodata <= 255 && info->nodata == floor(info->nodata))
            lut[(int)info->nodata] = 0;
    }
    int has_nd = info->has_nodata;
    double nd = info->nodata;

    /* 4. Per pixel: interpolate the source position, sample, colour. */
    double *rx = malloc(sizeof *rx * (size_t)W), *ry = malloc(sizeof *ry * (size_t)W);
    if (!rx || !ry) {
        free(rx);
        free(ry);
        free(buf);
        grid_free(&g);
        return gpn_err_set(err, GPN_ENOMEM, "%s: out of memory", fn);
    }
    int exact = step == 1;
    /* Ramps on float data: the index arithmetic inline (the hot loop). */
    int ramp = st->kind == GPN_STYLE_RAMP;
    double rscale = ramp ? 254.0 / (st->vmax - st->vmin) : 0, rmin = st->vmin;
    double *nx = malloc(sizeof *nx * (size_t)g.nu), *ny = malloc(sizeof *ny * (size_t)g.nu);
    if (!nx || !ny) {
        free(nx);
        free(ny);
        free(rx);
        free(ry);
        free(buf);
        grid_free(&g);
        return gpn_err_set(err, GPN_ENOMEM, "%s: out of memory", fn);
    }
    int l = 0;
    for (int j = 0; j < H; j++) {
        if (exact) {
            for (int i = 0; i < W; i++) {
                rx[i] = g.px[(size_t)j * g.nu + i];
                ry[i] = g.py[(size_t)j * g.nu + i];
            }
        } else {
            /* Interpolate the node columns to this row, then step linearly
             * along the row inside each cell (bilinear, incrementally). */
            while (l + 1 < g.nv - 1 && g.vs[l + 1] <= j) l++;
            int v0 = g.vs[l], v1 = l + 1 < g.nv ? g.vs[l + 1] : v0;
            double b = v1 > v0 ? (double)(j - v0) / (v1 - v0) : 0;
            const double *p0x = g.px + (size_t)l * g.nu, *p0y = g.py + (size_t)l * g.nu;
            const double *p1x = l + 1 < g.nv ? p0x + g.nu : p0x, *p1y = l + 1 < g.nv ? p0y + g.nu : p0y;
            for (int k = 0; k < g.nu; k++) {
                nx[k] = p0x[k] + (p1x[k] - p0x[k]) * b;
                ny[k] = p0y[k] + (p1y[k] - p0y[k]) * b;
            }
            for (int k = 0; k < g.nu; k++) {
                int u0 = g.us[k], u1 = k + 1 < g.nu ? g.us[k + 1] : W;
                double dx = 0, dy = 0;
                if (k + 1 < g.nu && u1 > u0) {
                    dx = (nx[k + 1] - nx[k]) / (u1 - u0);
                    dy = (ny[k + 1] - ny[k]) / (u1 - u0);
                }
                double x = nx[k], y = ny[k];
                for (int i = u0; i < u1 && i < W; i++) {
                    rx[i] = x;
                    ry[i] = y;
                    x += dx;
                    y += dy;
                }
            }
        }
        uint8_t *orow = idx + (size_t)j * (size_t)W;
        for (int i = 0; i < W; i++) {
            double x = rx[i], y = ry[i];
            if (!(x >= 0) || !(y >= 0) || x >= info->width || y >= info->height) continue;
            int bx = (int)((x - sx0) * fx), by = (int)((y - sy0) * fy);
            if (bx < 0) bx = 0;
            if (by < 0) by = 0;
            if (bx >= bw) bx = bw - 1;
            if (by >= bh) by = bh - 1;
            size_t o = (size_t)by * (size_t)bw + (size_t)bx;
            if (rdt == GPN_DT_U8) {
                orow[i] = lut[((const uint8_t *)buf)[o]];
            } else {
                double v = rdt == GPN_DT_F32 ? ((const float *)buf)[o] : ((const double *)buf)[o];
                if (v != v || (has_nd && (v == nd || (rdt == GPN_DT_F32 && (float)v == (float)nd)))) continue;
                if (ramp) {
                    double t = (v - rmin) * rscale;
                    orow[i] = t <= 0 ? 1 : t >= 254 ? 255 : (uint8_t)(1 + (int)(t + 0.5));
                } else {
                    orow[i] = gpn_style_index(st, v);
                }
            }
        }
    }
    free(nx);
    free(ny);
    free(rx);
    free(ry);
    free(buf);
    grid_free(&g);
    return 0;
}

int gpn_render_value_at(const struct gpn_render_src *src, struct gpn_transform *to_src, double x, double y,
                        double *value, int *is_nodata, struct gpn_err *err)
{
    const struct gpn_raster_info *info = src->info;
    double inv[6];
    *is_nodata = 1;
    *value = NAN;
    if (gt_invert(info->gt, inv)) return gpn_err_set(err, GPN_EINVAL, "gpn_render_value_at: singular geotransform");
    if (to_src) {
        struct gpn_err e2 = {0};
        int rc = gpn_transform_points(to_src, &x, &y, 1, &e2);
        if (rc == GPN_ERANGE) return 0;
        if (rc) {
            if (err) *err = e2;
            return rc;
        }
    }
    double px = inv[0] + inv[1] * x + inv[2] * y, py = inv[3] + inv[4] * x + inv[5] * y;
    if (!(px >= 0) || !(py >= 0) || px >= info->width || py >= info->height) return 0;
    double v;
    int rc = gpn_raster_read(src->raster, src->band, 1, (int)px, (int)py, 1, 1, GPN_DT_F64, &v, err);
    if (rc) return rc;
    *value = v;
    *is_nodata = v != v || (info->has_nodata && (v == info->nodata || (float)v == (float)info->nodata));
    return 0;
}
