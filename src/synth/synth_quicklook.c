/*
 * synth_quicklook.c - one PNG sheet to look at the synthetic region:
 * relief, land cover with roads, true richness, EUNIS Level 1 habitats,
 * three species (a tree, an invasive, an endemic when the draw has them)
 * and the observations (PA surveys white, PO visits red).
 *
 * Panels are nearest-neighbour resamplings of the 50 m world layers to
 * PANEL px on the longer side; titles use a built-in 5 x 7 pixel font
 * (upper-case ASCII, digits and a few signs), drawn at 2x. The PNG is
 * written with libpng to a temporary file and renamed (atomic).
 */
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpn/util.h"
#include "synth_priv.h"

#define PANEL 320
#define GAP 8
#define TITLE_H 22
#define HEADER_H 30
#define COLS 4
#define ROWS 2

struct glyph {
    char c;
    uint8_t rows[7];
};

static const struct glyph FONT[] = {
    {'%', {0x19, 0x1a, 0x02, 0x04, 0x08, 0x0b, 0x13}},
    {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}},
    {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}},
    {',', {0x00, 0x00, 0x00, 0x00, 0x0c, 0x04, 0x08}},
    {'-', {0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00}},
    {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c}},
    {'/', {0x01, 0x02, 0x02, 0x04, 0x08, 0x08, 0x10}},
    {'0', {0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e}},
    {'1', {0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e}},
    {'2', {0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f}},
    {'3', {0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e}},
    {'4', {0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02}},
    {'5', {0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e}},
    {'6', {0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e}},
    {'7', {0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e}},
    {'9', {0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c}},
    {':', {0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00}},
    {'=', {0x00, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x00}},
    {'A', {0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11}},
    {'B', {0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e}},
    {'C', {0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e}},
    {'D', {0x1e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1e}},
    {'E', {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f}},
    {'F', {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10}},
    {'G', {0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f}},
    {'H', {0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11}},
    {'I', {0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e}},
    {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c}},
    {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}},
    {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f}},
    {'M', {0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11}},
    {'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}},
    {'O', {0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e}},
    {'P', {0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10}},
    {'Q', {0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d}},
    {'R', {0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11}},
    {'S', {0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e}},
    {'T', {0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e}},
    {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04}},
    {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a}},
    {'X', {0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11}},
    {'Y', {0x11, 0x11, 0x0a, 0x04, 0x04, 0x04, 0x04}},
    {'Z', {0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f}},
    {'_', {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1f}},
};

struct canvas {
    int W, H;
    uint8_t *rgb; /* (H, W, 3) */
};

static void put(struct canvas *cv, int x, int y, const uint8_t c[3])
{
    if (x < 0 || y < 0 || x >= cv->W || y >= cv->H) return;
    uint8_t *p = cv->rgb + ((size_t)y * cv->W + x) * 3;
    p[0] = c[0];
    p[1] = c[1];
    p[2] = c[2];
}

static void text(struct canvas *cv, int x, int y, const char *s, const uint8_t col[3])
{
    for (; *s; s++, x += 12) {
        char ch = *s;
        if (ch >= 'a' && ch <= 'z') ch = (char)(ch - 'a' + 'A');
        const struct glyph *g = NULL;
        for (size_t k = 0; k < sizeof FONT / sizeof FONT[0]; k++)
            if (FONT[k].c == ch) g = &FONT[k];
        if (!g) continue;
        for (int r = 0; r < 7; r++)
            for (int c = 0; c < 5; c++)
                if (g->rows[r] & (1u << (4 - c)))
                    for (int dy = 0; dy < 2; dy++)
                        for (int dx = 0; dx < 2; dx++) put(cv, x + 2 * c + dx, y + 2 * r + dy, col);
    }
}

/* Linear ramp through n colour stops at t in [0, 1]. */
static void ramp(const uint8_t stops[][3], int n, float t, uint8_t out[3])
{
    if (!(t > 0.f)) t = 0.f;
    if (t > 1.f) t = 1.f;
    float f = t * (float)(n - 1);
    int i = (int)f;
    if (i >= n - 1) i = n - 2;
    float u = f - (float)i;
    for (int k = 0; k < 3; k++) out[k] = (uint8_t)lrintf(stops[i][k] + u * (stops[i + 1][k] - stops[i][k]));
}

static const uint8_t VIRIDIS[5][3] = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
static const uint8_t GREENS[4][3] = {{247, 252, 245}, {161, 217, 155}, {49, 163, 84}, {0, 68, 27}};
static const uint8_t HYPSO[5][3] = {{95, 160, 90}, {190, 200, 120}, {205, 170, 110}, {150, 110, 80}, {240, 240, 240}};
static const uint8_t SEA_RGB[3] = {70, 110, 160};
static const uint8_t LC_RGB[GPN_SYNTH_LC_COUNT][3] = {
    {0, 0, 0},       {34, 110, 50},  {170, 210, 100}, {150, 150, 60},  {240, 210, 110},
    {100, 190, 200}, {200, 60, 60},  {60, 100, 220},  {190, 190, 190}, {70, 110, 160}};

static float hillshade(const struct syn_world *w, size_t i)
{
    double s = w->slope[i] * SYN_PI / 180.0, z = 45.0 * SYN_PI / 180.0, az = 315.0 * SYN_PI / 180.0;
    double v = cos(z) * cos(s) + sin(z) * sin(s) * cos(az - w->aspect[i]);
    return (float)(0.45 + 0.55 * (v < 0 ? 0 : v));
}

/* Panel kinds. */
enum { P_RELIEF, P_LANDCOVER, P_RICHNESS, P_HABITAT, P_SPECIES, P_OBS };

static void habitat_rgb(const char *code, uint8_t out[3])
{
    static const struct { const char *p; uint8_t c[3]; } L1[] = {
        {"MA", {150, 90, 170}}, {"N", {230, 210, 150}}, {"Q", {80, 190, 200}}, {"R", {160, 210, 90}},
        {"S", {150, 140, 60}},  {"T", {30, 100, 45}},  {"U", {170, 170, 170}}, {"V", {240, 170, 60}}};
    for (size_t k = 0; k < sizeof L1 / sizeof L1[0]; k++)
        if (!strncmp(code, L1[k].p, strlen(L1[k].p))) {
            memcpy(out, L1[k].c, 3);
            return;
        }
    out[0] = out[1] = out[2] = 0;
}

static void panel(struct canvas *cv, const struct syn_world *w, int kind, int sp, int ox, int oy, float rmax, float emax)
{
    double scale = (double)PANEL / (w->W > w->H ? w->W : w->H);
    int pw = (int)(w->W * scale), ph = (int)(w->H * scale);
    for (int y = 0; y < ph; y++)
        for (int x = 0; x < pw; x++) {
            int c = (int)(x / scale), r = (int)(y / scale);
            if (c >= w->W) c = w->W - 1;
            if (r >= w->H) r = w->H - 1;
            size_t i = (size_t)r * w->W + c;
            uint8_t col[3];
            int land = w->land[i];
            float hs = land ? hillshade(w, i) : 1.f;
            switch (kind) {
            case P_RELIEF:
                if (!land) {
                    memcpy(col, SEA_RGB, 3);
                } else {
                    ramp(HYPSO, 5, w->elev[i] / emax, col);
                    for (int k = 0; k < 3; k++) col[k] = (uint8_t)fminf(255.f, col[k] * hs);
                }
                break;
            case P_LANDCOVER:
                memcpy(col, LC_RGB[w->lc[i]], 3);
                if (w->road[i]) col[0] = col[1] = col[2] = 40;
                break;
            case P_RICHNESS:
                if (!land) memcpy(col, SEA_RGB, 3);
                else ramp(VIRIDIS, 5, w->richness[i] / rmax, col);
                break;
            case P_HABITAT:
                if (w->hab[i]) habitat_rgb(gpn_synth_habitat_code(w->hab[i] - 1), col);
                else memcpy(col, land ? LC_RGB[GPN_SYNTH_LC_WATER] : SEA_RGB, 3);
                break;
            case P_SPECIES:
                if (!land) memcpy(col, SEA_RGB, 3);
                else ramp(GREENS, 4, syn_p(w, &w->sp[sp], i) / (w->sp[sp].pmax > 0 ? w->sp[sp].pmax : 1.f), col);
                break;
            default: {
                uint8_t g = (uint8_t)lrintf(land ? 200.f * hs : 90.f);
                col[0] = col[1] = col[2] = g;
                if (w->road[i]) col[0] = col[1] = col[2] = 120;
                break;
            }
            }
            put(cv, ox + x, oy + y, col);
        }
    if (kind == P_OBS) {
        static const uint8_t RED[3] = {220, 30, 30}, WHITE[3] = {255, 255, 255}, BLACK[3] = {0, 0, 0};
        for (int pass = 0; pass < 2; pass++) {
            const size_t *cells = pass ? w->obs_pa : w->obs_po;
            size_t n = pass ? w->n_obs_pa : w->n_obs_po;
            for (size_t k = 0; k < n; k++) {
                int x = (int)(((cells[k] % (size_t)w->W) + 0.5) * scale), y = (int)(((cells[k] / (size_t)w->W) + 0.5) * scale);
                if (pass) {
                    for (int d = -1; d <= 1; d++) {
                        put(cv, ox + x + d, oy + y, BLACK);
                        put(cv, ox + x, oy + y + d, BLACK);
                    }
                    put(cv, ox + x, oy + y, WHITE);
                } else {
                    put(cv, ox + x, oy + y, RED);
                }
            }
        }
    }
}

/* Most prevalent species matching a predicate (-1 when none). */
static int pick_species(const struct syn_world *w, int kind, int avoid1, int avoid2)
{
    int best = -1;
    double bv = -1;
    for (int i = 0; i < w->ns; i++) {
        const struct syn_species *s = &w->sp[i];
        int ok = kind == 0 ? s->group == SYN_G_TREE : kind == 1 ? s->invasive : kind == 2 ? s->endemic : 1;
        if (!ok || i == avoid1 || i == avoid2) continue;
        if (s->sum_p > bv) {
            bv = s->sum_p;
            best = i;
        }
    }
    return best;
}

static int write_png(const char *path, const struct canvas *cv, struct gpn_err *err)
{
    char tmp[1200];
    if (gpn_tmp_path(path, tmp, sizeof tmp)) return gpn_err_set(err, GPN_ETOOBIG, "synth: path too long: %s", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return gpn_err_set(err, GPN_EIO, "synth: cannot create %s", tmp);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    png_bytep *rows = malloc((size_t)cv->H * sizeof *rows);
    if (!png || !info || !rows) {
        png_destroy_write_struct(&png, &info);
        free(rows);
        fclose(f);
        remove(tmp);
        return gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (PNG)");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(rows);
        fclose(f);
        remove(tmp);
        return gpn_err_set(err, GPN_EIO, "synth: libpng failed writing %s", path);
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)cv->W, (png_uint_32)cv->H, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < cv->H; y++) rows[y] = cv->rgb + (size_t)y * cv->W * 3;
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    if (fclose(f) != 0) {
        remove(tmp);
        return gpn_err_set(err, GPN_EIO, "synth: cannot write %s", tmp);
    }
    return gpn_rename_atomic(tmp, path, err);
}

int gpn__syn_quicklook(const struct syn_world *w, const char *path, struct gpn_err *err)
{
    struct canvas cv;
    cv.W = COLS * (PANEL + GAP) + GAP;
    cv.H = HEADER_H + ROWS * (PANEL + TITLE_H + GAP) + GAP;
    cv.rgb = malloc((size_t)cv.W * cv.H * 3);
    if (!cv.rgb) return gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (quicklook)");
    memset(cv.rgb, 255, (size_t)cv.W * cv.H * 3);
    static const uint8_t INK[3] = {20, 20, 20};
    char buf[200], id[GPN_TILE_ID_MAX];
    gpn_tile_format(w->tiles[0], id, sizeof id);
    snprintf(buf, sizeof buf, "GPN SYNTH - SEED %llu - %s (%d X %d CELLS) - %d SPECIES",
             (unsigned long long)w->seed, id, w->W, w->H, w->ns);
    text(&cv, GAP, 8, buf, INK);
    float rmax = 1.f, emax = 200.f;
    for (size_t i = 0; i < w->N; i++) {
        if (w->richness[i] > rmax) rmax = w->richness[i];
        if (w->elev[i] > emax) emax = w->elev[i];
    }
    int t = pick_species(w, 0, -1, -1), v = pick_species(w, 1, t, -1), e = pick_species(w, 2, t, v);
    if (t < 0) t = pick_species(w, 3, v, e);
    if (v < 0) v = pick_species(w, 3, t, e);
    if (e < 0) e = pick_species(w, 3, t, v);
    struct { int kind, sp; const char *title; } P[COLS * ROWS] = {
        {P_RELIEF, -1, NULL},  {P_LANDCOVER, -1, "LAND COVER"}, {P_RICHNESS, -1, "TRUE RICHNESS"},
        {P_HABITAT, -1, "HABITAT L1"}, {P_SPECIES, t, NULL}, {P_SPECIES, v, NULL}, {P_SPECIES, e, NULL},
        {P_OBS, -1, "PA WHITE, PO RED"}};
    for (int k = 0; k < COLS * ROWS; k++) {
        int ox = GAP + (k % COLS) * (PANEL + GAP), oy = HEADER_H + (k / COLS) * (PANEL + TITLE_H + GAP);
        if (P[k].kind == P_SPECIES && P[k].sp < 0) continue;
        if (P[k].kind == P_RELIEF) snprintf(buf, sizeof buf, "RELIEF 0-%.0f M", emax);
        else if (P[k].kind == P_RICHNESS) snprintf(buf, sizeof buf, "%s 0-%.0f", P[k].title, rmax);
        else if (P[k].kind == P_SPECIES) snprintf(buf, sizeof buf, "%.26s", w->sp[P[k].sp].name);
        else snprintf(buf, sizeof buf, "%s", P[k].title);
        text(&cv, ox, oy, buf, INK);
        panel(&cv, w, P[k].kind, P[k].sp, ox, oy + TITLE_H, rmax, emax);
    }
    int rc = write_png(path, &cv, err);
    free(cv.rgb);
    return rc;
}
