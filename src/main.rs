//! PLACEHOLDER (being written): the argh CLI.
fn main() {}
