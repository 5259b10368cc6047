/*
 * fuzz_wms_params.c - libFuzzer target for the bytes the map server parses
 * from the network: the request target (path, query, percent-escapes), the
 * WMS KVP parameters of every request kind, ServiceException rendering, the
 * If-None-Match header matcher and the server configuration keys.
 *
 * Input layout: the whole input is the request target (a leading '/' is
 * added when missing). The same bytes are also used as an If-None-Match
 * header value and as a config value. Build and replay with
 * tests/fuzz/run.sh (clang -fsanitize=fuzzer,address,undefined).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gpn/http.h"
#include "gpn/wms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 20000) return 0;
    char *t = malloc(size + 2);
    if (!t) return 0;
    size_t o = 0;
    if (size == 0 || data[0] != '/') t[o++] = '/';
    for (size_t i = 0; i < size; i++) t[o++] = data[i] ? (char)data[i] : ' ';
    t[o] = 0;

    struct gpn_http_req req;
    struct gpn_err err = {0};
    int rc = gpn_http_req_init(&req, "GET", t, &err);
    if (rc == 0) {
        gpn_http_req_add_header(&req, "If-None-Match", t);
        (void)gpn_http_etag_matches(&req, "\"0123456789abcdef\"");
        struct gpn_wms_request *w = malloc(sizeof *w);
        struct gpn_wms_error e;
        if (w) {
            if (gpn_wms_parse(&req, 4096, w, &e) != 0) {
                struct gpn_http_resp resp;
                gpn_http_resp_init(&resp);
                gpn_wms_exception(&resp, w->v130, &e);
                gpn_http_resp_free(&resp);
            } else if (w->kind == GPN_WMS_GETMAP || w->kind == GPN_WMS_GETFEATUREINFO) {
                /* Invariants the renderer relies on. */
                if (!(w->width >= 1 && w->width <= 4096 && w->height >= 1 && w->height <= 4096)) abort();
                if (!(w->bbox[2] > w->bbox[0] && w->bbox[3] > w->bbox[1])) abort();
                if (w->n_layers < 1 || w->n_layers > GPN_WMS_MAX_LAYERS) abort();
                if (w->kind == GPN_WMS_GETFEATUREINFO && (w->i < 0 || w->i >= w->width || w->j < 0 || w->j >= w->height))
                    abort();
            }
            free(w);
        }
    }
    gpn_http_req_free(&req);

    struct gpn_http_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    gpn_http_cfg_defaults(&cfg);
    (void)gpn_http_cfg_set(&cfg, "port", t + 1, &err);
    (void)gpn_http_cfg_set(&cfg, "public_url", t + 1, &err);
    free(t);
    return 0;
}
