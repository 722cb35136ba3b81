/* base/iovbuf.c — see iovbuf.h. */
#include "base/iovbuf.h"

#include <errno.h>
#include <string.h>

#include "base/ckd.h"

int iovbuf_add(struct iovbuf *b, void *base, size_t len)
{
	uint64_t t;

	if (b->cnt >= b->cap)
		return -E2BIG;
	if (ckd_add(&t, b->total, (uint64_t)len))
		return -E2BIG;
	b->iov[b->cnt].iov_base = base;
	b->iov[b->cnt].iov_len = len;
	b->cnt++;
	b->total = t;
	return 0;
}

size_t iov_size(const struct iovec *iov, unsigned cnt)
{
	size_t s = 0;

	for (unsigned i = 0; i < cnt; i++)
		s += iov[i].iov_len;
	return s;
}

static size_t iov_copy(const struct iovec *iov, unsigned cnt, size_t off, void *buf, size_t len,
		       int to_buf)
{
	size_t done = 0;

	for (unsigned i = 0; i < cnt && done < len; i++) {
		size_t n;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		n = KVMM_MIN(iov[i].iov_len - off, len - done);
		if (to_buf)
			memcpy((char *)buf + done, (char *)iov[i].iov_base + off, n);
		else
			memcpy((char *)iov[i].iov_base + off, (const char *)buf + done, n);
		done += n;
		off = 0;
	}
	return done;
}

size_t iov_to_buf(const struct iovec *iov, unsigned cnt, size_t off, void *buf, size_t len)
{
	return iov_copy(iov, cnt, off, buf, len, 1);
}

size_t iov_from_buf(const struct iovec *iov, unsigned cnt, size_t off, const void *buf, size_t len)
{
	return iov_copy(iov, cnt, off, (void *)(uintptr_t)buf, len, 0);
}
