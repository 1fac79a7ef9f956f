#!/usr/bin/env bash
# t_faults.sh - parfetch against every fault of build/fault_server (issue 3, item 7).
#
# Each check asserts either that the file equals the object byte for byte, or
# the exit code with no file at the output path (and an existing file there
# left untouched), plus the fact from the fault server's --log, its /__stats or
# parfetch -v that shows the fault really fired. docs/FAULTS.md is the matrix
# of what these checks observed.
#
# Run from anywhere after `make all testbins`; BUILD (default build) selects
# the build directory. Builds nothing. Every parfetch run is bounded in time
# (PF_CMD_TIMEOUT, lower where a run must be quick); the servers and the temp
# dir go away on exit (lib.sh's traps); tmpfs mounts are unmounted there too.
# Needs curl (the fault server's /__stats). The local-failure checks need root
# and mount(8); without them they print "# skip: ..." and count nothing.
#
# Prints "ok - NAME" / "not ok - NAME" per check and the summary line of
# pf_done; exits 1 if anything failed.
# Checks given as eval 'A && B' expand their variables when they run:
# shellcheck disable=SC2016
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/fault/fault.sh
. "$PF_ROOT/tests/fault/fault.sh"
pf_init || exit 1
pf_isolate_config
PF_CMD_TIMEOUT=60

FS="$PF_BUILD/fault_server"
T=$PF_TMP
MiB=$((1024 * 1024))
KiB=1024

pf_check "parfetch and the fault server are built ($PF_BIN, $FS)" \
  test -x "$PF_BIN" -a -x "$FS" || { pf_done; exit 1; }
if ! command -v curl >/dev/null 2>&1; then
  echo "ok - fault matrix # SKIP curl not installed (needed for the fault server's /__stats)"
  pf_done
  exit 0
fi

# ------------------------------------------------------------------ helpers

# The objects: 2 MiB (seed 7) cut into 4 parts of 512 KiB by -n 4
# --min-part-size 256K; 8 MiB (seeds 8, 9) for trickle and SIGKILL.
SIZE=$((2 * MiB))
"$FS" --size "$SIZE" --seed 7 --dump "$T/v1" || exit 1
"$FS" --size "$SIZE" --seed 7 --dump "$T/v2" --dump-version 2 || exit 1
"$FS" --size 1m --seed 7 --dump "$T/v2.1m" --dump-version 2 || exit 1
"$FS" --size 8m --seed 8 --dump "$T/v1.8m" || exit 1
"$FS" --size 8m --seed 9 --dump "$T/v1.8m.9" || exit 1
PARTS=(-n 4 --min-part-size 256K)

# Fast retries for every run; further keys per test.
FAST="$T/fast.yaml"
printf 'retry_wait: 50ms\nretry_max_wait: 200ms\n' >"$FAST"
cfg() { # NAME LINE... - a config file: the fast retries plus LINEs; prints its path
  local f="$T/$1.yaml"
  shift
  { cat "$FAST"; printf '%s\n' "$@"; } >"$f"
  printf '%s\n' "$f"
}

# fresh NAME - a new directory for one test, with an existing output file
# ($D/out, a copy in $D/out.orig) that every failure must leave alone.
fresh() {
  D="$T/$1"
  mkdir -p "$D"
  printf 'a previous download that must survive\n' >"$D/out"
  cp "$D/out" "$D/out.orig"
}
# fresh_empty NAME - a new directory without an output file.
fresh_empty() {
  D="$T/$1"
  mkdir -p "$D"
}

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
at_least() { awk -v x="$1" -v m="$2" 'BEGIN { exit !(x >= m) }' || { echo "$1 < $2"; return 1; }; }
below() { awk -v x="$1" -v m="$2" 'BEGIN { exit !(x < m) }' || { echo "$1 >= $2"; return 1; }; }

says() { # TEXT PATTERN - TEXT contains PATTERN (grep -E)
  # (a here-string, not a pipe: grep -q may exit before printf has written
  # everything, and under pipefail the pipe would then fail)
  grep -q -E -- "$2" <<<"$1" && return 0
  printf 'expected /%s/ in:\n%s\n' "$2" "$1" | head -n 40
  return 1
}
never_says() { # TEXT STRING - TEXT does not contain STRING (fixed)
  grep -q -F -- "$2" <<<"$1" || return 0
  printf 'found "%s" in:\n' "$2"
  grep -F -- "$2" <<<"$1" | head -n 5
  return 1
}
absent() { # PATH... - none exists
  local p rc=0
  for p in "$@"; do
    if [ -e "$p" ]; then
      echo "$p exists:"
      ls -l -- "$p"
      rc=1
    fi
  done
  return "$rc"
}
# untouched DIR - no file at the output path other than the old one, byte for byte
untouched() { pf_same "$1/out.orig" "$1/out"; }

# settle VAR - wait (<= 5 s) until the fault server has no request in flight,
# so that its log and counters are complete.
settle() {
  local a
  for _ in $(seq 1 50); do
    a=$(pf_fault_stat "$1" active)
    [ "$a" = 0 ] && return 0
    sleep 0.1
  done
  echo "settle: $1 still has ${a:-?} active requests" >&2
  return 1
}
flog() { local v="${1}_LOG"; cat -- "${!v}"; } # VAR - the server's request log
# fault_lines VAR NAME - log lines of requests on which fault NAME acted
fault_lines() { flog "$1" | grep -E " faults=([^ ]*,)?$2(,[^ ]*)? "; }
range_of() { pf_fault_field "$1" range | sed 's/^bytes=//'; } # LINE - "a-b"
# requests_from VAR A - how many requests asked for a range starting at byte A
requests_from() { flog "$1" | grep -c -E " range=bytes=$2-[0-9]* "; }

# resumed_at VAR FAULT AFTER - the request hit by FAULT (bytes=A-B) stopped
# after AFTER bytes; exactly one later request asked for bytes from A+AFTER on,
# and none from A again (the part did not start over).
resumed_at() {
  local line r a
  line=$(fault_lines "$1" "$2" | head -n 1)
  [ -n "$line" ] || { echo "no request with faults=$2 in the log:"; flog "$1"; return 1; }
  r=$(range_of "$line")
  a=${r%-*}
  [ "$(pf_fault_field "$line" bytes)" = "$3" ] || { echo "the fault sent $(pf_fault_field "$line" bytes) bytes, not $3: $line"; return 1; }
  [ "$(requests_from "$1" "$((a + $3))")" -eq 1 ] || {
    echo "not exactly one request for bytes=$((a + $3))- after the fault on $r:"
    flog "$1"
    return 1
  }
  [ "$(requests_from "$1" "$a")" -eq 1 ] || { echo "bytes=$a- was asked for again:"; flog "$1"; return 1; }
}

# asked_again VAR FAULT - the range hit by FAULT was asked for again from its
# first byte, and that reply was a clean 206.
asked_again() {
  local line a
  line=$(fault_lines "$1" "$2" | head -n 1)
  [ -n "$line" ] || { echo "no request with faults=$2 in the log:"; flog "$1"; return 1; }
  a=$(range_of "$line")
  a=${a%-*}
  # (not grep -q: see says)
  # shellcheck disable=SC2143
  [ -n "$(flog "$1" | grep -E " status=206 .* range=bytes=$a-[0-9]* .* faults=- .* end=ok ")" ] && return 0
  echo "no clean 206 for bytes=$a- after the fault:"
  flog "$1"
  return 1
}

# side_clean SIDE OBJ - SIDE (a .pfpart, data at the object's offsets, its
# journal after them) holds, in its first size(OBJ) bytes, only OBJ's bytes at
# the same offsets or zeros (never written): nothing of a bad reply was
# written. A missing SIDE passes.
side_clean() {
  [ -e "$1" ] || { echo "no side file"; return 0; }
  local n st
  n=$(stat -c %s -- "$2") || return 1
  # cmp -l prints "offset side-byte obj-byte" (octal) for each differing byte
  # and exits 1 when any differ (unwritten zeros always do) or SIDE is shorter
  # (the rest reads as zeros); 2 is trouble. A foreign byte is a nonzero one.
  cmp -l -n "$n" -- "$1" "$2" 2>"$T/side_clean.err" |
    awk -v n="$n" '$2 != 0 { if (!bad++) first = $1 - 1 }
      END { printf "side file: %d of %d bytes foreign%s\n", bad, n, bad ? " (first at " first ")" : ""
            exit (bad > 0) }'
  st=("${PIPESTATUS[@]}")
  if [ "${st[0]}" -gt 1 ]; then
    echo "side_clean: cmp failed: $(cat "$T/side_clean.err")"
    return 1
  fi
  return "${st[1]}"
}

# expect CODE NAME CMD... - pf_expect_exit, and keep any sanitizer report of
# CMD's output for the check at the end.
expect() {
  local rc
  pf_expect_exit "$@"
  rc=$?
  if grep -q -E 'Sanitizer|runtime error:' <<<"$PF_LAST_OUT"; then
    { echo "== $2"; printf '%s\n' "$PF_LAST_OUT"; } >>"$T/sanitizer.log"
  fi
  return "$rc"
}

# pf_bg VAR ARGS... - start parfetch ARGS... in the background under timeout(1);
# VAR_TPID is timeout's pid (wait for it: parfetch's exit status), VAR_PID parfetch's.
pf_bg() {
  local var=$1 tpid kid
  shift
  timeout -k 5 60 "$PF_BIN" "$@" </dev/null >>"$T/bg.log" 2>&1 &
  tpid=$!
  for _ in $(seq 1 100); do
    kid=$(pf__children "$tpid" | head -n 1)
    [ -n "$kid" ] && break
    sleep 0.01
  done
  printf -v "${var}_TPID" '%s' "$tpid"
  printf -v "${var}_PID" '%s' "$kid"
}

# ================================================================== 1. reset mid-body
fresh_empty reset
pf_fault_start F --size "$SIZE" --seed 7 --fault reset:req=2,after=200k || exit 1
expect 0 "reset: TCP RST after 200 KiB of a part (req=2): exit 0" \
  parfetch -v -c "$FAST" "${PARTS[@]}" -o "$D/out" "$F_URL/obj"
pf_check "reset: bytes equal" pf_same "$T/v1" "$D/out"
settle F
pf_check "reset: the part resumed at the exact byte the reset stopped at (server log)" \
  resumed_at F reset $((200 * KiB))
pf_check "reset: -v reports the retry" says "$PF_LAST_OUT" 'reset by peer.*attempt 2 of 15'

# ================================================================== 2. close early
fresh_empty close
pf_fault_start F --size "$SIZE" --seed 7 --fault close-early:req=3,after=100k || exit 1
expect 0 "close-early: FIN after 100 KiB of a part (req=3): exit 0" \
  parfetch -v -c "$FAST" "${PARTS[@]}" -o "$D/out" "$F_URL/obj"
pf_check "close-early: bytes equal" pf_same "$T/v1" "$D/out"
settle F
pf_check "close-early: the part resumed at the exact byte (server log)" \
  resumed_at F close-early $((100 * KiB))

# ================================================================== 3. 503 / 429 + Retry-After
fresh_empty s503
pf_fault_start F --size "$SIZE" --seed 7 --fault status:code=503,retry-after=1,first=2 || exit 1
t0=$(now)
expect 0 "503 + Retry-After: 1 on the first 2 requests (the probe twice): exit 0" \
  parfetch -v -c "$FAST" "${PARTS[@]}" -o "$D/out" "$F_URL/obj"
t1=$(now)
pf_check "503: bytes equal" pf_same "$T/v1" "$D/out"
pf_check "503: Retry-After honoured twice: the run took >= 2 s ($(secs "$t0" "$t1") s; retry_max_wait is 200ms)" \
  at_least "$(secs "$t0" "$t1")" 1.95
settle F
pf_check "503: the server answered 503 exactly twice, to the probe" \
  test "$(flog F | grep -c ' status=503 .*range=bytes=0-[0-9]* ')" -eq 2

fresh_empty s429
pf_fault_start F --size "$SIZE" --seed 7 --fault status:code=429,retry-after=1,req=2 || exit 1
t0=$(now)
expect 0 "429 + Retry-After: 1 on a part request (req=2): exit 0" \
  parfetch -v -c "$FAST" "${PARTS[@]}" -o "$D/out" "$F_URL/obj"
t1=$(now)
pf_check "429: bytes equal" pf_same "$T/v1" "$D/out"
pf_check "429: Retry-After honoured on a part: the run took >= 1 s ($(secs "$t0" "$t1") s)" \
  at_least "$(secs "$t0" "$t1")" 0.95
settle F
pf_check "429: one 429, then the range was asked for again and served (server log)" \
  eval 'test "$(flog F | grep -c " status=429 ")" -eq 1 && asked_again F status'

fresh_empty s429d
pf_fault_start F --size "$SIZE" --seed 7 --fault status:code=429,retry-after=2,ra-date=1,req=1 || exit 1
t0=$(now)
expect 0 "429 + Retry-After as an HTTP-date 2 s ahead, on the probe: exit 0" \
  parfetch -v -c "$FAST" "${PARTS[@]}" -o "$D/out" "$F_URL/obj"
t1=$(now)
pf_check "429 (date): bytes equal" pf_same "$T/v1" "$D/out"
pf_check "429 (date): waited >= 1 s (a date has 1 s resolution) ($(secs "$t0" "$t1") s)" \
  at_least "$(secs "$t0" "$t1")" 0.95

# A server that closes idle connections after 1 s, and a probe kept waiting 2 s
# (503 + Retry-After: 2). On loopback the connections opened ahead wait for
# the probe's reply: none for the 503 (there was nothing for them to do, and
# nothing is left for the server to close), and the probe's next attempt,
# whose reply is the object, opens them behind its own connection; no request
# may go into a closed connection.
fresh_empty preclosed
pf_fault_start F --size "$SIZE" --seed 7 --idle-timeout 1 --fault status:code=503,retry-after=2,req=1 || exit 1
expect 0 "preconnect: a 503 to the probe, then the object: exit 0" \
  parfetch -v -c "$FAST" "${PARTS[@]}" -o "$D/out" "$F_URL/obj"
pf_check "preconnect, 503 first: bytes equal" pf_same "$T/v1" "$D/out"
# the probe's requests and the openings ahead, in order: "G G O3" expected
probe_seq() {
  grep -o -E "GET [^ ]* Range: bytes=0-[0-9]*|opening [0-9]+ more connections" <<<"$1" |
    awk '/^GET/ { printf "G " } /^opening/ { printf "O%s ", $2 }'
}
seq503=$(probe_seq "$PF_LAST_OUT")
pf_check "preconnect, 503 first: none opened ahead for the 503, then 3 behind the next attempt (-v: $seq503)" \
  test "$seq503" = "G G O3 "
pf_check "preconnect, 503 first: no part request needed a retry (-v)" \
  eval '! grep -E -q "bytes [0-9]+-[0-9]+: .*attempt [0-9]+ of" <<<"$PF_LAST_OUT"'

# A probe whose reply is late (headers, then 2 s without a body byte, then the
# server closes): the connections opened ahead go out 5 ms after its request,
# while it waits. Its next attempt connects anew and first closes those left
# (so that none stands before it), then opens them again behind it.
# (t_preconnect.sh checks the workers finding them closed by the server.)
fresh_empty prelate
pf_fault_start F --size "$SIZE" --seed 7 --fault stall:after=0,secs=2,then=close,req=1 || exit 1
expect 0 "preconnect: a late probe reply that ends unfinished: exit 0" \
  parfetch -v -c "$FAST" "${PARTS[@]}" -o "$D/out" "$F_URL/obj"
pf_check "preconnect, late reply: bytes equal" pf_same "$T/v1" "$D/out"
pf_check "preconnect, late reply: opened ahead while the probe waited (-v)" \
  says "$PF_LAST_OUT" 'opening 3 more connections to 127\.0\.0\.1 while the probe waits'
pf_check "preconnect, late reply: the probe's next attempt first closed those opened ahead (-v)" \
  says "$PF_LAST_OUT" 'connecting anew: first closed the [0-9]+ connections opened ahead that were left'
pf_check "preconnect, late reply: no part request needed a retry (-v)" \
  eval '! grep -E -q "bytes [0-9]+-[0-9]+: .*attempt [0-9]+ of" <<<"$PF_LAST_OUT"'

# ================================================================== 4. 500 on every request
fresh s500
C500=$(cfg s500 'retries: 3')
pf_fault_start F --size "$SIZE" --seed 7 --fault status:code=500 || exit 1
expect 1 "500 on every request, retries: 3: exit 1" \
  parfetch -v -c "$C500" "${PARTS[@]}" -o "$D/out" "$F_URL/obj"
pf_check "500: the message names the status" says "$PF_LAST_OUT" 'HTTP 500'
pf_check "500: the existing output file is untouched" untouched "$D"
pf_check "500: no side file" absent "$D/out.pfpart"
settle F
pf_check "500: the server saw exactly 3 requests, all probes (retries: 3 = 3 attempts)" \
  test "$(pf_fault_stat F requests)" -eq 3 -a "$(flog F | grep -c ' status=500 .*range=bytes=0-[0-9]* ')" -eq 3

fresh s500p
pf_fault_start F --size "$SIZE" --seed 7 --fault status:code=500,req=2- || exit 1
expect 1 "500 on every part request (req=2-), retries: 3: exit 1" \
  parfetch -v -c "$C500" "${PARTS[@]}" -o "$D/out" "$F_URL/obj"
pf_check "500 on parts: message says it gave up after 3 attempts" says "$PF_LAST_OUT" 'gave up after 3 attempts'
pf_check "500 on parts: the existing output file is untouched" untouched "$D"
settle F
# (counted by first byte: a retry asks again from where the part stands)
most=$(flog F | grep ' status=500 ' | sed 's/.* range=bytes=\([0-9]*\)-.*/\1/' | sort | uniq -c | sort -rn |
  awk 'NR == 1 { print $1 }')
pf_check "500 on parts: no range asked for more than 3 times, the one that gave up exactly 3 (${most:-0})" \
  test "${most:-0}" -eq 3

# ================================================================== 5. 404 on a part
fresh s404
pf_fault_start F --size "$SIZE" --seed 7 --fault status:code=404,req=2 || exit 1
expect 1 "404 on a part request (req=2): exit 1" \
  parfetch -v -c "$FAST" "${PARTS[@]}" -o "$D/out" "$F_URL/obj"
pf_check "404: the message names the status" says "$PF_LAST_OUT" 'HTTP 404'
pf_check "404: the existing output file is untouched" untouched "$D"
settle F
l=$(fault_lines F status | head -n 1)
a=$(range_of "$l")
pf_check "404: final, not retried: the server saw one request for that range" \
  test -n "$l" -a "$(requests_from F "${a%-*}")" -eq 1

# ================================================================== 6. stall
fresh_empty stall
CST=$(cfg stall 'stall_timeout: 1s')
pf_fault_start F --size "$SIZE" --seed 7 --fault stall:req=3,after=100k,secs=30 || exit 1
t0=$(now)
expect 0 "stall: a part stops after 100 KiB for 30 s (stall_timeout: 1s): exit 0" \
  parfetch -v -c "$CST" "${PARTS[@]}" -o "$D/out" "$F_URL/obj"
t1=$(now)
pf_check "stall: bytes equal" pf_same "$T/v1" "$D/out"
pf_check "stall: well under 30 s ($(secs "$t0" "$t1") s, limit 10 s)" below "$(secs "$t0" "$t1")" 10
# stall_timeout's contract: a connection that delivers nothing that long is
# dropped. The stall starts within ms of the start; allow 2 s for the rest.
pf_check "stall: dropped about stall_timeout after the last byte ($(secs "$t0" "$t1") s, limit 1 s + 2 s)" \
  below "$(secs "$t0" "$t1")" 3
pf_check "stall: -v names the stall" says "$PF_LAST_OUT" 'too slow|stall'
pf_fault_stop F # the stalled reply ends now, and is logged
pf_check "stall: the part was refetched from the byte the stall stopped at (server log)" \
  resumed_at F stall $((100 * KiB))

# ================================================================== 7. trickle + work stealing
# 8 MiB in 4 parts of 2 MiB; the 2nd request (a part) trickles at 8 KiB/s,
# i.e. ~256 s for its part alone. Idle streams must take its tail over.
fresh_empty trickle
pf_fault_start F --size 8m --seed 8 --fault trickle:rate=8k,req=2 || exit 1
t0=$(now)
PF_CMD_TIMEOUT=20 expect 0 "trickle: one part at 8 KiB/s, -n 4, 8 MiB: exit 0 within 20 s" \
  parfetch -v -c "$FAST" -n 4 --min-part-size 1M -o "$D/out" "$F_URL/obj"
t1=$(now)
TRICKLE_OUT=$PF_LAST_OUT
pf_note "trickle run: $(secs "$t0" "$t1") s"
pf_check "trickle: bytes equal" pf_same "$T/v1.8m" "$D/out"
steal_from_trickle() {
  local line r a b
  line=$(fault_lines F trickle | head -n 1)
  if [ -z "$line" ]; then # still running (the client may not have closed it yet)
    settle F
    line=$(fault_lines F trickle | head -n 1)
  fi
  [ -n "$line" ] || { echo "no trickled request in the log"; flog F; return 1; }
  r=$(range_of "$line")
  a=${r%-*} b=${r#*-}
  printf '%s\n' "$TRICKLE_OUT" | awk -v a="$a" -v b="$b" '
    /stream [0-9]+ takes bytes [0-9]+-[0-9]+ from stream/ {
      for (i = 1; i <= NF; i++) if ($i == "bytes") { split($(i + 1), x, "-"); if (x[1] + 0 >= a + 0 && x[2] + 0 <= b + 0) ok = 1 }
    }
    END { exit !ok }' && return 0
  echo "trickled part: bytes $r; no steal of its tail in -v:"
  printf '%s\n' "$TRICKLE_OUT" | grep -E 'takes bytes|HTTP 206|parfetch:' | head -n 20
  return 1
}
pf_check "trickle: -v shows an idle stream taking over the trickling part's tail" steal_from_trickle
pf_fault_stop F

# ================================================================== 8. ignore Range
fresh_empty ir1
pf_fault_start F --size "$SIZE" --seed 7 --fault ignore-range:req=1 || exit 1
expect 0 "ignore-range on the probe (200 + whole object): exit 0" \
  parfetch -v -c "$FAST" "${PARTS[@]}" -o "$D/out" "$F_URL/obj"
pf_check "ignore-range (probe): bytes equal" pf_same "$T/v1" "$D/out"
settle F
pf_check "ignore-range (probe): one stream: the server saw the probe only" \
  test "$(pf_fault_stat F requests)" -eq 1 -a "$(fault_lines F ignore-range | wc -l)" -eq 1

# Every part request answered 200 (Range ignored) and the whole-object GET
# that follows is bad too (its Content-Length is not the probe's size): after
# a few refused 200s ranges are not trusted (item 19 below), nothing is left
# to trust: exit 3, and nothing of the refused replies reaches the side file.
fresh ir2
C4=$(cfg ir2 'retries: 4')
pf_fault_start F --size "$SIZE" --seed 7 --fault ignore-range:req=2- --fault wrong-length:ranged=no || exit 1
expect 3 "ignore-range mid-download (200 to every part request), and a bad whole reply: exit 3" \
  parfetch -v -c "$C4" "${PARTS[@]}" -o "$D/out" "$F_URL/obj"
pf_check "ignore-range (parts): each 200 rejected, message says so" \
  says "$PF_LAST_OUT" 'rejected: .* answered 200 to a request for bytes'
pf_check "ignore-range (parts): the existing output file is untouched" untouched "$D"
pf_check "ignore-range (parts): the side file holds nothing of the 200 replies" \
  side_clean "$D/out.pfpart" "$T/v1"
settle F
pf_check "ignore-range (parts): the server sent 200s that were refused ($(fault_lines F ignore-range | wc -l))" \
  test "$(fault_lines F ignore-range | wc -l)" -ge 3
# The same URL without the fault: --continue uses what was kept.
port=$F_PORT
pf_fault_stop F
if pf_fault_start F --size "$SIZE" --seed 7 --port "$port" 2>/dev/null && [ "$F_PORT" = "$port" ]; then
  expect 0 "ignore-range (parts): then, fault gone, --continue: exit 0" \
    parfetch -q -C -c "$FAST" "${PARTS[@]}" -o "$D/out" "http://127.0.0.1:$port/obj"
  pf_check "ignore-range (parts): ... bytes equal, nothing mixed" pf_same "$T/v1" "$D/out"
else
  pf_note "skip: could not restart the fault server on port $port for the --continue check"
fi

# ================================================================== 9. bad Content-Range
C3=$(cfg bcr 'retries: 3')
for mode in shift end lie; do
  fresh_empty "bcr1-$mode"
  pf_fault_start F --size "$SIZE" --seed 7 --fault "bad-content-range:mode=$mode,req=2" || exit 1
  expect 0 "bad-content-range mode=$mode once (req=2): exit 0" \
    parfetch -v -c "$FAST" "${PARTS[@]}" -o "$D/out" "$F_URL/obj"
  pf_check "bad-content-range $mode once: bytes equal" pf_same "$T/v1" "$D/out"
  pf_check "bad-content-range $mode once: rejected and retried" \
    says "$PF_LAST_OUT" 'rejected: .* sent bytes [0-9]+-[0-9]+ for a request of bytes'
  settle F
  pf_check "bad-content-range $mode once: the range was asked for again (server log)" \
    asked_again F bad-content-range

  # the same on every part request: not a glitch; ranges lose our trust and
  # one GET of the whole object (served right) completes the download
  fresh_empty "bcrN-$mode"
  pf_fault_start F --size "$SIZE" --seed 7 --fault "bad-content-range:mode=$mode,req=2-" || exit 1
  expect 0 "bad-content-range mode=$mode on every part request, retries: 3: exit 0 by one whole GET" \
    parfetch -v -c "$C3" "${PARTS[@]}" -o "$D/out" "$F_URL/obj"
  pf_check "bad-content-range $mode always: bytes equal" pf_same "$T/v1" "$D/out"
  pf_check "bad-content-range $mode always: -v says ranges are no longer trusted" \
    says "$PF_LAST_OUT" 'no longer trusting ranges'
done
# mode=total: the Content-Range's total differs from the probe's size. By the
# engine's contract a size change is "the object changed" (exit 3), even once.
for sel in req=2 req=2-; do
  fresh "bcr-total-$sel"
  pf_fault_start F --size "$SIZE" --seed 7 --fault "bad-content-range:mode=total,$sel" || exit 1
  expect 3 "bad-content-range mode=total ($sel): another total = object changed: exit 3" \
    parfetch -v -c "$C3" "${PARTS[@]}" -o "$D/out" "$F_URL/obj"
  pf_check "bad-content-range total ($sel): message says the object changed" \
    says "$PF_LAST_OUT" 'object changed.*was 2097152 bytes, now 2097153'
  pf_check "bad-content-range total ($sel): existing file untouched, no side file" \
    eval 'untouched "$D" && absent "$D/out.pfpart"'
done

# mode=star: the probe's 206 says "bytes 0-262143/*" (RFC 9110 allows an
# unknown total). The probe asked for the first 256 KiB only, so its body is
# not the object: parfetch must fetch the whole object, not save 256 KiB.
fresh_empty bcr-star
pf_fault_start F --size "$SIZE" --seed 7 --fault "bad-content-range:mode=star,req=1" || exit 1
expect 0 "206 with an unknown total ('/*') to the probe: exit 0" \
  parfetch -v -c "$FAST" "${PARTS[@]}" -o "$D/out" "$F_URL/obj"
pf_check "unknown total: the whole object, bytes equal (not the probe's first 256 KiB)" \
  pf_same "$T/v1" "$D/out"
settle F
pf_check "unknown total: then one request without a range fetched it all (server log)" \
  eval 'test "$(flog F | grep -c " range=- .*bytes=$SIZE ")" -eq 1'

# ================================================================== 10. wrong length
for mode in short long; do
  fresh_empty "wl1-$mode"
  pf_fault_start F --size "$SIZE" --seed 7 --fault "wrong-length:mode=$mode,req=2" || exit 1
  expect 0 "wrong-length mode=$mode once (req=2): exit 0" \
    parfetch -v -c "$FAST" "${PARTS[@]}" -o "$D/out" "$F_URL/obj"
  pf_check "wrong-length $mode once: bytes equal" pf_same "$T/v1" "$D/out"
  settle F
  pf_check "wrong-length $mode once: the fault fired" test -n "$(fault_lines F wrong-length)"
  if [ "$mode" = short ]; then
    pf_check "wrong-length short once: rejected for its Content-Length and retried" \
      says "$PF_LAST_OUT" 'rejected: .* sent Content-Length [0-9]+ for a range of [0-9]+ bytes'
  fi
done

# A small object whose probe's reply (kept whole, fetch.c) brings every byte
# and then claims more (Content-Length 10 too many, the connection closed):
# the object is the probe's reply, fetched by one stream, asked for once.
"$FS" --size 300k --seed 7 --dump "$T/v1.300k" || exit 1
fresh_empty wl-claim-kept
pf_fault_start F --size 300k --seed 7 --fault "wrong-length:mode=claim,delta=10,req=1" || exit 1
if command -v script >/dev/null 2>&1; then
  line=$(script -qec "$PF_BIN -c $FAST -n 4 --min-part-size 1M -o $D/out $F_URL/obj" /dev/null \
    </dev/null 2>&1 | tr '\r' '\n' | grep -a '100%' | tail -n 1)
  pf_check "wrong-length claim on a kept probe reply: bytes equal" pf_same "$T/v1.300k" "$D/out"
  settle F
  pf_check "wrong-length claim on a kept probe reply: asked for once, the fault fired" \
    test "$(pf_fault_stat F requests)" -eq 1 -a -n "$(fault_lines F wrong-length)"
  pf_check "wrong-length claim on a kept probe reply: the last progress line says 1 stream ($line)" \
    eval 'grep -q " 1 stream" <<<"$line"'
else
  pf_note "script(1) not found: the kept reply's stream count is not checked"
fi
pf_fault_stop F

# ... and one that brings more than its Content-Range says (chunked, 10 bytes
# too many): the object's bytes are taken from it, nothing is asked again.
fresh_empty wl-long-kept
pf_fault_start F --size 300k --seed 7 --fault "wrong-length:mode=long,delta=10,req=1" || exit 1
expect 0 "wrong-length long on a kept probe reply: exit 0" \
  parfetch -v -c "$FAST" -n 4 --min-part-size 1M -o "$D/out" "$F_URL/obj"
pf_check "wrong-length long on a kept probe reply: bytes equal" pf_same "$T/v1.300k" "$D/out"
settle F
pf_check "wrong-length long on a kept probe reply: asked for once, the fault fired" \
  test "$(pf_fault_stat F requests)" -eq 1 -a -n "$(fault_lines F wrong-length)"
pf_fault_stop F

fresh wlN-short
pf_fault_start F --size "$SIZE" --seed 7 --fault "wrong-length:mode=short,req=2-" || exit 1
expect 3 "wrong-length short on every part request, retries: 3: exit 3" \
  parfetch -v -c "$C3" "${PARTS[@]}" -o "$D/out" "$F_URL/obj"
pf_check "wrong-length short always: each reply rejected for its Content-Length" \
  says "$PF_LAST_OUT" 'rejected: .* sent Content-Length [0-9]+ for a range of [0-9]+ bytes'
pf_check "wrong-length short always: the existing output file is untouched" untouched "$D"
pf_check "wrong-length short always: the side file holds nothing of the short replies" \
  side_clean "$D/out.pfpart" "$T/v1"

fresh_empty wlN-long
pf_fault_start F --size "$SIZE" --seed 7 --fault "wrong-length:mode=long,req=2-" || exit 1
expect 0 "wrong-length long on every part request (chunked, 256 KiB too many): exit 0" \
  parfetch -v -c "$C3" "${PARTS[@]}" -o "$D/out" "$F_URL/obj"
pf_check "wrong-length long always: bytes equal (the surplus is never written)" pf_same "$T/v1" "$D/out"
settle F
pf_check "wrong-length long always: the fault fired on the 3 part requests" \
  test "$(fault_lines F wrong-length | wc -l)" -ge 3

# ================================================================== 11. object changes
fresh chg
pf_fault_start F --size "$SIZE" --seed 7 --fault change:after=2 || exit 1
expect 3 "change after 2 requests (new ETag mid-download): exit 3" \
  parfetch -v -c "$FAST" "${PARTS[@]}" -o "$D/out" "$F_URL/obj"
pf_check "change: the message says the object changed" says "$PF_LAST_OUT" 'object changed'
pf_check "change: the existing output file is untouched" untouched "$D"
pf_check "change: no side file left" absent "$D/out.pfpart"
settle F
pf_check "change: version 2 was served (server log)" test -n "$(flog F | grep ' version=2 ')"

fresh_empty chg-restart
CRS=$(cfg chg-restart 'on_change: restart')
pf_fault_start F --size "$SIZE" --seed 7 --fault change:after=2 || exit 1
expect 0 "change after 2 requests, on_change: restart: exit 0" \
  parfetch -v -c "$CRS" "${PARTS[@]}" -o "$D/out" "$F_URL/obj"
pf_check "change + restart: bytes equal version 2" pf_same "$T/v2" "$D/out"
pf_check "change + restart: no side file left" absent "$D/out.pfpart"

# No strong ETag: Last-Modified is the validator.
for opt in --no-etag --weak-etag; do
  fresh "chg$opt"
  pf_fault_start F --size "$SIZE" --seed 7 "$opt" --fault change:after=2 || exit 1
  expect 3 "change after 2 requests, server with $opt (Last-Modified decides): exit 3" \
    parfetch -v -c "$FAST" "${PARTS[@]}" -o "$D/out" "$F_URL/obj"
  pf_check "change ($opt): the message names the Last-Modified change" \
    says "$PF_LAST_OUT" 'object changed.*Last-Modified'
  pf_check "change ($opt): existing file untouched, no side file" eval 'untouched "$D" && absent "$D/out.pfpart"'
done

# The object shrinks to 1 MiB: the 2nd of 2 parts (bytes 1048576-2097151)
# gets 416 with "Content-Range: bytes */1048576" and the new ETag.
fresh chg-shrink
pf_fault_start F --size "$SIZE" --seed 7 --fault change:after=1,size=1m || exit 1
expect 3 "change to 1 MiB after the probe (the part gets 416 bytes */1048576, new ETag): exit 3" \
  parfetch -v -c "$FAST" -n 2 --min-part-size 1M -o "$D/out" "$F_URL/obj"
pf_check "change (shrink): the message says the object changed" says "$PF_LAST_OUT" 'object changed'
pf_check "change (shrink): the existing output file is untouched" untouched "$D"
pf_check "change (shrink): no side file left (its bytes are of the old version)" absent "$D/out.pfpart"
settle F
pf_check "change (shrink): the server answered 416 to the part (server log)" \
  test -n "$(flog F | grep ' status=416 .* version=2 ')"

fresh_empty chg-shrink-restart
pf_fault_start F --size "$SIZE" --seed 7 --fault change:after=1,size=1m || exit 1
expect 0 "change to 1 MiB after the probe, on_change: restart: exit 0" \
  parfetch -v -c "$CRS" -n 2 --min-part-size 1M -o "$D/out" "$F_URL/obj"
pf_check "change (shrink) + restart: bytes equal version 2 (1 MiB)" pf_same "$T/v2.1m" "$D/out"

# ================================================================== 12. redirects and credentials
fresh_empty redir
CSEC=$(cfg redir 'secret_headers: [X-Api-Key]')
pf_fault_start F --size "$SIZE" --seed 7 --watch-header X-Api-Key --fault redirect:req=1 || exit 1
expect 0 "redirect 127.0.0.1 -> localhost with Authorization, Cookie, X-Api-Key (secret): exit 0" \
  parfetch -v -c "$CSEC" "${PARTS[@]}" -H 'Authorization: Bearer s3cretTOKEN' \
  -H 'Cookie: a=cookieSECRET' -H 'X-Api-Key: k3ySECRET' -o "$D/out" "$F_URL/obj"
pf_check "redirect: bytes equal" pf_same "$T/v1" "$D/out"
settle F
pf_check "redirect: the 127.0.0.1 request carried all three (auth=1 cookie=1 hdr.X-Api-Key=1)" \
  test -n "$(flog F | grep "^req=1 status=302 .* host=127.0.0.1:$F_PORT .* auth=1 cookie=1 hdr.X-Api-Key=1 ")"
redirect_rest() {
  local rest n bad
  rest=$(flog F | grep -v '^req=1 ')
  n=$(printf '%s\n' "$rest" | grep -c .)
  [ "$n" -ge 4 ] || { echo "expected the probe and 3 parts after the redirect, got $n:"; flog F; return 1; }
  bad=$(printf '%s\n' "$rest" | grep -v -E " host=localhost:$F_PORT .* auth=0 cookie=0 hdr.X-Api-Key=0 ")
  [ -z "$bad" ] || { echo "requests after the redirect that went elsewhere or carried credentials:"; echo "$bad"; return 1; }
}
pf_check "redirect: every later request (probe + parts) went to localhost with auth=0 cookie=0 hdr.X-Api-Key=0" \
  redirect_rest
pf_check "redirect: -v redacts the credentials and says they were withheld" \
  eval 'says "$PF_LAST_OUT" "Authorization: <redacted>" && says "$PF_LAST_OUT" "X-Api-Key: <redacted>" &&
        says "$PF_LAST_OUT" "credentials withheld" && says "$PF_LAST_OUT" "not sent to this host: X-Api-Key"'
pf_check "redirect: the secret values appear nowhere in the output" \
  eval 'never_says "$PF_LAST_OUT" s3cretTOKEN && never_says "$PF_LAST_OUT" cookieSECRET &&
        never_says "$PF_LAST_OUT" k3ySECRET'

fresh redir-loop
pf_fault_start F --size "$SIZE" --seed 7 --fault redirect:loop=1 || exit 1
expect 1 "redirect loop: exit 1" \
  parfetch -v -c "$FAST" "${PARTS[@]}" -o "$D/out" "$F_URL/obj"
pf_check "redirect loop: the message says redirects" says "$PF_LAST_OUT" 'redirects'
pf_check "redirect loop: existing file untouched, no side file" eval 'untouched "$D" && absent "$D/out.pfpart"'
settle F
pf_check "redirect loop: bounded by max_redirects (10): 11 requests" test "$(pf_fault_stat F requests)" -eq 11

# A part request (not the probe) redirected to localhost: parfetch follows
# redirects only at the probe; a 3xx to a part is a final HTTP error.
fresh redir-part
pf_fault_start F --size "$SIZE" --seed 7 --watch-header X-Api-Key --fault redirect:req=2 || exit 1
expect 1 "redirect of a part request (req=2): exit 1 (only the probe follows redirects)" \
  parfetch -v -c "$CSEC" "${PARTS[@]}" -H 'Authorization: Bearer s3cretTOKEN' -H 'X-Api-Key: k3ySECRET' \
  -o "$D/out" "$F_URL/obj"
pf_check "redirect of a part: existing file untouched" untouched "$D"
settle F
pf_check "redirect of a part: no request reached localhost with credentials" \
  test -z "$(flog F | grep ' host=localhost' | grep -v ' auth=0 .*hdr.X-Api-Key=0 ')"

# ================================================================== 13. chunked, no length, empty
fresh_empty chunked
pf_fault_start F --size "$SIZE" --seed 7 --fault chunked || exit 1
expect 0 "chunked 206 replies (Content-Range, no Content-Length): exit 0" \
  parfetch -v -c "$FAST" "${PARTS[@]}" -o "$D/out" "$F_URL/obj"
pf_check "chunked: bytes equal" pf_same "$T/v1" "$D/out"
settle F
pf_check "chunked: every reply was chunked (server log)" \
  test "$(fault_lines F chunked | wc -l)" -eq "$(pf_fault_stat F requests)"

fresh_empty chunked200
pf_fault_start F --size "$SIZE" --seed 7 --fault ignore-range:req=1,accept-ranges=0 --fault chunked || exit 1
expect 0 "200 chunked without length or Accept-Ranges: exit 0" \
  parfetch -v -c "$FAST" "${PARTS[@]}" -o "$D/out" "$F_URL/obj"
pf_check "200 chunked: bytes equal" pf_same "$T/v1" "$D/out"
settle F
pf_check "200 chunked: a single stream (one request, length=-)" \
  test "$(pf_fault_stat F requests)" -eq 1 -a -n "$(flog F | grep ' status=200 .*faults=ignore-range,chunked .*length=- ')"

fresh_empty empty
pf_fault_start F --size 0 || exit 1
expect 0 "a 0-byte object: exit 0" \
  parfetch -v -c "$FAST" "${PARTS[@]}" -o "$D/out" "$F_URL/obj"
pf_check "0-byte object: an empty file, no side file" eval 'test -f "$D/out" -a ! -s "$D/out" && absent "$D/out.pfpart"'

# ================================================================== 14. error pages
for spec in "code=200" "code=206" "code=206,len=1000"; do
  fresh_empty "ep-$spec"
  pf_fault_start F --size "$SIZE" --seed 7 --fault "error-page:$spec,req=2" || exit 1
  expect 0 "error-page $spec on a part request (req=2): exit 0" \
    parfetch -v -c "$FAST" "${PARTS[@]}" -o "$D/out" "$F_URL/obj"
  pf_check "error-page $spec: bytes equal (the page never written)" pf_same "$T/v1" "$D/out"
  pf_check "error-page $spec: rejected" says "$PF_LAST_OUT" 'rejected: .*(answered 200|sent Content-Length)'
  settle F
  pf_check "error-page $spec: the range was asked for again (server log)" \
    asked_again F error-page
done
for spec in "code=200" "code=206"; do
  fresh "epN-$spec"
  pf_fault_start F --size "$SIZE" --seed 7 --fault "error-page:$spec,req=2-" || exit 1
  expect 3 "error-page $spec on every part request, retries: 3: exit 3" \
    parfetch -v -c "$C3" "${PARTS[@]}" -o "$D/out" "$F_URL/obj"
  pf_check "error-page $spec always: the existing output file is untouched" untouched "$D"
  pf_check "error-page $spec always: the side file holds no byte of a page" side_clean "$D/out.pfpart" "$T/v1"
done
# A 200 page to the probe is, to HTTP, a whole object of ~140 bytes: nothing
# in the reply says otherwise. The user's --checksum is what catches it.
fresh ep-probe
pf_fault_start F --size "$SIZE" --seed 7 --fault error-page:req=1 || exit 1
expect 3 "error-page 200 to the probe, with --checksum of the real object: exit 3" \
  parfetch -v -c "$FAST" "${PARTS[@]}" --checksum "sha256=$(sha256sum "$T/v1" | cut -c1-64)" \
  -o "$D/out" "$F_URL/obj"
pf_check "error-page to the probe + --checksum: says checksum mismatch" says "$PF_LAST_OUT" 'checksum mismatch'
pf_check "error-page to the probe + --checksum: existing file untouched, no side file" \
  eval 'untouched "$D" && absent "$D/out.pfpart"'

# ================================================================== connection refused at the probe
fresh refused
pf_fault_start F --size 1 || exit 1
port=$F_PORT
pf_fault_stop F
t0=$(now)
expect 1 "connection refused at the probe: exit 1" \
  parfetch -v -c "$FAST" -o "$D/out" "http://127.0.0.1:$port/obj"
t1=$(now)
pf_check "connection refused: at once, not retried ($(secs "$t0" "$t1") s)" \
  eval 'below "$(secs "$t0" "$t1")" 1 && ! says "$PF_LAST_OUT" "attempt 2" >/dev/null'
pf_check "connection refused: existing file untouched" untouched "$D"

# ================================================================== 15. local failures
local_failures() {
  local full="$T/mnt-full" ro="$T/mnt-ro"
  if [ "$(id -u)" -ne 0 ]; then
    pf_note "skip: local failures need root (tmpfs mounts)"
    return 0
  fi
  mkdir -p "$full" "$ro"
  if ! mount -t tmpfs -o size=1m tmpfs "$full" 2>"$T/mount.err"; then
    pf_note "skip: cannot mount a tmpfs: $(cat "$T/mount.err")"
    return 0
  fi
  pf_at_exit "umount '$full' 2>/dev/null || umount -l '$full' 2>/dev/null"
  pf_fault_start F --size 8m --seed 8 || return 1
  printf 'old\n' >"$full/out"
  cp "$full/out" "$T/full.orig"
  expect 4 "disk full (1 MiB tmpfs, 8 MiB object): exit 4" \
    parfetch -v -c "$FAST" -n 4 --min-part-size 1M -o "$full/out" "$F_URL/obj"
  pf_check "disk full: the message names the path and ENOSPC" \
    eval 'says "$PF_LAST_OUT" "$full/out" && says "$PF_LAST_OUT" "No space left on device"'
  pf_check "disk full: the existing output file is untouched" pf_same "$T/full.orig" "$full/out"

  # a tmpfs mounted without a size limit reports 0 blocks in all and 0 free:
  # that is no limit, not a full disk
  local unl="$T/mnt-unlimited"
  mkdir -p "$unl"
  if mount -t tmpfs -o size=0 tmpfs "$unl" 2>"$T/mount.err"; then
    pf_at_exit "umount '$unl' 2>/dev/null || umount -l '$unl' 2>/dev/null"
    expect 0 "tmpfs without a size limit (size=0): exit 0" \
      parfetch -q -c "$FAST" -n 4 --min-part-size 1M -o "$unl/out" "$F_URL/obj"
    pf_check "tmpfs without a size limit: bytes equal" pf_same "$T/v1.8m" "$unl/out"
  else
    pf_note "skip: cannot mount an unlimited tmpfs: $(cat "$T/mount.err")"
  fi

  if ! mount -t tmpfs -o size=1m tmpfs "$ro" 2>"$T/mount.err"; then
    pf_note "skip: cannot mount a second tmpfs: $(cat "$T/mount.err")"
    return 0
  fi
  pf_at_exit "umount '$ro' 2>/dev/null || umount -l '$ro' 2>/dev/null"
  printf 'old\n' >"$ro/out"
  if ! mount -o remount,ro "$ro" 2>"$T/mount.err"; then
    pf_note "skip: cannot remount read-only: $(cat "$T/mount.err")"
    return 0
  fi
  expect 4 "read-only file system: exit 4" \
    parfetch -v -c "$FAST" -n 4 --min-part-size 1M -o "$ro/out" "$F_URL/obj"
  pf_check "read-only: the message names the path and the errno text" \
    eval 'says "$PF_LAST_OUT" "$ro/out" && says "$PF_LAST_OUT" "Read-only file system"'
  pf_check "read-only: the existing output file is untouched" pf_same "$T/full.orig" "$ro/out"
}
local_failures

# ================================================================== 16. cancel while stalled
fresh cancel
pf_fault_start F --size "$SIZE" --seed 7 --fault stall:req=2,after=100k,secs=60 || exit 1
pf_bg P -q -c "$FAST" "${PARTS[@]}" -o "$D/out" "$F_URL/obj"
stalled=0
for _ in $(seq 1 100); do # the 3 other requests done, the stalled one in flight
  if [ "$(pf_fault_stat F requests)" -ge 4 ] && [ "$(pf_fault_stat F active)" = 1 ]; then
    stalled=1
    break
  fi
  sleep 0.05
done
sleep 0.3
t0=$(now)
kill -INT "$P_PID" 2>/dev/null
wait "$P_TPID"
rc=$?
t1=$(now)
pf_check "cancel: the download reached the stall before SIGINT" test "$stalled" -eq 1
pf_check "cancel: SIGINT during a stalled part: exit 130 (got $rc)" test "$rc" -eq 130
pf_check "cancel: within 1.5 s of the signal ($(secs "$t0" "$t1") s)" below "$(secs "$t0" "$t1")" 1.5
pf_check "cancel: the existing output file is untouched" untouched "$D"
pf_check "cancel: the side file is kept for --continue" test -s "$D/out.pfpart"
expect 0 "cancel: then --continue: exit 0" \
  parfetch -q -C -c "$FAST" "${PARTS[@]}" -o "$D/out" "$F_URL/obj"
pf_check "cancel: ... bytes equal, no side file left" eval 'pf_same "$T/v1" "$D/out" && absent "$D/out.pfpart"'
pf_fault_stop F

# ================================================================== 17. SIGKILL, then --continue
# Every request trickles at 256 KiB/s: 4 streams of 2 MiB take ~8 s.
fresh_empty kill
OBJ=$((8 * MiB))
pf_fault_start F --size 8m --seed 9 --fault trickle:rate=256k || exit 1
pf_bg K -q -c "$FAST" -n 4 --min-part-size 1M -o "$D/out" "$F_URL/obj"
sleep 3
kill -KILL "$K_PID" 2>/dev/null
wait "$K_TPID" 2>/dev/null
settle F
b1=$(pf_fault_stat F bytes_sent)
left=$((OBJ - b1))
pf_check "SIGKILL: no file at the output path" absent "$D/out"
pf_check "SIGKILL: the side file is kept" test -s "$D/out.pfpart"
pf_note "SIGKILL after 3 s: the server had sent $b1 of $OBJ bytes; $left were left"
t0=$(now)
expect 0 "SIGKILL: --continue finishes (exit 0)" \
  parfetch -q -C -c "$FAST" -n 4 --min-part-size 1M -o "$D/out" "$F_URL/obj"
t1=$(now)
pf_check "SIGKILL: --continue: bytes equal, no side file left" \
  eval 'pf_same "$T/v1.8m.9" "$D/out" && absent "$D/out.pfpart"'
settle F
b2=$(($(pf_fault_stat F bytes_sent) - b1))
pf_note "SIGKILL: the resumed run fetched $b2 bytes in $(secs "$t0" "$t1") s; $left were left (refetched $((b2 - left)): sent before the kill but not journaled, and its probe)"
pf_check "SIGKILL: the resumed run fetched less than the object ($b2 < $OBJ)" test "$b2" -lt "$OBJ"
pf_check "SIGKILL: ... and at most what was left + 3 MiB ($b2 <= $((left + 3 * MiB)))" \
  test "$b2" -le $((left + 3 * MiB))
pf_fault_stop F

# ================================================================== issue 8: the side file and its name
# (1) A run whose output is another run's side file (-o x.pfpart while a
# run downloads to x) must not rename its download over that side file: the
# other run would then commit a file it never wrote (both exited 0 and x
# held the wrong object's bytes).
PRELOAD="$PF_BUILD/preload/fault_preload.so"
PRELOAD_ENV=(LD_PRELOAD="$PRELOAD" ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0")
wait_for() { # PATH - wait (<= 10 s) until PATH exists
  for _ in $(seq 1 100); do
    [ -e "$1" ] && return 0
    sleep 0.1
  done
  echo "$1 did not appear"
  return 1
}
"$FS" --size 1m --seed 11 --dump "$T/x.obj" || exit 1
"$FS" --size 256k --seed 12 --dump "$T/y.obj" || exit 1
sum_x=$(sha256sum "$T/x.obj" | cut -c1-64)
fresh_empty sidename
pf_fault_start F --size 1m --seed 11 --fault trickle:rate=256k || exit 1
pf_fault_start G --size 256k --seed 12 || exit 1
pf_bg A -q -c "$FAST" -n 1 --checksum "sha256=$sum_x" -o "$D/x" "$F_URL/obj"
pf_check "side file taken: run A (-o x, ~4 s) has created x.pfpart" wait_for "$D/x.pfpart"
# the same refusal for an object without validators (not resumable): the
# finished download is kept all the same, as the message says
"$FS" --size 256k --seed 13 --dump "$T/z.obj" || exit 1
pf_fault_start H --size 256k --seed 13 --no-etag --no-last-modified || exit 1
expect 4 "side file taken, no validators: run B0 (-o x.pfpart) refuses too (exit 4)" \
  parfetch -q -c "$FAST" -o "$D/x.pfpart" "$H_URL/obj"
pf_check "side file taken, no validators: ... says its download stays in x.pfpart.pfpart" \
  says "$PF_LAST_OUT" 'the download stays in .*x\.pfpart\.pfpart'
pf_check "side file taken, no validators: ... and x.pfpart.pfpart holds B0's bytes" \
  pf_same "$T/z.obj" "$D/x.pfpart.pfpart"
pf_fault_stop H
expect 4 "side file taken: run B (-o x.pfpart) refuses to rename over A's locked side file (exit 4)" \
  parfetch -q -c "$FAST" -o "$D/x.pfpart" "$G_URL/obj"
pf_check "side file taken: ... and says why" says "$PF_LAST_OUT" 'x\.pfpart is locked by another download'
wait "$A_TPID"
rc_a=$?
pf_check "side file taken: run A exits 0 ($rc_a)" test "$rc_a" -eq 0
pf_check "side file taken: x holds x's bytes" pf_same "$T/x.obj" "$D/x"
pf_check "side file taken: B's download is kept in x.pfpart.pfpart, B's bytes" \
  cmp -n $((256 * KiB)) "$T/y.obj" "$D/x.pfpart.pfpart"
expect 0 "side file taken: B again with -C, once A is done: exit 0" \
  parfetch -v -C -c "$FAST" -o "$D/x.pfpart" "$G_URL/obj"
# (the server sends the whole 256 KiB to the probe either way: -v tells)
pf_check "side file taken: ... it resumed the kept download: no part fetched again (-v)" \
  eval '! grep -q -E "bytes [0-9]+-[0-9]+ done" <<<"$PF_LAST_OUT"'
pf_check "side file taken: x.pfpart holds B's bytes, x still A's, nothing else left" \
  eval 'pf_same "$T/y.obj" "$D/x.pfpart" && pf_same "$T/x.obj" "$D/x" && absent "$D/x.pfpart.pfpart"'
pf_fault_stop F
pf_fault_stop G

# (1b) The open/lock race: run B opens x.pfpart while run A holds it, and is
# held (fault_preload.so) before its flock until A has renamed x.pfpart to x.
# B then holds a lock on A's finished file: it must open again, never
# truncate or write A's file, and not put its own download over x, which
# another run (A) put there meanwhile.
if [ -e "$PRELOAD" ]; then
  fresh_empty openlock
  pf_fault_start F --size 1m --seed 11 --fault trickle:rate=512k || exit 1
  pf_fault_start G --size 256k --seed 12 || exit 1
  pf_bg A -q -c "$FAST" -n 1 -o "$D/x" "$F_URL/obj"
  pf_check "open/lock race: run A (-o x, ~2 s) has created x.pfpart" wait_for "$D/x.pfpart"
  env "${PRELOAD_ENV[@]}" PF_PRELOAD_FLOCK_PAUSE_MS=30000 PF_PRELOAD_FLOCK_READY="$D/b.ready" \
    PF_PRELOAD_FLOCK_GO="$D/b.go" timeout -k 5 60 "$PF_BIN" -q -c "$FAST" -o "$D/x" "$G_URL/obj" \
    </dev/null >"$D/b.log" 2>&1 &
  b_pid=$!
  pf_check "open/lock race: run B has opened x.pfpart and waits before flock" wait_for "$D/b.ready"
  wait "$A_TPID"
  rc_a=$?
  pf_check "open/lock race: run A exits 0 ($rc_a) and x holds its bytes" \
    eval 'test "$rc_a" -eq 0 && pf_same "$T/x.obj" "$D/x"'
  touch "$D/b.go"
  wait "$b_pid"
  rc_b=$?
  cat "$D/b.log" >>"$T/bg.log" # for the sanitizer check at the end
  pf_check "open/lock race: run B fails cleanly (exit 4, got $rc_b): another run put x there meanwhile" \
    eval 'test "$rc_b" -eq 4 && says "$(cat "$D/b.log")" "x was created by another program"'
  pf_check "open/lock race: x still holds A's bytes (B never truncated or wrote it)" pf_same "$T/x.obj" "$D/x"
  pf_check "open/lock race: B's download is kept in x.pfpart, B's bytes" \
    cmp -n $((256 * KiB)) "$T/y.obj" "$D/x.pfpart"
  pf_fault_stop F
  pf_fault_stop G
else
  pf_check "$PRELOAD is built (make testbins)" test -e "$PRELOAD"
fi

# ================================================================== issue 8: a failed sync
# (2) The first fsync/fdatasync of the run fails with EIO (fault_preload.so).
# The run fails (exit 4), and nothing written before the failure may be
# recorded as durable afterwards (Linux reports a writeback error once: a
# second flush succeeds without the lost bytes). So a -C run must fetch the
# whole object again. (It used to trust what close() journaled after the
# failure, and fetched only the rest.)
if [ -e "$PRELOAD" ]; then
  fresh_empty syncfail
  OBJ=$((8 * MiB))
  pf_fault_start F --size 8m --seed 8 --fault trickle:rate=2m || exit 1
  PF_ENV=("${PRELOAD_ENV[@]}" PF_PRELOAD_FAIL_SYNC=1)
  expect 4 "failed sync: the first flush fails with EIO: exit 4 (local I/O)" \
    parfetch -q -c "$FAST" -n 4 --min-part-size 1M -o "$D/out" "$F_URL/obj"
  PF_ENV=()
  pf_check "failed sync: ... saying so" says "$PF_LAST_OUT" 'cannot sync .*out\.pfpart: Input/output error'
  pf_check "failed sync: no file at the output path" absent "$D/out"
  settle F
  b1=$(pf_fault_stat F bytes_sent)
  expect 0 "failed sync: -C then finishes (exit 0)" \
    parfetch -q -C -c "$FAST" -n 4 --min-part-size 1M -o "$D/out" "$F_URL/obj"
  pf_check "failed sync: -C: bytes equal" pf_same "$T/v1.8m" "$D/out"
  settle F
  b2=$(($(pf_fault_stat F bytes_sent) - b1))
  pf_note "failed sync: the first run was sent $b1 bytes; the -C run fetched $b2 of $OBJ"
  pf_check "failed sync: -C fetched the whole object again ($b2 >= $OBJ): nothing was claimed after the failure" \
    test "$b2" -ge "$OBJ"
  pf_fault_stop F
else
  pf_check "$PRELOAD is built (make testbins)" test -e "$PRELOAD"
fi

# ================================================================== issue 8: secrets and shown text
# interrupted NAME ARGS... - parfetch ARGS in the background, SIGINT after
# 1.5 s: exit 130, the side file $D/out.pfpart kept.
interrupted() {
  local name=$1 rc_i
  shift
  pf_bg I "$@"
  sleep 1.5
  kill -INT "$I_PID"
  wait "$I_TPID"
  rc_i=$?
  pf_check "$name: SIGINT mid-download: exit 130 ($rc_i), side file kept" \
    eval 'test "$rc_i" -eq 130 && test -s "$D/out.pfpart"'
}
# resumed NAME UMASK ARGS... - parfetch -q -C ARGS under UMASK: exit 0, $D/out
# equals $T/v1, and it fetched less than the object (counted by server F).
resumed() {
  local name=$1 mask=$2 b0 rc_r sent
  shift 2
  settle F
  b0=$(pf_fault_stat F bytes_sent)
  (umask "$mask" && parfetch -q -C "$@") >"$D/resume.log" 2>&1
  rc_r=$?
  pf_check "$name: -C: exit 0 ($rc_r), bytes equal" \
    eval 'test "$rc_r" -eq 0 && pf_same "$T/v1" "$D/out"'
  settle F
  sent=$(($(pf_fault_stat F bytes_sent) - b0))
  pf_check "$name: -C resumed ($sent < $SIZE bytes fetched): the journal matched the URL" \
    test "$sent" -lt "$SIZE"
}

# (5) A password in the URL is never shown (-v, error messages) and never
# stored in the side file, nor is the URL (its query may be a signature),
# and the side file is 0600 until commit; the final file gets the mode a
# plain create gives (0666 & ~umask). The journal still matches the same URL
# for -C, with another password too.
fresh_empty secret
PW=S3cr3tPW
SIG=T0kenSig
pf_fault_start F --size 2m --seed 7 --fault trickle:rate=512k || exit 1
interrupted password -v -c "$FAST" -n 1 -o "$D/out" "http://alice:$PW@127.0.0.1:$F_PORT/obj?sig=$SIG"
pf_check "password: -v printed the URL with the password redacted" \
  says "$(cat "$T/bg.log")" "GET http://alice:<redacted>@127\.0\.0\.1"
pf_check "password: -v never printed it" never_says "$(cat "$T/bg.log")" "$PW"
pf_check "password: the side file is private (mode 600)" test "$(stat -c %a "$D/out.pfpart")" = 600
pf_check "password: the side file holds neither the password nor the URL's query" \
  eval '! grep -q -a -e "$PW" -e "$SIG" -e "sig=" "$D/out.pfpart"'
resumed password 027 -c "$FAST" -n 1 -o "$D/out" "http://alice:other@127.0.0.1:$F_PORT/obj?sig=$SIG"
pf_check "password: the final file has the mode of a plain create under umask 027 (640)" \
  test "$(stat -c %a "$D/out")" = 640
pf_fault_stop F
pf_fault_start G --size 64k --fault status:code=404 || exit 1
expect 1 "password: HTTP 404 without -v: exit 1" \
  parfetch -q -c "$FAST" -o "$D/e" "http://alice:$PW@127.0.0.1:$G_PORT/obj"
pf_check "password: the error names the URL with the password redacted" \
  eval 'says "$PF_LAST_OUT" "404 .*alice:<redacted>@127" && never_says "$PF_LAST_OUT" "$PW"'
pf_fault_stop G
# a token of 1000 characters as the password, and a port nobody listens on
# (G's, stopped): the network error's message is cut to its buffer (600
# bytes) inside the token, before its '@'
TOKEN=$(head -c 1000 /dev/zero | tr '\0' T)
expect 1 "password: a 1000-character token, connection refused, -v: exit 1" \
  parfetch -v -c "$FAST" -o "$D/e" "http://alice:$TOKEN@127.0.0.1:$G_PORT/obj"
pf_check "password: no part of the token is shown, though the message is cut inside it" \
  eval 'says "$PF_LAST_OUT" "alice:<redacted>" && never_says "$PF_LAST_OUT" "TTTTTTTT"'
# ... and in a URL refused before any request: one without a scheme, or of
# a scheme parfetch does not take (the text filter alone only knows
# "scheme://user:pw@"; check_url masks the scheme-less form itself)
expect 2 "password: a URL without a scheme: exit 2 (bad URL)" \
  parfetch -q -o "$D/e" "alice:SeKrEt1@127.0.0.1:$G_PORT/obj?next=http://x/"
pf_check "password: ... the message names the URL, not its password" \
  eval 'says "$PF_LAST_OUT" "alice:<redacted>@127.0.0.1" && never_says "$PF_LAST_OUT" "SeKrEt1"'
expect 2 "password: an ftp:// URL: exit 2 (bad URL)" \
  parfetch -q -o "$D/e" "ftp://alice:SeKrEt2@127.0.0.1:$G_PORT/obj"
pf_check "password: ... the message names the scheme, not the password" \
  eval 'says "$PF_LAST_OUT" "unsupported scheme" && never_says "$PF_LAST_OUT" "SeKrEt2"'
# (9) A URL of 8 KiB or more is resumable (the journal's decoder refused
# what its encoder wrote: such a side file was never resumed; now encoder and
# decoder share one limit, and the journal holds a digest of the URL).
fresh_empty longurl
LONGQ=$(head -c 9000 /dev/zero | tr '\0' q)
pf_fault_start F --size 2m --seed 7 --fault trickle:rate=512k || exit 1
interrupted "long URL (9 KiB)" -q -c "$FAST" -n 1 -o "$D/out" "$F_URL/obj?$LONGQ"
resumed "long URL (9 KiB)" 022 -c "$FAST" -n 1 -o "$D/out" "$F_URL/obj?$LONGQ"
pf_fault_stop F
# (9) Control characters in what is shown are escaped (a terminal never
# sees an escape sequence from a message).
expect 2 "control characters: a URL holding ESC [2J: exit 2 (bad URL)" \
  parfetch -q -o "$D/c" $'http://127.0.0.1:9/a\x1b[2Jb'
pf_check "control characters: the message shows \\x1b, not the byte" \
  eval 'says "$PF_LAST_OUT" "a\\\\x1b\\[2Jb" && ! grep -q $'"'"'\x1b'"'"' <<<"$PF_LAST_OUT"'
# ... and from the server: a Location header holding ESC [31m
pf_fault_start G --size 64k --fault "redirect:req=1,to=evil$(printf '\033')[31m" || exit 1
expect 1 "control characters: a redirect to a Location holding ESC [31m: exit 1" \
  parfetch -q -c "$FAST" -o "$D/r" "$G_URL/obj"
pf_check "control characters: the message shows the Location with \\x1b, not the byte" \
  eval 'says "$PF_LAST_OUT" "evil\\\\x1b\\[31m" && ! grep -q $'"'"'\x1b'"'"' <<<"$PF_LAST_OUT"'
pf_fault_stop G

# ================================================================== 18. stalls judged against the peers (issue 8, item 3)
# A part request that gets its headers and then nothing: stall_timeout is
# 60 s, so only the engine's own judgement (no byte for much longer than the
# other streams' pace) can end it. Idle streams must take its whole range
# over, and the stalled transfer must end at once, not when a byte arrives.
fresh_empty stall0
CST60=$(cfg stall0 'stall_timeout: 60s')
pf_fault_start F --size "$SIZE" --seed 7 --fault stall:req=3,after=0,secs=60 || exit 1
t0=$(now)
PF_CMD_TIMEOUT=40 expect 0 "stall after headers (req=3, 60 s; stall_timeout: 60s): exit 0" \
  parfetch -v -c "$CST60" "${PARTS[@]}" -o "$D/out" "$F_URL/obj"
t1=$(now)
pf_check "stall after headers: bytes equal" pf_same "$T/v1" "$D/out"
pf_check "stall after headers: ended well before stall_timeout ($(secs "$t0" "$t1") s, limit 15 s)" \
  below "$(secs "$t0" "$t1")" 15
pf_check "stall after headers: -v shows the stalled range taken over" \
  says "$PF_LAST_OUT" 'takes bytes [0-9]+-[0-9]+ from stream [0-9]+ \(stalled'
pf_fault_stop F # the stalled reply ends now, and is logged
pf_check "stall after headers: the fault really fired (server log)" \
  test "$(fault_lines F stall | wc -l)" -ge 1

# ================================================================== 19. ranges answered wrongly every time (issue 8, item 7)
# Default retries (15) and retry waits: a server that answers every ranged
# part request wrongly, the same way, must not be retried for minutes. After
# a few bad replies of one kind parfetch stops trusting ranges and fetches the
# whole object with one GET, which this server serves correctly: exit 0, bytes
# equal, within seconds.
for fault in bad-content-range:mode=shift,req=2- ignore-range:req=2-; do
  kind=${fault%%:*}
  fresh_empty "distrust-$kind"
  pf_fault_start F --size "$SIZE" --seed 7 --fault "$fault" || exit 1
  t0=$(now)
  PF_CMD_TIMEOUT=60 expect 0 "$kind on every part request (default retries): exit 0 by one whole GET" \
    parfetch -v "${PARTS[@]}" -o "$D/out" "$F_URL/obj"
  t1=$(now)
  pf_check "$kind always: bytes equal" pf_same "$T/v1" "$D/out"
  pf_check "$kind always: within seconds ($(secs "$t0" "$t1") s, limit 20 s)" below "$(secs "$t0" "$t1")" 20
  pf_check "$kind always: -v says ranges are no longer trusted" says "$PF_LAST_OUT" 'no longer trusting ranges'
  settle F
  pf_check "$kind always: the server saw one request without Range after the probe (server log)" \
    test "$(flog F | grep -c ' range=- ')" -eq 1
done

# The same, but the whole-object reply is bad too (its Content-Length is not
# the probe's size): nothing left to trust, exit 3, still within seconds.
fresh distrust-bad
pf_fault_start F --size "$SIZE" --seed 7 --fault bad-content-range:mode=shift,req=2- \
  --fault wrong-length:ranged=no || exit 1
t0=$(now)
PF_CMD_TIMEOUT=60 expect 3 "shifted ranges and a bad whole reply (default retries): exit 3" \
  parfetch -v "${PARTS[@]}" -o "$D/out" "$F_URL/obj"
t1=$(now)
pf_check "shifted + bad whole: within seconds ($(secs "$t0" "$t1") s, limit 20 s)" below "$(secs "$t0" "$t1")" 20
pf_check "shifted + bad whole: -v says ranges are no longer trusted" says "$PF_LAST_OUT" 'no longer trusting ranges'
pf_check "shifted + bad whole: the message names the bad whole reply" says "$PF_LAST_OUT" 'parfetch: .*(object changed|answered)'
pf_check "shifted + bad whole: the existing output file is untouched" untouched "$D"
pf_check "shifted + bad whole: the side file holds nothing of the bad replies" \
  side_clean "$D/out.pfpart" "$T/v1"
pf_fault_stop F

# ------------------------------------------------------------------ sanitizers
sanitizer_reports() {
  if [ -e "$T/sanitizer.log" ]; then
    head -n 60 "$T/sanitizer.log"
    return 1
  fi
  if grep -q -E 'Sanitizer|runtime error:' "$T/bg.log" 2>/dev/null; then
    grep -A 20 -E 'Sanitizer|runtime error:' "$T/bg.log" | head -n 60
    return 1
  fi
  if grep -l -E 'Sanitizer|runtime error:' "$T"/fault.*/stderr 2>/dev/null; then
    grep -h -A 20 -E 'Sanitizer|runtime error:' "$T"/fault.*/stderr | head -n 60
    return 1
  fi
}
pf_check "no sanitizer report from parfetch or any fault server" sanitizer_reports

pf_done
