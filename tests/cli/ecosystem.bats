#!/usr/bin/env bats
# How the toolkit meets the rest of the system: Prometheus textfiles,
# systemd units, the installed library, terminal manners.

load helpers

MEMSPLIT="$BUILD/tools/memsplit"
PROMTOOL=/var/cache/mergemem/prometheus/usr/bin/promtool

setup() {
	setup_victims_ksm
}

teardown() {
	teardown_victims_ksm
}

# metric NAME [LABELS]: the sample's value in $output.
metric() {
	local line
	if [ -n "${2:-}" ]; then
		line=$(grep -F "$1{$2} " <<<"$output")
	else
		line=$(grep -E "^$1 " <<<"$output")
	fi
	echo "${line##* }"
}

@test "memdup --format prometheus: promtool accepts it, values exact, labels escaped" {
	[ -x "$PROMTOOL" ] || skip "promtool not unpacked (scripts/install-deps.sh test)"
	# A comm with a quote and a backslash: the label must be escaped.
	ln -s "$VICTIM" "$VDIR/vi\"c\\tim"
	VICTIM="$VDIR/vi\"c\\tim" start_victim --table 256 --unique 16
	local a=$VPID
	VICTIM="$VDIR/vi\"c\\tim" start_victim --table 256 --unique 16
	run "$MEMDUP" --mapping mm-fixture --format prometheus "$a" "$VPID"
	[ "$status" -eq 0 ]
	echo "$output" | "$PROMTOOL" check metrics
	[ "$(metric mergemem_memdup_processes)" = 2 ]
	[ "$(metric mergemem_memdup_anon_bytes)" = $((2 * 272 * 4096)) ]
	[ "$(metric mergemem_memdup_duplicate_bytes)" = $((2 * 256 * 4096)) ]
	[ "$(metric mergemem_memdup_savings_bytes)" = $((256 * 4096)) ]
	[ "$(metric mergemem_memdup_merged_bytes)" = 0 ]
	[ "$(metric mergemem_memdup_process_anon_bytes "pid=\"$a\",comm=\"vi\\\"c\\\\tim\",user=\"$(id -un)\"")" = $((272 * 4096)) ]
	# Every metric has its HELP and TYPE.
	[ "$(grep -c '^# HELP ' <<<"$output")" = "$(grep -c '^# TYPE .* gauge$' <<<"$output")" ]
	[ "$(grep -c '^# TYPE ' <<<"$output")" = 11 ]
}

@test "memsplit diff --format prometheus: merged and COW-broken bytes, exact" {
	[ -x "$PROMTOOL" ] || skip "promtool not unpacked"
	[ "$(id -u)" = 0 ] || skip "merging and frame numbers need root"
	[ -e "$KSM/run" ] || skip "no KSM"
	start_victim --table 256
	start_victim --table 256
	run "$MEMMERGE" --snapshot "$VDIR/s" --json "${VPIDS[@]}"
	[ "$status" -eq 0 ]
	knobs_unchanged
	# The first victim rewrites every 10th table page: 26 copy-on-write breaks.
	kill -USR2 "${VPIDS[0]}"
	sleep 0.2
	run "$MEMSPLIT" diff "$VDIR/s" --format prometheus
	[ "$status" -eq 0 ]
	echo "$output" | "$PROMTOOL" check metrics
	merged=$(metric mergemem_memsplit_merged_bytes)
	[ "$merged" -ge $((2 * 250 * 4096)) ]
	[ "$(metric mergemem_memsplit_cow_broken_bytes)" = $((26 * 4096)) ]
	[ "$(metric mergemem_memsplit_process_cow_broken_bytes "pid=\"${VPIDS[0]}\",comm=\"victim\",user=\"root\"")" = $((26 * 4096)) ]
	[ "$(metric mergemem_memsplit_process_cow_broken_bytes "pid=\"${VPIDS[1]}\",comm=\"victim\",user=\"root\"")" = 0 ]
	[ "$(metric mergemem_memsplit_processes_gone)" = 0 ]
	[ "$(metric mergemem_memsplit_exact)" = 1 ]
}

@test "--format rejects an unknown format with a usage error" {
	run "$MEMDUP" --format yaml 1
	[ "$status" -eq 2 ]
	[[ "$output" == *"--format 'yaml': expected table, json or prometheus"* ]]
}

@test "systemd: the units pass systemd-analyze verify and the service's command merges what the config names" {
	command -v systemd-analyze >/dev/null || skip "no systemd-analyze"
	local u="$VDIR/units"
	mkdir -p "$u"
	# The installed units, pointed at this build and a test config.
	sed -e "s|^ExecStart=[^ ]*/memmerge|ExecStart=$BUILD/tools/memmerge|" -e "s|/[^ ]*/mergemem/memmerge.conf|$u/memmerge.conf|g" \
		"$BUILD/units/memmerge.service" >"$u/memmerge.service"
	cp units/memmerge.timer "$u/"
	cp units/memmerge.conf "$u/memmerge.conf"
	run systemd-analyze verify --man=no "$u/memmerge.service" "$u/memmerge.timer"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	grep -q '^RandomizedDelaySec=' "$u/memmerge.timer"
	grep -q '^Type=oneshot' "$u/memmerge.service"
	# The shipped config selects nothing: the service succeeds and says so.
	cmd=$(sed -n 's/^ExecStart=//p' "$u/memmerge.service")
	run $cmd
	[ "$status" -eq 0 ]
	[[ "$output" == *"selects no processes (add a name or user line) — nothing to do"* ]]
	if [ "$(id -u)" = 0 ] && [ -e "$KSM/run" ]; then
		start_victim --table 512
		start_victim --table 512
		printf '# test\nfull\nname seed %s \nno-snapshot\njson\n' "$TAG" >>"$u/memmerge.conf"
		run $cmd
		[ "$status" -eq 0 ]
		knobs_unchanged
		[ "$(jq .summary.processes <<<"$output")" = 2 ]
		for p in "${VPIDS[@]}"; do [ "$(cat "/proc/$p/ksm_merging_pages")" -ge 500 ]; done
	fi
	echo "bogus 1" >"$u/bad.conf"
	run "$BUILD/tools/memmerge" --config "$u/bad.conf"
	[ "$status" -eq 2 ]
	[[ "$output" == *"$u/bad.conf:1: unknown option 'bogus'"* ]]
}

@test "make install: binaries, library, headers, pkg-config, CMake package, man pages, completions, units, DKMS tree" {
	local d="$VDIR/root" p=/opt/mmtest
	DESTDIR="$d" cmake --install "$BUILD" --prefix "$p" >/dev/null
	for f in bin/memdup bin/memmerge bin/memsplit lib/libmergemem.so lib/libmergemem.so.0 \
		include/mergemem/scan.hpp lib/pkgconfig/mergemem.pc lib/cmake/mergemem/mergememConfig.cmake \
		share/man/man1/memdup.1 share/man/man1/memmerge.1 share/man/man1/memsplit.1 share/man/man7/mergemem.7 \
		share/bash-completion/completions/memdup share/zsh/site-functions/_memsplit \
		share/fish/vendor_completions.d/memmerge.fish lib/systemd/system/memmerge.service \
		lib/systemd/system/memmerge.timer etc/mergemem/memmerge.conf src/mergemem-0.1.0/dkms.conf \
		src/mergemem-0.1.0/mergemem.c; do
		[ -e "$d$p/$f" ] || { echo "missing $p/$f"; false; }
	done
	grep -q "^ExecStart=$p/bin/memmerge --config $p/etc/mergemem/memmerge.conf$" "$d$p/lib/systemd/system/memmerge.service"
	# The installed tools find the installed library.
	run "$d$p/bin/memdup" --version
	[ "$status" -eq 0 ]
	[[ "$output" == "memdup (mergemem) 0.1.0" ]]

	# A tiny program against the installed library, built both ways.
	mkdir -p "$VDIR/tiny"
	cat >"$VDIR/tiny/tiny.cpp" <<-'EOF'
	#include <mergemem/select.hpp>
	#include <mergemem/format.hpp>
	#include <cstdio>
	int main()
	{
		auto pids = mergemem::parse_pid_list("42 7\n");
		if (!pids || pids->size() != 2)
			return 1;
		std::printf("%d %d %s\n", (*pids)[0], (*pids)[1], mergemem::human_bytes(3 << 20).c_str());
		return 0;
	}
	EOF
	local san=()
	grep -q '^MERGEMEM_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt" && san=(-fsanitize=address,undefined)
	# pkg-config, with the DESTDIR as its sysroot.
	flags=$(PKG_CONFIG_SYSROOT_DIR="$d" PKG_CONFIG_PATH="$d$p/lib/pkgconfig" pkg-config --cflags --libs mergemem)
	g++ "${san[@]}" "$VDIR/tiny/tiny.cpp" $flags -o "$VDIR/tiny/pc"
	run env LD_LIBRARY_PATH="$d$p/lib" "$VDIR/tiny/pc"
	[ "$output" = "42 7 3.0 MiB" ]
	# CMake: find_package(mergemem).
	cat >"$VDIR/tiny/CMakeLists.txt" <<-EOF
	cmake_minimum_required(VERSION 3.25)
	project(tiny CXX)
	find_package(mergemem 0.1 REQUIRED)
	add_executable(tiny tiny.cpp)
	target_link_libraries(tiny PRIVATE mergemem::mergemem)
	EOF
	cmake -S "$VDIR/tiny" -B "$VDIR/tiny/b" -DCMAKE_PREFIX_PATH="$d$p" -DCMAKE_CXX_FLAGS="${san[*]}" >/dev/null
	cmake --build "$VDIR/tiny/b" >/dev/null
	run "$VDIR/tiny/b/tiny"
	[ "$output" = "42 7 3.0 MiB" ]
}

@test "every tool answers --version" {
	for t in memdup memmerge memsplit; do
		run "$BUILD/tools/$t" --version
		[ "$status" -eq 0 ]
		[ "$output" = "$t (mergemem) 0.1.0" ]
	done
}

@test "colour: only on a terminal, never with NO_COLOR or --color=never; --color forces it" {
	start_victim --table 16
	esc=$'\033['
	# Not a terminal (bats captures the output): no colour at all.
	run "$MEMDUP" "$VPID" 4194303
	[[ "$output" != *"$esc"* ]]
	# A terminal (script gives one): bold header, red prefix.  TERM=dumb would turn colour off.
	run env TERM=xterm script -qec "$MEMDUP $VPID 4194303" /dev/null
	[[ "$output" == *"${esc}1m"*"PID"* ]]
	[[ "$output" == *"${esc}1;31mmemdup:${esc}0m pid 4194303"* ]]
	run env TERM=xterm NO_COLOR=1 script -qec "$MEMDUP $VPID 4194303" /dev/null
	[[ "$output" != *"${esc}1"* ]]
	run env TERM=xterm script -qec "$MEMDUP --color=never $VPID" /dev/null
	[[ "$output" != *"${esc}1"* ]]
	run "$MEMDUP" --color "$VPID"
	[[ "$output" == *"${esc}1m"*"PID"* ]]
	run "$MEMDUP" --color=sometimes "$VPID"
	[ "$status" -eq 2 ]
}

@test "progress lines go to a terminal only" {
	[ "$(id -u)" = 0 ] || skip "merging needs root here"
	[ -e "$KSM/run" ] || skip "no KSM"
	start_victim --table 8192
	start_victim --table 8192
	# Slow ksmd down so the watch lasts long enough for a progress line.
	run env TERM=xterm script -qec "$MEMMERGE --no-snapshot --scan-rate 500 ${VPIDS[*]}" /dev/null
	[[ "$output" == *$'\r\033[Kmemmerge: merging: '* ]]
	knobs_unchanged
	run "$MEMMERGE" --no-snapshot --unmerge "${VPIDS[@]}"
	run "$MEMMERGE" --no-snapshot --scan-rate 500 "${VPIDS[@]}"
	[ "$status" -eq 0 ]
	[[ "$output" != *"merging: "* ]]
	[[ "$output" != *$'\r'* ]]
	knobs_unchanged
}

@test "messages: every line on stderr starts with the tool's name" {
	run bash -c "'$MEMDUP' 4194303 nosuch 2>&1 >/dev/null"
	[ "$status" -eq 2 ]
	while read -r line; do
		[[ "$line" == "memdup: "* || "$line" == "Try 'memdup --help'"* ]] || { echo "bad: $line"; false; }
	done <<<"$output"
	run bash -c "'$MEMDUP' 4194303 2>&1 >/dev/null"
	[ "$output" = "memdup: pid 4194303: no such process — check the pid (pgrep NAME)" ]
	run bash -c "'$MEMSPLIT' diff /nonexistent 2>&1 >/dev/null"
	[[ "$output" == "memsplit: "* ]]
}
