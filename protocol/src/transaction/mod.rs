//! The RFC 3261 transaction layer (§17): sans-IO, `no_std`, no heap, one state machine for a
//! bounded table of transactions that both the box's proxy and the cloud switch's proxy build
//! on.
//!
//! # The run loop
//!
//! [`Transactions`] never does I/O and never reads a clock (STYLE.md habits 1–2). The runtime:
//! 1. parses each incoming message ([`crate::parse`], and [`crate::validate()`] for requests) and
//!    hands it in with [`Transactions::handle_request`] or [`Transactions::handle_response`],
//!    with the time and where it came from;
//! 2. starts client transactions with [`Transactions::start_client`] and answers server
//!    transactions with [`Transactions::respond`];
//! 3. calls [`Transactions::handle_timeout`] when [`Transactions::poll_timeout`]'s deadline is
//!    reached, and [`Transactions::handle_transport_error`] when a send fails;
//! 4. **after any of these calls, drains**: [`Transactions::poll_transmit`] until `None`
//!    (sending each message) and [`Transactions::poll_event`] until `None` (acting on each),
//!    then re-reads [`Transactions::poll_timeout`].
//!
//! The drain rule matters: a transaction keeps only its *latest* response, so a response
//! event not polled before the next response arrives on the same transaction reports the
//! newer one, and a transmission not polled before the transaction is reused is gone.
//!
//! ```
//! use carillon_protocol::transaction::{Config, Event, Received, Transactions, Transport};
//! use carillon_protocol::{parse, Framing, Header, Instant, ParseConfig, Status};
//!
//! let mut txns: Transactions<4, 1500> = Transactions::new(Config::DEFAULT);
//! let phone = "10.0.0.5:5060".parse().unwrap();
//! let bytes = b"OPTIONS sip:box SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK1\r\n\
//! From: <sip:101@school>;tag=a\r\nTo: <sip:box>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n\
//! Content-Length: 0\r\n\r\n";
//! let mut headers = [Header::EMPTY; 32];
//! let Ok(Status::Complete(msg)) = parse(bytes, &mut headers, Framing::Datagram, &ParseConfig::DEFAULT)
//! else { unreachable!() };
//! let now = Instant::ZERO;
//! let Ok(Received::New { handle, .. }) = txns.handle_request(now, phone, Transport::Udp, &msg)
//! else { unreachable!() };
//! assert_eq!(txns.poll_event(), Some(Event::Request { handle, cancels: None }));
//!
//! // The TU answers; the response goes back to where the request came from.
//! let mut out = [0u8; 1500];
//! let n = carillon_protocol::write::write_response(&msg, 200, "OK", Some(b"t"), &[], &[], &mut out).unwrap();
//! txns.respond(now, handle, &out[..n]).unwrap();
//! let t = txns.poll_transmit().unwrap();
//! assert_eq!((t.dest, t.bytes), (phone, &out[..n]));
//! assert!(txns.poll_transmit().is_none());
//!
//! // Timer J (64*T1 over UDP) ends the transaction.
//! let j = txns.poll_timeout().unwrap();
//! txns.handle_timeout(j);
//! assert_eq!(txns.poll_event(), Some(Event::Terminated { handle }));
//! ```
//!
//! # What is where
//! - matching (§17.1.3, §17.2.3, §9.2): `key.rs`; the state machines: `client.rs`,
//!   `server.rs`; timers A–M: [`Timer`]; the ACK for non-2xx: `ack.rs`; branches:
//!   [`BranchGenerator`].
//! - INVITE 2xx handling follows RFC 6026: both INVITE transactions have an Accepted state
//!   (Timers L and M) in which 2xx retransmissions and forks pass through to the TU and
//!   retransmitted INVITEs are absorbed, instead of RFC 3261's "2xx terminates".
//!
//! # Capacity
//! `N` transactions, each with two `MSG`-byte buffers (the request, and the last response):
//! `Transactions<64>` with the default `MSG` of 4 KiB is about 520 KiB, so build a large table
//! in a `static` or on a thread with room for it. A request beyond the table is
//! [`Error::Full`] (answer 503 with Retry-After), a message beyond `MSG` bytes or with more than
//! 64 header lines is [`Error::TooLarge`]; both are counted in [`Stats`]. Nothing here
//! panics on any input.

mod ack;
mod branch;
mod client;
mod config;
mod done;
mod error;
mod event;
mod key;
mod server;
mod slot;
mod timer;
mod types;

pub use branch::{Branch, BranchGenerator, MAGIC_COOKIE};
pub use config::Config;
pub use error::{Error, Stats};
pub use event::{Event, Received, Transmit};
pub use timer::Timer;
pub use types::{Handle, Kind, Peer, State, Transport};

use heapless::Deque;

use self::client::OnResponse;
use self::done::Done;
use self::error::bump;
use self::key::{branch_hash, client_matches, done_key, reparse, server_matches, Fields, Rule, MAX_HEADERS};
use self::server::OnAck;
use self::slot::{
    Slot, EV_REQUEST, EV_RESPONSE, EV_TERMINATED, EV_TIMEOUT, EV_TRANSPORT, TX_ACK, TX_REQUEST, TX_RESPONSE,
};
use crate::header::{Header, HeaderKind};
use crate::message::Message;
use crate::method::Method;
use crate::time::Instant;

/// The default size of a transaction's message buffers: 4 KiB holds any SIP request a phone
/// sends over UDP (RFC 3261 §18.1.1 moves requests near the MTU to TCP) with room for an SDP
/// body; a message over TCP/TLS larger than this is refused with [`Error::TooLarge`].
pub const DEFAULT_MSG: usize = 4096;

/// A bounded table of up to `N` SIP transactions, each storing messages of up to `MSG` bytes,
/// plus `DONE` *completed rows* of `DONE_MSG` bytes for non-INVITE server transactions that
/// only wait out Timer J (see [Capacity](self#capacity); none by default). See the
/// [module docs](self) for the run loop.
pub struct Transactions<
    const N: usize,
    const MSG: usize = DEFAULT_MSG,
    const DONE: usize = 0,
    const DONE_MSG: usize = 0,
> {
    config: Config,
    slots: [Slot<MSG>; N],
    done: [Done<DONE_MSG>; DONE],
    /// Rows with transmissions to poll, in the order they became pending.
    tx_queue: Deque<u32, N>,
    /// Rows with events to poll, in the order they became pending.
    ev_queue: Deque<u32, N>,
    /// Where an ACK is written when it is polled.
    scratch: [u8; MSG],
    stats: Stats,
}

impl<const N: usize, const MSG: usize, const DONE: usize, const DONE_MSG: usize> Transactions<N, MSG, DONE, DONE_MSG> {
    /// An empty table. `const`, so that firmware can keep the table in a `static`.
    pub const fn new(config: Config) -> Self {
        Transactions {
            config,
            slots: [Slot::EMPTY; N],
            done: [Done::EMPTY; DONE],
            tx_queue: Deque::new(),
            ev_queue: Deque::new(),
            scratch: [0; MSG],
            stats: Stats {
                full: 0,
                too_large: 0,
                malformed: 0,
                stray_responses: 0,
                request_retransmissions: 0,
                response_retransmissions: 0,
                completed_evicted: 0,
            },
        }
    }

    /// The timer values in use.
    pub const fn config(&self) -> &Config {
        &self.config
    }

    /// What was refused or dropped so far.
    pub const fn stats(&self) -> &Stats {
        &self.stats
    }

    /// How many rows are in use (terminated transactions count until their `Terminated`
    /// event and transmissions have been polled).
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.state.is_some()).count()
    }

    /// Whether no row is in use.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The table's capacity, `N`.
    pub const fn capacity(&self) -> usize {
        N
    }

    // ---- incoming ----

    /// A request from the network (RFC 3261 §17.2.3): matched to its server transaction (a
    /// retransmission, absorbed; an ACK for a non-2xx final response, absorbed), or a new
    /// server transaction reported by [`Event::Request`]. A CANCEL gets its own server
    /// transaction and is also matched to the INVITE it cancels (§9.2). An ACK never creates
    /// a transaction: one that matches none is [`Received::Ack`]`(None)` for the TU to route.
    ///
    /// `from` and `transport` say where the request came from; the transaction's responses
    /// go back there (§18.2.2 with RFC 3581's symmetric response routing: the source address,
    /// or the connection, that the request arrived on).
    ///
    /// Errors: [`Error::Malformed`] (no usable top Via or CSeq: answer 400),
    /// [`Error::Full`] (answer 503), [`Error::TooLarge`] (answer 513), [`Error::Invalid`] for a
    /// response.
    pub fn handle_request(
        &mut self,
        now: Instant,
        from: Peer,
        transport: Transport,
        msg: &Message<'_, '_>,
    ) -> Result<Received, Error> {
        let Some(method) = msg.method() else { return Err(Error::Invalid("not a request")) };
        let inc = match Fields::of(msg) {
            Ok(f) => f,
            Err(e) => {
                bump(&mut self.stats.malformed);
                return Err(Error::Malformed(e));
            }
        };
        let cfg = self.config;

        if method == Method::Ack {
            let Some(i) = self.find_server(&inc, Rule::AckToInvite) else { return Ok(Received::Ack(None)) };
            let handle = self.handle_at(i);
            let Some(slot) = self.slots.get_mut(i) else { return Ok(Received::Ack(None)) };
            let outcome = slot.on_ack(now, &cfg);
            self.sync(i);
            return Ok(match outcome {
                OnAck::Absorbed => Received::AckAbsorbed(handle),
                OnAck::ToTu => Received::Ack(Some(handle)),
            });
        }

        if let Some(i) = self.find_server(&inc, Rule::SameMethod) {
            bump(&mut self.stats.request_retransmissions);
            let handle = self.handle_at(i);
            if let Some(slot) = self.slots.get_mut(i) {
                slot.on_retransmission();
            }
            self.sync(i);
            return Ok(Received::Retransmission(handle));
        }

        if DONE > 0 && method != Method::Invite && inc.rfc3261() {
            let key = done_key(&inc);
            if let Some(j) = self.done.iter().position(|d| d.until.is_some() && d.key == key) {
                bump(&mut self.stats.request_retransmissions);
                let Some(d) = self.done.get_mut(j) else { return Err(Error::Full) };
                d.tx = true;
                return Ok(Received::Retransmission(Handle { index: (N + j) as u32, generation: d.generation }));
            }
        }

        let cancels = if method == Method::Cancel {
            self.find_server(&inc, Rule::CancelToInvite).map(|i| self.handle_at(i))
        } else {
            None
        };
        if msg.headers.len() > MAX_HEADERS {
            bump(&mut self.stats.too_large);
            return Err(Error::TooLarge);
        }
        let i = self.allocate(msg.bytes.len())?;
        let (kind, state) = if method == Method::Invite {
            (Kind::InviteServer, State::Proceeding)
        } else {
            (Kind::NonInviteServer, State::Trying)
        };
        let Some(slot) = self.slots.get_mut(i) else { return Err(Error::Full) };
        slot.open(kind, state, from, transport, inc.server_hash(), &cfg);
        // `allocate` checked the size, so this stores.
        slot.request.set(msg.bytes);
        slot.cancels = cancels;
        slot.start_server();
        let handle = self.handle_at(i);
        self.sync(i);
        Ok(Received::New { handle, cancels })
    }

    /// A response from the network (RFC 3261 §17.1.3): matched to its client transaction by
    /// the top Via branch and the CSeq method, delivered to the TU ([`Event::Response`]) or
    /// absorbed as a retransmission; one that matches nothing is [`Received::Stray`].
    ///
    /// Errors: [`Error::Malformed`] (no usable top Via or CSeq: drop it, §18.1.2),
    /// [`Error::TooLarge`] (the response does not fit `MSG`: dropped, the transaction goes on
    /// as if it had been lost), [`Error::Invalid`] for a request.
    pub fn handle_response(&mut self, now: Instant, msg: &Message<'_, '_>) -> Result<Received, Error> {
        let Some(code) = msg.status_code() else { return Err(Error::Invalid("not a response")) };
        let inc = match Fields::of(msg) {
            Ok(f) => f,
            Err(e) => {
                bump(&mut self.stats.malformed);
                return Err(Error::Malformed(e));
            }
        };
        let Some(i) = self.find_client(&inc) else {
            bump(&mut self.stats.stray_responses);
            return Ok(Received::Stray);
        };
        let handle = self.handle_at(i);
        let cfg = self.config;
        let Some(slot) = self.slots.get_mut(i) else { return Ok(Received::Stray) };
        let received = match slot.plan_response(code) {
            OnResponse::Deliver => {
                if !slot.response.set(msg.bytes) {
                    bump(&mut self.stats.too_large);
                    return Err(Error::TooLarge);
                }
                slot.to_line = msg.header(HeaderKind::To).map_or((0, 0), |h| (h.line_start, h.line_end));
                slot.deliver(now, &cfg, code);
                Received::Response(handle)
            }
            OnResponse::ResendAck => {
                bump(&mut self.stats.response_retransmissions);
                slot.tx |= TX_ACK;
                Received::ResponseAbsorbed(handle)
            }
            OnResponse::Absorb => {
                bump(&mut self.stats.response_retransmissions);
                Received::ResponseAbsorbed(handle)
            }
        };
        self.sync(i);
        Ok(received)
    }

    // ---- the TU's verbs ----

    /// Starts a client transaction for `request`, which the caller wrote with its own top Via
    /// and an RFC 3261 branch (see [`BranchGenerator`]), to be sent to `dest` over
    /// `transport` (§17.1.1.2, §17.1.2.2). The request is queued for [`Self::poll_transmit`]
    /// at once and retransmitted by the table over unreliable transports.
    ///
    /// Errors: [`Error::Full`] and [`Error::TooLarge`] (the proxy acts as if a 503 had come
    /// back), [`Error::Invalid`] for a message that is not a request, an ACK (never a
    /// transaction, §17.1.1.3), one without an RFC 3261 branch, or one whose branch and method
    /// another client transaction already uses.
    pub fn start_client(
        &mut self,
        now: Instant,
        dest: Peer,
        transport: Transport,
        request: &[u8],
    ) -> Result<Handle, Error> {
        if request.len() > MSG {
            bump(&mut self.stats.too_large);
            return Err(Error::TooLarge);
        }
        let mut headers = [Header::EMPTY; MAX_HEADERS];
        let Some(msg) = reparse(request, &mut headers) else {
            return Err(Error::Invalid("not one complete SIP message of at most 64 header lines"));
        };
        let Some(method) = msg.method() else { return Err(Error::Invalid("not a request")) };
        if method == Method::Ack {
            return Err(Error::Invalid("an ACK is not a transaction (RFC 3261 §17.1.1.3)"));
        }
        let Ok(fields) = Fields::of(&msg) else { return Err(Error::Invalid("no parsable top Via or CSeq")) };
        if !fields.rfc3261() {
            return Err(Error::Invalid("top Via has no RFC 3261 branch (z9hG4bK...)"));
        }
        if fields.cseq.method != method {
            return Err(Error::Invalid("CSeq method differs from the request method"));
        }
        if self.find_client(&fields).is_some() {
            return Err(Error::Invalid("branch already used by a client transaction of this method"));
        }
        let i = self.allocate(msg.bytes.len())?;
        let cfg = self.config;
        let kind = if method == Method::Invite { Kind::InviteClient } else { Kind::NonInviteClient };
        let state = if kind == Kind::InviteClient { State::Calling } else { State::Trying };
        let Some(slot) = self.slots.get_mut(i) else { return Err(Error::Full) };
        slot.open(kind, state, dest, transport, branch_hash(&fields), &cfg);
        slot.request.set(msg.bytes);
        slot.start_client(now, &cfg);
        let handle = self.handle_at(i);
        self.sync(i);
        Ok(handle)
    }

    /// The TU's response on a server transaction (§17.2.1, §17.2.2): sent, and kept for
    /// retransmission when the request comes again (and, for an INVITE's non-2xx final
    /// response over UDP, on Timer G until the ACK).
    ///
    /// Errors: [`Error::UnknownHandle`], [`Error::WrongState`] (a client transaction, a second
    /// final response, a non-2xx after a 2xx), [`Error::TooLarge`] (nothing changes: send a
    /// shorter response instead), [`Error::Invalid`] (not a response).
    pub fn respond(&mut self, now: Instant, handle: Handle, response: &[u8]) -> Result<(), Error> {
        let i = self.live_index(handle)?;
        let cfg = self.config;
        let Some(slot) = self.slots.get_mut(i) else { return Err(Error::UnknownHandle) };
        if slot.kind.is_client() {
            return Err(Error::WrongState);
        }
        if response.len() > MSG {
            bump(&mut self.stats.too_large);
            return Err(Error::TooLarge);
        }
        let mut headers = [Header::EMPTY; MAX_HEADERS];
        let Some(msg) = reparse(response, &mut headers) else {
            return Err(Error::Invalid("not one complete SIP message of at most 64 header lines"));
        };
        let Some(code) = msg.status_code() else { return Err(Error::Invalid("not a response")) };
        slot.check_respond(code)?;
        slot.response.set(msg.bytes);
        slot.responded(now, &cfg, code);
        if DONE > 0
            && code >= 200
            && slot.kind == Kind::NonInviteServer
            && !slot.transport.is_reliable()
            && response.len() <= DONE_MSG
        {
            self.complete(now, i);
        }
        self.sync(i);
        Ok(())
    }

    /// Expires every timer due at `now` (retransmissions, timeouts, the end of the
    /// absorbing states). Then drain.
    pub fn handle_timeout(&mut self, now: Instant) {
        for d in self.done.iter_mut() {
            if d.until.is_some_and(|t| t <= now) {
                d.until = None;
                d.tx = false;
            }
        }
        let cfg = self.config;
        for i in 0..N {
            let Some(slot) = self.slots.get_mut(i) else { continue };
            let mut fired = false;
            while slot.alive() {
                let Some(timer) = slot.timers.expire(now) else { break };
                slot.on_timer(now, &cfg, timer);
                fired = true;
            }
            if fired {
                self.sync(i);
            }
        }
    }

    /// The runtime could not send a message of transaction `handle` (§17.1.4, §17.2.4): the
    /// transaction ends with [`Event::TransportError`], and nothing more of it is sent.
    pub fn handle_transport_error(&mut self, _now: Instant, handle: Handle) -> Result<(), Error> {
        let i = self.live_index(handle)?;
        if let Some(slot) = self.slots.get_mut(i) {
            slot.tx = 0;
            slot.ev |= EV_TRANSPORT;
            slot.terminate();
        }
        self.sync(i);
        Ok(())
    }

    /// Ends a transaction the TU gives up on: an INVITE client transaction in Proceeding has
    /// no timer of its own (§17.1.1.2), so a proxy whose Timer C and CANCEL got no final
    /// response ends it here (§16.8); a server transaction the TU will never answer, too.
    pub fn terminate(&mut self, handle: Handle) -> Result<(), Error> {
        let i = self.live_index(handle)?;
        if let Some(slot) = self.slots.get_mut(i) {
            slot.terminate();
        }
        self.sync(i);
        Ok(())
    }

    // ---- output ----

    /// The earliest timer deadline of any transaction: call [`Self::handle_timeout`] then.
    /// A deadline at or before the current time means "now".
    pub fn poll_timeout(&self) -> Option<Instant> {
        let rows = self.slots.iter().filter(|s| s.alive()).filter_map(|s| s.timers.next().map(|(_, at)| at));
        rows.chain(self.done.iter().filter_map(|d| d.until)).min()
    }

    /// The next message to send. The bytes are borrowed from the table (a transaction's
    /// stored request or response, or the ACK written on the spot): send them before the next
    /// call on the table.
    pub fn poll_transmit(&mut self) -> Option<Transmit<'_>> {
        loop {
            let Some(&i) = self.tx_queue.front() else { return self.poll_done_transmit() };
            let i = i as usize;
            let Some(slot) = self.slots.get_mut(i) else {
                self.tx_queue.pop_front();
                continue;
            };
            let bit = slot.tx & slot.tx.wrapping_neg();
            slot.tx &= !bit;
            if slot.tx == 0 {
                slot.tx_queued = false;
                self.tx_queue.pop_front();
            }
            let handle = Handle { index: i as u32, generation: slot.generation };
            let (dest, transport) = (slot.peer, slot.transport);
            let mut ack_len = 0;
            if bit == TX_ACK {
                match ack::write_ack(slot.request.get(), slot.to_line(), &mut self.scratch) {
                    Some(n) => ack_len = n,
                    None => {
                        // Only a request we could not parse again gets here, which `store`
                        // rules out; skip rather than send something broken.
                        slot.maybe_free();
                        continue;
                    }
                }
            }
            slot.maybe_free();
            if bit == 0 {
                continue;
            }
            let slot = self.slots.get(i)?;
            let bytes = match bit {
                TX_REQUEST => slot.request.get(),
                TX_RESPONSE => slot.response.get(),
                _ => self.scratch.get(..ack_len)?,
            };
            return Some(Transmit { handle, dest, transport, bytes });
        }
    }

    /// The next event for the TU. A transaction's row is reused only after its
    /// [`Event::Terminated`] has been polled.
    pub fn poll_event(&mut self) -> Option<Event> {
        loop {
            let i = *self.ev_queue.front()? as usize;
            let Some(slot) = self.slots.get_mut(i) else {
                self.ev_queue.pop_front();
                continue;
            };
            let bit = slot.ev & slot.ev.wrapping_neg();
            slot.ev &= !bit;
            if slot.ev == 0 {
                slot.ev_queued = false;
                self.ev_queue.pop_front();
            }
            let handle = Handle { index: i as u32, generation: slot.generation };
            let event = match bit {
                EV_REQUEST => Event::Request { handle, cancels: slot.cancels },
                EV_RESPONSE => Event::Response { handle, code: slot.code },
                EV_TIMEOUT => Event::Timeout { handle, timer: slot.timeout.unwrap_or(Timer::B) },
                EV_TRANSPORT => Event::TransportError { handle },
                EV_TERMINATED => Event::Terminated { handle },
                _ => {
                    slot.maybe_free();
                    continue;
                }
            };
            slot.maybe_free();
            return Some(event);
        }
    }

    // ---- reading a transaction ----

    /// The request that created the transaction (§17: the server's received request, or the
    /// client's request as sent).
    pub fn request(&self, handle: Handle) -> Option<&[u8]> {
        self.slot(handle).map(|s| s.request.get())
    }

    /// The transaction's last response: received (client) or sent (server).
    pub fn response(&self, handle: Handle) -> Option<&[u8]> {
        self.slot(handle).map(|s| s.response.get()).filter(|r| !r.is_empty())
    }

    /// The transaction's state.
    pub fn state(&self, handle: Handle) -> Option<State> {
        self.slot(handle).and_then(|s| s.state)
    }

    /// The transaction's kind.
    pub fn kind(&self, handle: Handle) -> Option<Kind> {
        self.slot(handle).map(|s| s.kind)
    }

    /// The peer and transport the transaction sends to.
    pub fn peer(&self, handle: Handle) -> Option<(Peer, Transport)> {
        self.slot(handle).map(|s| (s.peer, s.transport))
    }

    // ---- internals ----

    /// Moves the completed non-INVITE server transaction of row `i` (its final response just
    /// stored and queued) to a completed row: the response is sent from there, the full row
    /// ends now. Without a usable key the transaction stays where it is.
    fn complete(&mut self, now: Instant, i: usize) {
        let Some(slot) = self.slots.get_mut(i) else { return };
        let mut headers = [Header::EMPTY; MAX_HEADERS];
        let Some(req) = reparse(slot.request.get(), &mut headers) else { return };
        let Ok(fields) = Fields::of(&req) else { return };
        if !fields.rfc3261() {
            return;
        }
        let key = done_key(&fields);
        // A free row, or the one whose Timer J ends first.
        let free = self.done.iter().position(|d| d.until.is_none());
        let j = match free {
            Some(j) => j,
            None => {
                let oldest = self.done.iter().enumerate().min_by_key(|(_, d)| d.until).map(|(j, _)| j);
                let Some(j) = oldest else { return };
                bump(&mut self.stats.completed_evicted);
                j
            }
        };
        let Some(d) = self.done.get_mut(j) else { return };
        if !d.response.set(slot.response.get()) {
            return;
        }
        d.generation = d.generation.wrapping_add(1);
        d.until = Some(now + self.config.timeout());
        d.key = key;
        d.peer = slot.peer;
        d.transport = slot.transport;
        d.tx = slot.tx & TX_RESPONSE != 0;
        slot.tx &= !TX_RESPONSE;
        slot.terminate();
    }

    /// The next response a completed row has to send again.
    fn poll_done_transmit(&mut self) -> Option<Transmit<'_>> {
        let j = self.done.iter().position(|d| d.tx && d.until.is_some())?;
        let d = self.done.get_mut(j)?;
        d.tx = false;
        let handle = Handle { index: (N + j) as u32, generation: d.generation };
        let d = self.done.get(j)?;
        Some(Transmit { handle, dest: d.peer, transport: d.transport, bytes: d.response.get() })
    }

    fn slot(&self, handle: Handle) -> Option<&Slot<MSG>> {
        self.slots.get(handle.index()).filter(|s| s.state.is_some() && s.generation == handle.generation)
    }

    /// The row of a transaction that has not terminated.
    fn live_index(&self, handle: Handle) -> Result<usize, Error> {
        match self.slot(handle) {
            Some(s) if s.alive() => Ok(handle.index()),
            _ => Err(Error::UnknownHandle),
        }
    }

    fn handle_at(&self, i: usize) -> Handle {
        let generation = self.slots.get(i).map_or(0, |s| s.generation);
        Handle { index: i as u32, generation }
    }

    /// A free row for a message of `len` bytes.
    fn allocate(&mut self, len: usize) -> Result<usize, Error> {
        if len > MSG {
            bump(&mut self.stats.too_large);
            return Err(Error::TooLarge);
        }
        match self.slots.iter().position(|s| s.state.is_none()) {
            Some(i) => Ok(i),
            None => {
                bump(&mut self.stats.full);
                Err(Error::Full)
            }
        }
    }

    /// Puts row `i` on the transmit and event queues if it has something pending. Each row is
    /// on each queue at most once, so the queues (capacity `N`) never overflow.
    fn sync(&mut self, i: usize) {
        let Some(slot) = self.slots.get_mut(i) else { return };
        if slot.tx != 0 && !slot.tx_queued && self.tx_queue.push_back(i as u32).is_ok() {
            slot.tx_queued = true;
        }
        if slot.ev != 0 && !slot.ev_queued && self.ev_queue.push_back(i as u32).is_ok() {
            slot.ev_queued = true;
        }
    }

    /// The server transaction `inc` belongs to under `rule`.
    fn find_server(&self, inc: &Fields<'_>, rule: Rule) -> Option<usize> {
        let hash = inc.server_hash();
        self.slots.iter().position(|s| {
            if !s.alive() || s.kind.is_client() || s.hash != hash {
                return false;
            }
            let sent_to_tag = if rule == Rule::AckToInvite && !inc.rfc3261() { response_to_tag(s) } else { None };
            let mut headers = [Header::EMPTY; MAX_HEADERS];
            let Some(stored) = reparse(s.request.get(), &mut headers) else { return false };
            let Ok(stored) = Fields::of(&stored) else { return false };
            server_matches(&stored, inc, rule, sent_to_tag)
        })
    }

    /// The client transaction a response belongs to.
    fn find_client(&self, inc: &Fields<'_>) -> Option<usize> {
        let hash = branch_hash(inc);
        self.slots.iter().position(|s| {
            if !s.alive() || !s.kind.is_client() || s.hash != hash {
                return false;
            }
            let mut headers = [Header::EMPTY; MAX_HEADERS];
            let Some(stored) = reparse(s.request.get(), &mut headers) else { return false };
            let Ok(stored) = Fields::of(&stored) else { return false };
            client_matches(&stored, inc)
        })
    }
}

/// The To tag of the last response a server transaction sent (RFC 2543 ACK matching).
fn response_to_tag<const MSG: usize>(s: &Slot<MSG>) -> Option<&[u8]> {
    let mut headers = [Header::EMPTY; MAX_HEADERS];
    let msg = reparse(s.response.get(), &mut headers)?;
    msg.to()?.ok()?.tag()
}
