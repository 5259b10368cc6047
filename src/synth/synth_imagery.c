/*
 * synth_imagery.c - what the satellites see: a Sentinel-2-like yearly
 * composite (R, G, B, NIR at --s2-res, default 10 m) and a Landsat-like
 * quarterly stack (6 bands x 4 quarters x 21 years at --landsat-res,
 * default 30 m), both in EPSG:3035: one image of the whole region each
 * (rows in parallel; synth.c writes them in its file pool), or for large
 * regions one file per meta-tile plus a VRT mosaic (tiles in parallel).
 *
 * Spectral model (docs/synthetic.md, "Imagery"): every surface type mixes a
 * green-vegetation spectrum with a background (soil, litter, rock, mud) by
 * a greenness g that follows the type's seasonal profile, scaled by terrain
 * illumination (Lambert with the season's sun) and by texture noise at
 * 20-200 m; water, sea and urban fabric have their own spectra. Greenness
 * of herbaceous types follows the regional rainfall anomaly of the quarter
 * (the climate cube's), forests green slowly, fires (fire years per 50 m
 * cell, 3 km lattice of fire patches) remove greenness and recover over
 * ~4 years, town edges are cropland until their urbanisation year, arable
 * parcels rotate winter and summer crops, winter quarters carry haze.
 *
 * Values: Sentinel-2 uint8 = 255 * reflectance^(1/2.5) (GeoPlant's patch
 * scaling: clip at 1, gamma 1/2.5) with +-0.7 DN of sensor noise; Landsat
 * uint8 = 250 * reflectance (the GLC time series range), quantisation as
 * its only noise (a noisy 504-band stack costs several times more to
 * compress, and the quarterly medians of the real cubes are smooth).
 *
 * Layout: a tile's Sentinel file is (4, H, W) band-sequential; Landsat is
 * (504, H, W) with band index (1-based) 1 + (band * 4 + quarter) * 21 +
 * year, band 0..5 = R, G, B, NIR, SWIR1, SWIR2, quarter 0 = Jan-Mar, year 0
 * = 2000. Landsat pixels lie on the global res-metre lattice; each pixel
 * belongs to the tile holding its centre, and the region's edge tiles take
 * the partial pixels, so the tiles tile the region without gaps or overlap.
 *
 * Tiled mode generates and writes one tile per thread, so both cores
 * compress while memory stays at two tiles' buffers.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpn/log.h"
#include "gpn/progress.h"
#include "gpn/raster.h"
#include "gpn/util.h"
#include "synth_priv.h"

enum { B_R, B_G, B_B, B_NIR, B_SW1, B_SW2 };

static const float VEG_BROAD[6] = {0.035f, 0.075f, 0.035f, 0.42f, 0.20f, 0.09f};
static const float VEG_CON[6] = {0.025f, 0.050f, 0.025f, 0.26f, 0.12f, 0.05f};
static const float VEG_SCL[6] = {0.030f, 0.060f, 0.030f, 0.30f, 0.15f, 0.07f};
static const float VEG_GRASS[6] = {0.045f, 0.090f, 0.040f, 0.38f, 0.24f, 0.12f};
static const float VEG_REED[6] = {0.040f, 0.080f, 0.040f, 0.35f, 0.20f, 0.10f};
static const float VEG_SALT[6] = {0.050f, 0.080f, 0.050f, 0.25f, 0.20f, 0.12f};
static const float SOIL_LIGHT[6] = {0.26f, 0.21f, 0.16f, 0.32f, 0.40f, 0.32f};
static const float SOIL_DARK[6] = {0.16f, 0.13f, 0.10f, 0.24f, 0.32f, 0.25f};
static const float LITTER[6] = {0.10f, 0.08f, 0.06f, 0.20f, 0.22f, 0.14f};
static const float DRY_GRASS[6] = {0.20f, 0.17f, 0.12f, 0.30f, 0.38f, 0.28f};
static const float MUD[6] = {0.10f, 0.10f, 0.09f, 0.12f, 0.14f, 0.10f};
static const float WATER[6] = {0.035f, 0.050f, 0.060f, 0.020f, 0.010f, 0.005f};
static const float SEA[6] = {0.020f, 0.035f, 0.055f, 0.010f, 0.005f, 0.003f};
static const float SAND[6] = {0.32f, 0.29f, 0.23f, 0.36f, 0.42f, 0.34f};
static const float ROCK_CALC[6] = {0.30f, 0.28f, 0.25f, 0.33f, 0.36f, 0.30f};
static const float ROCK_ACID[6] = {0.15f, 0.14f, 0.12f, 0.20f, 0.24f, 0.20f};
static const float ROOF[6] = {0.28f, 0.16f, 0.11f, 0.30f, 0.34f, 0.28f};
static const float ASPHALT[6] = {0.09f, 0.09f, 0.09f, 0.11f, 0.13f, 0.12f};
static const float CONCRETE[6] = {0.25f, 0.24f, 0.23f, 0.28f, 0.30f, 0.27f};
static const float CHAR[6] = {0.05f, 0.05f, 0.05f, 0.08f, 0.12f, 0.10f};

struct sfc_spec {
    const float *veg, *bg;
    float g[4];       /* greenness per quarter (Q1 Jan-Mar ... Q4) */
    float tex;        /* brightness texture amplitude */
    float gtex;       /* greenness texture amplitude */
    float rain;       /* sensitivity of greenness to the rainfall anomaly */
    uint8_t burns;    /* can carry fire scars */
};

/* Indexed by enum syn_sfc. SEA, WATER and URBAN_* are special-cased. */
static const struct sfc_spec SPEC[SFC_COUNT] = {
    [SFC_NONE] = {VEG_GRASS, SOIL_DARK, {0.3f, 0.3f, 0.3f, 0.3f}, 0.05f, 0.1f, 0.f, 0},
    [SFC_SEA] = {VEG_GRASS, SEA, {0, 0, 0, 0}, 0.03f, 0.f, 0.f, 0},
    [SFC_WATER] = {VEG_GRASS, WATER, {0, 0, 0, 0}, 0.10f, 0.f, 0.f, 0},
    [SFC_SAND] = {VEG_GRASS, SAND, {0.02f, 0.03f, 0.01f, 0.02f}, 0.06f, 0.5f, 0.f, 0},
    [SFC_ROCK_CALC] = {VEG_GRASS, ROCK_CALC, {0.12f, 0.16f, 0.08f, 0.12f}, 0.12f, 0.6f, 0.3f, 0},
    [SFC_ROCK_ACID] = {VEG_GRASS, ROCK_ACID, {0.15f, 0.18f, 0.10f, 0.14f}, 0.12f, 0.6f, 0.3f, 0},
    [SFC_FOREST_DEC] = {VEG_BROAD, LITTER, {0.35f, 0.90f, 0.95f, 0.55f}, 0.10f, 0.15f, 0.08f, 1},
    [SFC_FOREST_EVG] = {VEG_SCL, LITTER, {0.80f, 0.85f, 0.78f, 0.80f}, 0.10f, 0.15f, 0.08f, 1},
    [SFC_FOREST_CON] = {VEG_CON, LITTER, {0.80f, 0.82f, 0.82f, 0.80f}, 0.12f, 0.12f, 0.06f, 1},
    [SFC_SCRUB] = {VEG_SCL, SOIL_LIGHT, {0.50f, 0.58f, 0.40f, 0.50f}, 0.10f, 0.45f, 0.25f, 1},
    [SFC_GRASS_DRY] = {VEG_GRASS, DRY_GRASS, {0.55f, 0.70f, 0.20f, 0.45f}, 0.06f, 0.25f, 0.35f, 1},
    [SFC_GRASS_MOIST] = {VEG_GRASS, SOIL_DARK, {0.60f, 0.85f, 0.65f, 0.60f}, 0.05f, 0.15f, 0.2f, 0},
    [SFC_CROP_ARABLE] = {VEG_GRASS, SOIL_LIGHT, {0.45f, 0.85f, 0.08f, 0.20f}, 0.05f, 0.10f, 0.3f, 0},
    [SFC_CROP_VINE] = {VEG_BROAD, SOIL_LIGHT, {0.08f, 0.40f, 0.55f, 0.25f}, 0.05f, 0.10f, 0.15f, 0},
    [SFC_CROP_ORCHARD] = {VEG_SCL, SOIL_LIGHT, {0.45f, 0.55f, 0.50f, 0.45f}, 0.06f, 0.15f, 0.1f, 0},
    [SFC_CROP_FALLOW] = {VEG_GRASS, SOIL_LIGHT, {0.30f, 0.45f, 0.18f, 0.28f}, 0.06f, 0.25f, 0.3f, 0},
    [SFC_WET_REED] = {VEG_REED, MUD, {0.30f, 0.70f, 0.85f, 0.50f}, 0.06f, 0.2f, 0.05f, 0},
    [SFC_WET_SALT] = {VEG_SALT, MUD, {0.35f, 0.45f, 0.40f, 0.35f}, 0.06f, 0.3f, 0.05f, 0},
    [SFC_URBAN_DENSE] = {VEG_BROAD, CONCRETE, {0.10f, 0.12f, 0.12f, 0.10f}, 0.f, 0.f, 0.f, 0},
    [SFC_URBAN_RES] = {VEG_BROAD, ROOF, {0.40f, 0.50f, 0.45f, 0.40f}, 0.f, 0.f, 0.f, 0},
};

/* Summer-crop parcels (maize, sunflower) of a given year. */
static const float G_SUMMER_CROP[4] = {0.10f, 0.40f, 0.85f, 0.20f};

static inline float clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }

/* ==== per-cell helpers (computed once) ===================================== */

struct imagery_ctx {
    const struct syn_world *w;
    float *illum;        /* (5, N): Sentinel sun, then Landsat quarters */
    uint8_t *fire;       /* (N) fire year index 1..20 (2001..2020), 0 none */
    uint8_t *urb;        /* (N) urbanisation year index 1..20, 0 = always urban */
    float *cloud;        /* (84, cH, cW) on a 250 m grid: haze strength */
    int cgW, cgH;
    float pq[SYN_LS_YEARS * 4]; /* rainfall anomaly per (year, quarter), clamped */
};

/* Sun zenith / azimuth (degrees) per acquisition: S2 composite, Q1..Q4. */
static const float SUN_ZEN[5] = {35.f, 60.f, 32.f, 38.f, 64.f};
static const float SUN_AZI[5] = {150.f, 155.f, 135.f, 140.f, 160.f};

static int ctx_init(struct imagery_ctx *x, const struct syn_world *w, struct gpn_err *err)
{
    memset(x, 0, sizeof *x);
    x->w = w;
    size_t N = w->N;
    x->illum = malloc(5 * N * sizeof *x->illum);
    x->fire = malloc(N);
    x->urb = malloc(N);
    x->cgW = (int)ceil((w->x1 - w->x0) / 250.0) + 1;
    x->cgH = (int)ceil((w->y1 - w->y0) / 250.0) + 1;
    x->cloud = malloc((size_t)SYN_LS_YEARS * 4 * x->cgW * x->cgH * sizeof *x->cloud);
    if (!x->illum || !x->fire || !x->urb || !x->cloud) return gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (imagery)");
    for (int k = 0; k < 5; k++) {
        double z = SUN_ZEN[k] * SYN_PI / 180.0, az = SUN_AZI[k] * SYN_PI / 180.0;
        float *il = x->illum + (size_t)k * N;
#pragma omp parallel for schedule(static)
        for (int r = 0; r < w->H; r++)
            for (int c = 0; c < w->W; c++) {
                size_t i = (size_t)r * w->W + c;
                double s = w->slope[i] * SYN_PI / 180.0;
                double ci = cos(z) * cos(s) + sin(z) * sin(s) * cos(az - w->aspect[i]);
                float f = (float)(0.35 + 0.65 * ci / cos(z));
                il[i] = clampf(f, 0.25f, 1.45f);
            }
    }
    /* Fires on a 3 km lattice; urbanisation years of town edges. */
#pragma omp parallel for schedule(static)
    for (int r = 0; r < w->H; r++)
        for (int c = 0; c < w->W; c++) {
            size_t i = (size_t)r * w->W + c;
            double px = syn_cx(w, c), py = syn_cy(w, r);
            x->fire[i] = 0;
            int s = w->sfc[i];
            if (SPEC[s].burns) {
                int64_t gi = (int64_t)floor(px / 3000.0), gj = (int64_t)floor(py / 3000.0);
                for (int dj = -1; dj <= 1; dj++)
                    for (int di = -1; di <= 1; di++) {
                        struct syn_rng fr = syn_rng_make(w->seed, SP_FIRE, (uint64_t)(gi + di), (uint64_t)(gj + dj));
                        if (syn_rng_u01(&fr) > 0.3) continue;
                        double fx = (gi + di + syn_rng_u01(&fr)) * 3000.0, fy = (gj + dj + syn_rng_u01(&fr)) * 3000.0;
                        double rad = syn_rng_range(&fr, 250.0, 900.0);
                        int year = 1 + (int)(syn_rng_u64(&fr) % 20);
                        double d = hypot(px - fx, py - fy);
                        double shape = 1.0 + 0.35 * gpn__syn_fbm(w->seed ^ SP_FIRE, px, py, 500.0, 2, 0.5f);
                        if (d < rad * shape && year > x->fire[i]) x->fire[i] = (uint8_t)year;
                    }
            }
            x->urb[i] = 0;
            if (w->lc[i] == GPN_SYNTH_LC_URBAN && w->tcore[i] > 0.7f) {
                uint64_t h = syn_hash(w->seed, SP_URBAN_YEAR, i, 0);
                if (syn_u01(h) < 0.5) x->urb[i] = (uint8_t)(1 + (syn_mix(h) % 20));
            }
        }
    /* Haze per (year, quarter): more in winter quarters. */
#pragma omp parallel for schedule(dynamic, 1)
    for (int yq = 0; yq < SYN_LS_YEARS * 4; yq++) {
        int q = yq % 4;
        float thr = (q == 0 || q == 3) ? 0.30f : 0.45f;
        for (int r = 0; r < x->cgH; r++)
            for (int c = 0; c < x->cgW; c++) {
                double px = w->x0 + c * 250.0, py = w->y1 - r * 250.0;
                float n = gpn__syn_fbm(w->seed ^ (SP_CLOUD + 0x100ull * (uint64_t)yq), px, py, 4000.0, 3, 0.5f);
                x->cloud[((size_t)yq * x->cgH + r) * x->cgW + c] = clampf((n - thr) * 4.f, 0.f, 1.f);
            }
    }
    for (int y = 0; y < SYN_LS_YEARS; y++)
        for (int q = 0; q < 4; q++) {
            /* Rain of the quarter and the previous one drives greenness. */
            float s = 0;
            for (int m = -3; m < 3; m++) {
                int ym = y * 12 + q * 3 + m;
                if (ym < 0) ym = 0;
                s += w->panom[ym];
            }
            x->pq[y * 4 + q] = clampf(s / 6.f / 0.55f, -1.5f, 1.5f);
        }
    return 0;
}

static void ctx_free(struct imagery_ctx *x)
{
    free(x->illum);
    free(x->fire);
    free(x->urb);
    free(x->cloud);
}

/* Bilinear sample of a 50 m layer at (x, y), clamped to the region. */
static float layer_bilinear(const struct syn_world *w, const float *a, double x, double y)
{
    double fx = (x - w->x0) / SYN_CELL - 0.5, fy = (w->y1 - y) / SYN_CELL - 0.5;
    int ix = (int)floor(fx), iy = (int)floor(fy);
    float tx = (float)(fx - ix), ty = (float)(fy - iy);
    int x0 = ix < 0 ? 0 : ix >= w->W ? w->W - 1 : ix, x1 = ix + 1 < 0 ? 0 : ix + 1 >= w->W ? w->W - 1 : ix + 1;
    int y0 = iy < 0 ? 0 : iy >= w->H ? w->H - 1 : iy, y1 = iy + 1 < 0 ? 0 : iy + 1 >= w->H ? w->H - 1 : iy + 1;
    float a0 = a[(size_t)y0 * w->W + x0] + tx * (a[(size_t)y0 * w->W + x1] - a[(size_t)y0 * w->W + x0]);
    float a1 = a[(size_t)y1 * w->W + x0] + tx * (a[(size_t)y1 * w->W + x1] - a[(size_t)y1 * w->W + x0]);
    return a0 + ty * (a1 - a0);
}

static size_t cell_clamped(const struct syn_world *w, double x, double y)
{
    int col = (int)floor((x - w->x0) / SYN_CELL), row = (int)floor((w->y1 - y) / SYN_CELL);
    if (col < 0) col = 0;
    if (col >= w->W) col = w->W - 1;
    if (row < 0) row = 0;
    if (row >= w->H) row = w->H - 1;
    return (size_t)row * w->W + col;
}

/* The state of a pixel that does not change with the date. */
struct px {
    size_t cell;
    uint8_t sfc;
    const float *veg, *bg;
    const float *g;      /* greenness profile */
    float gfac;          /* pixel greenness factor */
    float bright;        /* brightness factor (texture) */
    float bgmix;         /* scrub/crop background: 0 light .. 1 dark soil */
    float depth;         /* sea: 0 shallow .. 1 deep */
    uint8_t fire, urb;
    uint64_t parcel;
    int urban_kind;      /* 0 roof, 1 asphalt, 2 concrete, 3 garden */
};

static void px_setup(const struct imagery_ctx *x, double px, double py, double res, int dither, struct px *p)
{
    const struct syn_world *w = x->w;
    uint64_t seed = w->seed;
    double lx = px, ly = py;
    if (dither) {
        lx += 18.0 * gpn__syn_noise(seed ^ SP_DITHER, px / 60.0, py / 60.0);
        ly += 18.0 * gpn__syn_noise(seed ^ (SP_DITHER + 1), px / 60.0, py / 60.0);
    }
    size_t c = cell_clamped(w, lx, ly);
    p->cell = c;
    p->sfc = w->sfc[c];
    const struct sfc_spec *sp = &SPEC[p->sfc];
    p->veg = sp->veg;
    p->bg = sp->bg;
    p->g = sp->g;
    p->fire = x->fire[c];
    p->urb = x->urb[c];
    p->parcel = 0;
    p->depth = 0.f;
    p->bgmix = 1.f - w->sub[c];
    float t1 = gpn__syn_fbm(seed ^ SP_TEXTURE, px, py, 120.0, 2, 0.5f);
    /* Pixel-scale texture only for Sentinel-2: at Landsat's 30 m the
     * 120 m term carries the texture, and a smooth stack compresses
     * several times faster. */
    float t2 = dither ? gpn__syn_noise(seed ^ (SP_TEXTURE + 7), px / (2.5 * res), py / (2.5 * res)) : 0.f;
    p->bright = 1.f + sp->tex * (1.6f * t1 + 0.8f * t2);
    p->gfac = 1.f + sp->gtex * (2.0f * t1 + 0.6f * t2);
    switch (p->sfc) {
    case SFC_CROP_ARABLE:
    case SFC_CROP_VINE:
    case SFC_CROP_ORCHARD:
    case SFC_CROP_FALLOW: {
        /* Field parcels at pixel level: straight edges, one crop each. */
        p->parcel = gpn__syn_parcel(seed, px, py);
        uint8_t ct = gpn__syn_crop_type(p->parcel, w->med);
        p->sfc = ct == SYN_CROP_VINE ? SFC_CROP_VINE : ct == SYN_CROP_ORCHARD ? SFC_CROP_ORCHARD
                 : ct == SYN_CROP_FALLOW                                       ? SFC_CROP_FALLOW
                                                                               : SFC_CROP_ARABLE;
        sp = &SPEC[p->sfc];
        p->veg = sp->veg;
        p->bg = sp->bg;
        p->g = sp->g;
        float pu = (float)syn_u01(syn_mix(p->parcel ^ 0x77ull));
        p->gfac = (0.75f + 0.5f * pu) * (1.f + 0.08f * t2);
        p->bright = (0.9f + 0.2f * (float)syn_u01(syn_mix(p->parcel ^ 0x99ull))) * (1.f + 0.03f * t2);
        break;
    }
    case SFC_SEA: {
        float d = -w->dcoast[c];
        p->depth = clampf(d / 3000.f, 0.f, 1.f);
        break;
    }
    case SFC_URBAN_DENSE:
    case SFC_URBAN_RES: {
        /* Urban fabric on a 20 m block lattice. */
        int64_t bi = (int64_t)floor(px / 20.0), bj = (int64_t)floor(py / 20.0);
        double u = syn_u01(syn_hash(seed, SP_S2, (uint64_t)bi, (uint64_t)bj));
        if (p->sfc == SFC_URBAN_DENSE) p->urban_kind = u < 0.55 ? 0 : u < 0.8 ? 1 : u < 0.92 ? 2 : 3;
        else p->urban_kind = u < 0.40 ? 0 : u < 0.52 ? 1 : u < 0.58 ? 2 : 3;
        p->bright = 0.85f + 0.3f * (float)syn_u01(syn_mix((uint64_t)bi * 31 + (uint64_t)bj));
        break;
    }
    default: break;
    }
}

/* Reflectance of a pixel in 6 bands at quarter q (0..3) of year y (0..20);
 * q < 0 gives the Sentinel-2 composite (summer, last year, no haze). */
static void px_refl(const struct imagery_ctx *x, const struct px *p, int q, int y, float illum, float out[6])
{
    const struct syn_world *w = x->w;
    uint8_t sfc = p->sfc;
    const float *veg = p->veg, *bg = p->bg, *gp = p->g;
    float g;
    int yy = q < 0 ? SYN_LS_YEARS - 1 : y;
    /* Town edges were farmland before they were built. */
    if ((sfc == SFC_URBAN_RES || sfc == SFC_URBAN_DENSE) && p->urb && yy < p->urb) {
        sfc = SFC_CROP_ARABLE;
        veg = SPEC[sfc].veg;
        bg = SPEC[sfc].bg;
        gp = SPEC[sfc].g;
    }
    if (sfc == SFC_SEA || sfc == SFC_WATER) {
        const float *base = sfc == SFC_SEA ? SEA : WATER;
        for (int b = 0; b < 6; b++) {
            float v = base[b] * p->bright;
            if (sfc == SFC_SEA) v += (1.f - p->depth) * (b < 3 ? 0.03f : 0.004f);
            out[b] = v;
        }
        return;
    }
    if (sfc == SFC_URBAN_DENSE || sfc == SFC_URBAN_RES) {
        if (p->urban_kind != 3) {
            const float *m = p->urban_kind == 0 ? ROOF : p->urban_kind == 1 ? ASPHALT : CONCRETE;
            for (int b = 0; b < 6; b++) out[b] = m[b] * p->bright * illum;
            return;
        }
        veg = VEG_BROAD;
        bg = SOIL_DARK;
        gp = SPEC[SFC_GRASS_MOIST].g;
    }
    if (q < 0) g = 0.5f * (gp[1] + gp[2]);
    else g = gp[q];
    if (sfc == SFC_CROP_ARABLE && q >= 0 && p->parcel) {
        /* Rotation: some parcels carry a summer crop in a given year. */
        if (syn_u01(syn_hash(w->seed, SP_LANDSAT, p->parcel, (uint64_t)yy)) < 0.35) g = G_SUMMER_CROP[q];
    }
    const struct sfc_spec *sp = &SPEC[sfc];
    if (q >= 0) {
        g *= 1.f + sp->rain * x->pq[yy * 4 + q];
        if (sfc == SFC_FOREST_DEC || sfc == SFC_FOREST_EVG || sfc == SFC_FOREST_CON) g *= 1.f + 0.004f * (yy - 10);
    }
    g *= p->gfac;
    int burnt_now = 0;
    if (p->fire && yy >= p->fire) {
        float age = (float)(yy - p->fire);
        g *= 1.f - 0.85f * expf(-age / 3.5f);
        burnt_now = age < 1.5f;
    }
    g = clampf(g, 0.f, 1.f);
    /* Scrub and fields show the soil of their substrate. */
    float bgv[6];
    if (bg == SOIL_LIGHT) {
        for (int b = 0; b < 6; b++) bgv[b] = SOIL_LIGHT[b] + p->bgmix * (SOIL_DARK[b] - SOIL_LIGHT[b]);
        bg = bgv;
    }
    for (int b = 0; b < 6; b++) {
        float base = burnt_now ? CHAR[b] : bg[b];
        out[b] = ((1.f - g) * base + g * veg[b]) * p->bright * illum;
    }
}

/* ==== writing ============================================================== */

static int write_cog(const char *path, int W, int H, int bands, const double gt[6], const void *data,
                     const char *const *desc, struct gpn_err *err)
{
    struct gpn_cog_opts o;
    memset(&o, 0, sizeof o);
    o.width = W;
    o.height = H;
    o.bands = bands;
    o.dtype = GPN_DT_U8;
    memcpy(o.gt, gt, sizeof o.gt);
    o.epsg = 3035;
    /* ZSTD: as small as DEFLATE here, faster both ways. Block 512: one
     * block holds the whole cube of 512 x 512 pixels. The Landsat stack
     * has no overviews: it is a model input read at full resolution, and
     * GDAL 3.6's overview pass over 504 pixel-interleaved bands costs
     * several times the compression itself (default region at 30 m: ~300 s
     * of CPU with overviews). It is written without predictor and at ZSTD
     * level 6 (measured on a 768 x 768 x 504 crop: predictor + level 9
     * 16.8 s CPU, 58 MB; no predictor, level 9 12.4 s, 40 MB; level 6
     * 7.1 s, 43 MB). Sentinel-2 keeps the defaults and its overviews (it
     * is the backdrop people look at). */
    o.compress = "ZSTD";
    o.blocksize = syn_blocksize(W, H);
    o.band_desc = desc;
    if (bands > 4) {
        o.no_overviews = 1;
        o.no_predictor = 1;
        o.level = 6;
    }
    return gpn_cog_write(path, &o, data, err);
}

/* Pixel span [k0, k1) on the global res lattice of the tile chunk [a0, a1)
 * inside region [R0, R1) (centre rule, edge tiles take partial pixels). */
static void axis_span(double a0, double a1, double R0, double R1, double res, int64_t *k0, int64_t *k1)
{
    *k0 = a0 <= R0 ? (int64_t)floor(R0 / res + 1e-9) : (int64_t)ceil((a0 - 0.5 * res) / res - 1e-9);
    *k1 = a1 >= R1 ? (int64_t)ceil(R1 / res - 1e-9) : (int64_t)ceil((a1 - 0.5 * res) / res - 1e-9);
}

static void draw_roads(const struct syn_world *w, uint8_t *img, int W, int H, double ox, double oy, double res)
{
    size_t plane = (size_t)W * H;
    for (size_t k = 0; k < w->nsegs; k++) {
        const struct syn_seg *s = &w->segs[k];
        double minx = fmin(s->x0, s->x1), maxx = fmax(s->x0, s->x1), miny = fmin(s->y0, s->y1), maxy = fmax(s->y0, s->y1);
        if (maxx < ox - 20 || minx > ox + W * res + 20 || maxy < oy - H * res - 20 || miny > oy + 20) continue;
        double dx = s->x1 - s->x0, dy = s->y1 - s->y0, len = hypot(dx, dy);
        int steps = (int)(len / (0.4 * res)) + 1;
        double nx = len > 0 ? -dy / len : 0, ny = len > 0 ? dx / len : 0;
        int width = s->major ? 2 : 1;
        for (int t = 0; t <= steps; t++) {
            double px = s->x0 + dx * t / steps, py = s->y0 + dy * t / steps;
            for (int m = 0; m < width; m++) {
                double qx = px + nx * m * res * 0.8, qy = py + ny * m * res * 0.8;
                int64_t cell = syn_cell_at(w, qx, qy);
                if (cell < 0 || !w->land[cell] || w->lc[cell] == GPN_SYNTH_LC_WATER) continue;
                int c = (int)floor((qx - ox) / res), r = (int)floor((oy - qy) / res);
                if (c < 0 || c >= W || r < 0 || r >= H) continue;
                for (int b = 0; b < 4; b++) {
                    float v = ASPHALT[b == 3 ? B_NIR : b] * (s->major ? 1.0f : 1.25f);
                    img[(size_t)b * plane + (size_t)r * W + c] = (uint8_t)lrintf(255.f * powf(v, 0.4f));
                }
            }
        }
    }
}

/* ==== making and writing images ============================================ */

struct syn_imagery {
    struct imagery_ctx x;
    char *descbuf;           /* (504, 24) Landsat band descriptions */
    const char **desc;       /* (504) */
};

int gpn__syn_imagery_begin(const struct syn_world *w, struct syn_imagery **out, struct gpn_err *err)
{
    static const char *const BN[6] = {"red", "green", "blue", "nir", "swir1", "swir2"};
    const int NB = SYN_LS_BANDS * 4 * SYN_LS_YEARS;
    struct syn_imagery *im = calloc(1, sizeof *im);
    *out = NULL;
    if (!im) return gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (imagery)");
    int rc = ctx_init(&im->x, w, err);
    im->descbuf = malloc((size_t)NB * 24);
    im->desc = malloc((size_t)NB * sizeof *im->desc);
    if (!rc && (!im->descbuf || !im->desc)) rc = gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (imagery)");
    if (rc) {
        gpn__syn_imagery_end(im);
        return rc;
    }
    for (int b = 0; b < SYN_LS_BANDS; b++)
        for (int q = 0; q < 4; q++)
            for (int y = 0; y < SYN_LS_YEARS; y++) {
                int k = (b * 4 + q) * SYN_LS_YEARS + y;
                snprintf(im->descbuf + (size_t)k * 24, 24, "%s_q%d_%d", BN[b], q + 1, SYN_YEAR0 + y);
                im->desc[k] = im->descbuf + (size_t)k * 24;
            }
    *out = im;
    return 0;
}

void gpn__syn_imagery_end(struct syn_imagery *im)
{
    if (!im) return;
    ctx_free(&im->x);
    free(im->descbuf);
    free(im->desc);
    free(im);
}

void gpn__syn_image_free(struct syn_image *img)
{
    free(img->data);
    img->data = NULL;
}

int gpn__syn_sentinel_make(const struct syn_imagery *im, double tx0, double ty0, double tx1, double ty1,
                           struct syn_image *img, struct gpn_err *err)
{
    const struct imagery_ctx *x = &im->x;
    const struct syn_world *w = x->w;
    double res = w->o->s2_res;
    int W = (int)lround((tx1 - tx0) / res), H = (int)lround((ty1 - ty0) / res);
    size_t plane = (size_t)W * H;
    memset(img, 0, sizeof *img);
    img->data = malloc(4 * plane);
    if (!img->data) return gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (Sentinel-2 image of %d x %d)", W, H);
    uint8_t *d = img->data;
    const float *il = x->illum;
#pragma omp parallel for schedule(dynamic, 16)
    for (int r = 0; r < H; r++)
        for (int c = 0; c < W; c++) {
            double px = tx0 + (c + 0.5) * res, py = ty1 - (r + 0.5) * res;
            struct px p;
            px_setup(x, px, py, res, 1, &p);
            float illum = p.sfc == SFC_SEA || p.sfc == SFC_WATER ? 1.f : layer_bilinear(w, il, px, py);
            float refl[6];
            px_refl(x, &p, -1, 0, illum, refl);
            uint64_t h = syn_hash(w->seed, SP_S2, (uint64_t)(int64_t)floor(px), (uint64_t)(int64_t)floor(py));
            for (int b = 0; b < 4; b++) {
                float v = clampf(refl[b], 0.f, 1.f);
                int n = (int)((h >> (8 * b)) & 3);
                float dn = 255.f * powf(v, 0.4f) + (n == 0 ? -0.7f : n == 3 ? 0.7f : 0.f);
                d[(size_t)b * plane + (size_t)r * W + c] = (uint8_t)clampf(lrintf(dn), 0.f, 255.f);
            }
        }
    draw_roads(w, d, W, H, tx0, ty1, res);
    img->W = W;
    img->H = H;
    img->bands = 4;
    double gt[6] = {tx0, res, 0, ty1, 0, -res};
    memcpy(img->gt, gt, sizeof gt);
    return 0;
}

int gpn__syn_landsat_make(const struct syn_imagery *im, double tx0, double ty0, double tx1, double ty1,
                          struct syn_image *img, struct gpn_err *err)
{
    const struct imagery_ctx *x = &im->x;
    const struct syn_world *w = x->w;
    double res = w->o->landsat_res;
    int64_t kx0, kx1, ky0, ky1;
    axis_span(tx0, tx1, w->x0, w->x1, res, &kx0, &kx1);
    axis_span(ty0, ty1, w->y0, w->y1, res, &ky0, &ky1);
    int W = (int)(kx1 - kx0), H = (int)(ky1 - ky0);
    const int NB = SYN_LS_BANDS * 4 * SYN_LS_YEARS;
    memset(img, 0, sizeof *img);
    if (W <= 0 || H <= 0) return gpn_err_set(err, GPN_EINVAL, "synth: empty Landsat area");
    size_t plane = (size_t)W * H;
    img->data = malloc((size_t)NB * plane);
    if (!img->data)
        return gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (Landsat image of %d x %d x %d)", W, H, NB);
    uint8_t *d = img->data;
    int fail = 0;
#pragma omp parallel
    {
        uint8_t *rowbuf = malloc((size_t)NB * W);
        if (!rowbuf) {
#pragma omp atomic write
            fail = 1;
        }
#pragma omp for schedule(dynamic, 4)
        for (int r = 0; r < H; r++) {
            if (!rowbuf) continue;
            double py = (ky1 - r - 0.5) * res;
            for (int c = 0; c < W; c++) {
                double px = (kx0 + c + 0.5) * res;
                struct px p;
                px_setup(x, px, py, res, 0, &p);
                int water = p.sfc == SFC_SEA || p.sfc == SFC_WATER;
                float il[4];
                for (int q = 0; q < 4; q++)
                    il[q] = water ? 1.f : layer_bilinear(w, x->illum + (size_t)(q + 1) * w->N, px, py);
                int cgc = (int)((px - w->x0) / 250.0), cgr = (int)((w->y1 - py) / 250.0);
                if (cgc < 0) cgc = 0;
                if (cgr < 0) cgr = 0;
                if (cgc >= x->cgW) cgc = x->cgW - 1;
                if (cgr >= x->cgH) cgr = x->cgH - 1;
                for (int y = 0; y < SYN_LS_YEARS; y++)
                    for (int q = 0; q < 4; q++) {
                        float refl[6];
                        px_refl(x, &p, q, y, il[q], refl);
                        float haze = x->cloud[((size_t)(y * 4 + q) * x->cgH + cgr) * x->cgW + cgc];
                        for (int b = 0; b < SYN_LS_BANDS; b++) {
                            float v = refl[b];
                            if (haze > 0.f) v = v * (1.f - 0.6f * haze) + haze * (b < 3 ? 0.35f : 0.30f);
                            float dn = 250.f * v;
                            rowbuf[(size_t)((b * 4 + q) * SYN_LS_YEARS + y) * W + c] =
                                (uint8_t)clampf(lrintf(dn), 0.f, 255.f);
                        }
                    }
            }
            for (int k = 0; k < NB; k++) memcpy(d + (size_t)k * plane + (size_t)r * W, rowbuf + (size_t)k * W, (size_t)W);
        }
        free(rowbuf);
    }
    if (fail) {
        gpn__syn_image_free(img);
        return gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (Landsat rows)");
    }
    img->W = W;
    img->H = H;
    img->bands = NB;
    double gt[6] = {kx0 * res, res, 0, ky1 * res, 0, -res};
    memcpy(img->gt, gt, sizeof gt);
    return 0;
}

int gpn__syn_image_write(const struct syn_imagery *im, const char *path, const struct syn_image *img,
                         struct gpn_err *err)
{
    static const char *const S2[4] = {"red", "green", "blue", "nir"};
    const char *const *desc = img->bands == 4 ? S2 : im->desc;
    return write_cog(path, img->W, img->H, img->bands, img->gt, img->data, desc, err);
}

int gpn__syn_imagery_tiled(struct syn_world *w, const struct syn_imagery *im, const char *out_dir,
                           struct gpn_err *err)
{
    size_t nt = w->ntiles;
    char **s2p = calloc(nt, sizeof *s2p), **lsp = calloc(nt, sizeof *lsp);
    int rc = 0;
    if (!s2p || !lsp) {
        rc = gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (imagery)");
        goto done;
    }
    char dir[1200];
    if (gpn_path_join(dir, sizeof dir, out_dir, "inputs/sentinel2") || (rc = gpn_mkdir_p(dir, err))) goto paths;
    if (gpn_path_join(dir, sizeof dir, out_dir, "inputs/landsat") || (rc = gpn_mkdir_p(dir, err))) goto paths;
    for (size_t t = 0; t < nt; t++) {
        char id[GPN_TILE_ID_MAX], rel[128];
        gpn_tile_format(w->tiles[t], id, sizeof id);
        s2p[t] = malloc(1200);
        lsp[t] = malloc(1200);
        if (!s2p[t] || !lsp[t]) {
            rc = gpn_err_set(err, GPN_ENOMEM, "synth: out of memory");
            goto done;
        }
        snprintf(rel, sizeof rel, "inputs/sentinel2/%s.tif", id);
        if (gpn_path_join(s2p[t], 1200, out_dir, rel)) goto paths;
        snprintf(rel, sizeof rel, "inputs/landsat/%s.tif", id);
        if (gpn_path_join(lsp[t], 1200, out_dir, rel)) goto paths;
    }
    struct gpn_progress prog;
    gpn_progress_init(&prog, "imagery", (int64_t)nt, "tiles");
    if (!w->o->progress) prog.enabled = 0;
    int trc = 0;
    struct gpn_err terr = {0};
    /* One tile per thread (inner loops run serially): both cores compress. */
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t t = 0; t < nt; t++) {
        int skip;
#pragma omp atomic read
        skip = trc;
        if (skip) continue;
        double bx0, by0, bx1, by1;
        gpn_tile_bounds(w->tiles[t], &bx0, &by0, &bx1, &by1);
        double tx0 = fmax(bx0, w->x0), ty0 = fmax(by0, w->y0), tx1 = fmin(bx1, w->x1), ty1 = fmin(by1, w->y1);
        struct gpn_err e = {0};
        struct syn_image img;
        int r2 = gpn__syn_sentinel_make(im, tx0, ty0, tx1, ty1, &img, &e);
        if (!r2) {
            r2 = gpn__syn_image_write(im, s2p[t], &img, &e);
            gpn__syn_image_free(&img);
        }
        if (!r2) r2 = gpn__syn_landsat_make(im, tx0, ty0, tx1, ty1, &img, &e);
        if (!r2) {
            r2 = gpn__syn_image_write(im, lsp[t], &img, &e);
            gpn__syn_image_free(&img);
        }
        if (r2) {
#pragma omp critical(syn_imagery_err)
            {
                if (!trc) {
                    trc = r2;
                    terr = e;
                }
            }
        }
        gpn_progress_add(&prog, 1);
    }
    gpn_progress_finish(&prog);
    if (trc) {
        rc = trc;
        *err = terr;
        goto done;
    }
    char vrt[1200];
    if (gpn_path_join(vrt, sizeof vrt, out_dir, "inputs/sentinel2.vrt")) goto paths;
    rc = gpn_vrt_build(vrt, (const char *const *)s2p, (int)nt, err);
    if (rc) goto done;
    if (gpn_path_join(vrt, sizeof vrt, out_dir, "inputs/landsat.vrt")) goto paths;
    rc = gpn_vrt_build(vrt, (const char *const *)lsp, (int)nt, err);
    goto done;
paths:
    if (!rc) rc = gpn_err_set(err, GPN_ETOOBIG, "synth: output path too long under %s", out_dir);
done:
    if (s2p)
        for (size_t t = 0; t < nt; t++) free(s2p[t]);
    if (lsp)
        for (size_t t = 0; t < nt; t++) free(lsp[t]);
    free(s2p);
    free(lsp);
    return rc;
}
