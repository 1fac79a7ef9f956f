#!/usr/bin/env bash
# tests/fuzz/regress.sh - `make test`'s fuzz regression: every harness of
# tests/fuzz/, built with driver.c (BUILD/fuzz-regress/fuzz_NAME, no
# libFuzzer), runs each file of tests/fuzz/corpus/NAME/ once. A sanitizer
# build (BUILD=build/asan) turns a read past an input, UB or a leak into a
# failed input. Prints one line per harness and the closing line
# "fuzz-regression: N passed, M failed"; exits 1 if any input failed or a
# harness has no driver binary or no corpus.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
case "${BUILD:-build}" in
  /*) B=${BUILD} ;;
  *) B="$ROOT/${BUILD:-build}" ;;
esac
passed=0 failed=0
for src in "$ROOT"/tests/fuzz/fuzz_*.c; do
  name=$(basename "$src" .c)
  name=${name#fuzz_}
  bin="$B/fuzz-regress/fuzz_$name" corpus="$ROOT/tests/fuzz/corpus/$name"
  if [ ! -x "$bin" ] || [ ! -d "$corpus" ]; then
    echo "not ok - fuzz_$name: $([ -x "$bin" ] || echo "no $bin (make testbins) ")$([ -d "$corpus" ] || echo "no corpus $corpus")"
    failed=$((failed + 1))
    continue
  fi
  out=$("$bin" -q "$corpus" 2>&1)
  printf '%s\n' "$out" | grep -v '^ok - '
  line=$(printf '%s\n' "$out" | tail -n 1)
  if [[ "$line" =~ ^fuzz_$name:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    passed=$((passed + BASH_REMATCH[1]))
    failed=$((failed + BASH_REMATCH[2]))
  else
    failed=$((failed + 1))
  fi
done
echo "fuzz-regression: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
