#!/usr/bin/env bash
# bench/nested-net.sh — bench/net.sh (kvmm and QEMU microvm's userspace virtio-net side by side
# over a tap, packets/s and Gbit/s each way) on a host without /dev/kvm: the tests/nested/
# initramfs (kvmm, payloads, kvm-amd, tun, iproute2) with /init = bench/nested-net-init.sh, plus a
# second archive with QEMU, its libraries and microvm firmware, bench/net.sh and bench/net-gen.c
# compiled statically, booted under QEMU TCG with an emulated AMD SVM CPU (as bench/blk.sh and
# bench/nested-snapshot.sh do): both VMMs use that guest's nested /dev/kvm, and "the host side"
# (tap, namespace, generator) is that guest. Numbers are indicative ratios only; see
# docs/benchmarks.md ("Network").
#
#   bench/nested-net.sh [KVMM [PAYLOAD_DIR]]      (defaults: build/kvmm, build/payload)
#
# Environment: BENCH_SECS (measured seconds per VM run, default 3), BENCH_SIZES (default
# "64,1500"), BENCH_ROUNDS (default 3; the table shows medians over the rounds), BENCH_VMMS
# (default "kvmm,qemu"), BENCH_VMTIMEOUT (seconds per VM run, default 240), BENCH_OUT (keep the
# logs there), BENCH_TIMEOUT (seconds for the whole TCG run, default 1800), NESTED_KVER,
# NESTED_KERNEL, NESTED_CPU (EPYC), NESTED_MEM (2G), NESTED_SMP (default 1; 2 gives more
# representative figures, since with one L1 CPU the VMMs' I/O threads and the generator share
# it with the spinning vCPU, but the L1 kernel can wedge: docs/benchmarks.md), QEMU, CC.
# Exits 0 (measured), 1 (failure) or 77 (no nested KVM possible here).
set -u

SRC=$(cd "$(dirname "$0")/.." && pwd)
KVMM=$(readlink -f "${1:-$SRC/build/kvmm}")
PAYLOAD_DIR=$(readlink -f "${2:-$SRC/build/payload}")
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$SRC/bench/lib.sh"
bench_init bench/nested-net kvmm-bench-net
[ -x "$KVMM" ] || die "$KVMM is not an executable (make)"
[ -f "$PAYLOAD_DIR/netbench.elf" ] || die "$PAYLOAD_DIR/netbench.elf is missing (make payloads)"

# 1. The nested test initramfs (kvm and tun modules, ip, kvmm, payloads) with our /init.
NESTED_INIT=$SRC/bench/nested-net-init.sh "$SRC/tests/nested/mkinitramfs.sh" "$OUT/base.cpio" \
	"$KVMM" "$PAYLOAD_DIR" "$KVER" >/dev/null || die "tests/nested/mkinitramfs.sh failed"

# 2. A second archive: QEMU with its libraries and firmware, bench/net.sh and the static frame
# generator.
bench_stage_qemu
install -D -m 0755 "$SRC/bench/net.sh" "$STAGE/kvmm/bench/net.sh"
"${CC:-cc}" -std=gnu11 -O2 -Wall -static -o "$STAGE/kvmm/net-gen" "$SRC/bench/net-gen.c" ||
	die "cannot build bench/net-gen.c statically (apt-get install libc6-dev)"
bench_stage_finish

# 3. Boot it.
LOG=$OUT/serial.log
SECS=${BENCH_SECS:-3}
echo "# bench/nested-net: $QEMU -accel tcg -cpu ${NESTED_CPU:-EPYC} -smp ${NESTED_SMP:-1}" \
	"-m ${NESTED_MEM:-2G}, kernel $KERNEL, $SECS s per run"
t0=$(date +%s)
timeout -k 10 "${BENCH_TIMEOUT:-1800}" "$QEMU" -accel tcg -cpu "${NESTED_CPU:-EPYC}" \
	-smp "${NESTED_SMP:-1}" -m "${NESTED_MEM:-2G}" -nodefaults -display none -no-reboot \
	-serial stdio -monitor none -kernel "$KERNEL" -initrd "$OUT/initramfs.cpio" \
	-append "console=ttyS0 quiet panic=-1 bench.secs=$SECS bench.sizes=${BENCH_SIZES:-64,1500} bench.rounds=${BENCH_ROUNDS:-3} bench.vmms=${BENCH_VMMS:-kvmm,qemu} bench.vmtimeout=${BENCH_VMTIMEOUT:-240}" \
	</dev/null 2>"$OUT/qemu.err" | sed -u 's/\r$//' | tee "$LOG" |
	grep --line-buffered -aE '^(BENCH-|RESULT )|(BUG|Oops|panic)'
echo "# bench/nested-net: QEMU exited after $(($(date +%s) - t0)) s; serial log: $LOG"
grep -aq '^BENCH-SKIP:' "$LOG" && skip "$(sed -n 's/^BENCH-SKIP: //p' "$LOG" | head -n 1)"

# 4. The table: packets/s (guest-measured) and Gbit/s per direction, size and VMM, medians.
"$SRC/bench/net.sh" --table "$LOG"
status=$(sed -n 's/^BENCH-EXIT: \([0-9]*\)$/\1/p' "$LOG" | tail -n 1)
[ -n "$status" ] || die "the guest never reported a result; logs in $OUT"
[ "$status" = 0 ] || die "$status VM runs failed (BENCH-FAIL lines in $LOG)"
exit 0
