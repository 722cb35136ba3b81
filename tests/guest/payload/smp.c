/* tests/guest/payload/smp.c — start every AP (count from the MADT, cross-checked with fw_cfg
 * FW_CFG_NB_CPUS); each vCPU checks in with its topology from CPUID 0x1/0x4/0xB/0x1F, which
 * must match the command line. Arguments: cpus=N sockets=S cores=C threads=T (optional),
 * spin=SECONDS (keep every vCPU busy before exiting; for the affinity test). */
#include "payload.h"

const char payload_name[] = "smp";

static struct cpu_topo topo[MAX_CPUS];
static volatile uint32_t seen[MAX_CPUS];

static volatile uint32_t lapic_ids[MAX_CPUS];

static void ap_entry(unsigned idx)
{
	cpu_topo_read(&topo[idx]);
	lapic_ids[idx] = lapic_id();
	seen[idx] = 1;
	printf("cpu %u: apic %u checked in\n", idx, topo[idx].apic_id);
}

static bool check_topology(unsigned n, uint64_t sockets, uint64_t cores, uint64_t threads)
{
	uint32_t pkgs[MAX_CPUS];
	unsigned npkgs = 0;
	bool ok = true;

	for (unsigned i = 0; i < n && i < MAX_CPUS; i++) {
		const struct cpu_topo *t = &topo[i];
		bool known = false;

		printf("cpu %u: apic %u pkg %u core %u smt %u; %u threads/core %u cores/pkg "
		       "(leaf1 %u, leaf4 %u%s)\n",
		       i, t->apic_id, t->pkg_id, t->core_id, t->smt_id, t->threads, t->cores,
		       t->leaf1_logical, t->leaf4_cores, t->has_1f ? ", leaf 0x1f" : "");
		if (threads && t->threads != threads)
			ok = false;
		if (cores && t->cores != cores)
			ok = false;
		if (t->has_1f && (t->threads_1f != t->threads || t->cores_1f != t->cores))
			ok = false;
		if (t->leaf1_logical < t->threads * t->cores ||
		    (t->leaf4_cores && t->leaf4_cores < t->cores))
			ok = false;
		for (unsigned j = 0; j < npkgs; j++)
			known |= pkgs[j] == t->pkg_id;
		if (!known)
			pkgs[npkgs++] = t->pkg_id;
	}
	if (sockets && npkgs != sockets)
		ok = false;
	printf("smp: %u packages seen\n", npkgs);
	return ok;
}

int payload_main(const struct boot_info *bi)
{
	uint64_t rsdp = acpi_find_rsdp(bi->rsdp_paddr), want = cmdline_u64("cpus", 0);
	uint64_t spin = cmdline_u64("spin", 0);
	uint32_t ids[MAX_CPUS];
	unsigned n, started;

	if (!check(rsdp, "ACPI RSDP found"))
		return EXIT_CODE_FAIL;
	n = acpi_madt_cpus(rsdp, ids, MAX_CPUS);
	if (!check(n >= 1 && n <= MAX_CPUS, "MADT lists %u enabled CPUs", n) && n == 0)
		return EXIT_CODE_FAIL;
	if (n > MAX_CPUS)
		n = MAX_CPUS;
	if (want)
		check(n == want, "MADT CPU count %u == cpus=%lu", n, want);
	if (fwcfg_present()) {
		uint16_t nb = 0;

		fwcfg_read(FW_CFG_NB_CPUS, &nb, sizeof(nb));
		check(nb == n, "fw_cfg FW_CFG_NB_CPUS %u == MADT %u", nb, n);
	} else {
		printf("smp: no fw_cfg\n");
	}
	smp_ap_spin(spin != 0);
	cpu_topo_read(&topo[0]);
	seen[0] = 1;
	check(topo[0].apic_id == lapic_id(), "BSP: CPUID APIC id %u == LAPIC id %u",
	      topo[0].apic_id, lapic_id());
	started = smp_start_aps(ap_entry, n - 1, 3000);
	check(started == n - 1, "%u of %u APs checked in", started, n - 1);
	for (unsigned i = 0; i < n; i++) {
		bool in_madt = false;

		for (unsigned j = 0; j < n; j++)
			in_madt |= ids[j] == topo[i].apic_id;
		check(seen[i] && in_madt, "cpu %u (apic %u) checked in and is in the MADT", i,
		      topo[i].apic_id);
		if (i)
			check(lapic_ids[i] == topo[i].apic_id,
			      "cpu %u: CPUID APIC id %u == LAPIC id %u", i, topo[i].apic_id,
			      lapic_ids[i]);
		for (unsigned j = 0; j < i; j++)
			if (topo[j].apic_id == topo[i].apic_id)
				check(false, "cpu %u and %u share apic id %u", i, j,
				      topo[i].apic_id);
	}
	check(check_topology(n, cmdline_u64("sockets", 0), cmdline_u64("cores", 0),
			     cmdline_u64("threads", 0)),
	      "topology matches sockets=%lu cores=%lu threads=%lu", cmdline_u64("sockets", 0),
	      cmdline_u64("cores", 0), cmdline_u64("threads", 0));
	if (spin) {
		printf("smp: spinning for %lu s on %u vCPUs\n", spin, n);
		udelay(spin * 1000000);
		smp_ap_spin(false);
	}
	return 0;
}
