/* Unit tests for the --net option parser (net/opts.c), the NAT subnet parser and the stable
 * generated MAC. */
#include "lib/harness.h"

#include <errno.h>
#include <string.h>

#include "net/nat.h"
#include "net/opts.h"

static void test_user(void **state)
{
	struct net_opts o;
	char err[256];

	(void)state;
	assert_int_equal(net_opts_parse("user", &o, err, sizeof(err)), 0);
	assert_int_equal(o.kind, NET_KIND_USER);
	assert_int_equal(o.net, 0x0a000200);
	assert_int_equal(o.mask, 0xffffff00);
	assert_false(o.mac_set);
	assert_int_equal(net_opts_parse("user,net=10.9.8.0/24,restrict=on,hostfwd=tcp::2222-:22,"
					"hostfwd=udp:127.0.0.1:5353-10.9.8.20:53,"
					"mac=52:54:00:aa:bb:cc",
					&o, err, sizeof(err)),
			 0);
	assert_int_equal(o.net, 0x0a090800);
	assert_true(o.restrict_);
	assert_int_equal(o.nfwd, 2);
	assert_false(o.fwd[0].udp);
	assert_int_equal(o.fwd[0].host_addr, 0);
	assert_int_equal(o.fwd[0].host_port, 2222);
	assert_int_equal(o.fwd[0].guest_addr, 0);
	assert_int_equal(o.fwd[0].guest_port, 22);
	assert_true(o.fwd[1].udp);
	assert_int_equal(o.fwd[1].host_addr, 0x7f000001);
	assert_int_equal(o.fwd[1].guest_addr, 0x0a090814);
	assert_true(o.mac_set);
	assert_int_equal(o.mac[5], 0xcc);
}

static void test_errors(void **state)
{
	static const char *bad[] = {
	    "",
	    "slip",
	    "user,net=10.0.2.1/24",    /* host bits set */
	    "user,net=10.0.0.0/30",    /* too small for .15 */
	    "user,hostfwd=tcp::0-:22", /* port 0 */
	    "user,hostfwd=tcp::99999-:22",
	    "user,hostfwd=sctp::1-:2",
	    "user,hostfwd=tcp:1.2.3:1-:2",
	    "user,restrict=maybe",
	    "user,mac=01:00:00:00:00:01", /* multicast */
	    "user,mac=52:54:00:00:00",
	    "user,ifname=tap0", /* not a user option */
	    "tap",		/* ifname required */
	    "tap,ifname=a/b",
	    "tap,ifname=0123456789abcdef", /* longer than IFNAMSIZ - 1 */
	    "tap,ifname=t0,queues=5",
	    "bridge",
	    "bridge,br=br0,queues=2",
	    "user,novalue",
	    "user,transport=isa",
	    "tap,ifname=t0,transport=",
	};
	struct net_opts o;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		if (net_opts_parse(bad[i], &o, err, sizeof(err)) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
		assert_true(err[0] != 0);
		assert_null(strchr(err, '\n'));
	}
}

static void test_tap_bridge(void **state)
{
	struct net_opts o;
	char err[256];

	(void)state;
	assert_int_equal(net_opts_parse("tap,ifname=tap0,queues=4", &o, err, sizeof(err)), 0);
	assert_int_equal(o.kind, NET_KIND_TAP);
	assert_string_equal(o.ifname, "tap0");
	assert_int_equal(o.queues, 4);
	assert_int_equal(net_opts_parse("bridge,br=br0", &o, err, sizeof(err)), 0);
	assert_int_equal(o.kind, NET_KIND_BRIDGE);
	assert_string_equal(o.bridge, "br0");
	assert_string_equal(o.ifname, "");
}

/* transport=pci|mmio on every backend; PCI when not given. */
static void test_transport(void **state)
{
	struct net_opts o;
	char err[256];

	(void)state;
	assert_int_equal(net_opts_parse("user", &o, err, sizeof(err)), 0);
	assert_false(o.mmio);
	assert_int_equal(net_opts_parse("user,transport=mmio", &o, err, sizeof(err)), 0);
	assert_true(o.mmio);
	assert_int_equal(net_opts_parse("user,transport=mmio,transport=pci", &o, err, sizeof(err)),
			 0);
	assert_false(o.mmio);
	assert_int_equal(
	    net_opts_parse("tap,ifname=t0,queues=2,transport=mmio", &o, err, sizeof(err)), 0);
	assert_true(o.mmio);
	assert_int_equal(o.queues, 2);
	assert_int_equal(net_opts_parse("bridge,br=br0,transport=pci", &o, err, sizeof(err)), 0);
	assert_false(o.mmio);
	assert_int_equal(net_opts_parse("user,transport=virtio", &o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "transport=virtio: pci or mmio"));
}

static void test_mac_and_subnet(void **state)
{
	uint8_t a[6], b[6], c[6];
	uint32_t net, mask;

	(void)state;
	net_mac_generate(a, 42);
	net_mac_generate(b, 42);
	net_mac_generate(c, 43);
	assert_memory_equal(a, b, 6);
	assert_memory_not_equal(a, c, 6);
	assert_int_equal(a[0], 0x52);
	assert_int_equal(a[0] & 1, 0);
	assert_int_equal(net_nat_parse_subnet("192.168.77.0/24", &net, &mask), 0);
	assert_int_equal(net, 0xc0a84d00);
	assert_int_equal(mask, 0xffffff00);
	assert_int_equal(net_nat_parse_subnet("192.168.77.1/24", &net, &mask), -EINVAL);
	assert_int_equal(net_nat_parse_subnet("10.0.0.0/30", &net, &mask), -EINVAL);
	assert_int_equal(net_nat_parse_subnet("10.0.0.0", &net, &mask), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_user),	   cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_tap_bridge),	   cmocka_unit_test(test_transport),
	    cmocka_unit_test(test_mac_and_subnet),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
