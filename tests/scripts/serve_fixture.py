"""serve_fixture.py - shared set-up of the Python client tests of `gpn serve`
(test_serve_owslib.py, test_serve_mapproxy.py). Not a test itself: the name
does not start with test_, so tests/run.sh does not run it; the tests import
it from their own folder (sys.path[0] is the script's directory).

What it gives:
  - Checks: a scratch folder, the "ok   NAME" / "FAIL NAME  (detail)" lines
    and the final "RESULT passed=P failed=F" line that tests/run.sh counts;
  - gradient(), grey_cog(): a uint8 test pattern and an EPSG:3035 COG of it
    (50 m pixels, nodata 0);
  - atlas_with_layers(): `gpn catalog init` plus one `gpn layer add` per layer;
  - start_server() / stop_server(): `gpn serve --port 0` on a free port (read
    back from --port-file) and its SIGTERM shutdown;
  - decode_band1(): band 1 of a PNG with the palette expanded, and its alpha.

GPN is $GPN_BIN (set by tests/run.sh) or build/gpn.
"""
import os
import shutil
import subprocess
import tempfile
import time

import numpy as np
from osgeo import gdal, osr

gdal.UseExceptions()

GPN = os.environ.get("GPN_BIN", os.path.abspath("build/gpn"))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class Checks:
    """Collects named pass/fail checks and prints them as they happen; owns
    the test's scratch folder self.tmp (a new /tmp/PREFIX* folder)."""

    def __init__(self, prefix):
        self.results = []
        self.tmp = tempfile.mkdtemp(prefix=prefix)

    def check(self, name, cond, detail=""):
        self.results.append(bool(cond))
        print(("ok   " if cond else "FAIL ") + name + (("  (" + detail + ")") if detail and not cond else ""))

    def all_ok(self):
        """True when at least one check ran and none failed."""
        return bool(self.results) and all(self.results)

    def cleanup(self):
        """Removes self.tmp when everything passed, else keeps it and says
        where (call it from the test's finally block)."""
        if self.all_ok():
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            print("(kept %s)" % self.tmp)

    def report(self):
        """Prints the RESULT line; returns the process exit status."""
        passed = sum(self.results)
        print("RESULT passed=%d failed=%d" % (passed, len(self.results) - passed))
        return 0 if self.all_ok() else 1


def gradient(w, h, row_step, col_step):
    """A (h, w) uint8 pattern 1 + (row * row_step + col * col_step) % 255:
    every value 1..255, none 0 (the COG's nodata)."""
    r = np.arange(h)[:, None]
    c = np.arange(w)[None, :]
    return (1 + (r * row_step + c * col_step) % 255).astype("uint8")


def grey_cog(tmp, a, x0, y1, res=50):
    """Writes the uint8 array a (rows north to south) as tmp/grey.tif, a COG on
    EPSG:3035 with its top-left corner at (x0, y1), res-metre pixels and
    nodata 0 (128-pixel blocks, nearest overviews). Returns (path, srs)."""
    h, w = a.shape
    src = os.path.join(tmp, "src.tif")
    ds = gdal.GetDriverByName("GTiff").Create(src, w, h, 1, gdal.GDT_Byte)
    ds.SetGeoTransform([x0, res, 0, y1, 0, -res])
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(3035)
    ds.SetProjection(srs.ExportToWkt())
    ds.GetRasterBand(1).WriteArray(a)
    ds.GetRasterBand(1).SetNoDataValue(0)
    ds = None
    cog = os.path.join(tmp, "grey.tif")
    gdal.Translate(cog, src, format="COG", creationOptions=["BLOCKSIZE=128", "RESAMPLING=NEAREST"])
    return cog, srs


def atlas_with_layers(tmp, layers):
    """Creates tmp/atlas and publishes layers, each a list of `gpn layer add`
    arguments after the atlas (NAME FILE [options]). Returns the atlas path."""
    atlas = os.path.join(tmp, "atlas")
    subprocess.run([GPN, "catalog", "init", "--atlas", atlas], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    for args in layers:
        subprocess.run([GPN, "layer", "add", "--atlas", atlas] + list(args), check=True, stdout=subprocess.DEVNULL)
    return atlas


def start_server(tmp, atlas, extra=()):
    """Starts `gpn serve` on atlas (2 threads, a free port, output in
    tmp/serve.log) with the extra arguments, waits up to 10 s for its port
    file. Returns (process, base URL "http://127.0.0.1:PORT")."""
    port_file = os.path.join(tmp, "port")
    log = open(os.path.join(tmp, "serve.log"), "w")
    srv = subprocess.Popen([GPN, "serve", "--atlas", atlas, "--port", "0", "--port-file", port_file,
                            "--threads", "2"] + list(extra), stdout=log, stderr=log)
    log.close()  # the child holds its own descriptor
    for _ in range(100):
        if os.path.exists(port_file) and open(port_file).read().strip():
            break
        time.sleep(0.1)
    return srv, "http://127.0.0.1:%s" % open(port_file).read().strip()


def stop_server(srv, timeout=20):
    """Sends SIGTERM and waits; kills it after timeout seconds. Returns the
    exit status (-1 when it had to be killed)."""
    srv.terminate()
    try:
        return srv.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        srv.kill()
        srv.wait()
        return -1


def decode_band1(data):
    """Grey level of band 1 of a PNG (bytes), palette expanded, and its alpha
    (palette alpha or band 4; None when the image has none)."""
    gdal.FileFromMemBuffer("/vsimem/x.png", data)
    ds = gdal.Open("/vsimem/x.png")
    b = ds.GetRasterBand(1)
    arr = b.ReadAsArray()
    ct = b.GetColorTable()
    alpha = None
    if ct is not None:
        ents = [ct.GetColorEntry(i) for i in range(ct.GetCount())]
        lut = np.array([e[0] for e in ents] + [0] * 256)
        alut = np.array([e[3] for e in ents] + [0] * 256)
        arr, alpha = lut[arr], alut[arr]
    elif ds.RasterCount == 4:
        alpha = ds.GetRasterBand(4).ReadAsArray()
    ds = None
    gdal.Unlink("/vsimem/x.png")
    return arr, alpha
