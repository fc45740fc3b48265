//! RFC 3261 §17.2.2 with small rows: a non-INVITE server transaction that only waits out Timer
//! J over UDP moves to a completed row (its response and a digest of its key), so its full row
//! is free at once; retransmissions of its request are still answered with its response until
//! Timer J; a full set of completed rows gives up the oldest, counted.

mod transaction_support;

use carillon_protocol::transaction::{Config, Event, Received, Transactions, Transport};
use transaction_support::*;

/// Two full rows, two completed rows of 1 KiB.
type Table = Transactions<2, 2048, 2, 1024>;

fn answer(t: &mut Table, at: u64, branch: &str) -> (Vec<u8>, Vec<u8>) {
    let req = request("REGISTER", branch);
    let Ok(Received::New { handle, .. }) = feed_request(t, ms(at), phone(), Transport::Udp, &req) else {
        panic!("a new transaction for {branch}")
    };
    assert_eq!(events(t), vec![Event::Request { handle, cancels: None }]);
    let resp = response(&req, 200, "OK", Some("t"));
    t.respond(ms(at), handle, &resp).expect("the response is stored");
    (req, resp)
}

#[test]
fn a_completed_request_frees_its_full_row_and_retransmissions_get_the_response() {
    let mut t = Table::new(Config::DEFAULT);
    let (req, resp) = answer(&mut t, 0, "z9hG4bKc1");
    let sent = transmits(&mut t);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].bytes, resp);
    // The full row is done with: Terminated, and the row free for the next request.
    assert!(matches!(events(&mut t).as_slice(), [Event::Terminated { .. }]));
    assert_eq!(t.len(), 0);

    // A retransmission within Timer J is absorbed and answered with the stored response.
    let r = feed_request(&mut t, ms(500), phone(), Transport::Udp, &req);
    assert!(matches!(r, Ok(Received::Retransmission(_))), "{r:?}");
    let again = transmits(&mut t);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].bytes, resp);
    assert_eq!(again[0].dest, phone());
    assert!(events(&mut t).is_empty(), "nothing for the TU");
    assert_eq!(t.stats().request_retransmissions, 1);

    // After Timer J (64·T1 = 32 s) the same request is a new transaction.
    let j = t.poll_timeout().expect("Timer J is pending");
    assert_eq!(j, ms(32_000));
    t.handle_timeout(j);
    assert!(t.poll_timeout().is_none());
    let r = feed_request(&mut t, ms(32_001), phone(), Transport::Udp, &req);
    assert!(matches!(r, Ok(Received::New { .. })), "{r:?}");
}

#[test]
fn more_completed_requests_than_rows_give_up_the_oldest_never_refuse() {
    let mut t = Table::new(Config::DEFAULT);
    let mut reqs = Vec::new();
    // Five registrations in a row through a table of two full rows: none is refused.
    for (i, b) in ["z9hG4bKe1", "z9hG4bKe2", "z9hG4bKe3", "z9hG4bKe4", "z9hG4bKe5"].iter().enumerate() {
        let (req, _) = answer(&mut t, i as u64 * 10, b);
        transmits(&mut t);
        events(&mut t);
        reqs.push(req);
    }
    assert_eq!(t.stats().full, 0);
    assert_eq!(t.stats().completed_evicted, 3);
    // The last two are still absorbed; the first, given up, is a new request again.
    for req in &reqs[3..] {
        let r = feed_request(&mut t, ms(100), phone(), Transport::Udp, req);
        assert!(matches!(r, Ok(Received::Retransmission(_))), "{r:?}");
    }
    let r = feed_request(&mut t, ms(100), phone(), Transport::Udp, &reqs[0]);
    assert!(matches!(r, Ok(Received::New { .. })), "{r:?}");
}

#[test]
fn an_invite_server_transaction_keeps_its_full_row() {
    let mut t = Table::new(Config::DEFAULT);
    let req = request("INVITE", "z9hG4bKi1");
    let Ok(Received::New { handle, .. }) = feed_request(&mut t, ms(0), phone(), Transport::Udp, &req) else { panic!() };
    events(&mut t);
    t.respond(ms(0), handle, &response(&req, 486, "Busy Here", Some("t"))).expect("the response is stored");
    transmits(&mut t);
    assert_eq!(t.len(), 1, "an INVITE server transaction keeps its row until the ACK");
    assert!(events(&mut t).is_empty());
}
