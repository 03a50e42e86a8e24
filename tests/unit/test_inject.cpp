// Syscall injection into real children: results, restored state, restarts.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>

#include "mergemem/inject.hpp"

using namespace mergemem;

namespace {

pid_t spawn(void (*body)(int), int fd)
{
	pid_t pid = fork();
	if (pid == 0) {
		body(fd);
		_exit(0);
	}
	return pid;
}

void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, nullptr, 0);
}

Process open_or_die(pid_t pid)
{
	auto p = open_process(pid, {}, nullptr);
	EXPECT_TRUE(p) << p.error().message();
	return std::move(*p);
}

} // namespace

TEST(Inject, RunsSyscallsInTheTarget)
{
	pid_t child = spawn([](int) { for (;;) pause(); }, -1);
	usleep(50000);
	Process p = open_or_die(child);
	{
		auto s = InjectionSession::attach(p);
		ASSERT_TRUE(s) << s.error().message();
		auto pid = s->syscall(SYS_getpid, {});
		ASSERT_TRUE(pid);
		EXPECT_EQ(*pid, child);
		// A failing call returns its negative errno.
		auto bad = s->syscall(SYS_close, {999999, 0, 0, 0, 0, 0});
		ASSERT_TRUE(bad);
		EXPECT_EQ(*bad, -EBADF);
		auto get = s->syscall(SYS_prctl, {68 /* PR_GET_MEMORY_MERGE */, 0, 0, 0, 0, 0});
		ASSERT_TRUE(get);
		EXPECT_EQ(*get, 0);
	}
	// Detached: the child runs on and takes signals again.
	auto st = procfs::read_status({}, child);
	ASSERT_TRUE(st);
	EXPECT_EQ(st->tracer_pid, 0);
	kill(child, SIGTERM);
	int status = 0;
	waitpid(child, &status, 0);
	EXPECT_TRUE(WIFSIGNALED(status));
	EXPECT_EQ(WTERMSIG(status), SIGTERM);
}

TEST(Inject, InterruptedSleepRestartsWithItsRemainingTime)
{
	int fds[2];
	ASSERT_EQ(pipe(fds), 0);
	pid_t child = spawn(
	    [](int fd) {
		    timespec req{1, 0}, t0, t1;
		    clock_gettime(CLOCK_MONOTONIC, &t0);
		    int rc = nanosleep(&req, nullptr);
		    clock_gettime(CLOCK_MONOTONIC, &t1);
		    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
		    long out[2] = {rc, ms};
		    (void)!write(fd, out, sizeof out);
	    },
	    fds[1]);
	usleep(300000);
	Process p = open_or_die(child);
	for (int i = 0; i < 5; ++i) {
		auto s = InjectionSession::attach(p);
		ASSERT_TRUE(s) << s.error().message();
		ASSERT_TRUE(s->syscall(SYS_getppid, {}));
		usleep(20000);
	}
	long out[2] = {-2, 0};
	ASSERT_EQ(read(fds[0], out, sizeof out), ssize_t(sizeof out));
	EXPECT_EQ(out[0], 0);     // not EINTR
	EXPECT_GE(out[1], 995);   // not cut short
	EXPECT_LT(out[1], 1250);  // not restarted from the beginning
	waitpid(child, nullptr, 0);
	close(fds[0]);
	close(fds[1]);
}

TEST(Inject, RefusesTracedTargets)
{
	pid_t child = spawn([](int) { for (;;) pause(); }, -1);
	usleep(50000);
	Process p = open_or_die(child);
	auto first = InjectionSession::attach(p);
	ASSERT_TRUE(first);
	// A second tracer (a debugger, another memmerge) is refused by name.
	auto second = InjectionSession::attach(p);
	ASSERT_FALSE(second);
	EXPECT_EQ(second.error().code, EBUSY);
	EXPECT_NE(second.error().context.find("already traced"), std::string::npos);
	ASSERT_TRUE(first->detach());
	ASSERT_TRUE(first->detach()); // twice is harmless
	reap(child);
}

TEST(Inject, GoneTarget)
{
	pid_t child = spawn([](int) { for (;;) pause(); }, -1);
	usleep(50000);
	Process p = open_or_die(child);
	reap(child);
	auto s = InjectionSession::attach(p);
	ASSERT_FALSE(s);
	EXPECT_EQ(s.error().code, ESRCH);
}
