// SPDX-License-Identifier: GPL-2.0-or-later
// Reading a process set's resident memory.  Resident ranges come from the
// PAGEMAP_SCAN ioctl where the kernel has it (6.7+), else from batched
// pagemap reads; contents from batched process_vm_readv, else
// /proc/PID/mem.  Nothing is faulted in, swapped in or written.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "mergemem/error.hpp"
#include "mergemem/hash.hpp"
#include "mergemem/select.hpp"

namespace mergemem {

// Why KSM could never merge a page, whatever the opt-in.
enum class Unmergeable : uint8_t {
	none = 0,
	file,       // page-cache page of a file mapping
	shared,     // shared mapping (shmem, MAP_SHARED)
	hugetlb,    // VM_HUGETLB
	pfnmap_io,  // VM_PFNMAP / VM_IO: not even readable, never hashed
	mixedmap,   // VM_MIXEDMAP
	dontexpand, // VM_DONTEXPAND
	count_
};
[[nodiscard]] std::string_view to_string(Unmergeable u);

// One mapping of one process, as the scanner classified it.
struct MappingInfo {
	uint64_t start = 0, end = 0;
	std::string path;       // as in /proc/PID/maps (unescaped)
	std::string label;      // "[heap]", "libc.so.6", "[anon]", ... (for anon pages see page_label)
	bool file_backed = false;
	bool bss = false;       // anonymous mapping right after a file mapping
	Unmergeable anon_reason = Unmergeable::none; // reason for its anonymous pages
	bool mergeable = false; // VM_MERGEABLE: may hold KSM pages
	bool skipped = false;   // not read (VM_IO/VM_PFNMAP, [vsyscall], --mapping)
	uint64_t present_skipped = 0;                // resident pages of a skipped mapping
};

// A contiguous run of resident pages of one mapping.  Records for it are
// records[first .. first+npages).
struct PageRun {
	uint64_t addr = 0;
	uint32_t npages = 0;
	uint32_t mapping = 0;
	uint64_t first = 0;
};

// 24 bytes per resident page: the content hash and pagemap facts.
struct PageRecord {
	Hash128 hash;
	uint64_t meta = 0;
	static constexpr uint64_t PFN_MASK = (1ull << 55) - 1;
	static constexpr uint64_t NONANON = 1ull << 55;   // pagemap bit 61: file or shared
	static constexpr uint64_t VALID = 1ull << 56;     // read and hashed
	static constexpr uint64_t EXCLUSIVE = 1ull << 57; // pagemap bit 56
	[[nodiscard]] uint64_t pfn() const { return meta & PFN_MASK; }
	[[nodiscard]] bool valid() const { return meta & VALID; }
	[[nodiscard]] bool anon() const { return !(meta & NONANON); }
};
static_assert(sizeof(PageRecord) == 24);

struct ProcessScan {
	pid_t pid = 0;
	uint64_t starttime = 0;
	std::string comm;
	uid_t uid = 0;
	std::string user;
	std::vector<MappingInfo> mappings;
	std::vector<PageRun> runs;
	std::optional<Error> error;   // set: the process could not be scanned
	bool gone = false;            // it exited (or its pid was reused) mid-scan
	uint64_t lost_pages = 0;      // resident at first look, gone at read time
};

struct ScanOptions {
	unsigned threads = 1;
	// Only scan mappings whose /proc/PID/maps path matches (regex_search).
	std::optional<std::regex> mapping;
	bool force_pread_pagemap = false;  // ignore PAGEMAP_SCAN (tests, bench)
	bool force_proc_mem = false;       // ignore process_vm_readv (tests, bench)
	// An open /dev/mergemem: page facts and hashes come from its PAGEINFO, so
	// no page contents cross into user space except to confirm duplicates.
	int kmod_fd = -1;
	// Called from scanner threads, at most a few times a second.
	std::function<void(uint64_t done_pages, uint64_t total_pages)> progress;
	const std::atomic<bool>* cancel = nullptr;
};

struct ScanResult {
	size_t page_size = 4096;
	std::vector<ProcessScan> processes;
	std::vector<PageRecord> records;
	bool pfn_visible = false;     // pagemap showed frame numbers
	bool pagemap_scan = false;    // PAGEMAP_SCAN was used
	bool proc_mem_fallback = false;
	std::string backend = "procfs";
	uint64_t confirm_reads = 0;   // kmod: pages read to confirm duplicate candidates
	std::string hash_impl;
};

// Where a record of ScanResult::records lives: its process, mapping and
// address.  Built once from the laid-out runs; lookups are a binary search.
class RecordLocator {
public:
	struct Place {
		uint32_t proc = 0;
		uint32_t mapping = 0;
		uint64_t addr = 0;
	};
	struct Run {
		uint64_t first, npages, addr;
		uint32_t proc, mapping;
	};
	explicit RecordLocator(const ScanResult& s);
	// idx must belong to a run (every valid record does).
	[[nodiscard]] Place locate(uint64_t idx) const;
	[[nodiscard]] const std::vector<Run>& runs() const { return runs_; }

private:
	size_t page_size_;
	std::vector<Run> runs_;
};

// Drops one process from a finished scan, as if it had failed with `why`:
// its records become invalid (analyze() skips them) and it is listed as
// failed (gone, for ESRCH).
void forget_process(ScanResult& res, ProcessScan& ps, Error why);

// Scans `procs` (their liveness is checked at the end, so a process that
// exits mid-scan is reported as gone, never half-counted).
// Per-process failures land in ProcessScan::error; the call itself fails
// only on resource exhaustion (ENOMEM) or cancellation (ECANCELED).
// Every file is read through the processes' /proc directories (reopened,
// and verified by start time, for parked processes).
[[nodiscard]] Result<ScanResult> scan(const std::vector<Process>& procs, const ScanOptions& opt);
[[nodiscard]] Result<ScanResult> scan(const std::vector<const Process*>& procs, const ScanOptions& opt);

// Exposed for tests: the PAGEMAP_SCAN probe and the resident-run finder.
[[nodiscard]] bool pagemap_scan_supported(int pagemap_fd);
// Resident [start,end) ranges of one mapping; appends (start, npages).
[[nodiscard]] Result<void> resident_ranges(int pagemap_fd, uint64_t start, uint64_t end, size_t page_size,
                                           bool use_scan, std::vector<std::pair<uint64_t, uint64_t>>& out);

} // namespace mergemem
