//! Online, a REGISTER goes to the cloud with the box's Via, a Path (RFC 3327) and the phone's
//! Via completed per RFC 3581; the cloud's 200 comes back to the phone and the binding it
//! accepted is learnt by the box.
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "common/sim.rs"]
mod sim;

use std::time::Duration;

use carillon_protocol::HeaderKind;
use sim::*;

#[test]
fn register_is_forwarded_with_path_and_the_binding_learnt() {
    run(|| {
        let mut s = Sim::new();
        s.boot_online();
        s.configure(1, false);
        s.add_phone(101, Answer::Never);
        let code = s.register(101, "pw101", 600);
        assert_eq!(code, 200);
        let reg = s.cloud.sip_seen.iter().find(|m| m.starts_with(b"REGISTER")).unwrap().clone();
        msg(&reg, |m| {
            let vias: Vec<_> = m.vias().map(|v| v.unwrap()).collect();
            assert_eq!(vias.len(), 2);
            assert_eq!(vias[0].host.to_string(), BOX_HOST);
            assert!(vias[0].has_rfc3261_branch());
            assert_eq!(vias[1].rport(), Some(Some(5062)), "rport filled in (RFC 3581)");
            let path = m.paths().next().unwrap().unwrap();
            assert_eq!(path.uri.host.unwrap().to_string(), BOX_HOST);
            assert_eq!(m.max_forwards().unwrap().unwrap(), 69);
        });
        // The phone got the cloud's 200 with only its own Via.
        let ok = s.phone(101).last_response().unwrap().clone();
        msg(&ok, |m| {
            assert_eq!(m.status_code(), Some(200));
            assert_eq!(m.vias().count(), 1);
            assert!(m.value(HeaderKind::Contact).is_some());
        });
        let b: Vec<_> = s.gw.bindings().cloned().collect();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].aor.as_str(), "101");
        assert_eq!(b[0].contact.as_str(), s.phone(101).contact());
        assert_eq!(b[0].source, phone_addr(101));
        // Expires as the cloud granted (600 s): gone after that.
        s.run_for(Duration::from_secs(601));
        assert_eq!(s.gw.bindings().count(), 0);
    });
}
