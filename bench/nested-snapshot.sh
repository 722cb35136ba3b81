#!/usr/bin/env bash
# bench/nested-snapshot.sh — bench/snapshot.sh (kvmm snapshot/restore next to QEMU migrate to a
# file and -incoming) on a host without /dev/kvm: the tests/nested/ initramfs (kvmm, the snapshot
# driver, payloads, kvm-amd) with /init = bench/nested-snapshot-init.sh, plus a second archive
# with QEMU, its firmware, a static bench/startup-probe and bench/snapshot.sh, booted under QEMU
# TCG with an emulated SVM CPU. docs/benchmarks.md ("Snapshot").
#
#   bench/nested-snapshot.sh [BUILD]      (default build: BUILD/kvmm, BUILD/tests/snapshot-drive,
#                                          BUILD/payload)
# Environment: BENCH_RUNS (3), BENCH_SIZES ("256:64,2048:256"), BENCH_OUT (keep the logs),
# BENCH_QEMU (1; 0: kvmm only), BENCH_READY_RUNS (1: kvmm -v restores for READY/STEPS lines),
# BENCH_TIMEOUT (1200 s), NESTED_MEM (default 4G here: a 2 GiB guest, its memory file on the
# guest's tmpfs and QEMU's migration file must fit), NESTED_SMP (1), NESTED_CPU, NESTED_KVER.
# Exits 0 when the guest ran the benchmark and every restored run passed, 1 otherwise, 77 when
# nested KVM is impossible here.
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(readlink -f "${1:-$SRC/build}")
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$SRC/bench/lib.sh"
bench_init nested-snapshot kvmm-snapbench
for f in "$BUILD/kvmm" "$BUILD/tests/snapshot-drive" "$BUILD/payload/snapshot.elf"; do
	[ -e "$f" ] || { echo "# FAIL: $f missing (make; make payloads)"; exit 1; }
done
"${CC:-cc}" -std=gnu11 -O2 -static -o "$OUT/startup-probe" "$SRC/bench/startup-probe.c" || exit 1
NESTED_INIT=$SRC/bench/nested-snapshot-init.sh "$SRC/tests/nested/mkinitramfs.sh" \
	"$OUT/base.cpio" "$BUILD/kvmm" "$BUILD/payload" "$KVER" || exit 1
bench_stage_qemu
install -D -m 0755 "$OUT/startup-probe" "$STAGE/kvmm/startup-probe"
install -D -m 0755 "$SRC/bench/snapshot.sh" "$STAGE/kvmm/bench/snapshot.sh"
bench_stage_finish
LOG=$OUT/serial.log
echo "# nested-snapshot: $QEMU -accel tcg -cpu ${NESTED_CPU:-EPYC} -smp ${NESTED_SMP:-1}" \
	"-m ${NESTED_MEM:-4G}, kernel $KERNEL"
timeout -k 10 "${BENCH_TIMEOUT:-1200}" "$QEMU" -accel tcg -cpu "${NESTED_CPU:-EPYC}" \
	-smp "${NESTED_SMP:-1}" -m "${NESTED_MEM:-4G}" -nodefaults -display none -no-reboot \
	-serial stdio -monitor none -kernel "$KERNEL" -initrd "$OUT/initramfs.cpio" \
	-append "console=ttyS0 quiet panic=-1 bench.runs=${BENCH_RUNS:-3} bench.sizes=${BENCH_SIZES:-256:64,2048:256} bench.qemu=${BENCH_QEMU:-1} bench.ready=${BENCH_READY_RUNS:-1}" \
	</dev/null 2>"$OUT/qemu.err" | sed -u 's/\r$//' | tee "$LOG" |
	grep --line-buffered -aE '^(BENCH-|SAVE |READY |STEPS |[0-9]+ (RUN|MEDIAN) |# )|(BUG|Oops|panic)'
grep -aq '^BENCH-SKIP:' "$LOG" && exit 77
st=$(sed -n 's/^BENCH-EXIT: \([0-9]*\)$/\1/p' "$LOG" | tail -n 1)
[ "$st" = 0 ] || { echo "# nested-snapshot: FAIL (status '${st:-none}'), log $LOG"; exit 1; }
bad=$(grep -aE '^[0-9]+ RUN ' "$LOG" | grep -v ' status=1$')
[ -z "$bad" ] || { echo "# nested-snapshot: a restored run did not pass: $bad"; exit 1; }
exit 0
