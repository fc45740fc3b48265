//! Puts the linker's memory map where `link.x` finds it, and rebuilds when it changes.
//!
//! With `CARILLON_SIZE_PROBE=1` the map's RAM is made 16 MiB long (at the AXI SRAM's address)
//! so that an image whose statics do not fit the H743's 512 KiB still links and its sections
//! can be measured (`scripts/board-size.sh`). Such an image must not be flashed: the probe is
//! only for the size report, and a build without the variable uses the real map again.

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let real = include_str!("memory.x");
    let map = if env::var_os("CARILLON_SIZE_PROBE").is_some_and(|v| v == "1") {
        println!("cargo:warning=size probe: linked against a 16 MiB RAM; do not flash this image");
        real.replace("LENGTH = 512K", "LENGTH = 16M")
    } else {
        real.to_owned()
    };
    fs::write(out.join("memory.x"), map).expect("OUT_DIR is writable");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CARILLON_SIZE_PROBE");
}
