/* arch/x86/regs.c — boot GDT, identity page tables, initial registers and MSRs. See regs.h. */
#include "arch/x86/regs.h"

#include <errno.h>
#include <string.h>

#include <linux/kvm.h>

#include "arch/x86/layout.h"
#include "mem/gmem.h"

#define REGS_PAGE	   4096u
#define REGS_PT_ENTRIES	   512u
#define REGS_PD_PAGES	   4u /* 4 x 1 GiB = the first 4 GiB */
#define REGS_2M		   (2ull * 1024 * 1024)
#define REGS_TSS_LIMIT	   0x67u
#define REGS_TYPE_CODE_RX  0xb /* execute/read, accessed */
#define REGS_TYPE_DATA_RW  0x3 /* read/write, accessed */
#define REGS_TYPE_TSS_BUSY 0xb /* busy 32/64-bit TSS (system segment) */

uint64_t regs_gdt_entry(const struct kvm_segment *s)
{
	uint64_t limit = s->g ? (uint64_t)s->limit >> 12 : s->limit;
	uint64_t base = s->base & 0xffffffffull;
	uint64_t access = (uint64_t)(s->type & 0xf) | (uint64_t)(s->s & 1) << 4 |
			  (uint64_t)(s->dpl & 3) << 5 | (uint64_t)(s->present & 1) << 7;
	uint64_t flags = (uint64_t)(s->avl & 1) | (uint64_t)(s->l & 1) << 1 |
			 (uint64_t)(s->db & 1) << 2 | (uint64_t)(s->g & 1) << 3;

	return (limit & 0xffff) | (base & 0xffffff) << 16 | access << 40 |
	       ((limit >> 16) & 0xf) << 48 | flags << 52 | (base >> 24) << 56;
}

void regs_segment_from_gdt(uint64_t desc, uint16_t sel, struct kvm_segment *s)
{
	uint32_t limit = (uint32_t)((desc & 0xffff) | ((desc >> 48) & 0xf) << 16);

	memset(s, 0, sizeof(*s));
	s->base = ((desc >> 16) & 0xffffff) | ((desc >> 56) & 0xff) << 24;
	s->type = (desc >> 40) & 0xf;
	s->s = (desc >> 44) & 1;
	s->dpl = (desc >> 45) & 3;
	s->present = (desc >> 47) & 1;
	s->avl = (desc >> 52) & 1;
	s->l = (desc >> 53) & 1;
	s->db = (desc >> 54) & 1;
	s->g = (desc >> 55) & 1;
	s->limit = s->g ? (limit << 12) | 0xfff : limit;
	s->selector = sel;
	s->unusable = !s->present;
}

static void regs_flat(struct kvm_segment *s, uint16_t sel, uint8_t type, uint8_t db, uint8_t l)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffffu;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->dpl = 0;
	s->db = db;
	s->s = 1;
	s->l = l;
	s->g = 1;
}

static void regs_tss(struct kvm_segment *s, uint16_t sel)
{
	memset(s, 0, sizeof(*s));
	s->limit = REGS_TSS_LIMIT;
	s->selector = sel;
	s->type = REGS_TYPE_TSS_BUSY;
	s->present = 1;
}

/* Write GDT entries (null first) and point sregs->gdt/idt at them. */
static int regs_write_gdt(const struct gmem *m, const struct kvm_segment *const *segs, unsigned n,
			  struct kvm_sregs *sregs)
{
	uint64_t gdt[8] = {0};
	int r;

	for (unsigned i = 0; i < n && i + 1 < 8; i++)
		if (segs[i])
			gdt[i + 1] = regs_gdt_entry(segs[i]);
	r = gmem_write(m, LAYOUT_BOOT_GDT, gdt, (n + 1) * sizeof(gdt[0]));
	if (r)
		return r;
	sregs->gdt.base = LAYOUT_BOOT_GDT;
	sregs->gdt.limit = (uint16_t)((n + 1) * sizeof(gdt[0]) - 1);
	/* Empty IDT: limit 0, nothing is read from its base. */
	sregs->idt.base = LAYOUT_BOOT_IDT;
	sregs->idt.limit = 0;
	return 0;
}

static int regs_write_page_tables(const struct gmem *m)
{
	uint64_t t[REGS_PT_ENTRIES];
	int r;

	memset(t, 0, sizeof(t));
	t[0] = LAYOUT_PDPT | REGS_PTE_P | REGS_PTE_RW;
	r = gmem_write(m, LAYOUT_PML4, t, sizeof(t));
	if (r)
		return r;
	memset(t, 0, sizeof(t));
	for (unsigned i = 0; i < REGS_PD_PAGES; i++)
		t[i] = (LAYOUT_PD + (uint64_t)i * REGS_PAGE) | REGS_PTE_P | REGS_PTE_RW;
	r = gmem_write(m, LAYOUT_PDPT, t, sizeof(t));
	for (unsigned p = 0; !r && p < REGS_PD_PAGES; p++) {
		for (unsigned i = 0; i < REGS_PT_ENTRIES; i++)
			t[i] = ((uint64_t)p * REGS_PT_ENTRIES + i) * REGS_2M | REGS_PTE_P |
			       REGS_PTE_RW | REGS_PTE_PS;
		r = gmem_write(m, LAYOUT_PD + (uint64_t)p * REGS_PAGE, t, sizeof(t));
	}
	return r;
}

int regs_long_mode(const struct gmem *m, uint64_t entry, uint64_t zero_page, struct kvm_regs *regs,
		   struct kvm_sregs *sregs)
{
	struct kvm_segment code32, code, data, tss;
	const struct kvm_segment *gdt[4] = {&code32, &code, &data, &tss};
	int r;

	regs_flat(&code32, REGS_SEL64_CODE32, REGS_TYPE_CODE_RX, 1, 0);
	regs_flat(&code, REGS_SEL64_CODE, REGS_TYPE_CODE_RX, 0, 1);
	regs_flat(&data, REGS_SEL64_DATA, REGS_TYPE_DATA_RW, 1, 0);
	regs_tss(&tss, REGS_SEL64_TSS);
	r = regs_write_gdt(m, gdt, 4, sregs);
	if (r)
		return r;
	r = regs_write_page_tables(m);
	if (r)
		return r;
	sregs->cs = code;
	sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = data;
	sregs->tr = tss;
	sregs->cr0 = REGS_CR0_PE | REGS_CR0_ET | REGS_CR0_NE | REGS_CR0_PG;
	sregs->cr3 = LAYOUT_PML4;
	sregs->cr4 = REGS_CR4_PAE;
	sregs->efer = REGS_EFER_LME | REGS_EFER_LMA;
	memset(regs, 0, sizeof(*regs));
	regs->rip = entry;
	regs->rsi = zero_page;
	regs->rsp = LAYOUT_BOOT_STACK;
	regs->rbp = LAYOUT_BOOT_STACK;
	regs->rflags = REGS_RFLAGS_FIXED;
	return 0;
}

int regs_protected32(const struct gmem *m, uint32_t entry, uint32_t eax, uint32_t ebx,
		     struct kvm_regs *regs, struct kvm_sregs *sregs)
{
	struct kvm_segment code, data, tss;
	const struct kvm_segment *gdt[3] = {&code, &data, &tss};
	int r;

	regs_flat(&code, REGS_SEL32_CODE, REGS_TYPE_CODE_RX, 1, 0);
	regs_flat(&data, REGS_SEL32_DATA, REGS_TYPE_DATA_RW, 1, 0);
	regs_tss(&tss, REGS_SEL32_TSS);
	r = regs_write_gdt(m, gdt, 3, sregs);
	if (r)
		return r;
	sregs->cs = code;
	sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = data;
	sregs->tr = tss;
	sregs->cr0 = REGS_CR0_PE | REGS_CR0_ET;
	sregs->cr3 = 0;
	sregs->cr4 = 0;
	sregs->efer = 0;
	memset(regs, 0, sizeof(*regs));
	regs->rip = entry;
	regs->rax = eax;
	regs->rbx = ebx;
	regs->rflags = REGS_RFLAGS_FIXED;
	return 0;
}

int regs_boot_msrs(struct kvm_msr_entry *out, unsigned max, unsigned *n)
{
	static const struct {
		uint32_t index;
		uint64_t data;
	} msrs[] = {
	    {REGS_MSR_IA32_SYSENTER_CS, 0},
	    {REGS_MSR_IA32_SYSENTER_ESP, 0},
	    {REGS_MSR_IA32_SYSENTER_EIP, 0},
	    {REGS_MSR_STAR, 0},
	    {REGS_MSR_CSTAR, 0},
	    {REGS_MSR_KERNEL_GS_BASE, 0},
	    {REGS_MSR_SYSCALL_MASK, 0},
	    {REGS_MSR_LSTAR, 0},
	    {REGS_MSR_IA32_TSC, 0},
	    {REGS_MSR_IA32_MISC_ENABLE, REGS_MISC_ENABLE_FAST_STRING},
	    {REGS_MSR_MTRR_DEF_TYPE,
	     REGS_MTRR_DEF_ENABLE | REGS_MTRR_DEF_FIXED | REGS_MTRR_TYPE_WB},
	};
	_Static_assert(sizeof(msrs) / sizeof(msrs[0]) == REGS_BOOT_MSR_COUNT, "MSR count");

	if (!out || !n || max < REGS_BOOT_MSR_COUNT)
		return -ENOSPC;
	for (unsigned i = 0; i < REGS_BOOT_MSR_COUNT; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		out[i].index = msrs[i].index;
		out[i].data = msrs[i].data;
	}
	*n = REGS_BOOT_MSR_COUNT;
	return 0;
}
