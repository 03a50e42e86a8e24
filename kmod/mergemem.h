/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * /dev/mergemem user API, version 1.  Used verbatim by the module and by
 * libmergemem (tests check the copies are identical).
 *
 * Rules (Documentation/process/botching-up-ioctls.rst): only __u32/__u64
 * fields, explicit padding, pointers as __u64, a leading size that must
 * equal the struct's size for this version, reserved fields and padding
 * that must be zero, unknown flags rejected with -EINVAL.
 *
 * Permissions: the device node is 0600 root; open() needs CAP_SYS_PTRACE;
 * PAGEINFO reports frame numbers only to callers with CAP_SYS_ADMIN (as
 * /proc/PID/pagemap does), 0 otherwise.
 */
#ifndef _UAPI_LINUX_MERGEMEM_H
#define _UAPI_LINUX_MERGEMEM_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define MERGEMEM_API_VERSION 1
#define MERGEMEM_IOC_MAGIC 0xB7

/* Features (mergemem_api.features). */
#define MERGEMEM_FEATURE_ADVISE   (1ULL << 0)
#define MERGEMEM_FEATURE_PAGEINFO (1ULL << 1)

/* The handshake.  Its number never changes, whatever the version. */
struct mergemem_api {
	__u32 size;       /* in: sizeof(struct mergemem_api) */
	__u32 version;    /* out: MERGEMEM_API_VERSION */
	__u64 features;   /* out: MERGEMEM_FEATURE_* */
	__u64 ioctls;     /* out: bit n set = ioctl number n supported */
	__u64 reserved[4];/* in: zero */
};

/* ADVISE flags. */
#define MERGEMEM_ADVISE_UNMERGE (1U << 0) /* MADV_UNMERGEABLE instead of MADV_MERGEABLE */
#define MERGEMEM_ADVISE_RANGE   (1U << 1) /* only [start, start + len), else every VMA */
#define MERGEMEM_ADVISE_FLAGS   (MERGEMEM_ADVISE_UNMERGE | MERGEMEM_ADVISE_RANGE)

/* Why a VMA was skipped (index into skipped_by). */
#define MERGEMEM_SKIP_SHARED    0 /* VM_SHARED / VM_MAYSHARE */
#define MERGEMEM_SKIP_SPECIAL   1 /* VM_PFNMAP, VM_IO, VM_MIXEDMAP, VM_DONTEXPAND */
#define MERGEMEM_SKIP_HUGETLB   2
#define MERGEMEM_SKIP_OTHER     3 /* ksm_madvise left it unchanged (DAX, ...) */
#define MERGEMEM_SKIP_MAX       4

struct mergemem_advise {
	__u32 size;
	__u32 flags;           /* MERGEMEM_ADVISE_* */
	__u32 pid;             /* in the caller's pid namespace */
	__u32 pad;             /* zero */
	__u64 start;           /* with MERGEMEM_ADVISE_RANGE: page aligned */
	__u64 len;             /* with MERGEMEM_ADVISE_RANGE: page aligned, > 0 */
	__u64 vmas_changed;    /* out */
	__u64 vmas_skipped;    /* out */
	__u64 skipped_by[MERGEMEM_SKIP_MAX]; /* out, by MERGEMEM_SKIP_* */
	__u64 reserved[2];     /* zero */
};

/* PAGEINFO record flags. */
#define MERGEMEM_PAGE_PRESENT (1U << 0)
#define MERGEMEM_PAGE_ANON    (1U << 1)
#define MERGEMEM_PAGE_KSM     (1U << 2)
#define MERGEMEM_PAGE_ZERO    (1U << 3) /* the shared zero page */
#define MERGEMEM_PAGE_HUGE    (1U << 4) /* part of a huge page */

struct mergemem_page {
	__u64 addr;
	__u64 pfn;       /* 0 without CAP_SYS_ADMIN, or when not present */
	__u64 hash;      /* xxh64 of the page's contents, seed 0 (present pages) */
	__u32 mapcount;
	__u32 flags;     /* MERGEMEM_PAGE_* */
};

#define MERGEMEM_PAGEINFO_MAX 4096 /* pages per call */

struct mergemem_pageinfo {
	__u32 size;
	__u32 flags;     /* zero: none defined */
	__u32 pid;
	__u32 pad;
	__u64 start;     /* page aligned */
	__u64 count;     /* 1 .. MERGEMEM_PAGEINFO_MAX */
	__u64 records;   /* user pointer to count struct mergemem_page */
	__u64 filled;    /* out: records written (resident pages only, ascending) */
	__u64 reserved[2];
};

#define MERGEMEM_IOC_API      _IOWR(MERGEMEM_IOC_MAGIC, 0x00, struct mergemem_api)
#define MERGEMEM_IOC_ADVISE   _IOWR(MERGEMEM_IOC_MAGIC, 0x01, struct mergemem_advise)
#define MERGEMEM_IOC_PAGEINFO _IOWR(MERGEMEM_IOC_MAGIC, 0x02, struct mergemem_pageinfo)

#endif /* _UAPI_LINUX_MERGEMEM_H */
