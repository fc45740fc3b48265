//! Framing and parsing of one SIP message (RFC 3261 §7, §18.3), without copying.
//!
//! ```
//! use carillon_protocol::{parse, Framing, Header, ParseConfig, Status};
//!
//! let bytes = b"OPTIONS sip:box@school.example SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK1\r\n\
//! From: <sip:101@school.example>;tag=1\r\nTo: <sip:box@school.example>\r\nCall-ID: a@b\r\n\
//! CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
//! let mut headers = [Header::EMPTY; 32];
//! let Status::Complete(msg) = parse(bytes, &mut headers, Framing::Datagram, &ParseConfig::DEFAULT)?
//! else { unreachable!("a datagram is always complete or an error") };
//! assert_eq!(msg.call_id(), Some(&b"a@b"[..]));
//! assert_eq!(msg.len, bytes.len());
//! # Ok::<(), carillon_protocol::ParseError>(())
//! ```
//!
//! The result is three-way, as in httparse: [`Status::Complete`] with the message (its `len` is
//! how many input bytes it used), [`Status::Partial`] when a stream needs more bytes, or a
//! [`ParseError`] that says what is wrong. Typed access to header values is lazy and lives in
//! [`crate::typed`]; the checks a proxy applies before accepting a request are in
//! [`crate::validate()`].

use crate::error::ParseError;
use crate::header::{Header, HeaderKind};
use crate::lex::{is_token, is_wsp, parse_u64, trim_lws};
use crate::method::Method;

/// How the message arrived, which decides how it is framed (RFC 3261 §18.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// One message per datagram (UDP). The body is Content-Length bytes; octets past it are
    /// ignored (RFC 4475 §3.1.1.8); a Content-Length larger than what arrived is an error
    /// (§3.1.2.2); without Content-Length the body is the rest of the datagram (§3.4.1).
    Datagram,
    /// A byte stream (TCP, TLS). Content-Length frames the body; without one the body is empty.
    /// An incomplete message is [`Status::Partial`].
    Stream,
}

/// Tolerances and limits. Each leniency is a named switch with the clause it relaxes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseConfig {
    /// Accept a bare LF as a line end. RFC 3261 §7 requires CRLF; some phones and test tools
    /// send LF alone.
    pub allow_bare_lf: bool,
    /// Largest message accepted (header section plus body). Beyond it: [`ParseError::MessageTooLarge`].
    pub max_message_len: usize,
}

impl ParseConfig {
    /// The defaults: bare LF tolerated, 64 KiB messages.
    pub const DEFAULT: ParseConfig = ParseConfig { allow_bare_lf: true, max_message_len: 65_535 };
}

impl Default for ParseConfig {
    fn default() -> Self {
        ParseConfig::DEFAULT
    }
}

/// Result of framing: a whole message, or "give me more bytes" on a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status<T> {
    /// A complete message.
    Complete(T),
    /// A stream needs more bytes before the message is complete.
    Partial,
}

/// The SIP version on a start line. Only 2.0 is accepted; others are [`ParseError::VersionNotSupported`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Version;

/// The first line of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartLine<'a> {
    /// `Method SP Request-URI SP SIP-Version`.
    Request {
        /// The method.
        method: Method<'a>,
        /// The Request-URI as written; [`Message::request_uri`] parses it.
        uri: &'a [u8],
    },
    /// `SIP-Version SP Status-Code SP Reason-Phrase`.
    Response {
        /// Status code, 100..=699.
        code: u16,
        /// Reason phrase as written (UTF-8 allowed, may be empty).
        reason: &'a [u8],
    },
}

/// A parsed message, borrowing the input (`'a`) and the caller's header array (`'h`).
#[derive(Clone, Copy, Debug)]
pub struct Message<'h, 'a> {
    /// The message's own bytes (start line to the end of the body).
    pub bytes: &'a [u8],
    /// The start line.
    pub start: StartLine<'a>,
    /// The header lines in order.
    pub headers: &'h [Header<'a>],
    /// The body (Content-Length bytes).
    pub body: &'a [u8],
    /// Input bytes this message used, leading empty lines included. On a stream the next
    /// message starts here; on a datagram anything after it is ignored.
    pub len: usize,
    /// Offset in `bytes` where the header section starts (just after the start line).
    pub headers_start: usize,
    /// Offset in `bytes` of the empty line that ends the header section.
    pub headers_end: usize,
    /// Value of Content-Length, if present.
    pub content_length: Option<usize>,
}

/// Skips empty lines in front of a message (RFC 3261 §7.5: "SHOULD ignore any CRLFs appearing
/// before the start-line"; on a stream these are also RFC 5626 keep-alives). Returns the count
/// of bytes skipped.
pub fn leading_empty_lines(buf: &[u8]) -> usize {
    let mut i = 0;
    loop {
        match (buf.get(i), buf.get(i + 1)) {
            (Some(b'\r'), Some(b'\n')) => i += 2,
            (Some(b'\n'), _) => i += 1,
            _ => return i,
        }
    }
}

/// Position of the first LF in `s`, eight bytes at a time (SWAR): header lines are short, so
/// this beats a vectorised search whose set-up costs more than the line.
#[inline]
fn find_lf(s: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const LFS: u64 = 0x0a0a_0a0a_0a0a_0a0a;
    let mut chunks = s.chunks_exact(8);
    let mut base = 0;
    for chunk in chunks.by_ref() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word) ^ LFS;
        // Lowest set high bit marks the first zero byte, i.e. the first LF (bits above it may
        // be false positives, never below).
        let t = x.wrapping_sub(ONES) & !x & HIGHS;
        if t != 0 {
            return Some(base + (t.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks.remainder().iter().position(|&b| b == b'\n').map(|p| base + p)
}

/// Finds the next line end starting at `from`: returns (end of line content, start of next line).
#[inline]
fn line_end(buf: &[u8], from: usize, cfg: &ParseConfig) -> Result<Option<(usize, usize)>, ParseError> {
    let Some(rest) = buf.get(from..) else { return Ok(None) };
    let Some(nl) = find_lf(rest) else { return Ok(None) };
    let nl = from + nl;
    if nl > from && buf.get(nl - 1) == Some(&b'\r') {
        Ok(Some((nl - 1, nl + 1)))
    } else if cfg.allow_bare_lf {
        Ok(Some((nl, nl + 1)))
    } else {
        Err(ParseError::BadHeaderLine("line ends with LF instead of CRLF"))
    }
}

/// Parses one message from `buf`.
///
/// `headers` is the caller's storage for header lines; more lines than it holds is
/// [`ParseError::TooManyHeaders`]. Leading empty lines are skipped and counted in `len`.
/// An input that is only empty lines is `Partial` (on a datagram: a keep-alive, nothing to do).
pub fn parse<'h, 'a>(
    buf: &'a [u8],
    headers: &'h mut [Header<'a>],
    framing: Framing,
    cfg: &ParseConfig,
) -> Result<Status<Message<'h, 'a>>, ParseError> {
    let skip = leading_empty_lines(buf);
    let input = buf.get(skip..).unwrap_or(&[]);
    if input.is_empty() {
        return Ok(Status::Partial);
    }
    let partial = |len: usize| {
        if len > cfg.max_message_len {
            Err(ParseError::MessageTooLarge)
        } else if framing == Framing::Datagram {
            Err(ParseError::HeadersUnterminated)
        } else {
            Ok(Status::Partial)
        }
    };

    // Start line.
    let Some((sl_end, mut pos)) = line_end(input, 0, cfg)? else {
        return partial(input.len());
    };
    let start = parse_start_line(input.get(..sl_end).unwrap_or(&[]))?;
    let headers_start = pos;

    // Header lines, folds included (RFC 3261 §7.3.1).
    let mut count = 0usize;
    let mut content_length: Option<usize> = None;
    let headers_end;
    loop {
        let Some((end, next)) = line_end(input, pos, cfg)? else {
            return partial(input.len());
        };
        if end == pos {
            headers_end = pos;
            pos = next;
            break;
        }
        let line_start = pos;
        let first = input.get(pos).copied().unwrap_or(b' ');
        if is_wsp(first) {
            return Err(ParseError::BadHeaderLine("continuation line without a header"));
        }
        // Extend over continuation lines.
        let mut value_end = end;
        let mut line_next = next;
        loop {
            match input.get(line_next) {
                Some(&b) if is_wsp(b) => {
                    let Some((e, n)) = line_end(input, line_next, cfg)? else {
                        return partial(input.len());
                    };
                    value_end = e;
                    line_next = n;
                }
                Some(_) => break,
                None => return partial(input.len()),
            }
        }
        let line = input.get(line_start..value_end).unwrap_or(&[]);
        let name_len = line.iter().position(|&b| !is_token(b)).unwrap_or(line.len());
        if name_len == 0 {
            return Err(ParseError::BadHeaderLine("header name is not a token"));
        }
        let name = line.get(..name_len).unwrap_or(&[]);
        let mut i = name_len;
        while line.get(i).copied().is_some_and(is_wsp) {
            i += 1;
        }
        if line.get(i) != Some(&b':') {
            return Err(ParseError::BadHeaderLine("missing colon after the header name"));
        }
        let value = trim_lws(line.get(i + 1..).unwrap_or(&[]));
        let kind = HeaderKind::from_name(name);
        if kind == HeaderKind::ContentLength {
            // Content-Length = 1*DIGIT (RFC 3261 §20.14). Anything else, a sign included,
            // leaves the framing undefined.
            let v = parse_u64(value).and_then(|v| usize::try_from(v).ok()).ok_or(ParseError::BadContentLength)?;
            match content_length {
                Some(prev) if prev != v => return Err(ParseError::ConflictingContentLength),
                _ => content_length = Some(v),
            }
        }
        let slot = headers.get_mut(count).ok_or(ParseError::TooManyHeaders)?;
        *slot = Header {
            kind,
            name,
            value,
            line_start: u32::try_from(line_start).map_err(|_| ParseError::MessageTooLarge)?,
            line_end: u32::try_from(line_next).map_err(|_| ParseError::MessageTooLarge)?,
        };
        count += 1;
        pos = line_next;
        if pos > cfg.max_message_len {
            return Err(ParseError::MessageTooLarge);
        }
    }

    // Body (RFC 3261 §18.3).
    let available = input.len() - pos;
    let body_len = match (content_length, framing) {
        (Some(cl), Framing::Datagram) if cl > available => return Err(ParseError::BodyTruncated),
        (Some(cl), _) => cl,
        (None, Framing::Datagram) => available,
        (None, Framing::Stream) => 0,
    };
    let total = pos.checked_add(body_len).ok_or(ParseError::MessageTooLarge)?;
    if total > cfg.max_message_len {
        return Err(ParseError::MessageTooLarge);
    }
    if total > input.len() {
        return Ok(Status::Partial);
    }
    let headers: &'h [Header<'a>] = match headers.get(..count) {
        Some(h) => h,
        None => &[],
    };
    Ok(Status::Complete(Message {
        bytes: input.get(..total).unwrap_or(&[]),
        start,
        headers,
        body: input.get(pos..total).unwrap_or(&[]),
        len: skip + total,
        headers_start,
        headers_end,
        content_length,
    }))
}

/// `SIP/2.0`, case-insensitively; another well-formed version is "not supported".
fn check_version(v: &[u8], bad: fn(&'static str) -> ParseError) -> Result<(), ParseError> {
    match v {
        [s, i, p, b'/', rest @ ..] if [*s, *i, *p].eq_ignore_ascii_case(b"SIP") => {
            if rest == b"2.0" {
                return Ok(());
            }
            let mut parts = rest.split(|&b| b == b'.');
            let major = parts.next().and_then(parse_u64);
            let minor = parts.next().and_then(parse_u64);
            if major.is_some() && minor.is_some() && parts.next().is_none() {
                Err(ParseError::VersionNotSupported)
            } else {
                Err(bad("bad SIP version"))
            }
        }
        _ => Err(bad("bad SIP version")),
    }
}

fn parse_start_line(line: &[u8]) -> Result<StartLine<'_>, ParseError> {
    if line.starts_with(b"SIP/") || line.starts_with(b"sip/") {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase (RFC 3261 §7.2).
        let sp = line.iter().position(|&b| b == b' ').ok_or(ParseError::BadStatusLine("no status code"))?;
        check_version(line.get(..sp).unwrap_or(&[]), ParseError::BadStatusLine)?;
        let rest = line.get(sp + 1..).unwrap_or(&[]);
        let (code, reason) = match rest.iter().position(|&b| b == b' ') {
            Some(i) => (rest.get(..i).unwrap_or(&[]), rest.get(i + 1..).unwrap_or(&[])),
            // Tolerated: a status line with neither space nor reason after the code.
            None => (rest, &[][..]),
        };
        if code.len() != 3 {
            return Err(ParseError::BadStatusLine("status code is not three digits"));
        }
        let code = parse_u64(code).ok_or(ParseError::BadStatusLine("status code is not a number"))?;
        if !(100..=699).contains(&code) {
            return Err(ParseError::BadStatusLine("status code out of range 100-699"));
        }
        if reason.iter().any(|&b| b == b'\r' || b == b'\n') {
            return Err(ParseError::BadStatusLine("line break in reason phrase"));
        }
        // 100..=699 fits u16.
        Ok(StartLine::Response { code: code as u16, reason })
    } else {
        // Request-Line = Method SP Request-URI SP SIP-Version (RFC 3261 §7.1): exactly one SP
        // between the elements (RFC 4475 §3.1.2.9) and nothing after the version (§3.1.2.10).
        let mut parts = line.splitn(3, |&b| b == b' ');
        let method = parts.next().unwrap_or(&[]);
        let uri = parts.next().ok_or(ParseError::BadRequestLine("no Request-URI"))?;
        let version = parts.next().ok_or(ParseError::BadRequestLine("no SIP version"))?;
        let method = Method::parse(method).ok_or(ParseError::BadRequestLine("method is not a token"))?;
        if uri.is_empty() {
            return Err(ParseError::BadRequestLine("extra white space between elements"));
        }
        if version.ends_with(b" ") || version.ends_with(b"\t") {
            return Err(ParseError::BadRequestLine("trailing white space after the version"));
        }
        if version.contains(&b' ') {
            return Err(ParseError::BadRequestLine("white space inside the Request-URI"));
        }
        if uri.first() == Some(&b'<') {
            // RFC 4475 §3.1.2.7: a liberal element may strip them, but must not forward them.
            return Err(ParseError::BadRequestLine("Request-URI enclosed in <>"));
        }
        if uri.iter().any(|&b| b <= b' ' || b == 0x7f) {
            return Err(ParseError::BadRequestLine("control character in the Request-URI"));
        }
        check_version(version, ParseError::BadRequestLine)?;
        Ok(StartLine::Request { method, uri })
    }
}

impl<'h, 'a> Message<'h, 'a> {
    /// Whether this is a request.
    pub const fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The method of a request; `None` for a response (use [`Message::cseq`] there).
    pub const fn method(&self) -> Option<Method<'a>> {
        match self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code of a response.
    pub const fn status_code(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    /// All header lines of one kind, in order.
    pub fn headers_of(&self, kind: HeaderKind) -> impl Iterator<Item = &'h Header<'a>> + Clone + 'h {
        self.headers.iter().filter(move |h| h.kind == kind)
    }

    /// The first header line of one kind.
    pub fn header(&self, kind: HeaderKind) -> Option<&'h Header<'a>> {
        self.headers.iter().find(|h| h.kind == kind)
    }

    /// The first header whose name matches `name` case-insensitively (for unknown headers).
    pub fn header_named(&self, name: &[u8]) -> Option<&'h Header<'a>> {
        let kind = HeaderKind::from_name(name);
        self.headers.iter().find(|h| h.kind == kind && (kind != HeaderKind::Other || h.name.eq_ignore_ascii_case(name)))
    }

    /// The raw value of the first header of `kind`.
    pub fn value(&self, kind: HeaderKind) -> Option<&'a [u8]> {
        self.header(kind).map(|h| h.value)
    }

    /// The Call-ID value.
    pub fn call_id(&self) -> Option<&'a [u8]> {
        self.value(HeaderKind::CallId)
    }
}

#[cfg(test)]
mod tests {
    use super::find_lf;

    #[test]
    fn find_lf_agrees_with_a_plain_search() {
        let mut buf = [b'a'; 40];
        for lf in 0..40 {
            buf.fill(b'a');
            buf[lf] = b'\n';
            if lf + 3 < 40 {
                buf[lf + 3] = b'\n';
            }
            // Bytes that trip naive zero-byte tricks (0x8a, 0x0b, 0x09) must not match.
            buf[(lf + 1) % 40] = if (lf + 1) % 40 == lf { b'\n' } else { 0x8a };
            for len in 0..=40 {
                let s = &buf[..len];
                assert_eq!(find_lf(s), s.iter().position(|&b| b == b'\n'), "lf {lf} len {len}");
            }
        }
    }
}
