#!/usr/bin/env bash
# test_serve_cli.sh - the command lines of the map server: `gpn layer add /
# list / rm` (catalog rows, version bumps, usage errors), `gpn seed` (tiles in
# the cache, skipped on a second run, usage errors) and `gpn serve` (--help,
# config file errors, --config applied, exit codes).
set -u
GPN=${GPN_BIN:-$PWD/build/gpn}
T=$(mktemp -d /tmp/gpn-serve-cli-XXXXXX)
passes=0; fails=0; SRV=
cleanup() { [ -n "$SRV" ] && kill "$SRV" 2>/dev/null && wait "$SRV" 2>/dev/null; [ "$fails" -eq 0 ] && rm -rf "$T" || echo "(kept $T)"; }
trap cleanup EXIT
check() { local name=$1; shift; if "$@"; then echo "ok   $name"; passes=$((passes + 1)); else echo "FAIL $name"; fails=$((fails + 1)); fi; }
rc_of() { "$@" >/dev/null 2>&1; echo $?; }

/usr/bin/python3 - "$T" <<'EOF' || exit 1
import sys, numpy as np
from osgeo import gdal, osr
t = sys.argv[1]
a = (np.indices((256, 256)).sum(0) % 200).astype('float32')
ds = gdal.GetDriverByName('GTiff').Create(t + '/f.tif', 256, 256, 1, gdal.GDT_Float32, ['TILED=YES'])
ds.SetGeoTransform([3700000, 50, 0, 2400000, 0, -50])
s = osr.SpatialReference(); s.ImportFromEPSG(3035); ds.SetProjection(s.ExportToWkt())
ds.GetRasterBand(1).WriteArray(a); ds = None
ds = gdal.GetDriverByName('GTiff').Create(t + '/nocrs.tif', 8, 8, 1, gdal.GDT_Byte); ds = None
EOF
A="$T/atlas"
check "layer add" bash -c "'$GPN' layer add --atlas '$A' rich '$T/f.tif' --style magma:0:200 --group indicators --title 'Rich' | grep -q 'layer rich version 1: 256x256 float32 EPSG:3035'"
check "layer add again bumps the version" bash -c "'$GPN' layer add --atlas '$A' rich '$T/f.tif' --style magma:0:200 --group indicators | grep -q 'version 2'"
check "layer add bad style -> 2" [ "$(rc_of "$GPN" layer add --atlas "$A" x "$T/f.tif" --style rainbow)" = 2 ]
check "layer add bad group -> 2" [ "$(rc_of "$GPN" layer add --atlas "$A" x "$T/f.tif" --group trees)" = 2 ]
check "layer add bad name -> 2" [ "$(rc_of "$GPN" layer add --atlas "$A" 'a/b' "$T/f.tif")" = 2 ]
check "layer add missing file -> 1" [ "$(rc_of "$GPN" layer add --atlas "$A" y "$T/none.tif")" = 1 ]
check "layer add raster without CRS -> 1" [ "$(rc_of "$GPN" layer add --atlas "$A" y "$T/nocrs.tif")" = 1 ]
check "layer list" bash -c "'$GPN' layer list --atlas '$A' | grep -qP '^rich\tindicators\tmagma:0:200\tfloat32\t3035\t2\t'"
check "layer list --json" bash -c "'$GPN' layer list --atlas '$A' --json | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[0][\"name\"]==\"rich\" and d[0][\"version\"]==2'"
check "layer --help -> 0" [ "$(rc_of "$GPN" layer --help)" = 0 ]

check "seed" bash -c "'$GPN' seed --atlas '$A' --layers rich --zoom 9-12 --threads 2 --rate 500 2>/dev/null | grep -qE '^seeded [1-9][0-9]* tiles'"
check "seed files in the cache (version 2)" bash -c "find '$A/cache/rich/v2/magma/12' -name '*.png' | grep -q png"
check "seed again skips cached tiles" bash -c "'$GPN' seed --atlas '$A' --layers rich --zoom 9-12 2>/dev/null | grep -q '^seeded 0 tiles'"
check "seed bad zoom -> 2" [ "$(rc_of "$GPN" seed --atlas "$A" --layers rich --zoom 12-9)" = 2 ]
check "seed unknown layer -> 1" [ "$(rc_of "$GPN" seed --atlas "$A" --layers nope --zoom 1-2)" = 1 ]
check "seed bad bbox -> 2" [ "$(rc_of "$GPN" seed --atlas "$A" --layers rich --zoom 1-2 --bbox 10,10,5,5)" = 2 ]

check "serve --help -> 0" [ "$(rc_of "$GPN" serve --help)" = 0 ]
check "serve without atlas -> 2" [ "$(rc_of "$GPN" serve)" = 2 ]
printf 'atlas = %s\nprot = 1\n' "$A" >"$T/bad.conf"
check "serve config unknown key -> 1 naming FILE:LINE" bash -c "'$GPN' serve --config '$T/bad.conf' 2>&1 | grep -q 'bad.conf:2'"
printf '# test config\natlas = %s\nport = 0\nthreads = 1\naccess_log = %s\n' "$A" "$T/acc.log" >"$T/ok.conf"
"$GPN" serve --config "$T/ok.conf" --port-file "$T/port" >"$T/serve.log" 2>&1 &
SRV=$!
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
P=$(cat "$T/port" 2>/dev/null)
check "serve with --config answers" bash -c "curl -s 'http://127.0.0.1:$P/api/layers' | grep -q '\"name\":\"rich\"'"
check "access log written" bash -c "sleep 0.2; grep -q 'GET /api/layers' '$T/acc.log'"
check "layer rm" bash -c "'$GPN' layer rm --atlas '$A' rich | grep -q 'removed'"
check "server drops the removed layer" bash -c "for i in \$(seq 50); do curl -s 'http://127.0.0.1:$P/api/layers' | grep -q '\"layers\":\[\]' && exit 0; sleep 0.2; done; exit 1"
check "layer rm unknown -> 1" [ "$(rc_of "$GPN" layer rm --atlas "$A" rich)" = 1 ]
kill -TERM "$SRV"; wait "$SRV"; rc=$?; SRV=
check "serve SIGTERM -> 0" [ "$rc" = 0 ]
echo "RESULT passed=$passes failed=$fails"
[ "$fails" -eq 0 ]
