/* arch/x86/mptable.c — see mptable.h. Layouts follow the MP Specification 1.4, chapter 4. */
#include "arch/x86/mptable.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "MP tables are little-endian");

struct mpf_intel {
	char sig[4];
	uint32_t physptr;
	uint8_t length; /* in 16-byte units */
	uint8_t spec_rev;
	uint8_t checksum;
	uint8_t feature[5];
} KVMM_PACKED;

struct mpc_table {
	char sig[4];
	uint16_t length;
	uint8_t spec_rev;
	uint8_t checksum;
	char oem[8];
	char product[12];
	uint32_t oem_ptr;
	uint16_t oem_size;
	uint16_t count;
	uint32_t lapic;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} KVMM_PACKED;

struct mpc_cpu {
	uint8_t type, apic_id, apic_ver, flags;
	uint32_t signature, features;
	uint32_t reserved[2];
} KVMM_PACKED;

struct mpc_bus {
	uint8_t type, bus_id;
	char bus_type[6];
} KVMM_PACKED;

struct mpc_ioapic {
	uint8_t type, id, ver, flags;
	uint32_t addr;
} KVMM_PACKED;

struct mpc_intsrc { /* type 3 (I/O) and 4 (local) share the layout */
	uint8_t type, irqtype;
	uint16_t flags;
	uint8_t src_bus, src_irq, dst_id, dst_pin;
} KVMM_PACKED;

_Static_assert(sizeof(struct mpf_intel) == 16 && sizeof(struct mpc_table) == 44 &&
		   sizeof(struct mpc_cpu) == 20 && sizeof(struct mpc_bus) == 8 &&
		   sizeof(struct mpc_ioapic) == 8 && sizeof(struct mpc_intsrc) == 8,
	       "MP table layouts");

#define MP_PROCESSOR	  0
#define MP_BUS		  1
#define MP_IOAPIC	  2
#define MP_INTSRC	  3
#define MP_LINTSRC	  4
#define MP_INT		  0
#define MP_NMI		  1
#define MP_EXTINT	  3
#define MP_CPU_EN	  1
#define MP_CPU_BSP	  2
#define MP_APIC_VER	  0x14
#define MP_IOAPIC_VER	  0x11
#define MP_IRQ_LEVEL_HIGH 0x000d /* active high (01), level (11 << 2) */
#define MP_ISA_BUS	  0

struct mp_img {
	uint8_t *buf;
	size_t cap, off;
	uint16_t count;
};

static uint8_t mp_checksum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	for (size_t i = 0; i < len; i++)
		s = (uint8_t)(s + p[i]);
	return (uint8_t)(0 - s);
}

static int mp_put(struct mp_img *img, const void *e, size_t len)
{
	if (len > img->cap - img->off)
		return -ENOSPC;
	memcpy(img->buf + img->off, e, len);
	img->off += len;
	img->count++;
	return 0;
}

static int mp_irqs(struct mp_img *img, uint8_t ioapic_id)
{
	int err = 0;

	/* ISA IRQ n -> pin n, except IRQ0 (the PIT) -> pin 2; IRQ2 is the PIC cascade and has
	 * no entry. The SCI (IRQ9) is level, active high, as in the MADT. */
	for (unsigned irq = 0; !err && irq < 16; irq++) {
		struct mpc_intsrc e = {MP_INTSRC,
				       MP_INT,
				       0,
				       MP_ISA_BUS,
				       (uint8_t)irq,
				       ioapic_id,
				       (uint8_t)(irq == 0 ? 2 : irq)};

		if (irq == 2)
			continue;
		if (irq == LAYOUT_IRQ_ACPI_SCI)
			e.flags = MP_IRQ_LEVEL_HIGH;
		err = mp_put(img, &e, sizeof(e));
	}
	if (!err) {
		struct mpc_intsrc e = {MP_LINTSRC, MP_EXTINT, 0, MP_ISA_BUS, 0, 0xff, 0};

		err = mp_put(img, &e, sizeof(e));
	}
	if (!err) {
		struct mpc_intsrc e = {MP_LINTSRC, MP_NMI, 0, MP_ISA_BUS, 0, 0xff, 1};

		err = mp_put(img, &e, sizeof(e));
	}
	return err;
}

static int mp_fill(struct mp_img *img, unsigned ncpus, const uint32_t *apic_ids, uint8_t ioapic_id)
{
	struct mpc_bus bus = {MP_BUS, MP_ISA_BUS, {'I', 'S', 'A', ' ', ' ', ' '}};
	struct mpc_ioapic io = {MP_IOAPIC, ioapic_id, MP_IOAPIC_VER, 1, (uint32_t)LAYOUT_IOAPIC};
	int err = 0;

	for (unsigned i = 0; !err && i < ncpus; i++) {
		struct mpc_cpu c = {.type = MP_PROCESSOR,
				    .apic_id = (uint8_t)apic_ids[i],
				    .apic_ver = MP_APIC_VER,
				    .flags = MP_CPU_EN | (i == 0 ? MP_CPU_BSP : 0),
				    .signature = 0x600,			/* family 6 */
				    .features = (1u << 0) | (1u << 9)}; /* FPU, APIC */

		err = mp_put(img, &c, sizeof(c));
	}
	if (!err)
		err = mp_put(img, &bus, sizeof(bus));
	if (!err)
		err = mp_put(img, &io, sizeof(io));
	if (!err)
		err = mp_irqs(img, ioapic_id);
	return err;
}

static int mp_build_image(struct mp_img *img, unsigned ncpus, const uint32_t *apic_ids)
{
	struct mpf_intel mpf = {.length = 1, .spec_rev = 4};
	struct mpc_table hdr = {.spec_rev = 4, .lapic = (uint32_t)LAYOUT_LAPIC};
	uint64_t seen[4] = {0};
	unsigned ioapic_id;
	int err;

	if (ncpus == 0 || !apic_ids)
		return -EINVAL;
	for (unsigned i = 0; i < ncpus; i++) {
		uint32_t id = apic_ids[i];

		if (id > MPTABLE_MAX_APIC_ID)
			return -E2BIG;
		if (seen[id / 64] & (1ull << (id % 64)))
			return -EINVAL; /* duplicate APIC ID */
		seen[id / 64] |= 1ull << (id % 64);
	}
	/* The IOAPIC needs an ID of its own on the APIC bus: the lowest one no CPU uses. */
	for (ioapic_id = 0; ioapic_id <= MPTABLE_MAX_APIC_ID; ioapic_id++)
		if (!(seen[ioapic_id / 64] & (1ull << (ioapic_id % 64))))
			break;
	if (ioapic_id > MPTABLE_MAX_APIC_ID)
		return -E2BIG;
	img->off = sizeof(mpf) + sizeof(hdr);
	if (img->off > img->cap)
		return -ENOSPC;
	err = mp_fill(img, ncpus, apic_ids, (uint8_t)ioapic_id);
	if (err)
		return err;
	if (img->off - sizeof(mpf) > UINT16_MAX)
		return -ENOSPC;

	memcpy(hdr.sig, "PCMP", 4);
	memcpy(hdr.oem, "KVMM    ", 8);
	memcpy(hdr.product, "KVMM-PC     ", 12);
	hdr.length = (uint16_t)(img->off - sizeof(mpf));
	hdr.count = img->count;
	memcpy(img->buf + sizeof(mpf), &hdr, sizeof(hdr));
	hdr.checksum = mp_checksum(img->buf + sizeof(mpf), hdr.length);
	memcpy(img->buf + sizeof(mpf), &hdr, sizeof(hdr));

	memcpy(mpf.sig, "_MP_", 4);
	mpf.physptr = (uint32_t)(LAYOUT_MPTABLE + sizeof(mpf));
	mpf.checksum = mp_checksum((const uint8_t *)&mpf, sizeof(mpf));
	memcpy(img->buf, &mpf, sizeof(mpf));
	return 0;
}

int mptable_build(const struct gmem *m, unsigned ncpus, const uint32_t *apic_ids, gpa_t *out)
{
	struct mp_img img = {.cap = LAYOUT_MPTABLE_MAX};
	int err;

	img.buf = calloc(1, img.cap);
	if (!img.buf)
		return -ENOMEM;
	err = mp_build_image(&img, ncpus, apic_ids);
	if (err)
		goto out_free;
	err = gmem_write(m, LAYOUT_MPTABLE, img.buf, img.off);
	if (err)
		goto out_free;
	*out = LAYOUT_MPTABLE;
out_free:
	free(img.buf);
	return err;
}
