/* tests/guest/payload/snapshot.c — a guest to snapshot mid-run and restore. It fills `fill`
 * MiB at 32 MiB with a pattern, then works in ring 3 for `rounds` rounds; each round it
 *   - spins `spin` iterations on a counter kept in a register and mirrored in memory, and
 *     checks that both agree (registers and RAM restored together);
 *   - rewrites one 4 KiB page of the region with a round-dependent pattern, updates the
 *     expected sum incrementally and re-sums the whole region (every page survived);
 *   - with blk=1, writes sector R of the first virtio-blk disk (pattern of R) and reads sector
 *     R-1 back, rotating over 5 descriptor chains with their own buffers; a device that lost
 *     its queue indices in the restore replays old chains, which blk_req's buffer discipline
 *     and the final read-back of every sector catch. The disk is on virtio-mmio, or with
 *     transport=pci on virtio-pci (lib/virtio_pci.c); msix=1 (PCI) also enables MSI-X and
 *     takes the interrupts in ring 3: every request must bring exactly one MSI-X interrupt
 *     (a restore that lost the vector table, the enable bit or the GSI routes stops them);
 *     with packed=1 the disk's queue is a packed virtqueue, driven through lib/vring.c: its
 *     wrap counters flip every few requests, so a restore that loses them stalls or replays;
 *   - with con=1, writes "hvc0: round R" on the virtio console's transmitq (split ring,
 *     polled; the host end is --console file:PATH), and checks the device used the chain;
 *   - prints "snapshot: round R counter C sum S".
 * "snapshot: started" is printed once at boot: a restored run must not print it again.
 * The host (tests/guest/run.sh, case snapshot) saves it after a few rounds, kills kvmm,
 * restores, and checks that the rounds continue. At the end every written sector is read back.
 * Arguments: fill=MiB (16), rounds=N (30), spin=N (2000000), blk=1, transport=pci, msix=1,
 * packed=1, con=1, touch=MiB (0: write one word in every 4 KiB page of that much RAM after the region, so that a benchmark's snapshot has that
 * much memory to save). */
#include "payload.h"

const char payload_name[] = "snapshot";

#define REGION	   0x2000000ull /* 32 MiB */
#define QSIZE	   16
#define RING_GPA   0x1200000ull
#define HDR_GPA	   0x1210000ull
#define STATUS_GPA 0x1211000ull
#define DATA_GPA   0x1220000ull
#define SLOTS	   5 /* descriptor triples in a 16-entry queue */
#define FREE	   0xa5
#define VEC_MSIX   0x50
#define CON_RING   0x1240000ull /* console transmitq: desc, avail +0x1000, used +0x2000 */
#define CON_BUF	   0x1250000ull /* 128 bytes per ring slot */

static uint8_t user_stack[16384] __attribute__((aligned(16)));

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

static struct vring vq; /* the disk's queue with packed=1 */

struct work {
	uint64_t words; /* region size in 8-byte words */
	uint64_t rounds, spin;
	struct vdev *blk; /* NULL: no disk */
	struct vdev *con; /* NULL: no console */
	uint16_t con_idx;
	bool msix, irq_lost, packed;
	volatile uint64_t counter_mirror;
	uint16_t next_idx;
	unsigned bad;
};

static volatile unsigned msix_irqs;

static void msix_isr(struct trap_frame *f)
{
	(void)f;
	msix_irqs++;
	lapic_eoi();
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

static uint64_t region_sum(const volatile uint64_t *w, uint64_t n)
{
	uint64_t s = 0;

	for (uint64_t i = 0; i < n; i++)
		s += w[i] * (i | 1);
	return s;
}

/* The same request on the packed queue (lib/vring.c): the chain's ID must come back used with
 * the expected length. The status byte or -1; blk_req waits for the interrupt. */
static int blk_req_packed(struct work *wk, uint32_t type, volatile uint32_t *hdr,
			  volatile uint8_t *st, uint8_t *buf)
{
	struct vring_seg s[3] = {{(uint64_t)(uintptr_t)hdr, 16, false},
				 {(uint64_t)(uintptr_t)buf, 512, type == 0},
				 {(uint64_t)(uintptr_t)st, 1, true}};
	uint16_t id = vring_add(&vq, s, 3), got;
	uint32_t len;
	int ret = -1;

	__asm__ volatile("mfence" ::: "memory");
	wk->next_idx++;
	vdev_notify(wk->blk, 0);
	for (unsigned spin = 0; spin < 100000000; spin++) {
		if (vring_get_used(&vq, &got, &len)) {
			if (!wk->msix)
				(void)vdev_ack(wk->blk);
			if (got == id && len == (type ? 1u : 513u))
				ret = *st;
			break;
		}
		cpu_relax();
	}
	return ret;
}

/* One line on the console's transmitq, polled: the device must use exactly this chain. */
static void con_write(struct work *wk, const char *line)
{
	volatile struct desc *d = (volatile struct desc *)CON_RING;
	volatile uint16_t *avail = (volatile uint16_t *)(CON_RING + 0x1000);
	volatile uint16_t *used = (volatile uint16_t *)(CON_RING + 0x2000);
	uint16_t slot = wk->con_idx % QSIZE;
	char *buf = (char *)(CON_BUF + 128ull * slot);
	size_t n = strlen(line);

	memcpy(buf, line, n);
	d[slot] = (struct desc){(uint64_t)(uintptr_t)buf, (uint32_t)n, 0, 0};
	avail[2 + slot] = slot;
	__asm__ volatile("mfence" ::: "memory");
	wk->con_idx++;
	avail[1] = wk->con_idx;
	__asm__ volatile("mfence" ::: "memory");
	vdev_notify(wk->con, 1);
	for (unsigned spin = 0; spin < 100000000; spin++) {
		if (used[1] == wk->con_idx) {
			volatile uint32_t *elem = (volatile uint32_t *)(used + 2) + 2 * slot;

			(void)vdev_ack(wk->con);
			if (elem[0] != slot) {
				printf("snapshot: console used id %u, expected %u\n", elem[0], slot);
				wk->bad++;
			}
			return;
		}
		cpu_relax();
	}
	printf("snapshot: console write %u not used\n", wk->con_idx);
	wk->bad++;
}

/* One virtio-blk request, polled. Request k uses slot k % SLOTS: descriptors 3*slot..3*slot+2,
 * its own header, status byte and 512-byte buffer. Between requests every buffer holds FREE
 * bytes: a device that lost its queue indices across a restore replays old chains, and a
 * replayed IN overwrites a FREE buffer (caught by blk_buffers_free), a replayed OUT writes FREE
 * bytes to an old sector (caught by the final read-back). Returns the status byte or -1. */
static int blk_req(struct work *wk, uint32_t type, uint64_t sector, const uint8_t *src,
		   uint8_t *dst)
{
	volatile struct desc *d = (volatile struct desc *)RING_GPA;
	volatile uint16_t *avail = (volatile uint16_t *)(RING_GPA + 0x1000);
	volatile uint16_t *used = (volatile uint16_t *)(RING_GPA + 0x2000);
	unsigned slot = wk->next_idx % SLOTS, ring = wk->next_idx % QSIZE;
	uint16_t head = (uint16_t)(3 * slot);
	volatile uint32_t *hdr = (volatile uint32_t *)(HDR_GPA + 16 * slot);
	volatile uint8_t *st = (volatile uint8_t *)(STATUS_GPA + slot);
	uint8_t *buf = (uint8_t *)(DATA_GPA + 512 * slot);
	int ret = -1;

	if (type)
		memcpy(buf, src, 512);
	hdr[0] = type;
	hdr[1] = 0;
	*(volatile uint64_t *)(hdr + 2) = sector;
	*st = 0xff;
	if (wk->packed) {
		ret = blk_req_packed(wk, type, hdr, st, buf);
		goto irq;
	}
	d[head] = (struct desc){(uint64_t)(uintptr_t)hdr, 16, 1, (uint16_t)(head + 1)};
	d[head + 1] = (struct desc){(uint64_t)(uintptr_t)buf, 512, (uint16_t)(1 | (type ? 0 : 2)),
				    (uint16_t)(head + 2)};
	d[head + 2] = (struct desc){(uint64_t)(uintptr_t)st, 1, 2, 0};
	avail[2 + ring] = head;
	__asm__ volatile("mfence" ::: "memory");
	wk->next_idx++;
	avail[1] = wk->next_idx;
	__asm__ volatile("mfence" ::: "memory");
	vdev_notify(wk->blk, 0);
	for (unsigned spin = 0; spin < 100000000; spin++) {
		if (used[1] == wk->next_idx) {
			volatile uint32_t *elem = (volatile uint32_t *)(used + 2) + 2 * ring;

			if (!wk->msix)
				(void)vdev_ack(wk->blk);
			if (elem[0] == head && elem[1] == (type ? 1u : 513u))
				ret = *st;
			break;
		}
		cpu_relax();
	}
irq:
	/* One interrupt per request (no EVENT_IDX, interrupts not suppressed); it follows the used
	 * entry at once. After one went missing, stop waiting (the run has failed already). */
	for (unsigned spin = 0; wk->msix && !wk->irq_lost && msix_irqs != wk->next_idx &&
				spin < 10000000;
	     spin++)
		cpu_relax();
	if (wk->msix && msix_irqs != wk->next_idx) {
		printf("snapshot: request %u: %u MSI-X interrupts\n", wk->next_idx, msix_irqs);
		wk->irq_lost = true;
		ret = -2;
	}
	if (!type && dst)
		memcpy(dst, buf, 512);
	memset(buf, FREE, 512);
	return ret;
}

static bool blk_buffers_free(void)
{
	const uint8_t *p = (const uint8_t *)DATA_GPA;

	for (unsigned i = 0; i < SLOTS * 512; i++)
		if (p[i] != FREE)
			return false;
	return true;
}

static uint8_t pat(uint64_t sector, unsigned i)
{
	return (uint8_t)(sector * 7 + i * 13 + 0x5b);
}

static void blk_round(struct work *wk, uint64_t r)
{
	uint8_t buf[512];
	int s;

	if (!blk_buffers_free()) {
		printf("snapshot: round %lu: a request buffer changed between requests\n", r);
		wk->bad++;
		memset((void *)DATA_GPA, FREE, SLOTS * 512);
	}
	for (unsigned i = 0; i < 512; i++)
		buf[i] = pat(r, i);
	s = blk_req(wk, 1, r, buf, NULL);
	if (s != 0) {
		printf("snapshot: round %lu: write of sector %lu: status %d\n", r, r, s);
		wk->bad++;
	}
	if (!r)
		return;
	s = blk_req(wk, 0, r - 1, NULL, buf);
	for (unsigned i = 0; s == 0 && i < 512; i++)
		if (buf[i] != pat(r - 1, i))
			s = 0x100;
	if (s != 0) {
		printf("snapshot: round %lu: read of sector %lu: status %d\n", r, r - 1, s);
		wk->bad++;
	}
}

static uint64_t ring3_work(void *p)
{
	struct work *wk = p;
	volatile uint64_t *w = (volatile uint64_t *)REGION;
	uint64_t pages = wk->words / 512, counter = 0, sum = region_sum(w, wk->words);

	if (wk->msix)
		irq_enable(); /* IOPL 3: sti at CPL3; the handler runs on the TSS stack */

	for (uint64_t r = 0; r < wk->rounds; r++) {
		uint64_t n = wk->spin, page = (r * 97) % pages, s;

		__asm__ volatile("1: dec %0\n\tjnz 1b" : "+r"(n) : : "cc");
		if (wk->counter_mirror != counter) {
			printf("snapshot: round %lu: counter %lu, memory says %lu\n", r, counter,
			       wk->counter_mirror);
			wk->bad++;
		}
		counter += wk->spin;
		wk->counter_mirror = counter;
		for (uint64_t i = page * 512; i < page * 512 + 512; i++) {
			uint64_t v = mix(i ^ ((r + 1) << 40));

			sum += (v - w[i]) * (i | 1);
			w[i] = v;
		}
		s = region_sum(w, wk->words);
		if (s != sum) {
			printf("snapshot: round %lu: region sum %lx, expected %lx\n", r, s, sum);
			wk->bad++;
			sum = s;
		}
		if (wk->blk)
			blk_round(wk, r);
		if (wk->con) {
			char line[40];

			snprintf(line, sizeof(line), "hvc0: round %lu\n", r + 1);
			con_write(wk, line);
		}
		printf("snapshot: round %lu counter %lu sum %lx\n", r + 1, counter, sum);
	}
	return counter;
}

static bool blk_init(struct work *wk, const struct boot_info *bi)
{
	static struct vdev dev;
	uint64_t rsdp = acpi_find_rsdp(bi->rsdp_paddr);

	if (!check(rsdp && vdev_find(rsdp, 2, &dev), "virtio-blk device found"))
		return false;
	wk->msix = cmdline_u64("msix", 0) != 0;
	if (wk->msix) {
		lapic_enable();
		irq_set_handler(VEC_MSIX, msix_isr);
		if (!vdev_msix_enable(&dev, lapic_id(), VEC_MSIX))
			return false;
	}
	vdev_set_status(&dev, 0);
	vdev_set_status(&dev, 1);
	vdev_set_status(&dev, 3);
	/* VERSION_1, and RING_PACKED with packed=1 if offered */
	vdev_set_features(&dev, 1, vring_features_hi(vdev_features(&dev, 1)));
	vdev_set_features(&dev, 0, 0);
	vdev_set_status(&dev, 0x0b);
	wk->packed = vring_want_packed();
	vring_init(&vq, QSIZE, RING_GPA, wk->packed);
	if (!check(vdev_status(&dev) & 0x08, "FEATURES_OK accepted") ||
	    !vdev_setup_queue0(&dev, QSIZE, RING_GPA))
		return false;
	printf("snapshot: virtio-blk with a %s virtqueue\n", wk->packed ? "packed" : "split");
	wk->blk = &dev;
	memset((void *)DATA_GPA, FREE, SLOTS * 512);
	return true;
}

static bool con_init(struct work *wk, const struct boot_info *bi)
{
	static struct vdev dev;
	uint64_t rsdp = acpi_find_rsdp(bi->rsdp_paddr);

	if (!check(rsdp && vdev_find(rsdp, 3, &dev), "virtio console found"))
		return false;
	vdev_set_status(&dev, 0);
	vdev_set_status(&dev, 1);
	vdev_set_status(&dev, 3);
	vdev_set_features(&dev, 1, 1); /* VERSION_1 */
	vdev_set_features(&dev, 0, 0);
	vdev_set_status(&dev, 0x0b);
	if (!check(vdev_status(&dev) & 0x08, "console FEATURES_OK accepted") ||
	    !vdev_setup_queue(&dev, 1, QSIZE, CON_RING))
		return false;
	vdev_set_status(&dev, 0x0f);
	wk->con = &dev;
	return check(vdev_status(&dev) == 0x0f, "console DRIVER_OK");
}

int payload_main(const struct boot_info *bi)
{
	static struct work wk;
	uint64_t fill = cmdline_u64("fill", 16), touch, ret;
	volatile uint64_t *w = (volatile uint64_t *)REGION;

	wk.rounds = cmdline_u64("rounds", 30);
	wk.spin = cmdline_u64("spin", 2000000) | 1;
	wk.words = (fill << 20) / 8;
	if (!check(wk.words >= 512 && REGION + (fill << 20) <= boot_ram_total(),
		   "fill=%lu MiB fits in RAM", fill))
		return EXIT_CODE_FAIL;
	if (cmdline_has("blk") && !blk_init(&wk, bi))
		return EXIT_CODE_FAIL;
	if (cmdline_has("con") && !con_init(&wk, bi))
		return EXIT_CODE_FAIL;
	for (uint64_t i = 0; i < wk.words; i++)
		w[i] = mix(i);
	touch = cmdline_u64("touch", 0) << 20;
	if (!check(REGION + (fill << 20) + touch <= boot_ram_total(), "touch fits in RAM"))
		return EXIT_CODE_FAIL;
	for (uint64_t off = 0; off < touch; off += 4096)
		*(volatile uint64_t *)(REGION + (fill << 20) + off) = off | 1;
	printf("snapshot: started, %lu MiB filled, %lu MiB touched\n", fill, touch >> 20);
	ret = user_run(ring3_work, &wk, user_stack, sizeof(user_stack));
	check(ret == wk.rounds * wk.spin, "counter reached %lu", ret);
	check(wk.bad == 0, "%u inconsistencies over %lu rounds", wk.bad, wk.rounds);
	if (wk.blk) {
		uint8_t buf[512];
		unsigned good = 0;

		if (wk.msix)
			irq_enable();
		check(blk_buffers_free(), "request buffers untouched between requests");
		for (uint64_t r = 0; r < wk.rounds; r++) {
			bool ok = blk_req(&wk, 0, r, NULL, buf) == 0;

			for (unsigned i = 0; ok && i < 512; i++)
				ok = buf[i] == pat(r, i);
			good += ok;
		}
		check(good == wk.rounds, "%u of %lu written sectors read back", good, wk.rounds);
		if (wk.msix)
			check(msix_irqs == wk.next_idx, "%u MSI-X interrupts for %u requests",
			      msix_irqs, wk.next_idx);
	}
	return check_failures() ? EXIT_CODE_FAIL : 0;
}
