//! A non-INVITE client transaction (RFC 3261 §17.1.2): Timer E doubles from T1 up to T2 and is
//! T2 in Proceeding; Timer F (64*T1) times it out; a final response completes it and Timer K
//! (T4 over UDP, zero over TCP) absorbs response retransmissions.

mod transaction_support;

use carillon_protocol::transaction::{Config, Event, Received, State, Timer, Transport};
use transaction_support::*;

#[test]
fn timer_e_doubles_to_t2_then_timer_f() {
    let mut t = Txns::new(Config::DEFAULT);
    let options = request("OPTIONS", "z9hG4bKopt");
    let h = t.start_client(ms(0), cloud(), Transport::Udp, &options).unwrap();
    assert_eq!(t.state(h), Some(State::Trying));
    assert_eq!(transmits(&mut t).len(), 1);
    let (sent, evs) = run_until(&mut t, ms(40_000));
    let times: Vec<u64> = sent.iter().map(|(at, _)| at.as_millis()).collect();
    // 0.5, 1, 2, 4 s apart, then capped at T2 = 4 s.
    assert_eq!(times, [500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500]);
    assert!(sent.iter().all(|(_, s)| s.bytes == options));
    assert_eq!(
        evs,
        [(ms(32_000), Event::Timeout { handle: h, timer: Timer::F }), (ms(32_000), Event::Terminated { handle: h })]
    );
}

#[test]
fn provisional_makes_timer_e_t2() {
    let mut t = Txns::new(Config::DEFAULT);
    let register = request("REGISTER", "z9hG4bKreg");
    let h = t.start_client(ms(0), cloud(), Transport::Udp, &register).unwrap();
    transmits(&mut t);
    run_until(&mut t, ms(600)); // one retransmission at 0.5 s; the next E is due at 1.5 s
    feed_response(&mut t, ms(700), &response(&register, 100, "Trying", None)).unwrap();
    assert_eq!(t.state(h), Some(State::Proceeding));
    assert_eq!(events(&mut t), [Event::Response { handle: h, code: 100 }]);
    let (sent, _) = run_until(&mut t, ms(14_000));
    let times: Vec<u64> = sent.iter().map(|(at, _)| at.as_millis()).collect();
    // Still retransmitting in Proceeding (UDP), now every T2.
    assert_eq!(times, [1_500, 5_500, 9_500, 13_500]);
}

#[test]
fn final_response_then_timer_k() {
    let mut t = Txns::new(Config::DEFAULT);
    let bye = request("BYE", "z9hG4bKbye");
    let h = t.start_client(ms(0), cloud(), Transport::Udp, &bye).unwrap();
    transmits(&mut t);
    let ok = response(&bye, 200, "OK", Some("b"));
    assert_eq!(feed_response(&mut t, ms(200), &ok), Ok(Received::Response(h)));
    assert_eq!(events(&mut t), [Event::Response { handle: h, code: 200 }]);
    assert_eq!(t.state(h), Some(State::Completed));
    // Retransmissions of the final response are absorbed, no event, no ACK.
    assert_eq!(feed_response(&mut t, ms(300), &ok), Ok(Received::ResponseAbsorbed(h)));
    assert!(events(&mut t).is_empty());
    assert!(transmits(&mut t).is_empty());
    // Timer K = T4 = 5 s; no more retransmissions of the request.
    assert_eq!(t.poll_timeout(), Some(ms(5_200)));
    let (sent, evs) = run_until(&mut t, ms(60_000));
    assert!(sent.is_empty());
    assert_eq!(evs, [(ms(5_200), Event::Terminated { handle: h })]);
}

#[test]
fn over_tcp_no_retransmission_and_timer_k_zero() {
    let mut t = Txns::new(Config::DEFAULT);
    let msg = request("MESSAGE", "z9hG4bKtcpmsg");
    let h = t.start_client(ms(0), cloud(), Transport::Tcp, &msg).unwrap();
    transmits(&mut t);
    assert_eq!(t.poll_timeout(), Some(ms(32_000)), "only Timer F");
    feed_response(&mut t, ms(80), &response(&msg, 202, "Accepted", Some("m"))).unwrap();
    assert_eq!(t.poll_timeout(), Some(ms(80)), "Timer K is zero");
    t.handle_timeout(ms(80));
    assert_eq!(events(&mut t), [Event::Response { handle: h, code: 202 }, Event::Terminated { handle: h }]);
    assert!(t.is_empty());
}

#[test]
fn transport_error_ends_the_transaction() {
    let mut t = Txns::new(Config::DEFAULT);
    let h = t.start_client(ms(0), cloud(), Transport::Tls, &request("OPTIONS", "z9hG4bKdown")).unwrap();
    let sent = transmits(&mut t);
    t.handle_transport_error(ms(1), sent[0].handle).unwrap();
    assert_eq!(events(&mut t), [Event::TransportError { handle: h }, Event::Terminated { handle: h }]);
    assert_eq!(t.poll_timeout(), None);
    assert!(t.is_empty());
}
