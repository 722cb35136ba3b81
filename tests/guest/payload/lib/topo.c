/* tests/guest/payload/lib/topo.c — CPU topology from CPUID leaves 0x1, 0x4, 0xB and 0x1F. */
#include "payload.h"

/* Walk an extended topology leaf (0xB or 0x1F): SMT and core levels. */
static bool ext_topo(uint32_t leaf, uint32_t *threads, uint32_t *lpp, uint32_t *smt_shift,
		     uint32_t *core_shift, uint32_t *x2apic)
{
	uint32_t r[4];
	bool any = false;

	*threads = 1;
	*lpp = 0;
	*smt_shift = 0;
	*core_shift = 0;
	for (uint32_t sub = 0; sub < 8; sub++) {
		uint32_t type;

		cpuid(leaf, sub, r);
		type = (r[2] >> 8) & 0xff;
		if (type == 0 || (r[1] & 0xffff) == 0)
			break;
		any = true;
		*x2apic = r[3];
		if (type == 1) { /* SMT */
			*threads = r[1] & 0xffff;
			*smt_shift = r[0] & 0x1f;
		} else if (type == 2) { /* core */
			*lpp = r[1] & 0xffff;
			*core_shift = r[0] & 0x1f;
		}
	}
	if (any && !*lpp) {
		*lpp = *threads;
		*core_shift = *smt_shift;
	}
	return any;
}

void cpu_topo_read(struct cpu_topo *t)
{
	uint32_t r[4], max, lpp = 0, smt_shift = 0, core_shift = 0;

	memset(t, 0, sizeof(*t));
	cpuid(0, 0, r);
	max = r[0];
	cpuid(1, 0, r);
	t->apic_id = r[1] >> 24;
	t->leaf1_logical = (r[3] & (1u << 28)) ? (r[1] >> 16) & 0xff : 1;
	if (max >= 4) {
		cpuid(4, 0, r);
		t->leaf4_cores = (r[0] & 0x1f) ? (r[0] >> 26) + 1 : 0; /* 0: no leaf 4 (AMD) */
	}
	if (max >= 0xb)
		t->has_0b = ext_topo(0xb, &t->threads, &lpp, &smt_shift, &core_shift, &t->apic_id);
	if (t->has_0b) {
		t->cores = t->threads ? lpp / t->threads : 0;
	} else {
		/* Legacy: leaf 1 logical count, leaf 4 core count. */
		t->cores = t->leaf4_cores ? t->leaf4_cores : 1;
		t->threads = t->leaf1_logical / t->cores ? t->leaf1_logical / t->cores : 1;
		for (smt_shift = 0; (1u << smt_shift) < t->threads; smt_shift++)
			;
		for (core_shift = smt_shift; (1u << (core_shift - smt_shift)) < t->cores;
		     core_shift++)
			;
	}
	t->smt_id = t->apic_id & ((1u << smt_shift) - 1);
	t->core_id = (t->apic_id >> smt_shift) & ((1u << (core_shift - smt_shift)) - 1);
	t->pkg_id = t->apic_id >> core_shift;
	if (max >= 0x1f) {
		uint32_t th, l, s, c, id;

		t->has_1f = ext_topo(0x1f, &th, &l, &s, &c, &id);
		if (t->has_1f) {
			t->threads_1f = th;
			t->cores_1f = th ? l / th : 0;
		}
	}
}
