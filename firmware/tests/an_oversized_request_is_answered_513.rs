//! A request in a datagram larger than the box handles (`MAX_SIP_LEN`) is answered 513
//! Message Too Large (RFC 3261 §21.5.14) when the headers a response needs can be read; an
//! oversized ACK or a datagram without them is dropped and counted. Nothing else changes: a
//! normal request right after is served.
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "common/sim.rs"]
mod sim;

use std::time::Duration;

use carillon_firmware::gateway::MAX_SIP_LEN;
use sim::*;

fn options(call_id: &str, method: &str, padding: usize) -> Vec<u8> {
    let p = phone_addr(101);
    format!(
        "{method} sip:{REALM} SIP/2.0\r\nVia: SIP/2.0/UDP {p};branch=z9hG4bKbig{call_id};rport\r\nMax-Forwards: 70\r\n\
         From: <sip:101@{REALM}>;tag=big\r\nTo: <sip:{REALM}>\r\nCall-ID: {call_id}\r\nCSeq: 1 {method}\r\n\
         X-Padding: {}\r\nContent-Length: 0\r\n\r\n",
        "x".repeat(padding)
    )
    .into_bytes()
}

#[test]
fn a_request_over_the_limit_gets_513_and_a_normal_one_after_it_is_served() {
    run(|| {
        let mut s = Sim::new();
        s.boot_online();
        s.configure(1, false);
        s.add_phone(101, Answer::Never);
        let big = options("too-big", "OPTIONS", MAX_SIP_LEN);
        assert!(big.len() > MAX_SIP_LEN && big.len() < 65_507, "{}", big.len());
        let rejected_before = s.gw.counters().sip_rejected;
        s.phone_sends(101, big);
        s.run_for(Duration::from_millis(100));
        let answers: Vec<_> =
            s.phone(101).responses().filter(|r| text(r).contains("Call-ID: too-big")).cloned().collect();
        assert_eq!(answers.len(), 1, "one answer");
        assert_eq!(status_of(&answers[0]), Some(513), "{}", text(&answers[0]));
        assert!(text(&answers[0]).contains("branch=z9hG4bKbigtoo-big"), "the 513 matches the request's Via");
        assert_eq!(s.gw.counters().sip_rejected, rejected_before + 1, "counted");
        assert!(!s.cloud.sip_seen.iter().any(|m| text(m).contains("too-big")), "nothing forwarded");

        // An oversized ACK gets no answer; a datagram without a readable Via neither.
        s.phone_sends(101, options("big-ack", "ACK", MAX_SIP_LEN));
        let mut no_via = options("no-via", "OPTIONS", MAX_SIP_LEN);
        let t = text(&no_via).replacen("Via: SIP/2.0/UDP", "Via: garbage", 1);
        no_via = t.into_bytes();
        s.phone_sends(101, no_via);
        s.run_for(Duration::from_millis(100));
        assert!(!s.phone(101).responses().any(|r| text(r).contains("big-ack") || text(r).contains("no-via")));
        assert_eq!(s.gw.counters().sip_rejected, rejected_before + 3);

        // Just under the limit is handled as usual (forwarded to the cloud online).
        let fits = options("fits", "OPTIONS", MAX_SIP_LEN - 600);
        assert!(fits.len() < MAX_SIP_LEN - 300);
        s.phone_sends(101, fits);
        s.run_for(Duration::from_millis(200));
        assert!(s.cloud.sip_seen.iter().any(|m| text(m).contains("Call-ID: fits")), "the normal request went on");
    });
}
