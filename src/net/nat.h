/* net/nat.h — host-side NAT networks for `kvmm net nat create|delete`: a Linux bridge with the
 * gateway address (.1), an nftables table `ip kvmm_NAME` that masquerades the subnet's traffic
 * leaving through other interfaces, IPv4 forwarding, and a dnsmasq serving DHCP (and DNS) on
 * the bridge only. VMs join with --net bridge,br=NAME.
 *
 * All real components, started and stopped here: the bridge and its address through ioctls
 * (SIOCBRADDBR, SIOCSIFADDR, ...), `nft -f -` for the table, `dnsmasq` (daemonised, with its pid
 * file, lease file and state under STATE_DIR/NAME). create is idempotent (an existing network
 * with the same subnet is completed, not duplicated); a failed create undoes what it did;
 * delete is idempotent and leaves no link, no table, no process and no files behind; it
 * restores net.ipv4.ip_forward if create had to turn it on and no other NAT network remains.
 *
 * Needs CAP_NET_ADMIN. Single-threaded (the kvmm net command). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"

#define NET_NAT_STATE_DIR "/run/kvmm/nat"

struct net_nat_opts {
	const char *name;      /* bridge name: 1..15 of [A-Za-z0-9_-] */
	uint32_t net, mask;    /* host byte order; prefix 8..28 */
	const char *state_dir; /* NULL: NET_NAT_STATE_DIR */
};

/* Parse "A.B.C.D/N" (8 <= N <= 28, host bits zero). -EINVAL. */
int net_nat_parse_subnet(const char *s, uint32_t *net, uint32_t *mask) KVMM_MUST_CHECK;

/* 0 or -errno with one line in err. */
int net_nat_create(const struct net_nat_opts *o, char *err, size_t errlen) KVMM_MUST_CHECK;
int net_nat_delete(const char *name, const char *state_dir, char *err,
		   size_t errlen) KVMM_MUST_CHECK;
