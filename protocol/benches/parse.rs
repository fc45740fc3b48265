#![allow(missing_docs)] // criterion's macros generate undocumented items
//! Parse + typed access of Via/From/To/Call-ID/CSeq/Contact: Carillon's codec against rsip, on
//! the same three messages in the same run. `cargo bench -p carillon-protocol --bench parse`.
use std::hint::black_box;

use carillon_protocol::{parse, Contact, Framing, Header, ParseConfig, Status};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rsip::headers::ToTypedHeader;
use rsip::prelude::HeadersExt;

const MESSAGES: [(&str, &[u8]); 3] = [
    ("invite_sdp", include_bytes!("../tests/data/invite.sip")),
    ("register_digest", include_bytes!("../tests/data/register.sip")),
    ("ok200_sdp", include_bytes!("../tests/data/ok200.sip")),
];

/// Ours: frame, then parse the six headers a proxy reads. Returns a value depending on each.
fn carillon(bytes: &[u8]) -> usize {
    let mut headers = [Header::EMPTY; 64];
    let Ok(Status::Complete(msg)) = parse(bytes, &mut headers, Framing::Datagram, &ParseConfig::DEFAULT) else {
        panic!("bench message must parse")
    };
    let via = msg.top_via().and_then(Result::ok).expect("via");
    let from = msg.from().and_then(Result::ok).expect("from");
    let to = msg.to().and_then(Result::ok).expect("to");
    let call_id = msg.call_id().expect("call-id");
    let cseq = msg.cseq().and_then(Result::ok).expect("cseq");
    let contact = match msg.contacts().next() {
        Some(Ok(Contact::Addr(a))) => a.uri.raw.len(),
        _ => panic!("contact"),
    };
    via.branch().map_or(0, <[u8]>::len)
        + from.tag().map_or(0, <[u8]>::len)
        + to.uri.raw.len()
        + call_id.len()
        + cseq.seq as usize
        + contact
}

/// rsip: parse, then the same six headers in their typed forms (Call-ID has no typed form).
fn rsip(bytes: &[u8]) -> usize {
    let msg = rsip::SipMessage::try_from(bytes).expect("rsip parses the bench message");
    let (via, from, to, call_id, cseq, contact) = match &msg {
        rsip::SipMessage::Request(r) => (
            r.via_header().and_then(|h| h.typed()),
            r.from_header().and_then(|h| h.typed()),
            r.to_header().and_then(|h| h.typed()),
            r.call_id_header().map(|c| c.to_string().len()),
            r.cseq_header().and_then(|h| h.typed()),
            r.contact_header().and_then(|h| h.typed()),
        ),
        rsip::SipMessage::Response(r) => (
            r.via_header().and_then(|h| h.typed()),
            r.from_header().and_then(|h| h.typed()),
            r.to_header().and_then(|h| h.typed()),
            r.call_id_header().map(|c| c.to_string().len()),
            r.cseq_header().and_then(|h| h.typed()),
            r.contact_header().and_then(|h| h.typed()),
        ),
    };
    let via = via.expect("via");
    let branch = via.branch().map(|b| b.to_string().len()).unwrap_or(0);
    branch
        + from.expect("from").tag().map(|t| t.to_string().len()).unwrap_or(0)
        + to.expect("to").uri.to_string().len()
        + call_id.expect("call-id")
        + cseq.expect("cseq").seq as usize
        + contact.expect("contact").uri.to_string().len()
}

fn bench(c: &mut Criterion) {
    for (name, bytes) in MESSAGES {
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function("carillon", |b| b.iter(|| carillon(black_box(bytes))));
        g.bench_function("rsip", |b| b.iter(|| rsip(black_box(bytes))));
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
