#!/usr/bin/env bash
# tests/nested/mkinitramfs.sh — build the initramfs that tests/nested/run.sh boots under QEMU TCG
# (an emulated AMD CPU with SVM), so that kvmm runs against real, nested KVM inside that guest.
#
#   tests/nested/mkinitramfs.sh OUT.cpio KVMM PAYLOAD_DIR [KVER]
#
# The archive (cpio newc, uncompressed, ~19 MiB) holds:
#   /init                 tests/nested/init.sh (busybox sh)
#   /bin/busybox, /bin/sh (init.sh adds the other applet links at boot)
#   /usr/bin/*            host bash and the coreutils/grep/sed/procps tools tests/guest/run.sh
#                         needs (busybox lacks cksum and pgrep, and its date lacks %N), each with
#                         the shared libraries ldd lists and the ELF interpreter, at their paths
#   /lib/modules/KVER/    kvm.ko, kvm-amd.ko and their dependencies (decompressed)
#   /kvmm/kvmm, /kvmm/payload/*.elf, /kvmm/tests/guest/{run.sh,lib.sh,cases.sh,qmp.sh,linux.sh,...}
#   /kvmm/linux/{vmlinuz,initramfs.cpio}  the L2 Linux of the linux case (tests/linux/mkinitramfs.sh)
# NESTED_INIT=FILE replaces /init (for one-off experiments; the markers run.sh reads are listed
# in init.sh).
# KVER defaults to the newest version with /boot/vmlinuz-KVER and a kvm-amd module (lib.sh); it
# must match the kernel run.sh boots (/init reports a mismatch as a skip).
# Needs: busybox-static, cpio, kmod (modinfo), the linux-image package of KVER.
set -euo pipefail

if [ $# -lt 3 ]; then
	echo "usage: $0 OUT.cpio KVMM PAYLOAD_DIR [KVER]" >&2
	exit 2
fi
OUT=$1
KVMM=$2
PAYLOAD_DIR=$3
KVER=${4:-}
SRC=$(cd "$(dirname "$0")/../.." && pwd)

die() {
	echo "mkinitramfs: $*" >&2
	exit 1
}

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$SRC/tests/nested/lib.sh"
[ -n "$KVER" ] || KVER=$(nested_pick_kver)
[ -n "$KVER" ] || die "no /lib/modules/*/ with kvm-amd.ko (apt-get install linux-image-amd64)"
BUSYBOX=$(command -v busybox) || die "busybox not found (apt-get install busybox-static)"
{ ldd "$BUSYBOX" 2>&1 || true; } | grep -q 'not a dynamic' ||
	die "$BUSYBOX is not static (apt-get install busybox-static)"
command -v cpio >/dev/null || die "cpio not found (apt-get install cpio)"
[ -x "$KVMM" ] || die "$KVMM is not an executable"
[ -d "$PAYLOAD_DIR" ] || die "$PAYLOAD_DIR is not a directory"

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/kvmm-nested-root.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE"/{bin,usr/bin,dev,proc,sys,tmp,run,kvmm/payload,kvmm/tests/guest}
chmod 1777 "$STAGE/tmp"

# copy_elf FILE DEST: copy a dynamically linked ELF and every library ldd lists (plus the
# interpreter) to the same absolute paths inside the stage.
copy_elf() {
	local file=$1 dest=$2 lib
	install -D -m 0755 "$file" "$STAGE$dest"
	for lib in $(ldd "$file" 2>/dev/null | grep -oE '(/[^ ]+)' || true); do
		[ -e "$STAGE$lib" ] && continue
		mkdir -p "$STAGE$(dirname "$lib")"
		cp -L "$lib" "$STAGE$lib"
	done
}

# Busybox; /init creates the applet links at boot (busybox --install -s /bin). Host tools
# copied below take precedence through PATH.
cp "$BUSYBOX" "$STAGE/bin/busybox"
ln -s busybox "$STAGE/bin/sh"

# The tools tests/guest/run.sh and lib.sh use, from the host (GNU semantics: timeout -k,
# date +%s%N, cksum, pgrep -P, nproc --all, bash arrays and [[ =~ ]]).
for t in bash env timeout date mktemp head tail cksum cut wc tr grep sed seq pgrep nproc cat rm \
	sleep printf dirname basename mkdir; do
	p=$(type -P "$t") || die "host tool $t not found"
	copy_elf "$(readlink -f "$p")" "/usr/bin/$t"
done

# Network tools for tests/guest/net.sh (optional: those cases skip without them): iproute2's
# ip (netns, tuntap, bridge), nft and dnsmasq for `kvmm net nat`, with a minimal passwd/group
# so dnsmasq can look up root.
for t in ip nft dnsmasq setpriv; do
	p=$(type -P "$t") || p=$(PATH=$PATH:/usr/sbin:/sbin type -P "$t") || continue
	copy_elf "$(readlink -f "$p")" "/usr/bin/$t"
done
mkdir -p "$STAGE/etc" "$STAGE/var/lib/misc"
ln -sfn ../run "$STAGE/var/run"
printf 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$STAGE/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$STAGE/etc/group"

# Kernel modules: kvm-amd and its dependencies, in load order (dependencies first).
MODDIR=/lib/modules/$KVER
mkdir -p "$STAGE$MODDIR"
declare -A seen=()
order=()
add_mod() {
	local m=$1 d
	[ -n "${seen[$m]:-}" ] && return
	seen[$m]=1
	for d in $(modinfo -k "$KVER" -F depends "$m" | tr ',' ' '); do
		add_mod "$d"
	done
	order+=("$m")
}
add_mod kvm_amd
# For the virtio-net tap/bridge/NAT cases (tests/guest/net.sh): tun, bridge, veth, nftables NAT.
# crc32c_generic first: libcrc32c (nf_tables, nf_conntrack) allocates "crc32c" in its init and
# there is no modprobe in the initramfs to load it on demand (its softdep).
for m in tun bridge veth crc32c_generic nf_tables nft_chain_nat nft_masq nft_ct; do
	add_mod $m
done
# loop: the virtio-blk-nocache case puts cache=none (O_DIRECT) on a loop block device.
if modinfo -k "$KVER" -n loop >/dev/null 2>&1; then
	add_mod loop
fi
for m in "${order[@]}"; do
	f=$(modinfo -k "$KVER" -n "$m") || die "module $m not found for $KVER"
	case $f in
	*.ko) cp "$f" "$STAGE$MODDIR/$m.ko" ;;
	*.ko.xz) xz -dc "$f" >"$STAGE$MODDIR/$m.ko" ;;
	*.ko.zst) zstd -qdc "$f" >"$STAGE$MODDIR/$m.ko" ;;
	*.ko.gz) gzip -dc "$f" >"$STAGE$MODDIR/$m.ko" ;;
	*) die "unknown module file $f" ;;
	esac
done
printf '%s\n' "${order[@]}" >"$STAGE$MODDIR/load-order"

# kvmm, the payloads and the guest test runner.
copy_elf "$(readlink -f "$KVMM")" /kvmm/kvmm
# The snapshot test driver (mk/snapshot.mk), next to kvmm as in the build tree.
SNAPSHOT_DRIVE=$(dirname "$(readlink -f "$KVMM")")/tests/snapshot-drive
if [ -x "$SNAPSHOT_DRIVE" ]; then
	mkdir -p "$STAGE/kvmm/tests"
	copy_elf "$SNAPSHOT_DRIVE" /kvmm/tests/snapshot-drive
fi
cp "$PAYLOAD_DIR"/*.elf "$STAGE/kvmm/payload/"
cp "$SRC"/tests/guest/run.sh "$SRC"/tests/guest/lib.sh "$SRC"/tests/guest/cases.sh \
	"$SRC"/tests/guest/net.sh "$SRC"/tests/guest/snapshot.sh "$SRC"/tests/guest/qmp.sh \
	"$SRC"/tests/guest/linux.sh "$STAGE/kvmm/tests/guest/"
# The real-Linux case (tests/guest/linux.sh): the L2 kernel (this same KVER's bzImage, ~8 MiB)
# and its ~2.5 MiB virtio initramfs in /kvmm/linux; without them that case skips.
"$SRC"/tests/linux/mkinitramfs.sh "$STAGE/kvmm/linux" "$KVER" ||
	echo "mkinitramfs: no L2 Linux for the linux case (it will skip)" >&2
install -m 0755 "${NESTED_INIT:-$SRC/tests/nested/init.sh}" "$STAGE/init"

# Device nodes for the first moments before /init mounts devtmpfs (the kernel opens
# /dev/console for PID 1's stdio). Without root, /init still mounts devtmpfs and reopens.
if [ "$(id -u)" -eq 0 ]; then
	mknod -m 0600 "$STAGE/dev/console" c 5 1
	mknod -m 0666 "$STAGE/dev/null" c 1 3
fi

mkdir -p "$(dirname "$OUT")"
(cd "$STAGE" && find . -print0 | LC_ALL=C sort -z |
	cpio --null -o -H newc --owner 0:0 --quiet) >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "mkinitramfs: $OUT ($(du -h "$OUT" | cut -f1), modules for $KVER: ${order[*]})"
