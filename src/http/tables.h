/*
 * tables.h - generated constant tables of the map server (tables.c, written
 * by src/http/gen_tables.py): perceptually uniform colour ramps. Internal to
 * src/http. The legend font is the shared one of include/gpn/font.h.
 */
#ifndef GPN_HTTP_TABLES_H
#define GPN_HTTP_TABLES_H

#define GPN__N_RAMPS 5

extern const char *const gpn__ramp_names[GPN__N_RAMPS];
/* (N_RAMPS, 255, RGB): entry i is the colour of ramp fraction i / 254. */
extern const unsigned char gpn__ramps[GPN__N_RAMPS][255][3];

#endif
