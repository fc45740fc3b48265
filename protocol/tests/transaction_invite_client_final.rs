//! How an INVITE client transaction ends (RFC 3261 §17.1.1.2–3, RFC 6026 §8.4): a non-2xx
//! final response is acknowledged by the transaction itself, the ACK re-sent for every
//! retransmission of that response until Timer D; a 2xx moves to Accepted, where every 2xx
//! (retransmitted or forked) reaches the TU until Timer M, and no ACK is generated.

mod transaction_support;

use carillon_protocol::transaction::{Config, Event, Received, State, Transport};
use transaction_support::*;

fn invite_with_route() -> Vec<u8> {
    b"INVITE sip:102@school.example SIP/2.0\r\n\
Via: SIP/2.0/UDP box.school:5060;branch=z9hG4bKbusy, SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKphone\r\n\
Max-Forwards: 69\r\n\
Route: <sip:cloud.example;lr>\r\n\
From: <sip:101@school.example>;tag=f101\r\n\
To: <sip:102@school.example>\r\n\
Call-ID: busy-1\r\n\
CSeq: 7 INVITE\r\n\
Contact: <sip:101@10.0.0.5>\r\n\
Content-Length: 0\r\n\r\n"
        .to_vec()
}

#[test]
fn non_2xx_final_is_acked_and_ack_resent_until_timer_d() {
    let mut t = Txns::new(Config::DEFAULT);
    let invite = invite_with_route();
    let h = t.start_client(ms(0), cloud(), Transport::Udp, &invite).unwrap();
    transmits(&mut t);

    // The response as the next hop sends it: only our Via is left.
    let busy = response(&invite, 486, "Busy Here", Some("uas-tag"));
    let busy =
        String::from_utf8(busy).unwrap().replace(", SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKphone", "").into_bytes();
    assert_eq!(feed_response(&mut t, ms(300), &busy), Ok(Received::Response(h)));
    assert_eq!(events(&mut t), [Event::Response { handle: h, code: 486 }]);
    assert_eq!(t.state(h), Some(State::Completed));

    let sent = transmits(&mut t);
    assert_eq!(sent.len(), 1, "exactly the ACK");
    let ack = sent[0].text();
    assert_eq!(sent[0].dest, cloud());
    assert!(ack.starts_with("ACK sip:102@school.example SIP/2.0\r\n"), "{ack}");
    // One Via, the top one of the INVITE (§17.1.1.3).
    assert!(ack.contains("\r\nVia: SIP/2.0/UDP box.school:5060;branch=z9hG4bKbusy\r\n"), "{ack}");
    assert!(!ack.contains("z9hG4bKphone"));
    assert!(ack.contains("\r\nTo: <sip:102@school.example>;tag=uas-tag\r\n"), "{ack}");
    assert!(ack.contains("\r\nFrom: <sip:101@school.example>;tag=f101\r\n"));
    assert!(ack.contains("\r\nCall-ID: busy-1\r\n"));
    assert!(ack.contains("\r\nCSeq: 7 ACK\r\n"));
    assert!(ack.contains("\r\nRoute: <sip:cloud.example;lr>\r\n"));
    assert!(!ack.contains("Contact"));
    assert!(ack.ends_with("Content-Length: 0\r\n\r\n"));
    // It parses and validates as a request.
    let mut headers = [carillon_protocol::Header::EMPTY; 32];
    let Ok(carillon_protocol::Status::Complete(m)) = carillon_protocol::parse(
        &sent[0].bytes,
        &mut headers,
        carillon_protocol::Framing::Datagram,
        &Default::default(),
    ) else {
        panic!("ACK does not parse")
    };
    carillon_protocol::validate(&m).unwrap();

    // A retransmitted 486 is absorbed and the same ACK goes again.
    assert_eq!(feed_response(&mut t, ms(1_000), &busy), Ok(Received::ResponseAbsorbed(h)));
    assert!(events(&mut t).is_empty());
    let again = transmits(&mut t);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].bytes, sent[0].bytes);
    assert_eq!(t.stats().response_retransmissions, 1);

    // Timer D: 32 s over UDP. No INVITE retransmissions in between.
    assert_eq!(t.poll_timeout(), Some(ms(32_300)));
    let (sent, evs) = run_until(&mut t, ms(40_000));
    assert!(sent.is_empty());
    assert_eq!(evs, [(ms(32_300), Event::Terminated { handle: h })]);
}

#[test]
fn timer_d_is_zero_over_tcp() {
    let mut t = Txns::new(Config::DEFAULT);
    let invite = request("INVITE", "z9hG4bKtcp");
    let h = t.start_client(ms(0), cloud(), Transport::Tcp, &invite).unwrap();
    transmits(&mut t);
    feed_response(&mut t, ms(50), &response(&invite, 404, "Not Found", Some("x"))).unwrap();
    assert_eq!(transmits(&mut t).len(), 1);
    assert_eq!(t.poll_timeout(), Some(ms(50)));
    t.handle_timeout(ms(50));
    assert_eq!(events(&mut t), [Event::Response { handle: h, code: 404 }, Event::Terminated { handle: h }]);
}

#[test]
fn two_xx_goes_to_accepted_and_every_2xx_reaches_the_tu() {
    let mut t = Txns::new(Config::DEFAULT);
    let invite = request("INVITE", "z9hG4bKok");
    let h = t.start_client(ms(0), cloud(), Transport::Udp, &invite).unwrap();
    transmits(&mut t);
    feed_response(&mut t, ms(100), &response(&invite, 100, "Trying", None)).unwrap();
    assert_eq!(events(&mut t), [Event::Response { handle: h, code: 100 }]);
    let ok_a = response(&invite, 200, "OK", Some("fork-a"));
    assert_eq!(feed_response(&mut t, ms(2_000), &ok_a), Ok(Received::Response(h)));
    assert_eq!(events(&mut t), [Event::Response { handle: h, code: 200 }]);
    assert_eq!(t.state(h), Some(State::Accepted));
    // The TU (the UAC core, end to end) acknowledges a 2xx, never the transaction.
    assert!(transmits(&mut t).is_empty());

    // A retransmission and a fork's 2xx both reach the TU (RFC 6026 §8.4), not as strays.
    assert_eq!(feed_response(&mut t, ms(2_500), &ok_a), Ok(Received::Response(h)));
    assert_eq!(events(&mut t), [Event::Response { handle: h, code: 200 }]);
    let ok_b = response(&invite, 200, "OK", Some("fork-b"));
    assert_eq!(feed_response(&mut t, ms(2_600), &ok_b), Ok(Received::Response(h)));
    assert_eq!(events(&mut t), [Event::Response { handle: h, code: 200 }]);
    assert_eq!(t.response(h), Some(&ok_b[..]));
    // Provisional responses after the 2xx are absorbed.
    assert_eq!(
        feed_response(&mut t, ms(2_700), &response(&invite, 180, "Ringing", Some("fork-c"))),
        Ok(Received::ResponseAbsorbed(h))
    );
    assert!(events(&mut t).is_empty());

    // Timer M = 64*T1 after the first 2xx.
    assert_eq!(t.poll_timeout(), Some(ms(34_000)));
    let (_, evs) = run_until(&mut t, ms(40_000));
    assert_eq!(evs, [(ms(34_000), Event::Terminated { handle: h })]);
    assert_eq!(feed_response(&mut t, ms(40_000), &ok_a), Ok(Received::Stray));
}
