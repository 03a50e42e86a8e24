// SPDX-License-Identifier: GPL-2.0
/*
 * mergemem.ko: /dev/mergemem lets a privileged caller make another process's
 * private anonymous memory KSM-mergeable without stopping it (ADVISE), and
 * read per-page facts of a range without copying page contents (PAGEINFO).
 * The uapi is mergemem.h; kernel-version differences live in compat.h.
 */
#include <linux/capability.h>
#include <linux/highmem.h>
#include <linux/ksm.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/module.h>
#include <linux/pid.h>
#include <linux/sched/mm.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/xxhash.h>

#include "compat.h"
#include "mergemem.h"

static bool all_zero(const __u64 *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i])
			return false;
	return true;
}

/* The target's mm, found in the caller's pid namespace.  Kernel threads
 * and exiting tasks have none to offer. */
static struct mm_struct *target_mm(__u32 nr)
{
	struct pid *pid;
	struct task_struct *task;
	struct mm_struct *mm = NULL;

	if (nr == 0 || nr > PID_MAX_LIMIT)
		return ERR_PTR(-EINVAL);
	pid = find_get_pid(nr);
	if (!pid)
		return ERR_PTR(-ESRCH);
	task = get_pid_task(pid, PIDTYPE_PID);
	put_pid(pid);
	if (!task)
		return ERR_PTR(-ESRCH);
	if (task->flags & (PF_KTHREAD | PF_EXITING)) {
		put_task_struct(task);
		return ERR_PTR(task->flags & PF_KTHREAD ? -EINVAL : -ESRCH);
	}
	mm = get_task_mm(task);
	put_task_struct(task);
	return mm ? mm : ERR_PTR(-ESRCH);
}

static long do_api(void __user *arg)
{
	struct mergemem_api a;

	if (copy_from_user(&a, arg, sizeof(a)))
		return -EFAULT;
	if (a.size != sizeof(a) || !all_zero(a.reserved, ARRAY_SIZE(a.reserved)))
		return -EINVAL;
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.version = MERGEMEM_API_VERSION;
	a.features = MERGEMEM_FEATURE_ADVISE | MERGEMEM_FEATURE_PAGEINFO;
	a.ioctls = (1ULL << _IOC_NR(MERGEMEM_IOC_API)) | (1ULL << _IOC_NR(MERGEMEM_IOC_ADVISE)) |
		   (1ULL << _IOC_NR(MERGEMEM_IOC_PAGEINFO));
	return copy_to_user(arg, &a, sizeof(a)) ? -EFAULT : 0;
}

static int skip_reason(struct vm_area_struct *vma)
{
	if (vma->vm_flags & (VM_SHARED | VM_MAYSHARE))
		return MERGEMEM_SKIP_SHARED;
	if (vma->vm_flags & VM_HUGETLB)
		return MERGEMEM_SKIP_HUGETLB;
	if (vma->vm_flags & (VM_PFNMAP | VM_IO | VM_MIXEDMAP | VM_DONTEXPAND))
		return MERGEMEM_SKIP_SPECIAL;
	return MERGEMEM_SKIP_OTHER;
}

static long do_advise(void __user *arg)
{
	struct mergemem_advise in, out;
	struct mm_struct *mm;
	struct vm_area_struct *vma;
	unsigned long start = 0, end = TASK_SIZE;
	int advice, err = 0;

	if (copy_from_user(&in, arg, sizeof(in)))
		return -EFAULT;
	if (in.size != sizeof(in) || in.flags & ~MERGEMEM_ADVISE_FLAGS || in.pad ||
	    !all_zero(in.reserved, ARRAY_SIZE(in.reserved)) || in.vmas_changed || in.vmas_skipped ||
	    !all_zero(in.skipped_by, ARRAY_SIZE(in.skipped_by)))
		return -EINVAL;
	if (in.flags & MERGEMEM_ADVISE_RANGE) {
		if (!in.len || !PAGE_ALIGNED(in.start) || !PAGE_ALIGNED(in.len) || in.start + in.len < in.start ||
		    in.start + in.len > TASK_SIZE)
			return -EINVAL;
		start = in.start;
		end = in.start + in.len;
	} else if (in.start || in.len) {
		return -EINVAL;
	}
	advice = in.flags & MERGEMEM_ADVISE_UNMERGE ? MADV_UNMERGEABLE : MADV_MERGEABLE;

	mm = target_mm(in.pid);
	if (IS_ERR(mm))
		return PTR_ERR(mm);
	memset(&out, 0, sizeof(out));
	out.size = sizeof(out);
	out.flags = in.flags;
	out.pid = in.pid;
	out.start = in.start;
	out.len = in.len;

	if (mmap_write_lock_killable(mm)) {
		mmput(mm);
		return -EINTR;
	}
	{
		VMA_ITERATOR(vmi, mm, start);

		for_each_vma_range(vmi, vma, end) {
			unsigned long flags = vma->vm_flags;
			unsigned long s = max(start, vma->vm_start), e = min(end, vma->vm_end);

			if (s > vma->vm_start || e < vma->vm_end) {
				/* Partial VMAs would need a split; advise whole VMAs only. */
				out.vmas_skipped++;
				out.skipped_by[MERGEMEM_SKIP_OTHER]++;
				continue;
			}
			err = ksm_madvise(vma, vma->vm_start, vma->vm_end, advice, &flags);
			if (err)
				break;
			if (flags == vma->vm_flags) {
				out.vmas_skipped++;
				out.skipped_by[skip_reason(vma)]++;
				continue;
			}
			mm_compat_set_vm_flags(vma, flags);
			out.vmas_changed++;
		}
	}
	mmap_write_unlock(mm);
	mmput(mm);
	if (err)
		return err;
	return copy_to_user(arg, &out, sizeof(out)) ? -EFAULT : 0;
}

static long do_pageinfo(void __user *arg)
{
	struct mergemem_pageinfo in;
	struct mergemem_page rec;
	struct mergemem_page __user *dst;
	struct mm_struct *mm;
	bool show_pfn = capable(CAP_SYS_ADMIN);
	__u64 i, filled = 0;
	long ret = 0;
	int locked = 1;

	if (copy_from_user(&in, arg, sizeof(in)))
		return -EFAULT;
	if (in.size != sizeof(in) || in.flags || in.pad || in.filled || !all_zero(in.reserved, ARRAY_SIZE(in.reserved)))
		return -EINVAL;
	if (!in.count || in.count > MERGEMEM_PAGEINFO_MAX || !PAGE_ALIGNED(in.start) ||
	    in.start + in.count * PAGE_SIZE < in.start || in.start + in.count * PAGE_SIZE > TASK_SIZE || !in.records)
		return -EINVAL;
	dst = u64_to_user_ptr(in.records);
	if (!access_ok(dst, in.count * sizeof(*dst)))
		return -EFAULT;
	mm = target_mm(in.pid);
	if (IS_ERR(mm))
		return PTR_ERR(mm);
	if (mmap_read_lock_killable(mm)) {
		mmput(mm);
		return -EINTR;
	}
	for (i = 0; i < in.count; i++) {
		unsigned long addr = in.start + i * PAGE_SIZE;
		struct page *page = NULL;
		void *kaddr;
		long n;

		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		/* FOLL_NOFAULT: resident pages only; a hole is never populated.  (FOLL_REMOTE
		 * is added by get_user_pages_remote itself, and is internal since 6.2.) */
		n = mm_compat_gup_remote(mm, addr, FOLL_NOFAULT | FOLL_FORCE, &page, &locked);
		if (!locked) {
			/* GUP dropped the lock (it may, even without faulting): retake it. */
			if (mmap_read_lock_killable(mm)) {
				ret = -EINTR;
				locked = 0;
				break;
			}
			locked = 1;
		}
		if (n != 1 || !page)
			continue;
		memset(&rec, 0, sizeof(rec));
		rec.addr = addr;
		rec.flags = MERGEMEM_PAGE_PRESENT;
		if (PageAnon(page))
			rec.flags |= MERGEMEM_PAGE_ANON;
		if (PageKsm(page))
			rec.flags |= MERGEMEM_PAGE_KSM;
		if (is_zero_pfn(page_to_pfn(page)))
			rec.flags |= MERGEMEM_PAGE_ZERO;
		if (PageCompound(page))
			rec.flags |= MERGEMEM_PAGE_HUGE;
		rec.mapcount = mm_compat_mapcount(page);
		if (show_pfn)
			rec.pfn = page_to_pfn(page);
		kaddr = kmap_local_page(page);
		rec.hash = xxh64(kaddr, PAGE_SIZE, 0);
		kunmap_local(kaddr);
		put_page(page);
		if (copy_to_user(dst + filled, &rec, sizeof(rec))) {
			ret = -EFAULT;
			break;
		}
		filled++;
	}
	if (locked)
		mmap_read_unlock(mm);
	mmput(mm);
	if (ret)
		return ret;
	in.filled = filled;
	return copy_to_user(arg, &in, sizeof(in)) ? -EFAULT : 0;
}

static long mergemem_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	void __user *p = (void __user *)arg;

	switch (cmd) {
	case MERGEMEM_IOC_API:
		return do_api(p);
	case MERGEMEM_IOC_ADVISE:
		return do_advise(p);
	case MERGEMEM_IOC_PAGEINFO:
		return do_pageinfo(p);
	}
	return -ENOTTY;
}

static int mergemem_open(struct inode *inode, struct file *f)
{
	/* The node is 0600 root; the capability is checked too, as ptrace would. */
	if (!capable(CAP_SYS_PTRACE))
		return -EPERM;
	return 0;
}

static const struct file_operations mergemem_fops = {
	.owner = THIS_MODULE,
	.open = mergemem_open,
	.unlocked_ioctl = mergemem_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice mergemem_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "mergemem",
	.fops = &mergemem_fops,
	.mode = 0600,
};

module_misc_device(mergemem_dev);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("mergemem: KSM opt-in and page facts for other processes");
MODULE_VERSION("0.1.0");
