/* tests/fuzz/fuzz_qcow2.c — qcow2 open plus I/O on an image taken from the fuzzer input.
 *
 * The input becomes a memfd (as Cloud Hypervisor's fuzz_targets/qcow.rs does) opened as qcow2
 * read-write without its backing chain (a fuzzed backing name must not open host files). Then
 * a few reads, writes, zeroes, a discard, a flush, an extent query and a check run on ranges
 * derived from the input's last bytes. Any crash, sanitizer report or hang is a bug; errors
 * returned by the block layer are expected. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/log.h"
#include "block/disk.h"
#include "block/qcow2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t pick(const uint8_t *data, size_t size, size_t i, uint64_t mod)
{
	uint64_t v = 0;

	for (size_t k = 0; k < 4 && size; k++)
		v = v << 8 | data[(size - 1 - ((i * 4 + k) % size))];
	return mod ? v % mod : 0;
}

/* Errors are expected here: only crashes and sanitizer reports count. */
static void ignore(int err)
{
	(void)err;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct disk_open_opts o = {
	    .format = "qcow2", .flags = DISK_O_NO_BACKING, .cache_bytes = 64 * 1024};
	struct qcow2_check_result r;
	struct disk_extent e;
	char path[64];
	struct disk *d;
	uint8_t *buf;
	int fd;

	if (size > (4u << 20))
		return 0;
	log_set_level(LOG_ERR);
	fd = memfd_create("fuzz-qcow2", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (disk_open(path, &o, &d)) {
		close(fd);
		return 0;
	}
	buf = calloc(1, 65536);
	for (size_t i = 0; buf && i < 3; i++) {
		uint64_t sz = disk_size(d), len = 1 + pick(data, size, i, 65536);
		uint64_t off = sz > len ? pick(data, size, i + 7, sz - len + 1) : 0;

		if (sz < len)
			len = sz;
		if (!len)
			break;
		ignore(disk_pread(d, buf, len, off));
		memset(buf, (int)i + 1, len);
		ignore(disk_pwrite(d, buf, len, off));
		ignore(disk_pread(d, buf, len, off));
		if (i == 1)
			ignore(disk_write_zeroes(d, off, len, i & 1));
		if (i == 2)
			ignore(disk_discard(d, off, len));
		ignore(disk_extent(d, off, len, &e));
	}
	ignore(disk_flush(d));
	ignore(qcow2_check(d, 0, &r));
	free(buf);
	disk_close(d);
	close(fd);
	return 0;
}
