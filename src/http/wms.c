/*
 * wms.c - the WMS 1.3.0 / 1.1.1 service at /wms: GetCapabilities, GetMap,
 * GetFeatureInfo, GetLegendGraphic (OGC 06-042, 01-068r3, SLD 1.1 for the
 * legend), with errors as ServiceException reports (wms_parse.c).
 *
 * Capabilities: one root layer (the CRS list, the overall extent), then
 * group layers without names - Species, Indicators, Habitats (with Level 1,
 * Level 2 and Level 3 groups), Inputs, Ground truth, Other - holding the
 * named layers, each with its title, abstract, geographic extent, a
 * BoundingBox per CRS (in the version's axis order), its styles with legend
 * URLs, and queryable="1". Documents are cached per version, base URL and
 * layer-set generation, so a GetCapabilities of thousands of layers costs a
 * copy after the first.
 *
 * GetMap renders every requested layer into one image (palette PNG for a
 * single layer, RGBA composition otherwise) and encodes it as asked.
 * GetFeatureInfo reads the value under pixel (I, J) of each queried layer
 * and says what it means with the layer's style: presence/absence, habitat
 * code and name, indicator value and units.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "gpn/version.h"
#include "gpn/wms.h"

static const char *const root_crs[] = {"EPSG:3857", "EPSG:4326", "CRS:84", "EPSG:3035", "EPSG:4258"};
#define N_ROOT_CRS 5

/* ==== capabilities ====================================================== */

static void put_bbox(struct gpn_buf *b, int v130, const char *crs, const double bb[4], int prec)
{
    /* bb is x/y; 1.3.0 writes it in the CRS's axis order. */
    int swap = v130 && gpn_wms_crs_swapped(crs);
    double minx = swap ? bb[1] : bb[0], miny = swap ? bb[0] : bb[1];
    double maxx = swap ? bb[3] : bb[2], maxy = swap ? bb[2] : bb[3];
    gpn_buf_printf(b, "<BoundingBox %s=\"%s\" minx=\"%.*f\" miny=\"%.*f\" maxx=\"%.*f\" maxy=\"%.*f\"/>\n",
                   v130 ? "CRS" : "SRS", crs, prec, minx, prec, miny, prec, maxx, prec, maxy);
}

static void put_ll_bbox(struct gpn_buf *b, int v130, const double ll[4])
{
    if (v130)
        gpn_buf_printf(b,
                       "<EX_GeographicBoundingBox><westBoundLongitude>%.6f</westBoundLongitude>"
                       "<eastBoundLongitude>%.6f</eastBoundLongitude><southBoundLatitude>%.6f</southBoundLatitude>"
                       "<northBoundLatitude>%.6f</northBoundLatitude></EX_GeographicBoundingBox>\n",
                       ll[0], ll[2], ll[1], ll[3]);
    else
        gpn_buf_printf(b, "<LatLonBoundingBox minx=\"%.6f\" miny=\"%.6f\" maxx=\"%.6f\" maxy=\"%.6f\"/>\n", ll[0], ll[1],
                       ll[2], ll[3]);
}

static void put_online(struct gpn_buf *b, const char *base, const char *path)
{
    gpn_buf_puts(b, "<OnlineResource xlink:type=\"simple\" xlink:href=\"");
    gpn_buf_xml_str(b, base);
    gpn_buf_xml_str(b, path);
    gpn_buf_puts(b, "\"/>");
}

static void put_dcp(struct gpn_buf *b, const char *base)
{
    gpn_buf_puts(b, "<DCPType><HTTP><Get>");
    put_online(b, base, "/wms?");
    gpn_buf_puts(b, "</Get></HTTP></DCPType>\n");
}

static void caps_layer(struct gpn_buf *b, int v130, const struct gpn__layer *l, const char *base)
{
    gpn_buf_puts(b, "<Layer queryable=\"1\" opaque=\"0\">\n<Name>");
    gpn_buf_xml_str(b, l->meta.name);
    gpn_buf_puts(b, "</Name>\n<Title>");
    gpn_buf_xml_str(b, l->meta.title[0] ? l->meta.title : l->meta.name);
    gpn_buf_puts(b, "</Title>\n");
    if (l->meta.abstract[0]) {
        gpn_buf_puts(b, "<Abstract>");
        gpn_buf_xml_str(b, l->meta.abstract);
        gpn_buf_puts(b, "</Abstract>\n");
    }
    gpn_buf_printf(b, "<KeywordList><Keyword>%s</Keyword></KeywordList>\n", gpn_layer_group_name(l->meta.group));
    /* The native CRS when the root does not list it. */
    int listed = 0;
    for (int i = 0; i < N_ROOT_CRS; i++)
        if (!strcasecmp(l->crs, root_crs[i])) listed = 1;
    if (!listed && l->crs[0]) gpn_buf_printf(b, "<%s>%s</%s>\n", v130 ? "CRS" : "SRS", l->crs, v130 ? "CRS" : "SRS");
    put_ll_bbox(b, v130, l->bbox_ll);
    if (v130) put_bbox(b, v130, "CRS:84", l->bbox_ll, 6);
    put_bbox(b, v130, "EPSG:4326", l->bbox_ll, 6);
    put_bbox(b, v130, "EPSG:3857", l->bbox_3857, 2);
    if (l->has_3035) put_bbox(b, v130, "EPSG:3035", l->bbox_3035, 2);
    if (!listed && l->crs[0]) put_bbox(b, v130, l->crs, l->bbox_native, 6);
    for (int s = 0; s < l->n_styles; s++) {
        const struct gpn_style *st = &l->styles[s];
        int lw, lh;
        gpn_legend_size(st, l->meta.title[0] ? l->meta.title : l->meta.name, &lw, &lh);
        gpn_buf_puts(b, "<Style><Name>");
        gpn_buf_xml_str(b, st->name);
        gpn_buf_puts(b, "</Name><Title>");
        gpn_buf_xml_str(b, st->title);
        gpn_buf_printf(b, "</Title>\n<LegendURL width=\"%d\" height=\"%d\"><Format>image/png</Format>", lw, lh);
        gpn_buf_puts(b, "<OnlineResource xlink:type=\"simple\" xlink:href=\"");
        gpn_buf_xml_str(b, base);
        gpn_buf_printf(b, "/wms?SERVICE=WMS&amp;VERSION=%s&amp;REQUEST=GetLegendGraphic&amp;FORMAT=image/png&amp;"
                          "SLD_VERSION=1.1.0&amp;LAYER=",
                       v130 ? "1.3.0" : "1.1.1");
        gpn_buf_xml_str(b, l->meta.name);
        gpn_buf_puts(b, "&amp;STYLE=");
        gpn_buf_xml_str(b, st->name);
        gpn_buf_puts(b, "\"/></LegendURL></Style>\n");
    }
    gpn_buf_puts(b, "</Layer>\n");
}

static void caps_group(struct gpn_buf *b, int v130, const struct gpn__layers *ls, const char *base, const char *title,
                       const enum gpn_layer_group *groups, const char *const *subtitles, int ng)
{
    int any = 0;
    for (size_t i = 0; i < ls->n && !any; i++)
        for (int g = 0; g < ng; g++)
            if (ls->v[i].meta.group == groups[g]) any = 1;
    if (!any) return;
    gpn_buf_printf(b, "<Layer>\n<Title>%s</Title>\n", title);
    for (int g = 0; g < ng; g++) {
        int n = 0;
        for (size_t i = 0; i < ls->n; i++) n += ls->v[i].meta.group == groups[g];
        if (!n) continue;
        if (subtitles) gpn_buf_printf(b, "<Layer>\n<Title>%s</Title>\n", subtitles[g]);
        for (size_t i = 0; i < ls->n; i++)
            if (ls->v[i].meta.group == groups[g]) caps_layer(b, v130, &ls->v[i], base);
        if (subtitles) gpn_buf_puts(b, "</Layer>\n");
    }
    gpn_buf_puts(b, "</Layer>\n");
}

static int build_capabilities(struct gpn_http_app *app, const struct gpn__layers *ls, int v130, const char *base,
                              struct gpn_buf *b)
{
    const char *fmts[] = {"image/png", "image/png; mode=8bit", "image/jpeg", "image/webp"};
    int nf = gpn_image_webp_available() ? 4 : 3;
    if (v130) {
        gpn_buf_printf(b,
                       "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                       "<WMS_Capabilities version=\"1.3.0\" updateSequence=\"%lld\" xmlns=\"http://www.opengis.net/wms\" "
                       "xmlns:sld=\"http://www.opengis.net/sld\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" "
                       "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
                       "xsi:schemaLocation=\"http://www.opengis.net/wms "
                       "http://schemas.opengis.net/wms/1.3.0/capabilities_1_3_0.xsd http://www.opengis.net/sld "
                       "http://schemas.opengis.net/sld/1.1.0/sld_capabilities.xsd\">\n"
                       "<Service>\n<Name>WMS</Name>\n",
                       (long long)ls->generation);
    } else {
        gpn_buf_printf(b,
                       "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                       "<!DOCTYPE WMT_MS_Capabilities SYSTEM "
                       "\"http://schemas.opengis.net/wms/1.1.1/WMS_MS_Capabilities.dtd\">\n"
                       "<WMT_MS_Capabilities version=\"1.1.1\" updateSequence=\"%lld\" "
                       "xmlns:xlink=\"http://www.w3.org/1999/xlink\">\n<Service>\n<Name>OGC:WMS</Name>\n",
                       (long long)ls->generation);
    }
    gpn_buf_puts(b, "<Title>geoplantnet biodiversity maps</Title>\n"
                    "<Abstract>Species distribution, habitat (EUNIS) and biodiversity indicator maps of European "
                    "plants at 50 m, served by gpn " GPN_VERSION ".</Abstract>\n"
                    "<KeywordList><Keyword>biodiversity</Keyword><Keyword>species distribution</Keyword>"
                    "<Keyword>EUNIS habitats</Keyword></KeywordList>\n");
    put_online(b, base, "/");
    gpn_buf_puts(b, "\n<Fees>none</Fees>\n<AccessConstraints>none</AccessConstraints>\n");
    if (v130)
        gpn_buf_printf(b, "<LayerLimit>%d</LayerLimit>\n<MaxWidth>%d</MaxWidth>\n<MaxHeight>%d</MaxHeight>\n",
                       GPN_WMS_MAX_LAYERS, app->cfg.max_size, app->cfg.max_size);
    gpn_buf_puts(b, "</Service>\n<Capability>\n<Request>\n<GetCapabilities>\n");
    gpn_buf_printf(b, "<Format>%s</Format>\n", v130 ? "text/xml" : "application/vnd.ogc.wms_xml");
    put_dcp(b, base);
    gpn_buf_puts(b, "</GetCapabilities>\n<GetMap>\n");
    for (int i = 0; i < nf; i++) gpn_buf_printf(b, "<Format>%s</Format>\n", fmts[i]);
    put_dcp(b, base);
    gpn_buf_puts(b, "</GetMap>\n<GetFeatureInfo>\n<Format>text/plain</Format>\n<Format>application/json</Format>\n"
                    "<Format>text/html</Format>\n<Format>application/vnd.ogc.gml</Format>\n");
    put_dcp(b, base);
    gpn_buf_puts(b, "</GetFeatureInfo>\n");
    if (v130) {
        gpn_buf_puts(b, "<sld:GetLegendGraphic>\n<Format>image/png</Format>\n<Format>image/jpeg</Format>\n");
        put_dcp(b, base);
        gpn_buf_puts(b, "</sld:GetLegendGraphic>\n");
    }
    gpn_buf_puts(b, "</Request>\n<Exception>\n");
    if (v130)
        gpn_buf_puts(b, "<Format>XML</Format>\n<Format>INIMAGE</Format>\n<Format>BLANK</Format>\n");
    else
        gpn_buf_puts(b, "<Format>application/vnd.ogc.se_xml</Format>\n<Format>application/vnd.ogc.se_inimage</Format>\n"
                        "<Format>application/vnd.ogc.se_blank</Format>\n");
    gpn_buf_puts(b, "</Exception>\n");
    /* Root layer: the CRSs and the union of the extents. */
    double ll[4] = {180, 90, -180, -90};
    for (size_t i = 0; i < ls->n; i++) {
        ll[0] = fmin(ll[0], ls->v[i].bbox_ll[0]);
        ll[1] = fmin(ll[1], ls->v[i].bbox_ll[1]);
        ll[2] = fmax(ll[2], ls->v[i].bbox_ll[2]);
        ll[3] = fmax(ll[3], ls->v[i].bbox_ll[3]);
    }
    if (!ls->n) {
        ll[0] = -180;
        ll[1] = -90;
        ll[2] = 180;
        ll[3] = 90;
    }
    gpn_buf_puts(b, "<Layer>\n<Title>geoplantnet</Title>\n<Abstract>All published layers, by group.</Abstract>\n");
    for (int i = 0; i < N_ROOT_CRS; i++) {
        if (!v130 && !strcmp(root_crs[i], "CRS:84")) continue;
        gpn_buf_printf(b, "<%s>%s</%s>\n", v130 ? "CRS" : "SRS", root_crs[i], v130 ? "CRS" : "SRS");
    }
    put_ll_bbox(b, v130, ll);
    if (v130) put_bbox(b, v130, "CRS:84", ll, 6);
    put_bbox(b, v130, "EPSG:4326", ll, 6);
    static const enum gpn_layer_group sp[] = {GPN_LAYER_SPECIES};
    static const enum gpn_layer_group ind[] = {GPN_LAYER_INDICATORS};
    static const enum gpn_layer_group hab[] = {GPN_LAYER_HABITATS_L1, GPN_LAYER_HABITATS_L2, GPN_LAYER_HABITATS_L3};
    static const char *const hab_t[] = {"Level 1", "Level 2", "Level 3"};
    static const enum gpn_layer_group inp[] = {GPN_LAYER_INPUTS};
    static const enum gpn_layer_group tru[] = {GPN_LAYER_TRUTH};
    static const enum gpn_layer_group oth[] = {GPN_LAYER_OTHER};
    caps_group(b, v130, ls, base, "Species", sp, NULL, 1);
    caps_group(b, v130, ls, base, "Indicators", ind, NULL, 1);
    caps_group(b, v130, ls, base, "Habitats (EUNIS)", hab, hab_t, 3);
    caps_group(b, v130, ls, base, "Inputs", inp, NULL, 1);
    caps_group(b, v130, ls, base, "Ground truth", tru, NULL, 1);
    caps_group(b, v130, ls, base, "Other", oth, NULL, 1);
    gpn_buf_puts(b, "</Layer>\n</Capability>\n");
    gpn_buf_puts(b, v130 ? "</WMS_Capabilities>\n" : "</WMT_MS_Capabilities>\n");
    return b->oom ? GPN_ENOMEM : 0;
}

static int get_capabilities(struct gpn_http_app *app, const struct gpn_http_req *req, struct gpn_http_resp *resp,
                            const struct gpn_wms_request *w, const struct gpn__layers *ls)
{
    if (w->update_sequence[0]) {
        char *end;
        long long us = strtoll(w->update_sequence, &end, 10);
        struct gpn_wms_error e = {0};
        if (*end == 0 && us == ls->generation) {
            gpn_wms_error_set(&e, 400, "CurrentUpdateSequence", "updateSequence %lld is current", us);
            gpn_wms_exception(resp, w->v130, &e);
            return 0;
        }
        if (*end == 0 && us > ls->generation) {
            gpn_wms_error_set(&e, 400, "InvalidUpdateSequence", "updateSequence %lld is ahead of the server", us);
            gpn_wms_exception(resp, w->v130, &e);
            return 0;
        }
    }
    char base[512];
    gpn__base_url(app, req, base, sizeof base);
    int slot = w->v130 ? 0 : 1;
    gpn_buf_reset(&resp->body);
    pthread_mutex_lock(&app->caps_mu);
    if (app->caps[slot].doc.len && app->caps[slot].generation == ls->generation && !strcmp(app->caps[slot].base, base))
        gpn_buf_append(&resp->body, app->caps[slot].doc.data, app->caps[slot].doc.len);
    pthread_mutex_unlock(&app->caps_mu);
    if (!resp->body.len) {
        int rc = build_capabilities(app, ls, w->v130, base, &resp->body);
        if (rc) return gpn_err_set(&resp->err, rc, "capabilities: out of memory");
        pthread_mutex_lock(&app->caps_mu);
        gpn_buf_reset(&app->caps[slot].doc);
        if (gpn_buf_append(&app->caps[slot].doc, resp->body.data, resp->body.len) == 0) {
            app->caps[slot].generation = ls->generation;
            gpn_strlcpy(app->caps[slot].base, base, sizeof app->caps[slot].base);
        }
        pthread_mutex_unlock(&app->caps_mu);
    }
    resp->status = 200;
    gpn_strlcpy(resp->content_type, w->v130 ? "text/xml; charset=UTF-8" : "application/vnd.ogc.wms_xml; charset=UTF-8",
                sizeof resp->content_type);
    return 0;
}

/* ==== layer checks ====================================================== */

/* Resolves the layers and styles of w against ls; the CRS against each
 * layer. Returns 0 or -1 with e set. */
static int resolve(const struct gpn__layers *ls, const struct gpn_wms_request *w, int n, char names[][GPN_WMS_NAME_MAX],
                   const struct gpn__layer **layers, const struct gpn_style **styles, char *crs_norm, size_t crs_n,
                   struct gpn_wms_error *e)
{
    for (int i = 0; i < n; i++) {
        layers[i] = gpn__layers_find(ls, names[i]);
        if (!layers[i]) return gpn_wms_error_set(e, 400, "LayerNotDefined", "layer '%.100s' is not defined", names[i]);
        if (styles) {
            styles[i] = gpn__layer_style(layers[i], w->styles[i]);
            if (!styles[i])
                return gpn_wms_error_set(e, 400, "StyleNotDefined", "layer '%.100s' has no style '%.100s'", names[i],
                                         w->styles[i]);
        }
        int epsg;
        if (!gpn_wms_crs_known(w->crs, layers[i]->crs, crs_norm, crs_n, &epsg))
            return gpn_wms_error_set(e, 400, w->v130 ? "InvalidCRS" : "InvalidSRS",
                                     "%s %.40s is not offered for layer '%.100s'", w->v130 ? "CRS" : "SRS", w->crs,
                                     names[i]);
    }
    return 0;
}

/* ==== GetMap ============================================================ */

/* BLANK / INIMAGE exceptions: an image of the requested size. */
static int exception_image(struct gpn_http_resp *resp, const struct gpn_wms_request *w, const struct gpn_wms_error *e)
{
    struct gpn_image img;
    struct gpn_err err = {0};
    if (gpn_image_init(&img, w->width, w->height, 0, &err)) return -1;
    if (w->exceptions == GPN_WMS_EXC_INIMAGE) {
        static const uint8_t red[3] = {160, 0, 0};
        char msg[600];
        snprintf(msg, sizeof msg, "%s%s%s", e->code, e->code[0] ? ": " : "", e->message);
        /* Wrap the message over lines of the image width. */
        int y = 4;
        const char *p = msg;
        while (*p && y < w->height - 14) {
            char line[600];
            size_t n = 0, last_space = 0;
            while (p[n] && n < sizeof line - 1) {
                line[n] = p[n];
                line[n + 1] = 0;
                if (gpn_text_width(line) > w->width - 8) break;
                if (p[n] == ' ') last_space = n;
                n++;
            }
            if (p[n] && last_space) n = last_space + 1;
            if (n == 0) n = 1;
            memcpy(line, p, n);
            line[n] = 0;
            gpn_text_draw(&img, 4, y, line, red);
            p += n;
            y += 16;
        }
    }
    gpn_buf_reset(&resp->body);
    int rc = gpn_image_encode(&img, w->format, w->transparent, w->bgcolor, 85, &resp->body, &err);
    gpn_image_free(&img);
    if (rc) return -1;
    resp->status = 200;
    gpn_strlcpy(resp->content_type, gpn_image_format_mime(w->format), sizeof resp->content_type);
    return 0;
}

static int get_map(const struct gpn_http_req *req, struct gpn_http_resp *resp, const struct gpn_wms_request *w,
                   const struct gpn__layers *ls)
{
    (void)req;
    const struct gpn__layer *layers[GPN_WMS_MAX_LAYERS];
    const struct gpn_style *styles[GPN_WMS_MAX_LAYERS];
    char crs[64];
    struct gpn_wms_error e = {0};
    if (resolve(ls, w, w->n_layers, (char(*)[GPN_WMS_NAME_MAX])w->layers, layers, styles, crs, sizeof crs, &e)) {
        if (w->exceptions != GPN_WMS_EXC_XML && exception_image(resp, w, &e) == 0) return 0;
        gpn_wms_exception(resp, w->v130, &e);
        return 0;
    }
    struct gpn_image img;
    struct gpn_err err = {0};
    int rc = gpn__map_render(layers, styles, w->n_layers, crs, w->bbox, w->width, w->height, &img, &err);
    if (rc) {
        gpn_wms_error_set(&e, gpn_err_http_status(rc) >= 500 ? 500 : 400, "", "rendering failed: %s", err.msg);
        gpn_wms_exception(resp, w->v130, &e);
        return 0;
    }
    gpn_buf_reset(&resp->body);
    rc = gpn_image_encode(&img, w->format, w->transparent, w->bgcolor, 85, &resp->body, &err);
    gpn_image_free(&img);
    if (rc) {
        gpn_wms_error_set(&e, rc == GPN_EUNSUPPORTED ? 400 : 500, rc == GPN_EUNSUPPORTED ? "InvalidFormat" : "",
                          "encoding failed: %s", err.msg);
        gpn_wms_exception(resp, w->v130, &e);
        return 0;
    }
    resp->status = 200;
    gpn_strlcpy(resp->content_type, gpn_image_format_mime(w->format), sizeof resp->content_type);
    resp->no_gzip = 1;
    return 0;
}

/* ==== GetFeatureInfo ==================================================== */

struct fi_result {
    const struct gpn__layer *layer;
    const struct gpn_style *style;
    double value;
    int nodata;
    char meaning[256];
};

static void json_num(struct gpn_buf *b, double v)
{
    if (isfinite(v)) gpn_buf_printf(b, "%.10g", v);
    else gpn_buf_puts(b, "null");
}

static int get_feature_info(const struct gpn_http_req *req, struct gpn_http_resp *resp,
                            const struct gpn_wms_request *w, const struct gpn__layers *ls)
{
    (void)req;
    const struct gpn__layer *layers[GPN_WMS_MAX_LAYERS];
    char crs[64];
    struct gpn_wms_error e = {0};
    if (resolve(ls, w, w->n_query_layers, (char(*)[GPN_WMS_NAME_MAX])w->query_layers, layers, NULL, crs, sizeof crs,
                &e)) {
        gpn_wms_exception(resp, w->v130, &e);
        return 0;
    }
    double resx = (w->bbox[2] - w->bbox[0]) / w->width, resy = (w->bbox[3] - w->bbox[1]) / w->height;
    double x = w->bbox[0] + (w->i + 0.5) * resx, y = w->bbox[3] - (w->j + 0.5) * resy;
    struct fi_result res[GPN_WMS_MAX_LAYERS];
    struct gpn_err err = {0};
    for (int q = 0; q < w->n_query_layers; q++) {
        const struct gpn__layer *l = layers[q];
        /* The style of the layer in LAYERS/STYLES when it is there. */
        const struct gpn_style *st = NULL;
        for (int k = 0; k < w->n_layers; k++)
            if (!strcmp(w->layers[k], l->meta.name)) st = gpn__layer_style(l, w->styles[k]);
        if (!st) st = &l->styles[0];
        struct gpn_raster *r;
        struct gpn_transform *t;
        int rc = gpn__layer_raster(l, &r, &err);
        if (!rc) rc = gpn__transform(crs, l->crs[0] ? l->crs : l->info.crs_wkt, &t, &err);
        struct gpn_render_src src = {r, &l->info, l->band, st};
        if (!rc) rc = gpn_render_value_at(&src, t, x, y, &res[q].value, &res[q].nodata, &err);
        if (rc) {
            gpn_wms_error_set(&e, 500, "", "GetFeatureInfo on %s failed: %s", l->meta.name, err.msg);
            gpn_wms_exception(resp, w->v130, &e);
            return 0;
        }
        res[q].layer = l;
        res[q].style = st;
        gpn_style_describe(st, res[q].value, res[q].nodata, res[q].meaning, sizeof res[q].meaning);
    }
    /* The point in lon/lat for the JSON geometry. */
    double lon = x, lat = y;
    struct gpn_transform *tll = NULL;
    if (gpn__transform(crs, "EPSG:4326", &tll, &err) == 0 && tll) {
        if (gpn_transform_points(tll, &lon, &lat, 1, &err)) lon = lat = NAN;
    }
    struct gpn_buf *b = &resp->body;
    gpn_buf_reset(b);
    switch (w->info_format) {
    case GPN_WMS_INFO_JSON:
        gpn_buf_puts(b, "{\"type\":\"FeatureCollection\",\"features\":[");
        for (int q = 0; q < w->n_query_layers; q++) {
            const struct fi_result *f = &res[q];
            gpn_buf_puts(b, q ? ",{" : "{");
            gpn_buf_puts(b, "\"type\":\"Feature\",\"id\":\"");
            gpn_buf_json_str(b, f->layer->meta.name);
            gpn_buf_puts(b, "\",\"geometry\":");
            if (isfinite(lon) && isfinite(lat)) gpn_buf_printf(b, "{\"type\":\"Point\",\"coordinates\":[%.7f,%.7f]}", lon, lat);
            else gpn_buf_puts(b, "null");
            gpn_buf_puts(b, ",\"properties\":{\"layer\":\"");
            gpn_buf_json_str(b, f->layer->meta.name);
            gpn_buf_puts(b, "\",\"title\":\"");
            gpn_buf_json_str(b, f->layer->meta.title);
            gpn_buf_printf(b, "\",\"group\":\"%s\",\"value\":", gpn_layer_group_name(f->layer->meta.group));
            if (f->nodata) gpn_buf_puts(b, "null");
            else json_num(b, f->value);
            gpn_buf_printf(b, ",\"nodata\":%s,\"meaning\":\"", f->nodata ? "true" : "false");
            gpn_buf_json_str(b, f->meaning);
            gpn_buf_puts(b, "\"");
            if (!f->nodata && f->style->kind == GPN_STYLE_PRESENCE)
                gpn_buf_printf(b, ",\"present\":%s", f->value >= f->style->threshold ? "true" : "false");
            const struct gpn_style_class *c =
                f->nodata ? NULL : gpn_style_class_of_index(f->style, gpn_style_index(f->style, f->value));
            if (c) {
                gpn_buf_puts(b, ",\"code\":\"");
                gpn_buf_json_str(b, c->code);
                gpn_buf_puts(b, "\",\"name\":\"");
                gpn_buf_json_str(b, c->name);
                gpn_buf_puts(b, "\"");
            }
            if (f->style->units[0]) {
                gpn_buf_puts(b, ",\"units\":\"");
                gpn_buf_json_str(b, f->style->units);
                gpn_buf_puts(b, "\"");
            }
            gpn_buf_puts(b, "}}");
        }
        gpn_buf_puts(b, "]}\n");
        gpn_strlcpy(resp->content_type, "application/json", sizeof resp->content_type);
        break;
    case GPN_WMS_INFO_HTML:
        gpn_buf_puts(b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>GetFeatureInfo</title></head>"
                        "<body>\n<table border=\"1\">\n<tr><th>Layer</th><th>Value</th><th>Meaning</th></tr>\n");
        for (int q = 0; q < w->n_query_layers; q++) {
            gpn_buf_puts(b, "<tr><td>");
            gpn_buf_xml_str(b, res[q].layer->meta.title[0] ? res[q].layer->meta.title : res[q].layer->meta.name);
            gpn_buf_puts(b, "</td><td>");
            if (res[q].nodata) gpn_buf_puts(b, "-");
            else gpn_buf_printf(b, "%.10g", res[q].value);
            gpn_buf_puts(b, "</td><td>");
            gpn_buf_xml_str(b, res[q].meaning);
            gpn_buf_puts(b, "</td></tr>\n");
        }
        gpn_buf_puts(b, "</table>\n</body></html>\n");
        gpn_strlcpy(resp->content_type, "text/html; charset=utf-8", sizeof resp->content_type);
        break;
    case GPN_WMS_INFO_GML:
        gpn_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<wfs:FeatureCollection "
                        "xmlns:wfs=\"http://www.opengis.net/wfs\" xmlns:gml=\"http://www.opengis.net/gml\" "
                        "xmlns:gpn=\"https://geoplantnet.org/gpn\">\n");
        for (int q = 0; q < w->n_query_layers; q++) {
            gpn_buf_puts(b, "<gml:featureMember><gpn:feature layer=\"");
            gpn_buf_xml_str(b, res[q].layer->meta.name);
            gpn_buf_puts(b, "\"><gpn:value>");
            if (!res[q].nodata) gpn_buf_printf(b, "%.10g", res[q].value);
            gpn_buf_puts(b, "</gpn:value><gpn:meaning>");
            gpn_buf_xml_str(b, res[q].meaning);
            gpn_buf_puts(b, "</gpn:meaning></gpn:feature></gml:featureMember>\n");
        }
        gpn_buf_puts(b, "</wfs:FeatureCollection>\n");
        gpn_strlcpy(resp->content_type, "application/vnd.ogc.gml", sizeof resp->content_type);
        break;
    default:
        gpn_buf_puts(b, "GetFeatureInfo results:\n");
        for (int q = 0; q < w->n_query_layers; q++) {
            gpn_buf_printf(b, "\nLayer '%s'\n", res[q].layer->meta.name);
            if (res[q].nodata) gpn_buf_puts(b, "  value = nodata\n");
            else gpn_buf_printf(b, "  value = %.10g\n", res[q].value);
            gpn_buf_printf(b, "  meaning = %s\n", res[q].meaning);
        }
        gpn_strlcpy(resp->content_type, "text/plain; charset=utf-8", sizeof resp->content_type);
        break;
    }
    if (b->oom) return gpn_err_set(&resp->err, GPN_ENOMEM, "out of memory");
    resp->status = 200;
    return 0;
}

/* ==== GetLegendGraphic ================================================== */

static int get_legend(struct gpn_http_resp *resp, const struct gpn_wms_request *w, const struct gpn__layers *ls)
{
    struct gpn_wms_error e = {0};
    const struct gpn__layer *l = gpn__layers_find(ls, w->legend_layer);
    if (!l) {
        gpn_wms_error_set(&e, 400, "LayerNotDefined", "layer '%.100s' is not defined", w->legend_layer);
        gpn_wms_exception(resp, w->v130, &e);
        return 0;
    }
    const struct gpn_style *st = gpn__layer_style(l, w->legend_style);
    if (!st) {
        gpn_wms_error_set(&e, 400, "StyleNotDefined", "layer '%.100s' has no style '%.100s'", w->legend_layer,
                          w->legend_style);
        gpn_wms_exception(resp, w->v130, &e);
        return 0;
    }
    struct gpn_image img;
    struct gpn_err err = {0};
    int rc = gpn_legend_render(st, l->meta.title[0] ? l->meta.title : l->meta.name, w->width, w->height,
                               w->transparent, &img, &err);
    if (!rc) {
        gpn_buf_reset(&resp->body);
        rc = gpn_image_encode(&img, w->format == GPN_IMG_PNG ? GPN_IMG_PNG32 : w->format, w->transparent, NULL, 90,
                              &resp->body, &err);
        gpn_image_free(&img);
    }
    if (rc) {
        gpn_wms_error_set(&e, 500, "", "legend failed: %s", err.msg);
        gpn_wms_exception(resp, w->v130, &e);
        return 0;
    }
    resp->status = 200;
    gpn_strlcpy(resp->content_type, gpn_image_format_mime(w->format == GPN_IMG_PNG8 ? GPN_IMG_PNG : w->format),
                sizeof resp->content_type);
    resp->no_gzip = 1;
    return 0;
}

/* ==== dispatch ========================================================== */

int gpn__wms_handle(struct gpn_http_app *app, const struct gpn_http_req *req, struct gpn_http_resp *resp)
{
    struct gpn_wms_request *w = malloc(sizeof *w);
    if (!w) return gpn_err_set(&resp->err, GPN_ENOMEM, "out of memory");
    struct gpn_wms_error e;
    if (gpn_wms_parse(req, app->cfg.max_size, w, &e)) {
        if (w->kind == GPN_WMS_GETMAP && w->exceptions != GPN_WMS_EXC_XML && w->width > 0 && w->height > 0 &&
            w->format && exception_image(resp, w, &e) == 0) {
            free(w);
            return 0;
        }
        gpn_wms_exception(resp, w->v130, &e);
        free(w);
        return 0;
    }
    struct gpn__layers *ls = gpn__app_layers(app);
    int rc = 0;
    if (!ls) {
        rc = gpn_err_set(&resp->err, GPN_EINTERNAL, "no layer registry");
    } else {
        switch (w->kind) {
        case GPN_WMS_GETCAPABILITIES:
            rc = get_capabilities(app, req, resp, w, ls);
            break;
        case GPN_WMS_GETMAP:
            rc = get_map(req, resp, w, ls);
            break;
        case GPN_WMS_GETFEATUREINFO:
            rc = get_feature_info(req, resp, w, ls);
            break;
        case GPN_WMS_GETLEGENDGRAPHIC:
            rc = get_legend(resp, w, ls);
            break;
        }
        gpn__layers_release(ls);
    }
    if (rc < 0) {
        gpn_wms_error_set(&e, gpn_err_http_status(rc), "", "%s", resp->err.msg);
        gpn_wms_exception(resp, w->v130, &e);
        rc = 0;
    }
    free(w);
    return rc;
}
