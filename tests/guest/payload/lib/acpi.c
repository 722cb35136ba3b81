/* tests/guest/payload/lib/acpi.c — RSDP/XSDT/MADT/FADT walking and ACPI power-off. */
#include "payload.h"

struct rsdp {
	char sig[8];
	uint8_t csum;
	char oem[6];
	uint8_t rev;
	uint32_t rsdt;
	uint32_t len;
	uint64_t xsdt;
	uint8_t xcsum, reserved[3];
} __attribute__((packed));

struct gas {
	uint8_t space, bit_width, bit_offset, access;
	uint64_t addr;
} __attribute__((packed));

static uint8_t sum_bytes(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint8_t s = 0;

	while (n--)
		s += *b++;
	return s;
}

static bool rsdp_valid(uint64_t pa)
{
	const struct rsdp *r = (const void *)(uintptr_t)pa;

	if (memcmp(r->sig, "RSD PTR ", 8) || sum_bytes(r, 20))
		return false;
	return r->rev < 2 || (r->len >= sizeof(*r) && r->len < 4096 && !sum_bytes(r, r->len));
}

uint64_t acpi_scan_rsdp(void)
{
	for (uint64_t pa = 0xe0000; pa < 0x100000; pa += 16)
		if (rsdp_valid(pa))
			return pa;
	return 0;
}

uint64_t acpi_find_rsdp(uint64_t hint)
{
	if (hint && hint < 0x100000000ull && rsdp_valid(hint))
		return hint;
	return acpi_scan_rsdp();
}

static const struct acpi_sdt_hdr *table_at(uint64_t pa)
{
	const struct acpi_sdt_hdr *h = (const void *)(uintptr_t)pa;

	if (!pa || pa >= 0x100000000ull || h->len < sizeof(*h) || h->len > (1u << 20))
		return NULL;
	return sum_bytes(h, h->len) ? NULL : h;
}

unsigned acpi_for_each_table(uint64_t rsdp, void (*fn)(const struct acpi_sdt_hdr *h))
{
	const struct rsdp *r = (const void *)(uintptr_t)rsdp;
	bool x = r->rev >= 2 && r->xsdt;
	const struct acpi_sdt_hdr *root = table_at(x ? r->xsdt : r->rsdt);
	unsigned n = 0, width = x ? 8 : 4;

	if (!root)
		return 0;
	for (uint32_t off = sizeof(*root); off + width <= root->len; off += width) {
		uint64_t pa = 0;
		const struct acpi_sdt_hdr *t;

		memcpy(&pa, (const char *)root + off, width);
		t = table_at(pa);
		if (!t)
			continue;
		n++;
		if (fn)
			fn(t);
	}
	return n;
}

const struct acpi_sdt_hdr *acpi_find_table(uint64_t rsdp, const char sig[4])
{
	const struct rsdp *r = (const void *)(uintptr_t)rsdp;
	bool x = r->rev >= 2 && r->xsdt;
	const struct acpi_sdt_hdr *root = table_at(x ? r->xsdt : r->rsdt);
	unsigned width = x ? 8 : 4;

	if (!root)
		return NULL;
	for (uint32_t off = sizeof(*root); off + width <= root->len; off += width) {
		uint64_t pa = 0;
		const struct acpi_sdt_hdr *t;

		memcpy(&pa, (const char *)root + off, width);
		t = table_at(pa);
		if (t && !memcmp(t->sig, sig, 4))
			return t;
	}
	return NULL;
}

unsigned acpi_madt_cpus(uint64_t rsdp, uint32_t *ids, unsigned max)
{
	const struct acpi_sdt_hdr *m = acpi_find_table(rsdp, "APIC");
	const uint8_t *p;
	unsigned n = 0;
	uint32_t off;

	if (!m)
		return 0;
	p = (const uint8_t *)m;
	for (off = sizeof(*m) + 8; off + 2 <= m->len; off += p[off + 1]) {
		uint8_t type = p[off], len = p[off + 1];
		uint32_t id, flags;

		if (len < 2 || off + len > m->len)
			break;
		if (type == 0 && len >= 8) {
			id = p[off + 3];
			memcpy(&flags, p + off + 4, 4);
		} else if (type == 9 && len >= 16) {
			memcpy(&id, p + off + 4, 4);
			memcpy(&flags, p + off + 8, 4);
		} else {
			continue;
		}
		if (!(flags & 1))
			continue;
		if (ids && n < max)
			ids[n] = id;
		n++;
	}
	return n;
}

/* SLP_TYPa from the \_S5 package in the DSDT: "_S5_" PackageOp PkgLength NumElements elem0. */
static int s5_slp_typ(const struct acpi_sdt_hdr *dsdt)
{
	const uint8_t *p = (const uint8_t *)dsdt;

	for (uint32_t i = sizeof(*dsdt); i + 8 < dsdt->len; i++) {
		uint32_t j;

		if (memcmp(p + i, "_S5_", 4) || p[i + 4] != 0x12)
			continue;
		j = i + 5;
		j += 1 + (p[j] >> 6); /* PkgLength: lead byte plus 0-3 more */
		j++;		      /* NumElements */
		if (j + 1 >= dsdt->len)
			return -1;
		switch (p[j]) {
		case 0x00:
			return 0;
		case 0x01:
			return 1;
		case 0x0a:
			return p[j + 1];
		default:
			return p[j] < 0x08 ? p[j] : -1;
		}
	}
	return -1;
}

static void gas_write8(const struct gas *g, uint8_t v)
{
	if (g->space == 1)
		outb((uint16_t)g->addr, v);
	else
		*(volatile uint8_t *)(uintptr_t)g->addr = v;
}

int acpi_poweroff(uint64_t rsdp)
{
	const struct acpi_sdt_hdr *f = acpi_find_table(rsdp, "FACP");
	const uint8_t *p = (const uint8_t *)f;
	const struct acpi_sdt_hdr *dsdt;
	uint64_t dsdt_pa = 0;
	uint32_t flags = 0, pm1a = 0;
	int typ;

	if (!f || f->len < 116)
		return -2; /* ENOENT */
	memcpy(&flags, p + 112, 4);
	if (f->len >= 148)
		memcpy(&dsdt_pa, p + 140, 8);
	if (!dsdt_pa)
		memcpy(&dsdt_pa, p + 40, 4);
	dsdt = table_at(dsdt_pa);
	if (!dsdt)
		return -2;
	typ = s5_slp_typ(dsdt);
	if (typ < 0)
		return -22; /* EINVAL */
	printf("acpi: FADT rev %u flags %x, \\_S5 SLP_TYP %d\n", f->rev, flags, typ);
	if (flags & (1u << 20)) {
		struct gas g;

		if (f->len < 256)
			return -22;
		memcpy(&g, p + 244, sizeof(g));
		printf("acpi: HW-reduced: SLEEP_CONTROL_REG space %u addr %lx <- %x\n", g.space,
		       g.addr, (typ << 2) | 0x20);
		gas_write8(&g, (uint8_t)((typ << 2) | 0x20));
	} else {
		memcpy(&pm1a, p + 64, 4);
		if (!pm1a && f->len >= 184) {
			struct gas g;

			memcpy(&g, p + 172, sizeof(g));
			pm1a = (uint32_t)g.addr;
		}
		if (!pm1a)
			return -22;
		printf("acpi: PM1a_CNT port %x <- %x\n", pm1a, (typ << 10) | (1 << 13));
		outw((uint16_t)pm1a, (uint16_t)((typ << 10) | (1 << 13)));
	}
	udelay(500000);
	return 1;
}
