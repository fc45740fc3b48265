//! A request with a malformed header line can still be answered.
//!
//! The parser refuses the whole message when one header line is malformed (no colon, a name
//! that is not a token, a bare line break, a fold with nothing to continue): it cannot know
//! which lines to trust. But the sender deserves a `400 Bad Request (malformed header line: ..)`
//! rather than silence and retransmissions for 32 s, and the answer only needs Via, From, To,
//! Call-ID and CSeq. So [`without_bad_lines`] rebuilds the message without its malformed lines;
//! if what is left parses, the server answers *that* with 400 — and never processes it. If a
//! line the answer needs (the Via) was the malformed one, nothing is answered.
//!
//! On a stream the same tells where the message ends (header section, then the Content-Length
//! of what is left), so the connection keeps its framing instead of being closed.

use carillon_protocol::{parse, Framing, Header, ParseConfig, Status};

/// Whether `line` (no line break) reads as `token *WSP ":"` with no stray CR or LF in it.
fn well_formed(line: &[u8]) -> bool {
    if line.iter().any(|&b| b == b'\r' || b == b'\n') {
        return false;
    }
    let name_len = line.iter().position(|&b| !is_token(b)).unwrap_or(line.len());
    if name_len == 0 {
        return false;
    }
    let rest = line.get(name_len..).unwrap_or(&[]);
    let rest = rest.iter().position(|&b| b != b' ' && b != b'\t').and_then(|i| rest.get(i..)).unwrap_or(&[]);
    rest.first() == Some(&b':')
}

/// RFC 3261 §25.1 `token` characters.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// `bytes` (one message, possibly followed by more on a stream) without its malformed header
/// lines: `Complete((rebuilt message, bytes of the input it spans))`, `Partial` when a stream
/// has not delivered the whole message yet, or `None` when nothing was malformed, the header
/// section has no end, or what is left does not parse.
pub(crate) fn without_bad_lines(bytes: &[u8], framing: Framing, cfg: &ParseConfig) -> Option<Status<(Vec<u8>, usize)>> {
    let skip = bytes.windows(2).take_while(|w| *w == b"\r\n").count();
    let skip = skip.min(bytes.len() / 2) * 2;
    let input = bytes.get(skip..)?;
    let Some(head_len) = input.windows(4).position(|w| w == b"\r\n\r\n") else {
        return (framing == Framing::Stream && input.len() <= cfg.max_message_len).then_some(Status::Partial);
    };
    let head = input.get(..head_len)?;
    let mut lines = head.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    // Splitting on LF: a bare LF splits a line in two, and the halves are judged each.
    let start = lines.next()?;
    let mut fixed = start.to_vec();
    let mut dropped = false;
    let mut last_kept = true;
    for line in lines {
        let fold = line.first().is_some_and(|&b| b == b' ' || b == b'\t');
        let keep = if fold { last_kept } else { well_formed(line) };
        if keep {
            fixed.extend_from_slice(b"\r\n");
            fixed.extend_from_slice(line);
        } else {
            dropped = true;
        }
        if !fold {
            last_kept = keep;
        }
    }
    if !dropped {
        return None;
    }
    fixed.extend_from_slice(b"\r\n\r\n");
    let fixed_head = fixed.len();
    fixed.extend_from_slice(input.get(head_len + 4..)?);
    let mut headers = vec![Header::EMPTY; 96];
    match parse(&fixed, &mut headers, framing, cfg) {
        Ok(Status::Complete(msg)) => {
            let body = msg.len.checked_sub(fixed_head)?;
            let used = skip + head_len + 4 + body;
            fixed.truncate(msg.len);
            Some(Status::Complete((fixed, used)))
        }
        Ok(Status::Partial) => Some(Status::Partial),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: &str = "OPTIONS sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n\
        From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: s1\r\nCSeq: 1 OPTIONS\r\n";

    fn run(text: &str, framing: Framing) -> Option<Status<(Vec<u8>, usize)>> {
        without_bad_lines(text.as_bytes(), framing, &ParseConfig::DEFAULT)
    }

    #[test]
    fn malformed_lines_are_left_out_and_the_rest_kept() {
        let text = format!(
            "{REQ}Bogus line without colon\r\nX-Ok: 1\r\n  folded\r\n@bad: 2\r\nContent-Length: 4\r\n\r\nbodyNEXT"
        );
        let Some(Status::Complete((fixed, used))) = run(&text, Framing::Stream) else { panic!("salvaged") };
        let fixed = String::from_utf8(fixed).unwrap();
        assert!(fixed.contains("X-Ok: 1\r\n  folded\r\n") && !fixed.contains("Bogus") && !fixed.contains("@bad"));
        assert!(fixed.ends_with("\r\n\r\nbody"), "{fixed}");
        assert_eq!(&text[used..], "NEXT", "the stream continues after the body");
    }

    #[test]
    fn nothing_to_salvage() {
        // Well formed: not this module's business.
        assert!(run(&format!("{REQ}Content-Length: 0\r\n\r\n"), Framing::Datagram).is_none());
        // The malformed line was the Via: what is left has none to answer along (the server
        // then stays silent; see the socket test).
        let no_via = REQ.replace("Via: SIP", "Via SIP");
        let Some(Status::Complete((fixed, _))) = run(&format!("{no_via}\r\n"), Framing::Datagram) else { panic!() };
        assert!(!String::from_utf8(fixed).unwrap().contains("Via"));
        // A start line that is not SIP: nothing parses.
        assert!(run("GARBAGE\r\nBogus\r\n\r\n", Framing::Datagram).is_none());
        // No end of the header section: wait on a stream, give up on a datagram.
        let open = format!("{REQ}Bogus\r\n");
        assert!(matches!(run(&open, Framing::Stream), Some(Status::Partial)));
        assert!(run(&open, Framing::Datagram).is_none());
    }
}
