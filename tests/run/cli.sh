#!/usr/bin/env bash
# `kvmm run` user errors: each must print exactly one line naming the problem and exit with
# status 2 — and all of them are detected before /dev/kvm is opened, so this runs everywhere.
# Usage: KVMM=/path/to/kvmm PAYLOAD_DIR=/path/to/payloads tests/run/cli.sh
set -u
KVMM=${KVMM:-build/kvmm}
PAYLOAD_DIR=${PAYLOAD_DIR:-build/payload}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0

# expect NAME STATUS REGEX -- ARGS...
expect() {
	local name=$1 want=$2 re=$3
	shift 4
	"$KVMM" "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
	local st=$? lines
	lines=$(wc -l <"$tmp/err")
	if [ "$st" -ne "$want" ]; then
		echo "not ok - $name: status $st, want $want; stderr: $(head -3 "$tmp/err")"
		fail=$((fail + 1))
	elif [ -n "$re" ] && ! grep -Eq -- "$re" "$tmp/err"; then
		echo "not ok - $name: stderr does not match /$re/: $(cat "$tmp/err")"
		fail=$((fail + 1))
	elif [ "$want" -ne 0 ] && [ "$lines" -gt "${MAX_LINES:-1}" ]; then
		echo "not ok - $name: $lines lines on stderr, want 1: $(cat "$tmp/err")"
		fail=$((fail + 1))
	else
		echo "ok - $name"
		pass=$((pass + 1))
	fi
}

payload=$PAYLOAD_DIR/boot.elf
[ -f "$payload" ] || payload=$PAYLOAD_DIR/demo.elf
printf 'hello' >"$tmp/notakernel"
: >"$tmp/empty"
printf '{"memory": ' >"$tmp/bad.json"
printf '{"memory": "64M", "debug_exit": "maybe"}' >"$tmp/badval.json"
# An ELF64 whose PT_LOAD needs 64 MiB of memory, loaded into 16 MiB of RAM.
python3 - "$tmp/huge.elf" <<'PY'
import struct, sys
ehdr = struct.pack('<4sBBBBB7sHHIQQQIHHHHHH', b'\x7fELF', 2, 1, 1, 0, 0, b'\0'*7,
                   2, 62, 1, 0x200000, 64, 0, 0, 64, 56, 1, 0, 0, 0)
phdr = struct.pack('<IIQQQQQQ', 1, 7, 0x1000, 0x200000, 0x200000, 16, 64 << 20, 0x1000)
data = ehdr + phdr
data += b'\0' * (0x1000 - len(data)) + b'\xf4' * 16
open(sys.argv[1], 'wb').write(data)
PY

expect "help exits 0" 0 "" -- run --help
expect "unknown subcommand" 2 "unknown command 'frob'" -- frob
expect "unknown option" 2 "unknown option '--frobnicate'" -- run --frobnicate
expect "missing value" 2 "needs a value" -- run --memory
expect "stray argument" 2 "unexpected argument 'extra'" -- run extra
expect "bad memory size" 2 "--memory: 'lots'" -- run --memory lots
expect "memory too small" 2 "--memory: 1K is out of range" -- run --memory 1K
expect "bad serial" 2 "--serial: 'tcp:1'" -- run --serial tcp:1
expect "bad on-reboot" 2 "--on-reboot" -- run --on-reboot maybe
expect "bad rng rate" 2 "--rng: 'fast'" -- run --rng fast
expect "disk bad key" 2 "--disk: unknown key 'bogus'" -- run --disk path=/x,bogus=1
expect "disk no path" 2 "--disk 'serial=x': no path=FILE" -- run --disk serial=x
expect "disk bad queues" 2 "--disk: bad value '99' for queues" -- run --disk /x,queues=99
expect "disk serial too long" 2 "--disk: bad value" -- run --disk /x,serial=123456789012345678901
expect "disk bad cache" 2 "--disk: bad value 'directsync' for cache" -- run --disk /x,cache=directsync
expect "disk bad aio" 2 "--disk: bad value 'native' for aio" -- run --disk /x,aio=native
# The block layer names the failing file, then kvmm names the option: two lines at most.
MAX_LINES=2 expect "missing disk" 2 "--disk /nonexistent/disk.img: No such file" -- run --kernel "$payload" --disk /nonexistent/disk.img
MAX_LINES=2 expect "disk not an image" 2 "--disk .*notakernel" -- run --kernel "$payload" --disk "$tmp/notakernel",format=qcow2
expect "zero cpus" 2 "^kvmm run: --cpus 0: " -- run --cpus 0 --kernel "$payload"
expect "bad topology" 2 "^kvmm run: --cpus 4,sockets=3: " -- run --cpus 4,sockets=3 --kernel "$payload"
expect "unknown cpu model" 2 "^kvmm run: --cpu nosuchmodel: " -- run --cpu nosuchmodel --kernel "$payload"
expect "unknown cpu feature" 2 "nosuchflag" -- run --cpu host,+nosuchflag --kernel "$payload"
expect "affinity vcpu out of range" 2 "vCPU 5 does not exist" -- run --cpus 2 --cpu-affinity 5=0 --kernel "$payload"
expect "affinity bad syntax" 2 "--cpu-affinity" -- run --cpu-affinity zero=1
expect "missing kernel" 2 "cannot open kernel '/nonexistent/vmlinuz'" -- run --kernel /nonexistent/vmlinuz
expect "kernel is a directory" 2 "kernel '/' is a directory" -- run --kernel /
expect "empty kernel" 2 "empty" -- run --kernel "$tmp/empty"
expect "not a kernel" 2 "not a kernel image" -- run --kernel "$tmp/notakernel"
expect "kernel too big" 2 "kernel '.*huge.elf'" -- run --memory 16M --kernel "$tmp/huge.elf"
expect "missing initrd" 2 "cannot open initrd '/nonexistent/initrd'" -- run --kernel "$payload" --initrd /nonexistent/initrd
expect "bad json" 2 "bad.json:1" -- run --config "$tmp/bad.json"
expect "bad json value" 2 "badval.json: --debug-exit: 'maybe'" -- run --config "$tmp/badval.json"
expect "missing config" 2 "nonexistent.json" -- run --config /nonexistent.json
expect "no kvm device" 2 "/nonexistent/kvm does not exist" -- run --kernel "$payload" --kvm-device /nonexistent/kvm
expect "kvm device not kvm" 2 "/dev/null" -- run --kernel "$payload" --kvm-device /dev/null

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
