#!/usr/bin/env bash
# One command on a fresh Debian 12 machine: install dependencies, build kvmm, and boot the
# built-in demo guest (it reports the CPUs, memory map, ACPI tables, clock and ring-3 speed it
# sees, then powers off through ACPI, which ends kvmm with status 0).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
make -j"$(nproc)"
echo "setup: build done: build/kvmm"
if [ ! -e /dev/kvm ]; then
	echo "setup: this machine has no /dev/kvm, so no VM can run here; kvmm says:" >&2
fi
exec build/kvmm run --serial stdio --memory 128M --cpus 2
