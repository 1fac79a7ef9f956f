#!/usr/bin/env bash
# t_preconnect.sh - the connections opened ahead (`preconnect`) against an
# HTTPS server that completes TLS handshakes one connection at a time in its
# accept loop (build/serial_tls, like Python's ssl-wrapped http.server): a
# connection that sits idle ahead of another in its accept queue holds that one
# up. A download must never fail, nor wait for a timeout, because of the
# optimisation (issue 8, item 6).
#
# A run starved by its own connections waits 10 s (connect_timeout) per probe
# attempt and fails after its retries: every run here must end with exit 0 and
# equal bytes in less than 10 s (12 s where a probe attempt is made to time
# out after 2 s).
#
# Env: BUILD (default build). Needs curl for the sanity checks of the server.
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
pf_init || exit 1
pf_isolate_config
PF_CMD_TIMEOUT=60 # a starved run is cut here (exit 124)

ST="$PF_BUILD/serial_tls"
T=$PF_TMP
KiB=1024
MiB=$((1024 * 1024))

pf_check "parfetch and serial_tls are built ($PF_BIN, $ST)" \
  test -x "$PF_BIN" -a -x "$ST" || { pf_done; exit 1; }
pf_check "the throwaway CA and server certificate are made" pf__make_ca "$T/ca" || { pf_done; exit 1; }
CA="$T/ca/ca.pem"

# serial_start ARGS... - a fresh serial_tls serving $T/www/obj.bin; sets
# S_URL (the object's URL), S_LOG (its log) and S_PID. One at a time.
serial_start() {
  serial_stop
  local dir port
  dir=$(mktemp -d "$T/serial.XXXXXX") || return 1
  "$ST" --cert "$T/ca/server.pem" --key "$T/ca/server.key" --file "$T/www/obj.bin" \
    --max-seconds 120 --log "$dir/log" "$@" >"$dir/stdout" 2>"$dir/stderr" </dev/null &
  S_PID=$!
  S_LOG="$dir/log"
  for _ in $(seq 1 50); do
    port=$(sed -n '1s/^port \([0-9][0-9]*\)$/\1/p' "$dir/stdout" 2>/dev/null)
    if [ -n "$port" ]; then
      S_URL="https://127.0.0.1:$port/obj.bin"
      return 0
    fi
    kill -0 "$S_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$dir/stderr"
  return 1
}
S_PID=
serial_stop() {
  [ -n "$S_PID" ] || return 0
  kill -TERM "$S_PID" 2>/dev/null
  wait "$S_PID" 2>/dev/null
  S_PID=
}
pf_at_exit serial_stop

# says TEXT REGEX - TEXT has a line that matches.
says() { grep -q -E -- "$2" <<<"$1"; }
# log_count REGEX - lines of the server's log that match.
log_count() { grep -c -E -- "$1" "$S_LOG"; }
# under SECS LIMIT - SECS < LIMIT (decimal seconds).
under() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

# fetch_fast TAG LIMIT ARGS... - parfetch ARGS -o $T/TAG.out $S_URL: exit 0,
# bytes equal, no side file, in less than LIMIT seconds (elapsed in $secs).
fetch_fast() {
  local tag=$1 limit=$2 t0 t1
  shift 2
  rm -rf -- "$T/$tag" && mkdir -p -- "$T/$tag"
  t0=$EPOCHREALTIME
  pf_expect_exit 0 "$tag: exit 0" parfetch --cacert "$CA" "$@" -o "$T/$tag/out" "$S_URL"
  t1=$EPOCHREALTIME
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  pf_check "$tag: output equals the source byte for byte" pf_same "$T/www/obj.bin" "$T/$tag/out"
  pf_check "$tag: no side file left next to the output" only_output "$T/$tag" out
  pf_check "$tag: done in less than $limit s, no attempt timed out ($secs s)" under "$secs" "$limit"
}

mkdir -p "$T/www"
pf_mkfile "$T/www/obj.bin" $((4 * MiB + 12345))

# ------------------------------------------------------------------ the server itself
pf_check "serial_tls starts" serial_start || { pf_done; exit 1; }
if command -v curl >/dev/null 2>&1; then
  pf_check "curl: the whole object from serial_tls, bytes equal" \
    eval 'curl -sS --noproxy "*" --max-time 20 --cacert "$CA" -o "$T/curl.out" "$S_URL" &&
          pf_same "$T/www/obj.bin" "$T/curl.out"'
  pf_check "curl: a range (206, bytes 1000-1999)" \
    eval 'curl -sS --noproxy "*" --max-time 20 --cacert "$CA" -r 1000-1999 -o "$T/curl.r" "$S_URL" &&
          cmp <(tail -c +1001 "$T/www/obj.bin" | head -c 1000) "$T/curl.r"'
else
  echo "ok - curl sanity checks # SKIP curl not installed"
fi

# ------------------------------------------------------------------ default settings
# preconnect on, 8 streams; parts of 256 KiB or more: every stream is planned.
serial_start || exit 1
fetch_fast "default settings, 8 streams, --min-part-size 256K" 10 -v --min-part-size 256K
pf_check "default settings: -v says 7 more connections were opened (the optimisation is on)" \
  says "$PF_LAST_OUT" 'opening 7 more connections to 127\.0\.0\.1'
n=$(grep -c 'using a connection opened during the probe' <<<"$PF_LAST_OUT")
pf_check "default settings: 1 to 7 of the other parts' requests went over them (-v: $n)" \
  test "$n" -ge 1 -a "$n" -le 7
n=$(log_count '^accept ')
pf_check "default settings: never more connections than streams (server log: $n)" test "$n" -le 8

# 16 streams: more connections opened ahead than by default.
serial_start || exit 1
fetch_fast "-n 16, --min-part-size 128K" 10 -v -n 16 --min-part-size 128K
n=$(log_count '^accept ')
pf_check "-n 16: never more connections than streams (server log: $n)" test "$n" -le 16

# Two parts: run() needs one of the 7, and closes the other 6 unused.
serial_start || exit 1
fetch_fast "2 parts, 6 connections opened ahead unused" 10 -v --min-part-size 2M

# ------------------------------------------------------------------ the fallback
# The first request gets no reply: the probe's attempt times out (stall_timeout
# 2 s) while the connections opened ahead exist. They are closed, none are
# opened for the rest of the download, and the second attempt goes through.
printf 'stall_timeout: 2s\n' >"$T/stall2.yaml"
serial_start --hold-requests 1 || exit 1
fetch_fast "the probe's first attempt times out" 12 -v -c "$T/stall2.yaml" --min-part-size 256K
pf_check "probe timed out: -v says the connections opened ahead were closed and preconnect is off" \
  says "$PF_LAST_OUT" 'probe timed out.*: closed [0-9]+ connections opened ahead; none for the rest of this download'
pf_check "probe timed out: nothing is opened ahead after that (-v)" \
  eval 'grep -q "probe timed out" <<<"$PF_LAST_OUT" &&
        ! sed -n "/probe timed out/,\$p" <<<"$PF_LAST_OUT" | grep -q -E "opening [0-9]+ more connections|using a connection opened"'
pf_check "probe timed out: the server saw the held request" test "$(log_count ' held$')" -eq 1

# ------------------------------------------------------------------ idle handshakes given up
# A server that gives up a handshake after 200 ms of silence, and a probe
# kept waiting 1.5 s for its reply: the server closes the connections opened
# ahead, one after the other, before any worker needs them. The first worker
# to take one sees it closed, all are closed, and the workers connect anew
# without a retry.
serial_start --handshake-timeout-ms 200 --hold-requests 1 --hold-ms 1500 || exit 1
fetch_fast "the server closes idle handshakes" 10 -v --min-part-size 256K
pf_check "idle handshakes: the server gave up at least one (server log)" \
  test "$(log_count '^handshake conn=[0-9]+ failed')" -ge 1
pf_check "idle handshakes: -v says they were not usable and were closed" \
  says "$PF_LAST_OUT" 'connections opened during the probe are not usable \(closed by the server\)'
pf_check "idle handshakes: no part request needed a retry (-v)" \
  eval '! grep -E -q "attempt [0-9]+ of" <<<"$PF_LAST_OUT"'

# ------------------------------------------------------------------ control
# The same server with the handshake in each connection's thread.
serial_start --handshake-in-thread || exit 1
fetch_fast "a threaded server (control)" 10 -v --min-part-size 256K
n=$(grep -c 'using a connection opened during the probe' <<<"$PF_LAST_OUT")
pf_check "threaded server: 1 to 7 of the other parts' requests went over them (-v: $n)" \
  test "$n" -ge 1 -a "$n" -le 7

printf 'preconnect: false\n' >"$T/nopre.yaml"
serial_start || exit 1
fetch_fast "preconnect: false" 10 -v -c "$T/nopre.yaml" --min-part-size 256K

serial_stop
pf_done
