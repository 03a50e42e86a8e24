// SPDX-License-Identifier: GPL-2.0-or-later
// Finding resident pages without touching them.
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "mergemem/fd.hpp"
#include "mergemem/procfs.hpp"
#include "mergemem/scan.hpp"

// Debian 12's libc headers (6.1) predate PAGEMAP_SCAN (6.7).  Its uapi is
// stable, so it is defined here; older kernels answer ENOTTY.
#ifndef PAGEMAP_SCAN
#include <linux/types.h>
#define PAGE_IS_PRESENT (1 << 3)
struct page_region {
	__u64 start;
	__u64 end;
	__u64 categories;
};
struct pm_scan_arg {
	__u64 size;
	__u64 flags;
	__u64 start;
	__u64 end;
	__u64 walk_end;
	__u64 vec;
	__u64 vec_len;
	__u64 max_pages;
	__u64 category_inverted;
	__u64 category_mask;
	__u64 category_anyof_mask;
	__u64 return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#endif

namespace mergemem {

bool pagemap_scan_supported(int pagemap_fd)
{
	// An empty range: the kernel validates the argument and returns 0.
	pm_scan_arg a{};
	a.size = sizeof a;
	a.return_mask = PAGE_IS_PRESENT;
	return ::ioctl(pagemap_fd, PAGEMAP_SCAN, &a) >= 0;
}

namespace {

Result<void> ranges_by_scan(int fd, uint64_t start, uint64_t end, std::vector<std::pair<uint64_t, uint64_t>>& out,
                            size_t page_size)
{
	page_region vec[512];
	uint64_t pos = start;
	while (pos < end) {
		pm_scan_arg a{};
		a.size = sizeof a;
		a.start = pos;
		a.end = end;
		a.vec = reinterpret_cast<uintptr_t>(vec);
		a.vec_len = std::size(vec);
		a.category_mask = PAGE_IS_PRESENT;
		a.return_mask = PAGE_IS_PRESENT;
		int n = ::ioctl(fd, PAGEMAP_SCAN, &a);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return fail(errno, "PAGEMAP_SCAN");
		}
		for (int i = 0; i < n; ++i) {
			uint64_t s = vec[i].start, e = vec[i].end;
			// Adjacent regions may arrive split across calls: coalesce.
			if (!out.empty() && out.back().first + out.back().second * page_size == s)
				out.back().second += (e - s) / page_size;
			else
				out.emplace_back(s, (e - s) / page_size);
		}
		if (a.walk_end <= pos)
			break; // no progress: the mapping vanished under us
		pos = a.walk_end;
	}
	return {};
}

Result<void> ranges_by_pread(int fd, uint64_t start, uint64_t end, std::vector<std::pair<uint64_t, uint64_t>>& out,
                             size_t page_size)
{
	// 64 Ki entries (512 KiB) per read: pagemap reads cost ~23 ns/entry here.
	constexpr size_t batch = 65536;
	std::vector<uint64_t> buf(batch);
	for (uint64_t pos = start; pos < end;) {
		size_t n = std::min<uint64_t>(batch, (end - pos) / page_size);
		auto got = pread_full(fd, buf.data(), n * 8, off_t(pos / page_size * 8));
		if (!got)
			return std::unexpected(got.error());
		n = *got / 8;
		if (n == 0)
			break;
		for (size_t i = 0; i < n; ++i) {
			if (!procfs::PagemapEntry{buf[i]}.present())
				continue;
			uint64_t a = pos + i * page_size;
			if (!out.empty() && out.back().first + out.back().second * page_size == a)
				out.back().second++;
			else
				out.emplace_back(a, 1);
		}
		pos += n * page_size;
	}
	return {};
}

} // namespace

Result<void> resident_ranges(int pagemap_fd, uint64_t start, uint64_t end, size_t page_size, bool use_scan,
                             std::vector<std::pair<uint64_t, uint64_t>>& out)
{
	if (use_scan)
		return ranges_by_scan(pagemap_fd, start, end, out, page_size);
	return ranges_by_pread(pagemap_fd, start, end, out, page_size);
}

} // namespace mergemem
