// SPDX-License-Identifier: GPL-2.0-or-later
// A KSM session: saves every /sys/kernel/mm/ksm knob it changes, boosts
// ksmd, and restores the knobs on every exit path (destructor; the tool
// turns SIGINT/SIGTERM/SIGHUP into a normal return).  A flock under /run
// keeps two sessions from clobbering each other's saved values, and a state
// file lets the next session repair the knobs of one that was SIGKILLed.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "mergemem/error.hpp"
#include "mergemem/procfs.hpp"

namespace mergemem {

struct KsmGlobal {
	uint64_t run = 0;
	uint64_t full_scans = 0;
	uint64_t pages_shared = 0;
	uint64_t pages_sharing = 0;
	uint64_t zero_pages = 0;     // ksm_zero_pages (0 where the kernel lacks it)
	uint64_t use_zero_pages = 0;
};
// ENOENT: the kernel has no KSM (CONFIG_KSM off).
[[nodiscard]] Result<KsmGlobal> read_ksm_global(const procfs::Root& root = {});
// ksmd's CPU time in seconds (utime+stime), or 0 when not found.
[[nodiscard]] double ksmd_cpu_seconds(const procfs::Root& root = {});

struct KsmSessionOptions {
	uint64_t pages_to_scan = 20000; // measured: 2 x 256 MiB merge in ~1 s (platform notes)
	uint64_t sleep_millisecs = 1;
	bool keep_running = false;      // leave run=1 when restoring
	std::string lock_path = "/run/mergemem/ksm.lock";
	std::string state_path = "/run/mergemem/ksm.saved";
	std::chrono::milliseconds lock_timeout{30000};
	const std::atomic<int>* stop = nullptr; // a caught signal ends the lock wait (ECANCELED)
	procfs::Root root;
};

class KsmSession {
public:
	// EACCES: not root; EBUSY: another session holds the lock past the
	// timeout; ENOENT: no KSM.
	[[nodiscard]] static Result<KsmSession> start(const KsmSessionOptions& o);
	// Writes back every saved knob (run last).  Idempotent.
	Result<void> restore();
	// Adjust the boost mid-session (the CPU budget controller).
	Result<void> set_sleep(uint64_t ms);
	[[nodiscard]] uint64_t sleep_millisecs() const;
	// The knobs as found, in the order they will be restored.
	[[nodiscard]] const std::vector<std::pair<std::string, std::string>>& saved() const;
	// Set when start() found and repaired the knobs of a session that died.
	[[nodiscard]] bool recovered() const;

	KsmSession(KsmSession&&) noexcept;
	KsmSession& operator=(KsmSession&&) noexcept;
	~KsmSession();
	struct State;

private:
	explicit KsmSession(std::unique_ptr<State> s);
	std::unique_ptr<State> s_;
};

} // namespace mergemem
