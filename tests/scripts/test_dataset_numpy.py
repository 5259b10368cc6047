#!/usr/bin/python3
"""test_dataset_numpy.py - datasets written by `gpn ingest` read back with numpy.

Independent oracles: Python's csv module for the observation grouping, PIL for
JPEG pixels, numpy for the per-survey cubes (written with np.save) and GDAL's
Python bindings for the mosaic / band-stack rasters. Every array is opened with
numpy.load, so the .npy files must be valid for numpy itself.

Run by tests/run.sh with /usr/bin/python3 (Debian's numpy, PIL, GDAL), from the
repository root; GPN_BIN and GPN_SHARED come from the runner.
Prints "RESULT passed=P failed=F" and exits non-zero on any failure.
"""
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

GPN = os.environ.get("GPN_BIN", "build/gpn")
SHARED = os.environ.get("GPN_SHARED", "../shared")
GLC23 = os.path.join(SHARED, "data", "glc23_sample")
PA = os.path.join(GLC23, "Presence_Absences_occurrences", "Presences_Absences_train_sample.csv")
PO = os.path.join(GLC23, "Presence_only_occurrences", "Presences_only_train_sample.csv")
S2 = os.path.join(GLC23, "SatelliteImages")
TS = os.path.join(GLC23, "SatelliteTimeSeries")

passed = 0
failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL %s %s" % (name, detail))


def ingest(*args):
    env = dict(os.environ, GPN_PROGRESS="0")
    r = subprocess.run([GPN, "ingest", "-q"] + list(args), capture_output=True, text=True, env=env)
    if r.returncode != 0:
        print("gpn ingest failed:", r.stderr)
    return r


def load(ds):
    meta = json.load(open(os.path.join(ds, "meta.json")))
    arrays = {}
    for name, entry in meta["arrays"].items():
        if entry is None:
            continue
        a = np.load(os.path.join(ds, entry["file"]), mmap_mode="r")
        check("dtype %s" % name, a.dtype == np.dtype(entry["dtype"]), "%s vs %s" % (a.dtype, entry["dtype"]))
        check("shape %s" % name, list(a.shape) == entry["shape"], "%s vs %s" % (a.shape, entry["shape"]))
        arrays[name] = a
    samples = list(csv.DictReader(open(os.path.join(ds, "samples.csv"))))
    species = [int(r["speciesId"]) for r in csv.DictReader(open(os.path.join(ds, "species.csv")))]
    ptr, idx = arrays["label_ptr"], arrays["label_idx"]
    check("n", len(samples) == meta["n"] == ptr.shape[0] - 1)
    check("csr", ptr[0] == 0 and ptr[-1] == idx.shape[0] and np.all(np.diff(ptr) >= 0))
    check("label range", idx.size == 0 or (idx.min() >= 0 and idx.max() < len(species)))
    labels = [sorted(species[k] for k in idx[ptr[i]:ptr[i + 1]]) for i in range(len(samples))]
    return meta, arrays, samples, species, labels


def test_glc23(tmp):
    from PIL import Image

    ds = os.path.join(tmp, "glc23")
    r = ingest("--out", ds, "--pa", PA, "--po", PO, "--sentinel", S2, "--landsat", TS, "--missing", "zero")
    check("glc23 ingest rc", r.returncode == 0)
    if r.returncode:
        return
    meta, arrays, samples, species, labels = load(ds)
    # Expected grouping, computed here: PA rows by patchID, PO rows one each
    # (no observer has two records at one point in this sample).
    pa_rows = list(csv.DictReader(open(PA), delimiter=";"))
    po_rows = list(csv.DictReader(open(PO), delimiter=";"))
    want = {}
    for row in pa_rows:
        want.setdefault(("PA", int(row["patchID"])), set()).add(int(row["speciesId"]))
    for row in po_rows:
        want[("PO", int(row["glcID"]))] = {int(row["speciesId"])}
    got = {(s["kind"], int(s["surveyId"])): set(l) for s, l in zip(samples, labels)}
    check("glc23 label sets", got == want, "%d vs %d samples" % (len(got), len(want)))
    check("glc23 species", species == sorted({int(r["speciesId"]) for r in pa_rows + po_rows}))
    s2, ls = arrays["sentinel"], arrays["landsat"]
    check("glc23 shapes", s2.shape == (199, 4, 128, 128) and ls.shape == (199, 6, 4, 21))
    # Every PO sample's patch equals PIL's decode; its Landsat cube equals the CSVs.
    series = {}
    for b, band in enumerate(["red", "green", "blue", "nir", "swir1", "swir2"]):
        with open(os.path.join(TS, "time_series_%s.csv" % band)) as f:
            rows = list(csv.reader(f, delimiter=";"))
        head = rows[0]
        for row in rows[1:]:
            cube = series.setdefault(row[0], np.zeros((6, 4, 21), np.float32))
            for h, v in zip(head[1:], row[1:]):
                y, q = map(int, h.split("_"))
                cube[b, q - 1, y - 2000] = 0.0 if v == "eos" else float(v)
    n_img = n_ts = 0
    for i, s in enumerate(samples):
        if s["kind"] != "PO":
            check("PA zero-filled", s["missing"] == "sentinel|landsat" and not s2[i].any() and not ls[i].any())
            continue
        pid = s["patchId"]
        rgb = np.asarray(Image.open(os.path.join(S2, "rgb", pid[-2:], pid[-4:-2], pid + ".jpeg")))
        nir = np.asarray(Image.open(os.path.join(S2, "nir", pid[-2:], pid[-4:-2], pid + ".jpeg")))
        n_img += np.array_equal(s2[i, :3], rgb.transpose(2, 0, 1)) and np.array_equal(s2[i, 3], nir)
        n_ts += np.array_equal(ls[i], series[s["timeSerieId"]])
    check("glc23 patches equal PIL", n_img == 100, "%d of 100" % n_img)
    check("glc23 landsat equals CSV", n_ts == 100, "%d of 100" % n_ts)


def test_npy_cubes(tmp):
    """Per-survey cubes written by numpy (f4 and f8, with NaN) round-trip."""
    csvp = os.path.join(tmp, "pa.csv")
    cubes_cl = os.path.join(tmp, "climate")
    cubes_ls = os.path.join(tmp, "landsat")
    os.makedirs(cubes_cl)
    os.makedirs(cubes_ls)
    rng = np.random.default_rng(7)
    ids = [11, 2024, 99999]
    with open(csvp, "w") as f:
        f.write("lon,lat,year,geoUncertaintyInM,areaInM2,region,country,speciesId,surveyId\n")
        for k, sid in enumerate(ids):
            f.write("%g,%g,2021,5.0,100.0,ATLANTIC,France,%d.0,%d\n" % (2 + k, 46 + k, 100 + k, sid))
            f.write("%g,%g,2021,5.0,100.0,ATLANTIC,France,7,%d\n" % (2 + k, 46 + k, sid))
    want_cl, want_ls = {}, {}
    for sid in ids:
        cl = rng.normal(size=(4, 19, 12))
        cl[0, 0, 0] = np.nan
        np.save(os.path.join(cubes_cl, "%d.npy" % sid), cl)  # float64, as np.save writes it
        want_cl[sid] = np.nan_to_num(cl, nan=0.0).astype(np.float32)
        lsc = rng.uniform(0, 5000, size=(6, 4, 21)).astype(np.float32)
        np.save(os.path.join(cubes_ls, "%d.npy" % sid), lsc)
        want_ls[sid] = lsc
    ds = os.path.join(tmp, "cubes")
    r = ingest("--out", ds, "--pa", csvp, "--climate", cubes_cl, "--landsat", cubes_ls)
    check("npy ingest rc", r.returncode == 0)
    if r.returncode:
        return
    meta, arrays, samples, species, labels = load(ds)
    check("npy n", meta["n"] == 3 and species == [7, 100, 101, 102])
    for i, s in enumerate(samples):
        sid = int(s["surveyId"])
        check("climate %d" % sid, np.array_equal(arrays["climate"][i], want_cl[sid]))
        check("landsat %d" % sid, np.array_equal(arrays["landsat"][i], want_ls[sid]))
        check("labels %d" % sid, labels[i] == sorted([7, 100 + ids.index(sid)]))
        # x3035/y3035 from lon/lat agree with GDAL/PROJ to a millimetre.
        from osgeo import osr
        a = osr.SpatialReference()
        a.ImportFromEPSG(4326)
        b = osr.SpatialReference()
        b.ImportFromEPSG(3035)
        for sr in (a, b):
            sr.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        x, y, _ = osr.CoordinateTransformation(a, b).TransformPoint(float(s["lon"]), float(s["lat"]))
        check("proj %d" % sid, abs(x - float(s["x3035"])) < 1e-3 and abs(y - float(s["y3035"])) < 1e-3,
              "%s,%s vs %.3f,%.3f" % (s["x3035"], s["y3035"], x, y))


def test_rasters(tmp):
    """A GDAL-written 4-band mosaic and a 504-band Landsat stack."""
    from osgeo import gdal, osr

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(3035)
    mos = os.path.join(tmp, "s2.tif")
    W, H = 300, 200
    data = (np.arange(4 * H * W, dtype=np.int64).reshape(4, H, W) * 7 % 251).astype(np.uint8)
    d = gdal.GetDriverByName("GTiff").Create(mos, W, H, 4, gdal.GDT_Byte, ["TILED=YES"])
    d.SetGeoTransform([4100000, 10, 0, 2800000, 0, -10])
    d.SetProjection(srs.ExportToWkt())
    for b in range(4):
        d.GetRasterBand(b + 1).WriteArray(data[b])
    d = None
    stack = os.path.join(tmp, "landsat.tif")
    lsd = np.arange(504 * 2 * 3, dtype=np.float32).reshape(504, 2, 3)
    d = gdal.GetDriverByName("GTiff").Create(stack, 3, 2, 504, gdal.GDT_Float32, ["INTERLEAVE=PIXEL"])
    d.SetGeoTransform([4100000, 1000, 0, 2800000, 0, -1000])
    d.SetProjection(srs.ExportToWkt())
    for b in range(504):
        d.GetRasterBand(b + 1).WriteArray(lsd[b])
    d = None
    csvp = os.path.join(tmp, "pts.csv")
    # (x, y) -> mosaic pixel (col, row) = (floor((x-4100000)/10), floor((2800000-y)/10)).
    pts = [(1, 4101234.0, 2798765.0), (2, 4102001.0, 2799001.0)]
    with open(csvp, "w") as f:
        f.write("glcID;lon;lat;x_EPSG3035;y_EPSG3035;speciesId;patchID\n")
        for gid, x, y in pts:
            f.write("%d;5;45;%.1f;%.1f;%d;%d\n" % (gid, x, y, 30 + gid, gid))
    ds = os.path.join(tmp, "rasters")
    r = ingest("--out", ds, "--pa", csvp, "--sentinel", mos, "--landsat", stack, "--patch-size", "64")
    check("raster ingest rc", r.returncode == 0)
    if r.returncode:
        return
    meta, arrays, samples, species, labels = load(ds)
    for i, (gid, x, y) in enumerate(pts):
        col, row = int((x - 4100000) // 10), int((2800000 - y) // 10)
        want = data[:, row - 32:row + 32, col - 32:col + 32]
        check("mosaic patch %d" % gid, np.array_equal(arrays["sentinel"][i], want))
        lc, lr = int((x - 4100000) // 1000), int((2800000 - y) // 1000)
        check("landsat stack %d" % gid, np.array_equal(arrays["landsat"][i], lsd[:, lr, lc].reshape(6, 4, 21)))
    check("blocks", [int(s["block"]) for s in samples] == [int(s["block"]) for s in samples[:1]] * 2,
          "points 1 km apart in one 10 km block share a block id")


def main():
    tmp = tempfile.mkdtemp(prefix="gpn-npy-")
    try:
        test_glc23(tmp)
        test_npy_cubes(tmp)
        test_rasters(tmp)
    finally:
        if failed == 0:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kept", tmp)
    print("RESULT passed=%d failed=%d" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
