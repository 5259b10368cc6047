/*
 * style.c - styles: raster value -> palette index -> colour (render.h).
 *
 * Three kinds cover the platform's layers and any user GeoTIFF:
 *   - RAMP: indicators (richness, threatened species, ...) on a
 *     perceptually uniform ramp (viridis by default; magma, inferno,
 *     plasma, cividis; grey for raw data), 255 steps between vmin and vmax;
 *   - CLASSES: habitats, each EUNIS code its colour: the hue comes from the
 *     level-1 group (forests green, grasslands yellow-green, wetlands blue,
 *     ...) and the shade from the level-2/3 digits, so related habitats look
 *     related and a level-1 map and a level-3 map read alike;
 *   - PRESENCE: species maps, one colour where present, transparent where
 *     absent.
 * The palette is the single source of colours for maps and legends.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gpn/util.h"
#include "gpn/render.h"
#include "tables.h"

const char *const gpn_style_names[] = {"viridis", "magma", "inferno", "plasma", "cividis",
                                       "grey",    "presence", "classes", NULL};

/* ==== colour helpers ==================================================== */

static void hsl_to_rgb(double h, double s, double l, uint8_t rgb[3])
{
    h = fmod(h, 360.0);
    if (h < 0) h += 360.0;
    double c = (1 - fabs(2 * l - 1)) * s;
    double hp = h / 60.0;
    double x = c * (1 - fabs(fmod(hp, 2.0) - 1));
    double r = 0, g = 0, b = 0;
    if (hp < 1) { r = c; g = x; }
    else if (hp < 2) { r = x; g = c; }
    else if (hp < 3) { g = c; b = x; }
    else if (hp < 4) { g = x; b = c; }
    else if (hp < 5) { r = x; b = c; }
    else { r = c; b = x; }
    double m = l - c / 2;
    rgb[0] = (uint8_t)lround(fmin(1, fmax(0, r + m)) * 255);
    rgb[1] = (uint8_t)lround(fmin(1, fmax(0, g + m)) * 255);
    rgb[2] = (uint8_t)lround(fmin(1, fmax(0, b + m)) * 255);
}

void gpn_style_eunis_colour(const char *code, uint8_t rgb[3])
{
    /* Level-1 groups: hue, saturation, base lightness. */
    static const struct {
        const char *l1;
        double h, s, l;
    } groups[] = {
        {"MA", 180, 0.45, 0.45}, /* littoral biogenic: teal */
        {"N", 45, 0.70, 0.62},   /* coastal: sand */
        {"Q", 225, 0.50, 0.55},  /* wetlands: blue */
        {"R", 75, 0.55, 0.55},   /* grasslands: yellow-green */
        {"S", 28, 0.55, 0.50},   /* heath and scrub: ochre */
        {"T", 130, 0.50, 0.33},  /* forests: green */
        {"U", 0, 0.00, 0.60},    /* sparse vegetation: grey */
        {"V", 330, 0.50, 0.65},  /* man-made: pink */
    };
    double h = 0, s = 0, l = 0.5;
    int found = 0;
    size_t skip = 0;
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
        size_t n = strlen(groups[i].l1);
        if (!strncmp(code, groups[i].l1, n)) {
            h = groups[i].h;
            s = groups[i].s;
            l = groups[i].l;
            skip = n;
            found = 1;
            break;
        }
    }
    if (!found) {
        /* Not a EUNIS code: a stable hue from a hash of the code. */
        unsigned hash = 2166136261u;
        for (const char *p = code; *p; p++) hash = (hash ^ (unsigned char)*p) * 16777619u;
        hsl_to_rgb((double)(hash % 360), 0.55, 0.5, rgb);
        return;
    }
    /* The digits after the level-1 letters: level-2 shade, level-3 tint. */
    const char *d = code + skip;
    if (!strncmp(code, "MA", 2) && *d) d++; /* "MA2" + digits */
    int d2 = isdigit((unsigned char)d[0]) ? d[0] - '0' : 0;
    int d3 = d[0] && isdigit((unsigned char)d[1]) ? d[1] - '0' : 0;
    int d4 = d[0] && d[1] && isdigit((unsigned char)d[2]) ? d[2] - '0' : 0;
    l += (d2 ? (d2 - 4.5) * 0.045 : 0) + (d3 ? (d3 - 4.5) * 0.012 : 0);
    h += (d3 ? (d3 - 4.5) * 7.0 : 0) + (d4 ? (d4 - 4.5) * 2.0 : 0);
    if (s == 0 && (d2 || d3)) {
        /* Grey group: lightness only. */
        l = 0.40 + 0.04 * d2 + 0.01 * d3;
    }
    if (l < 0.15) l = 0.15;
    if (l > 0.85) l = 0.85;
    hsl_to_rgb(h, s, l, rgb);
}

static int parse_hex_colour(const char *s, uint8_t rgb[3])
{
    if (*s == '#') s++;
    else if (!strncasecmp(s, "0x", 2)) s += 2;
    if (strlen(s) != 6) return -1;
    for (int i = 0; i < 6; i++)
        if (!isxdigit((unsigned char)s[i])) return -1;
    unsigned v = (unsigned)strtoul(s, NULL, 16);
    rgb[0] = (uint8_t)(v >> 16);
    rgb[1] = (uint8_t)(v >> 8);
    rgb[2] = (uint8_t)v;
    return 0;
}

static int is_integer_dtype(enum gpn_dtype dt)
{
    return dt != GPN_DT_F32 && dt != GPN_DT_F64;
}

static int class_cmp(const void *a, const void *b)
{
    double x = ((const struct gpn_style_class *)a)->value, y = ((const struct gpn_style_class *)b)->value;
    return (x > y) - (x < y);
}

static int looks_eunis(const char *code)
{
    return code[0] && strchr("MNQRSTUV", code[0]) &&
           (code[1] == 0 || isdigit((unsigned char)code[1]) || (code[0] == 'M' && code[1] == 'A'));
}

/* ==== building ========================================================== */

int gpn_style_build(const char *spec, enum gpn_dtype dt, double data_min, double data_max,
                    const struct gpn_style_class *classes, int n_classes, struct gpn_style *out,
                    struct gpn_err *err)
{
    static const char fn[] = "gpn_style_build";
    memset(out, 0, sizeof *out);
    if (!spec || !*spec) spec = n_classes > 0 ? "classes" : "viridis";
    char buf[128];
    if (strlen(spec) >= sizeof buf) return gpn_err_set(err, GPN_EINVAL, "%s: style spec too long", fn);
    gpn_strlcpy(buf, spec, sizeof buf);
    char *args[4] = {0};
    int na = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ":", &save); tok && na < 4; tok = strtok_r(NULL, ":", &save)) args[na++] = tok;
    if (na == 0) return gpn_err_set(err, GPN_EINVAL, "%s: empty style", fn);
    const char *name = args[0];
    gpn_strlcpy(out->name, name, sizeof out->name);
    out->ramp = -1;

    int ramp = -2;
    for (int i = 0; i < GPN__N_RAMPS; i++)
        if (!strcasecmp(name, gpn__ramp_names[i])) ramp = i;
    if (!strcasecmp(name, "grey") || !strcasecmp(name, "gray")) ramp = -1;

    if (ramp >= -1) {
        out->kind = GPN_STYLE_RAMP;
        out->ramp = ramp;
        out->vmin = data_min;
        out->vmax = data_max;
        if (na >= 2 && gpn_parse_double(args[1], -1e300, 1e300, &out->vmin, "style minimum", err)) return err->code;
        if (na >= 3 && gpn_parse_double(args[2], -1e300, 1e300, &out->vmax, "style maximum", err)) return err->code;
        if (!isfinite(out->vmin) || !isfinite(out->vmax) || !(out->vmax > out->vmin))
            return gpn_err_set(err, GPN_EINVAL, "%s: style '%s': range [%g, %g] is empty", fn, spec, out->vmin,
                               out->vmax);
        snprintf(out->title, sizeof out->title, "%s ramp %g - %g", ramp >= 0 ? gpn__ramp_names[ramp] : "grey",
                 out->vmin, out->vmax);
        for (int i = 1; i < 256; i++) {
            if (ramp >= 0) {
                memcpy(out->pal[i], gpn__ramps[ramp][i - 1], 3);
            } else {
                out->pal[i][0] = out->pal[i][1] = out->pal[i][2] = (uint8_t)i;
            }
            out->pal[i][3] = 255;
        }
        out->n_pal = 256;
        return 0;
    }
    if (!strcasecmp(name, "presence")) {
        out->kind = GPN_STYLE_PRESENCE;
        out->threshold = is_integer_dtype(dt) ? 1.0 : 0.5;
        uint8_t rgb[3] = {0x1b, 0x78, 0x37};
        if (na >= 2 && args[1][0] &&
            gpn_parse_double(args[1], -1e300, 1e300, &out->threshold, "presence threshold", err))
            return err->code;
        if (na >= 3 && parse_hex_colour(args[2], rgb))
            return gpn_err_set(err, GPN_EINVAL, "%s: style '%s': colour must be #RRGGBB", fn, spec);
        memcpy(out->pal[1], rgb, 3);
        out->pal[1][3] = 255;
        /* Absent: transparent, but with a colour for flattened outputs. */
        out->pal[2][0] = out->pal[2][1] = out->pal[2][2] = 255;
        out->pal[2][3] = 0;
        if (na >= 4) {
            if (parse_hex_colour(args[3], out->pal[2]))
                return gpn_err_set(err, GPN_EINVAL, "%s: style '%s': absence colour must be #RRGGBB", fn, spec);
            out->pal[2][3] = 255;
        }
        out->n_pal = 3;
        snprintf(out->title, sizeof out->title, "presence (>= %g)", out->threshold);
        return 0;
    }
    if (!strcasecmp(name, "classes") || !strcasecmp(name, "eunis")) {
        out->kind = GPN_STYLE_CLASSES;
        if (n_classes <= 0)
            return gpn_err_set(err, GPN_EINVAL, "%s: style '%s' needs the layer's class table", fn, name);
        if (n_classes > GPN_STYLE_MAX_CLASSES)
            return gpn_err_set(err, GPN_ERANGE, "%s: %d classes, at most %d", fn, n_classes, GPN_STYLE_MAX_CLASSES);
        out->classes = malloc(sizeof *classes * (size_t)n_classes);
        if (!out->classes) return gpn_err_set(err, GPN_ENOMEM, "%s: out of memory", fn);
        memcpy(out->classes, classes, sizeof *classes * (size_t)n_classes);
        out->n_classes = n_classes;
        gpn_qsort(out->classes, (size_t)n_classes, sizeof *classes, class_cmp);
        for (int i = 1; i < n_classes; i++)
            if (out->classes[i].value == out->classes[i - 1].value) {
                double v = out->classes[i].value;
                gpn_style_free(out);
                return gpn_err_set(err, GPN_EINVAL, "%s: class value %g listed twice", fn, v);
            }
        for (int i = 0; i < n_classes; i++) {
            uint8_t *c = out->pal[i + 1];
            if (looks_eunis(out->classes[i].code)) {
                gpn_style_eunis_colour(out->classes[i].code, c);
            } else {
                /* Qualitative: golden-angle hues, alternating lightness. */
                hsl_to_rgb(fmod(i * 137.508, 360.0), 0.60, (i % 2) ? 0.42 : 0.58, c);
            }
            /* Keep colours distinct so a colour always names one class. */
            for (int tries = 0; tries < 64; tries++) {
                int clash = 0;
                for (int j = 1; j <= i; j++)
                    if (!memcmp(out->pal[j], c, 3)) clash = 1;
                if (!clash) break;
                c[tries % 3] = (uint8_t)(c[tries % 3] + (c[tries % 3] > 127 ? -3 : 3));
            }
            c[3] = 255;
        }
        out->n_pal = n_classes + 1;
        snprintf(out->title, sizeof out->title, "%d classes", n_classes);
        return 0;
    }
    return gpn_err_set(err, GPN_EINVAL,
                       "%s: unknown style '%s' (viridis, magma, inferno, plasma, cividis, grey, presence, classes)",
                       fn, name);
}

void gpn_style_free(struct gpn_style *s)
{
    if (!s) return;
    free(s->classes);
    s->classes = NULL;
    s->n_classes = 0;
}

uint8_t gpn_style_index(const struct gpn_style *s, double v)
{
    if (v != v) return 0;
    switch (s->kind) {
    case GPN_STYLE_RAMP: {
        double t = (v - s->vmin) / (s->vmax - s->vmin) * 254.0;
        if (t <= 0) return 1;
        if (t >= 254) return 255;
        return (uint8_t)(1 + (int)floor(t + 0.5));
    }
    case GPN_STYLE_PRESENCE:
        return v >= s->threshold ? 1 : 2;
    case GPN_STYLE_CLASSES: {
        int lo = 0, hi = s->n_classes - 1;
        while (lo <= hi) {
            int mid = (lo + hi) / 2;
            double c = s->classes[mid].value;
            if (c == v) return (uint8_t)(mid + 1);
            if (c < v) lo = mid + 1;
            else hi = mid - 1;
        }
        return 0;
    }
    }
    return 0;
}

const struct gpn_style_class *gpn_style_class_of_index(const struct gpn_style *s, int idx)
{
    if (s->kind != GPN_STYLE_CLASSES || idx < 1 || idx > s->n_classes) return NULL;
    return &s->classes[idx - 1];
}

void gpn_style_describe(const struct gpn_style *s, double v, int is_nodata, char *buf, size_t n)
{
    if (is_nodata || v != v) {
        snprintf(buf, n, "no data");
        return;
    }
    switch (s->kind) {
    case GPN_STYLE_PRESENCE:
        snprintf(buf, n, "%s", v >= s->threshold ? "present" : "absent");
        return;
    case GPN_STYLE_CLASSES: {
        const struct gpn_style_class *c = gpn_style_class_of_index(s, gpn_style_index(s, v));
        if (c) snprintf(buf, n, "%s%s%s", c->code, c->code[0] && c->name[0] ? " " : "", c->name);
        else snprintf(buf, n, "class %g (not in the legend)", v);
        return;
    }
    case GPN_STYLE_RAMP:
        if (s->units[0]) snprintf(buf, n, "%g %s", v, s->units);
        else snprintf(buf, n, "%g", v);
        return;
    }
    snprintf(buf, n, "%g", v);
}
