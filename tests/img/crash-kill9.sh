#!/bin/bash
# tests/img/crash-kill9.sh — kill -9 crash-consistency of kvmm's qcow2 writes (issue 3).
#
# For each image variant, many times: a writer (tests/tools/qcow2_crash.c, the block layer through
# block/disk.h) performs a seeded sequence of writes, write_zeroes, discards and compressed
# writes and reports "FLUSHED n" after each disk_flush() returns; it is killed with SIGKILL after
# a random delay. Then:
#   1. `qemu-img check` must report no corruption (exit 0, or 3 = leaked clusters only); with
#      lazy_refcounts the image may be dirty: it is repaired (`kvmm img check -r all` or
#      `qemu-img check -r all`, alternating) and must then check clean;
#   2. `kvmm img check -r leaks` repairs leaks and `qemu-img check` must then exit 0;
#   3. the image, converted to raw by qemu-img, must hold every write acknowledged before the
#      last FLUSHED line; sectors written later may hold any version they took between that
#      flush and the next flush point, never anything else (qcow2-crash verify).
# Standalone: exit 0 pass, 1 fail, 77 skip (no qemu-img or no tool).
# Env: QCOW2_CRASH (tool; default $(dirname $KVMM)/tools/qcow2-crash), QUICK=0 (30 iterations
#      per variant; the default QUICK=1 runs 6), CRASH_ITERS=N (N per variant), SEED (base
#      seed, default 1), CRASH_MAX_MS (largest kill delay, default 300), VARIANTS (names to
#      run, space-separated), KEEP=1 (keep the scratch directory of a failure).
[ -z "${BASH_VERSION:-}" ] && exec bash "$0" "$@"
set -u

here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${QCOW2_CRASH:-}" ]; then
	if [ -n "${KVMM:-}" ]; then QCOW2_CRASH=$(dirname "$KVMM")/tools/qcow2-crash
	else QCOW2_CRASH=$here/../../build/tools/qcow2-crash; fi
fi
if [ -z "${KVMM:-}" ]; then KVMM=$(dirname "$QCOW2_CRASH")/../kvmm; fi
command -v qemu-img >/dev/null || { echo "qemu-img not installed" >&2; exit 77; }
[ -x "$QCOW2_CRASH" ] || { echo "no $QCOW2_CRASH (make tools)" >&2; exit 77; }
[ -x "$KVMM" ] || { echo "no kvmm binary at $KVMM" >&2; exit 77; }

if [ -n "${CRASH_ITERS:-}" ]; then iters=$CRASH_ITERS
elif [ "${QUICK:-1}" = 0 ]; then iters=30
else iters=6; fi
seed0=${SEED:-1}
max_ms=${CRASH_MAX_MS:-300}
size=$((8 << 20))
nops=1000000

T=$(mktemp -d "${TMPDIR:-/tmp}/crash-kill9.XXXXXX") || exit 1
trap '[ "${KEEP:-0}" = 1 ] && [ $fails != 0 ] && echo "kept $T" >&2 || rm -rf "$T"' EXIT
cd "$T" || exit 1
fails=0 runs=0 flushed_total=0

# name | qemu-img create options | cluster size | compressed writes | backing file
variants="
v3|compat=1.1|65536|c|
lazy|compat=1.1,lazy_refcounts=on|65536|c|
refcount1|refcount_bits=1|65536||
refcount64|refcount_bits=64|65536|c|
extl2|extended_l2=on,cluster_size=65536|65536|c|
c4k|cluster_size=4096|4096|c|
c4k-refcount64|cluster_size=4096,refcount_bits=64|4096||
backing|cluster_size=4096|4096|c|base.raw
backing-extl2|extended_l2=on,cluster_size=16384|16384||base.raw
"

bad() {
	echo "FAIL [$name seed=$seed delay=${ms}ms flushed=$n]: $*" >&2
	fails=$((fails + 1))
	if [ "${KEEP:-0}" = 1 ]; then cp t.qcow2 "fail-$name-$seed.qcow2"; fi
}

"$QCOW2_CRASH" backing base.raw $size "$seed0" || { echo "cannot write base.raw" >&2; exit 1; }

one_iter() {
	local out rc mode
	cp template.qcow2 t.qcow2 || return 1
	"$QCOW2_CRASH" run t.qcow2 "$seed" $nops $comp >journal 2>writer.err &
	local pid=$!
	sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	n=$(sed -n 's/^FLUSHED \([0-9]*\)$/\1/p' journal | tail -n1)
	n=${n:-0}
	if [ -s writer.err ]; then bad "writer error: $(head -n3 writer.err)"; return; fi
	flushed_total=$((flushed_total + n))

	out=$(qemu-img check t.qcow2 2>&1); rc=$?
	if [ "$lazy" = 1 ] && [ $rc = 2 ]; then
		# Lazy refcounts: a dirty image may have stale refcounts; repair all, then re-check.
		if [ $((seed % 2)) = 0 ]; then mode="$KVMM img"; else mode=qemu-img; fi
		out=$($mode check -r all t.qcow2 2>&1) || { bad "$mode check -r all failed: $out"; return; }
		out=$(qemu-img check t.qcow2 2>&1); rc=$?
	fi
	case $rc in
	0) ;;
	3) out=$("$KVMM" img check -r leaks t.qcow2 2>&1) ||
		{ bad "kvmm img check -r leaks failed: $out"; return; }
	   out=$(qemu-img check t.qcow2 2>&1) || { bad "qemu-img check after -r leaks: $out"; return; } ;;
	*) bad "qemu-img check exit $rc: $(echo "$out" | head -n 12)"; return ;;
	esac
	rm -f t.raw
	out=$(qemu-img convert -O raw t.qcow2 t.raw 2>&1) || { bad "qemu-img convert: $out"; return; }
	out=$("$QCOW2_CRASH" verify t.raw "$seed" "$n" $size "$cs" $comp $backing 2>&1) ||
		{ bad "content: $(echo "$out" | head -n 6)"; return; }
}

start=$SECONDS
while IFS='|' read -r name opts cs comp backing; do
	[ -n "$name" ] || continue
	if [ -n "${VARIANTS:-}" ]; then
		case " $VARIANTS " in *" $name "*) ;; *) continue ;; esac
	fi
	lazy=0
	case $opts in *lazy_refcounts=on*) lazy=1 ;; esac
	bopt=
	[ -n "$backing" ] && bopt=",backing_file=$backing,backing_fmt=raw"
	qemu-img create -q -f qcow2 -o "$opts$bopt" template.qcow2 $size ||
		{ echo "FAIL: qemu-img create $name" >&2; fails=$((fails + 1)); continue; }
	vfails=$fails
	for i in $(seq 1 "$iters"); do
		seed=$((seed0 * 1000 + i))
		ms=$(( (seed * 7919 + RANDOM) % (max_ms + 1) ))
		n=0
		runs=$((runs + 1))
		one_iter
	done
	echo "$name: $iters kills, $((fails - vfails)) failures"
done <<<"$variants"
echo "crash-kill9: $runs kills, $fails failures, $flushed_total flushed ops checked," \
	"$((SECONDS - start)) s"
[ $fails = 0 ]
