// SPDX-License-Identifier: GPL-2.0-or-later
// x86-64 register handling for syscall injection.
#include <sys/ptrace.h>
#include <sys/user.h>

#include <cerrno>
#include <cstring>

#include "backend/arch.hpp"

namespace mergemem::arch {

static_assert(sizeof(user_regs_struct) == sizeof(SavedRegs::raw));

namespace {
user_regs_struct& as(SavedRegs& r) { return *reinterpret_cast<user_regs_struct*>(r.raw); }
const user_regs_struct& as(const SavedRegs& r) { return *reinterpret_cast<const user_regs_struct*>(r.raw); }
} // namespace

Result<void> get_regs(int tid, SavedRegs& r)
{
	if (ptrace(PTRACE_GETREGS, tid, nullptr, r.raw) != 0)
		return fail(errno, "PTRACE_GETREGS");
	return {};
}

Result<void> set_regs(int tid, const SavedRegs& r)
{
	if (ptrace(PTRACE_SETREGS, tid, nullptr, r.raw) != 0)
		return fail(errno, "PTRACE_SETREGS");
	return {};
}

std::string_view syscall_insn()
{
	return std::string_view("\x0f\x05", 2);
}

SavedRegs prepare_call(const SavedRegs& saved, uint64_t insn_addr, long nr, const std::array<uint64_t, 6>& a)
{
	SavedRegs out = saved;
	auto& r = as(out);
	r.rip = insn_addr;
	r.rax = uint64_t(nr);
	// orig_rax = -1: the stop we resume from must not look like a syscall
	// to restart, or the kernel would rewind rip and redo rax.
	r.orig_rax = uint64_t(-1);
	r.rdi = a[0];
	r.rsi = a[1];
	r.rdx = a[2];
	r.r10 = a[3];
	r.r8 = a[4];
	r.r9 = a[5];
	r.eflags &= ~uint64_t(0x100 | 0x400); // TF, DF
	return out;
}

uint64_t ip(const SavedRegs& r) { return as(r).rip; }
long result(const SavedRegs& r) { return long(as(r).rax); }
bool is_compat(const SavedRegs& r) { return as(r).cs == 0x23; }

} // namespace mergemem::arch
