/* net/slirp.c — see slirp.h. */
#include "net/slirp.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <slirp/libslirp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "base/evloop.h"
#include "base/iovbuf.h"
#include "base/log.h"
#include "net/backend.h"
#include "net/opts.h"

#define SLIRP_TXQ 256 /* frames from the guest waiting for the loop */
#define SLIRP_RXQ 256 /* frames for the guest waiting for buffers */
#define SLIRP_PFD 256 /* sockets polled at once */

struct slirp_frame {
	size_t len;
	uint8_t *data;
};

struct slirp_timer {
	struct slirp_timer *next;
	SlirpTimerId id;
	SlirpTimerCb cb; /* old-style timer: call cb(cb_opaque) */
	void *cb_opaque;
	int64_t expire_ms; /* -1: not armed */
};

struct slirp_be {
	struct net_backend nb;
	struct evloop *el;
	Slirp *slirp;
	int epfd, timerfd, wakefd;

	/* TX queue: producers are vCPU threads, the consumer is the loop. */
	pthread_mutex_t txlock;
	struct slirp_frame txq[SLIRP_TXQ];
	unsigned tx_head, tx_cnt;
	bool tx_blocked; /* a send found the queue full: tx_ready after the next drain */

	/* Loop thread only from here on. */
	struct slirp_frame rxq[SLIRP_RXQ];
	unsigned rx_head, rx_cnt;
	struct pollfd pfd[SLIRP_PFD];
	unsigned npfd;
	int registered[SLIRP_PFD];
	unsigned nregistered;
	struct slirp_timer *timers;
	bool in_cycle;
	struct log_ratelimit rl;
};

static int64_t slirp_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static void slirp_wake(struct slirp_be *s)
{
	uint64_t one = 1;

	if (write(s->wakefd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_ratelimited(&s->rl, LOG_WARN, "net user: wake: %s", strerror(errno));
}

/* ---- libslirp callbacks (loop thread) ---- */

/* Hand a frame to the frontend, or keep it while the guest has no buffers. */
static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
	struct slirp_be *s = opaque;
	struct iovec iov = {(void *)buf, len};
	struct slirp_frame *f;

	if (s->rx_cnt == 0 && s->nb.fe.receive &&
	    s->nb.fe.receive(s->nb.fe.ctx, 0, &iov, 1) != -EAGAIN) {
		net_stat_add(&s->nb.stats.rx_frames, 1);
		net_stat_add(&s->nb.stats.rx_bytes, len);
		return (ssize_t)len;
	}
	if (s->rx_cnt == SLIRP_RXQ || !s->nb.fe.receive) {
		net_stat_add(&s->nb.stats.rx_dropped, 1);
		return (ssize_t)len;
	}
	f = &s->rxq[(s->rx_head + s->rx_cnt) % SLIRP_RXQ];
	f->data = malloc(len);
	if (!f->data) {
		net_stat_add(&s->nb.stats.rx_dropped, 1);
		return (ssize_t)len;
	}
	memcpy(f->data, buf, len);
	f->len = len;
	s->rx_cnt++;
	net_stat_add(&s->nb.stats.rx_held, 1);
	return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
	(void)opaque;
	log_warn("net user: guest error: %s", msg);
}

static int64_t cb_clock_get_ns(void *opaque)
{
	(void)opaque;
	return slirp_now_ns();
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
	struct slirp_be *s = opaque;
	struct slirp_timer *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->cb = cb;
	t->cb_opaque = cb_opaque;
	t->expire_ms = -1;
	t->next = s->timers;
	s->timers = t;
	return t;
}

static void *cb_timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
	struct slirp_timer *t = cb_timer_new(NULL, cb_opaque, opaque);

	if (t)
		t->id = id;
	return t;
}

static void cb_timer_free(void *timer, void *opaque)
{
	struct slirp_be *s = opaque;

	for (struct slirp_timer **p = &s->timers; *p; p = &(*p)->next) {
		if (*p == timer) {
			*p = ((struct slirp_timer *)timer)->next;
			free(timer);
			return;
		}
	}
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	struct slirp_be *s = opaque;

	((struct slirp_timer *)timer)->expire_ms = expire_ms;
	if (!s->in_cycle)
		slirp_wake(s); /* re-arm the timerfd on the loop */
}

static void cb_register_poll_fd(int fd, void *opaque)
{
	(void)fd;
	(void)opaque; /* we poll what slirp_pollfds_fill lists */
}

static void cb_notify(void *opaque)
{
	slirp_wake(opaque);
}

static const SlirpCb slirp_cbs = {
    .send_packet = cb_send_packet,
    .guest_error = cb_guest_error,
    .clock_get_ns = cb_clock_get_ns,
    .timer_new = cb_timer_new,
    .timer_free = cb_timer_free,
    .timer_mod = cb_timer_mod,
    .register_poll_fd = cb_register_poll_fd,
    .unregister_poll_fd = cb_register_poll_fd,
    .notify = cb_notify,
    .timer_new_opaque = cb_timer_new_opaque,
};

/* ---- the loop-side cycle ---- */

static int cb_add_poll(int fd, int events, void *opaque)
{
	struct slirp_be *s = opaque;
	short ev = 0;

	if (s->npfd == SLIRP_PFD) {
		log_ratelimited(&s->rl, LOG_WARN, "net user: more than %d sockets; some wait",
				SLIRP_PFD);
		return -1;
	}
	if (events & SLIRP_POLL_IN)
		ev |= POLLIN;
	if (events & SLIRP_POLL_OUT)
		ev |= POLLOUT;
	if (events & SLIRP_POLL_PRI)
		ev |= POLLPRI;
	s->pfd[s->npfd] = (struct pollfd){.fd = fd, .events = ev};
	return (int)s->npfd++;
}

static int cb_get_revents(int idx, void *opaque)
{
	struct slirp_be *s = opaque;
	short re;
	int r = 0;

	if (idx < 0 || (unsigned)idx >= s->npfd)
		return 0;
	re = s->pfd[idx].revents;
	if (re & POLLIN)
		r |= SLIRP_POLL_IN;
	if (re & POLLOUT)
		r |= SLIRP_POLL_OUT;
	if (re & POLLPRI)
		r |= SLIRP_POLL_PRI;
	if (re & POLLERR)
		r |= SLIRP_POLL_ERR;
	if (re & POLLHUP)
		r |= SLIRP_POLL_HUP;
	return r;
}

/* Mirror the poll set into the private epoll set (level-triggered). */
static void slirp_sync_epoll(struct slirp_be *s)
{
	for (unsigned i = 0; i < s->nregistered; i++)
		(void)epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->registered[i], NULL); /* may be closed */
	s->nregistered = 0;
	for (unsigned i = 0; i < s->npfd; i++) {
		struct epoll_event ev = {.events = 0, .data.fd = s->pfd[i].fd};

		if (s->pfd[i].events & POLLIN)
			ev.events |= EPOLLIN;
		if (s->pfd[i].events & POLLOUT)
			ev.events |= EPOLLOUT;
		if (s->pfd[i].events & POLLPRI)
			ev.events |= EPOLLPRI;
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->pfd[i].fd, &ev) == 0)
			s->registered[s->nregistered++] = s->pfd[i].fd;
	}
}

static void slirp_arm_timer(struct slirp_be *s, uint32_t timeout_ms)
{
	int64_t now_ms = slirp_now_ns() / 1000000, when = -1;
	struct itimerspec its = {0};

	if (timeout_ms != UINT32_MAX)
		when = now_ms + timeout_ms;
	for (struct slirp_timer *t = s->timers; t; t = t->next)
		if (t->expire_ms >= 0 && (when < 0 || t->expire_ms < when))
			when = t->expire_ms;
	if (when >= 0) {
		int64_t d = when - now_ms;

		if (d < 1)
			d = 1;
		its.it_value.tv_sec = d / 1000;
		its.it_value.tv_nsec = (d % 1000) * 1000000;
	}
	if (timerfd_settime(s->timerfd, 0, &its, NULL))
		log_ratelimited(&s->rl, LOG_WARN, "net user: timerfd: %s", strerror(errno));
}

static void slirp_run_timers(struct slirp_be *s)
{
	int64_t now_ms = slirp_now_ns() / 1000000;
	bool again = true;

	/* a callback may free or modify timers: restart the scan after each one */
	while (again) {
		again = false;
		for (struct slirp_timer *t = s->timers; t; t = t->next) {
			if (t->expire_ms < 0 || t->expire_ms > now_ms)
				continue;
			t->expire_ms = -1;
			if (t->cb)
				t->cb(t->cb_opaque);
			else
				slirp_handle_timer(s->slirp, t->id, t->cb_opaque);
			again = true;
			break;
		}
	}
}

static void slirp_flush_rx(struct slirp_be *s)
{
	while (s->rx_cnt && s->nb.fe.receive) {
		struct slirp_frame *f = &s->rxq[s->rx_head];
		struct iovec iov = {f->data, f->len};

		if (s->nb.fe.receive(s->nb.fe.ctx, 0, &iov, 1) == -EAGAIN)
			return;
		net_stat_add(&s->nb.stats.rx_frames, 1);
		net_stat_add(&s->nb.stats.rx_bytes, f->len);
		free(f->data);
		s->rx_head = (s->rx_head + 1) % SLIRP_RXQ;
		s->rx_cnt--;
	}
}

static void slirp_flush_tx(struct slirp_be *s)
{
	for (;;) {
		struct slirp_frame f;

		pthread_mutex_lock(&s->txlock);
		if (!s->tx_cnt) {
			bool blocked = s->tx_blocked;

			s->tx_blocked = false;
			pthread_mutex_unlock(&s->txlock);
			if (blocked && s->nb.fe.tx_ready)
				s->nb.fe.tx_ready(s->nb.fe.ctx, 0);
			return;
		}
		f = s->txq[s->tx_head];
		s->tx_head = (s->tx_head + 1) % SLIRP_TXQ;
		s->tx_cnt--;
		pthread_mutex_unlock(&s->txlock);
		slirp_input(s->slirp, f.data, (int)f.len);
		free(f.data);
	}
}

/* One pass: guest frames in, held frames out, sockets, timers, then re-arm. */
static void slirp_cycle(struct slirp_be *s)
{
	uint32_t timeout = UINT32_MAX;
	int n;

	s->in_cycle = true;
	slirp_flush_tx(s);
	slirp_flush_rx(s);
	n = s->npfd ? poll(s->pfd, s->npfd, 0) : 0;
	if (s->npfd)
		slirp_pollfds_poll(s->slirp, n < 0, cb_get_revents, s);
	slirp_run_timers(s);
	s->npfd = 0;
	slirp_pollfds_fill(s->slirp, &timeout, cb_add_poll, s);
	slirp_sync_epoll(s);
	slirp_arm_timer(s, timeout);
	s->in_cycle = false;
}

static void slirp_on_fd(void *ctx, int fd, uint32_t events)
{
	struct slirp_be *s = ctx;
	uint64_t v;

	(void)events;
	if (fd == s->wakefd || fd == s->timerfd) {
		if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			log_ratelimited(&s->rl, LOG_WARN, "net user: read: %s", strerror(errno));
	}
	slirp_cycle(s);
}

/* ---- net_backend_ops ---- */

static int slirp_send(struct net_backend *nb, unsigned q, const struct iovec *iov, unsigned cnt)
{
	struct slirp_be *s = container_of(nb, struct slirp_be, nb);
	size_t len = iov_size(iov, cnt);
	struct slirp_frame *f;
	uint8_t *data;

	(void)q;
	data = malloc(len);
	if (!data)
		return -ENOMEM;
	iov_to_buf(iov, cnt, 0, data, len);
	pthread_mutex_lock(&s->txlock);
	if (s->tx_cnt == SLIRP_TXQ) {
		s->tx_blocked = true; /* backpressure: the loop calls tx_ready once it drained */
		pthread_mutex_unlock(&s->txlock);
		free(data);
		slirp_wake(s);
		return -EAGAIN;
	}
	f = &s->txq[(s->tx_head + s->tx_cnt) % SLIRP_TXQ];
	f->data = data;
	f->len = len;
	s->tx_cnt++;
	pthread_mutex_unlock(&s->txlock);
	net_stat_add(&nb->stats.tx_frames, 1);
	net_stat_add(&nb->stats.tx_bytes, len);
	slirp_wake(s);
	return 0;
}

static void slirp_rx_kick(struct net_backend *nb, unsigned q)
{
	(void)q;
	slirp_wake(container_of(nb, struct slirp_be, nb));
}

static void slirp_be_destroy(struct net_backend *nb)
{
	struct slirp_be *s = container_of(nb, struct slirp_be, nb);

	if (s->el) {
		evloop_del(s->el, s->epfd);
		evloop_del(s->el, s->timerfd);
		evloop_del(s->el, s->wakefd);
	}
	if (s->slirp)
		slirp_cleanup(s->slirp); /* frees its timers through timer_free */
	while (s->timers)
		cb_timer_free(s->timers, s);
	for (unsigned i = 0; i < s->rx_cnt; i++)
		free(s->rxq[(s->rx_head + i) % SLIRP_RXQ].data);
	for (unsigned i = 0; i < s->tx_cnt; i++)
		free(s->txq[(s->tx_head + i) % SLIRP_TXQ].data);
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->timerfd >= 0)
		close(s->timerfd);
	if (s->wakefd >= 0)
		close(s->wakefd);
	pthread_mutex_destroy(&s->txlock);
	free(s);
}

static const struct net_backend_ops slirp_ops = {
    .send = slirp_send,
    .rx_kick = slirp_rx_kick,
    .destroy = slirp_be_destroy,
};

static struct in_addr in4(uint32_t host_order)
{
	return (struct in_addr){htonl(host_order)};
}

static int slirp_add_fwds(struct slirp_be *s, const struct net_opts *o, char *err, size_t errlen)
{
	for (unsigned i = 0; i < o->nfwd; i++) {
		const struct net_hostfwd *f = &o->fwd[i];
		char ha[INET_ADDRSTRLEN];
		int e;

		errno = 0;
		if (slirp_add_hostfwd(s->slirp, f->udp, in4(f->host_addr), f->host_port,
				      in4(f->guest_addr), f->guest_port) == 0)
			continue;
		e = errno ? errno : EADDRINUSE;
		inet_ntop(AF_INET, &(struct in_addr){htonl(f->host_addr)}, ha, sizeof(ha));
		snprintf(err, errlen, "--net user: hostfwd %s:%s:%u: cannot listen: %s",
			 f->udp ? "udp" : "tcp", f->host_addr ? ha : "", f->host_port, strerror(e));
		return -e;
	}
	return 0;
}

int net_slirp_create(struct net_backend **out, struct evloop *el, const struct net_opts *o,
		     char *err, size_t errlen)
{
	SlirpConfig cfg = {
	    .version = 4,
	    .restricted = o->restrict_,
	    .in_enabled = true,
	    .vnetwork = in4(o->net),
	    .vnetmask = in4(o->mask),
	    .vhost = in4(o->net | 2),
	    .vhostname = "kvmm",
	    .vdhcp_start = in4(o->net | 15),
	    .vnameserver = in4(o->net | 3),
	};
	struct slirp_be *s = calloc(1, sizeof(*s));
	int e;

	if (!s) {
		snprintf(err, errlen, "--net user: out of memory");
		return -ENOMEM;
	}
	s->nb = (struct net_backend){.ops = &slirp_ops, .kind = "user", .queues = 1};
	s->epfd = s->timerfd = s->wakefd = -1;
	pthread_mutex_init(&s->txlock, NULL);
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	s->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	s->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->epfd < 0 || s->timerfd < 0 || s->wakefd < 0) {
		e = -errno;
		snprintf(err, errlen, "--net user: %s", strerror(-e));
		goto fail;
	}
	s->slirp = slirp_new(&cfg, &slirp_cbs, s);
	if (!s->slirp) {
		e = -EINVAL;
		snprintf(err, errlen, "--net user: libslirp refused the configuration");
		goto fail;
	}
	e = slirp_add_fwds(s, o, err, errlen);
	if (e)
		goto fail;
	e = evloop_add(el, s->epfd, EPOLLIN, slirp_on_fd, s);
	if (!e) {
		e = evloop_add(el, s->timerfd, EPOLLIN, slirp_on_fd, s);
		if (e)
			evloop_del(el, s->epfd);
	}
	if (!e) {
		e = evloop_add(el, s->wakefd, EPOLLIN, slirp_on_fd, s);
		if (e) {
			evloop_del(el, s->epfd);
			evloop_del(el, s->timerfd);
		}
	}
	if (e) {
		snprintf(err, errlen, "--net user: cannot watch its descriptors: %s", strerror(-e));
		goto fail;
	}
	s->el = el;
	slirp_cycle(s); /* first poll set and timers */
	*out = &s->nb;
	return 0;
fail:
	slirp_be_destroy(&s->nb);
	return e;
}

/* ---- snapshot ---- */

struct slirp_stream {
	uint8_t *buf;
	size_t len, cap, off;
	bool failed;
};

static ssize_t slirp_stream_write(const void *p, size_t n, void *opaque)
{
	struct slirp_stream *st = opaque;

	if (st->failed)
		return -1;
	if (n > st->cap - st->len) {
		size_t cap = st->cap ? st->cap : 4096;
		uint8_t *nb;

		while (n > cap - st->len)
			cap *= 2;
		nb = realloc(st->buf, cap);
		if (!nb) {
			st->failed = true;
			return -1;
		}
		st->buf = nb;
		st->cap = cap;
	}
	memcpy(st->buf + st->len, p, n);
	st->len += n;
	return (ssize_t)n;
}

static ssize_t slirp_stream_read(void *p, size_t n, void *opaque)
{
	struct slirp_stream *st = opaque;

	if (n > st->len - st->off) {
		st->failed = true;
		return -1;
	}
	memcpy(p, st->buf + st->off, n);
	st->off += n;
	return (ssize_t)n;
}

int net_slirp_save(struct net_backend *nb, uint8_t **buf, size_t *len, unsigned *dropped)
{
	struct slirp_be *s = container_of(nb, struct slirp_be, nb);
	struct slirp_stream st = {0};
	uint32_t ver;

	if (!nb || nb->ops != &slirp_ops)
		return -EINVAL;
	ver = (uint32_t)slirp_state_version();
	slirp_stream_write(&ver, sizeof(ver), &st);
	slirp_state_save(s->slirp, slirp_stream_write, &st);
	if (st.failed) {
		free(st.buf);
		return -ENOMEM;
	}
	pthread_mutex_lock(&s->txlock);
	*dropped = s->tx_cnt + s->rx_cnt;
	pthread_mutex_unlock(&s->txlock);
	*buf = st.buf;
	*len = st.len;
	return 0;
}

int net_slirp_load(struct net_backend *nb, const uint8_t *buf, size_t len)
{
	struct slirp_be *s = container_of(nb, struct slirp_be, nb);
	struct slirp_stream st = {.buf = (uint8_t *)buf, .len = len};
	uint32_t ver;

	if (!nb || nb->ops != &slirp_ops || len < sizeof(ver))
		return -EINVAL;
	memcpy(&ver, buf, sizeof(ver));
	st.off = sizeof(ver);
	if (ver == 0 || ver > (uint32_t)slirp_state_version())
		return -EINVAL;
	if (slirp_state_load(s->slirp, (int)ver, slirp_stream_read, &st) < 0 || st.failed)
		return -EINVAL;
	if (st.off != st.len)
		return -EINVAL; /* trailing bytes: not what slirp_state_save wrote */
	return 0;
}
