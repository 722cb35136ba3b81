/* arch/x86/cpuid.c — see cpuid.h. Leaf layouts follow the Intel SDM vol. 2A (CPUID) and the
 * AMD APM vol. 3 (E.4). */
#include "arch/x86/cpuid.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/compiler.h"

#define CPUID_SPEC_MAX 256

static void set_err(char *err, size_t errlen, const char *fmt, ...) KVMM_PRINTF(3, 4);

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- Topology ---- */

static unsigned ceil_log2(unsigned v)
{
	unsigned n = 0;

	while ((1u << n) < v)
		n++;
	return n;
}

unsigned cpu_topology_smt_shift(const struct cpu_topology *t)
{
	return ceil_log2(t->threads);
}

unsigned cpu_topology_pkg_shift(const struct cpu_topology *t)
{
	return ceil_log2(t->threads) + ceil_log2(t->cores);
}

uint32_t cpu_topology_apic_id(const struct cpu_topology *t, unsigned index)
{
	unsigned thread = index % t->threads;
	unsigned core = (index / t->threads) % t->cores;
	unsigned socket = index / (t->threads * t->cores);

	return ((uint32_t)socket << cpu_topology_pkg_shift(t)) |
	       ((uint32_t)core << cpu_topology_smt_shift(t)) | thread;
}

/* A decimal number in [1, CPU_TOPOLOGY_MAX_CPUS]; -EINVAL otherwise. */
static int parse_count(const char *s, unsigned *out)
{
	unsigned long v = 0;

	if (*s == '\0')
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > CPU_TOPOLOGY_MAX_CPUS)
			return -EINVAL;
	}
	if (v == 0)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

/* Fill the fields that were not given (0), preferring sockets, as QEMU's smp_parse does. */
static int topology_complete(unsigned *n, struct cpu_topology *t, char *err, size_t errlen)
{
	unsigned s = t->sockets, c = t->cores, th = t->threads;

	if (*n == 0) {
		s = s ? s : 1;
		c = c ? c : 1;
		th = th ? th : 1;
		*n = s * c * th;
		if (*n > CPU_TOPOLOGY_MAX_CPUS) {
			set_err(err, errlen,
				"sockets (%u) * cores (%u) * threads (%u) exceeds %u CPUs", s, c,
				th, CPU_TOPOLOGY_MAX_CPUS);
			return -EINVAL;
		}
	} else if (s == 0) {
		c = c ? c : 1;
		th = th ? th : 1;
		s = *n / (c * th);
	} else if (c == 0) {
		th = th ? th : 1;
		c = *n / (s * th);
	} else if (th == 0) {
		th = *n / (s * c);
	}
	if (s == 0 || c == 0 || th == 0 || (unsigned long)s * c * th != *n) {
		set_err(err, errlen,
			"sockets (%u) * cores (%u) * threads (%u) does not match the CPU count %u",
			s, c, th, *n);
		return -EINVAL;
	}
	t->sockets = s;
	t->cores = c;
	t->threads = th;
	return 0;
}

int cpu_topology_parse(const char *spec, unsigned *ncpus, struct cpu_topology *t, char *err,
		       size_t errlen)
{
	char buf[CPUID_SPEC_MAX], *save = NULL, *tok;
	struct cpu_topology r = {0, 0, 0};
	unsigned n = 0;
	bool first = true;

	set_err(err, errlen, "%s", "");
	if (strlen(spec) >= sizeof(buf)) {
		set_err(err, errlen, "CPU topology specification too long");
		return -EINVAL;
	}
	strcpy(buf, spec);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save), first = false) {
		char *eq = strchr(tok, '=');
		unsigned *field = NULL;

		if (!eq && first) {
			if (parse_count(tok, &n)) {
				set_err(err, errlen, "CPU count '%s' is not a number in 1..%u", tok,
					CPU_TOPOLOGY_MAX_CPUS);
				return -EINVAL;
			}
			continue;
		}
		if (eq) {
			*eq = '\0';
			if (!strcmp(tok, "sockets"))
				field = &r.sockets;
			else if (!strcmp(tok, "cores"))
				field = &r.cores;
			else if (!strcmp(tok, "threads"))
				field = &r.threads;
			else if (!strcmp(tok, "cpus"))
				field = &n;
		}
		if (!field) {
			set_err(err, errlen, "unknown CPU topology parameter '%s'", tok);
			return -EINVAL;
		}
		if (*field) {
			set_err(err, errlen, "'%s' given twice", tok);
			return -EINVAL;
		}
		if (parse_count(eq + 1, field)) {
			set_err(err, errlen, "%s '%s' is not a number in 1..%u", tok, eq + 1,
				CPU_TOPOLOGY_MAX_CPUS);
			return -EINVAL;
		}
	}
	if (n == 0 && !r.sockets && !r.cores && !r.threads) {
		set_err(err, errlen, "empty CPU topology specification");
		return -EINVAL;
	}
	if (topology_complete(&n, &r, err, errlen))
		return -EINVAL;
	*ncpus = n;
	*t = r;
	return 0;
}

static bool topology_valid(const struct cpu_topology *t)
{
	unsigned long n;

	if (!t->sockets || !t->cores || !t->threads)
		return false;
	n = (unsigned long)t->sockets * t->cores * t->threads;
	return t->sockets <= CPU_TOPOLOGY_MAX_CPUS && t->cores <= CPU_TOPOLOGY_MAX_CPUS &&
	       t->threads <= CPU_TOPOLOGY_MAX_CPUS && n <= CPU_TOPOLOGY_MAX_CPUS;
}

/* ---- Models ---- */

/* The x86-64 psABI levels; each level includes the previous ones. Level 1 also lists the
 * architectural baseline every x86-64 CPU has, and x2apic (KVM always emulates it). */
static const char *const cpu_level_flags[4][32] = {
    {"fpu",  "vme",  "de",   "pse",  "tsc",	"msr",	"pae", "mce",	 "cx8",
     "apic", "sep",  "mtrr", "pge",  "mca",	"cmov", "pat", "pse36",	 "clflush",
     "mmx",  "fxsr", "sse",  "sse2", "syscall", "nx",	"lm",  "x2apic", "hypervisor"},
    {"pni", "ssse3", "sse4_1", "sse4_2", "popcnt", "cx16", "lahf_lm"},
    {"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"},
    {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"},
};

static const char *const cpu_level_names[4] = {"x86-64-v1", "x86-64-v2", "x86-64-v3", "x86-64-v4"};

static int model_base(const char *name, struct cpu_model *m)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->name, sizeof(m->name), "%s", name);
	if (!strcmp(name, "host")) {
		m->host = true;
		memset(m->want, 0xff, sizeof(m->want));
		return 0;
	}
	for (unsigned lvl = 0; lvl < ARRAY_SIZE(cpu_level_names); lvl++) {
		if (strcmp(name, cpu_level_names[lvl]))
			continue;
		for (unsigned l = 0; l <= lvl; l++) {
			for (unsigned i = 0; i < 32 && cpu_level_flags[l][i]; i++) {
				const struct cpu_feature *f =
				    cpu_feature_find(cpu_level_flags[l][i]);

				BUG_ON(!f); /* the level tables only name known flags */
				m->want[f->word] |= 1u << f->bit;
			}
		}
		return 0;
	}
	return -ENOENT;
}

int cpu_model_parse(const char *spec, struct cpu_model *out, char *err, size_t errlen)
{
	char buf[CPUID_SPEC_MAX], *save = NULL, *tok;
	struct cpu_model m;

	set_err(err, errlen, "%s", "");
	if (strlen(spec) >= sizeof(buf)) {
		set_err(err, errlen, "CPU model specification too long");
		return -EINVAL;
	}
	strcpy(buf, spec);
	tok = strtok_r(buf, ",", &save);
	if (!tok || model_base(tok, &m)) {
		set_err(err, errlen,
			"unknown CPU model '%s' (known: host, x86-64-v1, x86-64-v2, x86-64-v3, "
			"x86-64-v4)",
			tok ? tok : "");
		return -EINVAL;
	}
	while ((tok = strtok_r(NULL, ",", &save))) {
		const struct cpu_feature *f;
		uint32_t bit;

		if (tok[0] != '+' && tok[0] != '-') {
			set_err(err, errlen, "CPU feature '%s' must start with '+' or '-'", tok);
			return -EINVAL;
		}
		f = cpu_feature_find(tok + 1);
		if (!f) {
			set_err(err, errlen, "unknown CPU feature '%s'", tok + 1);
			return -EINVAL;
		}
		bit = 1u << f->bit;
		if (tok[0] == '+') {
			m.want[f->word] |= bit;
			m.plus[f->word] |= bit;
			m.minus[f->word] &= ~bit;
		} else {
			if (!m.host)
				m.want[f->word] &= ~bit;
			m.plus[f->word] &= ~bit;
			m.minus[f->word] |= bit;
		}
	}
	*out = m;
	return 0;
}

/* ---- CPUID entries ---- */

static const struct kvm_cpuid_entry2 *find_const(const struct kvm_cpuid_entry2 *e, unsigned n,
						 uint32_t fn, uint32_t idx)
{
	for (unsigned i = 0; i < n; i++)
		if (e[i].function == fn && e[i].index == idx)
			return &e[i];
	return NULL;
}

struct kvm_cpuid_entry2 *cpuid_entry_find(struct kvm_cpuid_entry2 *e, unsigned n, uint32_t fn,
					  uint32_t idx)
{
	for (unsigned i = 0; i < n; i++)
		if (e[i].function == fn && e[i].index == idx)
			return &e[i];
	return NULL;
}

static uint32_t *reg_of(struct kvm_cpuid_entry2 *e, enum cpu_reg r)
{
	switch (r) {
	case CPU_REG_EAX:
		return &e->eax;
	case CPU_REG_EBX:
		return &e->ebx;
	case CPU_REG_ECX:
		return &e->ecx;
	case CPU_REG_EDX:
		return &e->edx;
	}
	return &e->eax;
}

uint32_t *cpuid_feature_reg(struct kvm_cpuid_entry2 *e, unsigned n, const struct cpu_feature *f,
			    uint32_t *bit)
{
	uint32_t leaf, sub;
	enum cpu_reg reg;

	cpu_feat_word_info(f->word, &leaf, &sub, &reg);
	*bit = 1u << f->bit;
	e = cpuid_entry_find(e, n, leaf, sub);
	return e ? reg_of(e, reg) : NULL;
}

static uint32_t reg_val(const struct kvm_cpuid_entry2 *e, enum cpu_reg r)
{
	switch (r) {
	case CPU_REG_EAX:
		return e->eax;
	case CPU_REG_EBX:
		return e->ebx;
	case CPU_REG_ECX:
		return e->ecx;
	case CPU_REG_EDX:
		return e->edx;
	}
	return 0;
}

static uint32_t model_allowed(const struct cpu_model *m, enum cpu_feat_word w)
{
	return (m->host ? ~0u : m->want[w]) & ~m->minus[w];
}

void cpu_model_missing(const struct cpu_model *model, const struct kvm_cpuid_entry2 *supported,
		       unsigned nsup, struct cpu_missing *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned w = 0; w < CPU_FW_NR; w++) {
		uint32_t leaf, sub, asked, have = 0;
		enum cpu_reg reg;
		const struct kvm_cpuid_entry2 *e;

		cpu_feat_word_info(w, &leaf, &sub, &reg);
		e = find_const(supported, nsup, leaf, sub);
		if (e)
			have = reg_val(e, reg);
		asked = (model->host ? model->plus[w] : model->want[w]) & ~model->minus[w];
		if (w == CPU_FW_1_ECX)
			asked &= ~(1u << 31); /* hypervisor: kvmm sets it itself */
		for (unsigned bit = 0; bit < 32; bit++) {
			if (!(asked & (1u << bit)) || (have & (1u << bit)))
				continue;
			out->total++;
			if (out->n < CPU_MISSING_MAX && cpu_feature_name(w, bit))
				out->names[out->n++] = cpu_feature_name(w, bit);
		}
	}
}

static void apply_model(struct kvm_cpuid_entry2 *out, unsigned n, const struct cpu_model *m)
{
	for (unsigned w = 0; w < CPU_FW_NR; w++) {
		uint32_t leaf, sub;
		enum cpu_reg reg;
		struct kvm_cpuid_entry2 *e;

		cpu_feat_word_info(w, &leaf, &sub, &reg);
		e = cpuid_entry_find(out, n, leaf, sub);
		if (e)
			*reg_of(e, reg) &= model_allowed(m, w);
	}
}

static bool feat_on(struct kvm_cpuid_entry2 *out, unsigned n, const char *name)
{
	const struct cpu_feature *f = cpu_feature_find(name);
	uint32_t bit, *r;

	BUG_ON(!f);
	r = cpuid_feature_reg(out, n, f, &bit);
	return r && (*r & bit);
}

struct topo_ids {
	uint32_t apic_id;
	unsigned smt_shift, pkg_shift;
	unsigned per_pkg; /* logical processors per package */
	unsigned core, socket;
};

static void fix_leaf1(struct kvm_cpuid_entry2 *out, unsigned n, const struct cpu_model *m,
		      const struct topo_ids *id)
{
	struct kvm_cpuid_entry2 *e = cpuid_entry_find(out, n, 1, 0);
	uint32_t addressable = 1u << id->pkg_shift;

	if (!e)
		return;
	e->ebx = ((id->apic_id & 0xff) << 24) | (KVMM_MIN(addressable, 255u) << 16) | (8u << 8);
	if (id->per_pkg > 1)
		e->edx |= 1u << 28; /* HTT: more than one logical processor per package */
	else
		e->edx &= ~(1u << 28);
	if (!(m->minus[CPU_FW_1_ECX] & (1u << 31)))
		e->ecx |= 1u << 31; /* hypervisor */
}

static void fix_leaf4(struct kvm_cpuid_entry2 *out, unsigned n, const struct topo_ids *id)
{
	for (unsigned i = 0; i < n; i++) {
		struct kvm_cpuid_entry2 *e = &out[i];
		unsigned level = (e->eax >> 5) & 7, share;

		if (e->function != 4 || (e->eax & 0x1f) == 0)
			continue;
		share = level >= 3 ? id->pkg_shift : id->smt_shift;
		e->eax &= 0x3fff;
		e->eax |= KVMM_MIN((1u << (id->pkg_shift - id->smt_shift)) - 1, 0x3fu) << 26;
		e->eax |= KVMM_MIN((1u << share) - 1, 0xfffu) << 14;
	}
}

/* Leaf 0xB or 0x1F: SMT, Core, then the terminating invalid level. */
static void make_ext_topology(struct kvm_cpuid_entry2 *e, uint32_t fn, const struct cpu_topology *t,
			      const struct topo_ids *id)
{
	for (uint32_t sub = 0; sub < 3; sub++) {
		memset(&e[sub], 0, sizeof(e[sub]));
		e[sub].function = fn;
		e[sub].index = sub;
		e[sub].flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
		e[sub].edx = id->apic_id;
		e[sub].ecx = sub;
	}
	e[0].eax = id->smt_shift;
	e[0].ebx = t->threads;
	e[0].ecx |= 1u << 8; /* level type SMT */
	e[1].eax = id->pkg_shift;
	e[1].ebx = t->threads * t->cores;
	e[1].ecx |= 2u << 8; /* level type Core */
}

static void fix_amd(struct kvm_cpuid_entry2 *out, unsigned n, const struct cpu_topology *t,
		    const struct topo_ids *id)
{
	struct kvm_cpuid_entry2 *e = cpuid_entry_find(out, n, 0x80000008, 0);

	if (e) {
		e->ecx &= ~0xf0ffu;
		e->ecx |= KVMM_MIN(id->per_pkg - 1, 0xffu);
		e->ecx |= (id->pkg_shift & 0xf) << 12;
	}
	e = cpuid_entry_find(out, n, 0x8000001e, 0);
	if (e) {
		e->eax = id->apic_id;
		e->ebx = ((t->threads - 1) << 8) | (id->core & 0xff);
		e->ecx = id->socket & 0xff; /* node ID; one node per package */
		e->edx = 0;
	}
}

int cpuid_build(const struct kvm_cpuid_entry2 *supported, unsigned nsup,
		const struct cpu_model *model, const struct cpu_topology *topo, unsigned vcpu_index,
		struct kvm_cpuid_entry2 *out, unsigned max, unsigned *nout)
{
	struct topo_ids id;
	struct kvm_cpuid_entry2 *l0;
	unsigned n = 0;

	if (!topology_valid(topo) || vcpu_index >= topo->sockets * topo->cores * topo->threads)
		return -EINVAL;
	id.apic_id = cpu_topology_apic_id(topo, vcpu_index);
	id.smt_shift = cpu_topology_smt_shift(topo);
	id.pkg_shift = cpu_topology_pkg_shift(topo);
	id.per_pkg = topo->cores * topo->threads;
	id.core = (vcpu_index / topo->threads) % topo->cores;
	id.socket = vcpu_index / id.per_pkg;

	for (unsigned i = 0; i < nsup; i++) {
		if (supported[i].function == 0xb || supported[i].function == 0x1f)
			continue;
		if (n >= max)
			return -E2BIG;
		out[n++] = supported[i];
	}
	if (max - n < 6)
		return -E2BIG;
	apply_model(out, n, model);
	n = cpuid_fix_xsave(out, n);
	fix_leaf1(out, n, model, &id);
	fix_leaf4(out, n, &id);
	fix_amd(out, n, topo, &id);
	if (!feat_on(out, n, "topoext")) {
		struct kvm_cpuid_entry2 *e = cpuid_entry_find(out, n, 0x8000001e, 0);

		if (e)
			e->eax = e->ebx = e->ecx = e->edx = 0;
	}
	make_ext_topology(&out[n], 0xb, topo, &id);
	make_ext_topology(&out[n + 3], 0x1f, topo, &id);
	n += 6;
	l0 = cpuid_entry_find(out, n, 0, 0);
	if (l0 && l0->eax < 0x1f)
		l0->eax = 0x1f;
	*nout = n;
	return 0;
}
