# shellcheck shell=bash
# tests/guest/net.sh — virtio-net cases that need a host side while kvmm runs; sourced by run.sh
# (uses its TIMEOUT, KVMM, PAYLOAD_DIR, GUEST_WORK and the guest_ok/guest_not_ok/guest_skip
# helpers of lib.sh). Every case takes the run's name filter as $1.
# Transports: hostfwd, nat and the mq VM run on PCI (the default; the payload gets
# transport=pci), tap-netns and the 1-pair mq VM on virtio-mmio (--net ...,transport=mmio), the
# bridge case puts one VM on each.
#
#   net-user-hostfwd  --net user,hostfwd=tcp:127.0.0.1:PORT-:80: the payload gets its address
#                     by DHCP, then a TCP client on the host (busybox nc) connects to PORT and
#                     must get the payload's answer; a second kvmm asking for the same port must
#                     fail with one line and status 2.
#   net-user-dns      DNS forwarding: dnsmasq on 127.0.0.1:53 (kvmm.test -> 192.0.2.77, nx.test
#                     local-only) is the only nameserver in /etc/resolv.conf (restored after);
#                     the payload (PCI) asks the DNS server of its DHCP offer (10.0.2.3) for
#                     kvmm.test and must get 192.0.2.77, and for nope.nx.test and must get
#                     NXDOMAIN. Skipped without root or dnsmasq.
#   net-tap-netns     a network namespace made by the test with a tap (10.77.0.1/24): kvmm runs
#                     inside it with --net tap,ifname=ktap0; the payload ARPs and pings the host
#                     side and serves a TCP connection from it. A missing tap that cannot be
#                     created (no CAP_NET_ADMIN is simulated by a name that is not a tap) fails
#                     with one line.
#   net-tap-mq        kvmm creates a 2-queue tap (queues=2); the payload pings the host side over
#                     it once with one pair (the device detaches the unused tap queue) and twice
#                     with MQ negotiated and 2 pairs (VQ_PAIRS_SET, transmit on tx1; on PCI, 5
#                     queues with one MSI-X vector each plus config, then on virtio-mmio); the tap
#                     vanishes with kvmm; without CAP_NET_ADMIN creating a tap is one line.
#   net-bridge-2vm    a bridge in a namespace; two VMs with --net bridge,br=kbr0 ping each other;
#                     their taps vanish from the bridge when they exit; a missing bridge fails.
#   net-nat           kvmm net nat create/delete: a VM on the NAT bridge gets an address from
#                     dnsmasq and pings the gateway; after delete no link, no nft table and no
#                     dnsmasq are left.
# The tap/bridge/NAT cases need root, /dev/net/tun and iproute2 (`ip`), nft and dnsmasq: they
# are skipped where those are missing (the nested-KVM initramfs has them).

net_filter_skip() {
	! guest_want "$1" "${2:-}"
}

# net_wait_line FILE REGEX SECS: wait until FILE has a line matching REGEX.
net_wait_line() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		grep -Eq -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

net_have_tools() {
	local t
	[ "$(id -u)" -eq 0 ] || return 1
	[ -c /dev/net/tun ] || return 1
	for t in ip "$@"; do
		type -P "$t" >/dev/null || return 1
	done
}

# TCP client: busybox nc where busybox has it (the nested initramfs), else the host's nc.
NET_NC=(nc)
busybox nc --help >/dev/null 2>&1 && NET_NC=(busybox nc)

case_net_user_hostfwd() {
	local name=net-user-hostfwd out=$GUEST_WORK/net-hostfwd.out err=$GUEST_WORK/net-hostfwd.err
	local out2=$GUEST_WORK/net-hostfwd2.out port=15555 pid reply status
	net_filter_skip "$name" "${1:-}" && return
	ip link set lo up 2>/dev/null || true
	GUEST_T0=$(date +%s%N)
	timeout -k 5 "$TIMEOUT" "$KVMM" run --kernel "$PAYLOAD_DIR/virtio_net.elf" \
		--net "user,hostfwd=tcp:127.0.0.1:$port-:80" --cmdline "tcp=80 wait=60 transport=pci" \
		--serial stdio --debug-exit </dev/null >"$out" 2>"$err" &
	pid=$!
	if ! net_wait_line "$out" '^virtio_net: listening' 60; then
		kill "$pid" 2>/dev/null
		wait "$pid"
		guest_not_ok "$name" "the payload never listened" "$out"
		sed 's/^/#   stderr: /' "$err" | tail -n 10
		return
	fi
	# the port is taken now: a second VM asking for it must fail cleanly
	timeout -k 5 30 "$KVMM" run --kernel "$PAYLOAD_DIR/virtio_net.elf" \
		--net "user,hostfwd=tcp:127.0.0.1:$port-:80" --serial stdio </dev/null >"$out2" 2>&1
	status=$?
	reply=$(printf 'ping-%s\n' "$$" | timeout 20 "${NET_NC[@]}" 127.0.0.1 "$port" 2>&1)
	wait "$pid"
	local st=$?
	if [ "$reply" != "pong: ping-$$" ]; then
		guest_not_ok "$name" "TCP reply '$reply', expected 'pong: ping-$$'" "$out"
	elif [ "$st" -ne 1 ] || ! grep -q '^ok - TCP: peer closed' "$out" ||
		! grep -q '^ok - DHCP ACK: address 10.0.2.15' "$out" ||
		! grep -q '^virtio_net: device at .* (virtio-pci)' "$out"; then
		guest_not_ok "$name" "exit status $st, expected 1 with DHCP and TCP done" "$out"
	elif [ "$status" -ne 2 ] || [ "$(wc -l <"$out2")" -ne 1 ] ||
		! grep -q "hostfwd tcp:127.0.0.1:$port: cannot listen: Address already in use" "$out2"; then
		guest_not_ok "$name" "second VM on a used port: status $status, expected 2 and one line" "$out2"
	else
		guest_ok "$name" "DHCP, then '$reply' through hostfwd (virtio-pci); used port refused"
	fi
}

case_net_user_dns() {
	local name=net-user-dns out=$GUEST_WORK/net-dns.out err=$GUEST_WORK/net-dns.err
	local log=$GUEST_WORK/net-dns.log bak=$GUEST_WORK/resolv.conf.bak dpid st had=0
	net_filter_skip "$name" "${1:-}" && return
	if [ "$(id -u)" -ne 0 ] || ! type -P dnsmasq >/dev/null; then
		guest_skip "$name" "needs root and dnsmasq (a resolver on 127.0.0.1:53)"
		return
	fi
	ip link set lo up 2>/dev/null || true
	dnsmasq --no-daemon --port=53 --listen-address=127.0.0.1 --bind-interfaces --no-resolv \
		--no-hosts --address=/kvmm.test/192.0.2.77 --local=/nx.test/ --log-queries \
		--pid-file >"$log" 2>&1 &
	dpid=$!
	if [ -e /etc/resolv.conf ] || [ -L /etc/resolv.conf ]; then
		cp -P /etc/resolv.conf "$bak" && had=1
	fi
	rm -f /etc/resolv.conf
	echo 'nameserver 127.0.0.1' >/etc/resolv.conf
	sleep 0.5
	GUEST_T0=$(date +%s%N)
	timeout -k 5 "$TIMEOUT" "$KVMM" run --kernel "$PAYLOAD_DIR/virtio_net.elf" --net user \
		--cmdline "transport=pci dns=kvmm.test:192.0.2.77 nxdns=nope.nx.test" \
		--serial stdio --debug-exit </dev/null >"$out" 2>"$err"
	st=$?
	kill "$dpid" 2>/dev/null
	wait "$dpid" 2>/dev/null
	rm -f /etc/resolv.conf
	[ "$had" -eq 1 ] && cp -P "$bak" /etc/resolv.conf
	if [ "$st" -ne 1 ] || ! grep -q '^ok - DNS kvmm.test -> 192.0.2.77 via 10.0.2.3' "$out"; then
		guest_not_ok "$name" "exit status $st (expected 1), no A record 192.0.2.77 for kvmm.test" "$out"
		sed 's/^/#   dnsmasq: /' "$log" | tail -n 10
		sed 's/^/#   stderr: /' "$err" | tail -n 10
	elif ! grep -q '^ok - DNS nope.nx.test -> NXDOMAIN via 10.0.2.3' "$out"; then
		guest_not_ok "$name" "nope.nx.test was not NXDOMAIN" "$out"
	else
		guest_ok "$name" "kvmm.test -> 192.0.2.77 and nope.nx.test -> NXDOMAIN through 10.0.2.3 (virtio-pci)"
	fi
}

# net_ns_cleanup NS: remove the namespace and everything in it.
net_ns_cleanup() {
	ip netns del "$1" 2>/dev/null || true
}

case_net_tap_netns() {
	local name=net-tap-netns ns=kvmm-tap out=$GUEST_WORK/net-tap.out err=$GUEST_WORK/net-tap.err
	local out2=$GUEST_WORK/net-tap2.out pid reply st status
	net_filter_skip "$name" "${1:-}" && return
	if ! net_have_tools; then
		guest_skip "$name" "needs root, /dev/net/tun and ip"
		return
	fi
	net_ns_cleanup $ns
	ip netns add $ns && ip -n $ns link set lo up &&
		ip -n $ns tuntap add dev ktap0 mode tap vnet_hdr &&
		ip -n $ns addr add 10.77.0.1/24 dev ktap0 && ip -n $ns link set ktap0 up || {
		guest_not_ok "$name" "cannot set up the namespace"
		net_ns_cleanup $ns
		return
	}
	GUEST_T0=$(date +%s%N)
	timeout -k 5 "$TIMEOUT" ip netns exec $ns "$KVMM" run --kernel "$PAYLOAD_DIR/virtio_net.elf" \
		--net tap,ifname=ktap0,transport=mmio --cmdline "static=10.77.0.2 peer=10.77.0.1 tcp=7777 wait=60" \
		--serial stdio --debug-exit </dev/null >"$out" 2>"$err" &
	pid=$!
	if net_wait_line "$out" '^virtio_net: listening' 60; then
		reply=$(printf 'tap\n' | timeout 20 ip netns exec $ns busybox nc 10.77.0.2 7777 2>&1)
	fi
	wait "$pid"
	st=$?
	# an interface that exists but is not a tap: one line, status 2, nothing changed
	timeout -k 5 30 ip netns exec $ns "$KVMM" run --kernel "$PAYLOAD_DIR/virtio_net.elf" --net tap,ifname=lo \
		--serial stdio </dev/null >"$out2" 2>&1
	status=$?
	if [ "$st" -ne 1 ] || [ "${reply:-}" != "pong: tap" ]; then
		guest_not_ok "$name" "exit status $st (expected 1), TCP reply '${reply:-}'" "$out"
		sed 's/^/#   stderr: /' "$err" | tail -n 10
	elif ! grep -q '^ok - ICMP echo reply from 10.77.0.1' "$out"; then
		guest_not_ok "$name" "no echo reply from the host side" "$out"
	elif [ "$status" -ne 2 ] || [ "$(wc -l <"$out2")" -ne 1 ]; then
		guest_not_ok "$name" "tap,ifname=lo: status $status, expected 2 and one line" "$out2"
	else
		guest_ok "$name" "ARP, ICMP and TCP with the host side of ktap0; '$(cat "$out2")'"
	fi
	net_ns_cleanup $ns
}

# kvmm creates a multi-queue tap itself (queues=2). Without MQ negotiated the device must detach
# the second tap queue (TUNSETQUEUE) or the host's frames steered to it would be lost; with MQ
# and VQ_PAIRS_SET 2 both are attached. Then: without CAP_NET_ADMIN (setpriv drops it) creating
# a tap fails with one line.
#
# net_mq_vm NS OUT EXTRA NETEXTRA: kvmm creates kmq0 with 2 queues in NS (NETEXTRA: more --net
# keys); once the payload is up the host side gets 10.76.0.1/24; prints "STATUS
# MULTIQUEUE-FLAG-SEEN".
net_mq_vm() {
	local ns=$1 out=$2 extra=$3 pid st seen
	timeout -k 5 "$TIMEOUT" ip netns exec "$ns" "$KVMM" run --kernel "$PAYLOAD_DIR/virtio_net.elf" \
		--net "tap,ifname=kmq0,queues=2${4:-}" --cmdline "static=10.76.0.2 peer=10.76.0.1 linger=1 $extra" \
		--serial stdio --debug-exit </dev/null >"$out" 2>&1 &
	pid=$!
	net_wait_line "$out" '^virtio_net: device at' 60
	seen=$(ip -n "$ns" -d link show kmq0 2>/dev/null | grep -c 'multi_queue')
	ip -n "$ns" addr add 10.76.0.1/24 dev kmq0 2>/dev/null
	wait "$pid"
	st=$?
	echo "$st $seen"
}

case_net_tap_mq() {
	local name=net-tap-mq ns=kvmm-mq out=$GUEST_WORK/net-mq.out out2=$GUEST_WORK/net-mq2.out
	local out3=$GUEST_WORK/net-mq3.out out4=$GUEST_WORK/net-mq4.out r1 r3 r4 status=2
	net_filter_skip "$name" "${1:-}" && return
	if ! net_have_tools; then
		guest_skip "$name" "needs root, /dev/net/tun and ip"
		return
	fi
	net_ns_cleanup $ns
	ip netns add $ns || {
		guest_not_ok "$name" "cannot create the namespace"
		return
	}
	GUEST_T0=$(date +%s%N)
	r1=$(net_mq_vm $ns "$out" "" ",transport=mmio")
	r3=$(net_mq_vm $ns "$out3" "mq transport=pci msix")
	r4=$(net_mq_vm $ns "$out4" "mq" ",transport=mmio")
	if type -P setpriv >/dev/null; then
		timeout -k 5 30 ip netns exec $ns setpriv --bounding-set=-net_admin "$KVMM" run \
			--kernel "$PAYLOAD_DIR/virtio_net.elf" --net tap,ifname=knew0 --serial stdio \
			</dev/null >"$out2" 2>&1
		status=$?
	else
		echo "kvmm run: (setpriv missing: not checked) no permission" >"$out2"
	fi
	if [ "$r1" != "1 1" ] || ! grep -q '^ok - ICMP echo reply from 10.76.0.1' "$out"; then
		guest_not_ok "$name" "one pair on a 2-queue tap: status/multi_queue '$r1', ping failed" "$out"
	elif [ "$r3" != "1 1" ] || ! grep -q '^ok - ICMP echo reply from 10.76.0.1' "$out3" ||
		! grep -q '^ok - MQ: 2 pairs, sent on tx1' "$out3" ||
		! grep -q '^virtio_net: device at .* (virtio-pci)' "$out3" ||
		! grep -q '^virtio_net: 5 queues, 6 MSI-X vectors' "$out3" ||
		! grep -q '^ok - MSI-X: control queue interrupt on vector 4' "$out3" ||
		! grep -q '^ok - MSI-X: tx1 interrupts on vector 3' "$out3"; then
		guest_not_ok "$name" "two pairs (mq): status/multi_queue '$r3'" "$out3"
	elif [ "$r4" != "1 1" ] || ! grep -q '^ok - MQ: 2 pairs, sent on tx1' "$out4" ||
		! grep -q '^virtio_net: device at .* (virtio-mmio)' "$out4"; then
		guest_not_ok "$name" "two pairs (mq) on virtio-mmio: status/multi_queue '$r4'" "$out4"
	elif ip -n $ns link show kmq0 >/dev/null 2>&1; then
		guest_not_ok "$name" "kmq0 left behind"
	elif [ "$status" -ne 2 ] || [ "$(wc -l <"$out2")" -ne 1 ] || ! grep -q 'no permission' "$out2"; then
		guest_not_ok "$name" "without CAP_NET_ADMIN: status $status" "$out2"
	else
		guest_ok "$name" "2-queue tap: 1 pair on virtio-mmio (spare queue detached) and 2 pairs on virtio-pci ($(grep -o 'received .* on rx1' "$out3"); $(grep -o 'MSI-X interrupts: .*' "$out3")) and virtio-mmio; removed; '$(cat "$out2")'"
	fi
	net_ns_cleanup $ns
}

case_net_bridge_2vm() {
	local name=net-bridge-2vm ns=kvmm-br outa=$GUEST_WORK/net-bra.out outb=$GUEST_WORK/net-brb.out
	local out3=$GUEST_WORK/net-br3.out pa pb sa sb status ports
	net_filter_skip "$name" "${1:-}" && return
	if ! net_have_tools; then
		guest_skip "$name" "needs root, /dev/net/tun and ip"
		return
	fi
	net_ns_cleanup $ns
	ip netns add $ns && ip -n $ns link add kbr0 type bridge &&
		ip -n $ns addr add 10.78.0.1/24 dev kbr0 && ip -n $ns link set kbr0 up || {
		guest_not_ok "$name" "cannot set up the namespace"
		net_ns_cleanup $ns
		return
	}
	GUEST_T0=$(date +%s%N)
	timeout -k 5 "$TIMEOUT" ip netns exec $ns "$KVMM" run --kernel "$PAYLOAD_DIR/virtio_net.elf" \
		--name vm-a --net bridge,br=kbr0 --cmdline "static=10.78.0.2 peer=10.78.0.3 linger=8 transport=pci" \
		--serial stdio --debug-exit </dev/null >"$outa" 2>&1 &
	pa=$!
	timeout -k 5 "$TIMEOUT" ip netns exec $ns "$KVMM" run --kernel "$PAYLOAD_DIR/virtio_net.elf" \
		--name vm-b --net bridge,br=kbr0,transport=mmio --cmdline "static=10.78.0.3 peer=10.78.0.2 linger=8" \
		--serial stdio --debug-exit </dev/null >"$outb" 2>&1 &
	pb=$!
	net_wait_line "$outa" 'ok - ICMP' 60
	ports=$(ip -n $ns link show master kbr0 2>/dev/null | grep -c 'kvmmtap')
	wait "$pa"
	sa=$?
	wait "$pb"
	sb=$?
	timeout -k 5 30 ip netns exec $ns "$KVMM" run --kernel "$PAYLOAD_DIR/virtio_net.elf" --net bridge,br=nobr0 \
		--serial stdio </dev/null >"$out3" 2>&1
	status=$?
	if [ "$sa" -ne 1 ] || [ "$sb" -ne 1 ]; then
		guest_not_ok "$name" "exit status $sa and $sb, expected 1 and 1" "$outa"
		sed 's/^/#   B: /' "$outb" | tail -n 15
	elif ! grep -q '^ok - ICMP echo reply from 10.78.0.3' "$outa" ||
		! grep -q '^ok - ICMP echo reply from 10.78.0.2' "$outb"; then
		guest_not_ok "$name" "the VMs did not ping each other" "$outa"
	elif [ "$ports" -ne 2 ] || ip -n $ns link show master kbr0 | grep -q kvmmtap; then
		guest_not_ok "$name" "bridge ports while running: $ports (expected 2), or left behind"
	elif [ "$status" -ne 2 ] || ! grep -q "bridge 'nobr0' does not exist" "$out3"; then
		guest_not_ok "$name" "missing bridge: status $status" "$out3"
	else
		guest_ok "$name" "two VMs (virtio-pci and virtio-mmio) pinged each other over kbr0; taps removed on exit"
	fi
	net_ns_cleanup $ns
}

case_net_nat() {
	local name=net-nat out=$GUEST_WORK/net-nat.out log=$GUEST_WORK/net-nat.log st left
	net_filter_skip "$name" "${1:-}" && return
	if ! net_have_tools nft dnsmasq; then
		guest_skip "$name" "needs root, /dev/net/tun, ip, nft and dnsmasq"
		return
	fi
	GUEST_T0=$(date +%s%N)
	{
		"$KVMM" net nat create knat0 --subnet 10.79.0.0/24 &&
			"$KVMM" net nat create knat0 --subnet 10.79.0.0/24 # idempotent
	} >"$log" 2>&1 || {
		guest_not_ok "$name" "kvmm net nat create failed" "$log"
		"$KVMM" net nat delete knat0 >/dev/null 2>&1
		return
	}
	timeout -k 5 "$TIMEOUT" "$KVMM" run --kernel "$PAYLOAD_DIR/virtio_net.elf" \
		--net bridge,br=knat0 --cmdline transport=pci --serial stdio --debug-exit </dev/null >"$out" 2>&1
	st=$?
	{ "$KVMM" net nat delete knat0 && "$KVMM" net nat delete knat0; } >>"$log" 2>&1
	left=$( (ip link show knat0 2>&1 | grep -v 'does not exist'; nft list ruleset | grep kvmm;
		pgrep -f 'dnsmasq.*knat0') 2>/dev/null)
	if [ "$st" -ne 1 ] || ! grep -q '^ok - DHCP ACK: address 10.79.0.' "$out" ||
		! grep -q '^ok - ICMP echo reply from 10.79.0.1' "$out"; then
		guest_not_ok "$name" "exit status $st: DHCP/ICMP over the NAT bridge failed" "$out"
		sed 's/^/#   log: /' "$log" | tail -n 10
	elif [ -n "$left" ]; then
		guest_not_ok "$name" "left behind after delete: $left" "$log"
	else
		guest_ok "$name" "DHCP from dnsmasq, ping to 10.79.0.1; nothing left after delete"
	fi
}

net_cases() {
	case_net_user_hostfwd "$@"
	case_net_user_dns "$@"
	case_net_tap_netns "$@"
	case_net_tap_mq "$@"
	case_net_bridge_2vm "$@"
	case_net_nat "$@"
}
