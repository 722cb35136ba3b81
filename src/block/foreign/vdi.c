/* block/foreign/vdi.c — read-only VirtualBox VDI (header version 1.1, dynamic and static). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/ckd.h"
#include "base/log.h"
#include "block/foreign/foreign.h"
#include "block/formats.h"

#define VDI_SIGNATURE	 0xbeda107fu
#define VDI_VERSION_1_1	 0x00010001u
#define VDI_HDR_SIZE	 512u
#define VDI_TYPE_DYNAMIC 1u
#define VDI_TYPE_STATIC	 2u
#define VDI_UNALLOCATED	 0xffffffffu
#define VDI_DISCARDED	 0xfffffffeu
#define VDI_MIN_BLOCK	 4096u
#define VDI_MAX_BLOCK	 (64u << 20)

struct vdi_disk {
	struct foreign_disk f;
	uint32_t block_size, blocks;
	uint64_t data_off;
	uint32_t *bmap;
};

static int vdi_probe(const uint8_t *buf, size_t len)
{
	return len >= 0x48 && foreign_le32(buf + 0x40) == VDI_SIGNATURE ? 100 : 0;
}

static int vdi_check(struct vdi_disk *v, const uint8_t *h)
{
	uint32_t type = foreign_le32(h + 0x4c), bmap_off = foreign_le32(h + 0x154);
	uint64_t size = foreign_le64(h + 0x170), need, end;

	if (foreign_le32(h + 0x44) != VDI_VERSION_1_1)
		return -ENOTSUP;
	if (type != VDI_TYPE_DYNAMIC && type != VDI_TYPE_STATIC)
		return -ENOTSUP;
	if (foreign_le32(h + 0x168) != 512 || foreign_le32(h + 0x17c) != 0)
		return -EINVAL; /* sector size, block_extra */
	v->block_size = foreign_le32(h + 0x178);
	v->blocks = foreign_le32(h + 0x180);
	v->data_off = foreign_le32(h + 0x158);
	if (v->block_size < VDI_MIN_BLOCK || v->block_size > VDI_MAX_BLOCK ||
	    !IS_POW2(v->block_size) || size > (1ull << 62))
		return -EINVAL;
	need = size / v->block_size + (size % v->block_size != 0);
	if (need > v->blocks)
		return -EINVAL; /* the block map does not cover the disk */
	/* The block map lies between the header and the data, inside the file. */
	if (bmap_off < VDI_HDR_SIZE || ckd_add(&end, (uint64_t)bmap_off, (uint64_t)v->blocks * 4) ||
	    end > v->data_off || end > v->f.file_size)
		return -EINVAL;
	v->f.d.size = size;
	return 0;
}

static int vdi_load(struct vdi_disk *v, uint32_t bmap_off)
{
	uint8_t *raw = malloc((size_t)v->blocks * 4 + 1);
	int err;

	v->bmap = calloc((size_t)v->blocks + 1, 4);
	if (!raw || !v->bmap) {
		free(raw);
		return -ENOMEM;
	}
	err = foreign_read_meta(&v->f, raw, (size_t)v->blocks * 4, bmap_off);
	for (uint32_t i = 0; !err && i < v->blocks; i++)
		v->bmap[i] = foreign_le32(raw + 4 * (size_t)i);
	free(raw);
	return err;
}

static int vdi_map(struct foreign_disk *fdisk, uint64_t off, uint64_t max, struct foreign_map *m)
{
	struct vdi_disk *v = container_of(fdisk, struct vdi_disk, f);
	uint64_t blk = off / v->block_size, in = off % v->block_size, host;
	uint32_t e;

	m->len = KVMM_MIN(max, v->block_size - in);
	m->kind = DISK_EXTENT_UNALLOC;
	if (blk >= v->blocks)
		return -EIO;
	e = v->bmap[blk];
	if (e == VDI_UNALLOCATED)
		return 0;
	if (e == VDI_DISCARDED) {
		m->kind = DISK_EXTENT_ZERO;
		return 0;
	}
	if (e >= v->blocks || ckd_mul(&host, (uint64_t)e, (uint64_t)v->block_size) ||
	    ckd_add(&host, host, v->data_off + in)) {
		log_err("vdi: %s: block map entry %llu = %u is out of range", fdisk->d.filename,
			(unsigned long long)blk, e);
		return -EIO;
	}
	m->kind = DISK_EXTENT_DATA;
	m->host_off = host;
	return 0;
}

static void vdi_fini(struct foreign_disk *fdisk)
{
	free(container_of(fdisk, struct vdi_disk, f)->bmap);
}

static const struct foreign_fmt vdi_fmt = {.map = vdi_map, .fini = vdi_fini};
static const struct disk_ops vdi_ops = FOREIGN_DISK_OPS("vdi");

static int vdi_open(int fd, const char *path, const struct disk_open_opts *o, struct disk **out)
{
	struct vdi_disk *v = calloc(1, sizeof(*v));
	uint8_t h[VDI_HDR_SIZE];
	int err;

	if (!v)
		return -ENOMEM;
	err = foreign_init(&v->f, &vdi_ops, &vdi_fmt, fd, path, o);
	if (err) {
		free(v);
		return err;
	}
	err = foreign_read_meta(&v->f, h, sizeof(h), 0);
	if (err || foreign_le32(h + 0x40) != VDI_SIGNATURE) {
		err = -EINVAL;
		goto err_abort;
	}
	err = vdi_check(v, h);
	if (!err)
		err = vdi_load(v, foreign_le32(h + 0x154));
	if (err)
		goto err_abort;
	*out = &v->f.d;
	return 0;

err_abort:
	log_err("vdi: %s: invalid or unsupported image", path);
	foreign_abort(&v->f);
	free(v);
	return err;
}

const struct disk_format disk_format_vdi = {
    .name = "vdi",
    .probe = vdi_probe,
    .open = vdi_open,
};
