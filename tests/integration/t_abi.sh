#!/usr/bin/env bash
# t_abi.sh - the plugin boundary, without a web server:
#   - build/parfetch.so exports exactly one symbol, parfetch_entry;
#   - the loader refuses a plugin of another ABI major, one with a too small
#     entry, one without the entry, a missing file and a non-ELF file: exit 2
#     and a message that names the path;
#   - the plugin is found through --plugin, the config's `plugin:` key, and
#     next to the executable; -V reports host and plugin;
#   - examples/minimal_host loads the real plugin and gets past the ABI check;
#   - every call on a session whose open() failed is PF_E_STATE (engine_host).
# Run from the repo root; BUILD (default build) is the build directory.
# Prints "ok - NAME" / "not ok - NAME" per check and a summary line; exits
# non-zero if any check failed.
set -uo pipefail

BUILD=${BUILD:-build}
PLUGIN="$BUILD/parfetch.so"
CLI="$BUILD/parfetch"
T=$(mktemp -d "${TMPDIR:-/tmp}/parfetch-abi.XXXXXX") || exit 2
trap 'rm -rf -- "$T"' EXIT

# No user or system config may change the results.
unset PARFETCH_CONFIG
export XDG_CONFIG_HOME="$T/xdg" PARFETCH_SYSCONFDIR="$T/etc"
mkdir -p "$XDG_CONFIG_HOME" "$PARFETCH_SYSCONFDIR"

# shellcheck source=tests/integration/tap.sh
. "$(dirname "$0")/tap.sh"



CLOSED=$(closed_port)
DEAD="http://127.0.0.1:$CLOSED/x" # a URL whose download fails fast

# --- the exported symbols --------------------------------------------------

if [ ! -f "$PLUGIN" ]; then
  not_ok "$PLUGIN exists (run make first)"
  finish
fi
ok "$PLUGIN exists"

# nm -D lists the version node (PARFETCH_1, type A) too: it is not a symbol
# anyone can call or read, so it is left out; "name@@PARFETCH_1" is "name".
syms=$(nm -D --defined-only "$PLUGIN" | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' | sort)
if [ "$syms" = "parfetch_entry" ]; then
  ok "the plugin exports exactly one symbol, parfetch_entry"
else
  not_ok "the plugin exports exactly one symbol, parfetch_entry" "exported: ${syms//$'\n'/ }"
fi
# (Captured first: grep -q closing the pipe early would fail it under pipefail.)
dynsyms=$(nm -D --defined-only "$PLUGIN")
if grep -qE '^[0-9a-f]+ [A-Za-z] parfetch_entry@@PARFETCH_1$' <<<"$dynsyms"; then
  ok "parfetch_entry is versioned PARFETCH_1 (the linker version script applied)"
else
  not_ok "parfetch_entry is versioned PARFETCH_1 (the linker version script applied)" "$dynsyms"
fi

# --- fixtures: plugins the loader must refuse ---------------------------------

CC=${CC:-cc}
fixtures_built=1
for v in major:"" small:-DFIXTURE_SMALL noentry:-DFIXTURE_NO_ENTRY; do
  name=${v%%:*}
  flag=${v#*:}
  # shellcheck disable=SC2086 # $flag is one word or none
  if ! "$CC" -shared -fPIC -fvisibility=hidden -Iplugin/include $flag -o "$T/$name.so" \
    tests/integration/fixtures/wrong_major.c 2>"$T/cc.err"; then
    not_ok "build the $name fixture plugin" "$(cat "$T/cc.err")"
    fixtures_built=0
  fi
done
[ "$fixtures_built" -eq 1 ] && ok "build the fixture plugins with $CC"

mkdir -p "$T/work"
if [ -f "$T/major.so" ]; then
  run "$CLI" --plugin "$T/major.so" "$DEAD" -o "$T/work/out"
  expect "parfetch refuses an ABI 2 plugin: exit 2, names the path" 2 "$T/major.so" "ABI 2.0" "1.x"
  if [ -e "$T/work/out" ]; then not_ok "no output after a refused plugin"; else ok "no output after a refused plugin"; fi
fi
if [ -f "$T/small.so" ]; then
  run "$CLI" --plugin "$T/small.so" "$DEAD" -o "$T/work/out"
  expect "parfetch refuses an entry smaller than ABI 1.0's: exit 2, names the path" 2 "$T/small.so" "bytes"
fi
if [ -f "$T/noentry.so" ]; then
  run "$CLI" --plugin "$T/noentry.so" "$DEAD" -o "$T/work/out"
  expect "parfetch refuses a .so without parfetch_entry: exit 2, names the path" 2 "$T/noentry.so" \
    "parfetch_entry"
fi

run "$CLI" --plugin "$T/does-not-exist/parfetch.so" "$DEAD" -o "$T/work/out"
expect "a missing plugin: exit 2, names the path" 2 "cannot load plugin $T/does-not-exist/parfetch.so"

echo "not a shared object" >"$T/text.so"
run "$CLI" --plugin "$T/text.so" "$DEAD" -o "$T/work/out"
expect "a file that is not a shared object: exit 2, names the path" 2 "cannot load plugin $T/text.so"

if [ -f "$T/major.so" ]; then
  run "$BUILD/examples/minimal_host" "$T/major.so" "$DEAD" "$T/work/out"
  expect "the shared loader refuses ABI 2 in examples/minimal_host too" 2 "$T/major.so" "ABI 2.0"
fi

# --- finding the plugin ---------------------------------------------------------

printf 'plugin: %s\n' "$T/from-config/parfetch.so" >"$T/plugin.yaml"
run "$CLI" -c "$T/plugin.yaml" "$DEAD" -o "$T/work/out"
expect "the config's plugin: key is used (exit 2 naming its missing path)" 2 "$T/from-config/parfetch.so"

run "$CLI" -c "$T/plugin.yaml" --plugin "$PLUGIN" -V
if [ "$RC" -eq 0 ] && grep -qF "$PLUGIN" "$T/stdout"; then
  ok "--plugin overrides the config's plugin: key"
else
  not_ok "--plugin overrides the config's plugin: key" "exit $RC" "stdout: $OUT" "stderr: $ERR"
fi

run "$CLI" --plugin "$PLUGIN" -V
if [ "$RC" -eq 0 ] && grep -qE '^parfetch [0-9]+\.[0-9]+\.[0-9]+ \(host, ABI 1\.[0-9]+\)$' "$T/stdout" &&
  grep -qE "^plugin .*parfetch\.so: [^ ]+ [0-9]+\.[0-9]+\.[0-9]+ \(ABI 1\.[0-9]+\)$" "$T/stdout"; then
  ok "-V prints the host version and the plugin's name, version and ABI"
else
  not_ok "-V prints the host version and the plugin's name, version and ABI" "exit $RC" "stdout: $OUT" \
    "stderr: $ERR"
fi

# The default: parfetch.so next to the executable (a copy in a temp dir, so
# that an installed plugin cannot be what answers).
mkdir -p "$T/bin"
cp "$CLI" "$T/bin/parfetch" && cp "$PLUGIN" "$T/bin/parfetch.so"
run "$T/bin/parfetch" -V
if [ "$RC" -eq 0 ] && grep -qF "plugin $T/bin/parfetch.so:" "$T/stdout"; then
  ok "without --plugin or plugin:, the parfetch.so next to the executable is loaded"
else
  not_ok "without --plugin or plugin:, the parfetch.so next to the executable is loaded" "exit $RC" \
    "stdout: $OUT" "stderr: $ERR"
fi

# --- an example host loads the real plugin ---------------------------------------

if [ -x "$BUILD/examples/minimal_host" ]; then
  run "$BUILD/examples/minimal_host" "$PLUGIN" "$DEAD" "$T/work/out"
  if [ "$RC" -ne 2 ] && grep -q "loaded .* (ABI 1\.[0-9]*) from $PLUGIN" "$T/stderr" &&
    ! grep -q "cannot load plugin" "$T/stderr"; then
    ok "examples/minimal_host loads $PLUGIN and gets past the ABI check"
  else
    not_ok "examples/minimal_host loads $PLUGIN and gets past the ABI check" "exit $RC" "stderr: $ERR"
  fi
  if [ -e "$T/work/out" ]; then
    not_ok "minimal_host leaves no output after a failed download" "$(ls -la "$T/work")"
  else
    ok "minimal_host leaves no output after a failed download"
  fi
else
  not_ok "$BUILD/examples/minimal_host is built (make examples)"
fi

# --- a session whose open() failed ------------------------------------------------

# Every call that acts on it is PF_E_STATE (a write_sink there once called a
# NULL sink); errmsg() keeps explaining the failure.
if [ -x "$BUILD/engine_host" ]; then
  abs_build=$(cd "$BUILD" && pwd)
  RUN_DIR="$T/work" run "$abs_build/engine_host" "$abs_build/parfetch.so" "$DEAD" failed
  expect "after a failed open(): plan_parts, fetch_part, write_sink, run, commit, get_info are PF_E_STATE" \
    0 "errmsg: "
  if [ -e "$T/work/failed.out" ] || [ -e "$T/work/failed.out.pfpart" ]; then
    not_ok "... and nothing is written" "$(ls -la "$T/work")"
  else
    ok "... and nothing is written"
  fi
else
  not_ok "$BUILD/engine_host is built (make testbins)"
fi

finish
