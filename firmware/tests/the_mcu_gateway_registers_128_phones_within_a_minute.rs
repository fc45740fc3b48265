//! Issue 7 on the microcontroller profile (18 full transaction rows, 32 completed ones): after
//! a power cut in an outage the school's 128 phones all register again, digest-checked, 20 a
//! second, without a 503, well within a minute. Driven directly (the simulation harness runs
//! the host profile): each phone's REGISTER, the 401, the REGISTER with credentials, the 200.
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "common/sim.rs"]
mod sim;
#[path = "common/stream_store.rs"]
mod stream_store;

use std::net::SocketAddr;
use std::time::Duration;

use carillon_firmware::journal::RamStorage;
use carillon_firmware::mcu::gateway::{Gateway, Settings, Timing, Transmit};
use carillon_protocol::control::{BoxId, Mode};
use carillon_protocol::digest::{Algorithm, Challenge, CredentialsParams, Secret};
use carillon_protocol::{HeaderKind, Instant};
use stream_store::StreamStore;

type Mcu = Gateway<RamStorage<16384>, StreamStore>;

const PHONES: u32 = 128;

/// Hands `bytes` from `from` to the gateway, runs its timers up to `now`, and returns what it
/// sent back to `from`.
fn exchange(gw: &mut Mcu, now: Instant, from: SocketAddr, bytes: &[u8]) -> Vec<Vec<u8>> {
    while gw.poll_timeout().is_some_and(|t| t <= now) {
        gw.handle_timeout(now);
        while gw.poll_transmit(now).is_some() {}
        while gw.poll_event().is_some() {}
    }
    gw.handle_lan_datagram(now, from, bytes);
    let mut back = Vec::new();
    while let Some(t) = gw.poll_transmit(now) {
        if let Transmit::Lan { to, bytes } = t {
            if to == from {
                back.push(bytes.to_vec());
            }
        }
    }
    while gw.poll_event().is_some() {}
    back
}

fn register(ext: u32, cseq: u32, auth: Option<&str>) -> Vec<u8> {
    let addr = sim::phone_addr(ext);
    let realm = sim::REALM;
    let auth = auth.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
    format!(
        "REGISTER sip:{realm} SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bKm{ext}x{cseq};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:{ext}@{realm}>;tag=f{ext}\r\nTo: <sip:{ext}@{realm}>\r\n\
         Call-ID: reg{ext}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{ext}@{addr}>\r\nExpires: 3600\r\n\
         {auth}Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn all_128_phones_register_on_the_mcu_profile_without_a_503() {
    sim::run(|| {
        let settings = Settings {
            box_id: BoxId(7),
            host: heapless::String::try_from(sim::BOX_HOST).unwrap(),
            lan_addr: sim::lan(),
            uplink_peer: sim::addr("192.0.2.1:5061"),
            timing: Timing::DEFAULT,
            seed: 3,
        };
        let mut gw: Box<Mcu> =
            Box::new(Gateway::new(settings, RamStorage::new(1024, 1), StreamStore::default(), Instant::ZERO).unwrap());
        for m in sim::config_messages_for(1, false, 101..101 + PHONES) {
            gw.handle_control(Instant::ZERO, m);
        }
        assert_eq!(gw.site().map(|c| c.extensions.len()), Some(PHONES as usize));
        // The configuration came over the control link; then the link goes.
        gw.handle_uplink_closed(Instant::ZERO);
        while gw.poll_transmit(Instant::ZERO).is_some() {}
        while gw.poll_event().is_some() {}
        assert_eq!(gw.mode(), Mode::Survival, "no cloud: the box is the registrar");

        let start = Instant::ZERO + Duration::from_secs(1);
        let mut now = start;
        for ext in 101..101 + PHONES {
            let from = sim::phone_addr(ext);
            let back = exchange(&mut gw, now, from, &register(ext, 1, None));
            assert_eq!(back.len(), 1, "phone {ext}: one answer");
            assert_eq!(sim::status_of(&back[0]), Some(401), "phone {ext}: {}", sim::text(&back[0]));
            let www = sim::msg(&back[0], |m| {
                m.headers_of(HeaderKind::WwwAuthenticate)
                    .map(|h| h.value.to_vec())
                    .find(|v| sim::text(v).contains("MD5"))
                    .unwrap()
            });
            let challenge = Challenge::parse(&www).unwrap();
            let mut auth = [0u8; 512];
            let user = ext.to_string();
            let n = CredentialsParams {
                username: &user,
                secret: Secret::Password(format!("pw{ext}").as_bytes()),
                method: "REGISTER",
                uri: &format!("sip:{}", sim::REALM),
                cnonce: "c0ffee",
                nc: 1,
            }
            .write(&challenge, &mut auth)
            .unwrap();
            assert_eq!(challenge.algorithm().unwrap(), Algorithm::Md5);
            now = now + Duration::from_millis(25);
            let auth = std::str::from_utf8(&auth[..n]).unwrap();
            let back = exchange(&mut gw, now, from, &register(ext, 2, Some(auth)));
            assert_eq!(back.len(), 1, "phone {ext}: one answer");
            assert_eq!(
                sim::status_of(&back[0]),
                Some(200),
                "phone {ext}, {:?} in: {}",
                now - start,
                sim::text(&back[0])
            );
            now = now + Duration::from_millis(25);
        }
        assert!(now - start <= Duration::from_secs(60), "took {:?}", now - start);
        assert_eq!(gw.bindings().count(), PHONES as usize);
        assert_eq!(gw.stats().refused_full, 0);
    });
}
