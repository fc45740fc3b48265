//! A deterministic simulation on virtual time: phones and a fallback trunk on the school LAN,
//! the box, a test cloud peer behind a link that can drop or delay, all driven by one event
//! queue. Nothing here reads a clock or a random source.
#![allow(dead_code, clippy::unwrap_used, missing_docs, clippy::large_enum_variant)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use carillon_firmware::gateway::*;
use carillon_firmware::journal::RamStorage;
use carillon_protocol::control::*;
use carillon_protocol::digest::{Algorithm, Challenge, CredentialsParams, Secret};
use carillon_protocol::write::{write_response, Forward, Writer};
use carillon_protocol::{parse, Framing, Header, HeaderKind, Instant, Message, Method, ParseConfig, Status};

pub type Flash = RamStorage<16384>;
pub type Box_ = Gateway<Flash, RamConfigStore>;

pub const REALM: &str = "school.example";
pub const BOX_HOST: &str = "box7.school.example";
pub const CLOUD_HOST: &str = "cloud.example";
pub const TRUNK: &str = "10.0.0.250:5060";

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub fn lan() -> SocketAddr {
    addr("10.0.0.1:5060")
}

pub fn phone_addr(ext: u32) -> SocketAddr {
    addr(&format!("10.0.0.{}:5062", ext - 100 + 10))
}

pub fn settings() -> Settings {
    Settings {
        box_id: BoxId(7),
        host: heapless::String::try_from(BOX_HOST).unwrap(),
        lan_addr: lan(),
        uplink_peer: addr("192.0.2.1:5061"),
        timing: Timing::DEFAULT,
        seed: 0x5eed,
    }
}

/// Parses one complete message (panics in tests only).
pub fn msg<R>(bytes: &[u8], f: impl FnOnce(&Message<'_, '_>) -> R) -> R {
    let mut h = [Header::EMPTY; 64];
    match parse(bytes, &mut h, Framing::Datagram, &ParseConfig::DEFAULT) {
        Ok(Status::Complete(m)) => f(&m),
        other => panic!("unparseable {other:?}: {}", String::from_utf8_lossy(bytes)),
    }
}

pub fn status_of(bytes: &[u8]) -> Option<u16> {
    msg(bytes, |m| m.status_code())
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// How a phone reacts to an INVITE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Rings and answers after this long.
    After(Duration),
    /// Rings and never answers.
    Never,
    /// Busy.
    Busy,
}

pub struct Phone {
    pub ext: u32,
    /// The SIP user of its address of record and digest username (the extension number
    /// unless the school's usernames have a prefix, see [`Sim::username_prefix`]).
    pub username: String,
    pub addr: SocketAddr,
    pub answer: Answer,
    /// Everything the phone received, in order.
    pub inbox: Vec<Vec<u8>>,
    /// INVITEs ringing, by Call-ID: (invite bytes, to-tag).
    ringing: HashMap<String, (Vec<u8>, String)>,
    /// The password the phone answers a 407 to its INVITE with (`pw<ext>`, the school's, unless
    /// a test sets another); `None`: it does not answer challenges.
    pub password: Option<String>,
    /// INVITEs this phone sent, by Call-ID (to answer a challenge with).
    sent_invites: HashMap<String, Vec<u8>>,
    /// Whether the phone talks to the box over a TCP connection (see [`Sim::add_tcp_phone`]).
    pub tcp: bool,
    /// SIP messages the phone received over its TCP connection.
    pub over_tcp: usize,
    /// Keepalive pongs (CRLF) it received there.
    pub tcp_pongs: usize,
}

impl Phone {
    pub fn contact(&self) -> String {
        format!("sip:{}@{}", self.ext, self.addr)
    }

    pub fn responses(&self) -> impl Iterator<Item = &Vec<u8>> {
        self.inbox.iter().filter(|m| m.starts_with(b"SIP/2.0"))
    }

    pub fn requests(&self, method: &str) -> Vec<Vec<u8>> {
        self.inbox.iter().filter(|m| m.starts_with(method.as_bytes())).cloned().collect()
    }

    pub fn last_response(&self) -> Option<&Vec<u8>> {
        self.responses().last()
    }

    pub fn final_codes(&self) -> Vec<u16> {
        self.responses().filter_map(|r| status_of(r)).filter(|c| *c >= 200).collect()
    }
}

enum Delivery {
    Lan { from: SocketAddr, bytes: Vec<u8> },
    Stream { from: SocketAddr, bytes: Vec<u8> },
    StreamOpen { from: SocketAddr },
    StreamClose { from: SocketAddr },
    StreamRaw { from: SocketAddr, bytes: Vec<u8> },
    ToPhoneStream { to: SocketAddr, bytes: Vec<u8> },
    Uplink(Vec<u8>),
    Control(CloudMessage),
    ToPhone { to: SocketAddr, bytes: Vec<u8> },
    ToCloud(Vec<u8>),
    ToCloudControl(BoxMessage),
    Answer { phone: SocketAddr, call_id: String },
}

/// The test cloud: a stateless SIP proxy for one school plus the control-link endpoint.
#[derive(Default)]
pub struct Cloud {
    /// Contacts registered through the box, by extension: (contact, Path).
    pub registered: HashMap<String, (String, String)>,
    /// Bindings handed back, in order.
    pub handed_back: Vec<Binding>,
    /// Call records stored, by sequence number, with how often each arrived.
    pub records: BTreeMap<u64, (CallRecord, u32)>,
    pub config_applied: Vec<u32>,
    pub config_rejected: Vec<ConfigRejected>,
    pub statuses: Vec<Mode>,
    pub sip_seen: Vec<Vec<u8>>,
    pub pings: u32,
    /// Whether the cloud answers SIP (a cloud that only answers keepalives when false).
    pub answers_sip: bool,
    /// Whether the cloud acknowledges call records.
    pub acks_records: bool,
    rx: Vec<u8>,
    n: u64,
}

pub struct Sim {
    pub now: Instant,
    pub gw: Box<Box_>,
    pub link_up: bool,
    pub wan_delay: Duration,
    pub lan_delay: Duration,
    pub phones: Vec<Phone>,
    pub cloud: Cloud,
    pub events: Vec<Event>,
    /// TCP connections the box refused.
    pub refused_streams: Vec<SocketAddr>,
    /// Prefix of the school's SIP usernames (`1234-` gives `1234-101`, the cloud's default
    /// form); empty: the usernames are the extension numbers. Set before adding phones and
    /// configuring.
    pub username_prefix: String,
    queue: Vec<(Instant, u64, Delivery)>,
    seq: u64,
}

/// Runs `f` on a thread with a large stack: the gateway is big and debug builds copy it.
pub fn run(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new().stack_size(64 << 20).spawn(f).unwrap().join().unwrap();
}

impl Sim {
    pub fn new() -> Sim {
        Self::with_storage(RamStorage::new(1024, 1), RamConfigStore::new())
    }

    pub fn with_storage(flash: Flash, store: RamConfigStore) -> Sim {
        let gw = Box::new(Gateway::new(settings(), flash, store, Instant::ZERO).unwrap());
        Sim {
            now: Instant::ZERO,
            gw,
            link_up: true,
            wan_delay: Duration::from_millis(20),
            lan_delay: Duration::from_millis(1),
            phones: Vec::new(),
            cloud: Cloud { answers_sip: true, acks_records: true, ..Cloud::default() },
            events: Vec::new(),
            refused_streams: Vec::new(),
            username_prefix: String::new(),
            queue: Vec::new(),
            seq: 0,
        }
    }

    /// A simulated reboot: the gateway is rebuilt on the same storages.
    pub fn reboot(&mut self) {
        let gw = std::mem::replace(
            &mut self.gw,
            Box::new(Gateway::new(settings(), RamStorage::new(1024, 1), RamConfigStore::new(), self.now).unwrap()),
        );
        let (flash, store) = gw.into_storage();
        *self.gw = Gateway::new(settings(), flash, store, self.now).unwrap();
        self.queue.clear();
    }

    pub fn add_phone(&mut self, ext: u32, answer: Answer) {
        self.phones.push(Phone {
            ext,
            username: format!("{}{ext}", self.username_prefix),
            addr: phone_addr(ext),
            answer,
            inbox: Vec::new(),
            ringing: HashMap::new(),
            password: Some(format!("pw{ext}")),
            sent_invites: HashMap::new(),
            tcp: false,
            over_tcp: 0,
            tcp_pongs: 0,
        });
    }

    /// A phone that opens a TCP connection to the box and sends everything on it, each message
    /// in two pieces (so that the box must put them together).
    pub fn add_tcp_phone(&mut self, ext: u32, answer: Answer) {
        self.add_phone(ext, answer);
        self.phone_mut(ext).tcp = true;
        let from = self.phone(ext).addr;
        self.schedule(self.now, Delivery::StreamOpen { from });
    }

    /// The phone's TCP connection closes; the phone goes on over UDP.
    pub fn close_tcp(&mut self, ext: u32) {
        self.phone_mut(ext).tcp = false;
        let from = self.phone(ext).addr;
        self.schedule(self.now, Delivery::StreamClose { from });
    }

    pub fn phone(&self, ext: u32) -> &Phone {
        self.phones.iter().find(|p| p.ext == ext).unwrap()
    }

    pub fn phone_mut(&mut self, ext: u32) -> &mut Phone {
        self.phones.iter_mut().find(|p| p.ext == ext).unwrap()
    }

    fn schedule(&mut self, at: Instant, d: Delivery) {
        self.seq += 1;
        self.queue.push((at, self.seq, d));
    }

    /// A phone sends `bytes` to the box.
    pub fn phone_sends(&mut self, ext: u32, bytes: Vec<u8>) {
        let from = self.phone(ext).addr;
        if self.phone(ext).tcp {
            let bytes = text(&bytes).replacen("SIP/2.0/UDP ", "SIP/2.0/TCP ", 1).into_bytes();
            self.schedule(self.now + self.lan_delay, Delivery::Stream { from, bytes });
        } else {
            self.schedule(self.now + self.lan_delay, Delivery::Lan { from, bytes });
        }
    }

    /// Raw bytes on a phone's TCP connection (not split).
    pub fn stream_sends(&mut self, ext: u32, bytes: Vec<u8>) {
        let from = self.phone(ext).addr;
        self.schedule(self.now + self.lan_delay, Delivery::StreamRaw { from, bytes });
    }

    /// What a phone at `from` sends: on its TCP connection if it has one, else a datagram.
    fn send_from(&mut self, from: SocketAddr, bytes: Vec<u8>) {
        match self.phones.iter().find(|p| p.addr == from) {
            Some(p) if p.tcp => {
                let ext = p.ext;
                self.phone_sends(ext, bytes);
            }
            _ => self.lan_sends(from, bytes),
        }
    }

    /// Raw datagram from any LAN address.
    pub fn lan_sends(&mut self, from: SocketAddr, bytes: Vec<u8>) {
        self.schedule(self.now + self.lan_delay, Delivery::Lan { from, bytes });
    }

    pub fn cloud_sends_control(&mut self, m: CloudMessage) {
        if self.link_up {
            self.schedule(self.now + self.wan_delay, Delivery::Control(m));
        }
    }

    pub fn cloud_sends_sip(&mut self, bytes: Vec<u8>) {
        if self.link_up {
            self.schedule(self.now + self.wan_delay, Delivery::Uplink(bytes));
        }
    }

    /// Drains the gateway's output (the drain rule) into the queue.
    fn drain(&mut self) {
        while let Some(t) = self.gw.poll_transmit(self.now) {
            let (at, d) = match t {
                Transmit::Lan { to, bytes } => {
                    (self.now + self.lan_delay, Delivery::ToPhone { to, bytes: bytes.to_vec() })
                }
                Transmit::LanStream { to, bytes } => {
                    (self.now + self.lan_delay, Delivery::ToPhoneStream { to, bytes: bytes.to_vec() })
                }
                Transmit::Uplink { bytes } => {
                    if !self.link_up {
                        continue;
                    }
                    (self.now + self.wan_delay, Delivery::ToCloud(bytes.to_vec()))
                }
                Transmit::Control(m) => {
                    if !self.link_up {
                        continue;
                    }
                    (self.now + self.wan_delay, Delivery::ToCloudControl(m))
                }
            };
            self.seq += 1;
            self.queue.push((at, self.seq, d));
        }
        while let Some(e) = self.gw.poll_event() {
            self.events.push(e);
        }
    }

    /// Runs the simulation until `until` (absolute).
    pub fn run_until(&mut self, until: Instant) {
        self.drain();
        loop {
            self.queue.sort_by_key(|(at, seq, _)| (*at, *seq));
            let next_q = self.queue.first().map(|(at, _, _)| *at);
            let next_t = self.gw.poll_timeout();
            let next = [next_q, next_t].into_iter().flatten().min();
            let Some(next) = next.filter(|n| *n <= until) else {
                self.now = until;
                return;
            };
            self.now = self.now.max(next);
            if next_q == Some(next) {
                let (_, _, d) = self.queue.remove(0);
                self.deliver(d);
            } else {
                self.gw.handle_timeout(self.now);
            }
            self.drain();
        }
    }

    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    fn deliver(&mut self, d: Delivery) {
        let now = self.now;
        match d {
            Delivery::Lan { from, bytes } => self.gw.handle_lan_datagram(now, from, &bytes),
            Delivery::Stream { from, bytes } => {
                let (a, b) = bytes.split_at(bytes.len() / 2);
                self.gw.handle_lan_stream_bytes(now, from, a);
                self.gw.handle_lan_stream_bytes(now, from, b);
            }
            Delivery::StreamRaw { from, bytes } => self.gw.handle_lan_stream_bytes(now, from, &bytes),
            Delivery::StreamOpen { from } => {
                if self.gw.handle_lan_stream_opened(now, from).is_err() {
                    self.refused_streams.push(from);
                }
            }
            Delivery::StreamClose { from } => self.gw.handle_lan_stream_closed(now, from),
            Delivery::ToPhoneStream { to, bytes } => {
                let Some(p) = self.phones.iter_mut().find(|p| p.addr == to) else { return };
                // A keepalive pong is no SIP message.
                if bytes == b"\r\n" {
                    p.tcp_pongs += 1;
                } else {
                    p.over_tcp += 1;
                    self.phone_receives(to, bytes);
                }
            }
            Delivery::Uplink(bytes) => {
                if self.link_up {
                    self.gw.handle_uplink_bytes(now, &bytes)
                }
            }
            Delivery::Control(m) => {
                if self.link_up {
                    self.gw.handle_control(now, m)
                }
            }
            Delivery::ToPhone { to, bytes } => self.phone_receives(to, bytes),
            Delivery::ToCloud(bytes) => {
                if self.link_up {
                    self.cloud_receives(bytes)
                }
            }
            Delivery::ToCloudControl(m) => {
                if self.link_up {
                    self.cloud_control(m)
                }
            }
            Delivery::Answer { phone, call_id } => self.phone_answers(phone, &call_id),
        }
    }

    // --- Phones ---------------------------------------------------------------------------

    fn phone_receives(&mut self, to: SocketAddr, bytes: Vec<u8>) {
        let Some(idx) = self.phones.iter().position(|p| p.addr == to) else { return };
        self.phones[idx].inbox.push(bytes.clone());
        if bytes.starts_with(b"SIP/2.0") {
            let code = status_of(&bytes).unwrap_or(0);
            let to_invite = msg(&bytes, |m| m.cseq().and_then(Result::ok).is_some_and(|c| c.method == Method::Invite));
            if code >= 300 && to_invite {
                self.phone_acks_failure(idx, &bytes);
            }
            return;
        }
        let method = msg(&bytes, |m| m.method().map(|m| m.as_str().to_string())).unwrap_or_default();
        let call_id = msg(&bytes, |m| text(m.call_id().unwrap_or(&[])));
        let ext = self.phones[idx].ext;
        let contact = format!("<{}>", self.phones[idx].contact());
        let from = self.phones[idx].addr;
        match method.as_str() {
            "INVITE" => {
                let tag = format!("t{ext}");
                match self.phones[idx].answer {
                    Answer::Busy => {
                        let r = respond(&bytes, 486, "Busy Here", Some(&tag), &[]);
                        self.send_from(from, r);
                    }
                    a => {
                        let r = respond(&bytes, 180, "Ringing", Some(&tag), &[("Contact", contact.as_bytes())]);
                        self.send_from(from, r);
                        self.phones[idx].ringing.insert(call_id.clone(), (bytes.clone(), tag));
                        if let Answer::After(d) = a {
                            let at = self.now + d;
                            self.schedule(at, Delivery::Answer { phone: from, call_id });
                        }
                    }
                }
            }
            "CANCEL" => {
                let r = respond(&bytes, 200, "OK", None, &[]);
                self.send_from(from, r);
                if let Some((inv, tag)) = self.phones[idx].ringing.remove(&call_id) {
                    let r = respond(&inv, 487, "Request Terminated", Some(&tag), &[]);
                    self.send_from(from, r);
                }
            }
            "BYE" | "OPTIONS" => {
                let r = respond(&bytes, 200, "OK", None, &[]);
                self.send_from(from, r);
            }
            _ => {}
        }
    }

    /// A final non-2xx to an INVITE this phone sent: ACK it (RFC 3261 §17.1.1.3: same branch);
    /// a 407 to the first INVITE (CSeq 1) is answered by sending the INVITE again with
    /// Proxy-Authorization (§22.3), CSeq 2, a new branch.
    fn phone_acks_failure(&mut self, idx: usize, resp: &[u8]) {
        let code = status_of(resp).unwrap_or(0);
        let (call_id, cseq, to, via, proxy_auth) = msg(resp, |m| {
            let www =
                m.headers_of(HeaderKind::ProxyAuthenticate).map(|h| h.value.to_vec()).find(|v| text(v).contains("MD5"));
            (
                text(m.call_id().unwrap_or(&[])),
                m.cseq().unwrap().unwrap().seq,
                m.value(HeaderKind::To).unwrap().to_vec(),
                m.value(HeaderKind::Via).unwrap().to_vec(),
                www,
            )
        });
        let Some(invite) = self.phones[idx].sent_invites.get(&call_id).cloned() else { return };
        let from = self.phones[idx].addr;
        let ack = msg(&invite, |m| {
            let mut out = vec![0u8; 2048];
            let mut w = Writer::new(&mut out);
            w.request_line(Method::Ack, m.request_uri().unwrap().unwrap().raw);
            // The response carries the phone's own Via: the branch of the INVITE it answers.
            w.header("Via", &via);
            w.header("Max-Forwards", b"70");
            w.header("From", m.value(HeaderKind::From).unwrap());
            w.header("To", &to);
            w.header("Call-ID", m.call_id().unwrap());
            w.header("CSeq", format!("{cseq} ACK").as_bytes());
            let n = w.finish(&[]).unwrap();
            out.truncate(n);
            out
        });
        self.send_from(from, ack);
        let (Some(password), Some(challenge), 1, 407) = (self.phones[idx].password.clone(), proxy_auth, cseq, code)
        else {
            return;
        };
        let challenge = Challenge::parse(&challenge).unwrap();
        let user = self.phones[idx].username.clone();
        let retry = msg(&invite, |m| {
            let uri = text(m.request_uri().unwrap().unwrap().raw);
            let mut auth = [0u8; 512];
            let n = CredentialsParams {
                username: &user,
                secret: Secret::Password(password.as_bytes()),
                method: "INVITE",
                uri: &uri,
                cnonce: "c0ffee",
                nc: 1,
            }
            .write(&challenge, &mut auth)
            .unwrap();
            let mut out = vec![0u8; 4096];
            let mut w = Writer::new(&mut out);
            w.request_line(Method::Invite, uri.as_bytes());
            w.header("Via", format!("SIP/2.0/UDP {from};branch=z9hG4bKi{call_id}a2;rport").as_bytes());
            for h in m.headers {
                if !matches!(h.kind, HeaderKind::Via | HeaderKind::CSeq | HeaderKind::ContentLength) {
                    w.header(h.kind.canonical().unwrap_or("X-Unknown"), h.value);
                }
            }
            w.header("CSeq", b"2 INVITE");
            w.header("Proxy-Authorization", &auth[..n]);
            let n = w.finish(m.body).unwrap();
            out.truncate(n);
            out
        });
        self.send_from(from, retry);
    }

    fn phone_answers(&mut self, phone: SocketAddr, call_id: &str) {
        let Some(idx) = self.phones.iter().position(|p| p.addr == phone) else { return };
        let Some((inv, tag)) = self.phones[idx].ringing.remove(call_id) else { return };
        let contact = format!("<{}>", self.phones[idx].contact());
        let r = respond(&inv, 200, "OK", Some(&tag), &[("Contact", contact.as_bytes())]);
        self.send_from(phone, r);
    }

    // --- The test cloud -------------------------------------------------------------------

    fn cloud_receives(&mut self, bytes: Vec<u8>) {
        self.cloud.rx.extend_from_slice(&bytes);
        loop {
            let buf = std::mem::take(&mut self.cloud.rx);
            let skip = buf.iter().take_while(|&&b| b == b'\r' || b == b'\n').count();
            if skip > 0 {
                if skip >= 4 {
                    self.cloud.pings += 1;
                    self.cloud_sends_sip(b"\r\n".to_vec());
                }
                self.cloud.rx = buf[skip..].to_vec();
                continue;
            }
            let mut h = [Header::EMPTY; 64];
            let parsed = parse(&buf, &mut h, Framing::Stream, &ParseConfig::DEFAULT);
            match parsed {
                Ok(Status::Complete(m)) => {
                    let one = buf[..m.len].to_vec();
                    self.cloud.rx = buf[m.len..].to_vec();
                    self.cloud.sip_seen.push(one.clone());
                    if self.cloud.answers_sip {
                        self.cloud_sip(one);
                    }
                }
                _ => {
                    self.cloud.rx = buf;
                    return;
                }
            }
        }
    }

    fn cloud_sip(&mut self, bytes: Vec<u8>) {
        if bytes.starts_with(b"SIP/2.0") {
            // A response: pop the cloud's Via, send it back down.
            let out = msg(&bytes, |m| {
                let mut out = vec![0u8; 8192];
                let n = Forward::new().pop_via().write(m, &mut out).unwrap();
                out.truncate(n);
                out
            });
            self.cloud_sends_sip(out);
            return;
        }
        let method = msg(&bytes, |m| m.method().map(|m| m.as_str().to_string())).unwrap_or_default();
        if method == "REGISTER" {
            let prefix = self.username_prefix.clone();
            let (ext, contact, path, expires) = msg(&bytes, |m| {
                let to = m.to().unwrap().unwrap();
                // A torture REGISTER may have no user part: the test cloud ignores it. The
                // cloud knows the phone's extension from its username.
                let user = text(to.uri.user.unwrap_or(b""));
                let ext = user.strip_prefix(prefix.as_str()).unwrap_or(&user).to_owned();
                let contact = m.contacts().flatten().find_map(|c| match c {
                    carillon_protocol::Contact::Addr(a) => Some((text(a.uri.raw), a.expires())),
                    _ => None,
                });
                let path = m.paths().flatten().next().map(|p| text(p.uri.raw)).unwrap_or_default();
                let expires = m.expires().and_then(Result::ok);
                (ext, contact, path, expires)
            });
            let Some((contact, cexp)) = contact else { return };
            let expires = cexp.or(expires).unwrap_or(3600).min(600);
            self.cloud.registered.insert(ext, (contact.clone(), path));
            let c = format!("<{contact}>;expires={expires}");
            let r = respond(&bytes, 200, "OK", Some("cloudtag"), &[("Contact", c.as_bytes())]);
            self.cloud_sends_sip(r);
            return;
        }
        if method == "ACK" || method == "BYE" || method == "INVITE" || method == "CANCEL" {
            self.cloud.n += 1;
            let branch = format!("SIP/2.0/TLS {CLOUD_HOST};branch=z9hG4bKcloud{}", self.cloud.n);
            let rr = format!("<sip:{CLOUD_HOST};lr>");
            let registered = self.cloud.registered.clone();
            let out = msg(&bytes, |m| {
                let in_dialog = m.to().unwrap().unwrap().tag().is_some();
                let mut fwd = Forward::new().push_via(branch.as_bytes()).decrement_max_forwards();
                let top_is_cloud = m
                    .routes()
                    .flatten()
                    .next()
                    .is_some_and(|r| r.uri.host.map(|h| h.to_string()) == Some(CLOUD_HOST.to_string()));
                if top_is_cloud {
                    fwd = fwd.pop_route();
                }
                let mut ruri = String::new();
                let mut route = String::new();
                if !in_dialog && m.method() != Some(Method::Cancel) {
                    let user = text(m.request_uri().and_then(Result::ok).and_then(|u| u.user).unwrap_or(b""));
                    let (contact, path) = registered.get(&user)?;
                    ruri = contact.clone();
                    route = format!("<{path}>");
                    fwd = fwd.record_route(rr.as_bytes());
                }
                let _ = &route;
                if !ruri.is_empty() {
                    fwd = fwd.request_uri(ruri.as_bytes());
                }
                let mut out = vec![0u8; 8192];
                let n = fwd.write(m, &mut out).unwrap();
                out.truncate(n);
                if !route.is_empty() {
                    // Add the Path as a Route (RFC 3327 §5.3) right after the request line.
                    let pos = out.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
                    let line = format!("Route: {route}\r\n");
                    out.splice(pos..pos, line.into_bytes());
                }
                Some(out)
            });
            match out {
                Some(out) => self.cloud_sends_sip(out),
                None => {
                    if method != "ACK" {
                        let r = respond(&bytes, 404, "Not Found", Some("cloudtag"), &[]);
                        self.cloud_sends_sip(r);
                    }
                }
            }
        }
    }

    fn cloud_control(&mut self, m: BoxMessage) {
        match m {
            BoxMessage::Bindings(b) => {
                self.cloud.handed_back.extend(b.bindings.iter().cloned());
                self.cloud_sends_control(CloudMessage::BindingsAck(BindingsAck { batch_id: b.batch_id }));
            }
            BoxMessage::CallRecords(batch) => {
                batch.validate().unwrap();
                for r in &batch.records {
                    self.cloud.records.entry(r.seq).or_insert((r.clone(), 0)).1 += 1;
                }
                if self.cloud.acks_records {
                    let mut up_to = 0;
                    while self.cloud.records.contains_key(&(up_to + 1)) {
                        up_to += 1;
                    }
                    self.cloud_sends_control(CloudMessage::CallRecordsAck(CallRecordsAck { up_to_seq: up_to }));
                }
            }
            BoxMessage::ConfigApplied(a) => self.cloud.config_applied.push(a.version),
            BoxMessage::ConfigRejected(r) => self.cloud.config_rejected.push(r),
            BoxMessage::Status(s) => self.cloud.statuses.push(s.mode),
            _ => {}
        }
    }

    // --- Scenario helpers -----------------------------------------------------------------

    /// Boots to Online: the first ping is answered and the (empty) hand-back completes.
    pub fn boot_online(&mut self) {
        self.run_for(Duration::from_millis(200));
        assert_eq!(self.gw.mode(), Mode::Online, "events: {:?}", self.events);
    }

    /// Sends the school's configuration over the control link.
    pub fn configure(&mut self, version: u32, trunk: bool) {
        for m in config_messages_with_usernames(version, trunk, &self.username_prefix) {
            self.cloud_sends_control(m);
        }
        self.run_for(Duration::from_millis(100));
    }

    /// Cuts the WAN link (both directions; what is in flight is lost).
    pub fn cut(&mut self) {
        self.link_up = false;
        self.queue.retain(|(_, _, d)| {
            !matches!(
                d,
                Delivery::Uplink(_) | Delivery::Control(_) | Delivery::ToCloud(_) | Delivery::ToCloudControl(_)
            )
        });
    }

    pub fn restore(&mut self) {
        self.link_up = true;
    }

    pub fn mode_changes(&self) -> Vec<(Mode, Mode, ModeCause, Instant)> {
        self.events
            .iter()
            .filter_map(|e| match *e {
                Event::ModeChanged { from, to, cause, at } => Some((from, to, cause, at)),
                _ => None,
            })
            .collect()
    }

    /// Registers `ext` (answering the challenge with `password` if one comes); returns the
    /// final status.
    pub fn register(&mut self, ext: u32, password: &str, expires: u32) -> u16 {
        self.register_waiting(ext, password, expires, Duration::from_secs(3))
    }

    /// [`Sim::register`], waiting `wait` of virtual time for each answer.
    pub fn register_waiting(&mut self, ext: u32, password: &str, expires: u32, wait: Duration) -> u16 {
        let call_id = format!("reg{ext}@{}", self.phone(ext).addr.ip());
        let before = self.phone(ext).inbox.len();
        let req = register_request(self.phone(ext), &call_id, 1, expires, None);
        self.phone_sends(ext, req);
        self.run_for(wait);
        let resp = self.phone(ext).inbox[before..]
            .iter()
            .rev()
            .find(|m| m.starts_with(b"SIP/2.0"))
            .cloned()
            .expect("no answer to REGISTER");
        let code = status_of(&resp).unwrap();
        if code != 401 {
            return code;
        }
        let www = msg(&resp, |m| {
            m.headers_of(HeaderKind::WwwAuthenticate)
                .map(|h| h.value.to_vec())
                .find(|v| text(v).contains("MD5"))
                .unwrap()
        });
        let challenge = Challenge::parse(&www).unwrap();
        let mut auth = [0u8; 512];
        let user = self.phone(ext).username.clone();
        let n = CredentialsParams {
            username: &user,
            secret: Secret::Password(password.as_bytes()),
            method: "REGISTER",
            uri: &format!("sip:{REALM}"),
            cnonce: "c0ffee",
            nc: 1,
        }
        .write(&challenge, &mut auth)
        .unwrap();
        let before = self.phone(ext).inbox.len();
        let req = register_request(self.phone(ext), &call_id, 2, expires, Some(&auth[..n]));
        self.phone_sends(ext, req);
        self.run_for(wait);
        let resp = self.phone(ext).inbox[before..]
            .iter()
            .rev()
            .find(|m| m.starts_with(b"SIP/2.0"))
            .cloned()
            .expect("no answer to REGISTER");
        status_of(&resp).unwrap()
    }

    /// `from` calls `to`; returns the Call-ID.
    pub fn call(&mut self, from: u32, to: &str, call_id: &str) {
        let req = invite_request(self.phone(from), to, call_id);
        self.phone_mut(from).sent_invites.insert(call_id.to_owned(), req.clone());
        self.phone_sends(from, req);
    }

    /// The final responses the caller got for a Call-ID, except the 407 challenge its phone
    /// answered (see [`Sim::challenges_for`]).
    pub fn finals_for(&self, ext: u32, call_id: &str) -> Vec<u16> {
        let answered_challenge = self.phone(ext).password.is_some();
        self.finals_with_challenges(ext, call_id).into_iter().filter(|c| !(answered_challenge && *c == 407)).collect()
    }

    /// How many 407 challenges (retransmissions counted once) the caller got for a Call-ID.
    pub fn challenges_for(&self, ext: u32, call_id: &str) -> usize {
        self.finals_with_challenges(ext, call_id).iter().filter(|c| **c == 407).count()
    }

    fn finals_with_challenges(&self, ext: u32, call_id: &str) -> Vec<u16> {
        self.phone(ext)
            .responses()
            .filter(|r| {
                msg(r, |m| {
                    m.call_id() == Some(call_id.as_bytes()) && m.cseq().unwrap().unwrap().method == Method::Invite
                })
            })
            .filter_map(|r| status_of(r))
            .filter(|c| *c >= 200)
            .fold(Vec::new(), |mut v, c| {
                // Retransmissions of the same final response (Timer G) count once.
                if v.last() != Some(&c) {
                    v.push(c);
                }
                v
            })
    }

    /// The 200 OK the caller got for a Call-ID.
    pub fn ok_for(&self, ext: u32, call_id: &str) -> Option<Vec<u8>> {
        self.phone(ext)
            .responses()
            .find(|r| {
                status_of(r) == Some(200)
                    && msg(r, |m| {
                        m.call_id() == Some(call_id.as_bytes()) && m.cseq().unwrap().unwrap().method == Method::Invite
                    })
            })
            .cloned()
    }

    /// The caller acknowledges the 2xx and later hangs up (ACK, then BYE through the route set).
    pub fn ack_and_bye(&mut self, caller: u32, call_id: &str, talk: Duration) {
        let ok = self.ok_for(caller, call_id).expect("call was not answered");
        let ack = in_dialog_request(self.phone(caller), &ok, "ACK", 1);
        self.phone_sends(caller, ack);
        self.run_for(talk);
        let bye = in_dialog_request(self.phone(caller), &ok, "BYE", 2);
        self.phone_sends(caller, bye);
        self.run_for(Duration::from_secs(1));
    }
}

impl Default for Sim {
    fn default() -> Self {
        Self::new()
    }
}

/// A response written like a phone or the cloud would; a UAS copies Record-Route into the
/// responses that establish a dialog (RFC 3261 §12.1.1).
pub fn respond(req: &[u8], code: u16, reason: &str, tag: Option<&str>, extra: &[(&str, &[u8])]) -> Vec<u8> {
    msg(req, |m| {
        let mut all: Vec<(&str, &[u8])> = Vec::new();
        if (101..300).contains(&code) {
            all.extend(m.headers_of(HeaderKind::RecordRoute).map(|h| ("Record-Route", h.value)));
        }
        all.extend_from_slice(extra);
        let mut out = vec![0u8; 8192];
        let n = write_response(m, code, reason, tag.map(str::as_bytes), &all, &[], &mut out).unwrap();
        out.truncate(n);
        out
    })
}

pub fn register_request(p: &Phone, call_id: &str, cseq: u32, expires: u32, auth: Option<&[u8]>) -> Vec<u8> {
    let mut out = vec![0u8; 4096];
    let mut w = Writer::new(&mut out);
    w.request_line(Method::Register, format!("sip:{REALM}").as_bytes());
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    w.header("Via", format!("SIP/2.0/UDP {};branch=z9hG4bKr{}x{cseq}n{n};rport", p.addr, p.ext).as_bytes());
    w.header("Max-Forwards", b"70");
    w.header("From", format!("<sip:{}@{REALM}>;tag=f{}", p.username, p.ext).as_bytes());
    w.header("To", format!("<sip:{}@{REALM}>", p.username).as_bytes());
    w.header("Call-ID", call_id.as_bytes());
    w.header("CSeq", format!("{cseq} REGISTER").as_bytes());
    w.header("Contact", format!("<{}>", p.contact()).as_bytes());
    w.header("Expires", expires.to_string().as_bytes());
    if let Some(a) = auth {
        w.header("Authorization", a);
    }
    let n = w.finish(&[]).unwrap();
    out.truncate(n);
    out
}

pub fn invite_request(p: &Phone, to: &str, call_id: &str) -> Vec<u8> {
    let sdp = b"v=0\r\no=- 1 1 IN IP4 10.0.0.10\r\ns=-\r\nc=IN IP4 10.0.0.10\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    let mut out = vec![0u8; 4096];
    let mut w = Writer::new(&mut out);
    w.request_line(Method::Invite, format!("sip:{to}@{REALM}").as_bytes());
    w.header("Via", format!("SIP/2.0/UDP {};branch=z9hG4bKi{call_id};rport", p.addr).as_bytes());
    w.header("Max-Forwards", b"70");
    w.header("From", format!("<sip:{}@{REALM}>;tag=c{}", p.username, p.ext).as_bytes());
    w.header("To", format!("<sip:{to}@{REALM}>").as_bytes());
    w.header("Call-ID", call_id.as_bytes());
    w.header("CSeq", b"1 INVITE");
    w.header("Contact", format!("<{}>", p.contact()).as_bytes());
    w.header("Content-Type", b"application/sdp");
    let n = w.finish(sdp).unwrap();
    out.truncate(n);
    out
}

/// An in-dialog request of the caller, from the 2xx: Request-URI = the callee's Contact, Route =
/// the Record-Route set reversed (RFC 3261 §12.1.2).
pub fn in_dialog_request(p: &Phone, ok: &[u8], method: &str, cseq: u32) -> Vec<u8> {
    msg(ok, |m| {
        let target = m.contacts().flatten().find_map(|c| match c {
            carillon_protocol::Contact::Addr(a) => Some(text(a.uri.raw)),
            _ => None,
        });
        let mut routes: Vec<String> =
            m.record_routes().flatten().map(|r| format!("<{}>", text(r.uri.raw).replace(";lr", "") + ";lr")).collect();
        routes.reverse();
        let mut out = vec![0u8; 4096];
        let mut w = Writer::new(&mut out);
        let meth = Method::parse(method.as_bytes()).unwrap();
        w.request_line(meth, target.unwrap().as_bytes());
        w.header(
            "Via",
            format!("SIP/2.0/UDP {};branch=z9hG4bK{method}{cseq}{};rport", p.addr, text(m.call_id().unwrap()))
                .as_bytes(),
        );
        w.header("Max-Forwards", b"70");
        for r in &routes {
            w.header("Route", r.as_bytes());
        }
        w.header("From", m.value(HeaderKind::From).unwrap());
        w.header("To", m.value(HeaderKind::To).unwrap());
        w.header("Call-ID", m.call_id().unwrap());
        w.header("CSeq", format!("{cseq} {method}").as_bytes());
        let n = w.finish(&[]).unwrap();
        out.truncate(n);
        out
    })
}

/// An in-dialog request of the callee, from the INVITE it received: Request-URI = the caller's
/// Contact, Route = the Record-Route set in order (RFC 3261 §12.1.1), From and To swapped, the
/// callee's tag as the sim's phones choose it (`t<ext>`).
pub fn callee_request(p: &Phone, invite: &[u8], method: &str, cseq: u32) -> Vec<u8> {
    msg(invite, |m| {
        let target = m.contacts().flatten().find_map(|c| match c {
            carillon_protocol::Contact::Addr(a) => Some(text(a.uri.raw)),
            _ => None,
        });
        let routes: Vec<String> = m.record_routes().flatten().map(|r| format!("<{}>", text(r.uri.raw))).collect();
        let mut out = vec![0u8; 4096];
        let mut w = Writer::new(&mut out);
        w.request_line(Method::parse(method.as_bytes()).unwrap(), target.unwrap().as_bytes());
        w.header(
            "Via",
            format!("SIP/2.0/UDP {};branch=z9hG4bKu{method}{cseq}{};rport", p.addr, text(m.call_id().unwrap()))
                .as_bytes(),
        );
        w.header("Max-Forwards", b"70");
        for r in &routes {
            w.header("Route", r.as_bytes());
        }
        let to = text(m.value(HeaderKind::To).unwrap());
        w.header("From", format!("{to};tag=t{}", p.ext).as_bytes());
        w.header("To", m.value(HeaderKind::From).unwrap());
        w.header("Call-ID", m.call_id().unwrap());
        w.header("CSeq", format!("{cseq} {method}").as_bytes());
        let n = w.finish(&[]).unwrap();
        out.truncate(n);
        out
    })
}

/// The school's configuration: extensions 101–109 (password `pw<ext>`), ring group 200 =
/// 101, 102, 103 (20 s), emergency number 1990 besides the built-in ones.
pub fn config_messages(version: u32, trunk: bool) -> Vec<CloudMessage> {
    config_messages_with_usernames(version, trunk, "")
}

/// [`config_messages`] with the SIP usernames `<prefix><number>`.
pub fn config_messages_with_usernames(version: u32, trunk: bool, username_prefix: &str) -> Vec<CloudMessage> {
    let exts = (101..=109).map(|n| extension_with_username(n, username_prefix));
    let mut msgs = config_of(version, trunk, exts.collect());
    // Ring group 200 = 101, 102, 103 (20 s), before the `ConfigEnd`.
    if let Some(CloudMessage::ConfigBegin(b)) = msgs.first_mut() {
        b.ring_group_count = 1;
    }
    let end = msgs.pop().unwrap();
    msgs.push(CloudMessage::ConfigRingGroups(ConfigRingGroups {
        version,
        first_index: 0,
        ring_groups: heapless::Vec::from_slice(&[RingGroup {
            number: bounded("200").unwrap(),
            members: heapless::Vec::from_slice(&[
                bounded("101").unwrap(),
                bounded("102").unwrap(),
                bounded("103").unwrap(),
            ])
            .unwrap(),
            ring_timeout_secs: 20,
        }])
        .unwrap(),
    }));
    msgs.push(end);
    msgs
}

/// A configuration of the extensions `exts` (password `pw<ext>`), no ring group, emergency
/// number 1990 besides the built-in ones.
pub fn config_messages_for(version: u32, trunk: bool, exts: impl IntoIterator<Item = u32>) -> Vec<CloudMessage> {
    config_of(version, trunk, exts.into_iter().map(extension).collect())
}

/// A configuration of `exts`, no ring group, emergency number 1990 besides the built-in ones.
fn config_of(version: u32, trunk: bool, exts: Vec<Extension>) -> Vec<CloudMessage> {
    let mut msgs = vec![CloudMessage::ConfigBegin(ConfigBegin {
        version,
        site_code: bounded("0042").unwrap(),
        dial_plan: DialPlan {
            extension_len: 3,
            on_net_prefix: bounded("8").unwrap(),
            outside_line_prefix: bounded("0").unwrap(),
        },
        emergency_numbers: heapless::Vec::from_slice(&[bounded("1990").unwrap()]).unwrap(),
        fallback_trunk: trunk.then(|| FallbackTrunk {
            host: bounded("10.0.0.250").unwrap(),
            port: 5060,
            credentials: None,
        }),
        extension_count: exts.len() as u16,
        ring_group_count: 0,
    })];
    for (i, chunk) in exts.chunks(EXTENSIONS_PER_CHUNK).enumerate() {
        msgs.push(CloudMessage::ConfigExtensions(ConfigExtensions {
            version,
            first_index: (i * EXTENSIONS_PER_CHUNK) as u16,
            extensions: heapless::Vec::from_slice(chunk).unwrap(),
        }));
    }
    msgs.push(CloudMessage::ConfigEnd(ConfigEnd { version }));
    msgs
}

pub fn extension(n: u32) -> Extension {
    extension_with_username(n, "")
}

/// Extension `n` whose SIP username is `<prefix><n>`.
pub fn extension_with_username(n: u32, prefix: &str) -> Extension {
    let number = n.to_string();
    let user = format!("{prefix}{n}");
    let pw = format!("pw{n}");
    let md5 = carillon_protocol::digest::ha1(Algorithm::Md5, user.as_bytes(), REALM.as_bytes(), pw.as_bytes());
    let sha = carillon_protocol::digest::ha1(Algorithm::Sha256, user.as_bytes(), REALM.as_bytes(), pw.as_bytes());
    Extension {
        number: bounded(&number).unwrap(),
        username: bounded(&user).unwrap(),
        realm: bounded(REALM).unwrap(),
        ha1_md5: HexDigest::from_hex(md5.as_str()).unwrap(),
        ha1_sha256: HexDigest::from_hex(sha.as_str()).unwrap(),
        display_name: bounded(&format!("Room {n}")).unwrap(),
    }
}
