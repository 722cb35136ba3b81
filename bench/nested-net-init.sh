#!/bin/sh
# bench/nested-net-init.sh — PID 1 (busybox sh) of the bench/net guest that bench/net.sh boots
# under QEMU TCG with an emulated AMD SVM CPU: loads kvm-amd and tun, makes a network namespace
# with a tap (nbt0, vnet_hdr, txqueuelen 10000, no address) and, for 64- and 1500-byte frames,
# each direction, runs the netbench payload under kvmm (--net tap,ifname=nbt0) and under QEMU
# microvm (-accel kvm, -netdev tap + virtio-net-device, userspace virtio-net: no vhost) on that
# nested /dev/kvm, one VMM after the other, in the namespace.
#   TX (guest -> host): the payload keeps its TX ring full for bench.secs seconds; the tap's
#       rx_packets (frames the host got from the VMM) are read before and after.
#   RX (host -> guest): once the payload says "rx ready", /kvmm/net-gen writes frames to the
#       guest's MAC into the tap as fast as the tap takes them; the payload counts what it
#       received during bench.secs seconds; the tap's tx_dropped tells what the VMM did not read
#       in time.
#
# Markers on the serial console, read by bench/net.sh:
#   BENCH-INFO: ...   facts (kernel, versions, the exact commands)
#   BENCH-SKIP: WHY   no /dev/kvm or no tap in this guest
#   RESULT vmm=kvmm|qemu dir=tx|rx size=S round=R pps=P frames=F tap=N [sent=G dropped=D]
#   BENCH-FAIL: WHAT  a VMM did not exit with the payload's PASS status
#   BENCH-EXIT: N     number of failures
#   BENCH-DONE
# Kernel command-line options: bench.secs=T (measured seconds per run, default 3),
# bench.sizes=64,1500, bench.rounds=N (default 3; kvmm and QEMU interleaved),
# bench.vmms=kvmm,qemu, bench.vmtimeout=S (seconds per VM run, default 240).

/bin/busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s /bin
export PATH=/usr/bin:/bin
export HOME=/ TMPDIR=/tmp LC_ALL=C
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp
mkdir -p /run /var/run/netns 2>/dev/null

# iproute2's ip, not busybox's applet (busybox sh and timeout run their own applets before
# searching PATH; so commands given to timeout name /usr/bin/ip).
ip() {
	/usr/bin/ip "$@"
}

finish() {
	echo "BENCH-INFO: uptime at end $(cut -d' ' -f1 /proc/uptime) s"
	echo "BENCH-DONE"
	sync
	poweroff -f
	exit 1
}

secs=3
sizes="64 1500"
rounds=3
vmms="kvmm qemu"
vmtimeout=240
# shellcheck disable=SC2013 # the command line is a list of words
for arg in $(cat /proc/cmdline); do
	case $arg in
	bench.secs=*) secs=${arg#bench.secs=} ;;
	bench.sizes=*) sizes=$(echo "${arg#bench.sizes=}" | tr , ' ') ;;
	bench.rounds=*) rounds=${arg#bench.rounds=} ;;
	bench.vmms=*) vmms=$(echo "${arg#bench.vmms=}" | tr , ' ') ;;
	bench.vmtimeout=*) vmtimeout=${arg#bench.vmtimeout=} ;;
	esac
done

kver=$(uname -r)
echo "BENCH-INFO: kernel $kver, $(grep -c ^processor /proc/cpuinfo) CPUs," \
	"$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
moddir=/lib/modules/$kver
# shellcheck disable=SC2013 # one module name per line
for m in $(cat "$moddir/load-order" 2>/dev/null); do
	insmod "$moddir/$m.ko" >/dev/null 2>&1 || echo "BENCH-INFO: insmod $m failed"
done
if [ ! -c /dev/kvm ]; then
	echo "BENCH-SKIP: /dev/kvm did not appear"
	finish
fi
[ -c /dev/net/tun ] || { mkdir -p /dev/net && mknod /dev/net/tun c 10 200; }
echo "BENCH-INFO: $(qemu-system-x86_64 --version | head -n 1)"

ns=kvmm-nb
tap=nbt0
mac=52:54:00:12:34:56
if ! { ip netns add $ns && ip -n $ns link set lo up &&
	ip -n $ns tuntap add dev $tap mode tap vnet_hdr &&
	ip -n $ns link set $tap txqueuelen 10000 && ip -n $ns link set $tap up; }; then
	echo "BENCH-SKIP: cannot make the tap in a namespace"
	finish
fi
ip netns exec $ns sh -c 'echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6' 2>/dev/null
payload=/kvmm/payload/netbench.elf
fails=0

# tapstat NAME: a counter of the tap.
tapstat() {
	ip netns exec $ns cat /sys/class/net/$tap/statistics/"$1"
}

# wait_line FILE REGEX SECS
wait_line() {
	i=0
	while [ $i -lt $(($3 * 10)) ]; do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# vmm_run VMM DIR SIZE: one VM run of the payload; prints a RESULT line.
vmm_run() {
	name=$1 dir=$2 size=$3 out=/tmp/$1-$2-$3.out
	args="mode=$dir size=$size secs=$secs"
	if [ "$name" = kvmm ]; then
		set -- /kvmm/kvmm run --kernel $payload --memory 256M --net "tap,ifname=$tap,mac=$mac" \
			--cmdline "$args" --serial stdio --debug-exit
	else
		set -- qemu-system-x86_64 -M microvm,rtc=on -accel kvm -nodefaults -no-user-config \
			-display none -serial stdio -m 256M -device isa-debug-exit,iobase=0xf4,iosize=4 \
			-global virtio-mmio.force-legacy=false \
			-netdev "tap,id=n0,ifname=$tap,script=no,downscript=no" \
			-device "virtio-net-device,netdev=n0,mac=$mac" -kernel $payload \
			-append "$args qemu=1"
	fi
	[ "$round" = 1 ] && echo "BENCH-INFO: $name $dir $size: ip netns exec $ns $*"
	rx0=$(tapstat rx_packets)
	drop0=$(tapstat tx_dropped)
	: >"$out"
	timeout -s KILL "$vmtimeout" /usr/bin/ip netns exec $ns "$@" </dev/null >"$out" 2>&1 &
	pid=$!
	gen=
	: >/tmp/gen.out
	if [ "$dir" = rx ]; then
		if wait_line "$out" '^netbench: rx ready' 120; then
			# not through the ip function: $! must be net-gen itself (ip netns exec
			# execs the command) so that kill stops it
			/usr/bin/ip netns exec $ns /kvmm/net-gen $tap "$size" $((secs + 120)) $mac \
				>/tmp/gen.out 2>&1 &
			gen=$!
		fi
	fi
	wait $pid
	st=$?
	if [ -n "$gen" ]; then
		kill $gen 2>/dev/null
		wait $gen
	fi
	tapn=$(($(tapstat rx_packets) - rx0))
	dropped=$(($(tapstat tx_dropped) - drop0))
	if [ "$st" != 1 ]; then
		echo "BENCH-FAIL: $name $dir $size exited with $st"
		sed 's/^/BENCH-LOG: /' "$out" | tail -n 15
		[ -n "$gen" ] && sed 's/^/BENCH-LOG: gen: /' /tmp/gen.out
		fails=$((fails + 1))
		return
	fi
	line=$(grep '^NETBENCH ' "$out" | head -n 1)
	if [ -z "$line" ]; then
		echo "BENCH-FAIL: $name $dir $size: no NETBENCH line"
		sed 's/^/BENCH-LOG: /' "$out" | tail -n 15
		fails=$((fails + 1))
		return
	fi
	pps=$(echo "$line" | sed -n 's/.* pps=\([0-9]*\).*/\1/p')
	frames=$(echo "$line" | sed -n 's/.* frames=\([0-9]*\).*/\1/p')
	notifies=$(echo "$line" | sed -n 's/.* notifies=\([0-9]*\).*/\1/p')
	if [ "$dir" = tx ]; then
		echo "RESULT vmm=$name dir=tx size=$size round=$round pps=$pps frames=$frames tap=$tapn notifies=$notifies"
	else
		sent=$(sed -n 's/^NETGEN sent=\([0-9]*\).*/\1/p' /tmp/gen.out)
		echo "RESULT vmm=$name dir=rx size=$size round=$round pps=$pps frames=$frames sent=${sent:-0} dropped=$dropped notifies=$notifies"
	fi
}

t0=$(cut -d' ' -f1 /proc/uptime)
for round in $(seq "$rounds"); do
	for size in $sizes; do
		for dir in tx rx; do
			for v in $vmms; do
				vmm_run "$v" "$dir" "$size"
			done
		done
	done
done
echo "BENCH-INFO: benchmark took $(awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" \
	'BEGIN { printf "%.1f", b - a }') s"
echo "BENCH-EXIT: $fails"
finish
