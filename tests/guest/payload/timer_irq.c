/* tests/guest/payload/timer_irq.c — LAPIC timer interrupts (periodic mode, hlt loop) and the
 * COM1 interrupt through IOAPIC pin 4: THRE (TX-empty) interrupts, and with rx=STRING the bytes
 * of STRING fed on the VMM's stdin, received through the interrupt.
 * Arguments: ticks=N (default 20), thre=N (default 8), rx=STRING. */
#include "payload.h"

const char payload_name[] = "timer_irq";

#define VEC_TIMER 0x40
#define VEC_COM1  0x41
#define COM1	  0x3f8

static volatile unsigned ticks, thre_irqs, rx_len, com_irqs;
static unsigned thre_target;
static char rx_buf[64];

static void timer_isr(struct trap_frame *f)
{
	(void)f;
	ticks++;
	lapic_eoi();
}

static void com1_isr(struct trap_frame *f)
{
	uint8_t iir;

	(void)f;
	com_irqs++;
	/* Bounded: a broken UART must not keep us here forever. */
	for (int i = 0; i < 64 && !((iir = inb(COM1 + 2)) & 1); i++) {
		switch (iir & 0x0e) {
		case 0x02: /* THR empty; reading IIR cleared it */
			thre_irqs++;
			break;
		case 0x04: /* received data */
		case 0x0c: /* character timeout */
			while (inb(COM1 + 5) & 1) {
				char c = (char)inb(COM1);

				if (rx_len + 1 < sizeof(rx_buf))
					rx_buf[rx_len++] = c;
			}
			break;
		case 0x06: /* line status */
			(void)inb(COM1 + 5);
			break;
		default: /* modem status */
			(void)inb(COM1 + 6);
			break;
		}
	}
	lapic_eoi();
}

/* hlt until cond() or about limit_ms milliseconds of LAPIC ticks (timer keeps running). */
static bool wait_irq(volatile unsigned *counter, unsigned target, unsigned limit_ticks)
{
	unsigned start = ticks;

	while (*counter < target && ticks - start < limit_ticks)
		__asm__ volatile("sti; hlt; cli" ::: "memory");
	return *counter >= target;
}

static bool rx_complete(const char *want)
{
	size_t n = strlen(want);

	return rx_len >= n && !memcmp(rx_buf, want, n);
}

int payload_main(const struct boot_info *bi)
{
	unsigned want_ticks = (unsigned)cmdline_u64("ticks", 20);
	uint32_t bsp = lapic_id();
	char rx_want[48];
	bool rx = cmdline_get("rx", rx_want, sizeof(rx_want)) && rx_want[0];
	uint64_t t0;

	(void)bi;
	thre_target = (unsigned)cmdline_u64("thre", 8);
	pic_mask_all();
	lapic_enable();
	irq_set_handler(VEC_TIMER, timer_isr);
	irq_set_handler(VEC_COM1, com1_isr);
	printf("timer: IOAPIC has %u pins, BSP apic %u\n", ioapic_pins(), bsp);

	/* 1: LAPIC timer, periodic, 1 GHz / 16 / 62500 = 1 ms. */
	t0 = rdtsc();
	lapic_timer_periodic(VEC_TIMER, 62500);
	while (ticks < want_ticks)
		__asm__ volatile("sti; hlt; cli" ::: "memory");
	printf("timer: %u ticks in %lu TSC cycles\n", ticks, rdtsc() - t0);
	check(ticks >= want_ticks, "%u LAPIC timer ticks", ticks);

	/* 2: COM1 THRE interrupts through IOAPIC pin 4 (timer keeps running as a timeout). */
	ioapic_route(4, VEC_COM1, bsp);
	outb(COM1 + 4, 0x0b); /* OUT2 gates the IRQ on a PC */
	outb(COM1 + 1, 0x02); /* IER: THRE; THR is empty, so this raises the first one */
	wait_irq(&thre_irqs, 1, 2000);
	/* Each byte written gives exactly one new TX-empty interrupt (a new edge on pin 4). */
	for (unsigned i = 1; i < thre_target && thre_irqs == i; i++) {
		outb(COM1, '.');
		wait_irq(&thre_irqs, i + 1, 2000);
	}
	outb(COM1 + 1, 0x00);
	printf("\n");
	check(thre_irqs >= thre_target && com_irqs >= thre_target,
	      "%u/%u THRE interrupts (%u COM1 interrupts) through IOAPIC pin 4", thre_irqs,
	      thre_target, com_irqs);

	/* 3: receive through the interrupt. */
	if (rx) {
		unsigned start = ticks;

		outb(COM1 + 1, 0x01); /* IER: received data */
		while (!rx_complete(rx_want) && ticks - start < 10000)
			__asm__ volatile("sti; hlt; cli" ::: "memory");
		outb(COM1 + 1, 0x00);
		rx_buf[rx_len] = '\0';
		for (unsigned i = 0; i < rx_len; i++)
			if (rx_buf[i] == '\n' || rx_buf[i] == '\r')
				rx_buf[i] = '\0';
		check(rx_complete(rx_want), "received \"%s\" through the interrupt (want \"%s\")",
		      rx_buf, rx_want);
	}
	lapic_timer_stop();
	ioapic_mask(4);
	printf("timer: %u COM1 interrupts in total\n", com_irqs);
	return 0;
}
