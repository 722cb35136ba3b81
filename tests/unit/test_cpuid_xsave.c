/* Unit tests for the XSAVE leaf 0xD of arch/x86/cpuid (cpuid_fix_xsave() through
 * cpuid_build()): for every CPU model and a few +/- edits, on three synthetic hosts, the
 * table must obey the leaf 0xD rules as a guest reads them (checked here independently of
 * the builder), plus a few exact values. No /dev/kvm. */
#include "lib/harness.h"

#include <string.h>

#include "arch/x86/cpuid.h"
#include "base/compiler.h"

#define SIG	KVM_CPUID_FLAG_SIGNIFCANT_INDEX
#define OUT_MAX 80
#define LEGACY	576u

/* Intel-like, AVX-512 + MPX + PKU + XSAVES with CET supervisor states (11, 12). The sizes and
 * offsets are a Skylake-SP's; component 11 is marked 64-byte aligned to exercise ECX[1]. */
static const struct kvm_cpuid_entry2 host_avx512[] = {
    {.function = 0, .eax = 0xd, .ebx = 0x756e6547, .ecx = 0x6c65746e, .edx = 0x49656e69},
    {.function = 1,
     .eax = 0x50654,
     .ecx = (1u << 0) | (1u << 9) | (1u << 12) | (1u << 19) | (1u << 20) | (1u << 26) | (1u << 28) |
	    (1u << 29),
     .edx = 0x178bfbffu},
    {.function = 7,
     .index = 0,
     .flags = SIG,
     .ebx = (1u << 3) | (1u << 5) | (1u << 8) | (1u << 14) | (1u << 16) | (1u << 17) | (1u << 28) |
	    (1u << 30) | (1u << 31),
     .ecx = (1u << 3) | (1u << 9) | (1u << 10)},
    {.function = 0xd, .index = 0, .flags = SIG, .eax = 0x2ff, .ebx = 2696, .ecx = 2696},
    {.function = 0xd, .index = 1, .flags = SIG, .eax = 0xf, .ebx = 2696, .ecx = 0x1800},
    {.function = 0xd, .index = 2, .flags = SIG, .eax = 256, .ebx = 576},
    {.function = 0xd, .index = 3, .flags = SIG, .eax = 64, .ebx = 960},
    {.function = 0xd, .index = 4, .flags = SIG, .eax = 64, .ebx = 1024},
    {.function = 0xd, .index = 5, .flags = SIG, .eax = 64, .ebx = 1088},
    {.function = 0xd, .index = 6, .flags = SIG, .eax = 512, .ebx = 1152},
    {.function = 0xd, .index = 7, .flags = SIG, .eax = 1024, .ebx = 1664},
    {.function = 0xd, .index = 9, .flags = SIG, .eax = 8, .ebx = 2688},
    {.function = 0xd, .index = 11, .flags = SIG, .eax = 16, .ecx = 3},
    {.function = 0xd, .index = 12, .flags = SIG, .eax = 24, .ecx = 1},
    {.function = 0x80000000, .eax = 0x80000008},
    {.function = 0x80000001, .ecx = 1u << 0, .edx = (1u << 11) | (1u << 20) | (1u << 29)},
};

/* What the nested KVM (kvm-amd in QEMU TCG -cpu EPYC) reported, verbatim (2026-11-25). */
static const struct kvm_cpuid_entry2 host_nested_epyc[] = {
    {.function = 0, .eax = 0xd, .ebx = 0x68747541, .ecx = 0x444d4163, .edx = 0x69746e65},
    {.function = 1, .eax = 0x00800f12, .ebx = 0x00020800, .ecx = 0x76f83203, .edx = 0x078bfbfd},
    {.function = 7, .index = 0, .flags = SIG, .ebx = 0x009801ab, .edx = 0x20000000},
    {.function = 0xd, .index = 0, .flags = SIG, .eax = 7, .ebx = 0x340, .ecx = 0x340},
    {.function = 0xd, .index = 1, .flags = SIG, .eax = 5},
    {.function = 0xd, .index = 2, .flags = SIG, .eax = 0x100, .ebx = 0x240},
    {.function = 0x80000000, .eax = 0x80000008},
    {.function = 0x80000001, .ecx = 0x1, .edx = (1u << 11) | (1u << 20) | (1u << 29)},
};

/* A broken host: 0xD.0 offers AVX-512 with an empty sub-leaf 5, PKRU without sub-leaf 9, and
 * totals that match nothing; 0xD.1 offers a supervisor state without XSAVES. */
static const struct kvm_cpuid_entry2 host_broken[] = {
    {.function = 0, .eax = 0xd},
    {.function = 1, .ecx = (1u << 26) | (1u << 28), .edx = 0x178bfbffu},
    {.function = 7, .index = 0, .flags = SIG, .ebx = (1u << 5) | (1u << 16), .ecx = 1u << 3},
    {.function = 0xd, .index = 0, .flags = SIG, .eax = 0x2e7, .ebx = 4096, .ecx = 4096},
    {.function = 0xd, .index = 1, .flags = SIG, .eax = 0x3, .ebx = 9999, .ecx = 0x100},
    {.function = 0xd, .index = 2, .flags = SIG, .eax = 256, .ebx = 576},
    {.function = 0xd, .index = 5, .flags = SIG},
    {.function = 0xd, .index = 6, .flags = SIG, .eax = 512, .ebx = 1152},
    {.function = 0xd, .index = 7, .flags = SIG, .eax = 1024, .ebx = 1664},
    {.function = 0xd, .index = 8, .flags = SIG, .eax = 128, .ecx = 1},
    {.function = 0xd, .index = 30, .flags = SIG, .eax = 8, .ebx = 3000},
};

struct host {
	const char *name;
	const struct kvm_cpuid_entry2 *e;
	unsigned n;
};

static const struct host hosts[] = {
    {"avx512", host_avx512, ARRAY_SIZE(host_avx512)},
    {"nested-epyc", host_nested_epyc, ARRAY_SIZE(host_nested_epyc)},
    {"broken", host_broken, ARRAY_SIZE(host_broken)},
};

static const char *const models[] = {
    "host",
    "x86-64-v1",
    "x86-64-v2",
    "x86-64-v3",
    "x86-64-v4",
    "host,-avx",
    "host,-avx512f",
    "host,-avx512f,-pku",
    "host,-mpx",
    "host,-xsave",
    "host,-xsaves",
    "host,-xsavec,-xsaves",
    "host,-avx2",
    "x86-64-v2,+xsave",
    "x86-64-v3,-avx",
    "x86-64-v3,+xsavec,+xsaves,+avx512f",
    "x86-64-v4,-avx512f",
};

static const struct kvm_cpuid_entry2 *get(const struct kvm_cpuid_entry2 *e, unsigned n, uint32_t fn,
					  uint32_t idx)
{
	for (unsigned i = 0; i < n; i++)
		if (e[i].function == fn && e[i].index == idx)
			return &e[i];
	return NULL;
}

static const struct kvm_cpuid_entry2 zero_entry;

/* A guest's CPUID: a missing entry reads as zeros. */
static const struct kvm_cpuid_entry2 *cpuid(const struct kvm_cpuid_entry2 *e, unsigned n,
					    uint32_t fn, uint32_t idx)
{
	const struct kvm_cpuid_entry2 *r = get(e, n, fn, idx);

	return r ? r : &zero_entry;
}

static bool flag(const struct kvm_cpuid_entry2 *e, unsigned n, const char *name)
{
	const struct cpu_feature *f = cpu_feature_find(name);
	const struct kvm_cpuid_entry2 *l;
	uint32_t leaf, sub, v = 0;
	enum cpu_reg reg;

	assert_non_null(f);
	cpu_feat_word_info(f->word, &leaf, &sub, &reg);
	l = cpuid(e, n, leaf, sub);
	switch (reg) {
	case CPU_REG_EAX:
		v = l->eax;
		break;
	case CPU_REG_EBX:
		v = l->ebx;
		break;
	case CPU_REG_ECX:
		v = l->ecx;
		break;
	case CPU_REG_EDX:
		v = l->edx;
		break;
	}
	return v & (1u << f->bit);
}

static unsigned build(const struct host *h, const char *model, struct kvm_cpuid_entry2 *out)
{
	struct cpu_topology t = {1, 1, 1};
	struct cpu_model m;
	char err[128];
	unsigned n = 0;

	assert_int_equal(cpu_model_parse(model, &m, err, sizeof(err)), 0);
	assert_int_equal(cpuid_build(h->e, h->n, &m, &t, 0, out, OUT_MAX, &n), 0);
	return n;
}

#define XCHECK(cond, ...)                                                                          \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fail_msg("%s on %s: " __VA_ARGS__);                                        \
	} while (0)

/* Flag <-> component rules a guest (Linux's fpu__init_system_xstate) relies on. */
static const struct {
	const char *flag;
	uint64_t comps;
	bool owner; /* the component exists only with this flag */
} rules[] = {
    {"avx", 1u << 2, true},	  {"avx2", 1u << 2, false},	{"fma", 1u << 2, false},
    {"mpx", 3u << 3, true},	  {"avx512f", 7u << 5, true},	{"avx512bw", 7u << 5, false},
    {"avx512vl", 7u << 5, false}, {"amx_tile", 3u << 17, true},
};

/* The leaf 0xD invariants, checked the way a guest would read them. */
static void check_leaf_d(const char *host, const char *model, const struct kvm_cpuid_entry2 *e,
			 unsigned n)
{
	const struct kvm_cpuid_entry2 *d0 = cpuid(e, n, 0xd, 0), *d1 = cpuid(e, n, 0xd, 1);
	uint64_t user = d0->eax | (uint64_t)d0->edx << 32, xss = d1->ecx | (uint64_t)d1->edx << 32;
	uint32_t std = LEGACY, compact = LEGACY;

	if (!flag(e, n, "xsave")) {
		/* No entry at all: KVM would set 0xD.0 EBX from XCR0 in one that exists. */
		XCHECK(!get(e, n, 0xd, 0), "XSAVE off but a 0xD.0 entry exists", model, host);
		for (uint32_t i = 0; i < 64; i++) {
			const struct kvm_cpuid_entry2 *s = cpuid(e, n, 0xd, i);

			XCHECK(!s->eax && !s->ebx && !s->ecx && !s->edx,
			       "XSAVE off but 0xD.%u is not zero", model, host, i);
		}
		for (size_t r = 0; r < ARRAY_SIZE(rules); r++)
			XCHECK(!flag(e, n, rules[r].flag), "XSAVE off but %s on", model, host,
			       rules[r].flag);
		return;
	}
	XCHECK((user & 3) == 3, "0xD.0 lacks x87/SSE (%#lx)", model, host, (unsigned long)user);
	XCHECK(!(user & xss), "user and supervisor masks overlap", model, host);
	XCHECK(!xss || flag(e, n, "xsaves"), "IA32_XSS components without XSAVES", model, host);
	for (uint32_t i = 2; i < 64; i++) {
		const struct kvm_cpuid_entry2 *s = cpuid(e, n, 0xd, i);
		bool u = user & (1ull << i), sv = xss & (1ull << i);

		if (!u && !sv) {
			XCHECK(!s->eax && !s->ebx && !s->ecx && !s->edx,
			       "component %u not offered but its sub-leaf is not zero", model, host,
			       i);
			continue;
		}
		XCHECK(s->eax != 0, "component %u offered without a sub-leaf size", model, host, i);
		XCHECK((s->ecx & 1) == sv, "component %u: ECX[0] wrong", model, host, i);
		if (u) {
			XCHECK(s->ebx >= LEGACY, "component %u: offset %u < 576", model, host, i,
			       s->ebx);
			if (s->ebx + s->eax > std)
				std = s->ebx + s->eax;
		}
		if (s->ecx & 2)
			compact = (compact + 63) & ~63u;
		compact += s->eax;
	}
	XCHECK(d0->ecx == std, "0xD.0 ECX %u, components need %u", model, host, d0->ecx, std);
	XCHECK(d0->ebx == std, "0xD.0 EBX %u, components need %u", model, host, d0->ebx, std);
	if (flag(e, n, "xsavec") || flag(e, n, "xsaves"))
		XCHECK(d1->ebx == compact, "0xD.1 EBX %u, compacted size %u", model, host, d1->ebx,
		       compact);
	else
		XCHECK(d1->ebx == 0, "0xD.1 EBX %u without XSAVEC/XSAVES", model, host, d1->ebx);
	for (size_t r = 0; r < ARRAY_SIZE(rules); r++) {
		bool on = flag(e, n, rules[r].flag),
		     have = (user & rules[r].comps) == rules[r].comps;

		XCHECK(!on || have, "%s on without XCR0 components %#lx", model, host,
		       rules[r].flag, (unsigned long)rules[r].comps);
		XCHECK(!rules[r].owner || on || !(user & rules[r].comps),
		       "%s off but its XCR0 components offered", model, host, rules[r].flag);
	}
	XCHECK(!(user & (1u << 9)) || flag(e, n, "pku"), "PKRU offered without pku", model, host);
}

static void test_invariants(void **state)
{
	for (size_t h = 0; h < ARRAY_SIZE(hosts); h++) {
		for (size_t m = 0; m < ARRAY_SIZE(models); m++) {
			struct kvm_cpuid_entry2 out[OUT_MAX];
			unsigned n = build(&hosts[h], models[m], out);

			check_leaf_d(hosts[h].name, models[m], out, n);
		}
	}
}

static const struct kvm_cpuid_entry2 *d(const struct kvm_cpuid_entry2 *e, unsigned n, uint32_t i)
{
	return cpuid(e, n, 0xd, i);
}

/* Exact values on the AVX-512 host. */
static void test_avx512_host_values(void **state)
{
	struct kvm_cpuid_entry2 out[OUT_MAX];
	unsigned n = build(&hosts[0], "host", out);

	assert_int_equal(d(out, n, 0)->eax, 0x2ff);
	assert_int_equal(d(out, n, 0)->ecx, 2696);
	assert_int_equal(d(out, n, 1)->ecx, 0x1800);
	/* 576 + 256 + 64 + 64 + 64 + 512 + 1024 + 8 = 2568, align 64 -> 2624, + 16 + 24 */
	assert_int_equal(d(out, n, 1)->ebx, 2664);

	n = build(&hosts[0], "host,-avx", out); /* YMM goes, and with it AVX-512 */
	assert_int_equal(d(out, n, 0)->eax, 0x21b);
	assert_int_equal(d(out, n, 0)->ecx, 2696); /* PKRU is still the last component */
	assert_false(flag(out, n, "avx2"));
	assert_false(flag(out, n, "fma"));
	assert_false(flag(out, n, "avx512f"));
	assert_false(flag(out, n, "avx512vl"));
	assert_int_equal(d(out, n, 5)->eax, 0);
	assert_true(flag(out, n, "mpx"));
	assert_true(flag(out, n, "pku"));

	n = build(&hosts[0], "host,-avx512f,-pku", out);
	assert_int_equal(d(out, n, 0)->eax, 0x1f);
	assert_int_equal(d(out, n, 0)->ecx, 1088); /* MPX BNDCSR ends at 1024 + 64 */
	assert_int_equal(d(out, n, 9)->ebx, 0);

	n = build(&hosts[0], "host,-xsaves", out); /* no IA32_XSS states without XSAVES */
	assert_int_equal(d(out, n, 1)->ecx, 0);
	assert_int_equal(d(out, n, 11)->eax, 0);
	assert_int_equal(d(out, n, 1)->ebx, 2568); /* XSAVEC still: compacted XCR0 size */

	n = build(&hosts[0], "host,-xsave", out);
	assert_false(flag(out, n, "xsave"));
	assert_false(flag(out, n, "avx"));
	assert_int_equal(d(out, n, 0)->eax, 0);
	assert_int_equal(d(out, n, 1)->eax, 0);
}

/* The nested EPYC host: consistent as reported; -avx shrinks it to x87/SSE. */
static void test_nested_epyc_values(void **state)
{
	struct kvm_cpuid_entry2 out[OUT_MAX];
	unsigned n = build(&hosts[1], "host", out);

	assert_int_equal(d(out, n, 0)->eax, 7);
	assert_int_equal(d(out, n, 0)->ebx, 0x340);
	assert_int_equal(d(out, n, 0)->ecx, 0x340);
	assert_int_equal(d(out, n, 1)->eax, 5);
	assert_int_equal(d(out, n, 1)->ebx, 0);
	n = build(&hosts[1], "host,-avx", out);
	assert_int_equal(d(out, n, 0)->eax, 3);
	assert_int_equal(d(out, n, 0)->ecx, LEGACY);
	assert_int_equal(d(out, n, 2)->eax, 0);
	assert_false(flag(out, n, "avx2"));
	assert_false(flag(out, n, "f16c"));
	n = build(&hosts[1], "x86-64-v1", out);
	assert_int_equal(d(out, n, 0)->eax, 0);
	assert_int_equal(d(out, n, 2)->eax, 0);
}

/* The broken host: components without a usable sub-leaf are dropped, with their flags. */
static void test_broken_host_values(void **state)
{
	struct kvm_cpuid_entry2 out[OUT_MAX];
	unsigned n = build(&hosts[2], "host", out);

	assert_int_equal(d(out, n, 0)->eax, 7); /* 5 empty -> AVX-512 gone; 9 has no sub-leaf */
	assert_int_equal(d(out, n, 0)->ecx, 0x340);
	assert_false(flag(out, n, "avx512f"));
	assert_true(flag(out, n, "avx2"));
	assert_int_equal(d(out, n, 6)->eax, 0);
	assert_int_equal(d(out, n, 1)->ecx, 0); /* supervisor state 8 without XSAVES */
	assert_int_equal(d(out, n, 8)->eax, 0);
	assert_int_equal(d(out, n, 1)->ebx, 0x340); /* XSAVEC: compacted x87/SSE/AVX */
	assert_int_equal(d(out, n, 30)->eax, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_invariants),
	    cmocka_unit_test(test_avx512_host_values),
	    cmocka_unit_test(test_nested_epyc_values),
	    cmocka_unit_test(test_broken_host_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
