//! Each bounded table reached: the answer is the one documented — 503 with Retry-After for
//! requests when the transaction or proxy table is full, 503 for a survival registration when
//! the binding table is full, eviction (counted) for bindings learnt online, a counted drop when
//! the journal is full — and the box keeps working. (The phone TCP connection table and its
//! per-connection buffer are reached in `phones_on_tcp_register_and_call_over_their_connection.rs`;
//! the nonce table is `nonces_beyond_the_table_make_the_oldest_stale`.)
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "common/sim.rs"]
mod sim;

use std::time::Duration;

use carillon_firmware::gateway::{MAX_BINDINGS, MAX_CONTEXTS};
use carillon_protocol::HeaderKind;
use sim::*;

#[test]
fn proxy_table_full_is_503_with_retry_after() {
    run(|| {
        let mut s = Sim::new();
        s.boot_online();
        s.configure(1, false);
        s.cloud.answers_sip = false; // the cloud swallows INVITEs: contexts stay busy
        s.add_phone(101, Answer::Never);
        for i in 0..MAX_CONTEXTS + 5 {
            s.call(101, "102", &format!("c{i}"));
        }
        s.run_for(Duration::from_millis(100));
        let refused: Vec<_> = s.phone(101).responses().filter(|r| status_of(r) == Some(503)).cloned().collect();
        assert!(!refused.is_empty());
        msg(&refused[0], |m| assert_eq!(m.value(HeaderKind::RetryAfter), Some(&b"5"[..])));
        assert!(s.gw.stats().refused_full >= 5);
    });
}

#[test]
fn binding_table_full_in_survival_is_503_and_online_evicts() {
    run(|| {
        let mut s = Sim::new();
        s.boot_online();
        s.configure(1, false);
        // Online: the cloud accepts many contacts for 101; the box keeps MAX_BINDINGS and
        // evicts the one closest to expiry for the rest.
        s.add_phone(101, Answer::Never);
        for i in 0..MAX_BINDINGS + 3 {
            let p = s.phone_mut(101);
            p.addr = addr(&format!("10.0.{}.{}:5062", 1 + i / 200, 1 + i % 200));
            assert_eq!(s.register(101, "pw101", 600), 200);
        }
        assert_eq!(s.gw.bindings().count(), MAX_BINDINGS);
        assert_eq!(s.gw.stats().bindings_evicted, 3);
        // Survival: a new contact beyond the table is refused with 503.
        s.cut();
        s.run_for(Duration::from_secs(6));
        s.phone_mut(101).addr = addr("10.0.9.9:5062");
        assert_eq!(s.register(101, "pw101", 600), 503);
        assert_eq!(s.gw.stats().bindings_refused, 1);
    });
}

#[test]
fn journal_full_is_a_counted_drop() {
    run(|| {
        // A tiny journal: 2 sectors of 512 bytes.
        let flash = carillon_firmware::journal::RamStorage::<16384>::new(8192, 1);
        let mut s = Sim::with_storage(flash, carillon_firmware::gateway::RamConfigStore::new());
        s.boot_online();
        s.configure(1, false);
        s.cut();
        s.run_for(Duration::from_secs(6));
        s.add_phone(101, Answer::Never);
        assert_eq!(s.register(101, "pw101", 3600), 200);
        // Batches of 10 failed attempts, with time for the transactions to end in between.
        // Each attempt is challenged first (407) and sent again with credentials: a batch
        // stays below the transaction table and the box's outstanding nonces.
        for batch in 0..100 {
            for i in 0..10 {
                s.call(101, "0999", &format!("j{batch}-{i}"));
            }
            s.run_for(Duration::from_secs(35));
        }
        let appended = s.gw.journal().unacked();
        let dropped = s.gw.counters().journal_full_drops;
        let refused = s.gw.stats().refused_full;
        println!("journal: {appended} records kept, {dropped} dropped and counted, {refused} refused before routing");
        assert!(dropped > 0);
        assert_eq!(appended + dropped + refused, 1000);
    });
}

#[test]
fn nonces_beyond_the_table_make_the_oldest_stale() {
    use carillon_protocol::digest::{Challenge, CredentialsParams, Secret};
    run(|| {
        let mut s = Sim::new();
        s.boot_online();
        s.configure(1, false);
        s.cut();
        s.run_for(Duration::from_secs(6));
        // 17 challenges outstanding (the box keeps 16 nonces): extension 101 from 17 addresses.
        s.add_phone(101, Answer::Never);
        let mut challenges = Vec::new();
        for i in 0..17 {
            s.phone_mut(101).addr = addr(&format!("10.0.5.{}:5062", 1 + i));
            let before = s.phone(101).inbox.len();
            let req = register_request(s.phone(101), &format!("nonce-{i}"), 1, 600, None);
            s.phone_sends(101, req);
            s.run_for(Duration::from_millis(20));
            let resp = s.phone(101).inbox[before..].iter().find(|m| status_of(m) == Some(401)).unwrap().clone();
            let www = msg(&resp, |m| {
                m.headers_of(HeaderKind::WwwAuthenticate).map(|h| h.value.to_vec()).find(|v| text(v).contains("MD5"))
            })
            .unwrap();
            challenges.push(www);
        }
        let answer = |s: &mut Sim, i: usize| -> Vec<u8> {
            s.phone_mut(101).addr = addr(&format!("10.0.5.{}:5062", 1 + i));
            let ch = Challenge::parse(&challenges[i]).unwrap();
            let mut auth = [0u8; 512];
            let n = CredentialsParams {
                username: "101",
                secret: Secret::Password(b"pw101"),
                method: "REGISTER",
                uri: &format!("sip:{REALM}"),
                cnonce: "c0ffee",
                nc: 1,
            }
            .write(&ch, &mut auth)
            .unwrap();
            let before = s.phone(101).inbox.len();
            let req = register_request(s.phone(101), &format!("nonce-{i}"), 2, 600, Some(&auth[..n]));
            s.phone_sends(101, req);
            s.run_for(Duration::from_millis(20));
            s.phone(101).inbox[before..].iter().rev().find(|m| status_of(m).is_some()).unwrap().clone()
        };
        // The oldest nonce was forgotten: a correct answer to it is challenged again, stale.
        let first = answer(&mut s, 0);
        assert_eq!(status_of(&first), Some(401), "{}", text(&first));
        assert!(text(&first).to_ascii_lowercase().contains("stale=true"), "{}", text(&first));
        // The newest is still known.
        let last = answer(&mut s, 16);
        assert_eq!(status_of(&last), Some(200), "{}", text(&last));
    });
}
