/* net/tap.c — see tap.h. */
#include "net/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/evloop.h"
#include "base/log.h"
#include "net/backend.h"
#include "net/opts.h"

#define TAP_BUF	      (NET_VNET_HDR_LEN + NET_MAX_FRAME)
#define TAP_RX_BUDGET 64 /* frames per wakeup per queue */

struct tap_queue {
	int fd;
	bool held;	 /* buf holds a frame the guest had no room for */
	bool watching;	 /* EPOLLIN is armed */
	bool tx_blocked; /* send() hit a full tap queue (atomic): wait for EPOLLOUT */
	bool want_out;	 /* EPOLLOUT is armed (loop thread) */
	size_t len;
	uint8_t *buf;
};

struct tap_be {
	struct net_backend nb;
	struct evloop *el;
	int kickfd;
	char ifname[IFNAMSIZ];
	struct tap_queue q[NET_MAX_QUEUES];
	struct log_ratelimit rl;
};

/* ---- receive (loop thread) ---- */

static void tap_arm(struct tap_be *t, struct tap_queue *q, bool in, bool out)
{
	if (q->watching == in && q->want_out == out)
		return;
	if (evloop_mod(t->el, q->fd, (in ? EPOLLIN : 0) | (out ? EPOLLOUT : 0)) == 0) {
		q->watching = in;
		q->want_out = out;
	}
}

static void tap_watch(struct tap_be *t, struct tap_queue *q, bool on)
{
	tap_arm(t, q, on, q->want_out);
}

/* Deliver the held frame; true if the queue may read on. */
static bool tap_deliver(struct tap_be *t, unsigned qi)
{
	struct tap_queue *q = &t->q[qi];
	struct iovec iov = {q->buf, q->len};

	if (!t->nb.fe.receive)
		return q->held = false, true; /* no frontend: drop */
	if (t->nb.fe.receive(t->nb.fe.ctx, qi, &iov, 1) == -EAGAIN) {
		if (!q->held)
			net_stat_add(&t->nb.stats.rx_held, 1);
		q->held = true;
		tap_watch(t, q, false);
		return false;
	}
	q->held = false;
	net_stat_add(&t->nb.stats.rx_frames, 1);
	net_stat_add(&t->nb.stats.rx_bytes, q->len);
	return true;
}

static void tap_read(struct tap_be *t, unsigned qi)
{
	struct tap_queue *q = &t->q[qi];

	for (unsigned n = 0; n < TAP_RX_BUDGET; n++) {
		ssize_t r = read(q->fd, q->buf, TAP_BUF);

		if (r < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_ratelimited(&t->rl, LOG_WARN, "net tap %s: read: %s", t->ifname,
						strerror(errno));
			return;
		}
		q->len = (size_t)r;
		if (!tap_deliver(t, qi))
			return;
	}
}

static void tap_on_fd(void *ctx, int fd, uint32_t events)
{
	struct tap_be *t = ctx;

	for (unsigned i = 0; i < t->nb.queues; i++) {
		struct tap_queue *q = &t->q[i];

		if (q->fd != fd)
			continue;
		if ((events & EPOLLOUT) && q->want_out) {
			/* room again: let the device resume its transmit queue */
			__atomic_store_n(&q->tx_blocked, false, __ATOMIC_RELEASE);
			tap_arm(t, q, q->watching, false);
			if (t->nb.fe.tx_ready)
				t->nb.fe.tx_ready(t->nb.fe.ctx, i);
		}
		if ((events & ~(uint32_t)EPOLLOUT) && !q->held)
			tap_read(t, i);
	}
}

static void tap_on_kick(void *ctx, int fd, uint32_t events)
{
	struct tap_be *t = ctx;
	uint64_t v;

	(void)events;
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_ratelimited(&t->rl, LOG_WARN, "net tap: kick: %s", strerror(errno));
	for (unsigned i = 0; i < t->nb.queues; i++) {
		if (__atomic_load_n(&t->q[i].tx_blocked, __ATOMIC_ACQUIRE))
			tap_arm(t, &t->q[i], t->q[i].watching, true);
		if (t->q[i].held && !tap_deliver(t, i))
			continue;
		tap_watch(t, &t->q[i], true);
		tap_read(t, i); /* level-triggered anyway; read now to keep latency low */
	}
}

/* ---- net_backend_ops ---- */

static void tap_rx_kick(struct net_backend *nb, unsigned q);

static int tap_send(struct net_backend *nb, unsigned q, const struct iovec *iov, unsigned cnt)
{
	struct tap_be *t = container_of(nb, struct tap_be, nb);
	ssize_t r;

	if (q >= nb->queues)
		q = 0;
	r = writev(t->q[q].fd, iov, (int)cnt);
	if (r < 0 && errno == EAGAIN) {
		/* the tap queue is full: the loop arms EPOLLOUT and calls tx_ready */
		__atomic_store_n(&t->q[q].tx_blocked, true, __ATOMIC_RELEASE);
		tap_rx_kick(nb, q);
		return -EAGAIN;
	}
	if (r < 0) {
		net_stat_add(&nb->stats.tx_errors, 1);
		return -errno;
	}
	net_stat_add(&nb->stats.tx_frames, 1);
	net_stat_add(&nb->stats.tx_bytes, (uint64_t)r);
	return 0;
}

static void tap_rx_kick(struct net_backend *nb, unsigned q)
{
	struct tap_be *t = container_of(nb, struct tap_be, nb);
	uint64_t one = 1;

	(void)q;
	if (write(t->kickfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_ratelimited(&t->rl, LOG_WARN, "net tap: kick: %s", strerror(errno));
}

static unsigned tap_tun_flags(unsigned o)
{
	unsigned f = 0;

	if (o & NET_OFFLOAD_CSUM)
		f |= TUN_F_CSUM;
	if (o & NET_OFFLOAD_TSO4)
		f |= TUN_F_TSO4;
	if (o & NET_OFFLOAD_TSO6)
		f |= TUN_F_TSO6;
	if (o & NET_OFFLOAD_ECN)
		f |= TUN_F_TSO_ECN;
	if (o & NET_OFFLOAD_UFO)
		f |= TUN_F_UFO;
	return f;
}

static int tap_set_offload(struct net_backend *nb, unsigned offloads)
{
	struct tap_be *t = container_of(nb, struct tap_be, nb);

	if (ioctl(t->q[0].fd, TUNSETOFFLOAD, (unsigned long)tap_tun_flags(offloads)))
		return -errno;
	return 0;
}

static int tap_set_queues(struct net_backend *nb, unsigned n)
{
	struct tap_be *t = container_of(nb, struct tap_be, nb);

	if (nb->queues == 1)
		return 0;
	for (unsigned i = 0; i < nb->queues; i++) {
		struct ifreq ifr = {.ifr_flags = i < n ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE};

		if (ioctl(t->q[i].fd, TUNSETQUEUE, &ifr) && errno != EINVAL)
			return -errno; /* EINVAL: already in that state */
	}
	return 0;
}

static void tap_be_destroy(struct net_backend *nb)
{
	struct tap_be *t = container_of(nb, struct tap_be, nb);

	for (unsigned i = 0; i < NET_MAX_QUEUES; i++) {
		if (t->q[i].fd >= 0) {
			if (t->el)
				evloop_del(t->el, t->q[i].fd);
			close(t->q[i].fd); /* a non-persistent tap we created disappears here */
		}
		free(t->q[i].buf);
	}
	if (t->kickfd >= 0) {
		if (t->el)
			evloop_del(t->el, t->kickfd);
		close(t->kickfd);
	}
	free(t);
}

static const struct net_backend_ops tap_ops = {
    .send = tap_send,
    .rx_kick = tap_rx_kick,
    .set_offload = tap_set_offload,
    .set_queues = tap_set_queues,
    .destroy = tap_be_destroy,
};

/* ---- set-up ---- */

static int tap_open_queue(struct tap_be *t, const char *name, bool mq, char *err, size_t errlen)
{
	struct ifreq ifr = {0};
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC), e;
	int hdr = NET_VNET_HDR_LEN;

	if (fd < 0) {
		e = -errno;
		snprintf(err, errlen, "--net %s: cannot open /dev/net/tun: %s", t->nb.kind,
			 strerror(-e));
		return e;
	}
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (mq ? IFF_MULTI_QUEUE : 0);
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr)) {
		e = -errno;
		close(fd);
		if (e == -EPERM || e == -EACCES)
			snprintf(err, errlen,
				 "--net %s: no permission to %s tap '%s' (needs CAP_NET_ADMIN or "
				 "the tap's owner)",
				 t->nb.kind, if_nametoindex(name) ? "attach to" : "create", name);
		else if (e == -EBUSY)
			snprintf(err, errlen,
				 "--net %s: tap '%s' is busy (in use, or its "
				 "multi_queue setting differs)",
				 t->nb.kind, name);
		else
			snprintf(err, errlen, "--net %s: '%s' is not a usable tap: %s", t->nb.kind,
				 name, strerror(-e));
		return e;
	}
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr)) {
		e = -errno;
		close(fd);
		snprintf(err, errlen, "--net %s: TUNSETVNETHDRSZ: %s", t->nb.kind, strerror(-e));
		return e;
	}
	snprintf(t->ifname, IFNAMSIZ, "%s", ifr.ifr_name);
	return fd;
}

/* Which offloads the kernel takes on this tap (then back to none until the guest says). */
static unsigned tap_probe_offloads(int fd)
{
	unsigned got = 0;

	if (ioctl(fd, TUNSETOFFLOAD,
		  (unsigned long)(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN)) == 0)
		got |= NET_OFFLOAD_TSO4 | NET_OFFLOAD_TSO6 | NET_OFFLOAD_ECN;
	if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM | TUN_F_UFO)) == 0)
		got |= NET_OFFLOAD_UFO;
	(void)ioctl(fd, TUNSETOFFLOAD, 0ul);
	return got;
}

static int tap_ifreq(const char *name, unsigned long req, struct ifreq *ifr)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), e = 0;

	if (s < 0)
		return -errno;
	snprintf(ifr->ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(s, req, ifr))
		e = -errno;
	close(s);
	return e;
}

static int tap_set_up(const char *name)
{
	struct ifreq ifr = {0};
	int e = tap_ifreq(name, SIOCGIFFLAGS, &ifr);

	if (e)
		return e;
	ifr.ifr_flags |= IFF_UP;
	return tap_ifreq(name, SIOCSIFFLAGS, &ifr);
}

static int tap_bridge_check(const char *br, char *err, size_t errlen)
{
	char path[64];
	struct stat st;

	if (!if_nametoindex(br)) {
		snprintf(err, errlen, "--net bridge: bridge '%s' does not exist", br);
		return -ENODEV;
	}
	snprintf(path, sizeof(path), "/sys/class/net/%s/bridge", br);
	if (stat(path, &st)) {
		snprintf(err, errlen, "--net bridge: '%s' is not a bridge", br);
		return -ENOTTY;
	}
	return 0;
}

static int tap_bridge_attach(struct tap_be *t, const char *br, char *err, size_t errlen)
{
	struct ifreq ifr = {0};
	int e;

	ifr.ifr_ifindex = (int)if_nametoindex(t->ifname);
	e = ifr.ifr_ifindex ? tap_ifreq(br, SIOCBRADDIF, &ifr) : -ENODEV;
	if (e) {
		snprintf(err, errlen, "--net bridge: cannot add %s to bridge '%s': %s", t->ifname,
			 br, strerror(-e));
		return e;
	}
	return 0;
}

static int tap_watch_all(struct tap_be *t, struct evloop *el, char *err, size_t errlen)
{
	int e = evloop_add(el, t->kickfd, EPOLLIN, tap_on_kick, t);

	for (unsigned i = 0; !e && i < t->nb.queues; i++) {
		e = evloop_add(el, t->q[i].fd, EPOLLIN, tap_on_fd, t);
		if (!e)
			t->q[i].watching = true;
		else {
			for (unsigned j = 0; j < i; j++)
				evloop_del(el, t->q[j].fd);
			evloop_del(el, t->kickfd);
		}
	}
	if (e)
		snprintf(err, errlen, "--net %s: cannot watch the tap: %s", t->nb.kind,
			 strerror(-e));
	return e;
}

int net_tap_create(struct net_backend **out, struct evloop *el, const struct net_opts *o, char *err,
		   size_t errlen)
{
	bool bridge = o->kind == NET_KIND_BRIDGE;
	const char *name = o->ifname[0] ? o->ifname : "kvmmtap%d";
	bool existed = !strchr(name, '%') && if_nametoindex(name);
	unsigned nq = bridge ? 1 : o->queues;
	struct tap_be *t;
	int e;

	if (bridge && (e = tap_bridge_check(o->bridge, err, errlen)))
		return e;
	if (bridge && existed) {
		snprintf(err, errlen, "--net bridge: ifname=%s already exists", name);
		return -EEXIST;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errlen, "--net: out of memory");
		return -ENOMEM;
	}
	t->nb = (struct net_backend){
	    .ops = &tap_ops, .kind = bridge ? "bridge" : "tap", .vnet_hdr = true, .queues = nq};
	t->kickfd = -1;
	for (unsigned i = 0; i < NET_MAX_QUEUES; i++)
		t->q[i].fd = -1;
	for (unsigned i = 0; i < nq; i++) {
		t->q[i].buf = malloc(TAP_BUF);
		e = t->q[i].buf ? tap_open_queue(t, i ? t->ifname : name, nq > 1, err, errlen)
				: -ENOMEM;
		if (e < 0)
			goto fail;
		t->q[i].fd = e;
	}
	t->nb.offloads = tap_probe_offloads(t->q[0].fd);
	t->kickfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (t->kickfd < 0) {
		e = -errno;
		snprintf(err, errlen, "--net %s: eventfd: %s", t->nb.kind, strerror(-e));
		goto fail;
	}
	if (!existed && (e = tap_set_up(t->ifname))) {
		snprintf(err, errlen, "--net %s: cannot bring %s up: %s", t->nb.kind, t->ifname,
			 strerror(-e));
		goto fail;
	}
	if (bridge && (e = tap_bridge_attach(t, o->bridge, err, errlen)))
		goto fail;
	e = tap_watch_all(t, el, err, errlen);
	if (e)
		goto fail;
	t->el = el;
	log_info("net %s: %s%s%s, %u queue(s), offloads 0x%x", t->nb.kind, t->ifname,
		 bridge ? " on bridge " : "", bridge ? o->bridge : "", nq, t->nb.offloads);
	*out = &t->nb;
	return 0;
fail:
	tap_be_destroy(&t->nb); /* closing the fds removes a tap we created, and its bridge port */
	return e;
}
