// SPDX-License-Identifier: GPL-2.0-or-later
// How a process is opted in to (or out of) KSM.  Picked once: the kmod
// backend when /dev/mergemem answers its handshake (a later issue), else
// ptrace syscall injection.  Everything above this interface is the same
// for both.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "mergemem/error.hpp"
#include "mergemem/fd.hpp"
#include "mergemem/select.hpp"

namespace mergemem {

enum class OptInMode { prctl, madvise };

struct AdviseRequest {
	OptInMode mode = OptInMode::prctl;
	bool merge = true;                                   // false: unmerge
	std::optional<std::pair<uint64_t, uint64_t>> range;  // madvise only: [start, end)
};

struct AdviseResult {
	uint64_t ranges = 0;      // madvise calls made (1 for prctl)
	uint64_t bytes = 0;       // bytes advised (madvise)
	double seconds = 0;       // time the target was stopped
};

class Backend {
public:
	virtual ~Backend() = default;
	[[nodiscard]] virtual std::string_view name() const = 0;
	[[nodiscard]] virtual Result<AdviseResult> advise(const Process& p, const AdviseRequest& r) = 0;
};

// /dev/mergemem, opened and checked through the API handshake.  ENODEV: no
// module loaded; EPERM: the caller lacks root/CAP_SYS_PTRACE; EPROTO: an API
// version this library does not speak.
[[nodiscard]] Result<UniqueFd> open_mergemem_device(const std::string& path = "/dev/mergemem");
// "auto", "ptrace" or "kmod".  ENODEV for kmod without /dev/mergemem.
[[nodiscard]] Result<std::unique_ptr<Backend>> make_backend(std::string_view which);
// PR_SET_MEMORY_MERGE exists (Linux 6.4+).
[[nodiscard]] bool kernel_has_memory_merge();

} // namespace mergemem
