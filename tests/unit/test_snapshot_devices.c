/* Unit tests for the device snapshot state: virtio core (queues re-activated with their
 * indices; a live packed queue detected, as the VMM refuses to save it), the 16550 UART and the
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

/* The VMM refuses to save a device with a packed queue: its ring position is not in the state. */
static void test_virtio_uses_packed(void **state)
{
	struct vqb b;
	struct virtio_dev split, pk;

	vqb_init(&b, 16);
	assert_int_equal(virtio_dev_init(&split, &fake_ops, b.mem), 0);
	drive_to_ok(&split);
	assert_true(split.vq[0].active);
	assert_false(virtio_dev_uses_packed(&split));

	assert_int_equal(virtio_dev_init(&pk, &packed_ops, b.mem), 0);
	virtio_dev_offer_packed(&pk, true); /* packed=on */
	assert_false(virtio_dev_uses_packed(&pk)); /* nothing negotiated yet */
	virtio_set_status(&pk, VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_set_status(&pk, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_set_driver_features(&pk, 1, 1u | (1u << (VIRTIO_F_RING_PACKED - 32)));
	virtio_set_status(&pk, 0x0b);
	pk.vq[0].size = 16;
	pk.vq[0].desc_gpa = VQB_DESC_GPA;
	pk.vq[0].avail_gpa = VQB_AVAIL_GPA;
	pk.vq[0].used_gpa = VQB_USED_GPA;
	pk.vq[0].ready = true;
	assert_false(virtio_dev_uses_packed(&pk)); /* negotiated, not yet live */
	virtio_set_status(&pk, 0x0f);
	assert_true(pk.vq[0].active);
	assert_true(virtio_dev_uses_packed(&pk));
	virtio_set_status(&pk, 0); /* reset: no queue left */
	assert_false(virtio_dev_uses_packed(&pk));
	virtio_dev_fini(&split);
	virtio_dev_fini(&pk);
	vqb_fini(&b);
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
	    cmocka_unit_test(test_virtio_uses_packed),
	    cmocka_unit_test(test_uart_round_trip),
	    cmocka_unit_test(test_i8042_refuses_bad_queue),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
