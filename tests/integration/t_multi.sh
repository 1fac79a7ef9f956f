#!/usr/bin/env bash
# shellcheck disable=SC2046 # slow_urls prints one URL a line, split into arguments on purpose
# t_multi.sh - many objects in one `parfetch` run (several URLs, -i FILE,
# -i -), against nginx on loopback:
#   - several URLs: each object named after its URL, bytes equal;
#   - -i FILE with out= and checksum= (aria2c's sha-256= spelling and ours):
#     a wrong checksum exits 3, its output absent, the others present;
#   - -i - reads the list from stdin; dir= and -d place the outputs (-d also
#     with one URL);
#   - refused before anything is downloaded (exit 2, no request in nginx's
#     log, nothing written): colliding outputs, out= with '..' or absolute,
#     a URL named '..', -o with several URLs, an input-file syntax error
#     (named by file:line:column);
#   - exit status the worst of all: one 404 among good objects exits 1 and the
#     good ones are there; without --keep-going a failure (-j 1) stops the
#     objects after it from starting, with it every object is attempted;
#   - -j N: at most N objects in flight (nginx's log: each object's requests
#     from the first start to the last end), and N were (it is not serial);
#   - one client: max_connections_per_host is shared by all objects (the
#     connections open at once never exceed it);
#   - SIGINT with several objects in flight exits 130 and leaves no output;
#     -C then resumes each object (fewer bytes fetched), bytes equal;
#   - a TCP reset in one object (our fault server) is retried: all objects
#     bytes equal;
#   - the display: on a terminal (script(1)) a line per running object and a
#     total, redrawn with cursor-up; elsewhere no escape, a line per object;
#   - mirrors (TAB-separated URLs on one line) need a plugin of ABI 1.4:
#     refused clearly by an older one, fetched by a newer one.
# PF_QUICK=1 changes nothing (the objects are small).
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
pf_init || exit 1
pf_isolate_config

pf_check "nginx serves HTTP/1.1 on 127.0.0.1" pf_nginx_start || { pf_done; exit 1; }
U=$PF_HTTP_URL
D=$PF_DOCROOT/m
mkdir -p "$D"
mk() {
  local i
  for i in 1 2 3 4 5 6; do pf_mkfile "$D/o$i.bin" $((100000 + i * 37000)) || return 1; done
  for i in 1 2 3 4 5 6; do pf_mkfile "$D/s$i.bin" 327680 || return 1; done # /slow/: about 2 s each
  pf_mkfile "$D/big.bin" 655360
}
pf_check "create the objects" mk || { pf_done; exit 1; }

W=$PF_TMP/w
# fresh - an empty working directory $W.
fresh() { rm -rf -- "$W" && mkdir -p "$W"; }
# in_w ARGS... - parfetch ARGS run inside $W.
in_w() { (cd "$W" && parfetch "$@"); }
# tag_count TAG - requests nginx logged for URLs ending in t=TAG.
tag_count() { sleep 0.3; pf_tagged "$1" | wc -l; }
# none_fetched TAG - nginx saw no request tagged TAG and $W is empty.
none_fetched() {
  local n
  n=$(tag_count "$1")
  [ "$n" -eq 0 ] || { echo "$n requests tagged $1"; return 1; }
  only_output "$W" ""
}
sha() { sha256sum "$1" | cut -c1-64; }
# slow_urls N TAG - the URLs of s1.bin .. sN.bin under /slow/, tagged TAG.
slow_urls() {
  local i
  for i in $(seq 1 "$1"); do echo "$U/slow/m/s$i.bin?t=$2"; done
}
# same_slow N - s1.bin .. sN.bin in $W equal their sources.
same_slow() {
  local i
  for i in $(seq 1 "$1"); do pf_same "$D/s$i.bin" "$W/s$i.bin" || return 1; done
}
# said TEXT - the last pf_expect_exit's output holds TEXT.
said() { grep -qF -- "$1" <<<"$PF_LAST_OUT" || { echo "no '$1' in:"; echo "$PF_LAST_OUT"; return 1; }; }

# --- several URLs ----------------------------------------------------------------
fresh
pf_expect_exit 0 "three URLs on the command line -> exit 0" \
  in_w -q "$U/m/o1.bin" "$U/m/o2.bin?t=a" "$U/m/o3.bin"
all3() { pf_same "$D/o1.bin" "$W/o1.bin" && pf_same "$D/o2.bin" "$W/o2.bin" && pf_same "$D/o3.bin" "$W/o3.bin" &&
  only_output "$W" "$(printf 'o1.bin\no2.bin\no3.bin')"; }
pf_check "three URLs: each named after its URL, bytes equal, nothing else left" all3

# --- -i FILE: out=, checksum=, comments, wrong checksum ------------------------------
fresh
L=$PF_TMP/list1
{
  echo "# a comment, then a blank line"
  echo
  echo "$U/m/o1.bin"
  echo "  out=first.bin"
  echo "  checksum=sha-256=$(sha "$D/o1.bin")"
  echo "$U/m/o2.bin"
  printf '\tchecksum=sha256=%s\n' "$(sha "$D/o3.bin")" # wrong: o3's digest
  echo "$U/m/o4.bin"
  echo " checksum=md5=$(md5sum "$D/o4.bin" | cut -c1-32)"
} >"$L"
pf_expect_exit 3 "-i FILE with one wrong checksum -> exit 3" in_w -q -i "$L"
good_list() { pf_same "$D/o1.bin" "$W/first.bin" && pf_same "$D/o4.bin" "$W/o4.bin" &&
  [ ! -e "$W/o2.bin" ] && only_output "$W" "$(printf 'first.bin\no4.bin')"; }
pf_check "-i FILE: out= names, checksums verified, the mismatched object absent" good_list
pf_check "-i FILE: the failure names the object and says checksum" \
  eval 'said "failed: o2.bin" && said "checksum"'

# --- -i - and dir= / -d ------------------------------------------------------------
fresh
mkdir -p "$W/sub" "$W/dd"
stdin_list() {
  printf '%s\n  dir=sub\n%s\n' "$U/m/o5.bin" "$U/m/o6.bin" | (cd "$W" && parfetch -q -d dd -i -)
}
pf_expect_exit 0 "-i - reads the list from stdin" stdin_list
pf_check "-i -: dir= wins over -d, -d places the rest" \
  eval 'pf_same "$D/o5.bin" "$W/sub/o5.bin" && pf_same "$D/o6.bin" "$W/dd/o6.bin"'

fresh
mkdir -p "$W/dd"
pf_expect_exit 0 "one URL with -d DIR -> exit 0" in_w -q -d dd "$U/m/o3.bin"
pf_check "one URL with -d DIR: the output is in DIR" pf_same "$D/o3.bin" "$W/dd/o3.bin"

# --- refusals before anything is downloaded --------------------------------------------
refused() { # NAME TAG EXPECTED-TEXT ARGS...
  local name=$1 tag=$2 text=$3
  shift 3
  fresh
  pf_expect_exit 2 "refused: $name -> exit 2" in_w -q "$@"
  pf_check "refused: $name: the message says why" said "$text"
  pf_check "refused: $name: no request made, nothing written" none_fetched "$tag"
}
refused "two URLs with the same name" r1 "same output" "$U/m/o1.bin?t=r1" "$U/m/o1.bin?x&t=r1"
printf '%s\n%s\n out=o1.bin\n' "$U/m/o1.bin?t=r2" "$U/m/o2.bin?t=r2" >"$PF_TMP/coll"
refused "out= colliding with a URL's name" r2 "same output" -i "$PF_TMP/coll"
printf '%s\n out=o1.bin\n%s\n out=o1.bin.pfpart\n' "$U/m/o1.bin?t=r11" "$U/m/o2.bin?t=r11" >"$PF_TMP/side"
refused "an out= that is another object's side file (OUTPUT.pfpart)" r11 "side file" -i "$PF_TMP/side"
printf '%s\n out=../escape.bin\n' "$U/m/o1.bin?t=r3" >"$PF_TMP/dotdot"
refused "out= with a '..' component" r3 "'..'" -i "$PF_TMP/dotdot"
printf '%s\n out=/tmp/pf-abs-%s.bin\n' "$U/m/o1.bin?t=r4" "$$" >"$PF_TMP/abs"
refused "an absolute out=" r4 "absolute" -i "$PF_TMP/abs"
refused "a URL named '..'" r5 "'.' or '..'" "$U/m/o1.bin?t=r5" "$U/m/..?t=r5"
refused "-o with several URLs" r6 "-o" -o x "$U/m/o1.bin?t=r6" "$U/m/o2.bin?t=r6"
refused "--mirror with several URLs" r10 "--mirror is for one URL" --mirror "$U/m/o3.bin?t=r10" \
  "$U/m/o1.bin?t=r10" "$U/m/o2.bin?t=r10"
printf '%s\n out=ok.bin\n  bogus\n' "$U/m/o1.bin?t=r7" >"$PF_TMP/syntax"
refused "an input-file syntax error" r7 "$PF_TMP/syntax:3:3:" -i "$PF_TMP/syntax"
printf '%s\n nope=1\n' "$U/m/o1.bin?t=r8" >"$PF_TMP/unknown"
refused "an unknown input-file option" r8 "$PF_TMP/unknown:2:2: unknown option 'nope'" -i "$PF_TMP/unknown"
printf '%s\n checksum=sha-256=abcd\n' "$U/m/o1.bin?t=r9" >"$PF_TMP/badsum"
refused "a checksum of the wrong length" r9 "$PF_TMP/badsum:2:11:" -i "$PF_TMP/badsum"
fresh
pf_expect_exit 2 "-i of a missing file -> exit 2" in_w -q -i "$PF_TMP/no-such-list"
pf_check "-i of a missing file: path and errno named" eval 'said no-such-list && said "No such file"'

# --- worst exit status, --keep-going ------------------------------------------------------
fresh
pf_expect_exit 1 "one 404 among good objects -> exit 1" \
  in_w -q "$U/m/o1.bin" "$U/m/missing.bin" "$U/m/o2.bin"
pf_check "one 404: the good objects are there, the missing one absent" \
  eval 'pf_same "$D/o1.bin" "$W/o1.bin" && pf_same "$D/o2.bin" "$W/o2.bin" && [ ! -e "$W/missing.bin" ]'
pf_check "one 404: the summary counts 2 done, 1 failed and names it" \
  eval 'said "2 done, 1 failed" && said "failed: missing.bin"'

fresh
pf_expect_exit 1 "without --keep-going (-j 1): a failure -> exit 1" \
  in_w -q -j 1 "$U/m/missing.bin?t=k1" "$U/m/o1.bin?t=k1" "$U/m/o2.bin?t=k1"
pf_check "without --keep-going: the objects after the failure were not started" \
  eval '[ "$(tag_count k1)" -eq 1 ] && only_output "$W" ""'
fresh
pf_expect_exit 1 "--keep-going (-j 1): a failure -> exit 1" \
  in_w -q -j 1 --keep-going "$U/m/missing.bin?t=k2" "$U/m/o1.bin?t=k2" "$U/m/o2.bin?t=k2"
pf_check "--keep-going: every object attempted, the good ones there" \
  eval 'pf_same "$D/o1.bin" "$W/o1.bin" && pf_same "$D/o2.bin" "$W/o2.bin"'
fresh
printf '%s\n checksum=sha1=%040d\n%s\n' "$U/m/o1.bin?t=k3" 0 "$U/m/missing.bin?t=k3" >"$PF_TMP/worst"
pf_expect_exit 3 "--keep-going: integrity (3) outranks remote (1)" in_w -q --keep-going -i "$PF_TMP/worst"

# --- -j N: at most N objects in flight ------------------------------------------------------
# objects_at_once TAG - the most objects tagged TAG in flight at one moment:
# each from its first request's start to its last request's end (nginx's
# msec and request_time), shrunk by 100 ms at both ends.
objects_at_once() {
  pf_tagged "$1" | awk -F '\t' -v tol=0.1 '
    { u = $4; s = $10 - $11; e = $10
      if (!(u in S) || s < S[u]) S[u] = s
      if (!(u in E) || e > E[u]) E[u] = e }
    END { max = 0
      for (i in S) { n = 0
        for (j in S) if (j == i || (S[j] + tol <= S[i] + tol && S[i] + tol < E[j] - tol)) n++
        if (n > max) max = n }
      print max }'
}
fresh
pf_expect_exit 0 "-j 2 -n 1: six slow objects -> exit 0" \
  in_w -q -j 2 -n 1 $(slow_urls 6 j2)
sleep 0.3
at_once=$(objects_at_once j2)
pf_note "-j 2: at most $at_once objects in flight"
pf_check "-j 2: at most 2 objects in flight, and 2 were (not one at a time)" [ "$at_once" -eq 2 ]
pf_check "-j 2: the six objects are bytes equal" same_slow 6

# --- the per-host budget is shared -----------------------------------------------------------
fresh
# Four objects of one 2-second stream each, all started at once (-j 4): they
# want 4 connections, the client's budget allows 3.
printf 'streams: 1\nmax_connections_per_host: 3\n' >"$PF_TMP/budget.yaml"
pf_expect_exit 0 "-j 4, a budget of 3 connections per host -> exit 0" \
  in_w -q -c "$PF_TMP/budget.yaml" -j 4 $(slow_urls 4 b3)
sleep 0.3
conns=$(pf_open_at_once b3)
pf_note "budget 3: at most $conns connections open at once, $(pf_tagged b3 | cut -f12 | sort -u | wc -l) in all"
pf_check "budget 3 shared by 4 objects: never more than 3 connections at once, and 3 were" [ "$conns" -eq 3 ]
pf_check "budget 3: the four objects are bytes equal" same_slow 4

# --- SIGINT with several objects in flight -----------------------------------------------------
fresh
interrupt() {
  (cd "$W" && exec "$PF_BIN" -q -j 3 $(slow_urls 6 int)) &
  local pid=$! rc
  sleep 1.5
  kill -INT "$pid"
  wait "$pid"
  rc=$?
  echo "exit $rc"
  [ "$rc" -eq 130 ] || return 1
  for i in 1 2 3 4 5 6; do
    [ ! -e "$W/s$i.bin" ] || { echo "s$i.bin left behind"; return 1; }
  done
}
pf_check "SIGINT with 3 objects in flight -> exit 130, no output file" interrupt
# -C after it: each object resumes its own side file; the second run fetches
# less than the six objects' bytes (nginx's body_bytes_sent).
before=$(pf_tagged int | wc -l)
pf_expect_exit 0 "-C after SIGINT: the six objects -> exit 0" \
  in_w -q -C -j 3 $(slow_urls 6 int)
resumed() {
  local sent
  sleep 0.3
  sent=$(pf_tagged int | tail -n +$((before + 1)) | awk -F '\t' '{ s += $7 } END { print s + 0 }')
  echo "second run: $sent bytes sent of $((6 * 327680))"
  same_slow 6 && only_output "$W" "$(printf 's%s.bin\n' 1 2 3 4 5 6 | head -c -1)" && [ "$sent" -lt $((6 * 327680)) ]
}
pf_check "-C after SIGINT: bytes equal, no side file left, the fetched bytes resumed" resumed

# --- the fault server: a reset mid-object is retried, the other objects unaffected ------------
. "$PF_ROOT/tests/fault/fault.sh"
"$PF_BUILD/fault_server" --size 900k --seed 3 --dump "$PF_TMP/fault.bin" || exit 1
pf_fault_start F --size 900k --seed 3 --fault reset:req=1,after=100k --quiet || { pf_done; exit 1; }
fresh
printf '%s\n%s\n  out=faulty.bin\n%s\n' "$U/m/o1.bin" "$F_URL/obj" "$U/m/o2.bin" >"$PF_TMP/faulty"
pf_expect_exit 0 "a TCP reset in one of three objects (fault server) -> exit 0" \
  in_w -q -c "$PF_TMP/budget.yaml" -i "$PF_TMP/faulty"
pf_check "the reset object and the others: bytes equal" \
  eval 'pf_same "$PF_TMP/fault.bin" "$W/faulty.bin" && pf_same "$D/o1.bin" "$W/o1.bin" && pf_same "$D/o2.bin" "$W/o2.bin"'
pf_check "the fault server did reset a request" eval 'pf_fault_wait F 2; grep -q "faults=reset" "$F_LOG"'

# --- the display ---------------------------------------------------------------------------------
# On a terminal (script(1) gives one): a line per running object and a total,
# redrawn in place (cursor up); elsewhere no escape sequence at all, a line
# per finished object and the summary.
ESC=$(printf '\033')
if command -v script >/dev/null 2>&1; then
  fresh
  (cd "$W" && script -qec "$PF_BIN -j 3 $(slow_urls 3 tty | tr '\n' ' ')" /dev/null </dev/null >"$PF_TMP/tty.out" 2>&1)
  board() {
    local t=$PF_TMP/tty.out
    grep -aq "${ESC}\[[0-9]*A" "$t" || { echo "no cursor-up in the output"; return 1; }
    for i in 1 2 3; do grep -aq "s$i.bin  *[0-9]*% " "$t" || { echo "no progress line for s$i.bin"; return 1; }; done
    grep -aq "total: [0-9] of 3 done, 0 failed, 3 active" "$t" || { echo "no total line with 3 active"; return 1; }
    grep -aq "total: 3 of 3 done, 0 failed, 0 active" "$t" || { echo "no final total"; return 1; }
    same_slow 3
  }
  pf_check "a terminal: a line per object and a total, redrawn in place; bytes equal" board
else
  pf_note "script(1) not found: the display on a terminal is not checked"
fi
fresh
pf_expect_exit 0 "not a terminal: three objects -> exit 0" in_w "$U/m/o1.bin" "$U/m/o2.bin" "$U/m/o3.bin"
plain() {
  ! grep -q "$ESC" <<<"$PF_LAST_OUT" || { echo "an escape sequence on a non-terminal"; return 1; }
  [ "$(grep -c '^parfetch: \[[1-3]/3\] done o[1-3].bin' <<<"$PF_LAST_OUT")" -eq 3 ] && said "3 objects: 3 done, 0 failed"
}
pf_check "not a terminal: no redraw, a line per finished object, the summary" plain

# --- --json with several objects ---------------------------------------------------------------
fresh
json_many() {
  local out rc
  out=$(cd "$W" && parfetch -q --json "$U/m/o1.bin" "$U/m/missing.bin" "$U/m/o2.bin" 2>/dev/null)
  rc=$?
  echo "exit $rc"; printf '%s\n' "$out"
  [ "$rc" -eq 1 ] && [ "$(printf '%s\n' "$out" | grep -c '^{"url":')" -eq 3 ] &&
    printf '%s\n' "$out" | grep -q '"output":"missing.bin".*"status":"http","exit_code":1' &&
    [ "$(printf '%s\n' "$out" | grep -c '"status":"ok","exit_code":0')" -eq 2 ]
}
pf_check "--json with three objects: one object a line each, the 404's status http" json_many

# --- mirrors ---------------------------------------------------------------------------------------
minor=$("$PF_BIN" -V 2>/dev/null | sed -n 's/^plugin .*(ABI 1\.\([0-9]*\))$/\1/p')
fresh
printf '%s\t%s\n' "$U/m/big.bin?t=mi" "$U/slow/m/big.bin?t=mi" >"$PF_TMP/mirrors"
if [ "${minor:-0}" -ge 4 ]; then
  pf_expect_exit 0 "mirrors on a TAB-separated line (plugin ABI 1.$minor) -> exit 0" in_w -q -i "$PF_TMP/mirrors"
  pf_check "mirrors: bytes equal" pf_same "$D/big.bin" "$W/big.bin"
else
  pf_expect_exit 2 "mirrors with a plugin of ABI 1.${minor:-?} -> exit 2" in_w -q -i "$PF_TMP/mirrors"
  pf_check "mirrors refused: the message names ABI 1.4, nothing fetched" \
    eval 'said "ABI 1.4" && none_fetched mi'
fi

pf_done
