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

use carillon_firmware::gateway::{encode_image, SiteConfig, CONFIG_IMAGE_LEN};
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
    /// Boots `elf` with `store` (if any) loaded at [`STORE_ADDR`] before reset.
    pub fn boot(elf: &Path, store: Option<&Path>) -> Qemu {
        assert!(
            elf.exists(),
            "no board image at {} (build it: cd boards/mps2-an386 && cargo build --release)",
            elf.display()
        );
        let port = free_udp_port();
        let mut cmd = Command::new("qemu-system-arm");
        cmd.args(["-machine", "mps2-an386", "-cpu", "cortex-m4", "-display", "none", "-monitor", "none"])
            .args(["-serial", "null", "-semihosting-config", "enable=on,target=native"])
            .args(["-nic", &format!("user,model=lan9118,hostfwd=udp:127.0.0.1:{port}-:5060")])
            .arg("-kernel")
            .arg(elf);
        if let Some(s) = store {
            cmd.args(["-device", &format!("loader,file={},addr={STORE_ADDR:#x},force-raw=on", s.display())]);
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
