//! Parse + typed access of Via/From/To/Call-ID/CSeq/Contact in a loop, by Carillon or by rsip,
//! for instruction counts under callgrind (deterministic, unlike wall time on a shared
//! machine): `parse_compare carillon|rsip invite|register|ok200 N`.
use carillon_protocol::{parse, Contact, Framing, Header, ParseConfig, Status};
use rsip::headers::ToTypedHeader;
use rsip::prelude::HeadersExt;

fn carillon(bytes: &[u8]) -> usize {
    let mut headers = [Header::EMPTY; 64];
    let Ok(Status::Complete(m)) = parse(bytes, &mut headers, Framing::Datagram, &ParseConfig::DEFAULT) else {
        return 0;
    };
    let mut n = m.top_via().and_then(Result::ok).and_then(|v| v.branch()).map_or(0, <[u8]>::len);
    n += m.from().and_then(Result::ok).and_then(|f| f.tag()).map_or(0, <[u8]>::len);
    n += m.to().and_then(Result::ok).map_or(0, |t| t.uri.raw.len());
    n += m.call_id().map_or(0, <[u8]>::len);
    n += m.cseq().and_then(Result::ok).map_or(0, |c| c.seq as usize);
    if let Some(Ok(Contact::Addr(a))) = m.contacts().next() {
        n += a.uri.raw.len();
    }
    n
}

fn rsip(bytes: &[u8]) -> usize {
    let Ok(msg) = rsip::SipMessage::try_from(bytes) else { return 0 };
    let h = match &msg {
        rsip::SipMessage::Request(r) => {
            (r.via_header(), r.from_header(), r.to_header(), r.call_id_header(), r.cseq_header(), r.contact_header())
        }
        rsip::SipMessage::Response(r) => {
            (r.via_header(), r.from_header(), r.to_header(), r.call_id_header(), r.cseq_header(), r.contact_header())
        }
    };
    let mut n = h.0.and_then(|v| v.typed()).ok().and_then(|v| v.branch().map(|b| b.to_string().len())).unwrap_or(0);
    n += h.1.and_then(|f| f.typed()).ok().and_then(|f| f.tag().map(|t| t.to_string().len())).unwrap_or(0);
    n += h.2.and_then(|t| t.typed()).map(|t| t.uri.to_string().len()).unwrap_or(0);
    n += h.3.map(|c| c.to_string().len()).unwrap_or(0);
    n += h.4.and_then(|c| c.typed()).map(|c| c.seq as usize).unwrap_or(0);
    n += h.5.and_then(|c| c.typed()).map(|c| c.uri.to_string().len()).unwrap_or(0);
    n
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bytes: &[u8] = match args.get(2).map(String::as_str) {
        Some("register") => include_bytes!("../tests/data/register.sip"),
        Some("ok200") => include_bytes!("../tests/data/ok200.sip"),
        _ => include_bytes!("../tests/data/invite.sip"),
    };
    let n: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let f = if args.get(1).map(String::as_str) == Some("rsip") { rsip } else { carillon };
    let mut total = 0;
    for _ in 0..n {
        total += f(std::hint::black_box(bytes));
    }
    println!("{total}");
}
