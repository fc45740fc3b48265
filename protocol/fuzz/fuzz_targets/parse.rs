//! Framing and every typed accessor, on both framings: must never panic, and a stream parse
//! must agree with itself when the input is fed whole.
#![no_main]
use carillon_protocol::{parse, Framing, Header, ParseConfig, Status};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for framing in [Framing::Datagram, Framing::Stream] {
        let mut headers = [Header::EMPTY; 64];
        if let Ok(Status::Complete(m)) = parse(data, &mut headers, framing, &ParseConfig::DEFAULT) {
            assert!(m.len <= data.len());
            assert!(m.body.len() <= m.bytes.len());
            let _ = m.top_via();
            for v in m.vias() {
                if let Ok(v) = v {
                    let _ = (v.branch(), v.received(), v.rport(), v.maddr());
                }
            }
            let _ = (m.from(), m.to(), m.cseq(), m.max_forwards(), m.expires(), m.request_uri());
            for c in m.contacts().flatten() {
                if let carillon_protocol::Contact::Addr(a) = c {
                    let _ = (a.tag(), a.expires(), a.q(), a.uri.param("transport"));
                    let mut out = [0u8; 256];
                    let _ = a.uri.user_unescaped(&mut out);
                }
            }
            let _ = (m.routes().count(), m.record_routes().count(), m.paths().count());
        }
    }
});
