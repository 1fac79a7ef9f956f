#!/usr/bin/env bash
# t_proxy.sh - parfetch through build/pfproxy (tests/proxy/pfproxy.c), a loopback TCP proxy
# in front of nginx that delays each direction or gives each connection a seeded fate.
#
#   (a) the proxy itself: bytes equal through it; --delay costs a request its round trips;
#       --window bounds one connection to window/delay; every chaos fate does what it says;
#       a seed replays the same fates
#   (b) long round trips (issue 8, 3b): 64 MiB through 0.2, 0.4 and 0.8 s round trips with
#       default settings: exit 0, bytes equal, nginx served at most 1.25 x the object (sum of
#       $body_bytes_sent), within PX_RTT_TIMEOUT (60 s) so a download that never ends fails
#   (c) chaos (issue 8, 3): 32 MiB at 8 streams through a few seeds of resets, stalls longer
#       than the run, early closes and trickles: exit 0 and bytes equal every time (no time
#       target; each run is cut at PX_CHAOS_TIMEOUT, 120 s)
#
# Env: BUILD (default build); PX_PARTS, which of a, b, c to run (default "a b c");
# PX_SEEDS, the chaos seeds (default "3 4 5": among their first connections they draw
# resets, stalls, early closes and trickles); PX_RTT_TIMEOUT, PX_CHAOS_TIMEOUT.
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
pf_init || exit 1
pf_isolate_config

PX_BIN="$PF_BUILD/pfproxy"
PX_RTT_TIMEOUT=${PX_RTT_TIMEOUT:-60}
PX_CHAOS_TIMEOUT=${PX_CHAOS_TIMEOUT:-120}
PX_SEEDS=${PX_SEEDS:-"3 4 5"}
PX_PARTS=" ${PX_PARTS:-a b c} "
part() { [[ $PX_PARTS == *" $1 "* ]]; }

pf_check "parfetch binary exists at $PF_BIN" test -x "$PF_BIN" || { pf_done; exit 1; }
pf_check "pfproxy binary exists at $PX_BIN" test -x "$PX_BIN" || { pf_done; exit 1; }
pf_check "nginx serves HTTP/1.1 on 127.0.0.1" pf_nginx_start || { pf_done; exit 1; }

D=$PF_DOCROOT
W="$PF_TMP/work"
mkdir -p "$W"
MiB=$((1024 * 1024))
pf_mkfile "$D/small" 1000
pf_mkfile "$D/m1" "$MiB"
pf_mkfile "$D/m64" $((64 * MiB))
pf_mkfile "$D/m32" $((32 * MiB))

# ------------------------------------------------------------------ helpers

# px_start NAME ARGS... - pfproxy in front of nginx's plain HTTP port, in the background;
# sets PX_URL (http://127.0.0.1:PORT), PX_LOG (its event log) and PX_PID. At most 600 s.
PX_PID=
PX_DIR=
PX_BAD=
px_start() {
  local d="$PF_TMP/px-$1"
  PX_DIR=$d
  shift
  mkdir -p "$d" && rm -f "$d/port" "$d/log"
  PX_LOG="$d/log"
  "$PX_BIN" --upstream "127.0.0.1:$PF_HTTP_PORT" --port-file "$d/port" --log "$PX_LOG" \
    --max-seconds 600 "$@" >/dev/null 2>"$d/stderr" </dev/null &
  PX_PID=$!
  for _ in $(seq 1 50); do
    [ -s "$d/port" ] && break
    kill -0 "$PX_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [ ! -s "$d/port" ]; then
    echo "pfproxy $* did not start:"
    cat "$d/stderr"
    return 1
  fi
  PX_URL="http://127.0.0.1:$(cat "$d/port")"
}
# px_stop - SIGTERM; a proxy that does not then exit 0 (a crash, a sanitizer report) is
# remembered in PX_BAD with its stderr, for the last check.
px_stop() {
  local rc=0
  [ -n "$PX_PID" ] || return 0
  kill "$PX_PID" 2>/dev/null
  wait "$PX_PID" 2>/dev/null || rc=$?
  PX_PID=
  if [ "$rc" -ne 0 ]; then
    PX_BAD+="$(basename "$PX_DIR") exited $rc: $(head -c 2000 "$PX_DIR/stderr")"$'\n'
  fi
  return 0
}
pf_at_exit px_stop

# at_least SECONDS MEASURED - MEASURED (a decimal) >= SECONDS.
at_least() {
  awk -v want="$1" -v got="$2" 'BEGIN { exit !(got + 0 >= want + 0) }' && return 0
  echo "took $2 s, expected at least $1 s"
  return 1
}

# curl_through NAME URL [CURL ARGS...] - curl, bounded to 30 s, writing $W/NAME; prints
# "exit time_starttransfer time_total" into $W/NAME.t.
curl_through() {
  local name=$1 url=$2 rc
  shift 2
  curl -sS --max-time 30 -o "$W/$name" -w '%{time_starttransfer} %{time_total}' "$@" "$url" \
    >"$W/$name.w" 2>"$W/$name.err"
  rc=$?
  echo "$rc $(cat "$W/$name.w")" >"$W/$name.t"
}
field() { cut -d' ' -f"$2" <"$W/$1.t"; }

# log_has PATTERN - the proxy's log has a line matching the extended regex PATTERN.
log_has() {
  grep -qE -- "$1" "$PX_LOG" && return 0
  echo "no line matching '$1' in the proxy's log:"
  cat "$PX_LOG"
  return 1
}

# served URI - bytes nginx sent for URI (sum of $body_bytes_sent over its log lines).
served() {
  pf_log_lines "$1" | awk -F '\t' '{ b += $7 } END { printf "%d\n", b }'
}
# served_at_most URI OBJECT_BYTES - nginx sent at most 1.25 x the object for URI.
served_at_most() {
  local got
  sleep 1 # nginx logs a request when it ends, which can be just after the client left
  got=$(served "$1")
  [ "$got" -le $(($2 * 5 / 4)) ] && { echo "served $got bytes"; return 0; }
  echo "nginx served $got bytes for $1, more than 1.25 x $2 (requests: $(pf_log_lines "$1" | wc -l))"
  return 1
}

# ------------------------------------------------------------------ (a) the proxy itself
if part a; then

pf_check "proxy: starts, no delay" px_start plain
curl_through plain "$PX_URL/m64"
pf_check "proxy: curl through it exits 0" test "$(field plain 1)" = 0
pf_check "proxy: 64 MiB through it equal byte for byte" pf_same "$D/m64" "$W/plain"
pf_check "proxy: logs the connection's end (end=done)" log_has '^close conn=0 fate=pass .*end=done'
px_stop

# Round trips: --delay 300 holds each direction 0.3 s; a new connection also pays one
# round trip for its handshake (--connect-rtt 1, the default with --delay).
pf_check "proxy: starts with --delay 300" px_start d300 --delay 300
curl_through d300 "$PX_URL/small"
pf_check "proxy --delay 300: small GET exits 0, bytes equal" \
  eval 'test "$(field d300 1)" = 0 && pf_same "$D/small" "$W/d300"'
pf_check "proxy --delay 300: first byte after >= 2 x 0.3 s (handshake + request: >= 1.2 s)" \
  at_least 1.2 "$(field d300 2)"
px_stop
pf_check "proxy: starts with --delay 300 --connect-rtt 0" px_start d300n --delay 300 --connect-rtt 0
curl_through d300n "$PX_URL/small"
pf_check "proxy --delay 300 --connect-rtt 0: first byte after >= 0.6 s" \
  at_least 0.6 "$(field d300n 2)"
px_stop

# --window: one connection moves at most window per one-way delay: 4 MiB / 0.2 s = 20 MiB/s,
# so 64 MiB take at least 3.2 s (plus 0.6 s of round trips); 3.0 leaves room for rounding.
pf_check "proxy: starts with --delay 200 --window 4194304" px_start win --delay 200 --window 4194304
curl_through win "$PX_URL/m64"
pf_check "proxy --window 4 MiB --delay 200: 64 MiB equal byte for byte" pf_same "$D/m64" "$W/win"
pf_check "proxy --window 4 MiB --delay 200: one connection takes >= 3.0 s for 64 MiB" \
  at_least 3.0 "$(field win 3)"
px_stop

# Each fate alone (--chaos-mix NAME=1), applied after < 100000 reply bytes.
pf_check "proxy: starts with --chaos-mix reset=1" \
  px_start reset --chaos 1 --chaos-mix reset=1 --chaos-after 100000
curl_through reset "$PX_URL/m1"
pf_check "proxy reset: curl fails (exit $(field reset 1))" test "$(field reset 1)" != 0
pf_check "proxy reset: logged end=reset" log_has '^close conn=0 fate=reset hit=1 .*end=reset'
px_stop

pf_check "proxy: starts with --chaos-mix close=1" \
  px_start close --chaos 1 --chaos-mix close=1 --chaos-after 100000
curl_through close "$PX_URL/m1"
pf_check "proxy close: curl reports a short body (exit 18, got $(field close 1))" \
  test "$(field close 1)" = 18
pf_check "proxy close: fewer than 100000 bytes arrived" \
  test "$(stat -c %s "$W/close")" -lt 100000
pf_check "proxy close: logged end=close" log_has '^close conn=0 fate=close hit=1 .*end=close'
px_stop

pf_check "proxy: starts with --chaos-mix stall=1 --stall-ms 1500" \
  px_start stall --chaos 1 --chaos-mix stall=1 --chaos-after 100000 --stall-ms 1500
curl_through stall "$PX_URL/m1"
pf_check "proxy stall: 1 MiB equal byte for byte after the stall" \
  eval 'test "$(field stall 1)" = 0 && pf_same "$D/m1" "$W/stall"'
pf_check "proxy stall: took >= 1.5 s" at_least 1.5 "$(field stall 3)"
px_stop

pf_check "proxy: starts with --chaos-mix trickle=1 --trickle 262144" \
  px_start trickle --chaos 1 --chaos-mix trickle=1 --chaos-after 1 --trickle 262144
curl_through trickle "$PX_URL/m1"
pf_check "proxy trickle: 1 MiB equal byte for byte" \
  eval 'test "$(field trickle 1)" = 0 && pf_same "$D/m1" "$W/trickle"'
pf_check "proxy trickle: 1 MiB at 256 KiB/s took >= 3.5 s" at_least 3.5 "$(field trickle 3)"
px_stop

# A seed replays the same fates by connection index; another seed draws others.
fates_of() { # SEED - the fates of 24 connections (small GETs: no fate applies)
  px_start "seed$1" --chaos "$1" || return 1
  for i in $(seq 1 24); do curl -s --max-time 5 -o /dev/null "$PX_URL/small?$i"; done
  px_stop
  grep '^open ' "$PX_LOG" | sort -t= -k2 -n >"$W/fates.$1.$2"
}
fates_of 42 a
fates_of 42 b
fates_of 43 a
pf_check "proxy --chaos 42: 24 connections logged" test "$(wc -l <"$W/fates.42.a")" -eq 24
pf_check "proxy --chaos 42: the same fates on a second run" cmp "$W/fates.42.a" "$W/fates.42.b"
pf_check "proxy --chaos 42: all five fates drawn from the default mix" \
  test "$(grep -oE 'fate=[a-z]+' "$W/fates.42.a" | sort -u | wc -l)" -eq 5
pf_check "proxy --chaos 43: a different draw" eval '! cmp -s "$W/fates.42.a" "$W/fates.43.a"'
fi

# ------------------------------------------------------------------ (b) long round trips

PF_CMD_TIMEOUT=$PX_RTT_TIMEOUT
part b && for delay in 100 200 400; do
  rtt=$(awk -v d="$delay" 'BEGIN { printf "%.1f", 2 * d / 1000 }')
  uri="/m64?rtt=$delay"
  out="$W/rtt$delay"
  pf_check "rtt $rtt s: proxy starts (--delay $delay)" px_start "rtt$delay" --delay "$delay" || continue
  pf_expect_exit 0 "rtt $rtt s: parfetch (defaults) gets 64 MiB, exit 0 within ${PF_CMD_TIMEOUT}s" \
    parfetch -q -o "$out" "$PX_URL$uri"
  pf_check "rtt $rtt s: output equals the source byte for byte" pf_same "$D/m64" "$out"
  px_stop
  pf_check "rtt $rtt s: nginx served at most 1.25 x the object" served_at_most "$uri" $((64 * MiB))
  rm -f -- "$out"
done

# ------------------------------------------------------------------ (c) chaos

# Stalls last longer than any run; fates apply within the first 1 MiB of each connection's
# replies, so most connections of a 32 MiB download at 8 streams meet theirs.
PF_CMD_TIMEOUT=$PX_CHAOS_TIMEOUT
part c && for seed in $PX_SEEDS; do
  out="$W/chaos$seed"
  pf_check "chaos seed $seed: proxy starts" \
    px_start "chaos$seed" --chaos "$seed" --chaos-after "$MiB" --stall-ms 600000 || continue
  pf_expect_exit 0 "chaos seed $seed: parfetch -n 8 gets 32 MiB, exit 0 (cut at ${PF_CMD_TIMEOUT}s)" \
    parfetch -q -n 8 -o "$out" "$PX_URL/m32?chaos=$seed"
  pf_check "chaos seed $seed: output equals the source byte for byte" pf_same "$D/m32" "$out"
  px_stop
  pf_check "chaos seed $seed: the proxy applied at least one fault" \
    eval 'test "$(grep -cE "^fate conn=[0-9]+ fate=(reset|stall|close|trickle)" "$PX_LOG")" -ge 1'
  pf_note "chaos seed $seed: $(grep -c '^open ' "$PX_LOG") connections;" \
    "faults applied: $(grep -oE '^fate conn=[0-9]+ fate=[a-z]+' "$PX_LOG" | sed 's/.*fate=//' | sort | uniq -c | tr -s ' ' | tr '\n' ',')"
  rm -f -- "$out"
done

px_stop
pf_check "every pfproxy exited 0 on SIGTERM (no crash, no sanitizer report)" \
  eval '[ -z "$PX_BAD" ] || { printf "%s" "$PX_BAD"; false; }'

pf_done
