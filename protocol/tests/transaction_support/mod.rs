//! Shared helpers for the `transaction_*` scenarios: message builders, a parse-and-feed step,
//! and draining on virtual time. No sockets, no clock.
#![allow(dead_code)]

use carillon_protocol::transaction::{Error, Event, Handle, Peer, Received, Transactions, Transport};
use carillon_protocol::write::write_response;
use carillon_protocol::{parse, Framing, Header, Instant, ParseConfig, Status};

/// The table most scenarios use: eight transactions of 4 KiB.
pub type Txns = Transactions<8>;

pub fn phone() -> Peer {
    "10.0.0.5:5060".parse().expect("address")
}

pub fn cloud() -> Peer {
    "192.0.2.10:5061".parse().expect("address")
}

/// Milliseconds of virtual time.
pub fn ms(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// A request with the usual headers; `via` is the whole top Via value.
pub fn request_via(method: &str, via: &str, cseq: u32, to: &str, call_id: &str) -> Vec<u8> {
    format!(
        "{method} sip:102@school.example SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n\
         From: \"101\" <sip:101@school.example>;tag=f101\r\nTo: {to}\r\nCall-ID: {call_id}\r\n\
         CSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// A request from the phone over UDP with branch `branch`.
pub fn request(method: &str, branch: &str) -> Vec<u8> {
    request_via(
        method,
        &format!("SIP/2.0/UDP 10.0.0.5:5060;branch={branch}"),
        1,
        "<sip:102@school.example>",
        "call-1@10.0.0.5",
    )
}

/// A response to `req`, with a To tag unless `to_tag` is `None`.
pub fn response(req: &[u8], code: u16, reason: &str, to_tag: Option<&str>) -> Vec<u8> {
    let mut headers = [Header::EMPTY; 64];
    let Ok(Status::Complete(msg)) = parse(req, &mut headers, Framing::Datagram, &ParseConfig::DEFAULT) else {
        panic!("test request does not parse")
    };
    let mut out = [0u8; 4096];
    let n = write_response(&msg, code, reason, to_tag.map(str::as_bytes), &[], &[], &mut out).expect("response fits");
    out[..n].to_vec()
}

/// A response whose CSeq method is replaced (a CANCEL's 200 carries `CSeq: n CANCEL`).
pub fn with_cseq_method(resp: &[u8], from: &str, to: &str) -> Vec<u8> {
    String::from_utf8(resp.to_vec()).expect("text").replace(&format!(" {from}\r\n"), &format!(" {to}\r\n")).into_bytes()
}

/// Parses `bytes` and hands them in as a request from `from`.
pub fn feed_request<const N: usize, const M: usize, const D: usize, const DM: usize>(
    t: &mut Transactions<N, M, D, DM>,
    now: Instant,
    from: Peer,
    transport: Transport,
    bytes: &[u8],
) -> Result<Received, Error> {
    let mut headers = [Header::EMPTY; 128];
    let Ok(Status::Complete(msg)) = parse(bytes, &mut headers, Framing::Datagram, &ParseConfig::DEFAULT) else {
        panic!("test request does not parse: {}", String::from_utf8_lossy(bytes))
    };
    t.handle_request(now, from, transport, &msg)
}

/// Parses `bytes` and hands them in as a response.
pub fn feed_response<const N: usize, const M: usize, const D: usize, const DM: usize>(
    t: &mut Transactions<N, M, D, DM>,
    now: Instant,
    bytes: &[u8],
) -> Result<Received, Error> {
    let mut headers = [Header::EMPTY; 128];
    let Ok(Status::Complete(msg)) = parse(bytes, &mut headers, Framing::Datagram, &ParseConfig::DEFAULT) else {
        panic!("test response does not parse")
    };
    t.handle_response(now, &msg)
}

/// One message sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    pub handle: Handle,
    pub dest: Peer,
    pub transport: Transport,
    pub bytes: Vec<u8>,
}

impl Sent {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// Everything queued for sending.
pub fn transmits<const N: usize, const M: usize, const D: usize, const DM: usize>(
    t: &mut Transactions<N, M, D, DM>,
) -> Vec<Sent> {
    let mut v = Vec::new();
    while let Some(x) = t.poll_transmit() {
        v.push(Sent { handle: x.handle, dest: x.dest, transport: x.transport, bytes: x.bytes.to_vec() });
        assert!(v.len() < 1000, "poll_transmit never runs dry");
    }
    v
}

/// Every pending event.
pub fn events<const N: usize, const M: usize, const D: usize, const DM: usize>(
    t: &mut Transactions<N, M, D, DM>,
) -> Vec<Event> {
    let mut v = Vec::new();
    while let Some(e) = t.poll_event() {
        v.push(e);
        assert!(v.len() < 1000, "poll_event never runs dry");
    }
    v
}

/// What [`run_until`] saw: messages sent and events, each with the time it happened.
pub type Timeline = (Vec<(Instant, Sent)>, Vec<(Instant, Event)>);

/// Runs the timers up to and including `until`, one deadline at a time, recording when
/// each message was sent and each event happened.
pub fn run_until<const N: usize, const M: usize, const D: usize, const DM: usize>(
    t: &mut Transactions<N, M, D, DM>,
    until: Instant,
) -> Timeline {
    let mut sent = Vec::new();
    let mut evs = Vec::new();
    for _ in 0..10_000 {
        let Some(at) = t.poll_timeout() else { break };
        if at > until {
            break;
        }
        t.handle_timeout(at);
        sent.extend(transmits(t).into_iter().map(|s| (at, s)));
        evs.extend(events(t).into_iter().map(|e| (at, e)));
    }
    (sent, evs)
}
