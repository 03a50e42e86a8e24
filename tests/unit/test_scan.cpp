// The scanner against real processes: exact counts on victims, the two
// resident-range methods and the two readers agree, nothing is faulted in,
// and a process that exits mid-way is reported as gone.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "mergemem/fd.hpp"
#include "mergemem/procfs.hpp"
#include "mergemem/report.hpp"
#include "mergemem/scan.hpp"

using namespace mergemem;

namespace {

struct Victim {
	pid_t pid = -1;
	explicit Victim(std::vector<std::string> args)
	{
		std::string ready = "/tmp/mm-unit-ready." + std::to_string(getpid()) + "." + std::to_string(counter++);
		unlink(ready.c_str());
		args.insert(args.begin(), MM_VICTIM);
		args.push_back("--ready");
		args.push_back(ready);
		pid = fork();
		if (pid == 0) {
			std::vector<char*> argv;
			for (auto& a : args)
				argv.push_back(a.data());
			argv.push_back(nullptr);
			execv(argv[0], argv.data());
			_exit(127);
		}
		for (int i = 0; i < 5000 && access(ready.c_str(), F_OK) != 0; ++i)
			usleep(1000);
		unlink(ready.c_str());
	}
	~Victim() { stop(); }
	void stop()
	{
		if (pid > 0) {
			kill(pid, SIGKILL);
			waitpid(pid, nullptr, 0);
			pid = -1;
		}
	}
	static inline int counter = 0;
};

std::vector<Process> open_all(std::initializer_list<pid_t> pids)
{
	std::vector<Process> v;
	for (pid_t p : pids) {
		auto pr = open_process(p, {}, nullptr);
		EXPECT_TRUE(pr) << pr.error().message();
		if (pr)
			v.push_back(std::move(*pr));
	}
	return v;
}

ScanOptions fixture_only(unsigned threads = 1)
{
	ScanOptions o;
	o.threads = threads;
	o.mapping = std::regex("mm-fixture", std::regex::extended);
	return o;
}

uint64_t rss_kb(pid_t pid)
{
	auto s = procfs::read_status({}, pid);
	return s ? s->vm_rss_kb : 0;
}

} // namespace

TEST(Scan, ExactCountsOnVictims)
{
	Victim a({"--table", "300", "--unique", "40", "--zero", "10", "--intra", "5"});
	Victim b({"--table", "300", "--unique", "40", "--zero", "10", "--intra", "5"});
	auto procs = open_all({a.pid, b.pid});
	for (unsigned threads : {1u, 2u}) {
		auto s = scan(procs, fixture_only(threads));
		ASSERT_TRUE(s) << s.error().message();
		Report r = analyze(*s, {false, 0, threads});
		EXPECT_EQ(r.processes, 2u);
		EXPECT_EQ(r.summary.anon_pages, 2u * 355);
		EXPECT_EQ(r.summary.duplicate_pages, 2u * 300 + 20 + 10);
		EXPECT_EQ(r.summary.savings_pages, 300u + 19 + 9);
		EXPECT_EQ(r.summary.zero_pages, 20u);
		EXPECT_EQ(r.summary.anon_frames, 2u * 355);
		EXPECT_TRUE(r.pfn_visible == (geteuid() == 0));
	}
}

TEST(Scan, MethodsAgree)
{
	Victim a({"--table", "200", "--unique", "30", "--zero", "7", "--intra", "3"});
	Victim b({"--table", "200", "--zero", "7"});
	auto procs = open_all({a.pid, b.pid});
	auto base = scan(procs, fixture_only());
	ASSERT_TRUE(base);
	Report want = analyze(*base, {});
	ScanOptions pread = fixture_only();
	pread.force_pread_pagemap = true;
	ScanOptions mem = fixture_only();
	mem.force_proc_mem = true;
	for (auto* o : {&pread, &mem}) {
		auto s = scan(procs, *o);
		ASSERT_TRUE(s);
		Report got = analyze(*s, {});
		EXPECT_EQ(got.summary.present_pages, want.summary.present_pages);
		EXPECT_EQ(got.summary.duplicate_pages, want.summary.duplicate_pages);
		EXPECT_EQ(got.summary.savings_pages, want.summary.savings_pages);
		EXPECT_EQ(got.summary.zero_pages, want.summary.zero_pages);
	}
	auto s = scan(procs, mem);
	EXPECT_TRUE(s->proc_mem_fallback);
	s = scan(procs, pread);
	EXPECT_FALSE(s->pagemap_scan);
}

TEST(Scan, ResidentOnlyAndNothingFaultedIn)
{
	// A child with a big untouched reservation and a few touched pages.
	int pipefd[2];
	ASSERT_EQ(pipe(pipefd), 0);
	pid_t child = fork();
	if (child == 0) {
		size_t len = size_t(8) << 30;
		auto* p = static_cast<char*>(mmap(nullptr, len, PROT_READ | PROT_WRITE,
		                                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
		for (int i = 0; i < 16; ++i)
			p[size_t(i) * 64 * 4096 * 1024] = char(i + 1); // 16 pages, 256 MiB apart
		uintptr_t addr = uintptr_t(p);
		(void)!write(pipefd[1], &addr, sizeof addr);
		pause();
		_exit(0);
	}
	uintptr_t addr = 0;
	ASSERT_EQ(read(pipefd[0], &addr, sizeof addr), ssize_t(sizeof addr));
	// Measure once the child sleeps in pause(): until then it may still be
	// faulting in its own code (more so under ASan's interceptors).
	for (int i = 0; i < 2000; ++i) {
		auto w = read_file("/proc/" + std::to_string(child) + "/wchan");
		if (w && w->find("pause") != std::string::npos)
			break;
		usleep(1000);
	}
	uint64_t before = rss_kb(child);
	for (bool use_scan : {true, false}) {
		UniqueFd pm(open(("/proc/" + std::to_string(child) + "/pagemap").c_str(), O_RDONLY));
		if (use_scan && !pagemap_scan_supported(pm.get()))
			continue;
		std::vector<std::pair<uint64_t, uint64_t>> ranges;
		ASSERT_TRUE(resident_ranges(pm.get(), addr, addr + (size_t(8) << 30), 4096, use_scan, ranges));
		ASSERT_EQ(ranges.size(), 16u);
		for (size_t i = 0; i < 16; ++i) {
			EXPECT_EQ(ranges[i].first, addr + i * 64 * 4096 * 1024);
			EXPECT_EQ(ranges[i].second, 1u);
		}
	}
	auto procs = open_all({child});
	auto s = scan(procs, ScanOptions{});
	ASSERT_TRUE(s);
	EXPECT_EQ(rss_kb(child), before); // scanning faulted nothing in
	kill(child, SIGKILL);
	waitpid(child, nullptr, 0);
	close(pipefd[0]);
	close(pipefd[1]);
}

TEST(Scan, ProcessGoneBeforeScanIsReportedNotCounted)
{
	Victim a({"--table", "100"});
	Victim b({"--table", "100"});
	auto procs = open_all({a.pid, b.pid});
	b.stop(); // exits (and is reaped) after selection
	auto s = scan(procs, fixture_only());
	ASSERT_TRUE(s);
	Report r = analyze(*s, {});
	EXPECT_EQ(r.processes, 1u);
	ASSERT_EQ(r.failed.size(), 1u);
	EXPECT_EQ(r.failed[0].reason, "gone");
	EXPECT_EQ(r.summary.anon_pages, 100u);
	EXPECT_EQ(r.summary.duplicate_pages, 0u);
}

TEST(Scan, ProcessExitingDuringScanNeverCrashes)
{
	// Race a kill against scans many times; each result is either complete
	// or reports the process as gone.
	for (int round = 0; round < 20; ++round) {
		Victim a({"--table", "2000"});
		Victim b({"--table", "2000"});
		auto procs = open_all({a.pid, b.pid});
		std::thread killer([&] {
			usleep(200 * (round % 10));
			b.stop();
		});
		auto s = scan(procs, fixture_only(2));
		killer.join();
		ASSERT_TRUE(s);
		Report r = analyze(*s, {});
		EXPECT_EQ(r.processes + r.failed.size(), 2u);
		if (r.processes == 1)
			EXPECT_EQ(r.summary.duplicate_pages, 0u);
		else
			EXPECT_EQ(r.summary.duplicate_pages, 4000u);
	}
}

TEST(Scan, Cancel)
{
	Victim a({"--table", "100"});
	auto procs = open_all({a.pid});
	std::atomic<bool> cancel{true};
	ScanOptions o;
	o.cancel = &cancel;
	auto s = scan(procs, o);
	ASSERT_FALSE(s);
	EXPECT_EQ(s.error().code, ECANCELED);
}
