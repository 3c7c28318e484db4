# shellcheck shell=bash
# cross/toolchain.sh — sourced (not run) by cross/arm-check.sh and cross/release.sh:
# installs and selects the Docker-free cross toolchains for the Raspberry Pi targets.
#
# Targets, by the names the scripts take:
#   armv6   -> armv5te-unknown-linux-gnueabi, static. Pi 1 / Zero / Zero W (ARM1176).
#              Debian's armhf toolchain is ARMv7/Thumb-2 only (its crt, libc and libgcc
#              objects too), so an ARMv6 binary is built as armel (ARMv5TE, Thumb-1) with
#              gcc-arm-linux-gnueabi + libc6-dev-armel-cross, linked statically
#              (-C target-feature=+crt-static: nothing from the Pi's hard-float userland is
#              used). Debian ships no armel Rust std: it is built with
#              -Zbuild-std=std,panic_abort from rust-web-src of exactly the installed rustc
#              (RUSTC_BOOTSTRAP=1; std's own crates come from crates.io).
#   armv7   -> armv7-unknown-linux-gnueabihf, static. Pi 2/3/4/5, Zero 2 W, 32-bit OS.
#              std from libstd-rust-web-dev:armhf.
#   aarch64 -> aarch64-unknown-linux-gnu, static. Pi 3/4/5, Zero 2 W, 64-bit OS.
#              std from libstd-rust-web-dev:arm64.
#   x86_64  -> x86_64-unknown-linux-gnu (the host), dynamic.
# Every build uses Debian's /usr/bin/cargo with RUSTC=/usr/bin/rustc (rustc-web 1.85: the
# project's minimum supported Rust); rustup and any rust-toolchain file are not involved.
#
# Version pick (deterministic): the newest version that the MAIN archive (bookworm,
# bookworm-updates; not bookworm-security, whose armhf index failed to load on most tries
# here) offers for rustc-web, cargo-web, libstd-rust-web-dev (amd64) and for every foreign
# piece the asked targets need (libstd-rust-web-dev:armhf / :arm64, rust-web-src), all
# equal. PRIMECLUSTER_RUST_VERSION=VERSION pins it instead (it must exist for all of them).
# A consistent installed set is kept without touching apt (TOOLCHAIN_REFRESH=1 re-picks).
#
# Functions: tc_setup TARGET... (installs, as root), tc_env TARGET (exports the build
# environment and fills TC_TRIPLE, TC_CARGO_ARGS, TC_RUNNER, TC_STRIP).
# log/warn/die/mktmp below are defaults; a caller that defined its own keeps them.

TC_TAG=${TC_TAG:-toolchain}
declare -F log >/dev/null || log() { printf '[%s] %s\n' "$TC_TAG" "$*"; }
declare -F warn >/dev/null || warn() { printf '[%s] WARNING: %s\n' "$TC_TAG" "$*" >&2; }
declare -F die >/dev/null || die() { printf '[%s] ERROR: %s\n' "$TC_TAG" "$*" >&2; exit 1; }
if ! declare -F mktmp >/dev/null; then
    # mktmp VAR: a temp dir under one $TC_WORK, removed by tc_cleanup (call it on exit).
    TC_WORK=$(mktemp -d)
    chmod 755 "$TC_WORK"
    mktmp() { local d; d=$(mktemp -d -p "$TC_WORK"); printf -v "$1" '%s' "$d"; }
    tc_cleanup() { rm -rf "$TC_WORK"; }
fi

TC_RUSTLIB=/usr/lib/rustlib
TC_RUST_SRC=$TC_RUSTLIB/src/rust/library

tc_triple() { # NAME -> Rust target triple
    case "$1" in
        armv6) echo armv5te-unknown-linux-gnueabi ;;
        armv7) echo armv7-unknown-linux-gnueabihf ;;
        aarch64) echo aarch64-unknown-linux-gnu ;;
        x86_64) echo x86_64-unknown-linux-gnu ;;
        *) return 1 ;;
    esac
}

tc_gnu_prefix() { # NAME -> binutils/gcc prefix ("" for the host)
    case "$1" in
        armv6) echo arm-linux-gnueabi- ;;
        armv7) echo arm-linux-gnueabihf- ;;
        aarch64) echo aarch64-linux-gnu- ;;
        x86_64) echo "" ;;
    esac
}

tc_apt_pkgs() { # NAME -> the (amd64) Debian packages it needs besides rustc-web
    case "$1" in
        armv6) echo gcc-arm-linux-gnueabi libc6-dev-armel-cross qemu-user ;;
        armv7) echo gcc-arm-linux-gnueabihf libc6-dev-armhf-cross qemu-user ;;
        aarch64) echo gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user ;;
        x86_64) echo gcc ;;
    esac
}

tc_foreign_std() { # NAME -> the dpkg architecture whose libstd-rust-web-dev it needs, or ""
    case "$1" in
        armv7) echo armhf ;;
        aarch64) echo arm64 ;;
        *) echo "" ;;
    esac
}

tc_installed_version() { # PKG -> version if installed, else empty
    dpkg-query -W -f='${Status} ${Version}\n' "$1" 2>/dev/null |
        awk '$1 == "install" && $3 == "installed" { print $4 }'
}

tc_main_versions() { # PKG -> versions the main archive (not -security) offers, one per line
    apt-cache madison "$1" 2>/dev/null |
        awk -F'|' '$3 !~ /-security/ { gsub(/ /, "", $2); print $2 }' | sort -u
}

tc_version_pkgs() { # TARGET... -> every PKG[:ARCH] whose version must equal rustc-web's
    local t a
    printf '%s\n' rustc-web cargo-web libstd-rust-web-dev
    for t in "$@"; do
        a=$(tc_foreign_std "$t")
        if [ -n "$a" ]; then printf 'libstd-rust-web-dev:%s\n' "$a"; fi
        if [ "$t" = armv6 ]; then printf 'rust-web-src\n'; fi
    done
}

tc_pick_version() { # TARGET... -> newest version present for every package of tc_version_pkgs
    local common="" p first=1 v best=""
    while read -r p; do
        if [ "$first" = 1 ]; then
            common=$(tc_main_versions "$p")
            first=0
        else
            common=$(comm -12 <(printf '%s\n' "$common") <(tc_main_versions "$p"))
        fi
    done < <(tc_version_pkgs "$@" | sort -u)
    while read -r v; do
        [ -n "$v" ] || continue
        if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best"; then best=$v; fi
    done <<<"$common"
    printf '%s' "$best"
}

tc_stamp() { echo "$TC_RUSTLIB/$1/primecluster-toolchain.version"; }

tc_std_ok() { # TRIPLE VERSION -> 0 if that std is in the rustlib and matches VERSION
    [ -f "$(tc_stamp "$1")" ] && [ "$(cat "$(tc_stamp "$1")")" = "$2" ] &&
        compgen -G "$TC_RUSTLIB/$1/lib/libstd-*.rlib" >/dev/null
}

tc_consistent() { # TARGET... -> 0 if everything they need is installed at one version
    local rv t p a
    rv=$(tc_installed_version rustc-web)
    [ -n "$rv" ] && [ -x /usr/bin/cargo ] && [ -x /usr/bin/rustc ] || return 1
    [ "$(tc_installed_version cargo-web)" = "$rv" ] || return 1
    [ "$(tc_installed_version libstd-rust-web-dev)" = "$rv" ] || return 1
    for t in "$@"; do
        for p in $(tc_apt_pkgs "$t"); do
            [ -n "$(tc_installed_version "$p")" ] || return 1
        done
        a=$(tc_foreign_std "$t")
        if [ -n "$a" ]; then tc_std_ok "$(tc_triple "$t")" "$rv" || return 1; fi
        if [ "$t" = armv6 ]; then
            [ "$(tc_installed_version rust-web-src)" = "$rv" ] || return 1
            [ -f "$TC_RUST_SRC/Cargo.lock" ] || return 1
        fi
    done
    return 0
}

tc_apt_update() {
    local try out
    mktmp out
    out=$out/apt-update.log
    for try in 1 2 3; do
        if apt-get update -q >"$out" 2>&1; then
            log "apt-get update: ok"
            return 0
        fi
        warn "apt-get update reported errors (try $try/3):"
        grep -E '^(E|W):' "$out" | sed 's/^/    /' >&2 || true
        # Only the security archive failing is harmless (versions come from the main
        # archive) and has never healed on a retry here: go on at once.
        if grep -qE '^E: Failed to fetch' "$out" &&
            ! grep -E '^E: Failed to fetch' "$out" | grep -qv -- '-security'; then
            warn "only security-archive indexes failed: going on (the version pick does not use them)"
            return 0
        fi
        if [ "$try" -lt 3 ]; then sleep $((try * 5)); fi
    done
    # Typically the security archive's armhf index (mirror mid-sync). The version pick
    # reads the main archive only, so that index is not needed.
    warn "going on with the package indexes that did load"
}

tc_apt_install() { # PKG... ; retried: see below
    local try
    for try in 1 2 3; do
        # --allow-downgrades: a newer rustc-web may be installed than the one every
        # architecture has. Retried because this image's docker-clean hook deletes the
        # downloaded .debs after each dpkg run, so an install that apt splits into several
        # dpkg runs fails on its first try; the next try finds the first part installed.
        if apt-get install -y -q --no-install-recommends --allow-downgrades "$@"; then return 0; fi
        warn "apt-get install failed (try $try/3)"
    done
    die "apt-get install $* failed 3 times"
}

tc_install_std() { # ARCH TRIPLE VERSION: libstd-rust-web-dev:ARCH's rustlib -> /usr/lib/rustlib
    local arch=$1 triple=$2 ver=$3 dl
    if tc_std_ok "$triple" "$ver"; then
        log "$arch std $ver already in $TC_RUSTLIB/$triple"
        return 0
    fi
    mktmp dl
    chmod 755 "$dl"
    chown _apt "$dl" 2>/dev/null || true # lets apt download sandboxed, without a notice
    log "apt-get download libstd-rust-web-dev:$arch=$ver"
    (cd "$dl" && apt-get download -q "libstd-rust-web-dev:$arch=$ver")
    dpkg -x "$dl"/libstd-rust-web-dev_*_"$arch".deb "$dl/x"
    [ -d "$dl/x/usr/lib/rustlib/$triple" ] || die "libstd-rust-web-dev:$arch has no usr/lib/rustlib/$triple"
    rm -rf "${TC_RUSTLIB:?}/$triple"
    mkdir -p "$TC_RUSTLIB"
    cp -a "$dl/x/usr/lib/rustlib/$triple" "$TC_RUSTLIB/"
    printf '%s\n' "$ver" >"$(tc_stamp "$triple")"
    log "installed $TC_RUSTLIB/$triple from libstd-rust-web-dev:$arch $ver"
}

tc_setup() { # TARGET...: install what these targets need (idempotent)
    local t a ver series want=() p
    for t in "$@"; do tc_triple "$t" >/dev/null || die "unknown target '$t' (armv6, armv7, aarch64, x86_64)"; done
    if [ "${TOOLCHAIN_REFRESH:-0}" != 1 ] && tc_consistent "$@"; then
        log "toolchain already installed for $*: rustc-web $(tc_installed_version rustc-web); skipping apt"
        return 0
    fi
    [ "$(id -u)" -eq 0 ] || die "installing the toolchain needs root (see cross/README.md for the packages)"
    for t in "$@"; do
        a=$(tc_foreign_std "$t")
        if [ -n "$a" ] && ! dpkg --print-foreign-architectures | grep -qx "$a"; then
            log "dpkg --add-architecture $a"
            dpkg --add-architecture "$a"
        fi
    done
    tc_apt_update

    if [ -n "${PRIMECLUSTER_RUST_VERSION:-}" ]; then
        ver=$PRIMECLUSTER_RUST_VERSION
        log "rustc-web $ver pinned by PRIMECLUSTER_RUST_VERSION"
    else
        ver=$(tc_pick_version "$@")
        if [ -z "$ver" ]; then
            while read -r p; do warn "$p in the main archive: $(tc_main_versions "$p" | tr '\n' ' ')"; done \
                < <(tc_version_pkgs "$@" | sort -u)
            die "no rustc-web version exists in the main archive for every package above"
        fi
        log "picked rustc-web $ver (newest in the main archive for: $(tc_version_pkgs "$@" | sort -u | tr '\n' ' '))"
    fi
    # rustc-web depends on libstd-rust-web-MAJOR.MINOR (= its version): named explicitly so
    # that apt cannot pair it with a newer libstd from another suite.
    series=$(printf '%s' "$ver" | sed -E 's/^([0-9]+\.[0-9]+).*/\1/')
    for p in rustc-web cargo-web libstd-rust-web-dev "libstd-rust-web-$series"; do
        [ "$(tc_installed_version "$p")" = "$ver" ] || want+=("$p=$ver")
    done
    for t in "$@"; do
        if [ "$t" = armv6 ] && [ "$(tc_installed_version rust-web-src)" != "$ver" ]; then
            want+=("rust-web-src=$ver")
        fi
        for p in $(tc_apt_pkgs "$t"); do
            [ -n "$(tc_installed_version "$p")" ] || want+=("$p")
        done
    done
    if [ "${#want[@]}" -gt 0 ]; then
        mapfile -t want < <(printf '%s\n' "${want[@]}" | sort -u)
        log "apt-get install ${want[*]}"
        tc_apt_install "${want[@]}"
    else
        log "apt packages already installed"
    fi
    for t in "$@"; do
        a=$(tc_foreign_std "$t")
        if [ -n "$a" ]; then tc_install_std "$a" "$(tc_triple "$t")" "$ver"; fi
    done
    tc_consistent "$@" || die "toolchain still inconsistent after install (see above)"
}

# tc_env TARGET [static|dynamic]: export the environment Debian's cargo needs for TARGET.
# Sets TC_TRIPLE, TC_CARGO_ARGS (target and, for armv6, -Zbuild-std), TC_RUNNER (the qemu
# command line, empty for the host) and TC_STRIP, for the caller. ARM defaults to static (one
# binary whatever the Pi's OS release); `dynamic` links armv7/aarch64 against glibc,
# run under qemu with -L (armv6 is always static: see the header).
tc_env() {
    local name=$1 link=${2:-static} triple env pre qemu libc_dir
    triple=$(tc_triple "$name") || die "unknown target '$name'"
    env=$(printf '%s' "$triple" | tr 'a-z-' 'A-Z_')
    pre=$(tc_gnu_prefix "$name")
    export RUSTC=/usr/bin/rustc
    if [ -x /usr/bin/rustdoc ]; then export RUSTDOC=/usr/bin/rustdoc; fi
    export PATH="/usr/bin:/bin:$PATH" # `rustc`/`cargo` by name -> Debian's, not rustup's
    unset RUSTUP_TOOLCHAIN CARGO_BUILD_TARGET RUSTFLAGS CARGO_ENCODED_RUSTFLAGS
    # shellcheck disable=SC2034 # read by the scripts that source this file
    TC_TRIPLE=$triple TC_STRIP=${pre}strip
    TC_CARGO_ARGS=(--target "$triple")
    TC_RUNNER=""
    [ "$name" = x86_64 ] && return 0
    [ "$name" = armv6 ] && link=static
    export "CARGO_TARGET_${env}_LINKER=${pre}gcc"
    export "CC_${triple//-/_}=${pre}gcc"
    export "AR_${triple//-/_}=${pre}ar"
    case "$name" in
        armv6) qemu="qemu-arm -cpu arm1176" libc_dir=/usr/arm-linux-gnueabi ;;
        armv7) qemu="qemu-arm -cpu cortex-a7" libc_dir=/usr/arm-linux-gnueabihf ;;
        aarch64) qemu="qemu-aarch64 -cpu cortex-a53" libc_dir=/usr/aarch64-linux-gnu ;;
    esac
    if [ "$link" = static ]; then
        export "CARGO_TARGET_${env}_RUSTFLAGS=-C target-feature=+crt-static"
        TC_RUNNER=$qemu
    else
        export "CARGO_TARGET_${env}_RUSTFLAGS="
        TC_RUNNER="$qemu -L $libc_dir"
    fi
    export "CARGO_TARGET_${env}_RUNNER=$TC_RUNNER"
    if [ "$name" = armv6 ]; then
        # Debian has no armel std: build it from rust-web-src (same version as rustc).
        export RUSTC_BOOTSTRAP=1
        # Without std's "backtrace" feature (gimli, addr2line, miniz: about 100 KB of
        # the 2 MiB budget): a panic still prints its message, RUST_BACKTRACE shows no
        # symbolised frames on this target.
        TC_CARGO_ARGS+=("-Zbuild-std=std,panic_abort" "-Zbuild-std-features=panic-unwind")
    fi
}

# tc_check_armv6 BINARY: readelf -A must show an ARMv6-or-older CPU arch and no Thumb-2.
tc_check_armv6() {
    local bin=$1 attrs arch thumb
    attrs=$(arm-linux-gnueabi-readelf -A "$bin")
    arch=$(awk -F: '/Tag_CPU_arch:/ { gsub(/ /, "", $2); print $2 }' <<<"$attrs")
    thumb=$(awk -F: '/Tag_THUMB_ISA_use:/ { gsub(/^ +/, "", $2); print $2 }' <<<"$attrs")
    log "$bin: Tag_CPU_arch ${arch:-?}, Tag_THUMB_ISA_use ${thumb:-?}"
    case "$arch" in
        # v6T2 (Thumb-2) and every v7/v8 are what a Pi 1's ARM1176 (v6KZ) lacks.
        v4 | v4T | v5T | v5TE | v5TEJ | v6 | v6KZ | v6K) ;;
        *) die "$bin: Tag_CPU_arch '$arch' is not ARMv6 or older: it would not run on a Pi 1 / Zero" ;;
    esac
    case "$thumb" in
        *Thumb-2*) die "$bin: Thumb-2 code (a Pi 1 / Zero has no Thumb-2)" ;;
    esac
    if grep -q 'Tag_CPU_arch_profile' <<<"$attrs"; then
        die "$bin: has a CPU arch profile (v7-A/R/M) attribute"
    fi
}
