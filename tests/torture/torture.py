#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Fault torture: the tools against targets that are signalled, killed and
interrupted at random moments.  Run it as root on a build tree (make
torture runs it on the ASan + UBSan build):

    tests/torture/torture.py BUILD [--scale S] [--seed N]

Three suites, each bounded in count (--scale multiplies the counts) and in
time (every tool run has a deadline):

  inject  >= 200 ptrace injections (memmerge, procfs backend) into targets
          waiting in pause, nanosleep, read, futex, epoll, spin and
          multi-threaded states, while other signals hit the targets
  kill    >= 100 runs each of memdup, memmerge and memsplit with one
          target SIGKILLed at a random moment
  signal  >= 100 memmerge sessions sent SIGINT or SIGTERM at a random moment

A run passes when the tool neither crashes (a signal other than the one we
sent it, a sanitizer report, a deadline) nor fails fatally (exit 3); every
surviving target then verifies its own memory and is back in the syscall it
was waiting in; and every KSM sysfs knob equals its value from before.
Prints one tally line per suite and exits 1 if anything failed.
"""
import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

KSM = "/sys/kernel/mm/ksm"
KNOBS = ["run", "pages_to_scan", "sleep_millisecs", "smart_scan", "advisor_mode", "use_zero_pages",
         "max_page_sharing", "merge_across_nodes", "stable_node_chains_prune_millisecs"]
SANITIZER_MARKS = ("AddressSanitizer", "runtime error:", "LeakSanitizer", "UndefinedBehaviorSanitizer")
SANITIZER_EXIT = 99  # ASan/UBSan report with this status, which no tool uses


def knobs():
    out = {}
    for k in KNOBS:
        try:
            with open(f"{KSM}/{k}") as f:
                out[k] = f.read().strip()
        except OSError:
            pass
    return out


def restore_knobs(saved):
    for k, v in saved.items():
        try:
            with open(f"{KSM}/{k}", "w") as f:
                # advisor_mode reads "[none] scan-time": write the chosen one.
                f.write(v[v.index("[") + 1:v.index("]")] if "[" in v else v)
        except OSError:
            pass


class Victim:
    """One fixture process: a table of known pages, waiting in `state`."""

    def __init__(self, t, state="pause", table=256, extra=()):
        self.t = t
        self.dir = tempfile.mkdtemp(dir=t.tmp)
        self.status = f"{self.dir}/status"
        ready = f"{self.dir}/ready"
        self.state = state
        self.proc = subprocess.Popen(
            [t.victim, "--seed", str(t.tag), "--table", str(table), "--state", state, "--status", self.status,
             "--ready", ready, *extra],
            stdin=subprocess.PIPE if state == "read" else subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, TMPDIR=self.dir))
        self.pid = self.proc.pid
        self.table = table
        t.victims.append(self)
        deadline = time.monotonic() + 10
        while not os.path.exists(ready):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"victim ({state}) did not become ready")
            time.sleep(0.002)
        self.syscall = self.waiting_syscall() if state != "spin" else "running"

    def waiting_syscall(self, timeout=2.0):
        """The syscall number the main thread waits in (or 'running')."""
        deadline = time.monotonic() + timeout
        nr = "running"
        while time.monotonic() < deadline:
            try:
                with open(f"/proc/{self.pid}/syscall") as f:
                    nr = f.read().split()[0]
            except OSError:
                return "gone"
            if nr != "running":
                return nr
            time.sleep(0.001)
        return nr

    def alive(self):
        return self.proc.poll() is None

    def lines(self):
        try:
            with open(self.status) as f:
                return f.read().splitlines()
        except OSError:
            return []

    def check(self):
        """None if the victim is intact, else what is wrong."""
        if not self.alive():
            return f"victim {self.pid} ({self.state}) died: {self.proc.returncode}"
        os.kill(self.pid, signal.SIGCONT)
        if self.state != "spin":
            now = self.waiting_syscall()
            # 219 is restart_syscall: a sleep the kernel resumes after a stop.
            if now != self.syscall and not (now == "219" and self.state in ("nanosleep", "threads")):
                return f"victim {self.pid} ({self.state}) waits in syscall {now}, was {self.syscall}"
        before = len(self.lines())
        os.kill(self.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            new = self.lines()[before:]
            v = [ln for ln in new if ln.startswith("verify")]
            if v:
                if v[0] != f"verify ok {self.table}":
                    return f"victim {self.pid} ({self.state}): {v[0]}"
                break
            time.sleep(0.002)
        else:
            return f"victim {self.pid} ({self.state}) did not answer the verify signal"
        bad = [ln for ln in self.lines() if "FAIL" in ln or "error" in ln]
        if bad:
            return f"victim {self.pid} ({self.state}): {bad[0]}"
        if self.state == "read":
            # Its one blocking read must still complete with our byte.
            self.proc.stdin.write(b"x")
            self.proc.stdin.flush()
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not any(ln.startswith("read") for ln in self.lines()):
                time.sleep(0.002)
            got = [ln for ln in self.lines() if ln.startswith("read")]
            if got != ["read x"]:
                return f"victim {self.pid} (read): {got or 'no read result'}"
            self.syscall = self.waiting_syscall()  # now in pause()
        return None

    def kill(self):
        if self.alive():
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdin:
            self.proc.stdin.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Torture:
    def __init__(self, args):
        self.build = os.path.abspath(args.build)
        self.victim = f"{self.build}/tests/victim"
        self.tool = {t: f"{self.build}/tools/{t}" for t in ("memdup", "memmerge", "memsplit")}
        self.scale = args.scale
        self.states = args.states.split(",")
        self.rng = random.Random(args.seed)
        self.tag = self.rng.randrange(1, 1 << 31)
        self.tmp = tempfile.mkdtemp(prefix="mm-torture.")
        self.env = dict(os.environ,
                        ASAN_OPTIONS=f"exitcode={SANITIZER_EXIT}:detect_leaks=1",
                        UBSAN_OPTIONS=f"exitcode={SANITIZER_EXIT}:halt_on_error=1:print_stacktrace=1")
        self.knobs0 = knobs()
        self.failures = []
        self.tallies = []
        self.victims = []  # every victim started, killed at the end whatever happens

    # -- running tools --------------------------------------------------

    def spawn(self, argv, block_signals=False):
        def pre():
            if block_signals:
                # Handed over race-free: memmerge unblocks them once its
                # handler is in place.
                signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=self.env, preexec_fn=pre)

    def finish(self, p, what, sent=None, deadline=60):
        """Waits for a tool; returns (status, stdout, stderr) or records a failure."""
        try:
            out, err = p.communicate(timeout=deadline)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            self.fail(what, f"no exit within {deadline} s (a hang)")
            return None
        out, err = out.decode(errors="replace"), err.decode(errors="replace")
        rc = p.returncode
        if any(m in err for m in SANITIZER_MARKS) or rc == SANITIZER_EXIT:
            self.fail(what, "sanitizer report:\n" + err[-3000:])
            return None
        if rc < 0 and -rc != sent:
            self.fail(what, f"died of signal {signal.Signals(-rc).name}\n" + err[-2000:])
            return None
        if rc == 3 or rc == 2:
            self.fail(what, f"exit {rc}: {err.strip()[-500:]}")
            return None
        return rc, out, err

    def fail(self, what, why):
        self.failures.append(f"{what}: {why}")
        print(f"FAIL {what}: {why}", file=sys.stderr, flush=True)

    def knobs_ok(self, what):
        now = knobs()
        if now != self.knobs0:
            diff = {k: (self.knobs0.get(k), now.get(k)) for k in now if now.get(k) != self.knobs0.get(k)}
            self.fail(what, f"KSM knobs changed: {diff}")
            restore_knobs(self.knobs0)
            return False
        return True

    def check_victims(self, what, victims):
        ok = True
        for v in victims:
            why = v.check()
            if why:
                self.fail(what, why)
                ok = False
        return ok

    # -- suites ---------------------------------------------------------

    def suite_inject(self):
        states = self.states
        # 30 injections per state (7 x 30 = 210), at most 60 runs each.
        want_per_state = 30 * self.scale
        injections = refused = runs = bad = 0
        sigs = [signal.SIGUSR1, signal.SIGWINCH, signal.SIGCONT, signal.SIGUSR2, signal.SIGSTOP]
        t0 = time.monotonic()
        for state in states:
            vs = [Victim(self, state), Victim(self, state)]
            state_injections = 0
            for i in range(2 * want_per_state):
                if state_injections >= want_per_state:
                    break
                what = f"inject {state} #{i}"
                nfail = len(self.failures)
                argv = [self.tool["memmerge"], "--backend", "ptrace", "--no-snapshot", "--json", "--timeout", "20"]
                if i % 2:
                    argv.append("--unmerge")
                p = self.spawn(argv + [str(v.pid) for v in vs])
                # Signals at the targets while memmerge injects.
                stop = threading.Event()

                def pelt():
                    while not stop.is_set():
                        v = self.rng.choice(vs)
                        s = self.rng.choice(sigs)
                        try:
                            os.kill(v.pid, s)
                            if s == signal.SIGSTOP:
                                time.sleep(self.rng.uniform(0, 0.003))
                                os.kill(v.pid, signal.SIGCONT)
                        except ProcessLookupError:
                            return
                        time.sleep(self.rng.uniform(0, 0.004))
                th = threading.Thread(target=pelt)
                th.start()
                res = self.finish(p, what)
                stop.set()
                th.join()
                for v in vs:
                    if v.alive():
                        os.kill(v.pid, signal.SIGCONT)
                runs += 1
                if res:
                    rc, out, err = res
                    try:
                        doc = json.loads(out)
                        injections += len(doc.get("processes", []))
                        state_injections += len(doc.get("processes", []))
                        refused += len(doc.get("refused", []))
                    except ValueError:
                        self.fail(what, f"no JSON on stdout (exit {rc}): {err.strip()[-300:]}")
                self.knobs_ok(what)
                if len(self.failures) == nfail:
                    # The victims are checked every few runs (each check
                    # answers a verify signal) and always at the end.
                    if i % 5 == 4:
                        self.check_victims(what, vs)
                if len(self.failures) != nfail:
                    bad += 1
            self.check_victims(f"inject {state} end", vs)
            for v in vs:
                v.kill()
        self.tally("inject", f"{runs} memmerge runs, {injections} injections into {len(states)} states "
                   f"({refused} refusals: target stopped or gone), signals sent during each, "
                   f"{bad} bad runs, {time.monotonic() - t0:.0f} s")
        if len(states) == 7 and injections < 200 * self.scale:
            self.fail("inject", f"only {injections} injections (want >= {200 * self.scale})")

    def suite_kill(self):
        t0 = time.monotonic()
        parts = []
        for tool in ("memdup", "memmerge", "memsplit"):
            runs = bad = partial = 0
            for i in range(100 * self.scale):
                what = f"kill {tool} #{i}"
                nfail = len(self.failures)
                vs = [Victim(self, "pause", table=4096), Victim(self, "pause", table=4096)]
                pids = [str(v.pid) for v in vs]
                snap = f"{self.tmp}/kill.snap"
                if tool == "memdup":
                    argv, window = [self.tool["memdup"], "--json", *pids], 0.03
                elif tool == "memmerge":
                    argv, window = [self.tool["memmerge"], "--json", "--snapshot", snap, *pids], 0.4
                elif i % 2 == 0:
                    argv, window = [self.tool["memsplit"], "snapshot", "-o", snap, *pids], 0.03
                else:
                    subprocess.run([self.tool["memsplit"], "snapshot", "-o", snap, *pids], env=self.env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
                    argv, window = [self.tool["memsplit"], "diff", "--pages", "--json", snap], 0.02
                p = self.spawn(argv)
                time.sleep(self.rng.uniform(0, window))
                vs[0].proc.kill()
                res = self.finish(p, what)
                runs += 1
                if res and res[0] == 1:
                    partial += 1
                self.knobs_ok(what)
                self.check_victims(what, vs[1:])
                for v in vs:
                    v.kill()
                if len(self.failures) != nfail:
                    bad += 1
            parts.append(f"{tool} {runs} runs ({partial} reported the kill as partial), {bad} bad")
        self.tally("kill", "; ".join(parts) + f", {time.monotonic() - t0:.0f} s")

    def suite_signal(self):
        t0 = time.monotonic()
        runs = bad = interrupted = finished = 0
        for i in range(100 * self.scale):
            sig = signal.SIGINT if i % 2 == 0 else signal.SIGTERM
            what = f"signal {sig.name} #{i}"
            nfail = len(self.failures)
            vs = [Victim(self, "nanosleep", table=8192), Victim(self, "futex", table=8192)]
            # A slow scan rate stretches the session (about half a second)
            # so that most signals land inside it: during the pre-scan, an
            # injection, the watch or the post-scan.
            p = self.spawn([self.tool["memmerge"], "--json", "--scan-rate", "200", "--snapshot",
                            f"{self.tmp}/sig.snap", *[str(v.pid) for v in vs]], block_signals=True)
            time.sleep(self.rng.uniform(0, 0.5))
            try:
                p.send_signal(sig)
            except ProcessLookupError:
                pass
            res = self.finish(p, what, sent=sig)
            runs += 1
            if res:
                rc, out, err = res
                if rc == -sig:
                    interrupted += 1
                    if f"interrupted by {sig.name}; KSM settings restored" not in err:
                        self.fail(what, "died of the signal without restoring first: " + err.strip()[-300:])
                else:
                    finished += 1
            self.knobs_ok(what)
            if os.path.exists("/run/mergemem/ksm.saved"):
                self.fail(what, "the session's state file /run/mergemem/ksm.saved was left behind")
            self.check_victims(what, vs)
            for v in vs:
                v.kill()
            if len(self.failures) != nfail:
                bad += 1
        self.tally("signal", f"{runs} memmerge sessions: {interrupted} interrupted (restored, then died of "
                   f"the signal), {finished} finished first; {bad} bad, {time.monotonic() - t0:.0f} s")

    def tally(self, suite, line):
        self.tallies.append(f"torture {suite}: {line}")
        print(self.tallies[-1], flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build")
    ap.add_argument("--scale", type=int, default=1)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--suite", action="append", choices=["inject", "kill", "signal"])
    ap.add_argument("--states", default="pause,nanosleep,read,futex,epoll,spin,threads",
                    help="the inject suite's target states")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("torture: needs root (ptrace of fixtures, the KSM knobs)")
    if not os.path.exists(f"{KSM}/run"):
        sys.exit("torture: no KSM in this kernel")
    t = Torture(args)
    print(f"torture: seed {args.seed}, build {t.build}", flush=True)
    try:
        for s in args.suite or ["inject", "kill", "signal"]:
            getattr(t, f"suite_{s}")()
    finally:
        for v in t.victims:
            if v.alive():
                v.proc.kill()
                v.proc.wait()
        if knobs() != t.knobs0:
            restore_knobs(t.knobs0)
            t.fail("end", "KSM knobs differed at the end and were put back")
        shutil.rmtree(t.tmp, ignore_errors=True)
    print(f"torture: {len(t.tallies)} suites, {len(t.failures)} failures")
    sys.exit(1 if t.failures else 0)


if __name__ == "__main__":
    main()
