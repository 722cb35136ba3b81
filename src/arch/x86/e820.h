/* arch/x86/e820.h — the guest's physical memory map, derived from the RAM regions and
 * layout.h. Built once on the main thread before boot; read-only afterwards. */
#pragma once

#include <stdint.h>

#include "base/compiler.h"

struct gmem;

#define E820_RAM	 1
#define E820_RESERVED	 2
#define E820_ACPI	 3
#define E820_MAX_ENTRIES 32

struct e820_entry {
	uint64_t addr, size;
	uint32_t type;
};

struct e820_map {
	unsigned n;
	struct e820_entry e[E820_MAX_ENTRIES];
};

/* RAM from the gmem regions with the low-memory holes carved out: [0, EBDA) RAM,
 * [EBDA, 1 MiB) reserved, [1 MiB, ...) RAM, plus high RAM; sorted, non-overlapping.
 * -E2BIG if the map does not fit, -EINVAL if there is no RAM at 0. */
int e820_build(struct e820_map *map, const struct gmem *m) KVMM_MUST_CHECK;

/* Append one entry (kept sorted). -E2BIG when full. */
int e820_add(struct e820_map *map, uint64_t addr, uint64_t size, uint32_t type) KVMM_MUST_CHECK;

/* Total bytes of E820_RAM. */
uint64_t e820_ram_bytes(const struct e820_map *map);
