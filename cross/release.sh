#!/usr/bin/env bash
# cross/release.sh [TARGET...] — release binaries for the Raspberry Pis (and x86_64),
# without Docker. TARGET is one of: armv6 armv7 aarch64 x86_64 (default: all four).
#
#   armv6   Pi 1 (A, B, A+, B+), Zero, Zero W          (built as armv5te-…-gnueabi, static)
#   armv7   Pi 2, and Pi 3/4/5/Zero 2 W on a 32-bit OS  (static)
#   aarch64 Pi 3/4/5, Zero 2 W on a 64-bit OS           (static)
#   x86_64  PCs                                          (dynamic glibc)
#
# Run as root on Debian 12 (bookworm) amd64 the first time: it installs its toolchains
# (see cross/toolchain.sh for what and why); later runs need no root. Output:
# target/dist/primecluster-TARGET, stripped; for armv6 `readelf -A` must show no ARMv7 or
# Thumb-2 code and the stripped size must be at most 2 MiB. Each ARM binary is run once
# (`--help`, and `primes 1 100` checked) under its qemu: armv6 under `qemu-arm -cpu
# arm1176` (the Pi 1's CPU). Prints sizes, sha256 sums and build times.
# Build files go to target/cross (RELEASE_TARGET_DIR overrides); cross/arm-check.sh uses
# the same folder so that its test builds reuse these. The release profile of Cargo.toml
# is used as it is, unless the caller exported CARGO_PROFILE_RELEASE_* (arm-check's fast mode).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
TC_TAG=release
# shellcheck source=cross/toolchain.sh
. "$ROOT/cross/toolchain.sh"
trap tc_cleanup EXIT

ARMV6_MAX_BYTES=$((2 * 1024 * 1024))
TARGET_DIR=${RELEASE_TARGET_DIR:-$ROOT/target/cross}
DIST=$ROOT/target/dist
export DEBIAN_FRONTEND=noninteractive
# build.rs: a C compile failure must fail the build, not fall back to the Rust twins.
export PRIMECLUSTER_STRICT_C=1

TARGETS=("$@")
if [ "${#TARGETS[@]}" -eq 0 ]; then TARGETS=(armv6 armv7 aarch64 x86_64); fi
for t in "${TARGETS[@]}"; do
    tc_triple "$t" >/dev/null || die "unknown target '$t': use armv6, armv7, aarch64 or x86_64"
done

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

tc_setup "${TARGETS[@]}"
mkdir -p "$DIST"
log "cargo: $(/usr/bin/cargo --version); rustc: $(/usr/bin/rustc --version)"

# check_c_linked NAME: with csrc/*.c present, build.rs must have linked them (it may fall
# back to the Rust twins silently when the C does not compile; STRICT_C makes that an
# error, and this checks it did not happen some other way).
check_c_linked() {
    local libs
    if ! compgen -G "csrc/*.c" >/dev/null; then
        log "no csrc/*.c: C-linkage check skipped"
        return 0
    fi
    libs=$(grep '"reason":"build-script-executed"' "$TC_WORK/build-$1.json" |
        grep '"package_id":"[^"]*primecluster' | grep -o '"linked_libs":\[[^]]*\]' || true)
    log "$1: build.rs linked ${libs:-nothing}"
    case "$libs" in
        *'"linked_libs":[]'* | '') die "$1: csrc/*.c exist but build.rs linked no C library (fell back to the Rust twins?)" ;;
    esac
}

# Each target in a subshell: tc_env exports per-target variables.
build_one() {
    local name=$1 t0 bin out size sum
    tc_env "$name"
    if [ "$name" = armv6 ]; then
        # The shipped ARMv6 binary aborts on a panic instead of unwinding (the program
        # never relies on catching one; a service restarts it): no unwind tables and
        # landing pads, which keeps it within its 2 MiB budget.
        export CARGO_TARGET_ARMV5TE_UNKNOWN_LINUX_GNUEABI_RUSTFLAGS="${CARGO_TARGET_ARMV5TE_UNKNOWN_LINUX_GNUEABI_RUSTFLAGS:-} -C panic=abort"
    fi
    t0=$(date +%s.%N)
    log "==== $name: cargo build --release ${TC_CARGO_ARGS[*]}"
    /usr/bin/cargo build --locked --release "${TC_CARGO_ARGS[@]}" --target-dir "$TARGET_DIR" \
        --message-format=json-render-diagnostics >"$TC_WORK/build-$name.json"
    BUILD_SECS=$(elapsed "$t0")
    check_c_linked "$name"
    bin=$TARGET_DIR/$TC_TRIPLE/release/primecluster
    out=$DIST/primecluster-$name
    "$TC_STRIP" -o "$out.tmp" "$bin"
    mv -f "$out.tmp" "$out"
    if [ "$name" = armv6 ]; then
        tc_check_armv6 "$out"
        size=$(stat -c %s "$out")
        if [ "$size" -gt "$ARMV6_MAX_BYTES" ]; then
            # A modified profile (arm-check's fast mode: no LTO) only makes it larger, so
            # the budget binds the shipping profile alone; the fast build only warns.
            if env | grep -q '^CARGO_PROFILE_RELEASE_'; then
                warn "$out is $size bytes stripped, over the 2 MiB ($ARMV6_MAX_BYTES) budget, but the release profile is overridden ($(env | grep '^CARGO_PROFILE_RELEASE_' | tr '\n' ' ')): the shipping profile gives a smaller binary; check with a plain cross/release.sh armv6"
            else
                die "$out is $size bytes stripped, over the 2 MiB ($ARMV6_MAX_BYTES) budget"
            fi
        fi
    fi
    # Run it once on its (emulated) CPU: the binary starts and computes.
    local want got
    want=$(printf '%s\n' 2 3 5 7 11 13 17 19 23 29 31 37 41 43 47 53 59 61 67 71 73 79 83 89 97)
    # shellcheck disable=SC2086 # TC_RUNNER is a command line (empty for the host)
    $TC_RUNNER "$out" --help >/dev/null
    # shellcheck disable=SC2086
    got=$($TC_RUNNER "$out" primes 1 100)
    [ "$got" = "$want" ] || die "$out primes 1 100 under '${TC_RUNNER:-native}' printed: $got"
    sum=$(sha256sum "$out" | awk '{ print $1 }')
    printf '%s %s %s %s\n' "$name" "$(stat -c %s "$out")" "$BUILD_SECS" "$sum" >>"$SUMMARY"
    log "$name: $out ok (runs under ${TC_RUNNER:-the host})"
}

SUMMARY=$TC_WORK/summary
: >"$SUMMARY"
for t in "${TARGETS[@]}"; do (build_one "$t"); done

printf '\n%-8s %10s %9s  %-64s  %s\n' target bytes build_s sha256 file
while read -r name size secs sum; do
    printf '%-8s %10s %9s  %-64s  %s\n' "$name" "$size" "$secs" "$sum" "target/dist/primecluster-$name"
done <"$SUMMARY"
