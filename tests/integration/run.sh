#!/usr/bin/env bash
# tests/integration/run.sh - run every tests/integration/t_*.sh in order and sum
# their results. Run from anywhere; scripts run from the repo root.
#
#   BUILD=build         build directory under test (default build)
#   PF_QUICK=1          scripts skip their largest (256 MiB) files
#   PF_SCRIPT_TIMEOUT   seconds one script may take (default 1800)
#
# Each script prints "ok - NAME" / "not ok - NAME" lines and ends with
# "<script>: N passed, N failed" (lib.sh's pf_done). A script that stops
# without that line is counted from its ok/not ok lines plus one failure; a
# script that exits non-zero without reporting a failure counts one failure.
# The last line is "integration: N passed, N failed"; the exit status is
# non-zero if anything failed or no test ran.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 2
export BUILD=${BUILD:-build}
export PF_QUICK=${PF_QUICK:-0}
timeout_s=${PF_SCRIPT_TIMEOUT:-1800}

logdir=$(mktemp -d "${TMPDIR:-/tmp}/parfetch-run.XXXXXX") || exit 2
trap 'rm -rf -- "$logdir"' EXIT
trap 'echo "integration: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM

total_pass=0
total_fail=0
scripts=0
shopt -s nullglob
for t in tests/integration/t_*.sh; do
  scripts=$((scripts + 1))
  name=$(basename "$t")
  log="$logdir/$name.log"
  echo "# ---- $name (BUILD=$BUILD PF_QUICK=$PF_QUICK)"
  start=$(date +%s)
  # tee ignores SIGINT so that an interrupted script's last words still show.
  timeout --foreground -k 30 "$timeout_s" bash "$t" 2>&1 | (trap '' INT && exec tee "$log")
  rc=${PIPESTATUS[0]}
  secs=$(($(date +%s) - start))

  summary=$(grep -E "^$name: [0-9]+ passed, [0-9]+ failed\$" "$log" | tail -n 1)
  if [ -n "$summary" ]; then
    p=$(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed$/\1/' <<<"$summary")
    f=$(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed$/\2/' <<<"$summary")
  else
    p=$(grep '^ok - ' "$log" | grep -vc ' # SKIP')
    f=$(grep -c '^not ok - ' "$log")
    f=$((f + 1))
    echo "not ok - $name finished without its summary line (exit $rc)"
  fi
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1
    echo "not ok - $name exited with status $rc$([ "$rc" -eq 124 ] && echo " (timed out after ${timeout_s}s)")"
  fi
  skips=$(grep -c "^ok - .* # SKIP" "$log")
  echo "# ---- $name: $p passed, $f failed in ${secs}s$([ "$skips" -gt 0 ] && echo ", $skips skipped (not counted)")"
  total_pass=$((total_pass + p))
  total_fail=$((total_fail + f))
  # Interrupted (Ctrl-C, kill): do not start the next script.
  if [ "$rc" -eq 130 ] || [ "$rc" -eq 143 ]; then
    echo "integration: interrupted during $name"
    echo "integration: $total_pass passed, $total_fail failed"
    exit "$rc"
  fi
done

if [ "$scripts" -eq 0 ]; then
  echo "not ok - no tests/integration/t_*.sh found"
  total_fail=$((total_fail + 1))
fi
echo "integration: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ] && [ "$total_pass" -gt 0 ]
