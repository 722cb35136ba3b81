/* Unit tests for arch/x86/regs and boot_vcpu_state(): GDT descriptor encoding (against the
 * well-known flat descriptors), the boot GDT and identity page tables written to guest memory
 * (walked like the MMU would), long-mode and 32-bit register state, and the boot MSR list. */
#include "lib/harness.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include <linux/kvm.h>

#include "arch/x86/boot.h"
#include "arch/x86/layout.h"
#include "arch/x86/regs.h"

#define MIB	 (1024ull * 1024)
#define RAM_SIZE (16 * MIB)

struct tvm {
	uint8_t *mem;
	struct gmem *m;
};

static void tvm_init(struct tvm *t, uint64_t gpa)
{
	struct gmem_region r;

	t->mem = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(t->mem != MAP_FAILED);
	r = (struct gmem_region){gpa, RAM_SIZE, t->mem, 0};
	assert_int_equal(gmem_create(&t->m, &r, 1), 0);
}

static void tvm_fini(struct tvm *t)
{
	gmem_destroy(t->m);
	munmap(t->mem, RAM_SIZE);
}

static uint64_t rd64(const struct tvm *t, uint64_t gpa)
{
	uint64_t v;

	memcpy(&v, t->mem + gpa, sizeof(v));
	return v;
}

/* Translate a linear address through the guest's 4-level tables (2 MiB pages only). */
static bool walk(const struct tvm *t, uint64_t cr3, uint64_t va, uint64_t *pa)
{
	uint64_t e = rd64(t, cr3 + ((va >> 39) & 511) * 8);

	if (!(e & REGS_PTE_P))
		return false;
	e = rd64(t, (e & ~0xfffull) + ((va >> 30) & 511) * 8);
	if (!(e & REGS_PTE_P) || (e & REGS_PTE_PS))
		return false;
	e = rd64(t, (e & ~0xfffull) + ((va >> 21) & 511) * 8);
	if (!(e & REGS_PTE_P) || !(e & REGS_PTE_PS) || !(e & REGS_PTE_RW))
		return false;
	*pa = (e & ~0x1fffffull & 0xfffffffffffffull) | (va & 0x1fffff);
	return true;
}

static void test_gdt_encoding(void **state)
{
	struct kvm_segment s = {
	    .limit = 0xffffffff, .type = 0xb, .present = 1, .s = 1, .l = 1, .g = 1};
	struct kvm_segment d;

	/* the descriptors every x86 boot loader uses (Firecracker's gdt_entry(0xa09b, 0, 0xfffff))
	 */
	assert_int_equal(regs_gdt_entry(&s), 0x00af9b000000ffffull);
	s.l = 0;
	s.db = 1;
	assert_int_equal(regs_gdt_entry(&s), 0x00cf9b000000ffffull);
	s.type = 0x3;
	assert_int_equal(regs_gdt_entry(&s), 0x00cf93000000ffffull);
	/* round trip with a base and a byte-granular limit */
	s = (struct kvm_segment){.base = 0x12345678, .limit = 0x67, .type = 0xb, .present = 1};
	regs_segment_from_gdt(regs_gdt_entry(&s), 0x20, &d);
	assert_int_equal(d.base, 0x12345678);
	assert_int_equal(d.limit, 0x67);
	assert_int_equal(d.type, 0xb);
	assert_int_equal(d.s, 0);
	assert_int_equal(d.g, 0);
	assert_int_equal(d.present, 1);
	assert_int_equal(d.selector, 0x20);
}

static void assert_seg_eq(const struct kvm_segment *a, const struct kvm_segment *b)
{
	assert_int_equal(a->base, b->base);
	assert_int_equal(a->limit, b->limit);
	assert_int_equal(a->selector, b->selector);
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->present, b->present);
	assert_int_equal(a->dpl, b->dpl);
	assert_int_equal(a->db, b->db);
	assert_int_equal(a->s, b->s);
	assert_int_equal(a->l, b->l);
	assert_int_equal(a->g, b->g);
}

/* The segment registers must match what the GDT in guest memory says. */
static void assert_gdt_matches(const struct tvm *t, const struct kvm_sregs *sr)
{
	const struct kvm_segment *segs[] = {&sr->cs, &sr->ds, &sr->es, &sr->ss,
					    &sr->fs, &sr->gs, &sr->tr};
	struct kvm_segment d;

	assert_int_equal(sr->gdt.base, LAYOUT_BOOT_GDT);
	assert_int_equal(rd64(t, LAYOUT_BOOT_GDT), 0);
	for (unsigned i = 0; i < ARRAY_SIZE(segs); i++) {
		assert_true(segs[i]->selector + 7u <= sr->gdt.limit);
		regs_segment_from_gdt(rd64(t, LAYOUT_BOOT_GDT + segs[i]->selector),
				      segs[i]->selector, &d);
		assert_seg_eq(segs[i], &d);
	}
}

static void test_long_mode(void **state)
{
	struct boot_entry e = {
	    .proto = BOOT_PROTO_LINUX64, .entry = 0x100200, .arg = LAYOUT_ZERO_PAGE};
	struct kvm_regs regs;
	struct kvm_sregs sr;
	struct tvm t;
	uint64_t pa;
	static const uint64_t probe[] = {0,	     0x7000,	 0x100200,  0x1234567,
					 0xbfffffff, 0xfee00000, 0xffffffff};

	tvm_init(&t, 0);
	memset(&regs, 0xa5, sizeof(regs));
	memset(&sr, 0, sizeof(sr));
	sr.apic_base = 0xfee00900; /* untouched */
	sr.cr8 = 3;
	assert_int_equal(boot_vcpu_state(t.m, &e, &regs, &sr), 0);
	assert_int_equal(regs.rip, 0x100200);
	assert_int_equal(regs.rsi, LAYOUT_ZERO_PAGE);
	assert_int_equal(regs.rflags, 2);
	assert_int_equal(regs.rsp, LAYOUT_BOOT_STACK);
	assert_int_equal(regs.rax, 0);
	assert_int_equal(regs.rbx, 0);
	assert_int_equal(sr.apic_base, 0xfee00900);
	assert_int_equal(sr.cr8, 3);
	assert_int_equal(sr.cr0 & (REGS_CR0_PE | REGS_CR0_PG), REGS_CR0_PE | REGS_CR0_PG);
	assert_true(sr.cr4 & REGS_CR4_PAE);
	assert_int_equal(sr.efer & (REGS_EFER_LME | REGS_EFER_LMA), REGS_EFER_LME | REGS_EFER_LMA);
	assert_int_equal(sr.cr3, LAYOUT_PML4);
	/* Linux boot protocol: __BOOT_CS 0x10 (64-bit code), __BOOT_DS 0x18 */
	assert_int_equal(sr.cs.selector, 0x10);
	assert_int_equal(sr.cs.l, 1);
	assert_int_equal(sr.cs.db, 0);
	assert_int_equal(sr.ds.selector, 0x18);
	assert_int_equal(sr.ss.selector, 0x18);
	assert_int_equal(sr.tr.selector, 0x20);
	assert_int_equal(sr.tr.type, 0xb);
	assert_int_equal(sr.tr.s, 0);
	assert_int_equal(rd64(&t, LAYOUT_BOOT_GDT + 0x10), 0x00af9b000000ffffull);
	assert_int_equal(rd64(&t, LAYOUT_BOOT_GDT + 0x18), 0x00cf93000000ffffull);
	assert_gdt_matches(&t, &sr);
	assert_int_equal(sr.idt.limit, 0);
	/* identity map of 0..4 GiB */
	for (unsigned i = 0; i < ARRAY_SIZE(probe); i++) {
		assert_true(walk(&t, sr.cr3, probe[i], &pa));
		assert_int_equal(pa, probe[i]);
	}
	assert_false(walk(&t, sr.cr3, 0x100000000ull, &pa));
	assert_int_equal(rd64(&t, LAYOUT_PML4), LAYOUT_PDPT | 3);
	assert_int_equal(rd64(&t, LAYOUT_PDPT + 3 * 8), (LAYOUT_PD + 3 * 4096) | 3);
	tvm_fini(&t);
}

static void check_32(enum boot_proto proto, uint32_t magic)
{
	struct boot_entry e = {.proto = proto, .entry = 0x200040, .arg = 0x2000, .magic = magic};
	struct kvm_regs regs;
	struct kvm_sregs sr;
	struct tvm t;

	tvm_init(&t, 0);
	memset(&regs, 0xa5, sizeof(regs));
	memset(&sr, 0xa5, sizeof(sr));
	assert_int_equal(boot_vcpu_state(t.m, &e, &regs, &sr), 0);
	assert_int_equal(regs.rip, 0x200040);
	assert_int_equal(regs.rbx, 0x2000);
	assert_int_equal(regs.rax, magic);
	assert_int_equal(regs.rflags, 2);
	assert_int_equal(regs.rcx, 0);
	assert_int_equal(sr.cr0, REGS_CR0_PE | REGS_CR0_ET); /* paging off */
	assert_int_equal(sr.cr4, 0);
	assert_int_equal(sr.efer, 0);
	assert_int_equal(sr.cs.selector, 0x08);
	assert_int_equal(sr.cs.db, 1);
	assert_int_equal(sr.cs.l, 0);
	assert_int_equal(sr.cs.base, 0);
	assert_int_equal(sr.cs.limit, 0xffffffff);
	assert_int_equal(sr.cs.g, 1);
	assert_int_equal(sr.ds.selector, 0x10);
	assert_int_equal(sr.es.type, 0x3);
	assert_int_equal(sr.ss.db, 1);
	assert_int_equal(sr.tr.type, 0xb);
	assert_int_equal(sr.gdt.limit, 4 * 8 - 1);
	assert_int_equal(rd64(&t, LAYOUT_BOOT_GDT + 0x08), 0x00cf9b000000ffffull);
	assert_int_equal(rd64(&t, LAYOUT_BOOT_GDT + 0x10), 0x00cf93000000ffffull);
	assert_gdt_matches(&t, &sr);
	assert_int_equal(sr.apic_base, 0xa5a5a5a5a5a5a5a5ull); /* left for the caller */
	tvm_fini(&t);
}

static void test_pvh_and_multiboot(void **state)
{
	check_32(BOOT_PROTO_PVH, 0);
	check_32(BOOT_PROTO_MULTIBOOT, 0x2badb002);
}

static void test_vcpu_state_errors(void **state)
{
	struct boot_entry e = {.proto = BOOT_PROTO_PVH, .entry = 0x100000000ull, .arg = 0x1000};
	struct kvm_regs regs;
	struct kvm_sregs sr;
	struct tvm t;

	tvm_init(&t, 0);
	memset(&sr, 0, sizeof(sr));
	assert_int_equal(boot_vcpu_state(t.m, &e, &regs, &sr), -EINVAL);
	e.proto = BOOT_PROTO_LINUX64; /* entry above the 4 GiB identity map */
	assert_int_equal(boot_vcpu_state(t.m, &e, &regs, &sr), -EINVAL);
	e.proto = (enum boot_proto)42;
	assert_int_equal(boot_vcpu_state(t.m, &e, &regs, &sr), -EINVAL);
	assert_int_equal(boot_vcpu_state(t.m, NULL, &regs, &sr), -EINVAL);
	tvm_fini(&t);
	/* no RAM under the GDT / page tables */
	tvm_init(&t, LAYOUT_KERNEL_LOAD);
	e = (struct boot_entry){.proto = BOOT_PROTO_LINUX64, .entry = 0x100200, .arg = 0x7000};
	assert_int_equal(boot_vcpu_state(t.m, &e, &regs, &sr), -EFAULT);
	e.proto = BOOT_PROTO_MULTIBOOT;
	assert_int_equal(boot_vcpu_state(t.m, &e, &regs, &sr), -EFAULT);
	tvm_fini(&t);
}

static void test_boot_msrs(void **state)
{
	struct kvm_msr_entry msrs[16];
	unsigned n = 0;
	bool seen_misc = false, seen_mtrr = false, seen_lstar = false;

	assert_int_equal(regs_boot_msrs(msrs, 3, &n), -ENOSPC);
	assert_int_equal(n, 0);
	assert_int_equal(regs_boot_msrs(msrs, ARRAY_SIZE(msrs), &n), 0);
	assert_int_equal(n, REGS_BOOT_MSR_COUNT);
	for (unsigned i = 0; i < n; i++) {
		for (unsigned j = 0; j < i; j++)
			assert_int_not_equal(msrs[i].index, msrs[j].index);
		switch (msrs[i].index) {
		case 0x1a0:
			seen_misc = true;
			assert_int_equal(msrs[i].data, 1);
			break;
		case 0x2ff:
			seen_mtrr = true;
			assert_int_equal(msrs[i].data, 0xc06);
			break;
		case 0xc0000082:
			seen_lstar = true;
			assert_int_equal(msrs[i].data, 0);
			break;
		case 0x10:
		case 0x174:
		case 0x175:
		case 0x176:
		case 0xc0000081:
		case 0xc0000083:
		case 0xc0000084:
		case 0xc0000102:
			assert_int_equal(msrs[i].data, 0);
			break;
		default:
			fail_msg("unexpected MSR 0x%x", msrs[i].index);
		}
	}
	assert_true(seen_misc && seen_mtrr && seen_lstar);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_gdt_encoding),      cmocka_unit_test(test_long_mode),
	    cmocka_unit_test(test_pvh_and_multiboot), cmocka_unit_test(test_vcpu_state_errors),
	    cmocka_unit_test(test_boot_msrs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
