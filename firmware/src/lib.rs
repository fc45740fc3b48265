//! The Carillon box: a `no_std`, sans-IO gateway core that runtimes (tokio on embedded Linux,
//! embassy on a microcontroller) drive with bytes and time.
//!
//! Today it holds the call-record journal ([`journal`]); the gateway core (proxy, registrar,
//! transactions, uplink health, survival logic) joins it.
#![no_std]
#![warn(clippy::std_instead_of_core, clippy::std_instead_of_alloc, clippy::alloc_instead_of_core)]
// Storage contents are input too: never panic on them.
#![warn(clippy::indexing_slicing, clippy::panic, clippy::expect_used)]

pub mod journal;
