/*
 * synth_terrain.c - the physical and human landscape of the synthetic
 * region: land and sea, relief, rivers, substrate, climate normals, towns,
 * roads, land cover and the shared random fields of the species niches.
 *
 * Order (each step reads only what the previous ones wrote):
 *   1. Land polygons (Natural Earth, geom.h) reprojected to EPSG:3035 and
 *      rasterised by our own scanline (cell-centre rule, half-open edges,
 *      even-odd over all rings: Natural Earth land polygons are disjoint)
 *      onto a coarse 250 m grid over the region plus a 30 km margin and
 *      onto the 50 m region grid.
 *   2. Signed distance to the coast (EDT on the coarse grid, bilinear to
 *      50 m): it shapes the relief, the coastal plain and the climate, and
 *      does not depend on where the region's edges are.
 *   3. Elevation: a pure function of (x, y, distance to coast) built from
 *      keyed fractal noise (docs/synthetic.md gives the formula), then
 *      hydrology on the region grid: priority-flood depression filling,
 *      D8 flow accumulation in reverse flood order, valleys carved along the
 *      drainage network, slope and aspect (Horn), wetness from the
 *      topographic wetness index.
 *   4. Towns on a jittered 5 km lattice and cities on a 30 km lattice
 *      (global keys, so the same towns appear whatever the region), roads
 *      routed between neighbouring towns by A* over a 200 m cost grid
 *      (slope, elevation, sea forbidden, existing roads cheaper), distance
 *      transforms to roads and towns.
 *   5. Land cover: fixed rules for sea, rivers, lagoons, towns, beaches,
 *      wetlands and cliffs; elsewhere the arg-max of class scores that mix
 *      terrain, climate and noise fields (crop scores are constant per
 *      Voronoi parcel so fields have straight edges).
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gpn/geom.h"
#include "gpn/log.h"
#include "synth_priv.h"

#define COAST_MARGIN_M 30000.0
#define COAST_RES_M 250.0
#define ROAD_RES_M 200.0
#define ROAD_MARGIN_M 6000.0
#define TOWN_GRID_M 5000.0
#define CITY_GRID_M 30000.0
#define PARCEL_GRID_M 300.0
#define RIVER_STREAM_CELLS 2000.0   /* 5 km2 */
#define RIVER_BIG_CELLS 40000.0     /* 100 km2 */

static inline float clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }
static inline float smoothstepf(float a, float b, float x)
{
    float t = clampf((x - a) / (b - a), 0.f, 1.f);
    return t * t * (3.f - 2.f * t);
}

/* ==== scanline rasteriser ============================================== */

struct edge {
    double ya, yb, xa, dxdy; /* ya < yb; x at ya; dx/dy */
};

struct edge_set {
    struct edge *e;
    size_t n;
};

/* Collects the edges of g (EPSG:3035) that can matter for rows in
 * [ymin, ymax] and columns west of xmax. */
static int edges_collect(const struct gpn_geom *g, double ymin, double ymax, double xmax, struct edge_set *es,
                         struct gpn_err *err)
{
    size_t cap = 1024, n = 0;
    struct edge *e = malloc(cap * sizeof *e);
    if (!e) return gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (edges)");
    for (size_t r = 0; r < g->nrings; r++) {
        const struct gpn_ring *ring = &g->rings[r];
        for (size_t i = 0; i < ring->n; i++) {
            size_t j = (i + 1) % ring->n;
            double x0 = g->xy[2 * (ring->off + i)], y0 = g->xy[2 * (ring->off + i) + 1];
            double x1 = g->xy[2 * (ring->off + j)], y1 = g->xy[2 * (ring->off + j) + 1];
            if (!isfinite(x0) || !isfinite(y0) || !isfinite(x1) || !isfinite(y1) || y0 == y1) continue;
            if ((y0 < ymin && y1 < ymin) || (y0 > ymax && y1 > ymax)) continue;
            if (x0 > xmax && x1 > xmax) continue;
            if (n == cap) {
                cap *= 2;
                struct edge *ne = realloc(e, cap * sizeof *e);
                if (!ne) {
                    free(e);
                    return gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (edges)");
                }
                e = ne;
            }
            struct edge *d = &e[n++];
            if (y0 < y1) {
                d->ya = y0; d->yb = y1; d->xa = x0;
            } else {
                d->ya = y1; d->yb = y0; d->xa = x1;
            }
            d->dxdy = (x1 - x0) / (y1 - y0);
        }
    }
    es->e = e;
    es->n = n;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Rasterises the edge set onto the (H, W) north-up grid whose north-west
 * corner is (x0, y1) with square pixels of `res` m: mask = 1 where the
 * pixel centre is inside. */
static int raster_edges(const struct edge_set *es, double x0, double y1, double res, int W, int H, uint8_t *mask,
                        struct gpn_err *err)
{
    int rc = 0;
#pragma omp parallel
    {
        size_t cap = 256;
        double *xs = malloc(cap * sizeof *xs);
        if (!xs) {
#pragma omp atomic write
            rc = GPN_ENOMEM;
        }
#pragma omp for schedule(dynamic, 8)
        for (int r = 0; r < H; r++) {
            if (!xs) continue;
            double yc = y1 - (r + 0.5) * res;
            size_t n = 0;
            for (size_t i = 0; i < es->n; i++) {
                const struct edge *e = &es->e[i];
                if (e->ya <= yc && yc < e->yb) {
                    if (n == cap) {
                        double *nx = realloc(xs, 2 * cap * sizeof *xs);
                        if (!nx) {
#pragma omp atomic write
                            rc = GPN_ENOMEM;
                            break;
                        }
                        xs = nx;
                        cap *= 2;
                    }
                    xs[n++] = e->xa + (yc - e->ya) * e->dxdy;
                }
            }
            qsort(xs, n, sizeof *xs, cmp_double);
            size_t k = 0;
            uint8_t *row = mask + (size_t)r * W;
            for (int c = 0; c < W; c++) {
                double xc = x0 + (c + 0.5) * res;
                while (k < n && xs[k] <= xc) k++;
                row[c] = (uint8_t)(k & 1);
            }
        }
        free(xs);
    }
    if (rc) return gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (rasterising land)");
    return 0;
}

/* ==== distance transform ================================================ */

/* 1-D squared-distance transform (Felzenszwalb & Huttenlocher 2012) of f
 * (n values, spacing 1) into d; v, z scratch of n and n + 1. */
static void dt1d(const double *f, int n, double *d, int *v, double *z)
{
    int k = 0;
    v[0] = 0;
    z[0] = -DBL_MAX;
    z[1] = DBL_MAX;
    for (int q = 1; q < n; q++) {
        double fq = f[q] + (double)q * q;
        double s = (fq - (f[v[k]] + (double)v[k] * v[k])) / (2.0 * (q - v[k]));
        while (s <= z[k]) {
            k--;
            s = (fq - (f[v[k]] + (double)v[k] * v[k])) / (2.0 * (q - v[k]));
        }
        k++;
        v[k] = q;
        z[k] = s;
        z[k + 1] = DBL_MAX;
    }
    k = 0;
    for (int q = 0; q < n; q++) {
        while (z[k + 1] < q) k++;
        double dq = (double)q - v[k];
        d[q] = dq * dq + f[v[k]];
    }
}

int gpn__syn_edt(const uint8_t *mask, int W, int H, double cell, float *out, struct gpn_err *err)
{
    const double INF = 1e12; /* > any squared distance in cells; keeps s exact */
    size_t N = (size_t)W * H;
    double *g = malloc(N * sizeof *g);
    if (!g) return gpn_err_set(err, GPN_ENOMEM, "gpn__syn_edt: out of memory");
    int n = W > H ? W : H;
    int rc = 0;
    /* columns */
#pragma omp parallel
    {
        double *f = malloc((size_t)n * sizeof *f), *d = malloc((size_t)n * sizeof *d);
        double *z = malloc((size_t)(n + 1) * sizeof *z);
        int *v = malloc((size_t)n * sizeof *v);
        if (!f || !d || !z || !v) {
#pragma omp atomic write
            rc = GPN_ENOMEM;
        }
#pragma omp for schedule(static)
        for (int c = 0; c < W; c++) {
            if (!f || !d || !z || !v) continue;
            for (int r = 0; r < H; r++) f[r] = mask[(size_t)r * W + c] ? 0.0 : INF;
            dt1d(f, H, d, v, z);
            for (int r = 0; r < H; r++) g[(size_t)r * W + c] = d[r];
        }
#pragma omp barrier
#pragma omp for schedule(static)
        for (int r = 0; r < H; r++) {
            if (!f || !d || !z || !v) continue;
            for (int c = 0; c < W; c++) f[c] = g[(size_t)r * W + c];
            dt1d(f, W, d, v, z);
            for (int c = 0; c < W; c++) {
                double s = d[c] >= INF * 0.5 ? 1e12 : sqrt(d[c]) * cell;
                out[(size_t)r * W + c] = (float)s;
            }
        }
        free(f);
        free(d);
        free(z);
        free(v);
    }
    free(g);
    if (rc) return gpn_err_set(err, GPN_ENOMEM, "gpn__syn_edt: out of memory");
    return 0;
}

/* ==== land, sea and distance to the coast ================================ */

static int land_masks(struct syn_world *w, struct gpn_err *err)
{
    struct gpn_geom *g = NULL;
    struct edge_set es = {0};
    uint8_t *gland = NULL, *tmp = NULL;
    float *dl = NULL, *ds = NULL;
    int rc = gpn_geom_land(w->land_path, &g, err);
    if (rc) return gpn_err_prefix(err, "synth: land polygons");
    /* A generous lon/lat window first (cheap), then EPSG:3035. */
    double lonlat[4] = {-35.0, 20.0, 75.0, 80.0};
    gpn_geom_keep_bbox(g, lonlat, NULL);
    rc = gpn_geom_transform(g, 3035, err);
    if (rc) {
        gpn_err_prefix(err, "synth: land polygons to EPSG:3035");
        goto done;
    }
    /* Coarse grid: region + margin. */
    w->gres = COAST_RES_M;
    w->gx0 = w->x0 - COAST_MARGIN_M;
    w->gy1 = w->y1 + COAST_MARGIN_M;
    w->gW = (int)ceil((w->x1 - w->x0 + 2 * COAST_MARGIN_M) / COAST_RES_M);
    w->gH = (int)ceil((w->y1 - w->y0 + 2 * COAST_MARGIN_M) / COAST_RES_M);
    size_t gN = (size_t)w->gW * w->gH;
    double gy0 = w->gy1 - w->gH * COAST_RES_M, gx1 = w->gx0 + w->gW * COAST_RES_M;
    rc = edges_collect(g, gy0 - 1.0, w->gy1 + 1.0, gx1 + 1.0, &es, err);
    if (rc) goto done;
    gland = malloc(gN);
    tmp = malloc(gN);
    dl = malloc(gN * sizeof *dl);
    ds = malloc(gN * sizeof *ds);
    w->gdcoast = malloc(gN * sizeof *w->gdcoast);
    if (!gland || !tmp || !dl || !ds || !w->gdcoast) {
        rc = gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (coast grid)");
        goto done;
    }
    rc = raster_edges(&es, w->gx0, w->gy1, COAST_RES_M, w->gW, w->gH, gland, err);
    if (rc) goto done;
    for (size_t i = 0; i < gN; i++) tmp[i] = (uint8_t)!gland[i];
    rc = gpn__syn_edt(tmp, w->gW, w->gH, COAST_RES_M, dl, err); /* land: distance to sea */
    if (!rc) rc = gpn__syn_edt(gland, w->gW, w->gH, COAST_RES_M, ds, err); /* sea: distance to land */
    if (rc) goto done;
    for (size_t i = 0; i < gN; i++) {
        float d = gland[i] ? dl[i] - 0.5f * (float)COAST_RES_M : -(ds[i] - 0.5f * (float)COAST_RES_M);
        if (d > 2.5f * (float)COAST_MARGIN_M) d = 2.5f * (float)COAST_MARGIN_M;
        if (d < -2.5f * (float)COAST_MARGIN_M) d = -2.5f * (float)COAST_MARGIN_M;
        if (gland[i] && d < 1.f) d = 1.f;
        if (!gland[i] && d > -1.f) d = -1.f;
        w->gdcoast[i] = d;
    }
    /* The 50 m land mask of the region. */
    free(es.e);
    es.e = NULL;
    rc = edges_collect(g, w->y0 - 1.0, w->y1 + 1.0, w->x1 + 1.0, &es, err);
    if (!rc) rc = raster_edges(&es, w->x0, w->y1, SYN_CELL, w->W, w->H, w->land, err);
done:
    free(es.e);
    free(gland);
    free(tmp);
    free(dl);
    free(ds);
    gpn_geom_free(g);
    return rc;
}

/* Signed distance to the coast at (x, y) from the coarse grid (bilinear). */
static float coast_dist(const struct syn_world *w, double x, double y)
{
    double fx = (x - w->gx0) / w->gres - 0.5, fy = (w->gy1 - y) / w->gres - 0.5;
    int ix = (int)floor(fx), iy = (int)floor(fy);
    float tx = (float)(fx - ix), ty = (float)(fy - iy);
    int x0 = ix < 0 ? 0 : ix >= w->gW ? w->gW - 1 : ix;
    int x1 = ix + 1 < 0 ? 0 : ix + 1 >= w->gW ? w->gW - 1 : ix + 1;
    int y0 = iy < 0 ? 0 : iy >= w->gH ? w->gH - 1 : iy;
    int y1 = iy + 1 < 0 ? 0 : iy + 1 >= w->gH ? w->gH - 1 : iy + 1;
    if (tx < 0.f) tx = 0.f;
    if (ty < 0.f) ty = 0.f;
    if (tx > 1.f) tx = 1.f;
    if (ty > 1.f) ty = 1.f;
    const float *g = w->gdcoast;
    float a = g[(size_t)y0 * w->gW + x0] + tx * (g[(size_t)y0 * w->gW + x1] - g[(size_t)y0 * w->gW + x0]);
    float b = g[(size_t)y1 * w->gW + x0] + tx * (g[(size_t)y1 * w->gW + x1] - g[(size_t)y1 * w->gW + x0]);
    return a + ty * (b - a);
}

/* ==== relief ============================================================== */

/* Elevation (m) before valley carving at (x, y) with signed coast distance
 * d (m). docs/synthetic.md, "Relief". */
static float elev_fn(uint64_t seed, double x, double y, float d)
{
    if (d <= 0.f) return -1.f + (d < -20000.f ? -200.f : d * 0.01f);
    double dk = d / 1000.0;
    double s = 1.0 - exp(-dk / 15.0);
    s *= s;
    float big = gpn__syn_fbm(seed ^ SP_ELEV_BIG, x, y, 60000.0, 3, 0.5f);
    float mask = smoothstepf(-0.15f, 0.35f, gpn__syn_fbm(seed ^ SP_ELEV_MASK, x, y, 30000.0, 3, 0.5f));
    float ridge = gpn__syn_ridged(seed ^ SP_ELEV_RIDGE, x, y, 9000.0, 6);
    float hill = gpn__syn_fbm(seed ^ SP_ELEV_HILL, x, y, 2500.0, 4, 0.5f);
    float fine = gpn__syn_fbm(seed ^ SP_ELEV_FINE, x, y, 400.0, 2, 0.5f);
    double h = 25.0 * s + 420.0 * s * (1.0 + 0.8 * big) + 700.0 * pow(s, 1.3) * mask * ridge + 70.0 * s * hill +
               4.0 * fine;
    /* The coastal plain: the first ~3 km stay within a few metres of the
     * sea, which leaves room for lagoons, salt marshes and beaches. */
    double cp = smoothstepf(0.f, 4.f, (float)dk);
    double low = 0.2 + 1.2 * dk + 1.5 * (0.5 + fine);
    h = cp * h + (1.0 - cp) * low;
    return (float)(h < 0.3 ? 0.3 : h);
}

/* ==== priority queue (min-heap on (key, index)) ========================== */

struct heap {
    float *key;
    int64_t *idx;
    size_t n, cap;
};

static int heap_init(struct heap *h, size_t cap)
{
    h->key = malloc(cap * sizeof *h->key);
    h->idx = malloc(cap * sizeof *h->idx);
    h->n = 0;
    h->cap = cap;
    return (h->key && h->idx) ? 0 : -1;
}
static void heap_free(struct heap *h)
{
    free(h->key);
    free(h->idx);
}
static inline int heap_less(const struct heap *h, size_t a, size_t b)
{
    return h->key[a] < h->key[b] || (h->key[a] == h->key[b] && h->idx[a] < h->idx[b]);
}
static inline void heap_swap(struct heap *h, size_t a, size_t b)
{
    float k = h->key[a];
    h->key[a] = h->key[b];
    h->key[b] = k;
    int64_t i = h->idx[a];
    h->idx[a] = h->idx[b];
    h->idx[b] = i;
}
static int heap_push(struct heap *h, float key, int64_t idx)
{
    if (h->n == h->cap) {
        size_t nc = h->cap * 2;
        float *nk = realloc(h->key, nc * sizeof *nk);
        if (!nk) return -1;
        h->key = nk;
        int64_t *ni = realloc(h->idx, nc * sizeof *ni);
        if (!ni) return -1;
        h->idx = ni;
        h->cap = nc;
    }
    size_t i = h->n++;
    h->key[i] = key;
    h->idx[i] = idx;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(h, i, p)) break;
        heap_swap(h, i, p);
        i = p;
    }
    return 0;
}
static void heap_pop(struct heap *h, float *key, int64_t *idx)
{
    *key = h->key[0];
    *idx = h->idx[0];
    h->n--;
    if (h->n == 0) return;
    h->key[0] = h->key[h->n];
    h->idx[0] = h->idx[h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && heap_less(h, l, m)) m = l;
        if (r < h->n && heap_less(h, r, m)) m = r;
        if (m == i) break;
        heap_swap(h, i, m);
        i = m;
    }
}

static const int D8R[8] = {-1, -1, -1, 0, 0, 1, 1, 1};
static const int D8C[8] = {-1, 0, 1, -1, 1, -1, 0, 1};

/* Priority-flood (Barnes et al. 2014) from the sea and the region border:
 * every land cell drains to the cell that flooded it. Accumulation runs
 * over the flood order backwards, so a cell is complete before it gives its
 * area downstream. */
static int hydrology(struct syn_world *w, struct gpn_err *err)
{
    size_t N = w->N;
    int W = w->W, H = w->H;
    int rc = 0;
    struct heap h = {0};
    uint8_t *seen = calloc(N, 1);
    int64_t *order = malloc(N * sizeof *order), *parent = malloc(N * sizeof *parent);
    float *fill = malloc(N * sizeof *fill);
    float *carve = NULL, *tmpb = NULL;
    if (!seen || !order || !parent || !fill || heap_init(&h, 1u << 16)) {
        rc = gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (hydrology)");
        goto done;
    }
    for (int r = 0; r < H; r++)
        for (int c = 0; c < W; c++) {
            size_t i = (size_t)r * W + c;
            int border = r == 0 || c == 0 || r == H - 1 || c == W - 1;
            if (!w->land[i] || border) {
                seen[i] = 1;
                parent[i] = -1;
                fill[i] = w->land[i] ? w->elev[i] : 0.f;
                if (heap_push(&h, fill[i], (int64_t)i)) {
                    rc = gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (hydrology)");
                    goto done;
                }
            }
        }
    size_t no = 0;
    while (h.n) {
        float k;
        int64_t i;
        heap_pop(&h, &k, &i);
        order[no++] = i;
        int r = (int)(i / W), c = (int)(i % W);
        for (int d = 0; d < 8; d++) {
            int rr = r + D8R[d], cc = c + D8C[d];
            if (rr < 0 || rr >= H || cc < 0 || cc >= W) continue;
            size_t j = (size_t)rr * W + cc;
            if (seen[j]) continue;
            seen[j] = 1;
            parent[j] = i;
            float e = w->elev[j];
            fill[j] = e > k + 1e-3f ? e : k + 1e-3f;
            if (heap_push(&h, fill[j], (int64_t)j)) {
                rc = gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (hydrology)");
                goto done;
            }
        }
    }
    for (size_t i = 0; i < N; i++) w->acc[i] = 1.f;
    for (size_t k = no; k-- > 0;) {
        int64_t i = order[k];
        if (parent[i] >= 0) w->acc[parent[i]] += w->acc[i];
    }
    for (size_t i = 0; i < N; i++) {
        w->river[i] = 0;
        if (!w->land[i]) continue;
        if (w->acc[i] >= RIVER_BIG_CELLS) w->river[i] = 2;
        else if (w->acc[i] >= RIVER_STREAM_CELLS) w->river[i] = 1;
    }
    /* Valleys: carve depth grows with the log of the catchment, spread by
     * two box blurs (radius 4 cells) into a V of ~400 m. */
    carve = calloc(N, sizeof *carve);
    tmpb = malloc(N * sizeof *tmpb);
    if (!carve || !tmpb) {
        rc = gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (valleys)");
        goto done;
    }
    for (size_t i = 0; i < N; i++)
        if (w->land[i] && w->acc[i] > 200.f) carve[i] = 6.f * log2f(w->acc[i] / 200.f);
    for (int pass = 0; pass < 2; pass++) {
        const int R = 4;
#pragma omp parallel for schedule(static)
        for (int r = 0; r < H; r++) {
            for (int c = 0; c < W; c++) {
                float s = 0.f;
                for (int k = -R; k <= R; k++) {
                    int cc = c + k < 0 ? 0 : c + k >= W ? W - 1 : c + k;
                    s += carve[(size_t)r * W + cc];
                }
                tmpb[(size_t)r * W + c] = s / (2 * R + 1);
            }
        }
#pragma omp parallel for schedule(static)
        for (int r = 0; r < H; r++) {
            for (int c = 0; c < W; c++) {
                float s = 0.f;
                for (int k = -R; k <= R; k++) {
                    int rr = r + k < 0 ? 0 : r + k >= H ? H - 1 : r + k;
                    s += tmpb[(size_t)rr * W + c];
                }
                carve[(size_t)r * W + c] = s / (2 * R + 1);
            }
        }
    }
    for (size_t i = 0; i < N; i++) {
        if (!w->land[i]) continue;
        float e = w->elev[i];
        /* Carve less on the coastal plain (nothing to cut into). */
        float cut = carve[i] * 2.5f;
        float maxcut = 0.6f * e;
        if (cut > maxcut) cut = maxcut;
        if (cut > 60.f) cut = 60.f;
        e -= cut;
        w->elev[i] = e < 0.2f ? 0.2f : e;
    }
done:
    heap_free(&h);
    free(seen);
    free(order);
    free(parent);
    free(fill);
    free(carve);
    free(tmpb);
    return rc;
}

/* Slope (degrees) and aspect (radians, from north, clockwise) by Horn's
 * method; wetness from the topographic wetness index. */
static void slope_wetness(struct syn_world *w)
{
    int W = w->W, H = w->H;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < H; r++) {
        for (int c = 0; c < W; c++) {
            size_t i = (size_t)r * W + c;
#define E(rr, cc) w->elev[(size_t)((rr) < 0 ? 0 : (rr) >= H ? H - 1 : (rr)) * W + ((cc) < 0 ? 0 : (cc) >= W ? W - 1 : (cc))]
            double a = E(r - 1, c - 1), b = E(r - 1, c), cc_ = E(r - 1, c + 1);
            double d = E(r, c - 1), f = E(r, c + 1);
            double g = E(r + 1, c - 1), hh = E(r + 1, c), ii = E(r + 1, c + 1);
#undef E
            double dzdx = ((cc_ + 2 * f + ii) - (a + 2 * d + g)) / (8.0 * SYN_CELL);
            double dzdy = ((a + 2 * b + cc_) - (g + 2 * hh + ii)) / (8.0 * SYN_CELL); /* north minus south */
            double sl = atan(sqrt(dzdx * dzdx + dzdy * dzdy));
            w->slope[i] = w->land[i] ? (float)(sl * 180.0 / SYN_PI) : 0.f;
            /* downslope direction: aspect = direction the slope faces */
            double asp = atan2(-dzdx, -dzdy);
            if (asp < 0) asp += 2 * SYN_PI;
            w->aspect[i] = (float)asp;
            if (!w->land[i]) {
                w->wet[i] = 1.f;
                continue;
            }
            double tb = tan(fmax(sl, 0.3 * SYN_PI / 180.0));
            double twi = log(w->acc[i] * SYN_CELL / tb);
            float wet = clampf((float)((twi - 8.0) / 7.0), 0.f, 1.f);
            if (w->river[i]) wet = fmaxf(wet, 0.85f);
            /* Coastal lowlands are waterlogged. */
            if (w->elev[i] < 3.f && w->dcoast[i] < 6000.f) wet = fmaxf(wet, 0.9f - 0.1f * w->elev[i]);
            w->wet[i] = wet;
        }
    }
}

/* ==== towns and roads ===================================================== */

static int town_push(struct syn_world *w, size_t *cap, struct syn_town t)
{
    if (w->ntowns == *cap) {
        size_t nc = *cap ? 2 * *cap : 64;
        struct syn_town *nt = realloc(w->towns, nc * sizeof *nt);
        if (!nt) return -1;
        w->towns = nt;
        *cap = nc;
    }
    w->towns[w->ntowns++] = t;
    return 0;
}

static int place_towns(struct syn_world *w, struct gpn_err *err)
{
    size_t cap = 0;
    double m = ROAD_MARGIN_M;
    /* Cities first: one candidate per 30 km lattice cell. */
    for (int pass = 0; pass < 2; pass++) {
        double G = pass == 0 ? CITY_GRID_M : TOWN_GRID_M;
        int64_t i0 = (int64_t)floor((w->x0 - m) / G), i1 = (int64_t)floor((w->x1 + m) / G);
        int64_t j0 = (int64_t)floor((w->y0 - m) / G), j1 = (int64_t)floor((w->y1 + m) / G);
        for (int64_t j = j0; j <= j1; j++)
            for (int64_t i = i0; i <= i1; i++) {
                struct syn_rng r = syn_rng_make(w->seed, pass == 0 ? SP_CITY : SP_TOWN, (uint64_t)i, (uint64_t)j);
                double x = (i + 0.15 + 0.7 * syn_rng_u01(&r)) * G, y = (j + 0.15 + 0.7 * syn_rng_u01(&r)) * G;
                if (x < w->x0 - m || x >= w->x1 + m || y < w->y0 - m || y >= w->y1 + m) continue;
                float d = coast_dist(w, x, y);
                if (d < 300.f) continue;
                float e = elev_fn(w->seed, x, y, d);
                double u = syn_rng_u01(&r);
                struct syn_town t = {x, y, 0.f, (uint8_t)(pass == 0)};
                if (pass == 0) {
                    if (e > 200.f || u > 0.75) continue;
                    t.r = (float)(1800.0 + 1700.0 * syn_rng_u01(&r));
                } else {
                    double p = 0.6 * (e < 250.f ? 1.0 : e < 500.f ? 0.45 : 0.12);
                    if (u > p) continue;
                    double rad = 220.0 * exp(0.55 * syn_rng_normal(&r));
                    t.r = (float)(rad < 120.0 ? 120.0 : rad > 900.0 ? 900.0 : rad);
                    int clash = 0;
                    for (size_t k = 0; k < w->ntowns; k++) {
                        const struct syn_town *o = &w->towns[k];
                        double dx = o->x - x, dy = o->y - y;
                        if (o->city && dx * dx + dy * dy < (o->r + 1500.0) * (o->r + 1500.0)) clash = 1;
                    }
                    if (clash) continue;
                }
                if (town_push(w, &cap, t)) return gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (towns)");
            }
    }
    return 0;
}

struct road_grid {
    double x0, y1; /* north-west corner */
    int W, H;
    float *cost;   /* per node, INFINITY at sea */
    uint8_t *used; /* 1 where a road already runs */
};

static int seg_push(struct syn_world *w, size_t *cap, float x0, float y0, float x1, float y1, uint8_t major)
{
    if (w->nsegs == *cap) {
        size_t nc = *cap ? 2 * *cap : 256;
        struct syn_seg *ns = realloc(w->segs, nc * sizeof *ns);
        if (!ns) return -1;
        w->segs = ns;
        *cap = nc;
    }
    struct syn_seg s = {x0, y0, x1, y1, major};
    w->segs[w->nsegs++] = s;
    return 0;
}

/* A* from node a to node b inside the window [c0,c1] x [r0,r1]; writes the
 * path (node indices, a first) into *path / *np (malloc'ed). Returns 0, 1
 * when unreachable, or -1 when out of memory. */
static int astar(const struct road_grid *g, int64_t a, int64_t b, int c0, int c1, int r0, int r1, int64_t **path,
                 size_t *np)
{
    int ww = c1 - c0 + 1, wh = r1 - r0 + 1;
    size_t n = (size_t)ww * wh;
    float *gs = malloc(n * sizeof *gs);
    int32_t *from = malloc(n * sizeof *from);
    uint8_t *closed = calloc(n, 1);
    struct heap h = {0};
    int rc = -1;
    *path = NULL;
    *np = 0;
    if (!gs || !from || !closed || heap_init(&h, 1024)) goto done;
    for (size_t i = 0; i < n; i++) {
        gs[i] = INFINITY;
        from[i] = -1;
    }
#define LOC(node) ((size_t)(((node) / g->W) - r0) * ww + (size_t)(((node) % g->W) - c0))
    int br = (int)(b / g->W), bc = (int)(b % g->W);
    gs[LOC(a)] = 0.f;
    if (heap_push(&h, 0.f, a)) goto done;
    rc = 1;
    while (h.n) {
        float f;
        int64_t u;
        heap_pop(&h, &f, &u);
        size_t lu = LOC(u);
        if (closed[lu]) continue;
        closed[lu] = 1;
        if (u == b) {
            rc = 0;
            break;
        }
        int ur = (int)(u / g->W), uc = (int)(u % g->W);
        for (int d = 0; d < 8; d++) {
            int vr = ur + D8R[d], vc = uc + D8C[d];
            if (vr < r0 || vr > r1 || vc < c0 || vc > c1) continue;
            int64_t v = (int64_t)vr * g->W + vc;
            float cv = g->cost[v];
            if (!isfinite(cv)) continue;
            size_t lv = LOC(v);
            if (closed[lv]) continue;
            float step = (D8R[d] && D8C[d]) ? 1.41421356f : 1.f;
            float cu = g->cost[u];
            float m = 0.5f * (cu + cv);
            if (g->used[u] && g->used[v]) m *= 0.35f;
            float ng = gs[lu] + step * m;
            if (ng < gs[lv]) {
                gs[lv] = ng;
                from[lv] = (int32_t)lu;
                float dr = (float)(vr - br), dc = (float)(vc - bc);
                float hh = 0.35f * sqrtf(dr * dr + dc * dc);
                if (heap_push(&h, ng + hh, v)) {
                    rc = -1;
                    goto done;
                }
            }
        }
    }
    if (rc == 0) {
        size_t len = 0;
        for (int32_t l = (int32_t)LOC(b); l >= 0; l = from[l]) len++;
        *path = malloc(len * sizeof **path);
        if (!*path) {
            rc = -1;
            goto done;
        }
        size_t k = len;
        for (int32_t l = (int32_t)LOC(b); l >= 0; l = from[l]) {
            int lr = l / ww, lc = l % ww;
            (*path)[--k] = (int64_t)(lr + r0) * g->W + (lc + c0);
        }
        *np = len;
    }
#undef LOC
done:
    free(gs);
    free(from);
    free(closed);
    heap_free(&h);
    return rc;
}

struct edge_pair {
    int a, b;
    double len;
    uint8_t major;
};

static int cmp_pair(const void *pa, const void *pb)
{
    const struct edge_pair *a = pa, *b = pb;
    if (a->major != b->major) return b->major - a->major; /* major roads first */
    if (a->len != b->len) return a->len < b->len ? -1 : 1;
    if (a->a != b->a) return a->a - b->a;
    return a->b - b->b;
}

/* Draws the segment onto the 50 m road mask. */
static void road_draw(struct syn_world *w, const struct syn_seg *s)
{
    double dx = s->x1 - s->x0, dy = s->y1 - s->y0;
    double len = sqrt(dx * dx + dy * dy);
    int steps = (int)(len / 15.0) + 1;
    for (int k = 0; k <= steps; k++) {
        double t = (double)k / steps;
        int64_t c = syn_cell_at(w, s->x0 + t * dx, s->y0 + t * dy);
        if (c < 0 || !w->land[c]) continue;
        uint8_t v = s->major ? 2 : 1;
        if (w->road[c] < v) w->road[c] = v;
    }
}

static int build_roads(struct syn_world *w, struct gpn_err *err)
{
    struct road_grid g = {0};
    struct edge_pair *pairs = NULL;
    int rc = 0;
    size_t segcap = 0;
    if (w->ntowns < 2) return 0;
    g.x0 = w->x0 - ROAD_MARGIN_M;
    g.y1 = w->y1 + ROAD_MARGIN_M;
    g.W = (int)ceil((w->x1 - w->x0 + 2 * ROAD_MARGIN_M) / ROAD_RES_M);
    g.H = (int)ceil((w->y1 - w->y0 + 2 * ROAD_MARGIN_M) / ROAD_RES_M);
    size_t gn = (size_t)g.W * g.H;
    g.cost = malloc(gn * sizeof *g.cost);
    g.used = calloc(gn, 1);
    float *ge = malloc(gn * sizeof *ge);
    if (!g.cost || !g.used || !ge) {
        rc = gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (roads)");
        goto done;
    }
#pragma omp parallel for schedule(static)
    for (int r = 0; r < g.H; r++)
        for (int c = 0; c < g.W; c++) {
            double x = g.x0 + (c + 0.5) * ROAD_RES_M, y = g.y1 - (r + 0.5) * ROAD_RES_M;
            float d = coast_dist(w, x, y);
            ge[(size_t)r * g.W + c] = d <= 0.f ? NAN : elev_fn(w->seed, x, y, d);
        }
    for (int r = 0; r < g.H; r++)
        for (int c = 0; c < g.W; c++) {
            size_t i = (size_t)r * g.W + c;
            if (isnan(ge[i])) {
                g.cost[i] = INFINITY;
                continue;
            }
            float e = ge[i];
            float ex = ge[(size_t)r * g.W + (c + 1 < g.W ? c + 1 : c)], wx = ge[(size_t)r * g.W + (c > 0 ? c - 1 : c)];
            float ny = ge[(size_t)(r > 0 ? r - 1 : r) * g.W + c], sy = ge[(size_t)(r + 1 < g.H ? r + 1 : r) * g.W + c];
            if (isnan(ex)) ex = e;
            if (isnan(wx)) wx = e;
            if (isnan(ny)) ny = e;
            if (isnan(sy)) sy = e;
            float gx = (ex - wx) / (float)(2 * ROAD_RES_M), gy = (ny - sy) / (float)(2 * ROAD_RES_M);
            float grad = sqrtf(gx * gx + gy * gy);
            g.cost[i] = 1.f + 400.f * grad * grad + 8.f * grad + e / 900.f;
        }
    /* Candidate links: each town to its 2 nearest, each city to 3. */
    size_t nt = w->ntowns, np = 0, pcap = nt * 4 + 4;
    pairs = malloc(pcap * sizeof *pairs);
    if (!pairs) {
        rc = gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (roads)");
        goto done;
    }
    for (size_t i = 0; i < nt; i++) {
        int want = w->towns[i].city ? 3 : 2;
        int best[3] = {-1, -1, -1};
        double bd[3] = {INFINITY, INFINITY, INFINITY};
        for (size_t j = 0; j < nt; j++) {
            if (j == i) continue;
            if (w->towns[i].city && !w->towns[j].city && want == 3) {
                /* cities link to cities first when there are some */
            }
            double dx = w->towns[j].x - w->towns[i].x, dy = w->towns[j].y - w->towns[i].y, d = sqrt(dx * dx + dy * dy);
            for (int k = 0; k < want; k++)
                if (d < bd[k]) {
                    for (int m = want - 1; m > k; m--) {
                        bd[m] = bd[m - 1];
                        best[m] = best[m - 1];
                    }
                    bd[k] = d;
                    best[k] = (int)j;
                    break;
                }
        }
        for (int k = 0; k < want; k++) {
            if (best[k] < 0) continue;
            int a = (int)i < best[k] ? (int)i : best[k], b = (int)i < best[k] ? best[k] : (int)i;
            int dup = 0;
            for (size_t q = 0; q < np; q++)
                if (pairs[q].a == a && pairs[q].b == b) dup = 1;
            if (dup || np == pcap) continue;
            pairs[np].a = a;
            pairs[np].b = b;
            pairs[np].len = bd[k];
            pairs[np].major = (uint8_t)(w->towns[a].city || w->towns[b].city);
            np++;
        }
    }
    qsort(pairs, np, sizeof *pairs, cmp_pair);
    for (size_t q = 0; q < np; q++) {
        const struct syn_town *ta = &w->towns[pairs[q].a], *tb = &w->towns[pairs[q].b];
        int ac = (int)((ta->x - g.x0) / ROAD_RES_M), ar = (int)((g.y1 - ta->y) / ROAD_RES_M);
        int bc = (int)((tb->x - g.x0) / ROAD_RES_M), br = (int)((g.y1 - tb->y) / ROAD_RES_M);
        if (ac < 0 || ac >= g.W || ar < 0 || ar >= g.H || bc < 0 || bc >= g.W || br < 0 || br >= g.H) continue;
        int64_t a = (int64_t)ar * g.W + ac, b = (int64_t)br * g.W + bc;
        if (!isfinite(g.cost[a]) || !isfinite(g.cost[b])) continue;
        int pad = 10 + (int)(0.3 * pairs[q].len / ROAD_RES_M);
        int c0 = (ac < bc ? ac : bc) - pad, c1 = (ac > bc ? ac : bc) + pad;
        int r0 = (ar < br ? ar : br) - pad, r1 = (ar > br ? ar : br) + pad;
        if (c0 < 0) c0 = 0;
        if (r0 < 0) r0 = 0;
        if (c1 >= g.W) c1 = g.W - 1;
        if (r1 >= g.H) r1 = g.H - 1;
        int64_t *path = NULL;
        size_t plen = 0;
        int arc = astar(&g, a, b, c0, c1, r0, r1, &path, &plen);
        if (arc < 0) {
            rc = gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (road routing)");
            goto done;
        }
        if (arc > 0 || plen < 2) {
            free(path);
            continue;
        }
        /* Node centres, smoothed by one Chaikin pass, as segments. */
        double px = ta->x, py = ta->y;
        for (size_t k = 0; k + 1 < plen; k++) {
            g.used[path[k]] = 1;
            double ax = g.x0 + ((double)(path[k] % g.W) + 0.5) * ROAD_RES_M;
            double ay = g.y1 - ((double)(path[k] / g.W) + 0.5) * ROAD_RES_M;
            double bx = g.x0 + ((double)(path[k + 1] % g.W) + 0.5) * ROAD_RES_M;
            double by = g.y1 - ((double)(path[k + 1] / g.W) + 0.5) * ROAD_RES_M;
            double qx = 0.75 * ax + 0.25 * bx, qy = 0.75 * ay + 0.25 * by;
            double sx = 0.25 * ax + 0.75 * bx, sy = 0.25 * ay + 0.75 * by;
            if (seg_push(w, &segcap, (float)px, (float)py, (float)qx, (float)qy, pairs[q].major) ||
                seg_push(w, &segcap, (float)qx, (float)qy, (float)sx, (float)sy, pairs[q].major)) {
                free(path);
                rc = gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (roads)");
                goto done;
            }
            px = sx;
            py = sy;
        }
        g.used[path[plen - 1]] = 1;
        if (seg_push(w, &segcap, (float)px, (float)py, (float)tb->x, (float)tb->y, pairs[q].major)) {
            free(path);
            rc = gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (roads)");
            goto done;
        }
        free(path);
    }
    for (size_t k = 0; k < w->nsegs; k++) road_draw(w, &w->segs[k]);
done:
    free(g.cost);
    free(g.used);
    free(ge);
    free(pairs);
    return rc;
}

/* Urban footprint: a cell is urban when its distance to a town centre,
 * relative to the town radius distorted by noise, is below 1. */
static void urban_cores(struct syn_world *w)
{
    int W = w->W, H = w->H;
    for (size_t i = 0; i < w->N; i++) w->tcore[i] = 1e6f;
    for (size_t t = 0; t < w->ntowns; t++) {
        const struct syn_town *tw = &w->towns[t];
        double R = tw->r * 1.6 + 100.0;
        int c0 = (int)floor((tw->x - R - w->x0) / SYN_CELL), c1 = (int)ceil((tw->x + R - w->x0) / SYN_CELL);
        int r0 = (int)floor((w->y1 - (tw->y + R)) / SYN_CELL), r1 = (int)ceil((w->y1 - (tw->y - R)) / SYN_CELL);
        if (c0 < 0) c0 = 0;
        if (r0 < 0) r0 = 0;
        if (c1 >= W) c1 = W - 1;
        if (r1 >= H) r1 = H - 1;
        for (int r = r0; r <= r1; r++)
            for (int c = c0; c <= c1; c++) {
                size_t i = (size_t)r * W + c;
                double x = syn_cx(w, c), y = syn_cy(w, r);
                double dx = x - tw->x, dy = y - tw->y;
                double d = sqrt(dx * dx + dy * dy);
                float shape = 1.f + 0.45f * gpn__syn_fbm(w->seed ^ SP_URBAN_SHAPE, x, y, 900.0, 3, 0.5f);
                float rel = (float)(d / (tw->r * shape));
                if (rel < w->tcore[i]) w->tcore[i] = rel;
            }
    }
}

/* ==== land cover =========================================================== */

uint64_t gpn__syn_parcel(uint64_t seed, double x, double y)
{
    int64_t gi = (int64_t)floor(x / PARCEL_GRID_M), gj = (int64_t)floor(y / PARCEL_GRID_M);
    double best = INFINITY;
    uint64_t key = 0;
    for (int dj = -1; dj <= 1; dj++)
        for (int di = -1; di <= 1; di++) {
            int64_t i = gi + di, j = gj + dj;
            uint64_t h = syn_hash(seed, SP_PARCEL, (uint64_t)i, (uint64_t)j);
            double px = (i + 0.1 + 0.8 * syn_u01(h)) * PARCEL_GRID_M;
            double py = (j + 0.1 + 0.8 * syn_u01(syn_mix(h))) * PARCEL_GRID_M;
            double d = (px - x) * (px - x) + (py - y) * (py - y);
            if (d < best) {
                best = d;
                key = h;
            }
        }
    return key;
}

uint8_t gpn__syn_crop_type(uint64_t parcel_key, int med)
{
    double u = syn_u01(syn_mix(parcel_key ^ 0x5bd1e995ull));
    if (med) return u < 0.48 ? SYN_CROP_VINE : u < 0.80 ? SYN_CROP_ARABLE : u < 0.90 ? SYN_CROP_ORCHARD : SYN_CROP_FALLOW;
    return u < 0.05 ? SYN_CROP_VINE : u < 0.75 ? SYN_CROP_ARABLE : u < 0.85 ? SYN_CROP_ORCHARD : SYN_CROP_FALLOW;
}

static void land_cover(struct syn_world *w)
{
    int W = w->W, H = w->H;
    uint64_t seed = w->seed;
#pragma omp parallel for schedule(dynamic, 4)
    for (int r = 0; r < H; r++) {
        for (int c = 0; c < W; c++) {
            size_t i = (size_t)r * W + c;
            double x = syn_cx(w, c), y = syn_cy(w, r);
            w->crop[i] = SYN_CROP_NONE;
            if (!w->land[i]) {
                w->lc[i] = GPN_SYNTH_LC_SEA;
                continue;
            }
            float e = w->elev[i], sl = w->slope[i], dc = w->dcoast[i], wet = w->wet[i];
            if (w->river[i] == 2) {
                w->lc[i] = GPN_SYNTH_LC_WATER;
                continue;
            }
            /* Lagoons (etangs) behind the beach ridge. */
            float lag = gpn__syn_fbm(seed ^ SP_LAGOON, x, y, 2500.0, 3, 0.5f);
            if (e < 1.2f && dc > 250.f && dc < 5000.f && lag > -0.05f) {
                w->lc[i] = GPN_SYNTH_LC_WATER;
                continue;
            }
            if (w->tcore[i] < 1.f) {
                w->lc[i] = GPN_SYNTH_LC_URBAN;
                continue;
            }
            /* Beaches: a strip of sand along low coasts. */
            if (dc < 150.f + 80.f * lag && e < 4.f) {
                w->lc[i] = GPN_SYNTH_LC_ROCK;
                continue;
            }
            if ((e < 2.5f && dc < 6000.f) || (wet > 0.86f && sl < 2.5f) ||
                (w->river[i] == 1 && syn_u01(syn_hash(seed, SP_LC_GRASS, i, 7)) < 0.35)) {
                w->lc[i] = GPN_SYNTH_LC_WETLAND;
                continue;
            }
            if (sl > 33.f || (sl > 26.f && gpn__syn_fbm(seed ^ SP_LC_GRASS, x, y, 700.0, 2, 0.5f) > 0.15f) ||
                w->tann[i] < 0.5f) {
                w->lc[i] = GPN_SYNTH_LC_ROCK;
                continue;
            }
            float n_for = gpn__syn_fbm(seed ^ SP_LC_FOREST, x, y, 3500.0, 4, 0.55f);
            float n_scr = gpn__syn_fbm(seed ^ SP_LC_SCRUB, x, y, 2200.0, 4, 0.55f);
            float n_gra = gpn__syn_fbm(seed ^ SP_LC_GRASS, x, y, 2800.0, 3, 0.5f);
            float n_crp = gpn__syn_fbm(seed ^ SP_LC_CROP, x, y, 7000.0, 3, 0.5f);
            uint64_t pk = gpn__syn_parcel(seed, x, y);
            float pu = (float)syn_u01(pk) - 0.5f;
            float near_town = expf(-w->tcore[i] * 0.35f);
            float S_crop = 0.95f - 0.10f * sl - e / 300.f + 0.5f * near_town + 1.6f * n_crp + 0.45f * pu -
                           (wet > 0.75f ? 0.6f : 0.f);
            float S_for = 0.05f + 0.03f * sl + e / 1000.f + (w->pann[i] - 750.f) / 1000.f + 2.0f * n_for -
                          0.5f * near_town;
            float S_scr = -0.2f + 0.04f * sl + 0.6f * w->sub[i] + (w->tann[i] - 12.f) / 10.f -
                          (w->pann[i] - 750.f) / 1000.f + 2.0f * n_scr;
            float S_gra = -0.05f + e / 1400.f + 1.8f * n_gra + 0.25f * (1.f - w->sub[i]) + (wet > 0.6f ? 0.3f : 0.f);
            uint8_t best = GPN_SYNTH_LC_CROPLAND;
            float bs = S_crop;
            if (S_for > bs) { bs = S_for; best = GPN_SYNTH_LC_FOREST; }
            if (S_scr > bs) { bs = S_scr; best = GPN_SYNTH_LC_SCRUB; }
            if (S_gra > bs) { bs = S_gra; best = GPN_SYNTH_LC_GRASSLAND; }
            w->lc[i] = best;
            if (best == GPN_SYNTH_LC_CROPLAND) w->crop[i] = gpn__syn_crop_type(pk, w->med);
        }
    }
}

/* ==== random fields for the species niches =============================== */

static int species_fields(struct syn_world *w, struct gpn_err *err)
{
    int W = w->W, H = w->H;
    double *rs = malloc((size_t)H * 2 * sizeof *rs);
    if (!rs) return gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (fields)");
    for (int k = 0; k < SYN_NFIELDS; k++) {
        float *f = w->field[k];
        double scale = 1200.0 * pow(1.45, k);
        uint64_t key = w->seed ^ (SP_FIELD + 0x100ull * (uint64_t)k);
#pragma omp parallel for schedule(static)
        for (int r = 0; r < H; r++) {
            double s = 0, s2 = 0;
            for (int c = 0; c < W; c++) {
                float v = gpn__syn_fbm(key, syn_cx(w, c), syn_cy(w, r), scale, 3, 0.5f);
                f[(size_t)r * W + c] = v;
                s += v;
                s2 += (double)v * v;
            }
            rs[2 * r] = s;
            rs[2 * r + 1] = s2;
        }
        double s = 0, s2 = 0;
        for (int r = 0; r < H; r++) {
            s += rs[2 * r];
            s2 += rs[2 * r + 1];
        }
        double mean = s / (double)w->N, var = s2 / (double)w->N - mean * mean;
        float sd = (float)(var > 1e-12 ? sqrt(var) : 1.0);
        for (size_t i = 0; i < w->N; i++) f[i] = (f[i] - (float)mean) / sd;
    }
    free(rs);
    return 0;
}

/* ==== the phase ============================================================ */

int gpn__syn_terrain(struct syn_world *w, struct gpn_err *err)
{
    int W = w->W, H = w->H;
    int rc = land_masks(w, err);
    if (rc) return rc;
    uint64_t seed = w->seed;
    /* Distance to coast, raw elevation, substrate. */
#pragma omp parallel for schedule(static)
    for (int r = 0; r < H; r++)
        for (int c = 0; c < W; c++) {
            size_t i = (size_t)r * W + c;
            double x = syn_cx(w, c), y = syn_cy(w, r);
            float d = coast_dist(w, x, y);
            if (w->land[i] && d < 25.f) d = 25.f;
            if (!w->land[i] && d > -25.f) d = -25.f;
            w->dcoast[i] = d;
            w->elev[i] = elev_fn(seed, x, y, d);
            float s = gpn__syn_fbm(seed ^ SP_SUBSTRATE, x, y, 18000.0, 4, 0.5f);
            w->sub[i] = clampf(0.6f + 2.2f * s, 0.f, 1.f);
        }
    rc = hydrology(w, err);
    if (rc) return rc;
    slope_wetness(w);
    /* Mediterranean or not is decided on the raw climate of the centre. */
    gpn__syn_climate_anomalies(w);
#pragma omp parallel for schedule(static)
    for (int r = 0; r < H; r++)
        for (int c = 0; c < W; c++) {
            size_t i = (size_t)r * W + c;
            gpn__syn_climate_normals(w, i, syn_cx(w, c), syn_cy(w, r), w->elev[i] > 0.f ? w->elev[i] : 0.f,
                                     w->dcoast[i], &w->tann[i], &w->pann[i]);
        }
    rc = place_towns(w, err);
    if (!rc) rc = build_roads(w, err);
    if (rc) return rc;
    urban_cores(w);
    land_cover(w);
    /* Distances to roads and to urban cells; the disturbance index. */
    uint8_t *mask = malloc(w->N);
    if (!mask) return gpn_err_set(err, GPN_ENOMEM, "synth: out of memory (distances)");
    for (size_t i = 0; i < w->N; i++) mask[i] = w->road[i] != 0;
    rc = gpn__syn_edt(mask, W, H, SYN_CELL, w->droad, err);
    if (!rc) {
        for (size_t i = 0; i < w->N; i++) mask[i] = w->lc[i] == GPN_SYNTH_LC_URBAN;
        rc = gpn__syn_edt(mask, W, H, SYN_CELL, w->dtown, err);
    }
    free(mask);
    if (rc) return rc;
    for (size_t i = 0; i < w->N; i++) {
        float a = expf(-w->droad[i] / 300.f), b = expf(-w->dtown[i] / 800.f);
        w->dist[i] = a > b ? a : b;
    }
    return species_fields(w, err);
}
