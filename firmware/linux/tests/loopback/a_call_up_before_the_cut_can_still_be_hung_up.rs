//! A call set up online through the real cloud (SIPp 201 → box → cloud → box → SIPp 202, the
//! box in the Record-Route on both sides) outlives the cut of the internet link: the box goes
//! to survival while the call is up, and the caller's BYE, whose route set leads through the
//! cloud, is delivered by the box straight to 202, whose 200 comes back: both SIPps finish
//! their scenario.

use std::time::Duration;

use super::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_up_before_the_cut_can_still_be_hung_up() {
    if !sipp_available() {
        return;
    }
    let rig = OnlineRig::start("hangup").await;
    let (a201, a202) = (rig.cloud.account("201"), rig.cloud.account("202"));
    let (p201, p202) = (free_port(), free_port());
    assert_eq!(register(rig.lan, &a201, p201).await, 0);
    assert_eq!(register(rig.lan, &a202, p202).await, 0);

    let uas = Sipp::start("uas-202", &scenario("uas_answer.xml"), None, p202, &[]);
    udp_listening("uas-202", p202, Duration::from_secs(5)).await;
    // The caller holds the call for 4 s between its ACK and its BYE; SIPp logs what it sends.
    let trace = rig.dir.join("uac-messages.log");
    let trace_s = trace.to_string_lossy().into_owned();
    let args =
        ["-s", "202", "-au", "201", "-ap", &a201.password, "-d", "4000", "-trace_msg", "-message_file", &trace_s];
    let uac = Sipp::start("uac-201", &scenario("uac_call.xml"), Some(rig.lan), free_port(), &args);

    // Up: the ACK of the 200 went out.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !std::fs::read_to_string(&trace).unwrap_or_default().contains("CSeq: 2 ACK") {
        assert!(std::time::Instant::now() < deadline, "the call was not set up through the cloud");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let log = std::fs::read_to_string(&trace).unwrap();
    assert!(log.contains("cloud.test"), "the route set leads through the cloud:\n{log}");
    rig.cut();
    rig.bx.wait_log("to=Survival", 1, Duration::from_secs(3)).await;

    assert_eq!(uac.wait(Duration::from_secs(25)).await, 0, "the caller's BYE got its 200");
    assert_eq!(uas.wait(Duration::from_secs(10)).await, 0, "the callee got the BYE");
    let log = std::fs::read_to_string(&trace).unwrap();
    assert!(log.contains("BYE sip:"), "{log}");
    rig.stop().await;
}
