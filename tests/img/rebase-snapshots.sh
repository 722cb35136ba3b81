#!/bin/sh
# tests/img/rebase-snapshots.sh — `kvmm img rebase` (safe and -u) and `kvmm img commit` on qcow2
# overlays that carry internal snapshots, for compat=0.10 (v2) and 1.1 (v3). Images are made
# with qemu-img/qemu-io; results are checked with qemu-img check (no errors, no leaks), qemu-img
# compare against the expected guest contents, qemu-img snapshot -l (snapshots intact, and
# their contents still right) and qemu-img info --output=json (backing name and format).
# Pass/fail: exit 0 pass, 1 fail, 77 skip (no qemu-img/qemu-io).
set -u
. "$SRC_DIR/common.sh"
_need_qemu_img
command -v qemu-io >/dev/null || { echo "qemu-io not installed" >&2; exit 77; }
command -v python3 >/dev/null || { echo "python3 not installed" >&2; exit 77; }
K="$KVMM img"

qio() { qemu-io -f qcow2 "$@" >/dev/null || _fail "qemu-io $*"; }
qcheck() { qemu-img check -q "$1" || _fail "qemu-img check $1 ($2)"; }
same() { qemu-img compare -q "$1" "$2" || _fail "$1 differs from $2 ($3)"; }

# backing FILE NAME FMT: "backing-filename" and "backing-filename-format" from info json
# ("-" when absent) must be NAME and FMT.
backing() {
	got=$(qemu-img info --output=json "$1" | python3 -c '
import json, sys
j = json.load(sys.stdin)
print(j.get("backing-filename", "-"), j.get("backing-filename-format", "-"))') ||
		_fail "qemu-img info $1"
	[ "$got" = "$2 $3" ] || _fail "$1: backing is '$got', want '$2 $3' ($4)"
}

# snaps FILE N: exactly N snapshots, tagged s1..sN.
snaps() {
	got=$(qemu-img snapshot -l "$1" | awk 'NR > 2 { printf "%s ", $2 }')
	want=""
	i=1
	while [ $i -le "$2" ]; do want="${want}s$i "; i=$((i + 1)); done
	[ "$got" = "$want" ] || _fail "$1: snapshots '$got', want '$want' ($3)"
}

# The contents of snapshot TAG of FILE (as a standalone raw file), via a temporary copy.
snapraw() {
	cp "$1" snapcopy.qcow2
	qemu-img snapshot -a "$2" snapcopy.qcow2 || _fail "snapshot -a $2"
	qemu-img convert -O raw snapcopy.qcow2 "$3" || _fail "convert snapshot $2"
	rm -f snapcopy.qcow2
}

for compat in 0.10 1.1; do
	rm -f ./*.qcow2 ./*.raw
	# base: 0x11 everywhere; nb (the new backing file): 0x11 in the first MiB, 0x22 after.
	qemu-img create -q -f qcow2 -o compat=$compat base.qcow2 4M || _fail create
	qio -c "write -P 0x11 0 4M" base.qcow2
	qemu-img create -q -f qcow2 -o compat=$compat nb.qcow2 4M || _fail create
	qio -c "write -P 0x11 0 1M" -c "write -P 0x22 1M 3M" nb.qcow2
	# top: own data at 1M (before s1), 2M (after s1, before s2), zeroes at 3M (v3 only), and
	# after s2 at 512k and over the start of 2M.
	qemu-img create -q -f qcow2 -o compat=$compat,cluster_size=65536 \
		-b base.qcow2 -F qcow2 top.qcow2 || _fail create
	qio -c "write -P 0x33 1M 64k" top.qcow2
	qemu-img snapshot -c s1 top.qcow2 || _fail "snapshot -c s1"
	qio -c "write -P 0x44 2M 100k" top.qcow2
	[ $compat = 1.1 ] && qio -c "write -z 3M 64k" top.qcow2
	qemu-img snapshot -c s2 top.qcow2 || _fail "snapshot -c s2"
	qio -c "write -P 0x55 512k 4k" -c "write -P 0x66 2M 4k" top.qcow2
	qemu-img convert -O raw top.qcow2 expect.raw || _fail convert
	snapraw top.qcow2 s1 s1.raw
	snapraw top.qcow2 s2 s2.raw

	# Safe rebase onto nb: contents unchanged, only clusters that differ were copied.
	$K rebase -b nb.qcow2 -F qcow2 top.qcow2 || _fail "rebase nb ($compat)"
	qcheck top.qcow2 "safe rebase $compat"
	same expect.raw top.qcow2 "safe rebase $compat"
	backing top.qcow2 nb.qcow2 qcow2 "safe rebase $compat"
	snaps top.qcow2 2 "safe rebase $compat"
	# The first MiB is the same in base and nb: nothing copied there except the top's own.
	qemu-img map --output=json top.qcow2 | python3 -c '
import json, sys
for e in json.load(sys.stdin):
    if e["start"] < 1 << 20 and e["depth"] == 0 and e["data"] and e["start"] != 512 << 10:
        sys.exit("cluster at %d copied needlessly" % e["start"])' || _fail "map after safe rebase"

	# Unsafe rebase back to base, without a format: only the header changes.
	$K rebase -u -b base.qcow2 top.qcow2 || _fail "rebase -u ($compat)"
	qcheck top.qcow2 "rebase -u $compat"
	backing top.qcow2 base.qcow2 - "rebase -u $compat"
	snaps top.qcow2 2 "rebase -u $compat"
	# The clusters copied by the safe rebase hold the old chain's bytes, and base is that old
	# chain: the contents are unchanged.
	same expect.raw top.qcow2 "rebase -u $compat"

	# Remove the backing file safely: everything is copied in.
	cp top.qcow2 flat.qcow2
	$K rebase -b "" flat.qcow2 || _fail "rebase -b '' ($compat)"
	qcheck flat.qcow2 "rebase -b '' $compat"
	backing flat.qcow2 - - "rebase -b '' $compat"
	same expect.raw flat.qcow2 "rebase -b '' $compat"
	snaps flat.qcow2 2 "rebase -b '' $compat"
	# A rebase rewrites the active layer only: what a snapshot left to the backing file now
	# reads as zeroes (as with qemu-img), but its own clusters are intact.
	snapraw flat.qcow2 s1 f1.raw
	python3 - f1.raw s1.raw <<'PY' || _fail "snapshot s1 contents after rebase -b '' ($compat)"
import sys
a = open(sys.argv[1], "rb").read()
b = open(sys.argv[2], "rb").read()
assert a[1 << 20:(1 << 20) + 65536] == b[1 << 20:(1 << 20) + 65536]
assert a[:1 << 20] == bytes(1 << 20)
PY

	# Unsafe rebase with a format back on the original chain, then commit.
	$K rebase -u -b base.qcow2 -F qcow2 top.qcow2 || _fail "rebase -u -F ($compat)"
	backing top.qcow2 base.qcow2 qcow2 "rebase -u -F $compat"
	$K commit top.qcow2 >/dev/null || _fail "commit ($compat)"
	qcheck top.qcow2 "commit $compat"
	qcheck base.qcow2 "commit base $compat"
	same expect.raw base.qcow2 "commit base $compat"
	same expect.raw top.qcow2 "commit top $compat"
	backing top.qcow2 base.qcow2 qcow2 "commit $compat"
	snaps top.qcow2 2 "commit $compat"
	# The overlay is empty: nothing of the active layer is allocated in top itself.
	qemu-img map --output=json top.qcow2 | python3 -c '
import json, sys
for e in json.load(sys.stdin):
    if e["depth"] == 0 and (e["data"] or e["zero"]):
        sys.exit("allocated after commit: %r" % e)' || _fail "commit did not empty ($compat)"
	# Snapshots still hold their own clusters (s2's 2M cluster is 0x44, the committed data
	# 0x66); elsewhere they read through the now-committed base.
	snapraw top.qcow2 s2 c2.raw
	cmp -s c2.raw expect.raw && _fail "snapshot s2 lost its own data ($compat)"
	python3 - c2.raw s2.raw <<'PY' || _fail "snapshot s2 contents after commit ($compat)"
import sys
a = open(sys.argv[1], "rb").read()
b = open(sys.argv[2], "rb").read()
# s2's own clusters (1M, 2M) are unchanged; elsewhere it now reads the committed base.
for off, n in ((1 << 20, 65536), (2 << 20, 100 << 10)):
    assert a[off:off + n] == b[off:off + n], off
PY
done
echo ok
