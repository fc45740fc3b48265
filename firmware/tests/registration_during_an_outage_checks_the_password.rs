//! In survival the box is the registrar: a new phone is challenged (401, MD5 and SHA-256), a
//! wrong password gets 403, the right one 200 and a binding; refreshes work the same way.
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "common/sim.rs"]
mod sim;

use std::time::Duration;

use carillon_protocol::control::Mode;
use sim::*;

#[test]
fn wrong_password_refused_right_password_registered() {
    run(|| {
        let mut s = Sim::new();
        s.boot_online();
        s.configure(1, false);
        s.cut();
        s.run_for(Duration::from_secs(6));
        assert_eq!(s.gw.mode(), Mode::Survival);
        s.add_phone(104, Answer::Never);
        assert_eq!(s.register(104, "wrong", 300), 403);
        assert_eq!(s.gw.bindings().count(), 0);
        assert_eq!(s.register(104, "pw104", 300), 200);
        let b: Vec<_> = s.gw.bindings().cloned().collect();
        assert_eq!((b.len(), b[0].aor.as_str()), (1, "104"));
        // The 200 lists the binding with its lifetime.
        let ok = s.phone(104).last_response().unwrap().clone();
        assert!(text(&ok).contains(";expires=300"), "{}", text(&ok));
        // A refresh later is accepted too; an unknown extension is refused.
        s.run_for(Duration::from_secs(100));
        assert_eq!(s.register(104, "pw104", 300), 200);
        assert_eq!(s.gw.bindings().count(), 1);
        s.add_phone(150, Answer::Never);
        assert_eq!(s.register(150, "pw150", 300), 404);
        // Expires 0 removes it.
        assert_eq!(s.register(104, "pw104", 0), 200);
        assert_eq!(s.gw.bindings().count(), 0);
    });
}
