/*
 * static.c - file routes: the web application (web/dist at /) and the
 * layers' COGs (/layers/{name}.tif) with HTTP Range support.
 *
 * Path traversal: a request path is mapped onto the web root only after
 * every segment has been checked - no "..", no ".", no empty segment, no
 * hidden name (leading '.'), no backslash or control byte - and the final
 * path's realpath() must still lie under the root's realpath (symbolic
 * links out of the root are refused). An unknown path without an extension
 * gets index.html, so client-side routes of the single-page app work on
 * reload.
 *
 * COGs: the file is found by layer name in the registry, never from the
 * URL, so only published rasters are reachable. Range requests (single:
 * streamed; multiple: multipart/byteranges) let GDAL's /vsicurl/ and QGIS
 * read the COG remotely, block by block.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app.h"

/* 1 when every segment of the URL path is a plain name. */
static int path_is_safe(const char *p)
{
    if (p[0] != '/') return 0;
    if (!strcmp(p, "/")) return 1;
    const char *s = p + 1;
    for (;;) {
        size_t len = strcspn(s, "/");
        if (len == 0) return s[0] == 0 && s != p + 1; /* trailing '/' allowed, "//" not */
        if (s[0] == '.') return 0;                      /* ".", "..", hidden files */
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c < 0x20 || c == 0x7f || c == '\\') return 0;
        }
        s += len;
        if (!*s) return 1;
        s++;
    }
}

static int under_root(const char *root_real, const char *path)
{
    char real[PATH_MAX];
    if (!realpath(path, real)) return 0;
    size_t n = strlen(root_real);
    return !strncmp(real, root_real, n) && (real[n] == '/' || real[n] == 0);
}

int gpn__static_handle(struct gpn_http_app *app, const struct gpn_http_req *req, struct gpn_http_resp *resp)
{
    if (!app->cfg.web_root[0]) return gpn_err_set(&resp->err, GPN_ENOTFOUND, "%s: not found", req->path);
    if (!path_is_safe(req->path)) return gpn_err_set(&resp->err, GPN_ENOTFOUND, "%s: not found", req->path);
    char root[PATH_MAX];
    if (!realpath(app->cfg.web_root, root)) return gpn_err_set(&resp->err, GPN_ENOTFOUND, "%s: not found", req->path);
    char path[GPN_HTTP_PATH_MAX];
    size_t pl = strlen(req->path);
    if ((size_t)snprintf(path, sizeof path, "%s%s%s", root, req->path,
                         req->path[pl - 1] == '/' ? "index.html" : "") >= sizeof path)
        return gpn_err_set(&resp->err, GPN_ENOTFOUND, "%s: not found", req->path);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        if ((size_t)snprintf(path, sizeof path, "%s%s/index.html", root, req->path) >= sizeof path)
            return gpn_err_set(&resp->err, GPN_ENOTFOUND, "%s: not found", req->path);
    }
    if (stat(path, &st) != 0) {
        /* Single-page app routes ("/species", "/habitats/T1") -> index.html. */
        const char *last = strrchr(req->path, '/');
        if (last && strchr(last, '.')) return gpn_err_set(&resp->err, GPN_ENOTFOUND, "%s: not found", req->path);
        if ((size_t)snprintf(path, sizeof path, "%s/index.html", root) >= sizeof path || stat(path, &st) != 0) return gpn_err_set(&resp->err, GPN_ENOTFOUND, "%s: not found", req->path);
    }
    if (!under_root(root, path)) return gpn_err_set(&resp->err, GPN_ENOTFOUND, "%s: not found", req->path);
    struct gpn_err e = {0};
    int rc = gpn_http_resp_file(req, resp, path, NULL, &e);
    if (rc) return gpn_err_set(&resp->err, rc, "%s", e.msg);
    /* Hashed asset names (Vite: assets/index-3f2a1b.js) never change. */
    if (strstr(req->path, "/assets/")) gpn_http_resp_header(resp, "Cache-Control", "public, max-age=31536000, immutable");
    else gpn_http_resp_header(resp, "Cache-Control", "no-cache");
    /* Text assets may be compressed: the file window is read into memory
     * by the router's gzip step when it is small. */
    resp->no_gzip = 0;
    return 0;
}

int gpn__cog_handle(struct gpn_http_app *app, const struct gpn_http_req *req, struct gpn_http_resp *resp)
{
    const char *name = req->path + strlen("/layers/");
    size_t n = strlen(name);
    char layer[GPN_LAYER_NAME_MAX];
    size_t ext = n > 5 && !strcmp(name + n - 5, ".tiff") ? 5 : n > 4 && !strcmp(name + n - 4, ".tif") ? 4 : 0;
    if (!ext || n - ext >= sizeof layer || strchr(name, '/'))
        return gpn_err_set(&resp->err, GPN_ENOTFOUND, "layer files are /layers/{name}.tif");
    memcpy(layer, name, n - ext);
    layer[n - ext] = 0;
    struct gpn__layers *ls = gpn__app_layers(app);
    if (!ls) return gpn_err_set(&resp->err, GPN_EINTERNAL, "no layers");
    const struct gpn__layer *l = gpn__layers_find(ls, layer);
    int rc;
    if (!l) {
        rc = gpn_err_set(&resp->err, GPN_ENOTFOUND, "layer '%s' does not exist", layer);
    } else {
        struct gpn_err e = {0};
        rc = gpn_http_resp_file(req, resp, l->path, "image/tiff; application=geotiff; profile=cloud-optimized", &e);
        if (rc) rc = gpn_err_set(&resp->err, rc, "layer %s: %s", layer, e.msg);
    }
    gpn__layers_release(ls);
    return rc;
}
