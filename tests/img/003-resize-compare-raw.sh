# resize (absolute, +/-, --shrink) and compare on raw images.
. "$SRC_DIR/common.sh"
_img create -f raw a.raw 1M
_img resize a.raw +1M
_img info a.raw
_img resize --shrink a.raw -512k
_img info a.raw
_img resize a.raw 4M
_img create -f raw b.raw 4M
_img compare a.raw b.raw
printf 'x' | dd of=b.raw bs=1 seek=3000000 conv=notrunc 2>/dev/null
_img compare a.raw b.raw
_img resize b.raw 5M
printf '\0' | dd of=b.raw bs=1 seek=3000000 conv=notrunc 2>/dev/null
_img compare a.raw b.raw
_img compare -s a.raw b.raw
