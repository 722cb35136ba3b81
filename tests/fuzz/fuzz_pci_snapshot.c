/* Fuzz target: the snapshot loaders of a virtio-pci function (pci_dev_load, pci_msix_load,
 * virtio_dev_load, virtio_pci_load; in the VMM's order) on states derived from a valid one.
 * Function A (virtio-rng on 64 KiB of guest RAM, MSI-X, behind a PCI host) is programmed as a
 * driver would and saved; the input edits that state; the result is loaded into a fresh
 * function B, which is then driven (BAR and table reads, kicks, completions, MSI-X notifies, an
 * ISR read). Nothing may crash or touch memory outside guest RAM (ASan); a vector the function
 * does not have is never sent; a config space that loaded saves back byte for byte.
 *
 * Input: records of 3 bytes {offset (u16 LE), xor}: byte `offset % sizeof(state)` of the
 * saved state (struct pci_dev_state, pci_msix_state, virtio_dev_state, virtio_pci_state, in
 * that order) is XORed with `xor`. An empty input loads the valid state. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "devices/pci/host.h"
#include "devices/virtio/pci.h"
#include "devices/virtio/rng.h"
#include "mem/gmem.h"

#define FUZZ_RAM (64u << 10)
#define WIN	 0xc0000000ull
#define BAR4	 WIN
#define BAR1	 (WIN + 0x10000)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct all_state {
	struct pci_dev_state d;
	struct pci_msix_state m;
	struct virtio_dev_state v;
	struct virtio_pci_state t;
};

struct fn {
	struct virtio_rng *rng;
	struct virtio_pci *t;
	struct pci_host *h;
	unsigned slot;
};

static int irq_set(void *ctx, bool level)
{
	(void)ctx;
	(void)level;
	return 0;
}

static int msi_send(void *ctx, unsigned v, const struct pci_msi_msg *m)
{
	(void)ctx;
	(void)m;
	if (v >= 2)
		abort(); /* the function has two vectors */
	return 0;
}

static const struct pci_msi_ops msi_ops = {msi_send, NULL};

static void fn_free(struct fn *f)
{
	pci_host_destroy(f->h);
	virtio_pci_destroy(f->t);
	virtio_rng_destroy(f->rng);
}

static int fn_make(struct fn *f, struct gmem *m)
{
	struct virtio_pci_opts o = {.intx = {irq_set, NULL}, .msi = &msi_ops};

	memset(f, 0, sizeof(*f));
	if (virtio_rng_create(&f->rng, m, 1u << 20, NULL, NULL) ||
	    virtio_pci_create(&f->t, virtio_rng_dev(f->rng), &o) ||
	    pci_host_create(&f->h, WIN, 0x100000) ||
	    pci_host_add(f->h, virtio_pci_dev(f->t), &f->slot))
		return -1;
	return 0;
}

static void cfg_wr(struct fn *f, uint32_t reg, uint32_t v, uint32_t len)
{
	pci_host_ecam_ops.write(f->h, ((uint64_t)f->slot << 15) | reg, &v, len);
}

static void mwr(struct fn *f, uint64_t addr, uint64_t v, uint32_t len)
{
	pci_host_mmio_ops.write(f->h, addr - WIN, &v, len);
}

static uint64_t mrd(struct fn *f, uint64_t addr, uint32_t len)
{
	uint64_t v = 0;

	pci_host_mmio_ops.read(f->h, addr - WIN, &v, len);
	return v;
}

/* A driver's set-up of A: BARs, MSI-X (vector 0 masked), queue 0 at 0x1000 on vector 1. */
static void program(struct fn *f)
{
	uint8_t cap = virtio_pci_dev(f->t)->cfg[PCI_CAP_PTR];

	cfg_wr(f, PCI_BAR0 + 4 * VIRTIO_PCI_BAR, (uint32_t)BAR4, 4);
	cfg_wr(f, PCI_BAR0 + 4 * VIRTIO_PCI_MSIX_BAR, (uint32_t)BAR1, 4);
	cfg_wr(f, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	for (unsigned v = 0; v < 2; v++) {
		mwr(f, BAR1 + 16 * v, 0xfee00000u, 4);
		mwr(f, BAR1 + 16 * v + 8, 0x40 + v, 4);
		mwr(f, BAR1 + 16 * v + 12, v == 0, 4);
	}
	cfg_wr(f, cap + 2u, PCI_MSIX_CTRL_ENABLE, 2);
	mwr(f, BAR4 + VIRTIO_PCI_COMMON_STATUS, 1, 1);
	mwr(f, BAR4 + VIRTIO_PCI_COMMON_STATUS, 3, 1);
	mwr(f, BAR4 + VIRTIO_PCI_COMMON_GFSELECT, 1, 4);
	mwr(f, BAR4 + VIRTIO_PCI_COMMON_GF, 1, 4);
	mwr(f, BAR4 + VIRTIO_PCI_COMMON_STATUS, 0x0b, 1);
	mwr(f, BAR4 + VIRTIO_PCI_COMMON_Q_SIZE, 16, 2);
	mwr(f, BAR4 + VIRTIO_PCI_COMMON_Q_MSIX, 1, 2);
	mwr(f, BAR4 + VIRTIO_PCI_COMMON_Q_DESCLO, 0x1000, 8);
	mwr(f, BAR4 + VIRTIO_PCI_COMMON_Q_AVAILLO, 0x2000, 8);
	mwr(f, BAR4 + VIRTIO_PCI_COMMON_Q_USEDLO, 0x3000, 8);
	mwr(f, BAR4 + VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);
	mwr(f, BAR4 + VIRTIO_PCI_COMMON_STATUS, 0x0f, 1);
	(void)pci_msix_notify(virtio_pci_msix(f->t), 0); /* pending on the masked vector */
}

static void drive(struct fn *f)
{
	struct virtio_dev *vd = virtio_pci_vdev(f->t);

	for (uint64_t off = 0; off < VIRTIO_PCI_COMMON_SIZE; off += 4)
		(void)mrd(f, BAR4 + off, 4);
	for (uint64_t off = 0; off < 64; off += 4)
		(void)mrd(f, BAR1 + off, 4);
	(void)mrd(f, BAR1 + VIRTIO_PCI_MSIX_PBA, 8);
	virtio_pci_kick(f->t, 0);
	mwr(f, BAR4 + VIRTIO_PCI_NOTIFY_OFF, 0, 2);
	vd->tr_ops->notify_queue(vd->tr, 0);
	vd->tr_ops->notify_config(vd->tr);
	for (unsigned v = 0; v < PCI_MSIX_MAX_VECTORS; v++)
		(void)pci_msix_notify(virtio_pci_msix(f->t), v);
	mwr(f, BAR1 + 12, 0, 4); /* unmask vector 0 */
	(void)mrd(f, BAR4 + VIRTIO_PCI_ISR_OFF, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fn a = {0}, b = {0};
	struct gmem_region r;
	struct gmem *m = NULL;
	struct all_state s;
	struct pci_dev_state again;
	uint8_t *ram, *p = (uint8_t *)&s;
	int e;

	ram = mmap(NULL, FUZZ_RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED)
		return 0;
	r = (struct gmem_region){0, FUZZ_RAM, ram, 0};
	if (gmem_create(&m, &r, 1) || fn_make(&a, m) || fn_make(&b, m))
		goto out;
	program(&a);
	pci_dev_save(virtio_pci_dev(a.t), &s.d);
	pci_msix_save(virtio_pci_msix(a.t), &s.m);
	virtio_dev_save(virtio_pci_vdev(a.t), &s.v);
	virtio_pci_save(a.t, &s.t);
	for (; size >= 3; data += 3, size -= 3)
		p[((size_t)data[0] | (size_t)data[1] << 8) % sizeof(s)] ^= data[2];
	e = pci_dev_load(virtio_pci_dev(b.t), &s.d);
	if (!e) {
		pci_dev_save(virtio_pci_dev(b.t), &again);
		if (memcmp(again.cfg, s.d.cfg, sizeof(again.cfg)))
			abort();
		e = pci_msix_load(virtio_pci_msix(b.t), &s.m);
	}
	if (!e)
		e = virtio_dev_load(virtio_pci_vdev(b.t), &s.v);
	if (!e)
		e = virtio_pci_load(b.t, &s.t);
	drive(&b); /* whatever part loaded */
out:
	fn_free(&a);
	fn_free(&b);
	gmem_destroy(m);
	munmap(ram, FUZZ_RAM);
	return 0;
}
