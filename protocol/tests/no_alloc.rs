//! Parsing and typed access allocate nothing: a counting global allocator (allocation-counter)
//! watches parse + validate + every typed accessor on the bench messages and, when present,
//! the RFC 4475/5118 torture messages.

use carillon_protocol::{parse, validate, Contact, Framing, Header, ParseConfig, Status};

const MESSAGES: [&[u8]; 3] =
    [include_bytes!("data/invite.sip"), include_bytes!("data/register.sip"), include_bytes!("data/ok200.sip")];

/// Everything a proxy reads from a message; returns a checksum so nothing is optimised away.
fn read_all(bytes: &[u8]) -> usize {
    let mut headers = [Header::EMPTY; 128];
    let mut sum = 0;
    for framing in [Framing::Datagram, Framing::Stream] {
        let Ok(Status::Complete(m)) = parse(bytes, &mut headers, framing, &ParseConfig::DEFAULT) else {
            continue;
        };
        sum += m.len + usize::from(validate(&m).is_ok());
        for v in m.vias().flatten() {
            sum += v.branch().map_or(0, <[u8]>::len) + usize::from(v.rport().is_some());
        }
        for n in [m.from(), m.to()].into_iter().flatten().flatten() {
            sum += n.tag().map_or(0, <[u8]>::len) + n.uri.raw.len();
        }
        sum += m.cseq().and_then(Result::ok).map_or(0, |c| c.seq as usize);
        sum += m.call_id().map_or(0, <[u8]>::len);
        for c in m.contacts().flatten() {
            if let Contact::Addr(a) = c {
                sum += a.expires().unwrap_or(0) as usize + a.uri.port.map_or(0, usize::from);
            }
        }
        sum += m.routes().count() + m.record_routes().count() + m.paths().count();
        sum += m.max_forwards().and_then(Result::ok).map_or(0, usize::from);
        if let Some(Ok(u)) = m.request_uri() {
            sum += u.raw.len();
        }
    }
    sum
}

#[test]
fn the_counter_sees_allocations() {
    // The measurement can fail: an allocating closure is counted.
    let info = allocation_counter::measure(|| {
        std::hint::black_box(vec![1u8; 16]);
    });
    assert!(info.count_total >= 1);
}

#[test]
fn parse_and_typed_access_allocate_nothing() {
    let mut torture = Vec::new();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/sip-torture");
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "sip") {
                torture.push(std::fs::read(e.path()).expect("read torture file"));
            }
        }
    }
    let mut checksum = 0;
    let info = allocation_counter::measure(|| {
        for m in MESSAGES {
            checksum += read_all(m);
        }
        for t in &torture {
            checksum += read_all(t);
        }
    });
    assert!(checksum > 0);
    assert_eq!(info.count_total, 0, "parse + typed access allocated {} times", info.count_total);
}
