# tests/img/common.sh — helpers sourced by the img tests (POSIX sh).
# Tests run in a scratch directory; $IMG is "kvmm img" (or qemu-img when regenerating goldens).

# Normalise output that varies between runs or hosts: allocated sizes, the scratch path, the
# program name in messages, snapshot dates.
_filter() {
	sed -e "s#$TEST_DIR#TEST_DIR#g" \
	    -e 's/^disk size: .*/disk size: SIZE/' \
	    -e 's/"actual-size": [0-9]*/"actual-size": SIZE/' \
	    -e 's/^qemu-img: /kvmm img: /' \
	    -e 's/[0-9]\{4\}-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]/DATE/' \
	    -e 's/"date-sec": [0-9]*/"date-sec": SEC/' -e 's/"date-nsec": [0-9]*/"date-nsec": NSEC/'
}

# Run "$IMG args...", print its stdout filtered, then "[exit N]"; stderr lines from the command
# itself ("kvmm img: ..." or "qemu-img: ...") are shown filtered, block-layer log lines are not.
_img() {
	$IMG "$@" >"$TEST_DIR/.o" 2>"$TEST_DIR/.e"
	rc=$?
	_filter <"$TEST_DIR/.o"
	grep -E '^(kvmm img|qemu-img): ' "$TEST_DIR/.e" | _filter
	echo "[exit $rc]"
}

# Exit 77 (skip) unless qemu-img is available.
_need_qemu_img() {
	if [ -z "${QEMU_IMG:-}" ]; then
		echo "qemu-img not installed" >&2
		exit 77
	fi
}

# Write a deterministic pattern file: _pattern FILE SIZE_BYTES SEED
_pattern() {
	python3 - "$1" "$2" "$3" <<'PY'
import random, sys
path, size, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = random.Random(seed)
with open(path, "wb") as f:
    f.truncate(size)
    for i in range(24):
        off = r.randrange(0, max(1, size - 200000))
        n = r.randrange(1, 200000)
        f.seek(off)
        f.write(r.randbytes(n) if i % 3 else bytes([i + 1]) * n)
    f.seek(size - 5)
    f.write(b"tail!")
PY
}

_fail() {
	echo "FAIL: $*" >&2
	exit 1
}
