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
#   NESTED_ACCEL   QEMU -accel (default tcg; e.g. tcg,thread=single)
#   NESTED_TIMEOUT  seconds for the whole QEMU run (default 900)
#   NESTED_STALL    seconds without a line of progress from the guest (a case result, a marker
#                   or its 10-s heartbeat) after which the L1 guest counts as hung (default 90)
#   NESTED_RESUME   the serial.log of an attempt that hung: its case results are kept, only the
#                   cases without one run (GUEST_DONE in the guest), one combined table is printed
#   NESTED_TEST_HANG  NAME[:panic], tests of the hang handling only: the guest hangs (or panics)
#                   when case NAME reports, its result withheld (init.sh kvmm.testhang)
#   NESTED_CASE_TIMEOUT  per-case timeout inside the guest (default 300: hostile takes ~120 s)
#   NESTED_APPEND   extra guest kernel parameters (e.g. "kvmm.shell=1", or no "quiet": see
#                   init.sh); NESTED_MONITOR=1 adds a HMP monitor on NESTED_OUT/monitor.sock
#   QEMU            the QEMU binary (default qemu-system-x86_64)
# Prints the guest's TAP lines as they arrive and its "N passed, N failed, N skipped" line.
# Exits 0 (all passed), 1 (a case failed), 3 (the L1 guest hung or crashed: no progress for
# NESTED_STALL s, a panic such as the soft-lockup one, or NESTED_TIMEOUT; no case failed) or
# 77 (this environment cannot run the test: no QEMU, no kernel, or kvm-amd does not load in
# the TCG guest). tests/nested/check.sh (make check-nested) resumes once after status 3.
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

# Resume: the previous attempt's results; the guest gets their names in /kvmm/done, appended
# to the initramfs as a second cpio archive (the kernel unpacks concatenated archives).
PREV=
if [ -n "${NESTED_RESUME:-}" ]; then
	PREV=$OUT/prev-results
	nested_results <"$NESTED_RESUME" >"$PREV" || exit 1
	mkdir -p "$OUT/resume/kvmm" || exit 1
	nested_result_names <"$PREV" >"$OUT/resume/kvmm/done"
	(cd "$OUT/resume" && echo kvmm/done | cpio -o -H newc --owner 0:0 --quiet) \
		>"$OUT/resume.cpio" || exit 1
	cat "$INITRD" "$OUT/resume.cpio" >"$OUT/initramfs-resume.cpio" || exit 1
	INITRD=$OUT/initramfs-resume.cpio
	echo "# nested: resuming after a hang: keeping $(wc -l <"$PREV") results of" \
		"$NESTED_RESUME, running the cases without one"
fi

# The kernel command line cannot hold spaces inside one parameter: the filter must not either.
case $FILTER in *[[:space:]]*)
	echo "# nested: the name regex must not contain blanks"
	exit 1
	;;
esac
# softlockup_panic=1: a CPU stuck for 2 * watchdog_thresh s panics the L1 kernel, and with
# panic=-1 and -no-reboot QEMU exits at once (a hung L1 has shown both CPUs in soft lockup).
# watchdog_thresh=20 (default 10): 40 s, so that a merely slow TCG guest is not killed.
APPEND="console=ttyS0 quiet panic=-1 softlockup_panic=1 watchdog_thresh=20"
APPEND="$APPEND kvmm.timeout=${NESTED_CASE_TIMEOUT:-300}"
[ -n "$FILTER" ] && APPEND="$APPEND kvmm.filter=$FILTER"
[ -n "${NESTED_TEST_HANG:-}" ] && APPEND="$APPEND kvmm.testhang=$NESTED_TEST_HANG"
APPEND="$APPEND ${NESTED_APPEND:-}"
MONITOR=(-monitor none)
[ "${NESTED_MONITOR:-0}" = 1 ] && MONITOR=(-monitor "unix:$OUT/monitor.sock,server=on,wait=off")

LOG=$OUT/serial.log
# Lines shown live: TAP, the summary, the markers and kernel trouble (soft lockups, oopses).
SHOW='^(ok |not ok |#|[0-9]+ passed, |NESTED-(INFO|SKIP|EXIT))|(BUG|Oops|panic|WARNING|watchdog)'
STALL=${NESTED_STALL:-90}
TIMEOUT=${NESTED_TIMEOUT:-900}
echo "# nested: $QEMU -accel ${NESTED_ACCEL:-tcg} -cpu ${NESTED_CPU:-EPYC} -smp ${NESTED_SMP:-2}" \
	"-m ${NESTED_MEM:-2G}, kernel $KERNEL, initrd $INITRD ($(du -h "$INITRD" | cut -f1))"
t0=$(date +%s%N)
FIFO=$OUT/serial.fifo
rm -f "$FIFO"
mkfifo "$FIFO" || exit 1
# -nodefaults: no VGA, no NIC option ROM (faster firmware); the serial port is the only output.
timeout -k 10 "$TIMEOUT" "$QEMU" -accel "${NESTED_ACCEL:-tcg}" -cpu "${NESTED_CPU:-EPYC}" \
	-smp "${NESTED_SMP:-2}" -m "${NESTED_MEM:-2G}" -nodefaults -display none -no-reboot \
	-serial stdio "${MONITOR[@]}" -kernel "$KERNEL" -initrd "$INITRD" -append "$APPEND" \
	</dev/null 2>"$OUT/qemu.err" >"$FIFO" &
qpid=$!
exec {serial}<"$FIFO" {logfd}>"$LOG"
rm -f "$FIFO"
# The progress watchdog: a result, a marker or the guest's heartbeat (NESTED-ALIVE, every 10 s)
# restarts it; kernel messages do not (a hung L1 still prints soft-lockup reports).
last=$SECONDS
stalled=0
partial=
nested_line() {
	local line=${1%$'\r'}
	printf '%s\n' "$line" >&"$logfd"
	case $line in "ok "* | "not ok "* | NESTED-*) last=$SECONDS ;; esac
	[[ $line =~ $SHOW ]] && printf '%s\n' "$line"
	return 0
}
while :; do
	left=$((STALL - (SECONDS - last)))
	[ "$left" -ge 1 ] || left=1
	chunk=
	rc=0
	IFS= read -r -t "$left" -u "$serial" chunk || rc=$?
	if [ "$rc" = 0 ]; then
		nested_line "$partial$chunk"
		partial=
	else
		partial=$partial$chunk
	fi
	if [ "$rc" != 0 ] && [ "$rc" -le 128 ]; then # end of file: QEMU exited
		[ -n "$partial" ] && nested_line "$partial"
		break
	fi
	if [ "$stalled" = 0 ] && [ $((SECONDS - last)) -ge "$STALL" ]; then
		stalled=$((SECONDS - last))
		echo "# nested: no progress from the guest for $stalled s (NESTED_STALL): stopping QEMU"
		kill "$qpid" 2>/dev/null
	fi
done
exec {serial}<&- {logfd}>&-
wait "$qpid"
qemu_status=$?
secs=$((($(date +%s%N) - t0) / 1000000000))
echo "# nested: QEMU exited with status $qemu_status after $secs s; serial log: $LOG"

if grep -aq '^NESTED-SKIP:' "$LOG"; then
	echo "# nested: the TCG guest cannot run KVM; its kernel said:"
	grep -a '^NESTED-DMESG:' "$LOG" | sed 's/^NESTED-DMESG: /#   /'
	skip "$(sed -n 's/^NESTED-SKIP: //p' "$LOG" | head -n 1)"
fi
status=$(sed -n 's/^NESTED-EXIT: \([0-9]*\)$/\1/p' "$LOG" | tail -n 1)
# After a resume: one table of both attempts' results, and which cases the retry ran.
nfail=0
if [ -n "$PREV" ]; then
	nested_results <"$LOG" >"$OUT/retry-results"
	echo "# nested: combined results (the first attempt's, then the retry's):"
	cat "$PREV" "$OUT/retry-results" | nested_table
	echo "# nested: ran in the retry (NESTED_SMP=${NESTED_SMP:-2}): $(nested_result_names \
		<"$OUT/retry-results" | tr '\n' ' ')"
	nfail=$(cat "$PREV" "$OUT/retry-results" | grep -c '^not ok ')
fi
if [ -z "$status" ]; then
	if [ "$stalled" != 0 ]; then
		why="no progress for $stalled s (NESTED_STALL)"
	elif [ "$qemu_status" = 124 ]; then
		why="whole-run timeout $TIMEOUT s (NESTED_TIMEOUT)"
	else
		why="QEMU exited with status $qemu_status: a kernel panic (softlockup_panic) or crash"
	fi
	echo "# nested: HANG: the L1 guest never reported a result: $why; last lines of the serial log:"
	grep -av '^NESTED-ALIVE' "$LOG" | tail -n 40 | sed 's/^/#   /'
	sed 's/^/#   qemu: /' "$OUT/qemu.err" | grep -v "TCG doesn't support" | tail -n 10
	[ -n "${NESTED_OUT:-}" ] || trap - EXIT # keep the logs for inspection
	# 3, distinct from a failed case: the L1 guest itself hung (docs/testing-nested.md); but a
	# case that failed in either attempt of a resumed run is a failure.
	[ "$nfail" -gt 0 ] && exit 1
	exit 3
fi
if ! grep -aqE '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$LOG"; then
	echo "# nested: FAIL: no summary line from tests/guest/run.sh (status $status)"
	exit 1
fi
[ "$nfail" -gt 0 ] && exit 1
case $status in
0) exit 0 ;;
77)
	grep -a '^NESTED-DMESG:' "$LOG" | sed 's/^NESTED-DMESG: /#   /'
	skip "tests/guest/run.sh inside the guest could not use /dev/kvm"
	;;
*) exit 1 ;;
esac
