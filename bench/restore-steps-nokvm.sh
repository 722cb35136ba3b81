#!/usr/bin/env bash
# bench/restore-steps-nokvm.sh — the part of `kvmm run --restore` that does not need KVM, timed
# natively on a host without /dev/kvm: builds a synthetic snapshot (a state file with only the
# "info" and "conf" sections, as tests/run/cli.sh does, and a sparse memory file with a valid
# trailer), runs `kvmm run -vv --restore DIR --kvm-device /nonexistent` RUNS times and prints
# the step line vm_create() logs when it stops at KVM ("restore failed: cpus ..., read+validate
# state ..., guest memory ..., devices ..., map memory file ..., (failed) ..."), plus the time
# run.c spent reading the saved configuration. docs/benchmarks.md ("Snapshot").
#
#   bench/restore-steps-nokvm.sh KVMM [MIB ...]      (default MiB: 256 2048; RUNS=5)
set -u
KVMM=$1
shift
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kvmm-nokvm.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT
for mib in "${@:-256 2048}"; do
	for m in $mib; do
		python3 - "$WORK/snap-$m" "$m" <<'PY' || exit 1
import os, struct, sys, zlib
d, mib = sys.argv[1], int(sys.argv[2])
ram, sid = mib << 20, b'\x5a' * 16
def section(tag, body):
    return struct.pack('<4sIII', tag, 0, len(body), 0) + body + b'\0' * (-len(body) % 8)
lo = min(ram, 3 << 30)
info = struct.pack('<QQQII16s', ram, lo, ram - lo, 1, 0, sid) + b'\0' * 1024
conf = ('{"memory": "%dM", "cpus": "1", "serial": "none", "debug-exit": true}' % mib).encode()
body = section(b'info', info) + section(b'conf', conf)
hdr = struct.pack('<8sIIQII', b'KVMMSNAP', 2, 0, len(body), 0, 0)
crc = zlib.crc32(hdr + body)
os.makedirs(d, exist_ok=True)
open(d + '/state', 'wb').write(struct.pack('<8sIIQII', b'KVMMSNAP', 2, 0, len(body), crc, 0) + body)
t = struct.pack('<8sQ16sII', b'KVMMMEM1', ram, sid, 0, 0)
t = struct.pack('<8sQ16sII', b'KVMMMEM1', ram, sid, zlib.crc32(t), 0)
with open(d + '/memory', 'wb') as f:
    f.truncate(ram)
    f.seek(ram)
    f.write(t + b'\0' * (4096 - len(t)))
PY
		for _ in $(seq "${RUNS:-5}"); do
			"$KVMM" run -vv --restore "$WORK/snap-$m" --kvm-device /nonexistent/kvm 2>&1 |
				sed -n "s/^.*\(restore failed: \|saved configuration read\)/$m MiB: \1/p"
		done
	done
done
