#!/usr/bin/env bash
# scripts/package-test.sh - the Debian packages (debian/) as a distribution
# would take them, in a fresh Debian 12 minbase root (scripts/debroot.sh):
# from a clean clone of HEAD, install only build-essential, lintian and the
# source's Build-Depends (apt-get build-dep), build with
# `dpkg-buildpackage -us -uc -b`, run lintian (no E: or W: line may be left),
# put the .debs into a local repository served by nginx on loopback, and:
#   - install parfetch and apt-transport-parfetch with apt from it; check
#     `parfetch --version` (the multiarch plugin, found with no config), a
#     download (bytes equal), `pkg-config --variable=plugindir parfetch`, the
#     example host of parfetch-dev compiled against the installed header;
#   - check that apt-get update and apt-get install now go through the method
#     (its User-Agent "parfetch/... (apt method)" in nginx's log);
#   - remove apt-transport-parfetch (not purge) and check that apt uses its own
#     method and works (update, install; its User-Agent in the log); as a
#     control, put the moved apt.conf.d file back by hand and see apt fail
#     without the method: what the prerm prevents;
#   - reinstall it (its apt.conf.d file comes back), then purge everything and
#     check that no file of the packages' `dpkg -L` lists is left.
# Prints "ok - ..." / "not ok - ..." lines and a summary; exits non-zero if a
# check failed. Needs root and a Debian mirror (debootstrap, apt in the root);
# every request of the checks goes to nginx on 127.0.0.1. Takes minutes: not
# part of `make test` (make package-test).
#
#   FRESH_DIR=DIR, FRESH_KEEP=1   as for scripts/fresh-debian.sh (debroot.sh)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# ============================================================ inside the root
if [ "${1:-}" = --in-root ]; then
  export DEBIAN_FRONTEND=noninteractive
  SRC=/root/parfetch
  W=/root/pkgtest
  REPO=/srv/pfrepo
  PKGS="parfetch-plugin parfetch parfetch-dev apt-transport-parfetch"
  CONF=/etc/apt/apt.conf.d/50parfetch.conf
  pass=0 fail=0
  ok() { pass=$((pass + 1)); echo "ok - $1"; }
  not_ok() { fail=$((fail + 1)); echo "not ok - $1"; shift; [ $# -gt 0 ] && printf '#   %s\n' "$@"; return 0; }
  check() { # NAME CMD... - run CMD, its output kept for a failure
    local name=$1 out; shift
    if out=$("$@" 2>&1); then ok "$name"; else not_ok "$name" "(exit $?) $*" "$(printf '%s' "$out" | tail -n 15)"; fi
  }
  finish() {
    echo "package-test: $pass passed, $fail failed"
    [ -n "${NGINX_PID:-}" ] && kill "$NGINX_PID" 2>/dev/null
    [ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
    exit $?
  }
  stop() { not_ok "$1"; finish; } # a step the rest depends on failed
  trap '[ -n "${NGINX_PID:-}" ] && kill "$NGINX_PID" 2>/dev/null' EXIT
  mkdir -p "$W" "$REPO"

  echo "# --- tools: build-essential, lintian, nginx-light, then the Build-Depends of debian/control"
  apt-get update -qq >/dev/null 2>&1
  apt-get install -y -qq --no-install-recommends build-essential lintian nginx-light >"$W/tools.log" 2>&1 ||
    { tail -n 20 "$W/tools.log"; stop "install build-essential, lintian, nginx-light"; }
  check "apt-get build-dep $SRC (debian/control's Build-Depends are enough)" \
    apt-get build-dep -y -qq "$SRC"

  echo "# --- build"
  (cd "$SRC" && find . -path ./.git -prune -o -type f -print | sort) >"$W/tree.before"
  if (cd "$SRC" && dpkg-buildpackage -us -uc -b) >"$W/build.log" 2>&1; then
    ok "dpkg-buildpackage -us -uc -b in a clean clone"
  else
    tail -n 30 "$W/build.log"; stop "dpkg-buildpackage -us -uc -b in a clean clone"
  fi
  ver=$(dpkg-parsechangelog -l "$SRC/debian/changelog" -S Version)
  changes=/root/parfetch_${ver}_$(dpkg --print-architecture).changes
  check "the build made the four packages" sh -c 'for p in $1; do ls /root/${p}_*.deb >/dev/null || exit 1; done' _ "$PKGS"
  check "debian/rules clean leaves the tree as the clone had it" \
    sh -c 'cd "$1" && debian/rules clean >/dev/null 2>&1 && (find . -path ./.git -prune -o -type f -print | sort >"$2/tree.after") && diff "$2/tree.before" "$2/tree.after"' _ "$SRC" "$W"

  echo "# --- lintian"
  lintian --pedantic -I -E "$changes" >"$W/lintian.log" 2>&1
  sed 's/^/#   lintian: /' "$W/lintian.log"
  check "lintian: no error" sh -c '! grep -q "^E: " "$1"' _ "$W/lintian.log"
  check "lintian: no warning (each is fixed or overridden in debian/)" sh -c '! grep -q "^W: " "$1"' _ "$W/lintian.log"

  echo "# --- a local repository on nginx (loopback), the only apt source from here on"
  cp /root/*.deb "$REPO/" && rm -f "$REPO"/*-dbgsym_*.deb
  (cd "$REPO" && dpkg-scanpackages --multiversion . >Packages 2>/dev/null)
  head -c 24M /dev/urandom >"$REPO/blob.bin"
  port=
  for p in $(shuf -i 20000-60000 -n 20); do
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { port=$p; break; }
  done
  [ -n "$port" ] || stop "a free loopback port for nginx"
  LOG=$W/access.log
  cat >"$W/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $W/nginx.pid;
error_log $W/error.log;
events { worker_connections 64; }
http {
  log_format pf '\$request_uri "\$http_user_agent" \$status';
  access_log $LOG pf;
  server { listen 127.0.0.1:$port; root $REPO; }
}
EOF
  nginx -c "$W/nginx.conf" &
  NGINX_PID=$!
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  check "nginx serves the repository on 127.0.0.1:$port" bash -c '(exec 3<>"/dev/tcp/127.0.0.1/$1")' _ "$port"
  mkdir -p /root/apt-sources-saved
  mv /etc/apt/sources.list /root/apt-sources-saved/ 2>/dev/null
  for f in /etc/apt/sources.list.d/*; do [ -e "$f" ] && mv "$f" /root/apt-sources-saved/; done
  echo "deb [trusted=yes] http://127.0.0.1:$port/ ./" >/etc/apt/sources.list.d/pfrepo.list
  # no proxy for loopback, whatever the machine's apt or environment says
  echo "Acquire::http::Proxy::127.0.0.1 \"DIRECT\";" >/etc/apt/apt.conf.d/10pfrepo-direct
  export no_proxy=127.0.0.1,localhost NO_PROXY=127.0.0.1,localhost
  log_mark() { wc -l <"$LOG"; }
  log_since() { tail -n +$(($1 + 1)) "$LOG"; } # MARK - log lines after MARK

  echo "# --- install from the repository (apt's own method still)"
  apt-get update -qq >"$W/update.log" 2>&1 || { cat "$W/update.log"; stop "apt-get update (the local repository)"; }
  ok "apt-get update (the local repository)"
  apt-get install -y -qq parfetch apt-transport-parfetch >"$W/install.log" 2>&1 ||
    { cat "$W/install.log"; stop "apt-get install parfetch apt-transport-parfetch"; }
  ok "apt-get install parfetch apt-transport-parfetch"
  check "... the plugin came as a dependency" dpkg -s parfetch-plugin
  check "parfetch --version: the installed plugin in /usr/lib/<triplet>/parfetch, no config" \
    sh -c 'v=$(parfetch --version) && echo "$v" && echo "$v" | grep -q "^plugin /usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)/parfetch/parfetch.so: parfetch $1"' _ "$ver"
  check "parfetch downloads 24 MiB from nginx (bytes equal)" \
    sh -c 'parfetch -q -o /root/blob.out "http://127.0.0.1:$1/blob.bin" && cmp "$2/blob.bin" /root/blob.out' _ "$port" "$REPO"
  check "/etc/parfetch/config.yaml and /etc/apt/apt.conf.d/50parfetch.conf are conffiles" \
    sh -c 'dpkg-query -W -f="\${Conffiles}\n" parfetch-plugin | grep -q " /etc/parfetch/config.yaml " &&
           dpkg-query -W -f="\${Conffiles}\n" apt-transport-parfetch | grep -q " $1 "' _ "$CONF"
  check "apt-config: http and https are the parfetch method now" \
    sh -c 'apt-config dump | grep -qix "Dir::Bin::Methods::http \"/usr/lib/apt/methods/parfetch\";" &&
           apt-config dump | grep -qix "Dir::Bin::Methods::https \"/usr/lib/apt/methods/parfetch\";"'

  echo "# --- apt through the method"
  m=$(log_mark)
  check "apt-get update through the method" apt-get update -o Acquire::http::No-Cache=true
  check "... its requests carry the method's User-Agent (nginx's log)" \
    sh -c 'log=$(tail -n +$(($1 + 1)) "$2"); echo "$log"; echo "$log" | grep -Eq "Packages[^ ]* \"parfetch/$3 \(apt method\)\" (200|304)$" &&
           ! echo "$log" | grep -q "Debian APT-HTTP"' _ "$m" "$LOG" "$ver"
  m=$(log_mark)
  check "apt-get install parfetch-dev through the method" apt-get install -y -qq parfetch-dev
  check "... the .deb came through the method (nginx's log)" \
    sh -c 'tail -n +$(($1 + 1)) "$2" | grep -Eq "parfetch-dev_[^ ]*\.deb \"parfetch/$3 \(apt method\)\" 20[06]$"' _ "$m" "$LOG" "$ver"
  check "pkg-config --variable=plugindir parfetch" \
    sh -c 'd=$(pkg-config --variable=plugindir parfetch) && echo "$d" && [ "$d" = "$(dirname "$(pkg-config --variable=plugin parfetch)")" ] && [ -f "$d/parfetch.so" ]'
  ex=/usr/share/doc/parfetch-dev/examples
  check "minimal_host.c (parfetch-dev's example) builds against the installed header" \
    sh -c 'cc -std=c11 -D_GNU_SOURCE $(pkg-config --cflags parfetch) -I"$1" -o /root/minimal_host "$1/minimal_host.c" "$1/loader.c" -ldl &&
           cc -M -std=c11 -D_GNU_SOURCE $(pkg-config --cflags parfetch) -I"$1" "$1/minimal_host.c" | grep -q "/usr/include/parfetch.h"' _ "$ex"
  check "... and downloads with the installed plugin (bytes equal)" \
    sh -c '/root/minimal_host "$(pkg-config --variable=plugin parfetch)" "http://127.0.0.1:$1/blob.bin" /root/blob2.out && cmp "$2/blob.bin" /root/blob2.out' _ "$port" "$REPO"

  for p in $PKGS; do dpkg -L "$p" >"$W/files.$p"; done
  check "dpkg -L lists the files of all four packages (what must go at the purge)" \
    sh -c 'for p in $1; do [ "$(grep -c "^/usr/\|^/etc/" "$2/files.$p")" -ge 3 ] || exit 1; done' _ "$PKGS" "$W"
  # an administrator's edit, which must survive remove + reinstall as a conffile's does
  echo "// edited by the administrator" >>"$CONF"
  cp "$CONF" "$W/50parfetch.conf.installed"

  echo "# --- remove (not purge) the method package: apt's own method again"
  check "apt-get remove apt-transport-parfetch" apt-get remove -y -qq apt-transport-parfetch
  check "... the method is gone and so is the active apt.conf.d file" \
    sh -c '! [ -e /usr/lib/apt/methods/parfetch ] && ! [ -e "$1" ]' _ "$CONF"
  check "... kept aside under a name apt ignores ($CONF.dpkg-remove)" cmp "$W/50parfetch.conf.installed" "$CONF.dpkg-remove"
  check "... the package is in config-files state (rc)" sh -c 'dpkg-query -W -f="\${db:Status-Abbrev}" apt-transport-parfetch | grep -q "^rc"'
  check "apt-config: http is apt's own method again" sh -c '! apt-config dump | grep -qi "Dir::Bin::Methods::https\? \"/usr/lib/apt/methods/parfetch\""'
  m=$(log_mark)
  check "apt-get update works (apt's own method)" apt-get update -o Acquire::http::No-Cache=true
  apt-get clean # the .deb must be fetched again, not taken from apt's cache
  check "apt-get install --reinstall parfetch-dev works (apt's own method)" apt-get install -y -qq --reinstall parfetch-dev
  check "... both went through apt's own method (Debian APT-HTTP in nginx's log, no parfetch)" \
    sh -c 'log=$(tail -n +$(($1 + 1)) "$2"); echo "$log"; echo "$log" | grep -q "parfetch-dev_.*\.deb \"Debian APT-HTTP/" &&
           echo "$log" | grep -q "Packages[^ ]* \"Debian APT-HTTP/" && ! echo "$log" | grep -q "(apt method)"' _ "$m" "$LOG"
  # The control: the conffile where a plain conffile would have stayed.
  cp "$CONF.dpkg-remove" "$CONF"
  check "control: with the file left in place (a plain conffile) apt-get update fails" \
    sh -c 'out=$(apt-get update 2>&1); rc=$?; echo "$out" | tail -n 3; [ "$rc" -ne 0 ] && echo "$out" | grep -q "/usr/lib/apt/methods/parfetch"'
  rm -f "$CONF"

  echo "# --- reinstall the method package: its file comes back"
  check "apt-get install apt-transport-parfetch (again)" apt-get install -y -qq apt-transport-parfetch
  check "... the apt.conf.d file is back as it was (the admin's edit kept), the aside copy gone" \
    sh -c 'cmp "$1" "$2" && ! [ -e "$2.dpkg-remove" ]' _ "$W/50parfetch.conf.installed" "$CONF"
  m=$(log_mark)
  check "... and apt-get update goes through the method again" \
    sh -c 'apt-get update -qq -o Acquire::http::No-Cache=true && tail -n +$(($1 + 1)) "$2" | grep -q "(apt method)"' _ "$m" "$LOG"

  echo "# --- purge everything: nothing is left"
  check "apt-get purge $PKGS" apt-get purge -y -qq $PKGS
  check "dpkg knows none of them any more (not even rc)" \
    sh -c 'for p in $1; do dpkg-query -W -f="\${db:Status-Abbrev}" "$p" 2>/dev/null | grep -q "^[a-z]" && { echo "$p still known"; exit 1; }; done; exit 0' _ "$PKGS"
  check "no file or directory of theirs is left (dpkg -L before, files after)" \
    sh -c 'left=0; for p in $1; do while read -r f; do
             [ "$f" = /. ] && continue; [ -e "$f" ] || [ -L "$f" ] || continue
             if [ -d "$f" ] && ! [ -L "$f" ]; then dpkg -S "$f" >/dev/null 2>&1 && continue; fi
             echo "left: $f ($p)"; left=1; done <"$2/files.$p"; done; exit $left' _ "$PKGS" "$W"
  check "no apt.conf.d file of the method left (nor its aside copy)" sh -c '! ls "$1"* 2>/dev/null' _ "$CONF"
  check "/etc/parfetch is gone" sh -c '! [ -e /etc/parfetch ]'
  check "apt-get update works after the purge" apt-get update -qq
  finish
fi

# ============================================================ outside: the root
say() { echo "package-test: $*"; }
die() { say "$*" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap, mount and chroot need it)"
sha=$(git -C "$ROOT" rev-parse --verify HEAD) || die "$ROOT is not a git checkout"
DEBROOT_NAME=package-test
# shellcheck source=scripts/debroot.sh
. "$ROOT/scripts/debroot.sh"

in_root 'bash /root/parfetch/scripts/package-test.sh --in-root'
rc=$?
secs=$(($(date +%s) - t0))
if [ "$rc" -eq 0 ]; then
  say "PASS: the packages of $sha build, lint, install, work and go away on a fresh Debian 12 (${secs}s)"
else
  say "FAIL at $sha (${secs}s)"
fi
exit "$rc"
