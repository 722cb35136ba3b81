/* tests/guest/payload/virtio_console.c — a minimal virtio driver for virtio-console (port 0, no
 * MULTIPORT) over virtio-mmio, or modern virtio-pci with transport=pci (the vdev_* calls of
 * lib/virtio_pci.c). Finds the device (DeviceID 3: DSDT or bus 0), negotiates VERSION_1
 * and EMERG_WRITE (if offered), sets up the receiveq (queue 0) and the transmitq (queue 1), then:
 *   - writes "virtio_console: hello from hvc0" on the transmitq as a two-segment chain and waits
 *     for the device to use it;
 *   - writes "virtio_console: emergency write" byte by byte through the emerg_wr register;
 *   - posts `bufs` receive buffers of `buflen` bytes (re-posting each one as it comes back)
 *     until `rx` bytes of host input have arrived (the VMM's stdin), then echoes them as
 *     "virtio_console: echo <bytes>" and compares their POSIX cksum with `sum`.
 * Every result line also goes out on the transmitq, so the VMM's console output shows it (the
 * serial port may be off). Arguments: rx=N (default 0) sum=CKSUM bufs=N (1..16, default 4)
 * buflen=N (1..64, default 8) timeout=SECONDS (default 20) transport=pci. */
#include "payload.h"

const char payload_name[] = "virtio_console";

#define QSIZE	  16
#define RXQ_GPA	  0x1200000ull /* desc, avail +0x1000, used +0x2000 */
#define TXQ_GPA	  0x1210000ull
#define RXBUF_GPA 0x1220000ull /* 64 bytes per receive buffer */
#define TXBUF_GPA 0x1230000ull
#define MAX_RX	  2048
#define F_EMERG	  2

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

struct vq {
	volatile struct desc *d;
	volatile uint16_t *avail, *used;
	uint16_t avail_idx, used_seen;
};

static struct vq rxq = {(volatile struct desc *)RXQ_GPA, (volatile uint16_t *)(RXQ_GPA + 0x1000),
			(volatile uint16_t *)(RXQ_GPA + 0x2000), 0, 0};
static struct vq txq = {(volatile struct desc *)TXQ_GPA, (volatile uint16_t *)(TXQ_GPA + 0x1000),
			(volatile uint16_t *)(TXQ_GPA + 0x2000), 0, 0};
static struct vdev dev;
static uint8_t rxdata[MAX_RX + 1];

static void publish(struct vq *q, uint16_t head, unsigned qidx)
{
	q->avail[2 + q->avail_idx % QSIZE] = head;
	__asm__ volatile("mfence" ::: "memory");
	q->avail_idx++;
	q->avail[1] = q->avail_idx;
	__asm__ volatile("mfence" ::: "memory");
	vdev_notify(&dev, (uint16_t)qidx);
}

/* The used element i of q: id and len. */
static void used_elem(struct vq *q, uint16_t i, uint32_t *id, uint32_t *len)
{
	volatile uint32_t *e = (volatile uint32_t *)(q->used + 2) + 2 * (i % QSIZE);

	*id = e[0];
	*len = e[1];
}

/* One transmit chain of two segments (split in the middle); waits until it is used. */
static bool con_send(const char *s, size_t len)
{
	uint8_t *buf = (uint8_t *)TXBUF_GPA;
	size_t first = len > 1 ? len / 2 : len;
	uint32_t id, ulen;

	memcpy(buf, s, len);
	txq.d[0] = (struct desc){(uint64_t)buf, (uint32_t)first, len > first ? 1 : 0, 1};
	txq.d[1] = (struct desc){(uint64_t)buf + first, (uint32_t)(len - first), 0, 0};
	publish(&txq, 0, 1);
	for (unsigned spin = 0; spin < 20000000; spin++) {
		if (txq.used[1] != txq.used_seen) {
			used_elem(&txq, txq.used_seen++, &id, &ulen);
			(void)vdev_ack(&dev);
			return id == 0;
		}
		cpu_relax();
	}
	return false;
}

/* Send one line (formatted by the caller) on the transmitq and mirror it on COM1. */
static void con_line(const char *line)
{
	printf("[hvc0] %s", line);
	if (!con_send(line, strlen(line)))
		printf("virtio_console: transmit did not complete\n");
}

static bool driver_init(bool *emerg)
{
	uint32_t f0;

	vdev_set_status(&dev, 0);
	vdev_set_status(&dev, 1);
	vdev_set_status(&dev, 3);
	f0 = vdev_features(&dev, 0);
	if (!check(vdev_features(&dev, 1) & 1, "device offers VERSION_1"))
		return false;
	*emerg = f0 & (1u << F_EMERG);
	vdev_set_features(&dev, 1, 1);
	vdev_set_features(&dev, 0, f0 & (1u << F_EMERG));
	vdev_set_status(&dev, 0x0b);
	if (!check(vdev_status(&dev) & 0x08, "FEATURES_OK accepted"))
		return false;
	if (!vdev_setup_queue(&dev, 0, QSIZE, RXQ_GPA) ||
	    !vdev_setup_queue(&dev, 1, QSIZE, TXQ_GPA))
		return false;
	vdev_set_status(&dev, 0x0f);
	return check(vdev_status(&dev) == 0x0f, "status DRIVER_OK");
}

static void rx_post(uint16_t i, unsigned buflen)
{
	rxq.d[i] = (struct desc){RXBUF_GPA + i * 64ull, buflen, 2, 0};
	publish(&rxq, i, 0);
}

/* Receive `want` bytes into rxdata; returns how many arrived before the timeout. */
static unsigned receive(unsigned want, unsigned bufs, unsigned buflen, uint64_t timeout_s,
			unsigned *chains)
{
	unsigned got = 0;
	uint64_t waited = 0;

	for (uint16_t i = 0; i < bufs; i++)
		rx_post(i, buflen);
	while (got < want && waited < timeout_s * 10000) {
		uint32_t id, len;

		if (rxq.used[1] == rxq.used_seen) {
			udelay(100);
			waited++;
			continue;
		}
		used_elem(&rxq, rxq.used_seen++, &id, &len);
		(void)vdev_ack(&dev);
		if (!check(id < bufs && len <= buflen, "used id %u len %u", id, len))
			return got;
		if (len > want - got)
			len = want - got;
		memcpy(rxdata + got, (const void *)(RXBUF_GPA + id * 64ull), len);
		got += len;
		(*chains)++;
		rx_post((uint16_t)id, buflen);
	}
	return got;
}

static int echo_and_check(unsigned want, unsigned bufs, unsigned buflen)
{
	unsigned chains = 0, got;
	static char line[MAX_RX + 64];
	uint32_t sum;

	got = receive(want, bufs, buflen, cmdline_u64("timeout", 20), &chains);
	sum = posix_cksum(rxdata, got);
	rxdata[got] = 0;
	if (got && rxdata[got - 1] == '\n')
		rxdata[got - 1] = 0;
	snprintf(line, sizeof(line), "virtio_console: echo %s\n", (const char *)rxdata);
	con_line(line);
	snprintf(line, sizeof(line),
		 "virtio_console: received %u of %u bytes in %u buffers, cksum %u\n", got, want,
		 chains, sum);
	con_line(line);
	if (!check(got == want, "received %u bytes", want))
		return EXIT_CODE_FAIL;
	if (!check(sum == (uint32_t)cmdline_u64("sum", 0), "cksum %u matches sum=%lu", sum,
		   cmdline_u64("sum", 0))) {
		snprintf(line, sizeof(line), "virtio_console: not ok - cksum %u, want %lu\n", sum,
			 cmdline_u64("sum", 0));
		con_line(line);
		return EXIT_CODE_FAIL;
	}
	return EXIT_CODE_PASS;
}

int payload_main(const struct boot_info *bi)
{
	uint64_t rsdp = acpi_find_rsdp(bi->rsdp_paddr);
	unsigned want = (unsigned)cmdline_u64("rx", 0);
	unsigned bufs = (unsigned)cmdline_u64("bufs", 4),
		 buflen = (unsigned)cmdline_u64("buflen", 8);
	static const char emerg_line[] = "virtio_console: emergency write\n";
	static const char hello[] = "virtio_console: hello from hvc0\n";
	bool emerg = false;
	int r = EXIT_CODE_PASS;

	if (want > MAX_RX || bufs < 1 || bufs > QSIZE || buflen < 1 || buflen > 64)
		exit_fail("bad arguments");
	if (!check(rsdp && vdev_find(rsdp, 3, &dev), "virtio console device (DeviceID 3) found"))
		return EXIT_CODE_FAIL;
	printf("virtio_console: device at 0x%lx (%s)\n", dev.pci ? dev.common : dev.mmio,
	       dev.pci ? "virtio-pci" : "virtio-mmio");
	if (!driver_init(&emerg))
		return EXIT_CODE_FAIL;
	if (!check(con_send(hello, sizeof(hello) - 1), "transmit chain used"))
		return EXIT_CODE_FAIL;
	con_line(dev.pci ? "virtio_console: transport virtio-pci\n"
			 : "virtio_console: transport virtio-mmio\n");
	if (check(emerg, "device offers EMERG_WRITE"))
		for (const char *p = emerg_line; *p; p++)
			vdev_config_write32(&dev, 8, (uint8_t)*p);
	if (want)
		r = echo_and_check(want, bufs, buflen);
	if (r == EXIT_CODE_PASS && check_failures())
		r = EXIT_CODE_FAIL;
	con_line(r == EXIT_CODE_PASS ? "virtio_console: PASS\n" : "virtio_console: FAIL\n");
	return r;
}
