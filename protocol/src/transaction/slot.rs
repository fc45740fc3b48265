//! One row of the transaction table: the stored messages, the timer table and the pending
//! output of one transaction. The state machines that drive it are in `client.rs` and
//! `server.rs`.

use core::time::Duration;

use super::config::Config;
use super::timer::{Timer, TimerTable};
use super::types::{Handle, Kind, Peer, State, Transport};

/// Pending transmissions (bits of `Slot::tx`), sent in this order.
pub(crate) const TX_REQUEST: u8 = 1;
pub(crate) const TX_RESPONSE: u8 = 2;
pub(crate) const TX_ACK: u8 = 4;

/// Pending events (bits of `Slot::ev`), delivered in this order: whatever happened first
/// in a transaction's life comes first, and `Terminated` is always last.
pub(crate) const EV_REQUEST: u8 = 1;
pub(crate) const EV_RESPONSE: u8 = 2;
pub(crate) const EV_TIMEOUT: u8 = 4;
pub(crate) const EV_TRANSPORT: u8 = 8;
pub(crate) const EV_TERMINATED: u8 = 16;

/// A fixed-size message buffer.
pub(crate) struct Buf<const MSG: usize> {
    len: usize,
    bytes: [u8; MSG],
}

impl<const MSG: usize> Buf<MSG> {
    pub(crate) const EMPTY: Buf<MSG> = Buf { len: 0, bytes: [0; MSG] };

    /// Stores `b`; `false` (and nothing stored) if it does not fit.
    pub(crate) fn set(&mut self, b: &[u8]) -> bool {
        match self.bytes.get_mut(..b.len()) {
            Some(dst) => {
                dst.copy_from_slice(b);
                self.len = b.len();
                true
            }
            None => false,
        }
    }

    pub(crate) fn get(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }
}

/// One transaction, or a free row (`state == None`).
pub(crate) struct Slot<const MSG: usize> {
    /// Bumped when the row is freed, so that old handles stop matching.
    pub(crate) generation: u32,
    pub(crate) state: Option<State>,
    pub(crate) kind: Kind,
    pub(crate) peer: Peer,
    pub(crate) transport: Transport,
    /// The matching hash (see `key.rs`).
    pub(crate) hash: u32,
    pub(crate) timers: TimerTable,
    /// The current retransmission interval of Timer A, E or G.
    pub(crate) interval: Duration,
    /// The request that created the transaction.
    pub(crate) request: Buf<MSG>,
    /// The last response sent (server) or received (client).
    pub(crate) response: Buf<MSG>,
    /// Status code of `response`.
    pub(crate) code: u16,
    /// Offsets of the To header line in `response` (client: for the ACK).
    pub(crate) to_line: (u32, u32),
    /// A CANCEL server transaction: the INVITE server transaction it cancels.
    pub(crate) cancels: Option<Handle>,
    /// The timer that timed the transaction out.
    pub(crate) timeout: Option<Timer>,
    pub(crate) tx: u8,
    pub(crate) ev: u8,
    /// Whether the row's index sits in the table's transmit / event queue. Survives reuse of
    /// the row: a stale queue entry serves the next transaction in the row.
    pub(crate) tx_queued: bool,
    pub(crate) ev_queued: bool,
}

impl<const MSG: usize> Slot<MSG> {
    pub(crate) const EMPTY: Slot<MSG> = Slot {
        generation: 0,
        state: None,
        kind: Kind::NonInviteServer,
        peer: core::net::SocketAddr::V4(core::net::SocketAddrV4::new(core::net::Ipv4Addr::UNSPECIFIED, 0)),
        transport: Transport::Udp,
        hash: 0,
        timers: TimerTable::EMPTY,
        interval: Duration::ZERO,
        request: Buf::EMPTY,
        response: Buf::EMPTY,
        code: 0,
        to_line: (0, 0),
        cancels: None,
        timeout: None,
        tx: 0,
        ev: 0,
        tx_queued: false,
        ev_queued: false,
    };

    /// Takes a free row for a new transaction.
    pub(crate) fn open(&mut self, kind: Kind, state: State, peer: Peer, transport: Transport, hash: u32, cfg: &Config) {
        self.state = Some(state);
        self.kind = kind;
        self.peer = peer;
        self.transport = transport;
        self.hash = hash;
        self.timers = TimerTable::EMPTY;
        self.interval = cfg.t1;
        self.request.clear();
        self.response.clear();
        self.code = 0;
        self.to_line = (0, 0);
        self.cancels = None;
        self.timeout = None;
        self.tx = 0;
        self.ev = 0;
    }

    /// Whether the row holds a transaction that has not terminated.
    pub(crate) fn alive(&self) -> bool {
        matches!(self.state, Some(s) if s != State::Terminated)
    }

    /// Arms one of the "wait for retransmissions" timers (D, I, J, K): `dur` over an
    /// unreliable transport, zero over a reliable one (RFC 3261 Table 4), where nothing is
    /// retransmitted and so nothing needs absorbing. A zero timer fires on the next
    /// `handle_timeout(now)`.
    pub(crate) fn arm_wait(&mut self, timer: Timer, now: super::Instant, dur: Duration) {
        let d = if self.transport.is_reliable() { Duration::ZERO } else { dur };
        self.timers.set(timer, now + d);
    }

    /// Arms a retransmission timer (A, E, G) at T1, over unreliable transports only
    /// (§17.1.1.2: "If an unreliable transport is being used...").
    pub(crate) fn arm_retransmit(&mut self, timer: Timer, now: super::Instant, cfg: &Config) {
        if !self.transport.is_reliable() {
            self.interval = cfg.t1;
            self.timers.set(timer, now + cfg.t1);
        }
    }

    /// Ends the transaction: no timer runs any more; queued transmissions still go out (a
    /// final response over TCP is queued just before its zero Timer J ends the transaction).
    pub(crate) fn terminate(&mut self) {
        self.state = Some(State::Terminated);
        self.timers.clear();
        self.ev |= EV_TERMINATED;
    }

    /// Ends the transaction because a timer ran out before an answer.
    pub(crate) fn time_out(&mut self, timer: Timer) {
        self.timeout = Some(timer);
        self.ev |= EV_TIMEOUT;
        self.terminate();
    }

    /// Frees the row if the transaction has terminated and everything about it was polled.
    pub(crate) fn maybe_free(&mut self) {
        if self.state == Some(State::Terminated) && self.tx == 0 && self.ev == 0 {
            self.state = None;
            self.generation = self.generation.wrapping_add(1);
        }
    }

    /// The stored response's To line.
    pub(crate) fn to_line(&self) -> &[u8] {
        self.response.get().get(self.to_line.0 as usize..self.to_line.1 as usize).unwrap_or(&[])
    }

    /// The state machine's reaction to an expired timer.
    pub(crate) fn on_timer(&mut self, now: super::Instant, cfg: &Config, timer: Timer) {
        if self.kind.is_client() {
            self.client_timer(now, cfg, timer);
        } else {
            self.server_timer(now, cfg, timer);
        }
    }
}
