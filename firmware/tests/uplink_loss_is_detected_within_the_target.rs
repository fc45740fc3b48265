//! The uplink is judged down within the configured target (default 5 s) of the link failing,
//! by keepalives alone (no call in progress), and the box reports it as a mode change.
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "common/sim.rs"]
mod sim;

use std::time::Duration;

use carillon_firmware::gateway::ModeCause;
use carillon_protocol::control::Mode;
use sim::*;

#[test]
fn keepalive_timeout_detects_loss_within_five_seconds() {
    run(|| {
        let mut s = Sim::new();
        s.boot_online();
        // Failures at several phases of the keepalive cycle; the worst case must stay under 5 s.
        let mut worst = Duration::ZERO;
        for offset_ms in [0u64, 300, 999, 1500, 1999] {
            s.restore();
            s.run_for(Duration::from_secs(10));
            assert_eq!(s.gw.mode(), Mode::Online);
            s.run_for(Duration::from_millis(offset_ms));
            let cut_at = s.now;
            s.cut();
            let before = s.mode_changes().len();
            s.run_for(Duration::from_secs(10));
            let change = s.mode_changes()[before];
            assert_eq!((change.0, change.1, change.2), (Mode::Online, Mode::Survival, ModeCause::KeepaliveTimeout));
            let detection = change.3 - cut_at;
            println!("cut at +{offset_ms} ms into the cycle: judged down after {detection:?}");
            assert!(detection <= Duration::from_secs(5), "detected after {detection:?}");
            worst = worst.max(detection);
        }
        println!("worst time to detection: {worst:?}");
        assert!(s.gw.counters().uplink_losses >= 5);
    });
}

#[test]
fn a_shorter_target_detects_sooner() {
    run(|| {
        let mut s = Sim::new();
        let mut set = settings();
        set.timing = carillon_firmware::gateway::Timing::detect_within(Duration::from_secs(2));
        *s.gw = carillon_firmware::gateway::Gateway::new(
            set,
            carillon_firmware::journal::RamStorage::new(1024, 1),
            carillon_firmware::gateway::RamConfigStore::new(),
            s.now,
        )
        .unwrap();
        s.boot_online();
        s.run_for(Duration::from_secs(3));
        let cut_at = s.now;
        s.cut();
        s.run_for(Duration::from_secs(5));
        let change = *s.mode_changes().last().unwrap();
        assert_eq!(change.1, Mode::Survival);
        let detection = change.3 - cut_at;
        println!("2 s target: judged down after {detection:?}");
        assert!(detection <= Duration::from_secs(2));
    });
}

#[test]
fn a_closed_connection_is_survival_at_once_and_the_return_is_noticed() {
    run(|| {
        let mut s = Sim::new();
        s.boot_online();
        s.cut();
        let t = s.now;
        s.gw.handle_uplink_closed(t);
        assert_eq!(s.gw.mode(), Mode::Survival);
        s.run_for(Duration::from_secs(30));
        assert_eq!(s.gw.mode(), Mode::Survival);
        s.restore();
        let back = s.now;
        s.run_for(Duration::from_secs(5));
        assert_eq!(s.gw.mode(), Mode::Online);
        let recovered = s.mode_changes().into_iter().find(|c| c.1 == Mode::Recovering && c.3 >= back).unwrap();
        println!("link back: recovering after {:?}", recovered.3 - back);
        assert!(recovered.3 - back <= Duration::from_secs(3));
    });
}
