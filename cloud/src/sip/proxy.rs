//! INVITE routing: the numbering plan, ring groups (parallel forking), the carrier trunk, and
//! the call record of every call.
//!
//! Dialled from a phone of site S (digest-authenticated with `Proxy-Authorization`):
//! an emergency number, `0…` or `00…` go to the carrier with the site's public number as
//! caller id; `8` + site code + number goes to that site's extension or ring group (on-net);
//! anything else is an extension or ring group of S. From the carrier, the Request-URI's
//! number is a DID. An extension rings every binding it has; a ring group every binding of
//! every member, in parallel: the first 2xx wins and the other branches are CANCELled
//! (RFC 3261 §16.7 step 10).
//!
//! Answers: unknown number 404, nobody registered 480, busy 486 passed through, no answer
//! within the ring timeout 480 (the branches are CANCELled), no response at all 408, full
//! tables 503 with Retry-After. Every outcome becomes a call record.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use carillon_protocol::{parse, Framing, Header, HeaderKind, Message, ParseConfig, Status};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::build::{self, Fwd};
use super::server::{Core, Ctx, Dialog};
use super::transport::{Flow, Transport};
use super::txn::{ClientEvent, ClientTxn};
use super::{AuthError, Redacted};
use crate::model::{CallEvent, Direction, Extension, Outcome};
use crate::store::SiteNumber;
use crate::store::StoreError;

/// How long a call forwarded by another node may ring here: that node's own timer decides
/// (it CANCELs); this only bounds a call whose first node went away.
const PEER_RING_SECS: u64 = 180;

/// Who places the call.
enum Origin {
    Extension(Extension),
    Carrier,
    /// Another node (trusted inter-node traffic, see `cluster`), by its id.
    Peer(String),
}

/// One place to ring.
#[derive(Clone, Debug)]
struct Target {
    uri: String,
    routes: Vec<String>,
    flow: Flow,
    trunk: bool,
    /// Another node, which delivers the call through its own bindings.
    peer: bool,
}

/// A routed call.
struct Plan {
    site_id: i64,
    caller: String,
    callee: String,
    direction: Direction,
    targets: Vec<Target>,
    ring: Duration,
    caller_id: Option<String>,
    /// Whether this node writes the call's record (not for calls another node forwarded).
    record: bool,
}

/// A refusal with its record.
struct Refuse {
    code: u16,
    reason: &'static str,
    /// The site to bill the record to, when known.
    site_id: Option<i64>,
    outcome: Outcome,
}

impl Refuse {
    fn new(code: u16, reason: &'static str, site_id: Option<i64>) -> Refuse {
        Refuse { code, reason, site_id, outcome: Outcome::Failed }
    }
}

impl From<StoreError> for Refuse {
    fn from(e: StoreError) -> Refuse {
        tracing::error!(error = %e, "store failed while routing");
        Refuse::new(500, "Server Internal Error", None)
    }
}

/// What a branch reports to its call.
enum BranchEvent {
    Provisional(Vec<u8>),
    Success(Vec<u8>),
    Failure(u16, Option<Vec<u8>>),
}

impl Core {
    /// An initial INVITE.
    pub(crate) async fn invite(self: &Arc<Self>, ctx: &Ctx, msg: &Message<'_, '_>) {
        self.reply(ctx, msg, 100, "Trying", &[]).await;
        let now = self.clock.unix_now();
        let peer = self.cluster.as_ref().and_then(|c| {
            let mark = msg.header_named(super::cluster::NODE_HEADER.as_bytes())?;
            c.verify(&ctx.flow, mark.value, msg.call_id().unwrap_or_default())
        });
        let origin = match (&self.cfg.trunk, peer) {
            (_, Some(node)) => Origin::Peer(node),
            (Some(t), None) if t.is_carrier(&ctx.flow) => Origin::Carrier,
            _ => {
                let creds: Vec<Vec<u8>> =
                    msg.headers_of(HeaderKind::ProxyAuthorization).map(|h| h.value.to_vec()).collect();
                match self.auth.check(&self.store, &creds, "INVITE", now).await {
                    Ok(c) => Origin::Extension(c.extension),
                    Err(e) if e.challenge() => {
                        let ch = self.auth.challenges(now, matches!(e, AuthError::Stale));
                        let extra: Vec<(&str, &[u8])> = ch.iter().map(|c| ("Proxy-Authenticate", &c[..])).collect();
                        self.reply(ctx, msg, 407, "Proxy Authentication Required", &extra).await;
                        return;
                    }
                    Err(e) => {
                        let (code, reason) = e.status();
                        self.reply(ctx, msg, code, reason, &[]).await;
                        return;
                    }
                }
            }
        };
        let dialled = msg
            .request_uri()
            .and_then(Result::ok)
            .and_then(|u| u.user.map(|u| String::from_utf8_lossy(u).into_owned()))
            .unwrap_or_default();
        let caller_user = msg
            .from()
            .and_then(Result::ok)
            .and_then(|f| f.uri.user.map(|u| String::from_utf8_lossy(u).into_owned()))
            .unwrap_or_else(|| "anonymous".into());
        let plan = match self.route(&origin, &dialled, &caller_user).await {
            Ok(p) => p,
            Err(r) => {
                tracing::info!(code = r.code, dialled = %Redacted(&dialled), "call refused");
                self.reply(ctx, msg, r.code, r.reason, &[]).await;
                if let Some(site) = r.site_id {
                    let (caller, callee, direction) = match &origin {
                        Origin::Extension(e) => (e.number.clone(), dialled.clone(), Direction::Outbound),
                        Origin::Carrier | Origin::Peer(_) => (caller_user.clone(), dialled.clone(), Direction::Inbound),
                    };
                    let call = CallEvent {
                        caller,
                        callee,
                        direction,
                        started_at: now,
                        answered_at: None,
                        ended_at: now,
                        outcome: r.outcome,
                    };
                    self.record(site, sanitize(call)).await;
                }
                return;
            }
        };
        // The calls table is checked once the call is known (authenticated and routed), so a
        // call refused for capacity gets its record like any other refusal.
        let max = self.cfg.max_calls;
        if self.calls.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1)).is_err() {
            self.overloaded(ctx, msg, "calls").await;
            if plan.record {
                let call = CallEvent {
                    caller: plan.caller.clone(),
                    callee: plan.callee.clone(),
                    direction: plan.direction,
                    started_at: now,
                    answered_at: None,
                    ended_at: now,
                    outcome: Outcome::Failed,
                };
                self.record(plan.site_id, sanitize(call)).await;
            }
            return;
        }
        self.run_call(ctx, msg, plan, now).await;
    }

    /// Where a dialled number goes.
    async fn route(&self, origin: &Origin, dialled: &str, caller_user: &str) -> Result<Plan, Refuse> {
        let plan = &self.store.options().plan;
        match origin {
            Origin::Peer(node) => {
                // The Request-URI's user is the extension's SIP username; only this node's
                // own bindings are rung (never forwarded again).
                let now = self.clock.unix_now();
                let targets: Vec<Target> =
                    self.location.lookup(dialled, now).iter().map(|b| self.local_target(b)).collect();
                tracing::debug!(from = %node, user = %Redacted(dialled), targets = targets.len(), "call from another node");
                if targets.is_empty() {
                    return Err(Refuse::new(480, "Temporarily Unavailable", None));
                }
                Ok(Plan {
                    site_id: 0,
                    caller: caller_user.to_owned(),
                    callee: dialled.to_owned(),
                    direction: Direction::Inbound,
                    targets,
                    ring: Duration::from_secs(PEER_RING_SECS),
                    caller_id: None,
                    record: false,
                })
            }
            Origin::Carrier => {
                let did = normalize_did(dialled, &plan.country_code, &plan.national_prefix, &plan.international_prefix);
                let did = match self.store.did_by_number(&did).await {
                    Ok(d) => d,
                    Err(StoreError::NotFound(_)) => return Err(Refuse::new(404, "Not Found", None)),
                    Err(e) => return Err(e.into()),
                };
                let number = match did.target {
                    crate::model::DidTarget::Extension(id) => {
                        SiteNumber::Extension(self.store.get_extension(id).await?)
                    }
                    crate::model::DidTarget::RingGroup(id) => {
                        SiteNumber::RingGroup(self.store.get_ring_group(id).await?)
                    }
                };
                let (targets, ring) = self.ring(&number, did.site_id).await?;
                Ok(Plan {
                    site_id: did.site_id,
                    caller: caller_user.to_owned(),
                    callee: did.number.clone(),
                    direction: Direction::Inbound,
                    targets,
                    ring,
                    caller_id: None,
                    record: true,
                })
            }
            Origin::Extension(ext) => {
                let site = ext.site_id;
                let digits = dialled;
                let public = plan.emergency.iter().any(|e| e == digits)
                    || (!plan.international_prefix.is_empty() && digits.starts_with(&plan.international_prefix))
                    || (!plan.national_prefix.is_empty() && digits.starts_with(&plan.national_prefix))
                    || digits.starts_with('+');
                let base = |targets, ring, caller_id| Plan {
                    site_id: site,
                    caller: ext.number.clone(),
                    callee: digits.to_owned(),
                    direction: Direction::Outbound,
                    targets,
                    ring,
                    caller_id,
                    record: true,
                };
                if public {
                    let Some(trunk) = &self.cfg.trunk else {
                        return Err(Refuse::new(503, "Service Unavailable (no carrier trunk)", Some(site)));
                    };
                    if digits.len() > 32 || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'+') {
                        return Err(Refuse::new(484, "Address Incomplete", Some(site)));
                    }
                    let caller_id = self.store.site_public_number(site).await?;
                    let target = Target {
                        uri: format!("sip:{digits}@{}", trunk.domain()),
                        routes: vec![],
                        flow: trunk.flow(),
                        trunk: true,
                        peer: false,
                    };
                    return Ok(base(vec![target], Duration::from_secs(self.cfg.ring_timeout_secs.max(60)), caller_id));
                }
                let code_len = plan.site_code_len;
                let (site_id, number) = match digits.strip_prefix(plan.on_net_prefix.as_str()) {
                    Some(rest) if !plan.on_net_prefix.is_empty() && rest.len() > code_len => {
                        let (code, number) = rest.split_at(code_len);
                        match self.store.site_by_code(code).await {
                            Ok(s) => (s.id, number),
                            Err(StoreError::NotFound(_)) => return Err(Refuse::new(404, "Not Found", Some(site))),
                            Err(e) => return Err(e.into()),
                        }
                    }
                    _ => (site, digits),
                };
                let Some(found) = self.store.number_in_site(site_id, number).await? else {
                    return Err(Refuse::new(404, "Not Found", Some(site)));
                };
                let (targets, ring) = self.ring(&found, site).await.map_err(|mut r| {
                    r.site_id = Some(site);
                    r
                })?;
                Ok(base(targets, ring, None))
            }
        }
    }

    /// The bindings to ring for an extension or ring group, and for how long.
    async fn ring(&self, number: &SiteNumber, bill_site: i64) -> Result<(Vec<Target>, Duration), Refuse> {
        let now = self.clock.unix_now();
        let (exts, secs) = match number {
            SiteNumber::Extension(e) => (vec![e.clone()], self.cfg.ring_timeout_secs),
            SiteNumber::RingGroup(g) => {
                let mut v = Vec::new();
                for id in &g.members {
                    v.push(self.store.get_extension(*id).await?);
                }
                (v, u64::try_from(g.timeout_secs).unwrap_or(30))
            }
        };
        let mut targets = Vec::new();
        for e in &exts {
            for b in self.location.lookup(&e.sip_username, now) {
                targets.push(self.local_target(&b));
            }
            targets.extend(self.remote_targets(&e.sip_username, now).await);
        }
        if targets.is_empty() {
            let mut r = Refuse::new(480, "Temporarily Unavailable", Some(bill_site));
            r.outcome = Outcome::Failed;
            return Err(r);
        }
        Ok((targets, Duration::from_secs(secs.max(1))))
    }

    /// A binding of this node's location service as a place to ring.
    fn local_target(&self, b: &super::location::Binding) -> Target {
        Target { uri: b.contact.clone(), routes: b.path.clone(), flow: self.binding_flow(b), trunk: false, peer: false }
    }

    /// The other nodes that hold bindings of `username` (multi-node mode: the registry, under
    /// live leases), each as one place to ring over TCP. A node that cannot be reached now is
    /// left out (logged), as is every node when the registry cannot be read.
    async fn remote_targets(&self, username: &str, now: i64) -> Vec<Target> {
        let Some(c) = &self.cluster else { return Vec::new() };
        let nodes = match self.store.presence_lookup(username, &c.node_id, now).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the node registry; ringing this node's bindings only");
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for n in nodes {
            let Ok(addr) = n.sip_addr.parse::<std::net::SocketAddr>() else {
                tracing::warn!(node = %n.node_id, addr = %n.sip_addr, "node registry holds a bad SIP address");
                continue;
            };
            match self.transports.tcp_flow(addr).await {
                Ok(flow) => out.push(Target {
                    uri: format!("sip:{username}@{addr};transport=tcp"),
                    routes: vec![],
                    flow,
                    trunk: false,
                    peer: true,
                }),
                Err(e) => tracing::warn!(node = %n.node_id, %addr, error = %e, "node in the registry is unreachable"),
            }
        }
        out
    }

    /// Where to send a request for a binding: through its box (the REGISTER's flow) when it
    /// has a Path, over the same connection for stream flows (RFC 5626 reuse), else to the
    /// Contact's address over UDP (a phone registered directly), or back to where the
    /// REGISTER came from when the Contact does not resolve.
    fn binding_flow(&self, b: &super::location::Binding) -> Flow {
        if !b.path.is_empty() || b.flow.transport != Transport::Udp {
            return b.flow;
        }
        carillon_protocol::Uri::parse(b.contact.as_bytes())
            .ok()
            .and_then(|u| self.resolve(&u))
            .filter(|f| f.transport == Transport::Udp)
            .unwrap_or(b.flow)
    }

    /// Forks to every target and relays the outcome upstream.
    async fn run_call(self: &Arc<Self>, ctx: &Ctx, msg: &Message<'_, '_>, plan: Plan, started_at: i64) {
        let (cancel_tx, mut cancel_rx) = mpsc::channel(1);
        let already_cancelled = !self.txns.server_on_cancel(&ctx.key, cancel_tx);
        let (ev_tx, mut ev_rx) = mpsc::channel::<(usize, BranchEvent)>(64);
        let (stop_tx, stop_rx) = watch::channel(false);
        let orig = Arc::new(msg.bytes.to_vec());
        let call_id = String::from_utf8_lossy(msg.call_id().unwrap_or_default()).into_owned();
        let from_tag =
            msg.from().and_then(Result::ok).and_then(|f| f.tag().map(|t| String::from_utf8_lossy(t).into_owned()));
        for (i, t) in plan.targets.iter().enumerate() {
            let from = match (&plan.caller_id, t.trunk) {
                (Some(num), true) => Some(format!(
                    "<sip:{num}@{}>{}",
                    self.host,
                    from_tag.as_ref().map(|t| format!(";tag={t}")).unwrap_or_default()
                )),
                _ => None,
            };
            let pai = plan.caller_id.as_ref().filter(|_| t.trunk).map(|n| format!("<sip:{n}@{}>", self.host));
            let spec = BranchSpec { target: t.clone(), ctx_flow: ctx.flow, from, pai };
            tokio::spawn(self.clone().branch(i, spec, orig.clone(), ev_tx.clone(), stop_rx.clone()));
        }
        drop(ev_tx);
        if already_cancelled {
            let _ = stop_tx.send(true);
        }
        let deadline = Instant::now() + plan.ring;
        let mut best: Option<(u16, Option<Vec<u8>>)> = None;
        let mut answered_at: Option<i64> = None;
        let (mut cancelled, mut timed_out) = (already_cancelled, false);
        loop {
            tokio::select! {
                ev = ev_rx.recv() => match ev {
                    None => break,
                    Some((_, BranchEvent::Provisional(b))) => {
                        if answered_at.is_none() && !cancelled && !timed_out {
                            self.upstream(ctx, &b, None).await;
                        }
                    }
                    Some((i, BranchEvent::Success(b))) => {
                        // Every 2xx goes upstream (RFC 3261 §16.7 step 10); the first wins.
                        self.upstream(ctx, &b, Some(200)).await;
                        if answered_at.is_none() {
                            let now = self.clock.unix_now();
                            answered_at = Some(now);
                            let _ = stop_tx.send(true);
                            // Inter-node connections are not a leg's own: they carry every
                            // call between two nodes and reconnect on their own.
                            let callee_leg = plan.targets.get(i).filter(|t| !t.peer).map(|t| t.flow);
                            let legs = [Some(ctx.flow), callee_leg];
                            let flows = legs.into_iter().flatten().filter(|f| f.transport != Transport::Udp).collect();
                            self.dialogs().insert(call_id.clone(), Dialog {
                                site_id: plan.site_id,
                                caller: plan.caller.clone(),
                                callee: plan.callee.clone(),
                                direction: plan.direction,
                                started_at,
                                answered_at: now,
                                record: plan.record,
                                flows,
                                orphaned_at: None,
                            });
                        }
                    }
                    Some((_, BranchEvent::Failure(code, b))) => {
                        if better(code, best.as_ref().map(|x| x.0)) {
                            best = Some((code, b));
                        }
                    }
                },
                _ = cancel_rx.recv(), if !cancelled && answered_at.is_none() => {
                    cancelled = true;
                    let _ = stop_tx.send(true);
                    break;
                }
                () = tokio::time::sleep_until(deadline), if !timed_out && answered_at.is_none() && !cancelled => {
                    timed_out = true;
                    let _ = stop_tx.send(true);
                    break;
                }
            }
        }
        if answered_at.is_some() {
            return;
        }
        self.calls.fetch_sub(1, Ordering::Relaxed);
        let (outcome, code) = if cancelled {
            self.reply(ctx, msg, 487, "Request Terminated", &[]).await;
            (Outcome::Cancelled, 487)
        } else if timed_out {
            self.reply(ctx, msg, 480, "Temporarily Unavailable (no answer)", &[]).await;
            (Outcome::NoAnswer, 480)
        } else {
            match best {
                Some((code, Some(b))) => {
                    self.upstream(ctx, &b, Some(code)).await;
                    (outcome_of(code), code)
                }
                Some((code, None)) => {
                    let reason = if code == 408 { "Request Timeout" } else { "Service Unavailable" };
                    self.reply(ctx, msg, code, reason, &[]).await;
                    (outcome_of(code), code)
                }
                None => {
                    self.reply(ctx, msg, 408, "Request Timeout", &[]).await;
                    (Outcome::NoAnswer, 408)
                }
            }
        };
        tracing::info!(code, callee = %Redacted(&plan.callee), "call not answered");
        if !plan.record {
            return;
        }
        let now = self.clock.unix_now();
        let call = CallEvent {
            caller: plan.caller,
            callee: plan.callee,
            direction: plan.direction,
            started_at,
            answered_at: None,
            ended_at: now.max(started_at),
            outcome,
        };
        self.record(plan.site_id, sanitize(call)).await;
    }

    /// Sends a downstream response upstream without our Via; a final one is remembered for
    /// retransmitted INVITEs.
    async fn upstream(&self, ctx: &Ctx, bytes: &[u8], final_code: Option<u16>) {
        let mut h = [Header::EMPTY; 96];
        let Ok(Status::Complete(resp)) = parse(bytes, &mut h, Framing::Datagram, &ParseConfig::DEFAULT) else { return };
        let Some(out) = build::pop_via(&resp) else { return };
        if let Some(code) = final_code {
            self.txns.server_reply(&ctx.key, code, &out);
        }
        self.send(&ctx.flow, out).await;
    }

    /// One branch of a call: sends the INVITE, reports responses, CANCELs when told to, ACKs
    /// non-2xx finals, and answers the carrier's digest challenge once.
    async fn branch(
        self: Arc<Self>,
        idx: usize,
        spec: BranchSpec,
        orig: Arc<Vec<u8>>,
        events: mpsc::Sender<(usize, BranchEvent)>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut auth: Option<(&'static str, String)> = None;
        'attempt: for _attempt in 0..2 {
            let branch = build::branch();
            let Some(bytes) = self.branch_request(&spec, &orig, &branch, auth.clone()) else {
                let _ = events.send((idx, BranchEvent::Failure(500, None))).await;
                return;
            };
            let fwd = bytes.clone();
            let Some(mut txn) =
                ClientTxn::start(&self.txns, &self.transports, spec.target.flow, &branch, "INVITE", bytes).await
            else {
                let _ = events.send((idx, BranchEvent::Failure(503, None))).await;
                return;
            };
            let mut provisional = false;
            let mut cancelled = false;
            loop {
                tokio::select! {
                    ev = txn.next() => match ev {
                        ClientEvent::Timeout => {
                            let _ = events.send((idx, BranchEvent::Failure(408, None))).await;
                            return;
                        }
                        ClientEvent::Response(r) if r.code < 200 => {
                            provisional = true;
                            if *stop.borrow() && !cancelled {
                                cancelled = true;
                                self.cancel_branch(&spec, &fwd, &mut txn).await;
                            }
                            if r.code > 100 {
                                let _ = events.send((idx, BranchEvent::Provisional(r.bytes))).await;
                            }
                        }
                        ClientEvent::Response(r) if r.code < 300 => {
                            let _ = events.send((idx, BranchEvent::Success(r.bytes))).await;
                            return;
                        }
                        ClientEvent::Response(r) => {
                            let mut h1 = [Header::EMPTY; 96];
                            let mut h2 = [Header::EMPTY; 96];
                            let parsed = (
                                parse(&fwd, &mut h1, Framing::Datagram, &ParseConfig::DEFAULT),
                                parse(&r.bytes, &mut h2, Framing::Datagram, &ParseConfig::DEFAULT),
                            );
                            if let (Ok(Status::Complete(inv)), Ok(Status::Complete(resp))) = parsed {
                                if let Some(ack) = build::ack(&inv, &resp) {
                                    self.send(&spec.target.flow, ack).await;
                                }
                                if spec.target.trunk && auth.is_none() && !*stop.borrow() && matches!(r.code, 401 | 407) {
                                    if let Some(a) = self.cfg.trunk.as_ref().and_then(|t| t.answer(&resp, "INVITE", &spec.target.uri)) {
                                        auth = Some(a);
                                        continue 'attempt;
                                    }
                                }
                            }
                            let _ = events.send((idx, BranchEvent::Failure(r.code, Some(r.bytes)))).await;
                            return;
                        }
                    },
                    res = stop.changed(), if !cancelled => {
                        if res.is_err() || *stop.borrow() {
                            if provisional {
                                cancelled = true;
                                self.cancel_branch(&spec, &fwd, &mut txn).await;
                            } else if res.is_err() {
                                return;
                            }
                            // Without a provisional response, the CANCEL waits for one
                            // (RFC 3261 §9.1); see the provisional arm.
                        }
                    }
                }
            }
        }
    }

    /// The INVITE of one branch.
    fn branch_request(
        &self,
        spec: &BranchSpec,
        orig: &[u8],
        branch: &str,
        auth: Option<(&'static str, String)>,
    ) -> Option<Vec<u8>> {
        let mut h = [Header::EMPTY; 96];
        let Ok(Status::Complete(msg)) = parse(orig, &mut h, Framing::Datagram, &ParseConfig::DEFAULT) else {
            return None;
        };
        let t = &spec.target;
        // Our Record-Route carries both flows of the dialog, so in-dialog requests find
        // their way back over the same connections (a box's flow above all).
        let rr = format!(
            "<sip:{};transport={};lr;fa={};fb={}>",
            self.hostport(t.flow.transport),
            t.flow.transport.as_str().to_ascii_lowercase(),
            spec.ctx_flow.token(),
            t.flow.token()
        );
        // Our own Route entries (a phone's pre-loaded outbound proxy) are removed.
        let pop = build::values(&msg, HeaderKind::Route)
            .iter()
            .take_while(|r| carillon_protocol::NameAddr::parse(r).is_ok_and(|na| self.is_ours(&na.uri)))
            .count();
        let mut extra = Vec::new();
        if let Some(p) = &spec.pai {
            extra.push(("P-Asserted-Identity", p.clone()));
        }
        if let Some((n, v)) = auth {
            extra.push((n, v));
        }
        if t.peer {
            if let Some(c) = &self.cluster {
                extra.push((super::cluster::NODE_HEADER, c.mark(msg.call_id().unwrap_or_default())));
            }
        }
        let fwd = Fwd {
            uri: Some(t.uri.clone()),
            via: self.via(t.flow.transport, branch),
            received: Some(spec.ctx_flow),
            record_route: Some(rr),
            pop_routes: pop,
            routes: t.routes.clone(),
            from: spec.from.clone(),
            extra,
            drop: vec![HeaderKind::ProxyAuthorization, HeaderKind::Authorization],
        };
        build::forward(&msg, &fwd)
    }

    /// Sends a CANCEL for a branch and waits (in the background) for its answer.
    async fn cancel_branch(&self, spec: &BranchSpec, invite: &[u8], txn: &mut ClientTxn) {
        let mut h = [Header::EMPTY; 96];
        let Ok(Status::Complete(inv)) = parse(invite, &mut h, Framing::Datagram, &ParseConfig::DEFAULT) else { return };
        let Some(cancel) = build::cancel(&inv) else { return };
        let Some(Ok(via)) = inv.top_via() else { return };
        let branch = String::from_utf8_lossy(via.branch().unwrap_or_default()).into_owned();
        if let Some(mut c) =
            ClientTxn::start(&self.txns, &self.transports, spec.target.flow, &branch, "CANCEL", cancel).await
        {
            tokio::spawn(async move {
                while let ClientEvent::Response(r) = c.next().await {
                    if r.code >= 200 {
                        break;
                    }
                }
            });
        }
        // The INVITE gets its 487 within 64·T1 or is given up (RFC 3261 §9.1).
        txn.set_deadline(Instant::now() + super::txn::TIMEOUT);
    }
}

/// What a branch needs besides the original INVITE.
struct BranchSpec {
    target: Target,
    ctx_flow: Flow,
    from: Option<String>,
    pai: Option<String>,
}

/// RFC 3261 §16.7 step 6, simplified: a 6xx beats all; otherwise the lowest class, and in a
/// class the first; 408/503 we made up rank below real answers.
fn better(code: u16, best: Option<u16>) -> bool {
    let rank = |c: u16| match c {
        600..=699 => 0,
        c if c >= 300 && c != 408 && c != 503 => c / 100,
        _ => 9,
    };
    best.is_none_or(|b| rank(code) < rank(b))
}

fn outcome_of(code: u16) -> Outcome {
    match code {
        486 | 600 => Outcome::Busy,
        408 | 480 | 487 => Outcome::NoAnswer,
        _ => Outcome::Failed,
    }
}

/// Call records take 1..=64 printable ASCII characters per party.
fn sanitize(mut c: CallEvent) -> CallEvent {
    let fix = |s: &mut String| {
        s.retain(|ch| ch.is_ascii_graphic());
        s.truncate(64);
        if s.is_empty() {
            *s = "unknown".into();
        }
    };
    fix(&mut c.caller);
    fix(&mut c.callee);
    c
}

/// A carrier's called number in E.164: `+…` as is, `00…` international, `0…` national,
/// other digits taken as E.164 without the `+`.
fn normalize_did(n: &str, cc: &str, national: &str, international: &str) -> String {
    if n.starts_with('+') {
        return n.to_owned();
    }
    if !international.is_empty() {
        if let Some(rest) = n.strip_prefix(international) {
            return format!("+{rest}");
        }
    }
    if !national.is_empty() {
        if let Some(rest) = n.strip_prefix(national) {
            return format!("+{cc}{rest}");
        }
    }
    format!("+{n}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dids_normalize() {
        assert_eq!(normalize_did("+3221234567", "32", "0", "00"), "+3221234567");
        assert_eq!(normalize_did("003221234567", "32", "0", "00"), "+3221234567");
        assert_eq!(normalize_did("021234567", "32", "0", "00"), "+3221234567");
        assert_eq!(normalize_did("3221234567", "32", "0", "00"), "+3221234567");
    }

    #[test]
    fn best_response() {
        assert!(better(486, None));
        assert!(better(486, Some(503)));
        assert!(better(603, Some(486)));
        assert!(!better(404, Some(486)));
        assert!(!better(408, Some(480)));
    }
}
