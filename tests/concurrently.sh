#!/usr/bin/env bash
# tests/concurrently.sh - run several test commands at the same time, each
# with its output in a log of its own, and print the logs one after another
# when all have ended (so they do not interleave). Used by make test for the
# ASan and TSan integration runs: most of a run's wall time is spent waiting
# (rate limits, stalls, timeouts), so two runs side by side take little more
# than the longer one.
#
#   bash tests/concurrently.sh LABEL 'COMMAND' [LABEL 'COMMAND' ...]
#
# Each COMMAND runs with bash -c. The exit status is 0 only if every command
# exited 0; the last lines name each command's exit status and time.
set -uo pipefail

[ $# -ge 2 ] && [ $(($# % 2)) -eq 0 ] || {
  echo "usage: concurrently.sh LABEL COMMAND [LABEL COMMAND ...]" >&2
  exit 2
}

logdir=$(mktemp -d "${TMPDIR:-/tmp}/parfetch-conc.XXXXXX") || exit 2
labels=() pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null; done
  wait
  rm -rf -- "$logdir"
}
trap 'echo "concurrently: interrupted" >&2; cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

set -m # each command in a process group of its own, so an interrupt stops all of it
i=0
while [ $# -gt 0 ]; do
  labels+=("$1")
  (
    s=$(date +%s)
    bash -c "$2"
    rc=$?
    echo $(($(date +%s) - s)) >"$logdir/$i.secs"
    exit "$rc"
  ) >"$logdir/$i.log" 2>&1 </dev/null &
  pids+=("$!")
  echo "# ---- started '$1': $2"
  i=$((i + 1))
  shift 2
done
set +m

rcs=()
for i in "${!pids[@]}"; do
  wait "${pids[$i]}"
  rcs+=("$?")
done

status=0
for i in "${!labels[@]}"; do
  echo "# ==== output of '${labels[$i]}'"
  cat "$logdir/$i.log"
done
for i in "${!labels[@]}"; do
  echo "# ==== '${labels[$i]}': exit ${rcs[$i]} in $(cat "$logdir/$i.secs" 2>/dev/null || echo "?")s"
  [ "${rcs[$i]}" -eq 0 ] || status=1
done
pids=()
rm -rf -- "$logdir"
exit "$status"
