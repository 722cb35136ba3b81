# shellcheck shell=bash
# bench/lib.sh — what the nested benchmarks (bench/blk.sh, nested-net.sh, nested-startup.sh,
# nested-snapshot.sh) share: finding QEMU and an L1 kernel with kvm-amd, the output directory, and
# the second initramfs archive (QEMU with its libraries and microvm firmware, plus each bench's
# own files) appended to tests/nested/mkinitramfs.sh's. Sourced after SRC is set; uses
# tests/nested/lib.sh.

# shellcheck source-path=SCRIPTDIR/.. source=tests/nested/lib.sh
. "$SRC/tests/nested/lib.sh"

# skip MSG / die MSG: one line prefixed with the bench's name, status 77 / 1.
skip() {
	echo "# $BENCH_NAME: SKIP: $*"
	exit 77
}
die() {
	echo "# $BENCH_NAME: FAIL: $*"
	exit 1
}

# bench_init NAME TMP-PREFIX: BENCH_NAME; QEMU_BIN (the real path of $QEMU), KVER and KERNEL (an
# L1 kernel with kvm-amd), or skip; OUT: BENCH_OUT, or a temporary directory removed at exit.
bench_init() {
	BENCH_NAME=$1
	QEMU=${QEMU:-qemu-system-x86_64}
	QEMU_BIN=$(command -v "$QEMU") || skip "$QEMU not found (apt-get install qemu-system-x86)"
	QEMU_BIN=$(readlink -f "$QEMU_BIN")
	KVER=$(nested_pick_kver)
	[ -n "$KVER" ] || skip "no kernel with kvm-amd.ko (apt-get install linux-image-amd64)"
	KERNEL=${NESTED_KERNEL:-/boot/vmlinuz-$KVER}
	[ -r "$KERNEL" ] || skip "kernel $KERNEL is not readable"
	if [ -n "${BENCH_OUT:-}" ]; then
		mkdir -p "$BENCH_OUT" || exit 1
		OUT=$(cd "$BENCH_OUT" && pwd)
	else
		OUT=$(mktemp -d "${TMPDIR:-/tmp}/$2.XXXXXX") || exit 1
		trap 'rm -rf "$OUT"' EXIT
	fi
}

# bench_copy_elf FILE DEST: FILE at $STAGE/DEST with the shared libraries it needs.
bench_copy_elf() {
	local file=$1 dest=$2 lib
	install -D -m 0755 "$file" "$STAGE$dest"
	for lib in $(ldd "$file" 2>/dev/null | grep -oE '(/[^ ]+)' || true); do
		[ -e "$STAGE$lib" ] && continue
		mkdir -p "$STAGE$(dirname "$lib")"
		cp -L "$lib" "$STAGE$lib"
	done
}

# bench_stage_qemu [FIRMWARE...]: a fresh STAGE=$OUT/stage holding QEMU, its libraries and the
# firmware -M microvm -kernel loads (QEMU looks in <bindir>/../share/qemu), plus FIRMWARE.
# shellcheck disable=SC2120 # FIRMWARE is optional
bench_stage_qemu() {
	local f
	STAGE=$OUT/stage
	rm -rf "$STAGE" && mkdir -p "$STAGE/usr/share/qemu" || exit 1
	bench_copy_elf "$QEMU_BIN" /usr/bin/qemu-system-x86_64
	for f in qboot.rom bios-microvm.bin pvh.bin linuxboot_dma.bin "$@"; do
		cp -L "/usr/share/qemu/$f" "$STAGE/usr/share/qemu/$f" ||
			die "firmware /usr/share/qemu/$f missing"
	done
}

# bench_stage_finish: $OUT/initramfs.cpio = $OUT/base.cpio followed by STAGE as a second archive.
bench_stage_finish() {
	(cd "$STAGE" && find . -print0 | LC_ALL=C sort -z |
		cpio --null -o -H newc --owner 0:0 --quiet) >"$OUT/bench.cpio" || die "cpio failed"
	rm -rf "$STAGE"
	cat "$OUT/base.cpio" "$OUT/bench.cpio" >"$OUT/initramfs.cpio" || exit 1
}
