#!/usr/bin/env bats
# Options cannot drift: every long option memdup --help lists appears in its
# man page and its bash completion; the man page renders without warnings.

load helpers

long_options() {
	"$1" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u
}

@test "every long option of each tool is in its man page and bash completion" {
	missing=""
	for tool in memdup memmerge; do
		man=$(sed 's/\\//g' man/$tool.1)
		for opt in $(long_options "$BUILD/tools/$tool"); do
			grep -qE -- "${opt}([^a-z-]|$)" <<<"$man" || missing+=" $tool.1:$opt"
			grep -qw -- "$opt" completions/bash/$tool || missing+=" bash/$tool:$opt"
		done
	done
	man=$(sed 's/\\//g' man/memsplit.1)
	for sub in snapshot diff watch; do
		for opt in $("$BUILD/tools/memsplit" $sub --help | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
			grep -qE -- "${opt}([^a-z-]|$)" <<<"$man" || missing+=" memsplit.1:$sub:$opt"
			grep -qw -- "$opt" completions/bash/memsplit || missing+=" bash/memsplit:$sub:$opt"
		done
	done
	[ -z "$missing" ] || { echo "missing:$missing"; false; }
}

@test "man pages render without groff warnings" {
	for page in man/*.[0-9]; do
		out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$page" 2>&1 >/dev/null)
		[ -z "$out" ] || { echo "$page: $out"; false; }
	done
}

@test "the bash completion offers options, values and pids" {
	[ -r /usr/share/bash-completion/bash_completion ] || skip "bash-completion not installed"
	run bash -c '
		source /usr/share/bash-completion/bash_completion
		source completions/bash/memdup
		complete_words() { COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; _memdup; printf "%s\n" "${COMPREPLY[@]}"; }
		echo "[opts]"; complete_words memdup --by
		echo "[by]"; complete_words memdup --by ""
		echo "[pid]"; complete_words memdup 1
		source completions/bash/memmerge
		complete_words() { COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; _memmerge; printf "%s\n" "${COMPREPLY[@]}"; }
		echo "[mode]"; complete_words memmerge --mode ""
		echo "[backend]"; complete_words memmerge --backend k
	'
	[ "$status" -eq 0 ]
	[[ "$output" == *"[by]"*"process"*"mapping"* ]]
	[[ "$output" == *"[pid]"$'\n'"1"$'\n'* ]]
	[[ "$output" == *"[mode]"$'\n'"prctl"$'\n'"madvise"$'\n'"[backend]"$'\n'"kmod"* ]]
}

@test "one uapi header: the library compiles kmod/mergemem.h itself, no copy exists" {
	[ "$(git ls-files | grep -c '/mergemem\.h$\|^mergemem\.h$')" = "1" ]
	grep -q '#include "mergemem.h"' lib/src/backend/kmod.hpp
	grep -q 'PROJECT_SOURCE_DIR}/kmod' lib/CMakeLists.txt
	grep -q '#include "mergemem.h"' kmod/mergemem.c
}
