#!/usr/bin/env bash
# cross/arm-check.sh — build and test primecluster for the Raspberry Pis without Docker.
#
# Run from anywhere in the repo (it cd's to the repo root), as root, on Debian 12
# (bookworm) amd64. It installs what it needs itself through cross/toolchain.sh
# (idempotent, non-interactive; see that file for the packages, the deterministic version
# pick and why ARMv6 is built as static armel with -Zbuild-std). Every cargo call is
# Debian's /usr/bin/cargo with RUSTC=/usr/bin/rustc (1.85 = the minimum supported Rust).
#
# What it checks, in three independent chains (a failure stops its own chain only):
#   armv6 (Pi 1 / Zero; armv5te-unknown-linux-gnueabi, static):
#     1. cross/release.sh armv6: release build with the C kernels (PRIMECLUSTER_STRICT_C=1,
#        and build.rs must really have linked C), stripped, readelf -A free of ARMv7 and
#        Thumb-2, at most 2 MiB, run under `qemu-arm -cpu arm1176` (the Pi 1's CPU);
#     2. the test selection (below) built and run under `qemu-arm -cpu arm1176`;
#     3. cross/mixed-cluster.sh: an ARMv6 master + ARMv6 worker under qemu and a native x86
#        worker, the text file compared byte for byte with the native binary and an
#        independent Python sieve. The x86 binary is ARM_CHECK_X86_BIN if set (CI passes
#        the one its native tests just built), else cross/release.sh x86_64 builds it;
#     4. the lib tests again with --features pure-rust (the Rust twins of the C kernels).
#   aarch64 (Pi 3/4/5, Zero 2 W, 64-bit OS; static): the test selection under
#     `qemu-aarch64 -cpu cortex-a53`.
#   armv7 (Pi 2/3/4/5, Zero 2 W, 32-bit OS; static): cross/release.sh armv7 (build, C
#     linked, run under `qemu-arm -cpu cortex-a7`); ARMv6 C with Debian's hard-float gcc
#     (`-marm -march=armv6zk -mfpu=vfp -mfloat-abi=hard`, the Cross.toml route), objects
#     checked to be tagged ARMv6.
# Test selection: --lib plus every tests/*.rs whose name starts with
#   sieve_ math_ trial_ big_ kernel gaps wire_ output_
# (found by glob, so new files are picked up), except the measurement-only *_bench.rs /
# *_throughput.rs, and minus the heaviest single tests listed in EMULATION_SKIP below
# (minutes each under qemu; each runs natively in `cargo test --release`, and the 32-bit
# paths they exercise are covered by the lighter tests kept here). Not run under qemu:
# every other tests/*.rs, notably the multi-process tests/cluster_*.rs (the mixed cluster
# test above covers the network across architectures).
# Build output goes to target/cross (override: ARM_CHECK_TARGET_DIR), shared with
# cross/release.sh so the test builds reuse its dependencies; never target/ itself.
#
# Env knobs: ARM_CHECK_REFRESH=1 re-runs apt-get update and the version pick even when a
# consistent toolchain is installed (PRIMECLUSTER_RUST_VERSION pins it: toolchain.sh).
# ARM_CHECK_FAST=1 builds the release profile without LTO and with 16 codegen units (still
# opt-level 3, no debug assertions): a fraction of the compile time, at the cost of not
# checking the LTO link that `cross/release.sh` alone gives the shipped binaries.
# Exit status: 0 only if every step passed. Timings are printed per step and at the end.
set -euo pipefail

TEST_PREFIXES=(sieve_ math_ trial_ big_ kernel gaps wire_ output_)
export DEBIAN_FRONTEND=noninteractive

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
TARGET_DIR=${ARM_CHECK_TARGET_DIR:-$ROOT/target/cross}

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


# ---------------------------------------------------------------- toolchain
TC_TAG=arm-check
# shellcheck source=cross/toolchain.sh
. "$ROOT/cross/toolchain.sh"
export TOOLCHAIN_REFRESH=${ARM_CHECK_REFRESH:-0}
setup_toolchain() { tc_setup armv6 armv7 aarch64; }

common_env() {
    # build.rs: a C compile failure must fail the build, not fall back to the Rust twins.
    export PRIMECLUSTER_STRICT_C=1
    # Tells tests they run under emulation (qemu is ~5-20x slower than native): a test
    # with big random/exhaustive loops may shrink them when this is set. Nothing else.
    export PRIMECLUSTER_TEST_EMULATED=1
    export RELEASE_TARGET_DIR=$TARGET_DIR
    if [ "${ARM_CHECK_FAST:-0}" = 1 ]; then
        export CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
        log "ARM_CHECK_FAST=1: release profile with lto=off, codegen-units=16"
    fi
    log "cargo:  $(/usr/bin/cargo --version)"
    log "rustc:  $(/usr/bin/rustc --version)"
    log "qemu:   $(qemu-arm --version | head -n1)"
    log "target dir: $TARGET_DIR"
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

# Tests left out under emulation (exact names; see the header).
EMULATION_SKIP=(
    forward_skips_like_a_worker_thread      # sieve_correctness, 2.5 s native
    random_ranges_against_reference         # sieve_correctness, 2.5 s native
    pi_of_ten_to_the_ten                    # sieve_correctness, 1.2 s native
    count_equals_number_of_primes_listed    # sieve_correctness, 0.7 s native
    known_prime_counts                      # big_presieve, 1.2 s native
    random_u64_ranges                       # trial_kernels, 0.9 s native
    going_backwards_and_jumping             # sieve_correctness, over 60 s under qemu-arm -cpu arm1176
    heavy_sieve_seams_near_2_64             # kernel_seams, the 2^32 sieving-prime table (137 MiB) under emulation
    heavy_largest_prime_below_2_pow_64      # sieve_correctness, the same table
    sieve_window_boundaries                 # kernel_seams, many windows near 2^64
    sieve_window_carried_over_consecutive_calls # kernel_seams, 1.7 s native, windows near 1e15
    sieve_short_forward_jumps_keep_the_window # kernel_seams, 5 s native, windows near 1e17
    sieve_long_forward_jumps_keep_the_window # kernel_seams, 3 s native, windows near 1e17
    sieve_run_from_inside_a_segment_keeps_one_carried_window # kernel_seams, 1.9 s native, 1e9 numbers at 2.5e15
    a_run_of_short_chunks_is_sieved_at_1e18 # kernel_runs, windows and Miller-Rabin at 1e18
    lone_and_sparse_short_calls_stay_with_miller_rabin # kernel_runs, 16 M numbers of Miller-Rabin
    heavy_a_run_of_short_chunks_is_sieved_up_to_2_64 # kernel_runs, the 2^32 table
    memory_stays_within_budget              # sieve_correctness, heights up to 1e17
    two_tier_windows_on_a_small_budget      # sieve_correctness, 1.6 s native, windows near 1e17
    decode_of_a_bad_file_leaves_no_output   # output_trust: runs the binary (no binfmt for ARM here)
    run_resume_at_the_top_and_from_nothing  # output_trust: runs the binary
)
skip_args() { local t; for t in "${EMULATION_SKIP[@]}"; do printf -- '--skip\n%s\n' "$t"; done; }

# cargo_for NAME ARGS...: Debian's cargo for target NAME (see tc_env) with the shared args.
cargo_for() {
    local name=$1
    shift
    tc_env "$name"
    /usr/bin/cargo "$1" --locked --release "${TC_CARGO_ARGS[@]}" --target-dir "$TARGET_DIR" "${@:2}"
}
build_tests() { cargo_for "$1" test --no-run "${TEST_ARGS[@]}"; }
run_tests() {
    local skips
    mapfile -t skips < <(skip_args)
    log "skipped under emulation: ${EMULATION_SKIP[*]}"
    cargo_for "$1" test --no-fail-fast "${TEST_ARGS[@]}" -- --exact "${skips[@]}"
}
build_tests_pure() { cargo_for "$1" test --features pure-rust --no-run --lib; }
run_tests_pure() { cargo_for "$1" test --no-fail-fast --features pure-rust --lib; }

armv6_release() { bash cross/release.sh armv6; }
armv6_build_tests() { build_tests armv6; }
armv6_run_tests() { run_tests armv6; }
armv6_build_tests_pure() { build_tests_pure armv6; }
armv6_run_tests_pure() { run_tests_pure armv6; }
mixed_cluster() {
    local x86=${ARM_CHECK_X86_BIN:-}
    if [ -n "$x86" ] && [ ! -x "$x86" ]; then
        warn "ARM_CHECK_X86_BIN=$x86 is not an executable: building one"
        x86=""
    fi
    if [ -z "$x86" ]; then
        bash cross/release.sh x86_64
        x86=$ROOT/target/dist/primecluster-x86_64
    fi
    log "x86 binary: $x86"
    bash cross/mixed-cluster.sh "$ROOT/target/dist/primecluster-armv6" "$x86"
}
aarch64_build_tests() { build_tests aarch64; }
aarch64_run_tests() { run_tests aarch64; }
armv7_release() { bash cross/release.sh armv7; }

armv6_hardfloat_c() {
    if [ "${#C_SOURCES[@]}" -eq 0 ]; then
        log "SKIP: no csrc/*.c files yet, nothing to compile for ARMv6"
        return 0
    fi
    local out f obj arch
    mktmp out
    for f in "${C_SOURCES[@]}"; do
        obj="$out/$(basename "$f" .c).o"
        log "arm-linux-gnueabihf-gcc -marm -march=armv6zk -mfpu=vfp -mfloat-abi=hard -O2 -Wall -Wextra -Werror -Icsrc -c $f"
        arm-linux-gnueabihf-gcc -marm -march=armv6zk -mfpu=vfp -mfloat-abi=hard -O2 -Wall -Wextra -Werror \
            -Icsrc -c "$f" -o "$obj"
        arch=$(arm-linux-gnueabihf-readelf -A "$obj" | awk -F: '/Tag_CPU_arch:/ { gsub(/ /, "", $2); print $2 }')
        log "  $obj: Tag_CPU_arch $arch"
        case "$arch" in v6*) ;; *) die "$f: object is tagged '$arch', not ARMv6" ;; esac
    done
}

# ---------------------------------------------------------------- main
log "repo: $ROOT"
step "install toolchain (apt, std for armhf/arm64, rust-web-src)" setup_toolchain
CURRENT_STEP="environment / test discovery"
common_env
find_c_sources
find_tests
# Independent chains; each stops at its first failure, the others still run, and the
# script fails at the end if anything failed.
chain "armv6: cross/release.sh armv6" armv6_release \
      "armv6: build tests" armv6_build_tests \
      "armv6: run tests, qemu-arm -cpu arm1176" armv6_run_tests \
      "armv6: mixed cluster (ARMv6 master+worker, x86 worker)" mixed_cluster \
      "armv6: build lib tests, pure-rust" armv6_build_tests_pure \
      "armv6: run lib tests, pure-rust" armv6_run_tests_pure
chain "aarch64: build tests" aarch64_build_tests \
      "aarch64: run tests, qemu-aarch64 -cpu cortex-a53" aarch64_run_tests
chain "armv7: cross/release.sh armv7" armv7_release
chain "armv6 hard-float: compile csrc/*.c" armv6_hardfloat_c
CURRENT_STEP="(done)"
if [ "${#FAILED_STEPS[@]}" -gt 0 ]; then
    CURRENT_STEP=$(IFS=';'; printf '%s' "${FAILED_STEPS[*]}")
    exit 1
fi
