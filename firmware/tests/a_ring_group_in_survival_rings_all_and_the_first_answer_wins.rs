//! In survival, calling ring group 200 rings its members' phones in parallel; the first 200
//! wins, the others are cancelled; with nobody answering the caller gets 480 at the ring timeout.
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "common/sim.rs"]
mod sim;

use std::time::Duration;

use sim::*;

fn survival_school() -> Sim {
    let mut s = Sim::new();
    s.boot_online();
    s.configure(1, false);
    s.cut();
    s.run_for(Duration::from_secs(6));
    s
}

#[test]
fn first_answer_wins_and_the_others_are_cancelled() {
    run(|| {
        let mut s = survival_school();
        s.add_phone(101, Answer::After(Duration::from_secs(5)));
        s.add_phone(102, Answer::After(Duration::from_secs(2)));
        s.add_phone(103, Answer::Never);
        s.add_phone(105, Answer::Never);
        for e in [101, 102, 103, 105] {
            assert_eq!(s.register(e, &format!("pw{e}"), 600), 200);
        }
        s.call(105, "200", "group-1");
        s.run_for(Duration::from_secs(8));
        assert_eq!(s.finals_for(105, "group-1"), vec![200]);
        let ok = s.ok_for(105, "group-1").unwrap();
        assert!(text(&ok).contains("sip:102@"), "102 answered first");
        for e in [101, 102, 103] {
            assert_eq!(s.phone(e).requests("INVITE").len(), 1, "{e} rang");
        }
        assert_eq!(s.phone(101).requests("CANCEL").len(), 1);
        assert_eq!(s.phone(103).requests("CANCEL").len(), 1);
        assert_eq!(s.phone(102).requests("CANCEL").len(), 0);
        s.ack_and_bye(105, "group-1", Duration::from_secs(3));
        assert_eq!(s.phone(102).requests("BYE").len(), 1);
    });
}

#[test]
fn nobody_answers_480_at_the_ring_timeout() {
    run(|| {
        let mut s = survival_school();
        for e in [101, 102, 105] {
            s.add_phone(e, Answer::Never);
            assert_eq!(s.register(e, &format!("pw{e}"), 600), 200);
        }
        let start = s.now;
        s.call(105, "200", "group-2");
        s.run_for(Duration::from_secs(25));
        assert_eq!(s.finals_for(105, "group-2"), vec![480]);
        let at = s.now;
        let _ = (start, at);
        assert_eq!(s.phone(101).requests("CANCEL").len(), 1);
        let rec = s.gw.journal().pending(8).unwrap().unwrap().records[0].clone();
        assert_eq!(rec.outcome, carillon_protocol::control::CallOutcome::NoAnswer);
    });
}
