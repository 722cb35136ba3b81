/* block/foreign/vmdk.c — read-only VMDK hosted sparse extents: monolithicSparse and
 * streamOptimized (deflate-compressed grains with markers, grain directory in the footer).
 * Descriptor-file and flat/split variants are not supported (-ENOTSUP). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/ckd.h"
#include "base/log.h"
#include "block/foreign/foreign.h"
#include "block/formats.h"

#define VMDK_MAGIC	       0x564d444bu /* "KDMV" read little-endian */
#define VMDK_SECTOR	       512u
#define VMDK_FLAG_ZERO_GRAIN   (1u << 2)
#define VMDK_FLAG_COMPRESSED   (1u << 16)
#define VMDK_FLAG_MARKERS      (1u << 17)
#define VMDK_COMPRESS_DEFLATE  1
#define VMDK_GD_AT_END	       UINT64_MAX
#define VMDK_MAX_GRAIN_SECTORS 32768u /* 16 MiB grains */
#define VMDK_MAX_GTES	       4096u
#define VMDK_GT_CACHE	       16u
#define VMDK_MARKER_FOOTER     3u

struct vmdk_hdr {
	uint32_t version, flags;
	uint64_t capacity, grain_sectors, gd_offset;
	uint32_t num_gtes;
	uint16_t compress;
};

struct vmdk_gt_slot {
	uint32_t gd_index; /* UINT32_MAX: empty */
	uint32_t *gt;
};

struct vmdk_disk {
	struct foreign_disk f;
	struct vmdk_hdr h;
	uint64_t grain_bytes;
	uint32_t gd_entries;
	uint32_t *gd; /* sector offsets of the grain tables */
	struct vmdk_gt_slot cache[VMDK_GT_CACHE];
	unsigned next_victim;
	uint8_t *zbuf; /* compressed grain with its marker */
	size_t zbuf_len;
	uint8_t *grain;	       /* decompressed grain */
	uint64_t grain_cached; /* file offset of the grain in `grain`, UINT64_MAX: none */
};

static int vmdk_probe(const uint8_t *buf, size_t len)
{
	return len >= 4 && foreign_le32(buf) == VMDK_MAGIC ? 100 : 0;
}

/* Parse the 508 header bytes that follow the magic. */
static void vmdk_parse_hdr(const uint8_t *p, struct vmdk_hdr *h)
{
	h->version = foreign_le32(p + 0);
	h->flags = foreign_le32(p + 4);
	h->capacity = foreign_le64(p + 8);
	h->grain_sectors = foreign_le64(p + 16);
	h->num_gtes = foreign_le32(p + 40);
	h->gd_offset = foreign_le64(p + 52);
	h->compress = foreign_le16(p + 73);
}

/* streamOptimized: the header at 0 says "GD at end"; the footer at EOF-1536 has the real one. */
static int vmdk_read_footer(struct vmdk_disk *v)
{
	uint8_t ft[3 * VMDK_SECTOR];
	int err;

	if (v->f.file_size < 4 * VMDK_SECTOR)
		return -EINVAL;
	err = foreign_read_meta(&v->f, ft, sizeof(ft), v->f.file_size - sizeof(ft));
	if (err)
		return err;
	if (foreign_le32(ft + 12) != VMDK_MARKER_FOOTER ||
	    foreign_le32(ft + VMDK_SECTOR) != VMDK_MAGIC) {
		log_err("vmdk: %s: missing footer", v->f.d.filename);
		return -EINVAL;
	}
	vmdk_parse_hdr(ft + VMDK_SECTOR + 4, &v->h);
	return 0;
}

static int vmdk_check_hdr(struct vmdk_disk *v)
{
	const struct vmdk_hdr *h = &v->h;
	uint64_t gt_cover, n, gd_bytes, end;

	if (h->version < 1 || h->version > 3)
		return -ENOTSUP;
	if (h->grain_sectors == 0 || h->grain_sectors > VMDK_MAX_GRAIN_SECTORS ||
	    !IS_POW2(h->grain_sectors))
		return -EINVAL;
	if (h->num_gtes == 0 || h->num_gtes > VMDK_MAX_GTES)
		return -EINVAL;
	if (h->flags & VMDK_FLAG_COMPRESSED && h->compress != VMDK_COMPRESS_DEFLATE)
		return -ENOTSUP;
	if (ckd_mul(&v->f.d.size, h->capacity, (uint64_t)VMDK_SECTOR) || v->f.d.size > (1ull << 62))
		return -EINVAL;
	v->grain_bytes = h->grain_sectors * VMDK_SECTOR;
	gt_cover = v->grain_bytes * h->num_gtes; /* ≤ 2^24 * 2^12: no overflow */
	n = v->f.d.size / gt_cover + (v->f.d.size % gt_cover != 0);
	/* The grain directory must lie inside the file. */
	if (n > UINT32_MAX || ckd_mul(&gd_bytes, n, 4ull) || h->gd_offset == VMDK_GD_AT_END ||
	    ckd_mul(&end, h->gd_offset, (uint64_t)VMDK_SECTOR) || ckd_add(&end, end, gd_bytes) ||
	    end > v->f.file_size)
		return -EINVAL;
	v->gd_entries = (uint32_t)n;
	return 0;
}

static int vmdk_load(struct vmdk_disk *v)
{
	uint8_t *raw;
	int err;

	v->grain_cached = UINT64_MAX;
	for (unsigned i = 0; i < VMDK_GT_CACHE; i++)
		v->cache[i].gd_index = UINT32_MAX;
	raw = calloc(v->gd_entries ? v->gd_entries : 1, 4);
	v->gd = calloc(v->gd_entries ? v->gd_entries : 1, 4);
	if (!raw || !v->gd) {
		free(raw);
		return -ENOMEM;
	}
	err =
	    foreign_read_meta(&v->f, raw, (size_t)v->gd_entries * 4, v->h.gd_offset * VMDK_SECTOR);
	for (uint32_t i = 0; !err && i < v->gd_entries; i++)
		v->gd[i] = foreign_le32(raw + 4 * (size_t)i);
	free(raw);
	if (err || !(v->h.flags & VMDK_FLAG_COMPRESSED))
		return err;
	v->grain = malloc(v->grain_bytes);
	v->zbuf_len = 2 * v->grain_bytes + VMDK_SECTOR;
	v->zbuf = malloc(v->zbuf_len);
	return v->grain && v->zbuf ? 0 : -ENOMEM;
}

/* The grain table for directory entry gdi, loaded through a small round-robin cache. */
static int vmdk_get_gt(struct vmdk_disk *v, uint32_t gdi, const uint32_t **out)
{
	struct vmdk_gt_slot *s;
	uint8_t *raw;
	uint64_t off;
	int err;

	for (unsigned i = 0; i < VMDK_GT_CACHE; i++)
		if (v->cache[i].gd_index == gdi) {
			*out = v->cache[i].gt;
			return 0;
		}
	s = &v->cache[v->next_victim++ % VMDK_GT_CACHE];
	s->gd_index = UINT32_MAX;
	if (!s->gt && !(s->gt = calloc(v->h.num_gtes, 4)))
		return -ENOMEM;
	raw = malloc((size_t)v->h.num_gtes * 4);
	if (!raw)
		return -ENOMEM;
	off = (uint64_t)v->gd[gdi] * VMDK_SECTOR; /* u32 * 512: no overflow */
	err = foreign_read_meta(&v->f, raw, (size_t)v->h.num_gtes * 4, off);
	if (err) {
		log_err("vmdk: %s: grain table %u at 0x%llx is outside the file", v->f.d.filename,
			gdi, (unsigned long long)off);
		free(raw);
		return -EIO;
	}
	for (uint32_t i = 0; i < v->h.num_gtes; i++)
		s->gt[i] = foreign_le32(raw + 4 * (size_t)i);
	free(raw);
	s->gd_index = gdi;
	*out = s->gt;
	return 0;
}

static int vmdk_map(struct foreign_disk *fdisk, uint64_t off, uint64_t max, struct foreign_map *m)
{
	struct vmdk_disk *v = container_of(fdisk, struct vmdk_disk, f);
	uint64_t grain = off / v->grain_bytes, in = off % v->grain_bytes;
	uint32_t gdi = (uint32_t)(grain / v->h.num_gtes), gte;
	const uint32_t *gt;
	int err;

	m->len = KVMM_MIN(max, v->grain_bytes - in);
	m->kind = DISK_EXTENT_UNALLOC;
	if (gdi >= v->gd_entries || v->gd[gdi] == 0)
		return 0;
	err = vmdk_get_gt(v, gdi, &gt);
	if (err)
		return err;
	gte = gt[grain % v->h.num_gtes];
	if (gte == 0)
		return 0;
	if (gte == 1 && v->h.flags & VMDK_FLAG_ZERO_GRAIN) {
		m->kind = DISK_EXTENT_ZERO;
		return 0;
	}
	m->kind = DISK_EXTENT_DATA;
	if (v->h.flags & VMDK_FLAG_COMPRESSED) {
		m->compressed = true;
		m->unit_off = (uint64_t)gte * VMDK_SECTOR;
		m->unit_pos = in;
		return 0;
	}
	m->host_off = (uint64_t)gte * VMDK_SECTOR + in; /* < 2^41 + 2^24 */
	return 0;
}

/* Inflate the grain at file offset `at` into v->grain (zlib stream after a 12-byte marker). */
static int vmdk_inflate(struct vmdk_disk *v, uint64_t at)
{
	uLongf out_len = (uLongf)v->grain_bytes;
	uint64_t avail, clen;
	size_t hdr = (v->h.flags & VMDK_FLAG_MARKERS) ? 12 : 0;
	int err;

	if (at >= v->f.file_size)
		return -EIO;
	avail = KVMM_MIN((uint64_t)v->zbuf_len, v->f.file_size - at);
	err = disk_file_pread(v->f.d.fd, v->zbuf, (size_t)avail, at);
	if (err)
		return err;
	clen = avail - hdr;
	if (hdr) {
		if (avail < hdr)
			return -EIO;
		clen = foreign_le32(v->zbuf + 8);
		if (clen > avail - hdr) {
			log_err("vmdk: %s: compressed grain at 0x%llx has bad size %llu",
				v->f.d.filename, (unsigned long long)at, (unsigned long long)clen);
			return -EIO;
		}
	}
	memset(v->grain, 0, v->grain_bytes);
	if (uncompress(v->grain, &out_len, v->zbuf + hdr, (uLong)clen) != Z_OK) {
		log_err("vmdk: %s: cannot inflate grain at 0x%llx", v->f.d.filename,
			(unsigned long long)at);
		return -EIO;
	}
	v->grain_cached = at;
	return 0;
}

static int vmdk_read_compressed(struct foreign_disk *fdisk, const struct foreign_map *m, void *buf,
				size_t len)
{
	struct vmdk_disk *v = container_of(fdisk, struct vmdk_disk, f);
	int err;

	if (m->unit_pos > v->grain_bytes || len > v->grain_bytes - m->unit_pos)
		return -EIO;
	if (v->grain_cached != m->unit_off) {
		v->grain_cached = UINT64_MAX;
		err = vmdk_inflate(v, m->unit_off);
		if (err)
			return err;
	}
	memcpy(buf, v->grain + m->unit_pos, len);
	return 0;
}

static void vmdk_fini(struct foreign_disk *fdisk)
{
	struct vmdk_disk *v = container_of(fdisk, struct vmdk_disk, f);

	for (unsigned i = 0; i < VMDK_GT_CACHE; i++)
		free(v->cache[i].gt);
	free(v->gd);
	free(v->zbuf);
	free(v->grain);
}

static const struct foreign_fmt vmdk_fmt = {
    .map = vmdk_map,
    .read_compressed = vmdk_read_compressed,
    .fini = vmdk_fini,
};

static const struct disk_ops vmdk_ops = FOREIGN_DISK_OPS("vmdk");

static int vmdk_open(int fd, const char *path, const struct disk_open_opts *o, struct disk **out)
{
	struct vmdk_disk *v = calloc(1, sizeof(*v));
	uint8_t hdr[VMDK_SECTOR];
	int err;

	if (!v)
		return -ENOMEM;
	err = foreign_init(&v->f, &vmdk_ops, &vmdk_fmt, fd, path, o);
	if (err) {
		free(v);
		return err;
	}
	err = foreign_read_meta(&v->f, hdr, sizeof(hdr), 0);
	if (err || foreign_le32(hdr) != VMDK_MAGIC) {
		log_err("vmdk: %s: not a VMDK sparse extent (descriptor files are not supported)",
			path);
		err = err ? err : -ENOTSUP;
		goto err_abort;
	}
	vmdk_parse_hdr(hdr + 4, &v->h);
	if (v->h.gd_offset == VMDK_GD_AT_END) {
		err = vmdk_read_footer(v);
		if (err)
			goto err_abort;
	}
	err = vmdk_check_hdr(v);
	if (err) {
		log_err("vmdk: %s: invalid or unsupported header", path);
		goto err_abort;
	}
	err = vmdk_load(v);
	if (err)
		goto err_abort;
	*out = &v->f.d;
	return 0;

err_abort:
	foreign_abort(&v->f);
	free(v);
	return err;
}

const struct disk_format disk_format_vmdk = {
    .name = "vmdk",
    .probe = vmdk_probe,
    .open = vmdk_open,
};
