//! Garbage, the RFC 4475/5118 torture messages (read in place from /work/shared/sip-torture when
//! that folder exists), truncations, floods and hostile control messages: the gateway never
//! panics, answers what it can answer, and keeps working afterwards.
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "common/sim.rs"]
mod sim;

use std::time::Duration;

use carillon_protocol::control::Mode;
use sim::*;

/// A deterministic byte generator (xorshift), so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn torture_files() -> Vec<Vec<u8>> {
    let dir = std::path::Path::new("/work/shared/sip-torture");
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<_> =
        rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "sip")).collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

#[test]
fn garbage_torture_and_floods_on_every_input() {
    run(|| {
        let mut s = Sim::new();
        s.boot_online();
        s.configure(1, true);
        let from = addr("10.0.0.66:5060");
        let corpus = torture_files();
        println!("{} torture messages", corpus.len());
        let mut rng = Rng(0x1234_5678);
        for round in 0..2 {
            if round == 1 {
                s.cut();
                s.run_for(Duration::from_secs(6));
                assert_eq!(s.gw.mode(), Mode::Survival);
            }
            for m in &corpus {
                // Whole, every truncation, and a byte flipped: on the LAN and on the uplink.
                let now = s.now;
                s.gw.handle_lan_datagram(now, from, m);
                for cut in (0..m.len()).step_by(7) {
                    s.gw.handle_lan_datagram(now, from, &m[..cut]);
                }
                let mut flipped = m.clone();
                let i = (rng.next() as usize) % flipped.len().max(1);
                if let Some(b) = flipped.get_mut(i) {
                    *b ^= 0x5a;
                }
                s.gw.handle_lan_datagram(now, from, &flipped);
                s.gw.handle_uplink_bytes(now, m);
                s.run_for(Duration::from_millis(5));
            }
            for len in [0usize, 1, 2, 3, 4, 100, 1500, 3072, 9000, 70_000] {
                let junk: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                let now = s.now;
                s.gw.handle_lan_datagram(now, from, &junk);
                s.gw.handle_uplink_bytes(now, &junk);
                s.run_for(Duration::from_millis(5));
            }
        }
        // A flood of distinct INVITEs from one address: bounded tables, 503s, no panic.
        s.restore();
        s.run_for(Duration::from_secs(3));
        s.add_phone(101, Answer::Never);
        for i in 0..500 {
            s.call(101, "102", &format!("flood-{i}"));
        }
        s.run_for(Duration::from_secs(2));
        let (txns, contexts, _) = s.gw.tables_in_use();
        assert!(
            txns <= carillon_firmware::gateway::MAX_TRANSACTIONS
                && contexts <= carillon_firmware::gateway::MAX_CONTEXTS
        );
        assert!(s.gw.stats().refused_full > 0);
        assert!(s.gw.counters().sip_rejected > 0);
        // Hostile control: acks of records that do not exist, bindings acks out of the blue,
        // config chunks without a begin.
        for m in [
            carillon_protocol::control::CloudMessage::CallRecordsAck(carillon_protocol::control::CallRecordsAck {
                up_to_seq: u64::MAX,
            }),
            carillon_protocol::control::CloudMessage::BindingsAck(carillon_protocol::control::BindingsAck {
                batch_id: 999,
            }),
            config_messages(9, false)[1].clone(),
        ] {
            let now = s.now;
            s.gw.handle_control(now, m);
        }
        s.run_for(Duration::from_secs(40));
        // Still working: a new phone registers through the cloud.
        s.add_phone(103, Answer::Never);
        assert_eq!(s.register(103, "pw103", 600), 200);
    });
}

#[test]
fn garbage_and_torture_messages_on_phone_tcp_connections() {
    run(|| {
        let mut s = Sim::new();
        s.boot_online();
        s.configure(1, true);
        s.cut();
        s.run_for(Duration::from_secs(6));
        let corpus = torture_files();
        let mut rng = Rng(0x9e37_79b9);
        for (n, m) in corpus.iter().enumerate() {
            // Each message on a fresh connection, in pieces of random size, then random bytes.
            let peer = addr(&format!("10.0.1.{}:{}", 1 + n % 200, 40_000 + n));
            let now = s.now;
            if s.gw.handle_lan_stream_opened(now, peer).is_err() {
                s.gw.handle_lan_stream_closed(now, peer);
                continue;
            }
            let mut rest: &[u8] = m;
            while !rest.is_empty() {
                let k = 1 + (rng.next() as usize) % rest.len();
                s.gw.handle_lan_stream_bytes(now, peer, &rest[..k]);
                rest = &rest[k..];
            }
            let junk: Vec<u8> = (0..(rng.next() % 5000) as usize).map(|_| rng.next() as u8).collect();
            s.gw.handle_lan_stream_bytes(now, peer, &junk);
            s.run_for(Duration::from_millis(5));
            s.gw.handle_lan_stream_closed(s.now, peer);
        }
        // Bytes for connections never opened, and a flood of opens.
        for i in 0..200u16 {
            let peer = addr(&format!("10.0.2.1:{}", 30_000 + i));
            let now = s.now;
            s.gw.handle_lan_stream_bytes(now, peer, b"INVITE sip:102@x SIP/2.0\r\n\r\n");
            let _ = s.gw.handle_lan_stream_opened(now, peer);
        }
        assert!(s.gw.lan_streams_open() <= carillon_firmware::gateway::MAX_LAN_STREAMS);
        assert!(s.gw.stats().lan_streams_refused > 0);
        // Still serving: a phone on UDP registers.
        for i in 0..200u16 {
            s.gw.handle_lan_stream_closed(s.now, addr(&format!("10.0.2.1:{}", 30_000 + i)));
        }
        s.add_phone(101, Answer::Never);
        assert_eq!(s.register(101, "pw101", 600), 200);
        assert_eq!(s.gw.lan_streams_open(), 0);
    });
}
