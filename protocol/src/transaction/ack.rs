//! The ACK an INVITE client transaction sends for a non-2xx final response (RFC 3261
//! §17.1.1.3). It is built from the stored request and response whenever it is sent, so the
//! transaction does not keep a third buffer for it.

use super::key::{reparse, MAX_HEADERS};
use crate::header::{Header, HeaderKind};
use crate::lex::CommaSplit;
use crate::message::StartLine;
use crate::write::Writer;

/// Writes the ACK for `request`, whose final response had `to_line` (the raw To header line,
/// line break included), into `out`. `None` if the request cannot be parsed (it was parsed
/// before it was stored, so only a bug gets here) or `out` is too small.
pub(crate) fn write_ack(request: &[u8], to_line: &[u8], out: &mut [u8]) -> Option<usize> {
    let mut headers = [Header::EMPTY; MAX_HEADERS];
    let req = reparse(request, &mut headers)?;
    let StartLine::Request { uri, .. } = req.start else { return None };
    let cseq = req.cseq()?.ok()?;
    // "The ACK MUST contain a single Via header field, and this MUST be equal to the top Via
    // header field of the original request": the first value of the first Via line.
    let top_via = CommaSplit::new(req.value(HeaderKind::Via)?).next()?;
    let line = |h: &Header<'_>| req.bytes.get(h.line_start as usize..h.line_end as usize).unwrap_or(&[]);

    let mut w = Writer::new(out);
    // "The Request-URI of the ACK MUST be the same as the Request-URI of the original request".
    w.raw(b"ACK ").raw(uri).raw(b" SIP/2.0\r\n");
    w.raw(b"Via: ").raw(top_via).raw(b"\r\n");
    // §8.1.1.6: every request carries Max-Forwards; the ACK is a fresh hop from us.
    w.raw(b"Max-Forwards: 70\r\n");
    for h in req.headers {
        match h.kind {
            // "The Call-ID, From, and Request-URI MUST be equal to those of the original
            // request", and the Route set travels with it.
            HeaderKind::From | HeaderKind::CallId | HeaderKind::Route => {
                w.raw(line(h));
            }
            _ => {}
        }
    }
    // "The To header field in the ACK MUST equal the To header field in the response being
    // acknowledged" (it carries the UAS's tag).
    w.raw(to_line);
    // "The CSeq header field in the ACK MUST contain the same value for the sequence number
    // as was present in the original request, but the method parameter MUST be equal to ACK."
    w.fmt(format_args!("CSeq: {} ACK\r\n", cseq.seq));
    w.finish(&[]).ok()
}
