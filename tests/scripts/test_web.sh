#!/usr/bin/env bash
# test_web.sh - the web app (web/) end to end: builds it when needed
# (scripts/build-web), makes a small atlas, starts `gpn serve` on a free
# 127.0.0.1 port and drives Debian's Chromium with playwright-core
# (tests/web/app.mjs): layers, tiles, legend, GetFeatureInfo, reports from a
# drawn rectangle, a drawn polygon and an uploaded GeoJSON, the four report
# modules, exports and error messages. Also runs the unit tests of the app's
# pure helpers (tests/web/unit.test.mjs, node --test).
#
# The atlas (made here, 400 x 300 cells of 50 m in EPSG:3035 at E3600 km,
# N2285-2300 km, inside meta-tile 25kmE3600N2275):
#   species 1 (Abies alba, tree) everywhere; species 4 (Abies nebrodensis:
#   Habitats Directive, CR, endemic, tree, specialist) in the west half;
#   species 35 (Acer negundo: invasive, tree) in the north-west quarter;
#   imported with `gpn import --kind binary`. The tile also gets an
#   indicators.tif (8 named bands) and a habitat.tif (T11, T12, R18, S31).
#   Layers: `richness` (a float ramp, group indicators) and `sp_4` (the
#   species 4 map, group species).
# So: an area over the whole data has 3 species (1 protected, 1 threatened,
# 1 invasive, 1 endemic, 3 trees), the south-west quarter has 2, the east
# half has 1 - by construction, not from the server.
#
# Skips (exit 0, "SKIP", RESULT with 0 cases) only when Chromium is not
# installed; everything else missing is a failure.
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
GPN=${GPN_BIN:-$ROOT/build/gpn}
PY=/usr/bin/python3
CHROMIUM=${GPN_CHROMIUM:-/usr/bin/chromium}
passes=0
fails=0
SRV_PID=
T=$(mktemp -d /tmp/gpn-web-XXXXXX)
cleanup() {
  if [ -n "$SRV_PID" ]; then kill "$SRV_PID" 2>/dev/null; wait "$SRV_PID" 2>/dev/null; fi
  if [ "$fails" -eq 0 ]; then rm -rf "$T"; else echo "(kept $T)"; fi
}
trap cleanup EXIT
finish() {
  echo "RESULT passed=$passes failed=$fails"
  [ "$fails" -eq 0 ]
  exit $?
}
ok() { echo "ok   $1"; passes=$((passes + 1)); }
bad() { echo "FAIL $1"; fails=$((fails + 1)); }

if [ ! -x "$CHROMIUM" ]; then
  echo "SKIP: $CHROMIUM is not installed (scripts/setup installs it from scripts/setup.d/web.pkgs)"
  echo "RESULT passed=0 failed=0"
  exit 0
fi
command -v node >/dev/null || { bad "node is not installed"; finish; }

# ---- the app ------------------------------------------------------------------
if [ ! -d web/node_modules/playwright-core ] || [ ! -d web/node_modules/vite ]; then
  (cd web && npm ci --no-audit --no-fund --loglevel=error) >"$T/npm.log" 2>&1 ||
    { bad "npm ci in web/ failed (run scripts/setup)"; tail -5 "$T/npm.log"; finish; }
fi
if bash scripts/build-web >"$T/build.log" 2>&1 && [ -f web/dist/index.html ]; then
  ok "web app builds (web/dist)"
else
  bad "web app build"; tail -20 "$T/build.log"; finish
fi
if grep -q '<script type="module"' web/dist/index.html && ls web/dist/assets/*.js >/dev/null 2>&1 &&
   [ -f web/dist/basemap/countries-50m.json ]; then
  ok "dist has index.html, hashed assets and the offline basemap"
else
  bad "dist content"
fi

# ---- unit tests of the helpers -----------------------------------------------------
if node --test tests/web/unit.test.mjs >"$T/unit.log" 2>&1; then
  ok "unit tests (node --test tests/web/unit.test.mjs: $(grep -E '^# pass' "$T/unit.log" | awk '{print $3}') cases)"
else
  bad "unit tests"; grep -E 'not ok|Error|expected|actual' "$T/unit.log" | head -20
fi

# ---- atlas --------------------------------------------------------------------------
"$GPN" catalog init --atlas "$T/atlas" >"$T/atlas.log" 2>&1 || { bad "gpn catalog init"; cat "$T/atlas.log"; finish; }
$PY - "$T" <<'EOF' || { bad "test data"; finish; }
import json, os, sys
import numpy as np
from osgeo import gdal, osr
t = sys.argv[1]
s = osr.SpatialReference(); s.ImportFromEPSG(3035)
w, h = 400, 300
gt = [3600000, 50, 0, 2300000, 0, -50]
def mk(name, a, dt=gdal.GDT_Byte):
    ds = gdal.GetDriverByName('GTiff').Create(name, w, h, 1, dt)
    ds.SetGeoTransform(gt); ds.SetProjection(s.ExportToWkt())
    ds.GetRasterBand(1).WriteArray(a); ds = None
os.makedirs(t + '/sp', exist_ok=True)
mk(t + '/sp/1.tif', np.ones((h, w), 'uint8'))
b = np.zeros((h, w), 'uint8'); b[:, :200] = 1; mk(t + '/sp/4.tif', b)
c = np.zeros((h, w), 'uint8'); c[:150, :200] = 1; mk(t + '/sp/35.tif', c)
mk(t + '/sp4.tif', b)
mk(t + '/rich.tif', np.fromfunction(lambda y, x: x / 40 + y / 60, (h, w)).astype('float32'), gdal.GDT_Float32)

# Tile rasters of 25kmE3600N2275 (500 x 500, top at N2300 km).
d = t + '/atlas/tiles/25kmE3600N2275/'
os.makedirs(d, exist_ok=True)
def tile(name, bands, dt):
    ds = gdal.GetDriverByName('GTiff').Create(d + name, 500, 500, bands, dt)
    ds.SetGeoTransform([3600000, 50, 0, 2300000, 0, -50]); ds.SetProjection(s.ExportToWkt())
    return ds
m1 = np.zeros((500, 500), int); m1[:300, :400] = 1
m4 = np.zeros((500, 500), int); m4[:300, :200] = 1
m35 = np.zeros((500, 500), int); m35[:150, :200] = 1
vals = {'richness': m1 + m4 + m35, 'directive': m4, 'threatened': m4, 'most_threatened': m4 * 5,
        'tree': m1 + m4 + m35, 'invasive': m35, 'specialist': m4, 'endemic': m4}
ds = tile('indicators.tif', 8, gdal.GDT_UInt16)
for i, (n, v) in enumerate(vals.items()):
    bd = ds.GetRasterBand(i + 1); bd.SetDescription(n); bd.WriteArray(v.astype('uint16')); bd.SetNoDataValue(65535)
ds = None
ds = tile('habitat.tif', 1, gdal.GDT_Byte)
ds.SetMetadataItem('GPN_CLASS_CODES', 'T11,T12,R18,S31')
hb = np.zeros((500, 500), 'uint8'); hb[:300, :200] = 1; hb[:300, 200:300] = 2; hb[:100, 300:400] = 3; hb[100:300, 300:400] = 4
ds.GetRasterBand(1).WriteArray(hb); ds = None

# Areas in lon/lat (EPSG:3035 -> 4326, x = lon).
ll = osr.SpatialReference(); ll.ImportFromEPSG(4326); ll.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
tr = osr.CoordinateTransformation(s, ll)
def lonlat(e, n):
    p = tr.TransformPoint(e, n); return [round(p[0], 7), round(p[1], 7)]
def inner_bbox(e0, n0, e1, n1):  # a lon/lat box inside the EPSG:3035 box
    c = [lonlat(e0, n0), lonlat(e1, n0), lonlat(e1, n1), lonlat(e0, n1)]
    return [max(c[0][0], c[3][0]), max(c[0][1], c[1][1]), min(c[1][0], c[2][0]), min(c[2][1], c[3][1])]
def ring(pts):
    r = [lonlat(e, n) for e, n in pts]; return r + [r[0]]
upload = {'type': 'FeatureCollection', 'features': [{'type': 'Feature', 'properties': {'name': 'east half'},
          'geometry': {'type': 'Polygon', 'coordinates': [ring([(3611000, 2286000), (3619000, 2286000),
                                                                (3619000, 2299000), (3611000, 2299000)])]}}]}
json.dump(upload, open(t + '/east-half.geojson', 'w'))
json.dump({'type': 'Point', 'coordinates': lonlat(3605000, 2296000)}, open(t + '/point.geojson', 'w'))
bow = ring([(3602000, 2286000), (3618000, 2298000), (3618000, 2286000), (3602000, 2298000)])
json.dump({'type': 'Polygon', 'coordinates': [bow]}, open(t + '/bowtie.geojson', 'w'))
case = {
    'layers': [{'name': 'richness', 'title': 'Richness test', 'groupLabel': 'Indicators'},
               {'name': 'sp_4', 'title': 'Abies nebrodensis map', 'groupLabel': 'Species'}],
    'inside': lonlat(3605000, 2296000),
    'rect': inner_bbox(3600500, 2285500, 3619500, 2299500),
    'rectSpecies': 3,
    'rectCounts': {'protected': 1, 'threatened': 1, 'invasive': 1, 'endemic': 1, 'tree': 3, 'specialist': 1},
    'topHabitat': 'T11',
    'speciesNames': ['Abies alba', 'Abies nebrodensis', 'Acer negundo'],
    'topSpeciesId': 1,
    'search': {'query': 'acer', 'rows': 1},
    'invasiveRows': 1,
    'habitatsL3': ['T11', 'T12', 'S31', 'R18'],
    'habitatsL1': 3,
    'habitatsTotal': 10,
    'richnessRange': [1, 3],
    'poly': [lonlat(3601000, 2286000), lonlat(3609000, 2286500), lonlat(3608000, 2292000), lonlat(3602000, 2291500)],
    'polySpecies': 2,
    'uploadFile': t + '/east-half.geojson',
    'uploadSpecies': 1,
    'pointFile': t + '/point.geojson',
    'bowtieFile': t + '/bowtie.geojson',
}
json.dump(case, open(t + '/case.json', 'w'), indent=1)
EOF
gdal_translate -q -of COG "$T/rich.tif" "$T/richness.tif" && gdal_translate -q -of COG "$T/sp4.tif" "$T/sp4c.tif" &&
  "$GPN" import --atlas "$T/atlas" --kind binary "$T/sp" >>"$T/atlas.log" 2>&1 &&
  "$GPN" layer add --atlas "$T/atlas" richness "$T/richness.tif" --group indicators --title "Richness test" >>"$T/atlas.log" 2>&1 &&
  "$GPN" layer add --atlas "$T/atlas" sp_4 "$T/sp4c.tif" --group species --title "Abies nebrodensis map" >>"$T/atlas.log" 2>&1 ||
  { bad "atlas (gpn import / gpn layer add)"; cat "$T/atlas.log"; finish; }
ok "atlas made (gpn catalog init, gpn import, gpn layer add)"

# ---- server ---------------------------------------------------------------------------
"$GPN" serve --atlas "$T/atlas" --bind 127.0.0.1 --port 0 --port-file "$T/port" --threads 2 \
  --web-root "$ROOT/web/dist" --access-log "$T/access.log" >"$T/serve.log" 2>&1 &
SRV_PID=$!
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
[ -s "$T/port" ] || { bad "server start"; cat "$T/serve.log"; finish; }
B="http://127.0.0.1:$(cat "$T/port")"
if curl -sf "$B/api/report?bbox=3600500,2285500,3619500,2299500&bbox_crs=3035" -o "$T/r.json" &&
   grep -q '"species":3' "$T/r.json"; then
  ok "report API answers (3 species by construction)"
else
  code=$(curl -s -o "$T/r.json" -w '%{http_code}' "$B/api/report?bbox=3600500,2285500,3619500,2299500&bbox_crs=3035")
  bad "report API: HTTP $code $(head -c 300 "$T/r.json" 2>/dev/null)"
  [ "$code" = 501 ] && echo "    (this gpn was linked without the report API: src/http/api_report.c not pulled into the binary)"
fi

# ---- browser ----------------------------------------------------------------------------
mkdir -p "$T/out"
GPN_WEB_BASE="$B" GPN_WEB_OUT="$T/out" GPN_WEB_CASE="$T/case.json" GPN_CHROMIUM="$CHROMIUM" \
  timeout 300 node tests/web/app.mjs >"$T/browser.log" 2>&1
brc=$?
cat "$T/browser.log"
p=$(grep -c '^ok ' "$T/browser.log")
f=$(grep -c '^FAIL ' "$T/browser.log")
passes=$((passes + p))
fails=$((fails + f))
if [ $brc -ne 0 ] && [ "$f" -eq 0 ]; then bad "browser script exited $brc"; fi
# Screenshots go to /tmp for a look (kept whatever the outcome).
SHOTS=${GPN_WEB_SHOTS:-/tmp/gpn-webshots}
mkdir -p "$SHOTS" && cp "$T"/out/*.png "$SHOTS"/ 2>/dev/null && echo "screenshots: $SHOTS"
finish
