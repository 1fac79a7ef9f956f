#!/usr/bin/env bash
# deps.sh PURPOSE - make sure the Debian packages PURPOSE needs are installed.
# As root, missing packages are installed with apt-get; otherwise the exact
# install line is printed and the script fails.
#   PURPOSE: build | test | demo | bench | fuzz
# Every tool the tests use beyond these comes with a minimal Debian 12
# (debootstrap --variant=minbase; scripts/fresh-debian.sh proves it): bash,
# coreutils, mawk, sed, grep, diffutils (cmp), util-linux (mount), perl-base
# (IO::Socket::INET). No test needs python3.
set -euo pipefail

# libjansson-dev: the CLI's --json (host-shim/report.c) and t_json.sh's checker
build=(gcc make pkg-config libc6-dev libcurl4-openssl-dev libyaml-dev libssl-dev libjansson-dev)
case "${1:-build}" in
  build) want=("${build[@]}") ;;
  # apt-utils (apt-ftparchive) and dpkg-dev (dpkg-scanpackages): the repository of t_apt.sh
  # groff-base (groff): t_man.sh renders the man pages with groff -ww (Priority: standard,
  # not in a minbase root); time (GNU time): t_stream.sh measures peak RSS
  test)  want=("${build[@]}" libcunit1-dev nginx-light openssl libmicrohttpd-dev curl strace
               apt-utils dpkg-dev groff-base time) ;;
  demo)  want=("${build[@]}" nginx-light openssl) ;;
  bench) want=("${build[@]}" nginx-light openssl libmicrohttpd-dev curl aria2 axel wget2 rclone
               iproute2 python3-matplotlib) ;;
  # clang, and the libFuzzer runtime (libclang_rt.fuzzer), which clang only recommends
  fuzz)  want=("${build[@]}" clang libclang-rt-14-dev) ;;
  *) echo "deps.sh: unknown purpose '$1' (build, test, demo, bench or fuzz)" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
  [[ "$st" == ii* ]] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "parfetch needs these Debian packages: ${missing[*]}" >&2
  echo "install them with:  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; then
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
# Debian starts the system nginx on install; our tests run their own.
if [[ " ${missing[*]} " == *" nginx-light "* ]] && command -v service >/dev/null; then
  service nginx stop >/dev/null 2>&1 || true
fi
