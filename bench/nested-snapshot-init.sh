#!/bin/sh
# bench/nested-snapshot-init.sh — PID 1 (busybox sh) of the guest bench/nested-snapshot.sh boots
# under QEMU TCG with an emulated AMD SVM CPU: loads kvm-amd, runs bench/snapshot.sh (kvmm
# snapshot/restore next to QEMU migrate/-incoming) against that nested /dev/kvm, powers off.
# Markers: BENCH-INFO:, BENCH-SKIP: REASON, BENCH-EXIT: STATUS, BENCH-DONE; the SAVE, READY,
# RUN, WARMUP and MEDIAN lines of bench/snapshot.sh pass through.
# Kernel command-line options: bench.runs=N (restores per VMM and size), bench.sizes=A:B,C:D
# (guest MiB:touched MiB, default 256:64,2048:256), bench.qemu=0 (kvmm only), bench.ready=N
# (kvmm -v restores for the READY and STEPS lines, default 1).
/bin/busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s /bin
export PATH=/usr/bin:/bin
export HOME=/ TMPDIR=/tmp LC_ALL=C
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp

finish() {
	echo "BENCH-DONE"
	sync
	poweroff -f
	exit 1
}

runs=3
sizes="256:64,2048:256"
qemu=1
ready=1
# shellcheck disable=SC2013 # the command line is a list of words
for arg in $(cat /proc/cmdline); do
	case $arg in
	bench.runs=*) runs=${arg#bench.runs=} ;;
	bench.sizes=*) sizes=${arg#bench.sizes=} ;;
	bench.qemu=*) qemu=${arg#bench.qemu=} ;;
	bench.ready=*) ready=${arg#bench.ready=} ;;
	esac
done
kver=$(uname -r)
echo "BENCH-INFO: kernel $kver, $(grep -c ^processor /proc/cpuinfo) CPUs, $(sed -n 's/^MemTotal: *//p' /proc/meminfo) RAM"
moddir=/lib/modules/$kver
# shellcheck disable=SC2013 # one module name per line
for m in $(cat "$moddir/load-order" 2>/dev/null); do
	insmod "$moddir/$m.ko" 2>/dev/null
done
if [ ! -c /dev/kvm ]; then
	echo "BENCH-SKIP: /dev/kvm did not appear"
	finish
fi
echo "BENCH-INFO: $(qemu-system-x86_64 --version | head -n 1)"
q="qemu-system-x86_64"
[ "$qemu" = 0 ] && q=/nonexistent/qemu
BENCH_RUNS=$runs BENCH_SIZES=$(echo "$sizes" | tr ',' ' ') BENCH_READY_RUNS=$ready \
	bash /kvmm/bench/snapshot.sh /kvmm/kvmm /kvmm/tests/snapshot-drive /kvmm/payload \
	/kvmm/startup-probe "$q"
echo "BENCH-EXIT: $?"
finish
