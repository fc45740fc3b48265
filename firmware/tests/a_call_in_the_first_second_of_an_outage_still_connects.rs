//! A call placed in the first second of an outage, before keepalives could notice, to a phone of
//! the same school: the INVITE's cloud transaction gets no answer within the answer timeout, the
//! box serves it locally and the call connects (per-transaction fallback).
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "common/sim.rs"]
mod sim;

use std::time::Duration;

use carillon_firmware::gateway::ModeCause;
use carillon_protocol::control::Mode;
use sim::*;

#[test]
fn invite_half_a_second_into_the_outage_connects_locally() {
    run(|| {
        let mut s = Sim::new();
        s.boot_online();
        s.configure(1, false);
        s.add_phone(101, Answer::Never);
        s.add_phone(102, Answer::After(Duration::from_secs(1)));
        assert_eq!(s.register(101, "pw101", 600), 200);
        assert_eq!(s.register(102, "pw102", 600), 200);
        // Right after a keepalive answer, so that keepalives alone would need ~4 s.
        s.run_for(Duration::from_millis(2030));
        s.cut();
        let cut_at = s.now;
        s.run_for(Duration::from_millis(500));
        s.call(101, "102", "first-second");
        s.run_for(Duration::from_secs(4));
        assert_eq!(s.finals_for(101, "first-second"), vec![200], "the call connected");
        let change = s.mode_changes().into_iter().find(|c| c.1 == Mode::Survival).unwrap();
        assert_eq!(change.2, ModeCause::TransactionTimeout);
        println!("judged down by the INVITE's timeout {:?} after the cut", change.3 - cut_at);
        assert!(change.3 - cut_at < Duration::from_secs(2));
        let ok_at = s.ok_for(101, "first-second").unwrap();
        assert!(
            text(&ok_at).contains(&format!("Record-Route: <sip:{};lr>", lan())),
            "the box record-routes the local call by its LAN address: {}",
            text(&ok_at)
        );
        s.ack_and_bye(101, "first-second", Duration::from_secs(10));
        assert_eq!(s.phone(102).requests("BYE").len(), 1);
        // The call is journaled as a survival call with its talk time.
        let rec = s.gw.journal().pending(8).unwrap().unwrap().records[0].clone();
        assert_eq!((rec.caller.as_str(), rec.callee.as_str()), ("101", "102"));
        assert_eq!(rec.outcome, carillon_protocol::control::CallOutcome::Answered);
        assert!(rec.duration_ms >= 10_000 && rec.duration_ms < 13_000, "{}", rec.duration_ms);
    });
}
