#!/usr/bin/python3
"""test_serve_mapproxy.py - MapProxy (Debian's mapproxy) cascading `gpn serve`
as its WMS source, the role our server takes over from the original stack.

MapProxy runs in-process (its WSGI application called directly, no second
server) with two layers on one WMS source pointing at gpn serve:
  - grey_direct: uncached, requested by MapProxy in EPSG:3035 with WMS 1.3.0,
    so MapProxy's own axis-order handling must agree with ours; its map over
    the native grid must equal the source raster pixel for pixel;
  - grey_cached: a file cache on the GLOBAL_WEBMERCATOR grid (meta-tiles),
    filled from our WMS in EPSG:3857; the map MapProxy serves for a tile must
    equal our own GetMap of the same box.

Set-up and the server's life cycle come from serve_fixture.py.
"""
import io
import os
import sys
import urllib.parse
import urllib.request

import numpy as np
from osgeo import osr

from serve_fixture import (PNG_MAGIC, Checks, atlas_with_layers, decode_band1, gradient, grey_cog, start_server,
                           stop_server)


def wsgi_get(app, path, query):
    env = {
        "REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": urllib.parse.urlencode(query),
        "SERVER_NAME": "localhost", "SERVER_PORT": "80", "HTTP_HOST": "localhost", "SCRIPT_NAME": "",
        "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr,
        "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False, "wsgi.version": (1, 0),
    }
    status = {}

    def start_response(s, headers, exc_info=None):
        status["s"] = s
        status["h"] = dict(headers)

    body = b"".join(app(env, start_response))
    return status.get("s", ""), status.get("h", {}), body


def main():
    try:
        from mapproxy.wsgiapp import make_wsgi_app
    except ImportError:
        print("SKIP: mapproxy missing")
        return 0
    checks = Checks("gpn-serve-mapproxy-")
    check, tmp = checks.check, checks.tmp
    srv = None
    try:
        w, h = 256, 192
        a = gradient(w, h, 5, 17)
        x0, y1 = 3800000, 2500000
        cog, s = grey_cog(tmp, a, x0, y1)
        atlas = atlas_with_layers(tmp, [["grey", cog, "--style", "grey:1:255"]])
        srv, base = start_server(tmp, atlas, ["--access-log", os.path.join(tmp, "access.log")])
        conf = os.path.join(tmp, "mapproxy.yaml")
        with open(conf, "w") as f:
            f.write("""
services:
  wms:
    srs: ['EPSG:3857', 'EPSG:3035', 'EPSG:4326']
    image_formats: ['image/png']
    versions: ['1.3.0', '1.1.1']
layers:
  - name: grey_direct
    title: grey, uncached, EPSG:3035 from gpn
    sources: [gpn_wms]
  - name: grey_cached
    title: grey, cached on the web mercator grid
    sources: [grey_cache]
caches:
  grey_cache:
    grids: [GLOBAL_WEBMERCATOR]
    sources: [gpn_wms]
    meta_size: [2, 2]
    meta_buffer: 0
    cache:
      type: file
      directory: %s
sources:
  gpn_wms:
    type: wms
    wms_opts:
      version: '1.3.0'
    supported_srs: ['EPSG:3035', 'EPSG:3857']
    req:
      url: %s/wms
      layers: grey
      transparent: true
globals:
  image:
    resampling_method: nearest
    paletted: false
""" % (os.path.join(tmp, "mpcache"), base))
        app = make_wsgi_app(conf)

        st, hd, body = wsgi_get(app, "/service", {"SERVICE": "WMS", "REQUEST": "GetCapabilities", "VERSION": "1.3.0"})
        check("MapProxy capabilities", st.startswith("200") and b"grey_direct" in body, st)

        # Uncached, EPSG:3035 over the native grid: exact pixels (1.3.0: northing first).
        bbox_ne = "%d,%d,%d,%d" % (y1 - h * 50, x0, y1, x0 + w * 50)
        st, hd, body = wsgi_get(app, "/service", {
            "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": "grey_direct", "STYLES": "",
            "CRS": "EPSG:3035", "BBOX": bbox_ne, "WIDTH": w, "HEIGHT": h, "FORMAT": "image/png",
            "TRANSPARENT": "TRUE"})
        ok = st.startswith("200") and hd.get("Content-type", hd.get("Content-Type", "")).startswith("image/png")
        check("MapProxy GetMap EPSG:3035 via gpn", ok, st + " " + body[:300].decode("latin1"))
        if ok:
            got, _ = decode_band1(body)
            eq = (got == a).mean() if got.shape == a.shape else 0
            check("  pixels == source", eq == 1.0, "equal fraction %.4f" % eq)

        # Cached web-mercator tile vs our own GetMap of the same box.
        t = osr.CoordinateTransformation(s, osr.SpatialReference())
        wgs = osr.SpatialReference()
        wgs.ImportFromEPSG(4326)
        wgs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        t = osr.CoordinateTransformation(s, wgs)
        lon, lat, _ = t.TransformPoint(x0 + w * 25, y1 - h * 25)
        z = 14
        n = 2 ** z
        tx = int((lon + 180) / 360 * n)
        ty = int((1 - np.log(np.tan(np.radians(lat)) + 1 / np.cos(np.radians(lat))) / np.pi) / 2 * n)
        R = 20037508.342789244
        size = 2 * R / n
        bb = (-R + tx * size, R - (ty + 1) * size, -R + (tx + 1) * size, R - ty * size)
        q = {"SERVICE": "WMS", "VERSION": "1.1.1", "REQUEST": "GetMap", "STYLES": "", "SRS": "EPSG:3857",
             "BBOX": "%.9f,%.9f,%.9f,%.9f" % bb, "WIDTH": 256, "HEIGHT": 256, "FORMAT": "image/png",
             "TRANSPARENT": "TRUE"}
        st, hd, body = wsgi_get(app, "/service", dict(q, LAYERS="grey_cached"))
        check("MapProxy GetMap from its cache", st.startswith("200") and body[:4] == PNG_MAGIC[:4], st)
        with urllib.request.urlopen(base + "/wms?" + urllib.parse.urlencode(dict(q, LAYERS="grey")),
                                    timeout=30) as resp:
            ours = resp.read()
        mp, mp_alpha = decode_band1(body)
        us, us_alpha = decode_band1(ours)
        mask = (us_alpha > 0) if us_alpha is not None else np.ones_like(us, bool)
        eq = (mp[mask] == us[mask]).mean() if mask.any() else 0
        check("  cached tile == gpn GetMap (%d data pixels)" % mask.sum(), mask.sum() > 1000 and eq >= 0.999,
              "equal fraction %.4f" % eq)
        tiles = [os.path.join(dp, f) for dp, _, fs in os.walk(os.path.join(tmp, "mpcache")) for f in fs]
        check("  MapProxy cache filled", len(tiles) >= 1, str(len(tiles)))
        acc = open(os.path.join(tmp, "access.log")).read()
        check("  gpn received 1.3.0 EPSG:3035 and EPSG:3857 requests",
              any(k in acc for k in ("EPSG%3A3035", "EPSG:3035")) and any(k in acc for k in ("EPSG%3A3857", "EPSG:3857"))
              and "1.3.0" in acc, acc[-400:])
    finally:
        if srv is not None:
            stop_server(srv)
        checks.cleanup()
    return checks.report()


if __name__ == "__main__":
    sys.exit(main())
