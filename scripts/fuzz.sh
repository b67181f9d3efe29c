#!/usr/bin/env bash
# Fuzzes daxref's parsers with libFuzzer (docs/fuzzing.md): one target at a time, seeded from the
# recorded fixtures (Tests/DaxrefKitTests/Fixtures) and the hand seeds in scripts/fuzz-seeds/.
#   scripts/fuzz.sh [TARGET…] [--runs N]     default: every target, 1000000 inputs each
# Builds Sources/daxref-fuzz into .build-fuzz with -sanitize=fuzzer,address (coverage-guided, and
# out-of-bounds reads in unsafe code abort) and -DDAXREF_FUZZ (libFuzzer drives it). Swift's own
# runtime checks (bounds, overflow, force unwrap) trap in any build; a trap is a crash here.
# Per target, bounds:
#   FUZZ_MAX_LEN=8192       bytes per input (longer seeds are cut; the formats are line-oriented)
#   FUZZ_INPUT_TIMEOUT=10   seconds for one input: longer is reported as a hang
#   FUZZ_MAX_TIME=3600      seconds for the target: stopping here, short of N inputs, is a failure
# Prints one line per target (inputs run, seconds, crashes: 0 or the saved input) and exits 1 if any
# target crashed, hung, ran out of memory or stopped short. Findings stay in .build-fuzz/findings/DATE/.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=1000000
targets=()
while [ $# -gt 0 ]; do
    case $1 in
        --runs) runs=$2; shift 2 ;;
        -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
        *) targets+=("$1"); shift ;;
    esac
done
max_len=${FUZZ_MAX_LEN:-8192}
input_timeout=${FUZZ_INPUT_TIMEOUT:-10}
max_time=${FUZZ_MAX_TIME:-3600}

# gold cannot link the sanitizer build (an internal error): lld from the Swift toolchain can.
swift build --scratch-path .build-fuzz --product daxref-fuzz -c release -Xswiftc -sanitize=fuzzer,address \
    -Xswiftc -DDAXREF_FUZZ -Xswiftc -use-ld=lld 2>&1 | tail -n 1 >&2
fuzzer=$PWD/.build-fuzz/release/daxref-fuzz
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <("$fuzzer" --list | awk '{ print $1 }')

fixtures=Tests/DaxrefKitTests/Fixtures
# The recorded files each target starts from (hand seeds in scripts/fuzz-seeds/TARGET are added).
seed_files() {
    case $1 in
        smaps) ls $fixtures/proc/*/smaps $fixtures/proc/*/smaps_rollup ;;
        maps) ls $fixtures/proc/*/maps ;;
        pagemap) ls $fixtures/proc/*/pagemap-*.bin ;;
        kpageflags) ls $fixtures/proc/*/kpageflags-*.bin $fixtures/proc/*/kpagecount-*.bin ;;
        vmstat) ls $fixtures/proc/*/vmstat-* $fixtures/proc/*/sysfs/devices/system/node/*/vmstat ;;
        meminfo) ls $fixtures/proc/*/meminfo-* $fixtures/proc/*/sysfs/devices/system/node/*/meminfo ;;
        sysfs) find $fixtures/proc/*/sysfs/bus -type f ;;
        kprobe-trace) ls $fixtures/kprobe/*.trace ;;
        kmsg) ls $fixtures/proc/*/kmsg.txt ;;
        status) ls $fixtures/proc/*/status ;;
        numa_maps) ls $fixtures/proc/*/numa_maps ;;
        task) ls $fixtures/proc/*/truncate-*/* ;;
    esac
}

# A fresh corpus: the seeds, named after their paths (the same name recurs across kernels).
make_corpus() {
    local target=$1 corpus=$2 file
    for file in $(seed_files "$target") scripts/fuzz-seeds/"$target"/*; do
        [ -f "$file" ] && cp "$file" "$corpus/$(echo "$file" | tr '/' '_')"
    done
    if [ "$target" = ndctl ]; then
        # inventory.json NUL ndctl.json NUL daxctl.json, as the target splits its input.
        local dir json
        for dir in $fixtures/inventory/*/; do
            { cat "$dir/inventory.json"; printf '\0'; cat "$dir/ndctl.json"; printf '\0'; cat "$dir/daxctl.json"; } \
                >"$corpus/$(basename "$dir").ndctl"
        done
        for json in $fixtures/namespace/*/*.json; do
            dir=$fixtures/inventory/$(basename "$(dirname "$json")")
            [ -f "$dir/inventory.json" ] || continue
            { cat "$dir/inventory.json"; printf '\0'; cat "$json"; printf '\0'; } >"$corpus/$(echo "$json" | tr '/' '_')"
        done
    fi
    [ -n "$(ls -A "$corpus")" ] || { echo "fuzz.sh: no seeds for $target" >&2; exit 2; }
}

findings_dir=.build-fuzz/findings/$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$findings_dir" .build-fuzz/logs
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
echo "fuzz.sh: $(date -u +%Y-%m-%d), $(nproc) cores, $runs inputs per target, max_len $max_len, timeout ${input_timeout}s per input"
printf '%-14s %10s %8s  %s\n' TARGET INPUTS TIME CRASHES
for target in "${targets[@]}"; do
    corpus=$work/$target
    log=.build-fuzz/logs/$target.log
    mkdir -p "$corpus"
    make_corpus "$target" "$corpus"
    start=$(date +%s)
    status=0
    # Swift's backtracer would catch the trap before libFuzzer saves the input; leaks are not findings.
    DAXREF_FUZZ_TARGET=$target SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 \
        "$fuzzer" -runs="$runs" -max_total_time="$max_time" -timeout="$input_timeout" -max_len="$max_len" \
        -rss_limit_mb=2048 -detect_leaks=0 -print_final_stats=1 -artifact_prefix="$findings_dir/$target"- \
        "$corpus" >"$log" 2>&1 || status=$?
    seconds=$(($(date +%s) - start))
    inputs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    [ -n "$inputs" ] || inputs=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    finding=$(find "$findings_dir" -name "$target-*" | head -n 1)
    if [ -n "$finding" ]; then
        result="1 ($finding)"
    elif [ "$status" -ne 0 ]; then
        result="exit status $status, see $log"
    elif [ "${inputs:-0}" -lt "$runs" ]; then
        result="0, but stopped short of $runs inputs at ${max_time}s"
    else
        result=0
    fi
    [ "$result" = 0 ] || failed=1
    printf '%-14s %10s %7ss  %s\n' "$target" "${inputs:-?}" "$seconds" "$result"
done
exit $failed
