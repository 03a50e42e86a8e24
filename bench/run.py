#!/usr/bin/env python3
"""memdup benchmark (make bench).  Measures in one run, over the same
fixture processes (>= 2 GiB resident anonymous memory):
  (a) the ceiling: one raw process_vm_readv + XXH3-128 pass, no bookkeeping
  (b) memdup -j1 and -j2
  (c) the naive estimator (bench/naive.py: /proc/PID/mem + hashlib)
plus memdup's peak RSS and its time on a 64 GiB sparse reservation.
Prints figures, ratios and the issue's targets.  Never part of make test."""
import json
import shutil
import os
import subprocess
import sys
import tempfile
import time

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
HERE = os.path.dirname(os.path.abspath(__file__))
MEMDUP = f"{BUILD}/tools/memdup"
VICTIM = f"{BUILD}/tests/victim"
CEILING = f"{BUILD}/bench/mm_ceiling"
GIB = 1 << 30


def start_victims(specs):
    d = tempfile.mkdtemp(prefix="mm-bench.")
    procs = []
    for i, args in enumerate(specs):
        ready = f"{d}/ready.{i}"
        procs.append((subprocess.Popen([VICTIM, *args, "--ready", ready], stdin=subprocess.DEVNULL), ready))
    import atexit
    atexit.register(shutil.rmtree, d, True)
    for p, ready in procs:
        while not os.path.exists(ready):
            if p.poll() is not None:
                sys.exit(f"bench: victim exited with {p.returncode}")
            time.sleep(0.05)
    return [p for p, _ in procs]


def run(cmd):
    """Runs cmd; returns (wall seconds, peak RSS in bytes, stdout)."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    dt = time.monotonic() - t0
    if os.waitstatus_to_exitcode(status) not in (0,):
        sys.exit(f"bench: {' '.join(cmd[:3])} ... exited {os.waitstatus_to_exitcode(status)}")
    return dt, ru.ru_maxrss * 1024, out


def best(n, cmd):
    runs = [run(cmd) for _ in range(n)]
    return min(runs, key=lambda r: r[0])


def main():
    print(f"# memdup benchmark, {os.cpu_count()} CPUs, build {BUILD}")
    # 4 x (384 MiB shared table + 128 MiB own data) = 2 GiB anonymous.
    victims = start_victims([["--table", "98304", "--unique", "32768", "--seed", "77"] for _ in range(4)])
    pids = [str(v.pid) for v in victims]
    try:
        _, _, out = run([CEILING, *pids])  # warm-up
        ceil = min((json.loads(run([CEILING, *pids])[2]) for _ in range(3)), key=lambda c: c["seconds"])
        ceil_rate = ceil["bytes"] / ceil["seconds"] / GIB

        j1_t, j1_rss, out = best(3, [MEMDUP, "-j1", "--json", "-q", *pids])
        rep = json.loads(out)
        present = rep["summary"]["present_pages"] * rep["page_size"]
        j2_t, j2_rss, _ = best(3, [MEMDUP, "-j2", "--json", "-q", *pids])
        j1_rate = present / j1_t / GIB
        j2_rate = present / j2_t / GIB

        naive = json.loads(run([sys.executable, f"{HERE}/naive.py", *pids])[2])
        naive_rate = naive["bytes"] / naive["seconds"] / GIB
    finally:
        for v in victims:
            v.kill()
            v.wait()

    sparse = start_victims([["--reserve", "64", "--table", "4096", "--seed", "78"]])
    try:
        sp_t, _, out = best(5, [MEMDUP, "-j1", "--json", "-q", str(sparse[0].pid)])
        sp_t2, _, _ = best(5, [MEMDUP, "-j2", "--json", "-q", str(sparse[0].pid)])
    finally:
        sparse[0].kill()
        sparse[0].wait()

    pages = rep["summary"]["present_pages"]
    rss_limit = 64 * (1 << 20) + 24 * pages
    peak = max(j1_rss, j2_rss)
    rows = [
        ("scanned", f"{present / GIB:.2f} GiB in {len(pids)} processes ({pages} pages, hash {rep['hash']})"),
        ("ceiling (process_vm_readv + XXH3, 1 thread)", f"{ceil_rate:.2f} GiB/s ({ceil['seconds']:.3f} s)"),
        ("memdup -j1", f"{j1_rate:.2f} GiB/s ({j1_t:.3f} s), {j1_rate / ceil_rate:.2f}x ceiling (target >= 0.8)"),
        ("memdup -j2", f"{j2_rate:.2f} GiB/s ({j2_t:.3f} s), {j2_rate / j1_rate:.2f}x -j1 (target >= 1.6)"),
        ("naive estimator (python, /proc/PID/mem + sha256)",
         f"{naive_rate:.3f} GiB/s ({naive['seconds']:.1f} s); memdup -j1 is {j1_rate / naive_rate:.0f}x, "
         f"-j2 {j2_rate / naive_rate:.0f}x (target >= 50)"),
        ("memdup peak RSS", f"{peak / (1 << 20):.1f} MiB (target <= {rss_limit / (1 << 20):.1f} MiB = 64 MiB + 24 B x {pages})"),
        ("sparse: 64 GiB reserved, 16 MiB touched", f"-j1 {sp_t * 1000:.1f} ms, -j2 {sp_t2 * 1000:.1f} ms (target <= 50 ms)"),
    ]
    w = max(len(r[0]) for r in rows)
    for k, v in rows:
        print(f"{k:<{w}}  {v}")
    if rep["summary"]["duplicate_pages"] != naive["duplicate_pages"]:
        print(f"note: naive counted {naive['duplicate_pages']} duplicate pages (all pages), "
              f"memdup {rep['summary']['duplicate_pages']} (anonymous only)")


if __name__ == "__main__":
    main()
