// Parsers, fed fixture /proc and /sys files (tests/unit/data).
#include <gtest/gtest.h>

#include "mergemem/procfs.hpp"

using namespace mergemem::procfs;

static const Root fixture{MM_TEST_DATA "/proc", MM_TEST_DATA "/sys"};

TEST(Stat, CommWithSpacesAndParens)
{
	auto s = read_stat(fixture, 4242);
	ASSERT_TRUE(s) << s.error().message();
	EXPECT_EQ(s->pid, 4242);
	EXPECT_EQ(s->comm, "my (odd) prog");
	EXPECT_EQ(s->state, 'S');
	EXPECT_EQ(s->ppid, 1);
	EXPECT_EQ(s->flags, 4194560u);
	EXPECT_EQ(s->utime, 12u);
	EXPECT_EQ(s->stime, 34u);
	EXPECT_EQ(s->starttime, 987654u);
	EXPECT_FALSE(s->kernel_thread());
	EXPECT_FALSE(s->zombie());
}

TEST(Stat, KernelThreadAndZombie)
{
	auto k = parse_stat("2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0 1 0 0");
	ASSERT_TRUE(k);
	EXPECT_TRUE(k->kernel_thread());
	auto z = parse_stat("77 (sh) Z 1 77 77 0 -1 4194316 0 0 0 0 0 0 0 0 20 0 1 0 900 0 0 1 0 0");
	ASSERT_TRUE(z);
	EXPECT_TRUE(z->zombie());
}

TEST(Stat, Malformed)
{
	EXPECT_FALSE(parse_stat(""));
	EXPECT_FALSE(parse_stat("12 (x"));
	EXPECT_FALSE(parse_stat("12 (x) S 1 2 3"));                 // too few fields
	EXPECT_FALSE(parse_stat("x (y) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0"));
	auto e = parse_stat("12 (x) S 1 2 3");
	EXPECT_EQ(e.error().code, EINVAL);
}

TEST(Status, Fields)
{
	auto s = read_status(fixture, 4242);
	ASSERT_TRUE(s) << s.error().message();
	EXPECT_EQ(s->name, "my (odd) prog");
	EXPECT_EQ(s->tracer_pid, 17);
	EXPECT_EQ(s->ruid, 1000u);
	EXPECT_EQ(s->euid, 1001u);
	EXPECT_EQ(s->suid, 1002u);
	EXPECT_EQ(s->fsuid, 1003u);
	EXPECT_EQ(s->egid, 101u);
	EXPECT_EQ(s->seccomp, 2);
	EXPECT_EQ(s->threads, 3u);
	EXPECT_EQ(s->vm_rss_kb, 2048u);
	EXPECT_TRUE(s->has_mm);
}

TEST(Status, Malformed)
{
	EXPECT_FALSE(parse_status("Name:\tx\n"));                     // no Uid
	EXPECT_FALSE(parse_status("Name:\tx\nUid:\t1 2\n"));          // short Uid
	EXPECT_FALSE(parse_status("Name:\tx\nUid:\t1 2 3 4\nThreads:\tmany\n"));
	auto ok = parse_status("Name:\tkworker/0:1\nUid:\t0\t0\t0\t0\n");
	ASSERT_TRUE(ok);
	EXPECT_FALSE(ok->has_mm); // kernel threads have no VmSize
}

TEST(Maps, SmapsWithOddNames)
{
	auto v = read_smaps(fixture, 4242);
	ASSERT_TRUE(v) << v.error().message();
	ASSERT_EQ(v->size(), 7u);
	const auto& m = *v;
	EXPECT_EQ(m[0].path, "/usr/bin/my prog");   // spaces kept
	EXPECT_EQ(m[0].start, 0x55d4c8a00000u);
	EXPECT_EQ(m[0].inode, 1234u);
	EXPECT_EQ(m[0].dev_major, 0xfeu);
	EXPECT_FALSE(m[0].write);
	EXPECT_EQ(m[1].offset, 0x2000u);
	EXPECT_EQ(m[1].rss_kb, 12u);
	EXPECT_TRUE(m[1].vmflags & VMF_WR);
	EXPECT_EQ(m[2].path, "");
	EXPECT_TRUE(m[2].vmflags & VMF_MG);
	EXPECT_EQ(m[3].path, "/dev/shm/a\nb");       // \012 unescaped
	EXPECT_TRUE(m[3].deleted);
	EXPECT_TRUE(m[3].shared);
	EXPECT_TRUE(m[3].vmflags & VMF_SH);
	EXPECT_TRUE(m[4].vmflags & VMF_HT);
	EXPECT_TRUE(m[4].vmflags & VMF_DE);
	EXPECT_TRUE(m[5].vmflags & VMF_IO);
	EXPECT_TRUE(m[5].vmflags & VMF_PF);
	EXPECT_TRUE(m[5].vmflags & VMF_UNKNOWN);     // "zz"
	EXPECT_EQ(m[6].path, "[stack]");
	EXPECT_EQ(m[6].pages(4096), 0x21u);
}

TEST(Maps, PlainMapsAndErrors)
{
	auto v = parse_maps("00400000-00401000 r-xp 00000000 08:01 42    /bin/a b (deleted)\n");
	ASSERT_TRUE(v);
	EXPECT_EQ((*v)[0].path, "/bin/a b");
	EXPECT_TRUE((*v)[0].deleted);
	EXPECT_FALSE((*v)[0].has_vmflags);
	EXPECT_FALSE(parse_maps("zz-yy r-xp 0 0:0 0\n"));
	EXPECT_FALSE(parse_maps("1000-0fff r-xp 0 0:0 0\n"));        // end < start
	EXPECT_FALSE(parse_maps("1000-2000 rxp 0 0:0 0\n"));
	EXPECT_FALSE(parse_maps("Rss: 4 kB\n"));                      // key before header
	auto e = parse_maps("1000-2000 r-xp 00000000 08:01 1 /a\n1000-2000 r-xp 0000 0801 1 /b\n");
	ASSERT_FALSE(e);
	EXPECT_NE(e.error().context.find("line 2"), std::string::npos);
}

TEST(KsmStat, Fields)
{
	auto k = read_ksm_stat(fixture, 4242);
	ASSERT_TRUE(k) << k.error().message();
	EXPECT_EQ(k->rmap_items, 10);
	EXPECT_EQ(k->zero_pages, 2);
	EXPECT_EQ(k->merging_pages, 7);
	EXPECT_EQ(k->process_profit, 1234);
	EXPECT_EQ(k->merge_any, true);
	EXPECT_EQ(k->mergeable, false);
	EXPECT_FALSE(parse_ksm_stat(""));
	EXPECT_FALSE(parse_ksm_stat("ksm_rmap_items x\n"));
	EXPECT_FALSE(parse_ksm_stat("ksm_merge_any: maybe\n"));
	auto old = parse_ksm_stat("ksm_rmap_items 3\n"); // 6.1 has only this line
	ASSERT_TRUE(old);
	EXPECT_FALSE(old->merge_any.has_value());
}

TEST(Sysfs, Values)
{
	auto run = read_ksm_knob(fixture, "run");
	ASSERT_TRUE(run);
	EXPECT_EQ(*run, 0u);
	EXPECT_EQ(*read_ksm_knob(fixture, "pages_to_scan"), 100u);
	EXPECT_FALSE(read_ksm_knob(fixture, "missing"));
	EXPECT_FALSE(parse_u64(""));
	EXPECT_FALSE(parse_u64("-1\n"));
	EXPECT_FALSE(parse_u64("12 kB"));
	EXPECT_EQ(*parse_u64("18446744073709551615\n"), UINT64_MAX);
	EXPECT_FALSE(parse_u64("18446744073709551616"));
}

TEST(Pagemap, Bits)
{
	PagemapEntry e{(1ull << 63) | (1ull << 61) | (1ull << 56) | 0x1234};
	EXPECT_TRUE(e.present());
	EXPECT_TRUE(e.file_or_shared());
	EXPECT_TRUE(e.exclusive());
	EXPECT_FALSE(e.swapped());
	EXPECT_EQ(e.pfn(), 0x1234u);
	PagemapEntry sw{(1ull << 62) | 0x55};
	EXPECT_FALSE(sw.present());
	EXPECT_EQ(sw.pfn(), 0u); // swap entries carry no frame
}

TEST(Vmstat, Field)
{
	EXPECT_EQ(*parse_vmstat_field("nr_free_pages 5\ncow_ksm 42\nthp_split 1\n", "cow_ksm"), 42u);
	EXPECT_EQ(parse_vmstat_field("nr_free_pages 5\n", "cow_ksm").error().code, ENOENT);
	EXPECT_EQ(parse_vmstat_field("cow_ksm x\n", "cow_ksm").error().code, EINVAL);
}
