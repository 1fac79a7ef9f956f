#!/usr/bin/env bash
# tests/fuzz/run.sh - `make fuzz`: run every libFuzzer harness built in
# build/fuzz/ (clang -fsanitize=fuzzer,address,undefined) for FUZZ_SECONDS
# (default 60) each, niced, on a scratch copy of its seed corpus under
# build/fuzz/work/NAME/ (new inputs stay there, not in the repository).
# A crash, leak, UB report or hang (-timeout=FUZZ_TIMEOUT s, default 10) is
# saved as build/fuzz/work/NAME/crash-* (or leak-, timeout-, oom-).
# tests/fuzz/NAME.dict, if there is one, is its libFuzzer dictionary.
# Prints "fuzz NAME: E executions, C crashes" per harness; exits 1 if any
# harness crashed or could not run. FUZZ_ONLY=NAME runs one harness.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FB="$ROOT/build/fuzz"
secs=${FUZZ_SECONDS:-60}
bad=0
for src in "$ROOT"/tests/fuzz/fuzz_*.c; do
  name=$(basename "$src" .c)
  name=${name#fuzz_}
  [ -n "${FUZZ_ONLY:-}" ] && [ "$FUZZ_ONLY" != "$name" ] && continue
  bin="$FB/fuzz_$name" work="$FB/work/$name"
  if [ ! -x "$bin" ]; then
    echo "fuzz $name: not built ($bin)"
    bad=1
    continue
  fi
  rm -rf -- "$work"
  mkdir -p "$work/corpus"
  cp -- "$ROOT"/tests/fuzz/corpus/"$name"/* "$work/corpus/" 2>/dev/null || true
  dict=()
  [ -f "$ROOT/tests/fuzz/$name.dict" ] && dict=(-dict="$ROOT/tests/fuzz/$name.dict")
  nice -n 10 "$bin" "${dict[@]}" -max_total_time="$secs" -timeout="${FUZZ_TIMEOUT:-10}" -rss_limit_mb=1024 \
    -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" >"$work/log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
  crashes=$(find "$work" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
    -o -name 'oom-*' \) | wc -l)
  echo "fuzz $name: ${execs:-0} executions, $crashes crashes (corpus $(ls "$work/corpus" | wc -l) inputs; log $work/log)"
  if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    bad=1
    grep -m 5 -E 'ERROR|runtime error|broken promise|Test unit written' "$work/log" | sed 's/^/#   /'
  fi
done
exit "$bad"
