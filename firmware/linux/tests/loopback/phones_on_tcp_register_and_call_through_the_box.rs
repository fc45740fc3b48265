//! Phones on SIP over TCP: the box listens on its LAN address for TCP too. In survival (the
//! cloud unreachable), SIPp phone 201 registers over TCP (`-t t1`, digest) and calls 202, a
//! SIPp phone on UDP, over TCP (407, credentials, 200, ACK, BYE on the one connection). Then a
//! phone of the test's own (a small UA on a `TcpStream`) registers 201 over TCP and is called by
//! a SIPp phone on UDP: the INVITE, ACK and BYE reach it on its connection. The connection
//! table is bounded: with that phone's connection open, of `MAX_LAN_STREAMS` more opened at
//! once exactly one is closed by the box, and every other answers a keepalive ping with a pong.

use std::time::Duration;

use carillon_firmware::gateway::MAX_LAN_STREAMS;
use carillon_protocol::digest::{Challenge, CredentialsParams, Secret};
use carillon_protocol::write::{write_response, Writer};
use carillon_protocol::{parse, Framing, Header, HeaderKind, Message, Method, ParseConfig, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A phone on one TCP connection: reads whole messages (Content-Length framing), writes some.
struct TcpPhone {
    conn: TcpStream,
    rx: Vec<u8>,
}

impl TcpPhone {
    /// The next message (bounded wait).
    async fn next(&mut self) -> Vec<u8> {
        loop {
            let mut h = [Header::EMPTY; 64];
            while self.rx.first().is_some_and(|b| *b == b'\r' || *b == b'\n') {
                self.rx.remove(0);
            }
            if let Ok(Status::Complete(m)) = parse(&self.rx, &mut h, Framing::Stream, &ParseConfig::DEFAULT) {
                let n = m.len;
                return self.rx.drain(..n).collect();
            }
            let mut buf = [0u8; 4096];
            let n = tokio::time::timeout(Duration::from_secs(10), self.conn.read(&mut buf))
                .await
                .expect("no message within 10 s")
                .unwrap();
            assert!(n > 0, "the box closed the connection");
            self.rx.extend_from_slice(&buf[..n]);
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.conn.write_all(bytes).await.unwrap();
    }
}

fn with<R>(bytes: &[u8], f: impl FnOnce(&Message<'_, '_>) -> R) -> R {
    let mut h = [Header::EMPTY; 64];
    match parse(bytes, &mut h, Framing::Stream, &ParseConfig::DEFAULT) {
        Ok(Status::Complete(m)) => f(&m),
        other => panic!("unparseable {other:?}: {}", String::from_utf8_lossy(bytes)),
    }
}

fn register_over(local: std::net::SocketAddr, cseq: u32, auth: Option<&[u8]>) -> Vec<u8> {
    let mut out = vec![0u8; 2048];
    let mut w = Writer::new(&mut out);
    w.request_line(Method::Register, b"sip:carillon");
    w.header("Via", format!("SIP/2.0/TCP {local};branch=z9hG4bKtcpreg{cseq}").as_bytes());
    w.header("Max-Forwards", b"70");
    w.header("From", b"<sip:201@carillon>;tag=tcp201");
    w.header("To", b"<sip:201@carillon>");
    w.header("Call-ID", b"tcp-phone-201");
    w.header("CSeq", format!("{cseq} REGISTER").as_bytes());
    w.header("Contact", format!("<sip:201@{local};transport=tcp>").as_bytes());
    w.header("Expires", b"600");
    if let Some(a) = auth {
        w.header("Authorization", a);
    }
    let n = w.finish(&[]).unwrap();
    out.truncate(n);
    out
}

fn answer(req: &[u8], code: u16, contact: &str) -> Vec<u8> {
    with(req, |m| {
        let mut extra: Vec<(&str, &[u8])> =
            m.headers_of(HeaderKind::RecordRoute).map(|h| ("Record-Route", h.value)).collect();
        extra.push(("Contact", contact.as_bytes()));
        let mut out = vec![0u8; 4096];
        let n = write_response(m, code, "OK", Some(b"tcp201tag"), &extra, &[], &mut out).unwrap();
        out.truncate(n);
        out
    })
}

use super::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phones_on_tcp_register_and_call_through_the_box() {
    if !sipp_available() {
        return;
    }
    let dir = tempdir("tcp");
    let cloud = TestCloud::start(&dir).await;
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("config.img"), cloud.config_image()).unwrap();
    let lan = free_lan();
    // The cloud's address leads nowhere: the box stays in survival.
    let toml = box_toml(&state, lan, free_tcp(), free_tcp(), Some(&cloud.cert));
    let mut bx = BoxProc::start(&dir, &toml, 0);
    bx.wait_log("carillon-box started", 1, Duration::from_secs(10)).await;

    let (a201, a202) = (cloud.account("201"), cloud.account("202"));
    let args = ["-t", "t1", "-s", "201", "-au", "201", "-ap", &a201.password];
    let code = Sipp::start("register-201-tcp", &scenario("register.xml"), Some(lan), free_port(), &args)
        .wait(Duration::from_secs(25))
        .await;
    assert_eq!(code, 0, "201 registers over TCP");
    let p202 = free_port();
    assert_eq!(register(lan, &a202, p202).await, 0, "202 registers over UDP");

    let uas = Sipp::start("uas-202", &scenario("uas_answer.xml"), None, p202, &[]);
    udp_listening("uas-202", p202, Duration::from_secs(5)).await;
    let args = ["-t", "t1", "-s", "202", "-au", "201", "-ap", &a201.password];
    let uac = Sipp::start("uac-201-tcp", &scenario("uac_call.xml"), Some(lan), free_port(), &args);
    assert_eq!(uac.wait(Duration::from_secs(25)).await, 0, "201 calls over TCP");
    assert_eq!(uas.wait(Duration::from_secs(10)).await, 0, "202 answered over UDP");
    bx.wait_log("call record journaled seq=1", 1, Duration::from_secs(5)).await;

    // A phone of the test's own registers 201 over TCP, then is called on its connection.
    let mut phone = TcpPhone { conn: TcpStream::connect(lan).await.unwrap(), rx: Vec::new() };
    let local = phone.conn.local_addr().unwrap();
    phone.send(&register_over(local, 1, None)).await;
    let challenge = phone.next().await;
    let www = with(&challenge, |m| {
        assert_eq!(m.status_code(), Some(401));
        m.headers_of(HeaderKind::WwwAuthenticate)
            .map(|h| h.value.to_vec())
            .find(|v| String::from_utf8_lossy(v).contains("MD5"))
            .unwrap()
    });
    let mut auth = [0u8; 512];
    let n = CredentialsParams {
        username: "201",
        secret: Secret::Password(a201.password.as_bytes()),
        method: "REGISTER",
        uri: "sip:carillon",
        cnonce: "tcp0ffee",
        nc: 1,
    }
    .write(&Challenge::parse(&www).unwrap(), &mut auth)
    .unwrap();
    phone.send(&register_over(local, 2, Some(&auth[..n]))).await;
    let ok = phone.next().await;
    assert_eq!(with(&ok, |m| m.status_code()), Some(200), "{}", String::from_utf8_lossy(&ok));

    let args = ["-s", "201", "-au", "201", "-ap", &a201.password, "-d", "300"];
    let uac = Sipp::start("uac-to-tcp-201", &scenario("uac_call.xml"), Some(lan), free_port(), &args);
    let invite = phone.next().await;
    let text = String::from_utf8_lossy(&invite).into_owned();
    assert!(text.starts_with("INVITE "), "{text}");
    assert!(text.contains("Via: SIP/2.0/TCP "), "the box's Via says TCP: {text}");
    let contact = format!("<sip:201@{local};transport=tcp>");
    phone.send(&answer(&invite, 200, &contact)).await;
    let ack = phone.next().await;
    assert!(ack.starts_with(b"ACK "), "{}", String::from_utf8_lossy(&ack));
    let bye = phone.next().await;
    assert!(bye.starts_with(b"BYE "), "{}", String::from_utf8_lossy(&bye));
    phone.send(&answer(&bye, 200, &contact)).await;
    assert_eq!(uac.wait(Duration::from_secs(25)).await, 0, "the call to the TCP phone completed");
    bx.wait_log("call record journaled seq=2", 1, Duration::from_secs(5)).await;

    // The bound: with the phone's connection still open, MAX_LAN_STREAMS more at once (the
    // SIPp connections closed long before).
    let mut conns = Vec::new();
    for _ in 0..MAX_LAN_STREAMS {
        conns.push(TcpStream::connect(lan).await.unwrap());
    }
    let mut closed = 0;
    let mut ponged = 0;
    for c in &mut conns {
        let _ = c.write_all(b"\r\n\r\n").await;
        let mut buf = [0u8; 16];
        match tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => closed += 1,
            Ok(Ok(n)) if &buf[..n] == b"\r\n" => ponged += 1,
            other => panic!("neither a pong nor a close: {other:?}"),
        }
    }
    assert_eq!((closed, ponged), (1, MAX_LAN_STREAMS - 1), "exactly one refused");
    drop(conns);
    drop(phone);
    bx.wait_log("connection table full", 1, Duration::from_secs(5)).await;

    assert_eq!(bx.terminate(Duration::from_secs(10)).await, Some(0));
    cloud.sip.shutdown();
}
