/* block/qcow2/header.c — parse, validate and write the qcow2 header, its extensions, the L1
 * table and the snapshot table. Everything read here comes from an untrusted file: each field is
 * checked against the spec limits and the file size before use. Caller holds s->lock (or owns s
 * exclusively during open), except for the public qcow2_set_backing() and qcow2_make_empty()
 * (block/qcow2.h), which take it themselves and must not run concurrently with I/O. */
#include "block/qcow2/qcow2.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/ckd.h"

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return be32toh(v);
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return be64toh(v);
}

static void wr32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, 4);
}

static void wr64(uint8_t *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, 8);
}

/* A table of n_bytes at off must be cluster aligned, not overflow and lie inside the file. */
static int check_table(struct qcow2 *s, uint64_t off, uint64_t n_bytes, uint64_t file_size,
		       const char *what)
{
	uint64_t end;

	if (!qcow2_is_aligned(s, off)) {
		log_err("qcow2: %s: %s offset %#llx is not cluster aligned", s->d.filename, what,
			(unsigned long long)off);
		return -EINVAL;
	}
	if (ckd_add(&end, off, n_bytes) || end > file_size || (n_bytes && off == 0)) {
		log_err("qcow2: %s: %s [%#llx, +%llu) lies outside the file (%llu bytes)",
			s->d.filename, what, (unsigned long long)off, (unsigned long long)n_bytes,
			(unsigned long long)file_size);
		return -EINVAL;
	}
	return 0;
}

static void report_unknown_features(struct qcow2 *s, const uint8_t *hc, uint64_t unknown)
{
	/* Names come from the image's feature table, when it has one. */
	for (int bit = 0; bit < 64; bit++) {
		const char *name = "unknown";
		char buf[47];

		if (!(unknown & (1ull << bit)))
			continue;
		for (unsigned i = 0; hc && i < s->nb_exts; i++) {
			const struct qcow2_unknown_ext *e = &s->exts[i];

			if (e->type != QCOW2_EXT_FEATURE_TABLE)
				continue;
			for (uint32_t j = 0; j + 48 <= e->len; j += 48) {
				if (e->data[j] == 0 && e->data[j + 1] == bit) {
					memcpy(buf, e->data + j + 2, 46);
					buf[46] = 0;
					name = buf;
				}
			}
		}
		log_err("qcow2: %s: unsupported incompatible feature bit %d (%s)", s->d.filename,
			bit, name);
	}
}

static int parse_extensions(struct qcow2 *s, const uint8_t *hc, uint64_t start, uint64_t end)
{
	uint64_t pos = start;

	while (pos + 8 <= end) {
		uint32_t type = rd32(hc + pos), len = rd32(hc + pos + 4);
		uint64_t dend, next;
		struct qcow2_unknown_ext *ne;

		pos += 8;
		if (type == QCOW2_EXT_END)
			return 0;
		if (ckd_add(&dend, pos, (uint64_t)len) || dend > end) {
			log_err("qcow2: %s: header extension %#x overflows the header cluster",
				s->d.filename, type);
			return -EINVAL;
		}
		next = ALIGN_UP(dend, 8ull);
		switch (type) {
		case QCOW2_EXT_BACKING_FORMAT:
			free(s->d.backing_fmt);
			s->d.backing_fmt = strndup((const char *)hc + pos, len);
			if (!s->d.backing_fmt)
				return -ENOMEM;
			break;
		case QCOW2_EXT_CRYPTO:
			log_err("qcow2: %s: encrypted images are not supported", s->d.filename);
			return -ENOTSUP;
		case QCOW2_EXT_DATA_FILE:
			log_err("qcow2: %s: external data files are not supported", s->d.filename);
			return -ENOTSUP;
		case QCOW2_EXT_BITMAPS:
			/* Autoclear "bitmaps": dropped (bit cleared) when we open read-write. */
			break;
		default:
			/* Unknown (and the feature table): preserved verbatim on header rewrite. */
			if (s->nb_exts >= 64) {
				log_err("qcow2: %s: too many header extensions", s->d.filename);
				return -EINVAL;
			}
			ne = realloc(s->exts, (s->nb_exts + 1) * sizeof(*ne));
			if (!ne)
				return -ENOMEM;
			s->exts = ne;
			ne = &s->exts[s->nb_exts];
			ne->type = type;
			ne->len = len;
			ne->data = malloc(len ? len : 1);
			if (!ne->data)
				return -ENOMEM;
			memcpy(ne->data, hc + pos, len);
			s->nb_exts++;
			break;
		}
		pos = next;
	}
	return 0;
}

static int parse_fixed(struct qcow2 *s, const uint8_t *h)
{
	const char *fn = s->d.filename;

	if (rd32(h) != QCOW2_MAGIC) {
		log_err("qcow2: %s: bad magic", fn);
		return -EINVAL;
	}
	s->version = rd32(h + 4);
	if (s->version != 2 && s->version != 3) {
		log_err("qcow2: %s: unsupported version %u", fn, s->version);
		return -ENOTSUP;
	}
	s->cluster_bits = rd32(h + 20);
	if (s->cluster_bits < QCOW2_MIN_CLUSTER_BITS || s->cluster_bits > QCOW2_MAX_CLUSTER_BITS) {
		log_err("qcow2: %s: unsupported cluster size 2^%u", fn, s->cluster_bits);
		return -EINVAL;
	}
	s->cluster_size = 1u << s->cluster_bits;
	if (s->version == 2) {
		s->header_length = QCOW2_V2_HEADER_LEN;
		s->refcount_order = 4;
		s->incompat = s->compat = s->autoclear = 0;
	} else {
		s->incompat = rd64(h + 72);
		s->compat = rd64(h + 80);
		s->autoclear = rd64(h + 88);
		s->refcount_order = rd32(h + 96);
		s->header_length = rd32(h + 100);
		if (s->header_length < QCOW2_V3_HEADER_LEN || s->header_length % 8 ||
		    s->header_length > s->cluster_size) {
			log_err("qcow2: %s: invalid header length %u", fn, s->header_length);
			return -EINVAL;
		}
		if (s->refcount_order > 6) {
			log_err("qcow2: %s: invalid refcount order %u", fn, s->refcount_order);
			return -EINVAL;
		}
	}
	s->compression_type = s->header_length > QCOW2_V3_HEADER_LEN ? h[104] : 0;
	if (rd32(h + 32)) {
		log_err("qcow2: %s: encrypted images are not supported", fn);
		return -ENOTSUP;
	}
	s->d.size = rd64(h + 24);
	s->l1_size = rd32(h + 36);
	s->l1_offset = rd64(h + 40);
	s->reft_offset = rd64(h + 48);
	s->reft_clusters = rd32(h + 56);
	s->nb_snapshots = rd32(h + 60);
	s->snapshots_offset = rd64(h + 64);
	s->backing_offset = rd64(h + 8);
	s->backing_len = rd32(h + 16);
	return 0;
}

static int check_features(struct qcow2 *s, const uint8_t *hc)
{
	const char *fn = s->d.filename;
	uint64_t unknown = s->incompat & ~QCOW2_INCOMPAT_SUPPORTED;

	if (unknown) {
		report_unknown_features(s, hc, unknown);
		return -ENOTSUP;
	}
	if (s->incompat & QCOW2_INCOMPAT_COMPRESSION) {
		if (s->compression_type != QCOW2_COMPRESSION_ZSTD) {
			log_err("qcow2: %s: unsupported compression type %u", fn,
				s->compression_type);
			return -ENOTSUP;
		}
	} else if (s->compression_type != QCOW2_COMPRESSION_ZLIB) {
		log_err("qcow2: %s: compression type %u without the compression-type feature bit",
			fn, s->compression_type);
		return -EINVAL;
	}
	s->ext_l2 = s->incompat & QCOW2_INCOMPAT_EXTL2;
	if (s->ext_l2 && s->cluster_bits < 14) {
		log_err("qcow2: %s: extended L2 entries need clusters of at least 16 KiB", fn);
		return -EINVAL;
	}
	return 0;
}

static void derive(struct qcow2 *s)
{
	s->l2_entry_size = s->ext_l2 ? 16 : 8;
	s->l2_bits = s->cluster_bits - (s->ext_l2 ? 4 : 3);
	s->sc_bits = s->ext_l2 ? s->cluster_bits - 5 : s->cluster_bits;
	s->rb_bits = s->cluster_bits + 3 - s->refcount_order;
	s->refcount_max =
	    s->refcount_order == 6 ? UINT64_MAX : (1ull << (1u << s->refcount_order)) - 1;
	s->csize_shift = 62 - (s->cluster_bits - 8);
	s->csize_mask = (1ull << (s->cluster_bits - 8)) - 1;
}

static int check_geometry(struct qcow2 *s, uint64_t fsz)
{
	const char *fn = s->d.filename;
	uint64_t need, rb_bytes;
	int err;

	if (s->d.size > (1ull << 62)) { /* same bound as QEMU's QCOW_MAX_... via int64 checks */
		log_err("qcow2: %s: virtual size %llu too large", fn,
			(unsigned long long)s->d.size);
		return -EINVAL;
	}
	if ((uint64_t)s->l1_size * 8 > QCOW2_MAX_L1_BYTES) {
		log_err("qcow2: %s: active L1 table too large (%u entries)", fn, s->l1_size);
		return -EINVAL;
	}
	need = qcow2_size_to_l1(s->cluster_bits, s->l2_bits, s->d.size);
	if (s->l1_size < need) {
		log_err("qcow2: %s: L1 table too small (%u entries, need %llu)", fn, s->l1_size,
			(unsigned long long)need);
		return -EINVAL;
	}
	err = check_table(s, s->l1_offset, (uint64_t)s->l1_size * 8, fsz, "L1 table");
	if (err)
		return err;
	rb_bytes = (uint64_t)s->reft_clusters << s->cluster_bits;
	if (!s->reft_clusters || rb_bytes > QCOW2_MAX_REFTABLE_BYTES) {
		log_err("qcow2: %s: invalid refcount table size (%u clusters)", fn,
			s->reft_clusters);
		return -EINVAL;
	}
	err = check_table(s, s->reft_offset, rb_bytes, fsz, "refcount table");
	if (err)
		return err;
	if (s->nb_snapshots > QCOW2_MAX_SNAPSHOTS) {
		log_err("qcow2: %s: too many snapshots (%u)", fn, s->nb_snapshots);
		return -EINVAL;
	}
	if (s->nb_snapshots) {
		err = check_table(s, s->snapshots_offset, 40, fsz, "snapshot table");
		if (err)
			return err;
	}
	if (s->backing_offset) {
		uint64_t end;

		if (s->backing_len > QCOW2_MAX_BACKING_NAME || s->backing_len == 0 ||
		    ckd_add(&end, s->backing_offset, (uint64_t)s->backing_len) ||
		    end > s->cluster_size || s->backing_offset < s->header_length) {
			log_err("qcow2: %s: invalid backing file name location", fn);
			return -EINVAL;
		}
	}
	return 0;
}

static int read_tables(struct qcow2 *s)
{
	uint64_t n;
	int err;

	s->l1 = calloc(s->l1_size ? s->l1_size : 1, 8);
	if (!s->l1)
		return -ENOMEM;
	err = disk_file_pread(s->d.fd, s->l1, (size_t)s->l1_size * 8, s->l1_offset);
	if (err)
		return err;
	for (uint32_t i = 0; i < s->l1_size; i++)
		s->l1[i] = be64toh(s->l1[i]);
	s->reft_entries = ((uint64_t)s->reft_clusters << s->cluster_bits) / 8;
	n = s->reft_entries;
	s->reft = calloc(n, 8);
	if (!s->reft)
		return -ENOMEM;
	err = disk_file_pread(s->d.fd, s->reft, (size_t)n * 8, s->reft_offset);
	if (err)
		return err;
	for (uint64_t i = 0; i < n; i++) {
		s->reft[i] = be64toh(s->reft[i]);
		if (s->reft[i] & ~QCOW2_REFT_OFFSET_MASK || !qcow2_is_aligned(s, s->reft[i])) {
			log_err("qcow2: %s: refcount table entry %llu is invalid", s->d.filename,
				(unsigned long long)i);
			return -EINVAL;
		}
	}
	qcow2_reft_rescan(s);
	return 0;
}

int qcow2_header_read(struct qcow2 *s, uint64_t fsz)
{
	uint8_t h[sizeof(struct qcow2_header_be)];
	uint8_t *hc;
	uint64_t ext_end;
	int err;

	err = disk_file_pread(s->d.fd, h, sizeof(h), 0);
	if (err)
		return err;
	err = parse_fixed(s, h);
	if (err)
		return err;
	hc = malloc(s->cluster_size);
	if (!hc)
		return -ENOMEM;
	err = disk_file_pread(s->d.fd, hc, s->cluster_size, 0);
	if (err)
		goto out;
	if (s->header_length > sizeof(struct qcow2_header_be)) {
		s->hdr_tail = malloc(s->header_length - sizeof(struct qcow2_header_be));
		if (!s->hdr_tail) {
			err = -ENOMEM;
			goto out;
		}
		memcpy(s->hdr_tail, hc + sizeof(struct qcow2_header_be),
		       s->header_length - sizeof(struct qcow2_header_be));
	}
	ext_end = s->backing_offset && s->backing_offset < s->cluster_size ? s->backing_offset
									   : s->cluster_size;
	err = parse_extensions(s, hc, s->header_length, ext_end);
	if (err)
		goto out;
	err = check_features(s, hc);
	if (err)
		goto out;
	derive(s);
	err = check_geometry(s, fsz);
	if (err)
		goto out;
	if (s->backing_offset) {
		s->d.backing_name = strndup((const char *)hc + s->backing_offset, s->backing_len);
		if (!s->d.backing_name) {
			err = -ENOMEM;
			goto out;
		}
	}
	err = read_tables(s);
out:
	free(hc);
	return err;
}

static uint32_t put_ext(uint8_t *buf, uint32_t pos, uint32_t cap, uint32_t type, const void *data,
			uint32_t len)
{
	uint32_t need = 8 + ALIGN_UP(len, 8u);

	if (pos == UINT32_MAX || pos + need > cap)
		return UINT32_MAX;
	wr32(buf + pos, type);
	wr32(buf + pos + 4, len);
	if (len)
		memcpy(buf + pos + 8, data, len);
	return pos + need;
}

/* Feature name table we advertise (as QEMU does). */
static uint32_t put_feature_table(uint8_t *buf, uint32_t pos, uint32_t cap)
{
	static const struct {
		uint8_t type, bit;
		const char *name;
	} f[] = {
	    {0, 0, "dirty bit"},	{0, 1, "corrupt bit"},	       {0, 2, "external data file"},
	    {0, 3, "compression type"}, {0, 4, "extended L2 entries"}, {1, 0, "lazy refcounts"},
	    {2, 0, "bitmaps"},		{2, 1, "raw external data"},
	};
	struct qcow2_feature_name t[ARRAY_SIZE(f)];

	memset(t, 0, sizeof(t));
	for (size_t i = 0; i < ARRAY_SIZE(f); i++) {
		t[i].type = f[i].type;
		t[i].bit = f[i].bit;
		strncpy(t[i].name, f[i].name, sizeof(t[i].name));
	}
	return put_ext(buf, pos, cap, QCOW2_EXT_FEATURE_TABLE, t, sizeof(t));
}

int qcow2_header_write(struct qcow2 *s)
{
	uint32_t cs = s->cluster_size, pos;
	uint8_t *b = calloc(1, cs);
	int err = -ENOSPC;

	if (!b)
		return -ENOMEM;
	wr32(b, QCOW2_MAGIC);
	wr32(b + 4, s->version);
	wr32(b + 20, s->cluster_bits);
	wr64(b + 24, s->d.size);
	wr32(b + 36, s->l1_size);
	wr64(b + 40, s->l1_offset);
	wr64(b + 48, s->reft_offset);
	wr32(b + 56, s->reft_clusters);
	wr32(b + 60, s->nb_snapshots);
	wr64(b + 64, s->snapshots_offset);
	if (s->version >= 3) {
		wr64(b + 72, s->incompat);
		wr64(b + 80, s->compat);
		wr64(b + 88, s->autoclear);
		wr32(b + 96, s->refcount_order);
		if (s->header_length < QCOW2_V3_HEADER_LEN_CT)
			s->header_length = QCOW2_V3_HEADER_LEN_CT;
		wr32(b + 100, s->header_length);
		b[104] = s->compression_type;
		if (s->hdr_tail)
			memcpy(b + QCOW2_V3_HEADER_LEN_CT, s->hdr_tail,
			       s->header_length - QCOW2_V3_HEADER_LEN_CT);
		pos = s->header_length;
	} else {
		pos = QCOW2_V2_HEADER_LEN;
	}
	if (s->d.backing_fmt)
		pos = put_ext(b, pos, cs, QCOW2_EXT_BACKING_FORMAT, s->d.backing_fmt,
			      (uint32_t)strlen(s->d.backing_fmt));
	if (s->version >= 3)
		pos = put_feature_table(b, pos, cs);
	for (unsigned i = 0; i < s->nb_exts; i++)
		if (s->exts[i].type != QCOW2_EXT_FEATURE_TABLE)
			pos = put_ext(b, pos, cs, s->exts[i].type, s->exts[i].data, s->exts[i].len);
	pos = put_ext(b, pos, cs, QCOW2_EXT_END, NULL, 0);
	if (pos == UINT32_MAX)
		goto out;
	if (s->d.backing_name) {
		size_t bl = strlen(s->d.backing_name);

		if (bl > QCOW2_MAX_BACKING_NAME || pos + bl > cs)
			goto out;
		memcpy(b + pos, s->d.backing_name, bl);
		wr64(b + 8, pos);
		wr32(b + 16, (uint32_t)bl);
	}
	err = disk_file_pwrite(s->d.fd, b, cs, 0);
	if (!err) {
		s->backing_offset = s->d.backing_name ? pos : 0;
		s->backing_len = s->d.backing_name ? (uint32_t)strlen(s->d.backing_name) : 0;
	}
out:
	if (err == -ENOSPC)
		log_err("qcow2: %s: header, extensions and backing file name do not fit in the "
			"first cluster (%u bytes)",
			s->d.filename, cs);
	free(b);
	return err;
}

/* Crash safety of qcow2_set_backing():
 *  - Data first: every cluster the caller wrote (rebase copies, commit emptying) and all cached
 *    metadata are flushed and fdatasync'ed before the header changes. A crash before the header
 *    write leaves the old backing file in place with extra (equal-content) clusters: harmless.
 *  - The new header is built in memory and written with one pwrite of the first cluster (the
 *    header cluster holds nothing else: the header, its extensions and the backing name all
 *    live there, and nothing else is ever allocated in cluster 0). Every field pointing outside
 *    the cluster (L1, refcount table, snapshot table, sizes, feature bits) is rewritten with the
 *    value it already has, so even a torn write cannot make them point past valid data; only
 *    the backing name, its offset/length and the extension area change, and open() bounds the
 *    name to the first cluster and each extension to the area before it. A torn write can at
 *    worst produce an old/new mix of the name, as with QEMU's qcow2_update_header(), which uses
 *    the same one-write scheme.
 *  - fdatasync afterwards makes the new backing durable before we report success. */
int qcow2_set_backing(struct disk *d, const char *backing_file, const char *backing_fmt)
{
	struct qcow2 *s = d && !strcmp(d->ops->format, "qcow2") ? qcow2_from_disk(d) : NULL;
	char *nn = NULL, *nf = NULL, *on, *of;
	uint64_t ooff;
	uint32_t olen;
	int err;

	if (!s)
		return -EINVAL;
	if (disk_is_readonly(d))
		return -EROFS;
	if (backing_file && !*backing_file)
		backing_file = NULL;
	if (!backing_file || (backing_fmt && !*backing_fmt))
		backing_fmt = NULL;
	if (backing_file && strlen(backing_file) > QCOW2_MAX_BACKING_NAME) {
		log_err("qcow2: %s: backing file name longer than %d bytes", d->filename,
			QCOW2_MAX_BACKING_NAME);
		return -ENOSPC;
	}
	if ((backing_file && !(nn = strdup(backing_file))) ||
	    (backing_fmt && !(nf = strdup(backing_fmt)))) {
		free(nn);
		return -ENOMEM;
	}
	pthread_mutex_lock(&s->lock);
	err = s->corrupt ? -EIO : qcow2_flush_all(s, true);
	if (!err && qcow2_fdatasync(s))
		err = -errno;
	if (err)
		goto out;
	on = s->d.backing_name;
	of = s->d.backing_fmt;
	ooff = s->backing_offset;
	olen = s->backing_len;
	s->d.backing_name = nn;
	s->d.backing_fmt = nf;
	err = qcow2_header_write(s);
	if (!err && qcow2_fdatasync(s))
		err = -errno;
	if (err && err != -ENOSPC) {
		/* The header may or may not have reached the disk: keep the new names, which is
		 * what a successful write would hold; the caller reports the error. */
		free(on);
		free(of);
		nn = nf = NULL;
		goto out;
	}
	if (err) {
		/* Nothing written: restore the old state. */
		s->d.backing_name = on;
		s->d.backing_fmt = of;
		s->backing_offset = ooff;
		s->backing_len = olen;
		goto out;
	}
	free(on);
	free(of);
	nn = nf = NULL;
out:
	pthread_mutex_unlock(&s->lock);
	free(nn);
	free(nf);
	return err;
}

int qcow2_make_empty(struct disk *d)
{
	struct qcow2 *s = d && !strcmp(d->ops->format, "qcow2") ? qcow2_from_disk(d) : NULL;
	uint64_t end;
	int err;

	if (!s)
		return -EINVAL;
	if (disk_is_readonly(d))
		return -EROFS;
	end = ALIGN_UP(d->size, (uint64_t)s->cluster_size);
	err = end ? qcow2_zero_discard_dealloc(s, 0, end, true, true, true) : 0;
	if (err)
		return err;
	pthread_mutex_lock(&s->lock);
	err = qcow2_flush_all(s, true);
	pthread_mutex_unlock(&s->lock);
	return err;
}

int qcow2_header_update_features(struct qcow2 *s)
{
	uint8_t b[24];

	if (s->version < 3)
		return 0;
	wr64(b, s->incompat);
	wr64(b + 8, s->compat);
	wr64(b + 16, s->autoclear);
	return disk_file_pwrite(s->d.fd, b, sizeof(b), 72);
}

int qcow2_l1_write_entries(struct qcow2 *s, uint64_t first, uint64_t n)
{
	uint64_t *b;
	int err;

	if (!n)
		return 0;
	b = malloc(n * 8);
	if (!b)
		return -ENOMEM;
	for (uint64_t i = 0; i < n; i++)
		b[i] = htobe64(s->l1[first + i]);
	err = qcow2_check_overlap(s, s->l1_offset + first * 8, n * 8, QCOW2_OL_L1);
	if (!err)
		err = disk_file_pwrite(s->d.fd, b, n * 8, s->l1_offset + first * 8);
	free(b);
	return err;
}

void qcow2_snapshots_free(struct qcow2_snapshot *sn, unsigned n)
{
	for (unsigned i = 0; sn && i < n; i++) {
		free(sn[i].id);
		free(sn[i].name);
		free(sn[i].extra_unknown);
	}
	free(sn);
}

static int read_snapshot(struct qcow2 *s, uint64_t *pos, uint64_t fsz, struct qcow2_snapshot *sn)
{
	struct qcow2_snapshot_hdr_be h;
	uint8_t extra[QCOW2_MAX_SNAPSHOT_EXTRA];
	uint32_t xs;
	uint64_t p = *pos, l1b;
	int err;

	err = disk_file_pread(s->d.fd, &h, sizeof(h), p);
	if (err)
		return err;
	p += sizeof(h);
	sn->l1_offset = be64toh(h.l1_table_offset);
	sn->l1_size = be32toh(h.l1_size);
	sn->date_sec = be32toh(h.date_sec);
	sn->date_nsec = be32toh(h.date_nsec);
	sn->vm_clock_nsec = be64toh(h.vm_clock_nsec);
	sn->vm_state_size = be32toh(h.vm_state_size);
	xs = be32toh(h.extra_data_size);
	if (xs > QCOW2_MAX_SNAPSHOT_EXTRA) {
		log_err("qcow2: %s: snapshot extra data too large", s->d.filename);
		return -EINVAL;
	}
	sn->extra_size = xs;
	err = disk_file_pread(s->d.fd, extra, xs, p);
	if (err)
		return err;
	p += xs;
	sn->disk_size = s->d.size;
	if (xs >= 8)
		sn->vm_state_size = rd64(extra);
	if (xs >= 16)
		sn->disk_size = rd64(extra + 8);
	if (xs >= 24) {
		sn->icount = rd64(extra + 16);
		sn->has_icount = sn->icount != UINT64_MAX;
	}
	if (xs > 24) {
		sn->extra_unknown = malloc(xs - 24);
		if (!sn->extra_unknown)
			return -ENOMEM;
		memcpy(sn->extra_unknown, extra + 24, xs - 24);
		sn->extra_unknown_len = xs - 24;
	}
	sn->id = calloc(1, (size_t)be16toh(h.id_str_size) + 1);
	sn->name = calloc(1, (size_t)be16toh(h.name_size) + 1);
	if (!sn->id || !sn->name)
		return -ENOMEM;
	err = disk_file_pread(s->d.fd, sn->id, be16toh(h.id_str_size), p);
	if (err)
		return err;
	p += be16toh(h.id_str_size);
	err = disk_file_pread(s->d.fd, sn->name, be16toh(h.name_size), p);
	if (err)
		return err;
	p += be16toh(h.name_size);
	*pos = ALIGN_UP(p, 8ull);
	l1b = (uint64_t)sn->l1_size * 8;
	if (l1b > QCOW2_MAX_L1_BYTES)
		return log_err("qcow2: %s: snapshot L1 table too large", s->d.filename), -EINVAL;
	return check_table(s, sn->l1_offset, l1b, fsz, "snapshot L1 table");
}

int qcow2_snapshots_read(struct qcow2 *s, uint64_t fsz)
{
	uint64_t pos = s->snapshots_offset;
	int err;

	if (!s->nb_snapshots)
		return 0;
	s->snaps = calloc(s->nb_snapshots, sizeof(*s->snaps));
	if (!s->snaps)
		return -ENOMEM;
	for (uint32_t i = 0; i < s->nb_snapshots; i++) {
		err = read_snapshot(s, &pos, fsz, &s->snaps[i]);
		if (err)
			return err;
		if (pos - s->snapshots_offset > QCOW2_MAX_SNAPSHOT_TABLE || pos > fsz) {
			log_err("qcow2: %s: snapshot table too large or past end of file",
				s->d.filename);
			return -EINVAL;
		}
	}
	s->snapshots_size = pos - s->snapshots_offset;
	return 0;
}

static uint64_t snapshot_entry_size(const struct qcow2_snapshot *sn)
{
	uint64_t n = sizeof(struct qcow2_snapshot_hdr_be) + 24 + sn->extra_unknown_len +
		     strlen(sn->id) + strlen(sn->name);

	return ALIGN_UP(n, 8ull);
}

int qcow2_snapshots_write(struct qcow2 *s)
{
	uint64_t total = 0, new_off = 0, old_off = s->snapshots_offset, old_size = 0, p = 0;
	uint8_t *b = NULL, hdr[12];
	unsigned nb = s->nb_snapshots;
	int err;

	/* s->nb_snapshots/s->snaps already describe the new table; old_* come from on-disk. */
	for (unsigned i = 0; i < nb; i++)
		total += snapshot_entry_size(&s->snaps[i]);
	if (total > QCOW2_MAX_SNAPSHOT_TABLE)
		return -EFBIG;
	if (total) {
		b = calloc(1, total);
		if (!b)
			return -ENOMEM;
		for (unsigned i = 0; i < nb; i++) {
			const struct qcow2_snapshot *sn = &s->snaps[i];
			uint16_t il = (uint16_t)strlen(sn->id), nl = (uint16_t)strlen(sn->name);
			uint8_t *e = b + p;

			wr64(e, sn->l1_offset);
			wr32(e + 8, sn->l1_size);
			e[12] = (uint8_t)(il >> 8), e[13] = (uint8_t)il;
			e[14] = (uint8_t)(nl >> 8), e[15] = (uint8_t)nl;
			wr32(e + 16, sn->date_sec);
			wr32(e + 20, sn->date_nsec);
			wr64(e + 24, sn->vm_clock_nsec);
			wr32(e + 32,
			     sn->vm_state_size > UINT32_MAX ? 0 : (uint32_t)sn->vm_state_size);
			wr32(e + 36, 24 + sn->extra_unknown_len);
			wr64(e + 40, sn->vm_state_size);
			wr64(e + 48, sn->disk_size);
			wr64(e + 56, sn->has_icount ? sn->icount : UINT64_MAX);
			if (sn->extra_unknown_len)
				memcpy(e + 64, sn->extra_unknown, sn->extra_unknown_len);
			memcpy(e + 64 + sn->extra_unknown_len, sn->id, il);
			memcpy(e + 64 + sn->extra_unknown_len + il, sn->name, nl);
			p += snapshot_entry_size(sn);
		}
		err = qcow2_alloc_clusters(s, (total + s->cluster_size - 1) >> s->cluster_bits,
					   &new_off);
		if (err)
			goto out;
		err = qcow2_check_overlap(s, new_off, total, 0);
		if (!err)
			err = disk_file_pwrite(s->d.fd, b, total, new_off);
		if (!err)
			err = qcow2_flush_all(s, true);
		if (err)
			goto out;
	}
	old_size = s->snapshots_size; /* still the on-disk table's size */
	wr32(hdr, nb);
	wr64(hdr + 4, new_off);
	err = disk_file_pwrite(s->d.fd, hdr, sizeof(hdr), 60);
	if (!err)
		err = qcow2_fdatasync(s) ? -errno : 0;
	if (err)
		goto out;
	s->snapshots_offset = new_off;
	s->snapshots_size = total;
	if (old_off && old_size)
		err = qcow2_refcount_update(s, old_off, old_size, -1);
out:
	free(b);
	return err;
}
