#!/usr/bin/env bash
# tests/run.sh BUILD_DIR - runs every test in its own process with a timeout
# and prints "N passed, N failed" as the last line.
#
# C test programs (BUILD_DIR/tests/test_*) print "RESULT passed=P failed=F";
# their cases are counted one by one. Script tests (tests/scripts/test_*.sh,
# tests/scripts/test_*.py run with /usr/bin/python3) count as one case each
# unless they also print a RESULT line. A crash or timeout counts as one
# failed case. TEST_FILTER=substring runs a subset; TEST_TIMEOUT sets the
# per-program limit in seconds (default 600).
set -u
BUILD=${1:-build}
export GPN_BUILD="$BUILD"
export GPN_BIN="$PWD/$BUILD/gpn"
export GPN_SHARED=${GPN_SHARED:-$(cd .. && pwd)/shared}
export GPN_PROGRESS=0
TIMEOUT=${TEST_TIMEOUT:-600}
FILTER=${TEST_FILTER:-}
passed=0; failed=0; failed_names=()
logdir="$BUILD/test-logs"; mkdir -p "$logdir"

run_one() {
  local name=$1; shift
  [ -n "$FILTER" ] && [[ "$name" != *"$FILTER"* ]] && return
  local log="$logdir/$name.log" t0=$SECONDS
  timeout -k 10 "$TIMEOUT" "$@" >"$log" 2>&1
  local rc=$?
  local res; res=$(grep -E '^RESULT passed=[0-9]+ failed=[0-9]+' "$log" | tail -n1)
  local p=0 f=0
  if [ -n "$res" ]; then
    p=$(sed -E 's/.*passed=([0-9]+).*/\1/' <<<"$res"); f=$(sed -E 's/.*failed=([0-9]+).*/\1/' <<<"$res")
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  elif [ $rc -eq 0 ]; then p=1; else f=1; fi
  passed=$((passed + p)); failed=$((failed + f))
  local dt=$((SECONDS - t0))
  if [ "$f" -gt 0 ]; then
    failed_names+=("$name")
    [ $rc -eq 124 ] && echo "TIMEOUT $name after ${TIMEOUT}s"
    printf 'FAIL %-32s %3d passed %3d failed  (%ds)\n' "$name" "$p" "$f" "$dt"
    sed 's/^/    | /' "$log" | grep -vE '^    \| ok   ' | tail -n 40
  else
    printf 'ok   %-32s %3d passed  (%ds)\n' "$name" "$p" "$dt"
  fi
}

for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] || continue
  run_one "$(basename "$t")" "$t"
done
for t in tests/scripts/test_*.sh; do
  [ -f "$t" ] || continue
  run_one "$(basename "$t")" bash "$t"
done
for t in tests/scripts/test_*.py; do
  [ -f "$t" ] || continue
  run_one "$(basename "$t")" /usr/bin/python3 "$t"
done
if [ ${#failed_names[@]} -gt 0 ]; then echo "failed: ${failed_names[*]}"; fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
