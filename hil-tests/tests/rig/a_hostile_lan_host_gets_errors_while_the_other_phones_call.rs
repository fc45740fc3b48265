//! Scenario 8: a stranger on school A's LAN sends malformed messages (each gets a clear error
//! or is dropped) and then a bounded flood of requests (at most 3000 datagrams in at most
//! 3 s) while two phones of the school call each other. The flood's answers are counted by
//! kind. Whether the school's calls connect during the flood is measured and reported (today
//! they do not: the flood fills the box's transaction table); what is asserted is that the box
//! comes back by itself: the school calls again once the flood's transactions are over.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use carillon_hil_tests::netns;

use crate::common::*;
use crate::ensure;

const FLOOD_MAX: u32 = 3000;
const FLOOD_FOR: Duration = Duration::from_secs(3);

fn request(method: &str, n: u32, extra: &str) -> String {
    format!(
        "{method} sip:201@carillon SIP/2.0\r\nVia: SIP/2.0/UDP 198.18.10.66:5060;branch=z9hG4bKflood{n}\r\n\
         From: <sip:stranger@carillon>;tag=f{n}\r\nTo: <sip:201@carillon>\r\nCall-ID: flood-{n}@198.18.10.66\r\n\
         CSeq: 1 {method}\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n"
    )
}

/// The status line of the first answer within `wait`, if one comes.
fn answer(s: &UdpSocket, wait: Duration) -> Option<String> {
    s.set_read_timeout(Some(wait)).ok()?;
    let mut buf = [0u8; 4096];
    let n = s.recv(&mut buf).ok()?;
    String::from_utf8_lossy(buf.get(..n)?).lines().next().map(str::to_owned)
}

pub fn run(ctx: &mut Ctx) -> Result<(), String> {
    let rig = ctx.rig()?;
    let a = rig.a();
    let (p201, p202) = (a.phone("201"), a.phone("202"));
    register(&rig, p201, a.box_sip)?;
    register(&rig, p202, a.box_sip)?;
    let box_sip = a.box_sip;
    let stranger = netns::within(&a.lan_ns, || UdpSocket::bind("198.18.10.66:5060"))
        .map_err(|e| format!("stranger socket: {e}"))?;
    stranger.connect(box_sip).map_err(|e| e.to_string())?;

    // Malformed, one at a time: what each gets.
    let no_call_id = request("OPTIONS", 1, "").replace("Call-ID: flood-1@198.18.10.66\r\n", "");
    let bad_cseq = request("OPTIONS", 2, "").replace("CSeq: 1 OPTIONS", "CSeq: abc OPTIONS");
    let huge = request("OPTIONS", 3, &format!("X-Padding: {}\r\n", "x".repeat(4000)));
    // What each must get: an answer starting so, or "dropped" (not answered; the box counts
    // it). A request over the box's limit whose Via can be read gets 513 Message Too Large.
    let cases: [(&str, Vec<u8>, &[&str]); 4] = [
        ("not SIP at all", b"\x00\x01\x02 hello\r\n\r\n".to_vec(), &["dropped"]),
        ("no Call-ID", no_call_id.into_bytes(), &["SIP/2.0 400"]),
        ("CSeq not a number", bad_cseq.into_bytes(), &["SIP/2.0 400"]),
        ("4 KB request", huge.into_bytes(), &["SIP/2.0 513"]),
    ];
    let mut seen = Vec::new();
    for (what, bytes, want) in &cases {
        stranger.send(bytes).map_err(|e| e.to_string())?;
        let got = answer(&stranger, Duration::from_millis(700)).unwrap_or_else(|| "dropped".into());
        ensure!(want.iter().any(|w| got.starts_with(w)), "{what}: want one of {want:?}, got {got:?}");
        seen.push(format!("{what}: {got}"));
    }
    ctx.figure("malformed messages", seen.join("; "));

    // The flood, on its own thread, bounded in count and time; answers counted by status.
    let done = Arc::new(AtomicBool::new(false));
    let flood = stranger.try_clone().map_err(|e| e.to_string())?;
    let reader = stranger.try_clone().map_err(|e| e.to_string())?;
    let stop = done.clone();
    let counter = std::thread::spawn(move || {
        let mut counts: std::collections::BTreeMap<String, u32> = std::collections::BTreeMap::new();
        let _ = reader.set_read_timeout(Some(Duration::from_millis(200)));
        let mut buf = [0u8; 4096];
        let idle_until = |d: &AtomicBool| d.load(Ordering::Relaxed);
        let mut quiet = 0;
        loop {
            match reader.recv(&mut buf) {
                Ok(n) => {
                    quiet = 0;
                    let line =
                        String::from_utf8_lossy(buf.get(..n).unwrap_or(&[])).lines().next().unwrap_or("").to_owned();
                    let code = line.split_whitespace().nth(1).unwrap_or("?").to_owned();
                    *counts.entry(code).or_default() += 1;
                }
                Err(_) => {
                    quiet += 1;
                    if idle_until(&stop) && quiet >= 5 {
                        return counts;
                    }
                }
            }
        }
    });
    let sender = std::thread::spawn(move || {
        let start = Instant::now();
        let mut sent = 0u32;
        while sent < FLOOD_MAX && start.elapsed() < FLOOD_FOR {
            let method = if sent % 2 == 0 { "OPTIONS" } else { "INVITE" };
            if flood.send(request(method, 100 + sent, "").as_bytes()).is_ok() {
                sent += 1;
            }
        }
        (sent, start.elapsed())
    });
    // Meanwhile the school calls (at least once, until the flood is over).
    let mut setups = Vec::new();
    let mut failures = Vec::new();
    while setups.len() + failures.len() < 1 || !sender.is_finished() {
        match call(&rig, p201, box_sip, "202", p202) {
            Ok(d) => setups.push(d),
            Err(e) => failures.push(e),
        }
    }
    let (sent, took) = sender.join().map_err(|_| "flood thread panicked")?;
    done.store(true, Ordering::Relaxed);
    let counts = counter.join().map_err(|_| "counter thread panicked")?;
    let answered: u32 = counts.values().sum();
    ctx.figure(
        "flood from one host",
        format!(
            "{sent} requests in {} ms; answers {}; no answer {}",
            took.as_millis(),
            counts.iter().map(|(k, v)| format!("{k} x{v}")).collect::<Vec<_>>().join(", "),
            sent.saturating_sub(answered)
        ),
    );
    // Known weakness, reported and not asserted: the flood fills the box's transaction table,
    // and the school's own calls get "503 (transaction table full)" until those transactions
    // time out.
    let why = failures.first().map(|f| f.lines().find(|l| l.contains("received")).unwrap_or(f).to_owned());
    ctx.figure(
        "calls 201->202 during the flood (not asserted)",
        format!(
            "{} connected, {} failed{}",
            setups.len(),
            failures.len(),
            why.map(|w| format!(" ({})", w.trim())).unwrap_or_default()
        ),
    );
    // Nothing stays stuck: the school can call again once the flood's transactions are over.
    let after_flood = Instant::now();
    let mut tries = 0;
    let setup = loop {
        tries += 1;
        match call(&rig, p201, box_sip, "202", p202) {
            Ok(d) => break d,
            Err(e) => {
                ensure!(after_flood.elapsed() < Duration::from_secs(45), "no call connects 45 s after the flood: {e}")
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    ctx.figure(
        "school calls again after the flood",
        format!("{} after it ended ({tries} tries), set-up {}", ms(after_flood.elapsed()), ms(setup)),
    );
    Ok(())
}
