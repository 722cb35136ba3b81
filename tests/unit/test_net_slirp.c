/* Unit tests for the user-mode backend (net/slirp.c) on a real event loop, without a VM: a
 * DHCP DISCOVER sent from a "vCPU" (the test thread, through send()) gets an OFFER back on the
 * loop; ARP for the gateway is answered; a frame the frontend cannot take (-EAGAIN) is held and
 * delivered after rx_kick; a hostfwd on a port in use fails with one line and no leftovers.
 * Only loopback sockets. */
#include "lib/harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/evloop.h"
#include "base/iovbuf.h"
#include "net/backend.h"
#include "net/opts.h"
#include "net/slirp.h"

static const uint8_t MAC[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

struct fx {
	struct evloop *el;
	struct net_backend *nb;
	unsigned nframes, refused;
	bool full; /* the "guest" has no buffers: answer -EAGAIN */
	uint8_t frame[8][1600];
	size_t len[8];
	uint64_t deadline_ns, kick_at_ns, held_at_kick;
	bool kicked;
	bool (*done)(struct fx *);
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int fe_receive(void *ctx, unsigned q, const struct iovec *iov, unsigned cnt)
{
	struct fx *f = ctx;

	assert_int_equal(q, 0);
	if (f->full) {
		f->refused++;
		return -EAGAIN;
	}
	if (f->nframes < 8) {
		f->len[f->nframes] = iov_to_buf(iov, cnt, 0, f->frame[f->nframes], 1600);
		f->nframes++;
	}
	return 0;
}

static void tick(void *ctx)
{
	struct fx *f = ctx;

	/* until kick_at: the guest has no buffers; the reply must wait, not be delivered */
	if (f->kick_at_ns && !f->kicked && now_ns() >= f->kick_at_ns) {
		assert_int_equal(f->nframes, 0);
		f->held_at_kick = f->nb->stats.rx_held;
		f->full = false;
		f->kicked = true;
		f->nb->ops->rx_kick(f->nb, 0); /* the guest added buffers */
	}

	if (f->done(f) || now_ns() > f->deadline_ns)
		evloop_stop(f->el);
}

static void run_until(struct fx *f, bool (*done)(struct fx *), uint64_t ms)
{
	f->done = done;
	f->deadline_ns = now_ns() + ms * 1000000ull;
	assert_int_equal(evloop_run(f->el, 20, tick, f), 0);
}

static int setup(void **state)
{
	static struct fx f;
	struct net_opts o;
	char err[256];

	memset(&f, 0, sizeof(f));
	assert_int_equal(net_opts_parse("user", &o, err, sizeof(err)), 0);
	assert_int_equal(evloop_create(&f.el), 0);
	assert_int_equal(net_slirp_create(&f.nb, f.el, &o, err, sizeof(err)), 0);
	assert_string_equal(f.nb->kind, "user");
	assert_false(f.nb->vnet_hdr);
	net_backend_attach(f.nb, &(struct net_frontend){fe_receive, NULL, &f});
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	net_backend_destroy(f->nb);
	evloop_destroy(f->el);
	return 0;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint16_t ip_csum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;

	for (size_t i = 0; i < n; i += 2)
		s += get16(p + i);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static size_t dhcp_discover_from(uint8_t *f, const uint8_t *mac)
{
	uint8_t *ip = f + 14, *udp = ip + 20, *b = udp + 8;
	size_t blen = 300;

	memset(f, 0, 14 + 20 + 8 + blen);
	memset(f, 0xff, 6);
	memcpy(f + 6, mac, 6);
	put16(f + 12, 0x0800);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + 8 + blen));
	ip[8] = 64;
	ip[9] = 17;
	memset(ip + 16, 0xff, 4);
	put16(ip + 10, ip_csum(ip, 20));
	put16(udp, 68);
	put16(udp + 2, 67);
	put16(udp + 4, (uint16_t)(8 + blen));
	b[0] = 1;
	b[1] = 1;
	b[2] = 6;
	memcpy(b + 4, "\x12\x34\x56\x78", 4);
	memcpy(b + 28, mac, 6);
	memcpy(b + 236, "\x63\x82\x53\x63", 4);
	memcpy(b + 240, "\x35\x01\x01\xff", 4); /* DHCPDISCOVER */
	return 14 + 20 + 8 + blen;
}

static size_t dhcp_discover(uint8_t *f)
{
	return dhcp_discover_from(f, MAC);
}

static bool got_one(struct fx *f)
{
	return f->nframes >= 1;
}

static void test_dhcp_offer(void **state)
{
	struct fx *f = *state;
	uint8_t fr[400];
	struct iovec iov = {fr, dhcp_discover(fr)};
	const uint8_t *ip, *b;

	assert_int_equal(f->nb->ops->send(f->nb, 0, &iov, 1), 0); /* as a vCPU would */
	run_until(f, got_one, 5000);
	assert_int_equal(f->nframes, 1);
	ip = f->frame[0] + 14;
	assert_int_equal(get16(f->frame[0] + 12), 0x0800);
	assert_true(!memcmp(f->frame[0], MAC, 6) ||
		    !memcmp(f->frame[0], "\xff\xff\xff\xff\xff\xff", 6));
	assert_int_equal(ip[9], 17);
	assert_memory_equal(ip + 12, "\x0a\x00\x02\x02", 4); /* from the gateway */
	assert_int_equal(get16(ip + 20), 67);
	b = ip + 28;
	assert_int_equal(b[0], 2);			    /* BOOTREPLY */
	assert_memory_equal(b + 16, "\x0a\x00\x02\x0f", 4); /* yiaddr 10.0.2.15 */
	assert_int_equal(f->nb->stats.tx_frames, 1);
	assert_int_equal(f->nb->stats.rx_frames, 1);
}

static void test_arp_held_then_kicked(void **state)
{
	struct fx *f = *state;
	uint8_t fr[60] = {0}, *a = fr + 14;
	struct iovec iov = {fr, sizeof(fr)};

	memset(fr, 0xff, 6);
	memcpy(fr + 6, MAC, 6);
	put16(fr + 12, 0x0806);
	put16(a, 1);
	put16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, 1);
	memcpy(a + 8, MAC, 6);
	memcpy(a + 14, "\x0a\x00\x02\x0f", 4);
	memcpy(a + 24, "\x0a\x00\x02\x02", 4);
	f->full = true; /* the guest has no buffers */
	assert_int_equal(f->nb->ops->send(f->nb, 0, &iov, 1), 0);
	/* evloop_stop is final: one run, with the kick done by the tick half-way (held_then_kick)
	 */
	f->kick_at_ns = now_ns() + 500000000ull;
	run_until(f, got_one, 5000);
	assert_true(f->kicked);
	assert_int_equal(f->held_at_kick, 1);
	assert_int_equal(f->nb->stats.rx_dropped, 0);
	assert_true(f->refused >= 1);
	assert_int_equal(f->nframes, 1);
	assert_int_equal(get16(f->frame[0] + 12), 0x0806);
	assert_int_equal(get16(f->frame[0] + 14 + 6), 2); /* ARP reply */
	assert_memory_equal(f->frame[0] + 14 + 14, "\x0a\x00\x02\x02", 4);
}

static void nop(void *ctx, int fd, uint32_t events)
{
	(void)ctx;
	(void)fd;
	(void)events;
}

static void test_hostfwd_port_in_use(void **state)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	struct net_backend *nb = NULL;
	struct evloop *el;
	struct net_opts o;
	char spec[96], err[256] = "";
	int s = socket(AF_INET, SOCK_STREAM, 0);

	(void)state;
	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s, 1), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&sa, &sl), 0);
	snprintf(spec, sizeof(spec), "user,hostfwd=tcp:127.0.0.1:%u-:80", ntohs(sa.sin_port));
	assert_int_equal(net_opts_parse(spec, &o, err, sizeof(err)), 0);
	assert_int_equal(evloop_create(&el), 0);
	assert_int_equal(net_slirp_create(&nb, el, &o, err, sizeof(err)), -EADDRINUSE);
	assert_null(nb);
	assert_non_null(strstr(err, "cannot listen: Address already in use"));
	assert_null(strchr(err, '\n'));
	/* nothing of the failed backend is left on the loop */
	assert_int_equal(evloop_add(el, s, 1, nop, NULL), 0);
	evloop_del(el, s);
	evloop_destroy(el);
	close(s);
}

static const struct net_backend_ops not_slirp_ops = {0};

/* Snapshot: libslirp's state (here its DHCP lease table) moves to a fresh backend: a second
 * client gets the next address, not the first one again (which a fresh table would give).
 * Truncated, trailing, newer-version buffers and a backend that is not user are refused. */
static void test_state_round_trip(void **state)
{
	static const uint8_t MAC2[6] = {0x52, 0x54, 0x00, 0xab, 0xcd, 0xef};
	struct fx *f = *state;
	struct net_backend other = {.ops = &not_slirp_ops, .kind = "tap"}, *nb2;
	struct net_opts o;
	uint8_t fr[400], *buf, *bad;
	struct iovec iov = {fr, dhcp_discover(fr)};
	size_t len;
	unsigned dropped = 99;
	uint32_t ver;
	char err[256];

	assert_int_equal(f->nb->ops->send(f->nb, 0, &iov, 1), 0);
	run_until(f, got_one, 5000);
	assert_int_equal(f->nframes, 1);
	assert_memory_equal(f->frame[0] + 14 + 28 + 16, "\x0a\x00\x02\x0f", 4); /* .15 */
	assert_int_equal(net_slirp_save(f->nb, &buf, &len, &dropped), 0);
	assert_int_equal(dropped, 0);
	assert_true(len > 4);
	assert_int_equal(net_slirp_save(&other, &bad, &len, &dropped), -EINVAL);

	net_backend_destroy(f->nb); /* a new process: new loop, new backend */
	evloop_destroy(f->el);
	assert_int_equal(evloop_create(&f->el), 0);
	assert_int_equal(net_opts_parse("user", &o, err, sizeof(err)), 0);
	assert_int_equal(net_slirp_create(&f->nb, f->el, &o, err, sizeof(err)), 0);
	net_backend_attach(f->nb, &(struct net_frontend){fe_receive, NULL, f});
	/* refusals on a backend thrown away after them (a failed load may leave part of the
	 * state applied: the restore fails as a whole) */
	assert_int_equal(net_slirp_create(&nb2, f->el, &o, err, sizeof(err)), 0);
	assert_int_equal(net_slirp_load(nb2, buf, len - 1), -EINVAL); /* truncated */
	bad = malloc(len + 1);
	assert_non_null(bad);
	memcpy(bad, buf, len);
	bad[len] = 0;
	assert_int_equal(net_slirp_load(nb2, bad, len + 1), -EINVAL); /* trailing byte */
	memcpy(&ver, bad, 4);
	ver++;
	memcpy(bad, &ver, 4);
	assert_int_equal(net_slirp_load(nb2, bad, len), -EINVAL); /* newer version */
	assert_int_equal(net_slirp_load(nb2, buf, 3), -EINVAL);
	assert_int_equal(net_slirp_load(&other, buf, len), -EINVAL);
	free(bad);
	net_backend_destroy(nb2);
	assert_int_equal(net_slirp_load(f->nb, buf, len), 0);
	free(buf);

	f->nframes = 0;
	iov.iov_len = dhcp_discover_from(fr, MAC2);
	assert_int_equal(f->nb->ops->send(f->nb, 0, &iov, 1), 0);
	run_until(f, got_one, 5000);
	assert_int_equal(f->nframes, 1);
	assert_memory_equal(f->frame[0] + 14 + 28 + 16, "\x0a\x00\x02\x10", 4); /* .16 */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_dhcp_offer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_arp_held_then_kicked, setup, teardown),
	    cmocka_unit_test(test_hostfwd_port_in_use),
	    cmocka_unit_test_setup_teardown(test_state_round_trip, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
