/*
 * wms_parse.c - WMS KVP parsing and ServiceException reports (wms.h).
 *
 * Every parameter comes from the network, so each is parsed strictly
 * (whole-string numbers, finite, in range) and every failure names the
 * parameter and carries the OGC exception code of the version:
 *   MissingParameterValue, InvalidFormat, InvalidCRS (1.3.0) / InvalidSRS
 *   (1.1.1), LayerNotDefined, StyleNotDefined, LayerNotQueryable,
 *   InvalidPoint, OperationNotSupported, CurrentUpdateSequence,
 *   InvalidUpdateSequence; BBOX and size errors have no standard code.
 *
 * Axis order (the classic WMS 1.3.0 trap): in 1.3.0 a BBOX follows the
 * axis order the EPSG database gives the CRS: EPSG:4326/4258 are lat/lon,
 * EPSG:3035 is northing/easting, CRS:84 and EPSG:3857 are x/y. 1.1.1 always
 * uses x/y. The parser swaps so that the rest of the server works in x/y.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gpn/wms.h"

int gpn_wms_error_set(struct gpn_wms_error *e, int http_status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    gpn_strlcpy(e->code, code ? code : "", sizeof e->code);
    e->http_status = http_status;
    return -1;
}

/* ==== CRS =============================================================== */

static const struct {
    const char *name;
    int epsg;
    int swapped; /* 1.3.0: first axis is latitude / northing */
} known_crs[] = {
    {"EPSG:3857", 3857, 0}, {"EPSG:900913", 3857, 0}, {"EPSG:4326", 4326, 1},
    {"CRS:84", 4326, 0},    {"EPSG:3035", 3035, 1},   {"EPSG:4258", 4258, 1},
};

int gpn_wms_crs_known(const char *crs, const char *extra_crs, char *norm, size_t n, int *epsg)
{
    if (!crs) return 0;
    for (size_t i = 0; i < sizeof known_crs / sizeof known_crs[0]; i++)
        if (!strcasecmp(crs, known_crs[i].name)) {
            /* EPSG:900913 is the old name of web mercator. */
            gpn_strlcpy(norm, known_crs[i].epsg == 3857 ? "EPSG:3857" : known_crs[i].name, n);
            for (char *p = norm; *p; p++) *p = (char)toupper((unsigned char)*p);
            if (epsg) *epsg = known_crs[i].epsg;
            return 1;
        }
    if (extra_crs && extra_crs[0] && !strcasecmp(crs, extra_crs)) {
        gpn_strlcpy(norm, extra_crs, n);
        for (char *p = norm; *p; p++) *p = (char)toupper((unsigned char)*p);
        if (epsg) *epsg = !strncasecmp(crs, "EPSG:", 5) ? atoi(crs + 5) : 0;
        return 1;
    }
    return 0;
}

int gpn_wms_crs_swapped(const char *norm_crs)
{
    for (size_t i = 0; i < sizeof known_crs / sizeof known_crs[0]; i++)
        if (!strcasecmp(norm_crs, known_crs[i].name)) return known_crs[i].swapped;
    /* Other EPSG codes: geographic codes in the 4000s are lat/lon in the
     * EPSG database; projected ones served here (UTM and the like) are x/y. */
    if (!strncasecmp(norm_crs, "EPSG:", 5)) {
        int c = atoi(norm_crs + 5);
        if (c >= 4000 && c < 5000) return 1;
    }
    return 0;
}

/* ==== helpers =========================================================== */

static const char *param(const struct gpn_http_req *req, const char *key)
{
    const char *v = gpn_http_req_param(req, key);
    return v;
}

/* Splits a comma list into out (n max); returns the count or -1 when a
 * name is too long or the list too long. Empty items are kept as "". */
static int split_list(const char *s, char out[][GPN_WMS_NAME_MAX], int max)
{
    int n = 0;
    const char *p = s;
    for (;;) {
        size_t len = strcspn(p, ",");
        if (n >= max || len >= GPN_WMS_NAME_MAX) return -1;
        memcpy(out[n], p, len);
        out[n][len] = 0;
        n++;
        if (!p[len]) break;
        p += len + 1;
    }
    return n;
}

static int parse_int_param(const struct gpn_http_req *req, const char *key, int lo, int hi, int *out,
                           struct gpn_wms_error *e, const char *missing_code)
{
    const char *v = param(req, key);
    if (!v || !*v) return gpn_wms_error_set(e, 400, missing_code, "parameter %s is missing", key);
    struct gpn_err err = {0};
    if (gpn_parse_int(v, lo, hi, out, key, &err))
        return gpn_wms_error_set(e, 400, "", "parameter %s: %s", key, err.msg);
    return 0;
}

static int parse_hex_rgb(const char *s, uint8_t rgb[3])
{
    if (!strncasecmp(s, "0x", 2)) s += 2;
    else if (*s == '#') s++;
    if (strlen(s) != 6) return -1;
    for (int i = 0; i < 6; i++)
        if (!isxdigit((unsigned char)s[i])) return -1;
    unsigned long v = strtoul(s, NULL, 16);
    rgb[0] = (uint8_t)(v >> 16);
    rgb[1] = (uint8_t)(v >> 8);
    rgb[2] = (uint8_t)v;
    return 0;
}

/* ==== map parameters ==================================================== */

static int parse_map_params(const struct gpn_http_req *req, int max_size, struct gpn_wms_request *out,
                            struct gpn_wms_error *e, int need_format)
{
    const char *layers = param(req, "LAYERS");
    if (!layers || !*layers) return gpn_wms_error_set(e, 400, "MissingParameterValue", "parameter LAYERS is missing");
    out->n_layers = split_list(layers, out->layers, GPN_WMS_MAX_LAYERS);
    if (out->n_layers < 0)
        return gpn_wms_error_set(e, 400, "", "parameter LAYERS: at most %d layers of %d characters",
                                 GPN_WMS_MAX_LAYERS, GPN_WMS_NAME_MAX - 1);
    for (int i = 0; i < out->n_layers; i++)
        if (!out->layers[i][0]) return gpn_wms_error_set(e, 400, "LayerNotDefined", "LAYERS has an empty name");
    const char *styles = param(req, "STYLES");
    if (styles && *styles) {
        char st[GPN_WMS_MAX_LAYERS][GPN_WMS_NAME_MAX];
        int ns = split_list(styles, st, GPN_WMS_MAX_LAYERS);
        if (ns < 0) return gpn_wms_error_set(e, 400, "StyleNotDefined", "parameter STYLES is too long");
        if (ns != out->n_layers)
            return gpn_wms_error_set(e, 400, "StyleNotDefined", "STYLES lists %d styles for %d layers", ns,
                                     out->n_layers);
        memcpy(out->styles, st, sizeof st[0] * (size_t)ns);
    } else if (out->v130 && !styles && out->kind == GPN_WMS_GETMAP) {
        /* 1.3.0 makes STYLES mandatory (it may be empty); be lenient as
         * most servers are: a missing STYLES means default styles. */
    }

    const char *crs = param(req, out->v130 ? "CRS" : "SRS");
    if (!crs || !*crs) crs = param(req, out->v130 ? "SRS" : "CRS"); /* tolerate the other version's key */
    if (!crs || !*crs)
        return gpn_wms_error_set(e, 400, "MissingParameterValue", "parameter %s is missing", out->v130 ? "CRS" : "SRS");
    if (strlen(crs) >= sizeof out->crs)
        return gpn_wms_error_set(e, 400, out->v130 ? "InvalidCRS" : "InvalidSRS", "unsupported %s", out->v130 ? "CRS" : "SRS");
    /* The CRS is checked against the layers later (a layer's native CRS is
     * allowed too); here only its form and axis order. */
    gpn_strlcpy(out->crs, crs, sizeof out->crs);
    for (char *p = out->crs; *p; p++) *p = (char)toupper((unsigned char)*p);
    if (!strcmp(out->crs, "EPSG:900913")) gpn_strlcpy(out->crs, "EPSG:3857", sizeof out->crs);
    if (!strcmp(out->crs, "CRS:84")) out->epsg = 4326;
    else if (!strncmp(out->crs, "EPSG:", 5)) {
        struct gpn_err err = {0};
        if (gpn_parse_int(out->crs + 5, 1, 999999, &out->epsg, "CRS", &err))
            return gpn_wms_error_set(e, 400, out->v130 ? "InvalidCRS" : "InvalidSRS", "unsupported %s '%s'",
                                     out->v130 ? "CRS" : "SRS", crs);
    } else {
        return gpn_wms_error_set(e, 400, out->v130 ? "InvalidCRS" : "InvalidSRS", "unsupported %s '%s'",
                                 out->v130 ? "CRS" : "SRS", crs);
    }

    const char *bbox = param(req, "BBOX");
    if (!bbox || !*bbox) return gpn_wms_error_set(e, 400, "MissingParameterValue", "parameter BBOX is missing");
    double b[4];
    struct gpn_err err = {0};
    if (strlen(bbox) > 256 || gpn_parse_doubles(bbox, b, 4, "BBOX", &err))
        return gpn_wms_error_set(e, 400, "", "parameter BBOX must be minx,miny,maxx,maxy: %s", err.msg);
    for (int i = 0; i < 4; i++)
        if (!isfinite(b[i]) || fabs(b[i]) > 1e9) return gpn_wms_error_set(e, 400, "", "parameter BBOX: value out of range");
    if (out->v130 && gpn_wms_crs_swapped(out->crs)) {
        double t = b[0];
        b[0] = b[1];
        b[1] = t;
        t = b[2];
        b[2] = b[3];
        b[3] = t;
    }
    if (!(b[2] > b[0]) || !(b[3] > b[1]))
        return gpn_wms_error_set(e, 400, "", "parameter BBOX: minimum must be below maximum on both axes");
    memcpy(out->bbox, b, sizeof b);

    if (parse_int_param(req, "WIDTH", 1, max_size, &out->width, e, "MissingParameterValue")) return -1;
    if (parse_int_param(req, "HEIGHT", 1, max_size, &out->height, e, "MissingParameterValue")) return -1;

    const char *fmt = param(req, "FORMAT");
    if (need_format) {
        if (!fmt || !*fmt) return gpn_wms_error_set(e, 400, "MissingParameterValue", "parameter FORMAT is missing");
        out->format = gpn_image_format_parse(fmt);
        if (!out->format || (out->format == GPN_IMG_WEBP && !gpn_image_webp_available()))
            return gpn_wms_error_set(e, 400, "InvalidFormat", "format '%.40s' is not supported", fmt);
        gpn_strlcpy(out->format_str, fmt, sizeof out->format_str);
    } else {
        out->format = fmt && gpn_image_format_parse(fmt) ? gpn_image_format_parse(fmt) : GPN_IMG_PNG;
    }
    const char *tr = param(req, "TRANSPARENT");
    out->transparent = 0;
    if (tr && *tr) {
        if (!strcasecmp(tr, "TRUE")) out->transparent = 1;
        else if (strcasecmp(tr, "FALSE"))
            return gpn_wms_error_set(e, 400, "", "parameter TRANSPARENT must be TRUE or FALSE");
    }
    out->bgcolor[0] = out->bgcolor[1] = out->bgcolor[2] = 255;
    const char *bg = param(req, "BGCOLOR");
    if (bg && *bg && parse_hex_rgb(bg, out->bgcolor))
        return gpn_wms_error_set(e, 400, "", "parameter BGCOLOR must be 0xRRGGBB");
    return 0;
}

/* ==== the parser ======================================================== */

int gpn_wms_parse(const struct gpn_http_req *req, int max_size, struct gpn_wms_request *out,
                  struct gpn_wms_error *e)
{
    memset(out, 0, sizeof *out);
    memset(e, 0, sizeof *e);
    const char *version = param(req, "VERSION");
    if (!version || !*version) version = param(req, "WMTVER");
    const char *request = param(req, "REQUEST");
    out->v130 = 1;
    if (version && *version) {
        if (!strcmp(version, "1.3.0") || !strcmp(version, "1.3")) out->v130 = 1;
        else if (!strcmp(version, "1.1.1") || !strcmp(version, "1.1.0") || !strcmp(version, "1.0.0") ||
                 !strcmp(version, "1.1"))
            out->v130 = 0;
        else if (request && !strcasecmp(request, "GetCapabilities"))
            /* Version negotiation: a higher version gets the highest we
             * have, a lower one the lowest. */
            out->v130 = strcmp(version, "1.3.0") > 0;
        else
            return gpn_wms_error_set(e, 400, "", "VERSION %.20s is not supported (1.3.0, 1.1.1)", version);
    } else if (param(req, "SRS") && !param(req, "CRS")) {
        out->v130 = 0; /* a client that speaks 1.1.1 without saying so */
    }
    gpn_strlcpy(out->version, out->v130 ? "1.3.0" : "1.1.1", sizeof out->version);
    const char *exc = param(req, "EXCEPTIONS");
    if (exc && *exc) {
        if (strcasestr(exc, "blank")) out->exceptions = GPN_WMS_EXC_BLANK;
        else if (strcasestr(exc, "inimage")) out->exceptions = GPN_WMS_EXC_INIMAGE;
    }
    const char *service = param(req, "SERVICE");
    if (service && *service && strcasecmp(service, "WMS"))
        return gpn_wms_error_set(e, 400, "", "SERVICE must be WMS");
    if (!request || !*request) return gpn_wms_error_set(e, 400, "MissingParameterValue", "parameter REQUEST is missing");
    if (!strcasecmp(request, "GetCapabilities") || !strcasecmp(request, "capabilities"))
        out->kind = GPN_WMS_GETCAPABILITIES;
    else if (!strcasecmp(request, "GetMap") || !strcasecmp(request, "map"))
        out->kind = GPN_WMS_GETMAP;
    else if (!strcasecmp(request, "GetFeatureInfo") || !strcasecmp(request, "feature_info"))
        out->kind = GPN_WMS_GETFEATUREINFO;
    else if (!strcasecmp(request, "GetLegendGraphic"))
        out->kind = GPN_WMS_GETLEGENDGRAPHIC;
    else
        return gpn_wms_error_set(e, 400, "OperationNotSupported", "request '%.40s' is not supported", request);

    switch (out->kind) {
    case GPN_WMS_GETCAPABILITIES: {
        const char *us = param(req, "UPDATESEQUENCE");
        if (us) gpn_strlcpy(out->update_sequence, us, sizeof out->update_sequence);
        const char *fmt = param(req, "FORMAT");
        if (fmt && *fmt && !strstr(fmt, "xml") && !strstr(fmt, "XML"))
            return gpn_wms_error_set(e, 400, "InvalidFormat", "capabilities format '%.40s' is not supported", fmt);
        return 0;
    }
    case GPN_WMS_GETMAP:
        return parse_map_params(req, max_size, out, e, 1);
    case GPN_WMS_GETFEATUREINFO: {
        if (parse_map_params(req, max_size, out, e, 0)) return -1;
        const char *ql = param(req, "QUERY_LAYERS");
        if (!ql || !*ql)
            return gpn_wms_error_set(e, 400, "MissingParameterValue", "parameter QUERY_LAYERS is missing");
        out->n_query_layers = split_list(ql, out->query_layers, GPN_WMS_MAX_LAYERS);
        if (out->n_query_layers < 0) return gpn_wms_error_set(e, 400, "", "parameter QUERY_LAYERS is too long");
        const char *ki = out->v130 ? "I" : "X", *kj = out->v130 ? "J" : "Y";
        if (!param(req, ki) && param(req, out->v130 ? "X" : "I")) {
            ki = out->v130 ? "X" : "I";
            kj = out->v130 ? "Y" : "J";
        }
        const char *si = param(req, ki), *sj = param(req, kj);
        if (!si || !*si || !sj || !*sj)
            return gpn_wms_error_set(e, 400, "MissingParameterValue", "parameters %s and %s are required", ki, kj);
        struct gpn_err err = {0};
        if (gpn_parse_int(si, 0, out->width - 1, &out->i, ki, &err) ||
            gpn_parse_int(sj, 0, out->height - 1, &out->j, kj, &err))
            return gpn_wms_error_set(e, 400, "InvalidPoint", "%s", err.msg);
        const char *inf = param(req, "INFO_FORMAT");
        if (!inf || !*inf || !strcasecmp(inf, "text/plain")) out->info_format = GPN_WMS_INFO_TEXT;
        else if (!strcasecmp(inf, "application/json") || !strcasecmp(inf, "json")) out->info_format = GPN_WMS_INFO_JSON;
        else if (!strcasecmp(inf, "text/html")) out->info_format = GPN_WMS_INFO_HTML;
        else if (!strcasecmp(inf, "application/vnd.ogc.gml") || !strcasecmp(inf, "text/xml"))
            out->info_format = GPN_WMS_INFO_GML;
        else
            return gpn_wms_error_set(e, 400, "InvalidFormat", "INFO_FORMAT '%.40s' is not supported", inf);
        out->feature_count = 1;
        const char *fc = param(req, "FEATURE_COUNT");
        if (fc && *fc && gpn_parse_int(fc, 1, 1000, &out->feature_count, "FEATURE_COUNT", &err))
            return gpn_wms_error_set(e, 400, "", "%s", err.msg);
        return 0;
    }
    case GPN_WMS_GETLEGENDGRAPHIC: {
        const char *layer = param(req, "LAYER");
        if (!layer || !*layer) return gpn_wms_error_set(e, 400, "MissingParameterValue", "parameter LAYER is missing");
        if (strlen(layer) >= GPN_WMS_NAME_MAX) return gpn_wms_error_set(e, 400, "LayerNotDefined", "layer name too long");
        gpn_strlcpy(out->legend_layer, layer, sizeof out->legend_layer);
        const char *style = param(req, "STYLE");
        if (style && strlen(style) >= GPN_WMS_NAME_MAX)
            return gpn_wms_error_set(e, 400, "StyleNotDefined", "style name too long");
        if (style) gpn_strlcpy(out->legend_style, style, sizeof out->legend_style);
        const char *fmt = param(req, "FORMAT");
        out->format = fmt && *fmt ? gpn_image_format_parse(fmt) : GPN_IMG_PNG;
        if (!out->format || (out->format == GPN_IMG_WEBP && !gpn_image_webp_available()))
            return gpn_wms_error_set(e, 400, "InvalidFormat", "format '%.40s' is not supported", fmt);
        const char *w = param(req, "WIDTH"), *h = param(req, "HEIGHT");
        struct gpn_err err = {0};
        if (w && *w && gpn_parse_int(w, 8, 2048, &out->width, "WIDTH", &err))
            return gpn_wms_error_set(e, 400, "", "%s", err.msg);
        if (h && *h && gpn_parse_int(h, 8, 2048, &out->height, "HEIGHT", &err))
            return gpn_wms_error_set(e, 400, "", "%s", err.msg);
        const char *tr = param(req, "TRANSPARENT");
        out->transparent = tr && !strcasecmp(tr, "TRUE");
        out->bgcolor[0] = out->bgcolor[1] = out->bgcolor[2] = 255;
        return 0;
    }
    }
    return gpn_wms_error_set(e, 400, "OperationNotSupported", "unknown request");
}

/* ==== exception reports ================================================= */

void gpn_wms_exception(struct gpn_http_resp *resp, int v130, const struct gpn_wms_error *e)
{
    struct gpn_buf *b = &resp->body;
    gpn_buf_reset(b);
    resp->file_path[0] = 0;
    resp->status = e->http_status ? e->http_status : 400;
    if (v130) {
        gpn_strlcpy(resp->content_type, "text/xml; charset=UTF-8", sizeof resp->content_type);
        gpn_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                        "<ServiceExceptionReport version=\"1.3.0\" xmlns=\"http://www.opengis.net/ogc\" "
                        "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
                        "xsi:schemaLocation=\"http://www.opengis.net/ogc "
                        "http://schemas.opengis.net/wms/1.3.0/exceptions_1_3_0.xsd\">\n");
    } else {
        gpn_strlcpy(resp->content_type, "application/vnd.ogc.se_xml; charset=UTF-8", sizeof resp->content_type);
        gpn_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                        "<!DOCTYPE ServiceExceptionReport SYSTEM "
                        "\"http://schemas.opengis.net/wms/1.1.1/WMS_exception_1_1_1.dtd\">\n"
                        "<ServiceExceptionReport version=\"1.1.1\">\n");
    }
    if (e->code[0]) {
        gpn_buf_puts(b, "<ServiceException code=\"");
        gpn_buf_xml_str(b, e->code);
        gpn_buf_puts(b, "\">");
    } else {
        gpn_buf_puts(b, "<ServiceException>");
    }
    gpn_buf_xml_str(b, e->message);
    gpn_buf_puts(b, "</ServiceException>\n</ServiceExceptionReport>\n");
}
