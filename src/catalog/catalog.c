/*
 * catalog.c - the atlas catalog on SQLite (see include/gpn/catalog.h).
 *
 * This is the only file that includes sqlite3.h. Design:
 *
 * - One connection per struct gpn_catalog, opened with SQLITE_OPEN_NOMUTEX:
 *   the caller guarantees one thread at a time, so SQLite's own mutexes
 *   would only cost time. Several processes share the file through WAL
 *   (readers do not block the writer) and a 5 s busy timeout.
 *
 * - The schema is an ordered array of migrations (MIGRATIONS below). The
 *   file's PRAGMA user_version says how many have been applied; opening
 *   read-write applies the rest, each inside BEGIN IMMEDIATE ... COMMIT with
 *   the version re-read under the write lock, so two processes opening a
 *   fresh file at once cannot both migrate it. A new schema change is a new
 *   array entry; existing entries are never edited.
 *
 * - Every value reaches SQL through sqlite3_bind_*; SQL text is only ever
 *   built from constants in this file (the one snprintf'd statement,
 *   "PRAGMA user_version = N", takes N from the migration counter, because
 *   PRAGMA arguments cannot be bound).
 *
 * - Statements are prepared per call and finalized before returning: the
 *   catalog answers a few queries per request, and a statement cache would
 *   tie statement lifetimes to the connection for no measurable gain. Each
 *   public function states only its SQL and bindings; the statement helpers
 *   (query_one, query_value, query_list, step_done, run_write) step, read
 *   rows through a row reader (species_row, habitat_row, ...), finalize and
 *   map errors the same way everywhere.
 *
 * - Layer versions live in their own table (layer_versions) that is never
 *   deleted from, so removing a layer and adding it again still yields a
 *   larger version than any the tile caches may have seen.
 *
 * Data layout: tables species, habitats, layers, layer_versions, tiles,
 * model_runs (columns in MIGRATIONS[0]; described in docs/catalog.md).
 */
#include "gpn/catalog.h"

#include <ctype.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpn/csv.h"
#include "gpn/log.h"
#include "gpn/util.h"

struct gpn_catalog {
    sqlite3 *db;
    char path[1024];
    int readonly;
    int in_txn; /* a gpn_catalog_begin() transaction is open */
};

/* ==== schema ============================================================= */

static const char *const MIGRATIONS[] = {
    /* 1: initial schema */
    "CREATE TABLE species ("
    "  id INTEGER PRIMARY KEY,"
    "  scientific_name TEXT NOT NULL COLLATE NOCASE UNIQUE,"
    "  genus TEXT NOT NULL DEFAULT '',"
    "  family TEXT NOT NULL DEFAULT '',"
    "  habitats_directive INTEGER NOT NULL DEFAULT 0 CHECK (habitats_directive IN (0, 1)),"
    "  redlist TEXT CHECK (redlist IN ('CR','EN','VU','NT','LC','DD','EX','EW','RE')),"
    "  invasive INTEGER NOT NULL DEFAULT 0 CHECK (invasive IN (0, 1)),"
    "  tree INTEGER NOT NULL DEFAULT 0 CHECK (tree IN (0, 1)),"
    "  endemic INTEGER NOT NULL DEFAULT 0 CHECK (endemic IN (0, 1)),"
    "  specialist INTEGER NOT NULL DEFAULT 0 CHECK (specialist IN (0, 1)),"
    "  alien INTEGER NOT NULL DEFAULT 0 CHECK (alien IN (0, 1)),"
    "  it_regions INTEGER,"
    "  geoplant_id INTEGER UNIQUE,"
    "  gbif_key INTEGER,"
    "  sources TEXT NOT NULL DEFAULT ''"
    ");"
    "CREATE INDEX species_genus ON species (genus);"
    "CREATE TABLE habitats ("
    "  code TEXT PRIMARY KEY,"
    "  level INTEGER NOT NULL CHECK (level BETWEEN 1 AND 4),"
    "  parent TEXT,"
    "  name TEXT NOT NULL DEFAULT ''"
    ");"
    "CREATE INDEX habitats_level ON habitats (level, code);"
    "CREATE TABLE layers ("
    "  name TEXT PRIMARY KEY,"
    "  title TEXT NOT NULL DEFAULT '',"
    "  abstract TEXT NOT NULL DEFAULT '',"
    "  layer_group TEXT NOT NULL CHECK (layer_group IN ('species','indicators','habitats_l1',"
    "    'habitats_l2','habitats_l3','inputs','truth','other')),"
    "  path TEXT NOT NULL,"
    "  style TEXT NOT NULL DEFAULT '',"
    "  dtype TEXT NOT NULL DEFAULT '',"
    "  epsg INTEGER NOT NULL DEFAULT 0,"
    "  west REAL, south REAL, east REAL, north REAL,"
    "  has_nodata INTEGER NOT NULL DEFAULT 0,"
    "  nodata REAL,"
    "  updated_at INTEGER NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  metadata TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata))"
    ");"
    "CREATE INDEX layers_group ON layers (layer_group, name);"
    "CREATE TABLE layer_versions ("
    "  name TEXT PRIMARY KEY,"
    "  version INTEGER NOT NULL"
    ");"
    "CREATE TABLE tiles ("
    "  tile_id TEXT PRIMARY KEY,"
    "  state TEXT NOT NULL CHECK (state IN ('pending','running','done','failed')),"
    "  updated_at INTEGER NOT NULL,"
    "  message TEXT NOT NULL DEFAULT ''"
    ");"
    "CREATE INDEX tiles_state ON tiles (state, tile_id);"
    "CREATE TABLE model_runs ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  kind TEXT NOT NULL CHECK (kind IN ('sdm','hdm')),"
    "  path TEXT NOT NULL,"
    "  config TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(config)),"
    "  metrics TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metrics)),"
    "  created_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX model_runs_kind ON model_runs (kind, id);",
};
#define NMIGRATIONS ((int)(sizeof MIGRATIONS / sizeof MIGRATIONS[0]))

_Static_assert(NMIGRATIONS == GPN_CATALOG_SCHEMA_VERSION, "GPN_CATALOG_SCHEMA_VERSION must match MIGRATIONS");

/* ==== SQLite error plumbing ============================================== */

static int map_rc(int rc)
{
    switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY: return GPN_EEXISTS;
    case SQLITE_CONSTRAINT_CHECK:
    case SQLITE_CONSTRAINT_NOTNULL: return GPN_EINVAL;
    default: break;
    }
    switch (rc & 0xff) {
    case SQLITE_NOMEM: return GPN_ENOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return GPN_ETIMEOUT;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT: return GPN_EFORMAT;
    case SQLITE_CONSTRAINT: return GPN_EINVAL;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM: return GPN_EIO;
    case SQLITE_READONLY: return GPN_ESTATE;
    default: return GPN_ELIB;
    }
}

/* Sets err from the connection's last error; returns the GPN code. */
static int db_fail(struct gpn_catalog *cat, struct gpn_err *err, const char *fn, int rc)
{
    int code = map_rc(rc);
    const char *msg = cat && cat->db ? sqlite3_errmsg(cat->db) : sqlite3_errstr(rc);
    if ((rc & 0xff) == SQLITE_NOTADB)
        return gpn_err_set(err, code, "%s: %s: not an SQLite database (%s)", fn, cat ? cat->path : "?", msg);
    return gpn_err_set(err, code, "%s: %s: %s", fn, cat ? cat->path : "?", msg);
}

static int prep(struct gpn_catalog *cat, const char *sql, sqlite3_stmt **st, struct gpn_err *err, const char *fn)
{
    int rc = sqlite3_prepare_v2(cat->db, sql, -1, st, NULL);
    if (rc != SQLITE_OK) {
        *st = NULL;
        return db_fail(cat, err, fn, rc);
    }
    return 0;
}

/* Binds a string that the statement only needs until it is finalized. */
static int bind_text(sqlite3_stmt *st, int i, const char *s)
{
    return sqlite3_bind_text(st, i, s ? s : "", -1, SQLITE_STATIC);
}

static int bind_opt_i64(sqlite3_stmt *st, int i, int64_t v, int64_t none)
{
    return v == none ? sqlite3_bind_null(st, i) : sqlite3_bind_int64(st, i, v);
}

static void col_text(sqlite3_stmt *st, int i, char *buf, size_t n)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    gpn_strlcpy(buf, s ? (const char *)s : "", n);
}

static int64_t col_opt_i64(sqlite3_stmt *st, int i, int64_t none)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? none : sqlite3_column_int64(st, i);
}

static double col_real_or_nan(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

/* ==== statement helpers ================================================== */

/* Copies the current row of a statement into dst (a struct of the caller's
 * choosing); returns 0, or GPN_ENOMEM when it had to allocate and could not. */
typedef int (*row_reader)(sqlite3_stmt *st, void *dst);

/* Binds s to ?i, or SQL NULL when s is NULL (borrowed until finalize). */
static int bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
    return s ? bind_text(st, i, s) : sqlite3_bind_null(st, i);
}

/* Prepares sql with ?1 bound to the string s (borrowed until finalize). */
static int prep_text(struct gpn_catalog *cat, const char *sql, const char *s, sqlite3_stmt **st,
                     struct gpn_err *err, const char *fn)
{
    int rc = prep(cat, sql, st, err, fn);
    if (rc == 0) bind_text(*st, 1, s);
    return rc;
}

/* Prepares sql with ?1 bound to the integer v. */
static int prep_i64(struct gpn_catalog *cat, const char *sql, int64_t v, sqlite3_stmt **st, struct gpn_err *err,
                    const char *fn)
{
    int rc = prep(cat, sql, st, err, fn);
    if (rc == 0) sqlite3_bind_int64(*st, 1, v);
    return rc;
}

/* Steps a bound write statement to completion; when it returns a row
 * (INSERT ... RETURNING), its first column goes to *returned (may be NULL).
 * Returns 0 or the mapped SQLite error. The statement stays prepared (the
 * caller resets or finalizes it). */
static int step_done(struct gpn_catalog *cat, sqlite3_stmt *st, int64_t *returned, struct gpn_err *err,
                     const char *fn)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if (returned) *returned = sqlite3_column_int64(st, 0);
        rc = sqlite3_step(st);
    }
    return rc == SQLITE_DONE ? 0 : db_fail(cat, err, fn, rc);
}

/* step_done, then finalizes st. */
static int run_write(struct gpn_catalog *cat, sqlite3_stmt *st, int64_t *returned, struct gpn_err *err,
                     const char *fn)
{
    int rc = step_done(cat, st, returned, err, fn);
    sqlite3_finalize(st);
    return rc;
}

/* Steps a bound query once, reads its first row (if any) into out with
 * read, and finalizes st. Returns 0 with *found set, or an error. */
static int query_first(struct gpn_catalog *cat, sqlite3_stmt *st, row_reader read, void *out, int *found,
                       struct gpn_err *err, const char *fn)
{
    int rc = sqlite3_step(st);
    *found = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW) {
        rc = read(st, out);
        if (rc) rc = gpn_err_set(err, rc, "%s: out of memory", fn);
    } else if (rc == SQLITE_DONE) {
        rc = 0;
    } else {
        rc = db_fail(cat, err, fn, rc);
    }
    sqlite3_finalize(st);
    return rc;
}

/* A query for one record: query_first, and GPN_ENOTFOUND with the message
 * "FN: <notfound, formatted>" when there is no row. Finalizes st. */
static int query_one(struct gpn_catalog *cat, sqlite3_stmt *st, row_reader read, void *out, struct gpn_err *err,
                     const char *fn, const char *notfound, ...) GPN_PRINTF(7, 8);
static int query_one(struct gpn_catalog *cat, sqlite3_stmt *st, row_reader read, void *out, struct gpn_err *err,
                     const char *fn, const char *notfound, ...)
{
    int found, rc = query_first(cat, st, read, out, &found, err, fn);
    if (rc || found) return rc;
    va_list ap;
    va_start(ap, notfound);
    gpn_err_setv(err, GPN_ENOTFOUND, notfound, ap);
    va_end(ap);
    if (err) gpn_err_prefix(err, "%s", fn);
    return GPN_ENOTFOUND;
}

/* A query that always yields a row (count(*), PRAGMA): reads it into out;
 * no row at all is a database error. Finalizes st. */
static int query_value(struct gpn_catalog *cat, sqlite3_stmt *st, row_reader read, void *out, struct gpn_err *err,
                       const char *fn)
{
    int found, rc = query_first(cat, st, read, out, &found, err, fn);
    if (rc == 0 && !found) rc = db_fail(cat, err, fn, SQLITE_DONE);
    return rc;
}

static int read_i64(sqlite3_stmt *st, void *dst)
{
    *(int64_t *)dst = sqlite3_column_int64(st, 0);
    return 0;
}

static int read_int(sqlite3_stmt *st, void *dst)
{
    *(int *)dst = sqlite3_column_int(st, 0);
    return 0;
}

/* Grows *arr (elements of size esz) to hold at least need elements. */
static int grow(void **arr, size_t *cap, size_t need, size_t esz)
{
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap * 2 : 64;
    while (nc < need) nc *= 2;
    if (nc > SIZE_MAX / esz) return GPN_ENOMEM;
    void *p = realloc(*arr, nc * esz);
    if (!p) return GPN_ENOMEM;
    *arr = p;
    *cap = nc;
    return 0;
}

/* Reads every row of a bound query into a malloc'ed array of esz-byte
 * records (*out, *n; caller frees; NULL and 0 for no rows) and finalizes
 * st. On failure *out = NULL, *n = 0. */
static int query_list(struct gpn_catalog *cat, sqlite3_stmt *st, row_reader read, size_t esz, void **out,
                      size_t *n, struct gpn_err *err, const char *fn)
{
    void *arr = NULL;
    size_t cap = 0, cnt = 0;
    int rc;
    *out = NULL;
    *n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (grow(&arr, &cap, cnt + 1, esz) || read(st, (char *)arr + cnt * esz)) {
            rc = gpn_err_set(err, GPN_ENOMEM, "%s: out of memory", fn);
            goto fail;
        }
        cnt++;
    }
    if (rc != SQLITE_DONE) {
        rc = db_fail(cat, err, fn, rc);
        goto fail;
    }
    sqlite3_finalize(st);
    *out = arr;
    *n = cnt;
    return 0;
fail:
    sqlite3_finalize(st);
    free(arr);
    return rc;
}

/* Runs a statement without results (constant SQL only). */
static int exec_sql(struct gpn_catalog *cat, const char *sql, struct gpn_err *err, const char *fn)
{
    char *msg = NULL;
    int rc = sqlite3_exec(cat->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        int code = map_rc(rc);
        if ((rc & 0xff) == SQLITE_NOTADB)
            gpn_err_set(err, code, "%s: %s: not an SQLite database (%s)", fn, cat->path,
                        msg ? msg : sqlite3_errstr(rc));
        else
            gpn_err_set(err, code, "%s: %s: %s", fn, cat->path, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return code;
    }
    return 0;
}

/* Checks that s fits a field of n bytes (n-1 characters plus NUL). */
static int check_len(const char *s, size_t n, const char *fn, const char *what, struct gpn_err *err)
{
    if (s && strlen(s) >= n)
        return gpn_err_set(err, GPN_ETOOBIG, "%s: %s is %zu bytes, at most %zu allowed", fn, what, strlen(s), n - 1);
    return 0;
}

/* Row reader: 1 when column 0 names a JSON object or array type. */
static int read_json_container(sqlite3_stmt *st, void *dst)
{
    const unsigned char *t = sqlite3_column_text(st, 0);
    *(int *)dst = t && (!strcmp((const char *)t, "object") || !strcmp((const char *)t, "array"));
    return 0;
}

/* Validates that json is an object or array (SQLite's JSON functions). */
static int check_json(struct gpn_catalog *cat, const char *json, const char *fn, const char *what,
                      struct gpn_err *err)
{
    sqlite3_stmt *st;
    int ok = 0;
    int rc = prep_text(cat, "SELECT CASE WHEN json_valid(?1) THEN json_type(?1) END", json, &st, err, fn);
    if (rc || (rc = query_value(cat, st, read_json_container, &ok, err, fn))) return rc;
    if (!ok) return gpn_err_set(err, GPN_EINVAL, "%s: %s is not a JSON object or array", fn, what);
    return 0;
}

/* Nested-safe write scope: a SAVEPOINT works inside and outside a
 * gpn_catalog_begin() transaction. */
static int sp_begin(struct gpn_catalog *cat, struct gpn_err *err, const char *fn)
{
    return exec_sql(cat, "SAVEPOINT gpn_op", err, fn);
}

static int sp_end(struct gpn_catalog *cat, int rc, struct gpn_err *err, const char *fn)
{
    if (rc == 0) {
        rc = exec_sql(cat, "RELEASE gpn_op", err, fn);
        if (rc == 0) return 0;
    }
    sqlite3_exec(cat->db, "ROLLBACK TO gpn_op; RELEASE gpn_op", NULL, NULL, NULL);
    return rc;
}

/* ==== open / close ======================================================= */

static int read_user_version(struct gpn_catalog *cat, int *v, struct gpn_err *err, const char *fn)
{
    sqlite3_stmt *st;
    int rc = prep(cat, "PRAGMA user_version", &st, err, fn);
    return rc ? rc : query_value(cat, st, read_int, v, err, fn);
}

static int migrate(struct gpn_catalog *cat, struct gpn_err *err)
{
    static const char fn[] = "gpn_catalog_open";
    int v, rc;
    if ((rc = read_user_version(cat, &v, err, fn))) return rc;
    while (v < NMIGRATIONS) {
        if ((rc = exec_sql(cat, "BEGIN IMMEDIATE", err, fn))) return rc;
        /* Re-read under the write lock: another process may have migrated. */
        if ((rc = read_user_version(cat, &v, err, fn))) goto fail;
        if (v >= NMIGRATIONS) {
            if ((rc = exec_sql(cat, "COMMIT", err, fn))) goto fail;
            break;
        }
        if ((rc = exec_sql(cat, MIGRATIONS[v], err, fn))) {
            gpn_err_prefix(err, "migration %d", v + 1);
            goto fail;
        }
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
        if ((rc = exec_sql(cat, sql, err, fn))) goto fail;
        if ((rc = exec_sql(cat, "COMMIT", err, fn))) goto fail;
        gpn_log_debug("catalog %s: schema migrated to version %d", cat->path, v + 1);
        v++;
    }
    if (v > NMIGRATIONS)
        return gpn_err_set(err, GPN_EUNSUPPORTED,
                           "%s: %s: catalog schema version %d is newer than this program's (%d); "
                           "use a newer gpn", fn, cat->path, v, NMIGRATIONS);
    return 0;
fail:
    sqlite3_exec(cat->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int gpn_catalog_path(const char *atlas_dir, char *buf, size_t n, struct gpn_err *err)
{
    if (!atlas_dir || !*atlas_dir) return gpn_err_set(err, GPN_EINVAL, "gpn_catalog_path: empty atlas folder");
    if (gpn_path_join(buf, n, atlas_dir, GPN_CATALOG_FILE))
        return gpn_err_set(err, GPN_ETOOBIG, "gpn_catalog_path: path under '%s' too long", atlas_dir);
    return 0;
}

int gpn_catalog_open(const char *path, int flags, struct gpn_catalog **out, struct gpn_err *err)
{
    static const char fn[] = "gpn_catalog_open";
    *out = NULL;
    if (!path || !*path) return gpn_err_set(err, GPN_EINVAL, "%s: empty path", fn);
    int readonly = (flags & GPN_CATALOG_READONLY) != 0;
    int create = (flags & GPN_CATALOG_CREATE) != 0 && !readonly;
    if (!create && !gpn_path_exists(path))
        return gpn_err_set(err, GPN_ENOTFOUND, "%s: %s: no catalog there (create one with 'gpn catalog init')", fn,
                           path);
    if (gpn_is_dir(path)) return gpn_err_set(err, GPN_EINVAL, "%s: %s is a folder, not a catalog file", fn, path);

    struct gpn_catalog *cat = calloc(1, sizeof *cat);
    if (!cat) return gpn_err_set(err, GPN_ENOMEM, "%s: out of memory", fn);
    int rc;
    if (gpn_strlcpy(cat->path, path, sizeof cat->path) >= sizeof cat->path) {
        rc = gpn_err_set(err, GPN_ETOOBIG, "%s: path too long", fn);
        goto fail;
    }
    cat->readonly = readonly;
    int oflags = SQLITE_OPEN_NOMUTEX | (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE);
    if (create) oflags |= SQLITE_OPEN_CREATE;
    int src = sqlite3_open_v2(path, &cat->db, oflags, NULL);
    if (src != SQLITE_OK) {
        rc = db_fail(cat, err, fn, src);
        goto fail;
    }
    sqlite3_extended_result_codes(cat->db, 1);
    sqlite3_busy_timeout(cat->db, 5000);
    /* Touch the schema first: a file that is not a database fails here
     * with SQLITE_NOTADB, before any pragma could write to it. */
    if ((rc = exec_sql(cat, "SELECT count(*) FROM sqlite_master", err, fn))) goto fail;
    if (!readonly) {
        if ((rc = exec_sql(cat, "PRAGMA journal_mode = WAL", err, fn))) goto fail;
        if ((rc = exec_sql(cat, "PRAGMA synchronous = NORMAL", err, fn))) goto fail;
        if ((rc = migrate(cat, err))) goto fail;
    } else {
        int v;
        if ((rc = read_user_version(cat, &v, err, fn))) goto fail;
        if (v != NMIGRATIONS) {
            rc = gpn_err_set(err, GPN_EUNSUPPORTED,
                             "%s: %s: catalog schema version %d, this program needs %d (open it read-write once "
                             "to migrate)", fn, path, v, NMIGRATIONS);
            goto fail;
        }
    }
    *out = cat;
    return 0;
fail:
    gpn_catalog_close(cat);
    return rc;
}

void gpn_catalog_close(struct gpn_catalog *cat)
{
    if (!cat) return;
    if (cat->db) {
        if (cat->in_txn) sqlite3_exec(cat->db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close_v2(cat->db);
    }
    free(cat);
}

int gpn_catalog_schema_version(struct gpn_catalog *cat, int *version, struct gpn_err *err)
{
    return read_user_version(cat, version, err, "gpn_catalog_schema_version");
}

int gpn_catalog_begin(struct gpn_catalog *cat, struct gpn_err *err)
{
    if (cat->in_txn) return gpn_err_set(err, GPN_ESTATE, "gpn_catalog_begin: a transaction is already open");
    int rc = exec_sql(cat, "BEGIN IMMEDIATE", err, "gpn_catalog_begin");
    if (rc == 0) cat->in_txn = 1;
    return rc;
}

int gpn_catalog_commit(struct gpn_catalog *cat, struct gpn_err *err)
{
    if (!cat->in_txn) return gpn_err_set(err, GPN_ESTATE, "gpn_catalog_commit: no open transaction");
    int rc = exec_sql(cat, "COMMIT", err, "gpn_catalog_commit");
    if (rc == 0) cat->in_txn = 0;
    return rc;
}

void gpn_catalog_rollback(struct gpn_catalog *cat)
{
    if (!cat || !cat->in_txn) return;
    sqlite3_exec(cat->db, "ROLLBACK", NULL, NULL, NULL);
    cat->in_txn = 0;
}

/* ==== species ============================================================ */

static const struct {
    unsigned bit;
    const char *name;
} SPECIES_FLAGS[GPN_SPECIES_NFLAGS] = {
    {GPN_SPECIES_DIRECTIVE, "directive"}, {GPN_SPECIES_INVASIVE, "invasive"},
    {GPN_SPECIES_TREE, "tree"},           {GPN_SPECIES_ENDEMIC, "endemic"},
    {GPN_SPECIES_SPECIALIST, "specialist"}, {GPN_SPECIES_ALIEN, "alien"},
};

static const char *const REDLIST_CODES[] = {"CR", "EN", "VU", "NT", "LC", "DD", "EX", "EW", "RE"};

#define SPECIES_COLS                                                                                   \
    "id, scientific_name, genus, family, habitats_directive, redlist, invasive, tree, endemic, "       \
    "specialist, alien, it_regions, geoplant_id, gbif_key, sources"
/* The flag columns folded into the enum gpn_species_flag bit mask. */
#define SPECIES_FLAGS_EXPR                                                                             \
    "(habitats_directive | (invasive << 1) | (tree << 2) | (endemic << 3) | (specialist << 4) | "      \
    "(alien << 5))"

const char *gpn_species_flag_name(unsigned flag)
{
    for (int i = 0; i < GPN_SPECIES_NFLAGS; i++)
        if (SPECIES_FLAGS[i].bit == flag) return SPECIES_FLAGS[i].name;
    return NULL;
}

int gpn_species_flag_parse(const char *name, unsigned *flag, struct gpn_err *err)
{
    if (name) {
        if (!strcmp(name, "habitats_directive")) {
            *flag = GPN_SPECIES_DIRECTIVE;
            return 0;
        }
        for (int i = 0; i < GPN_SPECIES_NFLAGS; i++)
            if (!strcmp(name, SPECIES_FLAGS[i].name)) {
                *flag = SPECIES_FLAGS[i].bit;
                return 0;
            }
    }
    return gpn_err_set(err, GPN_EINVAL,
                       "unknown species flag '%s' (valid: directive, invasive, tree, endemic, specialist, alien)",
                       name ? name : "(null)");
}

void gpn_species_init(struct gpn_species *sp)
{
    memset(sp, 0, sizeof *sp);
    sp->it_regions = -1;
    sp->geoplant_id = -1;
    sp->gbif_key = -1;
}

static int redlist_valid(const char *s)
{
    if (!s || !*s) return 1;
    for (size_t i = 0; i < sizeof REDLIST_CODES / sizeof REDLIST_CODES[0]; i++)
        if (!strcmp(s, REDLIST_CODES[i])) return 1;
    return 0;
}

static int species_validate(const struct gpn_species *sp, const char *fn, struct gpn_err *err)
{
    if (!sp->scientific_name[0]) return gpn_err_set(err, GPN_EINVAL, "%s: empty scientific name", fn);
    if (!memchr(sp->scientific_name, 0, sizeof sp->scientific_name) || !memchr(sp->genus, 0, sizeof sp->genus) ||
        !memchr(sp->family, 0, sizeof sp->family) || !memchr(sp->redlist, 0, sizeof sp->redlist) ||
        !memchr(sp->sources, 0, sizeof sp->sources))
        return gpn_err_set(err, GPN_EINVAL, "%s: unterminated string field", fn);
    if (!redlist_valid(sp->redlist))
        return gpn_err_set(err, GPN_EINVAL, "%s: %s: red list category '%s' is not one of CR EN VU NT LC DD EX EW RE",
                           fn, sp->scientific_name, sp->redlist);
    return 0;
}

/* Binds sp to ?1..?15 in SPECIES_COLS order (?1 = id, NULL when <= 0). */
static void species_bind(sqlite3_stmt *st, const struct gpn_species *sp)
{
    char genus[64];
    const char *g = sp->genus;
    if (!g[0]) { /* genus defaults to the first word of the name */
        size_t k = strcspn(sp->scientific_name, " ");
        if (k >= sizeof genus) k = sizeof genus - 1;
        memcpy(genus, sp->scientific_name, k);
        genus[k] = 0;
        g = genus;
    }
    if (sp->id > 0)
        sqlite3_bind_int64(st, 1, sp->id);
    else
        sqlite3_bind_null(st, 1);
    bind_text(st, 2, sp->scientific_name);
    sqlite3_bind_text(st, 3, g, -1, SQLITE_TRANSIENT);
    bind_text(st, 4, sp->family);
    sqlite3_bind_int(st, 5, (sp->flags & GPN_SPECIES_DIRECTIVE) != 0);
    if (sp->redlist[0])
        bind_text(st, 6, sp->redlist);
    else
        sqlite3_bind_null(st, 6);
    sqlite3_bind_int(st, 7, (sp->flags & GPN_SPECIES_INVASIVE) != 0);
    sqlite3_bind_int(st, 8, (sp->flags & GPN_SPECIES_TREE) != 0);
    sqlite3_bind_int(st, 9, (sp->flags & GPN_SPECIES_ENDEMIC) != 0);
    sqlite3_bind_int(st, 10, (sp->flags & GPN_SPECIES_SPECIALIST) != 0);
    sqlite3_bind_int(st, 11, (sp->flags & GPN_SPECIES_ALIEN) != 0);
    if (sp->it_regions >= 0)
        sqlite3_bind_int(st, 12, sp->it_regions);
    else
        sqlite3_bind_null(st, 12);
    bind_opt_i64(st, 13, sp->geoplant_id, -1);
    bind_opt_i64(st, 14, sp->gbif_key, -1);
    bind_text(st, 15, sp->sources);
}

/* Row reader of SPECIES_COLS into a struct gpn_species. */
static int species_row(sqlite3_stmt *st, void *dst)
{
    struct gpn_species *sp = dst;
    gpn_species_init(sp);
    sp->id = sqlite3_column_int64(st, 0);
    col_text(st, 1, sp->scientific_name, sizeof sp->scientific_name);
    col_text(st, 2, sp->genus, sizeof sp->genus);
    col_text(st, 3, sp->family, sizeof sp->family);
    if (sqlite3_column_int(st, 4)) sp->flags |= GPN_SPECIES_DIRECTIVE;
    col_text(st, 5, sp->redlist, sizeof sp->redlist);
    if (sqlite3_column_int(st, 6)) sp->flags |= GPN_SPECIES_INVASIVE;
    if (sqlite3_column_int(st, 7)) sp->flags |= GPN_SPECIES_TREE;
    if (sqlite3_column_int(st, 8)) sp->flags |= GPN_SPECIES_ENDEMIC;
    if (sqlite3_column_int(st, 9)) sp->flags |= GPN_SPECIES_SPECIALIST;
    if (sqlite3_column_int(st, 10)) sp->flags |= GPN_SPECIES_ALIEN;
    sp->it_regions = (int)col_opt_i64(st, 11, -1);
    sp->geoplant_id = col_opt_i64(st, 12, -1);
    sp->gbif_key = col_opt_i64(st, 13, -1);
    col_text(st, 14, sp->sources, sizeof sp->sources);
    return 0;
}

#define SPECIES_UPSERT_SET                                                                             \
    "scientific_name = excluded.scientific_name, genus = excluded.genus, family = excluded.family, "   \
    "habitats_directive = excluded.habitats_directive, redlist = excluded.redlist, "                   \
    "invasive = excluded.invasive, tree = excluded.tree, endemic = excluded.endemic, "                 \
    "specialist = excluded.specialist, alien = excluded.alien, it_regions = excluded.it_regions, "     \
    "geoplant_id = excluded.geoplant_id, gbif_key = excluded.gbif_key, sources = excluded.sources"

static const char SQL_SPECIES_UPSERT_ID[] =
    "INSERT INTO species (" SPECIES_COLS ") VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15) "
    "ON CONFLICT (id) DO UPDATE SET " SPECIES_UPSERT_SET " RETURNING id";
static const char SQL_SPECIES_UPSERT_NAME[] =
    "INSERT INTO species (" SPECIES_COLS ") VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15) "
    "ON CONFLICT (scientific_name) DO UPDATE SET " SPECIES_UPSERT_SET " RETURNING id";

/* Steps a prepared upsert (bound) and reads the returned id. */
static int species_step_upsert(struct gpn_catalog *cat, sqlite3_stmt *st, const struct gpn_species *sp,
                               int64_t *id_out, struct gpn_err *err, const char *fn)
{
    int rc = step_done(cat, st, id_out, err, fn);
    if (rc == GPN_EEXISTS)
        gpn_err_set(err, rc, "%s: species '%s' already exists under another id (or its GeoPlant id %lld is taken)",
                    fn, sp->scientific_name, (long long)sp->geoplant_id);
    return rc;
}

int gpn_catalog_species_upsert(struct gpn_catalog *cat, const struct gpn_species *sp, int64_t *id_out,
                               struct gpn_err *err)
{
    static const char fn[] = "gpn_catalog_species_upsert";
    int rc = species_validate(sp, fn, err);
    if (rc) return rc;
    sqlite3_stmt *st;
    if ((rc = prep(cat, sp->id > 0 ? SQL_SPECIES_UPSERT_ID : SQL_SPECIES_UPSERT_NAME, &st, err, fn))) return rc;
    species_bind(st, sp);
    rc = species_step_upsert(cat, st, sp, id_out, err, fn);
    sqlite3_finalize(st);
    return rc;
}

int gpn_catalog_species_get(struct gpn_catalog *cat, int64_t id, struct gpn_species *out, struct gpn_err *err)
{
    static const char fn[] = "gpn_catalog_species_get";
    sqlite3_stmt *st;
    int rc = prep_i64(cat, "SELECT " SPECIES_COLS " FROM species WHERE id = ?1", id, &st, err, fn);
    return rc ? rc : query_one(cat, st, species_row, out, err, fn, "no species with id %lld", (long long)id);
}

int gpn_catalog_species_find(struct gpn_catalog *cat, const char *name, struct gpn_species *out,
                             struct gpn_err *err)
{
    static const char fn[] = "gpn_catalog_species_find";
    if (!name) return gpn_err_set(err, GPN_EINVAL, "%s: NULL name", fn);
    sqlite3_stmt *st;
    int rc = prep_text(cat, "SELECT " SPECIES_COLS " FROM species WHERE scientific_name = ?1", name, &st, err, fn);
    return rc ? rc
              : query_one(cat, st, species_row, out, err, fn, "no species named '%.*s'", GPN_SPECIES_NAME_MAX, name);
}

int gpn_catalog_species_find_geoplant(struct gpn_catalog *cat, int64_t geoplant_id, struct gpn_species *out,
                                      struct gpn_err *err)
{
    static const char fn[] = "gpn_catalog_species_find_geoplant";
    sqlite3_stmt *st;
    int rc = prep_i64(cat, "SELECT " SPECIES_COLS " FROM species WHERE geoplant_id = ?1", geoplant_id, &st, err, fn);
    return rc ? rc
              : query_one(cat, st, species_row, out, err, fn, "no species with GeoPlant id %lld",
                          (long long)geoplant_id);
}

int gpn_catalog_species_search(struct gpn_catalog *cat, const char *prefix, unsigned flags_all, size_t limit,
                               struct gpn_species **out, size_t *n, struct gpn_err *err)
{
    static const char fn[] = "gpn_catalog_species_search";
    *out = NULL;
    *n = 0;
    /* The prefix becomes a LIKE pattern: escape the wildcards, add '%'. */
    size_t plen = prefix ? strlen(prefix) : 0;
    char *pat = malloc(2 * plen + 2);
    if (!pat) return gpn_err_set(err, GPN_ENOMEM, "%s: out of memory", fn);
    size_t k = 0;
    for (size_t i = 0; i < plen; i++) {
        if (prefix[i] == '%' || prefix[i] == '_' || prefix[i] == '\\') pat[k++] = '\\';
        pat[k++] = prefix[i];
    }
    pat[k++] = '%';
    pat[k] = 0;

    sqlite3_stmt *st;
    void *arr = NULL;
    int rc = prep_text(cat,
                       "SELECT " SPECIES_COLS " FROM species WHERE scientific_name LIKE ?1 ESCAPE '\\' AND "
                       "(" SPECIES_FLAGS_EXPR " & ?2) = ?2 ORDER BY scientific_name LIMIT ?3",
                       pat, &st, err, fn);
    if (rc == 0) {
        sqlite3_bind_int64(st, 2, (sqlite3_int64)flags_all);
        sqlite3_bind_int64(st, 3, limit == 0 || limit > (size_t)INT64_MAX ? -1 : (sqlite3_int64)limit);
        rc = query_list(cat, st, species_row, sizeof **out, &arr, n, err, fn);
        *out = arr;
    }
    free(pat);
    return rc;
}

int gpn_catalog_species_foreach(struct gpn_catalog *cat, unsigned flags_all,
                                int (*fn_cb)(const struct gpn_species *sp, void *ud), void *ud,
                                struct gpn_err *err)
{
    static const char fn[] = "gpn_catalog_species_foreach";
    sqlite3_stmt *st;
    int rc = prep_i64(cat, "SELECT " SPECIES_COLS " FROM species WHERE (" SPECIES_FLAGS_EXPR " & ?1) = ?1 ORDER BY id",
                      (int64_t)flags_all, &st, err, fn);
    if (rc) return rc;
    struct gpn_species sp;
    int ret = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        species_row(st, &sp);
        ret = fn_cb(&sp, ud);
        if (ret) break;
    }
    if (!ret && rc != SQLITE_DONE) ret = db_fail(cat, err, fn, rc);
    sqlite3_finalize(st);
    return ret;
}

int gpn_catalog_species_count(struct gpn_catalog *cat, unsigned flags_all, int64_t *n, struct gpn_err *err)
{
    static const char fn[] = "gpn_catalog_species_count";
    sqlite3_stmt *st;
    int rc = prep_i64(cat, "SELECT count(*) FROM species WHERE (" SPECIES_FLAGS_EXPR " & ?1) = ?1", (int64_t)flags_all,
                      &st, err, fn);
    return rc ? rc : query_value(cat, st, read_i64, n, err, fn);
}

/* ---- CSV loading -------------------------------------------------------- */

/* Column indices of the reference table (-1 = absent). */
struct species_cols {
    int id, name, genus, family, redlist, it_regions, geoplant_id, gbif_key, sources;
    int flag[GPN_SPECIES_NFLAGS];
};

static int csv_flag(struct gpn_csv *csv, int col, const char *what, int *v, struct gpn_err *err)
{
    *v = 0;
    if (col < 0) return 0;
    const char *s = gpn_csv_field(csv, col);
    if (!*s || !strcmp(s, "0")) return 0;
    if (!strcmp(s, "1")) {
        *v = 1;
        return 0;
    }
    return gpn_err_set(err, GPN_EFORMAT, "%s:%ld: column '%s': '%s' is not 0 or 1", gpn_csv_path(csv),
                       gpn_csv_line(csv), what, s);
}

static int csv_opt_i64(struct gpn_csv *csv, int col, const char *what, int64_t lo, int64_t hi, int64_t *v,
                       struct gpn_err *err)
{
    *v = -1;
    if (col < 0 || !*gpn_csv_field(csv, col)) return 0;
    int rc = gpn_parse_i64(gpn_csv_field(csv, col), lo, hi, v, what, err);
    if (rc) gpn_err_prefix(err, "%s:%ld", gpn_csv_path(csv), gpn_csv_line(csv));
    return rc;
}

static int csv_str(struct gpn_csv *csv, int col, const char *what, char *buf, size_t n, struct gpn_err *err)
{
    buf[0] = 0;
    if (col < 0) return 0;
    const char *s = gpn_csv_field(csv, col);
    if (gpn_strlcpy(buf, s, n) >= n)
        return gpn_err_set(err, GPN_EFORMAT, "%s:%ld: column '%s' longer than %zu bytes", gpn_csv_path(csv),
                           gpn_csv_line(csv), what, n - 1);
    gpn_strtrim(buf);
    return 0;
}

/* Prefixes err's message with the current CSV position "PATH:LINE". */
static void csv_where(struct gpn_csv *csv, struct gpn_err *err)
{
    gpn_err_prefix(err, "%s:%ld", gpn_csv_path(csv), gpn_csv_line(csv));
}

/* The frame every CSV loader shares: the open file, one write transaction
 * (BEGIN IMMEDIATE ... COMMIT, rolled back on any error) and the prepared
 * per-row statement. Use: csv_load_open, resolve the columns,
 * csv_load_begin, one bind + step_done per row (count++), csv_load_end. */
struct csv_load {
    struct gpn_catalog *cat;
    const char *path; /* borrowed: the caller's path, for the log line */
    struct gpn_csv *csv;
    sqlite3_stmt *st; /* the per-row statement; NULL before csv_load_begin */
    int in_txn;
    size_t count;     /* rows loaded so far */
};

/* Opens path (sep as gpn_csv_open) outside any caller transaction. On
 * failure nothing is left open. */
static int csv_load_open(struct csv_load *ld, struct gpn_catalog *cat, const char *path, char sep,
                         struct gpn_err *err, const char *fn)
{
    memset(ld, 0, sizeof *ld);
    ld->cat = cat;
    ld->path = path;
    if (cat->in_txn) return gpn_err_set(err, GPN_ESTATE, "%s: called inside an open transaction", fn);
    return gpn_csv_open(path, sep, &ld->csv, err);
}

/* Starts the write transaction and prepares the per-row statement sql. */
static int csv_load_begin(struct csv_load *ld, const char *sql, struct gpn_err *err, const char *fn)
{
    int rc = exec_sql(ld->cat, "BEGIN IMMEDIATE", err, fn);
    if (rc) return rc;
    ld->in_txn = 1;
    return prep(ld->cat, sql, &ld->st, err, fn);
}

/* Readies the per-row statement for the next row's bindings. */
static void csv_load_next_row(struct csv_load *ld)
{
    sqlite3_reset(ld->st);
    sqlite3_clear_bindings(ld->st);
}

/* Ends a load: with rc == 0 commits, stores the row count in *n_loaded
 * (may be NULL) and logs "loaded N <what> from PATH"; otherwise rolls back.
 * Always closes the file and the statement. Returns rc or the COMMIT error. */
static int csv_load_end(struct csv_load *ld, int rc, const char *what, size_t *n_loaded, struct gpn_err *err,
                        const char *fn)
{
    sqlite3_finalize(ld->st);
    ld->st = NULL;
    if (rc == 0 && ld->in_txn && (rc = exec_sql(ld->cat, "COMMIT", err, fn)) == 0) ld->in_txn = 0;
    if (ld->in_txn) sqlite3_exec(ld->cat->db, "ROLLBACK", NULL, NULL, NULL);
    if (rc == 0) {
        if (n_loaded) *n_loaded = ld->count;
        gpn_log_info("catalog: loaded %zu %s from %s", ld->count, what, ld->path);
    }
    gpn_csv_close(ld->csv);
    return rc;
}

static const char *const SPECIES_FLAG_COLS[GPN_SPECIES_NFLAGS] = {
    "habitats_directive", "invasive", "tree", "endemic", "specialist", "alien",
};

int gpn_catalog_species_load_csv(struct gpn_catalog *cat, const char *path, size_t *n_loaded,
                                 struct gpn_err *err)
{
    static const char fn[] = "gpn_catalog_species_load_csv";
    if (n_loaded) *n_loaded = 0;
    struct csv_load ld;
    int rc = csv_load_open(&ld, cat, path, ',', err, fn);
    if (rc) return rc;
    struct gpn_csv *csv = ld.csv;
    struct species_cols c;
    if ((rc = gpn_csv_require(csv, "id", &c.id, err))) goto fail;
    if ((rc = gpn_csv_require(csv, "scientific_name", &c.name, err))) goto fail;
    c.genus = gpn_csv_col(csv, "genus");
    c.family = gpn_csv_col(csv, "family");
    c.redlist = gpn_csv_col(csv, "redlist");
    c.it_regions = gpn_csv_col(csv, "it_regions");
    c.geoplant_id = gpn_csv_col(csv, "geoplant_id");
    c.gbif_key = gpn_csv_col(csv, "gbif_key");
    c.sources = gpn_csv_col(csv, "sources");
    for (int i = 0; i < GPN_SPECIES_NFLAGS; i++) c.flag[i] = gpn_csv_col(csv, SPECIES_FLAG_COLS[i]);

    if ((rc = csv_load_begin(&ld, SQL_SPECIES_UPSERT_ID, err, fn))) goto fail;
    while ((rc = gpn_csv_next(csv, err)) == 1) {
        struct gpn_species sp;
        gpn_species_init(&sp);
        int64_t v;
        rc = gpn_parse_i64(gpn_csv_field(csv, c.id), 1, INT64_MAX, &sp.id, "id", err);
        if (rc) {
            csv_where(csv, err);
            goto fail;
        }
        if ((rc = csv_str(csv, c.name, "scientific_name", sp.scientific_name, sizeof sp.scientific_name, err)) ||
            (rc = csv_str(csv, c.genus, "genus", sp.genus, sizeof sp.genus, err)) ||
            (rc = csv_str(csv, c.family, "family", sp.family, sizeof sp.family, err)) ||
            (rc = csv_str(csv, c.redlist, "redlist", sp.redlist, sizeof sp.redlist, err)) ||
            (rc = csv_str(csv, c.sources, "sources", sp.sources, sizeof sp.sources, err)))
            goto fail;
        for (int i = 0; i < GPN_SPECIES_NFLAGS; i++) {
            int f;
            if ((rc = csv_flag(csv, c.flag[i], SPECIES_FLAG_COLS[i], &f, err))) goto fail;
            if (f) sp.flags |= SPECIES_FLAGS[i].bit;
        }
        if ((rc = csv_opt_i64(csv, c.it_regions, "it_regions", 0, 20, &v, err))) goto fail;
        sp.it_regions = (int)v;
        if ((rc = csv_opt_i64(csv, c.geoplant_id, "geoplant_id", 0, INT64_MAX, &sp.geoplant_id, err))) goto fail;
        if ((rc = csv_opt_i64(csv, c.gbif_key, "gbif_key", 0, INT64_MAX, &sp.gbif_key, err))) goto fail;
        if ((rc = species_validate(&sp, fn, err))) {
            csv_where(csv, err);
            goto fail;
        }
        csv_load_next_row(&ld);
        species_bind(ld.st, &sp);
        if ((rc = species_step_upsert(cat, ld.st, &sp, NULL, err, fn))) {
            csv_where(csv, err);
            goto fail;
        }
        ld.count++;
    }
fail:
    return csv_load_end(&ld, rc, "species", n_loaded, err, fn); /* rc: 0 at end of file */
}

/* ==== habitats =========================================================== */

/* Codes whose first two characters are 'M' and a letter (MA2, MA22...) are
 * marine: their level-k code has k+1 characters. */
static int habitat_marine(const char *code)
{
    return code[0] == 'M' && code[1] >= 'A' && code[1] <= 'Z';
}

int gpn_habitat_code_level(const char *code)
{
    if (!code || !code[0] || !(code[0] >= 'A' && code[0] <= 'Z')) return -1;
    size_t len = 0;
    for (const char *p = code; *p; p++, len++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))) return -1;
    if (len >= GPN_HABITAT_CODE_MAX) return -1;
    int level = habitat_marine(code) ? (int)len - 1 : (int)len;
    return level >= 1 && level <= GPN_HABITAT_MAX_LEVEL ? level : -1;
}

int gpn_habitat_code_ancestor(const char *code, int level, char *buf, size_t n, struct gpn_err *err)
{
    int own = gpn_habitat_code_level(code);
    if (own < 0)
        return gpn_err_set(err, GPN_EINVAL, "gpn_habitat_code_ancestor: '%s' is not a EUNIS code (levels 1-%d)",
                           code ? code : "(null)", GPN_HABITAT_MAX_LEVEL);
    if (level < 1 || level > own)
        return gpn_err_set(err, GPN_EINVAL, "gpn_habitat_code_ancestor: %s is level %d, no level-%d ancestor", code,
                           own, level);
    size_t len = (size_t)level + (habitat_marine(code) ? 1 : 0);
    if (len >= n) return gpn_err_set(err, GPN_ETOOBIG, "gpn_habitat_code_ancestor: buffer too small");
    memcpy(buf, code, len);
    buf[len] = 0;
    return 0;
}

/* Row reader of (code, level, parent, name) into a struct gpn_habitat. */
static int habitat_row(sqlite3_stmt *st, void *dst)
{
    struct gpn_habitat *h = dst;
    memset(h, 0, sizeof *h);
    col_text(st, 0, h->code, sizeof h->code);
    h->level = sqlite3_column_int(st, 1);
    col_text(st, 2, h->parent, sizeof h->parent);
    col_text(st, 3, h->name, sizeof h->name);
    return 0;
}

/* Binds and steps the loader's habitat insert for one row. */
static int habitat_insert(struct csv_load *ld, const char *code, int level, const char *parent, const char *name,
                          struct gpn_err *err, const char *fn)
{
    sqlite3_stmt *st = ld->st;
    csv_load_next_row(ld);
    bind_text(st, 1, code);
    sqlite3_bind_int(st, 2, level);
    if (parent && *parent)
        bind_text(st, 3, parent);
    else
        sqlite3_bind_null(st, 3);
    bind_text(st, 4, name);
    return step_done(ld->cat, st, NULL, err, fn);
}

/* Name given to the level-1 row "MA" when a file has MA codes but not MA:
 * in EUNIS 2022 marine, MA is the littoral zone of the benthic habitats. */
#define HABITAT_MA_NAME "Littoral (marine benthic habitats)"

int gpn_catalog_habitats_load_csv(struct gpn_catalog *cat, const char *path, size_t *n_loaded,
                                  struct gpn_err *err)
{
    static const char fn[] = "gpn_catalog_habitats_load_csv";
    if (n_loaded) *n_loaded = 0;
    struct csv_load ld;
    sqlite3_stmt *q;
    int any_ma = 0;
    int rc = csv_load_open(&ld, cat, path, 0, err, fn);
    if (rc) return rc;
    struct gpn_csv *csv = ld.csv;
    int c_code, c_name;
    if ((rc = gpn_csv_require(csv, "code", &c_code, err))) goto fail;
    if ((rc = gpn_csv_require(csv, "name", &c_name, err))) goto fail;
    int c_level = gpn_csv_col(csv, "level"), c_parent = gpn_csv_col(csv, "parent");

    if ((rc = csv_load_begin(&ld, "INSERT OR REPLACE INTO habitats (code, level, parent, name) VALUES (?1, ?2, ?3, ?4)",
                             err, fn)))
        goto fail;
    while ((rc = gpn_csv_next(csv, err)) == 1) {
        char code[GPN_HABITAT_CODE_MAX + 8], parent[GPN_HABITAT_CODE_MAX] = "", name[256];
        gpn_strlcpy(code, gpn_csv_field(csv, c_code), sizeof code);
        gpn_strtrim(code);
        int level = gpn_habitat_code_level(code);
        if (level < 0) {
            rc = gpn_err_set(err, GPN_EFORMAT, "%s:%ld: '%s' is not a EUNIS habitat code of levels 1-%d",
                             gpn_csv_path(csv), gpn_csv_line(csv), gpn_csv_field(csv, c_code),
                             GPN_HABITAT_MAX_LEVEL);
            goto fail;
        }
        if (c_level >= 0 && *gpn_csv_field(csv, c_level)) {
            int given;
            if ((rc = gpn_parse_int(gpn_csv_field(csv, c_level), 1, 9, &given, "level", err))) {
                csv_where(csv, err);
                goto fail;
            }
            if (given != level) {
                rc = gpn_err_set(err, GPN_EFORMAT, "%s:%ld: %s has level %d in the file but its code says %d",
                                 gpn_csv_path(csv), gpn_csv_line(csv), code, given, level);
                goto fail;
            }
        }
        if (level > 1 && (rc = gpn_habitat_code_ancestor(code, level - 1, parent, sizeof parent, err))) goto fail;
        if (c_parent >= 0) {
            char given[GPN_HABITAT_CODE_MAX + 8];
            gpn_strlcpy(given, gpn_csv_field(csv, c_parent), sizeof given);
            gpn_strtrim(given);
            /* An empty parent is accepted (MA2 has none in the source file);
             * a non-empty one must agree with the code. */
            if (*given && strcmp(given, parent)) {
                rc = gpn_err_set(err, GPN_EFORMAT, "%s:%ld: %s has parent '%s' in the file but its code says '%s'",
                                 gpn_csv_path(csv), gpn_csv_line(csv), code, given, parent);
                goto fail;
            }
        }
        if (gpn_strlcpy(name, gpn_csv_field(csv, c_name), sizeof name) >= sizeof name) {
            rc = gpn_err_set(err, GPN_EFORMAT, "%s:%ld: name longer than %zu bytes", gpn_csv_path(csv),
                             gpn_csv_line(csv), sizeof name - 1);
            goto fail;
        }
        gpn_strtrim(name);
        if (!strncmp(code, "MA", 2)) any_ma = 1;
        if ((rc = habitat_insert(&ld, code, level, parent, name, err, fn))) goto fail;
        ld.count++;
    }
    if (rc < 0) goto fail;
    if (any_ma) { /* complete the MA chain when the file stops at MA2 */
        if ((rc = prep_text(cat,
                            "INSERT OR IGNORE INTO habitats (code, level, parent, name) VALUES ('MA', 1, NULL, ?1)",
                            HABITAT_MA_NAME, &q, err, fn)))
            goto fail;
        if ((rc = run_write(cat, q, NULL, err, fn))) goto fail;
    }
    /* Every parent must now exist. */
    if ((rc = prep(cat,
                   "SELECT h.code, h.level, h.parent, h.name FROM habitats h WHERE h.parent IS NOT NULL AND NOT EXISTS "
                   "(SELECT 1 FROM habitats p WHERE p.code = h.parent) ORDER BY h.code LIMIT 1",
                   &q, err, fn)))
        goto fail;
    struct gpn_habitat orphan;
    int found;
    if ((rc = query_first(cat, q, habitat_row, &orphan, &found, err, fn)) == 0 && found)
        rc = gpn_err_set(err, GPN_EFORMAT, "%s: habitat %s: parent %s is missing", path, orphan.code, orphan.parent);
fail:
    return csv_load_end(&ld, rc, "habitats", n_loaded, err, fn);
}

int gpn_catalog_habitat_get(struct gpn_catalog *cat, const char *code, struct gpn_habitat *out,
                            struct gpn_err *err)
{
    static const char fn[] = "gpn_catalog_habitat_get";
    if (!code) return gpn_err_set(err, GPN_EINVAL, "%s: NULL code", fn);
    sqlite3_stmt *st;
    int rc = prep_text(cat, "SELECT code, level, parent, name FROM habitats WHERE code = ?1", code, &st, err, fn);
    return rc ? rc : query_one(cat, st, habitat_row, out, err, fn, "no habitat with code '%.32s'", code);
}

int gpn_catalog_habitats_list(struct gpn_catalog *cat, int level, struct gpn_habitat **out, size_t *n,
                              struct gpn_err *err)
{
    static const char fn[] = "gpn_catalog_habitats_list";
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st;
    int rc = prep_i64(cat, "SELECT code, level, parent, name FROM habitats WHERE ?1 = 0 OR level = ?1 ORDER BY code",
                      level, &st, err, fn);
    if (rc) return rc;
    void *arr = NULL;
    rc = query_list(cat, st, habitat_row, sizeof **out, &arr, n, err, fn);
    *out = arr;
    return rc;
}

int gpn_catalog_habitat_chain(struct gpn_catalog *cat, const char *code,
                              struct gpn_habitat chain[GPN_HABITAT_MAX_LEVEL], int *n, struct gpn_err *err)
{
    *n = 0;
    const char *cur = code;
    for (int i = 0; i < GPN_HABITAT_MAX_LEVEL; i++) {
        int rc = gpn_catalog_habitat_get(cat, cur, &chain[i], err);
        if (rc) return rc;
        *n = i + 1;
        if (!chain[i].parent[0]) return 0;
        cur = chain[i].parent;
    }
    return gpn_err_set(err, GPN_EFORMAT, "gpn_catalog_habitat_chain: %s: chain longer than %d levels", code,
                       GPN_HABITAT_MAX_LEVEL);
}

int gpn_catalog_habitats_count(struct gpn_catalog *cat, int level, int64_t *n, struct gpn_err *err)
{
    static const char fn[] = "gpn_catalog_habitats_count";
    sqlite3_stmt *st;
    int rc = prep_i64(cat, "SELECT count(*) FROM habitats WHERE ?1 = 0 OR level = ?1", level, &st, err, fn);
    return rc ? rc : query_value(cat, st, read_i64, n, err, fn);
}

/* ==== layers ============================================================= */

static const char *const LAYER_GROUPS[GPN_LAYER_NGROUPS] = {
    "species", "indicators", "habitats_l1", "habitats_l2", "habitats_l3", "inputs", "truth", "other",
};

const char *gpn_layer_group_name(enum gpn_layer_group g)
{
    return (int)g >= 0 && g < GPN_LAYER_NGROUPS ? LAYER_GROUPS[g] : NULL;
}

int gpn_layer_group_parse(const char *s, enum gpn_layer_group *g, struct gpn_err *err)
{
    if (s) {
        for (int i = 0; i < GPN_LAYER_NGROUPS; i++)
            if (!strcmp(s, LAYER_GROUPS[i])) {
                *g = (enum gpn_layer_group)i;
                return 0;
            }
        if (!strcmp(s, "l1")) return *g = GPN_LAYER_HABITATS_L1, 0;
        if (!strcmp(s, "l2")) return *g = GPN_LAYER_HABITATS_L2, 0;
        if (!strcmp(s, "l3")) return *g = GPN_LAYER_HABITATS_L3, 0;
    }
    return gpn_err_set(err, GPN_EINVAL,
                       "unknown layer group '%s' (valid: species, indicators, habitats_l1, habitats_l2, habitats_l3, "
                       "inputs, truth, other)", s ? s : "(null)");
}

int gpn_layer_name_valid(const char *name)
{
    if (!name || !*name || strlen(name) >= GPN_LAYER_NAME_MAX) return 0;
    for (const char *p = name; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '-' || *p == '.')) return 0;
    return strcmp(name, ".") && strcmp(name, "..");
}

#define LAYER_COLS                                                                                     \
    "name, title, abstract, layer_group, path, style, dtype, epsg, west, south, east, north, "         \
    "has_nodata, nodata, updated_at, version"

static int layer_group_index(const unsigned char *s)
{
    for (int i = 0; s && i < GPN_LAYER_NGROUPS; i++)
        if (!strcmp((const char *)s, LAYER_GROUPS[i])) return i;
    return GPN_LAYER_OTHER;
}

/* Row reader of LAYER_COLS into a struct gpn_layer. */
static int layer_row(sqlite3_stmt *st, void *dst)
{
    struct gpn_layer *l = dst;
    memset(l, 0, sizeof *l);
    col_text(st, 0, l->name, sizeof l->name);
    col_text(st, 1, l->title, sizeof l->title);
    col_text(st, 2, l->abstract, sizeof l->abstract);
    l->group = (enum gpn_layer_group)layer_group_index(sqlite3_column_text(st, 3));
    col_text(st, 4, l->path, sizeof l->path);
    col_text(st, 5, l->style, sizeof l->style);
    col_text(st, 6, l->dtype, sizeof l->dtype);
    l->epsg = sqlite3_column_int(st, 7);
    for (int i = 0; i < 4; i++) l->bbox[i] = col_real_or_nan(st, 8 + i);
    l->has_nodata = sqlite3_column_int(st, 12);
    l->nodata = l->has_nodata ? col_real_or_nan(st, 13) : 0.0; /* NaN nodata is stored as NULL */
    l->updated_at = sqlite3_column_int64(st, 14);
    l->version = sqlite3_column_int64(st, 15);
    return 0;
}

static int bind_real_or_null(sqlite3_stmt *st, int i, double v)
{
    return isfinite(v) ? sqlite3_bind_double(st, i, v) : sqlite3_bind_null(st, i);
}

int gpn_catalog_layer_add(struct gpn_catalog *cat, const struct gpn_layer *layer, const char *metadata_json,
                          int64_t *version_out, struct gpn_err *err)
{
    static const char fn[] = "gpn_catalog_layer_add";
    if (!memchr(layer->name, 0, sizeof layer->name) || !gpn_layer_name_valid(layer->name))
        return gpn_err_set(err, GPN_EINVAL, "%s: invalid layer name '%.*s' (letters, digits, '_', '-', '.')", fn,
                           GPN_LAYER_NAME_MAX - 1, layer->name);
    if (!gpn_layer_group_name(layer->group))
        return gpn_err_set(err, GPN_EINVAL, "%s: %s: invalid group %d", fn, layer->name, (int)layer->group);
    if (!memchr(layer->title, 0, sizeof layer->title) || !memchr(layer->abstract, 0, sizeof layer->abstract) ||
        !memchr(layer->path, 0, sizeof layer->path) || !memchr(layer->style, 0, sizeof layer->style) ||
        !memchr(layer->dtype, 0, sizeof layer->dtype))
        return gpn_err_set(err, GPN_EINVAL, "%s: %s: unterminated string field", fn, layer->name);
    if (!layer->path[0]) return gpn_err_set(err, GPN_EINVAL, "%s: %s: empty path", fn, layer->name);
    const char *meta = metadata_json ? metadata_json : "{}";
    int rc = check_json(cat, meta, fn, "metadata", err);
    if (rc) return rc;

    sqlite3_stmt *st = NULL;
    int64_t version = 0;
    if ((rc = sp_begin(cat, err, fn))) return rc;
    rc = prep_text(cat,
                   "INSERT INTO layer_versions (name, version) VALUES (?1, 1) "
                   "ON CONFLICT (name) DO UPDATE SET version = version + 1 RETURNING version",
                   layer->name, &st, err, fn);
    if (rc || (rc = step_done(cat, st, &version, err, fn))) goto done;
    sqlite3_finalize(st);
    st = NULL;
    rc = prep(cat,
              "INSERT INTO layers (" LAYER_COLS ", metadata) VALUES "
              "(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17) "
              "ON CONFLICT (name) DO UPDATE SET title = excluded.title, abstract = excluded.abstract, "
              "layer_group = excluded.layer_group, path = excluded.path, style = excluded.style, "
              "dtype = excluded.dtype, epsg = excluded.epsg, west = excluded.west, south = excluded.south, "
              "east = excluded.east, north = excluded.north, has_nodata = excluded.has_nodata, "
              "nodata = excluded.nodata, updated_at = excluded.updated_at, version = excluded.version, "
              "metadata = excluded.metadata",
              &st, err, fn);
    if (rc) goto done;
    bind_text(st, 1, layer->name);
    bind_text(st, 2, layer->title);
    bind_text(st, 3, layer->abstract);
    bind_text(st, 4, LAYER_GROUPS[layer->group]);
    bind_text(st, 5, layer->path);
    bind_text(st, 6, layer->style);
    bind_text(st, 7, layer->dtype);
    sqlite3_bind_int(st, 8, layer->epsg);
    for (int i = 0; i < 4; i++) bind_real_or_null(st, 9 + i, layer->bbox[i]);
    sqlite3_bind_int(st, 13, layer->has_nodata != 0);
    if (layer->has_nodata)
        bind_real_or_null(st, 14, layer->nodata);
    else
        sqlite3_bind_null(st, 14);
    sqlite3_bind_int64(st, 15, (sqlite3_int64)time(NULL));
    sqlite3_bind_int64(st, 16, version);
    bind_text(st, 17, meta);
    rc = step_done(cat, st, NULL, err, fn);
done:
    sqlite3_finalize(st);
    rc = sp_end(cat, rc, err, fn);
    if (rc == 0 && version_out) *version_out = version;
    return rc;
}

int gpn_catalog_layer_get(struct gpn_catalog *cat, const char *name, struct gpn_layer *out, struct gpn_err *err)
{
    static const char fn[] = "gpn_catalog_layer_get";
    if (!name) return gpn_err_set(err, GPN_EINVAL, "%s: NULL name", fn);
    sqlite3_stmt *st;
    int rc = prep_text(cat, "SELECT " LAYER_COLS " FROM layers WHERE name = ?1", name, &st, err, fn);
    return rc ? rc
              : query_one(cat, st, layer_row, out, err, fn, "no layer named '%.*s'", GPN_LAYER_NAME_MAX, name);
}

/* Row reader: a malloc'ed copy of column 0 ("{}" for NULL) into *(char **)dst. */
static int read_strdup(sqlite3_stmt *st, void *dst)
{
    const unsigned char *s = sqlite3_column_text(st, 0);
    char *copy = strdup(s ? (const char *)s : "{}");
    *(char **)dst = copy;
    return copy ? 0 : GPN_ENOMEM;
}

int gpn_catalog_layer_metadata(struct gpn_catalog *cat, const char *name, char **json, struct gpn_err *err)
{
    static const char fn[] = "gpn_catalog_layer_metadata";
    *json = NULL;
    if (!name) return gpn_err_set(err, GPN_EINVAL, "%s: NULL name", fn);
    sqlite3_stmt *st;
    int rc = prep_text(cat, "SELECT metadata FROM layers WHERE name = ?1", name, &st, err, fn);
    return rc ? rc
              : query_one(cat, st, read_strdup, json, err, fn, "no layer named '%.*s'", GPN_LAYER_NAME_MAX, name);
}

int gpn_catalog_layers_list(struct gpn_catalog *cat, int group, struct gpn_layer **out, size_t *n,
                            struct gpn_err *err)
{
    static const char fn[] = "gpn_catalog_layers_list";
    *out = NULL;
    *n = 0;
    if (group >= GPN_LAYER_NGROUPS) return gpn_err_set(err, GPN_EINVAL, "%s: invalid group %d", fn, group);
    sqlite3_stmt *st;
    /* Group order follows enum gpn_layer_group, not the alphabet. */
    int rc = prep(cat,
                  "SELECT " LAYER_COLS " FROM layers WHERE ?1 IS NULL OR layer_group = ?1 ORDER BY "
                  "CASE layer_group WHEN 'species' THEN 0 WHEN 'indicators' THEN 1 WHEN 'habitats_l1' THEN 2 "
                  "WHEN 'habitats_l2' THEN 3 WHEN 'habitats_l3' THEN 4 WHEN 'inputs' THEN 5 WHEN 'truth' THEN 6 "
                  "ELSE 7 END, name",
                  &st, err, fn);
    if (rc) return rc;
    bind_text_or_null(st, 1, group >= 0 ? LAYER_GROUPS[group] : NULL);
    void *arr = NULL;
    rc = query_list(cat, st, layer_row, sizeof **out, &arr, n, err, fn);
    *out = arr;
    return rc;
}

int gpn_catalog_layer_remove(struct gpn_catalog *cat, const char *name, struct gpn_err *err)
{
    static const char fn[] = "gpn_catalog_layer_remove";
    if (!name) return gpn_err_set(err, GPN_EINVAL, "%s: NULL name", fn);
    sqlite3_stmt *st;
    int rc = prep_text(cat, "DELETE FROM layers WHERE name = ?1", name, &st, err, fn);
    if (rc || (rc = run_write(cat, st, NULL, err, fn))) return rc;
    if (sqlite3_changes(cat->db) == 0)
        return gpn_err_set(err, GPN_ENOTFOUND, "%s: no layer named '%.*s'", fn, GPN_LAYER_NAME_MAX, name);
    return 0;
}

/* ==== tiles ============================================================== */

static const char *const TILE_STATES[GPN_TILE_NSTATES] = {"pending", "running", "done", "failed"};

const char *gpn_tile_state_name(enum gpn_tile_state s)
{
    return (int)s >= 0 && s < GPN_TILE_NSTATES ? TILE_STATES[s] : NULL;
}

int gpn_tile_state_parse(const char *s, enum gpn_tile_state *out, struct gpn_err *err)
{
    for (int i = 0; s && i < GPN_TILE_NSTATES; i++)
        if (!strcmp(s, TILE_STATES[i])) {
            *out = (enum gpn_tile_state)i;
            return 0;
        }
    return gpn_err_set(err, GPN_EINVAL, "unknown tile state '%s' (valid: pending, running, done, failed)",
                       s ? s : "(null)");
}

static int tile_state_index(const unsigned char *s)
{
    for (int i = 0; s && i < GPN_TILE_NSTATES; i++)
        if (!strcmp((const char *)s, TILE_STATES[i])) return i;
    return GPN_TILE_FAILED;
}

int gpn_catalog_tile_set(struct gpn_catalog *cat, const char *tile_id, enum gpn_tile_state state,
                         const char *message, struct gpn_err *err)
{
    static const char fn[] = "gpn_catalog_tile_set";
    if (!tile_id || !*tile_id || strlen(tile_id) >= GPN_TILE_ID_MAX)
        return gpn_err_set(err, GPN_EINVAL, "%s: tile id must be 1-%d bytes", fn, GPN_TILE_ID_MAX - 1);
    if (!gpn_tile_state_name(state)) return gpn_err_set(err, GPN_EINVAL, "%s: invalid state %d", fn, (int)state);
    /* Keep at most 255 bytes, cut on a UTF-8 character boundary. */
    char msg[256];
    size_t len = gpn_strlcpy(msg, message ? message : "", sizeof msg);
    if (len >= sizeof msg) {
        size_t k = sizeof msg - 1;
        while (k > 0 && ((unsigned char)msg[k] & 0xC0) == 0x80) k--;
        msg[k] = 0;
    }
    sqlite3_stmt *st;
    int rc = prep(cat,
                  "INSERT INTO tiles (tile_id, state, updated_at, message) VALUES (?1, ?2, ?3, ?4) "
                  "ON CONFLICT (tile_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at, "
                  "message = excluded.message",
                  &st, err, fn);
    if (rc) return rc;
    bind_text(st, 1, tile_id);
    bind_text(st, 2, TILE_STATES[state]);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)time(NULL));
    bind_text(st, 4, msg);
    return run_write(cat, st, NULL, err, fn);
}

/* Row reader of (tile_id, state, updated_at, message) into a struct gpn_tile_status. */
static int tile_row(sqlite3_stmt *st, void *dst)
{
    struct gpn_tile_status *t = dst;
    memset(t, 0, sizeof *t);
    col_text(st, 0, t->tile_id, sizeof t->tile_id);
    t->state = (enum gpn_tile_state)tile_state_index(sqlite3_column_text(st, 1));
    t->updated_at = sqlite3_column_int64(st, 2);
    col_text(st, 3, t->message, sizeof t->message);
    return 0;
}

int gpn_catalog_tile_get(struct gpn_catalog *cat, const char *tile_id, struct gpn_tile_status *out,
                         struct gpn_err *err)
{
    static const char fn[] = "gpn_catalog_tile_get";
    if (!tile_id) return gpn_err_set(err, GPN_EINVAL, "%s: NULL tile id", fn);
    sqlite3_stmt *st;
    int rc = prep_text(cat, "SELECT tile_id, state, updated_at, message FROM tiles WHERE tile_id = ?1", tile_id, &st,
                       err, fn);
    return rc ? rc
              : query_one(cat, st, tile_row, out, err, fn, "no state recorded for tile '%.*s'", GPN_TILE_ID_MAX,
                          tile_id);
}

int gpn_catalog_tiles_list(struct gpn_catalog *cat, int state, struct gpn_tile_status **out, size_t *n,
                           struct gpn_err *err)
{
    static const char fn[] = "gpn_catalog_tiles_list";
    *out = NULL;
    *n = 0;
    if (state >= GPN_TILE_NSTATES) return gpn_err_set(err, GPN_EINVAL, "%s: invalid state %d", fn, state);
    sqlite3_stmt *st;
    int rc = prep(cat,
                  "SELECT tile_id, state, updated_at, message FROM tiles WHERE ?1 IS NULL OR state = ?1 "
                  "ORDER BY tile_id",
                  &st, err, fn);
    if (rc) return rc;
    bind_text_or_null(st, 1, state >= 0 ? TILE_STATES[state] : NULL);
    void *arr = NULL;
    rc = query_list(cat, st, tile_row, sizeof **out, &arr, n, err, fn);
    *out = arr;
    return rc;
}

int gpn_catalog_tiles_count(struct gpn_catalog *cat, int64_t counts[GPN_TILE_NSTATES], struct gpn_err *err)
{
    static const char fn[] = "gpn_catalog_tiles_count";
    for (int i = 0; i < GPN_TILE_NSTATES; i++) counts[i] = 0;
    sqlite3_stmt *st;
    int rc = prep(cat, "SELECT state, count(*) FROM tiles GROUP BY state", &st, err, fn);
    if (rc) return rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        counts[tile_state_index(sqlite3_column_text(st, 0))] += sqlite3_column_int64(st, 1);
    rc = rc == SQLITE_DONE ? 0 : db_fail(cat, err, fn, rc);
    sqlite3_finalize(st);
    return rc;
}

/* ==== model runs ========================================================= */

static const char *const MODEL_KINDS[] = {"sdm", "hdm"};

const char *gpn_model_kind_name(enum gpn_model_kind k)
{
    return k == GPN_MODEL_SDM || k == GPN_MODEL_HDM ? MODEL_KINDS[k] : NULL;
}

int gpn_model_kind_parse(const char *s, enum gpn_model_kind *out, struct gpn_err *err)
{
    if (s && !strcmp(s, "sdm")) return *out = GPN_MODEL_SDM, 0;
    if (s && !strcmp(s, "hdm")) return *out = GPN_MODEL_HDM, 0;
    return gpn_err_set(err, GPN_EINVAL, "unknown model kind '%s' (valid: sdm, hdm)", s ? s : "(null)");
}

#define MODEL_COLS "id, kind, path, config, metrics, created_at"

/* Row reader of MODEL_COLS into a struct gpn_model_run. */
static int model_row(sqlite3_stmt *st, void *dst)
{
    struct gpn_model_run *m = dst;
    memset(m, 0, sizeof *m);
    m->id = sqlite3_column_int64(st, 0);
    const unsigned char *k = sqlite3_column_text(st, 1);
    m->kind = k && !strcmp((const char *)k, "hdm") ? GPN_MODEL_HDM : GPN_MODEL_SDM;
    col_text(st, 2, m->path, sizeof m->path);
    col_text(st, 3, m->config, sizeof m->config);
    col_text(st, 4, m->metrics, sizeof m->metrics);
    m->created_at = sqlite3_column_int64(st, 5);
    return 0;
}

static int model_json_check(struct gpn_catalog *cat, const char *json, const char *fn, const char *what,
                            struct gpn_err *err)
{
    int rc = check_len(json, GPN_MODEL_JSON_MAX, fn, what, err);
    return rc ? rc : check_json(cat, json, fn, what, err);
}

int gpn_catalog_model_run_add(struct gpn_catalog *cat, enum gpn_model_kind kind, const char *path,
                              const char *config_json, const char *metrics_json, int64_t *id_out,
                              struct gpn_err *err)
{
    static const char fn[] = "gpn_catalog_model_run_add";
    if (!gpn_model_kind_name(kind)) return gpn_err_set(err, GPN_EINVAL, "%s: invalid kind %d", fn, (int)kind);
    if (!path || !*path) return gpn_err_set(err, GPN_EINVAL, "%s: empty model path", fn);
    const char *cfg = config_json ? config_json : "{}";
    const char *met = metrics_json ? metrics_json : "{}";
    int rc;
    if ((rc = check_len(path, sizeof ((struct gpn_model_run *)0)->path, fn, "path", err))) return rc;
    if ((rc = model_json_check(cat, cfg, fn, "config", err))) return rc;
    if ((rc = model_json_check(cat, met, fn, "metrics", err))) return rc;
    sqlite3_stmt *st;
    if ((rc = prep(cat,
                   "INSERT INTO model_runs (kind, path, config, metrics, created_at) VALUES (?1, ?2, ?3, ?4, ?5) "
                   "RETURNING id",
                   &st, err, fn)))
        return rc;
    bind_text(st, 1, MODEL_KINDS[kind]);
    bind_text(st, 2, path);
    bind_text(st, 3, cfg);
    bind_text(st, 4, met);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)time(NULL));
    return run_write(cat, st, id_out, err, fn);
}

int gpn_catalog_model_run_set_metrics(struct gpn_catalog *cat, int64_t id, const char *metrics_json,
                                      struct gpn_err *err)
{
    static const char fn[] = "gpn_catalog_model_run_set_metrics";
    const char *met = metrics_json ? metrics_json : "{}";
    int rc = model_json_check(cat, met, fn, "metrics", err);
    if (rc) return rc;
    sqlite3_stmt *st;
    if ((rc = prep_i64(cat, "UPDATE model_runs SET metrics = ?2 WHERE id = ?1", id, &st, err, fn))) return rc;
    bind_text(st, 2, met);
    if ((rc = run_write(cat, st, NULL, err, fn))) return rc;
    if (sqlite3_changes(cat->db) == 0)
        return gpn_err_set(err, GPN_ENOTFOUND, "%s: no model run %lld", fn, (long long)id);
    return 0;
}

int gpn_catalog_model_run_get(struct gpn_catalog *cat, int64_t id, struct gpn_model_run *out,
                              struct gpn_err *err)
{
    static const char fn[] = "gpn_catalog_model_run_get";
    sqlite3_stmt *st;
    int rc = prep_i64(cat, "SELECT " MODEL_COLS " FROM model_runs WHERE id = ?1", id, &st, err, fn);
    return rc ? rc : query_one(cat, st, model_row, out, err, fn, "no model run %lld", (long long)id);
}

int gpn_catalog_model_run_latest(struct gpn_catalog *cat, enum gpn_model_kind kind, struct gpn_model_run *out,
                                 struct gpn_err *err)
{
    static const char fn[] = "gpn_catalog_model_run_latest";
    if (!gpn_model_kind_name(kind)) return gpn_err_set(err, GPN_EINVAL, "%s: invalid kind %d", fn, (int)kind);
    sqlite3_stmt *st;
    int rc = prep_text(cat, "SELECT " MODEL_COLS " FROM model_runs WHERE kind = ?1 ORDER BY id DESC LIMIT 1",
                       MODEL_KINDS[kind], &st, err, fn);
    return rc ? rc : query_one(cat, st, model_row, out, err, fn, "no model run of kind %s", MODEL_KINDS[kind]);
}

int gpn_catalog_model_runs_list(struct gpn_catalog *cat, int kind, struct gpn_model_run **out, size_t *n,
                                struct gpn_err *err)
{
    static const char fn[] = "gpn_catalog_model_runs_list";
    *out = NULL;
    *n = 0;
    if (kind > GPN_MODEL_HDM) return gpn_err_set(err, GPN_EINVAL, "%s: invalid kind %d", fn, kind);
    sqlite3_stmt *st;
    int rc = prep(cat, "SELECT " MODEL_COLS " FROM model_runs WHERE ?1 IS NULL OR kind = ?1 ORDER BY id", &st, err,
                  fn);
    if (rc) return rc;
    bind_text_or_null(st, 1, kind >= 0 ? MODEL_KINDS[kind] : NULL);
    void *arr = NULL;
    rc = query_list(cat, st, model_row, sizeof **out, &arr, n, err, fn);
    *out = arr;
    return rc;
}
