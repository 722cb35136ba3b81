/* Unit tests for devices/pci: config-space semantics (read-only, writable and RW1C bits, the
 * capability list), BAR sizing and decoding, the command register, INTx, the 0xcf8/0xcfc and
 * ECAM decoders and the host's dispatch, and the MSI-X table, masks and pending bits. */
#include "lib/harness.h"

#include <errno.h>
#include <string.h>

#include "devices/pci/host.h"
#include "devices/pci/msix.h"
#include "devices/pci/pci.h"
#include "lib/fake_irq.h"

#define WIN_BASE 0xc0000000ull
#define WIN_SIZE 0x10000000ull

/* ---- a test function with one 32-bit and one 64-bit BAR ---- */

struct tbar {
	uint64_t last_off;
	uint32_t last_len, writes;
	uint8_t mem[256];
};

static void tbar_read(void *dev, uint64_t off, void *data, uint32_t len)
{
	struct tbar *b = dev;

	memcpy(data, b->mem + (off & 0xff), len);
	b->last_off = off;
	b->last_len = len;
}

static void tbar_write(void *dev, uint64_t off, const void *data, uint32_t len)
{
	struct tbar *b = dev;

	memcpy(b->mem + (off & 0xff), data, len);
	b->last_off = off;
	b->last_len = len;
	b->writes++;
}

static const struct io_ops tbar_ops = {tbar_read, tbar_write};

struct moves {
	unsigned n;
	unsigned bar[8];
	uint64_t old[8], now[8];
};

static void on_moved(void *ctx, struct pci_dev *d, unsigned bar, uint64_t o, uint64_t n)
{
	struct moves *m = ctx;

	(void)d;
	if (m->n < 8) {
		m->bar[m->n] = bar;
		m->old[m->n] = o;
		m->now[m->n] = n;
	}
	m->n++;
}

struct fx {
	struct pci_host *h;
	struct pci_dev d;
	struct tbar b0, b2;
	struct fake_irq irq;
	struct moves mv;
	unsigned slot;
};

static struct fx *fx_make(void)
{
	static struct fx f;
	struct pci_bar_listener l = {on_moved, &f.mv};

	memset(&f, 0, sizeof(f));
	fake_irq_init(&f.irq);
	assert_int_equal(pci_host_create(&f.h, WIN_BASE, WIN_SIZE), 0);
	pci_dev_init(&f.d, 0x1234, 0x5678, 0x020000, 3, 0x1af4, 0x1100, &f.irq.line, NULL);
	assert_int_equal(pci_dev_add_bar(&f.d, 0, 0x1000, false, false, &tbar_ops, &f.b0), 0);
	assert_int_equal(pci_dev_add_bar(&f.d, 2, 0x4000, true, true, &tbar_ops, &f.b2), 0);
	pci_host_set_listener(f.h, &l);
	assert_int_equal(pci_host_add(f.h, &f.d, &f.slot), 0);
	assert_int_equal(f.slot, 1);
	return &f;
}

static int setup(void **state)
{
	*state = fx_make();
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	pci_host_destroy(f->h);
	pci_dev_fini(&f->d);
	fake_irq_fini(&f->irq);
	return 0;
}

/* Config access through ECAM: bus 0, slot s, function 0. */
static uint32_t ecam_rd(struct fx *f, unsigned slot, uint32_t reg, uint32_t len)
{
	uint32_t v = 0;

	pci_host_ecam_ops.read(f->h, ((uint64_t)slot << 15) | reg, &v, len);
	return v;
}

static void ecam_wr(struct fx *f, unsigned slot, uint32_t reg, uint32_t v, uint32_t len)
{
	pci_host_ecam_ops.write(f->h, ((uint64_t)slot << 15) | reg, &v, len);
}

/* Config access through 0xcf8/0xcfc. */
static uint32_t cf8_rd(struct fx *f, uint32_t addr, uint32_t port_off, uint32_t len)
{
	uint32_t v = 0;

	pci_host_pio_ops.write(f->h, 0, &addr, 4);
	pci_host_pio_ops.read(f->h, 4 + port_off, &v, len);
	return v;
}

static void test_decoders(void **state)
{
	uint8_t bus, slot, fn;
	uint32_t reg;

	(void)state;
	assert_false(pci_cf8_decode(0x00001000, 0, &bus, &slot, &fn, &reg));
	assert_true(pci_cf8_decode(0x80ab3a14, 3, &bus, &slot, &fn, &reg));
	assert_int_equal(bus, 0xab);
	assert_int_equal(slot, 7);
	assert_int_equal(fn, 2);
	assert_int_equal(reg, 0x17);
	pci_ecam_decode(0x12345678, &bus, &slot, &fn, &reg);
	assert_int_equal(bus, 0x23);
	assert_int_equal(slot, 0x08);
	assert_int_equal(fn, 5);
	assert_int_equal(reg, 0x678);
}

static void test_header(void **state)
{
	struct fx *f = *state;

	/* the host bridge at 00:00.0 */
	assert_int_equal(ecam_rd(f, 0, PCI_VENDOR_ID, 2), PCI_HOST_VENDOR);
	assert_int_equal(ecam_rd(f, 0, 0x08, 4) >> 8, 0x060000);
	/* our function, through both mechanisms */
	assert_int_equal(ecam_rd(f, 1, 0, 4), 0x56781234);
	assert_int_equal(cf8_rd(f, 0x80000800, 0, 4), 0x56781234);
	assert_int_equal(cf8_rd(f, 0x80000800, 2, 2), 0x5678);
	assert_int_equal(cf8_rd(f, 0x80000808, 1, 1), 0x00); /* prog-if */
	assert_int_equal(cf8_rd(f, 0x80000808, 3, 1), 0x02); /* base class */
	assert_int_equal(ecam_rd(f, 1, PCI_REVISION_ID, 1), 3);
	assert_int_equal(ecam_rd(f, 1, PCI_SUBSYS_ID, 2), 0x1100);
	assert_int_equal(ecam_rd(f, 1, PCI_INTERRUPT_PIN, 1), 1);
	/* absent slots, functions and buses read all-ones; disabled CONFIG_ADDRESS too */
	assert_int_equal(ecam_rd(f, 2, 0, 4), 0xffffffff);
	assert_int_equal(ecam_rd(f, 1, (1u << 12), 4), 0xffffffff);    /* function 1 */
	assert_int_equal(ecam_rd(f, 1 | (1u << 5), 0, 4), 0xffffffff); /* bus 1 */
	assert_int_equal(cf8_rd(f, 0x00000800, 0, 4), 0xffffffff);
	/* extended config space of a present function reads 0 */
	assert_int_equal(ecam_rd(f, 1, 0x100, 4), 0);
	/* read-only ids */
	ecam_wr(f, 1, 0, 0xffffffff, 4);
	assert_int_equal(ecam_rd(f, 1, 0, 4), 0x56781234);
	/* an access crossing a dword is refused */
	assert_int_equal(ecam_rd(f, 1, 3, 2), 0xffff);
	/* CONFIG_ADDRESS keeps only its defined bits */
	{
		uint32_t v = 0xffffffff, r = 0;

		pci_host_pio_ops.write(f->h, 0, &v, 4);
		pci_host_pio_ops.read(f->h, 0, &r, 4);
		assert_int_equal(r, 0x80fffffc);
	}
}

static void test_command_status(void **state)
{
	struct fx *f = *state;

	ecam_wr(f, 1, PCI_COMMAND, 0xffff, 2);
	assert_int_equal(ecam_rd(f, 1, PCI_COMMAND, 2), PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
							    PCI_COMMAND_PARITY | PCI_COMMAND_SERR |
							    PCI_COMMAND_INTX_DISABLE);
	/* RW1C error bits: set by the device, cleared by writing 1 */
	f->d.cfg[PCI_STATUS + 1] = 0xf9;
	ecam_wr(f, 1, PCI_STATUS, 0x0100, 2); /* clear bit 8 only */
	assert_int_equal(ecam_rd(f, 1, PCI_STATUS, 2) & 0xff00, 0xf800);
	ecam_wr(f, 1, PCI_STATUS, 0xffff, 2);
	assert_int_equal(ecam_rd(f, 1, PCI_STATUS, 2) & 0xff00, 0);
	/* interrupt line is RW, pin is RO */
	ecam_wr(f, 1, PCI_INTERRUPT_LINE, 0x0b0b, 2);
	assert_int_equal(ecam_rd(f, 1, PCI_INTERRUPT_LINE, 2), 0x010b);
}

static void test_bar_sizing(void **state)
{
	struct fx *f = *state;

	/* 32-bit BAR 0: sizing, flags preserved in the low bits */
	ecam_wr(f, 1, PCI_BAR0, 0xffffffff, 4);
	assert_int_equal(ecam_rd(f, 1, PCI_BAR0, 4), 0xfffff000);
	/* BAR 1 does not exist */
	ecam_wr(f, 1, PCI_BAR0 + 4, 0xffffffff, 4);
	assert_int_equal(ecam_rd(f, 1, PCI_BAR0 + 4, 4), 0);
	/* 64-bit prefetchable BAR 2 + 3 */
	ecam_wr(f, 1, PCI_BAR0 + 8, 0xffffffff, 4);
	ecam_wr(f, 1, PCI_BAR0 + 12, 0xffffffff, 4);
	assert_int_equal(ecam_rd(f, 1, PCI_BAR0 + 8, 4), 0xffffc000 | 0xc);
	assert_int_equal(ecam_rd(f, 1, PCI_BAR0 + 12, 4), 0xffffffff);
	/* unaligned addresses are truncated to the size */
	ecam_wr(f, 1, PCI_BAR0, 0xc0001234, 4);
	assert_int_equal(ecam_rd(f, 1, PCI_BAR0, 4), 0xc0001000);
	/* bad BAR declarations */
	assert_int_equal(pci_dev_add_bar(&f->d, 5, 0x1000, true, false, &tbar_ops, NULL), -EINVAL);
	assert_int_equal(pci_dev_add_bar(&f->d, 4, 0x1800, false, false, &tbar_ops, NULL), -EINVAL);
	assert_int_equal(pci_dev_add_bar(&f->d, 4, 8, false, false, &tbar_ops, NULL), -EINVAL);
	assert_int_equal(pci_dev_add_bar(&f->d, 0, 0x1000, false, false, &tbar_ops, NULL), -EINVAL);
	assert_int_equal(pci_dev_add_bar(&f->d, 3, 0x1000, false, false, &tbar_ops, NULL), -EINVAL);
}

static uint32_t win_rd(struct fx *f, uint64_t addr, uint32_t len)
{
	uint32_t v = 0;

	pci_host_mmio_ops.read(f->h, addr - WIN_BASE, &v, len);
	return v;
}

static void win_wr(struct fx *f, uint64_t addr, uint32_t v, uint32_t len)
{
	pci_host_mmio_ops.write(f->h, addr - WIN_BASE, &v, len);
}

static void test_bar_decode(void **state)
{
	struct fx *f = *state;

	f->b0.mem[4] = 0x5a;
	ecam_wr(f, 1, PCI_BAR0, 0xc0000000, 4);
	ecam_wr(f, 1, PCI_BAR0 + 8, 0xc0004000, 4);
	ecam_wr(f, 1, PCI_BAR0 + 12, 0, 4);
	/* memory decoding off: nothing answers, no mapping reported */
	assert_int_equal(win_rd(f, 0xc0000004, 1), 0xff);
	assert_int_equal(f->mv.n, 0);
	ecam_wr(f, 1, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(f->mv.n, 2);
	assert_int_equal(f->mv.bar[0], 0);
	assert_true(f->mv.old[0] == PCI_BAR_UNMAPPED && f->mv.now[0] == 0xc0000000ull);
	assert_true(f->mv.bar[1] == 2 && f->mv.now[1] == 0xc0004000ull);
	assert_int_equal(win_rd(f, 0xc0000004, 1), 0x5a);
	win_wr(f, 0xc0004010, 0x11223344, 4);
	assert_int_equal(f->b2.last_off, 0x10);
	assert_int_equal(f->b2.writes, 1);
	/* an access straddling the end of a BAR is not decoded */
	assert_int_equal(win_rd(f, 0xc0000ffe, 4), 0xffffffff);
	/* move BAR 2 while decoding: one move reported per register write */
	f->mv.n = 0;
	ecam_wr(f, 1, PCI_BAR0 + 8, 0xc0100000, 4);
	assert_int_equal(f->mv.n, 1);
	assert_true(f->mv.old[0] == 0xc0004000ull && f->mv.now[0] == 0xc0100000ull);
	assert_int_equal(win_rd(f, 0xc0004010, 4), 0xffffffff);
	assert_int_equal(win_rd(f, 0xc0100010, 4), 0x11223344);
	/* upper half set: outside the window, unmapped */
	ecam_wr(f, 1, PCI_BAR0 + 12, 1, 4);
	assert_true(pci_dev_bar_addr(&f->d, 2) == PCI_BAR_UNMAPPED);
	/* sizing while enabled unmaps (all-ones is outside the window) */
	ecam_wr(f, 1, PCI_BAR0, 0xffffffff, 4);
	assert_true(pci_dev_bar_addr(&f->d, 0) == PCI_BAR_UNMAPPED);
	ecam_wr(f, 1, PCI_BAR0, 0xc0000000, 4);
	assert_true(pci_dev_bar_addr(&f->d, 0) == 0xc0000000ull);
	/* disabling memory decode unmaps */
	f->mv.n = 0;
	ecam_wr(f, 1, PCI_COMMAND, 0, 2);
	assert_int_equal(f->mv.n, 1);
	assert_true(f->mv.now[0] == PCI_BAR_UNMAPPED);
}

static void test_intx(void **state)
{
	struct fx *f = *state;

	pci_dev_set_intx(&f->d, true);
	assert_true(fake_irq_level(&f->irq));
	assert_true(ecam_rd(f, 1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	/* INTx disable masks the line but the status bit still shows the request */
	ecam_wr(f, 1, PCI_COMMAND, PCI_COMMAND_INTX_DISABLE, 2);
	assert_false(fake_irq_level(&f->irq));
	assert_true(ecam_rd(f, 1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	ecam_wr(f, 1, PCI_COMMAND, 0, 2);
	assert_true(fake_irq_level(&f->irq));
	pci_dev_set_intx(&f->d, false);
	assert_false(fake_irq_level(&f->irq));
	assert_false(ecam_rd(f, 1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	/* the status interrupt bit is read-only */
	ecam_wr(f, 1, PCI_STATUS, PCI_STATUS_INTERRUPT, 2);
	assert_false(ecam_rd(f, 1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
}

static void test_caps(void **state)
{
	struct fx *f = *state;
	uint8_t a, b, c;

	assert_false(ecam_rd(f, 1, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	assert_int_equal(pci_dev_add_cap(&f->d, 0x09, 16, &a), 0);
	assert_int_equal(pci_dev_add_cap(&f->d, 0x11, 12, &b), 0);
	assert_int_equal(pci_dev_add_cap(&f->d, 0x09, 20, &c), 0);
	assert_true(ecam_rd(f, 1, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	assert_int_equal(ecam_rd(f, 1, PCI_CAP_PTR, 1), a);
	assert_int_equal(a, 0x40);
	assert_int_equal(ecam_rd(f, 1, a, 2), 0x09 | (b << 8));
	assert_int_equal(ecam_rd(f, 1, b, 2), 0x11 | (c << 8));
	assert_int_equal(ecam_rd(f, 1, c, 2), 0x09);
	/* the links are read-only */
	ecam_wr(f, 1, a, 0, 2);
	assert_int_equal(ecam_rd(f, 1, a + 1, 1), b);
	/* no room left */
	assert_int_equal(pci_dev_add_cap(&f->d, 0x09, 200, &a), -ENOSPC);
}

static void test_cf9_forward(void **state)
{
	struct fx *f = *state;
	struct tbar rst;
	uint8_t v = 0x06, r = 0;

	memset(&rst, 0, sizeof(rst));
	pci_host_set_cf9(f->h, &tbar_ops, &rst);
	pci_host_pio_ops.write(f->h, 1, &v, 1);
	assert_int_equal(rst.writes, 1);
	assert_int_equal(rst.mem[0], 0x06);
	pci_host_pio_ops.read(f->h, 1, &r, 1);
	assert_int_equal(r, 0x06);
	/* a word at 0xcf9 is neither */
	pci_host_pio_ops.write(f->h, 1, &v, 2);
	assert_int_equal(rst.writes, 1);
}

/* ---- MSI-X ---- */

struct msi_log {
	unsigned sent, updates;
	unsigned last_vec;
	struct pci_msi_msg last;
	bool last_masked;
};

static int log_send(void *ctx, unsigned v, const struct pci_msi_msg *m)
{
	struct msi_log *l = ctx;

	l->sent++;
	l->last_vec = v;
	l->last = *m;
	return 0;
}

static void log_update(void *ctx, unsigned v, const struct pci_msi_msg *m, bool masked)
{
	struct msi_log *l = ctx;

	(void)v;
	(void)m;
	l->updates++;
	l->last_masked = masked;
}

static const struct pci_msi_ops log_ops = {log_send, log_update};

static void tbl_wr(struct pci_msix *m, unsigned v, unsigned field, uint32_t val)
{
	pci_msix_table_write(m, v * 16 + field * 4, &val, 4);
}

static uint64_t pba(struct pci_msix *m)
{
	uint64_t p = 0;

	pci_msix_pba_read(m, 0, &p, 8);
	return p;
}

static void test_msix(void **state)
{
	struct fx *f = *state;
	struct pci_msix m;
	struct msi_log l;
	uint32_t ctrl, v = 0;

	memset(&l, 0, sizeof(l));
	assert_int_equal(pci_msix_init(&m, &f->d, 4, 0, 0, 0x800, &log_ops, &l), 0);
	assert_int_equal(ecam_rd(f, 1, PCI_CAP_PTR, 1), m.cap);
	assert_int_equal(ecam_rd(f, 1, m.cap, 1), PCI_CAP_ID_MSIX);
	assert_int_equal(ecam_rd(f, 1, m.cap + 2u, 2), 3); /* table size - 1, disabled */
	assert_int_equal(ecam_rd(f, 1, m.cap + 4u, 4), 0);
	assert_int_equal(ecam_rd(f, 1, m.cap + 8u, 4), 0x800);
	/* disabled: nothing is sent or pended */
	assert_int_equal(pci_msix_notify(&m, 0), -ENODEV);
	assert_int_equal(pci_msix_notify(&m, 4), -EINVAL);
	/* every vector starts masked */
	pci_msix_table_read(&m, 12, &v, 4);
	assert_int_equal(v, 1);
	tbl_wr(&m, 1, 0, 0xfee00000);
	tbl_wr(&m, 1, 1, 0);
	tbl_wr(&m, 1, 2, 0x4041);
	ctrl = PCI_MSIX_CTRL_ENABLE;
	ecam_wr(f, 1, m.cap + 2u, ctrl, 2);
	pci_msix_config_written(&m, m.cap + 2u, 2);
	assert_true(pci_msix_enabled(&m));
	assert_int_equal(ecam_rd(f, 1, m.cap + 2u, 2), PCI_MSIX_CTRL_ENABLE | 3);
	/* masked vector: pending bit, no message */
	assert_int_equal(pci_msix_notify(&m, 1), 0);
	assert_int_equal(l.sent, 0);
	assert_int_equal(pba(&m), 2);
	/* unmask: the pending message is delivered and the bit cleared */
	tbl_wr(&m, 1, 3, 0);
	assert_int_equal(l.sent, 1);
	assert_int_equal(l.last_vec, 1);
	assert_true(l.last.addr == 0xfee00000ull && l.last.data == 0x4041);
	assert_int_equal(pba(&m), 0);
	assert_false(l.last_masked);
	/* unmasked: delivered at once */
	assert_int_equal(pci_msix_notify(&m, 1), 0);
	assert_int_equal(l.sent, 2);
	/* function mask: pends; clearing it delivers */
	ecam_wr(f, 1, m.cap + 2u, PCI_MSIX_CTRL_ENABLE | PCI_MSIX_CTRL_FMASK, 2);
	pci_msix_config_written(&m, m.cap + 2u, 2);
	assert_int_equal(pci_msix_notify(&m, 1), 0);
	assert_int_equal(l.sent, 2);
	assert_int_equal(pba(&m), 2);
	ecam_wr(f, 1, m.cap + 2u, PCI_MSIX_CTRL_ENABLE, 2);
	pci_msix_config_written(&m, m.cap + 2u, 2);
	assert_int_equal(l.sent, 3);
	assert_int_equal(pba(&m), 0);
	/* reserved control bits are dropped; PBA is read-only; bad accesses ignored */
	tbl_wr(&m, 2, 3, 0xfffffffe);
	pci_msix_table_read(&m, 2 * 16 + 12, &v, 4);
	assert_int_equal(v, 0);
	v = 0xffffffff;
	pci_msix_table_write(&m, 3 * 16 + 1, &v, 2); /* misaligned */
	pci_msix_table_write(&m, 4 * 16, &v, 4);     /* past the table */
	pci_msix_table_read(&m, 3 * 16, &v, 4);
	assert_int_equal(v, 0);
	/* 8-byte table access */
	{
		uint64_t q = 0x00000000fee01000ull, r = 0;

		pci_msix_table_write(&m, 2 * 16, &q, 8);
		pci_msix_table_read(&m, 2 * 16, &r, 8);
		assert_true(r == q);
	}
	pci_msix_fini(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decoders),
	    cmocka_unit_test_setup_teardown(test_header, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_command_status, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bar_sizing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bar_decode, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_intx, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_caps, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cf9_forward, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_msix, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
