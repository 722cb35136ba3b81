/* tests/guest/payload/virtio_net.c — a minimal polled virtio-net driver (virtio-mmio, or modern
 * virtio-pci with transport=pci, through the vdev_* calls of lib/virtio_pci.c; VERSION_1 and MAC
 * only: 12-byte headers, one 2 KiB buffer per received frame) with just enough of an
 * IPv4 stack to check a network end to end:
 *   - DHCP: DISCOVER -> OFFER -> REQUEST -> ACK (address, router, server id);
 *   - ARP: resolve the router, and answer requests for our address;
 *   - ICMP: echo request to the router, reply checked (id, seq, payload);
 *   - TCP (tcp=PORT): a one-connection responder; it prints "listening", accepts a connection,
 *     reads a line and answers "pong: LINE" then closes (FIN). The host side connects through
 *     a hostfwd rule (tests/guest/net.sh).
 *   - DNS (dns=NAME:A.B.C.D, dns=NAME:nxdomain): after DHCP, an A query for NAME over UDP to
 *     the DNS server of the DHCP offer (option 6); the answer's A record must be A.B.C.D, or the
 *     answer NXDOMAIN. nxdns=NAME asks a second name that must be NXDOMAIN.
 *   - static=A.B.C.D,peer=A.B.C.D: skip DHCP and ping `peer` instead of the router (tap tests).
 *   - mq: negotiate MQ + CTRL_VQ, switch to 2 queue pairs (VQ_PAIRS_SET) and transmit on tx1,
 *     receiving on rx0 and rx1 (a multi-queue tap).
 *   - msix (PCI): one MSI-X vector per queue (queue q -> table entry q -> IDT vector 0x60 + q)
 *     and the last entry for configuration changes (a vector past the table must read back as
 *     NO_VECTOR); at the end the queues that carried buffers must have had interrupts on their
 *     own vectors and the entries of no queue none. The polling loop still does the work.
 *   - snapshot=SECONDS (tests/guest/snapshot.sh, snapshot-net): a decoy DISCOVER (another
 *     client MAC) first takes the user network's first DHCP lease, so ours is the second; after
 *     DHCP, ARP and ping, "virtio_net: snapshot point", then SECONDS of answering ARP (the host
 *     saves the VM and kills it meanwhile, then restores it), then DHCP again — it must give the
 *     same address, which only a restored lease table does (a fresh one gives the first) —,
 *     ARP and a second ping.
 * Arguments: tcp=PORT, wait=SECONDS (how long to wait for the connection, default 60),
 * dns=NAME:IP|nxdomain, nxdns=NAME, static=, peer=, noicmp, linger=SECONDS, mq, transport=pci (else
 * virtio-mmio), msix. */
#include "payload.h"

const char payload_name[] = "virtio_net";

#define QSIZE	  16
#define QRING(q)  (0x1200000ull + (uint64_t)(q)*0x4000) /* desc, avail +0x1000, used +0x2000 */
#define RX_BUF(p) (0x1220000ull + (uint64_t)(p)*0x8000) /* QSIZE x 2 KiB per receive queue */
#define CTRL_BUF  0x1248000ull
#define TX_BUF	  0x1220000ull
#define BUF_LEN	  2048
#define HDR_LEN	  12
#define MS	  1000ull
#define VEC_MSIX  0x60
#define MAX_VEC	  16

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

static struct vdev dev;
static uint8_t mac[6], gw_mac[6];
static uint32_t my_ip, gw_ip, server_ip, offer_ip, peer_ip, dns_ip;
static uint16_t rx_last[2], tx_idx, ctrl_idx;
static unsigned npairs = 1, txq = 1, rx_count[2];
static bool use_msix;
static unsigned nvec;			      /* MSI-X table size (PCI) */
static volatile unsigned msix_count[MAX_VEC]; /* interrupts per table entry */
#define TX_RING QRING(txq)
static uint32_t xid = 0x6b766d6d;
static uint64_t tsc_per_ms; /* calibrated against the LAPIC timer: deadlines are wall-clock,
			     * however slow each poll is (nested KVM) */

static uint64_t now_ms(void)
{
	return rdtsc() / tsc_per_ms;
}

/* ---- byte helpers ---- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

static uint32_t csum_add(uint32_t s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += get16(p + i);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

static uint16_t csum_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void print_ip(const char *what, uint32_t ip)
{
	printf("%s%u.%u.%u.%u", what, ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

static uint32_t parse_ip(const char *s)
{
	uint32_t ip = 0;

	for (int i = 0; i < 4; i++) {
		const char *end;

		ip = ip << 8 | (uint32_t)parse_u64(s, &end);
		s = end + 1;
	}
	return ip;
}

/* ---- the device ---- */

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

static void msix_isr(struct trap_frame *f)
{
	msix_count[f->vector - VEC_MSIX]++;
	lapic_eoi();
}

static bool msix_init(void)
{
	if (!check(nvec >= 2 && nvec <= MAX_VEC, "MSI-X table of %u entries", nvec))
		return false;
	lapic_enable();
	for (unsigned i = 0; i < nvec; i++)
		irq_set_handler(VEC_MSIX + i, msix_isr);
	if (!vdev_msix_enable_n(&dev, lapic_id(), VEC_MSIX, nvec))
		return false;
	mmio_write16(dev.common + 0x10, (uint16_t)nvec);
	if (!check(mmio_read16(dev.common + 0x10) == 0xffff,
		   "config vector %u (past the table) reads back NO_VECTOR", nvec))
		return false;
	mmio_write16(dev.common + 0x10, (uint16_t)(nvec - 1));
	if (!check(mmio_read16(dev.common + 0x10) == nvec - 1, "config vector %u", nvec - 1))
		return false;
	irq_enable();
	return true;
}

static bool driver_init(void)
{
	uint32_t f0;

	vdev_set_status(&dev, 0);
	vdev_set_status(&dev, 1);
	vdev_set_status(&dev, 3);
	f0 = vdev_features(&dev, 0);
	if (!check(f0 & (1u << 5), "device offers MAC"))
		return false;
	if (npairs == 2 &&
	    !check((f0 & (1u << 22)) && (f0 & (1u << 17)), "device offers MQ and CTRL_VQ"))
		return false;
	vdev_set_features(&dev, 0, (1u << 5) | (npairs == 2 ? (1u << 22) | (1u << 17) : 0));
	vdev_set_features(&dev, 1, 1); /* VERSION_1 */
	vdev_set_status(&dev, 0x0b);
	if (!check(vdev_status(&dev) & 0x08, "FEATURES_OK accepted"))
		return false;
	if (use_msix && !msix_init())
		return false;
	/* rx0 tx0 [rx1 tx1 ctrl] */
	for (unsigned q = 0; q < (npairs == 2 ? 5u : 2u); q++) {
		if (use_msix)
			dev.queue_vector = (uint16_t)q;
		if (!vdev_setup_queue(&dev, (uint16_t)q, QSIZE, QRING(q)))
			return false;
	}
	for (unsigned i = 0; i < 6; i++)
		mac[i] = vdev_config_read8(&dev, i);
	/* all receive buffers up front */
	for (unsigned p = 0; p < npairs; p++) {
		for (uint16_t i = 0; i < QSIZE; i++) {
			ring_desc(QRING(2 * p))[i] =
			    (struct desc){RX_BUF(p) + (uint64_t)i * BUF_LEN, BUF_LEN, 2, 0};
			ring_avail(QRING(2 * p))[2 + i] = i;
		}
		__asm__ volatile("mfence" ::: "memory");
		ring_avail(QRING(2 * p))[1] = QSIZE;
	}
	vdev_set_status(&dev, 0x0f);
	if (!check(vdev_status(&dev) == 0x0f, "DRIVER_OK"))
		return false;
	for (unsigned p = 0; p < npairs; p++)
		vdev_notify(&dev, (uint16_t)(2 * p));
	return true;
}

/* VIRTIO_NET_CTRL_MQ VQ_PAIRS_SET 2 on the control queue (4); then transmit on tx1. */
static bool mq_enable(void)
{
	volatile uint8_t *b = (volatile uint8_t *)CTRL_BUF;
	uint64_t r = QRING(4);

	b[0] = 4; /* class MQ */
	b[1] = 0; /* VQ_PAIRS_SET */
	b[2] = 2;
	b[3] = 0;
	b[4] = 0xee; /* ack */
	ring_desc(r)[0] = (struct desc){CTRL_BUF, 2, 1, 1};
	ring_desc(r)[1] = (struct desc){CTRL_BUF + 2, 2, 1, 2};
	ring_desc(r)[2] = (struct desc){CTRL_BUF + 4, 1, 2, 0};
	ring_avail(r)[2] = 0;
	__asm__ volatile("mfence" ::: "memory");
	ring_avail(r)[1] = ++ctrl_idx;
	__asm__ volatile("mfence" ::: "memory");
	vdev_notify(&dev, 4);
	for (uint64_t end = now_ms() + 2000; now_ms() < end && ring_used(r)[1] != ctrl_idx;)
		cpu_relax();
	if (!check(ring_used(r)[1] == ctrl_idx && b[4] == 0, "VQ_PAIRS_SET 2 acknowledged (ack %u)",
		   b[4]))
		return false;
	txq = 3;
	return true;
}

/* Send header + frame (len bytes at TX_BUF + HDR_LEN) and wait for the device. */
static bool xmit(size_t len)
{
	uint16_t slot = tx_idx % QSIZE;

	memset((void *)TX_BUF, 0, HDR_LEN);
	if (len < 60) { /* pad to the Ethernet minimum */
		memset((uint8_t *)TX_BUF + HDR_LEN + len, 0, 60 - len);
		len = 60;
	}
	ring_desc(TX_RING)[slot] = (struct desc){TX_BUF, (uint32_t)(HDR_LEN + len), 0, 0};
	ring_avail(TX_RING)[2 + slot] = slot;
	__asm__ volatile("mfence" ::: "memory");
	ring_avail(TX_RING)[1] = ++tx_idx;
	__asm__ volatile("mfence" ::: "memory");
	vdev_notify(&dev, (uint16_t)txq);
	for (uint64_t end = now_ms() + 2000; now_ms() < end;) {
		if (ring_used(TX_RING)[1] == tx_idx)
			return true;
		cpu_relax();
	}
	return check(false, "TX completion");
}

static uint8_t *tx_frame(void)
{
	return (uint8_t *)TX_BUF + HDR_LEN;
}

static void eth_hdr(uint8_t *f, const uint8_t *dst, uint16_t type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, mac, 6);
	put16(f + 12, type);
}

static void ip_hdr(uint8_t *ip, uint8_t proto, uint32_t src, uint32_t dst, size_t payload)
{
	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + payload));
	ip[8] = 64;
	ip[9] = proto;
	put32(ip + 12, src);
	put32(ip + 16, dst);
	put16(ip + 10, csum_fold(csum_add(0, ip, 20)));
}

/* ---- protocols ---- */

enum { WANT_OFFER, WANT_ACK, WANT_ARP, WANT_ECHO, WANT_DNS, WANT_TCP, DONE };
static int state;
static uint16_t echo_seq = 7;
static unsigned echo_answered;

struct tcp_conn {
	uint32_t ip;
	uint8_t mac[6];
	uint16_t port, my_port;
	uint32_t snd_nxt, rcv_nxt;
	bool established, replied, peer_fin;
	char line[64];
} tcp;

static void arp_send(uint16_t op, const uint8_t *tha, uint32_t tpa)
{
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	uint8_t *f = tx_frame(), *a = f + 14;

	eth_hdr(f, op == 1 ? bcast : tha, 0x0806);
	put16(a, 1);
	put16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, op);
	memcpy(a + 8, mac, 6);
	put32(a + 14, my_ip);
	memcpy(a + 18, op == 1 ? (const uint8_t *)"\0\0\0\0\0\0" : tha, 6);
	put32(a + 24, tpa);
	xmit(42);
}

static void dhcp_send(uint8_t type)
{
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	uint8_t *f = tx_frame(), *ip = f + 14, *udp = ip + 20, *b = udp + 8, *o;
	size_t blen;

	memset(b, 0, 300);
	b[0] = 1;
	b[1] = 1;
	b[2] = 6;
	put32(b + 4, xid);
	put16(b + 10, 0x8000);
	memcpy(b + 28, mac, 6);
	put32(b + 236, 0x63825363);
	o = b + 240;
	*o++ = 53, *o++ = 1, *o++ = type;
	if (type == 3) {
		*o++ = 50, *o++ = 4, put32(o, offer_ip), o += 4;
		*o++ = 54, *o++ = 4, put32(o, server_ip), o += 4;
	}
	*o++ = 55, *o++ = 3, *o++ = 1, *o++ = 3, *o++ = 6;
	*o++ = 255;
	blen = (size_t)(o - b);
	if (blen < 300)
		blen = 300;
	eth_hdr(f, bcast, 0x0800);
	put16(udp, 68);
	put16(udp + 2, 67);
	put16(udp + 4, (uint16_t)(8 + blen));
	put16(udp + 6, 0);
	ip_hdr(ip, 17, 0, 0xffffffff, 8 + blen);
	xmit(14 + 20 + 8 + blen);
}

static void dhcp_input(const uint8_t *b, size_t len)
{
	uint8_t type = 0;
	uint32_t router = 0, sid = 0, dns = 0;

	if (len < 240 || b[0] != 2 || get32(b + 4) != xid || get32(b + 236) != 0x63825363)
		return;
	for (size_t i = 240; i + 1 < len && b[i] != 255;) {
		uint8_t code = b[i], l;

		if (code == 0) {
			i++;
			continue;
		}
		l = b[i + 1];
		if (i + 2 + l > len)
			break;
		if (code == 53 && l >= 1)
			type = b[i + 2];
		if (code == 3 && l >= 4)
			router = get32(b + i + 2);
		if (code == 54 && l >= 4)
			sid = get32(b + i + 2);
		if (code == 6 && l >= 4)
			dns = get32(b + i + 2);
		i += 2u + l;
	}
	if (state == WANT_OFFER && type == 2) {
		offer_ip = get32(b + 16);
		server_ip = sid;
		dns_ip = dns;
		gw_ip = router ? router : sid; /* restricted slirp sends no router */
		print_ip("virtio_net: DHCP offer ", offer_ip);
		print_ip(" from server ", server_ip);
		print_ip(" router ", gw_ip);
		printf("\n");
		state = WANT_ACK;
		dhcp_send(3);
	} else if (state == WANT_ACK && type == 5) {
		my_ip = get32(b + 16);
		check(my_ip == offer_ip, "DHCP ACK for the offered address");
		print_ip("ok - DHCP ACK: address ", my_ip);
		printf("\n");
		state = WANT_ARP;
		arp_send(1, NULL, gw_ip);
	}
}

static void icmp_send_echo(uint32_t dst)
{
	uint8_t *f = tx_frame(), *ip = f + 14, *ic = ip + 20;

	eth_hdr(f, gw_mac, 0x0800);
	ic[0] = 8;
	ic[1] = 0;
	put16(ic + 2, 0);
	put16(ic + 4, 0x4b56);
	put16(ic + 6, echo_seq);
	for (int i = 0; i < 32; i++)
		ic[8 + i] = (uint8_t)('a' + i % 26);
	put16(ic + 2, csum_fold(csum_add(0, ic, 40)));
	ip_hdr(ip, 1, my_ip, dst, 40);
	xmit(14 + 20 + 40);
}

static void tcp_send(uint8_t flags, const char *data, size_t dlen)
{
	uint8_t *f = tx_frame(), *ip = f + 14, *t = ip + 20, pseudo[12];
	uint32_t s;

	eth_hdr(f, tcp.mac, 0x0800);
	memset(t, 0, 20);
	put16(t, tcp.my_port);
	put16(t + 2, tcp.port);
	put32(t + 4, tcp.snd_nxt);
	put32(t + 8, tcp.rcv_nxt);
	t[12] = 5 << 4;
	t[13] = flags;
	put16(t + 14, 8192);
	memcpy(t + 20, data, dlen);
	put32(pseudo, my_ip);
	put32(pseudo + 4, tcp.ip);
	pseudo[8] = 0;
	pseudo[9] = 6;
	put16(pseudo + 10, (uint16_t)(20 + dlen));
	s = csum_add(csum_add(0, pseudo, 12), t, 20 + dlen);
	put16(t + 16, csum_fold(s));
	ip_hdr(ip, 6, my_ip, tcp.ip, 20 + dlen);
	xmit(14 + 20 + 20 + dlen);
}

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_PSH 0x08
#define TCP_ACK 0x10

static void tcp_input(const uint8_t *f, const uint8_t *ip, const uint8_t *t, size_t len)
{
	size_t hl = (size_t)(t[12] >> 4) * 4, dlen;
	uint8_t flags = t[13];
	uint32_t seq = get32(t + 4);

	if (hl < 20 || hl > len || get16(t + 2) != tcp.my_port)
		return;
	dlen = len - hl;
	if (flags & TCP_SYN) {
		tcp.ip = get32(ip + 12);
		tcp.port = get16(t);
		memcpy(tcp.mac, f + 6, 6);
		tcp.rcv_nxt = seq + 1;
		tcp.snd_nxt = 0x1000;
		tcp_send(TCP_SYN | TCP_ACK, NULL, 0);
		tcp.snd_nxt++;
		print_ip("virtio_net: TCP SYN from ", tcp.ip);
		printf(":%u\n", tcp.port);
		return;
	}
	if (get32(ip + 12) != tcp.ip || get16(t) != tcp.port)
		return;
	if (dlen && seq == tcp.rcv_nxt && !tcp.replied) {
		char reply[96];
		size_t n = dlen < sizeof(tcp.line) - 1 ? dlen : sizeof(tcp.line) - 1;
		int rl;

		memcpy(tcp.line, t + hl, n);
		while (n && (tcp.line[n - 1] == '\n' || tcp.line[n - 1] == '\r'))
			n--;
		tcp.line[n] = 0;
		tcp.rcv_nxt += (uint32_t)dlen;
		rl = snprintf(reply, sizeof(reply), "pong: %s\n", tcp.line);
		tcp_send(TCP_ACK | TCP_PSH | TCP_FIN, reply, (size_t)rl);
		tcp.snd_nxt += (uint32_t)rl + 1;
		tcp.replied = true;
		printf("ok - TCP: received \"%s\", answered and closed\n", tcp.line);
	}
	if ((flags & TCP_FIN) && tcp.replied && !tcp.peer_fin) {
		tcp.rcv_nxt = seq + (uint32_t)dlen + 1;
		tcp.peer_fin = true;
		tcp_send(TCP_ACK, NULL, 0);
		printf("ok - TCP: peer closed\n");
		state = DONE;
	}
}

/* Answer an echo request (a peer VM pinging us). */
static void icmp_answer(const uint8_t *f, const uint8_t *ip, const uint8_t *ic, size_t len)
{
	uint8_t *o = tx_frame(), *oip = o + 14, *oic = oip + 20;

	eth_hdr(o, f + 6, 0x0800);
	memcpy(oic, ic, len);
	oic[0] = 0;
	put16(oic + 2, 0);
	put16(oic + 2, csum_fold(csum_add(0, oic, len)));
	ip_hdr(oip, 1, my_ip, get32(ip + 12), len);
	xmit(14 + 20 + len);
	echo_answered++;
}

/* ---- DNS: one A query at a time, answer parsed within the packet's bounds ---- */

static bool wait_state(int want, uint64_t ms, void (*resend)(void));

#define DNS_PORT 40053
static struct {
	const char *name;
	uint16_t id;
	int rcode; /* -1 until answered */
	uint32_t addr;
} dq;

/* Offset past the name at b[i] (labels, ending in 0 or a compression pointer), 0 if malformed. */
static size_t dns_skip_name(const uint8_t *b, size_t len, size_t i)
{
	while (i < len) {
		uint8_t l = b[i];

		if (l == 0)
			return i + 1;
		if ((l & 0xc0) == 0xc0)
			return i + 2 <= len ? i + 2 : 0;
		if (l & 0xc0)
			return 0;
		i += 1u + l;
	}
	return 0;
}

static void dns_send(void)
{
	uint8_t *f = tx_frame(), *ip = f + 14, *udp = ip + 20, *q = udp + 8, *o = q + 12;
	const char *n = dq.name;
	size_t qlen;

	memset(q, 0, 12);
	put16(q, dq.id);
	put16(q + 2, 0x0100); /* RD */
	put16(q + 4, 1);
	while (*n && o - q < 200) { /* names come from the command line: < 96 bytes */
		uint8_t *lp = o++;

		while (*n && *n != '.' && o - lp <= 63)
			*o++ = (uint8_t)*n++;
		*lp = (uint8_t)(o - lp - 1);
		if (*n == '.')
			n++;
	}
	*o++ = 0;
	put16(o, 1); /* A */
	put16(o + 2, 1);
	o += 4;
	qlen = (size_t)(o - q);
	eth_hdr(f, gw_mac, 0x0800);
	put16(udp, DNS_PORT);
	put16(udp + 2, 53);
	put16(udp + 4, (uint16_t)(8 + qlen));
	put16(udp + 6, 0);
	ip_hdr(ip, 17, my_ip, dns_ip, 8 + qlen);
	xmit(14 + 20 + 8 + qlen);
}

static void dns_input(const uint8_t *b, size_t len)
{
	size_t i;
	unsigned an;

	if (len < 12 || get16(b) != dq.id || !(b[2] & 0x80) || get16(b + 4) != 1)
		return;
	an = get16(b + 6);
	i = dns_skip_name(b, len, 12);
	if (!i || i + 4 > len)
		return;
	i += 4;
	dq.addr = 0;
	for (unsigned k = 0; k < an && !dq.addr; k++) {
		size_t rdlen;

		i = dns_skip_name(b, len, i);
		if (!i || i + 10 > len)
			break;
		rdlen = get16(b + i + 8);
		if (i + 10 + rdlen > len)
			break;
		if (get16(b + i) == 1 && get16(b + i + 2) == 1 && rdlen == 4)
			dq.addr = get32(b + i + 10);
		i += 10 + rdlen;
	}
	dq.rcode = b[3] & 15;
	state = DONE;
}

/* Ask for `name`; want is "A.B.C.D" or "nxdomain". */
static bool dns_check(const char *name, const char *want)
{
	bool nx = !strncmp(want, "nxdomain", 9), ok;

	if (!check(dns_ip != 0, "DHCP named a DNS server"))
		return false;
	dq.name = name;
	dq.id++;
	dq.rcode = -1;
	state = WANT_DNS;
	dns_send();
	if (!check(wait_state(WANT_DNS, 10 * MS, dns_send), "DNS answer for %s", name))
		return false;
	if (nx) {
		ok = dq.rcode == 3;
		printf("%s DNS %s -> %s", ok ? "ok -" : "virtio_net:", name,
		       ok ? "NXDOMAIN" : "not NXDOMAIN");
	} else {
		ok = dq.rcode == 0 && dq.addr && dq.addr == parse_ip(want);
		printf("%s DNS %s -> ", ok ? "ok -" : "virtio_net:", name);
		if (dq.addr)
			print_ip("", dq.addr);
		else
			printf("no A record (rcode %d)", dq.rcode);
	}
	print_ip(" via ", dns_ip);
	printf("\n");
	return check(ok, "DNS %s answered %s", name, want);
}

static void ip_input(const uint8_t *f, size_t len)
{
	const uint8_t *ip = f + 14, *p;
	size_t ihl, tot;

	if (len < 34 || (ip[0] >> 4) != 4)
		return;
	ihl = (size_t)(ip[0] & 15) * 4;
	tot = get16(ip + 2);
	if (ihl < 20 || tot < ihl || 14 + tot > len)
		return;
	p = ip + ihl;
	if (ip[9] == 17 && tot - ihl >= 8 && get16(p + 2) == 68)
		dhcp_input(p + 8, tot - ihl - 8);
	else if (ip[9] == 17 && tot - ihl >= 8 && state == WANT_DNS && get16(p) == 53 &&
		 get16(p + 2) == DNS_PORT && get32(ip + 12) == dns_ip)
		dns_input(p + 8,
			  get16(p + 4) >= 8 && get16(p + 4) <= tot - ihl ? get16(p + 4) - 8u : 0);
	else if (ip[9] == 1 && tot - ihl >= 8 && p[0] == 8 && my_ip && get32(ip + 16) == my_ip &&
		 tot - ihl <= 1400)
		icmp_answer(f, ip, p, tot - ihl);
	else if (ip[9] == 1 && tot - ihl >= 8 && p[0] == 0 && state == WANT_ECHO) {
		bool ok = get16(p + 4) == 0x4b56 && get16(p + 6) == echo_seq && tot - ihl == 40 &&
			  p[8] == 'a' && p[39] == 'a' + 31 % 26;

		print_ip("ok - ICMP echo reply from ", get32(ip + 12));
		printf("%s\n", ok ? "" : " (MISMATCH)");
		check(ok, "echo reply matches the request");
		state = DONE;
	} else if (ip[9] == 6 && tot - ihl >= 20 && state == WANT_TCP)
		tcp_input(f, ip, p, tot - ihl);
}

static void arp_input(const uint8_t *f, size_t len)
{
	const uint8_t *a = f + 14;
	uint16_t op;

	if (len < 42 || get16(a) != 1 || get16(a + 2) != 0x0800)
		return;
	op = get16(a + 6);
	if (op == 1 && my_ip && get32(a + 24) == my_ip) {
		arp_send(2, a + 8, get32(a + 14));
	} else if (op == 2 && state == WANT_ARP && get32(a + 14) == gw_ip) {
		memcpy(gw_mac, a + 8, 6);
		print_ip("ok - ARP: ", gw_ip);
		printf(" is at %02x:%02x:%02x:%02x:%02x:%02x\n", gw_mac[0], gw_mac[1], gw_mac[2],
		       gw_mac[3], gw_mac[4], gw_mac[5]);
		state = WANT_ECHO;
	}
}

/* Handle every frame received on pair p; repost the buffers. */
static bool poll_rxq(unsigned p)
{
	uint64_t r = QRING(2 * p);
	bool got = false;

	while (ring_used(r)[1] != rx_last[p]) {
		volatile uint32_t *e =
		    (volatile uint32_t *)(ring_used(r) + 2) + 2 * (rx_last[p] % QSIZE);
		uint32_t id = e[0], len = e[1];
		const uint8_t *f = (const uint8_t *)(RX_BUF(p) + (uint64_t)id * BUF_LEN) + HDR_LEN;

		if (id < QSIZE && len >= HDR_LEN + 14 && len <= BUF_LEN) {
			len -= HDR_LEN;
			rx_count[p]++;
			if (get16(f + 12) == 0x0806)
				arp_input(f, len);
			else if (get16(f + 12) == 0x0800)
				ip_input(f, len);
		}
		rx_last[p]++;
		got = true;
		ring_avail(r)[2 + (ring_avail(r)[1] % QSIZE)] = (uint16_t)id;
		__asm__ volatile("mfence" ::: "memory");
		ring_avail(r)[1]++;
		__asm__ volatile("mfence" ::: "memory");
		vdev_notify(&dev, (uint16_t)(2 * p));
	}
	return got;
}

/* Handle every received frame on every pair. */
static void poll_rx(void)
{
	bool got = false;

	for (unsigned p = 0; p < npairs; p++)
		got |= poll_rxq(p);
	if (got)
		(void)vdev_ack(&dev);
}

/* Poll until `want` is passed or `ms` (wall clock) elapse; `resend` runs every second. */
static bool wait_state(int want, uint64_t ms, void (*resend)(void))
{
	uint64_t t0 = now_ms(), next = t0 + 1000;

	for (;;) {
		uint64_t t;

		poll_rx();
		if (state > want)
			return true;
		t = now_ms();
		if (t - t0 >= ms)
			return false;
		if (resend && t >= next) {
			resend();
			next = t + 1000;
		}
		for (int i = 0; i < 200; i++)
			cpu_relax();
	}
}

/* A DISCOVER from another client (MAC and xid): slirp gives it the first free lease. */
static void dhcp_decoy(void)
{
	uint8_t real[6];
	uint32_t x = xid;

	memcpy(real, mac, 6);
	mac[4] ^= 0x5a;
	mac[5] ^= 0x80;
	xid = 0x0decaf00;
	dhcp_send(1);
	memcpy(mac, real, 6);
	xid = x;
}

static void resend_discover(void)
{
	if (state == WANT_OFFER)
		dhcp_send(1);
	else
		dhcp_send(3);
}

static void resend_arp(void)
{
	arp_send(1, NULL, gw_ip);
}

static void resend_echo(void)
{
	icmp_send_echo(gw_ip);
}

/* msix: the queues that carried buffers interrupted on their own vectors; unused entries
 * (between the last queue and the config entry) stayed quiet. */
static void check_msix(void)
{
	unsigned nqs = npairs == 2 ? 5u : 2u, stray = 0;

	irq_disable();
	printf("virtio_net: MSI-X interrupts: rx0 %u tx0 %u", msix_count[0], msix_count[1]);
	if (npairs == 2)
		printf(" rx1 %u tx1 %u ctrl %u", msix_count[2], msix_count[3], msix_count[4]);
	printf(" config %u\n", msix_count[nvec - 1]);
	for (unsigned i = nqs; i + 1 < nvec; i++)
		stray += msix_count[i];
	check(msix_count[0] > 0, "MSI-X: rx0 interrupts on vector 0");
	check(msix_count[txq] > 0, "MSI-X: tx%u interrupts on vector %u", txq / 2, txq);
	if (npairs == 2) {
		check(msix_count[4] > 0, "MSI-X: control queue interrupt on vector 4");
		check((msix_count[2] > 0) == (rx_count[1] > 0),
		      "MSI-X: rx1 interrupts on vector 2 (%u) iff frames on rx1 (%u)",
		      msix_count[2], rx_count[1]);
	}
	check(stray == 0, "MSI-X: no interrupts on the %u entries of no queue", nvec - 1 - nqs);
}

int payload_main(const struct boot_info *bi)
{
	uint64_t rsdp = acpi_find_rsdp(bi->rsdp_paddr);
	char arg[32];

	if (!check(rsdp && vdev_find(rsdp, 1, &dev), "virtio net device (DeviceID 1) found"))
		return EXIT_CODE_FAIL;
	{
		uint64_t t0 = rdtsc();

		udelay(10000);
		tsc_per_ms = (rdtsc() - t0) / 10;
		if (!tsc_per_ms)
			tsc_per_ms = 1;
	}
	if (cmdline_has("mq"))
		npairs = 2;
	if (dev.pci && dev.msix_cap) {
		/* one MSI-X vector per queue plus config (kvmm; QEMU sizes its table otherwise) */
		unsigned nq = mmio_read16(dev.common + 0x12);

		nvec = (pci_cfg_read16(dev.ecam, dev.slot, dev.msix_cap + 2u) & 0x7ff) + 1u;
		printf("virtio_net: %u queues, %u MSI-X vectors\n", nq, nvec);
		if (!cmdline_has("qemu"))
			check(nvec == nq + 1, "MSI-X: one vector per queue plus config");
	}
	use_msix = cmdline_has("msix");
	if (use_msix && !check(dev.pci && nvec, "msix: a virtio-pci device with MSI-X"))
		return EXIT_CODE_FAIL;
	if (!driver_init())
		return EXIT_CODE_FAIL;
	if (npairs == 2 && !mq_enable())
		return EXIT_CODE_FAIL;
	printf("virtio_net: device at 0x%lx (%s), MAC %02x:%02x:%02x:%02x:%02x:%02x\n",
	       dev.pci ? dev.common : dev.mmio, dev.pci ? "virtio-pci" : "virtio-mmio", mac[0],
	       mac[1], mac[2], mac[3], mac[4], mac[5]);
	if (cmdline_get("mac", arg, sizeof(arg)))
		check(!strncmp(arg, "52:54:00:12:34:56", 17) && mac[5] == 0x56,
		      "MAC from the config space matches mac=%s", arg);
	if (cmdline_get("static", arg, sizeof(arg))) {
		my_ip = parse_ip(arg);
		gw_ip = cmdline_get("peer", arg, sizeof(arg)) ? parse_ip(arg) : 0;
		state = WANT_ARP;
		arp_send(1, NULL, gw_ip);
	} else {
		if (cmdline_has("snapshot"))
			dhcp_decoy();
		dhcp_send(1);
		if (!check(wait_state(WANT_ACK, 20 * MS, resend_discover), "DHCP OFFER and ACK"))
			return EXIT_CODE_FAIL;
	}
	(void)peer_ip;
	if (!check(wait_state(WANT_ARP, 10 * MS, resend_arp), "ARP reply from the router"))
		return EXIT_CODE_FAIL;
	if (!cmdline_has("noicmp")) {
		icmp_send_echo(gw_ip);
		if (!check(wait_state(WANT_ECHO, 10 * MS, resend_echo), "ICMP echo reply"))
			return EXIT_CODE_FAIL;
	}
	{
		char q[96], *colon = NULL;

		if (cmdline_get("dns", q, sizeof(q))) {
			for (char *c = q; *c; c++)
				if (*c == ':')
					colon = c;
			if (!check(colon != NULL, "dns=NAME:A.B.C.D"))
				return EXIT_CODE_FAIL;
			*colon = 0;
			if (!dns_check(q, colon + 1))
				return EXIT_CODE_FAIL;
		}
		if (cmdline_get("nxdns", q, sizeof(q)) && !dns_check(q, "nxdomain"))
			return EXIT_CODE_FAIL;
	}
	tcp.my_port = (uint16_t)cmdline_u64("tcp", 0);
	if (tcp.my_port) {
		state = WANT_TCP;
		printf("virtio_net: listening on TCP port %u\n", tcp.my_port);
		if (!check(wait_state(WANT_TCP, cmdline_u64("wait", 60) * MS, NULL),
			   "a TCP connection served"))
			return EXIT_CODE_FAIL;
	}
	if (npairs == 2) {
		printf("ok - MQ: 2 pairs, sent on tx1, received %u on rx0 and %u on rx1\n",
		       rx_count[0], rx_count[1]);
		check(rx_count[0] + rx_count[1] > 0, "frames received with 2 pairs");
	}
	/* keep answering ARP and pings for a while: a peer VM may still be talking to us */
	if (cmdline_has("linger")) {
		wait_state(DONE, cmdline_u64("linger", 1) * MS, NULL);
		printf("virtio_net: answered %u echo requests\n", echo_answered);
	}
	if (cmdline_has("snapshot")) {
		uint32_t first = my_ip;

		printf("virtio_net: snapshot point\n");
		wait_state(DONE, cmdline_u64("snapshot", 5) * MS, NULL);
		printf("virtio_net: after the snapshot point\n");
		state = WANT_OFFER;
		xid++;
		dhcp_send(1);
		if (!check(wait_state(WANT_ACK, 20 * MS, resend_discover),
			   "DHCP OFFER and ACK after the snapshot point"))
			return EXIT_CODE_FAIL;
		check(my_ip == first, "the same DHCP address after the snapshot point (lease kept)");
		if (!check(wait_state(WANT_ARP, 10 * MS, resend_arp), "ARP reply from the router again"))
			return EXIT_CODE_FAIL;
		echo_seq++;
		icmp_send_echo(gw_ip);
		if (!check(wait_state(WANT_ECHO, 10 * MS, resend_echo), "ICMP echo reply again"))
			return EXIT_CODE_FAIL;
	}
	if (use_msix)
		check_msix();
	printf("virtio_net: done\n");
	return 0;
}
