#!/bin/sh
# tests/nested/init.sh — PID 1 of the nested-KVM test guest (busybox sh). Built into the
# initramfs by mkinitramfs.sh and booted under QEMU TCG by run.sh.
#
# Mounts the pseudo file systems, loads kvm and kvm-amd (listed in /lib/modules/KVER/load-order),
# checks /dev/kvm, then runs the guest case table through the unmodified tests/guest/run.sh
# against /kvmm/kvmm and powers off. Everything goes to the serial console; the host script
# reads these marker lines:
#   NESTED-INFO: ...          facts (kernel, CPU, timings)
#   NESTED-DMESG: ...         kernel messages about kvm/svm
#   NESTED-SKIP: REASON       the environment cannot run KVM (host run.sh exits 77)
#   NESTED-EXIT: STATUS       exit status of tests/guest/run.sh (0 pass, 1 fail, 77 skip)
#   NESTED-ALIVE UPTIME       a heartbeat every 10 s while the tests run: run.sh's progress
#                             watchdog ends the run as an L1 hang when lines stop coming
#   NESTED-DONE               the last line before power-off
# Kernel command-line options (set by run.sh):
#   kvmm.filter=REGEX   run only the cases whose name matches (passed to run.sh)
#   kvmm.timeout=SECS   per-case timeout (GUEST_TIMEOUT), default 120
#   kvmm.shell=1        start an interactive shell instead of the tests (debugging)
#   kvmm.testhang=NAME[:panic]  test of the hang handling only: when case NAME reports, swallow
#                       its result line and freeze userspace (kill -STOP -1: no heartbeat, no
#                       output, like a hung L1), or with :panic crash the kernel (sysrq c)
# A file /kvmm/done (appended to the initramfs by run.sh when it resumes after a hang) lists
# the cases whose results the host already has: GUEST_DONE, they are not run again.

/bin/busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
# --install resolves its own path through /proc/self/exe: mount /proc first.
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s /bin
export PATH=/usr/bin:/bin
export HOME=/ TMPDIR=/tmp LC_ALL=C
# For a kvmm built with SAN=address,undefined: a sanitizer report must not exit with status 1,
# which tests/guest/run.sh reads as "payload passed".
export ASAN_OPTIONS=exitcode=99 UBSAN_OPTIONS=exitcode=98:print_stacktrace=1

mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp

finish() {
	echo "NESTED-INFO: uptime at end $(cut -d' ' -f1 /proc/uptime) s"
	echo "NESTED-DONE"
	sync
	poweroff -f
	# Not reached unless power-off failed; PID 1 exiting panics, and panic=-1 reboots, which
	# QEMU -no-reboot turns into an exit.
	exit 1
}

filter=
timeout=120
shell=0
testhang=
# shellcheck disable=SC2013 # the command line is a list of words
for arg in $(cat /proc/cmdline); do
	case $arg in
	kvmm.filter=*) filter=${arg#kvmm.filter=} ;;
	kvmm.timeout=*) timeout=${arg#kvmm.timeout=} ;;
	kvmm.shell=1) shell=1 ;;
	kvmm.testhang=*) testhang=${arg#kvmm.testhang=} ;;
	esac
done

kver=$(uname -r)
echo "NESTED-INFO: kernel $kver, $(grep -c ^processor /proc/cpuinfo) CPUs," \
	"$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)," \
	"boot to init $(cut -d' ' -f1 /proc/uptime) s"
svm=yes
grep -qw svm /proc/cpuinfo || svm="no (QEMU -cpu needs an AMD model with +svm)"
svm_flags='svm|npt|nrip_save|lbrv|svm_lock|vmcb_clean|flushbyasid|decodeassists|pause_filter'
svm_flags="$svm_flags|pfthreshold|vgif|v_vmsave_vmload|avic|x2apic|tsc_deadline_timer"
echo "NESTED-INFO: svm features: $(sed -n 's/^flags[[:space:]]*: //p' /proc/cpuinfo | head -n 1 |
	tr ' ' '\n' | grep -xE "$svm_flags" | tr '\n' ' ')"

moddir=/lib/modules/$kver
if [ ! -f "$moddir/load-order" ]; then
	echo "NESTED-SKIP: no modules for kernel $kver in the initramfs (KVER mismatch)"
	finish
fi
# shellcheck disable=SC2013 # one module name per line, no blanks
for m in $(cat "$moddir/load-order"); do
	if ! out=$(insmod "$moddir/$m.ko" 2>&1); then
		echo "NESTED-INFO: insmod $m failed: $out"
	fi
done
dmesg | grep -iE 'kvm|svm|ccp' | grep -v 'ommand line' | sed 's/^/NESTED-DMESG: /'
if [ ! -c /dev/kvm ]; then
	echo "NESTED-SKIP: /dev/kvm did not appear after loading" \
		"$(tr '\n' ' ' <"$moddir/load-order")(CPU svm flag: $svm)"
	finish
fi
echo "NESTED-INFO: /dev/kvm ready at $(cut -d' ' -f1 /proc/uptime) s"

if [ "$shell" = 1 ]; then
	echo "NESTED-INFO: kvmm.shell=1: starting a shell; 'exit' powers off"
	setsid cttyhack sh
	finish
fi

# testhang_filter NAME[:panic]: copy the runner's output; at case NAME's result, hang.
testhang_filter() {
	while IFS= read -r line; do
		case $line in
		"ok "*" - ${1%:panic}" | "ok "*" - ${1%:panic} "* | "not ok "*" - ${1%:panic}" | \
			"not ok "*" - ${1%:panic} "*)
			if [ "${1%:panic}" != "$1" ]; then
				echo c >/proc/sysrq-trigger
			fi
			kill -STOP -1 # every process but PID 1 and this one
			while :; do sleep 3600; done
			;;
		esac
		printf '%s\n' "$line"
	done
}

cd /kvmm || finish
export GUEST_DONE=
if [ -f /kvmm/done ]; then
	GUEST_DONE=$(tr '\n' ' ' </kvmm/done)
	echo "NESTED-INFO: resuming: $(wc -w </kvmm/done) cases already have a result"
fi
# Heartbeat for the host's progress watchdog (run.sh NESTED_STALL).
(while :; do
	sleep 10
	echo "NESTED-ALIVE $(cut -d' ' -f1 /proc/uptime)"
done) &
alive=$!
t0=$(cut -d' ' -f1 /proc/uptime)
# hostile's 256 KiB rep ins/outs make this L1 kernel's KVM (on TCG's emulated SVM) loop in
# its string-I/O emulation until soft lockups, and on one L1 CPU it never returns; the case is
# covered by check-guest-qemu and by check-guest on hosts with /dev/kvm.
run_guest() {
	KVMM=/kvmm/kvmm PAYLOAD_DIR=/kvmm/payload GUEST_TIMEOUT=$timeout GUEST_LOG_LINES=40 \
		GUEST_SKIP='^hostile$' GUEST_SKIP_WHY='string I/O wedges the nested L1 kernel' \
		bash /kvmm/tests/guest/run.sh ${filter:+"$filter"} </dev/null
}
if [ -n "$testhang" ]; then
	echo "NESTED-INFO: kvmm.testhang=$testhang: the guest hangs at that case's result"
	{
		run_guest
		echo $? >/tmp/run.status
	} 2>&1 | testhang_filter "$testhang"
	st=$(cat /tmp/run.status)
else
	run_guest
	st=$?
fi
kill "$alive" 2>/dev/null
echo "NESTED-INFO: test run took $(awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" \
	'BEGIN { printf "%.1f", b - a }') s"
echo "NESTED-EXIT: $st"
finish
