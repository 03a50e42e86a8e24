// SPDX-License-Identifier: GPL-2.0-or-later
// Every /proc and /sys parser of the project.  Each file format has exactly
// one parser here, returning a typed struct; each reader takes a root path so
// tests can point it at fixture trees (tests/unit/data/).
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mergemem/error.hpp"

namespace mergemem::procfs {

// ---- /proc/PID/stat ------------------------------------------------------
inline constexpr unsigned PF_KTHREAD = 0x00200000; // include/linux/sched.h

struct Stat {
	pid_t pid = 0;
	std::string comm;       // between the first '(' and the LAST ')'
	char state = '?';
	pid_t ppid = 0;
	unsigned flags = 0;     // task->flags (PF_*)
	uint64_t utime = 0;     // clock ticks
	uint64_t stime = 0;
	uint64_t starttime = 0; // clock ticks since boot: with the pid, names a process
	[[nodiscard]] bool kernel_thread() const { return flags & PF_KTHREAD; }
	[[nodiscard]] bool zombie() const { return state == 'Z' || state == 'X'; }
};
// EINVAL when fields are missing or malformed.
[[nodiscard]] Result<Stat> parse_stat(std::string_view text);

// ---- /proc/PID/status ----------------------------------------------------
struct Status {
	std::string name;
	char state = '?';
	pid_t tgid = 0;
	pid_t tracer_pid = 0;
	uid_t ruid = 0, euid = 0, suid = 0, fsuid = 0;
	gid_t rgid = 0, egid = 0;
	int seccomp = 0;        // 0 off, 1 strict, 2 filter
	unsigned threads = 0;
	uint64_t vm_rss_kb = 0;
	bool has_mm = false;    // VmSize present: kernel threads have no mm
};
[[nodiscard]] Result<Status> parse_status(std::string_view text);

// ---- /proc/PID/maps and /proc/PID/smaps ----------------------------------
// VmFlags two-letter codes (fs/proc/task_mmu.c show_smap_vma_flags).
enum VmFlag : uint64_t {
	VMF_RD = 1ull << 0,  VMF_WR = 1ull << 1,  VMF_EX = 1ull << 2,  VMF_SH = 1ull << 3,
	VMF_MR = 1ull << 4,  VMF_MW = 1ull << 5,  VMF_ME = 1ull << 6,  VMF_MS = 1ull << 7,
	VMF_GD = 1ull << 8,  VMF_PF = 1ull << 9,  VMF_LF = 1ull << 10, VMF_IO = 1ull << 11,
	VMF_SR = 1ull << 12, VMF_RR = 1ull << 13, VMF_DC = 1ull << 14, VMF_DE = 1ull << 15,
	VMF_AC = 1ull << 16, VMF_NR = 1ull << 17, VMF_HT = 1ull << 18, VMF_SF = 1ull << 19,
	VMF_AR = 1ull << 20, VMF_WF = 1ull << 21, VMF_DD = 1ull << 22, VMF_SD = 1ull << 23,
	VMF_MM = 1ull << 24, VMF_HG = 1ull << 25, VMF_NH = 1ull << 26, VMF_MG = 1ull << 27,
	VMF_UM = 1ull << 28, VMF_UW = 1ull << 29, VMF_SS = 1ull << 30, VMF_SL = 1ull << 31,
	VMF_BT = 1ull << 32, VMF_MT = 1ull << 33, VMF_UNKNOWN = 1ull << 63,
};
// Parse the text after "VmFlags:"; unknown codes set VMF_UNKNOWN.
[[nodiscard]] uint64_t parse_vmflags(std::string_view codes);

struct Vma {
	uint64_t start = 0, end = 0;
	bool read = false, write = false, exec = false, shared = false;
	uint64_t offset = 0;
	uint32_t dev_major = 0, dev_minor = 0;
	uint64_t inode = 0;
	std::string path;       // unescaped ("\012" -> '\n'); "[heap]", "" for anonymous
	bool deleted = false;   // path ended in " (deleted)" (removed from path)
	uint64_t vmflags = 0;   // from smaps only; 0 when parsed from maps
	bool has_vmflags = false;
	uint64_t rss_kb = 0;    // smaps "Rss:"
	[[nodiscard]] uint64_t pages(uint64_t page_size) const { return (end - start) / page_size; }
	[[nodiscard]] bool file_backed() const { return inode != 0; }
};
// Accepts both maps and smaps text.  EINVAL names the offending line number.
[[nodiscard]] Result<std::vector<Vma>> parse_maps(std::string_view text);

// ---- /proc/PID/ksm_stat --------------------------------------------------
struct KsmStat {
	int64_t rmap_items = 0;
	int64_t zero_pages = 0;
	int64_t merging_pages = 0;
	int64_t process_profit = 0;
	std::optional<bool> merge_any; // PR_SET_MEMORY_MERGE state (6.7+)
	std::optional<bool> mergeable; // any VMA mergeable (6.7+)
};
[[nodiscard]] Result<KsmStat> parse_ksm_stat(std::string_view text);

// ---- /proc/PID/pagemap entries (Documentation/admin-guide/mm/pagemap.rst)
struct PagemapEntry {
	uint64_t raw = 0;
	[[nodiscard]] bool present() const { return raw >> 63 & 1; }
	[[nodiscard]] bool swapped() const { return raw >> 62 & 1; }
	[[nodiscard]] bool file_or_shared() const { return raw >> 61 & 1; }
	[[nodiscard]] bool exclusive() const { return raw >> 56 & 1; }
	[[nodiscard]] bool soft_dirty() const { return raw >> 55 & 1; }
	// Zero for callers without CAP_SYS_ADMIN, and for swapped entries.
	[[nodiscard]] uint64_t pfn() const { return present() ? raw & ((1ull << 55) - 1) : 0; }
};

// ---- sysfs values --------------------------------------------------------
// A single unsigned decimal integer with optional trailing newline.
[[nodiscard]] Result<uint64_t> parse_u64(std::string_view text);

// ---- /proc/vmstat -----------------------------------------------------------
// One counter by name (e.g. "cow_ksm"); ENOENT when the kernel lacks it.
[[nodiscard]] Result<uint64_t> parse_vmstat_field(std::string_view text, std::string_view name);

// ---- readers rooted at a path ---------------------------------------------
struct Root {
	std::string proc = "/proc";
	std::string sys = "/sys";
};
[[nodiscard]] Result<Stat> read_stat(const Root& root, pid_t pid);
[[nodiscard]] Result<Status> read_status(const Root& root, pid_t pid);
[[nodiscard]] Result<std::vector<Vma>> read_smaps(const Root& root, pid_t pid);
[[nodiscard]] Result<KsmStat> read_ksm_stat(const Root& root, pid_t pid);
[[nodiscard]] Result<uint64_t> read_vmstat_field(const Root& root, std::string_view name);
// A KSM knob under <sys>/kernel/mm/ksm/, e.g. "run".
[[nodiscard]] Result<uint64_t> read_ksm_knob(const Root& root, std::string_view knob);

} // namespace mergemem::procfs
