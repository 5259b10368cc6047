/*
 * synth.h - the synthetic demo region with ground truth (`gpn synth`).
 *
 * No open European Sentinel-2, Landsat, climate or species-distribution
 * rasters can be had here, so the demo, the tests and every model-quality
 * measurement run on a generated region that keeps its ground truth. The
 * region lies in real EPSG:3035 coordinates (default: 2 x 2 meta-tiles
 * around Montpellier, land and sea from Natural Earth) and is written in the
 * formats the real pipeline reads: GeoPlant PA/PO CSVs, COG/VRT mosaics of
 * every modality, plus truth rasters, vegetation plots and a quicklook PNG.
 * docs/synthetic.md states the generative model and all its parameters.
 *
 * Determinism: every random draw comes from a counter-based generator keyed
 * by (seed, purpose, index), and every floating-point reduction runs in a
 * fixed order, so the same options give the same bytes whatever the number
 * of threads or their scheduling.
 *
 * Output folder (o->out_dir; docs/synthetic.md has the details):
 *   inputs/sentinel2.tif 4 x uint8 (R,G,B,NIR)            (large regions:
 *   inputs/landsat.tif   504 x uint8 (6 x 4 x 21)          <name>.vrt + <name>/<tile>.tif)
 *   inputs/climate.tif   912 x float32 at 1 km (4 x 19 x 12)
 *   inputs/elevation.tif, inputs/landcover.tif, inputs/roads.tif   50 m
 *   truth/richness.tif, truth/habitat_l3.tif (+ habitat_l3.csv),
 *   truth/species/<speciesId>.tif                       50 m
 *   geoplant/PA_metadata_train.csv, geoplant/PO_metadata_train.csv
 *   plots/plots.csv, species.csv, quicklook.png, region.json
 */
#ifndef GPN_SYNTH_H
#define GPN_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "gpn/err.h"
#include "gpn/grid.h"

/* Land-cover classes of inputs/landcover.tif (uint8, 0 = nodata). */
enum gpn_synth_lc {
    GPN_SYNTH_LC_NONE = 0,
    GPN_SYNTH_LC_FOREST = 1,
    GPN_SYNTH_LC_GRASSLAND = 2,
    GPN_SYNTH_LC_SCRUB = 3,
    GPN_SYNTH_LC_CROPLAND = 4,
    GPN_SYNTH_LC_WETLAND = 5,
    GPN_SYNTH_LC_URBAN = 6,
    GPN_SYNTH_LC_WATER = 7,
    GPN_SYNTH_LC_ROCK = 8,
    GPN_SYNTH_LC_SEA = 9,
    GPN_SYNTH_LC_COUNT = 10,
};

/* Lower-case class name ("forest", ...); "none" for 0 and unknown values. */
const char *gpn_synth_lc_name(int lc);

struct gpn_synth_opts {
    const char *out_dir;        /* output folder (required) */
    int tiles;                  /* N: the region is N x N meta-tiles from origin (default 2) */
    struct gpn_tile origin;     /* lower-left meta-tile (default 25kmE3800N2275, Montpellier) */
    int use_bbox;               /* 1: bbox replaces tiles/origin */
    double bbox[4];             /* W,S,E,N in EPSG:3035 metres, snapped outward to 1 km */
    int n_species;              /* species drawn from the reference table (default 500) */
    int64_t n_surveys;          /* presence-absence surveys (default 5000) */
    int64_t n_po;               /* presence-only records, approximately (default 50000) */
    int64_t n_plots;            /* vegetation plots in addition to the PA surveys (default 20000) */
    uint64_t seed;              /* default 42 */
    int s2_res;                 /* Sentinel-2 pixel size in m, divides 1000 (default 10) */
    int landsat_res;            /* Landsat pixel size in m (default 30; the stack is written without
                                   overviews, docs/synthetic.md "Performance") */
    const char *species_csv;    /* reference species table; NULL: data/species/species_reference.csv */
    const char *land_json;      /* Natural Earth land TopoJSON; NULL: data/boundaries/land-50m.json,
                                   then ../shared/data/boundaries_world_atlas/land-50m.json */
    const char *countries_json; /* Natural Earth countries TopoJSON for the `country` column; NULL:
                                   found like land_json; missing file -> country "unknown" */
    int write_truth_species;    /* 1 (default): one truth raster per species */
    int write_quicklook;        /* 1 (default): quicklook.png */
    int force;                  /* 1: replace an earlier region in out_dir */
    int tiled_imagery;          /* 1: Sentinel-2 and Landsat as per-meta-tile COGs + VRT mosaics even when
                                   single files would fit (they are used anyway when a Landsat stack would
                                   exceed 2 GB) */
    int progress;               /* 1: progress bars on stderr */
};

/* Fills o with the defaults above (out_dir NULL). */
void gpn_synth_opts_init(struct gpn_synth_opts *o);
/* Turns o into the quick test region: 1 meta-tile at the default origin, 50
 * species, 600 surveys, 3000 PO records, 1000 plots, Sentinel-2 at 20 m and
 * Landsat at 90 m. Leaves out_dir, seed and paths as they are. */
void gpn_synth_opts_quick(struct gpn_synth_opts *o);

/* What a run produced (all counts are exact). */
struct gpn_synth_result {
    double x0, y0, x1, y1;      /* region in EPSG:3035 metres */
    int width, height;          /* 50 m cells */
    int n_tiles;
    int n_species;
    int64_t n_pa_surveys, n_pa_rows;
    int64_t n_po_visits, n_po_rows;
    int64_t n_plots;            /* rows of plots/plots.csv (PA surveys included) */
    double land_fraction;
    double lc_fraction[GPN_SYNTH_LC_COUNT]; /* share of all cells */
    double mean_pa_richness;    /* species per PA survey */
    double seconds;             /* wall time of the whole run */
    double t_terrain, t_species, t_imagery, t_obs, t_write; /* phase wall times */
};

/* Generates the region described by o into o->out_dir. Returns 0 and fills
 * *res (res may be NULL), or a negative GPN_E* code with err set. Fails with
 * GPN_EEXISTS when out_dir already holds a region (region.json) and
 * o->force is 0. Every file is written atomically; region.json is written
 * last, so its presence marks a complete region. */
int gpn_synth_run(const struct gpn_synth_opts *o, struct gpn_synth_result *res, struct gpn_err *err);

/* ==== the habitat rule table (docs/synthetic.md, "Habitats") ============ */

/* Number of EUNIS Level 3 codes the rule set can emit. truth/habitat_l3.tif
 * stores value i + 1 for code i (0 = no habitat: sea, inland water). */
int gpn_synth_habitat_count(void);
/* Code ("T21") and EUNIS name of entry i in [0, count); NULL outside. */
const char *gpn_synth_habitat_code(int i);
const char *gpn_synth_habitat_name(int i);

#endif
