//! The release binaries the rig runs: `carillon-box` and `carillon-cloud`, built by
//! `cargo build --release` (a no-op when `scripts/test-all.sh` built them already) and found
//! from cargo's own report of what it built, wherever the target directory is.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Paths of the two binaries.
#[derive(Clone, Debug)]
pub struct Binaries {
    /// `carillon-box` (firmware/linux).
    pub carillon_box: PathBuf,
    /// `carillon-cloud` (cloud).
    pub carillon_cloud: PathBuf,
}

/// Builds (or finds up to date) the release binaries of the workspace `workspace`.
pub fn release(workspace: &std::path::Path) -> Result<Binaries, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(&cargo);
    // What cargo sets for the test process itself is not the environment of a plain build:
    // build scripts watching it (ring's watches CARGO_MANIFEST_DIR) would make this a full
    // rebuild instead of the no-op it is after `scripts/test-all.sh` built the binaries.
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        let set_for_tests = [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_BIN_",
            "CARGO_CRATE_",
            "CARGO_PRIMARY_",
            "CARGO_TARGET_TMPDIR",
            "CARGO_RUSTC_CURRENT_DIR",
        ]
        .iter()
        .any(|p| k.starts_with(p));
        if set_for_tests || k == "OUT_DIR" {
            cmd.env_remove(&key);
        }
    }
    let out = cmd
        .current_dir(workspace)
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            "carillon-box",
            "-p",
            "carillon-cloud",
            "--bins",
            "--message-format=json-render-diagnostics",
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {cargo}: {e}"))?;
    if !out.status.success() {
        return Err("cargo build --release of carillon-box and carillon-cloud failed".into());
    }
    let mut found = (None, None);
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let Some(exe) = v.get("executable").and_then(|e| e.as_str()) else { continue };
        match v.pointer("/target/name").and_then(|n| n.as_str()) {
            Some("carillon-box") => found.0 = Some(PathBuf::from(exe)),
            Some("carillon-cloud") => found.1 = Some(PathBuf::from(exe)),
            _ => {}
        }
    }
    match found {
        (Some(carillon_box), Some(carillon_cloud)) => Ok(Binaries { carillon_box, carillon_cloud }),
        _ => Err("cargo did not report both binaries".into()),
    }
}
