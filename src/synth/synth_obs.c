/*
 * synth_obs.c - observations of the synthetic region: presence-absence
 * surveys, presence-only records and vegetation plots, drawn from the truth.
 *
 * PA surveys (geoplant/PA_metadata_train.csv): clustered in campaigns of
 * about 20 surveys (a campaign centre is drawn among land cells weighted by
 * land cover, as vegetation archives favour semi-natural vegetation;
 * surveys fall around it with a 1.5 km Gaussian spread). Each species is
 * present with its truth probability in the survey's cell (a Bernoulli draw
 * keyed by (seed, survey, species)). A survey that would list no species
 * is moved, up to 10 times. The point is uniform inside its 50 m cell.
 *
 * PO records (geoplant/PO_metadata_train.csv): visits placed by observer
 * effort (roads, towns and beaches attract people); at a visit each species
 * is recorded with probability 1 - exp(-lambda * p * popularity), lambda set
 * so that a visit yields ~2.5 records on average. Reported coordinates are
 * off by the stated geoUncertaintyInM (clipped to the region), and all
 * records of a visit share its surveyId, as GeoPlant groups PO records.
 *
 * Plots (plots/plots.csv): every PA survey plus n_plots more plots drawn the
 * same way, each with cover values (probability x growth-form weight x
 * lognormal, scaled to a total cover of 80-140 %) and the EUNIS L3 label
 * from the rule set applied to the plot's own dominant tree / helophyte.
 *
 * Every item (survey, visit, plot) is generated from its own key, in
 * parallel; then the kept items are numbered along a Z-order curve of their
 * cells (surveyId 1.. for PA, then the extra plots, 100000000.. for PO
 * visits), so that a reader following the ids touches each block of the
 * mosaics once. The files do not depend on threads.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpn/log.h"
#include "gpn/reproj.h"
#include "gpn/util.h"
#include "synth_priv.h"

#define CAMPAIGN_SIZE 20
#define CAMPAIGN_SD_M 1500.0
#define PO_RECORDS_PER_VISIT 2.5
#define PO_BATCH 4096
#define PO_ID0 100000000LL

struct item {
    int64_t id;           /* surveyId */
    size_t cell;
    double x, y;          /* true point, EPSG:3035 */
    double rx, ry;        /* reported point */
    double lon, lat;      /* of the reported point */
    int year;
    int unc;              /* geoUncertaintyInM */
    int area;             /* areaInM2, 0 = none */
    int n;                /* species */
    int32_t *sp;          /* (n) species indices, decreasing cover for plots */
    float *cover;         /* (n) percent cover, plots only */
    int hab;              /* habitat index or -1 */
    int ok;
};

static void item_free(struct item *it)
{
    free(it->sp);
    free(it->cover);
    it->sp = NULL;
    it->cover = NULL;
}

/* ==== sampling helpers ==================================================== */

static size_t cdf_pick(const double *cdf, size_t n, double u)
{
    double t = u * cdf[n - 1];
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cdf[mid] > t) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

/* Sampling weight of survey / plot locations by land cover. */
static double survey_weight(int lc)
{
    switch (lc) {
    case GPN_SYNTH_LC_FOREST: return 1.0;
    case GPN_SYNTH_LC_GRASSLAND: return 1.3;
    case GPN_SYNTH_LC_SCRUB: return 1.0;
    case GPN_SYNTH_LC_WETLAND: return 1.5;
    case GPN_SYNTH_LC_ROCK: return 0.4;
    case GPN_SYNTH_LC_CROPLAND: return 0.08;
    case GPN_SYNTH_LC_URBAN: return 0.03;
    default: return 0.0;
    }
}

static int plot_area(int lc, struct syn_rng *r)
{
    static const int FOREST[] = {100, 200, 400}, SCRUB[] = {50, 100}, GRASS[] = {10, 16, 25}, WET[] = {16, 25, 50},
                     ROCK[] = {10, 25}, CROP[] = {25, 100}, URB[] = {10, 25};
    uint64_t u = syn_rng_u64(r);
    switch (lc) {
    case GPN_SYNTH_LC_FOREST: return FOREST[u % 3];
    case GPN_SYNTH_LC_SCRUB: return SCRUB[u % 2];
    case GPN_SYNTH_LC_GRASSLAND: return GRASS[u % 3];
    case GPN_SYNTH_LC_WETLAND: return WET[u % 3];
    case GPN_SYNTH_LC_ROCK: return ROCK[u % 2];
    case GPN_SYNTH_LC_CROPLAND: return CROP[u % 2];
    default: return URB[u % 2];
    }
}

/* A point uniform inside cell c, 1 m away from its edges. */
static void point_in_cell(const struct syn_world *w, size_t c, struct syn_rng *r, double *x, double *y)
{
    int col = (int)(c % (size_t)w->W), row = (int)(c / (size_t)w->W);
    *x = w->x0 + col * SYN_CELL + 1.0 + (SYN_CELL - 2.0) * syn_rng_u01(r);
    *y = w->y1 - (row + 1) * SYN_CELL + 1.0 + (SYN_CELL - 2.0) * syn_rng_u01(r);
}

/* Growth-form weight of a species' cover in a cell's land cover. */
static double cover_weight(const struct syn_species *s, int lc)
{
    switch (s->group) {
    case SYN_G_TREE: return lc == GPN_SYNTH_LC_FOREST ? 6.0 : 2.0;
    case SYN_G_SHRUB: return lc == GPN_SYNTH_LC_SCRUB ? 3.0 : 1.5;
    case SYN_G_HELO: return lc == GPN_SYNTH_LC_WETLAND ? 4.0 : 1.0;
    default: return 1.0;
    }
}

struct cover_ent {
    float cover;
    int32_t sp;
    int32_t id;
};

static int cmp_cover(const void *a, const void *b)
{
    const struct cover_ent *x = a, *y = b;
    if (x->cover != y->cover) return x->cover > y->cover ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Draws presences at it->cell (and cover when want_cover). Returns -1 on
 * allocation failure, else the number of species. */
static int draw_assemblage(const struct syn_world *w, struct item *it, uint64_t purpose, int want_cover,
                           struct cover_ent *scratch)
{
    int n = 0;
    for (int s = 0; s < w->ns; s++) {
        float p = syn_p(w, &w->sp[s], it->cell);
        if (p <= 0.f) continue;
        if (syn_u01(syn_hash(w->seed, purpose, (uint64_t)it->id, (uint64_t)w->sp[s].id)) < p) {
            scratch[n].sp = s;
            scratch[n].id = w->sp[s].id;
            scratch[n].cover = p;
            n++;
        }
    }
    it->n = n;
    if (n == 0) return 0;
    it->sp = malloc((size_t)n * sizeof *it->sp);
    if (!it->sp) return -1;
    if (want_cover) {
        it->cover = malloc((size_t)n * sizeof *it->cover);
        if (!it->cover) return -1;
        struct syn_rng r = syn_rng_make(w->seed, SP_COVER, (uint64_t)it->id, 0);
        double tot = 0;
        int lc = w->lc[it->cell];
        for (int k = 0; k < n; k++) {
            double v = scratch[k].cover * cover_weight(&w->sp[scratch[k].sp], lc) * exp(1.0 * syn_rng_normal(&r));
            scratch[k].cover = (float)v;
            tot += v;
        }
        double target = syn_rng_range(&r, 80.0, 140.0);
        for (int k = 0; k < n; k++) {
            float cv = (float)(round(10.0 * scratch[k].cover * target / tot) / 10.0);
            scratch[k].cover = cv < 0.1f ? 0.1f : cv;
        }
        qsort(scratch, (size_t)n, sizeof *scratch, cmp_cover);
        int tree = -1, helo = -1;
        for (int k = 0; k < n; k++) {
            it->sp[k] = scratch[k].sp;
            it->cover[k] = scratch[k].cover;
            const struct syn_species *s = &w->sp[scratch[k].sp];
            if (tree < 0 && s->group == SYN_G_TREE) tree = scratch[k].sp;
            if (helo < 0 && s->group == SYN_G_HELO) helo = scratch[k].sp;
        }
        it->hab = gpn__syn_habitat_rule(w, it->cell, tree, helo);
    } else {
        for (int k = 0; k < n; k++) it->sp[k] = scratch[k].sp;
    }
    return n;
}

/* ==== PA surveys and plots ================================================= */

/* Draws survey-like items [i0, i1) (ids id0 + index) around campaign
 * centres drawn from cdf. Every item gets its assemblage and cover. */
static int draw_surveys(const struct syn_world *w, struct item *items, int64_t n, int64_t id0, uint64_t purpose,
                        uint64_t pres_purpose, const double *cdf)
{
    int64_t ncamp = n / CAMPAIGN_SIZE > 0 ? n / CAMPAIGN_SIZE : 1;
    int fail = 0;
#pragma omp parallel
    {
        struct cover_ent *scratch = malloc((size_t)w->ns * sizeof *scratch);
        if (!scratch) {
#pragma omp atomic write
            fail = 1;
        }
#pragma omp for schedule(dynamic, 16)
        for (int64_t i = 0; i < n; i++) {
            if (!scratch) continue;
            struct item *it = &items[i];
            memset(it, 0, sizeof *it);
            it->id = id0 + i;
            it->hab = -1;
            int64_t camp = (int64_t)(syn_hash(w->seed, purpose, (uint64_t)i, 1) % (uint64_t)ncamp);
            struct syn_rng cr = syn_rng_make(w->seed, purpose, (uint64_t)camp, 2);
            size_t centre = cdf_pick(cdf, w->N, syn_rng_u01(&cr));
            int year = 2017 + (int)(syn_rng_u64(&cr) % 5);
            double cx = syn_cx(w, (int)(centre % (size_t)w->W)), cy = syn_cy(w, (int)(centre / (size_t)w->W));
            struct syn_rng r = syn_rng_make(w->seed, purpose, (uint64_t)i, 3);
            for (int attempt = 0; attempt < 10; attempt++) {
                size_t cell = centre;
                int found = 0;
                for (int k = 0; k < 20; k++) {
                    double x = cx + CAMPAIGN_SD_M * syn_rng_normal(&r), y = cy + CAMPAIGN_SD_M * syn_rng_normal(&r);
                    int64_t c = syn_cell_at(w, x, y);
                    if (c >= 0 && survey_weight(w->lc[c]) > 0 &&
                        syn_rng_u01(&r) < survey_weight(w->lc[c]) / 1.5) {
                        cell = (size_t)c;
                        found = 1;
                        break;
                    }
                }
                if (!found) cell = cdf_pick(cdf, w->N, syn_rng_u01(&r));
                it->cell = cell;
                int got = draw_assemblage(w, it, pres_purpose + 0x1000000ull * (uint64_t)attempt, 1, scratch);
                if (got < 0) {
#pragma omp atomic write
                    fail = 1;
                    break;
                }
                if (got > 0) {
                    it->ok = 1;
                    break;
                }
            }
            if (!it->ok) continue;
            point_in_cell(w, it->cell, &r, &it->x, &it->y);
            it->rx = it->x;
            it->ry = it->y;
            it->year = year;
            static const int UNC[] = {5, 10, 10, 25, 50};
            it->unc = UNC[syn_rng_u64(&r) % 5];
            it->area = plot_area(w->lc[it->cell], &r);
        }
        free(scratch);
    }
    return fail ? -1 : 0;
}

/* ==== PO visits ============================================================= */

static double effort(const struct syn_world *w, size_t c)
{
    if (!w->land[c] || w->lc[c] == GPN_SYNTH_LC_WATER) return 0.0;
    double e = 0.02 + exp(-w->droad[c] / 250.0) + 1.5 * exp(-w->dtown[c] / 1200.0);
    if (w->sfc[c] == SFC_SAND) e += 0.8;
    return e;
}

/* Expected records at a cell for recording intensity lambda. */
static double expected_records(const struct syn_world *w, size_t c, double lambda)
{
    double s = 0;
    for (int k = 0; k < w->ns; k++) {
        double p = syn_p(w, &w->sp[k], c);
        if (p > 0) s += 1.0 - exp(-lambda * p * w->sp[k].pop);
    }
    return s;
}

static int draw_visit(const struct syn_world *w, struct item *it, int64_t v, double lambda, const double *cdf,
                      int32_t *scratch)
{
    memset(it, 0, sizeof *it);
    it->id = PO_ID0 + v;
    it->hab = -1;
    struct syn_rng r = syn_rng_make(w->seed, SP_PO_VISIT, (uint64_t)v, 0);
    it->cell = cdf_pick(cdf, w->N, syn_rng_u01(&r));
    int n = 0;
    for (int k = 0; k < w->ns; k++) {
        double p = syn_p(w, &w->sp[k], it->cell);
        if (p <= 0) continue;
        double q = 1.0 - exp(-lambda * p * w->sp[k].pop);
        if (syn_u01(syn_hash(w->seed, SP_PO_RECORD, (uint64_t)v, (uint64_t)w->sp[k].id)) < q) scratch[n++] = k;
    }
    it->n = n;
    if (n) {
        it->sp = malloc((size_t)n * sizeof *it->sp);
        if (!it->sp) return -1;
        memcpy(it->sp, scratch, (size_t)n * sizeof *scratch);
    }
    point_in_cell(w, it->cell, &r, &it->x, &it->y);
    double unc = 15.0 * exp(1.0 * syn_rng_normal(&r));
    if (unc < 3) unc = 3;
    if (unc > 2000) unc = 2000;
    it->unc = (int)lround(unc);
    it->rx = it->x + 0.5 * unc * syn_rng_normal(&r);
    it->ry = it->y + 0.5 * unc * syn_rng_normal(&r);
    if (it->rx < w->x0 + 1) it->rx = w->x0 + 1;
    if (it->rx > w->x1 - 1) it->rx = w->x1 - 1;
    if (it->ry < w->y0 + 1) it->ry = w->y0 + 1;
    if (it->ry > w->y1 - 1) it->ry = w->y1 - 1;
    it->year = 2017 + (int)(syn_rng_u64(&r) % 5);
    it->ok = n > 0;
    return 0;
}

/* ==== spatial order ========================================================== */

static uint64_t spread16(uint32_t v)
{
    uint64_t x = v & 0xFFFFu;
    x = (x | (x << 8)) & 0x00FF00FFull;
    x = (x | (x << 4)) & 0x0F0F0F0Full;
    x = (x | (x << 2)) & 0x33333333ull;
    x = (x | (x << 1)) & 0x55555555ull;
    return x;
}

struct order_key {
    uint64_t key;
    int64_t idx;
};

static int cmp_order(const void *a, const void *b)
{
    const struct order_key *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

/* Reorders the kept items along a Z-order curve of their cells and numbers
 * them id0, id0 + 1, ... in that order (dropped items go last, unnumbered).
 * Readers that follow the ids then walk the raster mosaics block by block
 * instead of at random. Returns -1 when out of memory. */
static int spatial_order(const struct syn_world *w, struct item *items, int64_t n, int64_t id0)
{
    if (n <= 0) return 0;
    struct order_key *k = malloc((size_t)n * sizeof *k);
    struct item *tmp = malloc((size_t)n * sizeof *tmp);
    if (!k || !tmp) {
        free(k);
        free(tmp);
        return -1;
    }
    for (int64_t i = 0; i < n; i++) {
        uint32_t row = (uint32_t)(items[i].cell / (size_t)w->W), col = (uint32_t)(items[i].cell % (size_t)w->W);
        k[i].key = items[i].ok ? (spread16(row) << 1 | spread16(col)) : UINT64_MAX;
        k[i].idx = i;
    }
    qsort(k, (size_t)n, sizeof *k, cmp_order);
    for (int64_t i = 0; i < n; i++) tmp[i] = items[k[i].idx];
    int64_t id = id0;
    for (int64_t i = 0; i < n; i++) {
        items[i] = tmp[i];
        if (items[i].ok) items[i].id = id++;
    }
    free(k);
    free(tmp);
    return 0;
}

/* ==== output =============================================================== */

static int to_lonlat(struct item *items, int64_t n, struct gpn_err *err)
{
    struct gpn_transform *t = NULL;
    int rc = gpn_transform_create("EPSG:3035", "EPSG:4326", &t, err);
    if (rc) return gpn_err_prefix(err, "synth");
    double *x = malloc((size_t)(n ? n : 1) * sizeof *x), *y = malloc((size_t)(n ? n : 1) * sizeof *y);
    if (!x || !y) {
        rc = gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (coordinates)");
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        x[i] = items[i].rx;
        y[i] = items[i].ry;
    }
    rc = gpn_transform_points(t, x, y, (size_t)n, err);
    if (rc) goto done;
    for (int64_t i = 0; i < n; i++) {
        items[i].lon = x[i];
        items[i].lat = y[i];
    }
done:
    free(x);
    free(y);
    gpn_transform_destroy(t);
    return rc;
}

static const char GEOPLANT_HEADER[] = "lon,lat,year,geoUncertaintyInM,areaInM2,region,country,speciesId,surveyId\n";

static int write_long(const struct syn_world *w, const char *path, const struct item *items, int64_t n, int with_area,
                      int64_t *rows, struct gpn_err *err)
{
    struct gpn_buf b = {0};
    gpn_buf_puts(&b, with_area ? GEOPLANT_HEADER
                               : "lon,lat,year,geoUncertaintyInM,region,country,speciesId,surveyId\n");
    int64_t nr = 0;
    int32_t *ids = malloc((size_t)(w->ns ? w->ns : 1) * sizeof *ids);
    if (!ids) return gpn_err_set(err, GPN_ENOMEM, "synth: out of memory");
    for (int64_t i = 0; i < n; i++) {
        const struct item *it = &items[i];
        if (!it->ok) continue;
        /* Rows of a survey in increasing speciesId order. */
        for (int k = 0; k < it->n; k++) ids[k] = w->sp[it->sp[k]].id;
        for (int a = 1; a < it->n; a++) {
            int32_t v = ids[a];
            int b2 = a - 1;
            while (b2 >= 0 && ids[b2] > v) {
                ids[b2 + 1] = ids[b2];
                b2--;
            }
            ids[b2 + 1] = v;
        }
        for (int k = 0; k < it->n; k++) {
            if (with_area)
                gpn_buf_printf(&b, "%.6f,%.6f,%d,%d,%d,%s,%s,%d.0,%" PRId64 "\n", it->lon, it->lat, it->year, it->unc,
                               it->area, w->bioregion, w->country, ids[k], it->id);
            else
                gpn_buf_printf(&b, "%.6f,%.6f,%d,%d,%s,%s,%d.0,%" PRId64 "\n", it->lon, it->lat, it->year, it->unc,
                               w->bioregion, w->country, ids[k], it->id);
            nr++;
        }
    }
    free(ids);
    if (b.oom) {
        gpn_buf_free(&b);
        return gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (%s)", path);
    }
    int rc = gpn_file_write_atomic(path, b.data, b.len, err);
    gpn_buf_free(&b);
    *rows = nr;
    return rc;
}

static int write_plots(const struct syn_world *w, const char *path, const struct item *pa, int64_t npa,
                       const struct item *pl, int64_t npl, int64_t *rows, struct gpn_err *err)
{
    struct gpn_buf b = {0};
    gpn_buf_puts(&b, "surveyId,source,lon,lat,x3035,y3035,year,landcover,habitat,n_species,species\n");
    int64_t nr = 0;
    for (int part = 0; part < 2; part++) {
        const struct item *items = part == 0 ? pa : pl;
        int64_t n = part == 0 ? npa : npl;
        for (int64_t i = 0; i < n; i++) {
            const struct item *it = &items[i];
            if (!it->ok) continue;
            gpn_buf_printf(&b, "%" PRId64 ",%s,%.6f,%.6f,%.1f,%.1f,%d,%s,%s,%d,", it->id, part == 0 ? "pa" : "plot",
                           it->lon, it->lat, it->x, it->y, it->year, gpn_synth_lc_name(w->lc[it->cell]),
                           it->hab >= 0 ? gpn_synth_habitat_code(it->hab) : "", it->n);
            for (int k = 0; k < it->n; k++)
                gpn_buf_printf(&b, "%s%d:%.1f", k ? " " : "", w->sp[it->sp[k]].id, (double)it->cover[k]);
            gpn_buf_puts(&b, "\n");
            nr++;
        }
    }
    if (b.oom) {
        gpn_buf_free(&b);
        return gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (%s)", path);
    }
    int rc = gpn_file_write_atomic(path, b.data, b.len, err);
    gpn_buf_free(&b);
    *rows = nr;
    return rc;
}

/* ==== the phase ============================================================ */

int gpn__syn_observations(struct syn_world *w, const char *out_dir, struct gpn_synth_result *res, struct gpn_err *err)
{
    const struct gpn_synth_opts *o = w->o;
    int64_t npa = o->n_surveys, npl = o->n_plots;
    int rc = 0;
    struct item *pa = calloc((size_t)(npa ? npa : 1), sizeof *pa);
    struct item *pl = calloc((size_t)(npl ? npl : 1), sizeof *pl);
    struct item *po = NULL;
    int64_t npo = 0, pocap = 0;
    double *cdf = malloc(w->N * sizeof *cdf);
    int32_t *scratch = NULL;
    char path[1200];
    if (!pa || !pl || !cdf) {
        rc = gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (observations)");
        goto done;
    }
    /* Survey location weights. */
    double tot = 0;
    for (size_t i = 0; i < w->N; i++) {
        tot += survey_weight(w->lc[i]);
        cdf[i] = tot;
    }
    if (tot <= 0) {
        rc = gpn_err_set(err, GPN_EINVAL, "synth: no land cell can hold a survey");
        goto done;
    }
    if (draw_surveys(w, pa, npa, 1, SP_PA_SURVEY, SP_PA_PRESENCE, cdf) ||
        draw_surveys(w, pl, npl, npa + 1, SP_PLOT, SP_PLOT_PRESENCE, cdf)) {
        rc = gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (surveys)");
        goto done;
    }
    /* PO: effort surface, then lambda for ~2.5 records per visit. */
    tot = 0;
    for (size_t i = 0; i < w->N; i++) {
        tot += effort(w, i);
        cdf[i] = tot;
    }
    double lo = -10, hi = 6;
    size_t probe[400];
    for (int k = 0; k < 400; k++) probe[k] = cdf_pick(cdf, w->N, syn_u01(syn_hash(w->seed, SP_PO_VISIT, (uint64_t)k, 99)));
    for (int it = 0; it < 40; it++) {
        double mid = 0.5 * (lo + hi), s = 0;
        for (int k = 0; k < 400; k++) s += expected_records(w, probe[k], exp(mid));
        if (s / 400.0 < PO_RECORDS_PER_VISIT) lo = mid;
        else hi = mid;
    }
    double lambda = exp(0.5 * (lo + hi));
    scratch = malloc((size_t)(w->ns ? w->ns : 1) * sizeof *scratch);
    if (!scratch) {
        rc = gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (PO)");
        goto done;
    }
    int64_t rows = 0;
    for (int64_t v0 = 0; rows < o->n_po && v0 < 100 * (o->n_po + 100); v0 += PO_BATCH) {
        if (npo + PO_BATCH > pocap) {
            pocap = (npo + PO_BATCH) * 2;
            struct item *np = realloc(po, (size_t)pocap * sizeof *np);
            if (!np) {
                rc = gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (PO)");
                goto done;
            }
            po = np;
        }
        int fail = 0;
#pragma omp parallel
        {
            int32_t *sc = malloc((size_t)(w->ns ? w->ns : 1) * sizeof *sc);
            if (!sc) {
#pragma omp atomic write
                fail = 1;
            }
#pragma omp for schedule(dynamic, 32)
            for (int k = 0; k < PO_BATCH; k++) {
                if (!sc) continue;
                if (draw_visit(w, &po[npo + k], v0 + k, lambda, cdf, sc)) {
#pragma omp atomic write
                    fail = 1;
                }
            }
            free(sc);
        }
        if (fail) {
            for (int k = 0; k < PO_BATCH; k++) item_free(&po[npo + k]);
            rc = gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (PO)");
            goto done;
        }
        int k = 0;
        for (; k < PO_BATCH && rows < o->n_po; k++) rows += po[npo + k].n;
        for (int j = k; j < PO_BATCH; j++) item_free(&po[npo + j]);
        npo += k;
    }
    /* Ids in spatial order, coordinates, statistics, files. */
    if (spatial_order(w, pa, npa, 1) || spatial_order(w, pl, npl, npa + 1) || spatial_order(w, po, npo, PO_ID0)) {
        rc = gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (ordering)");
        goto done;
    }
    if ((rc = to_lonlat(pa, npa, err)) || (rc = to_lonlat(pl, npl, err)) || (rc = to_lonlat(po, npo, err))) goto done;
    double rich = 0;
    int64_t nsv = 0;
    for (int64_t i = 0; i < npa; i++) {
        if (!pa[i].ok) continue;
        nsv++;
        rich += pa[i].n;
        for (int k = 0; k < pa[i].n; k++) w->sp[pa[i].sp[k]].n_pa++;
    }
    for (int64_t i = 0; i < npl; i++)
        for (int k = 0; k < pl[i].n; k++) w->sp[pl[i].sp[k]].n_plot++;
    int64_t nvis = 0;
    for (int64_t i = 0; i < npo; i++) {
        if (po[i].ok) nvis++;
        for (int k = 0; k < po[i].n; k++) w->sp[po[i].sp[k]].n_po++;
    }
    free(w->obs_pa);
    free(w->obs_po);
    w->obs_pa = malloc((size_t)(nsv ? nsv : 1) * sizeof *w->obs_pa);
    w->obs_po = malloc((size_t)(nvis ? nvis : 1) * sizeof *w->obs_po);
    w->n_obs_pa = w->n_obs_po = 0;
    if (!w->obs_pa || !w->obs_po) {
        rc = gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (observations)");
        goto done;
    }
    for (int64_t i = 0; i < npa; i++)
        if (pa[i].ok) w->obs_pa[w->n_obs_pa++] = pa[i].cell;
    for (int64_t i = 0; i < npo; i++)
        if (po[i].ok) w->obs_po[w->n_obs_po++] = po[i].cell;
    int64_t pa_rows = 0, po_rows = 0, plot_rows = 0;
    if (gpn_path_join(path, sizeof path, out_dir, "geoplant/PA_metadata_train.csv")) goto toolong;
    if ((rc = write_long(w, path, pa, npa, 1, &pa_rows, err))) goto done;
    if (gpn_path_join(path, sizeof path, out_dir, "geoplant/PO_metadata_train.csv")) goto toolong;
    if ((rc = write_long(w, path, po, npo, 0, &po_rows, err))) goto done;
    if (gpn_path_join(path, sizeof path, out_dir, "plots/plots.csv")) goto toolong;
    if ((rc = write_plots(w, path, pa, npa, pl, npl, &plot_rows, err))) goto done;
    if (res) {
        res->n_pa_surveys = nsv;
        res->n_pa_rows = pa_rows;
        res->n_po_visits = nvis;
        res->n_po_rows = po_rows;
        res->n_plots = plot_rows;
        res->mean_pa_richness = nsv ? rich / (double)nsv : 0.0;
    }
    gpn_log_info("synth: %" PRId64 " PA surveys (%.1f species each), %" PRId64 " PO records in %" PRId64
                 " visits (lambda %.3g), %" PRId64 " plots",
                 nsv, nsv ? rich / (double)nsv : 0.0, po_rows, nvis, lambda, plot_rows);
    goto done;
toolong:
    rc = gpn_err_set(err, GPN_ETOOBIG, "synth: output path too long under %s", out_dir);
done:
    if (pa)
        for (int64_t i = 0; i < npa; i++) item_free(&pa[i]);
    if (pl)
        for (int64_t i = 0; i < npl; i++) item_free(&pl[i]);
    for (int64_t i = 0; i < npo; i++) item_free(&po[i]);
    free(pa);
    free(pl);
    free(po);
    free(cdf);
    free(scratch);
    return rc;
}
