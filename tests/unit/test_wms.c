/*
 * test_wms.c - the map protocols end to end inside one process: WMS
 * parsing (bad parameters, bounds, axis order), exception reports,
 * styles and their colours, capabilities, GetMap (identity and reprojected
 * pixels checked against the source raster), legends equal to the map's
 * colours, GetFeatureInfo meanings, output formats, XYZ tiles with the
 * cache and layer versions, WMTS, TileJSON and seeding.
 *
 * The atlas is built here: three small COGs on the EPSG:3035 grid (200 x
 * 200 cells of 50 m at E3600 N2290 km), published through the catalog:
 *   hab  uint8 habitat classes 1..4 by quadrant (0 = nodata), class table in metadata
 *   rich float32 0..100 increasing west -> east (-1 = nodata), viridis:0:100
 *   sp   uint8 presence 0/1 in 10-cell checkerboard blocks
 */
#include "test.h"

#include <sys/stat.h>

#include "gpn/catalog.h"
#include "gpn/http.h"
#include "gpn/progress.h"
#include "gpn/raster.h"
#include "gpn/render.h"
#include "gpn/reproj.h"
#include "gpn/util.h"
#include "gpn/wms.h"

#define N 200
#define X0 3600000.0
#define Y1 2300000.0
#define RES 50.0

static const double GT[6] = {X0, RES, 0, Y1, 0, -RES};

/* ==== fixtures ========================================================== */

static int hab_value(int r, int c)
{
    if (r < 4) return 0; /* a nodata strip at the top */
    return 1 + (r >= N / 2) * 2 + (c >= N / 2);
}

static float rich_value(int r, int c)
{
    (void)r;
    return c == 0 ? -1.0f : (float)(c * 100.0 / (N - 1));
}

static int sp_value(int r, int c)
{
    return ((r / 10) + (c / 10)) % 2;
}

static int write_cog(const char *path, enum gpn_dtype dt, int has_nd, double nd, int categorical, const void *data)
{
    struct gpn_cog_opts o;
    memset(&o, 0, sizeof o);
    o.width = N;
    o.height = N;
    o.bands = 1;
    o.dtype = dt;
    memcpy(o.gt, GT, sizeof GT);
    o.epsg = 3035;
    o.has_nodata = has_nd;
    o.nodata = nd;
    o.categorical = categorical;
    o.blocksize = 64;
    struct gpn_err err = {0};
    if (gpn_cog_write(path, &o, data, &err)) {
        fprintf(stderr, "cog_write %s: %s\n", path, err.msg);
        return -1;
    }
    return 0;
}

static int add_layer(struct gpn_catalog *cat, const char *name, const char *title, enum gpn_layer_group g,
                     const char *path, const char *style, const char *meta)
{
    struct gpn_layer l;
    memset(&l, 0, sizeof l);
    gpn_strlcpy(l.name, name, sizeof l.name);
    gpn_strlcpy(l.title, title, sizeof l.title);
    gpn_strlcpy(l.abstract, "test layer", sizeof l.abstract);
    l.group = g;
    gpn_strlcpy(l.path, path, sizeof l.path);
    gpn_strlcpy(l.style, style, sizeof l.style);
    l.epsg = 3035;
    struct gpn_err err = {0};
    if (gpn_catalog_layer_add(cat, &l, meta, NULL, &err)) {
        fprintf(stderr, "layer_add %s: %s\n", name, err.msg);
        return -1;
    }
    return 0;
}

static const char *HAB_META =
    "{\"classes\":[{\"value\":1,\"code\":\"T11\",\"name\":\"Temperate Salix and Populus riparian forest\"},"
    "{\"value\":2,\"code\":\"R1\",\"name\":\"Dry grasslands\"},{\"value\":3,\"code\":\"Q5\",\"name\":\"Helophyte beds\"},"
    "{\"value\":4,\"code\":\"V1\",\"name\":\"Arable land and market gardens\"}]}";

/* Builds the atlas under the test's temp folder; returns its path. */
static const char *make_atlas(void)
{
    static char atlas[600];
    char p[700];
    snprintf(atlas, sizeof atlas, "%s/atlas", test_tmpdir());
    snprintf(p, sizeof p, "%s/layers", atlas);
    if (gpn_mkdir_p(p, NULL)) return NULL;
    uint8_t *hab = malloc(N * N), *sp = malloc(N * N);
    float *rich = malloc(sizeof *rich * N * N);
    for (int r = 0; r < N; r++)
        for (int c = 0; c < N; c++) {
            hab[r * N + c] = (uint8_t)hab_value(r, c);
            rich[r * N + c] = rich_value(r, c);
            sp[r * N + c] = (uint8_t)sp_value(r, c);
        }
    int rc = 0;
    snprintf(p, sizeof p, "%s/layers/hab.tif", atlas);
    rc |= write_cog(p, GPN_DT_U8, 1, 0, 1, hab);
    snprintf(p, sizeof p, "%s/layers/rich.tif", atlas);
    rc |= write_cog(p, GPN_DT_F32, 1, -1, 0, rich);
    snprintf(p, sizeof p, "%s/layers/sp.tif", atlas);
    rc |= write_cog(p, GPN_DT_U8, 0, 0, 1, sp);
    free(hab);
    free(sp);
    free(rich);
    if (rc) return NULL;
    struct gpn_catalog *cat = NULL;
    struct gpn_err err = {0};
    snprintf(p, sizeof p, "%s/catalog.sqlite", atlas);
    if (gpn_catalog_open(p, GPN_CATALOG_CREATE, &cat, &err)) {
        fprintf(stderr, "catalog: %s\n", err.msg);
        return NULL;
    }
    rc |= add_layer(cat, "hab", "Habitats L3", GPN_LAYER_HABITATS_L3, "layers/hab.tif", "classes", HAB_META);
    rc |= add_layer(cat, "rich", "Species richness", GPN_LAYER_INDICATORS, "layers/rich.tif", "viridis:0:100",
                    "{\"units\":\"species\"}");
    rc |= add_layer(cat, "sp", "Fagus sylvatica", GPN_LAYER_SPECIES, "layers/sp.tif", "presence", NULL);
    gpn_catalog_close(cat);
    return rc ? NULL : atlas;
}

static struct gpn_http_app *make_app(const char *atlas, int cache_mb, int reload_s)
{
    struct gpn_http_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    gpn_http_cfg_defaults(&cfg);
    gpn_strlcpy(cfg.atlas, atlas, sizeof cfg.atlas);
    cfg.cache_mb = cache_mb;
    cfg.reload_s = reload_s;
    cfg.web_root[0] = 0;
    struct gpn_http_app *app = NULL;
    struct gpn_err err = {0};
    if (gpn_http_app_create(&cfg, &app, &err)) {
        fprintf(stderr, "app_create: %s\n", err.msg);
        return NULL;
    }
    return app;
}

static int get(struct gpn_http_app *app, const char *target, struct gpn_http_resp *resp)
{
    struct gpn_http_req req;
    struct gpn_err err = {0};
    gpn_http_resp_init(resp);
    if (gpn_http_req_init(&req, "GET", target, &err)) {
        gpn_http_req_free(&req);
        return -1;
    }
    gpn_http_req_add_header(&req, "Host", "maps.test:8080");
    int st = gpn_http_app_handle(app, &req, resp);
    /* File responses (cached tiles): read the window into the body. */
    if (resp->file_path[0]) {
        char *data;
        size_t len;
        if (gpn_file_read(resp->file_path, &data, &len, NULL) == 0) {
            gpn_buf_reset(&resp->body);
            gpn_buf_append(&resp->body, data + resp->file_off, (size_t)resp->file_len);
            free(data);
        }
    }
    gpn_http_req_free(&req);
    return st;
}

/* Decodes a PNG body to RGBA. */
static uint8_t *decode(const struct gpn_http_resp *r, int *w, int *h)
{
    uint8_t *rgba = NULL;
    struct gpn_err err = {0};
    if (gpn_png_decode(r->body.data, r->body.len, w, h, &rgba, &err)) {
        fprintf(stderr, "png: %s\n", err.msg);
        return NULL;
    }
    return rgba;
}

/* ==== parsing =========================================================== */

static int parse(const char *target, struct gpn_wms_request *w, struct gpn_wms_error *e)
{
    struct gpn_http_req req;
    struct gpn_err err = {0};
    if (gpn_http_req_init(&req, "GET", target, &err)) abort();
    int rc = gpn_wms_parse(&req, 4096, w, e);
    gpn_http_req_free(&req);
    return rc;
}

static void test_parse_axis_order(void)
{
    struct gpn_wms_request w;
    struct gpn_wms_error e;
    const char *base = "/wms?SERVICE=WMS&REQUEST=GetMap&LAYERS=a&STYLES=&WIDTH=10&HEIGHT=10&FORMAT=image/png";
    char t[512];
    /* 1.3.0 EPSG:4326: lat/lon. */
    snprintf(t, sizeof t, "%s&VERSION=1.3.0&CRS=EPSG:4326&BBOX=40,0,50,10", base);
    ASSERT_EQ_INT(parse(t, &w, &e), 0);
    ASSERT_NEAR(w.bbox[0], 0, 0);
    ASSERT_NEAR(w.bbox[1], 40, 0);
    ASSERT_NEAR(w.bbox[2], 10, 0);
    ASSERT_NEAR(w.bbox[3], 50, 0);
    ASSERT_TRUE(w.v130);
    /* 1.1.1 EPSG:4326: lon/lat. */
    snprintf(t, sizeof t, "%s&VERSION=1.1.1&SRS=EPSG:4326&BBOX=0,40,10,50", base);
    ASSERT_EQ_INT(parse(t, &w, &e), 0);
    ASSERT_FALSE(w.v130);
    ASSERT_NEAR(w.bbox[0], 0, 0);
    ASSERT_NEAR(w.bbox[1], 40, 0);
    /* CRS:84 and EPSG:3857 are x/y in 1.3.0. */
    snprintf(t, sizeof t, "%s&VERSION=1.3.0&CRS=CRS:84&BBOX=0,40,10,50", base);
    ASSERT_EQ_INT(parse(t, &w, &e), 0);
    ASSERT_NEAR(w.bbox[1], 40, 0);
    ASSERT_EQ_INT(w.epsg, 4326);
    snprintf(t, sizeof t, "%s&VERSION=1.3.0&CRS=EPSG:3857&BBOX=-100,-50,100,50", base);
    ASSERT_EQ_INT(parse(t, &w, &e), 0);
    ASSERT_NEAR(w.bbox[0], -100, 0);
    /* EPSG:3035 is northing/easting in 1.3.0, easting/northing in 1.1.1. */
    snprintf(t, sizeof t, "%s&VERSION=1.3.0&CRS=EPSG:3035&BBOX=2200000,3600000,2300000,3700000", base);
    ASSERT_EQ_INT(parse(t, &w, &e), 0);
    ASSERT_NEAR(w.bbox[0], 3600000, 0);
    ASSERT_NEAR(w.bbox[1], 2200000, 0);
    snprintf(t, sizeof t, "%s&VERSION=1.1.1&SRS=EPSG:3035&BBOX=3600000,2200000,3700000,2300000", base);
    ASSERT_EQ_INT(parse(t, &w, &e), 0);
    ASSERT_NEAR(w.bbox[0], 3600000, 0);
    ASSERT_NEAR(w.bbox[1], 2200000, 0);
    /* EPSG:900913 is an alias of web mercator. */
    snprintf(t, sizeof t, "%s&VERSION=1.1.1&SRS=epsg:900913&BBOX=0,0,1,1", base);
    ASSERT_EQ_INT(parse(t, &w, &e), 0);
    ASSERT_STR_EQ(w.crs, "EPSG:3857");
}

static void test_parse_errors(void)
{
    static const struct {
        const char *query;
        const char *code;
    } cases[] = {
        {"SERVICE=WMS&VERSION=1.3.0", "MissingParameterValue"},
        {"SERVICE=WMS&VERSION=1.3.0&REQUEST=GetStuff", "OperationNotSupported"},
        {"SERVICE=WFS&VERSION=1.3.0&REQUEST=GetMap", ""},
        {"SERVICE=WMS&VERSION=9.9.9&REQUEST=GetMap", ""},
        {"SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&CRS=EPSG:3857&BBOX=0,0,1,1&WIDTH=1&HEIGHT=1&FORMAT=image/png",
         "MissingParameterValue"},
        {"SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=a&STYLES=&BBOX=0,0,1,1&WIDTH=1&HEIGHT=1&FORMAT=image/png",
         "MissingParameterValue"},
        {"SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=a&STYLES=&CRS=EPSG:3857&WIDTH=1&HEIGHT=1&FORMAT=image/png",
         "MissingParameterValue"},
        {"SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=a&STYLES=&CRS=EPSG:3857&BBOX=0,0,1,1&WIDTH=0&HEIGHT=1&"
         "FORMAT=image/png",
         ""},
        {"SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=a&STYLES=&CRS=EPSG:3857&BBOX=0,0,1,1&WIDTH=5000&HEIGHT=1&"
         "FORMAT=image/png",
         ""},
        {"SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=a&STYLES=&CRS=EPSG:3857&BBOX=0,0,1,1&WIDTH=1x&HEIGHT=1&"
         "FORMAT=image/png",
         ""},
        {"SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=a&STYLES=&CRS=EPSG:3857&BBOX=0,0,1&WIDTH=1&HEIGHT=1&"
         "FORMAT=image/png",
         ""},
        {"SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=a&STYLES=&CRS=EPSG:3857&BBOX=1,0,0,1&WIDTH=1&HEIGHT=1&"
         "FORMAT=image/png",
         ""},
        {"SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=a&STYLES=&CRS=EPSG:3857&BBOX=nan,0,1,1&WIDTH=1&HEIGHT=1&"
         "FORMAT=image/png",
         ""},
        {"SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=a&STYLES=&CRS=EPSG:3857&BBOX=0,0,1,1&WIDTH=1&HEIGHT=1&"
         "FORMAT=image/gif",
         "InvalidFormat"},
        {"SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=a,b&STYLES=x&CRS=EPSG:3857&BBOX=0,0,1,1&WIDTH=1&HEIGHT=1&"
         "FORMAT=image/png",
         "StyleNotDefined"},
        {"SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=a&STYLES=&CRS=FOO:1&BBOX=0,0,1,1&WIDTH=1&HEIGHT=1&"
         "FORMAT=image/png",
         "InvalidCRS"},
        {"SERVICE=WMS&VERSION=1.1.1&REQUEST=GetMap&LAYERS=a&STYLES=&SRS=FOO:1&BBOX=0,0,1,1&WIDTH=1&HEIGHT=1&"
         "FORMAT=image/png",
         "InvalidSRS"},
        {"SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=a&STYLES=&CRS=EPSG:3857&BBOX=0,0,1,1&WIDTH=1&HEIGHT=1&"
         "FORMAT=image/png&TRANSPARENT=maybe",
         ""},
        {"SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=a&STYLES=&CRS=EPSG:3857&BBOX=0,0,1,1&WIDTH=1&HEIGHT=1&"
         "FORMAT=image/png&BGCOLOR=0xZZ0000",
         ""},
        {"SERVICE=WMS&VERSION=1.3.0&REQUEST=GetFeatureInfo&LAYERS=a&QUERY_LAYERS=a&STYLES=&CRS=EPSG:3857&BBOX=0,0,1,"
         "1&WIDTH=10&HEIGHT=10&I=10&J=0",
         "InvalidPoint"},
        {"SERVICE=WMS&VERSION=1.3.0&REQUEST=GetFeatureInfo&LAYERS=a&QUERY_LAYERS=a&STYLES=&CRS=EPSG:3857&BBOX=0,0,1,"
         "1&WIDTH=10&HEIGHT=10&I=-1&J=0",
         "InvalidPoint"},
        {"SERVICE=WMS&VERSION=1.3.0&REQUEST=GetFeatureInfo&LAYERS=a&STYLES=&CRS=EPSG:3857&BBOX=0,0,1,1&WIDTH=10&"
         "HEIGHT=10&I=1&J=0",
         "MissingParameterValue"},
        {"SERVICE=WMS&VERSION=1.3.0&REQUEST=GetFeatureInfo&LAYERS=a&QUERY_LAYERS=a&STYLES=&CRS=EPSG:3857&BBOX=0,0,1,"
         "1&WIDTH=10&HEIGHT=10&I=1&J=0&INFO_FORMAT=image/png",
         "InvalidFormat"},
        {"SERVICE=WMS&VERSION=1.3.0&REQUEST=GetLegendGraphic&FORMAT=image/png", "MissingParameterValue"},
        {"SERVICE=WMS&VERSION=1.3.0&REQUEST=GetCapabilities&FORMAT=application/pdf", "InvalidFormat"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char t[600];
        snprintf(t, sizeof t, "/wms?%s", cases[i].query);
        struct gpn_wms_request w;
        struct gpn_wms_error e;
        int rc = parse(t, &w, &e);
        if (rc != -1 || strcmp(e.code, cases[i].code))
            fprintf(stderr, "  case %zu: rc %d code '%s' (want '%s') msg %s\n", i, rc, e.code, cases[i].code,
                    e.message);
        ASSERT_EQ_INT(rc, -1);
        ASSERT_STR_EQ(e.code, cases[i].code);
        ASSERT_EQ_INT(e.http_status, 400);
        ASSERT_TRUE(e.message[0] != 0);
    }
}

static void test_exception_formats(void)
{
    struct gpn_http_resp r;
    struct gpn_wms_error e;
    gpn_wms_error_set(&e, 400, "LayerNotDefined", "layer <x> & \"y\"");
    gpn_http_resp_init(&r);
    gpn_wms_exception(&r, 1, &e);
    ASSERT_EQ_INT(r.status, 400);
    ASSERT_STR_CONTAINS(r.content_type, "text/xml");
    ASSERT_STR_CONTAINS(r.body.data, "<ServiceExceptionReport version=\"1.3.0\" xmlns=\"http://www.opengis.net/ogc\"");
    ASSERT_STR_CONTAINS(r.body.data, "<ServiceException code=\"LayerNotDefined\">layer &lt;x&gt; &amp; &quot;y&quot;<");
    gpn_http_resp_free(&r);
    gpn_http_resp_init(&r);
    gpn_wms_exception(&r, 0, &e);
    ASSERT_STR_CONTAINS(r.content_type, "application/vnd.ogc.se_xml");
    ASSERT_STR_CONTAINS(r.body.data, "WMS_exception_1_1_1.dtd");
    ASSERT_STR_CONTAINS(r.body.data, "<ServiceExceptionReport version=\"1.1.1\">");
    gpn_http_resp_free(&r);
    gpn_wms_error_set(&e, 400, "", "no code");
    gpn_http_resp_init(&r);
    gpn_wms_exception(&r, 1, &e);
    ASSERT_STR_CONTAINS(r.body.data, "<ServiceException>no code</ServiceException>");
    gpn_http_resp_free(&r);
}

/* ==== styles ============================================================ */

static void test_style_ramp(void)
{
    struct gpn_style s;
    struct gpn_err err = {0};
    ASSERT_OK(gpn_style_build("viridis:0:100", GPN_DT_F32, 5, 6, NULL, 0, &s, &err), &err);
    ASSERT_EQ_INT(s.kind, GPN_STYLE_RAMP);
    ASSERT_NEAR(s.vmin, 0, 0);
    ASSERT_NEAR(s.vmax, 100, 0);
    ASSERT_EQ_INT(gpn_style_index(&s, 0), 1);
    ASSERT_EQ_INT(gpn_style_index(&s, -5), 1);
    ASSERT_EQ_INT(gpn_style_index(&s, 100), 255);
    ASSERT_EQ_INT(gpn_style_index(&s, 1e9), 255);
    ASSERT_EQ_INT(gpn_style_index(&s, 50), 128);
    ASSERT_EQ_INT(gpn_style_index(&s, NAN), 0);
    /* matplotlib viridis(0) = (0.267004, 0.004874, 0.329415), viridis(1) = (0.993248, 0.906157, 0.143936). */
    ASSERT_EQ_INT(s.pal[1][0], 68);
    ASSERT_EQ_INT(s.pal[1][1], 1);
    ASSERT_EQ_INT(s.pal[1][2], 84);
    ASSERT_EQ_INT(s.pal[255][0], 253);
    ASSERT_EQ_INT(s.pal[255][1], 231);
    ASSERT_EQ_INT(s.pal[255][2], 37);
    ASSERT_EQ_INT(s.pal[0][3], 0);
    /* Perceptually ordered: the lightness (luma) grows along viridis. */
    double prev = -1;
    for (int i = 1; i < 256; i += 16) {
        double y = 0.2126 * s.pal[i][0] + 0.7152 * s.pal[i][1] + 0.0722 * s.pal[i][2];
        ASSERT_TRUE(y > prev);
        prev = y;
    }
    gpn_style_free(&s);
    /* Default range from the data; grey 1..255 is the identity. */
    ASSERT_OK(gpn_style_build("grey:1:255", GPN_DT_U8, 0, 1, NULL, 0, &s, &err), &err);
    for (int v = 1; v <= 255; v++) {
        int idx = gpn_style_index(&s, v);
        ASSERT_EQ_INT(idx, v);
        ASSERT_EQ_INT(s.pal[idx][0], v);
    }
    gpn_style_free(&s);
    ASSERT_OK(gpn_style_build("magma", GPN_DT_F32, 10, 20, NULL, 0, &s, &err), &err);
    ASSERT_NEAR(s.vmin, 10, 0);
    ASSERT_NEAR(s.vmax, 20, 0);
    gpn_style_free(&s);
    ASSERT_RC(gpn_style_build("viridis:5:5", GPN_DT_F32, 0, 1, NULL, 0, &s, &err), GPN_EINVAL);
    ASSERT_RC(gpn_style_build("rainbow", GPN_DT_F32, 0, 1, NULL, 0, &s, &err), GPN_EINVAL);
    ASSERT_RC(gpn_style_build("viridis:a:1", GPN_DT_F32, 0, 1, NULL, 0, &s, &err), GPN_EFORMAT);
}

static void test_style_classes_presence(void)
{
    struct gpn_style_class cl[5] = {
        {30, "T12", ""}, {10, "T11", "Riparian forest"}, {20, "R1", ""}, {40, "Q5", ""}, {50, "X9", "other"}};
    struct gpn_style s;
    struct gpn_err err = {0};
    ASSERT_OK(gpn_style_build("classes", GPN_DT_U8, 0, 0, cl, 5, &s, &err), &err);
    ASSERT_EQ_INT(s.n_classes, 5);
    ASSERT_NEAR(s.classes[0].value, 10, 0); /* sorted */
    ASSERT_EQ_INT(gpn_style_index(&s, 10), 1);
    ASSERT_EQ_INT(gpn_style_index(&s, 50), 5);
    ASSERT_EQ_INT(gpn_style_index(&s, 15), 0);
    ASSERT_STR_EQ(gpn_style_class_of_index(&s, 1)->code, "T11");
    /* Distinct colours; forests green-dominant, wetlands blue-dominant. */
    for (int i = 1; i <= 5; i++)
        for (int j = i + 1; j <= 5; j++) ASSERT_TRUE(memcmp(s.pal[i], s.pal[j], 3) != 0);
    ASSERT_TRUE(s.pal[1][1] > s.pal[1][0] && s.pal[1][1] > s.pal[1][2]);
    ASSERT_TRUE(s.pal[4][2] > s.pal[4][0]);
    char buf[200];
    gpn_style_describe(&s, 10, 0, buf, sizeof buf);
    ASSERT_STR_EQ(buf, "T11 Riparian forest");
    gpn_style_describe(&s, 10, 1, buf, sizeof buf);
    ASSERT_STR_EQ(buf, "no data");
    gpn_style_free(&s);
    ASSERT_RC(gpn_style_build("classes", GPN_DT_U8, 0, 0, NULL, 0, &s, &err), GPN_EINVAL);
    struct gpn_style_class dup[2] = {{1, "A", ""}, {1, "B", ""}};
    ASSERT_RC(gpn_style_build("classes", GPN_DT_U8, 0, 0, dup, 2, &s, &err), GPN_EINVAL);

    ASSERT_OK(gpn_style_build("presence", GPN_DT_U8, 0, 1, NULL, 0, &s, &err), &err);
    ASSERT_EQ_INT(gpn_style_index(&s, 1), 1);
    ASSERT_EQ_INT(gpn_style_index(&s, 0), 2);
    ASSERT_EQ_INT(s.pal[2][3], 0); /* absences transparent */
    gpn_style_describe(&s, 1, 0, buf, sizeof buf);
    ASSERT_STR_EQ(buf, "present");
    gpn_style_free(&s);
    ASSERT_OK(gpn_style_build("presence:0.3:#ff0000", GPN_DT_F32, 0, 1, NULL, 0, &s, &err), &err);
    ASSERT_EQ_INT(gpn_style_index(&s, 0.31), 1);
    ASSERT_EQ_INT(gpn_style_index(&s, 0.29), 2);
    ASSERT_EQ_INT(s.pal[1][0], 255);
    ASSERT_EQ_INT(s.pal[1][1], 0);
    gpn_style_free(&s);
    /* EUNIS colours: levels of one group share the hue family. */
    uint8_t t[3], t1[3], q[3];
    gpn_style_eunis_colour("T", t);
    gpn_style_eunis_colour("T1", t1);
    gpn_style_eunis_colour("Q", q);
    ASSERT_TRUE(t[1] > t[0] && t1[1] > t1[0]);
    ASSERT_TRUE(q[2] > q[1]);
}

/* ==== capabilities ====================================================== */

static void test_capabilities(void)
{
    const char *atlas = make_atlas();
    ASSERT_TRUE(atlas != NULL);
    struct gpn_http_app *app = make_app(atlas, 0, 0);
    ASSERT_TRUE(app != NULL);
    struct gpn_http_resp r;
    ASSERT_EQ_INT(get(app, "/wms?SERVICE=WMS&REQUEST=GetCapabilities", &r), 200);
    const char *x = r.body.data;
    ASSERT_STR_CONTAINS(x, "<WMS_Capabilities version=\"1.3.0\"");
    ASSERT_STR_CONTAINS(x, "<CRS>EPSG:3857</CRS>");
    ASSERT_STR_CONTAINS(x, "<CRS>CRS:84</CRS>");
    ASSERT_STR_CONTAINS(x, "<CRS>EPSG:3035</CRS>");
    ASSERT_STR_CONTAINS(x, "<Title>Species</Title>");
    ASSERT_STR_CONTAINS(x, "<Title>Indicators</Title>");
    ASSERT_STR_CONTAINS(x, "<Title>Habitats (EUNIS)</Title>");
    ASSERT_STR_CONTAINS(x, "<Title>Level 3</Title>");
    ASSERT_STR_CONTAINS(x, "<Layer queryable=\"1\" opaque=\"0\">\n<Name>hab</Name>");
    ASSERT_STR_CONTAINS(x, "<sld:GetLegendGraphic>");
    ASSERT_STR_CONTAINS(x, "xlink:href=\"http://maps.test:8080/wms?SERVICE=WMS&amp;VERSION=1.3.0&amp;"
                           "REQUEST=GetLegendGraphic");
    /* EPSG:3035 bbox of the layers: 1.3.0 order is northing first. */
    ASSERT_STR_CONTAINS(x, "<BoundingBox CRS=\"EPSG:3035\" minx=\"2290000.00\" miny=\"3600000.00\" "
                           "maxx=\"2300000.00\" maxy=\"3610000.00\"/>");
    /* Species group before indicators before habitats. */
    ASSERT_TRUE(strstr(x, "<Title>Species</Title>") < strstr(x, "<Title>Indicators</Title>"));
    ASSERT_TRUE(strstr(x, "<Title>Indicators</Title>") < strstr(x, "<Title>Habitats (EUNIS)</Title>"));
    /* The ramp layer offers its alternatives. */
    ASSERT_STR_CONTAINS(x, "<Style><Name>magma</Name>");
    /* EPSG:4326 bbox is lat/lon in 1.3.0: miny is a longitude (~1-2 deg), minx a latitude (~43). */
    const char *bb = strstr(x, "<Name>rich</Name>");
    ASSERT_TRUE(bb != NULL);
    bb = strstr(bb, "<BoundingBox CRS=\"EPSG:4326\" minx=\"");
    ASSERT_TRUE(bb != NULL);
    double minx = atof(bb + strlen("<BoundingBox CRS=\"EPSG:4326\" minx=\""));
    ASSERT_TRUE(minx > 40 && minx < 50);
    gpn_http_resp_free(&r);

    ASSERT_EQ_INT(get(app, "/wms?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetCapabilities", &r), 200);
    x = r.body.data;
    ASSERT_STR_CONTAINS(r.content_type, "application/vnd.ogc.wms_xml");
    ASSERT_STR_CONTAINS(x, "<WMT_MS_Capabilities version=\"1.1.1\"");
    ASSERT_STR_CONTAINS(x, "<SRS>EPSG:3035</SRS>");
    ASSERT_STR_CONTAINS(x, "<LatLonBoundingBox minx=\"");
    ASSERT_STR_CONTAINS(x, "<BoundingBox SRS=\"EPSG:3035\" minx=\"3600000.00\" miny=\"2290000.00\"");
    ASSERT_TRUE(strstr(x, "CRS:84") == NULL);
    gpn_http_resp_free(&r);
    /* updateSequence: current -> CurrentUpdateSequence, ahead -> InvalidUpdateSequence. */
    ASSERT_EQ_INT(get(app, "/wms?SERVICE=WMS&REQUEST=GetCapabilities&UPDATESEQUENCE=1", &r), 400);
    ASSERT_STR_CONTAINS(r.body.data, "code=\"CurrentUpdateSequence\"");
    gpn_http_resp_free(&r);
    ASSERT_EQ_INT(get(app, "/wms?SERVICE=WMS&REQUEST=GetCapabilities&UPDATESEQUENCE=7", &r), 400);
    ASSERT_STR_CONTAINS(r.body.data, "code=\"InvalidUpdateSequence\"");
    gpn_http_resp_free(&r);
    /* Errors through the app: unknown layer and style, HTTP 400. */
    ASSERT_EQ_INT(get(app,
                      "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=nope&STYLES=&CRS=EPSG:3857&BBOX=0,0,1,1&"
                      "WIDTH=8&HEIGHT=8&FORMAT=image/png",
                      &r),
                  400);
    ASSERT_STR_CONTAINS(r.body.data, "code=\"LayerNotDefined\"");
    gpn_http_resp_free(&r);
    ASSERT_EQ_INT(get(app,
                      "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=rich&STYLES=rainbow&CRS=EPSG:3857&BBOX=0,0,"
                      "1,1&WIDTH=8&HEIGHT=8&FORMAT=image/png",
                      &r),
                  400);
    ASSERT_STR_CONTAINS(r.body.data, "code=\"StyleNotDefined\"");
    gpn_http_resp_free(&r);
    ASSERT_EQ_INT(get(app,
                      "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=rich&STYLES=&CRS=EPSG:32632&BBOX=0,0,"
                      "1,1&WIDTH=8&HEIGHT=8&FORMAT=image/png",
                      &r),
                  400);
    ASSERT_STR_CONTAINS(r.body.data, "code=\"InvalidCRS\"");
    gpn_http_resp_free(&r);
    /* EXCEPTIONS=BLANK: an image of the requested size instead. */
    ASSERT_EQ_INT(get(app,
                      "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=nope&STYLES=&CRS=EPSG:3857&BBOX=0,0,1,1&"
                      "WIDTH=8&HEIGHT=6&FORMAT=image/png&EXCEPTIONS=BLANK",
                      &r),
                  200);
    int w, h;
    uint8_t *px = decode(&r, &w, &h);
    ASSERT_TRUE(px != NULL);
    ASSERT_EQ_INT(w, 8);
    ASSERT_EQ_INT(h, 6);
    free(px);
    gpn_http_resp_free(&r);
    gpn_http_app_destroy(app);
}

/* ==== GetMap ============================================================ */

/* Colour of value v under the layer's default style, from a 1-pixel GetMap legend-free check: we
 * rebuild the style exactly as the server does. */
static void style_colour(const char *spec, enum gpn_dtype dt, const struct gpn_style_class *cl, int ncl, double v,
                         uint8_t out[4])
{
    struct gpn_style s;
    struct gpn_err err = {0};
    if (gpn_style_build(spec, dt, 0, 1, cl, ncl, &s, &err)) abort();
    memcpy(out, s.pal[gpn_style_index(&s, v)], 4);
    gpn_style_free(&s);
}

static void test_getmap_identity(void)
{
    const char *atlas = make_atlas();
    ASSERT_TRUE(atlas != NULL);
    struct gpn_http_app *app = make_app(atlas, 0, 0);
    ASSERT_TRUE(app != NULL);
    struct gpn_http_resp r;
    /* The native grid exactly: output pixel (i, j) = source cell (j, i). 1.3.0 EPSG:3035: N,E order. */
    ASSERT_EQ_INT(get(app,
                      "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=rich&STYLES=&CRS=EPSG:3035&"
                      "BBOX=2290000,3600000,2300000,3610000&WIDTH=200&HEIGHT=200&FORMAT=image/png&TRANSPARENT=TRUE",
                      &r),
                  200);
    ASSERT_STR_EQ(r.content_type, "image/png");
    ASSERT_TRUE(r.body.len > 8 && r.body.data[25] == 3); /* PNG colour type 3: palette */
    int w, h;
    uint8_t *px = decode(&r, &w, &h);
    ASSERT_TRUE(px != NULL);
    ASSERT_EQ_INT(w, N);
    long bad = 0;
    for (int row = 0; row < N; row++)
        for (int c = 0; c < N; c++) {
            uint8_t want[4];
            float v = rich_value(row, c);
            if (v == -1.0f) {
                want[3] = 0;
                if (px[(row * N + c) * 4 + 3] != 0) bad++;
                continue;
            }
            style_colour("viridis:0:100", GPN_DT_F32, NULL, 0, v, want);
            if (memcmp(px + (row * N + c) * 4, want, 4)) bad++;
        }
    ASSERT_EQ_INT(bad, 0);
    free(px);
    gpn_http_resp_free(&r);

    /* The same request at half resolution reads the overview. */
    ASSERT_EQ_INT(get(app,
                      "/wms?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetMap&LAYERS=hab&STYLES=&SRS=EPSG:3035&"
                      "BBOX=3600000,2290000,3610000,2300000&WIDTH=100&HEIGHT=100&FORMAT=image/png&TRANSPARENT=TRUE",
                      &r),
                  200);
    px = decode(&r, &w, &h);
    ASSERT_TRUE(px != NULL);
    struct gpn_style_class cl[4] = {{1, "T11", ""}, {2, "R1", ""}, {3, "Q5", ""}, {4, "V1", ""}};
    int samples[4][2] = {{25, 25}, {25, 75}, {75, 25}, {75, 75}};
    for (int k = 0; k < 4; k++) {
        uint8_t want[4];
        int row = samples[k][0], c = samples[k][1];
        style_colour("classes", GPN_DT_U8, cl, 4, hab_value(row * 2, c * 2), want);
        ASSERT_TRUE(memcmp(px + (row * 100 + c) * 4, want, 4) == 0);
    }
    ASSERT_EQ_INT(px[3], 0); /* nodata strip: transparent */
    free(px);
    gpn_http_resp_free(&r);
    gpn_http_app_destroy(app);
}

static void test_getmap_reprojection(void)
{
    const char *atlas = make_atlas();
    ASSERT_TRUE(atlas != NULL);
    struct gpn_http_app *app = make_app(atlas, 0, 0);
    ASSERT_TRUE(app != NULL);
    /* The layer's extent in EPSG:3857, slightly inside. */
    struct gpn_transform *to3857 = NULL, *to3035 = NULL;
    struct gpn_err err = {0};
    ASSERT_OK(gpn_transform_create("EPSG:3035", "EPSG:3857", &to3857, &err), &err);
    ASSERT_OK(gpn_transform_create("EPSG:3857", "EPSG:3035", &to3035, &err), &err);
    double in[4] = {X0 + 500, Y1 - N * RES + 500, X0 + N * RES - 500, Y1 - 500}, bb[4];
    ASSERT_OK(gpn_transform_bbox(to3857, in, bb, &err), &err);
    int W = 256, H = 256;
    char t[512];
    snprintf(t, sizeof t,
             "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=hab&STYLES=&CRS=EPSG:3857&BBOX=%.6f,%.6f,%.6f,%.6f"
             "&WIDTH=%d&HEIGHT=%d&FORMAT=image/png&TRANSPARENT=TRUE",
             bb[0], bb[1], bb[2], bb[3], W, H);
    struct gpn_http_resp r;
    ASSERT_EQ_INT(get(app, t, &r), 200);
    int w, h;
    uint8_t *px = decode(&r, &w, &h);
    ASSERT_TRUE(px != NULL);
    struct gpn_style_class cl[4] = {{1, "T11", ""}, {2, "R1", ""}, {3, "Q5", ""}, {4, "V1", ""}};
    uint8_t pal[5][4];
    for (int v = 1; v <= 4; v++) style_colour("classes", GPN_DT_U8, cl, 4, v, pal[v]);
    memset(pal[0], 0, 4);
    /* Expected value: exact transform of every pixel centre. */
    long n = 0, ok = 0;
    for (int j = 0; j < H; j++)
        for (int i = 0; i < W; i++) {
            double x = bb[0] + (i + 0.5) * (bb[2] - bb[0]) / W, y = bb[3] - (j + 0.5) * (bb[3] - bb[1]) / H;
            gpn_transform_points(to3035, &x, &y, 1, NULL);
            int c = (int)floor((x - X0) / RES), row = (int)floor((Y1 - y) / RES);
            int v = (c < 0 || row < 0 || c >= N || row >= N) ? 0 : hab_value(row, c);
            n++;
            if (!memcmp(px + (j * W + i) * 4, pal[v], v ? 4 : 1) && (v || px[(j * W + i) * 4 + 3] == 0)) ok++;
        }
    /* Class boundaries are the only places an interpolated position may
     * fall on the other side: allow 0.5% of pixels. */
    fprintf(stderr, "  reprojected pixels equal: %ld / %ld\n", ok, n);
    ASSERT_TRUE(ok >= n * 995 / 1000);
    free(px);
    gpn_http_resp_free(&r);
    gpn_transform_destroy(to3857);
    gpn_transform_destroy(to3035);
    gpn_http_app_destroy(app);
}

static void test_getmap_axis_versions(void)
{
    const char *atlas = make_atlas();
    ASSERT_TRUE(atlas != NULL);
    struct gpn_http_app *app = make_app(atlas, 0, 0);
    ASSERT_TRUE(app != NULL);
    struct gpn_transform *t = NULL;
    struct gpn_err err = {0};
    ASSERT_OK(gpn_transform_create("EPSG:3035", "EPSG:4326", &t, &err), &err);
    double in[4] = {X0, Y1 - N * RES, X0 + N * RES, Y1}, ll[4];
    ASSERT_OK(gpn_transform_bbox(t, in, ll, &err), &err);
    gpn_transform_destroy(t);
    char a[512], b[512];
    snprintf(a, sizeof a,
             "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=sp&STYLES=&CRS=EPSG:4326&BBOX=%.8f,%.8f,%.8f,%.8f"
             "&WIDTH=64&HEIGHT=64&FORMAT=image/png",
             ll[1], ll[0], ll[3], ll[2]);
    snprintf(b, sizeof b,
             "/wms?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetMap&LAYERS=sp&STYLES=&SRS=EPSG:4326&BBOX=%.8f,%.8f,%.8f,%.8f"
             "&WIDTH=64&HEIGHT=64&FORMAT=image/png",
             ll[0], ll[1], ll[2], ll[3]);
    struct gpn_http_resp ra, rb;
    ASSERT_EQ_INT(get(app, a, &ra), 200);
    ASSERT_EQ_INT(get(app, b, &rb), 200);
    ASSERT_EQ_INT(ra.body.len, rb.body.len);
    ASSERT_TRUE(memcmp(ra.body.data, rb.body.data, ra.body.len) == 0);
    /* And the map is not empty: both presence and absence are drawn. */
    int w, h;
    uint8_t *px = decode(&ra, &w, &h);
    ASSERT_TRUE(px != NULL);
    int present = 0;
    for (int i = 0; i < w * h; i++) present += px[i * 4 + 1] == 0x78;
    ASSERT_TRUE(present > w * h / 4 && present < w * h * 3 / 4);
    free(px);
    gpn_http_resp_free(&ra);
    gpn_http_resp_free(&rb);
    /* 1.3.0 with the axes the wrong way round misses the data entirely. */
    snprintf(a, sizeof a,
             "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=sp&STYLES=&CRS=EPSG:4326&BBOX=%.8f,%.8f,%.8f,%.8f"
             "&WIDTH=64&HEIGHT=64&FORMAT=image/png&TRANSPARENT=TRUE",
             ll[0], ll[1], ll[2], ll[3]);
    ASSERT_EQ_INT(get(app, a, &ra), 200);
    px = decode(&ra, &w, &h);
    ASSERT_TRUE(px != NULL);
    int opaque = 0;
    for (int i = 0; i < w * h; i++) opaque += px[i * 4 + 3] != 0;
    ASSERT_EQ_INT(opaque, 0);
    free(px);
    gpn_http_resp_free(&ra);
    gpn_http_app_destroy(app);
}

/* Collects the distinct opaque colours of an RGBA image (up to 512). */
static int colour_set(const uint8_t *px, int n, uint32_t *set, int max)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (px[i * 4 + 3] != 255) continue;
        uint32_t c = (uint32_t)px[i * 4] << 16 | (uint32_t)px[i * 4 + 1] << 8 | px[i * 4 + 2];
        int found = 0;
        for (int j = 0; j < k; j++)
            if (set[j] == c) found = 1;
        if (!found && k < max) set[k++] = c;
    }
    return k;
}

static void legend_vs_map(struct gpn_http_app *app, const char *layer, const char *style, int min_colours)
{
    char t[512];
    snprintf(t, sizeof t,
             "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=%s&STYLES=%s&CRS=EPSG:3035&"
             "BBOX=2290000,3600000,2300000,3610000&WIDTH=200&HEIGHT=200&FORMAT=image/png&TRANSPARENT=TRUE",
             layer, style);
    struct gpn_http_resp rm, rl;
    ASSERT_EQ_INT(get(app, t, &rm), 200);
    snprintf(t, sizeof t, "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetLegendGraphic&LAYER=%s&STYLE=%s&FORMAT=image/png",
             layer, style);
    ASSERT_EQ_INT(get(app, t, &rl), 200);
    ASSERT_STR_EQ(rl.content_type, "image/png");
    int mw, mh, lw, lh;
    uint8_t *mp = decode(&rm, &mw, &mh), *lp = decode(&rl, &lw, &lh);
    ASSERT_TRUE(mp && lp);
    static uint32_t ms[512], ls[4096];
    int nm = colour_set(mp, mw * mh, ms, 512);
    int nl = colour_set(lp, lw * lh, ls, 4096);
    ASSERT_TRUE(nm >= min_colours);
    /* Every colour of the map is drawn in the legend. */
    for (int i = 0; i < nm; i++) {
        int found = 0;
        for (int j = 0; j < nl; j++)
            if (ls[j] == ms[i]) found = 1;
        if (!found) fprintf(stderr, "  %s/%s: map colour #%06x missing from the legend\n", layer, style, ms[i]);
        ASSERT_TRUE(found);
    }
    free(mp);
    free(lp);
    gpn_http_resp_free(&rm);
    gpn_http_resp_free(&rl);
}

static void test_legend_matches_map(void)
{
    const char *atlas = make_atlas();
    ASSERT_TRUE(atlas != NULL);
    struct gpn_http_app *app = make_app(atlas, 0, 0);
    ASSERT_TRUE(app != NULL);
    legend_vs_map(app, "hab", "", 4);
    legend_vs_map(app, "rich", "", 150);
    legend_vs_map(app, "rich", "cividis", 150);
    legend_vs_map(app, "sp", "", 1);
    /* Legend errors. */
    struct gpn_http_resp r;
    ASSERT_EQ_INT(get(app, "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetLegendGraphic&LAYER=zz&FORMAT=image/png", &r),
                  400);
    ASSERT_STR_CONTAINS(r.body.data, "LayerNotDefined");
    gpn_http_resp_free(&r);
    ASSERT_EQ_INT(
        get(app, "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetLegendGraphic&LAYER=hab&STYLE=zz&FORMAT=image/png", &r),
        400);
    ASSERT_STR_CONTAINS(r.body.data, "StyleNotDefined");
    gpn_http_resp_free(&r);
    gpn_http_app_destroy(app);
}

/* ==== GetFeatureInfo ==================================================== */

static void test_getfeatureinfo(void)
{
    const char *atlas = make_atlas();
    ASSERT_TRUE(atlas != NULL);
    struct gpn_http_app *app = make_app(atlas, 0, 0);
    ASSERT_TRUE(app != NULL);
    const char *base = "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetFeatureInfo&LAYERS=hab,rich,sp&STYLES=,,&"
                       "CRS=EPSG:3035&BBOX=2290000,3600000,2300000,3610000&WIDTH=200&HEIGHT=200";
    char t[600];
    /* Pixel (I=150, J=150): hab class 4 (V1), rich 150*100/199, sp block (15+15)%2 = 0. */
    snprintf(t, sizeof t, "%s&QUERY_LAYERS=hab,rich,sp&I=150&J=150&INFO_FORMAT=application/json", base);
    struct gpn_http_resp r;
    ASSERT_EQ_INT(get(app, t, &r), 200);
    ASSERT_STR_EQ(r.content_type, "application/json");
    const char *x = r.body.data;
    ASSERT_STR_CONTAINS(x, "\"type\":\"FeatureCollection\"");
    ASSERT_STR_CONTAINS(x, "\"code\":\"V1\",\"name\":\"Arable land and market gardens\"");
    ASSERT_STR_CONTAINS(x, "\"meaning\":\"V1 Arable land and market gardens\"");
    ASSERT_STR_CONTAINS(x, "\"value\":75.37688");
    ASSERT_STR_CONTAINS(x, "\"units\":\"species\"");
    ASSERT_STR_CONTAINS(x, "\"present\":false");
    ASSERT_STR_CONTAINS(x, "\"coordinates\":[");
    gpn_http_resp_free(&r);
    /* 1.1.1 X/Y, text/plain; a present species cell (row 5, col 15: (0+1)%2 = 1). */
    snprintf(t, sizeof t,
             "/wms?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetFeatureInfo&LAYERS=sp&STYLES=&SRS=EPSG:3035&"
             "BBOX=3600000,2290000,3610000,2300000&WIDTH=200&HEIGHT=200&QUERY_LAYERS=sp,hab&X=15&Y=5&"
             "INFO_FORMAT=text/plain");
    ASSERT_EQ_INT(get(app, t, &r), 200);
    ASSERT_STR_CONTAINS(r.body.data, "Layer 'sp'\n  value = 1\n  meaning = present\n");
    ASSERT_STR_CONTAINS(r.body.data, "Layer 'hab'\n  value = 1\n  meaning = T11 Temperate Salix");
    gpn_http_resp_free(&r);
    /* Nodata (the top strip), HTML. */
    snprintf(t, sizeof t, "%s&QUERY_LAYERS=hab&I=50&J=1&INFO_FORMAT=text/html", base);
    ASSERT_EQ_INT(get(app, t, &r), 200);
    ASSERT_STR_CONTAINS(r.content_type, "text/html");
    ASSERT_STR_CONTAINS(r.body.data, "<td>no data</td>");
    gpn_http_resp_free(&r);
    /* Unknown query layer. */
    snprintf(t, sizeof t, "%s&QUERY_LAYERS=zz&I=1&J=1", base);
    ASSERT_EQ_INT(get(app, t, &r), 400);
    ASSERT_STR_CONTAINS(r.body.data, "LayerNotDefined");
    gpn_http_resp_free(&r);
    gpn_http_app_destroy(app);
}

/* ==== formats =========================================================== */

static void test_formats(void)
{
    const char *atlas = make_atlas();
    ASSERT_TRUE(atlas != NULL);
    struct gpn_http_app *app = make_app(atlas, 0, 0);
    ASSERT_TRUE(app != NULL);
    const char *base = "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=hab&STYLES=&CRS=EPSG:3035&"
                       "BBOX=2290000,3600000,2300000,3610000&WIDTH=100&HEIGHT=100";
    char t[600];
    struct gpn_http_resp r;
    snprintf(t, sizeof t, "%s&FORMAT=image/jpeg", base);
    ASSERT_EQ_INT(get(app, t, &r), 200);
    ASSERT_STR_EQ(r.content_type, "image/jpeg");
    ASSERT_TRUE((unsigned char)r.body.data[0] == 0xFF && (unsigned char)r.body.data[1] == 0xD8);
    gpn_http_resp_free(&r);
    if (gpn_image_webp_available()) {
        snprintf(t, sizeof t, "%s&FORMAT=image/webp", base);
        ASSERT_EQ_INT(get(app, t, &r), 200);
        ASSERT_STR_EQ(r.content_type, "image/webp");
        ASSERT_TRUE(!memcmp(r.body.data, "RIFF", 4) && !memcmp(r.body.data + 8, "WEBP", 4));
        gpn_http_resp_free(&r);
    }
    /* TRANSPARENT=FALSE with BGCOLOR: nodata pixels take the background. */
    snprintf(t, sizeof t, "%s&FORMAT=image/png&BGCOLOR=0x102030", base);
    ASSERT_EQ_INT(get(app, t, &r), 200);
    int w, h;
    uint8_t *px = decode(&r, &w, &h);
    ASSERT_TRUE(px != NULL);
    ASSERT_EQ_INT(px[0], 0x10);
    ASSERT_EQ_INT(px[1], 0x20);
    ASSERT_EQ_INT(px[2], 0x30);
    ASSERT_EQ_INT(px[3], 255);
    free(px);
    gpn_http_resp_free(&r);
    /* Two layers composed into one RGBA image. */
    ASSERT_EQ_INT(get(app,
                      "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=rich,sp&STYLES=,&CRS=EPSG:3035&"
                      "BBOX=2290000,3600000,2300000,3610000&WIDTH=200&HEIGHT=200&FORMAT=image/png&TRANSPARENT=TRUE",
                      &r),
                  200);
    ASSERT_EQ_INT(r.body.data[25], 6); /* RGBA */
    px = decode(&r, &w, &h);
    ASSERT_TRUE(px != NULL);
    /* Cell (row 5, col 15) is present: the presence colour covers the ramp. */
    ASSERT_EQ_INT(px[(5 * 200 + 15) * 4 + 1], 0x78);
    /* Cell (row 5, col 5) is absent: the ramp shows through. */
    uint8_t want[4];
    style_colour("viridis:0:100", GPN_DT_F32, NULL, 0, rich_value(5, 5), want);
    ASSERT_TRUE(memcmp(px + (5 * 200 + 5) * 4, want, 4) == 0);
    free(px);
    gpn_http_resp_free(&r);
    gpn_http_app_destroy(app);
}

/* ==== tiles, cache, versions, WMTS, TileJSON, seeding =================== */

/* The XYZ tile containing the centre of the test rasters at zoom z. */
static void centre_tile(int z, int *x, int *y)
{
    struct gpn_transform *t = NULL;
    gpn_transform_create("EPSG:3035", "EPSG:4326", &t, NULL);
    double lon = X0 + N * RES / 2, lat = Y1 - N * RES / 2;
    gpn_transform_points(t, &lon, &lat, 1, NULL);
    gpn_transform_destroy(t);
    double n = (double)(1 << z), r = lat * M_PI / 180;
    *x = (int)floor((lon + 180) / 360 * n);
    *y = (int)floor((1 - log(tan(r) + 1 / cos(r)) / M_PI) / 2 * n);
}

static void test_tiles_cache_versions(void)
{
    const char *atlas = make_atlas();
    ASSERT_TRUE(atlas != NULL);
    struct gpn_http_app *app = make_app(atlas, 64, 1);
    ASSERT_TRUE(app != NULL);
    int x, y;
    centre_tile(13, &x, &y);
    char t[256];
    snprintf(t, sizeof t, "/tiles/hab/13/%d/%d.png", x, y);
    struct gpn_http_resp r;
    ASSERT_EQ_INT(get(app, t, &r), 200);
    ASSERT_STR_EQ(gpn_http_resp_get_header(&r, "X-Cache"), "MISS");
    ASSERT_STR_CONTAINS(gpn_http_resp_get_header(&r, "Cache-Control"), "max-age=3600");
    struct gpn_buf first = r.body;
    memset(&r.body, 0, sizeof r.body);
    char etag[64];
    gpn_strlcpy(etag, gpn_http_resp_get_header(&r, "ETag"), sizeof etag);
    gpn_http_resp_free(&r);
    ASSERT_EQ_INT(get(app, t, &r), 200);
    ASSERT_STR_EQ(gpn_http_resp_get_header(&r, "X-Cache"), "HIT");
    ASSERT_EQ_INT(r.body.len, first.len);
    ASSERT_TRUE(memcmp(r.body.data, first.data, first.len) == 0);
    gpn_http_resp_free(&r);
    gpn_buf_free(&first);
    char cached[900];
    snprintf(cached, sizeof cached, "%s/cache/hab/v1/classes/13/%d/%d.png", atlas, x, y);
    ASSERT_TRUE(gpn_path_exists(cached));
    /* Conditional request: 304. */
    {
        struct gpn_http_req req;
        struct gpn_err err = {0};
        gpn_http_resp_init(&r);
        ASSERT_OK(gpn_http_req_init(&req, "GET", t, &err), &err);
        gpn_http_req_add_header(&req, "If-None-Match", etag);
        ASSERT_EQ_INT(gpn_http_app_handle(app, &req, &r), 304);
        gpn_http_req_free(&req);
        gpn_http_resp_free(&r);
    }
    /* A tile far away: empty, transparent, not cached. */
    ASSERT_EQ_INT(get(app, "/tiles/hab/13/0/0.png", &r), 200);
    ASSERT_STR_EQ(gpn_http_resp_get_header(&r, "X-Cache"), "EMPTY");
    gpn_http_resp_free(&r);
    ASSERT_EQ_INT(get(app, "/tiles/hab/3/8/0.png", &r), 400); /* x >= 2^z */
    gpn_http_resp_free(&r);
    ASSERT_EQ_INT(get(app, "/tiles/hab/13/1/2.gif", &r), 400);
    gpn_http_resp_free(&r);
    /* Re-publish the layer: version 2, new cache folder, v1 removed. */
    {
        char p[700];
        snprintf(p, sizeof p, "%s/catalog.sqlite", atlas);
        struct gpn_catalog *cat = NULL;
        struct gpn_err err = {0};
        ASSERT_OK(gpn_catalog_open(p, 0, &cat, &err), &err);
        ASSERT_EQ_INT(add_layer(cat, "hab", "Habitats L3", GPN_LAYER_HABITATS_L3, "layers/hab.tif", "classes", HAB_META),
                      0);
        gpn_catalog_close(cat);
    }
    double t0 = gpn_now();
    int v2 = 0;
    while (gpn_now() - t0 < 6) {
        usleep(200 * 1000);
        ASSERT_EQ_INT(get(app, t, &r), 200);
        const char *xc = gpn_http_resp_get_header(&r, "X-Cache");
        const char *et = gpn_http_resp_get_header(&r, "ETag");
        int changed = et && strcmp(et, etag) != 0;
        if (changed) ASSERT_STR_EQ(xc, "MISS");
        gpn_http_resp_free(&r);
        if (changed) {
            v2 = 1;
            break;
        }
    }
    ASSERT_TRUE(v2);
    snprintf(cached, sizeof cached, "%s/cache/hab/v2/classes/13/%d/%d.png", atlas, x, y);
    ASSERT_TRUE(gpn_path_exists(cached));
    char v1dir[700];
    snprintf(v1dir, sizeof v1dir, "%s/cache/hab/v1", atlas);
    t0 = gpn_now();
    while (gpn_path_exists(v1dir) && gpn_now() - t0 < 5) usleep(100 * 1000);
    ASSERT_FALSE(gpn_path_exists(v1dir));
    gpn_http_app_destroy(app);
}

static void test_wmts_tilejson(void)
{
    const char *atlas = make_atlas();
    ASSERT_TRUE(atlas != NULL);
    struct gpn_http_app *app = make_app(atlas, 0, 0);
    ASSERT_TRUE(app != NULL);
    struct gpn_http_resp r, r2;
    ASSERT_EQ_INT(get(app, "/wmts?SERVICE=WMTS&REQUEST=GetCapabilities", &r), 200);
    ASSERT_STR_CONTAINS(r.body.data, "<ows:Identifier>hab</ows:Identifier>");
    ASSERT_STR_CONTAINS(r.body.data, "<TileMatrixSet>GoogleMapsCompatible</TileMatrixSet>");
    ASSERT_STR_CONTAINS(r.body.data, "<ScaleDenominator>559082264.02871");
    ASSERT_STR_CONTAINS(r.body.data, "template=\"http://maps.test:8080/wmts/1.0.0/hab/{Style}/{TileMatrixSet}/"
                                     "{TileMatrix}/{TileRow}/{TileCol}.png\"");
    gpn_http_resp_free(&r);
    ASSERT_EQ_INT(get(app, "/wmts/1.0.0/WMTSCapabilities.xml", &r), 200);
    gpn_http_resp_free(&r);
    int x, y;
    centre_tile(12, &x, &y);
    char a[300], b[300], c[300];
    snprintf(a, sizeof a, "/tiles/rich/12/%d/%d.png", x, y);
    snprintf(b, sizeof b,
             "/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=rich&STYLE=viridis&TILEMATRIXSET="
             "GoogleMapsCompatible&TILEMATRIX=12&TILEROW=%d&TILECOL=%d&FORMAT=image/png",
             y, x);
    snprintf(c, sizeof c, "/wmts/1.0.0/rich/viridis/GoogleMapsCompatible/12/%d/%d.png", y, x);
    ASSERT_EQ_INT(get(app, a, &r), 200);
    ASSERT_EQ_INT(get(app, b, &r2), 200);
    ASSERT_EQ_INT(r.body.len, r2.body.len);
    ASSERT_TRUE(memcmp(r.body.data, r2.body.data, r.body.len) == 0);
    gpn_http_resp_free(&r2);
    ASSERT_EQ_INT(get(app, c, &r2), 200);
    ASSERT_EQ_INT(r.body.len, r2.body.len);
    gpn_http_resp_free(&r2);
    gpn_http_resp_free(&r);
    ASSERT_EQ_INT(get(app,
                      "/wmts?SERVICE=WMTS&REQUEST=GetTile&LAYER=rich&STYLE=&TILEMATRIXSET=GoogleMapsCompatible&"
                      "TILEMATRIX=2&TILEROW=4&TILECOL=0&FORMAT=image/png",
                      &r),
                  400);
    ASSERT_STR_CONTAINS(r.body.data, "exceptionCode=\"TileOutOfRange\"");
    gpn_http_resp_free(&r);
    ASSERT_EQ_INT(get(app, "/wmts?SERVICE=WMTS&REQUEST=GetTile&LAYER=rich", &r), 400);
    ASSERT_STR_CONTAINS(r.body.data, "exceptionCode=\"MissingParameterValue\"");
    gpn_http_resp_free(&r);
    ASSERT_EQ_INT(get(app, "/tiles/rich.json", &r), 200);
    ASSERT_STR_CONTAINS(r.body.data, "\"tilejson\":\"3.0.0\"");
    ASSERT_STR_CONTAINS(r.body.data, "\"tiles\":[\"http://maps.test:8080/tiles/rich/{z}/{x}/{y}.png\"]");
    ASSERT_STR_CONTAINS(r.body.data, "\"bounds\":[");
    gpn_http_resp_free(&r);
    gpn_http_app_destroy(app);
}

static void test_seed(void)
{
    const char *atlas = make_atlas();
    ASSERT_TRUE(atlas != NULL);
    struct gpn_http_app *app = make_app(atlas, 64, 0);
    ASSERT_TRUE(app != NULL);
    const char *layers[] = {"sp", "rich"};
    struct gpn_http_seed_opts o;
    memset(&o, 0, sizeof o);
    o.layers = layers;
    o.n_layers = 2;
    o.zmin = 8;
    o.zmax = 12;
    o.threads = 2;
    o.max_rate = 400;
    int64_t rendered = 0, skipped = 0;
    struct gpn_err err = {0};
    double t0 = gpn_now();
    ASSERT_OK(gpn_http_app_seed(app, &o, NULL, &rendered, &skipped, &err), &err);
    double dt = gpn_now() - t0;
    fprintf(stderr, "  seeded %lld tiles (%lld skipped) in %.3f s\n", (long long)rendered, (long long)skipped, dt);
    ASSERT_TRUE(rendered >= 10);
    /* Throttled at 400 tiles/s. */
    ASSERT_TRUE(dt >= (rendered - 2) / 400.0);
    int x, y;
    centre_tile(12, &x, &y);
    char t[300];
    snprintf(t, sizeof t, "/tiles/sp/12/%d/%d.png", x, y);
    struct gpn_http_resp r;
    ASSERT_EQ_INT(get(app, t, &r), 200);
    ASSERT_STR_EQ(gpn_http_resp_get_header(&r, "X-Cache"), "HIT");
    gpn_http_resp_free(&r);
    /* A second run skips everything. */
    int64_t r2 = 0, s2 = 0;
    o.max_rate = 0;
    ASSERT_OK(gpn_http_app_seed(app, &o, NULL, &r2, &s2, &err), &err);
    ASSERT_EQ_INT(r2, 0);
    ASSERT_EQ_INT(s2, rendered + skipped);
    /* Unknown layer, bad zooms, oversized plans. */
    const char *bad[] = {"nope"};
    o.layers = bad;
    o.n_layers = 1;
    ASSERT_RC(gpn_http_app_seed(app, &o, NULL, NULL, NULL, &err), GPN_ENOTFOUND);
    o.layers = layers;
    o.zmin = 5;
    o.zmax = 3;
    ASSERT_RC(gpn_http_app_seed(app, &o, NULL, NULL, NULL, &err), GPN_ERANGE);
    o.zmin = 0;
    o.zmax = 22;
    o.max_tiles = 1000;
    ASSERT_RC(gpn_http_app_seed(app, &o, NULL, NULL, NULL, &err), GPN_ETOOBIG);
    gpn_http_app_destroy(app);
}

int main(void)
{
    RUN(test_parse_axis_order);
    RUN(test_parse_errors);
    RUN(test_exception_formats);
    RUN(test_style_ramp);
    RUN(test_style_classes_presence);
    RUN(test_capabilities);
    RUN(test_getmap_identity);
    RUN(test_getmap_reprojection);
    RUN(test_getmap_axis_versions);
    RUN(test_legend_matches_map);
    RUN(test_getfeatureinfo);
    RUN(test_formats);
    RUN(test_tiles_cache_versions);
    RUN(test_wmts_tilejson);
    RUN(test_seed);
    return test_summary();
}
