// SPDX-License-Identifier: GPL-2.0-or-later
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "mergemem.h" // kmod/mergemem.h
#include "mergemem/fd.hpp"
#include "mergemem/format.hpp"
#include "mergemem/merge.hpp"
#include "mergemem/split.hpp"

#ifndef MERGEMEM_VERSION
#define MERGEMEM_VERSION "0"
#endif

namespace mergemem {
namespace {

// Current pagemap entries for the given sorted vpns (0 where unreadable).
std::vector<uint64_t> entries_now(int pagemap, const std::vector<uint64_t>& vpns)
{
	std::vector<uint64_t> out(vpns.size(), 0);
	std::vector<uint64_t> buf;
	for (size_t i = 0; i < vpns.size();) {
		size_t j = i + 1;
		while (j < vpns.size() && vpns[j] == vpns[j - 1] + 1 && j - i < 65536)
			++j;
		buf.resize(j - i);
		auto n = pread_full(pagemap, buf.data(), buf.size() * 8, off_t(vpns[i] * 8));
		if (n)
			for (size_t k = 0; k < *n / 8; ++k)
				out[i + k] = buf[k];
		i = j;
	}
	return out;
}

// The same facts through PAGEINFO, shaped as pagemap entries (present,
// exclusive = mapped once and not a KSM or zero page, frame).
std::vector<uint64_t> entries_from_pageinfo(int fd, pid_t pid, const std::vector<uint64_t>& vpns, size_t psz)
{
	std::vector<uint64_t> out(vpns.size(), 0);
	std::vector<mergemem_page> recs(MERGEMEM_PAGEINFO_MAX);
	for (size_t i = 0; i < vpns.size();) {
		size_t j = i + 1;
		while (j < vpns.size() && vpns[j] == vpns[j - 1] + 1 && j - i < MERGEMEM_PAGEINFO_MAX)
			++j;
		mergemem_pageinfo pi{};
		pi.size = sizeof pi;
		pi.pid = uint32_t(pid);
		pi.start = vpns[i] * psz;
		pi.count = j - i;
		pi.records = reinterpret_cast<uintptr_t>(recs.data());
		if (::ioctl(fd, MERGEMEM_IOC_PAGEINFO, &pi) == 0)
			for (uint64_t k = 0; k < pi.filled; ++k) {
				const auto& r = recs[k];
				size_t at = i + (r.addr / psz - vpns[i]);
				if (at >= j)
					continue;
				uint64_t e = (1ull << 63) | (r.pfn & ((1ull << 55) - 1));
				if (r.mapcount == 1 && !(r.flags & (MERGEMEM_PAGE_KSM | MERGEMEM_PAGE_ZERO)))
					e |= 1ull << 56;
				out[at] = e;
			}
		i = j;
	}
	return out;
}

} // namespace

Result<SplitReport> diff_snapshot(const Snapshot& s, bool want_pages, int kmod_fd)
{
	auto boot = current_boot_id();
	if (boot && *boot != s.boot_id)
		return fail(EXDEV, "taken in another boot (" + boot_id_string(s.boot_id) + ", this boot is " +
		                       boot_id_string(*boot) + "): frames and pids no longer mean the same");
	SplitReport rep;
	auto now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
	                  std::chrono::system_clock::now().time_since_epoch())
	                  .count();
	rep.seconds = double(int64_t(now_ns) - int64_t(s.time_ns)) / 1e9;
	const size_t psz = s.page_size;
	rep.page_size = psz;

	struct Live {
		const SnapProcess* sp;
		Process proc;
		std::vector<uint64_t> now; // pagemap now, per recorded page (shared ones)
		UniqueFd mem;              // /proc/PID/mem, kept from the first --pages read unless parked
		bool read_page(uint64_t addr, std::string& out)
		{
			UniqueFd once;
			int fd = mem.get();
			if (fd < 0) {
				auto dir = ProcessDir::open(proc);
				if (!dir)
					return false;
				UniqueFd f(::openat(dir->get(), "mem", O_RDONLY | O_CLOEXEC));
				if (!f)
					return false;
				fd = f.get();
				(proc.parked() ? once : mem) = std::move(f);
			}
			return pread_full(fd, out.data(), out.size(), off_t(addr)).value_or(0) == out.size();
		}
	};
	std::vector<Live> live;
	bool pfn_now = false;
	const size_t keep_open = descriptor_budget();
	for (auto& sp : s.processes) {
		SkipReason why{};
		auto p = open_process(sp.pid, {}, &why);
		if (!p) {
			rep.gone.push_back({sp.pid, sp.comm, "gone"});
			continue;
		}
		if (p->starttime != sp.starttime) {
			rep.gone.push_back({sp.pid, sp.comm, "pid reused"});
			continue;
		}
		Live l{&sp, std::move(*p), {}, {}};
		UniqueFd pm(kmod_fd >= 0 ? -1 : ::openat(l.proc.dirfd.get(), "pagemap", O_RDONLY | O_CLOEXEC));
		if (kmod_fd >= 0) {
			std::vector<uint64_t> vpns;
			for (auto& pg : sp.pages)
				vpns.push_back(pg.vpn);
			l.now = entries_from_pageinfo(kmod_fd, sp.pid, vpns, psz);
			for (uint64_t e : l.now)
				if (procfs::PagemapEntry{e}.pfn())
					pfn_now = true;
		} else if (pm) {
			std::vector<uint64_t> vpns;
			for (auto& pg : sp.pages)
				vpns.push_back(pg.vpn);
			l.now = entries_now(pm.get(), vpns);
			for (uint64_t e : l.now)
				if (procfs::PagemapEntry{e}.pfn())
					pfn_now = true;
		} else {
			l.now.assign(sp.pages.size(), 0);
		}
		pm.reset();
		if (live.size() >= keep_open)
			l.proc.park();
		live.push_back(std::move(l));
	}
	rep.pfn_visible = s.pfn_visible && (pfn_now || live.empty());

	// Frames in the snapshot -> pages that are still on them (siblings).
	std::unordered_map<uint64_t, std::pair<size_t, size_t>> still;
	if (want_pages && rep.pfn_visible)
		for (size_t li = 0; li < live.size(); ++li)
			for (size_t k = 0; k < live[li].sp->pages.size(); ++k) {
				auto& pg = live[li].sp->pages[k];
				if (pg.shared && procfs::PagemapEntry{live[li].now[k]}.pfn() == pg.pfn)
					still.try_emplace(pg.pfn, li, k);
			}

	std::map<std::string, SplitMappingRow> by_map;
	for (size_t li = 0; li < live.size(); ++li) {
		auto& l = live[li];
		SplitRow row;
		row.pid = l.sp->pid;
		row.comm = l.sp->comm;
		row.user = user_name(l.sp->uid);
		row.ksm_then = l.sp->ksm_merging;
		row.ksm_now = [&] {
			auto t = read_target_ksm(l.proc);
			return t.merging + t.zero;
		}();
		for (size_t k = 0; k < l.sp->pages.size(); ++k) {
			auto& pg = l.sp->pages[k];
			if (!pg.shared)
				continue;
			const SnapMapping* m = l.sp->mapping_of(pg.vpn, psz);
			std::string label = m ? m->label : "?";
			row.merged_then++;
			by_map[label].merged_then++;
			if (!rep.pfn_visible)
				continue;
			procfs::PagemapEntry e{l.now[k]};
			// Split: present, on another frame, and that frame is its own.
			if (!(e.present() && e.pfn() != pg.pfn && e.exclusive()))
				continue;
			row.broken++;
			by_map[label].broken++;
			if (!want_pages)
				continue;
			BrokenPage b{l.sp->pid, pg.vpn * psz, label, false, std::nullopt};
			auto it = still.find(pg.pfn);
			if (it != still.end()) {
				b.sibling = true;
				auto& sl = live[it->second.first];
				uint64_t saddr = sl.sp->pages[it->second.second].vpn * psz;
				std::string mine(psz, '\0'), theirs(psz, '\0');
				if (l.read_page(b.addr, mine) && sl.read_page(saddr, theirs)) {
					size_t first = 0, last = psz;
					while (first < psz && mine[first] == theirs[first])
						++first;
					while (last > first && mine[last - 1] == theirs[last - 1])
						--last;
					if (first < last)
						b.changed = std::pair{first, last - 1};
				}
			}
			rep.pages.push_back(std::move(b));
		}
		rep.merged_then += row.merged_then;
		rep.broken += row.broken;
		rep.rows.push_back(row);
	}
	for (auto& [label, r] : by_map) {
		SplitMappingRow mr = r;
		mr.mapping = label;
		rep.mappings.push_back(mr);
	}
	std::sort(rep.mappings.begin(), rep.mappings.end(), [](auto& a, auto& b) {
		return a.broken != b.broken ? a.broken > b.broken : a.mapping < b.mapping;
	});
	return rep;
}

namespace {

std::string pct(uint64_t a, uint64_t b)
{
	char buf[32];
	std::snprintf(buf, sizeof buf, "%.1f%%", b ? 100.0 * double(a) / double(b) : 0.0);
	return buf;
}

std::string rate(uint64_t n, double seconds)
{
	char buf[32];
	std::snprintf(buf, sizeof buf, "%.1f/h", seconds > 0 ? double(n) * 3600.0 / seconds : 0.0);
	return buf;
}

} // namespace

std::string render_split_table(const SplitReport& r, bool pages)
{
	std::string out;
	char line[512];
	if (!r.pfn_visible) {
		std::snprintf(line, sizeof line, "%7s %-15s %12s %12s\n", "PID", "COMM", "KSM-THEN", "KSM-NOW");
		out += line;
		for (auto& row : r.rows) {
			std::snprintf(line, sizeof line, "%7d %-15s %12lld %12lld\n", row.pid, row.comm.c_str(),
			              (long long)row.ksm_then, (long long)row.ksm_now);
			out += line;
		}
		out += "page-level detail needs root (frame numbers); these are the ksm_stat counters\n";
	} else {
		std::snprintf(line, sizeof line, "%7s %-15s %10s %8s %7s %9s\n", "PID", "COMM", "MERGED", "BROKEN", "SHARE", "RATE");
		out += line;
		for (auto& row : r.rows) {
			std::snprintf(line, sizeof line, "%7d %-15s %10llu %8llu %7s %9s\n", row.pid, row.comm.c_str(),
			              (unsigned long long)row.merged_then, (unsigned long long)row.broken,
			              pct(row.broken, row.merged_then).c_str(), rate(row.broken, r.seconds).c_str());
			out += line;
		}
		out += "\n";
		std::snprintf(line, sizeof line, "%-40s %10s %8s %7s\n", "MAPPING", "MERGED", "BROKEN", "SHARE");
		out += line;
		for (auto& m : r.mappings) {
			std::snprintf(line, sizeof line, "%-40s %10llu %8llu %7s\n", m.mapping.c_str(),
			              (unsigned long long)m.merged_then, (unsigned long long)m.broken,
			              pct(m.broken, m.merged_then).c_str());
			out += line;
		}
		if (pages) {
			out += "\n";
			for (auto& b : r.pages) {
				std::string what = !b.sibling ? "no merged sibling left"
				                 : b.changed ? "bytes " + std::to_string(b.changed->first) + "-" +
				                                   std::to_string(b.changed->second) + " differ"
				                             : "same content as its sibling";
				std::snprintf(line, sizeof line, "%7d %s %s: %s\n", b.pid, hex(b.addr).c_str(), b.mapping.c_str(),
				              what.c_str());
				out += line;
			}
		}
	}
	for (auto& g : r.gone) {
		std::snprintf(line, sizeof line, "pid %d (%s): %s since the snapshot\n", g.pid, g.comm.c_str(), g.reason.c_str());
		out += line;
	}
	std::snprintf(line, sizeof line, "%llu of %llu merged pages broke (%s) in %.0f s, %s\n",
	              (unsigned long long)r.broken, (unsigned long long)r.merged_then, pct(r.broken, r.merged_then).c_str(),
	              r.seconds, rate(r.broken, r.seconds).c_str());
	out += line;
	return out;
}

std::string render_split_json(const SplitReport& r)
{
	using json = nlohmann::ordered_json;
	json j;
	j["schema"] = "mergemem.memsplit/1";
	j["version"] = MERGEMEM_VERSION;
	j["pfn_visible"] = r.pfn_visible;
	j["seconds_since_snapshot"] = r.seconds;
	j["summary"] = {{"processes", r.rows.size()}, {"processes_gone", r.gone.size()},
	                {"merged_pages", r.merged_then}, {"broken_pages", r.broken},
	                {"broken_per_hour", r.seconds > 0 ? double(r.broken) * 3600.0 / r.seconds : 0.0}};
	json procs = json::array();
	for (auto& row : r.rows)
		procs.push_back({{"pid", row.pid}, {"comm", row.comm}, {"merged_pages", row.merged_then},
		                 {"broken_pages", row.broken}, {"ksm_merging_then", row.ksm_then}, {"ksm_merging_now", row.ksm_now}});
	j["processes"] = procs;
	json maps = json::array();
	for (auto& m : r.mappings)
		maps.push_back({{"mapping", m.mapping}, {"merged_pages", m.merged_then}, {"broken_pages", m.broken}});
	j["mappings"] = maps;
	json gone = json::array();
	for (auto& g : r.gone)
		gone.push_back({{"pid", g.pid}, {"comm", g.comm}, {"reason", g.reason}});
	j["gone"] = gone;
	if (!r.pages.empty()) {
		json pages = json::array();
		for (auto& b : r.pages) {
			json p = {{"pid", b.pid}, {"address", hex(b.addr)}, {"mapping", b.mapping}, {"sibling", b.sibling}};
			if (b.changed)
				p["changed"] = {b.changed->first, b.changed->second};
			pages.push_back(p);
		}
		j["pages"] = pages;
	}
	return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

} // namespace mergemem
