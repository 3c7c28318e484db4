#!/usr/bin/env bash
# Runs the `frame` fuzz target (wire::decode + master::check_result) for SECONDS
# (default 60) with cargo-fuzz: on the nightly toolchain where rustup has one, else on
# stable with RUSTC_BOOTSTRAP=1. Installs cargo-fuzz if missing. Where it cannot build
# (no toolchain, no C++ compiler for libFuzzer, no network for crates), it says so and
# exits 0: CI must not depend on nightly. A crash exits 1 and names the input file
# under fuzz/artifacts/frame/ (reproduce: fuzz/run.sh with that file as $2).
set -uo pipefail
secs=${1:-60}
case $secs in ''|*[!0-9]*) echo "usage: fuzz/run.sh [SECONDS] [CRASH-FILE]" >&2; exit 2 ;; esac
cd "$(dirname "$0")"

skip() {
    echo "fuzz: SKIPPED: $*" >&2
    exit 0
}

if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    cargo=(cargo +nightly)
    how="nightly"
else
    export RUSTC_BOOTSTRAP=1
    cargo=(cargo)
    how="stable with RUSTC_BOOTSTRAP=1"
fi
command -v cargo >/dev/null || skip "no cargo"
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked >&2 || skip "cargo-fuzz could not be installed"
fi

# Seeds: the golden frames of tests/wire_golden.rs and some edge cases, written by the
# real encoder (no binary files in git).
mkdir -p seeds corpus/frame
"${cargo[@]}" run --quiet --example seeds -- seeds >&2 || skip "the seed writer did not build ($how)"

sanitizer=()
if ! "${cargo[@]}" fuzz build frame >&2; then
    # Some stable toolchains lack the sanitizer runtime: fuzz without ASan then.
    sanitizer=(--sanitizer none)
    "${cargo[@]}" fuzz build "${sanitizer[@]}" frame >&2 || skip "the fuzz target did not build ($how)"
fi

if [ $# -ge 2 ]; then
    exec "${cargo[@]}" fuzz run "${sanitizer[@]}" frame "$2"
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "fuzz: running frame for $secs s ($how)" >&2
"${cargo[@]}" fuzz run "${sanitizer[@]}" frame corpus/frame seeds -- \
    -max_total_time="$secs" -max_len=4096 -rss_limit_mb=1024 -print_final_stats=1 2>&1 | tee "$log" | grep -E 'INITED|DONE|^Done|^==|SUMMARY|panicked|Test unit written' >&2
rc=${PIPESTATUS[0]}
runs=$(grep -oE '^Done [0-9]+ runs in [0-9]+ second' "$log" | grep -oE '[0-9]+' | head -2 | tr '\n' ' ')
set -- $runs
if [ "$rc" -ne 0 ]; then
    echo "fuzz: CRASH (exit $rc); the input is under fuzz/artifacts/frame/:" >&2
    ls -1 artifacts/frame/ >&2 2>/dev/null
    exit 1
fi
if [ $# -eq 2 ] && [ "$2" -gt 0 ]; then
    echo "fuzz: ok, $1 runs in $2 s ($(( $1 / $2 )) execs/s), no crash; corpus $(ls corpus/frame | wc -l) inputs" >&2
else
    echo "fuzz: ok, no crash" >&2
fi
