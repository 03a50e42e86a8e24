#!/usr/bin/env bats
# memdup against real fixture processes: exact counts, pipelines,
# unprivileged runs, every error path and exit code.

load helpers

setup() { setup_victims; }
teardown() { teardown_victims; }

three_victims() {
	for i in 1 2 3; do start_victim --table 1000 --unique 100 --zero 50 --intra 20; done
}

@test "exact duplicate, savings and zero pages over three instances" {
	three_victims
	run memdup_fixture "${VPIDS[@]}"
	[ "$status" -eq 0 ]
	s=$(jq -c '.summary | [.processes, .processes_failed, .present_pages, .anon_pages, .anon_frames, .duplicate_pages, .savings_pages, .zero_pages]' <<<"$output")
	# anon 3 x 1170; duplicates: 3000 table + 150 zero + 60 intra;
	# savings: 2000 + 149 + 59; zero 150.
	[ "$s" = "[3,0,3510,3510,3510,3210,2208,150]" ]
	[ "$(jq -r .schema <<<"$output")" = "mergemem.memdup/1" ]
	[ "$(jq .page_size <<<"$output")" = "4096" ]
	[ "$(jq .pfn_visible <<<"$output")" = "true" ]
	[ "$(jq .summary.shared_pages <<<"$output")" = "0" ]
	# Savings are charged to all but the first process of each content.
	[ "$(jq '[.processes[].savings_pages] | add' <<<"$output")" = "2208" ]
	[ "$(jq '.processes[0].savings_pages' <<<"$output")" = "68" ]
}

@test "per-process rows carry pid, comm, uid and the counts" {
	three_victims
	run memdup_fixture "${VPIDS[@]}"
	[ "$status" -eq 0 ]
	[ "$(jq '.processes | length' <<<"$output")" = "3" ]
	[ "$(jq -r '.processes[0].comm' <<<"$output")" = "victim" ]
	[ "$(jq '.processes[0].uid' <<<"$output")" = "0" ]
	[ "$(jq -c '[.processes[] | .anon_pages]' <<<"$output")" = "[1170,1170,1170]" ]
	[ "$(jq -c '[.processes[] | .duplicate_pages]' <<<"$output")" = "[1070,1070,1070]" ]
}

@test "--by mapping breaks the counts down per mapping" {
	three_victims
	run memdup_fixture --by mapping "${VPIDS[@]}"
	[ "$status" -eq 0 ]
	row=$(jq -c '.mappings[] | select(.mapping == "table (deleted) .data") | [.processes, .anon_pages, .duplicate_pages, .savings_pages, .zero_pages]' <<<"$output")
	[ "$row" = "[3,3000,3000,2000,0]" ]
	row=$(jq -c '.mappings[] | select(.mapping == "zero (deleted) .data") | [.anon_pages, .duplicate_pages, .savings_pages, .zero_pages]' <<<"$output")
	[ "$row" = "[150,150,149,150]" ]
	row=$(jq -c '.mappings[] | select(.mapping == "unique (deleted) .data") | [.anon_pages, .duplicate_pages]' <<<"$output")
	[ "$row" = "[300,0]" ]
	# Without the filter, the libraries' .data/.bss, heap and stack appear too.
	run "$MEMDUP" --json --by mapping "${VPIDS[@]}"
	[ "$status" -eq 0 ]
	jq -e '.mappings | map(.mapping) | index("[heap]") and index("[stack]") and index("libc.so.6 .data") and index("libc.so.6")' <<<"$output"
}

@test "--top lists the most duplicated contents with examples" {
	three_victims
	run memdup_fixture --top 2 "${VPIDS[@]}"
	[ "$status" -eq 0 ]
	[ "$(jq -c '.top[0] | [.zero, .copies, .frames, .processes, .savings_pages]' <<<"$output")" = "[true,150,150,3,149]" ]
	[ "$(jq -c '.top[1] | [.zero, .copies, .frames, .processes, .savings_pages]' <<<"$output")" = "[false,60,60,3,59]" ]
	[ "$(jq '.top[1].examples | length' <<<"$output")" = "3" ]
	[ "$(jq -r '.top[1].examples[0].mapping' <<<"$output")" = "intra (deleted) .data" ]
	[ "$(jq '.top[1].examples[0].pid' <<<"$output")" = "${VPIDS[0]}" ]
}

@test "pids from a pgrep pipeline" {
	three_victims
	# '[v]ictim' keeps pgrep from matching this very shell's command line.
	run bash -c "pgrep -f -- '[v]ictim --seed $TAG ' | '$MEMDUP' --mapping mm-fixture --json"
	[ "$status" -eq 0 ]
	[ "$(jq .summary.processes <<<"$output")" = "3" ]
	[ "$(jq .summary.savings_pages <<<"$output")" = "2208" ]
}

@test "--name, --full and --exclude select through libproc2" {
	three_victims
	run memdup_fixture --full --name "victim --seed $TAG "
	[ "$status" -eq 0 ]
	[ "$(jq .summary.processes <<<"$output")" = "3" ]
	run memdup_fixture --full --name "victim --seed $TAG " --exclude "${VPIDS[1]}"
	[ "$(jq .summary.processes <<<"$output")" = "2" ]
	[ "$(jq .summary.savings_pages <<<"$output")" = "1138" ] # 1000 + 99 + 39
	run memdup_fixture --full --name "victim --seed $TAG " --exclude 'seed'
	[ "$status" -eq 1 ]
	[ "$(jq .summary.processes <<<"$output")" = "0" ]
}

@test "--user selects by effective user" {
	start_victim --as $NOBODY --table 10
	start_victim --table 10
	run memdup_fixture --user nobody --full --name "seed $TAG "
	[ "$status" -eq 0 ]
	[ "$(jq -c '[.processes[].pid]' <<<"$output")" = "[${VPIDS[0]}]" ]
	run "$MEMDUP" --user no-such-user-xyz
	[ "$status" -eq 2 ]
	[[ "$output" == *"user 'no-such-user-xyz' does not exist"* ]]
}

@test "-j1 and -j2 give the same report" {
	three_victims
	a=$(memdup_fixture -j1 --top 3 --by mapping "${VPIDS[@]}" | jq -c 'del(.hash)')
	b=$(memdup_fixture -j2 --top 3 --by mapping "${VPIDS[@]}" | jq -c 'del(.hash)')
	[ "$a" = "$b" ]
}

@test "pagemap reads and /proc/PID/mem give the same counts as PAGEMAP_SCAN and process_vm_readv" {
	three_victims
	a=$(memdup_fixture "${VPIDS[@]}" | jq -c .summary)
	b=$(MERGEMEM_NO_PAGEMAP_SCAN=1 memdup_fixture "${VPIDS[@]}" | jq -c .summary)
	c=$(MERGEMEM_PROC_MEM=1 memdup_fixture "${VPIDS[@]}" | jq -c .summary)
	[ "$a" = "$b" ]
	[ "$a" = "$c" ]
	[ "$(MERGEMEM_NO_PAGEMAP_SCAN=1 memdup_fixture "${VPIDS[@]}" | jq .pagemap_scan)" = "false" ]
}

@test "unprivileged run on its own processes: content-only estimate, same counts" {
	for i in 1 2 3; do start_victim --as $NOBODY --table 1000 --unique 100 --zero 50 --intra 20; done
	run setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups "$MEMDUP" --mapping mm-fixture --json "${VPIDS[@]}"
	[ "$status" -eq 0 ]
	[ "$(jq .pfn_visible <<<"$output")" = "false" ]
	[ "$(jq .summary.pfn_visible <<<"$output")" = "false" ]
	[ "$(jq -r .estimate <<<"$output")" = "content-only" ]
	s=$(jq -c '.summary | [.anon_pages, .anon_frames, .duplicate_pages, .savings_pages, .zero_pages]' <<<"$output")
	[ "$s" = "[3510,3510,3210,2208,150]" ]
	run setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups "$MEMDUP" --mapping mm-fixture "${VPIDS[@]}"
	[[ "$output" == *"content-only estimate"* ]]
}

@test "unprivileged run against another user's process: named, exit 1, the rest reported" {
	start_victim --table 10
	start_victim --as $NOBODY --table 10
	run setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups "$MEMDUP" --mapping mm-fixture --json "${VPIDS[@]}"
	[ "$status" -eq 1 ]
	[[ "$output" == *"pid ${VPIDS[0]} (victim): "*"permission denied — run as the process's user, or as root"* ]]
	json=$(sed -n '/^{/,$p' <<<"$output")
	[ "$(jq .summary.processes <<<"$json")" = "1" ]
	[ "$(jq .summary.processes_failed <<<"$json")" = "1" ]
	[ "$(jq -r '.failed[0].reason' <<<"$json")" = "permission" ]
}

@test "THP, shared and file mappings: counted and classified" {
	start_victim --table 10 --shared 10 --file 10 --thp 4
	start_victim --table 10 --shared 10 --file 10 --thp 4
	run "$MEMDUP" --json --by mapping "${VPIDS[@]}"
	[ "$status" -eq 0 ]
	# Shared anonymous and shared file pages are not anonymous, and their
	# duplicates are ones KSM could never merge.
	[ "$(jq .unmergeable.shared <<<"$output")" = "40" ]
	[ "$(jq -c '.mappings[] | select(.mapping == "file (deleted)") | [.present_pages, .anon_pages, .unmergeable_pages]' <<<"$output")" = "[20,0,20]" ]
	# 2 x 4 MiB of THP with the same content: 2048 duplicates, 1024 savings.
	[ "$(jq '.mappings[] | select(.mapping == "[anon]") | .duplicate_pages >= 2048' <<<"$output")" = "true" ]
	[ "$(jq '.mappings[] | select(.mapping == "[anon]") | .savings_pages >= 1024' <<<"$output")" = "true" ]
}

@test "human table, humanised sizes and the summary line; --bytes gives raw numbers" {
	three_victims
	run "$MEMDUP" --mapping mm-fixture "${VPIDS[@]}"
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" =~ ^\ *PID\ USER\ +COMM\ +ANON\ +DUP\ +SAVINGS\ +ZERO\ +SHARED$ ]]
	[ "${lines[4]}" = "3 processes, 14 MiB anonymous, 13 MiB duplicate, 8.6 MiB could be freed by merging" ]
	run "$MEMDUP" --mapping mm-fixture --bytes --noheadings -o pid,savings "${VPIDS[0]}" "${VPIDS[1]}"
	[ "$status" -eq 0 ]
	# The first process keeps one frame per content: its savings are only
	# its own internal copies (49 zero + 19 intra pages).
	[[ "${lines[0]}" =~ ^${VPIDS[1]}\ +$((1070 * 4096))$ ]]
	[[ "${lines[1]}" =~ ^${VPIDS[0]}\ +$((68 * 4096))$ ]]
}

@test "--all scans this machine" {
	run bash -c "'$MEMDUP' --all --json -q 2>/dev/null"
	[ "$status" -le 1 ]
	[ "$(jq '.summary.processes > 0' <<<"$output")" = "true" ]
	[ "$(jq '.summary.processes_skipped > 0' <<<"$output")" = "true" ] # kernel threads
	[ "$(jq '[.processes[].pid] | index('$$') != null' <<<"$output")" = "true" ]
}

@test "unknown pid: one line naming it, exit 1" {
	start_victim --table 10
	run "$MEMDUP" --mapping mm-fixture "${VPIDS[0]}" 4194303
	[ "$status" -eq 1 ]
	[[ "$output" == *"memdup: pid 4194303: no such process — check the pid (pgrep NAME)"* ]]
	[[ "$output" == *"1 process, 40 KiB anonymous"* ]]
}

@test "kernel thread and zombie: skipped with a reason, exit 1" {
	run "$MEMDUP" 2
	[ "$status" -eq 1 ]
	[[ "$output" == *"pid 2 (kthreadd): kernel thread, it has no user memory — skipped"* ]]
	# A zombie: the child exits, its parent (exec'd sleep) never reaps it.
	bash -c 'sleep 0 & exec sleep 30' &
	parent=$!
	VPIDS+=("$parent")
	sleep 0.3
	z=$(pgrep -P "$parent")
	run "$MEMDUP" "$z"
	[ "$status" -eq 1 ]
	[[ "$output" == *"pid $z (sleep): zombie, it has no memory left — skipped"* ]]
}

@test "malformed stdin: exit 2 with the offending token" {
	run bash -c "printf '12 x3 4\n' | '$MEMDUP'"
	[ "$status" -eq 2 ]
	[ "$output" = "memdup: stdin: token 2: 'x3' is not a pid — expected whitespace-separated pids, as pgrep prints" ]
	run bash -c "printf '' | '$MEMDUP'"
	[ "$status" -eq 1 ]
	[[ "$output" == *"stdin: no pids"* ]]
}

@test "usage errors exit 2 with a hint" {
	run "$MEMDUP" --no-such-option
	[ "$status" -eq 2 ]
	[[ "$output" == *"Try 'memdup --help' for more information."* ]]
	run "$MEMDUP" --all 1
	[ "$status" -eq 2 ]
	[[ "$output" == *"--all cannot be combined with PIDs"* ]]
	run "$MEMDUP" --by page 1
	[ "$status" -eq 2 ]
	run "$MEMDUP" -o pid,nope 1
	[ "$status" -eq 2 ]
	[[ "$output" == *"unknown column 'nope'"* ]]
	run "$MEMDUP" abc
	[ "$status" -eq 2 ]
	run "$MEMDUP" --name '('
	[ "$status" -eq 2 ]
	[[ "$output" == *"invalid regular expression"* ]]
	run "$MEMDUP" -j 0 1
	[ "$status" -eq 2 ]
}

@test "--help, --version and --list-columns go to stdout and exit 0" {
	run "$MEMDUP" --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"--json"* ]]
	[[ "$output" == *"--exclude"* ]]
	run "$MEMDUP" --version
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^memdup\ \(mergemem\)\ [0-9]+\.[0-9]+ ]]
	run "$MEMDUP" --list-columns
	[ "$status" -eq 0 ]
	[[ "$output" == *"savings_pages"* ]]
}

@test "a process that exits mid-scan gives a partial report, never a crash" {
	for round in $(seq 10); do
		start_victim --table 20000
		start_victim --table 20000
		( sleep 0.0$round; kill -KILL "$VPID" ) &
		killer=$!
		run "$MEMDUP" --mapping mm-fixture --json "${VPIDS[-2]}" "${VPIDS[-1]}"
		wait "$killer"
		[ "$status" -le 1 ]
		n=$(sed -n '/^{/,$p' <<<"$output" | jq '.summary.processes + .summary.processes_failed')
		[ "$n" = "2" ]
	done
}

@test "scanned targets keep their memory and keep running in every wait state" {
	states="pause nanosleep futex spin threads"
	for state in $states; do
		start_victim --table 500 --unique 50 --zero 20 --intra 10 --state $state --status "$VDIR/status.$state"
	done
	run "$MEMDUP" -j2 --full --name "seed $TAG "
	[ "$status" -eq 0 ]
	[[ "$output" == *"5 processes"* ]]
	i=0
	for state in $states; do
		kill -USR1 "${VPIDS[$i]}"
		i=$((i + 1))
	done
	for state in $states; do
		for n in $(seq 300); do [ -s "$VDIR/status.$state" ] && break; sleep 0.01; done
		[ "$(cat "$VDIR/status.$state")" = "verify ok 580" ]
	done
	for p in "${VPIDS[@]}"; do kill -0 "$p"; done
}

@test "reading never unshares: fork-shared frames stay shared across scans" {
	start_victim --table 500 --fork
	child=$(pgrep -P "$VPID")
	VPIDS+=("$child")
	for round in 1 2; do
		run "$MEMDUP" --mapping mm-fixture --json "$VPID" "$child"
		[ "$status" -eq 0 ]
		[ "$(jq -c '.summary | [.anon_pages, .anon_frames, .shared_pages, .duplicate_pages, .savings_pages]' <<<"$output")" = "[1000,500,1000,1000,0]" ]
	done
	MERGEMEM_PROC_MEM=1 run "$MEMDUP" --mapping mm-fixture --json "$VPID" "$child"
	[ "$(jq .summary.shared_pages <<<"$output")" = "1000" ]
}
