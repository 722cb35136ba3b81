/* vmm/bus.h — a PIO or MMIO bus: a sorted, non-overlapping table of device ranges.
 *
 * Built on the main thread before vCPUs run (bus_add), then read-only: lookups take no lock.
 * Each access is dispatched with the target device's lock held (one lock per device, shared by
 * all of that device's ranges), so a device sees one access at a time. Unclaimed reads return
 * all-ones, unclaimed writes are dropped; both are counted (atomic counters). */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"

struct io_ops;

struct bus_range {
	uint64_t base, len;
	const struct io_ops *ops;
	void *dev;
	const char *name;
	pthread_mutex_t *lock; /* owned by the bus, shared between ranges of one dev */
	bool owns_lock;
};

struct bus {
	const char *name;
	struct bus_range *r;
	unsigned n, cap;
	uint64_t unclaimed_reads, unclaimed_writes; /* atomic */
};

void bus_init(struct bus *b, const char *name);
void bus_fini(struct bus *b);

/* Add [base, base+len). -EINVAL on zero length or overflow, -EEXIST on overlap, -ENOMEM. */
int bus_add(struct bus *b, uint64_t base, uint64_t len, const struct io_ops *ops, void *dev,
	    const char *name) KVMM_MUST_CHECK;

/* Dispatch an access of len bytes (1..8). True if a device claimed it. An access that is not
 * entirely inside one device is unclaimed. */
bool bus_read(struct bus *b, uint64_t addr, void *data, uint32_t len);
bool bus_write(struct bus *b, uint64_t addr, const void *data, uint32_t len);

/* The range containing addr, or NULL (for diagnostics and tests). */
const struct bus_range *bus_find(const struct bus *b, uint64_t addr);
