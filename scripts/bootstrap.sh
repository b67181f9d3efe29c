#!/usr/bin/env bash
# Installs every Debian package daxref's build, tests and VMs need. Idempotent: packages already
# installed are left alone, and apt-get update runs only when something is missing.
#   scripts/bootstrap.sh            install what is missing
#   scripts/bootstrap.sh --check    list what is missing, install nothing (exit 1 if anything is)
set -euo pipefail

packages=(
    # build: system-library targets (uuid-dev: the ndctl headers need it but do not declare it)
    pkg-config libndctl-dev libdaxctl-dev libnuma-dev libblkid-dev uuid-dev liburing-dev
    # inside the guest (the host root is the guest's root) and for `inventory --verify`
    ndctl daxctl numactl e2fsprogs xfsprogs kmod util-linux fdisk
    # VM runner: kernel download and unpacking, initramfs, emulator
    apt dpkg ca-certificates qemu-system-x86 busybox-static cpio gzip zstd xz-utils
    # benchmark peer
    fio
)

missing=()
for package in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
    [ "$status" = installed ] || missing+=("$package")
done

if [ "${1:-}" = --check ]; then
    if [ ${#missing[@]} -gt 0 ]; then echo "missing: ${missing[*]}"; exit 1; fi
    echo "all ${#packages[@]} packages installed"; exit 0
fi

if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "bootstrap: installing ${missing[*]}" >&2
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    echo "bootstrap: all ${#packages[@]} Debian packages present" >&2
fi

if ! command -v swift >/dev/null 2>&1; then
    echo "bootstrap: no swift in PATH: install Swift 6 (https://www.swift.org/install/linux/) first" >&2
    exit 1
fi
