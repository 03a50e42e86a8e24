// SPDX-License-Identifier: GPL-2.0-or-later
// The procfs scanner: smaps for the mappings, PAGEMAP_SCAN (or pagemap
// reads) for what is resident, process_vm_readv (or /proc/PID/mem) for the
// contents, XXH3-128 for identity.
//
// Phase 1 (per process, in parallel): mappings and resident runs.  The runs
// fix every page's slot in one records array, so phase 2 needs no locks.
// Phase 2 (work units of up to 4 MiB, in parallel): pagemap entries and
// contents of each unit, read right before they are hashed.
// Phase 3: a process whose pidfd shows it exited is dropped whole: its pid
// may have been reused, and process_vm_readv addresses by pid.
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <sys/ioctl.h>

#include "mergemem.h" // kmod/mergemem.h
#include "mergemem/fd.hpp"
#include "mergemem/log.hpp"
#include "mergemem/procfs.hpp"
#include "mergemem/scan.hpp"

namespace mergemem {

std::string_view to_string(Unmergeable u)
{
	switch (u) {
	case Unmergeable::none: return "none";
	case Unmergeable::file: return "file";
	case Unmergeable::shared: return "shared";
	case Unmergeable::hugetlb: return "hugetlb";
	case Unmergeable::pfnmap_io: return "pfnmap_io";
	case Unmergeable::mixedmap: return "mixedmap";
	case Unmergeable::dontexpand: return "dontexpand";
	case Unmergeable::count_: break;
	}
	return "?";
}

namespace {

using namespace procfs;

uint64_t zero_xxh64(size_t psz)
{
	static const uint64_t h = [&] {
		std::vector<char> z(psz, 0);
		return uint64_t(XXH64(z.data(), z.size(), 0));
	}();
	return h;
}

// Pages per work unit and per process_vm_readv call.  256 KiB per call
// keeps the buffer in L2 while it is hashed; the unit size balances threads
// without making the unit list large.
constexpr size_t unit_pages = 1024;
constexpr size_t batch_pages = 64;
// A record whose hash is PAGEINFO's xxh64, still to be confirmed.
constexpr uint64_t KMOD_HASH = 1ull << 59;

std::string basename_of(const std::string& path)
{
	auto slash = path.rfind('/');
	return slash == std::string::npos ? path : path.substr(slash + 1);
}

// An ELF object's writable data segment: a private, writable file mapping
// at a non-zero offset.  The anonymous mapping right after it is its .bss.
bool is_data_segment(const Vma& v)
{
	return v.file_backed() && v.write && !v.shared && v.offset > 0;
}

Unmergeable anon_reason(const Vma& v)
{
	// ksm_madvise() refuses these VMAs (mm/ksm.c); hugetlb first as the most specific.
	if (v.vmflags & VMF_HT)
		return Unmergeable::hugetlb;
	if (v.vmflags & (VMF_PF | VMF_IO))
		return Unmergeable::pfnmap_io;
	if (v.vmflags & VMF_MM)
		return Unmergeable::mixedmap;
	if (v.vmflags & VMF_DE)
		return Unmergeable::dontexpand;
	if (v.shared || (v.vmflags & (VMF_SH | VMF_MS)))
		return Unmergeable::shared;
	return Unmergeable::none;
}

struct Unit {
	uint32_t proc;
	uint32_t run;
	uint32_t offset; // pages into the run
	uint32_t npages;
};

struct ProcState {
	std::atomic<bool> failed{false};
	std::atomic<bool> use_mem{false};
	std::mutex mu;               // guards err, dir and memfd
	std::optional<Error> err;
	std::optional<ProcessDir> dir;  // /proc/PID while this process is being read
	UniqueFd memfd;
	std::atomic<uint64_t> lost{0};
	std::atomic<uint32_t> units_left{0};
};

struct Shared {
	const std::vector<const Process*>& procs;
	const ScanOptions& opt;
	ScanResult& res;
	std::vector<std::unique_ptr<ProcState>> state;
	std::atomic<bool> pfn_seen{false};
	std::atomic<uint64_t> done{0};
	uint64_t total = 0;
	std::atomic<int64_t> last_progress{0};
	bool use_scan = true;
	std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();

	void set_error(uint32_t pi, Error e)
	{
		auto& st = *state[pi];
		std::lock_guard lk(st.mu);
		if (!st.err)
			st.err = std::move(e);
		st.failed = true;
	}
	void st_lost(uint32_t pi, uint64_t n) { state[pi]->lost.fetch_add(n, std::memory_order_relaxed); }
	bool cancelled() const { return opt.cancel && opt.cancel->load(std::memory_order_relaxed); }
	void progress(uint64_t pages)
	{
		uint64_t d = done.fetch_add(pages) + pages;
		if (!opt.progress)
			return;
		int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
		int64_t last = last_progress.load();
		if (now - last >= 200 && last_progress.compare_exchange_strong(last, now))
			opt.progress(d, total);
	}
};

Error proc_error(const Process& p, int code, const std::string& what)
{
	return Error{code, "pid " + std::to_string(p.pid) + " (" + p.comm + "): " + what};
}

// The process's /proc/PID directory, reopened (and verified) on first need
// when the selection parked it.  Called with st.mu held.
Result<int> proc_dir_locked(Shared& sh, uint32_t pi)
{
	ProcState& st = *sh.state[pi];
	if (!st.dir) {
		auto d = ProcessDir::open(*sh.procs[pi]);
		if (!d)
			return std::unexpected(d.error());
		st.dir.emplace(std::move(*d));
	}
	return st.dir->get();
}

Result<int> proc_dir(Shared& sh, uint32_t pi)
{
	std::lock_guard lk(sh.state[pi]->mu);
	return proc_dir_locked(sh, pi);
}

// Closes what reading one process opened, so that a scan of thousands of
// processes holds descriptors for only the few being read.
void release_process(Shared& sh, uint32_t pi)
{
	ProcState& st = *sh.state[pi];
	std::lock_guard lk(st.mu);
	st.memfd.reset();
	st.dir.reset();
}

// Phase 1 for one process.
void map_process(Shared& sh, uint32_t pi)
{
	const Process& p = *sh.procs[pi];
	ProcessScan& ps = sh.res.processes[pi];
	const size_t psz = sh.res.page_size;
	auto dir = proc_dir(sh, pi);
	if (!dir) {
		int e = dir.error().code;
		sh.set_error(pi, proc_error(p, e, e == ESRCH ? "exited" : "open /proc directory"));
		return;
	}
	struct Release {
		Shared& sh;
		uint32_t pi;
		~Release() { release_process(sh, pi); }
	} release{sh, pi};
	auto text = read_file_at(*dir, "smaps");
	if (!text) {
		int e = text.error().code;
		sh.set_error(pi, proc_error(p, e == ENOENT ? ESRCH : e, "read smaps"));
		return;
	}
	auto vmas = parse_maps(*text);
	if (!vmas) {
		sh.set_error(pi, proc_error(p, vmas.error().code, vmas.error().context));
		return;
	}
	UniqueFd pm(::openat(*dir, "pagemap", O_RDONLY | O_CLOEXEC));
	if (!pm) {
		int e = errno;
		sh.set_error(pi, proc_error(p, e == ENOENT ? ESRCH : e, "open pagemap"));
		return;
	}
	std::vector<std::pair<uint64_t, uint64_t>> ranges;
	for (size_t i = 0; i < vmas->size(); ++i) {
		const Vma& v = (*vmas)[i];
		MappingInfo m;
		m.start = v.start;
		m.end = v.end;
		m.path = v.path;
		m.file_backed = v.file_backed();
		m.anon_reason = anon_reason(v);
		m.mergeable = v.vmflags & VMF_MG;
		if (m.file_backed)
			m.label = basename_of(v.path) + (v.deleted ? " (deleted)" : "");
		else if (!v.path.empty())
			m.label = v.path; // [heap], [stack], [anon:NAME], [vdso] ...
		else if (i > 0 && is_data_segment((*vmas)[i - 1]) && (*vmas)[i - 1].end == v.start) {
			m.bss = true;
			m.label = basename_of((*vmas)[i - 1].path);
		} else
			m.label = "[anon]";
		const bool special = v.path == "[vsyscall]" || v.path == "[vvar]" || v.path == "[vvar_vclock]";
		const bool device = v.vmflags & (VMF_PF | VMF_IO);
		const bool filtered = sh.opt.mapping && !std::regex_search(v.path, *sh.opt.mapping);
		if (special || device || filtered || !v.read) {
			// VM_IO/VM_PFNMAP may be device memory: reading it could have
			// side effects, and GUP refuses it anyway.  PROT_NONE mappings
			// (guard pages) hold nothing readable either.
			m.skipped = true;
			if (!filtered && !special)
				m.present_skipped = v.rss_kb * 1024 / psz;
			ps.mappings.push_back(std::move(m));
			continue;
		}
		ranges.clear();
		auto r = resident_ranges(pm.get(), v.start, v.end, psz, sh.use_scan, ranges);
		if (!r) {
			int e = r.error().code;
			if (e == ESRCH || e == ENOENT) {
				sh.set_error(pi, proc_error(p, ESRCH, "exited during the scan"));
				return;
			}
			// The mapping changed under us (munmap): its pages are lost, not the process.
			log(LogLevel::debug, "pid " + std::to_string(p.pid) + ": " + r.error().message());
		}
		for (auto [addr, n] : ranges) {
			// Runs are kept below 2^32 pages each by splitting.
			while (n > 0) {
				uint32_t take = uint32_t(std::min<uint64_t>(n, 1u << 30));
				ps.runs.push_back(PageRun{addr, take, uint32_t(ps.mappings.size()), 0});
				addr += uint64_t(take) * psz;
				n -= take;
			}
		}
		ps.mappings.push_back(std::move(m));
	}
}

// The process's /proc/PID/mem, opened once, on first need, by any thread.
Result<int> mem_fd(Shared& sh, uint32_t pi)
{
	ProcState& st = *sh.state[pi];
	std::lock_guard lk(st.mu);
	if (!st.memfd) {
		auto dir = proc_dir_locked(sh, pi);
		if (!dir)
			return std::unexpected(dir.error());
		st.memfd.reset(::openat(*dir, "mem", O_RDONLY | O_CLOEXEC));
		if (!st.memfd)
			return fail(errno == ENOENT ? ESRCH : errno, "open mem");
	}
	return st.memfd.get();
}

// Read [addr, addr+n pages) of a process into buf; returns pages read from
// the start (short on a fault), or an error for the whole process.
Result<size_t> read_pages(Shared& sh, uint32_t pi, const iovec* remote, size_t nremote, char* buf, size_t bytes,
                          bool via_mem)
{
	const Process& p = *sh.procs[pi];
	ProcState& st = *sh.state[pi];
	const size_t psz = sh.res.page_size;
	if (!via_mem && !st.use_mem.load(std::memory_order_relaxed)) {
		iovec local{buf, bytes};
		ssize_t n = ::process_vm_readv(p.pid, &local, 1, remote, nremote, 0);
		if (n >= 0)
			return size_t(n) / psz;
		if (errno == EFAULT)
			return size_t(0);
		if (errno == ESRCH)
			return fail(ESRCH, "exited during the scan");
		if (errno != ENOSYS && errno != EPERM)
			return fail(errno, "process_vm_readv");
		// Seccomp or an LSM may forbid process_vm_readv where /proc/PID/mem works.
		st.use_mem = true;
	}
	auto memfd = mem_fd(sh, pi);
	if (!memfd)
		return std::unexpected(memfd.error());
	size_t pages = 0;
	char* out = buf;
	for (size_t i = 0; i < nremote; ++i) {
		auto got = pread_full(*memfd, out, remote[i].iov_len, off_t(uintptr_t(remote[i].iov_base)));
		if (!got) {
			if (got.error().code == EIO || got.error().code == EFAULT)
				return pages;
			return fail(got.error().code, "read mem");
		}
		pages += *got / psz;
		if (*got < remote[i].iov_len)
			return pages;
		out += *got;
	}
	return pages;
}

// PAGEINFO for one unit: frame, flags, mapcount and xxh64 per resident page.
// The 64-bit hash is only a candidate key; confirm_kmod_hashes() makes it exact.
void scan_unit_kmod(Shared& sh, const Unit& u, uint64_t base, PageRecord* rec)
{
	const Process& p = *sh.procs[u.proc];
	const size_t psz = sh.res.page_size;
	thread_local std::vector<mergemem_page> recs(unit_pages);
	mergemem_pageinfo pi{};
	pi.size = sizeof pi;
	pi.pid = uint32_t(p.pid);
	pi.start = base;
	pi.count = u.npages;
	pi.records = reinterpret_cast<uintptr_t>(recs.data());
	if (::ioctl(sh.opt.kmod_fd, MERGEMEM_IOC_PAGEINFO, &pi) != 0) {
		sh.set_error(u.proc, proc_error(p, errno, "MERGEMEM_IOC_PAGEINFO"));
		return;
	}
	bool pfn_seen = false;
	for (uint64_t k = 0; k < pi.filled; ++k) {
		const auto& r = recs[k];
		uint64_t i = (r.addr - base) / psz;
		if (i >= u.npages)
			continue;
		uint64_t meta = r.pfn | PageRecord::VALID | KMOD_HASH;
		if (r.pfn)
			pfn_seen = true;
		if (!(r.flags & MERGEMEM_PAGE_ANON) && !(r.flags & MERGEMEM_PAGE_ZERO))
			meta |= PageRecord::NONANON;
		if (r.mapcount == 1 && !(r.flags & (MERGEMEM_PAGE_KSM | MERGEMEM_PAGE_ZERO)))
			meta |= PageRecord::EXCLUSIVE;
		rec[i].meta = meta;
		rec[i].hash = Hash128{r.hash, 0};
	}
	sh.st_lost(u.proc, u.npages - pi.filled);
	if (pfn_seen)
		sh.pfn_seen.store(true, std::memory_order_relaxed);
	sh.progress(u.npages);
}

void scan_unit(Shared& sh, const Unit& u, std::vector<char>& buf, std::vector<uint64_t>& pmbuf)
{
	const Process& p = *sh.procs[u.proc];
	ProcessScan& ps = sh.res.processes[u.proc];
	ProcState& st = *sh.state[u.proc];
	const size_t psz = sh.res.page_size;
	const PageRun& run = ps.runs[u.run];
	const uint64_t base = run.addr + uint64_t(u.offset) * psz;
	PageRecord* rec = sh.res.records.data() + run.first + u.offset;
	struct Done {
		Shared& sh;
		uint32_t pi;
		~Done()
		{
			if (sh.state[pi]->units_left.fetch_sub(1) == 1)
				release_process(sh, pi);
		}
	} done{sh, u.proc};
	if (st.failed.load(std::memory_order_relaxed))
		return;

	if (sh.opt.kmod_fd >= 0) {
		scan_unit_kmod(sh, u, base, rec);
		return;
	}
	auto dir = proc_dir(sh, u.proc);
	if (!dir) {
		sh.set_error(u.proc, proc_error(p, dir.error().code, "exited during the scan"));
		return;
	}
	UniqueFd pm(::openat(*dir, "pagemap", O_RDONLY | O_CLOEXEC));
	if (!pm) {
		sh.set_error(u.proc, proc_error(p, errno == ENOENT ? ESRCH : errno, "open pagemap"));
		return;
	}
	auto got = pread_full(pm.get(), pmbuf.data(), u.npages * 8, off_t(base / psz * 8));
	if (!got) {
		sh.set_error(u.proc, proc_error(p, got.error().code, "read pagemap"));
		return;
	}
	const size_t nent = *got / 8;
	bool pfn_seen = false;
	uint32_t slot[batch_pages];
	Hash128 hashes[batch_pages];
	const bool mergeable = ps.mappings[run.mapping].mergeable;
	// process_vm_readv pins pages (FOLL_PIN), and pinning an anonymous page
	// that is not exclusive to its mapping makes the kernel unshare it
	// (gup_must_unshare): reading would undo KSM merges and fork sharing.
	// Such pages, and any page of a VM_MERGEABLE mapping (a KSM page can be
	// mapped once), are read through /proc/PID/mem, which does not pin.
	auto via_mem = [&](const PagemapEntry& e) { return mergeable || !e.exclusive(); };
	size_t i = 0;
	while (i < nent) {
		// Gather up to batch_pages present pages read the same way.
		size_t npg = 0;
		bool batch_mem = false;
		while (i < nent && npg < batch_pages) {
			PagemapEntry e{pmbuf[i]};
			if (!e.present()) {
				// Resident in phase 1, gone now (reclaimed, swapped or unmapped).
				++i;
				st.lost.fetch_add(1, std::memory_order_relaxed);
				continue;
			}
			if (npg == 0)
				batch_mem = via_mem(e);
			else if (via_mem(e) != batch_mem)
				break;
			uint64_t meta = e.pfn();
			if (meta)
				pfn_seen = true;
			if (e.file_or_shared())
				meta |= PageRecord::NONANON;
			if (e.exclusive())
				meta |= PageRecord::EXCLUSIVE;
			rec[i].meta = meta; // VALID is set once hashed
			slot[npg++] = uint32_t(i);
			++i;
		}
		size_t first = 0;
		while (first < npg) {
			// Remote iovecs for slots [first, npg).
			iovec rem[batch_pages];
			size_t nr = 0;
			for (size_t k = first; k < npg; ++k) {
				uint64_t addr = base + uint64_t(slot[k]) * psz;
				if (nr > 0 && uintptr_t(rem[nr - 1].iov_base) + rem[nr - 1].iov_len == addr)
					rem[nr - 1].iov_len += psz;
				else
					rem[nr++] = iovec{reinterpret_cast<void*>(addr), psz};
			}
			auto n = read_pages(sh, u.proc, rem, nr, buf.data(), (npg - first) * psz, batch_mem);
			if (!n) {
				sh.set_error(u.proc, proc_error(p, n.error().code, n.error().context));
				return;
			}
			hash_blocks(buf.data(), psz, *n, hashes);
			for (size_t k = 0; k < *n; ++k) {
				PageRecord& r = rec[slot[first + k]];
				r.hash = hashes[k];
				r.meta |= PageRecord::VALID;
			}
			first += *n;
			if (first < npg) {
				// A fault: that page was unmapped since pagemap said present.
				rec[slot[first]].meta = 0;
				st.lost.fetch_add(1, std::memory_order_relaxed);
				++first;
			}
		}
	}
	if (pfn_seen)
		sh.pfn_seen.store(true, std::memory_order_relaxed);
	sh.progress(u.npages);
}

// Makes the kmod backend's records exact and equal to the procfs backend's:
// every xxh64 key held by two or more pages is re-hashed with XXH3-128 from
// one read per frame (through /proc/PID/mem, which does not unshare), so a
// 64-bit collision splits into its true contents.  A key held once stays
// unique: it is tagged so it can match no XXH3-128 value.
void confirm_kmod_hashes(Shared& sh)
{
	auto& recs = sh.res.records;
	const size_t psz = sh.res.page_size;
	std::vector<uint32_t> idx;
	for (uint32_t i = 0; i < recs.size(); ++i)
		if (recs[i].meta & KMOD_HASH)
			idx.push_back(i);
	std::sort(idx.begin(), idx.end(), [&](uint32_t a, uint32_t b) {
		if (recs[a].hash.lo != recs[b].hash.lo)
			return recs[a].hash.lo < recs[b].hash.lo;
		if (recs[a].pfn() != recs[b].pfn())
			return recs[a].pfn() < recs[b].pfn();
		return a < b;
	});
	const RecordLocator where(sh.res);
	std::vector<char> page(psz);
	// Groups visit processes in hash order: hold at most 64 mem fds, so a
	// set of thousands of processes stays inside RLIMIT_NOFILE.
	std::vector<uint32_t> open_procs;
	auto read_hash = [&](uint32_t i, Hash128& out) {
		auto at = where.locate(i);
		if (!sh.state[at.proc]->memfd) {
			if (open_procs.size() >= 64) {
				for (uint32_t q : open_procs)
					release_process(sh, q);
				open_procs.clear();
			}
			open_procs.push_back(at.proc);
		}
		auto fd = mem_fd(sh, at.proc);
		if (!fd)
			return false;
		auto n = pread_full(*fd, page.data(), psz, off_t(at.addr));
		if (!n || *n != psz)
			return false;
		hash_blocks(page.data(), psz, 1, &out);
		sh.res.confirm_reads++;
		return true;
	};
	const bool pfn = sh.pfn_seen.load();
	for (size_t gb = 0, ge; gb < idx.size(); gb = ge) {
		ge = gb + 1;
		while (ge < idx.size() && recs[idx[ge]].hash.lo == recs[idx[gb]].hash.lo)
			++ge;
		if (ge - gb == 1) {
			PageRecord& r = recs[idx[gb]];
			Hash128 h;
			// A lone zero-looking page is checked: zero pages are counted.
			if (r.hash.lo == zero_xxh64(psz) && read_hash(idx[gb], h))
				r.hash = h;
			else
				r.hash.hi = 0x6b6d6f642d756e71ull; // "kmod-unq": matches no XXH3-128 output
			r.meta &= ~KMOD_HASH;
			continue;
		}
		for (size_t fb = gb, fe; fb < ge; fb = fe) {
			fe = fb + 1;
			if (pfn)
				while (fe < ge && recs[idx[fe]].pfn() == recs[idx[fb]].pfn())
					++fe;
			Hash128 h;
			bool ok = read_hash(idx[fb], h);
			for (size_t k = fb; k < fe; ++k) {
				PageRecord& r = recs[idx[k]];
				if (ok)
					r.hash = h;
				else
					r.meta = 0; // gone before it could be confirmed
				r.meta &= ~KMOD_HASH;
			}
		}
	}	for (uint32_t q : open_procs)
		release_process(sh, q);
}

template <class F>
void parallel(unsigned threads, size_t n, F&& f)
{
	std::atomic<size_t> next{0};
	auto worker = [&] {
		for (size_t i; (i = next.fetch_add(1)) < n;)
			f(i);
	};
	threads = std::max(1u, std::min<unsigned>(threads, unsigned(std::max<size_t>(n, 1))));
	std::vector<std::thread> pool;
	for (unsigned t = 1; t < threads; ++t)
		pool.emplace_back(worker);
	worker();
	for (auto& t : pool)
		t.join();
}

} // namespace

void forget_process(ScanResult& res, ProcessScan& ps, Error why)
{
	ps.gone = why.code == ESRCH;
	ps.error = std::move(why);
	for (auto& r : ps.runs)
		for (uint64_t k = 0; k < r.npages && r.first + k < res.records.size(); ++k)
			res.records[r.first + k].meta = 0;
	ps.runs.clear();
}

Result<ScanResult> scan(const std::vector<Process>& procs, const ScanOptions& opt)
{
	std::vector<const Process*> ptrs;
	for (auto& p : procs)
		ptrs.push_back(&p);
	return scan(ptrs, opt);
}

Result<ScanResult> scan(const std::vector<const Process*>& procs, const ScanOptions& opt)
{
	ScanResult res;
	res.page_size = size_t(::sysconf(_SC_PAGESIZE));
	res.hash_impl = hash_implementation();
	res.processes.resize(procs.size());
	Shared sh{procs, opt, res, {}, {}, {}, 0, {}, true};
	for (size_t i = 0; i < procs.size(); ++i) {
		sh.state.push_back(std::make_unique<ProcState>());
		auto& ps = res.processes[i];
		ps.pid = procs[i]->pid;
		ps.starttime = procs[i]->starttime;
		ps.comm = procs[i]->comm;
		ps.uid = procs[i]->uid;
		ps.user = procs[i]->user;
	}

	// Probe PAGEMAP_SCAN once, on our own pagemap.
	sh.use_scan = false;
	if (!opt.force_pread_pagemap) {
		UniqueFd self(::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
		sh.use_scan = self && pagemap_scan_supported(self.get());
	}
	res.pagemap_scan = sh.use_scan;
	if (opt.force_proc_mem)
		for (auto& s : sh.state)
			s->use_mem = true;

	parallel(opt.threads, procs.size(), [&](size_t i) {
		if (!sh.cancelled())
			map_process(sh, uint32_t(i));
	});
	if (sh.cancelled())
		return fail(ECANCELED, "scan interrupted");

	// Lay out the records and cut the runs into units.
	uint64_t total = 0;
	std::vector<Unit> units;
	for (uint32_t pi = 0; pi < procs.size(); ++pi) {
		auto& runs = res.processes[pi].runs;
		if (sh.state[pi]->failed) {
			runs.clear(); // never laid out: nothing to invalidate later
			continue;
		}
		for (uint32_t ri = 0; ri < runs.size(); ++ri) {
			runs[ri].first = total;
			total += runs[ri].npages;
			for (uint32_t off = 0; off < runs[ri].npages; off += unit_pages) {
				units.push_back(Unit{pi, ri, off, uint32_t(std::min<uint64_t>(unit_pages, runs[ri].npages - off))});
				sh.state[pi]->units_left++;
			}
		}
	}
	try {
		res.records.resize(total);
	} catch (const std::bad_alloc&) {
		return fail(ENOMEM, "page index for " + std::to_string(total) + " pages");
	}
	sh.total = total;

	parallel(opt.threads, units.size(), [&](size_t i) {
		// Per-thread buffers: thread_local keeps one allocation per worker.
		thread_local std::vector<char> buf;
		thread_local std::vector<uint64_t> pmbuf;
		if (buf.size() < batch_pages * res.page_size)
			buf.resize(batch_pages * res.page_size);
		if (pmbuf.size() < unit_pages)
			pmbuf.resize(unit_pages);
		if (!sh.cancelled())
			scan_unit(sh, units[i], buf, pmbuf);
	});
	if (sh.cancelled())
		return fail(ECANCELED, "scan interrupted");

	if (opt.kmod_fd >= 0) {
		res.backend = "kmod";
		confirm_kmod_hashes(sh);
	}
	for (uint32_t pi = 0; pi < procs.size(); ++pi) {
		auto& ps = res.processes[pi];
		auto& st = *sh.state[pi];
		ps.lost_pages = st.lost;
		if (st.use_mem)
			res.proc_mem_fallback = true;
		if (!st.failed && !procs[pi]->check_alive()) {
			st.failed = true;
			st.err = proc_error(*procs[pi], ESRCH, "exited during the scan");
		}
		if (st.failed)
			forget_process(res, ps, st.err ? *st.err : Error{EIO, "pid " + std::to_string(ps.pid)});
	}
	res.pfn_visible = sh.pfn_seen;
	if (opt.progress)
		opt.progress(total, total);
	return res;
}

} // namespace mergemem
