#!/bin/sh
# tests/acpi/qemu-linux.sh — boot a real Linux kernel on kvmm's ACPI tables (slow; not in CI).
#
# Usage: tests/acpi/qemu-linux.sh BUILD_DIR [KERNEL]
#   KERNEL defaults to the newest /boot/vmlinuz-*. Needs qemu-system-x86_64 (TCG is enough).
#
# BUILD_DIR/tests/unit/test_acpi dumps each configuration's whole ACPI area (<config>-area.bin,
# the 64 KiB at LAYOUT_ACPI = 0xe0000). QEMU's microvm machine with acpi=off (so QEMU adds no
# tables of its own) loads that image at 0xe0000 with `-device loader`; Linux finds the RSDP by
# its legacy scan and runs until it panics for lack of a root file system. The script then
# checks the kernel log for what the tables describe. microvm has no PM1 block at 0x600, so the
# PM-timer and "RealTimeClock events" complaints are expected there and ignored.
# Exit: 0 pass, 1 fail, 77 skip.
set -eu

BUILD=${1:?usage: qemu-linux.sh BUILD_DIR [KERNEL]}
KERNEL=${2:-$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -1)}
if ! command -v qemu-system-x86_64 >/dev/null 2>&1 || [ ! -r "${KERNEL:-/nonexistent}" ]; then
	echo "SKIP: needs qemu-system-x86_64 and a readable kernel"
	exit 77
fi
DIR=$(mktemp -d)
qpid=
cleanup() {
	[ -n "$qpid" ] && kill "$qpid" 2>/dev/null
	rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
KVMM_ACPI_DUMP_DIR=$DIR "$BUILD/tests/unit/test_acpi" >"$DIR/test.log" 2>&1 || {
	cat "$DIR/test.log"
	exit 1
}

fail=0
# boot CONFIG SMP: boots the config's tables with QEMU's matching -smp; log in $DIR/CONFIG.log
# The kernel panics (no root file system) and, with panic=-1 and -no-reboot, QEMU exits; a
# guest that never gets there is stopped after QEMU_LINUX_TIMEOUT seconds (default 600).
boot() {
	qemu-system-x86_64 -accel tcg -nographic -no-reboot -m 256 -smp "$2" \
		-M microvm,acpi=off,auto-kernel-cmdline=off,pic=on,pit=on,rtc=on,isa-serial=on \
		-kernel "$KERNEL" \
		-append "console=ttyS0 panic=-1 ignore_loglevel no_timer_check" \
		-device loader,file="$DIR/$1-area.bin",addr=0xe0000,force-raw=on \
		>"$DIR/$1.log" 2>&1 </dev/null &
	qpid=$!
	t=0
	while kill -0 "$qpid" 2>/dev/null && [ $t -lt "${QEMU_LINUX_TIMEOUT:-600}" ]; do
		sleep 1
		t=$((t + 1))
	done
	kill "$qpid" 2>/dev/null || true
	wait "$qpid" 2>/dev/null || true
	qpid=
}

want() { # CONFIG PATTERN...
	cfg=$1
	shift
	for p in "$@"; do
		if ! grep -qF -- "$p" "$DIR/$cfg.log"; then
			echo "FAIL: $cfg: kernel log lacks '$p'"
			fail=1
		fi
	done
}

unexpected() { # CONFIG: ACPI errors other than the known microvm artefacts
	if grep -E 'ACPI (BIOS )?(Error|Warning)|AE_[A-Z_]+|Invalid|checksum' "$DIR/$1.log" |
		grep -vE 'Could not disable RealTimeClock events|_OSC: platform retains control|Early table checksum verification disabled' |
		grep -q .; then
		echo "FAIL: $1: unexpected ACPI complaints:"
		grep -E 'ACPI (BIOS )?(Error|Warning)|AE_[A-Z_]+|Invalid|checksum' "$DIR/$1.log" | head
		fail=1
	fi
}

common='ACPI: RSDP 0x00000000000E0000
ACPI: 1 ACPI AML tables successfully acquired and loaded
ACPI: PM: (supports S0 S5)
ACPI: INT_SRC_OVR (bus 0 bus_irq 0 global_irq 2 dfl dfl)
ACPI: INT_SRC_OVR (bus 0 bus_irq 9 global_irq 9 high level)
IOAPIC[0]: apic_id 0, version 32, address 0xfec00000, GSI 0-23
ACPI: PM-Timer IO Port: 0x608
ttyS0 at I/O 0x3f8 (irq = 4
rtc_cmos 00:01: registered as rtc0
VFS: Unable to mount root fs'

boot minimal 1
IFS='
'
# shellcheck disable=SC2086
want minimal $common 'smpboot: Allowing 1 CPUs' 'i8042: PNP: No PS/2 controller found.'
unexpected minimal

boot pci 2
# shellcheck disable=SC2086
want pci $common 'smpboot: Allowing 2 CPUs' 'Brought up 1 node, 2 CPUs' \
	'ACPI: PCI Root Bridge [PCI0] (domain 0000 [bus 00-ff])' \
	'MMCONFIG at [mem 0xe0000000-0xefffffff] reserved in ACPI motherboard resources' \
	'root bus resource [io  0x0000-0x0cf7 window]' \
	'root bus resource [mem 0xc0000000-0xcfffffff window]' \
	'root bus resource [mem 0x8000000000-0xffffffffff window]' \
	'PS/2 Controller [PNP0303:KBD] at 0x60,0x64 irq 1'
unexpected pci
unset IFS

if [ $fail -ne 0 ]; then
	echo "logs kept in $DIR.keep"
	cp -r "$DIR" "$DIR.keep"
	exit 1
fi
echo "PASS: Linux ($(basename "$KERNEL")) booted on kvmm's ACPI tables (minimal, pci)"
