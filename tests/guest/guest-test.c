// SPDX-License-Identifier: GPL-2.0-or-later
// Runs inside the QEMU guest as root, against the loaded mergemem.ko:
// one test per ioctl validation error, ADVISE and PAGEINFO on a real child,
// the non-root refusal, and an ioctl fuzzer.  Prints "GUEST PASS n" or
// "GUEST FAIL ..." lines; the host reads them from the serial log.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../kmod/mergemem.h"

static int fails, passes;

#define CHECK(cond, ...)                                                                                       \
	do {                                                                                                   \
		if (cond) {                                                                                    \
			passes++;                                                                              \
		} else {                                                                                       \
			fails++;                                                                               \
			printf("GUEST FAIL %s:%d: ", __FILE__, __LINE__);                                      \
			printf(__VA_ARGS__);                                                                   \
			printf(" (errno %d %s)\n", errno, strerror(errno));                                    \
		}                                                                                              \
	} while (0)

static int expect_errno(int fd, unsigned long cmd, void *arg, int want)
{
	errno = 0;
	int r = ioctl(fd, cmd, arg);
	return r == -1 && errno == want;
}

static pid_t child_with_pages(char **region)
{
	/* 64 pages of one content, then an untouched hole of 16 pages. */
	char *p = mmap(NULL, 80 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (int i = 0; i < 64; i++)
		memset(p + i * 4096, 0x5a, 4096);
	*region = p;
	pid_t c = fork();
	if (c == 0) {
		for (;;)
			pause();
	}
	return c;
}

int main(int argc, char **argv)
{
	int fd = open("/dev/mergemem", O_RDWR);
	CHECK(fd >= 0, "open /dev/mergemem");
	if (fd < 0)
		return 1;

	/* Handshake. */
	struct mergemem_api api = {.size = sizeof api};
	CHECK(ioctl(fd, MERGEMEM_IOC_API, &api) == 0, "API");
	CHECK(api.version == MERGEMEM_API_VERSION, "version %u", api.version);
	CHECK(api.features == (MERGEMEM_FEATURE_ADVISE | MERGEMEM_FEATURE_PAGEINFO), "features");
	CHECK(api.ioctls == 7, "ioctl mask %llx", (unsigned long long)api.ioctls);
	if (argc > 1 && !strcmp(argv[1], "--handshake")) {
		printf("GUEST %s %d\n", fails ? "FAIL" : "PASS", passes);
		return fails != 0;
	}

	/* One test per validation error. */
	struct mergemem_api a2 = {.size = sizeof a2 - 8};
	CHECK(expect_errno(fd, MERGEMEM_IOC_API, &a2, EINVAL), "API: short size");
	struct mergemem_api a3 = {.size = sizeof a3, .reserved = {0, 1}};
	CHECK(expect_errno(fd, MERGEMEM_IOC_API, &a3, EINVAL), "API: reserved");
	CHECK(expect_errno(fd, MERGEMEM_IOC_API, (void *)8, EFAULT), "API: bad pointer");
	CHECK(expect_errno(fd, _IOWR(MERGEMEM_IOC_MAGIC, 0x3f, struct mergemem_api), &api, ENOTTY), "unknown ioctl");

	char *region;
	pid_t child = child_with_pages(&region);
	struct mergemem_advise ad;
#define ADV(...) (ad = (struct mergemem_advise){.size = sizeof ad, .pid = (uint32_t)child, __VA_ARGS__}, &ad)
	CHECK(expect_errno(fd, MERGEMEM_IOC_ADVISE, ADV(.size = 8), EINVAL), "ADVISE: size");
	CHECK(expect_errno(fd, MERGEMEM_IOC_ADVISE, ADV(.flags = 1u << 7), EINVAL), "ADVISE: unknown flag");
	CHECK(expect_errno(fd, MERGEMEM_IOC_ADVISE, ADV(.pad = 1), EINVAL), "ADVISE: padding");
	CHECK(expect_errno(fd, MERGEMEM_IOC_ADVISE, ADV(.reserved = {1}), EINVAL), "ADVISE: reserved");
	CHECK(expect_errno(fd, MERGEMEM_IOC_ADVISE, ADV(.vmas_changed = 1), EINVAL), "ADVISE: output set");
	CHECK(expect_errno(fd, MERGEMEM_IOC_ADVISE, ADV(.start = 4096), EINVAL), "ADVISE: range without flag");
	CHECK(expect_errno(fd, MERGEMEM_IOC_ADVISE, ADV(.flags = MERGEMEM_ADVISE_RANGE, .start = 1, .len = 4096), EINVAL),
	      "ADVISE: unaligned");
	CHECK(expect_errno(fd, MERGEMEM_IOC_ADVISE, ADV(.flags = MERGEMEM_ADVISE_RANGE, .start = 4096, .len = 0), EINVAL),
	      "ADVISE: empty range");
	CHECK(expect_errno(fd, MERGEMEM_IOC_ADVISE,
	                   ADV(.flags = MERGEMEM_ADVISE_RANGE, .start = 0xfffffffffffff000ull, .len = 0x2000), EINVAL),
	      "ADVISE: overflow");
	CHECK(expect_errno(fd, MERGEMEM_IOC_ADVISE, ADV(.pid = 0), EINVAL), "ADVISE: pid 0");
	CHECK(expect_errno(fd, MERGEMEM_IOC_ADVISE, ADV(.pid = 4194000), ESRCH), "ADVISE: no such pid");
	CHECK(expect_errno(fd, MERGEMEM_IOC_ADVISE, ADV(.pid = 2), EINVAL), "ADVISE: kernel thread");

	/* ADVISE for real. */
	CHECK(ioctl(fd, MERGEMEM_IOC_ADVISE, ADV()) == 0, "ADVISE");
	CHECK(ad.vmas_changed >= 1, "vmas_changed %llu", (unsigned long long)ad.vmas_changed);
	char path[64], line[512];
	snprintf(path, sizeof path, "/proc/%d/smaps", child);
	FILE *f = fopen(path, "r");
	int in_region = 0, mergeable = 0;
	while (f && fgets(line, sizeof line, f)) {
		unsigned long s, e;
		if (sscanf(line, "%lx-%lx ", &s, &e) == 2)
			in_region = s == (unsigned long)region;
		else if (in_region && !strncmp(line, "VmFlags:", 8))
			mergeable = strstr(line, " mg") != NULL;
	}
	if (f)
		fclose(f);
	CHECK(mergeable, "the child's region is VM_MERGEABLE");
	CHECK(ioctl(fd, MERGEMEM_IOC_ADVISE, ADV(.flags = MERGEMEM_ADVISE_UNMERGE)) == 0, "ADVISE unmerge");

	/* PAGEINFO. */
	struct mergemem_page recs[MERGEMEM_PAGEINFO_MAX];
	struct mergemem_pageinfo pi;
#define PI(...) (pi = (struct mergemem_pageinfo){.size = sizeof pi, .pid = (uint32_t)child, .start = (uintptr_t)region, \
	                                         .count = 80, .records = (uintptr_t)recs, __VA_ARGS__}, &pi)
	CHECK(expect_errno(fd, MERGEMEM_IOC_PAGEINFO, PI(.size = 4), EINVAL), "PAGEINFO: size");
	CHECK(expect_errno(fd, MERGEMEM_IOC_PAGEINFO, PI(.flags = 1), EINVAL), "PAGEINFO: flags");
	CHECK(expect_errno(fd, MERGEMEM_IOC_PAGEINFO, PI(.pad = 1), EINVAL), "PAGEINFO: padding");
	CHECK(expect_errno(fd, MERGEMEM_IOC_PAGEINFO, PI(.reserved = {0, 1}), EINVAL), "PAGEINFO: reserved");
	CHECK(expect_errno(fd, MERGEMEM_IOC_PAGEINFO, PI(.count = 0), EINVAL), "PAGEINFO: count 0");
	CHECK(expect_errno(fd, MERGEMEM_IOC_PAGEINFO, PI(.count = MERGEMEM_PAGEINFO_MAX + 1), EINVAL), "PAGEINFO: count cap");
	CHECK(expect_errno(fd, MERGEMEM_IOC_PAGEINFO, PI(.start = 12), EINVAL), "PAGEINFO: unaligned");
	CHECK(expect_errno(fd, MERGEMEM_IOC_PAGEINFO, PI(.start = 0xfffffffffffff000ull), EINVAL), "PAGEINFO: overflow");
	CHECK(expect_errno(fd, MERGEMEM_IOC_PAGEINFO, PI(.records = 0), EINVAL), "PAGEINFO: no buffer");
	CHECK(expect_errno(fd, MERGEMEM_IOC_PAGEINFO, PI(.records = 0xffff800000000000ull), EFAULT), "PAGEINFO: kernel buffer");
	CHECK(expect_errno(fd, MERGEMEM_IOC_PAGEINFO, PI(.filled = 3), EINVAL), "PAGEINFO: output set");
	CHECK(expect_errno(fd, MERGEMEM_IOC_PAGEINFO, PI(.pid = 2), EINVAL), "PAGEINFO: kernel thread");
	CHECK(ioctl(fd, MERGEMEM_IOC_PAGEINFO, PI()) == 0, "PAGEINFO");
	CHECK(pi.filled == 64, "filled %llu, want 64 (the hole is not populated)", (unsigned long long)pi.filled);
	int same = 1, anon = 1;
	for (unsigned i = 0; i < pi.filled; i++) {
		same &= recs[i].hash == recs[0].hash;
		anon &= (recs[i].flags & (MERGEMEM_PAGE_PRESENT | MERGEMEM_PAGE_ANON)) ==
		        (MERGEMEM_PAGE_PRESENT | MERGEMEM_PAGE_ANON);
	}
	CHECK(same && anon, "64 anonymous pages of one content");
	CHECK(recs[0].pfn != 0 && recs[0].mapcount == 2, "pfn %llu mapcount %u (shared with the parent since fork)",
	      (unsigned long long)recs[0].pfn, recs[0].mapcount);
	CHECK(ioctl(fd, MERGEMEM_IOC_PAGEINFO, PI()) == 0 && pi.filled == 64, "PAGEINFO again: still 64 (no fault-in)");

	/* The fuzzer: random sizes, flags, pointers, pids and ranges. */
	srand(12345);
	unsigned long cmds[] = {MERGEMEM_IOC_API, MERGEMEM_IOC_ADVISE, MERGEMEM_IOC_PAGEINFO, 0xB703, 0};
	long calls = argc > 1 ? atol(argv[1]) : 100000;
	unsigned char buf[256];
	for (long n = 0; n < calls; n++) {
		for (size_t k = 0; k < sizeof buf; k++)
			buf[k] = (unsigned char)rand();
		uint32_t *w = (uint32_t *)buf;
		uint64_t *q = (uint64_t *)buf;
		switch (rand() % 4) {
		case 0: w[0] = sizeof(struct mergemem_advise); break;
		case 1: w[0] = sizeof(struct mergemem_pageinfo); w[1] = 0; w[3] = 0; break;
		default: break;
		}
		if (rand() % 2)
			w[2] = rand() % 3 ? (uint32_t)child : (uint32_t)(rand() % 300);
		if (rand() % 3 == 0) {
			q[2] = (uintptr_t)region + (uint64_t)(rand() % 100) * 4096;
			q[3] = (uint64_t)(rand() % 200);
			q[4] = rand() % 2 ? (uintptr_t)recs : (uint64_t)rand() << 32;
			q[5] = 0, q[6] = 0, q[7] = 0;
		}
		void *arg = rand() % 50 ? (void *)buf : (void *)(uintptr_t)(rand() % 2 ? 0 : 0xdead000);
		unsigned long cmd = cmds[rand() % 5];
		if (cmd == 0)
			cmd = _IOWR(MERGEMEM_IOC_MAGIC, rand() % 8, struct mergemem_advise);
		(void)ioctl(fd, cmd, arg);
	}
	printf("GUEST fuzz %ld calls\n", calls);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);

	/* Non-root: the node is 0600 root, and the module wants CAP_SYS_PTRACE. */
	pid_t c = fork();
	if (c == 0) {
		if (setgid(65534) || setuid(65534))
			_exit(2);
		int f2 = open("/dev/mergemem", O_RDWR);
		_exit(f2 < 0 && (errno == EACCES || errno == EPERM) ? 0 : 1);
	}
	int st;
	waitpid(c, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "non-root caller refused");
	c = fork();
	if (c == 0) {
		/* Root without CAP_SYS_PTRACE, through a world-writable node copy. */
		chmod("/dev/mergemem", 0666);
		if (setgid(65534) || setuid(65534))
			_exit(2);
		int f2 = open("/dev/mergemem", O_RDWR);
		_exit(f2 < 0 && errno == EPERM ? 0 : 1);
	}
	waitpid(c, &st, 0);
	chmod("/dev/mergemem", 0600);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "caller without CAP_SYS_PTRACE refused by the module");

	printf("GUEST %s %d\n", fails ? "FAIL" : "PASS", passes);
	return fails != 0;
}
