#!/usr/bin/env bash
# run-qemu.sh [options] KERNEL_DIR INITRD [--] COMMAND [ARG...]
#
# Reference launcher for daxref guests (the Swift CLI reimplements this): boots
# KERNEL_DIR/vmlinuz with INITRD (scripts/vm/build-initramfs.sh) under QEMU TCG,
# provisions persistent memory (scripts/vm/guest-provision.sh), runs COMMAND in
# the guest chrooted into the host's root (overlay on 9p), streams the guest
# console to stdout, and exits with COMMAND's exit status.
#
# Options:
#   -C DIR          working directory of COMMAND in the guest (default: $PWD)
#   -r DIR          results dir, shared read-write at the same path
#                   (default: the working directory)
#   -p LIST         what to provision (guest-provision.sh WANT items, comma
#                   separated; default devdax4k,devdax2m,devdax1g,ext4,xfs,blk;
#                   "none" = no provisioning)
#   -t SECONDS      wall-clock timeout; QEMU is killed after it (default 900)
#   -m SIZE         guest RAM (default 4G)
#   -n SIZE         nvdimm size (default 4G; 1G devdax needs >= 4G with the
#                   default namespace sizes)
#   -s N            vCPUs (default 2)
#   -c CPU          QEMU CPU model (default: see DAXREF_CPU below)
#   -a "ARGS"       extra kernel command line
#   -k FILE         use/keep FILE as the nvdimm backing file (persists across
#                   runs; provisioning with DAXREF_PMEM_REUSE=1 then reuses it)
#   -d DIR          run directory to use and keep (default: a temp dir, removed)
# Environment: DAXREF_QEMU (qemu-system-x86_64), DAXREF_CPU, DAXREF_SHM (/dev/shm),
#   DAXREF_BASE_APPEND (kernel cmdline before daxref.results=; default below).
#
# Exit status: COMMAND's; 253 provisioning failed; 254 guest setup failed;
# 124 timeout; 255 the guest died without reporting (panic, QEMU error).
#
# ---------------------------------------------------------------- reference
# Final QEMU argv (RUN = per-run dir on the host, e.g. /tmp/daxref-run.XXXXXX;
# RESULTS = results dir; stdin </dev/null):
#   qemu-system-x86_64 -nodefaults -no-user-config -display none -no-reboot
#     -machine q35,nvdimm=on -accel tcg,thread=multi
#     -cpu Haswell-noTSX,-pcid,-x2apic,-tsc-deadline,-invpcid,+pdpe1gb,+clflushopt,+clwb
#     -smp 2 -m 4G,slots=2,maxmem=8192M              (maxmem = RAM + nvdimm size)
#     -kernel KERNEL_DIR/vmlinuz -initrd INITRD -append "<kernel cmdline>"
#     -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap
#     -virtfs local,path=RUN,mount_tag=daxrun,security_model=none,multidevs=remap
#     -virtfs local,path=RESULTS,mount_tag=results,security_model=none,multidevs=remap
#     -object memory-backend-file,id=pmem0,share=on,mem-path=/dev/shm/daxref-pmem.XXXXXX,size=4G
#     -device nvdimm,id=nvdimm0,memdev=pmem0,label-size=128K
#     -drive file=RUN/blk.img,if=none,id=blk0,format=raw,cache=unsafe     (256M, sparse)
#     -device virtio-blk-pci,drive=blk0,serial=daxref-blk
#     -chardev stdio,id=con,signal=off,logfile=RUN/console.log -serial chardev:con
# Kernel cmdline:
#   console=ttyS0 loglevel=5 panic=-1 mitigations=off tsc=unstable daxref.results=RESULTS
#   loglevel=5: KERN_WARNING and worse reach the console (WARN/BUG/Oops and
#     their traces), info noise does not; the full log is RUN/dmesg.txt.
#   panic=-1 + -no-reboot: a panic ends QEMU at once (exit 255 here).
#   tsc=unstable: REQUIRED under MTTCG.  Without it the kernel flips the
#     sched_clock_stable static key at runtime (text_poke_bp with int3 while
#     other vCPUs run) and TCG sometimes executes the stale int3: "Oops: int3"
#     in sched_clock_cpu, seen on 7.2 (1 of 42 boots at -smp 4).  With it the
#     key is never flipped (no "sched_clock: Marking stable"); clocksource=hpet.
#   mitigations=off: no PTI/retpoline work, noticeably cheaper syscalls under TCG.
# CPU: a fixed named model rather than "max" (which varies with the QEMU
#   version and brings la57 etc.); the four removed flags are ones TCG cannot
#   provide (QEMU would warn); pdpe1gb is needed for 1 GiB device-dax faults,
#   clflushopt/clwb make the pmem flush paths the ones real pmem hosts use.
# pmem: one NFIT nvdimm (4G backing file in /dev/shm, sparse; ~100-150 MB get
#   touched), labelled by guest-provision.sh and carved into devdax 1G/2M/4K and
#   two fsdax namespaces (ext4, xfs); the label area is the last 128K of the
#   backing file, so a kept file (-k) keeps namespaces and file systems.
# RUN files: cmd (sh script: exec 'arg0' 'arg1' ...), cwd, provision (sh
#   script: exec .../guest-provision.sh WANT...), blk.img; written back by the
#   guest: provisioned.env, provisioned.json, exit, dmesg.txt; console.log by QEMU.
# Timings (2 host cores, QEMU 7.2 TCG; "+" = wall seconds since QEMU start):
#   initramfs build 3-5.5 s.  Host idle: "booted" +4.5..7, provisioned
#   (devdax 4K/2M/1G, ext4+xfs dax, blk) +9..15, trivial command done +11..18.
#   Host loaded (other QEMUs/compilers, load 3-6): booted +6..10,
#   provisioned +22..32, total 24..34.  Guest uptime at "booted" 2-4 s;
#   provisioning itself 6 s (idle) .. 22 s (loaded).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
QEMU=${DAXREF_QEMU:-qemu-system-x86_64}
CPU=${DAXREF_CPU:-Haswell-noTSX,-pcid,-x2apic,-tsc-deadline,-invpcid,+pdpe1gb,+clflushopt,+clwb}
SHM=${DAXREF_SHM:-/dev/shm}
CWD=$PWD RESULTS= PROVISION=devdax4k,devdax2m,devdax1g,ext4,xfs,blk
TMO=900 MEM=4G NVSIZE=4G SMP=2 EXTRA_APPEND= PMEMFILE= RUN= KEEP_RUN=0

usage() { sed -n '2,30p' "$0" >&2; exit 2; }
while getopts "C:r:p:t:m:n:s:c:a:k:d:h" o; do
  case $o in
    C) CWD=$OPTARG ;; r) RESULTS=$OPTARG ;; p) PROVISION=$OPTARG ;;
    t) TMO=$OPTARG ;; m) MEM=$OPTARG ;; n) NVSIZE=$OPTARG ;; s) SMP=$OPTARG ;;
    c) CPU=$OPTARG ;; a) EXTRA_APPEND=$OPTARG ;; k) PMEMFILE=$OPTARG ;;
    d) RUN=$OPTARG; KEEP_RUN=1 ;; *) usage ;;
  esac
done
shift $((OPTIND - 1))
[ $# -ge 3 ] || usage
KDIR=$1 INITRD=$2; shift 2
[ "${1:-}" = -- ] && shift
[ $# -ge 1 ] || usage
[ -e "$KDIR/vmlinuz" ] || { echo "run-qemu: $KDIR/vmlinuz missing" >&2; exit 2; }
[ -f "$INITRD" ] || { echo "run-qemu: initrd $INITRD missing" >&2; exit 2; }
CWD=$(cd "$CWD" && pwd) || exit 2
RESULTS=${RESULTS:-$CWD}
RESULTS=$(cd "$RESULTS" && pwd) || exit 2
case "$RESULTS$CWD" in *[[:space:]]*) echo "run-qemu: paths with whitespace are not supported" >&2; exit 2;; esac

to_mib() { echo $(( $(numfmt --from=iec "$1") / 1048576 )); }
MAXMEM=$(( $(to_mib "$MEM") + $(to_mib "$NVSIZE") ))M

if [ -z "$RUN" ]; then RUN=$(mktemp -d /tmp/daxref-run.XXXXXX); else mkdir -p "$RUN"; RUN=$(cd "$RUN" && pwd); fi
KEEP_PMEM=1
if [ -z "$PMEMFILE" ]; then PMEMFILE=$(mktemp "$SHM/daxref-pmem.XXXXXX"); KEEP_PMEM=0; fi
QPID=
cleanup() {
  if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then
    kill -TERM "$QPID" 2>/dev/null; sleep 1; kill -KILL "$QPID" 2>/dev/null
  fi
  [ $KEEP_PMEM = 1 ] || rm -f "$PMEMFILE"
  rm -f "$RUN/blk.img"
  [ $KEEP_RUN = 1 ] || rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The command: an sh script with every argument single-quoted.
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
{ printf 'exec'; for a in "$@"; do printf ' %s' "$(q "$a")"; done; printf '\n'; } >"$RUN/cmd"
printf '%s\n' "$CWD" >"$RUN/cwd"
rm -f "$RUN/provision" "$RUN/exit" "$RUN/dmesg.txt" "$RUN/provisioned.env" "$RUN/provisioned.json" "$RUN/console.log"
if [ "$PROVISION" != none ]; then
  { for v in DAXREF_PROVISION_VERBOSE DAXREF_PMEM_REUSE DAXREF_SIZE_DEVDAX4K DAXREF_SIZE_DEVDAX2M \
             DAXREF_SIZE_DEVDAX1G DAXREF_SIZE_FSDAX DAXREF_SIZE_BTT; do
      [ -n "${!v:-}" ] && printf 'export %s=%s\n' "$v" "$(q "${!v}")"
    done
    printf 'exec %s %s\n' "$(q "$HERE/guest-provision.sh")" "$(echo "$PROVISION" | tr ',' ' ')"
  } >"$RUN/provision"
fi
truncate -s "$NVSIZE" "$PMEMFILE"
truncate -s 256M "$RUN/blk.img"

APPEND="${DAXREF_BASE_APPEND:-console=ttyS0 loglevel=5 panic=-1 mitigations=off tsc=unstable} daxref.results=$RESULTS $EXTRA_APPEND"
ARGS=(
  -nodefaults -no-user-config -display none -no-reboot
  -machine q35,nvdimm=on -accel tcg,thread=multi
  -cpu "$CPU" -smp "$SMP"
  -m "$MEM,slots=2,maxmem=$MAXMEM"
  -kernel "$KDIR/vmlinuz" -initrd "$INITRD" -append "$APPEND"
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap
  -virtfs "local,path=$RUN,mount_tag=daxrun,security_model=none,multidevs=remap"
  -virtfs "local,path=$RESULTS,mount_tag=results,security_model=none,multidevs=remap"
  -object "memory-backend-file,id=pmem0,share=on,mem-path=$PMEMFILE,size=$NVSIZE"
  -device nvdimm,id=nvdimm0,memdev=pmem0,label-size=128K
  -drive "file=$RUN/blk.img,if=none,id=blk0,format=raw,cache=unsafe"
  -device virtio-blk-pci,drive=blk0,serial=daxref-blk
  -chardev "stdio,id=con,signal=off,logfile=$RUN/console.log" -serial chardev:con
)
[ -n "${DAXREF_PRINT_ARGV:-}" ] && { printf '%q ' "$QEMU" "${ARGS[@]}"; echo; } >&2

START=$(date +%s.%N)
"$QEMU" "${ARGS[@]}" </dev/null &
QPID=$!
# Watchdog: its own stdout/stderr go to /dev/null (a leftover sleep must not
# keep a caller's pipe open), and it kills its sleep when it is stopped.
(
  sp=
  trap '[ -n "$sp" ] && kill "$sp" 2>/dev/null; exit 0' TERM
  sleep "$TMO" & sp=$!; wait "$sp"
  kill -TERM "$QPID" 2>/dev/null
  sleep 5 & sp=$!; wait "$sp"
  kill -KILL "$QPID" 2>/dev/null
) </dev/null >/dev/null 2>&1 &
WATCHDOG=$!
wait "$QPID"; QRC=$?
QPID=
kill "$WATCHDOG" 2>/dev/null; wait "$WATCHDOG" 2>/dev/null
ELAPSED=$(awk -v s="$START" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}')

RC=
if [ -f "$RUN/exit" ]; then RC=$(cat "$RUN/exit")
else RC=$(tr -d '\r' <"$RUN/console.log" 2>/dev/null | sed -n 's/^DAXREF-GUEST-EXIT: \([0-9]*\)$/\1/p' | tail -1)
fi
if [ -z "$RC" ]; then
  if [ "$(awk -v e="$ELAPSED" -v t="$TMO" 'BEGIN{print (e+0 >= t+0)}')" = 1 ]; then
    echo "run-qemu: timeout after ${TMO}s, QEMU killed" >&2; RC=124
  else
    grep -q 'Kernel panic' "$RUN/console.log" 2>/dev/null && echo "run-qemu: guest kernel panicked" >&2
    echo "run-qemu: guest exited without a result (QEMU status $QRC)" >&2; RC=255
  fi
fi
echo "run-qemu: exit $RC after ${ELAPSED}s (run dir $RUN)" >&2
exit "$RC"
