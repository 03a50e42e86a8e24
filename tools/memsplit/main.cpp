// SPDX-License-Identifier: GPL-2.0-or-later
// memsplit: where did the sharing break?  Snapshots of merged process sets,
// compared with now.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <thread>

#include "cli.hpp"
#include "mergemem/snapshot.hpp"
#include "mergemem/split.hpp"

using namespace mergemem;
using mmcli::Exit;

static int snapshot_cmd(mmcli::Tool& tool, int argc, char** argv)
{
	cxxopts::Options o("memsplit snapshot", "Record the resident anonymous pages of a process set.");
	mmcli::add_selection_options(o);
	o.add_options("Snapshot")("o,output", "write the snapshot to FILE", cxxopts::value<std::string>(), "FILE")(
	    "mapping", "record only mappings whose path matches REGEX", cxxopts::value<std::string>(), "REGEX");
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

static int diff_cmd(mmcli::Tool& tool, int argc, char** argv)
{
	cxxopts::Options o("memsplit diff", "Report copy-on-write breaks since a snapshot.");
	o.add_options("Diff")("file", "snapshot", cxxopts::value<std::string>())(
	    "pages", "list every broken page, with the bytes that differ from a still-merged sibling")(
	    "json", "print the mergemem.memsplit/1 JSON document");
	mmcli::add_common_options(o, "Diff", "say more");
	o.custom_help("FILE [options]");
	o.positional_help("");
	o.parse_positional({"file"});
	auto r = mmcli::parse_or_die(tool, o, argc, argv);
	if (r.count("help")) {
		std::fputs(o.help({"Diff"}).c_str(), stdout);
		std::exit(Exit::ok);
	}
	if (!r.count("file"))
		tool.die(Exit::usage, "diff: which snapshot? (memsplit diff FILE)");
	auto path = r["file"].as<std::string>();
	auto snap = read_snapshot(path);
	if (!snap) {
		// A bad file is bad input (2), with the reason; an unreadable one is fatal (3).
		if (snap.error().code == EINVAL)
			tool.die(Exit::usage, snap.error().context);
		tool.die(Exit::fatal, snap.error().message());
	}
	auto rep = diff_snapshot(*snap, r.count("pages") > 0);
	if (!rep)
		tool.die(Exit::usage, path + ": " + rep.error().context);
	std::fputs((r.count("json") ? render_split_json(*rep) : render_split_table(*rep, r.count("pages") > 0)).c_str(),
	           stdout);
	return rep->gone.empty() ? Exit::ok : Exit::partial;
}

int main(int argc, char** argv)
{
	mmcli::Tool tool{"memsplit"};
	std::string cmd = argc > 1 ? argv[1] : "";
	if (cmd == "snapshot" || cmd == "diff") {
		tool.name = "memsplit";
		argv[1] = argv[0];
		return cmd == "snapshot" ? snapshot_cmd(tool, argc - 1, argv + 1) : diff_cmd(tool, argc - 1, argv + 1);
	}
	if (cmd == "-V" || cmd == "--version") {
		mmcli::print_version(tool);
		return Exit::ok;
	}
	if (cmd.empty() || cmd == "-h" || cmd == "--help") {
		std::fputs("Usage: memsplit snapshot [SELECTION] -o FILE\n"
		           "       memsplit diff FILE [--pages] [--json]\n"
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
