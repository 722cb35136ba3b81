# qcow2 create options and info (human, JSON, backing chains, relative backing paths).
. "$SRC_DIR/common.sh"
_img create -f qcow2 a.qcow2 64M
_img info a.qcow2
_img info --output=json a.qcow2
for o in compat=0.10 cluster_size=4k,refcount_bits=1 cluster_size=2M,refcount_bits=64 \
	 lazy_refcounts=on extended_l2=on,cluster_size=128k compression_type=zstd \
	 preallocation=metadata; do
	_img create -f qcow2 -o "$o" o.qcow2 1G
	_img info o.qcow2
done
_img create -f qcow2 -o compat=0.10 v2.qcow2 1M
_img info --output=json v2.qcow2
_img create -f qcow2 -b a.qcow2 -F qcow2 b.qcow2
_img info b.qcow2
_img info --output=json b.qcow2
_img info --backing-chain b.qcow2
_img info --backing-chain --output=json b.qcow2
mkdir sub
_img create -f qcow2 -b ../b.qcow2 -F qcow2 sub/c.qcow2 128M
_img info sub/c.qcow2
_img info --backing-chain --output=json sub/c.qcow2
_img create -f qcow2 -b a.qcow2 nofmt.qcow2
_img create -f qcow2 -b missing.qcow2 -F qcow2 x.qcow2
_img create -f qcow2 -o compat=2.0 x.qcow2 1M
_img create -f qcow2 -o cluster_size=3k x.qcow2 1M
_img create -f qcow2 -o help
