#!/usr/bin/env bash
# bench/blk.sh — bench/blk: the same payload (tests/guest/payload/blkbench.c, a polling
# virtio-blk driver whose hot loop runs in ring 3) doing 4 KiB random reads and 64 KiB
# sequential reads and writes at queue depth 1 and 32 against a 64 MiB raw image, under kvmm and
# under QEMU microvm (aio=io_uring), over virtio-mmio (kvmm transport=mmio vs QEMU
# virtio-blk-device) and modern virtio-pci (kvmm's default vs QEMU pcie=on
# virtio-blk-pci,disable-legacy=on), with cache=writeback and cache=none, side by side in one run, plus fio (io_uring) on the same file as the host reference.
#
# This host has no /dev/kvm, so everything runs inside a Linux guest booted under QEMU TCG with an
# emulated AMD SVM CPU (as tests/nested/ and bench/nested-startup.sh do): both VMMs use that
# guest's nested /dev/kvm, and "the host" for fio is that guest. Numbers are indicative only; see
# docs/benchmarks.md.
#
#   bench/blk.sh [KVMM [PAYLOAD_DIR]]      (defaults: build/kvmm, build/payload)
#
# Environment: BENCH_OPS (requests per workload, default 2000), BENCH_OUT (keep the logs there),
# BENCH_VMTIMEOUT (seconds per VM run, default 300), BENCH_VMMS (default "kvmm,qemu"),
# BENCH_ROUNDS (default 3; the table shows medians over the rounds),
# BENCH_TRANSPORTS (default "mmio,pci"),
# BENCH_TIMEOUT (seconds for the whole TCG run, default 1200), NESTED_KVER, NESTED_KERNEL,
# NESTED_CPU (EPYC), NESTED_MEM (2G), NESTED_SMP (default 1, see bench/nested-startup.sh), QEMU.
# Exits 0 (measured), 1 (failure) or 77 (no nested KVM possible here).
set -u

SRC=$(cd "$(dirname "$0")/.." && pwd)
KVMM=$(readlink -f "${1:-$SRC/build/kvmm}")
PAYLOAD_DIR=$(readlink -f "${2:-$SRC/build/payload}")
OPS=${BENCH_OPS:-2000}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$SRC/bench/lib.sh"
bench_init bench/blk kvmm-bench-blk
FIO_BIN=$(command -v fio) || skip "fio not found (apt-get install fio)"
[ -x "$KVMM" ] || die "$KVMM is not an executable (make)"
[ -f "$PAYLOAD_DIR/blkbench.elf" ] || die "$PAYLOAD_DIR/blkbench.elf is missing (make payloads)"

# 1. The nested test initramfs (kvm and loop modules, kvmm, payloads) with our /init.
NESTED_INIT=$SRC/bench/nested-blk-init.sh "$SRC/tests/nested/mkinitramfs.sh" "$OUT/base.cpio" \
	"$KVMM" "$PAYLOAD_DIR" "$KVER" >/dev/null || die "tests/nested/mkinitramfs.sh failed"

# 2. A second archive: QEMU with its libraries and firmware, fio with its libraries.
bench_stage_qemu
bench_copy_elf "$(readlink -f "$FIO_BIN")" /usr/bin/fio
bench_stage_finish

# 3. Boot it.
LOG=$OUT/serial.log
echo "# bench/blk: $QEMU -accel tcg -cpu ${NESTED_CPU:-EPYC} -smp ${NESTED_SMP:-1}" \
	"-m ${NESTED_MEM:-2G}, kernel $KERNEL, $OPS requests per workload"
t0=$(date +%s)
timeout -k 10 "${BENCH_TIMEOUT:-1200}" "$QEMU" -accel tcg -cpu "${NESTED_CPU:-EPYC}" \
	-smp "${NESTED_SMP:-1}" -m "${NESTED_MEM:-2G}" -nodefaults -display none -no-reboot \
	-serial stdio -monitor none -kernel "$KERNEL" -initrd "$OUT/initramfs.cpio" \
	-append "console=ttyS0 quiet panic=-1 bench.ops=$OPS bench.vmtimeout=${BENCH_VMTIMEOUT:-300} bench.vmms=${BENCH_VMMS:-kvmm,qemu} bench.rounds=${BENCH_ROUNDS:-3} bench.transports=${BENCH_TRANSPORTS:-mmio,pci}" </dev/null 2>"$OUT/qemu.err" |
	sed -u 's/\r$//' | tee "$LOG" | grep --line-buffered -aE '^(BENCH-|RESULT )|(BUG|Oops|panic)'
echo "# bench/blk: QEMU exited after $(($(date +%s) - t0)) s; serial log: $LOG"
grep -aq '^BENCH-SKIP:' "$LOG" && skip "$(sed -n 's/^BENCH-SKIP: //p' "$LOG" | head -n 1)"

# 4. The table: IOPS per workload, cache mode and VMM, and the ratios the issue asks for.
awk '
function median(key, vmm,    m, i, j, t, a) {
	m = cnt[key, vmm]
	if (m == 0)
		return -1
	for (i = 1; i <= m; i++)
		a[i] = val[key, vmm, i]
	for (i = 2; i <= m; i++)
		for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
	return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
/^RESULT / {
	split("", f)
	for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
	key = f["cache"] " " f["name"] " qd" f["qd"]
	v = f["vmm"] (f["transport"] == "" ? "" : "-" f["transport"])
	if (!(key in seen)) { seen[key] = 1; order[++n] = key }
	val[key, v, ++cnt[key, v]] = f["iops"]
	all[key, v] = all[key, v] (all[key, v] == "" ? "" : "/") f["iops"]
}
function ratio(a, b) {
	return b > 0 && a >= 0 ? sprintf("%.2f", a / b) : "n/a"
}
END {
	printf "IOPS, medians over the rounds (mmio: kvmm transport=mmio vs QEMU virtio-blk-device;"
	printf " pci: kvmm default vs QEMU virtio-blk-pci)\n"
	printf "%-24s%10s%10s%10s%10s%8s%10s%10s%11s%11s\n", "cache workload qd", "kvmm-mmio",
		"qemu-mmio", "kvmm-pci", "qemu-pci", "fio", "k/q mmio", "k/q pci", "k/fio mmio",
		"k/fio pci"
	for (i = 1; i <= n; i++) {
		k = order[i]; am = median(k, "kvmm-mmio"); qm = median(k, "qemu-mmio")
		ap = median(k, "kvmm-pci"); qp = median(k, "qemu-pci"); h = median(k, "fio")
		printf "%-24s%10s%10s%10s%10s%8s%10s%10s%11s%11s\n", k, am, qm, ap, qp, h,
			ratio(am, qm), ratio(ap, qp), ratio(am, h), ratio(ap, h)
	}
	printf "\nevery round (kvmm-mmio | qemu-mmio | kvmm-pci | qemu-pci | fio):\n"
	for (i = 1; i <= n; i++)
		printf "%-24s%s | %s | %s | %s | %s\n", order[i], all[order[i], "kvmm-mmio"],
			all[order[i], "qemu-mmio"], all[order[i], "kvmm-pci"],
			all[order[i], "qemu-pci"], all[order[i], "fio"]
}' "$LOG"
status=$(sed -n 's/^BENCH-EXIT: \([0-9]*\)$/\1/p' "$LOG" | tail -n 1)
[ -n "$status" ] || die "the guest never reported a result; logs in $OUT"
[ "$status" = 0 ] || die "$status VM runs failed (BENCH-FAIL lines in $LOG)"
exit 0
