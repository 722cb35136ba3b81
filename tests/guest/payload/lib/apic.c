/* tests/guest/payload/lib/apic.c — xAPIC (MMIO at 0xfee00000), IOAPIC and 8259 masking. */
#include "payload.h"

#define LAPIC_ID	 0x20
#define LAPIC_EOI	 0xb0
#define LAPIC_SVR	 0xf0
#define LAPIC_LVT_TIMER	 0x320
#define LAPIC_LVT_LINT0	 0x350
#define LAPIC_LVT_LINT1	 0x360
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR	 0x390
#define LAPIC_TIMER_DIV	 0x3e0

uint32_t lapic_read(uint32_t reg)
{
	return mmio_read32(LAPIC_BASE + reg);
}

void lapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(LAPIC_BASE + reg, v);
}

void lapic_enable(void)
{
	lapic_write(LAPIC_SVR, 0x1ff);
	lapic_write(LAPIC_LVT_LINT0, 0x10000);
	lapic_write(LAPIC_LVT_LINT1, 0x10000);
}

uint32_t lapic_id(void)
{
	return lapic_read(LAPIC_ID) >> 24;
}

void lapic_eoi(void)
{
	lapic_write(LAPIC_EOI, 0);
}

void udelay(uint64_t us)
{
	/* Divide by 1: 1000 counts per microsecond at 1 GHz; chunks of 1 s. */
	while (us) {
		uint64_t chunk = us > 1000000 ? 1000000 : us;

		lapic_write(LAPIC_TIMER_DIV, 0xb);
		lapic_write(LAPIC_LVT_TIMER, 0x10000 | 0xfe); /* masked, one-shot */
		lapic_write(LAPIC_TIMER_INIT, (uint32_t)(chunk * 1000));
		while (lapic_read(LAPIC_TIMER_CUR) != 0)
			cpu_relax();
		us -= chunk;
	}
}

void lapic_timer_periodic(uint8_t vector, uint32_t count)
{
	lapic_write(LAPIC_TIMER_DIV, 0x3); /* divide by 16 */
	lapic_write(LAPIC_LVT_TIMER, (1u << 17) | vector);
	lapic_write(LAPIC_TIMER_INIT, count);
}

void lapic_timer_stop(void)
{
	lapic_write(LAPIC_LVT_TIMER, 0x10000);
	lapic_write(LAPIC_TIMER_INIT, 0);
}

static uint32_t ioapic_read(uint32_t reg)
{
	mmio_write32(IOAPIC_BASE, reg);
	return mmio_read32(IOAPIC_BASE + 0x10);
}

static void ioapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(IOAPIC_BASE, reg);
	mmio_write32(IOAPIC_BASE + 0x10, v);
}

unsigned ioapic_pins(void)
{
	return ((ioapic_read(1) >> 16) & 0xff) + 1;
}

void ioapic_route(unsigned pin, uint8_t vector, uint32_t dest_apic_id)
{
	ioapic_write(0x11 + 2 * pin, dest_apic_id << 24);
	ioapic_write(0x10 + 2 * pin, vector); /* fixed, physical, active high, edge, unmasked */
}

void ioapic_route_level(unsigned pin, uint8_t vector, uint32_t dest_apic_id)
{
	ioapic_write(0x11 + 2 * pin, dest_apic_id << 24);
	ioapic_write(0x10 + 2 * pin, (1u << 15) | vector); /* level, active high, unmasked */
}

void ioapic_mask(unsigned pin)
{
	ioapic_write(0x10 + 2 * pin, 0x10000);
}

void pic_mask_all(void)
{
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
}
