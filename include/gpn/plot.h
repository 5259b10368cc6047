/*
 * plot.h - small PNG line plots (training curves: loss and validation AUC
 * per epoch), drawn in C and written with libpng.
 *
 * A figure is one or more panels stacked vertically, each with its own axes
 * ("nice" 1-2-5 ticks, grid, tick labels), title, axis labels and a legend;
 * each panel holds line series drawn anti-aliased (Wu's algorithm) with a
 * dot at every point. Text uses an embedded DejaVu Sans 11 px coverage font
 * (include/gpn/font.h), so no font library is needed at run time.
 *
 * Pixel layout: RGB, 8 bits per channel, rows top to bottom:
 * rgb[(row * width + col) * 3 + channel].
 */
#ifndef GPN_PLOT_H
#define GPN_PLOT_H

#include <stddef.h>
#include <stdint.h>

#include "gpn/err.h"

struct gpn_plot_series {
    const char *label;     /* legend text; NULL: not in the legend */
    const double *x;       /* (n) abscissae */
    const double *y;       /* (n) ordinates; a non-finite value leaves a gap */
    int n;
    uint32_t rgb;          /* colour 0xRRGGBB */
};

struct gpn_plot_panel {
    const char *title;     /* may be NULL */
    const char *xlabel;    /* may be NULL */
    const char *ylabel;    /* may be NULL */
    const struct gpn_plot_series *series; /* (n_series) */
    int n_series;
    int integer_x;         /* 1: x ticks only at integers (epochs) */
};

/* Renders the panels into a new RGB image (height, width, 3), malloc'ed into
 * *rgb (caller frees). Panels without any finite point get empty axes with
 * the note "no data". width >= 200 and height >= 120 * n_panels, n_panels
 * in [1, 8], else GPN_EINVAL; GPN_ENOMEM. Strings and arrays are borrowed. */
int gpn_plot_render(int width, int height, const struct gpn_plot_panel *panels, int n_panels, uint8_t **rgb,
                    struct gpn_err *err);

/* Encodes an RGB image (height, width, 3) as PNG into a malloc'ed buffer
 * (*png, *len; caller frees). GPN_ELIB on a libpng failure, GPN_ENOMEM. */
int gpn_plot_encode_png(const uint8_t *rgb, int width, int height, uint8_t **png, size_t *len,
                        struct gpn_err *err);

/* gpn_plot_render + gpn_plot_encode_png, written to path atomically. */
int gpn_plot_png(const char *path, int width, int height, const struct gpn_plot_panel *panels, int n_panels,
                 struct gpn_err *err);

#endif
