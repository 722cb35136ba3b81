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
expect "bad console" 2 "--console: 'tcp:1' is not off, stdio, pty or file:PATH" -- run --console tcp:1
expect "console and serial on stdio" 2 "--serial stdio and --console stdio cannot share the terminal" -- run --kernel "$payload" --console stdio --serial stdio
expect "console file unwritable" 2 "--console file:/nonexistent/dir/out: No such file" -- run --kernel "$payload" --console file:/nonexistent/dir/out
expect "bad on-reboot" 2 "--on-reboot" -- run --on-reboot maybe
expect "bad rng rate" 2 "--rng: 'fast'" -- run --rng fast
expect "disk bad key" 2 "--disk: unknown key 'bogus'" -- run --disk path=/x,bogus=1
expect "disk no path" 2 "--disk 'serial=x': no path=FILE" -- run --disk serial=x
expect "disk bad queues" 2 "--disk: bad value '99' for queues" -- run --disk /x,queues=99
expect "disk serial too long" 2 "--disk: bad value" -- run --disk /x,serial=123456789012345678901
expect "disk bad transport" 2 "--disk: bad value 'isa' for transport" -- run --disk /x,transport=isa
expect "rng bad transport" 2 "--rng: 'on,transport=usb': expected RATE\[,transport=pci\|mmio\]\[,packed=on\|off\]" -- run --rng on,transport=usb
expect "rng bad packed" 2 "--rng: 'on,packed=maybe': expected" -- run --rng on,packed=maybe
expect "disk bad packed" 2 "--disk: bad value 'maybe' for packed" -- run --disk /x,packed=maybe
expect "net unknown backend" 2 "^kvmm run: --net: unknown backend 'slip'" -- run --net slip
expect "net bad hostfwd" 2 "^kvmm run: --net user: bad hostfwd=tcp:2222" -- run --net user,hostfwd=tcp:2222
expect "net tap without ifname" 2 "^kvmm run: --net tap: ifname=NAME is required" -- run --net tap
expect "net bad mac" 2 "bad mac=01:00:00:00:00:01" -- run --net user,mac=01:00:00:00:00:01
expect "net too many" 2 "at most 4 network devices" -- run --net user --net user --net user --net user --net user
expect "disk bad cache" 2 "--disk: bad value 'directsync' for cache" -- run --disk /x,cache=directsync
expect "disk bad aio" 2 "--disk: bad value 'native' for aio" -- run --disk /x,aio=native
expect "net bad transport" 2 "^kvmm run: --net: transport=isa: pci or mmio" -- run --net user,transport=isa
expect "console bad transport" 2 "^kvmm run: --console: transport=usb: pci or mmio" -- run --console stdio,transport=usb
# The block layer names the failing file, then kvmm names the option: two lines at most.
MAX_LINES=2 expect "missing disk" 2 "--disk /nonexistent/disk.img: No such file" -- run --kernel "$payload" --disk /nonexistent/disk.img
MAX_LINES=2 expect "disk not an image" 2 "--disk .*notakernel" -- run --kernel "$payload" --disk "$tmp/notakernel",format=qcow2
# virtio-mmio has 4 slots (GSIs 20-23); a fifth device is refused before KVM is opened.
for i in 1 2 3 4 5; do head -c 4096 /dev/zero >"$tmp/d$i.img"; done
expect "five virtio-mmio disks" 2 "--disk .*d5.img: cannot create the device" -- run --kernel "$payload" \
	--disk "$tmp/d1.img,transport=mmio" --disk "$tmp/d2.img,transport=mmio" --disk "$tmp/d3.img,transport=mmio" \
	--disk "$tmp/d4.img,transport=mmio" --disk "$tmp/d5.img,transport=mmio"
expect "fifth virtio-mmio device a NIC" 2 "--net user: cannot create the device: No space left" -- run --kernel "$payload" \
	--disk "$tmp/d1.img,transport=mmio" --disk "$tmp/d2.img,transport=mmio" --disk "$tmp/d3.img,transport=mmio" \
	--disk "$tmp/d4.img,transport=mmio" --net user,transport=mmio
expect "fifth virtio-mmio device a console" 2 "--console: cannot attach the device: No space left" -- run --kernel "$payload" \
	--disk "$tmp/d1.img,transport=mmio" --disk "$tmp/d2.img,transport=mmio" --disk "$tmp/d3.img,transport=mmio" \
	--disk "$tmp/d4.img,transport=mmio" --console file:"$tmp/con.out",transport=mmio
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
expect "qmp not unix" 2 "--qmp: 'tcp:localhost:4444' is not unix:PATH" -- run --qmp tcp:localhost:4444
expect "qmp wait=on" 2 "--qmp: unsupported option 'wait=on'" -- run --qmp unix:/tmp/x.sock,server,wait=on
expect "qmp path is a file" 2 "--qmp: '.*notakernel' exists and is not a socket" -- run --kernel "$payload" --qmp "unix:$tmp/notakernel"
expect "qmp dir missing" 2 "--qmp: cannot listen on '/nonexistent/q.sock'" -- run --kernel "$payload" --qmp unix:/nonexistent/q.sock
printf '{"qmp": "tcp:1"}' >"$tmp/badqmp.json"
expect "qmp in json" 2 "badqmp.json: --qmp: 'tcp:1'" -- run --config "$tmp/badqmp.json"

# --restore: a snapshot that cannot be used is refused before /dev/kvm is opened. State files
# built here (src/vmm/snapshot_fmt.h: header, CRC-32, an "info" section for 128 MiB, 1 vCPU, and
# a "pcis" section with no virtio-pci function, and a "conf" section: the saved configuration as
# --config JSON text), one directory each.
mkdir -p "$tmp/snap-empty"
python3 - "$tmp" <<'PY'
import os, struct, sys, zlib
def section(tag, body):
    return struct.pack('<4sIII', tag, 0, len(body), 0) + body + b'\0' * (-len(body) % 8)
def state(conf):
    info = struct.pack('<QQQII16s', 128 << 20, 128 << 20, 0, 1, 0, b'\x5a' * 16) + b'\0' * 1024
    pcis = b'\0' * (8 + 31 * 32)  # no virtio-pci function
    body = section(b'info', info) + section(b'pcis', pcis)
    body += section(b'conf', conf) if conf is not None else b''
    hdr = struct.pack('<8sIIQII', b'KVMMSNAP', 2, 0, len(body), 0, 0)
    crc = zlib.crc32(hdr + body)
    return struct.pack('<8sIIQII', b'KVMMSNAP', 2, 0, len(body), crc, 0) + body
def snap(name, conf):
    d = os.path.join(sys.argv[1], name)
    os.makedirs(d, exist_ok=True)
    open(d + '/state', 'wb').write(state(conf))
    open(d + '/memory', 'wb').write(b'\0' * 4096)
    return d
good = state(b'{"memory": "128M", "cpus": "1", "serial": "none"}')
d = snap('snap', b'{"memory": "128M", "cpus": "1", "serial": "none"}')
bad = bytearray(good); bad[100] ^= 1
open(d + '/state.corrupt', 'wb').write(bad)
snap('snap-noconf', None)
snap('snap-notjson', b'memory=128M')
snap('snap-badopt', b'{"memory": "lots"}')
snap('snap-qmp', b'{"memory": "128M", "qmp": "unix:/tmp/x.sock"}')
snap('snap-disk', b'{"memory": "128M", "disk": ["path=/nonexistent/saved.img,transport=mmio"]}')
PY
cp -r "$tmp/snap" "$tmp/snap-corrupt" && mv "$tmp/snap-corrupt/state.corrupt" "$tmp/snap-corrupt/state"
cp -r "$tmp/snap" "$tmp/snap-cut" && head -c 500 "$tmp/snap/state" >"$tmp/snap-cut/state"
cp -r "$tmp/snap" "$tmp/snap-nomem" && rm "$tmp/snap-nomem/memory"
expect "restore: no directory" 2 "--restore /nonexistent/snap: No such file" -- run --restore /nonexistent/snap
expect "restore: no state file" 2 "cannot read the state file" -- run --restore "$tmp/snap-empty"
expect "restore: corrupt state" 2 "checksum mismatch" -- run --restore "$tmp/snap-corrupt" --memory 128M
expect "restore: truncated state" 2 "truncated" -- run --restore "$tmp/snap-cut" --memory 128M
expect "restore: other --memory" 2 "128 MiB and 1 vCPUs; give the same --memory" -- run --restore "$tmp/snap" --memory 256M
expect "restore: other --cpus" 2 "give the same --memory and --cpus" -- run --restore "$tmp/snap" --memory 128M --cpus 2
expect "restore: no memory file" 2 "cannot open the memory file" -- run --restore "$tmp/snap-nomem" --memory 128M
truncate -s 1M "$tmp/disk.img"
expect "restore: pci disk" 2 "--restore .*: PCI 00:01.0 holds no function in the snapshot, virtio-blk with 1 queue in this configuration \(give the same" -- run --restore "$tmp/snap" --memory 128M --disk "path=$tmp/disk.img"
expect "restore: pci rng" 2 "PCI 00:01.0 holds no function in the snapshot, virtio-rng with 1 queue in this" -- run --restore "$tmp/snap" --memory 128M --rng on
expect "restore: mmio rng, other count" 2 "the snapshot has 0 virtio devices, this configuration 1" -- run --restore "$tmp/snap" --memory 128M --rng on,transport=mmio
expect "restore: mmio net, other count" 2 "--restore .*: the snapshot has 0 virtio devices, this configuration 1 \(give the same --rng, --disk, --net and --console" -- run --restore "$tmp/snap" --memory 128M --net user,transport=mmio
expect "restore: mmio console, other count" 2 "--restore .*: the snapshot has 0 virtio devices, this configuration 1" -- run --restore "$tmp/snap" --memory 128M --console "file:$tmp/con.log,transport=mmio"
expect "restore: pci net" 2 "PCI 00:01.0 holds no function in the snapshot, virtio-net with" -- run --restore "$tmp/snap" --memory 128M --net user
expect "restore: short memory file" 2 "memory file is truncated or corrupt" -- run --restore "$tmp/snap" --memory 128M
# The configuration saved in the snapshot: used without options, overridable, and checked.
expect "restore: saved --memory used" 2 "memory file is truncated or corrupt" -- run --restore "$tmp/snap"
expect "restore: no saved configuration" 2 "^kvmm run: --restore .*/snap-noconf: the state file holds no configuration$" -- run --restore "$tmp/snap-noconf"
expect "restore: saved configuration not JSON" 2 "--restore .*: the saved configuration is not JSON \(line 1" -- run --restore "$tmp/snap-notjson"
expect "restore: saved configuration bad option" 2 "--restore .*: the saved configuration: --memory: 'lots' is not a size" -- run --restore "$tmp/snap-badopt"
expect "restore: saved configuration holds --qmp" 2 "--restore .*: the saved configuration holds --qmp" -- run --restore "$tmp/snap-qmp"
MAX_LINES=2 expect "restore: saved disk opened" 2 "--disk /nonexistent/saved.img: No such file" -- run --restore "$tmp/snap-disk"
expect "restore: --disk replaces the saved list" 2 "the snapshot has 0 virtio devices, this configuration 1" -- run --restore "$tmp/snap-disk" --disk "path=$tmp/disk.img,transport=mmio"
expect "restore: --memory override checked" 2 "128 MiB and 1 vCPUs; give the same --memory" -- run --restore "$tmp/snap" --memory 64M
# A snapshot whose memory file is valid: the restore gets as far as /dev/kvm, and at -vv logs the
# steps that ran (base/steptime); a restore builds no ACPI/MP tables (the memory file holds them).
cp -r "$tmp/snap" "$tmp/snap-valid"
python3 - "$tmp/snap-valid/memory" <<'PY'
import struct, sys, zlib
ram = 128 << 20
t = struct.pack('<8sQ16sII', b'KVMMMEM1', ram, b'\x5a' * 16, 0, 0)
t = struct.pack('<8sQ16sII', b'KVMMMEM1', ram, b'\x5a' * 16, zlib.crc32(t), 0)
with open(sys.argv[1], 'wb') as f:
    f.truncate(ram)
    f.seek(ram)
    f.write(t + b'\0' * (4096 - len(t)))
PY
MAX_LINES=3 expect "restore: steps logged up to KVM" 2 "restore failed: cpus [0-9.]+ ms, read\+validate state [0-9.]+ ms, .*map memory file [0-9.]+ ms, \(failed\) [0-9.]+ ms, total [0-9.]+ ms$" -- run -vv --restore "$tmp/snap-valid" --kvm-device /nonexistent/kvm
if grep -q "ACPI tables\|MP table" "$tmp/err"; then
	echo "not ok - restore: no tables built: $(grep 'restore failed' "$tmp/err")"
	fail=$((fail + 1))
else
	echo "ok - restore: no tables built"
	pass=$((pass + 1))
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
