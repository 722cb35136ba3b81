/* tests/guest/payload/hostile.c — wild port reads/writes over the whole port space (except the
 * debug-exit, reset, power-off, fw_cfg and COM1 ports), accesses to unbacked MMIO (3 GiB,
 * 0xfe000000, 64 GiB if the CPU can address it), rep ins/outs with huge counts and a rep ins
 * that runs off the end of RAM (the last RAM page below 3 GiB). Prints "survived" and passes.
 * Unclaimed port reads must return all ones. Skipped: the debug-exit port (0xf4-0xf7: QEMU's
 * isa-debug-exit is 4 bytes wide), resets (0x64, 0x92, 0xcf9), ACPI PM (0x600-0x60f; QEMU pc
 * 0xb000-0xb03f), fw_cfg (0x510-0x51b) and COM1 (0x3f8-0x3ff); a 2/4-byte access is skipped if
 * it covers any of them. Arguments: none. */
#include "payload.h"

const char payload_name[] = "hostile";

#define SCRATCH	    0x1000000ull /* 16 MiB: scratch RAM for the string I/O buffers */
#define SCRATCH_LEN 0x40000ull	 /* 256 KiB: 64 pages per rep */
/* Ports (4-byte aligned) with no device on kvmm, QEMU microvm or QEMU pc. */
static const uint16_t unclaimed[] = {0x100, 0x204, 0x1234, 0x5658, 0x8000, 0xbee0, 0xe010, 0xfffc};

static bool skip_port(unsigned p)
{
	return (p >= 0xf4 && p <= 0xf7) || p == 0x64 || p == 0x92 || p == 0xcf9 ||
	       (p >= 0x600 && p <= 0x60f) || (p >= 0x510 && p <= 0x51b) ||
	       (p >= 0x3f8 && p <= 0x3ff) ||
	       (p >= 0xb000 && p <= 0xb03f); /* QEMU pc PIIX4 PM block */
}

static void port_sweep(void)
{
	unsigned n = 0;

	for (unsigned p = 0; p < 0x10000; p++) {
		if (skip_port(p))
			continue;
		(void)inb((uint16_t)p);
		outb((uint16_t)p, 0);
		if ((p & 3) == 0 && !skip_port(p + 1) && !skip_port(p + 2) && !skip_port(p + 3)) {
			(void)inw((uint16_t)p);
			(void)inl((uint16_t)p);
			outw((uint16_t)p, 0xffff);
			outl((uint16_t)p, 0xffffffffu);
		}
		n++;
	}
	printf("hostile: swept %u ports\n", n);
}

static bool string_io(void)
{
	uint8_t *buf = (uint8_t *)(uintptr_t)SCRATCH;
	const uint64_t *q = (const uint64_t *)(uintptr_t)SCRATCH;
	uint64_t cnt = SCRATCH_LEN, ones = 0;
	uint16_t port = 0x1234;

	memset(buf, 0, SCRATCH_LEN);
	__asm__ volatile("cld; rep insb" : "+D"(buf), "+c"(cnt) : "d"(port) : "memory");
	buf = (uint8_t *)(uintptr_t)SCRATCH;
	for (uint64_t i = 0; i < SCRATCH_LEN / 8; i++)
		ones += q[i] == ~0ull ? 8 : 0;
	printf("hostile: rep insb x %llu from port %x: %lu bytes of 0xff\n", SCRATCH_LEN, port,
	       ones);
	cnt = SCRATCH_LEN / 4;
	__asm__ volatile("rep insl" : "+D"(buf), "+c"(cnt) : "d"(port) : "memory");
	buf = (uint8_t *)(uintptr_t)SCRATCH;
	cnt = SCRATCH_LEN;
	__asm__ volatile("rep outsb" : "+S"(buf), "+c"(cnt) : "d"(port) : "memory");
	buf = (uint8_t *)(uintptr_t)SCRATCH;
	cnt = SCRATCH_LEN / 2;
	__asm__ volatile("rep outsw" : "+S"(buf), "+c"(cnt) : "d"(port) : "memory");
	return ones == SCRATCH_LEN;
}

/* rep insb/outsb whose buffer runs from the last RAM page into unbacked space. */
static void string_io_off_ram(const struct boot_info *bi)
{
	uint64_t end = 0;

	for (unsigned i = 0; i < bi->nr_memmap; i++) {
		const struct mem_range *r = &bi->memmap[i];

		if (r->type == 1 && r->addr + r->len <= 0xc0000000ull && r->addr + r->len > end)
			end = r->addr + r->len;
	}
	if (!end || end > 0xc0000000ull - 0x10000)
		return;
	for (int dir = 0; dir < 2; dir++) {
		uint8_t *p = (uint8_t *)(uintptr_t)(end - 0x1000);
		uint64_t cnt = 0x10000;

		if (dir == 0)
			__asm__ volatile("rep insb" : "+D"(p), "+c"(cnt) : "d"(0x1234) : "memory");
		else
			__asm__ volatile("rep outsb" : "+S"(p), "+c"(cnt) : "d"(0x1234) : "memory");
	}
	printf("hostile: rep ins/outs across the end of RAM at %lx\n", end);
}

static void mmio_poke(uint64_t base)
{
	volatile uint8_t *b = (volatile uint8_t *)(uintptr_t)base;
	volatile uint16_t *w = (volatile uint16_t *)(uintptr_t)(base + 0x10);
	volatile uint32_t *l = (volatile uint32_t *)(uintptr_t)(base + 0x20);
	volatile uint64_t *q = (volatile uint64_t *)(uintptr_t)(base + 0x40);
	uint64_t v;

	v = *b + *w + *l + *q;
	*b = 0x5a;
	*w = 0x5a5a;
	*l = 0x5a5a5a5a;
	*q = 0x5a5a5a5a5a5a5a5aull;
	printf("hostile: MMIO %lx read %x %x %x %lx (sum %lx)\n", base, *b, *w, *l, *q, v);
}

int payload_main(const struct boot_info *bi)
{
	bool ones = true;

	for (unsigned i = 0; i < PAYLOAD_ARRAY_SIZE(unclaimed); i++) {
		uint16_t p = unclaimed[i];
		uint8_t b = inb(p);
		uint16_t w = inw(p);
		uint32_t l = inl(p);

		if (b != 0xff || w != 0xffff || l != 0xffffffffu) {
			printf("hostile: port %x reads %x %x %x\n", p, b, w, l);
			ones = false;
		}
	}
	check(ones, "unclaimed port reads return all ones (1, 2 and 4 bytes)");
	port_sweep();
	check(string_io(), "rep insb from an unclaimed port fills the buffer with 0xff");
	string_io_off_ram(bi);
	mmio_poke(0xc0000000ull);
	mmio_poke(0xfe000000ull);
	if (paging_map_1g(64ull << 30))
		mmio_poke(64ull << 30);
	else
		printf("hostile: 64 GiB is beyond the CPU's physical address width; skipped\n");
	ones = true;
	for (unsigned i = 0; i < PAYLOAD_ARRAY_SIZE(unclaimed); i++)
		ones &= inl(unclaimed[i]) == 0xffffffffu;
	check(ones, "unclaimed ports still read all ones after the sweep");
	printf("hostile: survived\n");
	return 0;
}
