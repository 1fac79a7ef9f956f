#!/usr/bin/env bash
# t_loop.sh - one event loop per client (issue 9, item 2): what the engine
# promises a host that runs many sessions on one client (ABI 1.2), through
# build/client_host against nginx on loopback:
#   - threads bounded whatever the streams: 16 objects of 32 MiB (PF_QUICK=1:
#     8 MiB) at once from 16 host threads, streams 8, max_connections_per_host
#     8, min_part_size 1M (8 parts each): bytes equal, exit 0; the engine's
#     own threads at their peak (sampled every 20 ms, the host's threads
#     taken off) are at most loops + sessions + 1 (the client's network
#     threads, one per CPU and at most 4; a resume journal per session;
#     slack); nginx saw at most 8 distinct connections (plus one per request
#     reissued by a steal or retry: each cuts or loses its connection), and
#     at most 8 open at once;
#   - a slow host sink in one session does not slow another on the same
#     client: session A into a sink that sleeps (16 MiB at 2.5 MiB/s, ~6.4 s),
#     session B 64 MiB (PF_QUICK=1: 32 MiB) to a file: B with A running takes
#     at most 2 x B alone + 1 s; both equal their sources;
#   - connections shared across sessions at once: 40 objects of 4 KiB to
#     256 KiB from 8 threads, max_connections_per_host 4, over HTTP/1.1 and
#     over HTTPS + HTTP/2: bytes equal, at most 4 distinct connections each;
#   - cancel() from another thread 200 ms after 8 sessions start (the
#     cancelled one and 3 others paced by nginx, so that they still run): that
#     one returns PF_E_CANCELLED within 3 s and leaves no output file, the
#     other 7 equal their sources, the process exits 0 (within 60 s: no hang).
# Run after `make all testbins`; BUILD selects the build directory.
# shellcheck disable=SC2016
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
pf_init || exit 1
pf_isolate_config
PF_CMD_TIMEOUT=60

pf_check "nginx serves HTTP/1.1, HTTPS and HTTP/2 on 127.0.0.1" pf_nginx_start || { pf_done; exit 1; }

PLUGIN="$PF_BUILD/parfetch.so"
HOST="$PF_BUILD/client_host"
MIB=1048576
if ! pf_check "client_host is built at $HOST" test -x "$HOST"; then
  pf_done
  exit 1
fi

run_host() { # NAME EXIT ARGS... (stdout and stderr in $PF_LAST_OUT)
  local name=$1 want=$2
  shift 2
  pf_expect_exit "$want" "$name" timeout --foreground -k 10 "$PF_CMD_TIMEOUT" "$HOST" "$PLUGIN" "$@"
}

# conns TAG COUNT - the distinct connections (access-log field 12,
# $connection) that carried the requests tagged TAG, once the log holds at
# least COUNT of them (nginx logs a request when it ends).
conns() {
  local _
  for _ in $(seq 1 30); do
    [ "$(pf_tagged "$1" | wc -l)" -ge "$2" ] && break
    sleep 0.1
  done
  pf_tagged "$1" | awk -F '\t' '{ print $12 }' | sort -u | wc -l
}

# within WHAT GOT LO HI - LO <= GOT <= HI (integers), else say so.
within() {
  [ -n "$2" ] && [ "$2" -ge "$3" ] && [ "$2" -le "$4" ] && return 0
  echo "$1: ${2:-?}, expected $3..$4"
  return 1
}

# same_all SRCDIR OUTDIR NAME... - each OUTDIR/NAME equals SRCDIR/NAME.
same_all() {
  local src=$1 out=$2 n
  shift 2
  for n in "$@"; do pf_same "$src/$n" "$out/$n" || return 1; done
}

# object_secs NAME - from the last --times output: how long object NAME took.
object_secs() {
  awk -v n="object $1:" 'index($0, n) == 1 { printf "%.3f", $NF - $(NF - 2) }' <<<"$PF_LAST_OUT"
}
# object_end NAME - when object NAME ended (seconds after the downloads began).
object_end() {
  awk -v n="object $1:" 'index($0, n) == 1 { print $NF }' <<<"$PF_LAST_OUT"
}

D="$PF_DOCROOT/loop"
mkdir -p "$D"

# ---------------------------------------------------------------- threads bounded
SIZE=$((32 * MIB))
[ "$PF_QUICK" = 1 ] && SIZE=$((8 * MIB))
SESSIONS=16
big=()
for i in $(seq 1 "$SESSIONS"); do big+=("b$i.bin"); done
make_big() {
  local n
  for n in "${big[@]}"; do pf_mkfile "$D/$n" "$SIZE" || return 1; done
}
pf_check "create $SESSIONS objects of $((SIZE / MIB)) MiB" make_big || { pf_done; exit 1; }
for n in "${big[@]}"; do echo "loop/$n?t=threads"; done >"$PF_TMP/list-threads"
O="$PF_TMP/threads"
mkdir -p "$O"
run_host "$SESSIONS sessions of $((SIZE / MIB)) MiB at once on one client, streams 8: exit 0" 0 \
  client "$PF_HTTP_URL" "$PF_TMP/list-threads" "$O" "$SESSIONS" --peak-threads \
  --set streams=8 --set min_part_size=1M --set max_connections_per_host=8
out=$PF_LAST_OUT
pf_check "$SESSIONS sessions at once: every object equals its source" same_all "$D" "$O" "${big[@]}"
peak=$(sed -n 's/^peak-threads \([0-9]*\) (host: [0-9]*)$/\1/p' <<<"$out")
host=$(sed -n 's/^peak-threads [0-9]* (host: \([0-9]*\))$/\1/p' <<<"$out")
loops=$(nproc 2>/dev/null || echo 1)
[ "$loops" -gt 4 ] && loops=4
bound=$((loops + SESSIONS + 1))
pf_note "threads at the peak: ${peak:-?}, of which the host's ${host:-?}: the engine's $((${peak:-0} - ${host:-0}))"
# threads_le PEAK HOST MAX - the engine's threads (PEAK less the host's HOST) <= MAX.
threads_le() {
  echo "peak ${1:-?} threads, the host's ${2:-?}: the engine's $((${1:-0} - ${2:-0})) (at most $3 expected)"
  [ -n "$1" ] && [ -n "$2" ] && [ "$1" -gt "$2" ] && [ $(($1 - $2)) -le "$3" ]
}
pf_check "$SESSIONS sessions x 8 streams: the engine's threads at their peak <= $loops network + $SESSIONS sessions + 1 = $bound" \
  threads_le "$peak" "$host" "$bound"
nconn=$(conns threads "$SESSIONS")
nreq=$(pf_tagged threads | wc -l)
nopen=$(pf_open_at_once threads)
# A steal cuts the victim's reply short and a retry follows a failure: HTTP/1.1 then
# closes that connection, and the next request may open one anew (at most 8 at once,
# checked next). Under load the engine steals; each reissued request may cost one.
reissued=$(awk '$1 == "reissued" { print $2 + $3 }' <<<"$out")
pf_note "$SESSIONS sessions at once: $nreq requests over $nconn connection(s), at most $nopen open at once"
pf_note "$SESSIONS sessions at once: ${reissued:-?} requests reissued (steals + retries)"
pf_check "$SESSIONS sessions at once: at most 8 distinct connections (max_connections_per_host 8), plus one per reissued request (${reissued:-?})" \
  within "distinct connections" "$nconn" 1 $((8 + ${reissued:-0}))
pf_check "$SESSIONS sessions at once: at most 8 connections open at once" \
  within "connections open at once" "$nopen" 1 8

# ---------------------------------------------------------------- a slow sink
BSIZE=$((64 * MIB))
[ "$PF_QUICK" = 1 ] && BSIZE=$((32 * MIB))
pf_check "create a 16 MiB object (A) and one of $((BSIZE / MIB)) MiB (B)" eval '
  pf_mkfile "$D/sinkA.bin" $((16 * MIB)) &&
  pf_mkfile "$D/fileB.bin" "$BSIZE"' || { pf_done; exit 1; }
O="$PF_TMP/alone"
mkdir -p "$O"
echo "loop/fileB.bin?t=alone" >"$PF_TMP/list-alone"
run_host "B alone: $((BSIZE / MIB)) MiB to a file on a client, exit 0" 0 \
  client "$PF_HTTP_URL" "$PF_TMP/list-alone" "$O" 1 --times
alone=$(object_secs "loop/fileB.bin?t=alone")
pf_check "B alone: equals its source" pf_same "$D/fileB.bin" "$O/fileB.bin"
O="$PF_TMP/both"
mkdir -p "$O"
printf 'loop/sinkA.bin?t=sink\nloop/fileB.bin?t=both\n' >"$PF_TMP/list-both"
run_host "A into a sink at 2.5 MiB/s and B to a file at once on one client: exit 0" 0 \
  client "$PF_HTTP_URL" "$PF_TMP/list-both" "$O" 2 --times --sink-rate 2560K
with=$(object_secs "loop/fileB.bin?t=both")
a_secs=$(object_secs "loop/sinkA.bin?t=sink")
a_end=$(object_end "loop/sinkA.bin?t=sink")
b_end=$(object_end "loop/fileB.bin?t=both")
pf_note "B alone ${alone:-?} s; B beside the slow sink ${with:-?} s; A (16 MiB into the sink) ${a_secs:-?} s"
pf_check "A into the slow sink: equals its source" pf_same "$D/sinkA.bin" "$O/sinkA.bin"
pf_check "B beside the slow sink: equals its source" pf_same "$D/fileB.bin" "$O/fileB.bin"
pf_check "A was still running when B ended (else the next check measures nothing)" \
  awk -v a="${a_end:-0}" -v b="${b_end:-1}" 'BEGIN { if (a > b) exit 0; print "A ended at " a " s, B at " b " s"; exit 1 }'
pf_check "a slow sink in one session does not slow another: B with A <= 2 x B alone + 1 s" \
  awk -v w="${with:-999}" -v a="${alone:-0}" \
  'BEGIN { if (w <= 2 * a + 1) exit 0; print "B took " w " s beside A, " a " s alone"; exit 1 }'

# ---------------------------------------------------------------- shared connections
N=40
small=()
for i in $(seq 1 "$N"); do
  small+=("s$i.bin")
  size=$(awk -v i="$i" -v n="$N" 'BEGIN { printf "%d", 4096 * exp(log(64) * (i - 1) / (n - 1)) + i }')
  pf_mkfile "$D/s$i.bin" "$size" || break
done
pf_check "create $N objects of 4 KiB to 256 KiB" test -f "$D/s$N.bin"
for proto in http h2; do
  base=$PF_HTTP_URL extra=()
  [ "$proto" = h2 ] && base=$PF_H2_URL extra=(--set "tls.cacert=$PF_CA")
  for n in "${small[@]}"; do echo "loop/$n?t=share-$proto"; done >"$PF_TMP/list-$proto"
  O="$PF_TMP/share-$proto"
  mkdir -p "$O"
  run_host "$proto: $N objects from 8 threads at once on one client, 4 connections per host: exit 0" 0 \
    client "$base" "$PF_TMP/list-$proto" "$O" 8 --set max_connections_per_host=4 "${extra[@]}"
  pf_check "$proto, 8 threads: every object equals its source" same_all "$D" "$O" "${small[@]}"
  nconn=$(conns "share-$proto" "$N")
  pf_note "$proto, 8 threads: $(pf_tagged "share-$proto" | wc -l) requests over $nconn connection(s)"
  pf_check "$proto, 8 threads: at most 4 distinct connections (max_connections_per_host 4)" \
    within "distinct connections" "$nconn" 1 4
done

# ---------------------------------------------------------------- cancel
# c0 (16 MiB) and c1..c3 (512 KiB, one request each) come through /slow/
# (128 KiB/s a request): c0 still runs when it is cancelled, c1..c3 run for
# ~3 s, around the cancel; c4..c7 ($((CSIZE / MIB)) MiB) at full speed.
CSIZE=$((16 * MIB))
[ "$PF_QUICK" = 1 ] && CSIZE=$((4 * MIB))
make_cancel() {
  local i
  pf_mkfile "$D/c0.bin" $((16 * MIB)) || return 1
  for i in 1 2 3; do pf_mkfile "$D/c$i.bin" $((512 * 1024)) || return 1; done
  for i in 4 5 6 7; do pf_mkfile "$D/c$i.bin" "$CSIZE" || return 1; done
}
pf_check "create the 8 objects of the cancel run" make_cancel
{
  for i in 0 1 2 3; do echo "slow/loop/c$i.bin?t=cancel"; done
  for i in 4 5 6 7; do echo "loop/c$i.bin?t=cancel"; done
} >"$PF_TMP/list-cancel"
O="$PF_TMP/cancel"
mkdir -p "$O"
run_host "8 sessions at once, cancel() of one from another thread after 200 ms: exit 0, no hang" 0 \
  client "$PF_HTTP_URL" "$PF_TMP/list-cancel" "$O" 8 --cancel-after 200 --times
out=$PF_LAST_OUT
line=$(grep "^cancelled slow/loop/c0.bin" <<<"$out")
pf_note "${line:-no 'cancelled' line}"
pf_note "the other sessions: $(awk '/^object .*c[1-7]\.bin/ { printf "%s%.2f", sep, $NF - $(NF - 2); sep = ", " }' <<<"$out") s"
cancel_at=$(sed -n 's/.*; cancel() at \([0-9.]*\) s, returned [0-9.]* s later$/\1/p' <<<"$line")
returned=$(sed -n 's/.*; cancel() at [0-9.]* s, returned \([0-9.]*\) s later$/\1/p' <<<"$line")
pf_check "cancel(): that session returned PF_E_CANCELLED (status 11)" \
  eval 'grep -q "(status 11); cancel() at" <<<"$line"'
pf_check "cancel(): ... within 3 s of the call" \
  awk -v r="${returned:-99}" 'BEGIN { if (r <= 3) exit 0; print "returned " r " s after cancel()"; exit 1 }'
# ended_after T - at least 3 of the other sessions ended after T s: cancel()
# came while they ran.
ended_after() {
  local n
  n=$(awk -v t="$1" '/^object .*c[1-7]\.bin/ && $NF > t { n++ } END { print n + 0 }' <<<"$out")
  echo "$n of the other 7 sessions ended after cancel() at $1 s"
  [ "$n" -ge 3 ]
}
pf_check "cancel(): it came while the other sessions ran (at least 3 ended after it)" \
  ended_after "${cancel_at:-999}"
pf_check "cancel(): its output file is absent" test ! -e "$O/c0.bin"
pf_check "cancel(): the other 7 sessions equal their sources" \
  same_all "$D" "$O" c1.bin c2.bin c3.bin c4.bin c5.bin c6.bin c7.bin

pf_done
