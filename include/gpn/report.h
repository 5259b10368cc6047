/*
 * report.h - area-of-interest (AOI) biodiversity reports: the engine behind
 * `gpn report` and POST /api/report, its input checks and its exports.
 *
 * Flow: an area (GeoJSON, bbox, a Natural Earth country or a polygon
 * registered in ATLAS/areas/) is parsed and validated
 * (gpn_report_area_*), transformed to EPSG:3035 and rasterised per meta-tile
 * on the 50 m grid by the cell-centre rule (geom.h: a cell is in the area
 * when its centre is). Each tile's mask is intersected with every species
 * bitmap of the tile's assemblage store (store.h) and counted by popcount;
 * the tile's indicator and habitat rasters are read only inside the area.
 * Tiles run in parallel (OpenMP). The per-tile results are merged into a
 * struct gpn_report, enriched from the catalog (names, taxonomy, flags,
 * EUNIS hierarchy, model runs), and exported as JSON (docs/report.schema.json),
 * CSV or GeoJSON.
 *
 * Per-tile inputs (ATLAS/tiles/<tileid>/, docs/report.md):
 *   species.roar    the assemblage store (required for a tile to count as
 *                   "with data");
 *   indicators.tif  500 x 500, one band per indicator (richness, directive,
 *                   threatened, most_threatened, tree, invasive, specialist,
 *                   endemic), matched by band description, else by order;
 *   habitat.tif     500 x 500, one band of EUNIS L3 class numbers; value v
 *                   >= 1 is the v-th code of the comma-separated metadata
 *                   item GPN_CLASS_CODES (0 and nodata: no habitat).
 * A section whose rasters exist in no tile of the area is reported absent.
 *
 * Threads: an engine is shared by all server threads; gpn_report_run is
 * thread-safe. Reports and areas are plain heap objects owned by the
 * caller.
 */
#ifndef GPN_REPORT_H
#define GPN_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "gpn/err.h"
#include "gpn/geom.h"
#include "gpn/grid.h"
#include "gpn/util.h"

#define GPN_REPORT_SCHEMA_VERSION "1.0"
#define GPN_REPORT_NIND 8
#define GPN_REPORT_HIST_BINS 20

/* ==== limits and input ================================================== */

/* Limits on untrusted areas; 0 in a field means its default. */
struct gpn_report_limits {
    size_t max_body;       /* bytes of GeoJSON; default 8 MiB */
    size_t max_points;     /* vertices; default 100,000 */
    size_t max_rings;      /* rings; default 10,000 */
    double max_area_km2;   /* planar area in EPSG:3035; default 100,000 km2 */
    size_t max_tiles;      /* meta-tiles the area's bbox may touch; default 1,000 */
};

/* Fills the defaults into every zero field of l. */
void gpn_report_limits_fill(struct gpn_report_limits *l);
/* Reads ATLAS/report.json when present: a JSON object with any of the keys
 * max_body, max_points, max_rings, max_area_km2, max_tiles (numbers);
 * unknown keys are errors. Missing file: defaults, return 0. */
int gpn_report_limits_load(const char *atlas, struct gpn_report_limits *l, struct gpn_err *err);

/* Checks a geometry for use as an area: finite coordinates (lon/lat in
 * range for EPSG:4326), rings of >= 3 distinct points and non-zero area, no
 * self-intersection inside a polygon (two non-adjacent edges of one ring
 * touching, or edges of two rings of one polygon crossing or overlapping;
 * rings of one polygon may touch at single points), holes inside their
 * exterior. Polygons of a MultiPolygon may overlap (the area is their
 * union). Sweep over edges sorted by x; GPN_ETOOBIG when the limits are
 * exceeded. Errors are GPN_EFORMAT/GPN_ERANGE/GPN_ETOOBIG with a message
 * that says what is wrong and where (polygon, ring, vertex). */
int gpn_report_geom_check(const struct gpn_geom *g, const struct gpn_report_limits *lim, struct gpn_err *err);

/* Parses GeoJSON text (Polygon, MultiPolygon, Feature, FeatureCollection;
 * EPSG:4326 or a legacy "crs" member) and checks it; the result is in
 * EPSG:3035. Rejects bodies over lim->max_body, unclosed rings, empty
 * geometries, non-numeric coordinates, too many vertices, self-intersecting
 * rings and areas over lim->max_area_km2. *out is owned by the caller. */
int gpn_report_area_from_geojson(const char *text, size_t len, const struct gpn_report_limits *lim,
                                 struct gpn_geom **out, struct gpn_err *err);
/* "W,S,E,N" in EPSG:epsg (4326 lon/lat by default when epsg is 0). */
int gpn_report_area_from_bbox(const char *bbox, int epsg, const struct gpn_report_limits *lim,
                              struct gpn_geom **out, struct gpn_err *err);
/* A named area: a polygon registered as ATLAS/areas/<name>.geojson
 * ([A-Za-z0-9_.-]+), else a country of the Natural Earth boundaries (name
 * or ISO numeric id, data/boundaries/countries-50m.json through paths.h).
 * GPN_ENOTFOUND when neither exists. */
int gpn_report_area_named(const char *atlas, const char *name, const struct gpn_report_limits *lim,
                          struct gpn_geom **out, struct gpn_err *err);

/* ==== the report ======================================================== */

struct gpn_report_species {
    uint32_t id;
    int64_t cells;          /* cells of the area where present */
    double pct;             /* 100 * cells / area cells with data */
    const char *name;       /* scientific name; "" when the catalog lacks it */
    const char *genus, *family;
    unsigned flags;         /* catalog.h GPN_SPECIES_* bits */
    char redlist[4];        /* "CR", "EN", ... or "" */
};

struct gpn_report_indicator {
    const char *name;       /* richness, directive, ... */
    int present;            /* 0: no tile of the area has this raster */
    int64_t cells;          /* cells with a value */
    double mean, min, max, median;
    double hist_lo, hist_w; /* bin k covers [hist_lo + k*hist_w, hist_lo + (k+1)*hist_w) */
    int nbins;
    int64_t hist[GPN_REPORT_HIST_BINS];
};

struct gpn_report_habitat {
    char code[16];
    const char *name;       /* "" when unknown */
    int level;              /* 1, 2, 3 */
    int64_t cells;
    double pct;             /* 100 * cells / habitat cells with a class */
};

struct gpn_report {
    /* area */
    int64_t cells;              /* cells whose centre is inside the area */
    int64_t cells_with_data;    /* of those, in tiles that have a store */
    double area_km2;            /* cells * 0.0025 */
    double geom_area_km2;       /* planar area of the polygon in EPSG:3035 */
    double bbox[4];             /* area bbox, EPSG:4326 (W, S, E, N) */
    size_t tiles, tiles_with_data;
    double elapsed_ms;
    /* species, ranked by cells (desc), then id */
    struct gpn_report_species *species;
    size_t nspecies;
    /* counts of species present in the area */
    int64_t n_directive, n_threatened, n_cr, n_en, n_vu, n_invasive, n_endemic, n_tree, n_specialist;
    /* indicators */
    struct gpn_report_indicator ind[GPN_REPORT_NIND];
    /* habitats: levels 1..3, each ranked by cells */
    int habitats_present;
    int64_t habitat_cells;      /* cells with a habitat class */
    struct gpn_report_habitat *habitats[3];
    size_t nhabitats[3];
    /* provenance */
    char sdm_model[256];        /* "run <id>: <path>" or "" */
    char hdm_model[256];
    char species_source[64];    /* "predict", "import" or "" */
    double alpha;               /* conformal alpha, NAN when unknown */
    double threshold;           /* import threshold, NAN when unknown */
    void *priv;                 /* owned strings */
};

void gpn_report_free(struct gpn_report *r);

/* Indicator band names in their canonical order. */
extern const char *const gpn_report_indicator_names[GPN_REPORT_NIND];

/* ==== the engine ======================================================== */

struct gpn_report_engine;

struct gpn_report_opts {
    int threads;                /* OpenMP threads per report; 0 = all */
    size_t store_cache;         /* opened tile stores kept; 0 = 256 */
    int raster_cache_mb;        /* decoded tile rasters kept (whole tiles, with per-tile
                                 * summaries); 0 = 256 MiB, -1 = none: read only each
                                 * area's window (best for one-shot reports) */
    int verify;                 /* 1: check store checksums at open */
};

/* Opens an engine on an atlas folder: loads the catalog's species and
 * habitats (when ATLAS/catalog.sqlite exists; reloaded when it changes)
 * and prepares the store cache. opts may be NULL. *out is owned by the
 * caller (gpn_report_engine_close). */
int gpn_report_engine_open(const char *atlas, const struct gpn_report_opts *opts, struct gpn_report_engine **out,
                           struct gpn_err *err);
void gpn_report_engine_close(struct gpn_report_engine *e);
const char *gpn_report_engine_atlas(const struct gpn_report_engine *e);

/* Computes the report of area (EPSG:3035, e.g. from gpn_report_area_*).
 * GPN_ERANGE when the area holds no cell of the atlas data (outside the
 * data), GPN_ETOOBIG over lim->max_tiles. *out is owned by the caller
 * (gpn_report_free). lim may be NULL (defaults). */
int gpn_report_run(struct gpn_report_engine *e, const struct gpn_geom *area, const struct gpn_report_limits *lim,
                   struct gpn_report **out, struct gpn_err *err);

/* ==== exports =========================================================== */

/* The report as JSON (docs/report.schema.json) appended to out.
 * max_species limits the species list (0 = all; the counts always cover
 * all). Returns 0 or GPN_ENOMEM. */
int gpn_report_to_json(const struct gpn_report *r, size_t max_species, struct gpn_buf *out);
/* CSV of the species list: rank,id,scientific_name,genus,family,cells,
 * pct_area,directive,redlist,invasive,endemic,tree,specialist. */
int gpn_report_species_csv(const struct gpn_report *r, struct gpn_buf *out);
/* CSV of the habitats: level,code,name,cells,pct. */
int gpn_report_habitats_csv(const struct gpn_report *r, struct gpn_buf *out);
/* A GeoJSON FeatureCollection of one Feature: the area (in EPSG:4326)
 * with the summary (cells, km2, counts, indicator means, top species and
 * habitats) as properties. area may be in EPSG:3035 or 4326. */
int gpn_report_to_geojson(const struct gpn_report *r, const struct gpn_geom *area, struct gpn_buf *out,
                          struct gpn_err *err);

/* ==== import of external species maps ================================== */

/* How the pixel values of an imported map are read. */
enum gpn_import_kind {
    GPN_IMPORT_AUTO = 0,     /* logit for GeoPl@ntNet file names, probability for
                              * float rasters and when a scale is given, binary
                              * for other integer rasters */
    GPN_IMPORT_BINARY,       /* present where value != 0 */
    GPN_IMPORT_PROBABILITY,  /* present where value >= threshold */
    GPN_IMPORT_LOGIT,        /* present where sigmoid(value) >= threshold */
};

struct gpn_import_opts {
    double threshold;        /* probability threshold; <= 0 or NAN: 0.5 */
    enum gpn_import_kind kind;
    double scale;            /* pixel values are multiplied by it before the
                              * threshold (e.g. 0.004 for probabilities stored
                              * as uint8 x 250); 0 = 1 */
    int no_indicators;       /* 1: do not (re)write the tiles' indicators.tif */
    int replace;             /* 1: rebuild each touched store from the inputs only;
                              * 0: update (other species of the store are kept) */
    int threads;             /* tiles in parallel; 0 = all cores */
    size_t max_tiles;        /* meta-tiles one input may touch; 0 = 100,000 */
};

/* What a file name says about its species. */
struct gpn_import_name {
    int kind;                /* 1 GeoPl@ntNet product, 2 numeric id, 3 name */
    int64_t id;              /* GeoPlant speciesId (kind 1) or catalog id (kind 2) */
    char country[16];        /* kind 1 */
    char name[128];          /* scientific name from the slug or file name ("Quercus ilex") */
};

/* Parses a file name (a path is allowed): "gpn_v1_50m_{country}_{speciesId}_{slug}.tif"
 * (GeoPl@ntNet's published products), "{id}.tif", or "{Genus_species}.tif".
 * Returns 0 or GPN_EFORMAT for names that are none of these. */
int gpn_import_parse_name(const char *path, struct gpn_import_name *out, struct gpn_err *err);

struct gpn_import_stats {
    size_t files;            /* rasters imported */
    size_t species;          /* distinct species */
    size_t tiles;            /* stores written */
    int64_t cells;           /* present cells written, all species */
};

/* Builds or updates ATLAS/tiles/<tile>/species.roar from rasters: each
 * input is a GeoTIFF/COG, a folder (searched recursively for .tif/.tiff files)
 * or a STAC Item JSON (its GeoTIFF assets). Any CRS: every 50 m cell of
 * EPSG:3035 whose centre, transformed to the raster's CRS, falls in a
 * pixel with a present value is marked. Species are resolved in the
 * catalog (created when missing): GeoPlant speciesId, then numeric id,
 * then scientific name; a species the catalog lacks is added with the name
 * from the file. Records an SDM model run {"source":"import",...}. Stores
 * are written atomically, one per meta-tile. stats may be NULL. */
int gpn_import_run(const char *atlas, const char *const *inputs, size_t ninputs, const struct gpn_import_opts *o,
                   struct gpn_import_stats *stats, struct gpn_err *err);

/* Builds ATLAS/tiles/<tile>/habitat.tif (EUNIS classes per 50 m cell, the
 * layout report.h describes) from a classified raster in any CRS: each cell
 * takes the class of the pixel under its centre. classes_csv has columns
 * value,code (name optional): the raster value and its EUNIS code; NULL
 * reads the raster's own GPN_CLASS_CODES metadata (value v = v-th code).
 * Values 0, nodata and values the table lacks are "no habitat". Tiles where
 * no centre falls on a class are not written. *tiles_written may be NULL.
 * Errors name the file (and the CSV line) at fault. */
int gpn_import_habitat(const char *atlas, const char *path, const char *classes_csv, int threads,
                       size_t *tiles_written, struct gpn_err *err);

/* ==== indicators (indicators.c) ========================================= */

#define GPN_INDICATOR_NODATA 65535

/* The traits of a species that the indicators count. */
struct gpn_indicator_species {
    uint32_t id;             /* catalog id */
    unsigned flags;          /* enum gpn_species_flag bits */
    int redlist;             /* gpn_redlist_ordinal */
};
struct gpn_catalog;
struct gpn_store;

/* Red List category -> 0 (none, DD or NULL), 1 LC, 2 NT, 3 VU, 4 EN,
 * 5 CR (EW, EX, RE also 5). */
int gpn_redlist_ordinal(const char *cat);
/* Every catalog species' traits, sorted by id; *out is malloc'ed (caller
 * frees). Returns 0, GPN_ENOMEM or a catalog error. */
int gpn_indicator_species_load(struct gpn_catalog *cat, struct gpn_indicator_species **out, size_t *n,
                               struct gpn_err *err);
/* Binary search in a sorted traits table; NULL when id is absent. */
const struct gpn_indicator_species *gpn_indicator_species_find(const struct gpn_indicator_species *v, size_t n,
                                                               uint32_t id);
/* The eight indicator bands of store s's tile into bands (8 x 250,000
 * uint16, caller-owned; definitions at the top of indicators.c and in
 * docs/report.md). Species missing from traits count in richness only.
 * covered (250,000 bytes, NULL = all cells): cells with 0 get
 * GPN_INDICATOR_NODATA in every band. s NULL: no species anywhere. */
int gpn_indicators_compute(const struct gpn_store *s, const struct gpn_indicator_species *traits, size_t ntraits,
                           const uint8_t *covered, uint16_t *bands, struct gpn_err *err);
/* Writes bands (as computed above) for tile t as a COG at path (atomic;
 * uint16, nodata 65535, band descriptions = gpn_report_indicator_names, extra
 * "KEY=VALUE" metadata or NULL). */
int gpn_indicators_write(const char *path, struct gpn_tile t, const uint16_t *bands, const char *const *metadata,
                         struct gpn_err *err);

#endif
