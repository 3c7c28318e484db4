//! Compiles the C kernels in `csrc/` with `cc` (BLAKE3 style: a few predicates, then
//! one build), and tells the crate with `cfg(primecluster_c)` that they are linked.
//!
//! - The `pure-rust` feature skips the C: every kernel runs its Rust twin.
//! - When compiling the C fails (no working C compiler for the target), the build warns
//!   and falls back to the Rust twins, unless `PRIMECLUSTER_STRICT_C=1` asks for the
//!   failure to stop the build (CI uses that to be sure the C is tested).
//! - Flags: `-O3` and what `cc` gives the target by default; nothing target-specific
//!   (an ARMv6 Pi has no NEON, and the C needs none).

use std::env;
use std::path::{Path, PathBuf};

const CSRC: &str = "csrc";
const STRICT_ENV: &str = "PRIMECLUSTER_STRICT_C";

/// The `pure-rust` feature is on.
fn is_pure() -> bool {
    env::var_os("CARGO_FEATURE_PURE_RUST").is_some()
}

/// A failure to compile the C must fail the build.
fn is_strict() -> bool {
    env::var(STRICT_ENV).is_ok_and(|v| v == "1")
}

/// The files in `csrc/` with the given extension, sorted (for stable builds).
fn files_with_ext(ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match std::fs::read_dir(CSRC) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == ext))
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

fn main() {
    println!("cargo::rustc-check-cfg=cfg(primecluster_c)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed={CSRC}");
    println!("cargo::rerun-if-env-changed={STRICT_ENV}");
    let sources = files_with_ext("c");
    for f in sources.iter().chain(files_with_ext("h").iter()) {
        println!("cargo::rerun-if-changed={}", f.display());
    }
    if is_pure() || sources.is_empty() {
        return;
    }
    let mut build = cc::Build::new();
    build
        .files(&sources)
        .include(Path::new(CSRC))
        .opt_level(3)
        .std("c99")
        .warnings(true);
    match build.try_compile("primecluster_c") {
        Ok(()) => println!("cargo::rustc-cfg=primecluster_c"),
        Err(e) if is_strict() => panic!("compiling the C kernels failed ({STRICT_ENV}=1): {e}"),
        Err(e) => println!(
            "cargo::warning=compiling the C kernels in {CSRC}/ failed, using the Rust twins: {e}"
        ),
    }
}
