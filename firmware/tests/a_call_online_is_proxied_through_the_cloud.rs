//! Online, a call between two phones of the school goes phone → box → cloud → box → phone,
//! with Record-Route so that ACK and BYE take the same way; no call record is journaled (the
//! cloud keeps the records of calls it handled).
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "common/sim.rs"]
mod sim;

use std::time::Duration;

use carillon_protocol::control::Mode;
use sim::*;

#[test]
fn invite_ack_bye_online() {
    run(|| {
        let mut s = Sim::new();
        s.boot_online();
        s.configure(1, false);
        s.add_phone(101, Answer::Never);
        s.add_phone(102, Answer::After(Duration::from_secs(2)));
        assert_eq!(s.register(101, "pw101", 600), 200);
        assert_eq!(s.register(102, "pw102", 600), 200);
        s.call(101, "102", "call-online-1");
        s.run_for(Duration::from_secs(3));
        assert_eq!(s.finals_for(101, "call-online-1"), vec![200]);
        let invite_at_cloud = s.cloud.sip_seen.iter().find(|m| m.starts_with(b"INVITE")).unwrap().clone();
        msg(&invite_at_cloud, |m| {
            assert_eq!(m.record_routes().next().unwrap().unwrap().uri.host.unwrap().to_string(), BOX_HOST);
        });
        assert_eq!(s.phone(102).requests("INVITE").len(), 1);
        s.ack_and_bye(101, "call-online-1", Duration::from_secs(30));
        assert_eq!(s.phone(102).requests("ACK").len(), 1, "ACK reached the callee");
        assert_eq!(s.phone(102).requests("BYE").len(), 1, "BYE reached the callee");
        let bye_ok = s.phone(101).responses().filter(|r| text(r).contains("CSeq: 2 BYE")).count();
        assert_eq!(bye_ok, 1, "the caller got the 200 to its BYE");
        assert_eq!(s.gw.mode(), Mode::Online);
        assert_eq!(s.gw.counters().calls_online, 1);
        assert_eq!(s.cloud.records.len(), 0);
    });
}
