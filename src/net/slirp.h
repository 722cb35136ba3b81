/* net/slirp.h — user-mode networking on libslirp: a virtual 10.0.2.0/24 network (by default)
 * with a gateway/host at .2, DNS forwarding at .3 and DHCP from .15, host port forwards, and an
 * optional restricted mode (no traffic leaves except forwarded connections). No privileges.
 *
 * Threads: libslirp is not thread-safe, so every libslirp call happens on the event-loop
 * thread. send() (vCPU threads) copies the frame into a bounded queue under a mutex and wakes
 * the loop through an eventfd; the loop feeds the queue to slirp_input(). Frames slirp sends to
 * the guest go to the frontend on the loop thread; when the guest has no buffers they wait in a
 * bounded queue (rx_held), and only an overflowing queue drops (rx_dropped) — TCP recovers.
 * Slirp's sockets sit in a private epoll set whose fd is watched by the loop; its timers share
 * one timerfd. create/destroy on the set-up thread (before the loop runs / after it stopped). */
#pragma once

#include <stddef.h>

#include "base/compiler.h"
#include <stdint.h>

struct evloop;
struct net_backend;
struct net_opts;

/* Create the backend and its host forwards. On failure -errno and one line in err (e.g. a
 * forwarded port already in use); nothing is left open. */
int net_slirp_create(struct net_backend **out, struct evloop *el, const struct net_opts *o,
		     char *err, size_t errlen) KVMM_MUST_CHECK;

/* Snapshot of libslirp's own state (slirp_state_save: the DHCP leases, the IP id counter and
 * guestfwd connections; connections of host sockets are not part of it), as
 * u32 slirp_state_version() | libslirp's bytes, in a malloc'd *buf. Frames queued between the
 * guest and slirp (both directions) are not included; *dropped gets their number. The event
 * loop must not run meanwhile (its thread, or paused). -EINVAL if nb is not a user backend. */
int net_slirp_save(struct net_backend *nb, uint8_t **buf, size_t *len,
		   unsigned *dropped) KVMM_MUST_CHECK;
/* Into a freshly created backend (host forwards already set up), before the loop runs.
 * -EINVAL if nb is not a user backend, the buffer is short, of a newer version than this
 * libslirp reads, or libslirp refuses it (truncated or corrupt); after a failure part of the
 * state may be applied: discard the backend (a failed restore does). */
int net_slirp_load(struct net_backend *nb, const uint8_t *buf, size_t len) KVMM_MUST_CHECK;
