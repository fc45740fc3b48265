//! The Record-Route value a phone gets from the box is the box's LAN address, which the phone
//! can reach for its ACK and BYE (the box's host name is the cloud's to know and need not be
//! resolvable on the school LAN). On a call through the cloud the box record-routes twice (RFC
//! 5658): its host name towards the cloud, its LAN address towards the phone; it removes both
//! of its own Route values from the in-dialog requests it forwards.
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "common/sim.rs"]
mod sim;

use std::time::Duration;

use sim::*;

/// The Record-Route values of a message, as `host` or `host:port`, top first.
fn record_routes(bytes: &[u8]) -> Vec<String> {
    msg(bytes, |m| m.record_routes().map(|r| hostport(&r.unwrap())).collect())
}

fn routes(bytes: &[u8]) -> Vec<String> {
    msg(bytes, |m| m.routes().map(|r| hostport(&r.unwrap())).collect())
}

fn hostport(r: &carillon_protocol::NameAddr<'_>) -> String {
    let host = r.uri.host.unwrap().to_string();
    match r.uri.port {
        Some(p) => format!("{host}:{p}"),
        None => host,
    }
}

#[test]
fn an_online_call_is_record_routed_by_the_lan_address_towards_both_phones() {
    run(|| {
        let mut s = Sim::new();
        s.boot_online();
        s.configure(1, false);
        s.add_phone(101, Answer::Never);
        s.add_phone(102, Answer::After(Duration::from_secs(1)));
        assert_eq!(s.register(101, "pw101", 600), 200);
        assert_eq!(s.register(102, "pw102", 600), 200);
        s.call(101, "102", "rr-online");
        s.run_for(Duration::from_secs(3));
        assert_eq!(s.finals_for(101, "rr-online"), vec![200]);
        let lan = lan().to_string();

        // The cloud sees the box's host name on top (its hop back to the box), then the LAN side.
        let at_cloud = s.cloud.sip_seen.iter().find(|m| m.starts_with(b"INVITE")).unwrap().clone();
        assert_eq!(record_routes(&at_cloud), vec![BOX_HOST.to_string(), lan.clone()]);

        // The callee's first hop (the top value) is the box's LAN address.
        let at_callee = s.phone(102).requests("INVITE")[0].clone();
        assert_eq!(
            record_routes(&at_callee),
            vec![lan.clone(), BOX_HOST.to_string(), CLOUD_HOST.to_string(), BOX_HOST.to_string(), lan.clone()]
        );
        // The caller reverses the list: its first hop is the box's LAN address too.
        let ok = s.ok_for(101, "rr-online").unwrap();
        assert_eq!(record_routes(&ok).last(), Some(&lan));

        s.ack_and_bye(101, "rr-online", Duration::from_secs(2));
        // Both of the box's Route values are gone from what it forwards to the cloud.
        for method in [&b"ACK"[..], b"BYE"] {
            let fwd = s.cloud.sip_seen.iter().rfind(|m| m.starts_with(method)).unwrap().clone();
            assert_eq!(routes(&fwd).first().map(String::as_str), Some(CLOUD_HOST), "{}", text(&fwd));
        }
        let bye = s.phone(102).requests("BYE");
        assert_eq!(bye.len(), 1, "BYE reached the callee");
        assert!(routes(&bye[0]).iter().all(|r| r != BOX_HOST && *r != lan), "{}", text(&bye[0]));
        let bye_ok = s.phone(101).responses().filter(|r| text(r).contains("CSeq: 2 BYE")).count();
        assert_eq!(bye_ok, 1, "the caller got the 200 to its BYE");
    });
}

#[test]
fn a_survival_call_is_record_routed_by_the_lan_address_only() {
    run(|| {
        let mut s = Sim::new();
        s.boot_online();
        s.configure(1, false);
        s.add_phone(101, Answer::Never);
        s.add_phone(102, Answer::After(Duration::from_secs(1)));
        assert_eq!(s.register(101, "pw101", 600), 200);
        assert_eq!(s.register(102, "pw102", 600), 200);
        s.cut();
        s.run_for(Duration::from_secs(6));
        assert_eq!(s.gw.mode(), carillon_protocol::control::Mode::Survival);
        s.call(101, "102", "rr-survival");
        s.run_for(Duration::from_secs(3));
        assert_eq!(s.finals_for(101, "rr-survival"), vec![200]);
        let invites = s.phone(102).requests("INVITE");
        assert!(!invites.is_empty(), "the callee was rung in survival");
        assert_eq!(record_routes(invites.last().unwrap()), vec![lan().to_string()]);
    });
}
