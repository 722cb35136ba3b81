/* tests/guest/payload/longmode_ring3.c — long mode checks, then ring 3: a hot loop, port I/O
 * to the serial port from CPL3 (IOPL=3) and the return to ring 0 through a provoked #GP.
 * Arguments: iters=N (hot-loop iterations, default 100000000); fault=ud|pf|user provokes an
 * unexpected exception (ring-0 #UD, ring-0 #PF, ring-3 #PF) to test the exception report. */
#include "payload.h"

const char payload_name[] = "longmode_ring3";

static uint8_t user_stack[16384] __attribute__((aligned(16)));

struct ring3_args {
	uint64_t iters;
	uint64_t cpl;
	uint64_t lsr;
	uint64_t tsc;
};

/* An address that is not mapped (the identity map covers 0-4 GiB only). */
#define UNMAPPED_ADDR 0x7f0000000000ull

static uint64_t ring3_fault(void *p)
{
	(void)p;
	return *(volatile uint64_t *)(uintptr_t)UNMAPPED_ADDR;
}

static void provoke_fault(const char *how)
{
	printf("longmode_ring3: provoking %s\n", how);
	if (!strncmp(how, "ud", 3))
		__asm__ volatile("ud2");
	else if (!strncmp(how, "pf", 3))
		(void)*(volatile uint64_t *)(uintptr_t)UNMAPPED_ADDR;
	else if (!strncmp(how, "user", 5))
		user_run(ring3_fault, NULL, user_stack, sizeof(user_stack));
	printf("longmode_ring3: no exception from fault=%s\n", how);
}

static uint64_t ring3_main(void *p)
{
	struct ring3_args *a = p;
	uint64_t n = a->iters, cs, t0;

	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	a->cpl = cs & 3;
	t0 = rdtsc();
	__asm__ volatile("1: dec %0\n\tjnz 1b" : "+r"(n) : : "cc");
	a->tsc = rdtsc() - t0;
	a->lsr = inb(0x3fd); /* port read at CPL3 */
	printf("ring3: hello from CPL%lu after %lu iterations\n", a->cpl, a->iters);
	return a->iters ^ 0x5a5a5a5a5a5a5a5aull;
}

int payload_main(const struct boot_info *bi)
{
	struct ring3_args a = {.iters = cmdline_u64("iters", 100000000)};
	uint64_t cr0, cr4, efer, cs, ret;
	uint32_t lo, hi;
	char fault[8];

	(void)bi;
	if (cmdline_get("fault", fault, sizeof(fault))) {
		provoke_fault(fault);
		return EXIT_CODE_FAIL;
	}
	__asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
	__asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(0xc0000080u));
	efer = ((uint64_t)hi << 32) | lo;
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	check((cr0 & 0x80000001u) == 0x80000001u, "CR0.PG and CR0.PE set (cr0=%lx)", cr0);
	check(cr4 & 0x20, "CR4.PAE set");
	check((efer & 0x500) == 0x500, "EFER.LME and EFER.LMA set (efer=%lx)", efer);
	check(cs == SEL_KCODE64, "running in the 64-bit code segment %lx", cs);
	if (!a.iters)
		a.iters = 1;
	ret = user_run(ring3_main, &a, user_stack, sizeof(user_stack));
	check(a.cpl == 3, "ring-3 code ran at CPL%lu", a.cpl);
	check(ret == (a.iters ^ 0x5a5a5a5a5a5a5a5aull), "result came back from ring 3");
	check(a.lsr != 0xff && (a.lsr & 0x20), "LSR read from ring 3: %lx (THRE set)", a.lsr);
	printf("ring3: %lu iterations in %lu TSC cycles\n", a.iters, a.tsc);
	/* A second round trip proves the return path leaves ring 0 in a usable state. */
	a.iters = 1000;
	ret = user_run(ring3_main, &a, user_stack, sizeof(user_stack));
	check(ret == (1000 ^ 0x5a5a5a5a5a5a5a5aull), "second ring-3 round trip");
	return 0;
}
