#!/bin/bash
# The Debian packages from `make deb`: install them with apt (which pulls
# in their dependencies), smoke-test each tool, the library, the units and
# the DKMS module build, then purge them and check nothing is left.
# Needs root; refuses to run over an existing installation.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-build-deb}
pass=0 fail=0
ok() { echo "ok $*"; pass=$((pass + 1)); }
bad() { echo "not ok $*"; fail=$((fail + 1)); }
check() { local what=$1; shift; if "$@" >/tmp/mm-deb.out 2>&1; then ok "$what"; else bad "$what"; sed 's/^/#   /' /tmp/mm-deb.out; fi; }

[ "$(id -u)" = 0 ] || { echo "deb: needs root" >&2; exit 2; }
if dpkg-query -W -f='${Status}' mergemem 2>/dev/null | grep -q installed; then
	echo "deb: mergemem is already installed here; not touching it" >&2
	exit 2
fi
debs=("$OUT"/mergemem_*.deb "$OUT"/libmergemem-dev_*.deb "$OUT"/mergemem-dkms_*.deb)
for d in "${debs[@]}"; do [ -e "$d" ] || { echo "deb: $d missing — run make deb" >&2; exit 2; }; done
knobs_before=$(grep -H . /sys/kernel/mm/ksm/{run,pages_to_scan,sleep_millisecs} 2>/dev/null)

export DEBIAN_FRONTEND=noninteractive
check "install the three packages with apt" apt-get install -y -qq --no-install-recommends "${debs[@]/#/./}"
check "dpkg lists them installed" bash -c 'for p in mergemem libmergemem-dev mergemem-dkms; do dpkg-query -W -f="\${Status}\n" $p | grep -qx "install ok installed" || exit 1; done'

# The tools, from /usr/bin, against this shell.
check "memdup --version" bash -c '[ "$(/usr/bin/memdup --version)" = "memdup (mergemem) 0.1.0" ]'
check "memdup scans a process" bash -c '/usr/bin/memdup --json $$ | jq -e ".summary.processes == 1"'
check "memmerge --dry-run" /usr/bin/memmerge --dry-run $$
check "memmerge: the shipped config selects nothing" bash -c '/usr/bin/memmerge --config /etc/mergemem/memmerge.conf 2>&1 | grep -q "nothing to do"'
check "memsplit snapshot and diff" bash -c 'f=$(mktemp) && /usr/bin/memsplit snapshot -q -o $f $$ && /usr/bin/memsplit diff $f --json | jq -e ".summary.processes == 1"; r=$?; rm -f $f; exit $r'
check "man pages installed" bash -c 'for p in memdup memmerge memsplit mergemem.7; do man -w ${p%.7} >/dev/null || exit 1; done; man -w 7 mergemem'
check "completions installed" test -e /usr/share/bash-completion/completions/memdup -a -e /usr/share/zsh/vendor-completions/_memmerge -a -e /usr/share/fish/vendor_completions.d/memsplit.fish
check "units verify" systemd-analyze verify /lib/systemd/system/memmerge.service /lib/systemd/system/memmerge.timer
check "the tools need no RPATH" bash -c '! readelf -d /usr/bin/memdup | grep -q "R\(UN\)\?PATH"'
check "pkg-config and the library" bash -c 'printf "#include <mergemem/format.hpp>\n#include <cstdio>\nint main(){std::puts(mergemem::human_bytes(1<<20).c_str());}\n" > /tmp/mm-deb.cpp && g++ /tmp/mm-deb.cpp $(pkg-config --cflags --libs mergemem) -o /tmp/mm-deb && [ "$(/tmp/mm-deb)" = "1.0 MiB" ]'
check "dkms built mergemem.ko for the installed headers" bash -c '
	built=0
	for k in /lib/modules/*; do
		[ -e "$k/build/Makefile" ] || continue
		dkms status -m mergemem -k "${k##*/}" | grep -q installed || exit 1
		[ -e "$k/updates/dkms/mergemem.ko" ] || [ -e "$k/updates/dkms/mergemem.ko.xz" ] || exit 1
		built=$((built + 1))
	done
	[ $built -gt 0 ]'

check "purge all three" apt-get purge -y -qq mergemem libmergemem-dev mergemem-dkms
check "nothing left behind" bash -c '
	for f in /usr/bin/memdup /usr/bin/memmerge /usr/bin/memsplit /usr/include/mergemem /etc/mergemem \
		/lib/systemd/system/memmerge.service /usr/src/mergemem-0.1.0 /var/lib/dkms/mergemem; do
		[ ! -e "$f" ] || { echo "left: $f"; exit 1; }
	done
	! ls /usr/lib/*/libmergemem* 2>/dev/null
	! ls /lib/modules/*/updates/dkms/mergemem.ko* 2>/dev/null'
check "KSM knobs untouched" bash -c '[ "$(grep -H . /sys/kernel/mm/ksm/{run,pages_to_scan,sleep_millisecs} 2>/dev/null)" = "$1" ]' _ "$knobs_before"
rm -f /tmp/mm-deb /tmp/mm-deb.cpp /tmp/mm-deb.out
echo "deb: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
