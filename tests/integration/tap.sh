# tap.sh - the small counting harness of the self-contained test scripts
# (t_abi.sh, t_cli.sh: no web server, no lib.sh). Sourced.
#   ok NAME                  a check passed
#   not_ok NAME [DETAIL...]  a check failed; each DETAIL is printed as "#   DETAIL"
#   finish                   prints "<script>: N passed, N failed"; exits 0 only if none failed
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
