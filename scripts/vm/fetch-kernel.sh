#!/usr/bin/env bash
# fetch-kernel.sh - resolve a Debian kernel SPEC, download it with apt into a
# private apt state, extract it into a cache and print a key=value manifest.
#
# Usage:
#   scripts/vm/fetch-kernel.sh [--cache DIR] [--refresh] [--list] SPEC
#   scripts/vm/fetch-kernel.sh [--cache DIR] [--refresh] --list [SERIES]
#
# SPEC is one of
#   * a kernel series            6.1, 6.12, 7.2 ...  -> newest amd64 kernel of
#                                that series in any configured suite
#   * a Debian package version   6.1.176-1, 6.12.95-1~bpo12+1
#   * a kernel release (uname -r) 6.1.0-50-amd64, 7.2.13+deb14-amd64
#   * a package name             linux-image-6.1.0-50-amd64-unsigned,
#                                linux-image-7.2.13+deb14-amd64, linux-binary-...
#                                (optionally NAME=VERSION)
#
# Options:
#   --cache DIR  cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/daxref);
#                kernels go to DIR/kernels/<version>/, apt state to DIR/apt/
#   --refresh    refresh the package lists even if they are fresh
#   --list       print one line per kernel (optionally of one SERIES), exit:
#                  <suite> <series> <version> <release> <package> <state>
#                state: cached | available | incomplete (packages missing
#                from the archive, cannot be fetched)
#   -h, --help   this text
#
# Output (stdout, only on success), one key=value per line:
#   series=6.1
#   version=6.1.176-1              Debian package version
#   release=6.1.0-50-amd64         uname -r, i.e. the lib/modules directory name
#   suite=bookworm
#   packages=linux-image-6.1.0-50-amd64-unsigned   (comma separated)
#   vmlinuz=/abs/.../vmlinuz
#   modules=/abs/.../modules/lib/modules/<release>   (contains modules.dep)
#   modroot=/abs/.../modules       (for depmod -b / modprobe -d)
#   config=/abs/.../config
#   cached=yes|no
# Progress and diagnostics go to stderr.
#
# Cache entry layout (DIR/kernels/<version>[_<flavour>]/, renamed into place
# atomically, so a half-built entry is never trusted):
#   vmlinuz  config  System.map (if shipped)  modules/lib/modules/<release>/
#   manifest (same keys as stdout minus cached, plus flavour=)
#
# Exit codes:
#   0 success
#   1 internal/unexpected error
#   2 usage error
#   3 SPEC not found (message lists the series that exist)
#   4 package lists unavailable: mirror unreachable / apt-get update failed
#     and no usable lists or cache entry
#   5 package download failed
#   6 unexpected package contents or extraction/depmod failure
#   7 no Debian archive found in the apt sources (set DAXREF_DEBIAN_MIRROR)
#   8 required tool or keyring missing
#
# Environment:
#   DAXREF_DEBIAN_MIRROR   archive URI to use instead of the one read from the
#                          system apt sources (e.g. an http mirror of /debian)
#   DAXREF_CACHE           cache root (same as --cache)
#   DAXREF_SUITES          suites to index (default: bookworm bookworm-backports
#                          trixie trixie-backports forky sid experimental)
#   DAXREF_FLAVOUR         kernel flavour (default amd64; e.g. cloud-amd64)
#   DAXREF_LISTS_MAX_AGE   seconds before lists are refreshed (default 86400)
#   DAXREF_DEBIAN_KEYRING  keyring (default /usr/share/keyrings/debian-archive-keyring.gpg)
#   DAXREF_KEEP_DEBS=1     keep downloaded .deb files in DIR/apt/debs/
#
# The system apt state is never modified: apt runs with its own Dir::State,
# Dir::Cache, sources, preferences and an empty dpkg status file. System
# apt.conf(.d) settings (proxies, Check-Date ...) are honoured, but all
# Pre/Post-Invoke hooks are cleared. Signatures are verified with Signed-By.

set -Eeuo pipefail
shopt -s nullglob
umask 022

readonly PROG=fetch-kernel
readonly DEFAULT_SUITES="bookworm bookworm-backports trixie trixie-backports forky sid experimental"
readonly ARCH=amd64

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
    local code=$1
    shift
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit "$code"
}
trap 'rc=$?; log "unexpected failure (exit $rc) at line $LINENO: $BASH_COMMAND"; exit 1' ERR

help() { sed -n '2,/^[^#]/{/^#/!d;s/^# \{0,1\}//;p}' "$0"; }
usage() { printf 'usage: %s [--cache DIR] [--refresh] [--list] SPEC   (--help for details)\n' "$0" >&2; }

# ---------------------------------------------------------------- arguments
CACHE_ROOT=${DAXREF_CACHE:-}
DO_LIST=0
DO_REFRESH=0
SPEC=
while [ $# -gt 0 ]; do
    case $1 in
    --cache)
        [ $# -ge 2 ] || { usage; die 2 "--cache needs a directory"; }
        CACHE_ROOT=$2
        shift 2
        ;;
    --cache=*) CACHE_ROOT=${1#--cache=}; shift ;;
    --list) DO_LIST=1; shift ;;
    --refresh) DO_REFRESH=1; shift ;;
    -h | --help) help; exit 0 ;;
    --) shift; break ;;
    -*) usage; die 2 "unknown option: $1" ;;
    *)
        [ -z "$SPEC" ] || { usage; die 2 "only one SPEC allowed (got '$SPEC' and '$1')"; }
        SPEC=$1
        shift
        ;;
    esac
done
if [ $# -gt 0 ]; then
    if [ -n "$SPEC" ] || [ $# -ne 1 ]; then usage; die 2 "only one SPEC allowed"; fi
    SPEC=$1
fi
if [ "$DO_LIST" = 0 ] && [ -z "$SPEC" ]; then
    usage
    die 2 "missing SPEC"
fi
case $SPEC in
*[[:space:]]* | *[\'\"\\\$\`]*) die 2 "invalid SPEC: '$SPEC'" ;;
esac

if [ -z "$CACHE_ROOT" ]; then
    base=${XDG_CACHE_HOME:-}
    if [ -z "$base" ]; then
        [ -n "${HOME:-}" ] || die 2 "neither --cache, DAXREF_CACHE, XDG_CACHE_HOME nor HOME is set"
        base=$HOME/.cache
    fi
    CACHE_ROOT=$base/daxref
fi
mkdir -p "$CACHE_ROOT" || die 1 "cannot create cache directory $CACHE_ROOT"
CACHE_ROOT=$(cd "$CACHE_ROOT" && pwd -P)
readonly CACHE_ROOT
readonly KDIR=$CACHE_ROOT/kernels
readonly APTDIR=$CACHE_ROOT/apt
mkdir -p "$KDIR" "$APTDIR"

FLAVOUR=${DAXREF_FLAVOUR:-amd64}
SUITES=${DAXREF_SUITES:-$DEFAULT_SUITES}
MAX_AGE=${DAXREF_LISTS_MAX_AGE:-86400}
KEYRING=${DAXREF_DEBIAN_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}
case $MAX_AGE in '' | *[!0-9]*) die 2 "DAXREF_LISTS_MAX_AGE must be a number of seconds" ;; esac
case $FLAVOUR in '' | *[!a-z0-9-]*) die 2 "invalid DAXREF_FLAVOUR '$FLAVOUR'" ;; esac

for tool in apt-get dpkg dpkg-deb awk sed sort find; do
    command -v "$tool" >/dev/null 2>&1 || die 8 "required tool '$tool' not found"
done

HAVE_LOCK=0
# Serialise concurrent runs on the same cache (apt locks would fail anyway).
if command -v flock >/dev/null 2>&1; then
    exec 9>"$CACHE_ROOT/.lock"
    if ! flock -n 9; then
        log "waiting for another fetch-kernel run holding $CACHE_ROOT/.lock"
        flock -w "${DAXREF_LOCK_TIMEOUT:-3600}" 9 || die 1 "timed out waiting for $CACHE_ROOT/.lock"
    fi
    HAVE_LOCK=1
fi

# Leftovers of interrupted (e.g. SIGKILLed) runs are never trusted; with the
# lock held nobody else can be using them, otherwise only remove old ones.
if [ "${HAVE_LOCK:-0}" = 1 ]; then
    rm -rf -- "$KDIR"/.tmp-* "$KDIR"/.old-* "$APTDIR"/debs/.dl.* 2>/dev/null || true
else
    find "$KDIR" "$APTDIR/debs" -maxdepth 1 \( -name '.tmp-*' -o -name '.old-*' -o -name '.dl.*' \) \
        -mmin +1440 -exec rm -rf {} + 2>/dev/null || true
fi

TMPS=()
cleanup() {
    local d
    for d in "${TMPS[@]}"; do
        [ -n "$d" ] && rm -rf -- "$d"
    done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------ small helpers
# kernel release (uname -r) -> flavour, e.g. 6.1.0-50-cloud-amd64 -> cloud-amd64
release_flavour() {
    printf '%s\n' "$1" | sed -E 's/^[0-9][0-9.]*(\+[a-z]+[0-9.]*)?(-[0-9]+)?-//'
}
# Debian version -> series (6.12.95-1~bpo12+1 -> 6.12, 7.3~rc7-1~exp1 -> 7.3)
version_series() {
    printf '%s\n' "$1" | sed -E 's/^[0-9]+://; s/^([0-9]+\.[0-9]+).*/\1/'
}
entry_key() { # version flavour
    if [ "$2" = amd64 ]; then printf '%s\n' "$1"; else printf '%s_%s\n' "$1" "$2"; fi
}
human() { awk -v b="$1" 'BEGIN { split("B KiB MiB GiB", u); i = 1; while (b >= 1024 && i < 4) { b /= 1024; i++ } printf "%.1f %s", b, u[i] }'; }
file_age() { # seconds since mtime, huge if missing
    local m
    if m=$(stat -c %Y -- "$1" 2>/dev/null); then echo $(($(date +%s) - m)); else echo 999999999; fi
}
manifest_get() { # file key
    sed -n "s/^$2=//p" "$1" | head -n1
}

# A cache entry is trusted only if it is complete (written to a temp dir and
# renamed into place, manifest written last).
entry_valid() {
    local d=$1 rel
    [ -f "$d/manifest" ] || return 1
    rel=$(manifest_get "$d/manifest" release)
    [ -n "$rel" ] && [ -s "$d/vmlinuz" ] && [ -s "$d/config" ] &&
        [ -s "$d/modules/lib/modules/$rel/modules.dep" ]
}

print_entry() { # dir cached
    local d=$1 m=$1/manifest rel
    rel=$(manifest_get "$m" release)
    printf 'series=%s\n' "$(manifest_get "$m" series)"
    printf 'version=%s\n' "$(manifest_get "$m" version)"
    printf 'release=%s\n' "$rel"
    printf 'suite=%s\n' "$(manifest_get "$m" suite)"
    printf 'packages=%s\n' "$(manifest_get "$m" packages)"
    printf 'vmlinuz=%s\n' "$d/vmlinuz"
    printf 'modules=%s\n' "$d/modules/lib/modules/$rel"
    printf 'modroot=%s\n' "$d/modules"
    printf 'config=%s\n' "$d/config"
    printf 'cached=%s\n' "$2"
}

# Newest valid cache entry whose manifest has KEY=VALUE (offline fallback).
cache_lookup() { # key value -> dir
    local best='' bestv='' d v
    for d in "$KDIR"/*/; do
        d=${d%/}
        entry_valid "$d" || continue
        [ "$(manifest_get "$d/manifest" "$1")" = "$2" ] || continue
        [ "$(manifest_get "$d/manifest" flavour)" = "$FLAVOUR" ] || continue
        v=$(manifest_get "$d/manifest" version)
        if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$bestv"; then
            best=$d
            bestv=$v
        fi
    done
    [ -n "$best" ] && printf '%s\n' "$best"
}

# ------------------------------------------------------- mirror discovery
# Print "URI SUITE" pairs of all enabled deb entries of the system sources.
system_source_pairs() {
    local sl=/etc/apt/sources.list sp=/etc/apt/sources.list.d SL='' SP='' f
    if eval "$(apt-config shell SL Dir::Etc::sourcelist/f SP Dir::Etc::sourceparts/d 2>/dev/null)"; then
        [ -n "$SL" ] && sl=$SL
        [ -n "$SP" ] && sp=${SP%/}
    fi
    for f in "$sl" "$sp"/*.list; do
        [ -r "$f" ] || continue
        awk '
            { sub(/#.*/, "") }
            $1 != "deb" { next }
            {
                line = $0
                sub(/^[ \t]*deb[ \t]+/, "", line)
                if (line ~ /^\[/) sub(/^\[[^]]*\][ \t]*/, "", line)
                n = split(line, w, /[ \t]+/)
                if (n >= 2) print w[1], w[2]
            }' "$f"
    done
    for f in "$sp"/*.sources; do
        [ -r "$f" ] || continue
        awk '
            function flush(   nu, ns, u, s, i, j, ok, nt, t) {
                if (enabled != "no" && uris != "" && suites != "") {
                    ok = 0
                    nt = split(types, t, /[ \t]+/)
                    for (i = 1; i <= nt; i++) if (t[i] == "deb") ok = 1
                    if (ok) {
                        nu = split(uris, u, /[ \t]+/)
                        ns = split(suites, s, /[ \t]+/)
                        for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++)
                            if (u[i] != "" && s[j] != "") print u[i], s[j]
                    }
                }
                types = uris = suites = enabled = ""; key = ""
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            /^[ \t]/ {       # continuation line
                v = $0; gsub(/^[ \t]+|[ \t]+$/, "", v)
                if (key == "types") types = types " " v
                else if (key == "uris") uris = uris " " v
                else if (key == "suites") suites = suites " " v
                next
            }
            {
                i = index($0, ":"); if (i == 0) next
                key = tolower(substr($0, 1, i - 1)); v = substr($0, i + 1)
                gsub(/^[ \t]+|[ \t]+$/, "", v)
                if (key == "types") types = v
                else if (key == "uris") uris = v
                else if (key == "suites") suites = v
                else if (key == "enabled") enabled = tolower(v)
            }
            END { flush() }' "$f"
    done
}

find_mirror() {
    if [ -n "${DAXREF_DEBIAN_MIRROR:-}" ]; then
        MIRROR=${DAXREF_DEBIAN_MIRROR%/}
        MIRROR_FROM="DAXREF_DEBIAN_MIRROR"
        return 0
    fi
    local pairs
    pairs=$(system_source_pairs)
    # Debian main archive: suite is a Debian codename/alias, optionally with
    # -updates/-backports/-proposed-updates (never -security), and the URI is
    # not a security/debug/ports archive. Prefer URIs ending in /debian.
    MIRROR=$(printf '%s\n' "$pairs" | awk '
        BEGIN {
            re = "^(buzz|rex|bo|hamm|slink|potato|woody|sarge|etch|lenny|squeeze|wheezy|jessie|stretch|buster|bullseye|bookworm|trixie|forky|duke|sid|stable|oldstable|oldoldstable|testing|unstable|experimental)(-updates|-backports|-backports-sloppy|-proposed-updates)?$"
        }
        NF >= 2 && $2 ~ re && $1 !~ /security|debian-debug|debian-ports|^cdrom:/ {
            u = $1; sub(/\/+$/, "", u)
            if (u ~ /\/debian$/) { print u; found = 1; exit }
            if (fallback == "") fallback = u
        }
        END { if (!found && fallback != "") print fallback }')
    [ -n "$MIRROR" ] || die 7 "no Debian archive entry found in the apt sources (looked for deb entries with Debian suites in /etc/apt/sources.list and sources.list.d/*.list|*.sources); set DAXREF_DEBIAN_MIRROR=<archive URI>"
    MIRROR_FROM="system apt sources"
}

# ---------------------------------------------------------- private apt state
APT_OPTS=()
setup_apt() {
    [ -r "$KEYRING" ] || die 8 "Debian archive keyring $KEYRING not found (apt-get install debian-archive-keyring, or set DAXREF_DEBIAN_KEYRING)"
    mkdir -p "$APTDIR/etc/sources.list.d" "$APTDIR/etc/preferences.d" "$APTDIR/etc/trusted.gpg.d" \
        "$APTDIR/state/lists/partial" "$APTDIR/cache/archives/partial" "$APTDIR/log"
    [ -e "$APTDIR/state/status" ] || : >"$APTDIR/state/status"
    [ -e "$APTDIR/etc/sources.list" ] || : >"$APTDIR/etc/sources.list"
    if [ "$(id -u)" = 0 ] && id _apt >/dev/null 2>&1; then
        chown _apt "$APTDIR/state/lists/partial" "$APTDIR/cache/archives/partial" 2>/dev/null || true
    fi

    local src new main=/etc/apt/apt.conf
    src=$APTDIR/etc/sources.list.d/daxref.sources
    new=$(printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nArchitectures: %s\nSigned-By: %s\n' \
        "$MIRROR" "$SUITES" "$ARCH" "$KEYRING")
    if [ ! -f "$src" ] || [ "$(cat "$src")" != "$new" ]; then
        printf '%s\n' "$new" >"$src.tmp" && mv -f "$src.tmp" "$src"
        rm -f "$APTDIR/last-update" "$APTDIR/kernels.idx"
    fi

    # Read first (via APT_CONFIG): only redirects the main config file, so the
    # system apt.conf.d parts (proxy, Check-Date, ...) still apply; our main
    # file is read after them and overrides dirs and clears all hooks.
    printf 'Dir::Etc::main "%s";\n' "$APTDIR/etc/apt.conf" >"$APTDIR/apt-config"
    {
        [ -r "$main" ] && printf '#include "%s";\n' "$main"
        cat <<EOF
#clear APT::Update::Pre-Invoke;
#clear APT::Update::Post-Invoke;
#clear APT::Update::Post-Invoke-Success;
#clear DPkg::Pre-Invoke;
#clear DPkg::Post-Invoke;
#clear DPkg::Pre-Install-Pkgs;
#clear APT::Architectures;
#clear Acquire::Languages;
Dir::State "$APTDIR/state";
Dir::State::Lists "$APTDIR/state/lists";
Dir::State::status "$APTDIR/state/status";
Dir::State::extended_states "$APTDIR/state/extended_states";
Dir::Cache "$APTDIR/cache";
Dir::Cache::archives "$APTDIR/cache/archives";
Dir::Cache::pkgcache "$APTDIR/cache/pkgcache.bin";
Dir::Cache::srcpkgcache "";
Dir::Etc::SourceList "$APTDIR/etc/sources.list";
Dir::Etc::SourceParts "$APTDIR/etc/sources.list.d";
Dir::Etc::Preferences "$APTDIR/etc/preferences";
Dir::Etc::PreferencesParts "$APTDIR/etc/preferences.d";
Dir::Etc::Trusted "$APTDIR/etc/trusted.gpg";
Dir::Etc::TrustedParts "$APTDIR/etc/trusted.gpg.d";
Dir::Log "$APTDIR/log";
APT::Architecture "$ARCH";
APT::Architectures { "$ARCH"; };
Acquire::Languages { "none"; };
Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled "false";
Acquire::IndexTargets::deb::DEP-11::DefaultEnabled "false";
Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled "false";
Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled "false";
EOF
    } >"$APTDIR/etc/apt.conf.tmp"
    mv -f "$APTDIR/etc/apt.conf.tmp" "$APTDIR/etc/apt.conf"
    APT_OPTS=(-q)
    # apt drops privileges to _apt for downloads; if _apt cannot write into
    # our cache (e.g. below /root), run unsandboxed instead of warning.
    if [ "$(id -u)" = 0 ] && id _apt >/dev/null 2>&1 && command -v runuser >/dev/null 2>&1 &&
        ! runuser -u _apt -- test -w "$APTDIR/state/lists/partial" 2>/dev/null; then
        APT_OPTS+=(-o APT::Sandbox::User=root)
    fi
}
apt_run() { APT_CONFIG=$APTDIR/apt-config "$@" "${APT_OPTS[@]}"; }

# Packages index files for our suites: "RELEASE FILENAME" for existing files.
index_files() {
    # shellcheck disable=SC2016 # apt expands $(RELEASE) itself
    apt_run apt-get indextargets --format '$(RELEASE) $(FILENAME)' 'Identifier: Packages' 2>/dev/null |
        while read -r rel file; do
            if [ -f "$file" ]; then printf '%s %s\n' "$rel" "$file"; fi
        done
}

lists_present() { [ -n "$(index_files)" ]; }

# Refresh lists when stale. Returns 0 if usable lists exist afterwards.
ensure_lists() {
    local age
    age=$(file_age "$APTDIR/last-update")
    if [ "$DO_REFRESH" = 0 ] && [ "$age" -lt "$MAX_AGE" ] && lists_present; then
        return 0
    fi
    log "updating package lists from $MIRROR ($MIRROR_FROM), suites: $SUITES"
    local t0 out rc=0
    t0=$(date +%s)
    out=$(apt_run apt-get update --error-on=any 2>&1) || rc=$?
    printf '%s\n' "$out" | grep -E '^(E|W):' | awk '!seen[$0]++' | head -n 6 | sed 's/^/  apt: /' >&2 || true
    if [ "$rc" = 0 ]; then
        touch "$APTDIR/last-update"
        log "package lists updated in $(($(date +%s) - t0))s"
        return 0
    fi
    if lists_present; then
        local have s missing=
        have=$(index_files | awk '{print $1}')
        for s in $SUITES; do
            printf '%s\n' "$have" | grep -qxF "$s" || missing="$missing $s"
        done
        if [ -n "$missing" ] && [ "$(printf '%s\n' "$have" | wc -l)" -gt 0 ]; then
            log "warning: apt-get update failed for some suites (no lists for:$missing); continuing with the others"
            # Do not retry missing suites on every run; still honour --refresh.
            touch "$APTDIR/last-update"
        else
            log "warning: apt-get update failed (exit $rc); using existing (stale) package lists"
        fi
        return 0
    fi
    return 1
}

# Build a small TSV index of kernel packages: suite pkg version size depends
build_index() {
    local idx=$APTDIR/kernels.idx rebuild=0 rel file
    if [ ! -s "$idx" ]; then
        rebuild=1
    elif [ -n "$(find "$APTDIR/state/lists" -maxdepth 1 -name '*Packages*' -newer "$idx" -print -quit)" ]; then
        rebuild=1
    fi
    [ "$rebuild" = 1 ] || return 0
    local cat=/usr/lib/apt/apt-helper
    : >"$idx.tmp"
    while read -r rel file; do
        if [ -x "$cat" ]; then "$cat" cat-file "$file"; else cat "$file"; fi |
            awk -v suite="$rel" '
                function emit() {
                    if (p ~ /^linux-(image|binary|modules|base)-[0-9]/ && p !~ /-dbg$/)
                        printf "%s\t%s\t%s\t%s\t%s\n", suite, p, v, (s == "" ? 0 : s), d
                    p = v = s = d = ""
                }
                /^$/ { emit(); next }
                /^Package: / { p = substr($0, 10) }
                /^Version: / { v = substr($0, 10) }
                /^Size: / { s = substr($0, 7) }
                /^Depends: / { d = substr($0, 10) }
                END { emit() }' >>"$idx.tmp"
    done < <(index_files)
    mv -f "$idx.tmp" "$idx"
}

# Kernel images of the selected flavour, one line per image package:
#   suite series version release imagepkg complete
# complete=0 when the image is a metapackage (7.x style, Depends on
# linux-binary-REL) and linux-binary-REL or linux-modules-REL of the same
# version is missing from every indexed suite (backports keeps old signed
# metapackages after the unsigned linux-modules-* packages were removed).
list_images() {
    awk -F'\t' -v flav="$FLAVOUR" '
        { have[$2 SUBSEP $3] = 1; row[NR] = $0 }
        END {
            for (i = 1; i <= NR; i++) {
                split(row[i], f, "\t")
                if (f[2] !~ /^linux-image-/) continue
                rel = f[2]; sub(/^linux-image-/, "", rel); sub(/-unsigned$/, "", rel)
                n = length(rel) - length(flav) - 1
                if (n < 1 || substr(rel, n + 1) != "-" flav) continue
                abi = substr(rel, 1, n)
                if (abi !~ /^[0-9][0-9.]*(\+[a-z]+[0-9.]*)?(-[0-9]+)?$/) continue
                ser = f[3]; sub(/^[0-9]+:/, "", ser)
                if (match(ser, /^[0-9]+\.[0-9]+/)) ser = substr(ser, 1, RLENGTH); else continue
                ok = 1
                if (index(f[5], "linux-binary-" rel " ") || f[5] ~ ("linux-binary-" rel "$"))
                    ok = ((("linux-binary-" rel) SUBSEP f[3]) in have) && ((("linux-modules-" rel) SUBSEP f[3]) in have)
                print f[1], ser, f[3], rel, f[2], ok
            }
        }' "$APTDIR/kernels.idx"
}

suite_rank() { # suite -> position in $SUITES
    local i=0 s
    for s in $SUITES; do
        i=$((i + 1))
        [ "$s" = "$1" ] && { echo "$i"; return; }
    done
    echo 99
}

# From candidate image lines on stdin pick the newest version; on equal
# versions prefer unsigned images and earlier suites.
pick_newest() {
    local best='' bestv='' bestk='' suite ser ver rel pkg ok key
    while read -r suite ser ver rel pkg ok; do
        [ "$ok" = 1 ] || continue
        key=$(suite_rank "$suite")
        case $pkg in *-unsigned) ;; *) key=$((key + 100)) ;; esac
        if [ -z "$best" ] || dpkg --compare-versions "$ver" gt "$bestv" ||
            { [ "$ver" = "$bestv" ] && [ "$key" -lt "$bestk" ]; }; then
            best="$suite $ser $ver $rel $pkg"
            bestv=$ver
            bestk=$key
        fi
    done
    [ -n "$best" ] && printf '%s\n' "$best"
}

available_series() {
    list_images | awk '$6 == 1 {print $2}' | sort -u -t. -k1,1n -k2,2n | tr '\n' ' ' | sed 's/ $//'
}

# Packages of VERSION named *-RELEASE reachable from PKG through Depends.
# Drops a linux-image metapackage when a linux-binary package holds the kernel.
resolve_packages() { # pkg version release
    awk -F'\t' -v start="$1" -v ver="$2" -v rel="$3" '
        $3 == ver { dep[$2] = $5; have[$2] = 1 }
        END {
            if (!(start in have)) exit 1
            q[1] = start; nq = 1; seen[start] = 1
            for (i = 1; i <= nq; i++) {
                n = split(dep[q[i]], alts, /[,|]/)
                for (j = 1; j <= n; j++) {
                    d = alts[j]; gsub(/^[ \t]+/, "", d); sub(/[ \t:(].*/, "", d)
                    if (d ~ ("^linux-(image|binary|modules|base)-") && (d == "linux-binary-" rel || d == "linux-modules-" rel || d == "linux-base-" rel || d == "linux-image-" rel || d == "linux-image-" rel "-unsigned") && (d in have) && !(d in seen)) {
                        seen[d] = 1; q[++nq] = d
                    }
                }
            }
            meta = (("linux-binary-" rel) in seen)
            for (i = 1; i <= nq; i++)
                if (!(meta && q[i] ~ /^linux-image-/)) print q[i]
        }' "$APTDIR/kernels.idx"
}

pkg_size() { # pkg version
    awk -F'\t' -v p="$1" -v v="$2" '$2 == p && $3 == v { print $4; exit }' "$APTDIR/kernels.idx"
}

# ----------------------------------------------------------------- fetch
fetch_entry() { # suite series version release imagepkg
    local suite=$1 series=$2 version=$3 release=$4 image=$5
    local key final
    key=$(entry_key "$version" "$FLAVOUR")
    final=$KDIR/$key
    if entry_valid "$final"; then
        print_entry "$final" yes
        return 0
    fi

    local pkgs=() p total=0 s
    mapfile -t pkgs < <(resolve_packages "$image" "$version" "$release")
    [ "${#pkgs[@]}" -gt 0 ] || die 3 "cannot resolve packages for $image $version"
    for p in "${pkgs[@]}"; do
        s=$(pkg_size "$p" "$version")
        total=$((total + ${s:-0}))
    done
    log "kernel $release ($version, $suite): downloading ${pkgs[*]} ($(human "$total"))"

    local dl args=() t0 rc=0 out
    mkdir -p "$APTDIR/debs"
    dl=$(mktemp -d "$APTDIR/debs/.dl.XXXXXX")
    TMPS+=("$dl")
    if [ "$(id -u)" = 0 ] && id _apt >/dev/null 2>&1; then chown _apt "$dl" 2>/dev/null || true; fi
    for p in "${pkgs[@]}"; do
        if [ -f "$APTDIR/debs/${p}_${version//:/%3a}_$ARCH.deb" ]; then
            cp -l "$APTDIR/debs/${p}_${version//:/%3a}_$ARCH.deb" "$dl/" 2>/dev/null ||
                cp "$APTDIR/debs/${p}_${version//:/%3a}_$ARCH.deb" "$dl/"
        else
            args+=("$p=$version")
        fi
    done
    t0=$(date +%s)
    if [ "${#args[@]}" -gt 0 ]; then
        out=$(cd "$dl" && apt_run apt-get download "${args[@]}" 2>&1) || rc=$?
        printf '%s\n' "$out" | grep -E '^(E:|W:|Fetched)' | grep -v 'unsandboxed' | sed 's/^/  apt: /' >&2 || true
        [ "$rc" = 0 ] || die 5 "apt-get download failed for ${args[*]} (exit $rc)"
    fi
    local debs=("$dl"/*.deb)
    [ "${#debs[@]}" -eq "${#pkgs[@]}" ] || die 5 "expected ${#pkgs[@]} .deb files, got ${#debs[@]}"
    log "downloaded $(human "$(du -cb "${debs[@]}" | tail -n1 | cut -f1)") in $(($(date +%s) - t0))s"

    # Extract into a temp dir next to the final one, then rename atomically.
    local tmp root d
    tmp=$(mktemp -d "$KDIR/.tmp-$key.XXXXXX")
    TMPS+=("$tmp")
    root=$tmp/root
    mkdir -p "$root"
    t0=$(date +%s)
    for d in "${debs[@]}"; do
        dpkg-deb -x "$d" "$root" || die 6 "dpkg-deb -x failed for $(basename "$d")"
    done

    local moddirs=() md
    for md in "$root/lib/modules/$release" "$root/usr/lib/modules/$release"; do
        [ -d "$md" ] && [ ! -L "$md" ] && moddirs+=("$md")
    done
    [ "${#moddirs[@]}" -gt 0 ] || die 6 "no lib/modules/$release in ${pkgs[*]} (found: $(cd "$root" && find . -maxdepth 4 -path '*/modules/*' | head -5 | tr '\n' ' '))"
    local mdst=$tmp/modules/lib/modules/$release
    mkdir -p "$tmp/modules/lib/modules"
    mv "${moddirs[0]}" "$mdst"
    if [ "${#moddirs[@]}" -gt 1 ]; then cp -a "${moddirs[1]}/." "$mdst/"; fi

    local f layout="modules from ${moddirs[*]#"$root"/}"
    for f in "$root/boot/vmlinuz-$release" "$mdst/vmlinuz"; do
        if [ -f "$f" ]; then
            case $f in "$mdst"/*) layout="$layout, vmlinuz+config in lib/modules/$release" ;; *) layout="$layout, vmlinuz+config in boot/" ;; esac
            mv "$f" "$tmp/vmlinuz"
            break
        fi
    done
    [ -s "$tmp/vmlinuz" ] || die 6 "no vmlinuz (boot/vmlinuz-$release or lib/modules/$release/vmlinuz) in ${pkgs[*]}"
    for f in "$root/boot/config-$release" "$mdst/config"; do
        if [ -f "$f" ]; then cp "$f" "$tmp/config"; break; fi
    done
    [ -s "$tmp/config" ] || die 6 "no kernel config (boot/config-$release or lib/modules/$release/config) in ${pkgs[*]}"
    for f in "$root/boot/System.map-$release" "$mdst/System.map"; do
        # Debian ships a placeholder pointing to the -dbg package; skip it.
        if [ -f "$f" ] && [ "$(stat -c %s "$f")" -gt 4096 ]; then cp "$f" "$tmp/System.map"; break; fi
    done
    rm -rf "$root"

    # Debian generates modules.dep in postinst; do it here.
    local depmod
    depmod=$(command -v depmod || true)
    [ -n "$depmod" ] || for f in /usr/sbin/depmod /sbin/depmod; do [ -x "$f" ] && depmod=$f && break; done
    [ -n "$depmod" ] || die 8 "depmod not found (apt-get install kmod)"
    # Let depmod find the tree whether it looks in lib/modules or usr/lib/modules.
    mkdir -p "$tmp/modules/usr/lib"
    ln -s ../../lib/modules "$tmp/modules/usr/lib/modules"
    out=$("$depmod" -b "$tmp/modules" "$release" 2>&1) || die 6 "depmod failed: $out"
    [ -z "$out" ] || printf '%s\n' "$out" | head -n 5 | sed 's/^/  depmod: /' >&2
    rm -f "$tmp/modules/usr/lib/modules"
    rmdir -p "$tmp/modules/usr/lib" 2>/dev/null || true
    [ -s "$mdst/modules.dep" ] || die 6 "depmod produced no modules.dep"
    local nko ndep
    nko=$(find "$mdst" -name '*.ko*' -type f | wc -l)
    ndep=$(wc -l <"$mdst/modules.dep")
    [ "$nko" -eq 0 ] || [ "$ndep" -gt 0 ] || die 6 "modules.dep is empty but $nko modules exist (unsupported module compression?)"

    local pk
    pk=$(
        IFS=,
        printf '%s' "${pkgs[*]}"
    )
    {
        printf 'series=%s\nversion=%s\nrelease=%s\nsuite=%s\nflavour=%s\npackages=%s\n' \
            "$series" "$version" "$release" "$suite" "$FLAVOUR" "$pk"
        printf 'vmlinuz=%s\nmodules=%s\nmodroot=%s\nconfig=%s\n' \
            "$final/vmlinuz" "$final/modules/lib/modules/$release" "$final/modules" "$final/config"
        printf 'mirror=%s\nfetched=%s\n' "$MIRROR" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    } >"$tmp/manifest.tmp"
    sync -f "$tmp/manifest.tmp" 2>/dev/null || true
    mv "$tmp/manifest.tmp" "$tmp/manifest"
    chmod 755 "$tmp"

    if [ -e "$final" ] || [ -L "$final" ]; then
        log "replacing incomplete cache entry $final"
        local old
        old=$(mktemp -d "$KDIR/.old-$key.XXXXXX")
        TMPS+=("$old")
        mv -T "$final" "$old/x"
    fi
    mv -T "$tmp" "$final" || die 1 "cannot move $tmp to $final"
    log "extracted $nko modules in $(($(date +%s) - t0))s into $final ($layout)"

    if [ "${DAXREF_KEEP_DEBS:-0}" = 1 ]; then
        for d in "${debs[@]}"; do mv -f "$d" "$APTDIR/debs/"; done
    fi
    print_entry "$final" no
}

# ------------------------------------------------------------------ main
classify_spec() {
    local rel_re='^[0-9][0-9.]*(\+[a-z]+[0-9.]*)?(-[0-9]+)?-[a-z][a-z0-9-]*$'
    local ver_re='^([0-9]+:)?[0-9][A-Za-z0-9.+~]*-[A-Za-z0-9.+~]+$'
    if [[ $SPEC =~ ^[0-9]+\.[0-9]+$ ]]; then
        SPEC_KIND=series # 6.1, 7.2
    elif [[ $SPEC =~ ^linux-[a-z]+-[0-9][^=]*=[0-9] ]]; then
        SPEC_KIND=pkgver # linux-image-6.1.0-50-amd64-unsigned=6.1.176-1
    elif [[ $SPEC =~ ^linux-[a-z]+-[0-9] ]]; then
        SPEC_KIND=package # linux-image-6.1.0-50-amd64-unsigned
    elif [[ $SPEC =~ $rel_re ]]; then
        SPEC_KIND=release # 6.1.0-50-amd64, 7.2.13+deb14-amd64, 7.3-amd64
    elif [[ $SPEC =~ $ver_re ]]; then
        SPEC_KIND=version # 6.1.176-1, 6.12.95-1~bpo12+1, 7.3~rc7-1~exp1
    else
        die 2 "cannot parse SPEC '$SPEC' (want a series like 6.1, a version like 6.1.176-1, a release like 6.1.0-50-amd64, or a package name)"
    fi
}

if [ "$DO_LIST" = 0 ]; then
    classify_spec
    # Exact versions are immutable: a valid cache entry needs no apt at all.
    if [ "$SPEC_KIND" = version ]; then
        d=$KDIR/$(entry_key "$SPEC" "$FLAVOUR")
        if entry_valid "$d"; then
            print_entry "$d" yes
            exit 0
        fi
    fi
fi

find_mirror
setup_apt
if ! ensure_lists; then
    if [ "$DO_LIST" = 0 ]; then
        fb=
        case $SPEC_KIND in
        series) fb=$(cache_lookup series "$SPEC") || true ;;
        release) fb=$(cache_lookup release "$SPEC") || true ;;
        esac
        if [ -n "$fb" ]; then
            log "warning: cannot reach $MIRROR; using newest cached kernel for $SPEC"
            print_entry "$fb" yes
            exit 0
        fi
    fi
    die 4 "cannot download package lists from $MIRROR ($MIRROR_FROM) and no usable lists are cached"
fi
build_index

if [ "$DO_LIST" = 1 ]; then
    if [ -n "$SPEC" ] && [[ ! $SPEC =~ ^[0-9]+\.[0-9]+$ ]]; then die 2 "--list takes an optional series (e.g. 6.12)"; fi
    list_images | while read -r suite ser ver rel pkg ok; do
        [ -z "$SPEC" ] || [ "$ser" = "$SPEC" ] || continue
        c=available
        [ "$ok" = 1 ] || c=incomplete
        if entry_valid "$KDIR/$(entry_key "$ver" "$FLAVOUR")"; then c=cached; fi
        printf '%s %s %s %s %s %s %s\n' "$(suite_rank "$suite")" "$suite" "$ser" "$ver" "$rel" "$pkg" "$c"
    done | sort -k1,1n -k3,3V -k4,4V -k6,6r | awk '!seen[$2 " " $4]++' | cut -d' ' -f2-
    exit 0
fi

case $SPEC_KIND in
series)
    what="series $SPEC"
    cands=$(list_images | awk -v s="$SPEC" '$2 == s')
    ;;
version)
    what="package version $SPEC"
    cands=$(list_images | awk -v v="$SPEC" '$3 == v')
    ;;
release | package | pkgver)
    want_ver=
    name=$SPEC
    if [ "$SPEC_KIND" = pkgver ]; then
        want_ver=${SPEC#*=}
        name=${SPEC%%=*}
    fi
    if [ "$SPEC_KIND" = release ]; then
        rel=$SPEC
    else
        rel=$(printf '%s\n' "$name" | sed -E 's/^linux-(image|binary|modules|base)-//; s/-unsigned$//')
        [ "$rel" != "$name" ] || die 2 "unsupported package name '$name' (want linux-image-*, linux-binary-*, linux-modules-* or linux-base-*)"
    fi
    FLAVOUR=$(release_flavour "$rel")
    if [ -z "$FLAVOUR" ] || [ "$FLAVOUR" = "$rel" ]; then die 2 "cannot determine the flavour of kernel release '$rel'"; fi
    what="'$SPEC' (release $rel)"
    cands=$(list_images | awk -v r="$rel" -v v="$want_ver" '$4 == r && (v == "" || $3 == v)')
    # An explicitly named image package (signed or unsigned) is preferred.
    case $name in
    linux-image-*)
        exact=$(printf '%s\n' "$cands" | awk -v p="$name" '$5 == p')
        [ -z "$exact" ] || cands=$exact
        ;;
    esac
    ;;
esac
if ! sel=$(printf '%s\n' "$cands" | awk 'NF' | pick_newest); then
    if [ -n "$cands" ]; then
        die 3 "$FLAVOUR kernel for $what exists only incompletely in the archive (linux-image is a metapackage whose linux-modules-*/linux-binary-* package was removed): $(printf '%s\n' "$cands" | awk '{print $3 "@" $1}' | sort -u | tr '\n' ' ')- complete series: $(available_series)"
    fi
    die 3 "no $FLAVOUR kernel for $what in suites [$SUITES]; available series: $(available_series) (see --list)"
fi

# shellcheck disable=SC2086
set -- $sel
fetch_entry "$@"
