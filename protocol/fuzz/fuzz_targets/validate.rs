//! Validation and the proxy's edits. Oracle: a message that validates can be forwarded with
//! the usual edits into a large buffer, and the copy parses and validates again.
#![no_main]
use carillon_protocol::write::{write_response, Forward};
use carillon_protocol::{parse, proxy_checks, validate, Framing, Header, ParseConfig, Status};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut headers = [Header::EMPTY; 64];
    let Ok(Status::Complete(m)) = parse(data, &mut headers, Framing::Datagram, &ParseConfig::DEFAULT) else {
        return;
    };
    if validate(&m).is_err() {
        return;
    }
    let _ = proxy_checks(&m, &["path", "outbound"]);
    let mut out = vec![0u8; data.len() * 2 + 1024];
    let written = if m.is_request() {
        let mut f = Forward::new().push_via(b"SIP/2.0/TLS box.example;branch=z9hG4bKfuzz").record_route(b"<sip:box.example;lr>");
        if matches!(m.max_forwards(), Some(Ok(n)) if n > 0) || m.max_forwards().is_none() {
            f = f.decrement_max_forwards();
        }
        f.write(&m, &mut out)
    } else {
        Forward::new().write(&m, &mut out)
    };
    let n = written.expect("forwarding a valid message into a large buffer succeeds");
    let mut headers2 = [Header::EMPTY; 70];
    match parse(&out[..n], &mut headers2, Framing::Stream, &ParseConfig::DEFAULT) {
        Ok(Status::Complete(copy)) => {
            validate(&copy).expect("the forwarded copy of a valid message is valid");
            assert_eq!(copy.body, m.body);
        }
        other => panic!("forwarded copy does not parse: {other:?}"),
    }
    if m.is_request() {
        let mut resp = vec![0u8; data.len() + 512];
        let n = write_response(&m, 404, "Not Found", Some(b"t1"), &[], b"", &mut resp).expect("response fits");
        let mut h3 = [Header::EMPTY; 64];
        assert!(matches!(parse(&resp[..n], &mut h3, Framing::Stream, &ParseConfig::DEFAULT), Ok(Status::Complete(_))));
    }
});
