//! A simulated phone for the tour: a small SIP user agent over UDP.
//!
//! It sends everything to one outbound proxy (the box's LAN port), as a desk phone configured
//! with the box as its SIP server does. As a client it registers and places calls, answering
//! digest challenges (401 or 407) with [`carillon_protocol::digest`]; requests are retransmitted
//! per RFC 3261 §17.1.1.2 / §17.1.2.2 (Timer A / E: T1 doubling, capped at T2 for non-INVITE,
//! INVITE retransmissions stop at the first provisional response), and a transaction gives up
//! after [`GIVE_UP`] with a clear error. As a server it answers on its own: 180 then 200 to an
//! INVITE (Record-Route copied, RFC 3261 §12.1.1), 200 to BYE, OPTIONS and CANCEL; its 200 to
//! an INVITE is retransmitted until the ACK comes (Timer G, §13.3.1.4).
//!
//! Every message received is parsed with [`carillon_protocol::parse`]; one that does not parse
//! is logged and dropped, never trusted.

use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use carillon_protocol::digest::{Challenge, CredentialsParams, Secret};
use carillon_protocol::{parse, Framing, Header, HeaderKind, ParseConfig, StartLine, Status};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// RFC 3261 T1: the first retransmission interval.
const T1: Duration = Duration::from_millis(500);
/// RFC 3261 T2: the longest retransmission interval of a non-INVITE request.
const T2: Duration = Duration::from_secs(4);
/// How long a client transaction waits for its final response. RFC 3261's Timer B/F is 64·T1
/// (32 s); the tour runs on loopback with a person watching, so it says so sooner.
pub const GIVE_UP: Duration = Duration::from_secs(8);
/// Header lines read from one message.
const MAX_HEADERS: usize = 64;
/// Responses kept to answer retransmitted requests, and pending client transactions.
const MAX_KEPT: usize = 64;

/// What a phone knows about its account.
#[derive(Clone, Debug)]
pub struct Account {
    /// The extension number (what others dial).
    pub number: String,
    /// The SIP username.
    pub username: String,
    /// The SIP password.
    pub password: String,
    /// The realm / domain.
    pub domain: String,
}

/// A message received, parsed and copied out of the datagram.
#[derive(Clone, Debug)]
pub struct Msg {
    /// Status code of a response.
    pub code: Option<u16>,
    /// Reason phrase of a response.
    pub reason: String,
    /// Method of a request.
    pub method: Option<String>,
    headers: Vec<(HeaderKind, String)>,
    /// Branch of the top Via.
    pub branch: Option<String>,
    /// CSeq number and method.
    pub cseq: Option<(u32, String)>,
    /// To tag.
    pub to_tag: Option<String>,
    /// First Contact URI.
    pub contact_uri: Option<String>,
    /// Record-Route entries, top first, each as `<uri>`.
    pub record_route: Vec<String>,
}

impl Msg {
    /// Parses one datagram.
    pub fn parse(bytes: &[u8]) -> Result<Msg, String> {
        let mut hs = [Header::EMPTY; MAX_HEADERS];
        let m = match parse(bytes, &mut hs, Framing::Datagram, &ParseConfig::default()) {
            Ok(Status::Complete(m)) => m,
            Ok(Status::Partial) => return Err("an empty datagram (keep-alive)".into()),
            Err(e) => return Err(e.to_string()),
        };
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let (code, reason, method) = match m.start {
            StartLine::Request { method, .. } => (None, String::new(), Some(method.as_str().to_owned())),
            StartLine::Response { code, reason } => (Some(code), text(reason), None),
        };
        let branch = m.top_via().and_then(Result::ok).and_then(|v| v.branch().map(text));
        let cseq = m.cseq().and_then(Result::ok).map(|c| (c.seq, c.method.as_str().to_owned()));
        let to_tag = m.to().and_then(Result::ok).and_then(|t| t.tag().map(text));
        let contact_uri = m.contacts().find_map(|c| match c {
            Ok(carillon_protocol::Contact::Addr(a)) => Some(text(a.uri.raw)),
            _ => None,
        });
        let record_route = m.record_routes().filter_map(Result::ok).map(|r| format!("<{}>", text(r.uri.raw))).collect();
        Ok(Msg {
            code,
            reason,
            method,
            headers: m.headers.iter().map(|h| (h.kind, text(&bytes_of(h, &m)))).collect(),
            branch,
            cseq,
            to_tag,
            contact_uri,
            record_route,
        })
    }

    /// The first value of a header.
    pub fn header(&self, kind: HeaderKind) -> Option<&str> {
        self.headers.iter().find(|h| h.0 == kind).map(|h| value_of(&h.1))
    }

    /// Every line of a header, whole (`Name: value`), in order.
    fn lines(&self, kind: HeaderKind) -> impl Iterator<Item = &str> {
        self.headers.iter().filter(move |h| h.0 == kind).map(|h| h.1.as_str())
    }

    /// One line saying what it is, for errors.
    pub fn summary(&self) -> String {
        match (&self.code, &self.method) {
            (Some(c), _) => format!("{c} to {}", self.cseq.as_ref().map_or("?", |c| c.1.as_str())),
            (None, Some(m)) => m.clone(),
            _ => "?".into(),
        }
    }
}

/// The whole header line (name and value) as received.
fn bytes_of<'a>(h: &Header<'a>, m: &carillon_protocol::Message<'_, 'a>) -> Vec<u8> {
    let start = usize::try_from(h.line_start).unwrap_or(usize::MAX);
    let end = usize::try_from(h.line_end).unwrap_or(usize::MAX);
    let line = m.bytes.get(start..end).unwrap_or(&[]);
    let mut v = line.to_vec();
    while v.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        v.pop();
    }
    v
}

fn value_of(line: &str) -> &str {
    line.split_once(':').map_or("", |(_, v)| v.trim())
}

/// A call this phone placed and that was answered.
#[derive(Debug)]
pub struct Call {
    call_id: String,
    from_tag: String,
    to_header: String,
    remote_target: String,
    route: Vec<String>,
    cseq: u32,
    /// From the first INVITE to the 200.
    pub setup: Duration,
    /// The final status of each INVITE sent (e.g. `[407, 200]`).
    pub statuses: Vec<u16>,
    /// Whether a 180 Ringing came.
    pub ringing: bool,
}

/// Why a call failed.
#[derive(Debug)]
pub enum CallError {
    /// A final response other than 2xx: its status and reason, and every final status seen.
    Refused(u16, String, Vec<u16>),
    /// Something else (no answer in time, a broken answer).
    Other(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Refused(code, reason, all) => write!(f, "refused with {code} {reason} (responses: {all:?})"),
            CallError::Other(s) => f.write_str(s),
        }
    }
}

type Pending = Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Msg>>>>;

/// What the phone's server side saw.
#[derive(Debug, Default)]
struct Seen {
    invites: u64,
    answered: u64,
    byes: u64,
    acks: u64,
}

/// One simulated phone.
pub struct Phone {
    account: Account,
    sock: Arc<UdpSocket>,
    local: SocketAddr,
    proxy: SocketAddr,
    pending: Pending,
    seen: Arc<Mutex<Seen>>,
    next: AtomicU64,
    registers: AtomicU32,
    reg_call_id: String,
    reg_cseq: AtomicU32,
    rx: JoinHandle<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Phone {
    /// A phone on a UDP port picked by the OS on 127.0.0.1, using `proxy` as its SIP server.
    pub async fn start(account: Account, proxy: SocketAddr) -> std::io::Result<Phone> {
        let sock = Arc::new(UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?);
        let local = sock.local_addr()?;
        let pending: Pending = Arc::default();
        let seen: Arc<Mutex<Seen>> = Arc::default();
        let rx = tokio::spawn(receive(sock.clone(), local, account.username.clone(), pending.clone(), seen.clone()));
        let reg_call_id = format!("reg-{}-{}@{local}", account.username, local.port());
        Ok(Phone {
            account,
            sock,
            local,
            proxy,
            pending,
            seen,
            next: AtomicU64::new(1),
            registers: AtomicU32::new(0),
            reg_call_id,
            reg_cseq: AtomicU32::new(0),
            rx,
        })
    }

    /// The extension number.
    pub fn number(&self) -> &str {
        &self.account.number
    }

    /// The SIP username.
    pub fn username(&self) -> &str {
        &self.account.username
    }

    /// REGISTER requests sent so far.
    pub fn registers_sent(&self) -> u32 {
        self.registers.load(Ordering::Relaxed)
    }

    /// INVITEs this phone answered with 200 so far.
    pub fn calls_answered(&self) -> u64 {
        lock(&self.seen).answered
    }

    /// BYEs this phone received so far.
    pub fn byes_received(&self) -> u64 {
        lock(&self.seen).byes
    }

    fn unique(&self, what: &str) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{what}{}x{}x{n}", self.local.port(), std::process::id())
    }

    /// Registers for `expires` seconds (answering the challenge); the final status.
    pub async fn register(&self, expires: u32) -> Result<u16, String> {
        let uri = format!("sip:{}", self.account.domain);
        let user = &self.account.username;
        let domain = &self.account.domain;
        let mut auth: Option<String> = None;
        let tag = self.unique("t");
        for _ in 0..2 {
            let cseq = self.reg_cseq.fetch_add(1, Ordering::Relaxed) + 1;
            let branch = format!("z9hG4bK{}", self.unique("r"));
            let req = format!(
                "REGISTER {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\nMax-Forwards: 70\r\n\
                 From: <sip:{user}@{domain}>;tag={tag}\r\nTo: <sip:{user}@{domain}>\r\nCall-ID: {cid}\r\n\
                 CSeq: {cseq} REGISTER\r\nContact: <sip:{user}@{local}>\r\nExpires: {expires}\r\n{auth}\
                 User-Agent: carillon-demo-phone\r\nContent-Length: 0\r\n\r\n",
                local = self.local,
                cid = self.reg_call_id,
                auth = auth.as_deref().map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default(),
            );
            self.registers.fetch_add(1, Ordering::Relaxed);
            let resp = self.transact(&req, &branch, false).await?;
            let code = resp.code.unwrap_or(0);
            if code == 401 && auth.is_none() {
                auth = Some(self.answer(&resp, HeaderKind::WwwAuthenticate, "REGISTER", &uri)?);
                continue;
            }
            return Ok(code);
        }
        Err("the registrar challenged the answer to its challenge".into())
    }

    /// The digest answer to the challenge in `resp`.
    fn answer(&self, resp: &Msg, kind: HeaderKind, method: &str, uri: &str) -> Result<String, String> {
        let value = resp.header(kind).ok_or_else(|| format!("a {} without a challenge", resp.summary()))?;
        let challenge =
            Challenge::parse(value.as_bytes()).map_err(|e| format!("a challenge that does not parse: {e}"))?;
        let cnonce = self.unique("c");
        let mut out = vec![0u8; 2048];
        let n = CredentialsParams {
            username: &self.account.username,
            secret: Secret::Password(self.account.password.as_bytes()),
            method,
            uri,
            cnonce: &cnonce,
            nc: 1,
        }
        .write(&challenge, &mut out)
        .map_err(|e| format!("cannot answer the challenge: {e}"))?;
        String::from_utf8(out.get(..n).unwrap_or_default().to_vec())
            .map_err(|_| "a challenge answer that is not UTF-8".into())
    }

    async fn send(&self, text: &str) -> Result<(), String> {
        self.sock
            .send_to(text.as_bytes(), self.proxy)
            .await
            .map(|_| ())
            .map_err(|e| format!("cannot send to {}: {e}", self.proxy))
    }

    fn watch(&self, branch: &str) -> Result<mpsc::UnboundedReceiver<Msg>, String> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut p = lock(&self.pending);
        if p.len() >= MAX_KEPT {
            return Err(format!("more than {MAX_KEPT} transactions pending"));
        }
        p.insert(branch.to_owned(), tx);
        Ok(rx)
    }

    fn unwatch(&self, branch: &str) {
        lock(&self.pending).remove(branch);
    }

    /// Sends a request and waits for its final response, retransmitting (Timer A / E).
    async fn transact(&self, req: &str, branch: &str, invite: bool) -> Result<Msg, String> {
        let mut rx = self.watch(branch)?;
        let r = self.transact_on(&mut rx, req, invite, &mut |_| {}).await;
        self.unwatch(branch);
        r
    }

    /// The same on a receiver already watching the branch; `on_provisional` sees each 1xx.
    async fn transact_on(
        &self,
        rx: &mut mpsc::UnboundedReceiver<Msg>,
        req: &str,
        invite: bool,
        on_provisional: &mut (dyn FnMut(&Msg) + Send),
    ) -> Result<Msg, String> {
        let started = Instant::now();
        let give_up = started + GIVE_UP;
        let mut interval = T1;
        let mut resend_at = Some(started + interval);
        self.send(req).await?;
        loop {
            let wake = resend_at.map_or(give_up, |r| r.min(give_up));
            tokio::select! {
                m = rx.recv() => {
                    let Some(m) = m else { return Err("the phone's receiver stopped".into()) };
                    match m.code {
                        Some(c) if c >= 200 => return Ok(m),
                        Some(_) => {
                            on_provisional(&m);
                            if invite {
                                resend_at = None;
                            } else {
                                interval = T2;
                            }
                        }
                        None => {}
                    }
                }
                () = tokio::time::sleep_until(wake.into()) => {
                    let now = Instant::now();
                    if now >= give_up {
                        let first = req.lines().next().unwrap_or("");
                        return Err(format!("no final response to {first} within {GIVE_UP:?} (from {})", self.proxy));
                    }
                    self.send(req).await?;
                    interval = if invite { interval * 2 } else { (interval * 2).min(T2) };
                    resend_at = Some(now + interval);
                }
            }
        }
    }

    /// Calls `number`; answers a 401/407 once; ACKs the 200. The call is up when this returns.
    pub async fn call(&self, number: &str) -> Result<Call, CallError> {
        let domain = &self.account.domain;
        let user = &self.account.username;
        let uri = format!("sip:{number}@{domain}");
        let call_id = format!("{}@{}", self.unique("call"), self.local);
        let from_tag = self.unique("f");
        let sdp = sdp(self.local, 49170);
        let started = Instant::now();
        let mut statuses = Vec::new();
        let mut ringing = false;
        let mut auth: Option<(HeaderKind, String)> = None;
        for cseq in 1..=2u32 {
            let branch = format!("z9hG4bK{}", self.unique("i"));
            let auth_line = match &auth {
                Some((HeaderKind::ProxyAuthenticate, a)) => format!("Proxy-Authorization: {a}\r\n"),
                Some((_, a)) => format!("Authorization: {a}\r\n"),
                None => String::new(),
            };
            let req = format!(
                "INVITE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\nMax-Forwards: 70\r\n\
                 From: <sip:{user}@{domain}>;tag={from_tag}\r\nTo: <sip:{number}@{domain}>\r\nCall-ID: {call_id}\r\n\
                 CSeq: {cseq} INVITE\r\nContact: <sip:{user}@{local}>\r\n{auth_line}User-Agent: carillon-demo-phone\r\n\
                 Content-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
                local = self.local,
                len = sdp.len(),
            );
            let mut rx = self.watch(&branch).map_err(CallError::Other)?;
            let result = self.transact_on(&mut rx, &req, true, &mut |m| ringing |= m.code == Some(180)).await;
            let resp = match result {
                Ok(r) => r,
                Err(e) => {
                    self.unwatch(&branch);
                    return Err(CallError::Other(e));
                }
            };
            let code = resp.code.unwrap_or(0);
            statuses.push(code);
            if (200..300).contains(&code) {
                let setup = started.elapsed();
                let to_header = match resp.lines(HeaderKind::To).next() {
                    Some(l) => value_of(l).to_owned(),
                    None => {
                        self.unwatch(&branch);
                        return Err(CallError::Other("a 200 without To".into()));
                    }
                };
                let remote_target = resp.contact_uri.clone().unwrap_or_else(|| uri.clone());
                // The UAC's route set is the Record-Route reversed (RFC 3261 §12.1.2).
                let route: Vec<String> = resp.record_route.iter().rev().cloned().collect();
                let call = Call { call_id, from_tag, to_header, remote_target, route, cseq, setup, statuses, ringing };
                let ack = self.in_dialog(&call, "ACK", cseq);
                self.send(&ack.0).await.map_err(CallError::Other)?;
                // 200 retransmissions (the ACK was lost) are ACKed again, for a moment.
                let me = self.sock.clone();
                let proxy = self.proxy;
                let pending = self.pending.clone();
                let ack_text = ack.0;
                tokio::spawn(async move {
                    let until = tokio::time::Instant::now() + GIVE_UP;
                    while let Ok(Some(m)) = tokio::time::timeout_at(until, rx.recv()).await {
                        if m.code.is_some_and(|c| (200..300).contains(&c)) {
                            let _ = me.send_to(ack_text.as_bytes(), proxy).await;
                        }
                    }
                    lock(&pending).remove(&branch);
                });
                return Ok(call);
            }
            // A non-2xx final response is ACKed in its own transaction (RFC 3261 §17.1.1.3).
            let ack = format!(
                "ACK {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\nMax-Forwards: 70\r\n\
                 From: <sip:{user}@{domain}>;tag={from_tag}\r\nTo: {to}\r\nCall-ID: {call_id}\r\n\
                 CSeq: {cseq} ACK\r\nContent-Length: 0\r\n\r\n",
                local = self.local,
                to = resp.lines(HeaderKind::To).next().map(value_of).unwrap_or_default(),
            );
            self.unwatch(&branch);
            self.send(&ack).await.map_err(CallError::Other)?;
            let kind = match code {
                401 => HeaderKind::WwwAuthenticate,
                407 => HeaderKind::ProxyAuthenticate,
                _ => return Err(CallError::Refused(code, resp.reason, statuses)),
            };
            if auth.is_some() {
                return Err(CallError::Refused(code, resp.reason, statuses));
            }
            auth = Some((kind, self.answer(&resp, kind, "INVITE", &uri).map_err(CallError::Other)?));
        }
        Err(CallError::Other(format!("no answer after the challenge (responses: {statuses:?})")))
    }

    /// An in-dialog request of `call` (ACK or BYE) and its branch.
    fn in_dialog(&self, call: &Call, method: &str, cseq: u32) -> (String, String) {
        let branch = format!("z9hG4bK{}", self.unique("d"));
        let routes: String = call.route.iter().map(|r| format!("Route: {r}\r\n")).collect();
        let text = format!(
            "{method} {target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\nMax-Forwards: 70\r\n\
             {routes}From: <sip:{user}@{domain}>;tag={tag}\r\nTo: {to}\r\nCall-ID: {cid}\r\nCSeq: {cseq} {method}\r\n\
             Content-Length: 0\r\n\r\n",
            target = call.remote_target,
            local = self.local,
            user = self.account.username,
            domain = self.account.domain,
            tag = call.from_tag,
            to = call.to_header,
            cid = call.call_id,
        );
        (text, branch)
    }

    /// Hangs up: BYE and its final status.
    pub async fn hang_up(&self, call: &Call) -> Result<u16, String> {
        let (bye, branch) = self.in_dialog(call, "BYE", call.cseq + 1);
        let resp = self.transact(&bye, &branch, false).await?;
        Ok(resp.code.unwrap_or(0))
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        self.rx.abort();
    }
}

fn sdp(local: SocketAddr, port: u16) -> String {
    let ip = local.ip();
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=carillon demo\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 8\r\n\
         a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=sendrecv\r\n"
    )
}

/// The phone's receiver: responses go to their client transaction, requests are answered.
async fn receive(sock: Arc<UdpSocket>, local: SocketAddr, user: String, pending: Pending, seen: Arc<Mutex<Seen>>) {
    let mut buf = vec![0u8; 65_536];
    // Responses already sent, by request branch, to answer retransmissions the same way.
    let mut answered: VecDeque<(String, String)> = VecDeque::new();
    // 200s to INVITEs not yet ACKed, by Call-ID: the task retransmitting each.
    let mut unacked: HashMap<String, JoinHandle<()>> = HashMap::new();
    loop {
        let (n, from) = match sock.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                // ICMP errors surface here on some systems; the socket stays usable.
                tracing::debug!(error = %e, "demo phone receive error");
                continue;
            }
        };
        let msg = match Msg::parse(buf.get(..n).unwrap_or_default()) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(%from, error = %e, "demo phone: message dropped");
                continue;
            }
        };
        if msg.code.is_some() {
            let Some(branch) = &msg.branch else { continue };
            let tx = lock(&pending).get(branch).cloned();
            if let Some(tx) = tx {
                let _ = tx.send(msg);
            }
            continue;
        }
        let method = msg.method.clone().unwrap_or_default();
        let call_id = msg.header(HeaderKind::CallId).unwrap_or_default().to_owned();
        if method == "ACK" {
            if let Some(t) = unacked.remove(&call_id) {
                t.abort();
                lock(&seen).acks += 1;
            }
            continue;
        }
        let key = msg.branch.clone().unwrap_or_default();
        if let Some((_, resp)) = answered.iter().find(|(b, _)| !key.is_empty() && *b == key) {
            let _ = sock.send_to(resp.as_bytes(), from).await;
            continue;
        }
        let to_tag = format!("a{}", local.port());
        let responses: Vec<String> = match method.as_str() {
            "INVITE" => {
                lock(&seen).invites += 1;
                let ringing = reply(&msg, 180, "Ringing", &to_tag, local, &user, None);
                let ok = reply(&msg, 200, "OK", &to_tag, local, &user, Some(&sdp(local, 49172)));
                vec![ringing, ok]
            }
            "BYE" => {
                lock(&seen).byes += 1;
                if let Some(t) = unacked.remove(&call_id) {
                    t.abort();
                }
                vec![reply(&msg, 200, "OK", &to_tag, local, &user, None)]
            }
            "OPTIONS" | "CANCEL" => vec![reply(&msg, 200, "OK", &to_tag, local, &user, None)],
            _ => vec![reply(&msg, 501, "Not Implemented", &to_tag, local, &user, None)],
        };
        for r in &responses {
            let _ = sock.send_to(r.as_bytes(), from).await;
        }
        if let Some(last) = responses.last() {
            if method == "INVITE" {
                lock(&seen).answered += 1;
                let (s, text, to) = (sock.clone(), last.clone(), from);
                let old = unacked.insert(
                    call_id,
                    tokio::spawn(async move {
                        let mut interval = T1;
                        let give_up = tokio::time::Instant::now() + T1 * 64;
                        loop {
                            tokio::time::sleep(interval).await;
                            if tokio::time::Instant::now() >= give_up {
                                break;
                            }
                            let _ = s.send_to(text.as_bytes(), to).await;
                            interval = (interval * 2).min(T2);
                        }
                    }),
                );
                if let Some(t) = old {
                    t.abort();
                }
            }
            if answered.len() >= MAX_KEPT {
                answered.pop_front();
            }
            answered.push_back((key, last.clone()));
        }
    }
}

/// A response to `req` as its UAS: Via, From, Call-ID, CSeq and Record-Route copied, a To tag
/// added, our Contact.
fn reply(req: &Msg, code: u16, reason: &str, to_tag: &str, local: SocketAddr, user: &str, sdp: Option<&str>) -> String {
    let mut out = format!("SIP/2.0 {code} {reason}\r\n");
    for (kind, line) in &req.headers {
        match kind {
            HeaderKind::Via | HeaderKind::From | HeaderKind::CallId | HeaderKind::CSeq | HeaderKind::RecordRoute => {
                out.push_str(line);
                out.push_str("\r\n");
            }
            HeaderKind::To => {
                out.push_str(line);
                if req.to_tag.is_none() {
                    out.push_str(";tag=");
                    out.push_str(to_tag);
                }
                out.push_str("\r\n");
            }
            _ => {}
        }
    }
    out.push_str(&format!("Contact: <sip:{user}@{local}>\r\nUser-Agent: carillon-demo-phone\r\n"));
    match sdp {
        Some(body) => {
            out.push_str(&format!("Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}", body.len()));
        }
        None => out.push_str("Content-Length: 0\r\n\r\n"),
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is the point
mod tests {
    use super::*;

    #[test]
    fn a_response_copies_record_route_and_adds_a_to_tag() {
        let req = "INVITE sip:203@carillon SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabc\r\n\
                   Record-Route: <sip:box.lab;lr>\r\nRecord-Route: <sip:cloud;lr>\r\nFrom: <sip:a@carillon>;tag=1\r\n\
                   To: <sip:203@carillon>\r\nCall-ID: x\r\nCSeq: 2 INVITE\r\nContent-Length: 0\r\n\r\n";
        let m = Msg::parse(req.as_bytes()).unwrap();
        assert_eq!(m.branch.as_deref(), Some("z9hG4bKabc"));
        assert_eq!(m.record_route, ["<sip:box.lab;lr>", "<sip:cloud;lr>"]);
        let local: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        let r = reply(&m, 200, "OK", "t9", local, "1234-203", None);
        let back = Msg::parse(r.as_bytes()).unwrap();
        assert_eq!(back.code, Some(200));
        assert_eq!(back.to_tag.as_deref(), Some("t9"));
        assert_eq!(back.record_route, m.record_route);
        assert_eq!(back.cseq, Some((2, "INVITE".to_owned())));
        assert_eq!(back.contact_uri.as_deref(), Some("sip:1234-203@127.0.0.1:4000"));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [&b""[..], b"\r\n\r\n", b"SIP/2.0 abc\r\n\r\n", b"INVITE\r\n", &[0xff; 40]] {
            assert!(Msg::parse(bad).is_err(), "{bad:?}");
        }
    }
}
