/* Unit tests for vmm/snapshot_mem: the sparse memory file (SEEK_DATA on the memfd, zero blocks
 * skipped), its trailer (size, snapshot id, checksum) and the lazy MAP_PRIVATE restore over
 * the RAM mapping. No KVM: a struct vm with only its RAM fields set. */
#include "lib/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/snapshot.h"
#include "vmm/vm_priv.h"

#define RAM (8u << 20)

static const uint8_t id1[16] = {1, 2, 3}, id2[16] = {9};

static void ram_init(struct vm *vm)
{
	memset(vm, 0, sizeof(*vm));
	vm->ram_len = RAM;
	vm->ram_fd = memfd_create("test-ram", MFD_CLOEXEC);
	assert_true(vm->ram_fd >= 0);
	assert_int_equal(ftruncate(vm->ram_fd, RAM), 0);
	vm->ram = mmap(NULL, RAM, PROT_READ | PROT_WRITE, MAP_SHARED, vm->ram_fd, 0);
	assert_true(vm->ram != MAP_FAILED);
}

static void ram_fini(struct vm *vm)
{
	munmap(vm->ram, vm->ram_len);
	if (vm->ram_fd >= 0)
		close(vm->ram_fd);
}

static int tmpdir(char *buf)
{
	strcpy(buf, "/tmp/kvmm-snapmem.XXXXXX");
	assert_non_null(mkdtemp(buf));
	return open(buf, O_RDONLY | O_DIRECTORY);
}

static void cleanup(int dirfd, const char *dir)
{
	unlinkat(dirfd, "memory", 0);
	close(dirfd);
	rmdir(dir);
}

static void test_round_trip_sparse(void **state)
{
	struct vm a, b;
	char dir[64], err[128];
	int dirfd = tmpdir(dir);
	struct stat st;

	ram_init(&a);
	memset(a.ram + 4096, 0x11, 4096);	 /* one written page */
	a.ram[RAM - 1] = 0x22;			 /* the last byte */
	memset(a.ram + (2u << 20), 0, 1u << 20); /* written, but zeros */
	assert_int_equal(snap_mem_save(&a, dirfd, "memory", id1), 0);
	assert_int_equal(fstatat(dirfd, "memory", &st, 0), 0);
	assert_int_equal(st.st_size, RAM + 4096);
	assert_true(st.st_blocks * 512 < 1u << 20); /* sparse: a few blocks, not 8 MiB */

	ram_init(&b);
	b.ram[4096] = 0x77; /* overwritten by the restore */
	assert_int_equal(snap_mem_map(&b, dirfd, "memory", id1, err, sizeof(err)), 0);
	assert_int_equal(b.ram_fd, -1); /* the memfd is gone: RAM is the file now */
	assert_int_equal(b.ram[4096], 0x11);
	assert_int_equal(b.ram[8191], 0x11);
	assert_int_equal(b.ram[8192], 0);
	assert_int_equal(b.ram[RAM - 1], 0x22);
	b.ram[0] = 0x33; /* private: the file is not changed */
	ram_fini(&b);
	ram_init(&b);
	assert_int_equal(snap_mem_map(&b, dirfd, "memory", id1, err, sizeof(err)), 0);
	assert_int_equal(b.ram[0], 0);
	ram_fini(&b);
	ram_fini(&a);
	cleanup(dirfd, dir);
}

static void test_refused(void **state)
{
	struct vm a, b;
	char dir[64], err[128];
	int dirfd = tmpdir(dir), fd;

	ram_init(&a);
	a.ram[0] = 1;
	assert_int_equal(snap_mem_save(&a, dirfd, "memory", id1), 0);
	ram_init(&b);
	/* another snapshot's memory file */
	assert_int_equal(snap_mem_map(&b, dirfd, "memory", id2, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "different snapshot"));
	assert_int_equal(b.ram[0], 0); /* RAM untouched */
	/* another RAM size */
	b.ram_len = RAM / 2;
	assert_int_equal(snap_mem_map(&b, dirfd, "memory", id1, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "truncated or corrupt"));
	b.ram_len = RAM;
	/* a corrupt trailer */
	fd = openat(dirfd, "memory", O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "X", 1, RAM + 9), 1);
	close(fd);
	assert_int_equal(snap_mem_map(&b, dirfd, "memory", id1, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "truncated or corrupt"));
	/* truncated */
	assert_int_equal(snap_mem_save(&a, dirfd, "memory", id1), 0);
	fd = openat(dirfd, "memory", O_WRONLY);
	assert_int_equal(ftruncate(fd, RAM), 0);
	close(fd);
	assert_int_equal(snap_mem_map(&b, dirfd, "memory", id1, err, sizeof(err)), -EINVAL);
	/* missing */
	unlinkat(dirfd, "memory", 0);
	assert_int_equal(snap_mem_map(&b, dirfd, "memory", id1, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "cannot open the memory file"));
	ram_fini(&b);
	ram_fini(&a);
	cleanup(dirfd, dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip_sparse),
	    cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
