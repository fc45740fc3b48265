//! Configuration from the cloud: applied only when complete, versioned, answered with
//! ConfigApplied/ConfigRejected, persisted, and in force again after a reboot during an outage.
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "common/sim.rs"]
mod sim;

use std::time::Duration;

use carillon_protocol::control::*;
use sim::*;

#[test]
fn applied_persisted_and_reloaded_after_a_reboot() {
    run(|| {
        let mut s = Sim::new();
        s.boot_online();
        s.configure(3, true);
        assert_eq!(s.cloud.config_applied, vec![3]);
        let site = s.gw.site().unwrap();
        assert_eq!((site.version, site.extensions.len(), site.ring_groups.len()), (3, 9, 1));
        assert_eq!(s.gw.config_store().saves, 1);

        // Reboot while the link is down: the configuration is there, the box in survival.
        s.cut();
        s.reboot();
        assert_eq!(s.gw.mode(), Mode::Survival);
        assert_eq!(s.gw.site().unwrap().version, 3);
        // And it serves: a phone registers against the persisted HA1.
        s.add_phone(101, Answer::Never);
        assert_eq!(s.register(101, "pw101", 600), 200);
    });
}

#[test]
fn partial_stale_and_out_of_order_transfers_change_nothing() {
    run(|| {
        let mut s = Sim::new();
        s.boot_online();
        s.configure(5, false);
        // Incomplete: Begin and End without the chunks.
        let msgs = config_messages(6, false);
        s.cloud_sends_control(msgs[0].clone());
        s.cloud_sends_control(msgs.last().unwrap().clone());
        s.run_for(Duration::from_millis(100));
        // Stale: version 4 after 5.
        s.configure(4, false);
        // Out of order: the ring groups before the extensions.
        let msgs = config_messages(7, false);
        s.cloud_sends_control(msgs[0].clone());
        s.cloud_sends_control(msgs[3].clone());
        s.run_for(Duration::from_millis(100));
        let reasons: Vec<_> = s.cloud.config_rejected.iter().map(|r| (r.version, r.reason)).collect();
        assert_eq!(
            reasons,
            vec![
                (6, ConfigRejectReason::Incomplete),
                (4, ConfigRejectReason::Stale),
                (7, ConfigRejectReason::OutOfOrder)
            ]
        );
        assert_eq!(s.gw.site().unwrap().version, 5);
        assert_eq!(s.gw.config_store().saves, 1);
    });
}

#[test]
fn a_failed_save_rejects_and_a_corrupt_image_is_ignored_at_boot() {
    run(|| {
        let mut store = carillon_firmware::gateway::RamConfigStore::new();
        store.fail_saves = true;
        let mut s = Sim::with_storage(carillon_firmware::journal::RamStorage::new(1024, 1), store);
        s.boot_online();
        s.configure(1, false);
        assert_eq!(s.cloud.config_rejected[0].reason, ConfigRejectReason::StorageFailed);
        assert!(s.gw.site().is_none());

        let mut s = Sim::new();
        s.boot_online();
        s.configure(2, false);
        let (flash, mut store) = s.gw.into_storage();
        store.image_mut()[10] ^= 0xff;
        let s = Sim::with_storage(flash, store);
        assert!(s.gw.site().is_none(), "a corrupt image must not be applied");
    });
}

#[test]
fn a_full_size_configuration_fits_the_image() {
    let mut c = carillon_firmware::gateway::SiteConfig {
        version: 1,
        site_code: bounded("12345678").unwrap(),
        dial_plan: DialPlan {
            extension_len: 6,
            on_net_prefix: bounded("8888").unwrap(),
            outside_line_prefix: bounded("0000").unwrap(),
        },
        emergency_numbers: heapless::Vec::new(),
        fallback_trunk: Some(FallbackTrunk {
            host: bounded(&"h".repeat(64)).unwrap(),
            port: 5060,
            credentials: Some(TrunkCredentials {
                username: bounded(&"u".repeat(32)).unwrap(),
                password: Password::new(&"p".repeat(64)).unwrap(),
            }),
        }),
        extensions: heapless::Vec::new(),
        ring_groups: heapless::Vec::new(),
    };
    while c.emergency_numbers.push(bounded(&"9".repeat(32)).unwrap()).is_ok() {}
    let mut e = extension(101);
    e.number = bounded(&"1".repeat(16)).unwrap();
    e.username = bounded(&"u".repeat(32)).unwrap();
    e.realm = bounded(&"r".repeat(64)).unwrap();
    e.display_name = bounded(&"d".repeat(48)).unwrap();
    while c.extensions.push(e.clone()).is_ok() {}
    let mut members = heapless::Vec::new();
    while members.push(bounded(&"1".repeat(16)).unwrap()).is_ok() {}
    let g = RingGroup { number: bounded(&"2".repeat(16)).unwrap(), members, ring_timeout_secs: u16::MAX };
    while c.ring_groups.push(g.clone()).is_ok() {}
    let mut buf = vec![0u8; carillon_firmware::gateway::CONFIG_IMAGE_LEN];
    let n = carillon_firmware::gateway::encode_image(&c, &mut buf).expect("a full configuration must fit");
    println!("full configuration image: {n} bytes of {}", buf.len());
    assert_eq!(carillon_firmware::gateway::decode_image(&buf[..n]), Some(c));
}
