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
//! - [`config`]: the `carillon-cloud` binary's settings.
//!
//! The SIP server and the box's control link will use [`Store`] directly: `sip_credential`,
//! `site_by_code`, `did_by_number` and `record_call` for the switch; `enroll_box`,
//! `authenticate_box`, `report_box_status` and `ingest_box_records` for the link.

pub mod api;
pub mod config;
pub mod model;
pub mod rating;
pub mod secrets;
pub mod sip;
pub mod store;

pub use store::{Backend, Month, Store, StoreError, StoreOptions};
