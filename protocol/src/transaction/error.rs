//! The transaction layer's errors, sorted by who is at fault (STYLE.md habit 6), and its
//! counters of everything it dropped.

use crate::error::ParseError;

/// Why a verb of [`super::Transactions`] refused.
///
/// Capacity ([`Error::Full`], [`Error::TooLarge`]) is nobody's bug: the table is bounded by
/// design and the proxy answers with [`Error::status`]. [`Error::Malformed`] is the sender's
/// fault. The rest are the caller's misuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// No free slot in the table. Answer a request 503 (Service Unavailable) with
    /// Retry-After (RFC 3261 §21.5.4); for a client transaction, act as if 503 arrived.
    Full,
    /// The message does not fit a transaction's buffer (`MSG` bytes). Answer a request 513
    /// (Message Too Large, §21.4.24), the code the RFC has for exactly this.
    TooLarge,
    /// A message from the network lacks what matching needs: a parsable top Via or CSeq
    /// (RFC 3261 §17.1.3, §17.2.3). Answer a request 400 with [`ParseError`] as reason; drop
    /// a response (§18.1.2).
    Malformed(ParseError),
    /// The handle's transaction has ended (or never existed).
    UnknownHandle,
    /// The verb does not apply to this transaction now: a response to a client transaction,
    /// a second final response, a provisional response after the final one.
    WrongState,
    /// The message given is not usable for this verb; the detail says why (e.g. a request
    /// without an RFC 3261 branch given to `start_client`).
    Invalid(&'static str),
}

impl Error {
    /// The status a server answers the request with, for the errors the network's sender
    /// or capacity causes; `None` for the caller's own misuse.
    pub const fn status(&self) -> Option<u16> {
        match self {
            Error::Full => Some(503),
            Error::TooLarge => Some(513),
            Error::Malformed(e) => Some(e.status()),
            Error::UnknownHandle | Error::WrongState | Error::Invalid(_) => None,
        }
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Full => f.write_str("transaction table full"),
            Error::TooLarge => f.write_str("message larger than the transaction buffer"),
            Error::Malformed(e) => write!(f, "cannot match the message: {e}"),
            Error::UnknownHandle => f.write_str("no such transaction"),
            Error::WrongState => f.write_str("not allowed in the transaction's state"),
            Error::Invalid(d) => write!(f, "invalid message for this call: {d}"),
        }
    }
}

impl core::error::Error for Error {}

/// Counters of what the table refused or dropped, saturating.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Transactions refused because the table was full.
    pub full: u64,
    /// Messages refused because they did not fit a buffer.
    pub too_large: u64,
    /// Messages from the network without a usable Via or CSeq.
    pub malformed: u64,
    /// Responses that matched no client transaction.
    pub stray_responses: u64,
    /// Retransmitted requests absorbed by a server transaction.
    pub request_retransmissions: u64,
    /// Retransmitted responses absorbed by a client transaction.
    pub response_retransmissions: u64,
    /// Completed rows given up before their Timer J ended, to make room (see
    /// [`Transactions`](super::Transactions)).
    pub completed_evicted: u64,
}

pub(crate) fn bump(counter: &mut u64) {
    *counter = counter.saturating_add(1);
}
