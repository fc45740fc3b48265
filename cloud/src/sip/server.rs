//! The message pipeline, the registrar and in-dialog routing. INVITE routing is in `proxy`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use carillon_protocol::{
    parse, proxy_checks, validate, Contact, Framing, Header, HeaderKind, Message, Method, ParseConfig, Refusal,
    StartLine, Status, Uri,
};

use super::auth::Authenticator;
use super::build::{self, Fwd};
use super::location::{Binding, HandedBinding, Location, LocationError};
use super::transport::{Flow, Inbound, Transport, Transports};
use super::txn::{Begin, ClientEvent, ClientTxn, Response, ServerKey, Transactions};
use super::{Clock, SipConfig};
use crate::model::{CallEvent, Direction, Outcome};
use crate::store::Store;

/// Option tags we implement (RFC 3261 §16.3 step 5; `path`, RFC 3327).
const SUPPORTED: &[&str] = &["path"];
/// Methods we handle.
const ALLOW: &[u8] = b"INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, UPDATE, INFO, PRACK, REFER, NOTIFY, MESSAGE";
/// Dialogs without a BYE are closed (and recorded) after this long.
const MAX_CALL_SECS: i64 = 12 * 3600;
/// A dialog one of whose legs' connections closed (a box's uplink cut: the school may finish
/// the call in survival, where its BYE never reaches the cloud) is closed and recorded as ended
/// at the loss, unless an in-dialog request reaches it again within this long.
pub(crate) const ORPHAN_GRACE_SECS: i64 = 60;

/// Our listening addresses.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ports {
    pub udp: SocketAddr,
    pub tcp: SocketAddr,
    pub tls: Option<SocketAddr>,
}

/// An answered call waiting for its BYE, to be recorded then.
#[derive(Clone, Debug)]
pub(crate) struct Dialog {
    pub site_id: i64,
    pub caller: String,
    pub callee: String,
    pub direction: Direction,
    pub started_at: i64,
    pub answered_at: i64,
    /// Whether this node writes the call's record (false on the callee's node of a call
    /// forwarded by another node).
    pub record: bool,
    /// The TCP/TLS connections its legs were reached over (a box's uplink, a phone's own).
    pub flows: Vec<Flow>,
    /// When one of those connections closed, if no in-dialog request came since.
    pub orphaned_at: Option<i64>,
}

/// The server's shared state.
pub(crate) struct Core {
    pub store: Store,
    pub cfg: SipConfig,
    pub clock: Arc<dyn Clock>,
    pub transports: Arc<Transports>,
    pub txns: Arc<Transactions>,
    pub location: Location,
    pub auth: Authenticator,
    pub ports: Ports,
    pub host: String,
    pub dialogs: Mutex<HashMap<String, Dialog>>,
    pub calls: AtomicUsize,
    pub trunk_registered: AtomicBool,
    /// Call records on their way to the store (off the SIP path).
    pub recorder: super::recorder::RecordWriter,
    /// Users whose registry row must be written (multi-node mode; see `cluster`).
    pub presence_dirty: Mutex<std::collections::HashSet<String>>,
    /// Wakes the presence writer.
    pub presence_wake: tokio::sync::Notify,
    /// Multi-node mode; `None` for a single node.
    pub cluster: Option<super::cluster::Cluster>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core").field("ports", &self.ports).finish_non_exhaustive()
    }
}

/// What routing an incoming request needs from it, owned.
pub(crate) struct Ctx {
    pub flow: Flow,
    pub key: ServerKey,
    pub to_tag: String,
}

impl Core {
    pub(crate) fn new(
        store: Store,
        cfg: SipConfig,
        clock: Arc<dyn Clock>,
        transports: Arc<Transports>,
        auth: Authenticator,
        ports: Ports,
        cluster: Option<super::cluster::Cluster>,
    ) -> Arc<Core> {
        let host = cfg.host.clone().unwrap_or_else(|| ports.udp.ip().to_string());
        let recorder =
            super::recorder::RecordWriter::start(store.clone(), clock.clone(), cfg.record_queue, cfg.record_batch);
        Arc::new(Core {
            recorder,
            presence_dirty: Mutex::new(std::collections::HashSet::new()),
            presence_wake: tokio::sync::Notify::new(),
            txns: Transactions::new(cfg.max_transactions),
            location: Location::new(cfg.max_bindings, cfg.max_bindings_per_user),
            store,
            clock,
            transports,
            auth,
            ports,
            host,
            dialogs: Mutex::new(HashMap::new()),
            calls: AtomicUsize::new(0),
            trunk_registered: AtomicBool::new(false),
            cluster,
            cfg,
        })
    }

    pub(crate) fn location(&self) -> &Location {
        &self.location
    }

    pub(crate) fn import_bindings(self: &Arc<Self>, flow: Flow, bindings: &[HandedBinding]) -> usize {
        let n = self.location.import(flow, bindings, self.clock.unix_now());
        if self.cluster.is_some() {
            let (core, handed) = (self.clone(), bindings.to_vec());
            tokio::spawn(async move { core.publish_users(&handed).await });
        }
        n
    }

    pub(crate) async fn import_and_publish(&self, flow: Flow, bindings: &[HandedBinding]) -> usize {
        let n = self.location.import(flow, bindings, self.clock.unix_now());
        self.publish_users(bindings).await;
        n
    }

    /// Publishes the registry rows of the users of `handed` (multi-node mode).
    async fn publish_users(&self, handed: &[HandedBinding]) {
        if self.cluster.is_none() {
            return;
        }
        let now = self.clock.unix_now();
        let mut users: Vec<&str> = handed.iter().map(|h| h.username.as_str()).collect();
        users.sort_unstable();
        users.dedup();
        for u in users {
            let live = self.location.lookup(u, now);
            self.publish(u, &live).await;
        }
    }

    pub(crate) fn trunk_registered(&self) -> bool {
        self.trunk_registered.load(Ordering::Relaxed)
    }

    pub(crate) fn active_calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }

    pub(crate) fn dialogs(&self) -> MutexGuard<'_, HashMap<String, Dialog>> {
        self.dialogs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Our address for a transport, as written in Via and Record-Route.
    pub(crate) fn hostport(&self, t: Transport) -> String {
        let port = match t {
            Transport::Udp => self.ports.udp.port(),
            Transport::Tcp => self.ports.tcp.port(),
            Transport::Tls => self.ports.tls.map_or(self.ports.tcp.port(), |a| a.port()),
        };
        if self.host.contains(':') {
            format!("[{}]:{port}", self.host)
        } else {
            format!("{}:{port}", self.host)
        }
    }

    /// Our Via value for a request sent on `t`.
    pub(crate) fn via(&self, t: Transport, branch: &str) -> String {
        format!("SIP/2.0/{} {};branch={branch};rport", t.as_str(), self.hostport(t))
    }

    /// Whether a URI names this server (one of our ports, or any port on our host for a
    /// URI without one).
    pub(crate) fn is_ours(&self, uri: &Uri<'_>) -> bool {
        let Some(host) = uri.host else { return false };
        let host_ok = match host.ip() {
            Some(ip) => ip == self.ports.udp.ip() || self.host.parse().is_ok_and(|h: std::net::IpAddr| h == ip),
            None => host.name_str().is_some_and(|n| n.eq_ignore_ascii_case(&self.host)),
        };
        let port = uri.port.unwrap_or(5060);
        host_ok
            && (port == self.ports.udp.port()
                || port == self.ports.tcp.port()
                || self.ports.tls.is_some_and(|a| a.port() == port))
    }

    /// Sends bytes on a flow, logging (not failing) on error.
    pub(crate) async fn send(&self, flow: &Flow, bytes: Vec<u8>) {
        if let Err(e) = self.transports.send(flow, bytes).await {
            tracing::debug!(%flow, error = %e, "send failed");
        }
    }

    /// Answers the request of `ctx` and records the answer in its transaction.
    pub(crate) async fn reply(
        &self,
        ctx: &Ctx,
        req: &Message<'_, '_>,
        code: u16,
        reason: &str,
        extra: &[(&str, &[u8])],
    ) {
        if let Some(bytes) = build::response(req, code, reason, Some(&ctx.to_tag), extra) {
            self.txns.server_reply(&ctx.key, code, &bytes);
            self.send(&ctx.flow, bytes).await;
        }
    }

    /// 503 with Retry-After.
    pub(crate) async fn overloaded(&self, ctx: &Ctx, req: &Message<'_, '_>, what: &str) {
        tracing::warn!(what, "limit reached, answering 503");
        let ra = self.cfg.retry_after_secs.to_string();
        self.reply(ctx, req, 503, "Service Unavailable", &[("Retry-After", ra.as_bytes())]).await;
    }

    /// Hands a call record to the writer (see `recorder`): returns once it is queued, waiting
    /// only while the queue is full.
    pub(crate) async fn record(&self, site_id: i64, call: CallEvent) {
        self.recorder.submit(site_id, call).await;
    }

    /// Records every answered call still up as ended now (the node is stopping: its BYE
    /// will find no dialog here).
    pub(crate) async fn end_all_dialogs(&self) {
        let open: Vec<String> = self.dialogs().keys().cloned().collect();
        for k in open {
            self.end_dialog(&k).await;
        }
    }

    /// The pipeline for one framed message.
    pub(crate) async fn handle(self: Arc<Self>, inb: Inbound) {
        let cfg = ParseConfig { max_message_len: self.cfg.max_message_len, ..ParseConfig::DEFAULT };
        let mut headers = [Header::EMPTY; 96];
        let msg = match parse(&inb.bytes, &mut headers, Framing::Datagram, &cfg) {
            Ok(Status::Complete(m)) => m,
            Ok(Status::Partial) => return,
            Err(e) => {
                // 505 and 513 can be answered: the rest of the message still parses once the
                // version or the size is set aside; so can a malformed header line, once left
                // out (`salvage`). Anything else has no Via to answer along.
                if let Some(b) = answer_unparseable(&inb.bytes, e, &cfg) {
                    self.send(&inb.flow, b).await;
                } else {
                    tracing::debug!(flow = %inb.flow, error = %e, "unparseable message dropped");
                }
                return;
            }
        };
        let is_request = msg.is_request();
        if let Err(e) = validate(&msg) {
            if is_request && msg.method() != Some(Method::Ack) {
                tracing::debug!(flow = %inb.flow, error = %e, "invalid request");
                let reason = e.to_string();
                if let Some(b) = build::response(&msg, e.status(), &reason, Some(&build::tag()), &[]) {
                    self.send(&inb.flow, b).await;
                }
            }
            return;
        }
        if !is_request {
            self.on_response(&msg).await;
            return;
        }
        let Some(ctx) = server_ctx(&msg, inb.flow) else { return };
        let method = msg.method().unwrap_or(Method::Other(""));
        let is_ack = method == Method::Ack;
        if !is_ack {
            if let Some(r) = proxy_checks(&msg, SUPPORTED) {
                let unsupported;
                let extra: Vec<(&str, &[u8])> = match r {
                    Refusal::BadExtension(tag) => {
                        unsupported = tag.to_vec();
                        vec![("Unsupported", &unsupported[..])]
                    }
                    _ => vec![],
                };
                if let Some(b) = build::response(&msg, r.status(), r.reason(), Some(&ctx.to_tag), &extra) {
                    self.send(&ctx.flow, b).await;
                }
                return;
            }
        }
        if method == Method::Cancel {
            self.on_cancel(&ctx, &msg).await;
            return;
        }
        match self.txns.server_begin(&ctx.key, is_ack, ctx.flow.transport != Transport::Udp) {
            Begin::New => {}
            Begin::AckAbsorbed => return,
            Begin::Retransmission(last) => {
                if let Some(b) = last {
                    self.send(&ctx.flow, b).await;
                }
                return;
            }
            Begin::Full => {
                self.overloaded(&ctx, &msg, "transactions").await;
                return;
            }
        }
        let in_dialog = msg.to().and_then(Result::ok).is_some_and(|t| t.tag().is_some());
        match method {
            Method::Register => self.register(&ctx, &msg).await,
            _ if in_dialog => self.in_dialog(&ctx, &msg).await,
            Method::Invite => self.invite(&ctx, &msg).await,
            Method::Ack => {} // an ACK outside a dialog we know of: nothing to do
            Method::Options => {
                self.reply(&ctx, &msg, 200, "OK", &[("Allow", ALLOW), ("Supported", b"path")]).await;
            }
            _ => self.reply(&ctx, &msg, 405, "Method Not Allowed", &[("Allow", ALLOW)]).await,
        }
    }

    async fn on_cancel(&self, ctx: &Ctx, msg: &Message<'_, '_>) {
        // RFC 3261 §9.2: the CANCEL matches the INVITE with the same branch and sent-by.
        let invite_key = ServerKey { method: "INVITE".into(), ..ctx.key.clone() };
        let code = if self.txns.server_cancel(&invite_key) { 200 } else { 481 };
        let reason = if code == 200 { "OK" } else { "Call/Transaction Does Not Exist" };
        if let Some(b) = build::response(msg, code, reason, Some(&ctx.to_tag), &[]) {
            self.send(&ctx.flow, b).await;
        }
    }

    /// A response: to the client transaction that waits for it, else forwarded by Via
    /// (2xx retransmissions after the transaction ended, RFC 3261 §16.7 / RFC 6026).
    async fn on_response(&self, msg: &Message<'_, '_>) {
        let Some(Ok(via)) = msg.top_via() else { return };
        let Some(branch) = via.branch() else { return };
        let Some(Ok(cseq)) = msg.cseq() else { return };
        let code = msg.status_code().unwrap_or(0);
        let r = Response { bytes: msg.bytes.to_vec(), code };
        if self.txns.client_deliver(branch, cseq.method.as_str(), r) {
            return;
        }
        if !(200..300).contains(&code) || cseq.method != Method::Invite {
            return;
        }
        // Ours on top? Then forward to the next Via's received/rport or sent-by.
        let mut vias = msg.vias();
        let Some(Ok(_)) = vias.next() else { return };
        let Some(Ok(next)) = vias.next() else { return };
        let Some(ip) = next
            .received()
            .and_then(|r| std::str::from_utf8(r).ok())
            .and_then(|r| r.parse().ok())
            .or_else(|| next.host.ip())
        else {
            return;
        };
        let port = next.rport().flatten().or(next.port).unwrap_or(5060);
        let addr = SocketAddr::new(ip, port);
        let flow = match next.transport.to_ascii_uppercase().as_slice() {
            b"TCP" => self.transports.stream_to(Transport::Tcp, addr).unwrap_or(Flow {
                transport: Transport::Tcp,
                remote: addr,
                conn: 0,
            }),
            b"TLS" => match self.transports.stream_to(Transport::Tls, addr) {
                Some(f) => f,
                None => return,
            },
            _ => Flow::udp(addr),
        };
        if let Some(b) = build::pop_via(msg) {
            self.send(&flow, b).await;
        }
    }

    /// The registrar (RFC 3261 §10.3) with Path (RFC 3327).
    async fn register(&self, ctx: &Ctx, msg: &Message<'_, '_>) {
        let now = self.clock.unix_now();
        let creds: Vec<Vec<u8>> = msg.headers_of(HeaderKind::Authorization).map(|h| h.value.to_vec()).collect();
        let cred = match self.auth.check(&self.store, &creds, "REGISTER", now).await {
            Ok(c) => c,
            Err(e) if e.challenge() => {
                let stale = matches!(e, super::AuthError::Stale);
                let ch = self.auth.challenges(now, stale);
                let extra: Vec<(&str, &[u8])> = ch.iter().map(|c| ("WWW-Authenticate", &c[..])).collect();
                // Stateless (RFC 3261 §8.2.7): the nonce is stateless too, so a retransmission
                // gets a fresh challenge, and the table keeps room for real transactions.
                self.txns.server_forget(&ctx.key);
                if let Some(bytes) = build::response(msg, 401, "Unauthorized", Some(&ctx.to_tag), &extra) {
                    self.send(&ctx.flow, bytes).await;
                }
                return;
            }
            Err(e) => {
                tracing::info!(error = %e, "registration refused");
                let (code, reason) = e.status();
                self.reply(ctx, msg, code, reason, &[]).await;
                return;
            }
        };
        let user = cred.extension.sip_username.clone();
        // The AOR must be the authenticated user's (RFC 3261 §10.3 step 6).
        let to_user =
            msg.to().and_then(Result::ok).and_then(|t| t.uri.user.map(|u| String::from_utf8_lossy(u).into_owned()));
        if to_user.as_deref() != Some(user.as_str()) {
            self.reply(ctx, msg, 403, "Forbidden (To is not the authenticated user)", &[]).await;
            return;
        }
        let header_expires = msg.expires().and_then(Result::ok);
        let call_id = String::from_utf8_lossy(msg.call_id().unwrap_or_default()).into_owned();
        let cseq = msg.cseq().and_then(Result::ok).map_or(0, |c| c.seq);
        let path: Vec<String> =
            build::values(msg, HeaderKind::Path).iter().map(|p| String::from_utf8_lossy(p).into_owned()).collect();
        let mut remove_all = false;
        let mut changes = Vec::new();
        for c in msg.contacts() {
            match c {
                Ok(Contact::Star) => {
                    // RFC 3261 §10.2.2: `*` only with Expires: 0.
                    if header_expires != Some(0) {
                        self.reply(ctx, msg, 400, "Bad Request (Contact: * needs Expires: 0)", &[]).await;
                        return;
                    }
                    remove_all = true;
                }
                Ok(Contact::Addr(na)) => {
                    let asked = na.expires().or(header_expires).unwrap_or(self.cfg.default_expires);
                    if asked > 0 && asked < self.cfg.min_expires {
                        let me = self.cfg.min_expires.to_string();
                        self.reply(ctx, msg, 423, "Interval Too Brief", &[("Min-Expires", me.as_bytes())]).await;
                        return;
                    }
                    let secs = asked.min(self.cfg.max_expires);
                    let b = Binding {
                        contact: String::from_utf8_lossy(na.uri.raw).into_owned(),
                        path: path.clone(),
                        flow: ctx.flow,
                        expires_at: now + i64::from(secs),
                        call_id: call_id.clone(),
                        cseq,
                    };
                    changes.push((b, secs));
                }
                Err(_) => {
                    self.reply(ctx, msg, 400, "Bad Request (malformed Contact)", &[]).await;
                    return;
                }
            }
        }
        let bindings = match self.location.update(&user, remove_all, changes, now) {
            Ok(b) => b,
            Err(LocationError::TooManyForUser) => {
                self.reply(ctx, msg, 403, "Forbidden (too many contacts)", &[]).await;
                return;
            }
            Err(_) => {
                self.overloaded(ctx, msg, "location table").await;
                return;
            }
        };
        tracing::debug!(user = %user, bindings = bindings.len(), flow = %ctx.flow, "registered");
        self.publish_soon(&user);
        let contacts: Vec<Vec<u8>> = bindings
            .iter()
            .map(|b| format!("<{}>;expires={}", b.contact, (b.expires_at - now).max(0)).into_bytes())
            .collect();
        let mut extra: Vec<(&str, &[u8])> = contacts.iter().map(|c| ("Contact", &c[..])).collect();
        let path_joined = path.join(", ");
        let supports_path = msg.tokens(HeaderKind::Supported).flatten().any(|t| t.eq_ignore_ascii_case(b"path"));
        if supports_path && !path.is_empty() {
            extra.push(("Path", path_joined.as_bytes()));
        }
        let date = http_date(now);
        extra.push(("Date", date.as_bytes()));
        self.reply(ctx, msg, 200, "OK", &extra).await;
    }

    /// An in-dialog request: along the route set that our Record-Route put us in.
    async fn in_dialog(self: &Arc<Self>, ctx: &Ctx, msg: &Message<'_, '_>) {
        let routes = build::values(msg, HeaderKind::Route);
        let mut popped = 0;
        let mut flows: (Option<Flow>, Option<Flow>) = (None, None);
        for r in &routes {
            let Ok(na) = carillon_protocol::NameAddr::parse(r) else { break };
            if !self.is_ours(&na.uri) {
                break;
            }
            popped += 1;
            flows = (flow_param(&na.uri, "fa"), flow_param(&na.uri, "fb"));
        }
        // The next hop: the other side of the dialog's flow pair, else the next Route or the
        // Request-URI.
        let next = match flows {
            (Some(a), Some(b)) if ctx.flow.same_as(&a) => Some(b),
            (Some(a), Some(b)) if ctx.flow.same_as(&b) => Some(a),
            _ => None,
        };
        let next = match next {
            Some(f) => Some(f),
            None => {
                let target =
                    routes.get(popped).and_then(|r| carillon_protocol::NameAddr::parse(r).ok()).map(|na| na.uri);
                let target = target.or_else(|| msg.request_uri().and_then(Result::ok));
                target.and_then(|u| self.resolve(&u))
            }
        };
        let method = msg.method().unwrap_or(Method::Other(""));
        let Some(next) = next else {
            if method != Method::Ack {
                self.reply(ctx, msg, 404, "Not Found (no route)", &[]).await;
            }
            return;
        };
        let branch = build::branch();
        let fwd = Fwd {
            via: self.via(next.transport, &branch),
            received: Some(ctx.flow),
            pop_routes: popped,
            ..Fwd::default()
        };
        let Some(bytes) = build::forward(msg, &fwd) else {
            if method != Method::Ack {
                self.reply(ctx, msg, 483, "Too Many Hops", &[]).await;
            }
            return;
        };
        let call_id = String::from_utf8_lossy(msg.call_id().unwrap_or_default()).into_owned();
        self.dialog_heard(&call_id);
        if method == Method::Ack {
            self.send(&next, bytes).await;
            return;
        }
        if method == Method::Bye {
            self.end_dialog(&call_id).await;
        }
        let Some(mut t) = ClientTxn::start(&self.txns, &self.transports, next, &branch, method.as_str(), bytes).await
        else {
            self.overloaded(ctx, msg, "transactions").await;
            return;
        };
        loop {
            match t.next().await {
                ClientEvent::Timeout => {
                    self.reply(ctx, msg, 408, "Request Timeout", &[]).await;
                    return;
                }
                ClientEvent::Response(r) => {
                    let mut h = [Header::EMPTY; 96];
                    let Ok(Status::Complete(resp)) = parse(&r.bytes, &mut h, Framing::Datagram, &ParseConfig::DEFAULT)
                    else {
                        continue;
                    };
                    if let Some(b) = build::pop_via(&resp) {
                        if r.code >= 200 {
                            self.txns.server_reply(&ctx.key, r.code, &b);
                        }
                        self.send(&ctx.flow, b).await;
                    }
                    if r.code >= 200 {
                        return;
                    }
                }
            }
        }
    }

    /// Records an answered call when its dialog ends.
    pub(crate) async fn end_dialog(&self, call_id: &str) {
        let d = self.dialogs().remove(call_id);
        if let Some(d) = d {
            self.calls.fetch_sub(1, Ordering::Relaxed);
            if !d.record {
                return;
            }
            // An orphaned call (see `ORPHAN_GRACE_SECS`) ended, as far as the cloud can tell,
            // when its connection was lost.
            let ended_at = d.orphaned_at.unwrap_or_else(|| self.clock.unix_now()).max(d.answered_at);
            let call = CallEvent {
                caller: d.caller,
                callee: d.callee,
                direction: d.direction,
                started_at: d.started_at,
                answered_at: Some(d.answered_at),
                ended_at,
                outcome: Outcome::Answered,
            };
            self.record(d.site_id, call).await;
        }
    }

    /// The flow to a URI's host: an IP literal (no DNS here), on its `transport`, over an
    /// open connection when there is one.
    pub(crate) fn resolve(&self, uri: &Uri<'_>) -> Option<Flow> {
        let ip = uri.host?.ip()?;
        let transport = match uri.param("transport").flatten().map(<[u8]>::to_ascii_lowercase).as_deref() {
            Some(b"tcp") => Transport::Tcp,
            Some(b"tls") => Transport::Tls,
            _ if matches!(uri.scheme, carillon_protocol::Scheme::Sips) => Transport::Tls,
            _ => Transport::Udp,
        };
        let default_port = if transport == Transport::Tls { 5061 } else { 5060 };
        let addr = SocketAddr::new(ip, uri.port.unwrap_or(default_port));
        match transport {
            Transport::Udp => Some(Flow::udp(addr)),
            t => self.transports.stream_to(t, addr).or(Some(Flow { transport: t, remote: addr, conn: 0 })),
        }
    }

    /// A TCP/TLS connection closed: the answered calls with a leg over it are orphaned (see
    /// `ORPHAN_GRACE_SECS`); the sweeper records those that no in-dialog request reaches again.
    pub(crate) fn flow_closed(&self, flow: Flow) {
        let now = self.clock.unix_now();
        let mut n = 0;
        for d in self.dialogs().values_mut() {
            if d.orphaned_at.is_none() && d.flows.iter().any(|f| f.same_as(&flow)) {
                d.orphaned_at = Some(now);
                n += 1;
            }
        }
        if n > 0 {
            tracing::info!(%flow, calls = n, "a connection carrying answered calls closed; they end unless heard from again");
        }
    }

    /// An in-dialog request reached the call: it is alive, whatever connection it came on.
    pub(crate) fn dialog_heard(&self, call_id: &str) {
        if let Some(d) = self.dialogs().get_mut(call_id) {
            d.orphaned_at = None;
        }
    }

    /// Drops expired bindings and transactions; closes dialogs that never saw a BYE.
    pub(crate) async fn sweeper(self: Arc<Self>) {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            let now = self.clock.unix_now();
            self.location.sweep(now);
            self.txns.sweep();
            if self.cluster.is_some() {
                if let Err(e) = self.store.presence_sweep(now).await {
                    tracing::debug!(error = %e, "cannot sweep presence");
                }
            }
            let stale: Vec<String> = self
                .dialogs()
                .iter()
                .filter(|(_, d)| {
                    now - d.answered_at > MAX_CALL_SECS || d.orphaned_at.is_some_and(|t| now - t >= ORPHAN_GRACE_SECS)
                })
                .map(|(k, _)| k.clone())
                .collect();
            for k in stale {
                self.end_dialog(&k).await;
            }
        }
    }
}

/// The answer to a request whose only fault is its SIP version (505), its size (513) or a
/// malformed header line (400, answered without that line: see `salvage`).
fn answer_unparseable(bytes: &[u8], e: carillon_protocol::ParseError, cfg: &ParseConfig) -> Option<Vec<u8>> {
    use carillon_protocol::ParseError;
    let patched;
    let (input, cfg) = match e {
        ParseError::VersionNotSupported => {
            let eol = bytes.iter().position(|&b| b == b'\r' || b == b'\n')?;
            let line = bytes.get(..eol)?;
            let sp = line.iter().rposition(|&b| b == b' ')?;
            let mut v = line.get(..sp)?.to_vec();
            v.extend_from_slice(b" SIP/2.0");
            v.extend_from_slice(bytes.get(eol..)?);
            patched = v;
            (&patched[..], ParseConfig::DEFAULT)
        }
        ParseError::MessageTooLarge | ParseError::TooManyHeaders => {
            (bytes, ParseConfig { max_message_len: usize::MAX, ..ParseConfig::DEFAULT })
        }
        ParseError::BadHeaderLine(_) => match super::salvage::without_bad_lines(bytes, Framing::Datagram, cfg)? {
            Status::Complete((fixed, _)) => {
                patched = fixed;
                (&patched[..], *cfg)
            }
            Status::Partial => return None,
        },
        _ => return None,
    };
    let mut headers = vec![Header::EMPTY; 1024];
    let Ok(Status::Complete(msg)) = parse(input, &mut headers, Framing::Datagram, &cfg) else { return None };
    // Only a request, not an ACK, with a Via to answer along (RFC 3261 §18.2.2).
    if !msg.is_request() || msg.method() == Some(Method::Ack) || !matches!(msg.top_via(), Some(Ok(_))) {
        return None;
    }
    build::response(&msg, e.status(), &e.to_string(), Some(&build::tag()), &[])
}

/// The server transaction key and the To tag of our answers for a request.
fn server_ctx(msg: &Message<'_, '_>, flow: Flow) -> Option<Ctx> {
    let via = msg.top_via()?.ok()?;
    let branch = String::from_utf8_lossy(via.branch().unwrap_or_default()).into_owned();
    let sent_by = format!("{:?}:{:?}", via.host, via.port);
    let method = match msg.method()? {
        Method::Ack => "INVITE".to_owned(),
        m => m.as_str().to_owned(),
    };
    // The same request always gets the same To tag (retransmissions, CANCEL's 487).
    let to_tag = {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(branch.as_bytes());
        h.update(msg.call_id().unwrap_or_default());
        h.finalize().iter().take(6).map(|b| format!("{b:02x}")).collect()
    };
    let _ = matches!(msg.start, StartLine::Request { .. });
    Some(Ctx { flow, key: ServerKey { branch, sent_by, method }, to_tag })
}

/// A flow token parameter of our Record-Route URI.
fn flow_param(uri: &Uri<'_>, name: &str) -> Option<Flow> {
    Flow::from_token(uri.param(name).flatten()?)
}

/// An RFC 1123 date (RFC 3261 §20.17) for `Date`.
fn http_date(unix: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil from days (H. Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let wd = DAYS.get(usize::try_from(days.rem_euclid(7)).unwrap_or(0)).copied().unwrap_or("Thu");
    let mon = MONTHS.get(usize::try_from(m - 1).unwrap_or(0)).copied().unwrap_or("Jan");
    format!("{wd}, {d:02} {mon} {y:04} {:02}:{:02}:{:02} GMT", secs / 3600, secs % 3600 / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn http_dates() {
        assert_eq!(super::http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(super::http_date(1_741_608_000), "Mon, 10 Mar 2025 12:00:00 GMT");
    }
}
