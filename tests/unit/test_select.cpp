// Selection: pid lists, users, pidfd pinning and races against real children.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mergemem/select.hpp"

using namespace mergemem;

TEST(PidList, Parses)
{
	auto v = parse_pid_list("12 34\n56\t\t78\n");
	ASSERT_TRUE(v);
	EXPECT_EQ(*v, (std::vector<pid_t>{12, 34, 56, 78}));
	EXPECT_TRUE(parse_pid_list("")->empty());
	EXPECT_TRUE(parse_pid_list(" \n\n")->empty());
}

TEST(PidList, RejectsWithPosition)
{
	auto v = parse_pid_list("12 abc 7");
	ASSERT_FALSE(v);
	EXPECT_EQ(v.error().code, EINVAL);
	EXPECT_NE(v.error().context.find("token 2"), std::string::npos);
	EXPECT_NE(v.error().context.find("'abc'"), std::string::npos);
	EXPECT_FALSE(parse_pid_list("0"));
	EXPECT_FALSE(parse_pid_list("-5"));
	EXPECT_FALSE(parse_pid_list("99999999999"));
	EXPECT_FALSE(parse_pid_list("12x"));
	EXPECT_FALSE(parse_pid_list("4194305")); // above PID_MAX_LIMIT
	EXPECT_TRUE(parse_pid_list("4194304"));
}

TEST(Users, Resolve)
{
	EXPECT_EQ(*resolve_user("root"), 0u);
	EXPECT_EQ(*resolve_user("0"), 0u);
	EXPECT_EQ(*resolve_user("65534"), 65534u);
	EXPECT_EQ(resolve_user("no-such-user-xyz").error().code, ENOENT);
	EXPECT_FALSE(resolve_user(""));
	EXPECT_EQ(user_name(0), "root");
	EXPECT_EQ(user_name(4000000), "4000000");
}

static pid_t spawn_sleeper()
{
	pid_t pid = fork();
	if (pid == 0) {
		pause();
		_exit(0);
	}
	return pid;
}

TEST(OpenProcess, PinsAndDetectsExit)
{
	pid_t child = spawn_sleeper();
	SkipReason why{};
	auto p = open_process(child, {}, &why);
	ASSERT_TRUE(p) << p.error().message();
	EXPECT_EQ(p->pid, child);
	EXPECT_TRUE(p->check_alive());
	kill(child, SIGKILL);
	// Not yet reaped: a zombie is not alive for us.
	for (int i = 0; i < 1000 && p->check_alive(); ++i)
		usleep(1000);
	EXPECT_EQ(p->check_alive().error().code, ESRCH);
	waitpid(child, nullptr, 0);
	EXPECT_FALSE(p->check_alive());
}

TEST(OpenProcess, Refusals)
{
	SkipReason why{};
	EXPECT_FALSE(open_process(2, {}, &why)); // kthreadd
	EXPECT_EQ(why, SkipReason::kernel_thread);

	pid_t child = fork();
	if (child == 0)
		_exit(0);
	// Wait until it is a zombie, without reaping it.
	siginfo_t si{};
	waitid(P_PID, child, &si, WEXITED | WNOWAIT);
	auto z = open_process(child, {}, &why);
	EXPECT_FALSE(z);
	EXPECT_EQ(why, SkipReason::zombie);
	waitpid(child, nullptr, 0);
	auto gone = open_process(child, {}, &why);
	EXPECT_FALSE(gone);
	EXPECT_EQ(why, SkipReason::not_found);
	EXPECT_EQ(gone.error().code, ESRCH);
}

TEST(Select, ExplicitAndFilters)
{
	pid_t a = spawn_sleeper(), b = spawn_sleeper();
	Criteria c;
	c.pids = {b, a, a, 2};
	auto s = select_processes(c);
	ASSERT_TRUE(s);
	ASSERT_EQ(s->processes.size(), 2u);
	EXPECT_EQ(s->processes[0].pid, std::min(a, b)); // sorted, deduplicated
	ASSERT_EQ(s->skipped.size(), 1u);
	EXPECT_EQ(s->skipped[0].pid, 2);
	EXPECT_EQ(s->skipped[0].reason, SkipReason::kernel_thread);
	EXPECT_TRUE(s->skipped[0].named);

	c.exclude_pids = {a};
	s = select_processes(c);
	ASSERT_EQ(s->processes.size(), 1u);
	EXPECT_EQ(s->processes[0].pid, b);
	kill(a, SIGKILL);
	kill(b, SIGKILL);
	waitpid(a, nullptr, 0);
	waitpid(b, nullptr, 0);
}

TEST(Select, AllExcludesSelfAndKernelThreads)
{
	Criteria c;
	c.all = true;
	auto s = select_processes(c);
	ASSERT_TRUE(s);
	for (auto& p : s->processes)
		EXPECT_NE(p.pid, getpid());
	bool saw_kthread = false;
	for (auto& k : s->skipped) {
		EXPECT_FALSE(k.named);
		saw_kthread |= k.reason == SkipReason::kernel_thread;
	}
	EXPECT_TRUE(saw_kthread);
	EXPECT_GT(s->processes.size(), 0u);
}

TEST(Select, NameRegex)
{
	pid_t child = fork();
	if (child == 0) {
		execl("/bin/sleep", "sleep", "3600", (char*)nullptr);
		_exit(127);
	}
	usleep(100000);
	Criteria c;
	c.name = std::regex("^sle+p$", std::regex::extended);
	auto s = select_processes(c);
	ASSERT_TRUE(s);
	bool found = false;
	for (auto& p : s->processes)
		found |= p.pid == child;
	EXPECT_TRUE(found);
	c.full = true;
	c.name = std::regex("sleep 3600", std::regex::extended);
	s = select_processes(c);
	found = false;
	for (auto& p : s->processes)
		found |= p.pid == child;
	EXPECT_TRUE(found);
	c.exclude_names = {std::regex("3600", std::regex::extended)};
	s = select_processes(c);
	for (auto& p : s->processes)
		EXPECT_NE(p.pid, child);
	kill(child, SIGKILL);
	waitpid(child, nullptr, 0);
}
