#!/usr/bin/env bash
# bad-inputs.sh - how daxref answers bad input. Runs every case below against a daxref binary and
# prints a markdown table: ID | command | expected | exit | message | verdict.
#
# Usage: scripts/bad-inputs.sh [--write docs/safety.md] [--only REGEX] [--timeout SECONDS]
#   DAXREF_BIN=PATH   the binary under test (default .build/debug/daxref)
#   --write FILE      also replace the section between <!-- bad-inputs:begin --> and
#                     <!-- bad-inputs:end --> in FILE (created with a "## Bad input" heading if absent)
#   --only REGEX      run only the cases whose ID matches (e.g. '^B0', 'D07|V03')
#   --timeout S       wall-clock limit per case (default 60): a case still running then is a hang
#
# Needs root: it makes loop devices (ext4, swap, read-only, 0 bytes) over small files, mounts ext4
# and tmpfs under its scratch directory, and runs some cases as nobody. Everything lives in one
# mktemp directory; loop devices are detached and mounts unmounted on exit, whatever happens.
# No case boots a VM or downloads a kernel: `vm` cases run with an empty kernel cache, an
# unreachable Debian mirror and qemu stubbed out on PATH. No case is meant to run the scenario
# suite; the ones that do today (they should refuse first) run one or two cheap scenarios.
#
# A case is OK when:
#   - the exit code is one of the expected ones (64 bad usage, 80 vm host setup, 2 diff input,
#     4 for `run` as non-root; never 0, never 1 for bad input); a hang (killed at the timeout) or a trap never is;
#   - stderr's first line is one clear line: no "Fatal error"/backtrace anywhere, no "Optional(",
#     no Foundation/Swift type dump, not ending in ':' (continued elsewhere), not a progress line,
#     and matching the case's pattern (it names the problem) when the case has one;
#   - nothing ran first (no scenario/bench/drive progress line before the refusal);
#   - nothing was lost: loop devices still carry their ext4/swap signature (blkid -p, dumpe2fs -h),
#     files that must not appear do not, files that must not change did not.
# The last line is "bad-inputs: N passed, M failed"; the exit status is 1 if any case failed.
set -o pipefail  # not -e/-u: a failing case must never stop the script

die() { printf 'bad-inputs: %s\n' "$*" >&2; exit 2; }
note() { printf 'bad-inputs: %s\n' "$*" >&2; }

WRITE= ONLY= CASE_TIMEOUT=60
while [ $# -gt 0 ]; do
    case $1 in
    --write) [ $# -ge 2 ] || die "--write needs a file"; WRITE=$2; shift 2 ;;
    --write=*) WRITE=${1#--write=}; shift ;;
    --only) [ $# -ge 2 ] || die "--only needs a regex"; ONLY=$2; shift 2 ;;
    --only=*) ONLY=${1#--only=}; shift ;;
    --timeout) [ $# -ge 2 ] || die "--timeout needs seconds"; CASE_TIMEOUT=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -o/{/^#/!d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[[ $CASE_TIMEOUT =~ ^[0-9]+$ && $CASE_TIMEOUT -gt 0 ]] || die "--timeout: a whole number of seconds"

BIN=${DAXREF_BIN:-.build/debug/daxref}
[ -x "$BIN" ] || die "$BIN is not an executable (build with 'swift build', or set DAXREF_BIN)"
BIN=$(cd "$(dirname "$BIN")" && pwd -P)/$(basename "$BIN")
[ "$(id -u)" = 0 ] || die "run me as root (loop devices, mounts, cases run as nobody)"
for tool in timeout setpriv losetup mkfs.ext4 mkswap blkid dumpe2fs mount umount mkfifo sha256sum /usr/bin/time; do
    command -v "$tool" >/dev/null 2>&1 || die "required tool '$tool' not found"
done
# What the caller's environment could otherwise slip into a case.
unset DAXREF_BLK DAXREF_BLK_MNT DAXREF_BLK_DEV DAXREF_GUEST DAXREF_RUN_DIR DAXREF_SPARE_NAMESPACE \
    DAXREF_DEVDAX_4K DAXREF_DEVDAX_2M DAXREF_DEVDAX_1G DAXREF_FSDAX_EXT4 DAXREF_FSDAX_XFS DAXREF_CACHE

# ------------------------------------------------------------------ scratch space and cleanup
LOOPS=()   # every loop device this script attached and has not detached yet
MOUNTS=()  # every mount point (under $TMP) still mounted
TMP= CASE_PID=
stop_case() { # a case still running when the script is stopped: its timeout (and so its group) first
    [ -n "$CASE_PID" ] || return 0
    local pid i
    pid=$(cat "$CASEDIR/pid" 2>/dev/null)
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 100; i++)); do kill -0 "$CASE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$CASE_PID" 2>/dev/null
    CASE_PID=
}
cleanup() {
    local i
    stop_case
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
        [ -n "${MOUNTS[i]}" ] && { umount "${MOUNTS[i]}" 2>/dev/null || umount -l "${MOUNTS[i]}" 2>/dev/null; }
    done
    for i in "${!LOOPS[@]}"; do
        [ -n "${LOOPS[i]}" ] && losetup -d "${LOOPS[i]}" 2>/dev/null
    done
    if [ -n "$TMP" ] && [ -d "$TMP" ]; then rm -rf --one-file-system -- "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP
TMP=$(mktemp -d /tmp/daxref-bad-inputs.XXXXXX) || die "mktemp failed"
chmod 755 "$TMP"  # nobody's cases run in it

forget() { # ARRAY-NAME VALUE: drop VALUE from the array (it was released)
    local -n list=$1
    local i
    for i in "${!list[@]}"; do [ "${list[i]}" = "$2" ] && list[i]=; done
}

# new_loop VAR SIZE KIND: a fresh loop device over a file in the case's directory, its path in $VAR.
# KIND: ext4 (mkfs.ext4), swap (mkswap), blank (zeros), ro (zeros, read-only), empty (0 bytes).
new_loop() {
    local var=$1 size=$2 kind=$3 img=$CASEDIR/$1.img dev
    local ro=()
    [ "$kind" = empty ] && size=0
    truncate -s "$size" "$img" || return 1
    case $kind in
    ext4) mkfs.ext4 -q -F "$img" >/dev/null 2>&1 || return 1 ;;
    swap) mkswap "$img" >/dev/null 2>&1 || return 1 ;;
    ro) ro=(-r) ;;
    esac
    dev=$(losetup "${ro[@]}" -f --show "$img" 2>/dev/null) || return 1
    [ -b "$dev" ] || return 1
    LOOPS+=("$dev")
    CASE_LOOPS+=("$dev")
    printf -v "$var" %s "$dev"
}

mount_at() { # DEVICE-OR-tmpfs DIR [list]
    mkdir -p "$2" || return 1
    if [ "$1" = tmpfs ]; then mount -t tmpfs -o size=16m tmpfs "$2" || return 1; else mount "$1" "$2" || return 1; fi
    MOUNTS+=("$2")
    [ "${3:-}" = case ] && CASE_MOUNTS+=("$2")
    return 0
}

release_case() {
    local i
    for ((i = ${#CASE_MOUNTS[@]} - 1; i >= 0; i--)); do
        umount "${CASE_MOUNTS[i]}" 2>/dev/null || umount -l "${CASE_MOUNTS[i]}" 2>/dev/null
        forget MOUNTS "${CASE_MOUNTS[i]}"
    done
    for i in "${!CASE_LOOPS[@]}"; do
        losetup -d "${CASE_LOOPS[i]}" 2>/dev/null
        forget LOOPS "${CASE_LOOPS[i]}"
    done
    CASE_MOUNTS=() CASE_LOOPS=()
}

# ------------------------------------------------------------------ fixtures shared by all cases
fixtures() {
    mkdir -p "$TMP/adir" "$TMP/by-id" "$TMP/stub" "$TMP/vmcache" "$TMP/case"
    printf 'not a device\n' >"$TMP/regular"
    : >"$TMP/zero"
    : >"$TMP/empty.json"
    printf 'hello, this is not JSON\n' >"$TMP/text.txt"
    printf '[]\n' >"$TMP/arr.json"
    printf '{}\n' >"$TMP/obj.json"
    printf '{"schemaVersion": 1, "x": "\xff\xfe"}\n' >"$TMP/badutf8.json"
    { head -c 100000 /dev/zero | tr '\0' '['; head -c 100000 /dev/zero | tr '\0' ']'; echo; } >"$TMP/deep.json"
    mkfifo "$TMP/fifo"
    ln -s loopy2 "$TMP/loopy"
    ln -s loopy "$TMP/loopy2"
    mount_at tmpfs "$TMP/tmpfs" || note "fixture: cannot mount a tmpfs at \$TMP/tmpfs"
    # qemu stubs: if a vm case ever got as far as starting QEMU it fails instead of booting.
    local q
    for q in qemu-system-x86_64 qemu-img; do
        printf '#!/bin/sh\necho "bad-inputs: %s is stubbed out: no case may boot a VM" >&2\nexit 127\n' "$q" >"$TMP/stub/$q"
        chmod 755 "$TMP/stub/$q"
    done
    # A valid run report (every scenario skipped here), and broken copies of it.
    (cd "$TMP" && timeout 60 "$BIN" run --scenario 'devdax.4k.map-private' --json "$TMP/r.json" >/dev/null 2>&1)
    if ! grep -q '"schemaVersion"' "$TMP/r.json" 2>/dev/null; then
        note "fixture: 'daxref run --json' wrote no run report; the diff cases that need one will fail"
        printf '{}\n' >"$TMP/r.json"
    fi
    local key='"durationMilliseconds" : [0-9-]*'
    grep -q "$key" "$TMP/r.json" || note "fixture: r.json has no durationMilliseconds; huge*/string.json are copies"
    sed "s/$key/\"durationMilliseconds\" : 123456789012345678901234567890/" "$TMP/r.json" >"$TMP/huge.json"
    sed "s/$key/\"durationMilliseconds\" : 1e999/" "$TMP/r.json" >"$TMP/huge2.json"
    sed "s/$key/\"durationMilliseconds\" : \"soon\"/" "$TMP/r.json" >"$TMP/string.json"
    sed 's/"schemaVersion" : [0-9]*/"schemaVersion" : 99/' "$TMP/r.json" >"$TMP/schema99.json"
    install -m 600 "$TMP/r.json" "$TMP/root-only.json"
    chmod -R go+rX "$TMP/adir" "$TMP/by-id"
}

# ------------------------------------------------------------------ running one case
CRASH_RE='Fatal error|Backtracing|Program crashed|\*\*\* Signal [0-9]|Illegal instruction|Segmentation fault|Current stack trace'
UNCLEAR_RE='Optional\(|Error Domain=|NSCocoaErrorDomain|NSPOSIXErrorDomain|Dictionary<|Array<|Swift\.[A-Z]|Foundation\.[A-Z]|DaxrefKit\.|ArgumentParser\.|CodingKeys|rawValue:|could not be completed|keyNotFound\(|typeMismatch\(|dataCorrupted\(|valueNotFound\(|Errno\(|DecodingError'
PROGRESS_RE='^(run: kernel |run: \[[0-9]+/[0-9]+\] |run: note: |bench: [a-z-]+\.[^ ]*: |drive: [a-z0-9]+\.[^ ]*: |fetch-kernel: )'
RAN_RE='^(run: \[[0-9]+/[0-9]+\] |bench: [a-z-]+\.[^ ]*: (measured|ERROR)|drive: [a-z0-9]+\.[^ ]*: )'
MEM_CAP_KB=4194304   # address-space cap for the `mem` cases (reading /dev/zero must not take the machine)
MEM_LIMIT_KB=262144  # more resident memory than this for a refusal counts as "read it all in"

# The program name in every case's command: the binary under test, with the case's wrapping.
daxref() {
    local pre=(timeout -k 5 "$CASE_TIMEOUT")
    [ "$CASE_AS" = nobody ] && pre+=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
    [ "$CASE_MEM" = 1 ] && pre+=(/usr/bin/time -o "$CASE_TIMEFILE" -f %M)
    # In the background so that the script's own signal traps can stop it (timeout has its own
    # process group, which a Ctrl-C on the terminal does not reach).
    "${pre[@]}" "$BIN" "$@" &
    printf '%s\n' "$!" >"$CASEDIR/pid"
    wait "$!"
}

ROWS=() PASSED=0 FAILED=0 FAILURES=()

placeholders() { # the case's temp paths and loop devices back to their names, so the table is stable
    local text=$1 name
    for name in MNT EXT4 MEXT4 SWAP ROLOOP LOOP0; do
        [ -n "${!name}" ] && text=${text//"${!name}"/\$$name}
    done
    printf '%s' "${text//"$TMP"/\$TMP}"
}

md_code() { # a markdown code span that survives a table: backticks inside, | escaped
    local s=${1//|/\\|}
    if [[ $s == *'`'* ]]; then printf '`` %s ``' "$s"; else printf '`%s`' "$s"; fi
}

# t ID EXPECTED SETUP COMMAND [MESSAGE-REGEX]
#   EXPECTED  exit codes, '/'-separated (64, 64/80, 2)
#   SETUP     space-separated words, or -:
#             ext4 | mext4 | swap | ro | empty   a fresh loop device in $EXT4 | $MEXT4 (ext4, mounted
#                 at $MNT) | $SWAP | $ROLOOP (read-only) | $LOOP0 (0 bytes); ext4/swap signatures
#                 are checked afterwards
#             link:NAME=TARGET   symlink $TMP/NAME -> $TARGET (a variable above) or $TMP/TARGET
#             absent:NAME   $TMP/NAME must not exist afterwards   unchanged:NAME   must not change
#             nobody   run as nobody        vm   VM sandbox (empty cache, dead mirror, no qemu)
#             vmqemu   the same sandbox with the real qemu on PATH (no kernel can be had: no boot)
#             mem      cap memory; more than 256 MiB resident fails the case
#   COMMAND   shell words, run with `eval` in $TMP; `daxref` is the binary under test
#   MESSAGE-REGEX   (grep -Ei) stderr's first line must match it: it names the problem
t() {
    local id=$1 expect=$2 setup=$3 cmd=$4 want=${5:-}
    if [ -n "$ONLY" ] && ! [[ $id =~ $ONLY ]]; then return 0; fi
    CASEDIR=$TMP/case/$id
    mkdir -p "$CASEDIR"
    CASE_LOOPS=() CASE_MOUNTS=()
    CASE_AS=root CASE_MEM=0 CASE_TIMEFILE=$CASEDIR/time
    EXT4= MEXT4= MNT= SWAP= ROLOOP= LOOP0=
    local sandbox=0 word checks=() problems=() setup_error= shown_as=
    for word in $setup; do
        case $word in
        -) ;;
        ext4) new_loop EXT4 32M ext4 && checks+=("sig EXT4 ext4") || setup_error="no ext4 loop device" ;;
        mext4)
            if new_loop MEXT4 32M ext4 && mount_at "$MEXT4" "$CASEDIR/mnt" case; then
                MNT=$CASEDIR/mnt
                checks+=("sig MEXT4 ext4")
            else setup_error="no mounted ext4 loop device"; fi ;;
        swap) new_loop SWAP 16M swap && checks+=("sig SWAP swap") || setup_error="no swap loop device" ;;
        ro) new_loop ROLOOP 16M ro || setup_error="no read-only loop device" ;;
        empty) new_loop LOOP0 0 empty || setup_error="no 0-byte loop device" ;;
        link:*)
            local spec=${word#link:} target
            target=${spec#*=}
            if [[ $target =~ ^[A-Z0-9]+$ ]]; then target=${!target}; else target=$TMP/$target; fi
            mkdir -p "$(dirname "$TMP/${spec%%=*}")"
            ln -sfn "$target" "$TMP/${spec%%=*}" || setup_error="cannot link ${spec%%=*}" ;;
        absent:*) rm -rf -- "${TMP:?}/${word#absent:}"; checks+=("absent ${word#absent:}") ;;
        unchanged:*) checks+=("same ${word#unchanged:} $(sha256sum <"$TMP/${word#unchanged:}" | cut -c1-64)") ;;
        nobody) CASE_AS=nobody; shown_as='[as nobody] ' ;;
        vm) sandbox=1 ;;
        vmqemu) sandbox=2 ;;
        mem) CASE_MEM=1 ;;
        *) setup_error="unknown setup word '$word'" ;;
        esac
    done
    local check what name kind
    for check in "${checks[@]}"; do  # a fixture that is not what it should be is a broken case
        read -r what name kind <<<"$check"
        if [ "$what" = sig ] && [ "$(blkid -p -s TYPE -o value "${!name}" 2>/dev/null)" != "$kind" ]; then
            setup_error="\$$name has no $kind signature before the case"
        fi
    done

    local out=$CASEDIR/stdout err=$CASEDIR/stderr rc started=$SECONDS
    : >"$out"; : >"$err"
    if [ -n "$setup_error" ]; then
        rc=-1
        problems+=("setup: $setup_error")
    else
        (
            cd "$TMP" || exit 99
            export TMP EXT4 MEXT4 MNT SWAP ROLOOP LOOP0
            if [ "$sandbox" != 0 ]; then
                export DAXREF_CACHE=$TMP/vmcache DAXREF_DEBIAN_MIRROR=http://127.0.0.1:9/debian
                [ "$sandbox" = 1 ] && export PATH=$TMP/stub:$PATH
            fi
            [ "$CASE_MEM" = 1 ] && ulimit -v "$MEM_CAP_KB"
            eval "$cmd"
        ) >"$out" 2>"$err" </dev/null &
        CASE_PID=$!
        wait "$CASE_PID"
        rc=$?
        CASE_PID=
    fi
    local elapsed=$((SECONDS - started))

    # The verdict.
    local first crash message code ok_code=0
    first=$(placeholders "$(head -n 1 "$err" | tr -d '\r')")
    crash=$(placeholders "$(grep -m 1 -E "$CRASH_RE" "$err")")
    message=${crash:-$first}
    IFS=/ read -ra codes <<<"$expect"
    for code in "${codes[@]}"; do [ "$rc" = "$code" ] && ok_code=1; done
    if [ "$rc" = -1 ]; then :
    elif [ "$rc" = 124 ] || [ "$rc" = 137 ] || [ "$elapsed" -ge "$CASE_TIMEOUT" ]; then
        problems+=("hang: killed after ${CASE_TIMEOUT}s")
    elif [ -n "$crash" ] || [ "$rc" = 132 ] || [ "$rc" = 133 ] || [ "$rc" = 134 ] || [ "$rc" = 139 ]; then
        problems+=("trap (exit $rc)")
    elif [ "$ok_code" = 0 ]; then
        problems+=("exit $rc, expected ${expect//\// or }")
    fi
    if [ "$rc" != -1 ] && [ -z "$crash" ]; then
        if [ -z "$first" ]; then
            problems+=("no message on stderr")
        elif [[ $first =~ $PROGRESS_RE ]]; then
            problems+=("first line is progress, not the error")
        else
            grep -qE "$UNCLEAR_RE" <<<"$first" && problems+=("message dumps internals")
            [[ $first =~ :[[:space:]]*$ ]] && problems+=("message continues on the next line")
            if [ -n "$want" ] && ! grep -qEi -- "$want" <<<"$first"; then
                problems+=("message does not say /$want/")
            fi
        fi
        local ran
        ran=$(grep -cE "$RAN_RE" "$err")
        [ "$ran" -gt 0 ] && problems+=("ran $ran step(s) before answering")
    fi
    if [ "$CASE_MEM" = 1 ] && [ -s "$CASE_TIMEFILE" ]; then
        local rss
        rss=$(tail -n 1 "$CASE_TIMEFILE")
        if [[ $rss =~ ^[0-9]+$ ]] && [ "$rss" -gt "$MEM_LIMIT_KB" ]; then
            problems+=("read $((rss / 1024)) MiB into memory (capped at $((MEM_CAP_KB / 1024)) MiB here)")
        fi
    fi
    local sum
    for check in "${checks[@]}"; do  # nothing lost
        read -r what name kind <<<"$check"
        case $what in
        sig)
            if [ "$(blkid -p -s TYPE -o value "${!name}" 2>/dev/null)" != "$kind" ]; then
                problems+=("LOST: \$$name no longer holds its $kind signature")
            elif [ "$kind" = ext4 ] && ! dumpe2fs -h "${!name}" >/dev/null 2>&1; then
                problems+=("LOST: \$$name ext4 superblock unreadable (dumpe2fs -h)")
            fi ;;
        absent) if [ -e "$TMP/$name" ] || [ -L "$TMP/$name" ]; then problems+=("created \$TMP/$name"); fi ;;
        same)
            sum=$(sha256sum <"$TMP/$name" 2>/dev/null | cut -c1-64)
            [ "$sum" = "$kind" ] || problems+=("changed \$TMP/$name") ;;
        esac
    done
    release_case

    local verdict=OK
    if [ ${#problems[@]} -gt 0 ]; then
        local joined
        joined=$(printf '%s; ' "${problems[@]}")
        verdict="FAIL: ${joined%; }"
        FAILED=$((FAILED + 1))
        FAILURES+=("$id (exit $rc): ${message:-<no message>} -- ${joined%; }")
    else
        PASSED=$((PASSED + 1))
    fi
    message=${message:0:200}
    ROWS+=("| $id | $(md_code "$shown_as$cmd") | ${expect//\// or } | $rc | ${message:+$(md_code "$message")} | ${verdict//|/\\|} |")
    note "$id ${verdict%%:*} (exit $rc, ${elapsed}s)"
}

# ------------------------------------------------------------------ the cases
cases() {
    # run: option values
    t R01 64 - 'daxref run --timeout nan --scenario anon.private.touch-read' 'timeout'
    t R02 64 - 'daxref run --timeout inf --scenario anon.private.touch-read' 'timeout'
    t R03 64 - 'daxref run --timeout 1e300 --scenario anon.private.touch-read' 'timeout'
    t R04 64 - 'daxref run --timeout -1 --scenario anon.private.touch-read' 'positive|> ?0|-1'
    t R05 64 - 'daxref run --timeout=-1 --scenario anon.private.touch-read' 'timeout'
    t R06 64 - 'daxref run --timeout 0 --scenario anon.private.touch-read' 'timeout'
    t R07 64 - 'daxref run --timeout abc --scenario anon.private.touch-read' 'timeout'
    t R08 64 - 'daxref run --timeout 1e-300 --scenario anon.private.touch-read' 'timeout'
    t R09 64 - 'daxref run --era bogus' 'era'
    t R10 64 - 'daxref run --era 6.15' 'era'
    t R11 64 - 'daxref run --color purple' 'colou?r'
    t R12 64 - "daxref run --scenario 'devdax.*,nosuch.*'" 'nosuch'
    t R13 64 - "daxref run --scenario '' --list" 'scenario'
    t R14 64 - 'daxref run --scenario nosuch' 'nosuch'
    t R15 64 - "daxref run --allow-reconfigure garbage --scenario '*.create-namespace.*'" 'garbage'
    t R16 64 - "daxref run --allow-reconfigure namespace99.0 --scenario '*.create-namespace.*'" 'namespace99\.0'
    t R17 64 - 'daxref run --allow-reconfigure garbage --scenario anon.private.touch-read' 'garbage'
    t R18 64 - 'daxref run devdax.4k.touch-read' 'devdax\.4k\.touch-read|argument'
    t R19 64 - 'daxref run --era' 'era'

    # run: report paths (refused before anything runs)
    t P01 64 absent:same.out 'daxref run --scenario devdax.4k.map-private --json $TMP/same.out --ktap $TMP/same.out' 'same|both|twice'
    t P02 64 - 'daxref run --scenario devdax.4k.map-private --json /proc/x' '/proc/x'
    t P03 64 - 'daxref run --scenario devdax.4k.map-private --json $TMP/adir' 'directory|adir'
    t P04 64 absent:missing 'daxref run --scenario devdax.4k.map-private --json $TMP/missing/r.json' 'missing'
    t P05 64 - 'daxref run --scenario devdax.4k.map-private --json /dev/full' '/dev/full'
    t P06 64 - 'daxref run --scenario devdax.4k.map-private --ktap /proc/x' '/proc/x'
    t P07 64 - 'daxref run --scenario devdax.4k.map-private --junit $TMP/adir' 'directory|adir'
    t P08 64 - "daxref run --scenario devdax.4k.map-private --json ''" 'json|empty'
    t P09 64 ext4 'daxref run --scenario devdax.4k.map-private --json $EXT4' 'block device|not a regular file|ext4|file ?system'
    t P10 64 "absent:a.json link:a-link.json=a.json" 'daxref run --scenario devdax.4k.map-private --json $TMP/a.json --ktap $TMP/a-link.json' 'same|both|twice'

    # run: --blk, --devdax, --fsdax, DAXREF_BLK (loop devices and temp files only)
    t B01 64 ext4 'daxref run --blk $EXT4 --scenario "anon.private.odirect-*"' 'ext4|file ?system|signature|allow-overwrite'
    t B02 64 mext4 'DAXREF_BLK=$MEXT4 daxref run --scenario "anon.private.odirect-*"' 'mounted|in use|ext4|file ?system'
    t B03 64 ext4 'DAXREF_BLK=$EXT4 daxref run --scenario "anon.private.odirect-*"' 'ext4|file ?system|signature|allow-overwrite'
    t B04 64 "ext4 link:by-id/usb-Fake_Disk-0=EXT4" 'daxref run --blk $TMP/by-id/usb-Fake_Disk-0 --scenario "anon.private.odirect-*"' 'ext4|file ?system|signature|allow-overwrite'
    t B05 64 "mext4 link:by-id/ata-Fake_Disk-1=MEXT4" 'daxref run --blk $TMP/by-id/ata-Fake_Disk-1 --scenario "anon.private.odirect-*"' 'mounted|in use'
    t B06 64 - 'daxref run --blk $TMP/loopy --scenario "anon.private.odirect-*"' 'too many levels of symbolic links|ELOOP|symlink loop'
    t B07 64 - 'daxref run --devdax $TMP/loopy' 'too many levels of symbolic links|ELOOP|symlink loop'
    t B08 64 - 'daxref run --fsdax $TMP/loopy' 'too many levels of symbolic links|ELOOP|symlink loop'
    t B09 64 - 'daxref run --blk $TMP/tmpfs --scenario "anon.private.odirect-*"' 'tmpfs|block device|O_DIRECT'
    t B10 64 empty 'daxref run --blk $LOOP0 --scenario "anon.private.odirect-*"' 'empty|0 bytes|size|small'
    t B11 64 - 'daxref run --blk $TMP/zero --scenario "anon.private.odirect-*"' 'regular file|empty'
    t B12 64 - 'daxref run --blk $TMP/regular --scenario "anon.private.odirect-*"' 'regular file'
    t B13 64 - 'daxref run --blk /dev/null --scenario "anon.private.odirect-*"' 'character device'
    t B14 64 - 'daxref run --blk /nonexistent --scenario "anon.private.odirect-*"' 'no such file'
    t B15 64 ro 'daxref run --blk $ROLOOP --scenario "anon.private.odirect-*"' 'read-only|EROFS|write'
    t B16 64 swap 'daxref run --blk $SWAP --scenario "anon.private.odirect-*"' 'swap|signature|file ?system'
    t B17 64 mext4 'daxref run --blk $MEXT4 --scenario "anon.private.odirect-*"' 'mounted|in use'
    t B18 64 - "daxref run --blk '' --scenario 'anon.private.odirect-*'" 'empty|--blk'
    t B19 64 - 'daxref run --fsdax $TMP/tmpfs' 'tmpfs'
    t B20 64 mext4 'daxref run --fsdax $MNT' 'dax'
    t B21 64 - 'daxref run --fsdax $TMP/regular' 'regular file|directory'
    t B22 64 - 'daxref run --fsdax /nonexistent' 'no such file'
    t B23 64 - 'daxref run --devdax /dev/null' 'device-dax|not a'
    t B24 64 - 'daxref run --devdax /dev/dax99.0' 'no such file'
    t B25 64 - 'daxref run --devdax $TMP/regular' 'regular file|character device'
    t B26 64 - 'DAXREF_BLK=/nonexistent daxref run --scenario "anon.private.odirect-*"' 'DAXREF_BLK'
    t B27 64 - 'DAXREF_BLK=$TMP/regular daxref run --scenario "anon.private.odirect-*"' 'DAXREF_BLK'
    t B28 64 - 'DAXREF_BLK=$TMP/loopy daxref run --scenario "anon.private.odirect-*"' 'DAXREF_BLK|too many levels'

    # run as an unprivileged user: must say root is needed, not report false mismatches; like a
    # kselftest that needs root, nothing runs and the exit is 4 (skip), documented in `run --help`
    t N01 4 nobody "daxref run --scenario 'anon.private.*'" 'root'
    t N02 4 "nobody ext4" 'daxref run --blk $EXT4 --scenario "anon.private.odirect-*"' 'root'
    t N03 4 nobody 'daxref run --scenario anon.private.iouring-register --json $TMP/adir/n.json' 'root'
    t N04 2 nobody 'daxref diff $TMP/root-only.json $TMP/r.json' 'permission'

    # diff: unreadable input is 2 (documented), never a hang
    t D01 2 mem 'daxref diff /dev/zero $TMP/r.json' '/dev/zero'
    t D02 2 - 'daxref diff $TMP/huge.json $TMP/r.json' 'huge\.json'
    t D03 2 - 'daxref diff $TMP/huge2.json $TMP/r.json' 'huge2\.json'
    t D04 2 - 'daxref diff /nonexistent $TMP/r.json' 'nonexistent'
    t D05 2 - 'daxref diff $TMP/adir $TMP/r.json' 'directory|adir'
    t D06 2 - 'daxref diff $TMP/empty.json $TMP/r.json' 'empty\.json'
    t D07 2 - 'daxref diff $TMP/text.txt $TMP/r.json' 'text\.txt'
    t D08 2 - 'daxref diff $TMP/fifo $TMP/r.json' 'fifo'
    t D09 2 - 'daxref diff $TMP/arr.json $TMP/r.json' 'arr\.json'
    t D10 2 - 'daxref diff $TMP/obj.json $TMP/r.json' 'obj\.json'
    t D11 2 mem 'daxref diff $TMP/deep.json $TMP/r.json' 'deep\.json'
    t D12 2 - 'daxref diff $TMP/schema99.json $TMP/r.json' 'schemaVersion'
    t D13 2 - 'daxref diff $TMP/string.json $TMP/r.json' 'string\.json'
    t D14 2 - 'daxref diff $TMP/badutf8.json $TMP/r.json' 'badutf8\.json'
    t D15 2 mem 'daxref diff $TMP/r.json /dev/zero' '/dev/zero'
    t D16 64 - 'daxref diff $TMP/r.json' 'B\.json|argument'

    # vm: all refused before any boot (sandbox: empty kernel cache, unreachable mirror, no qemu)
    t V01 64 vm "daxref vm --matrix ',,' -- inventory" 'matrix'
    t V02 64 vm 'daxref vm --matrix 6.1,,bogus -- inventory' 'matrix|bogus|empty'
    t V03 64/80 vm 'daxref vm --kernel nosuchseries -- inventory' 'nosuchseries'
    t V04 64 vm 'daxref vm --kernel /nonexistent/bzImage -- inventory' 'no such file|does not exist|not found|missing'
    t V05 64 vm 'daxref vm --kernel 6.1' 'command'
    t V06 64 vm 'daxref vm --kernel 6.1 --provision bogus -- inventory' 'provision'
    t V07 64 vm 'daxref vm --kernel 6.1 --timeout nan -- inventory' 'timeout'
    t V08 64 vm 'daxref vm --kernel 6.1 --timeout inf -- inventory' 'timeout'
    t V09 64 vm 'daxref vm --kernel 6.1 --matrix 7.2 -- inventory' 'kernel|matrix'
    t V10 64 vm 'daxref vm --kernel 6.1 --pmem bogus -- inventory' 'pmem'
    t V11 64 vm 'daxref vm --kernel 6.1 --accel bogus -- inventory' 'accel'
    t V12 64 vm 'daxref vm --kernel 6.1 --memory 0 -- inventory' 'memory'
    t V13 64 vm 'daxref vm --kernel 6.1 --memory abc -- inventory' 'memory'
    t V14 64 vm "daxref vm --kernel '' -- inventory" 'kernel|spec|empty'
    t V15 64 vm 'daxref vm --kernel 6.1 --modules /nonexistent -- inventory' 'modules'
    t V16 64 vm 'daxref vm --matrix 6.1,7.2 --modules $TMP/adir -- inventory' 'modules'
    t V17 64 vm 'daxref vm --kernel 6.1 --share /nonexistent -- inventory' 'share|nonexistent'
    t V18 64 vm 'daxref vm --kernel 6.1 --console-log /proc/x -- inventory' 'console|/proc/x'
    t V19 64 "vm absent:missing" 'daxref vm --kernel 6.1 -- run --json $TMP/missing/r.json' 'missing'
    t V20 64 vm 'daxref vm --kernel 6.1 -- daxref run' 'daxref|subcommand|command'
    t V21 64 vm 'daxref vm --kernel 6.1 -- run --timeout nan' 'timeout'
    t V22 64 vm 'daxref vm --kernel 6.1 --pmem e820 -- inventory' 'e820'
    t V23 64 vm 'daxref vm -- inventory' 'kernel'
    t V24 64/80 vm 'daxref vm --kernel $TMP/regular -- inventory' 'bzImage|kernel'
    if [ ! -e /dev/kvm ]; then
        t V25 80 vm 'daxref vm --kernel 6.1 --accel kvm -- inventory' 'kvm'
    fi
    # With the real qemu (it can answer `-cpu help`), but still no kernel to boot: caught before the fetch, or 80.
    t V26 80/64 vmqemu 'daxref vm --kernel 6.1 --cpu banana -- inventory' 'banana'
    t V27 64/80 vmqemu 'daxref vm --kernel 6.1 --memory 99999999 -- inventory' 'memory'

    # bench: validated before any case runs
    t X01 64 - 'daxref bench --timeout nan --quick --cases snapshot' 'timeout'
    t X02 64 - 'daxref bench --timeout inf --quick --cases snapshot' 'timeout'
    t X03 64 - 'daxref bench --reference /nonexistent --quick --cases pin' 'reference|nonexistent'
    t X04 64 - 'daxref bench --reference $TMP/regular --quick --cases pin' 'reference|executable'
    t X05 64 - 'daxref bench --cases bogus' 'bogus'
    t X06 64 - "daxref bench --cases ''" 'cases|empty'
    t X07 64 - 'daxref bench --repetitions 0' 'repetitions'
    t X08 64 - 'daxref bench --repetitions -1' 'at least|positive|-1'
    t X09 64 - 'daxref bench --copy-size 12Q' 'copy-size'
    t X10 64 - 'daxref bench --copy-size 99999999999999G' 'copy-size'
    t X11 64 - 'daxref bench --block-size 1000' 'block-size'
    t X12 64 - 'daxref bench --direct-size 4K' 'direct-size'
    t X13 64 - "daxref bench --vm-phases ',,'" 'vm-phases|kernel'
    t X14 64 - 'daxref bench --vm-phases 6.1 --cases copy' 'vm-phases'
    t X15 64 - 'daxref bench --json /proc/x --quick --cases snapshot' '/proc/x'
    t X16 64 - 'daxref bench --svg $TMP/adir --quick --cases snapshot' 'directory|adir'

    # inventory, model, the command line itself
    t I01 64 - 'daxref inventory --evidence /proc/x' 'verify|evidence'
    t I02 64 - 'daxref inventory --verify --evidence /proc/x' '/proc/x'
    t I03 64 unchanged:regular 'daxref inventory --verify --evidence $TMP/regular' 'regular|not a directory|directory'
    t I04 64 - 'daxref model --era bogus' 'era'
    t I05 64 - "daxref model --scenario ''" 'scenario'
    t I06 64 - 'daxref model --scenario nosuch' 'nosuch'
    t I07 64 - 'daxref frobnicate' 'frobnicate'
    t I08 64 - 'daxref run --frobnicate' 'frobnicate'
    t I09 64 - 'daxref --frobnicate' 'frobnicate'
    t I10 64 - 'daxref inventory extra-arg' 'extra-arg'
    t I11 64 - 'daxref model --era' 'era'

    # hidden developer commands (drive, kprobe-check, capture-proc-fixtures)
    t H01 64 - 'daxref capture-proc-fixtures /proc/x --devdax /dev/null' '/proc/x'
    t H02 64 - 'daxref drive --backing bogus' 'bogus'
    t H03 64 - 'daxref drive --timeout nan --backing anon --workload touch-read' 'timeout'
    t H04 64 - 'daxref drive --length 0 --backing anon --workload touch-read' 'length'
    t H05 64 - 'daxref drive --block-wait nan --backing anon --workload touch-read' 'block-wait'
    t H06 64 - 'daxref drive --json /proc/x --backing anon --workload touch-read' '/proc/x'
    t H07 64 - 'daxref drive --namespace-steps garbage' 'garbage'
    t H08 64 - 'daxref kprobe-check' 'devdax|fsdax'
}

# Not run by this script: each would boot a VM or destroy data by design.
MANUAL=(
    '`daxref vm --kernel 6.1 --cpu banana -- inventory` with the kernel in the cache: expected 80 with QEMU'"'"'s own message before any boot attempt (V26 covers the check made before the kernel fetch; with a cached kernel this case would boot QEMU).'
    '`daxref vm --kernel 6.1 --memory 99999999 -- inventory` with the kernel in the cache: expected 64, or 80 with QEMU'"'"'s message, and no boot retries (V27 covers the check before the fetch).'
    '`daxref run --blk $EXT4 --allow-overwrite $EXT4 --scenario '"'anon.private.odirect-*'"'`: the allowed variant of B01; it overwrites the device by design.'
)

# ------------------------------------------------------------------ main
fixtures
cases

{
    printf 'Generated by `scripts/bad-inputs.sh --write docs/safety.md` (daxref %s, %s, kernel %s). Do not edit between the markers; re-run the script.\n\n' \
        "$("$BIN" --version 2>/dev/null | head -n 1)" \
        "$(git -C "$(dirname "$0")" describe --always --dirty 2>/dev/null || echo 'no git')" "$(uname -r)"
    printf '| ID | command | expected | exit | message | verdict |\n|---|---|---|---|---|---|\n'
    printf '%s\n' "${ROWS[@]}"
    printf '\n'
    printf 'Placeholders: `$TMP` a scratch directory (`adir` an empty directory, `regular` a small text file, `zero` 0 bytes, `tmpfs` a tmpfs mount, `loopy` and `loopy2` symlinks to each other, `fifo` a named pipe, `r.json` a valid run report and broken copies of it); `$EXT4` a loop device over a 32 MiB file holding ext4 (unmounted), `$MEXT4` the same mounted at `$MNT`, `$SWAP` one with a swap signature, `$ROLOOP` a read-only one, `$LOOP0` one over a 0-byte file. `vm` cases run with an empty kernel cache and an unreachable Debian mirror (no kernel can be fetched, so nothing boots), and with qemu stubbed out except in V26 and V27. Exit 124/137: killed at the %ss timeout (a hang).\n\n' "$CASE_TIMEOUT"
    printf 'OK means: the expected exit code; a first stderr line that names the problem (no trap or backtrace, no `Optional(`, no type dump, not a progress line, not continued on the next line); nothing ran before the refusal; nothing lost (ext4/swap signatures intact, no file created or changed).\n\n'
    printf 'Not run by the script (manual):\n'
    printf -- '- %s\n' "${MANUAL[@]}"
    printf '\nbad-inputs: %d passed, %d failed\n' "$PASSED" "$FAILED"
} >"$TMP/section.md"

sed '$d' "$TMP/section.md" | sed '$d'   # the table and notes, without the summary (printed last)

if [ -n "$WRITE" ]; then
    begin='<!-- bad-inputs:begin -->' end='<!-- bad-inputs:end -->'
    if [ ! -e "$WRITE" ]; then
        mkdir -p "$(dirname "$WRITE")"
        printf '## Bad input\n\n%s\n%s\n' "$begin" "$end" >"$WRITE"
    elif ! grep -qF -- "$begin" "$WRITE" && ! grep -qF -- "$end" "$WRITE"; then
        printf '\n## Bad input\n\n%s\n%s\n' "$begin" "$end" >>"$WRITE"
    fi
    if [ "$(grep -cF -- "$begin" "$WRITE")" != 1 ] || [ "$(grep -cF -- "$end" "$WRITE")" != 1 ]; then
        note "$WRITE: expected exactly one '$begin' and one '$end'; not written"
    else
        awk -v section="$TMP/section.md" -v begin="$begin" -v end="$end" '
            index($0, begin) { print; while ((getline line < section) > 0) print line; skipping = 1; next }
            index($0, end) { skipping = 0 }
            !skipping { print }' "$WRITE" >"$TMP/write.md" && cat "$TMP/write.md" >"$WRITE"
        note "wrote the bad-input table into $WRITE"
    fi
fi

if [ "$FAILED" -gt 0 ]; then
    note "failing cases:"
    printf '  %s\n' "${FAILURES[@]}" >&2
fi
printf '\nbad-inputs: %d passed, %d failed\n' "$PASSED" "$FAILED"
[ "$FAILED" -eq 0 ]
