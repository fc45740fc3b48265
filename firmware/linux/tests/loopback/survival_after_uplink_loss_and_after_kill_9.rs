//! The school's internet link fails: the box notices the broken TLS flow, goes to survival,
//! and two SIPp phones register with it (digest against the HA1 of the stored configuration)
//! and call each other through it (the INVITE digest-checked too: 407, then credentials); the
//! call is journaled. Then the box is killed with SIGKILL
//! during the outage and started again: configuration and journal are intact, and it serves
//! the school in survival again (the next call gets the next sequence number).

use std::time::Duration;

use super::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survival_after_uplink_loss_and_after_kill_9() {
    if !sipp_available() {
        return;
    }
    let dir = tempdir("survival");
    let cloud = TestCloud::start(&dir).await;
    let relay = Relay::start(cloud.sip.tls_addr().unwrap()).await;
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    // The configuration as the control link would have synced it (that endpoint is not in the
    // cloud yet): the image the box itself writes on ConfigEnd.
    std::fs::write(state.join("config.img"), cloud.config_image()).unwrap();
    let lan = free_lan();
    let toml = box_toml(&state, lan, relay.addr, free_tcp(), Some(&cloud.cert));
    let mut bx = BoxProc::start(&dir, &toml, 0);
    bx.wait_log("to=Online", 1, Duration::from_secs(10)).await;

    relay.cut();
    let cut_at = std::time::Instant::now();
    bx.wait_log("to=Survival", 1, Duration::from_secs(5)).await;
    eprintln!("survival {:?} after the cut", cut_at.elapsed());

    let (p201, p202) = (free_port(), free_port());
    assert_eq!(register(lan, &cloud.account("201"), p201).await, 0, "201 registers in survival");
    assert_eq!(register(lan, &cloud.account("202"), p202).await, 0, "202 registers in survival");
    assert_eq!(call(lan, &cloud.account("201"), p202, "202").await, (0, 0), "201 calls 202 through the box");
    bx.wait_log("call record journaled seq=1", 1, Duration::from_secs(5)).await;

    // kill -9 during the outage, then start again on the same state directory.
    bx.kill9();
    let mut bx = BoxProc::start(&dir, &toml, 1);
    bx.wait_log("carillon-box started", 1, Duration::from_secs(10)).await;
    let log = bx.log_text();
    assert!(log.contains("config_version=Some(1)"), "configuration kept:\n{log}");
    assert!(log.contains("journal_unacked=1"), "journal kept:\n{log}");
    assert!(!log.contains("to=Online"), "still cut off:\n{log}");

    assert_eq!(register(lan, &cloud.account("201"), p201).await, 0, "201 registers again after the restart");
    assert_eq!(register(lan, &cloud.account("202"), p202).await, 0, "202 registers again after the restart");
    assert_eq!(call(lan, &cloud.account("201"), p202, "202").await, (0, 0), "a call after the restart");
    bx.wait_log("call record journaled seq=2", 1, Duration::from_secs(5)).await;

    assert_eq!(bx.terminate(Duration::from_secs(10)).await, Some(0));
    cloud.sip.shutdown();
}
