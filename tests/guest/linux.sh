# shellcheck shell=bash
# tests/guest/linux.sh — one real Linux guest under kvmm (case `linux`), sourced by run.sh (so
# it runs under `make check-guest` and inside nested KVM with `make check-nested CASES=linux`).
# Boots Debian's bzImage (64-bit boot protocol) with the initramfs of tests/linux/mkinitramfs.sh
# and Linux's own drivers for kvmm's devices: virtio-pci (host bridge, ACPI MCFG/_CRS/_PRT,
# guest-assigned BARs, MSI-X) with virtio-blk, virtio-net (--net user, DHCP), virtio-rng and
# the virtio console, and a second virtio-blk on virtio-mmio (ACPI LNRO0005). The guest's /init
# (tests/linux/init.sh) prints "LINUX-CHECK ok|fail: ..." lines and powers off through ACPI; the
# case passes when kvmm exits 0, no check failed, LINUX-DONE ok was printed, hvc0's line is in
# the --console file and the disk image holds the sector the guest wrote.
# Files: LINUX_DIR (default $PAYLOAD_DIR/../linux) with vmlinuz and initramfs.cpio; skipped
# with the reason when they are missing. Timeout: GUEST_LINUX_TIMEOUT (default 480 s: Linux's
# ring 0 is slow under nested KVM on TCG).
# Needs from run.sh/lib.sh: KVMM, PAYLOAD_DIR, GUEST_WORK, guest_ok/not_ok/skip.

# linux_check_warnings OUT: set LINUX_WARN to the first kernel WARNING splat ("WARNING: CPU: N
# PID: N at FILE:LINE FUNC") in the guest's output that the environment does not explain
# (empty if none); print an explained one as a TAP comment. The one
# explained: fpu/xstate.c "XSAVE consistency problem" where XSETBV does not reach the KVM that
# runs kvmm (nested KVM on QEMU TCG: TCG's SVM ignores the XSETBV intercept, so KVM never
# learns the guest's XCR0 and CPUID.0xD.0 EBX stays at the x87/SSE size). That is decided
# by running the xsave payload with xcr0=report, not assumed; see docs/platform.md "XSAVE".
linux_check_warnings() {
	local w xs=$GUEST_WORK/linux-xsave-probe.out
	LINUX_WARN=
	w=$(tr -d '\r' <"$1" | grep -E 'WARNING: CPU: [0-9]+ PID: [0-9]+ at ' | head -n 1)
	w=${w#*] }
	[ -n "$w" ] || return 0
	if [[ $w == *fpu/xstate.c*fpu__init_system_xstate* ]] && [ -r "$PAYLOAD_DIR/xsave.elf" ]; then
		timeout -k 5 60 "$KVMM" run --kernel "$PAYLOAD_DIR/xsave.elf" --cmdline xcr0=report \
			--serial stdio --debug-exit </dev/null >"$xs" 2>&1
		if grep -q '^note - XCR0 after a VM exit' "$xs"; then
			echo "#   known: $w (XSETBV does not reach this KVM: $(grep -m1 '^note - XCR0' "$xs"))"
			return 0
		fi
	fi
	LINUX_WARN=$w
}

case_linux() {
	local name=linux dir=${LINUX_DIR:-$PAYLOAD_DIR/../linux} out=$GUEST_WORK/linux.out
	local err=$GUEST_WORK/linux.err con=$GUEST_WORK/linux.hvc0 d1=$GUEST_WORK/linux-pci.img
	local d2=$GUEST_WORK/linux-mmio.img status nok
	if ! guest_want "$name" "${1:-}"; then
		return
	fi
	# shellcheck disable=SC2034 # read by guest_ms (lib.sh)
	GUEST_T0=$(date +%s%N)
	if ! [ -r "$dir/vmlinuz" ] || ! [ -r "$dir/initramfs.cpio" ]; then
		guest_skip $name "no $dir/vmlinuz and initramfs.cpio (make linux-initramfs)"
		return
	fi
	{ printf 'KVMM-LINUX-PCI'; head -c $(((8 << 20) - 14)) /dev/zero | tr '\0' '\356'; } >"$d1"
	{ printf 'KVMM-LINUX-MMIO'; head -c $(((4 << 20) - 15)) /dev/zero | tr '\0' '\356'; } >"$d2"
	timeout -k 5 "${GUEST_LINUX_TIMEOUT:-480}" "$KVMM" run --kernel "$dir/vmlinuz" \
		--initrd "$dir/initramfs.cpio" --cmdline "console=ttyS0 quiet panic=-1" \
		--cpus 1 --memory 256M --disk "path=$d1" --disk "path=$d2,transport=mmio" --rng on \
		--console "file:$con" --net user --serial stdio </dev/null >"$out" 2>"$err"
	status=$?
	tr -d '\r' <"$out" | grep -E '^LINUX-(CHECK|INFO|DONE)' | sed 's/^/#   /'
	nok=$(tr -d '\r' <"$out" | grep -c '^LINUX-CHECK ok')
	if [ "$status" -ne 0 ]; then
		guest_not_ok $name "exit status $status, expected 0" "$out"
		sed 's/^/#   stderr: /' "$err" | tail -n 10
	elif tr -d '\r' <"$out" | grep -q '^LINUX-CHECK fail' ||
		! tr -d '\r' <"$out" | grep -q '^LINUX-DONE ok'; then
		guest_not_ok $name "a check failed or the guest did not finish" "$out"
	elif ! grep -q '^LINUX-HVC0 hello' "$con"; then
		guest_not_ok $name "hvc0's line is not in the --console file" "$con"
	elif [ "$(dd if="$d1" bs=16 skip=32 count=1 2>/dev/null)" != KVMM-LINUX-WROTE ]; then
		guest_not_ok $name "the image lacks the sector the guest wrote"
	elif linux_check_warnings "$out" && [ -n "$LINUX_WARN" ]; then
		guest_not_ok $name "the kernel logged a WARNING: $LINUX_WARN"
	else
		guest_ok $name "$nok checks passed, hvc0 and the written sector seen from the host"
	fi
}
