#!/usr/bin/env bash
# t_engine.sh - the engine's promises that need a real server and a real
# process to break: the writer dies (a full host sink) and nothing hangs;
# cancel() stops run() within a second; a host sink with read() gets a
# verified digest; overlapping write_sink is refused; SIGKILL mid-download
# and --continue fetch only what was left (counted by nginx); a journal of
# another object is never applied. (An object that changes mid-download is
# tested with the fault server, which can change it between two requests:
# nginx keeps serving the old file to requests already in flight.)
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/fault/fault.sh
. "$PF_ROOT/tests/fault/fault.sh"
pf_init || exit 1
pf_isolate_config

pf_check "nginx serves HTTP/1.1, HTTPS and HTTP/2 on 127.0.0.1" pf_nginx_start || { pf_done; exit 1; }

# into FILE CMD... - CMD with its stdout in FILE
into() {
  local out=$1
  shift
  "$@" >"$out"
}

# says TEXT PATTERN - TEXT (a command's output) contains PATTERN
says() {
  printf '%s\n' "$1" | grep -q -- "$2" && return 0
  printf 'expected "%s" in:\n%s\n' "$2" "$1"
  return 1
}

HOST="$PF_BUILD/engine_host"
PLUGIN="$PF_BUILD/parfetch.so"
MiB=$((1024 * 1024))
pf_check "the test host is built ($HOST)" test -x "$HOST" || { pf_done; exit 1; }

pf_mkfile "$PF_DOCROOT/e64.bin" $((64 * MiB)) 11
pf_mkfile "$PF_DOCROOT/e8.bin" $((8 * MiB)) 12

# ---- the writer dies: every worker stops, nothing hangs --------------------
pf_expect_exit 0 "a host sink failing with ENOSPC: run() returns PF_E_IO naming the errno; then PF_E_STATE" \
  timeout 60 "$HOST" "$PLUGIN" "$PF_HTTP_URL/e64.bin" failsink $((8 * MiB))
secs=$(sed -n 's/^seconds //p' <<<"$PF_LAST_OUT")
pf_check "... and promptly (${secs:-?} s, limit 5 s): no worker stays blocked on a full queue" \
  awk -v s="${secs:-99}" 'BEGIN { exit !(s < 5) }'

# ---- cancel() from another thread ----------------------------------------
mkdir -p "$PF_TMP/cancel"
pf_expect_exit 0 "cancel() from another thread: run() returns PF_E_CANCELLED" \
  timeout 60 "$HOST" "$PLUGIN" "$PF_HTTP_URL/slow/e64.bin" cancel 700 "$PF_TMP/cancel/out"
lat=$(sed -n 's/^latency //p' <<<"$PF_LAST_OUT")
pf_check "... within a second of the call (${lat:-?} s)" \
  awk -v s="${lat:-99}" 'BEGIN { exit !(s < 1.0) }'
pf_check "... and no file at the output path" test ! -e "$PF_TMP/cancel/out"

# ---- a host sink with read(): digest over out-of-order parts ----------------
sum=$(sha256sum "$PF_DOCROOT/e64.bin" | cut -d' ' -f1)
pf_expect_exit 0 "a memory sink with read(): 64 MiB in parallel, sha256 verified by commit(); then PF_E_STATE" \
  into "$PF_TMP/mem.out" "$HOST" "$PLUGIN" "$PF_HTTP_URL/e64.bin" memsink "sha256=$sum"
pf_check "... and the sink holds the object byte for byte" pf_same "$PF_DOCROOT/e64.bin" "$PF_TMP/mem.out"
pf_expect_exit 1 "a memory sink with a wrong sha256: commit() fails" \
  "$HOST" "$PLUGIN" "$PF_HTTP_URL/e8.bin" memsink "sha256=$(printf '%064d' 0)"
pf_check "... naming the actual digest" says "$PF_LAST_OUT" "$(sha256sum "$PF_DOCROOT/e8.bin" | cut -c1-64)"

# ---- a refused write_sink (or an early commit) stops only itself ------------
O="$PF_TMP/overlap"
mkdir -p "$O"
pf_expect_exit 0 "write_sink over stored bytes: PF_E_INVALID with a detail, and the session goes on" \
  "$HOST" "$PLUGIN" "$PF_HTTP_URL/e8.bin" overlap "$O/out"
pf_check "... the side file is kept for a resume" test -s "$O/out.pfpart"
pf_expect_exit 0 "... and a host-driven resume of it finishes the download" \
  "$HOST" "$PLUGIN" "$PF_HTTP_URL/e8.bin" drive "$O/out" resume
pf_check "... taking the three parts stored before (6 MiB resumed)" \
  says "$PF_LAST_OUT" "resumed $((6 * MiB))\$"
pf_check "... and the file equals the source byte for byte" pf_same "$PF_DOCROOT/e8.bin" "$O/out"

# ---- sinks that need bytes in order -------------------------------------------
pf_expect_exit 0 "an in-order sink: write_sink out of order refused naming offset 0; then in order" \
  into "$PF_TMP/inorder.out" "$HOST" "$PLUGIN" "$PF_HTTP_URL/e8.bin" inorder
pf_check "... and the sink holds the object byte for byte" pf_same "$PF_DOCROOT/e8.bin" "$PF_TMP/inorder.out"
sum8=$(sha256sum "$PF_DOCROOT/e8.bin" | cut -d' ' -f1)
pf_expect_exit 0 "no read() and a checksum: parts in order, write_sink out of order refused, commit() verifies" \
  into "$PF_TMP/noread.out" "$HOST" "$PLUGIN" "$PF_HTTP_URL/e8.bin" noread "sha256=$sum8"
pf_check "... and the sink holds the object byte for byte" pf_same "$PF_DOCROOT/e8.bin" "$PF_TMP/noread.out"

# ---- struct sizes a 1.x host can pass -------------------------------------------
pf_expect_exit 0 "struct_size: below 1.0 refused, 1.0 and larger accepted, canaries after the struct intact" \
  "$HOST" "$PLUGIN" "$PF_HTTP_URL/e8.bin" sizes

# ---- SIGKILL, then --continue -------------------------------------------------
# /slow/ sends 128 KiB/s per request: 8 streams of 1 MiB parts take ~8 s.
sum_bytes() { # URI FIRST_LINE - body bytes nginx sent for URI from log line FIRST_LINE on
  pf_log_lines "$1" | awk -F '\t' -v from="$2" 'NR >= from { b += $7 } END { print b + 0 }'
}
log_count() { pf_log_lines "$1" | wc -l; }

K="$PF_TMP/kill"
mkdir -p "$K"
URI=/slow/e8.bin
"$PF_BIN" -q -n 8 --min-part-size 1M -o "$K/out" "$PF_HTTP_URL$URI" >/dev/null 2>&1 &
pid=$!
sleep 3
kill -KILL "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
sleep 1 # nginx logs a request when it notices the client is gone
n1=$(log_count "$URI")
b1=$(sum_bytes "$URI" 1)
pf_check "SIGKILL mid-download leaves no file at the output path" test ! -e "$K/out"
pf_check "... and keeps the side file with its journal" test -s "$K/out.pfpart"
pf_note "before the kill nginx sent $b1 of $((8 * MiB)) bytes"
pf_expect_exit 0 "--continue finishes the download" \
  "$PF_BIN" -q -C -n 8 --min-part-size 1M -o "$K/out" "$PF_HTTP_URL$URI"
pf_check "... the file equals the source byte for byte" pf_same "$PF_DOCROOT/e8.bin" "$K/out"
pf_check "... no side file left" test ! -e "$K/out.pfpart"
pf_log_wait "$URI" $((n1 + 1))
sleep 0.5
b2=$(sum_bytes "$URI" $((n1 + 1)))
left=$((8 * MiB - b1))
pf_note "the resumed run fetched $b2 bytes; $left were left when it was killed"
pf_check "... fetching fewer bytes than the whole object (it did not start over)" \
  test "$b2" -lt $((8 * MiB - MiB))
pf_check "... and at most 3 MiB more than were left (what the journal had not recorded yet)" \
  test "$b2" -le $((left + 3 * MiB))

# ---- a journal of another object is never applied -----------------------------
J="$PF_TMP/journal"
mkdir -p "$J"
cp "$PF_DOCROOT/e8.bin" "$PF_DOCROOT/j8.bin"
"$PF_BIN" -q -n 8 --min-part-size 1M -o "$J/out" "$PF_HTTP_URL/slow/j8.bin" >/dev/null 2>&1 &
pid=$!
sleep 2
kill -KILL "$pid" 2>/dev/null
wait "$pid" 2>/dev/null || true
pf_check "killed: a side file is left" test -s "$J/out.pfpart"
pf_mkfile "$PF_DOCROOT/j8.bin.new" $((8 * MiB)) 13
mv "$PF_DOCROOT/j8.bin.new" "$PF_DOCROOT/j8.bin"
touch -d '2001-01-01' "$PF_DOCROOT/j8.bin" # a new ETag for certain
pf_expect_exit 0 "--continue after the object changed starts over" \
  "$PF_BIN" -q -C -n 8 --min-part-size 1M -o "$J/out" "$PF_HTTP_URL/j8.bin"
pf_check "... and delivers the new object, not a mix" pf_same "$PF_DOCROOT/j8.bin" "$J/out"

# ---- the fault server: resume without ranges, restarts, long ETags --------------
FMiB=4
pf_fault_start RS --size ${FMiB}M --fault ignore-range:req=3-
R="$PF_TMP/norange"
mkdir -p "$R"
pf_expect_exit 0 "host-driven: part 1 of 4 stored, then the session closed" \
  "$HOST" "$PLUGIN" "$RS_URL/obj" drive "$R/out" only=1
pf_check "... the side file is kept" test -s "$R/out.pfpart"
pf_expect_exit 0 "host-driven resume when the server no longer honours ranges: starts over cleanly" \
  "$HOST" "$PLUGIN" "$RS_URL/obj" drive "$R/out" resume
pf_check "... with one part from 0 and nothing taken from the side file" \
  says "$PF_LAST_OUT" "parts 1 resumed 0"
"$PF_BUILD/fault_server" --size ${FMiB}M --dump "$R/want"
pf_check "... and the file equals the object byte for byte" pf_same "$R/want" "$R/out"
pf_fault_stop RS >/dev/null

# get_info/get_stats from another thread while run() starts over (the TSan
# pass of make test runs this under ThreadSanitizer)
pf_fault_start CH --size 8M --fault change:after=1
C="$PF_TMP/restart"
mkdir -p "$C"
pf_expect_exit 0 "get_info and get_stats polled while run() restarts a changed object" \
  timeout 120 "$HOST" "$PLUGIN" "$CH_URL/obj" poll "$C/out"
"$PF_BUILD/fault_server" --size 8M --dump-version 2 --dump "$C/want"
pf_check "... and the file is the new version" pf_same "$C/want" "$C/out"
pf_check "... and the polls went on across the restart (they saw the new ETag)" \
  eval '[[ "$PF_LAST_OUT" =~ after\ the\ restart\ ([1-9][0-9]*) ]]'
pf_fault_stop CH >/dev/null

# an ETag longer than 256 characters that changes only after character 256
pf_fault_start LE --size 4M --long-etag 400 --fault change:after=1
L="$PF_TMP/longetag"
mkdir -p "$L"
pf_expect_exit 3 "a 400-character ETag that changes after character 256: exit 3 (object changed)" \
  timeout 60 "$PF_BIN" -q -n 4 --min-part-size 1M -o "$L/out" "$LE_URL/obj"
pf_check "... naming the change" says "$PF_LAST_OUT" "changed"
pf_check "... and no file at the output path" test ! -e "$L/out"
pf_fault_stop LE >/dev/null

pf_done
