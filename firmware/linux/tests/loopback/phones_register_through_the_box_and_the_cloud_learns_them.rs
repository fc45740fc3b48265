//! Online: the box connects to the real cloud SIP server over TLS (pinned certificate), two
//! SIPp phones register through it with the cloud's digest, and the cloud's location service
//! holds their bindings with the box's `Path`. Then SIGTERM stops the box cleanly.

use std::time::Duration;

use carillon_cloud::sip::{Clock, SystemClock};

use super::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phones_register_through_the_box_and_the_cloud_learns_them() {
    if !sipp_available() {
        return;
    }
    let dir = tempdir("online");
    let cloud = TestCloud::start(&dir).await;
    let lan = free_lan();
    let toml = box_toml(&dir.join("state"), lan, cloud.sip.tls_addr().unwrap(), free_tcp(), Some(&cloud.cert));
    let mut bx = BoxProc::start(&dir, &toml, 0);
    bx.wait_log("uplink connected", 1, Duration::from_secs(10)).await;
    bx.wait_log("to=Online", 1, Duration::from_secs(10)).await;

    let mut phone_ports = Vec::new();
    for number in ["201", "202"] {
        let port = free_port();
        phone_ports.push(port);
        assert_eq!(register(lan, &cloud.account(number), port).await, 0, "REGISTER of {number} through the box");
        let bindings = cloud.sip.location().lookup(number, SystemClock.unix_now());
        assert_eq!(bindings.len(), 1, "the cloud holds {number}'s binding");
        assert!(
            bindings[0].path.iter().any(|p| p.contains(BOX_HOST)),
            "reached through the box: {:?}",
            bindings[0].path
        );
        assert!(bindings[0].contact.contains(&format!("127.0.0.1:{port}")), "{}", bindings[0].contact);
    }
    let log = bx.log_text();
    for port in phone_ports {
        assert!(!log.contains(&format!("127.0.0.1:{port}")), "a phone's address in clear in the log:\n{log}");
    }

    assert_eq!(bx.terminate(Duration::from_secs(10)).await, Some(0), "clean exit on SIGTERM");
    let log = bx.log_text();
    assert!(log.contains("SIGTERM received") && log.contains("stopped"), "{log}");
    cloud.sip.shutdown();
}
