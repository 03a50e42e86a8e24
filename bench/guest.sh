#!/bin/sh
# memdup through mergemem.ko's PAGEINFO against the procfs backend, on the
# same process set, inside the QEMU guest (TCG: only the ratio means
# anything).  The guest alternates the two backends after a warm-up.
set -eu
BUILD=${1:-build}
cd "$(dirname "$0")/.."
for target in bookworm trixie; do
	[ "$target" = trixie ] && ./scripts/trixie-chroot.sh
	BUILD=$BUILD ./tests/guest/run.sh "$target" | awk -v t="$target" '
		/GUEST BENCH procfs/ { p[np++] = $4 }
		/GUEST BENCH kmod/   { k[nk++] = $4 }
		/guest tests ran on/ { kv = $5 }
		END {
			if (!np || !nk) { print t ": no bench lines"; exit 1 }
			# the second run of each is the warm one
			printf "%s (%s): memdup procfs %d ms, kmod %d ms, kmod/procfs time ratio %.2f\n",
			       t, kv, p[np-1], k[nk-1], k[nk-1] / p[np-1]
		}'
done
