/* arch/x86/e820.c — see e820.h. */
#include "arch/x86/e820.h"

#include <errno.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "mem/gmem.h"

int e820_add(struct e820_map *map, uint64_t addr, uint64_t size, uint32_t type)
{
	unsigned i;

	if (map->n >= E820_MAX_ENTRIES)
		return -E2BIG;
	for (i = map->n; i > 0 && map->e[i - 1].addr > addr; i--)
		map->e[i] = map->e[i - 1];
	map->e[i] = (struct e820_entry){addr, size, type};
	map->n++;
	return 0;
}

uint64_t e820_ram_bytes(const struct e820_map *map)
{
	uint64_t t = 0;

	for (unsigned i = 0; i < map->n; i++)
		if (map->e[i].type == E820_RAM)
			t += map->e[i].size;
	return t;
}

int e820_build(struct e820_map *map, const struct gmem *m)
{
	int err = 0;

	memset(map, 0, sizeof(*map));
	for (unsigned i = 0; !err && i < gmem_region_count(m); i++) {
		const struct gmem_region *r = gmem_region_at(m, i);
		uint64_t end = r->gpa + r->len;

		if (r->gpa == 0) {
			if (r->len <= LAYOUT_BIOS_END)
				return -EINVAL;
			err = e820_add(map, 0, LAYOUT_EBDA, E820_RAM);
			if (!err)
				err = e820_add(map, LAYOUT_EBDA, LAYOUT_BIOS_END - LAYOUT_EBDA,
					       E820_RESERVED);
			if (!err)
				err =
				    e820_add(map, LAYOUT_BIOS_END, end - LAYOUT_BIOS_END, E820_RAM);
		} else {
			err = e820_add(map, r->gpa, r->len, E820_RAM);
		}
	}
	if (!err && (map->n == 0 || map->e[0].addr != 0))
		err = -EINVAL;
	return err;
}
