#!/usr/bin/env bash
# test_cog_validate.sh - COGs written by `gpn raster cog` pass GDAL's own
# validator (osgeo_utils/samples/validate_cloud_optimized_geotiff.py, from
# Debian's python3-gdal), with a full check of tile and overview layout.
#
# Sources are plain (striped, no overview) GeoTIFFs made with gdal_translate
# from a real GeoPlant JPEG patch, up-sampled so that overviews are built:
# a float32 continuous raster (DEFLATE, AVERAGE overviews) and a uint8 class
# raster (--categorical --compress ZSTD). The validator must also REJECT the
# plain source, so this test can fail. Prints "RESULT passed=P failed=F".
set -u
GPN=${GPN_BIN:-build/gpn}
SHARED=${GPN_SHARED:-../shared}
PY=/usr/bin/python3
JPEG="$SHARED/data/glc23_sample/SatelliteImages/rgb/83/70/5217083.jpeg"
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
ko() { fail=$((fail + 1)); echo "FAIL $1"; }

VALIDATOR="$($PY -c 'import osgeo_utils, os; print(os.path.dirname(osgeo_utils.__file__))' 2>/dev/null)/samples/validate_cloud_optimized_geotiff.py"
if [ ! -f "$VALIDATOR" ]; then
  echo "FAIL validator not found ($VALIDATOR): install python3-gdal"
  echo "RESULT passed=0 failed=1"; exit 1
fi
if [ ! -f "$JPEG" ]; then
  echo "FAIL missing test patch $JPEG"; echo "RESULT passed=0 failed=1"; exit 1
fi
tmp=$(mktemp -d /tmp/gpn-cogval-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# Plain GeoTIFFs: 1500x1200 so the COG gets overviews (blocks are 512).
gdal_translate -q -of GTiff -ot Float32 -outsize 1500 1200 -r bilinear -a_srs EPSG:3035 \
  -a_ullr 4000000 3060000 4075000 3000000 -a_nodata -9999 "$JPEG" "$tmp/plain_f32.tif" \
  && ok "gdal_translate float32 source" || ko "gdal_translate float32 source"
gdal_translate -q -of GTiff -ot Byte -b 1 -outsize 1500 1200 -r nearest -a_srs EPSG:3035 \
  -a_ullr 4000000 3060000 4075000 3000000 -a_nodata 0 "$JPEG" "$tmp/plain_u8.tif" \
  && ok "gdal_translate uint8 source" || ko "gdal_translate uint8 source"

# The validator must reject a plain striped GeoTIFF (proves it can fail).
if $PY "$VALIDATOR" -q "$tmp/plain_f32.tif" >/dev/null 2>&1; then ko "validator rejects plain GTiff"
else ok "validator rejects plain GTiff"; fi

validate() { # name file
  local out; out=$($PY "$VALIDATOR" --full-check=yes "$2" 2>&1); local rc=$?
  if [ $rc -eq 0 ] && ! grep -qi "error" <<<"$out"; then ok "$1 is a valid COG"
  else ko "$1 is a valid COG"; sed 's/^/    /' <<<"$out"; fi
}

if "$GPN" raster cog "$tmp/plain_f32.tif" "$tmp/cog_f32.tif"; then ok "gpn raster cog float32"
else ko "gpn raster cog float32"; fi
validate "float32 DEFLATE" "$tmp/cog_f32.tif"
if "$GPN" raster cog --categorical --compress ZSTD "$tmp/plain_u8.tif" "$tmp/cog_u8.tif"; then
  ok "gpn raster cog --categorical --compress ZSTD"
else ko "gpn raster cog --categorical --compress ZSTD"; fi
validate "uint8 categorical ZSTD" "$tmp/cog_u8.tif"

# gpn raster info --json agrees: COG layout, compression, overviews, nodata, EPSG.
json=$("$GPN" raster info --json "$tmp/cog_u8.tif")
if $PY -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["layout"] == "COG", d
assert d["compression"] == "ZSTD", d
assert d["overviews"] >= 1, d
assert d["epsg"] == 3035, d
assert d["nodata"] == 0, d
assert d["width"] == 1500 and d["height"] == 1200 and d["dtype"] == "uint8", d
' "$json"; then ok "info --json of the COG"; else ko "info --json of the COG"; echo "    $json"; fi

# Pixels are preserved (lossless): compare with GDAL's checksum of the source.
cs() { $PY -c 'import sys; from osgeo import gdal; ds = gdal.Open(sys.argv[1]); print(ds.GetRasterBand(1).Checksum())' "$1"; }
if [ "$(cs "$tmp/plain_f32.tif")" = "$(cs "$tmp/cog_f32.tif")" ]; then ok "float32 pixels preserved"
else ko "float32 pixels preserved"; fi
if [ "$(cs "$tmp/plain_u8.tif")" = "$(cs "$tmp/cog_u8.tif")" ]; then ok "uint8 pixels preserved"
else ko "uint8 pixels preserved"; fi

# No temporary files left beside the outputs.
if ls "$tmp" | grep -q '\.tmp-'; then ko "no *.tmp-* left"; else ok "no *.tmp-* left"; fi

echo "RESULT passed=$pass failed=$fail"
[ $fail -eq 0 ]
