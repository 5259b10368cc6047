#!/usr/bin/env bash
# test_serve_gdal.sh - `gpn serve` checked with real clients: GDAL's WMS
# driver (gdal_translate of a WMS: source, WMS 1.3.0 with EPSG:3035 axis
# order and 1.1.1), GDAL's /vsicurl/ reading the published COG through the
# server's HTTP Range support (pixels and overviews identical to the file),
# curl for protocol details (errors, limits, traversal, ETag/304, gzip), and
# a clean exit on SIGTERM.
#
# A small COG is generated here (uint8, EPSG:3035, 400 x 300 cells of 50 m,
# nodata 0 in the top rows) and published with the identity grey style, so
# the grey level GDAL reads back from a WMS map IS the source value.
set -u
GPN=${GPN_BIN:-$PWD/build/gpn}
PY=/usr/bin/python3
T=$(mktemp -d /tmp/gpn-serve-gdal-XXXXXX)
SRV_PID=
fails=0
passes=0
cleanup() {
  [ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null && wait "$SRV_PID" 2>/dev/null
  if [ "$fails" -eq 0 ]; then rm -rf "$T"; else echo "(kept $T)"; fi
}
trap cleanup EXIT
check() { # check NAME CMD...: runs CMD, counts a failure when it fails
  local name=$1; shift
  if "$@"; then echo "ok   $name"; passes=$((passes + 1)); else echo "FAIL $name"; fails=$((fails + 1)); fi
}
for tool in gdal_translate gdalinfo curl; do
  command -v $tool >/dev/null || { echo "SKIP: $tool missing"; exit 0; }
done
export GDAL_HTTP_TIMEOUT=20 CPL_VSIL_CURL_CACHE_SIZE=0 GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR

# ---- data and atlas ---------------------------------------------------------
$PY - "$T" <<'EOF' || exit 1
import sys, numpy as np
from osgeo import gdal, osr
t = sys.argv[1]
w, h = 400, 300
r = np.arange(h)[:, None]; c = np.arange(w)[None, :]
a = (1 + (r * 7 + c * 13) % 255).astype('uint8')
a[:6, :] = 0
ds = gdal.GetDriverByName('GTiff').Create(t + '/src.tif', w, h, 1, gdal.GDT_Byte)
ds.SetGeoTransform([3600000, 50, 0, 2300000, 0, -50])
s = osr.SpatialReference(); s.ImportFromEPSG(3035); ds.SetProjection(s.ExportToWkt())
ds.GetRasterBand(1).WriteArray(a); ds.GetRasterBand(1).SetNoDataValue(0)
ds = None
EOF
gdal_translate -q -of COG -co BLOCKSIZE=128 -co OVERVIEWS=AUTO -co RESAMPLING=NEAREST "$T/src.tif" "$T/grey.tif" || exit 1
# A real atlas: catalog with the species and EUNIS reference tables.
"$GPN" catalog init --atlas "$T/atlas" >/dev/null 2>&1 || exit 1
"$GPN" layer add --atlas "$T/atlas" grey "$T/grey.tif" --style grey:1:255 --group indicators \
  --title "Grey test" >/dev/null || exit 1

"$GPN" serve --atlas "$T/atlas" --port 0 --port-file "$T/port" --threads 2 --access-log "$T/access.log" \
  >"$T/serve.log" 2>&1 &
SRV_PID=$!
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
[ -s "$T/port" ] || { echo "server did not start"; cat "$T/serve.log"; exit 1; }
P=$(cat "$T/port")
B="http://127.0.0.1:$P"

# ---- GDAL WMS driver ---------------------------------------------------------
# The driver reads our capabilities (layer list as subdatasets).
check "gdal WMS capabilities" bash -c \
  "gdalinfo 'WMS:$B/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetCapabilities' | grep -q 'SUBDATASET_1_DESC=Grey test'"

# gdal_translate of a WMS: source. GDAL writes the service description of
# the WMS: URL (1.3.0: it must pick the yxYX BBOX order for EPSG:3035);
# the data window is then set to the source grid so every pixel is compared.
wms_read() { # wms_read VERSION CRSKEY BBOX OUT
  gdal_translate -q -of WMS "WMS:$B/wms?SERVICE=WMS&VERSION=$1&REQUEST=GetMap&LAYERS=grey&$2=EPSG:3035&BBOX=$3&FORMAT=image/png" "$T/svc.xml" || return 1
  sed -i -e 's|<SizeX>[0-9]*</SizeX>|<SizeX>400</SizeX>|' -e 's|<SizeY>[0-9]*</SizeY>|<SizeY>300</SizeY>|' \
    -e 's|<OverviewCount>[0-9]*</OverviewCount>|<OverviewCount>0</OverviewCount>|' \
    -e 's|<BlockSizeX>[0-9]*</BlockSizeX>|<BlockSizeX>256</BlockSizeX>|' \
    -e 's|<BlockSizeY>[0-9]*</BlockSizeY>|<BlockSizeY>256</BlockSizeY>|' "$T/svc.xml"
  gdal_translate -q "$T/svc.xml" "$4"
}
same_pixels() { # same_pixels A.tif SRC.tif: band 1 equals the source where it has data
  $PY - "$1" "$2" <<'EOF'
import sys, numpy as np
from osgeo import gdal
da, ds = gdal.Open(sys.argv[1]), gdal.Open(sys.argv[2])
a = da.GetRasterBand(1).ReadAsArray()
s = ds.ReadAsArray()
m = s != 0
eq = (a[m] == s[m]).mean()
print("  pixels equal to the source: %.6f of %d" % (eq, m.sum()))
sys.exit(0 if a.shape == s.shape and eq == 1.0 else 1)
EOF
}
check "gdal_translate WMS 1.3.0 EPSG:3035 (yxYX) pixels == source" bash -c \
  "$(declare -f wms_read); B=$B T=$T; wms_read 1.3.0 CRS 2285000,3600000,2300000,3620000 $T/w130.tif" 
check "  compare 1.3.0" same_pixels "$T/w130.tif" "$T/grey.tif"
check "gdal_translate WMS 1.1.1 EPSG:3035 pixels == source" bash -c \
  "$(declare -f wms_read); B=$B T=$T; wms_read 1.1.1 SRS 3600000,2285000,3620000,2300000 $T/w111.tif"
check "  compare 1.1.1" same_pixels "$T/w111.tif" "$T/grey.tif"

# ---- GDAL /vsicurl/ on the COG (HTTP Range) ----------------------------------
check "vsicurl COG pixels and overviews == file" $PY - "$B" "$T/grey.tif" <<'EOF'
import sys, numpy as np
from osgeo import gdal
gdal.UseExceptions()
url = "/vsicurl/%s/layers/grey.tif" % sys.argv[1]
r = gdal.Open(url); f = gdal.Open(sys.argv[2])
assert r.RasterXSize == f.RasterXSize and r.RasterYSize == f.RasterYSize
assert r.GetGeoTransform() == f.GetGeoTransform()
assert (r.ReadAsArray() == f.ReadAsArray()).all()
rb, fb = r.GetRasterBand(1), f.GetRasterBand(1)
assert rb.GetOverviewCount() == fb.GetOverviewCount() >= 1
for i in range(fb.GetOverviewCount()):
    assert (rb.GetOverview(i).ReadAsArray() == fb.GetOverview(i).ReadAsArray()).all()
assert rb.GetNoDataValue() == 0
print("  %d overviews identical" % fb.GetOverviewCount())
EOF
check "COG requests were ranges (206)" grep -q '"GET /layers/grey.tif" 206' "$T/access.log"

# ---- protocol details with curl ---------------------------------------------
code() { curl -s -o "$T/body" -w '%{http_code}' "$@"; }
check "GetMap unknown layer -> 400 LayerNotDefined" bash -c \
  "[ \$(curl -s -o $T/e1 -w '%{http_code}' '$B/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=nope&STYLES=&CRS=EPSG:3857&BBOX=0,0,1,1&WIDTH=8&HEIGHT=8&FORMAT=image/png') = 400 ] && grep -q 'code=\"LayerNotDefined\"' $T/e1"
check "GetMap WIDTH over the limit -> 400" bash -c \
  "[ \$(curl -s -o /dev/null -w '%{http_code}' '$B/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=grey&STYLES=&CRS=EPSG:3857&BBOX=0,0,1,1&WIDTH=100000&HEIGHT=8&FORMAT=image/png') = 400 ]"
check "1.1.1 bad SRS -> InvalidSRS" bash -c \
  "curl -s '$B/wms?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetMap&LAYERS=grey&STYLES=&SRS=EPSG:2154&BBOX=0,0,1,1&WIDTH=8&HEIGHT=8&FORMAT=image/png' | grep -q 'code=\"InvalidSRS\"'"
check "traversal on /layers -> 404" bash -c "[ \$(curl -s --path-as-is -o /dev/null -w '%{http_code}' '$B/layers/../catalog.sqlite') = 404 ]"
check "traversal on / -> 404" bash -c "[ \$(curl -s --path-as-is -o /dev/null -w '%{http_code}' '$B/../../etc/passwd') = 404 ]"
check "capabilities gzip" bash -c \
  "curl -s -H 'Accept-Encoding: gzip' -D $T/h -o $T/caps.gz '$B/wms?SERVICE=WMS&REQUEST=GetCapabilities' && grep -qi '^content-encoding: gzip' $T/h && gzip -dc $T/caps.gz | grep -q '<Name>grey</Name>'"
TILE="$B/tiles/grey/12/2061/1499.png"
check "tile MISS then HIT" bash -c \
  "curl -s -D $T/t1 -o /dev/null '$TILE' && curl -s -D $T/t2 -o /dev/null '$TILE' && grep -qi 'x-cache: MISS' $T/t1 && grep -qi 'x-cache: HIT' $T/t2"
ETAG=$(grep -i '^etag:' "$T/t2" | cut -d' ' -f2 | tr -d '\r')
check "tile If-None-Match -> 304" bash -c "[ \$(curl -s -o /dev/null -w '%{http_code}' -H 'If-None-Match: $ETAG' '$TILE') = 304 ]"
check "report API absent or answering JSON" bash -c \
  "curl -s -X POST -d '{}' '$B/api/report' | grep -q '\"error\"\\|\"area\\|\"species'"

# ---- clean shutdown ----------------------------------------------------------
kill -TERM "$SRV_PID"
wait "$SRV_PID"; rc=$?
SRV_PID=
check "SIGTERM -> exit 0" [ "$rc" -eq 0 ]
check "shutdown logged" grep -q "serve: stopped" "$T/serve.log"

echo "RESULT passed=$passes failed=$fails"
[ "$fails" -eq 0 ]
