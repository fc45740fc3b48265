//! The box's two connections to the cloud on embassy-net, as the Linux box has them
//! (`firmware/linux/src/links.rs`):
//!
//! - the **uplink**: a connection to the cloud's SIP stream port; its bytes go to
//!   [`Gateway::handle_uplink_bytes`], what the core sends there (`Transmit::Uplink`, SIP and
//!   its CRLF keepalives) is written to it, and its loss is reported with
//!   [`Gateway::handle_uplink_closed`];
//! - the **control link**: a connection to the cloud's box link carrying postcard frames of
//!   `carillon_protocol::control`: `Hello` both ways, `Authenticate` with the identity from
//!   flash ([`crate::identity`]), then — once `Authenticated` arrives — every message to
//!   [`Gateway::handle_control`] (the configuration push, acks of bindings and call records,
//!   pings) and the core's `Transmit::Control` messages written as frames.
//!
//! Each link is a future of its own ([`run_link`]), run beside the gateway's loop in the same
//! task ([`crate::lan::run`] joins them): it connects (bounded by [`CONNECT_TIMEOUT`]),
//! performs the TLS handshake when the identity asks for TLS, then reads and writes until the
//! connection breaks, and reconnects after a backoff doubling from [`BACKOFF_MIN`] to
//! [`BACKOFF_MAX`]. It talks to the loop over two channels: what arrives (up, bytes, down)
//! and what to send (whole messages). The loop never waits on a link: a message for a link
//! that is down or whose queue is full is dropped and counted (SIP retransmissions and the
//! core's batch resends recover it), and the link writes every message whole.
//!
//! # TLS (embedded-tls 0.19, `no_std`)
//!
//! With the identity's TLS flag, each connection runs TLS 1.3 (`TLS_AES_128_GCM_SHA256`, key
//! exchange on P-256) and the server is authenticated by embedded-tls's `rustpki` verifier
//! against the certificate pinned in the identity, used as the trust anchor: the server's
//! certificate must be signed by the pinned certificate's key (the pinned certificate itself,
//! self-signed, or the CA that issued the cloud's), its names (SAN or CN) must match the
//! identity's server name, and the server's `CertificateVerify` signature (ECDSA P-256 /
//! SHA-256, or P-384 / Ed25519) must check with its key — so the peer holds the private key.
//! Not verified: the certificate's validity dates (no wall clock on the board: embedded-tls
//! skips them without a `TlsClock`), revocation.
//!
//! **Entropy**: the TLS client's ephemeral keys and random come from ChaCha20 seeded with
//! the board's seed (see the board: on QEMU the MAC address and a free-running counter, not a
//! secret). On a real board the seed must come from its RNG.
//!
//! [`Gateway::handle_uplink_bytes`]: carillon_firmware::mcu::gateway::Gateway::handle_uplink_bytes
//! [`Gateway::handle_uplink_closed`]: carillon_firmware::mcu::gateway::Gateway::handle_uplink_closed
//! [`Gateway::handle_control`]: carillon_firmware::mcu::gateway::Gateway::handle_control

use core::cell::RefCell;
use core::future::{poll_fn, Future};
use core::net::SocketAddrV4;
use core::pin::pin;

use carillon_firmware::mcu::gateway::MAX_SIP_LEN;
use carillon_protocol::control::{
    encode_frame, Authenticate, BoxMessage, CloudMessage, FrameDecoder, Hello, MAX_FRAME_LEN,
};
use embassy_futures::select::select3;
use embassy_net::tcp::TcpSocket;
use embassy_net::{IpAddress, IpEndpoint, Stack};
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embassy_sync::channel::Channel;
use embassy_sync::signal::Signal;
use embassy_time::{with_timeout, Duration, Timer};
use embedded_io_async::{ErrorType, Read, Write};
use embedded_tls::pki::CertVerifier;
use embedded_tls::{Aes128GcmSha256, Certificate, CryptoProvider, NoClock, TlsConfig, TlsConnection, TlsContext};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::identity::Identity;

/// First wait after a failed connection; doubled up to [`BACKOFF_MAX`].
pub const BACKOFF_MIN: Duration = Duration::from_millis(250);
/// Longest wait between two connection attempts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// A connection attempt (TCP, then the TLS handshake) that takes longer is abandoned.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// TCP socket buffers of each link, each direction: a TLS record of [`TLS_WRITE_BUFFER`]
/// fits the send buffer; the receive window is 4 KiB (the cloud sends SIP messages and control
/// frames of at most 2 KiB each).
pub const TCP_BUFFER: usize = 4 * 1024;
/// TLS record buffer for reading: the largest record TLS allows (16 KiB + overhead).
pub const TLS_READ_BUFFER: usize = 16_640;
/// TLS record buffer for writing (larger writes are split into several records).
pub const TLS_WRITE_BUFFER: usize = 4 * 1024;
/// Largest message the loop hands a link to send: a SIP message of the core (at most
/// [`MAX_SIP_LEN`]) or a control frame (at most [`MAX_FRAME_LEN`]).
pub const MAX_OUT: usize = if MAX_SIP_LEN > MAX_FRAME_LEN { MAX_SIP_LEN } else { MAX_FRAME_LEN };
/// Bytes a link hands the loop at a time.
pub const IN_CHUNK: usize = 1024;
/// Messages queued each way between the loop and a link.
pub const QUEUE: usize = 4;
/// Largest certificate chain the server may send (the verifier keeps a copy).
const CERT_CHAIN: usize = 4096;

/// From a link to the loop.
#[derive(Debug)]
// No heap: a queue slot holds a chunk in place, whatever the variant.
#[allow(clippy::large_enum_variant)]
pub enum Inbound {
    /// The connection is up (TLS established if asked for).
    Up,
    /// Bytes of the stream.
    Bytes(heapless::Vec<u8, IN_CHUNK>),
    /// The connection broke or was closed.
    Down,
}

/// The two queues between the loop and one link.
pub struct LinkQueues {
    inbound: Channel<NoopRawMutex, Inbound, QUEUE>,
    outbound: Channel<NoopRawMutex, heapless::Vec<u8, MAX_OUT>, QUEUE>,
    /// The loop asks for the connection to be dropped (its stream's framing broke, or the
    /// session went wrong); the link reconnects.
    reset: Signal<NoopRawMutex, ()>,
}

impl LinkQueues {
    const fn new() -> Self {
        LinkQueues { inbound: Channel::new(), outbound: Channel::new(), reset: Signal::new() }
    }
}

/// One link's buffers.
pub struct LinkIo {
    tcp_rx: [u8; TCP_BUFFER],
    tcp_tx: [u8; TCP_BUFFER],
    tls_rx: [u8; TLS_READ_BUFFER],
    tls_tx: [u8; TLS_WRITE_BUFFER],
    queues: LinkQueues,
}

impl LinkIo {
    const fn new() -> Self {
        LinkIo {
            tcp_rx: [0; TCP_BUFFER],
            tcp_tx: [0; TCP_BUFFER],
            tls_rx: [0; TLS_READ_BUFFER],
            tls_tx: [0; TLS_WRITE_BUFFER],
            queues: LinkQueues::new(),
        }
    }
}

/// The links' buffers (keep them in a `static`: about 85 KiB).
pub struct LinkBuffers {
    up: LinkIo,
    ctl: LinkIo,
    frame: [u8; MAX_FRAME_LEN],
    decoder: FrameDecoder,
}

impl LinkBuffers {
    /// Empty buffers.
    pub const fn new() -> Self {
        LinkBuffers { up: LinkIo::new(), ctl: LinkIo::new(), frame: [0; MAX_FRAME_LEN], decoder: FrameDecoder::new() }
    }
}

impl Default for LinkBuffers {
    fn default() -> Self {
        Self::new()
    }
}

/// What a link counted (on the loop's side).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Connections made.
    pub connects: u32,
    /// Connections lost or closed.
    pub losses: u32,
    /// Messages dropped: link down, not authenticated, queue full, or too long.
    pub dropped: u32,
    /// Control frames that did not decode (skipped).
    pub bad_frames: u32,
}

/// Where the control session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Session {
    /// Down, or our `Hello` is sent and the cloud's awaited.
    Hello,
    /// `Authenticate` is sent.
    Authenticating,
    /// Authenticated: messages flow.
    Ready,
}

/// The loop's side of one link.
pub(crate) struct LinkEnd<'a> {
    pub(crate) queues: &'a LinkQueues,
    up: bool,
    pub(crate) stats: LinkStats,
}

impl<'a> LinkEnd<'a> {
    /// The next message from the link; cancel-safe.
    pub(crate) async fn next(&self) -> Inbound {
        self.queues.inbound.receive().await
    }

    /// Queues `bytes` whole for sending; `false` (counted) if the link is down, its queue full
    /// or the message too long.
    fn send(&mut self, bytes: &[u8]) -> bool {
        let ok = self.up && heapless::Vec::from_slice(bytes).is_ok_and(|v| self.queues.outbound.try_send(v).is_ok());
        if !ok {
            self.stats.dropped = self.stats.dropped.saturating_add(1);
        }
        ok
    }

    /// Drops the connection (the link reconnects after its backoff).
    pub(crate) fn reset(&self) {
        self.queues.reset.signal(());
    }

    fn set_up(&mut self, up: bool) {
        if up {
            self.stats.connects = self.stats.connects.saturating_add(1);
        } else if self.up {
            self.stats.losses = self.stats.losses.saturating_add(1);
        }
        self.up = up;
    }
}

/// What the loop keeps of the links of a box with an identity: its ends of both queues and
/// the control session.
pub struct Links<'a> {
    pub(crate) uplink: LinkEnd<'a>,
    pub(crate) control: LinkEnd<'a>,
    session: Session,
    frame: &'a mut [u8; MAX_FRAME_LEN],
    decoder: &'a mut FrameDecoder,
    identity: &'a Identity,
}

/// The two link futures; run them beside the loop (see [`crate::lan::run`]).
pub struct LinkRunners<'a> {
    pub(crate) uplink: LinkRunner<'a>,
    pub(crate) control: LinkRunner<'a>,
}

/// One link's connection side.
pub(crate) struct LinkRunner<'a> {
    stack: Stack<'a>,
    identity: &'a Identity,
    remote: SocketAddrV4,
    tcp_rx: &'a mut [u8; TCP_BUFFER],
    tcp_tx: &'a mut [u8; TCP_BUFFER],
    tls_rx: &'a mut [u8; TLS_READ_BUFFER],
    tls_tx: &'a mut [u8; TLS_WRITE_BUFFER],
    queues: &'a LinkQueues,
    rng: ChaCha20Rng,
    name: &'static str,
}

/// The links of `identity` on `stack`: the loop's side and the connection side. `seed` seeds
/// the TLS client's random (see the module docs on entropy).
pub fn links<'a>(
    stack: Stack<'a>,
    identity: &'a Identity,
    bufs: &'a mut LinkBuffers,
    seed: u64,
) -> (Links<'a>, LinkRunners<'a>) {
    let LinkBuffers { up, ctl, frame, decoder } = bufs;
    let runner = |io: &'a mut LinkIo, remote, name, salt: u64| {
        let LinkIo { tcp_rx, tcp_tx, tls_rx, tls_tx, queues } = io;
        let queues: &'a LinkQueues = queues;
        let r = LinkRunner {
            stack,
            identity,
            remote,
            tcp_rx,
            tcp_tx,
            tls_rx,
            tls_tx,
            queues,
            rng: ChaCha20Rng::seed_from_u64(seed ^ salt),
            name,
        };
        (LinkEnd { queues, up: false, stats: LinkStats::default() }, r)
    };
    let (up_end, up_run) = runner(up, identity.sip, "uplink", 0x5550);
    let (ctl_end, ctl_run) = runner(ctl, identity.control, "control link", 0xC7C7);
    (
        Links { uplink: up_end, control: ctl_end, session: Session::Hello, frame, decoder, identity },
        LinkRunners { uplink: up_run, control: ctl_run },
    )
}

impl LinkRunners<'_> {
    /// Runs both links forever.
    pub(crate) async fn run(&mut self) -> ! {
        let LinkRunners { uplink, control } = self;
        let _ = embassy_futures::join::join(uplink.run(), control.run()).await;
        loop {
            Timer::after(Duration::from_secs(3600)).await;
        }
    }
}

/// The TLS client's crypto: the random, and the verifier of the server against the pinned
/// certificate.
struct Provider<'a> {
    rng: &'a mut ChaCha20Rng,
    verifier: CertVerifier<'a, Aes128GcmSha256, NoClock, CERT_CHAIN>,
}

impl CryptoProvider for Provider<'_> {
    type CipherSuite = Aes128GcmSha256;
    type Signature = &'static [u8];

    fn rng(&mut self) -> impl embedded_tls::CryptoRngCore {
        &mut *self.rng
    }

    fn verifier(&mut self) -> Result<&mut impl embedded_tls::TlsVerifier<Self::CipherSuite>, embedded_tls::TlsError> {
        Ok(&mut self.verifier)
    }
}

/// A TCP socket shared by the TLS reader and writer halves (`TlsConnection::split` wants a
/// `Clone` transport): each call borrows it only for one poll.
#[derive(Clone, Copy)]
struct Shared<'s, 'a>(&'s RefCell<TcpSocket<'a>>);

impl ErrorType for Shared<'_, '_> {
    type Error = embassy_net::tcp::Error;
}

impl Read for Shared<'_, '_> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        poll_fn(|cx| {
            let mut s = self.0.borrow_mut();
            let f = pin!(s.read(&mut *buf));
            f.poll(cx)
        })
        .await
    }
}

impl Write for Shared<'_, '_> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        poll_fn(|cx| {
            let mut s = self.0.borrow_mut();
            let f = pin!(s.write(buf));
            f.poll(cx)
        })
        .await
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        poll_fn(|cx| {
            let mut s = self.0.borrow_mut();
            let f = pin!(s.flush());
            f.poll(cx)
        })
        .await
    }
}

/// Reads until the stream ends, handing the bytes to the loop.
async fn read_loop(rd: &mut impl Read, queues: &LinkQueues) {
    let mut buf = [0u8; IN_CHUNK];
    loop {
        match rd.read(&mut buf).await {
            Ok(n) if n > 0 => {
                let bytes = heapless::Vec::from_slice(buf.get(..n).unwrap_or(&[])).unwrap_or_default();
                queues.inbound.send(Inbound::Bytes(bytes)).await;
            }
            _ => return,
        }
    }
}

/// Writes what the loop queues, each message whole, until a write fails.
async fn write_loop(wr: &mut impl Write, queues: &LinkQueues) {
    loop {
        let msg = queues.outbound.receive().await;
        if wr.write_all(&msg).await.is_err() || wr.flush().await.is_err() {
            return;
        }
    }
}

impl LinkRunner<'_> {
    async fn run(&mut self) -> ! {
        let mut backoff = BACKOFF_MIN;
        loop {
            let started = embassy_time::Instant::now();
            if self.connection().await {
                self.queues.inbound.send(Inbound::Down).await;
            }
            // A connection that lasted is followed by a quick retry; one that failed, or was
            // closed at once (the cloud refusing the box), by a longer and longer wait.
            backoff = if started.elapsed() > BACKOFF_MAX * 2 { BACKOFF_MIN } else { (backoff * 2).min(BACKOFF_MAX) };
            Timer::after(backoff).await;
        }
    }

    /// One connection, from connecting to its loss; `false` if it never came up.
    async fn connection(&mut self) -> bool {
        let remote = IpEndpoint::new(IpAddress::Ipv4(*self.remote.ip()), self.remote.port());
        let mut socket = TcpSocket::new(self.stack, &mut self.tcp_rx[..], &mut self.tcp_tx[..]);
        socket.set_nagle_enabled(false);
        match with_timeout(CONNECT_TIMEOUT, socket.connect(remote)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                log::warn!("{}: cannot connect to {remote}: {e:?}", self.name);
                return false;
            }
            Err(_) => {
                log::warn!("{}: no connection to {remote} in {}s", self.name, CONNECT_TIMEOUT.as_secs());
                socket.abort();
                return false;
            }
        }
        // What was queued for an earlier connection belongs to it.
        while self.queues.outbound.try_receive().is_ok() {}
        self.queues.reset.reset();
        if !self.identity.tls {
            log::info!("{}: connected to {remote} (plain TCP)", self.name);
            self.queues.inbound.send(Inbound::Up).await;
            let (mut rd, mut wr) = socket.split();
            let q = self.queues;
            let _ = select3(read_loop(&mut rd, q), write_loop(&mut wr, q), q.reset.wait()).await;
            socket.abort();
            log::warn!("{}: connection to {remote} lost", self.name);
            return true;
        }
        let cell = RefCell::new(socket);
        let mut tls = TlsConnection::new(Shared(&cell), &mut self.tls_rx[..], &mut self.tls_tx[..]);
        let config = TlsConfig::new().with_server_name(self.identity.server_name.as_str());
        let provider =
            Provider { rng: &mut self.rng, verifier: CertVerifier::new(Certificate::X509(&self.identity.cert[..])) };
        match with_timeout(CONNECT_TIMEOUT, tls.open(TlsContext::new(&config, provider))).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                log::warn!("{}: TLS handshake with {remote} failed: {e:?}", self.name);
                cell.borrow_mut().abort();
                return false;
            }
            Err(_) => {
                log::warn!("{}: no TLS handshake with {remote} in {}s", self.name, CONNECT_TIMEOUT.as_secs());
                cell.borrow_mut().abort();
                return false;
            }
        }
        log::info!("{}: connected to {remote} (TLS, server verified)", self.name);
        self.queues.inbound.send(Inbound::Up).await;
        {
            let (mut rd, mut wr) = tls.split();
            let q = self.queues;
            let _ = select3(read_loop(&mut rd, q), write_loop(&mut wr, q), q.reset.wait()).await;
        }
        cell.borrow_mut().abort();
        log::warn!("{}: connection to {remote} lost", self.name);
        true
    }
}

impl<'a> Links<'a> {
    /// The uplink came up or went down.
    pub(crate) fn uplink_state(&mut self, up: bool) {
        self.uplink.set_up(up);
    }

    /// The control link came up: say `Hello`.
    pub(crate) fn control_up(&mut self) {
        self.control.set_up(true);
        self.session = Session::Hello;
        *self.decoder = FrameDecoder::new();
        let _ = send_frame(&mut self.control, self.frame, &BoxMessage::Hello(Hello::current()));
    }

    /// The control link went down.
    pub(crate) fn control_down(&mut self) {
        self.control.set_up(false);
        self.session = Session::Hello;
    }

    /// A control message of the core, sent if the session is authenticated.
    pub(crate) fn send_control(&mut self, msg: &BoxMessage) -> bool {
        if self.session != Session::Ready {
            self.control.stats.dropped = self.control.stats.dropped.saturating_add(1);
            return false;
        }
        send_frame(&mut self.control, self.frame, msg)
    }

    /// Bytes of the SIP stream for the cloud.
    pub(crate) fn send_uplink(&mut self, bytes: &[u8]) -> bool {
        self.uplink.send(bytes)
    }

    /// What each link counted: (uplink, control link).
    pub fn stats(&self) -> (LinkStats, LinkStats) {
        (self.uplink.stats, self.control.stats)
    }

    /// Feeds bytes read on the control link; every message of an authenticated session is
    /// handed to `deliver`. `config_version` is the version the box runs (for `Authenticate`).
    pub(crate) fn control_bytes(
        &mut self,
        bytes: &[u8],
        config_version: Option<u32>,
        mut deliver: impl FnMut(CloudMessage),
    ) {
        let Links { control, session, frame, decoder, identity, .. } = self;
        let mut input: &[u8] = bytes;
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
                        // The cloud closes the session; the link reconnects after its backoff.
                        log::error!("control: no common protocol version: {e:?}");
                        control.reset();
                        return;
                    }
                    let auth = BoxMessage::Authenticate(Authenticate {
                        box_id: identity.box_id,
                        credential: identity.credential.clone(),
                        firmware: carillon_firmware::FIRMWARE_VERSION,
                        config_version,
                    });
                    if send_frame(control, frame, &auth) {
                        *session = Session::Authenticating;
                    }
                }
                (Session::Authenticating, CloudMessage::Authenticated(a)) => {
                    log::info!("control link authenticated (cloud holds records up to {})", a.records_stored_up_to);
                    *session = Session::Ready;
                    deliver(CloudMessage::Authenticated(a));
                }
                (Session::Authenticating, CloudMessage::AuthRejected(r)) => {
                    // The cloud closes the connection after saying why.
                    log::error!("control: authentication refused: {r:?}");
                    control.reset();
                    return;
                }
                (Session::Ready, m) => deliver(m),
                (_, other) => {
                    log::warn!("control: unexpected {} in session step {:?}", message_name(&other), session);
                    control.reset();
                    return;
                }
            }
        }
    }
}

/// Queues `msg` as one frame on the control link, whole or not at all.
fn send_frame(link: &mut LinkEnd<'_>, frame: &mut [u8; MAX_FRAME_LEN], msg: &BoxMessage) -> bool {
    match encode_frame(msg, &mut frame[..]) {
        Ok(n) => link.send(frame.get(..n).unwrap_or(&[])),
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
