#!/usr/bin/env bats
# Options cannot drift: every long option memdup --help lists appears in its
# man page and its bash completion; the man page renders without warnings.

load helpers

long_options() {
	"$1" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u
}

# in_completion SHELL TOOL OPTION: the option is offered by that shell's completion.
in_completion() {
	local f
	case $1 in
	bash) f=completions/bash/$2 ;;
	zsh) f=completions/zsh/_$2 ;;
	fish) f=completions/fish/$2.fish ;;
	esac
	case $1 in
	fish) grep -qE -- "-l ${3#--}( |\$)" "$f" ;;
	zsh) grep -qE -- "(\(|\)|'|,|^|[[:space:]])${3}(=|\[|\}|'|[[:space:]])" "$f" ;;
	*) grep -qw -- "$3" "$f" ;;
	esac
}

@test "every long option of each tool is in its man page and in the bash, zsh and fish completions" {
	missing=""
	for tool in memdup memmerge; do
		man=$(sed 's/\\//g' man/$tool.1)
		for opt in $(long_options "$BUILD/tools/$tool"); do
			grep -qE -- "${opt}([^a-z-]|$)" <<<"$man" || missing+=" $tool.1:$opt"
			for sh in bash zsh fish; do
				in_completion $sh $tool "$opt" || missing+=" $sh/$tool:$opt"
			done
		done
	done
	man=$(sed 's/\\//g' man/memsplit.1)
	for sub in snapshot diff watch; do
		for opt in $("$BUILD/tools/memsplit" $sub --help | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
			grep -qE -- "${opt}([^a-z-]|$)" <<<"$man" || missing+=" memsplit.1:$sub:$opt"
			for sh in bash zsh fish; do
				in_completion $sh memsplit "$opt" || missing+=" $sh/memsplit:$sub:$opt"
			done
		done
	done
	[ -z "$missing" ] || { echo "missing:$missing"; false; }
}

@test "the drift check itself catches a missing option" {
	! in_completion fish memdup --no-such-option
	! in_completion zsh memdup --no-such-option
	! in_completion bash memdup --no-such-option
	in_completion zsh memdup --format
	in_completion fish memsplit --interval
}

@test "the zsh completions parse, and the fish completions offer values" {
	for f in completions/zsh/_*; do zsh -n "$f"; done
	run fish -c 'source completions/fish/memdup.fish; complete -C "memdup --format "'
	[ "$status" -eq 0 ]
	[ "$(cut -f1 <<<"$output" | sort | tr '\n' ' ')" = "json prometheus table " ]
	run fish -c 'source completions/fish/memmerge.fish; complete -C "memmerge --mode "'
	[ "$(cut -f1 <<<"$output" | tr '\n' ' ')" = "madvise prctl " ]
	run fish -c 'source completions/fish/memsplit.fish; complete -C "memsplit "'
	[[ "$output" == *$'snapshot\t'* && "$output" == *$'diff\t'* && "$output" == *$'watch\t'* ]]
	run fish -c 'source completions/fish/memsplit.fish; complete -C "memsplit diff --f"'
	[ "$(cut -f1 <<<"$output")" = "--format" ]
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
		source completions/bash/memsplit
		complete_words() { COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; _memsplit; printf "%s\n" "${COMPREPLY[@]}"; }
		echo "[sub]"; complete_words memsplit s
		echo "[format]"; complete_words memsplit diff --format p
		echo "[color]"; complete_words memsplit watch --color n
		echo "[end]"
	'
	[ "$status" -eq 0 ]
	[[ "$output" == *"[sub]"$'\n'"snapshot"$'\n'* ]]
	[[ "$output" == *"[format]"$'\n'"prometheus"$'\n'"[color]"$'\n'"never"$'\n'"[end]"* ]]
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
