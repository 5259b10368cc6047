/*
 * render.h - map rendering: styles (value -> colour), images, encoders
 * (PNG, palette PNG, JPEG, WebP), the reprojecting raster renderer and
 * legends. Used by the map server (WMS, tiles) and by `gpn seed`.
 *
 * Why palettes: every style maps a raster value to one of at most 255
 * colours, so a single-layer map is an index image plus a palette. That
 * makes palette PNGs (small, fast to encode) the natural output, and it
 * makes the legend exact by construction: GetLegendGraphic draws its
 * swatches from the very palette entries GetMap uses.
 *
 * Palette layout (struct gpn_style.pal, RGBA):
 *   [0]       transparent: nodata, NaN, outside the raster;
 *   RAMP      [1..255] the ramp; a value v maps to 1 + round(254 * (v - vmin) / (vmax - vmin)), clamped;
 *   CLASSES   [1..n]   class i (sorted by value), values of no class -> 0;
 *   PRESENCE  [1] present (v >= threshold), [2] absent (transparent unless an absence colour is given).
 *
 * Images are row-major, north-up: indexed (H, W) bytes or RGBA (H, W, 4).
 *
 * Threads: styles are immutable once built and may be shared; the
 * renderer uses only the raster handle and transform passed in (one per
 * thread, see raster.h and reproj.h).
 */
#ifndef GPN_RENDER_H
#define GPN_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include "gpn/err.h"
#include "gpn/raster.h"
#include "gpn/reproj.h"
#include "gpn/util.h"

/* ==== styles ============================================================ */

enum gpn_style_kind {
    GPN_STYLE_RAMP = 1, /* continuous values onto a perceptually uniform ramp */
    GPN_STYLE_CLASSES,  /* categorical classes (habitats), each its colour */
    GPN_STYLE_PRESENCE, /* binary presence / probability over a threshold */
};

struct gpn_style_class {
    double value;     /* raster value of the class */
    char code[24];    /* e.g. EUNIS "T11" */
    char name[136];   /* e.g. "Temperate broadleaved forest" */
};

#define GPN_STYLE_MAX_CLASSES 255

struct gpn_style {
    char name[32];           /* style name as WMS STYLES sees it: "viridis", "eunis", ... */
    char title[64];
    enum gpn_style_kind kind;
    int ramp;                /* RAMP: ramp id (internal); -1 for grey */
    double vmin, vmax;       /* RAMP: the value range mapped onto the ramp */
    double threshold;        /* PRESENCE: present when v >= threshold */
    int n_classes;           /* CLASSES: (n_classes) sorted by value */
    struct gpn_style_class *classes; /* owned (gpn_style_free); NULL unless CLASSES */
    uint8_t pal[256][4];     /* RGBA palette, see the layout above */
    int n_pal;               /* entries in use (<= 256) */
    char units[32];          /* unit label for legends and feature info */
};

/* Names of the built-in ramps and styles, for capabilities: "viridis",
 * "magma", "inferno", "plasma", "cividis", "grey", "presence", "classes". */
extern const char *const gpn_style_names[];

/* Builds a style from a spec string:
 *   RAMP[:MIN:MAX]   RAMP one of viridis magma inferno plasma cividis grey;
 *                    MIN/MAX default to data_min/data_max;
 *   presence[:THRESHOLD[:#RRGGBB]]  threshold default 0.5 (1 for integer
 *                    dtypes), colour default #1b7837;
 *   classes | eunis  categorical with the classes given (colour by EUNIS
 *                    code when codes are EUNIS codes, else a qualitative
 *                    palette).
 * classes (n_classes, may be NULL when 0) are copied and sorted. Returns 0,
 * GPN_EINVAL for an unknown spec or a bad range, GPN_ENOMEM. On success
 * the caller releases out with gpn_style_free(). */
int gpn_style_build(const char *spec, enum gpn_dtype dt, double data_min, double data_max,
                    const struct gpn_style_class *classes, int n_classes, struct gpn_style *out,
                    struct gpn_err *err);
/* Frees what a built style owns (the class table); s may be NULL. A
 * style copied by value shares the table: free only one of the copies. */
void gpn_style_free(struct gpn_style *s);
/* Palette index of a value (not nodata: the caller tests nodata). */
uint8_t gpn_style_index(const struct gpn_style *s, double v);
/* For CLASSES: the class of palette index idx (1-based), else NULL. */
const struct gpn_style_class *gpn_style_class_of_index(const struct gpn_style *s, int idx);
/* Colour of a EUNIS code (deterministic; hue by level-1 group, shade by
 * level-2/3 position). rgb: 3 bytes. */
void gpn_style_eunis_colour(const char *code, uint8_t rgb[3]);
/* Short human meaning of a value under this style into buf: "present",
 * "absent", "T11 Temperate broadleaved forest", "37.5 species". */
void gpn_style_describe(const struct gpn_style *s, double v, int is_nodata, char *buf, size_t n);

/* ==== images ============================================================ */

struct gpn_image {
    int w, h;
    int indexed;          /* 1: px is (H, W) palette indices; 0: (H, W, 4) RGBA */
    uint8_t *px;          /* owned (gpn_image_free) */
    uint8_t pal[256][4];  /* indexed images: RGBA palette */
    int n_pal;
};

/* Allocates a zeroed image. Returns 0 or GPN_ENOMEM / GPN_EINVAL. */
int gpn_image_init(struct gpn_image *img, int w, int h, int indexed, struct gpn_err *err);
void gpn_image_free(struct gpn_image *img);
/* Converts an indexed image to RGBA in place (px reallocated). */
int gpn_image_to_rgba(struct gpn_image *img, struct gpn_err *err);
/* Composites src (indexed or RGBA, same size) over dst (RGBA), "over". */
void gpn_image_composite(struct gpn_image *dst, const struct gpn_image *src);

enum gpn_image_format {
    GPN_IMG_PNG = 1,  /* palette PNG for indexed images, RGBA PNG otherwise */
    GPN_IMG_PNG8,     /* palette PNG; RGBA images are quantised when they have <= 256 colours, else RGBA */
    GPN_IMG_PNG32,    /* always RGBA PNG */
    GPN_IMG_JPEG,     /* RGB JPEG over the background colour (no transparency) */
    GPN_IMG_WEBP,     /* WebP (lossless for indexed images), when libwebp is available */
};

/* MIME type <-> format. gpn_image_format_parse accepts "image/png",
 * "image/png; mode=8bit", "png", "image/jpeg", "jpeg", "jpg", "image/webp",
 * "webp", ... Returns 0 when unknown. */
enum gpn_image_format gpn_image_format_parse(const char *s);
const char *gpn_image_format_mime(enum gpn_image_format f);
/* 1 when WebP encoding is available at run time (libwebp loaded). */
int gpn_image_webp_available(void);

/* Encodes img into out (appended). transparent=0 flattens onto bg (RGB)
 * first; JPEG always does. quality: JPEG/WebP 1..100. Returns 0,
 * GPN_EUNSUPPORTED (WebP missing), GPN_ELIB. */
int gpn_image_encode(const struct gpn_image *img, enum gpn_image_format fmt, int transparent, const uint8_t bg[3],
                     int quality, struct gpn_buf *out, struct gpn_err *err);
/* Decodes a PNG (any colour type) to RGBA (H, W, 4); *rgba malloc'ed,
 * caller frees. For tests and cache checks. */
int gpn_png_decode(const void *data, size_t len, int *w, int *h, uint8_t **rgba, struct gpn_err *err);

/* ==== the raster renderer =============================================== */

/* What to draw: an open raster (one thread), its info, band and style. */
struct gpn_render_src {
    struct gpn_raster *raster;
    const struct gpn_raster_info *info;
    int band;                       /* 1-based */
    const struct gpn_style *style;
};

/* The output grid: bbox in the output CRS (x/east first), size. */
struct gpn_render_view {
    double bbox[4];                 /* minx, miny, maxx, maxy */
    int width, height;
    /* Output CRS -> raster CRS, NULL when they are the same CRS. */
    struct gpn_transform *to_src;
};

/* Renders src into idx (height, width) palette indices of src->style.
 * For each output pixel centre the source pixel is found through the
 * transform (evaluated exactly on a sub-sampled grid that is refined until
 * bilinear interpolation is within 1/8 source pixel, then interpolated),
 * and read with nearest neighbour from the overview level GDAL picks for the
 * output resolution. Pixels outside the raster or nodata get index 0.
 * Returns 0, GPN_ENORESULT when the view misses the raster (idx all 0),
 * or an I/O error. */
int gpn_render_raster(const struct gpn_render_src *src, const struct gpn_render_view *view, uint8_t *idx,
                      struct gpn_err *err);
/* The value of the raster at a point of the output CRS (through the
 * transform). *is_nodata = 1 when outside or nodata. */
int gpn_render_value_at(const struct gpn_render_src *src, struct gpn_transform *to_src, double x, double y,
                        double *value, int *is_nodata, struct gpn_err *err);

/* ==== legends =========================================================== */

/* Draws the legend of a style: a vertical ramp bar with labelled ticks, or
 * one swatch per class / presence entry with its label. Swatch colours are
 * the palette entries themselves. width/height 0 = natural size. The image
 * is RGBA on a white or transparent background. */
int gpn_legend_render(const struct gpn_style *s, const char *title, int width, int height, int transparent,
                      struct gpn_image *out, struct gpn_err *err);
/* The natural size of that legend (what width = height = 0 gives). */
void gpn_legend_size(const struct gpn_style *s, const char *title, int *width, int *height);
/* Draws text (ASCII; other bytes as '?') at (x, y) top-left on an RGBA
 * image with the given colour; returns the advance in pixels. */
int gpn_text_draw(struct gpn_image *img, int x, int y, const char *text, const uint8_t rgb[3]);
int gpn_text_width(const char *text);

/* ==== web mercator tiles =============================================== */

/* Bounds in EPSG:3857 metres of XYZ tile (z, x, y) (y from the north). */
void gpn_tile_xyz_bounds(int z, int x, int y, double bbox[4]);

#endif
