# shellcheck shell=bash
# tests/guest/snapshot.sh — snapshot/restore cases for tests/guest/run.sh (sourced; uses its
# KVMM, PAYLOAD_DIR, TIMEOUT, GUEST_WORK and the guest_* helpers of lib.sh). A VM running
# payload/snapshot.c is saved mid-run by the test driver tests/snapshot-drive (next to kvmm;
# it saves with vm_snapshot_save() and exits at once, as kill -9 would), then
# `kvmm run --restore DIR` must continue it: the guest re-checks its memory, its counter and
# (with a disk) its virtqueue, and the rounds it prints must continue without a gap or a reboot.
#   snapshot          RAM pattern + counter
#   snapshot-blk      the same while writing and reading a virtio-blk disk every round
#   snapshot-qmp      the production path: kvmm run --qmp, `kvmm ctl SOCK x-kvmm-snapshot-save
#                     path=DIR`, the VM must then be paused, kill -9, restore (with a disk)
#   snapshot-refuse   a corrupt, truncated or mismatched snapshot: status 2 and one line
#   snapshot-pci-refused  a save of a VM with a virtio-pci disk (the default transport) through
#                     kvmm ctl: GenericError naming the device, the VM keeps running, quit
# The payload finds its disk on virtio-mmio, and snapshots hold virtio-mmio devices only: the
# disks of these cases are transport=mmio.

SNAP_DRIVE=${SNAPSHOT_DRIVE:-$(dirname "$KVMM")/tests/snapshot-drive}
SNAP_ROUNDS=${GUEST_SNAPSHOT_ROUNDS:-24}

# snap_rounds_ok BEFORE AFTER N: rounds 1..N each printed once, in order, across both logs.
snap_rounds_ok() {
	local want=1 r
	for r in $(cat "$1" "$2" | tr -d '\r' | grep -oE 'snapshot: round [0-9]+ counter' |
		grep -oE '[0-9]+'); do
		[ "$r" -eq "$want" ] || return 1
		want=$((want + 1))
	done
	[ "$want" -eq $(($3 + 1)) ]
}

# snap_save NAME DIR LOG [extra kvmm options]: run the payload and save it after round 3.
snap_save() {
	local name=$1 dir=$2 log=$3
	shift 3
	timeout -k 5 "$TIMEOUT" "$SNAP_DRIVE" "$dir" "snapshot: round 3 " \
		--kernel "$PAYLOAD_DIR/snapshot.elf" --serial "file:$log" --debug-exit "$@" \
		>"$GUEST_WORK/$name.drive" 2>&1
}

# snap_case NAME CMDLINE [extra kvmm options, given to both runs]
snap_case() {
	local name=$1 cmdline=$2 dir=$GUEST_WORK/$1.snap before=$GUEST_WORK/$1.before
	local after=$GUEST_WORK/$1.after status
	shift 2
	GUEST_T0=$(date +%s%N)
	if ! snap_save "$name" "$dir" "$before" --memory 128M \
		--cmdline "rounds=$SNAP_ROUNDS $cmdline" "$@"; then
		guest_not_ok "$name" "the driver did not save a snapshot" "$GUEST_WORK/$name.drive"
		tail -n 5 "$before" | sed 's/^/#   guest: /'
		return
	fi
	if grep -q 'PASS snapshot' "$before"; then
		guest_not_ok "$name" "the guest finished before the snapshot" "$before"
		return
	fi
	timeout -k 5 "$TIMEOUT" "$KVMM" run --restore "$dir" --memory 128M "$@" --serial stdio \
		--debug-exit </dev/null >"$after" 2>"$GUEST_WORK/$name.err"
	status=$?
	if [ "$status" -ne 1 ] || ! grep -q '^PASS snapshot' "$after"; then
		guest_not_ok "$name" "restored run: exit status $status, expected 1 and PASS" "$after"
		sed 's/^/#   stderr: /' "$GUEST_WORK/$name.err" | tail -n 5
	elif grep -q 'snapshot: started' "$after"; then
		guest_not_ok "$name" "the restored guest booted again" "$after"
	elif ! snap_rounds_ok "$before" "$after" "$SNAP_ROUNDS"; then
		guest_not_ok "$name" "rounds 1..$SNAP_ROUNDS not continuous across the restore" "$after"
	else
		guest_ok "$name" "$(cat "$GUEST_WORK/$name.drive"), $(grep -c 'round' "$after") rounds after restore"
		# Warnings of the restore (e.g. MSRs KVM refused) are shown, not failed.
		sed 's/^/#   restore stderr: /' "$GUEST_WORK/$name.err" | head -n 5
	fi
}

# snap_restore_check NAME DIR BEFORE [extra kvmm options]: restore and check the continuation.
snap_restore_check() {
	local name=$1 dir=$2 before=$3 after=$GUEST_WORK/$1.after status
	shift 3
	timeout -k 5 "$TIMEOUT" "$KVMM" run --restore "$dir" --memory 128M "$@" --serial stdio \
		--debug-exit </dev/null >"$after" 2>"$GUEST_WORK/$name.err"
	status=$?
	if [ "$status" -ne 1 ] || ! grep -q '^PASS snapshot' "$after"; then
		guest_not_ok "$name" "restored run: exit status $status, expected 1 and PASS" "$after"
		sed 's/^/#   stderr: /' "$GUEST_WORK/$name.err" | tail -n 5
		return 1
	elif grep -q 'snapshot: started' "$after"; then
		guest_not_ok "$name" "the restored guest booted again" "$after"
		return 1
	elif ! snap_rounds_ok "$before" "$after" "$SNAP_ROUNDS"; then
		guest_not_ok "$name" "rounds 1..$SNAP_ROUNDS not continuous across the restore" "$after"
		return 1
	fi
	return 0
}

# Through the control socket: kvmm run --qmp, kvmm ctl x-kvmm-snapshot-save, kill -9, restore.
case_snapshot_qmp() {
	local name=snapshot-qmp dir=$GUEST_WORK/qmp.snap before=$GUEST_WORK/qmp.before
	local sock=$GUEST_WORK/qmp.sock pid st i
	GUEST_T0=$(date +%s%N)
	guest_new_disk
	"$KVMM" run --kernel "$PAYLOAD_DIR/snapshot.elf" --memory 128M \
		--disk "path=$GUEST_DISK,transport=mmio" \
		--cmdline "rounds=$SNAP_ROUNDS fill=16 blk=1" --qmp "unix:$sock" \
		--serial "file:$before" --debug-exit </dev/null >"$GUEST_WORK/qmp.run" 2>&1 &
	pid=$!
	for ((i = 0; i < TIMEOUT * 10; i++)); do
		grep -q 'snapshot: round 3 ' "$before" 2>/dev/null && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if ! "$KVMM" ctl "$sock" x-kvmm-snapshot-save "path=$dir" >"$GUEST_WORK/qmp.ctl" 2>&1; then
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		guest_not_ok "$name" "kvmm ctl x-kvmm-snapshot-save failed" "$GUEST_WORK/qmp.ctl"
		return
	fi
	st=$("$KVMM" ctl --json "$sock" query-status 2>&1)
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	if ! [[ $st == *'"status": "paused"'* ]]; then
		guest_not_ok "$name" "after the save the VM is not paused: $st"
		return
	fi
	if grep -q 'PASS snapshot' "$before"; then
		guest_not_ok "$name" "the guest finished before the snapshot" "$before"
		return
	fi
	if snap_restore_check "$name" "$dir" "$before" --disk "path=$GUEST_DISK,transport=mmio"; then
		guest_ok "$name" "saved through kvmm ctl, paused, killed, $(grep -c 'round' "$GUEST_WORK/$name.after") rounds after restore"
		sed 's/^/#   restore stderr: /' "$GUEST_WORK/$name.err" | head -n 5
	fi
}

# snap_refused NAME WHAT PATTERN DIR [options]: the restore must fail with status 2 and exactly
# one line on stderr matching PATTERN.
snap_refused() {
	local name=$1 what=$2 pat=$3 dir=$4 err=$GUEST_WORK/refuse.err status
	shift 4
	timeout -k 5 "$TIMEOUT" "$KVMM" run --restore "$dir" --memory 128M "$@" --serial none \
		--debug-exit </dev/null >/dev/null 2>"$err"
	status=$?
	if [ "$status" -ne 2 ] || [ "$(wc -l <"$err")" -ne 1 ] || ! grep -Eq "$pat" "$err"; then
		echo "# $what: status $status, stderr:"
		sed 's/^/#   /' "$err"
		return 1
	fi
	echo "# $what: $(cat "$err")"
}

case_snapshot_refuse() {
	local name=snapshot-refuse dir=$GUEST_WORK/refuse.snap bad=$GUEST_WORK/refuse.bad n ok=1
	GUEST_T0=$(date +%s%N)
	if ! snap_save refuse "$dir" "$GUEST_WORK/refuse.before" --memory 128M \
		--cmdline "rounds=$SNAP_ROUNDS"; then
		guest_not_ok "$name" "the driver did not save a snapshot" "$GUEST_WORK/refuse.drive"
		return
	fi
	rm -rf "$bad" && cp -r "$dir" "$bad"
	n=$(stat -c %s "$dir/state")
	printf '\377' | dd of="$bad/state" bs=1 seek=$((n / 2)) conv=notrunc 2>/dev/null
	snap_refused "$name" "corrupt state" 'checksum mismatch' "$bad" || ok=0
	head -c $((n - 100)) "$dir/state" >"$bad/state"
	snap_refused "$name" "truncated state" 'truncated' "$bad" || ok=0
	head -c 20 "$dir/state" >"$bad/state"
	snap_refused "$name" "state cut inside the header" 'not a kvmm snapshot' "$bad" || ok=0
	cp "$dir/state" "$bad/state"
	head -c $(($(stat -c %s "$dir/memory") - 4096)) "$dir/memory" >"$bad/memory"
	snap_refused "$name" "truncated memory" 'memory file is truncated' "$bad" || ok=0
	cp "$dir/memory" "$bad/memory"
	printf '\002' | dd of="$bad/state" bs=1 seek=8 conv=notrunc 2>/dev/null
	snap_refused "$name" "other version" 'format version 2' "$bad" || ok=0
	cp "$dir/state" "$bad/state"
	snap_refused "$name" "other --memory" 'give the same --memory' "$bad" --memory 256M || ok=0
	rm -f "$bad/state"
	snap_refused "$name" "missing state" 'cannot read the state file' "$bad" || ok=0
	if [ "$ok" -eq 1 ]; then
		guest_ok "$name" "7 broken snapshots refused with status 2"
	else
		guest_not_ok "$name" "a broken snapshot was not refused cleanly"
	fi
}

# A VM with a virtio-pci disk cannot be saved yet: x-kvmm-snapshot-save must answer a
# GenericError naming the device, create nothing, and leave the guest running; then quit.
case_snapshot_pci_refused() {
	local name=snapshot-pci-refused dir=$GUEST_WORK/pci.snap log=$GUEST_WORK/pci.log
	local sock=$GUEST_WORK/pci.sock pid r st i kst
	GUEST_T0=$(date +%s%N)
	guest_new_disk
	rm -rf "$dir"
	"$KVMM" run --kernel "$PAYLOAD_DIR/snapshot.elf" --memory 128M --disk "path=$GUEST_DISK" \
		--cmdline "rounds=100000 fill=1" --qmp "unix:$sock" --serial "file:$log" \
		--debug-exit </dev/null >"$GUEST_WORK/pci.run" 2>&1 &
	pid=$!
	for ((i = 0; i < TIMEOUT * 10; i++)); do
		grep -q 'snapshot: round 2 ' "$log" 2>/dev/null && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	r=$("$KVMM" ctl --timeout 60 "$sock" x-kvmm-snapshot-save "path=$dir" 2>&1)
	st=$?
	local want='snapshot: virtio-pci devices are not supported yet (use transport=mmio): virtio-blk at 00:'
	if [ "$st" -ne 1 ] || ! [[ $r == *"$want"*GenericError* ]]; then
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		guest_not_ok "$name" "save not refused as expected (ctl status $st): $r" "$log"
		return
	fi
	if [ -e "$dir" ]; then
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		guest_not_ok "$name" "the refused save created $dir"
		return
	fi
	st=$("$KVMM" ctl --json --timeout 60 "$sock" query-status 2>&1)
	if ! [[ $st == *'"status": "running"'* ]]; then
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		guest_not_ok "$name" "after the refused save the VM is not running: $st"
		return
	fi
	# The guest itself goes on: a round later than the last one before the refusal.
	i=$(tr -d '\r' <"$log" | grep -oE 'snapshot: round [0-9]+ ' | tail -n 1 | grep -oE '[0-9]+')
	local k
	for ((k = 0; k < TIMEOUT * 10; k++)); do
		grep -q "snapshot: round $((i + 1)) " "$log" && break
		sleep 0.1
	done
	"$KVMM" ctl --timeout 60 "$sock" quit >/dev/null 2>&1
	wait "$pid"
	kst=$?
	if ! grep -q "snapshot: round $((i + 1)) " "$log"; then
		guest_not_ok "$name" "the guest stopped after the refused save (last round $i)" "$log"
	elif [ "$kst" -ne 0 ]; then
		guest_not_ok "$name" "kvmm exit status $kst after quit, expected 0" "$GUEST_WORK/pci.run"
	else
		guest_ok "$name" "refused: ${r%% (GenericError)*}; still running (round $((i + 1))), quit"
	fi
}

# case_snapshot [NAME-REGEX]
case_snapshot() {
	local filter=${1:-} name
	for name in snapshot snapshot-blk snapshot-qmp snapshot-refuse snapshot-pci-refused; do
		guest_want "$name" "$filter" || continue
		if ! [ -x "$SNAP_DRIVE" ]; then
			guest_skip "$name" "no snapshot driver at $SNAP_DRIVE"
			continue
		fi
		case $name in
		snapshot) snap_case snapshot "fill=16" --cpus 2 ;;
		snapshot-blk)
			guest_new_disk
			snap_case snapshot-blk "fill=16 blk=1" --disk "path=$GUEST_DISK,transport=mmio"
			;;
		snapshot-qmp) case_snapshot_qmp ;;
		snapshot-refuse) case_snapshot_refuse ;;
		snapshot-pci-refused) case_snapshot_pci_refused ;;
		esac
	done
}
