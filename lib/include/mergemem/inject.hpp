// SPDX-License-Identifier: GPL-2.0-or-later
// Running one system call inside another process, in the manner of CRIU's
// compel: seize and interrupt, save registers and signal mask, block all
// signals, single-step a `syscall` instruction borrowed from the target's
// vdso, restore exactly, detach.  The target's interrupted system call
// restarts as if nothing happened (the restore happens at a signal stop,
// so the kernel's restart logic runs).
#pragma once
#include <array>
#include <cstdint>
#include <memory>

#include "mergemem/error.hpp"
#include "mergemem/select.hpp"

namespace mergemem {

class InjectionSession {
public:
	// Refuses (EBUSY) a target already traced, (EPERM) one with a seccomp
	// filter or strict mode, one we may not ptrace, (EINVAL) a stopped or
	// 32-bit target; ESRCH when it is gone.  The context says which.
	[[nodiscard]] static Result<InjectionSession> attach(const Process& p);

	// Runs syscall `nr` with `args` in the target; returns its raw result
	// (a negative errno on failure, as the kernel returns it).
	[[nodiscard]] Result<long> syscall(long nr, std::array<uint64_t, 6> args);

	// Restores registers and signal mask, then detaches.  Also done by the
	// destructor on every path; calling it twice is harmless.
	Result<void> detach();

	InjectionSession(InjectionSession&&) noexcept;
	InjectionSession& operator=(InjectionSession&&) noexcept;
	~InjectionSession();

	struct State;

private:
	explicit InjectionSession(std::unique_ptr<State> s);
	std::unique_ptr<State> s_;
};

} // namespace mergemem
