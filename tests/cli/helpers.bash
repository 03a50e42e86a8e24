# Shared helpers for the CLI tests.  BUILD points at the CMake build tree.
: "${BUILD:?set BUILD to the build directory}"
MEMDUP="$BUILD/tools/memdup"
VICTIM="$BUILD/tests/victim"
NOBODY=65534

# A tag unique to this test, so pgrep and cleanup see only our victims.
setup_victims() {
	TAG=$(( (RANDOM << 15 | RANDOM) % 4000000000 + 1 ))
	VDIR=$(mktemp -d /tmp/mm-bats.XXXXXX)
	chmod 0777 "$VDIR"
	VPIDS=()
}

# start_victim [--as nobody] ARGS...: starts a victim with --seed $TAG and
# waits until its memory is filled; sets VPID.
start_victim() {
	local as=()
	if [ "$1" = "--as" ]; then
		as=(setpriv --reuid="$2" --regid="$2" --clear-groups)
		shift 2
	fi
	local ready="$VDIR/ready.${#VPIDS[@]}"
	TMPDIR="$VDIR" "${as[@]}" "$VICTIM" --seed "$TAG" "$@" --ready "$ready" </dev/null >/dev/null 2>&1 &
	VPID=$!
	VPIDS+=("$VPID")
	local i
	for i in $(seq 500); do
		[ -e "$ready" ] && return 0
		sleep 0.01
	done
	echo "victim did not become ready" >&2
	return 1
}

teardown_victims() {
	local p
	for p in "${VPIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	for p in "${VPIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$VDIR"
}

# memdup over our victims' fixture regions only, as JSON.
memdup_fixture() {
	"$MEMDUP" --mapping mm-fixture --json "$@"
}

MEMMERGE="$BUILD/tools/memmerge"
KSM=/sys/kernel/mm/ksm

# Every writable KSM knob with its value, one per line.
ksm_knobs() {
	local k
	for k in run pages_to_scan sleep_millisecs smart_scan advisor_mode use_zero_pages max_page_sharing \
		merge_across_nodes stable_node_chains_prune_millisecs; do
		[ -e "$KSM/$k" ] && echo "$k $(cat "$KSM/$k")"
	done
}

# Fails (and shows the difference) unless the knobs equal $KNOBS_BEFORE.
knobs_unchanged() {
	local now
	now=$(ksm_knobs)
	[ "$now" = "$KNOBS_BEFORE" ] || { diff <(echo "$KNOBS_BEFORE") <(echo "$now"); return 1; }
}

# Puts back every knob that differs from $KNOBS_BEFORE (a test that failed
# half-way must still leave KSM as found); fails when it had to.
restore_knobs() {
	[ -n "${KNOBS_BEFORE:-}" ] && [ "$(ksm_knobs)" != "$KNOBS_BEFORE" ] || return 0
	local k v
	while read -r k v; do
		v=${v#*[}
		v=${v%%]*}
		echo "$v" >"$KSM/$k" 2>/dev/null || true
	done <<<"$KNOBS_BEFORE"
	echo "the KSM knobs had to be restored" >&2
	return 1
}

# setup and teardown for files whose tests may touch KSM: victims, and the
# knobs as they were, restored (and the test failed) if a test changed them.
setup_victims_ksm() {
	setup_victims
	KNOBS_BEFORE=$(ksm_knobs)
}

teardown_victims_ksm() {
	teardown_victims
	restore_knobs
}

# Waits until FILE has a line matching PATTERN (up to ~10 s).
wait_line() {
	local i
	for i in $(seq 1000); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.01
	done
	echo "no '$2' in $1: $(cat "$1" 2>/dev/null)" >&2
	return 1
}
