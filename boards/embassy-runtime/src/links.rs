//! The box's two connections to the cloud on embassy-net, as the Linux box has them
//! (`firmware/linux/src/links.rs`), driven from the one loop that owns the gateway
//! ([`crate::lan::run`]):
//!
//! - the **uplink**: a TCP connection to the cloud's SIP stream port; its bytes go to
//!   [`Gateway::handle_uplink_bytes`], what the core sends there (`Transmit::Uplink`, SIP and
//!   its CRLF keepalives) is written to it, and its loss is reported with
//!   [`Gateway::handle_uplink_closed`];
//! - the **control link**: a TCP connection to the cloud's box link carrying postcard frames
//!   of `carillon_protocol::control`: `Hello` both ways, `Authenticate` with the identity from
//!   flash ([`crate::identity`]), then — once `Authenticated` arrives — every message to
//!   [`Gateway::handle_control`] (the configuration push, acks of bindings and call records,
//!   pings) and the core's `Transmit::Control` messages written as frames.
//!
//! **Plain TCP only, so far**: the identity's TLS flag is refused (the board logs it and
//! serves in survival). TLS with embedded-tls is the next step (see the boards' README).
//!
//! Each link is a small state machine — idle until its retry time, connecting (bounded by
//! [`CONNECT_TIMEOUT`]), up — so that the loop never blocks on the network: a connection
//! attempt started with one poll of `connect` is then watched for its outcome. A failed or
//! lost connection is retried after a backoff doubling from [`BACKOFF_MIN`] to
//! [`BACKOFF_MAX`]. Writes never wait: a message is written whole if the socket's buffer has
//! room for it, and dropped and counted otherwise (SIP retransmissions and the core's batch
//! resends recover it), so a frame or a SIP message is never cut in the middle.
//!
//! [`Gateway::handle_uplink_bytes`]: carillon_firmware::gateway::Gateway::handle_uplink_bytes
//! [`Gateway::handle_uplink_closed`]: carillon_firmware::gateway::Gateway::handle_uplink_closed
//! [`Gateway::handle_control`]: carillon_firmware::gateway::Gateway::handle_control

use core::task::Poll;

use carillon_protocol::control::{
    encode_frame, Authenticate, BoxMessage, CloudMessage, FrameDecoder, Hello, MAX_FRAME_LEN,
};
use embassy_futures::poll_once;
use embassy_futures::select::select;
use embassy_net::tcp::{State, TcpSocket};
use embassy_net::{IpAddress, IpEndpoint, Stack};
use embassy_time::{Duration, Instant, Timer};

use crate::identity::Identity;

/// First wait after a failed connection; doubled up to [`BACKOFF_MAX`].
pub const BACKOFF_MIN: Duration = Duration::from_millis(250);
/// Longest wait between two connection attempts (and after a refused authentication).
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// A connection attempt that takes longer is abandoned.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a connection attempt's state is looked at while it is under way.
const CONNECT_POLL: Duration = Duration::from_millis(50);
/// Socket buffers of each link, each direction.
pub const LINK_BUFFER: usize = 8 * 1024;
/// Bytes taken from a socket per read.
const READ_CHUNK: usize = 2048;

/// The links' buffers (keep them in a `static`: about 40 KiB).
pub struct LinkBuffers {
    up_rx: [u8; LINK_BUFFER],
    up_tx: [u8; LINK_BUFFER],
    ctl_rx: [u8; LINK_BUFFER],
    ctl_tx: [u8; LINK_BUFFER],
    pub(crate) up_read: [u8; READ_CHUNK],
    pub(crate) ctl_read: [u8; READ_CHUNK],
    frame: [u8; MAX_FRAME_LEN],
    decoder: FrameDecoder,
}

impl LinkBuffers {
    /// Empty buffers.
    pub const fn new() -> Self {
        LinkBuffers {
            up_rx: [0; LINK_BUFFER],
            up_tx: [0; LINK_BUFFER],
            ctl_rx: [0; LINK_BUFFER],
            ctl_tx: [0; LINK_BUFFER],
            up_read: [0; READ_CHUNK],
            ctl_read: [0; READ_CHUNK],
            frame: [0; MAX_FRAME_LEN],
            decoder: FrameDecoder::new(),
        }
    }
}

impl Default for LinkBuffers {
    fn default() -> Self {
        Self::new()
    }
}

/// What a link counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Connections made.
    pub connects: u32,
    /// Connection attempts that failed or timed out.
    pub connect_failures: u32,
    /// Connections lost or closed by the cloud.
    pub losses: u32,
    /// Messages dropped: link down, not authenticated, or no room in the socket's buffer.
    pub dropped: u32,
    /// Control frames that did not decode (skipped).
    pub bad_frames: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkState {
    Idle { retry_at: Instant },
    Connecting { give_up: Instant },
    Up,
}

/// What happened on a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkEvent {
    /// Nothing the loop must act on (a state step).
    Nothing,
    /// The connection is established.
    Up,
    /// `n` bytes were read into the link's read buffer.
    Bytes(usize),
    /// The connection was lost or closed.
    Down,
}

/// One TCP connection to the cloud, reconnected with backoff.
pub(crate) struct Link<'a> {
    socket: TcpSocket<'a>,
    remote: IpEndpoint,
    state: LinkState,
    backoff: Duration,
    name: &'static str,
    /// What was counted.
    pub stats: LinkStats,
}

impl<'a> Link<'a> {
    fn new(
        stack: Stack<'a>,
        rx: &'a mut [u8],
        tx: &'a mut [u8],
        remote: core::net::SocketAddrV4,
        name: &'static str,
    ) -> Self {
        let mut socket = TcpSocket::new(stack, rx, tx);
        socket.set_nagle_enabled(false);
        Link {
            socket,
            remote: IpEndpoint::new(IpAddress::Ipv4(*remote.ip()), remote.port()),
            state: LinkState::Idle { retry_at: Instant::now() },
            backoff: BACKOFF_MIN,
            name,
            stats: LinkStats::default(),
        }
    }

    pub(crate) fn is_up(&self) -> bool {
        self.state == LinkState::Up
    }

    /// Waits for the link's next event; cancel-safe (every await only watches the socket or
    /// a timer).
    pub(crate) async fn next(&mut self, buf: &mut [u8]) -> LinkEvent {
        match self.state {
            LinkState::Idle { retry_at } => {
                Timer::at(retry_at).await;
                self.socket.abort();
                // One poll sends the SYN; the outcome is watched in `Connecting`.
                match poll_once(self.socket.connect(self.remote)) {
                    Poll::Ready(Ok(())) => return self.established(),
                    Poll::Ready(Err(e)) => {
                        log::warn!("{}: cannot connect to {}: {e:?}", self.name, self.remote);
                        self.failed();
                    }
                    Poll::Pending => self.state = LinkState::Connecting { give_up: Instant::now() + CONNECT_TIMEOUT },
                }
                LinkEvent::Nothing
            }
            LinkState::Connecting { give_up } => {
                let _ = select(self.socket.wait_write_ready(), Timer::after(CONNECT_POLL)).await;
                match self.socket.state() {
                    State::SynSent | State::SynReceived if Instant::now() < give_up => LinkEvent::Nothing,
                    State::SynSent | State::SynReceived | State::Closed | State::TimeWait => {
                        log::warn!("{}: no connection to {}", self.name, self.remote);
                        self.failed();
                        LinkEvent::Nothing
                    }
                    _ => self.established(),
                }
            }
            LinkState::Up => match self.socket.read(buf).await {
                Ok(n) if n > 0 => LinkEvent::Bytes(n),
                _ => {
                    log::warn!("{}: connection to {} lost", self.name, self.remote);
                    self.stats.losses = self.stats.losses.saturating_add(1);
                    self.drop_connection(BACKOFF_MIN);
                    LinkEvent::Down
                }
            },
        }
    }

    fn established(&mut self) -> LinkEvent {
        log::info!("{}: connected to {}", self.name, self.remote);
        self.stats.connects = self.stats.connects.saturating_add(1);
        self.backoff = BACKOFF_MIN;
        self.state = LinkState::Up;
        LinkEvent::Up
    }

    fn failed(&mut self) {
        self.stats.connect_failures = self.stats.connect_failures.saturating_add(1);
        let wait = self.backoff;
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        self.drop_connection(wait);
    }

    /// Aborts the connection (RST) and retries after `wait`.
    pub(crate) fn drop_connection(&mut self, wait: Duration) {
        self.socket.abort();
        self.state = LinkState::Idle { retry_at: Instant::now() + wait };
    }

    /// Writes `bytes` whole, or nothing: `false` if the link is down or its buffer has no room.
    pub(crate) fn write_whole(&mut self, bytes: &[u8]) -> bool {
        if !self.is_up() || self.socket.send_capacity() - self.socket.send_queue() < bytes.len() {
            return false;
        }
        match poll_once(self.socket.write(bytes)) {
            Poll::Ready(Ok(n)) if n == bytes.len() => true,
            _ => {
                // Part of a message went out: the stream's framing is broken, start again.
                log::warn!("{}: short write; reconnecting", self.name);
                self.drop_connection(BACKOFF_MIN);
                false
            }
        }
    }
}

/// Where the control session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Session {
    /// Our `Hello` is sent; the cloud's is awaited.
    Hello,
    /// `Authenticate` is sent.
    Authenticating,
    /// Authenticated: messages flow.
    Ready,
}

/// The uplink and the control link of a box with an identity.
pub struct Links<'a> {
    pub(crate) uplink: Link<'a>,
    pub(crate) control: Link<'a>,
    session: Session,
    frame: &'a mut [u8; MAX_FRAME_LEN],
    decoder: &'a mut FrameDecoder,
    identity: &'a Identity,
    pub(crate) up_read: &'a mut [u8; READ_CHUNK],
    pub(crate) ctl_read: &'a mut [u8; READ_CHUNK],
}

impl<'a> Links<'a> {
    /// The links of `identity` on `stack`; they connect once the loop runs.
    pub fn new(stack: Stack<'a>, identity: &'a Identity, bufs: &'a mut LinkBuffers) -> Self {
        let LinkBuffers { up_rx, up_tx, ctl_rx, ctl_tx, up_read, ctl_read, frame, decoder } = bufs;
        Links {
            uplink: Link::new(stack, up_rx, up_tx, identity.sip, "uplink"),
            control: Link::new(stack, ctl_rx, ctl_tx, identity.control, "control link"),
            session: Session::Hello,
            frame,
            decoder,
            identity,
            up_read,
            ctl_read,
        }
    }

    /// The control link came up: say `Hello`.
    pub(crate) fn control_up(&mut self) {
        self.session = Session::Hello;
        *self.decoder = FrameDecoder::new();
        if !self.send_frame(&BoxMessage::Hello(Hello::current())) {
            self.control.drop_connection(BACKOFF_MIN);
        }
    }

    /// The control link went down.
    pub(crate) fn control_down(&mut self) {
        self.session = Session::Hello;
    }

    /// A control message for the core, if one may be sent now.
    pub(crate) fn send_control(&mut self, msg: &BoxMessage) -> bool {
        let sent = self.session == Session::Ready && self.send_frame(msg);
        if !sent {
            self.control.stats.dropped = self.control.stats.dropped.saturating_add(1);
        }
        sent
    }

    /// Bytes of the SIP stream for the cloud.
    pub(crate) fn send_uplink(&mut self, bytes: &[u8]) -> bool {
        let sent = self.uplink.write_whole(bytes);
        if !sent {
            self.uplink.stats.dropped = self.uplink.stats.dropped.saturating_add(1);
        }
        sent
    }

    /// What each link counted: (uplink, control link).
    pub fn stats(&self) -> (LinkStats, LinkStats) {
        (self.uplink.stats, self.control.stats)
    }

    fn send_frame(&mut self, msg: &BoxMessage) -> bool {
        send_frame(&mut self.control, self.frame, msg)
    }

    /// Feeds `n` bytes read on the control link; every message of an authenticated session is
    /// handed to `deliver`. `config_version` is the version the box runs (for `Authenticate`).
    pub(crate) fn control_bytes(
        &mut self,
        n: usize,
        config_version: Option<u32>,
        mut deliver: impl FnMut(CloudMessage),
    ) {
        let Links { control, session, frame, decoder, identity, ctl_read, .. } = self;
        let mut input: &[u8] = ctl_read.get(..n).unwrap_or(&[]);
        while let Some(r) = decoder.decode::<CloudMessage>(&mut input) {
            let msg = match r {
                Ok(m) => m,
                Err(e) => {
                    control.stats.bad_frames = control.stats.bad_frames.saturating_add(1);
                    log::warn!("control: frame rejected: {e:?}");
                    continue;
                }
            };
            match (*session, msg) {
                (Session::Hello, CloudMessage::Hello(peer)) => {
                    if let Err(e) = Hello::current().negotiate(&peer) {
                        log::error!("control: no common protocol version: {e:?}");
                        control.drop_connection(BACKOFF_MAX);
                        return;
                    }
                    let auth = BoxMessage::Authenticate(Authenticate {
                        box_id: identity.box_id,
                        credential: identity.credential.clone(),
                        firmware: carillon_firmware::FIRMWARE_VERSION,
                        config_version,
                    });
                    if !send_frame(control, frame, &auth) {
                        control.drop_connection(BACKOFF_MIN);
                        return;
                    }
                    *session = Session::Authenticating;
                }
                (Session::Authenticating, CloudMessage::Authenticated(a)) => {
                    log::info!("control link authenticated (cloud holds records up to {})", a.records_stored_up_to);
                    *session = Session::Ready;
                    deliver(CloudMessage::Authenticated(a));
                }
                (Session::Authenticating, CloudMessage::AuthRejected(r)) => {
                    log::error!("control: authentication refused: {r:?}");
                    control.drop_connection(BACKOFF_MAX);
                    return;
                }
                (Session::Ready, m) => deliver(m),
                (_, other) => {
                    log::warn!("control: unexpected {:?} in session step {:?}", message_name(&other), session);
                    control.drop_connection(BACKOFF_MIN);
                    return;
                }
            }
        }
    }
}

/// Writes `msg` as one frame on `link`, whole or not at all.
fn send_frame(link: &mut Link<'_>, frame: &mut [u8; MAX_FRAME_LEN], msg: &BoxMessage) -> bool {
    match encode_frame(msg, &mut frame[..]) {
        Ok(n) => link.write_whole(frame.get(..n).unwrap_or(&[])),
        Err(e) => {
            log::error!("control message does not encode: {e:?}");
            false
        }
    }
}

fn message_name(m: &CloudMessage) -> &'static str {
    match m {
        CloudMessage::Hello(_) => "Hello",
        CloudMessage::Authenticated(_) => "Authenticated",
        CloudMessage::AuthRejected(_) => "AuthRejected",
        CloudMessage::Goodbye(_) => "Goodbye",
        _ => "another message",
    }
}
