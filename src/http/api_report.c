/*
 * api_report.c - the /api/report handler of the map server (http.h hooks
 * gpn_api_init, gpn_api_fini, gpn_api_report).
 *
 *   POST /api/report[?format=json|csv|geojson&csv=species|habitats&max_species=N]
 *        body: GeoJSON Polygon/MultiPolygon/Feature/FeatureCollection (EPSG:4326,
 *        or the CRS of a legacy "crs" member)
 *   GET  /api/report?bbox=W,S,E,N[&bbox_crs=EPSG] | ?country=NAME | ?area=NAME
 *        same output parameters
 *
 * Why here and thin: the work is the report engine's (report.h); this file
 * maps HTTP to it. The engine is created once per app (gpn_api_init) and
 * shared by the worker threads (it is thread-safe); limits come from
 * ATLAS/report.json. Every failure of the caller's input (bad or oversized
 * GeoJSON, invalid geometry, too large an area, an area outside the data)
 * is a 400 with {"error":{"code","message"}}; the code is the GPN error
 * name (FORMAT, RANGE, TOOBIG, ...). Only failures of the server itself
 * are 5xx.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpn/http.h"
#include "gpn/log.h"
#include "gpn/report.h"
#include "gpn/util.h"

struct api_state {
    struct gpn_report_engine *engine;
    struct gpn_report_limits limits;
};

int gpn_api_init(struct gpn_http_atlas *atlas, struct gpn_err *err)
{
    struct api_state *st = calloc(1, sizeof *st);
    if (!st) return gpn_err_set(err, GPN_ENOMEM, "gpn_api_init: out of memory");
    int rc = gpn_report_limits_load(atlas->dir, &st->limits, err);
    if (!rc && atlas->cfg && atlas->cfg->max_body > 0 && (size_t)atlas->cfg->max_body < st->limits.max_body)
        st->limits.max_body = (size_t)atlas->cfg->max_body;
    if (!rc) rc = gpn_report_engine_open(atlas->dir, NULL, &st->engine, err);
    if (rc) {
        free(st);
        return gpn_err_prefix(err, "report API");
    }
    atlas->api = st;
    return 0;
}

void gpn_api_fini(struct gpn_http_atlas *atlas)
{
    struct api_state *st = atlas ? atlas->api : NULL;
    if (!st) return;
    gpn_report_engine_close(st->engine);
    free(st);
    atlas->api = NULL;
}

/* A client-side error: 400 whatever the code (oversize included: the
 * issue's contract is "400 with a JSON error" for every bad area). */
static int bad_request(struct gpn_http_resp *resp, const struct gpn_err *e)
{
    return gpn_http_resp_json_error(resp, 400, gpn_errname(e->code), "%s", e->msg);
}

static int input_error(int rc) { return rc == GPN_EFORMAT || rc == GPN_ERANGE || rc == GPN_ETOOBIG ||
                                        rc == GPN_EUNSUPPORTED || rc == GPN_EINVAL || rc == GPN_ENOTFOUND; }

int gpn_api_report(const struct gpn_http_req *req, struct gpn_http_resp *resp, void *atlas_ctx)
{
    struct gpn_http_atlas *atlas = atlas_ctx;
    struct api_state *st = atlas ? atlas->api : NULL;
    if (!st) return gpn_http_resp_json_error(resp, 503, "Unavailable", "the report engine is not initialised");
    if (strcmp(req->path, "/api/report") && strcmp(req->path, "/api/report/"))
        return gpn_http_resp_json_error(resp, 404, "NOTFOUND", "no such report resource: %s", req->path);
    int is_get = !strcmp(req->method, "GET") || !strcmp(req->method, "HEAD");
    int is_post = !strcmp(req->method, "POST");
    if (!strcmp(req->method, "OPTIONS")) {
        resp->status = 204;
        gpn_http_resp_header(resp, "Allow", "GET, HEAD, POST, OPTIONS");
        return 0;
    }
    if (!is_get && !is_post) {
        gpn_http_resp_header(resp, "Allow", "GET, HEAD, POST, OPTIONS");
        return gpn_http_resp_json_error(resp, 405, "MethodNotAllowed", "use POST with a GeoJSON body, or GET");
    }

    /* Output parameters. */
    const char *format = gpn_http_req_param(req, "format");
    const char *csv = gpn_http_req_param(req, "csv");
    const char *maxsp = gpn_http_req_param(req, "max_species");
    if (!format || !*format) format = "json";
    if (!csv || !*csv) csv = "species";
    struct gpn_err e = {0};
    int64_t max_species = 0;
    if (strcmp(format, "json") && strcmp(format, "csv") && strcmp(format, "geojson"))
        return gpn_http_resp_json_error(resp, 400, "INVAL", "format must be json, csv or geojson");
    if (strcmp(csv, "species") && strcmp(csv, "habitats"))
        return gpn_http_resp_json_error(resp, 400, "INVAL", "csv must be species or habitats");
    if (maxsp && gpn_parse_i64(maxsp, 0, INT64_MAX, &max_species, "max_species", &e)) return bad_request(resp, &e);

    /* The area. */
    struct gpn_geom *area = NULL;
    int rc;
    if (is_post) {
        if (req->body_len > st->limits.max_body) {
            gpn_err_set(&e, GPN_ETOOBIG, "area: %zu bytes of GeoJSON, the limit is %zu", req->body_len,
                        st->limits.max_body);
            return bad_request(resp, &e);
        }
        rc = gpn_report_area_from_geojson(req->body, req->body_len, &st->limits, &area, &e);
    } else {
        const char *bbox = gpn_http_req_param(req, "bbox");
        const char *country = gpn_http_req_param(req, "country");
        const char *name = gpn_http_req_param(req, "area");
        int n = !!bbox + !!country + !!name;
        if (n != 1)
            return gpn_http_resp_json_error(resp, 400, "INVAL",
                                            "give exactly one of bbox, country, area (or POST a GeoJSON body)");
        if (bbox) {
            int epsg = 4326;
            const char *crs = gpn_http_req_param(req, "bbox_crs");
            if (crs && gpn_parse_int(crs, 1, 999999, &epsg, "bbox_crs", &e)) return bad_request(resp, &e);
            rc = gpn_report_area_from_bbox(bbox, epsg, &st->limits, &area, &e);
        } else {
            rc = gpn_report_area_named(atlas->dir, country ? country : name, &st->limits, &area, &e);
        }
    }
    if (rc) return input_error(rc) ? bad_request(resp, &e) : gpn_err_set(&resp->err, rc, "%s", e.msg);

    struct gpn_report *r = NULL;
    rc = gpn_report_run(st->engine, area, &st->limits, &r, &e);
    if (rc) {
        gpn_geom_free(area);
        return input_error(rc) ? bad_request(resp, &e) : gpn_err_set(&resp->err, rc, "%s", e.msg);
    }
    struct gpn_buf b = {0};
    const char *ctype = "application/json";
    if (!strcmp(format, "json")) {
        rc = gpn_report_to_json(r, (size_t)max_species, &b);
    } else if (!strcmp(format, "geojson")) {
        ctype = "application/geo+json";
        rc = gpn_report_to_geojson(r, area, &b, &e);
    } else {
        ctype = "text/csv; charset=utf-8";
        rc = !strcmp(csv, "habitats") ? gpn_report_habitats_csv(r, &b) : gpn_report_species_csv(r, &b);
        gpn_http_resp_header(resp, "Content-Disposition",
                             !strcmp(csv, "habitats") ? "attachment; filename=\"report-habitats.csv\""
                                                      : "attachment; filename=\"report-species.csv\"");
    }
    char ms[32];
    snprintf(ms, sizeof ms, "%.1f", r->elapsed_ms);
    gpn_log_debug("report: %lld cells, %zu species, %s ms", (long long)r->cells, r->nspecies, ms);
    gpn_report_free(r);
    gpn_geom_free(area);
    if (rc) {
        gpn_buf_free(&b);
        return gpn_err_set(&resp->err, GPN_ENOMEM, "report: out of memory");
    }
    rc = gpn_http_resp_set(resp, 200, ctype, b.data ? b.data : "", b.len);
    gpn_buf_free(&b);
    if (rc) return gpn_err_set(&resp->err, rc, "report: out of memory");
    gpn_http_resp_header(resp, "Cache-Control", "no-cache");
    gpn_http_resp_header(resp, "X-Report-Ms", ms);
    return 0;
}
