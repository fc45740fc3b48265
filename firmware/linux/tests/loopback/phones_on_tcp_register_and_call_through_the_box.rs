//! Phones on SIP over TCP: the box listens on its LAN address for TCP too. In survival (the
//! cloud unreachable), SIPp phone 201 registers over TCP (`-t t1`, digest) and calls 202, a
//! SIPp phone on UDP, over TCP (407, credentials, 200, ACK, BYE on the one connection). The
//! connection table is bounded: of `MAX_LAN_STREAMS + 1` connections opened at once, exactly
//! one is closed by the box, and every other answers a keepalive ping with a pong.

use std::time::Duration;

use carillon_firmware::gateway::MAX_LAN_STREAMS;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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

    // The bound: MAX_LAN_STREAMS + 1 connections at once.
    let mut conns = Vec::new();
    for _ in 0..=MAX_LAN_STREAMS {
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
    assert_eq!((closed, ponged), (1, MAX_LAN_STREAMS), "exactly one refused");
    drop(conns);
    bx.wait_log("connection table full", 1, Duration::from_secs(5)).await;

    assert_eq!(bx.terminate(Duration::from_secs(10)).await, Some(0));
    cloud.sip.shutdown();
}
