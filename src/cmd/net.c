/* cmd/net.c — `kvmm net nat create NAME --subnet A.B.C.D/N` and `kvmm net nat delete NAME`:
 * host-side NAT networks (net/nat.h). Exit status 0 on success (also when there is nothing to
 * do), 1 when the host refused (permissions, a missing tool), 2 for usage errors. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "net/nat.h"

static const char net_usage[] =
    "usage: kvmm net nat create NAME --subnet A.B.C.D/N [--state-dir DIR]\n"
    "       kvmm net nat delete NAME [--state-dir DIR]\n"
    "\n"
    "A NAT network: bridge NAME with the subnet's .1, nftables masquerade (table ip kvmm_NAME),\n"
    "IPv4 forwarding and dnsmasq DHCP on the bridge. VMs join with --net bridge,br=NAME.\n"
    "create is idempotent; delete removes everything create made. Needs CAP_NET_ADMIN.\n";

int cmd_net(int argc, char **argv)
{
	struct net_nat_opts o = {0};
	const char *subnet = NULL;
	char err[256] = "";
	bool create;
	int e;

	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(net_usage, stdout);
		return 0;
	}
	if (argc < 4 || strcmp(argv[1], "nat") ||
	    (strcmp(argv[2], "create") && strcmp(argv[2], "delete"))) {
		fputs(net_usage, stderr);
		return 2;
	}
	create = !strcmp(argv[2], "create");
	o.name = argv[3];
	for (int i = 4; i < argc; i++) {
		if (!strcmp(argv[i], "--subnet") && i + 1 < argc && create)
			subnet = argv[++i];
		else if (!strcmp(argv[i], "--state-dir") && i + 1 < argc)
			o.state_dir = argv[++i];
		else {
			fprintf(stderr, "kvmm net nat: unexpected argument '%s'\n", argv[i]);
			return 2;
		}
	}
	if (create) {
		if (!subnet) {
			fprintf(stderr, "kvmm net nat create: --subnet A.B.C.D/N is required\n");
			return 2;
		}
		if (net_nat_parse_subnet(subnet, &o.net, &o.mask)) {
			fprintf(
			    stderr,
			    "kvmm net nat create: --subnet %s: not a network A.B.C.D/N (N 8..28, "
			    "host bits zero)\n",
			    subnet);
			return 2;
		}
		e = net_nat_create(&o, err, sizeof(err));
	} else {
		e = net_nat_delete(o.name, o.state_dir, err, sizeof(err));
	}
	if (e) {
		fprintf(stderr, "kvmm net nat %s %s: %s\n", argv[2], o.name, err);
		return e == -EINVAL ? 2 : 1;
	}
	return 0;
}
