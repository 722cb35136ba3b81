#!/usr/bin/env bash
# One command on a fresh Debian 12 machine: install dependencies, build kvmm, and boot the
# built-in demo guest (it reports the CPUs, memory map, ACPI tables, clock and ring-3 speed it
# sees, then powers off through ACPI, which ends kvmm with status 0).
# On a host without /dev/kvm (such as a VM without nested virtualization) kvmm cannot run
# directly: the demo is then booted by kvmm inside a Linux guest under QEMU TCG whose emulated
# AMD CPU provides nested KVM (tests/nested, about a minute), and its result is reported.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
make -j"$(nproc)"
echo "setup: build done: build/kvmm"
if [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	exec build/kvmm run --serial stdio --memory 128M --cpus 2
fi
echo "setup: this host has no usable /dev/kvm; kvmm itself says:"
build/kvmm run --memory 128M --cpus 2 </dev/null || true
echo "setup: booting the demo guest with kvmm inside nested KVM (QEMU TCG) instead"
exec make check-nested CASES='^(demo|demo-builtin)$'
