/* Unit tests for arch/x86/acpi: build the tables into guest memory, then parse them back as an
 * OS would (RSDP -> XSDT/RSDT -> FADT/MADT/MCFG -> DSDT/FACS) and check every checksum, pointer
 * and the fields the platform depends on.
 *
 * With KVMM_ACPI_DUMP_DIR set, the tables of every configuration are also written there as
 * <config>-<SIG>.dat for tests/acpi/check-iasl.sh. */
#include "lib/harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/acpi.h"
#include "arch/x86/layout.h"
#include "base/compiler.h"
#include "mem/gmem.h"

#define RAM_SIZE (2u << 20)

struct fixture {
	uint8_t *ram;
	struct gmem *m;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct gmem_region r;

	assert_non_null(f);
	f->ram = calloc(1, RAM_SIZE);
	assert_non_null(f->ram);
	r = (struct gmem_region){0, RAM_SIZE, f->ram, 0};
	assert_int_equal(gmem_create(&f->m, &r, 1), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	gmem_destroy(f->m);
	free(f->ram);
	free(f);
	return 0;
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static uint16_t rd16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return v;
}

static uint8_t sum8(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

/* Host pointer to a whole table at gpa after checking it lies in the ACPI area and sums to 0. */
static const uint8_t *table_at(struct fixture *f, uint64_t gpa, const char *sig)
{
	const uint8_t *t;
	uint32_t len;

	assert_true(gpa >= LAYOUT_ACPI && gpa + 36 <= LAYOUT_ACPI + LAYOUT_ACPI_MAX);
	t = f->ram + gpa;
	assert_memory_equal(t, sig, 4);
	len = rd32(t + 4);
	assert_true(len >= 36 && gpa + len <= LAYOUT_ACPI + LAYOUT_ACPI_MAX);
	assert_int_equal(sum8(t, len), 0);
	return t;
}

/* Find a table through the XSDT (and check that the RSDT lists the same tables). */
static const uint8_t *find_table(struct fixture *f, const char *sig)
{
	const uint8_t *rsdp = f->ram + LAYOUT_ACPI;
	const uint8_t *xsdt = table_at(f, rd64(rsdp + 24), "XSDT");
	const uint8_t *rsdt = table_at(f, rd32(rsdp + 16), "RSDT");
	unsigned n = (rd32(xsdt + 4) - 36) / 8;
	const uint8_t *found = NULL;

	assert_int_equal(rd32(rsdt + 4), 36 + 4 * n);
	for (unsigned i = 0; i < n; i++) {
		uint64_t gpa = rd64(xsdt + 36 + 8 * i);

		assert_int_equal(rd32(rsdt + 36 + 4 * i), gpa);
		if (memcmp(f->ram + gpa, sig, 4) == 0) {
			assert_null(found); /* each table once */
			found = table_at(f, gpa, sig);
		}
	}
	return found;
}

static void check_rsdp(struct fixture *f)
{
	const uint8_t *r = f->ram + LAYOUT_ACPI;

	assert_memory_equal(r, "RSD PTR ", 8);
	assert_int_equal(LAYOUT_ACPI % 16, 0); /* legacy scan: 16-byte boundaries */
	assert_true(LAYOUT_ACPI >= 0xe0000 && LAYOUT_ACPI < 0x100000);
	assert_int_equal(sum8(r, 20), 0);
	assert_int_equal(r[15], 2);
	assert_int_equal(rd32(r + 20), 36);
	assert_int_equal(sum8(r, 36), 0);
}

static size_t count_str(const uint8_t *p, size_t n, const char *s)
{
	size_t k = strlen(s), c = 0;

	for (size_t i = 0; i + k <= n; i++)
		if (memcmp(p + i, s, k) == 0)
			c++;
	return c;
}

static const uint8_t *check_fadt(struct fixture *f, const struct acpi_config *cfg)
{
	const uint8_t *t = find_table(f, "FACP");
	const uint8_t *facs;

	assert_non_null(t);
	assert_int_equal(rd32(t + 4), 276);
	assert_int_equal(t[8], 6);
	assert_int_equal(rd16(t + 46), LAYOUT_IRQ_ACPI_SCI);
	assert_int_equal(rd32(t + 48), 0); /* SMI_CMD */
	assert_int_equal(rd32(t + 56), LAYOUT_PORT_ACPI_PM);
	assert_int_equal(rd32(t + 64), LAYOUT_PORT_ACPI_PM + 4);
	assert_int_equal(rd32(t + 76), LAYOUT_PORT_ACPI_PM + 8);
	assert_int_equal(t[88], 4);
	assert_int_equal(t[89], 2);
	assert_int_equal(t[91], 4);
	/* X_PM1a_EVT_BLK, X_PM1a_CNT_BLK, X_PM_TMR_BLK: system I/O, width = length. */
	assert_int_equal(t[148], 1);
	assert_int_equal(t[149], 32);
	assert_int_equal(rd64(t + 152), LAYOUT_PORT_ACPI_PM);
	assert_int_equal(t[172], 1);
	assert_int_equal(t[173], 16);
	assert_int_equal(rd64(t + 176), LAYOUT_PORT_ACPI_PM + 4);
	assert_int_equal(t[208], 1);
	assert_int_equal(rd64(t + 212), LAYOUT_PORT_ACPI_PM + 8);
	/* Flags: WBINVD, PROC_C1, SLP_BUTTON, RESET_REG_SUP; not HW_REDUCED. */
	assert_int_equal(rd32(t + 112), (1u << 0) | (1u << 2) | (1u << 5) | (1u << 10));
	assert_int_equal(rd16(t + 109), (1u << 2) | (cfg->has_i8042 ? 1u << 1 : 0));
	assert_int_equal(t[116], 1); /* RESET_REG: I/O */
	assert_int_equal(rd64(t + 120), LAYOUT_PORT_RESET);
	assert_int_equal(t[128], 0x06);
	/* FACS (64-byte aligned, no checksum) and DSDT, 32- and 64-bit pointers agree. */
	assert_int_equal(rd64(t + 132), rd32(t + 36));
	assert_int_equal(rd32(t + 36) % 64, 0);
	facs = f->ram + rd32(t + 36);
	assert_memory_equal(facs, "FACS", 4);
	assert_int_equal(rd32(facs + 4), 64);
	assert_int_equal(rd64(t + 140), rd32(t + 40));
	return table_at(f, rd32(t + 40), "DSDT");
}

static void check_madt(struct fixture *f, const struct acpi_config *cfg)
{
	const uint8_t *t = find_table(f, "APIC");
	uint32_t len;
	unsigned cpus = 0, ioapics = 0, isos = 0;

	assert_non_null(t);
	len = rd32(t + 4);
	assert_int_equal(rd32(t + 36), LAYOUT_LAPIC);
	assert_int_equal(rd32(t + 40), 1); /* PCAT_COMPAT */
	for (uint32_t off = 44; off < len;) {
		const uint8_t *e = t + off;

		assert_true(e[1] >= 2 && off + e[1] <= len);
		switch (e[0]) {
		case 0: /* Processor Local APIC: UID = index, APIC ID from the config */
			assert_int_equal(e[2], cpus);
			assert_int_equal(e[3], cfg->apic_ids[cpus]);
			assert_int_equal(rd32(e + 4), 1);
			cpus++;
			break;
		case 9: /* Local x2APIC */
			assert_int_equal(rd32(e + 12), cpus);
			assert_int_equal(rd32(e + 4), cfg->apic_ids[cpus]);
			assert_int_equal(rd32(e + 8), 1);
			cpus++;
			break;
		case 1:
			assert_int_equal(rd32(e + 4), LAYOUT_IOAPIC);
			assert_int_equal(rd32(e + 8), 0);
			ioapics++;
			break;
		case 2:
			if (e[3] == 0) {
				assert_int_equal(rd32(e + 4), 2);
			} else {
				assert_int_equal(e[3], LAYOUT_IRQ_ACPI_SCI);
				assert_int_equal(rd32(e + 4), LAYOUT_IRQ_ACPI_SCI);
				assert_int_equal(rd16(e + 8), 0x000d); /* level, active high */
			}
			isos++;
			break;
		case 4:
			assert_int_equal(e[5], 1); /* NMI on LINT1 */
			break;
		default:
			fail_msg("unexpected MADT entry type %u", e[0]);
		}
		off += e[1];
	}
	assert_int_equal(cpus, cfg->ncpus);
	assert_int_equal(ioapics, 1);
	assert_int_equal(isos, 2);
}

static void check_dsdt(const uint8_t *d, const struct acpi_config *cfg)
{
	size_t len = rd32(d + 4);
	const uint8_t *s5;
	/* Name(\_S5, Package(4){typ, typ, 0, 0}) with typ encoded as an integer. */
	const uint8_t want_s5[] = {0x08, 0x5c, '_', 'S', '5', '_', 0x12};

	assert_int_equal(d[8], 2);
	s5 = memmem(d + 36, len - 36, want_s5, sizeof(want_s5));
	assert_non_null(s5);
	assert_int_equal(s5[8], 4);
	assert_int_equal(s5[9], 0x0a);
	assert_int_equal(s5[10], cfg->slp_typ_s5);
	assert_int_equal(count_str(d, len, "ACPI0007"), cfg->ncpus);
	assert_int_equal(count_str(d, len, "LNRO0005"), cfg->n_virtio_mmio);
	assert_int_equal(count_str(d, len, "QEMU0002"), 1);
	assert_int_equal(count_str(d, len, "COM1"), 1);
	assert_int_equal(count_str(d, len, "KBD_"), cfg->has_i8042 ? 1 : 0);
	assert_int_equal(count_str(d, len, "PCI0"), cfg->pci.enabled ? 1 : 0);
	assert_int_equal(count_str(d, len, "_PRT"), cfg->pci.enabled ? 1 : 0);
	for (unsigned i = 0; i < cfg->n_virtio_mmio; i++) {
		/* Memory32Fixed(RW, base, len) followed by Interrupt(consumer, level/edge){gsi}. */
		uint8_t rd[21] = {0x86, 0x09, 0x00, 0x01};
		uint32_t base = (uint32_t)cfg->virtio_mmio[i].base;

		memcpy(rd + 4, &base, 4);
		memcpy(rd + 8, &cfg->virtio_mmio[i].len, 4);
		rd[12] = 0x89;
		rd[13] = 6;
		rd[15] = cfg->virtio_mmio[i].edge ? 0x03 : 0x01;
		rd[16] = 1;
		memcpy(rd + 17, &cfg->virtio_mmio[i].gsi, 4);
		assert_non_null(memmem(d, len, rd, sizeof(rd)));
	}
}

static void check_all(struct fixture *f, const struct acpi_config *cfg)
{
	const uint8_t *dsdt, *mcfg;

	check_rsdp(f);
	dsdt = check_fadt(f, cfg);
	check_dsdt(dsdt, cfg);
	check_madt(f, cfg);
	mcfg = find_table(f, "MCFG");
	if (cfg->pci.enabled && cfg->pci.ecam) {
		assert_non_null(mcfg);
		assert_int_equal(rd32(mcfg + 4), 36 + 8 + 16);
		assert_int_equal(rd64(mcfg + 44), cfg->pci.ecam_base);
		assert_int_equal(mcfg[54], cfg->pci.bus_start);
		assert_int_equal(mcfg[55], cfg->pci.bus_end);
	} else {
		assert_null(mcfg);
	}
}

static void dump_table(const char *dir, const char *cfgname, const uint8_t *t, size_t len)
{
	char path[512];
	FILE *fp;

	/* iasl cannot read an RSDP from a file: check-iasl.sh checks its sums itself. */
	if (memcmp(t, "RSD PTR ", 8) == 0)
		snprintf(path, sizeof(path), "%s/%s-RSDP.bin", dir, cfgname);
	else
		snprintf(path, sizeof(path), "%s/%s-%.4s.dat", dir, cfgname, (const char *)t);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(t, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

/* Write every table reachable from the RSDP (and the FACS and DSDT) when asked to. */
static void maybe_dump(struct fixture *f, const char *name)
{
	const char *dir = getenv("KVMM_ACPI_DUMP_DIR");
	const uint8_t *rsdp = f->ram + LAYOUT_ACPI, *xsdt, *fadt;

	char path[512];
	FILE *fp;

	if (!dir || !*dir)
		return;
	/* The whole area as the guest sees it at LAYOUT_ACPI (for loading into a VM). */
	snprintf(path, sizeof(path), "%s/%s-area.bin", dir, name);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(rsdp, 1, LAYOUT_ACPI_MAX, fp), LAYOUT_ACPI_MAX);
	assert_int_equal(fclose(fp), 0);
	dump_table(dir, name, rsdp, 36);
	xsdt = f->ram + rd64(rsdp + 24);
	dump_table(dir, name, xsdt, rd32(xsdt + 4));
	dump_table(dir, name, f->ram + rd32(rsdp + 16), rd32(f->ram + rd32(rsdp + 16) + 4));
	for (unsigned i = 0; i < (rd32(xsdt + 4) - 36) / 8; i++) {
		const uint8_t *t = f->ram + rd64(xsdt + 36 + 8 * i);

		dump_table(dir, name, t, rd32(t + 4));
	}
	fadt = find_table(f, "FACP");
	dump_table(dir, name, f->ram + rd32(fadt + 40), rd32(f->ram + rd32(fadt + 40) + 4));
	dump_table(dir, name, f->ram + rd32(fadt + 36), 64);
}

static void build_check(struct fixture *f, const struct acpi_config *cfg, const char *name)
{
	gpa_t rsdp = 0;

	memset(f->ram, 0, RAM_SIZE);
	assert_int_equal(acpi_build(f->m, cfg, &rsdp), 0);
	assert_int_equal(rsdp, LAYOUT_ACPI);
	check_all(f, cfg);
	maybe_dump(f, name);
}

static const uint32_t ids_seq[] = {0, 1, 2, 3, 4, 5, 6, 7};

static void test_minimal(void **state)
{
	struct acpi_config cfg = {.ncpus = 1, .apic_ids = ids_seq, .slp_typ_s5 = 5};

	build_check(*state, &cfg, "minimal");
}

static void test_microvm(void **state)
{
	/* Sparse APIC IDs (3 cores per socket packed in 2 bits), i8042, three virtio-mmio. */
	static const uint32_t ids[] = {0, 1, 2, 4, 5, 6};
	struct acpi_config cfg = {.ncpus = 6, .apic_ids = ids, .slp_typ_s5 = 5, .has_i8042 = true};

	for (unsigned i = 0; i < 3; i++)
		cfg.virtio_mmio[i] = (struct acpi_virtio_mmio){
		    LAYOUT_VIRTIO_MMIO + i * LAYOUT_VIRTIO_MMIO_SIZE, LAYOUT_VIRTIO_MMIO_SIZE,
		    LAYOUT_GSI_DYNAMIC + i, i == 2};
	cfg.n_virtio_mmio = 3;
	build_check(*state, &cfg, "microvm");
}

static void test_pci(void **state)
{
	struct acpi_config cfg = {
	    .ncpus = 2, .apic_ids = ids_seq, .slp_typ_s5 = 5, .has_i8042 = true};

	acpi_pci_defaults(&cfg.pci);
	cfg.pci.enabled = true;
	cfg.pci.ecam = true;
	cfg.pci.mmio64_base = 0x8000000000ull;
	cfg.pci.mmio64_size = 0x8000000000ull;
	build_check(*state, &cfg, "pci");
	assert_int_equal(cfg.pci.ecam_base, LAYOUT_PCI_ECAM);
	assert_int_equal(cfg.pci.bus_end, 255);

	cfg.pci.ecam = false; /* legacy 0xcf8 only: no MCFG */
	build_check(*state, &cfg, "pcinoecam");
}

/* Many vCPUs: UIDs and APIC IDs >= 255 need Local x2APIC entries. */
static void test_x2apic(void **state)
{
	struct acpi_config cfg = {.ncpus = 300, .slp_typ_s5 = 5};
	uint32_t *ids = calloc(cfg.ncpus, sizeof(*ids));

	assert_non_null(ids);
	for (unsigned i = 0; i < cfg.ncpus; i++)
		ids[i] = i * 2; /* two threads per core, the second one offline */
	cfg.apic_ids = ids;
	build_check(*state, &cfg, "x2apic");
	free(ids);
}

static void test_errors(void **state)
{
	struct fixture *f = *state;
	struct acpi_config cfg = {.ncpus = 1, .apic_ids = ids_seq, .slp_typ_s5 = 5};
	static uint8_t small[256], big[LAYOUT_ACPI_MAX];
	uint8_t *lowram;
	struct gmem *hole;
	struct gmem_region r;
	gpa_t rsdp;
	size_t len;

	cfg.ncpus = 0;
	assert_int_equal(acpi_build(f->m, &cfg, &rsdp), -EINVAL);
	cfg.ncpus = ACPI_MAX_CPUS + 1;
	assert_int_equal(acpi_build(f->m, &cfg, &rsdp), -EINVAL);
	cfg.ncpus = 1;
	cfg.apic_ids = NULL;
	assert_int_equal(acpi_build(f->m, &cfg, &rsdp), -EINVAL);
	cfg.apic_ids = ids_seq;
	cfg.n_virtio_mmio = ACPI_MAX_VIRTIO_MMIO + 1;
	assert_int_equal(acpi_build(f->m, &cfg, &rsdp), -EINVAL);
	cfg.n_virtio_mmio = 1;
	cfg.virtio_mmio[0] = (struct acpi_virtio_mmio){0xfffff000ull, 0x2000, 16, false};
	assert_int_equal(acpi_build(f->m, &cfg, &rsdp), -EINVAL); /* crosses 4 GiB */
	cfg.n_virtio_mmio = 0;
	acpi_pci_defaults(&cfg.pci);
	cfg.pci.enabled = true;
	cfg.pci.bus_start = 5;
	cfg.pci.bus_end = 4;
	assert_int_equal(acpi_build(f->m, &cfg, &rsdp), -EINVAL);
	cfg.pci.enabled = false;

	/* Too small an area: -ENOSPC, never a write past it. */
	memset(small, 0, sizeof(small));
	assert_int_equal(acpi_build_image(&cfg, small, sizeof(small) - 8, LAYOUT_ACPI, &len),
			 -ENOSPC);
	for (size_t i = sizeof(small) - 8; i < sizeof(small); i++)
		assert_int_equal(small[i], 0);
	/* Does not fit LAYOUT_ACPI_MAX: ACPI_MAX_CPUS processors with many virtio devices fit,
	 * so shrink the area to just under what the build needs. */
	assert_int_equal(acpi_build_image(&cfg, big, sizeof(big), LAYOUT_ACPI, &len), 0);
	assert_int_equal(acpi_build_image(&cfg, big, len - 1, LAYOUT_ACPI, &len), -ENOSPC);

	/* No guest RAM at LAYOUT_ACPI: -EFAULT. */
	lowram = calloc(1, 0x1000);
	assert_non_null(lowram);
	r = (struct gmem_region){0, 0x1000, lowram, 0};
	assert_int_equal(gmem_create(&hole, &r, 1), 0);
	assert_int_equal(acpi_build(hole, &cfg, &rsdp), -EFAULT);
	gmem_destroy(hole);
	free(lowram);
}

/* The largest configuration still fits in LAYOUT_ACPI_MAX. */
static void test_max_fits(void **state)
{
	struct acpi_config cfg = {.ncpus = ACPI_MAX_CPUS, .slp_typ_s5 = 5, .has_i8042 = true};
	uint32_t *ids = calloc(cfg.ncpus, sizeof(*ids));

	assert_non_null(ids);
	for (unsigned i = 0; i < cfg.ncpus; i++)
		ids[i] = i;
	cfg.apic_ids = ids;
	for (unsigned i = 0; i < ACPI_MAX_VIRTIO_MMIO; i++)
		cfg.virtio_mmio[i] = (struct acpi_virtio_mmio){
		    LAYOUT_VIRTIO_MMIO + i * LAYOUT_VIRTIO_MMIO_SIZE, LAYOUT_VIRTIO_MMIO_SIZE,
		    LAYOUT_GSI_DYNAMIC + i % 8, false};
	cfg.n_virtio_mmio = ACPI_MAX_VIRTIO_MMIO;
	acpi_pci_defaults(&cfg.pci);
	cfg.pci.enabled = cfg.pci.ecam = true;
	build_check(*state, &cfg, "max");
	free(ids);
}

static void test_checksum(void **state)
{
	uint8_t b[5] = {1, 2, 3, 0, 4};

	b[3] = acpi_checksum(b, sizeof(b));
	assert_int_equal(sum8(b, sizeof(b)), 0);
	assert_int_equal(acpi_checksum(b, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_minimal, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_microvm, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pci, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_x2apic, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_max_fits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	    cmocka_unit_test(test_checksum),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
