# `kvmm img convert` target cache modes (-t; "unsafe", qemu-img's default, syncs nothing) and the
# multi-threaded paths: raw targets (chunks copied by several threads, holes kept, -n zeroes
# what the source does not hold) and compressed qcow2 (deflate on several threads). Every output
# must compare equal to its source with qemu-img.
. "$SRC_DIR/common.sh"
_need_qemu_img
size=$((40 * 1024 * 1024 + 4096 + 512))
_pattern src.raw $size 23
$QEMU_IMG convert -O qcow2 src.raw src.qcow2 || _fail "qemu-img convert"
if $IMG convert -t bogus -O raw src.raw bad.raw 2>err; then _fail "-t bogus accepted"; fi
grep -q "Invalid cache option" err || _fail "-t bogus: no message"
for t in "" "-t unsafe" "-t writeback" "-t none" "-t writethrough" "-t directsync"; do
	rm -f out.raw out.qcow2 outc.qcow2
	$IMG convert $t -O raw src.qcow2 out.raw || _fail "qcow2->raw $t"
	cmp src.raw out.raw || _fail "qcow2->raw $t differs"
	$IMG convert $t -O qcow2 src.raw out.qcow2 || _fail "raw->qcow2 $t"
	$QEMU_IMG check -q out.qcow2 || _fail "check raw->qcow2 $t"
	$QEMU_IMG compare -q -f raw -F qcow2 src.raw out.qcow2 || _fail "raw->qcow2 $t differs"
	$IMG convert $t -c -O qcow2 src.raw outc.qcow2 || _fail "-c $t"
	$QEMU_IMG check -q outc.qcow2 || _fail "check -c $t"
	$QEMU_IMG compare -q -f raw -F qcow2 src.raw outc.qcow2 || _fail "-c $t differs"
	echo "ok $t"
done
# The raw target keeps the source's holes (allocated size well below the virtual size).
[ $(($(stat -c %b out.raw) * 512)) -lt $((size / 2)) ] || _fail "raw target is not sparse"
# -n into an existing raw file full of 0xff: holes of the source must read as zeroes.
python3 -c "import sys; open('ff.raw','wb').write(b'\xff' * $size)"
$IMG convert -n -O raw src.qcow2 ff.raw || _fail "-n raw"
cmp src.raw ff.raw || _fail "-n raw differs"
echo "ok -n raw"
