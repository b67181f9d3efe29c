#!/usr/bin/env bash
# The benchmark (not a test), as recorded in README "Benchmarks": a release build, then
#   per kernel, in a guest:  daxref bench  (copy, fault-in, O_DIRECT vs fio, pin and snapshot vs C)
#   on this host:            daxref bench --vm-phases  (fetch, initramfs, boot, suite vs boot floor)
# Results (JSON, SVG, tables) go to bench-results/.
#   scripts/bench/run.sh [KERNELS] [SUITE COMMAND]     default 6.1,7.2 and `run`
#   QUICK=1 scripts/bench/run.sh                        smoke run: small sizes, 2 repetitions
set -euo pipefail
cd "$(dirname "$0")/../.."
kernels=${1:-6.1,7.2}
suite=${2:-run}
quick=()
[ "${QUICK:-0}" = 1 ] && quick=(--quick)

swift build -c release 2>&1 | tail -n 1 >&2
daxref=$PWD/.build/release/daxref
mkdir -p bench-results

for kernel in ${kernels//,/ }; do
    echo "bench: guest cases on $kernel" >&2
    "$daxref" vm --quiet --kernel "$kernel" --provision devdax4k,devdax2m,devdax1g,ext4,xfs,blk --timeout 7200 \
        -- bench "${quick[@]}" --json "bench-results/guest-$kernel.json" --svg "bench-results/guest-$kernel.svg" \
        >"bench-results/guest-$kernel.txt" || echo "bench: guest run on $kernel exited $?" >&2
    cat "bench-results/guest-$kernel.txt"
done

echo "bench: VM phases of $kernels (suite: daxref vm -- $suite)" >&2
"$daxref" bench "${quick[@]}" --vm-phases "$kernels" --suite-command "$suite" \
    --json bench-results/vm-phases.json --svg bench-results/vm-phases.svg >bench-results/vm-phases.txt \
    || echo "bench: VM phases exited $?" >&2
cat bench-results/vm-phases.txt
