#!/usr/bin/python3
"""test_report_crosscheck.py - the report engine against an independent
computation with GDAL and numpy.

1. Builds species maps as GeoTIFFs on the EPSG:3035 50 m grid (2 x 2
   meta-tiles; binary uint8 maps named {id}.tif, one float probability map
   named by species), imports them with `gpn import`, and for several areas
   (a concave star, a polygon with holes, a multipolygon, a thin sliver, a
   rectangle partly outside the data) compares the per-species cell counts of
   `gpn report` with gdal.RasterizeLayer (ALL_TOUCHED=FALSE: cell-centre rule)
   of the same polygon times each map, counted with numpy.
2. Imports a fake GeoPl@ntNet product (float32 logits in EPSG:3857, nodata
   -1, named gpn_v1_50m_fr_{speciesId}_{slug}.tif) with --threshold 0.2 and
   compares the report's counts with cell centres transformed by osr and
   looked up in the array (sigmoid(logit) >= 0.2, nodata excluded).
3. `gpn report` exits non-zero with a clear message on invalid geometry.

Prints "RESULT passed=P failed=F" (tests/run.sh). Run with /usr/bin/python3.
"""
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from osgeo import gdal, ogr, osr

try:
    import jsonschema  # Debian python3-jsonschema (scripts/setup.d/report.pkgs)
except ImportError:
    jsonschema = None

gdal.UseExceptions()

GPN = os.environ.get("GPN_BIN", os.path.abspath("build/gpn"))
SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "report.schema.json")
X0, Y0, N = 4000000.0, 2550000.0, 1000  # region: upper-left corner, 1000 x 1000 cells of 50 m
GT = (X0, 50.0, 0.0, Y0, 0.0, -50.0)
passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
        print("ok   " + what, file=sys.stderr)
    else:
        failed += 1
        print("FAIL " + what, file=sys.stderr)


def srs(epsg):
    s = osr.SpatialReference()
    s.ImportFromEPSG(epsg)
    s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return s


def write_tif(path, arr, gt, epsg, dtype, nodata=None):
    drv = gdal.GetDriverByName("GTiff")
    ds = drv.Create(path, arr.shape[1], arr.shape[0], 1, dtype, options=["COMPRESS=DEFLATE", "TILED=YES"])
    ds.SetGeoTransform(gt)
    ds.SetProjection(srs(epsg).ExportToWkt())
    b = ds.GetRasterBand(1)
    if nodata is not None:
        b.SetNoDataValue(nodata)
    b.WriteArray(arr)
    ds.FlushCache()
    ds = None


def run(args, expect_ok=True):
    p = subprocess.run([GPN] + args, capture_output=True, text=True, env=dict(os.environ, GPN_PROGRESS="0"))
    if expect_ok and p.returncode != 0:
        print(p.stderr, file=sys.stderr)
    return p


def species_maps(rng):
    """Returns {id: uint8 array (N, N)} of varied shapes."""
    yy, xx = np.mgrid[0:N, 0:N]
    maps = {}
    for k in range(12):
        m = np.zeros((N, N), np.uint8)
        kind = k % 4
        if kind == 0:  # union of ellipses
            for _ in range(rng.integers(1, 6)):
                cx, cy = rng.uniform(0, N, 2)
                a, b = rng.uniform(20, 300, 2)
                th = rng.uniform(0, math.pi)
                dx, dy = xx - cx, yy - cy
                u = dx * math.cos(th) + dy * math.sin(th)
                v = -dx * math.sin(th) + dy * math.cos(th)
                m |= ((u / a) ** 2 + (v / b) ** 2 < 1).astype(np.uint8)
        elif kind == 1:  # random noise at a random prevalence
            m = (rng.random((N, N)) < rng.uniform(0.001, 0.6)).astype(np.uint8)
        elif kind == 2:  # smooth field thresholded (patchy)
            f = np.zeros((N, N))
            for _ in range(6):
                fx, fy = rng.uniform(0.002, 0.03, 2)
                ph = rng.uniform(0, 2 * math.pi, 2)
                f += np.sin(xx * fx + ph[0]) * np.cos(yy * fy + ph[1])
            m = (f > rng.uniform(0, 2)).astype(np.uint8)
        else:  # stripes and a block
            m = ((xx // rng.integers(1, 9)) % 2 == 0).astype(np.uint8)
            m[: rng.integers(0, N), :] &= 0
        maps[1000 + k] = m
    return maps


def rasterize(geom_3035):
    """Cell-centre mask of the region (N, N) by GDAL, and the polygon's
    cell count on an enlarged grid (cells outside the region included)."""
    def burn(gt, w, h):
        ds = gdal.GetDriverByName("MEM").Create("", w, h, 1, gdal.GDT_Byte)
        ds.SetGeoTransform(gt)
        ds.SetProjection(srs(3035).ExportToWkt())
        mem = ogr.GetDriverByName("Memory").CreateDataSource("m")
        lyr = mem.CreateLayer("a", srs(3035), ogr.wkbMultiPolygon)
        f = ogr.Feature(lyr.GetLayerDefn())
        f.SetGeometry(ogr.CreateGeometryFromJson(json.dumps(geom_3035)))
        lyr.CreateFeature(f)
        gdal.RasterizeLayer(ds, [1], lyr, burn_values=[1], options=["ALL_TOUCHED=FALSE"])
        return ds.GetRasterBand(1).ReadAsArray().astype(bool)
    inside = burn(GT, N, N)
    big = burn((X0 - 50000, 50.0, 0.0, Y0 + 50000, 0.0, -50.0), N + 2000, N + 2000)
    return inside, int(big.sum())


def aoi_file(path, geom_3035):
    doc = {"type": "Feature", "properties": {"name": os.path.basename(path)}, "geometry": geom_3035,
           "crs": {"type": "name", "properties": {"name": "EPSG:3035"}}}
    with open(path, "w") as f:
        json.dump(doc, f)


def star(cx, cy, r1, r2, n, rng):
    pts = []
    for i in range(2 * n):
        r = r1 if i % 2 == 0 else r2
        a = math.pi * i / n
        pts.append([cx + r * math.cos(a) + rng.uniform(-3, 3), cy + r * math.sin(a) + rng.uniform(-3, 3)])
    pts.append(pts[0])
    return pts


def ring_box(x0, y0, x1, y1):
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


def main():
    rng = np.random.default_rng(20261127)
    validator = None
    if jsonschema is not None:
        with open(SCHEMA) as f:
            schema = json.load(f)
        jsonschema.Draft202012Validator.check_schema(schema)
        validator = jsonschema.Draft202012Validator(schema)
    else:
        print("note: python3-jsonschema missing, schema not checked", file=sys.stderr)
    tmp = tempfile.mkdtemp(prefix="gpn-xcheck-")
    ok = False
    try:
        maps_dir = os.path.join(tmp, "maps")
        os.makedirs(maps_dir)
        maps = species_maps(rng)
        for sid, m in maps.items():
            write_tif(os.path.join(maps_dir, "%d.tif" % sid), m, GT, 3035, gdal.GDT_Byte)
        prob = rng.random((N, N)).astype(np.float32)
        write_tif(os.path.join(maps_dir, "Quercus_pubescens.tif"), prob, GT, 3035, gdal.GDT_Float32, nodata=-9999)
        atlas = os.path.join(tmp, "atlas")
        # --no-indicators: the indicator rasters of this atlas are written by
        # GDAL below, to check how reports read them.
        p = run(["import", "--atlas", atlas, maps_dir, "--threshold", "0.7", "--no-indicators"])
        check(p.returncode == 0, "gpn import of 13 maps on the grid")
        if p.returncode != 0:
            return
        expected = dict(maps)
        expected["Quercus pubescens"] = (prob >= np.float32(0.7)).astype(np.uint8)

        # The indicators import computes: richness = number of maps present
        # per cell (these species have no traits: the other bands are 0).
        atlas_ind = os.path.join(tmp, "atlas_ind")
        p = run(["import", "--atlas", atlas_ind, maps_dir, "--threshold", "0.7"])
        check(p.returncode == 0, "gpn import with indicators")
        rich = sum(m.astype(np.int32) for m in expected.values())
        for tile in ("25kmE4000N2500", "25kmE4025N2500", "25kmE4000N2525", "25kmE4025N2525"):
            ds = gdal.Open(os.path.join(atlas_ind, "tiles", tile, "indicators.tif"))
            tg = ds.GetGeoTransform()
            c0, r0 = int(round((tg[0] - GT[0]) / 50)), int(round((GT[3] - tg[3]) / 50))
            got = ds.ReadAsArray()
            want = rich[r0:r0 + 500, c0:c0 + 500]
            check(ds.GetRasterBand(1).GetDescription() == "richness" and np.array_equal(got[0], want)
                  and not got[1:].any(),
                  "import's indicators.tif of %s: richness equals the sum of the maps" % tile)
            ds = None

        # Indicator and habitat rasters for tile 25kmE4000N2500 (region rows
        # 500..999, columns 0..499), written with GDAL directly.
        tdir = os.path.join(atlas, "tiles", "25kmE4000N2500")
        tgt = (4000000.0, 50.0, 0.0, 2525000.0, 0.0, -50.0)
        ty, tx = np.mgrid[0:500, 0:500]
        ind = np.stack([((tx * (b + 3) + ty * 7) // (b + 5)) % (9 + 4 * b) for b in range(8)]).astype(np.uint16)
        ind[:, (tx + ty) % 37 == 0] = 65535  # nodata
        names = ["richness", "directive", "threatened", "most_threatened", "tree", "invasive", "specialist", "endemic"]
        ds = gdal.GetDriverByName("GTiff").Create(os.path.join(tdir, "indicators.tif"), 500, 500, 8, gdal.GDT_UInt16,
                                                  options=["COMPRESS=DEFLATE", "TILED=YES"])
        ds.SetGeoTransform(tgt)
        ds.SetProjection(srs(3035).ExportToWkt())
        for b in range(8):
            band = ds.GetRasterBand(b + 1)
            band.SetDescription(names[b])
            band.SetNoDataValue(65535)
            band.WriteArray(ind[b])
        ds = None
        classes = ["R1A", "T11", "MA221", "R22"]
        hab = (((tx // 13) + (ty // 17)) % 5).astype(np.uint8)  # 0 = no habitat
        ds = gdal.GetDriverByName("GTiff").Create(os.path.join(tdir, "habitat.tif"), 500, 500, 1, gdal.GDT_Byte)
        ds.SetGeoTransform(tgt)
        ds.SetProjection(srs(3035).ExportToWkt())
        ds.SetMetadataItem("GPN_CLASS_CODES", ",".join(classes))
        ds.GetRasterBand(1).SetNoDataValue(255)
        ds.GetRasterBand(1).WriteArray(hab)
        ds = None

        jitter = lambda v: v + 0.37  # keep vertices off cell centres and edges
        areas = {
            "star": {"type": "Polygon", "coordinates": [star(4024980.3, 2524010.7, 19000, 7000, 9, rng)]},
            "holes": {"type": "Polygon", "coordinates": [
                ring_box(jitter(4003000), jitter(2503000), jitter(4047000), jitter(2546000)),
                star(4015000.1, 2515000.2, 6000, 2500, 5, rng),
                ring_box(jitter(4030000), jitter(2530000), jitter(4040000), jitter(2535000))]},
            "multi": {"type": "MultiPolygon", "coordinates": [
                [[[4001000.3, 2501000.3], [4009000.7, 2502000.1], [4005000.9, 2509000.9], [4001000.3, 2501000.3]]],
                [[[4020000.1, 2520000.3], [4030000.7, 2521000.3], [4029000.9, 2531000.1], [4021000.3, 2529000.7],
                  [4024000.1, 2525000.1], [4020000.1, 2520000.3]]],
                [[[4040000.3, 2540000.3], [4049000.1, 2540000.7], [4049000.3, 2549000.1], [4040000.3, 2540000.3]]]]},
            "sliver": {"type": "Polygon", "coordinates": [[[4000100.3, 2500200.1], [4049800.7, 2549700.3],
                                                            [4049800.7, 2549500.9], [4000100.3, 2500200.1]]]},
            "partly_outside": {"type": "Polygon", "coordinates": [
                ring_box(jitter(4035000), jitter(2535000), jitter(4065000), jitter(2560000))]},
        }
        for name, geom in areas.items():
            path = os.path.join(tmp, name + ".geojson")
            aoi_file(path, geom)
            p = run(["report", "--atlas", atlas, "--aoi", path, "--format", "json"])
            if p.returncode != 0:
                check(False, "report %s ran" % name)
                continue
            rep = json.loads(p.stdout)
            if validator is not None:
                errs = [e.message for e in validator.iter_errors(rep)]
                check(not errs, "%s: the report validates against docs/report.schema.json %s" % (name, errs[:2]))
            inside, total = rasterize(geom)
            # Species ids of the numeric files are the catalog ids (the file names).
            got_by = {}
            for s in rep["species"]:
                key = s["id"] if s["id"] in maps else s["scientific_name"]
                got_by[key] = s["cells"]
            bad = []
            for key, m in expected.items():
                want = int(np.count_nonzero(m.astype(bool) & inside))
                have = got_by.get(key, 0)
                if want != have:
                    bad.append("%s: report %d, GDAL %d" % (key, have, want))
            check(not bad, "%s: per-species counts equal GDAL rasterisation (%d species, %d cells)%s"
                  % (name, len(expected), int(inside.sum()), "; " + "; ".join(bad[:4]) if bad else ""))
            # Indicators and habitats: numpy over the tile's cells inside the area.
            tin = inside[500:1000, 0:500]
            if tin.any():
                bad = []
                for b in range(8):
                    v = ind[b][tin & (ind[b] != 65535)].astype(np.int64)
                    got_i = rep["indicators"][names[b]]
                    h = got_i["histogram"]
                    if (got_i["cells"] != v.size or abs(got_i["mean"] - v.mean()) > 1e-3 or got_i["min"] != v.min()
                            or got_i["max"] != v.max() or got_i["median"] != float(np.median(v))
                            or sum(h["counts"]) != v.size):
                        bad.append("%s: %s vs n=%d mean=%.4f median=%g" % (names[b], got_i, v.size, v.mean(),
                                                                          np.median(v)))
                    # The histogram's bins against numpy's.
                    edges = [h["lo"] + k * h["width"] for k in range(len(h["counts"]) + 1)]
                    edges[-1] = max(edges[-1], v.max() + 1)
                    want_h = np.histogram(v, bins=edges)[0].tolist()
                    if want_h != h["counts"]:
                        bad.append("%s histogram %s vs %s" % (names[b], h["counts"], want_h))
                hv = hab[tin]
                total_h = int(np.count_nonzero(hv))
                lv = {l["code"]: l["cells"] for l in rep["habitats"]["level3"]}
                for ci, code in enumerate(classes):
                    if lv.get(code, 0) != int(np.count_nonzero(hv == ci + 1)):
                        bad.append("habitat %s: %d vs %d" % (code, lv.get(code, 0), np.count_nonzero(hv == ci + 1)))
                l1 = {l["code"]: l["cells"] for l in rep["habitats"]["level1"]}
                want_r = int(np.count_nonzero((hv == 1) | (hv == 4)))
                if rep["habitats"]["cells"] != total_h or l1.get("R", 0) != want_r:
                    bad.append("habitat cells %d vs %d, L1 R %d vs %d" % (rep["habitats"]["cells"], total_h,
                                                                         l1.get("R", 0), want_r))
                check(not bad, "%s: indicators and habitats equal numpy (%d cells of tile E4000N2500)%s"
                      % (name, int(tin.sum()), "; " + "; ".join(bad[:3]) if bad else ""))
            check(rep["area"]["cells_with_data"] == int(inside.sum()) and rep["area"]["cells"] == total,
                  "%s: area cells %d/%d vs GDAL %d/%d" % (name, rep["area"]["cells"], rep["area"]["cells_with_data"],
                                                         total, int(inside.sum())))

        # ---- 2. a GeoPl@ntNet-style product in EPSG:3857 --------------------
        t = osr.CoordinateTransformation(srs(4326), srs(3857))
        (mx0, my1, _), (mx1, my0, _) = t.TransformPoint(3.80, 43.70), t.TransformPoint(3.95, 43.58)
        px = 50.0 / math.cos(math.radians(43.64))  # ~50 m on the ground
        w, h = int((mx1 - mx0) / px), int((my1 - my0) / px)
        gt3857 = (mx0, px, 0.0, my1, 0.0, -px)
        yy, xx = np.mgrid[0:h, 0:w]
        logit = (3 * np.sin(xx / 23.0) * np.cos(yy / 31.0) + rng.normal(0, 1, (h, w))).astype(np.float32)
        logit[: h // 4, : w // 3] = -1.0  # nodata corner (sigmoid(-1) = 0.27 would pass 0.2)
        gdir = os.path.join(tmp, "gpn")
        os.makedirs(gdir)
        write_tif(os.path.join(gdir, "gpn_v1_50m_fr_424242_quercus-ilex.tif"), logit, gt3857, 3857,
                  gdal.GDT_Float32, nodata=-1.0)
        atlas2 = os.path.join(tmp, "atlas2")
        p = run(["import", "--atlas", atlas2, gdir, "--threshold", "0.2"])
        check(p.returncode == 0, "gpn import of a GeoPl@ntNet EPSG:3857 logit COG")
        if p.returncode != 0:
            return
        # Independent expectation: every 3035 cell whose centre falls in a
        # valid pixel with sigmoid(logit) >= 0.2, over an area around it.
        t2 = osr.CoordinateTransformation(srs(3857), srs(3035))
        corners = [t2.TransformPoint(x, y)[:2] for x in (mx0, mx1) for y in (my0, my1)]
        bx0 = math.floor(min(c[0] for c in corners) / 50) * 50 - 500
        by0 = math.floor(min(c[1] for c in corners) / 50) * 50 - 500
        bx1 = math.ceil(max(c[0] for c in corners) / 50) * 50 + 500
        by1 = math.ceil(max(c[1] for c in corners) / 50) * 50 + 500
        gx = np.arange(bx0 + 25, bx1, 50.0)
        gy = np.arange(by0 + 25, by1, 50.0)
        cx, cy = np.meshgrid(gx, gy)
        t3 = osr.CoordinateTransformation(srs(3035), srs(3857))
        pts = np.array(t3.TransformPoints(np.column_stack([cx.ravel(), cy.ravel()])))
        fx = (pts[:, 0] - gt3857[0]) / gt3857[1]
        fy = (pts[:, 1] - gt3857[3]) / gt3857[5]
        inside = (fx >= 0) & (fx < w) & (fy >= 0) & (fy < h)
        v = np.full(fx.shape, np.nan)
        v[inside] = logit[fy[inside].astype(int), fx[inside].astype(int)]
        present = inside & (v != -1.0) & (1.0 / (1.0 + np.exp(-v)) >= 0.2)
        present = present.reshape(cx.shape)
        # Three sub-areas (3035 rectangles) and the whole.
        xs = np.linspace(bx0, bx1, 4)
        for i in range(3):
            x_a, x_b = xs[i] + 0.37, xs[i + 1] + 0.37
            box = {"type": "Polygon", "coordinates": [ring_box(x_a, by0 + 0.37, x_b, by1 + 0.37)]}
            path = os.path.join(tmp, "g%d.geojson" % i)
            aoi_file(path, box)
            p = run(["report", "--atlas", atlas2, "--aoi", path])
            rep = json.loads(p.stdout) if p.returncode == 0 else {"species": []}
            sel = (cx >= x_a) & (cx < x_b) & (cy >= by0 + 0.37) & (cy < by1 + 0.37)
            want = int(np.count_nonzero(present & sel))
            have = sum(s["cells"] for s in rep["species"])
            names = {s["scientific_name"] for s in rep["species"]}
            check(want == have and (want == 0 or names == {"Quercus ilex"}),
                  "GeoPl@ntNet import, strip %d: report %d cells of %s, expected %d" % (i, have, names, want))
        naive_nodata = int(np.count_nonzero(inside & (1.0 / (1.0 + np.exp(-np.nan_to_num(v))) >= 0.2)))
        check(naive_nodata > int(present.sum()), "the nodata corner matters (%d > %d)" % (naive_nodata, present.sum()))

        # ---- 3. invalid geometry -------------------------------------------
        bad = os.path.join(tmp, "bowtie.geojson")
        with open(bad, "w") as f:
            json.dump({"type": "Polygon", "coordinates": [[[3.8, 43.5], [3.9, 43.6], [3.9, 43.5], [3.8, 43.6],
                                                           [3.8, 43.5]]]}, f)
        p = run(["report", "--atlas", atlas, "--aoi", bad], expect_ok=False)
        check(p.returncode == 1 and "self-intersection" in p.stderr, "bow-tie rejected: " + p.stderr.strip())
        p = run(["report", "--atlas", atlas, "--bbox", "10,50,10.1,50.1"], expect_ok=False)
        check(p.returncode == 1 and "outside the atlas data" in p.stderr, "area outside the data: " + p.stderr.strip())
        ok = True
    finally:
        if ok and failed == 0:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kept " + tmp, file=sys.stderr)


if __name__ == "__main__":
    main()
    print("RESULT passed=%d failed=%d" % (passed, failed), file=sys.stderr)
    sys.exit(1 if failed else 0)
