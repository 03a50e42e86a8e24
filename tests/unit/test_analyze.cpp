// The duplicate index on hand-made scans: exact counts, frame sharing,
// savings attribution, unmergeable reasons, --top and --by mapping.
#include <gtest/gtest.h>

#include "mergemem/report.hpp"

using namespace mergemem;

namespace {

struct Builder {
	ScanResult s;
	Builder() { s.page_size = 4096; }
	// Adds a process with one mapping and pages given as (content id, pfn, anon).
	void proc(pid_t pid, std::vector<std::tuple<uint64_t, uint64_t, bool>> pages, std::string label = "[anon]",
	          Unmergeable why = Unmergeable::none, bool file = false)
	{
		ProcessScan ps;
		ps.pid = pid;
		ps.comm = "p" + std::to_string(pid);
		MappingInfo m;
		m.start = 0x10000;
		m.end = m.start + pages.size() * 4096;
		m.label = label;
		m.file_backed = file;
		m.anon_reason = why;
		ps.mappings.push_back(m);
		ps.runs.push_back(PageRun{m.start, uint32_t(pages.size()), 0, s.records.size()});
		for (auto [content, pfn, anon] : pages) {
			PageRecord r;
			r.hash = content == 0 ? zero_hash(4096) : Hash128{content * 7919, content};
			r.meta = pfn | PageRecord::VALID | (anon ? 0 : PageRecord::NONANON);
			s.records.push_back(r);
		}
		s.processes.push_back(std::move(ps));
	}
};

} // namespace

TEST(Analyze, ExactCountsWithFrames)
{
	Builder b;
	b.s.pfn_visible = true;
	// Content 1: 3 pages on 2 frames (pids 10 and 11 share frame 100).
	// Content 2: unique.  Content 0 (zero): 2 pages on 2 frames.
	b.proc(10, {{1, 100, true}, {2, 101, true}, {0, 102, true}});
	b.proc(11, {{1, 100, true}, {1, 103, true}, {0, 104, true}});
	for (unsigned threads : {1u, 2u}) {
		Report r = analyze(b.s, {false, 0, threads});
		EXPECT_EQ(r.summary.present_pages, 6u);
		EXPECT_EQ(r.summary.anon_pages, 6u);
		EXPECT_EQ(r.summary.anon_frames, 5u);
		EXPECT_EQ(r.summary.duplicate_pages, 5u);  // 3 x content 1 + 2 zero
		EXPECT_EQ(r.summary.savings_pages, 2u);    // (2-1) + (2-1)
		EXPECT_EQ(r.summary.zero_pages, 2u);
		EXPECT_EQ(r.summary.shared_pages, 2u);     // both mappings of frame 100
		ASSERT_EQ(r.per_process.size(), 2u);
		// Savings go to the frame whose first mapping is not first: pid 11.
		EXPECT_EQ(r.per_process[0].counts.savings_pages, 0u);
		EXPECT_EQ(r.per_process[1].counts.savings_pages, 2u);
		EXPECT_EQ(r.per_process[0].counts.anon_frames, 3u);
		EXPECT_EQ(r.per_process[1].counts.anon_frames, 3u);
	}
}

TEST(Analyze, WithoutPfnsEveryPageIsAFrame)
{
	Builder b;
	b.s.pfn_visible = false;
	b.proc(10, {{1, 0, true}, {2, 0, true}});
	b.proc(11, {{1, 0, true}, {1, 0, true}});
	Report r = analyze(b.s, {});
	EXPECT_FALSE(r.pfn_visible);
	EXPECT_EQ(r.summary.anon_frames, 4u);
	EXPECT_EQ(r.summary.duplicate_pages, 3u);
	EXPECT_EQ(r.summary.savings_pages, 2u);
	EXPECT_EQ(r.summary.shared_pages, 0u);
}

TEST(Analyze, FilePagesAndUnmergeable)
{
	Builder b;
	b.s.pfn_visible = true;
	// Same file content on two frames (two copies of a library), and the
	// same frame mapped twice (one library shared): only the first is a duplicate.
	b.proc(10, {{5, 200, false}, {6, 300, false}}, "lib.so", Unmergeable::none, true);
	b.proc(11, {{5, 201, false}, {6, 300, false}}, "lib.so", Unmergeable::none, true);
	// Duplicate anon pages in a hugetlb mapping.
	b.proc(12, {{7, 400, true}, {7, 401, true}}, "/anon_hugepage", Unmergeable::hugetlb, true);
	Report r = analyze(b.s, {});
	EXPECT_EQ(r.summary.present_pages, 6u);
	EXPECT_EQ(r.summary.anon_pages, 2u);
	EXPECT_EQ(r.summary.duplicate_pages, 2u);
	EXPECT_EQ(r.unmergeable[size_t(Unmergeable::file)], 2u);
	EXPECT_EQ(r.unmergeable[size_t(Unmergeable::hugetlb)], 2u);
	EXPECT_EQ(r.summary.unmergeable_pages, 4u);
}

TEST(Analyze, TopAndByMapping)
{
	Builder b;
	b.s.pfn_visible = true;
	b.proc(10, {{1, 1, true}, {1, 2, true}, {1, 3, true}, {2, 4, true}}, "[heap]");
	b.proc(11, {{2, 5, true}, {3, 6, true}}, "[stack]");
	Report r = analyze(b.s, {true, 1, 1});
	ASSERT_EQ(r.top.size(), 1u);
	EXPECT_EQ(r.top[0].copies, 3u);
	EXPECT_EQ(r.top[0].savings, 2u);
	EXPECT_EQ(r.top[0].processes, 1u);
	ASSERT_EQ(r.top[0].examples.size(), 1u);
	EXPECT_EQ(r.top[0].examples[0].pid, 10);
	EXPECT_EQ(r.top[0].examples[0].addr, 0x10000u);
	ASSERT_EQ(r.per_mapping.size(), 2u);
	EXPECT_EQ(r.per_mapping[0].mapping, "[heap]");
	EXPECT_EQ(r.per_mapping[0].counts.savings_pages, 2u);
	EXPECT_EQ(r.per_mapping[1].mapping, "[stack]");
	EXPECT_EQ(r.per_mapping[1].counts.savings_pages, 1u);
	EXPECT_EQ(r.per_mapping[1].processes, 1u);
}

TEST(Analyze, LabelsForDataAndBss)
{
	MappingInfo m;
	m.label = "libc.so.6";
	m.file_backed = true;
	EXPECT_EQ(page_label(m, true), "libc.so.6 .data");
	EXPECT_EQ(page_label(m, false), "libc.so.6");
	MappingInfo bss;
	bss.label = "libc.so.6";
	bss.bss = true;
	EXPECT_EQ(page_label(bss, true), "libc.so.6 .bss");
}

TEST(Analyze, ManyPagesParallelEqualsSerial)
{
	Builder b;
	b.s.pfn_visible = true;
	std::vector<std::tuple<uint64_t, uint64_t, bool>> pages;
	for (uint64_t i = 0; i < 200000; ++i)
		pages.emplace_back(i % 5000 + 1, i + 1, true);
	b.proc(10, pages);
	Report one = analyze(b.s, {true, 5, 1});
	Report two = analyze(b.s, {true, 5, 2});
	EXPECT_EQ(one.summary.duplicate_pages, 200000u);
	EXPECT_EQ(one.summary.savings_pages, 200000u - 5000u);
	EXPECT_EQ(two.summary.savings_pages, one.summary.savings_pages);
	EXPECT_EQ(two.summary.anon_frames, one.summary.anon_frames);
	ASSERT_EQ(two.top.size(), 5u);
	EXPECT_EQ(two.top[0].copies, one.top[0].copies);
}
