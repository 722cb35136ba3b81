/* block/qcow2/refcount.c — refcount table and blocks: read/update refcounts of any width (1 to
 * 64 bits), allocate clusters and compressed bytes, grow the refcount table, and check writes
 * for overlap with metadata. Caller holds s->lock.
 *
 * Ordering: a new refcount block is written before the refcount-table entry that points to it;
 * a new refcount table (with the blocks that cover it) is written and flushed before the header
 * points to it; the old table is freed last. Refcount increments live in the refcount cache,
 * which the L2 cache depends on (see cache.c). */
#include "block/qcow2/qcow2.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/ckd.h"

/* Highest cluster index we ever allocate (offsets must fit the 56-bit L2 offset field). */
#define QCOW2_MAX_HOST_OFFSET (1ull << 56)

uint64_t qcow2_refcount_read_entry(const struct qcow2 *s, const uint8_t *blk, uint64_t i)
{
	switch (s->refcount_order) {
	case 0:
		return (blk[i / 8] >> (i % 8)) & 1;
	case 1:
		return (blk[i / 4] >> (2 * (i % 4))) & 3;
	case 2:
		return (blk[i / 2] >> (4 * (i % 2))) & 15;
	case 3:
		return blk[i];
	case 4:
		return (uint64_t)blk[2 * i] << 8 | blk[2 * i + 1];
	case 5: {
		uint32_t v;

		memcpy(&v, blk + 4 * i, 4);
		return be32toh(v);
	}
	default: {
		uint64_t v;

		memcpy(&v, blk + 8 * i, 8);
		return be64toh(v);
	}
	}
}

void qcow2_refcount_write_entry(const struct qcow2 *s, uint8_t *blk, uint64_t i, uint64_t v)
{
	unsigned bits = 1u << s->refcount_order, shift;
	uint8_t mask;

	if (bits < 8) {
		shift = (unsigned)((i * bits) % 8);
		mask = (uint8_t)(((1u << bits) - 1) << shift);
		blk[i * bits / 8] = (uint8_t)((blk[i * bits / 8] & ~mask) | ((v << shift) & mask));
		return;
	}
	switch (bits) {
	case 8:
		blk[i] = (uint8_t)v;
		break;
	case 16:
		blk[2 * i] = (uint8_t)(v >> 8);
		blk[2 * i + 1] = (uint8_t)v;
		break;
	case 32: {
		uint32_t w = htobe32((uint32_t)v);

		memcpy(blk + 4 * i, &w, 4);
		break;
	}
	default: {
		uint64_t w = htobe64(v);

		memcpy(blk + 8 * i, &w, 8);
		break;
	}
	}
}

static int load_refblock(struct qcow2 *s, uint64_t ri, uint8_t **out)
{
	uint64_t off = s->reft[ri];

	if (off >= QCOW2_MAX_HOST_OFFSET)
		return qcow2_signal_corruption(s, "refcount block %llu offset %#llx invalid",
					       (unsigned long long)ri, (unsigned long long)off);
	if (off < s->cluster_size)
		return qcow2_signal_corruption(s, "refcount block %llu overlaps the header",
					       (unsigned long long)ri);
	return qcow2_cache_get(s, &s->rbc, off, out);
}

int qcow2_refcount_get(struct qcow2 *s, uint64_t ci, uint64_t *out)
{
	uint64_t ri = ci >> s->rb_bits;
	uint8_t *blk;
	int err;

	*out = 0;
	if (ri >= s->reft_entries || !s->reft[ri])
		return 0;
	err = load_refblock(s, ri, &blk);
	if (err)
		return err;
	*out = qcow2_refcount_read_entry(s, blk, ci & ((1ull << s->rb_bits) - 1));
	return 0;
}

static bool is_reserved(const struct qcow2 *s, uint64_t ci)
{
	return ci >= s->reserve_start && ci < s->reserve_end;
}

static void bump_file_end(struct qcow2 *s, uint64_t end_cluster)
{
	uint64_t e = end_cluster << s->cluster_bits;

	if (e > s->file_end)
		s->file_end = e;
}

static int grow_reftable(struct qcow2 *s, uint64_t min_entries);

/* Allocate and install the refcount block for refcount-table index ri. */
static int alloc_refblock(struct qcow2 *s, uint64_t ri, unsigned depth)
{
	uint64_t c, rc, per = 1ull << s->rb_bits, off, be;
	uint8_t *blk;
	int err;

	if (depth > 2)
		return qcow2_signal_corruption(s, "cannot place refcount block %llu",
					       (unsigned long long)ri);
	if (ri >= s->reft_entries) {
		err = grow_reftable(s, ri + 1);
		if (err)
			return err;
		if (s->reft[ri])
			return 0;
	}
	for (c = KVMM_MAX(s->free_cluster_index, 1ull);; c++) {
		uint64_t cri = c >> s->rb_bits;

		if ((c << s->cluster_bits) >= QCOW2_MAX_HOST_OFFSET)
			return -ENOSPC;
		if (is_reserved(s, c))
			continue;
		/* Past the allocation frontier everything is free (stale refcounts there are
		 * ignored, as qemu-img check does): this bounds the scan on hostile images. */
		rc = 0;
		if (c < (s->file_end >> s->cluster_bits)) {
			err = qcow2_refcount_get(s, c, &rc);
			if (err)
				return err;
		}
		if (rc)
			continue;
		if (cri == ri || (cri < s->reft_entries && s->reft[cri]))
			break;
		/* c is covered by another missing block: create that one first. */
		err = alloc_refblock(s, cri, depth + 1);
		if (err)
			return err;
		if (s->reft[ri])
			return 0;
	}
	off = c << s->cluster_bits;
	bump_file_end(s, c + 1);
	err = qcow2_check_overlap(s, off, s->cluster_size, 0);
	if (err)
		return err;
	if ((c >> s->rb_bits) != ri) {
		/* Account for the block in its (existing) covering block first. */
		err = qcow2_refcount_update(s, off, s->cluster_size, 1);
		if (err)
			return err;
	}
	err = qcow2_cache_get_empty(s, &s->rbc, off, &blk);
	if (err)
		return err;
	memset(blk, 0, s->cluster_size);
	if ((c >> s->rb_bits) == ri)
		qcow2_refcount_write_entry(s, blk, c & (per - 1), 1);
	/* The block must be on disk before the table entry that points to it. */
	qcow2_cache_mark_dirty(&s->rbc, blk);
	err = qcow2_cache_flush(s, &s->rbc);
	if (!err && qcow2_fdatasync(s))
		err = -errno;
	if (err)
		return err;
	be = htobe64(off);
	err = qcow2_check_overlap(s, s->reft_offset + ri * 8, 8, QCOW2_OL_REFTABLE);
	if (!err)
		err = disk_file_pwrite(s->d.fd, &be, 8, s->reft_offset + ri * 8);
	if (err)
		return err;
	s->reft[ri] = off;
	s->reft_hi = KVMM_MAX(s->reft_hi, ri + 1);
	bump_file_end(s, c + 1);
	return 0;
}

/* Count refcount-table indexes in [first, last] that have no block yet. */
static uint64_t missing_blocks(const struct qcow2 *s, uint64_t first, uint64_t last)
{
	uint64_t m = 0;

	for (uint64_t ri = first; ri <= last; ri++)
		if (ri >= s->reft_entries || !s->reft[ri])
			m++;
	return m;
}

/* Build a bigger refcount table at the end of the image, self-describing with new refcount
 * blocks placed right after it; flush; point the header at it; free the old table. */
static int grow_reftable(struct qcow2 *s, uint64_t min_entries)
{
	uint64_t per_cluster = s->cluster_size / 8, E = s->file_end >> s->cluster_bits;
	uint64_t entries, tc, nb = 0, m, first_ri, last_ri, *nt = NULL, old_off = s->reft_offset;
	uint64_t old_bytes = (uint64_t)s->reft_clusters << s->cluster_bits, j;
	uint8_t *blk = NULL, hdr[12];
	int err;

	entries = KVMM_MAX(min_entries, s->reft_entries + s->reft_entries / 2 + 1);
	for (;;) {
		entries = ALIGN_UP(entries, per_cluster);
		tc = entries / per_cluster;
		for (;;) {
			first_ri = E >> s->rb_bits;
			last_ri = (E + tc + nb - 1) >> s->rb_bits;
			m = missing_blocks(s, first_ri, last_ri);
			if (m == nb)
				break;
			nb = m;
		}
		if (last_ri < entries)
			break;
		entries = last_ri + 1;
	}
	if (entries * 8 > QCOW2_MAX_REFTABLE_BYTES ||
	    ((E + tc + nb) << s->cluster_bits) >= QCOW2_MAX_HOST_OFFSET) {
		log_err("qcow2: %s: refcount table would exceed its maximum size", s->d.filename);
		return -EFBIG;
	}
	nt = calloc(entries, 8);
	blk = malloc(s->cluster_size);
	if (!nt || !blk) {
		err = -ENOMEM;
		goto out;
	}
	memcpy(nt, s->reft, s->reft_entries * 8);
	s->reserve_start = E;
	s->reserve_end = E + tc + nb;
	j = 0;
	for (uint64_t ri = first_ri; ri <= last_ri; ri++) {
		uint64_t boff;

		if (ri < s->reft_entries && s->reft[ri])
			continue;
		boff = (E + tc + j++) << s->cluster_bits;
		memset(blk, 0, s->cluster_size);
		for (uint64_t c = E; c < E + tc + nb; c++)
			if ((c >> s->rb_bits) == ri)
				qcow2_refcount_write_entry(s, blk, c & ((1ull << s->rb_bits) - 1),
							   1);
		err = disk_file_pwrite(s->d.fd, blk, s->cluster_size, boff);
		if (err)
			goto out;
		nt[ri] = boff;
	}
	/* Clusters of the new area covered by blocks that already exist. */
	for (uint64_t c = E; c < E + tc + nb; c++) {
		uint64_t ri = c >> s->rb_bits;

		if (ri < s->reft_entries && s->reft[ri]) {
			err = qcow2_refcount_update(s, c << s->cluster_bits, s->cluster_size, 1);
			if (err)
				goto out;
		}
	}
	for (uint64_t i = 0; i < entries; i++)
		nt[i] = htobe64(nt[i]);
	err = disk_file_pwrite(s->d.fd, nt, entries * 8, E << s->cluster_bits);
	for (uint64_t i = 0; i < entries; i++)
		nt[i] = be64toh(nt[i]);
	if (!err)
		err = qcow2_cache_flush(s, &s->rbc);
	if (!err && qcow2_fdatasync(s))
		err = -errno;
	if (err)
		goto out;
	{
		uint64_t o = htobe64(E << s->cluster_bits);
		uint32_t n = htobe32((uint32_t)tc);

		memcpy(hdr, &o, 8);
		memcpy(hdr + 8, &n, 4);
	}
	err = disk_file_pwrite(s->d.fd, hdr, sizeof(hdr), 48);
	if (!err && qcow2_fdatasync(s))
		err = -errno;
	if (err)
		goto out;
	free(s->reft);
	s->reft = nt;
	nt = NULL;
	s->reft_entries = entries;
	qcow2_reft_rescan(s);
	s->reft_offset = E << s->cluster_bits;
	s->reft_clusters = (uint32_t)tc;
	bump_file_end(s, E + tc + nb);
	s->reserve_start = s->reserve_end = 0;
	err = qcow2_refcount_update(s, old_off, old_bytes, -1);
out:
	s->reserve_start = s->reserve_end = 0;
	free(nt);
	free(blk);
	return err;
}

static void forget_cluster(struct qcow2 *s, uint64_t off)
{
	qcow2_cache_discard(&s->l2c, off);
	qcow2_cache_discard(&s->rbc, off);
}

int qcow2_refcount_update(struct qcow2 *s, uint64_t off, uint64_t len, int64_t delta)
{
	uint64_t first, last, end;
	int err;

	if (!len)
		return 0;
	if (ckd_add(&end, off, len - 1))
		return -EINVAL;
	first = off >> s->cluster_bits;
	last = end >> s->cluster_bits;
	for (uint64_t c = first; c <= last; c++) {
		uint64_t ri = c >> s->rb_bits, v;
		uint8_t *blk;

		if (ri >= s->reft_entries || !s->reft[ri]) {
			if (delta < 0)
				return qcow2_signal_corruption(
				    s, "freeing cluster %#llx that has no refcount block",
				    (unsigned long long)(c << s->cluster_bits));
			err = alloc_refblock(s, ri, 0);
			if (err)
				return err;
		}
		err = load_refblock(s, ri, &blk);
		if (err)
			return err;
		v = qcow2_refcount_read_entry(s, blk, c & ((1ull << s->rb_bits) - 1));
		if (delta < 0 && v < (uint64_t)-delta)
			return qcow2_signal_corruption(s, "refcount of cluster %#llx drops below 0",
						       (unsigned long long)(c << s->cluster_bits));
		if (delta > 0 && (s->refcount_max - v < (uint64_t)delta)) {
			log_err("qcow2: %s: refcount of cluster %#llx would overflow",
				s->d.filename, (unsigned long long)(c << s->cluster_bits));
			return -ERANGE;
		}
		v += (uint64_t)delta;
		qcow2_refcount_write_entry(s, blk, c & ((1ull << s->rb_bits) - 1), v);
		qcow2_cache_mark_dirty(&s->rbc, blk);
		if (v == 0) {
			if (c < s->free_cluster_index)
				s->free_cluster_index = c;
			forget_cluster(s, c << s->cluster_bits);
			if (s->free_byte_offset >> s->cluster_bits == c)
				s->free_byte_offset = 0;
		}
	}
	return 0;
}

int qcow2_alloc_clusters(struct qcow2 *s, uint64_t n, uint64_t *out)
{
	uint64_t start, run = 0, rc;
	bool first_free_seen = false;
	int err;

	if (!n)
		return -EINVAL;
	start = KVMM_MAX(s->free_cluster_index, 1ull);
	for (uint64_t c = start; run < n; c++) {
		if ((c << s->cluster_bits) >= QCOW2_MAX_HOST_OFFSET)
			return -ENOSPC;
		if (c >= (s->file_end >> s->cluster_bits)) {
			/* Frontier: the rest of the run is free (see alloc_refblock). */
			if (!run)
				start = c;
			if (!first_free_seen)
				s->free_cluster_index = c;
			run = n;
			break;
		}
		err = qcow2_refcount_get(s, c, &rc);
		if (err)
			return err;
		if (rc) {
			run = 0;
			start = c + 1;
			continue;
		}
		if (!first_free_seen) {
			s->free_cluster_index = c;
			first_free_seen = true;
		}
		run++;
	}
	bump_file_end(s, start + n);
	err = qcow2_check_overlap(s, start << s->cluster_bits, n << s->cluster_bits, 0);
	if (err)
		return err;
	s->reserve_start = start;
	s->reserve_end = start + n;
	err = qcow2_refcount_update(s, start << s->cluster_bits, n << s->cluster_bits, 1);
	s->reserve_start = s->reserve_end = 0;
	if (err)
		return err;
	if (s->free_cluster_index == start)
		s->free_cluster_index = start + n;
	bump_file_end(s, start + n);
	*out = start << s->cluster_bits;
	return 0;
}

int qcow2_alloc_bytes(struct qcow2 *s, uint64_t bytes, uint64_t *out)
{
	uint64_t off = s->free_byte_offset;
	int err;

	uint64_t rc = 0;
	bool share;

	if (bytes > s->cluster_size)
		return -EINVAL;
	share = off && qcow2_offset_in_cluster(s, off) + bytes <= s->cluster_size &&
		qcow2_offset_in_cluster(s, off);
	/* A cluster whose refcount is already at the width's maximum (1 with refcount_bits=1)
	 * cannot take another compressed cluster: start a new one, as QEMU does. */
	if (share) {
		err = qcow2_refcount_get(s, off >> s->cluster_bits, &rc);
		if (err)
			return err;
		share = rc < s->refcount_max;
	}
	if (share) {
		err = qcow2_refcount_update(s, off, 1, 1);
		if (err)
			return err;
	} else {
		err = qcow2_alloc_clusters(s, 1, &off);
		if (err)
			return err;
	}
	*out = off;
	s->free_byte_offset = off + bytes;
	if (qcow2_offset_in_cluster(s, s->free_byte_offset) == 0)
		s->free_byte_offset = 0;
	return 0;
}

int qcow2_free_l2_entry_clusters(struct qcow2 *s, uint64_t e)
{
	if (e & QCOW2_OFLAG_COMPRESSED) {
		uint64_t off = e & ((1ull << s->csize_shift) - 1);
		uint64_t nb = ((e >> s->csize_shift) & s->csize_mask) + 1;

		return qcow2_refcount_update(s, off & ~511ull, nb * 512, -1);
	}
	e &= QCOW2_L2E_OFFSET_MASK;
	if (!e)
		return 0;
	return qcow2_refcount_update(s, e, s->cluster_size, -1);
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return alen && blen && a < b + blen && b < a + alen;
}

int qcow2_check_overlap(struct qcow2 *s, uint64_t off, uint64_t len, unsigned skip)
{
	const char *what = NULL;

	/* Everything we write lies below the allocation frontier (the file end at open, moved
	 * by each allocation): a table or cluster past it comes from a corrupt image. */
	if (off + len < off || off + len > s->file_end)
		what = "space past the end of the image";
	else if (ranges_overlap(off, len, 0, s->cluster_size))
		what = "the header";
	else if (!(skip & QCOW2_OL_L1) &&
		 ranges_overlap(off, len, s->l1_offset, (uint64_t)s->l1_size * 8))
		what = "the active L1 table";
	else if (!(skip & QCOW2_OL_REFTABLE) &&
		 ranges_overlap(off, len, s->reft_offset,
				(uint64_t)s->reft_clusters << s->cluster_bits))
		what = "the refcount table";
	else if (!(skip & QCOW2_OL_SNAPTABLE) && s->nb_snapshots &&
		 ranges_overlap(off, len, s->snapshots_offset, s->snapshots_size))
		what = "the snapshot table";
	/* Entries past reft_hi are zero. */
	for (uint64_t i = 0; !what && !(skip & QCOW2_OL_REFBLOCK) && i < s->reft_hi; i++)
		if (ranges_overlap(off, len, s->reft[i], s->cluster_size))
			what = "a refcount block";
	for (uint64_t i = 0; !what && !(skip & QCOW2_OL_L2) && i < s->l1_size; i++)
		if (ranges_overlap(off, len, s->l1[i] & QCOW2_L1E_OFFSET_MASK, s->cluster_size))
			what = "an active L2 table";
	for (uint32_t i = 0; !what && i < s->nb_snapshots; i++)
		if (ranges_overlap(off, len, s->snaps[i].l1_offset,
				   (uint64_t)s->snaps[i].l1_size * 8))
			what = "a snapshot L1 table";
	if (!what)
		return 0;
	return qcow2_signal_corruption(s, "write at %#llx (+%llu) would overwrite %s",
				       (unsigned long long)off, (unsigned long long)len, what);
}

int qcow2_mark_dirty(struct qcow2 *s)
{
	int err;

	if (!(s->compat & QCOW2_COMPAT_LAZY_REFCOUNTS) || s->dirty_set || s->version < 3)
		return 0;
	s->incompat |= QCOW2_INCOMPAT_DIRTY;
	err = qcow2_header_update_features(s);
	if (!err && qcow2_fdatasync(s))
		err = -errno;
	if (err)
		return err;
	s->dirty_set = true;
	return 0;
}

/* Build a refcount table and blocks of the new width at the end of the image describing every
 * cluster (themselves included), sync, switch the header to them in one sector write, then
 * release the old structures. */
int qcow2_change_refcount_order(struct qcow2 *s, uint32_t order)
{
	uint64_t n, E = s->file_end >> s->cluster_bits, per, nb = 0, tc = 1, total;
	uint64_t old_off = s->reft_offset,
		 old_bytes = (uint64_t)s->reft_clusters << s->cluster_bits;
	uint64_t *old_reft = s->reft, old_entries = s->reft_entries, *nt = NULL;
	uint32_t old_order = s->refcount_order, *refs = NULL;
	uint8_t *blk = NULL;
	struct qcow2_cache nc;
	struct qcow2 tmp;
	int err;

	err = qcow2_compute_refcounts(s, &refs, &n);
	if (err)
		return err;
	E = KVMM_MAX(E, n);
	tmp.refcount_order = order;
	per = (uint64_t)s->cluster_size * 8 >> order;
	for (int i = 0; i < 64; i++) { /* fixpoint: blocks also describe table and blocks */
		uint64_t nnb, ntc;

		total = E + tc + nb;
		nnb = (total + per - 1) / per;
		ntc = (nnb * 8 + s->cluster_size - 1) >> s->cluster_bits;
		if (nnb == nb && ntc == tc)
			break;
		nb = nnb;
		tc = ntc;
	}
	for (uint64_t i = 0; i < n; i++) {
		if (order < 6 && refs[i] > (1ull << (1u << order)) - 1) {
			log_err("qcow2: %s: a refcount of %u does not fit in %u bits",
				s->d.filename, refs[i], 1u << order);
			err = -EINVAL;
			goto out;
		}
	}
	if ((tc << s->cluster_bits) > QCOW2_MAX_REFTABLE_BYTES) {
		err = -EFBIG;
		goto out;
	}
	nt = calloc(tc << s->cluster_bits >> 3, 8);
	blk = malloc(s->cluster_size);
	if (!nt || !blk) {
		err = -ENOMEM;
		goto out;
	}
	for (uint64_t b = 0; b < nb; b++) {
		memset(blk, 0, s->cluster_size);
		for (uint64_t j = 0; j < per; j++) {
			uint64_t c = b * per + j, v = 0;

			if (c < n)
				v = refs[c];
			if (c >= E && c < E + tc + nb)
				v = 1;
			if (v)
				qcow2_refcount_write_entry(&tmp, blk, j, v);
		}
		nt[b] = htobe64((E + tc + b) << s->cluster_bits);
		err = disk_file_pwrite(s->d.fd, blk, s->cluster_size,
				       (E + tc + b) << s->cluster_bits);
		if (err)
			goto out;
	}
	err = disk_file_pwrite(s->d.fd, nt, tc << s->cluster_bits, E << s->cluster_bits);
	if (!err && qcow2_fdatasync(s))
		err = -errno;
	if (err)
		goto out;
	for (uint64_t i = 0; i < (tc << s->cluster_bits >> 3); i++)
		nt[i] = be64toh(nt[i]);
	/* Switch: every field lives in the header's first sector. The old refcount cache is
	 * clean (the caller flushed it) and describes the old width: replace it. */
	err = qcow2_cache_init(&nc, s->rbc.n, s->cluster_size);
	if (err)
		goto out;
	qcow2_cache_fini(&s->rbc);
	s->rbc.e = nc.e;
	s->rbc.n = nc.n;
	s->rbc.clock = 0;
	s->reft = nt;
	nt = NULL;
	s->reft_entries = tc << s->cluster_bits >> 3;
	qcow2_reft_rescan(s);
	s->reft_offset = E << s->cluster_bits;
	s->reft_clusters = (uint32_t)tc;
	s->refcount_order = order;
	s->rb_bits = s->cluster_bits + 3 - order;
	s->refcount_max = order == 6 ? UINT64_MAX : (1ull << (1u << order)) - 1;
	bump_file_end(s, E + tc + nb);
	err = qcow2_header_write(s);
	if (!err && qcow2_fdatasync(s))
		err = -errno;
	if (err) {
		/* The header may still name the old structures: keep them in memory too. */
		free(s->reft);
		s->reft = old_reft;
		s->reft_entries = old_entries;
		qcow2_reft_rescan(s);
		s->reft_offset = old_off;
		s->reft_clusters = (uint32_t)(old_bytes >> s->cluster_bits);
		s->refcount_order = old_order;
		s->rb_bits = s->cluster_bits + 3 - old_order;
		s->refcount_max = old_order == 6 ? UINT64_MAX : (1ull << (1u << old_order)) - 1;
		old_reft = NULL;
		goto out;
	}
	/* The old table and blocks are now unreferenced (counted as used in refs). */
	for (uint64_t i = 0; i < old_entries && !err; i++)
		if (old_reft[i])
			err = qcow2_refcount_update(s, old_reft[i], s->cluster_size, -1);
	if (!err)
		err = qcow2_refcount_update(s, old_off, old_bytes, -1);
	if (!err)
		err = qcow2_flush_all(s, true);
	free(old_reft);
	old_reft = NULL;
out:
	free(nt);
	free(blk);
	free(refs);
	return err;
}
