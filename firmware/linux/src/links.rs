//! The two connections the box opens to the cloud, each a task that reconnects with backoff
//! and talks to the run loop over channels:
//!
//! - the **uplink**: the SIP stream (RFC 3261 §18.3 framing, RFC 5626 CRLF keepalives), bytes
//!   in both directions, fed to [`Gateway::handle_uplink_bytes`]; a broken connection is
//!   reported so that the loop calls [`Gateway::handle_uplink_closed`];
//! - the **control link**: postcard frames ([`encode_frame`], [`FrameDecoder`]). Each
//!   connection starts with the session of `carillon_protocol::control`: `Hello` both ways,
//!   then `Enroll` (first start: the identity received is stored in the state directory before
//!   it is used, and the box reconnects to authenticate with it) or `Authenticate`. Only once
//!   `Authenticated` arrives are messages passed to [`Gateway::handle_control`].
//!
//! [`Gateway::handle_uplink_bytes`]: carillon_firmware::gateway::Gateway::handle_uplink_bytes
//! [`Gateway::handle_uplink_closed`]: carillon_firmware::gateway::Gateway::handle_uplink_closed
//! [`Gateway::handle_control`]: carillon_firmware::gateway::Gateway::handle_control

use std::net::SocketAddr;
use std::time::Duration;

use carillon_protocol::control::{
    encode_frame, Authenticate, BoxCredential, BoxId, BoxMessage, CloudMessage, EnrollRequest, EnrollmentToken,
    FrameDecoder, FrameError, Goodbye, GoodbyeReason, Hello, MAX_FRAME_LEN,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

use crate::config::Identity;
use crate::state::StateDir;
use crate::tls::{Connector, Stream};

// Reconnection timing. The target (issue 3/5): after an outage the cloud reaches every phone
// within 5 s of the WAN's return, also when the box restarted during the outage. An attempt
// is a TCP connect bounded by [`CONNECT_TIMEOUT`] (a SYN lost in the dead link is retried by
// the kernel after 1 s, so an attempt sees the link return in its first second or ends), then
// a wait of at most [`BACKOFF_MAX`] +25 %: the worst return is just after a retried SYN was
// lost, and the next SYN follows at most ~1 s + 1.9 s later, leaving two seconds for TLS,
// authentication and the bindings hand-back.
// Bounded load: a box that cannot reach the cloud tries each of its two links at most about
// once every 1.1–3.9 s (a SYN, no TLS until the cloud answers), so 500 boxes of a cloud
// that is down send at most ~900 SYNs/s; when it returns the jitter spreads their ~1000
// TLS handshakes over ~2 s. A refusal by the cloud (authentication) is no outage and waits
// [`REFUSED_WAIT`].

/// First wait after a failed connection; doubled up to [`BACKOFF_MAX`], with jitter.
pub const BACKOFF_MIN: Duration = Duration::from_millis(250);
/// Longest wait between two connection attempts (before ±25 % jitter).
pub const BACKOFF_MAX: Duration = Duration::from_millis(1500);
/// A TCP connect that has not completed after this long is abandoned (and tried again after
/// the backoff), rather than left to the kernel's SYN retries, which space out to minutes.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Wait after the cloud refused the box's credentials (a configuration problem, not an
/// outage: retrying faster would only load the cloud).
pub const REFUSED_WAIT: Duration = Duration::from_secs(10);
/// A connection attempt or a session step that takes longer is abandoned.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// Exponential backoff with ±25 % jitter.
#[derive(Debug)]
struct Backoff(Duration);

impl Backoff {
    fn new() -> Backoff {
        Backoff(BACKOFF_MIN)
    }

    fn next(&mut self) -> Duration {
        let d = self.0;
        self.0 = (self.0 * 2).min(BACKOFF_MAX);
        let jitter = rand::random_range(0.75..1.25);
        d.mul_f64(jitter)
    }
}

/// Waits `d` while discarding what the loop wants sent (there is no connection to send it
/// on); `false` when the loop has gone away.
async fn idle<T>(d: Duration, cmds: &mut mpsc::Receiver<T>) -> bool {
    let sleep = tokio::time::sleep(d);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            _ = &mut sleep => return true,
            c = cmds.recv() => if c.is_none() { return false },
        }
    }
}

// --- Uplink -----------------------------------------------------------------------------------

/// From the uplink task to the loop.
#[derive(Debug)]
pub enum UplinkEvent {
    /// A connection is up (TLS established).
    Up,
    /// Bytes of the SIP stream.
    Bytes(Vec<u8>),
    /// The connection broke or was closed.
    Down,
}

/// From the loop to the uplink task.
#[derive(Debug)]
pub enum UplinkCmd {
    /// Bytes for the SIP stream.
    Send(Vec<u8>),
    /// Drop the connection and open a new one (the stream's framing broke).
    Reconnect,
}

/// The uplink task: runs until the loop drops its command sender.
pub async fn run_uplink(
    connector: Connector,
    addr: SocketAddr,
    events: mpsc::Sender<UplinkEvent>,
    mut cmds: mpsc::Receiver<UplinkCmd>,
) {
    let mut backoff = Backoff::new();
    loop {
        let stream = match tokio::time::timeout(STEP_TIMEOUT, connector.connect(addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "uplink: cannot connect");
                if !idle(backoff.next(), &mut cmds).await {
                    return;
                }
                continue;
            }
            Err(_) => {
                tracing::debug!("uplink: connection attempt timed out");
                if !idle(backoff.next(), &mut cmds).await {
                    return;
                }
                continue;
            }
        };
        backoff = Backoff::new();
        // What was queued for the old connection belongs to it.
        while cmds.try_recv().is_ok() {}
        tracing::info!("uplink connected");
        if events.send(UplinkEvent::Up).await.is_err() {
            return;
        }
        let (mut rd, mut wr) = tokio::io::split(stream);
        let mut buf = vec![0u8; 16 * 1024];
        let closed_by_loop = loop {
            tokio::select! {
                r = rd.read(&mut buf) => match r {
                    Ok(0) | Err(_) => break false,
                    Ok(n) => {
                        let Some(bytes) = buf.get(..n) else { break false };
                        if events.send(UplinkEvent::Bytes(bytes.to_vec())).await.is_err() {
                            break true;
                        }
                    }
                },
                c = cmds.recv() => match c {
                    None => break true,
                    Some(UplinkCmd::Send(b)) => if wr.write_all(&b).await.is_err() { break false },
                    Some(UplinkCmd::Reconnect) => break false,
                },
            }
        };
        if closed_by_loop {
            // Orderly close: TLS close_notify, then FIN.
            let _ = tokio::time::timeout(Duration::from_secs(2), wr.shutdown()).await;
            return;
        }
        tracing::warn!("uplink connection lost");
        if events.send(UplinkEvent::Down).await.is_err() {
            return;
        }
        if !idle(backoff.next(), &mut cmds).await {
            return;
        }
    }
}

// --- Control link -----------------------------------------------------------------------------

/// From the control task to the loop.
#[derive(Debug)]
pub enum ControlEvent {
    /// Enrollment succeeded and the identity is stored; the loop restarts the core with it.
    Enrolled {
        /// The id assigned.
        box_id: u64,
    },
    /// A message of an authenticated session (the first is `Authenticated`); boxed, as a
    /// control message is a few KiB.
    Message(Box<CloudMessage>),
    /// The session ended.
    Down,
}

/// What the control task needs.
#[derive(Debug)]
pub struct ControlSetup {
    /// How to connect.
    pub connector: Connector,
    /// Where.
    pub addr: SocketAddr,
    /// Who the box is now.
    pub identity: Identity,
    /// Where an enrolled identity is stored.
    pub state: StateDir,
    /// The configuration version in force (sent in `Authenticate`).
    pub config_version: watch::Receiver<Option<u32>>,
}

/// Frames from a byte stream.
struct FrameReader<R> {
    rd: R,
    decoder: Box<FrameDecoder>,
    pending: Vec<u8>,
    buf: Vec<u8>,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    fn new(rd: R) -> Self {
        FrameReader { rd, decoder: Box::new(FrameDecoder::new()), pending: Vec::new(), buf: vec![0u8; 8192] }
    }

    /// The next frame; `None` at the end of the stream. Cancel-safe: the only await is a read,
    /// and what it returned is stored before anything else can be cancelled.
    async fn next(&mut self) -> std::io::Result<Option<Result<CloudMessage, FrameError>>> {
        loop {
            let mut input: &[u8] = &self.pending;
            if let Some(r) = self.decoder.decode::<CloudMessage>(&mut input) {
                let used = self.pending.len() - input.len();
                self.pending.drain(..used);
                return Ok(Some(r));
            }
            self.pending.clear();
            let n = self.rd.read(&mut self.buf).await?;
            if n == 0 {
                return Ok(None);
            }
            self.pending.extend_from_slice(self.buf.get(..n).unwrap_or(&[]));
        }
    }

    /// The next well-formed message within [`STEP_TIMEOUT`].
    async fn expect(&mut self) -> Result<CloudMessage, String> {
        loop {
            match tokio::time::timeout(STEP_TIMEOUT, self.next()).await {
                Err(_) => return Err("no answer in time".into()),
                Ok(Err(e)) => return Err(e.to_string()),
                Ok(Ok(None)) => return Err("closed by the cloud".into()),
                Ok(Ok(Some(Err(e)))) => tracing::warn!(error = %e, "control: frame rejected"),
                Ok(Ok(Some(Ok(m)))) => return Ok(m),
            }
        }
    }
}

async fn send<W: AsyncWrite + Unpin>(wr: &mut W, msg: &BoxMessage) -> Result<(), String> {
    let mut buf = vec![0u8; MAX_FRAME_LEN];
    let n = encode_frame(msg, &mut buf).map_err(|e| format!("cannot encode: {e:?}"))?;
    let frame = buf.get(..n).ok_or("frame length")?;
    wr.write_all(frame).await.map_err(|e| e.to_string())
}

/// How a session ended.
enum SessionEnd {
    /// The loop is gone: stop.
    Stop,
    /// Enrolled: reconnect at once with the new identity.
    Enrolled(Identity),
    /// Broken or refused: back off (longer when the cloud refused us).
    Failed { refused: bool },
}

/// The control task: runs until the loop drops its command sender.
pub async fn run_control(
    mut setup: ControlSetup,
    events: mpsc::Sender<ControlEvent>,
    mut cmds: mpsc::Receiver<BoxMessage>,
) {
    let mut backoff = Backoff::new();
    loop {
        let end = match tokio::time::timeout(STEP_TIMEOUT, setup.connector.connect(setup.addr)).await {
            Ok(Ok(stream)) => session(&mut setup, stream, &events, &mut cmds, &mut backoff).await,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "control: cannot connect");
                SessionEnd::Failed { refused: false }
            }
            Err(_) => SessionEnd::Failed { refused: false },
        };
        match end {
            SessionEnd::Stop => return,
            SessionEnd::Enrolled(id) => setup.identity = id,
            SessionEnd::Failed { refused } => {
                let wait = if refused { REFUSED_WAIT } else { backoff.next() };
                if !idle(wait, &mut cmds).await {
                    return;
                }
            }
        }
    }
}

async fn session(
    setup: &mut ControlSetup,
    stream: Box<dyn Stream>,
    events: &mpsc::Sender<ControlEvent>,
    cmds: &mut mpsc::Receiver<BoxMessage>,
    backoff: &mut Backoff,
) -> SessionEnd {
    let (rd, mut wr) = tokio::io::split(stream);
    let mut reader = FrameReader::new(rd);
    let fail = |why: String| {
        tracing::warn!(reason = %why, "control session failed");
        SessionEnd::Failed { refused: false }
    };
    if let Err(e) = send(&mut wr, &BoxMessage::Hello(Hello::current())).await {
        return fail(e);
    }
    match reader.expect().await {
        Ok(CloudMessage::Hello(peer)) => {
            if let Err(e) = Hello::current().negotiate(&peer) {
                let _ =
                    send(&mut wr, &BoxMessage::Goodbye(Goodbye { reason: GoodbyeReason::UnsupportedVersion })).await;
                tracing::error!(error = %e, "control: no common protocol version");
                return SessionEnd::Failed { refused: true };
            }
        }
        Ok(other) => return fail(format!("expected Hello, got {}", name(&other))),
        Err(e) => return fail(e),
    }
    let (box_id, credential) = match &setup.identity {
        Identity::Token(token) => {
            let Ok(token) = EnrollmentToken::new(token) else { return fail("enrollment token too long".into()) };
            let req = BoxMessage::Enroll(EnrollRequest { token, firmware: carillon_firmware::FIRMWARE_VERSION });
            if let Err(e) = send(&mut wr, &req).await {
                return fail(e);
            }
            return match reader.expect().await {
                Ok(CloudMessage::Enrolled(en)) => {
                    // Durable before use: a crash now must not lose the only copy.
                    if let Err(e) = setup.state.store_identity(en.box_id.0, &en.credential.0) {
                        tracing::error!(error = %e, "control: cannot store the identity received at enrollment");
                        return SessionEnd::Failed { refused: true };
                    }
                    tracing::info!(box_id = en.box_id.0, "enrolled");
                    if events.send(ControlEvent::Enrolled { box_id: en.box_id.0 }).await.is_err() {
                        return SessionEnd::Stop;
                    }
                    let _ = wr.shutdown().await;
                    SessionEnd::Enrolled(Identity::Enrolled { box_id: en.box_id.0, credential: en.credential.0 })
                }
                Ok(CloudMessage::EnrollRejected(r)) => {
                    tracing::error!(reason = ?r, "control: enrollment refused");
                    SessionEnd::Failed { refused: true }
                }
                Ok(other) => fail(format!("expected Enrolled, got {}", name(&other))),
                Err(e) => fail(e),
            };
        }
        Identity::Enrolled { box_id, credential } => (*box_id, *credential),
    };
    let auth = BoxMessage::Authenticate(Authenticate {
        box_id: BoxId(box_id),
        credential: BoxCredential(credential),
        firmware: carillon_firmware::FIRMWARE_VERSION,
        config_version: *setup.config_version.borrow(),
    });
    if let Err(e) = send(&mut wr, &auth).await {
        return fail(e);
    }
    match reader.expect().await {
        Ok(CloudMessage::Authenticated(a)) => {
            tracing::info!(records_stored_up_to = a.records_stored_up_to, "control link authenticated");
            *backoff = Backoff::new();
            if events.send(ControlEvent::Message(Box::new(CloudMessage::Authenticated(a)))).await.is_err() {
                return SessionEnd::Stop;
            }
        }
        Ok(CloudMessage::AuthRejected(r)) => {
            tracing::error!(reason = ?r, "control: authentication refused");
            return SessionEnd::Failed { refused: true };
        }
        Ok(other) => return fail(format!("expected Authenticated, got {}", name(&other))),
        Err(e) => return fail(e),
    }
    // What the core queued while there was no session is stale (it resends batches itself).
    while cmds.try_recv().is_ok() {}
    let end = loop {
        tokio::select! {
            r = reader.next() => match r {
                Ok(Some(Ok(m))) => {
                    if events.send(ControlEvent::Message(Box::new(m))).await.is_err() {
                        break SessionEnd::Stop;
                    }
                }
                Ok(Some(Err(e))) => tracing::warn!(error = %e, "control: frame rejected"),
                Ok(None) | Err(_) => break SessionEnd::Failed { refused: false },
            },
            c = cmds.recv() => match c {
                None => {
                    // The loop is shutting down: say goodbye, then close.
                    let _ = send(&mut wr, &BoxMessage::Goodbye(Goodbye { reason: GoodbyeReason::Shutdown })).await;
                    let _ = tokio::time::timeout(Duration::from_secs(2), wr.shutdown()).await;
                    break SessionEnd::Stop;
                }
                Some(m) => if let Err(e) = send(&mut wr, &m).await {
                    tracing::debug!(error = %e, "control: write failed");
                    break SessionEnd::Failed { refused: false };
                },
            },
        }
    };
    if matches!(end, SessionEnd::Failed { .. }) {
        tracing::warn!("control link lost");
        if events.send(ControlEvent::Down).await.is_err() {
            return SessionEnd::Stop;
        }
    }
    end
}

fn name(m: &CloudMessage) -> &'static str {
    match m {
        CloudMessage::Hello(_) => "Hello",
        CloudMessage::Enrolled(_) => "Enrolled",
        CloudMessage::EnrollRejected(_) => "EnrollRejected",
        CloudMessage::Authenticated(_) => "Authenticated",
        CloudMessage::AuthRejected(_) => "AuthRejected",
        CloudMessage::Goodbye(_) => "Goodbye",
        _ => "another message",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_a_long_outage_the_wait_between_attempts_stays_under_two_seconds() {
        let mut b = Backoff::new();
        let waits: Vec<Duration> = (0..200).map(|_| b.next()).collect();
        let ceiling = BACKOFF_MAX.mul_f64(1.25);
        assert!(ceiling <= Duration::from_millis(1900), "{ceiling:?}");
        assert!(waits.iter().all(|w| *w <= ceiling), "{:?}", waits.iter().max());
        assert!(waits.iter().all(|w| *w >= BACKOFF_MIN.mul_f64(0.75)));
        // Jitter: boxes cut off by the same outage do not retry in step.
        let late = waits.get(20..).unwrap_or_default();
        assert!(late.iter().any(|w| *w != late[0]), "no jitter: {late:?}");
        // From a return just after a lost SYN retry (1 s into an attempt) to the next SYN.
        let worst_gap = CONNECT_TIMEOUT - Duration::from_secs(1) + ceiling;
        assert!(worst_gap < Duration::from_secs(3), "{worst_gap:?}");
    }
}
