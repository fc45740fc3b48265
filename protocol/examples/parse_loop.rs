//! Profiling aid: parses the bench INVITE in a loop (`perf record` / callgrind target).
use carillon_protocol::{parse, Framing, Header, ParseConfig, Status};

fn main() {
    let bytes: &[u8] = include_bytes!("../tests/data/invite.sip");
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let mut total = 0usize;
    for _ in 0..n {
        let mut headers = [Header::EMPTY; 64];
        if let Ok(Status::Complete(m)) = parse(std::hint::black_box(bytes), &mut headers, Framing::Datagram, &ParseConfig::DEFAULT) {
            total += m.top_via().and_then(Result::ok).and_then(|v| v.branch()).map_or(0, <[u8]>::len);
            total += m.from().and_then(Result::ok).and_then(|f| f.tag()).map_or(0, <[u8]>::len);
            total += m.to().and_then(Result::ok).map_or(0, |t| t.uri.raw.len());
            total += m.cseq().and_then(Result::ok).map_or(0, |c| c.seq as usize);
            total += m.contacts().count();
        }
    }
    println!("{total}");
}
