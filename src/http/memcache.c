/*
 * memcache.c - the in-memory layer of the tile cache (app.h).
 *
 * Why: a tile served from the disk cache costs a stat, an open, a sendfile
 * and a close; on a virtual machine those system calls dominate (measured:
 * ~90 us of CPU per 28 KB tile). Hot tiles are kept in memory instead, and
 * a hit costs one hash look-up and one copy.
 *
 * Layout: 16 shards, each a chained hash table (power-of-two buckets,
 * grown at load 1) plus a doubly linked LRU list, under its own mutex, so
 * worker threads rarely contend. Each shard holds at most max_bytes / 16;
 * a put evicts from the shard's LRU tail. Keys include the layer version,
 * so a re-published layer never hits old entries (they age out).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

#define SHARDS 16

struct mc_entry {
    struct mc_entry *next_hash;
    struct mc_entry *prev, *next; /* LRU: head = most recent */
    uint64_t hash;
    size_t len;
    char *key;
    unsigned char *data;
};

struct mc_shard {
    pthread_mutex_t mu;
    struct mc_entry **buckets;
    size_t nbuckets, n;
    int64_t bytes;
    struct mc_entry *head, *tail;
};

struct gpn__memcache {
    int64_t max_bytes;
    struct mc_shard shard[SHARDS];
};

static uint64_t hash_key(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

int gpn__memcache_create(int64_t max_bytes, struct gpn__memcache **out, struct gpn_err *err)
{
    *out = NULL;
    struct gpn__memcache *m = calloc(1, sizeof *m);
    if (!m) return gpn_err_set(err, GPN_ENOMEM, "gpn__memcache_create: out of memory");
    m->max_bytes = max_bytes;
    for (int i = 0; i < SHARDS; i++) pthread_mutex_init(&m->shard[i].mu, NULL);
    *out = m;
    return 0;
}

static void entry_free(struct mc_entry *e)
{
    free(e->key);
    free(e->data);
    free(e);
}

void gpn__memcache_destroy(struct gpn__memcache *m)
{
    if (!m) return;
    for (int i = 0; i < SHARDS; i++) {
        struct mc_shard *s = &m->shard[i];
        struct mc_entry *e = s->head;
        while (e) {
            struct mc_entry *n = e->next;
            entry_free(e);
            e = n;
        }
        free(s->buckets);
        pthread_mutex_destroy(&s->mu);
    }
    free(m);
}

static void lru_unlink(struct mc_shard *s, struct mc_entry *e)
{
    if (e->prev) e->prev->next = e->next;
    else s->head = e->next;
    if (e->next) e->next->prev = e->prev;
    else s->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push_front(struct mc_shard *s, struct mc_entry *e)
{
    e->prev = NULL;
    e->next = s->head;
    if (s->head) s->head->prev = e;
    s->head = e;
    if (!s->tail) s->tail = e;
}

static struct mc_entry **find_slot(struct mc_shard *s, const char *key, uint64_t h)
{
    if (!s->nbuckets) return NULL;
    struct mc_entry **p = &s->buckets[h & (s->nbuckets - 1)];
    while (*p && ((*p)->hash != h || strcmp((*p)->key, key))) p = &(*p)->next_hash;
    return p;
}

int gpn__memcache_get(struct gpn__memcache *m, const char *key, struct gpn_buf *out)
{
    if (!m || m->max_bytes <= 0) return 0;
    uint64_t h = hash_key(key);
    struct mc_shard *s = &m->shard[h % SHARDS];
    int hit = 0;
    pthread_mutex_lock(&s->mu);
    struct mc_entry **p = find_slot(s, key, h);
    if (p && *p) {
        struct mc_entry *e = *p;
        lru_unlink(s, e);
        lru_push_front(s, e);
        hit = gpn_buf_append(out, e->data, e->len) == 0;
    }
    pthread_mutex_unlock(&s->mu);
    return hit;
}

static void remove_entry(struct mc_shard *s, struct mc_entry *e)
{
    struct mc_entry **p = find_slot(s, e->key, e->hash);
    if (p && *p == e) *p = e->next_hash;
    lru_unlink(s, e);
    s->bytes -= (int64_t)(e->len + strlen(e->key) + sizeof *e);
    s->n--;
    entry_free(e);
}

static void grow(struct mc_shard *s)
{
    size_t nb = s->nbuckets ? s->nbuckets * 2 : 256;
    struct mc_entry **b = calloc(nb, sizeof *b);
    if (!b) return;
    for (size_t i = 0; i < s->nbuckets; i++) {
        struct mc_entry *e = s->buckets[i];
        while (e) {
            struct mc_entry *n = e->next_hash;
            e->next_hash = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
            e = n;
        }
    }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = nb;
}

void gpn__memcache_put(struct gpn__memcache *m, const char *key, const void *data, size_t len)
{
    if (!m || m->max_bytes <= 0) return;
    int64_t cap = m->max_bytes / SHARDS;
    size_t klen = strlen(key);
    int64_t cost = (int64_t)(len + klen + sizeof(struct mc_entry));
    if (cost > cap / 4) return; /* one entry never takes a large part of a shard */
    struct mc_entry *e = calloc(1, sizeof *e);
    if (!e) return;
    e->key = malloc(klen + 1);
    e->data = malloc(len ? len : 1);
    if (!e->key || !e->data) {
        entry_free(e);
        return;
    }
    memcpy(e->key, key, klen + 1);
    memcpy(e->data, data, len);
    e->len = len;
    e->hash = hash_key(key);
    struct mc_shard *s = &m->shard[e->hash % SHARDS];
    pthread_mutex_lock(&s->mu);
    struct mc_entry **p = find_slot(s, key, e->hash);
    if (p && *p) remove_entry(s, *p); /* replace */
    if (s->n + 1 > s->nbuckets) grow(s);
    if (!s->nbuckets) {
        pthread_mutex_unlock(&s->mu);
        entry_free(e);
        return;
    }
    size_t bi = e->hash & (s->nbuckets - 1);
    e->next_hash = s->buckets[bi];
    s->buckets[bi] = e;
    lru_push_front(s, e);
    s->n++;
    s->bytes += cost;
    while (s->bytes > cap && s->tail && s->tail != e) remove_entry(s, s->tail);
    pthread_mutex_unlock(&s->mu);
}

int64_t gpn__memcache_bytes(struct gpn__memcache *m)
{
    if (!m) return 0;
    int64_t b = 0;
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_lock(&m->shard[i].mu);
        b += m->shard[i].bytes;
        pthread_mutex_unlock(&m->shard[i].mu);
    }
    return b;
}
