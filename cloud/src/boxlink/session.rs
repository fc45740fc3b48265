//! One box connection: handshake, then messages until either side closes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use carillon_protocol::control::{
    encode_frame, AuthRejectReason, Authenticated, BindingBatch, BindingsAck, BoxMessage, CallRecordBatch,
    CallRecordsAck, CloudMessage, EnrollRejectReason, Enrolled, FrameDecoder, Goodbye, GoodbyeReason, Hello, Ping,
    Pong, StatusReport, MAX_FRAME_LEN,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::convert::{
    aor_user, bare_uri, credential_from_wire, credential_to_wire, mode_name, record_from_wire, token_from_wire,
};
use super::{push, Attached, Shared};
use crate::model::{BoxLinkReport, BoxStatusReport};
use crate::sip::{Flow, HandedBinding, Transport};
use crate::StoreError;

/// A write that takes longer than this closes the connection (a box that stopped reading).
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a session ended (for the log).
#[derive(Debug)]
enum End {
    /// The box closed the connection.
    PeerClosed,
    /// The box said Goodbye.
    Goodbye,
    /// The box broke the protocol; it was told so.
    Violation(String),
    /// Enrollment or authentication refused; the box was told so.
    Refused,
    /// No frame for the idle timeout (or no handshake in time).
    Idle,
    /// The socket failed.
    Io,
    /// A newer connection of the same box took over.
    Replaced,
    /// The node is stopping.
    Shutdown,
    /// The store failed (our side); the box retries later.
    Store(String),
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::PeerClosed => f.write_str("closed by the box"),
            End::Goodbye => f.write_str("the box said goodbye"),
            End::Violation(why) => write!(f, "protocol violation: {why}"),
            End::Refused => f.write_str("enrollment or authentication refused"),
            End::Idle => f.write_str("idle or handshake timeout"),
            End::Io => f.write_str("socket error"),
            End::Replaced => f.write_str("replaced by a newer connection of the box"),
            End::Shutdown => f.write_str("node shutting down"),
            End::Store(e) => write!(f, "store error: {e}"),
        }
    }
}

/// The connection: the stream and an encode buffer.
struct Conn<S> {
    stream: S,
    buf: Box<[u8; MAX_FRAME_LEN]>,
}

impl<S: AsyncWrite + Unpin> Conn<S> {
    async fn send(&mut self, msg: &CloudMessage) -> Result<(), End> {
        let n = encode_frame(msg, &mut self.buf[..]).map_err(|e| {
            tracing::error!(error = %e, "cannot encode a control message");
            End::Io
        })?;
        let bytes = self.buf.get(..n).unwrap_or(&[]);
        match tokio::time::timeout(WRITE_TIMEOUT, self.stream.write_all(bytes)).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(End::Io),
        }
    }

    /// Closes without a word (after a refusal, which says why itself).
    async fn close(&mut self, end: End) -> End {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.stream.shutdown()).await;
        end
    }

    /// Says goodbye and ends the session with `end`.
    async fn goodbye(&mut self, reason: GoodbyeReason, end: End) -> End {
        let _ = self.send(&CloudMessage::Goodbye(Goodbye { reason })).await;
        let _ = tokio::time::timeout(Duration::from_secs(1), self.stream.shutdown()).await;
        end
    }
}

/// The authenticated box of a session.
struct AuthedBox {
    id: i64,
    site_id: i64,
    /// Configuration version last sent (or that the box said it runs).
    sent_version: Option<i64>,
    /// Firmware version the box authenticated with.
    firmware: String,
}

struct Session {
    shared: Arc<Shared>,
    peer: SocketAddr,
    conn: u64,
    authed: Option<AuthedBox>,
    hello: bool,
    last_rx: Instant,
    ping_nonce: u32,
}

/// Runs a session to its end; marks the box offline if it was this session's.
pub(super) async fn run<S>(shared: Arc<Shared>, stream: S, peer: SocketAddr, conn: u64)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut s = Session {
        shared: shared.clone(),
        peer,
        conn,
        authed: None,
        hello: false,
        last_rx: Instant::now(),
        ping_nonce: 0,
    };
    let mut c = Conn { stream, buf: Box::new([0u8; MAX_FRAME_LEN]) };
    let (replace_tx, replace_rx) = oneshot::channel();
    let end = s.serve(&mut c, replace_tx, replace_rx).await;
    let box_id = s.authed.as_ref().map(|b| b.id);
    match &end {
        End::PeerClosed | End::Goodbye | End::Replaced | End::Shutdown => {
            tracing::info!(%peer, box_id, reason = %end, "box link closed");
        }
        _ => tracing::warn!(%peer, box_id, reason = %end, "box link closed"),
    }
    if let Some(id) = box_id {
        let ours = {
            let mut attached = shared.attached();
            let ours = attached.get(&id).is_some_and(|a| a.conn == conn);
            if ours {
                attached.remove(&id);
            }
            ours
        };
        if ours {
            let report = BoxStatusReport { online: false, firmware_version: None, survival_secs_add: 0 };
            if let Err(e) = shared.store.report_box_status(id, &report, shared.clock.unix_now()).await {
                tracing::warn!(box_id = id, error = %e, "cannot mark box offline");
            }
            if let Some(node) = shared.sip.as_ref().and_then(|s| s.node_id()) {
                if let Err(e) = shared.store.box_detach(id, node).await {
                    tracing::warn!(box_id = id, error = %e, "cannot clear the box's node");
                }
            }
            // A new session of the box attached meanwhile: its online mark may have landed
            // before our offline one; put it back.
            if shared.attached().contains_key(&id) {
                let report = BoxStatusReport { online: true, firmware_version: None, survival_secs_add: 0 };
                let _ = shared.store.report_box_status(id, &report, shared.clock.unix_now()).await;
            }
        }
    }
}

impl Session {
    async fn serve<S>(
        &mut self,
        c: &mut Conn<S>,
        replace_tx: oneshot::Sender<()>,
        mut replace_rx: oneshot::Receiver<()>,
    ) -> End
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let cfg = &self.shared.cfg;
        let handshake_deadline = Instant::now() + Duration::from_secs(cfg.handshake_timeout_secs);
        let ping_every = Duration::from_secs(cfg.ping_interval_secs);
        let idle = Duration::from_secs(cfg.idle_timeout_secs);
        let mut replace_tx = Some(replace_tx);
        let mut decoder: Box<FrameDecoder> = Box::default();
        let mut buf = vec![0u8; 4096];
        let mut versions = self.shared.versions.clone();
        let mut shutdown = self.shared.shutdown.clone();
        let mut pinged_at: Option<Instant> = None;
        loop {
            // The next timer: the handshake deadline, then Ping and idle checks.
            let wake = if self.authed.is_none() {
                handshake_deadline
            } else {
                match pinged_at {
                    Some(_) => self.last_rx + idle,
                    None => self.last_rx + ping_every,
                }
            };
            tokio::select! {
                r = c.stream.read(&mut buf) => {
                    let n = match r {
                        Ok(0) => return End::PeerClosed,
                        Ok(n) => n,
                        Err(_) => return End::Io,
                    };
                    self.last_rx = Instant::now();
                    pinged_at = None;
                    let mut input = buf.get(..n).unwrap_or(&[]);
                    while let Some(frame) = decoder.decode::<BoxMessage>(&mut input) {
                        let msg = match frame {
                            Ok(m) => m,
                            Err(e) => {
                                let why = format!("bad frame: {e}");
                                return c.goodbye(GoodbyeReason::ProtocolViolation, End::Violation(why)).await;
                            }
                        };
                        let was_authed = self.authed.is_some();
                        if let Err(end) = self.handle(c, msg).await {
                            return end;
                        }
                        if !was_authed && self.authed.is_some() {
                            if let Some(tx) = replace_tx.take() {
                                self.attach(tx);
                            }
                            // Online only once attached: an older session of this box that is
                            // closing marks it offline only if no session is attached (see `run`).
                            if let Err(end) = self.mark_online(c).await {
                                return end;
                            }
                            if let Err(end) = self.push_config(c, None).await {
                                return end;
                            }
                        }
                    }
                }
                () = tokio::time::sleep_until(wake) => {
                    if self.authed.is_none() || pinged_at.is_some() {
                        return End::Idle;
                    }
                    self.ping_nonce = self.ping_nonce.wrapping_add(1);
                    if let Err(end) = c.send(&CloudMessage::Ping(Ping { nonce: self.ping_nonce })).await {
                        return end;
                    }
                    pinged_at = Some(Instant::now());
                }
                r = versions.changed(), if self.authed.is_some() => {
                    if r.is_err() {
                        return c.goodbye(GoodbyeReason::Shutdown, End::Shutdown).await;
                    }
                    let current = self.authed.as_ref().and_then(|b| versions.borrow_and_update().get(&b.site_id).copied());
                    if let Err(end) = self.push_config(c, current).await {
                        return end;
                    }
                }
                r = &mut replace_rx, if self.authed.is_some() => {
                    if r.is_ok() {
                        return c.goodbye(GoodbyeReason::Replaced, End::Replaced).await;
                    }
                    // The sender is gone only once this session is no longer attached.
                    return c.goodbye(GoodbyeReason::Shutdown, End::Shutdown).await;
                }
                _ = shutdown.changed() => {
                    return c.goodbye(GoodbyeReason::Shutdown, End::Shutdown).await;
                }
            }
        }
    }

    /// Registers this session as its box's, replacing an older one.
    fn attach(&mut self, replace: oneshot::Sender<()>) {
        let Some(b) = &self.authed else { return };
        let old =
            self.shared.attached().insert(b.id, Attached { conn: self.conn, replace: Some(replace), sip_flow: None });
        if let Some(mut old) = old {
            if let Some(tx) = old.replace.take() {
                let _ = tx.send(());
            }
        }
    }

    async fn mark_online<S>(&self, c: &mut Conn<S>) -> Result<(), End>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let Some(b) = &self.authed else { return Ok(()) };
        let report = BoxStatusReport { online: true, firmware_version: Some(b.firmware.clone()), survival_secs_add: 0 };
        let now = self.shared.clock.unix_now();
        let r = self.shared.store.report_box_status(b.id, &report, now).await;
        self.store_or_close(c, r).await?;
        // Several nodes: the registry says which node holds this box's link.
        if let Some(node) = self.shared.sip.as_ref().and_then(|s| s.node_id()) {
            if let Err(e) = self.shared.store.box_attach(b.id, node, now).await {
                tracing::warn!(box_id = b.id, error = %e, "cannot record the box's node");
            }
        }
        Ok(())
    }

    async fn handle<S>(&mut self, c: &mut Conn<S>, msg: BoxMessage) -> Result<(), End>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let violation = |what: &str| End::Violation(what.to_owned());
        if !self.hello {
            let BoxMessage::Hello(theirs) = msg else {
                return Err(c.goodbye(GoodbyeReason::ProtocolViolation, violation("first message is not Hello")).await);
            };
            let ours = Hello::current();
            c.send(&CloudMessage::Hello(ours)).await?;
            if let Err(e) = ours.negotiate(&theirs) {
                return Err(c.goodbye(GoodbyeReason::UnsupportedVersion, End::Violation(e.to_string())).await);
            }
            self.hello = true;
            return Ok(());
        }
        match (msg, self.authed.is_some()) {
            (BoxMessage::Ping(p), _) => c.send(&CloudMessage::Pong(Pong { nonce: p.nonce })).await?,
            (BoxMessage::Pong(_), _) => {}
            (BoxMessage::Goodbye(_), _) => return Err(End::Goodbye),
            (BoxMessage::Enroll(req), false) => {
                let token = token_from_wire(&req.token);
                match self.shared.store.enroll_box(&token, self.shared.clock.unix_now()).await {
                    Ok((box_id, credential)) => {
                        let (Some(wire), Ok(id)) = (credential_to_wire(&credential), u64::try_from(box_id)) else {
                            return Err(End::Store("credential not in the store's format".into()));
                        };
                        tracing::info!(peer = %self.peer, box_id, firmware = %req.firmware, "box enrolled");
                        c.send(&CloudMessage::Enrolled(Enrolled {
                            box_id: carillon_protocol::control::BoxId(id),
                            credential: wire,
                        }))
                        .await?;
                    }
                    Err(StoreError::BadToken) => {
                        // The store does not tell unknown, used and expired tokens apart (on
                        // purpose: nothing to probe); the box's installer needs a new token.
                        c.send(&CloudMessage::EnrollRejected(EnrollRejectReason::UnknownToken)).await?;
                        return Err(c.close(End::Refused).await);
                    }
                    Err(e) => return Err(c.goodbye(GoodbyeReason::Shutdown, End::Store(e.to_string())).await),
                }
            }
            (BoxMessage::Authenticate(a), false) => {
                let Ok(box_id) = i64::try_from(a.box_id.0) else {
                    c.send(&CloudMessage::AuthRejected(AuthRejectReason::UnknownBox)).await?;
                    return Err(c.close(End::Refused).await);
                };
                let info = match self.shared.store.authenticate_box(box_id, &credential_from_wire(&a.credential)).await
                {
                    Ok(info) => info,
                    Err(StoreError::BadToken) => {
                        tracing::info!(peer = %self.peer, box_id, "box authentication refused");
                        c.send(&CloudMessage::AuthRejected(AuthRejectReason::BadCredential)).await?;
                        return Err(c.close(End::Refused).await);
                    }
                    Err(e) => return Err(c.goodbye(GoodbyeReason::Shutdown, End::Store(e.to_string())).await),
                };
                let records_stored_up_to = u64::try_from(info.acked_seq).unwrap_or(0);
                c.send(&CloudMessage::Authenticated(Authenticated { records_stored_up_to })).await?;
                tracing::info!(peer = %self.peer, box_id, firmware = %a.firmware, records_stored_up_to, "box authenticated");
                self.authed = Some(AuthedBox {
                    id: box_id,
                    site_id: info.site_id,
                    sent_version: a.config_version.map(i64::from),
                    firmware: a.firmware.to_string(),
                });
            }
            (BoxMessage::ConfigApplied(a), true) => {
                let id = self.box_id();
                tracing::info!(box_id = id, version = a.version, "configuration applied");
                self.store_or_close(c, self.shared.store.record_box_config(id, Ok(i64::from(a.version))).await).await?;
            }
            (BoxMessage::ConfigRejected(r), true) => {
                let id = self.box_id();
                tracing::warn!(box_id = id, version = r.version, reason = ?r.reason, "configuration rejected");
                let why = format!("version {}: {:?}", r.version, r.reason);
                self.store_or_close(c, self.shared.store.record_box_config(id, Err(why)).await).await?;
            }
            (BoxMessage::Status(st), true) => self.status(c, &st).await?,
            (BoxMessage::Bindings(batch), true) => self.bindings(c, &batch).await?,
            (BoxMessage::CallRecords(batch), true) => self.records(c, &batch).await?,
            (BoxMessage::Hello(_), _) => {
                return Err(c.goodbye(GoodbyeReason::ProtocolViolation, violation("second Hello")).await)
            }
            (_, true) => {
                return Err(c
                    .goodbye(GoodbyeReason::ProtocolViolation, violation("Enroll/Authenticate after authentication"))
                    .await)
            }
            (_, false) => {
                return Err(c
                    .goodbye(GoodbyeReason::ProtocolViolation, violation("message before authentication"))
                    .await)
            }
        }
        Ok(())
    }

    fn box_id(&self) -> i64 {
        self.authed.as_ref().map_or(0, |b| b.id)
    }

    /// A store failure is our side: the box is told we shut down and retries later.
    async fn store_or_close<S, T>(&self, c: &mut Conn<S>, r: Result<T, StoreError>) -> Result<T, End>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        match r {
            Ok(v) => Ok(v),
            Err(e) => Err(c.goodbye(GoodbyeReason::Shutdown, End::Store(e.to_string())).await),
        }
    }

    /// Sends the site's configuration if its version is not the one last sent. `hint` is the
    /// version the poller saw (None: read it now).
    async fn push_config<S>(&mut self, c: &mut Conn<S>, hint: Option<i64>) -> Result<(), End>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let Some(b) = &self.authed else { return Ok(()) };
        if hint.is_some() && hint == b.sent_version {
            return Ok(());
        }
        let (box_id, site_id, sent) = (b.id, b.site_id, b.sent_version);
        let store = &self.shared.store;
        let cfg = self.store_or_close(c, store.site_config(site_id).await).await?;
        if Some(cfg.version) == sent {
            return Ok(());
        }
        let msgs = match push::config_messages(&cfg, &store.options().plan, &store.options().realm) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(box_id, site_id, version = cfg.version, error = %e, "configuration not sent");
                let why = format!("version {}: {}", cfg.version, e.0);
                self.store_or_close(c, store.record_box_config(box_id, Err(why)).await).await?;
                if let Some(b) = &mut self.authed {
                    b.sent_version = Some(cfg.version);
                }
                return Ok(());
            }
        };
        for m in &msgs {
            c.send(m).await?;
        }
        tracing::info!(
            box_id,
            version = cfg.version,
            extensions = cfg.extensions.len(),
            ring_groups = cfg.ring_groups.len(),
            "configuration sent"
        );
        if let Some(b) = &mut self.authed {
            b.sent_version = Some(cfg.version);
        }
        Ok(())
    }

    async fn status<S>(&mut self, c: &mut Conn<S>, st: &StatusReport) -> Result<(), End>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let (Ok(uptime_secs), Ok(survival_secs)) = (i64::try_from(st.uptime_secs), i64::try_from(st.survival_secs))
        else {
            return Err(c
                .goodbye(GoodbyeReason::ProtocolViolation, End::Violation("status counters out of range".into()))
                .await);
        };
        let report = BoxLinkReport {
            mode: mode_name(st.mode).to_owned(),
            uptime_secs,
            survival_secs,
            firmware_version: st.firmware.to_string(),
        };
        let id = self.box_id();
        match self.shared.store.record_box_report(id, &report, self.shared.clock.unix_now()).await {
            Ok(_) => Ok(()),
            Err(StoreError::Invalid(m)) => {
                Err(c.goodbye(GoodbyeReason::ProtocolViolation, End::Violation(format!("status: {m}"))).await)
            }
            Err(e) => Err(c.goodbye(GoodbyeReason::Shutdown, End::Store(e.to_string())).await),
        }
    }

    /// Puts handed-back bindings into the location service through the box's SIP flow.
    async fn bindings<S>(&mut self, c: &mut Conn<S>, batch: &BindingBatch) -> Result<(), End>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let (box_id, site_id) = match &self.authed {
            Some(b) => (b.id, b.site_id),
            None => return Ok(()),
        };
        let Some(sip) = self.shared.sip.clone() else {
            tracing::warn!(box_id, "no SIP server on this node: bindings not taken");
            return Ok(());
        };
        let Some(flow) = self.sip_flow(box_id).await else {
            tracing::warn!(box_id, batch = batch.batch_id, "box's SIP connection not found: bindings not acknowledged");
            return Ok(());
        };
        let now = sip.unix_now();
        let transport = if flow.transport == Transport::Tls { "tls" } else { "tcp" };
        let path = format!("<sip:box-{box_id}@{};transport={transport};lr>", flow.remote);
        let mut handed = Vec::with_capacity(batch.bindings.len());
        let mut refused = 0usize;
        for b in &batch.bindings {
            let Some(user) = aor_user(&b.aor) else {
                refused += 1;
                continue;
            };
            // Only the box's own site's extensions: a box cannot claim another school's phones.
            match self.shared.store.sip_credential(user).await {
                Ok(cred) if cred.extension.site_id == site_id => {}
                Ok(_) | Err(StoreError::NotFound(_)) => {
                    refused += 1;
                    continue;
                }
                Err(e) => return Err(c.goodbye(GoodbyeReason::Shutdown, End::Store(e.to_string())).await),
            }
            let secs = b.expires_secs.min(self.shared.cfg.max_binding_secs);
            handed.push(HandedBinding {
                username: user.to_owned(),
                contact: bare_uri(&b.contact).to_owned(),
                path: vec![path.clone()],
                expires_at: now.saturating_add(i64::from(secs)),
            });
        }
        let stored = sip.import_and_publish(flow, &handed).await;
        tracing::info!(box_id, batch = batch.batch_id, stored, refused, %flow, "bindings handed back");
        c.send(&CloudMessage::BindingsAck(BindingsAck { batch_id: batch.batch_id })).await
    }

    /// The box's SIP flow: the one claimed before if still live, else the one live SIP
    /// connection from this box's IP that no other box claimed (waiting up to
    /// `sip_flow_wait_ms` for it to appear). None when absent or ambiguous.
    async fn sip_flow(&self, box_id: i64) -> Option<Flow> {
        let sip = self.shared.sip.as_ref()?;
        let ip = self.peer.ip().to_canonical();
        let deadline = Instant::now() + Duration::from_millis(self.shared.cfg.sip_flow_wait_ms);
        loop {
            let live = sip.stream_flows();
            let found = {
                let mut attached = self.shared.attached();
                let mine = attached.get(&box_id).and_then(|a| a.sip_flow).filter(|f| live.contains(f));
                if let Some(f) = mine {
                    Ok(f)
                } else {
                    let others: Vec<Flow> =
                        attached.iter().filter(|(id, _)| **id != box_id).filter_map(|(_, a)| a.sip_flow).collect();
                    let candidates: Vec<Flow> = live
                        .iter()
                        .filter(|f| f.remote.ip().to_canonical() == ip && !others.contains(f))
                        .copied()
                        .collect();
                    match candidates.as_slice() {
                        [f] => {
                            if let Some(a) = attached.get_mut(&box_id) {
                                a.sip_flow = Some(*f);
                            }
                            Ok(*f)
                        }
                        [] => Err(false),
                        _ => Err(true),
                    }
                }
            };
            match found {
                Ok(f) => return Some(f),
                Err(true) => {
                    tracing::warn!(
                        box_id,
                        "several SIP connections from the box's address: cannot tell which is the box's"
                    );
                    return None;
                }
                Err(false) if Instant::now() >= deadline => return None,
                Err(false) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Stores a call-record batch exactly once and acknowledges the high-water mark.
    async fn records<S>(&mut self, c: &mut Conn<S>, batch: &CallRecordBatch) -> Result<(), End>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let box_id = self.box_id();
        if let Err(e) = batch.validate() {
            return Err(c
                .goodbye(GoodbyeReason::ProtocolViolation, End::Violation(format!("call records: {e}")))
                .await);
        }
        let mut records = Vec::with_capacity(batch.records.len());
        for r in &batch.records {
            match record_from_wire(box_id, r) {
                Ok(rec) => records.push(rec),
                Err(e) => {
                    let why = format!("call record {}: {e:?}", r.seq);
                    return Err(c.goodbye(GoodbyeReason::ProtocolViolation, End::Violation(why)).await);
                }
            }
        }
        let store = &self.shared.store;
        let up_to = match store.ingest_box_records(box_id, &records, self.shared.clock.unix_now()).await {
            Ok(up_to) => up_to,
            Err(StoreError::Invalid(m)) => {
                // Refused whole: the ack repeats the mark, so the box sees nothing new stored.
                tracing::warn!(box_id, first = batch.first_seq, last = batch.last_seq, error = %m, "call records refused");
                self.store_or_close(c, store.get_box(box_id).await).await?.acked_seq
            }
            Err(e) => return Err(c.goodbye(GoodbyeReason::Shutdown, End::Store(e.to_string())).await),
        };
        tracing::info!(box_id, first = batch.first_seq, last = batch.last_seq, up_to, "call records stored");
        let up_to_seq = u64::try_from(up_to).unwrap_or(0);
        c.send(&CloudMessage::CallRecordsAck(CallRecordsAck { up_to_seq })).await
    }
}
