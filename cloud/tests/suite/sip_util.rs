//! Harness for the SIP tests: a store with one school, a SIP server on 127.0.0.1 ports picked
//! by the OS, a settable clock, and a tiny UDP phone.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use carillon_cloud::model::{DidTarget, NewDid, NewExtension, NewRingGroup, NewSite};
use carillon_cloud::sip::{Clock, SipConfig, SipServer};
use carillon_cloud::Store;
use carillon_protocol::digest::{Challenge, CredentialsParams, Secret};
use tokio::net::UdpSocket;

use super::common::{self, NOW};

/// A clock the test moves.
#[derive(Debug)]
pub struct TestClock(pub AtomicI64);

impl Clock for TestClock {
    fn unix_now(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// One extension's credentials.
#[derive(Clone, Debug)]
pub struct Account {
    pub number: String,
    pub username: String,
    pub password: String,
}

/// A running switch with school 1234: extensions 201, 202, 203, ring group 200 (202, 203),
/// DID +3221234567 → ring group 200, DID +3221234500 → 201; and school 5678 with 201.
pub struct Rig {
    pub store: Store,
    pub sip: SipServer,
    pub clock: Arc<TestClock>,
    pub site: i64,
    #[allow(dead_code)]
    pub other_site: i64,
    pub accounts: Vec<Account>,
}

impl Rig {
    pub async fn new(tune: impl FnOnce(&mut SipConfig)) -> Rig {
        Rig::with_store(common::store().await, tune).await
    }

    /// The same on a given store (several nodes share one database).
    pub async fn with_store(store: Store, tune: impl FnOnce(&mut SipConfig)) -> Rig {
        let body = store.create_body("Board", NOW).await.unwrap();
        let site = store
            .create_site(
                body.id,
                &NewSite {
                    body_id: None,
                    name: "School A".into(),
                    code: "1234".into(),
                    kind: carillon_cloud::model::SiteKind::School,
                },
                NOW,
            )
            .await
            .unwrap();
        let other = store
            .create_site(
                body.id,
                &NewSite {
                    body_id: None,
                    name: "School B".into(),
                    code: "5678".into(),
                    kind: carillon_cloud::model::SiteKind::School,
                },
                NOW,
            )
            .await
            .unwrap();
        let mut accounts = Vec::new();
        let mut ids = Vec::new();
        for n in ["201", "202", "203"] {
            let c = store
                .create_extension(
                    site.id,
                    &NewExtension { number: n.into(), sip_username: None, display_name: format!("Phone {n}") },
                    NOW,
                )
                .await
                .unwrap();
            ids.push(c.extension.id);
            accounts.push(Account { number: n.into(), username: c.extension.sip_username, password: c.sip_password });
        }
        let c = store
            .create_extension(
                other.id,
                &NewExtension { number: "201".into(), sip_username: None, display_name: "B 201".into() },
                NOW,
            )
            .await
            .unwrap();
        accounts.push(Account {
            number: "85678201".into(),
            username: c.extension.sip_username,
            password: c.sip_password,
        });
        let group = store
            .create_ring_group(
                site.id,
                &NewRingGroup {
                    number: "300".into(),
                    name: "Secretariat".into(),
                    timeout_secs: 20,
                    members: vec![ids[1], ids[2]],
                },
                NOW,
            )
            .await
            .unwrap();
        store
            .create_did(
                &NewDid { number: "+3221234567".into(), site_id: site.id, target: DidTarget::RingGroup(group.id) },
                NOW,
            )
            .await
            .unwrap();
        store
            .create_did(
                &NewDid { number: "+3221234500".into(), site_id: site.id, target: DidTarget::Extension(ids[0]) },
                NOW,
            )
            .await
            .unwrap();
        let mut cfg = SipConfig {
            udp: "127.0.0.1:0".parse().unwrap(),
            tcp: Some("127.0.0.1:0".parse().unwrap()),
            ..SipConfig::default()
        };
        tune(&mut cfg);
        let clock = Arc::new(TestClock(AtomicI64::new(NOW)));
        let sip = SipServer::start(store.clone(), cfg, clock.clone()).await.unwrap();
        Rig { store, sip, clock, site: site.id, other_site: other.id, accounts }
    }

    pub fn account(&self, number: &str) -> Account {
        self.accounts.iter().find(|a| a.number == number).cloned().unwrap()
    }
}

/// A UDP phone (or box, or carrier) speaking raw SIP text.
pub struct Phone {
    pub sock: UdpSocket,
    pub server: SocketAddr,
}

impl Phone {
    pub async fn new(server: SocketAddr) -> Phone {
        Phone { sock: UdpSocket::bind("127.0.0.1:0").await.unwrap(), server }
    }

    pub fn addr(&self) -> SocketAddr {
        self.sock.local_addr().unwrap()
    }

    pub async fn send(&self, text: &str) {
        self.sock.send_to(text.as_bytes(), self.server).await.unwrap();
    }

    /// The next message within 5 s.
    pub async fn recv(&self) -> String {
        self.try_recv(Duration::from_secs(5)).await.expect("a message within 5 s")
    }

    pub async fn try_recv(&self, wait: Duration) -> Option<String> {
        let mut buf = vec![0u8; 65_536];
        let (n, _) = tokio::time::timeout(wait, self.sock.recv_from(&mut buf)).await.ok()?.ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// Skips messages until one starts with `start` (e.g. `SIP/2.0 200`, `INVITE`).
    pub async fn expect(&self, start: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let m = self.try_recv(left).await.unwrap_or_else(|| panic!("no {start} within 8 s"));
            if m.starts_with(start) {
                return m;
            }
        }
    }
}

/// The value of the first header `name` (case-insensitive) in a message.
pub fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.split("\r\n").skip(1).take_while(|l| !l.is_empty()).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The digest answer to the challenge in `resp`'s `challenge_header`.
pub fn answer(resp: &str, challenge_header: &str, acc: &Account, method: &str, uri: &str) -> String {
    let ch = header(resp, challenge_header).expect("a challenge");
    let challenge = Challenge::parse(ch.as_bytes()).unwrap();
    let mut out = vec![0u8; 1024];
    let n = CredentialsParams {
        username: &acc.username,
        secret: Secret::Password(acc.password.as_bytes()),
        method,
        uri,
        cnonce: "c0ffee",
        nc: 1,
    }
    .write(&challenge, &mut out)
    .unwrap();
    String::from_utf8(out[..n].to_vec()).unwrap()
}

#[allow(clippy::too_many_arguments)]
/// A request from `from` (a phone address) with the usual headers; `extra` lines end in CRLF.
pub fn request(
    method: &str,
    uri: &str,
    from: SocketAddr,
    user: &str,
    to: &str,
    call_id: &str,
    cseq: u32,
    branch: &str,
    extra: &str,
) -> String {
    format!(
        "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bK{branch};rport\r\nMax-Forwards: 70\r\n\
         From: <sip:{user}@carillon>;tag=t{branch}\r\nTo: <sip:{to}@carillon>\r\nCall-ID: {call_id}\r\n\
         CSeq: {cseq} {method}\r\nContact: <sip:{user}@{from}>\r\n{extra}Content-Length: 0\r\n\r\n"
    )
}

/// Registers `acc` from `phone` with an optional Path; returns the 200.
pub async fn register(phone: &Phone, acc: &Account, extra: &str) -> String {
    let uri = "sip:carillon";
    let call_id = format!("reg-{}", acc.username);
    phone
        .send(&request(
            "REGISTER",
            uri,
            phone.addr(),
            &acc.username,
            &acc.username,
            &call_id,
            1,
            &format!("r1{}", acc.username),
            extra,
        ))
        .await;
    let ch = phone.expect("SIP/2.0 401").await;
    let auth = answer(&ch, "WWW-Authenticate", acc, "REGISTER", uri);
    let extra = format!("{extra}Authorization: {auth}\r\n");
    phone
        .send(&request(
            "REGISTER",
            uri,
            phone.addr(),
            &acc.username,
            &acc.username,
            &call_id,
            2,
            &format!("r2{}", acc.username),
            &extra,
        ))
        .await;
    phone.expect("SIP/2.0 200").await
}

/// Answers `req` (as a UAS) with `code`, adding a To tag and a Contact.
pub fn reply(req: &str, code: u16, reason: &str, contact: SocketAddr) -> String {
    let mut out = format!("SIP/2.0 {code} {reason}\r\n");
    for l in req.split("\r\n").skip(1).take_while(|l| !l.is_empty()) {
        let name = l.split(':').next().unwrap_or("").trim().to_ascii_lowercase();
        match name.as_str() {
            "via" | "from" | "call-id" | "cseq" | "record-route" => {
                out.push_str(l);
                out.push_str("\r\n");
            }
            "to" => {
                out.push_str(l);
                if code > 100 && !l.contains("tag=") {
                    out.push_str(";tag=uas1");
                }
                out.push_str("\r\n");
            }
            _ => {}
        }
    }
    out.push_str(&format!("Contact: <sip:uas@{contact}>\r\nContent-Length: 0\r\n\r\n"));
    out
}
