#!/bin/bash
# make demo: start several instances of a program that builds the same
# table at start-up (the fixture victim), then let memdup find the sharing.
set -euo pipefail
BUILD=${1:-build}
N=${N:-4}
dir=$(mktemp -d /tmp/mm-demo.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM
for i in $(seq "$N"); do
	# 64 MiB identical table, 4 MiB of its own data, 1 MiB of zeros.
	"$BUILD/tests/victim" --table 16384 --unique 1024 --zero 256 --intra 64 --ready "$dir/ready.$i" </dev/null &
	pids+=($!)
done
for i in $(seq "$N"); do
	while [ ! -e "$dir/ready.$i" ]; do sleep 0.05; done
done
echo "# $N instances of the fixture victim: $(IFS=,; echo "${pids[*]}")"
echo "# memdup ${pids[*]}"
"$BUILD/tools/memdup" "${pids[@]}"
echo
echo "# memdup --by mapping --top 3 (pids from stdin, as from pgrep)"
printf '%s\n' "${pids[@]}" | "$BUILD/tools/memdup" --by mapping --top 3
