/* block/foreign/vpc.c — read-only VHD (Virtual PC): fixed and dynamic disks. Differencing disks
 * are not supported (-ENOTSUP). The virtual size follows QEMU: CHS geometry for images written
 * by Virtual PC or QEMU, the footer's current size for Hyper-V, disk2vhd, Xen and "qem2". */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/ckd.h"
#include "base/log.h"
#include "block/foreign/foreign.h"
#include "block/formats.h"

#define VPC_FOOTER	 512u
#define VPC_DYN_HDR	 1024u
#define VPC_TYPE_FIXED	 2u
#define VPC_TYPE_DYNAMIC 3u
#define VPC_TYPE_DIFF	 4u
#define VPC_BAT_FREE	 0xffffffffu
#define VPC_MAX_GEOMETRY (65535ull * 16 * 255)
#define VPC_MAX_BLOCK	 (256u << 20)

struct vpc_disk {
	struct foreign_disk f;
	uint32_t type, block_size, bat_entries, bitmap_bytes;
	uint32_t *bat;
};

static int vpc_probe(const uint8_t *buf, size_t len)
{
	return len >= 8 && !memcmp(buf, "conectix", 8) ? 100 : 0;
}

static uint64_t vpc_virtual_size(const uint8_t *ft)
{
	static const char *const size_apps[] = {"win ", "qem2", "d2v ", "CTXS"};
	uint64_t chs = (uint64_t)foreign_be16(ft + 56) * ft[58] * ft[59];
	bool use_chs = memcmp(ft + 28, "tap", 4) != 0;

	for (size_t i = 0; i < ARRAY_SIZE(size_apps); i++)
		if (!memcmp(ft + 28, size_apps[i], 4))
			use_chs = false;
	if (!use_chs || chs == VPC_MAX_GEOMETRY)
		return foreign_be64(ft + 48) / 512 * 512;
	return chs * 512;
}

static int vpc_load_dynamic(struct vpc_disk *v, uint64_t dyn_off)
{
	uint8_t dh[VPC_DYN_HDR], *raw;
	uint64_t bat_off, cover, end;
	int err;

	err = foreign_read_meta(&v->f, dh, sizeof(dh), dyn_off);
	if (err || memcmp(dh, "cxsparse", 8))
		return -EINVAL;
	bat_off = foreign_be64(dh + 16);
	v->bat_entries = foreign_be32(dh + 28);
	v->block_size = foreign_be32(dh + 32);
	if (v->block_size < 512 || v->block_size > VPC_MAX_BLOCK || !IS_POW2(v->block_size))
		return -EINVAL;
	/* The BAT must cover the disk and lie inside the file. */
	if (ckd_mul(&cover, (uint64_t)v->bat_entries, (uint64_t)v->block_size) ||
	    cover < v->f.d.size || ckd_add(&end, bat_off, (uint64_t)v->bat_entries * 4) ||
	    end > v->f.file_size)
		return -EINVAL;
	v->bitmap_bytes = ALIGN_UP(v->block_size / 512 / 8, 512u);
	raw = malloc((size_t)v->bat_entries * 4 + 1);
	v->bat = calloc((size_t)v->bat_entries + 1, 4);
	if (!raw || !v->bat) {
		free(raw);
		return -ENOMEM;
	}
	err = foreign_read_meta(&v->f, raw, (size_t)v->bat_entries * 4, bat_off);
	for (uint32_t i = 0; !err && i < v->bat_entries; i++)
		v->bat[i] = foreign_be32(raw + 4 * (size_t)i);
	free(raw);
	return err;
}

static int vpc_map(struct foreign_disk *fdisk, uint64_t off, uint64_t max, struct foreign_map *m)
{
	struct vpc_disk *v = container_of(fdisk, struct vpc_disk, f);
	uint64_t blk, in, host;

	if (v->type == VPC_TYPE_FIXED) {
		m->kind = DISK_EXTENT_DATA;
		m->len = max;
		m->host_off = off;
		return 0;
	}
	blk = off / v->block_size;
	in = off % v->block_size;
	m->len = KVMM_MIN(max, v->block_size - in);
	m->kind = DISK_EXTENT_UNALLOC;
	if (blk >= v->bat_entries)
		return -EIO;
	if (v->bat[blk] == VPC_BAT_FREE)
		return 0;
	host = (uint64_t)v->bat[blk] * 512 + v->bitmap_bytes + in; /* < 2^41 + 2^29 */
	if (host >= fdisk->file_size) {
		log_err("vpc: %s: block %llu at 0x%llx is outside the file", fdisk->d.filename,
			(unsigned long long)blk, (unsigned long long)host);
		return -EIO;
	}
	m->kind = DISK_EXTENT_DATA;
	m->host_off = host;
	return 0;
}

static void vpc_fini(struct foreign_disk *fdisk)
{
	free(container_of(fdisk, struct vpc_disk, f)->bat);
}

static const struct foreign_fmt vpc_fmt = {.map = vpc_map, .fini = vpc_fini};
static const struct disk_ops vpc_ops = FOREIGN_DISK_OPS("vpc");

/* Read the footer: a copy at offset 0 (dynamic disks) or the last 512 bytes (fixed disks). */
static int vpc_read_footer(struct vpc_disk *v, uint8_t *ft)
{
	int err;

	if (v->f.file_size < VPC_FOOTER)
		return -EINVAL;
	err = foreign_read_meta(&v->f, ft, VPC_FOOTER, 0);
	if (!err && !memcmp(ft, "conectix", 8))
		return 0;
	err = foreign_read_meta(&v->f, ft, VPC_FOOTER, v->f.file_size - VPC_FOOTER);
	if (err || memcmp(ft, "conectix", 8))
		return -EINVAL;
	return 0;
}

static int vpc_open(int fd, const char *path, const struct disk_open_opts *o, struct disk **out)
{
	struct vpc_disk *v = calloc(1, sizeof(*v));
	uint8_t ft[VPC_FOOTER];
	int err;

	if (!v)
		return -ENOMEM;
	err = foreign_init(&v->f, &vpc_ops, &vpc_fmt, fd, path, o);
	if (err) {
		free(v);
		return err;
	}
	err = vpc_read_footer(v, ft);
	if (err)
		goto err_abort;
	v->type = foreign_be32(ft + 60);
	v->f.d.size = vpc_virtual_size(ft);
	if (v->f.d.size > (1ull << 62)) {
		err = -EINVAL;
		goto err_abort;
	}
	if (v->type == VPC_TYPE_FIXED) {
		if (v->f.d.size > v->f.file_size - VPC_FOOTER)
			err = -EINVAL;
	} else if (v->type == VPC_TYPE_DYNAMIC) {
		err = vpc_load_dynamic(v, foreign_be64(ft + 16));
	} else {
		err = -ENOTSUP; /* differencing or unknown */
	}
	if (err)
		goto err_abort;
	*out = &v->f.d;
	return 0;

err_abort:
	log_err("vpc: %s: invalid or unsupported image", path);
	foreign_abort(&v->f);
	free(v);
	return err;
}

const struct disk_format disk_format_vpc = {
    .name = "vpc",
    .probe = vpc_probe,
    .open = vpc_open,
};
