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

static void add_options(cxxopts::Options& o)
{
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
}

// What to do, from the options: the opt-in request and the session.
struct Plan {
	AdviseRequest req;
	std::string mode;
	WatchOptions wopt;
};

static Plan plan_from(const mmcli::Tool& tool, const cxxopts::ParseResult& r)
{
	Plan p;
	p.req.merge = !r.count("unmerge");
	p.mode = r.count("mode") ? r["mode"].as<std::string>() : kernel_has_memory_merge() ? "prctl" : "madvise";
	if (p.mode != "prctl" && p.mode != "madvise")
		tool.die(Exit::usage, "--mode '" + p.mode + "': expected prctl or madvise");
	p.req.mode = p.mode == "prctl" ? OptInMode::prctl : OptInMode::madvise;
	if (r.count("range")) {
		if (p.req.mode != OptInMode::madvise)
			tool.die(Exit::usage, "--range needs --mode madvise");
		p.req.range = parse_range(r["range"].as<std::string>());
		if (!p.req.range)
			tool.die(Exit::usage, "--range '" + r["range"].as<std::string>() + "': expected page-aligned hex START-END");
	}
	WatchOptions& w = p.wopt;
	w.ksm.pages_to_scan = r["scan-rate"].as<uint64_t>();
	w.ksm.sleep_millisecs = r["sleep"].as<uint64_t>();
	w.ksm.keep_running = r.count("keep-running") > 0;
	w.ksm.stop = &g_signal;
	w.max_cpu = r["max-cpu"].as<double>();
	w.timeout = std::chrono::milliseconds(int64_t(r["timeout"].as<double>() * 1000));
	w.stop = &g_signal;
	w.boost = geteuid() == 0;
	if (w.ksm.pages_to_scan == 0 || w.ksm.sleep_millisecs == 0 || w.max_cpu <= 0 || w.max_cpu > 100 || w.timeout.count() <= 0)
		tool.die(Exit::usage, "--scan-rate, --sleep, --max-cpu (1-100) and --timeout must be positive");
	return p;
}

// Checked before anyone is opted in: without root, ksmd must already run.
static void require_ksmd(const mmcli::Tool& tool, const Plan& p, bool dry_run)
{
	if (!p.req.merge || p.wopt.boost || dry_run)
		return;
	auto g = read_ksm_global();
	if (!g)
		tool.die(Exit::fatal, "KSM is not available: " + g.error().message());
	if (g->run != 1)
		tool.die(Exit::fatal, "ksmd is not running (run=" + std::to_string(g->run) +
		                          ") and only root can start it — run memmerge as root");
}

static std::optional<ScanResult> scan_set(const std::vector<const Process*>& set)
{
	ScanOptions so;
	so.threads = std::max(1u, std::thread::hardware_concurrency());
	auto sc = scan(set, so);
	return sc ? std::optional<ScanResult>(std::move(*sc)) : std::nullopt;
}

// Unmerging gives every merged page its own frame again: say how much.
static void warn_unmerge(const mmcli::Tool& tool, const std::vector<const Process*>& targets,
                         const std::optional<Report>& pre, size_t page_size)
{
	int64_t merged = 0;
	for (auto* p : targets) {
		auto k = read_target_ksm(*p);
		merged += k.merging + k.zero;
	}
	// With frame numbers the cost is exact: anon pages minus the frames behind them.
	uint64_t extra = pre && pre->pfn_visible ? pre->summary.anon_pages - pre->summary.anon_frames : uint64_t(merged);
	tool.err("warning: unmerging gives every merged page its own frame again: " +
	         std::string(pre && pre->pfn_visible ? "about " : "up to ") + human_bytes(extra * page_size) +
	         " more memory for these processes (" + std::to_string(merged) + " pages merged now)");
}

// The session: ksmd boosted until the opted-in set has merged, with a
// progress line on a terminal only, never in a log or a pipe.
static void watch(const mmcli::Tool& tool, bool quiet, MergeReport& m, const std::vector<const Process*>& opted,
                  WatchOptions wopt)
{
	wopt.estimate = m.estimate;
	const bool progress = isatty(STDERR_FILENO) && !quiet;
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
}

static void save_snapshot(const mmcli::Tool& tool, const cxxopts::ParseResult& r, const ScanResult& sc,
                          const std::vector<const Process*>& opted)
{
	std::string path = r.count("snapshot") ? r["snapshot"].as<std::string>() : default_snapshot_path();
	std::error_code ec;
	if (auto slash = path.rfind('/'); slash != std::string::npos && slash > 0)
		std::filesystem::create_directories(path.substr(0, slash), ec);
	if (auto w = write_snapshot(make_snapshot(sc, opted), path); !w)
		tool.err("snapshot: " + w.error().message() + " — use --snapshot FILE or --no-snapshot");
	else
		tool.info("snapshot for memsplit written to " + path);
}

int main(int argc, char** argv)
{
	mmcli::Tool tool{"memmerge"};
	cxxopts::Options o("memmerge", "Merge identical pages of a running process set with KSM.");
	add_options(o);
	auto r = mmcli::start(tool, o, argc, argv, {"Selection", "Merge", "Output"});
	mmcli::catch_stop_signals(on_signal);
	Plan plan = plan_from(tool, r);
	auto backend = make_backend(r["backend"].as<std::string>());
	if (!backend)
		tool.die(backend.error().code == EINVAL ? Exit::usage : Exit::fatal, backend.error().context);
	require_ksmd(tool, plan, r.count("dry-run") > 0);
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
	m.mode = m.backend == "kmod" ? "madvise" : plan.mode; // ADVISE is ksm_madvise over the current VMAs
	m.merge = plan.req.merge;
	m.boost = plan.wopt.boost && plan.req.merge;
	m.pages_to_scan = plan.wopt.ksm.pages_to_scan;
	m.keep_running = plan.wopt.ksm.keep_running;
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
	const WatchOptions& w = plan.wopt;
	tool.info("backend " + m.backend + ", mode " + m.mode + ", scan-rate " + std::to_string(w.ksm.pages_to_scan) +
	          ", sleep " + std::to_string(w.ksm.sleep_millisecs) + " ms, max-cpu " + std::to_string(int(w.max_cpu)) +
	          "%, timeout " + std::to_string(w.timeout.count() / 1000) + " s" + (w.boost ? "" : ", no KSM boost (not root)"));

	// memdup's engine before (the estimate, --dry-run) and after (what the
	// merge freed: global KSM counters also move for other processes).
	std::optional<ScanResult> pre_scan = scan_set(targets);
	std::optional<Report> pre;
	if (pre_scan) {
		pre = analyze(*pre_scan, {});
		m.estimate = pre->summary.duplicate_pages - std::min(pre->summary.duplicate_pages, pre->summary.unmergeable_pages);
	}
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
	if (!plan.req.merge)
		warn_unmerge(tool, targets, pre, m.page_size);

	std::vector<const Process*> opted;
	for (size_t i = 0; i < targets.size() && !g_signal; ++i) {
		const Process& t = *targets[i];
		TargetKsm before = read_target_ksm(t);
		if (auto a = (*backend)->advise(t, plan.req); !a) {
			const auto& e = a.error();
			std::string reason = e.code == ESRCH ? "gone" : e.code == EPERM || e.code == EACCES ? "permission"
			                   : e.code == EBUSY ? "traced" : "error";
			refuse(t.pid, t.comm, reason, e.code == ESRCH ? e.context + " — skipped" : e.message());
			continue;
		}
		opted.push_back(&t);
		m.rows.push_back({t.pid, t.comm, t.user, before, {}, -1, -1});
	}
	if (plan.req.merge && !opted.empty() && !g_signal) {
		watch(tool, r.count("quiet") > 0, m, opted, plan.wopt);
	} else {
		for (auto* p : opted)
			m.watch.after.push_back(read_target_ksm(*p));
		m.watch.ended = g_signal ? "interrupted" : "done";
	}
	for (size_t i = 0; i < m.rows.size(); ++i)
		m.rows[i].after = m.watch.after[i];
	// After: what the merge freed, and the snapshot memsplit compares with.
	std::optional<Report> post;
	if (!opted.empty())
		if (auto sc = scan_set(opted)) {
			post = analyze(*sc, {});
			if (plan.req.merge && !r.count("no-snapshot") && !g_signal)
				save_snapshot(tool, r, *sc, opted);
		}
	for (pid_t pid : account(m, pre_scan, pre, post))
		for (auto& row : m.rows)
			if (row.pid == pid)
				refuse(pid, row.comm, "gone", "pid " + std::to_string(pid) + " (" + row.comm + "): exited during the merge — not counted");
	std::fputs((r.count("json") ? render_merge_json(m) : mmcli::bold_header(tool, render_merge_table(m))).c_str(), stdout);
	std::fflush(stdout);
	if (int sig = g_signal.load())
		die_of(tool, sig);
	if (m.watch.restore_error)
		return Exit::fatal;
	return m.refused.empty() && !opted.empty() && m.watch.ended != "timeout" ? Exit::ok : Exit::partial;
}
