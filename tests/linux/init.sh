#!/bin/sh
# tests/linux/init.sh — /init of the L2 initramfs (tests/linux/mkinitramfs.sh): a real Linux
# guest under kvmm, checking kvmm's devices against Linux's own drivers. Busybox sh.
# Loads the virtio modules (virtio_pci, virtio_mmio, blk, net, console, rng) in the order of
# /lib/modules/load-order, then prints one line per check on the console (COM1):
#   LINUX-CHECK ok: WHAT       or   LINUX-CHECK fail: WHAT
# (LINUX-INFO: lines add detail, among them the kernel's ACPI errors/warnings and BUG/WARNING lines),
# then LINUX-DONE ok|fail (after a failure also LINUX-DMESG: lines: the kernel's messages
# about virtio/PCI/MSI/ACPI) and powers off (ACPI S5: kvmm exits 0).
# What the host (tests/guest/linux.sh) sets up and expects:
#   an 8 MiB virtio-blk disk on PCI starting "KVMM-LINUX-PCI", ending in 0xee bytes; the guest
#     writes "KVMM-LINUX-WROTE" at byte 512 (the host checks the image afterwards)
#   a 4 MiB virtio-blk disk on virtio-mmio (ACPI LNRO0005) starting "KVMM-LINUX-MMIO"
#   virtio-rng, virtio-console (hvc0: the guest writes "LINUX-HVC0 hello") and
#   virtio-net --net user (DHCP must give 10.0.2.15) on PCI, each with MSI-X vectors
export PATH=/bin
/bin/busybox --install -s /bin
mount -t devtmpfs dev /dev 2>/dev/null
mount -t proc proc /proc
mount -t sysfs sys /sys
exec </dev/console >/dev/console 2>&1

FAILED=0
ok() { echo "LINUX-CHECK ok: $*"; }
fail() {
	echo "LINUX-CHECK fail: $*"
	FAILED=1
}
echo "LINUX-INFO: $(uname -r), up $(cut -d' ' -f1 /proc/uptime) s"

for m in $(cat /lib/modules/load-order); do
	insmod "/lib/modules/$m.ko" || fail "insmod $m"
done
echo "LINUX-INFO: modules loaded, up $(cut -d' ' -f1 /proc/uptime) s"

# wait_for PATH: up to 10 s (disks are announced asynchronously).
wait_for() {
	i=0
	while [ ! -e "$1" ] && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ -e "$1" ]
}

# PCI: one virtio function per device (modern IDs 0x1040 + type), each bound to virtio-pci.
n=0
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/vendor")" = 0x1af4 ] || continue
	n=$((n + 1))
	drv=$(basename "$(readlink "$d/driver" 2>/dev/null)")
	echo "LINUX-INFO: pci $(basename "$d") $(cat "$d/vendor"):$(cat "$d/device") driver=$drv"
done
for id in 0x1042:blk 0x1041:net 0x1043:console 0x1044:rng; do
	found=
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/vendor")" = 0x1af4 ] && [ "$(cat "$d/device")" = "${id%%:*}" ] || continue
		[ "$(basename "$(readlink "$d/driver" 2>/dev/null)")" = virtio-pci ] && found=$(basename "$d")
	done
	if [ -n "$found" ]; then ok "pci virtio-${id#*:} ${id%%:*} at $found bound to virtio-pci"; else fail "pci virtio-${id#*:} ${id%%:*} missing or unbound"; fi
done

# MSI-X: virtio-pci requests vectors named virtioN-config / virtioN-<queue>.
nmsi=$(grep -E 'PCI-MSI' /proc/interrupts | grep -c virtio)
if [ "$nmsi" -ge 4 ]; then ok "$nmsi PCI-MSI interrupt lines for virtio"; else fail "only $nmsi PCI-MSI virtio interrupt lines"; fi
grep virtio /proc/interrupts | sed 's/  */ /g; s/^/LINUX-INFO: irq /'

# virtio-blk on PCI and on virtio-mmio, told apart by size (8 MiB, 4 MiB) and sysfs path.
wait_for /sys/block/vda
wait_for /sys/block/vdb
pcidisk=""
mmiodisk=""
for b in /sys/block/vd*; do
	[ -e "$b" ] || continue
	p=$(readlink -f "$b")
	echo "LINUX-INFO: $(basename "$b") $(cat "$b/size") sectors at $p"
	case "$(cat "$b/size"):$p" in
	16384:*/pci*) pcidisk=$(basename "$b") ;;
	8192:*LNRO0005*) mmiodisk=$(basename "$b") ;;
	esac
done
if [ -n "$pcidisk" ]; then
	ok "virtio-blk (pci) /dev/$pcidisk, 16384 sectors"
	s=$(dd if=/dev/"$pcidisk" bs=14 count=1 2>/dev/null)
	[ "$s" = KVMM-LINUX-PCI ] && ok "read the pattern at byte 0 of $pcidisk" || fail "$pcidisk byte 0 reads '$s'"
	t=$(dd if=/dev/"$pcidisk" bs=512 skip=16383 count=1 2>/dev/null | tr -d '\356' | wc -c)
	l=$(dd if=/dev/"$pcidisk" bs=512 skip=16383 count=1 2>/dev/null | wc -c)
	[ "$t" = 0 ] && [ "$l" = 512 ] && ok "last sector of $pcidisk is 0xee" || fail "last sector of $pcidisk: $l bytes, $t not 0xee"
	echo KVMM-LINUX-WROTE | dd of=/dev/"$pcidisk" bs=512 seek=1 conv=sync,fsync 2>/dev/null &&
		ok "wrote sector 1 of $pcidisk" || fail "write to $pcidisk"
else
	fail "no 16384-sector virtio-blk disk under a PCI device"
fi
if [ -n "$mmiodisk" ]; then
	s=$(dd if=/dev/"$mmiodisk" bs=15 count=1 2>/dev/null)
	[ "$s" = KVMM-LINUX-MMIO ] && ok "virtio-blk (mmio, LNRO0005) /dev/$mmiodisk reads its pattern" ||
		fail "$mmiodisk byte 0 reads '$s'"
else
	fail "no 8192-sector virtio-blk disk on virtio-mmio (LNRO0005)"
fi

# virtio-rng: the hwrng core picks it and /dev/hwrng returns bytes.
cur=$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)
n=$(dd if=/dev/hwrng bs=32 count=1 2>/dev/null | wc -c)
case "$cur" in virtio_rng*) ok "hw_random current is $cur" ;; *) fail "hw_random current is '$cur'" ;; esac
[ "$n" = 32 ] && ok "read 32 bytes from /dev/hwrng" || fail "read $n bytes from /dev/hwrng"

# virtio-console: hvc0 exists and takes output (the host reads it from --console file:).
if wait_for /dev/hvc0 && echo "LINUX-HVC0 hello" >/dev/hvc0; then ok "hvc0 written"; else fail "no /dev/hvc0"; fi

# virtio-net with --net user: eth0, link up, DHCP from libslirp.
if wait_for /sys/class/net/eth0; then
	drv=$(basename "$(readlink /sys/class/net/eth0/device/driver)")
	ok "eth0 ($drv, $(cat /sys/class/net/eth0/address))"
	ip link set eth0 up
	printf '#!/bin/sh\n[ "$1" = bound ] && ip addr add "$ip/${mask:-24}" dev "$interface"\nexit 0\n' >/udhcpc.sh
	chmod +x /udhcpc.sh
	udhcpc -i eth0 -n -q -t 5 -T 2 -s /udhcpc.sh >/dev/null 2>&1
	a=$(ip -4 addr show eth0 | grep -o 'inet [0-9.]*')
	[ "$a" = "inet 10.0.2.15" ] && ok "DHCP on eth0: 10.0.2.15" || fail "DHCP on eth0: '$a'"
else
	fail "no eth0"
fi

# The XSAVE set-up the kernel settled on (CPUID leaf 0xD; docs/platform.md "XSAVE").
dmesg | grep -E 'x86/fpu: (Enabled|x87)|XSAVE consistency' | head -n 4 | sed 's/^/LINUX-INFO: kernel: /'
# Kernel complaints, visible in the case's TAP comments; a WARNING splat ("WARNING: CPU: N
# PID: N at FILE:LINE") fails the case on the host side (tests/guest/linux.sh).
dmesg | grep -E 'ACPI (Error|Warning|BIOS)|BUG|WARNING|firmware' | head -n 20 | sed 's/^/LINUX-INFO: kernel: /'

if [ "$FAILED" = 0 ]; then
	echo "LINUX-DONE ok, up $(cut -d' ' -f1 /proc/uptime) s"
else
	dmesg | grep -iE 'virtio|pci|msi|acpi|hwrng|hvc|eth0' | tail -n 80 | sed 's/^/LINUX-DMESG: /'
	echo "LINUX-DONE fail"
fi
sync
poweroff -f
