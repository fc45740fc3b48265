//! Carillon's wire layer: SIP messages parsed without copying, checked the way a proxy checks
//! them, and written into caller buffers; digest authentication; the box<->cloud control
//! messages.
//!
//! `#![no_std]` and allocation-free. Nothing in here panics on any input: every function that
//! reads bytes from the network returns a result that says what is wrong (see [`ParseError`],
//! which maps to the SIP status to answer).
//!
//! The run of a receiver:
//! 1. [`parse`] the bytes with the [`Framing`] of the transport and a header array of your own;
//! 2. [`validate()`] the message (a request that fails gets `err.status()` and `err` as reason);
//! 3. read what you need through the typed accessors ([`Message::top_via`], [`Message::from`],
//!    [`Message::cseq`], [`Message::contacts`] ...), each parsed on demand;
//! 4. write a response or a forwarded copy with [`write::write_response`] / [`write::Forward`].
#![no_std]
#![warn(clippy::std_instead_of_core, clippy::std_instead_of_alloc, clippy::alloc_instead_of_core)]

#[cfg(feature = "std")]
extern crate std;

pub mod control;
pub mod digest;
pub mod error;
pub mod header;
mod lex;
pub mod message;
pub mod method;
#[cfg(feature = "rsip")]
pub mod rsip_conv;
pub mod time;
pub mod transaction;
pub mod typed;
pub mod uri;
pub mod validate;
pub mod write;

pub use error::{ParseError, WriteError};
pub use header::{Header, HeaderKind};
pub use message::{parse, Framing, Message, ParseConfig, StartLine, Status};
pub use method::Method;
pub use time::Instant;
pub use typed::{CSeq, Contact, NameAddr, Params, Via};
pub use uri::{Host, Scheme, Uri};
pub use validate::{proxy_checks, validate, Refusal};
