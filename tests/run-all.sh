#!/bin/bash
# The whole test suite over one build tree: GoogleTest (through ctest),
# then bats.  Ends with "N passed, N failed".
set -u
BUILD=$(cd "${1:-build}" && pwd)
export BUILD
cd "$(dirname "$0")/.."

fail=0 pass=0
echo "== unit tests (GoogleTest)"
if out=$(cd "$BUILD" && ctest --output-on-failure 2>&1); then :; fi
echo "$out" | tail -n 30
u_pass=$(echo "$out" | sed -n 's/.* tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2 \1/p')
if [ -n "$u_pass" ]; then
	set -- $u_pass
	pass=$((pass + $1 - $2)); fail=$((fail + $2))
else
	fail=$((fail + 1))
fi

echo "== CLI tests (bats)"
# No test may hang CI: each bats test gets two minutes.
export BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-120}
bats_out=$(bats --tap tests/cli 2>&1)
echo "$bats_out"
b_ok=$(grep -c '^ok ' <<<"$bats_out")
b_bad=$(grep -c '^not ok ' <<<"$bats_out")
pass=$((pass + b_ok)); fail=$((fail + b_bad))
[ "$b_ok" -gt 0 ] || fail=$((fail + 1))

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
