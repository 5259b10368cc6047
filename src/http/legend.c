/*
 * legend.c - legends and text (render.h): GetLegendGraphic's images.
 *
 * A legend must show exactly the colours the map uses, so every swatch and
 * every row of a ramp bar is painted with a palette entry of the style
 * itself (gpn_style.pal), never with a recomputed colour:
 *   - RAMP: a vertical bar whose row r shows palette index
 *     255 - round(r * 254 / (rows - 1)) (the maximum on top), with ticks and
 *     labels at the minimum, quarters and maximum of the range;
 *   - CLASSES: one swatch per class with "code name";
 *   - PRESENCE: a swatch "present" (and "absent" when absences are drawn).
 * Text uses the anti-aliased DejaVu Sans masks of the shared font (font.h).
 *
 * Layout (px): margin 6, title line 16, swatches 18 x 12 on 16 px rows,
 * ramp bar 18 x 255 (one row per palette entry: the bar shows every colour the map can use).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpn/font.h"
#include "gpn/render.h"

#define MARGIN 6
#define ROW_H 16
#define SW_W 18
#define SW_H 12
#define BAR_H 255

int gpn_text_width(const char *text)
{
    return gpn_font_text_width(text);
}

int gpn_text_draw(struct gpn_image *img, int x, int y, const char *text, const uint8_t rgb[3])
{
    int x0 = x;
    if (img->indexed) return 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        const struct gpn_glyph *g = gpn_font_glyph(*p);
        const unsigned char *m = gpn_font_mask(g);
        for (int r = 0; r < GPN_FONT_ROWS; r++) {
            int yy = y + r;
            if (yy < 0 || yy >= img->h) continue;
            for (int c = 0; c < g->width; c++) {
                int xx = x + c;
                unsigned a = m[r * g->width + c];
                if (!a || xx < 0 || xx >= img->w) continue;
                uint8_t *d = img->px + ((size_t)yy * (size_t)img->w + (size_t)xx) * 4;
                unsigned da = d[3];
                unsigned oa = a + da * (255 - a) / 255;
                for (int k = 0; k < 3; k++)
                    d[k] = (uint8_t)(oa ? (rgb[k] * a + d[k] * da * (255 - a) / 255) / oa : 0);
                d[3] = (uint8_t)oa;
            }
        }
        x += g->advance;
    }
    return x - x0;
}

static void fill_rect(struct gpn_image *img, int x, int y, int w, int h, const uint8_t rgba[4])
{
    for (int r = y; r < y + h; r++) {
        if (r < 0 || r >= img->h) continue;
        for (int c = x; c < x + w; c++) {
            if (c < 0 || c >= img->w) continue;
            memcpy(img->px + ((size_t)r * (size_t)img->w + (size_t)c) * 4, rgba, 4);
        }
    }
}

static void frame_rect(struct gpn_image *img, int x, int y, int w, int h, const uint8_t rgba[4])
{
    fill_rect(img, x - 1, y - 1, w + 2, 1, rgba);
    fill_rect(img, x - 1, y + h, w + 2, 1, rgba);
    fill_rect(img, x - 1, y, 1, h, rgba);
    fill_rect(img, x + w, y, 1, h, rgba);
}

static void fmt_value(double v, char *buf, size_t n)
{
    if (fabs(v) >= 1e5 || (fabs(v) < 1e-3 && v != 0)) snprintf(buf, n, "%.3g", v);
    else snprintf(buf, n, "%.4g", v);
}

/* One legend row label of a class-like entry. */
static void entry_label(const struct gpn_style *s, int i, char *buf, size_t n)
{
    if (s->kind == GPN_STYLE_PRESENCE) {
        snprintf(buf, n, "%s", i == 1 ? "present" : "absent");
        return;
    }
    const struct gpn_style_class *c = &s->classes[i - 1];
    if (c->code[0] && c->name[0]) snprintf(buf, n, "%s %s", c->code, c->name);
    else if (c->code[0]) snprintf(buf, n, "%s", c->code);
    else snprintf(buf, n, "%g", c->value);
}

/* Natural size and the list of class-like entries (palette indices). */
static void legend_layout(const struct gpn_style *s, const char *title, int *nat_w_out, int *nat_h_out,
                          int entries[256], int *ne_out)
{
    int title_h = title && *title ? ROW_H + 2 : 0;
    int nat_w = title_h ? gpn_text_width(title) + 2 * MARGIN : 0, nat_h;
    int ne = 0;
    char label[192];
    if (s->kind == GPN_STYLE_RAMP) {
        int lw = 0;
        for (int k = 0; k <= 4; k++) {
            fmt_value(s->vmin + (s->vmax - s->vmin) * k / 4.0, label, sizeof label);
            int tw = gpn_text_width(label);
            if (tw > lw) lw = tw;
        }
        int uw = s->units[0] ? gpn_text_width(s->units) : 0;
        int w = MARGIN + SW_W + 4 + 6 + (lw > uw ? lw : uw) + MARGIN;
        if (w > nat_w) nat_w = w;
        nat_h = MARGIN + title_h + BAR_H + (s->units[0] ? ROW_H : 0) + MARGIN + 6;
    } else {
        if (s->kind == GPN_STYLE_PRESENCE) {
            entries[ne++] = 1;
            if (s->pal[2][3]) entries[ne++] = 2;
        } else {
            for (int i = 1; i <= s->n_classes && ne < 255; i++) entries[ne++] = i;
        }
        for (int e = 0; e < ne; e++) {
            entry_label(s, entries[e], label, sizeof label);
            int w = MARGIN + SW_W + 6 + gpn_text_width(label) + MARGIN;
            if (w > nat_w) nat_w = w;
        }
        nat_h = MARGIN + title_h + ne * ROW_H + MARGIN;
    }
    *nat_w_out = nat_w;
    *nat_h_out = nat_h;
    *ne_out = ne;
}

void gpn_legend_size(const struct gpn_style *s, const char *title, int *width, int *height)
{
    int entries[256], ne;
    legend_layout(s, title, width, height, entries, &ne);
}

int gpn_legend_render(const struct gpn_style *s, const char *title, int width, int height, int transparent,
                      struct gpn_image *out, struct gpn_err *err)
{
    static const uint8_t ink[3] = {34, 34, 34};
    static const uint8_t frame[4] = {96, 96, 96, 255};
    int title_h = title && *title ? ROW_H + 2 : 0;
    int entries[256], ne, nat_w, nat_h;
    char label[192];
    legend_layout(s, title, &nat_w, &nat_h, entries, &ne);
    int W = width > 0 ? width : nat_w, H = height > 0 ? height : nat_h;
    if (W > 4096) W = 4096;
    if (H > 8192) H = 8192;
    int rc = gpn_image_init(out, W, H, 0, err);
    if (rc) return rc;
    if (!transparent) {
        static const uint8_t white[4] = {255, 255, 255, 255};
        fill_rect(out, 0, 0, W, H, white);
    }
    int y = MARGIN;
    if (title_h) {
        gpn_text_draw(out, MARGIN, y, title, ink);
        y += title_h;
    }
    if (s->kind == GPN_STYLE_RAMP) {
        int bar_h = BAR_H;
        if (height > 0) bar_h = H - y - MARGIN - 6 - (s->units[0] ? ROW_H : 0);
        if (bar_h < 10) bar_h = 10;
        for (int r = 0; r < bar_h; r++) {
            int idx = 255 - (int)lround((double)r * 254.0 / (bar_h - 1));
            fill_rect(out, MARGIN, y + r, SW_W, 1, s->pal[idx]);
        }
        frame_rect(out, MARGIN, y, SW_W, bar_h, frame);
        for (int k = 0; k <= 4; k++) {
            double v = s->vmax - (s->vmax - s->vmin) * k / 4.0;
            int ty = y + (int)lround((double)(bar_h - 1) * k / 4.0);
            fill_rect(out, MARGIN + SW_W, ty, 4, 1, frame);
            fmt_value(v, label, sizeof label);
            gpn_text_draw(out, MARGIN + SW_W + 6, ty - GPN_FONT_ROWS / 2, label, ink);
        }
        if (s->units[0]) gpn_text_draw(out, MARGIN, y + bar_h + 6, s->units, ink);
    } else {
        for (int e = 0; e < ne; e++) {
            int idx = entries[e];
            uint8_t c[4];
            memcpy(c, s->pal[idx], 4);
            fill_rect(out, MARGIN, y + 2, SW_W, SW_H, c);
            frame_rect(out, MARGIN, y + 2, SW_W, SW_H, frame);
            entry_label(s, idx, label, sizeof label);
            gpn_text_draw(out, MARGIN + SW_W + 6, y, label, ink);
            y += ROW_H;
        }
    }
    return 0;
}
