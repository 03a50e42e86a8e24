// SPDX-License-Identifier: GPL-2.0-or-later
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "mergemem/format.hpp"
#include "mergemem/merge_report.hpp"

#ifndef MERGEMEM_VERSION
#define MERGEMEM_VERSION "0"
#endif

namespace mergemem {

namespace {

int64_t shared_of(const std::optional<Report>& rep, pid_t pid)
{
	if (!rep || !rep->pfn_visible)
		return -1;
	for (auto& row : rep->per_process)
		if (row.pid == pid)
			return int64_t(row.counts.shared_pages);
	return -1;
}

} // namespace

std::vector<pid_t> account(MergeReport& m, std::optional<ScanResult>& pre_scan, std::optional<Report>& pre,
                           const std::optional<Report>& post)
{
	std::vector<pid_t> gone;
	for (auto& r : m.rows) {
		bool in_post = false;
		if (post)
			for (auto& row : post->per_process)
				in_post = in_post || row.pid == r.pid;
		r.gone = r.after.gone || (post && !in_post);
		if (r.gone)
			gone.push_back(r.pid);
	}
	if (!gone.empty() && pre_scan) {
		for (auto& ps : pre_scan->processes)
			if (std::find(gone.begin(), gone.end(), ps.pid) != gone.end())
				forget_process(*pre_scan, ps, Error{ESRCH, "pid " + std::to_string(ps.pid) + ": exited during the session"});
		pre = analyze(*pre_scan, {});
	}
	for (auto& r : m.rows) {
		r.shared_before = shared_of(pre, r.pid);
		r.shared_after = shared_of(post, r.pid);
	}
	m.saved_pages = 0;
	if (!m.merge)
		return gone;
	if (pre && post && pre->pfn_visible)
		m.saved_pages = int64_t(pre->summary.savings_pages) - int64_t(post->summary.savings_pages);
	else
		for (auto& r : m.rows)
			if (!r.gone)
				m.saved_pages += (r.after.merging + r.after.zero) - (r.before.merging + r.before.zero);
	return gone;
}

std::string render_merge_table(const MergeReport& m)
{
	std::string out;
	char line[512];
	std::snprintf(line, sizeof line, "%7s %-15s %10s %10s\n", "PID", "COMM", "BEFORE", "AFTER");
	out += line;
	for (auto& r : m.rows) {
		// ksm_merging_pages lags an unmerge until ksmd revisits the pages:
		// then the frames tell the truth.
		uint64_t b = uint64_t(r.before.merging + r.before.zero), a = uint64_t(r.after.merging + r.after.zero);
		if (!m.merge && r.shared_after >= 0)
			b = uint64_t(std::max<int64_t>(r.shared_before, 0)), a = uint64_t(r.shared_after);
		std::snprintf(line, sizeof line, "%7d %-15s %10s %10s\n", r.pid, r.comm.c_str(),
		              human_bytes(b * m.page_size).c_str(), r.gone ? "gone" : human_bytes(a * m.page_size).c_str());
		out += line;
	}
	const auto& w = m.watch;
	std::snprintf(line, sizeof line, "%s %zu processes: %s saved, %llu full scans, %.1f s, ksmd %.1f s CPU (%s)\n",
	              m.merge ? "merged" : "unmerged", m.rows.size(),
	              human_bytes(uint64_t(std::max<int64_t>(m.saved_pages, 0)) * m.page_size).c_str(),
	              (unsigned long long)(w.after_global.full_scans - w.before_global.full_scans), w.seconds, w.ksmd_cpu,
	              w.ended.c_str());
	out += line;
	return out;
}

std::string render_merge_json(const MergeReport& m)
{
	using json = nlohmann::ordered_json;
	const auto& w = m.watch;
	json out;
	out["schema"] = "mergemem.memmerge/1";
	out["version"] = MERGEMEM_VERSION;
	out["backend"] = m.backend;
	out["mode"] = m.mode;
	out["action"] = m.merge ? "merge" : "unmerge";
	json session;
	session["boost"] = m.boost;
	session["pages_to_scan"] = m.pages_to_scan;
	session["sleep_millisecs"] = w.sleep_millisecs;
	session["smart_scan"] = 0;
	session["keep_running"] = m.keep_running;
	json saved = json::object();
	for (auto& [k, v] : w.saved)
		saved[k] = v;
	session["saved"] = saved;
	session["restored"] = !w.restore_error.has_value();
	out["session"] = session;
	json procs = json::array();
	for (auto& r : m.rows) {
		json row = {{"pid", r.pid},
		            {"comm", r.comm},
		            {"user", r.user},
		            {"merging_pages_before", r.before.merging},
		            {"merging_pages_after", r.after.merging},
		            {"zero_pages_before", r.before.zero},
		            {"zero_pages_after", r.after.zero},
		            {"gone", r.gone}};
		if (r.shared_before >= 0 && r.shared_after >= 0) {
			row["shared_pages_before"] = r.shared_before;
			row["shared_pages_after"] = r.shared_after;
		}
		procs.push_back(row);
	}
	out["processes"] = procs;
	json refused = json::array();
	for (auto& f : m.refused)
		refused.push_back({{"pid", f.pid}, {"comm", f.comm}, {"reason", f.reason}, {"message", f.message}});
	out["refused"] = refused;
	out["summary"] = {{"processes", m.rows.size()},
	                  {"refused", m.refused.size()},
	                  {"estimate_pages", m.estimate},
	                  {"saved_pages", m.saved_pages},
	                  {"saved_bytes", m.saved_pages * int64_t(m.page_size)},
	                  {"full_scans", w.after_global.full_scans - w.before_global.full_scans},
	                  {"seconds", w.seconds},
	                  {"ksmd_cpu_seconds", w.ksmd_cpu},
	                  {"ended", w.ended}};
	return out.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

} // namespace mergemem
