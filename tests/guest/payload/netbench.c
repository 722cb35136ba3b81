/* tests/guest/payload/netbench.c — the bench/net driver: a polling virtio-net driver
 * (virtio-mmio, VERSION_1 and MAC only: 12-byte headers, no offloads, no mergeable buffers) whose
 * hot loop runs in ring 3 (the identity map is user-accessible and IOPL is 3, so the ring-3 loop
 * touches the rings and the MMIO notify register directly). Used-buffer interrupts are
 * suppressed (VIRTQ_AVAIL_F_NO_INTERRUPT) and the used rings polled; a notify is skipped while the
 * device sets VIRTQ_USED_F_NO_NOTIFY. Queues of 256 entries, one descriptor per frame.
 *
 *   mode=tx  size=S count=N secs=T: keep the TX ring full of S-byte frames (Ethernet header
 *            included, FCS not: dst 02:00:00:00:00:01, ethertype 0x88b5, so the host stack drops
 *            them at once) and reclaim used buffers, until N frames (default 10000000) are done
 *            or T seconds (default 3) passed; prints
 *              NETBENCH tx size=S frames=F cycles=C tsc_hz=H pps=P notifies=K
 *   mode=rx  secs=T wait=W: post every receive buffer (2 KiB each), print "netbench: rx ready",
 *            wait up to W seconds (default 60) for the first frame, then count the frames of
 *            ethertype 0x88b5 received during T seconds (default 3), reposting used buffers
 *            in batches (see ring3_rx); prints
 *              NETBENCH rx size=S frames=F bytes=B other=O cycles=C tsc_hz=H pps=P notifies=K
 *            (size: the length of the last counted frame; other: frames of other types).
 * The TSC is calibrated against the CMOS RTC (one second edge to edge) in ring 0 first (QEMU
 * microvm needs rtc=on). Fails if the device does not come up, no frame was sent or received,
 * or a frame has a bad length. */
#include "payload.h"

const char payload_name[] = "netbench";

#define QSIZE	   256u
#define RXQ	   0x1200000ull /* desc, avail +0x1000, used +0x2000 */
#define TXQ	   0x1204000ull
#define RX_BUF(i)  (0x1300000ull + (uint64_t)(i)*2048)
#define TX_BUF(i)  (0x1400000ull + (uint64_t)(i)*2048)
#define BUF_LEN	   2048u
#define HDR_LEN	   12u
#define ETHERTYPE  0x88b5
#define NO_NOTIFY  1 /* VIRTQ_USED_F_NO_NOTIFY */
#define SPIN_LIMIT 4000000000ull

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

struct run {
	uint64_t base, hz, count, secs, wait;
	uint32_t size;
	uint64_t frames, bytes, other, bad, cycles, notifies;
};

static uint8_t user_stack[16384] __attribute__((aligned(16)));

static volatile struct desc *ring_desc(uint64_t r)
{
	return (volatile struct desc *)r;
}

static volatile uint16_t *ring_avail(uint64_t r)
{
	return (volatile uint16_t *)(r + 0x1000);
}

static volatile uint16_t *ring_used(uint64_t r)
{
	return (volatile uint16_t *)(r + 0x2000);
}

static volatile uint32_t *used_elem(uint64_t r, uint16_t i)
{
	return (volatile uint32_t *)(r + 0x2004) + 2 * (i % QSIZE);
}

static void publish(struct run *r, uint64_t ring, uint16_t idx, unsigned q)
{
	__asm__ volatile("mfence" ::: "memory");
	ring_avail(ring)[1] = idx;
	__asm__ volatile("mfence" ::: "memory");
	if (!(ring_used(ring)[0] & NO_NOTIFY)) {
		mmio_write32(r->base + 0x50, q);
		r->notifies++;
	}
}

/* TX hot loop (ring 3). The descriptors are static (descriptor i -> buffer i); the free IDs
 * are a stack, refilled from the used ring. */
static uint64_t ring3_tx(void *p)
{
	struct run *r = p;
	uint16_t free_ids[QSIZE], avail_idx = 0, used_seen = 0;
	unsigned nfree = QSIZE;
	uint64_t submitted = 0, done = 0, spins = 0, t0, end;

	for (unsigned i = 0; i < QSIZE; i++)
		free_ids[i] = (uint16_t)(QSIZE - 1 - i);
	t0 = rdtsc();
	end = t0 + r->secs * r->hz;
	while (done < submitted || (submitted < r->count && rdtsc() < end)) {
		uint16_t u = ring_used(TXQ)[1];
		unsigned n = 0;

		if (u != used_seen) {
			__asm__ volatile("lfence" ::: "memory");
			for (; used_seen != u; used_seen++) {
				uint32_t id = used_elem(TXQ, used_seen)[0];

				if (id >= QSIZE) {
					r->bad++;
					return 3;
				}
				free_ids[nfree++] = (uint16_t)id;
				done++;
			}
			spins = 0;
		}
		if (rdtsc() < end)
			for (; nfree && submitted < r->count; submitted++, n++)
				ring_avail(TXQ)[2 + avail_idx++ % QSIZE] = free_ids[--nfree];
		if (n)
			publish(r, TXQ, avail_idx, 1);
		else if (++spins > SPIN_LIMIT)
			return 1; /* the device stopped completing */
		else
			__asm__ volatile("pause");
	}
	r->cycles = rdtsc() - t0;
	r->frames = done;
	r->bytes = done * r->size;
	return 0;
}

/* RX hot loop (ring 3): every buffer is posted; count and take the used buffers back. They are
 * republished, with a notify, in batches of RX_BATCH, or at once when the device has used every
 * buffer published (it may be waiting for a notify). Publishing only together with a notify
 * means the device can stop only at a published index that it was told about: no lost wakeup
 * without EVENT_IDX. */
#define RX_BATCH 64u
static uint64_t ring3_rx(void *p)
{
	struct run *r = p;
	uint16_t avail_idx = QSIZE, published = QSIZE, used_seen = 0;
	uint64_t t0, end, now;

	t0 = rdtsc();
	while (ring_used(RXQ)[1] == used_seen)
		if (rdtsc() - t0 > r->wait * r->hz)
			return 2; /* nothing arrived */
	t0 = rdtsc();
	end = t0 + r->secs * r->hz;
	do {
		uint16_t u = ring_used(RXQ)[1];

		now = rdtsc();
		if (u != used_seen) {
			__asm__ volatile("lfence" ::: "memory");
			for (; used_seen != u; used_seen++) {
				volatile uint32_t *e = used_elem(RXQ, used_seen);
				uint32_t id = e[0], len = e[1];
				const volatile uint8_t *f;

				if (id >= QSIZE || len < HDR_LEN + 14 || len > BUF_LEN) {
					r->bad++;
					return 3;
				}
				f = (const volatile uint8_t *)RX_BUF(id) + HDR_LEN;
				if ((uint16_t)(f[12] << 8 | f[13]) == ETHERTYPE) {
					r->frames++;
					r->bytes += len - HDR_LEN;
					r->size = len - HDR_LEN;
				} else {
					r->other++;
				}
				ring_avail(RXQ)[2 + avail_idx++ % QSIZE] = (uint16_t)id;
			}
		}
		if (avail_idx != published &&
		    ((uint16_t)(avail_idx - published) >= RX_BATCH || u == published)) {
			published = avail_idx;
			publish(r, RXQ, avail_idx, 0);
		}
	} while (now < end);
	r->cycles = rdtsc() - t0;
	return 0;
}

static bool setup_queue(uint64_t b, unsigned q, uint64_t ring)
{
	mmio_write32(b + 0x30, q);
	if (!check(mmio_read32(b + 0x34) >= QSIZE, "queue %u max size %u >= %u", q,
		   mmio_read32(b + 0x34), QSIZE))
		return false;
	memset((void *)ring, 0, 0x3000);
	mmio_write32(b + 0x38, QSIZE);
	mmio_write32(b + 0x80, (uint32_t)ring);
	mmio_write32(b + 0x84, 0);
	mmio_write32(b + 0x90, (uint32_t)(ring + 0x1000));
	mmio_write32(b + 0x94, 0);
	mmio_write32(b + 0xa0, (uint32_t)(ring + 0x2000));
	mmio_write32(b + 0xa4, 0);
	mmio_write32(b + 0x44, 1);
	return true;
}

static bool driver_init(uint64_t b, uint32_t size)
{
	mmio_write32(b + 0x70, 0);
	mmio_write32(b + 0x70, 1);
	mmio_write32(b + 0x70, 3);
	mmio_write32(b + 0x14, 0);
	if (!check(mmio_read32(b + 0x10) & (1u << 5), "device offers MAC"))
		return false;
	mmio_write32(b + 0x24, 0);
	mmio_write32(b + 0x20, 1u << 5);
	mmio_write32(b + 0x24, 1);
	mmio_write32(b + 0x20, 1); /* VERSION_1 */
	mmio_write32(b + 0x70, 0x0b);
	if (!check(mmio_read32(b + 0x70) & 0x08, "FEATURES_OK accepted"))
		return false;
	if (!setup_queue(b, 0, RXQ) || !setup_queue(b, 1, TXQ))
		return false;
	for (uint16_t i = 0; i < QSIZE; i++) {
		uint8_t *f = (uint8_t *)TX_BUF(i);

		ring_desc(RXQ)[i] = (struct desc){RX_BUF(i), BUF_LEN, 2, 0};
		ring_avail(RXQ)[2 + i] = i;
		/* header all zero; dst 02:00:00:00:00:01, src our MAC, ethertype, a counter */
		memset(f, 0, HDR_LEN + size);
		f[HDR_LEN] = 2;
		f[HDR_LEN + 5] = 1;
		for (unsigned k = 0; k < 6; k++)
			f[HDR_LEN + 6 + k] = *(volatile uint8_t *)(b + 0x100 + k);
		f[HDR_LEN + 12] = ETHERTYPE >> 8;
		f[HDR_LEN + 13] = ETHERTYPE & 0xff;
		f[HDR_LEN + 14] = (uint8_t)i;
		ring_desc(TXQ)[i] = (struct desc){TX_BUF(i), HDR_LEN + size, 0, 0};
	}
	ring_avail(RXQ)[0] = 1; /* VIRTQ_AVAIL_F_NO_INTERRUPT: the loops poll */
	ring_avail(TXQ)[0] = 1;
	__asm__ volatile("mfence" ::: "memory");
	ring_avail(RXQ)[1] = QSIZE;
	mmio_write32(b + 0x70, 0x0f);
	if (!check(mmio_read32(b + 0x70) == 0x0f, "DRIVER_OK"))
		return false;
	mmio_write32(b + 0x50, 0);
	return true;
}

int payload_main(const struct boot_info *bi)
{
	uint64_t rsdp = acpi_find_rsdp(bi->rsdp_paddr), b, st;
	char mode[8] = "tx";
	struct run r;
	bool tx;

	memset(&r, 0, sizeof(r));
	cmdline_get("mode", mode, sizeof(mode));
	tx = !strncmp(mode, "tx", 3);
	if (!check(tx || !strncmp(mode, "rx", 3), "mode=%s is tx or rx", mode))
		return EXIT_CODE_FAIL;
	r.size = (uint32_t)cmdline_u64("size", 64);
	r.count = cmdline_u64("count", 10000000);
	r.secs = cmdline_u64("secs", 3);
	r.wait = cmdline_u64("wait", 60);
	if (!check(r.size >= 60 && r.size <= 1514 && r.count > 0 && r.secs > 0,
		   "size=%u in 60..1514, count and secs > 0", r.size))
		return EXIT_CODE_FAIL;
	b = rsdp ? vmmio_find(rsdp, 1) : 0;
	if (!check(b != 0, "virtio-mmio network device in the DSDT") || !driver_init(b, r.size))
		return EXIT_CODE_FAIL;
	r.base = b;
	r.hz = rtc_tsc_hz();
	if (!check(r.hz != 0, "TSC calibrated against the RTC"))
		return EXIT_CODE_FAIL;
	printf("netbench: device at 0x%lx, TSC %lu Hz, mode %s\n", b, r.hz, mode);
	if (tx) {
		st = user_run(ring3_tx, &r, user_stack, sizeof(user_stack));
		check(st == 0 && r.frames > 0, "tx: %lu frames completed (status %lu)", r.frames,
		      st);
		printf(
		    "NETBENCH tx size=%u frames=%lu cycles=%lu tsc_hz=%lu pps=%lu notifies=%lu\n",
		    r.size, r.frames, r.cycles, r.hz, r.cycles ? r.frames * r.hz / r.cycles : 0,
		    r.notifies);
	} else {
		printf("netbench: rx ready\n");
		st = user_run(ring3_rx, &r, user_stack, sizeof(user_stack));
		check(st == 0 && r.frames > 0, "rx: %lu frames received (status %lu)", r.frames,
		      st);
		printf("NETBENCH rx size=%u frames=%lu bytes=%lu other=%lu cycles=%lu tsc_hz=%lu "
		       "pps=%lu notifies=%lu\n",
		       r.size, r.frames, r.bytes, r.other, r.cycles, r.hz,
		       r.cycles ? r.frames * r.hz / r.cycles : 0, r.notifies);
	}
	check(r.bad == 0, "no malformed used element");
	return check_failures() ? EXIT_CODE_FAIL : EXIT_CODE_PASS;
}
