//! Carillon's cloud switch: the central PBX of the school network.
//!
//! This crate holds, so far, the parts every other cloud component stands on:
//! - [`store`]: tenants (organising bodies and their sites), the directory (extensions with
//!   digest credentials, ring groups, DIDs), boxes (one-time enrollment, credentials, status,
//!   exactly-once upload of their call journals), call records, tariffs and statements — in
//!   embedded SQLite or in PostgreSQL, one code path for both;
//! - [`rating`]: the numbering plan's destination classes and per-second rating;
//! - [`api`]: the admin API (axum, JSON, bearer tokens with tenant isolation), and its OpenAPI
//!   document;
//! - [`sip`]: the SIP server (UDP, TCP, TLS): registrar, location service with Path, stateful
//!   proxy with the numbering plan, ring groups and the carrier trunk, call records;
//! - [`config`]: the `carillon-cloud` binary's settings.
//!
//! - [`boxlink`]: the control link every school's box keeps open: enrollment, authentication,
//!   configuration pushed on every change, bindings handed back, call-record upload exactly
//!   once, box status.

pub mod api;
pub mod boxlink;
pub mod config;
pub mod model;
pub mod rating;
pub mod secrets;
pub mod sip;
pub mod store;

pub use store::{Backend, Month, Store, StoreError, StoreOptions};
