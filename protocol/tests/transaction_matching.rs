//! Matching (RFC 3261 §17.1.3, §17.2.3, §9.2): requests by branch, sent-by and method, with the
//! RFC 2543 fallback for branches without the magic cookie; ACK to its INVITE; CANCEL to the
//! INVITE it cancels; responses by branch and CSeq method; everything else reported as stray.

mod transaction_support;

use carillon_protocol::transaction::{Config, Error, Event, Received, State, Transport};
use transaction_support::*;

const TO: &str = "<sip:102@school.example>";
const CALL: &str = "call-1@10.0.0.5";

fn via(sent_by: &str, branch: &str) -> String {
    format!("SIP/2.0/UDP {sent_by};branch={branch}")
}

fn new_handle(r: Result<Received, Error>) -> carillon_protocol::transaction::Handle {
    match r {
        Ok(Received::New { handle, .. }) => handle,
        other => panic!("expected a new transaction, got {other:?}"),
    }
}

#[test]
fn retransmission_absorbed_and_last_response_resent() {
    let mut t = Txns::new(Config::DEFAULT);
    let sub = request("SUBSCRIBE", "z9hG4bKsub");
    let h = new_handle(feed_request(&mut t, ms(0), phone(), Transport::Udp, &sub));
    let accepted = response(&sub, 202, "Accepted", Some("s"));
    t.respond(ms(1), h, &accepted).unwrap();
    transmits(&mut t);
    assert_eq!(feed_request(&mut t, ms(500), phone(), Transport::Udp, &sub), Ok(Received::Retransmission(h)));
    let again = transmits(&mut t);
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].bytes.clone(), again[0].dest), (accepted, phone()));
    assert_eq!(events(&mut t), [Event::Request { handle: h, cancels: None }]);
    assert_eq!(t.len(), 1);
}

#[test]
fn branch_sent_by_and_method_all_count() {
    let mut t = Txns::new(Config::DEFAULT);
    let a = new_handle(feed_request(
        &mut t,
        ms(0),
        phone(),
        Transport::Udp,
        &request_via("OPTIONS", &via("10.0.0.5:5060", "z9hG4bKk1"), 1, TO, CALL),
    ));
    // Branches compare case-insensitively after the cookie (§7.3.1: tokens).
    assert_eq!(
        feed_request(
            &mut t,
            ms(1),
            phone(),
            Transport::Udp,
            &request_via("OPTIONS", &via("10.0.0.5:5060", "z9hG4bKK1"), 1, TO, CALL)
        ),
        Ok(Received::Retransmission(a))
    );
    // Another sent-by with the same branch: another transaction.
    let b = new_handle(feed_request(
        &mut t,
        ms(2),
        phone(),
        Transport::Udp,
        &request_via("OPTIONS", &via("10.0.0.6:5060", "z9hG4bKk1"), 1, TO, CALL),
    ));
    // Another port is another sent-by too.
    let c = new_handle(feed_request(
        &mut t,
        ms(3),
        phone(),
        Transport::Udp,
        &request_via("OPTIONS", &via("10.0.0.5:5070", "z9hG4bKk1"), 1, TO, CALL),
    ));
    // Another method with the same branch and sent-by: another transaction.
    let d = new_handle(feed_request(
        &mut t,
        ms(4),
        phone(),
        Transport::Udp,
        &request_via("INFO", &via("10.0.0.5:5060", "z9hG4bKk1"), 1, TO, CALL),
    ));
    let all = [a, b, c, d];
    for (i, x) in all.iter().enumerate() {
        for y in &all[i + 1..] {
            assert_ne!(x, y);
        }
    }
    assert_eq!(t.len(), 4);
}

#[test]
fn cancel_is_its_own_transaction_and_finds_its_invite() {
    let mut t = Txns::new(Config::DEFAULT);
    let invite = request("INVITE", "z9hG4bKcx");
    let inv = new_handle(feed_request(&mut t, ms(0), phone(), Transport::Udp, &invite));
    let cancel = request("CANCEL", "z9hG4bKcx");
    let Ok(Received::New { handle: can, cancels }) = feed_request(&mut t, ms(100), phone(), Transport::Udp, &cancel)
    else {
        panic!()
    };
    assert_ne!(can, inv);
    assert_eq!(cancels, Some(inv));
    assert_eq!(
        events(&mut t),
        [Event::Request { handle: inv, cancels: None }, Event::Request { handle: can, cancels: Some(inv) }]
    );
    // The CANCEL's retransmission reaches the CANCEL transaction, not the INVITE.
    assert_eq!(feed_request(&mut t, ms(600), phone(), Transport::Udp, &cancel), Ok(Received::Retransmission(can)));
    // A CANCEL with a branch no INVITE has cancels nothing (the proxy answers 481).
    let Ok(Received::New { cancels: None, .. }) =
        feed_request(&mut t, ms(700), phone(), Transport::Udp, &request("CANCEL", "z9hG4bKnone"))
    else {
        panic!()
    };
    // Once the INVITE is answered, a CANCEL still finds it (the proxy answers the CANCEL 200
    // and has nothing left to cancel).
    let mut t = Txns::new(Config::DEFAULT);
    let inv = new_handle(feed_request(&mut t, ms(0), phone(), Transport::Udp, &invite));
    t.respond(ms(800), inv, &response(&invite, 487, "Request Terminated", Some("x"))).unwrap();
    let Ok(Received::New { cancels, .. }) = feed_request(&mut t, ms(900), phone(), Transport::Udp, &cancel) else {
        panic!()
    };
    assert_eq!(cancels, Some(inv));
}

#[test]
fn ack_matches_only_its_invite() {
    let mut t = Txns::new(Config::DEFAULT);
    let invite = request("INVITE", "z9hG4bKa1");
    let h = new_handle(feed_request(&mut t, ms(0), phone(), Transport::Udp, &invite));
    t.respond(ms(1), h, &response(&invite, 404, "Not Found", Some("n"))).unwrap();
    // An ACK with another branch, or from another sent-by, is not this transaction's.
    assert_eq!(
        feed_request(&mut t, ms(2), phone(), Transport::Udp, &request("ACK", "z9hG4bKa2")),
        Ok(Received::Ack(None))
    );
    let elsewhere = request_via("ACK", &via("10.0.0.99", "z9hG4bKa1"), 1, TO, CALL);
    assert_eq!(feed_request(&mut t, ms(3), phone(), Transport::Udp, &elsewhere), Ok(Received::Ack(None)));
    assert_eq!(t.state(h), Some(State::Completed));
    assert_eq!(
        feed_request(&mut t, ms(4), phone(), Transport::Udp, &request("ACK", "z9hG4bKa1")),
        Ok(Received::AckAbsorbed(h))
    );
    assert_eq!(t.state(h), Some(State::Confirmed));
    // An ACK never matches a non-INVITE transaction with the same branch.
    let mut t = Txns::new(Config::DEFAULT);
    let _ = new_handle(feed_request(&mut t, ms(0), phone(), Transport::Udp, &request("OPTIONS", "z9hG4bKa3")));
    assert_eq!(
        feed_request(&mut t, ms(1), phone(), Transport::Udp, &request("ACK", "z9hG4bKa3")),
        Ok(Received::Ack(None))
    );
}

#[test]
fn rfc_2543_fallback_without_magic_cookie() {
    let mut t = Txns::new(Config::DEFAULT);
    let old_via = "SIP/2.0/UDP 10.0.0.7:5060;branch=1";
    let invite = request_via("INVITE", old_via, 5, TO, "old-1@10.0.0.7");
    let h = new_handle(feed_request(&mut t, ms(0), phone(), Transport::Udp, &invite));
    // The same request again: Request-URI, tags, Call-ID, CSeq and top Via all equal.
    assert_eq!(feed_request(&mut t, ms(500), phone(), Transport::Udp, &invite), Ok(Received::Retransmission(h)));
    // A new CSeq is a new request even with the same (non-unique) branch.
    let next = request_via("INVITE", old_via, 6, TO, "old-1@10.0.0.7");
    let h2 = new_handle(feed_request(&mut t, ms(600), phone(), Transport::Udp, &next));
    assert_ne!(h, h2);
    // So is another Call-ID.
    let other_call = request_via("INVITE", old_via, 5, TO, "old-2@10.0.0.7");
    let _ = new_handle(feed_request(&mut t, ms(700), phone(), Transport::Udp, &other_call));

    // CANCEL: same fields, method ignored.
    let cancel = request_via("CANCEL", old_via, 5, TO, "old-1@10.0.0.7");
    let Ok(Received::New { cancels, .. }) = feed_request(&mut t, ms(800), phone(), Transport::Udp, &cancel) else {
        panic!()
    };
    assert_eq!(cancels, Some(h));

    // ACK: the To tag must be the one of the response the transaction sent.
    t.respond(ms(900), h, &response(&invite, 486, "Busy Here", Some("srv-tag"))).unwrap();
    let wrong_tag = request_via("ACK", old_via, 5, "<sip:102@school.example>;tag=other", "old-1@10.0.0.7");
    assert_eq!(feed_request(&mut t, ms(1_000), phone(), Transport::Udp, &wrong_tag), Ok(Received::Ack(None)));
    let ack = request_via("ACK", old_via, 5, "<sip:102@school.example>;tag=srv-tag", "old-1@10.0.0.7");
    assert_eq!(feed_request(&mut t, ms(1_100), phone(), Transport::Udp, &ack), Ok(Received::AckAbsorbed(h)));
    assert_eq!(t.state(h), Some(State::Confirmed));

    // No branch at all also falls back to RFC 2543 matching.
    let bare = request_via("OPTIONS", "SIP/2.0/UDP 10.0.0.8", 1, TO, "bare@10.0.0.8");
    let b = new_handle(feed_request(&mut t, ms(0), phone(), Transport::Udp, &bare));
    assert_eq!(feed_request(&mut t, ms(1), phone(), Transport::Udp, &bare), Ok(Received::Retransmission(b)));
}

#[test]
fn responses_match_by_branch_and_cseq_method() {
    let mut t = Txns::new(Config::DEFAULT);
    let invite = request("INVITE", "z9hG4bKout");
    let cancel = request("CANCEL", "z9hG4bKout");
    let inv = t.start_client(ms(0), cloud(), Transport::Udp, &invite).unwrap();
    let can = t.start_client(ms(10), cloud(), Transport::Udp, &cancel).unwrap();
    assert_ne!(inv, can);
    // The CANCEL's 200 goes to the CANCEL; the INVITE's 487 to the INVITE.
    assert_eq!(feed_response(&mut t, ms(20), &response(&cancel, 200, "OK", Some("u"))), Ok(Received::Response(can)));
    assert_eq!(
        feed_response(&mut t, ms(30), &response(&invite, 487, "Request Terminated", Some("u"))),
        Ok(Received::Response(inv))
    );
    assert_eq!(
        events(&mut t),
        [Event::Response { handle: can, code: 200 }, Event::Response { handle: inv, code: 487 }]
    );
    // Same branch, a method no client transaction has: stray.
    let bye_resp = with_cseq_method(&response(&invite, 200, "OK", Some("u")), "INVITE", "BYE");
    assert_eq!(feed_response(&mut t, ms(40), &bye_resp), Ok(Received::Stray));
    // Unknown branch: stray, counted.
    assert_eq!(
        feed_response(&mut t, ms(50), &response(&request("INVITE", "z9hG4bKelse"), 200, "OK", Some("u"))),
        Ok(Received::Stray)
    );
    assert_eq!(t.stats().stray_responses, 2);
    // A second client transaction with the same branch and method is refused.
    assert!(matches!(t.start_client(ms(60), cloud(), Transport::Udp, &invite), Err(Error::Invalid(_))));
}

#[test]
fn messages_that_cannot_be_matched() {
    let mut t = Txns::new(Config::DEFAULT);
    let no_via =
        b"OPTIONS sip:x SIP/2.0\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n";
    let r = feed_request(&mut t, ms(0), phone(), Transport::Udp, no_via);
    assert!(matches!(r, Err(Error::Malformed(_))), "{r:?}");
    assert_eq!(r.unwrap_err().status(), Some(400));
    let bad_cseq = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a;branch=z9hG4bKq\r\nCSeq: x OPTIONS\r\n\r\n";
    assert!(matches!(feed_response(&mut t, ms(0), bad_cseq), Err(Error::Malformed(_))));
    assert_eq!(t.stats().malformed, 2);
    // A response to handle_request and a request to handle_response are the caller's mistake.
    assert!(matches!(feed_request(&mut t, ms(0), phone(), Transport::Udp, bad_cseq), Err(Error::Invalid(_))));
    assert!(matches!(feed_response(&mut t, ms(0), &request("OPTIONS", "z9hG4bKr")), Err(Error::Invalid(_))));
    assert!(t.is_empty());
}
