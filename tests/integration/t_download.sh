#!/usr/bin/env bash
# t_download.sh - build/parfetch against a real nginx on loopback: plain HTTP,
# HTTPS with a throwaway CA and HTTP/2; awkward sizes compared byte for byte;
# parallelism seen in nginx's access log; TLS verification; checksums; stdout;
# failures that must leave the output path alone; servers that ignore Range or
# send no length; config discovery and drop-ins; exit codes of bad input.
#
# Env: BUILD (default build), PF_QUICK=1 skips the 256 MiB files.
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
pf_init || exit 1
pf_isolate_config

pf_check "parfetch binary exists at $PF_BIN" test -x "$PF_BIN" || { pf_done; exit 1; }
pf_check "nginx serves HTTP/1.1, HTTPS and HTTP/2 on 127.0.0.1" pf_nginx_start || { pf_done; exit 1; }
pf_note "nginx: $PF_HTTP_URL $PF_HTTPS_URL $PF_H2_URL"

D=$PF_DOCROOT
W="$PF_TMP/work"
mkdir -p "$W"
MiB=$((1024 * 1024))

# ------------------------------------------------------------------ helpers


# outdir TAG - a fresh, empty directory for one run (sets $od).
dir_of() { echo "$W/${1//[^A-Za-z0-9.+=-]/_}"; }
outdir() {
  od=$(dir_of "$1")
  rm -rf -- "$od"
  mkdir -p -- "$od"
}

# fetch_ok TAG URL SRC [OPTIONS...] - exit 0, same bytes as SRC, no side file.
fetch_ok() {
  local tag=$1 url=$2 src=$3
  shift 3
  outdir "$tag"
  pf_expect_exit 0 "$tag: exit 0" parfetch "$@" -o "$od/out" "$url"
  pf_check "$tag: output equals the source byte for byte" pf_same "$src" "$od/out"
  pf_check "$tag: no side file (out.pfpart*) left next to the output" only_output "$od" out
}

# start_fetch TAG URL [OPTIONS...] - parfetch (with the current PF_ENV) in the
# background, writing $W/TAG/out; finish_fetch TAG NAME SRC waits for it and
# checks like fetch_ok.
declare -A BG_PID=() BG_DIR=()
start_fetch() {
  local tag=$1 url=$2
  shift 2
  outdir "$tag"
  parfetch "$@" -o "$od/out" "$url" >"$od.log" 2>&1 </dev/null &
  BG_PID[$tag]=$!
  BG_DIR[$tag]=$od
}
replay() { # LOG RC - show a background run's output, return its status
  cat -- "$1"
  return "$2"
}
finish_fetch() {
  local tag=$1 name=$2 src=$3 rc=0 d=${BG_DIR[$1]}
  wait "${BG_PID[$tag]}" || rc=$?
  pf_expect_exit 0 "$name: exit 0" replay "$d.log" "$rc"
  pf_check "$name: output equals the source byte for byte" pf_same "$src" "$d/out"
  pf_check "$name: no side file (out.pfpart*) left next to the output" only_output "$d" out
}
# concurrency_eq URI N - at most N requests for URI ran at once, and N did
# (pf_log_concurrency; use it on /slow/).
concurrency_eq() {
  pf_log_wait "$1" "$2"
  local got
  got=$(pf_log_concurrency "$1")
  [ "$got" -eq "$2" ] && return 0
  echo "expected $2 requests for $1 at once at most and at least once, measured $got; access log:"
  pf_log_lines "$1"
  return 1
}
# from_zero_once URI [PORT] - exactly one request asked for a range from byte 0
# (the probe, "bytes=0-N"): its bytes were not fetched a second time.
from_zero_once() {
  pf_log_wait "$1" 1 "${2:-}"
  local got
  got=$(pf_log_lines "$1" "${2:-}" | awk -F '\t' '$6 ~ /^bytes=0-/' | wc -l)
  [ "$got" -eq 1 ] && return 0
  echo "expected one request from byte 0 for $1, got $got; access log:"
  pf_log_lines "$1" "${2:-}"
  return 1
}
# ranges_ge URI N [PORT] - at least N distinct 206 Range requests.
ranges_ge() {
  pf_log_wait "$1" "$2" "${3:-}"
  local got
  got=$(pf_log_ranges "$1" "${3:-}" | wc -l)
  [ "$got" -ge "$2" ] && return 0
  echo "expected at least $2 distinct ranged (206) requests for $1, got $got; access log:"
  pf_log_lines "$1" "${3:-}"
  return 1
}
# requests_eq URI N [PORT] - exactly N requests in the access log for URI.
requests_eq() {
  pf_log_wait "$1" "$2" "${3:-}"
  sleep 0.2 # a request beyond N would show up in this window
  local got
  got=$(pf_log_lines "$1" "${3:-}" | wc -l)
  [ "$got" -eq "$2" ] && return 0
  echo "expected $2 requests for $1, got $got; access log:"
  pf_log_lines "$1" "${3:-}"
  return 1
}
# all_field URI FIELD VALUE [PORT] - there were requests for URI and every one
# has VALUE in access-log field FIELD (2 protocol, 8 user agent, 9 X-PF-Test).
all_field() {
  pf_log_wait "$1" 1 "${4:-}"
  local lines
  lines=$(pf_log_lines "$1" "${4:-}")
  if [ -n "$lines" ] &&
    awk -F '\t' -v f="$2" -v v="$3" '$f != v { bad = 1 } END { exit bad }' <<<"$lines"; then
    return 0
  fi
  echo "expected '$3' in log field $2 of every request for $1; access log:"
  echo "$lines"
  return 1
}
all_ua() { all_field "$1" 8 "$2"; }
# stdout_in DIR FILE ARGS... - parfetch ARGS run from DIR, stdout into FILE.
stdout_in() {
  (cd "$1" && parfetch "${@:3}" >"$2")
}
# in_dir DIR ARGS... - parfetch ARGS run from DIR.
in_dir() {
  (cd "$1" && parfetch "${@:2}")
}
# output_mentions TEXT... - the last command's output contains every TEXT.
output_mentions() {
  local t
  for t in "$@"; do
    grep -qF -- "$t" <<<"$PF_LAST_OUT" || {
      echo "output does not mention '$t':"
      echo "$PF_LAST_OUT"
      return 1
    }
  done
}
sum_of() { "$1sum" <"$2" | cut -d' ' -f1; }

# ------------------------------------------------------------------ files

for s in 0 1 1000 65535 65537 131073 10000019 $((8 * MiB - 1)) $((8 * MiB + 1)) $((16 * MiB)) $((20 * MiB)); do
  pf_mkfile "$D/f$s.bin" "$s" || { pf_check "create $D/f$s.bin" false; pf_done; exit 1; }
done
pf_mktext "$D/text.txt" $((3 * MiB)) || { pf_check "create text.txt" false; pf_done; exit 1; }
BIG=$((256 * MiB))
if [ "$PF_QUICK" != 1 ]; then
  pf_mkfile "$D/f$BIG.bin" "$BIG" || { pf_check "create the 256 MiB file" false; pf_done; exit 1; }
fi

# ------------------------------------------------------------------ the servers themselves

# headers_of URL [CURL OPTIONS...] - the reply's status line and headers (curl, CR stripped).
headers_of() {
  curl -sS --max-time 20 -D - -o /dev/null "${@:2}" "$1" | tr -d '\r'
}
h2_speaks_h2() {
  local h
  h=$(headers_of "$PF_H2_URL/f1.bin" --http2 -I --cacert "$PF_CA") || return 1
  echo "$h"
  [[ "$h" == "HTTP/2 200"* ]]
}
chunked_is_chunked() {
  local h
  h=$(headers_of "$PF_HTTP_URL/chunked/text.txt") || return 1
  echo "$h"
  grep -qi '^transfer-encoding: chunked' <<<"$h" && ! grep -qi '^content-length' <<<"$h"
}
norange_ignores_range() {
  local h
  h=$(headers_of "$PF_HTTP_URL/norange/f1000.bin" -r 0-9) || return 1
  echo "$h"
  [[ "$h" == "HTTP/1.1 200"* ]] && ! grep -qi '^accept-ranges' <<<"$h"
}
pf_check "harness: the h2 server speaks HTTP/2 (curl --http2 -sI)" h2_speaks_h2
pf_check "harness: /chunked/ replies chunked, without Content-Length" chunked_is_chunked
pf_check "harness: /norange/ answers a ranged GET with 200 and no Accept-Ranges" norange_ignores_range

# ------------------------------------------------------------------ sizes x protocols

declare -A BASE=([http]=$PF_HTTP_URL [https]=$PF_HTTPS_URL [h2]=$PF_H2_URL)
declare -A PORT=([http]=$PF_HTTP_PORT [https]=$PF_HTTPS_PORT [h2]=$PF_H2_PORT)
for proto in http https h2; do
  base=${BASE[$proto]}
  tls=()
  [ "$proto" != http ] && tls=(--cacert "$PF_CA")
  for s in 0 1 1000 65535 65537 10000019; do
    fetch_ok "$proto $s B, defaults" "$base/f$s.bin" "$D/f$s.bin" "${tls[@]+"${tls[@]}"}"
  done
  fetch_ok "$proto 0 B, -n 8" "$base/f0.bin" "$D/f0.bin" "${tls[@]+"${tls[@]}"}" -n 8 --min-part-size 64K
  fetch_ok "$proto 1 B, smaller than one part of 64K" "$base/f1.bin" "$D/f1.bin" "${tls[@]+"${tls[@]}"}" -n 8 --min-part-size 64K
  fetch_ok "$proto 128K+1 B, 2 parts of 64K" "$base/f131073.bin" "$D/f131073.bin" "${tls[@]+"${tls[@]}"}" -n 4 --min-part-size 64K
  fetch_ok "$proto prime 10000019 B in 16 uneven parts" "$base/f10000019.bin?t=16parts" "$D/f10000019.bin" "${tls[@]+"${tls[@]}"}" -n 16 --min-part-size 64K
  fetch_ok "$proto 8 MiB-1, -n 8 --min-part-size 1M (7 parts)" "$base/f$((8 * MiB - 1)).bin" "$D/f$((8 * MiB - 1)).bin" "${tls[@]+"${tls[@]}"}" -n 8 --min-part-size 1M
  fetch_ok "$proto 8 MiB+1, -n 8 --min-part-size 1M (8 parts)" "$base/f$((8 * MiB + 1)).bin" "$D/f$((8 * MiB + 1)).bin" "${tls[@]+"${tls[@]}"}" -n 8 --min-part-size 1M
  u="/f$((8 * MiB + 1)).bin"
  pf_check "$proto 8 MiB+1: >= 8 distinct ranged requests (206), one per part at least" \
    ranges_ge "$u" 8 "${PORT[$proto]}"
  pf_check "$proto 8 MiB+1: the probe starts part 0 (one request starts at byte 0)" \
    from_zero_once "$u" "${PORT[$proto]}"
  pf_check "$proto prime: >= 16 distinct ranged requests (206)" \
    ranges_ge "/f10000019.bin?t=16parts" 16 "${PORT[$proto]}"
  pf_check "$proto 1000 B: a one-part object takes exactly one request per run" \
    requests_eq /f1000.bin 1 "${PORT[$proto]}"
done
pf_check "h2: parfetch negotiated HTTP/2 with the h2 server (access log)" \
  all_field "/f$((8 * MiB + 1)).bin" 2 HTTP/2.0 "$PF_H2_PORT"

# ------------------------------------------------------------------ connections opened ahead

# count_lines TEXT REGEX - how many lines of TEXT match REGEX.
count_lines() { grep -c -E -- "$2" <<<"$1"; }
# conns_le URI N PORT - the requests for URI came over at most N distinct
# connections (nginx's $connection, access-log field 12).
conns_le() {
  pf_log_wait "$1" 1 "$3"
  sleep 0.2
  local got
  got=$(pf_log_lines "$1" "$3" | awk -F '\t' '{ print $12 }' | sort -u | wc -l)
  [ "$got" -le "$2" ] && return 0
  echo "expected at most $2 connections for $1, got $got; access log:"
  pf_log_lines "$1" "$3"
  return 1
}
printf 'preconnect: false\n' >"$W/no-preconnect.yaml"
# On loopback a worker may finish its part before another has started, and
# take the next part over its own warm connection: then fewer than 7 of the
# connections opened ahead are used (the rest are closed unused). From /slow/
# (128 KiB/s a request) no part ends before the others have started, so
# some of them surely go over the connections opened ahead.
pf_mkfile "$D/pre.bin" $((8 * 64 * 1024))
for proto in http https h2; do
  base=${BASE[$proto]}
  tls=()
  [ "$proto" != http ] && tls=(--cacert "$PF_CA")
  u="/slow/pre.bin?t=pre-$proto"
  fetch_ok "$proto preconnect, 8 parts" "$base$u" "$D/pre.bin" "${tls[@]+"${tls[@]}"}" -v -n 8 --min-part-size 64K
  pf_check "$proto preconnect: -v says 7 more connections were opened while the probe waited" \
    test "$(count_lines "$PF_LAST_OUT" 'opening 7 more connections to 127\.0\.0\.1 while the probe waits')" -eq 1
  n=$(count_lines "$PF_LAST_OUT" 'using a connection opened during the probe')
  pf_check "$proto preconnect: 1 to 7 of the other parts' requests went over them (-v: $n)" \
    test "$n" -ge 1 -a "$n" -le 7
  pf_check "$proto preconnect: never more connections than streams (access log)" \
    conns_le "$u" 8 "${PORT[$proto]}"
  u="/pre.bin?t=nopre-$proto"
  fetch_ok "$proto preconnect: false" "$base$u" "$D/pre.bin" "${tls[@]+"${tls[@]}"}" -v -n 8 --min-part-size 64K -c "$W/no-preconnect.yaml"
  pf_check "$proto preconnect: false: nothing opened ahead (-v)" \
    test "$(count_lines "$PF_LAST_OUT" 'opening .* more connections|opened during the probe')" -eq 0
  pf_check "$proto preconnect: false: never more connections than streams (access log)" \
    conns_le "$u" 8 "${PORT[$proto]}"
done
u="/f1000.bin?t=pre-small"
fetch_ok "preconnect, a one-part object" "$PF_HTTP_URL$u" "$D/f1000.bin" -v -n 8
pf_check "preconnect, a one-part object: one request, no connection opened ahead is used" \
  eval 'requests_eq "$u" 1 "$PF_HTTP_PORT" && test "$(count_lines "$PF_LAST_OUT" "opened during the probe")" -eq 0'
fetch_ok "preconnect, -n 1: one connection" "$PF_HTTP_URL/f10000019.bin?t=pre-n1" "$D/f10000019.bin" -v -n 1
pf_check "preconnect, -n 1: nothing opened ahead (-v)" \
  test "$(count_lines "$PF_LAST_OUT" 'more connections')" -eq 0

u="/f10000019.bin?t=pre-n16"
fetch_ok "-n 16: 16 streams although the per-host budget is 8 by default" "$PF_HTTP_URL$u" \
  "$D/f10000019.bin" -v -n 16 --min-part-size 64K
pf_check "-n 16: -v says 15 more connections were opened while the probe waited" \
  test "$(count_lines "$PF_LAST_OUT" 'opening 15 more connections')" -eq 1
pf_check "-n 16: at most 16 connections (access log)" conns_le "$u" 16 "$PF_HTTP_PORT"
if [ "$PF_QUICK" != 1 ]; then
  fetch_ok "http 256 MiB, default settings" "$PF_HTTP_URL/f$BIG.bin" "$D/f$BIG.bin"
  pf_check "http 256 MiB, default settings: >= 8 distinct ranged (206) requests" \
    ranges_ge "/f$BIG.bin" 8 "$PF_HTTP_PORT"
  fetch_ok "h2 256 MiB, default settings" "$PF_H2_URL/f$BIG.bin" "$D/f$BIG.bin" --cacert "$PF_CA"
  rm -f -- "$(dir_of "http 256 MiB, default settings")/out" "$(dir_of "h2 256 MiB, default settings")/out"
else
  pf_note "PF_QUICK=1: the 256 MiB downloads are not run"
fi

# ------------------------------------------------------------------ TLS

outdir tls-unknown-ca
pf_expect_exit 1 "https without --cacert (unknown CA): exit 1" \
  parfetch -o "$od/out" "$PF_HTTPS_URL/f1000.bin"
pf_check "https without --cacert: the message is about the certificate" output_mentions certificate
pf_check "https without --cacert: no file, no side file" only_output "$od"
outdir h2-unknown-ca
pf_expect_exit 1 "h2 without --cacert (unknown CA): exit 1" \
  parfetch -o "$od/out" "$PF_H2_URL/f1000.bin"
pf_check "h2 without --cacert: no file, no side file" only_output "$od"
fetch_ok "https --insecure without the CA" "$PF_HTTPS_URL/f65537.bin" "$D/f65537.bin" --insecure
fetch_ok "https to localhost (certificate DNS name) with --cacert" \
  "https://localhost:$PF_HTTPS_PORT/f65537.bin" "$D/f65537.bin" --cacert "$PF_CA"

# ------------------------------------------------------------------ checksums

src="$D/f10000019.bin"
url="$PF_HTTP_URL/f10000019.bin"
multi=(-n 8 --min-part-size 1M)
fetch_ok "--checksum sha256=<right>, 8 parts" "$url" "$src" "${multi[@]}" --checksum "sha256=$(sum_of sha256 "$src")"
fetch_ok "--checksum sha1=<right>, 8 parts" "$url" "$src" "${multi[@]}" --checksum "sha1=$(sum_of sha1 "$src")"
fetch_ok "--checksum md5=<right>, 8 parts" "$url" "$src" "${multi[@]}" --checksum "md5=$(sum_of md5 "$src")"
fetch_ok "--checksum sha256=<right> of a 0 B file" "$PF_HTTP_URL/f0.bin" "$D/f0.bin" --checksum "sha256=$(sum_of sha256 "$D/f0.bin")"
wrong=$(sum_of sha256 "$D/f1000.bin")
outdir ck-wrong
pf_expect_exit 3 "--checksum sha256=<wrong>: exit 3" \
  parfetch "${multi[@]}" --checksum "sha256=$wrong" -o "$od/out" "$url"
pf_check "--checksum sha256=<wrong>: no file at the output path, no side file" only_output "$od"
outdir ck-wrong-existing
printf 'precious\n' >"$od/out"
cp -- "$od/out" "$W/ck-wrong-existing.saved"
pf_expect_exit 3 "--checksum sha1=<wrong> over an existing file: exit 3" \
  parfetch "${multi[@]}" --checksum "sha1=$(sum_of sha1 "$D/f1.bin")" -o "$od/out" "$url"
pf_check "--checksum sha1=<wrong>: the existing file is unchanged" pf_same "$W/ck-wrong-existing.saved" "$od/out"
pf_check "--checksum sha1=<wrong>: no side file left" only_output "$od" out

# ------------------------------------------------------------------ stdout, -O

outdir stdout
pf_expect_exit 0 "-o - (8 parts): exit 0" stdout_in "$od" "$W/stdout.bin" -q "${multi[@]}" -o - "$url"
pf_check "-o -: stdout carries exactly the object's bytes" pf_same "$src" "$W/stdout.bin"
pf_check "-o -: no file (nor a file named '-') in the working directory" only_output "$od"
pf_expect_exit 0 "-o - of a 0 B object: exit 0" stdout_in "$od" "$W/stdout0.bin" -q -o - "$PF_HTTP_URL/f0.bin"
pf_check "-o - of a 0 B object: nothing on stdout" pf_same "$D/f0.bin" "$W/stdout0.bin"

outdir dash-O
pf_expect_exit 0 "-O: exit 0" in_dir "$od" -q -O "$PF_HTTP_URL/f65537.bin"
pf_check "-O: saved under the URL's name in the current directory, same bytes" \
  pf_same "$D/f65537.bin" "$od/f65537.bin"
pf_check "-O: nothing else in the directory" only_output "$od" f65537.bin

# ------------------------------------------------------------------ HTTP errors keep the output path

outdir 404-existing
pf_mkfile "$od/out" 4321 precious
cp -- "$od/out" "$W/404.saved"
pf_expect_exit 1 "404 with an existing output file: exit 1" \
  parfetch -o "$od/out" "$PF_HTTP_URL/no-such-file.bin"
pf_check "404: the message names the HTTP status" output_mentions 404
pf_check "404: the existing output file is unchanged" pf_same "$W/404.saved" "$od/out"
pf_check "404: no side file left" only_output "$od" out
outdir 404-none
pf_expect_exit 1 "404 without an output file: exit 1" \
  parfetch -o "$od/out" "$PF_HTTP_URL/no-such-file.bin"
pf_check "404: no file created" only_output "$od"

# ------------------------------------------------------------------ servers without ranges or length

fetch_ok "server ignoring Range (200 to a ranged GET), -n 8 --min-part-size 1M" \
  "$PF_HTTP_URL/norange/f$((20 * MiB)).bin" "$D/f$((20 * MiB)).bin" -n 8 --min-part-size 1M
pf_check "server ignoring Range: exactly one request (one stream, the probe reused)" \
  requests_eq "/norange/f$((20 * MiB)).bin" 1
fetch_ok "h2 server ignoring Range" "$PF_H2_URL/norange/f10000019.bin" "$D/f10000019.bin" \
  --cacert "$PF_CA" -n 8 --min-part-size 1M
fetch_ok "server ignoring Range, 0 B object" "$PF_HTTP_URL/norange/f0.bin" "$D/f0.bin"

pf_check "harness: curl -s fetches the chunked reply" \
  curl -sS --max-time 20 -o "$W/chunked.expected" "$PF_HTTP_URL/chunked/text.txt"
differs() { ! cmp -s -- "$1" "$2"; }
pf_check "harness: the chunked reply differs from the file (sub_filter really rewrote it)" \
  differs "$W/chunked.expected" "$D/text.txt"
fetch_ok "chunked reply of unknown length (HTTP/1.1), -n 8" \
  "$PF_HTTP_URL/chunked/text.txt?t=pf" "$W/chunked.expected" -n 8 --min-part-size 64K
pf_check "chunked reply: exactly one request" requests_eq "/chunked/text.txt?t=pf" 1
fetch_ok "unknown length over HTTP/2 (no content-length)" \
  "$PF_H2_URL/chunked/text.txt" "$W/chunked.expected" --cacert "$PF_CA" -n 8 --min-part-size 64K
fetch_ok "chunked reply with --checksum sha256=<right>" "$PF_HTTP_URL/chunked/text.txt" "$W/chunked.expected" \
  --checksum "sha256=$(sum_of sha256 "$W/chunked.expected")"
outdir chunked-wrong-sum
pf_expect_exit 3 "chunked reply with --checksum sha256=<wrong>: exit 3" \
  parfetch --checksum "sha256=$(sum_of sha256 "$D/text.txt")" -o "$od/out" "$PF_HTTP_URL/chunked/text.txt"
pf_check "chunked reply with a wrong checksum: no file, no side file" only_output "$od"

# ------------------------------------------------------------------ config files
# How many streams ran is measured on /slow/ (lib.sh: 128 KiB/s per reply): parts
# are 320 KiB or more, so every request lasts 2 s or more and the access log
# shows how many overlapped. Those runs go in parallel to keep the script fast.

C="$PF_TMP/cfgfiles"
mkdir -p "$C"
slow() { echo "/slow/f$(($1 * 320 * 1024)).bin"; } # N - a file of N parts of 320 KiB
for n in 2 3 5; do
  pf_mkfile "$D/f$((n * 320 * 1024)).bin" $((n * 320 * 1024))
done

printf 'streams: 3\nmin_part_size: 64K\nuser_agent: pf-from-c\n' >"$C/c3.yaml"
printf 'streams: 5\nmin_part_size: 64K\nuser_agent: pf-from-env\n' >"$C/env5.yaml"
S="$C/sysconf"
mkdir -p "$S/conf.d"
printf 'streams: 2\nmin_part_size: 64K\nuser_agent: pf-sys-main\n' >"$S/config.yaml"
printf 'user_agent: pf-dropin-a\n' >"$S/conf.d/10-a.yaml"
printf 'user_agent: pf-dropin-b\n' >"$S/conf.d/20-b.yaml"
printf 'user_agent: pf-not-yaml\n' >"$S/conf.d/30-ignored.conf"

# Each file could be cut into many more 64 KiB parts than the streams allowed,
# so too many streams would show; a config that was not read at all (default
# min_part_size 8 MiB: one part) would show as 1.
start_fetch c3 "$PF_HTTP_URL$(slow 5)?t=c3" -c "$C/c3.yaml"
start_fetch c3n2 "$PF_HTTP_URL$(slow 3)?t=c3n2" -c "$C/c3.yaml" -n 2
PF_ENV=(PARFETCH_CONFIG="$C/env5.yaml")
start_fetch env5 "$PF_HTTP_URL$(slow 5)?t=env5"
start_fetch c-over-env "$PF_HTTP_URL$(slow 5)?t=c-over-env" -c "$C/c3.yaml"
PF_ENV=(PARFETCH_SYSCONFDIR="$S")
start_fetch sysconf "$PF_HTTP_URL$(slow 3)?t=sysconf"
PF_ENV=()

finish_fetch c3 "-c FILE with streams: 3" "$D/f$((5 * 320 * 1024)).bin"
pf_check "-c FILE streams: 3 -> 3 requests at once, never more" concurrency_eq "$(slow 5)?t=c3" 3
pf_check "-c FILE user_agent is sent on every request" all_ua "$(slow 5)?t=c3" pf-from-c
finish_fetch c3n2 "-c FILE streams: 3 and -n 2" "$D/f$((3 * 320 * 1024)).bin"
pf_check "-n 2 beats the file's streams: 3 -> 2 requests at once" concurrency_eq "$(slow 3)?t=c3n2" 2
finish_fetch env5 "PARFETCH_CONFIG with streams: 5" "$D/f$((5 * 320 * 1024)).bin"
pf_check "PARFETCH_CONFIG streams: 5 -> 5 requests at once" concurrency_eq "$(slow 5)?t=env5" 5
pf_check "PARFETCH_CONFIG user_agent is sent" all_ua "$(slow 5)?t=env5" pf-from-env
finish_fetch c-over-env "-c FILE and PARFETCH_CONFIG both set" "$D/f$((5 * 320 * 1024)).bin"
pf_check "-c FILE wins over PARFETCH_CONFIG (user agent)" all_ua "$(slow 5)?t=c-over-env" pf-from-c
pf_check "-c FILE wins over PARFETCH_CONFIG (streams: 3 at once)" concurrency_eq "$(slow 5)?t=c-over-env" 3
finish_fetch sysconf "PARFETCH_SYSCONFDIR with config.yaml + conf.d/10-a.yaml, 20-b.yaml" \
  "$D/f$((3 * 320 * 1024)).bin"
pf_check "drop-ins: the later one (20-b.yaml) wins (user agent)" all_ua "$(slow 3)?t=sysconf" pf-dropin-b
pf_check "drop-ins merge over config.yaml (its streams: 2 still applies)" \
  concurrency_eq "$(slow 3)?t=sysconf" 2

src16="$D/f$((16 * MiB)).bin"
u16="$PF_HTTP_URL/f$((16 * MiB)).bin"
mkdir -p "$C/xdg/parfetch"
printf 'user_agent: pf-from-xdg\n' >"$C/xdg/parfetch/config.yaml"
PF_ENV=(XDG_CONFIG_HOME="$C/xdg")
fetch_ok "XDG_CONFIG_HOME/parfetch/config.yaml" "$u16?t=xdg" "$src16"
pf_check "XDG_CONFIG_HOME config is found (user agent)" all_ua "/f$((16 * MiB)).bin?t=xdg" pf-from-xdg
PF_ENV=(XDG_CONFIG_HOME="$C/xdg" PARFETCH_CONFIG="$C/env5.yaml")
fetch_ok "PARFETCH_CONFIG and XDG_CONFIG_HOME both set" "$u16?t=env-over-xdg" "$src16"
PF_ENV=()
pf_check "PARFETCH_CONFIG wins over XDG_CONFIG_HOME" all_ua "/f$((16 * MiB)).bin?t=env-over-xdg" pf-from-env

fetch_ok "-H 'X-PF-Test: hello' with 4 parts" "$u16?t=hdr" "$src16" -n 4 --min-part-size 1M -H 'X-PF-Test: hello'
pf_check "-H header: at least 4 ranged requests" ranges_ge "/f$((16 * MiB)).bin?t=hdr" 4
pf_check "-H header is sent on every part's request" all_field "/f$((16 * MiB)).bin?t=hdr" 9 hello

# ------------------------------------------------------------------ bad input: exit 2 (usage, config, plugin)

printf 'streams: 4\nbogus_key: 1\n' >"$C/unknown.yaml"
outdir bad-unknown-key
pf_expect_exit 2 "config with an unknown key: exit 2" parfetch -c "$C/unknown.yaml" -o "$od/out" "$PF_HTTP_URL/f1.bin"
pf_check "config with an unknown key: the message names the key and line 2" output_mentions bogus_key 2:
pf_check "config with an unknown key: no file" only_output "$od"
printf 'streams: [1, 2\n' >"$C/malformed.yaml"
pf_expect_exit 2 "malformed YAML: exit 2" parfetch -c "$C/malformed.yaml" -o "$od/out" "$PF_HTTP_URL/f1.bin"
printf 'min_part_size: 1M\nstreams: lots\n' >"$C/badtype.yaml"
pf_expect_exit 2 "config with a wrong type (streams: lots): exit 2" \
  parfetch -c "$C/badtype.yaml" -o "$od/out" "$PF_HTTP_URL/f1.bin"
pf_check "wrong type: the message names streams and line 2" output_mentions streams 2:
printf 'streams: 0\n' >"$C/range.yaml"
pf_expect_exit 2 "config with an out-of-range value (streams: 0): exit 2" \
  parfetch -c "$C/range.yaml" -o "$od/out" "$PF_HTTP_URL/f1.bin"
mkdir -p "$C/badsys/conf.d"
cp -- "$C/unknown.yaml" "$C/badsys/conf.d/50-bad.yaml"
PF_ENV=(PARFETCH_SYSCONFDIR="$C/badsys")
pf_expect_exit 2 "an unknown key in a conf.d drop-in: exit 2" parfetch -o "$od/out" "$PF_HTTP_URL/f1.bin"
pf_check "an unknown key in a drop-in: the message names the file" output_mentions 50-bad.yaml bogus_key
PF_ENV=()
pf_expect_exit 2 "-c with a missing file: exit 2" parfetch -c "$C/nope.yaml" -o "$od/out" "$PF_HTTP_URL/f1.bin"
pf_expect_exit 2 "an unknown flag: exit 2" parfetch --no-such-flag -o "$od/out" "$PF_HTTP_URL/f1.bin"
pf_expect_exit 2 "no URL: exit 2" parfetch -o "$od/out"
pf_expect_exit 2 "-n abc: exit 2" parfetch -n abc -o "$od/out" "$PF_HTTP_URL/f1.bin"
pf_expect_exit 2 "--min-part-size 12XB: exit 2" parfetch --min-part-size 12XB -o "$od/out" "$PF_HTTP_URL/f1.bin"
pf_expect_exit 2 "--checksum nosuchalgo=00: exit 2" parfetch --checksum nosuchalgo=00 -o "$od/out" "$PF_HTTP_URL/f1.bin"
pf_expect_exit 2 "--plugin with a missing .so: exit 2" parfetch --plugin "$PF_TMP/missing.so" -o "$od/out" "$PF_HTTP_URL/f1.bin"
pf_check "--plugin with a missing .so: the message names the path" output_mentions "$PF_TMP/missing.so"
pf_check "bad input: no file was created by any of the above" only_output "$od"

# ------------------------------------------------------------------ unreachable host: exit 1

closed=$(perl -MIO::Socket::INET -e '
  print IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 1)->sockport' 2>/dev/null ||
  echo 9)
printf 'retries: 2\nretry_wait: 10ms\nconnect_timeout: 2s\n' >"$C/fast.yaml"
outdir unreachable
pf_expect_exit 1 "unreachable host (closed port on 127.0.0.1): exit 1" \
  parfetch -c "$C/fast.yaml" -o "$od/out" "http://127.0.0.1:$closed/f1.bin"
pf_check "unreachable host: no file" only_output "$od"

# ------------------------------------------------------------------ a small object on a terminal
# Its probe's reply is the whole object, kept as it came and stored by run()
# without a stream of its own: the last progress line still counts the one
# stream that fetched it. (script(1), of util-linux, gives the run a terminal.)
if command -v script >/dev/null 2>&1; then
  pf_mkfile "$PF_DOCROOT/tty-small.bin" 5000
  outdir tty
  line=$(script -qec "$PF_BIN -o $od/out $PF_HTTP_URL/tty-small.bin" /dev/null </dev/null 2>&1 |
    tr '\r' '\n' | grep -a '100%' | tail -n 1)
  pf_check "a small object on a terminal: the bytes equal" pf_same "$PF_DOCROOT/tty-small.bin" "$od/out"
  pf_check "a small object on a terminal: the last progress line says 1 stream ($line)" \
    eval 'grep -q " 1 stream" <<<"$line"'
else
  pf_note "script(1) not found: the progress line of a small object is not checked"
fi

pf_done
