// SPDX-License-Identifier: GPL-2.0-or-later
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <set>

#include <libproc2/pids.h>

#include "mergemem/select.hpp"

namespace mergemem {
namespace {

int sys_pidfd_open(pid_t pid)
{
	return int(::syscall(SYS_pidfd_open, pid, 0));
}

// Opens /proc/PID of a parked process and proves it is the same process:
// same start time, not a zombie.  The directory fd stays bound to that
// process even if the pid is reused later.
Result<UniqueFd> reopen_dir(const Process& p)
{
	const std::string who = "pid " + std::to_string(p.pid);
	UniqueFd dir(::open((p.proc_root + "/" + std::to_string(p.pid)).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (!dir)
		return fail(errno == ENOENT ? ESRCH : errno, who);
	auto st = read_file_at(dir.get(), "stat");
	if (!st)
		return fail(ESRCH, who);
	auto s = procfs::parse_stat(*st);
	if (!s || s->zombie() || s->starttime != p.starttime)
		return fail(ESRCH, who);
	return dir;
}

} // namespace

Result<ProcessDir> ProcessDir::open(const Process& p)
{
	ProcessDir d;
	if (!p.parked()) {
		d.fd_ = p.dirfd.get();
		return d;
	}
	auto dir = reopen_dir(p);
	if (!dir)
		return std::unexpected(dir.error());
	d.own_ = std::move(*dir);
	d.fd_ = d.own_.get();
	return d;
}

size_t descriptor_budget()
{
	rlimit rl{};
	if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		return 1u << 20;
	// The reserve covers what a scan holds besides the selection: per
	// worker a smaps, pagemap and mem fd and a reopened parked directory,
	// the output, the KSM session and the module.  A quarter of the limit,
	// at least 64, is generous for that.
	const size_t lim = rl.rlim_cur;
	const size_t reserve = std::max<size_t>(64, lim / 4);
	return lim > reserve ? (lim - reserve) / 2 : 0;
}

Result<void> Process::check_alive() const
{
	if (parked()) {
		auto d = reopen_dir(*this);
		if (!d)
			return fail(ESRCH, "pid " + std::to_string(pid));
		return {};
	}
	if (::syscall(SYS_pidfd_send_signal, pidfd.get(), 0, nullptr, 0) == 0 || errno == EPERM) {
		// Signal 0 succeeds on zombies too: look at the state.
		auto st = read_file_at(dirfd.get(), "stat");
		if (!st)
			return fail(ESRCH, "pid " + std::to_string(pid));
		auto s = procfs::parse_stat(*st);
		if (!s || s->zombie() || s->starttime != starttime)
			return fail(ESRCH, "pid " + std::to_string(pid));
		return {};
	}
	return fail(ESRCH, "pid " + std::to_string(pid));
}

std::string_view to_string(SkipReason r)
{
	switch (r) {
	case SkipReason::not_found: return "not found";
	case SkipReason::gone: return "gone";
	case SkipReason::permission: return "permission denied";
	case SkipReason::kernel_thread: return "kernel thread";
	case SkipReason::zombie: return "zombie";
	case SkipReason::self: return "self";
	case SkipReason::no_descriptors: return "no file descriptors left";
	}
	return "?";
}

Result<Process> open_process(pid_t pid, const procfs::Root& root, SkipReason* reason)
{
	auto fail_as = [&](SkipReason r, int code, std::string what) {
		if (reason)
			*reason = r;
		return fail(code, "pid " + std::to_string(pid) + ": " + std::move(what));
	};
	Process p;
	p.pid = pid;
	p.pidfd.reset(sys_pidfd_open(pid));
	if (!p.pidfd) {
		if (errno == EMFILE || errno == ENFILE)
			return fail_as(SkipReason::no_descriptors, errno, "pidfd_open");
		if (errno == ESRCH)
			return fail_as(SkipReason::not_found, ESRCH, "no such process");
		if (errno == EINVAL) // a thread id, not a process
			return fail_as(SkipReason::not_found, EINVAL, "not a process (a thread id?)");
		return fail_as(SkipReason::gone, errno, "pidfd_open");
	}
	std::string dir = root.proc + "/" + std::to_string(pid);
	p.proc_root = root.proc;
	p.dirfd.reset(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (!p.dirfd) {
		if (errno == EMFILE || errno == ENFILE)
			return fail_as(SkipReason::no_descriptors, errno, "open " + dir);
		return fail_as(SkipReason::gone, ESRCH, "exited");
	}
	auto text = read_file_at(p.dirfd.get(), "stat");
	if (!text)
		return fail_as(SkipReason::gone, ESRCH, "exited");
	auto st = procfs::parse_stat(*text);
	if (!st)
		return fail_as(SkipReason::gone, st.error().code, st.error().context);
	p.comm = st->comm;
	p.starttime = st->starttime;
	// The dirfd was opened after the pidfd: if the pidfd's process is still
	// alive now, the directory is that process and not a successor.
	if (::syscall(SYS_pidfd_send_signal, p.pidfd.get(), 0, nullptr, 0) != 0 && errno != EPERM)
		return fail_as(SkipReason::gone, ESRCH, "exited");
	if (st->kernel_thread())
		return fail_as(SkipReason::kernel_thread, EINVAL, "is a kernel thread (" + p.comm + "), it has no user memory");
	if (st->zombie())
		return fail_as(SkipReason::zombie, EINVAL, "is a zombie (" + p.comm + "), it has no memory left");
	auto stat_text = read_file_at(p.dirfd.get(), "status");
	if (!stat_text)
		return fail_as(SkipReason::gone, ESRCH, "exited");
	auto status = procfs::parse_status(*stat_text);
	if (!status)
		return fail_as(SkipReason::gone, status.error().code, status.error().context);
	if (!status->has_mm)
		return fail_as(SkipReason::kernel_thread, EINVAL, "has no user memory (" + p.comm + ")");
	p.uid = status->euid;
	p.user = user_name(p.uid);
	return p;
}

namespace {

struct Candidate {
	pid_t pid;
	std::string comm, cmdline;
	uid_t euid;
	char state;
	unsigned long flags;
	unsigned long long began;
	bool have_info;
};

Result<std::vector<Candidate>> enumerate()
{
	enum pids_item items[] = {PIDS_ID_PID, PIDS_CMD, PIDS_CMDLINE, PIDS_ID_EUID,
	                          PIDS_STATE,  PIDS_FLAGS, PIDS_TICS_BEGAN};
	enum rel { r_pid, r_cmd, r_cmdline, r_euid, r_state, r_flags, r_began };
	pids_info* info = nullptr;
	int rc = procps_pids_new(&info, items, int(std::size(items)));
	if (rc < 0)
		return fail(-rc, "libproc2: cannot enumerate /proc (is it mounted?)");
	std::vector<Candidate> out;
	pids_fetch* f = procps_pids_reap(info, PIDS_FETCH_TASKS_ONLY);
	if (!f) {
		int e = errno ? errno : EIO;
		procps_pids_unref(&info);
		return fail(e, "libproc2: cannot read /proc");
	}
	for (int i = 0; i < f->counts->total; ++i) {
		pids_stack* s = f->stacks[i];
		Candidate c;
		c.pid = PIDS_VAL(r_pid, s_int, s, info);
		const char* cmd = PIDS_VAL(r_cmd, str, s, info);
		const char* cl = PIDS_VAL(r_cmdline, str, s, info);
		c.comm = cmd ? cmd : "";
		c.cmdline = cl ? cl : "";
		c.euid = PIDS_VAL(r_euid, u_int, s, info);
		c.state = PIDS_VAL(r_state, s_ch, s, info);
		c.flags = PIDS_VAL(r_flags, ul_int, s, info);
		c.began = PIDS_VAL(r_began, ull_int, s, info);
		c.have_info = true;
		out.push_back(std::move(c));
	}
	procps_pids_unref(&info);
	return out;
}

bool name_matches(const std::regex& re, const Candidate& c, bool full)
{
	const std::string& s = full && !c.cmdline.empty() ? c.cmdline : c.comm;
	return std::regex_search(s, re);
}

// The full command line of one pid, as libproc2 would give it (NULs -> spaces).
std::string read_cmdline(int dirfd)
{
	auto t = read_file_at(dirfd, "cmdline");
	if (!t)
		return {};
	std::string s = *t;
	while (!s.empty() && s.back() == '\0')
		s.pop_back();
	std::replace(s.begin(), s.end(), '\0', ' ');
	return s;
}

} // namespace

Result<Selection> select_processes(const Criteria& c, const procfs::Root& root)
{
	Selection sel;
	const pid_t self = ::getpid();
	std::set<pid_t> excluded(c.exclude_pids.begin(), c.exclude_pids.end());
	std::vector<Candidate> cands;

	if (!c.pids.empty()) {
		std::set<pid_t> seen;
		for (pid_t pid : c.pids)
			if (seen.insert(pid).second)
				cands.push_back(Candidate{pid, {}, {}, 0, 0, 0, 0, false});
	} else if (c.implicit()) {
		auto all = enumerate();
		if (!all)
			return std::unexpected(all.error());
		cands = std::move(*all);
		std::sort(cands.begin(), cands.end(), [](auto& a, auto& b) { return a.pid < b.pid; });
	}
	const bool named = !c.pids.empty();
	const size_t keep_open = descriptor_budget();

	for (auto& cand : cands) {
		if (excluded.count(cand.pid))
			continue;
		if (cand.have_info) {
			// Cheap filters first, from the libproc2 snapshot.
			if (cand.pid == self)
				continue;
			if (!c.users.empty() && std::find(c.users.begin(), c.users.end(), cand.euid) == c.users.end())
				continue;
			if (c.name && !name_matches(*c.name, cand, c.full))
				continue;
			bool ex = false;
			for (auto& re : c.exclude_names)
				ex = ex || name_matches(re, cand, c.full);
			if (ex)
				continue;
			if (cand.flags & procfs::PF_KTHREAD) {
				sel.skipped.push_back({cand.pid, cand.comm, SkipReason::kernel_thread, false, "kernel thread"});
				continue;
			}
			if (cand.state == 'Z' || cand.state == 'X') {
				sel.skipped.push_back({cand.pid, cand.comm, SkipReason::zombie, false, "zombie"});
				continue;
			}
		}
		SkipReason why = SkipReason::gone;
		auto p = open_process(cand.pid, root, &why);
		if (!p) {
			// A process that vanished between enumeration and open was never
			// asked for by name: drop it silently.
			if (!named && (why == SkipReason::not_found || why == SkipReason::gone))
				continue;
			std::string comm = cand.comm;
			if (comm.empty())
				if (auto st = procfs::read_stat(root, cand.pid))
					comm = st->comm;
			sel.skipped.push_back({cand.pid, comm, why, named, p.error().context});
			continue;
		}
		if (cand.have_info && cand.began != p->starttime)
			continue; // pid reused since enumeration: not the process that matched
		if (!cand.have_info) {
			// Explicit pids: apply the remaining filters now.
			Candidate full = cand;
			full.comm = p->comm;
			full.euid = p->uid;
			if (c.full && (c.name || !c.exclude_names.empty()))
				full.cmdline = read_cmdline(p->dirfd.get());
			if (!c.users.empty() && std::find(c.users.begin(), c.users.end(), p->uid) == c.users.end())
				continue;
			if (c.name && !name_matches(*c.name, full, c.full))
				continue;
			bool ex = false;
			for (auto& re : c.exclude_names)
				ex = ex || name_matches(re, full, c.full);
			if (ex)
				continue;
		}
		// Past the budget, park: the pid and start time still name the process.
		if (sel.processes.size() >= keep_open)
			p->park();
		sel.processes.push_back(std::move(*p));
	}
	std::sort(sel.processes.begin(), sel.processes.end(), [](auto& a, auto& b) { return a.pid < b.pid; });
	return sel;
}

} // namespace mergemem
