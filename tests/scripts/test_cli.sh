#!/usr/bin/env bash
# test_cli.sh - the gpn program's contract: help lists every command of
# DESIGN.md, every built command answers --help with exit 0 and usage on
# stdout, unknown commands and options fail with exit 2 and a message.
set -u
GPN=${GPN_BIN:-build/gpn}
fail=0; pass=0
check() { if eval "$2"; then pass=$((pass+1)); else echo "FAIL: $1"; fail=$((fail+1)); fi; }

out=$($GPN --help); rc=$?
check "gpn --help exits 0" "[ $rc -eq 0 ]"
for c in synth ingest train-sdm eval-sdm calibrate train-hdm eval-hdm classify predict mosaic import layer seed serve report; do
  check "help lists $c" "grep -qE '^  $c ' <<<\"\$out\""
done
$GPN no-such-command >/dev/null 2>/tmp/gpn-cli-err.$$; rc=$?
check "unknown command exits 2" "[ $rc -eq 2 ]"
check "unknown command names it" "grep -q \"unknown command 'no-such-command'\" /tmp/gpn-cli-err.$$"
rm -f /tmp/gpn-cli-err.$$
# Every command that is built answers --help on stdout with a Usage line.
for c in $(awk '/^Commands:/{f=1;next} f&&/^  [a-z]/{print $1}' <<<"$out"); do
  if grep -qE "^  $c .*not built yet" <<<"$out"; then continue; fi
  h=$($GPN "$c" --help 2>/dev/null); rc=$?
  check "$c --help exits 0" "[ $rc -eq 0 ]"
  check "$c --help prints Usage" "grep -qi 'usage' <<<\"\$h\""
  $GPN "$c" --no-such-option >/dev/null 2>&1; rc=$?
  check "$c rejects unknown option with exit 2" "[ $rc -eq 2 ]"
done
echo "RESULT passed=$pass failed=$fail"
[ $fail -eq 0 ]
