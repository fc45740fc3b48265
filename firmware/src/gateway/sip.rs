//! The SIP side of the gateway: a stateful proxy (RFC 3261 §16) on the transaction layer of
//! `carillon_protocol::transaction`, the survival registrar (§10.3 with digest, §22), the
//! survival proxy's check of callers (407 and `Proxy-Authorization`, §22.3), ring groups
//! (parallel forking, §16.7), emergency routing, and the call table behind the journal. Phones
//! talk to it over UDP or over TCP connections they opened (see the `lan` module).
//!
//! Every request that reaches the proxy gets a server transaction and a *context* (a row of a
//! bounded table) linking it to its client transactions ("branches"). Routing:
//! - from a phone, outside a dialog: to the cloud while online or recovering (own `Via` with a
//!   seeded branch, `Path` on REGISTER per RFC 3327, `Record-Route` on dialog-creating requests,
//!   `received`/`rport` filled in per RFC 3581); served locally in survival;
//! - from a phone, inside a dialog: to the other phone when the call was set up locally (it is
//!   in the call table, which outlives the outage), else to the cloud; in survival, a call set
//!   up through the cloud keeps its dialog: its in-dialog requests go straight to the phone of
//!   the school their Request-URI names, past the cloud part of the route set (see
//!   `Sip::route_dialog_past_cloud` for the departure from RFC 3261 §16 loose routing);
//! - from the cloud: to the phone the Request-URI names, at the address its binding was learnt
//!   from.
//!
//! A request forwarded to the cloud that gets no response within
//! [`Timing::answer_timeout`](super::Timing::answer_timeout) is served locally, and the uplink
//! is judged down: the per-transaction fallback.

use core::fmt::Write as _;
use core::net::{IpAddr, SocketAddr};
use core::time::Duration;

use carillon_protocol::control::{
    CallId, CallOutcome, CallRecord, Counters, Mode, Number, UnixTime, MAX_RING_GROUP_MEMBERS,
};
use carillon_protocol::digest::{verify, Algorithm, ChallengeParams, Credentials, StoredHa1};
use carillon_protocol::transaction::{
    BranchGenerator, Config as TxConfig, Error as TxError, Event as TxEvent, Handle, Received, Transactions, Transport,
};
use carillon_protocol::write::{write_response, Forward, Writer};
use carillon_protocol::{
    parse, proxy_checks, validate, Contact, Framing, Header, HeaderKind, Instant, Message, Method, NameAddr,
    ParseConfig, ParseError, Status, Uri,
};
use heapless::{Deque, String, Vec};

use super::bindings::{BindingEntry, Bindings, Inserted};
use super::lan::LanStreams;
use super::{queue_out, record_call, Event, Outgoing, Settings, SiteConfig, Stats, Transmit};
use super::{EVENT_QUEUE_LEN, OUT_QUEUE_LEN};
use crate::journal::{Journal, Storage};

/// Transactions in the table (server and client together): a ring group of 16 members takes
/// 17, leaving room for a few calls and registrations beside it.
pub const MAX_TRANSACTIONS: usize = super::profile::MAX_TRANSACTIONS;
/// Completed non-INVITE server transactions kept for their Timer J (to answer retransmissions)
/// in small rows of their response and a digest of their key instead of full ones: a
/// registration's two server transactions (401, then 200) take two of these for 32 s, and a
/// full row only for the moment the request is being answered. When all are taken the one
/// closest to its end gives its place (a late retransmission for it is handled as a new
/// request).
pub const COMPLETED_TRANSACTIONS: usize = super::profile::COMPLETED_TRANSACTIONS;
/// Longest final response a completed row keeps (a longer one keeps its full row).
pub const COMPLETED_RESPONSE_LEN: usize = super::profile::COMPLETED_RESPONSE_LEN;
/// Largest SIP message the box handles, in bytes: a phone's INVITE with SDP plus the headers
/// the box adds. A larger request in a datagram gets 513 (RFC 3261 §21.5.14) when its Via,
/// From, To, Call-ID and CSeq can be read, and is dropped (counted in `sip_rejected`)
/// otherwise; on a TCP connection it ends the connection (its framing cannot be trusted).
pub const MAX_SIP_LEN: usize = super::profile::MAX_SIP_LEN;
/// Requests being proxied at once (a context links a server transaction to its branches).
pub const MAX_CONTEXTS: usize = super::profile::MAX_CONTEXTS;
/// Branches of one forked request (a ring group's members, or an extension's phones).
pub const MAX_FORKS: usize = MAX_RING_GROUP_MEMBERS;
/// Calls set up in survival that the box tracks until their BYE (for routing and the journal).
pub const MAX_CALLS: usize = super::profile::MAX_CALLS;
/// Digest nonces outstanding; the oldest is forgotten when a new one is issued (the phone that
/// held it is challenged again).
const MAX_NONCES: usize = 16;
/// How long a nonce is accepted (RFC 7616 §3.3 leaves it to the server).
const NONCE_LIFETIME: Duration = Duration::from_secs(300);
/// The `Retry-After` of a 503 for a full table, in seconds (RFC 3261 §20.33).
const RETRY_AFTER: &[u8] = b"5";
/// Header lines parsed per message (a message with more is dropped and counted: without its
/// header lines there is nothing to address a response to).
const MAX_HEADERS: usize = 64;
/// Registration lifetime when the phone asks for none or for more (RFC 3261 §10.3 step 7
/// lets the registrar shorten it).
const DEFAULT_EXPIRES: u32 = 3600;
/// Option tags the proxy supports for `Proxy-Require` (RFC 3261 §16.3 step 5): none.
const SUPPORTED: &[&str] = &[];

/// What one step of the uplink stream parser did.
pub(crate) enum StreamStep {
    /// A message of this many bytes was handled (or refused).
    Consumed(usize),
    /// The message is incomplete.
    NeedMore,
    /// The stream cannot be framed any more.
    Broken,
}

/// The gateway's state that the SIP side reads and writes, borrowed for one call.
pub(crate) struct Ctx<'a, J: Storage> {
    pub(crate) settings: &'a Settings,
    pub(crate) mode: Mode,
    pub(crate) site: Option<&'a SiteConfig>,
    pub(crate) bindings: &'a mut Bindings,
    /// The phones' open TCP connections (requests to them go on the connection).
    pub(crate) lan_streams: &'a LanStreams,
    pub(crate) journal: &'a mut Journal<J>,
    pub(crate) out: &'a mut Deque<Outgoing, OUT_QUEUE_LEN>,
    pub(crate) events: &'a mut Deque<Event, EVENT_QUEUE_LEN>,
    pub(crate) counters: &'a mut Counters,
    pub(crate) stats: &'a mut Stats,
    pub(crate) wall: Option<(Instant, UnixTime)>,
    pub(crate) booted: Instant,
    /// Set when a request to the cloud went unanswered: the gateway judges the uplink down.
    pub(crate) uplink_failed: bool,
}

impl<J: Storage> Ctx<'_, J> {
    fn unix(&self, at: Instant) -> UnixTime {
        match self.wall {
            Some((anchor, wall)) => {
                let total_ms = wall.secs.saturating_mul(1000).saturating_add(u64::from(wall.millis));
                let ms = if at >= anchor {
                    total_ms.saturating_add((at - anchor).as_millis() as u64)
                } else {
                    total_ms.saturating_sub((anchor - at).as_millis() as u64)
                };
                UnixTime { secs: ms / 1000, millis: (ms % 1000) as u16 }
            }
            None => {
                let ms = (at - self.booted).as_millis() as u64;
                UnixTime { secs: ms / 1000, millis: (ms % 1000) as u16 }
            }
        }
    }

    fn record(&mut self, rec: CallRecord) {
        record_call(self.journal, self.events, self.counters, self.stats, rec);
    }
}

/// Where a context's branches go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// To the cloud, with a fallback deadline.
    Cloud,
    /// To phones or the fallback trunk on the LAN.
    Lan,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Branch {
    handle: Handle,
    /// The final status, once one came (or was assumed: 408 on timeout, 503 on a transport
    /// error, RFC 3261 §16.7 step 10 / §16.8).
    final_code: Option<u16>,
    /// A provisional response came (a CANCEL may be sent, §9.1).
    provisional: bool,
    cancelled: bool,
}

/// Who checks credentials: the registrar (401, `Authorization`) or the proxy (407,
/// `Proxy-Authorization`, RFC 3261 §22.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    Registrar,
    Proxy,
}

/// What the journal needs to know about a call handled locally.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CallInfo {
    caller: Number,
    callee: Number,
    start: Instant,
    mode: Mode,
    emergency: bool,
}

struct Context {
    server: Handle,
    method_register: bool,
    route: Route,
    branches: Vec<Branch, MAX_FORKS>,
    /// The cloud must answer by then, or the request is served locally.
    answer_deadline: Option<Instant>,
    /// A ring group's ring timeout.
    ring_deadline: Option<Instant>,
    final_sent: bool,
    answered: bool,
    info: Option<CallInfo>,
    /// The phone the request came from (to learn bindings from a 200 to its REGISTER).
    source: SocketAddr,
}

/// A call set up locally that is still up: in-dialog requests are routed by it, and its BYE
/// writes the call record.
struct Call {
    call_id: CallId,
    info: CallInfo,
    answer: Instant,
}

pub(crate) struct Sip {
    txns: Transactions<MAX_TRANSACTIONS, MAX_SIP_LEN, COMPLETED_TRANSACTIONS, COMPLETED_RESPONSE_LEN>,
    branches: BranchGenerator,
    contexts: [Option<Context>; MAX_CONTEXTS],
    calls: Vec<Call, MAX_CALLS>,
    nonces: Deque<(u64, Instant), MAX_NONCES>,
    counter: u64,
    seed: u64,
    /// Scratch buffers: a copy of the message being read, and the one being written.
    a: [u8; MAX_SIP_LEN],
    b: [u8; MAX_SIP_LEN],
}

/// The splitmix64 finaliser, for nonces and tags (not secret against an observer of the LAN;
/// they only have to be unpredictable enough not to be replayed from an earlier boot).
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn hex16(v: u64) -> String<16> {
    let mut s = String::new();
    let _ = write!(s, "{v:016x}");
    s
}

const NO_CONTEXT: Option<Context> = None;

impl Sip {
    pub(crate) fn new(settings: &Settings) -> Sip {
        Sip {
            txns: Transactions::new(TxConfig::DEFAULT),
            branches: BranchGenerator::new(settings.seed),
            contexts: [NO_CONTEXT; MAX_CONTEXTS],
            calls: Vec::new(),
            nonces: Deque::new(),
            counter: 0,
            seed: mix(settings.seed ^ 0x6e6f_6e63_6573),
            a: [0; MAX_SIP_LEN],
            b: [0; MAX_SIP_LEN],
        }
    }

    fn next_token(&mut self) -> u64 {
        self.counter = self.counter.wrapping_add(1);
        mix(self.seed.wrapping_add(self.counter.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
    }

    // --- Inputs ---------------------------------------------------------------------------

    /// A datagram from the LAN.
    pub(crate) fn handle_lan<J: Storage>(
        &mut self,
        mut ctx: Ctx<'_, J>,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
    ) -> bool {
        let mut headers = [Header::EMPTY; MAX_HEADERS];
        let cfg = ParseConfig { max_message_len: MAX_SIP_LEN, ..ParseConfig::DEFAULT };
        match parse(bytes, &mut headers, Framing::Datagram, &cfg) {
            Ok(Status::Complete(msg)) => self.handle_message(&mut ctx, now, Some(from), Transport::Udp, &msg),
            Ok(Status::Partial) => {} // a keepalive (CRLFs) from a phone: nothing to answer
            Err(ParseError::MessageTooLarge) => {
                ctx.counters.sip_rejected = ctx.counters.sip_rejected.saturating_add(1);
                self.too_large(&mut ctx, from, bytes);
            }
            Err(_) => {
                // Without a parsed message there is nothing to address a response to.
                ctx.counters.sip_rejected = ctx.counters.sip_rejected.saturating_add(1);
            }
        }
        self.pump(&mut ctx, now);
        ctx.uplink_failed
    }

    /// A datagram over [`MAX_SIP_LEN`]: read only to answer it 513 Message Too Large (RFC 3261
    /// §21.5.14), statelessly, when it is a request (not an ACK) whose headers a response needs
    /// can be read. Nothing of it is kept. (Its own frame: the header array is on the stack
    /// only on this path.)
    #[inline(never)]
    fn too_large<J: Storage>(&mut self, ctx: &mut Ctx<'_, J>, from: SocketAddr, bytes: &[u8]) {
        let mut headers = [Header::EMPTY; MAX_HEADERS];
        let cfg = ParseConfig { max_message_len: bytes.len(), ..ParseConfig::DEFAULT };
        let Ok(Status::Complete(msg)) = parse(bytes, &mut headers, Framing::Datagram, &cfg) else { return };
        let readable = msg.top_via().is_some_and(|v| v.is_ok())
            && msg.from().is_some_and(|v| v.is_ok())
            && msg.to().is_some_and(|v| v.is_ok())
            && msg.call_id().is_some()
            && msg.cseq().is_some_and(|v| v.is_ok());
        if msg.is_request() && msg.method() != Some(Method::Ack) && readable {
            self.stateless_response(ctx, Some(from), &msg, 513, "Message Too Large", &[]);
        }
    }

    /// One step of the uplink stream: parse one message from `rest` and handle it.
    pub(crate) fn handle_uplink<J: Storage>(&mut self, mut ctx: Ctx<'_, J>, now: Instant, rest: &[u8]) -> StreamStep {
        let mut headers = [Header::EMPTY; MAX_HEADERS];
        let cfg = ParseConfig { max_message_len: super::UPLINK_BUFFER_LEN, ..ParseConfig::DEFAULT };
        let step = match parse(rest, &mut headers, Framing::Stream, &cfg) {
            Ok(Status::Partial) => StreamStep::NeedMore,
            Ok(Status::Complete(msg)) => {
                self.handle_message(&mut ctx, now, None, Transport::Tls, &msg);
                StreamStep::Consumed(msg.len)
            }
            Err(_) => {
                ctx.counters.sip_rejected = ctx.counters.sip_rejected.saturating_add(1);
                StreamStep::Broken
            }
        };
        self.pump(&mut ctx, now);
        step
    }

    /// One step of a phone's TCP connection: parse one message from `rest` (stream framing by
    /// Content-Length, RFC 3261 §18.3) and handle it as from `peer` over TCP.
    pub(crate) fn handle_lan_stream<J: Storage>(
        &mut self,
        mut ctx: Ctx<'_, J>,
        now: Instant,
        peer: SocketAddr,
        rest: &[u8],
    ) -> StreamStep {
        let mut headers = [Header::EMPTY; MAX_HEADERS];
        let cfg = ParseConfig { max_message_len: MAX_SIP_LEN, ..ParseConfig::DEFAULT };
        let step = match parse(rest, &mut headers, Framing::Stream, &cfg) {
            Ok(Status::Partial) => StreamStep::NeedMore,
            Ok(Status::Complete(msg)) => {
                self.handle_message(&mut ctx, now, Some(peer), Transport::Tcp, &msg);
                StreamStep::Consumed(msg.len)
            }
            Err(_) => {
                ctx.counters.sip_rejected = ctx.counters.sip_rejected.saturating_add(1);
                StreamStep::Broken
            }
        };
        self.pump(&mut ctx, now);
        step
    }

    /// Timers: the transaction layer's, the cloud's answer deadlines, ring timeouts.
    pub(crate) fn handle_timeout<J: Storage>(&mut self, mut ctx: Ctx<'_, J>, now: Instant) -> bool {
        self.txns.handle_timeout(now);
        self.pump(&mut ctx, now);
        for i in 0..MAX_CONTEXTS {
            let Some(c) = self.contexts.get(i).and_then(Option::as_ref) else { continue };
            if c.answer_deadline.is_some_and(|d| now >= d) {
                // The cloud did not answer in time: the uplink is judged down and this request
                // is served here.
                ctx.uplink_failed = true;
                ctx.mode = Mode::Survival;
                self.fall_back(&mut ctx, now, i);
            } else if c.ring_deadline.is_some_and(|d| now >= d) {
                if let Some(c) = self.contexts.get_mut(i).and_then(Option::as_mut) {
                    c.ring_deadline = None;
                }
                self.finish_with(&mut ctx, now, i, 480, "No Answer");
                self.cancel_pending(now, i);
            }
        }
        self.pump(&mut ctx, now);
        ctx.uplink_failed
    }

    /// The uplink is down: every request still waiting on the cloud is served locally.
    pub(crate) fn uplink_down<J: Storage>(&mut self, mut ctx: Ctx<'_, J>, now: Instant) {
        for i in 0..MAX_CONTEXTS {
            let Some(c) = self.contexts.get(i).and_then(Option::as_ref) else { continue };
            if c.route == Route::Cloud && !c.final_sent {
                self.fall_back(&mut ctx, now, i);
            }
        }
        self.pump(&mut ctx, now);
    }

    // --- Outputs --------------------------------------------------------------------------

    pub(crate) fn poll_transmit(&mut self, settings: &Settings) -> Option<Transmit<'_>> {
        let t = self.txns.poll_transmit()?;
        Some(if t.dest == settings.uplink_peer && t.transport.is_reliable() {
            Transmit::Uplink { bytes: t.bytes }
        } else if t.transport.is_reliable() {
            Transmit::LanStream { to: t.dest, bytes: t.bytes }
        } else {
            Transmit::Lan { to: t.dest, bytes: t.bytes }
        })
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.txns.poll_timeout();
        for c in self.contexts.iter().flatten() {
            for d in [c.answer_deadline, c.ring_deadline].into_iter().flatten() {
                t = Some(t.map_or(d, |t| t.min(d)));
            }
        }
        t
    }

    // --- Message dispatch -----------------------------------------------------------------

    /// `from`: the phone's address, or `None` for the uplink; `transport`: what it came over.
    fn handle_message<J: Storage>(
        &mut self,
        ctx: &mut Ctx<'_, J>,
        now: Instant,
        from: Option<SocketAddr>,
        transport: Transport,
        msg: &Message<'_, '_>,
    ) {
        if let Err(e) = validate(msg) {
            ctx.counters.sip_rejected = ctx.counters.sip_rejected.saturating_add(1);
            if msg.is_request() && msg.method() != Some(Method::Ack) {
                let mut reason: String<96> = String::new();
                let _ = write!(reason, "{e}");
                self.stateless_response(ctx, from, msg, e.status(), &reason, &[]);
            }
            return;
        }
        if !msg.is_request() {
            self.handle_response(ctx, now, from, msg);
            return;
        }
        // RFC 3261 §16.3 step 4 (loop detection, simplified to "our own Via is already there")
        // and steps 1, 3, 5.
        let host = ctx.settings.host.as_bytes();
        let lan_ip = ctx.settings.lan_addr.ip();
        let looped = msg.vias().flatten().any(|v| match v.host {
            carillon_protocol::Host::Name(n) => n.eq_ignore_ascii_case(host),
            h => h.ip() == Some(lan_ip) && v.port.unwrap_or(5060) == ctx.settings.lan_addr.port(),
        });
        if looped && from.is_some() {
            self.stateless_response(ctx, from, msg, 482, "Loop Detected", &[]);
            return;
        }
        if let Some(r) = proxy_checks(msg, SUPPORTED) {
            if msg.method() != Some(Method::Ack) {
                self.stateless_response(ctx, from, msg, r.status(), r.reason(), &[]);
            }
            return;
        }
        let (peer, transport) = match from {
            Some(a) => (a, transport),
            None => (ctx.settings.uplink_peer, Transport::Tls),
        };
        match self.txns.handle_request(now, peer, transport, msg) {
            Ok(Received::Ack(_)) => self.route_ack(ctx, now, from, msg),
            Ok(_) => {}
            Err(e) => {
                let (code, reason) = match e {
                    TxError::Full => (503, "Service Unavailable (transaction table full)"),
                    TxError::TooLarge => (513, "Message Too Large"),
                    _ => (400, "Bad Request"),
                };
                if code == 503 {
                    ctx.stats.refused_full = ctx.stats.refused_full.saturating_add(1);
                }
                self.stateless_response(ctx, from, msg, code, reason, &[("Retry-After", RETRY_AFTER)]);
            }
        }
    }

    fn handle_response<J: Storage>(
        &mut self,
        ctx: &mut Ctx<'_, J>,
        now: Instant,
        from: Option<SocketAddr>,
        msg: &Message<'_, '_>,
    ) {
        match self.txns.handle_response(now, msg) {
            Ok(Received::Stray) => {
                // A 2xx to an INVITE outlives its client transaction (RFC 3261 §16.7 step 9,
                // §18.1.2): forward it statelessly by the Via below ours.
                let is_2xx_invite = msg.status_code().is_some_and(|c| (200..300).contains(&c))
                    && msg.cseq().and_then(Result::ok).is_some_and(|c| c.method == Method::Invite);
                if is_2xx_invite {
                    self.forward_stray(ctx, from, msg);
                } else {
                    ctx.stats.sip_dropped = ctx.stats.sip_dropped.saturating_add(1);
                }
            }
            Ok(_) => {}
            Err(_) => ctx.stats.sip_dropped = ctx.stats.sip_dropped.saturating_add(1),
        }
    }

    /// Acts on the transaction layer's events until there are none.
    fn pump<J: Storage>(&mut self, ctx: &mut Ctx<'_, J>, now: Instant) {
        // Bounded: each event is consumed once, and the table emits a bounded number per row.
        while let Some(ev) = self.txns.poll_event() {
            match ev {
                TxEvent::Request { handle, cancels } => self.on_request(ctx, now, handle, cancels),
                TxEvent::Response { handle, code } => self.on_branch_response(ctx, now, handle, code, true),
                TxEvent::Timeout { handle, .. } => self.on_branch_response(ctx, now, handle, 408, false),
                TxEvent::TransportError { handle } => self.on_branch_response(ctx, now, handle, 503, false),
                TxEvent::Terminated { handle } => self.on_terminated(ctx, now, handle),
                _ => {}
            }
        }
    }

    // --- Requests -------------------------------------------------------------------------

    fn on_request<J: Storage>(&mut self, ctx: &mut Ctx<'_, J>, now: Instant, server: Handle, cancels: Option<Handle>) {
        let Some((peer, _)) = self.txns.peer(server) else { return };
        let from_uplink = peer == ctx.settings.uplink_peer;
        let Some(len) = self.copy_request(server) else { return };
        let mut headers = [Header::EMPTY; MAX_HEADERS];
        let a = self.a;
        let Some(msg) = reparse(a.get(..len).unwrap_or(&[]), &mut headers) else { return };
        let Some(method) = msg.method() else { return };

        if method == Method::Cancel {
            // RFC 3261 §16.10: answer the CANCEL, cancel our branches of the INVITE.
            match cancels.and_then(|inv| self.context_of(inv)) {
                Some(i) => {
                    self.respond_to(ctx, now, server, &msg, 200, "OK", &[]);
                    self.cancel_pending(now, i);
                    self.finish_with(ctx, now, i, 487, "Request Terminated");
                }
                None => self.respond_to(ctx, now, server, &msg, 481, "Call/Transaction Does Not Exist", &[]),
            }
            return;
        }

        let in_dialog = msg.to().and_then(Result::ok).is_some_and(|t| t.tag().is_some());
        let Some(slot) = self.contexts.iter().position(Option::is_none) else {
            ctx.stats.refused_full = ctx.stats.refused_full.saturating_add(1);
            self.respond_to(
                ctx,
                now,
                server,
                &msg,
                503,
                "Service Unavailable (proxy table full)",
                &[("Retry-After", RETRY_AFTER)],
            );
            return;
        };
        let context = Context {
            server,
            method_register: method == Method::Register,
            route: Route::Lan,
            branches: Vec::new(),
            answer_deadline: None,
            ring_deadline: None,
            final_sent: false,
            answered: false,
            info: None,
            source: peer,
        };
        if let Some(c) = self.contexts.get_mut(slot) {
            *c = Some(context);
        }

        if from_uplink {
            self.route_from_cloud(ctx, now, slot, &msg);
        } else if in_dialog {
            let call_id = msg.call_id().unwrap_or(&[]);
            if self.calls.iter().any(|c| c.call_id.as_bytes() == call_id) {
                self.route_in_local_dialog(ctx, now, slot, &msg);
            } else if ctx.mode != Mode::Survival {
                self.forward_to_cloud(ctx, now, slot, &msg);
            } else {
                self.route_dialog_past_cloud(ctx, now, slot, &msg);
            }
        } else if ctx.mode != Mode::Survival {
            self.forward_to_cloud(ctx, now, slot, &msg);
        } else {
            self.serve_locally(ctx, now, slot, &msg);
        }
    }

    /// Online: forward to the cloud (RFC 3261 §16.6) with `Path` (RFC 3327 §5.1) on REGISTER and
    /// `Record-Route` (§16.6 step 4) on dialog-creating requests, and RFC 3581 parameters.
    fn forward_to_cloud<J: Storage>(&mut self, ctx: &mut Ctx<'_, J>, now: Instant, slot: usize, msg: &Message<'_, '_>) {
        let Some(c) = self.contexts.get(slot).and_then(Option::as_ref) else { return };
        let source = c.source;
        let branch = self.branches.next_branch();
        let mut via: String<384> = String::new();
        let _ = write!(via, "SIP/2.0/TLS {};branch={}", ctx.settings.host, branch.as_str());
        // RFC 3581 §4: the phone's Via gets `received` and a filled `rport`, so that the cloud
        // (and our own stateless forwarding) answers to where the phone really is.
        let phone_via_edited = match msg.top_via() {
            Some(Ok(v)) => {
                let _ = via.push_str(", ");
                write_phone_via(&mut via, &v, source)
            }
            _ => false,
        };
        // Path names the box as the cloud knows it. A dialog is record-routed twice (RFC 5658
        // §3.2): the top value, the cloud's next hop back, is the host name; the one below it,
        // the phone's first hop, is the box's LAN address (the phone reverses the list).
        let mut path: String<96> = String::new();
        let _ = write!(path, "<sip:{};lr>", ctx.settings.host);
        let mut rr: String<192> = String::new();
        let _ = write!(rr, "{path}, ");
        lan_record_route(&mut rr, ctx.settings, ctx.lan_streams.has(source));
        let mut fwd = Forward::new().push_via(via.as_bytes()).decrement_max_forwards();
        if phone_via_edited {
            fwd = fwd.pop_via();
        }
        let ours = our_routes(msg, ctx.settings);
        if ours > 0 {
            fwd = fwd.pop_routes(ours);
        }
        let method = msg.method();
        if method == Some(Method::Register) {
            fwd = fwd.path(path.as_bytes());
        } else if is_dialog_creating(msg) {
            fwd = fwd.record_route(rr.as_bytes());
        }
        let Ok(n) = fwd.write(msg, &mut self.b) else {
            self.finish_msg(ctx, now, slot, msg, 513, "Message Too Large");
            return;
        };
        let b = self.b;
        match self.txns.start_client(now, ctx.settings.uplink_peer, Transport::Tls, b.get(..n).unwrap_or(&[])) {
            Ok(h) => {
                if let Some(c) = self.contexts.get_mut(slot).and_then(Option::as_mut) {
                    c.route = Route::Cloud;
                    c.answer_deadline = Some(now + ctx.settings.timing.answer_timeout);
                    let _ =
                        c.branches.push(Branch { handle: h, final_code: None, provisional: false, cancelled: false });
                }
                if method == Some(Method::Invite) {
                    ctx.counters.calls_online = ctx.counters.calls_online.saturating_add(1);
                }
            }
            Err(_) => {
                ctx.stats.refused_full = ctx.stats.refused_full.saturating_add(1);
                self.finish_msg(ctx, now, slot, msg, 503, "Service Unavailable (transaction table full)");
            }
        }
    }

    /// A request from the cloud: to the phone its Request-URI names (RFC 3327 §5.3: the cloud
    /// routed it here by our `Path`; our `Route` value is removed).
    fn route_from_cloud<J: Storage>(&mut self, ctx: &mut Ctx<'_, J>, now: Instant, slot: usize, msg: &Message<'_, '_>) {
        let Some(Ok(uri)) = msg.request_uri() else {
            self.finish_msg(ctx, now, slot, msg, 416, "Unsupported URI Scheme");
            return;
        };
        let Some(dest) = lan_target(ctx, &uri, now) else {
            self.finish_msg(ctx, now, slot, msg, 404, "Not Found (no such phone at this school)");
            return;
        };
        if !self.fork_one(ctx, now, slot, msg, None, dest, true, true, false) {
            self.finish_msg(ctx, now, slot, msg, 503, "Service Unavailable (transaction table full)");
        }
    }

    /// An in-dialog request of a call set up locally: to the other phone.
    fn route_in_local_dialog<J: Storage>(
        &mut self,
        ctx: &mut Ctx<'_, J>,
        now: Instant,
        slot: usize,
        msg: &Message<'_, '_>,
    ) {
        let Some(Ok(uri)) = msg.request_uri() else { return };
        let Some(dest) = lan_target(ctx, &uri, now) else {
            self.finish_msg(ctx, now, slot, msg, 404, "Not Found");
            return;
        };
        if msg.method() == Some(Method::Bye) {
            self.end_call(ctx, now, msg.call_id().unwrap_or(&[]));
        }
        if !self.fork_one(ctx, now, slot, msg, None, dest, false, false, false) {
            self.finish_msg(ctx, now, slot, msg, 503, "Service Unavailable (transaction table full)");
        }
    }

    /// Survival: an in-dialog request (BYE, re-INVITE, UPDATE, INFO...) of a call that was set up
    /// through the cloud, whose route set therefore leads box → cloud → box. The cloud is out of
    /// reach, but the dialog's remote target — the Request-URI (RFC 3261 §12.2.1.1) — is a phone
    /// of this school the box knows (a live binding has that contact, or that address). Loose
    /// routing (§16.4, §16.6 steps 6–7) would pop our Route and send the request to the next
    /// one, the cloud; the box instead skips the rest of the route set, which only leads back to
    /// itself through the cloud, and delivers the request to the phone, removing the Route
    /// values it skipped (a phone is a UAS: it ignores them anyway, §8.2). The phone's responses
    /// come back by the box's Via. The dialog's own route set is not changed: once the cloud
    /// returns, the next request takes the recorded route again. A target that is no phone of
    /// this school (a call to another school or the public network) gets 503: its route leads
    /// through the cloud only.
    fn route_dialog_past_cloud<J: Storage>(
        &mut self,
        ctx: &mut Ctx<'_, J>,
        now: Instant,
        slot: usize,
        msg: &Message<'_, '_>,
    ) {
        if let Some(c) = self.contexts.get_mut(slot).and_then(Option::as_mut) {
            c.route = Route::Lan;
            c.answer_deadline = None;
        }
        let dest = match msg.request_uri() {
            Some(Ok(uri)) => known_phone(ctx, &uri, now),
            _ => None,
        };
        let Some(dest) = dest else {
            self.finish_msg(ctx, now, slot, msg, 503, "Service Unavailable (cloud unreachable)");
            return;
        };
        if !self.fork_one(ctx, now, slot, msg, None, dest, false, false, true) {
            ctx.stats.refused_full = ctx.stats.refused_full.saturating_add(1);
            self.finish_msg(ctx, now, slot, msg, 503, "Service Unavailable (transaction table full)");
        }
    }

    /// Survival: the box is registrar and proxy for the school.
    fn serve_locally<J: Storage>(&mut self, ctx: &mut Ctx<'_, J>, now: Instant, slot: usize, msg: &Message<'_, '_>) {
        if let Some(c) = self.contexts.get_mut(slot).and_then(Option::as_mut) {
            c.route = Route::Lan;
            c.answer_deadline = None;
        }
        match msg.method() {
            Some(Method::Register) => self.register(ctx, now, slot, msg),
            Some(Method::Invite) => self.invite_locally(ctx, now, slot, msg),
            Some(Method::Options) => self.finish_msg(ctx, now, slot, msg, 200, "OK"),
            Some(Method::Bye) => self.finish_msg(ctx, now, slot, msg, 481, "Call/Transaction Does Not Exist"),
            _ => self.finish_msg(ctx, now, slot, msg, 503, "Service Unavailable (cloud unreachable)"),
        }
    }

    /// The cloud did not answer in time, or the uplink went down with the request pending:
    /// give up the cloud branch and serve the request here.
    fn fall_back<J: Storage>(&mut self, ctx: &mut Ctx<'_, J>, now: Instant, slot: usize) {
        let Some(c) = self.contexts.get_mut(slot).and_then(Option::as_mut) else { return };
        c.answer_deadline = None;
        let server = c.server;
        let branches = core::mem::take(&mut c.branches);
        if c.final_sent || c.answered {
            return;
        }
        for b in branches {
            let _ = self.txns.terminate(b.handle);
        }
        let Some(len) = self.copy_request(server) else { return };
        let a = self.a;
        let mut headers = [Header::EMPTY; MAX_HEADERS];
        let Some(msg) = reparse(a.get(..len).unwrap_or(&[]), &mut headers) else { return };
        let in_dialog = msg.to().and_then(Result::ok).is_some_and(|t| t.tag().is_some());
        if in_dialog {
            self.route_dialog_past_cloud(ctx, now, slot, &msg);
        } else {
            self.serve_locally(ctx, now, slot, &msg);
        }
    }

    // --- Survival registrar ---------------------------------------------------------------

    /// RFC 3261 §10.3 with digest authentication (§22.2) against the HA1 the cloud synced.
    fn register<J: Storage>(&mut self, ctx: &mut Ctx<'_, J>, now: Instant, slot: usize, msg: &Message<'_, '_>) {
        let Some(site) = ctx.site else {
            self.finish_msg(ctx, now, slot, msg, 503, "Service Unavailable (no configuration yet)");
            return;
        };
        let Some(Ok(to)) = msg.to() else { return };
        // The address of record is the extension number or the extension's SIP username (the
        // cloud's default is `<site>-<number>`); the binding is kept under the number.
        let Some(ext) = extension_of_user(site, to.uri.user.unwrap_or(&[])) else {
            self.finish_msg(ctx, now, slot, msg, 404, "Not Found (unknown extension)");
            return;
        };
        let aor = ext.number.as_bytes();
        // The credentials must be the extension's own (RFC 3261 §22.2: the registrar decides
        // which users may register which addresses of record).
        if !self.authenticate(ctx, now, slot, msg, ext, Auth::Registrar) {
            return;
        }
        let source = self.contexts.get(slot).and_then(Option::as_ref).map(|c| c.source);
        let Some(source) = source else { return };
        let reg = RegisterFacts::of(msg);
        for contact in msg.contacts().flatten() {
            match contact {
                Contact::Star => ctx.bindings.remove(aor, None),
                Contact::Addr(na) => {
                    let Some(entry) = reg.binding(aor, &na, DEFAULT_EXPIRES, source, now) else {
                        ctx.bindings.remove(aor, Some(na.uri.raw));
                        continue;
                    };
                    if ctx.bindings.upsert(entry, now, false) == Inserted::Full {
                        ctx.stats.bindings_refused = ctx.stats.bindings_refused.saturating_add(1);
                        self.finish_msg(ctx, now, slot, msg, 503, "Service Unavailable (binding table full)");
                        return;
                    }
                }
            }
        }
        // 200 with the AOR's current bindings (RFC 3261 §10.3 step 8).
        let mut contacts: String<1024> = String::new();
        for b in ctx.bindings.of(aor, now) {
            if !contacts.is_empty() {
                let _ = contacts.push_str(", ");
            }
            let _ = write!(contacts, "<{}>;expires={}", b.contact, Bindings::remaining(b, now));
        }
        let extra: &[(&str, &[u8])] = if contacts.is_empty() { &[] } else { &[("Contact", contacts.as_bytes())] };
        self.finish_extra(ctx, now, slot, msg, 200, "OK", extra);
    }

    /// Digest authentication (RFC 3261 §22, RFC 7616, RFC 8760) of `msg` as extension `ext`,
    /// against the HA1 the cloud synced. True when it passes; otherwise the request has been
    /// answered: challenged (no or unusable credentials, a nonce the box did not issue or that
    /// expired — then `stale=true`), or 403 (credentials of another user, wrong password).
    fn authenticate<J: Storage>(
        &mut self,
        ctx: &mut Ctx<'_, J>,
        now: Instant,
        slot: usize,
        msg: &Message<'_, '_>,
        ext: &carillon_protocol::control::Extension,
        auth: Auth,
    ) -> bool {
        let realm = ext.realm.as_str();
        let header = match auth {
            Auth::Registrar => HeaderKind::Authorization,
            Auth::Proxy => HeaderKind::ProxyAuthorization,
        };
        let Some(value) = msg.value(header) else {
            self.challenge(ctx, now, slot, msg, realm, false, auth);
            return false;
        };
        let Ok(creds) = Credentials::parse(value) else {
            self.challenge(ctx, now, slot, msg, realm, false, auth);
            return false;
        };
        if !creds.username().eq_unescaped(ext.username.as_bytes()) {
            self.finish_msg(ctx, now, slot, msg, 403, "Forbidden (credentials of another extension)");
            return false;
        }
        let algorithm = creds.algorithm().unwrap_or(Algorithm::Md5);
        let stored = match algorithm.base() {
            Algorithm::Sha256 => StoredHa1::from_hex(Algorithm::Sha256, ext.ha1_sha256.as_str().as_bytes()),
            _ => StoredHa1::from_hex(Algorithm::Md5, ext.ha1_md5.as_str().as_bytes()),
        };
        let Ok(stored) = stored else {
            self.challenge(ctx, now, slot, msg, realm, false, auth);
            return false;
        };
        let method = msg.method().map_or(&b""[..], |m| m.as_str().as_bytes());
        if let Err(e) = verify(&creds, method, &stored, realm.as_bytes()) {
            if e.status() == 403 {
                self.finish_msg(ctx, now, slot, msg, 403, "Forbidden (bad credentials)");
            } else {
                self.challenge(ctx, now, slot, msg, realm, false, auth);
            }
            return false;
        }
        // A correct response to a nonce we did not issue, or one too old: stale (RFC 7616 §3.3).
        if !self.nonce_valid(creds.nonce().raw().as_bytes(), now) {
            self.challenge(ctx, now, slot, msg, realm, true, auth);
            return false;
        }
        true
    }

    #[allow(clippy::too_many_arguments)]
    fn challenge<J: Storage>(
        &mut self,
        ctx: &mut Ctx<'_, J>,
        now: Instant,
        slot: usize,
        msg: &Message<'_, '_>,
        realm: &str,
        stale: bool,
        auth: Auth,
    ) {
        let nonce = self.next_token();
        if self.nonces.is_full() {
            self.nonces.pop_front();
        }
        let _ = self.nonces.push_back((nonce, now));
        let nonce_hex = hex16(nonce);
        // RFC 8760 §2: one challenge per algorithm, the preferred first (RFC 7616 §3.7 leaves
        // the preference to the server). MD5 comes first: it is what the cloud offers phones
        // by default, and MD5-only phones (SIPp among them) answer the first challenge and
        // give up on a SHA-256 one instead of reading on. Phones that support SHA-256 still
        // find its challenge below.
        let mut sha = [0u8; 256];
        let mut md5 = [0u8; 256];
        let mut p = ChallengeParams::new(realm, nonce_hex.as_str());
        p.stale = stale;
        p.algorithm = Algorithm::Sha256;
        let n1 = p.write(&mut sha).unwrap_or(0);
        p.algorithm = Algorithm::Md5;
        let n2 = p.write(&mut md5).unwrap_or(0);
        // RFC 3261 §22.3: a proxy challenges with 407 and Proxy-Authenticate.
        let (code, reason, name) = match auth {
            Auth::Registrar => (401, "Unauthorized", "WWW-Authenticate"),
            Auth::Proxy => (407, "Proxy Authentication Required", "Proxy-Authenticate"),
        };
        let extra: [(&str, &[u8]); 2] = [(name, md5.get(..n2).unwrap_or(&[])), (name, sha.get(..n1).unwrap_or(&[]))];
        self.finish_extra(ctx, now, slot, msg, code, reason, &extra);
    }

    fn nonce_valid(&self, nonce: &[u8], now: Instant) -> bool {
        self.nonces.iter().any(|(n, at)| hex16(*n).as_bytes() == nonce && now - *at <= NONCE_LIFETIME)
    }

    // --- Survival proxy -------------------------------------------------------------------

    fn invite_locally<J: Storage>(&mut self, ctx: &mut Ctx<'_, J>, now: Instant, slot: usize, msg: &Message<'_, '_>) {
        let Some(Ok(uri)) = msg.request_uri() else { return };
        let dialled = uri.user.unwrap_or(&[]);
        let caller = msg.from().and_then(Result::ok).and_then(|f| f.uri.user).unwrap_or(&[]);
        let emergency = ctx.site.map_or_else(|| super::is_built_in_emergency(dialled), |s| s.is_emergency(dialled));
        if !emergency && !self.caller_authenticated(ctx, now, slot, msg, caller) {
            return;
        }
        ctx.counters.calls_survival = ctx.counters.calls_survival.saturating_add(1);
        // The record names the caller by extension number, whichever SIP user its phone uses.
        let caller = ctx.site.and_then(|s| extension_of_user(s, caller)).map_or(caller, |e| e.number.as_bytes());
        if let Some(c) = self.contexts.get_mut(slot).and_then(Option::as_mut) {
            c.info = Some(CallInfo {
                caller: bounded_str(caller),
                callee: bounded_str(dialled),
                start: now,
                mode: ctx.mode,
                emergency,
            });
        }
        if emergency {
            let trunk = ctx.site.and_then(|s| s.fallback_trunk.as_ref());
            let Some(trunk) = trunk else {
                self.reject(
                    ctx,
                    now,
                    slot,
                    msg,
                    503,
                    "Service Unavailable (emergency calls impossible: uplink down, no fallback trunk)",
                );
                return;
            };
            let Ok(ip) = trunk.host.as_str().parse::<IpAddr>() else {
                self.reject(ctx, now, slot, msg, 503, "Service Unavailable (fallback trunk host is not an address)");
                return;
            };
            let dest = SocketAddr::new(ip, trunk.port);
            let mut ruri: String<128> = String::new();
            let _ = write!(ruri, "sip:{}@{}:{}", core::str::from_utf8(dialled).unwrap_or(""), trunk.host, trunk.port);
            if !self.fork_one(ctx, now, slot, msg, Some(ruri.as_bytes()), dest, true, false, false) {
                self.reject(ctx, now, slot, msg, 503, "Service Unavailable (transaction table full)");
            }
            return;
        }
        let Some(site) = ctx.site else {
            self.reject(ctx, now, slot, msg, 503, "Service Unavailable (cloud unreachable, no configuration)");
            return;
        };
        // A ring group rings its members' phones; an extension its own phones.
        let mut dests: Vec<(String<128>, SocketAddr), MAX_FORKS> = Vec::new();
        let mut ring_timeout = None;
        let known = if let Some(g) = site.ring_group(dialled) {
            ring_timeout = Some(Duration::from_secs(u64::from(g.ring_timeout_secs.max(1))));
            for m in &g.members {
                for b in ctx.bindings.of(m.as_bytes(), now) {
                    let _ = dests.push((b.contact.clone(), b.source));
                }
            }
            true
        } else if site.extension(dialled).is_some() {
            for b in ctx.bindings.of(dialled, now) {
                let _ = dests.push((b.contact.clone(), b.source));
            }
            true
        } else {
            false
        };
        if !known {
            self.reject(
                ctx,
                now,
                slot,
                msg,
                503,
                "Service Unavailable (cloud unreachable: only calls inside the school)",
            );
            return;
        }
        if dests.is_empty() {
            self.reject(ctx, now, slot, msg, 480, "Temporarily Unavailable (not registered)");
            return;
        }
        let mut started = 0;
        for (contact, dest) in &dests {
            if self.fork_one(ctx, now, slot, msg, Some(contact.as_bytes()), *dest, true, false, false) {
                started += 1;
            }
        }
        if started == 0 {
            ctx.stats.refused_full = ctx.stats.refused_full.saturating_add(1);
            self.reject(ctx, now, slot, msg, 503, "Service Unavailable (transaction table full)");
            return;
        }
        if let (Some(t), Some(c)) = (ring_timeout, self.contexts.get_mut(slot).and_then(Option::as_mut)) {
            c.ring_deadline = Some(now + t);
        }
    }

    /// Survival: an INVITE must come from an extension of the school that proves it with digest
    /// credentials (407 challenge, RFC 3261 §22.3), against the HA1 the cloud synced — as the
    /// cloud itself asks. Exempt: the fallback trunk (calls from the public network into the
    /// school) and emergency numbers (the caller checks that first: a phone whose credentials
    /// are stale must still reach 112). A challenged or refused INVITE is no call: nothing is
    /// journaled for it. False when the request has been answered.
    fn caller_authenticated<J: Storage>(
        &mut self,
        ctx: &mut Ctx<'_, J>,
        now: Instant,
        slot: usize,
        msg: &Message<'_, '_>,
        caller: &[u8],
    ) -> bool {
        let Some(site) = ctx.site else {
            // Without a configuration there is nobody to call either: answered later as such.
            return true;
        };
        let source = self.contexts.get(slot).and_then(Option::as_ref).map(|c| c.source);
        let from_trunk = site.fallback_trunk.as_ref().is_some_and(|t| {
            t.host.as_str().parse::<IpAddr>().is_ok_and(|ip| source == Some(SocketAddr::new(ip, t.port)))
        });
        if from_trunk {
            return true;
        }
        let Some(ext) = extension_of_user(site, caller) else {
            self.finish_msg(ctx, now, slot, msg, 403, "Forbidden (caller is no extension of this school)");
            return false;
        };
        self.authenticate(ctx, now, slot, msg, ext, Auth::Proxy)
    }

    /// Starts one branch to `dest` on the LAN: Request-URI rewritten to `ruri` (a contact, RFC
    /// 3261 §16.6 step 6), our Via (step 8), our Route removed (§16.4), Record-Route on a
    /// dialog-creating request (step 4). `from_cloud` marks our branch so that a stray 2xx
    /// finds its way back to the uplink. `skip_route_set` removes every Route instead of only
    /// ours (see [`Sip::route_dialog_past_cloud`]).
    #[allow(clippy::too_many_arguments)]
    fn fork_one<J: Storage>(
        &mut self,
        ctx: &mut Ctx<'_, J>,
        now: Instant,
        slot: usize,
        msg: &Message<'_, '_>,
        ruri: Option<&[u8]>,
        dest: SocketAddr,
        rr: bool,
        from_cloud: bool,
        skip_route_set: bool,
    ) -> bool {
        let branch = self.branches.next_branch();
        // A phone with an open TCP connection is reached on it (see the `lan` module).
        let transport = if ctx.lan_streams.has(dest) { Transport::Tcp } else { Transport::Udp };
        let mut via: String<128> = String::new();
        let _ = write!(
            via,
            "SIP/2.0/{} {};branch={}{}",
            via_transport(transport),
            ctx.settings.lan_addr,
            branch.as_str(),
            if from_cloud { "c" } else { "l" }
        );
        // Towards the phone the box's LAN address; on a call from the cloud also, below it, the
        // host name the cloud knows (RFC 5658 §3.2: the phone reads the list from the top).
        let mut rrv: String<192> = String::new();
        lan_record_route(&mut rrv, ctx.settings, transport == Transport::Tcp);
        if from_cloud {
            let _ = write!(rrv, ", <sip:{};lr>", ctx.settings.host);
        }
        let mut fwd = Forward::new().push_via(via.as_bytes()).decrement_max_forwards();
        if let Some(u) = ruri {
            fwd = fwd.request_uri(u);
        }
        if skip_route_set {
            fwd = fwd.drop_routes();
        } else {
            let ours = our_routes(msg, ctx.settings);
            if ours > 0 {
                fwd = fwd.pop_routes(ours);
            }
        }
        if rr && is_dialog_creating(msg) {
            fwd = fwd.record_route(rrv.as_bytes());
        }
        let Ok(n) = fwd.write(msg, &mut self.b) else { return false };
        let b = self.b;
        match self.txns.start_client(now, dest, transport, b.get(..n).unwrap_or(&[])) {
            Ok(h) => match self.contexts.get_mut(slot).and_then(Option::as_mut) {
                Some(c) => c
                    .branches
                    .push(Branch { handle: h, final_code: None, provisional: false, cancelled: false })
                    .is_ok(),
                None => false,
            },
            Err(_) => false,
        }
    }

    // --- Responses from branches ----------------------------------------------------------

    fn on_branch_response<J: Storage>(
        &mut self,
        ctx: &mut Ctx<'_, J>,
        now: Instant,
        client: Handle,
        code: u16,
        real: bool,
    ) {
        let Some(i) = self.context_of_branch(client) else { return };
        let Some(c) = self.contexts.get_mut(i).and_then(Option::as_mut) else { return };
        c.answer_deadline = None;
        let single = c.branches.len() == 1;
        let (server, register, route, source) = (c.server, c.method_register, c.route, c.source);
        if let Some(b) = c.branches.iter_mut().find(|b| b.handle == client) {
            if code < 200 {
                b.provisional = true;
            } else if b.final_code.is_none() {
                b.final_code = Some(code);
            }
        }
        if code == 100 {
            return; // hop by hop (RFC 3261 §16.7 step 5)
        }
        if (200..300).contains(&code) {
            let first = !c.answered;
            c.answered = true;
            c.final_sent = true;
            c.ring_deadline = None;
            if register && route == Route::Cloud {
                self.learn_bindings(ctx, now, client, source);
            }
            if real {
                self.forward_response(now, client, server);
            }
            if first {
                self.cancel_pending(now, i);
                self.call_answered(ctx, now, i, client);
            }
            return;
        }
        if c.final_sent {
            return;
        }
        if code < 200 {
            if real {
                self.forward_response(now, client, server);
            }
            return;
        }
        // A final non-2xx: forwarded at once from a single branch (headers such as
        // WWW-Authenticate must reach the phone); from a fork, the best one when all are in.
        if single && real {
            c.final_sent = true;
            c.ring_deadline = None;
            self.forward_response(now, client, server);
            self.journal_failure(ctx, now, i, code);
            self.release_if_done(i);
            return;
        }
        let all_final = c.branches.iter().all(|b| b.final_code.is_some());
        if all_final {
            let best = c.branches.iter().filter_map(|b| b.final_code).min_by_key(|&code| rank(code)).unwrap_or(code);
            self.finish_with(ctx, now, i, best, reason_of(best));
        }
    }

    fn forward_response(&mut self, now: Instant, client: Handle, server: Handle) {
        let Some(resp) = self.txns.response(client) else { return };
        let len = resp.len().min(MAX_SIP_LEN);
        if let (Some(dst), Some(src)) = (self.a.get_mut(..len), resp.get(..len)) {
            dst.copy_from_slice(src);
        }
        let a = self.a;
        let mut headers = [Header::EMPTY; MAX_HEADERS];
        let Some(msg) = reparse(a.get(..len).unwrap_or(&[]), &mut headers) else { return };
        // §16.7 step 3: remove our Via.
        let Ok(n) = Forward::new().pop_via().write(&msg, &mut self.b) else { return };
        let b = self.b;
        let _ = self.txns.respond(now, server, b.get(..n).unwrap_or(&[]));
    }

    /// A 200 to a REGISTER the cloud accepted: every Contact in it is a binding the phone holds
    /// (RFC 3261 §10.3 step 8). The box remembers them for survival.
    fn learn_bindings<J: Storage>(&mut self, ctx: &mut Ctx<'_, J>, now: Instant, client: Handle, source: SocketAddr) {
        let Some(resp) = self.txns.response(client) else { return };
        let mut headers = [Header::EMPTY; MAX_HEADERS];
        let Some(msg) = reparse(resp, &mut headers) else { return };
        let Some(Ok(to)) = msg.to() else { return };
        let user = to.uri.user.unwrap_or(&[]);
        // Kept under the extension number, as survival registrations are (the phone may have
        // registered its SIP username); a user the configuration does not know stays as it is.
        let aor = ctx.site.and_then(|site| extension_of_user(site, user)).map_or(user, |e| e.number.as_bytes());
        let reg = RegisterFacts::of(&msg);
        for contact in msg.contacts().flatten() {
            let Contact::Addr(na) = contact else { continue };
            // The cloud already capped what it granted: take its expiry as it is.
            let Some(entry) = reg.binding(aor, &na, u32::MAX, source, now) else {
                ctx.bindings.remove(aor, Some(na.uri.raw));
                continue;
            };
            if ctx.bindings.upsert(entry, now, true) == Inserted::Evicted {
                ctx.stats.bindings_evicted = ctx.stats.bindings_evicted.saturating_add(1);
            }
        }
    }

    /// The first 2xx of a locally routed INVITE: the call joins the call table.
    fn call_answered<J: Storage>(&mut self, ctx: &mut Ctx<'_, J>, now: Instant, i: usize, client: Handle) {
        let Some(c) = self.contexts.get_mut(i).and_then(Option::as_mut) else { return };
        let Some(info) = c.info.take() else { return };
        let call_id = self
            .txns
            .response(client)
            .and_then(|r| {
                let mut headers = [Header::EMPTY; MAX_HEADERS];
                reparse(r, &mut headers).and_then(|m| m.call_id()).map(bounded_str)
            })
            .unwrap_or_default();
        let call = Call { call_id, info, answer: now };
        if let Err(call) = self.calls.push(call) {
            // No room to follow the call to its BYE: record it now, with no talk time.
            ctx.stats.calls_untracked = ctx.stats.calls_untracked.saturating_add(1);
            let rec = make_record(ctx, &call.info, Some(now), now, outcome_answered(&call.info));
            ctx.record(rec);
        }
    }

    /// A BYE of a tracked call: the record with its talk time.
    fn end_call<J: Storage>(&mut self, ctx: &mut Ctx<'_, J>, now: Instant, call_id: &[u8]) {
        let Some(pos) = self.calls.iter().position(|c| c.call_id.as_bytes() == call_id) else { return };
        let call = self.calls.swap_remove(pos);
        let rec = make_record(ctx, &call.info, Some(call.answer), now, outcome_answered(&call.info));
        ctx.record(rec);
    }

    fn journal_failure<J: Storage>(&mut self, ctx: &mut Ctx<'_, J>, now: Instant, i: usize, code: u16) {
        let Some(info) = self.contexts.get_mut(i).and_then(Option::as_mut).and_then(|c| c.info.take()) else { return };
        let outcome = match code {
            486 | 600 => CallOutcome::Busy,
            408 | 480 | 487 => CallOutcome::NoAnswer,
            s => CallOutcome::Failed { status: s },
        };
        let rec = make_record(ctx, &info, None, now, outcome);
        ctx.record(rec);
    }

    /// A failure the box itself decided (no route, no trunk, full): answered and journaled as
    /// `Rejected`.
    fn reject<J: Storage>(
        &mut self,
        ctx: &mut Ctx<'_, J>,
        now: Instant,
        slot: usize,
        msg: &Message<'_, '_>,
        code: u16,
        reason: &str,
    ) {
        if let Some(info) = self.contexts.get_mut(slot).and_then(Option::as_mut).and_then(|c| c.info.take()) {
            let rec = make_record(ctx, &info, None, now, CallOutcome::Rejected);
            ctx.record(rec);
        }
        let extra: &[(&str, &[u8])] = if code == 503 { &[("Retry-After", b"60")] } else { &[] };
        self.finish_extra(ctx, now, slot, msg, code, reason, extra);
    }

    /// Sends CANCEL on every branch still without a final response (RFC 3261 §16.7 step 10,
    /// §9.1); a branch that has not had a provisional response yet is simply ended (§9.1: a
    /// CANCEL must not be sent before one), its late 2xx then handled as a stray.
    fn cancel_pending(&mut self, now: Instant, i: usize) {
        let Some(c) = self.contexts.get_mut(i).and_then(Option::as_mut) else { return };
        let pending: Vec<Branch, MAX_FORKS> =
            c.branches.iter().filter(|b| b.final_code.is_none() && !b.cancelled).copied().collect();
        for b in c.branches.iter_mut().filter(|b| b.final_code.is_none()) {
            b.cancelled = true;
        }
        for b in pending {
            if !b.provisional {
                let _ = self.txns.terminate(b.handle);
                continue;
            }
            let Some((dest, transport)) = self.txns.peer(b.handle) else { continue };
            let Some(req) = self.txns.request(b.handle) else { continue };
            let len = req.len().min(MAX_SIP_LEN);
            if let (Some(dst), Some(src)) = (self.a.get_mut(..len), req.get(..len)) {
                dst.copy_from_slice(src);
            }
            let a = self.a;
            let mut headers = [Header::EMPTY; MAX_HEADERS];
            let Some(inv) = reparse(a.get(..len).unwrap_or(&[]), &mut headers) else { continue };
            if let Some(n) = write_cancel(&inv, &mut self.b) {
                let b2 = self.b;
                let _ = self.txns.start_client(now, dest, transport, b2.get(..n).unwrap_or(&[]));
            }
        }
    }

    fn on_terminated<J: Storage>(&mut self, ctx: &mut Ctx<'_, J>, now: Instant, handle: Handle) {
        for i in 0..MAX_CONTEXTS {
            let Some(c) = self.contexts.get_mut(i).and_then(Option::as_mut) else { continue };
            if c.server == handle {
                // The server transaction is over: so is the context. A phone still ringing on a
                // branch is cancelled.
                let pending = c.branches.iter().any(|b| b.final_code.is_none() && !b.cancelled);
                if pending {
                    self.cancel_pending(now, i);
                }
                if let Some(slot) = self.contexts.get_mut(i) {
                    *slot = None;
                }
                return;
            }
            if let Some(b) = c.branches.iter_mut().find(|b| b.handle == handle) {
                if b.final_code.is_none() && !b.cancelled {
                    // Ended without a final response (e.g. terminated): as a timeout.
                    self.on_branch_response(ctx, now, handle, 408, false);
                }
                return;
            }
        }
    }

    // --- Writing responses ----------------------------------------------------------------

    fn copy_request(&mut self, server: Handle) -> Option<usize> {
        let req = self.txns.request(server)?;
        let len = req.len().min(MAX_SIP_LEN);
        self.a.get_mut(..len)?.copy_from_slice(req.get(..len)?);
        Some(len)
    }

    /// The context's final response, written by the box; the call's record if it was one.
    fn finish_with<J: Storage>(&mut self, ctx: &mut Ctx<'_, J>, now: Instant, i: usize, code: u16, reason: &str) {
        let Some(c) = self.contexts.get(i).and_then(Option::as_ref) else { return };
        if c.final_sent {
            return;
        }
        let server = c.server;
        let Some(len) = self.copy_request(server) else { return };
        let a = self.a;
        let mut headers = [Header::EMPTY; MAX_HEADERS];
        let Some(msg) = reparse(a.get(..len).unwrap_or(&[]), &mut headers) else { return };
        self.journal_failure(ctx, now, i, code);
        self.finish_extra(ctx, now, i, &msg, code, reason, &[]);
    }

    fn finish_msg<J: Storage>(
        &mut self,
        ctx: &mut Ctx<'_, J>,
        now: Instant,
        slot: usize,
        msg: &Message<'_, '_>,
        code: u16,
        reason: &str,
    ) {
        self.finish_extra(ctx, now, slot, msg, code, reason, &[]);
    }

    #[allow(clippy::too_many_arguments)]
    fn finish_extra<J: Storage>(
        &mut self,
        ctx: &mut Ctx<'_, J>,
        now: Instant,
        slot: usize,
        msg: &Message<'_, '_>,
        code: u16,
        reason: &str,
        extra: &[(&str, &[u8])],
    ) {
        let Some(c) = self.contexts.get_mut(slot).and_then(Option::as_mut) else { return };
        if c.final_sent {
            return;
        }
        c.final_sent = true;
        c.ring_deadline = None;
        c.answer_deadline = None;
        let server = c.server;
        self.respond_to(ctx, now, server, msg, code, reason, extra);
        if code >= 300 {
            self.release_if_done(slot);
        }
    }

    /// A context whose final non-2xx response is sent and whose branches are all over (or
    /// cancelled) is not needed any more: the server transaction absorbs retransmissions and
    /// the ACK by itself (RFC 3261 §17.2.1). Freeing it at once keeps a burst of failed calls
    /// from filling the table for Timer H's 32 s.
    fn release_if_done(&mut self, slot: usize) {
        let done = self.contexts.get(slot).and_then(Option::as_ref).is_some_and(|c| {
            c.final_sent && !c.answered && c.branches.iter().all(|b| b.final_code.is_some() || b.cancelled)
        });
        if done {
            if let Some(c) = self.contexts.get_mut(slot) {
                *c = None;
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn respond_to<J: Storage>(
        &mut self,
        _ctx: &mut Ctx<'_, J>,
        now: Instant,
        server: Handle,
        msg: &Message<'_, '_>,
        code: u16,
        reason: &str,
        extra: &[(&str, &[u8])],
    ) {
        let tag = hex16(self.next_token());
        let to_tag = if code > 100 { Some(tag.as_bytes()) } else { None };
        if let Ok(n) = write_response(msg, code, reason, to_tag, extra, &[], &mut self.b) {
            let b = self.b;
            let _ = self.txns.respond(now, server, b.get(..n).unwrap_or(&[]));
        }
    }

    /// A response outside any transaction (a request the table refused or could not match),
    /// sent where the request came from.
    fn stateless_response<J: Storage>(
        &mut self,
        ctx: &mut Ctx<'_, J>,
        from: Option<SocketAddr>,
        msg: &Message<'_, '_>,
        code: u16,
        reason: &str,
        extra: &[(&str, &[u8])],
    ) {
        let tag = hex16(self.next_token());
        if let Ok(n) = write_response(msg, code, reason, Some(tag.as_bytes()), extra, &[], &mut self.b) {
            queue_out(ctx.out, ctx.stats, from, self.b.get(..n).unwrap_or(&[]));
        }
    }

    /// An ACK for a 2xx (its own transaction, RFC 3261 §17.1.1.3), routed statelessly (§16.11)
    /// like any in-dialog request.
    fn route_ack<J: Storage>(
        &mut self,
        ctx: &mut Ctx<'_, J>,
        now: Instant,
        from: Option<SocketAddr>,
        msg: &Message<'_, '_>,
    ) {
        let call_id = msg.call_id().unwrap_or(&[]);
        let local = self.calls.iter().any(|c| c.call_id.as_bytes() == call_id);
        let branch = self.branches.next_branch();
        let mut fwd = Forward::new().decrement_max_forwards();
        let ours = our_routes(msg, ctx.settings);
        if ours > 0 {
            fwd = fwd.pop_routes(ours);
        }
        let mut via: String<128> = String::new();
        let dest = if from.is_none() || local {
            let Some(Ok(uri)) = msg.request_uri() else { return };
            match lan_target_any(ctx, &uri) {
                Some(d) => Some(d),
                None => return,
            }
        } else if ctx.mode != Mode::Survival {
            let _ = write!(via, "SIP/2.0/TLS {};branch={}", ctx.settings.host, branch.as_str());
            None
        } else {
            // The ACK of a call set up through the cloud: past the cloud to the phone, as
            // `route_dialog_past_cloud` does for other in-dialog requests.
            let target = match msg.request_uri() {
                Some(Ok(uri)) => known_phone(ctx, &uri, now),
                _ => None,
            };
            let Some(d) = target else {
                ctx.stats.sip_dropped = ctx.stats.sip_dropped.saturating_add(1);
                return;
            };
            fwd = Forward::new().decrement_max_forwards().drop_routes();
            Some(d)
        };
        if let Some(d) = dest {
            let transport = if ctx.lan_streams.has(d) { Transport::Tcp } else { Transport::Udp };
            let _ = write!(
                via,
                "SIP/2.0/{} {};branch={}",
                via_transport(transport),
                ctx.settings.lan_addr,
                branch.as_str()
            );
        }
        fwd = fwd.push_via(via.as_bytes());
        if let Ok(n) = fwd.write(msg, &mut self.b) {
            queue_out(ctx.out, ctx.stats, dest, self.b.get(..n).unwrap_or(&[]));
        }
    }

    /// A stray 2xx to an INVITE: pop our Via and send it where the next Via says.
    fn forward_stray<J: Storage>(&mut self, ctx: &mut Ctx<'_, J>, _from: Option<SocketAddr>, msg: &Message<'_, '_>) {
        let mut vias = msg.vias().flatten();
        let Some(ours) = vias.next() else { return };
        let Some(next) = vias.next() else { return };
        let to_uplink = ours.branch().is_some_and(|b| b.ends_with(b"c"));
        let dest = if to_uplink {
            None
        } else {
            let ip = next
                .received()
                .and_then(|r| core::str::from_utf8(r).ok())
                .and_then(|r| r.parse::<IpAddr>().ok())
                .or(next.host.ip());
            let port = next.rport().flatten().or(next.port).unwrap_or(5060);
            match ip {
                Some(ip) => Some(SocketAddr::new(ip, port)),
                None => return,
            }
        };
        if let Ok(n) = Forward::new().pop_via().write(msg, &mut self.b) {
            queue_out(ctx.out, ctx.stats, dest, self.b.get(..n).unwrap_or(&[]));
        }
    }

    // --- Lookups --------------------------------------------------------------------------

    fn context_of(&self, server: Handle) -> Option<usize> {
        self.contexts.iter().position(|c| c.as_ref().is_some_and(|c| c.server == server))
    }

    fn context_of_branch(&self, client: Handle) -> Option<usize> {
        self.contexts.iter().position(|c| c.as_ref().is_some_and(|c| c.branches.iter().any(|b| b.handle == client)))
    }

    /// Calls set up locally and still up.
    pub(crate) fn live_calls(&self) -> usize {
        self.calls.len()
    }

    /// Contexts in use.
    pub(crate) fn contexts_in_use(&self) -> usize {
        self.contexts.iter().filter(|c| c.is_some()).count()
    }

    /// Transactions in use.
    pub(crate) fn transactions_in_use(&self) -> usize {
        self.txns.len()
    }
}

/// Parses a message the box stored itself (always complete and valid).
fn reparse<'h, 'a>(bytes: &'a [u8], headers: &'h mut [Header<'a>]) -> Option<Message<'h, 'a>> {
    // Stored bytes are exactly one message: datagram framing reads it with or without
    // Content-Length.
    let cfg = ParseConfig { max_message_len: MAX_SIP_LEN * 2, ..ParseConfig::DEFAULT };
    match parse(bytes, headers, Framing::Datagram, &cfg) {
        Ok(Status::Complete(m)) => Some(m),
        _ => None,
    }
}

/// The transport token of a Via the box writes towards the LAN (RFC 3261 §20.42).
fn via_transport(t: Transport) -> &'static str {
    match t {
        Transport::Tcp => "TCP",
        _ => "UDP",
    }
}

/// Whether a request creates a dialog (RFC 3261 §12.1; RFC 6665 SUBSCRIBE, RFC 3515 REFER):
/// outside a dialog (no To tag) and of a dialog-creating method.
fn is_dialog_creating(msg: &Message<'_, '_>) -> bool {
    let creating = matches!(msg.method(), Some(Method::Invite | Method::Subscribe | Method::Refer));
    creating && msg.to().and_then(Result::ok).is_none_or(|t| t.tag().is_none())
}

/// The extension a SIP user (of a To or From URI) stands for: its number, or the extension's
/// digest username (the cloud's default usernames are `<site>-<number>`, not the number).
pub(crate) fn extension_of_user<'s>(
    site: &'s SiteConfig,
    user: &[u8],
) -> Option<&'s carillon_protocol::control::Extension> {
    site.extension(user).or_else(|| site.by_username(user))
}

/// How many of the topmost Route values name this box (RFC 3261 §16.4: a proxy removes its
/// own Route): up to two, as the box record-routes twice on calls through the cloud (RFC 5658:
/// its LAN address towards the phone, its host name towards the cloud).
fn our_routes(msg: &Message<'_, '_>, settings: &Settings) -> u8 {
    let mut n = 0;
    for r in msg.routes().take(2) {
        let Ok(r) = r else { break };
        let ours = match r.uri.host {
            Some(carillon_protocol::Host::Name(h)) => h.eq_ignore_ascii_case(settings.host.as_bytes()),
            Some(h) => h.ip() == Some(settings.lan_addr.ip()),
            None => false,
        };
        if !ours {
            break;
        }
        n += 1;
    }
    n
}

/// The box's Record-Route value towards a phone: its LAN address, with `transport=tcp` when
/// the phone is on a TCP connection (a phone must be able to reach it for its ACK and BYE,
/// which the box's host name, known to the cloud only, does not promise).
fn lan_record_route<const N: usize>(out: &mut String<N>, settings: &Settings, tcp: bool) {
    let _ = write!(out, "<sip:{};{}lr>", settings.lan_addr, if tcp { "transport=tcp;" } else { "" });
}

/// The phone's Via with `received` and `rport` (RFC 3581 §4), appended to `out`.
fn write_phone_via<const N: usize>(out: &mut String<N>, via: &carillon_protocol::Via<'_>, source: SocketAddr) -> bool {
    let transport = core::str::from_utf8(via.transport).unwrap_or("UDP");
    let ok = write!(out, "SIP/2.0/{} {}", transport, via.host).is_ok();
    if let Some(p) = via.port {
        let _ = write!(out, ":{p}");
    }
    let mut has_received = false;
    for (name, value) in via.params.iter() {
        let name_s = core::str::from_utf8(name).unwrap_or("x");
        if name.eq_ignore_ascii_case(b"rport") {
            let _ = write!(out, ";rport={}", source.port());
        } else if name.eq_ignore_ascii_case(b"received") {
            has_received = true;
            let _ = write!(out, ";received={}", source.ip());
        } else {
            let _ = match value {
                Some(v) => write!(out, ";{}={}", name_s, core::str::from_utf8(v).unwrap_or("")),
                None => write!(out, ";{name_s}"),
            };
        }
    }
    let sent_by_is_source = via.host.ip() == Some(source.ip());
    if !has_received && !sent_by_is_source {
        let _ = write!(out, ";received={}", source.ip());
    }
    ok && out.len() < N
}

/// Where on the LAN a Request-URI leads: the address a binding with that contact registered
/// from, else the URI's own IP address and port.
fn lan_target<J: Storage>(ctx: &Ctx<'_, J>, uri: &Uri<'_>, now: Instant) -> Option<SocketAddr> {
    if let Some(b) = ctx.bindings.by_contact(uri.raw, now) {
        return Some(b.source);
    }
    let ip = uri.host.and_then(|h| h.ip())?;
    Some(SocketAddr::new(ip, uri.port.unwrap_or(5060)))
}

/// The phone of this school a Request-URI names, if the box knows it: a live binding whose
/// Contact is that URI, or whose Contact or source address has the URI's IP address and port.
/// Unlike [`lan_target`], a bare address the box has no binding for is no phone of the school.
fn known_phone<J: Storage>(ctx: &Ctx<'_, J>, uri: &Uri<'_>, now: Instant) -> Option<SocketAddr> {
    if let Some(b) = ctx.bindings.by_contact(uri.raw, now) {
        return Some(b.source);
    }
    let ip = uri.host.and_then(|h| h.ip())?;
    let target = SocketAddr::new(ip, uri.port.unwrap_or(5060));
    ctx.bindings
        .iter()
        .filter(|b| b.expires > now)
        .find(|b| {
            b.source == target
                || Uri::parse(b.contact.as_bytes())
                    .ok()
                    .is_some_and(|c| c.host.and_then(|h| h.ip()) == Some(ip) && c.port.unwrap_or(5060) == target.port())
        })
        .map(|b| b.source)
}

fn lan_target_any<J: Storage>(ctx: &Ctx<'_, J>, uri: &Uri<'_>) -> Option<SocketAddr> {
    if let Some(b) = ctx.bindings.iter().find(|b| b.contact.as_bytes() == uri.raw) {
        return Some(b.source);
    }
    let ip = uri.host.and_then(|h| h.ip())?;
    Some(SocketAddr::new(ip, uri.port.unwrap_or(5060)))
}

/// Writes a CANCEL for `inv` (RFC 3261 §9.1: same Request-URI, Call-ID, To, From, CSeq number,
/// Route set and top Via as the INVITE).
fn write_cancel(inv: &Message<'_, '_>, out: &mut [u8]) -> Option<usize> {
    let carillon_protocol::StartLine::Request { uri, .. } = inv.start else { return None };
    let top_via = inv.header(HeaderKind::Via)?;
    // Our Via was written as a line of its own by `Forward::push_via`: the first line is it.
    let first_via = top_via.value;
    let cseq = inv.cseq()?.ok()?;
    let mut w = Writer::new(out);
    w.request_line(Method::Cancel, uri);
    w.header("Via", first_via);
    w.header("Max-Forwards", b"70");
    for h in inv.headers {
        match h.kind {
            HeaderKind::From | HeaderKind::To | HeaderKind::CallId | HeaderKind::Route => {
                w.header(h.kind.canonical().unwrap_or("X"), h.value);
            }
            _ => {}
        }
    }
    w.header_fmt("CSeq", format_args!("{} CANCEL", cseq.seq));
    w.finish(&[]).ok()
}

/// Response ranking for a fork (RFC 3261 §16.7 step 6, simplified): 6xx first, then the lowest
/// class, preferring 486 over generic failures inside 4xx.
fn rank(code: u16) -> u32 {
    match code {
        600..=699 => 0,
        486 => 1,
        c if (400..500).contains(&c) && c != 408 => 2 + u32::from(c),
        408 => 2000,
        c => 1000 + u32::from(c),
    }
}

fn reason_of(code: u16) -> &'static str {
    match code {
        408 => "Request Timeout",
        480 => "Temporarily Unavailable",
        486 => "Busy Here",
        487 => "Request Terminated",
        600 => "Busy Everywhere",
        603 => "Decline",
        503 => "Service Unavailable",
        _ => "Failed",
    }
}

fn outcome_answered(info: &CallInfo) -> CallOutcome {
    if info.emergency {
        CallOutcome::EmergencyToFallback
    } else {
        CallOutcome::Answered
    }
}

fn make_record<J: Storage>(
    ctx: &Ctx<'_, J>,
    info: &CallInfo,
    answer: Option<Instant>,
    end: Instant,
    outcome: CallOutcome,
) -> CallRecord {
    CallRecord {
        box_id: ctx.settings.box_id,
        seq: 0,
        caller: info.caller.clone(),
        callee: info.callee.clone(),
        start: ctx.unix(info.start),
        answer: answer.map(|a| ctx.unix(a)),
        end: ctx.unix(end),
        outcome,
        duration_ms: answer.map_or(0, |a| (end - a).as_millis() as u64),
        mode: info.mode,
    }
}

/// Copies bytes into a bounded string, cutting at the capacity (on a char boundary) and
/// replacing what is not UTF-8: identifiers that are too long are truncated, never refused.
/// What a REGISTER (or the 200 answering it) gives every binding it carries: its Call-ID and
/// CSeq (RFC 3261 §10.3 step 7) and the Expires header that stands in for a Contact without
/// `expires` (§10.2.1.1). Used by the survival registrar and by learning online bindings.
struct RegisterFacts {
    header_expires: Option<u32>,
    call_id: CallId,
    cseq: u32,
}

impl RegisterFacts {
    fn of(msg: &Message<'_, '_>) -> Self {
        RegisterFacts {
            header_expires: msg.expires().and_then(Result::ok),
            call_id: bounded_str(msg.call_id().unwrap_or(&[])),
            cseq: msg.cseq().and_then(Result::ok).map_or(0, |c| c.seq),
        }
    }

    /// The binding one Contact asks for, its lifetime capped at `max` seconds; `None` when it
    /// asks for removal (expires 0).
    fn binding(
        &self,
        aor: &[u8],
        na: &NameAddr<'_>,
        max: u32,
        source: SocketAddr,
        now: Instant,
    ) -> Option<BindingEntry> {
        let expires = na.expires().or(self.header_expires).unwrap_or(DEFAULT_EXPIRES).min(max);
        (expires != 0).then(|| BindingEntry {
            aor: bounded_str(aor),
            contact: bounded_str(na.uri.raw),
            source,
            expires: now + Duration::from_secs(u64::from(expires)),
            call_id: self.call_id.clone(),
            cseq: self.cseq,
            hand_back: false,
            in_flight: false,
        })
    }
}

fn bounded_str<const N: usize>(bytes: &[u8]) -> String<N> {
    let mut s = String::new();
    let text = core::str::from_utf8(bytes).unwrap_or("?");
    for ch in text.chars() {
        if s.push(ch).is_err() {
            break;
        }
    }
    s
}
