//! The microcontroller profile keeps one configuration in RAM, the one in force: a transfer
//! from the cloud is encoded item by item straight into the store as it arrives (no staging
//! buffer), committed at `ConfigEnd`, then decoded in place; at boot the stored image is read
//! back in pieces. Still applied atomically, persisted, in force again after a reboot.
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "common/sim.rs"]
mod sim;
#[path = "common/stream_store.rs"]
mod stream_store;

use carillon_firmware::config_store::ConfigStore;
use carillon_firmware::journal::RamStorage;
use carillon_firmware::mcu::gateway::{self as mcu, Event, Gateway, Settings, Timing};
use carillon_protocol::control::{BoxId, CloudMessage, ConfigRejectReason};
use carillon_protocol::Instant;
use stream_store::StreamStore;

type Mcu<C> = Gateway<RamStorage<16384>, C>;

fn settings() -> Settings {
    Settings {
        box_id: BoxId(7),
        host: heapless::String::try_from(sim::BOX_HOST).unwrap(),
        lan_addr: sim::lan(),
        uplink_peer: sim::addr("192.0.2.1:5061"),
        timing: Timing::DEFAULT,
        seed: 1,
    }
}

fn boot<C: ConfigStore>(store: C) -> Box<Mcu<C>> {
    Box::new(Gateway::new(settings(), RamStorage::new(1024, 1), store, Instant::ZERO).unwrap())
}

fn send<C: ConfigStore>(gw: &mut Mcu<C>, msgs: impl IntoIterator<Item = CloudMessage>) -> Vec<Event> {
    for m in msgs {
        gw.handle_control(Instant::ZERO, m);
    }
    std::iter::from_fn(|| gw.poll_event()).collect()
}

fn rejected(events: &[Event]) -> Vec<(u32, ConfigRejectReason)> {
    events
        .iter()
        .filter_map(|e| match *e {
            Event::ConfigRejected { version, reason } => Some((version, reason)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_transfer_goes_into_the_store_and_comes_back_after_a_reboot() {
    sim::run(|| {
        let mut gw = boot(StreamStore::default());
        // 128 extensions (the profile's capacity) and a trunk, then a ring group besides.
        let mut msgs = sim::config_messages_for(1, true, 101..101 + 128);
        let events = send(&mut gw, msgs.drain(..));
        assert!(events.contains(&Event::ConfigApplied { version: 1 }), "{events:?}");
        let site = gw.site().unwrap().clone();
        assert_eq!((site.version, site.extensions.len()), (1, 128));
        assert_eq!(site.extension(b"228").unwrap().display_name.as_str(), "Room 228");
        assert_eq!(gw.config_store().commits, 1);
        // What was streamed is the persisted image format: postcard(SiteConfig) and its CRC.
        assert_eq!(mcu::decode_image(&gw.config_store().stored), Some(site.clone()));
        let events = send(&mut gw, sim::config_messages(2, false));
        assert!(events.contains(&Event::ConfigApplied { version: 2 }), "{events:?}");
        assert_eq!(gw.site().unwrap().ring_groups.len(), 1);

        // Version 3 begins and never ends: what is stored and in force stays version 2, and a
        // reboot loads it back, read in pieces.
        let msgs = sim::config_messages(3, true);
        send(&mut gw, msgs[..2].iter().cloned());
        assert_eq!(gw.site().unwrap().version, 2);
        let (_, store) = gw.into_storage();
        let gw = boot(store);
        let site = gw.site().unwrap();
        assert_eq!((site.version, site.extensions.len(), site.ring_groups.len()), (2, 9, 1));
        assert!(site.extension(b"101").is_some());
    });
}

#[test]
fn too_big_or_unwritable_transfers_change_nothing() {
    sim::run(|| {
        let mut gw = boot(StreamStore::default());
        send(&mut gw, sim::config_messages(1, false));
        // One extension more than the profile holds: refused at ConfigBegin.
        let events = send(&mut gw, sim::config_messages_for(2, false, 101..101 + 129));
        assert_eq!(rejected(&events), vec![(2, ConfigRejectReason::TooManyExtensions)]);
        // The store fails to write: refused, nothing committed.
        gw.config_store_mut().fail_writes = true;
        let events = send(&mut gw, sim::config_messages(3, false));
        assert_eq!(rejected(&events), vec![(3, ConfigRejectReason::StorageFailed)]);
        assert_eq!((gw.site().unwrap().version, gw.config_store().commits), (1, 1));
        // A corrupt stored image is ignored at boot.
        gw.config_store_mut().fail_writes = false;
        let (_, mut store) = gw.into_storage();
        let last = store.stored.len() - 1;
        store.stored[last] ^= 1;
        assert!(boot(store).site().is_none());
    });
}

#[test]
fn without_a_staging_buffer_a_store_that_does_not_stream_is_refused_clearly() {
    sim::run(|| {
        assert_eq!(mcu::STAGING_LEN, 0);
        let mut gw = boot(mcu::RamConfigStore::new());
        let events = send(&mut gw, sim::config_messages(1, false));
        assert_eq!(rejected(&events), vec![(1, ConfigRejectReason::StorageFailed)]);
        assert!(gw.site().is_none());
    });
}
