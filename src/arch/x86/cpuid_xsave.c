/* arch/x86/cpuid_xsave.c — make the XSAVE leaf 0xD of a CPUID table consistent with its
 * feature flags (see cpuid_fix_xsave() in cpuid.h). Rules: Intel SDM vol. 1 ch. 13 (XSAVE
 * feature set) and vol. 2A CPUID leaf 0DH; AMD APM vol. 3 E.3.7 (Fn0000_000D). Pure function
 * on caller memory; any thread. */
#include "arch/x86/cpuid.h"

#include <string.h>

#include "base/compiler.h"

#define XSAVE_LEGACY_SIZE 576u /* legacy region (512) + XSAVE header (64) */
#define XSAVE_MAX_COMP	  63u

/* Leaf 1 ECX.XSAVE, leaf 0xD.1 EAX.XSAVEC and .XSAVES. */
#define L1_ECX_XSAVE  (1u << 26)
#define D1_EAX_XSAVEC (1u << 1)
#define D1_EAX_XSAVES (1u << 3)

/* Feature flags and the XSAVE state components their instructions use: a flag is only
 * offered when all its components are, and a component only when one of its flags is. */
static const struct {
	const char *flag;
	uint64_t comps;
} cpu_xsave_flags[] = {
    {"avx", 1u << 2},
    {"avx2", 1u << 2},
    {"fma", 1u << 2},
    {"f16c", 1u << 2},
    {"vaes", 1u << 2},
    {"vpclmulqdq", 1u << 2},
    {"avx_vnni", 1u << 2},
    {"mpx", (1u << 3) | (1u << 4)},
    {"avx512f", 0xe4},
    {"avx512dq", 0xe4},
    {"avx512ifma", 0xe4},
    {"avx512pf", 0xe4},
    {"avx512er", 0xe4},
    {"avx512cd", 0xe4},
    {"avx512bw", 0xe4},
    {"avx512vl", 0xe4},
    {"avx512vbmi", 0xe4},
    {"avx512_vbmi2", 0xe4},
    {"avx512_vnni", 0xe4},
    {"avx512_bitalg", 0xe4},
    {"avx512_vpopcntdq", 0xe4},
    {"avx512_4vnniw", 0xe4},
    {"avx512_4fmaps", 0xe4},
    {"avx512_vp2intersect", 0xe4},
    {"avx512_fp16", 0xe4},
    {"avx512_bf16", 0xe4},
    {"amx_tile", (1u << 17) | (1u << 18)},
    {"amx_int8", (1u << 17) | (1u << 18)},
    {"amx_bf16", (1u << 17) | (1u << 18)},
};

/* Components that exist only for a flag (PKRU: PKU; the rest as in the table above). A
 * component not listed here (supervisor states such as PT or CET) stays when its sub-leaf is
 * valid. */
static const struct {
	const char *flag;
	uint64_t comps;
} cpu_xsave_owner[] = {
    {"avx", 1u << 2},
    {"mpx", (1u << 3) | (1u << 4)},
    {"avx512f", (1u << 5) | (1u << 6) | (1u << 7)},
    {"pku", 1u << 9},
    {"amx_tile", (1u << 17) | (1u << 18)},
};

static uint32_t *flag_reg(struct kvm_cpuid_entry2 *e, unsigned n, const char *name, uint32_t *bit)
{
	const struct cpu_feature *f = cpu_feature_find(name);

	BUG_ON(!f); /* the tables above only name known flags */
	return cpuid_feature_reg(e, n, f, bit);
}

static bool flag_on(struct kvm_cpuid_entry2 *e, unsigned n, const char *name)
{
	uint32_t bit, *r = flag_reg(e, n, name, &bit);

	return r && (*r & bit);
}

static void flag_clear(struct kvm_cpuid_entry2 *e, unsigned n, const char *name)
{
	uint32_t bit, *r = flag_reg(e, n, name, &bit);

	if (r)
		*r &= ~bit;
}

static void zero_regs(struct kvm_cpuid_entry2 *e)
{
	e->eax = e->ebx = e->ecx = e->edx = 0;
}

/* A component i >= 2 is usable when its sub-leaf gives a size and says the right kind of
 * state (ECX[0]: 1 = supervisor, IA32_XSS; 0 = user, XCR0). */
static uint64_t valid_comps(struct kvm_cpuid_entry2 *e, unsigned n, uint64_t mask, bool supervisor)
{
	for (unsigned i = 2; i <= XSAVE_MAX_COMP; i++) {
		struct kvm_cpuid_entry2 *s;

		if (!(mask & (1ull << i)))
			continue;
		s = cpuid_entry_find(e, n, 0xd, i);
		if (!s || s->eax == 0 || (bool)(s->ecx & 1) != supervisor ||
		    (!supervisor && s->ebx < XSAVE_LEGACY_SIZE))
			mask &= ~(1ull << i);
	}
	return mask;
}

static uint32_t std_size(struct kvm_cpuid_entry2 *e, unsigned n, uint64_t user)
{
	uint32_t size = XSAVE_LEGACY_SIZE;

	for (unsigned i = 2; i <= XSAVE_MAX_COMP; i++) {
		struct kvm_cpuid_entry2 *s = cpuid_entry_find(e, n, 0xd, i);

		if ((user & (1ull << i)) && s && s->ebx + s->eax > size)
			size = s->ebx + s->eax;
	}
	return size;
}

static uint32_t compacted_size(struct kvm_cpuid_entry2 *e, unsigned n, uint64_t comps)
{
	uint32_t size = XSAVE_LEGACY_SIZE;

	for (unsigned i = 2; i <= XSAVE_MAX_COMP; i++) {
		struct kvm_cpuid_entry2 *s = cpuid_entry_find(e, n, 0xd, i);

		if (!(comps & (1ull << i)) || !s)
			continue;
		if (s->ecx & 2) /* 64-byte aligned in the compacted format */
			size = (size + 63) & ~63u;
		size += s->eax;
	}
	return size;
}

unsigned cpuid_fix_xsave(struct kvm_cpuid_entry2 *e, unsigned n)
{
	struct kvm_cpuid_entry2 *d0 = cpuid_entry_find(e, n, 0xd, 0),
				*d1 = cpuid_entry_find(e, n, 0xd, 1);
	struct kvm_cpuid_entry2 *l1 = cpuid_entry_find(e, n, 1, 0);
	uint64_t user = 0, xss = 0, prev;
	bool xsave = l1 && (l1->ecx & L1_ECX_XSAVE) && d0;

	if (xsave) {
		user = valid_comps(e, n, d0->eax | (uint64_t)d0->edx << 32, false);
		if (d1 && (d1->eax & D1_EAX_XSAVES))
			xss = valid_comps(e, n, d1->ecx | (uint64_t)d1->edx << 32, true);
		if ((user & 3) != 3)
			xsave = false; /* x87 and SSE are architectural; without them, no XSAVE */
	}
	if (!xsave) {
		user = xss = 0;
		if (l1)
			l1->ecx &= ~L1_ECX_XSAVE;
	}
	/* Drop components whose flags are off and flags whose components are gone, until
	 * nothing changes (avx off -> YMM off -> avx512f off -> its three components off). */
	do {
		prev = user;
		for (size_t i = 0; i < ARRAY_SIZE(cpu_xsave_flags); i++)
			if ((user & cpu_xsave_flags[i].comps) != cpu_xsave_flags[i].comps)
				flag_clear(e, n, cpu_xsave_flags[i].flag);
		for (size_t i = 0; i < ARRAY_SIZE(cpu_xsave_owner); i++)
			if (!flag_on(e, n, cpu_xsave_owner[i].flag))
				user &= ~cpu_xsave_owner[i].comps;
	} while (user != prev);

	if (!xsave) {
		/* Remove leaf 0xD: KVM rewrites 0xD.0 EBX for the guest's XCR0 whenever the entry
		 * exists, and a missing sub-leaf reads as zeros. */
		unsigned m = 0;

		for (unsigned i = 0; i < n; i++)
			if (e[i].function != 0xd)
				e[m++] = e[i];
		return m;
	}
	for (unsigned i = 0; i < n; i++) {
		if (e[i].function != 0xd || e[i].index < 2)
			continue;
		if (e[i].index > XSAVE_MAX_COMP || !((user | xss) & (1ull << e[i].index)))
			zero_regs(&e[i]);
	}
	d0->eax = (uint32_t)user;
	d0->edx = (uint32_t)(user >> 32);
	/* EBX is the size for the XCR0 in force: KVM rewrites it whenever the guest sets XCR0
	 * (KVM_SET_CPUID2 and XSETBV). Start with the maximum, as QEMU does under KVM. */
	d0->ecx = d0->ebx = std_size(e, n, user);
	if (d1) {
		d1->ecx = (uint32_t)xss;
		d1->edx = (uint32_t)(xss >> 32);
		d1->ebx = (d1->eax & (D1_EAX_XSAVEC | D1_EAX_XSAVES))
			      ? compacted_size(e, n, user | xss)
			      : 0;
	}
	return n;
}
