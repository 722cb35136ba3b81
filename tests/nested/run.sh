#!/usr/bin/env bash
# tests/nested/run.sh — run kvmm against real KVM on a host without /dev/kvm: boot a Linux guest
# under QEMU TCG with an emulated AMD CPU that has SVM, load kvm-amd inside it, and run the guest
# case table (tests/guest/run.sh, unmodified) there. `make check-nested`; docs/testing-nested.md.
#
#   KVMM=/abs/build/kvmm PAYLOAD_DIR=/abs/build/payload tests/nested/run.sh [NAME-REGEX]
#
# Environment (all optional except KVMM and PAYLOAD_DIR when NESTED_INITRD is not given):
#   NESTED_INITRD   a prebuilt initramfs (mkinitramfs.sh); otherwise one is built in NESTED_OUT
#   NESTED_OUT      directory for the initramfs and serial.log (default: a temporary directory)
#   NESTED_KVER     kernel version (default: newest with /boot/vmlinuz-KVER and kvm-amd.ko)
#   NESTED_KERNEL   kernel image (default /boot/vmlinuz-$NESTED_KVER)
#   NESTED_CPU      QEMU -cpu model (default EPYC: AMD, with svm and npt)
#   NESTED_SMP, NESTED_MEM   QEMU -smp / -m (default 2 / 2G)
#   NESTED_TIMEOUT  seconds for the whole QEMU run (default 600)
#   NESTED_CASE_TIMEOUT  per-case timeout inside the guest (default 300: hostile takes ~120 s)
#   NESTED_APPEND   extra guest kernel parameters (e.g. "kvmm.shell=1", or no "quiet": see
#                   init.sh); NESTED_MONITOR=1 adds a HMP monitor on NESTED_OUT/monitor.sock
#   QEMU            the QEMU binary (default qemu-system-x86_64)
# Prints the guest's TAP lines as they arrive and its "N passed, N failed, N skipped" line.
# Exits 0 (all passed), 1 (a case failed, or the guest never reported) or 77 (this environment
# cannot run the test: no QEMU, no kernel, or kvm-amd does not load in the TCG guest).
set -u

NESTED_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$NESTED_DIR/lib.sh"

QEMU=${QEMU:-qemu-system-x86_64}
FILTER=${1:-}

skip() {
	echo "# nested: SKIP: $*"
	echo "0 passed, 0 failed, 0 skipped"
	exit 77
}

command -v "$QEMU" >/dev/null 2>&1 || skip "$QEMU not found (apt-get install qemu-system-x86)"
KVER=$(nested_pick_kver)
[ -n "$KVER" ] || skip "no kernel with kvm-amd.ko (apt-get install linux-image-amd64)"
KERNEL=${NESTED_KERNEL:-/boot/vmlinuz-$KVER}
[ -r "$KERNEL" ] || skip "kernel $KERNEL is not readable"

if [ -n "${NESTED_OUT:-}" ]; then
	mkdir -p "$NESTED_OUT" || exit 1
	OUT=$NESTED_OUT
else
	OUT=$(mktemp -d "${TMPDIR:-/tmp}/kvmm-nested.XXXXXX") || exit 1
	trap 'rm -rf "$OUT"' EXIT
fi

INITRD=${NESTED_INITRD:-}
if [ -z "$INITRD" ]; then
	: "${KVMM:?KVMM must point at the kvmm binary (or set NESTED_INITRD)}"
	: "${PAYLOAD_DIR:?PAYLOAD_DIR must point at the built payloads (or set NESTED_INITRD)}"
	command -v busybox >/dev/null 2>&1 || skip "busybox not found (apt-get install busybox-static)"
	command -v cpio >/dev/null 2>&1 || skip "cpio not found (apt-get install cpio)"
	INITRD=$OUT/initramfs.cpio
	"$NESTED_DIR/mkinitramfs.sh" "$INITRD" "$KVMM" "$PAYLOAD_DIR" "$KVER" || exit 1
fi
[ -r "$INITRD" ] || { echo "# nested: $INITRD is not readable"; exit 1; }

# The kernel command line cannot hold spaces inside one parameter: the filter must not either.
case $FILTER in *[[:space:]]*)
	echo "# nested: the name regex must not contain blanks"
	exit 1
	;;
esac
APPEND="console=ttyS0 quiet panic=-1 kvmm.timeout=${NESTED_CASE_TIMEOUT:-300}"
[ -n "$FILTER" ] && APPEND="$APPEND kvmm.filter=$FILTER"
APPEND="$APPEND ${NESTED_APPEND:-}"
MONITOR=(-monitor none)
[ "${NESTED_MONITOR:-0}" = 1 ] && MONITOR=(-monitor "unix:$OUT/monitor.sock,server=on,wait=off")

LOG=$OUT/serial.log
# Lines shown live: TAP, the summary, the markers and kernel trouble (soft lockups, oopses).
SHOW='^(ok |not ok |#|[0-9]+ passed, |NESTED-(INFO|SKIP|EXIT))|(BUG|Oops|panic|WARNING|watchdog)'
echo "# nested: $QEMU -accel tcg -cpu ${NESTED_CPU:-EPYC} -smp ${NESTED_SMP:-2}" \
	"-m ${NESTED_MEM:-2G}, kernel $KERNEL, initrd $INITRD ($(du -h "$INITRD" | cut -f1))"
t0=$(date +%s%N)
# -nodefaults: no VGA, no NIC option ROM (faster firmware); the serial port is the only output.
timeout -k 10 "${NESTED_TIMEOUT:-600}" "$QEMU" -accel tcg -cpu "${NESTED_CPU:-EPYC}" \
	-smp "${NESTED_SMP:-2}" -m "${NESTED_MEM:-2G}" -nodefaults -display none -no-reboot \
	-serial stdio "${MONITOR[@]}" -kernel "$KERNEL" -initrd "$INITRD" -append "$APPEND" \
	</dev/null 2>"$OUT/qemu.err" | sed -u 's/\r$//' | tee "$LOG" |
	grep --line-buffered -aE "$SHOW"
qemu_status=${PIPESTATUS[0]}
secs=$((($(date +%s%N) - t0) / 1000000000))
echo "# nested: QEMU exited with status $qemu_status after $secs s; serial log: $LOG"

if grep -aq '^NESTED-SKIP:' "$LOG"; then
	echo "# nested: the TCG guest cannot run KVM; its kernel said:"
	grep -a '^NESTED-DMESG:' "$LOG" | sed 's/^NESTED-DMESG: /#   /'
	skip "$(sed -n 's/^NESTED-SKIP: //p' "$LOG" | head -n 1)"
fi
status=$(sed -n 's/^NESTED-EXIT: \([0-9]*\)$/\1/p' "$LOG" | tail -n 1)
if [ -z "$status" ]; then
	echo "# nested: FAIL: the guest never reported a result (timeout ${NESTED_TIMEOUT:-600} s," \
		"QEMU status $qemu_status); last lines of the serial log:"
	tail -n 40 "$LOG" | sed 's/^/#   /'
	sed 's/^/#   qemu: /' "$OUT/qemu.err" | grep -v "TCG doesn't support" | tail -n 10
	[ -n "${NESTED_OUT:-}" ] || trap - EXIT # keep the logs for inspection
	exit 3 # distinct from a failed case: the L1 guest itself hung (see docs/testing-nested.md)
fi
if ! grep -aqE '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$LOG"; then
	echo "# nested: FAIL: no summary line from tests/guest/run.sh (status $status)"
	exit 1
fi
case $status in
0) exit 0 ;;
77)
	grep -a '^NESTED-DMESG:' "$LOG" | sed 's/^NESTED-DMESG: /#   /'
	skip "tests/guest/run.sh inside the guest could not use /dev/kvm"
	;;
*) exit 1 ;;
esac
