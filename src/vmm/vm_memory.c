/* vmm/vm_memory.c — guest RAM: one shared mapping of a memfd split around the 32-bit MMIO hole, the
 * gmem view of it and the e820 map (before KVM is opened), then its KVM memory slots. On a
 * restore no memfd: an anonymous reservation that snap_mem_map() replaces with the memory file. */
#include "vmm/vm_priv.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "kvm/kvm.h"
#include "mem/gmem.h"

int vm_memory_create(struct vm *vm, char *err, size_t errlen)
{
	struct gmem_region r[2];
	unsigned n = 0;
	int e;

	vm->ram_len = vm->cfg->mem_bytes;
	vm->lo_len = KVMM_MIN(vm->ram_len, LAYOUT_MMIO_HOLE);
	vm->hi_len = vm->ram_len - vm->lo_len;
	if (vm->cfg->restore) {
		/* The memory file is mapped over this before KVM sees it (snap_mem_map) and
		 * nothing writes RAM until then: an address-space reservation is enough. */
		vm->ram = mmap(NULL, vm->ram_len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		goto mapped;
	}
	/* A memfd, so that snapshots (SEEK_DATA finds what was written), migration and
	 * vhost-user can share the RAM. */
	vm->ram_fd = memfd_create("kvmm-ram", MFD_CLOEXEC);
	if (vm->ram_fd < 0 || ftruncate(vm->ram_fd, (off_t)vm->ram_len)) {
		e = -errno;
		snprintf(err, errlen, "cannot allocate %llu MiB of guest memory (memfd): %s",
			 (unsigned long long)(vm->ram_len >> 20), strerror(-e));
		return e;
	}
	vm->ram = mmap(NULL, vm->ram_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
		       vm->ram_fd, 0);
mapped:
	if (vm->ram == MAP_FAILED) {
		e = -errno;
		vm->ram = NULL;
		snprintf(err, errlen, "cannot allocate %llu MiB of guest memory: %s",
			 (unsigned long long)(vm->ram_len >> 20), strerror(-e));
		return e;
	}
	madvise(vm->ram, vm->ram_len, MADV_DONTDUMP);
	r[n++] = (struct gmem_region){0, vm->lo_len, vm->ram, 0};
	if (vm->hi_len)
		r[n++] = (struct gmem_region){LAYOUT_HIGHMEM, vm->hi_len, vm->ram + vm->lo_len, 0};
	e = gmem_create(&vm->mem, r, n);
	if (e) {
		snprintf(err, errlen, "guest memory layout rejected");
		return e;
	}
	e = e820_build(&vm->e820, vm->mem);
	if (e)
		snprintf(err, errlen, "cannot build the e820 memory map");
	return e;
}

int vm_memory_register(struct vm *vm, char *err, size_t errlen)
{
	for (unsigned i = 0; i < gmem_region_count(vm->mem); i++) {
		const struct gmem_region *r = gmem_region_at(vm->mem, i);
		int e = kvm_set_user_memory(vm->kvm, i, r->gpa, r->len, r->hva, 0);

		if (e) {
			snprintf(err, errlen, "KVM_SET_USER_MEMORY_REGION failed: %s",
				 strerror(-e));
			return e;
		}
	}
	return 0;
}

void vm_memory_destroy(struct vm *vm)
{
	gmem_destroy(vm->mem);
	vm->mem = NULL;
	if (vm->ram)
		munmap(vm->ram, vm->ram_len);
	vm->ram = NULL;
	if (vm->ram_fd >= 0)
		close(vm->ram_fd);
	vm->ram_fd = -1;
}
