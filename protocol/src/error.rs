//! Errors of the wire layer, sorted by who is at fault.
//!
//! [`ParseError`] is always the sender's fault (a malformed or unacceptable message) and maps to
//! the wire once: [`ParseError::status`] is the SIP status a server answers to a request, and its
//! `Display` is the reason phrase, e.g. `Bad Request (repeated To header)`. A malformed *response*
//! is never answered: it is dropped (RFC 3261 §18.1.2, RFC 4475 §3.1.2.19).
//! [`WriteError`] is our own side's fault: the caller's buffer was too small.

use crate::header::HeaderKind;

/// Why a message was rejected. Each variant maps to one SIP status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// The Request-Line is malformed (RFC 3261 §7.1); the detail says how.
    BadRequestLine(&'static str),
    /// The Status-Line is malformed (RFC 3261 §7.2); the detail says how.
    BadStatusLine(&'static str),
    /// The SIP version is well-formed but not 2.0 (RFC 3261 §8.2.2 ... 505).
    VersionNotSupported,
    /// A header line is malformed (no colon, bad name, bare line break).
    BadHeaderLine(&'static str),
    /// More header lines than the caller's header array holds.
    TooManyHeaders,
    /// The message is larger than the configured limit (RFC 3261 §21.5.14, 513).
    MessageTooLarge,
    /// The header section has no terminating empty line (datagrams only; on a stream this is
    /// "need more bytes").
    HeadersUnterminated,
    /// Content-Length is not a non-negative decimal number (RFC 4475 §3.1.2.3).
    BadContentLength,
    /// Several Content-Length values disagree, so the framing is undefined (RFC 4475 §3.3.9).
    ConflictingContentLength,
    /// A datagram carries fewer body bytes than Content-Length says (RFC 3261 §18.3).
    BodyTruncated,
    /// A header that every message needs is missing (RFC 3261 §8.1.1).
    Missing(HeaderKind),
    /// A header that may appear once appears several times (RFC 4475 §3.3.8).
    Repeated(HeaderKind),
    /// A header's value does not follow its grammar; the detail says how.
    BadValue(HeaderKind, &'static str),
    /// The Request-URI does not follow its grammar; the detail says how.
    BadRequestUri(&'static str),
    /// The CSeq method differs from the Request-Line method (RFC 3261 §8.1.1.5).
    CSeqMethodMismatch,
}

impl ParseError {
    /// The status code a server answers a request with.
    pub const fn status(&self) -> u16 {
        match self {
            ParseError::VersionNotSupported => 505,
            ParseError::MessageTooLarge | ParseError::TooManyHeaders => 513,
            _ => 400,
        }
    }

    /// The standard reason phrase of [`Self::status`], without the detail.
    pub const fn standard_reason(&self) -> &'static str {
        match self.status() {
            505 => "Version Not Supported",
            513 => "Message Too Large",
            _ => "Bad Request",
        }
    }

    /// The detail: what exactly is wrong, for logs and the reason phrase.
    pub fn detail(&self) -> Detail<'_> {
        Detail(self)
    }
}

/// The detail of a [`ParseError`], displayable without allocation.
#[derive(Clone, Copy, Debug)]
pub struct Detail<'e>(&'e ParseError);

fn header_name(k: HeaderKind) -> &'static str {
    k.canonical().unwrap_or("header")
}

impl core::fmt::Display for Detail<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self.0 {
            ParseError::BadRequestLine(d) => write!(f, "malformed Request-Line: {d}"),
            ParseError::BadStatusLine(d) => write!(f, "malformed Status-Line: {d}"),
            ParseError::VersionNotSupported => f.write_str("only SIP/2.0 is supported"),
            ParseError::BadHeaderLine(d) => write!(f, "malformed header line: {d}"),
            ParseError::TooManyHeaders => f.write_str("too many header fields"),
            ParseError::MessageTooLarge => f.write_str("message larger than the limit"),
            ParseError::HeadersUnterminated => f.write_str("header section not terminated by an empty line"),
            ParseError::BadContentLength => f.write_str("invalid Content-Length"),
            ParseError::ConflictingContentLength => f.write_str("conflicting Content-Length values"),
            ParseError::BodyTruncated => f.write_str("Content-Length larger than the body"),
            ParseError::Missing(k) => write!(f, "missing {} header", header_name(k)),
            ParseError::Repeated(k) => write!(f, "repeated {} header", header_name(k)),
            ParseError::BadValue(k, d) => write!(f, "malformed {}: {d}", header_name(k)),
            ParseError::BadRequestUri(d) => write!(f, "malformed Request-URI: {d}"),
            ParseError::CSeqMethodMismatch => f.write_str("CSeq method differs from the request method"),
        }
    }
}

impl core::fmt::Display for ParseError {
    /// The full reason phrase: `Bad Request (repeated To header)`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ({})", self.standard_reason(), self.detail())
    }
}

impl core::error::Error for ParseError {}

/// Writing into a caller buffer failed. Our own side's fault: nothing from the network causes it
/// except through a buffer the caller sized too small.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteError {
    /// The output buffer is too small for the message.
    BufferTooSmall,
    /// The edit does not apply to this message (e.g. popping a Via from a message without one).
    NotApplicable(&'static str),
}

impl core::fmt::Display for WriteError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            WriteError::BufferTooSmall => f.write_str("output buffer too small"),
            WriteError::NotApplicable(d) => write!(f, "edit not applicable: {d}"),
        }
    }
}

impl core::error::Error for WriteError {}
