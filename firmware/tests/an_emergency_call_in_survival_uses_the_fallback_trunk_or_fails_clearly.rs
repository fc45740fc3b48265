//! In survival, 112 (and the configured 1990) go to the fallback trunk when there is one; without
//! one the caller gets an immediate 503 with a reason. Calls to other schools or the public
//! network fail clearly too. Every attempt is journaled.
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "common/sim.rs"]
mod sim;

use std::time::Duration;

use carillon_protocol::control::CallOutcome;
use sim::*;

fn survival_school(trunk: bool) -> Sim {
    let mut s = Sim::new();
    s.boot_online();
    s.configure(1, trunk);
    s.cut();
    s.run_for(Duration::from_secs(6));
    s.add_phone(101, Answer::Never);
    assert_eq!(s.register(101, "pw101", 600), 200);
    s
}

#[test]
fn with_a_trunk_the_call_reaches_it() {
    run(|| {
        let mut s = survival_school(true);
        // The trunk is a user agent at 10.0.0.250 that answers.
        s.phones.push(sim_trunk());
        s.call(101, "112", "sos-1");
        s.run_for(Duration::from_secs(3));
        assert_eq!(s.finals_for(101, "sos-1"), vec![200]);
        let inv = s.phones.last().unwrap().requests("INVITE");
        assert_eq!(inv.len(), 1);
        assert!(text(&inv[0]).starts_with("INVITE sip:112@10.0.0.250:5060 SIP/2.0"));
        s.ack_and_bye(101, "sos-1", Duration::from_secs(60));
        let rec = s.gw.journal().pending(8).unwrap().unwrap().records[0].clone();
        assert_eq!((rec.callee.as_str(), rec.outcome), ("112", CallOutcome::EmergencyToFallback));
    });
}

#[test]
fn without_a_trunk_an_immediate_clear_failure() {
    run(|| {
        let mut s = survival_school(false);
        for (n, id) in [("112", "sos-a"), ("1990", "sos-b")] {
            let sent = s.now;
            s.call(101, n, id);
            s.run_for(Duration::from_millis(50));
            assert_eq!(s.finals_for(101, id), vec![503], "{n}");
            let _ = sent;
        }
        let last = s.phone(101).last_response().unwrap().clone();
        assert!(text(&last).contains("no fallback trunk"), "{}", text(&last));
        // Another school (on-net 8…) and the public network (0…): a clear failure too.
        s.call(101, "800421234", "other-school");
        s.call(101, "0123456789", "public");
        s.run_for(Duration::from_millis(50));
        assert_eq!(s.finals_for(101, "other-school"), vec![503]);
        assert_eq!(s.finals_for(101, "public"), vec![503]);
        let recs = s.gw.journal().pending(8).unwrap().unwrap().records;
        assert_eq!(recs.len(), 4);
        assert!(recs.iter().all(|r| r.outcome == CallOutcome::Rejected));
    });
}

fn sim_trunk() -> Phone {
    // A phone-shaped user agent at the trunk's address.
    let mut p = Sim::new();
    p.add_phone(240, Answer::After(Duration::from_millis(500)));
    let mut ph = p.phones.pop().unwrap();
    ph.addr = addr(TRUNK);
    ph
}
