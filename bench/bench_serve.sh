#!/usr/bin/env bash
# bench/bench_serve.sh - throughput and latency of `gpn serve` against
# MapServer 8 (Debian cgi-mapserver as FastCGI behind nginx) on the same
# COG, the same style and the same random 256 x 256 EPSG:3857 GetMap
# requests at zooms 7-13, with the same connections, in one run; then
# cached XYZ tiles. Not part of `make test`.
#
#   bash bench/bench_serve.sh                 # defaults below
#   DUR=30 CONNS="4 8" THREADS=2 MS_WORKERS=2 bash bench/bench_serve.sh
#
# Prints one line per case:
#   case=getmap server=gpn conns=8 rps=... p50_ms=... p90_ms=... p99_ms=... non2xx=...
# and the ratio gpn/mapserver per connection count, and the tile req/s.
#
# Same style: a linear grey ramp over [0, 110] on both servers (gpn style
# "grey:0:110"; MapServer STYLE COLORRANGE 0 0 0 255 255 255 DATARANGE 0 110),
# nodata -1 transparent, nearest-neighbour resampling, PNG output.
# Needs: wrk, nginx, spawn-fcgi, mapserv (cgi-mapserver), python3-gdal.
set -u
GPN=${GPN_BIN:-$PWD/build/gpn}
DUR=${DUR:-20}
CONNS=${CONNS:-"4 8"}
THREADS=${THREADS:-2}
MS_WORKERS=${MS_WORKERS:-2}
TILE_CONNS=${TILE_CONNS:-64}
PY=/usr/bin/python3
for t in wrk nginx spawn-fcgi; do command -v $t >/dev/null || { echo "bench_serve: $t missing"; exit 1; }; done
MAPSERV=$(command -v mapserv || echo /usr/lib/cgi-bin/mapserv)
[ -x "$MAPSERV" ] || { echo "bench_serve: mapserv missing (apt-get install cgi-mapserver)"; exit 1; }
T=$(mktemp -d /tmp/gpn-bench-serve-XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  [ -f "$T/nginx.pid" ] && kill "$(cat "$T/nginx.pid")" 2>/dev/null
  [ -f "$T/fcgi.pid" ] && kill "$(cat "$T/fcgi.pid")" 2>/dev/null
  sleep 0.5
  rm -rf "$T"
}
trap cleanup EXIT
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# ---- the COG: a smooth float32 field, 4000 x 4000 cells of 50 m (200 km) ----
$PY - "$T" <<'EOF' || exit 1
import sys, numpy as np
from osgeo import gdal, osr
t = sys.argv[1]
w = h = 4000
y, x = np.mgrid[0:h, 0:w]
a = (50 + 30 * np.sin(x / 300.0) + 20 * np.cos(y / 170.0) + 10 * np.sin((x + y) / 53.0)).astype('float32')
a[:50, :] = -1
ds = gdal.GetDriverByName('MEM').Create('', w, h, 1, gdal.GDT_Float32)
ds.SetGeoTransform([3700000, 50, 0, 2400000, 0, -50])
s = osr.SpatialReference(); s.ImportFromEPSG(3035); ds.SetProjection(s.ExportToWkt())
ds.GetRasterBand(1).WriteArray(a); ds.GetRasterBand(1).SetNoDataValue(-1)
gdal.Translate(t + '/rich.tif', ds, format='COG',
               creationOptions=['BLOCKSIZE=512', 'OVERVIEWS=AUTO', 'COMPRESS=DEFLATE', 'PREDICTOR=YES'])
# Random tile-aligned GetMap boxes at zooms 7-13 over the layer.
import random
random.seed(42)
src = osr.SpatialReference(); src.ImportFromEPSG(3035); src.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
merc = osr.SpatialReference(); merc.ImportFromEPSG(3857); merc.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
tr = osr.CoordinateTransformation(src, merc)
R = 20037508.342789244
with open(t + '/getmap.txt', 'w') as f:
    for i in range(5000):
        z = random.randint(7, 13)
        mx, my, _ = tr.TransformPoint(random.uniform(3700000, 3900000), random.uniform(2200000, 2400000))
        n = 2 ** z; size = 2 * R / n
        tx = int((mx + R) / size); ty = int((R - my) / size)
        b = (-R + tx * size, R - (ty + 1) * size, -R + (tx + 1) * size, R - ty * size)
        f.write('/wms?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetMap&LAYERS=rich&STYLES=&SRS=EPSG:3857'
                '&BBOX=%.6f,%.6f,%.6f,%.6f&WIDTH=256&HEIGHT=256&FORMAT=image/png&TRANSPARENT=TRUE\n' % b)
EOF
cat >"$T/urls.lua" <<'EOF'
local urls = {}
for line in io.lines(os.getenv("URLS")) do urls[#urls + 1] = line end
local i = 0
function init(args) math.randomseed(os.time() + math.random(1000000)); i = math.random(#urls) end
function request()
  i = i + 1
  if i > #urls then i = 1 end
  return wrk.format("GET", urls[i])
end
EOF
# wrk summary -> "rps=.. p50_ms=.. p90_ms=.. p99_ms=.. non2xx=.."
run_wrk() { # run_wrk URLFILE CONNS BASE
  local out
  out=$(URLS=$1 wrk -t2 -c"$2" -d"${DUR}s" --latency -s "$T/urls.lua" "$3" 2>&1)
  echo "$out" | awk '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /^ +50%/ {p50=ms($2)} /^ +90%/ {p90=ms($2)} /^ +99%/ {p99=ms($2)}
    /Requests\/sec/ {rps=$2} /Non-2xx/ {n=$NF}
    END {printf "rps=%s p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f non2xx=%d\n", rps, p50, p90, p99, n+0}'
}

# ---- gpn serve ------------------------------------------------------------
"$GPN" layer add --atlas "$T/atlas" rich "$T/rich.tif" --style grey:0:110 --group indicators >/dev/null || exit 1
GP=$(free_port)
"$GPN" serve --atlas "$T/atlas" --port "$GP" --threads "$THREADS" --port-file "$T/gport" -q >"$T/gpn.log" 2>&1 &
PIDS+=($!)
GPN_PID=$!

# ---- MapServer: mapfile, config, FastCGI workers, nginx ----------------------
FP=$(free_port); NP=$(free_port)
cat >"$T/bench.map" <<EOF
MAP
  NAME "bench"
  EXTENT -20037508 -20037508 20037508 20037508
  SIZE 256 256
  PROJECTION "EPSG:3857" END
  OUTPUTFORMAT
    NAME "png"
    DRIVER AGG/PNG
    MIMETYPE "image/png"
    IMAGEMODE RGBA
    EXTENSION "png"
    TRANSPARENT ON
  END
  WEB
    METADATA
      "wms_title" "bench"
      "wms_onlineresource" "http://127.0.0.1:$NP/wms?"
      "wms_srs" "EPSG:3857 EPSG:4326 EPSG:3035"
      "wms_enable_request" "*"
    END
  END
  LAYER
    NAME "rich"
    TYPE RASTER
    STATUS ON
    DATA "$T/rich.tif"
    PROJECTION "EPSG:3035" END
    PROCESSING "RESAMPLE=NEAREST"
    PROCESSING "NODATA=-1"
    METADATA "wms_title" "rich" END
    CLASS
      STYLE
        COLORRANGE 0 0 0 255 255 255
        DATARANGE 0 110
      END
    END
  END
END
EOF
cat >"$T/mapserver.conf" <<EOF
CONFIG
  ENV
    MS_MAPFILE "$T/bench.map"
  END
END
EOF
MAPSERVER_CONFIG_FILE="$T/mapserver.conf" spawn-fcgi -a 127.0.0.1 -p "$FP" -F "$MS_WORKERS" -P "$T/fcgi.pid" \
  -- "$MAPSERV" >/dev/null 2>&1 || { echo "spawn-fcgi failed"; exit 1; }
cat >"$T/nginx.conf" <<EOF
worker_processes 1;
pid $T/nginx.pid;
error_log $T/nginx.err warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $T/nginx_tmp;
  fastcgi_temp_path $T/nginx_tmp;
  server {
    listen 127.0.0.1:$NP;
    location /wms {
      include /etc/nginx/fastcgi_params;
      fastcgi_param MAPSERVER_CONFIG_FILE $T/mapserver.conf;
      fastcgi_pass 127.0.0.1:$FP;
      fastcgi_keep_conn on;
    }
  }
}
EOF
mkdir -p "$T/nginx_tmp"
nginx -c "$T/nginx.conf" -p "$T" || { echo "nginx failed"; cat "$T/nginx.err"; exit 1; }
for _ in $(seq 100); do [ -s "$T/gport" ] && break; sleep 0.1; done
sleep 0.5

# Sanity: both answer a PNG for the first URL.
U1=$(head -1 "$T/getmap.txt")
for b in "http://127.0.0.1:$GP" "http://127.0.0.1:$NP"; do
  ct=$(curl -s -o "$T/sanity.png" -w '%{content_type}' "$b$U1")
  case "$ct" in image/png*) ;; *) echo "bench_serve: $b did not answer a PNG ($ct)"; head -c 400 "$T/sanity.png"; exit 1;; esac
done
# Same map? Compare the grey level of both servers over a few requests.
for i in 1 50 100 150 200; do
  U=$(sed -n "${i}p" "$T/getmap.txt")
  curl -s -o "$T/a_$i.png" "http://127.0.0.1:$GP$U"; curl -s -o "$T/b_$i.png" "http://127.0.0.1:$NP$U"
done
$PY - "$T" <<'EOF2'
import sys, numpy as np
from osgeo import gdal
t = sys.argv[1]
diffs, n = [], 0
for i in (1, 50, 100, 150, 200):
    out = []
    for p in ("a", "b"):
        ds = gdal.Open("%s/%s_%d.png" % (t, p, i))
        b = ds.GetRasterBand(1); ct = b.GetColorTable(); v = b.ReadAsArray().astype(int)
        if ct is not None:
            e = [ct.GetColorEntry(k) for k in range(ct.GetCount())]
            g = np.array([x[0] for x in e] + [0] * 256); al = np.array([x[3] for x in e] + [0] * 256)
            out.append((g[v], al[v]))
        else:
            out.append((v, ds.GetRasterBand(ds.RasterCount).ReadAsArray() if ds.RasterCount == 4 else np.full(v.shape, 255)))
    (ga, aa), (gb, ab) = out
    m = (aa > 0) & (ab > 0)
    n += m.sum()
    if m.any(): diffs.append(np.abs(ga[m] - gb[m]))
d = np.concatenate(diffs) if diffs else np.array([0])
print("# same-map check over 5 requests: %d opaque pixels in both, grey |gpn - mapserver|: mean %.2f, p99 %.0f" % (n, d.mean(), np.percentile(d, 99)))
EOF2
echo "# machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); gpn threads=$THREADS; MapServer FastCGI workers=$MS_WORKERS; ${DUR}s per case"
echo "# GetMap: 256x256 EPSG:3857 PNG, random tiles z7-13 over a 4000x4000 float32 COG (EPSG:3035), grey ramp"
declare -A RPS
for c in $CONNS; do
  for s in gpn mapserver; do
    port=$GP; [ $s = mapserver ] && port=$NP
    URLS="$T/getmap.txt" wrk -t2 -c"$c" -d3s -s "$T/urls.lua" "http://127.0.0.1:$port" >/dev/null 2>&1 # warm-up
    line=$(run_wrk "$T/getmap.txt" "$c" "http://127.0.0.1:$port")
    echo "case=getmap server=$s conns=$c $line"
    RPS[$s$c]=$(echo "$line" | sed -E 's/rps=([0-9.]+).*/\1/')
  done
  echo "ratio conns=$c gpn/mapserver throughput = $(awk -v a="${RPS[gpn$c]}" -v b="${RPS[mapserver$c]}" 'BEGIN{printf "%.2f", (b>0)?a/b:0}')x"
done

# GetCapabilities latency.
for s in gpn mapserver; do
  port=$GP; [ $s = mapserver ] && port=$NP
  t=$(for i in $(seq 20); do curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$port/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetCapabilities"; done | sort -n | awk '{a[NR]=$1} END{printf "%.2f", a[int(NR/2)+1]*1000}')
  echo "case=getcapabilities server=$s median_ms=$t"
done

# ---- cached XYZ tiles ---------------------------------------------------------
"$GPN" seed --atlas "$T/atlas" --layers rich --zoom 8-12 --threads "$THREADS" -q >/dev/null 2>&1
find "$T/atlas/cache/rich" -name '*.png' | sed -E "s|^$T/atlas/cache/rich/v[0-9]+/[^/]+|/tiles/rich|" | head -2000 >"$T/tiles.txt"
echo "# cached tiles: $(wc -l <"$T/tiles.txt") distinct tiles, mean $(find "$T/atlas/cache/rich" -name '*.png' | head -2000 | xargs du -cb | tail -1 | awk -v n="$(wc -l <"$T/tiles.txt")" '{printf "%.0f", $1/n}') bytes"
URLS="$T/tiles.txt" wrk -t2 -c"$TILE_CONNS" -d3s -s "$T/urls.lua" "http://127.0.0.1:$GP" >/dev/null 2>&1
c0=$(awk '{print $14+$15}' /proc/$GPN_PID/stat)
line=$(run_wrk "$T/tiles.txt" "$TILE_CONNS" "http://127.0.0.1:$GP")
c1=$(awk '{print $14+$15}' /proc/$GPN_PID/stat)
rps=$(echo "$line" | sed -E 's/rps=([0-9.]+).*/\1/')
echo "case=tiles_cached server=gpn conns=$TILE_CONNS $line cpu_us_per_req=$(awk -v c=$((c1 - c0)) -v r="$rps" -v d="$DUR" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.1f", (r>0)? c/hz*1e6/(r*d) : 0}')"
echo "# target: cached tiles >= 10000 req/s: $(awk -v r="$rps" 'BEGIN{print (r>=10000)?"met":"NOT met on this run"}')"
