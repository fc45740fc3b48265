//! The SIP server from the outside, over real sockets on 127.0.0.1 with a small UDP client:
//! pipeline answers, registrar, Path, routing answers and call records, forking outcomes,
//! TCP/TLS and connection limits.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use carillon_cloud::model::{Outcome, RecordFilter};
use carillon_cloud::sip::{Flow, HandedBinding};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::common::{wait_for_records, wait_until, NOW, SETTLE};
use super::sip_util::*;

fn bare(method: &str, uri: &str, from: std::net::SocketAddr, extra: &str) -> String {
    format!(
        "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bKx{n}\r\nFrom: <sip:a@b>;tag=1\r\n\
         To: <sip:c@d>\r\nCall-ID: bare-{n}\r\nCSeq: 1 {method}\r\n{extra}Content-Length: 0\r\n\r\n",
        n = rand_n()
    )
}

fn rand_n() -> u64 {
    use std::sync::atomic::AtomicU64;
    static N: AtomicU64 = AtomicU64::new(1);
    N.fetch_add(1, Ordering::Relaxed)
}

#[tokio::test]
async fn pipeline_answers_bad_and_refused_requests() {
    let rig = Rig::new(|c| c.max_message_len = 1500).await;
    let p = Phone::new(rig.sip.udp_addr()).await;
    let a = p.addr();
    // validate(): a missing Call-ID.
    p.send(&format!(
        "OPTIONS sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCSeq: 1 OPTIONS\r\n\r\n"
    ))
    .await;
    let r = p.recv().await;
    assert!(r.starts_with("SIP/2.0 400 Bad Request (missing Call-ID header)"), "{r}");
    // Version.
    p.send(&bare("OPTIONS", "sip:x@y", a, "").replace("SIP/2.0\r\n", "SIP/3.0\r\n")).await;
    assert!(p.recv().await.starts_with("SIP/2.0 505"));
    // Over the size limit: 513.
    p.send(&bare("OPTIONS", "sip:x@y", a, &format!("X-Pad: {}\r\n", "x".repeat(2000)))).await;
    assert!(p.recv().await.starts_with("SIP/2.0 513 Message Too Large"));
    // Proxy checks: 483, 416, 420 with Unsupported.
    p.send(&bare("OPTIONS", "sip:x@y", a, "Max-Forwards: 0\r\n")).await;
    assert!(p.recv().await.starts_with("SIP/2.0 483 Too Many Hops"));
    p.send(&bare("OPTIONS", "mailto:x@y", a, "")).await;
    assert!(p.recv().await.starts_with("SIP/2.0 416"));
    p.send(&bare("OPTIONS", "sip:x@y", a, "Proxy-Require: foo\r\n")).await;
    let r = p.recv().await;
    assert!(r.starts_with("SIP/2.0 420"));
    assert_eq!(header(&r, "Unsupported"), Some("foo"));
    // A well-formed OPTIONS is answered; an unknown method gets 405 with Allow.
    p.send(&bare("OPTIONS", "sip:x@y", a, "")).await;
    assert!(p.recv().await.starts_with("SIP/2.0 200"));
    p.send(&bare("PUBLISH", "sip:x@y", a, "")).await;
    let r = p.recv().await;
    assert!(r.starts_with("SIP/2.0 405") && header(&r, "Allow").is_some(), "{r}");
    // Garbage and keep-alives get nothing, and the server still answers afterwards.
    p.send("\r\n\r\n").await;
    p.send("NOT SIP AT ALL").await;
    p.send(&bare("OPTIONS", "sip:x@y", a, "")).await;
    assert!(p.recv().await.starts_with("SIP/2.0 200"));
    rig.sip.shutdown();
}

#[tokio::test]
async fn registrar_challenges_binds_refreshes_and_removes() {
    let rig = Rig::new(|_| {}).await;
    let p = Phone::new(rig.sip.udp_addr()).await;
    let acc = rig.account("201");
    let uri = "sip:carillon";
    let a = p.addr();
    let u = &acc.username;
    // No credentials: 401 with an MD5 challenge.
    p.send(&request("REGISTER", uri, a, u, u, "r1", 1, "a1", "")).await;
    let ch = p.expect("SIP/2.0 401").await;
    assert!(header(&ch, "WWW-Authenticate").unwrap().contains("algorithm=MD5"));
    // The same REGISTER again (a retransmission) gets the very same answer.
    p.send(&request("REGISTER", uri, a, u, u, "r1", 1, "a1", "")).await;
    assert_eq!(p.recv().await, ch);
    // Wrong password: 403.
    let wrong = Account { password: "nope".into(), ..acc.clone() };
    let bad = answer(&ch, "WWW-Authenticate", &wrong, "REGISTER", uri);
    p.send(&request("REGISTER", uri, a, u, u, "r1", 2, "a2", &format!("Authorization: {bad}\r\n"))).await;
    assert!(p.recv().await.starts_with("SIP/2.0 403"));
    // Right: 200 with the binding and its granted expiry (default 3600), and a Date.
    let good = answer(&ch, "WWW-Authenticate", &acc, "REGISTER", uri);
    let auth = format!("Authorization: {good}\r\n");
    p.send(&request("REGISTER", uri, a, u, u, "r1", 3, "a3", &auth)).await;
    let ok = p.recv().await;
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    assert!(header(&ok, "Contact").unwrap().ends_with(";expires=3600"), "{ok}");
    assert!(header(&ok, "Date").unwrap().ends_with("GMT"));
    assert_eq!(rig.sip.location().lookup(u, NOW).len(), 1);
    // Too brief: 423 with Min-Expires; too long: cut to the maximum.
    p.send(&request("REGISTER", uri, a, u, u, "r1", 4, "a4", &format!("{auth}Expires: 10\r\n"))).await;
    let r = p.recv().await;
    assert!(r.starts_with("SIP/2.0 423"));
    assert_eq!(header(&r, "Min-Expires"), Some("60"));
    p.send(&request("REGISTER", uri, a, u, u, "r1", 5, "a5", &format!("{auth}Expires: 99999\r\n"))).await;
    assert!(header(&p.recv().await, "Contact").unwrap().ends_with(";expires=7200"));
    // A To that is not the authenticated user: 403.
    p.send(&request("REGISTER", uri, a, u, "someone-else", "r1", 6, "a6", &auth)).await;
    assert!(p.recv().await.starts_with("SIP/2.0 403"));
    // `Contact: *` without Expires: 0 is a 400; with it, every binding goes.
    let star = |cseq: u32, b: &str, exp: &str| {
        request("REGISTER", uri, a, u, u, "r1", cseq, b, &format!("{auth}{exp}"))
            .replace(&format!("Contact: <sip:{u}@{a}>\r\n"), "Contact: *\r\n")
    };
    p.send(&star(7, "a7", "")).await;
    assert!(p.recv().await.starts_with("SIP/2.0 400"));
    p.send(&star(8, "a8", "Expires: 0\r\n")).await;
    let r = p.recv().await;
    assert!(r.starts_with("SIP/2.0 200") && header(&r, "Contact").is_none(), "{r}");
    assert!(rig.sip.location().lookup(u, NOW).is_empty());
    // Later than the nonce lifetime, the same (correct) credentials are stale.
    rig.clock.0.store(NOW + 400, Ordering::Relaxed);
    p.send(&request("REGISTER", uri, a, u, u, "r1", 9, "a9", &auth)).await;
    let r = p.recv().await;
    assert!(r.starts_with("SIP/2.0 401"));
    assert!(header(&r, "WWW-Authenticate").unwrap().to_ascii_lowercase().contains("stale=true"), "{r}");
    // A binding expires with the clock.
    let ok = register(&p, &acc, "Expires: 60\r\n").await;
    assert!(ok.contains("expires=60"));
    assert!(rig.sip.location().lookup(u, NOW + 470).is_empty());
    rig.sip.shutdown();
}

/// Calls 202 from 201 and returns the INVITE as 202's side (`callee`) gets it.
async fn call_from_101(rig: &Rig, caller: &Phone, dialled: &str, call_id: &str) -> String {
    let acc = rig.account("201");
    let uri = format!("sip:{dialled}@carillon");
    let a = caller.addr();
    caller.send(&request("INVITE", &uri, a, &acc.username, dialled, call_id, 1, &format!("{call_id}i1"), "")).await;
    let ch = caller.expect("SIP/2.0 407").await;
    caller.send(&request("ACK", &uri, a, &acc.username, dialled, call_id, 1, &format!("{call_id}i1"), "")).await;
    let auth = answer(&ch, "Proxy-Authenticate", &acc, "INVITE", &uri);
    caller
        .send(&request(
            "INVITE",
            &uri,
            a,
            &acc.username,
            dialled,
            call_id,
            2,
            &format!("{call_id}i2"),
            &format!("Proxy-Authorization: {auth}\r\n"),
        ))
        .await;
    caller.expect("SIP/2.0 100").await
}

#[tokio::test]
async fn unknown_and_unregistered_numbers_are_refused_and_recorded() {
    let rig = Rig::new(|_| {}).await;
    let caller = Phone::new(rig.sip.udp_addr()).await;
    call_from_101(&rig, &caller, "999", "c404").await;
    assert!(caller.expect("SIP/2.0 4").await.starts_with("SIP/2.0 404"));
    call_from_101(&rig, &caller, "203", "c480").await;
    assert!(caller.expect("SIP/2.0 4").await.starts_with("SIP/2.0 480"));
    // On-net to an unknown site code.
    call_from_101(&rig, &caller, "89999101", "cnet").await;
    assert!(caller.expect("SIP/2.0 4").await.starts_with("SIP/2.0 404"));
    // Records are written by the call's task after the answer goes out: wait (bounded) for all
    // three, and compare without depending on the order of writes that share one timestamp.
    let page =
        wait_for_records(&rig.store, &RecordFilter { site_id: Some(rig.site), ..Default::default() }, 3, SETTLE).await;
    let mut callees: Vec<_> = page.records.iter().map(|r| (r.callee.as_str(), r.outcome)).collect();
    callees.sort_by(|a, b| a.0.cmp(b.0));
    assert_eq!(callees, vec![("203", Outcome::Failed), ("89999101", Outcome::Failed), ("999", Outcome::Failed)]);
    assert!(page.records.iter().all(|r| r.caller == "201" && r.started_at == NOW));
    rig.sip.shutdown();
}

#[tokio::test]
async fn a_binding_behind_a_box_is_reached_through_its_path_and_busy_passes_through() {
    let rig = Rig::new(|_| {}).await;
    let boxp = Phone::new(rig.sip.udp_addr()).await;
    let b = boxp.addr();
    let acc = rig.account("202");
    // The box forwards the phone's REGISTER with its Path; the contact is a LAN address.
    let path = format!("Path: <sip:box@{b};lr>\r\nSupported: path\r\n");
    let ok = register(&boxp, &acc, &path).await;
    assert_eq!(header(&ok, "Path"), Some(format!("<sip:box@{b};lr>").as_str()));
    let binding = &rig.sip.location().lookup(&acc.username, NOW)[0];
    assert_eq!(binding.path, vec![format!("<sip:box@{b};lr>")]);
    let caller = Phone::new(rig.sip.udp_addr()).await;
    call_from_101(&rig, &caller, "202", "cbox").await;
    // The INVITE reaches the box, routed by the Path, Record-Routed by the switch.
    let inv = boxp.expect("INVITE").await;
    assert!(inv.starts_with(&format!("INVITE sip:{}@{b} SIP/2.0", acc.username)), "{inv}");
    assert_eq!(header(&inv, "Route"), Some(format!("<sip:box@{b};lr>").as_str()));
    assert!(header(&inv, "Record-Route").unwrap().contains(";lr;fa="));
    assert!(header(&inv, "Proxy-Authorization").is_none(), "credentials for us are not forwarded");
    // Busy passes through to the caller, the switch ACKs the box, and the call is recorded.
    boxp.send(&reply(&inv, 486, "Busy Here", b)).await;
    assert!(caller.expect("SIP/2.0 4").await.starts_with("SIP/2.0 486"));
    assert!(boxp.expect("ACK").await.contains("CSeq: 2 ACK"));
    // Bindings handed back by a box after an outage are reached the same way.
    let acc3 = rig.account("203");
    let n = rig.sip.import_bindings(
        Flow::udp(b),
        &[HandedBinding {
            username: acc3.username.clone(),
            contact: "sip:203@10.9.9.9:5060".into(),
            path: vec![format!("<sip:box@{b};lr>")],
            expires_at: NOW + 600,
        }],
    );
    assert_eq!(n, 1);
    call_from_101(&rig, &caller, "203", "cbox2").await;
    let inv = boxp.expect("INVITE").await;
    assert!(inv.starts_with("INVITE sip:203@10.9.9.9:5060 SIP/2.0"), "{inv}");
    boxp.send(&reply(&inv, 486, "Busy Here", b)).await;
    caller.expect("SIP/2.0 486").await;
    // Both records are written by the calls' tasks after the 486 goes out.
    let page = wait_for_records(&rig.store, &RecordFilter::default(), 2, SETTLE).await;
    assert_eq!(page.records.iter().filter(|r| r.outcome == Outcome::Busy).count(), 2);
    rig.sip.shutdown();
}

#[tokio::test]
async fn answered_call_routes_in_dialog_and_records_at_bye_unanswered_times_out() {
    let rig = Rig::new(|c| c.ring_timeout_secs = 1).await;
    let callee = Phone::new(rig.sip.udp_addr()).await;
    register(&callee, &rig.account("202"), "").await;
    let caller = Phone::new(rig.sip.udp_addr()).await;
    call_from_101(&rig, &caller, "202", "cans").await;
    let inv = callee.expect("INVITE").await;
    callee.send(&reply(&inv, 180, "Ringing", callee.addr())).await;
    assert!(caller.expect("SIP/2.0 180").await.contains("Record-Route"));
    rig.clock.0.store(NOW + 5, Ordering::Relaxed);
    callee.send(&reply(&inv, 200, "OK", callee.addr())).await;
    let ok = caller.expect("SIP/2.0 200").await;
    let rr = header(&ok, "Record-Route").unwrap().to_owned();
    assert_eq!(rig.sip.active_calls(), 1);
    // BYE from the caller along the route set reaches the callee; its 200 comes back.
    rig.clock.0.store(NOW + 65, Ordering::Relaxed);
    let a = caller.addr();
    let bye = request(
        "BYE",
        &format!("sip:uas@{}", callee.addr()),
        a,
        "201",
        "202",
        "cans",
        3,
        "bye1",
        &format!("Route: {rr}\r\n"),
    )
    .replace("To: <sip:202@carillon>", "To: <sip:202@carillon>;tag=uas1");
    caller.send(&bye).await;
    let got = callee.expect("BYE").await;
    assert!(header(&got, "Route").is_none(), "the switch removed its own Route");
    callee.send(&reply(&got, 200, "OK", callee.addr())).await;
    caller.expect("SIP/2.0 200").await;
    // No answer within the ring timeout: 480 upstream, CANCEL downstream.
    call_from_101(&rig, &caller, "202", "cnoans").await;
    let inv = callee.expect("INVITE").await;
    callee.send(&reply(&inv, 180, "Ringing", callee.addr())).await;
    let fail = caller.expect("SIP/2.0 4").await;
    assert!(fail.starts_with("SIP/2.0 480"), "{fail}");
    let cancel = callee.expect("CANCEL").await;
    callee.send(&reply(&cancel, 200, "OK", callee.addr())).await;
    callee.send(&reply(&inv, 487, "Request Terminated", callee.addr())).await;
    callee.expect("ACK").await;
    // The answered call's record (at BYE) and the unanswered one's are written after the answers.
    let recs = wait_for_records(&rig.store, &RecordFilter::default(), 2, SETTLE).await.records;
    let answered = recs.iter().find(|r| r.outcome == Outcome::Answered).expect("answered record");
    assert_eq!(
        (answered.started_at, answered.answered_at, answered.ended_at, answered.duration_secs),
        (NOW, Some(NOW + 5), NOW + 65, 60)
    );
    assert!(recs.iter().any(|r| r.outcome == Outcome::NoAnswer));
    assert_eq!(rig.sip.active_calls(), 0);
    rig.sip.shutdown();
}

#[tokio::test]
async fn caller_cancel_gets_487_and_a_cancelled_record() {
    let rig = Rig::new(|_| {}).await;
    let callee = Phone::new(rig.sip.udp_addr()).await;
    register(&callee, &rig.account("202"), "").await;
    let caller = Phone::new(rig.sip.udp_addr()).await;
    call_from_101(&rig, &caller, "202", "ccan").await;
    let inv = callee.expect("INVITE").await;
    callee.send(&reply(&inv, 180, "Ringing", callee.addr())).await;
    caller.expect("SIP/2.0 180").await;
    let acc = rig.account("201");
    let cancel = request("CANCEL", "sip:202@carillon", caller.addr(), &acc.username, "202", "ccan", 2, "ccani2", "");
    caller.send(&cancel).await;
    caller.expect("SIP/2.0 200").await;
    assert!(caller.expect("SIP/2.0 487").await.contains("CSeq: 2 INVITE"));
    let c = callee.expect("CANCEL").await;
    callee.send(&reply(&c, 200, "OK", callee.addr())).await;
    let recs = wait_for_records(&rig.store, &RecordFilter::default(), 1, SETTLE).await.records;
    assert_eq!(recs.iter().map(|r| r.outcome).collect::<Vec<_>>(), vec![Outcome::Cancelled]);
    rig.sip.shutdown();
}

#[tokio::test]
async fn tcp_tls_and_the_connection_limit() {
    let dir = std::env::temp_dir().join(format!("carillon-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    std::fs::write(dir.join("cert.pem"), ck.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), ck.key_pair.serialize_pem()).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let rig = Rig::new(move |c| {
        c.max_connections = 2;
        c.tls = Some(carillon_cloud::sip::TlsConfig { listen: "127.0.0.1:0".parse().unwrap(), cert, key });
    })
    .await;
    // TCP: a REGISTER is challenged, a keep-alive is answered.
    let mut tcp = tokio::net::TcpStream::connect(rig.sip.tcp_addr()).await.unwrap();
    let a = tcp.local_addr().unwrap();
    let acc = rig.account("201");
    let reg = request("REGISTER", "sip:carillon", a, &acc.username, &acc.username, "tcp1", 1, "t1", "")
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    tcp.write_all(format!("\r\n\r\n{reg}").as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    while !String::from_utf8_lossy(&got).contains("SIP/2.0 401") {
        let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    assert!(got.starts_with(b"\r\nSIP/2.0 401"), "pong then the answer");
    // TLS: OPTIONS answered.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ck.cert.der().clone()).unwrap();
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let stream = tokio::net::TcpStream::connect(rig.sip.tls_addr().unwrap()).await.unwrap();
    let mut tls =
        connector.connect(rustls_pki_types::ServerName::try_from("localhost").unwrap(), stream).await.unwrap();
    tls.write_all(bare("OPTIONS", "sip:x@y", a, "").replace("SIP/2.0/UDP", "SIP/2.0/TLS").as_bytes()).await.unwrap();
    let n = tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf)).await.unwrap().unwrap();
    assert!(buf[..n].starts_with(b"SIP/2.0 200"), "{}", String::from_utf8_lossy(&buf[..n]));
    // A third connection is over the limit: its request gets 503 with Retry-After, then it closes.
    // First, both connections above hold their place in the server's connection table.
    let sip = rig.sip.handle();
    wait_until("both connections counted", SETTLE, || async { sip.stream_flows().len() == 2 }).await;
    let mut third = tokio::net::TcpStream::connect(rig.sip.tcp_addr()).await.unwrap();
    third.write_all(bare("OPTIONS", "sip:x@y", a, "").replace("SIP/2.0/UDP", "SIP/2.0/TCP").as_bytes()).await.unwrap();
    let mut all = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), third.read_to_end(&mut all)).await.unwrap();
    let text = String::from_utf8_lossy(&all);
    assert!(text.starts_with("SIP/2.0 503"), "{text}");
    assert_eq!(header(&text, "Retry-After"), Some("30"));
    rig.sip.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Reads one framed response (up to the empty line; our answers here carry no body).
async fn read_response(tcp: &mut tokio::net::TcpStream, pending: &mut Vec<u8>) -> String {
    let mut buf = vec![0u8; 4096];
    loop {
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let msg: Vec<u8> = pending.drain(..end + 4).collect();
            return String::from_utf8_lossy(&msg).into_owned();
        }
        let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "connection closed");
        pending.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test]
async fn the_transaction_table_holds_only_what_absorbs_retransmissions_and_answers_503_when_full() {
    let rig = Rig::new(|c| c.max_transactions = 3).await;
    // TCP: a non-INVITE transaction ends with its final answer (Timer J = 0), so ten requests
    // in a row through a table of three are all answered.
    let mut tcp = tokio::net::TcpStream::connect(rig.sip.tcp_addr()).await.unwrap();
    let a = tcp.local_addr().unwrap();
    let mut pending = Vec::new();
    for _ in 0..10 {
        tcp.write_all(bare("OPTIONS", "sip:x@y", a, "").replace("SIP/2.0/UDP", "SIP/2.0/TCP").as_bytes())
            .await
            .unwrap();
        let r = read_response(&mut tcp, &mut pending).await;
        assert!(r.starts_with("SIP/2.0 200"), "{r}");
    }
    assert_eq!(rig.sip.transactions().0, 0);
    // UDP: the registrar's challenges are stateless: ten unauthenticated REGISTERs, ten 401s.
    let p = Phone::new(rig.sip.udp_addr()).await;
    let acc = rig.account("201");
    for i in 0..10 {
        let reg = request(
            "REGISTER",
            "sip:carillon",
            p.addr(),
            &acc.username,
            &acc.username,
            "txfull",
            i + 1,
            &format!("txr{i}"),
            "",
        );
        p.send(&reg).await;
        let r = p.recv().await;
        assert!(r.starts_with("SIP/2.0 401"), "{r}");
    }
    assert_eq!(rig.sip.transactions().0, 0);
    // UDP OPTIONS: each answer is kept 32 s for retransmissions; the fourth finds the table
    // full and gets 503 with Retry-After.
    for _ in 0..3 {
        p.send(&bare("OPTIONS", "sip:x@y", p.addr(), "")).await;
        assert!(p.recv().await.starts_with("SIP/2.0 200"));
    }
    assert_eq!(rig.sip.transactions().0, 3);
    p.send(&bare("OPTIONS", "sip:x@y", p.addr(), "")).await;
    let r = p.recv().await;
    assert!(r.starts_with("SIP/2.0 503"), "{r}");
    assert_eq!(header(&r, "Retry-After"), Some("30"));
    rig.sip.shutdown();
}

#[tokio::test]
async fn a_malformed_header_line_is_answered_400_when_the_via_is_readable() {
    let rig = Rig::new(|_| {}).await;
    let p = Phone::new(rig.sip.udp_addr()).await;
    let a = p.addr();
    // UDP: the line without a colon is named in the reason; the rest of the request is answered
    // along its Via, with its Call-ID.
    let bad = bare("OPTIONS", "sip:x@y", a, "This line has no colon\r\n");
    p.send(&bad).await;
    let r = p.recv().await;
    assert!(
        r.starts_with("SIP/2.0 400 Bad Request (malformed header line: missing colon after the header name)"),
        "{r}"
    );
    assert_eq!(header(&r, "Call-ID"), header(&bad, "Call-ID"));
    // A malformed Via leaves nothing to answer along: silence, and the next request is the next answer.
    p.send(&bare("OPTIONS", "sip:x@y", a, "").replace("Via: SIP", "Via SIP")).await;
    let good = bare("OPTIONS", "sip:x@y", a, "");
    p.send(&good).await;
    let r = p.recv().await;
    assert!(r.starts_with("SIP/2.0 200") && header(&r, "Call-ID") == header(&good, "Call-ID"), "{r}");
    // TCP: answered 400 too, and the connection keeps its framing for the next request.
    let mut tcp = tokio::net::TcpStream::connect(rig.sip.tcp_addr()).await.unwrap();
    let a = tcp.local_addr().unwrap();
    let bad = bare("OPTIONS", "sip:x@y", a, "@bad: name\r\n").replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    let good = bare("OPTIONS", "sip:x@y", a, "").replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    tcp.write_all(format!("{bad}{good}").as_bytes()).await.unwrap();
    let mut pending = Vec::new();
    let r = read_response(&mut tcp, &mut pending).await;
    assert!(r.starts_with("SIP/2.0 400 Bad Request (malformed header line: header name is not a token)"), "{r}");
    let r = read_response(&mut tcp, &mut pending).await;
    assert!(r.starts_with("SIP/2.0 200") && header(&r, "Call-ID") == header(&good, "Call-ID"), "{r}");
    rig.sip.shutdown();
}

#[tokio::test]
async fn a_full_calls_table_answers_503_with_retry_after_and_records_the_refused_call() {
    let rig = Rig::new(|c| c.max_calls = 1).await;
    let callee = Phone::new(rig.sip.udp_addr()).await;
    register(&callee, &rig.account("202"), "").await;
    let caller = Phone::new(rig.sip.udp_addr()).await;
    // The one call the table holds: ringing.
    call_from_101(&rig, &caller, "202", "cfull1").await;
    let inv = callee.expect("INVITE").await;
    callee.send(&reply(&inv, 180, "Ringing", callee.addr())).await;
    caller.expect("SIP/2.0 180").await;
    assert_eq!(rig.sip.active_calls(), 1);
    // The next one is refused at once, and recorded.
    call_from_101(&rig, &caller, "202", "cfull2").await;
    let r = caller.expect("SIP/2.0 5").await;
    assert!(r.starts_with("SIP/2.0 503") && r.contains("cfull2"), "{r}");
    assert_eq!(header(&r, "Retry-After"), Some("30"));
    let recs = wait_for_records(&rig.store, &RecordFilter::default(), 1, SETTLE).await.records;
    assert_eq!(recs.len(), 1);
    assert_eq!((recs[0].caller.as_str(), recs[0].callee.as_str(), recs[0].outcome), ("201", "202", Outcome::Failed));
    assert_eq!(rig.sip.active_calls(), 1, "the refused call took no place");
    rig.sip.shutdown();
}

#[tokio::test]
async fn a_graceful_stop_records_the_calls_still_up_before_it_returns() {
    let rig = Rig::new(|_| {}).await;
    let callee = Phone::new(rig.sip.udp_addr()).await;
    register(&callee, &rig.account("202"), "").await;
    let caller = Phone::new(rig.sip.udp_addr()).await;
    call_from_101(&rig, &caller, "202", "cstop").await;
    let inv = callee.expect("INVITE").await;
    rig.clock.0.store(NOW + 5, Ordering::Relaxed);
    callee.send(&reply(&inv, 200, "OK", callee.addr())).await;
    caller.expect("SIP/2.0 200").await;
    assert_eq!(rig.sip.active_calls(), 1);
    rig.clock.0.store(NOW + 65, Ordering::Relaxed);
    let store = rig.store.clone();
    rig.sip.stop().await;
    // No waiting: the stop returns once the record is in the store.
    let recs = store.list_records(&RecordFilter::default(), None, 10).await.unwrap().records;
    assert_eq!(recs.len(), 1);
    assert_eq!((recs[0].outcome, recs[0].answered_at, recs[0].ended_at), (Outcome::Answered, Some(NOW + 5), NOW + 65));
}

/// Registers `number` over a TCP connection of its own; returns it with its unread bytes.
async fn tcp_phone(rig: &Rig, number: &str) -> (tokio::net::TcpStream, Vec<u8>) {
    let mut tcp = tokio::net::TcpStream::connect(rig.sip.tcp_addr()).await.unwrap();
    let a = tcp.local_addr().unwrap();
    let acc = rig.account(number);
    let call_id = format!("treg-{number}");
    let reg = |cseq: u32, extra: &str| {
        request(
            "REGISTER",
            "sip:carillon",
            a,
            &acc.username,
            &acc.username,
            &call_id,
            cseq,
            &format!("tr{cseq}"),
            extra,
        )
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP")
        .replace(&format!("@{a}>"), &format!("@{a};transport=tcp>"))
    };
    let mut pending = Vec::new();
    tcp.write_all(reg(1, "").as_bytes()).await.unwrap();
    let ch = read_response(&mut tcp, &mut pending).await;
    assert!(ch.starts_with("SIP/2.0 401"), "{ch}");
    let auth = answer(&ch, "WWW-Authenticate", &acc, "REGISTER", "sip:carillon");
    tcp.write_all(reg(2, &format!("Authorization: {auth}\r\n")).as_bytes()).await.unwrap();
    let ok = read_response(&mut tcp, &mut pending).await;
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    (tcp, pending)
}

#[tokio::test]
async fn a_call_whose_connection_is_lost_is_recorded_as_ended_then_unless_heard_from_again() {
    let rig = Rig::new(|_| {}).await;
    let sip = rig.sip.handle();
    let caller = Phone::new(rig.sip.udp_addr()).await;
    // 202 answers over its TCP connection at +5; the connection is lost at +30 (a box's uplink
    // cut: the school may finish the call in survival, and its BYE never reaches the cloud).
    let (mut tcp, mut pending) = tcp_phone(&rig, "202").await;
    call_from_101(&rig, &caller, "202", "lost1").await;
    let inv = read_response(&mut tcp, &mut pending).await;
    assert!(inv.starts_with("INVITE"), "{inv}");
    rig.clock.0.store(NOW + 5, Ordering::Relaxed);
    tcp.write_all(reply(&inv, 200, "OK", tcp.local_addr().unwrap()).as_bytes()).await.unwrap();
    caller.expect("SIP/2.0 200").await;
    rig.clock.0.store(NOW + 30, Ordering::Relaxed);
    drop(tcp);
    wait_until("the lost connection noticed", SETTLE, || async { sip.stream_flows().is_empty() }).await;
    // Within the grace nothing is recorded; past it, the call is recorded as ended at the loss.
    rig.clock.0.store(NOW + 89, Ordering::Relaxed);
    assert_eq!(rig.sip.active_calls(), 1);
    rig.clock.0.store(NOW + 91, Ordering::Relaxed);
    let recs = wait_for_records(&rig.store, &RecordFilter::default(), 1, Duration::from_secs(15)).await.records;
    assert_eq!(recs.len(), 1);
    assert_eq!((recs[0].outcome, recs[0].answered_at, recs[0].ended_at), (Outcome::Answered, Some(NOW + 5), NOW + 30));
    assert_eq!(rig.sip.active_calls(), 0);

    // 203's connection is lost too, but the caller's BYE reaches the call within the grace:
    // the call ends at that BYE, recorded once.
    let (mut tcp, mut pending) = tcp_phone(&rig, "203").await;
    rig.clock.0.store(NOW + 100, Ordering::Relaxed);
    call_from_101(&rig, &caller, "203", "lost2").await;
    let inv = read_response(&mut tcp, &mut pending).await;
    tcp.write_all(reply(&inv, 200, "OK", tcp.local_addr().unwrap()).as_bytes()).await.unwrap();
    let ok = caller.expect("SIP/2.0 200").await;
    let rr = header(&ok, "Record-Route").unwrap().to_owned();
    rig.clock.0.store(NOW + 110, Ordering::Relaxed);
    drop(tcp);
    wait_until("the second lost connection noticed", SETTLE, || async { sip.stream_flows().is_empty() }).await;
    rig.clock.0.store(NOW + 120, Ordering::Relaxed);
    let bye = request(
        "BYE",
        "sip:uas@127.0.0.1:9",
        caller.addr(),
        "201",
        "203",
        "lost2",
        3,
        "lost2b",
        &format!("Route: {rr}\r\n"),
    )
    .replace("To: <sip:203@carillon>", "To: <sip:203@carillon>;tag=uas1");
    caller.send(&bye).await;
    let recs = wait_for_records(&rig.store, &RecordFilter::default(), 2, SETTLE).await.records;
    let second = recs.iter().find(|r| r.callee.contains("203")).expect("the second call's record");
    assert_eq!((second.answered_at, second.ended_at), (Some(NOW + 100), NOW + 120));
    // Past the grace of the second loss, nothing more is recorded.
    rig.clock.0.store(NOW + 200, Ordering::Relaxed);
    tokio::time::timeout(Duration::from_secs(7), async {
        loop {
            if rig.store.list_records(&RecordFilter::default(), None, 10).await.unwrap().records.len() > 2 {
                panic!("a call recorded twice");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .unwrap_err();
    rig.sip.shutdown();
}
