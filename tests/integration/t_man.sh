#!/usr/bin/env bash
# t_man.sh - the man pages (man/) document what the code has: every option of
# host-shim/main.c's getopt table (long and short) in parfetch.1, every key of
# plugin/config.c's key table in parfetch.yaml.5 with its default, and
# groff -ww (and man --warnings, when man-db is there) render all three with
# no warning. The sources are read, not a list kept here: a new flag or key
# without its man entry fails.
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
pf_init || exit 1

M="$PF_ROOT/man"
main_c="$PF_ROOT/host-shim/main.c"
config_c="$PF_ROOT/plugin/config.c"

# --- options: the long_opts table and the getopt_long short-option string
longs=$(sed -n '/^static const struct option long_opts\[\]/,/^};/p' "$main_c" |
  sed -n 's/^ *{"\([a-z0-9-]*\)",.*/\1/p')
shorts=$(sed -n 's/.*getopt_long(argc, argv, "\([^"]*\)".*/\1/p' "$main_c" | tr -d ':')
pf_check "main.c's option table is found (at least 15 long options)" \
  test "$(printf '%s\n' "$longs" | grep -c .)" -ge 15
pf_check "main.c's short options are found" test -n "$shorts"
# an option is documented when its entry heading (.TP then .B/.BR/.BI line) names it
headings=$(awk 'prev == ".TP" { print } { prev = $1 }' "$M/parfetch.1")
for o in $longs; do
  pat="\\\\-\\\\-$(printf '%s' "$o" | sed 's/-/\\\\-/g')"
  pf_check "parfetch.1 has an entry for --$o" sh -c 'printf "%s\n" "$1" | grep -q -- "$2\([^a-z\\\\]\|$\)"' _ "$headings" "$pat"
done
for ((i = 0; i < ${#shorts}; i++)); do
  c=${shorts:i:1}
  pf_check "parfetch.1 has an entry for -$c" sh -c 'printf "%s\n" "$1" | grep -q -- "\\\\-$2\([^a-zA-Z\\\\]\|$\)"' _ "$headings" "$c"
done
pf_check "parfetch.1 has EXIT STATUS, ENVIRONMENT, FILES and EXAMPLES sections" \
  sh -c 'for s in "EXIT STATUS" ENVIRONMENT FILES EXAMPLES; do grep -qx ".SH $s" "$1" || exit 1; done' _ "$M/parfetch.1"
for st in 0 1 2 3 4; do
  pf_check "parfetch.1 documents exit status $st (main.c's EXIT_ list)" \
    sh -c 'sed -n "/^\.SH EXIT STATUS/,/^\.SH /p" "$1" | grep -qx ".B $2"' _ "$M/parfetch.1" "$st"
done

# --- keys: plugin/config.c's keys[] table (the "tls" group itself excepted)
keys=$(sed -n '/^static const struct key_spec keys\[\]/,/^};/p' "$config_c" |
  sed -n 's/^ *{K_[A-Z_]*, "\([a-z_.]*\)", KIND_\([A-Z_]*\),.*/\1 \2/p' | awk '$2 != "GROUP" { print $1 }')
pf_check "config.c's key table is found (at least 30 keys)" \
  test "$(printf '%s\n' "$keys" | grep -c .)" -ge 30
for k in $keys; do
  # the entry: from ".B key" after a .TP to the next .TP or .SH; it states the default
  pf_check "parfetch.yaml.5 has an entry for $k that gives its default" \
    sh -c 'awk -v k="$2" '\''
      $0 == ".TP" || /^\.SH/ { if (inside) exit; tp = ($0 == ".TP"); next }
      tp && $0 == ".B " k { inside = 1 }
      { tp = 0 }
      inside && /^Default:/ { found = 1 }
      END { exit !found }'\'' "$1"' _ "$M/parfetch.yaml.5" "$k"
done
pf_check "parfetch.yaml.5 has the discovery order and the drop-ins" \
  sh -c 'grep -qx ".SH DISCOVERY ORDER" "$1" && grep -q "conf.d/\*.yaml" "$1"' _ "$M/parfetch.yaml.5"
pf_check "parfetch-apt.8 tells how to enable and disable the method" \
  grep -qx ".SH ENABLING AND DISABLING" "$M/parfetch-apt.8"

# --- rendering: no warnings
for f in "$M"/*.[1-8]; do
  pf_check "groff -ww renders $(basename "$f") without a warning" \
    sh -c 'out=$(groff -ww -man -Tutf8 "$1" 2>&1 >/dev/null) && [ -z "$out" ] || { printf "%s\n" "$out"; exit 1; }' _ "$f"
  if command -v man >/dev/null 2>&1; then
    pf_check "man --warnings renders $(basename "$f") without a warning" \
      sh -c 'out=$(MANWIDTH=80 man --warnings -l "$1" 2>&1 >/dev/null) && [ -z "$out" ] || { printf "%s\n" "$out"; exit 1; }' _ "$f"
  fi
done
pf_done
