/*
 * synth_priv.h - internals of the synthetic region generator (src/synth/).
 *
 * The generator builds one "world" (struct syn_world): every 50 m layer of
 * the region as a flat array of W * H cells, row 0 at the NORTH edge, column
 * 0 at the west edge (the order of a north-up GeoTIFF), cell (row, col) at
 * index row * W + col, centre x = x0 + (col + 0.5) * 50,
 * y = y1 - (row + 0.5) * 50 in EPSG:3035 metres. The phases fill it in
 * order: terrain (synth_terrain.c), climate (synth_climate.c), species and
 * truth (synth_species.c), habitats (synth_habitat.c), observations
 * (synth_obs.c), imagery (synth_imagery.c), quicklook (synth_quicklook.c);
 * synth.c runs them and writes the files.
 *
 * Randomness: syn_hash() is a counter-based generator (splitmix64 finaliser
 * over (seed, purpose, a, b)): a draw depends only on its key, never on the
 * order in which threads ran, which is what makes the output byte-identical
 * for a seed. Noise fields (gradient noise, fBm) are keyed the same way and
 * evaluated at absolute EPSG:3035 coordinates, so local fields of a cell do
 * not depend on the extent of the region around it.
 */
#ifndef GPN_SYNTH_PRIV_H
#define GPN_SYNTH_PRIV_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "gpn/err.h"
#include "gpn/grid.h"
#include "gpn/synth.h"

#define SYN_CELL 50.0               /* m */
#define SYN_NFIELDS 8               /* shared smooth random fields for species */
#define SYN_NAX 4                   /* niche axes: tann, pann, wet, substrate */
#define SYN_CL_VARS 4               /* tmean, tmin, tmax, precip */
#define SYN_CL_YEARS 19             /* 2000..2018 */
#define SYN_LS_BANDS 6              /* R, G, B, NIR, SWIR1, SWIR2 */
#define SYN_LS_YEARS 21             /* 2000..2020 */
#define SYN_YEAR0 2000
#define SYN_PI 3.14159265358979323846

/* ==== counter-based random numbers ====================================== */

/* Purposes: the first key of every draw, so that different uses of the same
 * index never share numbers. Values are part of the output contract (a new
 * purpose gets a new number; never renumber). */
enum syn_purpose {
    SP_ELEV_BIG = 1, SP_ELEV_RIDGE, SP_ELEV_MASK, SP_ELEV_HILL, SP_ELEV_FINE, SP_SUBSTRATE,
    SP_TOWN, SP_CITY, SP_LC_FOREST, SP_LC_SCRUB, SP_LC_GRASS, SP_LC_CROP, SP_PARCEL, SP_URBAN_SHAPE,
    SP_LAGOON, SP_FIELD, SP_CLIM_T, SP_CLIM_P, SP_CLIM_FIELD, SP_SPECIES_SEL, SP_SPECIES_NICHE,
    SP_ANCHOR, SP_CALIB, SP_PA_CAMPAIGN, SP_PA_SURVEY, SP_PA_PRESENCE, SP_PO_VISIT, SP_PO_RECORD,
    SP_PLOT, SP_PLOT_PRESENCE, SP_COVER, SP_S2, SP_LANDSAT, SP_FIRE, SP_CLOUD, SP_URBAN_YEAR,
    SP_TEXTURE, SP_DITHER, SP_ROAD, SP_CLIM_NOISE,
};

static inline uint64_t syn_mix(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The one hash every random draw goes through. */
static inline uint64_t syn_hash(uint64_t seed, uint64_t purpose, uint64_t a, uint64_t b)
{
    uint64_t h = syn_mix(seed ^ (purpose * 0xD1B54A32D192ED03ull));
    h = syn_mix(h ^ (a * 0x9E3779B97F4A7C15ull));
    return syn_mix(h ^ (b * 0xC2B2AE3D27D4EB4Full + 0x165667B19E3779F9ull));
}

/* Uniform in [0, 1) from 53 bits. */
static inline double syn_u01(uint64_t h) { return (double)(h >> 11) * (1.0 / 9007199254740992.0); }

/* A sequential stream for one keyed item (a survey, a species): draw k of
 * the stream is syn_mix(key + k * golden), independent of other streams. */
struct syn_rng {
    uint64_t key;
    uint64_t ctr;
};

static inline struct syn_rng syn_rng_make(uint64_t seed, uint64_t purpose, uint64_t a, uint64_t b)
{
    struct syn_rng r = {syn_hash(seed, purpose, a, b), 0};
    return r;
}
static inline uint64_t syn_rng_u64(struct syn_rng *r) { return syn_mix(r->key + (r->ctr++) * 0x9E3779B97F4A7C15ull); }
static inline double syn_rng_u01(struct syn_rng *r) { return syn_u01(syn_rng_u64(r)); }
/* Standard normal (Box-Muller, two draws). */
static inline double syn_rng_normal(struct syn_rng *r)
{
    double u1 = syn_rng_u01(r), u2 = syn_rng_u01(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * SYN_PI * u2);
}
static inline double syn_rng_range(struct syn_rng *r, double lo, double hi) { return lo + (hi - lo) * syn_rng_u01(r); }

/* ==== noise (synth_noise.c) ============================================== */

/* Gradient noise at (x, y) in lattice units, roughly in [-1, 1], smooth
 * (quintic fade), zero at lattice points. */
float gpn__syn_noise(uint64_t key, double x, double y);
/* Fractal sum of `oct` octaves of gradient noise (lacunarity 2, gain g)
 * at absolute metres (x, y) with the largest wavelength `scale` m;
 * normalised by the sum of amplitudes (roughly [-1, 1], sd ~0.25-0.3). */
float gpn__syn_fbm(uint64_t key, double x, double y, double scale, int oct, float g);
/* Ridged fractal: 1 - |noise| per octave, squared, weighted; in [0, 1]. */
float gpn__syn_ridged(uint64_t key, double x, double y, double scale, int oct);

/* ==== the world =========================================================== */

/* Functional groups that shape a species' niche. */
enum syn_group { SYN_G_HERB = 0, SYN_G_TREE, SYN_G_SHRUB, SYN_G_HELO };
/* Leaf type of trees (drives forest spectra and forest habitat types). */
enum syn_leaf { SYN_LEAF_NONE = 0, SYN_LEAF_DEC, SYN_LEAF_EVG, SYN_LEAF_CON };
/* Crop types of cropland parcels. */
enum syn_crop { SYN_CROP_NONE = 0, SYN_CROP_ARABLE, SYN_CROP_VINE, SYN_CROP_ORCHARD, SYN_CROP_FALLOW };

/* Surface types: what the sensors see (finer than land cover). */
enum syn_sfc {
    SFC_NONE = 0, SFC_SEA, SFC_WATER, SFC_SAND, SFC_ROCK_CALC, SFC_ROCK_ACID,
    SFC_FOREST_DEC, SFC_FOREST_EVG, SFC_FOREST_CON, SFC_SCRUB, SFC_GRASS_DRY, SFC_GRASS_MOIST,
    SFC_CROP_ARABLE, SFC_CROP_VINE, SFC_CROP_ORCHARD, SFC_CROP_FALLOW, SFC_WET_REED, SFC_WET_SALT,
    SFC_URBAN_DENSE, SFC_URBAN_RES, SFC_COUNT
};

struct syn_town {
    double x, y;   /* centre, EPSG:3035 m */
    float r;       /* urban radius, m */
    uint8_t city;  /* 1: city (motorway node) */
};

struct syn_seg {   /* a road segment, EPSG:3035 m */
    float x0, y0, x1, y1;
    uint8_t major;
};

struct syn_species {
    int32_t id;                        /* speciesId (reference table id) */
    char name[96], genus[48], family[48];
    char redlist[4];
    uint8_t hd, invasive, tree, endemic, specialist, alien;
    int it_regions;
    uint8_t group, leaf;               /* enum syn_group, enum syn_leaf */
    uint8_t key;                       /* 1: a key species of the region's vegetation */
    float commonness;                  /* relative pmax before calibration */
    float pmax;                        /* probability at the niche optimum */
    float mu[SYN_NAX], sd[SYN_NAX];    /* Gaussian response per axis */
    float k[SYN_NAX];                  /* 1 / (2 sd^2) */
    float aff[GPN_SYNTH_LC_COUNT];     /* land-cover affinity in [0, 1] */
    float dist_a;                      /* attraction to roads/towns in [0, 1] */
    float dist_b;                      /* avoidance of roads/towns in [0, 1] */
    double rx, ry;                     /* range centre (endemics), m */
    float rr;                          /* range radius (sd), m; 0 = no range limit */
    float coast_l;                     /* coastal species: decay length (m) inland; 0 = none */
    uint8_t f1, f2;                    /* shared random fields used */
    float c1, c2, cnorm;               /* their weights; cnorm = (c1^2 + c2^2) / 2 */
    float pop;                         /* presence-only popularity */
    /* statistics filled during the run */
    double sum_p;                      /* sum of p over land cells */
    int64_t n_pa, n_po, n_plot;
};

struct syn_world {
    const struct gpn_synth_opts *o;
    uint64_t seed;
    double x0, y0, x1, y1;             /* region, EPSG:3035 m */
    int W, H;                          /* 50 m cells */
    size_t N;                          /* W * H */
    double lon_c, lat_c;               /* region centre, degrees */
    double mfac;                       /* Mediterranean-ness 0..1 (from latitude) */
    struct gpn_tile *tiles;            /* (ntiles) meta-tiles intersecting the region */
    size_t ntiles;

    /* coarse signed distance to the coast over the region + margin */
    double gx0, gy1;                   /* north-west corner of the coarse grid */
    int gW, gH;
    double gres;                       /* m */
    float *gdcoast;                    /* (gH, gW) m, > 0 on land, < 0 at sea */

    /* 50 m layers, (H, W) */
    uint8_t *land;                     /* 1 land, 0 sea */
    float *dcoast;                     /* m, signed like gdcoast */
    float *elev;                       /* m (negative at sea) */
    float *slope;                      /* degrees */
    float *aspect;                     /* radians, 0 = north, clockwise */
    float *acc;                        /* upslope area in cells */
    float *wet;                        /* wetness index 0..1 */
    float *sub;                        /* substrate 0 (acid) .. 1 (calcareous) */
    float *tann;                       /* mean annual temperature, deg C */
    float *pann;                       /* annual precipitation, mm */
    uint8_t *river;                    /* 1 stream, 2 river */
    uint8_t *lc;                       /* enum gpn_synth_lc */
    uint8_t *crop;                     /* enum syn_crop for cropland cells */
    uint8_t *road;                     /* 1 local road, 2 major road */
    float *droad, *dtown;              /* distance to a road / urban cell, m */
    float *tcore;                      /* distance to nearest town centre / its radius */
    float *dist;                       /* disturbance index 0..1 (roads, towns) */
    float *field[SYN_NFIELDS];         /* smooth random fields, mean 0 sd 1 */
    uint8_t *sfc;                      /* enum syn_sfc */
    uint8_t *hab;                      /* habitat index + 1, 0 = none */

    struct syn_town *towns;
    size_t ntowns;
    struct syn_seg *segs;
    size_t nsegs;

    /* climate: 1 km cube and regional anomalies */
    int cW, cH;                        /* 1 km pixels */
    float *clim;                       /* (4 * 19 * 12, cH, cW) */
    float tanom[SYN_LS_YEARS * 12];    /* regional temperature anomaly, deg C */
    float panom[SYN_LS_YEARS * 12];    /* regional precipitation log-anomaly */
    int med;                           /* 1: Mediterranean climate */
    int tiled_imagery;                 /* 1: imagery as per-tile files + VRT */

    /* species and truth */
    int ns;
    struct syn_species *sp;            /* (ns), ordered by id */
    float *richness;                   /* (N) expected richness, sum of p */
    int32_t *dom_tree, *dom_helo;      /* (N) species index or -1 */
    float *dom_tree_v, *dom_helo_v;    /* (N) */

    /* observation cells, for the quicklook (filled by the observations phase) */
    size_t *obs_pa, *obs_po;           /* (n_obs_pa), (n_obs_po) cell indices */
    size_t n_obs_pa, n_obs_po;

    char country[64];
    char bioregion[32];
    char species_path[1024], land_path[1024], countries_path[1024];
};

/* Centre of cell (row, col) and the cell of a point (-1 when outside). */
static inline double syn_cx(const struct syn_world *w, int col) { return w->x0 + (col + 0.5) * SYN_CELL; }
static inline double syn_cy(const struct syn_world *w, int row) { return w->y1 - (row + 0.5) * SYN_CELL; }
static inline int64_t syn_cell_at(const struct syn_world *w, double x, double y)
{
    if (x < w->x0 || x >= w->x1 || y <= w->y0 || y > w->y1) return -1;
    int col = (int)floor((x - w->x0) / SYN_CELL), row = (int)floor((w->y1 - y) / SYN_CELL);
    if (col < 0 || col >= w->W || row < 0 || row >= w->H) return -1;
    return (int64_t)row * w->W + col;
}

/* Niche response of species s in cell c before the prevalence scale pmax:
 * land-cover affinity x Gaussian responses on the four axes x shared random
 * fields x range x coast x disturbance (docs/synthetic.md, "Species"). Pure
 * function of the world layers; >= 0, unbounded above only through the
 * random fields (rarely above 3). */
static inline float syn_p_raw(const struct syn_world *w, const struct syn_species *s, size_t c)
{
    float a = s->aff[w->lc[c]];
    if (a <= 0.f) return 0.f;
    float d, q = 0.f;
    d = w->tann[c] - s->mu[0]; q += d * d * s->k[0];
    d = w->pann[c] - s->mu[1]; q += d * d * s->k[1];
    d = w->wet[c] - s->mu[2];  q += d * d * s->k[2];
    d = w->sub[c] - s->mu[3];  q += d * d * s->k[3];
    q -= s->c1 * w->field[s->f1][c] + s->c2 * w->field[s->f2][c] - s->cnorm;
    if (s->rr > 0.f) {
        double dx = syn_cx(w, (int)(c % (size_t)w->W)) - s->rx, dy = syn_cy(w, (int)(c / (size_t)w->W)) - s->ry;
        q += (float)((dx * dx + dy * dy) / (2.0 * (double)s->rr * s->rr));
    }
    if (s->coast_l > 0.f) q += (w->dcoast[c] > 0.f ? w->dcoast[c] : 0.f) / s->coast_l;
    if (q > 14.f) return 0.f;
    float D = w->dist[c];
    return a * expf(-q) * (1.f - s->dist_a + s->dist_a * D) * (1.f - s->dist_b * D);
}

/* Truth: probability that species s is present in a standard plot in cell
 * c: pmax * raw response, capped at 0.98. */
static inline float syn_p(const struct syn_world *w, const struct syn_species *s, size_t c)
{
    float p = s->pmax * syn_p_raw(w, s, c);
    return p > 0.98f ? 0.98f : p;
}

/* ==== phases ============================================================== */

/* synth_terrain.c: land mask, elevation, hydrology, substrate, climate
 * normals, towns, roads, land cover, random fields. */
int gpn__syn_terrain(struct syn_world *w, struct gpn_err *err);
/* Euclidean distance transform: out[i] = distance (m) from cell i to the
 * nearest cell with mask != 0 (cell size `cell` m); a large value when the
 * mask is empty. Exact (Felzenszwalb-Huttenlocher), parallel, deterministic. */
int gpn__syn_edt(const uint8_t *mask, int W, int H, double cell, float *out, struct gpn_err *err);

/* synth_climate.c: normals per 50 m cell (tann, pann) and the 1 km cube. */
void gpn__syn_climate_anomalies(struct syn_world *w);
void gpn__syn_climate_normals(struct syn_world *w, size_t c, double x, double y, float elev, float dcoast_m,
                              float *tann, float *pann);
int gpn__syn_climate_cube(struct syn_world *w, struct gpn_err *err);
/* Month profile of precipitation (fraction of the annual sum), blended
 * between Mediterranean and temperate by `med` in [0, 1]. */
double gpn__syn_precip_frac(int month, double med);

/* synth_species.c */
int gpn__syn_species_load(struct syn_world *w, struct gpn_err *err);
int gpn__syn_species_niches(struct syn_world *w, struct gpn_err *err);
/* Computes every species' truth, richness and dominants. With all != NULL
 * the quantised truth of every species is returned in *all ((ns, N) bytes,
 * malloc'ed, caller frees) and nothing is written; otherwise the truth
 * rasters are written batch by batch into dir (when dir is not NULL). */
int gpn__syn_species_truth(struct syn_world *w, const char *dir, uint8_t **all, struct gpn_err *err);
/* Writes the truth raster of species index s (q: N bytes) into dir. */
int gpn__syn_truth_write(const struct syn_world *w, const char *dir, int s, const uint8_t *q, struct gpn_err *err);
/* Writes species.csv (names, traits, niche parameters, realised counts). */
int gpn__syn_species_csv(const struct syn_world *w, const char *path, struct gpn_err *err);
/* Key of the field parcel holding (x, y): the nearest seed of a 300 m
 * jittered lattice (a Voronoi partition, so parcels have straight edges). */
uint64_t gpn__syn_parcel(uint64_t seed, double x, double y);
/* Crop type of a parcel (enum syn_crop) from its key. */
uint8_t gpn__syn_crop_type(uint64_t parcel_key, int med);

/* synth_habitat.c: the EUNIS L3 rule set. */
/* Habitat index (0-based into the table, or -1 for none) of a cell whose
 * dominant tree is `tree` and dominant helophyte `helo` (species indices or
 * -1). */
int gpn__syn_habitat_rule(const struct syn_world *w, size_t c, int tree, int helo);
void gpn__syn_habitat_map(struct syn_world *w);
void gpn__syn_surface_map(struct syn_world *w);

/* synth_obs.c: PA surveys, PO records, plots and their CSVs. */
int gpn__syn_observations(struct syn_world *w, const char *out_dir, struct gpn_synth_result *res,
                          struct gpn_err *err);

/* synth_imagery.c: Sentinel-2 and Landsat images. */
struct syn_imagery; /* per-run state: illumination, fires, haze, band names */
struct syn_image {
    uint8_t *data;      /* (bands, H, W), owned */
    int W, H, bands;
    double gt[6];
};
int gpn__syn_imagery_begin(const struct syn_world *w, struct syn_imagery **out, struct gpn_err *err);
void gpn__syn_imagery_end(struct syn_imagery *im); /* accepts NULL */
/* Makes the Sentinel-2 (4 bands) / Landsat (504 bands) image of the area
 * [x0, x1) x [y0, y1) (rows in parallel unless already inside a parallel
 * region). img->data is malloc'ed; gpn__syn_image_free() releases it. */
int gpn__syn_sentinel_make(const struct syn_imagery *im, double x0, double y0, double x1, double y1,
                           struct syn_image *img, struct gpn_err *err);
int gpn__syn_landsat_make(const struct syn_imagery *im, double x0, double y0, double x1, double y1,
                          struct syn_image *img, struct gpn_err *err);
void gpn__syn_image_free(struct syn_image *img);
/* Writes an image as a COG (ZSTD, block 512, band descriptions). */
int gpn__syn_image_write(const struct syn_imagery *im, const char *path, const struct syn_image *img,
                         struct gpn_err *err);
/* Large regions: per-meta-tile files under inputs/{sentinel2,landsat}/
 * (tiles in parallel) and the VRT mosaics inputs/{sentinel2,landsat}.vrt. */
int gpn__syn_imagery_tiled(struct syn_world *w, const struct syn_imagery *im, const char *out_dir,
                           struct gpn_err *err);

/* synth_quicklook.c */
int gpn__syn_quicklook(const struct syn_world *w, const char *path, struct gpn_err *err);

/* synth.c helpers */
/* COG block size for a W x H raster: 512, or the raster's size rounded up
 * to 16 when smaller (a 512 block of a tiny 504-band raster would be 132 MB
 * of padding to compress). */
static inline int syn_blocksize(int W, int H)
{
    int m = W > H ? W : H;
    if (m >= 512) return 512;
    m = (m + 15) / 16 * 16;
    return m < 16 ? 16 : m;
}
/* Writes a (bands, H, W) 50 m world layer as a COG under path. */
int gpn__syn_write_layer(const struct syn_world *w, const char *path, int dtype, int bands, const void *data,
                         int categorical, int has_nodata, double nodata, const char *const *desc,
                         struct gpn_err *err);

#endif
