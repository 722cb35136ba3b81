#!/usr/bin/env bash
# tests/linux/mkinitramfs.sh — the initramfs of the real-Linux guest test (tests/guest/linux.sh):
#
#   tests/linux/mkinitramfs.sh OUTDIR [KVER]
#
# writes OUTDIR/initramfs.cpio (cpio newc, uncompressed, ~2 MiB) and OUTDIR/vmlinuz (a copy of
# /boot/vmlinuz-KVER, the kernel the modules belong to). The archive holds /init
# (tests/linux/init.sh), /bin/busybox (busybox-static; /init installs the applet links) and
# /lib/modules/*.ko: virtio_pci, virtio_mmio, virtio_blk, virtio_net, virtio_console,
# virtio_rng and their dependencies, decompressed, in load order (modinfo -F depends, as
# tests/nested/mkinitramfs.sh does: busybox has no modprobe) listed in /lib/modules/load-order.
# KVER defaults as for the nested initramfs (tests/nested/lib.sh). Modules built into the
# kernel (=y) are skipped. Needs busybox-static, cpio, kmod.
set -euo pipefail

if [ $# -lt 1 ]; then
	echo "usage: $0 OUTDIR [KVER]" >&2
	exit 2
fi
OUTDIR=$1
KVER=${2:-}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
die() {
	echo "linux-mkinitramfs: $*" >&2
	exit 1
}
# shellcheck source-path=SCRIPTDIR source=../nested/lib.sh
. "$SRC/tests/nested/lib.sh"
[ -n "$KVER" ] || KVER=$(nested_pick_kver)
[ -n "$KVER" ] || die "no kernel with modules found (apt-get install linux-image-amd64)"
[ -r "/boot/vmlinuz-$KVER" ] || die "/boot/vmlinuz-$KVER is missing or unreadable"
BUSYBOX=$(command -v busybox) || die "busybox not found (apt-get install busybox-static)"
{ ldd "$BUSYBOX" 2>&1 || true; } | grep -q 'not a dynamic' ||
	die "$BUSYBOX is not static (apt-get install busybox-static)"
command -v cpio >/dev/null || die "cpio not found (apt-get install cpio)"

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/kvmm-linux-root.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE"/{bin,dev,proc,sys,tmp,lib/modules}
cp "$BUSYBOX" "$STAGE/bin/busybox"
ln -s busybox "$STAGE/bin/sh"
install -m 0755 "$SRC/tests/linux/init.sh" "$STAGE/init"

declare -A seen=()
order=()
add_mod() {
	local m=$1 d
	[ -n "${seen[$m]:-}" ] && return
	seen[$m]=1
	# A name modinfo cannot find as a file is built in (or absent: insmod then reports it).
	modinfo -k "$KVER" -n "$m" 2>/dev/null | grep -q '\.ko' || return 0
	for d in $(modinfo -k "$KVER" -F depends "$m" | tr ',' ' '); do
		add_mod "$d"
	done
	order+=("$m")
}
for m in virtio_pci virtio_mmio virtio_blk virtio_net virtio_console virtio_rng; do
	modinfo -k "$KVER" -n "$m" >/dev/null 2>&1 || die "module $m not found for $KVER"
	add_mod "$m"
done
for m in "${order[@]}"; do
	f=$(modinfo -k "$KVER" -n "$m")
	case $f in
	*.ko) cp "$f" "$STAGE/lib/modules/$m.ko" ;;
	*.ko.xz) xz -dc "$f" >"$STAGE/lib/modules/$m.ko" ;;
	*.ko.zst) zstd -qdc "$f" >"$STAGE/lib/modules/$m.ko" ;;
	*.ko.gz) gzip -dc "$f" >"$STAGE/lib/modules/$m.ko" ;;
	*) die "unknown module file $f" ;;
	esac
done
printf '%s\n' "${order[@]}" >"$STAGE/lib/modules/load-order"
if [ "$(id -u)" -eq 0 ]; then
	mknod -m 0600 "$STAGE/dev/console" c 5 1
fi

mkdir -p "$OUTDIR"
(cd "$STAGE" && find . -print0 | LC_ALL=C sort -z |
	cpio --null -o -H newc --owner 0:0 --quiet) >"$OUTDIR/initramfs.cpio.tmp"
mv "$OUTDIR/initramfs.cpio.tmp" "$OUTDIR/initramfs.cpio"
cp "/boot/vmlinuz-$KVER" "$OUTDIR/vmlinuz"
echo "linux-mkinitramfs: $OUTDIR/initramfs.cpio ($(du -h "$OUTDIR/initramfs.cpio" | cut -f1)) + vmlinuz $KVER, modules: ${order[*]}"
