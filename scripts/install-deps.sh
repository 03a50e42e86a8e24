#!/bin/sh
# Install the Debian packages mergemem needs to build, test and benchmark.
# Idempotent: only packages that are missing are installed.  Needs root
# (or prints the apt-get command to run when it is not root).
set -eu

BUILD="build-essential g++ cmake make pkg-config libcxxopts-dev libproc2-dev libxxhash-dev nlohmann-json3-dev"
TEST="googletest libgtest-dev bats jq procps python3 util-linux passwd groff-base man-db bash-completion"
# The module's guest tests: Debian's kernel and its headers, QEMU, busybox.
GUEST="linux-headers-amd64 linux-image-amd64 qemu-system-x86 busybox-static cpio kmod debootstrap"
# libFuzzer harnesses: clang-16 (clang-14's libFuzzer cannot build std::expected code).
FUZZ="clang-16 libclang-rt-16-dev"
[ $# -gt 0 ] || set -- build test

want=""
for group in "$@"; do
	case "$group" in
	build) want="$want $BUILD" ;;
	test) want="$want $TEST" ;;
	guest) want="$want $GUEST" ;;
	fuzz) want="$want $FUZZ" ;;
	*) echo "install-deps: unknown group '$group' (use build, test, guest, fuzz)" >&2; exit 2 ;;
	esac
done

missing=""
for p in $want; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		case " $missing " in *" $p "*) ;; *) missing="$missing $p" ;; esac
	fi
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing packages:$missing — run as root: apt-get install$missing" >&2
	exit 1
fi
echo "install-deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
