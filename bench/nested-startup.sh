#!/usr/bin/env bash
# bench/nested-startup.sh — bench/startup (kvmm vs QEMU microvm, same payload) on a host without
# /dev/kvm: boots a Linux guest under QEMU TCG with an emulated AMD SVM CPU (as tests/nested/ does),
# loads kvm-amd there and runs bench/startup-probe against that nested /dev/kvm. docs/benchmarks.md.
#
#   bench/nested-startup.sh [KVMM [PAYLOAD_DIR]]      (defaults: build-bench/kvmm, build-bench/payload)
#
# Environment (all optional):
#   BENCH_RUNS      measured runs per VMM, interleaved, after one discarded warm-up (default 10),
#                   for the times (no smaps sampling during these runs)
#   BENCH_MEMRUNS   measured runs per VMM for the memory figures (smaps sampled every ms; default 3)
#   BENCH_MEM       guest RAM of both VMMs in MiB (default 128)
#   BENCH_OUT       directory for the initramfs, serial.log and qemu.err (default: temporary)
#   BENCH_TIMEOUT   seconds for the whole QEMU TCG run (default 600)
#   BENCH_MONITOR=1 a QEMU HMP monitor on BENCH_OUT/monitor.sock (info registers when it hangs)
#   NESTED_KVER, NESTED_KERNEL, NESTED_CPU (EPYC), NESTED_MEM (2G): as in tests/nested/run.sh
#   NESTED_SMP      L1 CPUs, default 1 here (not 2): with 2, the L1 kernel wedged (both CPUs
#                   spinning with interrupts off, "soft lockup" reports) after 4-13 VM runs in 3 of
#                   3 tries on 2026-11-25; with 1 it completed every run
#   QEMU            the host QEMU binary (also copied into the guest)
# The initramfs is tests/nested/mkinitramfs.sh's (busybox, kvm modules, kvmm, payloads) with
# /init = bench/nested-init.sh, followed by a second cpio archive (the kernel unpacks both) with
# qemu-system-x86_64, its shared libraries, the firmware -M microvm -kernel loads
# (bios-microvm.bin -> qboot.rom, pvh.bin, linuxboot_dma.bin) and a static startup-probe.
# Prints the median table and the kvmm/QEMU ratios. Exits 0 (measured; both VMMs exited with the
# payload's PASS status 1 in every run), 1 (failure) or 77 (no nested KVM possible here).
set -u

SRC=$(cd "$(dirname "$0")/.." && pwd)
KVMM=$(readlink -f "${1:-$SRC/build-bench/kvmm}")
PAYLOAD_DIR=$(readlink -f "${2:-$SRC/build-bench/payload}")
RUNS=${BENCH_RUNS:-10}
MEMRUNS=${BENCH_MEMRUNS:-3}
MEM=${BENCH_MEM:-128}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$SRC/bench/lib.sh"
bench_init nested-startup kvmm-bench
[ -x "$KVMM" ] || die "$KVMM is not an executable (make BUILD=build-bench build-bench/kvmm payloads)"
[ -f "$PAYLOAD_DIR/boot.elf" ] || die "$PAYLOAD_DIR/boot.elf is missing"

# 1. The probe, static so that it needs nothing from the guest.
"${CC:-cc}" -std=gnu11 -O2 -Wall -Wextra -static -o "$OUT/startup-probe" \
	"$SRC/bench/startup-probe.c" || die "cannot build bench/startup-probe.c (static glibc: libc6-dev)"

# 2. The nested test initramfs with our /init.
NESTED_INIT=$SRC/bench/nested-init.sh "$SRC/tests/nested/mkinitramfs.sh" "$OUT/base.cpio" \
	"$KVMM" "$PAYLOAD_DIR" "$KVER" || die "tests/nested/mkinitramfs.sh failed"

# 3. A second archive: QEMU, its libraries and firmware, the probe.
bench_stage_qemu linuxboot.bin
install -D -m 0755 "$OUT/startup-probe" "$STAGE/kvmm/startup-probe"
bench_stage_finish
echo "# nested-startup: initramfs $OUT/initramfs.cpio ($(du -h "$OUT/initramfs.cpio" | cut -f1))"

# 4. Boot it.
APPEND="console=ttyS0 quiet panic=-1 bench.runs=$RUNS bench.memruns=$MEMRUNS bench.mem=$MEM"
LOG=$OUT/serial.log
echo "# nested-startup: $QEMU -accel tcg -cpu ${NESTED_CPU:-EPYC} -smp ${NESTED_SMP:-1}" \
	"-m ${NESTED_MEM:-2G}, kernel $KERNEL, $RUNS runs each, guest RAM $MEM MiB"
MONITOR=(-monitor none)
[ "${BENCH_MONITOR:-0}" = 1 ] && MONITOR=(-monitor "unix:$OUT/monitor.sock,server=on,wait=off")
t0=$(date +%s)
timeout -k 10 "${BENCH_TIMEOUT:-600}" "$QEMU" -accel tcg -cpu "${NESTED_CPU:-EPYC}" \
	-smp "${NESTED_SMP:-1}" -m "${NESTED_MEM:-2G}" -nodefaults -display none -no-reboot \
	-serial stdio "${MONITOR[@]}" -kernel "$KERNEL" -initrd "$OUT/initramfs.cpio" \
	-append "$APPEND" </dev/null 2>"$OUT/qemu.err" | sed -u 's/\r$//' | tee "$LOG" |
	grep --line-buffered -aE '^(BENCH-|RUN |WARMUP |MEDIAN )|(BUG|Oops|panic)'
qemu_status=${PIPESTATUS[0]}
echo "# nested-startup: QEMU exited with status $qemu_status after $(($(date +%s) - t0)) s;" \
	"serial log: $LOG"

if grep -aq '^BENCH-SKIP:' "$LOG"; then
	skip "$(sed -n 's/^BENCH-SKIP: //p' "$LOG" | head -n 1)"
fi

# 5. The table: medians of the RUN lines (so that a run cut short still shows what it measured).
table() {
	awk -v mem="$MEM" '
	function median(pass, name, key,    n, i, j, t, a) {
		n = cnt[pass, name, key]
		if (n == 0)
			return -1
		for (i = 1; i <= n; i++)
			a[i] = val[pass, name, key, i]
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
				t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
			}
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	/^BENCH-PASS: / { pass = $2 }
	/^RUN / {
		name = $2
		for (i = 4; i <= NF; i++) {
			split($i, kv, "=")
			if (kv[1] == "status") {
				if (!((pass, name, kv[2]) in seen)) {
					seen[pass, name, kv[2]] = 1
					st[pass, name] = st[pass, name] (st[pass, name] == "" ? "" : ",") kv[2]
				}
				continue
			}
			if (kv[2] < 0)
				continue
			val[pass, name, kv[1], ++cnt[pass, name, kv[1]]] = kv[2]
		}
		runs[pass, name]++
	}
	END {
		printf "payload boot.elf, %d MiB guest RAM, medians of interleaved runs after 1 warm-up each\n", mem
		printf "runs: timing kvmm %d, qemu %d; memory kvmm %d, qemu %d\n", runs["timing", "kvmm"],
			runs["timing", "qemu"], runs["memory", "kvmm"], runs["memory", "qemu"]
		printf "%-22s%12s%12s%12s\n", "", "kvmm", "qemu", "qemu/kvmm"
		split("timing timing memory memory", passes, " ")
		n = split("first_ms exit_ms overhead_kib maxrss_kib", keys, " ")
		split("first byte ms|exit ms|overhead KiB|peak RSS KiB", labels, "|")
		for (i = 1; i <= n; i++) {
			k = median(passes[i], "kvmm", keys[i]); q = median(passes[i], "qemu", keys[i])
			if (k < 0 || q < 0)
				printf "%-22s%12s%12s%12s\n", labels[i], (k < 0 ? "n/a" : sprintf("%.1f", k)),
					(q < 0 ? "n/a" : sprintf("%.1f", q)), "n/a"
			else
				printf "%-22s%12.1f%12.1f%12.2f\n", labels[i], k, q, (k > 0 ? q / k : 0)
		}
		printf "exit statuses: timing kvmm %s, qemu %s; memory kvmm %s, qemu %s\n",
			st["timing", "kvmm"], st["timing", "qemu"], st["memory", "kvmm"], st["memory", "qemu"]
	}' "$LOG"
}

status=$(sed -n 's/^BENCH-EXIT: \([0-9]*\)$/\1/p' "$LOG" | tail -n 1)
if [ -z "$status" ]; then
	tail -n 12 "$LOG" | sed 's/^/#   /'
	echo "# nested-startup: the guest never finished; the runs it completed:"
	table
	[ -n "${BENCH_OUT:-}" ] || trap - EXIT # keep the logs for inspection
	die "the guest never reported a result (timeout ${BENCH_TIMEOUT:-600} s); logs in $OUT"
fi
[ "$status" = 0 ] || die "startup-probe exited with status $status"
table
bad=$(grep -a '^RUN ' "$LOG" | grep -v ' status=1$')
[ -z "$bad" ] || die "a VMM did not exit with the payload's PASS status 1 in every run: $bad"
exit 0
