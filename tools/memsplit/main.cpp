// SPDX-License-Identifier: GPL-2.0-or-later
// memsplit: where did the sharing break?  Snapshots of merged process sets,
// compared with now.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <map>
#include <set>

#include <cstdio>
#include <cstring>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli.hpp"
#include "mergemem/backend.hpp"
#include "mergemem/format.hpp"
#include "mergemem/snapshot.hpp"
#include "mergemem/split.hpp"

using namespace mergemem;
using mmcli::Exit;

static UniqueFd pick_backend(const mmcli::Tool& tool, const std::string& b);

static int snapshot_cmd(mmcli::Tool& tool, int argc, char** argv)
{
	cxxopts::Options o("memsplit snapshot", "Record the resident anonymous pages of a process set.");
	mmcli::add_selection_options(o);
	o.add_options("Snapshot")("o,output", "write the snapshot to FILE", cxxopts::value<std::string>(), "FILE")(
	    "mapping", "record only mappings whose path matches REGEX", cxxopts::value<std::string>(), "REGEX")(
	    "backend", "auto, kmod (/dev/mergemem) or procfs", cxxopts::value<std::string>()->default_value("auto"), "NAME");
	mmcli::add_common_options(o, "Snapshot", "say what was recorded");
	auto r = mmcli::start(tool, o, argc, argv, {"Selection", "Snapshot"});
	if (!r.count("output"))
		tool.die(Exit::usage, "snapshot: -o FILE is required");
	ScanOptions so;
	so.threads = std::max(1u, std::thread::hardware_concurrency());
	if (r.count("mapping")) {
		try {
			so.mapping.emplace(r["mapping"].as<std::string>(), std::regex::extended);
		} catch (const std::regex_error& e) {
			tool.die(Exit::usage, "--mapping: invalid regular expression (" + std::string(e.what()) + ")");
		}
	}
	UniqueFd kmod = pick_backend(tool, r["backend"].as<std::string>());
	so.kmod_fd = kmod.get();
	mmcli::raise_nofile();
	auto sel = mmcli::select_or_die(tool, mmcli::selection_from(tool, r));
	int rc = Exit::ok;
	for (auto& s : sel.skipped)
		if (s.named) {
			tool.err(mmcli::skip_message(s));
			rc = Exit::partial;
		}
	std::vector<const Process*> procs;
	for (auto& p : sel.processes)
		procs.push_back(&p);
	auto scanned = scan(procs, so);
	if (!scanned)
		tool.die(Exit::fatal, scanned.error().message());
	for (auto& ps : scanned->processes)
		if (ps.error) {
			tool.err(mmcli::failure_hint(*ps.error));
			rc = Exit::partial;
		}
	Snapshot snap = make_snapshot(*scanned, procs);
	if (!snap.pfn_visible)
		tool.err("warning: no frame numbers (not root): diff will only compare the ksm_stat counters");
	auto out = r["output"].as<std::string>();
	if (auto w = write_snapshot(snap, out); !w)
		tool.die(Exit::fatal, w.error().message());
	uint64_t pages = 0, shared = 0;
	for (auto& p : snap.processes)
		for (auto& pg : p.pages) {
			++pages;
			shared += pg.shared;
		}
	tool.info("recorded " + std::to_string(snap.processes.size()) + " processes, " + std::to_string(pages) +
	          " pages (" + std::to_string(shared) + " on shared frames) in " + out);
	return rc;
}

using json = nlohmann::ordered_json;

// The module's PAGEINFO when /dev/mergemem answers (auto) or is asked for.
static UniqueFd pick_backend(const mmcli::Tool& tool, const std::string& b)
{
	if (b != "auto" && b != "kmod" && b != "procfs")
		tool.die(Exit::usage, "--backend '" + b + "': expected auto, kmod or procfs");
	if (b == "procfs")
		return UniqueFd();
	auto dev = open_mergemem_device();
	if (!dev) {
		if (b == "kmod")
			tool.die(Exit::fatal, dev.error().context);
		return UniqueFd();
	}
	tool.info("backend kmod (/dev/mergemem PAGEINFO)");
	return std::move(*dev);
}

static void emit(const json& e)
{
	std::fputs((e.dump(-1, ' ', false, json::error_handler_t::replace) + "\n").c_str(), stdout);
}

static std::atomic<int> g_stop{0};
static void on_signal(int sig) { g_stop = sig; }

static std::string clock_now()
{
	time_t t = time(nullptr);
	char b[16];
	strftime(b, sizeof b, "%H:%M:%S", localtime(&t));
	return b;
}

// Follows a set live: an in-memory snapshot, compared again every interval;
// each newly broken page is one event.
static int watch_cmd(mmcli::Tool& tool, int argc, char** argv)
{
	cxxopts::Options o("memsplit watch", "Print copy-on-write breaks of a process set as they happen.");
	mmcli::add_selection_options(o);
	o.add_options("Watch")("interval", "seconds between looks", cxxopts::value<double>()->default_value("1"), "S")(
	    "count", "stop after N intervals (default: until interrupted)", cxxopts::value<uint64_t>(), "N")(
	    "json", "print NDJSON events (mergemem.memsplit.watch/1)");
	mmcli::add_common_options(o, "Watch", "say more");
	auto r = mmcli::start(tool, o, argc, argv, {"Selection", "Watch"});
	double interval = r["interval"].as<double>();
	if (!(interval > 0 && interval <= 86400))
		tool.die(Exit::usage, "--interval: expected seconds, more than 0");
	const bool js = r.count("json") > 0;
	mmcli::catch_stop_signals(on_signal);
	mmcli::raise_nofile();
	auto sel = mmcli::select_or_die(tool, mmcli::selection_from(tool, r));
	std::vector<const Process*> procs;
	for (auto& p : sel.processes)
		procs.push_back(&p);
	ScanOptions so;
	so.threads = std::max(1u, std::thread::hardware_concurrency());
	auto scanned = scan(procs, so);
	if (!scanned)
		tool.die(Exit::fatal, scanned.error().message());
	Snapshot snap = make_snapshot(*scanned, procs);
	if (!snap.pfn_visible)
		tool.err("page-level detail needs root (frame numbers): following the ksm_stat counters only");
	std::set<std::pair<pid_t, uint64_t>> seen;
	std::map<pid_t, int64_t> ksm_last;
	for (auto& p : snap.processes)
		ksm_last[p.pid] = p.ksm_merging;
	std::set<pid_t> gone_seen;
	uint64_t cow_last = procfs::read_vmstat_field({}, "cow_ksm").value_or(0);
	const uint64_t count = r.count("count") ? r["count"].as<uint64_t>() : UINT64_MAX;
	for (uint64_t tick = 0; tick < count && !g_stop; ++tick) {
		auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(interval);
		while (!g_stop && std::chrono::steady_clock::now() < until)
			std::this_thread::sleep_for(std::chrono::milliseconds(10));
		auto rep = diff_snapshot(snap, true);
		if (!rep)
			tool.die(Exit::fatal, rep.error().context);
		uint64_t fresh = 0;
		for (auto& b : rep->pages) {
			if (!seen.insert({b.pid, b.addr}).second)
				continue;
			++fresh;
			std::string what = !b.sibling ? "no merged sibling left"
			                 : b.changed ? "bytes " + std::to_string(b.changed->first) + "-" + std::to_string(b.changed->second) + " differ"
			                             : "same content as its sibling";
			if (js) {
				json e = {{"schema", "mergemem.memsplit.watch/1"}, {"event", "break"}, {"time", long(time(nullptr))},
				          {"pid", b.pid}, {"address", hex(b.addr)}, {"mapping", b.mapping}, {"sibling", b.sibling}};
				if (b.changed)
					e["changed"] = {b.changed->first, b.changed->second};
				emit(e);
			}
			else
				std::printf("%s pid %d %s %s: COW break, %s\n", clock_now().c_str(), b.pid, hex(b.addr).c_str(),
				            b.mapping.c_str(), what.c_str());
		}
		for (auto& g : rep->gone)
			if (gone_seen.insert(g.pid).second) {
				if (js)
					emit({{"schema", "mergemem.memsplit.watch/1"}, {"event", "gone"}, {"time", long(time(nullptr))},
					      {"pid", g.pid}, {"comm", g.comm}, {"reason", g.reason}});
				else
					std::printf("%s pid %d (%s): %s\n", clock_now().c_str(), g.pid, g.comm.c_str(), g.reason.c_str());
			}
		uint64_t cow = procfs::read_vmstat_field({}, "cow_ksm").value_or(cow_last);
		std::string deltas;
		json jd = json::object();
		for (auto& row : rep->rows) {
			int64_t d = row.ksm_now - ksm_last[row.pid];
			ksm_last[row.pid] = row.ksm_now;
			jd[std::to_string(row.pid)] = d;
			if (d)
				deltas += " " + std::to_string(row.pid) + ":" + (d > 0 ? "+" : "") + std::to_string(d);
		}
		if (js)
			emit({{"schema", "mergemem.memsplit.watch/1"}, {"event", "tick"}, {"time", long(time(nullptr))},
			      {"breaks", fresh}, {"total_breaks", seen.size()}, {"ksm_merging_delta", jd},
			      {"cow_ksm_delta", cow - cow_last}});
		else if (fresh || !deltas.empty() || cow != cow_last)
			std::printf("%s %llu new breaks (%llu in all); ksm_merging_pages%s; cow_ksm +%llu system-wide\n",
			            clock_now().c_str(), (unsigned long long)fresh, (unsigned long long)seen.size(),
			            deltas.empty() ? " unchanged" : deltas.c_str(), (unsigned long long)(cow - cow_last));
		cow_last = cow;
		std::fflush(stdout);
	}
	return gone_seen.empty() ? Exit::ok : Exit::partial;
}

static int diff_cmd(mmcli::Tool& tool, int argc, char** argv)
{
	cxxopts::Options o("memsplit diff", "Report copy-on-write breaks since a snapshot.");
	o.add_options("Diff")("file", "snapshot", cxxopts::value<std::string>())(
	    "pages", "list every broken page, with the bytes that differ from a still-merged sibling")(
	    "format", "table (default), json or prometheus (node_exporter textfile)", cxxopts::value<std::string>(), "FORMAT")(
	    "json", "print the mergemem.memsplit/1 JSON document (--format json)")(
	    "backend", "auto, kmod (/dev/mergemem) or procfs", cxxopts::value<std::string>()->default_value("auto"), "NAME");
	mmcli::add_common_options(o, "Diff", "say more");
	o.custom_help("FILE [options]");
	o.positional_help("");
	o.parse_positional({"file"});
	auto r = mmcli::parse_or_die(tool, o, argc, argv);
	mmcli::setup_color(tool, r);
	if (r.count("help")) {
		std::fputs(o.help({"Diff"}).c_str(), stdout);
		std::exit(Exit::ok);
	}
	if (!r.count("file"))
		tool.die(Exit::usage, "diff: which snapshot? (memsplit diff FILE)");
	const std::string format = r.count("json") ? "json" : r.count("format") ? r["format"].as<std::string>() : "table";
	if (format != "table" && format != "json" && format != "prometheus")
		tool.die(Exit::usage, "--format '" + format + "': expected table, json or prometheus");
	auto path = r["file"].as<std::string>();
	auto snap = read_snapshot(path);
	if (!snap) {
		// A bad file is bad input (2), with the reason; an unreadable one is fatal (3).
		if (snap.error().code == EINVAL)
			tool.die(Exit::usage, snap.error().context);
		tool.die(Exit::fatal, snap.error().message());
	}
	UniqueFd kmod = pick_backend(tool, r["backend"].as<std::string>());
	auto rep = diff_snapshot(*snap, r.count("pages") > 0, kmod.get());
	if (!rep)
		tool.die(Exit::usage, path + ": " + rep.error().context);
	std::fputs((format == "json"         ? render_split_json(*rep)
	            : format == "prometheus" ? render_split_prometheus(*rep)
	                                     : mmcli::bold_header(tool, render_split_table(*rep, r.count("pages") > 0)))
	               .c_str(),
	           stdout);
	return rep->gone.empty() ? Exit::ok : Exit::partial;
}

int main(int argc, char** argv)
{
	mmcli::Tool tool{"memsplit"};
	std::string cmd = argc > 1 ? argv[1] : "";
	if (cmd == "snapshot" || cmd == "diff" || cmd == "watch") {
		argv[1] = argv[0];
		if (cmd == "watch")
			return watch_cmd(tool, argc - 1, argv + 1);
		return cmd == "snapshot" ? snapshot_cmd(tool, argc - 1, argv + 1) : diff_cmd(tool, argc - 1, argv + 1);
	}
	if (cmd == "-V" || cmd == "--version") {
		mmcli::print_version(tool);
		return Exit::ok;
	}
	if (cmd.empty() || cmd == "-h" || cmd == "--help") {
		std::fputs("Usage: memsplit snapshot [SELECTION] -o FILE\n"
		           "       memsplit diff FILE [--pages] [--json]\n"
		           "       memsplit watch [SELECTION] [--interval S] [--count N] [--json]\n"
		           "       memsplit FILE            (same as diff)\n\n"
		           "Record the pages of a merged process set, then report which merged\n"
		           "pages a copy-on-write split since.  See memsplit(1).\n",
		           cmd.empty() ? stderr : stdout);
		return cmd.empty() ? Exit::usage : Exit::ok;
	}
	if (cmd[0] == '-')
		tool.die(Exit::usage, "unknown option '" + cmd + "' — try 'memsplit --help'");
	return diff_cmd(tool, argc, argv); // memsplit FILE
}
