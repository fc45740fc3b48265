//! Several cloud nodes on one database, in this test process, on 127.0.0.1: school 1234's
//! side on node 1, school 5678's box attached to node 2 (its SIP connection and control link
//! there). A call from 1234 to `8 5678 201` crosses from node 1 to node 2 and back, and is
//! recorded once. A node that dies stops being routed to; marks on inter-node requests are
//! trusted only from peers over TCP with the right MAC.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use carillon_cloud::boxlink::BoxLink;
use carillon_cloud::model::{NewBox, Outcome, RecordFilter};
use carillon_cloud::sip::{SipConfig, SipServer};
use carillon_cloud::store::NodePresence;
use carillon_cloud::{Store, StoreOptions};
use carillon_protocol::control::{
    Authenticated, BindingBatch, BindingsAck, BoxMessage, CloudMessage, EnrollRequest, EnrollmentToken,
};
use hmac::{Hmac, Mac};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::boxlink::{binding, heapless_bindings, link_config, Client, FW, WAIT};
use super::common::{self, wait_for_records, wait_until, NOW, SETTLE};
use super::sip_util::*;

const SECRET: &str = "shared-node-secret-for-tests";

fn is_postgres() -> bool {
    std::env::var("DATABASE_URL").is_ok_and(|u| u.starts_with("postgres"))
}

/// Two stores on one database: two pools on PostgreSQL; on SQLite in memory (one database per
/// pool) one store shared by both nodes.
async fn shared_stores() -> (Store, Store) {
    let url = common::database_url().await;
    let a = Store::connect(&url, StoreOptions::default()).await.unwrap();
    let b = if is_postgres() { Store::connect(&url, StoreOptions::default()).await.unwrap() } else { a.clone() };
    (a, b)
}

fn node(id: &'static str) -> impl FnOnce(&mut SipConfig) {
    move |c| {
        c.node_id = Some(id.into());
        c.nonce_secret = Some(SECRET.into());
        c.peer_nodes = vec!["127.0.0.1".parse().unwrap()];
    }
}

async fn start_node(store: Store, rig: &Rig, id: &'static str) -> SipServer {
    let mut cfg = SipConfig {
        udp: "127.0.0.1:0".parse().unwrap(),
        tcp: Some("127.0.0.1:0".parse().unwrap()),
        ..SipConfig::default()
    };
    node(id)(&mut cfg);
    SipServer::start(store, cfg, rig.clock.clone()).await.unwrap()
}

/// INVITEs `dialled` as 201 of school 1234 from `caller` (407, then with credentials);
/// returns the Call-ID's 100 Trying.
async fn invite(rig: &Rig, caller: &Phone, dialled: &str, call_id: &str) {
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
    caller.expect("SIP/2.0 100").await;
}

/// The next SIP message (without body) on a TCP stream, within 5 s; CRLF keep-alives skipped.
async fn read_sip(s: &mut TcpStream, buf: &mut Vec<u8>) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        while buf.starts_with(b"\r\n") {
            buf.drain(..2);
        }
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let msg: Vec<u8> = buf.drain(..end + 4).collect();
            return String::from_utf8_lossy(&msg).into_owned();
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout_at(deadline, s.read(&mut chunk)).await.expect("a SIP message within 5 s").unwrap();
        assert!(n > 0, "the SIP connection stays open");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Every value of header `name`, in order.
fn all_headers(msg: &str, name: &str) -> Vec<String> {
    msg.split("\r\n")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_owned())
        .collect()
}

#[tokio::test]
async fn a_call_from_a_school_on_node_1_to_a_school_whose_box_is_on_node_2_connects_and_is_recorded_once() {
    if !is_postgres() {
        eprintln!("SKIPPED: the two-node test needs DATABASE_URL=postgres://... (scripts/postgres-test.sh runs it)");
        return;
    }
    let (s1, s2) = shared_stores().await;
    let rig = Rig::with_store(s1, node("n1")).await; // node 1 + the directory
    let n2 = start_node(s2.clone(), &rig, "n2").await;
    // School 5678's box attaches to node 2: control link, then its own SIP connection.
    let link = BoxLink::start(s2.clone(), Some(n2.handle()), link_config(), rig.clock.clone()).await.unwrap();
    let issued = s2
        .create_box(rig.other_site, &NewBox { name: "box B".into(), enrollment_ttl_secs: None }, 3600, NOW)
        .await
        .unwrap();
    let mut c = Client::connect(link.local_addr()).await;
    c.hello().await;
    let wire = EnrollmentToken::new(issued.enrollment_token.strip_prefix("ce_").unwrap()).unwrap();
    c.send(BoxMessage::Enroll(EnrollRequest { token: wire, firmware: FW })).await;
    let CloudMessage::Enrolled(e) = c.recv().await else { panic!("Enrolled expected") };
    let mut c = Client::connect(link.local_addr()).await;
    assert_eq!(
        c.authenticate(e.box_id, &e.credential, None).await,
        CloudMessage::Authenticated(Authenticated { records_stored_up_to: 0 })
    );
    c.config().await;
    let mut box_sip = TcpStream::connect(n2.tcp_addr()).await.unwrap();
    box_sip.write_all(b"\r\n\r\n").await.unwrap();
    let mut pong = [0u8; 2];
    tokio::time::timeout(WAIT, box_sip.read_exact(&mut pong)).await.unwrap().unwrap();
    let b201 = rig.account("85678201");
    let mut bindings = heapless_bindings();
    bindings.push(binding(&b201.username, "sip:201@10.2.2.1:5060")).unwrap();
    c.send(BoxMessage::Bindings(BindingBatch { batch_id: 1, bindings })).await;
    assert_eq!(c.recv().await, CloudMessage::BindingsAck(BindingsAck { batch_id: 1 }));
    // The registry, as node 1 reads it: 5678's 201 and box are on node 2.
    let n2_addr = n2.node_sip_addr().unwrap().to_string();
    let there = vec![NodePresence { node_id: "n2".into(), sip_addr: n2_addr.clone() }];
    assert_eq!(rig.store.presence_lookup(&b201.username, "n1", NOW).await.unwrap(), there);
    let box_id = i64::try_from(e.box_id.0).unwrap();
    assert_eq!(rig.store.box_node(box_id, NOW).await.unwrap(), Some(there[0].clone()));
    assert!(rig.sip.location().lookup(&b201.username, NOW).is_empty(), "node 1 holds no binding of it");

    // School 1234's 201 registers on node 1 through its box (UDP, with Path), then calls.
    let box_a = Phone::new(rig.sip.udp_addr()).await;
    let a = box_a.addr();
    register(&box_a, &rig.account("201"), &format!("Path: <sip:boxA@{a};lr>\r\n")).await;
    invite(&rig, &box_a, "85678201", "x1").await;
    let mut buf = Vec::new();
    let inv = read_sip(&mut box_sip, &mut buf).await;
    assert!(inv.starts_with("INVITE sip:201@10.2.2.1:5060 SIP/2.0"), "{inv}");
    assert!(header(&inv, "Route").unwrap().starts_with(&format!("<sip:box-{box_id}@")), "{inv}");
    let rr = all_headers(&inv, "Record-Route");
    assert_eq!(rr.len(), 2, "record-routed by both nodes: {inv}");
    assert!(rr[0].contains(&n2.tcp_addr().to_string()) && rr[1].contains(&rig.sip.tcp_addr().to_string()), "{rr:?}");
    assert!(all_headers(&inv, "X-Carillon-Node").is_empty(), "the inter-node mark stops at node 2");
    assert!(header(&inv, "Proxy-Authorization").is_none());
    let uas: SocketAddr = "10.2.2.1:5060".parse().unwrap();
    box_sip.write_all(reply(&inv, 180, "Ringing", uas).as_bytes()).await.unwrap();
    box_a.expect("SIP/2.0 180").await;
    rig.clock.0.store(NOW + 5, Ordering::Relaxed);
    box_sip.write_all(reply(&inv, 200, "OK", uas).as_bytes()).await.unwrap();
    let ok = box_a.expect("SIP/2.0 200").await;
    let rr = all_headers(&ok, "Record-Route");
    assert_eq!(rr.len(), 2, "{ok}");
    let routes: String = rr.iter().rev().map(|r| format!("Route: {r}\r\n")).collect();
    let user = &rig.account("201").username;
    let in_dialog = |method: &str, cseq: u32, branch: &str| {
        request(method, &format!("sip:uas@{uas}"), a, user, "85678201", "x1", cseq, branch, &routes)
            .replace("To: <sip:85678201@carillon>", "To: <sip:85678201@carillon>;tag=uas1")
    };
    box_a.send(&in_dialog("ACK", 2, "x1ack")).await;
    let ack = read_sip(&mut box_sip, &mut buf).await;
    assert!(ack.starts_with("ACK sip:uas@10.2.2.1:5060"), "{ack}");
    rig.clock.0.store(NOW + 65, Ordering::Relaxed);
    box_a.send(&in_dialog("BYE", 3, "x1bye")).await;
    let bye = read_sip(&mut box_sip, &mut buf).await;
    assert!(bye.starts_with("BYE sip:uas@10.2.2.1:5060"), "{bye}");
    box_sip.write_all(reply(&bye, 200, "OK", uas).as_bytes()).await.unwrap();
    assert!(box_a.expect("SIP/2.0 200").await.contains("CSeq: 3 BYE"));
    // One record, by node 1 (the caller's side), billed to school 1234: written after the BYE's
    // answer, so wait (bounded) for it.
    let recs = wait_for_records(&s2, &RecordFilter::default(), 1, SETTLE).await.records;
    // Negative check: no second record (by node 2) may arrive within 300 ms.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let recs_again = s2.list_records(&RecordFilter::default(), None, 10).await.unwrap().records;
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs_again.len(), 1, "no second record: {recs_again:?}");
    let r = &recs[0];
    assert_eq!(
        (r.site_id, r.caller.as_str(), r.callee.as_str(), r.outcome),
        (rig.site, "201", "85678201", Outcome::Answered)
    );
    assert_eq!((r.started_at, r.answered_at, r.ended_at), (NOW, Some(NOW + 5), NOW + 65));
    assert_eq!((rig.sip.active_calls(), n2.active_calls()), (0, 0));
    // The box goes: its attachment goes with it.
    drop(c);
    let deadline = Instant::now() + WAIT;
    while rig.store.box_node(box_id, NOW + 65).await.unwrap().is_some() {
        assert!(Instant::now() < deadline, "attachment not removed within 5 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    link.shutdown().await;
    n2.leave().await;
    assert!(rig.store.presence_lookup(&b201.username, "n1", NOW + 65).await.unwrap().is_empty(), "left the registry");
    n2.shutdown();
    rig.sip.shutdown();
}

#[tokio::test]
async fn a_dead_nodes_lease_runs_out_and_calls_to_its_phones_fail_at_once() {
    // Runs on both databases (on SQLite the two nodes share one store).
    let (s1, s2) = shared_stores().await;
    let rig = Rig::with_store(s1, node("n1")).await;
    let n2 = start_node(s2, &rig, "n2").await;
    let b201 = rig.account("85678201");
    let phone_b = Phone::new(n2.udp_addr()).await;
    register(&phone_b, &b201, "").await;
    let (store, user) = (rig.store.clone(), b201.username.clone());
    wait_until("node 2 publishes the registration", SETTLE, || {
        let (store, user) = (store.clone(), user.clone());
        async move { store.presence_lookup(&user, "n1", NOW).await.unwrap().len() == 1 }
    })
    .await;
    // Node 2 dies: no leave, its heartbeat stops, its listeners close. The listeners close as
    // its aborted tasks are dropped: wait (bounded) until its SIP port refuses connections.
    let n2_tcp = n2.tcp_addr();
    n2.shutdown();
    wait_until("node 2's SIP listener closed", SETTLE, || async move { TcpStream::connect(n2_tcp).await.is_err() })
        .await;
    let caller = Phone::new(rig.sip.udp_addr()).await;
    // Within the lease: node 2 is tried, cannot be reached, and the call fails at once.
    let t = Instant::now();
    invite(&rig, &caller, "85678201", "d1").await;
    let r = caller.expect("SIP/2.0 4").await;
    assert!(r.starts_with("SIP/2.0 480"), "{r}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // After the lease (30 s): node 2 is not even tried.
    rig.clock.0.store(NOW + 31, Ordering::Relaxed);
    assert!(rig.store.presence_lookup(&b201.username, "n1", NOW + 31).await.unwrap().is_empty());
    let t = Instant::now();
    invite(&rig, &caller, "85678201", "d2").await;
    let r = caller.expect("SIP/2.0 4").await;
    assert!(r.starts_with("SIP/2.0 480"), "{r}");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let recs = wait_for_records(&rig.store, &RecordFilter { site_id: Some(rig.site), ..Default::default() }, 2, SETTLE)
        .await
        .records;
    assert_eq!(recs.len(), 2, "both failures recorded: {recs:?}");
    rig.sip.shutdown();
}

#[tokio::test]
async fn inter_node_marks_are_trusted_only_from_peers_over_tcp_with_the_right_mac() {
    let rig = Rig::new(node("n1")).await;
    let acc = rig.account("202");
    // One node in node mode still registers (and publishes) and calls as before.
    let callee = Phone::new(rig.sip.udp_addr()).await;
    register(&callee, &acc, "").await;
    let (store, user) = (rig.store.clone(), acc.username.clone());
    wait_until("the registration is published", SETTLE, || {
        let (store, user) = (store.clone(), user.clone());
        async move { store.presence_lookup(&user, "other", NOW).await.unwrap().len() == 1 }
    })
    .await;
    // A correct mark over UDP (a spoofable source) is not trusted: the INVITE is challenged.
    let p = Phone::new(rig.sip.udp_addr()).await;
    let call_id = "m1";
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(b"carillon-node\0n2\0");
    mac.update(call_id.as_bytes());
    let tag: String = mac.finalize().into_bytes().iter().take(16).map(|b| format!("{b:02x}")).collect();
    let mark = format!("X-Carillon-Node: n2;mac={tag}\r\n");
    let uri = format!("sip:{}@{}", acc.username, rig.sip.udp_addr());
    p.send(&request("INVITE", &uri, p.addr(), "x", &acc.username, call_id, 1, "m1i", &mark)).await;
    p.expect("SIP/2.0 407").await;
    // Negative check: nothing may reach the phone within 300 ms.
    assert!(callee.try_recv(Duration::from_millis(300)).await.is_none(), "nothing reached the phone");
    // Over TCP from a peer address, a wrong MAC is not trusted either.
    let mut tcp = TcpStream::connect(rig.sip.tcp_addr()).await.unwrap();
    let from = tcp.local_addr().unwrap();
    let forged = request(
        "INVITE",
        &uri,
        from,
        "x",
        &acc.username,
        "m2",
        1,
        "m2i",
        &format!("X-Carillon-Node: n2;mac={}\r\n", "0".repeat(32)),
    )
    .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    tcp.write_all(forged.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    loop {
        let m = read_sip(&mut tcp, &mut buf).await;
        if m.starts_with("SIP/2.0 100") {
            continue;
        }
        assert!(m.starts_with("SIP/2.0 407"), "{m}");
        break;
    }
    // The right MAC over TCP from a peer is inter-node traffic: the phone rings.
    let good = request("INVITE", &uri, from, "x", &acc.username, call_id, 1, "m3i", &mark)
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    tcp.write_all(good.as_bytes()).await.unwrap();
    let inv = callee.expect("INVITE").await;
    assert!(header(&inv, "X-Carillon-Node").is_none(), "{inv}");
    callee.send(&reply(&inv, 486, "Busy Here", callee.addr())).await;
    loop {
        let m = read_sip(&mut tcp, &mut buf).await;
        if m.starts_with("SIP/2.0 486") {
            break;
        }
    }
    // The node that forwarded writes the record, not this one. Negative check: no record of
    // this call may be written here within 300 ms.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let recs = rig.store.list_records(&RecordFilter::default(), None, 10).await.unwrap().records;
    assert!(recs.iter().all(|r| r.callee != acc.username), "{recs:?}");
    rig.sip.shutdown();
}
