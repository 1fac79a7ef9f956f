#!/usr/bin/env bash
# t_bounds.sh - numbers a server states beyond PF_SIZE_MAX (1 EiB) are a bad
# reply (exit 3), never a local I/O error (exit 4) nor an unknown size:
# Content-Range totals near INT64_MAX and of UINT64_MAX, an end of
# UINT64_MAX ("bytes 0-18446744073709551615/*") and a Content-Length of
# UINT64_MAX - 1, sent by build/fault_server to every ranged request (the
# probe first). An existing file at the output
# path survives each, and no side file is left.
#
# Run after `make all testbins`; BUILD selects the build directory. Every run
# is bounded in time (PF_CMD_TIMEOUT); the servers go away on exit (lib.sh).
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/fault/fault.sh
. "$PF_ROOT/tests/fault/fault.sh"
pf_init || exit 1
pf_isolate_config
PF_CMD_TIMEOUT=60

T=$PF_TMP
SIZE=$((2 * 1024 * 1024))
pf_check "parfetch and the fault server are built" test -x "$PF_BIN" -a -x "$PF_BUILD/fault_server" ||
  { pf_done; exit 1; }
C="$T/fast.yaml"
printf 'retries: 2\nretry_wait: 50ms\nretry_max_wait: 200ms\n' >"$C"

# Totals as SIZE + delta, in decimal: bash arithmetic stops at INT64_MAX.
#   9223372036853727231 = INT64_MAX - 1 MiB, the most the probe took before
#   18446744073709551615 = UINT64_MAX, read as "unknown" before
near_int64=9223372036851630079 # 9223372036853727231 - 2097152
uint64=18446744073707454463    # 18446744073709551615 - 2097152

says() { # TEXT PATTERN - TEXT contains PATTERN (grep -E; a here-string, safe under pipefail)
  grep -q -E -- "$2" <<<"$1" && return 0
  printf 'expected /%s/ in:\n%s\n' "$2" "$1" | head -n 40
  return 1
}

bounds_case() { # NAME FAULT PATTERN - every ranged reply carries FAULT: exit 3, says PATTERN
  local name=$1 fault=$2 pat=$3 D="$T/$1"
  mkdir -p "$D"
  printf 'a previous download that must survive\n' >"$D/out"
  cp "$D/out" "$D/out.orig"
  pf_fault_start F --size "$SIZE" --seed 7 --fault "$fault" || { pf_check "$name: fault server starts" false; return; }
  pf_expect_exit 3 "$name: a bad reply, exit 3 (not 4, not a download of unknown size)" \
    parfetch -v -c "$C" -n 4 --min-part-size 256K -o "$D/out" "$F_URL/obj"
  pf_check "$name: the message names the header and the bound" \
    says "$PF_LAST_OUT" "$pat"
  pf_check "$name: the existing output file is untouched, no side file" \
    sh -c 'cmp -s "$1/out.orig" "$1/out" && [ ! -e "$1/out.pfpart" ]' _ "$D"
  pf_fault_stop F
}

bounds_case total-near-int64 "bad-content-range:mode=total,delta=$near_int64" \
  'sent Content-Range: bytes 0-[0-9]+/9223372036853727231, a number above 1152921504606846976'
bounds_case total-uint64 "bad-content-range:mode=total,delta=$uint64" \
  'sent Content-Range: bytes 0-[0-9]+/18446744073709551615, a number above'
bounds_case end-uint64 "bad-content-range:mode=max-end" \
  'sent Content-Range: bytes 0-18446744073709551615/\*, a number above'
# Content-Length: the right body, but a length of UINT64_MAX - 1 (the most
# libmicrohttpd sends), on every GET.
bounds_case length-uint64 "wrong-length:mode=claim,delta=18446744073709551615" \
  'sent Content-Length: 18446744073709551614, a number above'

pf_done
