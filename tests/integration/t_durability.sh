#!/usr/bin/env bash
# t_durability.sh - the write path's promises (plugin/sink.c's journal):
#   1. the network does not wait on flushes: a download flushes its side file
#      every couple of seconds, not every few MiB;
#   2. SIGKILL alone loses only what was not recorded: -C on the same boot
#      trusts the bytes stored after the last flush;
#   3. a power loss after a SIGKILL never makes -C produce wrong bytes: what a
#      record claims but no flush covered is refetched on another boot
#      (build/side_crash zeroes it and names another boot, as a power loss
#      would leave it);
#   4. after a failed flush no record claims what that flush should have
#      made durable.
# (t_faults.sh's section 17 is SIGKILL with a looser bound.)
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/fault/fault.sh
. "$PF_ROOT/tests/fault/fault.sh"
pf_init || exit 1
pf_isolate_config
PF_CMD_TIMEOUT=60

FS="$PF_BUILD/fault_server"
SC="$PF_BUILD/side_crash"
PRELOAD="$PF_BUILD/preload/fault_preload.so"
PRELOAD_ENV=(LD_PRELOAD="$PRELOAD" ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0")
T=$PF_TMP
MiB=$((1024 * 1024))
OBJ=$((8 * MiB))
FAST="$T/fast.yaml"
printf 'retry_wait: 50ms\nretry_max_wait: 200ms\n' >"$FAST"

pf_check "parfetch, the fault server, side_crash and fault_preload.so are built" \
  test -x "$PF_BIN" -a -x "$FS" -a -x "$SC" -a -e "$PRELOAD" || { pf_done; exit 1; }
"$FS" --size 8m --seed 11 --dump "$T/v8" || exit 1

now() { date +%s.%N; }
settle() { # VAR - the fault server has no request in flight (<= 5 s)
  for _ in $(seq 1 50); do
    [ "$(pf_fault_stat "$1" active)" = 0 ] && return 0
    sleep 0.1
  done
}
# killed_at SECS DIR - a download of the trickling object (4 streams of 256
# KiB/s: ~8 s) to DIR/out, SIGKILLed after SECS s.
killed_at() {
  timeout -k 5 60 "$PF_BIN" -q -c "$FAST" -n 4 --min-part-size 1M -o "$2/out" "$F_URL/obj" \
    </dev/null >>"$T/bg.log" 2>&1 &
  local tpid=$! kid=
  for _ in $(seq 1 100); do
    kid=$(pf__children "$tpid" | head -n 1)
    [ -n "$kid" ] && break
    sleep 0.01
  done
  sleep "$1"
  kill -KILL "$kid" 2>/dev/null
  wait "$tpid" 2>/dev/null
  settle F
}
# field NAME LINE - the number after NAME in side_crash show's line
field() { awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }' <<<"$2"; }
# killed_record NAME LABEL - killed_at 3.5 into a new $T/NAME (D), then what
# the side file's record says: b1 (bytes the server had sent), rec, durable
# and written (bytes claimed by each list)
killed_record() {
  D="$T/$1"
  mkdir -p "$D"
  killed_at 3.5 "$D"
  b1=$(pf_fault_stat F bytes_sent)
  rec=$("$SC" show "$D/out.pfpart" "$OBJ")
  pf_note "$2: after SIGKILL at 3.5 s the record says: $rec"
  durable=$(field durable "$rec")
  written=$(field written "$rec")
}
# resumed LABEL - -C on $D/out: exit 0, bytes equal, no side file left; b2 =
# the bytes the server sent for it
resumed() {
  pf_expect_exit 0 "$1: -C finishes (exit 0)" \
    parfetch -q -C -c "$FAST" -n 4 --min-part-size 1M -o "$D/out" "$F_URL/obj"
  pf_check "$1: -C: bytes equal, no side file left" \
    eval 'pf_same "$T/v8" "$D/out" && test ! -e "$D/out.pfpart"'
  settle F
  b2=$(($(pf_fault_stat F bytes_sent) - b1))
  pf_note "$1: the -C run fetched $b2 of $OBJ bytes"
}

# ================================================================== 1. flushes off the path
# 64 MiB from nginx at full speed. Flushing before every record (every 4 MiB,
# as the journal used to) stalled the writer, and with it the network, ~16
# times here; now the journal flushes every 2 s (or 256 MiB), and commit
# once: at most 2 + seconds / 2 fsync/fdatasync calls (commit: the file and
# its directory).
if command -v strace >/dev/null 2>&1; then
  pf_nginx_start || exit 1
  pf_mkfile "$PF_DOCROOT/d64.bin" $((64 * MiB)) || exit 1
  mkdir -p "$T/flush"
  t0=$(now)
  # (LeakSanitizer cannot run under ptrace: off for this run of an ASan build)
  pf_check "flushes: 64 MiB downloaded under strace (exit 0)" \
    env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
    strace -f -qq -c -o "$T/flush/strace" -e trace=fsync,fdatasync \
    "$PF_BIN" -q -o "$T/flush/out" "$PF_HTTP_URL/d64.bin"
  t1=$(now)
  syncs=$(awk '$NF == "fsync" || $NF == "fdatasync" { n += $4 } END { print n + 0 }' "$T/flush/strace")
  allowed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", 2 + (b - a) / 2 }')
  pf_note "flushes: $syncs fsync/fdatasync calls in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s"
  pf_check "flushes: bytes equal" pf_same "$PF_DOCROOT/d64.bin" "$T/flush/out"
  pf_check "flushes: at most $allowed fsync/fdatasync calls ($syncs)" test "$syncs" -le "$allowed"
  rm -f "$PF_DOCROOT/d64.bin" "$T/flush/out"
  pf_nginx_stop
else
  echo "not ok - flushes: strace not installed (scripts/deps.sh test)"
  PF_FAIL=$((PF_FAIL + 1))
fi

# ================================================================== 2. SIGKILL, same boot
# Killed after 3.5 s, no power loss: the bytes stored after the last flush are
# in the page cache (or on disk), and -C takes them too: it fetches only what
# the record does not claim (plus what its probe brings before it is dropped).
pf_fault_start F --size 8m --seed 11 --fault trickle:rate=256k || exit 1
killed_record kill "same boot"
pf_check "same boot: the record claims unflushed bytes ($written > $durable)" \
  test "${written:-0}" -gt "${durable:-0}"
resumed "same boot"
pf_check "same boot: -C trusted the unflushed bytes ($b2 <= $OBJ - $written + 512 KiB)" \
  test "$b2" -le $((OBJ - ${written:-0} + 512 * 1024))

# ================================================================== 3. SIGKILL, then a power loss
# Killed after 3.5 s: the journal flushed once (at ~2 s) and then recorded
# ~1.5 MiB more that no flush covered. A power loss would leave those bytes
# as zeroes (side_crash crash), and the machine boots with another boot id:
# -C must refetch them, keep what was flushed, and produce the right bytes.
killed_record crash "power loss"
pf_check "power loss: the record claims flushed bytes ($durable > 0)" test "${durable:-0}" -gt 0
pf_check "power loss: ... and unflushed ones, which SIGKILL does not lose ($written > $durable)" \
  test "${written:-0}" -gt "${durable:-0}"
zeroed=$("$SC" crash "$D/out.pfpart" "$OBJ")
pf_note "power loss: $zeroed unflushed bytes zeroed, the record moved to another boot"
resumed "power loss"
pf_check "power loss: -C kept the flushed bytes ($b2 < $OBJ)" test "$b2" -lt "$OBJ"
pf_check "power loss: ... and refetched the rest ($b2 >= $OBJ - $durable)" \
  test "$b2" -ge $((OBJ - ${durable:-0}))

# ================================================================== 4. a failed flush
# The second flush (at ~4 s; the first, at ~2 s, succeeds) fails with EIO:
# the run fails (exit 4), and the side file it keeps claims only what the
# first flush covered, as durable and as written: Linux reports a writeback
# error once, so a later run of this same boot could not tell that the
# bytes stored after the first flush were lost.
D="$T/syncfail"
mkdir -p "$D"
b0=$(pf_fault_stat F bytes_sent)
PF_ENV=("${PRELOAD_ENV[@]}" PF_PRELOAD_FAIL_SYNC=2)
pf_expect_exit 4 "failed flush: the second flush fails with EIO: exit 4" \
  parfetch -q -c "$FAST" -n 4 --min-part-size 1M -o "$D/out" "$F_URL/obj"
PF_ENV=()
settle F
b1=$(pf_fault_stat F bytes_sent)
rec=$("$SC" show "$D/out.pfpart" "$OBJ" 2>&1)
pf_note "failed flush: the run was sent $((b1 - b0)) bytes; the record says: $rec"
durable=$(field durable "$rec")
written=$(field written "$rec")
pf_check "failed flush: the record keeps what the first flush covered ($durable > 0)" \
  test "${durable:-0}" -gt 0
pf_check "failed flush: ... and claims nothing more ($written = $durable)" \
  test "${written:-x}" = "${durable:-y}"
pf_expect_exit 0 "failed flush: -C finishes (exit 0)" \
  parfetch -q -C -c "$FAST" -n 4 --min-part-size 1M -o "$D/out" "$F_URL/obj"
pf_check "failed flush: -C: bytes equal" pf_same "$T/v8" "$D/out"
settle F
b2=$(($(pf_fault_stat F bytes_sent) - b1))
pf_check "failed flush: -C refetched all but the durable bytes ($b2 >= $OBJ - $durable)" \
  test "$b2" -ge $((OBJ - ${durable:-0}))
pf_fault_stop F

pf_done
