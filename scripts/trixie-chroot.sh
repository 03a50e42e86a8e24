#!/bin/sh
# A Debian 13 (trixie) chroot with gcc-14, the 6.12 kernel image and its
# headers: the module's second build and guest target.  Idempotent; about a
# minute the first time.  Needs root and debootstrap.
set -eu
ROOT=${TRIXIE_ROOT:-/var/cache/mergemem/trixie}
if [ -x "$ROOT/usr/bin/gcc-14" ] && ls "$ROOT"/boot/vmlinuz-* >/dev/null 2>&1 && ls -d "$ROOT"/usr/src/linux-headers-*-amd64 >/dev/null 2>&1; then
	exit 0
fi
command -v debootstrap >/dev/null || { echo "trixie-chroot: debootstrap missing (scripts/install-deps.sh guest)" >&2; exit 1; }
mkdir -p "$(dirname "$ROOT")"
rm -rf "$ROOT.tmp"
debootstrap --variant=minbase --include=gcc-14,make,linux-headers-amd64,linux-image-amd64,kmod \
	trixie "$ROOT.tmp" http://deb.debian.org/debian >"$ROOT.log" 2>&1 || {
	tail -20 "$ROOT.log" >&2; exit 1; }
rm -rf "$ROOT"
mv "$ROOT.tmp" "$ROOT"
