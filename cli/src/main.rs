//! The `carillon` command.
fn main() {}
