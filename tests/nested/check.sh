#!/usr/bin/env bash
# tests/nested/check.sh — `make check-nested`: tests/nested/run.sh, and once more if the L1
# guest hung (status 3), with one L1 CPU and only the cases that have no result yet (run.sh
# NESTED_RESUME: the first attempt's results are kept, one combined table is printed).
#
#   NESTED_OUT=/abs/dir KVMM=... PAYLOAD_DIR=... tests/nested/check.sh [NAME-REGEX]
#
# NESTED_OUT is required (the first attempt's serial.log and initramfs are reused).
# NESTED_TEST_HANG_RETRY: NESTED_TEST_HANG for the retry (tests of the hang handling).
# Exits 0 when all passed, or after printing SKIPPED (the environment cannot run nested KVM:
# status 77; the guest hung in both attempts and no case failed); else the failing status.
set -u
NESTED_DIR=$(cd "$(dirname "$0")" && pwd)
: "${NESTED_OUT:?NESTED_OUT must name the output directory}"

st=0
"$NESTED_DIR/run.sh" "${1:-}" || st=$?
if [ "$st" -eq 3 ]; then
	echo "check-nested: the L1 guest hung; retrying once with NESTED_SMP=1, only the cases" \
		"without a result"
	cp "$NESTED_OUT/serial.log" "$NESTED_OUT/serial-1.log" || exit 1
	st=0
	NESTED_SMP=1 NESTED_RESUME=$NESTED_OUT/serial-1.log \
		NESTED_INITRD=${NESTED_INITRD:-$NESTED_OUT/initramfs.cpio} \
		NESTED_TEST_HANG=${NESTED_TEST_HANG_RETRY:-} "$NESTED_DIR/run.sh" "${1:-}" || st=$?
fi
case $st in
0) ;;
3) echo "check-nested: SKIPPED: the nested L1 guest hung twice (environment, not a kvmm failure)" ;;
77) echo "check-nested: SKIPPED: this host cannot run nested KVM under TCG" ;;
*) exit "$st" ;;
esac
