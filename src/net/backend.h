/* net/backend.h — the contract between a network frontend (the virtio-net device model) and a
 * host backend (net/slirp.c: user-mode networking; net/tap.c: a Linux tap device). Backends
 * move whole Ethernet frames and know nothing of guest memory or virtqueues.
 *
 * A frame optionally starts with a 12-byte virtio-net header (struct net_vnet_hdr) when the
 * backend says so (nb->vnet_hdr: tap with IFF_VNET_HDR); checksum and segmentation offloads
 * travel in that header. Backends without it (slirp) see plain frames.
 *
 * Threads:
 *   - send() is called from vCPU threads (TX queue notifications) and must be thread-safe; it
 *     never calls back into the frontend (slirp hands the frame to the event loop).
 *   - The frontend's receive() is called only on the event-loop thread. It returns -EAGAIN when
 *     the guest has no receive buffers: the backend keeps the frame and stops reading until the
 *     frontend calls rx_kick() (any thread) — backpressure, not loss. A backend that cannot
 *     hold frames back (slirp) queues a bounded number and counts what it must drop.
 *   - create/destroy on the set-up thread, before the loop runs or after it stopped. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/compiler.h"

#define NET_VNET_HDR_LEN 12		/* struct virtio_net_hdr_v1 (with num_buffers) */
#define NET_MAX_FRAME	 (65535u + 18u) /* largest GSO frame plus an Ethernet/VLAN header */
#define NET_MAX_QUEUES	 4		/* queue pairs per device (multiqueue tap) */
#define NET_ETH_HLEN	 14
#define NET_MIN_FRAME	 NET_ETH_HLEN
#define NET_MTU_FRAME	 1514 /* without offloads no frame is larger than this */

/* virtio 1.2 §5.1.6: the header in front of every frame (little-endian). */
struct net_vnet_hdr {
	uint8_t flags; /* NET_HDR_F_* */
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
} KVMM_PACKED;
_Static_assert(sizeof(struct net_vnet_hdr) == NET_VNET_HDR_LEN, "net_vnet_hdr");

#define NET_HDR_F_NEEDS_CSUM 1
#define NET_HDR_F_DATA_VALID 2
#define NET_HDR_GSO_NONE     0
#define NET_HDR_GSO_TCPV4    1
#define NET_HDR_GSO_UDP	     3
#define NET_HDR_GSO_TCPV6    4
#define NET_HDR_GSO_ECN	     0x80

/* Offloads the frontend can accept in received frames (what tap may hand us). */
#define NET_OFFLOAD_CSUM 0x01
#define NET_OFFLOAD_TSO4 0x02
#define NET_OFFLOAD_TSO6 0x04
#define NET_OFFLOAD_ECN	 0x08
#define NET_OFFLOAD_UFO	 0x10

struct net_backend;

/* Registered by the frontend with net_backend_attach(). */
struct net_frontend {
	/* One frame for queue pair q (event-loop thread). 0: consumed (delivered, filtered or
	 * dropped and counted by the frontend); -EAGAIN: no guest buffers, keep it and wait for
	 * rx_kick. */
	int (*receive)(void *ctx, unsigned q, const struct iovec *iov, unsigned cnt);
	/* After send() returned -EAGAIN: the backend can take frames on queue pair q again
	 * (event-loop thread). */
	void (*tx_ready)(void *ctx, unsigned q);
	void *ctx;
};

struct net_backend_ops {
	/* Send one frame (with a header iff nb->vnet_hdr) on queue pair q. 0; -EAGAIN: the
	 * backend is full, the frame was not taken, and fe.tx_ready(q) follows when it can take
	 * more (backpressure); other -errno: the frame is gone (the frontend counts it). Any
	 * thread. */
	int (*send)(struct net_backend *nb, unsigned q, const struct iovec *iov, unsigned cnt);
	/* The guest added receive buffers on queue pair q: retry held frames later on the loop
	 * thread. Any thread, possibly with the frontend's lock held: it must not call receive()
	 * synchronously. */
	void (*rx_kick)(struct net_backend *nb, unsigned q);
	/* Offloads (NET_OFFLOAD_*) the guest accepted; NULL if the backend has no vnet header. */
	int (*set_offload)(struct net_backend *nb, unsigned offloads);
	/* Number of queue pairs the guest uses (multiqueue); NULL if one. */
	int (*set_queues)(struct net_backend *nb, unsigned n);
	void (*destroy)(struct net_backend *nb);
};

struct net_backend_stats {
	uint64_t tx_frames, tx_bytes, tx_errors;
	uint64_t rx_frames, rx_bytes;
	uint64_t rx_held;    /* times a frame was held back because the guest had no buffers */
	uint64_t rx_dropped; /* frames the backend had to drop (its own queue full) */
};

struct net_backend {
	const struct net_backend_ops *ops;
	const char *kind;  /* "user", "tap", "bridge" */
	bool vnet_hdr;	   /* frames carry struct net_vnet_hdr */
	unsigned offloads; /* NET_OFFLOAD_* the backend can carry (with vnet_hdr) */
	unsigned queues;   /* queue pairs the backend serves (1..NET_MAX_QUEUES) */
	struct net_frontend fe;
	struct net_backend_stats stats; /* updated with __atomic_fetch_add; read with loads */
};

static inline void net_stat_add(uint64_t *ctr, uint64_t v)
{
	__atomic_fetch_add(ctr, v, __ATOMIC_RELAXED);
}

/* Connect the frontend; before the event loop runs. */
static inline void net_backend_attach(struct net_backend *nb, const struct net_frontend *fe)
{
	nb->fe = *fe;
}

static inline void net_backend_destroy(struct net_backend *nb)
{
	if (nb)
		nb->ops->destroy(nb);
}
