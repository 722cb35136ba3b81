/* tests/guest/payload/lib/smp.c — AP start-up with INIT-SIPI-SIPI and the real-mode trampoline
 * at TRAMPOLINE_BASE (entry.S: tramp_start..tramp_end, then ap_start64 -> ap_main). */
#include "payload.h"

#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310

extern char tramp_start[], tramp_end[];
void ap_main(unsigned index);

static void (*ap_callback)(unsigned cpu_index);
static volatile unsigned ap_checked_in;
static volatile bool ap_spin;

void smp_ap_spin(bool on)
{
	__atomic_store_n(&ap_spin, on, __ATOMIC_RELEASE);
}

/* Called on each AP by ap_start64 with its index (1..MAX_CPUS-1) on its own stack. */
void ap_main(unsigned index)
{
	idt_load();
	lapic_enable();
	if (ap_callback)
		ap_callback(index);
	__atomic_fetch_add(&ap_checked_in, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&ap_spin, __ATOMIC_ACQUIRE))
		cpu_relax();
	for (;;)
		__asm__ volatile("cli; hlt");
}

static void icr_send(uint32_t lo)
{
	lapic_write(LAPIC_ICR_HI, 0);
	lapic_write(LAPIC_ICR_LO, lo);
	while (lapic_read(LAPIC_ICR_LO) & (1u << 12)) /* delivery pending */
		cpu_relax();
}

static bool wait_checked_in(unsigned expected, unsigned ms)
{
	for (unsigned i = 0; i < ms; i++) {
		if (__atomic_load_n(&ap_checked_in, __ATOMIC_ACQUIRE) >= expected)
			return true;
		udelay(1000);
	}
	return __atomic_load_n(&ap_checked_in, __ATOMIC_ACQUIRE) >= expected;
}

unsigned smp_start_aps(void (*fn)(unsigned cpu_index), unsigned expected, unsigned timeout_ms)
{
	uint8_t vector = TRAMPOLINE_BASE >> 12;

	ap_callback = fn;
	memcpy((void *)(uintptr_t)TRAMPOLINE_BASE, tramp_start, (size_t)(tramp_end - tramp_start));
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	lapic_enable();
	icr_send(0x000c4500); /* INIT, all excluding self, assert */
	udelay(10000);
	icr_send(0x000c4600 | vector); /* SIPI */
	if (!wait_checked_in(expected, 10)) {
		icr_send(0x000c4600 | vector);
		wait_checked_in(expected, timeout_ms);
	}
	return __atomic_load_n(&ap_checked_in, __ATOMIC_ACQUIRE);
}
