//! The box's gateway core: one sans-IO state machine that is the school phones' outbound proxy
//! while the cloud is reachable, their registrar and proxy while it is not, and hands everything
//! back when it returns (DESIGN.md, "The box's modes").
//!
//! # The run loop
//!
//! [`Gateway`] never does I/O and never reads a clock (STYLE.md habit 1): every entry point takes
//! `now`, a monotonic [`Instant`] of the runtime's clock. The runtime
//! 1. hands in what arrives: [`Gateway::handle_lan_datagram`] (SIP from a phone, UDP),
//!    [`Gateway::handle_lan_stream_opened`], [`Gateway::handle_lan_stream_bytes`] and
//!    [`Gateway::handle_lan_stream_closed`] (a phone's TCP connection: it opened, bytes in any
//!    pieces, it closed),
//!    [`Gateway::handle_uplink_bytes`] (the SIP stream to the cloud, TLS/TCP, in whatever pieces
//!    the socket gives), [`Gateway::handle_control`] (a decoded control-link message),
//!    [`Gateway::handle_uplink_closed`] (the connection to the cloud broke);
//! 2. calls [`Gateway::handle_timeout`] when the deadline of [`Gateway::poll_timeout`] is
//!    reached;
//! 3. **drains after every `handle_*` call** — the drain rule: [`Gateway::poll_transmit`] until
//!    `None` (sending each [`Transmit`] before polling the next: its bytes are lent from the
//!    gateway's buffers), then [`Gateway::poll_event`] until `None`, then reads
//!    [`Gateway::poll_timeout`] again. Output that is not drained is bounded: a full output
//!    queue drops the newest message and counts it in [`Stats`]; SIP retransmission timers
//!    recover lost SIP, and the control link resends unacknowledged batches.
//!
//! # Modes and uplink health
//!
//! The box boots in [`Mode::Survival`] (it cannot know the cloud is reachable) and pings the
//! cloud at once. Anything from the cloud moves it to [`Mode::Recovering`]: every live binding is
//! handed to the cloud in `Bindings` batches and the journal is uploaded; when both are
//! acknowledged the box is [`Mode::Online`]. The uplink is judged down — back to survival — when
//! a keepalive goes unanswered (see [`Timing`]), when a request forwarded to the cloud gets no
//! answer within [`Timing::answer_timeout`] (that request is then served locally: the fallback
//! is per transaction, not only per mode), or when the runtime reports the connection closed.
//!
//! # Capacities
//!
//! Every table is bounded by a constant of this module or of the control protocol
//! ([`MAX_BINDINGS`], [`MAX_TRANSACTIONS`], [`MAX_CONTEXTS`], [`MAX_CALLS`],
//! [`OUT_QUEUE_LEN`], [`EVENT_QUEUE_LEN`], [`UPLINK_BUFFER_LEN`], [`MAX_LAN_STREAMS`],
//! [`LAN_STREAM_BUFFER_LEN`]). When one is full the answer is defined: a SIP request gets 503
//! with `Retry-After`, an online binding evicts the one closest to expiry, an output message, an
//! event or a journal record is dropped and counted, a phone's TCP connection beyond the limit
//! is refused and one whose message overflows its buffer is closed (both counted).

/// The gateway's state the SIP side borrows for one call (fields split so that `self.sip` can
/// be borrowed beside them).
macro_rules! ctx {
    ($s:ident) => {
        sip::Ctx {
            settings: &$s.settings,
            mode: $s.mode,
            site: $s.has_site.then_some(&$s.site),
            bindings: &mut $s.bindings,
            lan_streams: &$s.lan_streams,
            journal: &mut $s.journal,
            out: &mut $s.out,
            events: &mut $s.events,
            counters: &mut $s.counters,
            stats: &mut $s.stats,
            wall: $s.wall,
            booted: $s.booted,
            uplink_failed: false,
        }
    };
}

mod bindings;
mod lan;
mod sip;
mod site;
mod uplink;

use core::net::SocketAddr;
use core::time::Duration;

use carillon_protocol::control::{
    BindingBatch, BoxId, BoxMessage, CallRecord, CloudMessage, ConfigApplied, ConfigRejectReason, ConfigRejected,
    Counters, Mode, Pong, UnixTime, BINDINGS_PER_BATCH, CALL_RECORDS_PER_BATCH,
};
use carillon_protocol::Instant;
use heapless::{Deque, String};

use super::profile;
use crate::journal::{Journal, JournalError, Storage};

pub use bindings::{BindingEntry, MAX_BINDINGS};
pub use lan::{LAN_STREAM_BUFFER_LEN, LAN_STREAM_IDLE_EVICT, MAX_LAN_STREAMS};
pub use sip::{
    COMPLETED_RESPONSE_LEN, COMPLETED_TRANSACTIONS, MAX_CALLS, MAX_CONTEXTS, MAX_FORKS, MAX_SIP_LEN, MAX_TRANSACTIONS,
};
pub use site::{
    decode_image, encode_image, is_built_in_emergency, ConfigStore, RamConfigError, RamConfigStore, SiteConfig,
    BUILT_IN_EMERGENCY, CONFIG_IMAGE_LEN, MAX_EXTENSIONS, MAX_RING_GROUPS, STAGING_LEN,
};
pub use uplink::Timing;

use bindings::Bindings;
use lan::{LanStreams, Opened};
use site::Staging;
use uplink::{Keepalive, KeepaliveAction};

/// Messages waiting in the gateway's own output queue (responses it writes itself, stateless
/// forwards, keepalives). The transaction table has its own bounded queue besides.
pub const OUT_QUEUE_LEN: usize = profile::OUT_QUEUE_LEN;
/// Events waiting to be polled; beyond it the newest is dropped and counted.
pub const EVENT_QUEUE_LEN: usize = profile::EVENT_QUEUE_LEN;
/// Bytes of the uplink stream held while a SIP message is incomplete. A message longer than
/// this is a protocol error of the cloud: the buffer is discarded and counted.
pub const UPLINK_BUFFER_LEN: usize = profile::UPLINK_BUFFER_LEN;
/// Control messages (config answers, pongs) waiting to be polled.
const CONTROL_QUEUE_LEN: usize = 4;
/// A control batch (bindings, call records) not acknowledged after this long is sent again.
pub const CONTROL_RETRY: Duration = Duration::from_secs(10);
/// Longest host name the box uses for itself in Via, Record-Route and Path.
pub const MAX_HOST_LEN: usize = 64;

/// What the gateway needs to know about itself, given at construction.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The box's identity (stamped on every call record).
    pub box_id: BoxId,
    /// The box's host name as the cloud knows it; used in the `Via` it puts on requests to the
    /// cloud and in its `Record-Route` and `Path` values, which the cloud routes back over the
    /// box's flow.
    pub host: String<MAX_HOST_LEN>,
    /// The box's own SIP address on the school LAN (its `Via` towards phones).
    pub lan_addr: SocketAddr,
    /// The address the transaction layer uses to stand for the uplink flow. Never sent to;
    /// requests and responses for it come out as [`Transmit::Uplink`].
    pub uplink_peer: SocketAddr,
    /// Keepalive and fallback timing.
    pub timing: Timing,
    /// Seed of the branch and nonce generators (randomness is an input, STYLE.md habit 1).
    pub seed: u64,
}

/// Something to send, from [`Gateway::poll_transmit`].
// A control message is a bounded value of about 2 KiB; without a heap it is moved, not boxed.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit<'a> {
    /// A SIP datagram to a phone (or the fallback trunk) on the LAN, over UDP.
    Lan {
        /// Where to.
        to: SocketAddr,
        /// The datagram.
        bytes: &'a [u8],
    },
    /// Bytes for a phone's TCP connection (opened by the phone: see
    /// [`Gateway::handle_lan_stream_opened`]). A connection the runtime no longer has: drop
    /// them (SIP over TCP does not retransmit; the transaction times out).
    LanStream {
        /// The phone's end of the connection.
        to: SocketAddr,
        /// The bytes (a whole message, or a keepalive CRLF).
        bytes: &'a [u8],
    },
    /// Bytes for the SIP stream to the cloud (a message, or a keepalive).
    Uplink {
        /// The bytes.
        bytes: &'a [u8],
    },
    /// A message for the control link; the runtime frames it with
    /// [`encode_frame`](carillon_protocol::control::encode_frame).
    Control(BoxMessage),
}

/// Why the mode changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ModeCause {
    /// A keepalive ping went unanswered (RFC 5626 §4.4.1).
    KeepaliveTimeout,
    /// A request forwarded to the cloud got no answer in time.
    TransactionTimeout,
    /// The runtime reported the uplink connection closed, or the cloud said goodbye.
    UplinkClosed,
    /// The cloud was heard from again.
    UplinkAlive,
    /// Bindings and journal were handed back.
    HandBackDone,
}

/// Something the runtime may log, count or show, from [`Gateway::poll_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The mode changed.
    ModeChanged {
        /// The old mode.
        from: Mode,
        /// The new mode.
        to: Mode,
        /// Why.
        cause: ModeCause,
        /// When.
        at: Instant,
    },
    /// A configuration was applied and persisted.
    ConfigApplied {
        /// Its version.
        version: u32,
    },
    /// A configuration was refused; the previous one stays in force.
    ConfigRejected {
        /// Its version.
        version: u32,
        /// Why.
        reason: ConfigRejectReason,
    },
    /// A call record was written to the journal.
    JournalAppended {
        /// Its sequence number.
        seq: u64,
    },
    /// A call record could not be written (journal full or storage failure); counted.
    JournalDropped,
    /// The cloud acknowledged call records up to this sequence number.
    JournalAcked {
        /// Highest sequence number stored by the cloud.
        up_to: u64,
    },
    /// A batch of bindings was acknowledged by the cloud.
    BindingsHandedBack {
        /// The batch.
        batch_id: u32,
        /// Bindings in it.
        count: u16,
    },
    /// The uplink stream broke its framing (a message over [`UPLINK_BUFFER_LEN`] or
    /// unparseable); the buffered bytes were discarded. The runtime should reconnect.
    UplinkStreamError,
    /// A phone's TCP connection broke its framing (a message over [`LAN_STREAM_BUFFER_LEN`],
    /// bytes that are no SIP), or sent bytes without being open: the gateway forgot it. The
    /// runtime must close it (the phone reconnects).
    LanStreamBroken {
        /// The phone's end of the connection.
        peer: SocketAddr,
    },
    /// A phone's TCP connection, silent for [`LAN_STREAM_IDLE_EVICT`], gave its place to a new
    /// one (the table was full). The runtime must close it.
    LanStreamEvicted {
        /// The phone's end of the connection.
        peer: SocketAddr,
    },
}

/// Drops and refusals the gateway counted (besides the protocol's [`Counters`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests answered 503 because a table was full.
    pub refused_full: u64,
    /// Messages dropped because the output queue was full.
    pub output_dropped: u64,
    /// Events dropped because the event queue was full.
    pub events_dropped: u64,
    /// Online bindings evicted to make room.
    pub bindings_evicted: u64,
    /// Registrations refused in survival because the binding table was full.
    pub bindings_refused: u64,
    /// Uplink stream framing errors.
    pub uplink_stream_errors: u64,
    /// Phone TCP connections refused because [`MAX_LAN_STREAMS`] live ones were open.
    pub lan_streams_refused: u64,
    /// Silent phone TCP connections closed to make room for a new one.
    pub lan_streams_evicted: u64,
    /// Phone TCP connections dropped for breaking their framing.
    pub lan_stream_errors: u64,
    /// SIP messages dropped silently (malformed responses, strays; RFC 3261 §18.1.2).
    pub sip_dropped: u64,
    /// Calls that did not fit the call table (their record is written at answer time).
    pub calls_untracked: u64,
    /// Configuration images that failed to save.
    pub config_save_failures: u64,
}

/// Why [`Gateway::new`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum BootError<E> {
    /// The journal could not be opened.
    Journal(JournalError<E>),
}

/// An outgoing message in the gateway's own queue.
#[derive(Clone)]
pub(crate) struct Outgoing {
    pub(crate) to: Option<SocketAddr>,
    pub(crate) len: usize,
    pub(crate) buf: [u8; MAX_SIP_LEN],
}

impl Outgoing {
    const EMPTY: Outgoing = Outgoing { to: None, len: 0, buf: [0; MAX_SIP_LEN] };
}

/// The gateway: see the [module docs](self) for the run loop, the modes and the capacities.
///
/// `J` is the journal's storage (a flash region, a file), `C` where the configuration persists.
/// The value is large (the transaction table holds its messages, the configuration its
/// credentials; about 650 KiB with the host profile, see the [crate docs](crate#capacity-profiles)):
/// keep it in a `static` or a `Box`.
pub struct Gateway<J: Storage, C: ConfigStore> {
    settings: Settings,
    mode: Mode,
    keepalive: Keepalive,
    /// Bytes of the uplink stream not yet parsed.
    uplink_rx: heapless::Vec<u8, UPLINK_BUFFER_LEN>,
    /// The configuration in force, when `has_site`.
    site: SiteConfig,
    has_site: bool,
    /// The configuration being received, as its image (see `site.rs`).
    staging: Staging,
    /// The version of the last configuration refused (its remaining chunks are ignored).
    last_refused: Option<u32>,
    store: C,
    journal: Journal<J>,
    bindings: Bindings,
    lan_streams: LanStreams,
    next_batch_id: u32,
    /// The bindings batch waiting for its ack, and when to send it again.
    bindings_in_flight: Option<(u32, Instant)>,
    /// The last sequence number of the call-record batch waiting for its ack, and when to send
    /// it again.
    records_in_flight: Option<(u64, Instant)>,
    control_out: Deque<BoxMessage, CONTROL_QUEUE_LEN>,
    out: Deque<Outgoing, OUT_QUEUE_LEN>,
    /// The message lent by the last `poll_transmit`.
    sending: Outgoing,
    events: Deque<Event, EVENT_QUEUE_LEN>,
    counters: Counters,
    stats: Stats,
    /// Wall clock anchor: `(monotonic, wall)` at the same moment (for call records).
    wall: Option<(Instant, UnixTime)>,
    booted: Instant,
    survival_since: Option<Instant>,
    survival_total: Duration,
    sip: sip::Sip,
}

impl<J: Storage, C: ConfigStore> Gateway<J, C> {
    /// Boots the gateway: opens the journal (recovering what a power cut left) and loads the
    /// persisted configuration, if any and intact (a corrupt image is ignored: the box waits
    /// for the cloud to send one). Starts in [`Mode::Survival`] and pings the cloud at once.
    pub fn new(settings: Settings, journal: J, store: C, now: Instant) -> Result<Self, BootError<J::Error>> {
        let journal = Journal::open(journal).map_err(BootError::Journal)?;
        let sip = sip::Sip::new(&settings);
        let mut gw = Gateway {
            keepalive: Keepalive::new(settings.timing, now),
            settings,
            mode: Mode::Survival,
            uplink_rx: heapless::Vec::new(),
            site: site::empty_config(),
            has_site: false,
            staging: Staging::new(),
            last_refused: None,
            store,
            journal,
            bindings: Bindings::new(),
            lan_streams: LanStreams::new(),
            next_batch_id: 1,
            bindings_in_flight: None,
            records_in_flight: None,
            control_out: Deque::new(),
            out: Deque::new(),
            sending: Outgoing::EMPTY,
            events: Deque::new(),
            counters: Counters::default(),
            stats: Stats::default(),
            wall: None,
            booted: now,
            survival_since: Some(now),
            survival_total: Duration::ZERO,
            sip,
        };
        gw.load_site();
        Ok(gw)
    }

    /// Loads the persisted configuration, if any and intact, into `site` in place.
    fn load_site(&mut self) {
        self.has_site = self.staging.load(&mut self.store, &mut self.site);
    }

    // --- Inspection -----------------------------------------------------------------------

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The configuration in force, if any.
    pub fn site(&self) -> Option<&SiteConfig> {
        self.has_site.then_some(&self.site)
    }

    /// The live bindings (learnt online or registered in survival).
    pub fn bindings(&self) -> impl Iterator<Item = &BindingEntry> {
        self.bindings.iter()
    }

    /// The protocol counters (as reported in `Status`).
    pub fn counters(&self) -> Counters {
        let mut c = self.counters;
        c.registered_phones = u32::try_from(self.bindings.len()).unwrap_or(u32::MAX);
        c.journal_pending = self.journal.unacked();
        c
    }

    /// Drops and refusals.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The journal (to inspect; the gateway owns it).
    pub fn journal(&mut self) -> &mut Journal<J> {
        &mut self.journal
    }

    /// The configuration store.
    pub fn config_store(&self) -> &C {
        &self.store
    }

    /// The configuration store, to change (a test injecting a failure, a runtime's
    /// maintenance).
    pub fn config_store_mut(&mut self) -> &mut C {
        &mut self.store
    }

    /// Takes the gateway apart into its storages (a simulated reboot).
    pub fn into_storage(self) -> (J, C) {
        (self.journal.into_storage(), self.store)
    }

    /// Seconds spent in survival since boot, up to `now`.
    pub fn survival_secs(&self, now: Instant) -> u64 {
        let running = self.survival_since.map_or(Duration::ZERO, |s| now - s);
        (self.survival_total + running).as_secs()
    }

    /// Rows in use of the proxy's tables: (transactions, contexts, calls set up locally).
    pub fn tables_in_use(&self) -> (usize, usize, usize) {
        (self.sip.transactions_in_use(), self.sip.contexts_in_use(), self.sip.live_calls())
    }

    /// Seconds since boot.
    pub fn uptime_secs(&self, now: Instant) -> u64 {
        (now - self.booted).as_secs()
    }

    // --- Inputs ---------------------------------------------------------------------------

    /// Tells the gateway the wall-clock time at `now` (from NTP or the cloud), for call
    /// records. Until then records carry the monotonic time since boot as their time stamps.
    pub fn set_wall_clock(&mut self, now: Instant, wall: UnixTime) {
        self.wall = Some((now, wall));
    }

    /// Bytes from the SIP stream to the cloud, in any pieces (framing of RFC 3261 §18.3 with
    /// Content-Length). A lone CRLF is a keepalive pong, a double CRLF a ping from the cloud,
    /// answered with a CRLF (RFC 5626 §3.5.1). Any byte proves the uplink alive.
    pub fn handle_uplink_bytes(&mut self, now: Instant, bytes: &[u8]) {
        self.heard_from_cloud(now);
        if self.uplink_rx.extend_from_slice(bytes).is_err() {
            self.uplink_stream_error();
            return;
        }
        let buf = core::mem::take(&mut self.uplink_rx);
        let mut pos = 0;
        while pos < buf.len() {
            let rest = buf.get(pos..).unwrap_or(&[]);
            let crlfs = carillon_protocol::message::leading_empty_lines(rest);
            if crlfs > 0 {
                // Two or more line ends in a row from the cloud are its ping; one is a pong.
                if is_keepalive_ping(rest, crlfs) {
                    self.queue_out(None, b"\r\n");
                }
                pos += crlfs;
                continue;
            }
            match self.sip.handle_uplink(ctx!(self), now, rest) {
                sip::StreamStep::Consumed(n) => pos += n.max(1),
                sip::StreamStep::NeedMore => break,
                sip::StreamStep::Broken => {
                    self.stats.uplink_stream_errors = self.stats.uplink_stream_errors.saturating_add(1);
                    self.push_event(Event::UplinkStreamError);
                    pos = buf.len();
                }
            }
        }
        // Keep the incomplete tail for the next call; it fitted before, so it fits now.
        let _ = self.uplink_rx.extend_from_slice(buf.get(pos..).unwrap_or(&[]));
    }

    /// A SIP datagram from the LAN (a phone, or the fallback trunk), from `from`.
    pub fn handle_lan_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        self.expire_bindings(now);
        if self.sip.handle_lan(ctx!(self), now, from, bytes) {
            self.uplink_down(now, ModeCause::TransactionTimeout);
        }
    }

    /// A phone opened a TCP connection to the box, from `peer`. When [`MAX_LAN_STREAMS`] are
    /// open, it takes the place of the one silent longest if that one is silent for
    /// [`LAN_STREAM_IDLE_EVICT`] ([`Event::LanStreamEvicted`]: the runtime closes that one);
    /// otherwise `Err`: the runtime closes the new one (counted in
    /// [`Stats::lan_streams_refused`]). A `peer` already open starts over (its partial input is
    /// dropped).
    pub fn handle_lan_stream_opened(&mut self, now: Instant, peer: SocketAddr) -> Result<(), LanStreamsFull> {
        match self.lan_streams.open(peer, now) {
            Opened::Stored => Ok(()),
            Opened::Evicted(old) => {
                self.stats.lan_streams_evicted = self.stats.lan_streams_evicted.saturating_add(1);
                self.push_event(Event::LanStreamEvicted { peer: old });
                Ok(())
            }
            Opened::Full => {
                self.stats.lan_streams_refused = self.stats.lan_streams_refused.saturating_add(1);
                Err(LanStreamsFull)
            }
        }
    }

    /// Bytes from a phone's TCP connection, in whatever pieces the socket gives: framed by
    /// Content-Length (RFC 3261 §18.3); a double CRLF is a keepalive ping, answered with a CRLF
    /// (RFC 5626 §3.5.1). Responses and requests for the phone go back on the connection as
    /// [`Transmit::LanStream`]. Broken framing: [`Event::LanStreamBroken`].
    pub fn handle_lan_stream_bytes(&mut self, now: Instant, peer: SocketAddr, bytes: &[u8]) {
        self.expire_bindings(now);
        let Some(stream) = self.lan_streams.get_mut(peer) else {
            self.stats.sip_dropped = self.stats.sip_dropped.saturating_add(1);
            self.push_event(Event::LanStreamBroken { peer });
            return;
        };
        stream.last_heard = now;
        let mut buf = core::mem::take(&mut stream.rx);
        let mut input = bytes;
        let mut broken = false;
        loop {
            // Take what fits; the buffer holds at most one incomplete message.
            let room = LAN_STREAM_BUFFER_LEN.saturating_sub(buf.len());
            let (now_in, later) = input.split_at(room.min(input.len()));
            input = later;
            let _ = buf.extend_from_slice(now_in);
            let mut pos = 0;
            while pos < buf.len() {
                let rest = buf.get(pos..).unwrap_or(&[]);
                let crlfs = carillon_protocol::message::leading_empty_lines(rest);
                let ping = is_keepalive_ping(rest, crlfs);
                let only_line_ends = matches!(rest.get(crlfs..), Some(b"" | b"\r"));
                if crlfs > 0 && !ping && only_line_ends {
                    // The start of a ping split across reads (phones never answer pings: the
                    // box sends none): keep it for the rest.
                    break;
                }
                if crlfs > 0 {
                    if ping {
                        self.queue_out(Some(peer), b"\r\n");
                    }
                    pos += crlfs;
                    continue;
                }
                if rest == b"\r" {
                    break; // half a line end
                }
                match self.sip.handle_lan_stream(ctx!(self), now, peer, rest) {
                    sip::StreamStep::Consumed(n) => pos += n.max(1),
                    sip::StreamStep::NeedMore => break,
                    sip::StreamStep::Broken => {
                        broken = true;
                        break;
                    }
                }
            }
            if broken {
                break;
            }
            let tail: heapless::Vec<u8, LAN_STREAM_BUFFER_LEN> =
                heapless::Vec::from_slice(buf.get(pos..).unwrap_or(&[])).unwrap_or_default();
            buf = tail;
            if input.is_empty() {
                break;
            }
            if buf.len() >= LAN_STREAM_BUFFER_LEN {
                // A message longer than the buffer: it cannot be framed here.
                broken = true;
                break;
            }
        }
        if broken {
            self.stats.lan_stream_errors = self.stats.lan_stream_errors.saturating_add(1);
            self.lan_streams.close(peer);
            self.push_event(Event::LanStreamBroken { peer });
        } else if let Some(stream) = self.lan_streams.get_mut(peer) {
            stream.rx = buf;
        }
    }

    /// A phone's TCP connection closed. Its bindings stay; requests for it go as datagrams.
    pub fn handle_lan_stream_closed(&mut self, _now: Instant, peer: SocketAddr) {
        self.lan_streams.close(peer);
    }

    /// Phone TCP connections open.
    pub fn lan_streams_open(&self) -> usize {
        self.lan_streams.len()
    }

    /// The runtime's connection to the cloud closed: the uplink is down now (no need to wait
    /// for a keepalive to time out). Partial input of the old connection is discarded.
    pub fn handle_uplink_closed(&mut self, now: Instant) {
        self.uplink_down(now, ModeCause::UplinkClosed);
    }

    /// A message from the cloud on the control link (decoded by the runtime).
    pub fn handle_control(&mut self, now: Instant, msg: CloudMessage) {
        self.heard_from_cloud(now);
        match msg {
            CloudMessage::ConfigBegin(m) => {
                let current = self.site().map(|s| s.version);
                if let Err(reason) = self.staging.begin(&mut self.store, &m, current) {
                    self.config_rejected(m.version, reason);
                }
            }
            // The rest of a transfer already refused is dropped quietly: one ConfigRejected per
            // version is enough for the cloud.
            CloudMessage::ConfigExtensions(m) if self.refused_rest(m.version) => {}
            CloudMessage::ConfigRingGroups(m) if self.refused_rest(m.version) => {}
            CloudMessage::ConfigEnd(m) if self.refused_rest(m.version) => {}
            CloudMessage::ConfigExtensions(m) => {
                if let Err(reason) = self.staging.extensions(&mut self.store, &m) {
                    self.config_rejected(m.version, reason);
                }
            }
            CloudMessage::ConfigRingGroups(m) => {
                if let Err(reason) = self.staging.ring_groups(&mut self.store, &m) {
                    self.config_rejected(m.version, reason);
                }
            }
            CloudMessage::ConfigEnd(m) => match self.staging.transfer.end(&m) {
                Ok(version) => self.apply_staged(version),
                Err(reason) => self.config_rejected(m.version, reason),
            },
            CloudMessage::BindingsAck(ack) => {
                if self.bindings_in_flight.is_some_and(|(id, _)| id == ack.batch_id) {
                    self.bindings_in_flight = None;
                    let mut count = 0u16;
                    for b in self.bindings.iter_mut().filter(|b| b.in_flight) {
                        b.in_flight = false;
                        b.hand_back = false;
                        count = count.saturating_add(1);
                    }
                    self.push_event(Event::BindingsHandedBack { batch_id: ack.batch_id, count });
                }
                self.check_recovered(now);
            }
            CloudMessage::CallRecordsAck(ack) => {
                // An ack beyond what the journal holds is the cloud's error: nothing changes.
                if let Ok(crate::journal::AckOutcome::Advanced | crate::journal::AckOutcome::AdvancedInMemory) =
                    self.journal.ack(ack.up_to_seq)
                {
                    self.push_event(Event::JournalAcked { up_to: ack.up_to_seq });
                }
                if self.records_in_flight.is_some_and(|(last, _)| ack.up_to_seq >= last) {
                    self.records_in_flight = None;
                }
                self.check_recovered(now);
            }
            CloudMessage::Authenticated(a) => {
                let _ = self.journal.resync(a.records_stored_up_to);
                self.records_in_flight = None;
            }
            CloudMessage::Ping(p) => {
                let _ = self.control_out.push_back(BoxMessage::Pong(Pong { nonce: p.nonce }));
            }
            CloudMessage::Goodbye(_) => self.uplink_down(now, ModeCause::UplinkClosed),
            _ => {}
        }
    }

    /// Runs every timer that is due at `now`: keepalives, the per-transaction fallback,
    /// transaction timers (RFC 3261 §17), ring-group timeouts, control-batch resends, binding
    /// expiry.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(action) = self.keepalive.handle_timeout(now) {
            match action {
                KeepaliveAction::Ping => self.queue_out(None, b"\r\n\r\n"),
                KeepaliveAction::Dead => self.uplink_down(now, ModeCause::KeepaliveTimeout),
            }
        }
        if self.bindings_in_flight.is_some_and(|(_, retry)| now >= retry) {
            self.bindings_in_flight = None;
            for b in self.bindings.iter_mut() {
                b.in_flight = false;
            }
        }
        if self.records_in_flight.is_some_and(|(_, retry)| now >= retry) {
            self.records_in_flight = None;
        }
        self.expire_bindings(now);
        if self.sip.handle_timeout(ctx!(self), now) {
            self.uplink_down(now, ModeCause::TransactionTimeout);
        }
    }

    // --- Outputs --------------------------------------------------------------------------

    /// The next message to send (see the drain rule in the [module docs](self)). Control
    /// messages come first, then the gateway's own SIP output, then the transaction layer's.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit<'_>> {
        if let Some(m) = self.control_out.pop_front() {
            return Some(Transmit::Control(m));
        }
        if self.mode != Mode::Survival {
            if let Some(m) = self.next_bindings_batch(now) {
                return Some(Transmit::Control(m));
            }
            if let Some(m) = self.next_records_batch(now) {
                return Some(Transmit::Control(m));
            }
        }
        if let Some(o) = self.out.pop_front() {
            self.sending = o;
            let bytes = self.sending.buf.get(..self.sending.len).unwrap_or(&[]);
            return Some(match self.sending.to {
                Some(to) if self.lan_streams.has(to) => Transmit::LanStream { to, bytes },
                Some(to) => Transmit::Lan { to, bytes },
                None => Transmit::Uplink { bytes },
            });
        }
        self.sip.poll_transmit(&self.settings)
    }

    /// The next event (see the drain rule).
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.keepalive.poll_timeout();
        for d in [self.bindings_in_flight.map(|b| b.1), self.records_in_flight.map(|r| r.1), self.sip.poll_timeout()]
            .into_iter()
            .flatten()
        {
            t = t.min(d);
        }
        Some(t)
    }

    // --- Internals ------------------------------------------------------------------------

    fn expire_bindings(&mut self, now: Instant) {
        self.bindings.expire(now);
    }

    fn push_event(&mut self, e: Event) {
        push_event(&mut self.events, &mut self.stats, e);
    }

    fn queue_out(&mut self, to: Option<SocketAddr>, bytes: &[u8]) {
        queue_out(&mut self.out, &mut self.stats, to, bytes);
    }

    fn set_mode(&mut self, now: Instant, to: Mode, cause: ModeCause) {
        let from = self.mode;
        if from == to {
            return;
        }
        self.mode = to;
        match to {
            Mode::Survival => self.survival_since = Some(now),
            _ => {
                if let Some(s) = self.survival_since.take() {
                    self.survival_total += now - s;
                }
            }
        }
        self.push_event(Event::ModeChanged { from, to, cause, at: now });
        let status = carillon_protocol::control::StatusReport {
            mode: to,
            survival_secs: self.survival_secs(now),
            uptime_secs: self.uptime_secs(now),
            firmware: crate::FIRMWARE_VERSION,
            config_version: self.site().map(|s| s.version),
            counters: self.counters(),
        };
        if to != Mode::Survival && self.control_out.push_back(BoxMessage::Status(status)).is_err() {
            self.stats.output_dropped = self.stats.output_dropped.saturating_add(1);
        }
    }

    /// The uplink is judged down: survival, and whatever was in flight to the cloud will be
    /// sent again after it returns.
    pub(crate) fn uplink_down(&mut self, now: Instant, cause: ModeCause) {
        self.keepalive.reset(now);
        self.uplink_rx.clear();
        self.staging.transfer.abort();
        self.bindings_in_flight = None;
        self.records_in_flight = None;
        for b in self.bindings.iter_mut() {
            b.in_flight = false;
        }
        if self.mode != Mode::Survival {
            self.counters.uplink_losses = self.counters.uplink_losses.saturating_add(1);
            self.set_mode(now, Mode::Survival, cause);
        }
        // Requests waiting on the cloud are served locally now (per-transaction fallback).
        self.sip.uplink_down(ctx!(self), now);
    }

    fn heard_from_cloud(&mut self, now: Instant) {
        self.keepalive.heard(now);
        if self.mode == Mode::Survival {
            // Hand every live binding back at once, not at the phones' next refresh.
            self.bindings.expire(now);
            for b in self.bindings.iter_mut() {
                b.hand_back = true;
                b.in_flight = false;
            }
            self.set_mode(now, Mode::Recovering, ModeCause::UplinkAlive);
        }
    }

    fn check_recovered(&mut self, now: Instant) {
        if self.mode == Mode::Recovering
            && self.bindings_in_flight.is_none()
            && !self.bindings.iter().any(|b| b.hand_back)
            && self.records_in_flight.is_none()
            && self.journal.unacked() == 0
        {
            self.set_mode(now, Mode::Online, ModeCause::HandBackDone);
        }
    }

    fn next_bindings_batch(&mut self, now: Instant) -> Option<BoxMessage> {
        if self.bindings_in_flight.is_some() {
            return None;
        }
        self.bindings.expire(now);
        let mut batch = BindingBatch { batch_id: self.next_batch_id, bindings: heapless::Vec::new() };
        let site = self.has_site.then_some(&self.site);
        for b in self.bindings.iter_mut().filter(|b| b.hand_back) {
            if batch.bindings.len() >= BINDINGS_PER_BATCH {
                break;
            }
            // Bindings are kept under the extension number; the cloud's location service
            // knows the phone by its SIP username.
            let user = site.and_then(|s| s.extension(b.aor.as_bytes())).map_or(b.aor.as_str(), |e| e.username.as_str());
            let entry = carillon_protocol::control::Binding {
                aor: aor_uri(user, &self.settings.host),
                contact: b.contact.clone(),
                expires_secs: Bindings::remaining(b, now),
                call_id: b.call_id.clone(),
                cseq: b.cseq,
            };
            if batch.bindings.push(entry).is_ok() {
                b.in_flight = true;
            }
        }
        if batch.bindings.is_empty() {
            self.check_recovered(now);
            return None;
        }
        self.next_batch_id = self.next_batch_id.wrapping_add(1);
        self.bindings_in_flight = Some((batch.batch_id, now + CONTROL_RETRY));
        Some(BoxMessage::Bindings(batch))
    }

    fn next_records_batch(&mut self, now: Instant) -> Option<BoxMessage> {
        if self.records_in_flight.is_some() {
            return None;
        }
        match self.journal.pending(CALL_RECORDS_PER_BATCH) {
            Ok(Some(batch)) => {
                self.records_in_flight = Some((batch.last_seq, now + CONTROL_RETRY));
                Some(BoxMessage::CallRecords(batch))
            }
            _ => {
                self.check_recovered(now);
                None
            }
        }
    }

    fn refused_rest(&self, version: u32) -> bool {
        self.staging.transfer.in_progress().is_none() && self.last_refused == Some(version)
    }

    fn config_rejected(&mut self, version: u32, reason: ConfigRejectReason) {
        self.last_refused = Some(version);
        if self.control_out.push_back(BoxMessage::ConfigRejected(ConfigRejected { version, reason })).is_err() {
            self.stats.output_dropped = self.stats.output_dropped.saturating_add(1);
        }
        self.push_event(Event::ConfigRejected { version, reason });
    }

    /// `ConfigEnd` of a complete transfer: persist first, then switch, so that what is in force
    /// is always what a reboot would load.
    fn apply_staged(&mut self, version: u32) {
        let saved = self.staging.finish(&mut self.store);
        if !saved {
            self.stats.config_save_failures = self.stats.config_save_failures.saturating_add(1);
            self.config_rejected(version, ConfigRejectReason::StorageFailed);
            return;
        }
        if !self.staging.apply(&mut self.store, &mut self.site) {
            // Only a store that gives back other bytes than it took gets here; what was in
            // force stays.
            self.stats.config_save_failures = self.stats.config_save_failures.saturating_add(1);
            self.config_rejected(version, ConfigRejectReason::StorageFailed);
            return;
        }
        self.has_site = true;
        if self.control_out.push_back(BoxMessage::ConfigApplied(ConfigApplied { version })).is_err() {
            self.stats.output_dropped = self.stats.output_dropped.saturating_add(1);
        }
        self.push_event(Event::ConfigApplied { version });
    }

    fn uplink_stream_error(&mut self) {
        self.uplink_rx.clear();
        self.stats.uplink_stream_errors = self.stats.uplink_stream_errors.saturating_add(1);
        self.push_event(Event::UplinkStreamError);
    }
}

/// Why [`Gateway::handle_lan_stream_opened`] refused a connection: [`MAX_LAN_STREAMS`] are open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LanStreamsFull;

/// Whether `crlfs` leading line-end bytes of `rest` are a keepalive ping (a double CRLF, RFC
/// 5626 §3.5.1; lone LFs accepted) rather than a pong (one CRLF).
fn is_keepalive_ping(rest: &[u8], crlfs: usize) -> bool {
    crlfs >= 4 || (crlfs >= 2 && rest.get(..crlfs).is_some_and(|r| r.iter().filter(|&&b| b == b'\n').count() >= 2))
}

/// `sip:<user>@<host>`: the address of record of an extension as the cloud knows it.
fn aor_uri(ext: &str, host: &str) -> carillon_protocol::control::Uri {
    let mut s = carillon_protocol::control::Uri::new();
    let _ = core::fmt::Write::write_fmt(&mut s, format_args!("sip:{ext}@{host}"));
    s
}

pub(crate) fn push_event(events: &mut Deque<Event, EVENT_QUEUE_LEN>, stats: &mut Stats, e: Event) {
    if events.push_back(e).is_err() {
        stats.events_dropped = stats.events_dropped.saturating_add(1);
    }
}

pub(crate) fn queue_out(
    out: &mut Deque<Outgoing, OUT_QUEUE_LEN>,
    stats: &mut Stats,
    to: Option<SocketAddr>,
    bytes: &[u8],
) {
    let mut o = Outgoing { to, len: bytes.len(), buf: [0; MAX_SIP_LEN] };
    match o.buf.get_mut(..bytes.len()) {
        Some(dst) => dst.copy_from_slice(bytes),
        None => {
            stats.output_dropped = stats.output_dropped.saturating_add(1);
            return;
        }
    }
    if out.push_back(o).is_err() {
        stats.output_dropped = stats.output_dropped.saturating_add(1);
    }
}

/// A call record stamped with the box's identity; `seq` is set by the journal.
pub(crate) fn record_call<J: Storage>(
    journal: &mut Journal<J>,
    events: &mut Deque<Event, EVENT_QUEUE_LEN>,
    counters: &mut Counters,
    stats: &mut Stats,
    record: CallRecord,
) {
    match journal.append(record) {
        Ok(seq) => push_event(events, stats, Event::JournalAppended { seq }),
        Err(_) => {
            counters.journal_full_drops = counters.journal_full_drops.saturating_add(1);
            push_event(events, stats, Event::JournalDropped);
        }
    }
}
