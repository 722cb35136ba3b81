# Cross-check `info --output=json` against qemu-img, key by key, for qcow2 images created by
# each tool with the same options (each tool reading both images). actual-size is skipped.
. "$SRC_DIR/common.sh"
_need_qemu_img
cmp_json() { # cmp_json A.json B.json what
	python3 - "$1" "$2" "$3" <<'PY' || exit 1
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
def norm(x):
    if isinstance(x, list):
        return [norm(i) for i in x]
    if isinstance(x, dict):
        return {k: norm(v) for k, v in x.items() if k not in ("actual-size", "filename", "date-sec", "date-nsec")}
    return x
a, b = norm(a), norm(b)
if a != b:
    print("MISMATCH", sys.argv[3]); print(" kvmm:", json.dumps(a, sort_keys=True)); print(" qemu:", json.dumps(b, sort_keys=True))
    sys.exit(1)
PY
}
$QEMU_IMG create -q -f qcow2 base.qcow2 32M || _fail "qemu-img create base"
n=0
for o in "" compat=0.10 cluster_size=4096 cluster_size=2M refcount_bits=1 refcount_bits=64 \
	 lazy_refcounts=on extended_l2=on compression_type=zstd preallocation=metadata \
	 preallocation=falloc "backing_file=base.qcow2,backing_fmt=qcow2"; do
	n=$((n + 1))
	size=100M
	case $o in backing*) size= ;; esac
	$IMG create -q -f qcow2 ${o:+-o "$o"} "k$n.qcow2" $size || _fail "kvmm create -o $o"
	$QEMU_IMG create -q -f qcow2 ${o:+-o "$o"} "q$n.qcow2" $size || _fail "qemu create -o $o"
	for img in "k$n" "q$n"; do
		$IMG info --output=json --backing-chain "$img.qcow2" >"$img.kvmm.json" || _fail "kvmm info $img ($o)"
		$QEMU_IMG info --output=json --backing-chain "$img.qcow2" >"$img.qemu.json" || _fail "qemu info $img ($o)"
		cmp_json "$img.kvmm.json" "$img.qemu.json" "$img -o '$o'"
	done
	cmp_json "k$n.qemu.json" "q$n.qemu.json" "created by kvmm vs qemu-img, -o '$o'"
	$QEMU_IMG check -q "k$n.qcow2" || _fail "qemu-img check of kvmm-created -o '$o'"
	echo "ok -o '$o'"
done
# raw
$IMG create -q -f raw k.raw 5M && $QEMU_IMG create -q -f raw q.raw 5M || _fail "raw create"
$IMG info --output=json k.raw >k.raw.json && $QEMU_IMG info --output=json q.raw >q.raw.json
cmp_json k.raw.json q.raw.json raw
# snapshots appear in info
$IMG snapshot -c snap1 k1.qcow2 || _fail "snapshot -c"
$IMG info --output=json k1.qcow2 >s.kvmm.json && $QEMU_IMG info --output=json k1.qcow2 >s.qemu.json
cmp_json s.kvmm.json s.qemu.json "info with a snapshot"
exit 0
