#!/usr/bin/env bash
# t_mirror.sh - one object from several URLs (--mirror, ABI 1.4; issue 12,
# item 3). One nginx listens on 127.0.0.1, 127.0.0.2 and 127.0.0.3 (three
# host names to the client: three connection budgets) and serves the same
# file; its second access log names the address each request came to, its
# connection and its Authorization header.
#
#   - good mirrors: bytes equal, every address served ranged requests;
#   - a mirror whose object changes: never its second version's bytes;
#   - the main URL failing mid-way: the mirror finishes; with it failing too, exit 1;
#   - a mirror answering 404, one with another size, one without ranges, one
#     refusing connections: each dropped (-v says why), the download correct;
#   - mirrors serving other bytes of the same size with --checksum: exit 3, no
#     output, an existing output untouched, the message names the sources;
#   - max_connections_per_host never exceeded on any address;
#   - a slow mirror (128 KiB/s) does not hold the download back;
#   - credential headers never go to a mirror on another host;
#   - -o - with mirrors: bytes equal.
#
# Env: BUILD (default build), PF_QUICK.
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/fault/fault.sh
. "$(dirname "$0")/../fault/fault.sh"
pf_init || exit 1
pf_isolate_config
PF_CMD_TIMEOUT=60
T=$PF_TMP
MiB=$((1024 * 1024))
MLOG="$T/mirror.log"

# shellcheck disable=SC2016 # nginx variables
PF_NGINX_HTTP_EXTRA='    log_format mir "$server_addr\t$request_uri\t$status\t$http_range\t$connection\t$msec\t$request_time\t$http_authorization";'
PF_NGINX_SERVER_EXTRA="
        listen 127.0.0.2:@HTTP_PORT@;
        listen 127.0.0.3:@HTTP_PORT@;
        access_log $T/nginx/access.log pf;
        access_log $MLOG mir;
        location /other/ { alias $T/other/; }
        location /evil/ { alias $T/evil/; }
        location /redir/ { return 302 /obj.bin\$is_args\$args; }
        location /redir3/ { return 302 http://127.0.0.3:@HTTP_PORT@/obj.bin\$is_args\$args; }
"
mkdir -p "$T/other" "$T/evil" "$T/out"
pf_check "nginx starts on 127.0.0.1-3" pf_nginx_start || { pf_done; exit 1; }
P=$PF_HTTP_PORT
D=$PF_DOCROOT
pf_check "test files are made" eval 'pf_mkfile "$D/obj.bin" $((8 * MiB)) &&
  pf_mkfile "$T/other/obj.bin" $((8 * MiB + 1)) other &&
  pf_mkfile "$T/evil/obj.bin" $((8 * MiB)) evil &&
  pf_mkfile "$D/small.bin" $((3 * MiB / 2))' || { pf_done; exit 1; }
SUM=$(sha256sum "$D/obj.bin" | cut -d' ' -f1)
u() { echo "http://127.0.0.$1:$P$2"; } # u N PATH

# mlines TAG - the mirror log's lines for requests tagged ?t=TAG
mlines() { awk -F '\t' -v t="t=$1" 'index($2, t) && substr($2, length($2) - length(t) + 1) == t' "$MLOG"; }
# ranged_at TAG ADDR - 206 replies to ADDR for TAG
ranged_at() { mlines "$1" | awk -F '\t' -v a="$2" '$1 == a && $3 == 206' | wc -l; }
# at_once TAG ADDR - the most connections to ADDR that carried TAG's requests
# open at the same moment: each from the start of its first request to the
# end of its last, shrunk by 20 ms at both ends for the log's rounding
at_once() { mlines "$1" | awk -F '\t' -v a="$2" '$1 == a' | pf_at_once_of 6 7 5; }
# says TEXT REGEX
says() { grep -q -E -- "$2" <<<"$1"; }
# under SECS LIMIT
under() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

# -- good mirrors: the parts spread over all three addresses
pf_expect_exit 0 "three sources: exit 0" parfetch -q -v -n 8 --min-part-size 512K \
  --mirror "$(u 2 /obj.bin?t=good)" --mirror "$(u 3 /obj.bin?t=good)" \
  -o "$T/out/good" "$(u 1 /obj.bin?t=good)"
pf_check "three sources: bytes equal" pf_same "$D/obj.bin" "$T/out/good"
pf_log_wait /obj.bin?t=good 3 >/dev/null
for a in 1 2 3; do
  n=$(ranged_at good 127.0.0.$a)
  pf_check "three sources: 127.0.0.$a served ranged requests ($n)" test "$n" -ge 1
done

# -- failing mirrors: each dropped, the primary and the good one finish
# a loopback port the kernel just freed: nothing listens there
closed=$(perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 1)->sockport')
pf_expect_exit 0 "bad mirrors: exit 0" parfetch -q -v -n 8 --min-part-size 512K \
  --mirror "$(u 2 /missing.bin?t=bad)" --mirror "$(u 3 /other/obj.bin?t=bad)" \
  --mirror "$(u 2 /norange/obj.bin?t=bad)" --mirror "http://127.0.0.1:$closed/obj.bin?t=bad" \
  --mirror "$(u 3 /obj.bin?t=bad)" -o "$T/out/bad" "$(u 1 /obj.bin?t=bad)"
pf_check "bad mirrors: bytes equal" pf_same "$D/obj.bin" "$T/out/bad"
out=$PF_LAST_OUT
pf_check "bad mirrors: the 404 one dropped" says "$out" "mirror .*missing\.bin.* dropped: .*404"
pf_check "bad mirrors: the other size dropped" says "$out" "mirror .*other/obj\.bin.* dropped: .*$((8 * MiB + 1))"
pf_check "bad mirrors: the one without ranges dropped" says "$out" "mirror .*norange/obj\.bin.* dropped"
pf_check "bad mirrors: the refusing one dropped" says "$out" "mirror .*:$closed/obj\.bin.* dropped"
pf_check "bad mirrors: the good mirror not dropped" bash -c '! grep -qE "mirror .*127\.0\.0\.3:'"$P"'/obj\.bin.* dropped" <<<"$1"' _ "$out"

# -- every mirror fails: the primary alone finishes
pf_expect_exit 0 "all mirrors bad: exit 0" parfetch -q -v -n 8 --min-part-size 512K \
  --mirror "$(u 2 /missing.bin?t=allbad)" --mirror "http://127.0.0.1:$closed/obj.bin?t=allbad" \
  -o "$T/out/allbad" "$(u 1 /obj.bin?t=allbad)"
pf_check "all mirrors bad: bytes equal" pf_same "$D/obj.bin" "$T/out/allbad"
pf_check "all mirrors bad: both dropped" eval '[ "$(grep -c "mirror .* dropped" <<<"$PF_LAST_OUT")" -eq 2 ]'

# -- the main URL fails after the probe (the fault server: 503 from its third request on,
# retries exhausted) while a mirror is fine: the mirror finishes; with every mirror
# failing too, the download fails (exit 1) and says why
if pf_fault_start PRIMARY --file "$D/obj.bin" --fault status:code=503,req=3-,retry-after=none --quiet; then
  pf_expect_exit 0 "main URL fails mid-way, a good mirror: exit 0" parfetch -q -v -n 4 \
    --min-part-size 512K --retries 2 --mirror "$(u 2 /obj.bin?t=primfail)" \
    -o "$T/out/primfail" "$PRIMARY_URL/obj.bin"
  pf_check "main URL fails mid-way, a good mirror: bytes equal" pf_same "$D/obj.bin" "$T/out/primfail"
  pf_check "main URL fails mid-way, a good mirror: -v says the main URL was dropped" \
    says "$PF_LAST_OUT" "$PRIMARY_URL/obj\.bin dropped: .*503"
  pf_expect_exit 1 "main URL fails mid-way, the mirror too: exit 1" parfetch -q -n 4 \
    --min-part-size 512K --retries 2 --mirror "$(u 2 /missing.bin?t=primfail2)" \
    -o "$T/out/primfail2" "$PRIMARY_URL/obj.bin"
  pf_check "main URL fails mid-way, the mirror too: the error names the 503" \
    says "$PF_LAST_OUT" "HTTP 503 from $PRIMARY_URL/obj\.bin"
  pf_check "main URL fails mid-way, the mirror too: no output" test ! -e "$T/out/primfail2"
  pf_fault_stop PRIMARY
else
  pf_check "the fault server starts (make testbins)" false
fi

# -- other bytes of the same size, with a checksum: never a wrong file
echo "keep me" >"$T/out/evil"
pf_expect_exit 3 "different bytes + checksum: exit 3" parfetch -q -n 8 --min-part-size 512K \
  --checksum "sha256=$SUM" --mirror "$(u 2 /evil/obj.bin?t=evil)" \
  --mirror "$(u 3 /evil/obj.bin?t=evil)" -o "$T/out/evil" "$(u 1 /obj.bin?t=evil)"
pf_check "different bytes + checksum: the message names the sources" \
  says "$PF_LAST_OUT" "127\.0\.0\.2:$P/evil/obj\.bin"
pf_check "different bytes + checksum: the existing output untouched" \
  eval '[ "$(cat "$T/out/evil")" = "keep me" ]'
pf_expect_exit 3 "different bytes + checksum, no output yet: exit 3" parfetch -q -n 8 \
  --min-part-size 512K --checksum "sha256=$SUM" --mirror "$(u 2 /evil/obj.bin?t=evil2)" \
  -o "$T/out/evil2" "$(u 1 /obj.bin?t=evil2)"
pf_check "different bytes + checksum: nothing at the output path" \
  eval '! ls "$T/out/" | grep -q evil2'

# -- the budget per host: never more than max_connections_per_host on one address
printf 'streams: 8\nmax_connections_per_host: 2\n' >"$T/budget.yaml"
pf_expect_exit 0 "budget 2 per host: exit 0" parfetch -q -c "$T/budget.yaml" \
  --min-part-size 128K --mirror "$(u 2 /slow/small.bin?t=budget)" \
  --mirror "$(u 3 /slow/small.bin?t=budget)" -o "$T/out/budget" "$(u 1 /slow/small.bin?t=budget)"
pf_check "budget 2 per host: bytes equal" pf_same "$D/small.bin" "$T/out/budget"
sleep 0.3
for a in 1 2 3; do
  c=$(at_once budget 127.0.0.$a)
  pf_check "budget 2 per host: 127.0.0.$a had 1 or 2 connections open at once ($c)" \
    test "$c" -ge 1 -a "$c" -le 2
done

# -- slow mirrors do not hold the download back: nginx's /slow/ (128 KiB/s a request), and
# two of the fault server, one trickling (16 KB/s), one that sends its headers and then
# nothing for 30 s. Alone, the slow one's first part (1 MiB) would take 7 s, the trickling
# one's a minute.
slow_ones=slow
pf_check "the fault servers start (make testbins)" eval 'pf_fault_start TRICKLE --file "$D/obj.bin" \
  --fault trickle:rate=16k --quiet && pf_fault_start STALL --file "$D/obj.bin" \
  --fault stall:after=0,secs=30,then=close --quiet' && slow_ones="slow TRICKLE STALL"
for m in $slow_ones; do
  case $m in
    slow) murl=$(u 2 /slow/obj.bin?t=slow) limit=5 ;;
    TRICKLE) murl=$TRICKLE_URL/obj.bin limit=8 ;;
    STALL) murl=$STALL_URL/obj.bin limit=8 ;;
  esac
  t0=$EPOCHREALTIME
  pf_expect_exit 0 "$m mirror: exit 0" parfetch -q -v -n 8 --min-part-size 512K \
    --mirror "$murl" -o "$T/out/$m" "$(u 1 /obj.bin?t=$m)"
  t1=$EPOCHREALTIME
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  pf_check "$m mirror: bytes equal" pf_same "$D/obj.bin" "$T/out/$m"
  pf_check "$m mirror: done in ${secs} s (< $limit s)" under "$secs" "$limit"
done
[ "$slow_ones" = slow ] ||
  pf_check "STALL mirror: dropped (-v says so)" says "$PF_LAST_OUT" "mirror .*:$STALL_PORT/obj\.bin dropped: no byte"

# -- a mirror whose object changes after its first request (the fault server's change:
# every later reply is another version of the same size): its second version's bytes
# never reach the file, whichever of its replies arrives first. Three rounds: with
# several requests to the mirror at once, one round alone could pass by luck.
if [ "$slow_ones" != slow ]; then
  for r in 1 2 3; do
    pf_fault_start CHANGE --file "$D/obj.bin" --fault change:after=1 --quiet
    pf_expect_exit 0 "changing mirror, round $r: exit 0" parfetch -q -v -n 8 \
      --min-part-size 256K --mirror "$CHANGE_URL/obj.bin" -o "$T/out/change$r" \
      "$(u 1 /obj.bin?t=change$r)"
    pf_check "changing mirror, round $r: bytes equal" pf_same "$D/obj.bin" "$T/out/change$r"
    pf_fault_stop CHANGE
  done
fi

# -- credentials stay on the primary's host
pf_expect_exit 0 "credentials: exit 0" parfetch -q -n 4 --min-part-size 512K \
  -H 'Authorization: Bearer sekrit' --mirror "$(u 2 /obj.bin?t=cred)" \
  -o "$T/out/cred" "$(u 1 /obj.bin?t=cred)"
pf_check "credentials: bytes equal" pf_same "$D/obj.bin" "$T/out/cred"
sleep 0.3
n2=$(ranged_at cred 127.0.0.2)
pf_check "credentials: the mirror served parts ($n2)" test "$n2" -ge 1
leaked=$(mlines cred | awk -F '\t' '$1 == "127.0.0.2" && $8 != "-"' | wc -l)
pf_check "credentials: none sent to the mirror on another host ($leaked)" test "$leaked" -eq 0
sent=$(mlines cred | awk -F '\t' '$1 == "127.0.0.1" && $8 == "Bearer sekrit"' | wc -l)
pf_check "credentials: sent to the primary ($sent)" test "$sent" -ge 1

# -- a mirror's redirects are followed; credentials not to another host it leads to
pf_expect_exit 0 "redirecting mirrors: exit 0" parfetch -q -v -n 6 --min-part-size 512K \
  -H 'Authorization: Bearer sekrit' --mirror "$(u 2 /redir/obj.bin?t=redir)" \
  --mirror "$(u 1 /redir3/obj.bin?t=redir)" -o "$T/out/redir" "$(u 1 /obj.bin?t=redir)"
pf_check "redirecting mirrors: bytes equal" pf_same "$D/obj.bin" "$T/out/redir"
pf_check "redirecting mirrors: the redirects followed" \
  says "$PF_LAST_OUT" "mirror .*/redir3/obj\.bin.*: redirect 302 to http://127\.0\.0\.3:$P/obj\.bin.*credentials withheld"
sleep 0.3
for a in 2 3; do
  n=$(ranged_at redir 127.0.0.$a)
  pf_check "redirecting mirrors: 127.0.0.$a served parts where the redirect led ($n)" test "$n" -ge 1
done
leaked=$(mlines redir | awk -F '\t' '$1 == "127.0.0.3" && $8 != "-"' | wc -l)
pf_check "redirecting mirrors: no credentials to the other host ($leaked)" test "$leaked" -eq 0

# -- in order to stdout
pf_check "stdout with a mirror: bytes equal" eval 'parfetch -q -n 4 --min-part-size 512K \
  --mirror "$(u 2 /obj.bin?t=stdout)" -o - "$(u 1 /obj.bin?t=stdout)" >"$T/out/stdout" &&
  pf_same "$D/obj.bin" "$T/out/stdout"'
pf_log_wait /obj.bin?t=stdout 2 >/dev/null
n=$(ranged_at stdout 127.0.0.2)
pf_check "stdout with a mirror: the mirror served ranged requests too ($n)" test "$n" -ge 1

# -- in order, mirrors that go quiet: two fault-server mirrors serve their first reply, then
# send 20 KB of each later one and nothing for 30 s; the main URL trickles (200 KB/s a
# request) from its fourth request on. A mirror with no byte must not keep the rate it had
# while it was fast: else the main URL looks 4 x slower than it, the streams on the main
# URL end ("no source may have it (slow)"), and the stalled head waits for stall_timeout
# (20 s a mirror: 25-48 s in all before). The main URL alone: 3 MiB on 2 streams, about 8 s.
if pf_mkfile "$D/quiet.bin" $((3 * MiB)) &&
  pf_fault_start QMAIN --file "$D/quiet.bin" --fault trickle:rate=200k,req=4- --quiet &&
  pf_fault_start QM1 --file "$D/quiet.bin" --fault stall:after=20k,secs=30,then=reset,req=3- --quiet &&
  pf_fault_start QM2 --file "$D/quiet.bin" --fault stall:after=20k,secs=30,then=reset,req=3- --quiet; then
  printf 'streams: 8\nmax_connections_per_host: 2\nstream_window: 1MiB\nchunk_size: 16KiB\n' >"$T/quiet.yaml"
  t0=$EPOCHREALTIME
  pf_check "quiet mirrors, stdout: bytes equal" eval 'parfetch -q -c "$T/quiet.yaml" \
    --mirror "$QM1_URL/quiet.bin" --mirror "$QM2_URL/quiet.bin" -o - "$QMAIN_URL/quiet.bin" \
    >"$T/out/quiet" && pf_same "$D/quiet.bin" "$T/out/quiet"'
  t1=$EPOCHREALTIME
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  pf_check "quiet mirrors, stdout: done in ${secs} s (< 18 s)" under "$secs" 18
  pf_fault_stop QMAIN; pf_fault_stop QM1; pf_fault_stop QM2
else
  pf_check "quiet mirrors: the fault servers start (make testbins)" false
fi

# -- usage
pf_expect_exit 2 "--mirror with an empty URL: exit 2" parfetch -q --mirror "" -o "$T/out/x" "$(u 1 /obj.bin)"
pf_expect_exit 2 "--mirror with a malformed URL: exit 2" parfetch -q --mirror "nota url" -o "$T/out/x" "$(u 1 /obj.bin)"

pf_done
