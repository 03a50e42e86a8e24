// SPDX-License-Identifier: GPL-2.0-or-later
// Driving ksmd until a target set has merged: a bounded, self-restoring
// session (KsmSession) plus the convergence watch.
#pragma once
#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "mergemem/ksm.hpp"
#include "mergemem/select.hpp"

namespace mergemem {

struct TargetKsm {
	int64_t merging = 0;  // ksm_merging_pages
	int64_t zero = 0;     // ksm_zero_pages (pages merged into the zero page)
	bool gone = false;
};
// Per-process KSM counters from /proc/PID/ksm_stat (gone when it exited).
[[nodiscard]] TargetKsm read_target_ksm(const Process& p);

struct WatchOptions {
	KsmSessionOptions ksm;
	bool boost = true;                        // false: no session, ksmd as it is
	double max_cpu = 100;                     // % of one CPU ksmd may use
	std::chrono::milliseconds timeout{60000};
	uint64_t estimate = 0;                    // pages expected to merge (0: unknown)
	const std::atomic<int>* stop = nullptr;   // a caught signal number, or 0
	// Called about five times a second: pages merged so far, full scans
	// since the start, seconds elapsed.
	std::function<void(int64_t merged, uint64_t full_scans, double seconds)> progress;
};

struct WatchResult {
	std::vector<TargetKsm> after;
	KsmGlobal before_global, after_global;
	double seconds = 0;
	double ksmd_cpu = 0;
	std::string ended;                        // "estimate", "stable", "timeout", "interrupted"
	uint64_t sleep_millisecs = 0;             // the boost's final sleep (CPU budget)
	std::vector<std::pair<std::string, std::string>> saved;
	bool recovered = false;
	std::optional<Error> restore_error;       // set if a knob could not be written back
};

// Starts the session (when boost), waits for convergence: the targets'
// merged pages reach the estimate, or stay unchanged over two full scans;
// bounded by the timeout and by a caught signal.  Restores the knobs before
// returning, on every path.
[[nodiscard]] Result<WatchResult> merge_and_watch(const std::vector<const Process*>& targets, const WatchOptions& o);

} // namespace mergemem
