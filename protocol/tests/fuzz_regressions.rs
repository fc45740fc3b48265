//! Inputs the fuzzers found, reduced to what shows the fault, kept as regression tests.
//! (`protocol/fuzz/README.md` says how they are found and minimised.)

use carillon_protocol::write::Forward;
use carillon_protocol::{parse, validate, Framing, Header, ParseConfig, Status};

/// fuzz target `validate`, first minutes: a datagram without Content-Length (its body is the
/// rest of the datagram, RFC 3261 §18.3 / RFC 4475 §3.4.1) was forwarded without one, so on a
/// stream the copy lost its body.
#[test]
fn forwarding_a_datagram_without_content_length_keeps_the_body() {
    let msg = b"INVITE sip:102@school SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5\r\nFrom: <sip:101@school>\r\nTo: <sip:102@school>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n\r\nv=0\r\nc=IN IP4 10.0.0.5\r\n";
    let mut h = [Header::EMPTY; 16];
    let Ok(Status::Complete(m)) = parse(msg, &mut h, Framing::Datagram, &ParseConfig::DEFAULT) else { panic!() };
    validate(&m).expect("valid");
    assert_eq!(m.body, b"v=0\r\nc=IN IP4 10.0.0.5\r\n");
    let mut out = [0u8; 1024];
    let n = Forward::new().push_via(b"SIP/2.0/TCP box;branch=z9hG4bK1").write(&m, &mut out).expect("fits");
    let mut h2 = [Header::EMPTY; 16];
    let Ok(Status::Complete(copy)) = parse(&out[..n], &mut h2, Framing::Stream, &ParseConfig::DEFAULT) else {
        panic!()
    };
    assert_eq!(copy.body, m.body);
    assert_eq!(copy.content_length, Some(m.body.len()));
}
