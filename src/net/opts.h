/* net/opts.h — the `--net` option: parsed into a plain struct, checked, no side effects.
 *
 *   --net user[,net=A.B.C.D/N][,hostfwd=tcp|udp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT]...
 *             [,restrict=on][,mac=XX:XX:XX:XX:XX:XX]
 *   --net tap,ifname=NAME[,queues=N][,mac=...]
 *   --net bridge,br=NAME[,ifname=NAME][,mac=...]
 *   every backend: [,transport=pci|mmio] (the virtio transport of the NIC; pci by default)
 *
 * Any thread; pure functions. */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"

#define NET_MAX_HOSTFWD 16

enum net_kind {
	NET_KIND_USER,
	NET_KIND_TAP,
	NET_KIND_BRIDGE,
};

struct net_hostfwd {
	bool udp;
	uint32_t host_addr; /* host byte order; 0 = any (INADDR_ANY) */
	uint16_t host_port;
	uint32_t guest_addr; /* 0 = the first DHCP address */
	uint16_t guest_port;
};

struct net_opts {
	enum net_kind kind;
	uint8_t mac[6];
	bool mac_set;
	unsigned queues; /* tap queue pairs, 1..NET_MAX_QUEUES */
	bool mmio;	 /* transport=mmio: virtio-mmio instead of PCI (the default) */
	/* user */
	uint32_t net, mask; /* host byte order */
	bool restrict_;
	struct net_hostfwd fwd[NET_MAX_HOSTFWD];
	unsigned nfwd;
	/* tap / bridge */
	char ifname[IFNAMSIZ]; /* empty: kernel-chosen (tap creation) */
	char bridge[IFNAMSIZ];
};

/* Parse one --net value. -EINVAL with a one-line reason in err. */
int net_opts_parse(const char *s, struct net_opts *o, char *err, size_t errlen) KVMM_MUST_CHECK;

/* The --net value that net_opts_parse() parses back into an equal struct (every field: kind,
 * mac, queues, transport, net, restrict, hostfwd rules, ifname, br). -ENOSPC if len is too
 * small. */
int net_opts_format(const struct net_opts *o, char *buf, size_t len) KVMM_MUST_CHECK;

/* A stable locally administered unicast MAC (52:54:00 is QEMU's; we use 52:54:00 too, so
 * guests' drivers treat it alike) derived from a seed (e.g. VM name hash and NIC index). */
void net_mac_generate(uint8_t mac[6], uint64_t seed);
