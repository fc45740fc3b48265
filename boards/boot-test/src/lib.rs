//! The pieces of the emulated board's boot test: a school configuration written into the
//! board's flash-like STORE region the way a provisioning tool would, QEMU started and ended by
//! PID with its log captured, and a minimal SIP phone on a real UDP socket that computes its
//! digest answers itself (RFC 2617 / RFC 7616 with MD5), independently of the box's code.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use carillon_firmware::mcu::gateway::{encode_image, SiteConfig, CONFIG_IMAGE_LEN};
use carillon_protocol::control::{bounded, DialPlan, Extension, HexDigest};
use carillon_protocol::digest::{ha1, Algorithm};
use md5::{Digest, Md5};

/// The realm the school's credentials are made for.
pub const REALM: &str = "school.example";
/// Where the board's STORE region starts (`boards/mps2-an386/memory.x`); the configuration
/// slots are its first bytes.
pub const STORE_ADDR: u32 = 0x0030_0000;
/// The STORE region's write unit (`RamFlash<4, 4096>` in the board).
pub const STORE_WRITE: usize = 4;
/// Where the board reads the box's identity: after the configuration slots (256 KiB) and the
/// journal (256 KiB) in STORE (`IDENTITY_AT` in the board's `main.rs`).
pub const IDENTITY_ADDR: u32 = STORE_ADDR + 512 * 1024;

/// The password of extension `n` in the test school.
pub fn password(n: u32) -> String {
    format!("pw{n}-secret")
}

/// Extension `n` with its HA1 values, as the cloud sends it.
pub fn extension(n: u32) -> Extension {
    let user = n.to_string();
    let pw = password(n);
    let md5 = ha1(Algorithm::Md5, user.as_bytes(), REALM.as_bytes(), pw.as_bytes());
    let sha = ha1(Algorithm::Sha256, user.as_bytes(), REALM.as_bytes(), pw.as_bytes());
    Extension {
        number: bounded(&user).unwrap(),
        username: bounded(&user).unwrap(),
        realm: bounded(REALM).unwrap(),
        ha1_md5: HexDigest::from_hex(md5.as_str()).unwrap(),
        ha1_sha256: HexDigest::from_hex(sha.as_str()).unwrap(),
        display_name: bounded(&format!("Room {n}")).unwrap(),
    }
}

/// A school of `phones` extensions numbered from 100.
pub fn school(phones: u32) -> SiteConfig {
    let mut c = SiteConfig {
        version: 7,
        site_code: bounded("4711").unwrap(),
        dial_plan: DialPlan {
            extension_len: 3,
            on_net_prefix: bounded("8").unwrap(),
            outside_line_prefix: bounded("0").unwrap(),
        },
        emergency_numbers: heapless::Vec::new(),
        fallback_trunk: None,
        extensions: heapless::Vec::new(),
        ring_groups: heapless::Vec::new(),
    };
    for n in 100..100 + phones {
        c.extensions.push(extension(n)).expect("within the protocol's capacity");
    }
    c
}

/// The bytes to load at [`STORE_ADDR`]: configuration slot A holding `config`.
pub fn store_image(config: &SiteConfig) -> Vec<u8> {
    let mut image = vec![0u8; CONFIG_IMAGE_LEN];
    let n = encode_image(config, &mut image).expect("the configuration fits its image");
    let mut slot = vec![0u8; n + 64];
    let used = carillon_embassy::flash::encode_slot(1, &image[..n], STORE_WRITE, &mut slot).expect("slot fits");
    slot.truncate(used);
    slot
}

/// The bytes to load at [`IDENTITY_ADDR`]: the identity blob (`carillon_embassy::identity`),
/// as an installation tool writes it.
pub fn identity_image(id: &carillon_embassy::identity::Identity) -> Vec<u8> {
    let mut blob = vec![0u8; carillon_embassy::identity::MAX_IDENTITY_LEN];
    let n = id.encode(&mut blob).expect("the identity fits its blob");
    blob.truncate(n);
    blob
}

/// SIPp (a real user agent) registers `phones` (extension, password) at `target` with the
/// scenario `sipp/register.xml`, at 10 a second, 8 at a time, within 90 s; its exit code
/// (0: every phone got its 200) and its error log.
pub fn sipp_register(target: SocketAddr, phones: &[(u32, String)], dir: &Path) -> (i32, String) {
    let csv = dir.join("phones.csv");
    let mut rows = String::from("SEQUENTIAL\n");
    for (n, pw) in phones {
        rows.push_str(&format!("{n};[authentication username={n} password={pw}]\n"));
    }
    std::fs::write(&csv, rows).unwrap();
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("sipp/register.xml");
    let errors = dir.join("sipp-errors.log");
    let mut sipp = Command::new("sipp")
        .arg(target.to_string())
        .arg("-sf")
        .arg(&scenario)
        .arg("-inf")
        .arg(&csv)
        .args(["-i", "127.0.0.1", "-p", &free_udp_port().to_string()])
        .args(["-m", &phones.len().to_string(), "-r", "10", "-l", "8"])
        .args(["-timeout", "60s", "-timeout_error", "-nostdin", "-trace_err", "-error_file"])
        .arg(&errors)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp runs (apt-get install sip-tester)");
    let deadline = Instant::now() + Duration::from_secs(90);
    let code = loop {
        if let Some(st) = sipp.try_wait().unwrap() {
            break st.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = sipp.kill();
            let _ = sipp.wait();
            break -9;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (code, std::fs::read_to_string(&errors).unwrap_or_default())
}

/// A fresh directory under the system's temporary directory.
pub fn tempdir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let dir = std::env::temp_dir().join(format!("carillon-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A UDP port on 127.0.0.1 that was free a moment ago (the OS picks it).
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The board image the test boots: `CARILLON_MPS2_ELF`, or the release build in the boards'
/// target directory.
pub fn board_elf() -> PathBuf {
    match std::env::var_os("CARILLON_MPS2_ELF") {
        Some(p) => PathBuf::from(p),
        None => {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/thumbv7em-none-eabihf/release/carillon-mps2-an386")
        }
    }
}

/// One QEMU process running the board, with user networking: the box's SIP port 5060 is
/// forwarded from `sip` on 127.0.0.1. Ended by its PID when dropped.
pub struct Qemu {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    /// The box's SIP address as the host reaches it.
    pub sip: SocketAddr,
}

impl Qemu {
    /// Boots `elf` with `store` (if any) loaded at [`STORE_ADDR`] before reset. The forwarded
    /// port is one the OS just handed out; should another process take it before QEMU binds
    /// it, QEMU exits at once and the boot is tried again on another port (three times).
    pub fn boot(elf: &Path, store: Option<&Path>) -> Qemu {
        let loads: Vec<(PathBuf, u32)> = store.iter().map(|s| (s.to_path_buf(), STORE_ADDR)).collect();
        Qemu::boot_with(elf, &loads)
    }

    /// Boots `elf` with each file of `loads` put at its address before reset (a configuration
    /// at [`STORE_ADDR`], an identity at [`IDENTITY_ADDR`]).
    pub fn boot_with(elf: &Path, loads: &[(PathBuf, u32)]) -> Qemu {
        assert!(
            elf.exists(),
            "no board image at {} (build it: cd boards/mps2-an386 && cargo build --release)",
            elf.display()
        );
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut qemu = Qemu::boot_on(elf, loads, free_udp_port());
            // The firmware's first line, or QEMU's exit (a forwarding rule it could not set up).
            let started = qemu.wait_line("on mps2-an386", 0, Duration::from_secs(10)).is_some();
            let refused = !started && qemu.log().contains("host forwarding");
            if !refused || attempt == 3 {
                return qemu;
            }
        }
    }

    fn boot_on(elf: &Path, loads: &[(PathBuf, u32)], port: u16) -> Qemu {
        let mut cmd = Command::new("qemu-system-arm");
        cmd.args(["-machine", "mps2-an386", "-cpu", "cortex-m4", "-display", "none", "-monitor", "none"])
            .args(["-serial", "null", "-semihosting-config", "enable=on,target=native"])
            .args(["-nic", &format!("user,model=lan9118,hostfwd=udp:127.0.0.1:{port}-:5060")])
            .arg("-kernel")
            .arg(elf);
        for (file, addr) in loads {
            cmd.args(["-device", &format!("loader,file={},addr={addr:#x},force-raw=on", file.display())]);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("qemu-system-arm runs (apt-get install qemu-system-arm)");
        let lines = Arc::new(Mutex::new(Vec::new()));
        for out in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            });
        }
        Qemu { child, lines, sip: SocketAddr::from(([127, 0, 0, 1], port)) }
    }

    /// Waits (at most `limit`) for a log line containing `needle` that was not there before
    /// index `from`; returns it. `None` if QEMU exited or the time ran out.
    pub fn wait_line(&mut self, needle: &str, from: usize, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(l) = self.lines.lock().unwrap().iter().skip(from).find(|l| l.contains(needle)) {
                return Some(l.clone());
            }
            if Instant::now() > deadline || matches!(self.child.try_wait(), Ok(Some(_))) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Lines logged so far.
    pub fn line_count(&self) -> usize {
        self.lines.lock().unwrap().len()
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A SIP response as the phone reads it.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub text: String,
}

impl Response {
    /// The value of the first header `name` (case-insensitive) for which `pick` holds.
    pub fn header(&self, name: &str, pick: impl Fn(&str) -> bool) -> Option<String> {
        self.text.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            (n.trim().eq_ignore_ascii_case(name) && pick(v.trim())).then(|| v.trim().to_owned())
        })
    }
}

/// A phone: one UDP socket on 127.0.0.1, talking to the box.
pub struct Phone {
    sock: UdpSocket,
    pub ext: u32,
    to: SocketAddr,
    call_id: String,
    cseq: u32,
}

impl Phone {
    pub fn new(ext: u32, to: SocketAddr) -> Phone {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let call_id = format!("reg-{ext}-{}@boot-test", sock.local_addr().unwrap().port());
        Phone { sock, ext, to, call_id, cseq: 0 }
    }

    fn request(&mut self, method: &str, extra: &str) -> String {
        self.cseq += 1;
        let local = self.sock.local_addr().unwrap();
        let ext = self.ext;
        let host = self.to.ip();
        format!(
            "{method} sip:{host} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK-{ext}-{cseq};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{ext}@{host}>;tag=t{ext}\r\n\
             To: <sip:{ext}@{host}>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} {method}\r\n\
             Contact: <sip:{ext}@{local}>\r\n\
             {extra}\
             Content-Length: 0\r\n\r\n",
            cseq = self.cseq,
            call_id = self.call_id,
        )
    }

    /// Sends `msg` and waits (at most `limit`, resending every 500 ms as RFC 3261 Timer E
    /// does) for the final response with this CSeq.
    fn exchange(&mut self, msg: &str, limit: Duration) -> Option<Response> {
        let deadline = Instant::now() + limit;
        let cseq_line = format!("CSeq: {} ", self.cseq);
        let mut buf = [0u8; 8192];
        while Instant::now() < deadline {
            self.sock.send_to(msg.as_bytes(), self.to).unwrap();
            self.sock.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
            while let Ok((n, _)) = self.sock.recv_from(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
                if text.contains(&cseq_line) && status >= 200 {
                    return Some(Response { status, text });
                }
            }
        }
        None
    }

    /// OPTIONS to the box.
    pub fn options(&mut self) -> Option<Response> {
        let msg = self.request("OPTIONS", "Accept: application/sdp\r\n");
        self.exchange(&msg, Duration::from_secs(5))
    }

    /// REGISTER without credentials (expect a challenge).
    pub fn register(&mut self, expires: u32) -> Option<Response> {
        let msg = self.request("REGISTER", &format!("Expires: {expires}\r\n"));
        self.exchange(&msg, Duration::from_secs(5))
    }

    /// REGISTER answering `challenge` (its MD5 `WWW-Authenticate`) with `password`.
    pub fn register_with(&mut self, challenge: &Response, password: &str, expires: u32) -> Option<Response> {
        let www = challenge
            .header("WWW-Authenticate", |v| !v.to_ascii_uppercase().contains("SHA-256"))
            .expect("a challenge with MD5");
        let realm = param(&www, "realm").expect("realm");
        let nonce = param(&www, "nonce").expect("nonce");
        let uri = format!("sip:{}", self.to.ip());
        let user = self.ext.to_string();
        let ha1 = md5_hex(&format!("{user}:{realm}:{password}"));
        let ha2 = md5_hex(&format!("REGISTER:{uri}"));
        let auth = match param(&www, "qop") {
            Some(q) if q.split(',').any(|q| q.trim() == "auth") => {
                let (nc, cnonce) = ("00000001", "0a4f113b");
                let response = md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
                format!(
                    "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
                     response=\"{response}\", algorithm=MD5, qop=auth, nc={nc}, cnonce=\"{cnonce}\""
                )
            }
            _ => {
                let response = md5_hex(&format!("{ha1}:{nonce}:{ha2}"));
                format!(
                    "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
                     response=\"{response}\", algorithm=MD5"
                )
            }
        };
        let msg = self.request("REGISTER", &format!("Authorization: {auth}\r\nExpires: {expires}\r\n"));
        self.exchange(&msg, Duration::from_secs(5))
    }
}

fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A parameter of a `Digest` challenge (quoted or token).
pub fn param(header: &str, name: &str) -> Option<String> {
    let rest = header.strip_prefix("Digest").unwrap_or(header);
    rest.split(',').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        (k.trim().eq_ignore_ascii_case(name)).then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// The host as QEMU's user networking shows it to the guest: a phone on 127.0.0.1 that puts
/// this address in its Contact is reachable from the box.
pub const HOST_FROM_GUEST: &str = "10.0.2.2";

/// All values of header `name` in `msg`, in order.
pub fn headers<'a>(msg: &'a str, name: &str) -> Vec<&'a str> {
    msg.split("\r\n\r\n")
        .next()
        .unwrap_or("")
        .lines()
        .skip(1)
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
        .collect()
}

/// A phone that calls and answers: one UDP socket on 127.0.0.1, its Contact at
/// [`HOST_FROM_GUEST`] so that the box can send it requests.
pub struct CallPhone {
    pub sock: UdpSocket,
    pub ext: u32,
    box_addr: SocketAddr,
    cseq: u32,
    seq: u32,
    calls: u32,
}

/// A dialog as the caller holds it after a 2xx.
#[derive(Debug, Clone)]
pub struct Dialog {
    pub call_id: String,
    pub from: String,
    pub to: String,
    pub cseq: u32,
    pub route: Vec<String>,
    /// The callee's Contact: the Request-URI of requests in the dialog (RFC 3261 §12.2.1.1).
    pub target: String,
}

impl CallPhone {
    pub fn new(ext: u32, box_addr: SocketAddr) -> CallPhone {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        CallPhone { sock, ext, box_addr, cseq: 0, seq: 0, calls: 0 }
    }

    fn port(&self) -> u16 {
        self.sock.local_addr().unwrap().port()
    }

    fn contact(&self) -> String {
        format!("<sip:{}@{HOST_FROM_GUEST}:{}>", self.ext, self.port())
    }

    fn via(&mut self) -> String {
        self.seq += 1;
        format!("SIP/2.0/UDP {HOST_FROM_GUEST}:{};branch=z9hG4bK-{}-{};rport", self.port(), self.ext, self.seq)
    }

    fn send(&self, msg: &str) {
        self.sock.send_to(msg.as_bytes(), self.box_addr).unwrap();
    }

    /// The next message (request or response) within `limit`, with its sender.
    pub fn recv(&self, limit: Duration) -> Option<(String, SocketAddr)> {
        let deadline = Instant::now() + limit;
        let mut buf = [0u8; 8192];
        while Instant::now() < deadline {
            self.sock.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
            if let Ok((n, from)) = self.sock.recv_from(&mut buf) {
                return Some((String::from_utf8_lossy(&buf[..n]).into_owned(), from));
            }
        }
        None
    }

    /// The next request of `method` within `limit` (responses and other requests are skipped).
    pub fn recv_request(&self, method: &str, limit: Duration) -> Option<(String, SocketAddr)> {
        let deadline = Instant::now() + limit;
        while let Some((m, from)) = self.recv(deadline.saturating_duration_since(Instant::now())) {
            if m.starts_with(&format!("{method} ")) {
                return Some((m, from));
            }
        }
        None
    }

    /// Registers with digest (REGISTER, 401, REGISTER with credentials); the final status.
    pub fn register(&mut self, password: &str) -> u16 {
        let call_id = format!("reg-{}-{}@boot-test", self.ext, self.port());
        let mut auth = String::new();
        for _ in 0..2 {
            self.cseq += 1;
            let via = self.via();
            let (ext, contact, cseq) = (self.ext, self.contact(), self.cseq);
            let msg = format!(
                "REGISTER sip:{HOST_FROM_GUEST} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n\
                 From: <sip:{ext}@{HOST_FROM_GUEST}>;tag=r{ext}\r\nTo: <sip:{ext}@{HOST_FROM_GUEST}>\r\n\
                 Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\nContact: {contact}\r\n{auth}Expires: 300\r\n\
                 Content-Length: 0\r\n\r\n"
            );
            let Some(resp) = self.final_response(&msg, cseq, "REGISTER") else { return 0 };
            let status = status_of(&resp);
            if status != 401 {
                return status;
            }
            auth = format!(
                "Authorization: {}\r\n",
                digest_answer(&resp, "WWW-Authenticate", ext, password, "REGISTER", &format!("sip:{HOST_FROM_GUEST}"))
            );
        }
        401
    }

    /// Sends `msg` (resending every 500 ms, RFC 3261 Timer A/E) until a final response with
    /// this CSeq arrives, within 8 s.
    fn final_response(&self, msg: &str, cseq: u32, method: &str) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(8);
        let cseq_line = format!("CSeq: {cseq} {method}");
        let mut provisional = false;
        while Instant::now() < deadline {
            if !provisional {
                self.send(msg);
            }
            let until = Instant::now() + Duration::from_millis(500);
            while let Some((m, _)) = self.recv(until.saturating_duration_since(Instant::now())) {
                if m.starts_with("SIP/2.0 ") && m.contains(&cseq_line) {
                    if status_of(&m) >= 200 {
                        return Some(m);
                    }
                    provisional = true;
                }
            }
        }
        None
    }

    /// Calls `callee` (INVITE; a 407 is answered with credentials); the final response and, for
    /// a 2xx, the dialog. The caller ACKs a 2xx with [`ack`](Self::ack).
    pub fn invite(&mut self, callee: u32, password: &str) -> (u16, Option<Dialog>, String) {
        self.calls += 1;
        let call_id = format!("call-{}-{}-{}@boot-test", self.ext, self.port(), self.calls);
        let from = format!("<sip:{}@{HOST_FROM_GUEST}>;tag=c{}-{}", self.ext, self.ext, self.calls);
        let uri = format!("sip:{callee}@{HOST_FROM_GUEST}");
        let sdp = format!(
            "v=0\r\no=- 1 1 IN IP4 {HOST_FROM_GUEST}\r\ns=-\r\nc=IN IP4 {HOST_FROM_GUEST}\r\nt=0 0\r\n\
             m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        );
        let mut auth = String::new();
        for _ in 0..2 {
            self.cseq += 1;
            let via = self.via();
            let (contact, cseq) = (self.contact(), self.cseq);
            let msg = format!(
                "INVITE {uri} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\nFrom: {from}\r\nTo: <{uri}>\r\n\
                 Call-ID: {call_id}\r\nCSeq: {cseq} INVITE\r\nContact: {contact}\r\n{auth}\
                 Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
                sdp.len()
            );
            let Some(resp) = self.final_response(&msg, cseq, "INVITE") else { return (0, None, String::new()) };
            let status = status_of(&resp);
            if status >= 300 {
                // ACK of a non-2xx: same branch, To with the response's tag (RFC 3261 §17.1.1.3).
                let to = headers(&resp, "To").first().map(|s| s.to_string()).unwrap_or_default();
                self.send(&format!(
                    "ACK {uri} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\n\
                     Call-ID: {call_id}\r\nCSeq: {cseq} ACK\r\nContent-Length: 0\r\n\r\n"
                ));
            }
            if status == 407 {
                auth = format!(
                    "Proxy-Authorization: {}\r\n",
                    digest_answer(&resp, "Proxy-Authenticate", self.ext, password, "INVITE", &uri)
                );
                continue;
            }
            if (200..300).contains(&status) {
                let to = headers(&resp, "To").first().map(|s| s.to_string()).unwrap_or_default();
                let mut route: Vec<String> = headers(&resp, "Record-Route").iter().map(|s| s.to_string()).collect();
                route.reverse();
                let target = headers(&resp, "Contact")
                    .first()
                    .map(|c| c.trim_start_matches('<').split('>').next().unwrap_or("").to_owned())
                    .unwrap_or_default();
                let dialog = Dialog { call_id, from, to, cseq, route, target };
                return (status, Some(dialog), resp);
            }
            return (status, None, resp);
        }
        (407, None, String::new())
    }

    fn in_dialog(&mut self, d: &Dialog, method: &str, cseq: u32) -> String {
        let via = self.via();
        let routes: String = d.route.iter().map(|r| format!("Route: {r}\r\n")).collect();
        format!(
            "{method} {} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n{routes}\
             From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n",
            d.target, d.from, d.to, d.call_id
        )
    }

    /// ACK of the 2xx that set up `d`.
    pub fn ack(&mut self, d: &Dialog) {
        let msg = self.in_dialog(d, "ACK", d.cseq);
        self.send(&msg);
    }

    /// BYE in `d`; the final status.
    pub fn bye(&mut self, d: &mut Dialog) -> u16 {
        d.cseq += 1;
        let msg = self.in_dialog(d, "BYE", d.cseq);
        self.final_response(&msg, d.cseq, "BYE").map_or(0, |r| status_of(&r))
    }

    /// Answers `req` (from `to`) with `code`: Via, From, Call-ID, CSeq, Record-Route copied,
    /// To with our tag (RFC 3261 §8.2.6.2).
    pub fn respond(&self, req: &str, to: SocketAddr, code: u16, reason: &str) {
        let mut out = format!("SIP/2.0 {code} {reason}\r\n");
        for v in headers(req, "Via") {
            out.push_str(&format!("Via: {v}\r\n"));
        }
        for r in headers(req, "Record-Route") {
            out.push_str(&format!("Record-Route: {r}\r\n"));
        }
        for h in ["From", "Call-ID", "CSeq"] {
            if let Some(v) = headers(req, h).first() {
                out.push_str(&format!("{h}: {v}\r\n"));
            }
        }
        let to_value = headers(req, "To").first().map(|s| s.to_string()).unwrap_or_default();
        // One tag per call: derived from the Call-ID, so every call is its own dialog.
        let call_tag = headers(req, "Call-ID")
            .first()
            .map_or(0, |c| c.bytes().fold(0u32, |h, b| h.wrapping_mul(31) ^ u32::from(b)));
        let to_value =
            if to_value.contains(";tag=") { to_value } else { format!("{to_value};tag=a{}-{call_tag:08x}", self.ext) };
        out.push_str(&format!("To: {to_value}\r\nContact: {}\r\nContent-Length: 0\r\n\r\n", self.contact()));
        self.sock.send_to(out.as_bytes(), to).unwrap();
    }
}

/// The status code of a response.
pub fn status_of(msg: &str) -> u16 {
    msg.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// An `Authorization`/`Proxy-Authorization` value answering the MD5 challenge in header
/// `challenge_header` of `resp`.
fn digest_answer(resp: &str, challenge_header: &str, ext: u32, password: &str, method: &str, uri: &str) -> String {
    let www = headers(resp, challenge_header)
        .into_iter()
        .find(|v| !v.to_ascii_uppercase().contains("SHA-256"))
        .expect("an MD5 challenge")
        .to_owned();
    let realm = param(&www, "realm").expect("realm");
    let nonce = param(&www, "nonce").expect("nonce");
    let ha1 = md5_hex(&format!("{ext}:{realm}:{password}"));
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    match param(&www, "qop") {
        Some(q) if q.split(',').any(|q| q.trim() == "auth") => {
            let (nc, cnonce) = ("00000001", "5b2c9e1d");
            let response = md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
            format!(
                "Digest username=\"{ext}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
                 response=\"{response}\", algorithm=MD5, qop=auth, nc={nc}, cnonce=\"{cnonce}\""
            )
        }
        _ => {
            let response = md5_hex(&format!("{ha1}:{nonce}:{ha2}"));
            format!(
                "Digest username=\"{ext}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
                 response=\"{response}\", algorithm=MD5"
            )
        }
    }
}
