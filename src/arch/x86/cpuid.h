/* arch/x86/cpuid.h — CPU topology, CPU models and the CPUID table each vCPU gets.
 *
 * Everything here is a pure function on caller memory (struct kvm_cpuid_entry2 arrays as
 * KVM_GET_SUPPORTED_CPUID returns them and KVM_SET_CPUID2 takes them), so it is tested without
 * /dev/kvm. Any thread.
 *
 * Topology: `N[,sockets=S,cores=C,threads=T]` (cores per socket, threads per core). APIC IDs
 * are packed x2APIC-style: thread in the low ceil(log2(T)) bits, then the core in
 * ceil(log2(C)) bits, then the socket, so IDs are sparse when C or T is not a power of two.
 *
 * Models: `host` passes through everything KVM supports; `x86-64-v1`..`x86-64-v4` are the
 * psABI micro-architecture levels (as QEMU names them), each a mask of allowed feature bits.
 * `+flag`/`-flag` use Linux /proc/cpuinfo flag names. See docs/platform.md. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

#include "base/compiler.h"

/* ---- Topology ---- */

#define CPU_TOPOLOGY_MAX_CPUS 1024

struct cpu_topology {
	unsigned sockets, cores, threads; /* cores per socket, threads per core */
};

/* Parse `N[,sockets=S,cores=C,threads=T]` (N may be omitted when S/C/T are given). Missing
 * fields are computed as QEMU does, preferring sockets: threads and cores default to 1 and
 * sockets absorbs the rest; if sockets is given, cores absorbs the rest, then threads. S*C*T must
 * equal N, and 1 <= N <= CPU_TOPOLOGY_MAX_CPUS. 0 or -EINVAL with a message naming the problem
 * in err[0, errlen) (always NUL-terminated when errlen > 0). */
int cpu_topology_parse(const char *spec, unsigned *ncpus, struct cpu_topology *t, char *err,
		       size_t errlen) KVMM_MUST_CHECK;

/* Bits of the APIC ID used by the thread and core levels: ceil(log2(threads)), and that plus
 * ceil(log2(cores)) (the shift of the package ID). */
unsigned cpu_topology_smt_shift(const struct cpu_topology *t);
unsigned cpu_topology_pkg_shift(const struct cpu_topology *t);

/* The (x2)APIC ID of vCPU `index` (0-based, threads of a core first, then cores, then
 * sockets). index must be below sockets * cores * threads. */
uint32_t cpu_topology_apic_id(const struct cpu_topology *t, unsigned index);

/* ---- Features ---- */

/* The feature words a model can mask; each is one CPUID register of one leaf/subleaf. */
enum cpu_feat_word {
	CPU_FW_1_ECX,
	CPU_FW_1_EDX,
	CPU_FW_7_0_EBX,
	CPU_FW_7_0_ECX,
	CPU_FW_7_0_EDX,
	CPU_FW_7_1_EAX,
	CPU_FW_8000_0001_ECX,
	CPU_FW_8000_0001_EDX,
	CPU_FW_D_1_EAX,
	CPU_FW_NR
};

enum cpu_reg { CPU_REG_EAX, CPU_REG_EBX, CPU_REG_ECX, CPU_REG_EDX };

struct cpu_feature {
	const char *name; /* Linux /proc/cpuinfo flag name */
	enum cpu_feat_word word;
	uint8_t bit;
};

/* Leaf, subleaf and register of a feature word. */
void cpu_feat_word_info(enum cpu_feat_word w, uint32_t *leaf, uint32_t *subleaf, enum cpu_reg *reg);

/* Look a flag up by its /proc/cpuinfo name; NULL if unknown. */
const struct cpu_feature *cpu_feature_find(const char *name);
/* Name of a feature bit, or NULL if it has none in the table. */
const char *cpu_feature_name(enum cpu_feat_word w, unsigned bit);

/* ---- Models ---- */

struct cpu_model {
	char name[24];
	bool host;		   /* pass through everything the host supports */
	uint32_t want[CPU_FW_NR];  /* bits the model asks for (all ones for host) */
	uint32_t plus[CPU_FW_NR];  /* +flag requests (reported if the host lacks them) */
	uint32_t minus[CPU_FW_NR]; /* -flag: always off */
};

/* Parse `MODEL[,+flag,-flag...]`; the last mention of a flag wins. -EINVAL with the unknown
 * model or flag named in err (NUL-terminated when errlen > 0). */
int cpu_model_parse(const char *spec, struct cpu_model *out, char *err,
		    size_t errlen) KVMM_MUST_CHECK;

#define CPU_MISSING_MAX 64

struct cpu_missing {
	unsigned n;			    /* names stored (at most CPU_MISSING_MAX) */
	unsigned total;			    /* features missing, including unnamed bits */
	const char *names[CPU_MISSING_MAX]; /* static strings from the flag table */
};

/* The features the model asks for that the host does not support (they stay off in
 * cpuid_build()); the caller warns about them, as QEMU does. */
void cpu_model_missing(const struct cpu_model *model, const struct kvm_cpuid_entry2 *supported,
		       unsigned nsup, struct cpu_missing *out);

/* ---- CPUID table ---- */

/* Build vCPU vcpu_index's CPUID table from the host's supported list:
 *  - feature words masked by the model; leaf 1 ECX.HYPERVISOR set;
 *  - leaf 1 EBX: APIC ID [31:24], addressable logical IDs per package [23:16], CLFLUSH line
 *    size 64; EDX.HTT when a package has more than one logical processor;
 *  - leaf 4: EAX[31:26] = addressable core IDs per package - 1, EAX[25:14] = addressable
 *    logical IDs sharing the cache - 1 (a core for L1/L2, the package for L3);
 *  - leaves 0xB and 0x1F: SMT and Core levels with shifts, counts and the x2APIC ID (created
 *    when the host omits them; leaf 0 EAX raised to 0x1F if needed);
 *  - AMD 0x80000008 ECX and 0x8000001E made consistent with the topology;
 *  - XSAVE leaf 0xD made consistent with the remaining features (cpuid_fix_xsave());
 *  - everything else, including the KVM leaves 0x40000000/0x40000001, copied.
 * -EINVAL for a bad topology or vcpu_index outside it, -E2BIG if out[max] is too small. */
int cpuid_build(const struct kvm_cpuid_entry2 *supported, unsigned nsup,
		const struct cpu_model *model, const struct cpu_topology *topo, unsigned vcpu_index,
		struct kvm_cpuid_entry2 *out, unsigned max, unsigned *nout) KVMM_MUST_CHECK;

/* The entry (fn, idx) of table e[0, n), or NULL. */
struct kvm_cpuid_entry2 *cpuid_entry_find(struct kvm_cpuid_entry2 *e, unsigned n, uint32_t fn,
					  uint32_t idx);
/* The register of table e[0, n) holding feature f, with f's mask in *bit; NULL when the table
 * has no entry for f's leaf. */
uint32_t *cpuid_feature_reg(struct kvm_cpuid_entry2 *e, unsigned n, const struct cpu_feature *f,
			    uint32_t *bit);

/* Make leaf 0xD of table e[0, n) consistent with its feature flags (called by cpuid_build()
 * after the model's masks; see docs/platform.md "XSAVE"):
 *  - CPUID.1:ECX.XSAVE off (or no x87/SSE in 0xD.0): the 0xD entries removed (KVM would
 *    rewrite 0xD.0 EBX; a missing sub-leaf reads as zeros) and XSAVE cleared;
 *  - a user component (0xD.0 EDX:EAX bit i >= 2) stays only if its sub-leaf i gives a size,
 *    an offset >= 576 and ECX[0] = 0, and (YMM, MPX, AVX-512, PKRU, AMX) its feature flag is
 *    on; a supervisor component (0xD.1 EDX:ECX) only with XSAVES and a sub-leaf with ECX[0] = 1;
 *  - a flag whose instructions need a component that is gone is cleared too (-avx also
 *    removes avx2, fma, f16c, the AVX-512 flags and their components), to a fixed point;
 *  - sub-leaves of components not offered are zeroed;
 *  - sizes recomputed from the remaining sub-leaves: 0xD.0 ECX (and EBX, which KVM rewrites
 *    for the guest's XCR0) = max(576, offset + size); 0xD.1 EBX = the compacted size of all
 *    offered components (64-byte alignment per sub-leaf ECX[1]) with XSAVEC or XSAVES, else 0.
 * Entries are changed in place and only removed (order kept); returns the new count. */
unsigned cpuid_fix_xsave(struct kvm_cpuid_entry2 *e, unsigned n);
