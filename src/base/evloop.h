/* base/evloop.h — a minimal epoll event loop run by one thread (the VMM's main thread).
 *
 * Handlers are added and removed from the loop thread (or before it runs). evloop_stop() and
 * evloop_wake() are safe from any thread (an eventfd). Handlers run on the loop thread. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"

struct evloop;

/* Called with the epoll events (EPOLLIN, EPOLLHUP, ...) that fired for fd. */
typedef void evloop_fn(void *ctx, int fd, uint32_t events);

int evloop_create(struct evloop **out) KVMM_MUST_CHECK;
void evloop_destroy(struct evloop *el);

/* Watch fd for `events`. -EEXIST if already watched, -ENOSPC past the handler limit. */
int evloop_add(struct evloop *el, int fd, uint32_t events, evloop_fn *fn,
	       void *ctx) KVMM_MUST_CHECK;
int evloop_mod(struct evloop *el, int fd, uint32_t events) KVMM_MUST_CHECK;
void evloop_del(struct evloop *el, int fd);

/* Run until evloop_stop(); returns 0, or -errno if epoll fails. timeout_ms bounds each wait
 * (-1: none); `tick` (may be NULL) runs after every wakeup. */
int evloop_run(struct evloop *el, int timeout_ms, void (*tick)(void *),
	       void *tick_ctx) KVMM_MUST_CHECK;
void evloop_stop(struct evloop *el);
/* Make evloop_run() return from its wait and run `tick`. */
void evloop_wake(struct evloop *el);

/* Park the loop between two rounds of handlers so that another thread can read state the
 * handlers change (a snapshot taken from a thread other than the loop's). Returns once the loop
 * is parked, or at once if it is not running or the caller is the loop thread itself (a
 * handler: nothing else runs meanwhile). Nests; each pause needs one evloop_resume(). */
void evloop_pause(struct evloop *el);
void evloop_resume(struct evloop *el);
