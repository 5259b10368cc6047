/*
 * wms.h - OGC WMS 1.3.0 / 1.1.1 request parsing and exception reports
 * (OGC 06-042 and 01-068r3), independent of layers and rendering.
 *
 * The parser turns the KVP parameters of a request into a checked struct:
 * every number is range-checked, sizes are bounded, and the BBOX is put in
 * x/east-first order: in 1.3.0 the axis order of the CRS applies, so
 * EPSG:4326 (and EPSG:4258) BBOXes are lat/lon and EPSG:3035 is
 * northing/easting, and they are swapped here; in 1.1.1 and for CRS:84 and
 * EPSG:3857 the order is x/y. Layer and style names are not checked against
 * the catalog here (the WMS handler does that).
 *
 * Errors carry the OGC exception code (LayerNotDefined, InvalidCRS, ...,
 * or "" for errors without a standard code) and become ServiceException
 * XML in the format of the request's version.
 */
#ifndef GPN_WMS_H
#define GPN_WMS_H

#include <stdint.h>

#include "gpn/http.h"
#include "gpn/render.h"

#define GPN_WMS_MAX_LAYERS 16
#define GPN_WMS_NAME_MAX 128

enum gpn_wms_request_kind {
    GPN_WMS_GETCAPABILITIES = 1,
    GPN_WMS_GETMAP,
    GPN_WMS_GETFEATUREINFO,
    GPN_WMS_GETLEGENDGRAPHIC,
};

enum gpn_wms_exceptions {
    GPN_WMS_EXC_XML = 0,
    GPN_WMS_EXC_BLANK,
    GPN_WMS_EXC_INIMAGE,
};

enum gpn_wms_info_format {
    GPN_WMS_INFO_TEXT = 1, /* text/plain */
    GPN_WMS_INFO_JSON,     /* application/json */
    GPN_WMS_INFO_HTML,     /* text/html */
    GPN_WMS_INFO_GML,      /* application/vnd.ogc.gml (GML 2 feature collection) */
};

/* A parse error: OGC code ("" when none applies) and message. */
struct gpn_wms_error {
    char code[32];
    char message[512];
    int http_status; /* 400 for client errors, 500 for server errors */
};

struct gpn_wms_request {
    enum gpn_wms_request_kind kind;
    int v130;                      /* 1: VERSION 1.3.0 rules; 0: 1.1.1 */
    char version[8];               /* "1.3.0" or "1.1.1" */
    enum gpn_wms_exceptions exceptions;
    char update_sequence[32];      /* UPDATESEQUENCE, "" when absent */
    /* GetMap / GetFeatureInfo */
    int n_layers;
    char layers[GPN_WMS_MAX_LAYERS][GPN_WMS_NAME_MAX];
    char styles[GPN_WMS_MAX_LAYERS][GPN_WMS_NAME_MAX]; /* "" = default */
    char crs[32];                  /* normalised: "EPSG:3857", "CRS:84", ... */
    int epsg;                      /* 4326 for CRS:84 */
    double bbox[4];                /* minx, miny, maxx, maxy in x/y order */
    int width, height;
    enum gpn_image_format format;
    char format_str[64];
    int transparent;
    uint8_t bgcolor[3];
    /* GetFeatureInfo */
    int n_query_layers;
    char query_layers[GPN_WMS_MAX_LAYERS][GPN_WMS_NAME_MAX];
    int i, j;                      /* pixel (I/J in 1.3.0, X/Y in 1.1.1) */
    enum gpn_wms_info_format info_format;
    int feature_count;
    /* GetLegendGraphic (LAYER, STYLE; WIDTH/HEIGHT optional, 0 = natural) */
    char legend_layer[GPN_WMS_NAME_MAX];
    char legend_style[GPN_WMS_NAME_MAX];
};

/* 1 when the CRS is one the server can serve (EPSG:3857, EPSG:900913,
 * EPSG:4326, CRS:84, EPSG:3035, EPSG:4258) or equals extra_crs (a layer's
 * native CRS, may be NULL); writes the normalised name and EPSG code. */
int gpn_wms_crs_known(const char *crs, const char *extra_crs, char *norm, size_t n, int *epsg);
/* 1 when, in WMS 1.3.0, the CRS's first BBOX axis is latitude/northing. */
int gpn_wms_crs_swapped(const char *norm_crs);

/* Parses req into out. max_size bounds WIDTH/HEIGHT. Returns 0, or -1
 * with e filled (code, message, status 400). out->v130 and version are
 * set as soon as known, so the error can be written in the right format. */
int gpn_wms_parse(const struct gpn_http_req *req, int max_size, struct gpn_wms_request *out,
                  struct gpn_wms_error *e);

/* Writes a ServiceExceptionReport for version v130 into resp (status
 * e->http_status, XML content type of the version). */
void gpn_wms_exception(struct gpn_http_resp *resp, int v130, const struct gpn_wms_error *e);
/* Sets e (printf-style message). Returns -1. */
int gpn_wms_error_set(struct gpn_wms_error *e, int http_status, const char *code, const char *fmt, ...)
    GPN_PRINTF(4, 5);

#endif
