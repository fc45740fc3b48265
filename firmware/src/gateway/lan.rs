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
//! incomplete message each. One connection more takes the place of the connection silent the
//! longest if that one has been silent for [`LAN_STREAM_IDLE_EVICT`] (a phone that rebooted or
//! lost its NAT mapping leaves a dead connection behind; a live one sends keepalives or
//! re-registers), which the runtime is told to close
//! ([`Event::LanStreamEvicted`](super::Event::LanStreamEvicted)); otherwise it is refused (the
//! runtime closes it, counted in
//! [`Stats::lan_streams_refused`](super::Stats::lan_streams_refused)); a message longer than the
//! buffer, or bytes that cannot be framed, break the connection: its buffer is dropped, the
//! runtime is told to close it ([`Event::LanStreamBroken`](super::Event::LanStreamBroken)), and
//! the phone reconnects.

use core::net::SocketAddr;
use core::time::Duration;

use carillon_protocol::Instant;

use super::sip::MAX_SIP_LEN;

/// TCP connections from phones the box holds at once.
pub const MAX_LAN_STREAMS: usize = super::profile::MAX_LAN_STREAMS;
/// A connection silent this long gives its place to a new one when the table is full (RFC 5626
/// phones send a keepalive every two minutes or so on a connection).
pub const LAN_STREAM_IDLE_EVICT: Duration = Duration::from_secs(180);
/// Bytes held per connection while a message is incomplete: one message of the largest size the
/// box handles ([`MAX_SIP_LEN`]).
pub const LAN_STREAM_BUFFER_LEN: usize = MAX_SIP_LEN;

/// One connection.
pub(crate) struct LanStream {
    pub(crate) peer: SocketAddr,
    pub(crate) rx: heapless::Vec<u8, LAN_STREAM_BUFFER_LEN>,
    /// When it opened or last sent bytes.
    pub(crate) last_heard: Instant,
}

/// What [`LanStreams::open`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opened {
    /// A free row (or the same peer again).
    Stored,
    /// In the place of this connection, silent for too long.
    Evicted(SocketAddr),
    /// The table is full of live connections.
    Full,
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

    /// Adds a connection (a known peer starts over with an empty buffer); when full, in the
    /// place of the one silent longest if it is silent for [`LAN_STREAM_IDLE_EVICT`].
    pub(crate) fn open(&mut self, peer: SocketAddr, now: Instant) -> Opened {
        if let Some(s) = self.rows.iter_mut().find(|s| s.peer == peer) {
            s.rx.clear();
            s.last_heard = now;
            return Opened::Stored;
        }
        let row = LanStream { peer, rx: heapless::Vec::new(), last_heard: now };
        let Err(row) = self.rows.push(row) else { return Opened::Stored };
        let oldest = self.rows.iter_mut().min_by_key(|s| s.last_heard);
        match oldest {
            Some(old) if now - old.last_heard >= LAN_STREAM_IDLE_EVICT => {
                let evicted = old.peer;
                *old = row;
                Opened::Evicted(evicted)
            }
            _ => Opened::Full,
        }
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
