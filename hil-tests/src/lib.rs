//! The rig (issue 5): per run, network namespaces for two school LANs, each box with a LAN and
//! a WAN side, a WAN router and the cloud; the real release binaries (`carillon-box`,
//! `carillon-cloud`) with real configuration files and TLS between box and cloud; real user
//! agents (SIPp for phones and the carrier, baresip as a softphone); the WAN cut and restored.
//!
//! The scenarios are in `tests/rig/` (one file each, named for what it shows) and run with
//! `cargo test -p carillon-hil-tests` as root; without root or namespaces the run says so and
//! is skipped. See `hil-tests/README.md`.

pub mod api;
pub mod baresip;
pub mod binaries;
pub mod netns;
pub mod process;
pub mod rig;
pub mod sipp;
