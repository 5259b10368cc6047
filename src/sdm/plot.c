/*
 * plot.c - PNG line plots for training curves (plot.h).
 *
 * Drawing happens on an RGB canvas (height, width, 3) with three
 * primitives that all go through one alpha blend: filled rectangles (axes,
 * grid, legend swatches), anti-aliased lines (Xiaolin Wu's algorithm, two
 * passes one pixel apart for a 2 px stroke) and text (coverage masks of the
 * project's shared embedded font, gpn/font.h). Each panel gets a fixed
 * frame: title above, tick labels left and below, axis labels at the left
 * end of the title row (y) and under the ticks (x), legend in the upper or
 * lower right corner of the plot area, whichever covers fewer data points.
 * Axis ranges cover every finite point with 5% padding and are widened to
 * "nice" tick steps of 1, 2 or 5 x 10^k (about five ticks per axis).
 */
#include "gpn/plot.h"

#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpn/font.h"
#include "gpn/util.h"

struct canvas {
    uint8_t *px; /* (h, w, 3) */
    int w, h;
};

static void blend(struct canvas *c, int x, int y, uint32_t rgb, double a)
{
    if (x < 0 || y < 0 || x >= c->w || y >= c->h || a <= 0) return;
    if (a > 1) a = 1;
    uint8_t *p = c->px + ((size_t)y * (size_t)c->w + (size_t)x) * 3;
    int comp[3] = {(int)(rgb >> 16) & 255, (int)(rgb >> 8) & 255, (int)rgb & 255};
    for (int k = 0; k < 3; k++) p[k] = (uint8_t)lround(p[k] * (1 - a) + comp[k] * a);
}

static void fill_rect(struct canvas *c, int x0, int y0, int x1, int y1, uint32_t rgb)
{
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) blend(c, x, y, rgb, 1.0);
}

static double fpart(double v) { return v - floor(v); }

/* Wu's anti-aliased line from (x0, y0) to (x1, y1) in pixel coordinates. */
static void wu_line(struct canvas *c, double x0, double y0, double x1, double y1, uint32_t rgb)
{
    int steep = fabs(y1 - y0) > fabs(x1 - x0);
    double t;
    if (steep) {
        t = x0; x0 = y0; y0 = t;
        t = x1; x1 = y1; y1 = t;
    }
    if (x0 > x1) {
        t = x0; x0 = x1; x1 = t;
        t = y0; y0 = y1; y1 = t;
    }
    double dx = x1 - x0, dy = y1 - y0;
    double g = dx == 0 ? 1.0 : dy / dx;
    double y = y0 + g * (round(x0) - x0);
    for (int x = (int)round(x0); x <= (int)round(x1); x++) {
        int yi = (int)floor(y);
        double f = fpart(y);
        if (steep) {
            blend(c, yi, x, rgb, 1 - f);
            blend(c, yi + 1, x, rgb, f);
        } else {
            blend(c, x, yi, rgb, 1 - f);
            blend(c, x, yi + 1, rgb, f);
        }
        y += g;
    }
}

static void thick_line(struct canvas *c, double x0, double y0, double x1, double y1, uint32_t rgb)
{
    int steep = fabs(y1 - y0) > fabs(x1 - x0);
    wu_line(c, x0, y0, x1, y1, rgb);
    if (steep) wu_line(c, x0 + 0.7, y0, x1 + 0.7, y1, rgb);
    else wu_line(c, x0, y0 + 0.7, x1, y1 + 0.7, rgb);
}

static void dot(struct canvas *c, double cx, double cy, double r, uint32_t rgb)
{
    for (int y = (int)floor(cy - r - 1); y <= (int)ceil(cy + r + 1); y++)
        for (int x = (int)floor(cx - r - 1); x <= (int)ceil(cx + r + 1); x++) {
            double d = hypot(x - cx, y - cy);
            blend(c, x, y, rgb, r + 0.5 - d);
        }
}

/* Draws s with its top-left corner at (x, y). */
static void draw_text(struct canvas *c, int x, int y, const char *s, uint32_t rgb)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        const struct gpn_glyph *g = gpn_font_glyph(*p);
        const unsigned char *m = gpn_font_mask(g);
        for (int r = 0; r < GPN_FONT_ROWS; r++)
            for (int col = 0; col < g->width; col++) blend(c, x + col, y + r, rgb, m[r * g->width + col] / 255.0);
        x += g->advance;
    }
}

/* Nice tick step for a range: 1, 2 or 5 x 10^k giving about `target` ticks. */
static double nice_step(double range, int target)
{
    if (!(range > 0)) return 1;
    double raw = range / target, p = pow(10, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

static void format_tick(char *buf, size_t n, double v, double step)
{
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (dec > 6) dec = 6;
    if (fabs(v) < step * 1e-6) v = 0;
    snprintf(buf, n, "%.*f", dec, v);
}

static void draw_panel(struct canvas *c, const struct gpn_plot_panel *p, int top, int height)
{
    const uint32_t ink = 0x222222, grid = 0xe4e4e4, axis = 0x666666;
    const int ml = 62, mr = 16, mt = 24, mb = 40;
    int x0 = ml, x1 = c->w - mr, y0 = top + mt, y1 = top + height - mb;
    if (p->title) draw_text(c, (x0 + x1 - gpn_font_text_width(p->title)) / 2, top + 5, p->title, ink);
    if (p->ylabel) draw_text(c, 6, top + 5, p->ylabel, axis);
    if (p->xlabel) draw_text(c, (x0 + x1 - gpn_font_text_width(p->xlabel)) / 2, y1 + 22, p->xlabel, axis);

    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (int s = 0; s < p->n_series; s++)
        for (int i = 0; i < p->series[s].n; i++) {
            double xv = p->series[s].x[i], yv = p->series[s].y[i];
            if (!isfinite(xv) || !isfinite(yv)) continue;
            xmin = fmin(xmin, xv);
            xmax = fmax(xmax, xv);
            ymin = fmin(ymin, yv);
            ymax = fmax(ymax, yv);
        }
    int empty = !(xmin <= xmax);
    if (empty) {
        xmin = 0;
        xmax = 1;
        ymin = 0;
        ymax = 1;
    }
    if (xmax - xmin < 1e-12) {
        xmin -= 0.5;
        xmax += 0.5;
    }
    if (ymax - ymin < 1e-12 * fmax(1, fabs(ymax))) {
        double d = fmax(fabs(ymax) * 0.05, 1e-3);
        ymin -= d;
        ymax += d;
    }
    double pad = (ymax - ymin) * 0.05;
    ymin -= pad;
    ymax += pad;
    double xs = nice_step(xmax - xmin, 6), ys = nice_step(ymax - ymin, 5);
    if (p->integer_x && xs < 1) xs = 1;
    ymin = floor(ymin / ys) * ys;
    ymax = ceil(ymax / ys) * ys;

#define PX(v) (x0 + ((v) - xmin) / (xmax - xmin) * (x1 - x0))
#define PY(v) (y1 - ((v) - ymin) / (ymax - ymin) * (y1 - y0))
    char buf[32];
    for (double v = ceil(ymin / ys) * ys; v <= ymax + ys * 1e-9; v += ys) {
        int yy = (int)lround(PY(v));
        fill_rect(c, x0, yy, x1, yy + 1, grid);
        format_tick(buf, sizeof buf, v, ys);
        draw_text(c, x0 - 6 - gpn_font_text_width(buf), yy - GPN_FONT_ROWS / 2, buf, axis);
    }
    for (double v = ceil(xmin / xs) * xs; v <= xmax + xs * 1e-9; v += xs) {
        int xx = (int)lround(PX(v));
        fill_rect(c, xx, y0, xx + 1, y1, grid);
        format_tick(buf, sizeof buf, v, xs);
        draw_text(c, xx - gpn_font_text_width(buf) / 2, y1 + 5, buf, axis);
    }
    fill_rect(c, x0, y1, x1 + 1, y1 + 1, axis);
    fill_rect(c, x0, y0, x0 + 1, y1 + 1, axis);
    if (empty) {
        draw_text(c, (x0 + x1 - gpn_font_text_width("no data")) / 2, (y0 + y1) / 2 - 7, "no data", axis);
        return;
    }
    for (int s = 0; s < p->n_series; s++) {
        const struct gpn_plot_series *se = &p->series[s];
        int have_prev = 0;
        double px = 0, py = 0;
        for (int i = 0; i < se->n; i++) {
            double xv = se->x[i], yv = se->y[i];
            if (!isfinite(xv) || !isfinite(yv)) {
                have_prev = 0;
                continue;
            }
            double cx = PX(xv), cy = PY(yv);
            if (have_prev) thick_line(c, px, py, cx, cy, se->rgb);
            dot(c, cx, cy, 2.2, se->rgb);
            px = cx;
            py = cy;
            have_prev = 1;
        }
    }
    /* legend: upper right, or lower right when fewer points lie there */
    int lw = 0, nl = 0;
    for (int s = 0; s < p->n_series; s++)
        if (p->series[s].label) {
            int tw = gpn_font_text_width(p->series[s].label);
            if (tw > lw) lw = tw;
            nl++;
        }
    if (nl) {
        int lx = x1 - lw - 34, lh = nl * 16 + 4;
        int tops[2] = {y0 + 6, y1 - 6 - lh}, hits[2] = {0, 0};
        for (int k = 0; k < 2; k++)
            for (int s = 0; s < p->n_series; s++)
                for (int i = 0; i < p->series[s].n; i++) {
                    double xv = p->series[s].x[i], yv = p->series[s].y[i];
                    if (!isfinite(xv) || !isfinite(yv)) continue;
                    double cx = PX(xv), cy = PY(yv);
                    hits[k] += cx >= lx - 8 && cy >= tops[k] - 8 && cy <= tops[k] + lh + 8;
                }
        int ly = hits[1] < hits[0] ? tops[1] : tops[0];
        fill_rect(c, lx - 4, ly - 3, x1 - 4, ly + nl * 16 + 1, 0xffffff);
        for (int s = 0; s < p->n_series; s++) {
            if (!p->series[s].label) continue;
            fill_rect(c, lx, ly + 6, lx + 18, ly + 8, p->series[s].rgb);
            draw_text(c, lx + 24, ly, p->series[s].label, ink);
            ly += 16;
        }
    }
#undef PX
#undef PY
}

int gpn_plot_render(int width, int height, const struct gpn_plot_panel *panels, int n_panels, uint8_t **rgb,
                    struct gpn_err *err)
{
    *rgb = NULL;
    if (!panels || n_panels < 1 || n_panels > 8 || width < 200 || height < 120 * n_panels)
        return gpn_err_set(err, GPN_EINVAL, "gpn_plot_render: bad figure (%dx%d px, %d panels)", width, height,
                           n_panels);
    struct canvas c = {malloc((size_t)width * (size_t)height * 3), width, height};
    if (!c.px) return gpn_err_set(err, GPN_ENOMEM, "gpn_plot_render: out of memory");
    memset(c.px, 255, (size_t)width * (size_t)height * 3);
    for (int i = 0; i < n_panels; i++) {
        int top = (int)((int64_t)height * i / n_panels), bot = (int)((int64_t)height * (i + 1) / n_panels);
        draw_panel(&c, &panels[i], top, bot - top);
    }
    *rgb = c.px;
    return 0;
}

/* ==== PNG encoding ======================================================= */

static void png_write_buf(png_structp png, png_bytep data, png_size_t len)
{
    struct gpn_buf *b = png_get_io_ptr(png);
    if (gpn_buf_append(b, data, len) != 0) png_error(png, "out of memory");
}

static void png_flush_noop(png_structp png) { (void)png; }

int gpn_plot_encode_png(const uint8_t *rgb, int width, int height, uint8_t **out, size_t *len,
                        struct gpn_err *err)
{
    *out = NULL;
    *len = 0;
    struct gpn_buf b = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    png_bytep *rows = malloc((size_t)height * sizeof *rows);
    if (!png || !info || !rows) {
        png_destroy_write_struct(&png, &info);
        free(rows);
        return gpn_err_set(err, GPN_ENOMEM, "gpn_plot_encode_png: out of memory");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(rows);
        gpn_buf_free(&b);
        return gpn_err_set(err, GPN_ELIB, "gpn_plot_encode_png: libpng failed");
    }
    png_set_write_fn(png, &b, png_write_buf, png_flush_noop);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, 6);
    for (int y = 0; y < height; y++) rows[y] = (png_bytep)(rgb + (size_t)y * (size_t)width * 3);
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    if (b.oom) {
        gpn_buf_free(&b);
        return gpn_err_set(err, GPN_ENOMEM, "gpn_plot_encode_png: out of memory");
    }
    *out = (uint8_t *)gpn_buf_steal(&b, len);
    return 0;
}

int gpn_plot_png(const char *path, int width, int height, const struct gpn_plot_panel *panels, int n_panels,
                 struct gpn_err *err)
{
    uint8_t *rgb = NULL, *png = NULL;
    size_t len = 0;
    int rc = gpn_plot_render(width, height, panels, n_panels, &rgb, err);
    if (rc) return rc;
    rc = gpn_plot_encode_png(rgb, width, height, &png, &len, err);
    free(rgb);
    if (rc) return rc;
    rc = gpn_file_write_atomic(path, png, len, err);
    free(png);
    return rc;
}
