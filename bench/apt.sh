#!/usr/bin/env bash
# bench/apt.sh - issue 10: apt's own http method against parfetch's apt method, side by side.
#
#   bash bench/apt.sh [j] [k]                   (make bench-apt runs both)
#   RUNS=3 OUT_DIR=/tmp/x bash bench/apt.sh j
#
# One run of this script builds one flat repository of generated packages (apt_lib.sh's
# apt__mkdeb and apt_repo_index: random bytes, dpkg-deb -Znone, so nothing compresses), serves
# it with one nginx on 127.0.0.1 (apt_lib.sh's apt_nginx_start) and runs the real apt-get with
# an isolated APT_CONFIG (apt_lib.sh's apt_case and apt_get) for both methods, alternating
# (the order swaps every round), RUNS rounds:
#   own       APT_OWN  (default /usr/lib/apt/methods/http)
#   parfetch  APT_PF   (default $BUILD/apt/parfetch, copied with its plugin into the scratch
#                      dir first, so a rebuild during the run changes nothing)
# Both get `-o Dir::Bin::Methods::http=METHOD` (the same option for both, so only the method
# differs). Each method has its own apt tree per scenario, updated once before the timed runs
# (untimed; lists and pkgcache.bin are kept); every timed run starts with an empty archives/.
#
# Scenarios:
#   j  J_COUNT (30) small packages, 4 KiB to J_MAX (1 MiB), sizes log-uniform (fixed):
#      `apt-get install -y --download-only` of all of them. Target: parfetch's wall <= 1.0 x
#      own's, its TCP connections <= the per-host budget (8).
#   k  one package of K_SIZE (200 MiB) of random bytes, every server connection paced at CAP
#      (8 MiB/s) with SO_MAX_PACING_RATE (bench/pacing_shim.c preloaded into nginx, MSS 1448:
#      the setup of bench/run.sh's scenario b). Target: parfetch's wall <= 0.3 x own's. The
#      package is built once and kept in BENCH_CACHE (a new K_SIZE or a change in apt_lib.sh's
#      apt__mkdeb / lib.sh's pf_mkfile makes a new one).
# After j: one `install --download-only` of two small packages through parfetch's method with
# -o Debug::pkgAcquire::Worker=1 (every message between apt and the method), saved as
# OUT_DIR/worker-transcript.txt.
#
# Every run: wall time (bash's EPOCHREALTIME around apt-get); CPU = user + sys of apt-get and
# every process it waited for (its methods: apt waits for each method when it stops it), read
# from bash's `times` in the subshell that runs apt-get (getrusage(RUSAGE_CHILDREN), what
# GNU time reports too); every .deb compared with the repository's (cmp: a run with a wrong or
# missing file is a failed run, kept in the CSV, left out of the medians); from nginx's access
# log: requests, ranged requests and TCP connections (distinct $connection values) of the run.
#
# Options (environment): RUNS (5), J_COUNT (30), J_MAX (1048576), K_SIZE (209715200),
# CAP (8388608 B/s), APT_OWN, APT_PF, BUILD (build), BENCH_CACHE (/var/tmp/parfetch-bench-apt),
# OUT_DIR (bench/results/apt-DATE-TIME; results.csv, report.md, env.txt, access.log,
# worker-transcript.txt), APT_BENCH_DEBUG=1 (every timed run with Debug::pkgAcquire::Worker=1,
# its output kept in OUT_DIR/logs/: for investigating, its timings are not comparable),
# APT_MORE="NAME=PATH ..." (more methods in the same rotation, e.g. a variant of parfetch's that
# tests a fix; run as given, not copied),
# TMPDIR (the scratch dir's parent: the apt trees and archives/ are there; default /tmp).
# Network: 127.0.0.1 only. Needs nginx, apt-get, dpkg-deb, dpkg-scanpackages, apt-ftparchive,
# openssl, curl, cc (bash scripts/deps.sh test). Root is not needed; as root the methods run
# as _apt, as in real use.
set -uo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
BENCH_DIR=$(dirname "$SELF")
ROOT=$(dirname "$BENCH_DIR")
# shellcheck source=tests/integration/lib.sh
. "$ROOT/tests/integration/lib.sh"
# shellcheck source=tests/integration/apt_lib.sh
. "$ROOT/tests/integration/apt_lib.sh"

log() { printf '[bench-apt %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

SCENARIOS=
for a in "$@"; do
  case $a in
    j | k) SCENARIOS="$SCENARIOS $a" ;;
    -h | --help) sed -n '2,/^set -uo/p' "$SELF" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$a' (scenarios: j k)" ;;
  esac
done
SCENARIOS=${SCENARIOS:-" j k"}
RUNS=${RUNS:-5}
J_COUNT=${J_COUNT:-30}
J_MAX=${J_MAX:-1048576}
K_SIZE=${K_SIZE:-209715200}
CAP=${CAP:-8388608}
APT_OWN=${APT_OWN:-/usr/lib/apt/methods/http}
APT_PF=${APT_PF:-$PF_BUILD/apt/parfetch}
BENCH_CACHE=${BENCH_CACHE:-/var/tmp/parfetch-bench-apt}
APT_BENCH_DEBUG=${APT_BENCH_DEBUG:-0}
for v in RUNS J_COUNT J_MAX K_SIZE CAP; do
  [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -gt 0 ] || die "$v must be a positive integer (got '${!v}')"
done
[ "$RUNS" -le 50 ] && [ "$J_COUNT" -ge 2 ] && [ "$J_COUNT" -le 500 ] && [ "$J_MAX" -ge 4096 ] ||
  die "RUNS is at most 50, J_COUNT 2 to 500, J_MAX at least 4096"
[ -x /usr/sbin/nginx ] && PATH="$PATH:/usr/sbin"
for c in nginx apt-get dpkg-deb dpkg-scanpackages apt-ftparchive openssl curl cc cmp; do
  command -v "$c" >/dev/null || die "'$c' is missing (bash scripts/deps.sh test)"
done
[ -x "$APT_OWN" ] || die "apt's own method $APT_OWN is missing"
[ -x "$APT_PF" ] || die "parfetch's method $APT_PF is missing (make)"

STAMP=$(date +%Y%m%d-%H%M%S)
OUT_DIR=${OUT_DIR:-$BENCH_DIR/results/apt-$STAMP}
mkdir -p "$OUT_DIR" "$BENCH_CACHE" || die "cannot make $OUT_DIR or $BENCH_CACHE"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
CSV=$OUT_DIR/results.csv
REPORT=$OUT_DIR/report.md

pf_init || die "pf_init failed"
pf_isolate_config
export PARFETCH_SYSCONFDIR="$PF_TMP/cfg/sysconf-empty" # no /etc/parfetch either
export no_proxy='*' NO_PROXY='*'
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
# As root, apt runs the methods as _apt: let it through the scratch dir (apt_case makes each
# apt tree world-readable), as t_apt.sh does.
[ "$(id -u)" -eq 0 ] && chmod 0711 "$PF_TMP"

# The method under test, with its plugin next to it (where it looks first after its config).
mkdir -p "$PF_TMP/pf"
cp -p "$APT_PF" "$PF_TMP/pf/parfetch" || die "copying $APT_PF failed"
cp -pL "$(dirname "$APT_PF")/parfetch.so" "$PF_TMP/pf/parfetch.so" ||
  die "no parfetch.so next to $APT_PF"
chmod -R go+rX "$PF_TMP/pf"
declare -A METHOD=([own]=$APT_OWN [parfetch]=$PF_TMP/pf/parfetch)
METHODS=(own parfetch)
# APT_MORE="NAME=PATH ...": more methods in the rotation (a variant of parfetch's, to measure a fix)
for a in ${APT_MORE:-}; do
  [[ $a =~ ^([a-z][a-z0-9-]*)=(/.+)$ ]] && [ -x "${BASH_REMATCH[2]}" ] ||
    die "APT_MORE: '$a' is not NAME=/absolute/path/of/an/executable"
  [ -z "${METHOD[${BASH_REMATCH[1]}]:-}" ] || die "APT_MORE: ${BASH_REMATCH[1]} is taken"
  METHOD[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
  METHODS+=("${BASH_REMATCH[1]}")
done

# ======================================================================= environment
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "parfetch commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(
    [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null | head -1)" ] && echo ' (+ uncommitted changes in the tree)')"
  echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(awk '/MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo)"
  echo "kernel: $(uname -sr); os: $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "apt: $(apt-get --version | head -1); nginx: $(nginx -v 2>&1)"
  echo "own method: $APT_OWN"
  echo "parfetch method: $APT_PF (sha256 $(sha256sum <"$APT_PF" | cut -c1-16)), plugin sha256 $(sha256sum <"$PF_TMP/pf/parfetch.so" | cut -c1-16)"
  for m in "${METHODS[@]:2}"; do echo "more: $m = ${METHOD[$m]}"; done
  echo "scenarios:$SCENARIOS; runs: $RUNS; j: $J_COUNT packages, 4096..$J_MAX bytes; k: $K_SIZE bytes at $CAP B/s per connection"
  echo "scratch: $PF_TMP ($(df -PT "$PF_TMP" | awk 'NR==2 { print $2 }')); running as uid $(id -u)"
} >"$OUT_DIR/env.txt"
cat "$OUT_DIR/env.txt" >&2

# ======================================================================= the repository
# pfb-s01..pfb-sNN (j) and pfb-large (k), all in one repository.
J_PKGS=()
repo_build() {
  local repo=$PF_TMP/repo work=$PF_TMP/debs i name size key cached
  APT_REPO=$repo
  mkdir -p "$repo" "$work" || return 1
  for ((i = 1; i <= J_COUNT; i++)); do
    name=$(printf 'pfb-s%02d' "$i")
    size=$(awk -v i="$i" -v n="$J_COUNT" -v m="$J_MAX" \
      'BEGIN { printf "%d", 4096 * exp(log(m / 4096) * (i - 1) / (n - 1)) }')
    apt__mkdeb "$work" "$repo" "$name" "$size" || return 1
    J_PKGS+=("$name")
  done
  case " $SCENARIOS " in *" k "*)
    key=$({ echo "$K_SIZE"; declare -f apt__mkdeb pf_mkfile; } | sha256sum | cut -c1-16)
    cached=$BENCH_CACHE/pfb-large_1.0_all.deb.$key
    if [ ! -s "$cached" ]; then
      log "building the $((K_SIZE / 1048576)) MiB package once, into $BENCH_CACHE"
      mkdir -p "$BENCH_CACHE/new.$$" &&
        apt__mkdeb "$work" "$BENCH_CACHE/new.$$" pfb-large "$K_SIZE" &&
        mv "$BENCH_CACHE/new.$$/pfb-large_1.0_all.deb" "$cached" || return 1
      rm -rf -- "$BENCH_CACHE/new.$$"
    else
      log "the $((K_SIZE / 1048576)) MiB package is cached: $cached"
    fi
    ln -f "$cached" "$(apt_deb pfb-large)" 2>/dev/null || cp "$cached" "$(apt_deb pfb-large)" || return 1
    ;;
  esac
  rm -rf -- "$work"
  apt_repo_index "$repo"
}
log "building the repository"
repo_build || die "building the repository failed"
log "repository: $(find "$APT_REPO" -name '*.deb' | wc -l) packages, $(du -sm "$APT_REPO" | cut -f1) MiB"

# ======================================================================= runs
echo "scenario,method,run,position,wall_s,cpu_s,user_s,sys_s,exit,ok,requests,ranged,conns,body_bytes,note" >"$CSV"
declare -A T_AC=() T_AD=() T_ARCH=()

# tree SCN METHOD - an apt tree for SCN and METHOD, updated once with METHOD (untimed)
tree() {
  local k="$1-$2"
  apt_case "$k" || return 1
  T_AC[$k]=$AC T_AD[$k]=$AD T_ARCH[$k]=$ARCH
  APT_M=${METHOD[$2]}
  apt_get update >"$AD/update.log" 2>&1 || { cat "$AD/update.log" >&2; return 1; }
}

# to_s "XmY.ZZZs" -> seconds
to_s() { awk -v t="$1" 'BEGIN { m = t; sub(/m.*/, "", m); s = t; sub(/^[0-9]*m/, "", s); sub(/s$/, "", s); printf "%.3f", m * 60 + s }'; }

# run_one SCN METHOD ROUND POSITION PKG... - one timed apt-get, one line of results.csv
run_one() {
  local scn=$1 m=$2 round=$3 pos=$4 k="$1-$2" t0 t1 rc wall user sys cpu ok=1 note='' p lines
  shift 4
  AC=${T_AC[$k]} AD=${T_AD[$k]} ARCH=${T_ARCH[$k]} APT_M=${METHOD[$m]}
  rm -rf -- "$ARCH"
  mkdir -p "$ARCH" && chmod go+rX "$ARCH"
  local -a dbg=()
  [ "$APT_BENCH_DEBUG" = 1 ] && dbg=(-o Debug::pkgAcquire::Worker=1)
  apt_mark
  t0=$EPOCHREALTIME
  (
    apt_get "${dbg[@]+"${dbg[@]}"}" install -y --download-only "$@" >"$AD/run.log" 2>&1
    rc=$?
    times >"$AD/times"
    exit "$rc"
  )
  rc=$?
  t1=$EPOCHREALTIME
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  read -r user sys < <(sed -n 2p "$AD/times")
  user=$(to_s "${user:-0m0s}") sys=$(to_s "${sys:-0m0s}")
  cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.3f", u + s }')
  if [ "$rc" -ne 0 ]; then
    ok=0 note="exit $rc: $(tail -n 2 "$AD/run.log" | tr '\n,"' '  ' | cut -c1-120)"
  else
    for p in "$@"; do
      cmp -s "$(apt_deb "$p")" "$ARCH/${p}_1.0_all.deb" || { ok=0 note="$p missing or different"; break; }
    done
  fi
  if [ "$APT_BENCH_DEBUG" = 1 ]; then
    mkdir -p "$OUT_DIR/logs"
    cp "$AD/run.log" "$OUT_DIR/logs/$scn.r$round.$m.log"
  fi
  lines=$(apt_log '')
  # requests, ranged requests, distinct connections, body bytes (APT_LOG: 4 Range, 6 $connection, 10 bytes)
  local stats
  stats=$(awk -F '\t' 'NF >= 10 { n++; if ($4 != "-") r++; c[$6] = 1; b += $10 }
    END { k = 0; for (x in c) k++; printf "%d,%d,%d,%d", n, r, k, b }' <<<"$lines")
  printf '%s,%s,%d,%d,%s,%s,%s,%s,%d,%d,%s,"%s"\n' "$scn" "$m" "$round" "$pos" "$wall" "$cpu" \
    "$user" "$sys" "$rc" "$ok" "$stats" "$note" >>"$CSV"
  if [ "$ok" = 1 ]; then
    log "  $scn r$round $m: ${wall}s cpu ${cpu}s; requests,ranged,connections,bytes: $stats"
  else
    log "  $scn r$round $m: FAILED ($note) after ${wall}s"
  fi
}

# rounds SCN PKG... - RUNS rounds of both methods, the order swapped every round
rounds() {
  local scn=$1 r i m
  shift
  for ((r = 1; r <= RUNS; r++)); do
    for ((i = 0; i < ${#METHODS[@]}; i++)); do
      m=${METHODS[((i + r - 1) % ${#METHODS[@]})]}
      run_one "$scn" "$m" "$r" $((i + 1)) "$@"
    done
  done
}

scenario_j() {
  log "=== scenario j: $J_COUNT packages of 4 KiB to $((J_MAX / 1024)) KiB, install --download-only, $RUNS rounds"
  apt_nginx_start || die "nginx did not start"
  local m
  for m in "${METHODS[@]}"; do tree j "$m" || die "apt-get update (j, $m) failed"; done
  APT_TIMEOUT=120 rounds j "${J_PKGS[@]}"
  # One exchange, every message shown: two small packages through parfetch's method.
  log "the Debug::pkgAcquire::Worker transcript of a small install through parfetch's method"
  tree transcript parfetch || die "apt-get update (transcript) failed"
  apt_get -o Debug::pkgAcquire::Worker=1 install -y --download-only "${J_PKGS[0]}" "${J_PKGS[1]}" \
    >"$OUT_DIR/worker-transcript.txt" 2>&1 || log "warning: the transcript's apt-get failed"
  pf_nginx_stop
}

scenario_k() {
  local tmo r
  tmo=$(awk -v s="$K_SIZE" -v c="$CAP" 'BEGIN { printf "%d", 1.5 * s / c + 30 }')
  log "=== scenario k: $((K_SIZE / 1048576)) MiB, every connection paced at $CAP B/s, $RUNS rounds, timeout ${tmo}s"
  cc -O2 -Wall -shared -fPIC -o "$PF_TMP/pacing_shim.so" "$BENCH_DIR/pacing_shim.c" -ldl ||
    die "building bench/pacing_shim.c failed"
  dd if=/dev/zero of="$PF_TMP/counter" bs=8 count=1 status=none
  # bench/run.sh's shim_env: the cap, no slow connection, an Ethernet MSS
  PF_NGINX_ENV=(LD_PRELOAD="$PF_TMP/pacing_shim.so" PFB_PACING_RATE="$CAP" PFB_SLOW_NTH=0
    PFB_SLOW_RATE=0 PFB_COUNTER_FILE="$PF_TMP/counter" PFB_MSS=1448 PFB_SHIM_LOG="$PF_TMP/shim.log")
  apt_nginx_start || die "nginx (paced) did not start"
  PF_NGINX_ENV=()
  r=$(curl -s --noproxy '*' -o /dev/null -r 0-16777215 -w '%{size_download} %{time_total}' \
    --max-time 60 "${APT_URL}pfb-large_1.0_all.deb" || true)
  echo "k: cap $CAP B/s per connection (SO_MAX_PACING_RATE, MSS 1448); curl, one connection, 16 MiB: $(
    awk -v w="$r" 'BEGIN { split(w, a, " "); printf "%d bytes in %.3f s = %.2f MiB/s", a[1], a[2], (a[2] > 0) ? a[1] / a[2] / 1048576 : 0 }')" |
    tee -a "$OUT_DIR/env.txt" >&2
  local m
  for m in "${METHODS[@]}"; do tree k "$m" || die "apt-get update (k, $m) failed"; done
  APT_TIMEOUT=$tmo rounds k pfb-large
  pf_nginx_stop
}

T_START=$(date +%s)
for s in $SCENARIOS; do "scenario_$s"; done
cp "$APT_LOG" "$OUT_DIR/access.log"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); scenarios took $(($(date +%s) - T_START)) s" >>"$OUT_DIR/env.txt"

# ======================================================================= report (awk)
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v p="$1" -v o="$2" 'BEGIN { if (o > 0 && p != "-") printf "%.2f", p / o; else print "-" }'; }
col() { # SCN METHOD FIELD - the FIELD of every correct run
  awk -F, -v s="$1" -v m="$2" -v f="$3" 'NR > 1 && $1 == s && $2 == m && $10 == 1 { print $f }' "$CSV"
}
{
  echo "# bench/apt.sh: apt's own method against parfetch's"
  echo
  sed 's/^/    /' "$OUT_DIR/env.txt"
  echo
  echo "Medians of the correct runs (n = correct / all); ratio = each method / own."
  for s in $SCENARIOS; do
    echo
    case $s in
      j) echo "### (j) $J_COUNT packages of 4 KiB to $((J_MAX / 1024)) KiB, install --download-only" ;;
      k) echo "### (k) one $((K_SIZE / 1048576)) MiB package, every connection paced at $(awk -v c="$CAP" 'BEGIN { printf "%g", c / 1048576 }') MiB/s" ;;
    esac
    echo
    echo "| method | n | wall s | CPU s (apt-get + methods) | TCP connections | requests | ranged |"
    echo "| --- | --- | --- | --- | --- | --- | --- |"
    declare -A W=() C=()
    for m in "${METHODS[@]}"; do
      n_ok=$(col "$s" "$m" 2 | wc -l)
      n_all=$(awk -F, -v s="$s" -v m="$m" 'NR > 1 && $1 == s && $2 == m' "$CSV" | wc -l)
      W[$m]=$(col "$s" "$m" 5 | median)
      C[$m]=$(col "$s" "$m" 6 | median)
      echo "| $m | $n_ok / $n_all | ${W[$m]} | ${C[$m]} | $(col "$s" "$m" 13 | median) | $(col "$s" "$m" 11 | median) | $(col "$s" "$m" 12 | median) |"
    done
    echo
    for m in "${METHODS[@]:1}"; do
      echo "ratio $m / own: wall $(ratio "${W[$m]}" "${W[own]}"), CPU $(ratio "${C[$m]}" "${C[own]}")  "
    done
    unset W C
  done
} >"$REPORT"
cat "$REPORT" >&2
log "results: $OUT_DIR (results.csv, report.md, env.txt, access.log, worker-transcript.txt)"
