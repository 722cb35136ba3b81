/* base/evloop.c — see evloop.h. */
#include "base/evloop.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define EVLOOP_MAX 64

struct evloop_handler {
	int fd;
	evloop_fn *fn;
	void *ctx;
	bool used;
};

struct evloop {
	int epfd, wakefd;
	bool stop; /* atomic */
	/* evloop_pause(): lock protects the fields below; cond signals parked/running/pause_req */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread; /* valid while running */
	bool running, parked;
	unsigned pause_req;
	struct evloop_handler h[EVLOOP_MAX];
};

int evloop_create(struct evloop **out)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct evloop *el = calloc(1, sizeof(*el));
	int err;

	if (!el)
		return -ENOMEM;
	pthread_mutex_init(&el->lock, NULL);
	pthread_cond_init(&el->cond, NULL);
	el->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (el->epfd < 0) {
		err = -errno;
		goto err_free;
	}
	el->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (el->wakefd < 0) {
		err = -errno;
		goto err_close_ep;
	}
	ev.data.ptr = NULL; /* NULL marks the wake fd */
	if (epoll_ctl(el->epfd, EPOLL_CTL_ADD, el->wakefd, &ev) < 0) {
		err = -errno;
		goto err_close_wake;
	}
	*out = el;
	return 0;

err_close_wake:
	close(el->wakefd);
err_close_ep:
	close(el->epfd);
err_free:
	pthread_cond_destroy(&el->cond);
	pthread_mutex_destroy(&el->lock);
	free(el);
	return err;
}

void evloop_destroy(struct evloop *el)
{
	if (!el)
		return;
	close(el->wakefd);
	close(el->epfd);
	pthread_cond_destroy(&el->cond);
	pthread_mutex_destroy(&el->lock);
	free(el);
}

static struct evloop_handler *evloop_find(struct evloop *el, int fd)
{
	for (unsigned i = 0; i < EVLOOP_MAX; i++)
		if (el->h[i].used && el->h[i].fd == fd)
			return &el->h[i];
	return NULL;
}

int evloop_add(struct evloop *el, int fd, uint32_t events, evloop_fn *fn, void *ctx)
{
	struct epoll_event ev = {.events = events};
	struct evloop_handler *h = NULL;

	if (evloop_find(el, fd))
		return -EEXIST;
	for (unsigned i = 0; i < EVLOOP_MAX && !h; i++)
		if (!el->h[i].used)
			h = &el->h[i];
	if (!h)
		return -ENOSPC;
	ev.data.ptr = h;
	if (epoll_ctl(el->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	*h = (struct evloop_handler){fd, fn, ctx, true};
	return 0;
}

int evloop_mod(struct evloop *el, int fd, uint32_t events)
{
	struct evloop_handler *h = evloop_find(el, fd);
	struct epoll_event ev = {.events = events};

	if (!h)
		return -ENOENT;
	ev.data.ptr = h;
	return epoll_ctl(el->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

void evloop_del(struct evloop *el, int fd)
{
	struct evloop_handler *h = evloop_find(el, fd);

	if (!h)
		return;
	epoll_ctl(el->epfd, EPOLL_CTL_DEL, fd, NULL);
	h->used = false;
}

void evloop_wake(struct evloop *el)
{
	uint64_t one = 1;

	if (write(el->wakefd, &one, sizeof(one)) < 0)
		return; /* counter saturated: a wakeup is already pending */
}

void evloop_stop(struct evloop *el)
{
	__atomic_store_n(&el->stop, true, __ATOMIC_RELEASE);
	evloop_wake(el);
}

void evloop_pause(struct evloop *el)
{
	pthread_mutex_lock(&el->lock);
	el->pause_req++;
	if (el->running && !pthread_equal(el->thread, pthread_self())) {
		evloop_wake(el);
		while (el->running && !el->parked)
			pthread_cond_wait(&el->cond, &el->lock);
	}
	pthread_mutex_unlock(&el->lock);
}

void evloop_resume(struct evloop *el)
{
	pthread_mutex_lock(&el->lock);
	if (el->pause_req && --el->pause_req == 0)
		pthread_cond_broadcast(&el->cond);
	pthread_mutex_unlock(&el->lock);
}

/* Loop thread, between rounds: wait here while a pause is requested. */
static void evloop_park(struct evloop *el)
{
	pthread_mutex_lock(&el->lock);
	if (el->pause_req) {
		el->parked = true;
		pthread_cond_broadcast(&el->cond);
		while (el->pause_req)
			pthread_cond_wait(&el->cond, &el->lock);
		el->parked = false;
	}
	pthread_mutex_unlock(&el->lock);
}

static void evloop_set_running(struct evloop *el, bool on)
{
	pthread_mutex_lock(&el->lock);
	el->running = on;
	el->thread = pthread_self();
	pthread_cond_broadcast(&el->cond);
	pthread_mutex_unlock(&el->lock);
}

static int evloop_run_rounds(struct evloop *el, int timeout_ms, void (*tick)(void *),
			     void *tick_ctx);

int evloop_run(struct evloop *el, int timeout_ms, void (*tick)(void *), void *tick_ctx)
{
	int e;

	evloop_set_running(el, true);
	e = evloop_run_rounds(el, timeout_ms, tick, tick_ctx);
	evloop_set_running(el, false);
	return e;
}

static int evloop_run_rounds(struct evloop *el, int timeout_ms, void (*tick)(void *),
			     void *tick_ctx)
{
	struct epoll_event ev[16];

	evloop_park(el);
	while (!__atomic_load_n(&el->stop, __ATOMIC_ACQUIRE)) {
		int n = epoll_wait(el->epfd, ev, 16, timeout_ms);

		if (n < 0 && errno != EINTR)
			return -errno;
		evloop_park(el);
		for (int i = 0; i < n; i++) {
			struct evloop_handler *h = ev[i].data.ptr;
			uint64_t cnt;

			if (!h) {
				if (read(el->wakefd, &cnt, sizeof(cnt)) < 0)
					continue;
				continue;
			}
			/* A handler may have been deleted by an earlier one in this batch. */
			if (h->used)
				h->fn(h->ctx, h->fd, ev[i].events);
		}
		if (tick)
			tick(tick_ctx);
	}
	return 0;
}
