#!/usr/bin/python3
"""test_serve_owslib.py - `gpn serve` read by OWSLib (python3-owslib), a real
WMS/WMTS client: capabilities of WMS 1.3.0 and 1.1.1 (layers, groups, CRS
list, extents, styles, legend URLs, queryable), GetMap through OWSLib with
the pixels checked against the source raster (OWSLib applies the EPSG:3035
axis order of 1.3.0 itself), GetFeatureInfo, GetLegendGraphic and the WMTS
capabilities and a GetTile.

The source is a small COG generated here: uint8 values on the EPSG:3035
grid, nodata 0, published with the identity grey style. Set-up and the
server's life cycle come from serve_fixture.py.
"""
import sys
import urllib.request

import numpy as np

from serve_fixture import (PNG_MAGIC, Checks, atlas_with_layers, decode_band1, gradient, grey_cog, start_server,
                           stop_server)


def main():
    try:
        from owslib.wms import WebMapService
        from owslib.wmts import WebMapTileService
    except ImportError:
        print("SKIP: python3-owslib missing")
        return 0
    checks = Checks("gpn-serve-owslib-")
    check, tmp = checks.check, checks.tmp
    srv = None
    try:
        w, h = 320, 240
        a = gradient(w, h, 11, 3)
        a[:, :4] = 0
        cog, _ = grey_cog(tmp, a, 3700000, 2400000)
        atlas = atlas_with_layers(tmp, [
            ["grey", cog, "--style", "grey:1:255", "--group", "indicators", "--title", "Grey test",
             "--abstract", "OWSLib fixture"],
            ["pres", cog, "--style", "presence:100", "--group", "species", "--title", "Presence test"],
        ])
        srv, base = start_server(tmp, atlas)

        for version in ("1.3.0", "1.1.1"):
            wms = WebMapService(base + "/wms", version=version, timeout=30)
            check("%s identification" % version, wms.identification.type in ("WMS", "OGC:WMS"),
                  wms.identification.type)
            check("%s layers listed" % version, "grey" in wms.contents and "pres" in wms.contents,
                  str(list(wms.contents)))
            lay = wms["grey"]
            check("%s title/abstract" % version, lay.title == "Grey test" and lay.abstract == "OWSLib fixture")
            crs = set(lay.crsOptions)
            want = {"EPSG:3857", "EPSG:4326", "EPSG:3035"} | ({"CRS:84"} if version == "1.3.0" else set())
            check("%s CRS options" % version, want <= crs, str(crs))
            bb = lay.boundingBoxWGS84
            check("%s WGS84 extent" % version, bb and 2.1 < bb[0] < 2.3 < bb[2] < 2.5 and 44.2 < bb[1] < 44.35 < bb[3] < 44.5, str(bb))
            check("%s styles with legends" % version,
                  "grey" in lay.styles and "legend" in lay.styles["grey"] and "viridis" in lay.styles,
                  str(lay.styles))
            check("%s queryable" % version, int(lay.queryable) == 1)
            check("%s grouped under Indicators" % version,
                  lay.parent is not None and lay.parent.title == "Indicators",
                  lay.parent.title if lay.parent is not None else "no parent")
            fmts = wms.getOperationByName("GetMap").formatOptions
            check("%s GetMap formats" % version, "image/png" in fmts and "image/jpeg" in fmts, str(fmts))
            # GetMap over the native grid: the grey level equals the source value.
            bbox = (3700000, 2400000 - h * 50, 3700000 + w * 50, 2400000)
            img = wms.getmap(layers=["grey"], styles=[""], srs="EPSG:3035", bbox=bbox, size=(w, h),
                             format="image/png", transparent=True)
            got, _ = decode_band1(img.read())
            mask = a != 0
            eq = (got[mask] == a[mask]).mean() if got.shape == a.shape else 0
            check("%s GetMap pixels == source (EPSG:3035)" % version, eq == 1.0, "equal fraction %.4f" % eq)
            # GetFeatureInfo at a pixel.
            i, j = 100, 50
            fi = wms.getfeatureinfo(layers=["grey"], srs="EPSG:3035", bbox=bbox, size=(w, h), format="image/png",
                                    query_layers=["grey"], info_format="application/json", xy=(i, j))
            body = fi.read().decode()
            check("%s GetFeatureInfo value" % version, '"value":%d' % a[j, i] in body, body[:200])
            # Legend from the capabilities URL.
            leg = wms.getServiceXML() and lay.styles["grey"]["legend"]
            with urllib.request.urlopen(leg, timeout=30) as resp:
                png = resp.read()
            check("%s legend is a PNG" % version, png[:8] == PNG_MAGIC)

        wmts = WebMapTileService(base + "/wmts/1.0.0/WMTSCapabilities.xml", timeout=30)
        check("WMTS layers", "grey" in wmts.contents and "GoogleMapsCompatible" in wmts.tilematrixsets,
              str(list(wmts.contents)))
        # The tile over the data at zoom 10 (EPSG:3857, from the WGS84 centre).
        bb = wmts["grey"].boundingBoxWGS84
        lon, lat = (bb[0] + bb[2]) / 2, (bb[1] + bb[3]) / 2
        z = 10
        n = 2 ** z
        x = int((lon + 180) / 360 * n)
        y = int((1 - np.log(np.tan(np.radians(lat)) + 1 / np.cos(np.radians(lat))) / np.pi) / 2 * n)
        tile = wmts.gettile(layer="grey", tilematrixset="GoogleMapsCompatible", tilematrix=str(z), row=y, column=x,
                            format="image/png")
        t = tile.read()
        check("WMTS GetTile", t[:8] == PNG_MAGIC and len(t) > 200, "len %d" % len(t))
    finally:
        if srv is not None:
            rc = stop_server(srv)
            check("server exits 0 on SIGTERM", rc == 0, "rc %s" % rc)
        checks.cleanup()
    return checks.report()


if __name__ == "__main__":
    sys.exit(main())
