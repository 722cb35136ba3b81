/* Unit tests for devices/virtio/virtio: the status/feature state machine, activation,
 * NEEDS_RESET and notification. */
#include "lib/harness.h"

#include <string.h>

#include "devices/virtio/virtio.h"
#include "lib/vq_builder.h"

static int activations, resets, queue_irqs, config_irqs;

static int fake_activate(struct virtio_dev *vd)
{
	activations++;
	return 0;
}

static void fake_reset(struct virtio_dev *vd)
{
	resets++;
}

static const struct virtio_dev_ops fake_ops = {
    .name = "fake",
    .device_id = VIRTIO_ID_RNG,
    .num_queues = 1,
    .max_queue_size = 16,
    .features = (1ull << VIRTIO_F_EVENT_IDX) | (1ull << VIRTIO_F_RING_PACKED),
    .activate = fake_activate,
    .reset = fake_reset,
};

static void tr_queue(void *tr, uint16_t q)
{
	queue_irqs++;
}

static void tr_config(void *tr)
{
	config_irqs++;
}

static const struct virtio_transport_ops tr_ops = {tr_queue, tr_config};

struct fixture {
	struct vqb b;
	struct virtio_dev vd;
};

static int setup(void **state)
{
	static struct fixture f;

	vqb_init(&f.b, 16);
	assert_int_equal(virtio_dev_init(&f.vd, &fake_ops, f.b.mem), 0);
	/* packed rings are offered only on request (packed=on) */
	assert_false(virtio_offered_features(&f.vd) & (1ull << VIRTIO_F_RING_PACKED));
	virtio_dev_offer_packed(&f.vd, true);
	f.vd.tr_ops = &tr_ops;
	activations = resets = queue_irqs = config_irqs = 0;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	vqb_fini(&f->b);
	return 0;
}

static void setup_queue(struct fixture *f)
{
	struct virtq *vq = &f->vd.vq[0];

	vq->size = 16;
	vq->desc_gpa = VQB_DESC_GPA;
	vq->avail_gpa = VQB_AVAIL_GPA;
	vq->used_gpa = VQB_USED_GPA;
	vq->ready = true;
}

static void drive_to_ok(struct fixture *f, uint64_t feats)
{
	virtio_set_status(&f->vd, VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_set_status(&f->vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_set_driver_features(&f->vd, 0, (uint32_t)feats);
	virtio_set_driver_features(&f->vd, 1, (uint32_t)(feats >> 32));
	virtio_set_status(&f->vd, 0x0b);
	setup_queue(f);
	virtio_set_status(&f->vd, 0x0f);
}

static void test_negotiation(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(virtio_offered_features(&f->vd), (1ull << VIRTIO_F_EVENT_IDX) |
							      (1ull << VIRTIO_F_VERSION_1) |
							      (1ull << VIRTIO_F_RING_PACKED));
	drive_to_ok(f, ~0ull); /* driver claims everything: only offered bits stick */
	assert_int_equal(f->vd.acked_features, virtio_offered_features(&f->vd));
	assert_int_equal(f->vd.status, 0x0f);
	assert_int_equal(activations, 1);
	assert_true(f->vd.vq[0].active);
	assert_true(f->vd.vq[0].event_idx);
	assert_true(f->vd.vq[0].packed); /* RING_PACKED negotiated: packed layout */
	assert_false(virtio_queue_writable(&f->vd, 0));
	/* features are frozen after FEATURES_OK */
	virtio_set_driver_features(&f->vd, 0, 0);
	assert_int_equal(f->vd.acked_features, virtio_offered_features(&f->vd));
}

static void test_legacy_driver_refused(void **state)
{
	struct fixture *f = *state;

	virtio_set_status(&f->vd, 0x01);
	virtio_set_status(&f->vd, 0x03);
	virtio_set_driver_features(&f->vd, 0, 1u << VIRTIO_F_EVENT_IDX); /* no VERSION_1 */
	virtio_set_status(&f->vd, 0x0b);
	assert_false(f->vd.status & VIRTIO_STATUS_FEATURES_OK);
	virtio_set_status(&f->vd, 0x0f);
	assert_true(f->vd.status & VIRTIO_STATUS_FAILED);
	assert_int_equal(activations, 0);
}

static void test_out_of_order(void **state)
{
	struct fixture *f = *state;

	virtio_set_status(&f->vd, VIRTIO_STATUS_DRIVER_OK);
	assert_true(f->vd.status & VIRTIO_STATUS_FAILED);
	assert_int_equal(activations, 0);
	virtio_set_status(&f->vd, 0);
	assert_int_equal(f->vd.status, 0);
	virtio_set_status(&f->vd, VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_ACKNOWLEDGE);
	assert_true(f->vd.status & VIRTIO_STATUS_FAILED);
}

static void test_bad_queue_needs_reset(void **state)
{
	struct fixture *f = *state;

	virtio_set_status(&f->vd, 0x01);
	virtio_set_status(&f->vd, 0x03);
	virtio_set_driver_features(&f->vd, 1, 1);
	virtio_set_status(&f->vd, 0x0b);
	setup_queue(f);
	f->vd.vq[0].used_gpa = VQB_RAM_SIZE; /* outside RAM */
	virtio_set_status(&f->vd, 0x0f);
	assert_true(f->vd.status & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(config_irqs, 1);
	assert_int_equal(activations, 0);
	virtio_set_status(&f->vd, 0);
	assert_int_equal(resets, 1);
	assert_int_equal(f->vd.status, 0);
	assert_int_equal(f->vd.acked_features, 0);
	assert_false(f->vd.vq[0].active);
	assert_true(virtio_queue_writable(&f->vd, 0));
	assert_false(virtio_queue_writable(&f->vd, 1));
}

static void test_queue_done_notifies(void **state)
{
	struct fixture *f = *state;
	struct vqb_seg s[1] = {{8, true, 0}};
	static struct virtq_elem e;

	drive_to_ok(f, 1ull << VIRTIO_F_VERSION_1); /* no EVENT_IDX */
	vqb_add_chain(&f->b, s, 1, false);
	assert_int_equal(virtq_pop(&f->vd.vq[0], &e), 1);
	virtq_push(&f->vd.vq[0], e.head, 8);
	virtio_queue_done(&f->vd, 0);
	assert_int_equal(queue_irqs, 1);
	virtio_queue_done(&f->vd, 5); /* no such queue: ignored */
	assert_int_equal(queue_irqs, 1);
}

/* The ring layout follows VIRTIO_F_RING_PACKED; each layout has its own activation checks
 * (packed: any size, 4-byte aligned driver area; split: a power of two, 2-byte aligned). */
static void test_packed_layout_chosen(void **state)
{
	struct fixture *f = *state;
	const uint64_t v1 = 1ull << VIRTIO_F_VERSION_1, packed = 1ull << VIRTIO_F_RING_PACKED;

	drive_to_ok(f, v1);
	assert_true(f->vd.vq[0].active);
	assert_false(f->vd.vq[0].packed);
	virtio_set_status(&f->vd, 0);
	drive_to_ok(f, v1 | packed);
	assert_int_equal(f->vd.status, 0x0f);
	assert_true(f->vd.vq[0].active);
	assert_true(f->vd.vq[0].packed);
	virtio_set_status(&f->vd, 0);
	assert_false(f->vd.vq[0].packed);

	/* size 12: packed accepts it, split does not */
	virtio_set_status(&f->vd, 0x01);
	virtio_set_status(&f->vd, 0x03);
	virtio_set_driver_features(&f->vd, 1, (uint32_t)((v1 | packed) >> 32));
	virtio_set_status(&f->vd, 0x0b);
	setup_queue(f);
	f->vd.vq[0].size = 12;
	virtio_set_status(&f->vd, 0x0f);
	assert_int_equal(f->vd.status, 0x0f);
	virtio_set_status(&f->vd, 0);
	virtio_set_status(&f->vd, 0x01);
	virtio_set_status(&f->vd, 0x03);
	virtio_set_driver_features(&f->vd, 1, (uint32_t)(v1 >> 32));
	virtio_set_status(&f->vd, 0x0b);
	setup_queue(f);
	f->vd.vq[0].size = 12;
	virtio_set_status(&f->vd, 0x0f);
	assert_true(f->vd.status & VIRTIO_STATUS_NEEDS_RESET);

	/* driver area at +2: fine for a split avail ring, misaligned for packed */
	virtio_set_status(&f->vd, 0);
	virtio_set_status(&f->vd, 0x01);
	virtio_set_status(&f->vd, 0x03);
	virtio_set_driver_features(&f->vd, 1, (uint32_t)((v1 | packed) >> 32));
	virtio_set_status(&f->vd, 0x0b);
	setup_queue(f);
	f->vd.vq[0].avail_gpa += 2;
	virtio_set_status(&f->vd, 0x0f);
	assert_true(f->vd.status & VIRTIO_STATUS_NEEDS_RESET);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_negotiation),	 T(test_legacy_driver_refused),
	    T(test_out_of_order),	 T(test_bad_queue_needs_reset),
	    T(test_queue_done_notifies), T(test_packed_layout_chosen),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
