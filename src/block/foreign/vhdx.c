/* block/foreign/vhdx.c — read-only VHDX: dynamic and fixed disks without a parent and with an
 * empty log. Headers and region tables are checked with CRC-32C; the current header is the valid
 * one with the larger sequence number. Differencing disks and images with a pending log are
 * refused (-ENOTSUP). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/ckd.h"
#include "base/log.h"
#include "block/foreign/foreign.h"
#include "block/formats.h"

#define VHDX_KiB      1024ull
#define VHDX_MiB      (1024ull * 1024)
#define VHDX_HDR1     (64 * VHDX_KiB)
#define VHDX_HDR2     (128 * VHDX_KiB)
#define VHDX_HDR_LEN  (4 * VHDX_KiB)
#define VHDX_RT1      (192 * VHDX_KiB)
#define VHDX_RT2      (256 * VHDX_KiB)
#define VHDX_RT_LEN   (64 * VHDX_KiB)
#define VHDX_RT_MAX   2047u
#define VHDX_META_HDR 32u
#define VHDX_META_MAX 2047u
#define VHDX_MAX_SIZE (64ull * 1024 * 1024 * 1024 * 1024)
#define VHDX_MAX_BAT  (1ull << 28) /* entries: 2 GiB of table */

enum vhdx_bat_state {
	VHDX_BAT_NOT_PRESENT = 0,
	VHDX_BAT_UNDEFINED = 1,
	VHDX_BAT_ZERO = 2,
	VHDX_BAT_UNMAPPED = 3,
	VHDX_BAT_FULL = 6,
	VHDX_BAT_PARTIAL = 7,
};

/* GUIDs in on-disk byte order (first three fields little-endian). */
static const uint8_t vhdx_guid_bat[16] = {0x66, 0x77, 0xc2, 0x2d, 0x23, 0xf6, 0x00, 0x42,
					  0x9d, 0x64, 0x11, 0x5e, 0x9b, 0xfd, 0x4a, 0x08};
static const uint8_t vhdx_guid_meta[16] = {0x06, 0xa2, 0x7c, 0x8b, 0x90, 0x47, 0x9a, 0x4b,
					   0xb8, 0xfe, 0x57, 0x5f, 0x05, 0x0f, 0x88, 0x6e};
static const uint8_t vhdx_guid_fparams[16] = {0x37, 0x67, 0xa1, 0xca, 0x36, 0xfa, 0x43, 0x4d,
					      0xb3, 0xb6, 0x33, 0xf0, 0xaa, 0x44, 0xe7, 0x6b};
static const uint8_t vhdx_guid_vsize[16] = {0x24, 0x42, 0xa5, 0x2f, 0x1b, 0xcd, 0x76, 0x48,
					    0xb2, 0x11, 0x5d, 0xbe, 0xd8, 0x3b, 0xf4, 0xb8};
static const uint8_t vhdx_guid_lss[16] = {0x1d, 0xbf, 0x41, 0x81, 0x6f, 0xa9, 0x09, 0x47,
					  0xba, 0x47, 0xf2, 0x33, 0xa8, 0xfa, 0xab, 0x5f};

struct vhdx_region {
	uint64_t off;
	uint32_t len;
};

struct vhdx_disk {
	struct foreign_disk f;
	uint32_t block_size, lss, chunk_ratio;
	uint64_t *bat;
	uint64_t bat_entries;
};

static int vhdx_probe(const uint8_t *buf, size_t len)
{
	return len >= 8 && !memcmp(buf, "vhdxfile", 8) ? 100 : 0;
}

/* CRC-32C of buf with the 4-byte checksum at offset 4 taken as zero. */
static bool vhdx_crc_ok(uint8_t *buf, size_t len)
{
	uint32_t want = foreign_le32(buf + 4), got;

	memset(buf + 4, 0, 4);
	got = foreign_crc32c(0, buf, len);
	buf[4] = (uint8_t)want;
	buf[5] = (uint8_t)(want >> 8);
	buf[6] = (uint8_t)(want >> 16);
	buf[7] = (uint8_t)(want >> 24);
	return got == want;
}

/* Pick the current header and refuse images whose log must be replayed. */
static int vhdx_headers(struct vhdx_disk *v, uint8_t *buf)
{
	static const uint8_t zero_guid[16];
	uint64_t best_seq = 0;
	bool found = false, log_pending = false;
	const uint64_t at[2] = {VHDX_HDR1, VHDX_HDR2};

	for (int i = 0; i < 2; i++) {
		int err = foreign_read_meta(&v->f, buf, VHDX_HDR_LEN, at[i]);

		if (err || memcmp(buf, "head", 4) || !vhdx_crc_ok(buf, VHDX_HDR_LEN))
			continue;
		if (foreign_le16(buf + 66) != 1)
			continue; /* version */
		if (!found || foreign_le64(buf + 8) > best_seq) {
			best_seq = foreign_le64(buf + 8);
			log_pending = memcmp(buf + 48, zero_guid, 16) != 0;
		}
		found = true;
	}
	if (!found)
		return -EINVAL;
	if (log_pending) {
		log_err("vhdx: %s: the log must be replayed first (not supported)",
			v->f.d.filename);
		return -ENOTSUP;
	}
	return 0;
}

/* Find the BAT and metadata regions in the first valid region table. */
static int vhdx_regions(struct vhdx_disk *v, uint8_t *buf, struct vhdx_region *bat,
			struct vhdx_region *meta)
{
	const uint64_t at[2] = {VHDX_RT1, VHDX_RT2};

	for (int t = 0; t < 2; t++) {
		uint32_t n;
		int err = foreign_read_meta(&v->f, buf, VHDX_RT_LEN, at[t]);

		if (err || memcmp(buf, "regi", 4) || !vhdx_crc_ok(buf, VHDX_RT_LEN))
			continue;
		n = foreign_le32(buf + 8);
		if (n > VHDX_RT_MAX)
			return -EINVAL;
		bat->len = meta->len = 0;
		for (uint32_t i = 0; i < n; i++) {
			const uint8_t *e = buf + 16 + 32 * (size_t)i;
			struct vhdx_region r = {foreign_le64(e + 16), foreign_le32(e + 24)};
			uint64_t end;

			if (ckd_add(&end, r.off, (uint64_t)r.len) || end > v->f.file_size ||
			    r.off % VHDX_MiB)
				return -EINVAL;
			if (!memcmp(e, vhdx_guid_bat, 16))
				*bat = r;
			else if (!memcmp(e, vhdx_guid_meta, 16))
				*meta = r;
			else if (foreign_le32(e + 28) & 1)
				return -ENOTSUP; /* unknown required region */
		}
		return bat->len && meta->len ? 0 : -EINVAL;
	}
	return -EINVAL;
}

/* Copy metadata item `id` (exactly len bytes) out of the metadata region in buf. */
static int vhdx_meta_item(const uint8_t *buf, uint32_t region_len, const uint8_t *id, void *out,
			  uint32_t len)
{
	uint16_t n = foreign_le16(buf + 10);

	if (n > VHDX_META_MAX || VHDX_META_HDR + 32u * n > region_len)
		return -EINVAL;
	for (uint16_t i = 0; i < n; i++) {
		const uint8_t *e = buf + VHDX_META_HDR + 32 * (size_t)i;
		uint32_t off = foreign_le32(e + 16), ilen = foreign_le32(e + 20);
		uint64_t end = (uint64_t)off + ilen;

		if (memcmp(e, id, 16))
			continue;
		if (ilen < len || end > region_len)
			return -EINVAL;
		memcpy(out, buf + off, len);
		return 0;
	}
	return -EINVAL;
}

static int vhdx_metadata(struct vhdx_disk *v, const struct vhdx_region *meta)
{
	uint8_t *buf = malloc(meta->len ? meta->len : 1), fp[8], vs[8], ls[4];
	int err;

	if (!buf)
		return -ENOMEM;
	err = meta->len < VHDX_META_HDR ? -EINVAL
					: foreign_read_meta(&v->f, buf, meta->len, meta->off);
	if (!err && memcmp(buf, "metadata", 8))
		err = -EINVAL;
	if (!err)
		err = vhdx_meta_item(buf, meta->len, vhdx_guid_fparams, fp, sizeof(fp));
	if (!err)
		err = vhdx_meta_item(buf, meta->len, vhdx_guid_vsize, vs, sizeof(vs));
	if (!err)
		err = vhdx_meta_item(buf, meta->len, vhdx_guid_lss, ls, sizeof(ls));
	free(buf);
	if (err)
		return err;
	if (foreign_le32(fp + 4) & 2)
		return -ENOTSUP; /* has a parent */
	v->block_size = foreign_le32(fp);
	v->lss = foreign_le32(ls);
	v->f.d.size = foreign_le64(vs);
	if (v->block_size < VHDX_MiB || v->block_size > 256 * VHDX_MiB || !IS_POW2(v->block_size))
		return -EINVAL;
	if ((v->lss != 512 && v->lss != 4096) || v->f.d.size > VHDX_MAX_SIZE ||
	    v->f.d.size % v->lss)
		return -EINVAL;
	v->chunk_ratio = (uint32_t)(((1ull << 23) * v->lss) / v->block_size);
	return 0;
}

static int vhdx_load_bat(struct vhdx_disk *v, const struct vhdx_region *bat)
{
	uint64_t blocks = v->f.d.size / v->block_size + (v->f.d.size % v->block_size != 0);
	uint8_t *raw;
	int err;

	/* Payload entries plus one sector-bitmap entry after every chunk_ratio of them. */
	v->bat_entries = blocks ? blocks + (blocks - 1) / v->chunk_ratio : 0;
	if (v->bat_entries > VHDX_MAX_BAT || v->bat_entries * 8 > bat->len)
		return -EINVAL;
	raw = malloc(v->bat_entries * 8 + 1);
	v->bat = calloc(v->bat_entries + 1, 8);
	if (!raw || !v->bat) {
		free(raw);
		return -ENOMEM;
	}
	err = foreign_read_meta(&v->f, raw, v->bat_entries * 8, bat->off);
	for (uint64_t i = 0; !err && i < v->bat_entries; i++)
		v->bat[i] = foreign_le64(raw + 8 * i);
	free(raw);
	return err;
}

static int vhdx_map(struct foreign_disk *fdisk, uint64_t off, uint64_t max, struct foreign_map *m)
{
	struct vhdx_disk *v = container_of(fdisk, struct vhdx_disk, f);
	uint64_t blk = off / v->block_size, in = off % v->block_size, idx, e, host;

	m->len = KVMM_MIN(max, v->block_size - in);
	m->kind = DISK_EXTENT_UNALLOC;
	idx = blk + blk / v->chunk_ratio;
	if (idx >= v->bat_entries)
		return -EIO;
	e = v->bat[idx];
	switch (e & 7) {
	case VHDX_BAT_NOT_PRESENT:
	case VHDX_BAT_UNDEFINED:
		return 0;
	case VHDX_BAT_ZERO:
	case VHDX_BAT_UNMAPPED:
		m->kind = DISK_EXTENT_ZERO;
		return 0;
	case VHDX_BAT_FULL:
		/* (2^44 - 1) MiB + up to 256 MiB can wrap: check the sum. */
		if (ckd_add(&host, (e >> 20) * VHDX_MiB, in) || host >= fdisk->file_size) {
			log_err("vhdx: %s: block %llu at 0x%llx is outside the file",
				fdisk->d.filename, (unsigned long long)blk,
				(unsigned long long)host);
			return -EIO;
		}
		m->kind = DISK_EXTENT_DATA;
		m->host_off = host;
		return 0;
	default:
		log_err("vhdx: %s: block %llu has unsupported state %u", fdisk->d.filename,
			(unsigned long long)blk, (unsigned)(e & 7));
		return -EIO;
	}
}

static void vhdx_fini(struct foreign_disk *fdisk)
{
	free(container_of(fdisk, struct vhdx_disk, f)->bat);
}

static const struct foreign_fmt vhdx_fmt = {.map = vhdx_map, .fini = vhdx_fini};
static const struct disk_ops vhdx_ops = FOREIGN_DISK_OPS("vhdx");

static int vhdx_parse(struct vhdx_disk *v)
{
	struct vhdx_region bat = {0}, meta = {0};
	uint8_t *buf = malloc(VHDX_RT_LEN);
	int err;

	if (!buf)
		return -ENOMEM;
	err = foreign_read_meta(&v->f, buf, 8, 0);
	if (!err && memcmp(buf, "vhdxfile", 8))
		err = -EINVAL;
	if (!err)
		err = vhdx_headers(v, buf);
	if (!err)
		err = vhdx_regions(v, buf, &bat, &meta);
	free(buf);
	if (!err)
		err = vhdx_metadata(v, &meta);
	if (!err)
		err = vhdx_load_bat(v, &bat);
	return err;
}

static int vhdx_open(int fd, const char *path, const struct disk_open_opts *o, struct disk **out)
{
	struct vhdx_disk *v = calloc(1, sizeof(*v));
	int err;

	if (!v)
		return -ENOMEM;
	err = foreign_init(&v->f, &vhdx_ops, &vhdx_fmt, fd, path, o);
	if (err) {
		free(v);
		return err;
	}
	err = vhdx_parse(v);
	if (err) {
		log_err("vhdx: %s: invalid or unsupported image", path);
		foreign_abort(&v->f);
		free(v);
		return err;
	}
	*out = &v->f.d;
	return 0;
}

const struct disk_format disk_format_vhdx = {
    .name = "vhdx",
    .probe = vhdx_probe,
    .open = vhdx_open,
};
