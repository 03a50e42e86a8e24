// SPDX-License-Identifier: GPL-2.0-or-later
// stop -> prepare -> syscall -> cure -> resume, as compel does it.
#include <fcntl.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "backend/arch.hpp"
#include "mergemem/fd.hpp"
#include "mergemem/inject.hpp"
#include "mergemem/merge_report.hpp"
#include "mergemem/log.hpp"
#include "mergemem/procfs.hpp"

namespace mergemem {

struct InjectionSession::State {
	pid_t pid = 0;
	std::string who;
	arch::SavedRegs saved{};
	uint64_t saved_mask = 0;
	uint64_t insn = 0;
	bool attached = false;  // seized
	bool stopped = false;   // in a ptrace stop we may restore and detach from
	bool dirty = false;     // registers or mask differ from the saved ones
	int pending_signal = 0; // a stop signal to hand back at detach
};

namespace {

using clock = std::chrono::steady_clock;

// waitpid with a deadline: a target that never stops must not hang us.
Result<int> wait_stop(pid_t pid, std::chrono::milliseconds limit)
{
	auto end = clock::now() + limit;
	for (;;) {
		int st = 0;
		pid_t r = ::waitpid(pid, &st, __WALL | WNOHANG);
		if (r == pid)
			return st;
		if (r < 0 && errno != EINTR)
			return fail(errno == ECHILD ? ESRCH : errno, "waitpid");
		if (clock::now() > end)
			return fail(ETIMEDOUT, "the target did not stop");
		std::this_thread::sleep_for(std::chrono::microseconds(200));
	}
}

Result<uint64_t> find_syscall_insn(int dirfd)
{
	auto maps = read_file_at(dirfd, "maps");
	if (!maps)
		return fail(maps.error().code, "read maps");
	auto vmas = procfs::parse_maps(*maps);
	if (!vmas)
		return std::unexpected(vmas.error());
	for (auto& v : *vmas) {
		if (v.path != "[vdso]")
			continue;
		UniqueFd mem(::openat(dirfd, "mem", O_RDONLY | O_CLOEXEC));
		if (!mem)
			return fail(errno, "open mem");
		std::string buf(v.end - v.start, '\0');
		auto n = pread_full(mem.get(), buf.data(), buf.size(), off_t(v.start));
		if (!n)
			return fail(n.error().code, "read [vdso]");
		auto at = std::string_view(buf.data(), *n).find(arch::syscall_insn());
		if (at == std::string_view::npos)
			return fail(ENOEXEC, "no syscall instruction in [vdso]");
		return v.start + at;
	}
	return fail(ENOEXEC, "no [vdso] to borrow a syscall instruction from (booted with vdso=0?)");
}

} // namespace

InjectionSession::InjectionSession(std::unique_ptr<State> s) : s_(std::move(s)) {}
InjectionSession::InjectionSession(InjectionSession&&) noexcept = default;
InjectionSession& InjectionSession::operator=(InjectionSession&&) noexcept = default;

InjectionSession::~InjectionSession()
{
	if (s_)
		(void)detach();
}

Result<InjectionSession> InjectionSession::attach(const Process& p)
{
	auto s = std::make_unique<State>();
	s->pid = p.pid;
	s->who = "pid " + std::to_string(p.pid) + " (" + p.comm + ")";
	auto err = [&](int code, const std::string& what) { return fail(code, s->who + ": " + what); };

	auto dir = ProcessDir::open(p);
	if (!dir)
		return err(dir.error().code, "exited");
	auto st_text = read_file_at(dir->get(), "status");
	if (!st_text)
		return err(ESRCH, "exited");
	auto st = procfs::parse_status(*st_text);
	if (!st)
		return err(st.error().code, st.error().context);
	if (st->tracer_pid != 0)
		return err(EBUSY, "already traced by pid " + std::to_string(st->tracer_pid) +
		                      " (a debugger?) — detach it first, or use the kmod backend");
	if (st->seccomp == 1)
		return err(EPERM, "in seccomp strict mode, it may only read, write and exit — cannot inject");
	if (st->seccomp == 2)
		return err(EPERM, "has a seccomp filter that could reject or kill on the injected call — not touched");
	if (st->state == 'T' || st->state == 't')
		return err(EINVAL, "is stopped — continue it (kill -CONT) first");
	if (!p.check_alive())
		return err(ESRCH, "exited");

	auto insn = find_syscall_insn(dir->get());
	if (!insn) {
		int e = insn.error().code;
		if (e == EACCES || e == EPERM)
			return err(EPERM, cannot_ptrace_message()); // reads Yama's setting: error path only
		return err(e, insn.error().message());
	}
	s->insn = *insn;

	if (ptrace(PTRACE_SEIZE, p.pid, nullptr, nullptr) != 0) {
		int e = errno;
		if (e == EPERM)
			return err(EPERM, cannot_ptrace_message()); // reads Yama's setting: error path only
		return err(e == ESRCH ? ESRCH : e, "PTRACE_SEIZE");
	}
	s->attached = true;
	// The session object now owns the tracee: every early return below
	// detaches through the destructor.
	InjectionSession sess(std::move(s));
	State& S = *sess.s_;
	for (int tries = 0;; ++tries) {
		if (ptrace(PTRACE_INTERRUPT, S.pid, nullptr, nullptr) != 0)
			return err(errno == ESRCH ? ESRCH : errno, "PTRACE_INTERRUPT");
		auto w = wait_stop(S.pid, std::chrono::milliseconds(2000));
		if (!w) {
			S.attached = w.error().code != ESRCH;
			return err(w.error().code, w.error().context);
		}
		int status = *w;
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			S.attached = false;
			return err(ESRCH, "exited");
		}
		if (WIFSTOPPED(status) && (status >> 16) == PTRACE_EVENT_STOP) {
			S.stopped = true;
			break;
		}
		// A signal arrived first: let the target take it, then interrupt again.
		if (tries > 100)
			return err(EAGAIN, "kept receiving signals, could not stop it");
		(void)ptrace(PTRACE_CONT, S.pid, nullptr, reinterpret_cast<void*>(uintptr_t(WSTOPSIG(status))));
	}
	if (auto r = arch::get_regs(S.pid, S.saved); !r)
		return err(r.error().code, r.error().context);
	if (arch::is_compat(S.saved))
		return err(EINVAL, "is a 32-bit process — not supported");
	if (ptrace(PTRACE_GETSIGMASK, S.pid, reinterpret_cast<void*>(sizeof S.saved_mask), &S.saved_mask) != 0)
		return err(errno, "PTRACE_GETSIGMASK");
	uint64_t all = ~uint64_t(0);
	if (ptrace(PTRACE_SETSIGMASK, S.pid, reinterpret_cast<void*>(sizeof all), &all) != 0)
		return err(errno, "PTRACE_SETSIGMASK");
	S.dirty = true;
	return sess;
}

Result<long> InjectionSession::syscall(long nr, std::array<uint64_t, 6> args)
{
	State& S = *s_;
	if (!S.stopped)
		return fail(EINVAL, S.who + ": not stopped");
	auto regs = arch::prepare_call(S.saved, S.insn, nr, args);
	if (auto r = arch::set_regs(S.pid, regs); !r)
		return fail(r.error().code, S.who + ": " + r.error().context);
	S.dirty = true;
	int restarts = 0;
	for (int tries = 0; tries < 64; ++tries) {
		if (ptrace(PTRACE_SINGLESTEP, S.pid, nullptr, nullptr) != 0)
			return fail(errno, S.who + ": PTRACE_SINGLESTEP");
		S.stopped = false;
		auto w = wait_stop(S.pid, std::chrono::milliseconds(5000));
		if (!w)
			return fail(w.error().code, S.who + ": " + w.error().context);
		if (WIFEXITED(*w) || WIFSIGNALED(*w)) {
			S.attached = false;
			return fail(ESRCH, S.who + ": exited during the injection");
		}
		S.stopped = true;
		arch::SavedRegs now{};
		if (auto r = arch::get_regs(S.pid, now); !r)
			return fail(r.error().code, S.who + ": " + r.error().context);
		// A stop for another signal (SIGSTOP cannot be blocked), before or
		// after the instruction: keep it for detach, where it is delivered.
		if (WIFSTOPPED(*w) && WSTOPSIG(*w) != SIGTRAP && (*w >> 16) == 0)
			S.pending_signal = WSTOPSIG(*w);
		if (arch::ip(now) != S.insn + arch::syscall_insn().size())
			continue; // not run yet: step again
		long rv = arch::result(now);
		// -ERESTARTSYS .. -ERESTART_RESTARTBLOCK (512-516): a pending
		// signal (SIGSTOP) cut a long call short (unmerging walks every
		// page).  Never let the kernel see these from our call: it would
		// restart it on its own after detach.  Issue it again instead.
		if (rv <= -512 && rv >= -516 && restarts++ < 16) {
			if (auto r = arch::set_regs(S.pid, regs); !r)
				return fail(r.error().code, S.who + ": " + r.error().context);
			continue;
		}
		return rv;
	}
	return fail(EAGAIN, S.who + ": the injected call did not complete");
}

Result<void> InjectionSession::detach()
{
	if (!s_ || !s_->attached)
		return {};
	State& S = *s_;
	Result<void> res;
	if (S.stopped && S.dirty) {
		// Restore at this signal stop, so an interrupted nanosleep/read
		// restarts through the kernel's normal signal-return path.
		if (auto r = arch::set_regs(S.pid, S.saved); !r)
			res = fail(r.error().code, S.who + ": restore registers");
		if (ptrace(PTRACE_SETSIGMASK, S.pid, reinterpret_cast<void*>(sizeof S.saved_mask), &S.saved_mask) != 0 && res)
			res = fail(errno, S.who + ": restore signal mask");
		S.dirty = false;
	}
	if (ptrace(PTRACE_DETACH, S.pid, nullptr, reinterpret_cast<void*>(uintptr_t(S.pending_signal))) != 0 &&
	    errno != ESRCH && res)
		res = fail(errno, S.who + ": PTRACE_DETACH");
	S.attached = false;
	return res;
}

} // namespace mergemem
