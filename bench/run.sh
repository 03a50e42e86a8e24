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
