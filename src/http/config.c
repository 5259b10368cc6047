/*
 * config.c - the server configuration: defaults, "key = value" files and
 * flat JSON files (http.h).
 *
 * One table maps each key to its field and kind, so the file keys, the
 * JSON keys and gpn_http_cfg_set() cannot drift apart. Numbers are parsed
 * strictly with ranges; unknown keys are errors naming FILE:LINE (a typo in
 * a config file should not silently fall back to a default).
 */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "gpn/http.h"

enum kind { K_STR, K_INT, K_I64 };

static const struct {
    const char *key;
    enum kind kind;
    size_t off;
    size_t size;         /* K_STR: buffer size */
    long long lo, hi;    /* numbers */
} keys[] = {
    {"atlas", K_STR, offsetof(struct gpn_http_cfg, atlas), GPN_HTTP_PATH_MAX, 0, 0},
    {"bind", K_STR, offsetof(struct gpn_http_cfg, bind), 64, 0, 0},
    {"port", K_INT, offsetof(struct gpn_http_cfg, port), 0, 0, 65535},
    {"threads", K_INT, offsetof(struct gpn_http_cfg, threads), 0, 0, 256},
    {"cache_size", K_I64, offsetof(struct gpn_http_cfg, cache_mb), 0, 0, 1LL << 30},
    {"mem_cache", K_I64, offsetof(struct gpn_http_cfg, mem_cache_mb), 0, 0, 1LL << 20},
    {"cache_dir", K_STR, offsetof(struct gpn_http_cfg, cache_dir), GPN_HTTP_PATH_MAX, 0, 0},
    {"web_root", K_STR, offsetof(struct gpn_http_cfg, web_root), GPN_HTTP_PATH_MAX, 0, 0},
    {"access_log", K_STR, offsetof(struct gpn_http_cfg, access_log), GPN_HTTP_PATH_MAX, 0, 0},
    {"public_url", K_STR, offsetof(struct gpn_http_cfg, public_url), 512, 0, 0},
    {"max_size", K_INT, offsetof(struct gpn_http_cfg, max_size), 0, 64, 16384},
    {"max_body", K_I64, offsetof(struct gpn_http_cfg, max_body), 0, 1024, 1LL << 32},
    {"timeout", K_INT, offsetof(struct gpn_http_cfg, timeout_s), 0, 1, 3600},
    {"max_connections", K_INT, offsetof(struct gpn_http_cfg, max_connections), 0, 1, 100000},
    {"tile_max_age", K_INT, offsetof(struct gpn_http_cfg, tile_max_age), 0, 0, 31536000},
    {"reload", K_INT, offsetof(struct gpn_http_cfg, reload_s), 0, 0, 86400},
};

void gpn_http_cfg_defaults(struct gpn_http_cfg *cfg)
{
    char atlas[GPN_HTTP_PATH_MAX];
    gpn_strlcpy(atlas, cfg->atlas, sizeof atlas);
    memset(cfg, 0, sizeof *cfg);
    gpn_strlcpy(cfg->atlas, atlas, sizeof cfg->atlas);
    gpn_strlcpy(cfg->bind, "127.0.0.1", sizeof cfg->bind);
    cfg->port = 8080;
    cfg->threads = 0;
    cfg->cache_mb = 1024;
    cfg->mem_cache_mb = 64;
    cfg->max_size = 4096;
    cfg->max_body = 8 << 20;
    cfg->timeout_s = 30;
    cfg->max_connections = 1024;
    cfg->tile_max_age = 3600;
    cfg->reload_s = 2;
}

int gpn_http_cfg_set(struct gpn_http_cfg *cfg, const char *key, const char *value, struct gpn_err *err)
{
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (strcmp(keys[i].key, key)) continue;
        char *field = (char *)cfg + keys[i].off;
        if (keys[i].kind == K_STR) {
            if (strlen(value) >= keys[i].size)
                return gpn_err_set(err, GPN_ETOOBIG, "config %s: value longer than %zu bytes", key, keys[i].size - 1);
            gpn_strlcpy(field, value, keys[i].size);
            return 0;
        }
        int64_t v;
        int rc = gpn_parse_i64(value, keys[i].lo, keys[i].hi, &v, key, err);
        if (rc) return rc;
        if (keys[i].kind == K_INT) *(int *)(void *)field = (int)v;
        else *(int64_t *)(void *)field = v;
        return 0;
    }
    return gpn_err_set(err, GPN_EINVAL,
                       "config: unknown key '%s' (atlas, bind, port, threads, cache_size, mem_cache, cache_dir, web_root, "
                       "access_log, public_url, max_size, max_body, timeout, max_connections, tile_max_age, reload)",
                       key);
}

static int load_json(struct gpn_http_cfg *cfg, const char *path, const char *text, struct gpn_err *err)
{
    json_error_t je;
    json_t *root = json_loads(text, 0, &je);
    if (!root) return gpn_err_set(err, GPN_EFORMAT, "%s:%d: %s", path, je.line, je.text);
    int rc = 0;
    if (!json_is_object(root)) {
        rc = gpn_err_set(err, GPN_EFORMAT, "%s: expected a JSON object", path);
    } else {
        const char *k;
        json_t *v;
        json_object_foreach(root, k, v) {
            char buf[64];
            const char *s;
            if (json_is_string(v)) s = json_string_value(v);
            else if (json_is_integer(v)) {
                snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
                s = buf;
            } else {
                rc = gpn_err_set(err, GPN_EFORMAT, "%s: key '%s' must be a string or an integer", path, k);
                break;
            }
            rc = gpn_http_cfg_set(cfg, k, s, err);
            if (rc) {
                gpn_err_prefix(err, "%s", path);
                break;
            }
        }
    }
    json_decref(root);
    return rc;
}

int gpn_http_cfg_load(struct gpn_http_cfg *cfg, const char *path, struct gpn_err *err)
{
    char *text;
    size_t len;
    int rc = gpn_file_read(path, &text, &len, err);
    if (rc) return rc;
    const char *p = text;
    while (*p && isspace((unsigned char)*p)) p++;
    if (*p == '{') {
        rc = load_json(cfg, path, text, err);
        free(text);
        return rc;
    }
    int line = 0;
    char *save = NULL;
    char *s = text;
    for (;;) {
        char *nl = strchr(s, '\n');
        if (nl) *nl = 0;
        line++;
        char *hash = strchr(s, '#');
        if (hash) *hash = 0;
        gpn_strtrim(s);
        if (*s) {
            char *eq = strchr(s, '=');
            if (!eq) {
                rc = gpn_err_set(err, GPN_EFORMAT, "%s:%d: expected key = value", path, line);
                break;
            }
            *eq = 0;
            char *k = gpn_strtrim(s), *v = gpn_strtrim(eq + 1);
            size_t vl = strlen(v);
            if (vl >= 2 && ((v[0] == '"' && v[vl - 1] == '"') || (v[0] == '\'' && v[vl - 1] == '\''))) {
                v[vl - 1] = 0;
                v++;
            }
            rc = gpn_http_cfg_set(cfg, k, v, err);
            if (rc) {
                gpn_err_prefix(err, "%s:%d", path, line);
                break;
            }
        }
        if (!nl) break;
        s = nl + 1;
    }
    (void)save;
    free(text);
    return rc;
}
