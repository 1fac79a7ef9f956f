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
  etc/parfetch/config.yaml usr/share/doc/parfetch/README.md usr/share/doc/parfetch/ABI.md; do
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
pf_check "make uninstall removes what install put there" \
  sh -c 'make -s -C "$1" uninstall PREFIX=/usr SYSCONFDIR=/etc DESTDIR="$2" &&
         ! [ -e "$2/usr/bin/parfetch" ] && ! [ -e "$2/usr/lib/parfetch/parfetch.so" ]' _ "$PF_ROOT" "$D"
pf_done
