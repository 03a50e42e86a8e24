// SPDX-License-Identifier: GPL-2.0-or-later
// Copy-on-write breaks since a snapshot.  A page that was on a shared frame
// (merged by KSM, or shared since fork) and now sits on a frame of its own,
// a different one, was split by a write.  The frame numbers are the signal
// (kpageflags' KSM bit is wrong on some kernels), so page-level detail
// needs root; without it only the ksm_stat counters are compared.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "mergemem/snapshot.hpp"

namespace mergemem {

struct BrokenPage {
	pid_t pid = 0;
	uint64_t addr = 0;
	std::string mapping;
	bool sibling = false;                       // a page still on the old frame was found
	std::optional<std::pair<size_t, size_t>> changed; // first and last differing byte vs the sibling
};

struct SplitRow {
	pid_t pid = 0;
	std::string comm;
	std::string user;
	uint64_t merged_then = 0;   // pages on shared frames in the snapshot
	uint64_t broken = 0;        // of those, now on a frame of their own
	int64_t ksm_then = 0, ksm_now = 0; // ksm_merging_pages + ksm_zero_pages
};

struct SplitMappingRow {
	std::string mapping;
	uint64_t merged_then = 0, broken = 0;
};

struct SplitGone {
	pid_t pid = 0;
	std::string comm;
	std::string reason;         // "gone" or "pid reused"
};

struct SplitReport {
	size_t page_size = 4096;
	double seconds = 0;         // since the snapshot
	bool pfn_visible = false;   // page-level detail available
	uint64_t merged_then = 0, broken = 0;
	std::vector<SplitRow> rows;
	std::vector<SplitMappingRow> mappings;
	std::vector<SplitGone> gone;
	std::vector<BrokenPage> pages;  // with want_pages
};

// Compares the snapshot with the processes now.  EXDEV when it was taken in
// another boot (frame numbers and pids mean nothing across boots).
// kmod_fd: an open /dev/mergemem; frames and mapcounts then come from its
// PAGEINFO instead of pagemap.
[[nodiscard]] Result<SplitReport> diff_snapshot(const Snapshot& s, bool want_pages, int kmod_fd = -1);
[[nodiscard]] std::string render_split_table(const SplitReport& r, bool pages);
[[nodiscard]] std::string render_split_json(const SplitReport& r);
// The node_exporter textfile-collector format: mergemem_memsplit_* gauges,
// per process (labels pid, comm, user) and in total, with HELP and TYPE.
[[nodiscard]] std::string render_split_prometheus(const SplitReport& r);

} // namespace mergemem
