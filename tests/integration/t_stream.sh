#!/usr/bin/env bash
# t_stream.sh - in-order streaming with every stream (issue 12, item 1):
# `-o -` and PF_SINK_IN_ORDER sinks fetch parts on several streams through a
# bounded reorder window (stream_window), against nginx and the fault server
# on loopback:
#   - `-o - | cmp` equal for small objects, sizes not a multiple of the part
#     size, larger ones, an empty one, a chunked one (size unknown) and one
#     from a server without ranges;
#   - `-o - --checksum`: right one exit 0 and equal, wrong one exit 3 (the
#     digest is computed in order as the bytes go out); -C -o - refused;
#   - more than one stream carried it: several ranged requests on several
#     connections in nginx's access log;
#   - a slow reader (perl, reading 64 KiB every 5 ms) slows the download:
#     peak RSS at most the window + a margin above a download to a file, CPU
#     time a small part of the wall time (no busy loop), every byte read;
#   - `| head -c 100000`: exit 4 (local I/O: the output is not the whole
#     object), nothing on stderr, within a few seconds;
#   - a stalled head (the fault server's first reply stops after 100 KiB for
#     30 s): another stream takes it over; bytes equal well under 30 s and
#     under the stall_timeout a lone stream would have waited; the same for
#     a head that trickles at 8 KiB/s;
#   - a host's PF_SINK_IN_ORDER sink through the ABI (build/engine_host
#     inorder-run): ascending contiguous writes, every byte, several
#     connections; the same for a sink without read() under a checksum
#     (a wrong one fails commit()).
# Run after `make all testbins`; BUILD selects the build directory.
# shellcheck disable=SC2016
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/fault/fault.sh
. "$PF_ROOT/tests/fault/fault.sh"
pf_init || exit 1
pf_isolate_config
PF_CMD_TIMEOUT=60
MiB=$((1024 * 1024))
T=$PF_TMP
HOST="$PF_BUILD/engine_host"
PLUGIN="$PF_BUILD/parfetch.so"

pf_check "parfetch, engine_host and the fault server are built" \
  test -x "$PF_BIN" -a -x "$HOST" -a -x "$PF_BUILD/fault_server" || { pf_done; exit 1; }
pf_check "GNU time is installed (Debian: time; scripts/deps.sh test)" test -x /usr/bin/time ||
  { pf_done; exit 1; }
pf_check "nginx serves HTTP/1.1 on 127.0.0.1" pf_nginx_start || { pf_done; exit 1; }

BIG=$((40 * MiB + 12345))
[ "$PF_QUICK" = 1 ] && BIG=$((24 * MiB + 12345))
pf_check "create the objects" eval '
  pf_mkfile "$PF_DOCROOT/s0.bin" 0 &&
  pf_mkfile "$PF_DOCROOT/s1.bin" 1 &&
  pf_mkfile "$PF_DOCROOT/s100k.bin" 100000 &&
  pf_mkfile "$PF_DOCROOT/s3m.bin" $((3 * MiB + 7)) &&
  pf_mkfile "$PF_DOCROOT/s5m.bin" $((5 * MiB)) &&
  pf_mkfile "$PF_DOCROOT/s1m.bin" $((MiB + 5)) &&
  pf_mkfile "$PF_DOCROOT/big.bin" "$BIG" &&
  pf_mkfile "$PF_DOCROOT/slow.bin" $((48 * MiB)) &&
  pf_mktext "$PF_DOCROOT/text.txt" $((2 * MiB + 3))' || { pf_done; exit 1; }

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
below() { awk -v x="$1" -v lim="$2" 'BEGIN { exit !(x < lim) }' || { echo "$1 is not below $2"; return 1; }; }

# A small window: 1 MiB over 4 streams is parts of 128 KiB (two chunks of
# 64 KiB), so that small objects have many parts too: 3 MiB + 7 is 25
# parts, the last of 7 bytes.
SMALL="$T/small.yaml"
printf 'stream_window: 1MiB\nstreams: 4\nchunk_size: 64KiB\n' >"$SMALL"

# piped NAME URL EXPECTED [ARGS...] - `parfetch -o - URL | cmp - EXPECTED`
# (and parfetch's exit 0, stderr empty).
piped() {
  local name=$1 url=$2 want=$3
  shift 3
  parfetch -q "$@" -o - "$url" 2>"$T/$name.err" | cmp - "$want"
  local st=("${PIPESTATUS[@]}")
  [ "${st[0]}" -eq 0 ] || { echo "parfetch exited ${st[0]}"; cat "$T/$name.err"; return 1; }
  [ "${st[1]}" -eq 0 ] || return 1
  [ ! -s "$T/$name.err" ] || { echo "stderr:"; cat "$T/$name.err"; return 1; }
}

# connections URI-SUFFIX - distinct connections (nginx's $connection) that
# carried a 206 for requests whose URL ends with t=TAG.
connections() { pf_tagged "$1" | awk -F '\t' '$5 == 206 { print $12 }' | sort -u | wc -l; }
ranged() { pf_tagged "$1" | awk -F '\t' '$5 == 206' | wc -l; }

# ---- bytes equal ---------------------------------------------------------------
for f in s0 s1 s100k s3m s5m; do
  pf_check "-o - of $f.bin (window 1 MiB, 4 streams): bytes equal, exit 0, stderr empty" \
    piped "$f" "$PF_HTTP_URL/$f.bin?t=$f" "$PF_DOCROOT/$f.bin" -c "$SMALL"
done
pf_check "-o - of $BIG bytes (defaults): bytes equal, exit 0" \
  piped big "$PF_HTTP_URL/big.bin?t=big" "$PF_DOCROOT/big.bin"
pf_check "-o - from a server without ranges (one part, one stream): bytes equal" \
  piped norange "$PF_HTTP_URL/norange/s3m.bin" "$PF_DOCROOT/s3m.bin" -c "$SMALL"
curl -sS --max-time 20 -o "$T/chunked.expected" "$PF_HTTP_URL/chunked/text.txt"
pf_check "-o - of a chunked reply (size unknown): bytes equal" \
  piped chunked "$PF_HTTP_URL/chunked/text.txt" "$T/chunked.expected" -c "$SMALL"

# ---- a checksum (the stdout sink has no read(): digest in order) --------------
sum5=$(sha256sum "$PF_DOCROOT/s5m.bin" | cut -d' ' -f1)
sum1=$(sha256sum "$PF_DOCROOT/s1m.bin" | cut -d' ' -f1)
pf_check "-o - --checksum sha256 (right), 4 streams: bytes equal, exit 0" \
  piped sum "$PF_HTTP_URL/s5m.bin?t=sum" "$PF_DOCROOT/s5m.bin" -c "$SMALL" --checksum "sha256=$sum5"
bad=$(printf '%s' "$sum5" | tr '0-9a-f' '1-9a0-f')
pf_expect_exit 3 "-o - --checksum sha256 (wrong), 4 streams: exit 3" \
  eval 'parfetch -q -c "$SMALL" --checksum "sha256=$bad" -o - "$PF_HTTP_URL/s5m.bin?t=badsum" >/dev/null'
pf_check "... naming the mismatch" eval 'printf "%s" "$PF_LAST_OUT" | grep -qi "checksum"'
pf_expect_exit 2 "-C -o - is still refused: exit 2" parfetch -q -C -o - "$PF_HTTP_URL/s1.bin"

# ---- several streams -----------------------------------------------------------
# From /slow/ (128 KiB/s a reply) a part of 128 KiB lasts a second: the four streams carry
# one each whatever the load (at full speed on loopback, a loaded machine under TSan may let
# two streams take every part before the others have connected).
pf_check "-o - of /slow/s1m.bin (window 1 MiB, 4 streams): bytes equal, exit 0, stderr empty" \
  piped slow1m "$PF_HTTP_URL/slow/s1m.bin?t=slow1m" "$PF_DOCROOT/s1m.bin" -c "$SMALL"
pf_log_wait "/slow/s1m.bin?t=slow1m" 2
n=$(connections slow1m)
pf_check "1 MiB at a 1 MiB window, 128 KiB/s a reply: several connections carried ranged requests ($n, want >= 3)" test "$n" -ge 3
pf_log_wait "/s5m.bin?t=s5m" 2
n=$(ranged s5m)
pf_check "... in parts of the window's size (40 of 128 KiB): >= 30 ranged requests ($n)" test "$n" -ge 30
pf_log_wait "/big.bin?t=big" 2
n=$(connections big)
pf_check "$BIG bytes at the defaults: several connections ($n, want >= 4)" test "$n" -ge 4

# ---- a slow reader -------------------------------------------------------------
# 48 MiB at an 8 MiB window; the reader takes 64 KiB every 5 ms (~12
# MiB/s): the download has to wait for it. Its peak RSS (GNU time) is compared
# with the same build's download of the same object to a file (the pool
# and the program's own memory, sanitizer shadow and all): at most the
# window (8 MiB) more, plus 8 MiB of margin. Without a bound, most of the
# object (48 MiB) would sit in memory.
WIN8="$T/win8.yaml"
printf 'stream_window: 8MiB\n' >"$WIN8"
slow_reader() {
  perl -e 'my ($n, $b) = (0, ""); while (my $r = read(STDIN, $b, 65536)) { $n += $r; select(undef, undef, undef, 0.005) } print "$n\n"'
}
# timed NAME ARGS... - parfetch ARGS under GNU time (its peak RSS and CPU
# are parfetch's: the largest and the sum of the descendants waited for),
# bounded by timeout(1); "EXIT PEAK_KIB CPU_S" in $T/NAME.res.
timed() {
  local name=$1 rc
  shift
  /usr/bin/time -f '%M %U %S' -o "$T/$name.time" timeout -k 5 60 "$PF_BIN" "$@"
  rc=$?
  awk -v rc="$rc" '{ printf "%d %d %.2f\n", rc, $1, $2 + $3 }' "$T/$name.time" >"$T/$name.res"
}
timed base -q -c "$WIN8" -o "$T/base.bin" "$PF_HTTP_URL/slow.bin?t=base" 2>"$T/base.err"
read -r brc bhwm _ <"$T/base.res"
pf_check "slow reader: the same object to a file, for comparison: exit 0" test "$brc" -eq 0
rm -f -- "$T/base.bin"
t0=$(now)
timed slow -q -c "$WIN8" -o - "$PF_HTTP_URL/slow.bin?t=slow" 2>"$T/slow.err" \
  > >(slow_reader >"$T/slow.count")
t1=$(now)
sleep 0.5 # the reader's last read and its count
read -r rc hwm cpu <"$T/slow.res"
el=$(secs "$t0" "$t1")
pf_note "slow reader: $el s, peak RSS $((hwm / 1024)) MiB (to a file: $((bhwm / 1024)) MiB), CPU $cpu s"
pf_check "slow reader: exit 0, stderr empty" test "$rc" -eq 0 -a ! -s "$T/slow.err"
pf_check "slow reader: it read every byte" test "$(cat "$T/slow.count")" -eq $((48 * MiB))
pf_check "slow reader: the reader set the pace (>= 2 s for 48 MiB)" below 2 "$el"
# (not under ASan or TSan: their quarantine keeps what each request freed,
# and -o - makes many more requests than a download to a file)
# (ldd's whole output first: with pipefail, grep -q may leave ldd a SIGPIPE)
sanlibs=$(ldd "$PF_BIN" 2>/dev/null | grep -E 'lib[at]san')
if [ -n "$sanlibs" ]; then
  echo "ok - slow reader: peak RSS # SKIP sanitizer build (quarantine and shadow memory)"
else
  pf_check "slow reader: peak RSS $((hwm / 1024)) MiB <= to a file ($((bhwm / 1024)) MiB) + window (8 MiB) + 8 MiB" \
    test "$hwm" -le $((bhwm + 16 * 1024))
fi
pf_check "slow reader: no busy loop (CPU $cpu s < half of $el s)" below "$cpu" "$(awk -v e="$el" 'BEGIN { print e / 2 }')"

# ---- the reader goes away ------------------------------------------------------
head_run() {
  local t0 t1 st
  t0=$(now)
  parfetch -q -o - "$PF_HTTP_URL/big.bin?t=head" 2>"$T/head.err" | head -c 100000 >"$T/head.out"
  st=("${PIPESTATUS[@]}")
  t1=$(now)
  echo "parfetch exit ${st[0]} after $(secs "$t0" "$t1") s"
  cat "$T/head.err"
  [ "${st[0]}" -eq 4 ] || { echo "want exit 4"; return 1; }
  [ ! -s "$T/head.err" ] || { echo "want nothing on stderr"; return 1; }
  cmp -n 100000 "$T/head.out" "$PF_DOCROOT/big.bin" || return 1
  below "$(secs "$t0" "$t1")" 5
}
pf_check "| head -c 100000: exit 4, nothing on stderr, promptly, the first bytes equal" head_run
# --json with -o -: the object (on stderr) says what the exit status says
head_json() {
  local st
  parfetch -q --json -o - "$PF_HTTP_URL/big.bin?t=headjson" 2>"$T/headj.err" | head -c 100000 >/dev/null
  st=("${PIPESTATUS[@]}")
  echo "parfetch exit ${st[0]}"
  cat "$T/headj.err"
  [ "${st[0]}" -eq 4 ] || { echo "want exit 4"; return 1; }
  grep -q '"exit_code": *4' "$T/headj.err" || { echo "want \"exit_code\":4 in the JSON object"; return 1; }
  grep -q '"error": *"' "$T/headj.err" || { echo "want an error in the JSON object"; return 1; }
}
pf_check "| head -c 100000 with --json: exit 4 and the JSON object says exit_code 4 and why" head_json

# ---- cancel while the reader does not read -----------------------------------
# The reader opens the pipe and never reads: the writer is held in write().
# SIGTERM still ends the run promptly, 143, no hang.
stuck_reader() {
  local fifo="$T/stuck.fifo" rp pp st i
  rm -f "$fifo"
  mkfifo "$fifo" || return 1
  (exec 3<"$fifo"; sleep 30) &
  rp=$!
  "$PF_BUILD/parfetch" -q -o - "$PF_HTTP_URL/big.bin?t=stuck" >"$fifo" 2>"$T/stuck.err" &
  pp=$!
  sleep 2
  kill -TERM "$pp"
  for i in $(seq 1 100); do kill -0 "$pp" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pp" 2>/dev/null; then
    echo "still running 10 s after SIGTERM"
    kill -KILL "$pp"
    wait "$pp"
    kill "$rp"
    return 1
  fi
  wait "$pp"
  st=$?
  kill "$rp" 2>/dev/null
  wait "$rp" 2>/dev/null
  cat "$T/stuck.err"
  [ "$st" -eq 143 ] || { echo "exit $st, want 143"; return 1; }
}
pf_check "a reader that never reads: SIGTERM ends the run within 10 s, exit 143" stuck_reader

# ---- a stalled head ------------------------------------------------------------
# 8 MiB from the fault server; its first request (the probe: part 0, the
# head) stops after 100 KiB for 30 s. stall_timeout stays at 20 s: a lone
# stream would wait that long. The other streams fill the window and take
# the head's range over.
"$PF_BUILD/fault_server" --size 8m --seed 5 --dump "$T/f8" || exit 1
WIN2="$T/win2.yaml"
printf 'stream_window: 2MiB\nstreams: 4\n' >"$WIN2"
# overtaken WHAT FAULT LIMIT WHY - the fault server with FAULT on its first
# request: -o - bytes equal, exit 0, in under LIMIT s (a failed run fails
# both checks).
overtaken() {
  local t0 t1 good=0 el
  pf_fault_start F --size 8m --seed 5 --fault "$2" || return 1
  t0=$(now)
  pf_check "a $1 head: -o - bytes equal, exit 0" piped "${1%% *}" "$F_URL/obj" "$T/f8" -c "$WIN2" ||
    good=1
  t1=$(now)
  el=$(secs "$t0" "$t1")
  pf_check "a $1 head: taken over in $el s, limit $3 s ($4)" test "$good" -eq 0 -a \
    "$(awk -v x="$el" -v lim="$3" 'BEGIN { print (x < lim) }')" -eq 1
  pf_fault_stop F
}
overtaken stalled stall:req=1,after=100k,secs=30 10 "stall_timeout 20 s, the stall 30 s"
# The same with a slow head instead: the first reply trickles at 8 KiB/s.
overtaken "trickling (8 KiB/s)" trickle:req=1,rate=8k 15 "its 256 KiB part alone 32 s; one stream, the object 1000 s"

# ---- a host's in-order sink ----------------------------------------------------
# From /slow/ (128 KiB/s a reply): a part of 128 KiB lasts a second, so the four streams
# carry one each whatever the load (on loopback at full speed, a loaded machine may let one
# or two streams take every part before the others have connected).
pf_expect_exit 0 "ABI: a PF_SINK_IN_ORDER sink under run(): writes ascending and contiguous, every byte" \
  eval '"$HOST" "$PLUGIN" "$PF_HTTP_URL/slow/s1m.bin?t=host" inorder-run 4 1MiB >"$T/host.out"'
pf_check "... and the sink holds the object byte for byte" pf_same "$PF_DOCROOT/s1m.bin" "$T/host.out"
pf_log_wait "/slow/s1m.bin?t=host" 2
n=$(connections host)
pf_check "... fetched on several connections ($n, want >= 3)" test "$n" -ge 3
pf_expect_exit 0 "ABI: a sink without read() under a checksum, run(): in order, commit() verifies" \
  eval '"$HOST" "$PLUGIN" "$PF_HTTP_URL/slow/s1m.bin?t=hostsum" inorder-run 4 1MiB "sha256=$sum1" >"$T/hostsum.out"'
pf_check "... and the sink holds the object byte for byte" pf_same "$PF_DOCROOT/s1m.bin" "$T/hostsum.out"
pf_log_wait "/slow/s1m.bin?t=hostsum" 2
n=$(connections hostsum)
pf_check "... fetched on several connections ($n, want >= 3)" test "$n" -ge 3
pf_expect_exit 1 "ABI: ... with a wrong checksum: commit() fails" \
  eval '"$HOST" "$PLUGIN" "$PF_HTTP_URL/s5m.bin?t=hostbad" inorder-run 4 1MiB "sha256=$bad" >/dev/null'
pf_check "... naming the checksum" eval 'printf "%s" "$PF_LAST_OUT" | grep -qi "checksum"'

pf_done
