#!/bin/sh
# bench/nested-net-init.sh — PID 1 (busybox sh) of the bench/net guest that bench/nested-net.sh
# boots under QEMU TCG with an emulated AMD SVM CPU: loads kvm-amd and tun, then runs
# bench/net.sh (kvmm and QEMU microvm -accel kvm on that nested /dev/kvm, a tap in a network
# namespace, /kvmm/net-gen for the receive direction) and powers off.
#
# Markers on the serial console, read by bench/nested-net.sh:
#   BENCH-INFO: ...   facts (kernel, versions, the exact commands)
#   BENCH-SKIP: WHY   no /dev/kvm or no tap in this guest
#   RESULT ... / BENCH-FAIL: ... / BENCH-LOG: ...   from bench/net.sh (see its header)
#   BENCH-EXIT: N     bench/net.sh's exit status (0: every VM run passed)
#   BENCH-DONE
# Kernel command-line options (bench/net.sh's environment): bench.secs=T (default 3),
# bench.sizes=64,1500, bench.rounds=N (3), bench.vmms=kvmm,qemu, bench.vmtimeout=S (240).

/bin/busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s /bin
export PATH=/usr/bin:/bin
export HOME=/ TMPDIR=/tmp LC_ALL=C
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp
mkdir -p /run /var/run/netns 2>/dev/null

finish() {
	echo "BENCH-INFO: uptime at end $(cut -d' ' -f1 /proc/uptime) s"
	echo "BENCH-DONE"
	sync
	poweroff -f
	exit 1
}

secs=3
sizes=64,1500
rounds=3
vmms=kvmm,qemu
vmtimeout=240
# shellcheck disable=SC2013 # the command line is a list of words
for arg in $(cat /proc/cmdline); do
	case $arg in
	bench.secs=*) secs=${arg#bench.secs=} ;;
	bench.sizes=*) sizes=${arg#bench.sizes=} ;;
	bench.rounds=*) rounds=${arg#bench.rounds=} ;;
	bench.vmms=*) vmms=${arg#bench.vmms=} ;;
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

t0=$(cut -d' ' -f1 /proc/uptime)
BENCH_SECS=$secs BENCH_SIZES=$sizes BENCH_ROUNDS=$rounds BENCH_VMMS=$vmms \
	BENCH_VMTIMEOUT=$vmtimeout bash /kvmm/bench/net.sh /kvmm/kvmm /kvmm/payload /kvmm/net-gen
st=$?
echo "BENCH-INFO: benchmark took $(awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" \
	'BEGIN { printf "%.1f", b - a }') s"
[ $st = 77 ] && echo "BENCH-SKIP: bench/net.sh could not run"
echo "BENCH-EXIT: $st"
finish
