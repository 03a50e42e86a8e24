#!/bin/sh
# make bench: memdup's scan figures, then memmerge's session figures (root).
set -e
BUILD=${1:-build}
python3 "$(dirname "$0")/run.py" "$BUILD"
echo
if [ "$(id -u)" = 0 ] && [ -e /sys/kernel/mm/ksm/run ]; then
	python3 "$(dirname "$0")/merge.py" "$BUILD"
	echo
	python3 "$(dirname "$0")/split.py" "$BUILD"
else
	echo "# memmerge and memsplit benchmarks skipped: need root and KSM"
fi
if [ "$(id -u)" = 0 ] && command -v qemu-system-x86_64 >/dev/null; then
	echo
	echo "# kmod against procfs, in the QEMU guest"
	"$(dirname "$0")/guest.sh" "$BUILD"
fi
