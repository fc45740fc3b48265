//! The cloud's default SIP usernames are `<site>-<number>` (`0042-101`), not the extension
//! number. A phone registered with such a username — through the cloud before the outage, or
//! with the box in survival — is found by its extension number when it is called in survival,
//! places calls as that extension, and its binding goes back to the cloud under its username.
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "common/sim.rs"]
mod sim;

use std::time::Duration;

use carillon_protocol::control::Mode;
use sim::*;

const PREFIX: &str = "0042-";

fn school() -> Sim {
    let mut s = Sim::new();
    s.username_prefix = PREFIX.into();
    s.boot_online();
    s.configure(1, false);
    s
}

#[test]
fn a_phone_registered_online_under_its_username_is_called_in_survival() {
    run(|| {
        let mut s = school();
        s.add_phone(101, Answer::Never);
        s.add_phone(102, Answer::After(Duration::from_secs(1)));
        assert_eq!(s.register(101, "pw101", 600), 200);
        assert_eq!(s.register(102, "pw102", 600), 200);
        assert!(s.cloud.registered.contains_key("102"), "the cloud knows 0042-102 as extension 102");
        s.cut();
        s.run_for(Duration::from_secs(6));
        assert_eq!(s.gw.mode(), Mode::Survival);
        s.call(101, "102", "learnt-username");
        s.run_for(Duration::from_secs(3));
        assert_eq!(s.finals_for(101, "learnt-username"), vec![200], "{:?}", s.phone(101).final_codes());
        assert_eq!(s.phone(102).requests("INVITE").len(), 1);
    });
}

#[test]
fn a_phone_registers_in_survival_with_its_username_and_is_called_then_handed_back() {
    run(|| {
        let mut s = school();
        s.cut();
        s.run_for(Duration::from_secs(6));
        assert_eq!(s.gw.mode(), Mode::Survival);
        s.add_phone(101, Answer::Never);
        s.add_phone(103, Answer::After(Duration::from_secs(1)));
        assert_eq!(s.register(101, "pw101", 600), 200, "0042-101 registers in survival");
        assert_eq!(s.register(103, "pw103", 600), 200, "0042-103 registers in survival");
        // A wrong password under the username is still refused.
        s.add_phone(104, Answer::Never);
        assert_eq!(s.register(104, "not-pw104", 600), 403);

        s.call(101, "103", "survival-username");
        s.run_for(Duration::from_secs(3));
        assert_eq!(s.finals_for(101, "survival-username"), vec![200]);
        assert_eq!(s.phone(103).requests("INVITE").len(), 1);
        s.ack_and_bye(101, "survival-username", Duration::from_secs(1));
        let rec = s.gw.journal().pending(8).unwrap().unwrap().records[0].clone();
        assert_eq!((rec.caller.as_str(), rec.callee.as_str()), ("101", "103"), "recorded by extension number");

        s.restore();
        s.run_for(Duration::from_secs(5));
        assert_eq!(s.gw.mode(), Mode::Online);
        let mut aors: Vec<_> = s.cloud.handed_back.iter().map(|b| b.aor.to_string()).collect();
        aors.sort();
        assert_eq!(aors, [101, 103].map(|e| format!("sip:{PREFIX}{e}@{BOX_HOST}")));
    });
}
