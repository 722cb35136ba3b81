# `kvmm img check` on damaged qcow2 images must agree with qemu-img check on the verdict and
# exit code (0 clean, 2 corruptions, 3 leaks), and -r leaks / -r all must leave an image that
# qemu-img check finds clean.
. "$SRC_DIR/common.sh"
_need_qemu_img
# damage IMAGE leak|corrupt: edit the first refcount block (16-bit refcounts).
damage() {
	python3 - "$1" "$2" <<'PY'
import struct, sys, os
path, how = sys.argv[1], sys.argv[2]
f = open(path, "r+b")
hdr = f.read(104)
cluster_bits = struct.unpack(">I", hdr[20:24])[0]
rt_off = struct.unpack(">Q", hdr[48:56])[0]
l1_off = struct.unpack(">Q", hdr[40:48])[0]
cs = 1 << cluster_bits
f.seek(rt_off)
rb_off = struct.unpack(">Q", f.read(8))[0]
if how == "leak":
    # One extra cluster at the end of the file with refcount 1 and no user.
    idx = (os.path.getsize(path) + cs - 1) // cs
    f.truncate((idx + 1) * cs)
    f.seek(rb_off + 2 * idx); f.write(struct.pack(">H", 1))
else:
    # The L1 table's refcount dropped to 0 while it is in use.
    f.seek(rb_off + 2 * (l1_off // cs)); f.write(struct.pack(">H", 0))
PY
}
verdict() { # verdict TOOL IMAGE -> prints the exit code
	"$@" >/dev/null 2>&1
	echo $?
}
for how in leak corrupt; do
	rm -f d.qcow2
	$QEMU_IMG create -q -f qcow2 d.qcow2 8M
	qemu-io -c 'write -P 7 0 192k' d.qcow2 >/dev/null 2>&1 || _fail "qemu-io"
	damage d.qcow2 $how
	q=$(verdict $QEMU_IMG check d.qcow2)
	k=$(verdict $IMG check d.qcow2)
	[ "$q" = "$k" ] || _fail "$how: qemu-img check exit $q, kvmm exit $k"
	$IMG check --output=json d.qcow2 | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d.get("leaks", 0) + d.get("corruptions", 0) > 0, d' || _fail "$how: JSON reports no problem"
	echo "ok $how detected (exit $k)"
	fix=leaks
	[ $how = corrupt ] && fix=all
	$IMG check -r $fix d.qcow2 >/dev/null 2>&1
	r=$?
	[ $r = 0 ] || _fail "$how: check -r $fix exit $r"
	$QEMU_IMG check -q d.qcow2 || _fail "$how: qemu-img check after kvmm -r $fix"
	echo "ok $how repaired"
done
exit 0
