# Cross-check `kvmm img convert` with qemu-img: every output must compare equal to its source
# (qemu-img compare) and pass qemu-img check; qcow2 written by qemu-img (including compressed
# clusters) must convert back to the exact raw bytes.
. "$SRC_DIR/common.sh"
_need_qemu_img
_pattern src.raw $((48 * 1024 * 1024 + 512)) 11
for o in "" "-c" "-o cluster_size=4096" "-o compat=0.10" "-c -o compression_type=zstd" \
	 "-S 0" "-o cluster_size=2M,refcount_bits=1" "-o extended_l2=on" "-o preallocation=metadata"; do
	rm -f out.qcow2
	$IMG convert -O qcow2 $o src.raw out.qcow2 || _fail "kvmm convert $o"
	$QEMU_IMG check -q out.qcow2 || _fail "qemu-img check after convert $o"
	$QEMU_IMG compare -q -f raw -F qcow2 src.raw out.qcow2 || _fail "content after convert $o"
	echo "ok raw->qcow2 $o"
done
# Compressed output must be smaller than plain output for compressible data.
$IMG convert -O qcow2 src.raw plain.qcow2 && $IMG convert -c -O qcow2 src.raw comp.qcow2 ||
	_fail "convert plain/compressed"
[ "$(stat -c %s comp.qcow2)" -lt "$(stat -c %s plain.qcow2)" ] || _fail "-c did not compress"
# qcow2 (qemu-written, plain and compressed, v2 and v3) -> raw, byte-identical.
for o in "" "-c" "-o compat=0.10" "-o cluster_size=512"; do
	rm -f q.qcow2 back.raw
	$QEMU_IMG convert -O qcow2 $o src.raw q.qcow2 || _fail "qemu-img convert $o"
	$IMG convert -O raw q.qcow2 back.raw || _fail "kvmm convert qcow2($o)->raw"
	cmp src.raw back.raw || _fail "qcow2($o)->raw differs"
	$IMG compare src.raw q.qcow2 >/dev/null || _fail "kvmm compare qcow2($o)"
	echo "ok qcow2 $o -> raw"
done
# qcow2 -> qcow2 with a backing file (-B): only differences are written.
$QEMU_IMG convert -O qcow2 src.raw base.qcow2 || _fail "base"
cp src.raw mod.raw
printf 'changed' | dd of=mod.raw bs=1 seek=1000000 conv=notrunc 2>/dev/null
$IMG convert -O qcow2 -B base.qcow2 -F qcow2 mod.raw over.qcow2 || _fail "convert -B"
$QEMU_IMG check -q over.qcow2 || _fail "check -B result"
$QEMU_IMG compare -q mod.raw over.qcow2 || _fail "content -B"
[ "$(stat -c %s over.qcow2)" -lt 2000000 ] || _fail "-B output is not sparse: $(stat -c %s over.qcow2)"
echo "ok -B"
# -n into an existing (non-zero) image.
$QEMU_IMG create -q -f qcow2 exist.qcow2 $((48 * 1024 * 1024 + 512))
$QEMU_IMG convert -n -O qcow2 mod.raw exist.qcow2
$IMG convert -n -O qcow2 src.raw exist.qcow2 || _fail "convert -n"
$QEMU_IMG compare -q src.raw exist.qcow2 || _fail "content -n"
$QEMU_IMG check -q exist.qcow2 || _fail "check -n"
echo "ok -n"
# -p prints progress ending at 100%.
$IMG convert -p -O raw src.raw p.raw | tr '\r' '\n' | tail -n1 | grep -q '(100.00/100%)' ||
	_fail "progress"
cmp src.raw p.raw || _fail "-p content"
# raw -> raw keeps holes (sparse detection).
truncate -s 64M holes.raw
printf 'x' | dd of=holes.raw bs=1 seek=5000000 conv=notrunc 2>/dev/null
$IMG convert -O raw holes.raw h2.raw || _fail "sparse convert"
cmp holes.raw h2.raw || _fail "sparse content"
[ "$(du -k h2.raw | cut -f1)" -lt 1024 ] || _fail "raw output not sparse"
echo "ok sparse"
exit 0
