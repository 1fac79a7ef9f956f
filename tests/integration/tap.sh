# tap.sh - the small counting harness of the self-contained test scripts
# (t_abi.sh, t_cli.sh: no web server, no lib.sh). Sourced.
#   ok NAME                  a check passed
#   not_ok NAME [DETAIL...]  a check failed; each DETAIL is printed as "#   DETAIL"
#   finish                   prints "<script>: N passed, N failed"; exits 0 only if none failed
#   run CMD...               runs CMD (60 s limit) in $RUN_DIR (default: here) with $T/stdout and
#                            $T/stderr; sets RC, OUT, ERR
#   expect NAME RC SUB...    the last run exited RC and its stderr holds every SUB
#   closed_port              a loopback port nothing listens on
# The sourcing script sets T (its temp dir) first.
PASS=0
FAIL=0
ok() {
  echo "ok - $1"
  PASS=$((PASS + 1))
}
not_ok() { # NAME [DETAIL...]
  echo "not ok - $1"
  shift
  local line
  for line in "$@"; do echo "#   $line"; done
  FAIL=$((FAIL + 1))
}
finish() {
  echo "$(basename "$0"): $PASS passed, $FAIL failed"
  [ "$FAIL" -eq 0 ]
  exit
}

# run CMD... - run with a time limit in $RUN_DIR; sets RC, OUT, ERR (file contents).
run() {
  (cd "${RUN_DIR:-.}" && timeout -k 5 60 "$@") >"$T/stdout" 2>"$T/stderr"
  RC=$?
  OUT=$(cat "$T/stdout")
  ERR=$(cat "$T/stderr")
}

# expect NAME RC SUBSTRING... - the last run exited RC and stderr holds every
# SUBSTRING (fixed strings; one starting with ~ is an extended regex).
expect() {
  local name=$1 want=$2 s
  shift 2
  if [ "$RC" -ne "$want" ]; then
    not_ok "$name" "exit $RC, expected $want" "stderr: $ERR"
    return 1
  fi
  for s in "$@"; do
    if [[ $s == "~"* ]]; then
      grep -qE -- "${s#\~}" "$T/stderr" && continue
    else
      grep -qF -- "$s" "$T/stderr" && continue
    fi
    not_ok "$name" "stderr lacks '$s'" "stderr: $ERR"
    return 1
  done
  ok "$name"
}

# closed_port - a loopback port nothing listens on: 9 (discard, normally
# closed) unless something answers there, else one the kernel just freed.
closed_port() {
  local p=9
  if (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then
    p=$(perl -MIO::Socket::INET -e '
      my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 1) or die;
      print $s->sockport' 2>/dev/null)
  fi
  echo "${p:-9}"
}
