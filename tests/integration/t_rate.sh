#!/usr/bin/env bash
# t_rate.sh - rate_limit / --limit-rate (issue 9, item 5), against nginx on
# loopback:
#   - 8 MiB at --limit-rate 2M over 8 streams, and over 1: exit 0, bytes
#     equal, and it took at least 3.5 s (8 MiB at 2 MiB/s is 4 s, less a
#     bucket's 125 ms burst; a loaded machine only makes it slower) and at
#     most 12 s (a pacing that stalls fails); -v shows no steal and no retry
#     (no stall verdict) in the limited runs;
#   - a client (ABI 1.2, build/client_host) with rate_limit 2M and two 4 MiB
#     sessions at once: both exit 0 and equal, and together they took at
#     least 3.5 s: the client's limit is shared by its sessions;
#   - a real stall under a limit (build/fault_server: a part stops after
#     100 KiB for 30 s, stall_timeout 1s): still found, exit 0, bytes equal,
#     well under 30 s: waiting on the bucket does not hide a stalled server;
#   - host-driven (build/engine_host drive: plan_parts, fetch_part of each
#     part, 4 streams' worth of parts) at rate_limit 2M: exit 0, equal,
#     3.5..12 s: fetch_part is paced too;
#   - the unlimited run of the same file for comparison (not asserted).
# Run after `make all testbins`; BUILD selects the build directory.
# shellcheck disable=SC2016
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
pf_init || exit 1
pf_isolate_config
PF_CMD_TIMEOUT=60

pf_check "nginx serves HTTP/1.1 on 127.0.0.1" pf_nginx_start || { pf_done; exit 1; }
pf_check "create an 8 MiB object and two of 4 MiB" eval '
  pf_mkfile "$PF_DOCROOT/rate8.bin" 8388608 81 &&
  pf_mkfile "$PF_DOCROOT/rate4a.bin" 4194304 41 &&
  pf_mkfile "$PF_DOCROOT/rate4b.bin" 4194304 42' || { pf_done; exit 1; }

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
within() { # X LO HI
  awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x >= lo && x <= hi) }' ||
    { echo "$1 s is not within $2..$3 s"; return 1; }
}
# calm LOG - no steal and no retry (a stall verdict is one) in a -v log.
calm() {
  if grep -E 'takes bytes .* from stream|; attempt [0-9]+ of|stall_timeout' "$1"; then
    echo "the limited run stole or retried (above)"
    return 1
  fi
}

# limited NAME ARGS... - 8 MiB limited to 2 MiB/s by ARGS: exit 0, equal, 3.5..12 s, calm.
limited() {
  local name=$1 out="$PF_TMP/$1.bin" log="$PF_TMP/$1.log" t0 t1 el
  shift
  t0=$(now)
  pf_expect_exit 0 "$name: 8 MiB at 2 MiB/s, exit 0" \
    parfetch -q -v --min-part-size 1M "$@" -o "$out" "$PF_HTTP_URL/rate8.bin"
  t1=$(now)
  printf '%s\n' "$PF_LAST_OUT" >"$log"
  el=$(secs "$t0" "$t1")
  pf_note "$name: $el s ($(awk -v s="$el" 'BEGIN { printf "%.2f", 8 / s }') MiB/s)"
  pf_check "$name: bytes equal" pf_same "$PF_DOCROOT/rate8.bin" "$out"
  pf_check "$name: took 3.5..12 s (2 MiB/s, not faster, not stalled)" within "$el" 3.5 12
  pf_check "$name: -v shows no steal and no retry" calm "$log"
  grep -c '^.*GET ' "$log" | sed "s/^/# $name: requests: /"
}

printf "rate_limit: 2MiB\n" >"$PF_TMP/rate.yaml"
limited "8 streams" -n 8 --limit-rate 2M
limited "1 stream" -n 1 --limit-rate 2M
limited "rate_limit in a config" -n 8 -c "$PF_TMP/rate.yaml"

t0=$(now)
pf_expect_exit 0 "unlimited: 8 MiB, exit 0" \
  parfetch -q -n 8 --min-part-size 1M -o "$PF_TMP/free.bin" "$PF_HTTP_URL/rate8.bin"
pf_note "unlimited: $(secs "$t0" "$(now)") s"

# ---------------------------------------------------------------- fetch_part
EH="$PF_BUILD/engine_host"
if pf_check "engine_host is built at $EH" test -x "$EH"; then
  t0=$(now)
  pf_expect_exit 0 "fetch_part at rate_limit 2M: 8 MiB host-driven, exit 0" \
    timeout --foreground -k 10 "$PF_CMD_TIMEOUT" "$EH" "$PF_BUILD/parfetch.so" \
    "$PF_HTTP_URL/rate8.bin" drive "$PF_TMP/driven.bin" rate=2M
  el=$(secs "$t0" "$(now)")
  pf_note "fetch_part: $el s"
  pf_check "fetch_part: bytes equal" pf_same "$PF_DOCROOT/rate8.bin" "$PF_TMP/driven.bin"
  pf_check "fetch_part: took 3.5..12 s" within "$el" 3.5 12
fi

# ---------------------------------------------------------------- a stall under a limit
# shellcheck source=tests/fault/fault.sh
. "$PF_ROOT/tests/fault/fault.sh"
if pf_check "fault_server is built" test -x "$PF_BUILD/fault_server"; then
  "$PF_BUILD/fault_server" --size 4m --seed 7 --dump "$PF_TMP/v4m" &&
    pf_fault_start F --size 4m --seed 7 --fault stall:req=3,after=100k,secs=30 &&
    printf "stall_timeout: 1s\nretry_wait: 50ms\nretry_max_wait: 200ms\n" >"$PF_TMP/stall.yaml"
  t0=$(now)
  pf_expect_exit 0 "stall under --limit-rate 2M: a part stops for 30 s, exit 0" \
    parfetch -q -v -c "$PF_TMP/stall.yaml" --limit-rate 2M -n 4 --min-part-size 512K \
    -o "$PF_TMP/stall.bin" "$F_URL/obj"
  el=$(secs "$t0" "$(now)")
  pf_note "stall under a limit: $el s"
  pf_check "stall under a limit: bytes equal" pf_same "$PF_TMP/v4m" "$PF_TMP/stall.bin"
  pf_check "stall under a limit: -v names the stall or a steal from the stalled stream" \
    eval 'grep -qE "stall_timeout|stalled: no byte" <<<"$PF_LAST_OUT"'
  pf_check "stall under a limit: 1.5..12 s (paced, and the stall found)" within "$el" 1.5 12
  pf_fault_stop F
fi

# ---------------------------------------------------------------- a client
HOST="$PF_BUILD/client_host"
if pf_check "client_host is built at $HOST" test -x "$HOST"; then
  printf 'rate4a.bin\nrate4b.bin\n' >"$PF_TMP/list"
  mkdir -p "$PF_TMP/client"
  t0=$(now)
  pf_expect_exit 0 "client rate_limit 2M: two 4 MiB sessions at once, exit 0" \
    timeout --foreground -k 10 "$PF_CMD_TIMEOUT" "$HOST" "$PF_BUILD/parfetch.so" client \
    "$PF_HTTP_URL" "$PF_TMP/list" "$PF_TMP/client" 2 --set rate_limit=2M --set min_part_size=1M
  el=$(secs "$t0" "$(now)")
  pf_note "client: 8 MiB in two sessions: $el s"
  pf_check "client: both objects equal their sources" eval '
    pf_same "$PF_DOCROOT/rate4a.bin" "$PF_TMP/client/rate4a.bin" &&
    pf_same "$PF_DOCROOT/rate4b.bin" "$PF_TMP/client/rate4b.bin"'
  pf_check "client: together 3.5..12 s (the limit is the client's, shared)" within "$el" 3.5 12
fi

pf_done
