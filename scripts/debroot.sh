# shellcheck shell=bash disable=SC2034,SC2154  # sourced: sha comes from the caller, t0 goes to it
# scripts/debroot.sh - sourced by scripts/fresh-debian.sh and
# scripts/package-test.sh: a fresh Debian 12 (bookworm) minbase root, mounted
# and with this repository's committed HEAD cloned into /root/parfetch.
#
# The caller defines say() and die(), sets ROOT (this repository) and sha (the
# commit to clone), and may set DEBROOT_NAME (the mktemp prefix, default
# "fresh-debian"). Sourcing it: reads the mirror, suites and keyrings from this
# machine's apt sources, installs debootstrap when missing, debootstraps DIR
# (a new dir under /tmp, or $FRESH_DIR, kept), copies in the apt.conf.d
# snippets that set Acquire:: options, a resolv.conf and a policy-rc.d that
# keeps package installs from starting daemons, mounts /proc, /sys, /dev,
# /dev/pts and /dev/shm, clones the repository, and sets an EXIT trap that
# unmounts everything and removes DIR (unless FRESH_KEEP=1). It defines
# in_root CMD: run a bash command line in the root as root, with a clean
# environment (the proxy variables kept).
#
#   FRESH_DIR=DIR   debootstrap here instead of a new dir under /tmp (kept)
#   FRESH_KEEP=1    keep the root after the run (unmounted)

# ---------------------------------------------------------------- apt sources
# Print "URI SUITE COMPONENTS SIGNED-BY" for every enabled `deb` entry of this
# machine's apt sources (one-line .list and deb822 .sources formats).
host_sources() {
  local f files=()
  [ -r /etc/apt/sources.list ] && files+=(/etc/apt/sources.list)
  for f in /etc/apt/sources.list.d/*.list; do [ -r "$f" ] && files+=("$f"); done
  for f in "${files[@]}"; do
    awk '
      { sub(/#.*/, "") }
      $1 == "deb" {
        sb = "-"; i = 2
        if ($2 ~ /^\[/) {                       # [ opt=val ... ]
          for (; i <= NF; i++) {
            if ($i ~ /^\[?signed-by=/) { sb = $i; sub(/^\[?signed-by=/, "", sb); sub(/\]$/, "", sb) }
            if ($i ~ /\]$/) { i++; break }
          }
        }
        uri = $i; suite = $(i + 1); comps = ""
        for (j = i + 2; j <= NF; j++) comps = comps (comps == "" ? "" : ",") $j
        print uri, suite, comps, sb
      }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    awk '
      function flush(   n, u, s, k, m) {
        if (types ~ /(^| )deb( |$)/ && enabled != "no") {
          n = split(uris, u, " "); m = split(suites, s, " ")
          for (k = 1; k <= n; k++) for (j = 1; j <= m; j++) print u[k], s[j], comps, sb
        }
        types = uris = suites = comps = ""; sb = "-"; enabled = ""
      }
      BEGIN { sb = "-" }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      {
        key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^ +/, "")
        if (key == "types") types = $0
        else if (key == "uris") uris = $0
        else if (key == "suites") suites = $0
        else if (key == "components") { comps = $0; gsub(/ +/, ",", comps) }
        else if (key == "signed-by") sb = $0
        else if (key == "enabled") enabled = tolower($0)
      }
      END { flush() }' "$f"
  done
}

entries=$(host_sources | awk '$2 ~ /^bookworm(-updates|-security)?$/ && $3 ~ /(^|,)main(,|$)/')
mirror=$(awk '$2 == "bookworm" { print $1; exit }' <<<"$entries")
[ -n "$mirror" ] || die "no enabled 'deb ... bookworm main' entry in this machine's apt sources"
say "mirror and suites: taken from this machine's apt sources ($(wc -l <<<"$entries") entries)"

if ! command -v debootstrap >/dev/null 2>&1; then
  say "installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; } ||
    die "cannot install debootstrap"
fi

# ---------------------------------------------------------------- the root
if [ -n "${FRESH_DIR:-}" ]; then
  DIR=$FRESH_DIR
  mkdir -p "$DIR" || die "cannot create $DIR"
  FRESH_KEEP=1
else
  DIR=$(mktemp -d "/tmp/${DEBROOT_NAME:-fresh-debian}.XXXXXX") || die "mktemp failed"
  chmod 0755 "$DIR" # the root directory of the root: mktemp made it 0700, and _apt,
                    # nginx's workers and every other non-root user must traverse it
fi
DIR=$(cd "$DIR" && pwd)

# Mount points below DIR, deepest first (from this process's mount table).
mounts_below() {
  awk -v d="$DIR" '{ gsub(/\\040/, " ", $2) } $2 == d || index($2, d "/") == 1 { print $2 }' \
    /proc/self/mounts | sort -r
}
cleanup() {
  local m left
  for m in $(mounts_below); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || say "cannot unmount $m"
  done
  left=$(mounts_below)
  if [ -n "$left" ]; then
    say "still mounted, not removing $DIR: $left"
  elif [ "${FRESH_KEEP:-0}" = 1 ]; then
    say "kept $DIR"
  else
    rm -rf --one-file-system -- "$DIR"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

t0=$(date +%s)
say "debootstrap --variant=minbase bookworm $DIR"
if [ ! -x "$DIR/usr/bin/apt-get" ]; then
  debootstrap --variant=minbase bookworm "$DIR" "$mirror" >"$DIR.debootstrap.log" 2>&1 || {
    tail -n 30 "$DIR.debootstrap.log" >&2
    die "debootstrap failed (log: $DIR.debootstrap.log)"
  }
  rm -f "$DIR.debootstrap.log"
fi

# apt inside the root: this machine's bookworm entries, keyrings and Acquire:: settings.
: >"$DIR/etc/apt/sources.list"
while read -r uri suite comps sb; do
  opt=""
  if [ "$sb" != "-" ]; then
    if [ ! -e "$DIR$sb" ] && [ -r "$sb" ]; then
      mkdir -p "$DIR$(dirname "$sb")" && cp -- "$sb" "$DIR$sb"
    fi
    opt="[signed-by=$sb] "
  fi
  echo "deb $opt$uri $suite ${comps//,/ }" >>"$DIR/etc/apt/sources.list"
done <<<"$entries"
for f in /etc/apt/apt.conf /etc/apt/apt.conf.d/*; do
  [ -f "$f" ] && grep -q 'Acquire::' "$f" && cp -- "$f" "$DIR/etc/apt/apt.conf.d/$(basename "$f")"
done
cp -L /etc/resolv.conf "$DIR/etc/resolv.conf" 2>/dev/null || true
printf '#!/bin/sh\nexit 101\n' >"$DIR/usr/sbin/policy-rc.d"
chmod 0755 "$DIR/usr/sbin/policy-rc.d"

mount -t proc proc "$DIR/proc" || die "cannot mount $DIR/proc"
mount --bind /sys "$DIR/sys" || die "cannot bind /sys"
mount --bind /dev "$DIR/dev" || die "cannot bind /dev"
mount --bind /dev/pts "$DIR/dev/pts" || die "cannot bind /dev/pts"
mount -t tmpfs -o mode=1777 tmpfs "$DIR/dev/shm" || die "cannot mount $DIR/dev/shm"

# A clean clone of the committed HEAD: nothing of the work tree's state.
rm -rf -- "$DIR/root/parfetch"
git clone -q --no-checkout "$ROOT" "$DIR/root/parfetch" &&
  git -C "$DIR/root/parfetch" checkout -q --detach "$sha" || die "cannot clone $ROOT at $sha"
say "repository: clean clone of $sha"

in_root() { # CMD - run CMD (a bash command line) in the root as root, with a clean environment
  local env=(HOME=/root TERM=dumb LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
  local v
  for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
    [ -n "${!v:-}" ] && env+=("$v=${!v}")
  done
  chroot "$DIR" /usr/bin/env -i "${env[@]}" /bin/bash -c "$1" </dev/null
}
