/* vmm/snapshot_mem.c — guest RAM in a snapshot: DIR/memory is a sparse file of exactly the
 * RAM's size (the low region then the high one, as vm->ram lays them out) followed by one
 * 4 KiB trailer page that ties it to its state file. Saving skips what was never written
 * (SEEK_DATA on the memfd) and 64 KiB blocks that are all zero; restoring maps the file
 * MAP_PRIVATE over the RAM, so nothing is read until the guest touches it. */
#include "vmm/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "vmm/vm_priv.h"

#define SNAP_MEM_MAGIC	 "KVMMMEM1"
#define SNAP_MEM_BLOCK	 (64u << 10)
#define SNAP_MEM_TRAILER 4096

struct snap_mem_trailer {
	char magic[8];
	uint64_t ram_len;
	uint8_t id[16];
	uint32_t crc, pad;
};

static uint32_t snap_mem_trailer_crc(const struct snap_mem_trailer *t)
{
	struct snap_mem_trailer c = *t;

	c.crc = 0;
	return (uint32_t)crc32(crc32(0L, Z_NULL, 0), (const Bytef *)&c, sizeof(c));
}

static bool is_zero(const uint8_t *p, size_t n)
{
	return !p[0] && !memcmp(p, p + 1, n - 1);
}

/* Write [off, end) of RAM, skipping zero blocks. */
static int snap_mem_write_range(int fd, const uint8_t *ram, uint64_t off, uint64_t end)
{
	while (off < end) {
		size_t n = (size_t)KVMM_MIN((uint64_t)SNAP_MEM_BLOCK, end - off);
		ssize_t w;

		if (is_zero(ram + off, n)) {
			off += n;
			continue;
		}
		w = pwrite(fd, ram + off, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		off += (uint64_t)w;
	}
	return 0;
}

/* The extents of RAM that may hold data: with a memfd, only what SEEK_DATA finds. */
static int snap_mem_write_all(struct vm *vm, int fd)
{
	uint64_t off = 0;

	if (vm->ram_fd < 0)
		return snap_mem_write_range(fd, vm->ram, 0, vm->ram_len);
	while (off < vm->ram_len) {
		off_t d = lseek(vm->ram_fd, (off_t)off, SEEK_DATA), h;
		int e;

		if (d < 0)
			return errno == ENXIO ? 0 : -errno;
		h = lseek(vm->ram_fd, d, SEEK_HOLE);
		if (h < 0)
			return -errno;
		e = snap_mem_write_range(fd, vm->ram, (uint64_t)d,
					 KVMM_MIN((uint64_t)h, vm->ram_len));
		if (e)
			return e;
		off = (uint64_t)h;
	}
	return 0;
}

int snap_mem_save(struct vm *vm, int dirfd, const char *name, const uint8_t id[16])
{
	struct snap_mem_trailer t = {.ram_len = vm->ram_len};
	uint8_t page[SNAP_MEM_TRAILER] = {0};
	char tmp[64];
	int fd, e;

	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	e = ftruncate(fd, (off_t)(vm->ram_len + SNAP_MEM_TRAILER)) ? -errno : 0;
	if (!e)
		e = snap_mem_write_all(vm, fd);
	memcpy(t.magic, SNAP_MEM_MAGIC, sizeof(t.magic));
	memcpy(t.id, id, sizeof(t.id));
	t.crc = snap_mem_trailer_crc(&t);
	memcpy(page, &t, sizeof(t));
	if (!e && pwrite(fd, page, sizeof(page), (off_t)vm->ram_len) != (ssize_t)sizeof(page))
		e = -EIO;
	if (!e && fdatasync(fd))
		e = -errno;
	if (close(fd) && !e)
		e = -errno;
	if (!e && renameat(dirfd, tmp, dirfd, name))
		e = -errno;
	if (e)
		unlinkat(dirfd, tmp, 0);
	return e;
}

int snap_mem_map(struct vm *vm, int dirfd, const char *name, const uint8_t id[16], char *err,
		 size_t errlen)
{
	struct snap_mem_trailer t;
	struct stat st;
	void *p;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC), e = 0;

	if (fd < 0) {
		e = -errno;
		snprintf(err, errlen, "cannot open the memory file: %s", strerror(-e));
		return e;
	}
	if (fstat(fd, &st) || (uint64_t)st.st_size != vm->ram_len + SNAP_MEM_TRAILER ||
	    pread(fd, &t, sizeof(t), (off_t)vm->ram_len) != (ssize_t)sizeof(t) ||
	    memcmp(t.magic, SNAP_MEM_MAGIC, sizeof(t.magic)) || t.crc != snap_mem_trailer_crc(&t) ||
	    t.ram_len != vm->ram_len) {
		snprintf(err, errlen, "the memory file is truncated or corrupt");
		e = -EINVAL;
	} else if (memcmp(t.id, id, sizeof(t.id))) {
		snprintf(err, errlen, "the memory file belongs to a different snapshot");
		e = -EINVAL;
	}
	if (!e) {
		/* Replace the RAM in place: gmem and the KVM slots keep their addresses. */
		p = mmap(vm->ram, vm->ram_len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fd, 0);
		if (p == MAP_FAILED) {
			e = -errno;
			snprintf(err, errlen, "cannot map the memory file: %s", strerror(-e));
		}
	}
	close(fd);
	if (!e && vm->ram_fd >= 0) {
		close(vm->ram_fd);
		vm->ram_fd = -1;
	}
	return e;
}
