//! SIPp plays the phones and the carrier against a real switch on 127.0.0.1 (scenarios in
//! `cloud/tests/sipp/`). Each test picks free ports, starts only its own `sipp` processes,
//! bounds every wait, and kills what is still running by PID. Without `sipp` on the PATH the
//! tests say so and pass as skipped; CI installs it (`apt-get install -y sip-tester`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use carillon_cloud::model::{Outcome, RecordFilter};
use carillon_cloud::rating::DestinationClass;
use carillon_cloud::sip::TrunkConfig;

use super::common::{wait_for_records, wait_until, SETTLE};
use super::sip_util::{Account, Rig};

fn sipp_available() -> bool {
    let ok = Command::new("sipp").arg("-v").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    if !ok {
        eprintln!("SKIPPED: sipp is not installed (apt-get install -y sip-tester)");
    }
    ok
}

fn scenario(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sipp").join(name)
}

/// A free UDP port on 127.0.0.1 (bound, read, released).
fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A media base port for one SIPp. SIPp binds its RTP sockets there and just above (audio at
/// the port, video two above, and their RTCP neighbours), so all four must be free; a port from
/// `free_port` only vouches for the first, and a neighbour taken meanwhile made SIPp exit with
/// "Unable to bind video RTP socket ... errno = 98". These come from below the kernel's
/// ephemeral range (32768 and up), so no socket bound to port 0 elsewhere can land on them, from
/// a per-process counter, so two SIPps of this process never share them.
fn media_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const SLOTS: u32 = 3_000; // 20000..32000, four ports each
    static NEXT: AtomicU32 = AtomicU32::new(0);
    for _ in 0..SLOTS {
        let slot = (std::process::id() + NEXT.fetch_add(1, Ordering::Relaxed)) % SLOTS;
        let base = u16::try_from(20_000 + slot * 4).unwrap();
        if (base..base + 4).all(|p| std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok()) {
            return base;
        }
    }
    panic!("no four free UDP ports for SIPp's media in 20000..32000");
}

/// One sipp process of this test.
struct Sipp {
    child: Child,
    name: String,
    dir: PathBuf,
}

impl Sipp {
    /// `sipp [server] -sf scenario -i 127.0.0.1 -p port -m 1 ...extra`.
    fn start(
        name: &str,
        scenario_file: &std::path::Path,
        server: Option<SocketAddr>,
        port: u16,
        extra: &[&str],
    ) -> Sipp {
        let dir = std::env::temp_dir().join(format!("carillon-sipp-{}-{name}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = Command::new("sipp");
        if let Some(s) = server {
            cmd.arg(s.to_string());
        }
        cmd.arg("-sf")
            .arg(scenario_file)
            .args([
                "-i",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-m",
                "1",
                "-timeout",
                "30s",
                "-timeout_error",
                "-nostdin",
            ])
            .args(["-mp", &media_port().to_string(), "-trace_err", "-error_file"])
            .arg(dir.join("errors.log"))
            .args(extra)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().expect("spawn sipp");
        Sipp { child, name: name.to_owned(), dir }
    }

    /// Waits (at most `limit`) for the exit; kills by PID on timeout. Returns the exit code.
    async fn wait(mut self, limit: Duration) -> i32 {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                let code = st.code().unwrap_or(-1);
                if code != 0 {
                    let log = std::fs::read_to_string(self.dir.join("errors.log")).unwrap_or_default();
                    eprintln!("sipp {} exited {code}:\n{log}", self.name);
                }
                return code;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                eprintln!("sipp {} killed after {limit:?}", self.name);
                return -9;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn auth_args(acc: &Account) -> Vec<String> {
    vec!["-au".into(), acc.username.clone(), "-ap".into(), acc.password.clone()]
}

/// Registers `acc` from `port` with SIPp; asserts success.
async fn sipp_register(rig: &Rig, acc: &Account, port: u16) {
    let mut args = auth_args(acc);
    args.extend(["-s".into(), acc.username.clone()]);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let code = Sipp::start("register", &scenario("register.xml"), Some(rig.sip.udp_addr()), port, &a)
        .wait(Duration::from_secs(20))
        .await;
    assert_eq!(code, 0, "registration of {} failed", acc.username);
}

/// A call from `acc` to `dialled` with `uac_call.xml` (or refused with `code`).
fn sipp_call(rig: &Rig, acc: &Account, dialled: &str, refused: Option<u16>) -> Sipp {
    let mut args = auth_args(acc);
    args.extend(["-s".into(), dialled.to_owned()]);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let file = match refused {
        None => scenario("uac_call.xml"),
        Some(code) => {
            let text =
                std::fs::read_to_string(scenario("uac_refused.xml")).unwrap().replace("@CODE@", &code.to_string());
            let path = std::env::temp_dir().join(format!("carillon-uac-{code}-{}.xml", std::process::id()));
            std::fs::write(&path, text).unwrap();
            path
        }
    };
    Sipp::start("caller", &file, Some(rig.sip.udp_addr()), free_port(), &a)
}

/// The call records, once (bounded) at least `n` are written: the switch writes them from the
/// call's task, after the answers SIPp has already seen.
async fn records(rig: &Rig, n: usize) -> Vec<carillon_cloud::model::CallRecord> {
    wait_for_records(&rig.store, &RecordFilter::default(), n, SETTLE).await.records
}

/// Whether something has bound UDP `port` on 127.0.0.1, read from `/proc/net/udp` (looking,
/// not binding: a probe bind could take the port from under a SIPp just starting).
fn udp_port_bound(port: u16) -> bool {
    let local = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/udp")
        .map(|t| t.lines().skip(1).any(|l| l.split_whitespace().nth(1) == Some(local.as_str())))
        .unwrap_or(false)
}

/// Waits (bounded) until a SIPp started on `port` listens there, so that the switch's first
/// request to it is not lost to an unbound port.
async fn listening(name: &str, port: u16) {
    if std::path::Path::new("/proc/net/udp").exists() {
        wait_until(
            &format!("sipp {name} listening on 127.0.0.1:{port}"),
            SETTLE,
            || async move { udp_port_bound(port) },
        )
        .await;
    } else {
        // Without /proc there is nothing to look at: give it a fixed moment, as before.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn sipp_registers_with_digest() {
    if !sipp_available() {
        return;
    }
    let rig = Rig::new(|_| {}).await;
    let acc = rig.account("201");
    sipp_register(&rig, &acc, free_port()).await;
    assert_eq!(rig.sip.location().lookup(&acc.username, super::common::NOW).len(), 1);
    rig.sip.shutdown();
}

#[tokio::test]
async fn sipp_call_between_two_extensions_of_a_school() {
    if !sipp_available() {
        return;
    }
    let rig = Rig::new(|_| {}).await;
    let port = free_port();
    sipp_register(&rig, &rig.account("202"), port).await;
    let callee = Sipp::start("callee", &scenario("uas_answer.xml"), None, port, &[]);
    listening("callee", port).await;
    let caller = sipp_call(&rig, &rig.account("201"), "202", None);
    assert_eq!(caller.wait(Duration::from_secs(30)).await, 0, "caller");
    assert_eq!(callee.wait(Duration::from_secs(10)).await, 0, "callee");
    let recs = records(&rig, 1).await;
    assert_eq!(recs.len(), 1);
    assert_eq!(
        (recs[0].outcome, recs[0].class, recs[0].caller.as_str(), recs[0].callee.as_str()),
        (Outcome::Answered, DestinationClass::OnNet, "201", "202")
    );
    rig.sip.shutdown();
}

#[tokio::test]
async fn sipp_unregistered_extension_480_and_unknown_number_404() {
    if !sipp_available() {
        return;
    }
    let rig = Rig::new(|_| {}).await;
    let acc = rig.account("201");
    assert_eq!(sipp_call(&rig, &acc, "203", Some(480)).wait(Duration::from_secs(20)).await, 0, "480");
    assert_eq!(sipp_call(&rig, &acc, "999", Some(404)).wait(Duration::from_secs(20)).await, 0, "404");
    let recs = records(&rig, 2).await;
    assert_eq!(recs.iter().map(|r| r.outcome).collect::<Vec<_>>(), vec![Outcome::Failed, Outcome::Failed]);
    rig.sip.shutdown();
}

fn trunk(port: u16) -> TrunkConfig {
    let mut t: TrunkConfig = toml::from_str(&format!(
        "address = \"127.0.0.1:{port}\"\nusername = \"carillon-trunk\"\npassword = \"trunk-secret\"\n"
    ))
    .unwrap();
    t.domain = Some("carrier.example".into());
    t
}

#[tokio::test]
async fn sipp_outbound_call_to_the_carrier_answers_its_407() {
    if !sipp_available() {
        return;
    }
    let carrier_port = free_port();
    let rig = Rig::new(|c| c.trunk = Some(trunk(carrier_port))).await;
    // 407 (Proxy-Authorization checked by pattern), then 401 (digest verified by SIPp).
    for file in ["carrier_challenge.xml", "carrier_challenge_401.xml"] {
        let carrier = Sipp::start("carrier", &scenario(file), None, carrier_port, &[]);
        listening("carrier", carrier_port).await;
        let caller = sipp_call(&rig, &rig.account("201"), "021234567", None);
        assert_eq!(caller.wait(Duration::from_secs(30)).await, 0, "caller ({file})");
        assert_eq!(carrier.wait(Duration::from_secs(10)).await, 0, "carrier ({file})");
    }
    let recs = records(&rig, 2).await;
    assert_eq!(recs.len(), 2);
    assert!(recs.iter().all(|r| (r.outcome, r.class) == (Outcome::Answered, DestinationClass::NationalFixed)));
    rig.sip.shutdown();
}

#[tokio::test]
async fn sipp_inbound_did_rings_the_group_first_answer_wins() {
    if !sipp_available() {
        return;
    }
    let carrier_port = free_port();
    let rig = Rig::new(|c| c.trunk = Some(trunk(carrier_port))).await;
    let (p2, p3) = (free_port(), free_port());
    sipp_register(&rig, &rig.account("202"), p2).await;
    sipp_register(&rig, &rig.account("203"), p3).await;
    let answers = Sipp::start("member-202", &scenario("uas_answer.xml"), None, p2, &[]);
    let rings = Sipp::start("member-203", &scenario("uas_ring_cancel.xml"), None, p3, &[]);
    listening("member-202", p2).await;
    listening("member-203", p3).await;
    let carrier = Sipp::start(
        "carrier",
        &scenario("carrier_call.xml"),
        Some(rig.sip.udp_addr()),
        carrier_port,
        &["-s", "021234567"],
    );
    assert_eq!(carrier.wait(Duration::from_secs(30)).await, 0, "carrier");
    assert_eq!(answers.wait(Duration::from_secs(10)).await, 0, "answering member");
    assert_eq!(rings.wait(Duration::from_secs(10)).await, 0, "cancelled member");
    let recs = records(&rig, 1).await;
    assert_eq!(recs.len(), 1);
    assert_eq!(
        (recs[0].outcome, recs[0].class, recs[0].callee.as_str()),
        (Outcome::Answered, DestinationClass::Inbound, "+3221234567")
    );
    rig.sip.shutdown();
}
