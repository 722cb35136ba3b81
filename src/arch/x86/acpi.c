/* arch/x86/acpi.c — see acpi.h. Table layouts follow ACPI 6.4 chapter 5. */
#include "arch/x86/acpi.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/aml.h"
#include "arch/x86/layout.h"
#include "base/ckd.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "ACPI tables are little-endian");

#define ACPI_OEM_ID	  "KVMM  "
#define ACPI_OEM_TABLE_ID "KVMMPLAT"
#define ACPI_CREATOR_ID	  "KVMM"

struct acpi_hdr {
	char sig[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
} KVMM_PACKED;
_Static_assert(sizeof(struct acpi_hdr) == 36, "acpi_hdr");

struct acpi_rsdp {
	char sig[8];
	uint8_t checksum;
	char oem_id[6];
	uint8_t revision;
	uint32_t rsdt;
	uint32_t length;
	uint64_t xsdt;
	uint8_t ext_checksum;
	uint8_t reserved[3];
} KVMM_PACKED;
_Static_assert(sizeof(struct acpi_rsdp) == 36, "acpi_rsdp");

struct acpi_gas {
	uint8_t space_id; /* 0 memory, 1 system I/O */
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size; /* 1 byte, 2 word, 3 dword, 4 qword */
	uint64_t address;
} KVMM_PACKED;
_Static_assert(sizeof(struct acpi_gas) == 12, "acpi_gas");

struct acpi_fadt {
	struct acpi_hdr h;
	uint32_t firmware_ctrl;
	uint32_t dsdt;
	uint8_t reserved0;
	uint8_t pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t acpi_enable, acpi_disable, s4bios_req, pstate_cnt;
	uint32_t pm1a_evt_blk, pm1b_evt_blk, pm1a_cnt_blk, pm1b_cnt_blk, pm2_cnt_blk, pm_tmr_blk;
	uint32_t gpe0_blk, gpe1_blk;
	uint8_t pm1_evt_len, pm1_cnt_len, pm2_cnt_len, pm_tmr_len, gpe0_blk_len, gpe1_blk_len;
	uint8_t gpe1_base, cst_cnt;
	uint16_t p_lvl2_lat, p_lvl3_lat, flush_size, flush_stride;
	uint8_t duty_offset, duty_width, day_alrm, mon_alrm, century;
	uint16_t iapc_boot_arch;
	uint8_t reserved1;
	uint32_t flags;
	struct acpi_gas reset_reg;
	uint8_t reset_value;
	uint16_t arm_boot_arch;
	uint8_t minor_version;
	uint64_t x_firmware_ctrl, x_dsdt;
	struct acpi_gas x_pm1a_evt_blk, x_pm1b_evt_blk, x_pm1a_cnt_blk, x_pm1b_cnt_blk;
	struct acpi_gas x_pm2_cnt_blk, x_pm_tmr_blk, x_gpe0_blk, x_gpe1_blk;
	struct acpi_gas sleep_control_reg, sleep_status_reg;
	uint64_t hypervisor_vendor_id;
} KVMM_PACKED;
_Static_assert(sizeof(struct acpi_fadt) == 276, "acpi_fadt");

#define FADT_F_WBINVD	     (1u << 0)
#define FADT_F_PROC_C1	     (1u << 2)
#define FADT_F_SLP_BUTTON    (1u << 5)
#define FADT_F_RESET_REG_SUP (1u << 10)
#define FADT_BOOT_8042	     (1u << 1)
#define FADT_BOOT_NO_VGA     (1u << 2)

struct acpi_facs {
	char sig[4];
	uint32_t length;
	uint32_t hw_signature;
	uint32_t waking_vector;
	uint32_t global_lock;
	uint32_t flags;
	uint64_t x_waking_vector;
	uint8_t version;
	uint8_t reserved0[3];
	uint32_t ospm_flags;
	uint8_t reserved1[24];
} KVMM_PACKED;
_Static_assert(sizeof(struct acpi_facs) == 64, "acpi_facs");

struct acpi_madt {
	struct acpi_hdr h;
	uint32_t lapic_addr;
	uint32_t flags;
} KVMM_PACKED;
#define MADT_PCAT_COMPAT 1u

struct madt_lapic {
	uint8_t type, length, uid, apic_id;
	uint32_t flags;
} KVMM_PACKED;

struct madt_x2apic {
	uint8_t type, length;
	uint16_t reserved;
	uint32_t x2apic_id, flags, uid;
} KVMM_PACKED;

struct madt_ioapic {
	uint8_t type, length, id, reserved;
	uint32_t address, gsi_base;
} KVMM_PACKED;

struct madt_iso {
	uint8_t type, length, bus, source;
	uint32_t gsi;
	uint16_t flags;
} KVMM_PACKED;

struct madt_lapic_nmi {
	uint8_t type, length, uid;
	uint16_t flags;
	uint8_t lint;
} KVMM_PACKED;
_Static_assert(sizeof(struct madt_lapic) == 8 && sizeof(struct madt_x2apic) == 16 &&
		   sizeof(struct madt_ioapic) == 12 && sizeof(struct madt_iso) == 10 &&
		   sizeof(struct madt_lapic_nmi) == 6,
	       "madt entries");

struct acpi_mcfg_alloc {
	uint64_t base;
	uint16_t segment;
	uint8_t bus_start, bus_end;
	uint32_t reserved;
} KVMM_PACKED;
_Static_assert(sizeof(struct acpi_mcfg_alloc) == 16, "mcfg entry");

/* Builder state: a cursor in the host image of the ACPI area. */
struct acpi_img {
	uint8_t *buf;
	size_t cap, off;
	gpa_t base;
};

#define ACPI_MAX_TABLES 8

uint8_t acpi_checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + b[i]);
	return (uint8_t)(0 - sum);
}

void acpi_pci_defaults(struct acpi_pci *p)
{
	memset(p, 0, sizeof(*p));
	p->ecam_base = LAYOUT_PCI_ECAM;
	p->bus_start = 0;
	p->bus_end = (uint8_t)((LAYOUT_PCI_ECAM_SIZE >> 20) - 1);
	p->mmio32_base = LAYOUT_PCI_MMIO;
	p->mmio32_size = LAYOUT_PCI_MMIO_SIZE;
	for (unsigned i = 0; i < 4; i++)
		p->intx_gsi[i] = LAYOUT_GSI_PCI_INTX + i;
}

/* Reserve len bytes aligned to align; returns the offset in *off. */
static int img_alloc(struct acpi_img *img, size_t len, size_t align, size_t *off)
{
	size_t start = ALIGN_UP(img->off, align), end;

	if (start < img->off || ckd_add(&end, start, len) || end > img->cap)
		return -ENOSPC;
	memset(img->buf + start, 0, end - start);
	img->off = end;
	*off = start;
	return 0;
}

static void hdr_init(struct acpi_hdr *h, const char *sig, uint32_t len, uint8_t rev)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->sig, sig, 4);
	h->length = len;
	h->revision = rev;
	memcpy(h->oem_id, ACPI_OEM_ID, 6);
	memcpy(h->oem_table_id, ACPI_OEM_TABLE_ID, 8);
	h->oem_revision = 1;
	memcpy(h->creator_id, ACPI_CREATOR_ID, 4);
	h->creator_revision = 1;
}

/* Checksum a finished table in place (the header is at buf + off). */
static void table_seal(struct acpi_img *img, size_t off)
{
	struct acpi_hdr h;

	memcpy(&h, img->buf + off, sizeof(h));
	h.checksum = 0;
	memcpy(img->buf + off, &h, sizeof(h));
	h.checksum = acpi_checksum(img->buf + off, h.length);
	memcpy(img->buf + off, &h, sizeof(h));
}

static int validate_config(const struct acpi_config *cfg)
{
	const struct acpi_pci *p = &cfg->pci;

	if (cfg->ncpus == 0 || cfg->ncpus > ACPI_MAX_CPUS || !cfg->apic_ids)
		return -EINVAL;
	if (cfg->n_virtio_mmio > ACPI_MAX_VIRTIO_MMIO || cfg->slp_typ_s5 > 7)
		return -EINVAL;
	for (unsigned i = 0; i < cfg->n_virtio_mmio; i++) {
		const struct acpi_virtio_mmio *v = &cfg->virtio_mmio[i];
		uint64_t end;

		if (v->len == 0 || ckd_add(&end, v->base, v->len) || end > LAYOUT_HIGHMEM)
			return -EINVAL;
	}
	if (!p->enabled)
		return 0;
	if (p->bus_end < p->bus_start)
		return -EINVAL;
	if (p->mmio32_size) {
		uint64_t end;

		if (ckd_add(&end, p->mmio32_base, p->mmio32_size) || end > LAYOUT_HIGHMEM)
			return -EINVAL;
	}
	if (p->mmio64_size && p->mmio64_base + p->mmio64_size - 1 < p->mmio64_base)
		return -EINVAL;
	return 0;
}

/* ---- DSDT ---- */

static void dsdt_cpus(struct aml *a, const struct acpi_config *cfg)
{
	char name[8];

	for (unsigned i = 0; i < cfg->ncpus; i++) {
		size_t d;

		snprintf(name, sizeof(name), "C%03X", i & 0xfff);
		d = aml_device_begin(a, name);
		aml_name_string(a, "_HID", "ACPI0007");
		aml_name_integer(a, "_UID", i);
		aml_end(a, d);
	}
}

static void dsdt_legacy(struct aml *a, const struct acpi_config *cfg)
{
	size_t d, rt;

	d = aml_device_begin(a, "COM1");
	aml_name_eisaid(a, "_HID", "PNP0501");
	aml_name_integer(a, "_UID", 1);
	aml_name(a, "_CRS");
	rt = aml_rt_begin(a);
	aml_rd_io(a, LAYOUT_PORT_COM1, LAYOUT_PORT_COM1, 1, 8);
	aml_rd_irq_noflags(a, LAYOUT_IRQ_COM1);
	aml_rt_end(a, rt);
	aml_end(a, d);

	d = aml_device_begin(a, "RTC");
	aml_name_eisaid(a, "_HID", "PNP0B00");
	aml_name(a, "_CRS");
	rt = aml_rt_begin(a);
	aml_rd_io(a, LAYOUT_PORT_RTC, LAYOUT_PORT_RTC, 1, 2);
	aml_rd_irq_noflags(a, LAYOUT_IRQ_RTC);
	aml_rt_end(a, rt);
	aml_end(a, d);

	if (cfg->has_i8042) {
		d = aml_device_begin(a, "KBD");
		aml_name_eisaid(a, "_HID", "PNP0303");
		aml_name(a, "_CRS");
		rt = aml_rt_begin(a);
		aml_rd_io(a, LAYOUT_PORT_I8042, LAYOUT_PORT_I8042, 1, 1);
		aml_rd_io(a, LAYOUT_PORT_I8042 + 4, LAYOUT_PORT_I8042 + 4, 1, 1);
		aml_rd_irq_noflags(a, 1);
		aml_rt_end(a, rt);
		aml_end(a, d);
	}

	d = aml_device_begin(a, "FWCF");
	aml_name_string(a, "_HID", "QEMU0002");
	aml_name_integer(a, "_STA", 0x0b); /* present, enabled, not shown in UI */
	aml_name(a, "_CRS");
	rt = aml_rt_begin(a);
	aml_rd_io(a, LAYOUT_PORT_FW_CFG, LAYOUT_PORT_FW_CFG, 1, 0x0c);
	aml_rt_end(a, rt);
	aml_end(a, d);
}

static void dsdt_virtio(struct aml *a, const struct acpi_config *cfg)
{
	char name[8];

	for (unsigned i = 0; i < cfg->n_virtio_mmio; i++) {
		const struct acpi_virtio_mmio *v = &cfg->virtio_mmio[i];
		size_t d, rt;

		snprintf(name, sizeof(name), "VR%02X", i & 0xff);
		d = aml_device_begin(a, name);
		aml_name_string(a, "_HID", "LNRO0005");
		aml_name_integer(a, "_UID", i);
		aml_name(a, "_CRS");
		rt = aml_rt_begin(a);
		aml_rd_memory32_fixed(a, (uint32_t)v->base, v->len, 1);
		aml_rd_interrupt(a, v->gsi, v->edge, 0);
		aml_rt_end(a, rt);
		aml_end(a, d);
	}
}

/* _PRT: for every slot and pin, INTx (pin + slot) % 4 -> its GSI (the PCI-to-PCI swizzle). */
static void dsdt_pci_prt(struct aml *a, const struct acpi_pci *p)
{
	size_t pkg;

	aml_name(a, "_PRT");
	pkg = aml_package_begin(a, 128);
	for (unsigned slot = 0; slot < 32; slot++) {
		for (unsigned pin = 0; pin < 4; pin++) {
			size_t e = aml_package_begin(a, 4);

			aml_integer(a, ((uint64_t)slot << 16) | 0xffff);
			aml_integer(a, pin);
			aml_integer(a, 0); /* source: global system interrupt */
			aml_integer(a, p->intx_gsi[(slot + pin) % 4]);
			aml_end(a, e);
		}
	}
	aml_end(a, pkg);
}

static void dsdt_pci(struct aml *a, const struct acpi_pci *p)
{
	size_t d, rt;

	d = aml_device_begin(a, "PCI0");
	aml_name_eisaid(a, "_HID", "PNP0A08");
	aml_name_eisaid(a, "_CID", "PNP0A03");
	aml_name_integer(a, "_UID", 0);
	aml_name_integer(a, "_SEG", 0);
	aml_name_integer(a, "_BBN", p->bus_start);
	aml_name(a, "_CRS");
	rt = aml_rt_begin(a);
	aml_rd_word_bus_number(a, p->bus_start, p->bus_end);
	aml_rd_io(a, LAYOUT_PORT_PCI_CONFIG, LAYOUT_PORT_PCI_CONFIG, 1, 8);
	aml_rd_word_io(a, 0x0000, LAYOUT_PORT_PCI_CONFIG - 1);
	aml_rd_word_io(a, LAYOUT_PORT_PCI_CONFIG + 8, 0xffff);
	if (p->mmio32_size)
		aml_rd_dword_memory(a, (uint32_t)p->mmio32_base,
				    (uint32_t)(p->mmio32_base + p->mmio32_size - 1));
	if (p->mmio64_size)
		aml_rd_qword_memory(a, p->mmio64_base, p->mmio64_base + p->mmio64_size - 1);
	aml_rt_end(a, rt);
	dsdt_pci_prt(a, p);
	aml_end(a, d);

	if (!p->ecam)
		return;
	/* Motherboard resource: Linux only trusts MMCONFIG that ACPI reserves. */
	d = aml_device_begin(a, "MRES");
	aml_name_eisaid(a, "_HID", "PNP0C02");
	aml_name_integer(a, "_UID", 1);
	aml_name(a, "_CRS");
	rt = aml_rt_begin(a);
	aml_rd_memory32_fixed(a, (uint32_t)(p->ecam_base + ((uint64_t)p->bus_start << 20)),
			      (uint32_t)((uint64_t)(p->bus_end - p->bus_start + 1) << 20), 0);
	aml_rt_end(a, rt);
	aml_end(a, d);
}

static int build_dsdt(struct acpi_img *img, const struct acpi_config *cfg, size_t *out)
{
	struct acpi_hdr h;
	struct aml a;
	size_t off, len, sb, pkg;
	int err;

	err = img_alloc(img, sizeof(h), 8, &off);
	if (err)
		return err;
	aml_init(&a, img->buf + img->off, img->cap - img->off);

	aml_name(&a, "\\_S5");
	pkg = aml_package_begin(&a, 4);
	aml_integer(&a, cfg->slp_typ_s5); /* SLP_TYPa */
	aml_integer(&a, cfg->slp_typ_s5); /* SLP_TYPb */
	aml_integer(&a, 0);
	aml_integer(&a, 0);
	aml_end(&a, pkg);

	sb = aml_scope_begin(&a, "\\_SB");
	dsdt_cpus(&a, cfg);
	dsdt_legacy(&a, cfg);
	dsdt_virtio(&a, cfg);
	if (cfg->pci.enabled)
		dsdt_pci(&a, &cfg->pci);
	aml_end(&a, sb);

	err = aml_finish(&a, &len);
	if (err)
		return err;
	if (len > UINT32_MAX - sizeof(h))
		return -ENOSPC;
	img->off += len;
	hdr_init(&h, "DSDT", (uint32_t)(sizeof(h) + len), 2);
	memcpy(img->buf + off, &h, sizeof(h));
	table_seal(img, off);
	*out = off;
	return 0;
}

/* ---- FADT, FACS ---- */

static struct acpi_gas gas_io(uint16_t port, uint8_t bytes, uint8_t access)
{
	return (struct acpi_gas){.space_id = 1,
				 .bit_width = (uint8_t)(bytes * 8),
				 .access_size = access,
				 .address = port};
}

static int build_facs(struct acpi_img *img, size_t *out)
{
	struct acpi_facs f = {.length = sizeof(f), .version = 2};
	int err = img_alloc(img, sizeof(f), 64, out);

	if (err)
		return err;
	memcpy(f.sig, "FACS", 4);
	memcpy(img->buf + *out, &f, sizeof(f));
	return 0;
}

static int build_fadt(struct acpi_img *img, const struct acpi_config *cfg, size_t facs, size_t dsdt,
		      size_t *out)
{
	struct acpi_fadt f;
	const uint16_t pm = LAYOUT_PORT_ACPI_PM;
	int err = img_alloc(img, sizeof(f), 8, out);

	if (err)
		return err;
	memset(&f, 0, sizeof(f));
	hdr_init(&f.h, "FACP", sizeof(f), 6);
	f.firmware_ctrl = (uint32_t)(img->base + facs);
	f.dsdt = (uint32_t)(img->base + dsdt);
	f.x_firmware_ctrl = img->base + facs;
	f.x_dsdt = img->base + dsdt;
	f.sci_int = LAYOUT_IRQ_ACPI_SCI;
	f.smi_cmd = 0; /* ACPI is always enabled: no SMI command port */
	f.pm1a_evt_blk = pm;
	f.pm1a_cnt_blk = pm + 4;
	f.pm_tmr_blk = pm + 8;
	f.pm1_evt_len = 4;
	f.pm1_cnt_len = 2;
	f.pm_tmr_len = 4;
	f.x_pm1a_evt_blk = gas_io(pm, 4, 2);
	f.x_pm1a_cnt_blk = gas_io(pm + 4, 2, 2);
	f.x_pm_tmr_blk = gas_io(pm + 8, 4, 3);
	f.p_lvl2_lat = 101;  /* > 100: C2 not supported */
	f.p_lvl3_lat = 1001; /* > 1000: C3 not supported */
	f.century = 0x32;    /* CMOS century register */
	f.iapc_boot_arch = FADT_BOOT_NO_VGA | (cfg->has_i8042 ? FADT_BOOT_8042 : 0);
	f.flags = FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_SLP_BUTTON | FADT_F_RESET_REG_SUP;
	f.reset_reg = gas_io(LAYOUT_PORT_RESET, 1, 1);
	f.reset_value = 0x06; /* CPU reset + system reset */
	f.minor_version = 0;
	memcpy(img->buf + *out, &f, sizeof(f));
	table_seal(img, *out);
	return 0;
}

/* ---- MADT ---- */

static int img_put(struct acpi_img *img, const void *p, size_t len)
{
	size_t off;
	int err = img_alloc(img, len, 1, &off);

	if (!err)
		memcpy(img->buf + off, p, len);
	return err;
}

static int madt_cpus(struct acpi_img *img, const struct acpi_config *cfg)
{
	int err = 0;

	for (unsigned i = 0; !err && i < cfg->ncpus; i++) {
		uint32_t id = cfg->apic_ids[i];

		if (id < 0xff && i < 0xff) {
			struct madt_lapic e = {0, sizeof(e), (uint8_t)i, (uint8_t)id, 1};

			err = img_put(img, &e, sizeof(e));
		} else {
			struct madt_x2apic e = {9, sizeof(e), 0, id, 1, i};

			err = img_put(img, &e, sizeof(e));
		}
	}
	return err;
}

static int build_madt(struct acpi_img *img, const struct acpi_config *cfg, size_t *out)
{
	struct acpi_madt t;
	struct madt_ioapic io = {1, sizeof(io), 0, 0, LAYOUT_IOAPIC, 0};
	/* IRQ0 -> GSI2 (the PIT on pin 2), conforming; IRQ9 (SCI) level, active high. */
	struct madt_iso iso0 = {2, sizeof(iso0), 0, 0, 2, 0};
	struct madt_iso iso9 = {2,     sizeof(iso9), 0, LAYOUT_IRQ_ACPI_SCI, LAYOUT_IRQ_ACPI_SCI,
				0x000d};
	/* NMI on LINT1 of every processor (UID 0xff), conforming. */
	struct madt_lapic_nmi nmi = {4, sizeof(nmi), 0xff, 0, 1};
	int err = img_alloc(img, sizeof(t), 8, out);

	if (!err)
		err = madt_cpus(img, cfg);
	if (!err)
		err = img_put(img, &io, sizeof(io));
	if (!err)
		err = img_put(img, &iso0, sizeof(iso0));
	if (!err)
		err = img_put(img, &iso9, sizeof(iso9));
	if (!err)
		err = img_put(img, &nmi, sizeof(nmi));
	if (err)
		return err;
	memset(&t, 0, sizeof(t));
	hdr_init(&t.h, "APIC", (uint32_t)(img->off - *out), 4);
	t.lapic_addr = LAYOUT_LAPIC;
	t.flags = MADT_PCAT_COMPAT;
	memcpy(img->buf + *out, &t, sizeof(t));
	table_seal(img, *out);
	return 0;
}

static int build_mcfg(struct acpi_img *img, const struct acpi_pci *p, size_t *out)
{
	struct acpi_hdr h;
	struct acpi_mcfg_alloc e = {p->ecam_base, 0, p->bus_start, p->bus_end, 0};
	size_t len = sizeof(h) + 8 + sizeof(e);
	int err = img_alloc(img, len, 8, out);

	if (err)
		return err;
	hdr_init(&h, "MCFG", (uint32_t)len, 1);
	memcpy(img->buf + *out, &h, sizeof(h));
	memcpy(img->buf + *out + sizeof(h) + 8, &e, sizeof(e));
	table_seal(img, *out);
	return 0;
}

/* RSDT (entry size 4) or XSDT (entry size 8) listing tables[0, n). */
static int build_sdt(struct acpi_img *img, const char *sig, unsigned esz, const size_t *tables,
		     unsigned n, size_t *out)
{
	struct acpi_hdr h;
	size_t len = sizeof(h) + (size_t)esz * n;
	int err = img_alloc(img, len, 8, out);

	if (err)
		return err;
	hdr_init(&h, sig, (uint32_t)len, 1);
	memcpy(img->buf + *out, &h, sizeof(h));
	for (unsigned i = 0; i < n; i++) {
		uint64_t gpa = img->base + tables[i];

		memcpy(img->buf + *out + sizeof(h) + (size_t)esz * i, &gpa, esz);
	}
	table_seal(img, *out);
	return 0;
}

static int build_rsdp(struct acpi_img *img, size_t rsdp, size_t rsdt, size_t xsdt)
{
	struct acpi_rsdp r;

	memset(&r, 0, sizeof(r));
	memcpy(r.sig, "RSD PTR ", 8);
	memcpy(r.oem_id, ACPI_OEM_ID, 6);
	r.revision = 2;
	r.rsdt = (uint32_t)(img->base + rsdt);
	r.length = sizeof(r);
	r.xsdt = img->base + xsdt;
	r.checksum = acpi_checksum(&r, 20);
	r.ext_checksum = acpi_checksum(&r, sizeof(r));
	memcpy(img->buf + rsdp, &r, sizeof(r));
	return 0;
}

int acpi_build_image(const struct acpi_config *cfg, uint8_t *buf, size_t cap, gpa_t base,
		     size_t *len)
{
	struct acpi_img img = {buf, cap, 0, base};
	size_t rsdp, facs, dsdt, tables[ACPI_MAX_TABLES], rsdt, xsdt;
	unsigned n = 0;
	uint64_t end;
	int err;

	err = validate_config(cfg);
	if (err)
		return err;
	if (ckd_add(&end, base, cap) || end > LAYOUT_HIGHMEM)
		return -EINVAL; /* RSDT and FADT carry 32-bit pointers */
	err = img_alloc(&img, sizeof(struct acpi_rsdp), 16, &rsdp);
	if (!err)
		err = build_facs(&img, &facs);
	if (!err)
		err = build_dsdt(&img, cfg, &dsdt);
	if (!err)
		err = build_fadt(&img, cfg, facs, dsdt, &tables[n++]);
	if (!err)
		err = build_madt(&img, cfg, &tables[n++]);
	if (!err && cfg->pci.enabled && cfg->pci.ecam)
		err = build_mcfg(&img, &cfg->pci, &tables[n++]);
	if (!err)
		err = build_sdt(&img, "RSDT", 4, tables, n, &rsdt);
	if (!err)
		err = build_sdt(&img, "XSDT", 8, tables, n, &xsdt);
	if (!err)
		err = build_rsdp(&img, rsdp, rsdt, xsdt);
	if (err)
		return err;
	*len = img.off;
	return 0;
}

int acpi_build(const struct gmem *m, const struct acpi_config *cfg, gpa_t *rsdp_out)
{
	uint8_t *buf;
	size_t len;
	int err;

	buf = calloc(1, LAYOUT_ACPI_MAX);
	if (!buf)
		return -ENOMEM;
	err = acpi_build_image(cfg, buf, LAYOUT_ACPI_MAX, LAYOUT_ACPI, &len);
	if (err)
		goto out_free;
	err = gmem_write(m, LAYOUT_ACPI, buf, len);
	if (err)
		goto out_free;
	*rsdp_out = LAYOUT_ACPI;
out_free:
	free(buf);
	return err;
}
