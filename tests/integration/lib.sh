# shellcheck shell=bash
# tests/integration/lib.sh - shared harness for the integration tests and the demo.
#
# Source it from bash; it works with or without set -euo pipefail and does not
# change those options:
#
#   . tests/integration/lib.sh
#   pf_init                  temp dir $PF_TMP (mktemp -d under ${TMPDIR:-/tmp}) and the cleanup traps
#   pf_isolate_config        no user or system parfetch config leaks into the test
#   pf_nginx_start           nginx on 127.0.0.1: plain HTTP/1.1, HTTPS and HTTPS+HTTP/2
#   pf_nginx_stop            (also done by the EXIT/INT/TERM/HUP trap)
#   pf_mkfile PATH SIZE [SEED]   exact-size pseudo-random file (deterministic per seed)
#   pf_mktext PATH SIZE [SEED]   exact-size printable text file (base64 lines)
#   pf_check NAME CMD...         "ok - NAME" if CMD exits 0, else "not ok - NAME" + its output
#   pf_expect_exit CODE NAME CMD...  same, but CMD must exit with CODE; its output is
#                                left in $PF_LAST_OUT
#   pf_same FILE1 FILE2          byte-for-byte comparison (a predicate for pf_check)
#   pf_note TEXT                 a "# TEXT" line (not counted)
#   pf_done                      "<script>: N passed, N failed"; returns 1 if anything failed
#   parfetch ARGS...             $PF_BIN under a time limit (PF_CMD_TIMEOUT, default 300 s),
#                                with the assignments in the array PF_ENV added to its environment
#   pf_log_lines URI [PORT] / pf_log_wait URI N [PORT] / pf_log_ranges URI [PORT]
#   pf_log_concurrency URI [PORT]  read nginx's access log (see PF_ACCESS_LOG)
#
# Exports after pf_nginx_start:
#   PF_HTTP_URL   http://127.0.0.1:PORT       (HTTP/1.1)
#   PF_HTTPS_URL  https://127.0.0.1:PORT      (TLS, HTTP/1.1 only)
#   PF_H2_URL     https://127.0.0.1:PORT      (TLS, ALPN h2 and http/1.1)
#   PF_CA         the throwaway CA certificate (PEM) that signed the server cert
#                 (subjectAltName IP:127.0.0.1, DNS:localhost)
#   PF_DOCROOT    the directory nginx serves
#   PF_ACCESS_LOG nginx access log, one request per line, tab-separated fields:
#                 port protocol method request_uri status http_range body_bytes_sent
#                 user_agent x_pf_test msec request_time
#                 ("-" when a header is absent; msec = end time, request_time = duration, in s)
#   PF_NGINX_PID  the nginx master process
# Every location serves PF_DOCROOT:
#   /NAME          static files, byte ranges honoured
#   /norange/NAME  same files, Range ignored (max_ranges 0: 200 + whole body, no Accept-Ranges)
#   /chunked/NAME  same files through sub_filter ("a" -> "A", every occurrence): no Content-Length,
#                  no Accept-Ranges, HTTP/1.1 chunked transfer encoding
#   /slow/NAME     same files, each reply limited to 128 KiB/s (limit_rate 128k), so that requests
#                  last long enough to measure how many run at once (pf_log_concurrency).
#                  Measured: a reply of R bytes takes ceil((R - 128 KiB) / 128 KiB) seconds
#                  (the first 128 KiB go at once), e.g. 320 KiB: 2 s; 200 KiB: 1 s.
# Extra nginx configuration, read by pf_nginx_start when set (nginx syntax, inserted verbatim):
#   PF_NGINX_HTTP_EXTRA    in the http block (log_format, map, ...)
#   PF_NGINX_SERVER_EXTRA  in the server block of the three listeners (more locations);
#                          @HTTP_PORT@ and @HTTPS_PORT@ in it become those listeners' ports
#   PF_NGINX_ENV           array of NAME=VALUE added to nginx's environment (e.g. LD_PRELOAD of
#                          bench/pacing_shim.c, as bench/apt.sh does)
#
# Other variables: PF_ROOT (repo root), PF_BUILD (absolute build dir, from $BUILD, default build),
# PF_BIN ($PF_BUILD/parfetch), PF_QUICK (1 = skip the largest files), PF_PASS, PF_FAIL.
#
# The EXIT trap belongs to this file; register extra cleanup with pf_at_exit CMD.

PF_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
case "${BUILD:-build}" in
  /*) PF_BUILD=${BUILD} ;;
  *) PF_BUILD="$PF_ROOT/${BUILD:-build}" ;;
esac
PF_BIN="$PF_BUILD/parfetch"
PF_QUICK=${PF_QUICK:-0}
PF_CMD_TIMEOUT=${PF_CMD_TIMEOUT:-300}
PF_PASS=0
PF_FAIL=0
PF_TMP=
PF_NGINX_PID=
PF__OWNER=
PF__WATCHDOG=
PF__AT_EXIT=()
PF__NAME=$(basename "${0:-lib.sh}")

# ---------------------------------------------------------------- lifetime

pf_init() {
  [ -n "$PF_TMP" ] && return 0
  PF_TMP=$(mktemp -d "${TMPDIR:-/tmp}/parfetch-test.XXXXXX") || {
    echo "lib.sh: mktemp -d failed" >&2
    return 1
  }
  PF__OWNER=$BASHPID
  export PF_TMP
  trap 'pf__cleanup' EXIT
  trap 'pf__on_signal INT 130' INT
  trap 'pf__on_signal TERM 143' TERM
  trap 'pf__on_signal HUP 129' HUP
  pf__watchdog
}

# If this shell dies without running its traps (SIGKILL, e.g. a timeout's -k),
# a small watcher stops nginx and removes the temp dir. It watches for at most
# an hour (7200 x 0.5 s) and is stopped by the normal cleanup.
pf__watchdog() {
  local owner=$PF__OWNER dir=$PF_TMP
  (
    trap '' INT HUP
    for _ in $(seq 1 7200); do
      kill -0 "$owner" 2>/dev/null || break
      sleep 0.5
    done
    kill -0 "$owner" 2>/dev/null && exit 0
    if [ -s "$dir/nginx/nginx.pid" ]; then
      pid=$(cat "$dir/nginx/nginx.pid")
      kill -TERM "$pid" 2>/dev/null
      for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
    fi
    rm -rf -- "$dir"
  ) </dev/null >/dev/null 2>&1 &
  PF__WATCHDOG=$!
}

pf_at_exit() { PF__AT_EXIT+=("$*"); }

pf__cleanup() {
  # Subshells do not run this, but be sure only the shell that created the dir removes it.
  [ "${BASHPID}" = "${PF__OWNER}" ] || return 0
  local c
  for c in "${PF__AT_EXIT[@]+"${PF__AT_EXIT[@]}"}"; do eval "$c" || true; done
  PF__AT_EXIT=()
  pf_nginx_stop
  if [ -n "$PF__WATCHDOG" ]; then
    kill "$PF__WATCHDOG" 2>/dev/null || true
    wait "$PF__WATCHDOG" 2>/dev/null || true
    PF__WATCHDOG=
  fi
  if [ -n "$PF_TMP" ] && [ -d "$PF_TMP" ]; then
    rm -rf -- "$PF_TMP"
  fi
  PF_TMP=
}

pf__on_signal() { # SIG STATUS
  echo "# $PF__NAME: interrupted by SIG$1, cleaning up" >&2
  trap - EXIT
  pf__cleanup
  # Die of the signal, so that the caller knows it was not a normal exit.
  trap - "$1"
  kill -s "$1" "$BASHPID"
  exit "$2"
}

# A checked command that exits 130 or 143 (parfetch's "interrupted") was
# most likely hit by the user's Ctrl-C too. bash does not run its own INT trap
# when the foreground child handles SIGINT and exits normally, so stop here.
pf__interrupted() { # RC
  case "$1" in
    130) pf__on_signal INT 130 ;;
    143) pf__on_signal TERM 143 ;;
  esac
}

# Point every configuration source parfetch looks at to empty places, so the
# user's ~/.config/parfetch and the machine's /etc/parfetch do not change results.
pf_isolate_config() {
  pf_init || return 1
  mkdir -p "$PF_TMP/cfg/xdg" "$PF_TMP/cfg/sysconf-empty"
  unset PARFETCH_CONFIG
  export XDG_CONFIG_HOME="$PF_TMP/cfg/xdg"
  export PARFETCH_SYSCONFDIR="$PF_TMP/cfg/sysconf-empty"
}

# ---------------------------------------------------------------- assertions

pf_note() { printf '# %s\n' "$*"; }

pf__report() { # RESULT NAME LOGFILE
  if [ "$1" = ok ]; then
    PF_PASS=$((PF_PASS + 1))
    printf 'ok - %s\n' "$2"
  else
    PF_FAIL=$((PF_FAIL + 1))
    printf 'not ok - %s\n' "$2"
    if [ -s "$3" ]; then
      # The output of the failing command, last 60 lines, marked as a comment.
      tail -n 60 -- "$3" | sed 's/^/#   /'
    fi
  fi
}

pf__logfile() {
  printf '%s/check.%s.log' "$PF_TMP" "$((PF_PASS + PF_FAIL))"
}

# pf_check NAME CMD... : passes when CMD exits 0.
pf_check() {
  local name=$1 log rc
  shift
  pf_init || return 1 # here, not in the $(...) below
  log=$(pf__logfile)
  "$@" >"$log" 2>&1 </dev/null
  rc=$?
  if [ "$rc" -eq 0 ]; then
    pf__report ok "$name" "$log"
  else
    echo "(command: $*; exit $rc)" >>"$log"
    pf__report fail "$name" "$log"
  fi
  rm -f -- "$log"
  pf__interrupted "$rc"
  return "$rc"
}

# pf_expect_exit CODE NAME CMD... : passes when CMD exits with CODE.
# Its stdout and stderr are kept in $PF_LAST_OUT until the next check.
pf_expect_exit() {
  local want=$1 name=$2 log rc
  shift 2
  pf_init || return 1
  log=$(pf__logfile)
  "$@" >"$log" 2>&1 </dev/null
  rc=$?
  # For the caller's checks of the message. Not exported: it can be large.
  # shellcheck disable=SC2034
  PF_LAST_OUT=$(cat -- "$log")
  if [ "$rc" -eq "$want" ]; then
    pf__report ok "$name" "$log"
  else
    echo "(command: $*; exit $rc, expected $want)" >>"$log"
    pf__report fail "$name" "$log"
  fi
  rm -f -- "$log"
  [ "$rc" -ne "$want" ] && pf__interrupted "$rc"
  [ "$rc" -eq "$want" ]
}

# only_output DIR [NAME] - DIR holds exactly NAME (nothing at all when NAME is
# empty): no side file (NAME.pfpart*), journal or stray output left behind.
only_output() {
  local got
  got=$(cd "$1" && ls -A) || return 1
  [ "$got" = "${2:-}" ] && return 0
  echo "expected only '${2:-}' in $1, found:"
  ls -lA "$1"
  return 1
}

# pf_same FILE1 FILE2 : byte-for-byte equal (cmp), with sizes in the message.
pf_same() {
  if cmp -- "$1" "$2"; then
    return 0
  fi
  ls -l -- "$1" "$2" 2>&1
  return 1
}

pf_done() {
  printf '%s: %d passed, %d failed\n' "$PF__NAME" "$PF_PASS" "$PF_FAIL"
  [ "$PF_FAIL" -eq 0 ]
}

# parfetch ARGS... - the binary under test, bounded in time, with the extra
# environment assignments in the array PF_ENV (e.g. PF_ENV=(PARFETCH_CONFIG=f)).
# --foreground keeps it in the terminal's process group (progress bar, Ctrl-C).
PF_ENV=()
parfetch() {
  timeout --foreground -k 10 "$PF_CMD_TIMEOUT" \
    env "${PF_ENV[@]+"${PF_ENV[@]}"}" "$PF_BIN" "$@"
}

# ---------------------------------------------------------------- files

# pf_mkfile PATH SIZE [SEED] - SIZE bytes of AES-128-CTR keystream keyed by
# SEED (default: PATH's name and SIZE). Deterministic and fast (~1 GB/s).
pf_mkfile() {
  local path=$1 size=$2 seed=${3:-"$(basename -- "$1"):$2"} key iv got
  if [ "$size" -eq 0 ]; then
    : >"$path" || return 1
  else
    key=$(printf '%s' "key:$seed" | sha256sum | cut -c1-32)
    iv=$(printf '%s' "iv:$seed" | sha256sum | cut -c1-32)
    head -c "$size" /dev/zero |
      openssl enc -aes-128-ctr -nosalt -K "$key" -iv "$iv" -out "$path" || return 1
  fi
  got=$(stat -c %s -- "$path") || return 1
  if [ "$got" -ne "$size" ]; then
    echo "pf_mkfile: $path has $got bytes, wanted $size" >&2
    return 1
  fi
}

# pf_mktext PATH SIZE [SEED] - SIZE bytes of base64 text in 76-column lines.
pf_mktext() {
  local path=$1 size=$2 seed=${3:-"$(basename -- "$1"):$2"}
  pf_mkfile "$path.raw" $(((size * 3) / 4 + 64)) "$seed" || return 1
  base64 -w 76 <"$path.raw" >"$path" || return 1
  rm -f -- "$path.raw"
  truncate -s "$size" -- "$path"
}

# ---------------------------------------------------------------- nginx

# Three distinct free TCP ports on 127.0.0.1, space separated. The kernel
# chooses them (perl-base, which every Debian has: all bound at once so they
# differ); failing that, random ports that /proc/net/tcp* does not list as in use.
pf__free_ports() {
  perl -MIO::Socket::INET -e '
    my @s = map { IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 1)
                  or die } 1 .. 3;
    print join(" ", map { $_->sockport } @s), "\n"' 2>/dev/null && return 0
  local used=" " ports=() p sl addr rest
  for p in /proc/net/tcp /proc/net/tcp6; do
    [ -r "$p" ] || continue
    while read -r sl addr rest; do
      [ "$sl" = "sl" ] && continue
      used+="$((16#${addr##*:})) "
    done <"$p"
  done
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 12000))
    if [[ "$used" != *" $p "* ]] && [[ " ${ports[*]-} " != *" $p "* ]]; then
      ports+=("$p")
      [ "${#ports[@]}" -eq 3 ] && break
    fi
  done
  [ "${#ports[@]}" -eq 3 ] || return 1
  echo "${ports[*]}"
}

pf__make_ca() {
  local d=$1
  mkdir -p "$d" || return 1
  cat >"$d/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = parfetch throwaway test CA
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_dn]
CN = localhost
[v3_server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
  (
    cd "$d" || exit 1
    openssl req -x509 -config openssl.cnf -extensions v3_ca -newkey ec \
      -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem \
      -days 3 -set_serial "0x$(openssl rand -hex 8)" &&
      openssl req -new -config openssl.cnf -subj "/CN=localhost" -newkey ec \
        -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key -out server.csr &&
      openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key \
        -set_serial "0x$(openssl rand -hex 8)" -days 3 \
        -extfile openssl.cnf -extensions v3_server -out server.pem &&
      openssl verify -CAfile ca.pem server.pem
  ) >"$d/openssl.log" 2>&1 || {
    echo "lib.sh: making the test CA failed:" >&2
    cat "$d/openssl.log" >&2
    return 1
  }
}

pf__write_nginx_conf() { # DIR HTTP_PORT HTTPS_PORT H2_PORT
  local d=$1 user_line="# not root: nginx keeps the current user"
  # the extra locations may name the listeners' ports (redirects between them)
  local extra_server=${PF_NGINX_SERVER_EXTRA:-}
  extra_server=${extra_server//@HTTP_PORT@/$2}
  extra_server=${extra_server//@HTTPS_PORT@/$3}
  if [ "$(id -u)" -eq 0 ]; then
    # Workers would otherwise switch to 'nobody', who cannot read the 0700 temp dir.
    user_line="user root root;"
  fi
  cat >"$d/nginx.conf" <<EOF
# generated by tests/integration/lib.sh
$user_line
worker_processes 2;
daemon off;
master_process on;
pid $d/nginx.pid;
error_log $d/error.log notice;

events {
    worker_connections 512;
}

http {
    default_type application/octet-stream;
    types { text/plain txt; }
    server_tokens off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    keepalive_timeout 30s;

    client_body_temp_path $d/tmp/client_body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;

    log_format pf '\$server_port\t\$server_protocol\t\$request_method\t\$request_uri\t\$status\t\$http_range\t\$body_bytes_sent\t\$http_user_agent\t\$http_x_pf_test\t\$msec\t\$request_time\t\$connection';
    access_log $d/access.log pf;
${PF_NGINX_HTTP_EXTRA:-}

    ssl_certificate $d/../ca/server.pem;
    ssl_certificate_key $d/../ca/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache off;

    server {
        listen 127.0.0.1:$2;
        listen 127.0.0.1:$3 ssl;
        listen 127.0.0.1:$4 ssl http2;
        server_name localhost 127.0.0.1;
        root $PF_DOCROOT;

        location = /.pf-alive {
            access_log off;
            default_type text/plain;
            return 200 "parfetch-test-nginx $d\n";
        }
        # Connections accepted so far (pf_accepted), whether or not they
        # carried a request.
        location = /.pf-status {
            access_log off;
            stub_status;
        }
        location / {
        }
        # A server that ignores Range: 200 and the whole body, no Accept-Ranges.
        location /norange/ {
            alias $PF_DOCROOT/;
            max_ranges 0;
        }
        # Unknown length: sub_filter drops Content-Length and Accept-Ranges,
        # so HTTP/1.1 replies are chunked.
        location /chunked/ {
            alias $PF_DOCROOT/;
            sub_filter_types *;
            sub_filter_once off;
            sub_filter 'a' 'A';
        }
        # Slow replies (per request), to observe concurrency in the access log.
        location /slow/ {
            alias $PF_DOCROOT/;
            limit_rate 128k;
        }
${extra_server}
    }
}
EOF
}

# pf__get PORT PATH - GET over plain HTTP with bash's /dev/tcp (curl may be absent).
pf__get() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout 3 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" "$2" >&3
    cat <&3' _ "$1" "$2" 2>/dev/null
}

pf__port_open() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

pf__nginx_ready() { # DIR HTTP HTTPS H2
  local token="parfetch-test-nginx $1"
  pf__get "$2" /.pf-alive | grep -qF "$token" || return 1
  if command -v curl >/dev/null 2>&1; then
    curl -sS --max-time 3 --cacert "$PF_CA" "https://127.0.0.1:$3/.pf-alive" 2>/dev/null |
      grep -qF "$token" || return 1
    curl -sS --max-time 3 --cacert "$PF_CA" "https://127.0.0.1:$4/.pf-alive" 2>/dev/null |
      grep -qF "$token" || return 1
  else
    pf__port_open "$3" && pf__port_open "$4" || return 1
  fi
}

# pf_nginx_start - generate the CA (once), pick ports, start nginx, wait until
# all three listeners answer. Up to 5 attempts with fresh ports (a port may be
# taken between choosing and binding); each waits at most 50 x 0.1 s.
pf_nginx_start() {
  local d ports http https h2 attempt
  pf_init || return 1
  if ! command -v nginx >/dev/null 2>&1 && [ -x /usr/sbin/nginx ]; then
    PATH="$PATH:/usr/sbin"
  fi
  command -v nginx >/dev/null 2>&1 || {
    echo "lib.sh: nginx not found (Debian: apt-get install nginx-light)" >&2
    return 1
  }
  [ -n "$PF_NGINX_PID" ] && return 0
  export PF_DOCROOT="$PF_TMP/docroot"
  export PF_CA="$PF_TMP/ca/ca.pem"
  d="$PF_TMP/nginx"
  mkdir -p "$PF_DOCROOT" "$d/tmp" || return 1
  if [ ! -s "$PF_CA" ]; then
    pf__make_ca "$PF_TMP/ca" || return 1
  fi
  for attempt in 1 2 3 4 5; do
    ports=$(pf__free_ports) || { echo "lib.sh: no free ports" >&2; return 1; }
    read -r http https h2 <<<"$ports"
    pf__write_nginx_conf "$d" "$http" "$https" "$h2" || return 1
    : >"$d/error.log"
    env "${PF_NGINX_ENV[@]+"${PF_NGINX_ENV[@]}"}" \
      nginx -p "$d/" -c "$d/nginx.conf" -e "$d/error.log" >"$d/stdout.log" 2>&1 </dev/null &
    PF_NGINX_PID=$!
    for _ in $(seq 1 50); do
      if ! kill -0 "$PF_NGINX_PID" 2>/dev/null; then
        break
      fi
      if pf__nginx_ready "$d" "$http" "$https" "$h2"; then
        export PF_HTTP_URL="http://127.0.0.1:$http"
        export PF_HTTPS_URL="https://127.0.0.1:$https"
        export PF_H2_URL="https://127.0.0.1:$h2"
        export PF_ACCESS_LOG="$d/access.log"
        export PF_NGINX_PID PF_HTTP_PORT=$http PF_HTTPS_PORT=$https PF_H2_PORT=$h2
        return 0
      fi
      sleep 0.1
    done
    pf_nginx_stop
    if grep -q 'Address already in use' "$d/error.log" "$d/stdout.log" 2>/dev/null; then
      echo "lib.sh: port taken (attempt $attempt), trying others" >&2
      continue
    fi
    break
  done
  echo "lib.sh: nginx did not come up; its error log:" >&2
  cat "$d/error.log" "$d/stdout.log" >&2 2>/dev/null
  return 1
}

pf__children() { # PID - its direct children, from /proc/*/stat
  local f line rest
  for f in /proc/[0-9]*/stat; do
    { read -r line <"$f"; } 2>/dev/null || continue
    rest=${line##*) }          # "STATE PPID ..." after the command name
    rest=${rest#* }
    [ "${rest%% *}" = "$1" ] && { f=${f#/proc/}; echo "${f%/stat}"; }
  done
  return 0
}

pf_nginx_stop() {
  local pid=$PF_NGINX_PID kids
  [ -n "$pid" ] || return 0
  PF_NGINX_PID=
  if kill -0 "$pid" 2>/dev/null; then
    kids=$(pf__children "$pid")
    kill -TERM "$pid" 2>/dev/null || true # fast shutdown; the master stops its workers
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      # shellcheck disable=SC2086
      kill -KILL "$pid" $kids 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
  return 0
}

# ---------------------------------------------------------------- access log

# pf_log_lines URI [PORT] - access-log lines whose request_uri is exactly URI
# (path and query), optionally only those served on PORT.
pf_log_lines() {
  awk -F '\t' -v u="$1" -v p="${2:-}" '$4 == u && (p == "" || $1 == p)' "$PF_ACCESS_LOG"
}

# pf_log_wait URI N [PORT] - wait (at most 3 s) until the log holds N lines
# for URI: nginx writes a line when it finishes a request, which can be just
# after the client has gone.
pf_log_wait() {
  for _ in $(seq 1 30); do
    [ "$(pf_log_lines "$1" "${3:-}" | wc -l)" -ge "$2" ] && return 0
    sleep 0.1
  done
  return 1
}

# pf_log_ranges URI [PORT] - the distinct Range headers of 206 replies for URI.
pf_log_ranges() {
  pf_log_lines "$1" "${2:-}" | awk -F '\t' '$5 == 206 { print $6 }' | sort -u
}

# pf_log_concurrency URI [PORT] - the most requests for URI that were in
# progress at the same moment, from each request's end time and duration.
# Every interval is shrunk by 20 ms at both ends to absorb the log's
# millisecond rounding and nginx noticing a client's early close a little
# late, so use it with requests that last well over 40 ms (/slow/, > 256 KiB).
pf_log_concurrency() {
  pf_log_lines "$1" "${2:-}" | awk -F '\t' -v tol=0.02 '
    { e = $10 - tol; s = $10 - $11 + tol; if (e > s) { n++; S[n] = s; E[n] = e } }
    END {
      max = 0
      for (i = 1; i <= n; i++) {
        c = 0
        for (j = 1; j <= n; j++) if (S[j] <= S[i] && S[i] < E[j]) c++
        if (c > max) max = c
      }
      print max
    }'
}

# pf_accepted - the TCP connections nginx has accepted so far, this query's
# own included (stub_status): those that never carried a request too, which
# the access log does not show.
pf_accepted() {
  pf__get "$PF_HTTP_PORT" /.pf-status | awk 'f { print $1; exit } /^server accepts/ { f = 1 }'
}

# pf_tagged TAG - the access-log lines of the requests whose URL ends with
# "t=TAG" (a query the tests add to tell their downloads apart).
pf_tagged() {
  awk -F '\t' -v t="t=$1" 'index($4, t) && substr($4, length($4) - length(t) + 1) == t' "$PF_ACCESS_LOG"
}

# pf_open_at_once TAG - the most connections that carried TAG's requests
# open at the same moment: each from the start of its first request to the
# end of its last, shrunk by 20 ms at both ends for the log's rounding (a
# connection is always open at its own start, however short it was).
pf_open_at_once() {
  pf_tagged "$1" | pf_at_once_of 10 11 12
}

# pf_at_once_of END TIME CONN - the same for the log lines on stdin, whose
# fields END, TIME and CONN are $msec, $request_time and $connection.
pf_at_once_of() {
  awk -F '\t' -v tol=0.02 -v fe="$1" -v ft="$2" -v fc="$3" '
    { s = $fe - $ft; e = $fe; c = $fc
      if (!(c in S) || s < S[c]) S[c] = s
      if (!(c in E) || e > E[c]) E[c] = e }
    END {
      max = 0
      for (i in S) {
        n = 0
        for (j in S) if (j == i || (S[j] <= S[i] && S[i] + tol < E[j] - tol)) n++
        if (n > max) max = n
      }
      print max
    }'
}
