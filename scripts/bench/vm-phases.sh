#!/usr/bin/env bash
# VM phase benchmark (not a test): per kernel, wall time of
#   fetch-cold      fetch-kernel.sh into an empty cache (package lists + download + extract)
#   fetch-cached    the same again (cache hit)
#   initramfs       build-initramfs.sh
#   boot            QEMU start -> init running            (from daxref vm's summary line)
#   first-command   QEMU start -> guest command starts (boot + module load + provisioning)
#   total           QEMU start -> QEMU gone, for `inventory --verify`
# and the ratio total / first-command (goal: <= 1.5). Everything in one run, on this machine.
#   scripts/bench/vm-phases.sh [KERNELS]      default 6.1,7.2; results in bench-results/vm-phases.md
set -euo pipefail
cd "$(dirname "$0")/../.."
kernels=${1:-6.1,7.2}
swift build -c release 2>&1 | tail -n 1 >&2
daxref=$PWD/.build/release/daxref
scratch=$(mktemp -d /tmp/daxref-bench.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
mkdir -p bench-results
out=bench-results/vm-phases.md

seconds() { local start=$1; echo "$(date +%s.%N) - $start" | bc; }

{
    echo "# VM phases ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r), QEMU $(qemu-system-x86_64 --version | head -1 | awk '{print $4}'))"
    echo
    echo "| kernel | release | fetch cold (s) | fetch cached (s) | initramfs (s) | boot (s) | first command (s) | total (s) | total / first command |"
    echo "|---|---|---|---|---|---|---|---|---|"
} >"$out"

for spec in ${kernels//,/ }; do
    t=$(date +%s.%N); DAXREF_CACHE=$scratch/cold scripts/vm/fetch-kernel.sh "$spec" >/dev/null; cold=$(seconds "$t")
    t=$(date +%s.%N); manifest=$(DAXREF_CACHE=$scratch/cold scripts/vm/fetch-kernel.sh "$spec"); cached=$(seconds "$t")
    release=$(sed -n 's/^release=//p' <<<"$manifest")
    kdir=$scratch/kdir-$spec; mkdir -p "$kdir"
    ln -s "$(sed -n 's/^vmlinuz=//p' <<<"$manifest")" "$kdir/vmlinuz"
    ln -s "$(sed -n 's/^modules=//p' <<<"$manifest")" "$kdir/modules"
    ln -s "$(sed -n 's/^config=//p' <<<"$manifest")" "$kdir/config"
    t=$(date +%s.%N); scripts/vm/build-initramfs.sh "$kdir" "$scratch/initrd-$spec.cpio.gz" 2>/dev/null; initramfs=$(seconds "$t")
    rm -rf "$scratch/cold"   # the cold cache is large; the runs below use the normal cache

    summary=$("$daxref" vm --quiet --kernel "$spec" -- inventory --verify 2>&1 >/dev/null | grep '^daxref-vm: ' | tail -1)
    field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<"$summary"; }
    boot=$(field boot) first=$(field command-start) total=$(field total)
    ratio=$(echo "scale=2; $total / $first" | bc)
    printf '| %s | %s | %.1f | %.2f | %.1f | %s | %s | %s | %s |\n' \
        "$spec" "$release" "$cold" "$cached" "$initramfs" "$boot" "$first" "$total" "$ratio" >>"$out"
done
cat "$out"
