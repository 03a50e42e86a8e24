#!/bin/sh
# Install the Debian packages mergemem needs to build, test and benchmark.
# Idempotent: only packages that are missing are installed.  Needs root
# (or prints the apt-get command to run when it is not root).
set -eu

BUILD="build-essential g++ cmake make pkg-config libcxxopts-dev libproc2-dev libxxhash-dev nlohmann-json3-dev"
TEST="googletest libgtest-dev bats jq procps python3 util-linux passwd groff-base man-db bash-completion zsh fish systemd"
# The module's guest tests: Debian's kernel and its headers, QEMU, busybox.
GUEST="linux-headers-amd64 linux-image-amd64 qemu-system-x86 busybox-static cpio kmod debootstrap"
# libFuzzer harnesses: clang-16 (clang-14's libFuzzer cannot build std::expected code).
FUZZ="clang-16 libclang-rt-16-dev"
# make deb, and the install test of the packages it builds.
DEB="dpkg-dev dkms"
[ $# -gt 0 ] || set -- build test

want=""
for group in "$@"; do
	case "$group" in
	build) want="$want $BUILD" ;;
	test) want="$want $TEST" ;;
	guest) want="$want $GUEST" ;;
	fuzz) want="$want $FUZZ" ;;
	deb) want="$want $DEB" ;;
	*) echo "install-deps: unknown group '$group' (use build, test, guest, fuzz, deb)" >&2; exit 2 ;;
	esac
done

missing=""
for p in $want; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		case " $missing " in *" $p "*) ;; *) missing="$missing $p" ;; esac
	fi
done

# promtool checks memdup's Prometheus output.  It ships in Debian's
# prometheus package, whose server we do not want installed (a service, a
# user): the package is unpacked into a cache directory instead.
PROMTOOL_DIR=/var/cache/mergemem/prometheus
promtool() {
	[ -x "$PROMTOOL_DIR/usr/bin/promtool" ] && return 0
	if [ "$(id -u)" != 0 ]; then
		echo "install-deps: promtool missing — run as root: $0 test" >&2
		return 1
	fi
	echo "install-deps: unpacking Debian's prometheus package for promtool into $PROMTOOL_DIR" >&2
	tmp=$(mktemp -d)
	(cd "$tmp" && apt-get download -qq prometheus >/dev/null 2>&1) || { apt-get update -qq && (cd "$tmp" && apt-get download -qq prometheus); }
	mkdir -p "$PROMTOOL_DIR"
	dpkg-deb -x "$tmp"/prometheus_*.deb "$PROMTOOL_DIR"
	rm -rf "$tmp"
}

if [ -z "$missing" ]; then
	case " $* " in *" test "*) promtool ;; esac
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing packages:$missing — run as root: apt-get install$missing" >&2
	exit 1
fi
echo "install-deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
case " $* " in *" test "*) promtool ;; esac
