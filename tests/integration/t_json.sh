#!/usr/bin/env bash
# t_json.sh - `parfetch --json` (one JSON object per download: stdout, or stderr with -o -) and
# the credentials options (-u user:password, --netrc-file), against nginx on loopback and the
# fault server:
#   - --json to a file: stdout is exactly one object of the documented schema (json_pick checks
#     the keys and types), size = the file's, status ok, exit_code 0, digest with --checksum;
#   - -o - --json: the body on stdout is byte-equal, the object on stderr;
#   - a 404, a wrong checksum, a refused connection, SIGTERM and a reset part (retries) give
#     the right status / exit_code / error;
#   - nginx auth_basic: -u right (bytes equal), wrong (401, exit 1); --netrc-file with the right
#     machine, with a `default` entry, with quoted tokens; -u beats the netrc file; a netrc
#     password never in -v output nor in --json;
#   - a redirect to the same host keeps Authorization, a redirect from 127.0.0.1 to 127.0.0.2
#     (another host) drops it (nginx logs $http_authorization on the target);
#   - -u user without a password and no terminal: usage error (exit 2).
# Run from the repo root; BUILD (default build) is the build directory (json_pick, fault_server).
# Prints "ok - NAME" / "not ok - NAME" per check and a summary; exits non-zero on a failure.
set -uo pipefail

# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/fault/fault.sh
. "$PF_ROOT/tests/fault/fault.sh"
pf_init || exit 1
pf_isolate_config
JP="$PF_BUILD/json_pick"
if ! pf_check "$JP is built (make ${BUILD:-build}/json_pick)" test -x "$JP"; then
  pf_done
  exit 1
fi

T=$PF_TMP
PASS=s3cr3t-pw
printf 'alice:%s\n' "$(openssl passwd -apr1 "$PASS")" >"$T/htpasswd" || exit 1
: >"$T/auth.log"
# shellcheck disable=SC2016 # nginx variables
PF_NGINX_HTTP_EXTRA='
    log_format pfauth '"'"'$server_addr\t$request_uri\t$status\t$http_authorization'"'"';'
PF_NGINX_SERVER_EXTRA="
        listen 127.0.0.2:@HTTP_PORT@;
        location /private/ {
            alias $T/docroot/;
            auth_basic \"parfetch json test\";
            auth_basic_user_file $T/htpasswd;
        }
        location /go-same/ {
            return 302 http://127.0.0.1:@HTTP_PORT@/seen/\$uri_tail;
        }
        location /go-other/ {
            return 302 http://127.0.0.2:@HTTP_PORT@/seen/\$uri_tail;
        }
        location /seen/ {
            alias $T/docroot/;
            access_log $T/auth.log pfauth;
        }"
# $uri_tail: the path after the first segment
PF_NGINX_HTTP_EXTRA+='
    map $uri $uri_tail { "~^/[^/]+/(?<t>.*)$" $t; default ""; }'
pf_nginx_start || exit 1
D=$PF_DOCROOT
pf_mkfile "$D/obj.bin" 3000000 json || exit 1
SHA=$(sha256sum "$D/obj.bin" | cut -c1-64)
SIZE=3000000
mkdir -p "$T/w"

# jp FILE KEY... : json_pick, its stderr into the check's log
jp() { "$JP" "$@"; }
# field_is FILE KEY WANT : the key's value printed by json_pick is WANT
field_is() {
  local got
  local opt=()
  [ -n "${4:-}" ] && opt=("$4")
  got=$("$JP" "${opt[@]+"${opt[@]}"}" "$1" "$2" 2>&1) || { echo "$got"; return 1; }
  [ "$got" = "$3" ] && return 0
  echo "$2: got '$got', expected '$3' in:"
  cat -- "$1"
  return 1
}
field_is_l() { field_is "$1" "$2" "$3" -l; }
nonzero() { # FILE KEY : an integer >= 1
  local got
  got=$("$JP" "$1" "$2") || return 1
  [ "$got" != null ] && [ "$got" -ge 1 ] && return 0
  echo "$2 = '$got'"
  cat -- "$1"
  return 1
}
says() { # OUTPUT TEXT : TEXT is in OUTPUT (pf_check's stdin is /dev/null)
  grep -qF -- "$2" <<<"$1" && return 0
  echo "'$2' not in: $1"
  return 1
}
absent() { # FILE TEXT : TEXT is not in FILE
  if grep -qF -- "$2" "$1"; then
    echo "'$2' found in $1:"
    cat -- "$1"
    return 1
  fi
}

# ------------------------------------------------------------------ --json, success
rm -f "$T/w/o.bin"
pf_expect_exit 0 "--json -o FILE: exit 0" \
  parfetch -q --json -n 4 --min-part-size 256K --checksum "sha256=$SHA" -o "$T/w/o.bin" \
  "$PF_HTTP_URL/obj.bin"
parfetch -q --json -n 4 --min-part-size 256K --checksum "sha256=$SHA" -o "$T/w/o2.bin" \
  "$PF_HTTP_URL/obj.bin" >"$T/ok.json" 2>"$T/ok.err"
pf_check "--json -o FILE: bytes equal" pf_same "$D/obj.bin" "$T/w/o2.bin"
pf_check "--json -o FILE: stdout is one object of the schema" jp "$T/ok.json"
pf_check "--json: nothing on stderr with -q" test ! -s "$T/ok.err"
pf_check "--json: status ok" field_is "$T/ok.json" status ok
pf_check "--json: exit_code 0" field_is "$T/ok.json" exit_code 0
pf_check "--json: size is the file's" field_is "$T/ok.json" size "$SIZE"
pf_check "--json: bytes_fetched is the file's" field_is "$T/ok.json" bytes_fetched "$SIZE"
pf_check "--json: bytes_resumed 0" field_is "$T/ok.json" bytes_resumed 0
pf_check "--json: url as given" field_is "$T/ok.json" url "$PF_HTTP_URL/obj.bin"
pf_check "--json: effective_url" field_is "$T/ok.json" effective_url "$PF_HTTP_URL/obj.bin"
pf_check "--json: output is the path" field_is "$T/ok.json" output "$T/w/o2.bin"
pf_check "--json: digest sha256:HEX after --checksum" field_is "$T/ok.json" digest "sha256:$SHA"
pf_check "--json: error null" field_is "$T/ok.json" error null
pf_check "--json: http_status null after success" field_is "$T/ok.json" http_status null
pf_check "--json: streams >= 1" nonzero "$T/ok.json" streams

parfetch -q --json -o "$T/w/o3.bin" "$PF_HTTP_URL/obj.bin" >"$T/nodigest.json" 2>/dev/null
pf_check "--json: digest null without --checksum" field_is "$T/nodigest.json" digest null

# -o - : body on stdout, JSON on stderr
parfetch -q --json -o - "$PF_HTTP_URL/obj.bin" >"$T/w/stdout.bin" 2>"$T/stdout.json"
pf_check "-o - --json: stdout is the body, byte-equal" pf_same "$D/obj.bin" "$T/w/stdout.bin"
pf_check "-o - --json: stderr is one object" jp "$T/stdout.json"
pf_check "-o - --json: output \"-\"" field_is "$T/stdout.json" output -
pf_check "-o - --json: status ok" field_is "$T/stdout.json" status ok

# ------------------------------------------------------------------ --json, failures
parfetch -q --json -o "$T/w/none.bin" "$PF_HTTP_URL/nothing-here.bin" >"$T/404.json" 2>"$T/404.err"
echo $? >"$T/404.rc"
pf_check "404 --json: exit 1" test "$(cat "$T/404.rc")" = 1
pf_check "404 --json: one object on stdout" jp "$T/404.json"
pf_check "404 --json: status http" field_is "$T/404.json" status http
pf_check "404 --json: exit_code 1" field_is "$T/404.json" exit_code 1
pf_check "404 --json: http_status 404" field_is "$T/404.json" http_status 404
pf_check "404 --json: error names the status" bash -c '"$1" "$2" error | grep -q 404' _ "$JP" "$T/404.json"
pf_check "404 --json: the human error line stays on stderr" grep -q '^parfetch: .*404' "$T/404.err"
pf_check "404 --json: no file" test ! -e "$T/w/none.bin"

BAD=$(printf '%064d' 0)
parfetch -q --json --checksum "sha256=$BAD" -o "$T/w/bad.bin" "$PF_HTTP_URL/obj.bin" \
  >"$T/sum.json" 2>/dev/null
echo $? >"$T/sum.rc"
pf_check "wrong checksum --json: exit 3" test "$(cat "$T/sum.rc")" = 3
pf_check "wrong checksum --json: status checksum" field_is "$T/sum.json" status checksum
pf_check "wrong checksum --json: exit_code 3" field_is "$T/sum.json" exit_code 3
pf_check "wrong checksum --json: digest null (not verified)" field_is "$T/sum.json" digest null
pf_check "wrong checksum --json: error names the digests" \
  bash -c '"$1" "$2" error | grep -q "$3"' _ "$JP" "$T/sum.json" "$SHA"

# a refused connection: open() fails without a probe reply
CLOSED=$(perl -MIO::Socket::INET -e 'my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1",
  LocalPort => 0, Listen => 1) or die; print $s->sockport')
parfetch -q --json --retries 1 -o "$T/w/refused.bin" "http://127.0.0.1:$CLOSED/x.bin" \
  >"$T/refused.json" 2>/dev/null
pf_check "refused --json: one object" jp "$T/refused.json"
pf_check "refused --json: status network, exit_code 1" \
  bash -c '[ "$("$1" "$2" status exit_code | tr "\n" " ")" = "network 1 " ]' _ "$JP" "$T/refused.json"
pf_check "refused --json: size null" field_is "$T/refused.json" size null

# awkward bytes: a URL path with invalid UTF-8 and a password, still one valid object
parfetch -q --json -o "$T/w/odd.bin" "http://u:hunter2@127.0.0.1:$CLOSED/%ff$(printf '\xff\xfe')x" \
  >"$T/odd.json" 2>/dev/null
pf_check "invalid UTF-8 in the URL: still one valid object" jp "$T/odd.json"
pf_check "a URL password is redacted in --json" absent "$T/odd.json" hunter2

# SIGTERM during a slow transfer: the object still comes, status cancelled, exit_code 143
pf_mkfile "$D/slow.bin" 600000 slow || exit 1
"$PF_BIN" -q --json -n 1 -o "$T/w/slow.bin" "$PF_HTTP_URL/slow/slow.bin" >"$T/term.json" 2>/dev/null &
term_pid=$!
sleep 1.5 # the first 128 KiB come at once, then 128 KiB/s: about 300 KiB stored
kill -TERM "$term_pid"
wait "$term_pid"
echo $? >"$T/term.rc"
pf_check "SIGTERM --json: exit 143" test "$(cat "$T/term.rc")" = 143
pf_check "SIGTERM --json: one object, status cancelled" field_is "$T/term.json" status cancelled
pf_check "SIGTERM --json: exit_code 143" field_is "$T/term.json" exit_code 143

parfetch -q --json -C -n 1 -o "$T/w/slow.bin" "$PF_HTTP_URL/slow/slow.bin" >"$T/resume.json" 2>/dev/null
pf_check "-C after SIGTERM: bytes equal" pf_same "$D/slow.bin" "$T/w/slow.bin"
pf_check "-C after SIGTERM --json: bytes_resumed >= 1" nonzero "$T/resume.json" bytes_resumed
pf_check "-C after SIGTERM --json: bytes_resumed + bytes_fetched >= the size" \
  bash -c 'set -- $("$1" "$2" bytes_resumed bytes_fetched size); [ $(($1 + $2)) -ge "$3" ]' \
  _ "$JP" "$T/resume.json"

# the fault server resets the 2nd request mid-body: retries counted
pf_fault_start FS --size 2m --seed 3 --fault reset:after=100000,req=2 || exit 1
parfetch -q --json -n 2 --min-part-size 256K -o "$T/w/fs.bin" "$FS_URL/obj" >"$T/fs.json" 2>/dev/null
"$PF_BUILD/fault_server" --size 2m --seed 3 --dump "$T/fs.want" >/dev/null
pf_check "fault server: bytes equal after a reset" pf_same "$T/fs.want" "$T/w/fs.bin"
pf_check "fault server: retries >= 1 in --json" nonzero "$T/fs.json" retries
pf_check "fault server: status ok" field_is "$T/fs.json" status ok

# ------------------------------------------------------------------ credentials
P="$PF_HTTP_URL/private/obj.bin"
pf_expect_exit 1 "no credentials: 401, exit 1" parfetch -q -o "$T/w/a0.bin" "$P"
pf_expect_exit 0 "-u right: exit 0" parfetch -q -u "alice:$PASS" -o "$T/w/a1.bin" "$P"
pf_check "-u right: bytes equal" pf_same "$D/obj.bin" "$T/w/a1.bin"
pf_expect_exit 1 "-u wrong: 401, exit 1" parfetch -q -u alice:wrong -o "$T/w/a2.bin" "$P"
pf_check "-u wrong: no file" test ! -e "$T/w/a2.bin"
pf_expect_exit 2 "-u user, no password, no terminal: usage error" \
  parfetch -q -u alice -o "$T/w/a3.bin" "$P"

# -u USER on a terminal (script(1) from bsdutils gives it a pty): the password is asked for,
# without echo; it is typed once the prompt shows
tty_user() { # PASSWORD OUT
  rm -f "$T/tty.log" "$T/tty.fifo"
  mkfifo "$T/tty.fifo" || return 1
  (
    exec 3>"$T/tty.fifo"
    for _ in $(seq 1 200); do
      grep -q "Enter host password for user 'alice':" "$T/tty.log" 2>/dev/null && break
      sleep 0.1
    done
    printf '%s\n' "$1" >&3
    sleep 30
  ) &
  local feeder=$! rc
  timeout 60 script -qefc "$PF_BIN -q -u alice -o $2 $P" "$T/tty.log" <"$T/tty.fifo" >/dev/null
  rc=$?
  kill "$feeder" 2>/dev/null
  wait "$feeder" 2>/dev/null
  return "$rc"
}
if command -v script >/dev/null; then
  pf_check "-u USER on a terminal: the password asked for, exit 0" tty_user "$PASS" "$T/w/tty.bin"
  pf_check "-u USER on a terminal: bytes equal" pf_same "$D/obj.bin" "$T/w/tty.bin"
  pf_check "-u USER on a terminal: the password not echoed" absent "$T/tty.log" "$PASS"
  pf_expect_exit 1 "-u USER on a terminal, a wrong password: 401, exit 1" \
    tty_user wrong "$T/w/tty2.bin"
else
  echo "ok - -u USER on a terminal # SKIP no script(1)"
fi

# -u USER:PASSWORD: the password leaves the command line (ps, /proc/PID/cmdline: any local
# user) once read, as curl blanks it; a slow download (128 KiB/s) to look at it meanwhile
"$PF_BIN" -q -n 1 -u "alice:$PASS" -o "$T/w/ps.bin" "$PF_HTTP_URL/slow/obj.bin" 2>/dev/null &
ps_pid=$!
sleep 1 # it is downloading by then (3 MB take 20 s)
ps_line=$(tr '\0' ' ' <"/proc/$ps_pid/cmdline")
pf_check "-u USER:PASSWORD: the process is still running" kill -0 "$ps_pid"
pf_check "-u USER:PASSWORD: the password is not in /proc/PID/cmdline" \
  eval '[ -n "$ps_line" ] && ! grep -qF -- "$PASS" <<<"$ps_line"'
kill "$ps_pid" 2>/dev/null
wait "$ps_pid" 2>/dev/null

printf 'machine other.example login bob password nope\nmachine 127.0.0.1 login alice password %s\n' \
  "$PASS" >"$T/netrc"
chmod 600 "$T/netrc"
pf_expect_exit 0 "--netrc-file, the right machine: exit 0" \
  parfetch -q --netrc-file "$T/netrc" -o "$T/w/n1.bin" "$P"
pf_check "--netrc-file: bytes equal" pf_same "$D/obj.bin" "$T/w/n1.bin"
# no copy of the password is freed unwiped (secret_preload.so ends a process freeing a block
# that holds it, exit 97): the file as read, its tokens, a value given twice, a file read in
# several reallocations (20 KB of comments first)
{ printf '# padding\n%.0s' $(seq 1 2000); cat "$T/netrc"; } >"$T/netrc-big"
printf 'machine 127.0.0.1 login alice password %s password %s\n' "$PASS" "$PASS" >"$T/netrc-twice"
chmod 600 "$T/netrc-big" "$T/netrc-twice"
if ldd "$PF_BIN" | grep -qE 'lib[at]san'; then
  echo "ok - --netrc-file: no password left in freed memory # SKIP sanitizer build (glibc's allocator only)"
else
  for f in netrc netrc-big netrc-twice; do
    pf_expect_exit 0 "--netrc-file $f: no password left in freed memory" \
      env LD_PRELOAD="$PF_BUILD/preload/secret_preload.so" PF_SECRET="$PASS" \
      "$PF_BIN" -q --netrc-file "$T/$f" -o "$T/w/n-$f.bin" "$P"
  done
fi
printf 'machine other.example login bob password nope\n\ndefault\n  login "alice"\n  password "%s"\n' \
  "$PASS" >"$T/netrc-default"
chmod 600 "$T/netrc-default"
pf_expect_exit 0 "--netrc-file, a default entry with quoted tokens: exit 0" \
  parfetch -q --netrc-file "$T/netrc-default" -o "$T/w/n2.bin" "$P"
printf 'machine 127.0.0.1 login alice password wrong\n' >"$T/netrc-wrong"
chmod 600 "$T/netrc-wrong"
pf_expect_exit 1 "--netrc-file with a wrong password: exit 1" \
  parfetch -q --netrc-file "$T/netrc-wrong" -o "$T/w/n3.bin" "$P"
pf_expect_exit 0 "-u beats --netrc-file" \
  parfetch -q -u "alice:$PASS" --netrc-file "$T/netrc-wrong" -o "$T/w/n4.bin" "$P"
pf_expect_exit 2 "--netrc-file missing: exit 2" \
  parfetch -q --netrc-file "$T/no-such-netrc" -o "$T/w/n5.bin" "$P"
pf_check "--netrc-file missing: names the file" says "$PF_LAST_OUT" "$T/no-such-netrc"
mkdir -p "$T/home"
cp "$T/netrc" "$T/home/.netrc"
chmod 600 "$T/home/.netrc"
PF_ENV=(HOME="$T/home")
pf_expect_exit 0 "--netrc reads \$HOME/.netrc" parfetch -q --netrc -o "$T/w/n6.bin" "$P"
PF_ENV=(HOME="$T/empty-home")
pf_expect_exit 1 "--netrc without ~/.netrc: no credentials, 401" \
  parfetch -q --netrc -o "$T/w/n7.bin" "$P"
PF_ENV=()
chmod 644 "$T/netrc"
pf_expect_exit 0 "a netrc readable by others: used" \
  parfetch -q --netrc-file "$T/netrc" -o "$T/w/n8.bin" "$P"
pf_check "a netrc readable by others: a warning" says "$PF_LAST_OUT" "is readable by others"
chmod 600 "$T/netrc"

# no password in -v output, error lines or --json
parfetch -v --json -u "alice:$PASS" -o "$T/w/v1.bin" "$P" >"$T/v1.json" 2>"$T/v1.err"
B64=$(printf 'alice:%s' "$PASS" | base64)
pf_check "-v -u: the request shows Authorization redacted" grep -qi 'authorization: <redacted>' "$T/v1.err"
pf_check "-v -u: no password on stderr" absent "$T/v1.err" "$PASS"
pf_check "-v -u: no base64 credentials on stderr" absent "$T/v1.err" "$B64"
pf_check "-u --json: no password in the object" absent "$T/v1.json" "$PASS"
parfetch -v --json --netrc-file "$T/netrc-wrong" -o "$T/w/v2.bin" "$P" >"$T/v2.json" 2>"$T/v2.err"
pf_check "--netrc-file 401 --json: status http" field_is "$T/v2.json" status http
pf_check "--netrc-file -v: no netrc password on stderr" absent "$T/v2.err" "password wrong"
pf_check "--netrc-file -v: no base64 credentials on stderr" \
  absent "$T/v2.err" "$(printf 'alice:wrong' | base64)"

# redirects: same host keeps the credentials, another host never gets them
: >"$T/auth.log"
pf_expect_exit 0 "redirect to the same host with -u: exit 0" \
  parfetch -q -n 2 --min-part-size 1M -u "alice:$PASS" -o "$T/w/r1.bin" "$PF_HTTP_URL/go-same/obj.bin"
pf_check "redirect to the same host: bytes equal" pf_same "$D/obj.bin" "$T/w/r1.bin"
sleep 0.3
pf_check "redirect to the same host: Authorization sent there" \
  grep -q "^127.0.0.1	/seen/obj.bin	20[06]	Basic " "$T/auth.log"
: >"$T/auth.log"
pf_expect_exit 0 "redirect to 127.0.0.2 with -u: exit 0" \
  parfetch -q -n 2 --min-part-size 1M -u "alice:$PASS" -o "$T/w/r2.bin" "$PF_HTTP_URL/go-other/obj.bin"
pf_check "redirect to 127.0.0.2: bytes equal" pf_same "$D/obj.bin" "$T/w/r2.bin"
sleep 0.3
pf_check "redirect to 127.0.0.2: requests reached it" grep -q "^127.0.0.2	/seen/obj.bin	20[06]	" "$T/auth.log"
pf_check "redirect to 127.0.0.2: no Authorization there" \
  bash -c '! grep -v "	-\$" "$1"' _ "$T/auth.log"
: >"$T/auth.log"
pf_expect_exit 0 "redirect to 127.0.0.2 with --netrc-file: exit 0" \
  parfetch -q --netrc-file "$T/netrc" -o "$T/w/r3.bin" "$PF_HTTP_URL/go-other/obj.bin"
sleep 0.3
pf_check "redirect to 127.0.0.2 (netrc): no Authorization there" \
  bash -c 'grep -q . "$1" && ! grep -v "	-\$" "$1"' _ "$T/auth.log"

pf_done
