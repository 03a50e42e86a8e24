#!/bin/sh
# CLI scenarios inside the guest, with --backend kmod.
mkdir -p /run /tmp
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
fail=0
check() { if eval "$1"; then echo "GUEST CLI ok: $2"; else echo "GUEST CLI FAIL: $2"; fail=1; fi; }
/victim --table 256 --unique 16 --ready /tmp/r1 --status /tmp/s1 &
v1=$!
/victim --table 256 --unique 16 --ready /tmp/r2 --status /tmp/s2 &
v2=$!
while [ ! -e /tmp/r1 ] || [ ! -e /tmp/r2 ]; do sleep 0.1; done
# memdup through PAGEINFO must report exactly what the procfs backend does.
same_json() {
	/memdup --backend procfs --json --top 5 --by mapping "$@" | grep -v '"backend"' > /tmp/a.json
	/memdup --backend kmod --json --top 5 --by mapping "$@" | grep -v '"backend"' > /tmp/b.json
	diff /tmp/a.json /tmp/b.json
}
check "same_json $v1 $v2" "memdup --backend kmod JSON equals procfs (private pages)"
check "/memdup --backend kmod --json $v1 $v2 | grep -q '\"backend\": \"kmod\"'" "memdup reports the kmod backend"
before=$(cat /sys/kernel/mm/ksm/run /sys/kernel/mm/ksm/pages_to_scan /sys/kernel/mm/ksm/sleep_millisecs)
/memmerge --backend kmod --no-snapshot --timeout 120 -v $v1 $v2 > /tmp/merge.out 2>&1
rc=$?
cat /tmp/merge.out
check "[ $rc -eq 0 ]" "memmerge --backend kmod exits 0"
check "grep -q 'backend kmod' /tmp/merge.out" "memmerge used the kmod backend"
m1=$(cat /proc/$v1/ksm_merging_pages); m2=$(cat /proc/$v2/ksm_merging_pages)
check "[ $m1 -ge 254 ] && [ $m2 -ge 254 ]" "merged >= 99% of 256 pages ($m1, $m2)"
after=$(cat /sys/kernel/mm/ksm/run /sys/kernel/mm/ksm/pages_to_scan /sys/kernel/mm/ksm/sleep_millisecs)
check "[ \"$before\" = \"$after\" ]" "KSM knobs restored"
check "same_json $v1 $v2" "memdup --backend kmod JSON equals procfs (merged pages)"
# memsplit through PAGEINFO: victim 1 rewrites every 10th of its 256 table
# pages (0, 10 ... 250): exactly 26 copy-on-write breaks.
/memsplit snapshot --backend kmod -o /tmp/snap $v1 $v2
kill -USR2 $v1
sleep 0.5
/memsplit diff --backend kmod --pages --json /tmp/snap > /tmp/split.json
check "grep -q '\"broken_pages\": 26,' /tmp/split.json" "memsplit --backend kmod finds the 26 known breaks"
check "[ \$(grep -c '\"changed\": \[' /tmp/split.json) -eq 26 ]" "memsplit shows the changed bytes of each"
/memsplit diff --backend procfs --pages --json /tmp/snap > /tmp/split2.json
grep -v -e seconds_since -e per_hour /tmp/split.json > /tmp/split.a
grep -v -e seconds_since -e per_hour /tmp/split2.json > /tmp/split.b
check "diff /tmp/split.a /tmp/split.b" "memsplit diff: kmod and procfs report the same (timing aside)"
kill -USR1 $v1 $v2
sleep 0.5
check "grep -q 'verify ok 272' /tmp/s1 && grep -q 'verify ok 272' /tmp/s2" "victims verify their memory (after the rewrite)"
kill $v1 $v2

# A target a debugger holds: ptrace injection is refused, the module is not.
/victim --table 64 --ready /tmp/r3 &
v3=$!
while [ ! -e /tmp/r3 ]; do sleep 0.1; done
/tracer $v3 &
t3=$!
sleep 0.3
check "grep -q 'TracerPid:.$t3' /proc/$v3/status" "the target is traced"
/memmerge --backend ptrace --no-snapshot --timeout 10 $v3 > /tmp/p.out 2>&1
check "grep -q 'already traced' /tmp/p.out" "ptrace backend refuses the traced target"
/memmerge --backend kmod --no-snapshot --timeout 30 $v3 > /tmp/k.out 2>&1
check "[ \$? -le 1 ] && grep -q ' mg' /proc/$v3/smaps" "kmod backend makes the traced target mergeable"
kill $t3 $v3

# Bench: the same memdup scan through PAGEINFO and through procfs, one run
# each way after a warm-up, in the same guest (TCG: only the ratio means anything).
/victim --table 4096 --unique 4096 --ready /tmp/b1 &
b1=$!
/victim --table 4096 --unique 4096 --ready /tmp/b2 &
b2=$!
while [ ! -e /tmp/b1 ] || [ ! -e /tmp/b2 ]; do sleep 0.1; done
ticks() { cut -d' ' -f1 /proc/uptime | tr -d .; }
for be in procfs kmod procfs kmod; do
	t0=$(ticks); /memdup --backend $be -q $b1 $b2 > /dev/null; t1=$(ticks)
	echo "GUEST BENCH $be $((t1 - t0))0 ms"
done
kill $b1 $b2
[ $fail -eq 0 ] && echo "GUEST CLI PASS"
