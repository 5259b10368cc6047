/*
 * synth.c - `gpn synth` as a library call: options, the region, the world's
 * memory, the order of the phases and the small output files.
 *
 * A run: resolve the input tables, lay the region on the EPSG:3035 grid
 * (whole meta-tiles from an origin, or a bbox snapped outward to 1 km so
 * that the 10/20 m, 50 m and 1 km grids all align), allocate every 50 m
 * layer of the world once (about 210 bytes per cell at peak: 210 MB for the
 * default 1000 x 1000 cells), then run the phases of synth_priv.h and write
 * the rasters, tables, quicklook and region.json (last, so its presence
 * marks a complete region). Timings go to the log, not to any file, so two
 * runs with the same options write identical bytes.
 */
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpn/geom.h"
#include "gpn/log.h"
#include "gpn/paths.h"
#include "gpn/progress.h"
#include "gpn/raster.h"
#include "gpn/reproj.h"
#include "gpn/util.h"
#include "gpn/version.h"
#include "synth_priv.h"

#define MAX_CELLS ((size_t)16 * 1000 * 1000) /* 64 meta-tiles */

static const char *const LC_NAMES[GPN_SYNTH_LC_COUNT] = {"none",     "forest", "grassland", "scrub", "cropland",
                                                         "wetland",  "urban",  "water",     "rock",  "sea"};

const char *gpn_synth_lc_name(int lc) { return lc > 0 && lc < GPN_SYNTH_LC_COUNT ? LC_NAMES[lc] : "none"; }

void gpn_synth_opts_init(struct gpn_synth_opts *o)
{
    memset(o, 0, sizeof *o);
    o->tiles = 2;
    o->origin.e_km = 3800;
    o->origin.n_km = 2275;
    o->n_species = 500;
    o->n_surveys = 5000;
    o->n_po = 50000;
    o->n_plots = 20000;
    o->seed = 42;
    o->s2_res = 10;
    o->landsat_res = 30;
    o->write_truth_species = 1;
    o->write_quicklook = 1;
}

void gpn_synth_opts_quick(struct gpn_synth_opts *o)
{
    o->tiles = 1;
    o->use_bbox = 0;
    o->origin.e_km = 3800;
    o->origin.n_km = 2275;
    o->n_species = 50;
    o->n_surveys = 600;
    o->n_po = 3000;
    o->n_plots = 1000;
    o->s2_res = 20;
    o->landsat_res = 90;
}

/* ==== world memory ========================================================= */

static void world_free(struct syn_world *w)
{
    free(w->tiles);
    free(w->gdcoast);
    free(w->land);
    free(w->dcoast);
    free(w->elev);
    free(w->slope);
    free(w->aspect);
    free(w->acc);
    free(w->wet);
    free(w->sub);
    free(w->tann);
    free(w->pann);
    free(w->river);
    free(w->lc);
    free(w->crop);
    free(w->road);
    free(w->droad);
    free(w->dtown);
    free(w->tcore);
    free(w->dist);
    for (int k = 0; k < SYN_NFIELDS; k++) free(w->field[k]);
    free(w->sfc);
    free(w->hab);
    free(w->towns);
    free(w->segs);
    free(w->clim);
    free(w->sp);
    free(w->richness);
    free(w->dom_tree);
    free(w->dom_helo);
    free(w->dom_tree_v);
    free(w->dom_helo_v);
    free(w->obs_pa);
    free(w->obs_po);
}

static int world_alloc(struct syn_world *w, struct gpn_err *err)
{
    size_t N = w->N;
#define A(field, n) if (!((w->field) = calloc((n), sizeof *(w->field)))) goto oom
    A(land, N); A(dcoast, N); A(elev, N); A(slope, N); A(aspect, N); A(acc, N); A(wet, N); A(sub, N);
    A(tann, N); A(pann, N); A(river, N); A(lc, N); A(crop, N); A(road, N); A(droad, N); A(dtown, N);
    A(tcore, N); A(dist, N); A(sfc, N); A(hab, N); A(richness, N); A(dom_tree, N); A(dom_helo, N);
    A(dom_tree_v, N); A(dom_helo_v, N);
    for (int k = 0; k < SYN_NFIELDS; k++) A(field[k], N);
#undef A
    return 0;
oom:
    return gpn_err_set(err, GPN_ENOMEM, "synth: out of memory for a region of %d x %d cells", w->W, w->H);
}

/* ==== inputs ================================================================ */

static int resolve(const char *given, const char *rel, const char *shared_rel, char *buf, size_t n, int required,
                   struct gpn_err *err)
{
    if (given) {
        if (!gpn_path_exists(given)) return gpn_err_set(err, GPN_ENOTFOUND, "synth: %s: no such file", given);
        gpn_strlcpy(buf, given, n);
        return 0;
    }
    struct gpn_err e = {0};
    if (gpn_data_path(rel, buf, n, &e) == 0) return 0;
    if (shared_rel) {
        const char *sh = getenv("GPN_SHARED");
        char p[1024];
        snprintf(p, sizeof p, "%s/data/%s", sh && sh[0] ? sh : "../shared", shared_rel);
        if (gpn_path_exists(p)) {
            gpn_strlcpy(buf, p, n);
            return 0;
        }
    }
    buf[0] = 0;
    if (!required) return 0;
    return gpn_err_set(err, GPN_ENOTFOUND, "synth: %s", e.msg);
}

static int setup_region(struct syn_world *w, struct gpn_err *err)
{
    const struct gpn_synth_opts *o = w->o;
    if (o->use_bbox) {
        const double *b = o->bbox;
        if (!(b[0] < b[2] && b[1] < b[3]) || !isfinite(b[0]) || !isfinite(b[1]) || !isfinite(b[2]) || !isfinite(b[3]))
            return gpn_err_set(err, GPN_EINVAL, "synth: bbox must be W,S,E,N with W < E and S < N");
        w->x0 = floor(b[0] / 1000.0) * 1000.0;
        w->y0 = floor(b[1] / 1000.0) * 1000.0;
        w->x1 = ceil(b[2] / 1000.0) * 1000.0;
        w->y1 = ceil(b[3] / 1000.0) * 1000.0;
    } else {
        if (o->tiles < 1 || o->tiles > 8) return gpn_err_set(err, GPN_ERANGE, "synth: --tiles must be in [1, 8]");
        if (o->origin.e_km % GPN_GRID_TILE_KM || o->origin.n_km % GPN_GRID_TILE_KM)
            return gpn_err_set(err, GPN_EINVAL, "synth: origin tile corner must be a multiple of 25 km");
        w->x0 = o->origin.e_km * 1000.0;
        w->y0 = o->origin.n_km * 1000.0;
        w->x1 = w->x0 + o->tiles * (double)GPN_GRID_TILE_M;
        w->y1 = w->y0 + o->tiles * (double)GPN_GRID_TILE_M;
    }
    if (w->x0 < 0 || w->y0 < 0 || w->x1 > 1e7 || w->y1 > 1e7)
        return gpn_err_set(err, GPN_ERANGE, "synth: region outside the EPSG:3035 grid (0..10000 km)");
    w->W = (int)lround((w->x1 - w->x0) / SYN_CELL);
    w->H = (int)lround((w->y1 - w->y0) / SYN_CELL);
    w->N = (size_t)w->W * w->H;
    if (w->N > MAX_CELLS)
        return gpn_err_set(err, GPN_ETOOBIG, "synth: region of %d x %d cells is larger than the %zu-cell limit", w->W,
                           w->H, MAX_CELLS);
    int rc = gpn_tiles_in_bbox(w->x0, w->y0, w->x1, w->y1, 0, &w->tiles, &w->ntiles, err);
    if (rc) return rc;
    if (!w->ntiles) return gpn_err_set(err, GPN_EINVAL, "synth: the region covers no meta-tile");
    /* Centre in lon/lat, for the climate. */
    struct gpn_transform *t = NULL;
    rc = gpn_transform_create("EPSG:3035", "EPSG:4326", &t, err);
    if (rc) return gpn_err_prefix(err, "synth");
    double x = 0.5 * (w->x0 + w->x1), y = 0.5 * (w->y0 + w->y1);
    rc = gpn_transform_points(t, &x, &y, 1, err);
    gpn_transform_destroy(t);
    if (rc) return gpn_err_prefix(err, "synth: region centre");
    w->lon_c = x;
    w->lat_c = y;
    double u = (47.0 - w->lat_c) / 3.5;
    u = u < 0 ? 0 : u > 1 ? 1 : u;
    w->mfac = u * u * (3 - 2 * u);
    w->med = w->mfac > 0.5;
    return 0;
}

/* The country holding the land cell nearest to the region centre. */
static void find_country(struct syn_world *w)
{
    static const char *const NAMES[] = {
        "France", "Spain", "Italy", "Portugal", "Germany", "Switzerland", "Austria", "Belgium", "Netherlands",
        "Luxembourg", "Denmark", "United Kingdom", "Ireland", "Poland", "Czechia", "Slovakia", "Hungary", "Slovenia",
        "Croatia", "Bosnia and Herz.", "Serbia", "Montenegro", "Kosovo", "Albania", "Macedonia", "Greece", "Bulgaria",
        "Romania", "Moldova", "Ukraine", "Belarus", "Lithuania", "Latvia", "Estonia", "Finland", "Sweden", "Norway",
        "Iceland", "Cyprus", "Malta", "Andorra", "Monaco", "Liechtenstein", "San Marino", "Turkey", NULL};
    gpn_strlcpy(w->country, "unknown", sizeof w->country);
    if (!w->countries_path[0]) return;
    size_t best = (size_t)-1;
    double bd = INFINITY, cx = 0.5 * (w->x0 + w->x1), cy = 0.5 * (w->y0 + w->y1);
    for (size_t i = 0; i < w->N; i++) {
        if (!w->land[i]) continue;
        double dx = syn_cx(w, (int)(i % (size_t)w->W)) - cx, dy = syn_cy(w, (int)(i / (size_t)w->W)) - cy;
        if (dx * dx + dy * dy < bd) {
            bd = dx * dx + dy * dy;
            best = i;
        }
    }
    if (best == (size_t)-1) return;
    double x = syn_cx(w, (int)(best % (size_t)w->W)), y = syn_cy(w, (int)(best / (size_t)w->W));
    struct gpn_transform *t = NULL;
    struct gpn_err e = {0};
    if (gpn_transform_create("EPSG:3035", "EPSG:4326", &t, &e)) return;
    int rc = gpn_transform_points(t, &x, &y, 1, &e);
    gpn_transform_destroy(t);
    if (rc) return;
    for (const char *const *n = NAMES; *n; n++) {
        struct gpn_geom *g = NULL;
        if (gpn_geom_country(w->countries_path, *n, &g, &e)) continue;
        int in = gpn_geom_contains(g, x, y);
        gpn_geom_free(g);
        if (in) {
            gpn_strlcpy(w->country, *n, sizeof w->country);
            return;
        }
    }
}

static void find_bioregion(struct syn_world *w)
{
    double se = 0;
    size_t nl = 0;
    for (size_t i = 0; i < w->N; i++)
        if (w->land[i]) {
            se += w->elev[i];
            nl++;
        }
    double me = nl ? se / nl : 0;
    const char *r = w->med ? "MEDITERRANEAN" : me > 1000 ? "ALPINE" : w->lat_c > 58 ? "BOREAL"
                   : w->lon_c < 2.5                      ? "ATLANTIC"
                                                         : "CONTINENTAL";
    gpn_strlcpy(w->bioregion, r, sizeof w->bioregion);
}

/* ==== small outputs ========================================================= */

int gpn__syn_write_layer(const struct syn_world *w, const char *path, int dtype, int bands, const void *data,
                         int categorical, int has_nodata, double nodata, const char *const *desc, struct gpn_err *err)
{
    struct gpn_cog_opts o;
    memset(&o, 0, sizeof o);
    o.width = w->W;
    o.height = w->H;
    o.bands = bands;
    o.dtype = (enum gpn_dtype)dtype;
    o.gt[0] = w->x0;
    o.gt[1] = SYN_CELL;
    o.gt[3] = w->y1;
    o.gt[5] = -SYN_CELL;
    o.epsg = 3035;
    o.has_nodata = has_nodata;
    o.nodata = nodata;
    o.categorical = categorical;
    o.compress = "ZSTD";
    o.blocksize = syn_blocksize(w->W, w->H);
    o.band_desc = desc;
    return gpn_cog_write(path, &o, data, err);
}

static int join(char *buf, size_t n, const char *dir, const char *rel, struct gpn_err *err)
{
    if (gpn_path_join(buf, n, dir, rel)) return gpn_err_set(err, GPN_ETOOBIG, "synth: path too long under %s", dir);
    return 0;
}

/* The final writes run as one pool of independent tasks on all threads,
 * biggest first, so that while one thread compresses the Landsat stack
 * the others write Sentinel-2, the layers and the truth rasters. */
enum {
    TK_LANDSAT, TK_SENTINEL, TK_ELEV, TK_LC, TK_ROADS, TK_RICH, TK_HAB, TK_CLIM, TK_TRUTH0,
};

struct write_pool {
    struct syn_world *w;
    const char *out;
    const struct syn_imagery *im;
    const struct syn_image *s2, *ls; /* NULL in tiled mode (already written) */
    const uint8_t *truth;            /* (ns, N) or NULL when written during the truth phase */
    const float *rich;               /* (N) richness with -1 at sea */
    const char *const *cdesc;        /* (912) climate band names */
};

static int write_task(const struct write_pool *wp, int k, struct gpn_err *err)
{
    static const char *const d_elev[1] = {"elevation (m)"};
    static const char *const d_lc[1] = {"land cover (1 forest, 2 grassland, 3 scrub, 4 cropland, 5 wetland, "
                                        "6 urban, 7 water, 8 rock, 9 sea)"};
    static const char *const d_road[1] = {"roads (1 local, 2 major)"};
    static const char *const d_rich[1] = {"expected species richness (sum of presence probabilities)"};
    static const char *const d_hab[1] = {"EUNIS L3 habitat (value = row of truth/habitat_l3.csv)"};
    const struct syn_world *w = wp->w;
    char p[1200];
    int rc;
    switch (k) {
    case TK_LANDSAT:
        if (!wp->ls) return 0;
        if ((rc = join(p, sizeof p, wp->out, "inputs/landsat.tif", err))) return rc;
        return gpn__syn_image_write(wp->im, p, wp->ls, err);
    case TK_SENTINEL:
        if (!wp->s2) return 0;
        if ((rc = join(p, sizeof p, wp->out, "inputs/sentinel2.tif", err))) return rc;
        return gpn__syn_image_write(wp->im, p, wp->s2, err);
    case TK_ELEV:
        if ((rc = join(p, sizeof p, wp->out, "inputs/elevation.tif", err))) return rc;
        return gpn__syn_write_layer(w, p, GPN_DT_F32, 1, w->elev, 0, 0, 0, d_elev, err);
    case TK_LC:
        if ((rc = join(p, sizeof p, wp->out, "inputs/landcover.tif", err))) return rc;
        return gpn__syn_write_layer(w, p, GPN_DT_U8, 1, w->lc, 1, 1, 0, d_lc, err);
    case TK_ROADS:
        if ((rc = join(p, sizeof p, wp->out, "inputs/roads.tif", err))) return rc;
        return gpn__syn_write_layer(w, p, GPN_DT_U8, 1, w->road, 1, 0, 0, d_road, err);
    case TK_RICH:
        if ((rc = join(p, sizeof p, wp->out, "truth/richness.tif", err))) return rc;
        return gpn__syn_write_layer(w, p, GPN_DT_F32, 1, wp->rich, 0, 1, -1.0, d_rich, err);
    case TK_HAB:
        if ((rc = join(p, sizeof p, wp->out, "truth/habitat_l3.tif", err))) return rc;
        return gpn__syn_write_layer(w, p, GPN_DT_U8, 1, w->hab, 1, 1, 0, d_hab, err);
    case TK_CLIM: {
        struct gpn_cog_opts o;
        memset(&o, 0, sizeof o);
        o.width = w->cW;
        o.height = w->cH;
        o.bands = SYN_CL_VARS * SYN_CL_YEARS * 12;
        o.dtype = GPN_DT_F32;
        o.gt[0] = w->x0;
        o.gt[1] = 1000.0;
        o.gt[3] = w->y1;
        o.gt[5] = -1000.0;
        o.epsg = 3035;
        o.compress = "ZSTD";
        o.blocksize = syn_blocksize(w->cW, w->cH);
        o.band_desc = wp->cdesc;
        o.no_overviews = 1; /* a model input, read at full resolution */
        if ((rc = join(p, sizeof p, wp->out, "inputs/climate.tif", err))) return rc;
        return gpn_cog_write(p, &o, w->clim, err);
    }
    default: {
        int s = k - TK_TRUTH0;
        if (!wp->truth || s < 0 || s >= w->ns) return 0;
        if ((rc = join(p, sizeof p, wp->out, "truth/species", err))) return rc;
        return gpn__syn_truth_write(w, p, s, wp->truth + (size_t)s * w->N, err);
    }
    }
}

static int write_pool_run(const struct write_pool *wp, struct gpn_err *err)
{
    int n = TK_TRUTH0 + (wp->truth ? wp->w->ns : 0);
    int rc = 0;
    struct gpn_progress prog;
    gpn_progress_init(&prog, "write", n, "files");
    if (!wp->w->o->progress) prog.enabled = 0;
#pragma omp parallel for schedule(dynamic, 1)
    for (int k = 0; k < n; k++) {
        int skip;
#pragma omp atomic read
        skip = rc;
        if (skip) continue;
        struct gpn_err e = {0};
        double t0 = gpn_now();
        int r2 = write_task(wp, k, &e);
        if (k < TK_TRUTH0) gpn_log_debug("synth: write task %d: %.2f s", k, gpn_now() - t0);
        if (r2) {
#pragma omp critical(syn_write_err)
            {
                if (!rc) {
                    rc = r2;
                    *err = e;
                }
            }
        }
        gpn_progress_add(&prog, 1);
    }
    gpn_progress_finish(&prog);
    return rc;
}

static int write_tables(const struct syn_world *w, const char *out, struct gpn_err *err)
{
    char p[1200];
    struct gpn_buf b = {0};
    gpn_buf_puts(&b, "value,code,name\n");
    for (int i = 0; i < gpn_synth_habitat_count(); i++)
        gpn_buf_printf(&b, "%d,%s,\"%s\"\n", i + 1, gpn_synth_habitat_code(i), gpn_synth_habitat_name(i));
    int rc = b.oom ? gpn_err_set(err, GPN_ENOMEM, "synth: out of memory") : join(p, sizeof p, out, "truth/habitat_l3.csv", err);
    if (!rc) rc = gpn_file_write_atomic(p, b.data, b.len, err);
    gpn_buf_reset(&b);
    if (rc) goto done;
    gpn_buf_puts(&b, "value,name\n");
    for (int k = 1; k < GPN_SYNTH_LC_COUNT; k++) gpn_buf_printf(&b, "%d,%s\n", k, LC_NAMES[k]);
    rc = b.oom ? gpn_err_set(err, GPN_ENOMEM, "synth: out of memory") : join(p, sizeof p, out, "inputs/landcover.csv", err);
    if (!rc) rc = gpn_file_write_atomic(p, b.data, b.len, err);
    if (rc) goto done;
    rc = join(p, sizeof p, out, "species.csv", err);
    if (!rc) rc = gpn__syn_species_csv(w, p, err);
done:
    gpn_buf_free(&b);
    return rc;
}

static int write_region_json(const struct syn_world *w, const char *out, const struct gpn_synth_result *res,
                             struct gpn_err *err)
{
    const struct gpn_synth_opts *o = w->o;
    double ll[4] = {0, 0, 0, 0};
    struct gpn_transform *t = NULL;
    int rc = gpn_transform_create("EPSG:3035", "EPSG:4326", &t, err);
    if (rc) return gpn_err_prefix(err, "synth");
    double in[4] = {w->x0, w->y0, w->x1, w->y1};
    rc = gpn_transform_bbox(t, in, ll, err);
    gpn_transform_destroy(t);
    if (rc) return gpn_err_prefix(err, "synth: region bbox");
    json_t *j = json_object(), *tiles = json_array(), *lc = json_object(), *lcf = json_object();
    json_t *files = json_object(), *counts = json_object(), *opts = json_object();
    if (!j || !tiles || !lc || !lcf || !files || !counts || !opts) {
        json_decref(j);
        json_decref(tiles);
        json_decref(lc);
        json_decref(lcf);
        json_decref(files);
        json_decref(counts);
        json_decref(opts);
        return gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (region.json)");
    }
    json_object_set_new(j, "generator", json_string("gpn synth"));
    json_object_set_new(j, "version", json_string(GPN_VERSION));
    json_object_set_new(j, "seed", json_integer((json_int_t)o->seed));
    json_object_set_new(j, "crs", json_string("EPSG:3035"));
    json_object_set_new(j, "cell_m", json_integer((json_int_t)SYN_CELL));
    json_object_set_new(j, "bbox", json_pack("[f,f,f,f]", w->x0, w->y0, w->x1, w->y1));
    json_object_set_new(j, "bbox_lonlat", json_pack("[f,f,f,f]", round(ll[0] * 1e6) / 1e6, round(ll[1] * 1e6) / 1e6,
                                                    round(ll[2] * 1e6) / 1e6, round(ll[3] * 1e6) / 1e6));
    json_object_set_new(j, "width", json_integer(w->W));
    json_object_set_new(j, "height", json_integer(w->H));
    for (size_t k = 0; k < w->ntiles; k++) {
        char id[GPN_TILE_ID_MAX];
        gpn_tile_format(w->tiles[k], id, sizeof id);
        json_array_append_new(tiles, json_string(id));
    }
    json_object_set_new(j, "tiles", tiles);
    json_object_set_new(j, "country", json_string(w->country));
    json_object_set_new(j, "region", json_string(w->bioregion));
    json_object_set_new(j, "mediterranean", json_boolean(w->med));
    json_object_set_new(opts, "species", json_integer(o->n_species));
    json_object_set_new(opts, "surveys", json_integer((json_int_t)o->n_surveys));
    json_object_set_new(opts, "po", json_integer((json_int_t)o->n_po));
    json_object_set_new(opts, "plots", json_integer((json_int_t)o->n_plots));
    json_object_set_new(opts, "s2_res", json_integer(o->s2_res));
    json_object_set_new(opts, "landsat_res", json_integer(o->landsat_res));
    json_object_set_new(j, "options", opts);
    json_object_set_new(counts, "species", json_integer(w->ns));
    json_object_set_new(counts, "pa_surveys", json_integer((json_int_t)res->n_pa_surveys));
    json_object_set_new(counts, "pa_rows", json_integer((json_int_t)res->n_pa_rows));
    json_object_set_new(counts, "po_visits", json_integer((json_int_t)res->n_po_visits));
    json_object_set_new(counts, "po_rows", json_integer((json_int_t)res->n_po_rows));
    json_object_set_new(counts, "plots", json_integer((json_int_t)res->n_plots));
    json_object_set_new(counts, "towns", json_integer((json_int_t)w->ntowns));
    json_object_set_new(counts, "road_segments", json_integer((json_int_t)w->nsegs));
    json_object_set_new(j, "counts", counts);
    json_object_set_new(j, "mean_pa_richness", json_real(round(res->mean_pa_richness * 1000) / 1000));
    json_object_set_new(j, "land_fraction", json_real(round(res->land_fraction * 1e6) / 1e6));
    for (int k = 1; k < GPN_SYNTH_LC_COUNT; k++) {
        char key[8];
        snprintf(key, sizeof key, "%d", k);
        json_object_set_new(lc, key, json_string(LC_NAMES[k]));
        json_object_set_new(lcf, LC_NAMES[k], json_real(round(res->lc_fraction[k] * 1e6) / 1e6));
    }
    json_object_set_new(j, "landcover_classes", lc);
    json_object_set_new(j, "landcover_fraction", lcf);
    const char *const F[][2] = {
        {"sentinel2", w->tiled_imagery ? "inputs/sentinel2.vrt" : "inputs/sentinel2.tif"},
        {"landsat", w->tiled_imagery ? "inputs/landsat.vrt" : "inputs/landsat.tif"}, {"climate", "inputs/climate.tif"},
        {"elevation", "inputs/elevation.tif"}, {"landcover", "inputs/landcover.tif"}, {"roads", "inputs/roads.tif"},
        {"richness", "truth/richness.tif"}, {"habitat_l3", "truth/habitat_l3.tif"},
        {"habitat_l3_table", "truth/habitat_l3.csv"}, {"species_truth", "truth/species/{speciesId}.tif"},
        {"pa", "geoplant/PA_metadata_train.csv"}, {"po", "geoplant/PO_metadata_train.csv"},
        {"plots", "plots/plots.csv"}, {"species", "species.csv"}, {"quicklook", "quicklook.png"}};
    for (size_t k = 0; k < sizeof F / sizeof F[0]; k++) json_object_set_new(files, F[k][0], json_string(F[k][1]));
    json_object_set_new(j, "files", files);
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(j);
    if (!text) return gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (region.json)");
    char p[1200];
    rc = join(p, sizeof p, out, "region.json", err);
    if (!rc) {
        size_t n = strlen(text);
        char *t2 = malloc(n + 2);
        if (!t2) rc = gpn_err_set(err, GPN_ENOMEM, "synth: out of memory");
        else {
            memcpy(t2, text, n);
            t2[n] = '\n';
            rc = gpn_file_write_atomic(p, t2, n + 1, err);
            free(t2);
        }
    }
    free(text);
    return rc;
}

/* ==== the run ================================================================ */

static int prepare_out(const char *out, int force, struct gpn_err *err)
{
    char p[1200];
    int rc = join(p, sizeof p, out, "region.json", err);
    if (rc) return rc;
    if (gpn_path_exists(p)) {
        if (!force)
            return gpn_err_set(err, GPN_EEXISTS, "synth: %s already holds a region (region.json); use --force to "
                                                 "replace it", out);
        /* Remove what a previous run wrote, and only that. */
        static const char *const OLD[] = {"region.json", "inputs", "truth", "geoplant", "plots", "species.csv",
                                          "quicklook.png", NULL};
        for (const char *const *o = OLD; *o; o++) {
            if ((rc = join(p, sizeof p, out, *o, err))) return rc;
            if ((rc = gpn_rm_rf(p, err))) return rc;
        }
    }
    static const char *const DIRS[] = {"inputs", "truth/species", "geoplant", "plots", NULL};
    for (const char *const *d = DIRS; *d; d++) {
        if ((rc = join(p, sizeof p, out, *d, err))) return rc;
        if ((rc = gpn_mkdir_p(p, err))) return rc;
    }
    return 0;
}

int gpn_synth_run(const struct gpn_synth_opts *o, struct gpn_synth_result *res_out, struct gpn_err *err)
{
    if (!o || !o->out_dir || !o->out_dir[0]) return gpn_err_set(err, GPN_EINVAL, "synth: no output folder");
    if (o->n_species < 1 || o->n_species > 20000)
        return gpn_err_set(err, GPN_ERANGE, "synth: species must be in [1, 20000]");
    if (o->n_surveys < 0 || o->n_po < 0 || o->n_plots < 0 || o->n_surveys > 10000000 || o->n_po > 100000000 ||
        o->n_plots > 10000000)
        return gpn_err_set(err, GPN_ERANGE, "synth: survey, PO or plot count out of range");
    if (o->s2_res < 1 || 1000 % o->s2_res) return gpn_err_set(err, GPN_EINVAL, "synth: --s2-res must divide 1000");
    if (o->landsat_res < 5 || o->landsat_res > 1000)
        return gpn_err_set(err, GPN_ERANGE, "synth: --landsat-res must be in [5, 1000] m");
    struct syn_world w;
    memset(&w, 0, sizeof w);
    struct syn_imagery *im = NULL;
    struct syn_image s2 = {0}, ls = {0};
    uint8_t *truth = NULL;
    float *rich = NULL;
    char *cdb = NULL;
    const char **cdesc = NULL;
    w.o = o;
    w.seed = o->seed;
    struct gpn_synth_result res;
    memset(&res, 0, sizeof res);
    double t0 = gpn_now(), t;
    int rc;
    if ((rc = resolve(o->species_csv, "species/species_reference.csv", NULL, w.species_path, sizeof w.species_path, 1,
                      err)) ||
        (rc = resolve(o->land_json, "boundaries/land-50m.json", "boundaries_world_atlas/land-50m.json", w.land_path,
                      sizeof w.land_path, 1, err)) ||
        (rc = resolve(o->countries_json, "boundaries/countries-50m.json", "boundaries_world_atlas/countries-50m.json",
                      w.countries_path, sizeof w.countries_path, o->countries_json != NULL, err)))
        return rc;
    if ((rc = setup_region(&w, err))) goto done;
    if ((rc = prepare_out(o->out_dir, o->force, err))) goto done;
    if ((rc = world_alloc(&w, err))) goto done;
    if ((rc = gpn__syn_species_load(&w, err))) goto done;
    gpn_log_info("synth: region %.0f,%.0f - %.0f,%.0f (%d x %d cells, %zu tiles), %d species, seed %" PRIu64, w.x0,
                 w.y0, w.x1, w.y1, w.W, w.H, w.ntiles, w.ns, w.seed);
    /* Terrain and climate. */
    t = gpn_now();
    if ((rc = gpn__syn_terrain(&w, err))) goto done;
    find_country(&w);
    find_bioregion(&w);
    if ((rc = gpn__syn_climate_cube(&w, err))) goto done;
    res.t_terrain = gpn_now() - t;
    gpn_log_info("synth: terrain, towns (%zu), roads (%zu segments), land cover, climate: %.1f s", w.ntowns, w.nsegs,
                 res.t_terrain);
    /* Species and truth (kept in memory when they fit, for the write pool). */
    t = gpn_now();
    char dir[1200];
    if ((rc = join(dir, sizeof dir, o->out_dir, "truth/species", err))) goto done;
    if ((rc = gpn__syn_species_niches(&w, err))) goto done;
    int keep_truth = o->write_truth_species && (double)w.ns * (double)w.N <= 1e9;
    if ((rc = gpn__syn_species_truth(&w, o->write_truth_species && !keep_truth ? dir : NULL,
                                     keep_truth ? &truth : NULL, err)))
        goto done;
    gpn__syn_habitat_map(&w);
    gpn__syn_surface_map(&w);
    res.t_species = gpn_now() - t;
    gpn_log_info("synth: %d species, truth and habitats: %.1f s", w.ns, res.t_species);
    /* Observations. */
    t = gpn_now();
    if ((rc = gpn__syn_observations(&w, o->out_dir, &res, err))) goto done;
    res.t_obs = gpn_now() - t;
    /* Imagery: whole-region images, or per-tile files for large regions. */
    t = gpn_now();
    double ls_bytes = ceil((w.x1 - w.x0) / o->landsat_res + 1) * ceil((w.y1 - w.y0) / o->landsat_res + 1) *
                      SYN_LS_BANDS * 4 * SYN_LS_YEARS;
    double s2_bytes = 4.0 * ((w.x1 - w.x0) / o->s2_res) * ((w.y1 - w.y0) / o->s2_res);
    w.tiled_imagery = o->tiled_imagery || ls_bytes > 2e9 || s2_bytes > 1e9;
    if ((rc = gpn__syn_imagery_begin(&w, &im, err))) goto done;
    if (w.tiled_imagery) {
        if ((rc = gpn__syn_imagery_tiled(&w, im, o->out_dir, err))) goto done;
    } else {
        if ((rc = gpn__syn_sentinel_make(im, w.x0, w.y0, w.x1, w.y1, &s2, err))) goto done;
        if ((rc = gpn__syn_landsat_make(im, w.x0, w.y0, w.x1, w.y1, &ls, err))) goto done;
    }
    res.t_imagery = gpn_now() - t;
    /* Every raster file, in one pool. */
    t = gpn_now();
    size_t nland = 0, lcn[GPN_SYNTH_LC_COUNT] = {0};
    for (size_t i = 0; i < w.N; i++) {
        nland += w.land[i];
        lcn[w.lc[i]]++;
    }
    res.x0 = w.x0;
    res.y0 = w.y0;
    res.x1 = w.x1;
    res.y1 = w.y1;
    res.width = w.W;
    res.height = w.H;
    res.n_tiles = (int)w.ntiles;
    res.n_species = w.ns;
    res.land_fraction = (double)nland / (double)w.N;
    for (int k = 0; k < GPN_SYNTH_LC_COUNT; k++) res.lc_fraction[k] = (double)lcn[k] / (double)w.N;
    rich = malloc(w.N * sizeof *rich);
    cdb = malloc((size_t)SYN_CL_VARS * SYN_CL_YEARS * 12 * 24);
    cdesc = malloc((size_t)SYN_CL_VARS * SYN_CL_YEARS * 12 * sizeof *cdesc);
    if (!rich || !cdb || !cdesc) {
        rc = gpn_err_set(err, GPN_ENOMEM, "synth: out of memory");
        goto done;
    }
    for (size_t i = 0; i < w.N; i++) rich[i] = w.land[i] ? w.richness[i] : -1.f;
    static const char *const VN[4] = {"tmean", "tmin", "tmax", "precip"};
    for (int v = 0; v < SYN_CL_VARS; v++)
        for (int y = 0; y < SYN_CL_YEARS; y++)
            for (int m = 0; m < 12; m++) {
                int k = (v * SYN_CL_YEARS + y) * 12 + m;
                snprintf(cdb + (size_t)k * 24, 24, "%s_%d_%02d", VN[v], SYN_YEAR0 + y, m + 1);
                cdesc[k] = cdb + (size_t)k * 24;
            }
    struct write_pool wp = {&w, o->out_dir, im, w.tiled_imagery ? NULL : &s2, w.tiled_imagery ? NULL : &ls,
                            truth, rich, (const char *const *)cdesc};
    if ((rc = write_pool_run(&wp, err))) goto done;
    gpn_log_info("synth: Sentinel-2 (%d m) and Landsat (%d m) %s, layers and truth written: %.1f s (imagery made in "
                 "%.1f s)",
                 o->s2_res, o->landsat_res, w.tiled_imagery ? "per meta-tile" : "mosaics", gpn_now() - t,
                 res.t_imagery);
    if ((rc = write_tables(&w, o->out_dir, err))) goto done;
    if (o->write_quicklook) {
        char p[1200];
        if ((rc = join(p, sizeof p, o->out_dir, "quicklook.png", err)) || (rc = gpn__syn_quicklook(&w, p, err)))
            goto done;
    }
    if ((rc = write_region_json(&w, o->out_dir, &res, err))) goto done;
    res.t_write = gpn_now() - t;
    res.seconds = gpn_now() - t0;
    if (res_out) *res_out = res;
done:
    gpn__syn_image_free(&s2);
    gpn__syn_image_free(&ls);
    gpn__syn_imagery_end(im);
    free(truth);
    free(rich);
    free(cdb);
    free(cdesc);
    world_free(&w);
    return rc;
}
