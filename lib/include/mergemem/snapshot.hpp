// SPDX-License-Identifier: GPL-2.0-or-later
// memsplit snapshots: what every resident anonymous page of a process set
// looked like at one moment (frame, content hash, shared or not), so a later
// look can tell which merged pages were split by a copy-on-write.
//
// File format (little-endian), version 1:
//   header   64 bytes: magic "MMSNAP\0\x1a", version u32, header size u32,
//            page size u32, process count u32, time (ns since the epoch)
//            u64, boot id 16 bytes, page count u64, reserved u64 (zero)
//   process  pid u32, uid u32, start time u64 (clock ticks since boot),
//            ksm_merging_pages i64, comm (u16 length + bytes), mapping count
//            u32, mappings (start u64, end u64, label: u16 length + bytes),
//            page count u64, pages (16 bytes each, sorted by address)
//   page     u64: virtual page number (48 bits) | hash bits 0-15 (16)
//            u64: frame (44 bits) | hash bits 16-34 (19) | shared (1)
//   trailer  XXH3-64 of every byte before it
// Readers refuse a bad magic, a newer version, a checksum mismatch and a
// truncated file, each with its own message.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "mergemem/error.hpp"
#include "mergemem/scan.hpp"

namespace mergemem {

inline constexpr uint32_t snapshot_version = 1;

struct SnapPage {
	uint64_t vpn = 0;
	uint64_t pfn = 0;
	uint64_t hash = 0;    // 35 bits of the XXH3-128 content hash
	bool shared = false;  // the frame was mapped more than once (merged or forked)
};

struct SnapMapping {
	uint64_t start = 0, end = 0;
	std::string label;
};

struct SnapProcess {
	pid_t pid = 0;
	uid_t uid = 0;
	uint64_t starttime = 0;
	int64_t ksm_merging = 0;
	std::string comm;
	std::vector<SnapMapping> mappings;
	std::vector<SnapPage> pages;
	// The mapping holding `vpn` (by address), or nullptr.
	[[nodiscard]] const SnapMapping* mapping_of(uint64_t vpn, size_t page_size) const;
};

struct Snapshot {
	uint32_t page_size = 4096;
	uint64_t time_ns = 0;
	std::array<uint8_t, 16> boot_id{};
	bool pfn_visible = false;
	std::vector<SnapProcess> processes;
};

// The running kernel's boot id (/proc/sys/kernel/random/boot_id).
[[nodiscard]] Result<std::array<uint8_t, 16>> current_boot_id();
[[nodiscard]] std::string boot_id_string(const std::array<uint8_t, 16>& id);

// Builds a snapshot from a scan (anonymous pages only).
[[nodiscard]] Snapshot make_snapshot(const ScanResult& scan, const std::vector<const Process*>& procs);
// Writes atomically (temporary file, fsync, rename).
[[nodiscard]] Result<void> write_snapshot(const Snapshot& s, const std::string& path);
[[nodiscard]] std::string encode_snapshot(const Snapshot& s);
// EINVAL with the reason: not a snapshot, newer version, corrupted, truncated.
[[nodiscard]] Result<Snapshot> read_snapshot(const std::string& path);
[[nodiscard]] Result<Snapshot> decode_snapshot(std::string_view bytes);

} // namespace mergemem
