#!/bin/bash
# Build the libFuzzer harnesses with clang-16 and run each for SECONDS
# (default 10) on its checked-in seed corpus, or until RUNS executions if
# that comes first.  `make fuzz` runs each to 10^6 executions.
#
# GCC 12's libstdc++ offers std::expected only when __cpp_concepts >=
# 202002L, which clang 16 does not claim although it compiles <expected>
# fine; the macro is raised for these builds only.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_EACH=${1:-10}
RUNS=${2:--1}
out=${FUZZ_BUILD:-build-fuzz}
mkdir -p "$out"
CXX=clang++-16
flags="-std=c++2b -O1 -g -Wno-macro-redefined -D__cpp_concepts=202002L -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=all -Ilib/include -Ilib/src -Ikmod"
srcs="lib/src/procfs/parse.cpp lib/src/select/pidlist.cpp lib/src/split/snapshot.cpp lib/src/util/error.cpp
      lib/src/util/fd.cpp lib/src/report/analyze.cpp lib/src/scan/hash.cpp lib/src/scan/locator.cpp
      lib/src/select/select.cpp lib/src/procfs/read.cpp lib/src/util/log.cpp"
# The hash unit, once per ISA level, as lib/CMakeLists.txt builds it.
for isa in sse2:1: avx2:2:-mavx2 avx512:3:-mavx512f\ -mavx512bw\ -mavx2; do
	IFS=: read -r suffix level extra <<<"$isa"
	# shellcheck disable=SC2086
	$CXX -std=c++2b -O1 -c -fsanitize=fuzzer-no-link,address $extra -DMM_HASH_SUFFIX=$suffix -DXXH_VECTOR=$level \
		lib/src/scan/hash_impl.cpp -o "$out/hash_$suffix.o"
	srcs="$srcs $out/hash_$suffix.o"
done
names=(x stat status maps ksm_stat sysfs pidlist snapshot vmstat)
total_fail=0
for t in 1 2 3 4 5 6 7 8; do
	name=${names[$t]}
	bin=$out/fuzz_$name
	stale=0
	[ -x "$bin" ] || stale=1
	for f in tests/fuzz/fuzz_parsers.cpp $srcs; do [ "$f" -nt "$bin" ] && stale=1; done
	if [ "$stale" = 1 ]; then
		# shellcheck disable=SC2086
		$CXX $flags -DMM_FUZZ_TARGET=$t tests/fuzz/fuzz_parsers.cpp $srcs \
			-o "$bin" -lpthread -lproc2 2>"$out/$name.build.log" || { cat "$out/$name.build.log"; exit 1; }
	fi
	mkdir -p "$out/corpus_$name"
	t0=$(date +%s.%N)
	res=$("$bin" -max_total_time="$SECONDS_EACH" -runs="$RUNS" -max_len=65536 "$out/corpus_$name" "tests/fuzz/corpus/$name" 2>&1 | tail -3)
	runs=$(grep -oE 'Done [0-9]+ runs' <<<"$res" | grep -oE '[0-9]+' || echo 0)
	if grep -qE "ERROR|SUMMARY|crash-|deadly signal" <<<"$res"; then
		echo "fuzz $name: FINDING"; echo "$res"; total_fail=$((total_fail + 1))
	else
		echo "fuzz $name: $runs executions in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s, 0 findings"
		if [ "$RUNS" -gt 0 ] && [ "$runs" -lt "$RUNS" ]; then
			echo "fuzz $name: stopped by the ${SECONDS_EACH} s limit before $RUNS executions"
			total_fail=$((total_fail + 1))
		fi
	fi
done
echo "fuzz: $((8 - total_fail)) passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
