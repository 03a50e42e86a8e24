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
