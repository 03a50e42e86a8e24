#!/usr/bin/env python3
"""memsplit benchmark: 2 x 256 MiB merged by memmerge, then snapshot and
diff time (targets <= 100 ms each, diff without --pages), snapshot size
(target <= 16 bytes per recorded page) and peak RSS.  Needs root and KSM."""
import json
import shutil
import os
import subprocess
import sys
import tempfile
import time

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
VICTIM = f"{BUILD}/tests/victim"


def timed(cmd):
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    return time.monotonic() - t0, ru.ru_maxrss * 1024, out, os.waitstatus_to_exitcode(status)


def main():
    if os.geteuid() != 0:
        sys.exit("split bench: needs root")
    d = tempfile.mkdtemp(prefix="mm-sbench.")
    victims = []
    for i in range(2):
        victims.append(subprocess.Popen([VICTIM, "--table", "65536", "--seed", "333", "--ready", f"{d}/r{i}"]))
    for i in range(2):
        while not os.path.exists(f"{d}/r{i}"):
            time.sleep(0.02)
    pids = [str(v.pid) for v in victims]
    try:
        subprocess.run([f"{BUILD}/tools/memmerge", "-q", "--no-snapshot", *pids], check=True, stdout=subprocess.DEVNULL)
        snap = f"{d}/snap"
        snaps = [timed([f"{BUILD}/tools/memsplit", "snapshot", "-o", snap, *pids]) for _ in range(5)]
        diffs = [timed([f"{BUILD}/tools/memsplit", "diff", snap, "--json"]) for _ in range(5)]
        rep = json.loads(diffs[-1][2])
        pages = rep["summary"]["merged_pages"]
        size = os.path.getsize(snap)
        with open(snap, "rb") as f:
            header = f.read(64)
        recorded = int.from_bytes(header[48:56], "little")  # the header's page count
    finally:
        for v in victims:
            v.kill()
            v.wait()
        shutil.rmtree(d, True)
    st = min(s[0] for s in snaps)
    dt = min(s[0] for s in diffs)
    print("# memsplit benchmark: 2 x 256 MiB merged")
    print(f"snapshot   {st * 1000:.0f} ms (best of 5; target <= 100 ms), peak RSS {max(s[1] for s in snaps) / 2**20:.1f} MiB")
    print(f"diff       {dt * 1000:.0f} ms (best of 5; target <= 100 ms), peak RSS {max(s[1] for s in diffs) / 2**20:.1f} MiB")
    print(f"size       {size} bytes for {recorded} recorded pages ({pages} merged): {size / recorded:.2f} bytes "
          f"per recorded page (target <= 16; records are 16 bytes, plus header, process and mapping tables)")


if __name__ == "__main__":
    main()
