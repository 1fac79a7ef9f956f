#!/usr/bin/env bash
# t_cli.sh - the `parfetch` command's contract (DESIGN.md) without a web server:
#   - usage errors (unknown flags, no URL, bad --streams/--checksum/-H values,
#     -o with -O, ...) exit 2 with a message and a --help hint;
#   - config errors exit 2 and name the file and line:column or the key,
#     through --config, $PARFETCH_CONFIG, $XDG_CONFIG_HOME and conf.d drop-ins;
#   - an unreachable host (127.0.0.1:9, normally closed; another closed port if
#     something listens there) exits 1 with one error line and leaves no file
#     behind; an existing output file survives byte for byte;
#   - SIGINT/SIGTERM during a transfer exit 130/143 and leave nothing behind,
#     and a closed stdout pipe is a local I/O error (exit 4). These use a tiny
#     perl responder on loopback that trickles a never-ending body.
# Run from the repo root; BUILD (default build) is the build directory.
# Prints "ok - NAME" / "not ok - NAME" per check and a summary line; exits
# non-zero if any check failed.
set -uo pipefail

BUILD=${BUILD:-build}
CLI="$BUILD/parfetch"
T=$(mktemp -d "${TMPDIR:-/tmp}/parfetch-cli.XXXXXX") || exit 2
SERVER_PID=
# shellcheck disable=SC2317 # runs from the EXIT trap
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
  rm -rf -- "$T"
}
trap cleanup EXIT

# No user or system config may change the results.
unset PARFETCH_CONFIG
export XDG_CONFIG_HOME="$T/xdg" PARFETCH_SYSCONFDIR="$T/etc"
mkdir -p "$XDG_CONFIG_HOME" "$PARFETCH_SYSCONFDIR" "$T/work"

# shellcheck source=tests/integration/tap.sh
. "$(dirname "$0")/tap.sh"
RUN_DIR="$T/work" # every parfetch run starts in the empty work dir (-O writes there)



# usage NAME ARGS... - parfetch ARGS exits 2 with a message and the hint.
usage() {
  local name=$1
  shift
  run "$CLI" "$@"
  expect "usage: $name -> exit 2 with a hint" 2 "parfetch: " "Try 'parfetch --help'"
}

# work_empty NAME - nothing was left in the working directory (then cleared).
work_empty() {
  local left
  left=$(ls -A "$T/work")
  if [ -z "$left" ]; then ok "$1"; else not_ok "$1" "left behind: $left"; fi
  rm -rf -- "${T:?}/work" && mkdir -p "$T/work"
}


ABS="$(pwd)/$CLI"
CLI=$ABS
if [ ! -x "$CLI" ] || [ ! -f "$BUILD/parfetch.so" ]; then
  not_ok "$CLI and $BUILD/parfetch.so are built (run make first)"
  finish
fi

C=$(closed_port) # 9 unless something listens there
U="http://127.0.0.1:$C"

# --- usage errors: all before any plugin or network work ----------------------

run "$CLI" --no-such-flag "$U/f"
expect "usage: an unknown long option -> exit 2 naming it, with a hint" 2 "--no-such-flag" "Try 'parfetch --help'"
usage "an unknown short option" -Z "$U/f"
usage "no URL" -o out
usage "two URLs" -o out "$U/a" "$U/b"
usage "-o without a value" "$U/f" -o
usage "-o with -O" -o out -O "$U/f"
usage "-C to stdout" -C -o - "$U/f"
for bad in abc 0 -3 "" 1.5 99999999999999999999999; do
  usage "--streams '$bad'" --streams "$bad" -o out "$U/f"
done
usage "-n abc" -n abc -o out "$U/f"
for bad in sha256 "sha256=xyz" "sha256=abcd" "=abcd" "md5=" "sha1=$(printf '0%.0s' {1..64})" "sha 1=00"; do
  usage "--checksum '$bad'" --checksum "$bad" -o out "$U/f"
done
usage "-H without a colon" -H NoColon -o out "$U/f"
usage "--retries x" --retries x -o out "$U/f"
for url in "$U/" "$U" "$U/a%2Fb" "$U/d/%2e%2e" \
  "$U/x/?q=1" "$U/bad%0aname"; do
  usage "no usable file name in $url" -O "$url"
done
usage "no usable file name without -o either" "$U/dir/"
work_empty "usage errors create no file"

run "$CLI" --help
if [ "$RC" -eq 0 ] && grep -q '^Usage: parfetch \[options\] URL' "$T/stdout" && [ -z "$ERR" ]; then
  ok "--help prints the usage on stdout, exit 0"
else
  not_ok "--help prints the usage on stdout, exit 0" "exit $RC" "stderr: $ERR"
fi

# --- config errors -------------------------------------------------------------

printf 'streams: 4\nheaders: [ "A: b"\nretries: 3\n' >"$T/malformed.yaml"
run "$CLI" -c "$T/malformed.yaml" -o out "$U/f"
expect "malformed YAML via -c: exit 2 naming file and line:column" 2 "~$T/malformed.yaml:[0-9]+:[0-9]+"

printf 'streams: 4\nno_such_key_xyz: 1\n' >"$T/unknown.yaml"
run "$CLI" -c "$T/unknown.yaml" -o out "$U/f"
expect "an unknown key via -c: exit 2 naming the key" 2 "no_such_key_xyz" "$T/unknown.yaml"

printf 'streams: 0\n' >"$T/range.yaml"
run "$CLI" -c "$T/range.yaml" -o out "$U/f"
expect "an out-of-range value via -c: exit 2 naming the key" 2 "streams"

run "$CLI" --streams 100000 -o out "$U/f"
expect "--streams out of range (checked by the plugin): exit 2 naming it" 2 "streams"

run "$CLI" -c "$T/absent.yaml" -o out "$U/f"
expect "a missing --config file: exit 2 naming it" 2 "$T/absent.yaml"

PARFETCH_CONFIG="$T/absent-env.yaml" run "$CLI" -o out "$U/f"
expect "a missing \$PARFETCH_CONFIG file: exit 2 naming it" 2 "$T/absent-env.yaml"

PARFETCH_CONFIG="$T/unknown.yaml" run "$CLI" -o out "$U/f"
expect "\$PARFETCH_CONFIG is loaded" 2 "no_such_key_xyz"

mkdir -p "$XDG_CONFIG_HOME/parfetch"
cp "$T/malformed.yaml" "$XDG_CONFIG_HOME/parfetch/config.yaml"
run "$CLI" -o out "$U/f"
expect "\$XDG_CONFIG_HOME/parfetch/config.yaml is loaded" 2 "$XDG_CONFIG_HOME/parfetch/config.yaml:"
printf 'streams: 2\n' >"$T/good.yaml"
run "$CLI" -c "$T/good.yaml" -o out "$U/f"
expect "--config wins over \$XDG_CONFIG_HOME (the broken one is not read)" 1
rm -rf -- "$XDG_CONFIG_HOME/parfetch"

mkdir -p "$PARFETCH_SYSCONFDIR/conf.d"
printf 'streams: 2\n' >"$PARFETCH_SYSCONFDIR/conf.d/10-ok.yaml"
printf 'dropin_bad_key: 1\n' >"$PARFETCH_SYSCONFDIR/conf.d/20-bad.yaml"
printf 'not: [yaml\n' >"$PARFETCH_SYSCONFDIR/conf.d/30-ignored.yml"
run "$CLI" -c "$T/good.yaml" -o out "$U/f"
expect "conf.d/*.yaml drop-ins are loaded after --config" 2 "dropin_bad_key"
rm -f -- "$PARFETCH_SYSCONFDIR/conf.d/20-bad.yaml"
run "$CLI" -c "$T/good.yaml" -o out "$U/f"
expect "a non-.yaml file in conf.d is ignored" 1
rm -rf -- "$PARFETCH_SYSCONFDIR/conf.d"
work_empty "config errors create no file"

# --- an unreachable host -------------------------------------------------------------

run "$CLI" -q -o out "$U/f"
expect "an unreachable host: exit 1" 1 "parfetch: "
lines=$(wc -l <"$T/stderr")
if [ "$lines" -eq 1 ] && grep -q '^parfetch: [^:]*: .*127\.0\.0\.1' "$T/stderr"; then
  ok "the error is one line: parfetch: <error>: <detail naming the host>"
else
  not_ok "the error is one line: parfetch: <error>: <detail naming the host>" "stderr: $ERR"
fi
work_empty "an unreachable host leaves no output and no side file"

run "$CLI" -q "$U/dir/file%20name.bin"
expect "the default output name (from the URL): exit 1" 1
work_empty "... and no file of that name is created"

run "$CLI" -q -o - "$U/f"
expect "-o - to an unreachable host: exit 1" 1
if [ -z "$OUT" ]; then ok "... and nothing on stdout"; else not_ok "... and nothing on stdout" "stdout: $OUT"; fi

head -c 4096 /dev/urandom >"$T/work/keep.bin"
cp "$T/work/keep.bin" "$T/keep.orig"
run "$CLI" -q -o keep.bin "$U/keep.bin"
expect "a failed run over an existing file: exit 1" 1
if cmp -s "$T/keep.orig" "$T/work/keep.bin" && [ "$(ls -A "$T/work")" = keep.bin ]; then
  ok "the existing output file survives byte for byte, nothing else left"
else
  not_ok "the existing output file survives byte for byte, nothing else left" "$(ls -lA "$T/work")"
fi
rm -rf -- "${T:?}/work" && mkdir -p "$T/work"

# --- signals and a closed stdout: a responder that never finishes ------------------

if ! perl -MIO::Socket::INET -e 1 2>/dev/null; then
  not_ok "perl with IO::Socket::INET is available for the trickle responder"
  finish
fi
# Answers every request with 200, a 100 MB Content-Length and 1 KB every 50 ms.
perl -MIO::Socket::INET -e '
  $| = 1; alarm 300;
  my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 16, ReuseAddr => 1)
    or die "listen: $!";
  print $s->sockport, "\n";
  $SIG{CHLD} = "IGNORE";
  while (my $c = $s->accept) {
    if (fork) { close $c; next }
    alarm 120; $SIG{PIPE} = sub { exit 0 };
    while (my $l = <$c>) { last if $l =~ /^\r?\n$/ }
    $c->autoflush(1);
    print $c "HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\nContent-Type: application/octet-stream\r\n\r\n";
    for (1 .. 100000) { print $c ("x" x 1024) or exit 0; select(undef, undef, undef, 0.05) }
    exit 0;
  }' >"$T/port" 2>"$T/server.err" &
SERVER_PID=$!
for _ in $(seq 50); do [ -s "$T/port" ] && break; sleep 0.1; done
PORT=$(head -n 1 "$T/port")
if [ -z "$PORT" ]; then
  not_ok "start the trickle responder" "$(cat "$T/server.err")"
  finish
fi
ok "start the trickle responder on 127.0.0.1:$PORT"
URL="http://127.0.0.1:$PORT/slow.bin"

# bg ARGS... - start parfetch in the background in $T/work, with SIGINT at its
# default (bash makes background jobs ignore it); sets BG_PID.
bg() {
  (cd "$T/work" && exec perl -e '$SIG{INT} = "DEFAULT"; exec @ARGV or die' -- "$CLI" "$@") \
    >"$T/stdout" 2>"$T/stderr" &
  BG_PID=$!
}
# wait_bg SECONDS - wait for BG_PID; sets RC (or kills it and sets RC=999).
wait_bg() {
  for _ in $(seq $(($1 * 10))); do
    kill -0 "$BG_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$BG_PID" 2>/dev/null; then
    kill -KILL "$BG_PID" 2>/dev/null
    wait "$BG_PID" 2>/dev/null
    RC=999
  else
    wait "$BG_PID"
    RC=$?
  fi
  ERR=$(cat "$T/stderr")
}

bg -q -o out "$URL"
sleep 1.5
kill -INT "$BG_PID"
wait_bg 10
expect "SIGINT during a transfer: exit 130 within seconds, saying so" 130 "SIGINT"
work_empty "SIGINT: no output; the side file of a download that cannot resume (no validator) is removed"

head -c 4096 /dev/urandom >"$T/work/keep.bin"
cp "$T/work/keep.bin" "$T/keep.orig"
bg -q -o keep.bin "$URL"
sleep 1.5
kill -TERM "$BG_PID"
wait_bg 10
expect "SIGTERM during a transfer: exit 143 within seconds, saying so" 143 "SIGTERM"
if cmp -s "$T/keep.orig" "$T/work/keep.bin" && [ "$(ls -A "$T/work")" = keep.bin ]; then
  ok "SIGTERM leaves an existing output file as it was, nothing else"
else
  not_ok "SIGTERM leaves an existing output file as it was, nothing else" "$(ls -lA "$T/work")"
fi
rm -rf -- "${T:?}/work" && mkdir -p "$T/work"

# A reader that stops early: parfetch must not die of SIGPIPE; it exits 4
# (the output is not the whole object) without a message: the reader chose
# to stop (README, parfetch(1)).
(cd "$T/work" && timeout -k 5 60 "$CLI" -q -o - "$URL" 2>"$T/stderr" | head -c 5000 >"$T/head.out")
rcs=("${PIPESTATUS[@]}")
RC=${rcs[0]}
ERR=$(cat "$T/stderr")
expect "-o - into a pipe closed early: exit 4 (local I/O)" 4
if [ -s "$T/stderr" ]; then
  not_ok "-o - into a pipe closed early: nothing on stderr" "stderr: $ERR"
else
  ok "-o - into a pipe closed early: nothing on stderr"
fi
if [ "$(wc -c <"$T/head.out")" -eq 5000 ] && ! tr -d x <"$T/head.out" | grep -q .; then
  ok "the reader got the first bytes in order"
else
  not_ok "the reader got the first bytes in order" "$(wc -c <"$T/head.out") bytes"
fi
work_empty "-o - creates no file"

finish
