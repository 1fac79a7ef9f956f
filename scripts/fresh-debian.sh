#!/usr/bin/env bash
# scripts/fresh-debian.sh - prove the README's two commands on a fresh Debian 12:
# debootstrap a minbase bookworm root into a temp dir, copy in a clean clone of
# this repository's committed HEAD, and run `make demo` then `make test` in it
# as root (chroot). Prints both results; exits non-zero if either failed.
#
# Needs root and network access to a Debian mirror. The mirror, its suites and
# their keyrings are read at run time from this machine's own apt sources
# (/etc/apt/sources.list, /etc/apt/sources.list.d/*.list and deb822 *.sources);
# apt.conf.d snippets that set Acquire:: options (proxy, Check-Valid-Until) are
# copied in so apt works in the chroot as it does here. Installs debootstrap
# with apt-get when it is missing. Not part of `make test`: it takes a while.
#
# Before the two commands the chroot gets only `make` (a minbase root has no
# make to run them with) and a policy-rc.d that keeps package installs from
# starting daemons (the chroot shares this machine's network and /proc).
#
#   FRESH_DIR=DIR   debootstrap here instead of a new dir under /tmp (kept)
#   FRESH_KEEP=1    keep the root after the run (unmounted)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
say() { echo "fresh-debian: $*"; }
die() { say "$*" >&2; exit 2; }

[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap, mount and chroot need it)"
sha=$(git -C "$ROOT" rev-parse --verify HEAD) || die "$ROOT is not a git checkout"

# shellcheck source=scripts/debroot.sh
. "$ROOT/scripts/debroot.sh"

say "apt-get install make (the only thing the README's commands need beforehand)"
in_root 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends make >/dev/null' ||
  die "cannot install make in the root"
in_root 'command -v python3 >/dev/null && { echo "python3 is present: not a minbase root" >&2; exit 1; }; exit 0' ||
  die "the root is not minimal"

say "=== make demo"
in_root 'cd /root/parfetch && make demo'
demo_rc=$?
say "=== make test"
in_root 'cd /root/parfetch && make test'
test_rc=$?

secs=$(($(date +%s) - t0))
say "make demo: exit $demo_rc"
say "make test: exit $test_rc"
if [ "$demo_rc" -eq 0 ] && [ "$test_rc" -eq 0 ]; then
  say "PASS: both commands succeeded on a fresh Debian 12 minbase root at $sha (${secs}s)"
  exit 0
fi
say "FAIL at $sha (${secs}s)"
exit 1
