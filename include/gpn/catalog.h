/*
 * catalog.h - the atlas catalog: species, EUNIS habitats, published layers,
 * meta-tile states and model runs, in one SQLite file (ATLAS/catalog.sqlite).
 *
 * Why SQLite: one file that several processes (predict workers, the server,
 * report) can read while one writes (WAL mode), transactional updates (a
 * crash never leaves a half-updated catalog), and indexed look-ups by name.
 * Only src/catalog/catalog.c includes sqlite3.h; everything else sees the
 * plain structs below.
 *
 * Threads: a struct gpn_catalog holds ONE SQLite connection and may be used
 * by one thread at a time. A program with several threads opens one catalog
 * per thread (cheap: a file open and a few pragmas); several processes may
 * open the same file (busy timeout 5 s, WAL readers never block the writer).
 *
 * Ownership: every struct here holds fixed-size char arrays, so a result is
 * a plain value the caller owns. Functions that return several rows return
 * a malloc'ed array (*out, *n) that the caller releases with free(); an
 * empty result is *out == NULL, *n == 0 and return 0. Strings passed in are
 * borrowed for the duration of the call. Every function returns 0 or a
 * negative GPN_E* code with the detail in err (which may be NULL);
 * GPN_ENOTFOUND means "no such row", distinct from a failure.
 *
 * Schema (PRAGMA user_version = GPN_CATALOG_SCHEMA_VERSION; see
 * docs/catalog.md for the columns): species, habitats, layers, tiles,
 * model_runs. Opening a catalog applies the missing migrations in order,
 * each in its own transaction.
 */
#ifndef GPN_CATALOG_H
#define GPN_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "gpn/err.h"

/* Schema version written to PRAGMA user_version by the last migration. */
#define GPN_CATALOG_SCHEMA_VERSION 1
/* File name of the catalog inside an atlas folder. */
#define GPN_CATALOG_FILE "catalog.sqlite"

struct gpn_catalog;

/* ==== open / close ====================================================== */

enum gpn_catalog_open_flags {
    GPN_CATALOG_CREATE = 1,   /* create the file when missing */
    GPN_CATALOG_READONLY = 2, /* open read-only (no migrations are applied) */
};

/* Opens (flags & GPN_CATALOG_CREATE: creates) the catalog file at path,
 * sets WAL mode and a 5 s busy timeout and applies missing migrations. On
 * success *out is a catalog the caller closes with gpn_catalog_close().
 * Errors: GPN_ENOTFOUND when the file is missing and CREATE is not set;
 * GPN_EFORMAT "PATH: not an SQLite database" for any other kind of file;
 * GPN_EUNSUPPORTED when the file's schema is newer than this program or
 * (READONLY) older; GPN_ELIB for other SQLite failures. The parent folder
 * must exist. path is borrowed. */
int gpn_catalog_open(const char *path, int flags, struct gpn_catalog **out, struct gpn_err *err);
/* Writes "<atlas_dir>/catalog.sqlite" into buf (n bytes); GPN_ETOOBIG when
 * it does not fit. */
int gpn_catalog_path(const char *atlas_dir, char *buf, size_t n, struct gpn_err *err);
/* Closes the connection and frees cat. Accepts NULL. */
void gpn_catalog_close(struct gpn_catalog *cat);
/* The schema version of the open file (PRAGMA user_version). */
int gpn_catalog_schema_version(struct gpn_catalog *cat, int *version, struct gpn_err *err);

/* Groups many writes into one transaction (much faster for bulk inserts).
 * begin fails with GPN_ESTATE when a transaction is already open; rollback
 * is a no-op when none is. The load_csv functions open their own
 * transaction and must not be called inside one. */
int gpn_catalog_begin(struct gpn_catalog *cat, struct gpn_err *err);
int gpn_catalog_commit(struct gpn_catalog *cat, struct gpn_err *err);
void gpn_catalog_rollback(struct gpn_catalog *cat);

/* ==== species =========================================================== */

/* Trait flags (bit mask in struct gpn_species.flags; one column each in the
 * species table). See data/species/README.md for the rule behind each. */
enum gpn_species_flag {
    GPN_SPECIES_DIRECTIVE = 1 << 0,  /* on the Habitats Directive Art.17 list */
    GPN_SPECIES_INVASIVE = 1 << 1,   /* invasive alien (IT, EU IAS, BE lists) */
    GPN_SPECIES_TREE = 1 << 2,       /* forest tree / woody species (JRC, EU-Forest) */
    GPN_SPECIES_ENDEMIC = 1 << 3,    /* endemic to Italy */
    GPN_SPECIES_SPECIALIST = 1 << 4, /* proxy: native, in <= 3 Italian regions */
    GPN_SPECIES_ALIEN = 1 << 5,      /* alien (non-native) in Italy */
};
#define GPN_SPECIES_NFLAGS 6

#define GPN_SPECIES_NAME_MAX 128
struct gpn_species {
    int64_t id;                                /* > 0; stable (reference table) */
    char scientific_name[GPN_SPECIES_NAME_MAX]; /* canonical binomial, no authors */
    char genus[64];
    char family[64];                           /* "" when unknown */
    unsigned flags;                            /* enum gpn_species_flag bits */
    char redlist[4];                           /* "CR","EN","VU","NT","LC","DD","EX","EW","RE" or "" */
    int it_regions;                            /* Italian regions where present; -1 unknown */
    int64_t geoplant_id;                       /* GeoPlant speciesId; -1 unknown */
    int64_t gbif_key;                          /* GBIF backbone key; -1 unknown */
    char sources[128];                         /* ';'-separated source tags */
};

/* Name of one flag bit ("directive", "invasive", "tree", "endemic",
 * "specialist", "alien"), or NULL for anything else. */
const char *gpn_species_flag_name(unsigned flag);
/* Parses one flag name (also "habitats_directive") into its bit. Returns 0
 * or GPN_EINVAL (message lists the valid names). */
int gpn_species_flag_parse(const char *name, unsigned *flag, struct gpn_err *err);
/* Fills sp with an empty species (id 0, unknown ids -1, empty strings). */
void gpn_species_init(struct gpn_species *sp);

/* Inserts or updates one species. With sp->id > 0 the row with that id is
 * written (created or replaced); with sp->id <= 0 the row with the same
 * scientific_name (case-insensitive) is updated, or a new id assigned.
 * *id_out (may be NULL) receives the id. Errors: GPN_EINVAL for an empty or
 * too long name or a bad redlist code, GPN_EEXISTS when the name belongs to
 * another id. */
int gpn_catalog_species_upsert(struct gpn_catalog *cat, const struct gpn_species *sp, int64_t *id_out,
                               struct gpn_err *err);
/* Fetches the species with this id into *out; GPN_ENOTFOUND when none. */
int gpn_catalog_species_get(struct gpn_catalog *cat, int64_t id, struct gpn_species *out, struct gpn_err *err);
/* Exact, case-insensitive look-up by scientific name; GPN_ENOTFOUND when
 * none. */
int gpn_catalog_species_find(struct gpn_catalog *cat, const char *name, struct gpn_species *out,
                             struct gpn_err *err);
/* Look-up by GeoPlant speciesId; GPN_ENOTFOUND when none. */
int gpn_catalog_species_find_geoplant(struct gpn_catalog *cat, int64_t geoplant_id, struct gpn_species *out,
                                      struct gpn_err *err);
/* Species whose name starts with prefix (case-insensitive; NULL or "" = all;
 * '%' and '_' are literal) and that carry every flag in flags_all (0 = no
 * condition), ordered by name, at most limit rows (0 = no limit). *out is
 * malloc'ed (caller frees). */
int gpn_catalog_species_search(struct gpn_catalog *cat, const char *prefix, unsigned flags_all, size_t limit,
                               struct gpn_species **out, size_t *n, struct gpn_err *err);
/* Calls fn for each species carrying every flag in flags_all, in id order.
 * fn returns 0 to go on; a non-zero value stops the walk and is returned.
 * The species passed to fn is valid only during the call. fn must not use
 * cat. */
int gpn_catalog_species_foreach(struct gpn_catalog *cat, unsigned flags_all,
                                int (*fn)(const struct gpn_species *sp, void *ud), void *ud,
                                struct gpn_err *err);
/* Number of species carrying every flag in flags_all. */
int gpn_catalog_species_count(struct gpn_catalog *cat, unsigned flags_all, int64_t *n, struct gpn_err *err);
/* Loads the reference table (data/species/species_reference.csv layout:
 * id, scientific_name, genus, family, habitats_directive, redlist, invasive,
 * tree, endemic, specialist, alien, it_regions, geoplant_id, gbif_key,
 * sources; only id and scientific_name are required) in one transaction,
 * upserting by id. *n_loaded (may be NULL) receives the row count. Input
 * errors name FILE:LINE; on error nothing is written. */
int gpn_catalog_species_load_csv(struct gpn_catalog *cat, const char *path, size_t *n_loaded,
                                 struct gpn_err *err);

/* ==== EUNIS habitats ==================================================== */

/* Codes follow the EUNIS 2021 terrestrial hierarchy plus the marine MA2
 * branch: the level-k code is the first k characters, or k+1 characters for
 * codes starting with "MA" (T -> T1 -> T11; MA -> MA2 -> MA22 -> MA221). */
#define GPN_HABITAT_CODE_MAX 16
#define GPN_HABITAT_MAX_LEVEL 4
struct gpn_habitat {
    char code[GPN_HABITAT_CODE_MAX];
    int level;                        /* 1..4 */
    char parent[GPN_HABITAT_CODE_MAX]; /* "" for level 1 */
    char name[256];
};

/* Level of a well-formed code (upper-case letters and digits), or -1. Pure
 * function, no catalog needed. */
int gpn_habitat_code_level(const char *code);
/* Writes the level-`level` ancestor of code into buf ("T11",1 -> "T";
 * "MA22",1 -> "MA"; a code is its own ancestor at its level). Returns 0,
 * GPN_EINVAL for a malformed code or a level above the code's. */
int gpn_habitat_code_ancestor(const char *code, int level, char *buf, size_t n, struct gpn_err *err);

/* Loads habitats from a CSV with columns code and name, and optionally
 * level and parent (data/eunis/eunis_hierarchy.csv; eunis_habitats.csv with
 * Code,Name works too), in one transaction, replacing rows with the same
 * code. Levels and parents are derived from the code and checked against
 * the file's columns when present. When MA codes are loaded, the level-1
 * row "MA" (marine littoral) is added if the file lacks it, so that every
 * code has a complete parent chain. *n_loaded (may be NULL) counts the
 * file's rows. */
int gpn_catalog_habitats_load_csv(struct gpn_catalog *cat, const char *path, size_t *n_loaded,
                                  struct gpn_err *err);
/* One habitat by code (exact, upper case); GPN_ENOTFOUND when none. */
int gpn_catalog_habitat_get(struct gpn_catalog *cat, const char *code, struct gpn_habitat *out,
                            struct gpn_err *err);
/* Habitats of one level (0 = all), ordered by code. *out is malloc'ed. */
int gpn_catalog_habitats_list(struct gpn_catalog *cat, int level, struct gpn_habitat **out, size_t *n,
                              struct gpn_err *err);
/* The chain from code up to level 1: chain[0] = code itself, chain[1] its
 * parent, ...; *n receives the length (<= GPN_HABITAT_MAX_LEVEL).
 * GPN_ENOTFOUND when code or one of its ancestors is missing. */
int gpn_catalog_habitat_chain(struct gpn_catalog *cat, const char *code,
                              struct gpn_habitat chain[GPN_HABITAT_MAX_LEVEL], int *n, struct gpn_err *err);
/* Number of habitats of one level (0 = all). */
int gpn_catalog_habitats_count(struct gpn_catalog *cat, int level, int64_t *n, struct gpn_err *err);

/* ==== layers ============================================================ */

enum gpn_layer_group {
    GPN_LAYER_SPECIES = 0,
    GPN_LAYER_INDICATORS,
    GPN_LAYER_HABITATS_L1,
    GPN_LAYER_HABITATS_L2,
    GPN_LAYER_HABITATS_L3,
    GPN_LAYER_INPUTS,
    GPN_LAYER_TRUTH,
    GPN_LAYER_OTHER,
    GPN_LAYER_NGROUPS
};

#define GPN_LAYER_NAME_MAX 128
/* A published layer (about 1.5 KiB). Its metadata JSON is kept apart (see
 * gpn_catalog_layer_metadata) so that lists of thousands of layers stay
 * small. */
struct gpn_layer {
    char name[GPN_LAYER_NAME_MAX]; /* [A-Za-z0-9._-]+, the id in URLs */
    char title[256];
    char abstract[512];
    enum gpn_layer_group group;
    char path[512];    /* the raster, absolute or relative to the atlas */
    char style[64];    /* rendering style name, "" = default */
    char dtype[16];    /* "uint8", "float32", ... */
    int epsg;          /* CRS of the raster; 0 unknown */
    double bbox[4];    /* west, south, east, north in epsg units */
    int has_nodata;
    double nodata;
    int64_t updated_at; /* unix seconds, set by layer_add */
    int64_t version;    /* 1 on first add, +1 on every re-add (cache key) */
};

/* "species", "indicators", "habitats_l1", "habitats_l2", "habitats_l3",
 * "inputs", "truth", "other"; NULL for an out-of-range value. */
const char *gpn_layer_group_name(enum gpn_layer_group g);
/* Parses a group name (also "l1", "l2", "l3"); GPN_EINVAL otherwise. */
int gpn_layer_group_parse(const char *s, enum gpn_layer_group *g, struct gpn_err *err);
/* 1 when name is a valid layer name. */
int gpn_layer_name_valid(const char *name);

/* Adds the layer or replaces the one with the same name; a replacement
 * increments version (the tile caches key on it). updated_at and version
 * in *layer are ignored (set here). metadata_json (NULL = "{}") must be a
 * JSON object or array (GPN_EINVAL otherwise). *version_out (may be NULL)
 * receives the new version. */
int gpn_catalog_layer_add(struct gpn_catalog *cat, const struct gpn_layer *layer, const char *metadata_json,
                          int64_t *version_out, struct gpn_err *err);
/* One layer by name; GPN_ENOTFOUND when none. */
int gpn_catalog_layer_get(struct gpn_catalog *cat, const char *name, struct gpn_layer *out, struct gpn_err *err);
/* The layer's metadata JSON as a malloc'ed NUL-terminated string (caller
 * frees); GPN_ENOTFOUND when the layer does not exist. */
int gpn_catalog_layer_metadata(struct gpn_catalog *cat, const char *name, char **json, struct gpn_err *err);
/* Layers of one group (group < 0: all), ordered by group then name.
 * *out is malloc'ed. */
int gpn_catalog_layers_list(struct gpn_catalog *cat, int group, struct gpn_layer **out, size_t *n,
                            struct gpn_err *err);
/* Removes a layer (the raster file is not touched); GPN_ENOTFOUND when
 * none. */
int gpn_catalog_layer_remove(struct gpn_catalog *cat, const char *name, struct gpn_err *err);

/* ==== meta-tile states ================================================== */

enum gpn_tile_state {
    GPN_TILE_PENDING = 0,
    GPN_TILE_RUNNING,
    GPN_TILE_DONE,
    GPN_TILE_FAILED,
    GPN_TILE_NSTATES
};

#define GPN_TILE_ID_MAX 32
struct gpn_tile_status {
    char tile_id[GPN_TILE_ID_MAX]; /* meta-tile id, e.g. "25kmE3600N2200" */
    enum gpn_tile_state state;
    int64_t updated_at; /* unix seconds */
    char message[256];  /* last error or note, "" none */
};

/* "pending", "running", "done", "failed"; NULL out of range. */
const char *gpn_tile_state_name(enum gpn_tile_state s);
int gpn_tile_state_parse(const char *s, enum gpn_tile_state *out, struct gpn_err *err);

/* Sets (creates) the state of a tile, with an optional message (NULL = "";
 * truncated to 255 bytes). GPN_EINVAL for an empty or too long id. */
int gpn_catalog_tile_set(struct gpn_catalog *cat, const char *tile_id, enum gpn_tile_state state,
                         const char *message, struct gpn_err *err);
/* GPN_ENOTFOUND when the tile was never set. */
int gpn_catalog_tile_get(struct gpn_catalog *cat, const char *tile_id, struct gpn_tile_status *out,
                         struct gpn_err *err);
/* Tiles in one state (state < 0: all), ordered by id. *out is malloc'ed. */
int gpn_catalog_tiles_list(struct gpn_catalog *cat, int state, struct gpn_tile_status **out, size_t *n,
                           struct gpn_err *err);
/* counts[s] = number of tiles in state s. */
int gpn_catalog_tiles_count(struct gpn_catalog *cat, int64_t counts[GPN_TILE_NSTATES], struct gpn_err *err);

/* ==== model runs ======================================================== */

enum gpn_model_kind { GPN_MODEL_SDM = 0, GPN_MODEL_HDM = 1 };

#define GPN_MODEL_JSON_MAX 8192
struct gpn_model_run {
    int64_t id; /* increasing: a later run has a larger id */
    enum gpn_model_kind kind;
    char path[1024];                  /* model file */
    char config[GPN_MODEL_JSON_MAX];  /* JSON */
    char metrics[GPN_MODEL_JSON_MAX]; /* JSON, "{}" until evaluated */
    int64_t created_at;               /* unix seconds */
};

/* "sdm", "hdm"; NULL out of range. */
const char *gpn_model_kind_name(enum gpn_model_kind k);
int gpn_model_kind_parse(const char *s, enum gpn_model_kind *out, struct gpn_err *err);

/* Records a model run. config_json and metrics_json (NULL = "{}") must be
 * JSON objects or arrays shorter than GPN_MODEL_JSON_MAX bytes (GPN_EINVAL,
 * GPN_ETOOBIG). *id_out (may be NULL) receives the run id. */
int gpn_catalog_model_run_add(struct gpn_catalog *cat, enum gpn_model_kind kind, const char *path,
                              const char *config_json, const char *metrics_json, int64_t *id_out,
                              struct gpn_err *err);
/* Replaces the metrics of run id (after an evaluation); GPN_ENOTFOUND. */
int gpn_catalog_model_run_set_metrics(struct gpn_catalog *cat, int64_t id, const char *metrics_json,
                                      struct gpn_err *err);
int gpn_catalog_model_run_get(struct gpn_catalog *cat, int64_t id, struct gpn_model_run *out,
                              struct gpn_err *err);
/* The most recent run of this kind (largest id); GPN_ENOTFOUND when none. */
int gpn_catalog_model_run_latest(struct gpn_catalog *cat, enum gpn_model_kind kind, struct gpn_model_run *out,
                                 struct gpn_err *err);
/* Runs of one kind (kind < 0: all), oldest first. *out is malloc'ed
 * (about 17 KiB per run). */
int gpn_catalog_model_runs_list(struct gpn_catalog *cat, int kind, struct gpn_model_run **out, size_t *n,
                                struct gpn_err *err);

#endif
