// SPDX-License-Identifier: GPL-2.0-or-later
// memmerge's report: one row per opted-in process, the refusals, the
// session, rendered as a table or the mergemem.memmerge/1 document.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mergemem/merge.hpp"
#include "mergemem/report.hpp"
#include "mergemem/scan.hpp"

namespace mergemem {

struct MergeRow {
	pid_t pid = 0;
	std::string comm, user;
	TargetKsm before, after;
	int64_t shared_before = -1, shared_after = -1; // from frames; -1 without PFNs
	bool gone = false;    // exited during the session: left out of the savings
};

struct Refusal {
	pid_t pid = 0;
	std::string comm, reason, message;
};

// The merge policy.  Refuses every process the caller could not ptrace
// (opening /proc/PID/mem takes the same PTRACE_MODE_ATTACH check) and,
// unless allow_cross_user, every process whose owner differs from that of
// the first process the caller may touch: pages merged between two users
// are a side channel between them (a write's timing tells whether the other
// side holds the same content).
struct MergeSet {
	std::vector<const Process*> targets;
	std::vector<Refusal> refused;
};
[[nodiscard]] MergeSet merge_policy(const std::vector<Process>& procs, bool allow_cross_user);

// "cannot ptrace it — ..." with what to do; names kernel.yama.ptrace_scope
// only where Yama restricts ptrace.
[[nodiscard]] std::string cannot_ptrace_message();

struct MergeReport {
	std::string backend, mode;
	bool merge = true;
	bool boost = false;
	uint64_t pages_to_scan = 0;
	bool keep_running = false;
	uint64_t estimate = 0;
	int64_t saved_pages = 0;
	size_t page_size = 4096;
	WatchResult watch;
	std::vector<MergeRow> rows;
	std::vector<Refusal> refused;
};

// Fills rows' frame counts and saved_pages from the scans taken before and
// after (exact with frame numbers; otherwise the KSM counters' delta, an
// upper bound).  A process that exited during the session is marked gone
// and the before-scan is re-analysed without it, so its freed memory never
// counts as saved.  Returns the pids marked gone.
std::vector<pid_t> account(MergeReport& m, std::optional<ScanResult>& pre_scan, std::optional<Report>& pre,
                           const std::optional<Report>& post);
[[nodiscard]] std::string render_merge_table(const MergeReport& m);
[[nodiscard]] std::string render_merge_json(const MergeReport& m);

} // namespace mergemem
