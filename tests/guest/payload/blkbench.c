/* tests/guest/payload/blkbench.c — the bench/blk driver: a polling virtio-blk driver (virtio-mmio,
 * or modern virtio-pci with transport=pci; lib/virtio_pci.c vdev_*) whose hot loop runs in ring 3
 * (the 0-4 GiB identity map is user-accessible and IOPL is 3, so the ring-3 loop touches the
 * rings and the notify register directly: the MMIO QueueNotify register, or queue 0's doorbell
 * in the PCI notify BAR, which lies in the PCI window at 0xc0000000 below 4 GiB). Interrupts are
 * suppressed (VIRTQ_AVAIL_F_NO_INTERRUPT) and completions polled, so the guest is not the
 * bottleneck. Workloads, each for ops=N requests (default 2000) over the first region=BYTES of
 * the disk (default 64 MiB, capped by the capacity):
 *   randread 4 KiB at queue depth 1 and 32, seqread 64 KiB at 1 and 32, seqwrite 64 KiB at 1
 *   and 32 (sequential ones wrap around the region).
 * The TSC is calibrated against the CMOS RTC (one second edge to edge) in ring 0 first (QEMU
 * microvm needs rtc=on). Each
 * workload prints one line
 *   BLKBENCH <name> bs=<bytes> qd=<n> ops=<n> cycles=<tsc> tsc_hz=<hz> iops=<n> kib_s=<n>
 * and every request's status is checked (any error fails the payload). Arguments: ops=N,
 * region=BYTES, only=NAME (one workload, e.g. only=randread), transport=pci. */
#include "payload.h"

const char payload_name[] = "blkbench";

#define QSIZE	   128u
#define MAX_QD	   32u
#define RING_GPA   0x1200000ull /* desc, avail +0x1000, used +0x2000 */
#define HDR_GPA	   0x1210000ull /* 16 bytes per slot */
#define STATUS_GPA 0x1211000ull /* 1 byte per slot */
#define DATA_GPA   0x1400000ull /* 64 KiB per slot, page aligned */
#define SLOT_BYTES 65536u

#define BLK_T_IN  0
#define BLK_T_OUT 1

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

struct blk_hdr {
	uint32_t type, reserved;
	uint64_t sector;
};

struct workload {
	const char *name;
	uint32_t type, bs;
	bool random;
	uint32_t qd;
};

struct run {
	uint64_t notify; /* queue 0's notify address: MMIO QueueNotify or the PCI doorbell */
	bool notify16;	 /* PCI: 16-bit write of the queue index; MMIO: 32-bit */
	const struct workload *w;
	uint64_t ops, region, cycles, errors;
	uint64_t next_off, rng;
};

static uint8_t user_stack[16384] __attribute__((aligned(16)));
static volatile struct desc *const d = (volatile struct desc *)RING_GPA;
static volatile uint16_t *const avail = (volatile uint16_t *)(RING_GPA + 0x1000);
static volatile uint16_t *const used = (volatile uint16_t *)(RING_GPA + 0x2000);
static uint16_t avail_idx, used_seen;

static uint64_t next_offset(struct run *r)
{
	uint64_t off;

	if (r->w->random) {
		r->rng ^= r->rng << 13;
		r->rng ^= r->rng >> 7;
		r->rng ^= r->rng << 17;
		return (r->rng % (r->region / r->w->bs)) * r->w->bs;
	}
	off = r->next_off;
	r->next_off = off + r->w->bs >= r->region ? 0 : off + r->w->bs;
	return off;
}

/* Put slot s's request on the avail ring (not yet published). Descriptors 3s..3s+2. */
static void queue_slot(struct run *r, unsigned s)
{
	volatile struct blk_hdr *h = (volatile struct blk_hdr *)(HDR_GPA + s * 16);
	volatile uint8_t *st = (volatile uint8_t *)(STATUS_GPA + s);
	uint16_t i = (uint16_t)(3 * s);

	h->type = r->w->type;
	h->reserved = 0;
	h->sector = next_offset(r) / 512;
	*st = 0xff;
	d[i] = (struct desc){HDR_GPA + s * 16, 16, 1, (uint16_t)(i + 1)};
	d[i + 1] =
	    (struct desc){DATA_GPA + (uint64_t)s * SLOT_BYTES, r->w->bs,
			  (uint16_t)(1 | (r->w->type == BLK_T_IN ? 2 : 0)), (uint16_t)(i + 2)};
	d[i + 2] = (struct desc){STATUS_GPA + s, 1, 2, 0};
	avail[2 + avail_idx % QSIZE] = i;
	avail_idx++;
}

static void publish(struct run *r)
{
	__asm__ volatile("mfence" ::: "memory");
	avail[1] = avail_idx;
	__asm__ volatile("mfence" ::: "memory");
	if (r->notify16)
		mmio_write16(r->notify, 0);
	else
		mmio_write32(r->notify, 0);
}

/* The hot loop (ring 3): keep qd requests in flight until ops completed. */
static uint64_t ring3_loop(void *p)
{
	struct run *r = p;
	uint64_t submitted = 0, done = 0, t0, spins = 0;

	t0 = rdtsc();
	for (unsigned s = 0; s < r->w->qd && submitted < r->ops; s++, submitted++)
		queue_slot(r, s);
	publish(r);
	while (done < r->ops) {
		uint16_t u = used[1];
		bool more = false;

		if (u == used_seen) {
			if (++spins > 2000000000ull)
				return 1; /* stuck */
			__asm__ volatile("pause");
			continue;
		}
		__asm__ volatile("lfence" ::: "memory");
		for (; used_seen != u; used_seen++) {
			volatile uint32_t *e =
			    (volatile uint32_t *)(used + 2) + 2 * (used_seen % QSIZE);
			unsigned s = e[0] / 3;

			if (s >= MAX_QD || *(volatile uint8_t *)(STATUS_GPA + s) != 0)
				r->errors++;
			done++;
			if (submitted < r->ops) {
				queue_slot(r, s);
				submitted++;
				more = true;
			}
		}
		if (more)
			publish(r);
	}
	r->cycles = rdtsc() - t0;
	return 0;
}

static bool driver_init(struct vdev *v)
{
	vdev_set_status(v, 0);
	vdev_set_status(v, 1);
	vdev_set_status(v, 3);
	if (!check(vdev_features(v, 1) & 1, "device offers VERSION_1"))
		return false;
	vdev_set_features(v, 1, 1); /* VERSION_1 only: no EVENT_IDX, no indirect, split ring */
	vdev_set_features(v, 0, 0);
	vdev_set_status(v, 0x0b);
	if (!check(vdev_status(v) & 0x08, "FEATURES_OK accepted"))
		return false;
	if (!vdev_setup_queue0(v, QSIZE, RING_GPA))
		return false;
	avail[0] = 1; /* VIRTQ_AVAIL_F_NO_INTERRUPT: the loop polls */
	return true;
}

/* Queue 0's notify address, computed in ring 0 (the PCI one needs queue_notify_off). */
static void notify_addr(struct vdev *v, struct run *r)
{
	if (v->pci) {
		mmio_write16(v->common + 0x16, 0); /* queue_select */
		r->notify = v->notify + (uint64_t)mmio_read16(v->common + 0x1e) * v->notify_mult;
		r->notify16 = true;
	} else {
		r->notify = v->mmio + 0x50;
		r->notify16 = false;
	}
}

int payload_main(const struct boot_info *bi)
{
	static const struct workload wl[] = {
	    {"randread", BLK_T_IN, 4096, true, 1},    {"randread", BLK_T_IN, 4096, true, 32},
	    {"seqread", BLK_T_IN, 65536, false, 1},   {"seqread", BLK_T_IN, 65536, false, 32},
	    {"seqwrite", BLK_T_OUT, 65536, false, 1}, {"seqwrite", BLK_T_OUT, 65536, false, 32},
	};
	uint64_t rsdp = acpi_find_rsdp(bi->rsdp_paddr), cap, hz;
	char only[16] = "";
	struct vdev v;
	struct run r;

	if (!check(rsdp && vdev_find(rsdp, 2, &v), "virtio block device found") || !driver_init(&v))
		return EXIT_CODE_FAIL;
	cap = (vdev_config_read32(&v, 0) | (uint64_t)vdev_config_read32(&v, 4) << 32) * 512;
	memset(&r, 0, sizeof(r));
	notify_addr(&v, &r);
	r.ops = cmdline_u64("ops", 2000);
	r.region = cmdline_u64("region", 64ull << 20);
	r.region = (r.region < cap ? r.region : cap) & ~(uint64_t)0xffff;
	cmdline_get("only", only, sizeof(only));
	if (!check(r.region >= SLOT_BYTES && r.ops > 0, "region %lu bytes, %lu ops", r.region,
		   r.ops))
		return EXIT_CODE_FAIL;
	hz = rtc_tsc_hz();
	check(hz != 0, "TSC calibrated against the RTC");
	printf("blkbench: %s, notify at 0x%lx, capacity %lu bytes, TSC %lu Hz\n",
	       v.pci ? "virtio-pci" : "virtio-mmio", r.notify, cap, hz);
	for (unsigned i = 0; i < sizeof(wl) / sizeof(wl[0]); i++) {
		if (only[0] && strncmp(only, wl[i].name, sizeof(only)))
			continue;
		r.w = &wl[i];
		r.next_off = 0;
		r.rng = 0x9e3779b97f4a7c15ull + i;
		r.errors = 0;
		if (!check(user_run(ring3_loop, &r, user_stack, sizeof(user_stack)) == 0,
			   "%s qd %u: all requests completed", wl[i].name, wl[i].qd))
			return EXIT_CODE_FAIL;
		check(r.errors == 0, "%s qd %u: %lu errors", wl[i].name, wl[i].qd, r.errors);
		printf("BLKBENCH %s bs=%u qd=%u ops=%lu cycles=%lu tsc_hz=%lu iops=%lu kib_s=%lu\n",
		       wl[i].name, wl[i].bs, wl[i].qd, r.ops, r.cycles, hz,
		       r.cycles ? r.ops * hz / r.cycles : 0,
		       r.cycles ? r.ops * hz / r.cycles * (wl[i].bs / 1024) : 0);
	}
	return check_failures() ? EXIT_CODE_FAIL : EXIT_CODE_PASS;
}
