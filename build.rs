// PLACEHOLDER (being written): compiles csrc/ with cc.
fn main() {}
