#!/usr/bin/env bash
# scripts/demo.sh - `make demo`: serve a generated 256 MiB file from nginx on
# loopback, download it with 8 streams (progress bar on a terminal), verify it
# with sha256sum and print a summary. Everything lives in a temp dir that is
# removed, with nginx stopped, on exit or Ctrl-C.
#
#   BUILD=build   where parfetch was built (default build)
#   DEMO_SIZE     bytes to serve (default 268435456)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh

SIZE=${DEMO_SIZE:-$((256 * 1024 * 1024))}

if [ ! -x "$PF_BIN" ] || [ ! -e "$PF_BUILD/parfetch.so" ]; then
  echo "demo: $PF_BIN or $PF_BUILD/parfetch.so is missing; run 'make' first" >&2
  exit 2
fi

pf_init
echo "demo: generating a $((SIZE / 1024 / 1024)) MiB file in $PF_TMP"
pf_nginx_start
pf_mkfile "$PF_DOCROOT/demo.bin" "$SIZE"
want=$(sha256sum <"$PF_DOCROOT/demo.bin" | cut -d' ' -f1)
mkdir -p "$PF_TMP/download"
out="$PF_TMP/download/demo.bin"
url="$PF_HTTP_URL/demo.bin"

echo "demo: nginx is serving $url"
echo "demo: $PF_BIN -n 8 -o $out $url"
t0=$(date +%s%N)
rc=0
parfetch -n 8 -o "$out" "$url" || rc=$?
t1=$(date +%s%N)
if [ "$rc" -ne 0 ]; then
  echo "demo: parfetch failed with exit status $rc" >&2
  exit "$rc"
fi

got=$(sha256sum <"$out" | cut -d' ' -f1)
bytes=$(stat -c %s "$out")
pf_log_wait /demo.bin 8 || true # nginx logs a request when it has finished it
ranged=$(pf_log_ranges /demo.bin | wc -l)
ns=$((t1 - t0))
if [ "$got" != "$want" ] || [ "$bytes" -ne "$SIZE" ]; then
  echo "demo: FAILED verification: got $bytes bytes, sha256 $got; expected $SIZE bytes, sha256 $want" >&2
  exit 3
fi
awk -v b="$bytes" -v ns="$ns" -v r="$ranged" -v h="$want" 'BEGIN {
  s = ns / 1e9; if (s <= 0) s = 1e-9
  printf "\ndemo summary\n"
  printf "  size       %d bytes (%.0f MiB)\n", b, b / 1048576
  printf "  time       %.2f s\n", s
  printf "  speed      %.1f MB/s (%.1f MiB/s)\n", b / s / 1e6, b / s / 1048576
  printf "  requests   %d ranged (206) requests seen by nginx\n", r
  printf "  sha256     %s\n", h
  printf "  verified   OK (sha256 of the download equals the source)\n"
}'
