/* Unit tests: the unchanged device models (virtio-rng, virtio-blk) over virtio-mmio with packed
 * virtqueues negotiated, driven through the registers as a driver would, with the rings laid
 * out by tests/lib/pvq_builder: requests across several laps of the ring, used descriptors,
 * a malformed packed chain (NEEDS_RESET), and reset back to a split ring. */
#include "lib/harness.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/disk.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/mmio.h"
#include "devices/virtio/rng.h"
#include "lib/fake_irq.h"
#include "lib/pvq_builder.h"

struct fixture {
	struct pvqb b;
	struct fake_irq irq;
	struct virtio_rng *rng;
	struct disk *disk;
	struct virtio_blk *blk;
	struct virtio_mmio *t;
	char path[64];
	int fd;
};

static uint64_t fake_now(void *ctx)
{
	return 1000000000ull;
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

static int setup_rng(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	pvqb_init(&f->b, 16);
	fake_irq_init(&f->irq);
	assert_int_equal(virtio_rng_create(&f->rng, f->b.mem, 1u << 20, fake_now, f), 0);
	virtio_dev_offer_packed(virtio_rng_dev(f->rng), true);
	assert_int_equal(virtio_mmio_create(&f->t, virtio_rng_dev(f->rng), &f->irq.line), 0);
	*state = f;
	return 0;
}

static int setup_blk(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct disk_open_opts dopts = {.format = "raw"};
	struct virtio_blk_opts o = {.serial = "packed0"};
	static uint8_t zero[1 << 20];

	assert_non_null(f);
	strcpy(f->path, "/tmp/kvmm-test-vpacked.XXXXXX");
	f->fd = mkstemp(f->path);
	assert_true(f->fd >= 0);
	assert_int_equal(pwrite(f->fd, zero, sizeof(zero), 0), (ssize_t)sizeof(zero));
	assert_int_equal(disk_open(f->path, &dopts, &f->disk), 0);
	pvqb_init(&f->b, 16);
	fake_irq_init(&f->irq);
	assert_int_equal(virtio_blk_create(&f->blk, f->b.mem, f->disk, &o), 0);
	virtio_dev_offer_packed(virtio_blk_dev(f->blk), true);
	assert_int_equal(virtio_mmio_create(&f->t, virtio_blk_dev(f->blk), &f->irq.line), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	virtio_mmio_destroy(f->t);
	if (f->rng)
		virtio_rng_destroy(f->rng);
	if (f->blk) {
		virtio_blk_destroy(f->blk);
		disk_close(f->disk);
		close(f->fd);
		unlink(f->path);
	}
	fake_irq_fini(&f->irq);
	pvqb_fini(&f->b);
	free(f);
	return 0;
}

/* Accept the device's low feature word (INDIRECT_DESC, EVENT_IDX, ...) and VERSION_1 (+
 * RING_PACKED if `packed`); set up queue 0 at the builder's rings. */
static void driver_init(struct fixture *f, bool packed)
{
	uint32_t lo;

	wr(f, VIRTIO_MMIO_STATUS, 0);
	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	lo = rd(f, VIRTIO_MMIO_DEVICE_FEATURES);
	assert_true(lo & (1u << VIRTIO_F_INDIRECT_DESC));
	wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	assert_true(rd(f, VIRTIO_MMIO_DEVICE_FEATURES) & (1u << (VIRTIO_F_RING_PACKED - 32)));
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 1 | (packed ? 1u << (VIRTIO_F_RING_PACKED - 32) : 0));
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, lo);
	wr(f, VIRTIO_MMIO_STATUS, 0x0b);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0x0b);
	wr(f, VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(f, VIRTIO_MMIO_QUEUE_NUM, 16);
	wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, VQB_DESC_GPA);
	wr(f, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
	wr(f, VIRTIO_MMIO_QUEUE_DRIVER_LOW, VQB_AVAIL_GPA);
	wr(f, VIRTIO_MMIO_QUEUE_DEVICE_LOW, VQB_USED_GPA);
	wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
	wr(f, VIRTIO_MMIO_STATUS, 0x0f);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0x0f);
}

static void test_rng_packed(void **state)
{
	struct fixture *f = *state;
	static const uint8_t zero[48];
	uint16_t id, flags;
	uint32_t len;

	driver_init(f, true);
	assert_true(virtio_rng_dev(f->rng)->vq[0].packed);
	/* 30 requests of 3 descriptors: more than five laps of the 16-entry ring */
	for (uint16_t i = 0; i < 30; i++) {
		struct vqb_seg s[3] = {{16, true, 0}, {16, true, 0}, {16, true, 0}};

		pvqb_add_chain(&f->b, s, 3, false, (uint16_t)(i % 5));
		wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
		assert_true(pvqb_get_used(&f->b, &id, &len, &flags));
		assert_int_equal(id, i % 5);
		assert_int_equal(len, 48);
		assert_true(flags & VIRTQ_DESC_F_WRITE);
		assert_memory_not_equal(pvqb_host(&f->b, s[0].gpa), zero, 16);
		assert_true(fake_irq_level(&f->irq));
		wr(f, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	}
	assert_false(pvqb_get_used(&f->b, &id, &len, &flags));
	assert_int_equal(virtio_rng_bytes(f->rng), 30 * 48);

	/* a chain that runs into a descriptor that is not available: NEEDS_RESET */
	pvqb_put_raw(&f->b, VQB_DATA_GPA, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 9, false);
	pvqb_put_raw(&f->b, VQB_DATA_GPA, 8, VIRTQ_DESC_F_WRITE, 9, true);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	assert_false(pvqb_get_used(&f->b, &id, &len, &flags));

	/* after a reset the same device works with a split ring */
	driver_init(f, false);
	assert_false(virtio_rng_dev(f->rng)->vq[0].packed);
}

struct blk_hdr {
	uint32_t type, reserved;
	uint64_t sector;
};

static void test_blk_packed(void **state)
{
	struct fixture *f = *state;
	uint8_t *data, *st, back[512];
	uint16_t id, flags;
	uint32_t len;

	driver_init(f, true);
	assert_true(virtio_blk_dev(f->blk)->vq[0].packed);
	for (uint16_t i = 0; i < 12; i++) {
		struct vqb_seg s[3] = {{16, false, 0}, {512, false, 0}, {1, true, 0}};
		struct blk_hdr h = {1 /* OUT */, 0, i};

		pvqb_add_chain(&f->b, s, 3, i % 2, i);
		memcpy(pvqb_host(&f->b, s[0].gpa), &h, sizeof(h));
		data = pvqb_host(&f->b, s[1].gpa);
		memset(data, 0x40 + i, 512);
		st = pvqb_host(&f->b, s[2].gpa);
		*st = 0xff;
		wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
		virtio_blk_drain(f->blk); /* requests complete on the aio thread */
		assert_true(pvqb_get_used(&f->b, &id, &len, &flags));
		assert_int_equal(id, i);
		assert_int_equal(len, 1);
		assert_int_equal(*st, 0);
		assert_int_equal(pread(f->fd, back, 512, (off_t)i * 512), 512);
		assert_memory_equal(back, data, 512);
	}
	/* read sector 3 back through the device (IN) */
	{
		struct vqb_seg s[3] = {{16, false, 0}, {512, true, 0}, {1, true, 0}};
		struct blk_hdr h = {0 /* IN */, 0, 3};

		pvqb_add_chain(&f->b, s, 3, false, 77);
		memcpy(pvqb_host(&f->b, s[0].gpa), &h, sizeof(h));
		wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
		virtio_blk_drain(f->blk); /* requests complete on the aio thread */
		assert_true(pvqb_get_used(&f->b, &id, &len, &flags));
		assert_int_equal(id, 77);
		assert_int_equal(len, 513);
		memset(back, 0x43, 512);
		assert_memory_equal(pvqb_host(&f->b, s[1].gpa), back, 512);
		assert_int_equal(*(uint8_t *)pvqb_host(&f->b, s[2].gpa), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_rng_packed, setup_rng, teardown),
	    cmocka_unit_test_setup_teardown(test_blk_packed, setup_blk, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
