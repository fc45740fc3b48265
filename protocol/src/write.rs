//! Writing SIP into caller buffers: new messages with [`Writer`], responses to a request with
//! [`write_response`], and the edits a proxy makes to a message it forwards with [`Forward`] —
//! all without an owned message tree. A proxy's edit copies the original header lines
//! byte-for-byte (folds, unknown headers, compact names and all) and changes only what it must.
//!
//! ```
//! use carillon_protocol::{parse, Framing, Header, ParseConfig, Status};
//! use carillon_protocol::write::Forward;
//!
//! let bytes = b"INVITE sip:102@school SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK1\r\n\
//! Max-Forwards: 70\r\nFrom: <sip:101@school>;tag=a\r\nTo: <sip:102@school>\r\nCall-ID: x\r\n\
//! CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
//! let mut headers = [Header::EMPTY; 32];
//! let Ok(Status::Complete(msg)) = parse(bytes, &mut headers, Framing::Datagram, &ParseConfig::DEFAULT)
//! else { panic!() };
//! let mut out = [0u8; 1024];
//! let n = Forward::new()
//!     .push_via(b"SIP/2.0/TLS box.school;branch=z9hG4bKbox1")
//!     .record_route(b"<sip:box.school;lr>")
//!     .decrement_max_forwards()
//!     .write(&msg, &mut out)?;
//! let text = core::str::from_utf8(&out[..n]).unwrap();
//! assert!(text.starts_with("INVITE sip:102@school SIP/2.0\r\nVia: SIP/2.0/TLS box.school;branch=z9hG4bKbox1\r\n"));
//! assert!(text.contains("Max-Forwards: 69\r\n"));
//! # Ok::<(), carillon_protocol::WriteError>(())
//! ```

use core::fmt::{self, Write as _};

use crate::error::WriteError;
use crate::header::HeaderKind;
use crate::lex::CommaSplit;
use crate::message::{Message, StartLine};
use crate::method::Method;

/// Appends to a caller buffer. Errors are sticky: once the buffer overflows every later call is
/// a no-op and [`Writer::finish`] reports [`WriteError::BufferTooSmall`].
pub struct Writer<'b> {
    buf: &'b mut [u8],
    len: usize,
    err: Option<WriteError>,
}

impl<'b> Writer<'b> {
    /// Starts writing at the beginning of `buf`.
    pub fn new(buf: &'b mut [u8]) -> Self {
        Writer { buf, len: 0, err: None }
    }

    /// Bytes written so far.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing has been written.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends raw bytes.
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        if self.err.is_some() {
            return self;
        }
        match self.buf.get_mut(self.len..self.len + bytes.len()) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.len += bytes.len();
            }
            None => self.err = Some(WriteError::BufferTooSmall),
        }
        self
    }

    /// Appends formatted text.
    pub fn fmt(&mut self, args: fmt::Arguments<'_>) -> &mut Self {
        if self.write_fmt(args).is_err() && self.err.is_none() {
            self.err = Some(WriteError::BufferTooSmall);
        }
        self
    }

    /// `Method SP Request-URI SP SIP/2.0 CRLF`.
    pub fn request_line(&mut self, method: Method<'_>, uri: &[u8]) -> &mut Self {
        self.raw(method.as_str().as_bytes()).raw(b" ").raw(uri).raw(b" SIP/2.0\r\n")
    }

    /// `SIP/2.0 SP code SP reason CRLF`.
    pub fn status_line(&mut self, code: u16, reason: &str) -> &mut Self {
        self.fmt(format_args!("SIP/2.0 {code} ")).raw(reason.as_bytes()).raw(b"\r\n")
    }

    /// `name: value CRLF`. A value with a line break that is not a fold would inject a header
    /// and is refused.
    pub fn header(&mut self, name: &str, value: &[u8]) -> &mut Self {
        if has_bare_break(value) {
            self.err.get_or_insert(WriteError::NotApplicable("line break in a header value"));
            return self;
        }
        self.raw(name.as_bytes()).raw(b": ").raw(value).raw(b"\r\n")
    }

    /// `name: <formatted value> CRLF`.
    pub fn header_fmt(&mut self, name: &str, args: fmt::Arguments<'_>) -> &mut Self {
        self.raw(name.as_bytes()).raw(b": ").fmt(args).raw(b"\r\n")
    }

    /// Writes `Content-Length`, the empty line and the body; returns the message length.
    pub fn finish(mut self, body: &[u8]) -> Result<usize, WriteError> {
        self.header_fmt("Content-Length", format_args!("{}", body.len())).raw(b"\r\n").raw(body);
        self.done()
    }

    /// Returns the length written, for callers that wrote the end of the message themselves.
    pub fn done(self) -> Result<usize, WriteError> {
        match self.err {
            Some(e) => Err(e),
            None => Ok(self.len),
        }
    }
}

impl fmt::Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.raw(s.as_bytes());
        if self.err.is_some() {
            Err(fmt::Error)
        } else {
            Ok(())
        }
    }
}

/// A CR or LF that is not part of a fold (CRLF followed by white space).
fn has_bare_break(v: &[u8]) -> bool {
    v.iter().enumerate().any(|(i, &b)| match b {
        b'\r' => !(v.get(i + 1) == Some(&b'\n') && v.get(i + 2).is_some_and(|&c| c == b' ' || c == b'\t')),
        b'\n' => !(i > 0 && v.get(i - 1) == Some(&b'\r') && v.get(i + 1).is_some_and(|&c| c == b' ' || c == b'\t')),
        _ => false,
    })
}

/// Writes a response to `req` (RFC 3261 §8.2.6.2): the Via lines, From, Call-ID and CSeq are
/// copied; To is copied and gets `to_tag` when it has no tag yet and `to_tag` is given (a UAS
/// must add one to every response but 100). `extra` headers follow, then the body.
pub fn write_response(
    req: &Message<'_, '_>,
    code: u16,
    reason: &str,
    to_tag: Option<&[u8]>,
    extra: &[(&str, &[u8])],
    body: &[u8],
    out: &mut [u8],
) -> Result<usize, WriteError> {
    let mut w = Writer::new(out);
    w.status_line(code, reason);
    for h in req.headers {
        match h.kind {
            HeaderKind::Via | HeaderKind::From | HeaderKind::CallId | HeaderKind::CSeq => {
                w.raw(line(req, h));
            }
            HeaderKind::To => {
                let tagged = req.to().and_then(Result::ok).is_some_and(|t| t.tag().is_some());
                match (to_tag, tagged) {
                    (Some(tag), false) => {
                        w.raw(b"To: ").raw(h.value).raw(b";tag=").raw(tag).raw(b"\r\n");
                    }
                    _ => {
                        w.raw(line(req, h));
                    }
                }
            }
            _ => {}
        }
    }
    for (name, value) in extra {
        w.header(name, value);
    }
    w.finish(body)
}

/// The bytes of a header line, line break included.
fn line<'a>(msg: &Message<'_, 'a>, h: &crate::header::Header<'a>) -> &'a [u8] {
    msg.bytes.get(h.line_start as usize..h.line_end as usize).unwrap_or(&[])
}

/// The edits a proxy makes to a message it forwards (RFC 3261 §16.6, RFC 3327), applied while
/// copying into the output buffer.
#[derive(Clone, Copy, Debug, Default)]
pub struct Forward<'e> {
    request_uri: Option<&'e [u8]>,
    push_via: Option<&'e [u8]>,
    pop_via: bool,
    record_route: Option<&'e [u8]>,
    path: Option<&'e [u8]>,
    pop_routes: u8,
    drop_routes: bool,
    decrement_max_forwards: bool,
    contact: Option<&'e [u8]>,
    body: Option<&'e [u8]>,
}

impl<'e> Forward<'e> {
    /// No edits: the message is copied as it is.
    pub const fn new() -> Self {
        Forward {
            request_uri: None,
            push_via: None,
            pop_via: false,
            record_route: None,
            path: None,
            pop_routes: 0,
            drop_routes: false,
            decrement_max_forwards: false,
            contact: None,
            body: None,
        }
    }

    /// Rewrites the Request-URI (§16.6 step 6; requests only).
    pub const fn request_uri(mut self, uri: &'e [u8]) -> Self {
        self.request_uri = Some(uri);
        self
    }

    /// Adds a Via value on top (§16.6 step 8), e.g. `SIP/2.0/TLS box.example;branch=z9hG4bK...`.
    pub const fn push_via(mut self, via: &'e [u8]) -> Self {
        self.push_via = Some(via);
        self
    }

    /// Removes the topmost Via value (a proxy forwarding a response, §16.7 step 3).
    pub const fn pop_via(mut self) -> Self {
        self.pop_via = true;
        self
    }

    /// Adds a Record-Route value on top (§16.6 step 4), e.g. `<sip:box.example;lr>`.
    pub const fn record_route(mut self, rr: &'e [u8]) -> Self {
        self.record_route = Some(rr);
        self
    }

    /// Adds a Path value on top (RFC 3327 §5.1).
    pub const fn path(mut self, path: &'e [u8]) -> Self {
        self.path = Some(path);
        self
    }

    /// Removes the topmost Route value (the proxy's own, §16.4).
    pub const fn pop_route(mut self) -> Self {
        self.pop_routes = 1;
        self
    }

    /// Removes the topmost `n` Route values, across Route lines: a proxy that record-routed
    /// twice (RFC 5658: one value per side it joins) removes both of its own.
    pub const fn pop_routes(mut self, n: u8) -> Self {
        self.pop_routes = n;
        self
    }

    /// Removes every Route value: the request goes straight to its Request-URI. Not an RFC 3261
    /// §16.6 edit — a proxy that skips the rest of a route set on purpose (the box in survival,
    /// whose route set leads through an unreachable cloud) uses it and says why.
    pub const fn drop_routes(mut self) -> Self {
        self.drop_routes = true;
        self
    }

    /// Decrements Max-Forwards, adding `Max-Forwards: 70` when absent (§16.6 step 3). A message
    /// whose Max-Forwards is 0 or malformed is refused (the caller answers 483 or 400 first).
    pub const fn decrement_max_forwards(mut self) -> Self {
        self.decrement_max_forwards = true;
        self
    }

    /// Replaces every Contact value with this one.
    pub const fn contact(mut self, contact: &'e [u8]) -> Self {
        self.contact = Some(contact);
        self
    }

    /// Replaces the body (e.g. rewritten SDP); Content-Length follows.
    pub const fn body(mut self, body: &'e [u8]) -> Self {
        self.body = Some(body);
        self
    }

    /// Writes the edited copy of `msg` into `out` and returns its length.
    pub fn write(&self, msg: &Message<'_, '_>, out: &mut [u8]) -> Result<usize, WriteError> {
        let mut w = Writer::new(out);
        match msg.start {
            StartLine::Request { method, uri } => {
                w.request_line(method, self.request_uri.unwrap_or(uri));
            }
            StartLine::Response { .. } => {
                if self.request_uri.is_some() {
                    return Err(WriteError::NotApplicable("a response has no Request-URI"));
                }
                w.raw(msg.bytes.get(..msg.headers_start).unwrap_or(&[]));
            }
        }
        if let Some(v) = self.push_via {
            w.header("Via", v);
        }
        if let Some(rr) = self.record_route {
            w.header("Record-Route", rr);
        }
        if let Some(p) = self.path {
            w.header("Path", p);
        }
        let mut via_popped = !self.pop_via;
        let mut routes_to_pop = if self.drop_routes { 0 } else { self.pop_routes };
        let mut mf_seen = false;
        let mut contact_done = false;
        let mut cl_seen = false;
        for h in msg.headers {
            match h.kind {
                HeaderKind::Via if !via_popped => {
                    via_popped = true;
                    write_rest_of_list(&mut w, "Via", h.value);
                }
                HeaderKind::Route if self.drop_routes => {}
                HeaderKind::Route if routes_to_pop > 0 => {
                    let mut split = CommaSplit::new(h.value);
                    while routes_to_pop > 0 && split.next().is_some() {
                        routes_to_pop -= 1;
                    }
                    if let Some(rest) = split.remainder() {
                        let rest = crate::lex::trim_lws(rest);
                        if !rest.is_empty() {
                            w.raw(b"Route: ").raw(rest).raw(b"\r\n");
                        }
                    }
                }
                HeaderKind::MaxForwards if self.decrement_max_forwards => {
                    mf_seen = true;
                    let n = crate::lex::parse_u64(h.value)
                        .filter(|n| *n <= 255)
                        .ok_or(WriteError::NotApplicable("malformed Max-Forwards"))?;
                    if n == 0 {
                        return Err(WriteError::NotApplicable("Max-Forwards is 0"));
                    }
                    w.header_fmt("Max-Forwards", format_args!("{}", n - 1));
                }
                HeaderKind::Contact if self.contact.is_some() => {
                    if !contact_done {
                        contact_done = true;
                        w.header("Contact", self.contact.unwrap_or(&[]));
                    }
                }
                HeaderKind::ContentLength if self.body.is_some() => {
                    cl_seen = true;
                    w.header_fmt("Content-Length", format_args!("{}", self.body.map_or(0, <[u8]>::len)));
                }
                _ => {
                    w.raw(line(msg, h));
                }
            }
        }
        if !via_popped {
            return Err(WriteError::NotApplicable("no Via to remove"));
        }
        if routes_to_pop > 0 {
            return Err(WriteError::NotApplicable("no Route to remove"));
        }
        if self.decrement_max_forwards && !mf_seen && msg.is_request() {
            w.header("Max-Forwards", b"70");
        }
        if let (Some(c), false) = (self.contact, contact_done) {
            w.header("Contact", c);
        }
        let body = self.body.unwrap_or(msg.body);
        // A datagram may arrive without Content-Length (its body is the rest of the datagram,
        // RFC 3261 §18.3); the copy may travel on a stream, where the length is mandatory.
        if !cl_seen && (self.body.is_some() || msg.content_length.is_none()) {
            w.header_fmt("Content-Length", format_args!("{}", body.len()));
        }
        w.raw(b"\r\n").raw(body);
        w.done()
    }
}

/// Writes a list header without its first value; nothing when it had only one.
fn write_rest_of_list(w: &mut Writer<'_>, name: &str, value: &[u8]) {
    let mut split = CommaSplit::new(value);
    split.next();
    if let Some(rest) = split.remainder() {
        let rest = crate::lex::trim_lws(rest);
        if !rest.is_empty() {
            w.raw(name.as_bytes()).raw(b": ").raw(rest).raw(b"\r\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse, Framing, Header, ParseConfig, Status};

    const INVITE: &[u8] = b"INVITE sip:102@school SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1;rport, SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK0\r\n\
Route: <sip:box.school;lr>, <sip:cloud;lr>\r\n\
Max-Forwards: 70\r\n\
From: \"Ann\" <sip:101@school>;tag=a\r\n\
To: <sip:102@school>\r\n\
Call-ID: x@10.0.0.5\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:101@10.0.0.5:5060>\r\n\
X-Folded: one\r\n two\r\n\
Content-Length: 4\r\n\r\nbody";

    fn with_msg<R>(bytes: &[u8], f: impl FnOnce(&Message<'_, '_>) -> R) -> R {
        let mut h = [Header::EMPTY; 32];
        let Ok(Status::Complete(m)) = parse(bytes, &mut h, Framing::Datagram, &ParseConfig::DEFAULT) else {
            panic!("test message must parse")
        };
        f(&m)
    }

    fn reparse(out: &[u8], check: impl FnOnce(&Message<'_, '_>)) {
        let mut h = [Header::EMPTY; 32];
        let Ok(Status::Complete(m)) = parse(out, &mut h, Framing::Stream, &ParseConfig::DEFAULT) else {
            panic!("edited message must parse: {:?}", core::str::from_utf8(out))
        };
        crate::validate(&m).expect("edited message must validate");
        check(&m);
    }

    #[test]
    fn pop_routes_removes_values_across_route_lines() {
        const TWO_LINES: &[u8] = b"BYE sip:101@10.0.0.5 SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK0\r\n\
Route: <sip:10.0.0.1;lr>\r\n\
Route: <sip:box.school;lr>, <sip:cloud;lr>\r\n\
From: <sip:102@school>;tag=b\r\nTo: <sip:101@school>;tag=a\r\nCall-ID: x\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n";
        let mut out = [0u8; 2048];
        for (n, left) in [(1u8, 2usize), (2, 1), (3, 0)] {
            let len = with_msg(TWO_LINES, |m| Forward::new().pop_routes(n).write(m, &mut out).unwrap());
            reparse(&out[..len], |m| {
                assert_eq!(m.routes().count(), left, "pop {n}");
                if left == 1 {
                    assert_eq!(m.routes().next().unwrap().unwrap().uri.raw, b"sip:cloud;lr");
                }
            });
        }
        let four = with_msg(TWO_LINES, |m| Forward::new().pop_routes(4).write(m, &mut [0u8; 2048]));
        assert_eq!(four, Err(WriteError::NotApplicable("no Route to remove")));
    }

    #[test]
    fn drop_routes_removes_the_whole_route_set() {
        let mut out = [0u8; 2048];
        let n = with_msg(INVITE, |m| {
            Forward::new().push_via(b"SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKb").drop_routes().write(m, &mut out).unwrap()
        });
        reparse(&out[..n], |m| {
            assert_eq!(m.routes().count(), 0);
            assert_eq!(m.vias().count(), 3);
            assert_eq!(m.request_uri().unwrap().unwrap().raw, b"sip:102@school");
        });
        // A message without Route is no error for it (unlike pop_route).
        let n2 = with_msg(&out[..n], |m| Forward::new().drop_routes().write(m, &mut [0u8; 2048]));
        assert!(n2.is_ok());
    }

    #[test]
    fn forward_request_edits() {
        let mut out = [0u8; 2048];
        let n = with_msg(INVITE, |m| {
            Forward::new()
                .request_uri(b"sip:102@10.0.0.7:5062")
                .push_via(b"SIP/2.0/TLS box.school;branch=z9hG4bKbox")
                .record_route(b"<sip:box.school;lr>")
                .pop_route()
                .decrement_max_forwards()
                .contact(b"<sip:101@box.school>")
                .write(m, &mut out)
                .unwrap()
        });
        reparse(&out[..n], |m| {
            assert_eq!(m.request_uri().unwrap().unwrap().port, Some(5062));
            let vias: heapless_vias::V = m.vias().map(|v| v.unwrap().branch().unwrap().len()).collect();
            assert_eq!(vias.as_slice(), &[b"z9hG4bKbox".len(), b"z9hG4bK1".len(), b"z9hG4bK0".len()]);
            assert_eq!(m.routes().count(), 1);
            assert_eq!(m.record_routes().count(), 1);
            assert_eq!(m.max_forwards().unwrap().unwrap(), 69);
            assert_eq!(m.contacts().count(), 1);
            assert_eq!(m.body, b"body");
            assert_eq!(m.header_named(b"x-folded").unwrap().value, b"one\r\n two");
        });
    }

    mod heapless_vias {
        /// A tiny fixed collection for tests (no alloc in this crate).
        pub struct V([usize; 8], usize);
        impl V {
            pub fn as_slice(&self) -> &[usize] {
                &self.0[..self.1]
            }
        }
        impl FromIterator<usize> for V {
            fn from_iter<I: IntoIterator<Item = usize>>(it: I) -> Self {
                let mut v = V([0; 8], 0);
                for x in it {
                    v.0[v.1] = x;
                    v.1 += 1;
                }
                v
            }
        }
    }

    #[test]
    fn forward_response_pops_via_and_replaces_body() {
        let resp = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TLS box;branch=z9hG4bKbox\r\nVia: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK1\r\n\
From: <sip:101@school>;tag=a\r\nTo: <sip:102@school>;tag=b\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 3\r\n\r\nold";
        let mut out = [0u8; 1024];
        let n = with_msg(resp, |m| Forward::new().pop_via().body(b"new body").write(m, &mut out).unwrap());
        reparse(&out[..n], |m| {
            assert_eq!(m.vias().count(), 1);
            assert_eq!(m.top_via().unwrap().unwrap().branch(), Some(&b"z9hG4bK1"[..]));
            assert_eq!(m.body, b"new body");
            assert_eq!(m.status_code(), Some(200));
        });
    }

    #[test]
    fn refusals_and_small_buffers() {
        with_msg(INVITE, |m| {
            let mut tiny = [0u8; 16];
            assert_eq!(Forward::new().write(m, &mut tiny), Err(WriteError::BufferTooSmall));
            let mut out = [0u8; 1024];
            assert!(Forward::new().push_via(b"SIP/2.0/UDP x\r\nEvil: 1").write(m, &mut out).is_err());
        });
        let zero = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nMax-Forwards: 0\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n";
        with_msg(zero, |m| {
            let mut out = [0u8; 1024];
            assert_eq!(
                Forward::new().decrement_max_forwards().write(m, &mut out),
                Err(WriteError::NotApplicable("Max-Forwards is 0"))
            );
        });
    }

    #[test]
    fn response_to_request() {
        let mut out = [0u8; 1024];
        let n = with_msg(INVITE, |m| {
            write_response(m, 486, "Busy Here", Some(b"srv1"), &[("Retry-After", b"30")], b"", &mut out).unwrap()
        });
        reparse(&out[..n], |m| {
            assert_eq!(m.status_code(), Some(486));
            assert_eq!(m.vias().count(), 2);
            assert_eq!(m.to().unwrap().unwrap().tag(), Some(&b"srv1"[..]));
            assert_eq!(m.cseq().unwrap().unwrap().seq, 1);
            assert_eq!(m.value(HeaderKind::RetryAfter), Some(&b"30"[..]));
        });
    }
}
