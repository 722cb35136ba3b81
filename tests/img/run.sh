#!/bin/sh
# tests/img/run.sh — run the `kvmm img` tests.
#
#   NNN-name.sh   golden test: its stdout must equal NNN-name.out
#   other *.sh    pass/fail test (exit 0 pass, 77 skip, anything else fail)
#
# Each test runs in a fresh scratch directory (its cwd, also $TEST_DIR) with
#   KVMM      absolute path of the kvmm binary (required)
#   IMG       "$KVMM img" (golden tests may be re-run with IMG=qemu-img to compare)
#   QEMU_IMG  qemu-img if installed, else empty (tests that need it exit 77)
#   SRC_DIR   this directory (for common.sh)
# Usage: KVMM=/abs/kvmm tests/img/run.sh [test-name-substring...]
# Exit status: 0 if no test failed.
set -u
SRC_DIR=$(cd "$(dirname "$0")" && pwd)
: "${KVMM:?set KVMM to the absolute path of the kvmm binary}"
IMG=${IMG:-"$KVMM img"}
QEMU_IMG=${QEMU_IMG-$(command -v qemu-img || true)}
export KVMM IMG QEMU_IMG SRC_DIR

pass=0 fail=0 skip=0 failed=""
scratch=$(mktemp -d "${TMPDIR:-/tmp}/kvmm-img-tests.XXXXXX") || exit 1
trap 'rm -rf "$scratch"' EXIT INT TERM

for t in "$SRC_DIR"/*.sh; do
	name=$(basename "$t" .sh)
	case $name in run|common) continue ;; esac
	if [ $# -gt 0 ]; then
		want=0
		for f in "$@"; do case $name in *"$f"*) want=1 ;; esac; done
		[ $want = 1 ] || continue
	fi
	dir="$scratch/$name"
	mkdir -p "$dir"
	out="$dir.stdout"
	(cd "$dir" && TEST_DIR="$dir" sh "$t" >"$out" 2>"$dir.stderr")
	rc=$?
	if [ $rc = 77 ]; then
		echo "SKIP $name ($(tail -n1 "$dir.stderr"))"
		skip=$((skip + 1))
		continue
	fi
	golden="$SRC_DIR/$name.out"
	case $name in
	[0-9][0-9][0-9]-*)
		if [ $rc = 0 ] && diff -u "$golden" "$out" >"$dir.diff" 2>&1; then
			echo "PASS $name"
			pass=$((pass + 1))
		else
			echo "FAIL $name (exit $rc)"
			sed -n '1,60p' "$dir.diff"
			sed -n '1,20p' "$dir.stderr"
			fail=$((fail + 1))
			failed="$failed $name"
		fi
		;;
	*)
		if [ $rc = 0 ]; then
			echo "PASS $name"
			pass=$((pass + 1))
		else
			echo "FAIL $name (exit $rc)"
			sed -n '1,40p' "$out"
			sed -n '1,40p' "$dir.stderr"
			fail=$((fail + 1))
			failed="$failed $name"
		fi
		;;
	esac
done
echo "img tests: $pass passed, $fail failed, $skip skipped${failed:+ (failed:$failed)}"
[ $fail = 0 ]
