/*
 * synth_climate.c - climate of the synthetic region: long-term normals per
 * 50 m cell (what the species respond to) and the monthly 1 km cube of
 * 4 variables x 19 years x 12 months (what the SDM sees, as in GeoPlant's
 * CHELSA-derived climate cubes).
 *
 * Model (docs/synthetic.md, "Climate"; all constants below):
 *   annual mean T = T_sl(lat) - lapse * elevation - inland cooling
 *   monthly mean T = annual mean - A * cos(2 pi (month + 0.5 - 0.55) / 12)
 *                    + warming trend * (year - 2009) + regional anomaly
 *                    (year, month) + smooth 40 km anomaly field + noise
 *   Tmin / Tmax = monthly mean -/+ DTR / 2, DTR larger inland and in summer
 *   annual P = P0 + orographic gain * elevation + large-scale noise
 *   monthly P = annual P * seasonal fraction (Mediterranean profile blended
 *               with a temperate one by latitude) * lognormal anomaly
 * The cube's long-term monthly means therefore match the 50 m normals
 * aggregated to 1 km, and inter-annual variation is shared across the
 * region (as real weather is) with a weaker local component.
 *
 * Cube layout (inputs/climate.tif): band index (1-based) =
 *   1 + (var * 19 + year) * 12 + month, var 0..3 = tmean, tmin, tmax (deg C),
 *   precipitation (mm/month); year 0 = 2000; month 0 = January.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synth_priv.h"

#define T_SL_REF 15.4         /* deg C at sea level at lat 43.6 */
#define T_LAT_GRAD 0.62       /* deg C per degree of latitude */
#define LAPSE 0.0062          /* deg C per m */
#define TREND_T 0.045         /* deg C per year */
#define TREND_P (-0.004)      /* log precipitation per year */
#define T_ANOM_SD 1.1         /* regional monthly anomaly, deg C */
#define P_ANOM_SD 0.55        /* regional monthly log anomaly */
#define P0 640.0              /* mm/year on the Mediterranean coast */
#define P_OROG 0.8            /* mm/year per m of elevation */

static const double PFRAC_MED[12] = {0.085, 0.070, 0.060, 0.085, 0.070, 0.045, 0.025, 0.045, 0.120, 0.160, 0.125, 0.115};
static const double PFRAC_TEMP[12] = {0.080, 0.070, 0.075, 0.075, 0.090, 0.090, 0.085, 0.085, 0.080, 0.090, 0.090, 0.090};

double gpn__syn_precip_frac(int month, double med)
{
    double sm = 0, st = 0;
    for (int k = 0; k < 12; k++) {
        sm += PFRAC_MED[k];
        st += PFRAC_TEMP[k];
    }
    return med * PFRAC_MED[month] / sm + (1.0 - med) * PFRAC_TEMP[month] / st;
}

void gpn__syn_climate_anomalies(struct syn_world *w)
{
    for (int y = 0; y < SYN_LS_YEARS; y++)
        for (int m = 0; m < 12; m++) {
            struct syn_rng r = syn_rng_make(w->seed, SP_CLIM_T, (uint64_t)y, (uint64_t)m);
            w->tanom[y * 12 + m] = (float)(T_ANOM_SD * syn_rng_normal(&r));
            w->panom[y * 12 + m] = (float)(P_ANOM_SD * syn_rng_normal(&r));
        }
}

/* Latitude of EPSG:3035 (x, y) near the region centre: the grid is
 * nearly north-up there, and 1 degree of latitude is ~111.2 km. */
static double approx_lat(const struct syn_world *w, double y)
{
    return w->lat_c + (y - 0.5 * (w->y0 + w->y1)) / 111200.0;
}

static double inland(float dcoast_m)
{
    double dk = dcoast_m > 0.f ? dcoast_m / 1000.0 : 0.0;
    return 1.0 - exp(-dk / 20.0);
}

void gpn__syn_climate_normals(struct syn_world *w, size_t c, double x, double y, float elev, float dcoast_m,
                              float *tann, float *pann)
{
    (void)c;
    double lat = approx_lat(w, y);
    double t = T_SL_REF - T_LAT_GRAD * (lat - 43.6) - LAPSE * elev - 0.4 * inland(dcoast_m);
    double p = P0 + 250.0 * (1.0 - w->mfac) + P_OROG * elev +
               140.0 * gpn__syn_fbm(w->seed ^ SP_CLIM_P, x, y, 40000.0, 2, 0.5f) + 60.0 * inland(dcoast_m);
    *tann = (float)t;
    *pann = (float)(p < 150.0 ? 150.0 : p);
}

/* Seasonal half-amplitude of monthly mean temperature. */
static double season_amp(const struct syn_world *w, float dcoast_m)
{
    return 7.6 + 3.0 * inland(dcoast_m) + 0.05 * (w->lon_c > 5.0 ? w->lon_c - 5.0 : 0.0);
}

int gpn__syn_climate_cube(struct syn_world *w, struct gpn_err *err)
{
    w->cW = w->W / 20;
    w->cH = w->H / 20;
    size_t np = (size_t)w->cW * w->cH;
    size_t nb = (size_t)SYN_CL_VARS * SYN_CL_YEARS * 12;
    w->clim = malloc(nb * np * sizeof *w->clim);
    if (!w->clim) return gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (climate cube)");
#pragma omp parallel for schedule(dynamic, 1)
    for (int py = 0; py < w->cH; py++) {
        for (int px = 0; px < w->cW; px++) {
            /* Aggregate the 20 x 20 cells of the pixel: mean land elevation
             * and distance to coast; the pixel centre for the rest. */
            double se = 0, sd = 0;
            int nl = 0;
            for (int r = py * 20; r < py * 20 + 20; r++)
                for (int c = px * 20; c < px * 20 + 20; c++) {
                    size_t i = (size_t)r * w->W + c;
                    if (!w->land[i]) continue;
                    se += w->elev[i];
                    sd += w->dcoast[i];
                    nl++;
                }
            double elev = nl ? se / nl : 0.0;
            float dco = nl ? (float)(sd / nl) : 0.f;
            double x = w->x0 + (px + 0.5) * 1000.0, y = w->y1 - (py + 0.5) * 1000.0;
            float tann, pann;
            gpn__syn_climate_normals(w, 0, x, y, (float)elev, dco, &tann, &pann);
            double amp = season_amp(w, dco);
            double dtr0 = 7.0 + 4.0 * (1.0 - exp(-(dco > 0 ? dco : 0) / 12000.0)) + elev / 600.0;
            size_t p = (size_t)py * w->cW + px;
            for (int yr = 0; yr < SYN_CL_YEARS; yr++)
                for (int m = 0; m < 12; m++) {
                    int ym = yr * 12 + m;
                    uint64_t fk = w->seed ^ (SP_CLIM_FIELD + 0x10000ull * (uint64_t)ym);
                    double ft = 0.45 * gpn__syn_fbm(fk, x, y, 40000.0, 2, 0.5f);
                    double fp = 0.18 * gpn__syn_fbm(fk ^ 0xABCDEFull, x, y, 40000.0, 2, 0.5f);
                    struct syn_rng r = syn_rng_make(w->seed, SP_CLIM_NOISE, p, (uint64_t)ym);
                    double season = -amp * cos(2.0 * SYN_PI * (m + 0.5 - 0.55) / 12.0);
                    double tmean = tann + season + TREND_T * (yr - 9) + w->tanom[ym] + ft + 0.12 * syn_rng_normal(&r);
                    double summer = 0.5 - 0.5 * cos(2.0 * SYN_PI * (m + 0.5 - 0.55) / 12.0);
                    double dtr = dtr0 + 3.0 * summer + 0.4 * syn_rng_normal(&r);
                    double pf = gpn__syn_precip_frac(m, w->mfac);
                    double lp = w->panom[ym] + fp + TREND_P * (yr - 9) + 0.08 * syn_rng_normal(&r);
                    double prec = pann * pf * exp(lp - 0.5 * (P_ANOM_SD * P_ANOM_SD + 0.18 * 0.18 * 0.1));
                    w->clim[((size_t)(0 * SYN_CL_YEARS + yr) * 12 + m) * np + p] = (float)tmean;
                    w->clim[((size_t)(1 * SYN_CL_YEARS + yr) * 12 + m) * np + p] = (float)(tmean - 0.5 * dtr);
                    w->clim[((size_t)(2 * SYN_CL_YEARS + yr) * 12 + m) * np + p] = (float)(tmean + 0.5 * dtr);
                    w->clim[((size_t)(3 * SYN_CL_YEARS + yr) * 12 + m) * np + p] = (float)prec;
                }
        }
    }
    return 0;
}
