# Foreign read-only formats: images written by qemu-img in every supported subformat must read
# back byte-identical to qemu-img's own raw conversion, through `kvmm img convert` and
# `kvmm img compare`, and `kvmm img info` must agree on format and virtual size.
. "$SRC_DIR/common.sh"
_need_qemu_img
_pattern src.raw $((67 * 1024 * 1024 + 4096)) 7
for spec in "vmdk:" "vmdk:subformat=streamOptimized" "vmdk:zeroed_grain=on" \
	    "vmdk:compat6=on" "vdi:" "vdi:static=on" "vpc:" "vpc:subformat=fixed" \
	    "vpc:force_size=on" "vhdx:" "vhdx:subformat=fixed" "vhdx:block_size=1M,log_size=1M" \
	    "vhdx:block_size=8M,block_state_zero=off"; do
	fmt=${spec%%:*}
	opt=${spec#*:}
	name=$(echo "$fmt-$opt" | tr '=,' '__')
	$QEMU_IMG convert -f raw -O "$fmt" ${opt:+-o "$opt"} src.raw "$name.img" ||
		_fail "qemu-img convert to $spec"
	$QEMU_IMG convert -f "$fmt" -O raw "$name.img" "$name.ref" || _fail "qemu-img read $spec"
	$IMG convert -f "$fmt" -O raw "$name.img" "$name.out" || _fail "kvmm convert $spec"
	cmp "$name.ref" "$name.out" || _fail "content differs for $spec"
	$IMG compare -f "$fmt" -F raw "$name.img" "$name.ref" >/dev/null || _fail "compare $spec"
	# Probing (fixed VHD has no header at offset 0, like qemu: it needs -f vpc).
	if [ "$spec" != "vpc:subformat=fixed" ]; then
		k=$($IMG info --output=json "$name.img" |
			python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["format"], d["virtual-size"])')
		q=$($QEMU_IMG info --output=json "$name.img" |
			python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["format"], d["virtual-size"])')
		[ "$k" = "$q" ] || _fail "info $spec: kvmm '$k' qemu '$q'"
	fi
	echo "ok $spec"
done
# Foreign -> qcow2 (compressed for the stream-optimized VMDK), checked by qemu-img.
for pair in "vmdk-subformat_streamOptimized:-c" "vhdx-:" "vdi-:" "vpc-:"; do
	name=${pair%%:*}
	$IMG convert ${pair#*:} -O qcow2 "$name.img" "$name.qcow2" || _fail "kvmm convert $name -> qcow2"
	$QEMU_IMG check -q "$name.qcow2" || _fail "qemu-img check $name.qcow2"
	$QEMU_IMG compare -q "$name.ref" "$name.qcow2" || _fail "content $name.qcow2"
	echo "ok $name -> qcow2"
done
# Read-only: writes must fail.
$IMG resize -f vmdk vmdk-.img +1M 2>/dev/null && _fail "resize of a vmdk succeeded"
$IMG convert -n -O vdi src.raw vdi-.img 2>/dev/null && _fail "convert into a vdi succeeded"
exit 0
