/* Unit tests for block/foreign: hand-built VMDK, VDI, VPC and VHDX images, valid ones read back
 * byte-exactly (including unaligned reads across grain/block boundaries) and hostile ones
 * (tables outside the file, huge table sizes, bad checksums, overflowing sizes) are refused at
 * open with -EINVAL/-ENOTSUP or fail the affected read with -EIO, never crash. */
#include "lib/harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/disk.h"

struct img {
	uint8_t *p;
	size_t len;
	char path[64];
};

static void img_alloc(struct img *im, size_t len)
{
	im->p = calloc(1, len);
	assert_non_null(im->p);
	im->len = len;
}

static void put16le(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static void put32le(uint8_t *p, uint32_t v)
{
	put16le(p, (uint16_t)v);
	put16le(p + 2, (uint16_t)(v >> 16));
}
static void put64le(uint8_t *p, uint64_t v)
{
	put32le(p, (uint32_t)v);
	put32le(p + 4, (uint32_t)(v >> 32));
}
static void put32be(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}
static void put64be(uint8_t *p, uint64_t v)
{
	put32be(p, (uint32_t)(v >> 32));
	put32be(p + 4, (uint32_t)v);
}

/* Write the image to a temporary file and open it with format fmt (NULL: probe). */
static int img_open(struct img *im, const char *fmt, struct disk **d)
{
	struct disk_open_opts o = {.format = fmt, .flags = DISK_O_RDONLY};
	int fd;

	strcpy(im->path, "/tmp/kvmm-test-foreign.XXXXXX");
	fd = mkstemp(im->path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, im->p, im->len), (ssize_t)im->len);
	close(fd);
	*d = NULL;
	return disk_open(im->path, &o, d);
}

static void img_done(struct img *im, struct disk *d)
{
	disk_close(d);
	unlink(im->path);
	free(im->p);
}

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static void fill(uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 7 + (i >> 9));
}

/* ---- VMDK: 1 MiB disk, 64 KiB grains, 512 GTEs; GD at sector 1, GT at sector 2. ---- */

#define VMDK_GRAIN 65536u

static void vmdk_build(struct img *im, uint64_t capacity, uint64_t grain_sectors, uint64_t gd_off)
{
	img_alloc(im, 4 * 512 + 2 * VMDK_GRAIN);
	memcpy(im->p, "KDMV", 4);
	put32le(im->p + 4, 1);	       /* version */
	put32le(im->p + 8, 3);	       /* flags: valid newline test, redundant GD */
	put64le(im->p + 12, capacity); /* sectors */
	put64le(im->p + 20, grain_sectors);
	put32le(im->p + 44, 512);		/* GTEs per GT */
	put64le(im->p + 56, gd_off);		/* rgd (unused) */
	put64le(im->p + 64, gd_off);		/* gd */
	put32le(im->p + 512, 2);		/* GD[0] = GT at sector 2 */
	put32le(im->p + 1024 + 4 * 1, 4);	/* grain 1 at sector 4 */
	put32le(im->p + 1024 + 4 * 3, 4 + 128); /* grain 3 at sector 132 */
	fill(im->p + 4 * 512, 2 * VMDK_GRAIN, 1);
}

static void test_vmdk_read(void **state)
{
	struct img im;
	struct disk *d;
	uint8_t *buf = malloc(4 * VMDK_GRAIN);

	vmdk_build(&im, 2048, 128, 1);
	assert_int_equal(img_open(&im, NULL, &d), 0);
	assert_string_equal(disk_format(d), "vmdk");
	assert_int_equal(disk_size(d), 1 << 20);
	assert_true(disk_is_readonly(d));
	/* Grains 0..3: hole, data, hole, data; read across all with an odd offset. */
	assert_int_equal(disk_pread(d, buf, 4 * VMDK_GRAIN - 13, 13), 0);
	for (size_t i = 0; i < VMDK_GRAIN - 13; i++)
		assert_int_equal(buf[i], 0);
	assert_memory_equal(buf + VMDK_GRAIN - 13, im.p + 4 * 512, VMDK_GRAIN);
	assert_memory_equal(buf + 3 * VMDK_GRAIN - 13, im.p + 4 * 512 + VMDK_GRAIN,
			    VMDK_GRAIN - 13);
	/* Writes fail; reads past the end fail. */
	assert_int_equal(disk_pwrite(d, buf, 512, 0), -EROFS);
	assert_int_equal(disk_pread(d, buf, 512, (1 << 20) - 511), -EINVAL);
	{
		struct disk_extent e;

		assert_int_equal(disk_extent(d, VMDK_GRAIN + 5, UINT64_MAX, &e), 0);
		assert_int_equal(e.kind, DISK_EXTENT_DATA);
		assert_int_equal(e.len, VMDK_GRAIN - 5);
		assert_int_equal(e.host_off, 4 * 512 + 5);
		assert_int_equal(disk_extent(d, 0, UINT64_MAX, &e), 0);
		assert_int_equal(e.kind, DISK_EXTENT_UNALLOC);
	}
	free(buf);
	img_done(&im, d);
}

static void test_vmdk_hostile_header(void **state)
{
	static const struct {
		uint64_t capacity, grain, gd;
		int err;
	} cases[] = {
	    {2048, 0, 1, -EINVAL},	      /* zero grain */
	    {2048, 100, 1, -EINVAL},	      /* not a power of two */
	    {2048, 1ull << 40, 1, -EINVAL},   /* huge grain */
	    {1ull << 62, 128, 1, -EINVAL},    /* capacity * 512 overflows */
	    {1ull << 50, 128, 1, -EINVAL},    /* GD would be far beyond the file */
	    {2048, 128, 1ull << 60, -EINVAL}, /* GD offset * 512 overflows */
	    {2048, 128, 100000, -EINVAL},     /* GD outside the file */
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct img im;
		struct disk *d;

		vmdk_build(&im, cases[i].capacity, cases[i].grain, cases[i].gd);
		assert_int_equal(img_open(&im, "vmdk", &d), cases[i].err);
		assert_null(d);
		img_done(&im, d);
	}
}

static void test_vmdk_grain_table_out_of_range(void **state)
{
	struct img im;
	struct disk *d;
	uint8_t buf[512];

	/* A grain table beyond the file fails the read (not the open) with -EIO. */
	vmdk_build(&im, 2048, 128, 1);
	put32le(im.p + 512, 0x7fffffff);
	assert_int_equal(img_open(&im, "vmdk", &d), 0);
	assert_int_equal(disk_pread(d, buf, sizeof(buf), 0), -EIO);
	img_done(&im, d);

	/* A grain entry beyond the file reads as zeroes past EOF but must not crash; one whose
	 * offset would overflow is impossible (32-bit sectors). */
	vmdk_build(&im, 2048, 128, 1);
	put32le(im.p + 1024, 0xffffffff);
	assert_int_equal(img_open(&im, "vmdk", &d), 0);
	assert_int_equal(disk_pread(d, buf, sizeof(buf), 0), 0);
	img_done(&im, d);
}

static void test_vmdk_bad_compressed_grain(void **state)
{
	struct img im;
	struct disk *d;
	uint8_t buf[512];

	vmdk_build(&im, 2048, 128, 1);
	put32le(im.p + 8, 3 | (1u << 16) | (1u << 17)); /* compressed grains with markers */
	put16le(im.p + 77, 1);				/* deflate */
	put32le(im.p + 4 * 512 + 8, 0x7fffffff);	/* marker size larger than the file */
	put32le(im.p + 4 * 512 + VMDK_GRAIN + 8, 100);	/* 100 bytes of garbage "deflate" */
	assert_int_equal(img_open(&im, "vmdk", &d), 0);
	assert_int_equal(disk_pread(d, buf, sizeof(buf), VMDK_GRAIN), -EIO);
	assert_int_equal(disk_pread(d, buf, sizeof(buf), 3 * VMDK_GRAIN), -EIO);
	assert_int_equal(disk_pread(d, buf, sizeof(buf), 0), 0); /* holes still read */
	img_done(&im, d);
}

/* ---- VDI: 4 blocks of 1 MiB, bmap at 512, data at 1024. ---- */

static void vdi_build(struct img *im, uint32_t blocks, uint32_t block_size, uint64_t disk_size)
{
	img_alloc(im, 1024 + 2 * (1u << 20));
	memcpy(im->p, "<<< Oracle VM VirtualBox Disk Image >>>\n", 40);
	put32le(im->p + 0x40, 0xbeda107f);
	put32le(im->p + 0x44, 0x00010001);
	put32le(im->p + 0x48, 0x190);
	put32le(im->p + 0x4c, 1);
	put32le(im->p + 0x154, 512);
	put32le(im->p + 0x158, 1024);
	put32le(im->p + 0x168, 512);
	put64le(im->p + 0x170, disk_size);
	put32le(im->p + 0x178, block_size);
	put32le(im->p + 0x180, blocks);
	put32le(im->p + 512 + 0, 1);	      /* block 0 -> data block 1 */
	put32le(im->p + 512 + 4, 0xffffffff); /* unallocated */
	put32le(im->p + 512 + 8, 0xfffffffe); /* discarded: zero */
	put32le(im->p + 512 + 12, 0);
	fill(im->p + 1024, 2 * (1u << 20), 3);
}

static void test_vdi(void **state)
{
	struct img im;
	struct disk *d;
	uint8_t *buf = malloc(4u << 20);

	vdi_build(&im, 4, 1u << 20, 4u << 20);
	assert_int_equal(img_open(&im, NULL, &d), 0);
	assert_string_equal(disk_format(d), "vdi");
	assert_int_equal(disk_pread(d, buf, (4u << 20) - 1, 1), 0);
	assert_memory_equal(buf, im.p + 1024 + (1u << 20) + 1, (1u << 20) - 1);
	assert_true(buf[(1u << 20)] == 0 && buf[(3u << 20) - 2] == 0);
	assert_memory_equal(buf + (3u << 20) - 1, im.p + 1024, (1u << 20));
	img_done(&im, d);
	free(buf);

	vdi_build(&im, 0xffffffff, 1u << 20, 4u << 20); /* bmap far beyond the file */
	assert_int_equal(img_open(&im, NULL, &d), -EINVAL);
	img_done(&im, d);
	vdi_build(&im, 4, 3u << 20, 4u << 20); /* block size not a power of two */
	assert_int_equal(img_open(&im, NULL, &d), -EINVAL);
	img_done(&im, d);
	vdi_build(&im, 4, 1u << 20, 5u << 20); /* bmap does not cover the disk */
	assert_int_equal(img_open(&im, NULL, &d), -EINVAL);
	img_done(&im, d);

	vdi_build(&im, 4, 1u << 20, 4u << 20);
	put32le(im.p + 512 + 12, 7); /* data block index ≥ blocks */
	assert_int_equal(img_open(&im, NULL, &d), 0);
	buf = malloc(512);
	assert_int_equal(disk_pread(d, buf, 512, 3u << 20), -EIO);
	assert_int_equal(disk_pread(d, buf, 512, 0), 0);
	free(buf);
	img_done(&im, d);
}

/* ---- VPC: dynamic, 2 MiB blocks, 2 BAT entries; footer copy at 0, dyn header at 512. ---- */

static void vpc_build(struct img *im, uint32_t type, uint32_t entries, uint32_t block_size)
{
	uint8_t *ft;

	img_alloc(im, 3 * 512 + 512 + 512 + (2u << 20) + 512);
	ft = im->p;
	memcpy(ft, "conectix", 8);
	put64be(ft + 16, 512);
	memcpy(ft + 28, "win ", 4); /* current_size, not CHS */
	put64be(ft + 48, 4u << 20);
	put32be(ft + 60, type);
	memcpy(im->p + im->len - 512, ft, 512);
	memcpy(im->p + 512, "cxsparse", 8);
	put64be(im->p + 512 + 16, 1536); /* BAT */
	put32be(im->p + 512 + 28, entries);
	put32be(im->p + 512 + 32, block_size);
	put32be(im->p + 1536, 4);	   /* block 0 at sector 4: bitmap 512, data at 2560 */
	put32be(im->p + 1540, 0xffffffff); /* block 1 unallocated */
	fill(im->p + 2560, 2u << 20, 5);
}

static void test_vpc(void **state)
{
	struct img im;
	struct disk *d;
	uint8_t *buf = malloc(4u << 20);

	vpc_build(&im, 3, 2, 2u << 20);
	assert_int_equal(img_open(&im, NULL, &d), 0);
	assert_string_equal(disk_format(d), "vpc");
	assert_int_equal(disk_size(d), 4u << 20);
	assert_int_equal(disk_pread(d, buf, (4u << 20) - 3, 3), 0);
	assert_memory_equal(buf, im.p + 2560 + 3, (2u << 20) - 3);
	assert_true(all_zero(buf + (2u << 20) - 3, 2u << 20));
	img_done(&im, d);

	vpc_build(&im, 3, 0x40000000, 2u << 20); /* BAT far beyond the file */
	assert_int_equal(img_open(&im, NULL, &d), -EINVAL);
	img_done(&im, d);
	vpc_build(&im, 3, 1, 2u << 20); /* BAT does not cover the disk */
	assert_int_equal(img_open(&im, NULL, &d), -EINVAL);
	img_done(&im, d);
	vpc_build(&im, 3, 2, 0); /* zero block size */
	assert_int_equal(img_open(&im, NULL, &d), -EINVAL);
	img_done(&im, d);
	vpc_build(&im, 4, 2, 2u << 20); /* differencing */
	assert_int_equal(img_open(&im, NULL, &d), -ENOTSUP);
	img_done(&im, d);

	vpc_build(&im, 3, 2, 2u << 20);
	put32be(im.p + 1540, 0x7fffffff); /* block beyond the file */
	assert_int_equal(img_open(&im, NULL, &d), 0);
	assert_int_equal(disk_pread(d, buf, 512, 2u << 20), -EIO);
	img_done(&im, d);
	free(buf);
}

/* ---- VHDX: 4 MiB disk, 1 MiB blocks, 512-byte sectors. ---- */

#define MiB (1u << 20)

static uint32_t crc32c(const uint8_t *p, size_t len)
{
	uint32_t c = 0xffffffff;

	while (len--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82f63b78 & (0u - (c & 1)));
	}
	return ~c;
}

static void vhdx_seal(uint8_t *p, size_t len)
{
	put32le(p + 4, 0);
	put32le(p + 4, crc32c(p, len));
}

static const uint8_t guid_bat[16] = {0x66, 0x77, 0xc2, 0x2d, 0x23, 0xf6, 0x00, 0x42,
				     0x9d, 0x64, 0x11, 0x5e, 0x9b, 0xfd, 0x4a, 0x08};
static const uint8_t guid_meta[16] = {0x06, 0xa2, 0x7c, 0x8b, 0x90, 0x47, 0x9a, 0x4b,
				      0xb8, 0xfe, 0x57, 0x5f, 0x05, 0x0f, 0x88, 0x6e};
static const uint8_t guid_fp[16] = {0x37, 0x67, 0xa1, 0xca, 0x36, 0xfa, 0x43, 0x4d,
				    0xb3, 0xb6, 0x33, 0xf0, 0xaa, 0x44, 0xe7, 0x6b};
static const uint8_t guid_vs[16] = {0x24, 0x42, 0xa5, 0x2f, 0x1b, 0xcd, 0x76, 0x48,
				    0xb2, 0x11, 0x5d, 0xbe, 0xd8, 0x3b, 0xf4, 0xb8};
static const uint8_t guid_ls[16] = {0x1d, 0xbf, 0x41, 0x81, 0x6f, 0xa9, 0x09, 0x47,
				    0xba, 0x47, 0xf2, 0x33, 0xa8, 0xfa, 0xab, 0x5f};

struct vhdx_params {
	uint32_t block_size;
	uint64_t vsize;
	uint16_t meta_count;
	uint32_t vs_item_off;
	bool log_pending;
};

static void vhdx_build(struct img *im, const struct vhdx_params *v)
{
	uint8_t *h, *rt, *md, *e;

	img_alloc(im, 6 * MiB);
	memcpy(im->p, "vhdxfile", 8);
	h = im->p + 64 * 1024;
	memcpy(h, "head", 4);
	put64le(h + 8, 1);
	if (v->log_pending)
		h[48] = 1;
	put16le(h + 66, 1);
	put32le(h + 68, MiB);
	put64le(h + 72, MiB);
	vhdx_seal(h, 4096);
	rt = im->p + 192 * 1024;
	memcpy(rt, "regi", 4);
	put32le(rt + 8, 2);
	memcpy(rt + 16, guid_bat, 16);
	put64le(rt + 32, 2 * MiB);
	put32le(rt + 40, MiB);
	put32le(rt + 44, 1);
	memcpy(rt + 48, guid_meta, 16);
	put64le(rt + 64, 3 * MiB);
	put32le(rt + 72, MiB);
	put32le(rt + 76, 1);
	vhdx_seal(rt, 64 * 1024);
	md = im->p + 3 * MiB;
	memcpy(md, "metadata", 8);
	put16le(md + 10, v->meta_count);
	e = md + 32;
	memcpy(e, guid_fp, 16);
	put32le(e + 16, 65536);
	put32le(e + 20, 8);
	memcpy(e + 32, guid_vs, 16);
	put32le(e + 48, v->vs_item_off);
	put32le(e + 52, 8);
	memcpy(e + 64, guid_ls, 16);
	put32le(e + 80, 65536 + 16);
	put32le(e + 84, 4);
	put32le(md + 65536, v->block_size);
	put64le(md + 65536 + 8, v->vsize);
	put32le(md + 65536 + 16, 512);
	/* BAT: block 0 full at 4 MiB, block 1 zero, block 2 absent, block 3 full at 5 MiB. */
	put64le(im->p + 2 * MiB + 0, (4ull << 20) | 6);
	put64le(im->p + 2 * MiB + 8, 2);
	put64le(im->p + 2 * MiB + 16, 0);
	put64le(im->p + 2 * MiB + 24, (5ull << 20) | 6);
	fill(im->p + 4 * MiB, 2 * MiB, 9);
}

static const struct vhdx_params vhdx_ok = {MiB, 4 * MiB, 3, 65536 + 8, false};

static void test_vhdx_read(void **state)
{
	struct img im;
	struct disk *d;
	uint8_t *buf = malloc(4 * MiB);

	vhdx_build(&im, &vhdx_ok);
	assert_int_equal(img_open(&im, NULL, &d), 0);
	assert_string_equal(disk_format(d), "vhdx");
	assert_int_equal(disk_size(d), 4 * MiB);
	assert_int_equal(disk_pread(d, buf, 4 * MiB - 1000, 1000), 0);
	assert_memory_equal(buf, im.p + 4 * MiB + 1000, MiB - 1000);
	assert_true(all_zero(buf + MiB - 1000, 2 * MiB));
	assert_memory_equal(buf + 3 * MiB - 1000, im.p + 5 * MiB, MiB);
	img_done(&im, d);
	free(buf);
}

static void test_vhdx_hostile(void **state)
{
	struct vhdx_params p;
	struct img im;
	struct disk *d;
	uint8_t buf[512];

	p = vhdx_ok;
	p.vsize = 64ull << 40; /* BAT of 64 Mi entries does not fit the 1 MiB region */
	vhdx_build(&im, &p);
	assert_int_equal(img_open(&im, NULL, &d), -EINVAL);
	img_done(&im, d);

	p = vhdx_ok;
	p.vsize = (64ull << 40) + 512; /* over the format's limit */
	vhdx_build(&im, &p);
	assert_int_equal(img_open(&im, NULL, &d), -EINVAL);
	img_done(&im, d);

	p = vhdx_ok;
	p.block_size = 3 * MiB;
	vhdx_build(&im, &p);
	assert_int_equal(img_open(&im, NULL, &d), -EINVAL);
	img_done(&im, d);

	p = vhdx_ok;
	p.meta_count = 0xffff; /* entries past the metadata region */
	vhdx_build(&im, &p);
	assert_int_equal(img_open(&im, NULL, &d), -EINVAL);
	img_done(&im, d);

	p = vhdx_ok;
	p.vs_item_off = MiB - 4; /* item straddles the end of the region */
	vhdx_build(&im, &p);
	assert_int_equal(img_open(&im, NULL, &d), -EINVAL);
	img_done(&im, d);

	p = vhdx_ok;
	p.log_pending = true;
	vhdx_build(&im, &p);
	assert_int_equal(img_open(&im, NULL, &d), -ENOTSUP);
	img_done(&im, d);

	vhdx_build(&im, &vhdx_ok);
	im.p[64 * 1024 + 100] ^= 1; /* header checksum no longer matches */
	assert_int_equal(img_open(&im, NULL, &d), -EINVAL);
	img_done(&im, d);

	vhdx_build(&im, &vhdx_ok);
	put64le(im.p + 2 * MiB + 24, (0xfffffffffffull << 20) | 6); /* block far beyond EOF */
	put64le(im.p + 2 * MiB + 16, 7);			    /* partially present */
	assert_int_equal(img_open(&im, NULL, &d), 0);
	assert_int_equal(disk_pread(d, buf, sizeof(buf), 3 * MiB), -EIO);
	assert_int_equal(disk_pread(d, buf, sizeof(buf), 2 * MiB), -EIO);
	assert_int_equal(disk_pread(d, buf, sizeof(buf), 0), 0);
	img_done(&im, d);
}

/* ---- Mutation: flip bytes in the metadata of valid images (deterministic), then open and read
 * everything. Any result but a crash or sanitizer report is fine, as long as errors are the
 * documented ones. ---- */

static uint32_t rng_next(uint64_t *st)
{
	*st = *st * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(*st >> 33);
}

static void read_all(struct disk *d)
{
	uint64_t size = disk_size(d), off = 0;
	uint8_t *buf = malloc(MiB);
	unsigned n = 0;

	assert_non_null(buf);
	while (off < size && n++ < 64) {
		struct disk_extent e;
		size_t len = (size_t)(size - off < MiB ? size - off : MiB);
		int err = disk_pread(d, buf, len, off);

		assert_true(err == 0 || err == -EIO);
		err = disk_extent(d, off, len, &e);
		assert_true(err == 0 || err == -EIO);
		if (!err) {
			assert_true(e.len >= 1 && e.len <= len);
			assert_true(e.kind == DISK_EXTENT_DATA || e.kind == DISK_EXTENT_ZERO ||
				    e.kind == DISK_EXTENT_UNALLOC);
		}
		off += len;
	}
	free(buf);
}

enum mut_fmt { MUT_VMDK, MUT_VDI, MUT_VPC, MUT_VHDX };

static void mut_build(struct img *im, enum mut_fmt f, size_t *lo, size_t *hi)
{
	switch (f) {
	case MUT_VMDK:
		vmdk_build(im, 2048, 128, 1);
		*lo = 0, *hi = 2048;
		break;
	case MUT_VDI:
		vdi_build(im, 4, 1u << 20, 4u << 20);
		*lo = 0x40, *hi = 528;
		break;
	case MUT_VPC:
		vpc_build(im, 3, 2, 2u << 20);
		*lo = 0, *hi = 1544;
		break;
	case MUT_VHDX:
		vhdx_build(im, &vhdx_ok);
		*lo = 64 * 1024, *hi = 64 * 1024 + 128;
		break;
	}
}

static void test_mutations(void **state)
{
	static const char *const names[] = {"vmdk", "vdi", "vpc", "vhdx"};
	uint64_t st = 42;
	unsigned opened = 0;

	for (unsigned iter = 0; iter < 400; iter++) {
		enum mut_fmt f = (enum mut_fmt)(iter % 4);
		struct img im;
		struct disk *d;
		size_t lo, hi;
		unsigned flips = 1 + rng_next(&st) % 6;
		int err;

		mut_build(&im, f, &lo, &hi);
		if (f == MUT_VHDX && rng_next(&st) % 2) {
			/* Deeper: mutate the region table, metadata or BAT and re-seal the CRCs. */
			static const size_t at[] = {192 * 1024 + 16, 3 * MiB, 3 * MiB + 65536,
						    2 * MiB};
			lo = at[rng_next(&st) % 4];
			hi = lo + 96;
		}
		for (unsigned i = 0; i < flips; i++) {
			size_t pos = lo + rng_next(&st) % (hi - lo);

			im.p[pos] =
			    (uint8_t)(rng_next(&st) % 3 ? im.p[pos] ^ (1u << (rng_next(&st) % 8))
							: rng_next(&st));
		}
		if (f == MUT_VHDX) {
			vhdx_seal(im.p + 64 * 1024, 4096);
			vhdx_seal(im.p + 192 * 1024, 64 * 1024);
		}
		err = img_open(&im, names[f], &d);
		assert_true(err == 0 || err == -EINVAL || err == -ENOTSUP || err == -ENOMEM);
		if (!err) {
			opened++;
			read_all(d);
		}
		img_done(&im, d);
	}
	/* The mutations must not all be rejected at open, or the reads were never exercised. */
	assert_true(opened > 50);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vmdk_read),
	    cmocka_unit_test(test_vmdk_hostile_header),
	    cmocka_unit_test(test_vmdk_grain_table_out_of_range),
	    cmocka_unit_test(test_vmdk_bad_compressed_grain),
	    cmocka_unit_test(test_vdi),
	    cmocka_unit_test(test_vpc),
	    cmocka_unit_test(test_vhdx_read),
	    cmocka_unit_test(test_vhdx_hostile),
	    cmocka_unit_test(test_mutations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
