#!/bin/sh
# bench/nested-init.sh — PID 1 (busybox sh) of the bench/startup guest that
# bench/nested-startup.sh boots under QEMU TCG with an emulated AMD SVM CPU: loads kvm-amd,
# then runs bench/startup-probe with kvmm and QEMU microvm (-accel kvm) on the same payload
# against that nested /dev/kvm, and powers off.
#
# Markers on the serial console, read by bench/nested-startup.sh:
#   BENCH-INFO: ...      facts (kernel, CPU, timings, the exact commands)
#   BENCH-DMESG: ...     kernel messages about kvm/svm
#   BENCH-SKIP: REASON   no /dev/kvm in this guest
#   BENCH-PASS: timing|memory  starts a pass of bench/startup-probe: timing runs without smaps
#                        sampling (so the sampler does not compete with the VMM), memory runs
#                        sample /proc/PID/smaps every millisecond
#   RUN / WARMUP / MEDIAN lines of bench/startup-probe (see its header)
#   BENCH-SAMPLE NAME: ...  the serial output of one run of each VMM (evidence the payload ran)
#   BENCH-EXIT: STATUS   exit status of startup-probe
#   BENCH-DONE           the last line before power-off
# Kernel command-line options (set by nested-startup.sh):
#   bench.runs=N    measured runs per VMM in the timing pass (default 10)
#   bench.memruns=N measured runs per VMM in the memory pass (default 3)
#   bench.mem=MIB   guest RAM of both VMMs (default 128)

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

runs=10
memruns=3
mem=128
# shellcheck disable=SC2013 # the command line is a list of words
for arg in $(cat /proc/cmdline); do
	case $arg in
	bench.runs=*) runs=${arg#bench.runs=} ;;
	bench.memruns=*) memruns=${arg#bench.memruns=} ;;
	bench.mem=*) mem=${arg#bench.mem=} ;;
	esac
done

kver=$(uname -r)
echo "BENCH-INFO: kernel $kver, $(grep -c ^processor /proc/cpuinfo) CPUs," \
	"$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)," \
	"boot to init $(cut -d' ' -f1 /proc/uptime) s"
moddir=/lib/modules/$kver
if [ ! -f "$moddir/load-order" ]; then
	echo "BENCH-SKIP: no modules for kernel $kver in the initramfs (KVER mismatch)"
	finish
fi
# shellcheck disable=SC2013 # one module name per line
for m in $(cat "$moddir/load-order"); do
	if ! out=$(insmod "$moddir/$m.ko" 2>&1); then
		echo "BENCH-INFO: insmod $m failed: $out"
	fi
done
dmesg | grep -iE 'kvm|svm' | grep -v 'ommand line' | sed 's/^/BENCH-DMESG: /'
if [ ! -c /dev/kvm ]; then
	echo "BENCH-SKIP: /dev/kvm did not appear (CPU flags: $(grep -ow svm /proc/cpuinfo | head -n 1))"
	finish
fi
echo "BENCH-INFO: /dev/kvm ready at $(cut -d' ' -f1 /proc/uptime) s"

payload=/kvmm/payload/boot.elf
echo "BENCH-INFO: kvmm: /kvmm/kvmm run --kernel $payload --memory ${mem}M" \
	"--cmdline \"hello=world mem=$mem\" --serial stdio --debug-exit"
echo "BENCH-INFO: qemu: qemu-system-x86_64 -M microvm -accel kvm -nodefaults -no-user-config" \
	"-display none -serial stdio -m ${mem}M -device isa-debug-exit,iobase=0xf4,iosize=4" \
	"-kernel $payload -append \"hello=world mem=$mem qemu=1\""
echo "BENCH-INFO: $(qemu-system-x86_64 --version | head -n 1)"

# One run of each, with its serial output, so that the log shows the payload passed (exit
# status 1 = debug-exit with 0 = "PASS"; see tests/guest/cases.sh).
/kvmm/kvmm run --kernel "$payload" --memory "${mem}M" --cmdline "hello=world mem=$mem" \
	--serial stdio --debug-exit </dev/null 2>&1 | sed 's/^/BENCH-SAMPLE kvmm: /'
qemu-system-x86_64 -M microvm -accel kvm -nodefaults -no-user-config -display none \
	-serial stdio -m "${mem}M" -device isa-debug-exit,iobase=0xf4,iosize=4 -kernel "$payload" \
	-append "hello=world mem=$mem qemu=1" </dev/null 2>&1 | sed 's/^/BENCH-SAMPLE qemu: /'

# probe_pass SAMPLE_MS RUNS: both VMMs, interleaved, one warm-up each.
probe_pass() {
	/kvmm/startup-probe --runs "$2" --warmup 1 --guest-mib "$mem" --sample-ms "$1" --timeout 60 \
		--vmm kvmm /kvmm/kvmm run --kernel "$payload" --memory "${mem}M" \
		--cmdline "hello=world mem=$mem" --serial stdio --debug-exit \
		--vmm qemu qemu-system-x86_64 -M microvm -accel kvm -nodefaults -no-user-config \
		-display none -serial stdio -m "${mem}M" -device isa-debug-exit,iobase=0xf4,iosize=4 \
		-kernel "$payload" -append "hello=world mem=$mem qemu=1"
}

t0=$(cut -d' ' -f1 /proc/uptime)
echo "BENCH-PASS: timing"
probe_pass 0 "$runs"
st=$?
if [ "$st" = 0 ]; then
	echo "BENCH-PASS: memory"
	probe_pass 1 "$memruns"
	st=$?
fi
echo "BENCH-INFO: benchmark took $(awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" \
	'BEGIN { printf "%.1f", b - a }') s"
echo "BENCH-EXIT: $st"
finish
