//! Writing the messages the switch sends: responses, forwarded requests (RFC 3261 §16.6 plus
//! what the protocol crate's `Forward` does not cover: several Route values to insert, a
//! `received`/`rport` on the previous hop's Via, From rewritten for caller id, headers
//! dropped), and the ACK and CANCEL a proxy generates itself (§17.1.1.3, §9.1).

use std::fmt::Write as _;

use carillon_protocol::write::{write_response, Forward};
use carillon_protocol::{HeaderKind, Message, StartLine};
use rand::Rng;

use super::transport::Flow;

/// A new RFC 3261 branch (magic cookie + 64 random bits).
pub(crate) fn branch() -> String {
    format!("z9hG4bK{:016x}", rand::rng().random::<u64>())
}

/// A new tag.
pub(crate) fn tag() -> String {
    format!("{:012x}", rand::rng().random::<u64>() & 0xffff_ffff_ffff)
}

/// A response to `req`, with `to_tag` added when To has none (RFC 3261 §8.2.6.2).
pub(crate) fn response(
    req: &Message<'_, '_>,
    code: u16,
    reason: &str,
    to_tag: Option<&str>,
    extra: &[(&str, &[u8])],
) -> Option<Vec<u8>> {
    let size = req.bytes.len() + 512 + extra.iter().map(|(n, v)| n.len() + v.len() + 4).sum::<usize>();
    let mut out = vec![0u8; size];
    let tag = if code == 100 { None } else { to_tag.map(str::as_bytes) };
    match write_response(req, code, reason, tag, extra, b"", &mut out) {
        Ok(n) => {
            out.truncate(n);
            Some(out)
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot write response");
            None
        }
    }
}

/// A response forwarded upstream: our top Via removed (RFC 3261 §16.7 step 3).
pub(crate) fn pop_via(resp: &Message<'_, '_>) -> Option<Vec<u8>> {
    let mut out = vec![0u8; resp.bytes.len() + 64];
    let n = Forward::new().pop_via().write(resp, &mut out).ok()?;
    out.truncate(n);
    Some(out)
}

/// Splits a list header value at commas outside quotes and angle brackets.
pub(crate) fn split_list(v: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut angle, mut esc) = (0, false, false, false);
    for (i, &b) in v.iter().enumerate() {
        if esc {
            esc = false;
            continue;
        }
        match b {
            b'\\' if quoted => esc = true,
            b'"' => quoted = !quoted,
            b'<' if !quoted => angle = true,
            b'>' if !quoted => angle = false,
            b',' if !quoted && !angle => {
                out.push(trim(v.get(start..i).unwrap_or(&[])));
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(trim(v.get(start..).unwrap_or(&[])));
    out.retain(|s| !s.is_empty());
    out
}

fn trim(s: &[u8]) -> &[u8] {
    let a = s.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(s.len());
    let z = s.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(a, |z| z + 1);
    s.get(a..z).unwrap_or(&[])
}

/// Every value of a list header, in order, across its lines.
pub(crate) fn values<'a>(msg: &Message<'_, 'a>, kind: HeaderKind) -> Vec<&'a [u8]> {
    msg.headers_of(kind).flat_map(|h| split_list(h.value)).collect()
}

/// The edits of one forwarded request.
#[derive(Debug, Default)]
pub(crate) struct Fwd {
    /// New Request-URI.
    pub uri: Option<String>,
    /// Our Via value, pushed on top.
    pub via: String,
    /// Adds `received`/`rport` of this flow to the previous hop's Via (RFC 3261 §18.2.1,
    /// RFC 3581), so responses can be routed back by Via alone.
    pub received: Option<Flow>,
    /// Our Record-Route value.
    pub record_route: Option<String>,
    /// How many Route values (ours) to remove from the top.
    pub pop_routes: usize,
    /// Route values to put on top (a binding's Path).
    pub routes: Vec<String>,
    /// A new From value (caller id towards the carrier).
    pub from: Option<String>,
    /// Extra header lines.
    pub extra: Vec<(&'static str, String)>,
    /// Header kinds to leave out (credentials meant for us).
    pub drop: Vec<HeaderKind>,
}

/// Writes the forwarded copy of `msg` with the edits of `f`. `None` if Max-Forwards is 0 or
/// the message is not a request (the caller refused those earlier).
pub(crate) fn forward(msg: &Message<'_, '_>, f: &Fwd) -> Option<Vec<u8>> {
    let StartLine::Request { method, uri } = msg.start else { return None };
    let mut out = Vec::with_capacity(msg.bytes.len() + 512);
    let mut s = String::new();
    let uri = f.uri.as_deref().map_or(uri, str::as_bytes);
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(uri);
    out.extend_from_slice(b" SIP/2.0\r\n");
    let _ = write!(s, "Via: {}\r\n", f.via);
    out.extend_from_slice(s.as_bytes());
    // The previous hop's Vias, the first with received/rport.
    for (i, v) in values(msg, HeaderKind::Via).into_iter().enumerate() {
        out.extend_from_slice(b"Via: ");
        match (i, f.received) {
            (0, Some(flow)) => out.extend_from_slice(&with_received(v, flow)),
            _ => out.extend_from_slice(v),
        }
        out.extend_from_slice(b"\r\n");
    }
    if let Some(rr) = &f.record_route {
        out.extend_from_slice(b"Record-Route: ");
        out.extend_from_slice(rr.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for r in &f.routes {
        out.extend_from_slice(b"Route: ");
        out.extend_from_slice(r.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for r in values(msg, HeaderKind::Route).into_iter().skip(f.pop_routes) {
        out.extend_from_slice(b"Route: ");
        out.extend_from_slice(r);
        out.extend_from_slice(b"\r\n");
    }
    let mut mf = false;
    for h in msg.headers {
        match h.kind {
            HeaderKind::Via | HeaderKind::Route | HeaderKind::ContentLength => {}
            k if f.drop.contains(&k) => {}
            // Inter-node marks are never passed on: a node adds its own (see `cluster`).
            HeaderKind::Other if h.name.eq_ignore_ascii_case(super::cluster::NODE_HEADER.as_bytes()) => {}
            HeaderKind::MaxForwards => {
                mf = true;
                let n = std::str::from_utf8(h.value).ok().and_then(|v| v.trim().parse::<u8>().ok())?;
                if n == 0 {
                    return None;
                }
                out.extend_from_slice(format!("Max-Forwards: {}\r\n", n - 1).as_bytes());
            }
            HeaderKind::From if f.from.is_some() => {
                out.extend_from_slice(b"From: ");
                out.extend_from_slice(f.from.as_deref().unwrap_or_default().as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            _ => out.extend_from_slice(msg.bytes.get(h.line_start as usize..h.line_end as usize).unwrap_or(&[])),
        }
    }
    if !mf {
        out.extend_from_slice(b"Max-Forwards: 69\r\n");
    }
    for (n, v) in &f.extra {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", msg.body.len()).as_bytes());
    out.extend_from_slice(msg.body);
    Some(out)
}

/// A Via value with `received` and `rport` set to where it really came from.
fn with_received(v: &[u8], flow: Flow) -> Vec<u8> {
    let text = String::from_utf8_lossy(v);
    let mut parts: Vec<&str> = text.split(';').collect();
    let head = parts.remove(0);
    let mut out = head.trim_end().to_owned();
    for p in parts {
        let name = p.split('=').next().unwrap_or("").trim();
        if name.eq_ignore_ascii_case("received") || name.eq_ignore_ascii_case("rport") {
            continue;
        }
        out.push(';');
        out.push_str(p.trim());
    }
    let _ = write!(out, ";received={};rport={}", flow.remote.ip(), flow.remote.port());
    out.into_bytes()
}

/// The request line URI, Route lines, From, Call-ID and CSeq number of a request we sent,
/// for the ACK and CANCEL we build from it.
fn same_transaction(invite: &Message<'_, '_>, method: &str, to: &[u8]) -> Option<Vec<u8>> {
    let StartLine::Request { uri, .. } = invite.start else { return None };
    let cseq = invite.cseq()?.ok()?.seq;
    let via = values(invite, HeaderKind::Via).into_iter().next()?;
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(uri);
    out.extend_from_slice(b" SIP/2.0\r\nVia: ");
    out.extend_from_slice(via);
    out.extend_from_slice(b"\r\n");
    for r in values(invite, HeaderKind::Route) {
        out.extend_from_slice(b"Route: ");
        out.extend_from_slice(r);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Max-Forwards: 70\r\nFrom: ");
    out.extend_from_slice(invite.value(HeaderKind::From)?);
    out.extend_from_slice(b"\r\nTo: ");
    out.extend_from_slice(to);
    out.extend_from_slice(b"\r\nCall-ID: ");
    out.extend_from_slice(invite.call_id()?);
    out.extend_from_slice(format!("\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n").as_bytes());
    Some(out)
}

/// The ACK of a non-2xx final response to an INVITE we sent (RFC 3261 §17.1.1.3): same
/// branch, To from the response.
pub(crate) fn ack(invite: &Message<'_, '_>, resp: &Message<'_, '_>) -> Option<Vec<u8>> {
    same_transaction(invite, "ACK", resp.value(HeaderKind::To)?)
}

/// The CANCEL of an INVITE we sent (RFC 3261 §9.1): same branch and To.
pub(crate) fn cancel(invite: &Message<'_, '_>) -> Option<Vec<u8>> {
    same_transaction(invite, "CANCEL", invite.value(HeaderKind::To)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_split_outside_quotes_and_brackets() {
        let v = br#""a,b" <sip:x;p=1,2>;lr , <sip:y>"#;
        let parts = split_list(v);
        assert_eq!(parts, vec![&br#""a,b" <sip:x;p=1,2>;lr"#[..], &b"<sip:y>"[..]]);
    }

    #[test]
    fn received_replaces_old_values() {
        let flow = Flow::udp(std::net::SocketAddr::from(([127, 0, 0, 1], 5070)));
        let v = with_received(b"SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport", flow);
        assert_eq!(v, b"SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;received=127.0.0.1;rport=5070");
    }
}
