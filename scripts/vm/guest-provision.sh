#!/usr/bin/env bash
# guest-provision.sh [WANT...]      (runs INSIDE the daxref guest, as root)
#
# Provisions the persistent-memory targets daxref's tests need, using the
# host's ndctl/daxctl/mkfs/xfs_io binaries (the guest root is the host root
# over 9p + overlayfs, see scripts/vm/init).  Normally started by init from the
# run directory's "provision" file, before the command.
#
# WANT items (arguments, or comma/space separated in $DAXREF_PROVISION;
# default "devdax4k devdax2m devdax1g spare ext4 xfs blk"):
#   devdax4k   device-dax namespace, 4 KiB alignment         (size $DAXREF_SIZE_DEVDAX4K, 256M)
#   devdax2m   device-dax namespace, 2 MiB alignment         (size $DAXREF_SIZE_DEVDAX2M, 256M)
#   devdax1g   device-dax namespace, 1 GiB alignment; needs a 2 GiB extent in
#              the region (the info block forces the data to the next 1 GiB
#              boundary, so 2G of namespace gives one 1G page); skipped, and
#              reported as skipped, when the region has no room
#   spare      a raw namespace daxref may reconfigure and restore (create-namespace
#              memmap steps); written as DAXREF_SPARE_NAMESPACE=namespaceX.Y, which
#              in the guest is the opt-in (size $DAXREF_SIZE_SPARE, 2G: one 1 GiB
#              page fits wherever it starts, after the 8 KiB info block); skipped,
#              and reported as skipped, when the region has no room
#   ext4       fsdax namespace + ext4 (-E stride=512,stripe_width=512) mounted
#              -o dax at /mnt/daxref/ext4                     (size $DAXREF_SIZE_FSDAX, 512M)
#   xfs        fsdax namespace + xfs (-d su=2m,sw=1, reflink=0, extsize 2m on
#              the root dir) mounted -o dax at /mnt/daxref/xfs
#   blk        the virtio-blk disk with serial "daxref-blk" (non-DAX, for
#              O_DIRECT); raw device only
#   blkfs      like blk, plus ext4 (no DAX) on it mounted at /mnt/daxref/blk
#   btt        sector-mode (BTT) namespace from what is left of the region:
#              a pmem-backed block device without DAX (size $DAXREF_SIZE_BTT, 256M)
#
# Layout: everything is carved from the first NFIT (QEMU -device nvdimm)
# region.  A fresh backing file is label-less, so the region is first reset
# (disable-region, init-labels -f, enable-region).  With DAXREF_PMEM_REUSE=1 an
# already labelled region keeps its namespaces named daxref-* (for tests of
# persistence across boots) and existing file systems are not re-made.
#
# Results (for the command; init sources the env file before running it):
#   $DAXREF_RUN_DIR/provisioned.env    DAXREF_DEVDAX_4K=/dev/dax0.0 ...
#   $DAXREF_RUN_DIR/provisioned.json   same as the console line:
#   DAXREF-PROVISIONED: {"kernel":...,"devdax":{...},"fsdax":{...},"blk":{...},"skipped":{...}}
# ext4/xfs modules are loaded by init in the background; mounting waits until
# the file system shows up in /proc/filesystems.
# Exits non-zero (and prints DAXREF-PROVISION-ERROR: ...) if something that was
# asked for could not be provided, other than devdax1g or spare for lack of room.
set -uo pipefail

RUN_DIR=${DAXREF_RUN_DIR:-/run/daxref}
MNT=${DAXREF_MNT:-/mnt/daxref}
SIZE_4K=${DAXREF_SIZE_DEVDAX4K:-256M}
SIZE_2M=${DAXREF_SIZE_DEVDAX2M:-256M}
SIZE_1G=${DAXREF_SIZE_DEVDAX1G:-2G}
SIZE_FS=${DAXREF_SIZE_FSDAX:-512M}
SIZE_BTT=${DAXREF_SIZE_BTT:-256M}
SIZE_SPARE=${DAXREF_SIZE_SPARE:-2G}
REUSE=${DAXREF_PMEM_REUSE:-0}

if [ $# -gt 0 ]; then WANT="$*"; else WANT=${DAXREF_PROVISION:-devdax4k devdax2m devdax1g spare ext4 xfs blk}; fi
WANT=" $(echo "$WANT" | tr ',' ' ') "
wants() { case "$WANT" in *" $1 "*) return 0;; esac; return 1; }

uptime_s() { local u _; read -r u _ </proc/uptime; echo "$u"; }
T0=$(uptime_s)
log() { echo "daxref-provision: $*" >&2; }
die() { printf '\nDAXREF-PROVISION-ERROR: %s\n' "$*"; exit 1; }
VERBOSE=${DAXREF_PROVISION_VERBOSE:-0}
run() { # run a command quietly; show its output only if it fails
  local out
  [ "$VERBOSE" = 1 ] && log "$(uptime_s) $*"
  if ! out=$("$@" 2>&1); then log "failed: $*"; printf '%s\n' "$out" >&2; return 1; fi
  printf '%s' "$out"
}
jstr() { printf '"%s"' "$1"; }
bdev_bytes() { echo $(( $(</sys/class/block/$1/size) * 512 )); }
to_bytes() { numfmt --from=iec "$1"; }

mkdir -p "$RUN_DIR"
ENV_OUT=$RUN_DIR/provisioned.env
: >"$ENV_OUT.tmp"
setenv() { printf '%s=%q\n' "$1" "$2" >>"$ENV_OUT.tmp"; }
J_DEVDAX= J_FSDAX= J_BLK= J_SKIP= J_SPARE=
jadd() { # var json-fragment
  local cur=${!1}
  if [ -n "$cur" ]; then printf -v "$1" '%s,%s' "$cur" "$2"; else printf -v "$1" '%s' "$2"; fi
}

# ------------------------------------------------------------------ pmem region
need_pmem=0
for w in devdax4k devdax2m devdax1g spare ext4 xfs btt; do wants $w && need_pmem=1; done

REGION=
if [ $need_pmem = 1 ]; then
  for r in /sys/bus/nd/devices/region*; do
    [ -e "$r/mappings" ] || continue
    [ "$(<"$r/mappings")" -gt 0 ] 2>/dev/null || continue   # e820/legacy regions have none
    case "$(basename "$r")" in region*) REGION=$(basename "$r"); break;; esac
  done
  [ -n "$REGION" ] || die "no NFIT pmem region (is QEMU started with -machine nvdimm=on -device nvdimm,...,label-size=128K?)"
  RSYS=/sys/bus/nd/devices/$REGION
  DIMMS=$(for m in $RSYS/mapping[0-9]*; do cut -d, -f1 "$m"; done | sort -u | tr '\n' ' ')

  labelled=0
  for ns in $RSYS/namespace*.*; do
    [ -e "$ns/uuid" ] || continue
    u=$(<"$ns/uuid"); s=$(<"$ns/size")
    [ -n "$u" ] && [ "$u" != 0 ] && [ "$s" != 0 ] && labelled=1
  done
  [ "$(<$RSYS/available_size)" != 0 ] && labelled=1

  if [ "$REUSE" = 1 ] && [ $labelled = 1 ]; then
    log "reusing labelled $REGION"
  else
    run ndctl disable-region "$REGION" >/dev/null || die "disable-region $REGION failed"
    for d in $DIMMS; do run ndctl init-labels -f "$d" >/dev/null || die "init-labels $d failed"; done
    run ndctl enable-region "$REGION" >/dev/null || die "enable-region $REGION failed"
  fi
fi

ns_by_name() { # name -> namespace dev (e.g. namespace0.1) or empty
  local ns
  for ns in $RSYS/namespace*.*; do
    [ -e "$ns/alt_name" ] && [ "$(<"$ns/alt_name")" = "$1" ] && [ "$(<"$ns/size")" != 0 ] && { echo "${ns##*/}"; return; }
  done
}
max_extent() { echo "$(<"$RSYS/max_available_extent")"; }

# make_ns NAME MODE SIZE [ALIGN] -> echoes "namespaceX.Y DEV" (DEV = daxX.Y,
# pmemX.Y or pmemX.Ys, taken from create-namespace's JSON; ndctl list on reuse)
make_ns() {
  local name=$1 mode=$2 size=$3 align=${4:-} ns out
  ns=$(ns_by_name "$name")
  if [ -n "$ns" ] && [ "$REUSE" = 1 ]; then
    out=$(ndctl list -n "$ns" 2>/dev/null)
  else
    out=$(run ndctl create-namespace -r "$REGION" -n "$name" -m "$mode" -s "$size" ${align:+-a "$align"}) || return 1
  fi
  printf '%s\n' "$out" | sed -n -e 's/^ *"dev":"\(namespace[^"]*\)".*/N \1/p' -e 's/^ *"\(chardev\|blockdev\)":"\([^"]*\)".*/D \2/p' \
    | awk '$1=="N"&&!n{n=$2} $1=="D"&&!d{d=$2} END{if(n&&d)print n, d; else exit 1}'
}

devdax() { # want-name ALIGN SIZE ENVNAME
  local w=$1 align=$2 size=$3 var=$4 ns dev bytes
  if [ "$w" = devdax1g ] && [ -z "$(ns_by_name daxref-$w)" ] && [ "$(max_extent)" -lt "$(to_bytes "$size")" ]; then
    jadd J_SKIP "\"$w\":\"region max_available_extent $(max_extent) < $size\""
    log "skipping $w: not enough room in $REGION"
    return 0
  fi
  nsdev=$(make_ns "daxref-$w" devdax "$size" "$align") || die "creating $w namespace failed"
  read -r ns dev <<<"$nsdev"
  [ -c "/dev/$dev" ] || die "$w: no /dev/dax chardev for $ns"
  bytes=$(</sys/bus/dax/devices/$dev/size)
  setenv "$var" "/dev/$dev"
  jadd J_DEVDAX "\"${w#devdax}\":{\"dev\":$(jstr /dev/$dev),\"namespace\":$(jstr "$ns"),\"align\":$(</sys/bus/dax/devices/$dev/align),\"size\":$bytes}"
}

# check_dax DIR -> 0 if a new file in DIR reports STATX_ATTR_DAX (0x200000). The file stays: it is
# the regular file `daxref inventory` checks with its own statx (it never creates files itself).
check_dax() {
  local f=$1/.daxref-daxcheck attrs
  : >"$f" || return 1
  attrs=$(xfs_io -c 'statx -r' "$f" 2>/dev/null | sed -n 's/^stat.attributes = \(0x[0-9a-fA-F]*\).*/\1/p' | head -1)
  [ -n "$attrs" ] && [ $(( attrs & 0x200000 )) -ne 0 ]
}

wait_fs() { # fs -> 0 once the kernel knows the file system (init loads
  # ext4/xfs in the background); falls back to modprobe after 120 s
  local i line
  for ((i = 0; i < 1200; i++)); do
    while read -r line; do [ "${line##*[[:space:]]}" = "$1" ] && return 0; done </proc/filesystems
    sleep 0.1
  done
  modprobe "$1" 2>/dev/null
}

fsdax() { # ext4|xfs
  local fs=$1 ns dev mp opts t
  nsdev=$(make_ns "daxref-$fs" fsdax "$SIZE_FS") || die "creating $fs fsdax namespace failed"
  read -r ns dev <<<"$nsdev"
  [ -b "/dev/$dev" ] || die "$fs: no pmem block device for $ns"
  mp=$MNT/$fs; mkdir -p "$mp"
  t=$(blkid -o value -s TYPE "/dev/$dev" 2>/dev/null || true)
  if [ "$REUSE" != 1 ] || [ "$t" != "$fs" ]; then
    case $fs in
      ext4) run mkfs.ext4 -F -q -b 4096 -E stride=512,stripe_width=512 -L daxref-ext4 "/dev/$dev" >/dev/null || die "mkfs.ext4 failed" ;;
      xfs)  run mkfs.xfs -f -q -b size=4096 -d su=2m,sw=1,agcount=2 -m reflink=0 -L daxref-xfs "/dev/$dev" >/dev/null || die "mkfs.xfs failed" ;;
    esac
  fi
  case $fs in ext4) opts=dax,noinit_itable ;; xfs) opts=dax ;; esac
  wait_fs "$fs" || die "file system $fs not available in the kernel"
  run mount -t "$fs" -o "$opts" "/dev/$dev" "$mp" >/dev/null || die "mount -o $opts /dev/$dev ($fs) failed"
  [ $fs = xfs ] && { run xfs_io -c 'extsize 2m' "$mp" >/dev/null || die "xfs_io extsize 2m failed"; }
  chmod 1777 "$mp"
  local line mopts=
  while read -r -a line; do [ "${line[1]}" = "$mp" ] && mopts=${line[3]}; done </proc/mounts
  case ",$mopts," in *,dax,*|*,dax=always,*) ;; *) die "$mp is not mounted with -o dax (options: $mopts)";; esac
  check_dax "$mp" || die "$mp: new files do not report STATX_ATTR_DAX"
  local up; up=$(echo "$fs" | tr a-z A-Z)
  setenv "DAXREF_FSDAX_$up" "$mp"
  setenv "DAXREF_FSDAX_${up}_DEV" "/dev/$dev"
  jadd J_FSDAX "\"$fs\":{\"dev\":$(jstr /dev/$dev),\"namespace\":$(jstr "$ns"),\"mount\":$(jstr "$mp"),\"options\":$(jstr "$mopts"),\"statx_dax\":true,\"size\":$(bdev_bytes $dev)}"
}

spare() { # a raw namespace for reconfiguration -> DAXREF_SPARE_NAMESPACE
  local ns dev mode
  if [ -z "$(ns_by_name daxref-spare)" ] && [ "$(max_extent)" -lt "$(to_bytes "$SIZE_SPARE")" ]; then
    jadd J_SKIP "\"spare\":\"region max_available_extent $(max_extent) < $SIZE_SPARE\""
    log "skipping spare: not enough room in $REGION"
    return 0
  fi
  nsdev=$(make_ns daxref-spare raw "$SIZE_SPARE") || die "creating the spare namespace failed"
  read -r ns dev <<<"$nsdev"
  # Reused from an earlier boot whose run died while it was reconfigured: raw again.
  mode=$(ndctl list -n "$ns" 2>/dev/null | sed -n 's/^ *"mode":"\([^"]*\)".*/\1/p' | head -1)
  if [ "$mode" != raw ]; then
    run ndctl create-namespace -f -e "$ns" -m raw >/dev/null || die "spare $ns is $mode and could not be made raw again"
  fi
  setenv DAXREF_SPARE_NAMESPACE "$ns"
  J_SPARE="\"namespace\":$(jstr "$ns"),\"size\":$(</sys/bus/nd/devices/$ns/size)"
}

# Largest first: the 1 GiB namespace wants a 1 GiB-aligned start, and so may the 2G spare.
wants devdax1g && devdax devdax1g 1G "$SIZE_1G" DAXREF_DEVDAX_1G
wants spare && spare
wants devdax2m && devdax devdax2m 2M "$SIZE_2M" DAXREF_DEVDAX_2M
wants devdax4k && devdax devdax4k 4K "$SIZE_4K" DAXREF_DEVDAX_4K
wants ext4 && fsdax ext4
wants xfs && fsdax xfs
if wants btt; then
  nsdev=$(make_ns daxref-btt sector "$SIZE_BTT") || die "creating btt namespace failed"
  read -r ns dev <<<"$nsdev"
  [ -b "/dev/$dev" ] || die "btt: no block device for $ns"
  setenv DAXREF_BTT_DEV "/dev/$dev"
  jadd J_BLK "\"btt\":{\"dev\":$(jstr /dev/$dev),\"namespace\":$(jstr "$ns"),\"size\":$(bdev_bytes $dev)}"
fi

# ------------------------------------------------------------------ virtio-blk
if wants blk || wants blkfs; then
  bdev=
  for b in /sys/block/vd*; do
    [ -e "$b" ] || continue
    [ -e "$b/serial" ] && [ "$(<"$b/serial")" = daxref-blk ] && { bdev=/dev/${b##*/}; break; }
  done
  [ -n "$bdev" ] && [ -b "$bdev" ] || die "no virtio-blk disk with serial daxref-blk (QEMU -drive ...,id=blk0 -device virtio-blk-pci,drive=blk0,serial=daxref-blk)"
  setenv DAXREF_BLK_DEV "$bdev"
  frag="\"dev\":$(jstr "$bdev"),\"size\":$(bdev_bytes "${bdev#/dev/}")"
  if wants blkfs; then
    mkdir -p "$MNT/blk"
    wait_fs ext4 || die "file system ext4 not available in the kernel"
    run mkfs.ext4 -F -q -b 4096 -L daxref-blk "$bdev" >/dev/null || die "mkfs.ext4 on $bdev failed"
    run mount -t ext4 -o noinit_itable "$bdev" "$MNT/blk" >/dev/null || die "mount $bdev failed"
    chmod 1777 "$MNT/blk"
    setenv DAXREF_BLK_MNT "$MNT/blk"
    frag="$frag,\"mount\":$(jstr "$MNT/blk")"
  fi
  jadd J_BLK "\"virtio\":{$frag}"
fi

T1=$(uptime_s)
SECS=$(awk -v a="$T0" -v b="$T1" 'BEGIN{printf "%.2f", b-a}')
JSON="{\"kernel\":$(jstr "$(uname -r)"),\"region\":$(jstr "$REGION"),\"devdax\":{$J_DEVDAX},\"fsdax\":{$J_FSDAX},\"blk\":{$J_BLK},\"spare\":{$J_SPARE},\"skipped\":{$J_SKIP},\"seconds\":$SECS}"
setenv DAXREF_PROVISIONED 1
mv -f "$ENV_OUT.tmp" "$ENV_OUT"
printf '%s\n' "$JSON" >"$RUN_DIR/provisioned.json"
printf '\nDAXREF-PROVISIONED: %s\n' "$JSON"
