#!/usr/bin/env bash
# bench/run.sh - parfetch against aria2c, axel, wget2, rclone and curl, one command.
#
#   bash bench/run.sh [SCENARIO...] [options]        (make bench runs all of them)
#   BENCH_ONLY=h bash bench/run.sh                   (one scenario alone; same as "run.sh h")
#
# apt's own method against parfetch's (issue 10, scenarios j and k) is bench/apt.sh, a script of
# its own: make bench-apt, or bash bench/apt.sh [j] [k] (docs/BENCHMARKS.md, "Issue 10").
#
# Scenarios (default: a b c d e f g h i):
#   a  SIZE_A from nginx on loopback, no limits; SIZE_A may list several sizes
#      (default "1073741824 268435456": 1 GiB is scenario "a", every further size
#      is a scenario of its own named a-<N>MiB, e.g. a-256MiB); each written to
#      the scratch dir (tmpfs when it has room) and again to BENCH_DISK, the
#      machine's disk (scenarios a-disk, a-256MiB-disk)
#   b  SIZE (256 MiB), every server connection capped at CAP (8 MiB/s) with the
#      kernel's SO_MAX_PACING_RATE (bench/pacing_shim.c preloaded into nginx)
#   c  SIZE over a 40 ms round trip: two network namespaces joined by TUN devices
#      and bench/delayline.c, nginx in one, the tools in the other
#   d  b, plus the SLOW_NTH-th connection of every run paced at SLOW_RATE (100 KB/s)
#   h  chaos campaign (issue 8, item 3): H_SIZE (64 MiB) at 8 streams through
#      tests/proxy/pfproxy.c with --chaos SEED, SEED = H_SEED_BASE + round for H_RUNS
#      (10) rounds, the same seeds for every tool: each connection is passed, reset,
#      stalled for H_STALL_MS (40 s), closed early or trickled at 256 KB/s (weights
#      H_MIX) after N reply bytes, N drawn uniformly below H_AFTER (8 MiB). Tools H_TOOLS
#      (parfetch-n8 aria2c-x8 axel-n8), per-run limit H_TIMEOUT (150 s); a run that times
#      out is recorded and the next seed still runs. Target: every run correct, median
#      within 3 s.
#   i  long round trips (issue 8, item 3b): SIZE (256 MiB) through pfproxy --delay
#      RTT/2 for each round trip in I_RTTS ("200 400 800" ms; scenario i-rttNms each),
#      window I_WINDOW (4 MiB per connection and direction: a connection moves at most
#      window / one-way delay) and no bandwidth limit. Tools I_TOOLS (parfetch curl
#      aria2c), per-run limit I_TIMEOUT (60 s); a tool that times out is not run again
#      in that scenario.
#   e  E_SIZE (1 GiB) over HTTPS (TLS, a self-signed certificate that every tool is given
#      with its CA option) from nginx on loopback; tools E_TOOLS (parfetch curl aria2c).
#      Target (issue 9): parfetch's wall <= 0.6 x curl's. E_HTTP2=1: nginx offers HTTP/2
#      as well, and E_TOOLS may add parfetch-mux (multiplex: true, parts as HTTP/2 streams
#      on one connection) to measure multiplexing.
#   f  F_COUNT (500) objects of 4 KiB to 2 MiB (sizes log-uniform, fixed) in one process:
#      pf-client (bench/many_host.c: one parfetch client, ABI 1.2, the objects one after
#      another), curl-loop (bench/curl_loop.c: one libcurl easy handle reused) and
#      aria2c-j8 (aria2c -i LIST -j 8). Per object: wall / F_COUNT; TCP connections: those
#      nginx accepted during the run (stub_status's accepts before and after), with the
#      distinct $connection values its log holds for the run's requests (the connections
#      that carried one) in brackets. Target: pf-client's per-object time <= curl-loop's,
#      its connections <= the per-host budget (8).
#   g  G_COUNT (16) objects of G_SIZE (32 MiB) at once on one client (many_host, one thread
#      per object), every server connection paced at CAP (8 MiB/s, as b): total against
#      the ideal G_COUNT x G_SIZE / (G_BUDGET (8) x CAP) = 8 s, fairness (slowest object's
#      time / fastest's), peak threads. Target: peak RSS <= 64 MiB, threads bounded.
#   f and g check every object's sha256; a run with one wrong or missing object fails.
#   m  mirrors (issue 12, item 3; not in the default list): M_SIZE (256 MiB) from three
#      nginx servers on 127.0.0.1, 127.0.0.2 and 127.0.0.3 (three hosts to the tools), each
#      with the pacing shim: every connection of the first two paced at M_FAST (8 MiB/s),
#      of the third at M_SLOW (1 MiB/s). Tools: pf-mirrors (parfetch -n M_STREAMS (8), the
#      slow server's URL given first, the two others as --mirror), pf-fast (parfetch -n
#      M_STREAMS, a fast server alone), aria2c-mirrors (aria2c -x M_STREAMS -s M_STREAMS
#      -k1M with the three URIs, the slow one first). Medians of wall, CPU, connections per
#      server (distinct $connection values in each server's log for the run's requests)
#      and bytes per server over RUNS rounds, to OUT_DIR/m.md and m.csv.
#
# Options (each also an environment variable):
#   -r, --runs N        RUNS      rounds per scenario (default 5)
#   -t, --tools LIST    TOOLS     space/comma list (default: parfetch parfetch-n16
#                                 aria2c axel wget2 rclone curl; parfetch-pipe: -o - | sha256sum)
#       --size-a LIST   SIZE_A    scenario a's file size(s) (default "1073741824 268435456")
#       --size BYTES    SIZE      scenarios b, c, d, i (default 268435456)
#       --cap BPS       CAP       per-connection cap in b/d, bytes/s (default 8388608)
#       --slow-rate BPS SLOW_RATE the slow connection in d (default 100000)
#       --slow-nth N    SLOW_NTH  which accepted connection is slow in d (default 2)
#       --rtt-ms MS     RTT_MS    round trip in c (default 40)
#       --timeout S     TIMEOUT   per-run limit (default: a 120, c 60, b/d 1.5 x SIZE/CAP + 10)
#       --out DIR       OUT_DIR   results (default bench/results/<date-time>, and
#                                 bench/results/latest points at it)
#       --plot PNG      PLOT      plot path (default OUT_DIR/bench.png)
#   LONG_RUN=10 LONG_RUNS=3       a tool whose run took longer than LONG_RUN s gets at
#                                 most LONG_RUNS runs in that scenario (time budget)
#   BUILD=build                   where build/parfetch lives
#   BENCH_TMP=DIR                 scratch dir (default /dev/shm when it has room, else
#                                 ${TMPDIR:-/tmp}): served files and downloads live there
#   BENCH_DISK=DIR                where scenario a writes to disk (default /var/tmp;
#                                 skipped when it is a tmpfs)
#   KEEP_TMP=1                    keep the scratch dir
#
# Every run: wall time (bash's EPOCHREALTIME around the command), user+sys CPU and peak
# RSS (GNU time), output size and sha256 checked against the source (a wrong or missing
# file is a failed run, recorded, never timed), output deleted. Tools run in a
# round-robin order that rotates every round. Results: OUT_DIR/results.csv,
# OUT_DIR/report.md (bench/report.py), OUT_DIR/verify.txt (measured caps and RTT),
# OUT_DIR/env.txt (machine, versions, commit).
#
# Network: only 127.0.0.1 (h and i: pfproxy listens on 127.0.0.1 and forwards to nginx
# there) and, for c, 10.77.0.1/10.77.0.2 on TUN devices inside two
# network namespaces this script creates and deletes (no route leaves them).
set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
BENCH_DIR=$(dirname "$SELF")
ROOT=$(dirname "$BENCH_DIR")

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ======================================================================= the run loop
# `run.sh __loop` measures the tools of one scenario. It runs as a child process so
# that scenario c can start it inside the client namespace; everything it needs comes
# in exported L_* variables. One line per run goes to $L_RAW.

tool_cmd() { # TOOL URL OUT -> CMD array
  local tool=$1 url=$2 out=$3
  case $tool in
    parfetch) CMD=("$L_PF_BIN" -q -o "$out" "$url") ;;
    parfetch-n16) CMD=("$L_PF_BIN" -q -n 16 -o "$out" "$url") ;;
    # -o - into sha256sum (issue 12, item 1): in order through the reorder window; the
    # digest goes to OUT.sha, checked instead of OUT
    parfetch-pipe) CMD=(bash -c 'set -o pipefail; "$0" -q -o - "$1" | sha256sum >"$2.sha"'
                        "$L_PF_BIN" "$url" "$out") ;;
    parfetch-n8) CMD=("$L_PF_BIN" -q -n 8 -o "$out" "$url") ;;
    parfetch-mux) CMD=("$L_PF_BIN" -q -c "$L_HOME/multiplex.yaml" -o "$out" "$url") ;; # HTTP/2 streams on one connection
    aria2c) CMD=(aria2c --no-conf -x16 -s16 -k1M --file-allocation=none -q
                 --allow-overwrite=true -d "$(dirname "$out")" -o "$(basename "$out")" "$url") ;;
    aria2c-x8) CMD=(aria2c --no-conf -x8 -s8 -k1M --file-allocation=none -q
                    --allow-overwrite=true -d "$(dirname "$out")" -o "$(basename "$out")" "$url") ;;
    axel) CMD=(axel -n 16 -q -o "$out" "$url") ;;
    axel-n8) CMD=(axel -n 8 -q -o "$out" "$url") ;;
    wget2) CMD=(wget2 --no-config --max-threads=16 --chunk-size=1M -q -O "$out" "$url") ;;
    rclone) # the http backend + copyto: a ranged multi-thread download (copyurl is one GET)
      CMD=(rclone copyto --config "$L_HOME/rclone.conf" -q --http-url "${url%/*}/"
           ":http:${url##*/}" "$out" --multi-thread-streams 16 --multi-thread-cutoff 1M) ;;
    curl) CMD=(curl -q -sSf -o "$out" "$url") ;;
    *) return 1 ;;
  esac
  # HTTPS (scenario e): every tool trusts the bench's self-signed certificate
  if [ -n "${L_CACERT:-}" ]; then
    case $tool in
      parfetch*) CMD+=(--cacert "$L_CACERT") ;;
      aria2c*) CMD+=(--ca-certificate="$L_CACERT") ;;
      curl) CMD+=(--cacert "$L_CACERT") ;;
    esac
  fi
  return 0
}

reset_counter() {
  # Zero the shim's connection counter in place (it is mmap'ed by nginx: no truncation).
  [ -n "${L_COUNTER:-}" ] && [ -f "$L_COUNTER" ] &&
    dd if=/dev/zero of="$L_COUNTER" bs=8 count=1 conv=notrunc status=none
  return 0
}

# timed_run TIMEOUT TIMEFILE LOG CMD... : run CMD in its own process group under GNU time
# and timeout, output to LOG; sets the caller's rc, wall (s, bash's EPOCHREALTIME around it),
# user, sys, cpu (s) and rss (KiB). CHILD is the group while it runs.
timed_run() {
  local tmo=$1 tf=$2 log=$3 t0 t1 line
  shift 3
  t0=$EPOCHREALTIME
  rc=0
  setsid /usr/bin/time -f '%e %U %S %M' -o "$tf" \
    timeout --foreground -k 5 "$tmo" "$@" >"$log" 2>&1 </dev/null &
  CHILD=$!
  wait "$CHILD" || rc=$?
  t1=$EPOCHREALTIME
  CHILD=
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  line=$(tail -n 1 "$tf" 2>/dev/null || true)
  [[ $line =~ ^[0-9.]+\ [0-9.]+\ [0-9.]+\ [0-9]+$ ]] || line="0 0 0 0"
  read -r _ user sys rss <<<"$line"
  cpu=$(awk -v u="${user:-0}" -v s="${sys:-0}" 'BEGIN { printf "%.2f", u + s }')
}

CHILD=
PROXY_PID=
on_loop_signal() {
  # The measured command runs in its own process group (setsid; timeout --foreground
  # keeps the tool in it): stop all of it.
  [ -n "$CHILD" ] && kill -TERM -- "-$CHILD" 2>/dev/null
  proxy_stop
  exit 143
}

# Scenarios h and i put tests/proxy/pfproxy.c between the tools and nginx: a fresh proxy
# per run (untimed), with L_PROXY_ARGS, plus --chaos SEED when L_SEED_BASE is set (the
# seed is L_SEED_BASE + round, so every tool meets the same seeds). Its event log is kept
# as $L_WORK/proxy/SCN.rROUND.TOOL.log. Sets PROXY_URL.
proxy_start() { # ROUND TOOL
  local d="$L_WORK/proxy" i
  mkdir -p "$d"
  rm -f "$d/port"
  local -a args
  read -r -a args <<<"$L_PROXY_ARGS"
  [ -n "${L_SEED_BASE:-}" ] && args+=(--chaos "$((L_SEED_BASE + $1))")
  "$L_PROXY" --upstream "${L_BASE_URL#http://}" --port-file "$d/port" \
    --log "$d/$L_SCN.r$1.$2.log" --max-seconds $((L_TIMEOUT + 60)) "${args[@]}" \
    >/dev/null 2>>"$d/stderr" </dev/null &
  PROXY_PID=$!
  for i in $(seq 1 50); do [ -s "$d/port" ] && break; sleep 0.1; done
  [ -s "$d/port" ] || { cat "$d/stderr" >&2; log "pfproxy did not start"; exit 1; }
  PROXY_URL="http://127.0.0.1:$(cat "$d/port")"
}
proxy_stop() {
  [ -n "$PROXY_PID" ] || return 0
  kill -TERM "$PROXY_PID" 2>/dev/null || true
  wait "$PROXY_PID" 2>/dev/null || true
  PROXY_PID=
}

run_loop() {
  trap on_loop_signal TERM INT HUP
  local -a tools order
  read -r -a tools <<<"$L_TOOLS"
  local n=${#tools[@]} round i k tool url out tf rc t0 t1 wall line note ok cpu user sys rss bytes got
  declare -A done_runs=() long=() dead=()
  mkdir -p "${L_OUT:-$L_WORK/out}"
  export HOME="$L_HOME" XDG_CONFIG_HOME="$L_HOME/.config" PARFETCH_SYSCONFDIR="$L_HOME/sysconf"
  export no_proxy='*' NO_PROXY='*'
  unset PARFETCH_CONFIG http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY ftp_proxy
  for ((round = 1; round <= L_RUNS; round++)); do
    order=()
    for ((i = 0; i < n; i++)); do order+=("${tools[((i + round - 1) % n)]}"); done
    k=0
    for tool in "${order[@]}"; do
      k=$((k + 1))
      [ -n "${dead[$tool]:-}" ] && continue
      if [ -n "${long[$tool]:-}" ] && [ "${done_runs[$tool]:-0}" -ge "$L_LONG_RUNS" ]; then
        continue
      fi
      url="$L_BASE_URL/$L_SCN/r$round/$tool/$L_FILE"
      if [ -n "${L_PROXY:-}" ]; then
        proxy_start "$round" "$tool"
        url="$PROXY_URL/$L_SCN/r$round/$tool/$L_FILE"
      fi
      out="${L_OUT:-$L_WORK/out}/$tool.bin"
      rm -f -- "$out"
      tool_cmd "$tool" "$url" "$out"
      tf="$L_WORK/time.$tool"
      reset_counter
      timed_run "$L_TIMEOUT" "$tf" "$L_WORK/tool.log" "${CMD[@]}"
      proxy_stop
      ok=0 note=
      if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        note="timeout>${L_TIMEOUT}s"
        # A tool that timed out is not run again in this scenario, except in a campaign
        # of seeds (h), where each run meets other faults.
        [ "${L_RUN_AFTER_TIMEOUT:-0}" = 1 ] || dead[$tool]=1
      elif [ "$rc" -gt 128 ] && [ "$rc" -lt 160 ]; then
        note="killed by signal $((rc - 128)) ($(kill -l $((rc - 128)) 2>/dev/null || echo '?'))"
      elif [ "$rc" -ne 0 ]; then
        note="exit $rc: $(tail -n 2 "$L_WORK/tool.log" | tr '\n,"' '  ' | cut -c1-120)"
      elif [ "$tool" = parfetch-pipe ]; then
        got=$(cut -d' ' -f1 "$out.sha" 2>/dev/null)
        if [ "$got" != "$L_SHA" ]; then note="sha256 mismatch (pipe)"; else ok=1; fi
      elif [ ! -f "$out" ]; then
        note="no output file"
      else
        bytes=$(stat -c %s -- "$out")
        if [ "$bytes" -ne "$L_SIZE" ]; then
          note="size $bytes != $L_SIZE"
        else
          got=$(sha256sum <"$out" | cut -d' ' -f1)
          if [ "$got" != "$L_SHA" ]; then note="sha256 mismatch"; else ok=1; fi
        fi
      fi
      rm -f -- "$out" "$out.aria2" "$out.sha"
      done_runs[$tool]=$((${done_runs[$tool]:-0} + 1))
      if awk -v w="$wall" -v l="$L_LONG_RUN" 'BEGIN { exit !(w > l) }'; then long[$tool]=1; fi
      # tool,scenario,run,wall_s,cpu_s,rss_kb,ok,user_s,sys_s,exit,note,position
      printf '%s,%s,%d,%s,%s,%s,%d,%s,%s,%d,"%s",%d\n' "$tool" "$L_SCN" "$round" "$wall" "$cpu" \
        "${rss:-0}" "$ok" "${user:-0}" "${sys:-0}" "$rc" "$note" "$k" >>"$L_RAW"
      if [ "$ok" -eq 1 ]; then
        log "  $L_SCN r$round $tool: ${wall}s cpu ${cpu}s rss $((${rss:-0} / 1024))MiB"
      else
        log "  $L_SCN r$round $tool: FAILED ($note) after ${wall}s"
      fi
    done
  done
}

if [ "${1:-}" = "__loop" ]; then
  run_loop
  exit 0
fi

# ======================================================================= options
SCENARIOS=${BENCH_ONLY:-${SCENARIOS:-}}
RUNS=${RUNS:-5}
TOOLS=${TOOLS:-"parfetch parfetch-n16 aria2c axel wget2 rclone curl"}
SIZE_A=${SIZE_A:-"1073741824 268435456"}
SIZE=${SIZE:-268435456}
CAP=${CAP:-8388608}
SLOW_RATE=${SLOW_RATE:-100000}
SLOW_NTH=${SLOW_NTH:-2}
RTT_MS=${RTT_MS:-40}
TIMEOUT=${TIMEOUT:-}
LONG_RUN=${LONG_RUN:-10}
LONG_RUNS=${LONG_RUNS:-3}
OUT_DIR=${OUT_DIR:-}
PLOT=${PLOT:-}
BUILD=${BUILD:-build}
KEEP_TMP=${KEEP_TMP:-0}
H_SIZE=${H_SIZE:-67108864}
H_RUNS=${H_RUNS:-10}
H_SEED_BASE=${H_SEED_BASE:-1000}
H_TOOLS=${H_TOOLS:-"parfetch-n8 aria2c-x8 axel-n8"}
H_TIMEOUT=${H_TIMEOUT:-150}
H_STALL_MS=${H_STALL_MS:-40000}
H_MIX=${H_MIX:-pass=40,reset=15,stall=15,close=15,trickle=15}
H_AFTER=${H_AFTER:-8388608}
I_RTTS=${I_RTTS:-"200 400 800"}
I_WINDOW=${I_WINDOW:-4194304}
I_TOOLS=${I_TOOLS:-"parfetch curl aria2c"}
I_TIMEOUT=${I_TIMEOUT:-60}
E_SIZE=${E_SIZE:-1073741824}
E_TOOLS=${E_TOOLS:-"parfetch curl aria2c"}
E_HTTP2=${E_HTTP2:-0} # 1: nginx offers HTTP/2 too (ALPN); with parfetch-mux in E_TOOLS, multiplexing is measured
F_COUNT=${F_COUNT:-500}
F_TOOLS=${F_TOOLS:-"pf-client curl-loop aria2c-j8"}
F_TIMEOUT=${F_TIMEOUT:-300}
G_COUNT=${G_COUNT:-16}
G_SIZE=${G_SIZE:-33554432}
G_BUDGET=${G_BUDGET:-8}
G_TOOLS=${G_TOOLS:-"pf-client"}
M_SIZE=${M_SIZE:-268435456}
M_FAST=${M_FAST:-8388608}
M_SLOW=${M_SLOW:-1048576}
M_STREAMS=${M_STREAMS:-8}
M_TIMEOUT=${M_TIMEOUT:-300}

usage() { sed -n '2,/^set -euo/p' "$SELF" | sed -e '$d' -e 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case $1 in
    a | b | c | d | e | f | g | h | i | m) SCENARIOS="$SCENARIOS $1" ;;
    -r | --runs) RUNS=$2; shift ;;
    -t | --tools) TOOLS=${2//,/ }; shift ;;
    --size-a) SIZE_A=${2//,/ }; shift ;;
    --size) SIZE=$2; shift ;;
    --cap) CAP=$2; shift ;;
    --slow-rate) SLOW_RATE=$2; shift ;;
    --slow-nth) SLOW_NTH=$2; shift ;;
    --rtt-ms) RTT_MS=$2; shift ;;
    --timeout) TIMEOUT=$2; shift ;;
    --out) OUT_DIR=$2; shift ;;
    --plot) PLOT=$2; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (try --help)" ;;
  esac
  shift
done
SCENARIOS=${SCENARIOS:-"a b c d e f g h i"}
SCENARIOS=${SCENARIOS//,/ }
for v in RUNS SIZE CAP SLOW_RATE SLOW_NTH RTT_MS LONG_RUNS H_SIZE H_RUNS H_TIMEOUT H_STALL_MS \
  H_AFTER I_WINDOW I_TIMEOUT E_SIZE F_COUNT F_TIMEOUT G_COUNT G_SIZE G_BUDGET M_SIZE M_FAST \
  M_SLOW M_STREAMS M_TIMEOUT; do
  [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -gt 0 ] || die "$v must be a positive integer (got '${!v}')"
done
read -r -a SIZES_A <<<"$SIZE_A"
[ ${#SIZES_A[@]} -ge 1 ] && [ ${#SIZES_A[@]} -le 4 ] || die "SIZE_A lists 1 to 4 sizes"
SIZE_A_MAX=0
for v in "${SIZES_A[@]}"; do
  [[ $v =~ ^[0-9]+$ ]] && [ "$v" -gt 0 ] || die "SIZE_A: '$v' is not a positive integer"
  [ "$v" -gt "$SIZE_A_MAX" ] && SIZE_A_MAX=$v
done
[ "$RUNS" -le 50 ] || die "RUNS is at most 50"
[ "$H_RUNS" -le 50 ] || die "H_RUNS is at most 50"
[[ $H_SEED_BASE =~ ^[0-9]+$ ]] || die "H_SEED_BASE must be a non-negative integer"
for v in $I_RTTS; do [[ $v =~ ^[0-9]+$ ]] && [ "$v" -ge 2 ] || die "I_RTTS: '$v' is not a round trip in ms"; done
for s in $SCENARIOS; do [[ $s =~ ^[abcdefghim]$ ]] || die "unknown scenario '$s'"; done
[ "$F_COUNT" -le 5000 ] && [ "$G_COUNT" -le 256 ] || die "F_COUNT is at most 5000, G_COUNT at most 256"


case $BUILD in /*) PF_BIN=$BUILD/parfetch ;; *) PF_BIN=$ROOT/$BUILD/parfetch ;; esac

# ======================================================================= prerequisites
[ -x /usr/sbin/nginx ] && PATH="$PATH:/usr/sbin"
if [ ! -x /usr/bin/time ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    log "installing GNU time (Debian package 'time')"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
  fi
  [ -x /usr/bin/time ] || die "GNU time is missing: sudo apt-get install -y time"
fi
for c in nginx openssl curl cc sha256sum timeout; do
  command -v "$c" >/dev/null || die "'$c' is missing (make bench installs the bench packages)"
done
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
case " $SCENARIOS " in *" c "*)
  [ "$(id -u)" -eq 0 ] || die "scenario c needs root (network namespaces, TUN devices)"
  command -v ip >/dev/null || die "scenario c needs ip (iproute2)"
  [ -c /dev/net/tun ] || die "scenario c needs /dev/net/tun"
  ;;
esac

pick_tools() { # LIST -> PICKED: the tools of LIST that are installed
  local t
  PICKED=()
  for t in $1; do
    case $t in
      parfetch | parfetch-n16 | parfetch-n8 | parfetch-mux | parfetch-pipe)
        if [ ! -x "$PF_BIN" ]; then log "warning: $PF_BIN is missing; $t skipped"; continue; fi ;;
      aria2c | axel | wget2 | rclone | curl | aria2c-x8 | axel-n8)
        if ! command -v "${t%-[xn]8}" >/dev/null; then log "warning: ${t%-[xn]8} is not installed; $t skipped"; continue; fi ;;
      # scenarios f and g: many objects in one process (multi_cmd)
      pf-client) [ -f "$(dirname "$PF_BIN")/parfetch.so" ] ||
        { log "warning: $(dirname "$PF_BIN")/parfetch.so is missing; $t skipped"; continue; } ;;
      curl-loop) pkg-config --exists libcurl || { log "warning: no libcurl headers; $t skipped"; continue; } ;;
      aria2c-j8) command -v aria2c >/dev/null || { log "warning: aria2c is not installed; $t skipped"; continue; } ;;
      *) die "unknown tool '$t'" ;;
    esac
    PICKED+=("$t")
  done
}
ALL_TOOLS=()
case " $SCENARIOS " in *" a "* | *" b "* | *" c "* | *" d "*)
  pick_tools "$TOOLS"
  ALL_TOOLS=("${PICKED[@]}")
  [ ${#ALL_TOOLS[@]} -gt 0 ] || die "no tool to run"
  ;;
esac
case " $SCENARIOS " in *" h "*)
  pick_tools "$H_TOOLS"
  H_PICKED=("${PICKED[@]}")
  [ ${#H_PICKED[@]} -gt 0 ] || die "scenario h: no tool to run"
  ;;
esac
case " $SCENARIOS " in *" i "*)
  pick_tools "$I_TOOLS"
  I_PICKED=("${PICKED[@]}")
  [ ${#I_PICKED[@]} -gt 0 ] || die "scenario i: no tool to run"
  ;;
esac
case " $SCENARIOS " in *" e "*)
  pick_tools "$E_TOOLS"
  E_PICKED=("${PICKED[@]}")
  [ ${#E_PICKED[@]} -gt 0 ] || die "scenario e: no tool to run"
  ;;
esac
case " $SCENARIOS " in *" f "*)
  pick_tools "$F_TOOLS"
  F_PICKED=("${PICKED[@]}")
  [ ${#F_PICKED[@]} -gt 0 ] || die "scenario f: no tool to run"
  ;;
esac
case " $SCENARIOS " in *" g "*)
  pick_tools "$G_TOOLS"
  G_PICKED=("${PICKED[@]}")
  [ ${#G_PICKED[@]} -gt 0 ] || die "scenario g: no tool to run"
  ;;
esac

# ======================================================================= scratch, cleanup
if [ -z "${BENCH_TMP:-}" ]; then
  BENCH_TMP=${TMPDIR:-/tmp}
  need_kb=$(((3 * SIZE_A_MAX + 2 * SIZE + 2 * H_SIZE) / 1024 + 1048576))
  case " $SCENARIOS " in *" e "* | *" f "* | *" g "*) # e's file and output, f's and g's sets and outputs
    need_kb=$((need_kb + (2 * E_SIZE + 2 * F_COUNT * 2097152 + 2 * G_COUNT * G_SIZE) / 1024)) ;;
  esac
  if [ -d /dev/shm ] && [ -w /dev/shm ] &&
    [ "$(df -Pk /dev/shm | awk 'NR==2 { print $4 }')" -gt "$need_kb" ]; then
    BENCH_TMP=/dev/shm
  fi
fi
WORK=$(mktemp -d "$BENCH_TMP/parfetch-bench.XXXXXX")
# Snapshot the binaries: the tree may be rebuilt while the bench runs, and every run
# must use the same parfetch (the CLI loads the plugin next to itself).
if [ -x "$PF_BIN" ]; then
  mkdir -p "$WORK/pf"
  cp -p "$PF_BIN" "$WORK/pf/parfetch"
  [ -f "$(dirname "$PF_BIN")/parfetch.so" ] && cp -p "$(dirname "$PF_BIN")/parfetch.so" "$WORK/pf/"
  PF_SRC=$PF_BIN
  PF_BIN=$WORK/pf/parfetch
fi
NGINX_PID=
DL_PID=
LOOP_PID=
NS_CLI=
NS_SRV=
OWNER=$BASHPID

stop_pid() { # PID: TERM, wait up to 5 s, then KILL
  local pid=$1 i
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

nginx_stop() {
  local pid=$NGINX_PID kids
  [ -n "$pid" ] || return 0
  NGINX_PID=
  kids=$(pgrep -P "$pid" 2>/dev/null || true)
  stop_pid "$pid"
  # shellcheck disable=SC2086
  [ -n "$kids" ] && kill -KILL $kids 2>/dev/null || true
}

netns_down() {
  stop_pid "$DL_PID"
  DL_PID=
  [ -n "$NS_CLI" ] && ip netns del "$NS_CLI" 2>/dev/null || true
  [ -n "$NS_SRV" ] && ip netns del "$NS_SRV" 2>/dev/null || true
  NS_CLI= NS_SRV=
}

cleanup() {
  [ "$BASHPID" = "$OWNER" ] || return 0
  [ -n "$CHILD" ] && kill -TERM -- "-$CHILD" 2>/dev/null # a run of f or g (multi_loop)
  stop_pid "$LOOP_PID"
  LOOP_PID=
  nginx_stop
  declare -F m_stop >/dev/null && m_stop
  netns_down
  if [ "$KEEP_TMP" = 1 ]; then log "scratch kept: $WORK"; else rm -rf -- "$WORK"; fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ======================================================================= results dir
STAMP=$(date +%Y%m%d-%H%M%S)
if [ -z "$OUT_DIR" ]; then
  OUT_DIR=$BENCH_DIR/results/$STAMP
  mkdir -p "$OUT_DIR"
  ln -sfn "$STAMP" "$BENCH_DIR/results/latest"
fi
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
PLOT=${PLOT:-$OUT_DIR/bench.png}
CSV=$OUT_DIR/results.csv
VERIFY=$OUT_DIR/verify.txt
META=$OUT_DIR/meta.txt
echo "tool,scenario,run,wall_s,cpu_s,rss_kb,ok,user_s,sys_s,exit,note,position,bytes,requests,ranged,conns,peak_parallel,server_bytes" >"$CSV"
: >"$VERIFY"

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "parfetch commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(
    [ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null | head -1)" ] && echo ' (+ uncommitted changes in the tree)')"
  echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(awk '/MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo)"
  echo "kernel: $(uname -sr), congestion control $(sysctl -n net.ipv4.tcp_congestion_control 2>/dev/null), default qdisc $(sysctl -n net.core.default_qdisc 2>/dev/null)"
  echo "os: $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "scratch: $WORK ($(df -PT "$WORK" | awk 'NR==2 { print $2 }'))"
  echo "parfetch: $("$PF_BIN" --version 2>&1 | tr '\n' ' ' || echo missing)(copied from ${PF_SRC:-?})"
  for f in "$PF_BIN" "$(dirname "$PF_BIN")/parfetch.so"; do
    [ -f "$f" ] && echo "  $(basename "$f"): built $(date -u -r "$f" '+%Y-%m-%d %H:%M:%S UTC'), sha256 $(sha256sum <"$f" | cut -c1-16)"
  done
  echo "aria2c: $(aria2c --version 2>/dev/null | head -1)"
  echo "axel: $(axel --version 2>/dev/null | head -1)"
  echo "wget2: $(wget2 --version 2>/dev/null | head -1)"
  echo "rclone: $(rclone version 2>/dev/null | head -1)"
  echo "curl: $(curl --version 2>/dev/null | head -1)"
  echo "nginx: $(nginx -v 2>&1)"
  echo "scenarios: $SCENARIOS; runs: $RUNS; tools: ${ALL_TOOLS[*]}; LONG_RUN=$LONG_RUN s LONG_RUNS=$LONG_RUNS"
  case " $SCENARIOS " in *" h "*)
    echo "h: $H_RUNS seeds from $((H_SEED_BASE + 1)); tools: ${H_PICKED[*]}; mix $H_MIX; stall $H_STALL_MS ms; fates after < $H_AFTER reply bytes; timeout $H_TIMEOUT s" ;;
  esac
  case " $SCENARIOS " in *" i "*)
    echo "i: round trips $I_RTTS ms; window $I_WINDOW; tools: ${I_PICKED[*]}; timeout $I_TIMEOUT s" ;;
  esac
} >"$OUT_DIR/env.txt"
cat "$OUT_DIR/env.txt" >&2
{
  echo "size_a=${SIZES_A[*]}"
  echo "size=$SIZE"
  echo "cap=$CAP"
  echo "slow_rate=$SLOW_RATE"
  echo "slow_nth=$SLOW_NTH"
  echo "rtt_ms=$RTT_MS"
  echo "runs=$RUNS"
  echo "h_runs=$H_RUNS"
  echo "h_stall_ms=$H_STALL_MS"
  echo "h_mix=$H_MIX"
  echo "i_window=$I_WINDOW"
  echo "e_size=$E_SIZE"
  echo "f_count=$F_COUNT"
  echo "g_count=$G_COUNT"
  echo "g_size=$G_SIZE"
  echo "g_budget=$G_BUDGET"
} >"$META"

# ======================================================================= build helpers
log "building the pacing shim and the delay line in $WORK"
cc -O2 -Wall -shared -fPIC -o "$WORK/pacing_shim.so" "$BENCH_DIR/pacing_shim.c" -ldl ||
  die "building bench/pacing_shim.c failed"
cc -O2 -Wall -o "$WORK/delayline" "$BENCH_DIR/delayline.c" || die "building bench/delayline.c failed"
cc -std=c11 -O2 -Wall -o "$WORK/pfproxy" "$ROOT/tests/proxy/pfproxy.c" ||
  die "building tests/proxy/pfproxy.c failed"
case " $SCENARIOS " in *" f "* | *" g "*)
  cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -pthread -I"$ROOT/plugin/include" -I"$ROOT/host-shim" \
    -I"$ROOT/tests/integration/fixtures" \
    -o "$WORK/many_host" "$BENCH_DIR/many_host.c" "$ROOT/host-shim/loader.c" -ldl ||
    die "building bench/many_host.c failed"
  if pkg-config --exists libcurl; then
    # shellcheck disable=SC2046
    cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -o "$WORK/curl_loop" "$BENCH_DIR/curl_loop.c" \
      $(pkg-config --cflags --libs libcurl) || die "building bench/curl_loop.c failed"
  fi
  ;;
esac

# ======================================================================= files
DOCROOT=$WORK/www
mkdir -p "$DOCROOT/files" "$WORK/home/.config" "$WORK/home/sysconf" "$WORK/nginx/tmp"
: >"$WORK/home/rclone.conf"
echo "multiplex: true" >"$WORK/home/multiplex.yaml"

mkfile() { # PATH SIZE : AES-128-CTR keystream, fast and incompressible
  head -c "$2" /dev/zero | openssl enc -aes-128-ctr -nosalt \
    -K 000102030405060708090a0b0c0d0e0f -iv "$(printf '%032x' "$2")" -out "$1"
  [ "$(stat -c %s "$1")" -eq "$2" ] || die "making $1 failed"
}

need_a=0 need_s=0 need_h=0
for s in $SCENARIOS; do case $s in a) need_a=1 ;; h) need_h=1 ;; e | f | g | m) ;; *) need_s=1 ;; esac; done
declare -A FSIZE=() FSHA=()
if [ $need_a = 1 ]; then
  for ((i = 0; i < ${#SIZES_A[@]}; i++)); do
    log "generating $((SIZES_A[i] / 1048576)) MiB for scenario a"
    mkfile "$DOCROOT/files/a$i.bin" "${SIZES_A[i]}"
    FSIZE[a$i.bin]=${SIZES_A[i]}
    FSHA[a$i.bin]=$(sha256sum <"$DOCROOT/files/a$i.bin" | cut -d' ' -f1)
  done
fi
if [ $need_s = 1 ]; then
  log "generating $((SIZE / 1048576)) MiB for scenarios b, c, d"
  mkfile "$DOCROOT/files/s.bin" "$SIZE"
  FSIZE[s.bin]=$SIZE
  FSHA[s.bin]=$(sha256sum <"$DOCROOT/files/s.bin" | cut -d' ' -f1)
  mkfile "$DOCROOT/files/v64.bin" $((64 * 1048576))
fi
if [ $need_h = 1 ]; then
  log "generating $((H_SIZE / 1048576)) MiB for scenario h"
  mkfile "$DOCROOT/files/h.bin" "$H_SIZE"
  FSIZE[h.bin]=$H_SIZE
  FSHA[h.bin]=$(sha256sum <"$DOCROOT/files/h.bin" | cut -d' ' -f1)
fi
case " $SCENARIOS " in *" e "*)
  log "generating $((E_SIZE / 1048576)) MiB and a self-signed certificate for scenario e"
  mkfile "$DOCROOT/files/e.bin" "$E_SIZE"
  FSIZE[e.bin]=$E_SIZE
  FSHA[e.bin]=$(sha256sum <"$DOCROOT/files/e.bin" | cut -d' ' -f1)
  mkdir -p "$WORK/tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$WORK/tls/key.pem" -out "$WORK/tls/cert.pem" \
    2>/dev/null || die "making the certificate of scenario e failed"
  ;;
esac
# mkset NAME COUNT SIZE|log : COUNT objects oNNNN.bin in $WORK/sets/NAME, each a slice of one
# keystream at its own offset (so no two are alike); SIZE bytes each, or "log": sizes
# log-uniform from 4 KiB to 2 MiB, the same every run. Writes NAME.names (one object a
# line), NAME.sums (sha256sum -c input) and SETBYTES[NAME].
declare -A SETBYTES=()
mkset() {
  local name=$1 n=$2 size=$3 d=$WORK/sets/$1 i sz off total=0 max
  max=$([ "$size" = log ] && echo 2097152 || echo "$size")
  mkdir -p "$d"
  mkfile "$WORK/sets/$name.pool" $((max + n * 4099 + 4096))
  : >"$WORK/sets/$name.names"
  for ((i = 0; i < n; i++)); do
    if [ "$size" = log ]; then
      sz=$(awk -v i="$i" -v n="$n" 'BEGIN { printf "%d", 4096 * exp(log(512) * (n > 1 ? i / (n - 1) : 0)) }')
    else
      sz=$size
    fi
    off=$((i * 4099))
    dd if="$WORK/sets/$name.pool" of="$d/$(printf 'o%04d.bin' "$i")" bs=1M iflag=skip_bytes,count_bytes \
      skip="$off" count="$sz" status=none
    printf 'o%04d.bin\n' "$i" >>"$WORK/sets/$name.names"
    total=$((total + sz))
  done
  rm -f "$WORK/sets/$name.pool"
  (cd "$d" && sha256sum -- *.bin) >"$WORK/sets/$name.sums"
  SETBYTES[$name]=$total
}
case " $SCENARIOS " in *" f "*)
  log "generating $F_COUNT objects of 4 KiB to 2 MiB for scenario f"
  mkset f "$F_COUNT" log
  ;;
esac
case " $SCENARIOS " in *" g "*)
  log "generating $G_COUNT objects of $((G_SIZE / 1048576)) MiB for scenario g"
  mkset g "$G_COUNT" "$G_SIZE"
  ;;
esac
mkdir -p "$DOCROOT/verify"
for f in "$DOCROOT"/files/*; do
  [ -e "$f" ] || continue # f and g alone serve no single file
  ln -f "$f" "$DOCROOT/verify/"
done

link_runs() { # SCN FILE : /SCN/rN/TOOL/FILE for every run and tool, so that nginx's
  local scn=$1 f=$2 r t # access log tells runs and tools apart
  for ((r = 1; r <= RUNS; r++)); do
    for t in "${ALL_TOOLS[@]}"; do
      mkdir -p "$DOCROOT/$scn/r$r/$t"
      ln -f "$DOCROOT/files/$f" "$DOCROOT/$scn/r$r/$t/$f"
    done
  done
}

# ======================================================================= nginx
free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

nginx_conf() { # LISTEN (addr:port); HTTPS when NGINX_TLS names a certificate (scenario e)
  local d=$WORK/nginx user_line="" tls_lines=""
  [ "$(id -u)" -eq 0 ] && user_line="user root root;"
  [ -n "${NGINX_TLS:-}" ] && tls_lines="ssl_certificate $NGINX_TLS; ssl_certificate_key ${NGINX_TLS%/*}/key.pem;"
  cat >"$d/nginx.conf" <<EOF
# generated by bench/run.sh
$user_line
worker_processes 2;
daemon off;
master_process on;
pid $d/nginx.pid;
error_log $d/error.log notice;
events { worker_connections 1024; }
http {
    default_type application/octet-stream;
    server_tokens off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    keepalive_timeout 60s;
    client_body_temp_path $d/tmp/client_body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    log_format bench '\$msec\t\$request_time\t\$connection\t\$request_method\t\$uri\t\$status\t\$http_range\t\$body_bytes_sent\t\$http_user_agent';
    access_log $d/access.log bench;
    server {
        listen $1${NGINX_TLS:+ ssl}${NGINX_H2:+ http2};
        $tls_lines
        root $DOCROOT;
        location = /.alive { access_log off; return 200 "bench $WORK\n"; }
        location = /.status { access_log off; stub_status; }
    }
}
EOF
}

# nginx_start LISTEN_ADDR [NETNS] [ENV...] : start nginx, wait for it (max 5 s).
# LISTEN_ADDR 127.0.0.1 picks a free port (5 attempts); in a namespace, port 8080.
nginx_start() {
  local addr=$1 ns=${2:-} attempt i port scheme=http
  [ -n "${NGINX_TLS:-}" ] && scheme=https
  shift 2 || shift $#
  for attempt in 1 2 3 4 5; do
    if [ -n "$ns" ]; then port=8080; else port=$(free_port); fi
    nginx_conf "$addr:$port"
    : >"$WORK/nginx/error.log"
    : >"$WORK/nginx/access.log"
    if [ -n "$ns" ]; then
      env "$@" ip netns exec "$ns" nginx -p "$WORK/nginx/" -c "$WORK/nginx/nginx.conf" \
        >>"$WORK/nginx/stdout.log" 2>&1 </dev/null &
    else
      env "$@" nginx -p "$WORK/nginx/" -c "$WORK/nginx/nginx.conf" \
        >>"$WORK/nginx/stdout.log" 2>&1 </dev/null &
    fi
    NGINX_PID=$!
    for i in $(seq 1 50); do
      kill -0 "$NGINX_PID" 2>/dev/null || break
      if ${ns:+ip netns exec "$ns"} curl -s --noproxy '*' --max-time 2 ${NGINX_TLS:+--cacert "$NGINX_TLS"} \
        "$scheme://$addr:$port/.alive" 2>/dev/null | grep -qF "bench $WORK"; then
        BASE_URL="$scheme://$addr:$port"
        return 0
      fi
      sleep 0.1
    done
    nginx_stop
    grep -q 'Address already in use' "$WORK/nginx/error.log" 2>/dev/null && continue
    break
  done
  cat "$WORK/nginx/error.log" >&2
  die "nginx did not start"
}

# ======================================================================= measurement
rate_of() { # URL [RANGE] -> "bytes seconds MiB/s"
  local url=$1 range=${2:-} w
  w=$(${NSX:-} curl -s --noproxy '*' -o /dev/null ${range:+-r "$range"} \
    -w '%{size_download} %{time_total}' --max-time 120 "$url") || true
  awk -v w="$w" 'BEGIN { split(w, a, " "); r = (a[2] > 0) ? a[1] / a[2] / 1048576 : 0;
    printf "%d bytes in %.3f s = %.2f MiB/s", a[1], a[2], r }'
}

run_scenario_loop() { # SCN FILE TIMEOUT [NETNS]
  local scn=$1 file=$2 tmo=$3 ns=${4:-}
  link_runs "$scn" "$file"
  export L_SCN=$scn L_FILE=$file L_SIZE=${FSIZE[$file]} L_SHA=${FSHA[$file]} L_TIMEOUT=$tmo
  export L_BASE_URL=$BASE_URL L_TOOLS="${ALL_TOOLS[*]}" L_RUNS=$RUNS L_WORK=$WORK
  export L_HOME=$WORK/home L_PF_BIN=$PF_BIN L_LONG_RUN=$LONG_RUN L_LONG_RUNS=$LONG_RUNS
  export L_RAW=$WORK/raw.$scn.csv L_COUNTER=${COUNTER:-}
  : >"$L_RAW"
  log "scenario $scn: ${ALL_TOOLS[*]} x $RUNS rounds, timeout ${tmo}s, $BASE_URL"
  # In the background and waited for, so that an interrupt reaches the trap at once.
  if [ -n "$ns" ]; then
    ip netns exec "$ns" bash "$SELF" __loop &
  else
    bash "$SELF" __loop &
  fi
  LOOP_PID=$!
  wait "$LOOP_PID" || die "the run loop of scenario $scn failed"
  LOOP_PID=
  sleep 1 # nginx logs a request when it is finished
  "$PY" "$BENCH_DIR/report.py" logstats --log "$WORK/nginx/access.log" --raw "$L_RAW" \
    --size "${FSIZE[$file]}" >>"$CSV"
  cp "$WORK/nginx/access.log" "$OUT_DIR/access.$scn.log"
}

scenario_a() {
  local i label disk= target
  COUNTER=
  # the same runs to the machine's disk: there the side file's flushes are real
  # (on tmpfs they cost nothing)
  if [ "$(stat -f -c %T "${BENCH_DISK:-/var/tmp}" 2>/dev/null)" = tmpfs ]; then
    log "scenario a: ${BENCH_DISK:-/var/tmp} is a tmpfs: no run to disk"
  else
    disk=$(mktemp -d "${BENCH_DISK:-/var/tmp}/parfetch-bench-out.XXXXXX")
  fi
  nginx_start 127.0.0.1 ""
  for ((i = 0; i < ${#SIZES_A[@]}; i++)); do
    for target in "" ${disk:+disk}; do
      label=a
      [ "$i" -gt 0 ] && label=a-$((SIZES_A[i] / 1048576))MiB
      L_OUT=
      if [ -n "$target" ]; then
        label=$label-disk
        L_OUT=$disk
      fi
      export L_OUT
      log "=== scenario $label: $((SIZES_A[i] / 1048576)) MiB, loopback, no limits, to ${L_OUT:-$WORK/out}"
      run_scenario_loop "$label" "a$i.bin" "${TIMEOUT:-120}"
    done
  done
  L_OUT=
  [ -n "$disk" ] && rm -rf -- "$disk"
  nginx_stop
}

shim_env() { # RATE SLOW_NTH SLOW_RATE -> SHIM_ENV array
  COUNTER=$WORK/counter
  dd if=/dev/zero of="$COUNTER" bs=8 count=1 status=none
  SHIM_ENV=(LD_PRELOAD="$WORK/pacing_shim.so" PFB_PACING_RATE="$1" PFB_SLOW_NTH="$2"
    PFB_SLOW_RATE="$3" PFB_COUNTER_FILE="$COUNTER" PFB_MSS=1448
    PFB_SHIM_LOG="$WORK/shim.log")
}

capped_timeout() { awk -v s="$SIZE" -v c="$CAP" 'BEGIN { printf "%d", 1.5 * s / c + 10 }'; }

scenario_b() {
  log "=== scenario b: $((SIZE / 1048576)) MiB, every connection paced at $CAP B/s"
  shim_env "$CAP" 0 0
  nginx_start 127.0.0.1 "" "${SHIM_ENV[@]}"
  local r1 r2 r3
  dd if=/dev/zero of="$COUNTER" bs=8 count=1 conv=notrunc status=none
  r1=$(rate_of "$BASE_URL/verify/v64.bin")
  r2=$(rate_of "$BASE_URL/verify/v64.bin" 0-2097151)
  r3=$(rate_of "$BASE_URL/verify/v64.bin" 0-262143)
  {
    echo "b: cap $CAP B/s = $(awk -v c="$CAP" 'BEGIN { printf "%.2f", c / 1048576 }') MiB/s per connection (SO_MAX_PACING_RATE, MSS 1448)"
    echo "b: curl, one connection, 64 MiB file:  $r1"
    echo "b: curl, one connection, 2 MiB range:  $r2"
    echo "b: curl, one connection, 256 KiB range: $r3"
  } | tee -a "$VERIFY" >&2
  run_scenario_loop b s.bin "${TIMEOUT:-$(capped_timeout)}"
  nginx_stop
}

scenario_d() {
  log "=== scenario d: b, plus connection #$SLOW_NTH of every run paced at $SLOW_RATE B/s"
  shim_env "$CAP" "$SLOW_NTH" "$SLOW_RATE"
  nginx_start 127.0.0.1 "" "${SHIM_ENV[@]}"
  local i r
  dd if=/dev/zero of="$COUNTER" bs=8 count=1 conv=notrunc status=none
  for ((i = 1; i <= SLOW_NTH + 1 && i <= 4; i++)); do
    if [ "$i" -eq "$SLOW_NTH" ]; then
      r=$(rate_of "$BASE_URL/verify/v64.bin" 0-262143)
      echo "d: curl, connection #$i (the slow one), 256 KiB range: $r" | tee -a "$VERIFY" >&2
    else
      r=$(rate_of "$BASE_URL/verify/v64.bin" 0-2097151)
      echo "d: curl, connection #$i, 2 MiB range: $r" | tee -a "$VERIFY" >&2
    fi
  done
  run_scenario_loop d s.bin "${TIMEOUT:-$(capped_timeout)}"
  nginx_stop
}

# ----------------------------------------------------------------------- scenario c
C_MEM_MAX=${C_MEM_MAX:-67108864}

netns_up() { # DELAY_US
  NS_CLI=pfbench-cli-$$ NS_SRV=pfbench-srv-$$
  ip netns add "$NS_CLI"
  ip netns add "$NS_SRV"
  local ns
  for ns in "$NS_CLI" "$NS_SRV"; do
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 || true
    ip netns exec "$ns" sysctl -qw net.ipv4.tcp_rmem="4096 131072 $C_MEM_MAX" \
      net.ipv4.tcp_wmem="4096 16384 $C_MEM_MAX"
  done
  dl_start "$1"
}

dl_start() { # DELAY_US : start the delay line, address and raise the TUN devices
  local i
  : >"$WORK/dl.out"
  # The delay line stands for the network, which does not share the client's two cores in
  # real life: it runs SCHED_FIFO so that a tool's threads cannot starve it (starved, it reads
  # the server's TUN device too late, the device's queue overflows and every tool in that run
  # pays for retransmits). chrt is in util-linux.
  local rt=()
  command -v chrt >/dev/null && chrt -f 20 true 2>/dev/null && rt=(chrt -f 20)
  "${rt[@]}" "$WORK/delayline" "/var/run/netns/$NS_CLI" pfb0 "/var/run/netns/$NS_SRV" pfb1 "$1" 3600 \
    >"$WORK/dl.out" 2>>"$WORK/dl.err" &
  DL_PID=$!
  for i in $(seq 1 50); do grep -q ready "$WORK/dl.out" && break; sleep 0.1; done
  grep -q ready "$WORK/dl.out" || { cat "$WORK/dl.err" >&2; die "delayline did not start"; }
  ip -n "$NS_CLI" addr add 10.77.0.1 peer 10.77.0.2 dev pfb0
  ip -n "$NS_SRV" addr add 10.77.0.2 peer 10.77.0.1 dev pfb1
  # a queue of 10000 packets (TSO packets of up to 64 KiB) on each device absorbs the bursts
  # of 16 streams starting at once; 500, the default, drops some
  ip -n "$NS_CLI" link set pfb0 up txqueuelen 10000
  ip -n "$NS_SRV" link set pfb1 up txqueuelen 10000
}

tun_drops() { ip -n "$NS_SRV" -s link show pfb1 | awk '/TX:/ { getline; print $4 + 0; exit }'; }
retrans() { ip netns exec "$NS_SRV" nstat -as TcpRetransSegs 2>/dev/null | awk '$1 == "TcpRetransSegs" { n = $2 } END { print n + 0 }'; }

scenario_c() {
  log "=== scenario c: $((SIZE / 1048576)) MiB over a ${RTT_MS} ms round trip (namespaces + TUN delay line)"
  local half=$((RTT_MS * 500)) r ping_out cc
  COUNTER=
  NSX=
  # 1. the delay line's own capacity, with no delay
  netns_up 0
  nginx_start 10.77.0.2 "$NS_SRV"
  NSX="ip netns exec $NS_CLI"
  r=$(rate_of "$BASE_URL/verify/s.bin")
  r=$(rate_of "$BASE_URL/verify/s.bin")
  echo "c: delay line capacity (0 ms delay), curl one stream, $((SIZE / 1048576)) MiB: $r" | tee -a "$VERIFY" >&2
  nginx_stop
  stop_pid "$DL_PID"
  DL_PID=
  # 2. the real thing
  dl_start "$half"
  nginx_start 10.77.0.2 "$NS_SRV"
  if command -v ping >/dev/null; then
    ping_out=$(ip netns exec "$NS_CLI" ping -n -q -c 10 -i 0.2 -w 10 10.77.0.2 | tail -1 || true)
    echo "c: ping 10.77.0.2 x10 from the client namespace: ${ping_out:-failed}" | tee -a "$VERIFY" >&2
  else
    echo "c: ping not installed (Debian: iputils-ping); TCP handshake times below" | tee -a "$VERIFY" >&2
  fi
  for i in 1 2 3; do
    r=$($NSX curl -s --noproxy '*' -o /dev/null -w '%{time_connect}' "$BASE_URL/.alive" || true)
    echo "c: TCP connect (SYN -> SYN/ACK) with curl: $(awk -v t="$r" 'BEGIN { printf "%.2f ms", t * 1000 }')" | tee -a "$VERIFY" >&2
  done
  cc=$(ip netns exec "$NS_CLI" sysctl -n net.ipv4.tcp_congestion_control)
  r=$(rate_of "$BASE_URL/verify/s.bin")
  echo "c: curl one stream, $((SIZE / 1048576)) MiB, 40 ms: $r; tcp_rmem/tcp_wmem max $C_MEM_MAX in both namespaces (buffer / RTT = $(awk -v m="$C_MEM_MAX" -v t="$RTT_MS" 'BEGIN { printf "%.0f", m / (t / 1000) / 1048576 }') MiB/s; the advertised window is a fraction of the buffer); congestion control $cc; MTU 1500 (TSO offload to the delay line)" | tee -a "$VERIFY" >&2
  NSX=
  local drops0 retrans0 drops1 retrans1
  drops0=$(tun_drops) retrans0=$(retrans)
  run_scenario_loop c s.bin "${TIMEOUT:-60}" "$NS_CLI"
  drops1=$(tun_drops) retrans1=$(retrans)
  echo "c: during the runs: $((drops1 - drops0)) packets dropped by the server's TUN device (queue full), $((retrans1 - retrans0)) TCP segments retransmitted by the server" | tee -a "$VERIFY" >&2
  nginx_stop
  netns_down
  grep 'delayline:' "$WORK/dl.err" | tail -2 | sed 's/^/c: /' | tee -a "$VERIFY" >&2 || true
}

# ----------------------------------------------------------------------- scenarios h and i
# Both run the tools through pfproxy on 127.0.0.1, one fresh proxy per run (run_loop's
# proxy_start). The L_* settings are local to the function, so later scenarios run direct.

scenario_h() {
  log "=== scenario h: $((H_SIZE / 1048576)) MiB at 8 streams, chaos campaign of $H_RUNS seeds"
  COUNTER=
  nginx_start 127.0.0.1 ""
  local RUNS=$H_RUNS LONG_RUN=100000 ALL_TOOLS=("${H_PICKED[@]}")
  local L_PROXY=$WORK/pfproxy L_SEED_BASE=$H_SEED_BASE L_RUN_AFTER_TIMEOUT=1
  local L_PROXY_ARGS="--chaos-mix $H_MIX --stall-ms $H_STALL_MS --chaos-after $H_AFTER"
  export L_PROXY L_SEED_BASE L_RUN_AFTER_TIMEOUT L_PROXY_ARGS
  run_scenario_loop h h.bin "$H_TIMEOUT"
  # What the proxies did: fates drawn and applied over every run of each tool.
  local t f
  for t in "${ALL_TOOLS[@]}"; do
    f=$(cat "$WORK"/proxy/h.r*."$t".log 2>/dev/null |
      awk '$1 == "open" { n++ } $1 == "fate" { split($3, a, "="); hit[a[2]]++ }
        END { printf "%d connections; faults applied:", n; for (k in hit) printf " %s %d", k, hit[k]; if (!length(hit)) printf " none" }')
    echo "h: $t over $RUNS seeds: $f" | tee -a "$VERIFY" >&2
  done
  mkdir -p "$OUT_DIR/proxy-h"
  cp "$WORK"/proxy/h.r*.log "$OUT_DIR/proxy-h/" 2>/dev/null || true
  nginx_stop
}

scenario_i() {
  local rtt label ttfb
  COUNTER=
  nginx_start 127.0.0.1 ""
  local ALL_TOOLS=("${I_PICKED[@]}") L_PROXY=$WORK/pfproxy L_SEED_BASE= L_RUN_AFTER_TIMEOUT=0 L_PROXY_ARGS
  export L_PROXY L_SEED_BASE L_RUN_AFTER_TIMEOUT L_PROXY_ARGS
  for rtt in $I_RTTS; do
    label=i-rtt${rtt}ms
    L_PROXY_ARGS="--delay $((rtt / 2)) --window $I_WINDOW"
    log "=== scenario $label: $((SIZE / 1048576)) MiB through pfproxy $L_PROXY_ARGS"
    # the path as a client sees it: a new connection's first byte (handshake + request)
    "$WORK/pfproxy" --upstream "${BASE_URL#http://}" --port-file "$WORK/i.port" --max-seconds 30 \
      $L_PROXY_ARGS >/dev/null 2>"$WORK/i.proxy.log" </dev/null &
    local px_pid=$!
    for _ in $(seq 1 50); do [ -s "$WORK/i.port" ] && break; sleep 0.1; done
    ttfb=$(curl -s --noproxy '*' --max-time 10 -o /dev/null -w '%{time_starttransfer}' \
      "http://127.0.0.1:$(cat "$WORK/i.port")/.alive" || true)
    stop_pid "$px_pid"
    rm -f "$WORK/i.port"
    echo "$label: pfproxy $L_PROXY_ARGS: a new connection's first byte after ${ttfb:-?} s (handshake + request = 2 round trips); one connection moves at most $(awk -v w="$I_WINDOW" -v r="$rtt" 'BEGIN { printf "%.1f", w / (r / 2000) / 1048576 }') MiB/s (window / one-way delay)" |
      tee -a "$VERIFY" >&2
    run_scenario_loop "$label" s.bin "$I_TIMEOUT"
  done
  nginx_stop
}

# ----------------------------------------------------------------------- scenarios e, f, g
# (issue 9) e runs run_loop over HTTPS; f and g fetch a set of objects per run in one
# process (multi_loop), and write per-object figures to OUT_DIR/extra.csv
# (tool,scenario,run,key,value) beside the usual rows of results.csv.

NGINX_TLS=
NGINX_H2=
scenario_e() {
  log "=== scenario e: $((E_SIZE / 1048576)) MiB over HTTPS from nginx on 127.0.0.1"
  COUNTER=
  NGINX_TLS=$WORK/tls/cert.pem
  NGINX_H2=
  [ "$E_HTTP2" = 1 ] && NGINX_H2=1
  nginx_start 127.0.0.1 ""
  local ALL_TOOLS=("${E_PICKED[@]}") L_CACERT=$NGINX_TLS w
  export L_CACERT
  w=$(curl -s --noproxy '*' --cacert "$L_CACERT" -o /dev/null -w '%{size_download} %{time_total} %{ssl_verify_result}' \
    --max-time 120 "$BASE_URL/verify/e.bin" || true)
  echo "e: curl, one connection, https, $((E_SIZE / 1048576)) MiB: $(awk -v w="$w" 'BEGIN { split(w, a, " ");
    r = (a[2] > 0) ? a[1] / a[2] / 1048576 : 0;
    printf "%d bytes in %.3f s = %.2f MiB/s, certificate verify result %s", a[1], a[2], r, a[3] }'); $(openssl version)" |
    tee -a "$VERIFY" >&2
  run_scenario_loop e e.bin "${TIMEOUT:-120}"
  nginx_stop
  NGINX_TLS=
  NGINX_H2=
}

multi_cmd() { # TOOL LIST OUT THREADS -> CMD array
  local tool=$1 list=$2 out=$3 thr=$4
  case $tool in
    pf-client) CMD=("$WORK/many_host" "$(dirname "$PF_BIN")/parfetch.so" "$BASE_URL" "$list" "$out" "$thr") ;;
    curl-loop) CMD=("$WORK/curl_loop" "$BASE_URL" "$list" "$out") ;;
    aria2c-j8)
      sed "s|^|$BASE_URL/|" "$list" >"$list.urls"
      CMD=(aria2c --no-conf -q -i "$list.urls" -j 8 -d "$out" --file-allocation=none
           --allow-overwrite=true --auto-file-renaming=false) ;;
  esac
}

# accepted : the connections nginx has accepted so far (stub_status), or nothing.
accepted() {
  curl -s --noproxy '*' --max-time 2 "$BASE_URL/.status" 2>/dev/null | awk 'NR == 3 { print $1 }'
}

# multi_loop SCN SET THREADS TIMEOUT TOOL... : RUNS rounds, the tools in a rotating order;
# each run fetches every object of set SET (mkset) from /SCN/rROUND/TOOL/ into a fresh
# directory, timed as run_loop times a run, every object's sha256 checked.
multi_loop() {
  local scn=$1 set=$2 thr=$3 tmo=$4
  shift 4
  local -a tools=("$@") order
  local n=${#tools[@]} round i k tool d list out rc wall user sys rss cpu ok note key val acc0 acc1
  local raw=$WORK/raw.$scn.csv
  : >"$raw"
  export HOME=$WORK/home no_proxy='*' NO_PROXY='*'
  log "scenario $scn: ${tools[*]} x $RUNS rounds, $(wc -l <"$WORK/sets/$set.names") objects, $((SETBYTES[$set] / 1048576)) MiB, timeout ${tmo}s, $BASE_URL"
  for ((round = 1; round <= RUNS; round++)); do
    order=()
    for ((i = 0; i < n; i++)); do order+=("${tools[((i + round - 1) % n)]}"); done
    k=0
    for tool in "${order[@]}"; do
      k=$((k + 1))
      d=$DOCROOT/$scn/r$round/$tool
      mkdir -p "$(dirname "$d")"
      rm -rf -- "$d"
      cp -al "$WORK/sets/$set" "$d" # hard links: /SCN/rROUND/TOOL/ in nginx's log tells runs apart
      list=$WORK/list.$scn
      sed "s|^|$scn/r$round/$tool/|" "$WORK/sets/$set.names" >"$list"
      out=$WORK/out/$scn
      rm -rf -- "$out"
      mkdir -p "$out"
      multi_cmd "$tool" "$list" "$out" "$thr"
      acc0=$(accepted)
      timed_run "$tmo" "$WORK/time.$tool" "$WORK/tool.log" "${CMD[@]}"
      acc1=$(accepted)
      ok=0 note=
      if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        note="timeout>${tmo}s"
      elif [ "$rc" -ne 0 ]; then
        note="exit $rc: $(tail -n 2 "$WORK/tool.log" | tr '\n,"' '  ' | cut -c1-120)"
      elif ! (cd "$out" && sha256sum --status -c "$WORK/sets/$set.sums"); then
        note="an object missing or wrong (sha256sum -c)"
      elif [ "$(find "$out" -type f | wc -l)" -ne "$(wc -l <"$WORK/sets/$set.names")" ]; then
        note="stray files in the output directory"
      else
        ok=1
      fi
      printf '%s,%s,%d,%s,%s,%s,%d,%s,%s,%d,"%s",%d\n' "$tool" "$scn" "$round" "$wall" "$cpu" \
        "${rss:-0}" "$ok" "${user:-0}" "${sys:-0}" "$rc" "$note" "$k" >>"$raw"
      # every TCP connection the run opened, carrying a request or not (the
      # second reading's own connection is counted in acc1)
      [ -n "$acc0" ] && [ -n "$acc1" ] &&
        echo "$tool,$scn,$round,accepted,$((acc1 - acc0 - 1))" >>"$OUT_DIR/extra.csv"
      # many_host's and curl_loop's own figures
      while read -r key val; do
        case $key in per_object_mean | fastest | slowest | peak_threads | host_threads | total | phase_*_mean)
          echo "$tool,$scn,$round,$key,$val" >>"$OUT_DIR/extra.csv" ;;
        esac
      done <"$WORK/tool.log"
      if [ "$ok" -eq 1 ]; then
        log "  $scn r$round $tool: ${wall}s cpu ${cpu}s rss $((${rss:-0} / 1024))MiB$(
          awk '$1 == "peak_threads" { p = $2 } $1 == "host_threads" { h = $2 }
            $1 == "slowest" { s = $2 } $1 == "fastest" { f = $2 }
            END { if (p) printf " threads %d (host %d), objects %.2f..%.2f s", p, h, f, s }' "$WORK/tool.log")"
      else
        log "  $scn r$round $tool: FAILED ($note) after ${wall}s"
      fi
      rm -rf -- "$out" "$d"
    done
  done
  sleep 1 # nginx logs a request when it is finished
  "$PY" "$BENCH_DIR/report.py" logstats --log "$WORK/nginx/access.log" --raw "$raw" \
    --size "${SETBYTES[$set]}" >>"$CSV"
  cp "$WORK/nginx/access.log" "$OUT_DIR/access.$scn.log"
}

scenario_f() {
  log "=== scenario f: $F_COUNT objects of 4 KiB to 2 MiB in one process, one after another"
  COUNTER=
  nginx_start 127.0.0.1 ""
  multi_loop f f 1 "$F_TIMEOUT" "${F_PICKED[@]}"
  nginx_stop
}

scenario_g() {
  log "=== scenario g: $G_COUNT objects of $((G_SIZE / 1048576)) MiB at once on one client, every connection paced at $CAP B/s"
  shim_env "$CAP" 0 0
  nginx_start 127.0.0.1 "" "${SHIM_ENV[@]}"
  ln -f "$WORK/sets/g/o0000.bin" "$DOCROOT/verify/g0.bin"
  echo "g: cap $CAP B/s per connection; ideal = $G_COUNT x $G_SIZE B / ($G_BUDGET connections x $CAP B/s) = $(awk -v n="$G_COUNT" -v s="$G_SIZE" -v b="$G_BUDGET" -v c="$CAP" 'BEGIN { printf "%.2f", n * s / (b * c) }') s; curl, one connection, one object: $(rate_of "$BASE_URL/verify/g0.bin")" |
    tee -a "$VERIFY" >&2
  multi_loop g g "$G_COUNT" "${TIMEOUT:-$(awk -v n="$G_COUNT" -v s="$G_SIZE" -v c="$CAP" 'BEGIN { printf "%d", 2 * n * s / (8 * c) + 30 }')}" "${G_PICKED[@]}"
  nginx_stop
}

# ----------------------------------------------------------------------- scenario m
# Three nginx servers of their own (one pacing rate each: the shim reads it once per
# master), each with a log of its own; a run's requests carry ?m=ROUND.TOOL.
M_PIDS=()
declare -A M_URL=()
m_nginx() { # N ADDR RATE -> M_URL[N]
  local n=$1 addr=$2 rate=$3 d=$WORK/m$1 port i user_line=""
  [ "$(id -u)" -eq 0 ] && user_line="user root root;"
  mkdir -p "$d/tmp"
  for _ in 1 2 3 4 5; do
    port=$(free_port)
    cat >"$d/nginx.conf" <<EOF
$user_line
worker_processes 1;
daemon off;
pid $d/nginx.pid;
error_log $d/error.log notice;
events { worker_connections 1024; }
http {
    default_type application/octet-stream;
    sendfile on;
    keepalive_requests 100000;
    keepalive_timeout 60s;
    client_body_temp_path $d/tmp/cb; proxy_temp_path $d/tmp/p; fastcgi_temp_path $d/tmp/f;
    uwsgi_temp_path $d/tmp/u; scgi_temp_path $d/tmp/s;
    log_format m '\$msec\t\$connection\t\$request_uri\t\$status\t\$body_bytes_sent';
    access_log $d/access.log m;
    server {
        listen $addr:$port;
        root $DOCROOT;
        location = /.alive { access_log off; return 200 "bench $WORK $n\n"; }
    }
}
EOF
    : >"$d/error.log"
    env LD_PRELOAD="$WORK/pacing_shim.so" PFB_PACING_RATE="$rate" PFB_MSS=1448 \
      nginx -p "$d/" -c "$d/nginx.conf" >>"$d/stdout.log" 2>&1 </dev/null &
    M_PIDS[n]=$!
    for i in $(seq 1 50); do
      kill -0 "${M_PIDS[n]}" 2>/dev/null || break
      if curl -s --noproxy '*' --max-time 2 "http://$addr:$port/.alive" 2>/dev/null |
        grep -qF "bench $WORK $n"; then
        M_URL[$n]="http://$addr:$port"
        return 0
      fi
      sleep 0.1
    done
    stop_pid "${M_PIDS[n]}"
    grep -q 'Address already in use' "$d/error.log" || break
  done
  cat "$d/error.log" >&2
  die "scenario m: nginx $n on $addr did not start"
}
m_stop() {
  local p
  for p in "${M_PIDS[@]}"; do stop_pid "$p"; done
  M_PIDS=()
}

m_median() { # numbers, one a line -> their median ("-" for none)
  sort -g | awk '{ v[NR] = $1 } END { if (!NR) { print "-"; exit }
    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f\n", m }'
}
m_col() { # CSV TOOL COLUMN [DIVISOR] -> the median of COLUMN over TOOL's good runs
  awk -F, -v t="$2" -v k="$3" -v d="${4:-1}" 'NR > 1 && $1 == t && $6 == 1 { print $k / d }' "$1" |
    m_median
}

scenario_m() {
  log "=== scenario m: $((M_SIZE / 1048576)) MiB from 3 servers paced at $M_FAST, $M_FAST and $M_SLOW B/s per connection"
  mkfile "$DOCROOT/files/m.bin" "$M_SIZE"
  local sha tools=() tool round k url out rc wall user sys cpu rss ok note n csv=$OUT_DIR/m.csv
  local -a c b
  sha=$(sha256sum <"$DOCROOT/files/m.bin" | cut -d' ' -f1)
  m_nginx 1 127.0.0.1 "$M_FAST"
  m_nginx 2 127.0.0.2 "$M_FAST"
  m_nginx 3 127.0.0.3 "$M_SLOW"
  {
    echo "m: servers ${M_URL[1]} ($M_FAST B/s), ${M_URL[2]} ($M_FAST B/s), ${M_URL[3]} ($M_SLOW B/s) per connection"
    for n in 1 2 3; do
      echo "m: curl, one connection to server $n, 2 MiB range: $(rate_of "${M_URL[$n]}/files/m.bin" 0-2097151)"
    done
  } | tee -a "$VERIFY" >&2
  [ -x "$PF_BIN" ] && tools+=(pf-mirrors pf-fast)
  command -v aria2c >/dev/null && tools+=(aria2c-mirrors)
  echo "tool,run,wall_s,cpu_s,rss_kb,ok,conns1,conns2,conns3,bytes1,bytes2,bytes3,note" >"$csv"
  mkdir -p "$WORK/out"
  export HOME="$WORK/home" XDG_CONFIG_HOME="$WORK/home/.config" PARFETCH_SYSCONFDIR="$WORK/home/sysconf"
  export no_proxy='*' NO_PROXY='*'
  unset PARFETCH_CONFIG http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
  for ((round = 1; round <= RUNS; round++)); do
    for ((k = 0; k < ${#tools[@]}; k++)); do
      tool=${tools[((k + round - 1) % ${#tools[@]})]}
      url="/files/m.bin?m=$round.$tool"
      out=$WORK/out/m.bin
      rm -f -- "$out" "$out.aria2"
      case $tool in
        pf-mirrors) # the slow server named first: the probe goes there
          CMD=("$PF_BIN" -q -n "$M_STREAMS" --mirror "${M_URL[1]}$url" --mirror "${M_URL[2]}$url"
               -o "$out" "${M_URL[3]}$url") ;;
        pf-fast) CMD=("$PF_BIN" -q -n "$M_STREAMS" -o "$out" "${M_URL[1]}$url") ;;
        aria2c-mirrors)
          CMD=(aria2c --no-conf -x "$M_STREAMS" -s "$M_STREAMS" -k1M --file-allocation=none -q
               --allow-overwrite=true -d "$WORK/out" -o m.bin
               "${M_URL[3]}$url" "${M_URL[1]}$url" "${M_URL[2]}$url") ;;
      esac
      timed_run "$M_TIMEOUT" "$WORK/time.m" "$WORK/tool.m.log" "${CMD[@]}"
      ok=0 note=
      if [ "$rc" -ne 0 ]; then
        note="exit $rc: $(tail -n 2 "$WORK/tool.m.log" | tr '\n,"' '   ' | cut -c1-100)"
      elif [ ! -f "$out" ] || [ "$(sha256sum <"$out" | cut -d' ' -f1)" != "$sha" ]; then
        note="missing or sha256 mismatch"
      else
        ok=1
      fi
      rm -f -- "$out" "$out.aria2"
      sleep 0.5 # nginx logs a request when it is finished
      c=() b=()
      for n in 1 2 3; do
        c+=("$(awk -F '\t' -v u="$url" '$3 == u { print $2 }' "$WORK/m$n/access.log" | sort -u | wc -l)")
        b+=("$(awk -F '\t' -v u="$url" '$3 == u { s += $5 } END { print s + 0 }' "$WORK/m$n/access.log")")
      done
      printf '%s,%d,%s,%s,%s,%d,%s,%s,%s,%s,%s,%s,"%s"\n' "$tool" "$round" "$wall" "$cpu" "${rss:-0}" \
        "$ok" "${c[0]}" "${c[1]}" "${c[2]}" "${b[0]}" "${b[1]}" "${b[2]}" "$note" >>"$csv"
      log "  m r$round $tool: ${wall}s cpu ${cpu}s conns ${c[*]} bytes ${b[*]}${note:+ FAILED ($note)}"
    done
  done
  m_stop
  {
    echo "| tool | runs ok | wall s | CPU s | connections to fast #1 / fast #2 / slow | MiB from fast #1 / fast #2 / slow |"
    echo "| --- | --- | --- | --- | --- | --- |"
    for tool in "${tools[@]}"; do
      printf '| %s | %s/%s | %s | %s | %s / %s / %s | %s / %s / %s |\n' "$tool" \
        "$(awk -F, -v t="$tool" 'NR > 1 && $1 == t && $6 == 1' "$csv" | wc -l)" \
        "$(awk -F, -v t="$tool" 'NR > 1 && $1 == t' "$csv" | wc -l)" \
        "$(m_col "$csv" "$tool" 3)" "$(m_col "$csv" "$tool" 4)" \
        "$(m_col "$csv" "$tool" 7)" "$(m_col "$csv" "$tool" 8)" "$(m_col "$csv" "$tool" 9)" \
        "$(m_col "$csv" "$tool" 10 1048576)" "$(m_col "$csv" "$tool" 11 1048576)" \
        "$(m_col "$csv" "$tool" 12 1048576)"
    done
    echo
    echo "Medians over the good runs. Connections: distinct \$connection values in each server's log for the run."
  } >"$OUT_DIR/m.md"
  cat "$OUT_DIR/m.md" >&2
}

# ======================================================================= main
T_START=$(date +%s)
for s in $SCENARIOS; do
  "scenario_$s"
done
log "all scenarios done in $(($(date +%s) - T_START)) s"
cp "$VERIFY" "$OUT_DIR/verify.txt" 2>/dev/null || true
"$PY" "$BENCH_DIR/report.py" --csv "$CSV" --meta "$META" --verify "$VERIFY" --env "$OUT_DIR/env.txt" \
  --plot "$PLOT" --md "$OUT_DIR/report.md" || log "report.py failed"
log "results: $OUT_DIR (results.csv, report.md, verify.txt, env.txt, $(basename "$PLOT"))"
