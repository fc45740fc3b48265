//! Phones that reach the box over TCP (RFC 3261 §18: a UA may use TCP, and must for messages
//! too large for UDP). The runtime accepts the connections and hands their bytes in; the core
//! keeps a bounded table of them, each with the bytes of a message not complete yet, and frames
//! the stream by Content-Length (§18.3, `Framing::Stream` of the wire crate).
//!
//! A connection is named by the phone's address (its end of the connection): responses go back
//! on the connection the request came on (§18.2.2), and a request for a phone whose binding was
//! registered from an open connection goes on that connection (the way RFC 5626 reuses a flow:
//! the box opens no connections to phones). When the connection is gone, the phone is sent
//! datagrams, as any other.
//!
//! Capacities: [`MAX_LAN_STREAMS`] connections, [`LAN_STREAM_BUFFER_LEN`] bytes of an
//! incomplete message each. One connection more is refused (the runtime closes it, counted in
//! [`Stats::lan_streams_refused`](super::Stats::lan_streams_refused)); a message longer than the
//! buffer, or bytes that cannot be framed, break the connection: its buffer is dropped, the
//! runtime is told to close it ([`Event::LanStreamBroken`](super::Event::LanStreamBroken)), and
//! the phone reconnects.

use core::net::SocketAddr;

use super::sip::MAX_SIP_LEN;

/// TCP connections from phones the box holds at once.
pub const MAX_LAN_STREAMS: usize = 16;
/// Bytes held per connection while a message is incomplete: one message of the largest size the
/// box handles ([`MAX_SIP_LEN`]).
pub const LAN_STREAM_BUFFER_LEN: usize = MAX_SIP_LEN;

/// One connection.
pub(crate) struct LanStream {
    pub(crate) peer: SocketAddr,
    pub(crate) rx: heapless::Vec<u8, LAN_STREAM_BUFFER_LEN>,
}

/// The bounded table of connections.
pub(crate) struct LanStreams {
    rows: heapless::Vec<LanStream, MAX_LAN_STREAMS>,
}

impl LanStreams {
    pub(crate) const fn new() -> Self {
        LanStreams { rows: heapless::Vec::new() }
    }

    /// Whether `peer` is the phone end of an open connection.
    pub(crate) fn has(&self, peer: SocketAddr) -> bool {
        self.rows.iter().any(|s| s.peer == peer)
    }

    /// Adds a connection (a known peer starts over with an empty buffer). False when full.
    pub(crate) fn open(&mut self, peer: SocketAddr) -> bool {
        if let Some(s) = self.rows.iter_mut().find(|s| s.peer == peer) {
            s.rx.clear();
            return true;
        }
        self.rows.push(LanStream { peer, rx: heapless::Vec::new() }).is_ok()
    }

    pub(crate) fn close(&mut self, peer: SocketAddr) {
        self.rows.retain(|s| s.peer != peer);
    }

    pub(crate) fn get_mut(&mut self, peer: SocketAddr) -> Option<&mut LanStream> {
        self.rows.iter_mut().find(|s| s.peer == peer)
    }

    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }
}
