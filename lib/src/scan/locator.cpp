// SPDX-License-Identifier: GPL-2.0-or-later
#include <algorithm>

#include "mergemem/scan.hpp"

namespace mergemem {

RecordLocator::RecordLocator(const ScanResult& s) : page_size_(s.page_size)
{
	for (uint32_t pi = 0; pi < s.processes.size(); ++pi)
		for (auto& r : s.processes[pi].runs)
			runs_.push_back(Run{r.first, r.npages, r.addr, pi, r.mapping});
	// Runs are laid out in order already; keep the invariant explicit.
	std::sort(runs_.begin(), runs_.end(), [](const Run& a, const Run& b) { return a.first < b.first; });
}

RecordLocator::Place RecordLocator::locate(uint64_t idx) const
{
	auto it = std::upper_bound(runs_.begin(), runs_.end(), idx, [](uint64_t v, const Run& r) { return v < r.first; });
	--it;
	return Place{it->proc, it->mapping, it->addr + (idx - it->first) * page_size_};
}

} // namespace mergemem
