//! The Carillon gateway core ([`carillon_firmware::mcu::gateway::Gateway`]) on a microcontroller:
//! what every board shares.
//!
//! - [`flash`]: the journal and the configuration on NOR flash (any
//!   [`embedded_storage::nor_flash::NorFlash`]: a board's internal flash, or [`flash::RamFlash`]
//!   over a RAM region where the board has none, as QEMU's mps2);
//! - [`identity`]: the box's identity blob (box id, credential, the cloud's addresses and
//!   certificate), written by a host tool, read at boot;
//! - [`lan`] (feature `net`): the run loop on embassy-net — the SIP port on the school LAN into
//!   the core, timers from embassy-time, the drain rule of the core's docs;
//! - [`links`] (feature `net`): the uplink and the control link to the cloud over TCP;
//! - [`time`] (feature `net`): the one conversion file between embassy-time and the core's clock;
//! - [`stack`] (feature `cortex-m`): the stack's high-water mark, for the size report.
#![no_std]

pub mod flash;
pub mod identity;
#[cfg(feature = "net")]
pub mod lan;
#[cfg(feature = "net")]
pub mod links;
#[cfg(feature = "cortex-m")]
pub mod stack;
#[cfg(feature = "net")]
pub mod time;
