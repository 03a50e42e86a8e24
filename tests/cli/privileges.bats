#!/usr/bin/env bats
# The privilege matrix (documented in mergemem(7)): callers root, two
# ordinary users and nobody, against one target owned by each.
#
# Two system users, mmtest-a and mmtest-b, are created for the file and
# removed afterwards (only if this file created them).

load helpers

MEMSPLIT="$BUILD/tools/memsplit"

setup_file() {
	[ "$(id -u)" = 0 ] || skip "the matrix needs root to create users"
	: >"$BATS_FILE_TMPDIR/created"
	for u in mmtest-a mmtest-b; do
		if ! id "$u" >/dev/null 2>&1; then
			useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$u"
			echo "$u" >>"$BATS_FILE_TMPDIR/created"
		fi
	done
}

teardown_file() {
	[ -e "$BATS_FILE_TMPDIR/created" ] || return 0
	while read -r u; do userdel "$u"; done <"$BATS_FILE_TMPDIR/created"
}

setup() {
	[ "$(id -u)" = 0 ] || skip "the matrix needs root to create users"
	setup_victims_ksm
	UA=$(id -u mmtest-a)
	UB=$(id -u mmtest-b)
	# One target per owner, same table: root, a, b, nobody.
	start_victim --table 256 --status "$VDIR/s.root"
	T_ROOT=$VPID
	start_victim --as "$UA" --table 256 --status "$VDIR/s.a"
	T_A=$VPID
	start_victim --as "$UB" --table 256 --status "$VDIR/s.b"
	T_B=$VPID
	start_victim --as "$NOBODY" --table 256 --status "$VDIR/s.nobody"
	T_N=$VPID
	ALL=("$T_ROOT" "$T_A" "$T_B" "$T_N")
}

teardown() {
	[ -n "${VDIR:-}" ] || return 0
	# Every target keeps its memory, whatever was tried on it.
	local ok=0 f
	kill -USR1 "${ALL[@]}"
	for f in root a b nobody; do wait_line "$VDIR/s.$f" "verify ok 256" && ok=$((ok + 1)); done
	teardown_victims
	# One test starts ksmd on purpose (users cannot): put it back, quietly.
	restore_knobs 2>/dev/null || true
	[ "$ok" = 4 ]
}

as() { # as UID CMD...
	local u=$1
	shift
	setpriv --reuid="$u" --regid="$u" --clear-groups "$@"
}

@test "scan: root reads every target, with frame numbers" {
	run "$MEMDUP" --mapping mm-fixture --json "${ALL[@]}"
	[ "$status" -eq 0 ]
	[ "$(jq .summary.processes <<<"$output")" = 4 ]
	[ "$(jq .pfn_visible <<<"$output")" = true ]
	[ "$(jq -r .estimate <<<"$output")" = exact ]
	[ "$(jq .summary.savings_pages <<<"$output")" = 768 ]
	[ "$(jq -c '[.processes[].user] | sort' <<<"$output")" = '["mmtest-a","mmtest-b","nobody","root"]' ]
}

@test "scan: each ordinary user and nobody reads only their own target, without frame numbers" {
	local u own name
	for u in "$UA:$T_A:mmtest-a" "$UB:$T_B:mmtest-b" "$NOBODY:$T_N:nobody"; do
		IFS=: read -r uid own name <<<"$u"
		run as "$uid" "$MEMDUP" --mapping mm-fixture --json "${ALL[@]}"
		echo "$name: $status"
		[ "$status" -eq 1 ]
		json=$(sed -n '/^{/,$p' <<<"$output")
		[ "$(jq .summary.processes <<<"$json")" = 1 ]
		[ "$(jq .processes[0].pid <<<"$json")" = "$own" ]
		[ "$(jq -r .processes[0].user <<<"$json")" = "$name" ]
		[ "$(jq .pfn_visible <<<"$json")" = false ]
		[ "$(jq -r .estimate <<<"$json")" = content-only ]
		[ "$(jq .summary.anon_pages <<<"$json")" = 256 ]
		# The three others are named, as permission problems.
		[ "$(jq '[.failed[] | select(.reason == "permission")] | length' <<<"$json")" = 3 ]
		[ "$(grep -c '^memdup: pid .* (victim): read smaps: permission denied — run as the process.s user, or as root (CAP_SYS_PTRACE)$' <<<"$output")" = 3 ]
	done
}

@test "scan: memsplit snapshot follows the same rule" {
	run as "$UA" "$MEMSPLIT" snapshot -o "$VDIR/a.snap" "${ALL[@]}"
	[ "$status" -eq 1 ]
	[ "$(grep -c 'permission denied' <<<"$output")" = 3 ]
	run as "$UA" "$MEMSPLIT" diff --json "$VDIR/a.snap"
	[ "$status" -eq 0 ]
	[ "$(jq .summary.processes <<<"$output")" = 1 ]
	[ "$(jq .pfn_visible <<<"$output")" = false ]
}

@test "merge: ordinary users merge their own processes, never another user's" {
	# Only root can start ksmd: for users, it has to be running already.
	echo 1 >"$KSM/run"
	start_victim --as "$UA" --table 256 --status "$VDIR/s.a2"
	local a2=$VPID
	run as "$UA" "$MEMMERGE" --no-snapshot --json "$T_A" "$a2"
	[ "$status" -eq 0 ]
	[ "$(jq .summary.refused <<<"$output")" = 0 ]
	[ "$(cat "/proc/$T_A/ksm_merging_pages")" -ge 250 ]
	# mmtest-b's and root's targets are refused, with or without --allow-cross-user.
	for flag in "" --allow-cross-user; do
		run as "$UA" "$MEMMERGE" --no-snapshot $flag --json "$T_A" "$T_B" "$T_ROOT"
		[ "$status" -eq 1 ]
		[[ "$output" == *"pid $T_B (victim): cannot ptrace it — run as its user, or as root (CAP_SYS_PTRACE)"* ]]
		[[ "$output" == *"pid $T_ROOT (victim): cannot ptrace it"* ]]
	done
	[ "$(cat "/proc/$T_B/ksm_merging_pages")" = 0 ]
	[ "$(cat "/proc/$T_ROOT/ksm_merging_pages")" = 0 ]
	grep -q "ksm_merge_any: no" "/proc/$T_B/ksm_stat"
	# nobody cannot touch mmtest-a's target either.
	run as "$NOBODY" "$MEMMERGE" --no-snapshot --unmerge "$T_A"
	[ "$status" -eq 1 ]
	[ "$(cat "/proc/$T_A/ksm_merging_pages")" -ge 250 ]
	kill -USR1 "$a2"
	wait_line "$VDIR/s.a2" "verify ok 256"
}

@test "merge: root refuses to join users unless --allow-cross-user" {
	run "$MEMMERGE" --no-snapshot --json "$T_A" "$T_B"
	[ "$status" -eq 1 ]
	[[ "$output" == *"pid $T_B (victim): owned by mmtest-b, the set is mmtest-a's — merging across users is a side channel; use --allow-cross-user"* ]]
	[ "$(cat "/proc/$T_B/ksm_merging_pages")" = 0 ]
	knobs_unchanged
	run "$MEMMERGE" --no-snapshot --allow-cross-user --json "${ALL[@]}"
	[ "$status" -eq 0 ]
	knobs_unchanged
	for p in "${ALL[@]}"; do [ "$(cat "/proc/$p/ksm_merging_pages")" -ge 250 ]; done
}

@test "module: no user but root may use --backend kmod (the device is root's, the module wants CAP_SYS_PTRACE)" {
	# The module cannot load on this host; its own refusal is tested in the
	# guest (tests/guest: non-root and capability-less callers get EACCES/EPERM).
	run as "$UA" "$MEMDUP" --backend kmod "$T_A"
	[ "$status" -eq 3 ]
	[[ "$output" == *"/dev/mergemem"* ]]
}
