//! A call set up online between two phones of the school survives the cut with its dialog
//! state: a re-INVITE (hold) and its ACK reach the other phone straight from the box, the
//! 200 comes back; an in-dialog request whose target is no phone the box knows (a call to
//! another school or the public network can only go on through the cloud) gets a clear 503.
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "common/sim.rs"]
mod sim;

use std::time::Duration;

use carillon_protocol::control::Mode;
use carillon_protocol::write::Writer;
use carillon_protocol::{HeaderKind, Method};
use sim::*;

#[test]
fn re_invite_and_ack_reach_the_other_phone_during_the_outage() {
    run(|| {
        let mut s = Sim::new();
        s.boot_online();
        s.configure(1, false);
        s.add_phone(101, Answer::After(Duration::from_millis(300)));
        s.add_phone(102, Answer::After(Duration::from_millis(300)));
        assert_eq!(s.register(101, "pw101", 600), 200);
        assert_eq!(s.register(102, "pw102", 600), 200);
        s.call(101, "102", "reinvite-1");
        s.run_for(Duration::from_secs(2));
        let ok = s.ok_for(101, "reinvite-1").unwrap();
        s.phone_sends(101, in_dialog_request(s.phone(101), &ok, "ACK", 1));
        s.run_for(Duration::from_millis(200));
        let seen_by_cloud = s.cloud.sip_seen.len();

        s.cut();
        s.run_for(Duration::from_secs(6));
        assert_eq!(s.gw.mode(), Mode::Survival);

        // 102 puts 101 on hold: a re-INVITE with its own route set (through the cloud).
        let invite = s.phone(102).requests("INVITE")[0].clone();
        let reinvite = callee_request(s.phone(102), &invite, "INVITE", 1);
        s.phone_sends(102, reinvite.clone());
        s.run_for(Duration::from_secs(1));
        let at_101 = s.phone(101).requests("INVITE");
        assert_eq!(at_101.len(), 1, "the re-INVITE reached 101");
        assert!(text(&at_101[0]).contains("To: <sip:101@"), "{}", text(&at_101[0]));
        let ok2 = s
            .phone(102)
            .responses()
            .find(|r| status_of(r) == Some(200) && text(r).contains("1 INVITE"))
            .cloned()
            .expect("102 got the 200 to its re-INVITE");
        // 102 acknowledges the 2xx: the ACK is routed like the re-INVITE.
        let ack = msg(&reinvite, |m| {
            let mut out = vec![0u8; 2048];
            let mut w = Writer::new(&mut out);
            w.request_line(Method::Ack, m.request_uri().unwrap().unwrap().raw);
            w.header("Via", format!("SIP/2.0/UDP {};branch=z9hG4bKack2;rport", s.phone(102).addr).as_bytes());
            w.header("Max-Forwards", b"70");
            for r in m.headers_of(HeaderKind::Route) {
                w.header("Route", r.value);
            }
            w.header("From", m.value(HeaderKind::From).unwrap());
            let to = msg(&ok2, |r| r.value(HeaderKind::To).unwrap().to_vec());
            w.header("To", &to);
            w.header("Call-ID", m.call_id().unwrap());
            w.header("CSeq", b"1 ACK");
            let n = w.finish(&[]).unwrap();
            out.truncate(n);
            out
        });
        s.phone_sends(102, ack);
        s.run_for(Duration::from_millis(500));
        assert_eq!(s.phone(101).requests("ACK").len(), 1, "the ACK of the re-INVITE reached 101");
        assert_eq!(s.cloud.sip_seen.len(), seen_by_cloud, "nothing went towards the cloud");

        // Then 101 hangs up: still delivered.
        s.phone_sends(101, in_dialog_request(s.phone(101), &ok, "BYE", 2));
        s.run_for(Duration::from_secs(1));
        assert_eq!(s.phone(102).requests("BYE").len(), 1);
    });
}

#[test]
fn a_target_that_is_no_phone_of_the_school_gets_503() {
    run(|| {
        let mut s = Sim::new();
        s.boot_online();
        s.configure(1, false);
        s.add_phone(101, Answer::Never);
        assert_eq!(s.register(101, "pw101", 600), 200);
        s.cut();
        s.run_for(Duration::from_secs(6));
        assert_eq!(s.gw.mode(), Mode::Survival);
        // A BYE of a call with a phone of another school, reached through the cloud.
        let p = s.phone(101);
        let mut out = vec![0u8; 2048];
        let mut w = Writer::new(&mut out);
        w.request_line(Method::Bye, b"sip:555@192.0.2.77:5060");
        w.header("Via", format!("SIP/2.0/UDP {};branch=z9hG4bKother;rport", p.addr).as_bytes());
        w.header("Max-Forwards", b"70");
        w.header("Route", format!("<sip:{BOX_HOST};lr>, <sip:{CLOUD_HOST};lr>").as_bytes());
        w.header("From", b"<sip:101@school.example>;tag=a1");
        w.header("To", b"<sip:555@other.example>;tag=b1");
        w.header("Call-ID", b"other-school-call");
        w.header("CSeq", b"2 BYE");
        let n = w.finish(&[]).unwrap();
        out.truncate(n);
        s.phone_sends(101, out);
        s.run_for(Duration::from_secs(1));
        let last = s.phone(101).last_response().unwrap().clone();
        assert_eq!(status_of(&last), Some(503), "{}", text(&last));
        assert!(text(&last).contains("cloud unreachable"), "{}", text(&last));
    });
}
