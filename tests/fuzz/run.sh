#!/usr/bin/env bash
# tests/fuzz/run.sh - builds the libFuzzer targets with clang and replays
# their corpora (`make fuzz`). FUZZ_TIME=S additionally fuzzes each target
# for S seconds, adding new inputs to its corpus folder.
#
#   bash tests/fuzz/run.sh                 # build + replay every corpus
#   FUZZ_TIME=60 bash tests/fuzz/run.sh    # build + replay + 60 s of fuzzing each
#
# Targets are listed below as "name: sources..." (the sources each target
# needs, compiled with coverage instrumentation, ASan and UBSan). A target
# tests/fuzz/<name>.c has its corpus in tests/fuzz/corpus/<short name>/.
set -u
cd "$(dirname "$0")/../.."
CC=${FUZZ_CC:-clang}
command -v "$CC" >/dev/null || { echo "fuzz: $CC not found (apt-get install clang)"; exit 1; }
OUT=build/fuzz
mkdir -p "$OUT"
CFLAGS="-std=c11 -g -O1 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Iinclude $(pkg-config --cflags gdal libpng jansson 2>/dev/null)
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
LIBS="$(pkg-config --libs libpng jansson zlib libjpeg 2>/dev/null) -ldl -lpthread -lm"

# name | corpus folder | sources
TARGETS=(
  "fuzz_wms_params|wms_params|src/core/err.c src/core/util.c src/core/progress.c src/core/log.c src/http/message.c src/http/wms_parse.c src/http/png.c src/http/config.c"
)

rc=0
for t in "${TARGETS[@]}"; do
  name=${t%%|*}; rest=${t#*|}; corpus=${rest%%|*}; srcs=${rest#*|}
  [ -f "tests/fuzz/$name.c" ] || continue
  echo "== $name"
  # shellcheck disable=SC2086
  if ! $CC $CFLAGS -o "$OUT/$name" "tests/fuzz/$name.c" $srcs $LIBS; then
    echo "fuzz: building $name failed"; rc=1; continue
  fi
  dir="tests/fuzz/corpus/$corpus"
  mkdir -p "$dir"
  # Replay: every corpus input once (exit non-zero on any crash or leak).
  if ! "$OUT/$name" -runs=0 "$dir" >"$OUT/$name.replay.log" 2>&1; then
    echo "fuzz: $name crashed on its corpus"; tail -30 "$OUT/$name.replay.log"; rc=1; continue
  fi
  echo "replayed $(ls "$dir" | wc -l) inputs: ok"
  if [ "${FUZZ_TIME:-0}" -gt 0 ]; then
    if ! "$OUT/$name" -max_total_time="$FUZZ_TIME" -max_len=4096 -timeout=10 "$dir" >"$OUT/$name.fuzz.log" 2>&1; then
      echo "fuzz: $name found a crash"; tail -40 "$OUT/$name.fuzz.log"; rc=1; continue
    fi
    grep -E '^#[0-9]+.*(DONE|pulse)' "$OUT/$name.fuzz.log" | tail -1
    echo "fuzzed $FUZZ_TIME s: no crash; corpus now $(ls "$dir" | wc -l) inputs"
  fi
done
exit $rc
