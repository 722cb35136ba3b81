/* Unit tests for the snapshot state of PCI functions: struct pci_dev_state (pci.c),
 * struct pci_msix_state (msix.c), struct virtio_pci_state (virtio/pci.c) and
 * struct pci_host_state (host.c). A virtio-rng function behind a PCI host is programmed as a
 * driver would (BARs, MSI-X table and enable bit, vectors, selectors, queue), saved, and loaded
 * into a second, fresh function: the state saved again must be the same, the BARs decode at
 * the same addresses (the listener hears the moves), the MSI-X routes are announced, a pending
 * vector is delivered when the guest unmasks it, and the INTx line follows. Each kind of state
 * that cannot be a live function's is refused with -EINVAL and changes nothing. */
#include "lib/harness.h"

#include <errno.h>
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
	unsigned sent, updates;
	unsigned vec[16];
	struct pci_msi_msg msg[PCI_MSIX_MAX_VECTORS]; /* last update per vector */
	bool masked[PCI_MSIX_MAX_VECTORS];
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

static void log_update(void *ctx, unsigned v, const struct pci_msi_msg *m, bool masked)
{
	struct msi_log *l = ctx;

	l->updates++;
	l->msg[v] = *m;
	l->masked[v] = masked;
}

static const struct pci_msi_ops log_ops = {log_send, log_update};

struct fx {
	struct vqb b;
	struct fake_irq irq;
	struct msi_log msi;
	struct virtio_rng *rng;
	struct virtio_pci *t;
	struct pci_host *h;
	unsigned slot;
	unsigned moves;
	uint64_t bar_at[PCI_NUM_BARS];
};

static void moved(void *ctx, struct pci_dev *d, unsigned bar, uint64_t old_addr, uint64_t new_addr)
{
	struct fx *f = ctx;

	(void)d;
	(void)old_addr;
	f->moves++;
	f->bar_at[bar] = new_addr;
}

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
#define TABLE(v, w) (BAR1 + 16u * (v) + 4u * (w))

static void fx_make(struct fx *f, bool msix)
{
	struct virtio_pci_opts o;
	struct pci_bar_listener l = {moved, f};

	memset(f, 0, sizeof(*f));
	for (unsigned i = 0; i < PCI_NUM_BARS; i++)
		f->bar_at[i] = PCI_BAR_UNMAPPED;
	vqb_init(&f->b, 16);
	fake_irq_init(&f->irq);
	assert_int_equal(virtio_rng_create(&f->rng, f->b.mem, 1u << 20, NULL, NULL), 0);
	o = (struct virtio_pci_opts){
	    .intx = f->irq.line, .msi = msix ? &log_ops : NULL, .msi_ctx = &f->msi};
	assert_int_equal(virtio_pci_create(&f->t, virtio_rng_dev(f->rng), &o), 0);
	assert_int_equal(pci_host_create(&f->h, WIN, 0x10000000), 0);
	pci_host_set_listener(f->h, &l);
	assert_int_equal(pci_host_add(f->h, virtio_pci_dev(f->t), &f->slot), 0);
}

static void fx_free(struct fx *f)
{
	pci_host_destroy(f->h);
	virtio_pci_destroy(f->t);
	virtio_rng_destroy(f->rng);
	fake_irq_fini(&f->irq);
	vqb_fini(&f->b);
}

/* The driver's set-up: BARs, MSI-X with vector 0 masked, queue 0 on vector 1, config on 0. */
static void program(struct fx *f, bool msix)
{
	cfg_wr(f, PCI_BAR0 + 4 * VIRTIO_PCI_BAR, (uint32_t)BAR4, 4);
	cfg_wr(f, PCI_BAR0 + 4 * VIRTIO_PCI_BAR + 4, 0, 4);
	cfg_wr(f, PCI_BAR0 + 4 * VIRTIO_PCI_MSIX_BAR, (uint32_t)BAR1, 4);
	cfg_wr(f, PCI_INTERRUPT_LINE, 11, 1);
	cfg_wr(f, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	if (msix) {
		uint8_t cap = (uint8_t)cfg_rd(f, PCI_CAP_PTR, 1);

		for (unsigned v = 0; v < 2; v++) {
			mwr(f, TABLE(v, 0), 0xfee00000u + 0x1000u * v, 4);
			mwr(f, TABLE(v, 1), 0, 4);
			mwr(f, TABLE(v, 2), 0x40 + v, 4);
			mwr(f, TABLE(v, 3), v == 0 ? 1 : 0, 4); /* vector 0 stays masked */
		}
		cfg_wr(f, cap + 2u, PCI_MSIX_CTRL_ENABLE, 2);
	}
	mwr(f, COMMON(VIRTIO_PCI_COMMON_STATUS), 0, 1);
	mwr(f, COMMON(VIRTIO_PCI_COMMON_STATUS), 1, 1);
	mwr(f, COMMON(VIRTIO_PCI_COMMON_STATUS), 3, 1);
	mwr(f, COMMON(VIRTIO_PCI_COMMON_GFSELECT), 1, 4);
	mwr(f, COMMON(VIRTIO_PCI_COMMON_GF), 1, 4);
	mwr(f, COMMON(VIRTIO_PCI_COMMON_STATUS), 0x0b, 1);
	mwr(f, COMMON(VIRTIO_PCI_COMMON_MSIX), 0, 2);
	mwr(f, COMMON(VIRTIO_PCI_COMMON_Q_SELECT), 0, 2);
	mwr(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 16, 2);
	mwr(f, COMMON(VIRTIO_PCI_COMMON_Q_MSIX), 1, 2);
	mwr(f, COMMON(VIRTIO_PCI_COMMON_Q_DESCLO), VQB_DESC_GPA, 8);
	mwr(f, COMMON(VIRTIO_PCI_COMMON_Q_AVAILLO), VQB_AVAIL_GPA, 8);
	mwr(f, COMMON(VIRTIO_PCI_COMMON_Q_USEDLO), VQB_USED_GPA, 8);
	mwr(f, COMMON(VIRTIO_PCI_COMMON_Q_ENABLE), 1, 2);
	mwr(f, COMMON(VIRTIO_PCI_COMMON_STATUS), 0x0f, 1);
	assert_int_equal(mrd(f, COMMON(VIRTIO_PCI_COMMON_STATUS), 1), 0x0f);
	mwr(f, COMMON(VIRTIO_PCI_COMMON_DFSELECT), 1, 4);
	mwr(f, COMMON(VIRTIO_PCI_COMMON_GFSELECT), 7, 4); /* any value is kept */
	mwr(f, COMMON(VIRTIO_PCI_COMMON_Q_SELECT), 5, 2); /* a queue the device lacks */
}

struct all_state {
	struct pci_dev_state d;
	struct pci_msix_state m;
	struct virtio_pci_state t;
	struct virtio_dev_state v;
};

static void save_all(struct fx *f, struct all_state *s)
{
	memset(s, 0, sizeof(*s));
	pci_dev_save(virtio_pci_dev(f->t), &s->d);
	if (virtio_pci_msix(f->t))
		pci_msix_save(virtio_pci_msix(f->t), &s->m);
	virtio_pci_save(f->t, &s->t);
	virtio_dev_save(virtio_pci_vdev(f->t), &s->v);
}

static int load_all(struct fx *f, const struct all_state *s)
{
	int e = pci_dev_load(virtio_pci_dev(f->t), &s->d);

	if (!e && virtio_pci_msix(f->t))
		e = pci_msix_load(virtio_pci_msix(f->t), &s->m);
	if (!e)
		e = virtio_dev_load(virtio_pci_vdev(f->t), &s->v);
	if (!e)
		e = virtio_pci_load(f->t, &s->t);
	return e;
}

static void test_round_trip_msix(void **state)
{
	static struct fx a, b;
	struct all_state sa, sb;

	(void)state;
	fx_make(&a, true);
	fx_make(&b, true);
	program(&a, true);
	/* vector 0 is masked: a config interrupt leaves it pending */
	assert_int_equal(pci_msix_notify(virtio_pci_msix(a.t), 0), 0);
	assert_int_equal(mrd(&a, BAR1 + VIRTIO_PCI_MSIX_PBA, 4), 1);
	save_all(&a, &sa);
	assert_int_equal(sa.m.pba, 1);
	assert_int_equal(sa.t.queue_sel, 5);
	assert_int_equal(sa.t.queue_msix[0], 1);

	assert_int_equal(load_all(&b, &sa), 0);
	save_all(&b, &sb);
	assert_memory_equal(&sa, &sb, sizeof(sa));
	/* the BARs were decoded again, as after the guest's writes */
	assert_int_equal(b.bar_at[VIRTIO_PCI_BAR], BAR4);
	assert_int_equal(b.bar_at[VIRTIO_PCI_MSIX_BAR], BAR1);
	assert_int_equal(mrd(&b, COMMON(VIRTIO_PCI_COMMON_Q_SELECT), 2), 5);
	assert_int_equal(mrd(&b, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2), 0); /* no queue 5 */
	assert_int_equal(mrd(&b, COMMON(VIRTIO_PCI_COMMON_GFSELECT), 4), 7);
	mwr(&b, COMMON(VIRTIO_PCI_COMMON_Q_SELECT), 0, 2);
	assert_int_equal(mrd(&b, COMMON(VIRTIO_PCI_COMMON_Q_MSIX), 2), 1);
	assert_int_equal(mrd(&b, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2), 16);
	assert_int_equal(mrd(&b, COMMON(VIRTIO_PCI_COMMON_MSIX), 2), 0);
	assert_int_equal(cfg_rd(&b, PCI_INTERRUPT_LINE, 1), 11);
	/* every vector's route was announced, with its mask */
	assert_true(b.msi.updates >= 2);
	assert_int_equal(b.msi.msg[1].addr, 0xfee01000u);
	assert_int_equal(b.msi.msg[1].data, 0x41);
	assert_true(b.msi.masked[0]);
	assert_false(b.msi.masked[1]);
	assert_int_equal(b.msi.sent, 0); /* nothing sent by the load */
	/* MSI-X is live: a queue interrupt goes to vector 1 */
	assert_int_equal(pci_msix_notify(virtio_pci_msix(b.t), 1), 0);
	assert_int_equal(b.msi.sent, 1);
	assert_int_equal(b.msi.vec[0], 1);
	/* the pending vector 0 is delivered when the guest unmasks it */
	mwr(&b, TABLE(0, 3), 0, 4);
	assert_int_equal(b.msi.sent, 2);
	assert_int_equal(b.msi.vec[1], 0);
	assert_int_equal(mrd(&b, BAR1 + VIRTIO_PCI_MSIX_PBA, 4), 0);
	/* no INTx while MSI-X is on */
	assert_false(fake_irq_level(&b.irq));
	fx_free(&a);
	fx_free(&b);
}

static void test_round_trip_intx(void **state)
{
	static struct fx a, b;
	struct all_state sa;

	(void)state;
	fx_make(&a, false);
	fx_make(&b, false);
	program(&a, false);
	virtio_queue_done(virtio_pci_vdev(a.t), 0); /* ISR queue bit, INTx up */
	assert_true(fake_irq_level(&a.irq));
	save_all(&a, &sa);
	assert_int_equal(sa.t.isr, VIRTIO_PCI_ISR_QUEUE);
	assert_int_equal(sa.d.intx_level, 1);
	assert_false(fake_irq_level(&b.irq));
	assert_int_equal(load_all(&b, &sa), 0);
	assert_true(fake_irq_level(&b.irq)); /* the line is driven to the saved level */
	assert_int_equal(cfg_rd(&b, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT, PCI_STATUS_INTERRUPT);
	assert_int_equal(mrd(&b, BAR4 + VIRTIO_PCI_ISR_OFF, 1), VIRTIO_PCI_ISR_QUEUE);
	assert_false(fake_irq_level(&b.irq)); /* reading the ISR lowered it */
	/* INTx disabled by the command register: level kept, line low */
	program(&a, false);
	virtio_queue_done(virtio_pci_vdev(a.t), 0);
	cfg_wr(&a, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_DISABLE, 2);
	assert_false(fake_irq_level(&a.irq));
	save_all(&a, &sa);
	fx_free(&b);
	fx_make(&b, false);
	assert_int_equal(load_all(&b, &sa), 0);
	assert_false(fake_irq_level(&b.irq));
	cfg_wr(&b, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_true(fake_irq_level(&b.irq));
	fx_free(&a);
	fx_free(&b);
}

/* A load that must fail: -EINVAL, and the function saves exactly as before. */
static void expect_refused(struct fx *b, const struct all_state *bad, int which)
{
	struct all_state before, after;
	int e;

	save_all(b, &before);
	switch (which) {
	case 0:
		e = pci_dev_load(virtio_pci_dev(b->t), &bad->d);
		break;
	case 1:
		e = pci_msix_load(virtio_pci_msix(b->t), &bad->m);
		break;
	default:
		e = virtio_pci_load(b->t, &bad->t);
		break;
	}
	assert_int_equal(e, -EINVAL);
	save_all(b, &after);
	assert_memory_equal(&before, &after, sizeof(before));
}

static void test_refused(void **state)
{
	static struct fx a, b;
	struct all_state good, bad;
	uint8_t cap;

	(void)state;
	fx_make(&a, true);
	fx_make(&b, true);
	program(&a, true);
	save_all(&a, &good);
	cap = (uint8_t)cfg_rd(&a, PCI_CAP_PTR, 1);

	/* config space: another device id (a read-only byte) */
	bad = good;
	bad.d.cfg[PCI_DEVICE_ID] ^= 1;
	expect_refused(&b, &bad, 0);
	/* a capability body byte the guest cannot write (the MSI-X table offset) */
	bad = good;
	bad.d.cfg[cap + 4u] ^= 0x10;
	expect_refused(&b, &bad, 0);
	/* BAR 4 outside the window with memory decoding on */
	bad = good;
	memset(&bad.d.cfg[PCI_BAR0 + 4 * VIRTIO_PCI_BAR], 0, 8);
	bad.d.cfg[PCI_BAR0 + 4 * VIRTIO_PCI_BAR] = 0x0c;
	bad.d.cfg[PCI_BAR0 + 4 * VIRTIO_PCI_BAR + 3] = 0xd0; /* 0xd0000000: past the window */
	expect_refused(&b, &bad, 0);
	/* ... which is fine with decoding off */
	bad.d.cfg[PCI_COMMAND] = 0;
	assert_int_equal(pci_dev_load(virtio_pci_dev(b.t), &bad.d), 0);
	fx_free(&b);
	fx_make(&b, true);
	/* a 64-bit BAR above 4 GiB, outside the (32-bit) window */
	bad = good;
	bad.d.cfg[PCI_BAR0 + 4 * VIRTIO_PCI_BAR + 4] = 1;
	expect_refused(&b, &bad, 0);
	/* BAR 4 not aligned to its 16 KiB */
	bad = good;
	bad.d.cfg[PCI_BAR0 + 4 * VIRTIO_PCI_BAR + 1] = 0x10;
	expect_refused(&b, &bad, 0);
	/* an INTx level that is not a bool */
	bad = good;
	bad.d.intx_level = 2;
	expect_refused(&b, &bad, 0);

	/* MSI-X: load the config space first (as the VMM does) */
	assert_int_equal(pci_dev_load(virtio_pci_dev(b.t), &good.d), 0);
	bad = good;
	bad.m.nvec = 3;
	expect_refused(&b, &bad, 1);
	bad = good;
	bad.m.pba = 1ull << 2; /* vector 2 does not exist */
	expect_refused(&b, &bad, 1);
	bad = good;
	bad.m.pba = 1ull << 1; /* vector 1 is unmasked: it would have been delivered */
	expect_refused(&b, &bad, 1);
	bad = good;
	bad.m.table[5].data = 1; /* beyond the table */
	expect_refused(&b, &bad, 1);
	bad = good;
	bad.m.table[1].ctrl = 2; /* reserved control bit */
	expect_refused(&b, &bad, 1);
	bad = good;
	bad.m.pba = 1; /* vector 0 is masked: a pending bit is fine */
	assert_int_equal(pci_msix_load(virtio_pci_msix(b.t), &bad.m), 0);
	assert_int_equal(pci_msix_load(virtio_pci_msix(b.t), &good.m), 0);

	/* virtio-pci registers */
	bad = good;
	bad.t.msix_config = 2; /* the table has 2 entries */
	expect_refused(&b, &bad, 2);
	bad = good;
	bad.t.queue_msix[0] = 7;
	expect_refused(&b, &bad, 2);
	bad = good;
	bad.t.queue_msix[1] = 0; /* rng has one queue */
	expect_refused(&b, &bad, 2);
	bad = good;
	bad.t.isr = 4;
	expect_refused(&b, &bad, 2);
	bad = good;
	bad.t.isr = VIRTIO_PCI_ISR_QUEUE; /* the ISR says INTx is up, the config space not */
	expect_refused(&b, &bad, 2);
	assert_int_equal(virtio_pci_load(b.t, &good.t), 0);
	fx_free(&a);
	fx_free(&b);
}

static void test_no_msix_vectors_refused(void **state)
{
	static struct fx a;
	struct all_state s;

	(void)state;
	fx_make(&a, false);
	save_all(&a, &s);
	s.t.msix_config = 0; /* no MSI-X capability: only NO_VECTOR */
	expect_refused(&a, &s, 2);
	assert_null(virtio_pci_msix(a.t));
	fx_free(&a);
}

static void test_host(void **state)
{
	struct pci_host *h, *h2;
	struct pci_host_state s;
	uint32_t v = 0x80000810, r = 0;

	(void)state;
	assert_int_equal(pci_host_create(&h, WIN, 0x10000000), 0);
	assert_int_equal(pci_host_create(&h2, WIN, 0x10000000), 0);
	pci_host_pio_ops.write(h, 0, &v, 4);
	pci_host_save(h, &s);
	assert_int_equal(s.cf8, 0x80000810);
	assert_int_equal(pci_host_load(h2, &s), 0);
	pci_host_pio_ops.read(h2, 0, &r, 4);
	assert_int_equal(r, 0x80000810);
	s.cf8 = 0x80000811; /* the low two bits cannot be written */
	assert_int_equal(pci_host_load(h2, &s), -EINVAL);
	s.cf8 = 0x7f000000;
	assert_int_equal(pci_host_load(h2, &s), -EINVAL);
	pci_host_pio_ops.read(h2, 0, &r, 4);
	assert_int_equal(r, 0x80000810);
	pci_host_destroy(h);
	pci_host_destroy(h2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip_msix),
	    cmocka_unit_test(test_round_trip_intx),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_no_msix_vectors_refused),
	    cmocka_unit_test(test_host),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
