/* Unit tests for virtio-net over the virtio-mmio transport with a fake backend: feature and
 * config negotiation, TX header handling (strip, software checksum, offload pass-through, GSO
 * refused without negotiation), RX into one buffer and into mergeable buffers, backpressure and
 * the kick, the control queue (filters, MAC, announce), link changes, and hostile chains. */
#include "lib/harness.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/iovbuf.h"
#include "devices/virtio/mmio.h"
#include "devices/virtio/net.h"
#include "lib/fake_irq.h"
#include "mem/gmem.h"
#include "net/backend.h"

#define RAM_SIZE (4u << 20)
#define DATA_GPA 0x100000u
#define QSIZE	 16
#define MAX_SENT 8
#define F(bit)	 (1ull << (bit))

static const uint8_t MAC[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

struct fake_nb {
	struct net_backend nb;
	uint8_t sent[MAX_SENT][4096];
	size_t sent_len[MAX_SENT];
	unsigned nsent, kicks, offloads;
	int send_ret;
};

struct ring {
	uint64_t base; /* desc at base, avail at +0x1000, used at +0x2000 */
	uint16_t next_desc, avail_idx;
};

struct fixture {
	uint8_t *ram;
	struct gmem *mem;
	struct fake_nb fb;
	struct fake_irq irq;
	struct virtio_net *n;
	struct virtio_mmio *t;
	struct ring r[5];
	unsigned nq, ctrlq; /* queues set up by driver_init; the control queue's index */
	uint64_t next_data;
	unsigned set_queues;
};

/* ---- fake backend ---- */

static int fb_send(struct net_backend *nb, unsigned q, const struct iovec *iov, unsigned cnt)
{
	struct fake_nb *f = container_of(nb, struct fake_nb, nb);

	(void)q;
	if (f->send_ret)
		return f->send_ret;
	if (f->nsent < MAX_SENT) {
		f->sent_len[f->nsent] = iov_to_buf(iov, cnt, 0, f->sent[f->nsent], 4096);
		f->nsent++;
	}
	return 0;
}

static void fb_kick(struct net_backend *nb, unsigned q)
{
	(void)q;
	container_of(nb, struct fake_nb, nb)->kicks++;
}

static unsigned fb_last_queue;

static int fb_send_q(struct net_backend *nb, unsigned q, const struct iovec *iov, unsigned cnt)
{
	fb_last_queue = q;
	return fb_send(nb, q, iov, cnt);
}

static int fb_set_queues(struct net_backend *nb, unsigned n);

static int fb_offload(struct net_backend *nb, unsigned o)
{
	container_of(nb, struct fake_nb, nb)->offloads = o;
	return 0;
}

static void fb_destroy(struct net_backend *nb)
{
	(void)nb;
}

static const struct net_backend_ops fb_ops = {
    .send = fb_send, .rx_kick = fb_kick, .set_offload = fb_offload, .destroy = fb_destroy};
static const struct net_backend_ops fb_mq_ops = {.send = fb_send_q,
						 .rx_kick = fb_kick,
						 .set_offload = fb_offload,
						 .set_queues = fb_set_queues,
						 .destroy = fb_destroy};

/* ---- a driver over virtio-mmio ---- */

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

static void *host(struct fixture *f, uint64_t gpa)
{
	return f->ram + gpa;
}

static struct fixture the_fixture;

static int fb_set_queues(struct net_backend *nb, unsigned n)
{
	(void)nb;
	the_fixture.set_queues = n;
	return 0;
}

static struct fixture *make_q(bool vnet_hdr, unsigned queues)
{
	struct fixture *fx = &the_fixture;
	struct gmem_region gr;
	struct virtio_net_opts o = {.queue_size = QSIZE};

	memset(fx, 0, sizeof(*fx));
	fx->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(fx->ram != MAP_FAILED);
	gr = (struct gmem_region){0, RAM_SIZE, fx->ram, 0};
	assert_int_equal(gmem_create(&fx->mem, &gr, 1), 0);
	fx->fb.nb = (struct net_backend){.ops = &fb_ops,
					 .kind = "fake",
					 .vnet_hdr = vnet_hdr,
					 .offloads = vnet_hdr ? NET_OFFLOAD_TSO4 : 0,
					 .queues = queues};
	if (queues > 1)
		fx->fb.nb.ops = &fb_mq_ops;
	memcpy(o.mac, MAC, 6);
	fake_irq_init(&fx->irq);
	assert_int_equal(virtio_net_create(&fx->n, fx->mem, &fx->fb.nb, &o), 0);
	assert_int_equal(virtio_mmio_create(&fx->t, virtio_net_dev(fx->n), &fx->irq.line), 0);
	for (unsigned q = 0; q < 5; q++)
		fx->r[q].base = 0x10000u * (q + 1);
	fx->nq = 2 * queues + 1;
	fx->ctrlq = 2;
	fx->next_data = DATA_GPA;
	return fx;
}

static struct fixture *make(bool vnet_hdr)
{
	return make_q(vnet_hdr, 1);
}

static int setup_mq(void **state)
{
	*state = make_q(true, 2);
	return 0;
}

static int setup_plain(void **state)
{
	*state = make(false);
	return 0;
}

static int setup_vnet(void **state)
{
	*state = make(true);
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	virtio_mmio_destroy(f->t);
	virtio_net_destroy(f->n);
	fake_irq_fini(&f->irq);
	gmem_destroy(f->mem);
	munmap(f->ram, RAM_SIZE);
	return 0;
}

static uint64_t device_features(struct fixture *f)
{
	uint64_t v;

	wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	v = rd(f, VIRTIO_MMIO_DEVICE_FEATURES);
	wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	return v | (uint64_t)rd(f, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
}

/* Negotiate `want` (plus VERSION_1) and start rx0, tx0 and the control queue. */
static void driver_init(struct fixture *f, uint64_t want)
{
	uint64_t feat = (device_features(f) & want) | F(VIRTIO_F_VERSION_1);

	wr(f, VIRTIO_MMIO_STATUS, 0);
	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)feat);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(feat >> 32));
	wr(f, VIRTIO_MMIO_STATUS, 0x0b);
	for (unsigned q = 0; q < f->nq; q++) {
		wr(f, VIRTIO_MMIO_QUEUE_SEL, q);
		wr(f, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
		wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)f->r[q].base);
		wr(f, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)f->r[q].base + 0x1000);
		wr(f, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)f->r[q].base + 0x2000);
		wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
	}
	wr(f, VIRTIO_MMIO_STATUS, 0x0f);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0x0f);
}

static struct virtq_desc *desc(struct fixture *f, unsigned q, uint16_t i)
{
	return (struct virtq_desc *)host(f, f->r[q].base + (uint64_t)(i % QSIZE) * 16);
}

static void publish(struct fixture *f, unsigned q, uint16_t head)
{
	struct virtq_avail *a = host(f, f->r[q].base + 0x1000);

	a->ring[f->r[q].avail_idx % QSIZE] = head;
	a->idx = ++f->r[q].avail_idx;
}

/* A chain of n segments (lens[i], writable iff write); returns the head; gpas in gpa[]. */
static uint16_t chain(struct fixture *f, unsigned q, const uint32_t *lens, unsigned n, bool write,
		      uint64_t *gpa)
{
	uint16_t head = f->r[q].next_desc;

	for (unsigned i = 0; i < n; i++) {
		struct virtq_desc *d = desc(f, q, (uint16_t)(head + i));

		gpa[i] = f->next_data;
		f->next_data += (lens[i] + 15) & ~15u;
		*d = (struct virtq_desc){gpa[i], lens[i],
					 (uint16_t)((write ? VIRTQ_DESC_F_WRITE : 0) |
						    (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
					 (uint16_t)((head + i + 1) % QSIZE)};
	}
	f->r[q].next_desc = (uint16_t)((head + n) % QSIZE);
	publish(f, q, head);
	return head;
}

static uint16_t used_idx(struct fixture *f, unsigned q)
{
	return ((struct virtq_used *)host(f, f->r[q].base + 0x2000))->idx;
}

static struct virtq_used_elem used_elem(struct fixture *f, unsigned q, uint16_t i)
{
	return ((struct virtq_used *)host(f, f->r[q].base + 0x2000))->ring[i % QSIZE];
}

static struct virtio_net_stats stats(struct fixture *f)
{
	struct virtio_net_stats s;

	virtio_net_get_stats(f->n, &s);
	return s;
}

/* Transmit hdr + frame (split after the Ethernet header) on tx0. */
static void tx(struct fixture *f, const struct net_vnet_hdr *h, const uint8_t *frame, uint32_t len)
{
	uint32_t lens[3] = {NET_VNET_HDR_LEN, NET_ETH_HLEN, len - NET_ETH_HLEN};
	uint64_t gpa[3];

	chain(f, 1, lens, 3, false, gpa);
	memcpy(host(f, gpa[0]), h, NET_VNET_HDR_LEN);
	memcpy(host(f, gpa[1]), frame, NET_ETH_HLEN);
	memcpy(host(f, gpa[2]), frame + NET_ETH_HLEN, len - NET_ETH_HLEN);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
}

static void make_frame(uint8_t *fr, uint32_t len, const uint8_t *dst, uint8_t fill)
{
	memcpy(fr, dst, 6);
	memcpy(fr + 6, "\x02\x00\x00\x00\x00\x01", 6);
	fr[12] = 0x08;
	fr[13] = 0x00;
	for (uint32_t i = NET_ETH_HLEN; i < len; i++)
		fr[i] = (uint8_t)(fill + i);
}

/* The loop thread's side: the backend hands a frame to the frontend. */
static int rx(struct fixture *f, const void *hdr, const uint8_t *frame, uint32_t len)
{
	struct iovec iov[2] = {{(void *)hdr, NET_VNET_HDR_LEN}, {(void *)frame, len}};

	if (f->fb.nb.vnet_hdr)
		return f->fb.nb.fe.receive(f->fb.nb.fe.ctx, 0, iov, 2);
	return f->fb.nb.fe.receive(f->fb.nb.fe.ctx, 0, &iov[1], 1);
}

/* ---- tests ---- */

static void test_config_and_features(void **state)
{
	struct fixture *f = *state;
	uint64_t feat = device_features(f);
	uint8_t mac[6];
	uint16_t st;

	assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_NET);
	assert_true(feat & F(VIRTIO_NET_F_MAC));
	assert_true(feat & F(VIRTIO_NET_F_MRG_RXBUF));
	assert_true(feat & F(VIRTIO_NET_F_CTRL_VQ));
	assert_false(feat & F(VIRTIO_NET_F_MQ)); /* one queue pair */
	/* a backend without vnet headers gets no offloads */
	assert_false(feat & F(VIRTIO_NET_F_CSUM));
	assert_false(feat & F(VIRTIO_NET_F_GUEST_TSO4));
	for (unsigned i = 0; i < 6; i++) {
		uint8_t b = 0;

		virtio_mmio_io_ops.read(f->t, VIRTIO_MMIO_CONFIG + i, &b, 1);
		mac[i] = b;
	}
	assert_memory_equal(mac, MAC, 6);
	virtio_mmio_io_ops.read(f->t, VIRTIO_MMIO_CONFIG + 6, &st, 2);
	assert_int_equal(st, VIRTIO_NET_S_LINK_UP);
	/* the MAC is read-only in virtio 1.x */
	virtio_mmio_io_ops.write(f->t, VIRTIO_MMIO_CONFIG, "\x00\x11\x22\x33\x44\x55", 6);
	virtio_mmio_io_ops.read(f->t, VIRTIO_MMIO_CONFIG, mac, 6);
	assert_memory_equal(mac, MAC, 6);
}

static void test_vnet_features(void **state)
{
	struct fixture *f = *state;
	uint64_t feat = device_features(f);

	assert_true(feat & F(VIRTIO_NET_F_CSUM));
	assert_true(feat & F(VIRTIO_NET_F_GUEST_TSO4));
	assert_false(feat & F(VIRTIO_NET_F_GUEST_TSO6)); /* the backend did not offer it */
	assert_false(feat & F(VIRTIO_NET_F_HOST_UFO));
	driver_init(f, F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_GUEST_TSO4));
	assert_int_equal(f->fb.offloads, NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4);
	assert_int_equal(f->fb.kicks, 1); /* activation retries held frames */
}

static void test_tx_strips_header(void **state)
{
	struct fixture *f = *state;
	struct net_vnet_hdr h = {0};
	uint8_t fr[64];

	driver_init(f, F(VIRTIO_NET_F_MAC));
	make_frame(fr, sizeof(fr), MAC, 1);
	tx(f, &h, fr, sizeof(fr));
	assert_int_equal(f->fb.nsent, 1);
	assert_int_equal(f->fb.sent_len[0], 64);
	assert_memory_equal(f->fb.sent[0], fr, 64);
	assert_int_equal(used_idx(f, 1), 1);
	assert_int_equal(used_elem(f, 1, 0).len, 0);
	assert_int_equal(stats(f).tx_frames, 1);
	assert_int_equal(stats(f).tx_bytes, 64);
	assert_true(fake_irq_level(&f->irq));
}

static uint16_t fold(const uint8_t *p, size_t len)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		s += (uint32_t)(p[len - 1] << 8);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static void test_tx_software_checksum(void **state)
{
	struct fixture *f = *state;
	struct net_vnet_hdr h = {.flags = NET_HDR_F_NEEDS_CSUM, .csum_start = 34, .csum_offset = 6};
	uint8_t fr[101];

	driver_init(f, 0);
	make_frame(fr, sizeof(fr), MAC, 7);
	fr[40] = 0x12; /* the partial (pseudo-header) sum the driver left in the field */
	fr[41] = 0x34;
	tx(f, &h, fr, sizeof(fr));
	assert_int_equal(f->fb.nsent, 1);
	/* the receiver's check: the pseudo-header sum plus [csum_start, end) folds to 0xffff */
	{
		uint32_t s = fold(f->fb.sent[0] + 34, sizeof(fr) - 34) + 0x1234u;

		s = (s & 0xffff) + (s >> 16);
		assert_int_equal(s, 0xffff);
	}
	assert_memory_equal(f->fb.sent[0], fr, 40);
	/* a checksum field past the end of the frame is refused */
	h.csum_offset = 100;
	tx(f, &h, fr, sizeof(fr));
	assert_int_equal(f->fb.nsent, 1);
	assert_int_equal(stats(f).tx_dropped, 1);
	assert_int_equal(used_idx(f, 1), 2);
}

static void test_tx_offload_passthrough(void **state)
{
	struct fixture *f = *state;
	struct net_vnet_hdr h = {.flags = NET_HDR_F_NEEDS_CSUM,
				 .gso_type = NET_HDR_GSO_TCPV4,
				 .hdr_len = 54,
				 .gso_size = 1448,
				 .csum_start = 34,
				 .csum_offset = 16,
				 .num_buffers = 77};
	uint8_t fr[3000];
	struct net_vnet_hdr got;

	driver_init(f, F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_HOST_TSO4));
	make_frame(fr, sizeof(fr), MAC, 3);
	tx(f, &h, fr, sizeof(fr));
	assert_int_equal(f->fb.nsent, 1);
	assert_int_equal(f->fb.sent_len[0], NET_VNET_HDR_LEN + sizeof(fr));
	memcpy(&got, f->fb.sent[0], sizeof(got));
	assert_int_equal(got.gso_type, NET_HDR_GSO_TCPV4);
	assert_int_equal(got.gso_size, 1448);
	assert_int_equal(got.num_buffers, 0); /* cleaned */
	assert_memory_equal(f->fb.sent[0] + NET_VNET_HDR_LEN, fr, 1000);
	/* TSO6 was not negotiated: refused */
	h.gso_type = NET_HDR_GSO_TCPV6;
	tx(f, &h, fr, sizeof(fr));
	assert_int_equal(f->fb.nsent, 1);
	/* no GSO but larger than the MTU: refused */
	h.gso_type = NET_HDR_GSO_NONE;
	tx(f, &h, fr, sizeof(fr));
	assert_int_equal(f->fb.nsent, 1);
	assert_int_equal(stats(f).tx_dropped, 2);
}

static void test_tx_gso_without_offload(void **state)
{
	struct fixture *f = *state;
	struct net_vnet_hdr h = {.gso_type = NET_HDR_GSO_TCPV4, .gso_size = 1000};
	uint8_t fr[200];

	driver_init(f, 0);
	make_frame(fr, sizeof(fr), MAC, 3);
	tx(f, &h, fr, sizeof(fr));
	assert_int_equal(f->fb.nsent, 0);
	assert_int_equal(stats(f).tx_dropped, 1);
	/* a backend failure (not backpressure) is counted too */
	f->fb.send_ret = -EIO;
	h.gso_type = 0;
	tx(f, &h, fr, sizeof(fr));
	assert_int_equal(stats(f).tx_dropped, 2);
	assert_int_equal(stats(f).tx_frames, 0);
}

static void test_tx_backpressure(void **state)
{
	struct fixture *f = *state;
	struct net_vnet_hdr h = {0};
	uint8_t fr[64];

	driver_init(f, 0);
	make_frame(fr, sizeof(fr), MAC, 1);
	f->fb.send_ret = -EAGAIN; /* the backend is full */
	tx(f, &h, fr, sizeof(fr));
	tx(f, &h, fr, sizeof(fr));
	/* nothing consumed, nothing dropped: the chains wait in the ring */
	assert_int_equal(used_idx(f, 1), 0);
	assert_int_equal(stats(f).tx_stalls, 1);
	assert_int_equal(stats(f).tx_dropped, 0);
	/* further notifications do not retry while the backend is full */
	f->fb.send_ret = 0;
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	assert_int_equal(f->fb.nsent, 0);
	/* the backend drained: both frames go, in order */
	f->fb.nb.fe.tx_ready(f->fb.nb.fe.ctx, 0);
	assert_int_equal(f->fb.nsent, 2);
	assert_int_equal(used_idx(f, 1), 2);
	assert_int_equal(used_elem(f, 1, 0).id, 0);
	assert_int_equal(used_elem(f, 1, 1).id, 3);
	assert_int_equal(stats(f).tx_frames, 2);
	assert_true(fake_irq_level(&f->irq));
}

static void test_tx_hostile(void **state)
{
	struct fixture *f = *state;
	uint32_t lens[1] = {8};
	uint64_t gpa[1];

	driver_init(f, 0);
	/* shorter than a header: dropped, chain returned, the device keeps running */
	chain(f, 1, lens, 1, false, gpa);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	assert_int_equal(used_idx(f, 1), 1);
	assert_int_equal(stats(f).tx_dropped, 1);
	assert_false(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	/* a descriptor that loops on itself: NEEDS_RESET, nothing sent */
	*desc(f, 1, 5) = (struct virtq_desc){DATA_GPA, 64, VIRTQ_DESC_F_NEXT, 5};
	publish(f, 1, 5);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(stats(f).guest_errors, 1);
	assert_int_equal(f->fb.nsent, 0);
	/* a buffer outside guest RAM */
	memset(f->r, 0, sizeof(f->r));
	for (unsigned q = 0; q < 3; q++)
		f->r[q].base = 0x10000u * (q + 1);
	driver_init(f, 0);
	*desc(f, 1, 0) = (struct virtq_desc){RAM_SIZE - 8, 64, 0, 0};
	publish(f, 1, 0);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_rx_single_buffer(void **state)
{
	struct fixture *f = *state;
	uint32_t lens[1] = {1526};
	uint64_t gpa[1];
	uint8_t fr[60];
	struct net_vnet_hdr h;

	driver_init(f, F(VIRTIO_NET_F_MAC));
	chain(f, 0, lens, 1, true, gpa);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	make_frame(fr, sizeof(fr), MAC, 9);
	assert_int_equal(rx(f, NULL, fr, sizeof(fr)), 0);
	assert_int_equal(used_idx(f, 0), 1);
	assert_int_equal(used_elem(f, 0, 0).len, NET_VNET_HDR_LEN + sizeof(fr));
	memcpy(&h, host(f, gpa[0]), sizeof(h));
	assert_int_equal(h.num_buffers, 1);
	assert_int_equal(h.flags, 0);
	assert_int_equal(h.gso_type, 0);
	assert_memory_equal((uint8_t *)host(f, gpa[0]) + NET_VNET_HDR_LEN, fr, sizeof(fr));
	assert_int_equal(stats(f).rx_frames, 1);
	/* too big for the guest's buffer without MRG_RXBUF: dropped and counted, buffer kept */
	chain(f, 0, (uint32_t[]){100}, 1, true, gpa);
	{
		uint8_t big[200];

		make_frame(big, sizeof(big), MAC, 1);
		assert_int_equal(rx(f, NULL, big, sizeof(big)), 0);
	}
	assert_int_equal(used_idx(f, 0), 1);
	assert_int_equal(stats(f).rx_dropped, 1);
	assert_int_equal(rx(f, NULL, fr, sizeof(fr)), 0);
	assert_int_equal(used_idx(f, 0), 2);
	assert_int_equal(used_elem(f, 0, 1).id, 1);
}

static void test_rx_mergeable(void **state)
{
	struct fixture *f = *state;
	uint64_t gpa[3][1];
	uint8_t fr[2000];
	struct net_vnet_hdr h;

	driver_init(f, F(VIRTIO_NET_F_MRG_RXBUF));
	chain(f, 0, (uint32_t[]){1024}, 1, true, gpa[0]);
	/* one buffer is not enough for 12 + 2000 bytes: held back, nothing consumed */
	make_frame(fr, sizeof(fr), MAC, 5);
	assert_int_equal(rx(f, NULL, fr, sizeof(fr)), -EAGAIN);
	assert_int_equal(used_idx(f, 0), 0);
	assert_int_equal(stats(f).rx_no_buffers, 1);
	chain(f, 0, (uint32_t[]){1024}, 1, true, gpa[1]);
	chain(f, 0, (uint32_t[]){1024}, 1, true, gpa[2]);
	f->fb.kicks = 0;
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(f->fb.kicks, 1); /* the backend is told to retry */
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(f->fb.kicks, 1); /* only once per stall */
	assert_int_equal(rx(f, NULL, fr, sizeof(fr)), 0);
	assert_int_equal(used_idx(f, 0), 2);
	assert_int_equal(used_elem(f, 0, 0).len, 1024);
	assert_int_equal(used_elem(f, 0, 1).len, 2012 - 1024);
	memcpy(&h, host(f, gpa[0][0]), sizeof(h));
	assert_int_equal(h.num_buffers, 2);
	assert_memory_equal((uint8_t *)host(f, gpa[0][0]) + 12, fr, 1012);
	assert_memory_equal(host(f, gpa[1][0]), fr + 1012, 988);
	assert_int_equal(stats(f).rx_bytes, 2000);
}

static void test_rx_backpressure_and_not_ready(void **state)
{
	struct fixture *f = *state;
	uint8_t fr[60];
	uint64_t gpa[1];

	make_frame(fr, sizeof(fr), MAC, 2);
	/* the driver is not running: dropped and counted, never held forever */
	assert_int_equal(rx(f, NULL, fr, sizeof(fr)), 0);
	assert_int_equal(stats(f).rx_dropped, 1);
	driver_init(f, 0);
	assert_int_equal(rx(f, NULL, fr, sizeof(fr)), -EAGAIN);
	assert_int_equal(rx(f, NULL, fr, sizeof(fr)), -EAGAIN);
	assert_int_equal(stats(f).rx_no_buffers, 2);
	chain(f, 0, (uint32_t[]){1526}, 1, true, gpa);
	f->fb.kicks = 0;
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(f->fb.kicks, 1);
	assert_int_equal(rx(f, NULL, fr, sizeof(fr)), 0);
	assert_int_equal(stats(f).rx_frames, 1);
	/* runt frames are dropped */
	assert_int_equal(rx(f, NULL, fr, 10), 0);
	assert_int_equal(stats(f).rx_dropped, 2);
}

static void test_rx_vnet_header(void **state)
{
	struct fixture *f = *state;
	struct net_vnet_hdr in = {.flags = NET_HDR_F_NEEDS_CSUM | NET_HDR_F_DATA_VALID,
				  .csum_start = 34,
				  .csum_offset = 16,
				  .num_buffers = 9},
			    h;
	uint8_t fr[80];
	uint64_t gpa[2][1];

	driver_init(f, F(VIRTIO_NET_F_GUEST_CSUM));
	chain(f, 0, (uint32_t[]){1526}, 1, true, gpa[0]);
	chain(f, 0, (uint32_t[]){1526}, 1, true, gpa[1]);
	make_frame(fr, sizeof(fr), MAC, 4);
	assert_int_equal(rx(f, &in, fr, sizeof(fr)), 0);
	memcpy(&h, host(f, gpa[0][0]), sizeof(h));
	assert_int_equal(h.flags, NET_HDR_F_NEEDS_CSUM | NET_HDR_F_DATA_VALID);
	assert_int_equal(h.csum_start, 34);
	assert_int_equal(h.num_buffers, 1);
	/* GSO towards a guest that did not negotiate GUEST_TSO*: dropped */
	in.gso_type = NET_HDR_GSO_TCPV4;
	assert_int_equal(rx(f, &in, fr, sizeof(fr)), 0);
	assert_int_equal(used_idx(f, 0), 1);
	assert_int_equal(stats(f).rx_dropped, 1);
}

static void test_rx_hostile(void **state)
{
	struct fixture *f = *state;
	uint8_t fr[60];
	uint64_t gpa[1];

	driver_init(f, F(VIRTIO_NET_F_MRG_RXBUF));
	make_frame(fr, sizeof(fr), MAC, 2);
	/* a receive buffer smaller than the header */
	chain(f, 0, (uint32_t[]){4}, 1, true, gpa);
	assert_int_equal(rx(f, NULL, fr, sizeof(fr)), 0);
	assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(used_idx(f, 0), 0);
	assert_int_equal(stats(f).guest_errors, 1);
	/* further frames are dropped (counted) until the driver resets */
	assert_int_equal(rx(f, NULL, fr, sizeof(fr)), 0);
	assert_int_equal(stats(f).rx_dropped, 2);
}

static void test_rx_read_only_buffer(void **state)
{
	struct fixture *f = *state;
	uint8_t fr[1400];
	uint64_t gpa[1];

	driver_init(f, F(VIRTIO_NET_F_MRG_RXBUF));
	make_frame(fr, sizeof(fr), MAC, 2);
	chain(f, 0, (uint32_t[]){1024}, 1, true, gpa);
	chain(f, 0, (uint32_t[]){1024}, 1, false, gpa); /* device-readable: no room */
	assert_int_equal(rx(f, NULL, fr, sizeof(fr)), 0);
	assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(used_idx(f, 0), 0);
}

static uint8_t ctrl(struct fixture *f, uint8_t cls, uint8_t cmd, const void *data, uint32_t len)
{
	uint32_t lens[3] = {2, len, 1};
	uint64_t gpa[3];
	unsigned cq = f->ctrlq;
	uint16_t head = f->r[cq].next_desc;
	uint8_t *ack;

	/* out: class+cmd, data; in: ack */
	for (unsigned i = 0; i < 3; i++) {
		gpa[i] = f->next_data;
		f->next_data += 16 + ((lens[i] + 15) & ~15u);
		*desc(f, cq, (uint16_t)(head + i)) = (struct virtq_desc){
		    gpa[i], lens[i],
		    (uint16_t)((i == 2 ? VIRTQ_DESC_F_WRITE : 0) | (i < 2 ? VIRTQ_DESC_F_NEXT : 0)),
		    (uint16_t)((head + i + 1) % QSIZE)};
	}
	f->r[cq].next_desc = (uint16_t)((head + 3) % QSIZE);
	((uint8_t *)host(f, gpa[0]))[0] = cls;
	((uint8_t *)host(f, gpa[0]))[1] = cmd;
	memcpy(host(f, gpa[1]), data, len);
	ack = host(f, gpa[2]);
	*ack = 0xee;
	publish(f, cq, head);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, cq);
	return *ack;
}

static void test_ctrl_filter_and_mac(void **state)
{
	struct fixture *f = *state;
	static const uint8_t other[6] = {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee};
	static const uint8_t mcast[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb};
	uint8_t fr[60], table[4 + 6 + 4 + 6], mac[6];
	uint32_t one = 1, zero = 0;
	uint64_t gpa[1];

	driver_init(f, F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_CTRL_RX) |
			   F(VIRTIO_NET_F_CTRL_MAC_ADDR));
	for (unsigned i = 0; i < 4; i++)
		chain(f, 0, (uint32_t[]){1526}, 1, true, gpa);
	/* promiscuous by default */
	make_frame(fr, sizeof(fr), other, 1);
	assert_int_equal(rx(f, NULL, fr, sizeof(fr)), 0);
	assert_int_equal(used_idx(f, 0), 1);
	assert_int_equal(ctrl(f, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, "\0", 1),
			 VIRTIO_NET_OK);
	assert_int_equal(rx(f, NULL, fr, sizeof(fr)), 0);
	assert_int_equal(used_idx(f, 0), 1);
	assert_int_equal(stats(f).rx_filtered, 1);
	make_frame(fr, sizeof(fr), mcast, 1);
	assert_int_equal(rx(f, NULL, fr, sizeof(fr)), 0);
	assert_int_equal(stats(f).rx_filtered, 2);
	/* MAC table: the other unicast address and no multicast */
	memcpy(table, &one, 4);
	memcpy(table + 4, other, 6);
	memcpy(table + 10, &zero, 4);
	assert_int_equal(ctrl(f, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, table, 14),
			 VIRTIO_NET_OK);
	make_frame(fr, sizeof(fr), other, 1);
	assert_int_equal(rx(f, NULL, fr, sizeof(fr)), 0);
	assert_int_equal(used_idx(f, 0), 2);
	/* a table whose count runs past the command is refused */
	one = 1000;
	memcpy(table, &one, 4);
	assert_int_equal(ctrl(f, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, table, 14),
			 VIRTIO_NET_ERR);
	/* all-multicast */
	assert_int_equal(ctrl(f, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_ALLMULTI, "\1", 1),
			 VIRTIO_NET_OK);
	make_frame(fr, sizeof(fr), mcast, 1);
	assert_int_equal(rx(f, NULL, fr, sizeof(fr)), 0);
	assert_int_equal(used_idx(f, 0), 3);
	/* MAC_ADDR_SET changes the config space */
	assert_int_equal(ctrl(f, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, other, 6),
			 VIRTIO_NET_OK);
	virtio_mmio_io_ops.read(f->t, VIRTIO_MMIO_CONFIG, mac, 6);
	assert_memory_equal(mac, other, 6);
	/* unknown class, MQ not negotiated */
	assert_int_equal(ctrl(f, 99, 0, "x", 1), VIRTIO_NET_ERR);
	assert_int_equal(ctrl(f, VIRTIO_NET_CTRL_MQ, 0, "\1\0", 2), VIRTIO_NET_ERR);
	assert_int_equal(stats(f).ctrl_errors, 3);
}

/* Snapshot: the filter, the MAC set through the control queue and the queue positions move to
 * a fresh device on a fresh backend, which goes on receiving into the next guest buffer with
 * the same filter; impossible states are refused; a TX queue waiting on a full backend cannot
 * be saved. */
static void test_snapshot_round_trip(void **state)
{
	struct fixture *f = *state;
	static const uint8_t other[6] = {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee};
	static const uint8_t stranger[6] = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
	static struct fake_nb fb2;
	static struct virtio_net_state ns, bad;
	struct virtio_dev_state ds;
	struct virtio_net_opts o = {.queue_size = QSIZE};
	struct virtio_net *n2;
	struct iovec iov;
	uint8_t fr[60], table[4 + 6 + 4], mac[6];
	uint32_t one = 1, zero = 0;
	uint64_t gpa[1];

	driver_init(f, F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_CTRL_RX) |
			   F(VIRTIO_NET_F_CTRL_MAC_ADDR) | F(VIRTIO_NET_F_STATUS));
	for (unsigned i = 0; i < 4; i++)
		chain(f, 0, (uint32_t[]){1526}, 1, true, gpa);
	assert_int_equal(ctrl(f, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, "\0", 1),
			 VIRTIO_NET_OK);
	memcpy(table, &one, 4);
	memcpy(table + 4, stranger, 6);
	memcpy(table + 10, &zero, 4);
	assert_int_equal(ctrl(f, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, table, 14),
			 VIRTIO_NET_OK);
	assert_int_equal(ctrl(f, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, other, 6),
			 VIRTIO_NET_OK);
	make_frame(fr, sizeof(fr), other, 1);
	assert_int_equal(rx(f, NULL, fr, sizeof(fr)), 0);
	assert_int_equal(used_idx(f, 0), 1);

	virtio_dev_save(virtio_net_dev(f->n), &ds);
	assert_int_equal(virtio_net_save(f->n, &ns), 0);
	assert_memory_equal(ns.mac, other, 6);
	assert_int_equal(ns.promisc, 0);
	assert_int_equal(ns.nuni, 1);

	fb2.nb = (struct net_backend){.ops = &fb_ops, .kind = "fake", .queues = 1};
	memcpy(o.mac, MAC, 6); /* the configuration's MAC: the saved one wins */
	assert_int_equal(virtio_net_create(&n2, f->mem, &fb2.nb, &o), 0);
	assert_int_equal(virtio_dev_load(virtio_net_dev(n2), &ds), 0);
	assert_int_equal(virtio_net_load(n2, &ns), 0);
	virtio_net_dev(n2)->ops->config_read(virtio_net_dev(n2), 0, mac, 6);
	assert_memory_equal(mac, other, 6);
	/* a frame to an address in neither the MAC nor the table: filtered (not promiscuous) */
	make_frame(fr, sizeof(fr), MAC, 2);
	iov = (struct iovec){fr, sizeof(fr)};
	assert_int_equal(fb2.nb.fe.receive(fb2.nb.fe.ctx, 0, &iov, 1), 0);
	assert_int_equal(used_idx(f, 0), 1);
	/* the table's address and the new MAC: the next guest buffers */
	make_frame(fr, sizeof(fr), stranger, 3);
	assert_int_equal(fb2.nb.fe.receive(fb2.nb.fe.ctx, 0, &iov, 1), 0);
	assert_int_equal(used_idx(f, 0), 2);
	assert_int_equal(used_elem(f, 0, 1).id, 1);
	make_frame(fr, sizeof(fr), other, 4);
	assert_int_equal(fb2.nb.fe.receive(fb2.nb.fe.ctx, 0, &iov, 1), 0);
	assert_int_equal(used_idx(f, 0), 3);

	bad = ns;
	bad.nuni = VIRTIO_NET_MAC_TABLE + 1;
	assert_int_equal(virtio_net_load(n2, &bad), -EINVAL);
	bad = ns;
	bad.curr_pairs = 2; /* one pair, no MQ */
	assert_int_equal(virtio_net_load(n2, &bad), -EINVAL);
	bad = ns;
	bad.curr_pairs = 0;
	assert_int_equal(virtio_net_load(n2, &bad), -EINVAL);
	bad = ns;
	bad.max_pairs = 2;
	assert_int_equal(virtio_net_load(n2, &bad), -EINVAL);
	bad = ns;
	bad.status |= 0x80;
	assert_int_equal(virtio_net_load(n2, &bad), -EINVAL);
	bad = ns;
	bad.link_up = 0; /* the status says up */
	assert_int_equal(virtio_net_load(n2, &bad), -EINVAL);
	bad = ns;
	bad.promisc = 7;
	assert_int_equal(virtio_net_load(n2, &bad), -EINVAL);
	virtio_net_destroy(n2);

	/* The backend is full: the TX queue waits for tx_ready, which a new backend never sends. */
	f->fb.send_ret = -EAGAIN;
	make_frame(fr, sizeof(fr), MAC, 5);
	tx(f, &(struct net_vnet_hdr){0}, fr, sizeof(fr));
	assert_int_equal(stats(f).tx_stalls, 1);
	assert_int_equal(virtio_net_save(f->n, &ns), -EBUSY);
	f->fb.send_ret = 0;
	f->fb.nb.fe.tx_ready(f->fb.nb.fe.ctx, 0);
	assert_int_equal(virtio_net_save(f->n, &ns), 0);
}

static void test_announce_and_link(void **state)
{
	struct fixture *f = *state;
	uint16_t st;
	uint8_t fr[60];

	driver_init(f, F(VIRTIO_NET_F_STATUS) | F(VIRTIO_NET_F_CTRL_VQ) |
			   F(VIRTIO_NET_F_GUEST_ANNOUNCE));
	virtio_net_announce(f->n);
	virtio_mmio_io_ops.read(f->t, VIRTIO_MMIO_CONFIG + 6, &st, 2);
	assert_int_equal(st, VIRTIO_NET_S_LINK_UP | VIRTIO_NET_S_ANNOUNCE);
	assert_true(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	wr(f, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(ctrl(f, VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK, "", 0),
			 VIRTIO_NET_OK);
	virtio_mmio_io_ops.read(f->t, VIRTIO_MMIO_CONFIG + 6, &st, 2);
	assert_int_equal(st, VIRTIO_NET_S_LINK_UP);
	wr(f, VIRTIO_MMIO_INTERRUPT_ACK, 3);
	virtio_net_set_link(f->n, false);
	virtio_mmio_io_ops.read(f->t, VIRTIO_MMIO_CONFIG + 6, &st, 2);
	assert_int_equal(st, 0);
	assert_true(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	make_frame(fr, sizeof(fr), MAC, 1);
	assert_int_equal(rx(f, NULL, fr, sizeof(fr)), 0); /* link down: dropped */
	assert_int_equal(stats(f).rx_dropped, 1);
}

static void test_multiqueue(void **state)
{
	struct fixture *f = *state;
	struct net_vnet_hdr h = {0};
	uint8_t fr[64];
	uint16_t pairs = 2, max;
	uint32_t lens[2] = {NET_VNET_HDR_LEN, sizeof(fr)};
	uint64_t gpa[2];

	assert_true(device_features(f) & F(VIRTIO_NET_F_MQ));
	virtio_mmio_io_ops.read(f->t, VIRTIO_MMIO_CONFIG + 8, &max, 2);
	assert_int_equal(max, 2);
	driver_init(f, F(VIRTIO_NET_F_MQ) | F(VIRTIO_NET_F_CTRL_VQ));
	f->ctrlq = 4; /* 2 * max pairs with MQ */
	assert_int_equal(f->set_queues, 1);
	/* tx1 is not in use until VQ_PAIRS_SET */
	make_frame(fr, sizeof(fr), MAC, 1);
	chain(f, 3, lens, 2, false, gpa);
	memcpy(host(f, gpa[0]), &h, sizeof(h));
	memcpy(host(f, gpa[1]), fr, sizeof(fr));
	assert_int_equal(ctrl(f, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &pairs, 2),
			 VIRTIO_NET_OK);
	assert_int_equal(f->set_queues, 2);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 3);
	assert_int_equal(f->fb.nsent, 1);
	assert_int_equal(fb_last_queue, 1);
	/* more pairs than the device has: refused */
	pairs = 3;
	assert_int_equal(ctrl(f, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &pairs, 2),
			 VIRTIO_NET_ERR);
	/* a frame for pair 1 lands in rx1 */
	chain(f, 2, (uint32_t[]){1526}, 1, true, gpa);
	{
		struct iovec iov[2] = {{&h, NET_VNET_HDR_LEN}, {fr, sizeof(fr)}};

		assert_int_equal(f->fb.nb.fe.receive(f->fb.nb.fe.ctx, 1, iov, 2), 0);
	}
	assert_int_equal(used_idx(f, 2), 1);
}

static void test_create_rejects(void **state)
{
	struct fixture *f = *state;
	struct virtio_net_opts o = {.mac = {0x01, 0, 0, 0, 0, 1}}; /* multicast MAC */
	struct virtio_net *n;

	assert_int_equal(virtio_net_create(&n, f->mem, &f->fb.nb, &o), -EINVAL);
	o.mac[0] = 0x02;
	o.queue_size = 12;
	assert_int_equal(virtio_net_create(&n, f->mem, &f->fb.nb, &o), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_config_and_features, setup_plain, teardown),
	    cmocka_unit_test_setup_teardown(test_vnet_features, setup_vnet, teardown),
	    cmocka_unit_test_setup_teardown(test_tx_strips_header, setup_plain, teardown),
	    cmocka_unit_test_setup_teardown(test_tx_software_checksum, setup_plain, teardown),
	    cmocka_unit_test_setup_teardown(test_tx_offload_passthrough, setup_vnet, teardown),
	    cmocka_unit_test_setup_teardown(test_tx_gso_without_offload, setup_plain, teardown),
	    cmocka_unit_test_setup_teardown(test_tx_backpressure, setup_plain, teardown),
	    cmocka_unit_test_setup_teardown(test_tx_hostile, setup_plain, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_single_buffer, setup_plain, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_mergeable, setup_plain, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_backpressure_and_not_ready, setup_plain,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_rx_vnet_header, setup_vnet, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_hostile, setup_plain, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_read_only_buffer, setup_plain, teardown),
	    cmocka_unit_test_setup_teardown(test_ctrl_filter_and_mac, setup_plain, teardown),
	    cmocka_unit_test_setup_teardown(test_announce_and_link, setup_plain, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_round_trip, setup_plain, teardown),
	    cmocka_unit_test_setup_teardown(test_multiqueue, setup_mq, teardown),
	    cmocka_unit_test_setup_teardown(test_create_rejects, setup_plain, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
