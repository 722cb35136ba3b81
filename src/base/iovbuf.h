/* base/iovbuf.h — a fixed-capacity iovec array with a running byte total.
 * Owned by one thread at a time. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/compiler.h"

struct iovbuf {
	struct iovec *iov;
	unsigned cnt, cap;
	uint64_t total;
};

static inline void iovbuf_init(struct iovbuf *b, struct iovec *storage, unsigned cap)
{
	b->iov = storage;
	b->cnt = 0;
	b->cap = cap;
	b->total = 0;
}

/* Append one host buffer. -E2BIG when full or when the total would overflow. */
int iovbuf_add(struct iovbuf *b, void *base, size_t len) KVMM_MUST_CHECK;

/* Copy between a flat buffer and an iovec list starting at byte `off`. Returns bytes copied. */
size_t iov_to_buf(const struct iovec *iov, unsigned cnt, size_t off, void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned cnt, size_t off, const void *buf, size_t len);
size_t iov_size(const struct iovec *iov, unsigned cnt);
