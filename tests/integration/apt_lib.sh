# shellcheck shell=bash
# tests/integration/apt_lib.sh - the apt side of t_apt.sh: a flat repository of generated .deb
# packages, the nginx locations that serve it, and apt-get runs with an isolated APT_CONFIG
# (nothing under /etc/apt, /var/lib/apt or /var/cache/apt is read for state or written).
#
# Source it after lib.sh and tests/fault/fault.sh:
#
#   apt_repo_build DIR         the packages of APT_PKGS below, Packages, Packages.gz, Release
#                              (dpkg-deb -Znone, dpkg-scanpackages, apt-ftparchive); the test
#                              objects are then corrupted / removed as their names say
#   apt_repo_index DIR         Packages, Packages.gz and Release of the .deb files in DIR
#   apt_servers_start          the fault server behind /repo/flaky_1.0_all.deb, then nginx
#                              (lib.sh's pf_nginx_start) with the locations below; sets APT_LOG
#   apt_nginx_start            nginx alone (no fault server; bench/apt.sh), same locations and log
#   apt_case NAME [URL...]     a fresh apt tree under $PF_TMP/apt/NAME whose sources.list has one
#                              `deb [trusted=yes] URL ./` per URL (default $APT_URL); sets
#                              AC (its APT_CONFIG file), AD (the tree), ARCH (archives/), APART
#                              (archives/partial/); marks APT_LOG so that apt_log shows this
#                              case's requests only
#   apt_get ARGS...            apt-get with AC, -q, the method overrides (Dir::Bin::Methods::http
#                              and ::https = APT_M) and APT_GET_OPTS; bounded by APT_TIMEOUT (120 s)
#   apt_get_own ARGS...        the same without the overrides: apt's own methods
#   apt_mark                   from now on apt_log shows only later requests
#   apt_log [PATTERN]          nginx's log lines of the current case (those whose request line
#                              holds PATTERN); waits <= 1 s for nginx to write the last ones
#   apt_range_start RANGE      the first byte of a Range header ("-" = no Range = 0)
#   apt_children PID           PID's children (lib.sh's pf__children)
#
# nginx (http and https listeners of lib.sh), every location logged to APT_LOG:
#   /repo/            the repository; replies limited to 512 KiB/s each while the file
#                     $PF_TMP/apt-slow exists (nginx's server-level `if (-f)` + $limit_rate)
#   /repo/flaky_1.0_all.deb  proxied to build/fault_server serving that file, whose first request
#                     gets 503 (Retry-After: 1): nginx cannot fail "once", the fault server can
#   /moved/NAME       301 to /repo/NAME
#   /private/         the repository again, behind auth_basic (user aptuser, password APT_PASS;
#                     htpasswd made with openssl passwd -apr1)
# APT_LOG fields, tab-separated ("-" when a header is absent):
#   1 port  2 request line  3 status  4 Range  5 User-Agent  6 connection serial
#   7 Authorization present (0/1)  8 If-Modified-Since  9 If-Range  10 body bytes  11 msec
#   12 Cache-Control
#
# Variables: APT_M (the method under test), APT_URL (http://127.0.0.1:PORT/repo/), APT_REPO,
# APT_TIMEOUT, APT_GET_OPTS (array, extra -o for every apt_get).

# It sets variables for the sourcing script and for lib.sh (PF_NGINX_*_EXTRA):
# shellcheck disable=SC2034
APT_TIMEOUT=${APT_TIMEOUT:-120}
APT_GET_OPTS=()
APT_PASS=apt-secret-$$
APT_LOG_MARK=0

# The packages: NAME:SIZE of /usr/share/NAME/data (random bytes, so no compression helps).
# large is the one that should come in several ranges; corrupt is served with one byte changed
# after the index was made; missing is listed but not served; flaky goes through the fault server.
APT_LARGE_SIZE=${APT_LARGE_SIZE:-$((32 * 1024 * 1024))}
APT_PKGS=(small-a:4096 small-b:12288 "large:$APT_LARGE_SIZE" corrupt:4096 missing:4096 flaky:6144)

apt_deb() { echo "$APT_REPO/${1}_1.0_all.deb"; }

# apt__mkdeb WORK REPO NAME SIZE - REPO/NAME_1.0_all.deb
apt__mkdeb() {
  local d="$1/$3"
  mkdir -p "$d/DEBIAN" "$d/usr/share/$3" || return 1
  pf_mkfile "$d/usr/share/$3/data" "$4" "apt:$3" || return 1
  cat >"$d/DEBIAN/control" <<EOF
Package: $3
Version: 1.0
Architecture: all
Maintainer: parfetch tests <tests@invalid>
Section: misc
Priority: optional
Description: parfetch apt test package $3
 $4 bytes of random data in /usr/share/$3/data.
EOF
  dpkg-deb --root-owner-group -Znone --build "$d" "$2/${3}_1.0_all.deb" >/dev/null
}

# apt_repo_index DIR - Packages, Packages.gz and Release of the .deb files in DIR
apt_repo_index() {
  (
    cd "$1" || exit 1
    dpkg-scanpackages --multiversion . /dev/null >Packages 2>scan.log || { cat scan.log; exit 1; }
    rm -f scan.log Packages.gz
    gzip -9k Packages &&
      apt-ftparchive release . >"$PF_TMP/Release.new" &&
      mv "$PF_TMP/Release.new" Release
  )
}

apt_repo_build() {
  local repo=$1 work="$PF_TMP/debs" p
  APT_REPO=$repo
  mkdir -p "$repo" "$work" || return 1
  for p in "${APT_PKGS[@]}"; do
    apt__mkdeb "$work" "$repo" "${p%%:*}" "${p#*:}" || return 1
  done
  apt_repo_index "$repo" || return 1
  # The index is made: now break the two packages that must fail. corrupt keeps its size.
  printf 'X' | dd of="$(apt_deb corrupt)" bs=1 seek=2000 conv=notrunc status=none || return 1
  mv "$(apt_deb missing)" "$PF_TMP/missing.deb" || return 1
  # flaky is served by the fault server only.
  mv "$(apt_deb flaky)" "$PF_TMP/flaky.deb"
}

apt_servers_start() {
  pf_fault_start FLAKY --file "$PF_TMP/flaky.deb" --fault status:code=503,first=1 --quiet &&
    apt_nginx_start
}

# apt_nginx_start - nginx alone (bench/apt.sh): /repo/flaky_1.0_all.deb goes to the fault
# server only when FLAKY_PORT is set (apt_servers_start)
apt_nginx_start() {
  local log="$PF_TMP/apt-access.log" flaky=
  [ -n "${FLAKY_PORT:-}" ] && flaky="
        location = /repo/flaky_1.0_all.deb {
            proxy_pass http://127.0.0.1:$FLAKY_PORT;
            proxy_http_version 1.1;
            access_log $log pfapt;
        }"
  printf 'aptuser:%s\n' "$(openssl passwd -apr1 "$APT_PASS")" >"$PF_TMP/htpasswd" || return 1
  # shellcheck disable=SC2016 # nginx variables
  PF_NGINX_HTTP_EXTRA='
    map $http_authorization $pfapt_auth { "" 0; default 1; }
    # /mtls/ wants a client certificate of the test CA (SslCert, SslKey); elsewhere none is asked
    ssl_client_certificate '"$PF_TMP/ca/ca.pem"';
    ssl_verify_client optional;
    log_format pfapt '"'"'$server_port\t$request\t$status\t$http_range\t$http_user_agent\t$connection\t$pfapt_auth\t$http_if_modified_since\t$http_if_range\t$body_bytes_sent\t$msec\t$http_cache_control'"'"';'
  PF_NGINX_SERVER_EXTRA="
        # t_apt.sh (apt_lib.sh): the flat repository.
        if (-f $PF_TMP/apt-slow) {
            set \$limit_rate 512k;
        }
        location /repo/ {
            alias $APT_REPO/;
            access_log $log pfapt;
        }$flaky
        location /moved/ {
            rewrite ^/moved/(.*)\$ /repo/\$1 permanent;
            access_log $log pfapt;
        }
        # redirects between the schemes: http -> https (allowed), https -> http (refused)
        location /up/ {
            rewrite ^/up/(.*)\$ https://127.0.0.1:@HTTPS_PORT@/repo/\$1 permanent;
            access_log $log pfapt;
        }
        location /down/ {
            rewrite ^/down/(.*)\$ http://127.0.0.1:@HTTP_PORT@/repo/\$1 permanent;
            access_log $log pfapt;
        }
        # the https listener on 127.0.0.2 too: its certificate names 127.0.0.1 and
        # localhost only (Verify-Host)
        listen 127.0.0.2:@HTTPS_PORT@ ssl;
        location /mtls/ {
            alias $APT_REPO/;
            if (\$ssl_client_verify != SUCCESS) {
                return 403;
            }
            access_log $log pfapt;
        }
        location /private/ {
            alias $APT_REPO/;
            auth_basic \"parfetch apt test\";
            auth_basic_user_file $PF_TMP/htpasswd;
            access_log $log pfapt;
        }"
  pf_nginx_start || return 1
  : >>"$log"
  APT_LOG=$log
  APT_URL="$PF_HTTP_URL/repo/"
}

apt_case() {
  local name=$1 u
  shift
  AD="$PF_TMP/apt/$name"
  AC="$AD/apt.conf"
  ARCH="$AD/cache/archives"
  APART="$ARCH/partial"
  rm -rf -- "$AD"
  mkdir -p "$AD"/etc/{apt.conf.d,sources.list.d,preferences.d,trusted.gpg.d,auth.conf.d} \
    "$AD"/state/lists "$ARCH" "$AD/log" "$AD/dpkg" || return 1
  : >"$AD/dpkg/status"
  [ $# -gt 0 ] || set -- "$APT_URL"
  for u in "$@"; do echo "deb [trusted=yes] $u ./"; done >"$AD/etc/sources.list"
  cat >"$AC" <<EOF
// t_apt.sh case $name: everything apt reads or writes is under $AD.
Dir::Etc "$AD/etc/";
Dir::Etc::main "apt.conf";
Dir::Etc::parts "$AD/etc/apt.conf.d/";
Dir::Etc::sourcelist "$AD/etc/sources.list";
Dir::Etc::sourceparts "$AD/etc/sources.list.d/";
Dir::Etc::preferences "$AD/etc/preferences";
Dir::Etc::preferencesparts "$AD/etc/preferences.d/";
Dir::Etc::netrc "$AD/etc/auth.conf";
Dir::Etc::netrcparts "$AD/etc/auth.conf.d/";
Dir::Etc::trusted "$AD/etc/trusted.gpg";
Dir::Etc::trustedparts "$AD/etc/trusted.gpg.d/";
Dir::State "$AD/state/";
Dir::State::status "$AD/dpkg/status";
Dir::Cache "$AD/cache/";
Dir::Log "$AD/log/";
Acquire::Languages "none";
EOF
  chmod -R go+rX "$AD"
  APT_LOG_MARK=$(wc -l <"$APT_LOG")
}

apt_get() {
  APT_CONFIG=$AC timeout -k 5 "$APT_TIMEOUT" apt-get -q \
    -o Dir::Bin::Methods::http="$APT_M" -o Dir::Bin::Methods::https="$APT_M" \
    "${APT_GET_OPTS[@]+"${APT_GET_OPTS[@]}"}" "$@"
}

apt_get_own() {
  APT_CONFIG=$AC timeout -k 5 "$APT_TIMEOUT" apt-get -q \
    "${APT_GET_OPTS[@]+"${APT_GET_OPTS[@]}"}" "$@"
}

# nginx writes a line when a request ends, which can be just after apt-get has gone:
# wait until the count stops growing (<= 1 s).
apt__log_settle() {
  local n prev=-1
  for _ in $(seq 1 10); do
    n=$(wc -l <"$APT_LOG")
    [ "$n" = "$prev" ] && break
    prev=$n
    sleep 0.1
  done
}

apt_log() {
  apt__log_settle
  tail -n +"$((APT_LOG_MARK + 1))" "$APT_LOG" | awk -F '\t' -v p="${1:-}" 'index($2, p)'
}

apt_range_start() {
  local r=${1#bytes=}
  [ "$1" = "-" ] && { echo 0; return; }
  r=${r%%-*}
  echo "${r:-0}"
}

apt_children() { pf__children "$1"; }

# apt_mark - from now on apt_log shows only the requests made after this point.
# (the requests of a run just stopped are logged as their connections close: first those)
apt_mark() {
  apt__log_settle
  APT_LOG_MARK=$(wc -l <"$APT_LOG")
}
