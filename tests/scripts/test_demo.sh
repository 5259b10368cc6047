#!/usr/bin/env bash
# test_demo.sh - scripts/demo end to end on the quick preset region (1 tile,
# 50 species, one training epoch): every built step runs (synth, ingest,
# catalog, train-sdm, eval-sdm, import of the truth maps, layers), the atlas
# then answers POST /api/report with species, indicators and habitats, and
# the indicator layers render. Checks the wiring of `make demo`, not model
# quality (that is docs/sdm.md's measurement).
set -u
BUILD=${1:-${GPN_BUILD:-build}}
GPN=${GPN_BIN:-$PWD/$BUILD/gpn}
T=$(mktemp -d /tmp/gpn-demo-XXXXXX)
passes=0; fails=0; SRV=
cleanup() { [ -n "$SRV" ] && kill "$SRV" 2>/dev/null && wait "$SRV" 2>/dev/null; [ "$fails" -eq 0 ] && rm -rf "$T" || echo "(kept $T)"; }
trap cleanup EXIT
check() { local name=$1; shift; if "$@"; then echo "ok   $name"; passes=$((passes + 1)); else echo "FAIL $name"; fails=$((fails + 1)); fi; }

DEMO_OUT="$T/out" DEMO_TILES=1 DEMO_SPECIES=50 DEMO_NO_SERVE=1 DEMO_SYNTH_ARGS="--quick" \
  DEMO_TRAIN_ARGS="--epochs 1" bash scripts/demo "$BUILD" >"$T/demo.log" 2>&1
rc=$?
check "demo pipeline exits 0" [ "$rc" = 0 ]
[ "$rc" = 0 ] || tail -30 "$T/demo.log"
A="$T/out/atlas"
check "demo trained a model" [ -s "$A/models/sdm.gpnm" ]
check "demo printed the GeoPlant metric table" grep -q "F1@25" "$T/demo.log"
check "demo built the assemblage store" bash -c "ls '$A'/tiles/*/species.roar >/dev/null 2>&1"
check "demo wrote indicators and habitats" bash -c "ls '$A'/tiles/*/indicators.tif '$A'/tiles/*/habitat.tif >/dev/null 2>&1"
check "demo published the indicator layers" bash -c "'$GPN' layer list --atlas '$A' | grep -q '^indicator-richness'"

PORT=$((20000 + RANDOM % 20000))
"$GPN" serve --atlas "$A" --bind 127.0.0.1 --port "$PORT" >"$T/serve.log" 2>&1 &
SRV=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/api/layers" && break; sleep 0.1; done
# The quick region's centre, from its region.json, as a 4 km square.
area=$(/usr/bin/python3 -c "
import json; b = json.load(open('$T/out/region/region.json'))['bbox_lonlat']
cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2; d = 0.025
print(json.dumps({'type': 'Polygon', 'coordinates': [[[cx-d, cy-d], [cx+d, cy-d], [cx+d, cy+d], [cx-d, cy+d], [cx-d, cy-d]]]}))")
curl -s -X POST "http://127.0.0.1:$PORT/api/report" -H 'Content-Type: application/json' -d "$area" >"$T/report.json"
check "report has species, indicators and habitats" /usr/bin/python3 -c "
import json, sys
r = json.load(open('$T/report.json'))
assert r['area']['cells_with_data'] > 0, r['area']
assert r['counts']['species'] > 0 and len(r['species']) > 0
assert r['indicators']['richness']['max'] > 0
assert len(r['habitats']['level3']) > 0 and len(r['habitats']['level1']) > 0
assert any(m for m in r['models'].values() if m) if isinstance(r.get('models'), dict) else True
"
code=$(curl -s -o "$T/m.png" -w '%{http_code}' "http://127.0.0.1:$PORT/wms?SERVICE=WMS&REQUEST=GetMap&VERSION=1.3.0&LAYERS=indicator-richness&STYLES=&CRS=EPSG:4326&BBOX=$(/usr/bin/python3 -c "import json; b=json.load(open('$T/out/region/region.json'))['bbox_lonlat']; print('%f,%f,%f,%f' % (b[1], b[0], b[3], b[2]))")&WIDTH=128&HEIGHT=128&FORMAT=image/png")
check "indicator layer renders" [ "$code" = 200 ]
echo "RESULT passed=$passes failed=$fails"
[ "$fails" -eq 0 ]
