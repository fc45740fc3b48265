//! The small types the transaction table is addressed with.

/// Where a message came from or goes to: the remote address of a datagram, or of the
/// connection (flow) a stream message travels on. The runtime maps it onto its sockets.
pub type Peer = core::net::SocketAddr;

/// The transport a transaction runs over, which decides whether the transaction layer
/// retransmits (RFC 3261 §17.1.1.2: only over unreliable transports) and whether the
/// "wait for retransmissions" timers D, I, J and K are zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// UDP: unreliable, the transaction layer retransmits.
    Udp,
    /// TCP: reliable.
    Tcp,
    /// TLS over TCP: reliable.
    Tls,
    /// SCTP: reliable.
    Sctp,
    /// WebSocket (RFC 7118): reliable.
    Ws,
    /// Secure WebSocket (RFC 7118): reliable.
    Wss,
}

impl Transport {
    /// Whether the transport delivers reliably (everything but UDP), RFC 3261 §18.
    pub const fn is_reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }
}

/// A transaction's place in the table: an index plus a generation, so that a handle kept
/// after its transaction ended never reaches the transaction that reused the slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Handle {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

impl Handle {
    /// The slot index, for the caller's own side tables (stable for the transaction's life).
    pub const fn index(self) -> usize {
        self.index as usize
    }
}

/// The four transaction state machines of RFC 3261 §17.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// INVITE client transaction (§17.1.1).
    InviteClient,
    /// Non-INVITE client transaction (§17.1.2).
    NonInviteClient,
    /// INVITE server transaction (§17.2.1).
    InviteServer,
    /// Non-INVITE server transaction (§17.2.2).
    NonInviteServer,
}

impl Kind {
    /// Whether this is a client transaction.
    pub const fn is_client(self) -> bool {
        matches!(self, Kind::InviteClient | Kind::NonInviteClient)
    }

    /// Whether this is an INVITE transaction.
    pub const fn is_invite(self) -> bool {
        matches!(self, Kind::InviteClient | Kind::InviteServer)
    }
}

/// A transaction's state (RFC 3261 Figures 5–8, with RFC 6026's Accepted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// INVITE client: request sent, no response yet (§17.1.1.2).
    Calling,
    /// Non-INVITE client or server: request sent / received, no response yet (§17.1.2.2,
    /// §17.2.2).
    Trying,
    /// A provisional response was received (client) or sent (server).
    Proceeding,
    /// A final response (non-2xx for INVITE) was received or sent; retransmissions are
    /// absorbed until the timer D, K, H or J.
    Completed,
    /// INVITE server: the ACK for the non-2xx final response arrived (§17.2.1).
    Confirmed,
    /// INVITE client or server after a 2xx (RFC 6026 §7.1, §7.2): 2xx retransmissions and
    /// forked 2xx pass through to the TU until Timer M / L.
    Accepted,
    /// Done. The slot is reused once the `Terminated` event has been polled.
    Terminated,
}
