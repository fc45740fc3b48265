//! What the transaction layer tells its caller: events for the TU, datagrams to send, and what
//! became of a message handed in.

use super::timer::Timer;
use super::types::{Handle, Peer, Transport};

/// Something the transaction user (the proxy) must act on, from [`super::Transactions::poll_event`].
///
/// Events of one transaction come in the order they happened, and `Terminated` is always its
/// last. The bytes a `Request` or `Response` event refers to are read with
/// [`super::Transactions::request`] / [`super::Transactions::response`] until the handle
/// terminates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A request created a new server transaction (RFC 3261 §17.2.3); the TU answers it with
    /// [`super::Transactions::respond`]. For a CANCEL, `cancels` is the INVITE server
    /// transaction it cancels, if that is still in the table (§9.2): the proxy answers the
    /// CANCEL 200 and cancels its own branches of that INVITE.
    Request {
        /// The new server transaction.
        handle: Handle,
        /// For a CANCEL: the INVITE server transaction it matches.
        cancels: Option<Handle>,
    },
    /// A response for a client transaction that the TU must see (§17.1.1.2, §17.1.2.2):
    /// provisional, final, or (RFC 6026) a 2xx retransmission or fork in Accepted.
    Response {
        /// The client transaction.
        handle: Handle,
        /// The status code, so that the TU need not parse to route.
        code: u16,
    },
    /// A timer ran out before an answer came. Timer B or F (client transaction, §17.1.1.2,
    /// §17.1.2.2): the proxy acts as if a 408 (Request Timeout) arrived (§16.8). Timer H
    /// (INVITE server, §17.2.1): the ACK for a non-2xx final response never came.
    Timeout {
        /// The transaction.
        handle: Handle,
        /// Which timer: B, F or H.
        timer: Timer,
    },
    /// The runtime reported that sending failed (§17.1.4, §17.2.4); for a client transaction
    /// the proxy acts as if a 503 (Service Unavailable) arrived (§16.7 step 10).
    TransportError {
        /// The transaction.
        handle: Handle,
    },
    /// The transaction ended; its handle is dead once this has been polled.
    Terminated {
        /// The transaction.
        handle: Handle,
    },
}

/// A message to send, from [`super::Transactions::poll_transmit`]. The bytes are borrowed from
/// the table's own buffers: send (or copy) them before the next call on the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit<'a> {
    /// The transaction that sends; report a send failure with
    /// [`super::Transactions::handle_transport_error`].
    pub handle: Handle,
    /// Where to.
    pub dest: Peer,
    /// Over what.
    pub transport: Transport,
    /// The message.
    pub bytes: &'a [u8],
}

/// What became of a message handed to [`super::Transactions::handle_request`] or
/// [`super::Transactions::handle_response`].
///
/// The TU acts on events; this value is for the caller's bookkeeping and for the two cases no
/// event covers because no transaction keeps the bytes: a stray response and an ACK outside
/// any transaction, both of which a proxy forwards statelessly (RFC 3261 §16.11, §16.7 step 9
/// for 2xx and §18.1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Received {
    /// A request created a server transaction; an [`Event::Request`] follows.
    New {
        /// The new server transaction.
        handle: Handle,
        /// For a CANCEL, the INVITE server transaction it cancels (§9.2).
        cancels: Option<Handle>,
    },
    /// A retransmitted request absorbed by its server transaction; the last response, if
    /// any, is queued again (§17.2.1, §17.2.2).
    Retransmission(Handle),
    /// The ACK for a non-2xx final response, absorbed by its INVITE server transaction
    /// (§17.2.1).
    AckAbsorbed(Handle),
    /// An ACK the TU must handle: with a handle, it matched an INVITE server transaction in
    /// Accepted (RFC 6026 §8.7); without, it matched none (an ACK for a 2xx travels in its own
    /// transaction, §17.1.1.3). A proxy routes it statelessly (§16.11).
    Ack(Option<Handle>),
    /// A response delivered to a client transaction; an [`Event::Response`] follows.
    Response(Handle),
    /// A retransmitted response absorbed by its client transaction (the ACK is re-sent for an
    /// INVITE's non-2xx final response, §17.1.1.2).
    ResponseAbsorbed(Handle),
    /// A response that matches no client transaction (§17.1.3); a proxy forwards it statelessly
    /// (§16.7 step 9, §18.1.2) or drops it. Counted in [`super::Stats::stray_responses`].
    Stray,
}
