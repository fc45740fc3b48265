//! When the uplink returns, every live binding is handed to the cloud at once (Bindings batches,
//! acknowledged), the journal is uploaded, the box is Online again, new calls go to the cloud,
//! and a call set up in survival keeps running until its BYE.
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "common/sim.rs"]
mod sim;

use std::time::Duration;

use carillon_protocol::control::Mode;
use sim::*;

#[test]
fn bindings_handed_back_and_the_survival_call_survives_recovery() {
    run(|| {
        let mut s = Sim::new();
        s.boot_online();
        s.configure(1, false);
        s.cut();
        s.run_for(Duration::from_secs(6));
        assert_eq!(s.gw.mode(), Mode::Survival);
        for e in 101..=106 {
            s.add_phone(e, if e == 102 { Answer::After(Duration::from_secs(1)) } else { Answer::Never });
            assert_eq!(s.register(e, &format!("pw{e}"), 600), 200);
        }
        s.call(101, "102", "survival-call");
        s.run_for(Duration::from_secs(3));
        assert_eq!(s.finals_for(101, "survival-call"), vec![200]);
        let ok = s.ok_for(101, "survival-call").unwrap();
        let ack = in_dialog_request(s.phone(101), &ok, "ACK", 1);
        s.phone_sends(101, ack);

        // The link returns.
        s.restore();
        let back = s.now;
        s.run_for(Duration::from_secs(5));
        assert_eq!(s.gw.mode(), Mode::Online);
        let mut aors: Vec<_> = s.cloud.handed_back.iter().map(|b| b.aor.to_string()).collect();
        aors.sort();
        assert_eq!(aors, (101..=106).map(|e| format!("sip:{e}@{BOX_HOST}")).collect::<Vec<_>>());
        assert!(s.cloud.handed_back.iter().all(|b| b.expires_secs > 500 && b.expires_secs <= 600));
        let online = s.mode_changes().into_iter().find(|c| c.1 == Mode::Online && c.3 >= back).unwrap();
        println!("link back → online (bindings and journal handed back) in {:?}", online.3 - back);
        // Bindings took 2 batches of 4; the journal had no finished call yet.
        assert_eq!(s.cloud.handed_back.len(), 6);

        // New calls go to the cloud.
        s.call(103, "104", "after-recovery");
        s.run_for(Duration::from_millis(200));
        assert!(s.cloud.sip_seen.iter().any(|m| text(m).contains("Call-ID: after-recovery")));

        // The survival call is still routed locally; its BYE ends it and is journaled, then
        // uploaded.
        let bye = in_dialog_request(s.phone(101), &ok, "BYE", 2);
        s.phone_sends(101, bye);
        s.run_for(Duration::from_secs(1));
        assert_eq!(s.phone(102).requests("BYE").len(), 1);
        assert!(!s.cloud.sip_seen.iter().any(|m| text(m).contains("Call-ID: survival-call")));
        assert_eq!(s.cloud.records.len(), 1);
        assert_eq!(s.cloud.records[&1].0.mode, Mode::Survival);
    });
}
