#!/usr/bin/env bats
# memsplit on real merges: exact copy-on-write breaks, byte ranges, gone
# processes, and every kind of bad snapshot file.

load helpers

MEMSPLIT="$BUILD/tools/memsplit"

setup() {
	setup_victims_ksm
}

teardown() {
	teardown_victims_ksm
}

# Two merged instances of a 1000-page table; memmerge writes the snapshot.
merged_pair() {
	start_victim --table 1000 --unique 50 --status "$VDIR/s0"
	TABLE0=$(awk '$2 == "table" {print $3}' "$VDIR/ready.0")
	start_victim --table 1000 --unique 50 --status "$VDIR/s1"
	run "$BUILD/tools/memmerge" -q --snapshot "$VDIR/snap" "${VPIDS[@]}"
	[ "$status" -eq 0 ]
	[ -s "$VDIR/snap" ]
}

@test "exactly the rewritten pages are reported, with their addresses, mapping and bytes" {
	[ "$(id -u)" = 0 ] || skip "needs root"
	merged_pair
	kill -USR2 "${VPIDS[0]}"
	wait_line "$VDIR/s0" "rewrote 100"
	run "$MEMSPLIT" diff "$VDIR/snap" --pages --json
	[ "$status" -eq 0 ]
	[ "$(jq -r .schema <<<"$output")" = "mergemem.memsplit/1" ]
	[ "$(jq .summary.broken_pages <<<"$output")" = "100" ]
	[ "$(jq -c '[.processes[] | .broken_pages]' <<<"$output")" = "[100,0]" ]
	[ "$(jq -c '.mappings[] | select(.mapping == "table (deleted) .data") | [.merged_pages, .broken_pages]' <<<"$output")" = "[2000,100]" ]
	# No false positives: every broken page is one the victim rewrote.
	[ "$(jq '[.pages[] | select(.mapping != "table (deleted) .data")] | length' <<<"$output")" = "0" ]
	want=$(python3 -c "b=int('$TABLE0',16); print(' '.join(hex(b+i*4096) for i in range(0,1000,10)))")
	got=$(jq -r '[.pages[].address] | join(" ")' <<<"$output")
	[ "$got" = "$want" ]
	[ "$(jq -c '[.pages[].changed] | unique' <<<"$output")" = "[[100,163]]" ]
	[ "$(jq '[.pages[] | select(.pid != '"${VPIDS[0]}"')] | length' <<<"$output")" = "0" ]
	run "$MEMSPLIT" "$VDIR/snap" --pages
	[ "$status" -eq 0 ]
	[[ "$output" == *"${VPIDS[0]} $TABLE0 table (deleted) .data: bytes 100-163 differ"* ]]
	[[ "$output" == *"100 of 2006 merged pages broke (5.0%)"* || "$output" == *"100 of "*" merged pages broke"* ]]
	# The victim's own check agrees with what it wrote.
	kill -USR1 "${VPIDS[0]}"
	wait_line "$VDIR/s0" "verify ok 1050"
}

@test "no breaks, no reports; a gone process is listed and exits 1" {
	[ "$(id -u)" = 0 ] || skip "needs root"
	merged_pair
	run "$MEMSPLIT" diff "$VDIR/snap" --json
	[ "$status" -eq 0 ]
	[ "$(jq .summary.broken_pages <<<"$output")" = "0" ]
	kill -KILL "${VPIDS[1]}"
	wait "${VPIDS[1]}" 2>/dev/null || true
	run "$MEMSPLIT" diff "$VDIR/snap" --pages
	[ "$status" -eq 1 ]
	[[ "$output" == *"pid ${VPIDS[1]} (victim): gone since the snapshot"* ]]
	# Its pages had no merged sibling left to compare with.
	kill -USR2 "${VPIDS[0]}"
	wait_line "$VDIR/s0" "rewrote 100"
	run "$MEMSPLIT" diff "$VDIR/snap" --pages
	[[ "$output" == *"no merged sibling left"* ]]
}

@test "bad snapshot files: foreign, truncated, corrupted, future version" {
	start_victim --table 10
	run "$MEMSPLIT" snapshot -o "$VDIR/snap" "${VPIDS[@]}"
	[ "$status" -eq 0 ]
	head -c 1000 /dev/urandom > "$VDIR/foreign"
	run "$MEMSPLIT" diff "$VDIR/foreign"
	[ "$status" -eq 2 ]
	[ "$output" = "memsplit: $VDIR/foreign: not a mergemem snapshot (bad magic)" ]
	head -c 100 "$VDIR/snap" > "$VDIR/short"
	run "$MEMSPLIT" diff "$VDIR/short"
	[ "$status" -eq 2 ]
	[[ "$output" == *"corrupted or truncated"* ]]
	cp "$VDIR/snap" "$VDIR/flip"
	printf '\xff' | dd of="$VDIR/flip" bs=1 seek=80 conv=notrunc 2>/dev/null
	run "$MEMSPLIT" diff "$VDIR/flip"
	[ "$status" -eq 2 ]
	[[ "$output" == *"corrupted or truncated (checksum mismatch)"* ]]
	cp "$VDIR/snap" "$VDIR/future"
	printf '\x09' | dd of="$VDIR/future" bs=1 seek=8 conv=notrunc 2>/dev/null
	run "$MEMSPLIT" diff "$VDIR/future"
	[ "$status" -eq 2 ]
	[[ "$output" == *"format version 9 is newer than this memsplit reads (1) — use a newer memsplit"* ]]
	run "$MEMSPLIT" diff "$VDIR/missing"
	[ "$status" -eq 3 ]
	[[ "$output" == *"No such file or directory"* ]]
	: > "$VDIR/empty"
	run "$MEMSPLIT" diff "$VDIR/empty"
	[ "$status" -eq 2 ]
}

@test "unprivileged: counters only, and it says page-level detail needs root" {
	start_victim --as $NOBODY --table 100
	run setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups "$MEMSPLIT" snapshot -o "$VDIR/u.snap" "${VPIDS[0]}"
	[ "$status" -eq 0 ]
	[[ "$output" == *"no frame numbers (not root)"* ]]
	run setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups "$MEMSPLIT" diff "$VDIR/u.snap"
	[ "$status" -eq 0 ]
	[[ "$output" == *"page-level detail needs root"* ]]
}

@test "usage errors" {
	run "$MEMSPLIT"
	[ "$status" -eq 2 ]
	run "$MEMSPLIT" --bogus
	[ "$status" -eq 2 ]
	run "$MEMSPLIT" snapshot 1
	[ "$status" -eq 2 ]
	[[ "$output" == *"-o FILE is required"* ]]
	run "$MEMSPLIT" diff
	[ "$status" -eq 2 ]
	run "$MEMSPLIT" --version
	[ "$status" -eq 0 ]
}

@test "watch sees breaks while it runs, with the counters beside them" {
	[ "$(id -u)" = 0 ] || skip "needs root"
	merged_pair
	"$MEMSPLIT" watch --interval 0.2 --count 10 --json "${VPIDS[@]}" > "$VDIR/events" &
	w=$!
	sleep 0.5
	kill -USR2 "${VPIDS[0]}"
	wait $w
	[ "$(jq -s '[.[] | select(.event == "break")] | length' "$VDIR/events")" = "100" ]
	[ "$(jq -s '[.[] | select(.event == "break") | .pid] | unique | length' "$VDIR/events")" = "1" ]
	[ "$(jq -s '[.[] | select(.event == "break") | .changed] | unique' -c "$VDIR/events")" = "[[100,163]]" ]
	[ "$(jq -s '[.[] | select(.event == "tick") | .breaks] | add' "$VDIR/events")" = "100" ]
	[ "$(jq -s '[.[] | select(.event == "tick") | .cow_ksm_delta] | add >= 100' "$VDIR/events")" = "true" ]
	[ "$(jq -s '[.[] | select(.event == "tick")] | length' "$VDIR/events")" = "10" ]
}
