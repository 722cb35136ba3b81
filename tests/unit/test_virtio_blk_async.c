/* Unit tests for virtio-blk's asynchronous completion path, on a "gate" disk whose reads,
 * writes and flushes block until the test opens the gate (a struct disk_ops defined here, run
 * by the aio worker pool): notify returns with the request still in flight, a later request that
 * needs no I/O completes first (out of order), the held request then completes from the aio
 * thread with its data, status and interrupt; FLUSH is answered only after the disk's flush
 * returned; a device reset waits for the request in flight and does not touch the rings
 * afterwards; destroy waits too; a full queue of requests in flight at once on io_uring. */
#include "lib/harness.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/iovbuf.h"
#include "block/disk.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/mmio.h"
#include "lib/fake_irq.h"
#include "lib/vq_builder.h"

#define GATE_BYTES (1u << 20)

struct gate_disk {
	struct disk d;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool open;
	unsigned waiting, reads, writes, flushes;
};

static struct gate_disk *to_gate(struct disk *d)
{
	return container_of(d, struct gate_disk, d);
}

static void gate_pass(struct gate_disk *g, unsigned *count)
{
	pthread_mutex_lock(&g->lock);
	g->waiting++;
	pthread_cond_broadcast(&g->cond);
	while (!g->open)
		pthread_cond_wait(&g->cond, &g->lock);
	g->waiting--;
	(*count)++;
	pthread_mutex_unlock(&g->lock);
}

static int gate_preadv(struct disk *d, const struct iovec *iov, unsigned cnt, uint64_t off)
{
	static const uint8_t fill[512] = {[0 ... 511] = 0x42};

	(void)off;
	gate_pass(to_gate(d), &to_gate(d)->reads);
	for (size_t o = 0, n = iov_size(iov, cnt); o < n; o += sizeof(fill))
		iov_from_buf(iov, cnt, o, fill, KVMM_MIN(sizeof(fill), n - o));
	return 0;
}

static int gate_pwritev(struct disk *d, const struct iovec *iov, unsigned cnt, uint64_t off)
{
	(void)iov, (void)cnt, (void)off;
	gate_pass(to_gate(d), &to_gate(d)->writes);
	return 0;
}

static int gate_flush(struct disk *d)
{
	gate_pass(to_gate(d), &to_gate(d)->flushes);
	return 0;
}

static void gate_close(struct disk *d)
{
	struct gate_disk *g = to_gate(d);

	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->lock);
	disk_fini_common(d);
	free(g);
}

static const struct disk_ops gate_ops = {
    .format = "gate",
    .preadv = gate_preadv,
    .pwritev = gate_pwritev,
    .flush = gate_flush,
    .close = gate_close,
};

/* Wait (condition variable, 10 s cap) until n requests are held at the gate. */
static void gate_wait_held(struct gate_disk *g, unsigned n)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	pthread_mutex_lock(&g->lock);
	while (g->waiting < n)
		assert_int_equal(pthread_cond_timedwait(&g->cond, &g->lock, &ts), 0);
	pthread_mutex_unlock(&g->lock);
}

static void gate_open(struct gate_disk *g)
{
	pthread_mutex_lock(&g->lock);
	g->open = true;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

struct fixture {
	struct vqb b;
	struct fake_irq irq;
	struct gate_disk *gate;
	struct disk *disk;
	struct virtio_blk *blk;
	struct virtio_mmio *t;
	char path[64];
};

static uint32_t rd(struct fixture *f, uint64_t off)
{
	uint32_t v = 0;

	virtio_mmio_io_ops.read(f->t, off, &v, 4);
	return v;
}

static void wr(struct fixture *f, uint64_t off, uint32_t v)
{
	virtio_mmio_io_ops.write(f->t, off, &v, 4);
}

static void driver_init(struct fixture *f)
{
	wr(f, VIRTIO_MMIO_STATUS, 0);
	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 1u << VIRTIO_F_INDIRECT_DESC);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 1); /* VERSION_1 */
	wr(f, VIRTIO_MMIO_STATUS, 0x0b);
	wr(f, VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(f, VIRTIO_MMIO_QUEUE_NUM, f->b.size);
	wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, VQB_DESC_GPA);
	wr(f, VIRTIO_MMIO_QUEUE_DRIVER_LOW, VQB_AVAIL_GPA);
	wr(f, VIRTIO_MMIO_QUEUE_DEVICE_LOW, VQB_USED_GPA);
	wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
	wr(f, VIRTIO_MMIO_STATUS, 0x0f);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0x0f);
}

/* A gate disk (threads engine) or, with `file`, a raw temp file (default engine). */
static struct fixture *make(bool file, uint16_t qsize)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct virtio_blk_opts o = {.serial = "async", .queue_size = qsize};

	assert_non_null(f);
	if (file) {
		struct disk_open_opts dopts = {.format = "raw"};
		int fd;

		strcpy(f->path, "/tmp/kvmm-test-vblka.XXXXXX");
		fd = mkstemp(f->path);
		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, GATE_BYTES), 0);
		close(fd);
		assert_int_equal(disk_open(f->path, &dopts, &f->disk), 0);
	} else {
		f->gate = calloc(1, sizeof(*f->gate));
		assert_non_null(f->gate);
		assert_int_equal(disk_init_common(&f->gate->d, &gate_ops, -1, "gate", 0, 0), 0);
		f->gate->d.size = GATE_BYTES;
		pthread_mutex_init(&f->gate->lock, NULL);
		pthread_cond_init(&f->gate->cond, NULL);
		f->disk = &f->gate->d;
	}
	vqb_init(&f->b, qsize);
	fake_irq_init(&f->irq);
	assert_int_equal(virtio_blk_create(&f->blk, f->b.mem, f->disk, &o), 0);
	assert_int_equal(virtio_mmio_create(&f->t, virtio_blk_dev(f->blk), &f->irq.line), 0);
	driver_init(f);
	return f;
}

static int setup_gate(void **state)
{
	*state = make(false, 16);
	return 0;
}

static int setup_file(void **state)
{
	*state = make(true, 64);
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->gate)
		gate_open(f->gate);
	virtio_blk_destroy(f->blk); /* drains before the transport goes */
	virtio_mmio_destroy(f->t);
	disk_close(f->disk);
	fake_irq_fini(&f->irq);
	vqb_fini(&f->b);
	if (f->path[0])
		unlink(f->path);
	free(f);
	return 0;
}

static struct vqb_seg hdr(struct fixture *f, uint32_t type, uint64_t sector)
{
	struct virtio_blk_req_hdr h = {type, 0, sector};
	struct vqb_seg s = {16, false, 0};

	s.gpa = f->b.next_data;
	f->b.next_data += 16;
	memcpy(vqb_host(&f->b, s.gpa), &h, 16);
	return s;
}

static struct vqb_seg seg(struct fixture *f, uint32_t len, bool write, int fill)
{
	struct vqb_seg s = {len, write, f->b.next_data};

	f->b.next_data += (len + 15) & ~15u;
	memset(vqb_host(&f->b, s.gpa), fill, len);
	return s;
}

static uint8_t *host(struct fixture *f, uint64_t gpa)
{
	return vqb_host(&f->b, gpa);
}

static void test_out_of_order(void **state)
{
	struct fixture *f = *state;
	struct vqb_seg rdq[3] = {hdr(f, VIRTIO_BLK_T_IN, 8), seg(f, 4096, true, 0),
				 seg(f, 1, true, 0xee)};
	struct vqb_seg id[3] = {hdr(f, VIRTIO_BLK_T_GET_ID, 0), seg(f, 20, true, 0),
				seg(f, 1, true, 0xee)};
	uint16_t h_rd = vqb_add_chain(&f->b, rdq, 3, false);
	uint16_t h_id = vqb_add_chain(&f->b, id, 3, false);
	struct virtio_blk_stats st;

	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0); /* returns with the read held at the gate */
	gate_wait_held(f->gate, 1);
	assert_int_equal(vqb_used_idx(&f->b), 1);
	assert_int_equal(vqb_used_elem(&f->b, 0).id, h_id);
	assert_int_equal(vqb_used_elem(&f->b, 0).len, 21);
	assert_memory_equal(host(f, id[1].gpa), "async", 6);
	assert_int_equal(*host(f, rdq[2].gpa), 0xee); /* not answered yet */
	assert_int_equal(fake_irq_rises(&f->irq), 1);
	wr(f, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	gate_open(f->gate);
	virtio_blk_drain(f->blk);
	assert_int_equal(vqb_used_idx(&f->b), 2);
	assert_int_equal(vqb_used_elem(&f->b, 1).id, h_rd);
	assert_int_equal(vqb_used_elem(&f->b, 1).len, 4097);
	assert_int_equal(*host(f, rdq[2].gpa), VIRTIO_BLK_S_OK);
	assert_int_equal(host(f, rdq[1].gpa)[4095], 0x42);
	assert_int_equal(fake_irq_rises(&f->irq), 2);
	virtio_blk_get_stats(f->blk, &st);
	assert_int_equal(st.reads, 1);
	assert_int_equal(st.read_bytes, 4096);
	assert_int_equal(st.get_ids, 1);
	assert_int_equal(st.abandoned, 0);
}

/* FLUSH is answered only once the disk's flush returned; so is a write before it. */
static void test_flush_waits(void **state)
{
	struct fixture *f = *state;
	struct vqb_seg w[3] = {hdr(f, VIRTIO_BLK_T_OUT, 0), seg(f, 512, false, 1),
			       seg(f, 1, true, 0xee)};
	struct vqb_seg fl[2] = {hdr(f, VIRTIO_BLK_T_FLUSH, 0), seg(f, 1, true, 0xee)};

	vqb_add_chain(&f->b, w, 3, false);
	vqb_add_chain(&f->b, fl, 2, false);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	gate_wait_held(f->gate, 1); /* one worker: the write, then the flush */
	assert_int_equal(vqb_used_idx(&f->b), 0);
	assert_int_equal(*host(f, fl[1].gpa), 0xee);
	gate_open(f->gate);
	virtio_blk_drain(f->blk);
	assert_int_equal(vqb_used_idx(&f->b), 2);
	assert_int_equal(f->gate->writes, 1);
	assert_int_equal(f->gate->flushes, 1);
	assert_int_equal(*host(f, w[2].gpa), VIRTIO_BLK_S_OK);
	assert_int_equal(*host(f, fl[1].gpa), VIRTIO_BLK_S_OK);
}

static void *reset_thread(void *arg)
{
	struct fixture *f = arg;

	wr(f, VIRTIO_MMIO_STATUS, 0);
	return NULL;
}

/* A reset with a read in flight waits for it; the read's completion then leaves the rings and
 * the status byte alone. */
static void test_reset_waits(void **state)
{
	struct fixture *f = *state;
	struct vqb_seg rdq[3] = {hdr(f, VIRTIO_BLK_T_IN, 0), seg(f, 512, true, 0),
				 seg(f, 1, true, 0xee)};
	struct virtio_blk_stats st = {0};
	struct timespec ts = {0, 1000000};
	pthread_t t;

	vqb_add_chain(&f->b, rdq, 3, false);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	gate_wait_held(f->gate, 1);
	assert_int_equal(pthread_create(&t, NULL, reset_thread, f), 0);
	/* the reset is waiting once it counted itself (10 s cap) */
	for (unsigned i = 0; i < 10000 && !st.reset_waits; i++) {
		virtio_blk_get_stats(f->blk, &st);
		if (!st.reset_waits)
			nanosleep(&ts, NULL);
	}
	assert_int_equal(st.reset_waits, 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0x0f); /* not reset yet */
	/* a notify during the reset pops nothing */
	struct vqb_seg id[3] = {hdr(f, VIRTIO_BLK_T_GET_ID, 0), seg(f, 20, true, 0),
				seg(f, 1, true, 0xee)};
	vqb_add_chain(&f->b, id, 3, false);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(vqb_used_idx(&f->b), 0);
	gate_open(f->gate);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(vqb_used_idx(&f->b), 0);
	assert_int_equal(*host(f, rdq[2].gpa), 0xee);
	assert_int_equal(*host(f, id[2].gpa), 0xee);
	virtio_blk_get_stats(f->blk, &st);
	assert_int_equal(st.abandoned, 1);
	assert_int_equal(st.get_ids, 0);
	assert_int_equal(fake_irq_rises(&f->irq), 0);
}

static void *open_later(void *arg)
{
	struct fixture *f = arg;

	gate_wait_held(f->gate, 1);
	gate_open(f->gate);
	return NULL;
}

/* virtio_blk_destroy with a write in flight waits for it (ASan: no use after free). */
static void test_destroy_waits(void **state)
{
	struct fixture *f = *state;
	struct vqb_seg w[3] = {hdr(f, VIRTIO_BLK_T_OUT, 0), seg(f, 512, false, 1),
			       seg(f, 1, true, 0xee)};
	pthread_t t;

	vqb_add_chain(&f->b, w, 3, false);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(pthread_create(&t, NULL, open_later, f), 0);
	virtio_blk_destroy(f->blk);
	f->blk = NULL;
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(f->gate->writes, 1);
	assert_int_equal(vqb_used_idx(&f->b), 1);
	assert_int_equal(*host(f, w[2].gpa), VIRTIO_BLK_S_OK);
}

/* 32 indirect write+read pairs in one notify on a raw file (io_uring): all complete with the
 * right data. */
static void test_many_in_flight(void **state)
{
	struct fixture *f = *state;
	struct vqb_seg w[32][3], r[32][3];

	for (unsigned i = 0; i < 32; i++) {
		w[i][0] = hdr(f, VIRTIO_BLK_T_OUT, i * 8);
		w[i][1] = seg(f, 4096, false, (int)i + 1);
		w[i][2] = seg(f, 1, true, 0xee);
		vqb_add_chain(&f->b, w[i], 3, true);
	}
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	virtio_blk_drain(f->blk);
	assert_int_equal(vqb_used_idx(&f->b), 32);
	for (unsigned i = 0; i < 32; i++) {
		assert_int_equal(*host(f, w[i][2].gpa), VIRTIO_BLK_S_OK);
		r[i][0] = hdr(f, VIRTIO_BLK_T_IN, i * 8);
		r[i][1] = seg(f, 4096, true, 0);
		r[i][2] = seg(f, 1, true, 0xee);
		vqb_add_chain(&f->b, r[i], 3, true);
	}
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	virtio_blk_drain(f->blk);
	assert_int_equal(vqb_used_idx(&f->b), 64);
	for (unsigned i = 0; i < 32; i++) {
		assert_int_equal(*host(f, r[i][2].gpa), VIRTIO_BLK_S_OK);
		assert_int_equal(host(f, r[i][1].gpa)[0], i + 1);
		assert_int_equal(host(f, r[i][1].gpa)[4095], i + 1);
	}
	assert_string_equal(virtio_blk_aio_engine(f->blk),
			    getenv("KVMM_AIO") ? getenv("KVMM_AIO") : "io_uring");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_out_of_order, setup_gate, teardown),
	    cmocka_unit_test_setup_teardown(test_flush_waits, setup_gate, teardown),
	    cmocka_unit_test_setup_teardown(test_reset_waits, setup_gate, teardown),
	    cmocka_unit_test_setup_teardown(test_destroy_waits, setup_gate, teardown),
	    cmocka_unit_test_setup_teardown(test_many_in_flight, setup_file, teardown),
	};

	unsetenv("KVMM_AIO");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
