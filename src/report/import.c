/*
 * import.c - `gpn import`: builds the assemblage store from species maps
 * made elsewhere (binary or probability GeoTIFF/COGs in any CRS, including
 * GeoPl@ntNet's published float32 logit products in EPSG:3857).
 *
 * Why sample cell centres instead of warping: the store is defined on the
 * EPSG:3035 50 m grid, so the question for each cell is "what does the
 * map say at this cell's centre". Transforming the 250,000 centres of a
 * meta-tile once per source CRS (PROJ, through reproj.h) and reading each
 * map's window once (raster.h) answers it exactly (nearest pixel, no
 * resampling blur), and a map already on the grid is reproduced bit for bit.
 *
 * Flow:
 *   1. scan: expand folders and STAC items into files; for each file parse
 *      the species from its name, read the raster's CRS, geotransform and
 *      nodata, and list the meta-tiles its footprint may touch;
 *   2. species: resolve every file's species in the catalog (created when
 *      missing), adding species it lacks;
 *   3. tiles (OpenMP, one tile per iteration, per-thread rasters and
 *      transforms): load the existing store unless replacing, drop the
 *      species being imported, sample every file that touches the tile,
 *      write the store atomically when any map covers a cell of the tile;
 *   4. record the import as an SDM model run {"source":"import",...} so
 *      reports say where their species maps came from.
 *
 * Values: logit maps are present where sigmoid(v) >= T, i.e. v >= ln(T/(1-T))
 * (compared in double); probability maps where v >= T; binary maps where
 * v != 0 (v is first multiplied by opts->scale when given). Nodata and NaN
 * pixels are absent, as are centres outside the map.
 *
 * Indicators: a cell is "covered" when some map had a value at its centre;
 * after a tile's store is written its indicators.tif is recomputed from the
 * whole store (indicators.c), covered cells only (on update, the cells the
 * previous indicators.tif covered stay covered).
 *
 * Habitats (gpn_import_habitat): the same centre sampling of one classified
 * raster, written as each tile's habitat.tif.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gpn/util.h"
#include "gpn/catalog.h"
#include "gpn/csv.h"
#include "gpn/log.h"
#include "gpn/progress.h"
#include "gpn/raster.h"
#include "gpn/report.h"
#include "gpn/reproj.h"
#include "gpn/store.h"

#define MAX_WINDOW_PIXELS (64ll << 20) /* 64 Mpixel window per map and tile */

/* ==== file names ======================================================== */

static void slug_to_name(const char *slug, char *out, size_t n)
{
    size_t k = 0;
    for (const char *p = slug; *p && k + 1 < n; p++) {
        char c = *p == '-' || *p == '_' ? ' ' : *p;
        if (c == ' ' && (k == 0 || out[k - 1] == ' ')) continue;
        out[k] = k == 0 ? (char)toupper((unsigned char)c) : (char)tolower((unsigned char)c);
        k++;
    }
    while (k > 0 && out[k - 1] == ' ') k--;
    out[k] = 0;
}

int gpn_import_parse_name(const char *path, struct gpn_import_name *out, struct gpn_err *err)
{
    memset(out, 0, sizeof *out);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char stem[512];
    gpn_strlcpy(stem, base, sizeof stem);
    char *dot = strrchr(stem, '.');
    if (dot && (!strcasecmp(dot, ".tif") || !strcasecmp(dot, ".tiff"))) *dot = 0;
    /* gpn_v<N>_50m_<country>_<speciesId>_<slug> */
    if (!strncmp(stem, "gpn_v", 5)) {
        const char *p = stem + 5;
        while (isdigit((unsigned char)*p)) p++;
        if (p > stem + 5 && !strncmp(p, "_50m_", 5)) {
            p += 5;
            const char *us = strchr(p, '_');
            if (us && us > p && (size_t)(us - p) < sizeof out->country) {
                memcpy(out->country, p, (size_t)(us - p));
                out->country[us - p] = 0;
                p = us + 1;
                char *end;
                long long id = strtoll(p, &end, 10);
                if (end > p && id > 0 && (*end == '_' || *end == 0)) {
                    out->kind = 1;
                    out->id = id;
                    if (*end == '_') slug_to_name(end + 1, out->name, sizeof out->name);
                    return 0;
                }
            }
        }
        return gpn_err_set(err, GPN_EFORMAT,
                           "%s: looks like a GeoPl@ntNet product but is not gpn_v1_50m_{country}_{speciesId}_{slug}.tif",
                           base);
    }
    char *end;
    long long id = strtoll(stem, &end, 10);
    if (end > stem && *end == 0 && id > 0) {
        out->kind = 2;
        out->id = id;
        return 0;
    }
    slug_to_name(stem, out->name, sizeof out->name);
    if (!out->name[0] || !isalpha((unsigned char)out->name[0]))
        return gpn_err_set(err, GPN_EFORMAT, "%s: cannot tell the species from the file name", base);
    out->kind = 3;
    return 0;
}

/* ==== inputs ============================================================ */

struct src {
    char *path;
    struct gpn_import_name nm;
    uint32_t species;        /* resolved catalog id */
    char crs[2048];          /* "EPSG:n" or WKT */
    double gt[6], inv[6];    /* geotransform and its inverse */
    int w, h;
    int has_nodata;
    double nodata;
    enum gpn_import_kind kind;
};

struct srclist {
    struct src *v;
    size_t n, cap;
};

static int add_file(struct srclist *l, const char *path, struct gpn_err *err)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        struct src *nv = realloc(l->v, nc * sizeof *nv);
        if (!nv) return gpn_err_set(err, GPN_ENOMEM, "import: out of memory");
        l->v = nv;
        l->cap = nc;
    }
    struct src *s = &l->v[l->n];
    memset(s, 0, sizeof *s);
    s->path = strdup(path);
    if (!s->path) return gpn_err_set(err, GPN_ENOMEM, "import: out of memory");
    l->n++;
    return 0;
}

static int is_tif(const char *name) { return gpn_str_endswith(name, ".tif") || gpn_str_endswith(name, ".tiff"); }

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int add_dir(struct srclist *l, const char *dir, int depth, struct gpn_err *err)
{
    if (depth > 16) return 0;
    DIR *d = opendir(dir);
    if (!d) return gpn_err_set(err, GPN_EIO, "import: cannot read folder %s", dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) {
                rc = gpn_err_set(err, GPN_ENOMEM, "import: out of memory");
                break;
            }
            names = nn;
        }
        names[n] = strdup(de->d_name);
        if (!names[n]) {
            rc = gpn_err_set(err, GPN_ENOMEM, "import: out of memory");
            break;
        }
        n++;
    }
    closedir(d);
    if (!rc) gpn_qsort(names, n, sizeof *names, cmp_str); /* deterministic order */
    for (size_t i = 0; i < n && !rc; i++) {
        char path[4096];
        if (gpn_path_join(path, sizeof path, dir, names[i])) continue;
        if (gpn_is_dir(path)) rc = add_dir(l, path, depth + 1, err);
        else if (is_tif(names[i])) rc = add_file(l, path, err);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return rc;
}

/* A STAC Item: every asset whose href is a GeoTIFF (relative hrefs are
 * resolved against the item's folder). */
static int add_stac(struct srclist *l, const char *path, struct gpn_err *err)
{
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) return gpn_err_set(err, GPN_EFORMAT, "%s:%d: %s", path, je.line, je.text);
    int rc = 0, found = 0;
    json_t *assets = json_object_get(root, "assets");
    const char *key;
    json_t *a;
    char dir[4096];
    gpn_strlcpy(dir, path, sizeof dir);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else strcpy(dir, ".");
    if (json_is_object(assets)) {
        json_object_foreach(assets, key, a)
        {
            const char *href = json_string_value(json_object_get(a, "href"));
            if (!href || !is_tif(href)) continue;
            char full[4096];
            if (href[0] == '/' || strstr(href, "://")) {
                if (!strncmp(href, "http://", 7) || !strncmp(href, "https://", 8))
                    snprintf(full, sizeof full, "/vsicurl/%s", href);
                else gpn_strlcpy(full, href, sizeof full);
            } else {
                snprintf(full, sizeof full, "%s/%s", dir, href);
            }
            rc = add_file(l, full, err);
            if (rc) break;
            found++;
        }
    }
    json_decref(root);
    if (!rc && !found) rc = gpn_err_set(err, GPN_EFORMAT, "%s: a STAC item with no GeoTIFF asset", path);
    return rc;
}

static int expand_inputs(const char *const *inputs, size_t n, struct srclist *l, struct gpn_err *err)
{
    for (size_t i = 0; i < n; i++) {
        const char *p = inputs[i];
        int rc;
        if (gpn_is_dir(p)) rc = add_dir(l, p, 0, err);
        else if (gpn_str_endswith(p, ".json")) rc = add_stac(l, p, err);
        else if (!strncmp(p, "/vsi", 4) || gpn_path_exists(p)) rc = add_file(l, p, err);
        else rc = gpn_err_set(err, GPN_ENOTFOUND, "import: %s: no such file or folder", p);
        if (rc) return rc;
    }
    if (l->n == 0) return gpn_err_set(err, GPN_ENOTFOUND, "import: no GeoTIFF found in the inputs");
    return 0;
}

/* ==== scan ============================================================== */

static int invert_gt(const double gt[6], double inv[6])
{
    double det = gt[1] * gt[5] - gt[2] * gt[4];
    if (det == 0 || !isfinite(det)) return -1;
    inv[1] = gt[5] / det;
    inv[2] = -gt[2] / det;
    inv[4] = -gt[4] / det;
    inv[5] = gt[1] / det;
    inv[0] = -(inv[1] * gt[0] + inv[2] * gt[3]);
    inv[3] = -(inv[4] * gt[0] + inv[5] * gt[3]);
    return 0;
}

struct job {
    struct gpn_tile tile;
    uint32_t crs_rank;       /* files of one CRS are sampled together */
    uint32_t file;
};

static int cmp_job(const void *a, const void *b)
{
    const struct job *x = a, *y = b;
    int c = gpn_tile_cmp(&x->tile, &y->tile);
    if (c) return c;
    if (x->crs_rank != y->crs_rank) return x->crs_rank < y->crs_rank ? -1 : 1;
    return x->file < y->file ? -1 : x->file > y->file;
}

/* Opens file s, fills its raster facts and appends the tiles its footprint
 * may touch to *jobs. */
static int scan_file(struct src *s, uint32_t index, const struct gpn_import_opts *o, struct job **jobs, size_t *njobs,
                     size_t *capjobs, struct gpn_err *err)
{
    struct gpn_raster *r = NULL;
    struct gpn_raster_info info;
    struct gpn_transform *tr = NULL;
    struct gpn_tile *tiles = NULL;
    size_t nt = 0;
    int rc = 0;
    if (!s->nm.kind) { /* species maps; habitat rasters come with kind -1 */
        rc = gpn_import_parse_name(s->path, &s->nm, err);
        if (rc) return rc;
    }
    rc = gpn_raster_open(s->path, &r, err);
    if (!rc) rc = gpn_raster_get_info(r, &info, err);
    if (rc) goto done;
    if (info.epsg > 0) snprintf(s->crs, sizeof s->crs, "EPSG:%d", info.epsg);
    else if (info.crs_wkt[0]) gpn_strlcpy(s->crs, info.crs_wkt, sizeof s->crs);
    else {
        rc = gpn_err_set(err, GPN_EFORMAT, "%s: the raster has no CRS", s->path);
        goto done;
    }
    memcpy(s->gt, info.gt, sizeof s->gt);
    if (invert_gt(s->gt, s->inv)) {
        rc = gpn_err_set(err, GPN_EFORMAT, "%s: degenerate geotransform", s->path);
        goto done;
    }
    s->w = info.width;
    s->h = info.height;
    s->has_nodata = info.has_nodata;
    s->nodata = info.nodata;
    s->kind = o->kind;
    if (s->kind == GPN_IMPORT_AUTO) {
        if (s->nm.kind == 1) s->kind = GPN_IMPORT_LOGIT;
        else if (info.dtype == GPN_DT_F32 || info.dtype == GPN_DT_F64) s->kind = GPN_IMPORT_PROBABILITY;
        else if (o->scale > 0 && o->scale != 1) s->kind = GPN_IMPORT_PROBABILITY; /* scaled integers */
        else s->kind = GPN_IMPORT_BINARY;
    }
    /* Footprint: the four corners (and edges) of the raster in its CRS. */
    double xs[4] = {0, (double)s->w, 0, (double)s->w}, ys[4] = {0, 0, (double)s->h, (double)s->h};
    double in[4] = {INFINITY, INFINITY, -INFINITY, -INFINITY}, out[4];
    for (int k = 0; k < 4; k++) {
        double x = s->gt[0] + xs[k] * s->gt[1] + ys[k] * s->gt[2];
        double y = s->gt[3] + xs[k] * s->gt[4] + ys[k] * s->gt[5];
        in[0] = fmin(in[0], x);
        in[1] = fmin(in[1], y);
        in[2] = fmax(in[2], x);
        in[3] = fmax(in[3], y);
    }
    if (info.epsg == 3035) {
        memcpy(out, in, sizeof out);
    } else {
        rc = gpn_transform_create(s->crs, "EPSG:3035", &tr, err);
        if (!rc) rc = gpn_transform_bbox(tr, in, out, err);
        if (rc) {
            gpn_err_prefix(err, "%s", s->path);
            goto done;
        }
    }
    rc = gpn_tiles_in_bbox(out[0], out[1], out[2], out[3], o->max_tiles, &tiles, &nt, err);
    if (rc) {
        gpn_err_prefix(err, "%s", s->path);
        goto done;
    }
    for (size_t i = 0; i < nt; i++) {
        if (*njobs == *capjobs) {
            size_t nc = *capjobs ? *capjobs * 2 : 256;
            struct job *nj = realloc(*jobs, nc * sizeof *nj);
            if (!nj) {
                rc = gpn_err_set(err, GPN_ENOMEM, "import: out of memory");
                goto done;
            }
            *jobs = nj;
            *capjobs = nc;
        }
        (*jobs)[*njobs].tile = tiles[i];
        (*jobs)[*njobs].file = index;
        (*njobs)++;
    }
done:
    free(tiles);
    gpn_transform_destroy(tr);
    gpn_raster_close(r);
    return rc;
}

/* ==== species =========================================================== */

static int resolve_species(struct gpn_catalog *cat, struct src *s, struct gpn_err *err)
{
    struct gpn_species sp;
    struct gpn_err e2 = {0};
    int64_t id = 0;
    if (s->nm.kind == 2) {
        id = s->nm.id;
    } else {
        int found = 0;
        if (s->nm.kind == 1 && gpn_catalog_species_find_geoplant(cat, s->nm.id, &sp, &e2) == 0) found = 1;
        if (!found && s->nm.name[0] && gpn_catalog_species_find(cat, s->nm.name, &sp, &e2) == 0) found = 1;
        if (found) {
            id = sp.id;
        } else {
            gpn_species_init(&sp);
            if (!s->nm.name[0]) snprintf(s->nm.name, sizeof s->nm.name, "GeoPlant species %lld", (long long)s->nm.id);
            gpn_strlcpy(sp.scientific_name, s->nm.name, sizeof sp.scientific_name);
            const char *sp1 = strchr(s->nm.name, ' ');
            size_t gl = sp1 ? (size_t)(sp1 - s->nm.name) : strlen(s->nm.name);
            if (gl >= sizeof sp.genus) gl = sizeof sp.genus - 1;
            memcpy(sp.genus, s->nm.name, gl);
            sp.genus[gl] = 0;
            if (s->nm.kind == 1) sp.geoplant_id = s->nm.id;
            gpn_strlcpy(sp.sources, "import", sizeof sp.sources);
            int rc = gpn_catalog_species_upsert(cat, &sp, &id, err);
            if (rc) return gpn_err_prefix(err, "%s", s->path);
            gpn_log_info("import: added species %lld '%s' to the catalog", (long long)id, sp.scientific_name);
        }
    }
    if (id <= 0 || id > UINT32_MAX)
        return gpn_err_set(err, GPN_ERANGE, "%s: species id %lld out of the store's range", s->path, (long long)id);
    s->species = (uint32_t)id;
    return 0;
}

/* ==== one tile ========================================================== */

struct tctx {
    double *cx, *cy;               /* (250000) centres in the current CRS */
    char crs[2048];                /* CRS of cx/cy; "" none */
    struct gpn_transform *tr;      /* EPSG:3035 -> crs */
    char tr_crs[2048];
    uint32_t *cells;               /* (250000) scratch */
    double *vals;                  /* (250000) map value under each centre, NaN none */
    uint8_t *cov;                  /* (250000) cells some map covers */
    uint16_t *ind;                 /* (8 x 250000) indicator bands */
    double *win;                   /* window buffer */
    size_t capwin;
};

/* Allocates a worker's buffers: centres and values always, the species
 * import's cell list, coverage and indicator bands when species. Returns 1
 * when all allocations succeeded; tctx_free releases what was allocated. */
static int tctx_alloc(struct tctx *c, int species)
{
    memset(c, 0, sizeof *c);
    c->cx = malloc(GPN_STORE_TILE_CELLS * sizeof *c->cx);
    c->cy = malloc(GPN_STORE_TILE_CELLS * sizeof *c->cy);
    c->vals = malloc(GPN_STORE_TILE_CELLS * sizeof *c->vals);
    int ok = c->cx && c->cy && c->vals;
    if (species) {
        c->cells = malloc(GPN_STORE_TILE_CELLS * sizeof *c->cells);
        c->cov = malloc(GPN_STORE_TILE_CELLS);
        c->ind = malloc((size_t)GPN_REPORT_NIND * GPN_STORE_TILE_CELLS * sizeof *c->ind);
        ok = ok && c->cells && c->cov && c->ind;
    }
    return ok;
}

static void tctx_free(struct tctx *c)
{
    gpn_transform_destroy(c->tr);
    free(c->cx);
    free(c->cy);
    free(c->cells);
    free(c->vals);
    free(c->cov);
    free(c->ind);
    free(c->win);
}

static int centres_in(struct tctx *c, struct gpn_tile t, const char *crs, struct gpn_err *err)
{
    double gt[6];
    gpn_tile_geotransform(t, gt);
    for (int r = 0; r < 500; r++)
        for (int k = 0; k < 500; k++) {
            c->cx[r * 500 + k] = gt[0] + (k + 0.5) * gt[1];
            c->cy[r * 500 + k] = gt[3] + (r + 0.5) * gt[5];
        }
    if (!strcmp(crs, "EPSG:3035")) {
        gpn_strlcpy(c->crs, crs, sizeof c->crs);
        return 0;
    }
    if (!c->tr || strcmp(c->tr_crs, crs)) {
        gpn_transform_destroy(c->tr);
        c->tr = NULL;
        c->tr_crs[0] = 0;
        int rc = gpn_transform_create("EPSG:3035", crs, &c->tr, err);
        if (rc) return rc;
        gpn_strlcpy(c->tr_crs, crs, sizeof c->tr_crs);
    }
    /* Points that do not transform become HUGE_VAL: outside every map. */
    struct gpn_err e2 = {0};
    int rc = gpn_transform_points(c->tr, c->cx, c->cy, GPN_STORE_TILE_CELLS, &e2);
    if (rc && rc != GPN_ERANGE) return gpn_err_set(err, rc, "%s", e2.msg);
    gpn_strlcpy(c->crs, crs, sizeof c->crs);
    return 0;
}

/* The value of map s under each of the tile's centres (in c) into c->vals:
 * NaN where the centre is outside the map or on nodata/NaN. Reads the one
 * window spanning the centres inside the map. */
static int sample_values(struct tctx *c, const struct src *s, struct gpn_err *err)
{
    int x0 = s->w, x1 = -1, y0 = s->h, y1 = -1;
    for (size_t i = 0; i < GPN_STORE_TILE_CELLS; i++) {
        double X = c->cx[i], Y = c->cy[i];
        c->vals[i] = NAN;
        if (!isfinite(X) || !isfinite(Y) || fabs(X) > 1e15 || fabs(Y) > 1e15) continue;
        double fx = s->inv[0] + s->inv[1] * X + s->inv[2] * Y;
        double fy = s->inv[3] + s->inv[4] * X + s->inv[5] * Y;
        if (!(fx >= 0 && fx < s->w && fy >= 0 && fy < s->h)) continue;
        int ix = (int)fx, iy = (int)fy;
        if (ix < x0) x0 = ix;
        if (ix > x1) x1 = ix;
        if (iy < y0) y0 = iy;
        if (iy > y1) y1 = iy;
    }
    if (x1 < x0) return 0;
    int ww = x1 - x0 + 1, wh = y1 - y0 + 1;
    if ((int64_t)ww * wh > MAX_WINDOW_PIXELS)
        return gpn_err_set(err, GPN_ETOOBIG,
                           "%s: a 25 km tile spans %dx%d pixels of this map (finer than 5 m?); resample it first",
                           s->path, ww, wh);
    size_t need = (size_t)ww * wh;
    if (need > c->capwin) {
        double *nw = realloc(c->win, need * sizeof *nw);
        if (!nw) return gpn_err_set(err, GPN_ENOMEM, "import: out of memory");
        c->win = nw;
        c->capwin = need;
    }
    struct gpn_raster *r = NULL;
    int rc = gpn_raster_open(s->path, &r, err);
    if (!rc) rc = gpn_raster_read(r, 1, 1, x0, y0, ww, wh, GPN_DT_F64, c->win, err);
    gpn_raster_close(r);
    if (rc) return rc;
    for (size_t i = 0; i < GPN_STORE_TILE_CELLS; i++) {
        double X = c->cx[i], Y = c->cy[i];
        if (!isfinite(X) || !isfinite(Y) || fabs(X) > 1e15 || fabs(Y) > 1e15) continue;
        double fx = s->inv[0] + s->inv[1] * X + s->inv[2] * Y;
        double fy = s->inv[3] + s->inv[4] * X + s->inv[5] * Y;
        if (!(fx >= 0 && fx < s->w && fy >= 0 && fy < s->h)) continue;
        double v = c->win[(size_t)((int)fy - y0) * ww + ((int)fx - x0)];
        if (!(s->has_nodata && v == s->nodata)) c->vals[i] = v;
    }
    return 0;
}

/* Samples map s at the tile's centres (in c) and adds the present cells
 * to the writer. *covered is set when any centre hits a valid pixel. */
static int sample_file(struct tctx *c, const struct src *s, double logit_t, double prob_t, double scale,
                       struct gpn_store_writer *w, int *covered, int64_t *ncells, struct gpn_err *err)
{
    int rc = sample_values(c, s, err);
    if (rc) return rc;
    size_t n = 0;
    for (uint32_t i = 0; i < GPN_STORE_TILE_CELLS; i++) {
        double v = c->vals[i];
        if (isnan(v)) continue;
        *covered = 1;
        c->cov[i] = 1;
        if (scale != 1) v *= scale;
        int on;
        switch (s->kind) {
        case GPN_IMPORT_LOGIT: on = v >= logit_t; break;
        case GPN_IMPORT_PROBABILITY: on = v >= prob_t; break;
        default: on = v != 0; break;
        }
        if (on) c->cells[n++] = i;
    }
    *ncells += (int64_t)n;
    return n ? gpn_store_writer_add_cells(w, s->species, c->cells, n, err) : 0;
}

/* ATLAS/tiles/<t>/<name> into buf. */
static int tile_file(const char *atlas, struct gpn_tile t, const char *name, char *buf, size_t n,
                     struct gpn_err *err)
{
    char id[64];
    gpn_tile_format(t, id, sizeof id);
    if ((size_t)snprintf(buf, n, "%s/tiles/%s/%s", atlas, id, name) >= n)
        return gpn_err_set(err, GPN_ETOOBIG, "import: path too long");
    return 0;
}

/* Adds the cells an existing indicators.tif covers (valid richness) to
 * c->cov; a missing or unreadable file adds nothing. */
static void cover_previous(const char *path, struct tctx *c)
{
    struct gpn_raster *r = NULL;
    struct gpn_err e = {0};
    int w = 0, h = 0;
    if (!gpn_path_exists(path) || gpn_raster_open(path, &r, &e)) return;
    gpn_raster_size(r, &w, &h, NULL);
    if (w == GPN_GRID_TILE_CELLS && h == GPN_GRID_TILE_CELLS &&
        !gpn_raster_read(r, 1, 1, 0, 0, w, h, GPN_DT_U16, c->ind, &e))
        for (size_t i = 0; i < GPN_STORE_TILE_CELLS; i++)
            if (c->ind[i] != GPN_INDICATOR_NODATA) c->cov[i] = 1;
    gpn_raster_close(r);
}

/* Recomputes the tile's indicators.tif from the store just written. */
static int tile_indicators(const char *atlas, struct gpn_tile t, const char *store_path, struct tctx *c,
                           const struct gpn_indicator_species *traits, size_t ntraits, struct gpn_err *err)
{
    char path[4200];
    struct gpn_store *s = NULL;
    int rc = tile_file(atlas, t, "indicators.tif", path, sizeof path, err);
    if (rc) return rc;
    rc = gpn_store_open(store_path, 0, &s, err);
    if (!rc) rc = gpn_indicators_compute(s, traits, ntraits, c->cov, c->ind, err);
    gpn_store_close(s);
    static const char *const md[] = {"GPN_PRODUCT=indicators", "GPN_SOURCE=import", NULL};
    if (!rc) rc = gpn_indicators_write(path, t, c->ind, md, err);
    return rc;
}

static int do_tile(const char *atlas, struct tctx *c, const struct src *srcs, const struct job *jobs, size_t nj,
                   const struct gpn_import_opts *o, const struct gpn_indicator_species *traits, size_t ntraits,
                   double logit_t, double prob_t, int64_t *ncells, int *written, struct gpn_err *err)
{
    struct gpn_tile t = jobs[0].tile;
    struct gpn_store_writer *w = NULL;
    struct gpn_store *old = NULL;
    char path[4200];
    *written = 0;
    int rc = gpn_store_tile_path(atlas, t, path, sizeof path);
    if (rc) return gpn_err_set(err, rc, "import: path too long");
    rc = gpn_store_writer_create(t, &w, err);
    if (rc) return rc;
    int covered = 0;
    memset(c->cov, 0, GPN_STORE_TILE_CELLS);
    if (!o->replace && gpn_path_exists(path)) {
        char ipath[4200];
        if (!o->no_indicators && !tile_file(atlas, t, "indicators.tif", ipath, sizeof ipath, NULL))
            cover_previous(ipath, c);
        rc = gpn_store_open(path, GPN_STORE_VERIFY, &old, err);
        if (!rc) rc = gpn_store_writer_load(w, old, err);
        gpn_store_close(old);
        if (rc) goto done;
        covered = 1; /* the tile had data: keep writing it */
        for (size_t j = 0; j < nj; j++) gpn_store_writer_drop(w, srcs[jobs[j].file].species);
    }
    /* Jobs come grouped by CRS, so each CRS's centres are transformed once. */
    c->crs[0] = 0;
    for (size_t j = 0; j < nj && !rc; j++) {
        const struct src *s = &srcs[jobs[j].file];
        if (strcmp(c->crs, s->crs)) rc = centres_in(c, t, s->crs, err);
        if (!rc) rc = sample_file(c, s, logit_t, prob_t, o->scale, w, &covered, ncells, err);
    }
    if (!rc && covered) {
        rc = gpn_store_writer_write(w, path, err);
        if (!rc) *written = 1;
        if (!rc && !o->no_indicators) rc = tile_indicators(atlas, t, path, c, traits, ntraits, err);
    }
done:
    gpn_store_writer_destroy(w);
    return rc;
}

/* ==== run =============================================================== */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int gpn_import_run(const char *atlas, const char *const *inputs, size_t ninputs, const struct gpn_import_opts *opts,
                   struct gpn_import_stats *stats, struct gpn_err *err)
{
    struct gpn_import_opts o = opts ? *opts : (struct gpn_import_opts){0};
    if (!(o.threshold > 0)) o.threshold = 0.5;
    if (o.scale == 0) o.scale = 1;
    if (!isfinite(o.scale) || o.scale < 0)
        return gpn_err_set(err, GPN_ERANGE, "import: scale %g must be a positive number", o.scale);
    if (o.threshold >= 1) return gpn_err_set(err, GPN_ERANGE, "import: threshold %g must be in (0, 1)", o.threshold);
    if (!o.max_tiles) o.max_tiles = 100000;
    double prob_t = o.threshold, logit_t = log(o.threshold / (1 - o.threshold));
    struct srclist l = {0};
    struct job *jobs = NULL;
    size_t njobs = 0, capjobs = 0;
    struct gpn_catalog *cat = NULL;
    uint32_t *ids = NULL;
    struct gpn_indicator_species *traits = NULL;
    size_t ntraits = 0;
    struct gpn_import_stats st = {0};
    int rc = gpn_mkdir_p(atlas, err);
    if (rc) goto done;
    rc = expand_inputs(inputs, ninputs, &l, err);
    if (rc) goto done;
    for (size_t i = 0; i < l.n && !rc; i++) rc = scan_file(&l.v[i], (uint32_t)i, &o, &jobs, &njobs, &capjobs, err);
    if (rc) goto done;

    char db[4096];
    rc = gpn_catalog_path(atlas, db, sizeof db, err);
    if (!rc) rc = gpn_catalog_open(db, GPN_CATALOG_CREATE, &cat, err);
    if (!rc) rc = gpn_catalog_begin(cat, err);
    for (size_t i = 0; i < l.n && !rc; i++) rc = resolve_species(cat, &l.v[i], err);
    if (rc) {
        if (cat) gpn_catalog_rollback(cat);
        goto done;
    }
    rc = gpn_catalog_commit(cat, err);
    if (!rc && !o.no_indicators) rc = gpn_indicator_species_load(cat, &traits, &ntraits, err);
    if (rc) goto done;

    /* Rank the CRS strings so that jobs sort by (tile, CRS, file). */
    {
        uint32_t *rank = malloc((l.n ? l.n : 1) * sizeof *rank);
        if (!rank) {
            rc = gpn_err_set(err, GPN_ENOMEM, "import: out of memory");
            goto done;
        }
        for (size_t i = 0; i < l.n; i++) {
            rank[i] = (uint32_t)i;
            for (size_t k = 0; k < i; k++)
                if (!strcmp(l.v[k].crs, l.v[i].crs)) {
                    rank[i] = rank[k];
                    break;
                }
        }
        for (size_t i = 0; i < njobs; i++) jobs[i].crs_rank = rank[jobs[i].file];
        free(rank);
    }
    gpn_qsort(jobs, njobs, sizeof *jobs, cmp_job);
    size_t ngroups = 0;
    size_t *starts = malloc((njobs + 1) * sizeof *starts);
    if (!starts) {
        rc = gpn_err_set(err, GPN_ENOMEM, "import: out of memory");
        goto done;
    }
    for (size_t i = 0; i < njobs; i++)
        if (i == 0 || !gpn_tile_equal(jobs[i].tile, jobs[i - 1].tile)) starts[ngroups++] = i;
    starts[ngroups] = njobs;

    struct gpn_progress prog;
    gpn_progress_init(&prog, "import", (int64_t)ngroups, "tiles");
    int nthr = o.threads > 0 ? o.threads : omp_get_max_threads();
    int64_t cells_total = 0;
    size_t tiles_written = 0;
    int fail_rc = 0;
    struct gpn_err fail_err = {0};
#pragma omp parallel num_threads(nthr) reduction(+ : cells_total, tiles_written)
    {
        struct tctx c;
        struct gpn_err e = {0};
        int ok = tctx_alloc(&c, 1);
        if (!ok) {
#pragma omp critical(import_fail)
            if (!fail_rc) fail_rc = gpn_err_set(&fail_err, GPN_ENOMEM, "import: out of memory");
        }
#pragma omp for schedule(dynamic, 1)
        for (size_t gi = 0; gi < ngroups; gi++) {
            int stop;
#pragma omp atomic read
            stop = fail_rc;
            if (stop || !ok) continue;
            int64_t nc = 0;
            int written = 0;
            int r = do_tile(atlas, &c, l.v, jobs + starts[gi], starts[gi + 1] - starts[gi], &o, traits, ntraits,
                            logit_t, prob_t, &nc, &written, &e);
            if (r) {
#pragma omp critical(import_fail)
                if (!fail_rc) {
                    fail_rc = r;
                    fail_err = e;
                }
            }
            cells_total += nc;
            tiles_written += (size_t)written;
            gpn_progress_add(&prog, 1);
        }
        tctx_free(&c);
    }
    gpn_progress_finish(&prog);
    free(starts);
    if (fail_rc) {
        rc = fail_rc;
        if (err) *err = fail_err;
        goto done;
    }
    st.files = l.n;
    st.tiles = tiles_written;
    st.cells = cells_total;
    ids = malloc((l.n ? l.n : 1) * sizeof *ids);
    if (!ids) {
        rc = gpn_err_set(err, GPN_ENOMEM, "import: out of memory");
        goto done;
    }
    for (size_t i = 0; i < l.n; i++) ids[i] = l.v[i].species;
    gpn_qsort(ids, l.n, sizeof *ids, cmp_u32);
    for (size_t i = 0; i < l.n; i++)
        if (i == 0 || ids[i] != ids[i - 1]) st.species++;

    /* Provenance for the reports. */
    {
        struct gpn_buf cfg = {0};
        static const char *kinds[] = {"auto", "binary", "probability", "logit"};
        gpn_buf_printf(&cfg, "{\"source\":\"import\",\"threshold\":%.17g,\"kind\":\"%s\",\"scale\":%.17g,"
                             "\"files\":%zu,\"species\":%zu,\"tiles\":%zu,\"first_input\":\"",
                       o.threshold, kinds[o.kind >= 0 && o.kind <= 3 ? o.kind : 0], o.scale, st.files, st.species,
                       st.tiles);
        gpn_buf_json_str(&cfg, ninputs ? inputs[0] : "");
        gpn_buf_puts(&cfg, "\"}");
        if (cfg.oom) rc = gpn_err_set(err, GPN_ENOMEM, "import: out of memory");
        else rc = gpn_catalog_model_run_add(cat, GPN_MODEL_SDM, ninputs ? inputs[0] : "", cfg.data, NULL, NULL, err);
        gpn_buf_free(&cfg);
    }
done:
    gpn_catalog_close(cat);
    for (size_t i = 0; i < l.n; i++) free(l.v[i].path);
    free(l.v);
    free(jobs);
    free(ids);
    free(traits);
    if (!rc && stats) *stats = st;
    return rc;
}

/* ==== habitats ========================================================== */

/* Class table: raster value -> 1-based index into codes (0 = no habitat). */
struct hclasses {
    uint16_t *lut;           /* (65536) */
    char **codes;
    size_t n, cap;
};

static void hclasses_free(struct hclasses *h)
{
    for (size_t i = 0; i < h->n; i++) free(h->codes[i]);
    free(h->codes);
    free(h->lut);
}

/* Index (1-based) of code in h, adding it when new; 0 on ENOMEM. */
static uint16_t hclasses_code(struct hclasses *h, const char *code)
{
    for (size_t i = 0; i < h->n; i++)
        if (!strcmp(h->codes[i], code)) return (uint16_t)(i + 1);
    if (h->n >= 65534) return 0;
    if (h->n == h->cap) {
        size_t nc = h->cap ? h->cap * 2 : 64;
        char **nv = realloc(h->codes, nc * sizeof *nv);
        if (!nv) return 0;
        h->codes = nv;
        h->cap = nc;
    }
    char *d = strdup(code);
    if (!d) return 0;
    h->codes[h->n++] = d;
    return (uint16_t)h->n;
}

static int hclasses_add(struct hclasses *h, long value, const char *code, const char *where, struct gpn_err *err)
{
    if (value < 0 || value > 65535) return gpn_err_set(err, GPN_ERANGE, "%s: class value %ld not in 0..65535", where, value);
    if (value == 0) return 0; /* 0 is "no habitat" by the layout's rule */
    if (gpn_habitat_code_level(code) < 1)
        return gpn_err_set(err, GPN_EFORMAT, "%s: '%s' is not a EUNIS habitat code", where, code);
    uint16_t k = hclasses_code(h, code);
    if (!k) return gpn_err_set(err, GPN_ENOMEM, "import: out of memory");
    h->lut[value] = k;
    return 0;
}

static int hclasses_load(struct hclasses *h, const char *csv_path, const char *raster_path, struct gpn_err *err)
{
    h->lut = calloc(65536, sizeof *h->lut);
    if (!h->lut) return gpn_err_set(err, GPN_ENOMEM, "import: out of memory");
    char where[4300];
    if (csv_path) {
        struct gpn_csv *csv = NULL;
        int cv, cc, rc = gpn_csv_open(csv_path, 0, &csv, err);
        if (!rc) rc = gpn_csv_require(csv, "value", &cv, err);
        if (!rc) rc = gpn_csv_require(csv, "code", &cc, err);
        size_t line = 1;
        while (!rc) {
            int k = gpn_csv_next(csv, err);
            if (k <= 0) {
                rc = k;
                break;
            }
            line++;
            snprintf(where, sizeof where, "%s:%zu", csv_path, line);
            int v;
            if (gpn_parse_int(gpn_csv_field(csv, cv), 0, 65535, &v, "value", err)) {
                rc = gpn_err_prefix(err, "%s", where);
                break;
            }
            rc = hclasses_add(h, v, gpn_csv_field(csv, cc), where, err);
        }
        gpn_csv_close(csv);
        return rc;
    }
    struct gpn_raster *r = NULL;
    int rc = gpn_raster_open(raster_path, &r, err);
    if (rc) return rc;
    const char *md = gpn_raster_metadata(r, "GPN_CLASS_CODES");
    if (!md) {
        gpn_raster_close(r);
        return gpn_err_set(err, GPN_EFORMAT,
                           "%s: no class table: give value,code CSV (--habitat-classes) or set GPN_CLASS_CODES",
                           raster_path);
    }
    char *list = strdup(md), *save = NULL;
    if (!list) rc = gpn_err_set(err, GPN_ENOMEM, "import: out of memory");
    long v = 1;
    snprintf(where, sizeof where, "%s (GPN_CLASS_CODES)", raster_path);
    for (char *tok = list ? strtok_r(list, ",", &save) : NULL; tok && !rc; tok = strtok_r(NULL, ",", &save), v++)
        rc = hclasses_add(h, v, gpn_strtrim(tok), where, err);
    free(list);
    gpn_raster_close(r);
    return rc;
}

/* Classes of the tile's cells (1-based, 0 = none) from raster s. */
static int habitat_tile(const char *atlas, struct tctx *c, const struct src *s, struct gpn_tile t,
                        const struct hclasses *h, const char *const *md, uint16_t *cls, int *written,
                        struct gpn_err *err)
{
    *written = 0;
    int rc = centres_in(c, t, s->crs, err);
    if (!rc) rc = sample_values(c, s, err);
    if (rc) return rc;
    int any = 0;
    for (size_t i = 0; i < GPN_STORE_TILE_CELLS; i++) {
        double v = c->vals[i];
        cls[i] = 0;
        if (isnan(v) || v < 0 || v > 65535 || v != floor(v)) continue;
        cls[i] = h->lut[(int)v];
        any |= cls[i] != 0;
    }
    if (!any) return 0;
    char path[4200];
    rc = tile_file(atlas, t, "habitat.tif", path, sizeof path, err);
    if (rc) return rc;
    struct gpn_cog_opts o = {0};
    o.width = o.height = GPN_GRID_TILE_CELLS;
    o.bands = 1;
    o.dtype = h->n < 255 ? GPN_DT_U8 : GPN_DT_U16;
    gpn_tile_geotransform(t, o.gt);
    o.epsg = 3035;
    o.has_nodata = 1;
    o.nodata = 0;
    o.categorical = 1;
    o.compress = "ZSTD";
    o.blocksize = 256;
    o.metadata = md;
    if (o.dtype == GPN_DT_U8) {
        uint8_t *b = malloc(GPN_STORE_TILE_CELLS);
        if (!b) return gpn_err_set(err, GPN_ENOMEM, "import: out of memory");
        for (size_t i = 0; i < GPN_STORE_TILE_CELLS; i++) b[i] = (uint8_t)cls[i];
        rc = gpn_cog_write(path, &o, b, err);
        free(b);
    } else {
        rc = gpn_cog_write(path, &o, cls, err);
    }
    if (!rc) *written = 1;
    return rc;
}

int gpn_import_habitat(const char *atlas, const char *path, const char *classes_csv, int threads,
                       size_t *tiles_written, struct gpn_err *err)
{
    struct src s = {0};
    struct hclasses h = {0};
    struct job *jobs = NULL;
    size_t njobs = 0, capjobs = 0;
    struct gpn_buf md = {0};
    char *mdv[3] = {NULL, "GPN_PRODUCT=habitat", NULL};
    struct gpn_import_opts o = {.kind = GPN_IMPORT_BINARY, .max_tiles = 100000};
    if (tiles_written) *tiles_written = 0;
    s.path = (char *)path;
    s.nm.kind = -1;
    int rc = gpn_mkdir_p(atlas, err);
    if (!rc) rc = hclasses_load(&h, classes_csv, path, err);
    if (!rc && h.n == 0)
        rc = gpn_err_set(err, GPN_EFORMAT, "%s: the class table has no habitat code", classes_csv ? classes_csv : path);
    if (!rc) rc = scan_file(&s, 0, &o, &jobs, &njobs, &capjobs, err);
    if (rc) goto done;
    gpn_buf_puts(&md, "GPN_CLASS_CODES=");
    for (size_t i = 0; i < h.n; i++) gpn_buf_printf(&md, "%s%s", i ? "," : "", h.codes[i]);
    if (md.oom) {
        rc = gpn_err_set(err, GPN_ENOMEM, "import: out of memory");
        goto done;
    }
    mdv[0] = md.data;

    struct gpn_progress prog;
    gpn_progress_init(&prog, "habitats", (int64_t)njobs, "tiles");
    int nthr = threads > 0 ? threads : omp_get_max_threads();
    size_t written_total = 0;
    int fail_rc = 0;
    struct gpn_err fail_err = {0};
#pragma omp parallel num_threads(nthr) reduction(+ : written_total)
    {
        struct tctx c;
        struct gpn_err e = {0};
        int ok = tctx_alloc(&c, 0);
        uint16_t *cls = malloc(GPN_STORE_TILE_CELLS * sizeof *cls);
        ok = ok && cls;
        if (!ok) {
#pragma omp critical(habitat_fail)
            if (!fail_rc) fail_rc = gpn_err_set(&fail_err, GPN_ENOMEM, "import: out of memory");
        }
#pragma omp for schedule(dynamic, 1)
        for (size_t j = 0; j < njobs; j++) {
            int stop;
#pragma omp atomic read
            stop = fail_rc;
            if (stop || !ok) continue;
            int w = 0;
            int r = habitat_tile(atlas, &c, &s, jobs[j].tile, &h, (const char *const *)mdv, cls, &w, &e);
            if (r) {
#pragma omp critical(habitat_fail)
                if (!fail_rc) {
                    fail_rc = r;
                    fail_err = e;
                }
            }
            written_total += (size_t)w;
            gpn_progress_add(&prog, 1);
        }
        tctx_free(&c);
        free(cls);
    }
    gpn_progress_finish(&prog);
    if (fail_rc) {
        rc = fail_rc;
        if (err) *err = fail_err;
        goto done;
    }
    if (tiles_written) *tiles_written = written_total;
done:
    hclasses_free(&h);
    gpn_buf_free(&md);
    free(jobs);
    return rc;
}
