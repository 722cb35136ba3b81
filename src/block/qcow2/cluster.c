/* block/qcow2/cluster.c — guest offset → host mapping through L1/L2 (standard and extended
 * entries), the read path, allocating writes with copy-on-write from the backing file or a
 * shared/compressed cluster, zero clusters, discard, compressed writes and L1 growth.
 *
 * Locking: mapping lookups and every metadata change run under s->lock. Data reads, and writes
 * into clusters this image already owns (COPIED, all touched subclusters allocated), run
 * without it. Ordering: data is written before the L2 entry that points to it; a new L2 table
 * is flushed before the L1 entry; the L2 cache is flushed (and synced) before refcounts of
 * clusters it no longer references are decremented. */
#include "block/qcow2/qcow2.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/ckd.h"
#include "base/iovbuf.h"

/* How a request holds s->io_lock: shared (reads, and writes that free no cluster), exclusive
 * (anything that may free a cluster), or already held exclusively by the caller. Lock order:
 * io_lock, then s->lock. */
enum io_mode { IO_SHARED, IO_EXCL, IO_HELD };

static void io_lock(struct qcow2 *s, enum io_mode m)
{
	if (m == IO_SHARED)
		pthread_rwlock_rdlock(&s->io_lock);
	else if (m == IO_EXCL)
		pthread_rwlock_wrlock(&s->io_lock);
}

static void io_unlock(struct qcow2 *s, enum io_mode m)
{
	if (m != IO_HELD)
		pthread_rwlock_unlock(&s->io_lock);
}

/* ---- mapping ---- */

static int get_l2(struct qcow2 *s, uint64_t l1i, uint8_t **l2)
{
	uint64_t off;

	*l2 = NULL;
	if (l1i >= s->l1_size)
		return 0;
	off = s->l1[l1i] & QCOW2_L1E_OFFSET_MASK;
	if (!off)
		return 0;
	if (!qcow2_is_aligned(s, off) || off < s->cluster_size)
		return qcow2_signal_corruption(s, "L2 table offset %#llx invalid (L1 index %llu)",
					       (unsigned long long)off, (unsigned long long)l1i);
	return qcow2_cache_get(s, &s->l2c, off, l2);
}

/* Classify subcluster sc of an L2 entry; host = cluster's host offset (DATA/ZERO). */
static int classify(struct qcow2 *s, uint64_t e, uint64_t bm, unsigned sc,
		    enum qcow2_map_kind *kind)
{
	uint64_t host = e & QCOW2_L2E_OFFSET_MASK;

	if (e & QCOW2_OFLAG_COMPRESSED) {
		*kind = QCOW2_MAP_COMPRESSED;
		return 0;
	}
	if (host && !qcow2_is_aligned(s, host))
		return qcow2_signal_corruption(s, "cluster offset %#llx is not aligned",
					       (unsigned long long)host);
	if (!s->ext_l2) {
		if (e & QCOW2_OFLAG_ZERO)
			*kind = QCOW2_MAP_ZERO;
		else
			*kind = host ? QCOW2_MAP_DATA : QCOW2_MAP_UNALLOC;
		return 0;
	}
	if ((bm & (1ull << sc)) && (bm & (1ull << (sc + 32))))
		return qcow2_signal_corruption(s, "subcluster both allocated and zero");
	if (bm & (1ull << (sc + 32))) {
		*kind = QCOW2_MAP_ZERO;
	} else if (bm & (1ull << sc)) {
		if (!host)
			return qcow2_signal_corruption(s, "allocated subcluster without a cluster");
		*kind = QCOW2_MAP_DATA;
	} else {
		*kind = QCOW2_MAP_UNALLOC;
	}
	return 0;
}

int qcow2_map(struct qcow2 *s, uint64_t off, uint64_t max_len, struct qcow2_map *m)
{
	uint64_t l1i = qcow2_l1_index(s, off), sc = qcow2_sc_size(s), pos = off, len = 0;
	uint64_t l2_span = 1ull << (s->cluster_bits + s->l2_bits), l2_end;
	uint8_t *l2;
	int err;

	l2_end = (off & ~(l2_span - 1)) + l2_span;
	if (l2_end - off < max_len)
		max_len = l2_end - off;
	err = get_l2(s, l1i, &l2);
	if (err)
		return err;
	memset(m, 0, sizeof(*m));
	if (!l2) {
		m->kind = QCOW2_MAP_UNALLOC;
		m->len = max_len;
		return 0;
	}
	while (len < max_len) {
		uint64_t i = qcow2_l2_index(s, pos), e = qcow2_l2_get(s, l2, i);
		uint64_t bm = qcow2_l2_get_bitmap(s, l2, i), in = qcow2_offset_in_cluster(s, pos);
		uint64_t step = ((pos | (sc - 1)) + 1) - pos;
		enum qcow2_map_kind k;

		err = classify(s, e, bm, (unsigned)(in >> s->sc_bits), &k);
		if (err)
			return err;
		if (k == QCOW2_MAP_COMPRESSED)
			step = s->cluster_size - in;
		if (len == 0) {
			m->kind = k;
			m->l2_entry = e;
			if (k == QCOW2_MAP_DATA)
				m->host_off = (e & QCOW2_L2E_OFFSET_MASK) + in;
		} else if (k != m->kind || k == QCOW2_MAP_COMPRESSED ||
			   (k == QCOW2_MAP_DATA &&
			    (e & QCOW2_L2E_OFFSET_MASK) + in != m->host_off + len)) {
			break;
		}
		len += step;
		pos += step;
		if (k == QCOW2_MAP_COMPRESSED)
			break;
	}
	m->len = KVMM_MIN(len, max_len);
	return 0;
}

/* ---- reading ---- */

int qcow2_read_compressed(struct qcow2 *s, uint64_t e, uint8_t *out)
{
	uint64_t off = e & ((1ull << s->csize_shift) - 1);
	uint64_t nb = ((e >> s->csize_shift) & s->csize_mask) + 1;
	uint64_t csize = nb * 512 - (off & 511);
	uint8_t *buf;
	int err;

	buf = malloc(csize);
	if (!buf)
		return -ENOMEM;
	err = disk_file_pread(s->d.fd, buf, csize, off);
	if (!err) {
		err = qcow2_decompress(s->compression_type, buf, csize, out, s->cluster_size);
		if (err)
			log_err("qcow2: %s: compressed cluster at %#llx does not decompress",
				s->d.filename, (unsigned long long)off);
	}
	free(buf);
	return err;
}

/* Build in out[] the part [off, off+len) of iov; returns the entry count. */
static unsigned iov_slice(const struct iovec *iov, unsigned cnt, uint64_t off, uint64_t len,
			  struct iovec *out)
{
	unsigned n = 0;

	for (unsigned i = 0; i < cnt && len; i++) {
		uint64_t take;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		take = KVMM_MIN(iov[i].iov_len - off, len);
		out[n].iov_base = (char *)iov[i].iov_base + off;
		out[n].iov_len = take;
		n++;
		len -= take;
		off = 0;
	}
	return n;
}

static void iov_zero(const struct iovec *iov, unsigned cnt)
{
	for (unsigned i = 0; i < cnt; i++)
		memset(iov[i].iov_base, 0, iov[i].iov_len);
}

/* Guest data not allocated here: from the backing file (zeroes beyond its end). */
static int read_backing(struct qcow2 *s, const struct iovec *iov, unsigned cnt, uint64_t off,
			uint64_t len)
{
	struct disk *b = s->d.backing;
	uint64_t bl;

	if (!b || off >= b->size) {
		iov_zero(iov, cnt);
		return 0;
	}
	bl = KVMM_MIN(len, b->size - off);
	if (bl < len) {
		iov_zero(iov, cnt);
		/* Read the prefix that exists in the backing file. */
		struct iovec *pre = malloc(cnt * sizeof(*pre));
		unsigned n;
		int err;

		if (!pre)
			return -ENOMEM;
		n = iov_slice(iov, cnt, 0, bl, pre);
		err = b->ops->preadv(b, pre, n, off);
		free(pre);
		return err;
	}
	return b->ops->preadv(b, iov, cnt, off);
}

static int read_chunk(struct qcow2 *s, const struct qcow2_map *m, const struct iovec *sl,
		      unsigned n, uint64_t goff)
{
	uint8_t *cbuf;
	int err;

	switch (m->kind) {
	case QCOW2_MAP_DATA:
		return disk_file_preadv(s->d.fd, sl, n, m->host_off);
	case QCOW2_MAP_ZERO:
		iov_zero(sl, n);
		return 0;
	case QCOW2_MAP_UNALLOC:
		return read_backing(s, sl, n, goff, m->len);
	case QCOW2_MAP_COMPRESSED:
		cbuf = malloc(s->cluster_size);
		if (!cbuf)
			return -ENOMEM;
		err = qcow2_read_compressed(s, m->l2_entry, cbuf);
		if (!err)
			iov_from_buf(sl, n, 0, cbuf + qcow2_offset_in_cluster(s, goff), m->len);
		free(cbuf);
		return err;
	}
	return -EINVAL;
}

int qcow2_co_preadv(struct qcow2 *s, const struct iovec *iov, unsigned cnt, uint64_t off)
{
	uint64_t total = iov_size(iov, cnt), pos = 0;
	struct iovec *sl = malloc((cnt ? cnt : 1) * sizeof(*sl));
	int err = 0;

	if (!sl)
		return -ENOMEM;
	io_lock(s, IO_SHARED);
	while (pos < total) {
		struct qcow2_map m;
		unsigned n;

		pthread_mutex_lock(&s->lock);
		err = qcow2_map(s, off + pos, total - pos, &m);
		pthread_mutex_unlock(&s->lock);
		if (err)
			break;
		n = iov_slice(iov, cnt, pos, m.len, sl);
		err = read_chunk(s, &m, sl, n, off + pos);
		if (err)
			break;
		pos += m.len;
	}
	io_unlock(s, IO_SHARED);
	free(sl);
	return err;
}

/* Read the current guest-visible content of [goff, goff+len) inside one cluster (lock held). */
static int read_current(struct qcow2 *s, uint64_t goff, uint64_t len, uint8_t *buf)
{
	uint64_t pos = 0;

	while (pos < len) {
		struct qcow2_map m;
		struct iovec v;
		int err = qcow2_map(s, goff + pos, len - pos, &m);

		if (err)
			return err;
		v.iov_base = buf + pos;
		v.iov_len = m.len;
		err = read_chunk(s, &m, &v, 1, goff + pos);
		if (err)
			return err;
		pos += m.len;
	}
	return 0;
}

/* ---- L2 table allocation ---- */

/* Make the L2 table of l1i private to the active image (allocating or copying it). */
static int get_l2_writable(struct qcow2 *s, uint64_t l1i, uint8_t **l2)
{
	uint64_t e = s->l1[l1i], old = e & QCOW2_L1E_OFFSET_MASK, new_off;
	uint8_t *tmp = NULL, *t;
	int err;

	if (old && (e & QCOW2_OFLAG_COPIED))
		return get_l2(s, l1i, l2);
	if (old) {
		err = get_l2(s, l1i, &t);
		if (err)
			return err;
		tmp = malloc(s->cluster_size);
		if (!tmp)
			return -ENOMEM;
		memcpy(tmp, t, s->cluster_size);
	}
	err = qcow2_alloc_clusters(s, 1, &new_off);
	if (err)
		goto out;
	err = qcow2_cache_get_empty(s, &s->l2c, new_off, &t);
	if (err)
		goto out;
	if (tmp)
		memcpy(t, tmp, s->cluster_size);
	else
		memset(t, 0, s->cluster_size);
	qcow2_cache_mark_dirty(&s->l2c, t);
	/* The table (and its refcount, through the cache dependency) before the L1 entry. */
	err = qcow2_cache_flush(s, &s->l2c);
	if (!err && qcow2_fdatasync(s))
		err = -errno;
	if (err)
		goto out;
	s->l1[l1i] = new_off | QCOW2_OFLAG_COPIED;
	err = qcow2_l1_write_entries(s, l1i, 1);
	if (err) {
		s->l1[l1i] = e;
		goto out;
	}
	if (old) {
		if (qcow2_fdatasync(s)) {
			err = -errno;
			goto out;
		}
		err = qcow2_refcount_update(s, old, s->cluster_size, -1);
		if (err)
			goto out;
	}
	err = get_l2(s, l1i, l2);
out:
	free(tmp);
	return err;
}

int qcow2_l2_writable(struct qcow2 *s, uint64_t goff, uint8_t **l2)
{
	return get_l2_writable(s, qcow2_l1_index(s, goff), l2);
}

/* After L2 entries stopped referencing clusters: make that durable, then drop the refs. This
 * holds with lazy refcounts too: a freed cluster may be reused (and new data written to it) at
 * once, so the L2 table on disk must no longer point to it. */
static int free_old_entries(struct qcow2 *s, const uint64_t *old, unsigned n)
{
	bool any = false;
	int err;

	for (unsigned i = 0; i < n; i++)
		if (old[i] & (QCOW2_OFLAG_COMPRESSED | QCOW2_L2E_OFFSET_MASK))
			any = true;
	if (!any)
		return 0;
	err = qcow2_cache_flush(s, &s->l2c);
	if (!err && qcow2_fdatasync(s))
		err = -errno;
	if (err)
		return err;
	for (unsigned i = 0; i < n; i++) {
		err = qcow2_free_l2_entry_clusters(s, old[i]);
		if (err)
			return err;
	}
	return 0;
}

/* ---- writing ---- */

static int check_writable(struct qcow2 *s)
{
	if (s->corrupt)
		return -EIO;
	return qcow2_mark_dirty(s);
}

static uint64_t sc_mask(unsigned first, unsigned last)
{
	uint64_t m = 0;

	for (unsigned i = first; i <= last; i++)
		m |= 1ull << i;
	return m;
}

/* Allocate or fill: the slow path of a write inside one cluster (lock held). */
static int write_slow(struct qcow2 *s, uint8_t *l2, uint64_t l2i, const struct iovec *iov,
		      unsigned cnt, uint64_t iov_off, uint64_t goff, uint64_t len)
{
	uint64_t e = qcow2_l2_get(s, l2, l2i), bm = qcow2_l2_get_bitmap(s, l2, l2i);
	uint64_t a = qcow2_offset_in_cluster(s, goff), cbase = goff - a, cs = s->cluster_size;
	uint64_t host = e & QCOW2_L2E_OFFSET_MASK, sc = qcow2_sc_size(s), ws, we, nbm = 0, ne;
	unsigned sa = (unsigned)(a >> s->sc_bits), sb = (unsigned)((a + len - 1) >> s->sc_bits);
	bool inplace = host && !(e & QCOW2_OFLAG_COMPRESSED) && (e & QCOW2_OFLAG_COPIED);
	uint64_t old = 0;
	uint8_t *buf;
	int err;

	/* Range of the cluster we write: touched subclusters, or all of it when the old
	 * content must move to a new cluster. */
	ws = (uint64_t)sa * sc;
	we = (uint64_t)(sb + 1) * sc;
	if (!inplace && (e & QCOW2_OFLAG_COMPRESSED || (host && s->ext_l2) || !s->ext_l2)) {
		ws = 0;
		we = cs;
	}
	buf = malloc(we - ws);
	if (!buf)
		return -ENOMEM;
	if (a > ws || a + len < we) {
		err = read_current(s, cbase + ws, we - ws, buf);
		if (err)
			goto out;
	}
	iov_to_buf(iov, cnt, iov_off, buf + (a - ws), len);
	/* read_current may have evicted the table: look it up again. */
	err = get_l2(s, qcow2_l1_index(s, goff), &l2);
	if (err)
		goto out;
	if (inplace && host >= s->file_end) {
		err = qcow2_signal_corruption(s, "data cluster %#llx past the image end",
					      (unsigned long long)host);
		goto out;
	}
	if (!inplace) {
		err = qcow2_alloc_clusters(s, 1, &host);
		if (err)
			goto out;
		old = e;
	}
	err = qcow2_check_overlap(s, host + ws, we - ws, 0);
	if (!err)
		err = disk_file_pwrite(s->d.fd, buf, we - ws, host + ws);
	if (err)
		goto out;
	err = get_l2(s, qcow2_l1_index(s, goff), &l2);
	if (err)
		goto out;
	ne = host | QCOW2_OFLAG_COPIED;
	if (s->ext_l2) {
		uint64_t written =
		    sc_mask((unsigned)(ws >> s->sc_bits), (unsigned)((we - 1) >> s->sc_bits));

		if (e & QCOW2_OFLAG_COMPRESSED)
			bm = 0;
		nbm = (bm | written) & 0xffffffffull;
		nbm |= (bm & 0xffffffff00000000ull) & ~(written << 32);
	}
	qcow2_l2_set(s, l2, l2i, ne, nbm);
	qcow2_cache_mark_dirty(&s->l2c, l2);
	if (old)
		err = free_old_entries(s, &old, 1);
out:
	free(buf);
	return err;
}

/* Write [goff, goff+len) inside one cluster from iov at iov_off. */
static int write_cluster_mode(struct qcow2 *s, const struct iovec *iov, unsigned cnt,
			      uint64_t iov_off, uint64_t goff, uint64_t len, struct iovec *sl,
			      enum io_mode mode)
{
	uint64_t l1i = qcow2_l1_index(s, goff), l2i = qcow2_l2_index(s, goff), e, bm, host;
	uint64_t a = qcow2_offset_in_cluster(s, goff);
	unsigned sa = (unsigned)(a >> s->sc_bits), sb = (unsigned)((a + len - 1) >> s->sc_bits);
	uint8_t *l2;
	unsigned n;
	int err;

	io_lock(s, mode);
	pthread_mutex_lock(&s->lock);
	err = check_writable(s);
	if (!err)
		err = get_l2_writable(s, l1i, &l2);
	if (err)
		goto unlock;
	e = qcow2_l2_get(s, l2, l2i);
	bm = qcow2_l2_get_bitmap(s, l2, l2i);
	host = e & QCOW2_L2E_OFFSET_MASK;
	if (host && !(e & QCOW2_OFLAG_COMPRESSED) && (e & QCOW2_OFLAG_COPIED) &&
	    qcow2_is_aligned(s, host) &&
	    (s->ext_l2 ? (bm & sc_mask(sa, sb)) == sc_mask(sa, sb) : !(e & QCOW2_OFLAG_ZERO))) {
		/* Fast path: the cluster is ours and fully allocated where we write. Every
		 * cluster we own lies below the allocation frontier. */
		err = host >= s->file_end
			  ? qcow2_signal_corruption(s, "data cluster %#llx past the image end",
						    (unsigned long long)host)
			  : qcow2_check_overlap(s, host + a, len, 0);
		pthread_mutex_unlock(&s->lock);
		if (!err) {
			n = iov_slice(iov, cnt, iov_off, len, sl);
			err = disk_file_pwritev(s->d.fd, sl, n, host + a);
		}
		io_unlock(s, mode);
		return err;
	}
	if (mode == IO_SHARED &&
	    ((e & QCOW2_OFLAG_COMPRESSED) || (host && !(e & QCOW2_OFLAG_COPIED)))) {
		/* COW out of a shared or compressed cluster frees it: wait for in-flight I/O. */
		pthread_mutex_unlock(&s->lock);
		io_unlock(s, mode);
		return write_cluster_mode(s, iov, cnt, iov_off, goff, len, sl, IO_EXCL);
	}
	err = write_slow(s, l2, l2i, iov, cnt, iov_off, goff, len);
unlock:
	pthread_mutex_unlock(&s->lock);
	io_unlock(s, mode);
	return err;
}

static int write_cluster(struct qcow2 *s, const struct iovec *iov, unsigned cnt, uint64_t iov_off,
			 uint64_t goff, uint64_t len, struct iovec *sl)
{
	return write_cluster_mode(s, iov, cnt, iov_off, goff, len, sl, IO_SHARED);
}

/* Count the L2 entries from l2i on (at most max) that are (fresh) or are not (!fresh) ones a
 * whole-cluster write may replace without freeing anything: unallocated, or zero without a
 * cluster (standard entries). */
static uint64_t count_fresh(const struct qcow2 *s, const uint8_t *l2, uint64_t l2i, uint64_t max,
			    bool fresh)
{
	uint64_t n = 0;

	while (n < max) {
		uint64_t e = qcow2_l2_get(s, l2, l2i + n);

		if ((e == 0 || e == QCOW2_OFLAG_ZERO) != fresh)
			break;
		n++;
	}
	return n;
}

/* Fast path of a write covering at least two whole clusters that are not allocated yet (in
 * one L2 table, standard entries): allocate them as one contiguous run, write the data with
 * one pwritev, then point the L2 entries at it. *done is the bytes written; when it is 0 the
 * fast path does not apply and *skip is how many bytes the caller writes cluster by cluster
 * before trying again. */
static int write_fresh_run(struct qcow2 *s, const struct iovec *iov, unsigned cnt, uint64_t iov_off,
			   uint64_t goff, uint64_t len, struct iovec *sl, uint64_t *done,
			   uint64_t *skip)
{
	uint64_t cs = s->cluster_size, l1i = qcow2_l1_index(s, goff), l2i = qcow2_l2_index(s, goff);
	uint64_t max = KVMM_MIN(len >> s->cluster_bits, qcow2_l2_entries(s) - l2i), n, host;
	uint8_t *l2;
	int err;

	*done = 0;
	*skip = KVMM_MIN(len, cs - qcow2_offset_in_cluster(s, goff));
	if (max < 2 && qcow2_is_aligned(s, goff))
		*skip = len; /* no run of two clusters in the rest of the request */
	if (s->ext_l2 || !qcow2_is_aligned(s, goff) || max < 2)
		return 0;
	io_lock(s, IO_SHARED);
	pthread_mutex_lock(&s->lock);
	err = check_writable(s);
	if (!err)
		err = get_l2_writable(s, l1i, &l2);
	if (err)
		goto unlock;
	n = count_fresh(s, l2, l2i, max, true);
	if (n < 2) {
		*skip = (n + count_fresh(s, l2, l2i + n, max - n, false)) * cs;
		goto unlock;
	}
	/* Data before the L2 entries that point to it, as write_slow. */
	err = qcow2_alloc_clusters(s, n, &host);
	if (!err)
		err = qcow2_check_overlap(s, host, n * cs, 0);
	if (!err)
		err =
		    disk_file_pwritev(s->d.fd, sl, iov_slice(iov, cnt, iov_off, n * cs, sl), host);
	if (!err)
		err = get_l2(s, l1i, &l2); /* the allocation may have used the cache */
	if (err)
		goto unlock;
	for (uint64_t i = 0; i < n; i++)
		qcow2_l2_set(s, l2, l2i + i, (host + i * cs) | QCOW2_OFLAG_COPIED, 0);
	qcow2_cache_mark_dirty(&s->l2c, l2);
	*done = n * cs;
unlock:
	pthread_mutex_unlock(&s->lock);
	io_unlock(s, IO_SHARED);
	return err;
}

int qcow2_co_pwritev(struct qcow2 *s, const struct iovec *iov, unsigned cnt, uint64_t off)
{
	uint64_t total = iov_size(iov, cnt), pos = 0, done, run_at = 0;
	struct iovec *sl = malloc((cnt ? cnt : 1) * sizeof(*sl));
	int err = 0;

	if (!sl)
		return -ENOMEM;
	while (pos < total) {
		uint64_t in = qcow2_offset_in_cluster(s, off + pos);
		uint64_t len = KVMM_MIN(total - pos, s->cluster_size - in);

		if (pos >= run_at) {
			uint64_t skip;

			err = write_fresh_run(s, iov, cnt, pos, off + pos, total - pos, sl, &done,
					      &skip);
			if (err)
				break;
			if (done) {
				pos += done;
				continue;
			}
			run_at = pos + KVMM_MAX(skip, len);
		}
		err = write_cluster(s, iov, cnt, pos, off + pos, len, sl);
		if (err)
			break;
		pos += len;
	}
	free(sl);
	return err;
}

/* ---- zeroes and discard ---- */

/* Whole-cluster zero/discard of L2 entry l2i (lock held). *old gets what to free. */
static void zero_entry(struct qcow2 *s, uint8_t *l2, uint64_t l2i, bool discard, bool unmap,
		       bool dealloc, uint64_t *old)
{
	uint64_t e = qcow2_l2_get(s, l2, l2i), host = e & QCOW2_L2E_OFFSET_MASK, ne, nbm = 0;
	bool keep =
	    !unmap && !discard && host && !(e & QCOW2_OFLAG_COMPRESSED) && (e & QCOW2_OFLAG_COPIED);

	*old = 0;
	if (s->ext_l2) {
		ne = keep ? e : 0;
		nbm = 0xffffffff00000000ull;
	} else if (s->version >= 3) {
		ne = (keep ? e : 0) | QCOW2_OFLAG_ZERO;
	} else {
		ne = 0; /* v2 discard: unallocated (reads the backing file, if any) */
	}
	if (dealloc) {
		ne = 0;
		nbm = 0;
	}
	if (!keep)
		*old = (e & QCOW2_OFLAG_COMPRESSED) ? e : host;
	qcow2_l2_set(s, l2, l2i, ne, nbm);
	qcow2_cache_mark_dirty(&s->l2c, l2);
}

/* Zero whole subclusters [first, last] of one cluster (extended L2, lock held). */
static void zero_subclusters(struct qcow2 *s, uint8_t *l2, uint64_t l2i, unsigned first,
			     unsigned last)
{
	uint64_t e = qcow2_l2_get(s, l2, l2i), bm = qcow2_l2_get_bitmap(s, l2, l2i);
	uint64_t m = sc_mask(first, last);

	bm = (bm & ~m) | (m << 32);
	qcow2_l2_set(s, l2, l2i, e, bm);
	qcow2_cache_mark_dirty(&s->l2c, l2);
}

/* Returns -EAGAIN when the caller must write real zeroes: over the whole range, or only over
 * the bytes outside whole subclusters when *ends_only (those subclusters were zeroed here). */
static int zero_cluster_range(struct qcow2 *s, uint64_t goff, uint64_t len, bool discard,
			      bool unmap, bool dealloc, uint64_t *old, bool *ends_only)
{
	uint64_t l1i = qcow2_l1_index(s, goff), l2i = qcow2_l2_index(s, goff);
	uint64_t a = qcow2_offset_in_cluster(s, goff), sc = qcow2_sc_size(s);
	uint8_t *l2;
	int err;

	*old = 0;
	*ends_only = false;
	if (len == s->cluster_size) {
		/* Nothing to do for discard of an unallocated cluster without backing. */
		err = get_l2(s, l1i, &l2);
		if (err)
			return err;
		if (!l2 &&
		    (dealloc || ((s->version < 3 || !s->d.backing) && !s->ext_l2 && discard)))
			return 0;
		err = get_l2_writable(s, l1i, &l2);
		if (err)
			return err;
		zero_entry(s, l2, l2i, discard, unmap, dealloc, old);
		return 0;
	}
	if (discard)
		return 0; /* partial clusters are not discarded (as QEMU) */
	if (s->ext_l2) {
		unsigned first = (unsigned)((a + sc - 1) >> s->sc_bits);
		unsigned last_ex = (unsigned)((a + len) >> s->sc_bits);

		if (first < last_ex) {
			err = get_l2_writable(s, l1i, &l2);
			if (err)
				return err;
			if (!(qcow2_l2_get(s, l2, l2i) & QCOW2_OFLAG_COMPRESSED)) {
				zero_subclusters(s, l2, l2i, first, last_ex - 1);
				/* The partial subclusters at either end are written below. A
				 * compressed cluster has no subclusters: it is written whole. */
				*ends_only = true;
				if ((uint64_t)first * sc > a) {
					err = -EAGAIN;
				}
				if ((uint64_t)last_ex * sc < a + len)
					err = -EAGAIN;
				return err;
			}
		}
	}
	return discard ? 0 : -EAGAIN; /* partial: write real zeroes */
}

static int write_zero_bytes(struct qcow2 *s, uint64_t goff, uint64_t len)
{
	uint8_t *z = calloc(1, len);
	struct iovec v = {z, len}, sl;
	int err;

	if (!z)
		return -ENOMEM;
	err = write_cluster_mode(s, &v, 1, 0, goff, len, &sl, IO_HELD);
	free(z);
	return err;
}

int qcow2_zero_or_discard(struct qcow2 *s, uint64_t off, uint64_t len, bool discard, bool may_unmap)
{
	return qcow2_zero_discard_dealloc(s, off, len, discard, may_unmap, false);
}

static int zero_discard_excl(struct qcow2 *s, uint64_t off, uint64_t len, bool discard,
			     bool may_unmap, bool dealloc)
{
	uint64_t end = off + len, sc = qcow2_sc_size(s);
	int err = 0;

	if (!discard && !dealloc && s->version < 3) {
		/* No zero flag in v2: write real zeroes. */
		while (off < end) {
			uint64_t n =
			    KVMM_MIN(end - off, s->cluster_size - qcow2_offset_in_cluster(s, off));

			err = write_zero_bytes(s, off, n);
			if (err)
				return err;
			off += n;
		}
		return 0;
	}
	while (off < end) {
		uint64_t n = KVMM_MIN(end - off, s->cluster_size - qcow2_offset_in_cluster(s, off));
		uint64_t old = 0;
		bool ends_only = false;

		pthread_mutex_lock(&s->lock);
		err = check_writable(s);
		if (!err)
			err = zero_cluster_range(s, off, n, discard, may_unmap, dealloc, &old,
						 &ends_only);
		if (!err && old)
			err = free_old_entries(s, &old, 1);
		pthread_mutex_unlock(&s->lock);
		if (err == -EAGAIN) {
			/* Partial (sub)cluster: write the bytes outside whole subclusters. */
			uint64_t a = off, b = off + n;
			uint64_t fa = ALIGN_UP(a, sc), fb = ALIGN_DOWN(b, sc);

			if (ends_only && fa < fb) {
				err = fa > a ? write_zero_bytes(s, a, fa - a) : 0;
				if (!err && b > fb)
					err = write_zero_bytes(s, fb, b - fb);
			} else {
				err = write_zero_bytes(s, a, n);
			}
		}
		if (err)
			return err;
		off += n;
	}
	return 0;
}

int qcow2_zero_discard_dealloc(struct qcow2 *s, uint64_t off, uint64_t len, bool discard,
			       bool may_unmap, bool dealloc)
{
	int err;

	io_lock(s, IO_EXCL); /* clusters may be freed: no request may still use them */
	err = zero_discard_excl(s, off, len, discard, may_unmap, dealloc);
	io_unlock(s, IO_EXCL);
	return err;
}

/* ---- compressed write ---- */

/* Store the cluster at off: compressed (dst, clen bytes) or, with clen 0, as a normal cluster
 * from src (len bytes). io_lock held exclusively. */
static int write_compressed_excl(struct qcow2 *s, uint64_t off, const uint8_t *src, size_t len,
				 const uint8_t *dst, size_t clen)
{
	uint64_t host, nb, ne, old;
	uint8_t *l2;
	int err;

	if (!clen) { /* incompressible: store normally */
		struct iovec v = {(void *)(uintptr_t)src, len}, sl;

		return write_cluster_mode(s, &v, 1, 0, off, len, &sl, IO_HELD);
	}
	pthread_mutex_lock(&s->lock);
	err = check_writable(s);
	if (!err)
		err = get_l2_writable(s, qcow2_l1_index(s, off), &l2);
	if (!err)
		err = qcow2_alloc_bytes(s, clen, &host);
	if (!err)
		err = qcow2_check_overlap(s, host, clen, 0);
	if (!err)
		err = disk_file_pwrite(s->d.fd, dst, clen, host);
	if (!err)
		err = get_l2(s, qcow2_l1_index(s, off), &l2);
	if (!err) {
		old = qcow2_l2_get(s, l2, qcow2_l2_index(s, off));
		nb = ((host + clen - 1) >> 9) - (host >> 9);
		ne = QCOW2_OFLAG_COMPRESSED | (nb << s->csize_shift) | host;
		qcow2_l2_set(s, l2, qcow2_l2_index(s, off), ne, 0);
		qcow2_cache_mark_dirty(&s->l2c, l2);
		if (!(old & QCOW2_OFLAG_COMPRESSED))
			old &= QCOW2_L2E_OFFSET_MASK;
		err = free_old_entries(s, &old, 1);
	}
	pthread_mutex_unlock(&s->lock);
	return err;
}

int qcow2_write_compressed_cluster(struct qcow2 *s, uint64_t off, const void *data, size_t len)
{
	uint64_t cs = s->cluster_size;
	uint8_t *src = NULL, *dst = malloc(cs);
	const uint8_t *in = data;
	size_t clen = 0;
	int err = -ENOMEM;

	if (!dst)
		goto out;
	if (len < cs) { /* the last cluster: compress it zero-padded */
		src = calloc(1, cs);
		if (!src)
			goto out;
		memcpy(src, data, len);
		in = src;
	}
	/* Deflate outside every lock (compression_type is fixed at open), so that callers on
	 * several threads compress in parallel; only the allocation and the L2 update below
	 * are serialised. */
	err = qcow2_compress(s->compression_type, in, cs, dst, cs, &clen);
	if (err)
		goto out;
	io_lock(s, IO_EXCL);
	err = write_compressed_excl(s, off, in, len, dst, clen);
	io_unlock(s, IO_EXCL);
out:
	free(src);
	free(dst);
	return err;
}

/* ---- L1 growth and whole-tree operations ---- */

int qcow2_grow_l1(struct qcow2 *s, uint64_t min_size)
{
	uint64_t n = KVMM_MAX(min_size, (uint64_t)s->l1_size), bytes, new_off;
	uint64_t old_off = s->l1_offset, old_bytes = (uint64_t)s->l1_size * 8, *nl, *be;
	uint8_t hdr[12];
	int err;

	if (n <= s->l1_size)
		return 0;
	bytes = n * 8;
	if (bytes > QCOW2_MAX_L1_BYTES)
		return -EFBIG;
	nl = calloc(n, 8);
	be = calloc(n, 8);
	if (!nl || !be) {
		err = -ENOMEM;
		goto out;
	}
	memcpy(nl, s->l1, old_bytes);
	for (uint64_t i = 0; i < n; i++)
		be[i] = htobe64(nl[i]);
	err = qcow2_alloc_clusters(s, (bytes + s->cluster_size - 1) >> s->cluster_bits, &new_off);
	if (!err)
		err = disk_file_pwrite(s->d.fd, be, ALIGN_UP(bytes, (uint64_t)8), new_off);
	if (!err)
		err = qcow2_flush_all(s, true);
	if (err)
		goto out;
	{
		uint32_t sz = htobe32((uint32_t)n);
		uint64_t o = htobe64(new_off);

		memcpy(hdr, &sz, 4);
		memcpy(hdr + 4, &o, 8);
	}
	err = disk_file_pwrite(s->d.fd, hdr, sizeof(hdr), 36);
	if (!err && qcow2_fdatasync(s))
		err = -errno;
	if (err)
		goto out;
	free(s->l1);
	s->l1 = nl;
	nl = NULL;
	s->l1_size = (uint32_t)n;
	s->l1_offset = new_off;
	if (old_bytes)
		err = qcow2_refcount_update(s, old_off, old_bytes, -1);
out:
	free(nl);
	free(be);
	return err;
}

/* Apply delta to every cluster referenced from an L1 table (L2 tables and data). With a
 * positive delta (snapshot create) COPIED flags are cleared in the active tables. */
int qcow2_ref_l1_tree(struct qcow2 *s, uint64_t *l1, uint32_t l1_size, int delta)
{
	int err;

	for (uint32_t i = 0; i < l1_size; i++) {
		uint64_t l2off = l1[i] & QCOW2_L1E_OFFSET_MASK;
		uint8_t *l2;

		if (!l2off)
			continue;
		if (!qcow2_is_aligned(s, l2off) || l2off < s->cluster_size)
			return qcow2_signal_corruption(s, "L2 table offset %#llx invalid",
						       (unsigned long long)l2off);
		for (uint64_t j = 0; j < qcow2_l2_entries(s); j++) {
			uint64_t e;

			err = qcow2_cache_get(s, &s->l2c, l2off, &l2);
			if (err)
				return err;
			e = qcow2_l2_get(s, l2, j);
			if (delta > 0 && (e & QCOW2_OFLAG_COPIED) && l1 == s->l1) {
				qcow2_l2_set(s, l2, j, e & ~QCOW2_OFLAG_COPIED,
					     qcow2_l2_get_bitmap(s, l2, j));
				qcow2_cache_mark_dirty(&s->l2c, l2);
			}
			if (e & QCOW2_OFLAG_COMPRESSED) {
				uint64_t off = e & ((1ull << s->csize_shift) - 1);
				uint64_t nb = ((e >> s->csize_shift) & s->csize_mask) + 1;

				err = qcow2_refcount_update(s, off & ~511ull, nb * 512, delta);
			} else if (e & QCOW2_L2E_OFFSET_MASK) {
				err = qcow2_refcount_update(s, e & QCOW2_L2E_OFFSET_MASK,
							    s->cluster_size, delta);
			}
			if (err)
				return err;
		}
		err = qcow2_refcount_update(s, l2off, s->cluster_size, delta);
		if (err)
			return err;
		if (delta > 0 && l1 == s->l1)
			l1[i] &= ~QCOW2_OFLAG_COPIED;
	}
	return 0;
}

int qcow2_free_l1_tree(struct qcow2 *s, const uint64_t *l1, uint32_t l1_size)
{
	return qcow2_ref_l1_tree(s, (uint64_t *)(uintptr_t)l1, l1_size, -1);
}

int qcow2_fix_copied(struct qcow2 *s)
{
	uint64_t rc;
	int err;

	for (uint32_t i = 0; i < s->l1_size; i++) {
		uint64_t l2off = s->l1[i] & QCOW2_L1E_OFFSET_MASK, ne;

		if (!l2off)
			continue;
		err = qcow2_refcount_get(s, l2off >> s->cluster_bits, &rc);
		if (err)
			return err;
		ne = l2off | (rc == 1 ? QCOW2_OFLAG_COPIED : 0);
		if (ne != s->l1[i]) {
			s->l1[i] = ne;
			err = qcow2_l1_write_entries(s, i, 1);
			if (err)
				return err;
		}
		for (uint64_t j = 0; j < qcow2_l2_entries(s); j++) {
			uint8_t *l2;
			uint64_t e, host;

			err = qcow2_cache_get(s, &s->l2c, l2off, &l2);
			if (err)
				return err;
			e = qcow2_l2_get(s, l2, j);
			host = e & QCOW2_L2E_OFFSET_MASK;
			if ((e & QCOW2_OFLAG_COMPRESSED) || !host)
				continue;
			err = qcow2_refcount_get(s, host >> s->cluster_bits, &rc);
			if (err)
				return err;
			err = qcow2_cache_get(s, &s->l2c, l2off, &l2);
			if (err)
				return err;
			ne = rc == 1 ? (e | QCOW2_OFLAG_COPIED) : (e & ~QCOW2_OFLAG_COPIED);
			if (ne != e) {
				qcow2_l2_set(s, l2, j, ne, qcow2_l2_get_bitmap(s, l2, j));
				qcow2_cache_mark_dirty(&s->l2c, l2);
			}
		}
	}
	return 0;
}
