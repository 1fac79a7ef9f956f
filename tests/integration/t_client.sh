#!/usr/bin/env bash
# t_client.sh - one engine for many downloads (ABI 1.2 clients), against
# nginx on loopback:
#   - N small objects (4 KiB to 2 MiB) one after another on one client (and 20
#     over HTTPS and HTTP/2): bytes equal, and their requests came over at
#     most max_connections_per_host (8) distinct connections (nginx's
#     $connection); the same objects opened the 1.0 way (each session its own
#     client) are counted for comparison;
#   - from 6 threads at once on one client with max_connections_per_host 4:
#     bytes equal; one-part objects over at most 4 connections, objects of up
#     to 8 parts never over more than 4 at once;
#   - idle connections close after idle_timeout; between downloads the process
#     keeps the client's network threads (one per CPU, at most 4) and no more;
#   - client_free() with a session still open: the session finishes; more
#     sessions opened before they run than the budget has room for finish;
#   - a host built from the 1.0 header (build/abi10_host) downloads with the
#     current plugin.
# PF_QUICK=1 downloads fewer objects.
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
pf_init || exit 1
pf_isolate_config

pf_check "nginx serves HTTP/1.1, HTTPS and HTTP/2 on 127.0.0.1" pf_nginx_start || { pf_done; exit 1; }

PLUGIN="$PF_BUILD/parfetch.so"
HOST="$PF_BUILD/client_host"
N=150
[ "$PF_QUICK" = 1 ] && N=40
D="$PF_DOCROOT/many"
mkdir -p "$D"

# N objects from 4 KiB to 2 MiB, sizes spread evenly on a log scale.
make_objects() {
  local i size
  for i in $(seq 1 "$N"); do
    size=$(awk -v i="$i" -v n="$N" 'BEGIN { printf "%d", 4096 * exp(log(512) * (i - 1) / (n - 1)) + i }')
    pf_mkfile "$D/o$i.bin" "$size" || return 1
  done
}
pf_check "create $N objects of 4 KiB to 2 MiB" make_objects || { pf_done; exit 1; }

# list TAG - the objects' names with ?t=TAG, one a line.
list() {
  local i
  for i in $(seq 1 "$N"); do printf 'many/o%s.bin?t=%s\n' "$i" "$1"; done >"$PF_TMP/list-$1"
  echo "$PF_TMP/list-$1"
}

# all_same DIR - every object in DIR equals its source.
all_same() {
  local i
  for i in $(seq 1 "$N"); do
    pf_same "$D/o$i.bin" "$1/o$i.bin" || return 1
  done
}

# conns TAG [COUNT] - distinct connections (access-log field 12) that carried
# the requests tagged TAG, once the log holds a line for each of COUNT
# (default N) objects.
conns() {
  tagged_wait "$1" "${2:-$N}"
  pf_tagged "$1" | cut -f 12 | sort -u | wc -l
}

# tagged_wait TAG COUNT - wait (at most 3 s) until the log holds COUNT lines
# tagged TAG (nginx logs a request when it is finished).
tagged_wait() {
  local _
  for _ in $(seq 1 30); do
    [ "$(pf_tagged "$1" | wc -l)" -ge "$2" ] && return 0
    sleep 0.1
  done
  return 1
}

conns_le() { # TAG MAX [COUNT]
  local got
  got=$(conns "$1" "${3:-}")
  echo "distinct connections for t=$1: $got (at most $2 expected)"
  [ "$got" -ge 1 ] && [ "$got" -le "$2" ]
}

run_host() { # NAME EXIT ARGS... (stdout and stderr in $PF_LAST_OUT)
  local name=$1 want=$2
  shift 2
  pf_expect_exit "$want" "$name" timeout --foreground -k 10 "$PF_CMD_TIMEOUT" "$HOST" "$PLUGIN" "$@"
}

if ! pf_check "client_host is built at $HOST" test -x "$HOST"; then
  pf_done
  exit 1
fi

# ---------------------------------------------------------------- one after another
O="$PF_TMP/seq"
mkdir -p "$O"
run_host "client: $N objects one after another, exit 0" 0 client "$PF_HTTP_URL" "$(list seq)" "$O" 1
pf_check "client: every object equals its source" all_same "$O"
pf_check "client: no client-less fallback (the plugin has clients)" \
  eval '! grep -q "no client in this plugin" <<<"$PF_LAST_OUT"'
pf_check "client: $N objects over at most 8 connections (max_connections_per_host)" conns_le seq 8
seq_conns=$(conns seq)

# One after another with two network threads (whatever the CPUs): each
# session's home is the loop with the fewest open sessions, loop 0 every
# time, so every request goes over the one connection the first opened.
O="$PF_TMP/seq2"
mkdir -p "$O"
head -n 20 "$(list seq2)" >"$PF_TMP/list-seq2-20"
run_host "client, 2 network threads: 20 objects one after another, exit 0" 0 \
  client "$PF_HTTP_URL" "$PF_TMP/list-seq2-20" "$O" 1 --set network_threads=2
pf_check "client, 2 network threads: the objects equal their sources" \
  eval 'for i in $(seq 1 20); do pf_same "$D/o$i.bin" "$O/o$i.bin" || exit 1; done'
pf_check "client, 2 network threads: 20 objects one after another over 1 connection" \
  conns_le seq2 1 20

# Connections opened ahead, counted as nginx accepts them (those that carry
# no request are not in its log): on loopback they wait for the probe's
# reply, so an object the probe covers (one part) opens none, and one of 3
# parts opens 2.
# accepted_by DIR LIST [ARGS...] - the connections nginx accepted while
# client_host fetched LIST (on a fresh client) into DIR.
accepted_by() {
  local dir=$1 lst=$2 a0 a1
  shift 2
  mkdir -p "$dir"
  a0=$(pf_accepted)
  run_host "client: $(wc -l <"$lst") object(s) from $lst, exit 0" 0 client "$PF_HTTP_URL" "$lst" "$dir" 1 "$@" \
    >/dev/null
  a1=$(pf_accepted)
  echo $((a1 - a0 - 1)) # (the second query's own connection)
}
printf 'many/o1.bin?t=one\n' >"$PF_TMP/list-one"
got=$(accepted_by "$PF_TMP/one" "$PF_TMP/list-one")
pf_check "client: one object of 4 KiB, alone, the output equals its source" pf_same "$D/o1.bin" "$PF_TMP/one/o1.bin"
pf_check "client: one object the probe covers opens 1 TCP connection, none ahead (accepted: $got)" \
  test "$got" = 1
pf_mkfile "$PF_DOCROOT/p3.bin" $((3 * 1024 * 1024 + 17))
printf 'p3.bin?t=p3\n' >"$PF_TMP/list-p3"
got=$(accepted_by "$PF_TMP/p3" "$PF_TMP/list-p3" --set min_part_size=1MiB)
pf_check "client: one object of 3 parts, the output equals its source" pf_same "$PF_DOCROOT/p3.bin" "$PF_TMP/p3/p3.bin"
pf_check "client: one object of 3 parts opens 3 TCP connections, 2 of them ahead (accepted: $got)" \
  test "$got" = 3

# Over TLS (HTTPS, and HTTP/2): the first 20 objects on one client.
for proto in https h2; do
  base=$PF_HTTPS_URL
  [ "$proto" = h2 ] && base=$PF_H2_URL
  O="$PF_TMP/$proto"
  mkdir -p "$O"
  head -n 20 "$(list "$proto")" >"$PF_TMP/list-$proto-20"
  run_host "client, $proto: 20 objects one after another, exit 0" 0 \
    client "$base" "$PF_TMP/list-$proto-20" "$O" 1 --set "tls.cacert=$PF_CA"
  pf_check "client, $proto: the objects equal their sources" \
    eval 'for i in $(seq 1 20); do pf_same "$D/o$i.bin" "$O/o$i.bin" || exit 1; done'
  pf_check "client, $proto: 20 objects over at most 8 connections" conns_le "$proto" 8 20
  pf_note "client, $proto: $(conns "$proto" 20) connection(s) carried the 20 objects"
done

O="$PF_TMP/open"
mkdir -p "$O"
run_host "1.0 way (open()): $N objects one after another, exit 0" 0 open "$PF_HTTP_URL" "$(list open)" "$O" 1
pf_check "1.0 way: every object equals its source" all_same "$O"
open_conns=$(conns open)
pf_note "connections that carried requests for $N objects: $seq_conns on one client, $open_conns opened the 1.0 way"

# open_at_once TAG MAX - at most MAX of the connections that carried TAG's
# requests were open at the same moment: each connection from the start of
# its first request to the end of its last (shrunk by 20 ms at both ends for
# the log's rounding).
open_at_once() {
  local got
  got=$(pf_open_at_once "$1")
  echo "connections open at once for t=$1: $got (at most $2 expected)"
  [ "$got" -ge 1 ] && [ "$got" -le "$2" ]
}

# One part each (the default min_part_size): 6 sessions at once share 4
# connections, and none is closed while it can serve the next object.
O="$PF_TMP/par"
mkdir -p "$O"
run_host "client: $N objects from 6 threads at once, 4 connections per host, exit 0" 0 \
  client "$PF_HTTP_URL" "$(list par)" "$O" 6 --set max_connections_per_host=4
pf_check "client, 6 threads: every object equals its source" all_same "$O"
pf_check "client, 6 threads: over at most 4 connections (max_connections_per_host: 4)" conns_le par 4

# min_part_size 256K: the larger objects have up to 8 parts, so sessions
# compete for the 4 connections; a stream cut short by a steal closes its
# HTTP/1.1 connection, so more than 4 may be used in turn, never at once.
O="$PF_TMP/parts"
mkdir -p "$O"
run_host "client: $N objects of up to 8 parts from 6 threads at once, 4 connections per host, exit 0" 0 \
  client "$PF_HTTP_URL" "$(list parts)" "$O" 6 --set min_part_size=256K --set max_connections_per_host=4
pf_check "client, parts, 6 threads: every object equals its source" all_same "$O"
pf_check "client, parts, 6 threads: at most 4 connections open at once" open_at_once parts 4

# ---------------------------------------------------------------- idle connections, threads
O="$PF_TMP/idle"
mkdir -p "$O"
run_host "client, idle_timeout 1s: the downloads, exit 0" 0 \
  client "$PF_HTTP_URL" "$(list idle)" "$O" 2 --set idle_timeout=1s --idle-ms 3000
out=$PF_LAST_OUT
pf_check "client, idle_timeout 1s: every object equals its source" all_same "$O"
pf_check "client: connections stay open for the next download (sockets > 0)" \
  eval 'grep -Eq "^sockets [1-9]" <<<"$out"'
pf_check "client: idle connections are closed after idle_timeout (no socket left)" \
  eval 'grep -q "^sockets-after-idle 0$" <<<"$out"'
threads=$(sed -n 's/^threads \([0-9]*\) .*/\1/p' <<<"$out")
threads0=$(sed -n 's/^threads .*before the client: \([0-9]*\))/\1/p' <<<"$out")
pf_note "threads of the process between downloads, the client held: $threads ($threads0 before it)"
# the client's network threads (network_threads: one per CPU, at most 4) and nothing else
loops=$(nproc 2>/dev/null || echo 1)
[ "$loops" -gt 4 ] && loops=4
pf_check "client: between downloads, only the client's $loops network thread(s) more than before it ($threads0 -> $threads)" \
  test "${threads:-99}" -le "$((${threads0:-0} + loops))"

# ---------------------------------------------------------------- lifetime
O="$PF_TMP/early"
mkdir -p "$O"
head -n 3 "$(list early)" >"$PF_TMP/list-early3"
run_host "client_free() with a session open: the session finishes, exit 0" 0 \
  client "$PF_HTTP_URL" "$PF_TMP/list-early3" "$O" 1 --free-early
pf_check "client_free() early: the objects equal their sources" \
  eval 'for i in 1 2 3; do pf_same "$D/o$i.bin" "$O/o$i.bin" || exit 1; done'

# 5 sessions opened before any is run, 2 connections per host (opened_first
# NAME TAG FIRST: objects FIRST..FIRST+4 into $PF_TMP/NAME).
opened_first() {
  O="$PF_TMP/$1"
  mkdir -p "$O"
  sed -n "$3,$(($3 + 4))p" "$(list "$2")" >"$PF_TMP/list-$2-5"
  run_host "$1: 5 sessions opened before they run, 2 connections per host: exit 0" 0 \
    client "$PF_HTTP_URL" "$PF_TMP/list-$2-5" "$O" 1 --open-first --set max_connections_per_host=2
  pf_check "$1: the objects equal their sources" \
    eval 'for i in $(seq '"$3"' '"$(($3 + 4))"'); do pf_same "$D/o$i.bin" "$O/o$i.bin" || exit 1; done'
}
# Objects of more than 512 KiB: the paused probes of those not run yet hold
# the budget; the opens past it go over it after a second each instead of
# waiting for ever.
opened_first "opened before they run" first $((N - 4))
# Small objects: a probe reply that is the whole object (at most 512 KiB) is
# kept as it comes, not paused: its connection is free at once for the next
# open, no probe is ended for the budget, and no object is asked for twice.
opened_first "opened before they run, small" kept 1
tagged_wait kept 5
got=$(pf_tagged kept | wc -l)
pf_check "opened before they run, small: one request per object, none asked again ($got)" \
  test "$got" = 5

# ---------------------------------------------------------------- a 1.0 host
pf_check "create a 20 MiB source file" pf_mkfile "$PF_DOCROOT/f20m.bin" $((20 * 1024 * 1024))
O="$PF_TMP/abi10"
mkdir -p "$O"
if pf_check "a host built from the 1.0 header is built ($PF_BUILD/abi10_host)" test -x "$PF_BUILD/abi10_host"; then
  pf_expect_exit 0 "1.0 host: downloads 20 MiB with the current plugin, exit 0" \
    timeout --foreground -k 10 "$PF_CMD_TIMEOUT" "$PF_BUILD/abi10_host" "$PLUGIN" \
    "$PF_HTTP_URL/f20m.bin?t=abi10" "$O/out"
  pf_check "1.0 host: says it loaded ABI 1.2 or later" \
    eval 'grep -Eq "\(ABI 1\.([2-9]|[1-9][0-9])\)" <<<"$PF_LAST_OUT"'
  pf_check "1.0 host: output equals the source" pf_same "$PF_DOCROOT/f20m.bin" "$O/out"
  pf_check "1.0 host: no side file left" only_output "$O" out
fi

pf_done
