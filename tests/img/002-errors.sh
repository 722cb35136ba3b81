# Error cases: one "kvmm img:" line naming the file and the problem, and a non-zero exit.
. "$SRC_DIR/common.sh"
_img info missing.qcow2
_img info --output=yaml missing.qcow2
_img create -f raw bad.raw 12Q
_img create -f raw bad.raw -- -5M
_img create -f raw bad.raw
_img create -f raw -o nosuch=1 bad.raw 1M
_img create -f nosuchfmt bad.img 1M
_img create -f raw ok.raw 1M
_img info -f nosuchfmt ok.raw
_img check -f raw ok.raw
_img resize ok.raw 512k
_img convert -O raw missing.raw out.raw
_img compare ok.raw missing.raw
_img nosuchcommand
_img create -q -f qcow2 l1.qcow2 1M
_img create -q -f qcow2 -b l1.qcow2 -F qcow2 l2.qcow2
_img rebase -u -b l2.qcow2 -F qcow2 l1.qcow2
_img info --backing-chain l2.qcow2 | grep -E '^(kvmm img|\[exit)'
_img map l2.qcow2
_img convert -O qcow2 -o cluster_size=1000 ok.raw bad.qcow2
_img convert -c -O raw ok.raw bad.raw
_img check -r some ok.raw
_img snapshot -a nosuch l2.qcow2
