//! The cloud's test suite: store and admin API. Runs on SQLite in memory, and on PostgreSQL when
//! `DATABASE_URL` is a `postgres://` URL (each test then gets a fresh database); see
//! `scripts/postgres-test.sh`.

#![allow(clippy::unwrap_used, missing_docs)]

mod api_resources;
mod api_tenancy;
mod boxlink;
mod common;
mod ingestion;
mod rating;
mod recorder;
mod sip;
mod sip_util;
mod sipp;
mod store_misc;
mod twonode;
