/* Unit tests for devices/legacy/fw_cfg: items over the data port, the file directory, DMA
 * read/skip/select/write into a plain mmap'ed gmem, and hostile DMA requests. */
#include "lib/harness.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "devices/legacy/fw_cfg.h"
#include "mem/gmem.h"

#define RAM_LEN	 0x10000  /* [0, 64 KiB) */
#define HIGH_GPA 0x100000 /* [1 MiB, 1 MiB + 64 KiB); a hole in between */
#define DESC	 0x1000
#define BUF	 0x2000

struct fix {
	uint8_t *lo, *hi;
	struct gmem *m;
	struct fw_cfg *fw;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	struct gmem_region r[2];

	if (!f)
		return -1;
	f->lo = mmap(NULL, RAM_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	f->hi = mmap(NULL, RAM_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (f->lo == MAP_FAILED || f->hi == MAP_FAILED)
		return -1;
	r[0] = (struct gmem_region){0, RAM_LEN, f->lo, 0};
	r[1] = (struct gmem_region){HIGH_GPA, RAM_LEN, f->hi, 0};
	if (gmem_create(&f->m, r, 2) || fw_cfg_create(&f->fw, f->m))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	fw_cfg_destroy(f->fw);
	gmem_destroy(f->m);
	munmap(f->lo, RAM_LEN);
	munmap(f->hi, RAM_LEN);
	free(f);
	return 0;
}

static void sel(struct fix *f, uint16_t key)
{
	fw_cfg_io_ops.write(f->fw, FW_CFG_PORT_SEL, &key, 2);
}

static void rd_data(struct fix *f, void *buf, size_t n)
{
	uint8_t *b = buf;

	for (size_t i = 0; i < n; i++)
		fw_cfg_io_ops.read(f->fw, FW_CFG_PORT_DATA, &b[i], 1);
}

/* Put a descriptor at gpa and kick it through the two 32-bit big-endian registers. */
static void dma(struct fix *f, uint64_t desc, uint32_t ctl, uint32_t len, uint64_t addr)
{
	struct fw_cfg_dma_access d = {htobe32(ctl), htobe32(len), htobe64(addr)};
	uint32_t hi = htobe32((uint32_t)(desc >> 32)), lo = htobe32((uint32_t)desc);

	if (gmem_ptr(f->m, desc, sizeof(d)))
		assert_int_equal(gmem_write_obj(f->m, desc, &d), 0);
	fw_cfg_io_ops.write(f->fw, FW_CFG_PORT_DMA, &hi, 4);
	fw_cfg_io_ops.write(f->fw, FW_CFG_PORT_DMA + 4, &lo, 4);
}

static uint32_t desc_control(struct fix *f, uint64_t desc)
{
	uint32_t c;

	assert_int_equal(gmem_read(f->m, desc, &c, 4), 0);
	return be32toh(c);
}

static void test_builtin_items(void **state)
{
	struct fix *f = *state;
	char sig[6];
	uint32_t id;

	sel(f, FW_CFG_SIGNATURE);
	rd_data(f, sig, 6);
	assert_memory_equal(sig, "QEMU\0\0", 6); /* 0 past the end */
	sel(f, FW_CFG_ID);
	rd_data(f, &id, 4);
	assert_int_equal(le32toh(id), 3);
	sel(f, FW_CFG_SIGNATURE); /* re-select rewinds; a wide read takes consecutive bytes */
	fw_cfg_io_ops.read(f->fw, FW_CFG_PORT_DATA, &id, 4);
	assert_memory_equal(&id, "QEMU", 4);
	sel(f, 0x1234); /* nothing there: zeros */
	rd_data(f, &id, 4);
	assert_int_equal(id, 0);
	char dsig[8];
	fw_cfg_io_ops.read(f->fw, FW_CFG_PORT_DMA, dsig, 8);
	assert_memory_equal(dsig, "QEMU CFG", 8);
	fw_cfg_io_ops.read(f->fw, FW_CFG_PORT_DMA + 4, &id, 4);
	assert_memory_equal(&id, " CFG", 4);
	fw_cfg_io_ops.read(f->fw, FW_CFG_PORT_DMA + 6, &id, 4); /* runs past the register */
	assert_int_equal(id, 0xffffffff);
}

static void test_scalar_items(void **state)
{
	struct fix *f = *state;
	uint64_t ram;
	uint16_t cpus;

	assert_int_equal(fw_cfg_add_u64(f->fw, FW_CFG_RAM_SIZE, 512ull << 20), 0);
	assert_int_equal(fw_cfg_add_u16(f->fw, FW_CFG_NB_CPUS, 2), 0);
	assert_int_equal(fw_cfg_add_u16(f->fw, FW_CFG_MAX_CPUS, 4), 0);
	assert_int_equal(fw_cfg_add_u32(f->fw, FW_CFG_ARCH_LOCAL | 3, 7), 0);
	sel(f, FW_CFG_RAM_SIZE);
	rd_data(f, &ram, 8);
	assert_int_equal(le64toh(ram), 512ull << 20);
	sel(f, FW_CFG_NB_CPUS | FW_CFG_WRITE_CHANNEL); /* write bit is ignored on select */
	rd_data(f, &cpus, 2);
	assert_int_equal(le16toh(cpus), 2);
	sel(f, FW_CFG_MAX_CPUS);
	rd_data(f, &cpus, 2);
	assert_int_equal(le16toh(cpus), 4);
	uint32_t v;
	sel(f, FW_CFG_ARCH_LOCAL | 3);
	rd_data(f, &v, 4);
	assert_int_equal(le32toh(v), 7);
	/* Errors. */
	assert_int_equal(fw_cfg_add_u16(f->fw, FW_CFG_NB_CPUS, 1), -EEXIST);
	assert_int_equal(fw_cfg_add_u16(f->fw, FW_CFG_SIGNATURE, 1), -EEXIST);
	assert_int_equal(fw_cfg_add_u16(f->fw, FW_CFG_FILE_DIR, 1), -EEXIST);
	assert_int_equal(fw_cfg_add_u16(f->fw, FW_CFG_FILE_FIRST, 1), -EINVAL);
	assert_int_equal(fw_cfg_add_u16(f->fw, FW_CFG_WRITE_CHANNEL | 4, 1), -EINVAL);
	assert_int_equal(fw_cfg_add_item(f->fw, 0x10, NULL, 4), -EINVAL);
	assert_int_equal(fw_cfg_add_item(f->fw, 0x10, NULL, 0), 0);
	/* Guest writes to the data port change nothing. */
	sel(f, FW_CFG_NB_CPUS);
	uint8_t w = 0x77;
	fw_cfg_io_ops.write(f->fw, FW_CFG_PORT_DATA, &w, 1);
	sel(f, FW_CFG_NB_CPUS);
	rd_data(f, &cpus, 2);
	assert_int_equal(le16toh(cpus), 2);
}

static void test_file_dir(void **state)
{
	struct fix *f = *state;
	uint8_t dir[4 + 3 * 64];
	struct fw_cfg_file e[3];
	uint32_t count;
	uint16_t s;
	char got[8] = {0};

	assert_int_equal(fw_cfg_add_file_sel(f->fw, "etc/b", "BBBB", 4, &s), 0);
	assert_int_equal(s, 0x20);
	assert_int_equal(fw_cfg_add_file(f->fw, "opt/z", "Z", 1), 0);
	assert_int_equal(fw_cfg_add_file(f->fw, "etc/a", "AAAAAA", 6), 0);
	sel(f, FW_CFG_FILE_DIR);
	rd_data(f, dir, sizeof(dir));
	memcpy(&count, dir, 4);
	assert_int_equal(be32toh(count), 3);
	memcpy(e, dir + 4, sizeof(e));
	assert_string_equal(e[0].name, "etc/a");
	assert_int_equal(be16toh(e[0].select), 0x22);
	assert_int_equal(be32toh(e[0].size), 6);
	assert_string_equal(e[1].name, "etc/b");
	assert_int_equal(be16toh(e[1].select), 0x20);
	assert_int_equal(be32toh(e[1].size), 4);
	assert_string_equal(e[2].name, "opt/z");
	assert_int_equal(be16toh(e[2].select), 0x21);
	assert_int_equal(e[2].reserved, 0);
	uint8_t past;
	rd_data(f, &past, 1); /* past the end of the directory */
	assert_int_equal(past, 0);
	sel(f, be16toh(e[0].select));
	rd_data(f, got, 6);
	assert_string_equal(got, "AAAAAA");
	sel(f, 0x23); /* beyond the last file */
	rd_data(f, got, 1);
	assert_int_equal(got[0], 0);
}

static void test_add_file_errors(void **state)
{
	struct fix *f = *state;
	char name[80];

	memset(name, 'n', sizeof(name));
	name[FW_CFG_MAX_NAME] = 0; /* 56 chars: no room for the NUL */
	assert_int_equal(fw_cfg_add_file(f->fw, name, "x", 1), -ENAMETOOLONG);
	name[FW_CFG_MAX_NAME - 1] = 0; /* 55 chars: fits */
	assert_int_equal(fw_cfg_add_file(f->fw, name, "x", 1), 0);
	assert_int_equal(fw_cfg_add_file(f->fw, name, "y", 1), -EEXIST);
	assert_int_equal(fw_cfg_add_file(f->fw, "", "y", 1), -EINVAL);
	assert_int_equal(fw_cfg_add_file(f->fw, "etc/null", NULL, 5), -EINVAL);
	assert_int_equal(fw_cfg_add_file(f->fw, "etc/empty", NULL, 0), 0);
	for (int i = 2; i < FW_CFG_MAX_FILES; i++) {
		snprintf(name, sizeof(name), "f%02d", i);
		assert_int_equal(fw_cfg_add_file(f->fw, name, &i, sizeof(i)), 0);
	}
	assert_int_equal(fw_cfg_add_file(f->fw, "one/too/many", "x", 1), -ENOSPC);
	uint32_t count;
	sel(f, FW_CFG_FILE_DIR);
	rd_data(f, &count, 4);
	assert_int_equal(be32toh(count), FW_CFG_MAX_FILES);
}

static void test_dma_read_skip_select(void **state)
{
	struct fix *f = *state;
	uint8_t buf[16];

	assert_int_equal(fw_cfg_add_file(f->fw, "etc/data", "0123456789", 10), 0);
	memset(f->lo + BUF, 0xaa, 32);
	/* SELECT + READ 16 bytes of a 10-byte item: the rest is zero-filled. */
	dma(f, DESC, (0x20u << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 16, BUF);
	assert_int_equal(desc_control(f, DESC), 0);
	memcpy(buf, f->lo + BUF, 16);
	assert_memory_equal(buf, "0123456789\0\0\0\0\0\0", 16);
	assert_int_equal(f->lo[BUF + 16], 0xaa);
	/* SELECT + SKIP 3, then READ 4 (no select: continues). */
	dma(f, DESC, (0x20u << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_SKIP, 3, 0);
	assert_int_equal(desc_control(f, DESC), 0);
	dma(f, DESC, FW_CFG_DMA_CTL_READ, 4, BUF + 0x100);
	assert_int_equal(desc_control(f, DESC), 0);
	assert_memory_equal(f->lo + BUF + 0x100, "3456", 4);
	/* The data port continues from the DMA offset. */
	uint8_t c;
	rd_data(f, &c, 1);
	assert_int_equal(c, '7');
	/* READ into the high region with a 64-bit register write. */
	struct fw_cfg_dma_access d = {
	    htobe32((FW_CFG_SIGNATURE << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ),
	    htobe32(4), htobe64(HIGH_GPA + 8)};
	uint64_t a = htobe64(HIGH_GPA);
	assert_int_equal(gmem_write_obj(f->m, HIGH_GPA, &d), 0);
	fw_cfg_io_ops.write(f->fw, FW_CFG_PORT_DMA, &a, 8);
	assert_int_equal(desc_control(f, HIGH_GPA), 0);
	assert_memory_equal(f->hi + 8, "QEMU", 4);
	/* Select a missing item and read: zeros, no error (as QEMU). */
	memset(f->lo + BUF, 0xaa, 8);
	dma(f, DESC, (0x3000u << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 8, BUF);
	assert_int_equal(desc_control(f, DESC), 0);
	assert_memory_equal(f->lo + BUF, "\0\0\0\0\0\0\0\0", 8);
	/* No operation bit: only the select happens. */
	dma(f, DESC, (0x20u << 16) | FW_CFG_DMA_CTL_SELECT, 100, BUF);
	assert_int_equal(desc_control(f, DESC), 0);
	rd_data(f, &c, 1);
	assert_int_equal(c, '0');
}

static void test_dma_write_and_errors(void **state)
{
	struct fix *f = *state;

	assert_int_equal(fw_cfg_add_file(f->fw, "etc/data", "0123456789", 10), 0);
	/* WRITE: no writable item. */
	dma(f, DESC, (0x20u << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_WRITE, 4, BUF);
	assert_int_equal(desc_control(f, DESC), FW_CFG_DMA_CTL_ERROR);
	sel(f, 0x20);
	uint8_t c;
	rd_data(f, &c, 1);
	assert_int_equal(c, '0'); /* unchanged */
	/* Destination in the hole. */
	dma(f, DESC, (0x20u << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 4, 0x80000);
	assert_int_equal(desc_control(f, DESC), FW_CFG_DMA_CTL_ERROR);
	/* Destination straddling the end of RAM. */
	dma(f, DESC, (0x20u << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 8, RAM_LEN - 4);
	assert_int_equal(desc_control(f, DESC), FW_CFG_DMA_CTL_ERROR);
	/* Huge length: the item part lands, the zero-fill past it hits the hole: ERROR. */
	dma(f, DESC, (0x20u << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 0xffffffffu, BUF);
	assert_int_equal(desc_control(f, DESC), FW_CFG_DMA_CTL_ERROR);
	/* Address that wraps around 2^64. */
	dma(f, DESC, (0x20u << 16) | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 0xffffffffu,
	    UINT64_MAX - 2);
	assert_int_equal(desc_control(f, DESC), FW_CFG_DMA_CTL_ERROR);
	/* Huge SKIP past the end touches no memory and succeeds. */
	dma(f, DESC, FW_CFG_DMA_CTL_SKIP, 0xffffffffu, 0);
	assert_int_equal(desc_control(f, DESC), 0);
	/* Descriptor in the hole: nothing is written anywhere, no crash. */
	dma(f, 0x80000, FW_CFG_DMA_CTL_READ, 4, BUF);
	/* Descriptor whose control word is in RAM but the rest is not: ERROR in control. */
	uint32_t ctl = htobe32(FW_CFG_DMA_CTL_READ);
	assert_int_equal(gmem_write(f->m, RAM_LEN - 4, &ctl, 4), 0);
	dma(f, RAM_LEN - 4, 0, 0, 0);
	assert_int_equal(desc_control(f, RAM_LEN - 4), FW_CFG_DMA_CTL_ERROR);
	/* A descriptor address near 2^64. */
	dma(f, UINT64_MAX - 7, FW_CFG_DMA_CTL_READ, 4, BUF);
	/* Stray register writes: wrong widths and offsets are ignored. */
	uint64_t junk = ~0ull;
	fw_cfg_io_ops.write(f->fw, FW_CFG_PORT_DMA + 4, &junk, 8);
	fw_cfg_io_ops.write(f->fw, FW_CFG_PORT_DMA + 2, &junk, 4);
	fw_cfg_io_ops.write(f->fw, FW_CFG_PORT_SEL, &junk, 1);
	fw_cfg_io_ops.write(f->fw, FW_CFG_PORT_SEL, &junk, 8);
	fw_cfg_io_ops.write(f->fw, 1000, &junk, 4);
}

static void test_no_dma(void **state)
{
	struct fw_cfg *fw;
	uint32_t id;
	uint16_t key = FW_CFG_ID;
	uint64_t a = htobe64(0x1000);

	assert_int_equal(fw_cfg_create(&fw, NULL), 0);
	fw_cfg_io_ops.write(fw, FW_CFG_PORT_SEL, &key, 2);
	fw_cfg_io_ops.read(fw, FW_CFG_PORT_DATA, &id, 4);
	assert_int_equal(le32toh(id), 1); /* traditional interface only */
	fw_cfg_io_ops.write(fw, FW_CFG_PORT_DMA, &a, 8);
	fw_cfg_io_ops.read(fw, FW_CFG_PORT_DMA, &a, 8);
	assert_int_equal(a, ~0ull);
	fw_cfg_destroy(fw);
	fw_cfg_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_builtin_items, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_scalar_items, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file_dir, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_add_file_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dma_read_skip_select, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dma_write_and_errors, setup, teardown),
	    cmocka_unit_test(test_no_dma),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
