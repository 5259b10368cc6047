/*
 * wmts.c - OGC WMTS 1.0.0 (07-057r7): capabilities and GetTile, in KVP
 * (/wmts?SERVICE=WMTS&REQUEST=...) and RESTful form
 * (/wmts/1.0.0/WMTSCapabilities.xml,
 *  /wmts/1.0.0/{layer}/{style}/{TileMatrixSet}/{TileMatrix}/{TileRow}/{TileCol}.{ext}).
 *
 * One tile matrix set is offered: GoogleMapsCompatible (EPSG:3857, 256 px
 * tiles, zooms 0-22), the well-known scale set of the WMTS annex, i.e. the
 * XYZ grid, so WMTS GetTile and /tiles/ share the renderer and the cache
 * (TileRow = y, TileCol = x). Errors are OWS 1.1 ExceptionReports with
 * codes MissingParameterValue, InvalidParameterValue, TileOutOfRange,
 * OperationNotSupported.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app.h"

#define TMS "GoogleMapsCompatible"
#define WMTS_MAXZ 22

static int ows_exception(struct gpn_http_resp *resp, int status, const char *code, const char *locator,
                         const char *fmt, ...) GPN_PRINTF(5, 6);

static int ows_exception(struct gpn_http_resp *resp, int status, const char *code, const char *locator,
                         const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct gpn_buf *b = &resp->body;
    gpn_buf_reset(b);
    resp->file_path[0] = 0;
    resp->status = status;
    gpn_strlcpy(resp->content_type, "application/xml; charset=UTF-8", sizeof resp->content_type);
    gpn_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                    "<ExceptionReport xmlns=\"http://www.opengis.net/ows/1.1\" "
                    "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" version=\"1.1.0\" xml:lang=\"en\" "
                    "xsi:schemaLocation=\"http://www.opengis.net/ows/1.1 "
                    "http://schemas.opengis.net/ows/1.1.0/owsExceptionReport.xsd\">\n  <Exception exceptionCode=\"");
    gpn_buf_xml_str(b, code);
    gpn_buf_puts(b, "\"");
    if (locator && *locator) {
        gpn_buf_puts(b, " locator=\"");
        gpn_buf_xml_str(b, locator);
        gpn_buf_puts(b, "\"");
    }
    gpn_buf_puts(b, ">\n    <ExceptionText>");
    gpn_buf_xml_str(b, msg);
    gpn_buf_puts(b, "</ExceptionText>\n  </Exception>\n</ExceptionReport>\n");
    return 0;
}

/* ==== capabilities ====================================================== */

static void caps_layer(struct gpn_buf *b, const struct gpn__layer *l, const char *base)
{
    gpn_buf_puts(b, "    <Layer>\n      <ows:Title>");
    gpn_buf_xml_str(b, l->meta.title[0] ? l->meta.title : l->meta.name);
    gpn_buf_puts(b, "</ows:Title>\n");
    if (l->meta.abstract[0]) {
        gpn_buf_puts(b, "      <ows:Abstract>");
        gpn_buf_xml_str(b, l->meta.abstract);
        gpn_buf_puts(b, "</ows:Abstract>\n");
    }
    gpn_buf_printf(b,
                   "      <ows:WGS84BoundingBox>\n        <ows:LowerCorner>%.6f %.6f</ows:LowerCorner>\n"
                   "        <ows:UpperCorner>%.6f %.6f</ows:UpperCorner>\n      </ows:WGS84BoundingBox>\n"
                   "      <ows:Identifier>",
                   l->bbox_ll[0], fmax(-85.0511, l->bbox_ll[1]), l->bbox_ll[2], fmin(85.0511, l->bbox_ll[3]));
    gpn_buf_xml_str(b, l->meta.name);
    gpn_buf_puts(b, "</ows:Identifier>\n");
    for (int s = 0; s < l->n_styles; s++) {
        gpn_buf_printf(b, "      <Style%s>\n        <ows:Title>", s == 0 ? " isDefault=\"true\"" : "");
        gpn_buf_xml_str(b, l->styles[s].title);
        gpn_buf_puts(b, "</ows:Title>\n        <ows:Identifier>");
        gpn_buf_xml_str(b, l->styles[s].name);
        gpn_buf_puts(b, "</ows:Identifier>\n        <LegendURL format=\"image/png\" xlink:href=\"");
        gpn_buf_xml_str(b, base);
        gpn_buf_puts(b, "/wms?SERVICE=WMS&amp;VERSION=1.3.0&amp;REQUEST=GetLegendGraphic&amp;FORMAT=image/png&amp;LAYER=");
        gpn_buf_xml_str(b, l->meta.name);
        gpn_buf_puts(b, "&amp;STYLE=");
        gpn_buf_xml_str(b, l->styles[s].name);
        gpn_buf_puts(b, "\"/>\n      </Style>\n");
    }
    gpn_buf_puts(b, "      <Format>image/png</Format>\n");
    if (gpn_image_webp_available()) gpn_buf_puts(b, "      <Format>image/webp</Format>\n");
    gpn_buf_puts(b, "      <Format>image/jpeg</Format>\n      <InfoFormat>application/json</InfoFormat>\n"
                    "      <TileMatrixSetLink>\n        <TileMatrixSet>" TMS "</TileMatrixSet>\n"
                    "      </TileMatrixSetLink>\n");
    const char *exts[3] = {"png", "jpg", "webp"};
    const char *mimes[3] = {"image/png", "image/jpeg", "image/webp"};
    for (int k = 0; k < 3; k++) {
        if (k == 2 && !gpn_image_webp_available()) break;
        gpn_buf_printf(b, "      <ResourceURL format=\"%s\" resourceType=\"tile\" template=\"", mimes[k]);
        gpn_buf_xml_str(b, base);
        gpn_buf_puts(b, "/wmts/1.0.0/");
        gpn_buf_xml_str(b, l->meta.name);
        gpn_buf_printf(b, "/{Style}/{TileMatrixSet}/{TileMatrix}/{TileRow}/{TileCol}.%s\"/>\n", exts[k]);
    }
    gpn_buf_puts(b, "    </Layer>\n");
}

static int capabilities(struct gpn_http_app *app, const struct gpn_http_req *req, struct gpn_http_resp *resp)
{
    struct gpn__layers *ls = gpn__app_layers(app);
    if (!ls) return gpn_err_set(&resp->err, GPN_EINTERNAL, "no layers");
    char base[600];
    gpn__base_url(app, req, base, sizeof base);
    struct gpn_buf *b = &resp->body;
    gpn_buf_reset(b);
    gpn_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                    "<Capabilities xmlns=\"http://www.opengis.net/wmts/1.0\" "
                    "xmlns:ows=\"http://www.opengis.net/ows/1.1\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" "
                    "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
                    "xmlns:gml=\"http://www.opengis.net/gml\" "
                    "xsi:schemaLocation=\"http://www.opengis.net/wmts/1.0 "
                    "http://schemas.opengis.net/wmts/1.0/wmtsGetCapabilities_response.xsd\" version=\"1.0.0\">\n"
                    "  <ows:ServiceIdentification>\n    <ows:Title>geoplantnet map tiles</ows:Title>\n"
                    "    <ows:ServiceType>OGC WMTS</ows:ServiceType>\n"
                    "    <ows:ServiceTypeVersion>1.0.0</ows:ServiceTypeVersion>\n"
                    "    <ows:Fees>none</ows:Fees>\n    <ows:AccessConstraints>none</ows:AccessConstraints>\n"
                    "  </ows:ServiceIdentification>\n  <ows:OperationsMetadata>\n");
    const char *ops[3] = {"GetCapabilities", "GetTile", "GetFeatureInfo"};
    for (int i = 0; i < 2; i++) {
        gpn_buf_printf(b, "    <ows:Operation name=\"%s\">\n      <ows:DCP>\n        <ows:HTTP>\n"
                          "          <ows:Get xlink:href=\"",
                       ops[i]);
        gpn_buf_xml_str(b, base);
        gpn_buf_puts(b, "/wmts?\">\n            <ows:Constraint name=\"GetEncoding\">\n"
                        "              <ows:AllowedValues><ows:Value>KVP</ows:Value></ows:AllowedValues>\n"
                        "            </ows:Constraint>\n          </ows:Get>\n          <ows:Get xlink:href=\"");
        gpn_buf_xml_str(b, base);
        gpn_buf_puts(b, "/wmts/1.0.0/\">\n            <ows:Constraint name=\"GetEncoding\">\n"
                        "              <ows:AllowedValues><ows:Value>RESTful</ows:Value></ows:AllowedValues>\n"
                        "            </ows:Constraint>\n          </ows:Get>\n        </ows:HTTP>\n"
                        "      </ows:DCP>\n    </ows:Operation>\n");
    }
    gpn_buf_puts(b, "  </ows:OperationsMetadata>\n  <Contents>\n");
    for (size_t i = 0; i < ls->n; i++) caps_layer(b, &ls->v[i], base);
    gpn_buf_puts(b, "    <TileMatrixSet>\n      <ows:Identifier>" TMS "</ows:Identifier>\n"
                    "      <ows:SupportedCRS>urn:ogc:def:crs:EPSG::3857</ows:SupportedCRS>\n"
                    "      <WellKnownScaleSet>urn:ogc:def:wkss:OGC:1.0:GoogleMapsCompatible</WellKnownScaleSet>\n");
    for (int z = 0; z <= WMTS_MAXZ; z++) {
        long long n = 1LL << z;
        gpn_buf_printf(b,
                       "      <TileMatrix>\n        <ows:Identifier>%d</ows:Identifier>\n"
                       "        <ScaleDenominator>%.10f</ScaleDenominator>\n"
                       "        <TopLeftCorner>-20037508.3427892 20037508.3427892</TopLeftCorner>\n"
                       "        <TileWidth>256</TileWidth>\n        <TileHeight>256</TileHeight>\n"
                       "        <MatrixWidth>%lld</MatrixWidth>\n        <MatrixHeight>%lld</MatrixHeight>\n"
                       "      </TileMatrix>\n",
                       z, 559082264.0287178 / (double)n, n, n);
    }
    gpn_buf_puts(b, "    </TileMatrixSet>\n  </Contents>\n  <ServiceMetadataURL xlink:href=\"");
    gpn_buf_xml_str(b, base);
    gpn_buf_puts(b, "/wmts/1.0.0/WMTSCapabilities.xml\"/>\n</Capabilities>\n");
    gpn__layers_release(ls);
    if (b->oom) return gpn_err_set(&resp->err, GPN_ENOMEM, "out of memory");
    resp->status = 200;
    gpn_strlcpy(resp->content_type, "application/xml; charset=UTF-8", sizeof resp->content_type);
    return 0;
}

/* ==== GetTile =========================================================== */

static int get_tile(struct gpn_http_app *app, const struct gpn_http_req *req, struct gpn_http_resp *resp,
                    const char *layer, const char *style, const char *tms, const char *tm, const char *row,
                    const char *col, const char *ext)
{
    if (strcmp(tms, TMS))
        return ows_exception(resp, 400, "InvalidParameterValue", "TileMatrixSet", "unknown tile matrix set '%.60s'",
                             tms);
    struct gpn_err e = {0};
    int z, y, x;
    if (gpn_parse_int(tm, 0, WMTS_MAXZ, &z, "TileMatrix", &e))
        return ows_exception(resp, 400, "InvalidParameterValue", "TileMatrix", "%s", e.msg);
    long long n = 1LL << z;
    if (gpn_parse_int(row, INT32_MIN, INT32_MAX, &y, "TileRow", &e) ||
        gpn_parse_int(col, INT32_MIN, INT32_MAX, &x, "TileCol", &e))
        return ows_exception(resp, 400, "InvalidParameterValue", "TileRow", "%s", e.msg);
    if (y < 0 || y >= n) return ows_exception(resp, 400, "TileOutOfRange", "TileRow", "TileRow %d outside [0, %lld)", y, n);
    if (x < 0 || x >= n) return ows_exception(resp, 400, "TileOutOfRange", "TileCol", "TileCol %d outside [0, %lld)", x, n);
    struct gpn__layers *ls = gpn__app_layers(app);
    if (!ls) return gpn_err_set(&resp->err, GPN_EINTERNAL, "no layers");
    const struct gpn__layer *l = gpn__layers_find(ls, layer);
    int rc;
    if (!l) rc = ows_exception(resp, 400, "InvalidParameterValue", "Layer", "unknown layer '%.100s'", layer);
    else if (!gpn__layer_style(l, style))
        rc = ows_exception(resp, 400, "InvalidParameterValue", "Style", "unknown style '%.100s'", style);
    else {
        rc = gpn__tile_serve(app, req, resp, ls, layer, style, z, x, y, ext);
        if (rc < 0) {
            int status = gpn_err_http_status(rc);
            rc = ows_exception(resp, status, status >= 500 ? "NoApplicableCode" : "InvalidParameterValue", "", "%s",
                               resp->err.msg);
        }
    }
    gpn__layers_release(ls);
    return rc;
}

static const char *format_ext(const char *fmt)
{
    if (!fmt || !*fmt) return "png";
    enum gpn_image_format f = gpn_image_format_parse(fmt);
    if (f == GPN_IMG_PNG || f == GPN_IMG_PNG8 || f == GPN_IMG_PNG32) return "png";
    if (f == GPN_IMG_JPEG) return "jpg";
    if (f == GPN_IMG_WEBP && gpn_image_webp_available()) return "webp";
    return NULL;
}

int gpn__wmts_handle(struct gpn_http_app *app, const struct gpn_http_req *req, struct gpn_http_resp *resp)
{
    const char *path = req->path;
    if (!strcmp(path, "/wmts") || !strcmp(path, "/wmts/")) {
        const char *service = gpn_http_req_param(req, "SERVICE");
        const char *request = gpn_http_req_param(req, "REQUEST");
        if (service && strcasecmp(service, "WMTS"))
            return ows_exception(resp, 400, "InvalidParameterValue", "service", "SERVICE must be WMTS");
        if (!request || !*request)
            return ows_exception(resp, 400, "MissingParameterValue", "request", "parameter REQUEST is missing");
        if (!strcasecmp(request, "GetCapabilities")) return capabilities(app, req, resp);
        if (strcasecmp(request, "GetTile"))
            return ows_exception(resp, 400, "OperationNotSupported", "request", "request '%.40s' is not supported",
                                 request);
        static const char *keys[] = {"LAYER", "TILEMATRIXSET", "TILEMATRIX", "TILEROW", "TILECOL"};
        const char *v[5];
        for (int i = 0; i < 5; i++) {
            v[i] = gpn_http_req_param(req, keys[i]);
            if (!v[i] || !*v[i])
                return ows_exception(resp, 400, "MissingParameterValue", keys[i], "parameter %s is missing", keys[i]);
        }
        const char *ext = format_ext(gpn_http_req_param(req, "FORMAT"));
        if (!ext)
            return ows_exception(resp, 400, "InvalidParameterValue", "Format", "format '%.40s' is not supported",
                                 gpn_http_req_param(req, "FORMAT"));
        return get_tile(app, req, resp, v[0], gpn_http_req_param(req, "STYLE"), v[1], v[2], v[3], v[4], ext);
    }
    const char *rest = path + strlen("/wmts/");
    if (strncmp(rest, "1.0.0/", 6))
        return gpn_err_set(&resp->err, GPN_ENOTFOUND, "WMTS paths start with /wmts/1.0.0/");
    rest += 6;
    if (!strcmp(rest, "WMTSCapabilities.xml")) return capabilities(app, req, resp);
    /* {layer}/{style}/{tms}/{z}/{row}/{col}.{ext} */
    char buf[1024];
    if (gpn_strlcpy(buf, rest, sizeof buf) >= sizeof buf)
        return gpn_err_set(&resp->err, GPN_ENOTFOUND, "WMTS path too long");
    char *seg[7];
    int ns = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, "/", &save); t && ns < 7; t = strtok_r(NULL, "/", &save)) seg[ns++] = t;
    if (ns != 6) return gpn_err_set(&resp->err, GPN_ENOTFOUND, "WMTS tile paths are {layer}/{style}/{set}/{z}/{row}/{col}.png");
    char *dot = strrchr(seg[5], '.');
    if (!dot) return gpn_err_set(&resp->err, GPN_ENOTFOUND, "WMTS tile path without format extension");
    *dot = 0;
    const char *ext = dot + 1;
    if (!strcmp(ext, "jpeg")) ext = "jpg";
    if (strcmp(ext, "png") && strcmp(ext, "jpg") && strcmp(ext, "webp"))
        return ows_exception(resp, 400, "InvalidParameterValue", "Format", "format '%.10s' is not supported", ext);
    return get_tile(app, req, resp, seg[0], seg[1], seg[2], seg[3], seg[4], seg[5], ext);
}
