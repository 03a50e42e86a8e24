#!/usr/bin/env bats
# memmerge on real processes and the real KSM.  Every test checks that the
# KSM knobs end exactly as they started.

load helpers

setup() {
	[ -e /sys/kernel/mm/ksm/run ] || skip "no KSM in this kernel"
	[ "$(id -u)" = 0 ] || skip "needs root"
	setup_victims_ksm
	# Snapshots go to the test's own directory, never /var/lib/mergemem.
	printf '#!/bin/sh\nexec "%s" --snapshot "%s/last.snapshot" "$@"\n' "$BUILD/tools/memmerge" "$VDIR" > "$VDIR/memmerge"
	chmod 0755 "$VDIR/memmerge"
	MEMMERGE="$VDIR/memmerge"
}

teardown() {
	teardown_victims_ksm
}

merged_pages() { cat "/proc/$1/ksm_merging_pages"; }

@test "two instances: >= 99% of the table merged, frames shared, memory intact, knobs restored" {
	start_victim --table 8192 --unique 64 --status "$VDIR/s0"
	start_victim --table 8192 --unique 64 --status "$VDIR/s1"
	run "$MEMMERGE" --json "${VPIDS[@]}"
	[ "$status" -eq 0 ]
	knobs_unchanged
	[ "$(jq -r .schema <<<"$output")" = "mergemem.memmerge/1" ]
	[ "$(jq '.summary.processes' <<<"$output")" = "2" ]
	for p in "${VPIDS[@]}"; do
		[ "$(merged_pages "$p")" -ge $((8192 * 99 / 100)) ]
	done
	[ "$(jq '[.processes[].merging_pages_after] | min >= 8110' <<<"$output")" = "true" ]
	# PFNs: the table pages of the two now share frames.
	run "$MEMDUP" --mapping mm-fixture --json "${VPIDS[@]}"
	jq -c .summary <<<"$output"
	[ "$(jq '.summary.shared_pages >= 2 * 8110' <<<"$output")" = "true" ]
	[ "$(jq '.summary.savings_pages' <<<"$output")" = "0" ]
	kill -USR1 "${VPIDS[@]}"
	wait_line "$VDIR/s0" "verify ok 8256"
	wait_line "$VDIR/s1" "verify ok 8256"
}

@test "--mode madvise merges too" {
	start_victim --table 4096
	start_victim --table 4096
	run "$MEMMERGE" --mode madvise --json "${VPIDS[@]}"
	[ "$status" -eq 0 ]
	knobs_unchanged
	[ "$(jq -r .mode <<<"$output")" = "madvise" ]
	for p in "${VPIDS[@]}"; do [ "$(merged_pages "$p")" -ge 4055 ]; done
}

@test "targets in every wait state keep working; sleep and read complete correctly" {
	for st in pause nanosleep futex epoll spin threads; do
		start_victim --table 2048 --state $st --status "$VDIR/st.$st"
	done
	mkfifo "$VDIR/fifo"
	exec 5<>"$VDIR/fifo"
	TMPDIR="$VDIR" "$VICTIM" --seed "$TAG" --table 2048 --state read --status "$VDIR/st.read" \
		--ready "$VDIR/ready.read" <"$VDIR/fifo" >/dev/null 2>&1 &
	VPIDS+=($!)
	start_victim --table 2048 --sleep-once 3 --status "$VDIR/st.sleep"
	for i in $(seq 200); do [ -e "$VDIR/ready.read" ] && break; sleep 0.01; done
	sleep 0.2 # let read and the long nanosleep block
	run "$MEMMERGE" --json "${VPIDS[@]}"
	[ "$status" -eq 0 ]
	knobs_unchanged
	[ "$(jq '.summary.processes' <<<"$output")" = "8" ]
	echo x >&5
	wait_line "$VDIR/st.read" "^read x$"
	wait_line "$VDIR/st.sleep" "^slept 0 ok"
	# Neither cut short (EINTR) nor restarted from the start (~3 s + the merge).
	ms=$(awk '{print $4}' "$VDIR/st.sleep")
	[ "$ms" -ge 2990 ] && [ "$ms" -lt 3800 ]
	kill -USR1 "${VPIDS[@]}"
	for st in pause nanosleep futex epoll spin threads read sleep; do
		wait_line "$VDIR/st.$st" "verify ok 2048"
	done
	! grep -q error "$VDIR/st.epoll"
	for p in "${VPIDS[@]}"; do kill -0 "$p"; done
	exec 5>&-
}

@test "--unmerge warns with the estimate and unmerges" {
	start_victim --table 4096
	start_victim --table 4096
	run "$MEMMERGE" --json "${VPIDS[@]}"
	[ "$status" -eq 0 ]
	echo "$output" | jq -c .summary
	[ "$(merged_pages "${VPIDS[0]}")" -ge 4055 ]
	run "$MEMMERGE" --unmerge --json "${VPIDS[@]}"
	[ "$status" -eq 0 ]
	knobs_unchanged
	# 4096 table pages share frames, plus a few of libc's (exact from frames).
	[[ "$output" =~ "warning: unmerging gives every merged page its own frame again: about 16 MiB more memory for these processes ("(819[2-9]|82[0-9][0-9])" pages merged now)" ]]
	json=$(sed -n '/^{/,$p' <<<"$output")
	[ "$(jq -r .action <<<"$json")" = "unmerge" ]
	[ "$(jq -c '[.processes[].shared_pages_after]' <<<"$json")" = "[0,0]" ]
	# ksm_merging_pages lags until ksmd revisits the pages; the frames do not.
	run "$MEMDUP" --mapping mm-fixture --json "${VPIDS[@]}"
	[ "$(jq .summary.shared_pages <<<"$output")" = "0" ]
	[ "$(jq .summary.savings_pages <<<"$output")" = "4096" ]
}

@test "processes of different users are refused without --allow-cross-user" {
	start_victim --table 1024
	start_victim --as $NOBODY --table 1024
	run "$MEMMERGE" --json "${VPIDS[@]}"
	[ "$status" -eq 1 ]
	knobs_unchanged
	[[ "$output" == *"pid ${VPIDS[1]} (victim): owned by nobody, the set is root's — merging across users is a side channel; use --allow-cross-user"* ]]
	json=$(sed -n '/^{/,$p' <<<"$output")
	[ "$(jq -r '.refused[0].reason' <<<"$json")" = "cross-user" ]
	[ "$(merged_pages "${VPIDS[1]}")" = "0" ]
	run "$MEMMERGE" --allow-cross-user --json "${VPIDS[@]}"
	[ "$status" -eq 0 ]
	[ "$(merged_pages "${VPIDS[1]}")" -ge 1000 ]
}

@test "an unprivileged caller cannot touch another user's process" {
	start_victim --table 64
	# --unmerge needs no ksmd, so the refusal itself is what is tested.
	run setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups "$MEMMERGE" --unmerge "${VPIDS[0]}"
	[ "$status" -eq 1 ]
	[[ "$output" == *"pid ${VPIDS[0]} (victim): cannot ptrace it — run as its user, or as root (CAP_SYS_PTRACE)"* ]]
	[ "$(merged_pages "${VPIDS[0]}")" = "0" ]
	knobs_unchanged
}

@test "traced and seccomp-filtered targets are refused with the reason" {
	start_victim --table 64
	traced=$VPID
	start_victim --table 64 --seccomp
	sec=$VPID
	python3 -c '
import ctypes, sys, time
libc = ctypes.CDLL(None, use_errno=True)
if libc.ptrace(0x4206, int(sys.argv[1]), None, None) != 0: sys.exit(1)
print("seized", flush=True); time.sleep(30)' "$traced" > "$VDIR/tracer" &
	VPIDS+=($!)
	wait_line "$VDIR/tracer" seized
	run "$MEMMERGE" "$traced" "$sec"
	[ "$status" -eq 1 ]
	knobs_unchanged
	[[ "$output" == *"pid $traced (victim): already traced by pid "* ]]
	[[ "$output" == *"pid $sec (victim): has a seccomp filter"* ]]
}

@test "SIGTERM mid-session leaves every knob exactly as before" {
	for i in 1 2 3 4; do start_victim --table 32768; done
	"$MEMMERGE" --scan-rate 100 --timeout 60 -q "${VPIDS[@]}" > "$VDIR/out" 2>&1 &
	m=$!
	for i in $(seq 300); do [ "$(cat $KSM/run)" = 1 ] && break; sleep 0.01; done
	sleep 0.3
	kill -TERM $m
	wait $m || rc=$?
	[ "${rc:-0}" -eq 143 ]
	knobs_unchanged
	[ ! -e /run/mergemem/ksm.saved ]
}

@test "two concurrent sessions do not corrupt the saved settings" {
	start_victim --table 8192
	start_victim --table 8192
	start_victim --table 8192
	start_victim --table 8192
	"$MEMMERGE" -q "${VPIDS[0]}" "${VPIDS[1]}" > "$VDIR/a" 2>&1 &
	a=$!
	"$MEMMERGE" -q "${VPIDS[2]}" "${VPIDS[3]}" > "$VDIR/b" 2>&1 &
	b=$!
	wait $a
	wait $b
	knobs_unchanged
	cat "$VDIR/a" "$VDIR/b"
	for p in "${VPIDS[@]}"; do echo "$p $(merged_pages "$p")"; done
	for p in "${VPIDS[@]}"; do [ "$(merged_pages "$p")" -ge 8110 ]; done
}

@test "a session killed with SIGKILL is repaired by the next one" {
	start_victim --table 32768
	start_victim --table 32768
	"$MEMMERGE" --scan-rate 100 --timeout 60 -q "${VPIDS[@]}" > /dev/null 2>&1 &
	m=$!
	for i in $(seq 300); do [ "$(cat $KSM/run)" = 1 ] && break; sleep 0.01; done
	kill -KILL $m
	wait $m || true
	[ "$(cat $KSM/run)" = 1 ] # left boosted
	run "$MEMMERGE" -q "${VPIDS[@]}"
	[ "$status" -eq 0 ]
	[[ "$output" == *"restored the KSM settings a previous session left changed"* ]]
	knobs_unchanged
}

@test "a target that exits mid-session gives a partial result, not a crash" {
	start_victim --table 32768
	start_victim --table 32768
	"$MEMMERGE" --scan-rate 200 --json "${VPIDS[@]}" > "$VDIR/out" 2>"$VDIR/err" &
	m=$!
	for i in $(seq 300); do [ "$(cat $KSM/run)" = 1 ] && break; sleep 0.01; done
	kill -KILL "${VPIDS[1]}"
	wait $m || rc=$?
	[ "${rc:-0}" -le 1 ]
	knobs_unchanged
	[ "$(jq '.processes[1].gone' "$VDIR/out")" = "true" ]
}

@test "--dry-run changes nothing; bad input gets a clear error" {
	start_victim --table 1024
	start_victim --table 1024
	run "$MEMMERGE" --dry-run "${VPIDS[@]}"
	[ "$status" -eq 0 ]
	[[ "$output" == *"would merge up to 8.0 MiB"*"nothing was changed"* ]]
	[ "$(merged_pages "${VPIDS[0]}")" = "0" ]
	knobs_unchanged
	run "$MEMMERGE" --mode bogus 1
	[ "$status" -eq 2 ]
	run "$MEMMERGE" --range 1000-2000 1
	[ "$status" -eq 2 ]
	[[ "$output" == *"--range needs --mode madvise"* ]]
	run "$MEMMERGE" --backend kmod "${VPIDS[0]}"
	[ "$status" -eq 3 ]
	[[ "$output" == *"/dev/mergemem"* ]]
	run "$MEMMERGE" 4194303
	[ "$status" -eq 1 ]
	[[ "$output" == *"pid 4194303: no such process"* ]]
}

@test "an unprivileged caller with ksmd off gets a clear error and nothing is changed" {
	[ "$(cat $KSM/run)" = 0 ] || skip "ksmd is running on this machine"
	start_victim --as $NOBODY --table 64
	run setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups "$MEMMERGE" "${VPIDS[0]}"
	[ "$status" -eq 3 ]
	[[ "$output" == *"ksmd is not running (run=0) and only root can start it"* ]]
	grep -q "ksm_merge_any: no" "/proc/${VPIDS[0]}/ksm_stat"
	knobs_unchanged
}
