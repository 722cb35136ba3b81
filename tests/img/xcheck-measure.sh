# `kvmm img measure` must agree with qemu-img measure for the same source and options.
. "$SRC_DIR/common.sh"
_need_qemu_img
_pattern pat.raw $((16 * 1024 * 1024)) 3
for o in "" "-o cluster_size=4096" "-o compat=0.10"; do
	k=$($IMG measure -O qcow2 $o pat.raw) || _fail "measure $o"
	q=$($QEMU_IMG measure -O qcow2 $o pat.raw)
	[ "$k" = "$q" ] || _fail "measure $o: kvmm '$k' qemu '$q'"
	k=$($IMG measure --output=json -O qcow2 $o --size 10G) || _fail "measure --size $o"
	q=$($QEMU_IMG measure --output=json -O qcow2 $o --size 10G)
	[ "$k" = "$q" ] || _fail "measure --size 10G $o: kvmm '$k' qemu '$q'"
	echo "ok measure $o"
done
k=$($IMG measure -O raw pat.raw) && q=$($QEMU_IMG measure -O raw pat.raw) && [ "$k" = "$q" ] ||
	_fail "measure -O raw: kvmm '$k' qemu '$q'"
exit 0
