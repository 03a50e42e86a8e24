// SPDX-License-Identifier: GPL-2.0-or-later
// Process selection shared by every tool: explicit pids (arguments or a
// pgrep-style list on stdin), --all, --user, --name, --exclude.  Each
// selected process is pinned by a pidfd and a /proc/PID directory fd opened
// while the pidfd proved the process alive, so a reused pid can never be
// mistaken for the process we selected.
//
// Two descriptors per process do not fit RLIMIT_NOFILE for large sets
// (2000 processes against the usual soft limit of 1024), so a selection
// keeps only descriptor_budget() processes open and *parks* the rest: their
// descriptors are closed, and ProcessDir reopens one for a piece of work,
// checking the start time so that a reused pid is still reported as gone.
#pragma once
#include <sys/types.h>

#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "mergemem/error.hpp"
#include "mergemem/fd.hpp"
#include "mergemem/procfs.hpp"

namespace mergemem {

struct Process {
	pid_t pid = 0;
	uint64_t starttime = 0;
	std::string comm;
	uid_t uid = 0;          // effective uid, as pgrep -u matches
	std::string user;       // name, or the number when it has none
	UniqueFd pidfd;         // both closed while the process is parked
	UniqueFd dirfd;         // /proc/PID, valid for this process only
	std::string proc_root = "/proc";

	[[nodiscard]] bool parked() const { return !dirfd; }
	void park()
	{
		pidfd.reset();
		dirfd.reset();
	}
	// ESRCH once the process has exited (or is a zombie), or when a parked
	// process's pid now names another process.
	[[nodiscard]] Result<void> check_alive() const;
};

// The /proc/PID directory of a process for one piece of work: the
// process's own dirfd, or for a parked process a fresh one, verified by
// start time.  ESRCH when the process is gone (or its pid was reused),
// EMFILE/ENFILE when no descriptor is left.
class ProcessDir {
public:
	[[nodiscard]] static Result<ProcessDir> open(const Process& p);
	[[nodiscard]] int get() const { return fd_; }

private:
	UniqueFd own_;
	int fd_ = -1;
};

// How many processes a selection keeps open (two descriptors each): the
// RLIMIT_NOFILE soft limit less a reserve for the scan itself.
[[nodiscard]] size_t descriptor_budget();

enum class SkipReason { not_found, gone, permission, kernel_thread, zombie, self, no_descriptors };
[[nodiscard]] std::string_view to_string(SkipReason r);

struct Skipped {
	pid_t pid = 0;
	std::string comm;       // empty when unknown
	SkipReason reason = SkipReason::not_found;
	bool named = false;     // the caller named this pid explicitly
	std::string detail;
};

struct Criteria {
	std::vector<pid_t> pids;          // explicit pids (arguments or stdin)
	bool all = false;
	std::vector<uid_t> users;         // --user
	std::optional<std::regex> name;   // --name, against comm or (full) cmdline
	bool full = false;
	std::vector<pid_t> exclude_pids;
	std::vector<std::regex> exclude_names;
	[[nodiscard]] bool implicit() const { return all || !users.empty() || name.has_value(); }
};

struct Selection {
	std::vector<Process> processes;   // sorted by pid
	std::vector<Skipped> skipped;
};

// Enumerates /proc through libproc2 for implicit criteria, opens a pidfd
// for every candidate and drops kernel threads, zombies and the caller
// itself (with a reason in `skipped`).  Fails only when the system cannot
// be enumerated at all (e.g. /proc not mounted).
[[nodiscard]] Result<Selection> select_processes(const Criteria& c, const procfs::Root& root = {});

// Pin one pid: pidfd + /proc dirfd + stat.  ESRCH (not found or gone),
// EACCES, or EINVAL for kernel threads/zombies with `reason` set.
[[nodiscard]] Result<Process> open_process(pid_t pid, const procfs::Root& root, SkipReason* reason);

// Whitespace-separated decimal pids, as pgrep prints them.  EINVAL names the
// first malformed token and its position.
[[nodiscard]] Result<std::vector<pid_t>> parse_pid_list(std::string_view text);
// A decimal pid > 0.
[[nodiscard]] Result<pid_t> parse_pid(std::string_view text);
// A user name or a numeric uid.  ENOENT for an unknown name.
[[nodiscard]] Result<uid_t> resolve_user(std::string_view text);
[[nodiscard]] std::string user_name(uid_t uid);

} // namespace mergemem
