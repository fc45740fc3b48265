//! The control link against a scripted cloud endpoint over TLS (the cloud's own endpoint is
//! not there yet): first start with an enrollment token → `Hello`, `Enroll`; the identity
//! received is stored in the state directory; the box reconnects with `Hello`,
//! `Authenticate`; a configuration pushed over the link is applied, stored and acknowledged.

use std::time::Duration;

use carillon_protocol::control::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::common::*;

async fn next<S: tokio::io::AsyncRead + Unpin>(s: &mut S, dec: &mut FrameDecoder, pending: &mut Vec<u8>) -> BoxMessage {
    let mut buf = [0u8; 4096];
    loop {
        let mut input: &[u8] = pending;
        if let Some(r) = dec.decode::<BoxMessage>(&mut input) {
            let used = pending.len() - input.len();
            pending.drain(..used);
            return r.unwrap();
        }
        pending.clear();
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "box closed the control link");
        pending.extend_from_slice(&buf[..n]);
    }
}

async fn send<S: tokio::io::AsyncWrite + Unpin>(s: &mut S, m: &CloudMessage) {
    let mut buf = vec![0u8; MAX_FRAME_LEN];
    let n = encode_frame(m, &mut buf).unwrap();
    s.write_all(&buf[..n]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_link_enrolls_authenticates_and_applies_config() {
    let dir = tempdir("control");
    let key = rcgen::generate_simple_self_signed(vec!["cloud.test".to_owned()]).unwrap();
    let (cert, keyfile) = (dir.join("cloud.pem"), dir.join("cloud.key"));
    std::fs::write(&cert, key.cert.pem()).unwrap();
    std::fs::write(&keyfile, key.key_pair.serialize_pem()).unwrap();
    let acceptor = carillon_cloud::sip::transport::tls_acceptor(&cert, &keyfile).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let control = listener.local_addr().unwrap();

    let state = dir.join("state");
    let lan = free_lan();
    let toml = box_toml(&state, lan, free_tcp(), control, Some(&cert));
    let mut bx = BoxProc::start(&dir, &toml, 0);

    // First connection: enrollment.
    let (tcp, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept()).await.unwrap().unwrap();
    let mut s = acceptor.accept(tcp).await.unwrap();
    let (mut dec, mut pending) = (FrameDecoder::new(), Vec::new());
    assert!(matches!(next(&mut s, &mut dec, &mut pending).await, BoxMessage::Hello(_)));
    send(&mut s, &CloudMessage::Hello(Hello::current())).await;
    match next(&mut s, &mut dec, &mut pending).await {
        BoxMessage::Enroll(e) => assert_eq!(e.token, EnrollmentToken::new("tok-123").unwrap()),
        other => panic!("expected Enroll, got {other:?}"),
    }
    send(&mut s, &CloudMessage::Enrolled(Enrolled { box_id: BoxId(42), credential: BoxCredential([9; 32]) })).await;
    bx.wait_log("enrolled box_id=42", 1, Duration::from_secs(10)).await;
    let stored = std::fs::read_to_string(state.join("identity.toml")).unwrap();
    assert!(stored.contains("box_id = 42") && stored.contains(&"09".repeat(32)), "{stored}");
    drop(s);

    // Second connection: authentication with the stored identity, then a configuration.
    let (tcp, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept()).await.unwrap().unwrap();
    let mut s = acceptor.accept(tcp).await.unwrap();
    let (mut dec, mut pending) = (FrameDecoder::new(), Vec::new());
    assert!(matches!(next(&mut s, &mut dec, &mut pending).await, BoxMessage::Hello(_)));
    send(&mut s, &CloudMessage::Hello(Hello::current())).await;
    match next(&mut s, &mut dec, &mut pending).await {
        BoxMessage::Authenticate(a) => {
            assert_eq!(a.box_id, BoxId(42));
            assert!(a.credential.ct_eq(&BoxCredential([9; 32])));
            assert_eq!(a.config_version, None);
        }
        other => panic!("expected Authenticate, got {other:?}"),
    }
    send(&mut s, &CloudMessage::Authenticated(Authenticated { records_stored_up_to: 0 })).await;
    send(
        &mut s,
        &CloudMessage::ConfigBegin(ConfigBegin {
            version: 2,
            site_code: bounded("1234").unwrap(),
            dial_plan: DialPlan {
                extension_len: 3,
                on_net_prefix: bounded("8").unwrap(),
                outside_line_prefix: bounded("0").unwrap(),
            },
            emergency_numbers: heapless::Vec::new(),
            fallback_trunk: None,
            extension_count: 0,
            ring_group_count: 0,
        }),
    )
    .await;
    send(&mut s, &CloudMessage::ConfigEnd(ConfigEnd { version: 2 })).await;
    let applied = loop {
        match next(&mut s, &mut dec, &mut pending).await {
            BoxMessage::ConfigApplied(a) => break a.version,
            BoxMessage::ConfigRejected(r) => panic!("refused: {r:?}"),
            _ => {}
        }
    };
    assert_eq!(applied, 2);
    assert!(std::fs::metadata(state.join("config.img")).unwrap().len() > 0, "configuration stored");

    // SIGTERM: the box says Goodbye on the control link before it closes.
    let code = bx.terminate(Duration::from_secs(10)).await;
    assert_eq!(code, Some(0));
    loop {
        if let BoxMessage::Goodbye(g) = next(&mut s, &mut dec, &mut pending).await {
            assert_eq!(g.reason, GoodbyeReason::Shutdown);
            break;
        }
    }
}
