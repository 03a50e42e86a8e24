/* SPDX-License-Identifier: GPL-2.0 */
/* Every difference between the kernels the module builds for (6.1, 6.12). */
#ifndef MERGEMEM_COMPAT_H
#define MERGEMEM_COMPAT_H

#include <linux/mm.h>
#include <linux/version.h>

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
/* 6.3+: vm_flags is read-only outside the setters, under the VMA lock. */
static inline void mm_compat_set_vm_flags(struct vm_area_struct *vma, unsigned long flags)
{
	vma_start_write(vma);
	vm_flags_reset(vma, flags);
}
#else
static inline void mm_compat_set_vm_flags(struct vm_area_struct *vma, unsigned long flags)
{
	vma->vm_flags = flags;
}
#endif

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
#define mm_compat_gup_remote(mm, addr, flags, page, locked) \
	get_user_pages_remote(mm, addr, 1, flags, page, locked)
#else
#define mm_compat_gup_remote(mm, addr, flags, page, locked) \
	get_user_pages_remote(mm, addr, 1, flags, page, NULL, locked)
#endif

static inline int mm_compat_mapcount(struct page *page)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 0)
	return folio_mapcount(page_folio(page));
#else
	return page_mapcount(page);
#endif
}

#endif
