#!/usr/bin/env bash
# bench/snapshot.sh — snapshot save and restore of kvmm next to QEMU's migration to a file and
# -incoming, on the same payload (tests/guest/payload/snapshot.c), on this machine's /dev/kvm.
# bench/nested-snapshot.sh runs it inside a nested-KVM guest where the host has no /dev/kvm.
# Results and their meaning: docs/benchmarks.md ("Snapshot").
#
#   bench/snapshot.sh KVMM SNAPSHOT_DRIVE PAYLOAD_DIR STARTUP_PROBE [QEMU]
#
# For each guest size (BENCH_SIZES, "RAM_MiB:TOUCHED_MiB ...", default "256:128 2048:512") the
# payload fills 1 MiB, writes one word into every page of TOUCHED MiB and counts in rounds;
# after round 2 it is saved:
#   kvmm  by tests/tools/snapshot_drive.c (vm_snapshot_save(); "saved in N ms": pause, vCPU and
#         device state, sparse memory file written and fdatasync'ed)
#   QEMU  by QMP stop, then migrate "exec:cat > FILE" (kvmm ctl as the QMP client; query-migrate's
#         total-time); the source runs with -global migration.store-global-state=off so that
#         -incoming starts the guest by itself
# then restored BENCH_RUNS times each (default 5, after one warm-up) by bench/startup-probe:
#   first_ms  exec of `kvmm run --restore DIR` / `qemu ... -incoming "exec:cat FILE"` -> first
#             byte the restored guest writes to its serial port (it is mid-round; the rest of
#             the round is ~1 MiB of summing, microseconds natively)
#   exit_ms   exec -> the restored guest finished its remaining rounds and exited (status 1 =
#             its checks passed after the restore)
# Output lines: SAVE VMM SIZE ms=... file_kib=... ; RUN/MEDIAN lines of startup-probe prefixed
# with the size; READY SIZE ms=... (kvmm's own "VM ready to run" log line, kvmm -v) and
# STEPS SIZE ... (its per-step "restore: ..." lines), BENCH_READY_RUNS times (1), each run
# stopped after BENCH_READY_SECS (5). QEMU is skipped when QEMU is not a command.
# BENCH_PROBE_TIMEOUT: seconds per restored run (300). BENCH_ACCEL=tcg runs the QEMU half without KVM (to check the script). Exits 0 when every run of both VMMs ended with the payload's PASS status 1, 1 otherwise.
set -u
KVMM=$1 DRIVE=$2 PAYLOAD_DIR=$3 PROBE=$4 QEMU=${5:-qemu-system-x86_64}
RUNS=${BENCH_RUNS:-5}
WORK=${BENCH_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/kvmm-snapbench.XXXXXX")}
PAYLOAD=$PAYLOAD_DIR/snapshot.elf
ROUNDS=40
SPIN=20000001
fail=0

wait_for() { # FILE PATTERN SECONDS
	local i
	for ((i = 0; i < $3 * 20; i++)); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

kvmm_size() {
	local mib=$1 touch=$2 dir=$WORK/kvmm-$1.snap log=$WORK/kvmm-$1.log out ms
	local cmdline="fill=1 touch=$touch rounds=$ROUNDS spin=$SPIN"
	rm -rf "$dir" "$log"
	out=$("$DRIVE" "$dir" "snapshot: round 2 " --kernel "$PAYLOAD" --memory "${mib}M" \
		--cmdline "$cmdline" --serial "file:$log" --debug-exit 2>&1)
	ms=$(echo "$out" | sed -n 's/^saved in \([0-9.]*\) ms$/\1/p')
	if [ -z "$ms" ]; then
		echo "# kvmm $mib MiB: save failed: $out"
		fail=1
		return
	fi
	echo "SAVE kvmm $mib ms=$ms file_kib=$(du -k "$dir/memory" | cut -f1)" \
		"state_bytes=$(stat -c %s "$dir/state")"
	echo "# kvmm: $DRIVE DIR 'snapshot: round 2 ' --kernel $PAYLOAD --memory ${mib}M" \
		"--cmdline \"$cmdline\" --serial file:LOG --debug-exit"
	echo "# kvmm: $KVMM run --restore DIR --memory ${mib}M --serial stdio --debug-exit"
	"$PROBE" --runs "$RUNS" --timeout "${BENCH_PROBE_TIMEOUT:-300}" --sample-ms 0 --guest-mib "$mib" --vmm kvmm "$KVMM" run \
		--restore "$dir" --memory "${mib}M" --serial stdio --debug-exit | sed "s/^/$mib /"
	# kvmm -v: the "VM ready" line and the per-step lines (vm_create, vm_run); the guest is
	# stopped (SIGTERM) once they are out, BENCH_READY_RUNS times.
	for _ in $(seq "${BENCH_READY_RUNS:-1}"); do
		# Into a file, not a pipe: a reader woken by every log line would be timed too.
		timeout -s TERM "${BENCH_READY_SECS:-5}" "$KVMM" run -v --restore "$dir" \
			--memory "${mib}M" --serial none --debug-exit 2>"$WORK/ready.log"
		sed -n -e "s/.*VM ready to run \([0-9.]*\) ms.*/READY $mib ms=\1/p" \
			-e "s/^.*restore: /STEPS $mib /p" "$WORK/ready.log"
	done
}

qemu_size() {
	local mib=$1 touch=$2 file=$WORK/qemu-$1.mig log=$WORK/qemu-$1.log sock=$WORK/qemu.sock
	local cmdline="fill=1 touch=$touch rounds=$ROUNDS spin=$SPIN qemu=1" pid st i ms
	local -a q=("$QEMU" -M microvm -accel "${BENCH_ACCEL:-kvm}" -nodefaults -no-user-config -display none
		-m "${mib}M" -device isa-debug-exit,iobase=0xf4,iosize=4 -kernel "$PAYLOAD"
		-append "$cmdline")
	rm -f "$file" "$log" "$sock"
	# Without the global state in the stream the destination starts running on its own once
	# the stream is in, although the source was stopped (QEMU 7.2's incoming path).
	"${q[@]}" -global migration.store-global-state=off -serial "file:$log" \
		-qmp "unix:$sock,server=on,wait=off" </dev/null >"$WORK/qemu.out" 2>&1 &
	pid=$!
	if ! wait_for "$log" "snapshot: round 2 " 120; then
		echo "# qemu $mib MiB: the guest never reached round 2"
		kill "$pid"
		fail=1
		return
	fi
	# Stop first, as vm_snapshot_save pauses: a stop-and-copy save, not a live migration.
	"$KVMM" ctl "$sock" stop >/dev/null
	"$KVMM" ctl "$sock" migrate "uri=exec:cat > $file" >/dev/null
	for ((i = 0; i < 1200; i++)); do
		st=$("$KVMM" ctl --json "$sock" query-migrate 2>/dev/null)
		[[ $st == *'"completed"'* || $st == *'"failed"'* ]] && break
		sleep 0.05
	done
	"$KVMM" ctl "$sock" quit >/dev/null 2>&1
	wait "$pid"
	ms=$(echo "$st" | grep -o '"total-time": [0-9]*' | grep -o '[0-9]*$')
	if [[ $st != *'"completed"'* ]]; then
		echo "# qemu $mib MiB: migration did not complete: $st"
		fail=1
		return
	fi
	echo "SAVE qemu $mib ms=$ms file_kib=$(du -k "$file" | cut -f1)"
	echo "# qemu: ${q[*]} -global migration.store-global-state=off -serial file:LOG" \
		"-qmp unix:SOCK,server=on,wait=off; QMP stop, migrate uri=\"exec:cat > FILE\" after round 2"
	echo "# qemu: ${q[*]} -serial stdio -incoming \"exec:cat FILE\""
	"$PROBE" --runs "$RUNS" --timeout "${BENCH_PROBE_TIMEOUT:-300}" --sample-ms 0 --guest-mib "$mib" --vmm qemu "${q[@]}" \
		-serial stdio -incoming "exec:cat $file" | sed "s/^/$mib /"
}

for spec in ${BENCH_SIZES:-256:128 2048:512}; do
	kvmm_size "${spec%%:*}" "${spec##*:}"
	rm -rf "$WORK"/kvmm-*.snap
	if command -v "$QEMU" >/dev/null; then
		qemu_size "${spec%%:*}" "${spec##*:}"
		rm -f "$WORK"/qemu-*.mig
	fi
done
[ -z "${BENCH_WORK:-}" ] && rm -rf "$WORK"
exit $fail
