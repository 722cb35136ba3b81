/* Unit tests for the virtio modern PCI transport (devices/virtio/pci.c), driven by a fake guest
 * through the PCI host as a driver would: identification and the capability list through
 * ECAM, BAR programming, negotiation and queue set-up through the common configuration,
 * notifications, INTx with the ISR, MSI-X vectors, the PCI_CFG access window, reset, and
 * hostile accesses. The device behind it is virtio-rng on vq_builder memory. */
#include "lib/harness.h"

#include <string.h>

#include "devices/pci/host.h"
#include "devices/virtio/pci.h"
#include "devices/virtio/rng.h"
#include "lib/fake_irq.h"
#include "lib/vq_builder.h"

#define WIN  0xc0000000ull
#define BAR4 0xc0000000ull
#define BAR1 0xc0010000ull

struct msi_log {
	unsigned sent;
	unsigned vec[16];
};

static int log_send(void *ctx, unsigned v, const struct pci_msi_msg *m)
{
	struct msi_log *l = ctx;

	(void)m;
	if (l->sent < 16)
		l->vec[l->sent] = v;
	l->sent++;
	return 0;
}

static const struct pci_msi_ops log_ops = {log_send, NULL};

struct fx {
	struct vqb b;
	struct fake_irq irq;
	struct msi_log msi;
	struct virtio_rng *rng;
	struct virtio_pci *t;
	struct pci_host *h;
	unsigned slot;
};

static uint32_t cfg_rd(struct fx *f, uint32_t reg, uint32_t len)
{
	uint32_t v = 0;

	pci_host_ecam_ops.read(f->h, ((uint64_t)f->slot << 15) | reg, &v, len);
	return v;
}

static void cfg_wr(struct fx *f, uint32_t reg, uint32_t v, uint32_t len)
{
	pci_host_ecam_ops.write(f->h, ((uint64_t)f->slot << 15) | reg, &v, len);
}

static uint64_t mrd(struct fx *f, uint64_t addr, uint32_t len)
{
	uint64_t v = 0;

	pci_host_mmio_ops.read(f->h, addr - WIN, &v, len);
	return v;
}

static void mwr(struct fx *f, uint64_t addr, uint64_t v, uint32_t len)
{
	pci_host_mmio_ops.write(f->h, addr - WIN, &v, len);
}

#define COMMON(off) (BAR4 + VIRTIO_PCI_COMMON_OFF + (off))

static struct fx *make(bool msix)
{
	static struct fx f;
	struct virtio_pci_opts o;

	memset(&f, 0, sizeof(f));
	vqb_init(&f.b, 16);
	fake_irq_init(&f.irq);
	assert_int_equal(virtio_rng_create(&f.rng, f.b.mem, 1u << 20, NULL, NULL), 0);
	o = (struct virtio_pci_opts){
	    .intx = f.irq.line, .msi = msix ? &log_ops : NULL, .msi_ctx = &f.msi};
	assert_int_equal(virtio_pci_create(&f.t, virtio_rng_dev(f.rng), &o), 0);
	assert_int_equal(pci_host_create(&f.h, WIN, 0x10000000), 0);
	assert_int_equal(pci_host_add(f.h, virtio_pci_dev(f.t), &f.slot), 0);
	return &f;
}

static int setup_msix(void **state)
{
	*state = make(true);
	return 0;
}

static int setup_intx(void **state)
{
	*state = make(false);
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	pci_host_destroy(f->h);
	virtio_pci_destroy(f->t);
	virtio_rng_destroy(f->rng);
	fake_irq_fini(&f->irq);
	vqb_fini(&f->b);
	return 0;
}

/* Program the BARs and turn on memory decoding and bus mastering. */
static void map_bars(struct fx *f)
{
	cfg_wr(f, PCI_BAR0 + 4 * VIRTIO_PCI_BAR, (uint32_t)BAR4, 4);
	cfg_wr(f, PCI_BAR0 + 4 * VIRTIO_PCI_BAR + 4, 0, 4);
	cfg_wr(f, PCI_BAR0 + 4 * VIRTIO_PCI_MSIX_BAR, (uint32_t)BAR1, 4);
	cfg_wr(f, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
}

static void driver_init(struct fx *f, uint16_t qsize)
{
	map_bars(f);
	mwr(f, COMMON(VIRTIO_PCI_COMMON_STATUS), 0, 1);
	mwr(f, COMMON(VIRTIO_PCI_COMMON_STATUS), 1, 1);
	mwr(f, COMMON(VIRTIO_PCI_COMMON_STATUS), 3, 1);
	mwr(f, COMMON(VIRTIO_PCI_COMMON_DFSELECT), 1, 4);
	assert_int_equal(mrd(f, COMMON(VIRTIO_PCI_COMMON_DF), 4) & 1, 1); /* VERSION_1 */
	mwr(f, COMMON(VIRTIO_PCI_COMMON_GFSELECT), 1, 4);
	mwr(f, COMMON(VIRTIO_PCI_COMMON_GF), 1, 4);
	mwr(f, COMMON(VIRTIO_PCI_COMMON_STATUS), 0x0b, 1);
	assert_int_equal(mrd(f, COMMON(VIRTIO_PCI_COMMON_STATUS), 1), 0x0b);
	mwr(f, COMMON(VIRTIO_PCI_COMMON_Q_SELECT), 0, 2);
	assert_int_equal(mrd(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2), 256);
	mwr(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), qsize, 2);
	/* Linux writes 64-bit fields as two 32-bit halves */
	mwr(f, COMMON(VIRTIO_PCI_COMMON_Q_DESCLO), VQB_DESC_GPA, 4);
	mwr(f, COMMON(VIRTIO_PCI_COMMON_Q_DESCHI), 0, 4);
	mwr(f, COMMON(VIRTIO_PCI_COMMON_Q_AVAILLO), VQB_AVAIL_GPA, 8);
	mwr(f, COMMON(VIRTIO_PCI_COMMON_Q_USEDLO), VQB_USED_GPA, 4);
	mwr(f, COMMON(VIRTIO_PCI_COMMON_Q_USEDHI), 0, 4);
	mwr(f, COMMON(VIRTIO_PCI_COMMON_Q_ENABLE), 1, 2);
	mwr(f, COMMON(VIRTIO_PCI_COMMON_STATUS), 0x0f, 1);
	assert_int_equal(mrd(f, COMMON(VIRTIO_PCI_COMMON_STATUS), 1), 0x0f);
}

/* Find the vendor capability of cfg_type; its config offset or 0. */
static uint8_t find_cap(struct fx *f, uint8_t type)
{
	uint8_t p = (uint8_t)cfg_rd(f, PCI_CAP_PTR, 1);

	for (unsigned hops = 0; p && hops < 48; hops++) {
		if (cfg_rd(f, p, 1) == PCI_CAP_ID_VNDR && cfg_rd(f, p + 3u, 1) == type)
			return p;
		p = (uint8_t)cfg_rd(f, p + 1u, 1);
	}
	return 0;
}

static void test_identity_and_caps(void **state)
{
	struct fx *f = *state;
	uint8_t c;

	assert_int_equal(cfg_rd(f, PCI_VENDOR_ID, 2), VIRTIO_PCI_VENDOR);
	assert_int_equal(cfg_rd(f, PCI_DEVICE_ID, 2), 0x1044); /* 0x1040 + rng */
	assert_int_equal(cfg_rd(f, PCI_REVISION_ID, 1), 1);
	assert_int_equal(cfg_rd(f, PCI_REVISION_ID, 4) >> 8, 0x00ff00);
	assert_int_equal(cfg_rd(f, PCI_SUBSYS_VENDOR, 2), VIRTIO_PCI_VENDOR);
	assert_int_equal(cfg_rd(f, PCI_INTERRUPT_PIN, 1), 1);
	/* BAR 4: 64-bit prefetchable, 16 KiB; BAR 1: 32-bit, 4 KiB */
	cfg_wr(f, PCI_BAR0 + 16, 0xffffffff, 4);
	assert_int_equal(cfg_rd(f, PCI_BAR0 + 16, 4), 0xffffc00c);
	cfg_wr(f, PCI_BAR0 + 4, 0xffffffff, 4);
	assert_int_equal(cfg_rd(f, PCI_BAR0 + 4, 4), 0xfffff000);
	c = find_cap(f, VIRTIO_PCI_CAP_COMMON_CFG);
	assert_true(c != 0);
	assert_int_equal(cfg_rd(f, c + 4u, 1), VIRTIO_PCI_BAR);
	assert_int_equal(cfg_rd(f, c + 8u, 4), VIRTIO_PCI_COMMON_OFF);
	assert_int_equal(cfg_rd(f, c + 12u, 4), VIRTIO_PCI_COMMON_SIZE);
	c = find_cap(f, VIRTIO_PCI_CAP_NOTIFY_CFG);
	assert_true(c != 0);
	assert_int_equal(cfg_rd(f, c + 2u, 1), 20);
	assert_int_equal(cfg_rd(f, c + 8u, 4), VIRTIO_PCI_NOTIFY_OFF);
	assert_int_equal(cfg_rd(f, c + 16u, 4), VIRTIO_PCI_NOTIFY_MULT);
	c = find_cap(f, VIRTIO_PCI_CAP_ISR_CFG);
	assert_true(c != 0 && cfg_rd(f, c + 8u, 4) == VIRTIO_PCI_ISR_OFF);
	assert_int_equal(find_cap(f, VIRTIO_PCI_CAP_DEVICE_CFG), 0); /* rng: no config */
	assert_true(find_cap(f, VIRTIO_PCI_CAP_PCI_CFG) != 0);
	/* the MSI-X capability: 2 vectors (config + one queue), table in BAR 1 */
	{
		uint8_t p = (uint8_t)cfg_rd(f, PCI_CAP_PTR, 1);

		assert_int_equal(cfg_rd(f, p, 1), PCI_CAP_ID_MSIX);
		assert_int_equal(cfg_rd(f, p + 2u, 2), 1);
		assert_int_equal(cfg_rd(f, p + 4u, 4), VIRTIO_PCI_MSIX_BAR);
		assert_int_equal(cfg_rd(f, p + 8u, 4), VIRTIO_PCI_MSIX_PBA | VIRTIO_PCI_MSIX_BAR);
	}
}

static void test_intx_request(void **state)
{
	struct fx *f = *state;
	struct vqb_seg s[1] = {{64, true, 0}};
	static const uint8_t zero[64];

	driver_init(f, 16);
	assert_int_equal(mrd(f, COMMON(VIRTIO_PCI_COMMON_NUMQ), 2), 1);
	assert_int_equal(mrd(f, COMMON(VIRTIO_PCI_COMMON_Q_NOFF), 2), 0);
	/* no MSI-X capability at all: vectors read back NO_VECTOR */
	mwr(f, COMMON(VIRTIO_PCI_COMMON_MSIX), 0, 2);
	assert_int_equal(mrd(f, COMMON(VIRTIO_PCI_COMMON_MSIX), 2), VIRTIO_PCI_NO_VECTOR);
	vqb_add_chain(&f->b, s, 1, false);
	mwr(f, BAR4 + VIRTIO_PCI_NOTIFY_OFF, 0, 2);
	assert_int_equal(vqb_used_idx(&f->b), 1);
	assert_int_equal(vqb_used_elem(&f->b, 0).len, 64);
	assert_memory_not_equal(vqb_host(&f->b, s[0].gpa), zero, 64);
	assert_true(fake_irq_level(&f->irq));
	assert_true(cfg_rd(f, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	/* reading the ISR returns and clears it and lowers the line */
	assert_int_equal(mrd(f, BAR4 + VIRTIO_PCI_ISR_OFF, 1), VIRTIO_PCI_ISR_QUEUE);
	assert_false(fake_irq_level(&f->irq));
	assert_int_equal(mrd(f, BAR4 + VIRTIO_PCI_ISR_OFF, 1), 0);
	/* queue fields are frozen after DRIVER_OK */
	mwr(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2, 2);
	assert_int_equal(mrd(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2), 16);
	/* a notification by kick (the ioeventfd path) works the same */
	vqb_add_chain(&f->b, s, 1, false);
	virtio_pci_kick(f->t, 0);
	assert_int_equal(vqb_used_idx(&f->b), 2);
	/* INTx disabled in the command register: ISR set, line low */
	cfg_wr(f, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_DISABLE, 2);
	(void)mrd(f, BAR4 + VIRTIO_PCI_ISR_OFF, 1);
	vqb_add_chain(&f->b, s, 1, false);
	mwr(f, BAR4 + VIRTIO_PCI_NOTIFY_OFF, 0, 4);
	assert_int_equal(vqb_used_idx(&f->b), 3);
	assert_false(fake_irq_level(&f->irq));
	assert_int_equal(mrd(f, BAR4 + VIRTIO_PCI_ISR_OFF, 1), VIRTIO_PCI_ISR_QUEUE);
	/* reset */
	mwr(f, COMMON(VIRTIO_PCI_COMMON_STATUS), 0, 1);
	assert_int_equal(mrd(f, COMMON(VIRTIO_PCI_COMMON_STATUS), 1), 0);
	assert_int_equal(mrd(f, COMMON(VIRTIO_PCI_COMMON_Q_ENABLE), 2), 0);
	assert_int_equal(mrd(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2), 256);
}

static void test_msix_vectors(void **state)
{
	struct fx *f = *state;
	struct vqb_seg s[1] = {{16, true, 0}};
	uint8_t cap = (uint8_t)cfg_rd(f, PCI_CAP_PTR, 1);

	driver_init(f, 16);
	/* before the driver sets it, a queue has NO_VECTOR; out-of-range reads back NO_VECTOR */
	assert_int_equal(mrd(f, COMMON(VIRTIO_PCI_COMMON_Q_MSIX), 2), VIRTIO_PCI_NO_VECTOR);
	mwr(f, COMMON(VIRTIO_PCI_COMMON_Q_MSIX), 7, 2);
	assert_int_equal(mrd(f, COMMON(VIRTIO_PCI_COMMON_Q_MSIX), 2), VIRTIO_PCI_NO_VECTOR);
	mwr(f, COMMON(VIRTIO_PCI_COMMON_MSIX), 0, 2);
	mwr(f, COMMON(VIRTIO_PCI_COMMON_Q_MSIX), 1, 2);
	assert_int_equal(mrd(f, COMMON(VIRTIO_PCI_COMMON_Q_MSIX), 2), 1);
	/* enable MSI-X, program and unmask vector 1 */
	cfg_wr(f, cap + 2u, PCI_MSIX_CTRL_ENABLE, 2);
	mwr(f, BAR1 + 16, 0xfee00000, 4);
	mwr(f, BAR1 + 16 + 8, 0x41, 4);
	mwr(f, BAR1 + 16 + 12, 0, 4);
	vqb_add_chain(&f->b, s, 1, false);
	mwr(f, BAR4 + VIRTIO_PCI_NOTIFY_OFF, 0, 2);
	assert_int_equal(vqb_used_idx(&f->b), 1);
	assert_int_equal(f->msi.sent, 1);
	assert_int_equal(f->msi.vec[0], 1);
	assert_false(fake_irq_level(&f->irq)); /* no INTx with MSI-X on */
	assert_int_equal(mrd(f, BAR4 + VIRTIO_PCI_ISR_OFF, 1), 0);
	/* mask vector 1: the next completion pends in the PBA, unmask delivers it */
	mwr(f, BAR1 + 16 + 12, 1, 4);
	vqb_add_chain(&f->b, s, 1, false);
	mwr(f, BAR4 + VIRTIO_PCI_NOTIFY_OFF, 0, 2);
	assert_int_equal(f->msi.sent, 1);
	assert_int_equal(mrd(f, BAR1 + VIRTIO_PCI_MSIX_PBA, 8), 2);
	mwr(f, BAR1 + 16 + 12, 0, 4);
	assert_int_equal(f->msi.sent, 2);
	assert_int_equal(mrd(f, BAR1 + VIRTIO_PCI_MSIX_PBA, 8), 0);
	/* queue vector NO_VECTOR: no interrupt at all, not even INTx */
	mwr(f, COMMON(VIRTIO_PCI_COMMON_Q_MSIX), VIRTIO_PCI_NO_VECTOR, 2);
	vqb_add_chain(&f->b, s, 1, false);
	mwr(f, BAR4 + VIRTIO_PCI_NOTIFY_OFF, 0, 2);
	assert_int_equal(vqb_used_idx(&f->b), 3);
	assert_int_equal(f->msi.sent, 2);
	assert_false(fake_irq_level(&f->irq));
	/* reset puts the vectors back to NO_VECTOR */
	mwr(f, COMMON(VIRTIO_PCI_COMMON_STATUS), 0, 1);
	assert_int_equal(mrd(f, COMMON(VIRTIO_PCI_COMMON_MSIX), 2), VIRTIO_PCI_NO_VECTOR);
	assert_int_equal(mrd(f, COMMON(VIRTIO_PCI_COMMON_Q_MSIX), 2), VIRTIO_PCI_NO_VECTOR);
}

static void test_pci_cfg_window(void **state)
{
	struct fx *f = *state;
	uint8_t c = find_cap(f, VIRTIO_PCI_CAP_PCI_CFG);

	/* works without the BAR being mapped: status through the window */
	cfg_wr(f, c + 4u, VIRTIO_PCI_BAR, 1);
	cfg_wr(f, c + 8u, VIRTIO_PCI_COMMON_STATUS, 4);
	cfg_wr(f, c + 12u, 1, 4);
	cfg_wr(f, c + 16u, 1, 4); /* ACKNOWLEDGE */
	assert_int_equal(virtio_rng_dev(f->rng)->status, 1);
	assert_int_equal(cfg_rd(f, c + 16u, 1), 1);
	/* device features through the window */
	cfg_wr(f, c + 8u, VIRTIO_PCI_COMMON_DFSELECT, 4);
	cfg_wr(f, c + 12u, 4, 4);
	cfg_wr(f, c + 16u, 1, 4);
	cfg_wr(f, c + 8u, VIRTIO_PCI_COMMON_DF, 4);
	assert_int_equal(cfg_rd(f, c + 16u, 4) & 1, 1); /* VERSION_1 */
	/* bad windows: wrong BAR, misaligned, bad length, outside the BAR -> nothing happens */
	cfg_wr(f, c + 4u, 0, 1);
	cfg_wr(f, c + 8u, VIRTIO_PCI_COMMON_STATUS, 4);
	cfg_wr(f, c + 12u, 1, 4);
	cfg_wr(f, c + 16u, 0, 4);
	assert_int_equal(virtio_rng_dev(f->rng)->status, 1);
	cfg_wr(f, c + 4u, VIRTIO_PCI_BAR, 1);
	cfg_wr(f, c + 8u, 0x13, 4);
	cfg_wr(f, c + 12u, 2, 4);
	cfg_wr(f, c + 16u, 0, 4);
	cfg_wr(f, c + 12u, 3, 4);
	cfg_wr(f, c + 16u, 0, 4);
	cfg_wr(f, c + 8u, 0xfffffffc, 4);
	cfg_wr(f, c + 12u, 4, 4);
	cfg_wr(f, c + 16u, 0, 4);
	assert_int_equal(cfg_rd(f, c + 16u, 4), 0);
	assert_int_equal(virtio_rng_dev(f->rng)->status, 1);
}

static void test_hostile(void **state)
{
	struct fx *f = *state;

	map_bars(f);
	/* odd widths and misaligned accesses are ignored / read 0 */
	mwr(f, COMMON(VIRTIO_PCI_COMMON_STATUS), 0x0101, 2);
	assert_int_equal(virtio_rng_dev(f->rng)->status, 0);
	assert_int_equal(mrd(f, COMMON(0x13), 2), 0);
	assert_int_equal(mrd(f, COMMON(VIRTIO_PCI_COMMON_SIZE), 4), 0);
	mwr(f, COMMON(VIRTIO_PCI_COMMON_DFSELECT), 1, 3);
	assert_int_equal(mrd(f, COMMON(VIRTIO_PCI_COMMON_DFSELECT), 4), 0);
	/* a selected queue that does not exist */
	mwr(f, COMMON(VIRTIO_PCI_COMMON_Q_SELECT), 5, 2);
	assert_int_equal(mrd(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2), 0);
	mwr(f, COMMON(VIRTIO_PCI_COMMON_Q_ENABLE), 1, 2);
	mwr(f, COMMON(VIRTIO_PCI_COMMON_Q_MSIX), 0, 2);
	/* notify before DRIVER_OK, for a missing queue, at an odd offset */
	mwr(f, BAR4 + VIRTIO_PCI_NOTIFY_OFF, 0, 2);
	mwr(f, BAR4 + VIRTIO_PCI_NOTIFY_OFF + 4 * 9, 9, 2);
	mwr(f, BAR4 + VIRTIO_PCI_NOTIFY_OFF + 1, 0, 1);
	assert_int_equal(vqb_used_idx(&f->b), 0);
	/* feature select out of range reads 0 */
	mwr(f, COMMON(VIRTIO_PCI_COMMON_DFSELECT), 7, 4);
	assert_int_equal(mrd(f, COMMON(VIRTIO_PCI_COMMON_DF), 4), 0);
	/* every offset and width of the BAR: no crash */
	for (uint64_t off = 0; off < VIRTIO_PCI_BAR_SIZE; off += 1) {
		for (uint32_t len = 1; len <= 8; len <<= 1) {
			if (off + len > VIRTIO_PCI_BAR_SIZE)
				continue;
			(void)mrd(f, BAR4 + off, len);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_identity_and_caps, setup_msix, teardown),
	    cmocka_unit_test_setup_teardown(test_intx_request, setup_intx, teardown),
	    cmocka_unit_test_setup_teardown(test_msix_vectors, setup_msix, teardown),
	    cmocka_unit_test_setup_teardown(test_pci_cfg_window, setup_msix, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile, setup_msix, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
