#!/usr/bin/env bash
# The whole test suite, as CI runs it: install dependencies, build with -Werror, run
# `make check` (unit, fuzz-corpus replay, image tool, guest payloads under kvmm — skipped where
# /dev/kvm is absent — the same payloads under QEMU, and under nested KVM), then the unit tests
# and corpus replay again under ASan/UBSan, and a clang build with its unit tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
make -j"$(nproc)" WERROR=1
make WERROR=1 check
make -j"$(nproc)" WERROR=1 SAN=address,undefined check-unit check-fuzz
make -j"$(nproc)" WERROR=1 BUILD=build-clang CC=clang all check-unit
echo "test: all suites passed"
