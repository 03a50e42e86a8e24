// SPDX-License-Identifier: GPL-2.0-or-later
// The duplicate index: groups scanned pages by content and frame and derives
// the counts memdup reports (definitions in man/memdup.1).
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "mergemem/scan.hpp"

namespace mergemem {

struct Counts {
	uint64_t present_pages = 0;     // resident pages scanned
	uint64_t anon_pages = 0;        // resident anonymous (pid, address) pages
	uint64_t anon_frames = 0;       // distinct frames behind them
	uint64_t duplicate_pages = 0;   // anon pages whose content is on >= 2 anon pages
	uint64_t savings_pages = 0;     // sum over contents of (frames - 1)
	uint64_t zero_pages = 0;        // anon pages that are all zero
	uint64_t shared_pages = 0;      // anon pages on a frame another scanned page also maps
	uint64_t unmergeable_pages = 0; // duplicates KSM could never merge
};

struct ProcessRow {
	pid_t pid = 0;
	std::string comm;
	uid_t uid = 0;
	std::string user;
	Counts counts;
};

struct MappingRow {
	std::string mapping;            // label, e.g. "[heap]", "libc.so.6 .data"
	uint64_t processes = 0;
	Counts counts;
};

struct Example {
	pid_t pid = 0;
	uint64_t addr = 0;
	std::string mapping;
};

struct TopContent {
	Hash128 hash;
	uint64_t copies = 0;       // anon pages holding it
	uint64_t frames = 0;
	uint64_t processes = 0;
	uint64_t savings = 0;
	bool zero = false;
	std::vector<Example> examples;
};

struct FailedProcess {
	pid_t pid = 0;
	std::string comm;
	std::string reason;     // "gone", "permission", ...
	std::string message;    // one line, names the pid and what to do
	Error error;            // the scan's error (code 0 for selection refusals)
};

struct Report {
	size_t page_size = 4096;
	bool pfn_visible = false;
	bool pagemap_scan = false;
	std::string hash_impl;
	Counts summary;
	uint64_t processes = 0;
	uint64_t processes_failed = 0;
	uint64_t processes_skipped = 0;
	uint64_t lost_pages = 0;        // resident at first look, unmapped or swapped out before the read
	uint64_t unreadable_pages = 0;  // resident in VM_IO/VM_PFNMAP or PROT_NONE mappings: never read
	std::array<uint64_t, size_t(Unmergeable::count_)> unmergeable{};
	std::vector<ProcessRow> per_process;
	std::vector<MappingRow> per_mapping;   // filled with by_mapping
	std::vector<TopContent> top;           // filled with top > 0
	std::vector<FailedProcess> failed;
};

struct AnalyzeOptions {
	bool by_mapping = false;
	size_t top = 0;
	unsigned threads = 1;
};

// The label of a page's mapping for --by mapping: anon pages of a private
// file mapping are "NAME .data", those of the anonymous mapping right after
// it "NAME .bss"; file pages keep the file's name.
[[nodiscard]] std::string page_label(const MappingInfo& m, bool anon);

// Consumes the scan's records (sorted in place of an index; the records
// array itself is kept).  Never fails.
[[nodiscard]] Report analyze(const ScanResult& scan, const AnalyzeOptions& opt);

} // namespace mergemem
