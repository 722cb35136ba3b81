# shellcheck shell=bash
# tests/guest/snapshot.sh — snapshot/restore cases for tests/guest/run.sh (sourced; uses its
# KVMM, PAYLOAD_DIR, TIMEOUT, GUEST_WORK and the guest_* helpers of lib.sh). A VM running
# payload/snapshot.c is saved mid-run by the test driver tests/snapshot-drive (next to kvmm;
# it saves with vm_snapshot_save() and exits at once, as kill -9 would), then
# `kvmm run --restore DIR` must continue it: the guest re-checks its memory, its counter and
# (with a disk) its virtqueue, and the rounds it prints must continue without a gap or a reboot.
#   snapshot          RAM pattern + counter
#   snapshot-blk      the same while writing and reading a virtio-blk disk every round
#   snapshot-blk-packed  snapshot-blk with the disk's queue in the packed layout (packed=on)
#   snapshot-console  the same with a line per round on the virtio console (--console file:,
#                     another file after the restore): hvc0's lines continue across the restore
#   snapshot-console-pci  the same with the console on virtio-pci
#   snapshot-net      payload/virtio_net.c with --net user: DHCP (second lease, a decoy took the
#                     first), ARP, ping, saved, restored: DHCP gives the same address again
#                     (libslirp's lease table was restored), ARP and ping work
#   snapshot-net-qmp  the same saved through kvmm ctl (on the event-loop thread), then kill -9
#   snapshot-net-pci  snapshot-net-qmp with the NIC on virtio-pci (MSI-X), restored with
#                     --restore DIR and runtime options only
#   snapshot-qmp      the production path: kvmm run --qmp, `kvmm ctl SOCK x-kvmm-snapshot-save
#                     path=DIR`, the VM must then be paused, kill -9, restore (with a disk)
#   snapshot-refuse   a corrupt, truncated or mismatched snapshot: status 2 and one line
#   snapshot-config   the snapshot holds the configuration: saved with relative paths, a disk
#                     and an rng, restored from another directory with only --restore DIR and
#                     runtime options (--serial, --debug-exit)
#   snapshot-config-reboot  the same saved with --on-reboot restart, restored with --qmp: a
#                     system_reset boots the saved kernel with the saved command line
#   snapshot-blk-pci  snapshot-blk with the disk on virtio-pci (the default transport) and
#                     MSI-X interrupts taken by the guest (transport=pci msix=1), behind an
#                     rng function the guest leaves alone (00:01.0 rng, 00:02.0 disk)
#   snapshot-blk-packed-pci  snapshot-blk-packed on virtio-pci with MSI-X
#   snapshot-qmp-pci  snapshot-qmp the same way
#   snapshot-pci-set  a restore whose PCI functions differ from the snapshot's (a second disk,
#                     or the disk on mmio): status 2, one line naming the slot
# The payload finds its disk on virtio-mmio unless its command line says transport=pci.

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
	local after=$GUEST_WORK/$1.after
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
	if [ -n "${SNAP_EXPECT:-}" ] && ! grep -q "$SNAP_EXPECT" "$before"; then
		guest_not_ok "$name" "the guest did not print '$SNAP_EXPECT' before the snapshot" "$before"
		return
	fi
	if snap_restore_check "$name" "$dir" "$before" "$@"; then
		guest_ok "$name" "$(cat "$GUEST_WORK/$name.drive"), $(grep -c 'round' "$after") rounds after restore$(snap_msix_note "$after")"
		# Warnings of the restore (e.g. MSRs KVM refused) are shown, not failed.
		sed 's/^/#   restore stderr: /' "$GUEST_WORK/$name.err" | head -n 5
	fi
}

# snap_restore_check NAME DIR BEFORE [extra kvmm options]: restore (the machine comes from the
# configuration saved in the snapshot; the options given override it) and check the
# continuation; reports only a failure. SNAP_CWD: the directory kvmm runs in (default: here).
snap_restore_check() {
	local name=$1 dir=$2 before=$3 after=$GUEST_WORK/$1.after status kvmm
	shift 3
	kvmm=$(realpath "$KVMM")
	(cd "${SNAP_CWD:-.}" && timeout -k 5 "$TIMEOUT" "$kvmm" run --restore "$dir" "$@" \
		--serial stdio --debug-exit </dev/null >"$after" 2>"$GUEST_WORK/$name.err")
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
# case_snapshot_qmp NAME TRANSPORT [EXTRA-CMDLINE]
case_snapshot_qmp() {
	local name=$1 tr=$2 extra=${3:-} dir=$GUEST_WORK/$1.snap before=$GUEST_WORK/$1.before
	local sock=$GUEST_WORK/$1.sock pid st i
	GUEST_T0=$(date +%s%N)
	guest_new_disk
	"$KVMM" run --kernel "$PAYLOAD_DIR/snapshot.elf" --memory 128M \
		--disk "path=$GUEST_DISK,transport=$tr" \
		--cmdline "rounds=$SNAP_ROUNDS fill=16 blk=1 $extra" --qmp "unix:$sock" \
		--serial "file:$before" --debug-exit </dev/null >"$GUEST_WORK/$name.run" 2>&1 &
	pid=$!
	for ((i = 0; i < TIMEOUT * 10; i++)); do
		grep -q 'snapshot: round 3 ' "$before" 2>/dev/null && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if ! "$KVMM" ctl --timeout 120 "$sock" x-kvmm-snapshot-save "path=$dir" \
		>"$GUEST_WORK/$name.ctl" 2>&1; then
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		guest_not_ok "$name" "kvmm ctl x-kvmm-snapshot-save failed" "$GUEST_WORK/$name.ctl"
		return
	fi
	st=$("$KVMM" ctl --json --timeout 60 "$sock" query-status 2>&1)
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
	if snap_restore_check "$name" "$dir" "$before" --disk "path=$GUEST_DISK,transport=$tr"; then
		guest_ok "$name" "saved through kvmm ctl, paused, killed, $(grep -c 'round' "$GUEST_WORK/$name.after") rounds after restore$(snap_msix_note "$GUEST_WORK/$name.after")"
		sed 's/^/#   restore stderr: /' "$GUEST_WORK/$name.err" | head -n 5
	fi
}

# snap_msix_note AFTER: ", <the payload's MSI-X line>" if it printed one.
snap_msix_note() {
	local l
	l=$(tr -d '\r' <"$1" | grep -oE 'ok - [0-9]+ MSI-X interrupts for [0-9]+ requests' | head -n 1)
	[ -n "$l" ] && echo ", ${l#ok - }"
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
	printf '\377' | dd of="$bad/state" bs=1 seek=8 conv=notrunc 2>/dev/null
	snap_refused "$name" "other version" 'format version 255' "$bad" || ok=0
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

# A snapshot of a VM with a virtio-pci disk restored with other PCI functions: refused with
# status 2 and one line naming the slot, before the VM starts.
case_snapshot_pci_set() {
	local name=snapshot-pci-set dir=$GUEST_WORK/pciset.snap ok=1 d2=$GUEST_WORK/pciset2.img
	GUEST_T0=$(date +%s%N)
	guest_new_disk
	if ! snap_save pciset "$dir" "$GUEST_WORK/pciset.before" --memory 128M \
		--cmdline "rounds=$SNAP_ROUNDS fill=1 blk=1 transport=pci msix=1" \
		--disk "path=$GUEST_DISK"; then
		guest_not_ok "$name" "the driver did not save a snapshot" "$GUEST_WORK/pciset.drive"
		return
	fi
	cp "$GUEST_DISK" "$d2"
	snap_refused "$name" "a second PCI disk" \
		'PCI 00:02.0 holds no function in the snapshot, virtio-blk with 1 queue in this configuration' \
		"$dir" --disk "path=$GUEST_DISK" --disk "path=$d2" || ok=0
	snap_refused "$name" "the disk on mmio" \
		'the snapshot has 0 virtio devices, this configuration 1' \
		"$dir" --disk "path=$GUEST_DISK,transport=mmio" || ok=0
	snap_refused "$name" "an rng instead of the disk" 'PCI 00:01.0 holds virtio-blk' "$dir" --rng on || ok=0
	if [ "$ok" -eq 1 ]; then
		guest_ok "$name" "3 other PCI device sets refused with status 2"
	else
		guest_not_ok "$name" "another PCI device set was not refused cleanly"
	fi
}

# The configuration is in the snapshot: save with relative kernel and disk paths (run from the
# disk's directory) and an mmio rng, restore from / with nothing but runtime options. Without
# the saved --memory, --rng and --disk the restore would be refused (other RAM size, other
# device count); with relative paths stored, the disk would not be found from /.
case_snapshot_config() {
	local name=snapshot-config dir=$GUEST_WORK/config.snap before=$GUEST_WORK/config.before
	local after=$GUEST_WORK/snapshot-config.after err=$GUEST_WORK/snapshot-config.err
	local drive payload
	GUEST_T0=$(date +%s%N)
	guest_new_disk
	rm -rf "$dir"
	drive=$(realpath "$SNAP_DRIVE") payload=$(realpath "$PAYLOAD_DIR")
	mkdir -p "$GUEST_WORK/config.d"
	cp "$payload/snapshot.elf" "$GUEST_WORK/config.d/snapshot.elf"
	mv "$GUEST_DISK" "$GUEST_WORK/config.d/disk.img"
	# --kernel ./snapshot.elf (snap_save's PAYLOAD_DIR), --disk path=disk.img: relative
	if ! (cd "$GUEST_WORK/config.d" && SNAP_DRIVE=$drive PAYLOAD_DIR=. snap_save config \
		"$dir" "$before" --memory 128M --cmdline "rounds=$SNAP_ROUNDS fill=16 blk=1" \
		--disk path=disk.img,transport=mmio --rng 1M,transport=mmio); then
		guest_not_ok "$name" "the driver did not save a snapshot" "$GUEST_WORK/config.drive"
		tail -n 5 "$before" | sed 's/^/#   guest: /'
		return
	fi
	if grep -q 'PASS snapshot' "$before"; then
		guest_not_ok "$name" "the guest finished before the snapshot" "$before"
		return
	fi
	if SNAP_CWD=/ snap_restore_check "$name" "$dir" "$before"; then
		guest_ok "$name" "restored with --restore DIR --serial stdio --debug-exit only, from /; $(grep -c 'round' "$after") rounds after restore"
		sed 's/^/#   restore stderr: /' "$err" | head -n 5
	fi
}

# After a restore, a reset with the saved --on-reboot restart boots the saved kernel (relative
# at save) with the saved command line (fill=3 shows in its boot line): the restoring process
# is given only --restore, --qmp and --serial, from /.
# Uses qmp_wait_for (qmp.sh, sourced by run.sh before the cases run).
case_snapshot_config_reboot() {
	local name=snapshot-config-reboot dir=$GUEST_WORK/reboot.snap before=$GUEST_WORK/reboot.before
	local after=$GUEST_WORK/reboot.after sock=$GUEST_WORK/reboot.sock kvmm drive payload pid st
	GUEST_T0=$(date +%s%N)
	rm -rf "$dir" "$GUEST_WORK/reboot.d"
	kvmm=$(realpath "$KVMM") drive=$(realpath "$SNAP_DRIVE") payload=$(realpath "$PAYLOAD_DIR")
	mkdir -p "$GUEST_WORK/reboot.d"
	cp "$payload/snapshot.elf" "$GUEST_WORK/reboot.d/snapshot.elf"
	if ! (cd "$GUEST_WORK/reboot.d" && SNAP_DRIVE=$drive PAYLOAD_DIR=. snap_save reboot \
		"$dir" "$before" --memory 128M --cmdline "rounds=100000 fill=3" \
		--on-reboot restart); then
		guest_not_ok "$name" "the driver did not save a snapshot" "$GUEST_WORK/reboot.drive"
		return
	fi
	(cd / && exec timeout -k 5 "$TIMEOUT" "$kvmm" run --restore "$dir" --qmp "unix:$sock" \
		--serial "file:$after" </dev/null >"$GUEST_WORK/reboot.run" 2>&1) &
	pid=$!
	if ! qmp_wait_for "$after" 'snapshot: round [0-9]+ ' 30; then
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		guest_not_ok "$name" "the restored guest printed no round" "$GUEST_WORK/reboot.run"
		return
	fi
	if grep -q 'snapshot: started' "$after"; then
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		guest_not_ok "$name" "the restored guest booted again" "$after"
		return
	fi
	"$kvmm" ctl --timeout 60 "$sock" system_reset >"$GUEST_WORK/reboot.ctl" 2>&1
	if ! qmp_wait_for "$after" 'snapshot: started, 3 MiB filled' 30; then
		"$kvmm" ctl --timeout 10 "$sock" quit >/dev/null 2>&1
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		guest_not_ok "$name" "no boot of the saved kernel and command line after system_reset" "$after"
		sed 's/^/#   kvmm: /' "$GUEST_WORK/reboot.run" | tail -n 5
		return
	fi
	"$kvmm" ctl --timeout 60 "$sock" quit >/dev/null 2>&1
	wait "$pid"
	st=$?
	if [ "$st" -ne 0 ]; then
		guest_not_ok "$name" "kvmm exit status $st after quit, expected 0" "$GUEST_WORK/reboot.run"
	else
		guest_ok "$name" "restored, system_reset booted the saved kernel: $(grep -m1 'snapshot: started' "$after" | tr -d '\r')"
	fi
}

# The virtio console: one line per round on hvc0 into a file, another file after the restore
# (the host end is reopened from the configuration); both together must hold rounds 1..N once.
# case_snapshot_console NAME TRANSPORT (mmio, or pci: the payload gets transport=pci)
case_snapshot_console() {
	local name=$1 tr=$2 dir=$GUEST_WORK/$1.snap before=$GUEST_WORK/$1.before
	local c1=$GUEST_WORK/$1.hvc0.before c2=$GUEST_WORK/$1.hvc0.after want=1 r extra=
	GUEST_T0=$(date +%s%N)
	rm -f "$c1" "$c2"
	[ "$tr" = pci ] && extra=" transport=pci"
	if ! snap_save "$name" "$dir" "$before" --memory 128M \
		--cmdline "rounds=$SNAP_ROUNDS fill=16 con=1$extra" --console "file:$c1,transport=$tr"; then
		guest_not_ok "$name" "the driver did not save a snapshot" "$GUEST_WORK/$name.drive"
		return
	fi
	snap_restore_check "$name" "$dir" "$before" --console "file:$c2,transport=$tr" || return
	for r in $(cat "$c1" "$c2" | sed -nE 's/^hvc0: round ([0-9]+)$/\1/p'); do
		[ "$r" -eq "$want" ] || break
		want=$((want + 1))
	done
	if ! grep -q '^hvc0: round 1$' "$c1" || ! [ -s "$c2" ]; then
		guest_not_ok "$name" "hvc0 wrote nothing before or after the restore" "$c2"
	elif [ "$want" -ne $((SNAP_ROUNDS + 1)) ]; then
		guest_not_ok "$name" "hvc0 rounds not continuous across the restore (at $want)" "$c2"
	else
		guest_ok "$name" "hvc0: $(grep -c round "$c1") rounds before, $(grep -c round "$c2") after the restore"
	fi
}

# virtio-net with the user backend: the payload's DHCP lease, ARP and ping before and after.
# case_snapshot_net NAME drive|qmp: saved by the test driver (from a thread other than the event
# loop's: the loop is parked) or through kvmm ctl (on the loop thread itself).
# case_snapshot_net NAME drive|qmp [pci]: with pci the NIC is a virtio-pci function whose
# queues interrupt through MSI-X (payload: transport=pci msix).
case_snapshot_net() {
	local name=$1 how=$2 tr=${3:-mmio} dir=$GUEST_WORK/$1.snap before=$GUEST_WORK/$1.before
	local after=$GUEST_WORK/$1.after sock=$GUEST_WORK/$1.sock status a1 a2 pid i saved
	local cmdline="snapshot=10"
	[ "$tr" = pci ] && cmdline="snapshot=10 transport=pci msix"
	# shellcheck disable=SC2054 # commas inside an option value
	local opts=(--kernel "$PAYLOAD_DIR/virtio_net.elf" --serial "file:$before" --debug-exit
		--memory 128M --net "user,transport=$tr" --cmdline "$cmdline")
	GUEST_T0=$(date +%s%N)
	rm -rf "$dir"
	if [ "$how" = drive ]; then
		if ! timeout -k 5 "$TIMEOUT" "$SNAP_DRIVE" "$dir" "virtio_net: snapshot point" \
			"${opts[@]}" >"$GUEST_WORK/$name.drive" 2>&1; then
			guest_not_ok "$name" "the driver did not save a snapshot" "$GUEST_WORK/$name.drive"
			tail -n 5 "$before" | sed 's/^/#   guest: /'
			return
		fi
		saved=$(cat "$GUEST_WORK/$name.drive")
	else
		"$KVMM" run "${opts[@]}" --qmp "unix:$sock" </dev/null >"$GUEST_WORK/$name.run" 2>&1 &
		pid=$!
		for ((i = 0; i < TIMEOUT * 10; i++)); do
			grep -q 'virtio_net: snapshot point' "$before" 2>/dev/null && break
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if ! "$KVMM" ctl "$sock" x-kvmm-snapshot-save "path=$dir" >"$GUEST_WORK/$name.ctl" 2>&1; then
			kill -9 "$pid" 2>/dev/null
			wait "$pid" 2>/dev/null
			guest_not_ok "$name" "kvmm ctl x-kvmm-snapshot-save failed" "$GUEST_WORK/$name.ctl"
			return
		fi
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		saved="saved through kvmm ctl"
	fi
	if grep -q 'after the snapshot point' "$before"; then
		guest_not_ok "$name" "the guest went on before the snapshot was taken" "$before"
		return
	fi
	timeout -k 5 "$TIMEOUT" "$KVMM" run --restore "$dir" --serial stdio --debug-exit \
		</dev/null >"$after" 2>"$GUEST_WORK/$name.err"
	status=$?
	a1=$(grep -oE 'ok - DHCP ACK: address [0-9.]+' "$before" | tail -n 1)
	a2=$(grep -oE 'ok - DHCP ACK: address [0-9.]+' "$after" | tail -n 1)
	if [ "$status" -ne 1 ] || ! grep -q '^PASS virtio_net' "$after"; then
		guest_not_ok "$name" "restored run: exit status $status, expected 1 and PASS" "$after"
		sed 's/^/#   stderr: /' "$GUEST_WORK/$name.err" | tail -n 5
	elif grep -q 'virtio_net: device at' "$after"; then
		guest_not_ok "$name" "the restored guest booted again" "$after"
	elif ! grep -q 'after the snapshot point' "$after" ||
		! grep -q 'ok - ICMP echo reply' "$after"; then
		guest_not_ok "$name" "no DHCP/ping after the restore" "$after"
	elif [ -z "$a1" ] || [ "$a1" != "$a2" ]; then
		guest_not_ok "$name" "DHCP address before '$a1', after '$a2'" "$after"
	else
		guest_ok "$name" "$saved; ${a1#ok - DHCP ACK: } before and after, ping after the restore"
		sed 's/^/#   restore stderr: /' "$GUEST_WORK/$name.err" | head -n 5
	fi
}

# case_snapshot [NAME-REGEX]
case_snapshot() {
	local filter=${1:-} name
	for name in snapshot snapshot-blk snapshot-blk-packed snapshot-console snapshot-console-pci \
		snapshot-net snapshot-net-qmp snapshot-net-pci snapshot-qmp snapshot-refuse snapshot-blk-pci snapshot-blk-packed-pci \
		snapshot-qmp-pci snapshot-pci-set snapshot-config snapshot-config-reboot; do
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
		snapshot-blk-packed)
			guest_new_disk
			SNAP_EXPECT='virtio-blk with a packed virtqueue' snap_case snapshot-blk-packed \
				"fill=16 blk=1 packed=1" --disk "path=$GUEST_DISK,transport=mmio,packed=on"
			;;
		snapshot-console) case_snapshot_console snapshot-console mmio ;;
		snapshot-console-pci) case_snapshot_console snapshot-console-pci pci ;;
		snapshot-net) case_snapshot_net snapshot-net drive ;;
		snapshot-net-qmp) case_snapshot_net snapshot-net-qmp qmp ;;
		snapshot-net-pci) case_snapshot_net snapshot-net-pci qmp pci ;;
		snapshot-qmp) case_snapshot_qmp snapshot-qmp mmio ;;
		snapshot-blk-pci)
			guest_new_disk
			snap_case snapshot-blk-pci "fill=16 blk=1 transport=pci msix=1" \
				--rng on --disk "path=$GUEST_DISK"
			;;
		snapshot-blk-packed-pci)
			guest_new_disk
			SNAP_EXPECT='virtio-blk with a packed virtqueue' snap_case \
				snapshot-blk-packed-pci "fill=16 blk=1 packed=1 transport=pci msix=1" \
				--disk "path=$GUEST_DISK,packed=on"
			;;
		snapshot-qmp-pci) case_snapshot_qmp snapshot-qmp-pci pci "transport=pci msix=1" ;;
		snapshot-pci-set) case_snapshot_pci_set ;;
		snapshot-refuse) case_snapshot_refuse ;;
		snapshot-config) case_snapshot_config ;;
		snapshot-config-reboot) case_snapshot_config_reboot ;;
		esac
	done
}
