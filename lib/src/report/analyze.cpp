// SPDX-License-Identifier: GPL-2.0-or-later
// The duplicate index.  Valid records are ordered by (content hash, frame,
// position) through a 4-byte index (records stay where the scanner put
// them, so position still tells process and address).  Every content is
// then one contiguous group, and within it every frame one contiguous run:
// all counts come from a single pass over the groups, split across threads.
#include <algorithm>
#include <map>
#include <queue>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "mergemem/report.hpp"

namespace mergemem {

std::string page_label(const MappingInfo& m, bool anon)
{
	if (m.bss)
		return m.label + " .bss";
	if (m.file_backed && anon)
		return m.label + " .data"; // copy-on-write pages of a private file mapping
	return m.label;
}

namespace {

using Owner = RecordLocator::Place;

struct Acc {
	std::vector<Counts> proc;
	std::vector<Counts> label;
	Counts sum;
	std::array<uint64_t, size_t(Unmergeable::count_)> unm{};
	struct Top {
		uint64_t savings, copies;
		size_t gb, ge;
		bool operator>(const Top& o) const
		{
			return savings != o.savings ? savings > o.savings : copies > o.copies;
		}
	};
	std::priority_queue<Top, std::vector<Top>, std::greater<Top>> top; // min-heap of the best N
};

class Index {
public:
	explicit Index(const ScanResult& s) : where_(s)
	{
		label_of_.resize(s.processes.size());
		for (uint32_t pi = 0; pi < s.processes.size(); ++pi) {
			auto& maps = s.processes[pi].mappings;
			label_of_[pi].resize(maps.size());
			for (size_t mi = 0; mi < maps.size(); ++mi)
				for (int anon = 0; anon < 2; ++anon)
					label_of_[pi][mi][anon] = label_id(page_label(maps[mi], anon));
		}
	}

	[[nodiscard]] Owner owner(uint64_t idx) const { return where_.locate(idx); }
	[[nodiscard]] uint32_t label(const Owner& o, bool anon) const { return label_of_[o.proc][o.mapping][anon]; }
	[[nodiscard]] const std::vector<std::string>& labels() const { return labels_; }
	[[nodiscard]] const std::vector<RecordLocator::Run>& runs() const { return where_.runs(); }

private:
	uint32_t label_id(const std::string& l)
	{
		auto [it, fresh] = ids_.try_emplace(l, uint32_t(labels_.size()));
		if (fresh)
			labels_.push_back(l);
		return it->second;
	}
	RecordLocator where_;
	std::unordered_map<std::string, uint32_t> ids_;
	std::vector<std::string> labels_;
	std::vector<std::vector<std::array<uint32_t, 2>>> label_of_;
};

template <class F>
void parallel_ranges(unsigned threads, size_t n, F&& f)
{
	threads = std::max(1u, threads);
	if (threads == 1 || n < 65536) {
		f(0, size_t(0), n);
		return;
	}
	std::vector<std::thread> pool;
	for (unsigned t = 0; t < threads; ++t)
		pool.emplace_back([&, t] { f(t, n * t / threads, n * (t + 1) / threads); });
	for (auto& th : pool)
		th.join();
}

template <class F>
void run_threads(unsigned threads, F&& f)
{
	std::vector<std::thread> pool;
	for (unsigned t = 1; t < threads; ++t)
		pool.emplace_back([&, t] { f(t); });
	f(0);
	for (auto& th : pool)
		th.join();
}

// Order valid records by (hash, pfn, position): a counting sort on the top
// 16 hash bits (hashes are uniform), then small sorts per bucket.
std::vector<uint32_t> order(const std::vector<PageRecord>& rec, unsigned threads)
{
	if (rec.size() >= (1ull << 32))
		throw std::length_error("more than 2^32 pages in one scan");
	constexpr unsigned bits = 16;
	std::vector<uint32_t> start((1u << bits) + 1, 0);
	size_t valid = 0;
	for (auto& r : rec)
		if (r.valid()) {
			start[(r.hash.hi >> (64 - bits)) + 1]++;
			++valid;
		}
	for (size_t b = 1; b < start.size(); ++b)
		start[b] += start[b - 1];
	std::vector<uint32_t> idx(valid);
	std::vector<uint32_t> pos(start.begin(), start.end() - 1);
	for (uint32_t i = 0; i < rec.size(); ++i)
		if (rec[i].valid())
			idx[pos[rec[i].hash.hi >> (64 - bits)]++] = i;
	auto less = [&](uint32_t a, uint32_t b) {
		const PageRecord &x = rec[a], &y = rec[b];
		if (x.hash.hi != y.hash.hi)
			return x.hash.hi < y.hash.hi;
		if (x.hash.lo != y.hash.lo)
			return x.hash.lo < y.hash.lo;
		if (x.pfn() != y.pfn())
			return x.pfn() < y.pfn();
		return a < b;
	};
	parallel_ranges(threads, 1u << bits, [&](unsigned, size_t b0, size_t b1) {
		for (size_t b = b0; b < b1; ++b)
			if (start[b + 1] - start[b] > 1)
				std::sort(idx.begin() + start[b], idx.begin() + start[b + 1], less);
	});
	return idx;
}

void add(Counts& a, const Counts& b)
{
	a.present_pages += b.present_pages;
	a.anon_pages += b.anon_pages;
	a.anon_frames += b.anon_frames;
	a.duplicate_pages += b.duplicate_pages;
	a.savings_pages += b.savings_pages;
	a.zero_pages += b.zero_pages;
	a.shared_pages += b.shared_pages;
	a.unmergeable_pages += b.unmergeable_pages;
}

} // namespace

Report analyze(const ScanResult& s, const AnalyzeOptions& opt)
{
	Report rep;
	rep.page_size = s.page_size;
	rep.pfn_visible = s.pfn_visible;
	rep.pagemap_scan = s.pagemap_scan;
	rep.hash_impl = s.hash_impl;
	const Hash128 zh = zero_hash(s.page_size);
	const bool pfn = s.pfn_visible;
	const auto& rec = s.records;

	Index ix(s);
	std::vector<uint32_t> idx = order(rec, opt.threads);

	// Split the ordered index at group boundaries, one slice per thread.
	unsigned threads = std::max(1u, opt.threads);
	if (idx.size() < 65536)
		threads = 1;
	std::vector<size_t> cut{0};
	for (unsigned t = 1; t < threads; ++t) {
		size_t c = std::max(cut.back(), idx.size() * t / threads);
		while (c > 0 && c < idx.size() && rec[idx[c]].hash == rec[idx[c - 1]].hash)
			++c;
		cut.push_back(c);
	}
	cut.push_back(idx.size());

	std::vector<Acc> acc(threads);
	const size_t nlabels = ix.labels().size();
	run_threads(threads, [&](unsigned t) {
		Acc& a = acc[t];
		a.proc.resize(s.processes.size());
		a.label.resize(nlabels);
		std::vector<uint32_t> seen_p, seen_l;
		for (size_t gb = cut[t], ge; gb < cut[t + 1]; gb = ge) {
			const Hash128 h = rec[idx[gb]].hash;
			uint64_t anon = 0, anon_frames = 0, all_frames = 0;
			ge = gb;
			for (; ge < cut[t + 1] && rec[idx[ge]].hash == h; ++ge) {
				bool new_frame = !pfn || ge == gb || rec[idx[ge]].pfn() != rec[idx[ge - 1]].pfn();
				all_frames += new_frame;
				if (rec[idx[ge]].anon()) {
					++anon;
					anon_frames += new_frame;
				}
			}
			const bool zero = h == zh;
			// The frame kept by a merge: the one whose first mapping comes
			// first (lowest pid, then lowest address); every other frame is
			// one page saved, charged to the process of its first mapping.
			uint32_t kept = UINT32_MAX;
			for (size_t k = gb; k < ge; ++k)
				if (rec[idx[k]].anon() && (!pfn || k == gb || rec[idx[k]].pfn() != rec[idx[k - 1]].pfn()))
					kept = std::min(kept, idx[k]);
			for (size_t fb = gb, fe; fb < ge; fb = fe) {
				// One frame: [fb, fe).
				fe = fb + 1;
				if (pfn)
					while (fe < ge && rec[idx[fe]].pfn() == rec[idx[fb]].pfn())
						++fe;
				const bool is_anon = rec[idx[fb]].anon();
				const bool frame_shared = pfn && fe - fb > 1;
				seen_p.clear();
				seen_l.clear();
				for (size_t k = fb; k < fe; ++k) {
					Owner o = ix.owner(idx[k]);
					uint32_t l = ix.label(o, is_anon);
					Counts& cp = a.proc[o.proc];
					Counts& cl = a.label[l];
					cp.present_pages++, cl.present_pages++, a.sum.present_pages++;
					if (!is_anon) {
						// A file or shared page is a duplicate when its content
						// sits on another frame too (only knowable with PFNs).
						if (pfn && all_frames >= 2) {
							auto why = s.processes[o.proc].mappings[o.mapping].anon_reason == Unmergeable::shared
							               ? Unmergeable::shared
							               : Unmergeable::file;
							a.unm[size_t(why)]++;
							cp.unmergeable_pages++, cl.unmergeable_pages++, a.sum.unmergeable_pages++;
						}
						continue;
					}
					cp.anon_pages++, cl.anon_pages++, a.sum.anon_pages++;
					if (zero)
						cp.zero_pages++, cl.zero_pages++, a.sum.zero_pages++;
					if (frame_shared)
						cp.shared_pages++, cl.shared_pages++, a.sum.shared_pages++;
					if (anon >= 2) {
						cp.duplicate_pages++, cl.duplicate_pages++, a.sum.duplicate_pages++;
						auto why = s.processes[o.proc].mappings[o.mapping].anon_reason;
						if (why != Unmergeable::none) {
							a.unm[size_t(why)]++;
							cp.unmergeable_pages++, cl.unmergeable_pages++, a.sum.unmergeable_pages++;
						}
					}
					if (std::find(seen_p.begin(), seen_p.end(), o.proc) == seen_p.end()) {
						seen_p.push_back(o.proc);
						cp.anon_frames++;
					}
					if (std::find(seen_l.begin(), seen_l.end(), l) == seen_l.end()) {
						seen_l.push_back(l);
						cl.anon_frames++;
					}
					if (k == fb) {
						a.sum.anon_frames++;
						if (idx[fb] != kept)
							cp.savings_pages++, cl.savings_pages++, a.sum.savings_pages++;
					}
				}
			}
			if (opt.top > 0 && anon >= 2) {
				Acc::Top tp{anon_frames - 1, anon, gb, ge};
				if (a.top.size() < opt.top)
					a.top.push(tp);
				else if (tp > a.top.top()) {
					a.top.pop();
					a.top.push(tp);
				}
			}
		}
	});

	// Merge the per-thread accumulators.
	std::vector<Counts> proc(s.processes.size());
	std::vector<Counts> label(nlabels);
	std::vector<Acc::Top> tops;
	for (auto& a : acc) {
		if (a.proc.empty())
			continue;
		add(rep.summary, a.sum);
		for (size_t i = 0; i < proc.size(); ++i)
			add(proc[i], a.proc[i]);
		for (size_t i = 0; i < nlabels; ++i)
			add(label[i], a.label[i]);
		for (size_t i = 0; i < rep.unmergeable.size(); ++i)
			rep.unmergeable[i] += a.unm[i];
		for (; !a.top.empty(); a.top.pop())
			tops.push_back(a.top.top());
	}

	for (uint32_t pi = 0; pi < s.processes.size(); ++pi) {
		const auto& ps = s.processes[pi];
		if (ps.error) {
			std::string reason = ps.gone ? "gone" : ps.error->code == EACCES || ps.error->code == EPERM ? "permission" : "error";
			rep.failed.push_back(FailedProcess{ps.pid, ps.comm, reason, ps.error->message(), *ps.error});
			continue;
		}
		rep.per_process.push_back(ProcessRow{ps.pid, ps.comm, ps.uid, ps.user, proc[pi]});
		for (auto& m : ps.mappings)
			rep.unreadable_pages += m.present_skipped;
		rep.lost_pages += ps.lost_pages;
	}
	rep.processes = rep.per_process.size();
	rep.processes_failed = rep.failed.size();

	if (opt.by_mapping) {
		// Processes per label: one sequential pass over the runs.
		std::vector<uint32_t> last(nlabels, UINT32_MAX);
		std::vector<uint64_t> nproc(nlabels, 0);
		for (auto& r : ix.runs()) {
			const PageRecord* p = rec.data() + r.first;
			for (uint64_t k = 0; k < r.npages; ++k) {
				if (!p[k].valid())
					continue;
				uint32_t l = ix.label(Owner{r.proc, r.mapping, 0}, p[k].anon());
				if (last[l] != r.proc) {
					last[l] = r.proc;
					nproc[l]++;
				}
			}
		}
		for (size_t l = 0; l < nlabels; ++l)
			if (label[l].present_pages)
				rep.per_mapping.push_back(MappingRow{ix.labels()[l], nproc[l], label[l]});
		std::sort(rep.per_mapping.begin(), rep.per_mapping.end(), [](auto& a, auto& b) {
			if (a.counts.savings_pages != b.counts.savings_pages)
				return a.counts.savings_pages > b.counts.savings_pages;
			if (a.counts.anon_pages != b.counts.anon_pages)
				return a.counts.anon_pages > b.counts.anon_pages;
			return a.mapping < b.mapping;
		});
	}

	if (opt.top > 0) {
		std::sort(tops.begin(), tops.end(), [&](auto& a, auto& b) {
			if (a.savings != b.savings)
				return a.savings > b.savings;
			if (a.copies != b.copies)
				return a.copies > b.copies;
			return rec[idx[a.gb]].hash < rec[idx[b.gb]].hash;
		});
		if (tops.size() > opt.top)
			tops.resize(opt.top);
		for (auto& t : tops) {
			TopContent tc;
			tc.hash = rec[idx[t.gb]].hash;
			tc.copies = t.copies;
			tc.frames = t.savings + 1;
			tc.savings = t.savings;
			tc.zero = tc.hash == zh;
			std::vector<uint32_t> pages;
			for (size_t k = t.gb; k < t.ge; ++k)
				if (rec[idx[k]].anon())
					pages.push_back(idx[k]);
			std::sort(pages.begin(), pages.end());
			std::vector<uint32_t> procs;
			for (uint32_t i : pages) {
				Owner o = ix.owner(i);
				if (procs.empty() || procs.back() != o.proc) {
					procs.push_back(o.proc);
					if (tc.examples.size() < 3)
						tc.examples.push_back(Example{s.processes[o.proc].pid, o.addr, ix.labels()[ix.label(o, true)]});
				}
			}
			tc.processes = procs.size();
			rep.top.push_back(std::move(tc));
		}
	}
	return rep;
}

} // namespace mergemem
