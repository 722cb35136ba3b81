#!/bin/sh
# tests/acpi/check-iasl.sh — validate kvmm's ACPI tables with the ACPICA tools.
#
# Usage: tests/acpi/check-iasl.sh BUILD_DIR
#   BUILD_DIR/tests/unit/test_acpi must exist (make BUILD=... unit builds it).
#
# test_acpi builds the tables for several configurations (minimal, microvm with virtio-mmio,
# PCI with and without ECAM, x2APIC, the maximum) and, with KVMM_ACPI_DUMP_DIR set, writes each
# table as <config>-<SIG>.dat. Every table is disassembled with `iasl -d`; any error, warning,
# "Invalid" or checksum complaint fails the check. The DSDTs are then recompiled from the
# disassembly with `iasl`, which must report 0 errors and 0 warnings, and loaded into ACPICA's
# interpreter with `acpiexec`, which must evaluate \_S5 to SLP_TYP 5 without an exception.
# Exit: 0 pass, 1 fail, 77 skip (no iasl).
set -eu

BUILD=${1:?usage: check-iasl.sh BUILD_DIR}
TEST=$BUILD/tests/unit/test_acpi
if ! command -v iasl >/dev/null 2>&1; then
	echo "SKIP: iasl not installed (Debian package acpica-tools)"
	exit 77
fi
if [ ! -x "$TEST" ]; then
	echo "FAIL: $TEST not built"
	exit 1
fi

DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
KVMM_ACPI_DUMP_DIR=$DIR CMOCKA_MESSAGE_OUTPUT=TAP "$TEST" >"$DIR/test.log" 2>&1 || {
	cat "$DIR/test.log"
	echo "FAIL: $TEST"
	exit 1
}

fail=0
n=0
cd "$DIR"
for f in *.dat; do
	n=$((n + 1))
	base=${f%.dat}
	if ! iasl -d "$f" >"$base.dlog" 2>&1; then
		echo "FAIL: iasl -d $f exited non-zero"
		cat "$base.dlog"
		fail=1
		continue
	fi
	if grep -Eiq 'error|warning|invalid|checksum.*(incorrect|mismatch|fail)|unknown' "$base.dlog" ||
		grep -Eiq 'invalid|\*\*\*\*|unknown' "$base.dsl"; then
		echo "FAIL: iasl -d $f complained:"
		grep -Ei 'error|warning|invalid|checksum|unknown|\*\*\*\*' "$base.dlog" "$base.dsl" | head -20
		fail=1
	fi
	case $f in
	*-DSDT.dat)
		# Recompile the disassembly: the AML must round-trip cleanly.
		mkdir -p re
		cp "$base.dsl" "re/$base.dsl"
		if ! (cd re && iasl -p "$base" "$base.dsl" >"$base.clog" 2>&1) ||
			! grep -Eq 'Compilation (successful|complete)\. 0 Errors, 0 Warnings' "re/$base.clog"; then
			echo "FAIL: recompiling $base.dsl:"
			cat "re/$base.clog"
			fail=1
		fi
		# Load the namespace in ACPICA's interpreter and evaluate \_S5.
		if command -v acpiexec >/dev/null 2>&1; then
			timeout 120 acpiexec -b 'evaluate \_S5' "$f" >"$base.xlog" 2>&1 || true
			if grep -Eq 'AE_[A-Z_]+|Exception|ACPI Error|ACPI Warning' "$base.xlog" ||
				! grep -q 'Evaluation of \\_S5 returned' "$base.xlog" ||
				! grep -q 'Integer\] = 0000000000000005' "$base.xlog"; then
				echo "FAIL: acpiexec on $f:"
				grep -E 'AE_|Exception|Error|Warning|_S5' "$base.xlog" | head -20
				fail=1
			fi
		fi
		;;
	esac
done
# The RSDP is not a standard table: check its two checksums (bytes 0-19 and 0-35) here.
for f in *-RSDP.bin; do
	n=$((n + 1))
	sums=$(od -An -v -tu1 "$f" | tr -s ' ' '\n' | grep -v '^$' |
		awk '{ s += $1; if (NR == 20) s20 = s } END { print NR, s20 % 256, s % 256 }')
	sig=$(head -c 8 "$f")
	if [ "$sig" != "RSD PTR " ] || [ "$sums" != "36 0 0" ]; then
		echo "FAIL: $f: signature '$sig', length/checksums '$sums' (want 36 0 0)"
		fail=1
	fi
done
if [ "$n" -lt 10 ]; then
	echo "FAIL: only $n tables dumped"
	exit 1
fi
if [ $fail -ne 0 ]; then
	exit 1
fi
echo "PASS: $n ACPI tables disassembled cleanly with $(iasl -v | grep -o 'version [0-9]*' | head -1)"
