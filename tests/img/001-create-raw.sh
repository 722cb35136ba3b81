# create/info for raw images: sizes with suffixes, -o size, preallocation, human and JSON info.
. "$SRC_DIR/common.sh"
for s in 0 512 1k 1.5M 64M 1G 2T; do
	_img create -f raw "r-$s.raw" "$s"
	_img info "r-$s.raw"
done
_img create -f raw -o size=3M o.raw
_img info --output=json o.raw
_img create -f raw -o preallocation=full p.raw 128k
_img info -f raw --output=json p.raw
_img create -f raw -o help
