// SPDX-License-Identifier: GPL-2.0-or-later
// The module backend: /dev/mergemem's ADVISE makes a process mergeable with
// no ptrace stop at all, so it also works on targets a debugger holds.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "backend/kmod.hpp"
#include "mergemem/fd.hpp"

namespace mergemem {
namespace {

class KmodBackend final : public Backend {
public:
	explicit KmodBackend(UniqueFd fd) : fd_(std::move(fd)) {}
	std::string_view name() const override { return "kmod"; }

	Result<AdviseResult> advise(const Process& p, const AdviseRequest& r) override
	{
		auto who = "pid " + std::to_string(p.pid) + " (" + p.comm + "): ";
		// The module has no PR_SET_MEMORY_MERGE: both modes advise the
		// current VMAs (ksm_madvise), as --mode madvise does.
		mergemem_advise a{};
		a.size = sizeof a;
		a.pid = uint32_t(p.pid);
		a.flags = r.merge ? 0 : MERGEMEM_ADVISE_UNMERGE;
		if (r.range) {
			a.flags |= MERGEMEM_ADVISE_RANGE;
			a.start = r.range->first;
			a.len = r.range->second - r.range->first;
		}
		auto t0 = std::chrono::steady_clock::now();
		if (!p.check_alive())
			return fail(ESRCH, who + "exited");
		if (::ioctl(fd_.get(), MERGEMEM_IOC_ADVISE, &a) != 0)
			return fail(errno, who + "MERGEMEM_IOC_ADVISE");
		// The pid may have been reused during the call: only a live pidfd proves it was ours.
		if (!p.check_alive())
			return fail(ESRCH, who + "exited");
		AdviseResult res;
		res.ranges = a.vmas_changed;
		res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
		return res;
	}

private:
	UniqueFd fd_;
};

} // namespace

Result<UniqueFd> open_mergemem_device(const std::string& path)
{
	UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
	if (!fd) {
		int e = errno;
		if (e == ENOENT || e == ENODEV || e == ENXIO)
			return fail(ENODEV, path + ": no such device — load mergemem.ko (modprobe mergemem)");
		if (e == EACCES || e == EPERM)
			return fail(EPERM, path + ": permission denied — it needs root with CAP_SYS_PTRACE");
		return fail(e, "open " + path);
	}
	mergemem_api api{};
	api.size = sizeof api;
	if (::ioctl(fd.get(), MERGEMEM_IOC_API, &api) != 0)
		return fail(errno, path + ": handshake failed");
	const uint64_t need = MERGEMEM_FEATURE_ADVISE | MERGEMEM_FEATURE_PAGEINFO;
	if (api.version != MERGEMEM_API_VERSION || (api.features & need) != need)
		return fail(EPROTO, path + ": API version " + std::to_string(api.version) + ", this tool speaks " +
		                        std::to_string(MERGEMEM_API_VERSION));
	return fd;
}

Result<std::unique_ptr<Backend>> open_kmod_backend(const std::string& path)
{
	auto fd = open_mergemem_device(path);
	if (!fd)
		return std::unexpected(fd.error());
	return std::unique_ptr<Backend>(std::make_unique<KmodBackend>(std::move(*fd)));
}

} // namespace mergemem
