// SPDX-License-Identifier: GPL-2.0-or-later
// The ceiling memdup is measured against: one raw pass of process_vm_readv
// (about 1 MiB per call) plus XXH3-128 over the resident pages of the given
// pids, single-threaded, with no bookkeeping at all.  Resident ranges come
// from PAGEMAP_SCAN, as in memdup, and are found before the clock starts.
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "mergemem/fd.hpp"
#include "mergemem/hash.hpp"
#include "mergemem/procfs.hpp"
#include "mergemem/scan.hpp"

using namespace mergemem;

int main(int argc, char** argv)
{
	struct Range {
		pid_t pid;
		uint64_t addr, pages;
	};
	std::vector<Range> todo;
	for (int i = 1; i < argc; ++i) {
		pid_t pid = atoi(argv[i]);
		auto maps = procfs::read_smaps({}, pid);
		if (!maps) {
			fprintf(stderr, "ceiling: pid %d: %s\n", pid, maps.error().message().c_str());
			return 3;
		}
		UniqueFd pm(open(("/proc/" + std::to_string(pid) + "/pagemap").c_str(), O_RDONLY));
		bool use_scan = pagemap_scan_supported(pm.get());
		for (auto& v : *maps) {
			if (!v.read || v.path == "[vsyscall]" || v.path == "[vvar]" || (v.vmflags & (procfs::VMF_IO | procfs::VMF_PF)))
				continue;
			std::vector<std::pair<uint64_t, uint64_t>> r;
			(void)resident_ranges(pm.get(), v.start, v.end, 4096, use_scan, r);
			for (auto [a, n] : r)
				todo.push_back({pid, a, n});
		}
	}
	constexpr size_t chunk = 256; // pages: 1 MiB per call
	std::vector<char> buf(chunk * 4096);
	std::vector<Hash128> h(chunk);
	uint64_t bytes = 0, sink = 0;
	auto t0 = std::chrono::steady_clock::now();
	for (auto& r : todo) {
		for (uint64_t off = 0; off < r.pages; off += chunk) {
			size_t n = std::min<uint64_t>(chunk, r.pages - off);
			iovec local{buf.data(), n * 4096};
			iovec remote{reinterpret_cast<void*>(r.addr + off * 4096), n * 4096};
			ssize_t got = process_vm_readv(r.pid, &local, 1, &remote, 1, 0);
			if (got <= 0)
				continue;
			hash_blocks(buf.data(), 4096, size_t(got) / 4096, h.data());
			sink ^= h[0].lo;
			bytes += uint64_t(got);
		}
	}
	double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
	printf("{\"bytes\": %llu, \"seconds\": %.6f, \"hash\": \"%s\", \"sink\": %llu}\n", (unsigned long long)bytes, s,
	       hash_implementation(), (unsigned long long)(sink & 1));
	return 0;
}
