//! `carillon-box`: the Carillon box on embedded Linux, a thin tokio runtime around the sans-IO
//! gateway core of `carillon-firmware` (DESIGN.md, "The box's modes").
//!
//! - [`config`]: the TOML settings and their checks;
//! - [`runtime`]: the run loop that owns the core and follows its drain rule;
//! - [`links`]: the uplink (SIP over TLS) and the control link (postcard frames over TLS),
//!   each a task reconnecting with backoff;
//! - [`tls`]: rustls with the cloud's certificate from a CA file or pinned;
//! - [`state`]: the state directory — a file-backed journal storage with flash rules, the
//!   configuration image, the identity — written so that `Ok` means durable;
//! - [`time`]: the one conversion from tokio's clock to the core's `Instant`;
//! - [`lan_tcp`]: the LAN TCP listener for phones on SIP over TCP (UDP is served by the run
//!   loop itself);
//! - [`redact`]: personal data in logs as a type.

pub mod config;
pub mod lan_tcp;
pub mod links;
pub mod redact;
pub mod runtime;
pub mod state;
pub mod time;
pub mod tls;

pub use config::{Config, ConfigError};
pub use runtime::{run, RunError};
