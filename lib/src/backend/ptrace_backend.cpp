// SPDX-License-Identifier: GPL-2.0-or-later
// The stock-kernel backend: the target itself calls prctl or madvise,
// through one injection session per process.
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "backend/kmod.hpp"
#include "mergemem/backend.hpp"
#include "mergemem/inject.hpp"
#include "mergemem/procfs.hpp"

#ifndef PR_SET_MEMORY_MERGE
#define PR_SET_MEMORY_MERGE 67
#define PR_GET_MEMORY_MERGE 68
#endif

namespace mergemem {
namespace {

// The private writable mappings ksm_madvise() accepts: anonymous memory and
// the copy-on-write pages of private file mappings, coalesced into ranges.
Result<std::vector<std::pair<uint64_t, uint64_t>>> mergeable_ranges(const Process& p)
{
	auto dir = ProcessDir::open(p);
	if (!dir)
		return std::unexpected(dir.error());
	auto text = read_file_at(dir->get(), "smaps");
	if (!text)
		return fail(text.error().code == ENOENT ? ESRCH : text.error().code, "read smaps");
	auto vmas = procfs::parse_maps(*text);
	if (!vmas)
		return std::unexpected(vmas.error());
	using namespace procfs;
	std::vector<std::pair<uint64_t, uint64_t>> out;
	for (auto& v : *vmas) {
		if (v.shared || !v.write || v.path == "[vsyscall]" || v.path == "[vvar]" || v.path == "[vdso]")
			continue;
		if (v.vmflags & (VMF_SH | VMF_MS | VMF_PF | VMF_IO | VMF_HT | VMF_MM | VMF_DE))
			continue;
		if (!out.empty() && out.back().second == v.start)
			out.back().second = v.end;
		else
			out.emplace_back(v.start, v.end);
	}
	return out;
}

class PtraceBackend final : public Backend {
public:
	std::string_view name() const override { return "ptrace"; }

	Result<AdviseResult> advise(const Process& p, const AdviseRequest& r) override
	{
		AdviseResult res;
		std::vector<std::pair<uint64_t, uint64_t>> ranges;
		if (r.mode == OptInMode::madvise) {
			if (r.range)
				ranges.push_back(*r.range);
			else {
				auto rr = mergeable_ranges(p);
				if (!rr)
					return fail(rr.error().code, "pid " + std::to_string(p.pid) + " (" + p.comm + "): " + rr.error().context);
				ranges = std::move(*rr);
			}
		}
		auto t0 = std::chrono::steady_clock::now();
		auto sess = InjectionSession::attach(p);
		if (!sess)
			return std::unexpected(sess.error());
		auto who = "pid " + std::to_string(p.pid) + " (" + p.comm + "): ";
		if (r.mode == OptInMode::prctl) {
			auto v = sess->syscall(SYS_prctl, {PR_SET_MEMORY_MERGE, r.merge ? 1u : 0u, 0, 0, 0, 0});
			if (!v)
				return std::unexpected(v.error());
			if (*v < 0)
				return fail(int(-*v), who + "prctl(PR_SET_MEMORY_MERGE)" +
				                          (*v == -EINVAL ? " — the kernel lacks it (6.4+), use --mode madvise" : ""));
			res.ranges = 1;
		} else {
			for (auto [a, b] : ranges) {
				auto v = sess->syscall(SYS_madvise, {a, b - a, uint64_t(r.merge ? MADV_MERGEABLE : MADV_UNMERGEABLE), 0, 0, 0});
				if (!v)
					return std::unexpected(v.error());
				// ENOMEM: a hole in an explicit --range; the mapped parts were advised.
				if (*v < 0 && *v != -ENOMEM)
					return fail(int(-*v), who + "madvise(" + std::to_string(a) + ", " + std::to_string(b - a) + ")");
				res.ranges++;
				res.bytes += b - a;
			}
		}
		if (auto d = sess->detach(); !d)
			return std::unexpected(d.error());
		res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
		return res;
	}
};

} // namespace

bool kernel_has_memory_merge()
{
	return ::prctl(PR_GET_MEMORY_MERGE, 0, 0, 0, 0) >= 0;
}

Result<std::unique_ptr<Backend>> make_backend(std::string_view which)
{
	// Probed once, through the handshake: auto prefers the module when it answers.
	if (which == "kmod")
		return open_kmod_backend();
	if (which == "auto") {
		if (auto k = open_kmod_backend())
			return k;
		return std::unique_ptr<Backend>(std::make_unique<PtraceBackend>());
	}
	if (which == "ptrace")
		return std::unique_ptr<Backend>(std::make_unique<PtraceBackend>());
	return fail(EINVAL, "unknown backend '" + std::string(which) + "' (auto, kmod, ptrace)");
}

} // namespace mergemem
