#!/bin/sh
# bench/nested-blk-init.sh — PID 1 (busybox sh) of the bench/blk guest that bench/blk.sh boots
# under QEMU TCG with an emulated AMD SVM CPU: loads kvm-amd and loop, makes a 64 MiB raw image
# in tmpfs, and for cache=writeback (the file) and cache=none (O_DIRECT on a loop device over the
# same file; tmpfs has no O_DIRECT in this kernel) runs the blkbench payload under kvmm and under
# QEMU microvm (-accel kvm, aio=io_uring) against that nested /dev/kvm over both transports
# (mmio: kvmm transport=mmio vs QEMU virtio-blk-device; pci: kvmm's default modern virtio-pci vs
# QEMU pcie=on virtio-blk-pci,disable-legacy=on; the payload gets transport=pci), and
# fio (io_uring, same block sizes, queue depths and request counts) on the same file or device.
#
# Markers on the serial console, read by bench/blk.sh:
#   BENCH-INFO: ...   facts (kernel, versions, the exact commands)
#   BENCH-SKIP: WHY   no /dev/kvm in this guest
#   RESULT vmm=kvmm|qemu|fio [transport=mmio|pci] cache=writeback|none name=N qd=Q iops=I
#   BENCH-FAIL: WHAT  a VMM did not exit with the payload's PASS status
#   BENCH-EXIT: N     number of failures
#   BENCH-DONE
# Kernel command-line options: bench.ops=N (requests per workload, default 2000),
# bench.vmtimeout=S (seconds per VM run, default 300), bench.vmms=kvmm,qemu (which VMMs),
# bench.rounds=N (default 3: every measurement N times, kvmm, QEMU and fio interleaved),
# bench.transports=mmio,pci (which virtio transports).

/bin/busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s /bin
export PATH=/usr/bin:/bin
export HOME=/ TMPDIR=/tmp LC_ALL=C
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp

finish() {
	echo "BENCH-INFO: uptime at end $(cut -d' ' -f1 /proc/uptime) s"
	echo "BENCH-DONE"
	sync
	poweroff -f
	exit 1
}

ops=2000
vmtimeout=300
vmms="kvmm qemu"
rounds=3
transports="mmio pci"
# shellcheck disable=SC2013 # the command line is a list of words
for arg in $(cat /proc/cmdline); do
	case $arg in
	bench.ops=*) ops=${arg#bench.ops=} ;;
	bench.vmtimeout=*) vmtimeout=${arg#bench.vmtimeout=} ;;
	bench.rounds=*) rounds=${arg#bench.rounds=} ;;
	bench.vmms=*) vmms=$(echo "${arg#bench.vmms=}" | tr , ' ') ;;
	bench.transports=*) transports=$(echo "${arg#bench.transports=}" | tr , ' ') ;;
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
echo "BENCH-INFO: $(qemu-system-x86_64 --version | head -n 1); $(fio --version)"

img=/tmp/blk.img
dd if=/dev/zero of=$img bs=1M count=64 2>/dev/null
loop=$(losetup -f) && losetup "$loop" $img || loop=
payload=/kvmm/payload/blkbench.elf
fails=0

# vmm_run NAME CACHE TARGET TRANSPORT: one VM run of the payload (all six workloads).
vmm_run() {
	local name=$1 cache=$2 target=$3 tr=$4 out=/tmp/$1-$2-$4.out st
	if [ "$name" = kvmm ] && [ "$tr" = mmio ]; then
		set -- /kvmm/kvmm run --kernel $payload --memory 256M \
			--disk "path=$target,cache=$cache,transport=mmio" --cmdline "ops=$ops" --serial stdio --debug-exit
	elif [ "$name" = kvmm ]; then
		set -- /kvmm/kvmm run --kernel $payload --memory 256M \
			--disk "path=$target,cache=$cache" --cmdline "ops=$ops transport=pci" --serial stdio --debug-exit
	elif [ "$tr" = mmio ]; then
		set -- qemu-system-x86_64 -M microvm,rtc=on -accel kvm -nodefaults -no-user-config \
			-display none -serial stdio -m 256M -device isa-debug-exit,iobase=0xf4,iosize=4 \
			-global virtio-mmio.force-legacy=false \
			-drive "id=d0,file=$target,format=raw,if=none,cache=$cache,aio=io_uring" \
			-device virtio-blk-device,drive=d0 -kernel $payload -append "ops=$ops qemu=1"
	else
		set -- qemu-system-x86_64 -M microvm,pcie=on,rtc=on -accel kvm -nodefaults -no-user-config \
			-display none -serial stdio -m 256M -device isa-debug-exit,iobase=0xf4,iosize=4 \
			-drive "id=d0,file=$target,format=raw,if=none,cache=$cache,aio=io_uring" \
			-device virtio-blk-pci,disable-legacy=on,drive=d0 -kernel $payload \
			-append "ops=$ops qemu=1 transport=pci"
	fi
	echo "BENCH-INFO: $name $tr cache=$cache: $*"
	timeout -s KILL "$vmtimeout" "$@" </dev/null >"$out" 2>&1
	st=$?
	if [ "$st" != 1 ]; then
		echo "BENCH-FAIL: $name $tr cache=$cache exited with $st"
		sed 's/^/BENCH-LOG: /' "$out" | tail -n 15
		fails=$((fails + 1))
	fi
	sed -n 's/^BLKBENCH \([a-z]*\) bs=[0-9]* qd=\([0-9]*\) .* iops=\([0-9]*\) .*/\1 \2 \3/p' "$out" |
		while read -r n q i; do
			echo "RESULT vmm=$name transport=$tr cache=$cache name=$n qd=$q iops=$i round=$round"
		done
}

# fio_run CACHE TARGET: the same six workloads with fio's io_uring engine.
fio_run() {
	local cache=$1 target=$2 direct=0 spec rw bs qd name f
	[ "$cache" = none ] && direct=1
	for spec in randread:randread:4k:1 randread:randread:4k:32 seqread:read:64k:1 \
		seqread:read:64k:32 seqwrite:write:64k:1 seqwrite:write:64k:32; do
		IFS=: read -r name rw bs qd <<EOF
$spec
EOF
		f=8
		[ "$rw" = write ] && f=49
		iops=$(fio --name=b --filename="$target" --rw="$rw" --bs="$bs" --iodepth="$qd" \
			--ioengine=io_uring --direct=$direct --size=64M --number_ios="$ops" \
			--output-format=terse 2>/dev/null | cut -d';' -f$f)
		echo "RESULT vmm=fio cache=$cache name=$name qd=$qd iops=${iops:-0} round=$round"
	done
	echo "BENCH-INFO: fio cache=$cache: fio --name=b --filename=$target --rw=RW --bs=BS" \
		"--iodepth=QD --ioengine=io_uring --direct=$direct --size=64M --number_ios=$ops"
}

t0=$(cut -d' ' -f1 /proc/uptime)
for round in $(seq "$rounds"); do
	for cache in writeback none; do
		target=$img
		if [ "$cache" = none ]; then
			if [ -z "$loop" ]; then
				echo "BENCH-INFO: no loop device: cache=none not measured"
				continue
			fi
			target=$loop
		fi
		for tr in $transports; do
			for v in $vmms; do
				vmm_run "$v" $cache $target "$tr"
			done
		done
		fio_run $cache $target
	done
done
echo "BENCH-INFO: benchmark took $(awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" \
	'BEGIN { printf "%.1f", b - a }') s"
echo "BENCH-EXIT: $fails"
finish
