// SPDX-License-Identifier: GPL-2.0-or-later
// memmerge: merge a running process set with KSM, as one bounded session.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <set>
#include <thread>

#include "cli.hpp"
#include "mergemem/backend.hpp"
#include "mergemem/format.hpp"
#include "mergemem/log.hpp"
#include "mergemem/merge.hpp"
#include "mergemem/merge_report.hpp"
#include "mergemem/render.hpp"
#include "mergemem/report.hpp"
#include "mergemem/snapshot.hpp"

using namespace mergemem;
using mmcli::Exit;

static std::atomic<int> g_signal{0};
static void on_signal(int sig) { g_signal = sig; }

// Interrupted: the knobs are back (the session restored them), say so and
// die of the signal, so that a shell or systemd sees what happened.
[[noreturn]] static void die_of(const mmcli::Tool& tool, int sig)
{
	tool.err(std::string("interrupted by SIG") + sigabbrev_np(sig) + "; KSM settings restored");
	std::fflush(stdout);
	signal(sig, SIG_DFL);
	raise(sig);
	_exit(128 + sig);
}

// Where the end-of-session snapshot goes unless --snapshot says otherwise:
// /var/lib/mergemem for root, $XDG_STATE_HOME/mergemem for everyone else.
static std::string default_snapshot_path()
{
	if (geteuid() == 0)
		return "/var/lib/mergemem/last.snapshot";
	if (const char* x = getenv("XDG_STATE_HOME"); x && *x == '/')
		return std::string(x) + "/mergemem/last.snapshot";
	const char* home = getenv("HOME");
	return std::string(home && *home ? home : "/tmp") + "/.local/state/mergemem/last.snapshot";
}

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
	    ("keep-running", "leave ksmd running after the session")
	    ("snapshot", "write the memsplit snapshot to FILE (default: see memmerge(1))", cxxopts::value<std::string>(), "FILE")
	    ("no-snapshot", "write no memsplit snapshot")
	    ("config", "read options from FILE first, one per line (see memmerge(1))", cxxopts::value<std::string>(), "FILE");
	o.add_options("Output")
	    ("json", "print the mergemem.memmerge/1 JSON document");
	mmcli::add_common_options(o, "Output", "say which backend, mode and session settings were used");
	auto r = mmcli::start(tool, o, argc, argv, {"Selection", "Merge", "Output"});
	sigset_t mask;
	sigemptyset(&mask);
	for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
		struct sigaction sa{};
		sa.sa_handler = on_signal;
		sigaction(sig, &sa, nullptr);
		sigaddset(&mask, sig);
	}
	// A parent may have blocked them (to hand them over race-free): the
	// handler is in place, so take them from here on.
	sigprocmask(SIG_UNBLOCK, &mask, nullptr);

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

	if (req.merge && !wopt.boost && !r.count("dry-run")) {
		// Check before opting anyone in: without root, ksmd must already run.
		auto g = read_ksm_global();
		if (!g)
			tool.die(Exit::fatal, "KSM is not available: " + g.error().message());
		if (g->run != 1)
			tool.die(Exit::fatal, "ksmd is not running (run=" + std::to_string(g->run) +
			                          ") and only root can start it — run memmerge as root");
	}
	mmcli::raise_nofile();
	// A configuration file that selects nothing (as shipped) is not an error
	// for the nightly service: there is nothing to do yet.
	if (r.count("config") && !r.count("pids") && !r.count("all") && !r.count("user") && !r.count("name")) {
		tool.err(r["config"].as<std::string>() + " selects no processes (add a name or user line) — nothing to do");
		return Exit::ok;
	}
	auto sel = mmcli::select_or_die(tool, mmcli::selection_from(tool, r));
	MergeReport m;
	m.backend = (*backend)->name();
	if (m.backend == "kmod")
		mode = "madvise"; // ADVISE is ksm_madvise over the current VMAs
	m.mode = mode;
	m.merge = req.merge;
	m.boost = wopt.boost && req.merge;
	m.pages_to_scan = wopt.ksm.pages_to_scan;
	m.keep_running = wopt.ksm.keep_running;
	m.page_size = size_t(sysconf(_SC_PAGESIZE));
	auto refuse = [&](pid_t pid, const std::string& comm, const std::string& reason, const std::string& msg) {
		tool.err(msg);
		m.refused.push_back({pid, comm, reason, msg});
	};
	for (auto& s : sel.skipped)
		if (s.named)
			refuse(s.pid, s.comm, std::string(to_string(s.reason)), mmcli::skip_message(s));

	auto policy = merge_policy(sel.processes, r.count("allow-cross-user"));
	for (auto& f : policy.refused)
		refuse(f.pid, f.comm, f.reason, f.message);
	const std::vector<const Process*>& targets = policy.targets;
	tool.info("backend " + m.backend + ", mode " + mode + ", scan-rate " + std::to_string(wopt.ksm.pages_to_scan) +
	          ", sleep " + std::to_string(wopt.ksm.sleep_millisecs) + " ms, max-cpu " +
	          std::to_string(int(wopt.max_cpu)) + "%, timeout " + std::to_string(wopt.timeout.count() / 1000) + " s" +
	          (wopt.boost ? "" : ", no KSM boost (not root)"));

	// memdup's engine before (the estimate, --dry-run) and after (what the
	// merge freed: global KSM counters also move for other processes).
	auto scan_set = [](const std::vector<const Process*>& set) {
		ScanOptions so;
		so.threads = std::max(1u, std::thread::hardware_concurrency());
		return scan(set, so);
	};
	std::optional<Report> pre;
	std::optional<ScanResult> pre_scan;
	if (auto sc = scan_set(targets)) {
		pre = analyze(*sc, {});
		pre_scan = std::move(*sc);
	}
	if (pre)
		m.estimate = pre->summary.duplicate_pages - std::min(pre->summary.duplicate_pages, pre->summary.unmergeable_pages);
	if (r.count("dry-run")) {
		if (!pre)
			tool.die(Exit::fatal, "could not scan the processes");
		RenderOptions ro;
		ro.columns = default_process_columns();
		ro.color = tool.color_out;
		if (r.count("json"))
			std::fputs(render_json(*pre, ro).c_str(), stdout);
		else
			std::printf("%s%s\nwould merge up to %s (%s freed); nothing was changed\n", render_table(*pre, ro).c_str(),
			            summary_line(*pre).c_str(), human_bytes(m.estimate * pre->page_size).c_str(),
			            human_bytes(pre->summary.savings_pages * pre->page_size).c_str());
		return m.refused.empty() ? Exit::ok : Exit::partial;
	}
	if (!req.merge) {
		int64_t merged = 0;
		for (auto* p : targets) {
			auto k = read_target_ksm(*p);
			merged += k.merging + k.zero;
		}
		// With frame numbers the cost is exact: every page sharing a frame
		// gets its own again (anon pages minus the frames behind them).
		uint64_t extra = pre && pre->pfn_visible ? pre->summary.anon_pages - pre->summary.anon_frames : uint64_t(merged);
		tool.err("warning: unmerging gives every merged page its own frame again: " +
		         std::string(pre && pre->pfn_visible ? "about " : "up to ") + human_bytes(extra * m.page_size) +
		         " more memory for these processes (" + std::to_string(merged) + " pages merged now)");
	}

	std::vector<const Process*> opted;
	for (size_t i = 0; i < targets.size() && !g_signal; ++i) {
		TargetKsm before = read_target_ksm(*targets[i]);
		auto a = (*backend)->advise(*targets[i], req);
		if (!a) {
			const auto& e = a.error();
			std::string reason = e.code == ESRCH ? "gone" : e.code == EPERM || e.code == EACCES ? "permission"
			                   : e.code == EBUSY ? "traced" : "error";
			refuse(targets[i]->pid, targets[i]->comm, reason, e.code == ESRCH ? e.context + " — skipped" : e.message());
			continue;
		}
		opted.push_back(targets[i]);
		m.rows.push_back({targets[i]->pid, targets[i]->comm, targets[i]->user, before, {}, -1, -1});
	}
	if (req.merge && !opted.empty() && !g_signal) {
		wopt.estimate = m.estimate;
		// A progress line on a terminal only, never in a log or a pipe.
		const bool progress = isatty(STDERR_FILENO) && !r.count("quiet");
		if (progress)
			wopt.progress = [&](int64_t merged, uint64_t scans, double secs) {
				std::fprintf(stderr, "\r\033[K%s: merging: %s of about %s, %llu full scans, %.1f s", tool.name.c_str(),
				             human_bytes(uint64_t(std::max<int64_t>(merged, 0)) * m.page_size).c_str(),
				             human_bytes(m.estimate * m.page_size).c_str(), (unsigned long long)scans, secs);
			};
		auto res = merge_and_watch(opted, wopt);
		if (progress)
			std::fputs("\r\033[K", stderr);
		if (!res && res.error().code == ECANCELED && g_signal)
			die_of(tool, g_signal.load());
		if (!res)
			tool.die(Exit::fatal, res.error().message());
		m.watch = std::move(*res);
		if (m.watch.restore_error)
			tool.err("could not restore a KSM setting: " + m.watch.restore_error->message() + " — check /sys/kernel/mm/ksm");
	} else {
		for (auto* p : opted)
			m.watch.after.push_back(read_target_ksm(*p));
		m.watch.ended = g_signal ? "interrupted" : "done";
	}
	for (size_t i = 0; i < m.rows.size(); ++i)
		m.rows[i].after = m.watch.after[i];
	// After: what the merge freed, and the snapshot memsplit compares with.
	std::optional<Report> post;
	std::error_code ec;
	if (!opted.empty()) {
		if (auto sc = scan_set(opted)) {
			post = analyze(*sc, {});
			if (req.merge && !r.count("no-snapshot")) {
				std::string path = r.count("snapshot") ? r["snapshot"].as<std::string>() : default_snapshot_path();
				auto dir = path.substr(0, path.rfind('/'));
				if (!dir.empty() && path.find('/') != std::string::npos)
					std::filesystem::create_directories(dir, ec);
				if (auto w = write_snapshot(make_snapshot(*sc, opted), path); !w)
					tool.err("snapshot: " + w.error().message() + " — use --snapshot FILE or --no-snapshot");
				else
					tool.info("snapshot for memsplit written to " + path);
			}
		}
	}
	for (pid_t pid : account(m, pre_scan, pre, post))
		for (auto& row : m.rows)
			if (row.pid == pid)
				refuse(pid, row.comm, "gone",
				       "pid " + std::to_string(pid) + " (" + row.comm + "): exited during the merge — not counted");
	std::fputs((r.count("json") ? render_merge_json(m) : mmcli::bold_header(tool, render_merge_table(m))).c_str(), stdout);
	std::fflush(stdout);
	if (int sig = g_signal.load())
		die_of(tool, sig);
	if (m.watch.restore_error)
		return Exit::fatal;
	return m.refused.empty() && !opted.empty() && m.watch.ended != "timeout" ? Exit::ok : Exit::partial;
}
