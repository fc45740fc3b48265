//! Harness: the box binary as a child, a test cloud (the real SIP server of `carillon-cloud`
//! with TLS), a TCP relay between them that the test can cut, and SIPp phones.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use carillon_cloud::model::{NewExtension, NewSite, SiteKind};
use carillon_cloud::sip::{SipConfig, SipServer, SystemClock, TlsConfig};
use carillon_cloud::{Store, StoreOptions};
use carillon_firmware::gateway::{encode_image, SiteConfig, CONFIG_IMAGE_LEN};
use carillon_protocol::control::{bounded, DialPlan, Extension, HexDigest};
use carillon_protocol::digest::Algorithm;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub const BOX_HOST: &str = "box7.school.example";

pub fn box_bin() -> &'static str {
    env!("CARGO_BIN_EXE_carillon-box")
}

pub fn tempdir(name: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("carillon-box-it-{}-{name}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A free port on 127.0.0.1 (bound, read, released).
pub fn free_port() -> u16 {
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

/// A LAN address for the box: a port free for UDP and TCP both (the box listens on both).
pub fn free_lan() -> SocketAddr {
    for _ in 0..100 {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = udp.local_addr().unwrap();
        if std::net::TcpListener::bind(addr).is_ok() {
            return addr;
        }
    }
    panic!("no port free for both UDP and TCP on 127.0.0.1");
}

pub fn free_tcp() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// A box configuration; `pinned` is the cloud's certificate (plain TCP without it).
pub fn box_toml(state: &Path, lan: SocketAddr, sip: SocketAddr, control: SocketAddr, pinned: Option<&Path>) -> String {
    let tls = match pinned {
        Some(p) => format!("pinned_cert = \"{}\"", p.display()),
        None => "insecure_plain_tcp = true".to_owned(),
    };
    format!(
        "state_dir = \"{}\"\nlog_level = \"info\"\n\n[identity]\nhost = \"{BOX_HOST}\"\nenrollment_token = \"tok-123\"\n\n\
         [lan]\nlisten = \"{lan}\"\n\n[cloud]\nsip = \"{sip}\"\ncontrol = \"{control}\"\nserver_name = \"cloud.test\"\n\
         detect_within_ms = 2000\n\n[tls]\n{tls}\n",
        state.display()
    )
}

/// The box binary, running; stderr goes to a log file the test reads.
pub struct BoxProc {
    pub child: Child,
    pub log: PathBuf,
}

impl BoxProc {
    pub fn start(dir: &Path, toml: &str, run: u32) -> BoxProc {
        let cfg = dir.join("box.toml");
        std::fs::write(&cfg, toml).unwrap();
        let log = dir.join(format!("box-{run}.log"));
        let child = Command::new(box_bin())
            .arg("--config")
            .arg(&cfg)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        BoxProc { child, log }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (bounded) until the log contains `needle` `count` times.
    pub async fn wait_log(&self, needle: &str, count: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let text = self.log_text();
            if text.matches(needle).count() >= count {
                return;
            }
            if Instant::now() > deadline {
                panic!("box log has no {count}× {needle:?} after {limit:?}:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL, by PID.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM by PID, then the exit status within `limit`.
    pub async fn terminate(&mut self, limit: Duration) -> Option<i32> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            if Instant::now() > deadline {
                self.kill9();
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for BoxProc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill9();
        }
    }
}

/// One extension of the test school.
#[derive(Clone, Debug)]
pub struct Account {
    pub number: String,
    pub password: String,
}

/// The real cloud SIP server with TLS, and its store with school 1234 (extensions 201, 202,
/// SIP usernames equal to the numbers).
pub struct TestCloud {
    pub store: Store,
    pub site_id: i64,
    pub sip: SipServer,
    pub cert: PathBuf,
    pub accounts: Vec<Account>,
}

impl TestCloud {
    pub async fn start(dir: &Path) -> TestCloud {
        let store = Store::connect("sqlite::memory:", StoreOptions::default()).await.unwrap();
        let now = 1_741_608_000;
        let body = store.create_body("Board", now).await.unwrap();
        let site = store
            .create_site(
                body.id,
                &NewSite { body_id: None, name: "School A".into(), code: "1234".into(), kind: SiteKind::School },
                now,
            )
            .await
            .unwrap();
        let mut accounts = Vec::new();
        for n in ["201", "202"] {
            let c = store
                .create_extension(
                    site.id,
                    &NewExtension { number: n.into(), sip_username: Some(n.into()), display_name: format!("Room {n}") },
                    now,
                )
                .await
                .unwrap();
            accounts.push(Account { number: n.into(), password: c.sip_password });
        }
        let key = rcgen::generate_simple_self_signed(vec!["cloud.test".to_owned()]).unwrap();
        let cert = dir.join("cloud.pem");
        let keyfile = dir.join("cloud.key");
        std::fs::write(&cert, key.cert.pem()).unwrap();
        std::fs::write(&keyfile, key.key_pair.serialize_pem()).unwrap();
        let cfg = SipConfig {
            udp: "127.0.0.1:0".parse().unwrap(),
            tcp: Some("127.0.0.1:0".parse().unwrap()),
            tls: Some(TlsConfig { listen: "127.0.0.1:0".parse().unwrap(), cert: cert.clone(), key: keyfile }),
            host: Some("cloud.test".into()),
            ..SipConfig::default()
        };
        let sip = SipServer::start(store.clone(), cfg, Arc::new(SystemClock)).await.unwrap();
        TestCloud { store, site_id: site.id, sip, cert, accounts }
    }

    pub fn account(&self, number: &str) -> Account {
        self.accounts.iter().find(|a| a.number == number).cloned().unwrap()
    }

    pub fn realm(&self) -> String {
        self.store.options().realm.clone()
    }

    /// The school's configuration as the control link would sync it (HA1 of the cloud's
    /// passwords), as the image the box stores in `<state_dir>/config.img`.
    pub fn config_image(&self) -> Vec<u8> {
        let realm = self.realm();
        let mut site = SiteConfig {
            version: 1,
            site_code: bounded("1234").unwrap(),
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
        for a in &self.accounts {
            let md5 = carillon_protocol::digest::ha1(
                Algorithm::Md5,
                a.number.as_bytes(),
                realm.as_bytes(),
                a.password.as_bytes(),
            );
            let sha = carillon_protocol::digest::ha1(
                Algorithm::Sha256,
                a.number.as_bytes(),
                realm.as_bytes(),
                a.password.as_bytes(),
            );
            let ext = Extension {
                number: bounded(&a.number).unwrap(),
                username: bounded(&a.number).unwrap(),
                realm: bounded(&realm).unwrap(),
                ha1_md5: HexDigest::from_hex(md5.as_str()).unwrap(),
                ha1_sha256: HexDigest::from_hex(sha.as_str()).unwrap(),
                display_name: bounded(&format!("Room {}", a.number)).unwrap(),
            };
            site.extensions.push(ext).unwrap();
        }
        let mut buf = vec![0u8; CONFIG_IMAGE_LEN];
        let n = encode_image(&site, &mut buf).unwrap();
        buf.truncate(n);
        buf
    }
}

/// A TCP relay from a local port to `target`: the school's internet link. [`Relay::cut`]
/// closes every connection through it and refuses new ones (they are accepted and closed at
/// once), [`Relay::restore`] lets them through again, on the same port.
pub struct Relay {
    pub addr: SocketAddr,
    open: Arc<std::sync::atomic::AtomicBool>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Relay {
    pub async fn start(target: SocketAddr) -> Relay {
        use std::sync::atomic::{AtomicBool, Ordering};
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let open = Arc::new(AtomicBool::new(true));
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::new(Mutex::new(Vec::new()));
        let (open2, conns2) = (open.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = l.accept().await {
                if !open2.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let conn = tokio::spawn(async move {
                    if let Ok(mut out) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
                conns2.lock().unwrap().push(conn);
            }
        });
        Relay { addr, open, conns, accept }
    }

    pub fn cut(&self) {
        self.open.store(false, std::sync::atomic::Ordering::SeqCst);
        for t in self.conns.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    pub fn restore(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

// --- SIPp ---------------------------------------------------------------------------------------

pub fn sipp_available() -> bool {
    let ok = Command::new("sipp").arg("-v").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    if !ok {
        eprintln!("SKIPPED: sipp is not installed (apt-get install -y sip-tester)");
    }
    ok
}

pub fn scenario(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sipp").join(name)
}

/// One sipp process of this test.
pub struct Sipp {
    child: Child,
    name: String,
    dir: PathBuf,
}

impl Sipp {
    /// `sipp [server] -sf scenario -i 127.0.0.1 -p port -m 1 ...extra`.
    pub fn start(name: &str, file: &Path, server: Option<SocketAddr>, port: u16, extra: &[&str]) -> Sipp {
        let dir = tempdir(&format!("sipp-{name}-{port}"));
        let mut cmd = Command::new("sipp");
        if let Some(s) = server {
            cmd.arg(s.to_string());
        }
        cmd.arg("-sf")
            .arg(file)
            .args([
                "-i",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-m",
                "1",
                "-timeout",
                "20s",
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
        Sipp { child: cmd.spawn().expect("spawn sipp"), name: name.to_owned(), dir }
    }

    /// Waits (at most `limit`) for the exit; kills by PID on timeout. Returns the exit code.
    pub async fn wait(mut self, limit: Duration) -> i32 {
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

/// Whether something has bound UDP `port` on 127.0.0.1, read from `/proc/net/udp` (looking,
/// not binding: a probe bind could take the port from under a SIPp just starting).
fn udp_port_bound(port: u16) -> bool {
    let local = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/udp")
        .map(|t| t.lines().skip(1).any(|l| l.split_whitespace().nth(1) == Some(local.as_str())))
        .unwrap_or(false)
}

/// Waits (at most `limit`) until the SIPp `name` started on `port` listens there, so that the
/// first request to it is not lost to an unbound port; panics if it does not.
pub async fn udp_listening(name: &str, port: u16, limit: Duration) {
    if !Path::new("/proc/net/udp").exists() {
        // Without /proc there is nothing to look at: give it a fixed moment, as before.
        tokio::time::sleep(Duration::from_millis(300)).await;
        return;
    }
    let deadline = Instant::now() + limit;
    while !udp_port_bound(port) {
        assert!(Instant::now() < deadline, "sipp {name} not listening on 127.0.0.1:{port} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `acc` registers at the box from `port` (digest with its password); the SIPp exit code.
pub async fn register(lan: SocketAddr, acc: &Account, port: u16) -> i32 {
    let args = ["-s", &acc.number, "-au", &acc.number, "-ap", &acc.password];
    Sipp::start(&format!("register-{}", acc.number), &scenario("register.xml"), Some(lan), port, &args)
        .wait(Duration::from_secs(25))
        .await
}

/// 201 (`caller`, answering the 407 with its password) calls `callee` (answering with SIPp on
/// `callee_port`) through the box; both exit codes.
pub async fn call(lan: SocketAddr, caller: &Account, callee_port: u16, callee: &str) -> (i32, i32) {
    let uas = Sipp::start(&format!("uas-{callee}"), &scenario("uas_answer.xml"), None, callee_port, &[]);
    udp_listening(&format!("uas-{callee}"), callee_port, Duration::from_secs(5)).await;
    let args = ["-s", callee, "-au", &caller.number, "-ap", &caller.password, "-d", "300"];
    let uac = Sipp::start("uac-201", &scenario("uac_call.xml"), Some(lan), free_port(), &args);
    let a = uac.wait(Duration::from_secs(25)).await;
    let b = uas.wait(Duration::from_secs(10)).await;
    (a, b)
}

/// The box enrolled with the real cloud: its SIP flow to the cloud's SIP server and its control
/// link to the cloud's box link (TLS, pinned certificate), each through a [`Relay`] (the
/// school's internet link), online with the school's configuration applied.
pub struct OnlineRig {
    pub dir: PathBuf,
    pub cloud: TestCloud,
    pub link: carillon_cloud::boxlink::BoxLink,
    pub sip_relay: Relay,
    pub control_relay: Relay,
    pub bx: BoxProc,
    pub lan: SocketAddr,
    pub box_id: i64,
}

impl OnlineRig {
    pub async fn start(name: &str) -> OnlineRig {
        use carillon_cloud::boxlink::{BoxLink, BoxLinkConfig, BoxLinkTls};
        use carillon_cloud::sip::Clock as _;
        let dir = tempdir(name);
        let cloud = TestCloud::start(&dir).await;
        let link_cfg = BoxLinkConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            tls: Some(BoxLinkTls { cert: cloud.cert.clone(), key: dir.join("cloud.key") }),
            config_poll_ms: 200,
            ..BoxLinkConfig::default()
        };
        let link = BoxLink::start(cloud.store.clone(), Some(cloud.sip.handle()), link_cfg, Arc::new(SystemClock))
            .await
            .unwrap();
        let now = SystemClock.unix_now();
        let issued = cloud
            .store
            .create_box(
                cloud.site_id,
                &carillon_cloud::model::NewBox { name: "Box 7".into(), enrollment_ttl_secs: None },
                3600,
                now,
            )
            .await
            .unwrap();
        let sip_relay = Relay::start(cloud.sip.tls_addr().unwrap()).await;
        let control_relay = Relay::start(link.local_addr()).await;
        let lan = free_lan();
        let toml = box_toml(&dir.join("state"), lan, sip_relay.addr, control_relay.addr, Some(&cloud.cert))
            .replace("tok-123", &issued.enrollment_token);
        let bx = BoxProc::start(&dir, &toml, 0);
        bx.wait_log("configuration applied and stored", 1, Duration::from_secs(20)).await;
        bx.wait_log("to=Online", 1, Duration::from_secs(20)).await;
        OnlineRig { dir, cloud, link, sip_relay, control_relay, bx, lan, box_id: issued.box_info.id }
    }

    /// The internet link fails (both connections).
    pub fn cut(&self) {
        self.sip_relay.cut();
        self.control_relay.cut();
    }

    /// The internet link returns.
    pub fn restore(&self) {
        self.sip_relay.restore();
        self.control_relay.restore();
    }

    /// Stops the box (SIGTERM, exit 0 expected) and the cloud.
    pub async fn stop(mut self) {
        assert_eq!(self.bx.terminate(Duration::from_secs(10)).await, Some(0));
        self.link.shutdown().await;
        self.cloud.sip.shutdown();
    }
}
