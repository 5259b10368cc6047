/*
 * tables.h - generated constant tables of the map server (tables.c, written
 * by src/http/gen_tables.py): perceptually uniform colour ramps and the
 * anti-aliased legend font. Internal to src/http.
 */
#ifndef GPN_HTTP_TABLES_H
#define GPN_HTTP_TABLES_H

#define GPN__N_RAMPS 5
#define GPN__FONT_H 14 /* rows per glyph */

struct gpn__glyph {
    int advance; /* pen advance, px */
    int width;   /* mask columns */
    int offset;  /* first byte in gpn__font_data */
};

extern const char *const gpn__ramp_names[GPN__N_RAMPS];
/* (N_RAMPS, 255, RGB): entry i is the colour of ramp fraction i / 254. */
extern const unsigned char gpn__ramps[GPN__N_RAMPS][255][3];
/* ASCII 32..126; mask of glyph g: gpn__font_data[offset + row * width + col]. */
extern const struct gpn__glyph gpn__font_glyphs[95];
extern const unsigned char gpn__font_data[];

#endif
