/* Unit tests for virtio-blk over the virtio-mmio transport, on a raw image in a temp file opened
 * through disk_open: every request type, multi-segment and indirect chains, a header split
 * across descriptors, bad lengths and ranges, read-only, FLUSH, GET_ID, DISCARD/WRITE_ZEROES
 * with hostile segment arrays, malformed chains (NEEDS_RESET), disk errors, the config space at
 * every offset and width, and multiqueue. Writes are checked from the host side with pread.
 * The suite runs twice: with the io_uring engine and with the worker pool (KVMM_AIO=threads). */
#include "lib/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/disk.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/mmio.h"
#include "lib/fake_irq.h"
#include "lib/vq_builder.h"

#define DISK_SECTORS 2048u /* 1 MiB */
#define DISK_BYTES   ((uint64_t)DISK_SECTORS * 512)
#define Q1_DESC	     0x8000u /* queue 1 rings (multiqueue test), clear of vq_builder's queue 0 */
#define Q1_AVAIL     0xc000u
#define Q1_USED	     0xd000u

struct fixture {
	struct vqb b;
	struct fake_irq irq;
	struct disk *disk;
	struct virtio_blk *blk;
	struct virtio_mmio *t;
	char path[64];
	int fd; /* host-side view of the image */
};

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)(off * 7 + off / 512 + 1);
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

static struct fixture *make(const struct virtio_blk_opts *o, unsigned open_flags)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct disk_open_opts dopts = {.format = "raw", .flags = open_flags};
	static uint8_t buf[DISK_BYTES];

	assert_non_null(f);
	strcpy(f->path, "/tmp/kvmm-test-vblk.XXXXXX");
	f->fd = mkstemp(f->path);
	assert_true(f->fd >= 0);
	for (uint64_t i = 0; i < DISK_BYTES; i++)
		buf[i] = pattern(i);
	assert_int_equal(pwrite(f->fd, buf, DISK_BYTES, 0), (ssize_t)DISK_BYTES);
	assert_int_equal(disk_open(f->path, &dopts, &f->disk), 0);
	vqb_init(&f->b, 16);
	fake_irq_init(&f->irq);
	assert_int_equal(virtio_blk_create(&f->blk, f->b.mem, f->disk, o), 0);
	assert_string_equal(virtio_blk_aio_engine(f->blk),
			    getenv("KVMM_AIO") ? getenv("KVMM_AIO") : "io_uring");
	assert_int_equal(virtio_mmio_create(&f->t, virtio_blk_dev(f->blk), &f->irq.line), 0);
	return f;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	virtio_mmio_destroy(f->t);
	virtio_blk_destroy(f->blk);
	disk_close(f->disk);
	fake_irq_fini(&f->irq);
	vqb_fini(&f->b);
	close(f->fd);
	unlink(f->path);
	free(f);
	return 0;
}

static int setup_default(void **state)
{
	struct virtio_blk_opts o = {.serial = "kvmm-serial-0001"};

	*state = make(&o, 0);
	return 0;
}

static int setup_full(void **state)
{
	struct virtio_blk_opts o = {.serial = "abcdefghijklmnopqrst", /* exactly 20 */
				    .discard = true,
				    .write_zeroes = true,
				    .queues = 2,
				    .queue_size = 64};

	*state = make(&o, 0);
	return 0;
}

static int setup_ro_opt(void **state)
{
	struct virtio_blk_opts o = {.readonly = true, .discard = true, .write_zeroes = true};

	*state = make(&o, 0);
	return 0;
}

static int setup_ro_disk(void **state)
{
	*state = make(NULL, DISK_O_RDONLY);
	return 0;
}

static uint64_t features(struct fixture *f)
{
	uint64_t v;

	wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	v = rd(f, VIRTIO_MMIO_DEVICE_FEATURES);
	wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	return v | (uint64_t)rd(f, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
}

static void setup_queue(struct fixture *f, uint16_t q, uint16_t size, uint64_t desc, uint64_t avail,
			uint64_t used)
{
	wr(f, VIRTIO_MMIO_QUEUE_SEL, q);
	assert_true(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX) >= size);
	wr(f, VIRTIO_MMIO_QUEUE_NUM, size);
	wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	wr(f, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
	wr(f, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)avail);
	wr(f, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 0);
	wr(f, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)used);
	wr(f, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 0);
	wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
}

/* Identify, accept every offered feature, set up `nq` queues, DRIVER_OK. */
static void driver_init(struct fixture *f, unsigned nq)
{
	uint64_t feat;

	assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_BLOCK);
	wr(f, VIRTIO_MMIO_STATUS, 0);
	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	feat = features(f) & ~(1ull << VIRTIO_F_RING_PACKED); /* split rings (vq_builder) */
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)feat);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(feat >> 32));
	wr(f, VIRTIO_MMIO_STATUS, 0x0b);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0x0b);
	setup_queue(f, 0, 16, VQB_DESC_GPA, VQB_AVAIL_GPA, VQB_USED_GPA);
	if (nq > 1)
		setup_queue(f, 1, 16, Q1_DESC, Q1_AVAIL, Q1_USED);
	wr(f, VIRTIO_MMIO_STATUS, 0x0f);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0x0f);
}

static uint64_t galloc(struct fixture *f, uint32_t len)
{
	uint64_t g = f->b.next_data;

	f->b.next_data += (len + 15) & ~15ull;
	assert_true(f->b.next_data < VQB_RAM_SIZE);
	return g;
}

static uint8_t *host(struct fixture *f, uint64_t gpa)
{
	return vqb_host(&f->b, gpa);
}

/* A readable 16-byte header segment. */
static struct vqb_seg hdr(struct fixture *f, uint32_t type, uint64_t sector)
{
	struct virtio_blk_req_hdr h = {type, 0, sector};
	struct vqb_seg s = {16, false, galloc(f, 16)};

	memcpy(host(f, s.gpa), &h, 16);
	return s;
}

static struct vqb_seg buf(struct fixture *f, uint32_t len, bool write, int fill)
{
	struct vqb_seg s = {len, write, galloc(f, len)};

	memset(host(f, s.gpa), fill, len);
	return s;
}

/* Kick queue q and wait until every request it started has completed (the disk I/O runs on
 * the aio engine's threads). */
static void notify(struct fixture *f, uint32_t q)
{
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, q);
	virtio_blk_drain(f->blk);
}

/* Submit a chain on queue 0 and notify; returns the used length. The chain must complete. */
static uint32_t submit(struct fixture *f, struct vqb_seg *s, unsigned n, bool indirect)
{
	uint16_t before = vqb_used_idx(&f->b), head;

	head = vqb_add_chain(&f->b, s, n, indirect);
	notify(f, 0);
	assert_int_equal(vqb_used_idx(&f->b), (uint16_t)(before + 1));
	assert_int_equal(vqb_used_elem(&f->b, before).id, head);
	return vqb_used_elem(&f->b, before).len;
}

static uint8_t status_of(struct fixture *f, const struct vqb_seg *s)
{
	return *host(f, s->gpa + s->len - 1);
}

static void assert_file_pattern(struct fixture *f, uint64_t off, uint64_t len)
{
	uint8_t *p = malloc(len);

	assert_non_null(p);
	assert_int_equal(pread(f->fd, p, len, (off_t)off), (ssize_t)len);
	for (uint64_t i = 0; i < len; i++)
		if (p[i] != pattern(off + i))
			fail_msg("file byte %llu changed", (unsigned long long)(off + i));
	free(p);
}

static void assert_file_fill(struct fixture *f, uint64_t off, uint64_t len, int fill)
{
	uint8_t *p = malloc(len);

	assert_non_null(p);
	assert_int_equal(pread(f->fd, p, len, (off_t)off), (ssize_t)len);
	for (uint64_t i = 0; i < len; i++)
		if (p[i] != (uint8_t)fill)
			fail_msg("file byte %llu is 0x%x", (unsigned long long)(off + i), p[i]);
	free(p);
}

static void assert_broken(struct fixture *f)
{
	struct virtio_blk_stats st;

	assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(vqb_used_idx(&f->b), 0);
	assert_true(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	virtio_blk_get_stats(f->blk, &st);
	assert_int_equal(st.guest_errors, 1);
}

static void test_config_and_features(void **state)
{
	struct fixture *f = *state;
	struct virtio_blk_config c;
	uint64_t feat = features(f);
	uint8_t raw[sizeof(c)];

	assert_true(feat & (1ull << VIRTIO_F_VERSION_1));
	assert_true(feat & (1ull << VIRTIO_F_INDIRECT_DESC));
	assert_true(feat & (1ull << VIRTIO_F_EVENT_IDX));
	assert_true(feat & (1ull << VIRTIO_BLK_F_SEG_MAX));
	assert_true(feat & (1ull << VIRTIO_BLK_F_BLK_SIZE));
	assert_true(feat & (1ull << VIRTIO_BLK_F_FLUSH));
	assert_true(feat & (1ull << VIRTIO_BLK_F_MQ));
	assert_false(feat & (1ull << VIRTIO_BLK_F_RO));
	assert_false(feat & (1ull << VIRTIO_BLK_F_DISCARD));
	assert_false(feat & (1ull << VIRTIO_BLK_F_WRITE_ZEROES));
	/* byte-wise read of the whole config space */
	for (unsigned i = 0; i < sizeof(c); i++)
		virtio_mmio_io_ops.read(f->t, VIRTIO_MMIO_CONFIG + i, &raw[i], 1);
	memcpy(&c, raw, sizeof(c));
	assert_int_equal(c.capacity, DISK_SECTORS);
	assert_int_equal(c.blk_size, 512);
	assert_int_equal(c.seg_max, 254);
	assert_int_equal(c.num_queues, 1);
	assert_int_equal(c.max_discard_seg, 0);
	/* every offset and width that fits agrees with the byte-wise image */
	for (unsigned w = 1; w <= 8; w *= 2) {
		for (unsigned off = 0; off + w <= sizeof(c); off++) {
			uint64_t v = 0, want = 0;

			virtio_mmio_io_ops.read(f->t, VIRTIO_MMIO_CONFIG + off, &v, w);
			memcpy(&want, raw + off, w);
			assert_int_equal(v, want);
		}
		/* reads that cross the end return zero (the transport rejects them) */
		uint64_t v = UINT64_MAX;

		virtio_mmio_io_ops.read(f->t, VIRTIO_MMIO_CONFIG + sizeof(c) - w / 2, &v, w);
		if (w > 1)
			assert_int_equal(v & (UINT64_MAX >> (64 - 8 * w)), 0);
	}
	/* config writes are ignored */
	uint32_t junk = 0xffffffff;

	virtio_mmio_io_ops.write(f->t, VIRTIO_MMIO_CONFIG, &junk, 4);
	virtio_mmio_io_ops.read(f->t, VIRTIO_MMIO_CONFIG, &junk, 4);
	assert_int_equal(junk, DISK_SECTORS);
}

static void test_config_full(void **state)
{
	struct fixture *f = *state;
	struct virtio_blk_config c;
	uint64_t feat = features(f);

	for (unsigned i = 0; i < sizeof(c); i += 4)
		virtio_mmio_io_ops.read(f->t, VIRTIO_MMIO_CONFIG + i, (uint8_t *)&c + i, 4);
	assert_true(feat & (1ull << VIRTIO_BLK_F_DISCARD));
	assert_true(feat & (1ull << VIRTIO_BLK_F_WRITE_ZEROES));
	assert_int_equal(c.num_queues, 2);
	assert_int_equal(c.seg_max, 62);
	assert_int_equal(c.max_discard_seg, VIRTIO_BLK_MAX_DISCARD_SEG);
	assert_int_equal(c.max_discard_sectors, VIRTIO_BLK_MAX_DISCARD_SECTORS);
	assert_int_equal(c.discard_sector_alignment, 1);
	assert_int_equal(c.max_write_zeroes_seg, VIRTIO_BLK_MAX_DISCARD_SEG);
	assert_int_equal(c.max_write_zeroes_sectors, VIRTIO_BLK_MAX_DISCARD_SECTORS);
	assert_int_equal(c.write_zeroes_may_unmap, 1);
	wr(f, VIRTIO_MMIO_QUEUE_SEL, 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), 64);
	wr(f, VIRTIO_MMIO_QUEUE_SEL, 2);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
}

static void test_write_read(void **state)
{
	struct fixture *f = *state;
	struct vqb_seg w[5], r[4];
	struct virtio_blk_stats st;
	uint8_t expect[1024];

	driver_init(f, 1);
	/* OUT 2 sectors at sector 5 from three uneven segments */
	w[0] = hdr(f, VIRTIO_BLK_T_OUT, 5);
	w[1] = buf(f, 300, false, 0x11);
	w[2] = buf(f, 500, false, 0x22);
	w[3] = buf(f, 224, false, 0x33);
	w[4] = buf(f, 1, true, 0xee);
	assert_int_equal(submit(f, w, 5, false), 1);
	assert_int_equal(status_of(f, &w[4]), VIRTIO_BLK_S_OK);
	assert_true(fake_irq_level(&f->irq));
	memset(expect, 0x11, 300);
	memset(expect + 300, 0x22, 500);
	memset(expect + 800, 0x33, 224);
	uint8_t got[1024];

	assert_int_equal(pread(f->fd, got, 1024, 5 * 512), 1024);
	assert_memory_equal(got, expect, 1024);
	assert_file_pattern(f, 0, 5 * 512);
	assert_file_pattern(f, 7 * 512, DISK_BYTES - 7 * 512);
	/* IN the same range into two segments, status in its own segment */
	r[0] = hdr(f, VIRTIO_BLK_T_IN, 5);
	r[1] = buf(f, 1000, true, 0);
	r[2] = buf(f, 24, true, 0);
	r[3] = buf(f, 1, true, 0xee);
	assert_int_equal(submit(f, r, 4, false), 1025);
	assert_int_equal(status_of(f, &r[3]), VIRTIO_BLK_S_OK);
	assert_memory_equal(host(f, r[1].gpa), expect, 1000);
	assert_memory_equal(host(f, r[2].gpa), expect + 1000, 24);
	/* IN the last sector: status shares the data segment (513 writable bytes) */
	r[0] = hdr(f, VIRTIO_BLK_T_IN, DISK_SECTORS - 1);
	r[1] = buf(f, 513, true, 0xee);
	assert_int_equal(submit(f, r, 2, false), 513);
	assert_int_equal(status_of(f, &r[1]), VIRTIO_BLK_S_OK);
	for (unsigned i = 0; i < 512; i++)
		assert_int_equal(host(f, r[1].gpa)[i], pattern(DISK_BYTES - 512 + i));
	virtio_blk_get_stats(f->blk, &st);
	assert_int_equal(st.writes, 1);
	assert_int_equal(st.reads, 2);
	assert_int_equal(st.written_bytes, 1024);
	assert_int_equal(st.read_bytes, 1536);
	assert_int_equal(st.rejected + st.io_errors + st.guest_errors, 0);
}

static void test_indirect_split_header(void **state)
{
	struct fixture *f = *state;
	struct virtio_blk_req_hdr h = {VIRTIO_BLK_T_OUT, 0, 9};
	struct vqb_seg s[5];

	driver_init(f, 1);
	/* header split 5 + 11 bytes, in an indirect table */
	s[0] = buf(f, 5, false, 0);
	s[1] = buf(f, 11, false, 0);
	memcpy(host(f, s[0].gpa), &h, 5);
	memcpy(host(f, s[1].gpa), (uint8_t *)&h + 5, 11);
	s[2] = buf(f, 512, false, 0x5a);
	s[3] = buf(f, 3, true, 0xee); /* extra writable bytes: status is the very last one */
	assert_int_equal(submit(f, s, 4, true), 1);
	assert_int_equal(status_of(f, &s[3]), VIRTIO_BLK_S_OK);
	assert_int_equal(host(f, s[3].gpa)[0], 0xee);
	assert_file_fill(f, 9 * 512, 512, 0x5a);
	assert_file_pattern(f, 10 * 512, 512);
	/* header and data in one readable segment, read back through an indirect table */
	s[0] = buf(f, 16 + 512, false, 0x77);
	memcpy(host(f, s[0].gpa), &(struct virtio_blk_req_hdr){VIRTIO_BLK_T_OUT, 0, 10}, 16);
	s[1] = buf(f, 1, true, 0xee);
	assert_int_equal(submit(f, s, 2, true), 1);
	assert_file_fill(f, 10 * 512, 512, 0x77);
	s[0] = hdr(f, VIRTIO_BLK_T_IN, 9);
	s[1] = buf(f, 1024, true, 0);
	s[2] = buf(f, 1, true, 0xee);
	assert_int_equal(submit(f, s, 3, true), 1025);
	assert_int_equal(host(f, s[1].gpa)[0], 0x5a);
	assert_int_equal(host(f, s[1].gpa)[1023], 0x77);
}

static void test_bad_lengths(void **state)
{
	struct fixture *f = *state;
	struct vqb_seg s[3];
	struct virtio_blk_stats st;

	driver_init(f, 1);
	s[0] = hdr(f, VIRTIO_BLK_T_IN, 0);
	s[1] = buf(f, 100, true, 0xcc);
	s[2] = buf(f, 1, true, 0xee);
	assert_int_equal(submit(f, s, 3, false), 1);
	assert_int_equal(status_of(f, &s[2]), VIRTIO_BLK_S_IOERR);
	assert_int_equal(host(f, s[1].gpa)[0], 0xcc); /* nothing read */
	s[0] = hdr(f, VIRTIO_BLK_T_OUT, 0);
	s[1] = buf(f, 513, false, 0xcc);
	s[2] = buf(f, 1, true, 0xee);
	assert_int_equal(submit(f, s, 3, false), 1);
	assert_int_equal(status_of(f, &s[2]), VIRTIO_BLK_S_IOERR);
	/* a zero-length IN/OUT is a no-op that succeeds */
	s[0] = hdr(f, VIRTIO_BLK_T_OUT, 3);
	s[1] = buf(f, 1, true, 0xee);
	assert_int_equal(submit(f, s, 2, false), 1);
	assert_int_equal(status_of(f, &s[1]), VIRTIO_BLK_S_OK);
	assert_file_pattern(f, 0, DISK_BYTES);
	virtio_blk_get_stats(f->blk, &st);
	assert_int_equal(st.rejected, 2);
}

static void test_out_of_range(void **state)
{
	struct fixture *f = *state;
	static const uint64_t bad[] = {DISK_SECTORS,	     DISK_SECTORS + 1, UINT64_MAX / 512,
				       UINT64_MAX / 512 + 1, UINT64_MAX,       (1ull << 55)};
	struct virtio_blk_stats st;
	struct vqb_seg s[3];

	driver_init(f, 1);
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		f->b.next_data = VQB_DATA_GPA;
		s[0] = hdr(f, i % 2 ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT, bad[i]);
		s[1] = buf(f, 512, i % 2, 0xcc);
		s[2] = buf(f, 1, true, 0xee);
		assert_int_equal(submit(f, s, 3, false), 1);
		assert_int_equal(status_of(f, &s[2]), VIRTIO_BLK_S_IOERR);
	}
	/* crossing the end by one sector */
	s[0] = hdr(f, VIRTIO_BLK_T_OUT, DISK_SECTORS - 1);
	s[1] = buf(f, 1024, false, 0xcc);
	s[2] = buf(f, 1, true, 0xee);
	assert_int_equal(submit(f, s, 3, false), 1);
	assert_int_equal(status_of(f, &s[2]), VIRTIO_BLK_S_IOERR);
	assert_file_pattern(f, 0, DISK_BYTES);
	/* the last sector itself is fine */
	s[0] = hdr(f, VIRTIO_BLK_T_OUT, DISK_SECTORS - 1);
	s[1] = buf(f, 512, false, 0xcc);
	s[2] = buf(f, 1, true, 0xee);
	assert_int_equal(submit(f, s, 3, false), 1);
	assert_int_equal(status_of(f, &s[2]), VIRTIO_BLK_S_OK);
	assert_file_fill(f, DISK_BYTES - 512, 512, 0xcc);
	/* every bad request was refused by the device's own range check, not by the disk */
	virtio_blk_get_stats(f->blk, &st);
	assert_int_equal(st.rejected, ARRAY_SIZE(bad) + 1);
	assert_int_equal(st.io_errors, 0);
	assert_int_equal(st.writes, 1);
}

static void readonly_checks(struct fixture *f)
{
	struct vqb_seg s[3];
	struct virtio_wz {
		struct virtio_blk_discard_wz seg;
	} wz = {{0, 8, 0}};

	assert_true(features(f) & (1ull << VIRTIO_BLK_F_RO));
	driver_init(f, 1);
	s[0] = hdr(f, VIRTIO_BLK_T_OUT, 0);
	s[1] = buf(f, 512, false, 0xcc);
	s[2] = buf(f, 1, true, 0xee);
	assert_int_equal(submit(f, s, 3, false), 1);
	assert_int_equal(status_of(f, &s[2]), VIRTIO_BLK_S_IOERR);
	for (uint32_t t = VIRTIO_BLK_T_DISCARD; t <= VIRTIO_BLK_T_WRITE_ZEROES; t += 2) {
		s[0] = hdr(f, t, 0);
		s[1] = buf(f, 16, false, 0);
		memcpy(host(f, s[1].gpa), &wz, 16);
		s[2] = buf(f, 1, true, 0xee);
		assert_int_equal(submit(f, s, 3, false), 1);
		assert_true(status_of(f, &s[2]) != VIRTIO_BLK_S_OK);
	}
	s[0] = hdr(f, VIRTIO_BLK_T_IN, 1);
	s[1] = buf(f, 512, true, 0);
	s[2] = buf(f, 1, true, 0xee);
	assert_int_equal(submit(f, s, 3, false), 513);
	assert_int_equal(status_of(f, &s[2]), VIRTIO_BLK_S_OK);
	assert_int_equal(host(f, s[1].gpa)[0], pattern(512));
	s[0] = hdr(f, VIRTIO_BLK_T_FLUSH, 0);
	s[1] = buf(f, 1, true, 0xee);
	assert_int_equal(submit(f, s, 2, false), 1);
	assert_int_equal(status_of(f, &s[1]), VIRTIO_BLK_S_OK);
	assert_file_pattern(f, 0, DISK_BYTES);
}

static void test_readonly_opt(void **state)
{
	readonly_checks(*state);
}

static void test_readonly_disk(void **state)
{
	readonly_checks(*state);
}

static void test_flush_get_id(void **state)
{
	struct fixture *f = *state;
	struct vqb_seg s[3];
	struct virtio_blk_stats st;
	char want[20] = "kvmm-serial-0001";

	driver_init(f, 1);
	s[0] = hdr(f, VIRTIO_BLK_T_OUT, 2);
	s[1] = buf(f, 512, false, 0x42);
	s[2] = buf(f, 1, true, 0xee);
	assert_int_equal(submit(f, s, 3, false), 1);
	s[0] = hdr(f, VIRTIO_BLK_T_FLUSH, 0);
	s[1] = buf(f, 1, true, 0xee);
	assert_int_equal(submit(f, s, 2, false), 1);
	assert_int_equal(status_of(f, &s[1]), VIRTIO_BLK_S_OK);
	assert_file_fill(f, 1024, 512, 0x42);
	/* GET_ID: 20 bytes, NUL-padded */
	s[0] = hdr(f, VIRTIO_BLK_T_GET_ID, 0);
	s[1] = buf(f, 20, true, 0xcc);
	s[2] = buf(f, 1, true, 0xee);
	assert_int_equal(submit(f, s, 3, false), 21);
	assert_int_equal(status_of(f, &s[2]), VIRTIO_BLK_S_OK);
	assert_memory_equal(host(f, s[1].gpa), want, 20);
	/* a short buffer gets a prefix */
	s[0] = hdr(f, VIRTIO_BLK_T_GET_ID, 0);
	s[1] = buf(f, 5, true, 0xcc);
	assert_int_equal(submit(f, s, 2, false), 5);
	assert_int_equal(status_of(f, &s[1]), VIRTIO_BLK_S_OK);
	assert_memory_equal(host(f, s[1].gpa), "kvmm", 4);
	/* unknown and unimplemented types */
	static const uint32_t types[] = {VIRTIO_BLK_T_GET_LIFETIME, VIRTIO_BLK_T_SECURE_ERASE,
					 VIRTIO_BLK_T_DISCARD, 99, 0xffffffff};
	for (unsigned i = 0; i < ARRAY_SIZE(types); i++) {
		s[0] = hdr(f, types[i], 0);
		s[1] = buf(f, 1, true, 0xee);
		assert_int_equal(submit(f, s, 2, false), 1);
		assert_int_equal(status_of(f, &s[1]), VIRTIO_BLK_S_UNSUPP);
	}
	virtio_blk_get_stats(f->blk, &st);
	assert_int_equal(st.flushes, 1);
	assert_int_equal(st.get_ids, 2);
	assert_int_equal(st.unsupported, ARRAY_SIZE(types));
}

/* Submit a DISCARD/WRITE_ZEROES with n segments; returns the status. */
static uint8_t dwz(struct fixture *f, uint32_t type, const struct virtio_blk_discard_wz *seg,
		   unsigned n, uint32_t extra)
{
	struct vqb_seg s[3];
	uint32_t len = n * 16 + extra;

	s[0] = hdr(f, type, 0);
	s[1] = buf(f, len ? len : 1, false, 0);
	memcpy(host(f, s[1].gpa), seg, (size_t)n * 16);
	s[1].len = len; /* a zero-length descriptor is skipped by the ring */
	s[2] = buf(f, 1, true, 0xee);
	assert_int_equal(submit(f, s, 3, false), 1);
	return status_of(f, &s[2]);
}

static void test_discard_write_zeroes(void **state)
{
	struct fixture *f = *state;
	struct virtio_blk_discard_wz seg[VIRTIO_BLK_MAX_DISCARD_SEG + 1];
	struct virtio_blk_stats st;

	driver_init(f, 1);
	/* WRITE_ZEROES: two segments, with and without UNMAP */
	seg[0] = (struct virtio_blk_discard_wz){4, 2, VIRTIO_BLK_WZ_F_UNMAP};
	seg[1] = (struct virtio_blk_discard_wz){100, 1, 0};
	assert_int_equal(dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, seg, 2, 0), VIRTIO_BLK_S_OK);
	assert_file_fill(f, 4 * 512, 1024, 0);
	assert_file_fill(f, 100 * 512, 512, 0);
	assert_file_pattern(f, 6 * 512, 94 * 512);
	/* DISCARD: the range reads as zeroes on a raw file (hole punched) */
	seg[0] = (struct virtio_blk_discard_wz){256, 16, 0};
	assert_int_equal(dwz(f, VIRTIO_BLK_T_DISCARD, seg, 1, 0), VIRTIO_BLK_S_OK);
	assert_file_fill(f, 256 * 512, 16 * 512, 0);
	assert_file_pattern(f, 272 * 512, 512);
	/* hostile arrays: nothing may be done, not even the valid first segment */
	for (unsigned i = 0; i <= VIRTIO_BLK_MAX_DISCARD_SEG; i++)
		seg[i] = (struct virtio_blk_discard_wz){500 + i, 1, 0};
	assert_int_equal(dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, seg, VIRTIO_BLK_MAX_DISCARD_SEG + 1, 0),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(dwz(f, VIRTIO_BLK_T_DISCARD, seg, VIRTIO_BLK_MAX_DISCARD_SEG + 1, 0),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, seg, 0, 0), VIRTIO_BLK_S_IOERR);
	assert_int_equal(dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, seg, 1, 8), VIRTIO_BLK_S_IOERR);
	seg[1] = (struct virtio_blk_discard_wz){DISK_SECTORS - 1, 2, 0};
	assert_int_equal(dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, seg, 2, 0), VIRTIO_BLK_S_IOERR);
	seg[1] = (struct virtio_blk_discard_wz){UINT64_MAX / 512, 0xffffffff, 0};
	assert_int_equal(dwz(f, VIRTIO_BLK_T_DISCARD, seg, 2, 0), VIRTIO_BLK_S_IOERR);
	seg[1] = (struct virtio_blk_discard_wz){UINT64_MAX, 1, 0};
	assert_int_equal(dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, seg, 2, 0), VIRTIO_BLK_S_IOERR);
	/* unknown flags (UNMAP is not allowed on DISCARD) */
	seg[1] = (struct virtio_blk_discard_wz){600, 1, VIRTIO_BLK_WZ_F_UNMAP};
	assert_int_equal(dwz(f, VIRTIO_BLK_T_DISCARD, seg, 2, 0), VIRTIO_BLK_S_UNSUPP);
	seg[1] = (struct virtio_blk_discard_wz){600, 1, 0x80000000u};
	assert_int_equal(dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, seg, 2, 0), VIRTIO_BLK_S_UNSUPP);
	assert_file_pattern(f, 500 * 512, 200 * 512);
	seg[1] = (struct virtio_blk_discard_wz){501, 1, 0};
	/* the maximum number of segments is accepted */
	assert_int_equal(dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, seg, VIRTIO_BLK_MAX_DISCARD_SEG, 0),
			 VIRTIO_BLK_S_OK);
	assert_file_fill(f, 500 * 512, VIRTIO_BLK_MAX_DISCARD_SEG * 512, 0);
	assert_file_pattern(f, (500 + VIRTIO_BLK_MAX_DISCARD_SEG) * 512, 512);
	virtio_blk_get_stats(f->blk, &st);
	assert_int_equal(st.write_zeroes, 2);
	assert_int_equal(st.discards, 1);
	assert_int_equal(st.rejected, 7);
	assert_int_equal(st.unsupported, 2);
}

static void test_missing_status(void **state)
{
	struct fixture *f = *state;
	struct vqb_seg s[2];

	driver_init(f, 1);
	s[0] = hdr(f, VIRTIO_BLK_T_OUT, 0);
	s[1] = buf(f, 512, false, 0xcc); /* no writable byte at all */
	vqb_add_chain(&f->b, s, 2, false);
	notify(f, 0);
	assert_broken(f);
	assert_file_pattern(f, 0, 1024);
	/* later notifications are ignored until reset */
	s[0] = hdr(f, VIRTIO_BLK_T_FLUSH, 0);
	s[1] = buf(f, 1, true, 0xee);
	vqb_add_chain(&f->b, s, 2, false);
	notify(f, 0);
	assert_int_equal(vqb_used_idx(&f->b), 0);
	/* after a reset the device works again */
	f->b.avail_idx = 0;
	f->b.next_desc = 0;
	memset(host(f, VQB_AVAIL_GPA), 0, 0x1000);
	memset(host(f, VQB_USED_GPA), 0, 0x1000);
	driver_init(f, 1);
	s[0] = hdr(f, VIRTIO_BLK_T_FLUSH, 0);
	s[1] = buf(f, 1, true, 0xee);
	assert_int_equal(submit(f, s, 2, false), 1);
	assert_int_equal(status_of(f, &s[1]), VIRTIO_BLK_S_OK);
}

static void test_status_readonly_desc(void **state)
{
	struct fixture *f = *state;
	struct vqb_seg s[3];

	driver_init(f, 1);
	s[0] = hdr(f, VIRTIO_BLK_T_IN, 0);
	s[1] = buf(f, 512, true, 0xcc);
	s[2] = buf(f, 0, true, 0xee); /* zero-length "status": no writable byte after the data */
	s[1].write = false;
	s[2].write = false; /* everything device-readable */
	vqb_add_chain(&f->b, s, 3, true);
	notify(f, 0);
	assert_broken(f);
}

static void test_short_header(void **state)
{
	struct fixture *f = *state;
	struct vqb_seg s[2];

	driver_init(f, 1);
	s[0] = buf(f, 15, false, 0);
	s[1] = buf(f, 1, true, 0xee);
	vqb_add_chain(&f->b, s, 2, false);
	notify(f, 0);
	assert_broken(f);
	assert_int_equal(*host(f, s[1].gpa), 0xee); /* status untouched */
}

static void test_multiqueue(void **state)
{
	struct fixture *f = *state;
	struct virtq_desc *d = vqb_host(&f->b, Q1_DESC);
	struct virtq_avail *a = vqb_host(&f->b, Q1_AVAIL);
	struct virtq_used *u = vqb_host(&f->b, Q1_USED);
	struct vqb_seg h, data, st;

	driver_init(f, 2);
	h = hdr(f, VIRTIO_BLK_T_OUT, 20);
	data = buf(f, 512, false, 0x99);
	st = buf(f, 1, true, 0xee);
	d[0] = (struct virtq_desc){h.gpa, 16, VIRTQ_DESC_F_NEXT, 1};
	d[1] = (struct virtq_desc){data.gpa, 512, VIRTQ_DESC_F_NEXT, 2};
	d[2] = (struct virtq_desc){st.gpa, 1, VIRTQ_DESC_F_WRITE, 0};
	a->ring[0] = 0;
	a->idx = 1;
	notify(f, 1);
	assert_int_equal(u->idx, 1);
	assert_int_equal(u->ring[0].id, 0);
	assert_int_equal(u->ring[0].len, 1);
	assert_int_equal(status_of(f, &st), VIRTIO_BLK_S_OK);
	assert_int_equal(vqb_used_idx(&f->b), 0); /* queue 0 untouched */
	assert_file_fill(f, 20 * 512, 512, 0x99);
	/* queue 0 still works independently */
	struct vqb_seg s[3] = {hdr(f, VIRTIO_BLK_T_IN, 20), buf(f, 512, true, 0),
			       buf(f, 1, true, 0xee)};
	assert_int_equal(submit(f, s, 3, false), 513);
	assert_int_equal(host(f, s[1].gpa)[0], 0x99);
	/* a notify for a queue that does not exist is ignored */
	notify(f, 5);
	assert_false(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_disk_error(void **state)
{
	struct fixture *f = *state;
	struct virtio_blk_stats st;
	struct vqb_seg s[3];
	int ro = open(f->path, O_RDONLY);

	/* swap the image fd for a read-only one: writes now fail with EBADF */
	assert_true(ro >= 0);
	assert_int_equal(dup2(ro, f->disk->fd), f->disk->fd);
	close(ro);
	driver_init(f, 1);
	s[0] = hdr(f, VIRTIO_BLK_T_OUT, 0);
	s[1] = buf(f, 512, false, 0xcc);
	s[2] = buf(f, 1, true, 0xee);
	assert_int_equal(submit(f, s, 3, false), 1);
	assert_int_equal(status_of(f, &s[2]), VIRTIO_BLK_S_IOERR);
	assert_file_pattern(f, 0, 512);
	virtio_blk_get_stats(f->blk, &st);
	assert_int_equal(st.io_errors, 1);
	assert_int_equal(st.writes, 0);
	assert_false(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_event_idx_and_large(void **state)
{
	struct fixture *f = *state;
	static struct vqb_seg s[66];
	uint8_t *got = malloc(65536);

	assert_non_null(got);
	driver_init(f, 1); /* accepts EVENT_IDX */
	vqb_set_used_event(&f->b, 0);
	s[0] = hdr(f, VIRTIO_BLK_T_FLUSH, 0);
	s[1] = buf(f, 1, true, 0xee);
	assert_int_equal(submit(f, s, 2, false), 1);
	assert_int_equal(fake_irq_rises(&f->irq), 1);
	wr(f, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	/* used_event far ahead: the next completion raises no interrupt */
	vqb_set_used_event(&f->b, 10);
	s[0] = hdr(f, VIRTIO_BLK_T_FLUSH, 0);
	s[1] = buf(f, 1, true, 0xee);
	assert_int_equal(submit(f, s, 2, false), 1);
	assert_int_equal(fake_irq_rises(&f->irq), 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	/* used_event = 2 asks for the third completion: a 64 KiB write in 64 indirect segments */
	vqb_set_used_event(&f->b, 2);
	s[0] = hdr(f, VIRTIO_BLK_T_OUT, 64);
	for (unsigned i = 0; i < 64; i++)
		s[1 + i] = buf(f, 1024, false, (int)i + 1);
	s[65] = buf(f, 1, true, 0xee);
	assert_int_equal(submit(f, s, 66, true), 1);
	assert_int_equal(status_of(f, &s[65]), VIRTIO_BLK_S_OK);
	assert_int_equal(fake_irq_rises(&f->irq), 2);
	assert_int_equal(pread(f->fd, got, 65536, 64 * 512), 65536);
	for (unsigned i = 0; i < 65536; i++)
		if (got[i] != (uint8_t)(i / 1024 + 1))
			fail_msg("byte %u is 0x%x", i, got[i]);
	assert_file_pattern(f, 64 * 512 + 65536, 512);
	free(got);
}

static void test_create_errors(void **state)
{
	struct fixture *f = *state;
	struct virtio_blk *b = NULL;
	struct virtio_blk_opts o;

	o = (struct virtio_blk_opts){.serial = "abcdefghijklmnopqrstu"}; /* 21 bytes */
	assert_int_equal(virtio_blk_create(&b, f->b.mem, f->disk, &o), -EINVAL);
	o = (struct virtio_blk_opts){.queues = VIRTIO_MAX_QUEUES + 1};
	assert_int_equal(virtio_blk_create(&b, f->b.mem, f->disk, &o), -EINVAL);
	o = (struct virtio_blk_opts){.queue_size = 48};
	assert_int_equal(virtio_blk_create(&b, f->b.mem, f->disk, &o), -EINVAL);
	o = (struct virtio_blk_opts){.queue_size = 2048};
	assert_int_equal(virtio_blk_create(&b, f->b.mem, f->disk, &o), -EINVAL);
	assert_int_equal(virtio_blk_create(&b, f->b.mem, NULL, NULL), -EINVAL);
	assert_null(b);
	o = (struct virtio_blk_opts){.queues = VIRTIO_MAX_QUEUES, .queue_size = 1024};
	assert_int_equal(virtio_blk_create(&b, f->b.mem, f->disk, &o), 0);
	virtio_blk_destroy(b);
	virtio_blk_destroy(NULL);
}

/* Each setup in two flavours: the default engine (io_uring for raw) and the worker pool. */
static int setup_default_uring(void **state)
{
	unsetenv("KVMM_AIO");
	return setup_default(state);
}

static int setup_default_threads(void **state)
{
	setenv("KVMM_AIO", "threads", 1);
	return setup_default(state);
}

static int setup_full_uring(void **state)
{
	unsetenv("KVMM_AIO");
	return setup_full(state);
}

static int setup_full_threads(void **state)
{
	setenv("KVMM_AIO", "threads", 1);
	return setup_full(state);
}

static int setup_ro_disk_uring(void **state)
{
	unsetenv("KVMM_AIO");
	return setup_ro_disk(state);
}

static int setup_ro_disk_threads(void **state)
{
	setenv("KVMM_AIO", "threads", 1);
	return setup_ro_disk(state);
}

static int setup_ro_opt_uring(void **state)
{
	unsetenv("KVMM_AIO");
	return setup_ro_opt(state);
}

static int setup_ro_opt_threads(void **state)
{
	setenv("KVMM_AIO", "threads", 1);
	return setup_ro_opt(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_config_and_features, setup_default_uring,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_config_full, setup_full_uring, teardown),
	    cmocka_unit_test_setup_teardown(test_write_read, setup_default_uring, teardown),
	    cmocka_unit_test_setup_teardown(test_indirect_split_header, setup_default_uring,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_bad_lengths, setup_default_uring, teardown),
	    cmocka_unit_test_setup_teardown(test_out_of_range, setup_default_uring, teardown),
	    cmocka_unit_test_setup_teardown(test_readonly_opt, setup_ro_opt_uring, teardown),
	    cmocka_unit_test_setup_teardown(test_readonly_disk, setup_ro_disk_uring, teardown),
	    cmocka_unit_test_setup_teardown(test_flush_get_id, setup_default_uring, teardown),
	    cmocka_unit_test_setup_teardown(test_discard_write_zeroes, setup_full_uring, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_status, setup_default_uring, teardown),
	    cmocka_unit_test_setup_teardown(test_status_readonly_desc, setup_default_uring,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_short_header, setup_default_uring, teardown),
	    cmocka_unit_test_setup_teardown(test_multiqueue, setup_full_uring, teardown),
	    cmocka_unit_test_setup_teardown(test_disk_error, setup_default_uring, teardown),
	    cmocka_unit_test_setup_teardown(test_event_idx_and_large, setup_default_uring,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_create_errors, setup_default_uring, teardown),
	    cmocka_unit_test_setup_teardown(test_config_and_features, setup_default_threads,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_config_full, setup_full_threads, teardown),
	    cmocka_unit_test_setup_teardown(test_write_read, setup_default_threads, teardown),
	    cmocka_unit_test_setup_teardown(test_indirect_split_header, setup_default_threads,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_bad_lengths, setup_default_threads, teardown),
	    cmocka_unit_test_setup_teardown(test_out_of_range, setup_default_threads, teardown),
	    cmocka_unit_test_setup_teardown(test_readonly_opt, setup_ro_opt_threads, teardown),
	    cmocka_unit_test_setup_teardown(test_readonly_disk, setup_ro_disk_threads, teardown),
	    cmocka_unit_test_setup_teardown(test_flush_get_id, setup_default_threads, teardown),
	    cmocka_unit_test_setup_teardown(test_discard_write_zeroes, setup_full_threads,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_missing_status, setup_default_threads, teardown),
	    cmocka_unit_test_setup_teardown(test_status_readonly_desc, setup_default_threads,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_short_header, setup_default_threads, teardown),
	    cmocka_unit_test_setup_teardown(test_multiqueue, setup_full_threads, teardown),
	    cmocka_unit_test_setup_teardown(test_disk_error, setup_default_threads, teardown),
	    cmocka_unit_test_setup_teardown(test_event_idx_and_large, setup_default_threads,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_create_errors, setup_default_threads, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
