/* mem/gmem.h — guest RAM regions and the only guest-physical -> host translation.
 *
 * A struct gmem is built once before vCPUs run and is immutable afterwards, so any thread may
 * read through it without locks. Every access is bounds-checked: a guest address that is not
 * backed, a zero length or an overflowing range is refused, never clamped. Memory returned by
 * gmem_ptr() is shared with the guest: read each field once (copy, then validate). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"

struct iovbuf;

typedef uint64_t gpa_t;

#define GMEM_MAX_REGIONS 8

struct gmem_region {
	gpa_t gpa;
	uint64_t len;
	uint8_t *hva;
	unsigned flags;
};

struct gmem;

/* Copy the region table (regions must not overlap, len > 0, gpa+len must not overflow).
 * -EINVAL on a bad table, -ENOMEM. The host memory stays owned by the caller. */
int gmem_create(struct gmem **out, const struct gmem_region *r, unsigned n) KVMM_MUST_CHECK;
void gmem_destroy(struct gmem *m);

unsigned gmem_region_count(const struct gmem *m);
const struct gmem_region *gmem_region_at(const struct gmem *m, unsigned i);

/* Host pointer iff [gpa, gpa+len) lies in ONE region; NULL on overflow, len == 0 or a hole. */
void *gmem_ptr(const struct gmem *m, gpa_t gpa, size_t len);

/* Copy in/out; may span adjacent regions. 0 or -EFAULT. */
int gmem_read(const struct gmem *m, gpa_t gpa, void *dst, size_t len) KVMM_MUST_CHECK;
int gmem_write(const struct gmem *m, gpa_t gpa, const void *src, size_t len) KVMM_MUST_CHECK;
#define gmem_read_obj(m, gpa, p)  gmem_read((m), (gpa), (p), sizeof(*(p)))
#define gmem_write_obj(m, gpa, p) gmem_write((m), (gpa), (p), sizeof(*(p)))

/* Fill [gpa, gpa+len) with byte c. 0 or -EFAULT. */
int gmem_fill(const struct gmem *m, gpa_t gpa, int c, size_t len) KVMM_MUST_CHECK;

/* Append a guest buffer to an iovec list, split at region boundaries. -EFAULT, -E2BIG. */
int gmem_iov_add(const struct gmem *m, struct iovbuf *iov, gpa_t gpa, uint32_t len) KVMM_MUST_CHECK;
