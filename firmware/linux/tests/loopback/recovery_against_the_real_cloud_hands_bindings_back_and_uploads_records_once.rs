//! Recovery on real sockets against the real cloud: `carillon-box` (the binary) with its SIP
//! flow and its control link to `carillon-cloud`'s SIP server and box link (TLS, pinned
//! certificate), both through TCP relays the test cuts and restores (the school's internet
//! link). The box enrolls with a token the store issued and gets the school's configuration
//! over the link. Online, phone 201 registers through the box. The link is cut: the box goes
//! to survival, 202 registers with the box alone (the cloud never hears of it) and 201 calls
//! 202 (journaled). The link returns: before any phone registers again, the cloud holds 202's
//! binding, handed back by the box, and reaches both phones through the box's new flow (a call
//! placed at the cloud rings each phone's SIPp); the survival call's record is in the cloud's
//! store exactly once,
//! and stays so across one more cut and return.

use std::time::Duration;

use carillon_cloud::model::RecordFilter;
use carillon_cloud::sip::{Clock, SystemClock};

use super::common::*;

async fn box_records(cloud: &TestCloud, box_id: i64) -> Vec<i64> {
    let page = cloud
        .store
        .list_records(&RecordFilter { site_id: Some(cloud.site_id), ..Default::default() }, None, 1000)
        .await
        .unwrap();
    page.records.iter().filter(|r| r.box_id == Some(box_id)).filter_map(|r| r.box_seq).collect()
}

/// Waits (bounded) for `cond` on the cloud's side.
async fn until<F: std::future::Future<Output = bool>>(what: &str, limit: Duration, mut cond: impl FnMut() -> F) {
    let deadline = std::time::Instant::now() + limit;
    while !cond().await {
        assert!(std::time::Instant::now() < deadline, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_against_the_real_cloud_hands_bindings_back_and_uploads_records_once() {
    if !sipp_available() {
        return;
    }
    let rig = OnlineRig::start("recovery").await;
    let (cloud, bx, lan, box_id) = (&rig.cloud, &rig.bx, rig.lan, rig.box_id);
    let cut = || rig.cut();
    let restore = || rig.restore();

    // Online: 201 registers through the box and the cloud.
    let (a201, a202) = (cloud.account("201"), cloud.account("202"));
    let (p201, p202) = (free_port(), free_port());
    assert_eq!(register(lan, &a201, p201).await, 0, "201 registers online");
    assert_eq!(cloud.sip.location().lookup("201", SystemClock.unix_now()).len(), 1);

    // The link fails.
    cut();
    let cut_at = std::time::Instant::now();
    bx.wait_log("to=Survival", 1, Duration::from_secs(10)).await;
    eprintln!("survival {:?} after the cut", cut_at.elapsed());
    assert_eq!(register(lan, &a202, p202).await, 0, "202 registers with the box in survival");
    assert!(cloud.sip.location().lookup("202", SystemClock.unix_now()).is_empty(), "the cloud never heard of 202");
    assert_eq!(call(lan, &a201, p202, "202").await, (0, 0), "a survival call 201 → 202");
    bx.wait_log("call record journaled seq=1", 1, Duration::from_secs(5)).await;
    assert!(box_records(cloud, box_id).await.is_empty());

    // The link returns. No phone registers from here on.
    restore();
    let back_at = std::time::Instant::now();
    bx.wait_log("to=Online", 2, Duration::from_secs(30)).await;
    eprintln!("online again {:?} after the link returned", back_at.elapsed());
    let found = cloud.sip.location().lookup("202", SystemClock.unix_now());
    assert_eq!(found.len(), 1, "202's binding handed back to the cloud");
    assert!(found[0].contact.contains(&format!("127.0.0.1:{p202}")), "{:?}", found[0]);
    assert!(!found[0].path.is_empty(), "reached through the box: {:?}", found[0]);
    assert_eq!(cloud.sip.location().lookup("201", SystemClock.unix_now()).len(), 1);
    assert_eq!(box_records(cloud, box_id).await, vec![1], "the survival call's record, once");

    // The cloud reaches every phone through the box's new flow: a call placed at the cloud
    // (straight to its UDP port, with the other phone's credentials) rings each phone's SIPp.
    for (callee, port, caller) in [("202", p202, &a201), ("201", p201, &a202)] {
        let uas = Sipp::start(&format!("uas-{callee}-via-cloud"), &scenario("uas_answer.xml"), None, port, &[]);
        udp_listening(&format!("uas-{callee}-via-cloud"), port, Duration::from_secs(5)).await;
        let args = ["-s", callee, "-au", &caller.number, "-ap", &caller.password];
        let uac =
            Sipp::start("uac-at-cloud", &scenario("uac_call.xml"), Some(cloud.sip.udp_addr()), free_port(), &args);
        assert_eq!(uac.wait(Duration::from_secs(25)).await, 0, "the call to {callee} placed at the cloud connected");
        assert_eq!(uas.wait(Duration::from_secs(10)).await, 0, "{callee} answered through the box");
    }

    // One more flap: the record is not uploaded again.
    cut();
    bx.wait_log("to=Survival", 2, Duration::from_secs(10)).await;
    restore();
    bx.wait_log("to=Online", 3, Duration::from_secs(30)).await;
    until("the box's status after the flap", Duration::from_secs(10), || async {
        cloud.store.get_box(box_id).await.is_ok_and(|b| b.online && b.mode.as_deref() == Some("online"))
    })
    .await;
    assert_eq!(box_records(cloud, box_id).await, vec![1], "still once after another flap");
    assert_eq!(cloud.store.get_box(box_id).await.unwrap().acked_seq, 1);

    rig.stop().await;
}
