/* Unit tests for arch/x86/cpuid: topology parsing and APIC ID packing, CPU models and +/-
 * flags, and the CPUID table built from a synthetic KVM_GET_SUPPORTED_CPUID list (no /dev/kvm).
 * The topology tests decode the produced leaves the way a Linux guest does and compare. */
#include "lib/harness.h"

#include <errno.h>
#include <string.h>

#include "arch/x86/cpuid.h"
#include "base/compiler.h"

/* ---- Synthetic host ---- */

#define L1ECX_HOST                                                                                 \
	((1u << 0) | (1u << 1) | (1u << 9) | (1u << 12) | (1u << 13) | (1u << 19) | (1u << 20) |   \
	 (1u << 21) | (1u << 22) | (1u << 23) | (1u << 25) | (1u << 26) | (1u << 28) |             \
	 (1u << 29) | (1u << 30))
#define L1EDX_HOST 0x178bfbffu
#define L7EBX_HOST                                                                                 \
	((1u << 0) | (1u << 3) | (1u << 5) | (1u << 7) | (1u << 8) | (1u << 9) | (1u << 10) |      \
	 (1u << 18) | (1u << 19) | (1u << 20) | (1u << 29))
#define X1ECX_HOST ((1u << 0) | (1u << 5) | (1u << 8))
#define X1EDX_HOST ((1u << 11) | (1u << 20) | (1u << 26) | (1u << 27) | (1u << 29))

#define SIG KVM_CPUID_FLAG_SIGNIFCANT_INDEX

/* An Intel-like host with AVX2 but no AVX-512, leaf 4 caches, XSAVE (x87/SSE/AVX), the KVM
 * leaves, and a stale leaf 0xB entry that must be replaced. */
static const struct kvm_cpuid_entry2 intel_host[] = {
    {.function = 0, .eax = 0x16, .ebx = 0x756e6547, .ecx = 0x6c65746e, .edx = 0x49656e69},
    {.function = 1, .eax = 0x000906ea, .ebx = 0xdeadbeef, .ecx = L1ECX_HOST, .edx = L1EDX_HOST},
    {.function = 4, .index = 0, .flags = SIG, .eax = 0xfc004121, .ebx = 0x01c0003f, .ecx = 63},
    {.function = 4, .index = 1, .flags = SIG, .eax = 0xfc004122, .ebx = 0x01c0003f, .ecx = 63},
    {.function = 4, .index = 2, .flags = SIG, .eax = 0xfc004143, .ebx = 0x00c0003f, .ecx = 1023},
    {.function = 4, .index = 3, .flags = SIG, .eax = 0xfc07c163, .ebx = 0x03c0003f, .ecx = 8191},
    {.function = 4, .index = 4, .flags = SIG},
    {.function = 7,
     .index = 0,
     .flags = SIG,
     .eax = 1,
     .ebx = L7EBX_HOST,
     .ecx = 1u << 22,
     .edx = (1u << 10) | (1u << 26)},
    {.function = 7, .index = 1, .flags = SIG, .eax = 1u << 4},
    {.function = 0xb, .index = 0, .flags = SIG, .eax = 9, .ebx = 9, .ecx = 0x100, .edx = 77},
    {.function = 0xd, .index = 0, .flags = SIG, .eax = 7, .ebx = 0x240, .ecx = 0x340},
    {.function = 0xd, .index = 1, .flags = SIG, .eax = 7},
    {.function = 0xd, .index = 2, .flags = SIG, .eax = 256, .ebx = 576},
    {.function = 0x40000000, .eax = 0x40000001, .ebx = 0x4b4d564b, .ecx = 0x564b4d56, .edx = 0x4d},
    {.function = 0x40000001, .eax = 0x01007afb},
    {.function = 0x80000000, .eax = 0x80000008},
    {.function = 0x80000001, .ecx = X1ECX_HOST, .edx = X1EDX_HOST},
    {.function = 0x80000008, .eax = 0x3027, .ecx = 0xffff},
};

/* An AMD-like host: topoext and leaf 0x8000001E, no leaf 4 or 0xB. */
static const struct kvm_cpuid_entry2 amd_host[] = {
    {.function = 0, .eax = 0x10, .ebx = 0x68747541, .ecx = 0x444d4163, .edx = 0x69746e65},
    {.function = 1, .eax = 0x00a20f10, .ecx = L1ECX_HOST, .edx = L1EDX_HOST},
    {.function = 7, .index = 0, .flags = SIG, .ebx = L7EBX_HOST},
    {.function = 0x80000000, .eax = 0x8000001e},
    {.function = 0x80000001, .ecx = X1ECX_HOST | (1u << 22), .edx = X1EDX_HOST},
    {.function = 0x80000008, .eax = 0x3030, .ecx = 0x700f},
    {.function = 0x8000001e, .eax = 0x55, .ebx = 0x1234, .ecx = 0x777, .edx = 0x9},
};

#define OUT_MAX 64

static const struct kvm_cpuid_entry2 *get(const struct kvm_cpuid_entry2 *e, unsigned n, uint32_t fn,
					  uint32_t idx)
{
	const struct kvm_cpuid_entry2 *found = NULL;

	for (unsigned i = 0; i < n; i++) {
		if (e[i].function == fn && e[i].index == idx) {
			assert_null(found); /* never two entries for one leaf/subleaf */
			found = &e[i];
		}
	}
	return found;
}

static unsigned build(const struct kvm_cpuid_entry2 *sup, unsigned nsup, const char *model,
		      const struct cpu_topology *t, unsigned idx, struct kvm_cpuid_entry2 *out)
{
	struct cpu_model m;
	char err[128];
	unsigned n = 0;

	assert_int_equal(cpu_model_parse(model, &m, err, sizeof(err)), 0);
	assert_int_equal(cpuid_build(sup, nsup, &m, t, idx, out, OUT_MAX, &n), 0);
	assert_true(n <= OUT_MAX);
	return n;
}

/* ---- Topology parsing ---- */

struct topo_case {
	const char *spec;
	unsigned n, s, c, t;
	const char *err; /* substring of the message, or NULL for success */
};

static const struct topo_case topo_cases[] = {
    {"1", 1, 1, 1, 1, NULL},
    {"4", 4, 4, 1, 1, NULL}, /* prefer sockets */
    {"4,cores=2", 4, 2, 2, 1, NULL},
    {"8,sockets=2,threads=2", 8, 2, 2, 2, NULL},
    {"8,sockets=2,cores=2", 8, 2, 2, 2, NULL},
    {"8,sockets=2", 8, 2, 4, 1, NULL},
    {"sockets=2,cores=3,threads=3", 18, 2, 3, 3, NULL},
    {"cores=4", 4, 1, 4, 1, NULL},
    {"cpus=6,cores=3", 6, 2, 3, 1, NULL},
    {"27,sockets=3,cores=3,threads=3", 27, 3, 3, 3, NULL},
    {"", 0, 0, 0, 0, "empty"},
    {"0", 0, 0, 0, 0, "CPU count '0'"},
    {"abc", 0, 0, 0, 0, "'abc'"},
    {"2000", 0, 0, 0, 0, "1..1024"},
    {"4,cores=3", 0, 0, 0, 0, "does not match the CPU count 4"},
    {"4,sockets=2,cores=2,threads=2", 0, 0, 0, 0, "threads (2) does not match"},
    {"4,sockets=3", 0, 0, 0, 0, "does not match"},
    {"2,cores=4", 0, 0, 0, 0, "sockets (0)"},
    {"4,foo=1", 0, 0, 0, 0, "unknown CPU topology parameter 'foo'"},
    {"4,cores=0", 0, 0, 0, 0, "cores '0'"},
    {"4,cores=x", 0, 0, 0, 0, "cores 'x'"},
    {"4,cores=2,cores=2", 0, 0, 0, 0, "'cores' given twice"},
    {"4,sockets", 0, 0, 0, 0, "'sockets'"},
    {"sockets=64,cores=32,threads=2", 0, 0, 0, 0, "exceeds 1024"},
};

static void test_topology_parse(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(topo_cases); i++) {
		const struct topo_case *c = &topo_cases[i];
		struct cpu_topology t = {99, 99, 99};
		unsigned n = 99;
		char err[160];
		int rc = cpu_topology_parse(c->spec, &n, &t, err, sizeof(err));

		if (!c->err) {
			if (rc)
				fail_msg("'%s': unexpected error: %s", c->spec, err);
			assert_int_equal(n, c->n);
			assert_int_equal(t.sockets, c->s);
			assert_int_equal(t.cores, c->c);
			assert_int_equal(t.threads, c->t);
		} else {
			assert_int_equal(rc, -EINVAL);
			if (!strstr(err, c->err))
				fail_msg("'%s': message '%s' lacks '%s'", c->spec, err, c->err);
			assert_int_equal(n, 99); /* outputs untouched on error */
		}
	}
}

struct apic_case {
	struct cpu_topology t;
	unsigned index;
	uint32_t id;
};

static const struct apic_case apic_cases[] = {
    {{1, 1, 1}, 0, 0}, {{4, 1, 1}, 3, 3},  {{1, 2, 2}, 1, 1},  {{1, 2, 2}, 2, 2},
    {{1, 2, 2}, 3, 3}, {{2, 4, 1}, 4, 4},  {{2, 4, 1}, 7, 7},  {{3, 3, 3}, 2, 2},
    {{3, 3, 3}, 3, 4}, {{3, 3, 3}, 8, 10}, {{3, 3, 3}, 9, 16}, {{3, 3, 3}, 26, 42},
    {{2, 3, 1}, 3, 4}, {{2, 1, 3}, 5, 6},  {{1, 5, 2}, 9, 9},
};

static void test_apic_id(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(apic_cases); i++) {
		const struct apic_case *c = &apic_cases[i];

		if (cpu_topology_apic_id(&c->t, c->index) != c->id)
			fail_msg("%u/%u/%u index %u: got %u want %u", c->t.sockets, c->t.cores,
				 c->t.threads, c->index, cpu_topology_apic_id(&c->t, c->index),
				 c->id);
	}
}

/* ---- Topology decoded as a Linux guest does ---- */

static unsigned count_order(unsigned v)
{
	unsigned n = 0;

	while ((1u << n) < v)
		n++;
	return n;
}

struct guest_view {
	uint32_t apic;
	unsigned pkg, core, thread;
	unsigned smt_shift, pkg_shift, threads_per_core, per_pkg;
};

/* detect_extended_topology(): leaf 0x1F if valid, else 0xB; SMT and Core levels. */
static void decode_ext(const struct kvm_cpuid_entry2 *e, unsigned n, struct guest_view *v)
{
	uint32_t leaf = 0x1f;
	const struct kvm_cpuid_entry2 *l0 = get(e, n, 0, 0);

	assert_non_null(l0);
	assert_true(l0->eax >= 0x1f);
	if (!get(e, n, 0x1f, 0) || get(e, n, 0x1f, 0)->ebx == 0)
		leaf = 0xb;
	memset(v, 0, sizeof(*v));
	for (uint32_t sub = 0;; sub++) {
		const struct kvm_cpuid_entry2 *s = get(e, n, leaf, sub);
		unsigned type;

		assert_non_null(s);
		type = (s->ecx >> 8) & 0xff;
		assert_int_equal(s->ecx & 0xff, sub);
		if (sub == 0)
			v->apic = s->edx;
		assert_int_equal(s->edx, v->apic); /* same x2APIC ID on every level */
		if (type == 0)
			break;
		if (type == 1) {
			v->smt_shift = s->eax & 0x1f;
			v->threads_per_core = s->ebx & 0xffff;
		} else if (type == 2) {
			v->pkg_shift = s->eax & 0x1f;
			v->per_pkg = s->ebx & 0xffff;
		}
		assert_true(sub < 8);
	}
	v->thread = v->apic & ((1u << v->smt_shift) - 1);
	v->core = (v->apic >> v->smt_shift) & ((1u << (v->pkg_shift - v->smt_shift)) - 1);
	v->pkg = v->apic >> v->pkg_shift;
}

static void check_topology(const struct cpu_topology *t)
{
	unsigned total = t->sockets * t->cores * t->threads;
	bool seen[8][8][8] = {{{false}}};

	for (unsigned i = 0; i < total; i++) {
		struct kvm_cpuid_entry2 out[OUT_MAX];
		unsigned n = build(intel_host, ARRAY_SIZE(intel_host), "host", t, i, out);
		const struct kvm_cpuid_entry2 *l1 = get(out, n, 1, 0);
		struct guest_view v;

		decode_ext(out, n, &v);
		assert_int_equal(v.apic, cpu_topology_apic_id(t, i));
		assert_int_equal(v.threads_per_core, t->threads);
		assert_int_equal(v.per_pkg, t->threads * t->cores);
		assert_int_equal(v.smt_shift, count_order(t->threads));
		assert_int_equal(v.pkg_shift, count_order(t->threads) + count_order(t->cores));
		assert_true(v.pkg < t->sockets && v.core < t->cores && v.thread < t->threads);
		assert_false(seen[v.pkg][v.core][v.thread]);
		seen[v.pkg][v.core][v.thread] = true;
		/* The same vCPU in the 0xB leaf gives the same answer. */
		assert_int_equal(get(out, n, 0xb, 0)->edx, v.apic);
		assert_int_equal(get(out, n, 0xb, 1)->eax, v.pkg_shift);

		/* Leaf 1: initial APIC ID, addressable IDs per package, CLFLUSH, HTT. */
		assert_int_equal(l1->ebx >> 24, v.apic & 0xff);
		assert_int_equal(count_order((l1->ebx >> 16) & 0xff), v.pkg_shift);
		assert_int_equal((l1->ebx >> 8) & 0xff, 8);
		assert_int_equal(!!(l1->edx & (1u << 28)), t->threads * t->cores > 1);
		assert_true(l1->ecx & (1u << 31));
		assert_int_equal(l1->eax, 0x000906ea);

		/* Leaf 4: L1/L2 shared by the threads of a core, L3 by the package. */
		for (uint32_t sub = 0; sub < 4; sub++) {
			const struct kvm_cpuid_entry2 *c = get(out, n, 4, sub);
			unsigned level = (c->eax >> 5) & 7;
			unsigned sharing = ((c->eax >> 14) & 0xfff) + 1;
			unsigned cores = (c->eax >> 26) + 1;

			assert_int_equal(c->eax & 0x3fff, intel_host[2 + sub].eax & 0x3fff);
			assert_int_equal(count_order(sharing),
					 level == 3 ? v.pkg_shift : v.smt_shift);
			assert_true(cores >= t->cores);
			assert_int_equal(count_order(cores), v.pkg_shift - v.smt_shift);
		}
		assert_int_equal(get(out, n, 4, 4)->eax, 0);
	}
	/* Every (package, core, thread) exactly once. */
	unsigned distinct = 0;

	for (unsigned p = 0; p < 8; p++)
		for (unsigned c = 0; c < 8; c++)
			for (unsigned th = 0; th < 8; th++)
				distinct += seen[p][c][th];
	assert_int_equal(distinct, total);
}

static void test_topology_1_1_1(void **state)
{
	check_topology(&(struct cpu_topology){1, 1, 1});
}

static void test_topology_1_2_2(void **state)
{
	check_topology(&(struct cpu_topology){1, 2, 2});
}

static void test_topology_2_4_1(void **state)
{
	check_topology(&(struct cpu_topology){2, 4, 1});
}

static void test_topology_3_3_3(void **state)
{
	check_topology(&(struct cpu_topology){3, 3, 3});
}

/* The host's own 0xB entry is replaced, not duplicated (get() asserts uniqueness). */
static void test_leaf_b_replaced(void **state)
{
	struct cpu_topology t = {1, 2, 1};
	struct kvm_cpuid_entry2 out[OUT_MAX];
	unsigned n = build(intel_host, ARRAY_SIZE(intel_host), "host", &t, 1, out), count = 0;

	for (unsigned i = 0; i < n; i++)
		count += out[i].function == 0xb;
	assert_int_equal(count, 3);
	assert_int_equal(get(out, n, 0xb, 0)->edx, 1);
	assert_int_equal(get(out, n, 0xb, 0)->flags, SIG);
	assert_int_equal(get(out, n, 0x1f, 2)->ecx, 2); /* terminating level: type 0 */
}

/* ---- Models ---- */

static uint32_t reg(const struct kvm_cpuid_entry2 *e, unsigned n, const char *flag)
{
	const struct cpu_feature *f = cpu_feature_find(flag);
	const struct kvm_cpuid_entry2 *x;
	uint32_t leaf, sub;
	enum cpu_reg r;

	assert_non_null(f);
	cpu_feat_word_info(f->word, &leaf, &sub, &r);
	x = get(e, n, leaf, sub);
	if (!x)
		return 0; /* a missing leaf reads as zeros (leaf 0xD without XSAVE) */
	switch (r) {
	case CPU_REG_EAX:
		return (x->eax >> f->bit) & 1;
	case CPU_REG_EBX:
		return (x->ebx >> f->bit) & 1;
	case CPU_REG_ECX:
		return (x->ecx >> f->bit) & 1;
	case CPU_REG_EDX:
		return (x->edx >> f->bit) & 1;
	}
	return 0;
}

struct model_case {
	const char *model;
	const char *on[8];
	const char *off[8];
	const char *missing[8];
};

static const struct model_case model_cases[] = {
    {"host",
     {"aes", "avx2", "rdrand", "avx_vnni", "pdpe1gb", "xsaveopt", "rdpid", "hypervisor"},
     {"avx512f", "vmx", "ht"},
     {NULL}},
    {"x86-64-v1",
     {"fpu", "sse2", "cmov", "lm", "nx", "syscall", "x2apic", "hypervisor"},
     {"pni", "ssse3", "popcnt", "lahf_lm", "aes", "avx", "xsaveopt", "pdpe1gb"},
     {NULL}},
    {"x86-64-v2",
     {"pni", "ssse3", "sse4_1", "sse4_2", "popcnt", "cx16", "lahf_lm", "sse2"},
     {"avx", "avx2", "fma", "movbe", "xsave", "abm", "aes", "avx_vnni"},
     {NULL}},
    {"x86-64-v3",
     {"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe"},
     {"aes", "rdrand", "avx512f", "fsgsbase", "smep", "erms", "rdseed", "rdtscp"},
     {NULL}},
    {"x86-64-v4",
     {"avx2", "xsave", "sse4_2"},
     {"avx512f", "avx512bw", "avx512vl"},
     {"avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl"}},
    {"host,-avx2,-aes,-hypervisor", {"avx", "sse4_2"}, {"avx2", "aes", "hypervisor"}, {NULL}},
    {"x86-64-v2,+aes,+rdrand", {"aes", "rdrand", "popcnt"}, {"avx"}, {NULL}},
    {"x86-64-v3,-avx,+avx,-fma", {"avx"}, {"fma"}, {NULL}},
    {"x86-64-v2,+avx512f,+aes", {"aes"}, {"avx512f"}, {"avx512f"}},
    {"host,+vmx,-vmx,+svm", {"aes"}, {"vmx", "svm"}, {"svm"}},
};

static void test_models(void **state)
{
	struct cpu_topology t = {1, 1, 1};

	for (size_t i = 0; i < ARRAY_SIZE(model_cases); i++) {
		const struct model_case *c = &model_cases[i];
		struct kvm_cpuid_entry2 out[OUT_MAX];
		unsigned n = build(intel_host, ARRAY_SIZE(intel_host), c->model, &t, 0, out);
		struct cpu_missing miss;
		struct cpu_model m;
		unsigned want_missing = 0;

		for (unsigned j = 0; j < 8 && c->on[j]; j++)
			if (!reg(out, n, c->on[j]))
				fail_msg("%s: %s should be on", c->model, c->on[j]);
		for (unsigned j = 0; j < 8 && c->off[j]; j++)
			if (reg(out, n, c->off[j]))
				fail_msg("%s: %s should be off", c->model, c->off[j]);
		assert_int_equal(cpu_model_parse(c->model, &m, NULL, 0), 0);
		cpu_model_missing(&m, intel_host, ARRAY_SIZE(intel_host), &miss);
		for (unsigned j = 0; j < 8 && c->missing[j]; j++) {
			bool found = false;

			for (unsigned k = 0; k < miss.n; k++)
				found |= !strcmp(miss.names[k], c->missing[j]);
			if (!found)
				fail_msg("%s: %s should be reported missing", c->model,
					 c->missing[j]);
			want_missing++;
		}
		if (miss.n != want_missing || miss.total != want_missing)
			fail_msg("%s: %u missing reported (first: %s), want %u", c->model, miss.n,
				 miss.n ? miss.names[0] : "-", want_missing);
		/* The KVM paravirt leaves pass through untouched. */
		assert_memory_equal(get(out, n, 0x40000000, 0), &intel_host[13],
				    sizeof(intel_host[13]));
		assert_memory_equal(get(out, n, 0x40000001, 0), &intel_host[14],
				    sizeof(intel_host[14]));
	}
}

/* XSAVE: without AVX the YMM component disappears and the maximum size shrinks; without
 * XSAVE the leaf goes. */
static void test_xsave_trim(void **state)
{
	struct cpu_topology t = {1, 1, 1};
	struct kvm_cpuid_entry2 out[OUT_MAX];
	unsigned n;

	n = build(intel_host, ARRAY_SIZE(intel_host), "host", &t, 0, out);
	assert_int_equal(get(out, n, 0xd, 0)->eax, 7);
	assert_int_equal(get(out, n, 0xd, 0)->ecx, 0x340);
	assert_int_equal(get(out, n, 0xd, 2)->eax, 256);
	n = build(intel_host, ARRAY_SIZE(intel_host), "host,-avx", &t, 0, out);
	assert_int_equal(get(out, n, 0xd, 0)->eax, 3);
	assert_int_equal(get(out, n, 0xd, 0)->ecx, 576);
	assert_int_equal(get(out, n, 0xd, 2)->eax, 0);
	/* x86-64-v2 has no XSAVE: no leaf 0xD at all (test_cpuid_xsave.c checks more). */
	n = build(intel_host, ARRAY_SIZE(intel_host), "x86-64-v2", &t, 0, out);
	assert_null(get(out, n, 0xd, 0));
	assert_null(get(out, n, 0xd, 1));
	assert_null(get(out, n, 0xd, 2));
}

static void test_model_errors(void **state)
{
	static const struct {
		const char *spec, *msg;
	} cases[] = {
	    {"x86-64-v3,+foo", "unknown CPU feature 'foo'"},  {"host,-sse5", "'sse5'"},
	    {"pentium", "unknown CPU model 'pentium'"},	      {"", "unknown CPU model ''"},
	    {"host,avx", "'avx' must start with '+' or '-'"}, {"x86-64-v5", "'x86-64-v5'"},
	};
	struct cpu_model m;
	char err[160];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		assert_int_equal(cpu_model_parse(cases[i].spec, &m, err, sizeof(err)), -EINVAL);
		if (!strstr(err, cases[i].msg))
			fail_msg("'%s': message '%s' lacks '%s'", cases[i].spec, err, cases[i].msg);
	}
	/* A truncated message buffer stays NUL-terminated. */
	assert_int_equal(cpu_model_parse("pentium", &m, err, 8), -EINVAL);
	assert_int_equal(strlen(err), 7);
}

static void test_build_errors(void **state)
{
	struct kvm_cpuid_entry2 out[OUT_MAX];
	struct cpu_model m;
	unsigned n = 0;

	assert_int_equal(cpu_model_parse("host", &m, NULL, 0), 0);
	assert_int_equal(cpuid_build(intel_host, ARRAY_SIZE(intel_host), &m,
				     &(struct cpu_topology){1, 2, 2}, 4, out, OUT_MAX, &n),
			 -EINVAL);
	assert_int_equal(cpuid_build(intel_host, ARRAY_SIZE(intel_host), &m,
				     &(struct cpu_topology){0, 2, 2}, 0, out, OUT_MAX, &n),
			 -EINVAL);
	/* Room for the copied entries but not the six topology ones; then too little for the
	 * copy itself. */
	assert_int_equal(cpuid_build(intel_host, ARRAY_SIZE(intel_host), &m,
				     &(struct cpu_topology){1, 1, 1}, 0, out,
				     ARRAY_SIZE(intel_host) - 1 + 5, &n),
			 -E2BIG);
	assert_int_equal(cpuid_build(intel_host, ARRAY_SIZE(intel_host), &m,
				     &(struct cpu_topology){1, 1, 1}, 0, out, 3, &n),
			 -E2BIG);
	assert_int_equal(cpuid_build(intel_host, ARRAY_SIZE(intel_host), &m,
				     &(struct cpu_topology){1, 1, 1}, 0, out,
				     ARRAY_SIZE(intel_host) - 1 + 6, &n),
			 0);
	assert_int_equal(n, ARRAY_SIZE(intel_host) - 1 + 6);
}

/* AMD: 0x80000008 ECX (NC, ApicIdCoreIdSize) and 0x8000001E follow the topology. */
static void test_amd(void **state)
{
	struct cpu_topology t = {2, 3, 2};

	for (unsigned i = 0; i < 12; i++) {
		struct kvm_cpuid_entry2 out[OUT_MAX];
		unsigned n = build(amd_host, ARRAY_SIZE(amd_host), "host", &t, i, out);
		const struct kvm_cpuid_entry2 *e8 = get(out, n, 0x80000008, 0);
		const struct kvm_cpuid_entry2 *e1e = get(out, n, 0x8000001e, 0);
		struct guest_view v;

		decode_ext(out, n, &v);
		assert_int_equal(e8->ecx & 0xff, 6 - 1);
		assert_int_equal((e8->ecx >> 12) & 0xf, 1 + 2);
		assert_int_equal(e8->eax, 0x3030);
		assert_int_equal(e1e->eax, v.apic);
		assert_int_equal(((e1e->ebx >> 8) & 0xff) + 1, 2); /* threads per compute unit */
		assert_int_equal(e1e->ebx & 0xff, (i / 2) % 3);	   /* core within the socket */
		assert_int_equal(e1e->ecx & 0xff, i / 6);	   /* node = socket */
		assert_int_equal(v.core, (i / 2) % 3);
		assert_int_equal(v.pkg, i / 6);
	}
	/* Without topoext the 0x8000001E leaf is cleared. */
	struct kvm_cpuid_entry2 out[OUT_MAX];
	unsigned n = build(amd_host, ARRAY_SIZE(amd_host), "host,-topoext", &t, 1, out);

	assert_int_equal(get(out, n, 0x8000001e, 0)->ebx, 0);
}

/* Large packages: fields saturate instead of spilling into their neighbours. */
static void test_large_topology(void **state)
{
	struct cpu_topology t = {1, 128, 2};
	struct kvm_cpuid_entry2 out[OUT_MAX];
	unsigned n = build(intel_host, ARRAY_SIZE(intel_host), "host", &t, 255, out);
	const struct kvm_cpuid_entry2 *l1d = get(out, n, 4, 0), *l3 = get(out, n, 4, 3);
	struct guest_view v;

	decode_ext(out, n, &v);
	assert_int_equal(v.apic, 255);
	assert_int_equal(v.pkg_shift, 8);
	assert_int_equal(v.per_pkg, 256);
	assert_int_equal(get(out, n, 1, 0)->ebx >> 16 & 0xff, 255); /* 256 capped */
	assert_int_equal(l1d->eax & 0x3fff, intel_host[2].eax & 0x3fff);
	assert_int_equal((l1d->eax >> 14) & 0xfff, 1);
	assert_int_equal(l1d->eax >> 26, 63); /* 128 addressable cores: saturated */
	assert_int_equal(l3->eax & 0x3fff, intel_host[5].eax & 0x3fff);
	assert_int_equal((l3->eax >> 14) & 0xfff, 255);
}

static void test_feature_table(void **state)
{
	/* Names resolve to the documented bits; unnamed bits have no name. */
	const struct cpu_feature *f = cpu_feature_find("sse4_2");

	assert_non_null(f);
	assert_int_equal(f->word, CPU_FW_1_ECX);
	assert_int_equal(f->bit, 20);
	f = cpu_feature_find("lm");
	assert_int_equal(f->word, CPU_FW_8000_0001_EDX);
	assert_int_equal(f->bit, 29);
	f = cpu_feature_find("avx512vl");
	assert_int_equal(f->word, CPU_FW_7_0_EBX);
	assert_int_equal(f->bit, 31);
	f = cpu_feature_find("xsaves");
	assert_int_equal(f->word, CPU_FW_D_1_EAX);
	assert_int_equal(f->bit, 3);
	assert_null(cpu_feature_find("sse5"));
	assert_null(cpu_feature_find(""));
	assert_string_equal(cpu_feature_name(CPU_FW_7_0_ECX, 22), "rdpid");
	assert_null(cpu_feature_name(CPU_FW_1_ECX, 27)); /* OSXSAVE: no cpuinfo name */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_topology_parse),  cmocka_unit_test(test_apic_id),
	    cmocka_unit_test(test_topology_1_1_1),  cmocka_unit_test(test_topology_1_2_2),
	    cmocka_unit_test(test_topology_2_4_1),  cmocka_unit_test(test_topology_3_3_3),
	    cmocka_unit_test(test_leaf_b_replaced), cmocka_unit_test(test_models),
	    cmocka_unit_test(test_xsave_trim),	    cmocka_unit_test(test_model_errors),
	    cmocka_unit_test(test_build_errors),    cmocka_unit_test(test_amd),
	    cmocka_unit_test(test_feature_table),   cmocka_unit_test(test_large_topology),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
