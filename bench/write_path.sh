#!/usr/bin/env bash
# bench/write_path.sh - 1 GiB from nginx on loopback, written to the machine's disk and to
# tmpfs, by one or more parfetch builds, curl and aria2c, side by side (docs/BENCHMARKS.md,
# "The write path on the machine's disk").
#
#   bash bench/write_path.sh [PARFETCH_BIN...]       (default: build/parfetch)
#
#   RUNS=5       rounds; the tools run in an order that rotates every round
#   GAP=7        seconds between deleting one output and starting the next run: this VM's
#                balloon reports freed pages to the host, and pages touched again after
#                that cost a host fault each; with the pause every run pays for cold pages
#   SIZE=1073741824
#   DISK=/var/tmp  where "disk" runs write (must not be a tmpfs); tmpfs runs write to /dev/shm
#
# Every run: wall (EPOCHREALTIME), user+sys CPU and peak RSS (GNU time), the output's sha256
# checked, the output deleted. The served file lives on /dev/shm (tests/integration/lib.sh's
# nginx). Prints one line per run, then the medians per target and tool.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-5}
GAP=${GAP:-7}
SIZE=${SIZE:-1073741824}
DISK=${DISK:-/var/tmp}
[ $# -gt 0 ] || set -- "$ROOT/build/parfetch"
[ "$(stat -f -c %T "$DISK")" != tmpfs ] || { echo "write_path.sh: $DISK is a tmpfs" >&2; exit 2; }
export TMPDIR=/dev/shm
# shellcheck source=tests/integration/lib.sh
. "$ROOT/tests/integration/lib.sh"
pf_nginx_start || exit 1
pf_mkfile "$PF_DOCROOT/big.bin" "$SIZE" big || exit 1
SHA=$(sha256sum <"$PF_DOCROOT/big.bin" | cut -d' ' -f1)
URL=$PF_HTTP_URL/big.bin
OUT_DISK=$(mktemp -d "$DISK/parfetch-write-path.XXXXXX") || exit 1
OUT_TMPFS=$PF_TMP/out
mkdir -p "$OUT_TMPFS"
pf_at_exit "rm -rf -- '$OUT_DISK'"
RES=$PF_TMP/results
: >"$RES"

tools=()
declare -A bin=()
for ((i = 1; i <= $#; i++)); do
  tools+=("parfetch$i")
  bin[parfetch$i]=$(readlink -f "${!i}")
  echo "parfetch$i = ${bin[parfetch$i]}"
done
tools+=(curl aria2c)
n=${#tools[@]}
for ((r = 1; r <= RUNS; r++)); do
  for target in disk tmpfs; do
    dir=$OUT_DISK
    [ "$target" = tmpfs ] && dir=$OUT_TMPFS
    for ((k = 0; k < n; k++)); do
      t=${tools[((k + r) % n)]}
      out=$dir/$t.bin
      rm -f -- "$out" "$out.aria2" "$out.pfpart"
      sync
      sleep "$GAP"
      case $t in
        curl) cmd=(curl -q -sSf -o "$out" "$URL") ;;
        aria2c) cmd=(aria2c --no-conf -x16 -s16 -k1M --file-allocation=none -q
                     --allow-overwrite=true -d "$dir" -o "$t.bin" "$URL") ;;
        *) cmd=("${bin[$t]}" -q -o "$out" "$URL") ;;
      esac
      t0=$EPOCHREALTIME
      /usr/bin/time -f '%U %S %M' -o "$PF_TMP/time" "${cmd[@]}" >/dev/null 2>"$PF_TMP/err"
      rc=$?
      t1=$EPOCHREALTIME
      read -r u s m < <(tail -n 1 "$PF_TMP/time")
      ok=bad
      [ "$rc" = 0 ] && [ "$(sha256sum <"$out" | cut -d' ' -f1)" = "$SHA" ] && ok=ok
      awk -v f="$target" -v t="$t" -v r="$r" -v a="$t0" -v b="$t1" -v u="$u" -v s="$s" -v m="$m" \
        -v ok="$ok" 'BEGIN { printf "%s %s %d %.3f %.2f %d %s\n", f, t, r, b - a, u + s, m / 1024, ok }' |
        tee -a "$RES"
      rm -f -- "$out" "$out.aria2" "$out.pfpart"
    done
  done
done
echo "medians (runs with the right bytes): wall s, CPU s, peak RSS MiB"
for target in disk tmpfs; do
  for t in "${tools[@]}"; do
    awk -v f="$target" -v t="$t" '
      function med(a, k,   i, j, x) {
        for (i = 0; i < k; i++) for (j = i + 1; j < k; j++) if (a[j] + 0 < a[i] + 0) { x = a[i]; a[i] = a[j]; a[j] = x }
        return k % 2 ? a[int(k / 2)] : (a[k / 2 - 1] + a[k / 2]) / 2 }
      BEGIN { k = 0 } # (else the first index is "", not 0)
      $1 == f && $2 == t && $7 == "ok" { w[k] = $4; c[k] = $5; m[k] = $6; k++ }
      END { if (k) printf "%-6s %-10s n=%d wall %.3f cpu %.2f rss %d\n", f, t, k, med(w, k), med(c, k), med(m, k) }' "$RES"
  done
done
