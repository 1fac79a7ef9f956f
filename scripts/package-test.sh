#!/usr/bin/env bash
# scripts/package-test.sh - the Debian packages (debian/) as a distribution
# would take them, in a fresh Debian 12 minbase root (scripts/debroot.sh):
# from a clean clone of HEAD, install only build-essential, lintian,
# nginx-light, autopkgtest, devscripts and the source's Build-Depends
# (apt-get build-dep), build source and binaries with `dpkg-buildpackage -us
# -uc`, run lintian on the .dsc and on the .changes (no E: or W: line may be
# left), hardening-check on the ELF files, put the .debs into a local
# repository served by nginx on loopback, and:
#   - install parfetch and apt-transport-parfetch with apt from it; check
#     `parfetch --version` (the multiarch plugin, found with no config), a
#     download (bytes equal), `pkg-config --variable=plugindir parfetch`, the
#     example host of parfetch-dev compiled against the installed header;
#   - check that apt-get update and apt-get install now go through the method
#     (its User-Agent "parfetch/... (apt method)" in nginx's log);
#   - run the DEP-8 tests of debian/tests directly, then with autopkgtest -B
#     on the null testbed (this root);
#   - remove apt-transport-parfetch (not purge) and check that apt uses its own
#     method and works (update, install; its User-Agent in the log); as a
#     control, put the moved apt.conf.d file back by hand and see apt fail
#     without the method: what the prerm prevents;
#   - reinstall it (its apt.conf.d file comes back);
#   - the maintainer scripts' other paths: upgrade through apt to a second
#     build of the unpacked .dsc (one changelog version on; the admin's edit
#     of the apt.conf.d file kept); test builds (the real scripts plus a line
#     that logs the call and fails on demand) make dpkg take preinst/prerm/
#     postrm failed-upgrade and abort-upgrade, abort-remove, abort-install;
#     a Conflicts+Replaces package with dpkg --auto-deconfigure takes
#     deconfigure and abort-deconfigure; overwriting packages take disappear
#     and the method's takeover (the file trigger); postrm's paths are also
#     called directly with the method gone. After each: apt-get update works,
#     through the method when the package is configured with its file in
#     place, else through apt's own (nginx's log);
#   - purge everything and check that no file of the packages' `dpkg -L`
#     lists is left.
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
  METHOD=/usr/lib/apt/methods/parfetch
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
  rm -rf "$W" "$REPO" /root/*.deb /root/parfetch_* && mkdir -p "$W" "$REPO" # (a kept FRESH_DIR root has the last run's)

  echo "# --- tools: build-essential, lintian, nginx-light, autopkgtest, devscripts (hardening-check), then the Build-Depends of debian/control"
  apt-get update -qq >/dev/null 2>&1
  apt-get install -y -qq --no-install-recommends build-essential lintian nginx-light autopkgtest devscripts >"$W/tools.log" 2>&1 ||
    { tail -n 20 "$W/tools.log"; stop "install build-essential, lintian, nginx-light, autopkgtest, devscripts"; }
  check "apt-get build-dep $SRC (debian/control's Build-Depends are enough)" \
    apt-get build-dep -y -qq "$SRC"

  echo "# --- build"
  (cd "$SRC" && find . -path ./.git -prune -o -type f -print | sort) >"$W/tree.before"
  if (cd "$SRC" && dpkg-buildpackage -us -uc) >"$W/build.log" 2>&1; then
    ok "dpkg-buildpackage -us -uc (source and binaries) in a clean clone"
  else
    tail -n 30 "$W/build.log"; stop "dpkg-buildpackage -us -uc (source and binaries) in a clean clone"
  fi
  ver=$(dpkg-parsechangelog -l "$SRC/debian/changelog" -S Version)
  changes=/root/parfetch_${ver}_$(dpkg --print-architecture).changes
  dsc=/root/parfetch_$ver.dsc
  check "the source package: $dsc and its tarball, with no VCS files in it" \
    sh -c 'rm -rf "$2/unpacked-src" && dpkg-source --no-check -x "$1" "$2/unpacked-src" >/dev/null && [ -f "$2/unpacked-src/debian/rules" ] &&
           ! tar tJf "/root/parfetch_$3.tar.xz" | grep -E "(^|/)\.git(/|$)"' _ "$dsc" "$W" "$ver"
  check "the build made the four packages" sh -c 'for p in $1; do ls /root/${p}_*.deb >/dev/null || exit 1; done' _ "$PKGS"
  check "debian/rules clean leaves the tree as the clone had it" \
    sh -c 'cd "$1" && debian/rules clean >/dev/null 2>&1 && (find . -path ./.git -prune -o -type f -print | sort >"$2/tree.after") && diff "$2/tree.before" "$2/tree.after"' _ "$SRC" "$W"

  echo "# --- lintian: the source package (.dsc), then the full upload (.changes: source and binaries)"
  for what in "$dsc" "$changes"; do
    lintian --pedantic -I -E "$what" >"$W/lintian.log" 2>&1
    sed 's/^/#   lintian: /' "$W/lintian.log"
    check "lintian $(basename "$what"): no error" sh -c '! grep -q "^E: " "$1"' _ "$W/lintian.log"
    check "lintian $(basename "$what"): no warning (each is fixed or overridden in debian/)" sh -c '! grep -q "^W: " "$1"' _ "$W/lintian.log"
  done

  echo "# --- hardening (debian/rules: hardening=+all): hardening-check on the built ELF files"
  # (--nocfprotection: no control-flow check: bookworm's crt objects lack the IBT/SHSTK
  # note, so no bookworm binary has it, apt's own included; README.Debian)
  hx=$W/hardening
  for p in parfetch-plugin parfetch apt-transport-parfetch; do dpkg-deb -x "/root/${p}_${ver}_$(dpkg --print-architecture).deb" "$hx"; done
  hardening-check --nocfprotection "$hx/usr/bin/parfetch" "$hx/usr/lib/apt/methods/parfetch" \
    "$hx/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/parfetch/parfetch.so" >"$W/hardening.log" 2>&1
  hrc=$?
  sed 's/^/#   /' "$W/hardening.log"
  check "hardening-check --nocfprotection: PIE, stack protector, FORTIFY_SOURCE, RELRO, BIND_NOW on the command, the method and the plugin" \
    sh -c '[ "$1" -eq 0 ] && [ "$(grep -c "^ Read-only relocations: yes" "$2")" -eq 3 ] && [ "$(grep -c "^ Immediate binding: yes" "$2")" -eq 3 ] && [ "$(grep -c "^ Stack protected: yes" "$2")" -eq 3 ] && [ "$(grep -c "^ Fortify Source functions: yes" "$2")" -eq 3 ]' _ "$hrc" "$W/hardening.log"

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
  apt-get clean # (a kept FRESH_DIR root may have it in apt's cache)
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

  echo "# --- the DEP-8 tests (debian/tests/control), run directly on this testbed, then by autopkgtest"
  tests=$(sed -n 's/^Tests: *//p' "$SRC/debian/tests/control")
  check "debian/tests/control names 3 tests" sh -c '[ "$(echo $1 | wc -w)" -eq 3 ]' _ "$tests"
  for t in $tests; do
    deps=$(awk -v t="$t" '/^Tests:/ { cur = ($2 == t) } cur && /^Depends:/ { sub(/^Depends: */, ""); print }' "$SRC/debian/tests/control")
    check "debian/tests/$t (its Depends installed: $deps)" \
      sh -c 'for d in $(echo "$2" | tr -d ","); do dpkg -s "$d" >/dev/null 2>&1 || { echo "$d not installed"; exit 1; }; done
             cd "$1" && AUTOPKGTEST_TMP=$(mktemp -d) debian/tests/"$3"' _ "$SRC" "$deps" "$t"
  done
  if command -v autopkgtest >/dev/null; then
    # the null virtualisation server: this root is the testbed; the installed
    # packages are the ones under test (-B: no build), test deps from the local repo
    check "autopkgtest -B (null testbed): every test passes" \
      sh -c 'autopkgtest -B "$1" -- null >"$2/autopkgtest.log" 2>&1; rc=$?; grep -E "^(download|example-host|apt-method) " "$2/autopkgtest.log"; [ "$rc" -eq 0 ]' _ "$SRC/" "$W"
  else
    not_ok "autopkgtest is installed (tools)"
  fi

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

  # ================================================ the maintainer scripts' other paths
  # Debian policy 6.5-6.8 (deb-preinst(5) ... deb-postrm(5)): real dpkg runs that take
  # each path, with test builds of apt-transport-parfetch whose scripts are the real
  # ones plus, at the end, a line that logs the call and fails on demand; after each,
  # apt-get update must work: through the method when the package is configured with
  # its apt.conf.d file in place, else through apt's own method with the file aside.
  PF_FAIL=/root/pf-fail        # a file SCRIPT.ARG here: the test builds' SCRIPT fails when called with ARG
  PF_CALLS=/root/pf-calls.log  # the test builds' maintainer script calls, in order
  MDIR=/root/maint
  arch=$(dpkg --print-architecture)
  mkdir -p "$PF_FAIL" "$MDIR" && : >"$PF_CALLS"
  hook_scripts() { # DIR - the maintainer scripts of the unpacked package DIR log their call and fail on demand
    local s f
    for s in preinst prerm postinst postrm; do
      f=$1/DEBIAN/$s
      [ -e "$f" ] || printf '#!/bin/sh\nset -e\nexit 0\n' >"$f"
      [ "$(tail -n 1 "$f")" = "exit 0" ] || { echo "$f does not end in exit 0"; return 1; }
      sed -i '$d' "$f"
      cat >>"$f" <<EOF
echo "$s \$*" >>$PF_CALLS
if [ -e "$PF_FAIL/$s.\$1" ]; then echo "$s \$*: injected failure (package-test)" >&2; exit 1; fi
exit 0
EOF
      chmod 0755 "$f"
    done
  }
  repack() { # DEB VERSION OUT - DEB as VERSION, its maintainer scripts hooked
    local d rc
    d=$(mktemp -d) || return 1
    dpkg-deb -R "$1" "$d" && sed -i "s/^Version: .*/Version: $2/" "$d/DEBIAN/control" &&
      hook_scripts "$d" && dpkg-deb -b "$d" "$3" >/dev/null
    rc=$?; rm -rf "$d"; return $rc
  }
  fail_on() { rm -f "$PF_FAIL"/*; local a; for a; do : >"$PF_FAIL/$a"; done; }
  calls_mark() { wc -l <"$PF_CALLS"; }
  called() { # MARK CALL... - the scripts were called so, in this order (other calls between allowed)
    local got; got=$(tail -n +$(($1 + 1)) "$PF_CALLS"); shift
    printf '%s\n' "$got" | awk -v want="$(printf '%s\n' "$@")" '
      BEGIN { n = split(want, w, "\n"); i = 1 } i <= n && $0 == w[i] { i++ } END { exit i <= n }' ||
      { echo "calls: $(printf '%s; ' "$got")"; echo "wanted, in order: $(printf '%s; ' "$@")"; return 1; }
  }
  apt_is() { # parfetch|apt - apt-get update works, every request through the method (its apt.conf.d
             # file active) or through apt's own (Debian APT-HTTP; the file not active)
    local m log
    m=$(log_mark)
    apt-get update -o Acquire::http::No-Cache=true >"$W/apt_is.log" 2>&1 ||
      { tail -n 5 "$W/apt_is.log"; echo "apt-get update failed"; return 1; }
    log=$(log_since "$m")
    [ -n "$log" ] || { echo "no request in nginx's log"; return 1; }
    if [ "$1" = parfetch ]; then
      [ -e "$CONF" ] || { echo "$CONF is not there"; return 1; }
      ! echo "$log" | grep -v -q '"parfetch/[^"]* (apt method)"' || { echo "$log"; echo "a request not through the method"; return 1; }
    else
      [ ! -e "$CONF" ] || { echo "$CONF is there"; return 1; }
      ! echo "$log" | grep -v -q '"Debian APT-HTTP/' || { echo "$log"; echo "a request not through apt's own method"; return 1; }
    fi
  }
  at_edit() { # STATUS VERSION - at STATUS VERSION parfetch, and the admin's edit of the file kept
    at "$1" "$2" parfetch && cmp "$W/50parfetch.conf.installed" "$CONF"
  }
  fails() { ! "$@"; }
  script_then() { # CHECK... -- SCRIPT ARG... - run SCRIPT ARG..., then CHECK...
    local c=()
    while [ "$1" != -- ]; do c+=("$1"); shift; done
    shift
    "$@" && "${c[@]}"
  }
  repack2() { repack "$deb2" "$ver3" "$MDIR/t3.deb" && repack "$deb2" "$ver4" "$MDIR/t4.deb"; }
  build_conflict() { hook_scripts "$cd_" && dpkg-deb -b "$cd_" "$MDIR/conflict.deb" >/dev/null; }
  at() { # STATUS VERSION VIA - apt-transport-parfetch's dpkg status (a glob on db:Status-Abbrev) and
         # version, and apt-get update works through VIA (apt_is)
    local s v
    s=$(dpkg-query -W -f='${db:Status-Abbrev}' apt-transport-parfetch 2>&1); s=${s% }
    v=$(dpkg-query -W -f='${Version}' apt-transport-parfetch 2>&1)
    # shellcheck disable=SC2053 # $1 is a glob
    [[ $s == $1 && $v == "$2" ]] || { echo "apt-transport-parfetch is '$s' $v, not '$1' $2"; return 1; }
    apt_is "$3"
  }

  echo "# --- an upgrade: the source package (.dsc) unpacked, its changelog one version on, built, served and taken by apt through the method"
  ver2=$ver+pt2
  B=/root/b
  rm -rf "$B" && mkdir -p "$B"
  if (cd "$B" && dpkg-source -x "/root/parfetch_$ver.dsc" src) >"$W/b.log" 2>&1 &&
     { printf 'parfetch (%s) unstable; urgency=medium\n\n  * package-test: an upgrade.\n\n -- package-test <root@localhost>  %s\n\n' \
         "$ver2" "$(date -R)"; cat "$B/src/debian/changelog"; } >"$B/changelog" && mv "$B/changelog" "$B/src/debian/changelog" &&
     (cd "$B/src" && dpkg-buildpackage -us -uc -b) >>"$W/b.log" 2>&1; then
    ok "the unpacked source package builds, as $ver2"
  else
    tail -n 30 "$W/b.log"; stop "the unpacked source package builds, as $ver2"
  fi
  cp "$B"/*_"${ver2}"_*.deb "$REPO/" && rm -f "$REPO"/*-dbgsym_*.deb
  (cd "$REPO" && dpkg-scanpackages --multiversion . >Packages 2>/dev/null)
  apt-get update -qq >/dev/null 2>&1
  apt-get clean
  m=$(log_mark)
  check "apt-get dist-upgrade to $ver2 (the admin's edit of $CONF in place)" apt-get dist-upgrade -y -qq
  check "... all four are at $ver2, their .debs fetched through the method" \
    sh -c 'for p in $1; do [ "$(dpkg-query -W -f="\${db:Status-Abbrev}\${Version}" "$p")" = "ii $2" ] || { echo "$p not ii $2"; exit 1; }
             tail -n +$(($3 + 1)) "$4" | grep -Eq "${p}_[^ ]*\.deb \"parfetch/[^\"]* \(apt method\)\" 20[06]$" || { echo "$p .deb not through the method"; exit 1; }; done' \
    _ "$PKGS" "$ver2" "$m" "$LOG"
  check "... the admin's edit of $CONF is kept" cmp "$W/50parfetch.conf.installed" "$CONF"
  check "... and apt still goes through the method" at ii "$ver2" parfetch

  echo "# --- test builds $ver+pt3 and $ver+pt4 of apt-transport-parfetch: the real scripts, logged, failing on demand"
  ver3=$ver+pt3 ver4=$ver+pt4
  deb2=$B/apt-transport-parfetch_${ver2}_$arch.deb
  check "repack $deb2 as $ver3 and $ver4, scripts hooked" \
    repack2
  fail_on; m=$(calls_mark)
  check "dpkg -i $ver3 (an upgrade from $ver2)" dpkg -i "$MDIR/t3.deb"
  check "... preinst upgrade, postinst configure; apt through the method" \
    called $m "preinst upgrade $ver2 $ver3" "postinst configure $ver2"
  check "... apt through the method" at ii "$ver3" parfetch

  fail_on preinst.upgrade; m=$(calls_mark)
  check "upgrade to $ver4 whose preinst fails: dpkg -i fails" fails dpkg -i "$MDIR/t4.deb"
  check "... new postrm abort-upgrade, old postinst abort-upgrade" \
    called $m "prerm upgrade $ver4" "preinst upgrade $ver3 $ver4" "postrm abort-upgrade $ver3 $ver4" "postinst abort-upgrade $ver4"
  check "... $ver3 configured, apt through the method" at ii "$ver3" parfetch

  fail_on prerm.upgrade prerm.failed-upgrade; m=$(calls_mark)
  check "upgrade to $ver4, the old prerm upgrade and the new prerm failed-upgrade fail: dpkg -i fails" fails dpkg -i "$MDIR/t4.deb"
  check "... old postinst abort-upgrade" \
    called $m "prerm upgrade $ver4" "prerm failed-upgrade $ver3 $ver4" "postinst abort-upgrade $ver4"
  check "... $ver3 configured, apt through the method" at ii "$ver3" parfetch

  fail_on prerm.upgrade; m=$(calls_mark)
  check "upgrade to $ver4, the old prerm upgrade fails, the new prerm failed-upgrade takes over: dpkg -i works" dpkg -i "$MDIR/t4.deb"
  check "... new prerm failed-upgrade, then the upgrade" \
    called $m "prerm upgrade $ver4" "prerm failed-upgrade $ver3 $ver4" "preinst upgrade $ver3 $ver4" "postrm upgrade $ver4" "postinst configure $ver3"
  check "... $ver4 configured, apt through the method" at ii "$ver4" parfetch

  fail_on postrm.upgrade; m=$(calls_mark)
  check "downgrade to $ver3, the old postrm upgrade fails, the new postrm failed-upgrade takes over: dpkg -i works" dpkg -i "$MDIR/t3.deb"
  check "... new postrm failed-upgrade" \
    called $m "prerm upgrade $ver3" "preinst upgrade $ver4 $ver3" "postrm upgrade $ver3" "postrm failed-upgrade $ver4 $ver3" "postinst configure $ver4"
  check "... $ver3 configured, apt through the method" at ii "$ver3" parfetch

  fail_on postrm.upgrade postrm.failed-upgrade; m=$(calls_mark)
  check "upgrade to $ver4, the old postrm upgrade and the new postrm failed-upgrade fail: dpkg -i fails" fails dpkg -i "$MDIR/t4.deb"
  check "... old preinst abort-upgrade, new postrm abort-upgrade, old postinst abort-upgrade" \
    called $m "prerm upgrade $ver4" "preinst upgrade $ver3 $ver4" "postrm upgrade $ver4" "postrm failed-upgrade $ver3 $ver4" "preinst abort-upgrade $ver4" "postrm abort-upgrade $ver3 $ver4" "postinst abort-upgrade $ver4"
  check "... $ver3 configured, apt through the method" at ii "$ver3" parfetch
  check "... the admin's edit of $CONF is still there" cmp "$W/50parfetch.conf.installed" "$CONF"

  fail_on prerm.remove; m=$(calls_mark)
  check "dpkg --remove, prerm remove fails after moving $CONF aside: dpkg fails" fails dpkg --remove apt-transport-parfetch
  check "... postinst abort-remove" called $m "prerm remove" "postinst abort-remove"
  check "... still configured (selected for removal), the file back with the edit, apt through the method" \
    at_edit ri "$ver3"

  fail_on; m=$(calls_mark)
  check "dpkg --remove apt-transport-parfetch" dpkg --remove apt-transport-parfetch
  check "... config-files state, apt's own method" at rc "$ver3" apt
  fail_on preinst.install; m=$(calls_mark)
  check "dpkg --install again, its preinst install fails: dpkg fails" fails dpkg --install "$MDIR/t3.deb"
  check "... postrm abort-install" called $m "preinst install $ver3 $ver3" "postrm abort-install $ver3 $ver3"
  check "... still config-files (selected for install), apt's own method" at ic "$ver3" apt
  fail_on; m=$(calls_mark)
  check "dpkg --install again" dpkg --install "$MDIR/t3.deb"
  check "... the swap is active again with the admin's edit, apt through the method" \
    at_edit ii "$ver3"

  echo "# --- deconfigure: a package that Conflicts with and Replaces parfetch-plugin, installed with dpkg --auto-deconfigure"
  cd_=$MDIR/conflict
  mkdir -p "$cd_/DEBIAN"
  printf 'Package: pf-conflict\nVersion: 1\nArchitecture: all\nMaintainer: package-test <root@localhost>\nConflicts: parfetch-plugin\nReplaces: parfetch-plugin\nDescription: package-test: takes the place of parfetch-plugin\n' >"$cd_/DEBIAN/control"
  check "build pf-conflict" build_conflict
  fail_on preinst.install; m=$(calls_mark)
  check "dpkg -i -B pf-conflict, whose preinst fails: dpkg fails" fails dpkg --auto-deconfigure -i "$MDIR/conflict.deb"
  check "... prerm deconfigure, then postinst abort-deconfigure" \
    called $m "prerm deconfigure in-favour pf-conflict 1 removing parfetch-plugin:$arch $ver2" "preinst install" "postrm abort-install" "postinst abort-deconfigure in-favour pf-conflict 1 removing parfetch-plugin:$arch $ver2"
  check "... the plugin still there" dpkg -s parfetch-plugin
  check "... apt-transport-parfetch configured, apt through the method" at ii "$ver3" parfetch
  fail_on; m=$(calls_mark)
  check "dpkg -i -B pf-conflict: installed, parfetch-plugin removed (dpkg exits 1: the deconfigured packages' dependencies are gone)" \
    sh -c 'dpkg --auto-deconfigure -i "$1"; [ "$(dpkg-query -W -f="\${db:Status-Abbrev}" pf-conflict)" = "ii " ]'  _ "$MDIR/conflict.deb"
  check "... prerm deconfigure" called $m "prerm deconfigure in-favour pf-conflict 1 removing parfetch-plugin:$arch $ver2"
  check "... the plugin is gone, the method is there" \
    sh -c '! [ -e "$1" ] && [ -e /usr/lib/apt/methods/parfetch ]' _ "$(pkg-config --variable=plugin parfetch)"
  check "... apt-transport-parfetch deconfigured, apt's own method" at 'i[UF]' "$ver3" apt
  m=$(calls_mark)
  check "dpkg --purge pf-conflict; dpkg -i parfetch-plugin $ver2; dpkg --configure -a" \
    sh -c 'dpkg --purge pf-conflict && dpkg -i "$1" && dpkg --configure -a' _ "$B/parfetch-plugin_${ver2}_$arch.deb"
  check "... postinst configure" called $m "postinst configure $ver3"
  check "... the swap is back with the admin's edit, apt through the method" at_edit ii "$ver3"

  echo "# --- paths dpkg takes only with other packages' help: the scripts called as dpkg would"
  P=/var/lib/dpkg/info/apt-transport-parfetch
  check "postrm disappear, the method still there (the overwriter's): the swap stays, apt through the method" \
    script_then at ii "$ver3" parfetch -- "$P.postrm" disappear pf-overwriter 1
  for args in "disappear pf-overwriter 1" "abort-install $ver3" "abort-upgrade $ver2" "remove"; do
    mv /usr/lib/apt/methods/parfetch "$MDIR/method.saved"
    # shellcheck disable=SC2086 # the arguments, split as dpkg passes them
    check "postrm $args with the method gone: the file aside, apt's own method" \
      script_then apt_is apt -- "$P.postrm" $args
    mv "$MDIR/method.saved" /usr/lib/apt/methods/parfetch
    check "... postinst configure with the method back: apt through the method" \
      script_then apt_is parfetch -- "$P.postinst" configure "$ver3"
  done

  echo "# --- disappear and takeover: packages that Replace apt-transport-parfetch and ship its files (with and without its conffile)"
  overwriter() { # NAME WITH_CONF - NAME: t3's files, Replaces: apt-transport-parfetch, the conffile too if WITH_CONF=1; scripts: only the hooks
    local d=$MDIR/$1
    rm -rf "$d" && dpkg-deb -R "$MDIR/t3.deb" "$d" || return 1
    rm -f "$d/DEBIAN/preinst" "$d/DEBIAN/prerm" "$d/DEBIAN/postinst" "$d/DEBIAN/postrm" "$d/DEBIAN/triggers"
    sed -i -e "s/^Package: .*/Package: $1/" -e '/^Depends:/a Replaces: apt-transport-parfetch' "$d/DEBIAN/control"
    [ "$2" = 1 ] || rm -f "$d/DEBIAN/conffiles" "$d$CONF"
    hook_scripts "$d" && dpkg-deb -b "$d" "$MDIR/$1.deb" >/dev/null
  }
  gone() { # apt-transport-parfetch is not installed (dpkg forgot it)
    local s; s=$(dpkg-query -W -f='${db:Status-Abbrev}' apt-transport-parfetch 2>/dev/null)
    case $s in "" | ?n*) return 0 ;; *) echo "apt-transport-parfetch is '$s'"; return 1 ;; esac
  }
  disappeared() { called "$1" "postrm disappear $2 $ver3" && gone; } # MARK OVERWRITER
  purge_then_apt() { dpkg --purge "$1" >/dev/null && apt_is apt; }
  install_t3() { dpkg -i "$MDIR/t3.deb" >/dev/null && at ii "$ver3" parfetch && ! [ -e "$CONF.dpkg-remove" ]; }
  build_overwriters() { overwriter pf-over-conf 1 && overwriter pf-over 0; }
  check "build pf-over-conf and pf-over" build_overwriters
  fail_on; m=$(calls_mark)
  check "dpkg -i pf-over-conf (the conffile too)" dpkg --force-confdef --force-confold -i "$MDIR/pf-over-conf.deb"
  check "... apt-transport-parfetch disappeared (postrm disappear)" disappeared "$m" pf-over-conf
  check "... the file is pf-over-conf's now and stays: apt through the method (pf-over-conf's)" apt_is parfetch
  check "dpkg --purge pf-over-conf: apt's own method" purge_then_apt pf-over-conf
  check "dpkg -i apt-transport-parfetch $ver3 (a fresh install): apt through the method" install_t3
  m=$(calls_mark)
  check "dpkg -i pf-over (all files but the conffile: apt-transport-parfetch stays, dpkg counts the conffile)" dpkg -i "$MDIR/pf-over.deb"
  check "... the method is pf-over's now, apt-transport-parfetch still configured, apt through the method" at ii "$ver3" parfetch
  m=$(calls_mark)
  check "dpkg --purge pf-over: the method goes, and no script of apt-transport-parfetch but its trigger runs" dpkg --purge pf-over
  check "... postinst triggered" called "$m" "postinst triggered $METHOD"
  check "... apt-get update works (apt's own method)" at ii "$ver3" apt
  check "dpkg -i apt-transport-parfetch $ver3 again: apt through the method" install_t3

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
