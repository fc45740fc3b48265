//! Completed non-INVITE server transactions, kept small (RFC 3261 §17.2.2).
//!
//! Over UDP a non-INVITE server transaction stays in Completed for Timer J (64·T1, 32 s) only to
//! answer retransmissions of its request with its final response. That needs the response and
//! the key the request is matched on, not the request: such a transaction moves from its full
//! row (two `MSG`-byte buffers) to a *completed row* holding a 64-bit digest of the key
//! (`key::done_key`) and the response, and its full row is freed at once (the TU sees
//! `Terminated` then). When every completed row is taken, the one closest to the end of its
//! Timer J gives its place (counted in `Stats::completed_evicted`): a retransmission arriving
//! for it afterwards is taken as a new request, as after Timer J.

use super::slot::Buf;
use super::types::{Peer, Transport};
use crate::time::Instant;

/// One completed row, or a free one (`until == None`).
pub(crate) struct Done<const M: usize> {
    /// Bumped when the row is reused, so that its handles stop matching.
    pub(crate) generation: u32,
    /// The end of Timer J.
    pub(crate) until: Option<Instant>,
    pub(crate) key: u64,
    pub(crate) peer: Peer,
    pub(crate) transport: Transport,
    pub(crate) response: Buf<M>,
    /// The response is to be sent again.
    pub(crate) tx: bool,
}

impl<const M: usize> Done<M> {
    pub(crate) const EMPTY: Done<M> = Done {
        generation: 0,
        until: None,
        key: 0,
        peer: core::net::SocketAddr::V4(core::net::SocketAddrV4::new(core::net::Ipv4Addr::UNSPECIFIED, 0)),
        transport: Transport::Udp,
        response: Buf::EMPTY,
        tx: false,
    };
}
