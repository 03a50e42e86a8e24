#!/usr/bin/env bats
# Resource bounds: thousands of processes against a small descriptor limit,
# a huge sparse address space, and a target that maps and unmaps memory
# while it is scanned.  Each ends in a correct or clearly partial report.

load helpers

MEMSPLIT="$BUILD/tools/memsplit"

setup() {
	setup_victims_ksm
}

teardown() {
	teardown_victims_ksm
}

# start_many N ARGS...: N victims at once; waits until all are ready.
start_many() {
	local n=$1 i
	shift
	for i in $(seq "$n"); do
		TMPDIR="$VDIR" "$VICTIM" --seed "$TAG" "$@" --ready "$VDIR/many.$i" </dev/null >/dev/null 2>&1 &
		VPIDS+=("$!")
	done
	for i in $(seq 3000); do
		[ "$(find "$VDIR" -maxdepth 1 -name 'many.*' | wc -l)" -ge "$n" ] && return 0
		sleep 0.02
	done
	echo "only $(find "$VDIR" -maxdepth 1 -name 'many.*' | wc -l) of $n victims became ready" >&2
	return 1
}

@test "2000 processes under a 256-descriptor limit: memdup reports every one exactly" {
	start_many 2000 --table 2 --unique 1
	# Hard limit too, so the tool cannot raise it: 2 fds per process would need 4000.
	run bash -c 'ulimit -n 256 && printf "%s\n" "$@" | "$0" --mapping mm-fixture --json' "$MEMDUP" "${VPIDS[@]}"
	[ "$status" -eq 0 ]
	s=$(jq -c .summary <<<"$output")
	echo "$s"
	[ "$(jq .processes <<<"$s")" = 2000 ]
	[ "$(jq .processes_failed <<<"$s")" = 0 ]
	[ "$(jq .anon_pages <<<"$s")" = 6000 ]
	# The two table pages are the same in all 2000: 4000 duplicates, 3998 to save.
	[ "$(jq .duplicate_pages <<<"$s")" = 4000 ]
	[ "$(jq .savings_pages <<<"$s")" = 3998 ]
	[ "$(jq .lost_pages <<<"$s")" = 0 ]
}

@test "2000 processes under a 256-descriptor limit: memmerge and memsplit complete" {
	[ "$(id -u)" = 0 ] || skip "merging needs root here"
	[ -e /sys/kernel/mm/ksm/run ] || skip "no KSM"
	start_many 2000 --table 2 --unique 1
	run bash -c 'ulimit -n 256 && printf "%s\n" "${@:2}" | "$0" --snapshot "$1/snap" --json' \
		"$MEMMERGE" "$VDIR" "${VPIDS[@]}"
	[ "$status" -eq 0 ]
	knobs_unchanged
	[ "$(jq .summary.processes <<<"$output")" = 2000 ]
	[ "$(jq .summary.refused <<<"$output")" = 0 ]
	# At least the table pages (2 x 2000, one frame kept) are merged.
	[ "$(jq '.summary.saved_pages >= 3998' <<<"$output")" = true ]
	run bash -c 'ulimit -n 256 && "$0" diff "$1" --json' "$MEMSPLIT" "$VDIR/snap"
	[ "$status" -eq 0 ]
	[ "$(jq .summary.processes <<<"$output")" = 2000 ]
	[ "$(jq .summary.processes_gone <<<"$output")" = 0 ]
	[ "$(jq .summary.broken_pages <<<"$output")" = 0 ]
}

@test "a 4 TiB sparse reservation is skipped quickly and counted exactly" {
	start_victim --table 64 --reserve 4096
	a=$VPID
	start_victim --table 64 --reserve 4096
	run "$MEMDUP" --mapping mm-fixture --json "$a" "$VPID"
	[ "$status" -eq 0 ]
	[ "$(jq .summary.anon_pages <<<"$output")" = 128 ]
	[ "$(jq .summary.savings_pages <<<"$output")" = 64 ]
	# The reservation is there, untouched.
	local big=0 lo hi
	while IFS='- ' read -r lo hi _; do
		[ $((16#$hi - 16#$lo)) -ge $((4096 << 30)) ] && big=$((big + 1))
	done <"/proc/$VPID/maps"
	[ "$big" = 1 ]
}

@test "a target that maps and unmaps without pause: every scan completes, fixture pages exact" {
	start_victim --table 256 --churn --status "$VDIR/s0"
	for i in $(seq 20); do
		run "$MEMDUP" --json "$VPID"
		[ "$status" -eq 0 ]
		# Pages unmapped under the scan are named, never miscounted as present.
		[ "$(jq '(.summary.lost_pages | type) == "number" and .summary.anon_pages >= 256' <<<"$output")" = true ]
		run "$MEMDUP" --mapping mm-fixture --json "$VPID"
		[ "$status" -eq 0 ]
		[ "$(jq .summary.anon_pages <<<"$output")" = 256 ]
		[ "$(jq .summary.lost_pages <<<"$output")" = 0 ]
	done
	kill -USR1 "$VPID"
	wait_line "$VDIR/s0" "verify ok 256"
}

@test "a churning target is merged and keeps its memory" {
	[ "$(id -u)" = 0 ] || skip "merging needs root here"
	[ -e /sys/kernel/mm/ksm/run ] || skip "no KSM"
	start_victim --table 1024 --churn --status "$VDIR/s0"
	start_victim --table 1024 --churn --status "$VDIR/s1"
	run "$MEMMERGE" --no-snapshot --json "${VPIDS[@]}"
	[ "$status" -eq 0 ]
	knobs_unchanged
	for p in "${VPIDS[@]}"; do
		[ "$(cat "/proc/$p/ksm_merging_pages")" -ge 1000 ]
	done
	kill -USR1 "${VPIDS[@]}"
	wait_line "$VDIR/s0" "verify ok 1024"
	wait_line "$VDIR/s1" "verify ok 1024"
}
