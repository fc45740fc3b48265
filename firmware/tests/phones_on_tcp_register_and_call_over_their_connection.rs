//! Phones may reach the box over TCP (RFC 3261 §18), online and in survival. The box frames each connection by
//! Content-Length whatever pieces the bytes come in, answers on the connection the request came
//! on, sends requests for a phone registered over an open connection on that connection, answers
//! a double-CRLF keepalive with a CRLF (RFC 5626 §3.5.1), and has a defined answer at its limits:
//! one connection over [`MAX_LAN_STREAMS`] is refused while all are live, and takes the place of
//! one silent for [`LAN_STREAM_IDLE_EVICT`]; a message over the buffer or bytes that are no SIP
//! break the connection (the runtime is told to close it), and the box keeps working.
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "common/sim.rs"]
mod sim;

use std::time::Duration;

use carillon_firmware::gateway::{Event, LAN_STREAM_BUFFER_LEN, LAN_STREAM_IDLE_EVICT, MAX_LAN_STREAMS};
use carillon_protocol::control::Mode;
use sim::*;

fn survival() -> Sim {
    let mut s = Sim::new();
    s.boot_online();
    s.configure(1, false);
    s.cut();
    s.run_for(Duration::from_secs(6));
    assert_eq!(s.gw.mode(), Mode::Survival);
    s
}

#[test]
fn a_tcp_phone_registers_and_calls_a_udp_phone_and_is_called_back_on_its_connection() {
    run(|| {
        let mut s = survival();
        s.add_tcp_phone(104, Answer::After(Duration::from_millis(500)));
        s.add_phone(105, Answer::After(Duration::from_millis(500)));
        assert_eq!(s.register(104, "pw104", 600), 200, "REGISTER over TCP, in two pieces each");
        assert!(s.phone(104).over_tcp >= 2, "401 and 200 came back on the connection");
        assert_eq!(s.register(105, "pw105", 600), 200);

        // (101 is an emergency number of the built-in plan: 104 and 105 here.)
        // 104 (TCP) calls 105 (UDP): 407, credentials, 200, ACK, BYE — all on 104's connection.
        s.call(104, "105", "tcp-out");
        s.run_for(Duration::from_secs(2));
        for m in &s.phone(104).inbox {
            eprintln!("--- {}", text(m));
        }
        assert_eq!(s.finals_for(104, "tcp-out"), vec![200]);
        s.ack_and_bye(104, "tcp-out", Duration::from_secs(1));
        assert_eq!(s.phone(105).requests("BYE").len(), 1);
        assert!(s.phone(104).responses().any(|r| text(r).contains("2 BYE") && status_of(r) == Some(200)));

        // 105 calls 104: the INVITE goes on 104's connection, with a TCP Via of the box.
        let tcp_before = s.phone(104).over_tcp;
        s.call(105, "104", "tcp-in");
        s.run_for(Duration::from_secs(2));
        assert_eq!(s.finals_for(105, "tcp-in"), vec![200]);
        let inv = s.phone(104).requests("INVITE");
        assert_eq!(inv.len(), 1);
        assert!(text(&inv[0]).contains(&format!("Via: SIP/2.0/TCP {}", lan())), "{}", text(&inv[0]));
        assert!(s.phone(104).over_tcp > tcp_before, "the INVITE came on the connection");
        assert_eq!(s.gw.lan_streams_open(), 1);

        // The connection closes: 104 is sent datagrams again (its binding stays).
        s.close_tcp(104);
        s.run_for(Duration::from_millis(10));
        assert_eq!(s.gw.lan_streams_open(), 0);
        let tcp_before = s.phone(104).over_tcp;
        s.call(105, "104", "udp-in");
        s.run_for(Duration::from_secs(2));
        assert_eq!(s.finals_for(105, "udp-in"), vec![200]);
        assert_eq!(s.phone(104).over_tcp, tcp_before, "nothing more on the closed connection");
    });
}

#[test]
fn a_keepalive_ping_is_answered_with_a_pong() {
    run(|| {
        let mut s = survival();
        s.add_tcp_phone(101, Answer::Never);
        s.run_for(Duration::from_millis(10));
        s.stream_sends(101, b"\r\n\r\n".to_vec());
        s.run_for(Duration::from_millis(10));
        assert_eq!(s.phone(101).tcp_pongs, 1);
        // A ping in pieces, however cut, is one ping.
        for pieces in [&[&b"\r\n"[..], b"\r\n"][..], &[b"\r", b"\n\r\n"], &[b"\r\n\r", b"\n"]] {
            for p in pieces {
                s.stream_sends(101, p.to_vec());
                s.run_for(Duration::from_millis(10));
            }
        }
        assert_eq!(s.phone(101).tcp_pongs, 4);
        // A request right after still works (the line ends before it are skipped).
        s.stream_sends(101, b"\r\n".to_vec());
        let req = register_request(s.phone(101), "after-pings", 1, 600, None);
        s.phone_sends(101, req);
        s.run_for(Duration::from_millis(10));
        assert_eq!(s.phone(101).final_codes(), vec![401]);
        assert_eq!(s.phone(101).tcp_pongs, 4);
        assert!(s.events.iter().all(|e| !matches!(e, Event::LanStreamBroken { .. })));
    });
}

#[test]
fn one_connection_over_the_limit_is_refused_and_the_others_work() {
    run(|| {
        let mut s = survival();
        for i in 0..=MAX_LAN_STREAMS as u32 {
            s.add_tcp_phone(110 + i, Answer::Never);
        }
        s.run_for(Duration::from_millis(10));
        assert_eq!(s.gw.lan_streams_open(), MAX_LAN_STREAMS);
        assert_eq!(s.refused_streams, vec![s.phone(110 + MAX_LAN_STREAMS as u32).addr]);
        assert_eq!(s.gw.stats().lan_streams_refused, 1);
        // One that is open still works (103 is no extension: 404, on its connection).
        let p = s.phone(110);
        let req = register_request(p, "over-limit", 1, 600, None);
        s.phone_sends(110, req);
        s.run_for(Duration::from_millis(50));
        assert_eq!(s.phone(110).final_codes(), vec![404]);
        assert_eq!(s.phone(110).over_tcp, 1);
        // The refused one's bytes are not handled: the runtime is told to close it.
        let refused = s.phone(110 + MAX_LAN_STREAMS as u32).addr;
        s.stream_sends(110 + MAX_LAN_STREAMS as u32, b"OPTIONS sip:x SIP/2.0\r\n".to_vec());
        s.run_for(Duration::from_millis(10));
        assert!(s.events.contains(&Event::LanStreamBroken { peer: refused }));
    });
}

#[test]
fn an_oversized_message_or_garbage_breaks_only_that_connection() {
    run(|| {
        let mut s = survival();
        s.add_tcp_phone(101, Answer::Never);
        s.add_tcp_phone(102, Answer::Never);
        s.run_for(Duration::from_millis(10));
        // Headers that never end, longer than the buffer.
        let mut huge = b"REGISTER sip:school.example SIP/2.0\r\n".to_vec();
        while huge.len() <= LAN_STREAM_BUFFER_LEN + 100 {
            huge.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        s.stream_sends(101, huge);
        // Bytes that are no SIP at all.
        s.stream_sends(102, b"\x16\x03\x01\x02\x00 this is TLS, not SIP\r\n\r\n".to_vec());
        s.run_for(Duration::from_millis(10));
        let broken: Vec<_> = s
            .events
            .iter()
            .filter_map(|e| if let Event::LanStreamBroken { peer } = e { Some(*peer) } else { None })
            .collect();
        assert!(broken.contains(&s.phone(101).addr), "{broken:?}");
        assert!(broken.contains(&s.phone(102).addr), "{broken:?}");
        assert_eq!(s.gw.lan_streams_open(), 0);
        assert_eq!(s.gw.stats().lan_stream_errors, 2);
        // The phones reconnect and are served.
        s.add_tcp_phone(103, Answer::Never);
        s.run_for(Duration::from_millis(10));
        assert_eq!(s.register(103, "pw103", 600), 200);
    });
}

#[test]
fn a_new_connection_takes_the_place_of_one_silent_too_long() {
    run(|| {
        let mut s = survival();
        for i in 0..MAX_LAN_STREAMS as u32 {
            s.add_tcp_phone(110 + i, Answer::Never);
        }
        s.run_for(Duration::from_millis(10));
        // Every phone but 110 keeps its connection alive with keepalives; 110 is dead.
        let mut waited = Duration::ZERO;
        while waited < LAN_STREAM_IDLE_EVICT {
            for i in 1..MAX_LAN_STREAMS as u32 {
                s.stream_sends(110 + i, b"\r\n\r\n".to_vec());
            }
            s.run_for(Duration::from_secs(60));
            waited += Duration::from_secs(60);
        }
        let dead = s.phone(110).addr;
        s.add_tcp_phone(130, Answer::Never);
        s.run_for(Duration::from_millis(10));
        assert!(s.refused_streams.is_empty(), "the new connection is taken");
        assert!(s.events.contains(&Event::LanStreamEvicted { peer: dead }), "the dead one is closed");
        assert_eq!(s.gw.stats().lan_streams_evicted, 1);
        assert_eq!(s.gw.lan_streams_open(), MAX_LAN_STREAMS);
        // The new phone is served on its connection.
        assert_eq!(s.register(130, "pw130", 600), 404, "130 is no extension: 404, but answered");
        assert!(s.phone(130).over_tcp >= 1);
        // Now all are live again (the newcomer just spoke): one more is refused.
        s.add_tcp_phone(131, Answer::Never);
        s.run_for(Duration::from_millis(10));
        assert_eq!(s.refused_streams, vec![s.phone(131).addr]);
    });
}

#[test]
fn online_the_cloud_reaches_a_tcp_phone_on_its_connection() {
    run(|| {
        let mut s = Sim::new();
        s.boot_online();
        s.configure(1, false);
        s.add_tcp_phone(104, Answer::After(Duration::from_millis(300)));
        s.add_phone(105, Answer::Never);
        assert_eq!(s.register(104, "pw104", 600), 200, "REGISTER over TCP, through the cloud");
        assert_eq!(s.register(105, "pw105", 600), 200);
        assert!(s.cloud.sip_seen.iter().any(|m| text(m).starts_with("REGISTER") && text(m).contains("sip:104@")));
        let before = s.phone(104).over_tcp;
        s.call(105, "104", "cloud-to-tcp");
        s.run_for(Duration::from_secs(2));
        assert_eq!(s.finals_for(105, "cloud-to-tcp"), vec![200]);
        let inv = s.phone(104).requests("INVITE");
        assert_eq!(inv.len(), 1);
        assert!(text(&inv[0]).contains(&format!("Via: SIP/2.0/TCP {}", lan())), "{}", text(&inv[0]));
        assert!(s.phone(104).over_tcp > before, "the cloud's INVITE came on 104's connection");
        assert_eq!(s.gw.mode(), Mode::Online);
    });
}
