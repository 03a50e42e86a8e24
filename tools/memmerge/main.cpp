// SPDX-License-Identifier: GPL-2.0-or-later
// memmerge: merge a running process set with KSM, as one bounded session.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "cli.hpp"
#include "mergemem/backend.hpp"
#include "mergemem/format.hpp"
#include "mergemem/log.hpp"
#include "mergemem/merge.hpp"
#include "mergemem/render.hpp"
#include "mergemem/report.hpp"

using namespace mergemem;
using mmcli::Exit;
using json = nlohmann::ordered_json;

static std::atomic<int> g_signal{0};
static void on_signal(int sig) { g_signal = sig; }

static std::optional<std::pair<uint64_t, uint64_t>> parse_range(const std::string& s)
{
	auto dash = s.find('-');
	if (dash == std::string::npos)
		return std::nullopt;
	try {
		size_t used = 0;
		uint64_t a = std::stoull(s.substr(0, dash), &used, 16);
		if (used != dash)
			return std::nullopt;
		uint64_t b = std::stoull(s.substr(dash + 1), &used, 16);
		if (used != s.size() - dash - 1 || b <= a || a % 4096 || b % 4096)
			return std::nullopt;
		return std::pair{a, b};
	} catch (...) {
		return std::nullopt;
	}
}

int main(int argc, char** argv)
{
	mmcli::Tool tool{"memmerge"};
	cxxopts::Options o("memmerge", "Merge identical pages of a running process set with KSM.");
	o.custom_help("[options] [PID...]");
	o.positional_help("");
	mmcli::add_selection_options(o);
	o.add_options("Merge")
	    ("mode", "opt-in: prctl (whole process, 6.4+) or madvise", cxxopts::value<std::string>(), "prctl|madvise")
	    ("range", "with --mode madvise: only ADDR-ADDR (hex)", cxxopts::value<std::string>(), "ADDR-ADDR")
	    ("unmerge", "opt out and unmerge instead (can raise memory use sharply)")
	    ("dry-run", "show what would merge, change nothing")
	    ("backend", "auto, kmod or ptrace", cxxopts::value<std::string>()->default_value("auto"), "NAME")
	    ("allow-cross-user", "merge processes of different users (a side channel between them)")
	    ("scan-rate", "ksmd pages_to_scan during the session", cxxopts::value<uint64_t>()->default_value("20000"), "PAGES")
	    ("sleep", "ksmd sleep_millisecs during the session", cxxopts::value<uint64_t>()->default_value("1"), "MS")
	    ("max-cpu", "CPU budget for ksmd, percent of one CPU", cxxopts::value<double>()->default_value("100"), "PCT")
	    ("timeout", "give up waiting after SECONDS", cxxopts::value<double>()->default_value("60"), "SECONDS")
	    ("keep-running", "leave ksmd running after the session");
	o.add_options("Output")
	    ("json", "print the mergemem.memmerge/1 JSON document")
	    ("q,quiet", "no progress line")
	    ("v,verbose", "say which backend, mode and session settings were used")
	    ("h,help", "show this help and exit")
	    ("V,version", "show the version and exit");
	o.parse_positional({"pids"});
	auto r = mmcli::parse_or_die(tool, o, argc, argv);
	if (r.count("help")) {
		std::fputs(o.help({"Selection", "Merge", "Output"}).c_str(), stdout);
		std::puts("\nPIDs are read from stdin when none are given and stdin is not a terminal.\nSee memmerge(1).");
		return Exit::ok;
	}
	if (r.count("version")) {
		mmcli::print_version(tool);
		return Exit::ok;
	}
	tool.verbose = r.count("verbose") > 0;
	set_log([&](LogLevel l, std::string_view m) {
		if (l != LogLevel::debug || tool.verbose)
			tool.err(m);
	});
	for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
		struct sigaction sa{};
		sa.sa_handler = on_signal;
		sigaction(sig, &sa, nullptr);
	}

	AdviseRequest req;
	req.merge = !r.count("unmerge");
	std::string mode = r.count("mode") ? r["mode"].as<std::string>() : kernel_has_memory_merge() ? "prctl" : "madvise";
	if (mode != "prctl" && mode != "madvise")
		tool.die(Exit::usage, "--mode '" + mode + "': expected prctl or madvise");
	req.mode = mode == "prctl" ? OptInMode::prctl : OptInMode::madvise;
	if (r.count("range")) {
		if (req.mode != OptInMode::madvise)
			tool.die(Exit::usage, "--range needs --mode madvise");
		req.range = parse_range(r["range"].as<std::string>());
		if (!req.range)
			tool.die(Exit::usage, "--range '" + r["range"].as<std::string>() + "': expected page-aligned hex START-END");
	}
	auto backend = make_backend(r["backend"].as<std::string>());
	if (!backend)
		tool.die(backend.error().code == EINVAL ? Exit::usage : Exit::fatal, backend.error().context);
	WatchOptions wopt;
	wopt.ksm.pages_to_scan = r["scan-rate"].as<uint64_t>();
	wopt.ksm.sleep_millisecs = r["sleep"].as<uint64_t>();
	wopt.ksm.keep_running = r.count("keep-running") > 0;
	wopt.ksm.stop = &g_signal;
	wopt.max_cpu = r["max-cpu"].as<double>();
	wopt.timeout = std::chrono::milliseconds(int64_t(r["timeout"].as<double>() * 1000));
	wopt.stop = &g_signal;
	wopt.boost = geteuid() == 0;
	if (wopt.ksm.pages_to_scan == 0 || wopt.ksm.sleep_millisecs == 0 || wopt.max_cpu <= 0 || wopt.max_cpu > 100 || wopt.timeout.count() <= 0)
		tool.die(Exit::usage, "--scan-rate, --sleep, --max-cpu (1-100) and --timeout must be positive");

	mmcli::raise_nofile();
	auto sel = mmcli::select_or_die(tool, mmcli::selection_from(tool, r));
	json refused = json::array();
	auto refuse = [&](pid_t pid, const std::string& comm, const std::string& reason, const std::string& msg) {
		tool.err(msg);
		refused.push_back({{"pid", pid}, {"comm", comm}, {"reason", reason}, {"message", msg}});
	};
	for (auto& s : sel.skipped)
		if (s.named)
			refuse(s.pid, s.comm, std::string(to_string(s.reason)), mmcli::skip_message(s));

	// Policy: merged pages are a side channel between the processes that
	// share them, so one run merges one user's processes unless told otherwise.
	std::vector<const Process*> targets;
	for (auto& p : sel.processes) {
		uid_t owner = sel.processes.front().uid;
		if (p.uid != owner && !r.count("allow-cross-user")) {
			refuse(p.pid, p.comm, "cross-user",
			       "pid " + std::to_string(p.pid) + " (" + p.comm + "): owned by " + p.user + ", the set is " +
			           sel.processes.front().user + "'s — merging across users is a side channel; use --allow-cross-user");
			continue;
		}
		targets.push_back(&p);
	}
	tool.info("backend " + std::string((*backend)->name()) + ", mode " + mode + ", scan-rate " +
	          std::to_string(wopt.ksm.pages_to_scan) + ", max-cpu " + std::to_string(int(wopt.max_cpu)) + "%, timeout " +
	          std::to_string(wopt.timeout.count() / 1000) + " s" + (wopt.boost ? "" : ", no KSM boost (not root)"));

	// What would merge: memdup's engine over the targets.  Run again after
	// the session, its savings tell exactly what the merge freed (global
	// KSM counters also move for processes outside the set).
	auto engine = [&](const std::vector<const Process*>& set) -> std::optional<Report> {
		std::vector<Process> view;
		for (auto* p : set)
			if (auto q = open_process(p->pid, {}, nullptr))
				view.push_back(std::move(*q));
		ScanOptions so;
		so.threads = std::max(1u, std::thread::hardware_concurrency());
		auto sc = scan(view, so);
		if (!sc)
			return std::nullopt;
		return analyze(*sc, {});
	};
	uint64_t estimate = 0;
	std::optional<Report> pre = engine(targets);
	{
		if (pre) {
			Report& rep = *pre;
			estimate = rep.summary.duplicate_pages - std::min(rep.summary.duplicate_pages, rep.summary.unmergeable_pages);
			if (r.count("dry-run")) {
				RenderOptions ro;
				ro.tool = "memdup";
				ro.columns = default_process_columns();
				if (r.count("json"))
					std::fputs(render_json(rep, ro).c_str(), stdout);
				else
					std::printf("%s%s\nwould merge up to %s (%s freed); nothing was changed\n", render_table(rep, ro).c_str(),
					            summary_line(rep).c_str(), human_bytes(estimate * rep.page_size).c_str(),
					            human_bytes(rep.summary.savings_pages * rep.page_size).c_str());
				return refused.empty() ? Exit::ok : Exit::partial;
			}
		}
	}
	const uint64_t psz = uint64_t(sysconf(_SC_PAGESIZE));
	std::vector<TargetKsm> before;
	for (auto* p : targets)
		before.push_back(read_target_ksm(*p));
	if (!req.merge) {
		int64_t merged = 0;
		for (auto& b : before)
			merged += b.merging + b.zero;
		tool.err("warning: unmerging gives every merged page its own frame again: up to " +
		         human_bytes(uint64_t(merged) * psz) + " more memory for these processes");
	}

	std::vector<const Process*> opted;
	std::vector<TargetKsm> opted_before;
	for (size_t i = 0; i < targets.size() && !g_signal; ++i) {
		auto a = (*backend)->advise(*targets[i], req);
		if (!a) {
			const auto& e = a.error();
			std::string reason = e.code == ESRCH ? "gone" : e.code == EPERM || e.code == EACCES ? "permission"
			                   : e.code == EBUSY ? "traced" : "error";
			refuse(targets[i]->pid, targets[i]->comm, reason, e.code == ESRCH ? e.context + " — skipped" : e.message());
			continue;
		}
		opted.push_back(targets[i]);
		opted_before.push_back(before[i]);
	}
	json out;
	out["schema"] = "mergemem.memmerge/1";
	out["version"] = MERGEMEM_VERSION;
	out["backend"] = (*backend)->name();
	out["mode"] = mode;
	out["action"] = req.merge ? "merge" : "unmerge";
	WatchResult w;
	if (req.merge && !opted.empty() && !g_signal) {
		wopt.estimate = estimate;
		auto res = merge_and_watch(opted, wopt);
		if (!res)
			tool.die(res.error().code == ECANCELED ? 128 + g_signal.load() : Exit::fatal, res.error().message());
		w = std::move(*res);
		if (w.restore_error)
			tool.err("could not restore a KSM setting: " + w.restore_error->message() + " — check /sys/kernel/mm/ksm");
	} else {
		for (auto* p : opted)
			w.after.push_back(read_target_ksm(*p));
		w.ended = g_signal ? "interrupted" : "done";
	}
	// After: frames from memdup's engine (exact with root), counters from
	// ksm_stat.  After an unmerge the counters lag until ksmd revisits the
	// pages, so the frames are what the table shows then.
	std::optional<Report> post;
	if (!opted.empty())
		post = engine(opted);
	auto shared_of = [](const std::optional<Report>& rep, pid_t pid) -> int64_t {
		if (!rep || !rep->pfn_visible)
			return -1;
		for (auto& row : rep->per_process)
			if (row.pid == pid)
				return int64_t(row.counts.shared_pages);
		return -1;
	};
	json procs = json::array();
	std::vector<std::vector<std::string>> rows;
	for (size_t i = 0; i < opted.size(); ++i) {
		auto& b = opted_before[i];
		auto& a = w.after[i];
		int64_t sb = shared_of(pre, opted[i]->pid), sa = shared_of(post, opted[i]->pid);
		json row = {{"pid", opted[i]->pid}, {"comm", opted[i]->comm}, {"user", opted[i]->user},
		            {"merging_pages_before", b.merging}, {"merging_pages_after", a.merging},
		            {"zero_pages_before", b.zero}, {"zero_pages_after", a.zero}, {"gone", a.gone}};
		if (sb >= 0 && sa >= 0) {
			row["shared_pages_before"] = sb;
			row["shared_pages_after"] = sa;
		}
		procs.push_back(row);
		uint64_t before_pages = uint64_t(b.merging + b.zero), after_pages = uint64_t(a.merging + a.zero);
		if (!req.merge && sa >= 0)
			before_pages = uint64_t(std::max<int64_t>(sb, 0)), after_pages = uint64_t(sa);
		rows.push_back({std::to_string(opted[i]->pid), opted[i]->comm, human_bytes(before_pages * psz),
		                human_bytes(after_pages * psz)});
	}
	int64_t saved = 0;
	if (pre && post && pre->pfn_visible)
		saved = int64_t(pre->summary.savings_pages) - int64_t(post->summary.savings_pages);
	else // without frame numbers: pages that now map a KSM page, an upper bound
		for (size_t i = 0; i < opted.size(); ++i)
			saved += (w.after[i].merging + w.after[i].zero) - (opted_before[i].merging + opted_before[i].zero);
	json session;
	session["boost"] = wopt.boost && req.merge;
	session["pages_to_scan"] = wopt.ksm.pages_to_scan;
	session["sleep_millisecs"] = w.sleep_millisecs;
	session["smart_scan"] = 0;
	session["keep_running"] = wopt.ksm.keep_running;
	json saved_knobs = json::object();
	for (auto& [k, v] : w.saved)
		saved_knobs[k] = v;
	session["saved"] = saved_knobs;
	session["restored"] = !w.restore_error.has_value();
	out["session"] = session;
	out["processes"] = procs;
	out["refused"] = refused;
	out["summary"] = {{"processes", opted.size()},       {"refused", refused.size()},
	                  {"estimate_pages", estimate},      {"saved_pages", saved},
	                  {"saved_bytes", saved * int64_t(psz)}, {"full_scans", w.after_global.full_scans - w.before_global.full_scans},
	                  {"seconds", w.seconds},           {"ksmd_cpu_seconds", w.ksmd_cpu},
	                  {"ended", w.ended}};
	if (r.count("json")) {
		std::fputs((out.dump(2) + "\n").c_str(), stdout);
	} else {
		std::printf("%7s %-15s %10s %10s\n", "PID", "COMM", "BEFORE", "AFTER");
		for (auto& row : rows)
			std::printf("%7s %-15s %10s %10s\n", row[0].c_str(), row[1].c_str(), row[2].c_str(), row[3].c_str());
		std::printf("%s %zu processes: %s saved, %llu full scans, %.1f s, ksmd %.1f s CPU (%s)\n",
		            req.merge ? "merged" : "unmerged", opted.size(), human_bytes(uint64_t(std::max<int64_t>(saved, 0)) * psz).c_str(),
		            (unsigned long long)(w.after_global.full_scans - w.before_global.full_scans), w.seconds, w.ksmd_cpu,
		            w.ended.c_str());
	}
	std::fflush(stdout);
	if (int sig = g_signal.load()) {
		signal(sig, SIG_DFL);
		raise(sig);
	}
	if (w.restore_error)
		return Exit::fatal;
	return refused.empty() && !opted.empty() && w.ended != "timeout" ? Exit::ok : Exit::partial;
}
