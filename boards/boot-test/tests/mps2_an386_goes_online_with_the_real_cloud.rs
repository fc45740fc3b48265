//! The emulated board against the real cloud (`carillon-cloud`'s SIP server and box link,
//! in-process on 127.0.0.1, SQLite in memory), reached from QEMU's user networking at
//! 10.0.2.2 through two TCP relays the test cuts and restores (the school's internet link).
//!
//! The box is enrolled in the cloud's store; its identity (box id, credential, the relays'
//! ports, the cloud's self-signed certificate pinned) is written into the board's STORE by the
//! host-side writer, with no configuration. The board connects both links over TLS (the
//! cloud's SIP TLS port and its box link, rustls on the cloud's side, embedded-tls on the
//! board's, the server verified against the pinned certificate), authenticates, receives the school's configuration over the control link and applies it,
//! and goes online. A phone, then SIPp with six more, register through it and the cloud's
//! location service holds their bindings, reached through the box. The link is cut: the board goes to survival, a second
//! phone registers with the box alone, and a local call between the two is journaled. The
//! link returns: the board reconnects, hands the second phone's binding back, uploads the
//! call record — which the cloud stores exactly once, still once after another flap.
//!
//! Two more boots: a credential one bit wrong (plain TCP) is refused by the cloud and the board
//! stays in survival; a cloud whose certificate is not the pinned one (same name, another key)
//! fails the board's TLS handshake, and the board never talks to it.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::{SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use carillon_boot_test::*;
use carillon_cloud::boxlink::BoxLinkTls;
use carillon_cloud::boxlink::{BoxLink, BoxLinkConfig};
use carillon_cloud::model::{NewBox, NewExtension, NewSite, RecordFilter, SiteKind};
use carillon_cloud::sip::{Clock as _, SipConfig, SipServer, SystemClock, TlsConfig};
use carillon_cloud::{Store, StoreOptions};
use carillon_embassy::identity::Identity;
use carillon_protocol::control::{BoxCredential, BoxId, CREDENTIAL_LEN};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A TCP relay from a port on 127.0.0.1 to `target`. `cut` closes every connection through it
/// and refuses new ones (accepted and closed at once); `restore` lets them through again.
struct Relay {
    port: u16,
    open: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Relay {
    async fn start(target: SocketAddr) -> Relay {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(true));
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (open2, conns2) = (open.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = l.accept().await {
                if !open2.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                conns2.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut out) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                }));
            }
        });
        Relay { port, open, conns, accept }
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for t in self.conns.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// The store's credential text (`cx_` + 64 hex digits) as the 32 bytes the box keeps.
fn credential_bytes(text: &str) -> BoxCredential {
    let hex = text.strip_prefix("cx_").expect("a box credential");
    let mut out = [0u8; CREDENTIAL_LEN];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    BoxCredential(out)
}

/// A self-signed P-256 certificate for `cloud.test`, its PEM files in `dir`; its DER.
fn cloud_cert(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf, Vec<u8>) {
    let key = rcgen::generate_simple_self_signed(vec!["cloud.test".to_owned()]).unwrap();
    let (cert, keyfile) = (dir.join(format!("{name}.pem")), dir.join(format!("{name}.key")));
    std::fs::write(&cert, key.cert.pem()).unwrap();
    std::fs::write(&keyfile, key.key_pair.serialize_pem()).unwrap();
    (cert, keyfile, key.cert.der().to_vec())
}

fn wait_line(qemu: &mut Qemu, needle: &str, from: usize, limit: Duration) -> usize {
    assert!(qemu.wait_line(needle, from, limit).is_some(), "no {needle:?} within {limit:?}:\n{}", qemu.log());
    qemu.line_count()
}

#[test]
fn the_board_goes_online_survives_a_cut_and_uploads_its_journal_once() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let now = SystemClock.unix_now();

    // The cloud: a school with two extensions, SIP on TCP, the box link on plain TCP.
    let (store, site_id, accounts) = rt.block_on(async {
        let store = Store::connect("sqlite::memory:", StoreOptions::default()).await.unwrap();
        let body = store.create_body("Board", now).await.unwrap();
        let new_site = NewSite { body_id: None, name: "School A".into(), code: "1234".into(), kind: SiteKind::School };
        let site = store.create_site(body.id, &new_site, now).await.unwrap();
        let mut accounts = Vec::new();
        for n in 201u32..=208 {
            let ext = NewExtension {
                number: n.to_string(),
                sip_username: Some(n.to_string()),
                display_name: format!("Room {n}"),
            };
            accounts.push((n, store.create_extension(site.id, &ext, now).await.unwrap().sip_password));
        }
        (store, site.id, accounts)
    });
    let _guard = rt.enter();
    let dir = tempdir("mps2-online");
    let (cert, key, cert_der) = cloud_cert(&dir, "cloud");
    let sip_cfg = SipConfig {
        udp: "127.0.0.1:0".parse().unwrap(),
        tcp: Some("127.0.0.1:0".parse().unwrap()),
        tls: Some(TlsConfig { listen: "127.0.0.1:0".parse().unwrap(), cert: cert.clone(), key: key.clone() }),
        host: Some("cloud.test".into()),
        ..SipConfig::default()
    };
    let sip = rt.block_on(SipServer::start(store.clone(), sip_cfg, Arc::new(SystemClock))).unwrap();
    let link_cfg = BoxLinkConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Some(BoxLinkTls { cert, key }),
        config_poll_ms: 200,
        ..BoxLinkConfig::default()
    };
    let link = rt.block_on(BoxLink::start(store.clone(), Some(sip.handle()), link_cfg, Arc::new(SystemClock))).unwrap();
    let (box_id, credential) = rt.block_on(async {
        let new_box = NewBox { name: "Box 7".into(), enrollment_ttl_secs: None };
        let issued = store.create_box(site_id, &new_box, 3600, now).await.unwrap();
        store.enroll_box(&issued.enrollment_token, now).await.unwrap()
    });
    let sip_relay = rt.block_on(Relay::start(sip.tls_addr().unwrap()));
    let control_relay = rt.block_on(Relay::start(link.local_addr()));

    // The identity, written into the board's STORE; no configuration: it comes from the cloud.
    let guest_host: std::net::Ipv4Addr = HOST_FROM_GUEST.parse().unwrap();
    let identity = Identity {
        box_id: BoxId(u64::try_from(box_id).unwrap()),
        credential: credential_bytes(&credential),
        sip: SocketAddrV4::new(guest_host, sip_relay.port),
        control: SocketAddrV4::new(guest_host, control_relay.port),
        host: heapless::String::try_from("box7.school.example").unwrap(),
        server_name: heapless::String::try_from("cloud.test").unwrap(),
        tls: true,
        cert: heapless::Vec::from_slice(&cert_der).unwrap(),
    };
    let id_file = dir.join("identity.bin");
    std::fs::write(&id_file, identity_image(&identity)).unwrap();
    let mut qemu = Qemu::boot_with(&board_elf(), &[(id_file, IDENTITY_ADDR)]);
    let started = Instant::now();
    wait_line(&mut qemu, "uplink: connected to 10.0.2.2", 0, Duration::from_secs(40));
    wait_line(&mut qemu, "control link authenticated", 0, Duration::from_secs(40));
    let log = qemu.log();
    assert!(log.contains("(TLS, server verified)") && !log.contains("plain TCP"), "both links on TLS:\n{log}");
    wait_line(&mut qemu, "ConfigApplied", 0, Duration::from_secs(20));
    wait_line(&mut qemu, "-> Online", 0, Duration::from_secs(20));
    println!("mps2-an386: online with the cloud's configuration {:.1} s after boot", started.elapsed().as_secs_f64());
    let record_count = |cloud: &Store| {
        let filter = RecordFilter { site_id: Some(site_id), ..Default::default() };
        let page = rt.block_on(cloud.list_records(&filter, None, 1000)).unwrap();
        page.records.iter().filter(|r| r.box_id == Some(box_id)).filter_map(|r| r.box_seq).collect::<Vec<_>>()
    };

    // Online: 201 registers through the box; the cloud holds its binding, reached through it.
    let (n201, pw201) = (accounts[0].0, accounts[0].1.clone());
    let (n202, pw202) = (accounts[1].0, accounts[1].1.clone());
    let mut p201 = CallPhone::new(n201, qemu.sip);
    assert_eq!(p201.register(&pw201), 200, "201 registers online:\n{}", qemu.log());
    let found = sip.location().lookup("201", SystemClock.unix_now());
    assert_eq!(found.len(), 1, "the cloud holds 201's binding");
    assert!(!found[0].path.is_empty(), "reached through the box: {:?}", found[0]);
    let (code, errors) = sipp_register(qemu.sip, &accounts[2..], &dir);
    assert_eq!(code, 0, "SIPp registers 203..208 online:\n{errors}\n{}", qemu.log());
    for (n, _) in &accounts[2..] {
        let found = sip.location().lookup(&n.to_string(), SystemClock.unix_now());
        assert_eq!(found.len(), 1, "the cloud holds {n}'s binding");
        assert!(!found[0].path.is_empty(), "{n} reached through the box: {:?}", found[0]);
    }

    // The link is cut: survival; 202 registers with the box alone, 201 calls 202 locally.
    let from = qemu.line_count();
    sip_relay.cut();
    control_relay.cut();
    let cut_at = Instant::now();
    wait_line(&mut qemu, "-> Survival", from, Duration::from_secs(15));
    println!("mps2-an386: survival {:.1} s after the cut", cut_at.elapsed().as_secs_f64());
    let p202 = {
        let mut p = CallPhone::new(n202, qemu.sip);
        assert_eq!(p.register(&pw202), 200, "202 registers in survival:\n{}", qemu.log());
        p
    };
    assert!(sip.location().lookup("202", SystemClock.unix_now()).is_empty(), "the cloud never heard of 202");
    let answering = std::thread::spawn(move || {
        let (invite, from) = p202.recv_request("INVITE", Duration::from_secs(10)).expect("the INVITE reaches 202");
        p202.respond(&invite, from, 200, "OK");
        let (bye, from) = p202.recv_request("BYE", Duration::from_secs(10)).expect("the BYE reaches 202");
        p202.respond(&bye, from, 200, "OK");
        p202
    });
    let (status, dialog, resp) = p201.invite(n202, &pw201);
    assert_eq!(status, 200, "the survival call connects:\n{resp}\n{}", qemu.log());
    let mut dialog = dialog.unwrap();
    p201.ack(&dialog);
    assert_eq!(p201.bye(&mut dialog), 200, "{}", qemu.log());
    let p202 = answering.join().unwrap();
    wait_line(&mut qemu, "JournalAppended { seq: 1 }", from, Duration::from_secs(10));
    assert!(record_count(&store).is_empty(), "nothing reached the cloud while cut");

    // The link returns: the board reconnects, hands 202 back, uploads the record once.
    let from = qemu.line_count();
    sip_relay.restore();
    control_relay.restore();
    let back_at = Instant::now();
    wait_line(&mut qemu, "-> Online", from, Duration::from_secs(40));
    println!("mps2-an386: online again {:.1} s after the link returned", back_at.elapsed().as_secs_f64());
    let found = sip.location().lookup("202", SystemClock.unix_now());
    assert_eq!(found.len(), 1, "202's binding handed back to the cloud");
    assert!(!found[0].path.is_empty(), "reached through the box: {:?}", found[0]);
    assert_eq!(record_count(&store), vec![1], "the survival call's record, once");

    // One more flap: not uploaded again.
    let from = qemu.line_count();
    sip_relay.cut();
    control_relay.cut();
    wait_line(&mut qemu, "-> Survival", from, Duration::from_secs(15));
    let from = qemu.line_count();
    sip_relay.restore();
    control_relay.restore();
    wait_line(&mut qemu, "-> Online", from, Duration::from_secs(40));
    assert_eq!(record_count(&store), vec![1], "still once after another flap");
    // The cloud counts the box online, in online mode (from its status reports).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let b = rt.block_on(store.get_box(box_id)).unwrap();
        if b.online && b.mode.as_deref() == Some("online") {
            break;
        }
        assert!(Instant::now() < deadline, "the cloud's view of the box: {b:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(rt.block_on(store.get_box(box_id)).unwrap().acked_seq, 1);
    let from = qemu.line_count();
    let report = qemu.wait_line("stack high-water mark", from, Duration::from_secs(10));
    let report = report.unwrap_or_else(|| panic!("no stack report:\n{}", qemu.log()));
    println!("mps2-an386 online over TLS, after the flaps: {report}");

    drop(p202);
    drop(qemu);
    rt.block_on(link.shutdown());
    sip.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_wrong_credential_is_refused_and_the_board_stays_in_survival() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let now = SystemClock.unix_now();
    let store = rt.block_on(Store::connect("sqlite::memory:", StoreOptions::default())).unwrap();
    let (box_id, credential) = rt.block_on(async {
        let body = store.create_body("Board", now).await.unwrap();
        let new_site = NewSite { body_id: None, name: "School B".into(), code: "2345".into(), kind: SiteKind::School };
        let site = store.create_site(body.id, &new_site, now).await.unwrap();
        let new_box = NewBox { name: "Box 8".into(), enrollment_ttl_secs: None };
        let issued = store.create_box(site.id, &new_box, 3600, now).await.unwrap();
        store.enroll_box(&issued.enrollment_token, now).await.unwrap()
    });
    let _guard = rt.enter();
    let link_cfg = BoxLinkConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: None,
        plain_tcp: true,
        ..BoxLinkConfig::default()
    };
    let link = rt.block_on(BoxLink::start(store.clone(), None, link_cfg, Arc::new(SystemClock))).unwrap();
    let sip_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap();

    // The right box id, a credential with one byte changed.
    let mut wrong = credential_bytes(&credential);
    wrong.0[5] ^= 1;
    let guest_host: std::net::Ipv4Addr = HOST_FROM_GUEST.parse().unwrap();
    let identity = Identity {
        box_id: BoxId(u64::try_from(box_id).unwrap()),
        credential: wrong,
        sip: SocketAddrV4::new(guest_host, sip_port.local_addr().unwrap().port()),
        control: SocketAddrV4::new(guest_host, link.local_addr().port()),
        host: heapless::String::try_from("box8.school.example").unwrap(),
        server_name: heapless::String::try_from("cloud.test").unwrap(),
        tls: false,
        cert: heapless::Vec::new(),
    };
    let dir = tempdir("mps2-refused");
    let id_file = dir.join("identity.bin");
    std::fs::write(&id_file, identity_image(&identity)).unwrap();
    let mut qemu = Qemu::boot_with(&board_elf(), &[(id_file, IDENTITY_ADDR)]);
    // Refused, and refused again on the retry (after the longest backoff).
    let first = qemu.wait_line("authentication refused", 0, Duration::from_secs(40));
    assert!(first.is_some(), "{}", qemu.log());
    let at = qemu.log().lines().position(|l| l.contains("authentication refused")).unwrap() + 1;
    assert!(qemu.wait_line("authentication refused", at, Duration::from_secs(20)).is_some(), "{}", qemu.log());
    let log = qemu.log();
    assert!(!log.contains("control link authenticated"), "{log}");
    assert!(!log.contains("ConfigApplied") && !log.contains("-> Recovering"), "no configuration, no recovery: {log}");
    assert!(!rt.block_on(store.get_box(box_id)).unwrap().online, "the cloud does not count the box online");
    drop(qemu);
    rt.block_on(link.shutdown());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_cloud_without_the_pinned_certificate_fails_the_handshake() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let _guard = rt.enter();
    let store = rt.block_on(Store::connect("sqlite::memory:", StoreOptions::default())).unwrap();
    let dir = tempdir("mps2-pin");
    // The cloud serves a certificate for the right name, but not the one the box pinned.
    let (cert, key, _) = cloud_cert(&dir, "impostor");
    let (_, _, pinned) = cloud_cert(&dir, "cloud");
    let link_cfg = BoxLinkConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Some(BoxLinkTls { cert, key }),
        ..BoxLinkConfig::default()
    };
    let link = rt.block_on(BoxLink::start(store.clone(), None, link_cfg, Arc::new(SystemClock))).unwrap();
    let sip_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let guest_host: std::net::Ipv4Addr = HOST_FROM_GUEST.parse().unwrap();
    let identity = Identity {
        box_id: BoxId(1),
        credential: BoxCredential([9; CREDENTIAL_LEN]),
        sip: SocketAddrV4::new(guest_host, sip_port.local_addr().unwrap().port()),
        control: SocketAddrV4::new(guest_host, link.local_addr().port()),
        host: heapless::String::try_from("box9.school.example").unwrap(),
        server_name: heapless::String::try_from("cloud.test").unwrap(),
        tls: true,
        cert: heapless::Vec::from_slice(&pinned).unwrap(),
    };
    let id_file = dir.join("identity.bin");
    std::fs::write(&id_file, identity_image(&identity)).unwrap();
    let mut qemu = Qemu::boot_with(&board_elf(), &[(id_file, IDENTITY_ADDR)]);
    let failed = qemu.wait_line("control link: TLS handshake with", 0, Duration::from_secs(60));
    let failed = failed.unwrap_or_else(|| panic!("{}", qemu.log()));
    println!("mps2-an386 against an impostor: {failed}");
    assert!(failed.contains("InvalidCertificate") || failed.contains("InvalidSignature"), "{failed}");
    let log = qemu.log();
    assert!(!log.contains("control link: connected"), "{log}");
    assert!(!log.contains("control link authenticated") && !log.contains("-> Recovering"), "{log}");
    assert!(link.connected_boxes().is_empty(), "no box authenticated at the cloud");
    drop(qemu);
    rt.block_on(link.shutdown());
    let _ = std::fs::remove_dir_all(&dir);
}
