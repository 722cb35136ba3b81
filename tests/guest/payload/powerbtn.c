/* tests/guest/payload/powerbtn.c — the ACPI fixed-feature power button, handled as an OS does:
 * find PM1a_EVT_BLK and SCI_INT in the FADT, clear PM1_STS, set PWRBTN_EN, route the SCI
 * (level, active high, as the MADT's override says) through the IOAPIC and wait with `hlt`.
 * The SCI handler must find PWRBTN_STS set, clears it (write 1) so the level drops, and the
 * payload then powers off through PM1a_CNT with SLP_TYP from \_S5 (acpi_poweroff). The button
 * is pressed from outside: QMP system_powerdown (tests/guest/qmp.sh; QEMU -M pc the same way).
 * While waiting it prints "powerbtn: tick N" every `tick_ms` (default 500) so that the host can
 * see whether the vCPU runs (QMP stop/cont). Gives up after wait=SECONDS (default 120) with
 * EXIT_CODE_FAIL. */
#include "payload.h"

const char payload_name[] = "powerbtn";

#define VEC_SCI		    0x50
#define VEC_TIMER	    0x51
#define PM1_PWRBTN	    0x0100
#define FADT_F_PWR_BUTTON   (1u << 4)
#define FADT_F_HW_REDUCED   (1u << 20)

static uint16_t pm1_sts, pm1_en;
static volatile unsigned sci_count, pwrbtn_seen, ticks;
static volatile uint16_t sts_in_isr;

static void sci_isr(struct trap_frame *f)
{
	uint16_t sts = inw(pm1_sts);

	(void)f;
	sci_count++;
	sts_in_isr = sts;
	if (sts & PM1_PWRBTN) {
		pwrbtn_seen++;
		outw(pm1_sts, PM1_PWRBTN); /* write 1 to clear: the SCI level drops */
	}
	lapic_eoi();
}

static void timer_isr(struct trap_frame *f)
{
	(void)f;
	ticks++;
	lapic_eoi();
}

int payload_main(const struct boot_info *bi)
{
	uint64_t rsdp = acpi_find_rsdp(bi->rsdp_paddr);
	const struct acpi_sdt_hdr *fadt = rsdp ? acpi_find_table(rsdp, "FACP") : NULL;
	const uint8_t *p = (const uint8_t *)fadt;
	unsigned tick_ms = (unsigned)cmdline_u64("tick_ms", 500);
	unsigned wait_s = (unsigned)cmdline_u64("wait", 120), next_print = 0, printed = 0;
	uint32_t evt = 0, flags = 0;
	uint16_t sci = 0;
	uint8_t evt_len = 0;
	int rc;

	if (!check(fadt && fadt->len >= 116, "FADT found"))
		return EXIT_CODE_FAIL;
	memcpy(&sci, p + 46, 2);
	memcpy(&evt, p + 56, 4);
	evt_len = p[88];
	memcpy(&flags, p + 112, 4);
	printf("powerbtn: SCI_INT %u, PM1a_EVT_BLK %x (len %u), flags %x\n", sci, evt, evt_len,
	       flags);
	if (!check(evt && evt_len >= 4 && !(flags & FADT_F_HW_REDUCED),
		   "PM1a event block present (not HW-reduced)") ||
	    !check(!(flags & FADT_F_PWR_BUTTON), "power button is a fixed feature (PWR_BUTTON=0)") ||
	    !check(sci < ioapic_pins(), "SCI_INT %u is an IOAPIC pin", sci))
		return EXIT_CODE_FAIL;
	pm1_sts = (uint16_t)evt;
	pm1_en = (uint16_t)(evt + evt_len / 2);

	pic_mask_all();
	lapic_enable();
	irq_set_handler(VEC_SCI, sci_isr);
	irq_set_handler(VEC_TIMER, timer_isr);
	outw(pm1_sts, 0xffff); /* clear stale status */
	outw(pm1_en, PM1_PWRBTN);
	check(inw(pm1_en) == PM1_PWRBTN, "PM1_EN reads back PWRBTN_EN (%x)", inw(pm1_en));
	ioapic_route_level(sci, VEC_SCI, lapic_id());
	/* 1 GHz / 16 / 625000 = 10 ms per tick: few exits, also under nested KVM. */
	lapic_timer_periodic(VEC_TIMER, 625000);
	printf("powerbtn: waiting for the power button\n");
	while (!pwrbtn_seen && ticks < wait_s * 100u) {
		__asm__ volatile("sti; hlt; cli" ::: "memory");
		if (ticks >= next_print) {
			printf("powerbtn: tick %u\n", printed++);
			next_print = ticks + (tick_ms + 9) / 10;
		}
	}
	lapic_timer_stop();
	if (!check(pwrbtn_seen, "SCI with PWRBTN_STS after %u0 ms (%u SCIs, PM1_STS %x)", ticks,
		   sci_count, sts_in_isr))
		return EXIT_CODE_FAIL;
	check(!(inw(pm1_sts) & PM1_PWRBTN), "PWRBTN_STS cleared by writing 1");
	printf("powerbtn: power button pressed, powering off\n");
	rc = acpi_poweroff(rsdp);
	printf("FAIL powerbtn: still running after the ACPI power-off (%d)\n", rc);
	return rc < 0 ? EXIT_CODE_FAIL : EXIT_CODE_STUCK;
}
