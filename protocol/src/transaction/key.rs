//! Matching messages to transactions (RFC 3261 §17.1.3, §17.2.3, §9.2).
//!
//! Each slot keeps a 32-bit hash of its key so that a lookup compares bytes only with the few
//! slots whose hash agrees; for those, the stored request is parsed again (it is our own copy,
//! parsed once before it was stored, so this cannot fail differently) and the RFC's rules are
//! applied field by field. No key is copied out of the message: the stored message *is* the key.

use crate::error::ParseError;
use crate::header::{Header, HeaderKind};
use crate::message::{parse, Framing, Message, ParseConfig, StartLine, Status};
use crate::method::Method;
use crate::typed::{CSeq, Via};
use crate::uri::Host;

/// Header lines a stored message may have: the size of the header array used to parse it again
/// (about 3 KiB of stack). A message with more is refused as too large when it would be stored.
pub(crate) const MAX_HEADERS: usize = 64;

/// Parses a message the table stores (or is about to store).
pub(crate) fn reparse<'h, 'a>(bytes: &'a [u8], headers: &'h mut [Header<'a>]) -> Option<Message<'h, 'a>> {
    let cfg = ParseConfig { allow_bare_lf: true, max_message_len: usize::MAX };
    match parse(bytes, headers, Framing::Datagram, &cfg) {
        Ok(Status::Complete(m)) => Some(m),
        _ => None,
    }
}

/// The fields that the matching rules read.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fields<'a> {
    /// The request's method (for a response: the CSeq method).
    pub(crate) method: Method<'a>,
    /// The top Via.
    pub(crate) via: Via<'a>,
    /// The CSeq.
    pub(crate) cseq: CSeq<'a>,
    pub(crate) call_id: Option<&'a [u8]>,
    pub(crate) from_tag: Option<&'a [u8]>,
    pub(crate) to_tag: Option<&'a [u8]>,
    /// The Request-URI as written (empty for a response).
    pub(crate) ruri: &'a [u8],
}

impl<'a> Fields<'a> {
    /// Reads the fields; a missing or malformed top Via or CSeq is an error because nothing
    /// can be matched without them (§17.1.3, §17.2.3).
    pub(crate) fn of(msg: &Message<'_, 'a>) -> Result<Fields<'a>, ParseError> {
        let via = msg.top_via().ok_or(ParseError::Missing(HeaderKind::Via))??;
        let cseq = msg.cseq().ok_or(ParseError::Missing(HeaderKind::CSeq))??;
        let (method, ruri) = match msg.start {
            StartLine::Request { method, uri } => (method, uri),
            StartLine::Response { .. } => (cseq.method, &[][..]),
        };
        Ok(Fields {
            method,
            via,
            cseq,
            call_id: msg.call_id(),
            from_tag: msg.from().and_then(Result::ok).and_then(|n| n.tag()),
            to_tag: msg.to().and_then(Result::ok).and_then(|n| n.tag()),
            ruri,
        })
    }

    /// Whether the branch has the magic cookie, i.e. RFC 3261 matching applies (§17.2.3).
    pub(crate) fn rfc3261(&self) -> bool {
        self.via.has_rfc3261_branch()
    }

    /// The hash a server transaction is filed under: the branch for RFC 3261 requests, the
    /// Call-ID for RFC 2543 ones (whose branch, if any, is not unique).
    pub(crate) fn server_hash(&self) -> u32 {
        if self.rfc3261() {
            branch_hash(self)
        } else {
            hash(self.call_id.unwrap_or(&[]))
        }
    }
}

/// The hash a client transaction is filed under, and a response looked up with: the branch
/// (§17.1.3 matches responses on the branch alone, plus the CSeq method).
pub(crate) fn branch_hash(f: &Fields<'_>) -> u32 {
    hash(f.via.branch().unwrap_or(&[]))
}

/// FNV-1a over the lower-cased bytes: branches compare case-insensitively (§7.3.1, tokens),
/// so their hash must too. Call-IDs compare case-sensitively, which only costs a few extra
/// comparisons on a collision.
fn hash(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, &b| (h ^ u32::from(b.to_ascii_lowercase())).wrapping_mul(0x0100_0193))
}

/// How an incoming request relates to the request that created a server transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rule {
    /// The same request again (a retransmission): the method must match (§17.2.3).
    SameMethod,
    /// An ACK for the final response of an INVITE server transaction (§17.2.3).
    AckToInvite,
    /// A CANCEL looking for the INVITE it cancels: the method is ignored (§9.2).
    CancelToInvite,
}

fn eq_ci(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn host_eq(a: &Host<'_>, b: &Host<'_>) -> bool {
    match (a, b) {
        (Host::Name(x), Host::Name(y)) => eq_ci(x, y),
        (Host::V4(x), Host::V4(y)) => x == y,
        (Host::V6(x), Host::V6(y)) => match (a.ip(), b.ip()) {
            (Some(p), Some(q)) => p == q,
            _ => x.eq_ignore_ascii_case(y),
        },
        _ => false,
    }
}

/// The sent-by of two Vias is the same (host and port, §17.2.3 item 2).
fn sent_by_eq(a: &Via<'_>, b: &Via<'_>) -> bool {
    host_eq(&a.host, &b.host) && a.port == b.port
}

/// Two tags are the same: both absent, or equal (tags compare case-insensitively as tokens,
/// §7.3.1).
fn tag_eq(a: Option<&[u8]>, b: Option<&[u8]>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => eq_ci(x, y),
        _ => false,
    }
}

/// The whole top Via is the same (RFC 2543 matching, §17.2.3): protocol, sent-by and
/// parameters.
fn via_eq(a: &Via<'_>, b: &Via<'_>) -> bool {
    eq_ci(a.transport, b.transport) && sent_by_eq(a, b) && eq_ci(a.params.raw(), b.params.raw())
}

/// Whether `incoming` matches the server transaction created by `stored`, under `rule`.
/// `sent_to_tag` is the To tag of the last response the transaction sent (only the RFC 2543
/// ACK rule reads it).
pub(crate) fn server_matches(
    stored: &Fields<'_>,
    incoming: &Fields<'_>,
    rule: Rule,
    sent_to_tag: Option<&[u8]>,
) -> bool {
    let method_ok = match rule {
        Rule::SameMethod => stored.method == incoming.method,
        Rule::AckToInvite | Rule::CancelToInvite => stored.method == Method::Invite,
    };
    if !method_ok {
        return false;
    }
    if incoming.rfc3261() {
        // §17.2.3: branch and sent-by equal, method as above.
        return match (stored.via.branch(), incoming.via.branch()) {
            (Some(s), Some(i)) => eq_ci(s, i) && sent_by_eq(&stored.via, &incoming.via),
            _ => false,
        };
    }
    // RFC 2543 fallback (§17.2.3, §9.2): Request-URI, From tag, Call-ID, CSeq number and top
    // Via always; the To tag against the request's, or for an ACK against the response's; the
    // CSeq method only when the methods must be the same.
    let common = stored.ruri == incoming.ruri
        && tag_eq(stored.from_tag, incoming.from_tag)
        && stored.call_id.is_some()
        && stored.call_id == incoming.call_id
        && stored.cseq.seq == incoming.cseq.seq
        && via_eq(&stored.via, &incoming.via);
    common
        && match rule {
            Rule::SameMethod => tag_eq(stored.to_tag, incoming.to_tag) && stored.cseq.method == incoming.cseq.method,
            Rule::AckToInvite => tag_eq(sent_to_tag, incoming.to_tag),
            Rule::CancelToInvite => tag_eq(stored.to_tag, incoming.to_tag),
        }
}

/// Whether a response matches the client transaction created by `stored` (§17.1.3): the
/// top Via branch equals the request's, and the CSeq method equals the request's method (so a
/// CANCEL's responses reach the CANCEL, not the INVITE with the same branch).
pub(crate) fn client_matches(stored: &Fields<'_>, response: &Fields<'_>) -> bool {
    match (stored.via.branch(), response.via.branch()) {
        (Some(s), Some(r)) => eq_ci(s, r) && stored.method == response.cseq.method,
        _ => false,
    }
}

/// A 64-bit digest of what RFC 3261 §17.2.3 matches a retransmitted request to its server
/// transaction on: the top Via's branch and sent-by, and the method. A completed row keeps this
/// instead of the request (`done.rs`); only RFC 3261 requests (magic cookie) are kept so.
pub(crate) fn done_key(f: &Fields<'_>) -> u64 {
    fn mix(h: u64, bytes: &[u8]) -> u64 {
        bytes.iter().fold(h, |h, &b| (h ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(0x0000_0100_0000_01b3))
    }
    let mut h = mix(0xcbf2_9ce4_8422_2325, f.via.branch().unwrap_or(&[]));
    h = mix(h, b"\x00");
    h = match f.via.host.ip() {
        Some(core::net::IpAddr::V4(a)) => mix(h, &a.octets()),
        Some(core::net::IpAddr::V6(a)) => mix(h, &a.octets()),
        None => match f.via.host {
            Host::Name(n) => mix(h, n),
            _ => h,
        },
    };
    h = mix(h, &f.via.port.unwrap_or(0).to_le_bytes());
    mix(h, f.method.as_str().as_bytes())
}
