/* mem/gmem.c — see gmem.h. The only file that does arithmetic on host addresses of guest RAM. */
#include "mem/gmem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/ckd.h"
#include "base/iovbuf.h"

struct gmem {
	unsigned n;
	struct gmem_region r[GMEM_MAX_REGIONS]; /* sorted by gpa */
};

static int region_cmp(const void *a, const void *b)
{
	const struct gmem_region *x = a, *y = b;

	return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

int gmem_create(struct gmem **out, const struct gmem_region *r, unsigned n)
{
	struct gmem *m;
	uint64_t end;

	if (n == 0 || n > GMEM_MAX_REGIONS)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	memcpy(m->r, r, n * sizeof(*r));
	m->n = n;
	qsort(m->r, n, sizeof(m->r[0]), region_cmp);
	for (unsigned i = 0; i < n; i++) {
		if (m->r[i].len == 0 || !m->r[i].hva || ckd_add(&end, m->r[i].gpa, m->r[i].len - 1))
			goto err_free;
		if (i + 1 < n && end >= m->r[i + 1].gpa)
			goto err_free;
	}
	*out = m;
	return 0;

err_free:
	free(m);
	return -EINVAL;
}

void gmem_destroy(struct gmem *m)
{
	free(m);
}

unsigned gmem_region_count(const struct gmem *m)
{
	return m->n;
}

const struct gmem_region *gmem_region_at(const struct gmem *m, unsigned i)
{
	return i < m->n ? &m->r[i] : NULL;
}

static const struct gmem_region *gmem_find(const struct gmem *m, gpa_t gpa)
{
	unsigned lo = 0, hi = m->n;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		const struct gmem_region *r = &m->r[mid];

		if (gpa < r->gpa)
			hi = mid;
		else if (gpa - r->gpa >= r->len)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

void *gmem_ptr(const struct gmem *m, gpa_t gpa, size_t len)
{
	const struct gmem_region *r;
	uint64_t off;

	if (len == 0)
		return NULL;
	r = gmem_find(m, gpa);
	if (!r)
		return NULL;
	off = gpa - r->gpa;
	if (len > r->len - off)
		return NULL;
	return r->hva + off;
}

/* Walk [gpa, gpa+len) chunk by chunk across adjacent regions. */
static int gmem_span(const struct gmem *m, gpa_t gpa, size_t len, uint8_t **hva, size_t *chunk)
{
	const struct gmem_region *r = gmem_find(m, gpa);
	uint64_t off;

	if (!r)
		return -EFAULT;
	off = gpa - r->gpa;
	*hva = r->hva + off;
	*chunk = (size_t)KVMM_MIN((uint64_t)len, r->len - off);
	return 0;
}

static int gmem_check_range(gpa_t gpa, size_t len)
{
	gpa_t end;

	if (len == 0)
		return 0;
	return ckd_add(&end, gpa, (uint64_t)len - 1) ? -EFAULT : 0;
}

int gmem_read(const struct gmem *m, gpa_t gpa, void *dst, size_t len)
{
	uint8_t *d = dst, *h;
	size_t c;
	int err = gmem_check_range(gpa, len);

	while (!err && len) {
		err = gmem_span(m, gpa, len, &h, &c);
		if (err)
			break;
		memcpy(d, h, c);
		d += c;
		gpa += c;
		len -= c;
	}
	return err;
}

/* The whole of [gpa, gpa+len) is backed: checked before a write so that a failed write
 * changes nothing. */
static int gmem_check_backed(const struct gmem *m, gpa_t gpa, size_t len)
{
	uint8_t *h;
	size_t c;
	int err = gmem_check_range(gpa, len);

	for (; !err && len; gpa += c, len -= c)
		err = gmem_span(m, gpa, len, &h, &c);
	return err;
}

int gmem_write(const struct gmem *m, gpa_t gpa, const void *src, size_t len)
{
	const uint8_t *s = src;
	uint8_t *h;
	size_t c;
	int err = gmem_check_backed(m, gpa, len);

	while (!err && len) {
		err = gmem_span(m, gpa, len, &h, &c);
		memcpy(h, s, c);
		s += c;
		gpa += c;
		len -= c;
	}
	return err;
}

int gmem_fill(const struct gmem *m, gpa_t gpa, int v, size_t len)
{
	uint8_t *h;
	size_t c;
	int err = gmem_check_backed(m, gpa, len);

	while (!err && len) {
		err = gmem_span(m, gpa, len, &h, &c);
		memset(h, v, c);
		gpa += c;
		len -= c;
	}
	return err;
}

int gmem_iov_add(const struct gmem *m, struct iovbuf *iov, gpa_t gpa, uint32_t len)
{
	uint8_t *h;
	size_t c, l = len;
	int err = gmem_check_range(gpa, len);

	if (len == 0)
		return -EFAULT;
	while (!err && l) {
		err = gmem_span(m, gpa, l, &h, &c);
		if (!err)
			err = iovbuf_add(iov, h, c);
		gpa += c;
		l -= c;
	}
	return err;
}
