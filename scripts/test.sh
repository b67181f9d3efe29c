#!/usr/bin/env bash
# The test command (README, .ci/run): installs what is missing, builds, runs the unit tests, then the
# VM integration tests on an old-era and a new-era kernel (real kernels, emulated pmem, TCG).
#   DAXREF_VM_KERNELS="6.1,7.2"   kernels for the VM tests (default); "" skips them (reported as skipped)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh
swift build
export DAXREF_BIN="$PWD/.build/debug/daxref"
# Bad input on the real binary (loop devices, no VM): every case a clear refusal, nothing lost.
if ! scripts/bad-inputs.sh > .build/bad-inputs.md 2> .build/bad-inputs.log; then
    grep 'FAIL' .build/bad-inputs.md >&2; tail -n 1 .build/bad-inputs.md >&2; exit 1
fi
tail -n 1 .build/bad-inputs.md
export DAXREF_VM_KERNELS="${DAXREF_VM_KERNELS-6.1,7.2}"
[ -n "$DAXREF_VM_KERNELS" ] || echo "test.sh: DAXREF_VM_KERNELS is empty: VM integration tests will be skipped" >&2
# VM tests boot QEMU under TCG on few cores: one at a time, so timing-sensitive checks (a call
# "blocks" if it takes over a second) are not distorted by a second guest.
swift test --no-parallel
