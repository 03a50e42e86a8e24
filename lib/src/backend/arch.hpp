// SPDX-License-Identifier: GPL-2.0-or-later
// Everything architecture-specific about syscall injection (x86-64 now).
#pragma once
#include <array>
#include <cstdint>
#include <string_view>

#include "mergemem/error.hpp"

namespace mergemem::arch {

struct Regs; // opaque register file

struct SavedRegs {
	alignas(16) unsigned char raw[27 * 8]; // sizeof(user_regs_struct)
};

[[nodiscard]] Result<void> get_regs(int tid, SavedRegs& r);
[[nodiscard]] Result<void> set_regs(int tid, const SavedRegs& r);
// The instruction that enters the kernel, to look for in the vdso.
[[nodiscard]] std::string_view syscall_insn();
// A copy of `saved` set up to run syscall nr(args) at `insn_addr`, with
// restart logic disabled (orig_ax = -1) and trap/direction flags cleared.
[[nodiscard]] SavedRegs prepare_call(const SavedRegs& saved, uint64_t insn_addr, long nr,
                                     const std::array<uint64_t, 6>& args);
[[nodiscard]] uint64_t ip(const SavedRegs& r);
[[nodiscard]] long result(const SavedRegs& r);
// True for a task running in 32-bit compat mode (its vdso has no `syscall`).
[[nodiscard]] bool is_compat(const SavedRegs& r);

} // namespace mergemem::arch
