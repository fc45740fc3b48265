//! Hostile input to the transaction layer: the RFC 4475 torture messages (read in place from
//! /work/shared/sip-torture when present), random bytes, mutated messages, and random verb
//! sequences. Nothing panics, every refusal is a defined error, and no transaction leaks: once
//! the TU has answered or ended what it was handed, time empties the table.

mod transaction_support;

use std::collections::HashSet;

use carillon_protocol::transaction::{Config, Error, Event, Handle, Received, Transactions, Transport};
use carillon_protocol::write::write_response;
use carillon_protocol::{parse, Framing, Header, Message, ParseConfig, Status};
use transaction_support::*;

type Table = Transactions<16, 2048>;

/// xorshift64*: deterministic, so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn torture() -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/sip-torture");
    let mut v = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "sip") {
                v.push((e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).expect("read")));
            }
        }
    }
    v.sort();
    v
}

/// Answers a new server transaction the way a proxy would when it refuses, or ends it.
fn answer(t: &mut Table, now: carillon_protocol::Instant, h: Handle, msg: &Message<'_, '_>) {
    let mut out = [0u8; 2048];
    match write_response(msg, 400, "Bad Request", Some(b"h"), &[], &[], &mut out) {
        Ok(n) if t.respond(now, h, &out[..n]).is_ok() => {}
        _ => t.terminate(h).expect("a new transaction is alive"),
    }
}

/// Hands `bytes` to the table as whatever it parses as, checking the result is defined.
fn feed(t: &mut Table, now: carillon_protocol::Instant, bytes: &[u8], transport: Transport) {
    let mut headers = [Header::EMPTY; 64];
    let Ok(Status::Complete(msg)) = parse(bytes, &mut headers, Framing::Datagram, &ParseConfig::DEFAULT) else {
        return;
    };
    let r =
        if msg.is_request() { t.handle_request(now, phone(), transport, &msg) } else { t.handle_response(now, &msg) };
    match r {
        Ok(Received::New { handle, .. }) => answer(t, now, handle, &msg),
        Ok(_) => {}
        Err(e @ (Error::Malformed(_) | Error::Full | Error::TooLarge)) => assert!(e.status().is_some()),
        Err(e) => panic!("unexpected {e:?}"),
    }
    transmits(t);
    events(t);
    assert!(t.len() <= t.capacity());
}

/// A table with live transactions of every kind for hostile input to collide with.
fn busy_table() -> (Table, Vec<Handle>) {
    let mut t = Table::new(Config::DEFAULT);
    let h = vec![
        t.start_client(ms(0), cloud(), Transport::Udp, &request("INVITE", "z9hG4bK776asdhds")).expect("start"),
        t.start_client(ms(0), cloud(), Transport::Tcp, &request("OPTIONS", "z9hG4bKnashds8")).expect("start"),
        t.start_client(ms(0), cloud(), Transport::Udp, &request("REGISTER", "z9hG4bKc")).expect("start"),
    ];
    transmits(&mut t);
    (t, h)
}

/// Runs time forward far enough for every timer, and checks the table empties. An INVITE
/// client transaction in Proceeding has no timer (§17.1.1.2, the proxy's Timer C governs it),
/// so the TU's part is played for those in `clients`.
fn settle(t: &mut Table, clients: &[Handle]) {
    let (_, _) = run_until(t, ms(1_000_000));
    for &h in clients {
        if t.state(h) == Some(carillon_protocol::transaction::State::Proceeding) {
            t.terminate(h).expect("alive");
        }
    }
    events(t);
    transmits(t);
    assert!(t.is_empty(), "{} transactions left", t.len());
}

#[test]
fn torture_messages_no_panic_no_leak() {
    let files = torture();
    let (mut t, clients) = busy_table();
    for (_, bytes) in &files {
        feed(&mut t, ms(1), bytes, Transport::Udp);
        feed(&mut t, ms(2), bytes, Transport::Tcp);
        // Every prefix too.
        for cut in (0..bytes.len()).step_by(7) {
            feed(&mut t, ms(3), &bytes[..cut], Transport::Udp);
        }
    }
    settle(&mut t, &clients);
    if !files.is_empty() {
        // The well-formed torture requests really reached the table (and were answered).
        let mut t = Table::new(Config::DEFAULT);
        let mut created = 0;
        for (name, bytes) in &files {
            let mut headers = [Header::EMPTY; 64];
            if let Ok(Status::Complete(m)) = parse(bytes, &mut headers, Framing::Datagram, &ParseConfig::DEFAULT) {
                if let Ok(Received::New { handle, .. }) = t.handle_request(ms(0), phone(), Transport::Udp, &m) {
                    created += 1;
                    answer(&mut t, ms(0), handle, &m);
                    transmits(&mut t);
                    events(&mut t);
                    assert!(t.request(handle).is_some(), "{name}");
                }
            }
            settle(&mut t, &[]);
        }
        assert!(created > 10, "only {created} torture requests created transactions");
    }
}

#[test]
fn random_bytes_and_mutations() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut t, clients) = busy_table();
    let seeds = [
        request("INVITE", "z9hG4bK776asdhds"),
        request("ACK", "z9hG4bK776asdhds"),
        request("CANCEL", "z9hG4bK776asdhds"),
        response(&request("INVITE", "z9hG4bK776asdhds"), 180, "Ringing", Some("r")),
        response(&request("OPTIONS", "z9hG4bKnashds8"), 200, "OK", Some("o")),
        request_via("INVITE", "SIP/2.0/UDP 10.0.0.7;branch=1", 1, "<sip:x@y>", "c"),
    ];
    let alphabet = b"z9hG4bK;=:,<>\"\r\n \tSIP/2.0 UDP TCP Via CSeq INVITE ACK 0123456789";
    for i in 0..20_000u64 {
        let mut m = seeds[rng.below(seeds.len() as u64) as usize].clone();
        match rng.below(4) {
            0 => {
                let len = rng.below(300) as usize;
                m = (0..len).map(|_| rng.next() as u8).collect();
            }
            1 => {
                for _ in 0..=rng.below(4) {
                    let at = rng.below(m.len() as u64) as usize;
                    m[at] = alphabet[rng.below(alphabet.len() as u64) as usize];
                }
            }
            2 => {
                let at = rng.below(m.len() as u64) as usize;
                m.truncate(at);
            }
            _ => {
                let at = rng.below(m.len() as u64) as usize;
                let n = rng.below(8) as usize;
                let junk: Vec<u8> = (0..n).map(|_| alphabet[rng.below(alphabet.len() as u64) as usize]).collect();
                m.splice(at..at, junk);
            }
        }
        let transport = if rng.below(2) == 0 { Transport::Udp } else { Transport::Tcp };
        feed(&mut t, ms(i), &m, transport);
        if rng.below(50) == 0 {
            t.handle_timeout(ms(i));
            transmits(&mut t);
            events(&mut t);
        }
    }
    settle(&mut t, &clients);
}

#[test]
fn random_verb_sequences_keep_the_invariants() {
    let mut rng = Rng(42);
    let mut t = Table::new(Config::DEFAULT);
    let mut now = 0u64;
    let mut live: Vec<Handle> = Vec::new();
    let mut dead: HashSet<Handle> = HashSet::new();
    let mut seen_terminated: HashSet<Handle> = HashSet::new();
    let mut kinds = [0usize; 4];
    let methods = ["INVITE", "OPTIONS", "BYE", "CANCEL", "ACK", "REGISTER"];
    for step in 0..30_000u64 {
        now += rng.below(700);
        let method = methods[rng.below(methods.len() as u64) as usize];
        let branch = format!("z9hG4bK{}", rng.below(24));
        let transport = if rng.below(3) == 0 { Transport::Tcp } else { Transport::Udp };
        match rng.below(8) {
            0 | 1 => {
                let _ = feed_request(&mut t, ms(now), phone(), transport, &request(method, &branch));
            }
            2 => {
                if let Ok(h) = t.start_client(ms(now), cloud(), transport, &request(method, &branch)) {
                    live.push(h);
                }
            }
            3 | 4 => {
                // A response to a random stored request, with any status code.
                if let Some(&h) = live.get(rng.below(live.len() as u64 + 1) as usize) {
                    if let Some(req) = t.request(h).map(<[u8]>::to_vec) {
                        let code = 100 + rng.below(600) as u16;
                        let resp = response(&req, code, "Any", Some("x"));
                        let r = if t.kind(h).is_some_and(|k| k.is_client()) {
                            feed_response(&mut t, ms(now), &resp).map(|_| ())
                        } else {
                            t.respond(ms(now), h, &resp)
                        };
                        // Every handle in `live` has not reported Terminated, so it is known.
                        assert_ne!(r, Err(Error::UnknownHandle), "step {step}");
                    }
                }
            }
            5 => t.handle_timeout(ms(now)),
            6 => {
                if let Some(&h) = live.get(rng.below(live.len() as u64 + 1) as usize) {
                    let _ = if rng.below(2) == 0 { t.terminate(h) } else { t.handle_transport_error(ms(now), h) };
                }
            }
            _ => {
                // A handle from a finished transaction is refused, never misdirected.
                if let Some(&h) = dead.iter().next() {
                    assert_eq!(t.terminate(h), Err(Error::UnknownHandle));
                    assert_eq!(t.state(h), None);
                }
            }
        }
        for s in transmits(&mut t) {
            assert!(!dead.contains(&s.handle), "step {step}: a dead transaction sent");
            assert!(!s.bytes.is_empty());
        }
        for e in events(&mut t) {
            let h = match e {
                Event::Request { handle, .. } => {
                    kinds[0] += 1;
                    live.push(handle);
                    handle
                }
                Event::Response { handle, .. } => {
                    kinds[1] += 1;
                    handle
                }
                Event::Timeout { handle, .. } => {
                    kinds[2] += 1;
                    handle
                }
                Event::TransportError { handle } => {
                    kinds[3] += 1;
                    handle
                }
                Event::Terminated { handle } => {
                    assert!(seen_terminated.insert(handle), "step {step}: terminated twice");
                    live.retain(|&x| x != handle);
                    dead.insert(handle);
                    continue;
                }
                _ => continue,
            };
            assert!(!dead.contains(&h), "step {step}: event {e:?} after Terminated");
        }
        if let Some(at) = t.poll_timeout() {
            assert!(at.as_millis() <= now + 64 * 500 + 32_000 + 5_000, "timer too far out");
        }
        assert!(t.len() <= t.capacity());
    }
    // The run went through every kind of event, not just refusals.
    assert!(kinds.iter().all(|&k| k > 20), "{kinds:?}");
    // End everything still open; then the table is empty.
    for h in live.clone() {
        let _ = t.terminate(h);
    }
    transmits(&mut t);
    let evs = events(&mut t);
    assert!(evs.iter().all(|e| matches!(e, Event::Terminated { .. })));
    assert!(t.is_empty(), "{} transactions left", t.len());
}
