#!/usr/bin/env bash
# tests/guest/run-qemu.sh — run the guest case table (cases.sh) under QEMU, to check the
# payloads themselves and to compare with kvmm.
#
#   PAYLOAD_DIR=/abs/build/payload [ACCEL=kvm|tcg] [QEMU=qemu-system-x86_64] \
#       tests/guest/run-qemu.sh [NAME-REGEX]
#
# kvmm arguments are mapped: --memory -> -m, --cpus N[,sockets=..] -> -smp, --cpu host[,+f,-f]
# -> -cpu max[,f=on,f=off], --cmdline ->
# -append (plus " qemu=1"), --initrd -> -initrd, --on-reboot exit -> -no-reboot, --serial X ->
# -serial X (instead of -serial stdio), --console stdio -> a virtconsole on a stdio chardev
# (virtio-serial, port 0), --rng, --disk, --net user and --console -> modern virtio-pci
# functions or, with transport=mmio, virtio-mmio devices. The machine is
# -M microvm unless the case's qemu column says pc. Prints TAP and a final line
# "N passed, N failed, N skipped"; exits 0, 1 (failures) or 77 (QEMU or KVM unavailable).
set -u

GUEST_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$GUEST_DIR/lib.sh"

QEMU=${QEMU:-qemu-system-x86_64}
ACCEL=${ACCEL:-kvm}
TIMEOUT=${GUEST_TIMEOUT:-30}
: "${PAYLOAD_DIR:?PAYLOAD_DIR must point at the built payloads}"

if ! command -v "$QEMU" >/dev/null 2>&1; then
	echo "# $QEMU not found"
	echo "0 passed, 0 failed, 0 skipped"
	exit 77
fi
# -c first: a bare `<>` redirection would create /dev/kvm as a regular file.
if [ "$ACCEL" = kvm ] && { ! [ -c /dev/kvm ] || ! { : <>/dev/kvm; } 2>/dev/null; }; then
	echo "# /dev/kvm is not usable; try ACCEL=tcg"
	echo "0 passed, 0 failed, 0 skipped"
	exit 77
fi

# kvmm's transport=pci (the default) is a modern-only virtio-pci function on QEMU microvm's
# PCIe root bus (-M microvm,pcie=on; QEMU keeps a transitional device there unless
# disable-legacy=on); transport=mmio is virtio-mmio version 2.
# virtio_device KIND TRANSPORT EXTRA [PCI-EXTRA]: append the -device for a virtio-KIND
# (PCI-EXTRA: properties only the PCI proxy has, e.g. romfile=).
virtio_device() {
	if [ "$2" = mmio ]; then
		Q_ARGV+=(-global virtio-mmio.force-legacy=false -device "virtio-$1-device$3$Q_PACKED")
	else
		Q_PCIE=1
		Q_ARGV+=(-device "virtio-$1-pci,disable-legacy=on$3${4:-}$Q_PACKED")
	fi
}

# disk_argv SPEC: kvmm's --disk path=P[,readonly=on][,serial=S][,transport=T] for QEMU.
disk_argv() {
	local spec=$1 kv path="" ro="" serial="" tr=pci n=${#Q_ARGV[@]}
	local -a items
	IFS=, read -ra items <<<"$spec"
	for kv in "${items[@]}"; do
		case $kv in
		path=*) path=${kv#path=} ;;
		readonly=on) ro=",readonly=on" ;;
		serial=*) serial=",serial=${kv#serial=}" ;;
		transport=*) tr=${kv#transport=} ;;
		*=*) ;;
		*) path=$kv ;;
		esac
	done
	Q_ARGV+=(-drive "id=d$n,file=$path,format=raw,if=none$ro")
	virtio_device blk "$tr" ",drive=d$n$serial"
}

# rng_argv VALUE: kvmm's --rng on|RATE[,transport=T].
rng_argv() {
	local tr=pci kv
	local -a items
	IFS=, read -ra items <<<"$1"
	for kv in "${items[@]}"; do
		[[ $kv == transport=* ]] && tr=${kv#transport=}
	done
	virtio_device rng "$tr" ""
}

# qemu_argv: translate C_ARGV (kvmm arguments) into Q_ARGV.
# net_argv SPEC: kvmm's --net user[,...][,mac=M][,transport=T] as QEMU -netdev user +
# virtio-net-pci (modern only, no option ROM) or virtio-net-device (the user options
# hostfwd/restrict/net are spelled alike). Only the user backend maps.
net_argv() {
	local spec=$1 mac='' opt rest=user tr=pci
	IFS=, read -r -a opts <<<"$spec"
	for opt in "${opts[@]:1}"; do
		case $opt in
		mac=*) mac=,$opt ;;
		transport=*) tr=${opt#transport=} ;;
		*) rest+=,$opt ;;
		esac
	done
	Q_ARGV+=(-netdev "$rest,id=n0")
	virtio_device net "$tr" ",netdev=n0$mac" ",romfile="
}

# console_argv VALUE: kvmm's --console stdio[,transport=T] as a virtconsole on a stdio chardev
# (virtio-serial-pci or virtio-serial-device, one port). Other modes do not map.
console_argv() {
	local tr=pci
	case $1 in
	stdio) ;;
	stdio,transport=*) tr=${1#stdio,transport=} ;;
	*) return 1 ;;
	esac
	Q_ARGV+=(-chardev "stdio,id=vcon0,signal=off")
	virtio_device serial "$tr" ",max_ports=1"
	Q_ARGV+=(-device "virtconsole,chardev=vcon0")
}

# cpu_argv VALUE: kvmm's --cpu host[,+flag,-flag...] as -cpu max[,flag=on,flag=off...] (the
# flags' Linux names are QEMU's for the ones the cases use). The x86-64-vN models do not map.
cpu_argv() {
	local f q=max
	case $1 in
	host) ;;
	host,*)
		local IFS=,
		for f in ${1#host,}; do
			case $f in
			+*) q+=",${f#+}=on" ;;
			-*) q+=",${f#-}=off" ;;
			*) return 1 ;;
			esac
		done
		;;
	*) return 1 ;;
	esac
	Q_ARGV+=(-cpu "$q")
}

qemu_argv() {
	local i=0 n=${#C_ARGV[@]} a append=""
	Q_ARGV=()
	Q_SERIAL=(-serial stdio)
	# packed=1 on the guest command line: the payload drivers negotiate packed virtqueues,
	# which QEMU offers only with packed=on.
	Q_PACKED=""
	for a in "${C_ARGV[@]}"; do
		[[ " $a " == *" packed=1 "* ]] && Q_PACKED=",packed=on"
	done
	Q_PCIE=0
	while [ "$i" -lt "$n" ]; do
		a=${C_ARGV[i]}
		case $a in
		--memory) Q_ARGV+=(-m "${C_ARGV[i + 1]}"); i=$((i + 1)) ;;
		--cpus) Q_ARGV+=(-smp "${C_ARGV[i + 1]}"); i=$((i + 1)) ;;
		--cpu) cpu_argv "${C_ARGV[i + 1]}" || return 1; i=$((i + 1)) ;;
		--cmdline) append=${C_ARGV[i + 1]}; i=$((i + 1)) ;;
		--initrd) Q_ARGV+=(-initrd "${C_ARGV[i + 1]}"); i=$((i + 1)) ;;
		--on-reboot)
			[ "${C_ARGV[i + 1]}" = exit ] && Q_ARGV+=(-no-reboot)
			i=$((i + 1))
			;;
		--rng) rng_argv "${C_ARGV[i + 1]}"; i=$((i + 1)) ;;
		--disk) disk_argv "${C_ARGV[i + 1]}"; i=$((i + 1)) ;;
		--net) net_argv "${C_ARGV[i + 1]}"; i=$((i + 1)) ;;
		--serial) Q_SERIAL=(-serial "${C_ARGV[i + 1]}"); i=$((i + 1)) ;;
		--console) console_argv "${C_ARGV[i + 1]}" || return 1; i=$((i + 1)) ;;
		--debug-exit) ;;
		*)
			echo "# run-qemu.sh: cannot map kvmm argument '$a'" >&2
			return 1
			;;
		esac
		i=$((i + 1))
	done
	Q_ARGV+=(-append "${append:+$append }qemu=1")
}

run_case() {
	local out=$GUEST_WORK/$C_NAME.out err=$GUEST_WORK/$C_NAME.err status missing machine
	GUEST_T0=
	if [ "$C_QEMU" = skip ] || [ "$C_PAYLOAD" = - ]; then
		guest_skip "$C_NAME" "kvmm-only case"
		return
	fi
	case $C_QEMU in
	microvm) machine=microvm ;;
	pc) machine=pc ;;
	*)
		guest_not_ok "$C_NAME" "bad qemu column '$C_QEMU'"
		return
		;;
	esac
	if [ "$C_PAYLOAD" != - ] && [ ! -f "$PAYLOAD_DIR/$C_PAYLOAD" ]; then
		guest_not_ok "$C_NAME" "payload $PAYLOAD_DIR/$C_PAYLOAD is missing"
		return
	fi
	guest_args_to_array
	if ! qemu_argv; then
		guest_not_ok "$C_NAME" "unmappable arguments"
		return
	fi
	[ "$Q_PCIE" = 1 ] && [ "$machine" = microvm ] && machine=microvm,pcie=on
	GUEST_T0=$(date +%s%N)
	if [[ $C_STATUS == reboots:* ]]; then
		if guest_run_reboots "${C_STATUS#reboots:}" "$out" "$err" timeout -k 5 "$TIMEOUT" \
			"$QEMU" -M "$machine" -accel "$ACCEL" -nodefaults -no-user-config \
			-display none "${Q_SERIAL[@]}" -device isa-debug-exit,iobase=0xf4,iosize=4 \
			-kernel "$PAYLOAD_DIR/$C_PAYLOAD" "${Q_ARGV[@]}"; then
			if ! missing=$(guest_check_output "$out"); then
				guest_not_ok "$C_NAME" "serial output lacks /$missing/" "$out"
				return
			fi
			guest_ok "$C_NAME" "$machine, ${C_STATUS#reboots:} boots seen"
		else
			guest_not_ok "$C_NAME" "fewer than ${C_STATUS#reboots:} boots seen" "$out"
		fi
		return
	fi
	guest_feed_stdin | timeout -k 5 "$TIMEOUT" "$QEMU" -M "$machine" -accel "$ACCEL" \
		-nodefaults -no-user-config -display none "${Q_SERIAL[@]}" \
		-device isa-debug-exit,iobase=0xf4,iosize=4 \
		-kernel "$PAYLOAD_DIR/$C_PAYLOAD" "${Q_ARGV[@]}" >"$out" 2>"$err"
	status=${PIPESTATUS[1]}
	if [ "$status" -ne "$C_STATUS" ]; then
		guest_not_ok "$C_NAME" "exit status $status, expected $C_STATUS" "$out"
		sed 's/^/#   stderr: /' "$err" | tail -n 5
		return
	fi
	if ! missing=$(guest_check_output "$out"); then
		guest_not_ok "$C_NAME" "serial output lacks /$missing/" "$out"
		return
	fi
	guest_ok "$C_NAME" "$machine"
}

guest_setup
guest_each_case run_case "${1:-}"
guest_finish
