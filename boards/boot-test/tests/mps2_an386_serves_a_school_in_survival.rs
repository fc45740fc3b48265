//! The emulated board boots in QEMU with a school of 128 phones in its flash-like store, and
//! serves it in survival over real UDP (QEMU user networking, forwarded from 127.0.0.1):
//! a REGISTER gets a digest challenge, a wrong password 403, the right one 200; SIPp then
//! registers a burst of phones with their own passwords. The board's stack high-water mark
//! after that load is printed for the size report (BENCHMARKS.md).
//!
//! The burst is sized to the core's transaction table: a server transaction keeps its row for
//! Timer J (32 s over UDP, RFC 3261 §17.2.2) after its answer, so `MAX_TRANSACTIONS` rows
//! serve that many requests per 32 s; beyond it the box answers 503 with `Retry-After` (its
//! defined answer when a table is full), which SIPp's scenario would count as a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::{Command, Stdio};
use std::time::Duration;

use carillon_boot_test::*;

/// Phones in the school's configuration.
const PHONES: u32 = 128;
/// Phones SIPp registers (2 transactions each), within the transaction table beside the
/// handful of transactions of the first part.
const SIPP_PHONES: u32 = 16;
const BOOT_LIMIT: Duration = Duration::from_secs(30);

fn boot_school() -> (Qemu, std::path::PathBuf) {
    let dir = tempdir("mps2-boot");
    let store = dir.join("store.bin");
    std::fs::write(&store, store_image(&school(PHONES))).unwrap();
    let mut qemu = Qemu::boot(&board_elf(), Some(&store));
    let up = qemu.wait_line("SIP on UDP port 5060", 0, BOOT_LIMIT);
    assert!(up.is_some(), "the board did not come up within {BOOT_LIMIT:?}:\n{}", qemu.log());
    let config = qemu.wait_line("configuration v7 with 128 extensions", 0, Duration::ZERO);
    assert!(config.is_some(), "the stored configuration was not loaded:\n{}", qemu.log());
    (qemu, dir)
}

#[test]
fn registers_with_digest_and_sipp_registers_a_burst_of_phones() {
    let (mut qemu, dir) = boot_school();

    // OPTIONS: the box answers as a SIP server on the LAN.
    let mut phone = Phone::new(101, qemu.sip);
    let opt = phone.options().unwrap_or_else(|| panic!("no answer to OPTIONS:\n{}", qemu.log()));
    assert_eq!(opt.status, 200, "{}", opt.text);

    // A new registration is challenged, a wrong password refused, the right one bound.
    let challenge = phone.register(300).expect("an answer to REGISTER");
    assert_eq!(challenge.status, 401, "{}", challenge.text);
    let www = challenge.header("WWW-Authenticate", |_| true).expect("a challenge");
    assert_eq!(param(&www, "realm").as_deref(), Some(REALM), "{www}");
    let wrong = phone.register_with(&challenge, "not-the-password", 300).expect("an answer");
    assert_eq!(wrong.status, 403, "{}", wrong.text);
    let challenge = phone.register(300).expect("an answer to REGISTER");
    assert_eq!(challenge.status, 401, "{}", challenge.text);
    let ok = phone.register_with(&challenge, &password(101), 300).expect("an answer");
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert!(ok.text.contains("expires=300"), "the 200 lists the binding:\n{}", ok.text);

    // An extension the school does not have is refused.
    let mut stranger = Phone::new(999, qemu.sip);
    let refused = stranger.register(300).expect("an answer");
    assert_eq!(refused.status, 404, "{}", refused.text);

    // SIPp, a real user agent, registers a burst of the school's phones, each with its own
    // password.
    let csv = dir.join("phones.csv");
    let mut rows = String::from("SEQUENTIAL\n");
    for n in 110..110 + SIPP_PHONES {
        rows.push_str(&format!("{n};[authentication username={n} password={}]\n", password(n)));
    }
    std::fs::write(&csv, rows).unwrap();
    let scenario = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sipp/register.xml");
    let sipp_port = free_udp_port();
    let mut sipp = Command::new("sipp")
        .arg(qemu.sip.to_string())
        .arg("-sf")
        .arg(&scenario)
        .arg("-inf")
        .arg(&csv)
        .args(["-i", "127.0.0.1", "-p", &sipp_port.to_string()])
        .args(["-m", &SIPP_PHONES.to_string(), "-r", "10", "-l", "8"])
        .args(["-timeout", "60s", "-timeout_error", "-nostdin", "-trace_err", "-error_file"])
        .arg(dir.join("sipp-errors.log"))
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp runs (apt-get install sip-tester)");
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let code = loop {
        if let Some(st) = sipp.try_wait().unwrap() {
            break st.code().unwrap_or(-1);
        }
        if std::time::Instant::now() > deadline {
            let _ = sipp.kill();
            let _ = sipp.wait();
            break -9;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let errors = std::fs::read_to_string(dir.join("sipp-errors.log")).unwrap_or_default();
    assert_eq!(code, 0, "SIPp did not register all {SIPP_PHONES} phones (exit {code}):\n{errors}\n{}", qemu.log());

    // The board's own account after the load: its next stack report.
    let from = qemu.line_count();
    let report = qemu.wait_line("stack high-water mark", from, Duration::from_secs(10));
    let report = report.unwrap_or_else(|| panic!("no stack report:\n{}", qemu.log()));
    println!("mps2-an386 with {PHONES} phones configured, after {} registrations: {report}", SIPP_PHONES + 1);
    let _ = std::fs::remove_dir_all(&dir);
}
