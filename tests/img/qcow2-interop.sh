#!/bin/bash
# tests/img/qcow2-interop.sh — qcow2 interoperability between kvmm's block layer and QEMU.
#
# Both directions: images made and written by qemu-img/qemu-io are read with kvmm
# (tests/tools/qcow2_io.c), and images made and written by kvmm are read and checked with
# qemu-img; across cluster sizes, refcount widths, extended L2, compression (zlib, zstd),
# backing chains, snapshots, preallocation, resize, amend, lazy-refcount repair, leak repair,
# and a seeded random write/zero/discard sequence compared byte for byte with qemu-io.
# Standalone: exit 0 pass, 1 fail, 77 skip (no qemu-img/qemu-io or no tool).
# Env: QCOW2_IO (tool path; default $(dirname $KVMM)/tools/qcow2-io or build/tools/qcow2-io),
#      SEED (random sequence seed, default 1), QUICK=1 (fewer combinations).
[ -z "${BASH_VERSION:-}" ] && exec bash "$0" "$@"
set -u

here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${QCOW2_IO:-}" ]; then
	if [ -n "${KVMM:-}" ]; then QCOW2_IO=$(dirname "$KVMM")/tools/qcow2-io
	else QCOW2_IO=$here/../../build/tools/qcow2-io; fi
fi
command -v qemu-img >/dev/null && command -v qemu-io >/dev/null || {
	echo "qemu-img/qemu-io not installed" >&2; exit 77; }
[ -x "$QCOW2_IO" ] || { echo "no $QCOW2_IO (make tools)" >&2; exit 77; }

T=$(mktemp -d "${TMPDIR:-/tmp}/qcow2-interop.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
fails=0 passes=0
IO=$QCOW2_IO

ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# qemu-img check must find no errors and no leaks.
qcheck() {
	local out
	out=$(qemu-img check "$1" 2>&1) && ok || { bad "qemu-img check $1: $out"; return 1; }
}
# Our dump and qemu's conversion of the same image must be equal.
same() {
	rm -f "$T/ours.raw" "$T/qemu.raw"
	"$IO" dump "$1" "$T/ours.raw" || { bad "dump $1"; return 1; }
	qemu-img convert -O raw "$1" "$T/qemu.raw" || { bad "qemu-img convert $1"; return 1; }
	cmp -s "$T/ours.raw" "$T/qemu.raw" && ok || bad "content differs: $1 ($2)"
}

qio_pattern() { # file: a pattern of writes crossing cluster/subcluster boundaries
	qemu-io -f qcow2 -c "write -P 0x11 0 64k" -c "write -P 0x22 70000 5000" \
		-c "write -P 0x33 1M 300k" -c "write -z 1100k 20k" -c "write -P 0x44 3000 1" \
		-c "write -P 0x55 8388000 600" "$1" >/dev/null || bad "qemu-io write $1"
}
our_pattern() {
	printf '%s\n' "write 0 65536 0x11" "write 70000 5000 0x22" "write 1048576 307200 0x33" \
		"zero 1126400 20480" "write 3000 1 0x44" "write 8388000 600 0x55" \
		"read 70000 5000 0x22" | "$IO" script "$1" || bad "our writes $1"
}

# 1. geometry matrix, both directions
if [ "${QUICK:-0}" = 1 ]; then clusters="512 65536"; widths="1 16 64"
else clusters="512 4096 16384 65536 2097152"; widths="1 2 4 8 16 32 64"; fi
combos=""
for cs in $clusters; do combos="$combos $cs:16:off"; done
for rb in $widths; do combos="$combos 65536:$rb:off"; done
combos="$combos 16384:16:on 65536:16:on 2097152:8:on"
for c in $combos; do
	IFS=: read -r cs rb el <<<"$c"
	opts="cluster_size=$cs,refcount_bits=$rb,extended_l2=$el"
	qemu-img create -q -f qcow2 -o "$opts" q.qcow2 16M || { bad "qemu-img create $opts"; continue; }
	qio_pattern q.qcow2
	same q.qcow2 "qemu-written $opts"
	"$IO" create k.qcow2 16M cluster_size=$cs refcount_bits=$rb extended_l2=$el || {
		bad "create $opts"; continue; }
	our_pattern k.qcow2
	qcheck k.qcow2
	same k.qcow2 "kvmm-written $opts"
	qemu-io -f qcow2 -c "read -P 0x33 1M 76k" -c "read -P 0 1100k 20k" k.qcow2 \
		>/dev/null || bad "qemu-io verify $opts"
	# Our writes on qemu's image, qemu's writes on ours.
	our_pattern q.qcow2; qcheck q.qcow2; same q.qcow2 "mixed $opts"
done

# 2. compression, both directions
head -c 3000000 /dev/urandom | base64 > text.raw
truncate -s 4M text.raw
for ct in zlib zstd; do
	qemu-img convert -c -O qcow2 -o compression_type=$ct text.raw qc.qcow2 || bad "convert -c $ct"
	"$IO" dump qc.qcow2 d.raw && cmp -s d.raw text.raw && ok || bad "read compressed $ct"
	"$IO" create kc.qcow2 4M compression_type=$ct
	"$IO" import text.raw kc.qcow2 -c || bad "import -c $ct"
	qcheck kc.qcow2
	qemu-img compare -q text.raw kc.qcow2 && ok || bad "qemu reads our compressed $ct"
	qemu-img check kc.qcow2 | grep -q "compressed clusters" || bad "no compressed clusters $ct"
	# Overwrite inside a compressed cluster (COW out of it).
	printf 'write 70000 100 0x77\nread 70000 100 0x77\n' | "$IO" script kc.qcow2 || bad "cow compressed"
	qcheck kc.qcow2; same kc.qcow2 "cow compressed $ct"
done

# 3. backing chains: raw base, qemu and kvmm layers, depth 6
head -c 2M /dev/urandom > base.raw
prev=base.raw pfmt=raw
for i in 1 2 3 4 5 6; do
	if [ $((i % 2)) = 1 ]; then
		qemu-img create -q -f qcow2 -b $prev -F $pfmt l$i.qcow2 || bad "qemu backing $i"
		qemu-io -f qcow2 -c "write -P $((i + 16)) $((i * 100000)) 3000" l$i.qcow2 >/dev/null
	else
		"$IO" create l$i.qcow2 0 backing_file=$prev backing_fmt=$pfmt || bad "our backing $i"
		printf 'write %d 3000 %d\n' $((i * 100000)) $((i + 16)) | "$IO" script l$i.qcow2
		qcheck l$i.qcow2
	fi
	same l$i.qcow2 "chain depth $i"
	prev=l$i.qcow2 pfmt=qcow2
done
"$IO" create ext.qcow2 0 backing_file=l6.qcow2 extended_l2=on cluster_size=64k
printf 'write 1000 100 0x99\nwrite 40000 10 0x98\n' | "$IO" script ext.qcow2
qcheck ext.qcow2; same ext.qcow2 "subcluster COW over a chain"
qemu-img map --output=json ext.qcow2 >/dev/null || bad "qemu-img map ext"

# 4. snapshots, both directions
qemu-img create -q -f qcow2 s.qcow2 8M
qemu-io -f qcow2 -c "write -P 0x61 0 1M" s.qcow2 >/dev/null
qemu-img snapshot -c snapA s.qcow2
qemu-io -f qcow2 -c "write -P 0x62 512k 1M" s.qcow2 >/dev/null
"$IO" snapshot s.qcow2 list | grep -q " snapA " && ok || bad "list qemu snapshot"
"$IO" snapshot s.qcow2 create snapB || bad "our snapshot create"
printf 'write 0 100000 0x63\n' | "$IO" script s.qcow2
qcheck s.qcow2
qemu-img snapshot -l s.qcow2 | grep -q snapB && ok || bad "qemu lists our snapshot"
cp s.qcow2 s2.qcow2
"$IO" snapshot s.qcow2 apply snapA || bad "our apply"
qemu-img snapshot -a snapA s2.qcow2 || bad "qemu apply"
qcheck s.qcow2
qemu-img compare -q s.qcow2 s2.qcow2 && ok || bad "apply snapA differs from qemu's"
"$IO" snapshot s.qcow2 apply snapB && qemu-img snapshot -a snapB s2.qcow2
qemu-img compare -q s.qcow2 s2.qcow2 && ok || bad "apply snapB differs from qemu's"
"$IO" snapshot s.qcow2 delete snapA || bad "our delete"
qcheck s.qcow2
qemu-img snapshot -l s.qcow2 | grep -q snapA && bad "snapA still listed" || ok

# 5. preallocation, resize, amend, v2
for p in metadata falloc full; do
	"$IO" create p.qcow2 3M preallocation=$p || bad "prealloc $p"
	qcheck p.qcow2; same p.qcow2 "prealloc $p"
	qemu-img map --output=json p.qcow2 | grep -q '"data": true' && ok || bad "prealloc $p not allocated"
done
"$IO" create r.qcow2 1M cluster_size=512
printf 'write 1000 2000 0x21\n' | "$IO" script r.qcow2
"$IO" resize r.qcow2 3G || bad "resize grow"
qcheck r.qcow2
[ "$(qemu-img info --output=json r.qcow2 | grep -o '"virtual-size": [0-9]*')" = '"virtual-size": 3221225472' ] && ok || bad "resize size"
printf 'write 3221225000 472 0x23\n' | "$IO" script r.qcow2; qcheck r.qcow2
"$IO" resize r.qcow2 512k shrink || bad "resize shrink"; qcheck r.qcow2; same r.qcow2 shrink
qemu-img resize -q r.qcow2 5M && same r.qcow2 "qemu-resized"
"$IO" create v2.qcow2 16M compat=0.10
our_pattern v2.qcow2; qcheck v2.qcow2; same v2.qcow2 "v2 ours"
qemu-img info v2.qcow2 | grep -q "compat: 0.10" && ok || bad "v2 compat"
qemu-img create -q -f qcow2 -o compat=0.10 qv2.qcow2 16M; qio_pattern qv2.qcow2; same qv2.qcow2 "v2 qemu"
"$IO" create am.qcow2 4M
printf 'write 0 70000 0x31\n' | "$IO" script am.qcow2
"$IO" amend am.qcow2 compat=0.10 || bad "amend compat=0.10"
qemu-img info am.qcow2 | grep -q "compat: 0.10" && ok || bad "amended compat"
qcheck am.qcow2
"$IO" amend am.qcow2 compat=1.1 lazy_refcounts=on || bad "amend 1.1"
qemu-img info am.qcow2 | grep -q "lazy refcounts: true" && ok || bad "amended lazy"
qcheck am.qcow2
"$IO" snapshot am.qcow2 create keep # refcounts of 2 must survive the width changes
for rb in 64 2 1 8; do
	if [ $rb = 1 ]; then
		"$IO" amend am.qcow2 refcount_bits=1 2>/dev/null && bad "refcount 2 fit in 1 bit" || ok
		continue
	fi
	"$IO" amend am.qcow2 refcount_bits=$rb || bad "amend refcount_bits=$rb"
	qemu-img info am.qcow2 | grep -q "refcount bits: $rb" && ok || bad "amended refcount bits $rb"
	qcheck am.qcow2
done
qemu-io -f qcow2 -c "read -P 0x31 0 70000" am.qcow2 >/dev/null || bad "data after amend"

# 6. lazy refcounts: qemu leaves the dirty bit (abort), we repair on open
qemu-img create -q -f qcow2 -o lazy_refcounts=on lz.qcow2 4M
qemu-io -f qcow2 -c "write -P 0x41 0 300k" -c abort lz.qcow2 >/dev/null 2>&1
qemu-img info lz.qcow2 | grep -q "lazy refcounts: true" || bad "lazy setup"
printf 'read 0 300k 0x41\n' | sed 's/300k/307200/' | "$IO" script lz.qcow2 || bad "open dirty"
qcheck lz.qcow2

# 7. leak found and repaired by us, confirmed by qemu
"$IO" create lk.qcow2 4M
printf 'write 0 65536 1\n' | "$IO" script lk.qcow2
# refcount block is at cluster 2: raise the header cluster's refcount from 1 to 2 (16-bit)
printf '\x00\x02' | dd of=lk.qcow2 bs=1 seek=$((2 * 65536)) conv=notrunc status=none
qemu-img check lk.qcow2 >/dev/null 2>&1; [ $? = 3 ] && ok || bad "qemu does not see the leak"
"$IO" check lk.qcow2 | grep -q "leaks=1 " && ok || bad "our check misses the leak"
"$IO" check lk.qcow2 leaks | grep -q "leaks=0 .*leaks_fixed=1" && ok || bad "our leak repair"
qcheck lk.qcow2

# 8. seeded random write/zero/discard sequence vs qemu-io
RANDOM=${SEED:-1}
for geo in "65536:off" "65536:on" "4096:off"; do
	IFS=: read -r cs el <<<"$geo"
	size=$((8 << 20))
	qemu-img create -q -f qcow2 -o cluster_size=$cs,extended_l2=$el rq.qcow2 $size
	"$IO" create rk.qcow2 $size cluster_size=$cs extended_l2=$el
	qcmds=() ours=""
	for i in $(seq 1 120); do
		off=$(( (RANDOM * 32768 + RANDOM) % size ))
		len=$(( RANDOM % 200000 + 1 ))
		[ $((off + len)) -gt $size ] && len=$((size - off))
		pat=$(( RANDOM % 255 + 1 ))
		case $((RANDOM % 5)) in
		0|1|2) qcmds+=(-c "write -P $pat $off $len"); ours+="write $off $len $pat"$'\n' ;;
		3) qcmds+=(-c "write -z $off $len"); ours+="zero $off $len"$'\n' ;;
		4) off=$((off / cs * cs)); len=$(( (len + cs - 1) / cs * cs ))
		   [ $((off + len)) -gt $size ] && len=$((size - off))
		   qcmds+=(-c "discard $off $len"); ours+="discard $off $len"$'\n' ;;
		esac
	done
	qemu-io -f qcow2 "${qcmds[@]}" rq.qcow2 >/dev/null || bad "qemu-io random"
	printf '%s' "$ours" | "$IO" script rk.qcow2 || bad "our random sequence"
	qcheck rk.qcow2
	qemu-img compare -q rq.qcow2 rk.qcow2 && ok || bad "random sequence differs ($geo, seed ${SEED:-1})"
	same rq.qcow2 "random qemu-written ($geo)"
done

echo "qcow2-interop: $passes passed, $fails failed"
[ $fails = 0 ]
