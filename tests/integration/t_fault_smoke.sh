#!/usr/bin/env bash
# t_fault_smoke.sh - checks with curl that build/fault_server serves correct HTTP when no fault
# fires and that every fault does what fault_server --help says. Run from the repository root
# after `make build/fault_server`; BUILD (default build) selects the build directory. Builds
# nothing; every server and every curl is bounded in time; the temp dir and the servers go away
# on exit.
#
# Prints "ok - NAME" / "not ok - NAME" per check, then "t_fault_smoke.sh: N passed, N failed";
# exits 1 if anything failed.

# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/fault/fault.sh
. "$PF_ROOT/tests/fault/fault.sh"

FS="$PF_BUILD/fault_server"
pf_init || exit 1

if ! pf_check "$FS is built (make ${BUILD:-build}/fault_server)" test -x "$FS"; then
  pf_done
  exit 1
fi
if ! command -v curl >/dev/null 2>&1; then
  echo "ok - fault server smoke test # SKIP curl not installed"
  pf_done
  exit 0
fi

T=$PF_TMP
SIZE=300000
"$FS" --size "$SIZE" --seed 5 --dump "$T/v1" || exit 1
"$FS" --size "$SIZE" --seed 5 --dump "$T/v2" --dump-version 2 || exit 1

# c ARGS... : curl, quiet, no proxy, bounded; headers of the last response in $T/h, body in $T/b.
c() {
  rm -f "$T/h" "$T/b"
  curl -sS --noproxy '*' --max-time 20 -D "$T/h" -o "$T/b" "$@"
}
# hdr NAME : the value of header NAME in the last response of $T/h (exit 1 if absent).
hdr() {
  tr -d '\r' <"$T/h" | awk -v n="$(printf '%s' "$1" | tr '[:upper:]' '[:lower:]')" '
    /^HTTP\// { v = ""; found = 0 }
    { i = index($0, ":"); if (i && tolower(substr($0, 1, i - 1)) == n) { v = substr($0, i + 2); found = 1 } }
    END { if (found) print v; else exit 1 }'
}
status() { tr -d '\r' <"$T/h" | awk '/^HTTP\// { s = $2 } END { print s }'; }
size_of() { if [ -e "$1" ]; then stat -c %s -- "$1"; else echo 0; fi; }
slice() { tail -c +"$(($2 + 1))" "$1" | head -c "$3"; } # FILE OFFSET LENGTH
want() {                                                # WHAT GOT EXPECTED
  [ "$2" = "$3" ] && return 0
  echo "$1: got '$2', expected '$3'"
  return 1
}
now() { date +%s.%N; }
secs_between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
at_least() { awk -v x="$2" -v m="$3" 'BEGIN { exit !(x >= m) }' || { echo "$1: $2 < $3"; return 1; }; }

# ------------------------------------------------------------------ no faults

pf_check "self-test of the pure logic" "$FS" --self-test

t_plain() {
  pf_fault_start S --size "$SIZE" --seed 5 --port-file "$T/portfile" || return 1
  want "port file" "$(cat "$T/portfile")" "$S_PORT" &&
    c "$S_URL/some/object.bin" && want status "$(status)" 200 &&
    want "Content-Length" "$(hdr Content-Length)" "$SIZE" &&
    want "Accept-Ranges" "$(hdr Accept-Ranges)" bytes &&
    hdr ETag | grep -q '^"pf1-[0-9a-f]\{16\}"$' &&
    want "Last-Modified" "$(hdr Last-Modified)" "Tue, 14 Nov 2023 22:13:20 GMT" &&
    pf_same "$T/b" "$T/v1"
}
pf_check "GET: 200, whole object equal to --dump, port line = port file" t_plain

t_head() {
  c -I "$S_URL/head" && want status "$(status)" 200 &&
    want "Content-Length" "$(hdr Content-Length)" "$SIZE" && pf_fault_wait S 2 &&
    grep -q '^req=2 status=200 method=HEAD path=/head .* bytes=0 ' "$S_LOG"
}
pf_check "HEAD: 200, Content-Length, no body" t_head

t_range() { # RANGE FIRST LAST
  c -r "$1" "$S_URL/x" && want status "$(status)" 206 &&
    want "Content-Range" "$(hdr Content-Range)" "bytes $2-$3/$SIZE" &&
    want "Content-Length" "$(hdr Content-Length)" "$(($3 - $2 + 1))" &&
    cmp "$T/b" <(slice "$T/v1" "$2" "$(($3 - $2 + 1))")
}
pf_check "Range a-b: 206, exact Content-Range and bytes" t_range 1000-1999 1000 1999
pf_check "Range a-: 206 to the end" t_range 299000- 299000 299999
pf_check "Range -n: 206, the last n bytes" t_range -777 299223 299999
pf_check "Range a-b past the end: clipped" t_range 299990-400000 299990 299999

t_416() {
  c -r "$SIZE-" "$S_URL/x" && want status "$(status)" 416 &&
    want "Content-Range" "$(hdr Content-Range)" "bytes */$SIZE"
}
pf_check "Range past the end: 416, Content-Range bytes */total" t_416

t_multi() { c -r 0-9,20-29 "$S_URL/x" && want status "$(status)" 200 && pf_same "$T/b" "$T/v1"; }
pf_check "several ranges: 200 and the whole object" t_multi

t_if_range() {
  local etag lm
  c -I "$S_URL/x" && etag=$(hdr ETag) && lm=$(hdr Last-Modified) || return 1
  c -r 0-9 -H "If-Range: $etag" "$S_URL/x" && want "matching ETag" "$(status)" 206 &&
    c -r 0-9 -H 'If-Range: "pf1-0000000000000000"' "$S_URL/x" &&
    want "other ETag" "$(status)" 200 &&
    c -r 0-9 -H "If-Range: $lm" "$S_URL/x" && want "matching date" "$(status)" 206
}
pf_check "If-Range: 206 when it matches, 200 when not" t_if_range

t_stats() {
  # The server above has answered t_plain..t_if_range; count afresh on a new one.
  pf_fault_stop S || return 1
  pf_fault_start S --size "$SIZE" --seed 5 || return 1
  c "$S_URL/a" && c -r 0-99 "$S_URL/b" && c -I "$S_URL/c" && pf_fault_wait S 3 || return 1
  want requests "$(pf_fault_stat S requests)" 3 &&
    want bytes_sent "$(pf_fault_stat S bytes_sent)" "$((SIZE + 100))" &&
    want "log lines" "$(wc -l <"$S_LOG")" 3 &&
    want "log bytes" "$(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^bytes=/) s += substr($i, 7) } END { print s }' "$S_LOG")" \
      "$((SIZE + 100))" &&
    grep -q '^req=2 status=206 method=GET path=/b .* range=bytes=0-99 .* bytes=100 length=100 end=ok' "$S_LOG"
}
pf_check "accounting: /__stats and the log count requests and body bytes" t_stats

t_sigterm() { pf_fault_stop S && grep -q 'stopped (SIGTERM)' "$S_ERR"; }
pf_check "SIGTERM: exits 0" t_sigterm

t_max_requests() {
  pf_fault_start M --size 10 --max-requests 2 || return 1
  c "$M_URL/1" && c "$M_URL/2" || return 1
  for _ in $(seq 1 30); do
    kill -0 "$M_PID" 2>/dev/null || break
    sleep 0.1
  done
  ! kill -0 "$M_PID" 2>/dev/null && pf_fault_stop M && grep -q 'stopped (max-requests)' "$M_ERR"
}
pf_check "--max-requests: exits by itself" t_max_requests

t_ipv6() {
  pf_fault_start V --size 1000 --ipv6 || return 1
  c "http://[::1]:$V_PORT/x" && want status "$(status)" 200 && want size "$(size_of "$T/b")" 1000
}
if grep -qi '^0\{31\}1 ' /proc/net/if_inet6 2>/dev/null; then
  pf_check "--ipv6: also answers on [::1]" t_ipv6
else
  pf_note "no ::1 here; skipping the IPv6 check"
fi

# ------------------------------------------------------------------ faults

t_status() {
  pf_fault_start F --size "$SIZE" --seed 5 --fault status:code=503,req=1 \
    --fault status:code=429,retry-after=7,req=2 --fault status:code=500,req=3 \
    --fault status:code=429,ra-date=1,req=4 || return 1
  c "$F_URL/x" && want "1st status" "$(status)" 503 && want "Retry-After" "$(hdr Retry-After)" 1 &&
    c "$F_URL/x" && want "2nd status" "$(status)" 429 && want "Retry-After" "$(hdr Retry-After)" 7 &&
    c "$F_URL/x" && want "3rd status" "$(status)" 500 && ! hdr Retry-After &&
    c "$F_URL/x" && want "4th status" "$(status)" 429 && hdr Retry-After | grep -q ' GMT$' &&
    c "$F_URL/x" && want "5th status" "$(status)" 200 && pf_same "$T/b" "$T/v1"
}
pf_check "status: 503/429 with Retry-After, 500 without, then 200" t_status

t_reset() {
  local rc
  pf_fault_start F --size "$SIZE" --seed 5 --fault reset:after=100000,req=1 || return 1
  c "$F_URL/x"
  rc=$?
  want "curl exit (56 = receive error)" "$rc" 56 && want "bytes received" "$(size_of "$T/b")" 100000 &&
    pf_fault_wait F 1 && grep -q 'faults=reset bytes=100000 .* end=error' "$F_LOG" &&
    c "$F_URL/x" && pf_same "$T/b" "$T/v1"
}
pf_check "reset: RST after exactly B bytes (curl 56), next request whole" t_reset

t_close_early() {
  local rc
  pf_fault_start F --size "$SIZE" --seed 5 --fault close-early:after=12345,first=1 || return 1
  c "$F_URL/x"
  rc=$?
  want "curl exit (18 = partial file)" "$rc" 18 && want "bytes received" "$(size_of "$T/b")" 12345 &&
    want "Content-Length" "$(hdr Content-Length)" "$SIZE" &&
    cmp "$T/b" <(head -c 12345 "$T/v1")
}
pf_check "close-early: FIN after B bytes though Content-Length promised more (curl 18)" t_close_early

t_stall() {
  local t0 t1 rc
  pf_fault_start F --size "$SIZE" --seed 5 --fault stall:after=50000,secs=1.2,req=1 \
    --fault stall:after=2000,secs=0.3,then=reset,req=2 || return 1
  t0=$(now)
  c "$F_URL/x" || return 1
  t1=$(now)
  at_least "stall seconds" "$(secs_between "$t0" "$t1")" 1.1 && pf_same "$T/b" "$T/v1" || return 1
  c "$F_URL/x"
  rc=$?
  want "then=reset: curl exit" "$rc" 56 && want "bytes before reset" "$(size_of "$T/b")" 2000
}
pf_check "stall: pauses T s then continues; then=reset resets" t_stall

t_stall_timeout() {
  local rc
  pf_fault_start F --size "$SIZE" --fault stall:after=1000,secs=30,req=1 || return 1
  curl -sS --noproxy '*' --max-time 20 -y 1 -Y 1 -o "$T/b" "$F_URL/x"
  rc=$?
  want "curl exit (28 = too slow)" "$rc" 28 && want "bytes before the stall" "$(size_of "$T/b")" 1000
}
pf_check "stall: a client with a stall timeout gives up after B bytes" t_stall_timeout

t_trickle() {
  local t0 t1
  pf_fault_start F --size 60000 --seed 5 --fault trickle:rate=60000,req=2 || return 1
  "$FS" --size 60000 --seed 5 --dump "$T/small" || return 1
  t0=$(now) && c "$F_URL/x" && t1=$(now) || return 1
  awk -v s="$(secs_between "$t0" "$t1")" 'BEGIN { exit !(s < 0.5) }' || {
    echo "untrickled request took $(secs_between "$t0" "$t1") s"
    return 1
  }
  t0=$(now) && c "$F_URL/x" && t1=$(now) || return 1
  at_least "trickled seconds (60000 B at 60000 B/s)" "$(secs_between "$t0" "$t1")" 0.85 &&
    pf_same "$T/b" "$T/small"
}
pf_check "trickle: only the selected request crawls at R bytes/s" t_trickle

t_ignore_range() {
  pf_fault_start F --size "$SIZE" --seed 5 --fault ignore-range:req=1 \
    --fault ignore-range:req=2,accept-ranges=0 || return 1
  c -r 100-199 "$F_URL/x" && want status "$(status)" 200 && ! hdr Content-Range &&
    want "Accept-Ranges" "$(hdr Accept-Ranges)" bytes && pf_same "$T/b" "$T/v1" &&
    c -r 100-199 "$F_URL/x" && want status "$(status)" 200 && ! hdr Accept-Ranges &&
    c -r 100-199 "$F_URL/x" && want "3rd status" "$(status)" 206
}
pf_check "ignore-range: 200 + whole body to a Range (with/without Accept-Ranges)" t_ignore_range

t_bad_cr() {
  pf_fault_start F --size "$SIZE" --seed 5 --fault bad-content-range:req=1 \
    --fault bad-content-range:req=2,mode=end,delta=10 --fault bad-content-range:req=3,mode=total \
    --fault bad-content-range:req=4,mode=lie,delta=100 || return 1
  c -r 1000-1999 "$F_URL/x" && want status "$(status)" 206 &&
    want "shift" "$(hdr Content-Range)" "bytes 1001-2000/$SIZE" &&
    cmp "$T/b" <(slice "$T/v1" 1001 1000) &&
    c -r 1000-1999 "$F_URL/x" && want "end" "$(hdr Content-Range)" "bytes 1000-1989/$SIZE" &&
    want "end: body" "$(size_of "$T/b")" 990 &&
    c -r 1000-1999 "$F_URL/x" && want "total" "$(hdr Content-Range)" "bytes 1000-1999/$((SIZE + 1))" &&
    c -r 1000-1999 "$F_URL/x" && want "lie" "$(hdr Content-Range)" "bytes 1100-2099/$SIZE" &&
    cmp "$T/b" <(slice "$T/v1" 1000 1000)
}
pf_check "bad-content-range: shift, end, total, lie" t_bad_cr

t_wrong_length() {
  pf_fault_start F --size "$SIZE" --seed 5 --fault wrong-length:req=1 \
    --fault wrong-length:req=2,mode=long,delta=50 || return 1
  c -r 0-999 "$F_URL/x" && want "Content-Range" "$(hdr Content-Range)" "bytes 0-999/$SIZE" &&
    want "short Content-Length" "$(hdr Content-Length)" 500 && want "short body" "$(size_of "$T/b")" 500 &&
    c -r 0-999 "$F_URL/x" && want "Content-Range" "$(hdr Content-Range)" "bytes 0-999/$SIZE" &&
    ! hdr Content-Length && want "long body" "$(size_of "$T/b")" 1050
}
pf_check "wrong-length: body shorter / longer than Content-Range" t_wrong_length

t_change() {
  local e1 e2
  pf_fault_start F --size "$SIZE" --seed 5 --fault change:after=2 || return 1
  c -I "$F_URL/x" && e1=$(hdr ETag) && c "$F_URL/x" && pf_same "$T/b" "$T/v1" || return 1
  c -I "$F_URL/x" && e2=$(hdr ETag) || return 1
  [ "$e1" != "$e2" ] || { echo "ETag did not change: $e1"; return 1; }
  want "new Last-Modified" "$(hdr Last-Modified)" "Wed, 15 Nov 2023 22:13:20 GMT" &&
    c "$F_URL/x" && pf_same "$T/b" "$T/v2" && want version "$(pf_fault_stat F version)" 2
}
pf_check "change: after N requests other bytes (= --dump-version 2) and ETag" t_change

t_redirect() {
  pf_fault_start F --size "$SIZE" --seed 5 --fault redirect:first=2 || return 1
  c "$F_URL/dir/obj" && want status "$(status)" 302 &&
    want Location "$(hdr Location)" "http://localhost:$F_PORT/dir/obj?r=1" || return 1
  c -L -H 'Authorization: Bearer secret' -H 'Cookie: s=1' "$F_URL/dir/obj" || return 1
  want "final status" "$(status)" 200 && pf_same "$T/b" "$T/v1" && pf_fault_wait F 3 || return 1
  # curl, like parfetch should, drops Authorization and Cookie on the other host name.
  grep -q '^req=2 status=302 .* host=127.0.0.1:[0-9]* .* auth=1 cookie=1 ' "$F_LOG" &&
    grep -q '^req=3 status=200 .*query=r=1 host=localhost:[0-9]* .* auth=0 cookie=0 ' "$F_LOG"
}
pf_check "redirect: 302 127.0.0.1 -> localhost; log shows which headers arrived" t_redirect

t_redirect_loop() {
  local rc
  pf_fault_start F --size 100 --fault redirect:loop=1 || return 1
  c -L --max-redirs 5 "$F_URL/x"
  rc=$?
  want "curl exit (47 = too many redirects)" "$rc" 47
}
pf_check "redirect loop=1: never ends (curl gives up)" t_redirect_loop

t_chunked() {
  pf_fault_start F --size "$SIZE" --seed 5 --fault chunked || return 1
  c "$F_URL/x" && want "Transfer-Encoding" "$(hdr Transfer-Encoding)" chunked && ! hdr Content-Length &&
    pf_same "$T/b" "$T/v1" &&
    c -r 10-19 "$F_URL/x" && want status "$(status)" 206 && want "Transfer-Encoding" "$(hdr Transfer-Encoding)" chunked &&
    cmp "$T/b" <(slice "$T/v1" 10 10)
}
pf_check "chunked: Transfer-Encoding chunked, no Content-Length, right bytes" t_chunked

t_error_page() {
  pf_fault_start F --size "$SIZE" --seed 5 --fault error-page:req=1 --fault error-page:req=2,code=206,len=1000 || return 1
  c "$F_URL/x" && want status "$(status)" 200 && want type "$(hdr Content-Type)" text/html &&
    grep -q '<html>' "$T/b" && [ "$(size_of "$T/b")" -lt "$SIZE" ] &&
    c -r 0-4999 "$F_URL/x" && want status "$(status)" 206 &&
    want "Content-Range" "$(hdr Content-Range)" "bytes 0-4999/$SIZE" && want size "$(size_of "$T/b")" 1000
}
pf_check "error-page: HTML of the wrong size as 200 or 206" t_error_page

t_combined() {
  local rc
  # Several at once: the 1st ranged GET is shifted AND reset; the 2nd gets a 503.
  pf_fault_start F --size "$SIZE" --seed 5 --fault bad-content-range:first=1 \
    --fault reset:after=300,req=1 --fault status:req=2 || return 1
  c -r 0-999 "$F_URL/x"
  rc=$?
  want "curl exit" "$rc" 56 && want "X-Fault" "$(hdr X-Fault)" bad-content-range,reset &&
    cmp "$T/b" <(slice "$T/v1" 1 300) &&
    c "$F_URL/x" && want "2nd" "$(status)" 503
}
pf_check "faults combine: bad-content-range + reset, then status" t_combined

t_parallel() {
  local i part=$((SIZE / 6)) pids=() rc=0 first last
  pf_fault_start F --size "$SIZE" --seed 5 --fault trickle:rate=200k,req=2 || return 1
  for i in 0 1 2 3 4 5; do
    first=$((i * part))
    last=$((i == 5 ? SIZE - 1 : first + part - 1))
    curl -sS --noproxy '*' --max-time 20 -r "$first-$last" -o "$T/part.$i" "$F_URL/x" &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || rc=1; done
  [ "$rc" -eq 0 ] && cat "$T"/part.[0-5] >"$T/joined" && pf_same "$T/joined" "$T/v1" &&
    pf_fault_wait F 6 && want bytes_sent "$(pf_fault_stat F bytes_sent)" "$SIZE" &&
    want "trickled requests" "$(grep -c 'faults=trickle' "$F_LOG")" 1
}
pf_check "6 parallel ranged GETs (one trickled) join to the object" t_parallel

t_bad_spec() { ! "$FS" --size 1 --fault reset:rate=5 2>"$T/err" && grep -q "does not apply" "$T/err"; }
pf_check "a bad --fault is refused with a reason" t_bad_spec

t_clean_exit() {
  local v rc=0
  for v in S M V F; do
    pf_fault_stop "$v" || { echo "server $v exited $?"; rc=1; }
  done
  if grep -l -E 'Sanitizer|runtime error:' "$T"/fault.*/stderr; then
    grep -h -A 20 -E 'Sanitizer|runtime error:' "$T"/fault.*/stderr | head -n 60
    rc=1
  fi
  return "$rc"
}
pf_check "every server exited 0 on SIGTERM, no sanitizer report" t_clean_exit

pf_done
