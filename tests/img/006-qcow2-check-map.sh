# check and map (human and JSON) on qcow2 images filled by convert, with a backing chain.
. "$SRC_DIR/common.sh"
_img create -f raw base.raw 4M
printf 'base' | dd of=base.raw bs=65536 seek=1 conv=notrunc 2>/dev/null
dd if=/dev/zero bs=65536 count=2 2>/dev/null | tr '\0' 'B' | dd of=base.raw bs=65536 seek=8 conv=notrunc 2>/dev/null
_img convert -O qcow2 base.raw base.qcow2
_img check base.qcow2
_img check --output=json base.qcow2
_img map base.qcow2
_img map --output=json base.qcow2
_img create -f qcow2 -b base.qcow2 -F qcow2 top.qcow2
_img check top.qcow2
_img map --output=json top.qcow2
_img compare base.qcow2 top.qcow2
_img compare base.raw top.qcow2
_img check -f raw base.raw
