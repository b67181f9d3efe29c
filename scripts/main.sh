#!/usr/bin/env bash
# The main job (README): installs what is missing, builds daxref, and runs it where device memory is:
# on this machine when it has pmem or device-dax, otherwise inside VMs with emulated pmem on an
# old-era and a new-era kernel (DAXREF_KERNELS, default 6.1,7.2).
#   scripts/main.sh [daxref arguments]      default: run (the scenario suite)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh
swift build -c release 2>&1 | tail -n 1 >&2
daxref=$PWD/.build/release/daxref
[ $# -gt 0 ] || set -- run

if "$daxref" inventory --json | grep -q '"chardev"\|"blockdev"'; then
    echo "main.sh: this machine has device memory: running here" >&2
    echo "main.sh: daxref uses only the memory you name, e.g. scripts/main.sh run --devdax /dev/dax0.0 --fsdax /mnt/pmem" >&2
    exec "$daxref" "$@"
fi
echo "main.sh: no pmem here: running in VMs with emulated pmem (kernels ${DAXREF_KERNELS:-6.1,7.2})" >&2
exec "$daxref" vm --matrix "${DAXREF_KERNELS:-6.1,7.2}" -- "$@"
