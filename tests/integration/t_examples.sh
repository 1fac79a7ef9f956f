#!/usr/bin/env bash
# t_examples.sh - the example hosts in examples/ download a 20 MiB file from
# nginx on loopback and produce the source byte for byte.
#
# Each example is run as:   EXAMPLE PLUGIN_SO URL OUTPUT
# (build/examples/NAME build/parfetch.so http://127.0.0.1:PORT/f.bin OUT) and
# must exit 0. An example whose source exists but whose binary was not built
# is a failure; one without a source is not run.
set -uo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
pf_init || exit 1
pf_isolate_config

pf_check "nginx serves HTTP/1.1, HTTPS and HTTP/2 on 127.0.0.1" pf_nginx_start || { pf_done; exit 1; }

SIZE=$((20 * 1024 * 1024))
SRC="$PF_DOCROOT/f20m.bin"
pf_check "create a 20 MiB source file" pf_mkfile "$SRC" "$SIZE" || { pf_done; exit 1; }
PLUGIN="$PF_BUILD/parfetch.so"


# ranged_at_least URI N - at least N distinct ranged (206) requests for URI.
ranged_at_least() {
  pf_log_wait "$1" "$2"
  local got
  got=$(pf_log_ranges "$1" | wc -l)
  [ "$got" -ge "$2" ] && return 0
  echo "expected at least $2 distinct ranged (206) requests for $1, got $got; access log:"
  pf_log_lines "$1"
  return 1
}

run_example() { # NAME
  local name=$1 bin="$PF_BUILD/examples/$1" out="$PF_TMP/ex-$1"
  if [ ! -e "$PF_ROOT/examples/$name.c" ]; then
    pf_note "examples/$name.c does not exist (yet): not run"
    return 0
  fi
  if ! pf_check "$name: built at $bin" test -x "$bin"; then
    return 0
  fi
  mkdir -p "$out"
  pf_expect_exit 0 "$name: downloads 20 MiB over HTTP, exit 0" \
    timeout --foreground -k 10 "$PF_CMD_TIMEOUT" "$bin" "$PLUGIN" "$PF_HTTP_URL/f20m.bin?t=$name" "$out/out"
  pf_check "$name: output equals the source byte for byte" pf_same "$SRC" "$out/out"
  pf_check "$name: no side file left next to the output" only_output "$out" out
  # 20 MiB with the default min_part_size (8 MiB) plans 2 parts.
  pf_check "$name: the parts were fetched as ranged requests (>= 2 distinct 206)" \
    ranged_at_least "/f20m.bin?t=$name" 2
}

run_example minimal_host
run_example own_threads

pf_done
