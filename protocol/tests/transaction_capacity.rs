//! Bounded memory (DESIGN.md, rules of the house): a full table is `Full` (the proxy answers
//! 503 with Retry-After), a message larger than a transaction's buffer is `TooLarge` (513),
//! both counted; rows are reused once their transaction is done and polled; stale handles are
//! refused; nothing panics.

mod transaction_support;

use carillon_protocol::transaction::{Config, Error, Event, Received, State, Transactions, Transport};
use transaction_support::*;

#[test]
fn full_table_refuses_then_reuses_rows() {
    let mut t: Transactions<2> = Transactions::new(Config::DEFAULT);
    let a = request("OPTIONS", "z9hG4bKfa");
    let Ok(Received::New { handle: ha, .. }) = feed_request(&mut t, ms(0), phone(), Transport::Udp, &a) else {
        panic!()
    };
    let _hb = t.start_client(ms(0), cloud(), Transport::Udp, &request("OPTIONS", "z9hG4bKfb")).unwrap();
    assert_eq!(t.len(), 2);

    let r = feed_request(&mut t, ms(1), phone(), Transport::Udp, &request("OPTIONS", "z9hG4bKfc"));
    assert_eq!(r, Err(Error::Full));
    assert_eq!(r.unwrap_err().status(), Some(503));
    assert_eq!(t.start_client(ms(1), cloud(), Transport::Udp, &request("OPTIONS", "z9hG4bKfd")), Err(Error::Full));
    assert_eq!(t.stats().full, 2);
    // A retransmission of a request the table holds is still matched when it is full.
    assert_eq!(feed_request(&mut t, ms(2), phone(), Transport::Udp, &a), Ok(Received::Retransmission(ha)));

    // Finish transaction a: it keeps its row until its Terminated event is polled.
    t.respond(ms(3), ha, &response(&a, 200, "OK", Some("t"))).unwrap();
    t.terminate(ha).unwrap();
    assert_eq!(t.len(), 2);
    assert_eq!(
        feed_request(&mut t, ms(4), phone(), Transport::Udp, &request("OPTIONS", "z9hG4bKfe")),
        Err(Error::Full)
    );
    transmits(&mut t);
    let evs = events(&mut t);
    assert_eq!(evs.last(), Some(&Event::Terminated { handle: ha }));
    assert_eq!(t.len(), 1);

    // The row is reused, with a new handle; the old one is dead.
    let Ok(Received::New { handle: hc, .. }) =
        feed_request(&mut t, ms(5), phone(), Transport::Udp, &request("OPTIONS", "z9hG4bKff"))
    else {
        panic!()
    };
    assert_eq!(hc.index(), ha.index());
    assert_ne!(hc, ha);
    assert_eq!(t.respond(ms(6), ha, &response(&a, 200, "OK", Some("t"))), Err(Error::UnknownHandle));
    assert_eq!(t.state(ha), None);
    assert_eq!(t.request(ha), None);
    assert_eq!(t.terminate(ha), Err(Error::UnknownHandle));
    assert_eq!(t.handle_transport_error(ms(6), ha), Err(Error::UnknownHandle));
    assert_eq!(t.state(hc), Some(State::Trying));
}

/// `msg` with a 600-byte Subject line after the start line.
fn padded(mut msg: Vec<u8>) -> Vec<u8> {
    let at = msg.windows(2).position(|w| w == b"\r\n").expect("start line") + 2;
    msg.splice(at..at, format!("Subject: {}\r\n", "x".repeat(600)).into_bytes());
    msg
}

#[test]
fn oversized_messages_are_too_large_and_change_nothing() {
    let mut t: Transactions<4, 600> = Transactions::new(Config::DEFAULT);
    let small = request("INVITE", "z9hG4bKsmall");
    assert!(small.len() < 600);
    let big = padded(request("INVITE", "z9hG4bKbig"));

    let r = feed_request(&mut t, ms(0), phone(), Transport::Tcp, &big);
    assert_eq!(r, Err(Error::TooLarge));
    assert_eq!(r.unwrap_err().status(), Some(513));
    assert_eq!(t.start_client(ms(0), cloud(), Transport::Udp, &big), Err(Error::TooLarge));
    assert!(t.is_empty());

    // A response too large to keep: refused, the transaction stays as it was and the proxy
    // can send a shorter one.
    let Ok(Received::New { handle: h, .. }) = feed_request(&mut t, ms(0), phone(), Transport::Udp, &small) else {
        panic!()
    };
    let big_resp = padded(response(&small, 200, "OK", Some("x")));
    assert_eq!(t.respond(ms(1), h, &big_resp), Err(Error::TooLarge));
    assert_eq!(t.state(h), Some(State::Proceeding));
    assert!(transmits(&mut t).is_empty());
    t.respond(ms(1), h, &response(&small, 500, "Server Internal Error", Some("x"))).unwrap();
    assert_eq!(t.state(h), Some(State::Completed));

    // A response to a client transaction too large to keep is dropped; the client goes on
    // retransmitting as if it had been lost.
    let c = t.start_client(ms(0), cloud(), Transport::Udp, &request("INVITE", "z9hG4bKcl")).unwrap();
    transmits(&mut t);
    let big_180 = padded(response(&request("INVITE", "z9hG4bKcl"), 180, "Ringing", Some("y")));
    assert_eq!(feed_response(&mut t, ms(100), &big_180), Err(Error::TooLarge));
    assert_eq!(t.state(c), Some(State::Calling));
    assert!(events(&mut t).iter().all(|e| !matches!(e, Event::Response { .. })));
    assert_eq!(t.stats().too_large, 4);
}

#[test]
fn more_header_lines_than_a_stored_message_may_have() {
    let mut t = Txns::new(Config::DEFAULT);
    let mut req = request("OPTIONS", "z9hG4bKmany");
    let at = req.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    let extra: String = (0..70).map(|i| format!("X-H{i}: {i}\r\n")).collect();
    req.splice(at..at, extra.bytes());
    assert_eq!(feed_request(&mut t, ms(0), phone(), Transport::Udp, &req), Err(Error::TooLarge));
    assert!(matches!(t.start_client(ms(0), cloud(), Transport::Udp, &req), Err(Error::Invalid(_))));
    assert!(t.is_empty());
}

#[test]
fn start_client_refuses_what_is_not_a_transaction() {
    let mut t = Txns::new(Config::DEFAULT);
    let invalid = |r| matches!(r, Err(Error::Invalid(_)));
    assert!(invalid(t.start_client(ms(0), cloud(), Transport::Udp, &request("ACK", "z9hG4bKack"))));
    assert!(invalid(t.start_client(ms(0), cloud(), Transport::Udp, &request("OPTIONS", "nocookie"))));
    let resp = response(&request("OPTIONS", "z9hG4bKr"), 200, "OK", None);
    assert!(invalid(t.start_client(ms(0), cloud(), Transport::Udp, &resp)));
    assert!(invalid(t.start_client(ms(0), cloud(), Transport::Udp, b"garbage")));
    assert!(invalid(t.start_client(ms(0), cloud(), Transport::Udp, b"")));
    let mismatch = with_cseq_method(&request("OPTIONS", "z9hG4bKm"), "OPTIONS", "INFO");
    assert!(invalid(t.start_client(ms(0), cloud(), Transport::Udp, &mismatch)));
    assert!(t.is_empty());
    // Responding on a client transaction is misuse too.
    let h = t.start_client(ms(0), cloud(), Transport::Udp, &request("OPTIONS", "z9hG4bKok")).unwrap();
    assert_eq!(t.respond(ms(0), h, &resp), Err(Error::WrongState));
}

#[test]
fn undrained_output_stays_bounded() {
    // A runtime that never polls: the table neither grows nor panics, and it all comes out
    // later, once per transaction.
    let mut t: Transactions<3, 1024> = Transactions::new(Config::DEFAULT);
    for i in 0..3 {
        t.start_client(ms(0), cloud(), Transport::Udp, &request("OPTIONS", &format!("z9hG4bKu{i}"))).unwrap();
    }
    for step in 0..200 {
        t.handle_timeout(ms(step * 250));
    }
    let sent = transmits(&mut t);
    assert_eq!(sent.len(), 3, "pending retransmissions of one transaction coalesce");
    let evs = events(&mut t);
    assert_eq!(evs.iter().filter(|e| matches!(e, Event::Terminated { .. })).count(), 3);
    assert!(t.is_empty());
}
