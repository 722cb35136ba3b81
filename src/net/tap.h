/* net/tap.h — Linux tap backend (and its bridge variant).
 *
 *   tap,ifname=NAME    attach to the tap NAME; if it does not exist and we may (CAP_NET_ADMIN),
 *                      create it for the life of the VM (non-persistent: it vanishes with us) and
 *                      bring it up. queues=N opens N queues (IFF_MULTI_QUEUE).
 *   bridge,br=NAME     create a tap (ifname=, default kvmmtap%d), attach it to the existing Linux
 *                      bridge NAME (SIOCBRADDIF) and bring it up; it vanishes with the VM.
 *
 * Frames carry a 12-byte virtio-net header (IFF_VNET_HDR, TUNSETVNETHDRSZ), so checksum and
 * TSO/ECN/UFO offloads pass through: the offloads the kernel accepts are probed at create time
 * (TUNSETOFFLOAD) and offered to the guest; what the guest accepts is set with set_offload.
 *
 * Threads: the tap fds are read on the event-loop thread; a frame the guest has no room for is
 * held (one per queue) and reading that queue stops until rx_kick (an eventfd) — the kernel's
 * queue absorbs and, past its limit, drops (counted by the kernel, not silently by us). send()
 * writes from vCPU threads (writev on a non-blocking fd): a full tap queue returns -EAGAIN,
 * the loop then waits for EPOLLOUT and calls the frontend's tx_ready (TX backpressure).
 * create/destroy on the set-up thread. */
#pragma once

#include <stddef.h>

#include "base/compiler.h"

struct evloop;
struct net_backend;
struct net_opts;

/* On failure -errno and one line in err; a tap or bridge port we created is gone again. */
int net_tap_create(struct net_backend **out, struct evloop *el, const struct net_opts *o, char *err,
		   size_t errlen) KVMM_MUST_CHECK;
