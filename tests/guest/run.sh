#!/usr/bin/env bash
# tests/guest/run.sh — run the guest case table (cases.sh) under kvmm; `make check-guest`.
#
#   KVMM=/abs/build/kvmm PAYLOAD_DIR=/abs/build/payload tests/guest/run.sh [NAME-REGEX]
#
# Every case runs as `kvmm run --kernel PAYLOAD ARGS --serial stdio --debug-exit` under a
# timeout (without --serial stdio if ARGS has its own --serial); its exit status and output
# are checked. One extra case, cpu-affinity, checks that --cpu-affinity 0=0,1=1 pins the
# threads named vcpu0/vcpu1 (needs 2 host CPUs); others check a disk image, the fatal-exit
# diagnostic and --console file:PATH from the host side;
# the QMP cases (qmp, qmp-reset-restart, qmp-reset-exit) are in qmp.sh, the snapshot cases in
# snapshot.sh, the virtio-net host-side cases in net.sh, the real-Linux case in linux.sh.
# Prints TAP and a final line "N passed, N failed, N skipped"; exits 0, 1 (failures) or
# 77 (skip: /dev/kvm missing or not openable read-write).
set -u

GUEST_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$GUEST_DIR/lib.sh"
# shellcheck source-path=SCRIPTDIR source=net.sh
. "$GUEST_DIR/net.sh"
# shellcheck source-path=SCRIPTDIR source=snapshot.sh
. "$GUEST_DIR/snapshot.sh"
# shellcheck source-path=SCRIPTDIR source=linux.sh
. "$GUEST_DIR/linux.sh"

TIMEOUT=${GUEST_TIMEOUT:-60}
# A sanitizer report must not look like a payload's pass (status 1 = debug-exit code 0).
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}exitcode=99
export UBSAN_OPTIONS=${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}exitcode=98
: "${KVMM:?KVMM must point at the kvmm binary}"
: "${PAYLOAD_DIR:?PAYLOAD_DIR must point at the built payloads}"

# -c first: a bare `<>` redirection would create /dev/kvm as a regular file.
if ! [ -c /dev/kvm ] || ! { : <>/dev/kvm; } 2>/dev/null; then
	echo "# /dev/kvm is missing or not openable read-write: skipping the guest tests"
	echo "0 passed, 0 failed, 0 skipped"
	exit 77
fi

run_case() {
	local out=$GUEST_WORK/$C_NAME.out err=$GUEST_WORK/$C_NAME.err status missing
	local -a kernel=() serial
	GUEST_T0=
	if [ "$C_KVMM" = skip ]; then
		guest_skip "$C_NAME" "QEMU-only case"
		return
	fi
	[ "$C_PAYLOAD" != - ] && kernel=(--kernel "$PAYLOAD_DIR/$C_PAYLOAD")
	if [ "$C_PAYLOAD" != - ] && [ ! -f "$PAYLOAD_DIR/$C_PAYLOAD" ]; then
		guest_not_ok "$C_NAME" "payload $PAYLOAD_DIR/$C_PAYLOAD is missing"
		return
	fi
	guest_args_to_array
	# --serial stdio unless the case chooses (e.g. --console stdio with --serial none).
	serial=(--serial stdio)
	[[ " ${C_ARGV[*]} " == *" --serial "* ]] && serial=()
	GUEST_T0=$(date +%s%N)
	if [[ $C_STATUS == reboots:* ]]; then
		if guest_run_reboots "${C_STATUS#reboots:}" "$out" "$err" timeout -k 5 "$TIMEOUT" \
			"$KVMM" run "${kernel[@]}" "${C_ARGV[@]}" "${serial[@]}" --debug-exit; then
			if ! missing=$(guest_check_output "$out"); then
				guest_not_ok "$C_NAME" "serial output lacks /$missing/" "$out"
				return
			fi
			guest_ok "$C_NAME" "${C_STATUS#reboots:} boots seen"
		else
			guest_not_ok "$C_NAME" "fewer than ${C_STATUS#reboots:} boots seen" "$out"
			sed 's/^/#   stderr: /' "$err" | tail -n 10
		fi
		return
	fi
	guest_feed_stdin | timeout -k 5 "$TIMEOUT" "$KVMM" run "${kernel[@]}" "${C_ARGV[@]}" \
		"${serial[@]}" --debug-exit >"$out" 2>"$err"
	status=${PIPESTATUS[1]}
	if [ "$status" -ne "$C_STATUS" ]; then
		guest_not_ok "$C_NAME" "exit status $status, expected $C_STATUS" "$out"
		sed 's/^/#   stderr: /' "$err" | tail -n 10
		return
	fi
	if ! missing=$(guest_check_output "$out"); then
		guest_not_ok "$C_NAME" "serial output lacks /$missing/" "$out"
		return
	fi
	guest_ok "$C_NAME"
}

# Cpus_allowed_list of the thread of process $1 named $2, or nothing. Bash builtins only (no
# fork per sample): on slow nested hosts a forked sampler misses the payload's spin window.
thread_cpus() {
	local t comm key val
	for t in /proc/"$1"/task/*; do
		comm=
		read -r comm 2>/dev/null <"$t/comm"
		[ "$comm" = "$2" ] || continue
		while read -r key val; do
			if [ "$key" = "Cpus_allowed_list:" ]; then
				printf '%s' "$val"
				return
			fi
		done 2>/dev/null <"$t/status"
		return
	done
}

# The kvmm process under `timeout` PID $1 (its only child), or nothing.
child_pid() {
	local c=
	read -r c _ 2>/dev/null <"/proc/$1/task/$1/children"
	printf '%s' "$c"
}

case_affinity() {
	local name=cpu-affinity out=$GUEST_WORK/affinity.out err=$GUEST_WORK/affinity.err
	local pid c0="" c1="" status
	if ! guest_want "$name" "${1:-}"; then
		return
	fi
	if [ "$(nproc --all)" -lt 2 ]; then
		guest_skip "$name" "needs 2 host CPUs"
		return
	fi
	GUEST_T0=$(date +%s%N)
	timeout -k 5 "$TIMEOUT" "$KVMM" run --kernel "$PAYLOAD_DIR/smp.elf" --cpus 2 \
		--cpu-affinity 0=0,1=1 --cmdline "cpus=2 spin=${GUEST_AFFINITY_SPIN:-10}" --serial stdio --debug-exit \
		</dev/null >"$out" 2>"$err" &
	pid=$!
	# The timeout process execs nothing: find kvmm as its child.
	# Keep only a sample in which both threads exist: one taken while kvmm tears down (one
	# vCPU thread already gone) must not overwrite a good one (seen on slow nested hosts).
	for _ in $(seq 100); do
		local kpid s0 s1
		kpid=$(child_pid "$pid")
		if [ -n "$kpid" ]; then
			s0=$(thread_cpus "$kpid" vcpu0)
			s1=$(thread_cpus "$kpid" vcpu1)
			if [ -n "$s0" ] && [ -n "$s1" ]; then
				c0=$s0
				c1=$s1
				grep -q "spinning" "$out" && break
			fi
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	wait "$pid"
	status=$?
	if [ "$c0" != 0 ] || [ "$c1" != 1 ]; then
		guest_not_ok "$name" "vcpu0 allowed on '$c0' (want 0), vcpu1 on '$c1' (want 1)" "$out"
	elif [ "$status" -ne 1 ]; then
		guest_not_ok "$name" "exit status $status, expected 1" "$out"
	else
		guest_ok "$name" "vcpu0 on CPU $c0, vcpu1 on CPU $c1"
	fi
}

# blk_image_ok IMG: IMG is the 0xee fill with sectors 0, 1, n/2 and n-1 holding the payload's
# pattern. Shell and coreutils/busybox only (it also runs inside the nested-KVM initramfs).
blk_image_ok() {
	local img=$1 want=$GUEST_WORK/blk-want.img n s i pat
	n=$(($(stat -c %s "$img") / 512))
	head -c $((n * 512)) /dev/zero | tr '\0' '\356' >"$want"
	for s in 0 1 $((n / 2)) $((n - 1)); do
		pat=
		for ((i = 0; i < 512; i++)); do
			printf -v pat '%s\\x%02x' "$pat" $(((s * 7 + i * 13 + 0x21) & 0xff))
		done
		# Through a file, not a pipe: bash's printf flushes at the '\n' (byte 77 of sector 0),
		# and dd's one read(2) of a pipe then got 78 bytes (seen in a nested run).
		printf "$pat" >"$want.sec"
		dd if="$want.sec" of="$want" bs=512 seek="$s" count=1 conv=notrunc 2>/dev/null
	done
	cmp -s "$img" "$want"
}

# The payload writes sectors 0, 1, capacity/2 and the last one with byte i of sector s =
# (s*7 + i*13 + 0x21) & 0xff; everything else must still be the 0xee fill, and a read-only
# disk must be untouched. Checked from the host after kvmm exits.
# case_blk_image REGEX NAME TRANSPORT: once over virtio-pci, once over virtio-mmio.
case_blk_image() {
	local name=$2 tr=$3 out=$GUEST_WORK/blkimg-$3.out status
	if ! guest_want "$name" "${1:-}"; then
		return
	fi
	guest_new_disk
	GUEST_T0=$(date +%s%N)
	timeout -k 5 "$TIMEOUT" "$KVMM" run -v --kernel "$PAYLOAD_DIR/virtio_blk.elf" \
		--disk "path=$GUEST_DISK,serial=host,transport=$tr" \
		--cmdline "serial=host transport=$tr" --serial stdio \
		--debug-exit </dev/null >"$out" 2>&1
	status=$?
	if [ "$status" -ne 1 ]; then
		guest_not_ok "$name" "exit status $status, expected 1" "$out"
	elif [ "$tr" = pci ] &&
		! { grep -q 'MSI via GSI routes + irqfd; notify via ioeventfd (I/O thread)' "$out" &&
			grep -Eq 'pci 00:01.0: 1 of 1 notify ioeventfds at 0xc000[0-9a-f]{4}' "$out"; }; then
		# KVM here has irqfd and ioeventfd: the fast paths must be the ones in use.
		guest_not_ok "$name" "kvmm did not use irqfd + ioeventfd" "$out"
	elif ! blk_image_ok "$GUEST_DISK"; then
		cmp -l "$GUEST_DISK" "$GUEST_WORK/blk-want.img" 2>&1 | head -5 >>"$out"
		guest_not_ok "$name" "the image does not hold exactly what the guest wrote" "$out"
	else
		guest_ok "$name" "4 sectors written over $tr, the rest untouched"
	fi
}

# A fatal exit must end kvmm with status 4 and the one-screen diagnostic on stderr: the exit
# reason, the registers and the bytes at the faulting instruction.
case_fatal_diag() {
	local name=fatal-diagnostic out=$GUEST_WORK/fatal.out err=$GUEST_WORK/fatal.err status re
	if ! guest_want "$name" "${1:-}"; then
		return
	fi
	GUEST_T0=$(date +%s%N)
	timeout -k 5 "$TIMEOUT" "$KVMM" run --kernel "$PAYLOAD_DIR/fatal.elf" --serial stdio \
		--debug-exit </dev/null >"$out" 2>"$err"
	status=$?
	for re in 'vcpu0 stopped on an unrecoverable exit: INTERNAL_ERROR' \
		'internal error suberror 1 \(instruction emulation failed\)' '^  rip [0-9a-f]{16} rsp' \
		'^  cr0 [0-9a-f]+ cr2' '^  code at gpa 0x[0-9a-f]+: 66 0f 38 dc'; do
		if ! grep -Eq -- "$re" "$err"; then
			guest_not_ok "$name" "stderr lacks /$re/ (status $status)" "$err"
			return
		fi
	done
	if [ "$status" -ne 4 ]; then
		guest_not_ok "$name" "exit status $status, expected 4" "$err"
	else
		guest_ok "$name" "status 4, diagnostic printed"
	fi
}

# --console file:PATH: hvc0's output lands in the file while COM1 stays on stdout (the payload
# mirrors its hvc0 lines there with a "[hvc0] " prefix).
case_vconsole_file() {
	local name=virtio-console-file out=$GUEST_WORK/vcon-file.out log=$GUEST_WORK/hvc0.log status
	if ! guest_want "$name" "${1:-}"; then
		return
	fi
	GUEST_T0=$(date +%s%N)
	timeout -k 5 "$TIMEOUT" "$KVMM" run --kernel "$PAYLOAD_DIR/virtio_console.elf" \
		--console "file:$log" --cmdline transport=pci --serial stdio --debug-exit \
		</dev/null >"$out" 2>&1
	status=$?
	if [ "$status" -ne 1 ]; then
		guest_not_ok "$name" "exit status $status, expected 1" "$out"
	elif ! grep -q '^virtio_console: hello from hvc0' "$log" ||
		! grep -q '^virtio_console: emergency write' "$log" ||
		! grep -q '^virtio_console: transport virtio-pci$' "$log" ||
		! grep -q '^virtio_console: PASS' "$log"; then
		guest_not_ok "$name" "hvc0 lines missing from the --console file" "$log"
	elif ! tr -d '\r' <"$out" | grep -q '^PASS virtio_console'; then
		guest_not_ok "$name" "serial output lacks PASS" "$out"
	else
		guest_ok "$name" "hvc0 (virtio-pci) in the file, COM1 on stdout"
	fi
}
# shellcheck source-path=SCRIPTDIR source=qmp.sh
. "$GUEST_DIR/qmp.sh"
# The virtio_blk payload over other disk set-ups, each image checked from the host afterwards:
# over virtio-pci (the default transport): a qcow2 image (worker-pool aio), the worker pool on
# raw (aio=threads), and cache=none
# (O_DIRECT; on a loop block device when losetup works, as tmpfs may refuse O_DIRECT).
blk_variant() {
	local name=$1 img=$2 extra=$3 out=$GUEST_WORK/$1.out status
	GUEST_T0=$(date +%s%N)
	timeout -k 5 "$TIMEOUT" "$KVMM" run --kernel "$PAYLOAD_DIR/virtio_blk.elf" \
		--disk "path=$img,serial=var0$extra" --cmdline "serial=var0 transport=pci" --serial stdio \
		--debug-exit </dev/null >"$out" 2>&1
	status=$?
	if [ "$status" -ne 1 ]; then
		guest_not_ok "$name" "exit status $status, expected 1" "$out"
		return 1
	fi
	return 0
}

case_blk_variants() {
	local f=${1:-} raw q loop
	if guest_want virtio-blk-qcow2 "$f"; then
		guest_new_disk
		raw=$GUEST_WORK/qcow2-back.raw q=$GUEST_WORK/disk.qcow2
		if ! "$KVMM" img convert -f raw -O qcow2 "$GUEST_DISK" "$q" >/dev/null 2>&1; then
			guest_not_ok virtio-blk-qcow2 "kvmm img convert to qcow2 failed"
		elif ! blk_variant virtio-blk-qcow2 "$q" ",format=qcow2"; then
			: # reported
		elif "$KVMM" img convert -f qcow2 -O raw "$q" "$raw" >/dev/null 2>&1 &&
			blk_image_ok "$raw"; then
			guest_ok virtio-blk-qcow2 "qcow2 image holds exactly what the guest wrote"
		else
			guest_not_ok virtio-blk-qcow2 "the image does not hold what the guest wrote"
		fi
	fi
	if guest_want virtio-blk-threads "$f"; then
		guest_new_disk
		if blk_variant virtio-blk-threads "$GUEST_DISK" ",aio=threads"; then
			if blk_image_ok "$GUEST_DISK"; then
				guest_ok virtio-blk-threads "worker pool; image checked"
			else
				guest_not_ok virtio-blk-threads "the image does not hold what the guest wrote"
			fi
		fi
	fi
	if guest_want virtio-blk-nocache "$f"; then
		guest_new_disk
		loop=
		if [ "$(id -u)" -eq 0 ] && loop=$(losetup -f 2>&1) && [ -b "$loop" ] &&
			losetup "$loop" "$GUEST_DISK" 2>"$GUEST_WORK/losetup.err"; then
			:
		else
			echo "# virtio-blk-nocache: no loop device ($loop $(cat "$GUEST_WORK/losetup.err" 2>/dev/null)): using the file"
			loop=
		fi
		if blk_variant virtio-blk-nocache "${loop:-$GUEST_DISK}" ",cache=none"; then
			[ -n "$loop" ] && losetup -d "$loop"
			if blk_image_ok "$GUEST_DISK"; then
				guest_ok virtio-blk-nocache "cache=none on ${loop:-a file}; image checked"
			else
				guest_not_ok virtio-blk-nocache "the image on ${loop:-a file} does not hold what the guest wrote: $(cmp -l "$GUEST_DISK" "$GUEST_WORK/blk-want.img" 2>&1 | head -n 4 | tr '\n' ' ')" "$GUEST_WORK/virtio-blk-nocache.out"
			fi
		else
			[ -n "$loop" ] && losetup -d "$loop"
		fi
	fi
}

guest_setup
guest_each_case run_case "${1:-}"
case_affinity "${1:-}"
case_blk_image "${1:-}" virtio-blk-host-check pci
case_blk_image "${1:-}" virtio-blk-mmio-host-check mmio
case_fatal_diag "${1:-}"
case_vconsole_file "${1:-}"
net_cases "${1:-}"
case_snapshot "${1:-}"
case_qmp "${1:-}"
case_blk_variants "${1:-}"
case_linux "${1:-}"
guest_finish
