//! The Carillon box: a `no_std`, sans-IO gateway core that runtimes (tokio on embedded Linux,
//! embassy on a microcontroller) drive with bytes and time.
//!
//! - [`gateway`]: the core — proxy, registrar, uplink health, survival, recovery — as one
//!   state machine ([`gateway::Gateway`]) with the run loop of STYLE.md, at the host's
//!   capacities (`carillon-box` on embedded Linux);
//! - [`mcu::gateway`]: the same core, built from the same source, at the capacities of a
//!   microcontroller (see [`mcu`]);
//! - [`journal`]: the call-record journal the gateway writes in survival.
//!
//! # Capacity profiles
//!
//! Every table of the gateway is bounded by a constant of its *profile*. The crate builds the
//! gateway module once per profile, so both are always available and a build picks one by the
//! path it imports (no cargo feature, so that a workspace build with `--all-features` never
//! changes the host's capacities):
//!
//! | | [`gateway`] (host) | [`mcu::gateway`] |
//! |---|---|---|
//! | phones ([`gateway::MAX_BINDINGS`]) | 128 | 128 |
//! | concurrent calls ([`gateway::MAX_CALLS`]) | 32 | 32 |
//! | extensions in the configuration | 256 | 128 |
//! | SIP message ([`gateway::MAX_SIP_LEN`]) | 3 KiB | 2 KiB |
//! | transactions, full rows ([`gateway::MAX_TRANSACTIONS`]) | 48 | 18 |
//! | completed non-INVITE server transactions ([`gateway::COMPLETED_TRANSACTIONS`]) | 64 × 1.5 KiB | 32 × 768 B |
//! | requests proxied at once ([`gateway::MAX_CONTEXTS`]) | 24 | 12 |
//! | ring groups in the configuration | 32 | 16 |
//! | phone TCP connections ([`gateway::MAX_LAN_STREAMS`]) | 16 | 4 |
//! | output queue / event queue | 16 / 32 | 6 / 16 |
//! | uplink stream buffer | 8 KiB | 4 KiB |
//! | staging buffer of a configuration transfer ([`gateway::STAGING_LEN`]) | 80 KiB | none: the store must [stream](config_store::ConfigStore::streams) |
//!
//! The gateway's own state is 772,536 B with the host profile and 245,672 B with the
//! microcontroller's (host figures, 64-bit; `tests/the_mcu_gateway_state_fits_its_ram_budget.rs`
//! guards them; BENCHMARKS.md, "Gateway state size", says where the bytes go).
//!
//! The types that do not depend on the profile (the [`ConfigStore`](config_store::ConfigStore)
//! trait, the journal) are shared, so a board's storage drivers serve either.
#![no_std]
#![warn(clippy::std_instead_of_core, clippy::std_instead_of_alloc, clippy::alloc_instead_of_core)]
// Storage contents are input too: never panic on them.
#![warn(clippy::indexing_slicing, clippy::panic, clippy::expect_used)]
// The gateway's source is built once per capacity profile (`host.rs`, `mcu.rs`), on purpose.
#![allow(clippy::duplicate_mod)]

pub mod config_store;
pub mod journal;

mod host;
pub use host::gateway;
pub mod mcu;

/// This firmware's version, reported to the cloud in `Status`.
pub const FIRMWARE_VERSION: carillon_protocol::control::FirmwareVersion =
    carillon_protocol::control::FirmwareVersion { major: 0, minor: 1, patch: 0 };
