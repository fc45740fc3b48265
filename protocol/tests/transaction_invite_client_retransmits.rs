//! An INVITE client transaction over UDP retransmits on Timer A, doubling from T1 without cap,
//! until Timer B (64*T1) times it out (RFC 3261 §17.1.1.2); over TCP it never retransmits; a
//! provisional response stops the retransmissions.

mod transaction_support;

use carillon_protocol::transaction::{Config, Event, State, Timer, Transactions, Transport};
use transaction_support::*;

#[test]
fn timer_a_doubles_until_timer_b_times_out() {
    let mut t = Txns::new(Config::DEFAULT);
    let invite = request("INVITE", "z9hG4bKinv1");
    let h = t.start_client(ms(0), cloud(), Transport::Udp, &invite).unwrap();
    assert_eq!(t.state(h), Some(State::Calling));

    let first = transmits(&mut t);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].bytes, invite);
    assert_eq!((first[0].dest, first[0].transport, first[0].handle), (cloud(), Transport::Udp, h));
    assert_eq!(t.poll_timeout(), Some(ms(500)));

    let (sent, evs) = run_until(&mut t, ms(40_000));
    let times: Vec<u64> = sent.iter().map(|(at, _)| at.as_millis()).collect();
    // T1 = 500 ms: retransmissions 0.5, 1, 2, 4, 8, 16 s apart.
    assert_eq!(times, [500, 1_500, 3_500, 7_500, 15_500, 31_500]);
    assert!(sent.iter().all(|(_, s)| s.bytes == invite && s.handle == h));
    assert_eq!(
        evs,
        [(ms(32_000), Event::Timeout { handle: h, timer: Timer::B }), (ms(32_000), Event::Terminated { handle: h })]
    );
    // The row is free again and the handle is dead.
    assert_eq!(t.state(h), None);
    assert!(t.is_empty());
    assert_eq!(t.poll_timeout(), None);
}

#[test]
fn late_timeout_call_does_not_burst() {
    // A runtime that wakes up late gets one retransmission, not one per missed deadline.
    let mut t = Txns::new(Config::DEFAULT);
    let invite = request("INVITE", "z9hG4bKlate");
    t.start_client(ms(0), cloud(), Transport::Udp, &invite).unwrap();
    transmits(&mut t);
    t.handle_timeout(ms(3_600));
    assert_eq!(transmits(&mut t).len(), 1);
    assert!(t.poll_timeout().unwrap() > ms(3_600));
}

#[test]
fn t1_is_configurable() {
    let cfg = Config { t1: core::time::Duration::from_millis(100), ..Config::DEFAULT };
    let mut t: Transactions<2> = Transactions::new(cfg);
    let h = t.start_client(ms(0), cloud(), Transport::Udp, &request("INVITE", "z9hG4bKfast")).unwrap();
    transmits(&mut t);
    let (sent, evs) = run_until(&mut t, ms(10_000));
    let times: Vec<u64> = sent.iter().map(|(at, _)| at.as_millis()).collect();
    assert_eq!(times, [100, 300, 700, 1_500, 3_100, 6_300]);
    assert_eq!(evs[0], (ms(6_400), Event::Timeout { handle: h, timer: Timer::B }));
}

#[test]
fn reliable_transport_never_retransmits() {
    let mut t = Txns::new(Config::DEFAULT);
    let h = t.start_client(ms(0), cloud(), Transport::Tls, &request("INVITE", "z9hG4bKtls")).unwrap();
    assert_eq!(transmits(&mut t).len(), 1);
    // Only Timer B runs.
    assert_eq!(t.poll_timeout(), Some(ms(32_000)));
    let (sent, evs) = run_until(&mut t, ms(40_000));
    assert!(sent.is_empty());
    assert_eq!(evs[0].1, Event::Timeout { handle: h, timer: Timer::B });
}

#[test]
fn provisional_response_stops_retransmission_and_timer_b() {
    let mut t = Txns::new(Config::DEFAULT);
    let invite = request("INVITE", "z9hG4bKring");
    let h = t.start_client(ms(0), cloud(), Transport::Udp, &invite).unwrap();
    transmits(&mut t);
    let (sent, _) = run_until(&mut t, ms(600));
    assert_eq!(sent.len(), 1);

    let ringing = response(&invite, 180, "Ringing", Some("uas1"));
    feed_response(&mut t, ms(700), &ringing).unwrap();
    assert_eq!(events(&mut t), [Event::Response { handle: h, code: 180 }]);
    assert_eq!(t.response(h), Some(&ringing[..]));
    assert_eq!(t.state(h), Some(State::Proceeding));
    // No timer at all in Proceeding: the proxy's Timer C decides (§16.6 step 11).
    assert_eq!(t.poll_timeout(), None);
    assert!(transmits(&mut t).is_empty());
}
