#!/usr/bin/env bash
# t_apt.sh - real apt-get against a real flat repository through an apt acquire method (issue 10).
#
# The method under test is PF_APT_METHOD (default $BUILD/apt/parfetch); apt-get runs it for
# http and https with -o Dir::Bin::Methods::http=... and ::https=.... Every apt-get has its own
# APT_CONFIG tree in the temp dir (apt_lib.sh's apt_case): the machine's /var/lib/apt,
# /var/cache/apt and dpkg status are not written (the last check compares them with a snapshot
# taken at the start). The repository (apt_lib.sh's apt_repo_build) holds generated packages:
# small-a, small-b (a few KiB), large (32 MiB of random bytes), corrupt (one byte changed after
# the index was made), missing (listed, not served) and flaky (its first request gets 503).
#
# Checks, each on what a user sees (exit code, bytes equal with cmp, apt's messages, nginx's log):
#   update, a second update (Hit, 304 to If-Modified-Since); --download-only of small and large
#   packages; a real install into a throwaway root (dpkg --root); Hash Sum mismatch; 404; 503
#   once; Release over Acquire::MaxReleaseFileSize; a partial file resumed (with the mtime apt
#   leaves, and with a fresh one); SIGINT mid-download, then a rerun; auth.conf against
#   auth_basic (http and https); an HTTP proxy; https with CaInfo / Verify-Peer; a 301 to the
#   same host; the sandbox user (as root:
#   the method runs as _apt; stays root when _apt cannot write the destination); apt's own
#   method again once the conffile that swaps it in is deleted; bad input to the method itself.
# Marked [parfetch] are the checks apt's own method fails by design (several ranged requests
# for the large package, parfetch's User-Agent, resuming a partial file whose mtime is not the
# server's Last-Modified, answering bad input with 400/401, refusing a scheme it does not
# serve): run against /usr/lib/apt/methods/http they fail, every other check passes.
#
# Run after `make all testbins` (the fault server and pfproxy) from anywhere:
#   PF_APT_METHOD=/usr/lib/apt/methods/http BUILD=build bash tests/integration/t_apt.sh
# Needs apt-utils and dpkg-dev (scripts/deps.sh test). Not root: the sandbox checks are
# skipped (reported as "# SKIP", not counted).
# Checks given as bash -c '...' or awk conditions expand their variables when they run:
# shellcheck disable=SC2016
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/fault/fault.sh
. "$PF_ROOT/tests/fault/fault.sh"
# shellcheck source=tests/integration/apt_lib.sh
. "$(dirname "$0")/apt_lib.sh"
pf_init || exit 1
pf_isolate_config
T=$PF_TMP
APT_M=${PF_APT_METHOD:-$PF_BUILD/apt/parfetch}
case "$APT_M" in /*) ;; *) APT_M="$PWD/$APT_M" ;; esac
START=$(date +%s)
skip() { echo "ok - $1 # SKIP $2"; }

pf_check "the method under test is executable ($APT_M)" test -x "$APT_M" || { pf_done; exit 1; }
need() {
  local c
  for c in apt-get apt-cache apt-ftparchive dpkg-deb dpkg-scanpackages dpkg openssl curl; do
    command -v "$c" >/dev/null || { echo "$c not found (bash scripts/deps.sh test)"; return 1; }
  done
  test -x "$PF_BUILD/fault_server" -a -x "$PF_BUILD/pfproxy" ||
    { echo "no $PF_BUILD/fault_server or pfproxy (make testbins)"; return 1; }
}
pf_check "apt-get, apt-ftparchive, dpkg-scanpackages, fault_server and pfproxy are there" need ||
  { pf_done; exit 1; }

# The machine's apt state, to compare at the end.
machine_state() {
  find /var/lib/apt /var/cache/apt /var/lib/dpkg/status /var/lib/dpkg/info /var/log/apt \
    -maxdepth 2 -printf '%p %s %T@ %u %m\n' 2>/dev/null | sort
}
machine_state >"$T/machine.before"

# As root apt runs the methods as _apt when _apt can reach the destination: let it traverse
# the temp dir (mktemp -d makes it 0700); apt_case makes each apt tree world-readable.
SANDBOX=0
if [ "$(id -u)" -eq 0 ] && getent passwd _apt >/dev/null; then
  SANDBOX=1
  APT_UID=$(id -u _apt)
  chmod 0711 "$T"
fi

pf_check "a flat repository of generated packages (dpkg-deb, dpkg-scanpackages, apt-ftparchive)" \
  apt_repo_build "$T/repo" || { pf_done; exit 1; }
pf_note "repository built in $(($(date +%s) - START)) s"
pf_check "nginx serves it (fault server behind flaky_1.0_all.deb)" apt_servers_start ||
  { pf_done; exit 1; }

# ------------------------------------------------------------------ predicates

has() { # TEXT SUBSTRING... - every SUBSTRING is in TEXT
  local t=$1 s
  shift
  for s in "$@"; do
    [[ $t == *"$s"* ]] || { echo "output lacks '$s':"; printf '%s\n' "$t"; return 1; }
  done
}
same_deb() { # NAME [DIR] - DIR/NAME_1.0_all.deb (default archives/) equals the repository's
  pf_same "$(apt_deb "$1")" "${2:-$ARCH}/${1}_1.0_all.deb"
}
any_rc() { # CMD... - passes CMD's output on; fails only on a time-out or a death by a signal
  "$@"
  local rc=$?
  echo "(exit $rc)"
  [ "$rc" -lt 124 ]
}
no_file() { [ ! -e "$1" ] || { echo "$1 exists:"; ls -l "$1"; return 1; }; }
lists_packages() { # the stored Packages index equals the repository's
  local f
  f=$(find "$AD/state/lists" -maxdepth 1 -name '*_Packages*' | head -n 1)
  [ -n "$f" ] || { echo "no *_Packages* in lists/:"; ls -l "$AD/state/lists"; return 1; }
  case "$f" in
    *.gz) zcat -- "$f" | cmp - "$APT_REPO/Packages" ;;
    *) cmp -- "$f" "$APT_REPO/Packages" ;;
  esac
}
log_all() { # AWK-CONDITION WHAT [PATTERN] - every request of this case (matching PATTERN)
  # satisfies the condition, and there is at least one
  local lines
  lines=$(apt_log "${3:-}")
  [ -n "$lines" ] || { echo "nginx logged no request${3:+ for $3}"; return 1; }
  awk -F '\t' "!($1) { bad++ } END { exit bad > 0 }" <<<"$lines" && return 0
  echo "not every request $2; nginx's log:"
  printf '%s\n' "$lines"
  return 1
}
log_any() { # AWK-CONDITION WHAT [PATTERN] - some request of this case satisfies it
  local lines
  lines=$(apt_log "${3:-}")
  awk -F '\t' "$1 { n++ } END { exit !n }" <<<"$lines" && return 0
  echo "no request $2; nginx's log:"
  printf '%s\n' "$lines"
  return 1
}
ranged_requests() { # PATTERN MIN - at least MIN 206 replies with distinct Ranges
  local lines n
  lines=$(apt_log "$1")
  n=$(awk -F '\t' '$3 == 206 { print $4 }' <<<"$lines" | sort -u | wc -l)
  [ "$n" -ge "$2" ] && return 0
  echo "$n distinct ranged (206) requests for $1, expected at least $2; nginx's log:"
  printf '%s\n' "$lines"
  return 1
}
sent_less() { # PATTERN SIZE - nginx sent fewer than SIZE body bytes for PATTERN since apt_mark
  local lines sent
  lines=$(apt_log "$1")
  sent=$(awk -F '\t' '{ n += $10 } END { print n + 0 }' <<<"$lines")
  [ "$sent" -lt "$2" ] && return 0
  echo "nginx sent $sent of $2 bytes:"
  printf '%s\n' "$lines"
  return 1
}
resumed_from() { # PATTERN OFFSET SIZE - a request asked from byte OFFSET on, and nginx sent at
  # most SIZE - OFFSET/2 of the object: room for a short probe and for a stolen range fetched
  # twice (run() hedges a slow stream), not for the prefix again
  local lines sent max=$(($3 - $2 / 2))
  lines=$(apt_log "$1")
  sent=$(awk -F '\t' '{ n += $10 } END { print n + 0 }' <<<"$lines")
  if awk -F '\t' -v o="$2" '$4 ~ "^bytes=" o "-" { f = 1 } END { exit !f }' <<<"$lines" &&
    [ "$sent" -le "$max" ]; then
    return 0
  fi
  echo "expected a Range from byte $2 (the partial file's size) and at most $max body bytes;"
  echo "nginx sent $sent:"
  printf '%s\n' "$lines"
  return 1
}
prefixes_only() { # DIR REAL - every file in DIR is a prefix of REAL (cmp -n its size); parfetch's
  # side files (NAME.pfpart, with their resume journal) are not apt's: apt never opens them
  local f n real_n
  real_n=$(stat -c %s -- "$2")
  for f in "$1"/* "$1"/.[!.]*; do
    [ -e "$f" ] || continue
    case $f in *.pfpart) echo "$f: parfetch's side file, not one apt reads"; continue ;; esac
    [ -f "$f" ] || { echo "$f is not a regular file"; return 1; }
    n=$(stat -c %s -- "$f")
    if [ "$n" -gt "$real_n" ] || ! cmp -s -n "$n" -- "$f" "$2"; then
      echo "$f ($n bytes) is not a prefix of $2 ($real_n bytes):"
      cmp -n "$n" -- "$f" "$2"
      return 1
    fi
    echo "$f: $n bytes, a prefix"
  done
}

# ------------------------------------------------------------------ update, Hit (304)

apt_case update
pf_expect_exit 0 "update: exit 0" apt_get update
pf_check "update: the stored Packages index equals the repository's" lists_packages
pf_check "update: apt-cache knows the packages" \
  bash -c 'APT_CONFIG=$1 timeout 60 apt-cache show large | grep -qx "Package: large"' _ "$AC"
pf_check "[parfetch] update: the method sends parfetch's User-Agent" \
  log_all 'index($5, "parfetch")' "carries a User-Agent naming parfetch"
# apt marks InRelease, Release and Packages Index-File (not the signature Release.gpg).
pf_check "update: index requests ask caches to revalidate (Cache-Control: max-age=0, as apt's)" \
  log_all '$2 ~ /Release\.gpg / || $12 == "max-age=0"' \
  "for an index carried Cache-Control: max-age=0 (apt's Max-Age default)"
apt_mark
pf_expect_exit 0 "second update: exit 0" apt_get update
pf_check "second update: apt says Hit" has "$PF_LAST_OUT" "Hit:"
pf_check "second update: If-Modified-Since sent, nginx answered 304 for Release" \
  log_any '$3 == 304 && $8 != "-"' "answered 304 to an If-Modified-Since" "/Release HTTP"

# ------------------------------------------------------------------ downloads

apt_case dl
pf_expect_exit 0 "download case: update" apt_get update
apt_mark
pf_expect_exit 0 "install --download-only small-a small-b: exit 0" \
  apt_get install -y --download-only small-a small-b
pf_check "small-a in archives/ equals the repository's .deb" same_deb small-a
pf_check "small-b in archives/ equals the repository's .deb" same_deb small-b
pf_check "after the downloads partial/ is empty (no side file left)" only_output "$APART"

apt_mark
pf_expect_exit 0 "install --download-only large (32 MiB): exit 0" \
  apt_get install -y --download-only large
pf_check "large in archives/ equals the repository's .deb" same_deb large
pf_check "[parfetch] large came in several ranged requests (nginx's log)" \
  ranged_requests /large_1.0_all.deb 2

apt_mark
pf_expect_exit 100 "corrupted package: exit 100" apt_get install -y --download-only corrupt
pf_check "corrupted package: apt says Hash Sum mismatch" has "$PF_LAST_OUT" "Hash Sum mismatch"
pf_check "corrupted package: no corrupt_1.0_all.deb accepted in archives/" \
  no_file "$ARCH/corrupt_1.0_all.deb"

apt_mark
pf_expect_exit 100 "404: exit 100" apt_get install -y --download-only missing
pf_check "404: apt names the URL and the status" \
  has "$PF_LAST_OUT" "Failed to fetch ${APT_URL}" "missing_1.0_all.deb" "404"
pf_check "404: no missing_1.0_all.deb in archives/" no_file "$ARCH/missing_1.0_all.deb"

apt_mark
pf_expect_exit 0 "503 once: retried, exit 0" apt_get install -y --download-only flaky
pf_check "503 once: flaky in archives/ equals the served .deb" \
  pf_same "$T/flaky.deb" "$ARCH/flaky_1.0_all.deb"
pf_check "503 once: nginx answered 503, then the file" \
  bash -c 'log=$1; grep -q "	503	" <<<"$log" && grep -qE "	20[06]	" <<<"$log" ||
    { echo "$log"; exit 1; }' _ "$(apt_log /flaky_1.0_all.deb)"

# partial/large_1.0_all.deb holding the first half of the file, then install: resumed.
# resume_case TAG MTIME-REF: the partial file gets MTIME-REF's mtime (none: now).
HALF=$((APT_LARGE_SIZE / 2))
resume_case() {
  rm -f -- "$ARCH/large_1.0_all.deb" "$APART"/large*
  head -c "$HALF" -- "$(apt_deb large)" >"$APART/large_1.0_all.deb"
  if [ -n "$2" ]; then touch -r "$2" -- "$APART/large_1.0_all.deb"; fi
  apt_mark
  pf_expect_exit 0 "$1: install exit 0" apt_get install -y --download-only large
  pf_check "$1: large equals the repository's" same_deb large
  if [ -n "$2" ]; then
    pf_check "$1: resumed from its end (nginx's log)" \
      resumed_from /large_1.0_all.deb "$HALF" "$APT_LARGE_SIZE"
  else
    pf_check "$1: not trusted, fetched again from byte 0 (nginx's log)" \
      fetched_from_zero /large_1.0_all.deb
  fi
}
fetched_from_zero() { # PATTERN - a request for PATTERN asked from byte 0 (or had no Range)
  log_any '$4 == "-" || $4 ~ "^bytes=0-"' "from byte 0" "$1"
}
# As apt leaves one: mtime = the server's Last-Modified.
resume_case "partial file with the server's mtime" "$(apt_deb large)"
# A prefix written just now: nothing proves it is of this object (If-Range's rule, which apt's
# own method follows too: nginx answers its If-Range with the whole file).
resume_case "seeded partial file (fresh mtime)" ""

# ------------------------------------------------------------------ SIGINT mid-download

# method_procs APT_GET_PID - the method processes apt-get runs: "PID EUID" lines.
METHOD_EXE=$(readlink -f -- "$APT_M")
method_procs() {
  local m
  for m in $(apt_children "$1"); do
    [ "$(readlink -f "/proc/$m/exe" 2>/dev/null)" = "$METHOD_EXE" ] || continue
    awk -v p="$m" '/^Uid:/ { print p, $3 }' "/proc/$m/status" 2>/dev/null
  done
}

rm -f -- "$ARCH/large_1.0_all.deb" "$APART"/large*
touch "$T/apt-slow" # 512 KiB/s per reply
APT_CONFIG=$AC timeout -s KILL 90 apt-get -q -o Dir::Bin::Methods::http="$APT_M" \
  -o Dir::Bin::Methods::https="$APT_M" install -y --download-only large \
  >"$T/sigint.out" 2>&1 </dev/null &
TPID=$!
# timeout(1) leads its own process group (apt-get and the methods): a Ctrl-C hits all of it.
# SIGINT once the method has worked for 3 s, or the partial file holds 1 MiB.
# Each method process's samples and last effective uid: the worker is the one seen longest
# (apt's first process only reports its capabilities, as root, and is stopped).
declare -A SAMPLES=() LASTUID=()
seen_at=
for _ in $(seq 1 200); do
  for a in $(apt_children "$TPID"); do
    while read -r m uid; do
      SAMPLES[$m]=$((${SAMPLES[$m]:-0} + 1))
      LASTUID[$m]=$uid
      [ -n "$seen_at" ] || seen_at=$SECONDS
    done < <(method_procs "$a")
  done
  sz=$(stat -c %s -- "$APART/large_1.0_all.deb" 2>/dev/null || echo 0)
  [ "$sz" -ge $((1024 * 1024)) ] && break
  [ -n "$seen_at" ] && [ $((SECONDS - seen_at)) -ge 3 ] && break
  kill -0 "$TPID" 2>/dev/null || break
  sleep 0.1
done
WORKER=
for m in "${!SAMPLES[@]}"; do
  [ -z "$WORKER" ] || [ "${SAMPLES[$m]}" -gt "${SAMPLES[$WORKER]}" ] && WORKER=$m
done
WORKER_UID=${WORKER:+${LASTUID[$WORKER]}}
kill -INT -- "-$TPID" 2>/dev/null
stopped=0
for _ in $(seq 1 150); do
  kill -0 "$TPID" 2>/dev/null || { stopped=1; break; }
  sleep 0.1
done
if [ "$stopped" -eq 0 ]; then kill -KILL -- "-$TPID" 2>/dev/null; fi
wait "$TPID" 2>/dev/null
rm -f -- "$T/apt-slow"
pf_note "SIGINT after $((SECONDS - ${seen_at:-$SECONDS})) s of the method; partial/ then: $(find "$APART" -mindepth 1 -printf '%f %s B; ')"
pf_check "SIGINT mid-download: apt-get and the method stop within 15 s" test "$stopped" -eq 1
pf_check "SIGINT mid-download: it was mid-download (no complete large in archives/)" \
  no_file "$ARCH/large_1.0_all.deb"
pf_check "SIGINT mid-download: partial/ holds nothing but valid prefixes of large" \
  prefixes_only "$APART" "$(apt_deb large)"
if [ "$SANDBOX" -eq 1 ]; then
  pf_check "sandbox: as root the method worker runs as _apt (uid $APT_UID; seen: ${WORKER_UID:-no worker})" \
    test "${WORKER_UID:-none}" = "$APT_UID"
else
  skip "sandbox: the method worker runs as _apt" "not root"
fi
apt_mark
pf_expect_exit 0 "rerun after SIGINT: exit 0" apt_get install -y --download-only large
pf_check "rerun after SIGINT: large equals the repository's" same_deb large
pf_check "[parfetch] rerun after SIGINT: resumed from the side file (nginx sent less than the file)" \
  sent_less /large_1.0_all.deb "$APT_LARGE_SIZE"

# ------------------------------------------------------------------ a real install

apt_case root
R="$AD/root"
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" && : >"$R/var/lib/dpkg/status"
ROOTOPTS=(-o "Dir::State::status=$R/var/lib/dpkg/status" -o "DPkg::Options::=--root=$R")
# dpkg refuses to install as a user unless told; the files then belong to that user.
[ "$(id -u)" -eq 0 ] || ROOTOPTS+=(-o "DPkg::Options::=--force-not-root")
pf_expect_exit 0 "throwaway root: update" apt_get "${ROOTOPTS[@]}" update
pf_expect_exit 0 "throwaway root: install small-a (dpkg --root): exit 0" \
  apt_get "${ROOTOPTS[@]}" install -y small-a
pf_check "throwaway root: /usr/share/small-a/data is there, bytes equal" \
  pf_same "$T/debs/small-a/usr/share/small-a/data" "$R/usr/share/small-a/data"
pf_check "throwaway root: dpkg says small-a is installed" \
  bash -c 'dpkg --root="$1" -s small-a | grep -qx "Status: install ok installed"' _ "$R"

# ------------------------------------------------------------------ Release over its maximum

apt_case maxrel
# apt sends Maximum-Size with the Release request; the method must fail it (FailReason
# MaximumSizeExceeded), and apt then goes on without a Release (Ign:), exit 0.
pf_expect_exit 0 "Release over Acquire::MaxReleaseFileSize=100: update goes on without it" \
  apt_get -o Acquire::MaxReleaseFileSize=100 -o Debug::pkgAcquire::Worker=1 update
# Debug::pkgAcquire::Worker prints each message from the method on one line, %-encoded.
pf_check "Release over its maximum: the method failed it with MaximumSizeExceeded" \
  bash -c 'grep "^ <- [a-z+]*:400%20URI%20Failure" <<<"$1" | grep "/Release\(%0a\|$\)" |
    grep -q "FailReason:%20MaximumSizeExceeded" || { grep "^ <- " <<<"$1"; exit 1; }' _ "$PF_LAST_OUT"
pf_check "Release over its maximum: apt ignored it, none stored" \
  bash -c 'grep -qE "^Ign:[0-9]+ .* Release\$" <<<"$1" && ! ls "$2"/*Release 2>/dev/null ||
    { echo "$1"; exit 1; }' _ "$PF_LAST_OUT" "$AD/state/lists"

# ------------------------------------------------------------------ auth.conf

# Credentials for /private/ on this host: sent there, not to /repo/ on the same host.
apt_case auth "$PF_HTTP_URL/private/" "$APT_URL"
printf 'machine http://127.0.0.1:%s/private login aptuser password %s\n' \
  "$PF_HTTP_PORT" "$APT_PASS" >"$AD/etc/auth.conf.d/test.conf"
chmod 0600 "$AD/etc/auth.conf.d/test.conf"
pf_expect_exit 0 "auth.conf: update with /private/ (auth_basic) and /repo/: exit 0" apt_get update
pf_check "auth.conf: every /private/ request carried credentials, none refused" \
  log_all '$7 == 1 && $3 != 401' "carried Authorization and was let in" " /private/"
pf_check "auth.conf: no /repo/ request carried credentials" \
  log_all '$7 == 0' "went without Authorization" " /repo/"
# ... and no copy of the password is freed unwiped (secret_preload.so ends the method when a
# block it frees still holds it, exit 97: apt-get fails); glibc's allocator only
if ldd "$APT_M" | grep -qE 'lib[at]san'; then
  echo "ok - auth.conf: no password left in freed memory # SKIP sanitizer build"
else
  apt_case auth2 "$PF_HTTP_URL/private/" "$APT_URL"
  printf '#!/bin/sh\nLD_PRELOAD=%s PF_SECRET=%s exec %s "$@"\n' \
    "$PF_BUILD/preload/secret_preload.so" "$APT_PASS" "$APT_M" >"$AD/secret-method"
  chmod 755 "$AD/secret-method"
  printf 'machine http://127.0.0.1:%s/private login aptuser password %s\n' \
    "$PF_HTTP_PORT" "$APT_PASS" >"$AD/etc/auth.conf.d/test.conf"
  chmod 0600 "$AD/etc/auth.conf.d/test.conf"
  pf_expect_exit 0 "auth.conf: no password left in freed memory" \
    apt_get -o Dir::Bin::Methods::http="$AD/secret-method" update
fi

# Credentials for another machine, and one without a scheme (https only): not sent.
apt_case auth-other "$PF_HTTP_URL/private/"
{
  printf 'machine http://127.0.0.2:%s/private login aptuser password %s\n' "$PF_HTTP_PORT" "$APT_PASS"
  printf 'machine 127.0.0.1:%s/private login aptuser password %s\n' "$PF_HTTP_PORT" "$APT_PASS"
} >"$AD/etc/auth.conf.d/test.conf"
chmod 0600 "$AD/etc/auth.conf.d/test.conf"
pf_expect_exit 100 "auth.conf for 127.0.0.2 and a scheme-less entry: update fails (401)" \
  apt_get update
pf_check "auth.conf for another machine / https only: no credentials sent over http" \
  log_all '$7 == 0 && $3 == 401' "went without Authorization and got 401"

# ------------------------------------------------------------------ proxy

# The source names a port nothing listens on; pfproxy in front of nginx is the http proxy.
CLOSED=$(perl -MIO::Socket::INET -e '
  my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 1) or die;
  print $s->sockport')
PX_LOG="$T/pfproxy.log"
"$PF_BUILD/pfproxy" --upstream "127.0.0.1:$PF_HTTP_PORT" --port-file "$T/pfproxy.port" \
  --log "$PX_LOG" --max-seconds 300 >/dev/null 2>"$T/pfproxy.err" </dev/null &
PX_PID=$!
pf_at_exit "kill $PX_PID 2>/dev/null; wait $PX_PID 2>/dev/null"
for _ in $(seq 1 50); do [ -s "$T/pfproxy.port" ] && break; sleep 0.1; done
PX_URL="http://127.0.0.1:$(cat "$T/pfproxy.port" 2>/dev/null)"
apt_case proxy "http://127.0.0.1:$CLOSED/repo/"
pf_expect_exit 0 "proxy: update with Acquire::http::Proxy=$PX_URL: exit 0" \
  apt_get -o Acquire::http::Proxy="$PX_URL" update
pf_expect_exit 0 "proxy: install --download-only small-a: exit 0" \
  apt_get -o Acquire::http::Proxy="$PX_URL" install -y --download-only small-a
pf_check "proxy: small-a equals the repository's" same_deb small-a
pf_check "proxy: every request reached nginx through it (absolute URI to the closed port)" \
  log_all "index(\$2, \" http://127.0.0.1:$CLOSED/repo/\")" "was a proxy request"
pf_check "proxy: pfproxy carried connections" grep -q '^open conn=' "$PX_LOG"

# ------------------------------------------------------------------ https

apt_case https "$PF_HTTPS_URL/repo/"
pf_expect_exit 0 "https with Acquire::https::CaInfo: update exit 0" \
  apt_get -o Acquire::https::CaInfo="$PF_CA" update
pf_check "https with CaInfo: the stored Packages index equals the repository's" lists_packages
pf_expect_exit 0 "https with CaInfo: install --download-only small-b: exit 0" \
  apt_get -o Acquire::https::CaInfo="$PF_CA" install -y --download-only small-b
pf_check "https with CaInfo: small-b equals the repository's" same_deb small-b
apt_case https-untrusted "$PF_HTTPS_URL/repo/"
# apt-get update warns (W:) and exits 0 when an index cannot be fetched for a transient reason,
# 100 (E:) otherwise: either is right, as long as it says so and stores nothing.
pf_expect_exit 0 "https, the CA not given: update ends (no hang, no crash)" any_rc apt_get update
pf_check "https, the CA not given: apt says it failed to fetch, no index stored" \
  bash -c 'grep -q "Failed to fetch $2" <<<"$1" && ! ls "$3"/*_Packages* 2>/dev/null ||
    { echo "$1"; exit 1; }' _ "$PF_LAST_OUT" "$PF_HTTPS_URL/repo/" "$AD/state/lists"
apt_case https-noverify "$PF_HTTPS_URL/repo/"
pf_expect_exit 0 "https with Verify-Peer=false: update exit 0" \
  apt_get -o Acquire::https::Verify-Peer=false update
pf_check "https with Verify-Peer=false: the stored index equals the repository's" lists_packages

# Verify-Host: nginx's certificate names 127.0.0.1 and localhost, not 127.0.0.2.
HTTPS2_URL="https://127.0.0.2:$PF_HTTPS_PORT"
apt_case https-wrongname "$HTTPS2_URL/repo/"
pf_expect_exit 0 "https to a name the certificate lacks: update ends (no hang, no crash)" any_rc \
  apt_get -o Acquire::https::CaInfo="$PF_CA" update
pf_check "https to a name the certificate lacks: refused, no index stored" \
  bash -c 'if ls "$1" | grep -q Packages; then ls -l "$1"; exit 1; fi' _ "$AD/state/lists"
apt_case https-nohostcheck "$HTTPS2_URL/repo/"
pf_expect_exit 0 "https to that name with Verify-Host=false: update exit 0" \
  apt_get -o Acquire::https::CaInfo="$PF_CA" -o Acquire::https::Verify-Host=false update
pf_check "https with Verify-Host=false: the stored index equals the repository's" lists_packages

# CrlFile: a revocation list of the test CA; once it names nginx's certificate, refused.
mk_crls() {
  (cd "$PF_TMP/ca" && mkdir -p crl && : >crl/index.txt && echo 01 >crl/crlnumber &&
    printf '[ca]\ndefault_ca = d\n[d]\ndatabase = crl/index.txt\ncrlnumber = crl/crlnumber\ndefault_md = sha256\ndefault_crl_days = 1\n' >crl.cnf &&
    openssl ca -batch -config crl.cnf -gencrl -keyfile ca.key -cert ca.pem -out empty.crl &&
    openssl ca -batch -config crl.cnf -revoke server.pem -keyfile ca.key -cert ca.pem &&
    openssl ca -batch -config crl.cnf -gencrl -keyfile ca.key -cert ca.pem -out revoked.crl &&
    chmod 0644 empty.crl revoked.crl) >"$T/crl.log" 2>&1 || { cat "$T/crl.log"; return 1; }
}
pf_check "two revocation lists of the test CA are made (none revoked; nginx's revoked)" mk_crls
apt_case https-crl "$PF_HTTPS_URL/repo/"
pf_expect_exit 0 "https with CrlFile revoking nothing: update exit 0" \
  apt_get -o Acquire::https::CaInfo="$PF_CA" -o Acquire::https::CrlFile="$PF_TMP/ca/empty.crl" update
pf_check "https with CrlFile revoking nothing: the stored index equals the repository's" lists_packages
apt_case https-revoked "$PF_HTTPS_URL/repo/"
pf_expect_exit 0 "https with CrlFile revoking nginx's certificate: update ends (no hang, no crash)" \
  any_rc apt_get -o Acquire::https::CaInfo="$PF_CA" -o Acquire::https::CrlFile="$PF_TMP/ca/revoked.crl" update
pf_check "https with CrlFile revoking nginx's certificate: refused, no index stored" \
  bash -c 'if ls "$1" | grep -q Packages; then ls -l "$1"; exit 1; fi' _ "$AD/state/lists"

# CaInfo is then the only CA trusted: apt's own method loads it instead of the default store.
# The system store's stand-in here: the config's tls.capath, holding the CA that signed nginx's
# certificate (first shown to be trusted on its own); CaInfo names another CA: no index.
mkdir -p "$T/capath" && cp "$PF_CA" "$T/capath/" && openssl rehash "$T/capath" >/dev/null 2>&1
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=other-ca \
  -days 2 -keyout "$T/other-ca.key" -out "$T/other-ca.pem" >/dev/null 2>&1
printf 'tls:\n  capath: %s\n' "$T/capath" >"$T/capath.yaml"
export PARFETCH_CONFIG="$T/capath.yaml"
apt_case https-capath "$PF_HTTPS_URL/repo/"
pf_expect_exit 0 "https, the config's tls.capath holds nginx's CA: update exit 0" apt_get update
pf_check "https, the config's tls.capath holds nginx's CA: index stored" lists_packages
apt_case https-cainfo-only "$PF_HTTPS_URL/repo/"
pf_expect_exit 0 "https, CaInfo names another CA: update ends (no hang, no crash)" \
  any_rc apt_get -o Acquire::https::CaInfo="$T/other-ca.pem" update
pf_check "https, CaInfo names another CA: no other CA is trusted, no index stored" \
  bash -c 'grep -q "Failed to fetch $2" <<<"$1" && ! ls "$3"/*_Packages* 2>/dev/null ||
    { echo "$1"; exit 1; }' _ "$PF_LAST_OUT" "$PF_HTTPS_URL/repo/" "$AD/state/lists"
unset PARFETCH_CONFIG

# SslCert/SslKey: /mtls/ asks for a client certificate of the test CA (nginx's
# ssl_verify_client), 403 without one. The key must be readable by the sandbox user, as
# with apt's own method.
mk_client_cert() {
  (cd "$PF_TMP/ca" &&
    openssl req -new -subj "/CN=parfetch apt client" -newkey ec \
      -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout client.key -out client.csr &&
    printf 'basicConstraints = critical, CA:FALSE\nextendedKeyUsage = clientAuth\n' >client.ext &&
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -set_serial "0x$(openssl rand -hex 8)" \
      -days 1 -extfile client.ext -out client.pem && chmod 0644 client.key) >"$T/client-cert.log" 2>&1
}
pf_check "a client certificate of the test CA is made" mk_client_cert
apt_case mtls "$PF_HTTPS_URL/mtls/"
pf_expect_exit 0 "https with SslCert/SslKey: update exit 0" \
  apt_get -o Acquire::https::CaInfo="$PF_CA" -o Acquire::https::SslCert="$PF_TMP/ca/client.pem" \
  -o Acquire::https::SslKey="$PF_TMP/ca/client.key" update
pf_check "https with SslCert/SslKey: the stored Packages index equals the repository's" lists_packages
apt_case mtls-none "$PF_HTTPS_URL/mtls/"
pf_expect_exit 0 "https without a client certificate: update ends (no hang, no crash)" any_rc \
  apt_get -o Acquire::https::CaInfo="$PF_CA" update
pf_check "https without a client certificate: refused, no index stored" \
  bash -c 'if ls "$1" | grep -q Packages; then ls -l "$1"; exit 1; fi' _ "$AD/state/lists"

# auth.conf over https: an entry without a scheme applies there.
apt_case https-auth "$PF_HTTPS_URL/private/"
printf 'machine 127.0.0.1:%s/private login aptuser password %s\n' "$PF_HTTPS_PORT" "$APT_PASS" \
  >"$AD/etc/auth.conf.d/test.conf"
chmod 0600 "$AD/etc/auth.conf.d/test.conf"
pf_expect_exit 0 "https, auth.conf entry without a scheme: update exit 0" \
  apt_get -o Acquire::https::CaInfo="$PF_CA" update
pf_check "https, auth.conf entry without a scheme: credentials sent, let in" \
  log_all '$7 == 1 && $3 != 401' "carried Authorization and was let in"

# ------------------------------------------------------------------ a redirect

# /moved/ answers 301 to the same file under /repo/ (same scheme and host: allowed).
apt_case moved "$PF_HTTP_URL/moved/"
pf_expect_exit 0 "301 to the same host: update exit 0" apt_get update
pf_expect_exit 0 "301 to the same host: install --download-only small-b: exit 0" \
  apt_get install -y --download-only small-b
pf_check "301 to the same host: small-b equals the repository's" same_deb small-b
pf_check "301 to the same host: nginx redirected, then served /repo/" \
  bash -c 'grep -q "GET /moved/.*	301	" <<<"$1" && grep -q "GET /repo/.*small-b.*	20[06]	" <<<"$1" ||
    { echo "$1"; exit 1; }' _ "$(apt_log)"

# http -> https is followed (with https's CaInfo); https -> http is refused, as apt's own does.
apt_mark
apt_case up "$PF_HTTP_URL/up/"
pf_expect_exit 0 "301 from http to https: update exit 0" \
  apt_get -o Acquire::https::CaInfo="$PF_CA" update
pf_check "301 from http to https: the stored Packages index equals the repository's" lists_packages
pf_check "301 from http to https: nginx redirected, then served /repo/ over https" \
  bash -c 'grep -q "^$2	GET /up/.*	301	" <<<"$1" && grep -qE "^$3	GET /repo/.*Packages.*	20[06]	" <<<"$1" ||
    { echo "$1"; exit 1; }' _ "$(apt_log)" "$PF_HTTP_PORT" "$PF_HTTPS_PORT"
apt_mark
apt_case down "$PF_HTTPS_URL/down/"
pf_expect_exit 0 "301 from https to http: update ends (no hang, no crash)" any_rc \
  apt_get -o Acquire::https::CaInfo="$PF_CA" update
pf_check "301 from https to http: refused, nothing fetched over http, no index stored" \
  bash -c 'grep -q "GET /down/.*	301	" <<<"$1" || { echo "no 301: $1"; exit 1; }
    if grep -q "^$2	GET /repo/" <<<"$1"; then echo "fetched over http: $1"; exit 1; fi
    if ls "$3" | grep -q Packages; then echo "an index was stored"; exit 1; fi' \
  _ "$(apt_log)" "$PF_HTTP_PORT" "$AD/state/lists"

# ------------------------------------------------------------------ sandbox: unwritable dest

if [ "$SANDBOX" -eq 1 ]; then
  apt_case nosandbox
  pf_expect_exit 0 "dest not writable by _apt: update" apt_get update
  chmod 0700 "$AD/cache"
  pf_expect_exit 0 "dest not writable by _apt: install --download-only small-a: exit 0" \
    apt_get install -y --download-only small-a
  pf_check "dest not writable by _apt: apt ran the method unsandboxed" \
    has "$PF_LAST_OUT" "unsandboxed as root"
  pf_check "dest not writable by _apt: small-a equals the repository's" same_deb small-a
else
  skip "dest not writable by _apt: the method stays as it is" "not root"
fi

# ------------------------------------------------------------------ without the override

# As a packager swaps it in: a file in apt.conf.d sets Dir::Bin::Methods::http and ::https.
# Deleting it brings apt's own method back.
apt_case own
printf 'Dir::Bin::Methods::http "%s";\nDir::Bin::Methods::https "%s";\n' "$APT_M" "$APT_M" \
  >"$AD/etc/apt.conf.d/50parfetch"
pf_expect_exit 0 "conffile in apt.conf.d: update exit 0" apt_get_own update
pf_check "[parfetch] conffile in apt.conf.d: the method is used (parfetch's User-Agent)" \
  log_all 'index($5, "parfetch")' "carries a User-Agent naming parfetch"
rm -f -- "$AD/etc/apt.conf.d/50parfetch"
apt_mark
pf_expect_exit 0 "conffile deleted: install --download-only small-a with apt's own method: exit 0" \
  apt_get_own install -y --download-only small-a
pf_check "conffile deleted: small-a equals the repository's" same_deb small-a
pf_check "conffile deleted: nginx saw apt's own User-Agent (Debian APT-HTTP/1.3)" \
  log_all 'index($5, "Debian APT-HTTP/1.3") == 1' "carried apt's User-Agent"

# ------------------------------------------------------------------ bad input to the method

# talk NAME INPUT - INPUT (printf format) on the method's stdin, run as apt runs it (argv[0]
# .../methods/http); stdin stays open until it answers 400/401/201 or exits (<= 5 s), then
# closes. Sets TALK_RC, TALK_OUT (stdout), TALK_ERR (stderr), TALK_SECS.
CFG601='601 Configuration\nConfig-Item: Acquire::http::Timeout=5\nConfig-Item: Acquire::Retries=0\n\n'
talk() { # NAME INPUT [TENTHS] - feed INPUT to the method; wait up to TENTHS/10 s (5 s) for an answer
  local d="$T/talk-$1" t0
  mkdir -p "$d" && rm -f "$d/rc" "$d/out"
  : >"$d/out"
  t0=$SECONDS
  {
    # shellcheck disable=SC2059 # INPUT is a format
    printf "$2"
    for _ in $(seq 1 "${3:-50}"); do
      [ -e "$d/rc" ] && break
      grep -qE '^(40[01]|201) ' "$d/out" && break
      sleep 0.1
    done
  } | {
    timeout -k 2 $((${3:-50} / 10 + 5)) bash -c 'exec -a /usr/lib/apt/methods/http "$0"' "$APT_M" \
      >"$d/out" 2>"$d/err"
    echo $? >"$d/rc"
  }
  TALK_RC=$(cat "$d/rc")
  TALK_OUT=$(cat "$d/out")
  TALK_ERR=$(cat "$d/err")
  TALK_SECS=$((SECONDS - t0))
}
exited_cleanly() { # no hang (timeout: 124/137), no death by a signal
  [ "$TALK_RC" -lt 124 ] && return 0
  echo "exit $TALK_RC after $TALK_SECS s; stdout: $TALK_OUT; stderr: $TALK_ERR"
  return 1
}
answered_failure() { # a 400 or 401 message with a Message: field
  awk '/^40[01] / { m = 1; next } m && /^Message: ./ { ok = 1 } /^$/ { m = 0 } END { exit !ok }' \
    <<<"$TALK_OUT" && return 0
  echo "no 400/401 answer with a Message (exit $TALK_RC); stdout:"
  printf '%s\n' "$TALK_OUT"
  echo "stderr: $TALK_ERR"
  return 1
}

talk malformed "${CFG601}this is not a message\n\n"
pf_check "method, a malformed message: no hang, no crash" exited_cleanly
pf_check "[parfetch] method, a malformed message: answered 400/401 with a Message" answered_failure
talk unknown "${CFG601}699 Frobnicate\nURI: ${APT_URL}Release\n\n"
pf_check "method, an unknown message number: no hang, no crash" exited_cleanly
pf_check "[parfetch] method, an unknown message number: answered 400/401 with a Message" \
  answered_failure
talk scheme "${CFG601}600 URI Acquire\nURI: gopher://127.0.0.1:$PF_HTTP_PORT/repo/Release\nFilename: $T/talk-scheme/Release\n\n"
pf_check "method, a scheme it does not serve: no hang, no crash" exited_cleanly
pf_check "[parfetch] method, a scheme it does not serve: answered 400/401, wrote nothing" \
  eval 'answered_failure && no_file "$T/talk-scheme/Release"'
closed_stdin() {
  local t0=$SECONDS rc
  timeout -k 2 10 bash -c 'exec -a /usr/lib/apt/methods/http "$0"' "$APT_M" </dev/null \
    >"$T/closed.out" 2>&1
  rc=$?
  [ "$rc" -lt 124 ] && [ $((SECONDS - t0)) -le 5 ] && return 0
  echo "exit $rc after $((SECONDS - t0)) s:"
  cat "$T/closed.out"
  return 1
}
pf_check "method, stdin closed: exits within 5 s, not by a signal" closed_stdin

# Acquire::http::Timeout against a server that sends nothing after the headers: a Timeout
# failure apt retries itself (Transient), within a few seconds (the engine retries 3 times).
pf_fault_start STALL --size 100000 --fault stall:after=0,secs=60 --quiet
talk timeout "601 Configuration\nConfig-Item: Acquire::http::Timeout=1\n\n600 URI Acquire\nURI: $STALL_URL/obj\nFilename: $T/talk-timeout/obj\n\n" 300
fail_reason() { # REASON - answered 400 with FailReason REASON and Transient-Failure
  awk -v r="$1" '/^400 / { m = 1; next } m && $0 == "FailReason: " r { f = 1 }
    m && /^Transient-Failure: true/ { t = 1 } /^$/ { m = 0 } END { exit !(f && t) }' \
    <<<"$TALK_OUT" && return 0
  echo "no 400 with FailReason $1 and Transient-Failure (exit $TALK_RC, $TALK_SECS s); stdout:"
  printf '%s\n' "$TALK_OUT"
  return 1
}
pf_check "[parfetch] Timeout=1 against a stalled server: 400 FailReason Timeout, transient" \
  fail_reason Timeout
pf_check "[parfetch] Timeout=1 against a stalled server: answered within 20 s ($TALK_SECS s)" \
  test "$TALK_SECS" -le 20
pf_check "Timeout=1 against a stalled server: nothing at the output path" no_file "$T/talk-timeout/obj"
pf_fault_stop STALL
talk refused "601 Configuration\n\n600 URI Acquire\nURI: http://127.0.0.1:1/obj\nFilename: $T/talk-refused/obj\n\n"
pf_check "[parfetch] a port nobody listens on: 400 FailReason ConnectionRefused, transient" \
  fail_reason ConnectionRefused

# Dl-Limit (KiB/s) holds the download to it: 3 MiB at 1024 KiB/s take 2 s at the least.
pf_fault_start PLAIN --size 3m --quiet
talk dllimit "601 Configuration\nConfig-Item: Acquire::http::Dl-Limit=1024\n\n600 URI Acquire\nURI: $PLAIN_URL/obj\nFilename: $T/talk-dllimit/obj\n\n" 200
pf_check "Dl-Limit=1024: the download is done" eval 'grep -q "^201 URI Done" <<<"$TALK_OUT" ||
  { printf "%s\n" "$TALK_OUT"; false; }'
pf_check "Dl-Limit=1024: 3 MiB took 2 s or more ($TALK_SECS s)" test "$TALK_SECS" -ge 2
pf_fault_stop PLAIN

# No fsync for apt (PF_OPEN_NO_SYNC): apt's own method never syncs partial/, and apt checks a
# file by its hash before it uses it; the CLI's downloads are synced (t_durability.sh).
sync_calls() { # the fsync/fdatasync calls of the method downloading small-a (strace -f)
  local d="$T/talk-sync" deb
  deb=$(cd "$APT_REPO" && ls small-a_*.deb | head -n 1)
  mkdir -p "$d" && rm -f "$d/out" "$d/strace"
  { printf '%b' "${CFG601}600 URI Acquire\nURI: ${APT_URL}$deb\nFilename: $d/out\n\n"
    for _ in $(seq 1 50); do grep -qE '^(201|40[01]) ' "$d/stdout" 2>/dev/null && break; sleep 0.1; done
  } | timeout -k 2 10 strace -f -qq -e trace=fsync,fdatasync,sync_file_range -o "$d/strace" \
    "$APT_M" >"$d/stdout" 2>/dev/null
  grep -q '^201 ' "$d/stdout" && cmp -s "$d/out" "$APT_REPO/$deb" ||
    { echo "the download failed:"; cat "$d/stdout"; return 1; }
  local n
  n=$(grep -cE 'fsync|fdatasync' "$d/strace")
  [ "$n" -eq 0 ] && return 0
  echo "$n sync calls:"
  cat "$d/strace"
  return 1
}
if command -v strace >/dev/null 2>&1; then
  pf_check "[parfetch] a download for apt is not fsynced (strace: no fsync, no fdatasync)" sync_calls
else
  skip "a download for apt is not fsynced" "no strace"
fi

# A redirect the method must not follow (AllowRedirect false here; https -> http likewise) is
# the server's permanent answer, as apt's own method says it: HttpError301 without
# Transient-Failure. A transient failure would make apt ask the same URI again and again.
fail_fields() { # REASON - the 400 carries FailReason: REASON and no Transient-Failure
  awk -v want="FailReason: $1" '/^400 / { m = 1; next } m && $0 == want { ok = 1 }
    m && /^Transient-Failure: true/ { bad = 1 } /^$/ { m = 0 } END { exit !(ok && !bad) }' \
    <<<"$TALK_OUT" && return 0
  echo "no 400 with FailReason $1 and without Transient-Failure; stdout:"
  printf '%s\n' "$TALK_OUT"
  return 1
}
talk noredirect "601 Configuration\nConfig-Item: Acquire::http::AllowRedirect=false\nConfig-Item: Acquire::Retries=0\n\n600 URI Acquire\nURI: $PF_HTTP_URL/moved/small-b_1.0_all.deb\nFilename: $T/talk-noredirect/small-b.deb\n\n"
pf_check "AllowRedirect false, a 301: FailReason HttpError301, not transient, nothing written" \
  eval 'fail_fields HttpError301 && no_file "$T/talk-noredirect/small-b.deb"'

# auth.conf with a mistake in it: apt's own method ignores what it cannot use (MaybeAddAuth
# skips tokens before a "machine", its result is never checked) and downloads anyway; the
# method warns (104) and goes on with what it could read.
mkdir -p "$T/talk-badauth"
printf 'login nobody\npassword nothing\nmachine\n' >"$T/talk-badauth/auth.conf"
talk badauth "601 Configuration\nConfig-Item: Dir::Etc::netrc=$T/talk-badauth/auth.conf\nConfig-Item: Dir::Etc::netrcparts=\nConfig-Item: Acquire::Retries=0\n\n600 URI Acquire\nURI: ${APT_URL}small-a_1.0_all.deb\nFilename: $T/talk-badauth/small-a.deb\n\n"
pf_check "auth.conf with a syntax mistake: a 104 Warning, then 201 URI Done, bytes equal" \
  eval 'grep -q "^104 Warning" <<<"$TALK_OUT" && grep -q "^201 URI Done" <<<"$TALK_OUT" &&
    cmp -s "$(apt_deb small-a)" "$T/talk-badauth/small-a.deb" ||
    { printf "%s\n" "$TALK_OUT"; false; }'

# The object changes mid-download and the config says on_change: restart: the 201 names what
# was stored (version 2's Last-Modified, also the file's mtime), not what the first probe saw.
"$PF_BUILD/fault_server" --size 2m --seed 7 --dump "$T/chg.v2" --dump-version 2 || exit 1
pf_fault_start CHG --size 2m --seed 7 --mtime 1500000000 --fault change:after=2 --quiet || exit 1
printf 'on_change: restart\nstreams: 4\nmin_part_size: 256KiB\nretry_wait: 50ms\n' >"$T/chg.yaml"
mkdir -p "$T/talk-change"
export PARFETCH_CONFIG="$T/chg.yaml"
talk change "${CFG601}600 URI Acquire\nURI: $CHG_URL/obj\nFilename: $T/talk-change/obj\n\n"
unset PARFETCH_CONFIG
CHG_LM=$(curl -sI "$CHG_URL/obj" | tr -d '\r' | sed -n 's/^[Ll]ast-[Mm]odified: //p')
pf_check "object changed mid-download, on_change restart: bytes are version 2's" \
  pf_same "$T/chg.v2" "$T/talk-change/obj"
pf_check "object changed, restart: 201's Last-Modified and the file's mtime are version 2's" \
  eval '[ -n "$CHG_LM" ] && grep -qx "Last-Modified: $CHG_LM" <<<"$TALK_OUT" &&
    [ "$(stat -c %Y "$T/talk-change/obj")" = "$(date -d "$CHG_LM" +%s)" ] ||
    { echo "server now: $CHG_LM; mtime $(stat -c %Y "$T/talk-change/obj")"; printf "%s\n" "$TALK_OUT"; false; }'

# partial/ holds the whole file, with the server's mtime (apt was stopped after the last byte):
# nginx answers the prefix's Range with a 416 that names no validator. The method must still
# take the file (apt's own method does, by its hashes) rather than fetch it all again, and tell
# apt its Last-Modified.
mkdir -p "$T/talk-whole"
cp "$(apt_deb small-b)" "$T/talk-whole/small-b.deb"
touch -r "$(apt_deb small-b)" "$T/talk-whole/small-b.deb"
apt_mark
talk whole "${CFG601}600 URI Acquire\nURI: ${APT_URL}small-b_1.0_all.deb\nFilename: $T/talk-whole/small-b.deb\nExpected-SHA256: $(sha256sum "$(apt_deb small-b)" | cut -d' ' -f1)\n\n"
pf_check "partial file holding the whole object (416): 201 with Last-Modified, bytes equal" \
  eval 'grep -q "^201 URI Done" <<<"$TALK_OUT" && grep -q "^Last-Modified: " <<<"$TALK_OUT" &&
    cmp "$(apt_deb small-b)" "$T/talk-whole/small-b.deb" || { printf "%s\n" "$TALK_OUT"; false; }'
pf_check "partial file holding the whole object (416): not fetched again (nginx's log)" \
  eval 'apt_log small-b | awk -F "\t" "\$3 != 416 { sent += \$10 } END { exit sent > 1 }" ||
    { apt_log small-b; false; }'

# A download that fails mid-way for a transient reason is asked again at once when
# Acquire::Retries::Delay is false. That 600 must find the first session gone: its side file
# (still locked while that session closes) would fail the retry with "in use by another download".
# retry_talk URL FILE: 600, and the same 600 again as soon as "400 URI Failure" is read (as apt
# does), until a second answer; RT_OUT: the method's output.
retry_talk() {
  local d="$T/rt" line n=0 msg
  mkdir -p "$d" && : >"$d/out"
  msg="600 URI Acquire\nURI: $1\nFilename: $2\n\n"
  coproc RT { exec -a /usr/lib/apt/methods/http "$APT_M" 2>"$d/err"; }
  # shellcheck disable=SC2059 # formats
  printf "${CFG601}${msg}" >&"${RT[1]}"
  while IFS= read -r -t 15 line <&"${RT[0]}"; do
    printf '%s\n' "$line" >>"$d/out"
    case $line in
    "400 "*) n=$((n + 1)); [ "$n" -eq 1 ] && printf "$msg" >&"${RT[1]}" ;;
    "201 "*) n=$((n + 1)) ;;
    "") [ "$n" -ge 2 ] && break ;;
    esac
  done
  exec {RT[1]}>&-
  wait "$RT_PID" 2>/dev/null
  RT_OUT=$(cat "$d/out")
}
"$PF_BUILD/fault_server" --size 4m --seed 5 --dump "$T/rt.bin" || exit 1
printf 'retries: 1\nstreams: 4\nmin_part_size: 512KiB\n' >"$T/rt.yaml"
export PARFETCH_CONFIG="$T/rt.yaml"
for i in 1 2 3 4 5; do
  pf_fault_start RTF --size 4m --seed 5 --fault reset:after=64k,req=2 --quiet || exit 1
  rm -f "$T/rt.out" "$T/rt.out.pfpart"
  retry_talk "$RTF_URL/obj" "$T/rt.out"
  grep -q "^201 " <<<"$RT_OUT" || break
done
unset PARFETCH_CONFIG
pf_check "a transient failure asked again at once (Retries::Delay false): the retry succeeds" \
  eval 'grep -q "^400 URI Failure" <<<"$RT_OUT" && grep -q "^201 URI Done" <<<"$RT_OUT" &&
    pf_same "$T/rt.bin" "$T/rt.out" ||
    { echo "attempt $i:"; printf "%s\n" "$RT_OUT"; false; }'

# ------------------------------------------------------------------ the machine untouched

machine_state >"$T/machine.after"
pf_check "the machine's /var/lib/apt, /var/cache/apt and dpkg status are untouched" \
  diff "$T/machine.before" "$T/machine.after"
pf_note "t_apt.sh took $(($(date +%s) - START)) s with $APT_M"
pf_done
