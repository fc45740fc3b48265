//! In survival the box is the school's proxy, and it checks who calls as the cloud would: an
//! INVITE is challenged (407 with Proxy-Authenticate, MD5 first) and must come back with the
//! caller's digest credentials, checked against the HA1 the cloud synced. A wrong password or
//! another extension's credentials get 403 and ring nobody; a challenged or refused INVITE is
//! no call (nothing journaled). The right password connects. Emergency numbers are never
//! challenged.
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "common/sim.rs"]
mod sim;

use std::time::Duration;

use carillon_protocol::control::Mode;
use carillon_protocol::HeaderKind;
use sim::*;

fn survival(trunk: bool) -> Sim {
    let mut s = Sim::new();
    s.boot_online();
    s.configure(1, trunk);
    s.cut();
    s.run_for(Duration::from_secs(6));
    assert_eq!(s.gw.mode(), Mode::Survival);
    s.add_phone(101, Answer::Never);
    s.add_phone(102, Answer::After(Duration::from_millis(500)));
    assert_eq!(s.register(101, "pw101", 600), 200);
    assert_eq!(s.register(102, "pw102", 600), 200);
    s
}

#[test]
fn the_right_password_connects_after_a_407() {
    run(|| {
        let mut s = survival(false);
        s.call(101, "102", "auth-right");
        s.run_for(Duration::from_secs(3));
        assert_eq!(s.challenges_for(101, "auth-right"), 1, "challenged once");
        let challenge = s.phone(101).responses().find(|r| status_of(r) == Some(407)).unwrap().clone();
        msg(&challenge, |m| {
            let algs: Vec<String> = m.headers_of(HeaderKind::ProxyAuthenticate).map(|h| text(h.value)).collect();
            assert_eq!(algs.len(), 2, "{algs:?}");
            assert!(algs[0].contains("MD5") && algs[1].contains("SHA-256"), "MD5 first: {algs:?}");
            assert!(algs[0].contains(&format!("realm=\"{REALM}\"")), "{algs:?}");
        });
        assert_eq!(s.finals_for(101, "auth-right"), vec![200]);
        assert_eq!(s.phone(102).requests("INVITE").len(), 1, "102 rang once, after the credentials");
        s.ack_and_bye(101, "auth-right", Duration::from_secs(2));
        assert_eq!(s.gw.journal().unacked(), 1, "the call is journaled");
    });
}

#[test]
fn a_wrong_password_is_403_and_rings_nobody() {
    run(|| {
        let mut s = survival(false);
        s.phone_mut(101).password = Some("not-pw101".into());
        s.call(101, "102", "auth-wrong");
        s.run_for(Duration::from_secs(3));
        assert_eq!(s.finals_for(101, "auth-wrong"), vec![403]);
        assert!(text(s.phone(101).last_response().unwrap()).contains("bad credentials"));
        assert!(s.phone(102).requests("INVITE").is_empty(), "102 never rang");
        assert_eq!(s.gw.journal().unacked(), 0, "no call, no record");
    });
}

#[test]
fn no_credentials_is_only_a_challenge() {
    run(|| {
        let mut s = survival(false);
        s.phone_mut(101).password = None;
        s.call(101, "102", "auth-none");
        s.run_for(Duration::from_secs(3));
        assert_eq!(s.finals_for(101, "auth-none"), vec![407]);
        assert!(s.phone(102).requests("INVITE").is_empty());
        assert_eq!(s.gw.journal().unacked(), 0);
    });
}

#[test]
fn another_extensions_credentials_are_403() {
    run(|| {
        let mut s = survival(false);
        // 103's phone claims to be 101 in From but answers the challenge as 103.
        s.add_phone(103, Answer::Never);
        let mut invite = invite_request(s.phone(103), "102", "auth-other");
        invite = text(&invite).replace("<sip:103@", "<sip:101@").replacen("tag=c103", "tag=c101", 1).into_bytes();
        s.phone_sends(103, invite.clone());
        s.run_for(Duration::from_secs(1));
        let challenge = s.phone(103).responses().find(|r| status_of(r) == Some(407)).unwrap().clone();
        let www = msg(&challenge, |m| {
            m.headers_of(HeaderKind::ProxyAuthenticate).map(|h| h.value.to_vec()).find(|v| text(v).contains("MD5"))
        })
        .unwrap();
        let ch = carillon_protocol::digest::Challenge::parse(&www).unwrap();
        let mut auth = [0u8; 512];
        let n = carillon_protocol::digest::CredentialsParams {
            username: "103",
            secret: carillon_protocol::digest::Secret::Password(b"pw103"),
            method: "INVITE",
            uri: &format!("sip:102@{REALM}"),
            cnonce: "c0ffee",
            nc: 1,
        }
        .write(&ch, &mut auth)
        .unwrap();
        let retry = text(&invite)
            .replace("CSeq: 1 INVITE", "CSeq: 2 INVITE")
            .replace("branch=z9hG4bKiauth-other", "branch=z9hG4bKiauth-other2")
            .replace("Content-Type:", &format!("Proxy-Authorization: {}\r\nContent-Type:", text(&auth[..n])));
        s.phone_sends(103, retry.into_bytes());
        s.run_for(Duration::from_secs(1));
        let last = s.phone(103).last_response().unwrap().clone();
        assert_eq!(status_of(&last), Some(403), "{}", text(&last));
        assert!(text(&last).contains("another extension"), "{}", text(&last));
        assert!(s.phone(102).requests("INVITE").is_empty());
    });
}

#[test]
fn an_emergency_call_is_not_challenged() {
    run(|| {
        let mut s = survival(true);
        // The fallback trunk: a user agent that answers.
        s.add_phone(190, Answer::After(Duration::from_millis(300)));
        s.phone_mut(190).addr = addr(TRUNK);
        s.phone_mut(101).password = None;
        s.call(101, "112", "auth-sos");
        s.run_for(Duration::from_secs(2));
        assert_eq!(s.challenges_for(101, "auth-sos"), 0);
        assert_eq!(s.finals_for(101, "auth-sos"), vec![200], "the emergency call connects without credentials");
        assert_eq!(s.phone(190).requests("INVITE").len(), 1);
    });
}
