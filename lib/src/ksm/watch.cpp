// SPDX-License-Identifier: GPL-2.0-or-later
#include <cerrno>
#include <thread>

#include "mergemem/log.hpp"
#include "mergemem/merge.hpp"

namespace mergemem {

TargetKsm read_target_ksm(const Process& p)
{
	TargetKsm t;
	auto dir = ProcessDir::open(p);
	auto text = dir ? read_file_at(dir->get(), "ksm_stat") : Result<std::string>(std::unexpected(dir.error()));
	// A parked process's directory was just verified (start time, not a
	// zombie) by ProcessDir::open: only an open one needs the pidfd check.
	if (!text || (!p.parked() && !p.check_alive())) {
		t.gone = true;
		return t;
	}
	if (auto k = procfs::parse_ksm_stat(*text)) {
		t.merging = k->merging_pages;
		t.zero = k->zero_pages;
	}
	return t;
}

Result<WatchResult> merge_and_watch(const std::vector<const Process*>& targets, const WatchOptions& o)
{
	using clock = std::chrono::steady_clock;
	WatchResult w;
	auto g0 = read_ksm_global(o.ksm.root);
	if (!g0)
		return fail(g0.error().code, "KSM: " + g0.error().message());
	std::optional<KsmSession> sess;
	if (o.boost) {
		auto s = KsmSession::start(o.ksm);
		if (!s)
			return std::unexpected(s.error());
		sess.emplace(std::move(*s));
		w.saved = sess->saved();
		w.recovered = sess->recovered();
		w.sleep_millisecs = sess->sleep_millisecs();
	} else if (g0->run != 1) {
		return fail(EPERM, "ksmd is not running (run=" + std::to_string(g0->run) +
		                       ") and only root can start it — run memmerge as root");
	}
	w.before_global = *g0;
	const double cpu0 = ksmd_cpu_seconds(o.ksm.root);
	const auto t0 = clock::now();
	int64_t last_sum = -1;
	uint64_t stable_from = g0->full_scans;
	double cpu_mark = cpu0;
	auto mark = t0;
	auto last_progress = t0;
	for (;;) {
		if (o.stop && o.stop->load()) {
			w.ended = "interrupted";
			break;
		}
		if (clock::now() - t0 > o.timeout) {
			w.ended = "timeout";
			break;
		}
		auto g = read_ksm_global(o.ksm.root);
		int64_t sum = 0;
		for (auto* p : targets) {
			auto t = read_target_ksm(*p);
			sum += t.merging + t.zero;
		}
		if (g && o.progress && clock::now() - last_progress >= std::chrono::milliseconds(200)) {
			last_progress = clock::now();
			o.progress(sum, g->full_scans - g0->full_scans, std::chrono::duration<double>(last_progress - t0).count());
		}
		if (g) {
			if (sum != last_sum) {
				last_sum = sum;
				stable_from = g->full_scans;
			}
			if (o.estimate > 0 && uint64_t(sum) >= o.estimate) {
				w.ended = "estimate";
				break;
			}
			// Unchanged over two full scans: ksmd has seen every page twice
			// (checksum, then unstable tree and merge) since the last change.
			// The first completed scan may be the tail of a pass that began
			// before the targets opted in, so at least three must complete.
			if (g->full_scans >= stable_from + 2 && g->full_scans >= g0->full_scans + 3) {
				w.ended = "stable";
				break;
			}
		}
		// The CPU budget: halve or double ksmd's sleep every half second.
		if (sess && clock::now() - mark > std::chrono::milliseconds(500)) {
			double cpu = ksmd_cpu_seconds(o.ksm.root);
			double wall = std::chrono::duration<double>(clock::now() - mark).count();
			double frac = (cpu - cpu_mark) / wall * 100.0;
			uint64_t s = sess->sleep_millisecs();
			if (frac > o.max_cpu * 1.05)
				(void)sess->set_sleep(std::max<uint64_t>(s * 2, s + 1));
			else if (frac < o.max_cpu * 0.5 && s > o.ksm.sleep_millisecs)
				(void)sess->set_sleep(std::max(o.ksm.sleep_millisecs, s / 2));
			cpu_mark = cpu;
			mark = clock::now();
		}
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
	}
	w.seconds = std::chrono::duration<double>(clock::now() - t0).count();
	w.ksmd_cpu = ksmd_cpu_seconds(o.ksm.root) - cpu0;
	if (sess) {
		w.sleep_millisecs = sess->sleep_millisecs();
		if (auto r = sess->restore(); !r)
			w.restore_error = r.error();
	}
	for (auto* p : targets)
		w.after.push_back(read_target_ksm(*p));
	if (auto g = read_ksm_global(o.ksm.root))
		w.after_global = *g;
	return w;
}

} // namespace mergemem
