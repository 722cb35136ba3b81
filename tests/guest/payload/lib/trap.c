/* tests/guest/payload/lib/trap.c — IDT, TSS, exception reporting, interrupt dispatch, the
 * ring-3 return path and extra page mappings. */
#include "payload.h"

struct idt_entry {
	uint16_t off_lo, sel;
	uint8_t ist, attr;
	uint16_t off_mid;
	uint32_t off_hi, zero;
} __attribute__((packed));

struct tss64 {
	uint32_t reserved0;
	uint64_t rsp0, rsp1, rsp2, reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3, iomap_base;
} __attribute__((packed));

struct desc_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

extern char isr_stubs[];
extern uint64_t gdt[];
extern char trap_stack_top[];
extern char user_return[];
extern uint64_t user_kernel_rsp, user_result;
extern uint64_t pdpt[];
uint64_t user_enter(uint64_t (*fn)(void *), void *arg, void *stack_top);
void trap_init(void);
void trap_dispatch(struct trap_frame *f);

static struct idt_entry idt[256] __attribute__((aligned(16)));
static struct tss64 tss __attribute__((aligned(16)));
static void (*handlers[256])(struct trap_frame *f);
static uint64_t pd_high[512] __attribute__((aligned(4096)));
static bool in_user;

static const char *const exc_names[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "?9",  "#TS",
    "#NP", "#SS", "#GP", "#PF", "?15", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
};

void idt_load(void)
{
	struct desc_ptr p = {sizeof(idt) - 1, (uintptr_t)idt};

	__asm__ volatile("lidt %0" : : "m"(p));
}

void trap_init(void)
{
	uint64_t base = (uintptr_t)&tss, limit = sizeof(tss) - 1;

	for (unsigned v = 0; v < 256; v++) {
		uint64_t a = (uintptr_t)isr_stubs + 16 * v;

		idt[v] = (struct idt_entry){
		    .off_lo = (uint16_t)a,
		    .sel = SEL_KCODE64,
		    .attr = 0x8e, /* present, DPL0, interrupt gate */
		    .off_mid = (uint16_t)(a >> 16),
		    .off_hi = (uint32_t)(a >> 32),
		};
	}
	idt_load();
	tss.rsp0 = (uintptr_t)trap_stack_top;
	tss.iomap_base = sizeof(tss); /* no I/O bitmap: IOPL governs ring-3 port access */
	gdt[SEL_TSS / 8] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) |
			   ((limit >> 16) << 48) | (((base >> 24) & 0xff) << 56);
	gdt[SEL_TSS / 8 + 1] = base >> 32;
	__asm__ volatile("ltr %w0" : : "r"((uint16_t)SEL_TSS));
}

void irq_set_handler(unsigned vector, void (*h)(struct trap_frame *f))
{
	if (vector >= 32 && vector < 256)
		handlers[vector] = h;
}

static void dump_and_die(struct trap_frame *f, const char *what)
{
	uint64_t cr2;

	__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	printf("FAIL %s: %s vector %lu (%s) at rip %lx cs %lx error %lx cr2 %lx rsp %lx apic %u\n",
	       payload_name, what, f->vector,
	       f->vector < 32 && exc_names[f->vector] ? exc_names[f->vector] : "irq", f->rip, f->cs,
	       f->error, cr2, f->rsp, lapic_id());
	debug_exit(EXIT_CODE_EXCEPTION);
}

void trap_dispatch(struct trap_frame *f)
{
	if (f->vector == 13 && (f->cs & 3) == 3 && in_user &&
	    *(const volatile uint8_t *)(uintptr_t)f->rip == 0xf4) {
		/* hlt at CPL3 after fn returned (user_exit_stub): back to user_enter's caller. */
		in_user = false;
		user_result = f->rax;
		f->rip = (uintptr_t)user_return;
		f->cs = SEL_KCODE64;
		f->ss = SEL_KDATA;
		f->rsp = user_kernel_rsp;
		f->rflags = 0x2;
		return;
	}
	if (f->vector < 32)
		dump_and_die(f, (f->cs & 3) ? "user exception" : "exception");
	if (f->vector == 0xff)
		return; /* LAPIC spurious vector: no EOI */
	if (!handlers[f->vector])
		dump_and_die(f, "unexpected interrupt");
	handlers[f->vector](f);
}

uint64_t user_run(uint64_t (*fn)(void *), void *arg, void *stack, size_t size)
{
	/* Upstream PVM treats IF as 1 at CPL3 whatever RFLAGS says: keep the 8259 (whose vectors
	 * still alias the exceptions after reset) and LINT0 (ExtINT on the BSP) quiet. */
	pic_mask_all();
	lapic_write(0x350, 0x10000);
	in_user = true;
	return user_enter(fn, arg, (char *)stack + size);
}

bool paging_map_1g(uint64_t gpa)
{
	uint32_t r[4];
	unsigned idx = (unsigned)(gpa >> 30);

	cpuid(0x80000000u, 0, r);
	if (r[0] < 0x80000008u)
		return false;
	cpuid(0x80000008u, 0, r);
	if ((gpa & ((1ull << 30) - 1)) || idx >= 512 || idx < 4 || gpa >> (r[0] & 0xff))
		return false;
	for (unsigned i = 0; i < 512; i++)
		pd_high[i] = (gpa + ((uint64_t)i << 21)) | 0x9f;
	pdpt[idx] = (uintptr_t)pd_high | 7;
	__asm__ volatile("mov %%cr3, %%rax; mov %%rax, %%cr3" ::: "rax", "memory");
	return true;
}
