// SPDX-License-Identifier: GPL-2.0-or-later
#include <fcntl.h>

#include <cerrno>

#include "mergemem/merge_report.hpp"

namespace mergemem {

std::string cannot_ptrace_message()
{
	std::string m = "cannot ptrace it — run as its user, or as root (CAP_SYS_PTRACE)";
	auto yama = read_file("/proc/sys/kernel/yama/ptrace_scope");
	if (yama && !yama->empty() && (*yama)[0] != '0')
		m += "; kernel.yama.ptrace_scope is " + std::string(1, (*yama)[0]) + " here";
	return m;
}

MergeSet merge_policy(const std::vector<Process>& procs, bool allow_cross_user)
{
	MergeSet s;
	const Process* owner = nullptr;
	for (auto& p : procs) {
		const std::string who = "pid " + std::to_string(p.pid) + " (" + p.comm + ")";
		auto dir = ProcessDir::open(p);
		if (!dir) {
			s.refused.push_back({p.pid, p.comm, "gone", who + ": exited"});
			continue;
		}
		UniqueFd mem(::openat(dir->get(), "mem", O_RDONLY | O_CLOEXEC));
		if (!mem) {
			if (errno == ENOENT || errno == ESRCH)
				s.refused.push_back({p.pid, p.comm, "gone", who + ": exited"});
			else
				s.refused.push_back({p.pid, p.comm, "permission", who + ": " + cannot_ptrace_message()});
			continue;
		}
		if (!owner)
			owner = &p;
		if (p.uid != owner->uid && !allow_cross_user) {
			s.refused.push_back({p.pid, p.comm, "cross-user",
			                     who + ": owned by " + p.user + ", the set is " + owner->user +
			                         "'s — merging across users is a side channel; use --allow-cross-user"});
			continue;
		}
		s.targets.push_back(&p);
	}
	return s;
}

} // namespace mergemem
