/*
 * cache.c - the disk tile cache (app.h): MapProxy's role, in-process.
 *
 * Layout: CACHE/<layer>/v<version>/<style>/<z>/<x>/<y>.<ext>, one file per
 * tile. The layer version (bumped by the catalog on every re-publication)
 * is part of the path, so a rebuilt layer never serves old tiles: new
 * requests go to the new folder at once, and the janitor deletes the
 * folders of older versions and of removed layers.
 *
 * Writes: temp file in the same folder, then rename, so a reader never
 * sees half a tile; no fsync (a cache may lose entries in a crash, but never
 * holds a torn one because rename is atomic).
 *
 * Bound: the cache tracks the bytes it wrote since the last scan; when the
 * estimate passes the bound the caller kicks the janitor, which scans the
 * tree (sizes, mtimes), deletes the oldest tiles until the total is under
 * 90% of the bound, and resets the estimate. A hit refreshes the tile's
 * mtime at most every 10 minutes, so eviction is least-recently-used at
 * that granularity without a write per request.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "gpn/util.h"
#include "gpn/log.h"

#define TOUCH_AFTER_S 600

struct gpn__cache {
    char dir[GPN_HTTP_PATH_MAX];
    int64_t max_bytes;
    _Atomic int64_t bytes;  /* total at the last scan + bytes written since */
    _Atomic unsigned tmp_seq;
    pthread_mutex_t maint_mu;
};

int gpn__cache_open(const char *dir, int64_t max_bytes, struct gpn__cache **out, struct gpn_err *err)
{
    *out = NULL;
    struct gpn__cache *c = calloc(1, sizeof *c);
    if (!c) return gpn_err_set(err, GPN_ENOMEM, "gpn__cache_open: out of memory");
    if (gpn_strlcpy(c->dir, dir, sizeof c->dir) >= sizeof c->dir - 256) {
        free(c);
        return gpn_err_set(err, GPN_ETOOBIG, "gpn__cache_open: cache path too long");
    }
    c->max_bytes = max_bytes;
    atomic_init(&c->bytes, 0);
    atomic_init(&c->tmp_seq, 0);
    pthread_mutex_init(&c->maint_mu, NULL);
    if (max_bytes > 0) {
        int rc = gpn_mkdir_p(dir, err);
        if (rc) {
            pthread_mutex_destroy(&c->maint_mu);
            free(c);
            return rc;
        }
    }
    *out = c;
    return 0;
}

void gpn__cache_close(struct gpn__cache *c)
{
    if (!c) return;
    pthread_mutex_destroy(&c->maint_mu);
    free(c);
}

int64_t gpn__cache_bytes(struct gpn__cache *c)
{
    return c ? atomic_load(&c->bytes) : 0;
}

void gpn__cache_key(char *buf, size_t n, const char *layer, int64_t version, const char *style, int z, int x, int y,
                    const char *ext)
{
    snprintf(buf, n, "%s/v%lld/%s/%d/%d/%d.%s", layer, (long long)version, style, z, x, y, ext);
}

int gpn__cache_get(struct gpn__cache *c, const char *key, char *path, size_t n)
{
    if (!c || c->max_bytes <= 0) return 0;
    if ((size_t)snprintf(path, n, "%s/%s", c->dir, key) >= n) return 0;
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    time_t now = time(NULL);
    if (now - st.st_mtime > TOUCH_AFTER_S) utimensat(AT_FDCWD, path, NULL, 0);
    return 1;
}

/* mkdir -p of the folder part of path. */
static int mkdir_parent(char *path)
{
    char *slash = strrchr(path, '/');
    if (!slash) return 0;
    *slash = 0;
    int rc = gpn_mkdir_p(path, NULL);
    *slash = '/';
    return rc;
}

int gpn__cache_put(struct gpn__cache *c, const char *key, const void *data, size_t len)
{
    if (!c || c->max_bytes <= 0) return 0;
    char path[GPN_HTTP_PATH_MAX], tmp[GPN_HTTP_PATH_MAX + 64];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", c->dir, key) >= sizeof path) return 0;
    snprintf(tmp, sizeof tmp, "%s.tmp-%d-%u", path, (int)getpid(), atomic_fetch_add(&c->tmp_seq, 1));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno == ENOENT) {
        if (mkdir_parent(tmp) == 0) fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    }
    if (fd < 0) {
        gpn_log_warn("cache: cannot write %s: %s", tmp, strerror(errno));
        return 0;
    }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    int ok = left == 0;
    if (close(fd) != 0) ok = 0;
    if (!ok || rename(tmp, path) != 0) {
        gpn_log_warn("cache: cannot store %s: %s", path, strerror(errno));
        unlink(tmp);
        return 0;
    }
    return atomic_fetch_add(&c->bytes, (int64_t)len) + (int64_t)len > c->max_bytes;
}

/* ==== maintenance ======================================================= */

struct entry {
    time_t mtime;
    int64_t size;
    char *path;
};

struct walk {
    struct entry *v;
    size_t n, cap;
    int64_t total;
    int collect;
    int oom;
};

static void walk_dir(struct walk *w, const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    char path[GPN_HTTP_PATH_MAX];
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= sizeof path) continue;
        struct stat st;
        if (lstat(path, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth < 8) walk_dir(w, path, depth + 1);
            continue;
        }
        if (!S_ISREG(st.st_mode)) continue;
        /* Leftover temp files of a crashed writer: remove when old. */
        if (strstr(de->d_name, ".tmp-") && time(NULL) - st.st_mtime > 60) {
            unlink(path);
            continue;
        }
        w->total += (int64_t)st.st_size;
        if (!w->collect || w->oom) continue;
        if (w->n == w->cap) {
            size_t nc = w->cap ? w->cap * 2 : 4096;
            struct entry *nv = realloc(w->v, nc * sizeof *nv);
            if (!nv) {
                w->oom = 1;
                continue;
            }
            w->v = nv;
            w->cap = nc;
        }
        char *p = strdup(path);
        if (!p) {
            w->oom = 1;
            continue;
        }
        w->v[w->n].mtime = st.st_mtime;
        w->v[w->n].size = (int64_t)st.st_size;
        w->v[w->n].path = p;
        w->n++;
    }
    closedir(d);
}

static int entry_cmp(const void *a, const void *b)
{
    time_t x = ((const struct entry *)a)->mtime, y = ((const struct entry *)b)->mtime;
    return (x > y) - (x < y);
}

/* Deletes CACHE/<layer>/v<N> folders older than the layer's version, and
 * the folders of layers that no longer exist. */
static void remove_stale(struct gpn__cache *c, const struct gpn__layers *ls)
{
    DIR *d = opendir(c->dir);
    if (!d) return;
    struct dirent *de;
    char path[GPN_HTTP_PATH_MAX];
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", c->dir, de->d_name) >= sizeof path) continue;
        const struct gpn__layer *l = gpn__layers_find(ls, de->d_name);
        if (!l) {
            gpn_log_info("cache: removing tiles of the removed layer %s", de->d_name);
            gpn_rm_rf(path, NULL);
            continue;
        }
        DIR *dv = opendir(path);
        if (!dv) continue;
        struct dirent *ve;
        while ((ve = readdir(dv))) {
            if (ve->d_name[0] != 'v') continue;
            char *end;
            long long v = strtoll(ve->d_name + 1, &end, 10);
            if (*end || v >= l->meta.version) continue;
            char vpath[GPN_HTTP_PATH_MAX];
            if ((size_t)snprintf(vpath, sizeof vpath, "%s/%s", path, ve->d_name) >= sizeof vpath) continue;
            gpn_log_info("cache: removing tiles of %s version %lld (now %lld)", l->meta.name, v,
                         (long long)l->meta.version);
            gpn_rm_rf(vpath, NULL);
        }
        closedir(dv);
    }
    closedir(d);
}

void gpn__cache_maintain(struct gpn__cache *c, const struct gpn__layers *ls)
{
    if (!c || c->max_bytes <= 0) return;
    pthread_mutex_lock(&c->maint_mu);
    if (ls) remove_stale(c, ls);
    struct walk w = {0};
    walk_dir(&w, c->dir, 0);
    if (w.total > c->max_bytes) {
        /* Second pass collecting entries, oldest first. */
        w.collect = 1;
        w.total = 0;
        walk_dir(&w, c->dir, 0);
        gpn_qsort(w.v, w.n, sizeof *w.v, entry_cmp);
        int64_t target = c->max_bytes / 10 * 9;
        size_t removed = 0;
        for (size_t i = 0; i < w.n && w.total > target; i++) {
            if (unlink(w.v[i].path) == 0) {
                w.total -= w.v[i].size;
                removed++;
            }
        }
        gpn_log_info("cache: evicted %zu tiles, %lld bytes left (bound %lld)", removed, (long long)w.total,
                     (long long)c->max_bytes);
        for (size_t i = 0; i < w.n; i++) free(w.v[i].path);
        free(w.v);
    }
    atomic_store(&c->bytes, w.total);
    pthread_mutex_unlock(&c->maint_mu);
}
