# shellcheck shell=bash
# tests/fault/fault.sh - start and stop build/fault_server from the integration tests.
#
# Source it after tests/integration/lib.sh (it uses pf_init, pf_at_exit, PF_TMP, PF_BUILD):
#
#   pf_fault_start VAR ARGS...   start $PF_BUILD/fault_server ARGS... --port 0 --log FILE in the
#                                background; waits (<= 5 s) for its "port N" line, then sets
#                                  VAR_PORT  the port            VAR_URL  http://127.0.0.1:PORT
#                                  VAR_PID   the process        VAR_LOG  its --log file
#                                  VAR_ERR   its stderr
#                                and registers pf_fault_stop VAR with pf_at_exit. Several
#                                servers may run at once under different VARs; starting one
#                                under a VAR in use stops the old one first.
#   pf_fault_stop VAR            SIGTERM, wait <= 5 s (then SIGKILL); returns the exit status
#   pf_fault_stat VAR KEY        a counter from GET /__stats (requests, completed, active,
#                                bytes_sent, object_bytes, version, port)
#   pf_fault_wait VAR N          wait (<= 5 s) until N object requests have completed, so the
#                                log holds their lines and the counters include them
#   pf_fault_field LINE KEY      the value of KEY=... in a log line
#
# Options and faults: $PF_BUILD/fault_server --help.

pf_fault_start() {
  local var=$1 dir out pid port
  shift
  pf_init || return 1
  pf_fault_stop "$var" # a server already running under this name
  dir=$(mktemp -d "$PF_TMP/fault.XXXXXX") || return 1
  out="$dir/stdout"
  "$PF_BUILD/fault_server" --port 0 --log "$dir/requests.log" "$@" >"$out" 2>"$dir/stderr" \
    </dev/null &
  pid=$!
  pf_at_exit "pf_fault_stop $var >/dev/null 2>&1"
  printf -v "${var}_PID" '%s' "$pid"
  printf -v "${var}_LOG" '%s' "$dir/requests.log"
  printf -v "${var}_ERR" '%s' "$dir/stderr"
  for _ in $(seq 1 50); do
    port=$(sed -n '1s/^port \([0-9][0-9]*\)$/\1/p' "$out" 2>/dev/null)
    if [ -n "$port" ]; then
      printf -v "${var}_PORT" '%s' "$port"
      printf -v "${var}_URL" 'http://127.0.0.1:%s' "$port"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "fault.sh: fault_server did not start:" >&2
  cat "$dir/stderr" >&2
  return 1
}

pf_fault_stop() {
  local var=$1 pidvar="${1}_PID" pid rc
  pid=${!pidvar-}
  [ -n "$pid" ] || return 0
  printf -v "$pidvar" '%s' ""
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "fault.sh: $var ($pid) ignored SIGTERM for 5 s, killing it" >&2
    kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null
  rc=$?
  return "$rc"
}

pf_fault_stat() {
  local urlvar="${1}_URL"
  curl -sS --noproxy '*' --max-time 5 "${!urlvar}/__stats" | awk -v k="$2" '$1 == k { print $2 }'
}

pf_fault_wait() {
  local n
  for _ in $(seq 1 50); do
    n=$(pf_fault_stat "$1" completed)
    [ -n "$n" ] && [ "$n" -ge "$2" ] && return 0
    sleep 0.1
  done
  echo "fault.sh: $1 completed ${n:-?} requests, expected $2" >&2
  return 1
}

pf_fault_field() {
  printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}
