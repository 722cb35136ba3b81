/* tests/guest/payload/virtio_blk.c — a minimal virtio driver for virtio-blk over virtio-mmio or,
 * with transport=pci, the modern PCI transport (lib/virtio_pci.c: bus 0 through the MCFG's ECAM,
 * BARs assigned by the payload, capabilities walked). virtio-mmio: finds every virtio-mmio
 * device in the ACPI DSDT (_HID "LNRO0005", Memory32Fixed in _CRS, as kvmm and QEMU microvm
 * describe them) and picks the one whose DeviceID register is 2 (block). Negotiates
 * VERSION_1 and FLUSH, sets up a 16-entry queue (split, or packed with
 * packed=1: lib/vring.c), reads the capacity from the config space,
 * then (one request per notify, polling the used ring):
 *   - writes a pattern to sectors 0, 1, capacity/2 and the last sector (OUT), FLUSH, reads them
 *     back (IN) and compares;
 *   - GET_ID, compared with the command line's serial=ID (NUL-padded to 20 bytes) if given;
 *   - with ro=1: checks that the device offers VIRTIO_BLK_F_RO and that an OUT returns
 *     VIRTIO_BLK_S_IOERR (and skips the writes; reads must still work).
 * The pattern written is byte i of sector s = (s * 7 + i * 13 + 0x21) & 0xff, so the host can
 * check the image afterwards. Arguments: serial=ID, ro=1, packed=1, transport=pci. */
#include "payload.h"

const char payload_name[] = "virtio_blk";

#define QSIZE	   16
#define RING_GPA   0x1200000ull /* desc 0x1200000, avail +0x1000, used +0x2000 */
#define HDR_GPA	   0x1210000ull
#define STATUS_GPA 0x1211000ull
#define DATA_GPA   0x1220000ull /* 512 bytes per request slot */

#define BLK_T_IN     0
#define BLK_T_OUT    1
#define BLK_T_FLUSH  4
#define BLK_T_GET_ID 8
#define BLK_S_OK     0
#define BLK_S_IOERR  1
#define BLK_F_RO     5
#define BLK_F_FLUSH  9

struct blk_hdr {
	uint32_t type, reserved;
	uint64_t sector;
};

static struct vring vq;
static uint16_t next_idx;

static bool driver_init(struct vdev *b, bool *ro)
{
	uint32_t f0, hi;

	vdev_set_status(b, 0);
	vdev_set_status(b, 1);
	vdev_set_status(b, 3);
	f0 = vdev_features(b, 0);
	hi = vdev_features(b, 1);
	if (!check(hi & 1, "device offers VERSION_1") ||
	    !check(f0 & (1u << BLK_F_FLUSH), "device offers FLUSH"))
		return false;
	*ro = f0 & (1u << BLK_F_RO);
	vdev_set_features(b, 1, vring_features_hi(hi));
	vdev_set_features(b, 0, (1u << BLK_F_FLUSH) | (f0 & (1u << BLK_F_RO)));
	vdev_set_status(b, 0x0b);
	if (!check(vdev_status(b) & 0x08, "FEATURES_OK accepted"))
		return false;
	vring_init(&vq, QSIZE, RING_GPA, vring_want_packed());
	printf("virtio_blk: %s virtqueue\n", vq.packed ? "packed" : "split");
	return vdev_setup_queue0(b, QSIZE, RING_GPA);
}

/* One request: header, optional data buffer (device-writable for IN/GET_ID), status.
 * Returns the status byte, or -1 on timeout / a bad used element. *used_len gets the length. */
static int request(struct vdev *b, uint32_t type, uint64_t sector, void *data, uint32_t len,
		   uint32_t *used_len)
{
	unsigned slot = next_idx % QSIZE, n = 0;
	volatile struct blk_hdr *h = (volatile struct blk_hdr *)(HDR_GPA + slot * 16);
	volatile uint8_t *st = (volatile uint8_t *)(STATUS_GPA + slot);
	bool dev_writes = type == BLK_T_IN || type == BLK_T_GET_ID;
	struct vring_seg s[3];
	uint16_t id, got;
	uint32_t len_used;

	h->type = type;
	h->reserved = 0;
	h->sector = sector;
	*st = 0xff;
	s[n++] = (struct vring_seg){(uint64_t)(uintptr_t)h, 16, false};
	if (len)
		s[n++] = (struct vring_seg){(uint64_t)(uintptr_t)data, len, dev_writes};
	s[n++] = (struct vring_seg){(uint64_t)(uintptr_t)st, 1, true};
	id = vring_add(&vq, s, n);
	next_idx++;
	vdev_notify(b, 0);
	for (unsigned spin = 0; spin < 100000000; spin++) {
		if (vring_get_used(&vq, &got, &len_used)) {
			vdev_ack(b);
			if (!check(got == id, "used id %u is %u", got, id))
				return -1;
			*used_len = len_used;
			return *st;
		}
		cpu_relax();
	}
	check(false, "request type %u sector %lu completed", type, sector);
	return -1;
}

static uint8_t pat(uint64_t sector, unsigned i)
{
	return (uint8_t)(sector * 7 + i * 13 + 0x21);
}

static void fill(uint8_t *p, uint64_t sector)
{
	for (unsigned i = 0; i < 512; i++)
		p[i] = pat(sector, i);
}

static bool verify(const uint8_t *p, uint64_t sector)
{
	for (unsigned i = 0; i < 512; i++)
		if (p[i] != pat(sector, i))
			return false;
	return true;
}

static void write_read(struct vdev *b, const uint64_t *sectors, unsigned n)
{
	uint8_t *buf = (uint8_t *)DATA_GPA;
	uint32_t ulen = 0;
	int s;

	for (unsigned k = 0; k < n; k++) {
		fill(buf + k * 512, sectors[k]);
		s = request(b, BLK_T_OUT, sectors[k], buf + k * 512, 512, &ulen);
		check(s == BLK_S_OK && ulen == 1, "OUT sector %lu: status %d, used len %u",
		      sectors[k], s, ulen);
	}
	s = request(b, BLK_T_FLUSH, 0, NULL, 0, &ulen);
	check(s == BLK_S_OK && ulen == 1, "FLUSH: status %d, used len %u", s, ulen);
	memset(buf, 0, n * 512);
	for (unsigned k = 0; k < n; k++) {
		s = request(b, BLK_T_IN, sectors[k], buf + k * 512, 512, &ulen);
		check(s == BLK_S_OK && ulen == 513 && verify(buf + k * 512, sectors[k]),
		      "IN sector %lu: status %d, used len %u, pattern read back", sectors[k], s,
		      ulen);
	}
}

static void readonly_checks(struct vdev *b, bool ro_offered, uint64_t cap)
{
	uint8_t *buf = (uint8_t *)DATA_GPA;
	uint32_t ulen = 0;
	int s;

	check(ro_offered, "device offers VIRTIO_BLK_F_RO");
	fill(buf, 0);
	s = request(b, BLK_T_OUT, 0, buf, 512, &ulen);
	check(s == BLK_S_IOERR, "OUT on a read-only disk: status %d (IOERR)", s);
	s = request(b, BLK_T_IN, cap - 1, buf, 512, &ulen);
	check(s == BLK_S_OK && ulen == 513, "IN of the last sector on a read-only disk: status %d",
	      s);
}

static void get_id(struct vdev *b)
{
	char want[20], val[21], *got = (char *)(DATA_GPA + 0x8000);
	uint32_t ulen = 0;
	int s;

	memset(want, 0, sizeof(want));
	memset(got, 0xcc, 20);
	s = request(b, BLK_T_GET_ID, 0, got, 20, &ulen);
	if (!check(s == BLK_S_OK && ulen == 21, "GET_ID: status %d, used len %u", s, ulen))
		return;
	if (!cmdline_has("serial"))
		return;
	if (!check(cmdline_get("serial", val, sizeof(val)), "serial= is at most 20 bytes"))
		return;
	/* NUL-padded; QEMU writes only up to the NUL, so compare the string and its terminator */
	memcpy(want, val, strlen(val));
	check(memcmp(got, want, strlen(val) < 20 ? strlen(val) + 1 : 20) == 0,
	      "GET_ID matches serial=%s", val);
}

int payload_main(const struct boot_info *bi)
{
	uint64_t rsdp = acpi_find_rsdp(bi->rsdp_paddr), cap;
	bool ro = cmdline_u64("ro", 0) != 0, ro_offered = false;
	struct vdev dev, *b = &dev;

	if (!check(rsdp && vdev_find(rsdp, 2, b), "virtio block device (DeviceID 2) found"))
		return EXIT_CODE_FAIL;
	if (!driver_init(b, &ro_offered))
		return EXIT_CODE_FAIL;
	cap = vdev_config_read32(b, 0) | (uint64_t)vdev_config_read32(b, 4) << 32;
	printf("virtio_blk: capacity %lu sectors\n", cap);
	if (!check(cap >= 4, "capacity of at least 4 sectors"))
		return EXIT_CODE_FAIL;
	if (ro) {
		readonly_checks(b, ro_offered, cap);
	} else {
		uint64_t sectors[4] = {0, 1, cap / 2, cap - 1};

		check(!ro_offered, "device is writable (no VIRTIO_BLK_F_RO)");
		write_read(b, sectors, 4);
	}
	get_id(b);
	printf("virtio_blk: %u requests done\n", next_idx);
	return check_failures() ? EXIT_CODE_FAIL : EXIT_CODE_PASS;
}
