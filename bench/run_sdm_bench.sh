#!/usr/bin/env bash
# bench/run_sdm_bench.sh - Deep-SDM throughput, C (bench_sdm) against the same
# architecture in PyTorch (tools/bench_sdm_torch.py), both on THREADS threads,
# in one run, and prints the ratio table.
#
#   bash bench/run_sdm_bench.sh [BUILD_DIR]
#   CONFIGS="demo geoplant64" ROUNDS=2 SECONDS_PER_CASE=3 THREADS=2 bash bench/run_sdm_bench.sh
#
# Fairness on a shared machine: the two sides alternate ROUNDS times and each
# case keeps its fastest iteration over all rounds (interference only slows
# things down). PyTorch is run twice per round, with glibc malloc's defaults
# and with a tuned malloc (MALLOC_MMAP_MAX_=0, no trimming): with the
# defaults every large activation is a fresh mmap and its page faults are
# expensive on this VM, which would flatter the C side; the faster of the two
# is the baseline.
# OpenMP waiting: OMP_WAIT_POLICY=passive for both sides (WAIT_POLICY=...
# to change): on a machine shared with other jobs, threads spinning at
# barriers while their partner is descheduled cost both sides 2-4x.
# OpenBLAS kernels: OPENBLAS_CORETYPE is respected if CORETYPE=env; by
# default (CORETYPE=auto) it is unset for both sides so OpenBLAS picks this
# CPU's kernels (PyTorch's Linear uses the same libblas). The table says which.
# geoplant64: the GeoPlant widths (64/128/256/512) with 64x64 Sentinel-2
# patches and all 11,255 outputs (128x128 quadruples the cost; see docs/sdm.md).
set -u
BUILD=${1:-build}
CONFIGS=${CONFIGS:-"demo geoplant64"}
ROUNDS=${ROUNDS:-2}
SECS=${SECONDS_PER_CASE:-3}
THREADS=${THREADS:-2}
CORETYPE=${CORETYPE:-auto}
WAIT_POLICY=${WAIT_POLICY:-passive}
TORCH_ALLOCS=${TORCH_ALLOCS:-"default tuned"}
PY=/usr/bin/python3
BIN="$BUILD/bench/bench_sdm"
[ -x "$BIN" ] || { echo "run_sdm_bench.sh: $BIN missing (make build)" >&2; exit 1; }
cd "$(dirname "$0")/.." || exit 1
export OMP_NUM_THREADS=$THREADS OMP_WAIT_POLICY=$WAIT_POLICY
if [ "$CORETYPE" = auto ]; then unset OPENBLAS_CORETYPE; fi
core="${OPENBLAS_CORETYPE:-auto-detected}"
out=$(mktemp); trap 'rm -f "$out"' EXIT

echo "# Deep-SDM benchmark: $(date -u +%FT%TZ) host $(hostname) $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# threads=$THREADS rounds=$ROUNDS seconds/case=$SECS OMP_WAIT_POLICY=$WAIT_POLICY OpenBLAS core=$core torch allocators: $TORCH_ALLOCS"
echo "# commit=$(git rev-parse --short HEAD 2>/dev/null || echo none) (plus uncommitted changes: $(git status --short 2>/dev/null | wc -l) files)"
for cfg in $CONFIGS; do
  for r in $(seq "$ROUNDS"); do
    "$BIN" --config "$cfg" --seconds "$SECS" --cases sgemm,train,infer,shared >>"$out" 2>/dev/null \
      || { echo "run_sdm_bench.sh: bench_sdm failed for $cfg" >&2; exit 1; }
    for alloc in $TORCH_ALLOCS; do
      if [ "$alloc" = tuned ]; then
        MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=1000000000000 MALLOC_TOP_PAD_=1000000000 \
          "$PY" tools/bench_sdm_torch.py --config "$cfg" --seconds "$SECS" --threads "$THREADS" \
          | sed 's/^bench=sdm_torch /bench=sdm_torch alloc=tuned /' >>"$out"
      else
        "$PY" tools/bench_sdm_torch.py --config "$cfg" --seconds "$SECS" --threads "$THREADS" \
          | sed 's/^bench=sdm_torch /bench=sdm_torch alloc=default /' >>"$out"
      fi
    done
  done
done
echo "# raw lines:"; sed 's/^/#   /' "$out"
"$PY" - "$out" <<'EOF'
import re, sys
rows = [dict(re.findall(r"(\w+)=(\S+)", l)) for l in open(sys.argv[1])]
def best(pred, key="samples_per_s"):
    v = [float(r[key]) for r in rows if pred(r) and key in r]
    return max(v) if v else None
peak = best(lambda r: r.get("case") == "sgemm", "gflops")
targets = {("demo", "train"): 1.0, ("demo", "infer"): 2.0, ("geoplant64", "train"): 1.0, ("geoplant64", "infer"): 1.3,
           ("geoplant", "train"): 1.0, ("geoplant", "infer"): 1.3}
print(f"\nsgemm peak (OpenBLAS, n=1536, best): {peak:.1f} GFLOP/s")
print(f"{'config':<11} {'case':<21} {'C samp/s':>9} {'torch samp/s':>13} {'ratio':>6} {'target':>6} {'C GFLOP/s':>9} {'of peak':>7}")
for cfg in dict.fromkeys(r["config"] for r in rows if "config" in r):
    for case in ("train", "infer", "infer_shared_climate"):
        c = [r for r in rows if r.get("bench") == "sdm" and r.get("config") == cfg and r.get("case") == case]
        if not c:
            continue
        cb = max(c, key=lambda r: float(r["samples_per_s"]))
        tcase = "infer" if case.startswith("infer") else case
        t = best(lambda r: r.get("bench") == "sdm_torch" and r.get("config") == cfg and r.get("case") == tcase)
        ratio = float(cb["samples_per_s"]) / t if t else float("nan")
        tgt = targets.get((cfg, case), None)
        gf = float(cb["gflops"])
        print(f"{cfg:<11} {case:<21} {float(cb['samples_per_s']):>9.1f} {t or float('nan'):>13.1f} {ratio:>5.2f}x "
              f"{(f'{tgt:.1f}x' if tgt else '-'):>6} {gf:>9.1f} {gf / peak if peak else float('nan'):>6.0%}")
EOF
