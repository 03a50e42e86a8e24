// The KSM session's save/restore logic against a fixture sysfs tree (the
// real knobs are exercised by tests/cli/memmerge.bats).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "mergemem/ksm.hpp"

using namespace mergemem;
namespace fs = std::filesystem;

namespace {

struct FakeSys {
	fs::path dir;
	FakeSys()
	{
		dir = fs::temp_directory_path() / ("mm-ksm-" + std::to_string(getpid()) + "-" + std::to_string(n++));
		fs::create_directories(dir / "sys/kernel/mm/ksm");
		put("run", "0");
		put("pages_to_scan", "100");
		put("sleep_millisecs", "20");
		put("smart_scan", "1");
		put("advisor_mode", "[none] scan-time");
		put("full_scans", "7");
		put("pages_shared", "0");
		put("pages_sharing", "0");
	}
	~FakeSys() { fs::remove_all(dir); }
	void put(const std::string& k, const std::string& v) { std::ofstream(dir / "sys/kernel/mm/ksm" / k) << v << "\n"; }
	std::string get(const std::string& k)
	{
		std::ifstream f(dir / "sys/kernel/mm/ksm" / k);
		std::string v;
		std::getline(f, v);
		return v;
	}
	KsmSessionOptions opts()
	{
		KsmSessionOptions o;
		o.root.sys = (dir / "sys").string();
		o.lock_path = (dir / "run/ksm.lock").string();
		o.state_path = (dir / "run/ksm.saved").string();
		o.lock_timeout = std::chrono::milliseconds(200);
		return o;
	}
	static inline int n = 0;
};

} // namespace

TEST(KsmSession, BoostsAndRestores)
{
	FakeSys f;
	{
		auto s = KsmSession::start(f.opts());
		ASSERT_TRUE(s) << s.error().message();
		EXPECT_EQ(f.get("run"), "1");
		EXPECT_EQ(f.get("pages_to_scan"), "20000");
		EXPECT_EQ(f.get("sleep_millisecs"), "1");
		EXPECT_EQ(f.get("smart_scan"), "0");
		EXPECT_EQ(f.get("advisor_mode"), "none");
		EXPECT_TRUE(fs::exists(f.dir / "run/ksm.saved"));
		ASSERT_TRUE(s->set_sleep(8));
		EXPECT_EQ(f.get("sleep_millisecs"), "8");
	} // destructor restores
	EXPECT_EQ(f.get("run"), "0");
	EXPECT_EQ(f.get("pages_to_scan"), "100");
	EXPECT_EQ(f.get("sleep_millisecs"), "20");
	EXPECT_EQ(f.get("smart_scan"), "1");
	EXPECT_EQ(f.get("advisor_mode"), "none");
	EXPECT_FALSE(fs::exists(f.dir / "run/ksm.saved"));
}

TEST(KsmSession, KeepRunning)
{
	FakeSys f;
	auto o = f.opts();
	o.keep_running = true;
	auto s = KsmSession::start(o);
	ASSERT_TRUE(s);
	ASSERT_TRUE(s->restore());
	EXPECT_EQ(f.get("run"), "1");
	EXPECT_EQ(f.get("pages_to_scan"), "100");
}

TEST(KsmSession, SecondSessionWaitsForTheLock)
{
	FakeSys f;
	auto a = KsmSession::start(f.opts());
	ASSERT_TRUE(a);
	auto b = KsmSession::start(f.opts());
	ASSERT_FALSE(b);
	EXPECT_EQ(b.error().code, EBUSY);
	EXPECT_NE(b.error().context.find("pid " + std::to_string(getpid())), std::string::npos);
	ASSERT_TRUE(a->restore());
	auto c = KsmSession::start(f.opts()); // the lock is free again
	ASSERT_TRUE(c) << c.error().message();
	// c saw the original values, not a's boost.
	EXPECT_EQ(c->saved()[1].second, "100");
}

TEST(KsmSession, RepairsWhatADeadSessionLeft)
{
	FakeSys f;
	fs::create_directories(f.dir / "run");
	std::ofstream(f.dir / "run/ksm.saved") << "run 0\npages_to_scan 100\nsleep_millisecs 20\nsmart_scan 1\n";
	f.put("run", "1");
	f.put("pages_to_scan", "20000");
	auto s = KsmSession::start(f.opts());
	ASSERT_TRUE(s) << s.error().message();
	EXPECT_TRUE(s->recovered());
	EXPECT_EQ(s->saved()[0].second, "0"); // the repaired value, not the leftover boost
	ASSERT_TRUE(s->restore());
	EXPECT_EQ(f.get("run"), "0");
	EXPECT_EQ(f.get("pages_to_scan"), "100");
}

TEST(KsmSession, CorruptStateFileIsIgnoredNotObeyed)
{
	FakeSys f;
	fs::create_directories(f.dir / "run");
	std::ofstream(f.dir / "run/ksm.saved") << "max_page_sharing 2\n";
	auto s = KsmSession::start(f.opts());
	ASSERT_TRUE(s);
	EXPECT_FALSE(s->recovered());
	EXPECT_FALSE(fs::exists(f.dir / "sys/kernel/mm/ksm/max_page_sharing"));
}

TEST(KsmSession, NoKsm)
{
	FakeSys f;
	fs::remove(f.dir / "sys/kernel/mm/ksm/run");
	auto s = KsmSession::start(f.opts());
	ASSERT_FALSE(s);
	EXPECT_EQ(s.error().code, ENOENT);
	EXPECT_NE(s.error().context.find("KSM is not available"), std::string::npos);
}

TEST(KsmGlobal, Reads)
{
	FakeSys f;
	procfs::Root r;
	r.sys = (f.dir / "sys").string();
	auto g = read_ksm_global(r);
	ASSERT_TRUE(g) << g.error().message();
	EXPECT_EQ(g->full_scans, 7u);
	EXPECT_EQ(g->run, 0u);
}
