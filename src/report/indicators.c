/*
 * indicators.c - the per-cell biodiversity indicators of a meta-tile,
 * computed from its assemblage store (store.h) and the species traits of
 * the catalog, written as ATLAS/tiles/<tile>/indicators.tif.
 *
 * Definitions (REFERENCE.md 5.2; docs/report.md), over the species S(x)
 * present in cell x of the store:
 *   richness         |S(x)|
 *   directive        species of the EU Habitats Directive annexes
 *   threatened       Red List CR, EN or VU
 *   most_threatened  ordinal of the worst Red List category in S(x):
 *                    0 none assessed (or only DD), 1 LC, 2 NT, 3 VU, 4 EN,
 *                    5 CR (EX/EW/RE count as CR: a recorded "extinct"
 *                    species present in a map is the most alarming case)
 *   tree, invasive, specialist, endemic   species with that catalog flag
 * Cells outside the coverage mask (no input map had a value there) are
 * nodata (65535).
 *
 * Layout: bands (8, 500, 500) uint16, band order gpn_report_indicator_names, rows
 * from north, as the tile's other rasters. Only this file knows the
 * definitions; report.h documents them for the readers.
 */
#include <stdlib.h>
#include <string.h>

#include "gpn/catalog.h"
#include "gpn/raster.h"
#include "gpn/report.h"
#include "gpn/store.h"
#include "gpn/util.h"

int gpn_redlist_ordinal(const char *cat)
{
    static const char *const order[] = {"LC", "NT", "VU", "EN", "CR", "EW", "EX", "RE"};
    if (!cat) return 0;
    for (int i = 0; i < 8; i++)
        if (!strcmp(cat, order[i])) return i < 5 ? i + 1 : 5;
    return 0;
}

static int cmp_traits(const void *a, const void *b)
{
    uint32_t x = ((const struct gpn_indicator_species *)a)->id, y = ((const struct gpn_indicator_species *)b)->id;
    return x < y ? -1 : x > y;
}

struct load_ctx {
    struct gpn_indicator_species *v;
    size_t n, cap;
    int oom;
};

static int load_one(const struct gpn_species *sp, void *ud)
{
    struct load_ctx *c = ud;
    if (sp->id <= 0 || sp->id > UINT32_MAX) return 0;
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 1024;
        struct gpn_indicator_species *nv = realloc(c->v, nc * sizeof *nv);
        if (!nv) {
            c->oom = 1;
            return 1;
        }
        c->v = nv;
        c->cap = nc;
    }
    c->v[c->n++] = (struct gpn_indicator_species){
        .id = (uint32_t)sp->id, .flags = sp->flags, .redlist = gpn_redlist_ordinal(sp->redlist)};
    return 0;
}

int gpn_indicator_species_load(struct gpn_catalog *cat, struct gpn_indicator_species **out, size_t *n,
                               struct gpn_err *err)
{
    struct load_ctx c = {0};
    *out = NULL;
    *n = 0;
    int rc = gpn_catalog_species_foreach(cat, 0, load_one, &c, err);
    if (!rc && c.oom) rc = gpn_err_set(err, GPN_ENOMEM, "gpn_indicator_species_load: out of memory");
    if (rc) {
        free(c.v);
        return rc;
    }
    gpn_qsort(c.v, c.n, sizeof *c.v, cmp_traits);
    *out = c.v;
    *n = c.n;
    return 0;
}

const struct gpn_indicator_species *gpn_indicator_species_find(const struct gpn_indicator_species *v, size_t n,
                                                               uint32_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].id < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && v[lo].id == id ? &v[lo] : NULL;
}

/* One more species in a count band, saturating below the nodata value. */
static inline void count(uint16_t *v)
{
    if (*v < GPN_INDICATOR_NODATA - 1) (*v)++;
}

int gpn_indicators_compute(const struct gpn_store *s, const struct gpn_indicator_species *traits, size_t ntraits,
                           const uint8_t *covered, uint16_t *bands, struct gpn_err *err)
{
    const size_t N = GPN_STORE_TILE_CELLS;
    memset(bands, 0, GPN_REPORT_NIND * N * sizeof *bands);
    uint16_t *rich = bands, *dir = bands + N, *thr = bands + 2 * N, *worst = bands + 3 * N;
    uint16_t *tree = bands + 4 * N, *inv = bands + 5 * N, *spec = bands + 6 * N, *end = bands + 7 * N;
    size_t ns = s ? gpn_store_count(s) : 0;
    for (size_t i = 0; i < ns; i++) {
        const struct gpn_indicator_species *t = gpn_indicator_species_find(traits, ntraits, gpn_store_species_id(s, i));
        unsigned f = t ? t->flags : 0;
        int rl = t ? t->redlist : 0;
        uint32_t *cells = NULL;
        size_t nc = 0;
        int rc = gpn_store_cells(s, i, &cells, &nc, err);
        if (rc) return rc;
        for (size_t k = 0; k < nc; k++) {
            uint32_t c = cells[k];
            count(&rich[c]);
            if (f & GPN_SPECIES_DIRECTIVE) count(&dir[c]);
            if (rl >= 3) count(&thr[c]);
            if (rl > worst[c]) worst[c] = (uint16_t)rl;
            if (f & GPN_SPECIES_TREE) count(&tree[c]);
            if (f & GPN_SPECIES_INVASIVE) count(&inv[c]);
            if (f & GPN_SPECIES_SPECIALIST) count(&spec[c]);
            if (f & GPN_SPECIES_ENDEMIC) count(&end[c]);
        }
        free(cells);
    }
    if (covered)
        for (size_t c = 0; c < N; c++)
            if (!covered[c])
                for (int b = 0; b < GPN_REPORT_NIND; b++) bands[b * N + c] = GPN_INDICATOR_NODATA;
    return 0;
}

int gpn_indicators_write(const char *path, struct gpn_tile t, const uint16_t *bands, const char *const *metadata,
                         struct gpn_err *err)
{
    struct gpn_cog_opts o = {0};
    o.width = o.height = GPN_GRID_TILE_CELLS;
    o.bands = GPN_REPORT_NIND;
    o.dtype = GPN_DT_U16;
    gpn_tile_geotransform(t, o.gt);
    o.epsg = 3035;
    o.has_nodata = 1;
    o.nodata = GPN_INDICATOR_NODATA;
    o.categorical = 1; /* counts: NEAREST overviews keep them integers */
    o.compress = "ZSTD";
    o.blocksize = 256;
    o.band_desc = gpn_report_indicator_names;
    o.metadata = metadata;
    return gpn_cog_write(path, &o, bands, err);
}
