/* tests/guest/payload/xsave.c — the XSAVE CPUID leaf 0xD as the guest sees it, checked against
 * the SDM rules (vol. 1 13.2, vol. 2A CPUID leaf 0DH) and against the feature flags, then the
 * dynamic part: after XSETBV(XCR0 = every user component 0xD.0 offers) CPUID.0xD.0 EBX must
 * be the standard-format size of those components (what Linux's fpu__init_system_xstate
 * compares), 0xD.1 EBX the compacted size when XSAVEC/XSAVES exist, and XCR0 must survive a
 * VM exit.
 *
 * Static checks (the VMM's CPUID table):
 *  - CPUID.1:ECX.XSAVE off: every 0xD sub-leaf is zero and AVX is off;
 *  - XSAVE on: 0xD.0 EDX:EAX has x87 and SSE; each other bit i has a sub-leaf with a size,
 *    ECX[0] = 0 (user state) and EBX (offset) >= 576; 0xD.0 ECX = max(576, offset + size);
 *    0xD.1 ECX/EDX (IA32_XSS) bits have sub-leaves with ECX[0] = 1; sub-leaves 2..31 of
 *    components in neither mask are zero;
 *  - a component is offered iff its feature flag is on: AVX <-> 2, MPX <-> 3+4, AVX512F <->
 *    5+6+7, PKU <-> 9, AMX-TILE <-> 17+18.
 * Dynamic checks (the hypervisor's XSETBV/CPUID handling): as above. With `xcr0=report` they
 * print "note -" lines instead of failing (nested KVM on QEMU TCG: TCG's SVM does not
 * intercept XSETBV, see docs/platform.md). */
#include "payload.h"

const char payload_name[] = "xsave";

#define XSAVE_LEGACY 576u /* legacy region (512) + XSAVE header (64) */

struct comp {
	uint32_t size, offset, flags;
};

static struct comp comps[64];

static inline uint64_t xgetbv0(void)
{
	uint32_t lo, hi;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t)hi << 32) | lo;
}

static inline void xsetbv0(uint64_t v)
{
	__asm__ volatile("xsetbv" : : "a"((uint32_t)v), "d"((uint32_t)(v >> 32)), "c"(0));
}

static inline uint64_t read_cr4(void)
{
	uint64_t v;

	__asm__ volatile("mov %%cr4, %0" : "=r"(v));
	return v;
}

static inline void write_cr4(uint64_t v)
{
	__asm__ volatile("mov %0, %%cr4" : : "r"(v));
}

/* Standard format: the end of the highest component; compacted: packed in index order, each
 * 64-byte aligned if its ECX[1] says so (SDM vol. 1 13.4.3). */
static uint32_t area_size(uint64_t mask, bool compacted)
{
	uint32_t size = XSAVE_LEGACY;

	for (unsigned i = 2; i < 64; i++) {
		if (!(mask & (1ull << i)))
			continue;
		if (compacted) {
			if (comps[i].flags & 2)
				size = (size + 63) & ~63u;
			size += comps[i].size;
		} else if (comps[i].offset + comps[i].size > size) {
			size = comps[i].offset + comps[i].size;
		}
	}
	return size;
}

static bool feat(uint32_t leaf, unsigned reg, unsigned bit)
{
	uint32_t r[4];

	cpuid(leaf, 0, r);
	return r[reg] & (1u << bit);
}

static void check_flag(const char *name, bool on, uint64_t offered, uint64_t comps_mask)
{
	bool all = (offered & comps_mask) == comps_mask, none = !(offered & comps_mask);

	check(on ? all : none, "%s %s, XCR0 components 0x%lx %s", name, on ? "on" : "off",
	      comps_mask,
	      on ? (all ? "offered" : "NOT all offered") : (none ? "not offered" : "OFFERED"));
}

/* A dynamic check: fails unless xcr0=report asked for notes. */
static void dyn_check(bool report, bool cond, const char *what)
{
	if (report && !cond)
		printf("note - %s: NO (hypervisor did not see XSETBV?)\n", what);
	else
		check(cond, "%s", what);
}

int payload_main(const struct boot_info *bi)
{
	uint32_t r[4], d0[4], d1[4], max_end = XSAVE_LEGACY;
	uint64_t user, xss, after;
	bool report = false, avx, xsave;
	char arg[16];

	(void)bi;
	if (cmdline_get("xcr0", arg, sizeof(arg)))
		report = !strncmp(arg, "report", 7);
	cpuid(0, 0, r);
	if (!check(r[0] >= 0xd, "max basic leaf 0x%x >= 0xd", r[0]))
		return EXIT_CODE_FAIL;
	cpuid(1, 0, r);
	xsave = r[2] & (1u << 26);
	avx = r[2] & (1u << 28);
	cpuid(0xd, 0, d0);
	cpuid(0xd, 1, d1);
	printf("xsave: CPUID.1:ECX 0x%x; 0xD.0 0x%x 0x%x 0x%x 0x%x; 0xD.1 0x%x 0x%x 0x%x 0x%x\n",
	       r[2], d0[0], d0[1], d0[2], d0[3], d1[0], d1[1], d1[2], d1[3]);
	if (!xsave) {
		bool zero = true;

		for (unsigned i = 0; i < 64; i++) {
			cpuid(0xd, i, r);
			if (zero && (r[0] || r[1] || r[2] || r[3]))
				printf("xsave: 0xD.%u = 0x%x 0x%x 0x%x 0x%x\n", i, r[0], r[1], r[2],
				       r[3]);
			zero = zero && !r[0] && !r[1] && !r[2] && !r[3];
		}
		check(zero, "XSAVE off: every 0xD sub-leaf is zero");
		check(!avx, "XSAVE off: AVX off");
		return 0;
	}
	user = d0[0] | (uint64_t)d0[3] << 32;
	xss = d1[2] | (uint64_t)d1[3] << 32;
	check((user & 3) == 3, "0xD.0 offers x87 and SSE (0x%lx)", user);
	check(!(user & xss), "user (0x%lx) and supervisor (0x%lx) components are disjoint", user,
	      xss);
	for (unsigned i = 2; i < 64; i++) {
		bool in_user = user & (1ull << i), in_xss = xss & (1ull << i);

		if (!in_user && !in_xss && i >= 32)
			continue;
		cpuid(0xd, i, r);
		comps[i] = (struct comp){r[0], r[1], r[2]};
		if (!in_user && !in_xss) {
			check(!r[0] && !r[1] && !r[2] && !r[3],
			      "component %u not offered: sub-leaf zero", i);
			continue;
		}
		printf("xsave: component %u: size %u offset %u ecx 0x%x\n", i, r[0], r[1], r[2]);
		check(r[0] != 0, "component %u: sub-leaf gives a size (%u)", i, r[0]);
		check((r[2] & 1) == in_xss, "component %u: ECX[0] says %s state", i,
		      in_xss ? "supervisor" : "user");
		if (in_user) {
			check(r[1] >= XSAVE_LEGACY, "component %u: offset %u >= %u", i, r[1],
			      XSAVE_LEGACY);
			if (r[1] + r[0] > max_end)
				max_end = r[1] + r[0];
		}
	}
	check(d0[2] == max_end, "0xD.0 ECX %u == max(576, offset + size) %u", d0[2], max_end);
	check_flag("avx", avx, user, 1ull << 2);
	check_flag("mpx", feat(7, 1, 14), user, 3ull << 3);
	check_flag("avx512f", feat(7, 1, 16), user, 7ull << 5);
	check_flag("pku", feat(7, 2, 3), user, 1ull << 9);
	check_flag("amx_tile", feat(7, 3, 24), user, 3ull << 17);

	/* Dynamic: enable every offered user component, as Linux does. */
	write_cr4(read_cr4() | (1u << 18));
	cpuid(1, 0, r);
	check(r[2] & (1u << 27), "CPUID.1:ECX.OSXSAVE follows CR4.OSXSAVE");
	xsetbv0(user);
	check(xgetbv0() == user, "XCR0 reads back 0x%lx", user);
	cpuid(0xd, 0, r);
	printf("xsave: after XSETBV(0x%lx): 0xD.0 EBX %u\n", user, r[1]);
	{
		char what[96];

		snprintf(what, sizeof(what), "0xD.0 EBX %u == standard size of XCR0 %u", r[1],
			 area_size(user, false));
		dyn_check(report, r[1] == area_size(user, false), what);
		if (d1[0] & ((1u << 1) | (1u << 3))) {
			cpuid(0xd, 1, r);
			snprintf(what, sizeof(what), "0xD.1 EBX %u == compacted size of XCR0 %u",
				 r[1], area_size(user, true));
			dyn_check(report, r[1] == area_size(user, true), what);
		}
		outb(0x80, 0); /* a VM exit (port 0x80: POST code, ignored) */
		after = xgetbv0();
		snprintf(what, sizeof(what), "XCR0 after a VM exit 0x%lx == 0x%lx", after, user);
		dyn_check(report, after == user, what);
	}
	xsetbv0(3);
	return 0;
}
