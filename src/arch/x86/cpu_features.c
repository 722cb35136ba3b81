/* arch/x86/cpu_features.c — the CPUID feature-flag table (Linux /proc/cpuinfo names, from
 * arch/x86/include/asm/cpufeatures.h) and the feature words it covers. See cpuid.h. */
#include "arch/x86/cpuid.h"

#include <string.h>

struct cpu_feat_word_desc {
	uint32_t leaf, subleaf;
	enum cpu_reg reg;
};

static const struct cpu_feat_word_desc cpu_feat_words[CPU_FW_NR] = {
    [CPU_FW_1_ECX] = {1, 0, CPU_REG_ECX},
    [CPU_FW_1_EDX] = {1, 0, CPU_REG_EDX},
    [CPU_FW_7_0_EBX] = {7, 0, CPU_REG_EBX},
    [CPU_FW_7_0_ECX] = {7, 0, CPU_REG_ECX},
    [CPU_FW_7_0_EDX] = {7, 0, CPU_REG_EDX},
    [CPU_FW_7_1_EAX] = {7, 1, CPU_REG_EAX},
    [CPU_FW_8000_0001_ECX] = {0x80000001, 0, CPU_REG_ECX},
    [CPU_FW_8000_0001_EDX] = {0x80000001, 0, CPU_REG_EDX},
    [CPU_FW_D_1_EAX] = {0xd, 1, CPU_REG_EAX},
};

#define F(n, w, b)                                                                                 \
	{                                                                                          \
		n, CPU_FW_##w, b                                                                   \
	}

static const struct cpu_feature cpu_features[] = {
    /* Leaf 1 EDX */
    F("fpu", 1_EDX, 0),
    F("vme", 1_EDX, 1),
    F("de", 1_EDX, 2),
    F("pse", 1_EDX, 3),
    F("tsc", 1_EDX, 4),
    F("msr", 1_EDX, 5),
    F("pae", 1_EDX, 6),
    F("mce", 1_EDX, 7),
    F("cx8", 1_EDX, 8),
    F("apic", 1_EDX, 9),
    F("sep", 1_EDX, 11),
    F("mtrr", 1_EDX, 12),
    F("pge", 1_EDX, 13),
    F("mca", 1_EDX, 14),
    F("cmov", 1_EDX, 15),
    F("pat", 1_EDX, 16),
    F("pse36", 1_EDX, 17),
    F("pn", 1_EDX, 18),
    F("clflush", 1_EDX, 19),
    F("dts", 1_EDX, 21),
    F("acpi", 1_EDX, 22),
    F("mmx", 1_EDX, 23),
    F("fxsr", 1_EDX, 24),
    F("sse", 1_EDX, 25),
    F("sse2", 1_EDX, 26),
    F("ss", 1_EDX, 27),
    F("ht", 1_EDX, 28),
    F("tm", 1_EDX, 29),
    F("ia64", 1_EDX, 30),
    F("pbe", 1_EDX, 31),
    /* Leaf 1 ECX */
    F("pni", 1_ECX, 0),
    F("pclmulqdq", 1_ECX, 1),
    F("dtes64", 1_ECX, 2),
    F("monitor", 1_ECX, 3),
    F("ds_cpl", 1_ECX, 4),
    F("vmx", 1_ECX, 5),
    F("smx", 1_ECX, 6),
    F("est", 1_ECX, 7),
    F("tm2", 1_ECX, 8),
    F("ssse3", 1_ECX, 9),
    F("cid", 1_ECX, 10),
    F("sdbg", 1_ECX, 11),
    F("fma", 1_ECX, 12),
    F("cx16", 1_ECX, 13),
    F("xtpr", 1_ECX, 14),
    F("pdcm", 1_ECX, 15),
    F("pcid", 1_ECX, 17),
    F("dca", 1_ECX, 18),
    F("sse4_1", 1_ECX, 19),
    F("sse4_2", 1_ECX, 20),
    F("x2apic", 1_ECX, 21),
    F("movbe", 1_ECX, 22),
    F("popcnt", 1_ECX, 23),
    F("tsc_deadline_timer", 1_ECX, 24),
    F("aes", 1_ECX, 25),
    F("xsave", 1_ECX, 26),
    F("avx", 1_ECX, 28),
    F("f16c", 1_ECX, 29),
    F("rdrand", 1_ECX, 30),
    F("hypervisor", 1_ECX, 31),
    /* Leaf 7.0 EBX */
    F("fsgsbase", 7_0_EBX, 0),
    F("tsc_adjust", 7_0_EBX, 1),
    F("sgx", 7_0_EBX, 2),
    F("bmi1", 7_0_EBX, 3),
    F("hle", 7_0_EBX, 4),
    F("avx2", 7_0_EBX, 5),
    F("fdp_excptn_only", 7_0_EBX, 6),
    F("smep", 7_0_EBX, 7),
    F("bmi2", 7_0_EBX, 8),
    F("erms", 7_0_EBX, 9),
    F("invpcid", 7_0_EBX, 10),
    F("rtm", 7_0_EBX, 11),
    F("cqm", 7_0_EBX, 12),
    F("zero_fcs_fds", 7_0_EBX, 13),
    F("mpx", 7_0_EBX, 14),
    F("rdt_a", 7_0_EBX, 15),
    F("avx512f", 7_0_EBX, 16),
    F("avx512dq", 7_0_EBX, 17),
    F("rdseed", 7_0_EBX, 18),
    F("adx", 7_0_EBX, 19),
    F("smap", 7_0_EBX, 20),
    F("avx512ifma", 7_0_EBX, 21),
    F("clflushopt", 7_0_EBX, 23),
    F("clwb", 7_0_EBX, 24),
    F("intel_pt", 7_0_EBX, 25),
    F("avx512pf", 7_0_EBX, 26),
    F("avx512er", 7_0_EBX, 27),
    F("avx512cd", 7_0_EBX, 28),
    F("sha_ni", 7_0_EBX, 29),
    F("avx512bw", 7_0_EBX, 30),
    F("avx512vl", 7_0_EBX, 31),
    /* Leaf 7.0 ECX */
    F("avx512vbmi", 7_0_ECX, 1),
    F("umip", 7_0_ECX, 2),
    F("pku", 7_0_ECX, 3),
    F("ospke", 7_0_ECX, 4),
    F("waitpkg", 7_0_ECX, 5),
    F("avx512_vbmi2", 7_0_ECX, 6),
    F("cet_ss", 7_0_ECX, 7),
    F("gfni", 7_0_ECX, 8),
    F("vaes", 7_0_ECX, 9),
    F("vpclmulqdq", 7_0_ECX, 10),
    F("avx512_vnni", 7_0_ECX, 11),
    F("avx512_bitalg", 7_0_ECX, 12),
    F("tme", 7_0_ECX, 13),
    F("avx512_vpopcntdq", 7_0_ECX, 14),
    F("la57", 7_0_ECX, 16),
    F("rdpid", 7_0_ECX, 22),
    F("bus_lock_detect", 7_0_ECX, 24),
    F("cldemote", 7_0_ECX, 25),
    F("movdiri", 7_0_ECX, 27),
    F("movdir64b", 7_0_ECX, 28),
    F("enqcmd", 7_0_ECX, 29),
    F("sgx_lc", 7_0_ECX, 30),
    /* Leaf 7.0 EDX */
    F("avx512_4vnniw", 7_0_EDX, 2),
    F("avx512_4fmaps", 7_0_EDX, 3),
    F("fsrm", 7_0_EDX, 4),
    F("avx512_vp2intersect", 7_0_EDX, 8),
    F("md_clear", 7_0_EDX, 10),
    F("serialize", 7_0_EDX, 14),
    F("tsxldtrk", 7_0_EDX, 16),
    F("pconfig", 7_0_EDX, 18),
    F("arch_lbr", 7_0_EDX, 19),
    F("ibt", 7_0_EDX, 20),
    F("amx_bf16", 7_0_EDX, 22),
    F("avx512_fp16", 7_0_EDX, 23),
    F("amx_tile", 7_0_EDX, 24),
    F("amx_int8", 7_0_EDX, 25),
    F("spec_ctrl", 7_0_EDX, 26),
    F("intel_stibp", 7_0_EDX, 27),
    F("flush_l1d", 7_0_EDX, 28),
    F("arch_capabilities", 7_0_EDX, 29),
    F("core_capabilities", 7_0_EDX, 30),
    F("spec_ctrl_ssbd", 7_0_EDX, 31),
    /* Leaf 7.1 EAX */
    F("avx_vnni", 7_1_EAX, 4),
    F("avx512_bf16", 7_1_EAX, 5),
    /* Leaf 0x80000001 ECX */
    F("lahf_lm", 8000_0001_ECX, 0),
    F("cmp_legacy", 8000_0001_ECX, 1),
    F("svm", 8000_0001_ECX, 2),
    F("extapic", 8000_0001_ECX, 3),
    F("cr8_legacy", 8000_0001_ECX, 4),
    F("abm", 8000_0001_ECX, 5),
    F("sse4a", 8000_0001_ECX, 6),
    F("misalignsse", 8000_0001_ECX, 7),
    F("3dnowprefetch", 8000_0001_ECX, 8),
    F("osvw", 8000_0001_ECX, 9),
    F("ibs", 8000_0001_ECX, 10),
    F("xop", 8000_0001_ECX, 11),
    F("skinit", 8000_0001_ECX, 12),
    F("wdt", 8000_0001_ECX, 13),
    F("lwp", 8000_0001_ECX, 15),
    F("fma4", 8000_0001_ECX, 16),
    F("tce", 8000_0001_ECX, 17),
    F("nodeid_msr", 8000_0001_ECX, 19),
    F("tbm", 8000_0001_ECX, 21),
    F("topoext", 8000_0001_ECX, 22),
    F("perfctr_core", 8000_0001_ECX, 23),
    F("perfctr_nb", 8000_0001_ECX, 24),
    F("bpext", 8000_0001_ECX, 26),
    F("ptsc", 8000_0001_ECX, 27),
    F("perfctr_llc", 8000_0001_ECX, 28),
    F("mwaitx", 8000_0001_ECX, 29),
    /* Leaf 0x80000001 EDX */
    F("syscall", 8000_0001_EDX, 11),
    F("mp", 8000_0001_EDX, 19),
    F("nx", 8000_0001_EDX, 20),
    F("mmxext", 8000_0001_EDX, 22),
    F("fxsr_opt", 8000_0001_EDX, 25),
    F("pdpe1gb", 8000_0001_EDX, 26),
    F("rdtscp", 8000_0001_EDX, 27),
    F("lm", 8000_0001_EDX, 29),
    F("3dnowext", 8000_0001_EDX, 30),
    F("3dnow", 8000_0001_EDX, 31),
    /* Leaf 0xD.1 EAX */
    F("xsaveopt", D_1_EAX, 0),
    F("xsavec", D_1_EAX, 1),
    F("xgetbv1", D_1_EAX, 2),
    F("xsaves", D_1_EAX, 3),
    F("xfd", D_1_EAX, 4),
};

#undef F

void cpu_feat_word_info(enum cpu_feat_word w, uint32_t *leaf, uint32_t *subleaf, enum cpu_reg *reg)
{
	*leaf = cpu_feat_words[w].leaf;
	*subleaf = cpu_feat_words[w].subleaf;
	*reg = cpu_feat_words[w].reg;
}

const struct cpu_feature *cpu_feature_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(cpu_features); i++)
		if (strcmp(cpu_features[i].name, name) == 0)
			return &cpu_features[i];
	return NULL;
}

const char *cpu_feature_name(enum cpu_feat_word w, unsigned bit)
{
	for (size_t i = 0; i < ARRAY_SIZE(cpu_features); i++)
		if (cpu_features[i].word == w && cpu_features[i].bit == bit)
			return cpu_features[i].name;
	return NULL;
}
