//! The box link on real sockets on 127.0.0.1: a small box client speaking control frames with
//! the protocol crate's framing, against the switch of `sip_util::Rig` (school 1234: 201, 202,
//! 203, ring group 300 = 202 + 203).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use carillon_cloud::api::{app, AppState};
use carillon_cloud::boxlink::{BoxLink, BoxLinkConfig, BoxLinkError, BoxLinkTls};
use carillon_cloud::model::{NewBox, NewExtension, RecordFilter};
use carillon_protocol::control::{
    bounded, encode_frame, AuthRejectReason, Authenticate, Authenticated, Binding, BindingBatch, BoxCredential, BoxId,
    BoxMessage, CallOutcome, CallRecord, CallRecordBatch, CloudMessage, ConfigApplied, ConfigBegin, ConfigRejectReason,
    ConfigRejected, ConfigTransfer, EnrollRejectReason, EnrollRequest, EnrollmentToken, Extension, FirmwareVersion,
    FrameDecoder, GoodbyeReason, Hello, Mode, Ping, Pong, RingGroup, StatusReport, UnixTime, MAX_FRAME_LEN,
};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::ServiceExt;

use super::common::{wait_until, NOW, OPERATOR};
use super::sip_util::{answer, header, request, Phone, Rig};

pub(super) const FW: FirmwareVersion = FirmwareVersion { major: 1, minor: 2, patch: 3 };
pub(super) const WAIT: Duration = Duration::from_secs(5);

pub(super) fn link_config() -> BoxLinkConfig {
    BoxLinkConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        plain_tcp: true,
        config_poll_ms: 100,
        sip_flow_wait_ms: 2_000,
        ..BoxLinkConfig::default()
    }
}

async fn start(rig: &Rig, tune: impl FnOnce(&mut BoxLinkConfig)) -> BoxLink {
    let mut cfg = link_config();
    tune(&mut cfg);
    BoxLink::start(rig.store.clone(), Some(rig.sip.handle()), cfg, rig.clock.clone()).await.unwrap()
}

/// A box's end of the control link.
pub(super) struct Client<S> {
    stream: S,
    decoder: Box<FrameDecoder>,
    pending: VecDeque<CloudMessage>,
}

impl Client<TcpStream> {
    pub(super) async fn connect(addr: SocketAddr) -> Client<TcpStream> {
        Client::over(TcpStream::connect(addr).await.unwrap())
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    fn over(stream: S) -> Client<S> {
        Client { stream, decoder: Box::default(), pending: VecDeque::new() }
    }

    pub(super) async fn send(&mut self, msg: BoxMessage) {
        let mut buf = [0u8; MAX_FRAME_LEN];
        let n = encode_frame(&msg, &mut buf).unwrap();
        self.stream.write_all(&buf[..n]).await.unwrap();
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next message within `wait`; `None` on EOF (or a reset).
    async fn try_recv(&mut self, wait: Duration) -> Result<Option<CloudMessage>, ()> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(m) = self.pending.pop_front() {
                return Ok(Some(m));
            }
            let mut buf = [0u8; 4096];
            let n = match tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await {
                Err(_) => return Err(()),
                Ok(Ok(0) | Err(_)) => return Ok(None),
                Ok(Ok(n)) => n,
            };
            let mut input = &buf[..n];
            while let Some(r) = self.decoder.decode::<CloudMessage>(&mut input) {
                self.pending.push_back(r.expect("the cloud sends valid frames"));
            }
        }
    }

    /// The next message, which must come within 5 s.
    pub(super) async fn recv(&mut self) -> CloudMessage {
        self.try_recv(WAIT).await.expect("a message within 5 s").expect("connection open")
    }

    /// Reads until EOF within 5 s; returns what came before it.
    async fn until_closed(&mut self) -> Vec<CloudMessage> {
        let mut seen = Vec::new();
        loop {
            match self.try_recv(WAIT).await.expect("closed within 5 s") {
                Some(m) => seen.push(m),
                None => return seen,
            }
        }
    }

    pub(super) async fn hello(&mut self) {
        self.send(BoxMessage::Hello(Hello::current())).await;
        assert_eq!(self.recv().await, CloudMessage::Hello(Hello::current()));
    }

    /// Hello + Authenticate; returns the answer.
    pub(super) async fn authenticate(
        &mut self,
        id: BoxId,
        credential: &BoxCredential,
        config_version: Option<u32>,
    ) -> CloudMessage {
        self.hello().await;
        self.send(BoxMessage::Authenticate(Authenticate {
            box_id: id,
            credential: credential.clone(),
            firmware: FW,
            config_version,
        }))
        .await;
        self.recv().await
    }

    /// Receives one whole configuration, checked by the box's own transfer checker.
    pub(super) async fn config(&mut self) -> (ConfigBegin, Vec<Extension>, Vec<RingGroup>) {
        let mut t = ConfigTransfer::new();
        let CloudMessage::ConfigBegin(begin) = self.recv().await else { panic!("ConfigBegin expected") };
        t.begin(&begin, None).unwrap();
        let (mut exts, mut groups) = (Vec::new(), Vec::new());
        loop {
            match self.recv().await {
                CloudMessage::ConfigExtensions(e) => {
                    t.extensions(&e).unwrap();
                    exts.extend(e.extensions.iter().cloned());
                }
                CloudMessage::ConfigRingGroups(g) => {
                    t.ring_groups(&g).unwrap();
                    groups.extend(g.ring_groups.iter().cloned());
                }
                CloudMessage::ConfigEnd(e) => {
                    assert_eq!(t.end(&e), Ok(begin.version));
                    return (begin, exts, groups);
                }
                other => panic!("unexpected during a configuration: {other:?}"),
            }
        }
    }
}

/// Creates a box of the rig's school and enrolls it over the link: (id, credential, token).
async fn enroll(rig: &Rig, link: &BoxLink) -> (BoxId, BoxCredential, String) {
    let issued = rig
        .store
        .create_box(rig.site, &NewBox { name: "box".into(), enrollment_ttl_secs: None }, 3600, NOW)
        .await
        .unwrap();
    let token = issued.enrollment_token;
    let mut c = Client::connect(link.local_addr()).await;
    c.hello().await;
    // The API's token is `ce_` + 64 hex digits; the wire carries the 64 digits.
    let wire = EnrollmentToken::new(token.strip_prefix("ce_").unwrap()).unwrap();
    c.send(BoxMessage::Enroll(EnrollRequest { token: wire, firmware: FW })).await;
    let CloudMessage::Enrolled(e) = c.recv().await else { panic!("Enrolled expected") };
    assert_eq!(e.box_id.0, issued.box_info.id as u64);
    (e.box_id, e.credential, token)
}

/// Enrolls a box and opens an authenticated link, the first configuration read.
async fn online(rig: &Rig, link: &BoxLink) -> (BoxId, BoxCredential, Client<TcpStream>) {
    let (id, cred, _) = enroll(rig, link).await;
    let mut c = Client::connect(link.local_addr()).await;
    assert_eq!(
        c.authenticate(id, &cred, None).await,
        CloudMessage::Authenticated(Authenticated { records_stored_up_to: 0 })
    );
    c.config().await;
    (id, cred, c)
}

/// Polls `check` until it holds, for up to 5 s.
async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    wait_until(what, WAIT, check).await;
}

async fn api_get(rig: &Rig, path: &str) -> (StatusCode, Value) {
    let app = app(AppState::new(rig.store.clone(), OPERATOR));
    let req =
        Request::builder().uri(path).header("authorization", format!("Bearer {OPERATOR}")).body(Body::empty()).unwrap();
    let resp = app.oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn enrollment_works_once_and_bad_sessions_are_refused_and_closed() {
    let rig = Rig::new(|_| {}).await;
    let link = start(&rig, |_| {}).await;
    let (id, cred, token) = enroll(&rig, &link).await;
    // The same token again (whole, with its prefix this time): refused, then closed.
    let mut c = Client::connect(link.local_addr()).await;
    c.hello().await;
    c.send(BoxMessage::Enroll(EnrollRequest { token: EnrollmentToken(bounded(&token[3..]).unwrap()), firmware: FW }))
        .await;
    assert_eq!(c.until_closed().await, vec![CloudMessage::EnrollRejected(EnrollRejectReason::UnknownToken)]);
    // A wrong credential and an unknown box: refused, then closed.
    let mut c = Client::connect(link.local_addr()).await;
    assert_eq!(
        c.authenticate(id, &BoxCredential([7; 32]), None).await,
        CloudMessage::AuthRejected(AuthRejectReason::BadCredential)
    );
    assert!(c.until_closed().await.is_empty());
    let mut c = Client::connect(link.local_addr()).await;
    assert_eq!(
        c.authenticate(BoxId(999), &cred, None).await,
        CloudMessage::AuthRejected(AuthRejectReason::BadCredential)
    );
    assert!(c.until_closed().await.is_empty());
    // Anything else before authentication: Goodbye{ProtocolViolation}, then closed.
    let mut c = Client::connect(link.local_addr()).await;
    c.hello().await;
    c.send(BoxMessage::CallRecords(CallRecordBatch::new())).await;
    assert_eq!(c.until_closed().await, vec![goodbye(GoodbyeReason::ProtocolViolation)]);
    // No Hello first.
    let mut c = Client::connect(link.local_addr()).await;
    c.send(BoxMessage::Ping(Ping { nonce: 1 })).await;
    assert_eq!(c.until_closed().await, vec![goodbye(GoodbyeReason::ProtocolViolation)]);
    // No common version: our Hello, then Goodbye{UnsupportedVersion}.
    let mut c = Client::connect(link.local_addr()).await;
    c.send(BoxMessage::Hello(Hello { protocol_version: 90, min_protocol_version: 90 })).await;
    assert_eq!(
        c.until_closed().await,
        vec![CloudMessage::Hello(Hello::current()), goodbye(GoodbyeReason::UnsupportedVersion)]
    );
    // The right credential still works, and the box is online.
    let mut c = Client::connect(link.local_addr()).await;
    assert!(matches!(c.authenticate(id, &cred, None).await, CloudMessage::Authenticated(_)));
    // Attaching the session and the status write follow the Authenticated answer; on a loaded
    // machine give them a bounded moment instead of racing them.
    eventually("box attached", || async { link.connected_boxes() == vec![id.0 as i64] }).await;
    assert_eq!(link.connected_boxes(), vec![id.0 as i64]);
    eventually("box shown online", || async { rig.store.get_box(id.0 as i64).await.unwrap().online }).await;
    link.shutdown().await;
    rig.sip.shutdown();
}

fn goodbye(reason: GoodbyeReason) -> CloudMessage {
    CloudMessage::Goodbye(carillon_protocol::control::Goodbye { reason })
}

#[tokio::test]
async fn tls_is_required_unless_plain_tcp_is_asked_for_and_a_box_enrolls_over_tls() {
    let rig = Rig::new(|_| {}).await;
    let err =
        BoxLink::start(rig.store.clone(), None, BoxLinkConfig { plain_tcp: false, ..link_config() }, rig.clock.clone())
            .await;
    assert!(matches!(err, Err(BoxLinkError::Config(_))), "{err:?}");
    let dir = std::env::temp_dir().join(format!("carillon-boxlink-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    std::fs::write(dir.join("cert.pem"), ck.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), ck.key_pair.serialize_pem()).unwrap();
    let tls = BoxLinkTls { cert: dir.join("cert.pem"), key: dir.join("key.pem") };
    let link = start(&rig, |c| {
        c.plain_tcp = false;
        c.tls = Some(tls);
    })
    .await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ck.cert.der().clone()).unwrap();
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let tcp = TcpStream::connect(link.local_addr()).await.unwrap();
    let tls = connector.connect(rustls_pki_types::ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();
    let issued = rig
        .store
        .create_box(rig.site, &NewBox { name: "tls".into(), enrollment_ttl_secs: None }, 3600, NOW)
        .await
        .unwrap();
    let mut c = Client::over(tls);
    c.hello().await;
    let token = EnrollmentToken::new(&issued.enrollment_token[3..]).unwrap();
    c.send(BoxMessage::Enroll(EnrollRequest { token, firmware: FW })).await;
    let CloudMessage::Enrolled(e) = c.recv().await else { panic!("Enrolled expected") };
    c.send(BoxMessage::Authenticate(Authenticate {
        box_id: e.box_id,
        credential: e.credential,
        firmware: FW,
        config_version: None,
    }))
    .await;
    assert!(matches!(c.recv().await, CloudMessage::Authenticated(_)));
    assert!(matches!(c.recv().await, CloudMessage::ConfigBegin(_)));
    // A plain-TCP client on the TLS port gets no control frame (a TLS alert at most) and is dropped.
    let mut plain = Client::connect(link.local_addr()).await;
    plain.send(BoxMessage::Hello(Hello::current())).await;
    let mut got = Vec::new();
    tokio::time::timeout(WAIT, plain.stream.read_to_end(&mut got)).await.expect("closed within 5 s").ok();
    let mut d: FrameDecoder = FrameDecoder::new();
    let mut input = &got[..];
    assert!(d.decode::<CloudMessage>(&mut input).is_none_or(|r| r.is_err()), "no control message over plain TCP");
    link.shutdown().await;
    rig.sip.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn configuration_is_pushed_after_authentication_and_on_every_change() {
    let rig = Rig::new(|_| {}).await;
    let link = start(&rig, |_| {}).await;
    let (id, cred, _) = enroll(&rig, &link).await;
    let mut c = Client::connect(link.local_addr()).await;
    assert!(matches!(c.authenticate(id, &cred, None).await, CloudMessage::Authenticated(_)));
    let (begin, exts, groups) = c.config().await;
    assert_eq!(begin.site_code.as_str(), "1234");
    assert_eq!(begin.dial_plan.extension_len, 3);
    assert_eq!(begin.dial_plan.on_net_prefix.as_str(), "8");
    assert_eq!(begin.dial_plan.outside_line_prefix.as_str(), "0");
    assert_eq!(exts.iter().map(|e| e.number.as_str()).collect::<Vec<_>>(), vec!["201", "202", "203"]);
    let acc = rig.account("202");
    let e202 = &exts[1];
    assert_eq!(e202.username.as_str(), acc.username);
    assert_eq!(e202.realm.as_str(), "carillon");
    assert_eq!(e202.ha1_md5.as_str(), carillon_cloud::secrets::ha1_md5(&acc.username, "carillon", &acc.password));
    assert_eq!(e202.ha1_sha256.as_str(), carillon_cloud::secrets::ha1_sha256(&acc.username, "carillon", &acc.password));
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].number.as_str(), "300");
    assert_eq!(groups[0].members.iter().map(|m| m.as_str()).collect::<Vec<_>>(), vec!["202", "203"]);
    assert_eq!(groups[0].ring_timeout_secs, 20);
    c.send(BoxMessage::ConfigApplied(ConfigApplied { version: begin.version })).await;
    let box_id = id.0 as i64;
    eventually("applied version recorded", || async {
        rig.store.get_box(box_id).await.unwrap().config_applied_version == Some(i64::from(begin.version))
    })
    .await;
    // An extension added through the store: a newer version with it.
    rig.store
        .create_extension(
            rig.site,
            &NewExtension { number: "204".into(), sip_username: None, display_name: "New".into() },
            NOW,
        )
        .await
        .unwrap();
    let (b2, exts2, _) = c.config().await;
    assert!(b2.version > begin.version, "{} > {}", b2.version, begin.version);
    assert_eq!(exts2.iter().map(|e| e.number.as_str()).collect::<Vec<_>>(), vec!["201", "202", "203", "204"]);
    // One through the admin API.
    let api = app(AppState::new(rig.store.clone(), OPERATOR));
    let req = Request::builder()
        .method("POST")
        .uri(format!("/v1/sites/{}/extensions", rig.site))
        .header("authorization", format!("Bearer {OPERATOR}"))
        .header("content-type", "application/json")
        .body(Body::from(r#"{"number":"205","display_name":"From the API"}"#))
        .unwrap();
    assert_eq!(api.clone().oneshot(req).await.unwrap().status(), StatusCode::CREATED);
    let (b3, exts3, _) = c.config().await;
    assert!(b3.version > b2.version);
    assert_eq!(exts3.last().map(|e| (e.number.as_str(), e.display_name.as_str())), Some(("205", "From the API")));
    assert!(b3.fallback_trunk.is_none());
    // The school's fallback trunk for emergency calls in survival, set through the API, is
    // pushed with its credentials.
    let req = Request::builder()
        .method("PUT")
        .uri(format!("/v1/sites/{}/fallback-trunk", rig.site))
        .header("authorization", format!("Bearer {OPERATOR}"))
        .header("content-type", "application/json")
        .body(Body::from(r#"{"host":"192.168.1.20","port":5062,"username":"school","password":"s3cret"}"#))
        .unwrap();
    assert_eq!(api.clone().oneshot(req).await.unwrap().status(), StatusCode::OK);
    let (b4, _, _) = c.config().await;
    assert!(b4.version > b3.version);
    let trunk = b4.fallback_trunk.as_ref().expect("the trunk is pushed");
    assert_eq!((trunk.host.as_str(), trunk.port), ("192.168.1.20", 5062));
    let creds = trunk.credentials.as_ref().expect("with credentials");
    assert_eq!((creds.username.as_str(), creds.password.0.as_str()), ("school", "s3cret"));
    let b3 = b4;
    // A change to another school pushes nothing here.
    rig.store
        .create_extension(
            rig.other_site,
            &NewExtension { number: "209".into(), sip_username: None, display_name: "B".into() },
            NOW,
        )
        .await
        .unwrap();
    // Negative check: nothing may arrive within 600 ms (the versions are polled every 100 ms).
    assert!(c.try_recv(Duration::from_millis(600)).await.is_err(), "nothing for another site's change");
    // A rejection is recorded and shown by the admin API beside the applied version.
    c.send(BoxMessage::ConfigRejected(ConfigRejected {
        version: b3.version,
        reason: ConfigRejectReason::StorageFailed,
    }))
    .await;
    eventually("rejection recorded", || async { rig.store.get_box(box_id).await.unwrap().config_rejection.is_some() })
        .await;
    let (s, v) = api_get(&rig, &format!("/v1/boxes/{box_id}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["config_applied_version"], i64::from(begin.version));
    assert_eq!(v["config_rejection"], format!("version {}: StorageFailed", b3.version));
    // A box that already runs the current version gets no push on reconnect.
    drop(c);
    let mut c = Client::connect(link.local_addr()).await;
    assert!(matches!(c.authenticate(id, &cred, Some(b3.version)).await, CloudMessage::Authenticated(_)));
    // Negative check: no configuration may arrive within 600 ms.
    assert!(c.try_recv(Duration::from_millis(600)).await.is_err(), "no configuration for a box up to date");
    link.shutdown().await;
    rig.sip.shutdown();
}

pub(super) fn binding(aor_user: &str, contact: &str) -> Binding {
    Binding {
        aor: bounded(&format!("sip:{aor_user}@carillon")).unwrap(),
        contact: bounded(contact).unwrap(),
        expires_secs: 600,
        call_id: bounded("reg-1@box").unwrap(),
        cseq: 7,
    }
}

#[tokio::test]
async fn handed_back_bindings_route_a_call_over_the_boxs_sip_connection() {
    let rig = Rig::new(|_| {}).await;
    let link = start(&rig, |_| {}).await;
    let (id, _, mut c) = online(&rig, &link).await;
    // The box's own SIP connection to the switch.
    let mut box_sip = TcpStream::connect(rig.sip.tcp_addr()).await.unwrap();
    box_sip.write_all(b"\r\n\r\n").await.unwrap();
    let mut pong = [0u8; 2];
    tokio::time::timeout(WAIT, box_sip.read_exact(&mut pong)).await.unwrap().unwrap();
    let acc = rig.account("202");
    let foreign = rig.account("85678201");
    let mut bindings = heapless_bindings();
    bindings.push(binding(&acc.username, "<sip:202@10.1.1.2:5060>")).unwrap();
    bindings.push(binding(&foreign.username, "sip:201@10.1.1.9:5060")).unwrap();
    c.send(BoxMessage::Bindings(BindingBatch { batch_id: 41, bindings })).await;
    assert_eq!(c.recv().await, CloudMessage::BindingsAck(carillon_protocol::control::BindingsAck { batch_id: 41 }));
    // 202 is reached through the box's SIP connection; another school's phone is not taken.
    let found = rig.sip.location().lookup(&acc.username, NOW);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].contact, "sip:202@10.1.1.2:5060");
    assert_eq!(found[0].flow.remote, box_sip.local_addr().unwrap());
    assert_eq!(link.box_sip_flow(id.0 as i64), Some(found[0].flow));
    assert!(found[0].path[0].starts_with(&format!("<sip:box-{}@", id.0)), "{:?}", found[0].path);
    assert!(rig.sip.location().lookup(&foreign.username, NOW).is_empty());
    // A call from 201 to 202 arrives on the box's SIP connection.
    let caller = Phone::new(rig.sip.udp_addr()).await;
    let a201 = rig.account("201");
    let (uri, a) = ("sip:202@carillon", caller.addr());
    caller.send(&request("INVITE", uri, a, &a201.username, "202", "bx1", 1, "bx1i1", "")).await;
    let ch = caller.expect("SIP/2.0 407").await;
    caller.send(&request("ACK", uri, a, &a201.username, "202", "bx1", 1, "bx1i1", "")).await;
    let auth = answer(&ch, "Proxy-Authenticate", &a201, "INVITE", uri);
    caller
        .send(&request(
            "INVITE",
            uri,
            a,
            &a201.username,
            "202",
            "bx1",
            2,
            "bx1i2",
            &format!("Proxy-Authorization: {auth}\r\n"),
        ))
        .await;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("\r\n\r\n") {
        let n = tokio::time::timeout(WAIT, box_sip.read(&mut buf)).await.expect("INVITE within 5 s").unwrap();
        assert!(n > 0, "the SIP connection stays open");
        got.extend_from_slice(&buf[..n]);
    }
    let inv = String::from_utf8_lossy(&got).into_owned();
    assert!(inv.starts_with("INVITE sip:202@10.1.1.2:5060 SIP/2.0"), "{inv}");
    assert!(header(&inv, "Route").unwrap().starts_with(&format!("<sip:box-{}@", id.0)), "{inv}");
    link.shutdown().await;
    rig.sip.shutdown();
}

pub(super) fn heapless_bindings() -> heapless::Vec<Binding, 4> {
    heapless::Vec::new()
}

#[tokio::test]
async fn without_the_boxs_sip_connection_bindings_are_not_acknowledged() {
    let rig = Rig::new(|_| {}).await;
    let link = start(&rig, |c| c.sip_flow_wait_ms = 300).await;
    let (_, _, mut c) = online(&rig, &link).await;
    let acc = rig.account("203");
    let mut bindings = heapless_bindings();
    bindings.push(binding(&acc.username, "sip:203@10.1.1.3")).unwrap();
    c.send(BoxMessage::Bindings(BindingBatch { batch_id: 1, bindings: bindings.clone() })).await;
    // The session handles frames in order: the Pong comes once batch 1's wait for a SIP
    // connection has run out, and comes first (batch 1 was not acknowledged).
    c.send(BoxMessage::Ping(Ping { nonce: 4 })).await;
    assert_eq!(c.recv().await, CloudMessage::Pong(Pong { nonce: 4 }));
    // Two SIP connections from the box's address: ambiguous, also not acknowledged.
    let s1 = TcpStream::connect(rig.sip.tcp_addr()).await.unwrap();
    let s2 = TcpStream::connect(rig.sip.tcp_addr()).await.unwrap();
    let (a1, a2) = (s1.local_addr().unwrap(), s2.local_addr().unwrap());
    let sip = rig.sip.handle();
    eventually("both SIP connections in the server's table", || async {
        let flows = sip.stream_flows();
        flows.iter().any(|f| f.remote == a1) && flows.iter().any(|f| f.remote == a2)
    })
    .await;
    c.send(BoxMessage::Bindings(BindingBatch { batch_id: 2, bindings })).await;
    c.send(BoxMessage::Ping(Ping { nonce: 5 })).await;
    // The next answer is the Pong: neither batch was acknowledged, nothing was imported.
    assert_eq!(c.recv().await, CloudMessage::Pong(Pong { nonce: 5 }));
    assert!(rig.sip.location().lookup(&acc.username, NOW).is_empty());
    link.shutdown().await;
    rig.sip.shutdown();
}

fn record(box_id: BoxId, seq: u64) -> CallRecord {
    let start = NOW as u64 + seq * 100;
    CallRecord {
        box_id,
        seq,
        caller: bounded("201").unwrap(),
        callee: bounded("025551234").unwrap(),
        start: UnixTime { secs: start, millis: 0 },
        answer: Some(UnixTime { secs: start + 5, millis: 0 }),
        end: UnixTime { secs: start + 65, millis: 0 },
        outcome: CallOutcome::Answered,
        duration_ms: 60_000,
        mode: Mode::Survival,
    }
}

fn records(box_id: BoxId, seqs: std::ops::RangeInclusive<u64>) -> BoxMessage {
    let mut b = CallRecordBatch::new();
    for s in seqs {
        b.push(record(box_id, s)).unwrap();
    }
    BoxMessage::CallRecords(b)
}

async fn stored_seqs(rig: &Rig, box_id: BoxId) -> Vec<i64> {
    let page = rig
        .store
        .list_records(&RecordFilter { site_id: Some(rig.site), ..Default::default() }, None, 100)
        .await
        .unwrap();
    let mut seqs: Vec<i64> =
        page.records.iter().filter(|r| r.box_id == Some(box_id.0 as i64)).filter_map(|r| r.box_seq).collect();
    seqs.sort_unstable();
    seqs
}

fn ack(up_to_seq: u64) -> CloudMessage {
    CloudMessage::CallRecordsAck(carillon_protocol::control::CallRecordsAck { up_to_seq })
}

#[tokio::test]
async fn call_records_are_stored_exactly_once_over_the_socket() {
    let rig = Rig::new(|_| {}).await;
    let link = start(&rig, |_| {}).await;
    let (id, cred, mut c) = online(&rig, &link).await;
    // The same batch twice.
    c.send(records(id, 1..=4)).await;
    assert_eq!(c.recv().await, ack(4));
    c.send(records(id, 1..=4)).await;
    assert_eq!(c.recv().await, ack(4));
    assert_eq!(stored_seqs(&rig, id).await, vec![1, 2, 3, 4]);
    // A batch cut in the middle of its frame by a broken link, then sent again whole.
    let mut frame = [0u8; MAX_FRAME_LEN];
    let n = encode_frame(&records(id, 5..=8), &mut frame).unwrap();
    c.send_raw(&frame[..n / 2]).await;
    drop(c);
    let mut c = Client::connect(link.local_addr()).await;
    assert_eq!(
        c.authenticate(id, &cred, None).await,
        CloudMessage::Authenticated(Authenticated { records_stored_up_to: 4 })
    );
    c.config().await;
    c.send(records(id, 5..=8)).await;
    assert_eq!(c.recv().await, ack(8));
    // The first half of a batch got through, then the batch again whole.
    c.send(records(id, 9..=10)).await;
    assert_eq!(c.recv().await, ack(10));
    c.send(records(id, 9..=12)).await;
    assert_eq!(c.recv().await, ack(12));
    assert_eq!(stored_seqs(&rig, id).await, (1..=12).collect::<Vec<_>>());
    // A gap: stored, but the mark waits for the missing record.
    c.send(records(id, 14..=15)).await;
    assert_eq!(c.recv().await, ack(12));
    c.send(records(id, 13..=13)).await;
    assert_eq!(c.recv().await, ack(15));
    // A record the store refuses (answered without an answer time): the mark stays.
    let mut bad = record(id, 16);
    bad.answer = None;
    let mut b = CallRecordBatch::new();
    b.push(bad).unwrap();
    c.send(BoxMessage::CallRecords(b)).await;
    assert_eq!(c.recv().await, ack(15));
    assert_eq!(stored_seqs(&rig, id).await.len(), 15);
    // A record of another box is a protocol violation.
    c.send(records(BoxId(id.0 + 100), 16..=16)).await;
    assert_eq!(c.until_closed().await, vec![goodbye(GoodbyeReason::ProtocolViolation)]);
    assert_eq!(stored_seqs(&rig, id).await.len(), 15);
    link.shutdown().await;
    rig.sip.shutdown();
}

fn status(mode: Mode, survival_secs: u64, uptime_secs: u64) -> BoxMessage {
    BoxMessage::Status(StatusReport {
        mode,
        survival_secs,
        uptime_secs,
        firmware: FirmwareVersion { major: 1, minor: 3, patch: 0 },
        config_version: None,
        counters: Default::default(),
    })
}

#[tokio::test]
async fn box_status_counts_survival_once_and_goes_offline_on_disconnect() {
    let rig = Rig::new(|_| {}).await;
    let link = start(&rig, |_| {}).await;
    let (id, cred, mut c) = online(&rig, &link).await;
    let box_id = id.0 as i64;
    let (s, v) = api_get(&rig, &format!("/v1/boxes/{box_id}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!((v["online"].as_bool(), v["firmware_version"].as_str()), (Some(true), Some("1.2.3")));
    c.send(status(Mode::Survival, 30, 100)).await;
    c.send(status(Mode::Survival, 30, 110)).await;
    c.send(status(Mode::Online, 50, 200)).await;
    // A Ping answered proves the three were handled (in order, one session).
    c.send(BoxMessage::Ping(Ping { nonce: 9 })).await;
    assert_eq!(c.recv().await, CloudMessage::Pong(Pong { nonce: 9 }));
    let (_, v) = api_get(&rig, &format!("/v1/boxes/{box_id}")).await;
    assert_eq!(v["survival_secs"], 50);
    assert_eq!(v["mode"], "online");
    assert_eq!(v["firmware_version"], "1.3.0");
    // Disconnect: offline.
    drop(c);
    eventually("offline after disconnect", || async { !rig.store.get_box(box_id).await.unwrap().online }).await;
    assert!(link.connected_boxes().is_empty());
    // Same boot over a new connection adds nothing new; after a reboot the count starts again.
    let mut c = Client::connect(link.local_addr()).await;
    assert!(matches!(c.authenticate(id, &cred, None).await, CloudMessage::Authenticated(_)));
    c.config().await;
    c.send(status(Mode::Online, 50, 260)).await;
    c.send(status(Mode::Survival, 10, 20)).await;
    c.send(BoxMessage::Ping(Ping { nonce: 10 })).await;
    assert_eq!(c.recv().await, CloudMessage::Pong(Pong { nonce: 10 }));
    let info = rig.store.get_box(box_id).await.unwrap();
    assert_eq!((info.online, info.survival_secs, info.mode.as_deref()), (true, 60, Some("survival")));
    link.shutdown().await;
    eventually("offline after shutdown", || async { !rig.store.get_box(box_id).await.unwrap().online }).await;
    rig.sip.shutdown();
}

#[tokio::test]
async fn garbage_and_oversize_frames_close_only_their_own_connection() {
    let rig = Rig::new(|_| {}).await;
    let link = start(&rig, |_| {}).await;
    let (_, _, mut good) = online(&rig, &link).await;
    // Bytes that are no frame (bad CRC) after a valid Hello.
    let mut bad = Client::connect(link.local_addr()).await;
    bad.hello().await;
    bad.send_raw(&[0x05, 0x11, 0x22, 0x33, 0x44, 0x00]).await;
    assert_eq!(bad.until_closed().await, vec![goodbye(GoodbyeReason::ProtocolViolation)]);
    // A frame longer than any control message, before Hello.
    let mut big = Client::connect(link.local_addr()).await;
    big.send_raw(&[0x7f; 5000]).await;
    assert_eq!(big.until_closed().await, vec![goodbye(GoodbyeReason::ProtocolViolation)]);
    // A frame with a good CRC holding no box message (a variant index boxes do not have).
    let mut odd = Client::connect(link.local_addr()).await;
    let mut buf = [0u8; MAX_FRAME_LEN];
    let n = encode_frame(&goodbye(GoodbyeReason::Shutdown), &mut buf).unwrap();
    odd.hello().await;
    odd.send_raw(&buf[..n]).await;
    assert_eq!(odd.until_closed().await, vec![goodbye(GoodbyeReason::ProtocolViolation)]);
    // The good box is untouched.
    good.send(BoxMessage::Ping(Ping { nonce: 3 })).await;
    assert_eq!(good.recv().await, CloudMessage::Pong(Pong { nonce: 3 }));
    link.shutdown().await;
    rig.sip.shutdown();
}

#[tokio::test]
async fn limits_connection_cap_handshake_and_idle_timeouts_ping_and_replacement() {
    let rig = Rig::new(|_| {}).await;
    let link = start(&rig, |c| {
        c.max_connections = 2;
        c.handshake_timeout_secs = 1;
        c.ping_interval_secs = 1;
        c.idle_timeout_secs = 3;
    })
    .await;
    let (id, cred, mut a) = online(&rig, &link).await;
    let box_id = id.0 as i64;
    // A second connection that never says Hello holds the last slot until its handshake times out.
    // The enrollment's connection (closed by `online`) gives its slot back once the link has
    // seen it close: wait (bounded) for that, and for the silent one to take the slot.
    eventually("only the box's own connection open", || async { link.open_connections() == 1 }).await;
    let mut silent = Client::connect(link.local_addr()).await;
    eventually("the silent connection holds the last slot", || async { link.open_connections() == 2 }).await;
    let mut over = Client::connect(link.local_addr()).await;
    assert_eq!(over.until_closed().await, vec![goodbye(GoodbyeReason::Shutdown)], "over the limit");
    let t0 = tokio::time::Instant::now();
    assert!(silent.until_closed().await.is_empty());
    assert!(t0.elapsed() < Duration::from_secs(3));
    // The authenticated box is pinged when silent, and stays while it answers.
    for _ in 0..2 {
        let CloudMessage::Ping(p) = a.recv().await else { panic!("Ping expected") };
        a.send(BoxMessage::Pong(Pong { nonce: p.nonce })).await;
    }
    assert!(rig.store.get_box(box_id).await.unwrap().online);
    // A second connection of the same box replaces the first.
    let mut b = Client::connect(link.local_addr()).await;
    assert!(matches!(b.authenticate(id, &cred, None).await, CloudMessage::Authenticated(_)));
    let seen = a.until_closed().await;
    assert_eq!(seen.last(), Some(&goodbye(GoodbyeReason::Replaced)), "{seen:?}");
    assert!(rig.store.get_box(box_id).await.unwrap().online, "the new connection keeps it online");
    // Silent past the idle timeout (Pings unanswered): closed, offline.
    let seen = b.until_closed().await;
    assert!(seen.iter().any(|m| matches!(m, CloudMessage::Ping(_))), "{seen:?}");
    eventually("offline after idle", || async { !rig.store.get_box(box_id).await.unwrap().online }).await;
    link.shutdown().await;
    rig.sip.shutdown();
}
