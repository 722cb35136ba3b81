/* block/qcow2/check.c — consistency check and repair (qemu-img check semantics).
 *
 * Recomputes every cluster's reference count from the metadata (header, L1/L2 tables of the
 * active image and each snapshot, snapshot table, refcount table and blocks), compares it with
 * the stored refcounts, and fixes leaks (stored > used) and errors (stored < used) on request.
 * Also checks the COPIED flags of the active tables. Caller holds s->lock. */
#include "block/qcow2/qcow2.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Bound on the in-memory refcount array (4 bytes per cluster): 1 GiB. */
#define QCOW2_CHECK_MAX_CLUSTERS (1ull << 28)

struct check_ctx {
	struct qcow2 *s;
	uint32_t *refs;
	uint64_t n; /* clusters tracked */
	struct qcow2_check_result *res;
};

static void inc_range(struct check_ctx *c, uint64_t off, uint64_t len)
{
	uint64_t first, last;

	if (!len)
		return;
	first = off >> c->s->cluster_bits;
	last = (off + len - 1) >> c->s->cluster_bits;
	if (off + len < off) {
		c->res->corruptions++;
		return;
	}
	for (uint64_t i = first; i <= last; i++) {
		if (i >= c->n) {
			log_err("qcow2: %s: reference to %#llx beyond the end of the image",
				c->s->d.filename, (unsigned long long)(i << c->s->cluster_bits));
			c->res->corruptions++;
			continue;
		}
		if (c->refs[i] < UINT32_MAX)
			c->refs[i]++;
	}
}

static int walk_l2(struct check_ctx *c, uint64_t l2off, bool active, uint64_t *prev_host)
{
	struct qcow2 *s = c->s;
	uint8_t *l2, *copy;
	int err;

	if (!qcow2_is_aligned(s, l2off)) {
		log_err("qcow2: %s: L2 table offset %#llx unaligned", s->d.filename,
			(unsigned long long)l2off);
		c->res->corruptions++;
		return 0;
	}
	inc_range(c, l2off, s->cluster_size);
	if ((l2off >> s->cluster_bits) >= c->n)
		return 0;
	copy = malloc(s->cluster_size);
	if (!copy)
		return -ENOMEM;
	err = qcow2_cache_get(s, &s->l2c, l2off, &l2);
	if (err) {
		c->res->check_errors++;
		free(copy);
		return 0;
	}
	memcpy(copy, l2, s->cluster_size);
	for (uint64_t j = 0; j < qcow2_l2_entries(s); j++) {
		uint64_t e = qcow2_l2_get(s, copy, j), host = e & QCOW2_L2E_OFFSET_MASK;

		if (e & QCOW2_OFLAG_COMPRESSED) {
			uint64_t off = e & ((1ull << s->csize_shift) - 1);
			uint64_t nb = ((e >> s->csize_shift) & s->csize_mask) + 1;

			inc_range(c, off & ~511ull, nb * 512);
			if (active) {
				c->res->allocated_clusters++;
				c->res->compressed_clusters++;
				*prev_host = 0;
			}
			continue;
		}
		if (!host)
			continue;
		if (!qcow2_is_aligned(s, host)) {
			log_err("qcow2: %s: data cluster offset %#llx unaligned", s->d.filename,
				(unsigned long long)host);
			c->res->corruptions++;
			continue;
		}
		inc_range(c, host, s->cluster_size);
		if (active) {
			c->res->allocated_clusters++;
			if (*prev_host && host != *prev_host + s->cluster_size)
				c->res->fragmented_clusters++;
			*prev_host = host;
		}
	}
	free(copy);
	return 0;
}

static int walk_l1(struct check_ctx *c, const uint64_t *l1, uint32_t n, bool active)
{
	uint64_t prev = 0;

	for (uint32_t i = 0; i < n; i++) {
		uint64_t l2off = l1[i] & QCOW2_L1E_OFFSET_MASK;
		int err;

		if (!l2off)
			continue;
		err = walk_l2(c, l2off, active, &prev);
		if (err)
			return err;
	}
	return 0;
}

static int walk_snapshots(struct check_ctx *c)
{
	struct qcow2 *s = c->s;

	inc_range(c, s->snapshots_offset, s->nb_snapshots ? s->snapshots_size : 0);
	for (uint32_t i = 0; i < s->nb_snapshots; i++) {
		struct qcow2_snapshot *sn = &s->snaps[i];
		uint64_t *l1 = calloc(sn->l1_size ? sn->l1_size : 1, 8);
		int err;

		if (!l1)
			return -ENOMEM;
		inc_range(c, sn->l1_offset, (uint64_t)sn->l1_size * 8);
		err = disk_file_pread(s->d.fd, l1, (size_t)sn->l1_size * 8, sn->l1_offset);
		for (uint32_t j = 0; !err && j < sn->l1_size; j++)
			l1[j] = be64toh(l1[j]);
		if (!err)
			err = walk_l1(c, l1, sn->l1_size, false);
		free(l1);
		if (err)
			return err;
	}
	return 0;
}

/* Count COPIED-flag mismatches in the active tables. */
static int check_copied(struct check_ctx *c, uint64_t *bad)
{
	struct qcow2 *s = c->s;
	uint64_t rc;
	int err;

	*bad = 0;
	for (uint32_t i = 0; i < s->l1_size; i++) {
		uint64_t l2off = s->l1[i] & QCOW2_L1E_OFFSET_MASK;

		if (!l2off || !qcow2_is_aligned(s, l2off))
			continue;
		err = qcow2_refcount_get(s, l2off >> s->cluster_bits, &rc);
		if (err)
			return err;
		if ((rc == 1) != !!(s->l1[i] & QCOW2_OFLAG_COPIED))
			(*bad)++;
		for (uint64_t j = 0; j < qcow2_l2_entries(s); j++) {
			uint8_t *l2;
			uint64_t e, host;

			err = qcow2_cache_get(s, &s->l2c, l2off, &l2);
			if (err)
				return err;
			e = qcow2_l2_get(s, l2, j);
			host = e & QCOW2_L2E_OFFSET_MASK;
			if ((e & QCOW2_OFLAG_COMPRESSED) || !host || !qcow2_is_aligned(s, host))
				continue;
			err = qcow2_refcount_get(s, host >> s->cluster_bits, &rc);
			if (err)
				return err;
			if ((rc == 1) != !!(e & QCOW2_OFLAG_COPIED))
				(*bad)++;
		}
	}
	return 0;
}

/* Fill c->refs with the reference count every cluster should have. */
static int compute_refs(struct qcow2 *s, struct check_ctx *c)
{
	struct stat st;
	int err;

	if (fstat(s->d.fd, &st))
		return -errno;
	c->n = KVMM_MAX(ALIGN_UP((uint64_t)st.st_size, (uint64_t)s->cluster_size), s->file_end) >>
	       s->cluster_bits;
	if (c->n > QCOW2_CHECK_MAX_CLUSTERS) {
		log_err("qcow2: %s: image too large to check (%llu clusters)", s->d.filename,
			(unsigned long long)c->n);
		return -EFBIG;
	}
	c->refs = calloc(c->n ? c->n : 1, sizeof(*c->refs));
	if (!c->refs)
		return -ENOMEM;
	inc_range(c, 0, s->cluster_size);
	inc_range(c, s->l1_offset, (uint64_t)s->l1_size * 8);
	err = walk_l1(c, s->l1, s->l1_size, true);
	if (!err)
		err = walk_snapshots(c);
	if (err)
		return err;
	inc_range(c, s->reft_offset, (uint64_t)s->reft_clusters << s->cluster_bits);
	for (uint64_t i = 0; i < s->reft_entries; i++)
		if (s->reft[i])
			inc_range(c, s->reft[i], s->cluster_size);
	return 0;
}

int qcow2_compute_refcounts(struct qcow2 *s, uint32_t **refs, uint64_t *n)
{
	struct qcow2_check_result res;
	struct check_ctx c = {.s = s, .res = &res};
	int err;

	memset(&res, 0, sizeof(res));
	err = compute_refs(s, &c);
	if (!err && (res.corruptions || res.check_errors))
		err = -EIO;
	if (err) {
		free(c.refs);
		return err;
	}
	*refs = c.refs;
	*n = c.n;
	return 0;
}

/* One pass: compute, compare, optionally fix. */
static int check_pass(struct qcow2 *s, unsigned fix, struct qcow2_check_result *res)
{
	struct check_ctx c = {.s = s, .res = res};
	uint64_t copied_bad = 0;
	int err;

	memset(res, 0, sizeof(*res));
	err = compute_refs(s, &c);
	if (err)
		goto out;

	for (uint64_t i = 0; i < c.n; i++) {
		uint64_t stored;

		err = qcow2_refcount_get(s, i, &stored);
		if (err) {
			res->check_errors++;
			continue;
		}
		if (c.refs[i])
			res->image_end_offset = (i + 1) << s->cluster_bits;
		if (stored == c.refs[i])
			continue;
		if (stored > c.refs[i]) {
			res->leaks++;
			if (!(fix & QCOW2_CHECK_FIX_LEAKS))
				continue;
		} else {
			res->corruptions++;
			if (!(fix & QCOW2_CHECK_FIX_ERRORS))
				continue;
		}
		err = qcow2_refcount_update(s, i << s->cluster_bits, s->cluster_size,
					    (int64_t)c.refs[i] - (int64_t)stored);
		if (err)
			res->check_errors++;
	}
	/* Like qemu-img check, refcounts of clusters past the end of the file are ignored. */
	err = check_copied(&c, &copied_bad);
	if (err)
		goto out;
	if (copied_bad) {
		if (fix & QCOW2_CHECK_FIX_ERRORS)
			err = qcow2_fix_copied(s);
		res->corruptions += copied_bad;
	}
	res->total_clusters = (s->d.size + s->cluster_size - 1) >> s->cluster_bits;
out:
	free(c.refs);
	return err;
}

int qcow2_check_locked(struct qcow2 *s, unsigned fix, struct qcow2_check_result *res)
{
	struct qcow2_check_result first;
	bool was_corrupt = s->corrupt;
	int err;

	if (fix)
		s->corrupt = false; /* a repair may write */
	err = check_pass(s, fix, &first);
	if (err || !fix) {
		if (!err)
			*res = first;
		s->corrupt = s->corrupt || was_corrupt;
		return err;
	}
	err = qcow2_flush_all(s, true);
	if (!err)
		err = check_pass(s, 0, res);
	if (err)
		return err;
	res->leaks_fixed = first.leaks > res->leaks ? first.leaks - res->leaks : 0;
	res->corruptions_fixed =
	    first.corruptions > res->corruptions ? first.corruptions - res->corruptions : 0;
	if (res->corruptions)
		s->corrupt = true;
	return 0;
}
