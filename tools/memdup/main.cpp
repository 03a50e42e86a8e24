// SPDX-License-Identifier: GPL-2.0-or-later
// memdup: report identical memory pages across a process set.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "cli.hpp"
#include "mergemem/backend.hpp"
#include "mergemem/format.hpp"
#include "mergemem/log.hpp"
#include "mergemem/render.hpp"
#include "mergemem/scan.hpp"

using namespace mergemem;
using mmcli::Exit;

int main(int argc, char** argv)
{
	mmcli::Tool tool{"memdup"};
	cxxopts::Options o("memdup", "Report identical memory pages across a set of processes.");
	mmcli::add_selection_options(o);
	o.add_options("Report")
	    ("format", "table (default), json or prometheus (node_exporter textfile)", cxxopts::value<std::string>(), "FORMAT")
	    ("json", "print the mergemem.memdup/1 JSON document (--format json)")
	    ("b,bytes", "print sizes in bytes, not human units")
	    ("by", "break the report down by process (default) or mapping", cxxopts::value<std::string>(), "process|mapping")
	    ("top", "list the N most duplicated contents", cxxopts::value<size_t>(), "N")
	    ("o,output", "table columns (comma-separated; +LIST appends to the default)", cxxopts::value<std::string>(), "LIST")
	    ("list-columns", "list the table columns and exit")
	    ("noheadings", "omit the table header line")
	    ("mapping", "scan only mappings whose path (as in /proc/PID/maps) matches REGEX", cxxopts::value<std::string>(), "REGEX");
	o.add_options("General")
	    ("backend", "auto, kmod (/dev/mergemem) or procfs", cxxopts::value<std::string>()->default_value("auto"), "NAME")
	    ("j,jobs", "scan with N threads (default: the number of CPUs)", cxxopts::value<unsigned>(), "N");
	mmcli::add_common_options(o, "General", "say what is scanned and how");
	auto r = mmcli::start(tool, o, argc, argv, {"Selection", "Report", "General"});
	const std::string format = r.count("json") ? "json" : r.count("format") ? r["format"].as<std::string>() : "table";
	if (format != "table" && format != "json" && format != "prometheus")
		tool.die(Exit::usage, "--format '" + format + "': expected table, json or prometheus");
	if (r.count("list-columns")) {
		std::fputs(list_columns().c_str(), stdout);
		return Exit::ok;
	}

	AnalyzeOptions aopt;
	RenderOptions ropt;
	ropt.columns = default_process_columns();
	if (r.count("by")) {
		auto by = r["by"].as<std::string>();
		if (by != "process" && by != "mapping")
			tool.die(Exit::usage, "--by '" + by + "': expected 'process' or 'mapping'");
		aopt.by_mapping = by == "mapping";
	}
	if (r.count("top"))
		aopt.top = r["top"].as<size_t>();
	if (r.count("output")) {
		auto cols = parse_columns(r["output"].as<std::string>());
		if (!cols)
			tool.die(Exit::usage, "--output: " + cols.error().context);
		ropt.columns = *cols;
	}
	ropt.raw_bytes = r.count("bytes") > 0;
	ropt.headings = r.count("noheadings") == 0;
	ropt.color = tool.color_out;
	ScanOptions sopt;
	sopt.threads = r.count("jobs") ? r["jobs"].as<unsigned>() : std::max(1u, std::thread::hardware_concurrency());
	if (sopt.threads == 0 || sopt.threads > 1024)
		tool.die(Exit::usage, "--jobs: expected a number from 1 to 1024");
	aopt.threads = sopt.threads;
	if (r.count("mapping")) {
		try {
			sopt.mapping.emplace(r["mapping"].as<std::string>(), std::regex::extended);
		} catch (const std::regex_error& e) {
			tool.die(Exit::usage, "--mapping: invalid regular expression (" + std::string(e.what()) + ")");
		}
	}
	// Test and benchmark switches, deliberately undocumented in --help.
	sopt.force_pread_pagemap = getenv("MERGEMEM_NO_PAGEMAP_SCAN") != nullptr;
	sopt.force_proc_mem = getenv("MERGEMEM_PROC_MEM") != nullptr;

	// The backend, probed once: the module's PAGEINFO when /dev/mergemem answers.
	UniqueFd kmod;
	const std::string backend = r["backend"].as<std::string>();
	if (backend != "auto" && backend != "kmod" && backend != "procfs")
		tool.die(Exit::usage, "--backend '" + backend + "': expected auto, kmod or procfs");
	if (backend != "procfs") {
		auto dev = open_mergemem_device();
		if (dev)
			kmod = std::move(*dev);
		else if (backend == "kmod")
			tool.die(Exit::fatal, dev.error().context);
	}
	sopt.kmod_fd = kmod.get();
	ropt.backend = kmod ? "kmod" : "procfs";
	mmcli::raise_nofile();
	auto crit = mmcli::selection_from(tool, r);
	auto sel = mmcli::select_or_die(tool, crit);

	const bool progress = isatty(STDERR_FILENO) && !r.count("quiet");
	const auto t0 = std::chrono::steady_clock::now();
	bool drew = false;
	const uint64_t page = uint64_t(sysconf(_SC_PAGESIZE));
	if (progress)
		sopt.progress = [&](uint64_t done, uint64_t total) {
			if (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1) || total == 0)
				return;
			std::fprintf(stderr, "\r\033[Kmemdup: scanning %3u%% (%s of %s)", unsigned(done * 100 / total),
			             human_bytes(done * page).c_str(), human_bytes(total * page).c_str());
			drew = true;
		};
	auto scanned = scan(sel.processes, sopt);
	if (drew)
		std::fputs("\r\033[K", stderr);
	if (!scanned)
		tool.die(Exit::fatal, scanned.error().message());
	tool.info("backend " + ropt.backend + (kmod ? " (PAGEINFO; " + std::to_string(scanned->confirm_reads) + " pages read to confirm duplicates), " : ", ") + std::string(scanned->pagemap_scan ? "PAGEMAP_SCAN" : "pagemap reads") + ", " +
	          (scanned->proc_mem_fallback ? "/proc/PID/mem" : "process_vm_readv") + ", xxh3-128/" +
	          scanned->hash_impl + ", " + std::to_string(sopt.threads) + " threads" +
	          (scanned->pfn_visible ? "" : ", no frame numbers (not root)"));

	Report rep = analyze(*scanned, aopt);
	for (auto& s : sel.skipped) {
		if (s.named) {
			rep.failed.push_back(FailedProcess{s.pid, s.comm, std::string(to_string(s.reason)), mmcli::skip_message(s), {}});
			rep.processes_failed++;
		} else {
			rep.processes_skipped++;
			tool.info(mmcli::skip_message(s));
		}
	}
	for (auto& f : rep.failed) {
		if (f.error.code)
			f.message = mmcli::failure_hint(f.error);
		tool.err(f.message);
	}

	if (format == "json") {
		std::fputs(render_json(rep, ropt).c_str(), stdout);
	} else if (format == "prometheus") {
		std::fputs(render_prometheus(rep).c_str(), stdout);
	} else {
		std::fputs(render_table(rep, ropt).c_str(), stdout);
		std::printf("%s\n", summary_line(rep).c_str());
	}
	if (std::fflush(stdout) != 0)
		tool.die(Exit::fatal, "write error on standard output");
	if (rep.processes_failed > 0 || rep.processes == 0)
		return Exit::partial;
	return Exit::ok;
}
