/* tests/guest/payload/demo.c — the built-in default guest of kvmm (run with no --kernel): a
 * friendly report of what the guest sees (CPUs, memory map, ACPI tables, fw_cfg, RTC time, the
 * speed of a ring-3 loop), then an ACPI power-off (exit status 0).
 * Arguments: iters=N (ring-3 loop iterations, default 50000000). */
#include "payload.h"

const char payload_name[] = "demo";

static uint8_t user_stack[8192] __attribute__((aligned(16)));
static volatile unsigned aps_seen;

static void ap_hello(unsigned idx)
{
	(void)idx;
	__atomic_fetch_add(&aps_seen, 1, __ATOMIC_RELAXED);
}

static void show_table(const struct acpi_sdt_hdr *h)
{
	printf("    %.4s rev %u, %u bytes, OEM \"%.6s\"\n", h->sig, h->rev, h->len, h->oem);
}

static uint64_t ring3_loop(void *p)
{
	uint64_t n = *(const uint64_t *)p;

	__asm__ volatile("1: dec %0\n\tjnz 1b" : "+r"(n) : : "cc");
	return 0;
}

static void show_cpus(uint64_t rsdp)
{
	uint32_t ids[MAX_CPUS], r[4];
	uint32_t brand[13] = {0}; /* 48 bytes of brand string and a NUL */
	unsigned n = rsdp ? acpi_madt_cpus(rsdp, ids, MAX_CPUS) : 1, started = 0;
	struct cpu_topo t;

	cpuid(0x80000000u, 0, r);
	if (r[0] >= 0x80000004u)
		for (uint32_t i = 0; i < 3; i++)
			cpuid(0x80000002u + i, 0, brand + 4 * i);
	cpu_topo_read(&t);
	if (n > 1)
		started = smp_start_aps(ap_hello, n - 1, 2000);
	printf("  CPUs:    %u in the MADT, %u started and checked in; %u thread(s)/core, "
	       "%u core(s)/package\n",
	       n > MAX_CPUS ? MAX_CPUS : n, started + 1, t.threads, t.cores);
	printf("  CPU:     %s\n", brand[0] ? (const char *)brand : "(no brand string)");
}

static void show_memory(const struct boot_info *bi)
{
	static const char *const types[] = {"invalid", "RAM", "reserved",
					    "ACPI",    "NVS", "unusable"};

	printf("  Memory:  %lu MiB of RAM, booted via %s\n", boot_ram_total() >> 20,
	       bi->proto == BOOT_PVH ? "PVH" : "multiboot");
	for (unsigned i = 0; i < bi->nr_memmap; i++) {
		const struct mem_range *m = &bi->memmap[i];

		printf("    %016lx-%016lx %s\n", m->addr, m->addr + m->len - 1,
		       m->type < 6 ? types[m->type] : "?");
	}
}

static void show_ring3_speed(void)
{
	uint64_t iters = cmdline_u64("iters", 50000000), t0, cycles, tsc_khz;

	t0 = rdtsc();
	udelay(10000);
	tsc_khz = (rdtsc() - t0) / 10;
	t0 = rdtsc();
	user_run(ring3_loop, &iters, user_stack, sizeof(user_stack));
	cycles = rdtsc() - t0;
	if (tsc_khz && cycles)
		printf("  Ring 3:  %lu iterations in %lu ms (%lu M iterations/s)\n", iters,
		       cycles / tsc_khz, iters * tsc_khz / cycles / 1000);
}

int payload_main(const struct boot_info *bi)
{
	uint64_t rsdp = acpi_find_rsdp(bi->rsdp_paddr);
	struct rtc_time tm;
	int rc;

	printf("\nHello from the kvmm demo guest!\n\n");
	show_cpus(rsdp);
	show_memory(bi);
	if (rsdp) {
		printf("  ACPI:    RSDP at %lx, tables:\n", rsdp);
		acpi_for_each_table(rsdp, show_table);
	} else {
		printf("  ACPI:    no RSDP found\n");
	}
	if (fwcfg_present()) {
		uint16_t cpus = 0;
		uint64_t ram = 0;

		fwcfg_read(FW_CFG_NB_CPUS, &cpus, sizeof(cpus));
		fwcfg_read(FW_CFG_RAM_SIZE, &ram, sizeof(ram));
		printf("  fw_cfg:  %u CPUs, %lu MiB RAM\n", cpus, ram >> 20);
	} else {
		printf("  fw_cfg:  not present\n");
	}
	rtc_read_epoch(&tm);
	printf("  RTC:     %04u-%02u-%02u %02u:%02u:%02u UTC\n", tm.year, tm.mon, tm.day, tm.hour,
	       tm.min, tm.sec);
	show_ring3_speed();
	printf("\nAll done: powering off through ACPI.\n");
	if (!rsdp)
		return EXIT_CODE_FAIL;
	rc = acpi_poweroff(rsdp);
	printf("FAIL demo: ACPI power-off did not work (%d)\n", rc);
	return EXIT_CODE_STUCK;
}
