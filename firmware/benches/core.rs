//! The gateway core alone, no I/O: what one proxied REGISTER and one INVITE/ACK/BYE call cost
//! in CPU, driven with the simulation's message builders (phones on the LAN side, the cloud's
//! answers written back into the uplink stream).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, dead_code)]

#[path = "../tests/common/sim.rs"]
mod sim;

use std::hint::black_box;

use carillon_firmware::gateway::{Gateway, RamConfigStore, Transmit};
use carillon_firmware::journal::RamStorage;
use carillon_protocol::Instant;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sim::*;

/// Drains the gateway; returns the uplink messages and the LAN messages.
fn drain(gw: &mut Box_, now: Instant) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let (mut up, mut lan) = (Vec::new(), Vec::new());
    while let Some(t) = gw.poll_transmit(now) {
        match t {
            Transmit::Uplink { bytes } => up.push(bytes.to_vec()),
            Transmit::Lan { bytes, .. } | Transmit::LanStream { bytes, .. } => lan.push(bytes.to_vec()),
            Transmit::Control(_) => {}
        }
    }
    while gw.poll_event().is_some() {}
    (up, lan)
}

/// A gateway that heard from the cloud and is online.
fn online() -> (Box<Box_>, Instant) {
    let mut now = Instant::from_secs(1);
    let mut gw =
        Box::new(Gateway::new(settings(), RamStorage::new(1024, 1), RamConfigStore::new(), Instant::ZERO).unwrap());
    drain(&mut gw, now);
    gw.handle_uplink_bytes(now, b"\r\n");
    drain(&mut gw, now);
    now = now + std::time::Duration::from_millis(1);
    drain(&mut gw, now);
    (gw, now)
}

/// Lets 40 s pass in 2 s steps with the cloud answering keepalives, so that the transaction
/// table retires what completed (Timers J, K, D); not timed.
fn retire(gw: &mut Box_, now: &mut Instant) {
    for _ in 0..20 {
        *now = *now + std::time::Duration::from_secs(2);
        gw.handle_uplink_bytes(*now, b"\r\n");
        gw.handle_timeout(*now);
        drain(gw, *now);
    }
}

fn phone(ext: u32) -> Phone {
    let mut s = Sim::new();
    s.add_phone(ext, Answer::Never);
    s.phones.remove(0)
}

/// Answers a request the box forwarded to the cloud as the cloud would (its Via popped by
/// the box's own handling: the response keeps the box's Via on top).
fn cloud_answer(req: &[u8], code: u16, reason: &str, extra: &[(&str, &[u8])]) -> Vec<u8> {
    respond(req, code, reason, Some("cloudtag"), extra)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("core");
    g.throughput(Throughput::Elements(1));
    // REGISTER from a phone → forwarded with Path → 200 from the cloud → 200 to the phone, the
    // binding learnt.
    {
        let (mut gw, mut now) = online();
        let p = phone(101);
        let mut n = 0u32;
        g.bench_function("proxied REGISTER (request + 200)", |b| {
            b.iter_custom(|iters| {
                let mut total = std::time::Duration::ZERO;
                for _ in 0..iters {
                    let t0 = std::time::Instant::now();
                    n += 1;
                    let req = register_request(&p, "reg-bench", n, 3600, None);
                    gw.handle_lan_datagram(now, p.addr, &req);
                    let (up, lan0) = drain(&mut gw, now);
                    let fwd = match up.into_iter().find(|m| m.starts_with(b"REGISTER")) {
                        Some(f) => f,
                        None => panic!(
                            "not forwarded in {:?}: {:?}",
                            gw.mode(),
                            lan0.iter().map(|m| text(m)).collect::<Vec<_>>()
                        ),
                    };
                    let contact = format!("<{}>;expires=3600", p.contact());
                    gw.handle_uplink_bytes(now, &cloud_answer(&fwd, 200, "OK", &[("Contact", contact.as_bytes())]));
                    let (_, lan) = drain(&mut gw, now);
                    black_box(lan);
                    total += t0.elapsed();
                    retire(&mut gw, &mut now);
                }
                total
            })
        });
    }
    // A call placed by a phone through the cloud: INVITE → 180, 200 from the cloud; ACK; BYE → 200.
    {
        let (mut gw, mut now) = online();
        let p = phone(101);
        let mut n = 0u64;
        g.bench_function("proxied call (INVITE/180/200, ACK, BYE/200)", |b| {
            b.iter_custom(|iters| {
                let mut total = std::time::Duration::ZERO;
                for _ in 0..iters {
                    let t0 = std::time::Instant::now();
                    n += 1;
                    let call_id = format!("bench-{n}");
                    gw.handle_lan_datagram(now, p.addr, &invite_request(&p, "102", &call_id));
                    let (up, _) = drain(&mut gw, now);
                    let fwd = up.into_iter().find(|m| m.starts_with(b"INVITE")).expect("forwarded");
                    let contact = b"<sip:102@10.0.0.12:5062>".as_slice();
                    gw.handle_uplink_bytes(now, &cloud_answer(&fwd, 180, "Ringing", &[("Contact", contact)]));
                    let ok = cloud_answer(&fwd, 200, "OK", &[("Contact", contact)]);
                    gw.handle_uplink_bytes(now, &ok);
                    let (_, lan) = drain(&mut gw, now);
                    let ok_to_phone =
                        lan.into_iter().rev().find(|m| m.starts_with(b"SIP/2.0 200")).expect("200 to the phone");
                    gw.handle_lan_datagram(now, p.addr, &in_dialog_request(&p, &ok_to_phone, "ACK", 1));
                    drain(&mut gw, now);
                    gw.handle_lan_datagram(now, p.addr, &in_dialog_request(&p, &ok_to_phone, "BYE", 2));
                    let (up, _) = drain(&mut gw, now);
                    let bye = up.into_iter().find(|m| m.starts_with(b"BYE")).expect("BYE forwarded");
                    gw.handle_uplink_bytes(now, &cloud_answer(&bye, 200, "OK", &[]));
                    let (_, lan) = drain(&mut gw, now);
                    black_box(lan);
                    total += t0.elapsed();
                    retire(&mut gw, &mut now);
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
