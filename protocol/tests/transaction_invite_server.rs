//! An INVITE server transaction (RFC 3261 §17.2.1 with RFC 6026): the TU decides about 100;
//! request retransmissions get the latest response again; a non-2xx final response is
//! retransmitted on Timer G (doubling, capped at T2) until the ACK (then Timer I) or Timer H;
//! a 2xx moves to Accepted (RFC 6026 §8.7), where INVITE retransmissions are absorbed and
//! the TU's 2xx retransmissions pass through until Timer L. Also the non-INVITE server
//! (§17.2.2): Trying absorbs silently, Completed answers again, Timer J.

mod transaction_support;

use carillon_protocol::transaction::{Config, Error, Event, Received, State, Timer, Transport};
use transaction_support::*;

#[test]
fn non_2xx_retransmitted_on_timer_g_until_ack_then_timer_i() {
    let mut t = Txns::new(Config::DEFAULT);
    let invite = request("INVITE", "z9hG4bKsrv1");
    let Ok(Received::New { handle: h, cancels: None }) = feed_request(&mut t, ms(0), phone(), Transport::Udp, &invite)
    else {
        panic!()
    };
    assert_eq!(events(&mut t), [Event::Request { handle: h, cancels: None }]);
    assert_eq!(t.request(h), Some(&invite[..]));
    assert_eq!(t.state(h), Some(State::Proceeding));
    // No automatic 100: nothing is sent until the TU says so.
    assert!(transmits(&mut t).is_empty());
    assert_eq!(t.poll_timeout(), None);

    let trying = response(&invite, 100, "Trying", None);
    t.respond(ms(10), h, &trying).unwrap();
    let sent = transmits(&mut t);
    assert_eq!((sent.len(), sent[0].dest, sent[0].bytes.clone()), (1, phone(), trying.clone()));
    // The phone did not hear it and sends the INVITE again: the 100 goes again.
    assert_eq!(feed_request(&mut t, ms(500), phone(), Transport::Udp, &invite), Ok(Received::Retransmission(h)));
    assert_eq!(transmits(&mut t)[0].bytes, trying);
    assert!(events(&mut t).is_empty(), "a retransmission is not a new request");

    let busy = response(&invite, 486, "Busy Here", Some("srv"));
    t.respond(ms(1_000), h, &busy).unwrap();
    assert_eq!(t.state(h), Some(State::Completed));
    assert_eq!(transmits(&mut t)[0].bytes, busy);
    let (sent, _) = run_until(&mut t, ms(9_000));
    let times: Vec<u64> = sent.iter().map(|(at, _)| at.as_millis()).collect();
    assert_eq!(times, [1_500, 2_500, 4_500, 8_500]);
    assert!(sent.iter().all(|(_, s)| s.bytes == busy));
    // An INVITE retransmission in Completed also gets the final response.
    feed_request(&mut t, ms(9_100), phone(), Transport::Udp, &invite).unwrap();
    assert_eq!(transmits(&mut t)[0].bytes, busy);

    let ack = request("ACK", "z9hG4bKsrv1");
    assert_eq!(feed_request(&mut t, ms(9_200), phone(), Transport::Udp, &ack), Ok(Received::AckAbsorbed(h)));
    assert_eq!(t.state(h), Some(State::Confirmed));
    assert!(events(&mut t).is_empty(), "the ACK for a non-2xx is the transaction's own");
    // A retransmitted ACK is absorbed too; Timer I = T4; no more Timer G.
    assert_eq!(feed_request(&mut t, ms(9_300), phone(), Transport::Udp, &ack), Ok(Received::AckAbsorbed(h)));
    assert_eq!(t.poll_timeout(), Some(ms(14_200)));
    let (sent, evs) = run_until(&mut t, ms(60_000));
    assert!(sent.is_empty());
    assert_eq!(evs, [(ms(14_200), Event::Terminated { handle: h })]);
}

#[test]
fn no_ack_timer_g_capped_then_timer_h() {
    let mut t = Txns::new(Config::DEFAULT);
    let invite = request("INVITE", "z9hG4bKnoack");
    let Ok(Received::New { handle: h, .. }) = feed_request(&mut t, ms(0), phone(), Transport::Udp, &invite) else {
        panic!()
    };
    events(&mut t);
    t.respond(ms(0), h, &response(&invite, 603, "Decline", Some("d"))).unwrap();
    transmits(&mut t);
    let (sent, evs) = run_until(&mut t, ms(40_000));
    let times: Vec<u64> = sent.iter().map(|(at, _)| at.as_millis()).collect();
    assert_eq!(times, [500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500]);
    assert_eq!(
        evs,
        [(ms(32_000), Event::Timeout { handle: h, timer: Timer::H }), (ms(32_000), Event::Terminated { handle: h })]
    );
}

#[test]
fn over_tcp_no_timer_g_and_timer_i_zero() {
    let mut t = Txns::new(Config::DEFAULT);
    let invite =
        request_via("INVITE", "SIP/2.0/TCP 10.0.0.5:5060;branch=z9hG4bKtcp", 1, "<sip:102@school.example>", "c");
    let ack =
        request_via("ACK", "SIP/2.0/TCP 10.0.0.5:5060;branch=z9hG4bKtcp", 1, "<sip:102@school.example>;tag=t", "c");
    let Ok(Received::New { handle: h, .. }) = feed_request(&mut t, ms(0), phone(), Transport::Tcp, &invite) else {
        panic!()
    };
    t.respond(ms(0), h, &response(&invite, 480, "Temporarily Unavailable", Some("t"))).unwrap();
    assert_eq!(transmits(&mut t).len(), 1);
    assert_eq!(t.poll_timeout(), Some(ms(32_000)), "only Timer H");
    assert_eq!(feed_request(&mut t, ms(100), phone(), Transport::Tcp, &ack), Ok(Received::AckAbsorbed(h)));
    assert_eq!(t.poll_timeout(), Some(ms(100)), "Timer I is zero");
    t.handle_timeout(ms(100));
    assert_eq!(events(&mut t), [Event::Request { handle: h, cancels: None }, Event::Terminated { handle: h }]);
}

#[test]
fn two_xx_moves_to_accepted_per_rfc_6026() {
    let mut t = Txns::new(Config::DEFAULT);
    let invite = request("INVITE", "z9hG4bKanswer");
    let Ok(Received::New { handle: h, .. }) = feed_request(&mut t, ms(0), phone(), Transport::Udp, &invite) else {
        panic!()
    };
    events(&mut t);
    let ok = response(&invite, 200, "OK", Some("a"));
    t.respond(ms(100), h, &ok).unwrap();
    assert_eq!(transmits(&mut t)[0].bytes, ok);
    assert_eq!(t.state(h), Some(State::Accepted));
    // The transaction does not retransmit a 2xx (the TU does) ...
    assert_eq!(t.poll_timeout(), Some(ms(32_100)), "only Timer L");
    // ... and absorbs the INVITE retransmission instead of treating it as a new request.
    assert_eq!(feed_request(&mut t, ms(500), phone(), Transport::Udp, &invite), Ok(Received::Retransmission(h)));
    assert!(transmits(&mut t).is_empty());
    assert!(events(&mut t).is_empty());
    // The TU's own 2xx retransmission passes through; a non-2xx does not.
    t.respond(ms(600), h, &ok).unwrap();
    assert_eq!(transmits(&mut t).len(), 1);
    assert_eq!(t.respond(ms(600), h, &response(&invite, 500, "Oops", Some("a"))), Err(Error::WrongState));
    // The ACK for a 2xx has its own branch: no transaction has it, the TU routes it.
    let ack = request_via(
        "ACK",
        "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKack2xx",
        1,
        "<sip:102@school.example>;tag=a",
        "call-1@10.0.0.5",
    );
    assert_eq!(feed_request(&mut t, ms(700), phone(), Transport::Udp, &ack), Ok(Received::Ack(None)));
    // One with the INVITE's branch reaches the TU through the transaction.
    let ack_same = request("ACK", "z9hG4bKanswer");
    assert_eq!(feed_request(&mut t, ms(700), phone(), Transport::Udp, &ack_same), Ok(Received::Ack(Some(h))));
    assert_eq!(t.len(), 1, "an ACK never creates a transaction");
    let (_, evs) = run_until(&mut t, ms(40_000));
    assert_eq!(evs, [(ms(32_100), Event::Terminated { handle: h })]);
}

#[test]
fn one_final_response_only() {
    let mut t = Txns::new(Config::DEFAULT);
    let invite = request("INVITE", "z9hG4bKtwice");
    let Ok(Received::New { handle: h, .. }) = feed_request(&mut t, ms(0), phone(), Transport::Udp, &invite) else {
        panic!()
    };
    t.respond(ms(0), h, &response(&invite, 404, "Not Found", Some("n"))).unwrap();
    assert_eq!(t.respond(ms(1), h, &response(&invite, 200, "OK", Some("n"))), Err(Error::WrongState));
    assert_eq!(t.respond(ms(1), h, &response(&invite, 180, "Ringing", Some("n"))), Err(Error::WrongState));
    assert_eq!(t.respond(ms(1), h, &invite), Err(Error::Invalid("not a response")));
}

#[test]
fn non_invite_server_trying_completed_timer_j() {
    let mut t = Txns::new(Config::DEFAULT);
    let register = request("REGISTER", "z9hG4bKreg1");
    let Ok(Received::New { handle: h, .. }) = feed_request(&mut t, ms(0), phone(), Transport::Udp, &register) else {
        panic!()
    };
    assert_eq!(t.state(h), Some(State::Trying));
    // Trying: a retransmission is absorbed with nothing to send.
    assert_eq!(feed_request(&mut t, ms(500), phone(), Transport::Udp, &register), Ok(Received::Retransmission(h)));
    assert!(transmits(&mut t).is_empty());
    let ok = response(&register, 200, "OK", Some("r"));
    t.respond(ms(600), h, &ok).unwrap();
    assert_eq!(t.state(h), Some(State::Completed));
    assert_eq!(transmits(&mut t)[0].bytes, ok);
    // Completed: each retransmission gets the final response again; no Timer G here.
    feed_request(&mut t, ms(1_500), phone(), Transport::Udp, &register).unwrap();
    assert_eq!(transmits(&mut t)[0].bytes, ok);
    assert_eq!(t.stats().request_retransmissions, 2);
    assert_eq!(t.poll_timeout(), Some(ms(32_600)), "Timer J = 64*T1");
    let (sent, evs) = run_until(&mut t, ms(60_000));
    assert!(sent.is_empty());
    assert_eq!(evs.last(), Some(&(ms(32_600), Event::Terminated { handle: h })));
}

#[test]
fn non_invite_server_over_tcp_timer_j_zero() {
    let mut t = Txns::new(Config::DEFAULT);
    let options = request("OPTIONS", "z9hG4bKo");
    let Ok(Received::New { handle: h, .. }) = feed_request(&mut t, ms(0), phone(), Transport::Tcp, &options) else {
        panic!()
    };
    t.respond(ms(5), h, &response(&options, 200, "OK", Some("o"))).unwrap();
    assert_eq!(t.poll_timeout(), Some(ms(5)));
    // Even if the runtime runs the timer before sending, the response is not lost.
    t.handle_timeout(ms(5));
    assert_eq!(transmits(&mut t).len(), 1);
    assert_eq!(events(&mut t), [Event::Request { handle: h, cancels: None }, Event::Terminated { handle: h }]);
    assert!(t.is_empty());
}
