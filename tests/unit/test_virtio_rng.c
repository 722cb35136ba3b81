/* Unit tests for virtio-rng over the virtio-mmio transport: the register interface as a
 * driver uses it, request service, the rate limit, interrupts and hostile register accesses. */
#include "lib/harness.h"

#include <string.h>

#include "devices/virtio/mmio.h"
#include "devices/virtio/rng.h"
#include "lib/fake_irq.h"
#include "lib/vq_builder.h"

struct fixture {
	struct vqb b;
	struct fake_irq irq;
	struct virtio_rng *rng;
	struct virtio_mmio *t;
	uint64_t now;
};

static uint64_t fake_now(void *ctx)
{
	return ((struct fixture *)ctx)->now;
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

static struct fixture *make(uint64_t rate)
{
	static struct fixture f;

	memset(&f, 0, sizeof(f));
	vqb_init(&f.b, 16);
	fake_irq_init(&f.irq);
	f.now = 1000000000ull;
	assert_int_equal(virtio_rng_create(&f.rng, f.b.mem, rate, fake_now, &f), 0);
	virtio_dev_offer_packed(virtio_rng_dev(f.rng), true); /* packed=on */
	assert_int_equal(virtio_mmio_create(&f.t, virtio_rng_dev(f.rng), &f.irq.line), 0);
	return &f;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	virtio_mmio_destroy(f->t);
	virtio_rng_destroy(f->rng);
	fake_irq_fini(&f->irq);
	vqb_fini(&f->b);
	return 0;
}

static int setup_fast(void **state)
{
	*state = make(1u << 20);
	return 0;
}

static int setup_slow(void **state)
{
	*state = make(100);
	return 0;
}

/* What a Linux-style driver does: identify, negotiate, set up queue 0, DRIVER_OK. */
static void driver_init(struct fixture *f, uint16_t qsize)
{
	assert_int_equal(rd(f, VIRTIO_MMIO_MAGIC_VALUE), VIRTIO_MMIO_MAGIC);
	assert_int_equal(rd(f, VIRTIO_MMIO_VERSION), 2);
	assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_RNG);
	wr(f, VIRTIO_MMIO_STATUS, 0);
	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_FEATURES), 5); /* VERSION_1, RING_PACKED */
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 0);
	wr(f, VIRTIO_MMIO_STATUS, 0x0b);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0x0b);
	wr(f, VIRTIO_MMIO_QUEUE_SEL, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), 256);
	wr(f, VIRTIO_MMIO_QUEUE_NUM, qsize);
	wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, VQB_DESC_GPA);
	wr(f, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
	wr(f, VIRTIO_MMIO_QUEUE_DRIVER_LOW, VQB_AVAIL_GPA);
	wr(f, VIRTIO_MMIO_QUEUE_DEVICE_LOW, VQB_USED_GPA);
	wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
	wr(f, VIRTIO_MMIO_STATUS, 0x0f);
}

static void test_request(void **state)
{
	struct fixture *f = *state;
	struct vqb_seg s[2] = {{32, true, 0}, {32, true, 0}};
	static const uint8_t zero[64];

	driver_init(f, 16);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0x0f);
	vqb_add_chain(&f->b, s, 2, false);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(vqb_used_idx(&f->b), 1);
	assert_int_equal(vqb_used_elem(&f->b, 0).len, 64);
	assert_memory_not_equal(vqb_host(&f->b, s[0].gpa), zero, 32);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	assert_true(fake_irq_level(&f->irq));
	wr(f, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	assert_false(fake_irq_level(&f->irq));
	assert_int_equal(virtio_rng_bytes(f->rng), 64);
	/* queue registers are frozen after DRIVER_OK */
	wr(f, VIRTIO_MMIO_QUEUE_NUM, 2);
	assert_int_equal(f->rng ? virtio_rng_dev(f->rng)->vq[0].size : 0, 16);
	/* reset clears everything, including the interrupt */
	wr(f, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
}

static void test_rate_limit(void **state)
{
	struct fixture *f = *state; /* 100 bytes per second */
	struct vqb_seg s[1] = {{80, true, 0}};

	driver_init(f, 16);
	for (int i = 0; i < 3; i++) {
		s[0].gpa = 0;
		vqb_add_chain(&f->b, s, 1, false);
	}
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	/* bucket 100: 80 + 20, third request waits */
	assert_int_equal(vqb_used_idx(&f->b), 2);
	assert_int_equal(vqb_used_elem(&f->b, 1).len, 20);
	virtio_rng_poll(f->rng);
	assert_int_equal(vqb_used_idx(&f->b), 2);
	f->now += 500000000ull; /* half a second: 50 bytes */
	virtio_rng_poll(f->rng);
	assert_int_equal(vqb_used_idx(&f->b), 3);
	assert_int_equal(vqb_used_elem(&f->b, 2).len, 50);
	assert_int_equal(virtio_rng_bytes(f->rng), 150);
}

static void test_bad_queue_needs_reset(void **state)
{
	struct fixture *f = *state;

	driver_init(f, 12); /* not a power of two */
	assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG_GENERATION), 1);
	/* notifications are ignored on a device that needs reset */
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(vqb_used_idx(&f->b), 0);
}

static void test_hostile_chain(void **state)
{
	struct fixture *f = *state;

	driver_init(f, 16);
	*vqb_desc(&f->b, 0) =
	    (struct virtq_desc){VQB_DATA_GPA, 8, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 0};
	vqb_publish(&f->b, 0); /* loops on itself */
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(vqb_used_idx(&f->b), 0);
}

static void test_hostile_registers(void **state)
{
	struct fixture *f = *state;
	uint64_t v8 = 0;
	uint16_t v2 = 0xffff;

	/* wrong width and misaligned register accesses read as zero and are ignored */
	virtio_mmio_io_ops.read(f->t, VIRTIO_MMIO_MAGIC_VALUE, &v2, 2);
	assert_int_equal(v2, 0);
	virtio_mmio_io_ops.read(f->t, VIRTIO_MMIO_MAGIC_VALUE + 1, &v8, 4);
	assert_int_equal(v8, 0);
	virtio_mmio_io_ops.write(f->t, VIRTIO_MMIO_STATUS, &v2, 2);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
	/* a queue that does not exist */
	wr(f, VIRTIO_MMIO_QUEUE_SEL, 7);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	wr(f, VIRTIO_MMIO_QUEUE_NUM, 16);
	wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 7);
	wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 9);
	assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_FEATURES), 0);
	/* rng has no config space */
	virtio_mmio_io_ops.read(f->t, VIRTIO_MMIO_CONFIG, &v8, 8);
	assert_int_equal(v8, 0);
	virtio_mmio_io_ops.write(f->t, VIRTIO_MMIO_SIZE - 1, &v8, 1);
	/* DRIVER_OK before FEATURES_OK fails the device, never the host */
	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_DRIVER_OK);
	assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FAILED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_request, setup_fast, teardown),
	    cmocka_unit_test_setup_teardown(test_rate_limit, setup_slow, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_queue_needs_reset, setup_fast, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_chain, setup_fast, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_registers, setup_fast, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
