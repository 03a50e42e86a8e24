#!/bin/bash
# Module tests in a QEMU guest: build mergemem.ko against the headers of the
# installed Debian kernel image, pack it with a static test program into a
# busybox initramfs, boot that kernel under TCG, and read the serial log.
# qemu's exit code says nothing about the guest: the verdict is the log.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
# Which kernel: bookworm (Debian 12's 6.1, installed on this machine) or
# trixie (Debian 13's 6.12, from scripts/trixie-chroot.sh, built with gcc-14).
target=${1:-bookworm}
work=$(mktemp -d /tmp/mm-guest.XXXXXX)
trap 'rm -rf "$work"' EXIT
case $target in
bookworm)
	vmlinuz=$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -1)
	[ -n "$vmlinuz" ] || { echo "guest: no /boot/vmlinuz-* (sh scripts/install-deps.sh guest)"; exit 1; }
	kver=${vmlinuz#/boot/vmlinuz-}
	# The headers' ABI must be the booted image's: take both from the same package version.
	kdir=/lib/modules/$kver/build
	[ -d "$kdir" ] || { echo "guest: no headers for $kver in $kdir (linux-headers-amd64)"; exit 1; }
	cp -r kmod "$work/kmod"
	make -s -C "$work/kmod" KDIR="$kdir" >"$work/kbuild.log" 2>&1 || { cat "$work/kbuild.log"; exit 1; }
	;;
trixie)
	troot=${TRIXIE_ROOT:-/var/cache/mergemem/trixie}
	vmlinuz=$(ls "$troot"/boot/vmlinuz-* 2>/dev/null | sort -V | tail -1)
	[ -n "$vmlinuz" ] || { echo "guest: no trixie chroot at $troot (scripts/trixie-chroot.sh)"; exit 1; }
	kver=${vmlinuz##*/vmlinuz-}
	rm -rf "$troot/build" && mkdir -p "$troot/build" && cp -r kmod "$troot/build/kmod"
	chroot "$troot" make -s -C /build/kmod CC=gcc-14 KDIR="/usr/src/linux-headers-$kver" >"$work/kbuild.log" 2>&1 ||
		{ cat "$work/kbuild.log"; exit 1; }
	mkdir -p "$work/kmod" && cp "$troot/build/kmod/mergemem.ko" "$work/kmod/"
	rm -rf "$troot/build"
	;;
*) echo "guest: unknown target '$target' (bookworm, trixie)"; exit 2 ;;
esac
if grep -E "warning:|error:" "$work/kbuild.log"; then echo "guest: module build warnings"; exit 1; fi
# Designated initialisers override the defaults of ADV()/PI() on purpose.
gcc -static -O2 -Wall -Wextra -Werror -Wno-override-init -o "$work/guest-test" tests/guest/guest-test.c
gcc -static -O2 -Wall -Wextra -Werror -o "$work/tracer" tests/guest/tracer.c

init=$work/initramfs
mkdir -p "$init"/{bin,sbin,proc,sys,dev,tmp}
cp /bin/busybox "$init/bin/busybox"
for app in sh mount ls echo uname insmod rmmod poweroff chmod cat mkdir sleep kill grep diff cut tr md5sum; do
	ln -s busybox "$init/bin/$app"
done
cp "$work/kmod/mergemem.ko" "$work/guest-test" "$work/tracer" "$init/"
cp tests/guest/init.sh "$init/init"
cp tests/guest/cli.sh "$init/cli.sh"
# The tools with the shared libraries they need.
BUILD=${BUILD:-build}
for bin in "$BUILD/tools/memmerge" "$BUILD/tools/memdup" "$BUILD/tools/memsplit" "$BUILD/tests/victim"; do
	[ -x "$bin" ] || { echo "guest: $bin missing (make build first)"; exit 1; }
	cp "$bin" "$init/"
	for lib in $(ldd "$bin" | grep -oE '/[^ ]+'); do
		mkdir -p "$init$(dirname "$lib")"
		cp -n "$lib" "$init$lib"
	done
done
chmod +x "$init/init"
(cd "$init" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initrd.gz"

log=$work/serial.log
# TCG: the nested KVM here cannot boot a stock guest.  mem-merge=off keeps
# guest RAM out of the host's KSM counters while host tests drive ksmd.
timeout 300 qemu-system-x86_64 -accel tcg -m 1G -smp 1 -nographic -no-reboot \
	-machine mem-merge=off -kernel "$vmlinuz" -initrd "$work/initrd.gz" \
	-append "console=ttyS0 panic=-1 oops=panic quiet" > "$log" 2>&1 || true
sed -n '/GUEST/p' "$log"
if grep -qE "BUG:|WARNING:|Oops|KASAN|UBSAN|Call Trace|Kernel panic" "$log"; then
	echo "guest: the kernel reported a problem:"; grep -E -A20 "BUG:|WARNING:|Oops|KASAN|UBSAN|Call Trace|Kernel panic" "$log" | head -60
	exit 1
fi
grep -q "GUEST PASS" "$log" && grep -q "GUEST CLI PASS" "$log" && grep -q "GUEST RELOADED" "$log" &&
	grep -q "GUEST DONE" "$log" || {
	echo "guest: no PASS (see log above)"; tail -30 "$log"; exit 1; }
n=$(grep -o 'GUEST PASS [0-9]*' "$log" | head -1 | awk '{print $3}')
c=$(grep -c 'GUEST CLI ok' "$log")
echo "guest tests ran on $kver ($target)"
echo "guest: $((n + c)) passed, 0 failed"
