# map (human and JSON) on a sparse raw file with data islands.
. "$SRC_DIR/common.sh"
_img create -f raw m.raw 8M
printf 'data' | dd of=m.raw bs=65536 seek=3 conv=notrunc 2>/dev/null
dd if=/dev/urandom of=m.raw bs=65536 seek=64 count=4 conv=notrunc 2>/dev/null
_img map m.raw
_img map --output=json m.raw
_img map --output=json --start-offset=4M --max-length=1M m.raw
