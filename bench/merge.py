#!/usr/bin/env python3
"""memmerge benchmark: time to >= 99% merged and ksmd CPU, for 2 x 256 MiB
and 8 x 128 MiB of identical tables, with memmerge's session and with the
same targets opted in but ksmd at its default pace (pages_to_scan 100,
sleep_millisecs 20), measured up to a cap.  Needs root and KSM."""
import json
import shutil
import os
import subprocess
import sys
import tempfile
import threading
import time

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
CAP = float(os.environ.get("MERGE_BENCH_CAP", "120"))
MEMMERGE = f"{BUILD}/tools/memmerge"
VICTIM = f"{BUILD}/tests/victim"


def start(n, pages, seed):
    d = tempfile.mkdtemp(prefix="mm-mbench.")
    procs = []
    for i in range(n):
        ready = f"{d}/r{i}"
        procs.append((subprocess.Popen([VICTIM, "--table", str(pages), "--seed", str(seed), "--ready", ready]), ready))
    for p, ready in procs:
        while not os.path.exists(ready):
            time.sleep(0.02)
    shutil.rmtree(d, True)
    return [p for p, _ in procs]


def merging(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/ksm_merging_pages") as f:
                total += int(f.read())
        except OSError:
            pass
    return total


def run(n, pages, seed, extra):
    victims = start(n, pages, seed)
    pids = [str(v.pid) for v in victims]
    want = 0.99 * n * pages
    t99 = [None]
    t0 = time.monotonic()
    done = threading.Event()

    def watch():
        while not done.is_set():
            if merging(pids) >= want:
                t99[0] = time.monotonic() - t0
                return
            time.sleep(0.01)

    th = threading.Thread(target=watch)
    th.start()
    out = subprocess.run([MEMMERGE, "--json", "-q", "--no-snapshot", *extra, *pids], capture_output=True, text=True)
    wall = time.monotonic() - t0
    done.set()
    th.join()
    for v in victims:
        v.kill()
        v.wait()
    rep = json.loads(out.stdout)
    return t99[0], wall, rep["summary"]["ksmd_cpu_seconds"], rep["summary"]["ended"], merging(pids)


def main():
    if os.geteuid() != 0:
        sys.exit("merge bench: needs root (it drives ksmd)")
    print(f"# memmerge benchmark, cap for default settings {CAP:.0f} s")
    rows = []
    for n, pages, label in ((2, 65536, "2 x 256 MiB"), (8, 32768, "8 x 128 MiB")):
        fast = run(n, pages, 91 + n, [])
        slow = run(n, pages, 191 + n, ["--scan-rate", "100", "--sleep", "20", "--timeout", str(CAP)])
        rows.append((label, fast, slow))
    for label, fast, slow in rows:
        t, wall, cpu, ended, _ = fast
        st, swall, scpu, sended, _ = slow
        slow_t = st if st is not None else CAP
        ratio = slow_t / t if t else float("nan")
        print(f"{label}: memmerge >=99% in {t:.2f} s (run {wall:.2f} s, ended {ended}), ksmd CPU {cpu:.2f} s "
              f"= {cpu / wall:.2f}x wall (target <= 1.5)")
        print(f"{label}: defaults    >=99% in " + (f"{st:.1f} s" if st is not None else f">{CAP:.0f} s (cap)") +
              f", ksmd CPU {scpu:.2f} s; memmerge is {'>=' if st is None else ''}{ratio:.0f}x faster (target >= 30)")
    print("targets: 2 x 256 MiB <= 2 s")


if __name__ == "__main__":
    main()
