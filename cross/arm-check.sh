#!/usr/bin/env bash
# cross/arm-check.sh — build and test primecluster for 32-bit ARM without Docker.
#
# Run from anywhere in the repo (it cd's to the repo root), as root, on Debian 12
# (bookworm) amd64. It installs what it needs itself (idempotent, non-interactive):
#   * Debian's rustc-web / cargo-web / libstd-rust-web-dev (amd64) at the newest version
#     that ALSO exists as libstd-rust-web-dev:armhf, plus that armhf package's
#     usr/lib/rustlib/armv7-unknown-linux-gnueabihf copied into /usr/lib/rustlib/
#     (the armhf std must match the host rustc exactly);
#   * gcc-arm-linux-gnueabihf, libc6-dev-armhf-cross, qemu-user (explicit runner, no binfmt).
# The rustup toolchain in PATH is NOT used: every cargo call is /usr/bin/cargo with
# RUSTC=/usr/bin/rustc (Debian 1.85 = the project's minimum supported Rust), so a
# rust-toolchain file cannot interfere (only rustup reads it).
#
# What it checks (target armv7-unknown-linux-gnueabihf = Pi 2/3/4/5 and Zero 2 on a 32-bit OS):
#   1. `cargo build --release` of the whole crate (bins included) with the C kernels
#      (csrc/*.c compiled by build.rs with arm-linux-gnueabihf-gcc), and that build.rs really
#      linked C when csrc/*.c exist (no silent fall-back to pure Rust).
#   2. `cargo test --release` under qemu-arm of:
#        --lib  plus every tests/*.rs whose name starts with
#        sieve_ math_ trial_ big_ kernel gaps wire_ output_
#      (found by glob, so new files are picked up), except measurement-only files named
#      *_bench.rs / *_throughput.rs (all #[ignore]d; not worth an LTO build for ARM).
#      NOT run here: every other tests/*.rs, in particular the multi-process network
#      tests tests/cluster_*.rs (they run natively); and the heaviest tests, listed in
#      EMULATION_SKIP below, which take minutes each under qemu (~100x slower than
#      native). Each of those runs natively in `cargo test --release`; the 32-bit code
#      paths they exercise are also covered by the lighter tests kept here.
#   3. the same lib tests again with `--features pure-rust` (the Rust twins of the C kernels).
#   4. ARMv6 (Pi 1 / Zero / Zero W): Debian has no Rust std for arm-unknown-linux-gnueabihf,
#      so it compiles every csrc/*.c with
#        arm-linux-gnueabihf-gcc -marm -march=armv6zk -mfpu=vfp -mfloat-abi=hard -O2 -Wall -Wextra -Werror
#      into a temp dir and checks the objects are tagged ARMv6. (Full ARMv6 builds: Cross.toml.)
# Build output goes to target/arm (override: ARM_CHECK_TARGET_DIR) so it never fights the
# native build in target/.
#
# Env knobs: ARM_CHECK_REFRESH=1 re-runs apt-get update and re-picks the newest matching
# rustc-web even when a consistent set is already installed. ARM_CHECK_FAST=1 builds the
# armv7 release profile without LTO and with 16 codegen units (still opt-level 3, no debug
# assertions): about a third of the compile CPU time, at the cost of not checking the LTO
# link that the shipped binaries get (measured: 38 s vs 106 s CPU for 4 test binaries).
# Exit status: 0 only if every step passed. Timings are printed per step and at the end.
set -euo pipefail

TARGET=armv7-unknown-linux-gnueabihf
TARGET_ENV=ARMV7_UNKNOWN_LINUX_GNUEABIHF
CROSS_GCC=arm-linux-gnueabihf-gcc
QEMU_PREFIX=/usr/arm-linux-gnueabihf
RUSTLIB=/usr/lib/rustlib
STAMP="$RUSTLIB/$TARGET/primecluster-arm-check.version"
TEST_PREFIXES=(sieve_ math_ trial_ big_ kernel gaps wire_ output_)
APT_PKGS=(gcc-arm-linux-gnueabihf libc6-dev-armhf-cross qemu-user)
export DEBIAN_FRONTEND=noninteractive

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
TARGET_DIR=${ARM_CHECK_TARGET_DIR:-$ROOT/target/arm}

# ---------------------------------------------------------------- reporting / timing
T_START=$(date +%s.%N)
STEP_NAMES=()
STEP_TIMES=()
CURRENT_STEP="(start)"
TMPDIRS=()

log()  { printf '[arm-check] %s\n' "$*"; }
warn() { printf '[arm-check] WARNING: %s\n' "$*" >&2; }
die()  { printf '[arm-check] ERROR: %s\n' "$*" >&2; exit 1; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

summary() {
    local i
    printf '[arm-check] ---- timings ----\n'
    for i in "${!STEP_NAMES[@]}"; do
        printf '[arm-check]   %-44s %7s\n' "${STEP_NAMES[$i]}" "${STEP_TIMES[$i]}"
    done
    printf '[arm-check]   %-44s %7s\n' "total" "$(elapsed "$T_START")s"
}

on_exit() {
    local rc=$?
    local d
    for d in "${TMPDIRS[@]}"; do rm -rf "$d"; done
    summary
    if [ "$rc" -eq 0 ]; then
        printf '[arm-check] RESULT: PASSED\n'
    else
        printf '[arm-check] RESULT: FAILED in step "%s" (exit %s)\n' "$CURRENT_STEP" "$rc" >&2
    fi
    exit "$rc"
}
trap on_exit EXIT

# step NAME FUNCTION [ARGS...]: run FUNCTION, print and record its wall time.
# (Not called in an `if`/`||` context, so `set -e` stays in force inside FUNCTION.)
step() {
    local name=$1 t0
    shift
    CURRENT_STEP=$name
    t0=$(date +%s.%N)
    printf '\n[arm-check] ==== %s\n' "$name"
    "$@"
    STEP_NAMES+=("$name")
    STEP_TIMES+=("$(elapsed "$t0")s")
    printf '[arm-check] ---- %s: ok (%s)\n' "$name" "${STEP_TIMES[-1]}"
}

# chain NAME FN [NAME FN]...: run the steps in order, each in a subshell with `set -e`;
# after a failure the rest of this chain is skipped (recorded), the script goes on.
FAILED_STEPS=()
chain() {
    local name fn rc t0 broken=""
    while [ "$#" -ge 2 ]; do
        name=$1 fn=$2
        shift 2
        if [ -n "$broken" ]; then
            printf '\n[arm-check] ==== %s: SKIPPED (after failure of "%s")\n' "$name" "$broken"
            STEP_NAMES+=("$name")
            STEP_TIMES+=("skipped")
            continue
        fi
        CURRENT_STEP=$name
        t0=$(date +%s.%N)
        printf '\n[arm-check] ==== %s\n' "$name"
        set +e
        ( set -e; "$fn" )
        rc=$?
        set -e
        STEP_NAMES+=("$name")
        STEP_TIMES+=("$(elapsed "$t0")s")
        if [ "$rc" -eq 0 ]; then
            printf '[arm-check] ---- %s: ok (%s)\n' "$name" "${STEP_TIMES[-1]}"
        else
            printf '[arm-check] ---- %s: FAILED (exit %s, %s)\n' "$name" "$rc" "${STEP_TIMES[-1]}" >&2
            STEP_TIMES[-1]="${STEP_TIMES[-1]} FAILED"
            FAILED_STEPS+=("$name")
            broken=$name
        fi
    done
}

# mktmp VAR: make a temp dir under $WORK (removed on exit) and store its path in VAR.
# (Steps run in subshells, so one parent-owned $WORK is what gets cleaned up.)
WORK=$(mktemp -d)
chmod 755 "$WORK"
TMPDIRS+=("$WORK")
mktmp() { local d; d=$(mktemp -d -p "$WORK"); printf -v "$1" '%s' "$d"; }

# ---------------------------------------------------------------- toolchain setup
installed_version() { # PKG -> version if installed, else empty
    dpkg-query -W -f='${Status} ${Version}\n' "$1" 2>/dev/null |
        awk '$1 == "install" && $3 == "installed" { print $4 }'
}

archive_versions() { # PKG -> every version apt knows, one per line
    apt-cache madison "$1" 2>/dev/null | awk -F'|' '{ gsub(/ /, "", $2); print $2 }' | sort -u
}

apt_update() {
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
        if [ "$try" -lt 3 ]; then sleep $((try * 5)); fi
    done
    # A mirror mid-sync often breaks one index only; the versions we pick below come
    # from whatever indexes did load, and the install fails loudly if that is not enough.
    warn "going on with the package indexes that did load"
}

toolchain_consistent() { # 0 if everything needed is installed and matches
    local rv
    dpkg --print-foreign-architectures | grep -qx armhf || return 1
    for p in "${APT_PKGS[@]}"; do
        [ -n "$(installed_version "$p")" ] || return 1
    done
    rv=$(installed_version rustc-web)
    [ -n "$rv" ] || return 1
    [ "$(installed_version cargo-web)" = "$rv" ] || return 1
    [ "$(installed_version libstd-rust-web-dev)" = "$rv" ] || return 1
    [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$rv" ] || return 1
    compgen -G "$RUSTLIB/$TARGET/lib/libstd-*.rlib" >/dev/null || return 1
    [ -x /usr/bin/cargo ] && [ -x /usr/bin/rustc ] || return 1
    return 0
}

pick_rust_version() { # newest version present for rustc-web, cargo-web (amd64) AND libstd:armhf
    local best="" v
    while read -r v; do
        [ -n "$v" ] || continue
        if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best"; then best=$v; fi
    done < <(comm -12 <(archive_versions rustc-web) <(archive_versions libstd-rust-web-dev:armhf) |
             comm -12 - <(archive_versions cargo-web))
    printf '%s' "$best"
}

setup_toolchain() {
    if [ "${ARM_CHECK_REFRESH:-0}" != 1 ] && toolchain_consistent; then
        log "toolchain already installed: rustc-web $(installed_version rustc-web) with matching armhf std; skipping apt"
        return 0
    fi
    [ "$(id -u)" -eq 0 ] || die "installing the toolchain needs root (run as root, or install as described in cross/README.md)"

    if ! dpkg --print-foreign-architectures | grep -qx armhf; then
        log "dpkg --add-architecture armhf"
        dpkg --add-architecture armhf
    fi
    apt_update

    local ver
    ver=$(pick_rust_version)
    if [ -z "$ver" ]; then
        warn "rustc-web versions (amd64):          $(archive_versions rustc-web | tr '\n' ' ')"
        warn "libstd-rust-web-dev versions (armhf): $(archive_versions libstd-rust-web-dev:armhf | tr '\n' ' ')"
        die "no rustc-web version exists for both amd64 and armhf"
    fi
    log "picked rustc-web $ver (newest version present for amd64 and armhf)"

    local want=()
    for p in "${APT_PKGS[@]}"; do
        [ -n "$(installed_version "$p")" ] || want+=("$p")
    done
    for p in rustc-web cargo-web libstd-rust-web-dev; do
        [ "$(installed_version "$p")" = "$ver" ] || want+=("$p=$ver")
    done
    if [ "${#want[@]}" -gt 0 ]; then
        log "apt-get install ${want[*]}"
        # --allow-downgrades: when amd64 has a newer rustc-web than armhf, we must take the
        # older, matching one.
        apt-get install -y -q --no-install-recommends --allow-downgrades "${want[@]}"
    else
        log "apt packages already installed"
    fi

    if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$ver" ] &&
        compgen -G "$RUSTLIB/$TARGET/lib/libstd-*.rlib" >/dev/null; then
        log "armhf std $ver already in $RUSTLIB/$TARGET"
    else
        local dl
        mktmp dl
        chmod 755 "$dl"
        chown _apt "$dl" 2>/dev/null || true # lets apt download sandboxed, without a notice
        log "apt-get download libstd-rust-web-dev:armhf=$ver"
        (cd "$dl" && apt-get download -q "libstd-rust-web-dev:armhf=$ver")
        dpkg -x "$dl"/libstd-rust-web-dev_*_armhf.deb "$dl/x"
        [ -d "$dl/x/usr/lib/rustlib/$TARGET" ] || die "package has no usr/lib/rustlib/$TARGET"
        rm -rf "${RUSTLIB:?}/$TARGET"
        mkdir -p "$RUSTLIB"
        cp -a "$dl/x/usr/lib/rustlib/$TARGET" "$RUSTLIB/"
        printf '%s\n' "$ver" >"$STAMP"
        log "installed $RUSTLIB/$TARGET from libstd-rust-web-dev:armhf $ver"
    fi
    toolchain_consistent || die "toolchain still inconsistent after install (see above)"
}

# ---------------------------------------------------------------- build environment
use_debian_rust() {
    export RUSTC=/usr/bin/rustc
    if [ -x /usr/bin/rustdoc ]; then export RUSTDOC=/usr/bin/rustdoc; fi
    export PATH="/usr/bin:/bin:$PATH" # `rustc`/`cargo` by name -> Debian's, not rustup's
    unset RUSTUP_TOOLCHAIN CARGO_BUILD_TARGET
    export "CARGO_TARGET_${TARGET_ENV}_LINKER=$CROSS_GCC"
    export "CARGO_TARGET_${TARGET_ENV}_RUNNER=qemu-arm -L $QEMU_PREFIX"
    export "CC_${TARGET//-/_}=$CROSS_GCC"
    export "AR_${TARGET//-/_}=arm-linux-gnueabihf-ar"
    # build.rs: a C compile failure must fail the build, not fall back to the Rust twins.
    export PRIMECLUSTER_STRICT_C=1
    # Tells tests they run under emulation (qemu-arm is ~5-20x slower than native): a test
    # with big random/exhaustive loops may shrink them when this is set. Nothing else.
    export PRIMECLUSTER_TEST_EMULATED=1
    if [ "${ARM_CHECK_FAST:-0}" = 1 ]; then
        export CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
        log "ARM_CHECK_FAST=1: release profile with lto=off, codegen-units=16"
    fi
    CARGO=(/usr/bin/cargo)
    CARGO_ARGS=(--locked --release --target "$TARGET" --target-dir "$TARGET_DIR")

    log "cargo:  $(/usr/bin/cargo --version)"
    log "rustc:  $(/usr/bin/rustc --version)"
    log "gcc:    $($CROSS_GCC --version | head -n1)"
    log "qemu:   $(qemu-arm --version | head -n1)"
    log "target dir: $TARGET_DIR"
    local libdir
    libdir=$(/usr/bin/rustc --print target-libdir --target "$TARGET")
    compgen -G "$libdir/libstd-*.rlib" >/dev/null || die "no std for $TARGET in $libdir"
}

# ---------------------------------------------------------------- steps
C_SOURCES=()
find_c_sources() {
    local f
    C_SOURCES=()
    for f in csrc/*.c; do
        if [ -f "$f" ]; then C_SOURCES+=("$f"); fi
    done
    log "C sources: ${C_SOURCES[*]:-none (csrc/*.c matches nothing)}"
}

TEST_ARGS=()
find_tests() {
    local f name p matched skipped=()
    TEST_ARGS=(--lib)
    for f in tests/*.rs; do
        [ -f "$f" ] || continue
        name=$(basename "$f" .rs)
        matched=0
        for p in "${TEST_PREFIXES[@]}"; do
            case "$name" in "$p"*) matched=1 ;; esac
        done
        case "$name" in *_bench | *_throughput) matched=0 ;; esac
        if [ "$matched" = 1 ]; then TEST_ARGS+=(--test "$name"); else skipped+=("$name"); fi
    done
    log "test targets run under qemu: ${TEST_ARGS[*]}"
    log "tests/*.rs not run here (native CI runs them): ${skipped[*]:-none}"
}

build_release() {
    local json
    mktmp json
    json=$json/build.json
    "${CARGO[@]}" build "${CARGO_ARGS[@]}" --message-format=json-render-diagnostics >"$json"
    local bin="$TARGET_DIR/$TARGET/release/primecluster"
    if [ -f "$bin" ]; then
        log "built $bin ($(stat -c %s "$bin") bytes): $(arm-linux-gnueabihf-readelf -h "$bin" | awk -F: '/Machine/ { gsub(/^ +/, "", $2); print $2 }')"
        log "smoke: primecluster --help under qemu-arm"
        qemu-arm -L "$QEMU_PREFIX" "$bin" --help >/dev/null
    fi
    # With csrc/*.c present (and no pure-rust feature) build.rs must have linked C for ARM.
    if [ "${#C_SOURCES[@]}" -gt 0 ]; then
        local libs
        libs=$(grep '"reason":"build-script-executed"' "$json" | grep '"package_id":"[^"]*primecluster' |
            grep -o '"linked_libs":\[[^]]*\]' || true)
        log "build.rs linked: ${libs:-nothing}"
        case "$libs" in
            *'"linked_libs":[]'* | '') die "csrc/*.c exist but build.rs linked no C library for $TARGET: the C kernels were not built (fell back to pure Rust?)" ;;
        esac
    else
        log "no csrc/*.c yet: C-linkage check skipped"
    fi
}

build_tests() { "${CARGO[@]}" test "${CARGO_ARGS[@]}" --no-run "${TEST_ARGS[@]}"; }
# Tests left out under emulation (exact names; see the header).
EMULATION_SKIP=(
    forward_skips_like_a_worker_thread      # sieve_correctness, 2.5 s native
    random_ranges_against_reference         # sieve_correctness, 2.5 s native
    pi_of_ten_to_the_ten                    # sieve_correctness, 1.2 s native
    count_equals_number_of_primes_listed    # sieve_correctness, 0.7 s native
    known_prime_counts                      # big_presieve, 1.2 s native
    random_u64_ranges                       # trial_kernels, 0.9 s native
)
skip_args() { local t; for t in "${EMULATION_SKIP[@]}"; do printf -- '--skip\n%s\n' "$t"; done; }
run_tests()   {
    local skips; mapfile -t skips < <(skip_args)
    log "skipped under emulation: ${EMULATION_SKIP[*]}"
    "${CARGO[@]}" test "${CARGO_ARGS[@]}" --no-fail-fast "${TEST_ARGS[@]}" -- --exact "${skips[@]}"
}
build_tests_pure() { "${CARGO[@]}" test "${CARGO_ARGS[@]}" --features pure-rust --no-run --lib; }
run_tests_pure()   { "${CARGO[@]}" test "${CARGO_ARGS[@]}" --no-fail-fast --features pure-rust --lib; }

armv6_c() {
    if [ "${#C_SOURCES[@]}" -eq 0 ]; then
        log "SKIP: no csrc/*.c files yet, nothing to compile for ARMv6"
        return 0
    fi
    local out f obj arch
    mktmp out
    for f in "${C_SOURCES[@]}"; do
        obj="$out/$(basename "$f" .c).o"
        log "$CROSS_GCC -marm -march=armv6zk -mfpu=vfp -mfloat-abi=hard -O2 -Wall -Wextra -Werror -Icsrc -c $f"
        "$CROSS_GCC" -marm -march=armv6zk -mfpu=vfp -mfloat-abi=hard -O2 -Wall -Wextra -Werror \
            -Icsrc -c "$f" -o "$obj"
        arch=$(arm-linux-gnueabihf-readelf -A "$obj" | awk -F: '/Tag_CPU_arch:/ { gsub(/ /, "", $2); print $2 }')
        log "  $obj: Tag_CPU_arch $arch"
        case "$arch" in v6*) ;; *) die "$f: object is tagged '$arch', not ARMv6" ;; esac
    done
}

# ---------------------------------------------------------------- main
log "repo: $ROOT"
step "install toolchain (apt, armhf std)" setup_toolchain
CURRENT_STEP="toolchain check / test discovery"
use_debian_rust
find_c_sources
find_tests
# Three independent chains; each stops at its first failure, the others still run, and
# the script fails at the end if anything failed.
chain "armv7: cargo build --release (C kernels)" build_release \
      "armv7: build tests" build_tests \
      "armv7: run tests under qemu" run_tests
chain "armv7: build lib tests, pure-rust" build_tests_pure \
      "armv7: run lib tests under qemu, pure-rust" run_tests_pure
chain "armv6: compile csrc/*.c" armv6_c
CURRENT_STEP="(done)"
if [ "${#FAILED_STEPS[@]}" -gt 0 ]; then
    CURRENT_STEP=$(IFS=';'; printf '%s' "${FAILED_STEPS[*]}")
    exit 1
fi
