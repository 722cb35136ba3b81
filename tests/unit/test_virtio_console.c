/* Unit tests for virtio-console over the virtio-mmio transport: identification and the
 * configuration space, transmitq chains reaching the sink in order, input held while the guest
 * has no receive buffers and delivered later, short receive buffers, the hold limit, hostile
 * chains (NEEDS_RESET), reset, and the emergency-write register. */
#include "lib/harness.h"

#include <errno.h>
#include <string.h>

#include "devices/virtio/console.h"
#include "devices/virtio/mmio.h"
#include "lib/fake_irq.h"
#include "lib/vq_builder.h"

#define QSIZE 16

/* Driver side of one split queue in the vqb RAM. */
struct tq {
	uint64_t desc, avail, used;
	uint16_t next_desc, avail_idx;
};

struct fixture {
	struct vqb b; /* only its RAM, gmem and data allocator */
	struct fake_irq irq;
	struct virtio_console *con;
	struct virtio_mmio *t;
	struct tq q[2];
	uint8_t out[16384];
	size_t out_len, accept; /* sink: bytes written; max bytes accepted per call */
	unsigned rx_ready;
};

static size_t sink_write(void *ctx, const uint8_t *buf, size_t len)
{
	struct fixture *f = ctx;
	size_t n = len < f->accept ? len : f->accept;

	assert_true(f->out_len + n <= sizeof(f->out));
	memcpy(f->out + f->out_len, buf, n);
	f->out_len += n;
	return n;
}

static void sink_rx_ready(void *ctx)
{
	((struct fixture *)ctx)->rx_ready++;
}

static uint32_t rd(struct fixture *f, uint64_t off)
{
	uint32_t v = 0xdeadbeef;

	virtio_mmio_io_ops.read(f->t, off, &v, 4);
	return v;
}

static void wr(struct fixture *f, uint64_t off, uint32_t v)
{
	virtio_mmio_io_ops.write(f->t, off, &v, 4);
}

static int setup(void **state)
{
	static struct fixture f;
	struct virtio_console_backend be = {sink_write, sink_rx_ready, &f};

	memset(&f, 0, sizeof(f));
	vqb_init(&f.b, QSIZE);
	fake_irq_init(&f.irq);
	f.accept = SIZE_MAX;
	f.q[0] = (struct tq){VQB_DESC_GPA, VQB_AVAIL_GPA, VQB_USED_GPA, 0, 0};
	f.q[1] = (struct tq){0x10000, 0x14000, 0x15000, 0, 0};
	assert_int_equal(virtio_console_create(&f.con, f.b.mem, &be), 0);
	assert_int_equal(virtio_mmio_create(&f.t, virtio_console_dev(f.con), &f.irq.line), 0);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	virtio_mmio_destroy(f->t);
	virtio_console_destroy(f->con);
	fake_irq_fini(&f->irq);
	vqb_fini(&f->b);
	return 0;
}

static void *host(struct fixture *f, uint64_t gpa)
{
	return vqb_host(&f->b, gpa);
}

static uint64_t galloc(struct fixture *f, uint32_t len)
{
	uint64_t g = f->b.next_data;

	f->b.next_data += (len + 15) & ~15ull;
	assert_true(f->b.next_data < VQB_RAM_SIZE);
	return g;
}

static void setup_queue(struct fixture *f, unsigned q)
{
	struct tq *t = &f->q[q];

	memset(host(f, t->desc), 0, QSIZE * 16);
	memset(host(f, t->avail), 0, 0x1000);
	memset(host(f, t->used), 0, 0x1000);
	t->next_desc = t->avail_idx = 0;
	wr(f, VIRTIO_MMIO_QUEUE_SEL, q);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), VIRTIO_CONSOLE_QUEUE_SIZE);
	wr(f, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
	wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)t->desc);
	wr(f, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)t->avail);
	wr(f, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)t->used);
	wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
}

/* Reset, negotiate (VERSION_1 | feat_lo), both queues, DRIVER_OK. */
static void driver_init(struct fixture *f, uint32_t feat_lo)
{
	assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_CONSOLE);
	wr(f, VIRTIO_MMIO_STATUS, 0);
	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, feat_lo);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	wr(f, VIRTIO_MMIO_STATUS, 0x0b);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0x0b);
	setup_queue(f, 0);
	setup_queue(f, 1);
	wr(f, VIRTIO_MMIO_STATUS, 0x0f);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0x0f);
}

struct seg {
	uint32_t len;
	bool write;
	uint64_t gpa; /* filled in */
};

/* Put a direct chain on queue q (not notified); returns its head. */
static uint16_t add_chain(struct fixture *f, unsigned q, struct seg *s, unsigned n)
{
	struct tq *t = &f->q[q];
	struct virtq_desc *d = host(f, t->desc);
	struct virtq_avail *a = host(f, t->avail);
	uint16_t head = t->next_desc;

	for (unsigned i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)((head + i) % QSIZE);

		if (!s[i].gpa)
			s[i].gpa = galloc(f, s[i].len);
		d[idx] = (struct virtq_desc){s[i].gpa, s[i].len,
					     (uint16_t)((s[i].write ? VIRTQ_DESC_F_WRITE : 0) |
							(i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
					     (uint16_t)((idx + 1) % QSIZE)};
	}
	t->next_desc = (uint16_t)((head + n) % QSIZE);
	a->ring[t->avail_idx % QSIZE] = head;
	t->avail_idx++;
	a->idx = t->avail_idx;
	return head;
}

static uint16_t used_idx(struct fixture *f, unsigned q)
{
	return ((struct virtq_used *)host(f, f->q[q].used))->idx;
}

static struct virtq_used_elem used_elem(struct fixture *f, unsigned q, uint16_t i)
{
	return ((struct virtq_used *)host(f, f->q[q].used))->ring[i % QSIZE];
}

/* One transmit chain holding `text`, split after `split` bytes (0: one segment). */
static uint16_t tx_text(struct fixture *f, const char *text, uint32_t split)
{
	uint32_t len = (uint32_t)strlen(text);
	struct seg s[2] = {{split ? split : len, false, 0}, {len - split, false, 0}};
	unsigned n = split ? 2 : 1;

	for (unsigned i = 0, off = 0; i < n; off += s[i].len, i++) {
		s[i].gpa = galloc(f, s[i].len);
		memcpy(host(f, s[i].gpa), text + off, s[i].len);
	}
	return add_chain(f, VIRTIO_CONSOLE_TXQ, s, n);
}

static void stats(struct fixture *f, struct virtio_console_stats *st)
{
	virtio_console_get_stats(f->con, st);
}

static void assert_needs_reset(struct fixture *f)
{
	assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	assert_true(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
}

static void test_identity(void **state)
{
	struct fixture *f = *state;
	struct virtio_console_backend none = {0};
	struct virtio_console *c;
	uint32_t v = 0;

	assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_CONSOLE);
	wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	v = rd(f, VIRTIO_MMIO_DEVICE_FEATURES);
	assert_true(v & (1u << VIRTIO_CONSOLE_F_EMERG_WRITE));
	assert_false(v & (1u << VIRTIO_CONSOLE_F_MULTIPORT));
	assert_false(v & (1u << VIRTIO_CONSOLE_F_SIZE));
	assert_true(v & (1u << VIRTIO_F_EVENT_IDX));
	wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_FEATURES), 1); /* VERSION_1 (no packed=on) */
	assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG + 4), 1);	 /* max_nr_ports */
	assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG + 0), 0);	 /* cols, rows */
	/* reads past the 12-byte config space return 0 */
	assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG + 12), 0);
	wr(f, VIRTIO_MMIO_QUEUE_SEL, 2);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), 0); /* only port 0's two queues */
	assert_int_equal(virtio_console_create(&c, f->b.mem, &none), -EINVAL);
	assert_int_equal(virtio_console_create(&c, f->b.mem, NULL), -EINVAL);
}

static void test_tx_chains(void **state)
{
	struct fixture *f = *state;
	struct virtio_console_stats st;
	uint16_t h[3];

	driver_init(f, 0);
	h[0] = tx_text(f, "hello, ", 0);
	h[1] = tx_text(f, "virtio ", 3);
	h[2] = tx_text(f, "console\n", 1);
	assert_int_equal(f->out_len, 0); /* nothing before the notify */
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_CONSOLE_TXQ);
	assert_int_equal(f->out_len, 22);
	assert_memory_equal(f->out, "hello, virtio console\n", 22);
	assert_int_equal(used_idx(f, VIRTIO_CONSOLE_TXQ), 3);
	for (uint16_t i = 0; i < 3; i++) {
		assert_int_equal(used_elem(f, VIRTIO_CONSOLE_TXQ, i).id, h[i]);
		assert_int_equal(used_elem(f, VIRTIO_CONSOLE_TXQ, i).len, 0);
	}
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	assert_true(fake_irq_level(&f->irq));
	wr(f, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	assert_false(fake_irq_level(&f->irq));
	/* a notify on the receiveq does not touch the transmitq */
	tx_text(f, "later", 0);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_CONSOLE_RXQ);
	assert_int_equal(f->out_len, 22);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_CONSOLE_TXQ);
	assert_int_equal(f->out_len, 27);
	stats(f, &st);
	assert_int_equal(st.tx_bytes, 27);
	assert_int_equal(st.tx_chains, 4);
	assert_int_equal(st.tx_dropped, 0);
	assert_int_equal(st.guest_errors, 0);
}

/* A sink that accepts fewer bytes: the rest is dropped and counted; the chain completes. */
static void test_tx_sink_short(void **state)
{
	struct fixture *f = *state;
	struct virtio_console_stats st;

	driver_init(f, 0);
	f->accept = 3;
	tx_text(f, "0123456789", 4); /* segments of 4 and 6: 3 + 3 accepted */
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_CONSOLE_TXQ);
	assert_int_equal(used_idx(f, VIRTIO_CONSOLE_TXQ), 1);
	assert_int_equal(f->out_len, 6);
	assert_memory_equal(f->out, "012456", 6);
	stats(f, &st);
	assert_int_equal(st.tx_bytes, 6);
	assert_int_equal(st.tx_dropped, 4);
}

/* Input before the driver is there and while it has no buffers is held, then delivered. */
static void test_rx_held_then_delivered(void **state)
{
	struct fixture *f = *state;
	struct virtio_console_stats st;
	struct seg s = {16, true, 0};
	uint16_t head;

	assert_int_equal(virtio_console_input(f->con, (const uint8_t *)"early", 5), 5);
	driver_init(f, 0); /* the reset at the start of driver_init keeps held input */
	assert_int_equal(virtio_console_input(f->con, (const uint8_t *)"+more", 5), 5);
	stats(f, &st);
	assert_int_equal(st.held_now, 10);
	assert_int_equal(st.rx_held, 10);
	assert_int_equal(st.rx_bytes, 0);
	assert_int_equal(used_idx(f, VIRTIO_CONSOLE_RXQ), 0);
	assert_false(fake_irq_level(&f->irq));
	head = add_chain(f, VIRTIO_CONSOLE_RXQ, &s, 1);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_CONSOLE_RXQ);
	assert_int_equal(used_idx(f, VIRTIO_CONSOLE_RXQ), 1);
	assert_int_equal(used_elem(f, VIRTIO_CONSOLE_RXQ, 0).id, head);
	assert_int_equal(used_elem(f, VIRTIO_CONSOLE_RXQ, 0).len, 10);
	assert_memory_equal(host(f, s.gpa), "early+more", 10);
	assert_true(fake_irq_level(&f->irq));
	assert_int_equal(f->rx_ready, 1);
	stats(f, &st);
	assert_int_equal(st.held_now, 0);
	assert_int_equal(st.rx_bytes, 10);
	assert_int_equal(st.rx_chains, 1);
	/* with a buffer already posted, input goes straight in */
	s = (struct seg){8, true, 0};
	add_chain(f, VIRTIO_CONSOLE_RXQ, &s, 1);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_CONSOLE_RXQ); /* nothing held: buffer stays */
	assert_int_equal(used_idx(f, VIRTIO_CONSOLE_RXQ), 1);
	assert_int_equal(virtio_console_input(f->con, (const uint8_t *)"x", 1), 1);
	assert_int_equal(used_idx(f, VIRTIO_CONSOLE_RXQ), 2);
	assert_int_equal(used_elem(f, VIRTIO_CONSOLE_RXQ, 1).len, 1);
	assert_memory_equal(host(f, s.gpa), "x", 1);
	stats(f, &st);
	assert_int_equal(st.rx_held, 10); /* "x" never waited */
}

/* Buffers shorter than the input: filled in order, segment by segment. */
static void test_rx_short_buffers(void **state)
{
	struct fixture *f = *state;
	struct seg a[2] = {{1, true, 0}, {3, true, 0}}, b = {4, true, 0}, c = {4, true, 0};
	struct seg d = {32, true, 0};

	driver_init(f, 0);
	add_chain(f, VIRTIO_CONSOLE_RXQ, a, 2);
	add_chain(f, VIRTIO_CONSOLE_RXQ, &b, 1);
	add_chain(f, VIRTIO_CONSOLE_RXQ, &c, 1);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_CONSOLE_RXQ);
	assert_int_equal(virtio_console_input(f->con, (const uint8_t *)"0123456789", 10), 10);
	assert_int_equal(used_idx(f, VIRTIO_CONSOLE_RXQ), 3);
	assert_int_equal(used_elem(f, VIRTIO_CONSOLE_RXQ, 0).len, 4);
	assert_int_equal(used_elem(f, VIRTIO_CONSOLE_RXQ, 1).len, 4);
	assert_int_equal(used_elem(f, VIRTIO_CONSOLE_RXQ, 2).len, 2);
	assert_memory_equal(host(f, a[0].gpa), "0", 1);
	assert_memory_equal(host(f, a[1].gpa), "123", 3);
	assert_memory_equal(host(f, b.gpa), "4567", 4);
	assert_memory_equal(host(f, c.gpa), "89", 2);
	/* no buffers left: 20 bytes wait, then go into one 32-byte buffer */
	assert_int_equal(virtio_console_input(f->con, (const uint8_t *)"abcdefghijklmnopqrst", 20),
			 20);
	assert_int_equal(used_idx(f, VIRTIO_CONSOLE_RXQ), 3);
	add_chain(f, VIRTIO_CONSOLE_RXQ, &d, 1);
	virtio_console_poll(f->con); /* the tick finds a buffer posted without a notify */
	assert_int_equal(used_idx(f, VIRTIO_CONSOLE_RXQ), 4);
	assert_int_equal(used_elem(f, VIRTIO_CONSOLE_RXQ, 3).len, 20);
	assert_memory_equal(host(f, d.gpa), "abcdefghijklmnopqrst", 20);
}

/* The hold buffer is bounded: past it input is refused (the caller keeps it), never dropped;
 * byte order survives the ring wrapping. */
static void test_rx_hold_full(void **state)
{
	struct fixture *f = *state;
	static uint8_t in[6000], got[6000];
	struct virtio_console_stats st;
	size_t acc, fed, rcv = 0;

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7 + i / 251);
	driver_init(f, 0);
	acc = virtio_console_input(f->con, in, sizeof(in));
	assert_int_equal(acc, VIRTIO_CONSOLE_RX_HOLD);
	stats(f, &st);
	assert_int_equal(st.rx_refused, sizeof(in) - VIRTIO_CONSOLE_RX_HOLD);
	assert_int_equal(virtio_console_input(f->con, in + acc, 1), 0);
	fed = acc;
	while (rcv < sizeof(in)) {
		struct seg s = {1000, true, 0};
		uint16_t before = used_idx(f, VIRTIO_CONSOLE_RXQ);
		uint32_t n;

		f->b.next_data = VQB_DATA_GPA; /* reuse the same buffer area */
		f->rx_ready = 0;
		add_chain(f, VIRTIO_CONSOLE_RXQ, &s, 1);
		wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_CONSOLE_RXQ);
		assert_int_equal(used_idx(f, VIRTIO_CONSOLE_RXQ), (uint16_t)(before + 1));
		n = used_elem(f, VIRTIO_CONSOLE_RXQ, before).len;
		assert_true(n > 0 && n <= 1000);
		assert_int_equal(f->rx_ready, 1);
		memcpy(got + rcv, host(f, s.gpa), n);
		rcv += n;
		if (fed < sizeof(in))
			fed += virtio_console_input(f->con, in + fed, sizeof(in) - fed);
		wr(f, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	}
	assert_memory_equal(got, in, sizeof(in));
	stats(f, &st);
	assert_int_equal(st.rx_bytes, sizeof(in));
	assert_int_equal(st.held_now, 0);
}

static void test_tx_writable_buffer(void **state)
{
	struct fixture *f = *state;
	struct virtio_console_stats st;
	struct seg s[2] = {{4, false, 0}, {4, true, 0}};

	driver_init(f, 0);
	add_chain(f, VIRTIO_CONSOLE_TXQ, s, 2);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_CONSOLE_TXQ);
	assert_needs_reset(f);
	assert_int_equal(used_idx(f, VIRTIO_CONSOLE_TXQ), 0);
	assert_int_equal(f->out_len, 0);
	/* quiet until reset: later chains and input are not processed */
	tx_text(f, "ignored", 0);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_CONSOLE_TXQ);
	assert_int_equal(f->out_len, 0);
	stats(f, &st);
	assert_int_equal(st.guest_errors, 1);
}

static void test_rx_readable_buffer(void **state)
{
	struct fixture *f = *state;
	struct virtio_console_stats st;
	struct seg s[2] = {{4, false, 0}, {4, true, 0}}, z = {0, true, 0};

	driver_init(f, 0);
	add_chain(f, VIRTIO_CONSOLE_RXQ, s, 2);
	assert_int_equal(virtio_console_input(f->con, (const uint8_t *)"abc", 3), 3);
	assert_needs_reset(f);
	assert_int_equal(used_idx(f, VIRTIO_CONSOLE_RXQ), 0);
	stats(f, &st);
	assert_int_equal(st.guest_errors, 1);
	assert_int_equal(st.held_now, 3); /* not lost */
	/* after a reset, a chain with no writable byte is also refused */
	driver_init(f, 0);
	add_chain(f, VIRTIO_CONSOLE_RXQ, &z, 1);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_CONSOLE_RXQ);
	assert_needs_reset(f);
	stats(f, &st);
	assert_int_equal(st.guest_errors, 2);
	assert_int_equal(st.held_now, 3);
}

static void test_chain_loop(void **state)
{
	struct fixture *f = *state;
	struct virtio_console_stats st;
	struct seg s[2] = {{4, false, 0}, {4, false, 0}};
	struct virtq_desc *d;
	uint16_t head;

	driver_init(f, 0);
	head = add_chain(f, VIRTIO_CONSOLE_TXQ, s, 2);
	d = host(f, f->q[VIRTIO_CONSOLE_TXQ].desc);
	d[(head + 1) % QSIZE].flags |= VIRTQ_DESC_F_NEXT;
	d[(head + 1) % QSIZE].next = head; /* loops back */
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_CONSOLE_TXQ);
	assert_needs_reset(f);
	assert_int_equal(f->out_len, 0);
	/* an avail index far ahead on the receiveq, after a reset */
	driver_init(f, 0);
	((struct virtq_avail *)host(f, f->q[VIRTIO_CONSOLE_RXQ].avail))->idx = 1000;
	assert_int_equal(virtio_console_input(f->con, (const uint8_t *)"z", 1), 1);
	assert_needs_reset(f);
	stats(f, &st);
	assert_int_equal(st.guest_errors, 2);
}

/* Reset drops the queues and the negotiated state, keeps held input, and the device works
 * again with new rings (EVENT_IDX and INDIRECT negotiated this time). */
static void test_reset(void **state)
{
	struct fixture *f = *state;
	struct virtio_console_stats st;
	struct seg s = {8, true, 0};

	driver_init(f, 0);
	tx_text(f, "one ", 0);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_CONSOLE_TXQ);
	assert_int_equal(virtio_console_input(f->con, (const uint8_t *)"kept", 4), 4);
	tx_text(f, "lost", 0); /* posted, never notified before the reset */
	wr(f, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	assert_false(fake_irq_level(&f->irq));
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_CONSOLE_TXQ); /* ignored while reset */
	assert_int_equal(f->out_len, 4);
	driver_init(f, (1u << VIRTIO_F_EVENT_IDX) | (1u << VIRTIO_F_INDIRECT_DESC) |
			   (1u << VIRTIO_CONSOLE_F_EMERG_WRITE));
	add_chain(f, VIRTIO_CONSOLE_RXQ, &s, 1);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_CONSOLE_RXQ);
	assert_int_equal(used_idx(f, VIRTIO_CONSOLE_RXQ), 1);
	assert_memory_equal(host(f, s.gpa), "kept", 4);
	tx_text(f, "two\n", 0);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_CONSOLE_TXQ);
	assert_int_equal(f->out_len, 8);
	assert_memory_equal(f->out, "one two\n", 8);
	stats(f, &st);
	assert_int_equal(st.guest_errors, 0);
	assert_int_equal(st.held_now, 0);
}

static void test_emerg_write(void **state)
{
	struct fixture *f = *state;
	uint8_t b = 'Q';
	uint16_t w = 'x';

	wr(f, VIRTIO_MMIO_CONFIG + 8, 'E');
	virtio_mmio_io_ops.write(f->t, VIRTIO_MMIO_CONFIG + 8, &b, 1);
	virtio_mmio_io_ops.write(f->t, VIRTIO_MMIO_CONFIG + 9, &b, 1);	/* not emerg_wr */
	virtio_mmio_io_ops.write(f->t, VIRTIO_MMIO_CONFIG + 0, &w, 2);	/* cols: ignored */
	virtio_mmio_io_ops.write(f->t, VIRTIO_MMIO_CONFIG + 11, &w, 2); /* crosses the end */
	assert_int_equal(f->out_len, 2);
	assert_memory_equal(f->out, "EQ", 2);
	assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG + 8), 0); /* write-only */
}

/* Snapshot: input held because the guest had no buffers moves, in order, to a fresh device
 * (which continues the queues at their positions without replaying the transmitq); a hold
 * length past the buffer is refused. */
static void test_snapshot_round_trip(void **state)
{
	struct fixture *f = *state;
	static struct virtio_console_state cs, bad;
	struct virtio_console_backend be = {sink_write, sink_rx_ready, f};
	struct virtio_dev_state ds;
	struct virtio_console *c2;
	struct seg rx = {64, true, 0}, tx = {5, false, 0};
	uint8_t big[VIRTIO_CONSOLE_RX_HOLD];

	driver_init(f, 0);
	memcpy(host(f, (tx.gpa = galloc(f, 5))), "early", 5);
	add_chain(f, 1, &tx, 1);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	assert_int_equal(f->out_len, 5);
	/* wrap the hold ring: 4094 bytes in and out, then "held!" across its end */
	memset(big, 'x', sizeof(big));
	assert_int_equal(virtio_console_input(f->con, big, 4094), 4094);
	for (unsigned i = 0; i < 4; i++) {
		struct seg r = {1024, true, 0};

		add_chain(f, 0, &r, 1);
	}
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(used_idx(f, 0), 4);
	assert_int_equal(virtio_console_input(f->con, (const uint8_t *)"held!", 5), 5);
	virtio_console_poll(f->con);
	assert_int_equal(used_idx(f, 0), 4); /* no buffer: held */

	virtio_dev_save(virtio_console_dev(f->con), &ds);
	virtio_console_save(f->con, &cs);
	assert_int_equal(cs.hold_len, 5);
	assert_memory_equal(cs.hold, "held!", 5);
	assert_int_equal(virtio_console_create(&c2, f->b.mem, &be), 0);
	assert_int_equal(virtio_dev_load(virtio_console_dev(c2), &ds), 0);
	assert_int_equal(virtio_console_load(c2, &cs), 0);
	assert_int_equal(f->out_len, 5); /* the transmitq chain was not replayed */
	add_chain(f, 0, &rx, 1);
	virtio_console_poll(c2);
	assert_int_equal(used_idx(f, 0), 5);
	assert_int_equal(used_elem(f, 0, 4).len, 5);
	assert_memory_equal(host(f, rx.gpa), "held!", 5);
	bad = cs;
	bad.hold_len = VIRTIO_CONSOLE_RX_HOLD + 1;
	assert_int_equal(virtio_console_load(c2, &bad), -EINVAL);
	bad = cs;
	bad.pad = 1;
	assert_int_equal(virtio_console_load(c2, &bad), -EINVAL);
	virtio_console_destroy(c2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_identity, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tx_chains, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tx_sink_short, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_held_then_delivered, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_short_buffers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_hold_full, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tx_writable_buffer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_readable_buffer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chain_loop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_emerg_write, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_round_trip, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
