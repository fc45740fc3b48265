//! Issue 7: after a power cut in an outage, the 128 phones of a school all register again
//! within about a minute. Each registration takes two server transactions (401, then 200) that
//! RFC 3261 keeps for Timer J (32 s over UDP); completed ones wait it out in small rows, so
//! the full rows are free again at once and nobody is refused with 503 for a table full of
//! finished registrations. Phones register one after the other, 20 a second (a fast burst:
//! phones that rebooted together).
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "common/sim.rs"]
mod sim;

use std::time::Duration;

use carillon_protocol::control::Mode;
use sim::*;

const PHONES: u32 = 128;

#[test]
fn all_128_phones_register_in_survival_without_a_503() {
    run(|| {
        let mut s = Sim::new();
        s.boot_online();
        for m in config_messages_for(1, false, 101..101 + PHONES) {
            s.cloud_sends_control(m);
        }
        s.run_for(Duration::from_millis(100));
        assert_eq!(s.gw.site().map(|c| c.extensions.len()), Some(PHONES as usize));
        s.cut();
        s.run_for(Duration::from_secs(6));
        assert_eq!(s.gw.mode(), Mode::Survival);

        let start = s.now;
        for ext in 101..101 + PHONES {
            s.add_phone(ext, Answer::Never);
            // 25 ms for the 401 and 25 ms for the 200: 20 phones a second.
            let code = s.register_waiting(ext, &format!("pw{ext}"), 3600, Duration::from_millis(25));
            assert_eq!(code, 200, "phone {ext}, {:?} after the first", s.now - start);
        }
        let took = s.now - start;
        assert_eq!(s.gw.bindings().count(), PHONES as usize);
        assert_eq!(s.gw.stats().refused_full, 0);
        assert!(took <= Duration::from_secs(60), "128 phones took {took:?}");
    });
}
