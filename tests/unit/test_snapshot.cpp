// The snapshot format: round trip, each refusal, other boots, reused pids.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mergemem/snapshot.hpp"
#include "mergemem/split.hpp"

using namespace mergemem;

namespace {

Snapshot sample()
{
	Snapshot s;
	s.page_size = 4096;
	s.time_ns = 1234567890123456789ull;
	s.boot_id = *current_boot_id();
	s.pfn_visible = true;
	SnapProcess p;
	p.pid = 4242;
	p.uid = 1000;
	p.starttime = 99;
	p.ksm_merging = 7;
	p.comm = "a b";
	p.mappings = {{0x10000, 0x20000, "table .data"}, {0x30000, 0x31000, "[heap]"}};
	p.pages = {{0x10, 0xfffffffffffull, (1ull << 35) - 1, true}, {0x30, 5, 0x12345, false}};
	s.processes.push_back(p);
	return s;
}

} // namespace

TEST(Snapshot, RoundTripAndSize)
{
	Snapshot s = sample();
	std::string bytes = encode_snapshot(s);
	auto d = decode_snapshot(bytes);
	ASSERT_TRUE(d) << d.error().context;
	ASSERT_EQ(d->processes.size(), 1u);
	auto& p = d->processes[0];
	EXPECT_EQ(p.pid, 4242);
	EXPECT_EQ(p.comm, "a b");
	EXPECT_EQ(p.ksm_merging, 7);
	EXPECT_EQ(d->time_ns, s.time_ns);
	EXPECT_EQ(d->boot_id, s.boot_id);
	ASSERT_EQ(p.pages.size(), 2u);
	EXPECT_EQ(p.pages[0].pfn, 0xfffffffffffull);
	EXPECT_EQ(p.pages[0].hash, (1ull << 35) - 1);
	EXPECT_TRUE(p.pages[0].shared);
	EXPECT_EQ(p.pages[1].vpn, 0x30u);
	EXPECT_FALSE(p.pages[1].shared);
	EXPECT_EQ(p.mapping_of(0x10, 4096)->label, "table .data");
	EXPECT_EQ(p.mapping_of(0x25, 4096), nullptr);
	// 16 bytes per page on top of the header, tables and checksum.
	Snapshot big = s;
	big.processes[0].pages.resize(10000);
	EXPECT_EQ(encode_snapshot(big).size() - bytes.size(), (10000u - 2) * 16);
}

TEST(Snapshot, Refusals)
{
	std::string bytes = encode_snapshot(sample());
	EXPECT_NE(decode_snapshot("hello").error().context.find("bad magic"), std::string::npos);
	EXPECT_NE(decode_snapshot(bytes.substr(0, 40)).error().context.find("truncated"), std::string::npos);
	for (size_t cut : {size_t(80), bytes.size() - 1, bytes.size() - 9}) {
		auto r = decode_snapshot(bytes.substr(0, cut));
		ASSERT_FALSE(r) << cut;
	}
	for (size_t at = 12; at < bytes.size(); at += 7) {
		std::string bad = bytes;
		bad[at] ^= 0x40;
		EXPECT_FALSE(decode_snapshot(bad)) << "flipped byte " << at;
	}
	std::string future = bytes;
	future[8] = 2;
	EXPECT_NE(decode_snapshot(future).error().context.find("newer"), std::string::npos);
}

TEST(Snapshot, AnotherBootIsRefused)
{
	Snapshot s = sample();
	s.boot_id[0] ^= 1;
	auto r = diff_snapshot(s, false);
	ASSERT_FALSE(r);
	EXPECT_EQ(r.error().code, EXDEV);
	EXPECT_NE(r.error().context.find("another boot"), std::string::npos);
}

TEST(Snapshot, ReusedAndGonePids)
{
	pid_t child = fork();
	if (child == 0) {
		pause();
		_exit(0);
	}
	usleep(50000);
	Snapshot s = sample();
	s.processes[0].pid = child;
	s.processes[0].starttime = 1; // a process of the same pid that started at boot
	SnapProcess gone = s.processes[0];
	gone.pid = 4194303;
	s.processes.push_back(gone);
	auto r = diff_snapshot(s, true);
	ASSERT_TRUE(r) << r.error().context;
	ASSERT_EQ(r->gone.size(), 2u);
	EXPECT_EQ(r->gone[0].reason, "pid reused");
	EXPECT_EQ(r->gone[1].reason, "gone");
	EXPECT_TRUE(r->rows.empty());
	kill(child, SIGKILL);
	waitpid(child, nullptr, 0);
}
