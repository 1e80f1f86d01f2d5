// A build script, so that cargo counts this crate's build dependencies (cargo-hakari's layout).
fn main() {}
