# Compressed clusters share host clusters only while the sharing cluster's refcount fits the
# image's refcount width: with refcount_bits=1 every compressed cluster needs a host cluster of
# its own (QEMU behaves the same). Every width must convert, check clean and compare equal.
. "$SRC_DIR/common.sh"
_need_qemu_img
_pattern src.raw $((4 * 1024 * 1024)) 31
for bits in 1 2 4 16 64; do
	rm -f out.qcow2
	$IMG convert -c -O qcow2 -o refcount_bits=$bits,cluster_size=4096 src.raw out.qcow2 ||
		_fail "convert -c refcount_bits=$bits"
	$QEMU_IMG check -q out.qcow2 || _fail "check refcount_bits=$bits"
	$QEMU_IMG compare -q -f raw -F qcow2 src.raw out.qcow2 || _fail "refcount_bits=$bits differs"
	echo "ok refcount_bits=$bits"
done
