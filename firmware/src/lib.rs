//! The Carillon box: a `no_std`, sans-IO gateway core that runtimes (tokio on embedded Linux,
//! embassy on a microcontroller) drive with bytes and time.
//!
//! - [`gateway`]: the core — proxy, registrar, uplink health, survival, recovery — as one
//!   state machine ([`gateway::Gateway`]) with the run loop of STYLE.md;
//! - [`journal`]: the call-record journal the gateway writes in survival.
#![no_std]
#![warn(clippy::std_instead_of_core, clippy::std_instead_of_alloc, clippy::alloc_instead_of_core)]
// Storage contents are input too: never panic on them.
#![warn(clippy::indexing_slicing, clippy::panic, clippy::expect_used)]

pub mod gateway;
pub mod journal;

/// This firmware's version, reported to the cloud in `Status`.
pub const FIRMWARE_VERSION: carillon_protocol::control::FirmwareVersion =
    carillon_protocol::control::FirmwareVersion { major: 0, minor: 1, patch: 0 };
