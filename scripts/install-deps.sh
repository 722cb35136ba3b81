#!/usr/bin/env bash
# Install every Debian 12 package kvmm's build, tests and benchmarks use. Idempotent: apt runs
# only when something is missing. Needs root (or sudo).
set -euo pipefail

PKGS=(
	build-essential pkg-config make gcc clang clang-format binutils
	libcmocka-dev libjansson-dev liburing-dev libzstd-dev zlib1g-dev libseccomp-dev libslirp-dev
	qemu-system-x86 qemu-utils acpica-tools socat perl util-linux procps python3 bc fio
	iproute2 nftables dnsmasq-base
	linux-image-amd64 busybox-static cpio kmod
)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
