//! A call set up online (signalling through the cloud, the box in its Record-Route on both
//! sides) between two phones of the school is still up when the uplink is cut. Its in-dialog
//! requests, whose route set leads through the cloud, are delivered straight to the other
//! phone by the box (the cloud part of the route set skipped, the Route values removed) and
//! their responses come back: the caller hangs up after the outage is detected, or the callee
//! hangs up in the first second of the outage (the BYE first goes to the cloud, gets no answer,
//! and falls back to the LAN).
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "common/sim.rs"]
mod sim;

use std::time::Duration;

use carillon_protocol::control::Mode;
use sim::*;

/// Boot online, register 101 and 102 through the cloud, 101 calls 102 via the cloud and ACKs.
fn online_call(s: &mut Sim, call_id: &str) {
    s.boot_online();
    s.configure(1, false);
    s.add_phone(101, Answer::Never);
    s.add_phone(102, Answer::After(Duration::from_secs(1)));
    assert_eq!(s.register(101, "pw101", 600), 200);
    assert_eq!(s.register(102, "pw102", 600), 200);
    s.call(101, "102", call_id);
    s.run_for(Duration::from_secs(2));
    assert_eq!(s.finals_for(101, call_id), vec![200]);
    assert!(s.cloud.sip_seen.iter().any(|m| m.starts_with(b"INVITE")), "the call was set up through the cloud");
    let ok = s.ok_for(101, call_id).unwrap();
    let ack = in_dialog_request(s.phone(101), &ok, "ACK", 1);
    s.phone_sends(101, ack);
    s.run_for(Duration::from_millis(200));
    assert_eq!(s.phone(102).requests("ACK").len(), 1);
}

fn bye_ok_count(p: &Phone) -> usize {
    p.responses().filter(|r| status_of(r) == Some(200) && text(r).contains(" BYE")).count()
}

#[test]
fn the_caller_hangs_up_after_the_outage_is_detected() {
    run(|| {
        let mut s = Sim::new();
        online_call(&mut s, "up-before-cut-1");
        s.cut();
        s.run_for(Duration::from_secs(6));
        assert_eq!(s.gw.mode(), Mode::Survival);
        let sent_to_cloud = s.cloud.sip_seen.len();

        let ok = s.ok_for(101, "up-before-cut-1").unwrap();
        let bye = in_dialog_request(s.phone(101), &ok, "BYE", 2);
        assert!(text(&bye).contains(&format!("Route: <sip:{CLOUD_HOST};lr>")), "the route set leads via the cloud");
        s.phone_sends(101, bye);
        s.run_for(Duration::from_secs(1));

        let byes = s.phone(102).requests("BYE");
        assert_eq!(byes.len(), 1, "the BYE reached the callee");
        assert!(!text(&byes[0]).contains("Route:"), "the skipped route set is removed: {}", text(&byes[0]));
        assert_eq!(bye_ok_count(s.phone(101)), 1, "the caller got the callee's 200 to its BYE");
        assert!(!s.phone(101).final_codes().contains(&503), "no 503 for the BYE");
        assert_eq!(s.cloud.sip_seen.len(), sent_to_cloud, "nothing was sent towards the cloud");
        // A call the cloud set up is the cloud's to record: the box journals nothing for it.
        assert_eq!(s.gw.journal().unacked(), 0);
    });
}

#[test]
fn the_callee_hangs_up_in_the_first_second_of_the_outage() {
    run(|| {
        let mut s = Sim::new();
        online_call(&mut s, "up-before-cut-2");
        // Right after a keepalive answer, so that keepalives alone would take seconds.
        s.run_for(Duration::from_millis(2030));
        s.cut();
        s.run_for(Duration::from_millis(500));
        assert_ne!(s.gw.mode(), Mode::Survival, "not detected yet");

        let invite = s.phone(102).requests("INVITE")[0].clone();
        let bye = callee_request(s.phone(102), &invite, "BYE", 1);
        s.phone_sends(102, bye);
        s.run_for(Duration::from_secs(4));

        assert_eq!(s.gw.mode(), Mode::Survival, "the BYE's timeout judged the uplink down");
        assert_eq!(s.phone(101).requests("BYE").len(), 1, "the BYE reached the caller past the cloud");
        assert_eq!(bye_ok_count(s.phone(102)), 1, "the callee got the caller's 200 to its BYE");
        assert!(!s.phone(102).final_codes().contains(&503), "no 503 for the BYE");
    });
}
