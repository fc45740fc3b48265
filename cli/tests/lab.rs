//! `carillon lab`, from the outside: the real binary starts the cloud and a box, prints the
//! ready block; a phone (a tiny UDP SIP client here) registers through the box's LAN port with
//! the printed credentials and gets 200 OK; SIGTERM stops it cleanly; a second run on the same
//! directory shows the same credentials and the phone registers again.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use carillon_protocol::digest::{ha1, response, Algorithm};

/// The ready block may take a while in a debug build on a busy machine; the lab's own limit for
/// the box is 20 s.
const READY_WITHIN: Duration = Duration::from_secs(60);
const EXIT_WITHIN: Duration = Duration::from_secs(20);

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("carillon-lab-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// What the ready block says.
#[derive(Debug, PartialEq, Eq)]
struct Ready {
    server: SocketAddr,
    realm: String,
    /// (number, username, password)
    accounts: Vec<(String, String, String)>,
    operator_token: String,
}

fn parse_ready(lines: &[String]) -> Ready {
    let after = |line: &str, key: &str| line.split(key).nth(1).map(|s| s.trim().to_owned());
    let mut server = None;
    let mut realm = None;
    let mut accounts = Vec::new();
    let mut operator_token = None;
    for l in lines {
        if let Some(v) = after(l, "outbound proxy:") {
            server = Some(v.trim_end_matches("(UDP)").trim().parse().expect("server address"));
        } else if let Some(v) = after(l, "domain / realm:") {
            realm = Some(v);
        } else if l.trim_start().starts_with("extension ") {
            let w: Vec<&str> = l.split_whitespace().collect();
            assert_eq!((w.len(), w[2], w[4]), (6, "username", "password"), "{l}");
            accounts.push((w[1].to_owned(), w[3].to_owned(), w[5].to_owned()));
        } else if let Some(v) = after(l, "operator token") {
            operator_token = Some(v);
        }
    }
    Ready {
        server: server.expect("server line"),
        realm: realm.expect("realm line"),
        accounts,
        operator_token: operator_token.expect("operator token"),
    }
}

/// `carillon lab` running, killed by PID if the test ends early.
struct Lab {
    child: Child,
    stderr: PathBuf,
}

impl Lab {
    /// Starts the binary and waits (bounded) for the ready block.
    fn start(dir: &Path, lan_port: u16, run: u32) -> (Lab, Ready) {
        let stderr = dir.with_extension(format!("stderr-{run}"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_carillon"))
            .args(["lab", "--free-ports", "--lan-port", &lan_port.to_string(), "--dir"])
            .arg(dir)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("spawn carillon lab");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        // Reads every line (also after the block, so the child never blocks on a full pipe).
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    // The test is done with the block; keep draining.
                }
            }
        });
        let mut lab = Lab { child, stderr };
        let deadline = Instant::now() + READY_WITHIN;
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left.max(Duration::from_millis(1))) {
                Ok(line) => {
                    let done = line.contains("Ctrl-C stops everything");
                    lines.push(line);
                    if done {
                        break;
                    }
                }
                Err(_) => {
                    let status = lab.child.try_wait().ok().flatten();
                    panic!(
                        "no ready block within {READY_WITHIN:?} (exit: {status:?})\nstdout:\n{}\nstderr:\n{}\nlab.log:\n{}",
                        lines.join("\n"),
                        lab.stderr_text(),
                        std::fs::read_to_string(dir.join("lab.log")).unwrap_or_default()
                    );
                }
            }
        }
        assert!(lines.iter().any(|l| l.contains("carillon lab is ready")), "{lines:?}");
        (lab, parse_ready(&lines))
    }

    fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// SIGTERM by PID, then the exit code within [`EXIT_WITHIN`].
    fn terminate(&mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        assert!(sent.success());
        let deadline = Instant::now() + EXIT_WITHIN;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A quoted or bare parameter of a `WWW-Authenticate` header.
fn param(header: &str, name: &str) -> Option<String> {
    let lower = header.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(&format!("{name}=")) {
        let at = from + i;
        let before = lower[..at].chars().last();
        if matches!(before, Some(' ' | ',' | '\t')) {
            let rest = &header[at + name.len() + 1..];
            return Some(if let Some(q) = rest.strip_prefix('"') {
                q.split('"').next().unwrap_or("").to_owned()
            } else {
                rest.split([',', ' ', '\r']).next().unwrap_or("").to_owned()
            });
        }
        from = at + 1;
    }
    None
}

fn status_of(msg: &str) -> u16 {
    msg.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// Sends `req` and waits for a final response to it (retransmitting, bounded).
fn transact(sock: &UdpSocket, server: SocketAddr, req: &str, branch: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut buf = vec![0u8; 65535];
    sock.send_to(req.as_bytes(), server).expect("send");
    let mut next_send = Instant::now() + Duration::from_millis(500);
    loop {
        assert!(Instant::now() < deadline, "no final response to:\n{req}");
        sock.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            if msg.contains(branch) && status_of(&msg) >= 200 {
                return msg;
            }
        }
        if Instant::now() >= next_send {
            sock.send_to(req.as_bytes(), server).expect("resend");
            next_send = Instant::now() + Duration::from_millis(500);
        }
    }
}

/// REGISTER with digest through `server`; the final status.
fn register(server: SocketAddr, realm: &str, user: &str, password: &str) -> u16 {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("phone socket");
    let local = sock.local_addr().expect("addr");
    let uri = format!("sip:{realm}");
    let call_id = format!("lab-test-{}-{}", std::process::id(), local.port());
    let build = |cseq: u32, auth: Option<String>| {
        let branch = format!("z9hG4bK-lab-{}-{cseq}", local.port());
        let auth = auth.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
        let req = format!(
            "REGISTER {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\nMax-Forwards: 70\r\n\
             From: <sip:{user}@{realm}>;tag=t{cseq}\r\nTo: <sip:{user}@{realm}>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n\
             Contact: <sip:{user}@{local}>\r\nExpires: 600\r\n{auth}Content-Length: 0\r\n\r\n"
        );
        (req, branch)
    };
    let (req, branch) = build(1, None);
    let first = transact(&sock, server, &req, &branch);
    if status_of(&first) != 401 {
        return status_of(&first);
    }
    let challenge = first
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("www-authenticate:"))
        .expect("WWW-Authenticate in the 401")
        .to_owned();
    let realm_c = param(&challenge, "realm").expect("realm");
    let nonce = param(&challenge, "nonce").expect("nonce");
    let opaque = param(&challenge, "opaque");
    let qop_auth = param(&challenge, "qop").is_some_and(|q| q.split(',').any(|x| x.trim() == "auth"));
    let h1 = ha1(Algorithm::Md5, user.as_bytes(), realm_c.as_bytes(), password.as_bytes());
    let mut auth =
        format!("Digest username=\"{user}\", realm=\"{realm_c}\", nonce=\"{nonce}\", uri=\"{uri}\", algorithm=MD5");
    if qop_auth {
        let cnonce = "0a4f113b";
        let r = response(Algorithm::Md5, &h1, nonce.as_bytes(), 1, cnonce.as_bytes(), b"REGISTER", uri.as_bytes());
        auth.push_str(&format!(", qop=auth, nc=00000001, cnonce=\"{cnonce}\", response=\"{}\"", r.as_str()));
    } else {
        let r = carillon_protocol::digest::response_without_qop(
            Algorithm::Md5,
            &h1,
            nonce.as_bytes(),
            b"REGISTER",
            uri.as_bytes(),
        )
        .expect("MD5 without qop");
        auth.push_str(&format!(", response=\"{}\"", r.as_str()));
    }
    if let Some(o) = opaque {
        auth.push_str(&format!(", opaque=\"{o}\""));
    }
    let (req, branch) = build(2, Some(auth));
    status_of(&transact(&sock, server, &req, &branch))
}

#[test]
fn the_lab_runs_a_box_a_phone_registers_through_it_and_a_restart_keeps_the_state() {
    let dir = tempdir("lab");
    let lan_port = free_udp_port();
    let (mut lab, ready) = Lab::start(&dir, lan_port, 1);
    assert_eq!(ready.server, SocketAddr::from(([127, 0, 0, 1], lan_port)));
    let numbers: Vec<&str> = ready.accounts.iter().map(|a| a.0.as_str()).collect();
    assert_eq!(numbers, ["201", "202", "203"]);
    let (_, user, password) = &ready.accounts[0];
    assert_eq!(register(ready.server, &ready.realm, user, password), 200, "REGISTER of 201 through the box");
    assert_eq!(register(ready.server, &ready.realm, user, "wrong-password"), 403, "a wrong password is refused");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("lab.toml")).expect("lab.toml").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the credentials file is private");
    }
    assert_eq!(lab.terminate(), Some(0), "clean exit on SIGTERM; stderr:\n{}", lab.stderr_text());
    assert!(lab.stderr_text().contains("stopped"), "{}", lab.stderr_text());

    // Second run on the same directory: same credentials, the box is already enrolled.
    let lan_port = free_udp_port();
    let (mut lab, again) = Lab::start(&dir, lan_port, 2);
    assert_eq!(
        (&again.accounts, &again.realm, &again.operator_token),
        (&ready.accounts, &ready.realm, &ready.operator_token)
    );
    let (_, user, password) = &again.accounts[1];
    assert_eq!(register(again.server, &again.realm, user, password), 200, "REGISTER of 202 after the restart");
    assert_eq!(lab.terminate(), Some(0), "clean exit on SIGTERM; stderr:\n{}", lab.stderr_text());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs the lab with its LAN port held by `holder` and checks the clear error and exit 1.
fn taken_port_is_refused(name: &str, port: u16, transport: &str) {
    let dir = tempdir(name);
    let mut child = Command::new(env!("CARGO_BIN_EXE_carillon"))
        .args(["lab", "--free-ports", "--lan-port", &port.to_string(), "--dir"])
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn carillon lab");
    let deadline = Instant::now() + EXIT_WITHIN;
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("carillon lab did not stop within {EXIT_WITHIN:?} with its LAN port taken");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{port} ({transport})")) && stderr.contains("--lan-port"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("ready"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_taken_lan_port_is_a_clear_error_and_a_non_zero_exit() {
    let holder = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().expect("addr").port();
    taken_port_is_refused("taken", port, "UDP");
    drop(holder);
}

#[test]
fn a_lan_port_taken_on_tcp_only_is_a_clear_error_too() {
    // The box listens on its LAN port over TCP as well as UDP.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().expect("addr").port();
    taken_port_is_refused("taken-tcp", port, "TCP");
    drop(holder);
}

/// How long the whole tour may take in a debug build on a busy machine (it holds calls up for
/// about 5 s and waits, bounded, for the cloud at every step).
const TOUR_WITHIN: Duration = Duration::from_secs(150);

#[test]
fn the_demo_tour_calls_survives_the_wan_cut_recovers_and_bills() {
    let dir = tempdir("demo");
    let lan_port = free_udp_port();
    let stderr = dir.with_extension("stderr-demo");
    let mut child = Command::new(env!("CARGO_BIN_EXE_carillon"))
        .args(["lab", "--demo", "--free-ports", "--lan-port", &lan_port.to_string(), "--dir"])
        .arg(&dir)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr).expect("stderr file"))
        .spawn()
        .expect("spawn carillon lab --demo");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let mut lab = Lab { child, stderr };
    let deadline = Instant::now() + TOUR_WITHIN;
    let mut lines: Vec<String> = Vec::new();
    let outcome = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left.max(Duration::from_millis(1))) {
            Ok(line) => {
                let done = line == "tour complete" || line.starts_with("tour FAILED");
                lines.push(line);
                if done {
                    break lines.last().cloned().unwrap_or_default();
                }
            }
            Err(_) => break String::from("(no end of the tour)"),
        }
    };
    let text = lines.join("\n");
    let context = || {
        format!(
            "stdout:\n{text}\nstderr:\n{}\nlab.log (tail):\n{}",
            lab.stderr_text(),
            std::fs::read_to_string(dir.join("lab.log"))
                .unwrap_or_default()
                .lines()
                .rev()
                .take(40)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n")
        )
    };
    assert_eq!(outcome, "tour complete", "{}", context());
    // Every step's success line, with its figure.
    let ok = |step: &str| lines.iter().find(|l| l.starts_with(&format!("  ok   {step}: "))).cloned();
    for step in [
        "phones register through the box",
        "call 202 -> 203 online (through the cloud)",
        "WAN cut: the cloud sees the box go",
        "call 202 -> 203 in survival (box alone)",
        "WAN restored: box online again",
        "WAN restored: cloud reaches the phones again",
        "call 203 -> 202 online again (through the cloud)",
        "outage call record in the cloud, once, rated",
        "the school's monthly statement",
    ] {
        let line = ok(step).unwrap_or_else(|| panic!("no success line for {step:?}\n{}", context()));
        assert!(line.contains(" ms"), "a measured figure in {line:?}");
    }
    // The calls went through the challenge and were answered, online and in survival.
    for step in ["call 202 -> 203 online", "call 202 -> 203 in survival", "call 203 -> 202 online again"] {
        let line = lines.iter().find(|l| l.contains(step)).cloned().unwrap_or_default();
        assert!(line.contains(", 200]") && line.contains("BYE 200"), "{line}");
    }
    // The survival call was placed about 1 s after the cut (not after the box came back).
    let survival = ok("call 202 -> 203 in survival (box alone)").unwrap_or_default();
    let placed: u64 = survival
        .split("placed ")
        .nth(1)
        .and_then(|s| s.split(" ms").next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(u64::MAX);
    assert!((1000..2000).contains(&placed), "{survival}");
    // Exactly one record from the box's journal, answered, on-net.
    let record = ok("outage call record in the cloud, once, rated").unwrap_or_default();
    assert!(record.contains("box seq ") && record.contains("answered") && record.contains("class on_net"), "{record}");
    // The cloud held the phones' bindings through the box before the cut.
    assert!(
        lines.iter().filter(|l| l.contains("cloud location: ") && l.contains("via Path <sip:")).count() == 2,
        "{text}"
    );
    assert!(lines.iter().any(|l| l.contains("statement of school")), "{text}");

    // The lab keeps running after the tour, and stops on SIGTERM.
    let keeps = Instant::now() + Duration::from_secs(10);
    while !lines.iter().any(|l| l.contains("The lab keeps running")) && Instant::now() < keeps {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            lines.push(l);
        }
    }
    assert!(lines.iter().any(|l| l.contains("The lab keeps running")), "{}", context());
    assert_eq!(lab.child.try_wait().ok().flatten(), None, "the lab still runs after the tour");
    assert_eq!(lab.terminate(), Some(0), "clean exit on SIGTERM; stderr:\n{}", lab.stderr_text());
    let _ = std::fs::remove_dir_all(&dir);
}
