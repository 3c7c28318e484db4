//! The `bench` subcommand (being written).

/// Runs the benchmark.
pub fn run(_quick: bool) {}
