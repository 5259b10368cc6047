#!/usr/bin/env bash
# bench/bench_load.sh - load test of `gpn serve`: 60 s at 64 connections of
# mixed traffic (random GetMaps, XYZ tiles cached and not, GetFeatureInfo,
# capabilities, COG range reads, bad requests), then checks that no response
# was a 5xx and that the resident memory stayed bounded. Not part of
# `make test`.
#
#   bash bench/bench_load.sh           DUR=60 CONNS=64 THREADS=2 RSS_LIMIT_MB=512
#
# Output: the wrk summary, status counts (2xx/3xx/4xx/5xx), the RSS every 10 s
# and its maximum, and "load test: PASS|FAIL".
set -u
GPN=${GPN_BIN:-$PWD/build/gpn}
DUR=${DUR:-60}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
RSS_LIMIT_MB=${RSS_LIMIT_MB:-512}
PY=/usr/bin/python3
command -v wrk >/dev/null || { echo "bench_load: wrk missing (apt-get install wrk)"; exit 1; }
T=$(mktemp -d /tmp/gpn-bench-load-XXXXXX)
SRV=
cleanup() { [ -n "$SRV" ] && kill "$SRV" 2>/dev/null; sleep 0.3; rm -rf "$T"; }
trap cleanup EXIT

$PY - "$T" <<'EOF' || exit 1
import sys, random, numpy as np
from osgeo import gdal, osr
t = sys.argv[1]
w = h = 3000
y, x = np.mgrid[0:h, 0:w]
a = (50 + 30 * np.sin(x / 200.0) + 20 * np.cos(y / 130.0)).astype('float32')
a[:40, :] = -1
ds = gdal.GetDriverByName('MEM').Create('', w, h, 1, gdal.GDT_Float32)
ds.SetGeoTransform([3700000, 50, 0, 2400000, 0, -50])
s = osr.SpatialReference(); s.ImportFromEPSG(3035); ds.SetProjection(s.ExportToWkt())
ds.GetRasterBand(1).WriteArray(a); ds.GetRasterBand(1).SetNoDataValue(-1)
gdal.Translate(t + '/rich.tif', ds, format='COG', creationOptions=['BLOCKSIZE=512', 'COMPRESS=DEFLATE'])
c = (np.floor(x / 400) + 3 * np.floor(y / 500)).astype('uint8') % 5 + 1
ds.GetRasterBand(1).SetNoDataValue(0)
d2 = gdal.GetDriverByName('MEM').Create('', w, h, 1, gdal.GDT_Byte)
d2.SetGeoTransform(ds.GetGeoTransform()); d2.SetProjection(ds.GetProjection())
d2.GetRasterBand(1).WriteArray(c); d2.GetRasterBand(1).SetNoDataValue(0)
gdal.Translate(t + '/hab.tif', d2, format='COG', creationOptions=['BLOCKSIZE=512', 'RESAMPLING=NEAREST'])
open(t + '/hab.csv', 'w').write("raster_value,habitat_code\n1,T1\n2,R1\n3,Q5\n4,S3\n5,V1\n")
random.seed(7)
src = osr.SpatialReference(); src.ImportFromEPSG(3035); src.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
merc = osr.SpatialReference(); merc.ImportFromEPSG(3857); merc.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
tr = osr.CoordinateTransformation(src, merc)
R = 20037508.342789244
lines = []
for i in range(6000):
    z = random.randint(6, 14)
    mx, my, _ = tr.TransformPoint(random.uniform(3690000, 3860000), random.uniform(2240000, 2410000))
    n = 2 ** z; size = 2 * R / n
    tx = int((mx + R) / size); ty = int((R - my) / size)
    b = (-R + tx * size, R - (ty + 1) * size, -R + (tx + 1) * size, R - ty * size)
    layer = random.choice(['rich', 'hab', 'rich,hab'])
    k = random.random()
    if k < 0.35:
        lines.append('/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=%s&STYLES=&CRS=EPSG:3857&BBOX=%.3f,%.3f,%.3f,%.3f'
                     '&WIDTH=256&HEIGHT=256&FORMAT=image/png&TRANSPARENT=TRUE' % ((layer,) + b))
    elif k < 0.75:
        lines.append('/tiles/%s/%d/%d/%d.png' % (layer.split(',')[0], z, tx, ty))
    elif k < 0.82:
        lines.append('/wms?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetFeatureInfo&LAYERS=hab&QUERY_LAYERS=hab,rich&STYLES=&SRS=EPSG:3857'
                     '&BBOX=%.3f,%.3f,%.3f,%.3f&WIDTH=256&HEIGHT=256&X=%d&Y=%d&INFO_FORMAT=application/json'
                     % (b + (random.randint(0, 255), random.randint(0, 255))))
    elif k < 0.85:
        lines.append('/wms?SERVICE=WMS&REQUEST=GetCapabilities')
    elif k < 0.88:
        lines.append('/wmts/1.0.0/%s/default/GoogleMapsCompatible/%d/%d/%d.png' % (layer.split(',')[0], z, ty, tx))
    elif k < 0.91:
        lines.append('/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=nope&STYLES=&CRS=EPSG:3857&BBOX=0,0,1,1&WIDTH=9999&HEIGHT=1&FORMAT=image/png')
    elif k < 0.93:
        lines.append('/layers/../../etc/passwd')
    else:
        lines.append('/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetLegendGraphic&LAYER=%s&FORMAT=image/png' % layer.split(',')[0])
open(t + '/urls.txt', 'w').write('\n'.join(lines) + '\n')
EOF
cat >"$T/load.lua" <<'EOF'
local urls = {}
for line in io.lines(os.getenv("URLS")) do urls[#urls + 1] = line end
local i = 0
local counts = {}
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  math.randomseed(os.time() + math.random(1000000))
  i = math.random(#urls)
  c2, c3, c4, c5 = 0, 0, 0, 0
end
function request()
  i = i + 1
  if i > #urls then i = 1 end
  return wrk.format("GET", urls[i])
end
function response(status, headers, body)
  if status >= 500 then c5 = c5 + 1 elseif status >= 400 then c4 = c4 + 1
  elseif status >= 300 then c3 = c3 + 1 else c2 = c2 + 1 end
end
function done(summary, latency, requests)
  local t2, t3, t4, t5 = 0, 0, 0, 0
  for _, th in ipairs(threads) do
    t2 = t2 + th:get("c2"); t3 = t3 + th:get("c3"); t4 = t4 + th:get("c4"); t5 = t5 + th:get("c5")
  end
  io.write(string.format("status 2xx=%d 3xx=%d 4xx=%d 5xx=%d\n", t2, t3, t4, t5))
end
EOF
"$GPN" layer add --atlas "$T/atlas" rich "$T/rich.tif" --style viridis:0:110 --group indicators >/dev/null || exit 1
"$GPN" layer add --atlas "$T/atlas" hab "$T/hab.tif" --style classes --group habitats_l2 >/dev/null || exit 1
"$GPN" serve --atlas "$T/atlas" --port 0 --port-file "$T/port" --threads "$THREADS" --cache-size 256 -q \
  >"$T/serve.log" 2>&1 &
SRV=$!
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
P=$(cat "$T/port")
echo "# load test: ${DUR}s, $CONNS connections, $THREADS server threads, $(wc -l <"$T/urls.txt") distinct URLs (mixed)"
rss() { awk '/VmRSS/ {print int($2/1024)}' /proc/$SRV/status 2>/dev/null || echo 0; }
(
  max=0
  for s in $(seq "$DUR"); do
    r=$(rss); [ "$r" -gt "$max" ] && max=$r
    [ $((s % 10)) -eq 0 ] && echo "rss t=${s}s ${r} MiB"
    sleep 1
  done
  echo "rss_max_mb=$max"
) >"$T/rss.log" &
RSSMON=$!
URLS="$T/urls.txt" wrk -t2 -c"$CONNS" -d"${DUR}s" --latency --timeout 30s -s "$T/load.lua" "http://127.0.0.1:$P" | tee "$T/wrk.log"
wait $RSSMON
cat "$T/rss.log"
alive=0; kill -0 "$SRV" 2>/dev/null && alive=1
n5=$(sed -nE 's/.*5xx=([0-9]+).*/\1/p' "$T/wrk.log")
max=$(sed -nE 's/rss_max_mb=([0-9]+)/\1/p' "$T/rss.log")
echo "server alive after the run: $alive; 5xx: ${n5:-?}; max RSS ${max:-?} MiB (limit $RSS_LIMIT_MB)"
if [ "$alive" = 1 ] && [ "${n5:-1}" = 0 ] && [ "${max:-99999}" -le "$RSS_LIMIT_MB" ]; then
  echo "load test: PASS"
else
  echo "load test: FAIL"; tail -20 "$T/serve.log"; exit 1
fi
