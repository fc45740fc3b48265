//! Conversions into `rsip` types, the std-side interchange (feature `rsip`).
//!
//! Our parse decides framing, header names (compact forms become their long variants), folded
//! lines (unfolded into one space, RFC 3261 §7.3.1) and the body (exactly Content-Length bytes);
//! rsip gets the result as its untyped headers, so its own typed parsers apply on demand.
//! The Request-URI goes through rsip's URI parser because rsip's `Uri` cannot be built from
//! parts faithfully (it has no URI headers, for one). Inputs where rsip's own parser goes
//! wrong are listed in `protocol/RSIP.md` and checked by `tests/rsip_compare.rs`.
//!
//! This module exists only with `std` (rsip needs it), so it names `std` paths freely.
#![allow(clippy::std_instead_of_alloc, clippy::std_instead_of_core)]

use std::string::String;
use std::vec::Vec;

use rsip::headers::{self as rh, UntypedHeader};

use crate::header::HeaderKind;
use crate::message::{Message, StartLine};
use crate::method::Method;

/// Why a parsed message could not be expressed as `rsip` types.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConvertError {
    /// rsip has no representation for extension methods.
    UnsupportedMethod(String),
    /// rsip's URI parser refused the Request-URI.
    Uri(String),
    /// rsip headers are `String`s; this header is not UTF-8.
    NotUtf8(String),
}

impl core::fmt::Display for ConvertError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ConvertError::UnsupportedMethod(m) => write!(f, "rsip cannot represent method {m}"),
            ConvertError::Uri(e) => write!(f, "rsip refused the Request-URI: {e}"),
            ConvertError::NotUtf8(h) => write!(f, "header {h} is not UTF-8"),
        }
    }
}

impl std::error::Error for ConvertError {}

/// Our method as rsip's.
pub fn method(m: Method<'_>) -> Result<rsip::Method, ConvertError> {
    Ok(match m {
        Method::Invite => rsip::Method::Invite,
        Method::Ack => rsip::Method::Ack,
        Method::Bye => rsip::Method::Bye,
        Method::Cancel => rsip::Method::Cancel,
        Method::Register => rsip::Method::Register,
        Method::Options => rsip::Method::Options,
        Method::Info => rsip::Method::Info,
        Method::Update => rsip::Method::Update,
        Method::Prack => rsip::Method::PRack,
        Method::Subscribe => rsip::Method::Subscribe,
        Method::Notify => rsip::Method::Notify,
        Method::Refer => rsip::Method::Refer,
        Method::Message => rsip::Method::Message,
        Method::Publish => rsip::Method::Publish,
        Method::Other(s) => return Err(ConvertError::UnsupportedMethod(s.into())),
    })
}

/// A header value with its folds replaced by one space each.
fn unfold(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while let Some(&b) = v.get(i) {
        if b == b'\r' || b == b'\n' {
            while v.get(i).is_some_and(|&c| matches!(c, b'\r' | b'\n' | b' ' | b'\t')) {
                i += 1;
            }
            while out.last().is_some_and(|&c| c == b' ' || c == b'\t') {
                out.pop();
            }
            out.push(b' ');
        } else {
            out.push(b);
            i += 1;
        }
    }
    out
}

/// One header as rsip's untyped header of the matching variant.
pub fn header(kind: HeaderKind, name: &[u8], value: &[u8]) -> Result<rsip::Header, ConvertError> {
    let name_s = || String::from_utf8_lossy(name).into_owned();
    let v = String::from_utf8(unfold(value)).map_err(|_| ConvertError::NotUtf8(name_s()))?;
    use rsip::Header as H;
    Ok(match kind {
        HeaderKind::Via => H::Via(rh::Via::new(v)),
        HeaderKind::From => H::From(rh::From::new(v)),
        HeaderKind::To => H::To(rh::To::new(v)),
        HeaderKind::CallId => H::CallId(rh::CallId::new(v)),
        HeaderKind::CSeq => H::CSeq(rh::CSeq::new(v)),
        HeaderKind::Contact => H::Contact(rh::Contact::new(v)),
        HeaderKind::MaxForwards => H::MaxForwards(rh::MaxForwards::new(v)),
        HeaderKind::Expires => H::Expires(rh::Expires::new(v)),
        HeaderKind::ContentLength => H::ContentLength(rh::ContentLength::new(v)),
        HeaderKind::ContentType => H::ContentType(rh::ContentType::new(v)),
        HeaderKind::ContentEncoding => H::ContentEncoding(rh::ContentEncoding::new(v)),
        HeaderKind::Subject => H::Subject(rh::Subject::new(v)),
        HeaderKind::Supported => H::Supported(rh::Supported::new(v)),
        HeaderKind::Require => H::Require(rh::Require::new(v)),
        HeaderKind::ProxyRequire => H::ProxyRequire(rh::ProxyRequire::new(v)),
        HeaderKind::Unsupported => H::Unsupported(rh::Unsupported::new(v)),
        HeaderKind::Allow => H::Allow(rh::Allow::new(v)),
        HeaderKind::Accept => H::Accept(rh::Accept::new(v)),
        HeaderKind::Event => H::Event(rh::Event::new(v)),
        HeaderKind::Route => H::Route(rh::Route::new(v)),
        HeaderKind::RecordRoute => H::RecordRoute(rh::RecordRoute::new(v)),
        HeaderKind::Authorization => H::Authorization(rh::Authorization::new(v)),
        HeaderKind::ProxyAuthorization => H::ProxyAuthorization(rh::ProxyAuthorization::new(v)),
        HeaderKind::WwwAuthenticate => H::WwwAuthenticate(rh::WwwAuthenticate::new(v)),
        HeaderKind::ProxyAuthenticate => H::ProxyAuthenticate(rh::ProxyAuthenticate::new(v)),
        HeaderKind::Date => H::Date(rh::Date::new(v)),
        HeaderKind::RetryAfter => H::RetryAfter(rh::RetryAfter::new(v)),
        HeaderKind::Warning => H::Warning(rh::Warning::new(v)),
        HeaderKind::UserAgent => H::UserAgent(rh::UserAgent::new(v)),
        HeaderKind::Server => H::Server(rh::Server::new(v)),
        HeaderKind::MinExpires => H::MinExpires(rh::MinExpires::new(v)),
        HeaderKind::Timestamp => H::Timestamp(rh::Timestamp::new(v)),
        // rsip has no variant for these (or they are extensions): keep them by name, long
        // form when we know it.
        _ => H::Other(kind.canonical().map_or_else(name_s, String::from), v),
    })
}

impl TryFrom<&Message<'_, '_>> for rsip::SipMessage {
    type Error = ConvertError;

    fn try_from(m: &Message<'_, '_>) -> Result<Self, ConvertError> {
        let mut headers = rsip::Headers::default();
        for h in m.headers {
            headers.push(header(h.kind, h.name, h.value)?);
        }
        let body = m.body.to_vec();
        Ok(match m.start {
            StartLine::Request { method: me, uri } => {
                let uri_s = core::str::from_utf8(uri).map_err(|_| ConvertError::NotUtf8("Request-URI".into()))?;
                let uri = rsip::Uri::try_from(uri_s).map_err(|e| ConvertError::Uri(std::format!("{e}")))?;
                rsip::SipMessage::Request(rsip::Request {
                    method: method(me)?,
                    uri,
                    version: rsip::Version::V2,
                    headers,
                    body,
                })
            }
            StartLine::Response { code, .. } => rsip::SipMessage::Response(rsip::Response {
                status_code: rsip::StatusCode::from(code),
                version: rsip::Version::V2,
                headers,
                body,
            }),
        })
    }
}
