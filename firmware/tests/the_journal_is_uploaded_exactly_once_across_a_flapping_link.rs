//! Calls handled in survival are journaled; the journal is uploaded when the uplink returns,
//! and a link that flaps (drops acks and batches mid-upload, again and again) leaves the cloud
//! with every record exactly once, in sequence, and the journal empty.
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "common/sim.rs"]
mod sim;

use std::time::Duration;

use carillon_protocol::control::Mode;
use sim::*;

#[test]
fn every_record_once_despite_flapping() {
    run(|| {
        let mut s = Sim::new();
        s.boot_online();
        s.configure(1, false);
        s.cut();
        s.run_for(Duration::from_secs(6));
        s.add_phone(101, Answer::Never);
        assert_eq!(s.register(101, "pw101", 3600), 200);
        // 30 failed attempts (unknown numbers), each journaled; spaced so that their
        // transactions (two INVITEs each: the challenged one and the one with credentials)
        // stay below the transaction table.
        for i in 0..30 {
            s.call(101, &format!("0{i:09}"), &format!("attempt-{i}"));
            s.run_for(Duration::from_millis(400));
        }
        assert_eq!(s.gw.journal().unacked(), 30);
        // Flap: up windows of 2.0–2.4 s (the box notices at its next ping, then uploads for
        // whatever is left of the window), down 7 s; on odd rounds the cloud stores but its
        // acks are lost with the link, so the box must send those records again.
        for round in 0..10u64 {
            s.cloud.acks_records = round % 2 == 1;
            s.restore();
            s.run_for(Duration::from_millis(2000 + round * 41));
            s.cut();
            s.run_for(Duration::from_secs(7));
        }
        s.cloud.acks_records = true;
        s.restore();
        s.run_for(Duration::from_secs(10));
        assert_eq!(s.gw.mode(), Mode::Online);
        assert_eq!(s.cloud.records.keys().copied().collect::<Vec<_>>(), (1..=30).collect::<Vec<u64>>());
        let resent: u32 = s.cloud.records.values().map(|(_, n)| n - 1).sum();
        assert!(resent > 0, "the flaps must have forced resends");
        println!("30 records stored once each; {resent} copies resent across the flaps and absorbed by seq");
        assert_eq!(s.gw.journal().unacked(), 0);
        assert!(s.cloud.records.values().all(|(r, _)| r.box_id.0 == 7));
    });
}
