/* Unit tests for the device snapshot state: virtio core (split and packed queues re-activated
 * at their saved positions; packed chains in flight detected and refused), the 16550 UART and the
 * i8042 (round trip, impossible states refused, interrupt line following the loaded state). */
#include "lib/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/legacy/i8042.h"
#include "devices/legacy/uart16550.h"
#include "devices/virtio/virtio.h"
#include "lib/fake_irq.h"
#include "lib/pvq_builder.h"
#include "lib/vq_builder.h"

static const struct virtio_dev_ops fake_ops = {
    .name = "fake",
    .device_id = VIRTIO_ID_RNG,
    .num_queues = 1,
    .max_queue_size = 16,
    .features = 1ull << VIRTIO_F_EVENT_IDX,
};

static const struct virtio_dev_ops other_ops = {
    .name = "other",
    .device_id = VIRTIO_ID_BLOCK,
    .num_queues = 1,
    .max_queue_size = 16,
};

static void drive_to_ok(struct virtio_dev *vd)
{
	struct virtq *vq = &vd->vq[0];

	virtio_set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_set_driver_features(vd, 0, 1u << VIRTIO_F_EVENT_IDX);
	virtio_set_driver_features(vd, 1, 1u);
	virtio_set_status(vd, 0x0b);
	vq->size = 16;
	vq->desc_gpa = VQB_DESC_GPA;
	vq->avail_gpa = VQB_AVAIL_GPA;
	vq->used_gpa = VQB_USED_GPA;
	vq->ready = true;
	virtio_set_status(vd, 0x0f);
}

static void test_virtio_round_trip(void **state)
{
	static struct virtq_elem e;
	struct vqb b;
	struct virtio_dev a, r;
	struct virtio_dev_state s;
	struct vqb_seg seg[2] = {{16, false, 0}, {1, true, 0}};
	uint16_t head;

	vqb_init(&b, 16);
	assert_int_equal(virtio_dev_init(&a, &fake_ops, b.mem), 0);
	drive_to_ok(&a);
	assert_true(a.vq[0].active);
	for (int i = 0; i < 3; i++) {
		head = vqb_add_chain(&b, seg, 2, false);
		assert_int_equal(virtq_pop(&a.vq[0], &e), 1);
		virtq_push(&a.vq[0], e.head, 1);
	}
	virtio_dev_save(&a, &s);
	assert_int_equal(s.status, 0x0f);
	assert_int_equal(s.q[0].last_avail, 3);
	assert_int_equal(s.q[0].used_idx, 3);

	/* A fresh device of the same type takes it over and sees only new requests. */
	assert_int_equal(virtio_dev_init(&r, &fake_ops, b.mem), 0);
	assert_int_equal(virtio_dev_load(&r, &s), 0);
	assert_true(r.vq[0].active);
	assert_true(r.vq[0].event_idx);
	assert_int_equal(r.acked_features, a.acked_features);
	assert_int_equal(virtq_pop(&r.vq[0], &e), 0);
	head = vqb_add_chain(&b, seg, 2, false);
	assert_int_equal(virtq_pop(&r.vq[0], &e), 1);
	assert_int_equal(e.head, head);
	virtq_push(&r.vq[0], e.head, 1);
	assert_int_equal(vqb_used_idx(&b), 4);
	virtio_dev_fini(&a);
	virtio_dev_fini(&r);
	vqb_fini(&b);
}

static const struct virtio_dev_ops packed_ops = {
    .name = "packed",
    .device_id = VIRTIO_ID_RNG,
    .num_queues = 1,
    .max_queue_size = 16,
    .features = 1ull << VIRTIO_F_RING_PACKED,
};

static void drive_packed_to_ok(struct virtio_dev *pk)
{
	virtio_dev_offer_packed(pk, true); /* packed=on */
	virtio_set_status(pk, VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_set_status(pk, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_set_driver_features(pk, 1, 1u | (1u << (VIRTIO_F_RING_PACKED - 32)));
	virtio_set_status(pk, 0x0b);
	pk->vq[0].size = 16;
	pk->vq[0].desc_gpa = VQB_DESC_GPA;
	pk->vq[0].avail_gpa = VQB_AVAIL_GPA;
	pk->vq[0].used_gpa = VQB_USED_GPA;
	pk->vq[0].ready = true;
	virtio_set_status(pk, 0x0f);
}

/* A packed queue past its first lap (wrap counters 0) is saved and continued by a fresh
 * device: the next chain the driver adds is popped with its ID and its used descriptor lands
 * where the driver looks for it. */
static void test_virtio_packed_round_trip(void **state)
{
	static struct virtq_elem e;
	static struct pvqb b;
	struct virtio_dev a, r;
	struct virtio_dev_state s;
	struct vqb_seg seg[1] = {{64, true, 0}};
	uint16_t id, flags;
	uint32_t len;

	pvqb_init(&b, 16);
	assert_int_equal(virtio_dev_init(&a, &packed_ops, b.mem), 0);
	drive_packed_to_ok(&a);
	assert_true(a.vq[0].active && a.vq[0].packed);
	for (uint16_t i = 0; i < 21; i++) {
		pvqb_add_chain(&b, seg, 1, false, i);
		assert_int_equal(virtq_pop(&a.vq[0], &e), 1);
		assert_int_equal(e.id, i);
		virtq_push(&a.vq[0], e.head, 8);
		assert_true(pvqb_get_used(&b, &id, &len, &flags));
		assert_int_equal(id, i);
	}
	assert_false(virtio_dev_has_inflight(&a));
	virtio_dev_save(&a, &s);
	assert_int_equal(s.q[0].packed, 1);
	assert_int_equal(s.q[0].next_avail, 5);
	assert_int_equal(s.q[0].next_used, 5);
	assert_int_equal(s.q[0].avail_wrap, 0);
	assert_int_equal(s.q[0].used_wrap, 0);

	assert_int_equal(virtio_dev_init(&r, &packed_ops, b.mem), 0);
	virtio_dev_offer_packed(&r, true);
	assert_int_equal(virtio_dev_load(&r, &s), 0);
	assert_true(r.vq[0].active && r.vq[0].packed);
	assert_int_equal(virtq_pop(&r.vq[0], &e), 0); /* nothing replayed */
	for (uint16_t i = 100; i < 120; i++) {	      /* and across the next wrap */
		pvqb_add_chain(&b, seg, 1, false, i);
		assert_int_equal(virtq_pop(&r.vq[0], &e), 1);
		assert_int_equal(e.id, i);
		virtq_push(&r.vq[0], e.head, 8);
		assert_true(pvqb_get_used(&b, &id, &len, &flags));
		assert_int_equal(id, i);
		assert_int_equal(len, 8);
	}
	virtio_dev_fini(&a);
	virtio_dev_fini(&r);
	pvqb_fini(&b);
}

/* Chains in flight make a device unsaveable (virtio_dev_has_inflight); a packed state that
 * cannot be a position of this ring, or of another layout than the negotiated one, is refused. */
static void test_virtio_packed_refused(void **state)
{
	static struct virtq_elem e;
	static struct pvqb b;
	struct virtio_dev a, r, split;
	struct virtio_dev_state s, bad;
	struct vqb_seg seg[1] = {{64, false, 0}};

	pvqb_init(&b, 16);
	assert_int_equal(virtio_dev_init(&split, &fake_ops, b.mem), 0);
	drive_to_ok(&split);
	assert_false(virtio_dev_has_inflight(&split));
	assert_int_equal(virtio_dev_init(&a, &packed_ops, b.mem), 0);
	assert_false(virtio_dev_has_inflight(&a)); /* nothing negotiated yet */
	drive_packed_to_ok(&a);
	pvqb_add_chain(&b, seg, 1, false, 3);
	assert_int_equal(virtq_pop(&a.vq[0], &e), 1);
	assert_true(virtio_dev_has_inflight(&a));
	virtio_dev_save(&a, &s);
	assert_int_equal(s.q[0].inflight, 1);
	assert_int_equal(virtio_dev_init(&r, &packed_ops, b.mem), 0);
	virtio_dev_offer_packed(&r, true);
	assert_int_equal(virtio_dev_load(&r, &s), -EINVAL); /* slots not saved */
	virtq_push(&a.vq[0], e.head, 0);
	assert_false(virtio_dev_has_inflight(&a));
	virtio_dev_save(&a, &s);
	assert_int_equal(virtio_dev_load(&r, &s), 0);
	bad = s;
	bad.q[0].next_avail = 16; /* past the ring */
	assert_int_equal(virtio_dev_load(&r, &bad), -EINVAL);
	bad = s;
	bad.q[0].next_used = 200;
	assert_int_equal(virtio_dev_load(&r, &bad), -EINVAL);
	bad = s;
	bad.q[0].signalled_used = 32; /* linear used positions are < 2 * size */
	assert_int_equal(virtio_dev_load(&r, &bad), -EINVAL);
	bad = s;
	bad.q[0].avail_wrap = 2;
	assert_int_equal(virtio_dev_load(&r, &bad), -EINVAL);
	bad = s;
	bad.q[0].packed = 0; /* a split position for a queue negotiated packed */
	assert_int_equal(virtio_dev_load(&r, &bad), -EINVAL);
	virtio_dev_save(&split, &bad);
	bad.q[0].packed = 1; /* and the converse */
	assert_int_equal(virtio_dev_load(&split, &bad), -EINVAL);
	virtio_dev_fini(&r);
	/* A device that does not offer packed rings refuses a packed negotiation. */
	assert_int_equal(virtio_dev_init(&r, &packed_ops, b.mem), 0);
	assert_int_equal(virtio_dev_load(&r, &s), -EINVAL);
	virtio_set_status(&a, 0); /* reset: nothing in flight, nothing live */
	assert_false(virtio_dev_has_inflight(&a));
	virtio_dev_fini(&split);
	virtio_dev_fini(&a);
	virtio_dev_fini(&r);
	pvqb_fini(&b);
}

static void test_virtio_refuses_mismatch(void **state)
{
	struct vqb b;
	struct virtio_dev a, r;
	struct virtio_dev_state s, bad;

	vqb_init(&b, 16);
	assert_int_equal(virtio_dev_init(&a, &fake_ops, b.mem), 0);
	drive_to_ok(&a);
	virtio_dev_save(&a, &s);
	assert_int_equal(virtio_dev_init(&r, &other_ops, b.mem), 0);
	assert_int_equal(virtio_dev_load(&r, &s), -EINVAL); /* other device type */
	virtio_dev_fini(&r);
	assert_int_equal(virtio_dev_init(&r, &fake_ops, b.mem), 0);
	bad = s;
	bad.acked_features |= 1ull << 40; /* never offered */
	assert_int_equal(virtio_dev_load(&r, &bad), -EINVAL);
	bad = s;
	bad.q[0].desc = VQB_RAM_SIZE - 16; /* ring outside guest RAM */
	assert_int_equal(virtio_dev_load(&r, &bad), -EINVAL);
	bad = s;
	bad.q[0].size = 12; /* not a power of two */
	assert_int_equal(virtio_dev_load(&r, &bad), -EINVAL);
	/* Before DRIVER_OK nothing is activated. */
	bad = s;
	bad.status = 0x0b;
	assert_int_equal(virtio_dev_load(&r, &bad), 0);
	assert_false(r.vq[0].active);
	virtio_dev_fini(&a);
	virtio_dev_fini(&r);
	vqb_fini(&b);
}

static struct uart16550 *make_uart(struct fake_irq *irq, int *fds)
{
	struct uart16550_config cfg = {0};
	struct uart16550 *u;

	assert_int_equal(pipe2(fds, O_NONBLOCK), 0);
	fake_irq_init(irq);
	cfg.out_fd = fds[1];
	cfg.irq = irq->line;
	assert_int_equal(uart16550_create(&u, &cfg), 0);
	return u;
}

static uint8_t uart_in(struct uart16550 *u, unsigned off)
{
	uint8_t v = 0;

	uart16550_io_ops.read(u, off, &v, 1);
	return v;
}

static void uart_out(struct uart16550 *u, unsigned off, uint8_t v)
{
	uart16550_io_ops.write(u, off, &v, 1);
}

static void test_uart_round_trip(void **state)
{
	struct fake_irq ia, ib;
	int fa[2], fb[2];
	struct uart16550 *a = make_uart(&ia, fa), *b = make_uart(&ib, fb);
	struct uart16550_state s, bad;

	uart_out(a, UART16550_IIR, UART16550_FCR_ENABLE); /* FCR */
	uart_out(a, UART16550_SCR, 0x5a);
	uart_out(a, UART16550_IER, UART16550_IER_ERBFI);
	assert_int_equal(uart16550_input(a, (const uint8_t *)"xyz", 3), 3);
	assert_true(fake_irq_level(&ia));
	uart16550_save(a, &s);
	assert_false(fake_irq_level(&ib));
	assert_int_equal(uart16550_load(b, &s), 0);
	assert_true(fake_irq_level(&ib)); /* the line follows the loaded state */
	assert_int_equal(uart_in(b, UART16550_SCR), 0x5a);
	assert_int_equal(uart_in(b, UART16550_RBR), 'x');
	assert_int_equal(uart_in(b, UART16550_RBR), 'y');
	assert_int_equal(uart_in(b, UART16550_RBR), 'z');
	assert_false(uart_in(b, UART16550_LSR) & UART16550_LSR_DR);
	bad = s;
	bad.rx_head = UART16550_FIFO_SIZE;
	assert_int_equal(uart16550_load(b, &bad), -EINVAL);
	bad = s;
	bad.rx_count = UART16550_FIFO_SIZE + 1;
	assert_int_equal(uart16550_load(b, &bad), -EINVAL);
	uart16550_destroy(a);
	uart16550_destroy(b);
	fake_irq_fini(&ia);
	fake_irq_fini(&ib);
	close(fa[0]);
	close(fa[1]);
	close(fb[0]);
	close(fb[1]);
}

static void test_i8042_refuses_bad_queue(void **state)
{
	struct i8042 *k;
	struct i8042_state s;

	assert_int_equal(i8042_create(&k, NULL), 0);
	i8042_save(k, &s);
	assert_int_equal(i8042_load(k, &s), 0);
	s.q_head = I8042_QUEUE_SIZE;
	assert_int_equal(i8042_load(k, &s), -EINVAL);
	s.q_head = 0;
	s.q_count = I8042_QUEUE_SIZE + 1;
	assert_int_equal(i8042_load(k, &s), -EINVAL);
	i8042_destroy(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_virtio_round_trip),
	    cmocka_unit_test(test_virtio_refuses_mismatch),
	    cmocka_unit_test(test_virtio_packed_round_trip),
	    cmocka_unit_test(test_virtio_packed_refused),
	    cmocka_unit_test(test_uart_round_trip),
	    cmocka_unit_test(test_i8042_refuses_bad_queue),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
