# shellcheck shell=bash disable=SC2034 # PORT and T are for the test that sources this
# debian/tests/lib.sh - sourced by the DEP-8 tests in debian/tests/: nginx
# serving a directory on a free port of 127.0.0.1, stopped on exit.
#   T          a scratch directory (under $AUTOPKGTEST_TMP when autopkgtest
#              runs the test), world-traversable for nginx's and apt's users
#   nginx_start DOCROOT   start nginx; sets PORT; the access log, one line a
#              request ("URI" "User-Agent" STATUS), is $T/access.log
#   fail MSG   print MSG and exit 1
set -eu
fail() { echo "FAIL: $*" >&2; exit 1; }
T=$(mktemp -d "${AUTOPKGTEST_TMP:-/tmp}/pf-test.XXXXXX")
chmod 0755 "$T"
NGINX_PID=
trap '[ -z "$NGINX_PID" ] || kill "$NGINX_PID" 2>/dev/null || true; rm -rf "$T"' EXIT

nginx_start() { # DOCROOT
  local user="" p
  [ "$(id -u)" -ne 0 ] || user="user root root;" # workers as nobody could not read $T
  mkdir -p "$T/nginx"
  for p in $(shuf -i 20000-60000 -n 20); do
    cat >"$T/nginx/nginx.conf" <<CONF
$user
daemon on;
worker_processes 1;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log;
events { worker_connections 64; }
http {
  client_body_temp_path $T/nginx/body;
  proxy_temp_path $T/nginx/proxy;
  fastcgi_temp_path $T/nginx/fastcgi;
  uwsgi_temp_path $T/nginx/uwsgi;
  scgi_temp_path $T/nginx/scgi;
  log_format pf '\$request_uri "\$http_user_agent" \$status';
  access_log $T/access.log pf;
  server { listen 127.0.0.1:$p; root $1; }
}
CONF
    # with daemon on, nginx returns once it has bound the port (or failed to)
    if nginx -e "$T/nginx/error.log" -c "$T/nginx/nginx.conf" 2>>"$T/nginx/start.log"; then
      PORT=$p
      NGINX_PID=$(cat "$T/nginx/nginx.pid")
      return 0
    fi
  done
  cat "$T/nginx/start.log" "$T/nginx/error.log" >&2 || true
  fail "nginx did not start on any of 20 loopback ports"
}
