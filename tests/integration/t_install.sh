#!/usr/bin/env bash
# t_install.sh - `make install` honours PREFIX, DESTDIR and SYSCONFDIR, and the
# installed command finds its installed plugin (PREFIX/lib/parfetch) on its
# own, wherever the tree was unpacked.
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
pf_init || exit 1
pf_isolate_config

D="$PF_TMP/destdir"
# -o all: install what $BUILD holds, without rebuilding it with other flags
pf_check "make install PREFIX=/usr SYSCONFDIR=/etc DESTDIR=... succeeds" \
  make -s -C "$PF_ROOT" -o all install BUILD="$PF_BUILD" PREFIX=/usr SYSCONFDIR=/etc DESTDIR="$D"
for f in usr/bin/parfetch usr/lib/parfetch/parfetch.so usr/include/parfetch.h \
  etc/parfetch/config.yaml usr/share/doc/parfetch/README.md usr/share/doc/parfetch/ABI.md \
  usr/lib/apt/methods/parfetch usr/lib/pkgconfig/parfetch.pc usr/share/man/man1/parfetch.1 \
  usr/share/man/man5/parfetch.yaml.5 usr/share/man/man8/parfetch-apt.8; do
  pf_check "installed: /$f" test -s "$D/$f"
done
pf_check "nothing was installed outside DESTDIR (no /usr/bin/parfetch created by this test)" \
  sh -c '! [ /usr/bin/parfetch -nt "$1" ]' _ "$PF_TMP"
pf_expect_exit 0 "the installed command loads the installed plugin by itself" \
  "$D/usr/bin/parfetch" --version
pf_check "... and says it is the one under DESTDIR" sh -c 'printf "%s" "$1" | grep -q "^plugin $2/usr/bin/../lib/parfetch/parfetch.so: parfetch"' _ "$PF_LAST_OUT" "$D"
pf_check "the installed plugin exports exactly one symbol" \
  sh -c '[ "$(nm -D --defined-only "$1" | awk "\$2 ~ /[TDBR]/" | wc -l)" -eq 1 ]' _ \
  "$D/usr/lib/parfetch/parfetch.so"
pf_check "the installed default config is the documented one" \
  cmp "$PF_ROOT/config/parfetch.yaml" "$D/etc/parfetch/config.yaml"
pf_check "the installed man pages carry the install's paths (no \@...\@ left)" \
  sh -c '! grep -l "@[A-Z]*@" "$1"/usr/share/man/man*/* && grep -q "^\.I /etc/parfetch/config.yaml" "$1/usr/share/man/man5/parfetch.yaml.5"' _ "$D"
pf_check "make uninstall removes what install put there" \
  sh -c 'make -s -C "$1" uninstall PREFIX=/usr SYSCONFDIR=/etc DESTDIR="$2" &&
         ! [ -e "$2/usr/bin/parfetch" ] && ! [ -e "$2/usr/lib/parfetch/parfetch.so" ]' _ "$PF_ROOT" "$D"
pf_check "make uninstall leaves nothing but empty directories" \
  sh -c '[ -z "$(find "$1" ! -type d)" ]' _ "$D"

# A multiarch install, as debian/rules makes it: LIBDIR=PREFIX/lib/<triplet>, so
# the plugin is in PREFIX/lib/<triplet>/parfetch and not next to ../lib; the
# command and the apt method find it only by the PLUGINDIR compiled in. Built
# here (a build dir of its own) with the variables it is installed with.
P="$PF_TMP/prefix"
T=x86_64-linux-gnu
B="$PF_TMP/build-multiarch"
pf_check "make install PREFIX=P LIBDIR=P/lib/$T SYSCONFDIR=P/etc (no DESTDIR) builds and installs" \
  make -s -C "$PF_ROOT" install BUILD="$B" PREFIX="$P" LIBDIR="$P/lib/$T" SYSCONFDIR="$P/etc" \
    APTMETHODDIR="$P/lib/apt/methods"
pf_check "the plugin is in LIBDIR/parfetch/, parfetch.pc in LIBDIR/pkgconfig/" \
  test -s "$P/lib/$T/parfetch/parfetch.so" -a -s "$P/lib/$T/pkgconfig/parfetch.pc" -a ! -e "$P/lib/parfetch"
pf_expect_exit 0 "the command finds the multiarch plugin with no config" \
  env -u PARFETCH_CONFIG "$P/bin/parfetch" --version
pf_check "... the one in LIBDIR/parfetch (compiled-in PLUGINDIR)" \
  sh -c 'printf "%s" "$1" | grep -q "^plugin $2/parfetch.so: parfetch"' _ "$PF_LAST_OUT" "$P/lib/$T/parfetch"
pf_check "the apt method loads the multiarch plugin with no config (100 Capabilities, no failure)" \
  sh -c 'out=$(env -u PARFETCH_CONFIG "$1" </dev/null 2>&1); rc=$?; printf "%s\n" "$out" | grep -q "^100 Capabilities" &&
         ! printf "%s\n" "$out" | grep -q "Failure" && [ "$rc" -eq 0 ] || { printf "%s\n(rc %s)\n" "$out" "$rc"; exit 1; }' \
    _ "$P/lib/apt/methods/parfetch"
export PKG_CONFIG_PATH="$P/lib/$T/pkgconfig"
pf_check "pkg-config --variable=plugindir parfetch is LIBDIR/parfetch" \
  sh -c '[ "$(pkg-config --variable=plugindir parfetch)" = "$1" ]' _ "$P/lib/$T/parfetch"
pf_check "pkg-config --variable=includedir parfetch holds parfetch.h; --modversion is PF_VERSION" \
  sh -c 'test -s "$(pkg-config --variable=includedir parfetch)/parfetch.h" &&
         [ "$(pkg-config --modversion parfetch)" = "$(sed -n "s/^#define PF_VERSION \"\(.*\)\"/\1/p" "$1")" ]' \
    _ "$PF_ROOT/plugin/include/parfetch.h"
# examples/minimal_host.c with the installed header only (no -Iplugin/include)
pf_check "examples/minimal_host.c builds against the installed header (pkg-config --cflags)" \
  sh -c 'cc -std=c11 -D_GNU_SOURCE $(pkg-config --cflags parfetch) -I"$1/host-shim" -o "$2" \
           "$1/examples/minimal_host.c" "$1/host-shim/loader.c" -ldl' _ "$PF_ROOT" "$PF_TMP/minimal_host"
pf_expect_exit 1 "... and loads the plugin pkg-config names (a refused download: exit 1)" \
  "$PF_TMP/minimal_host" "$(pkg-config --variable=plugin parfetch)" "http://127.0.0.1:9/x" "$PF_TMP/x.out"
pf_check "... it said it loaded that plugin" \
  sh -c 'printf "%s" "$1" | grep -q "loaded parfetch .* from $2"' _ "$PF_LAST_OUT" "$P/lib/$T/parfetch/parfetch.so"
pf_done
