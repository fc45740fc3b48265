//! Typed, lazy, zero-copy access to the header values a box and a switch read (RFC 3261 §20).
//!
//! Nothing is parsed until asked for: [`Message::top_via`] parses one Via value, [`Message::from`]
//! one name-addr. Every parser here takes the value as written — folded lines, LWS around
//! separators (RFC 4475 §3.1.1.1) — and borrows from it.

use crate::error::ParseError;
use crate::header::HeaderKind;
use crate::lex::{is_token, parse_u64, parse_u64_saturating, CommaSplit, Cursor};
use crate::message::Message;
use crate::method::Method;
use crate::uri::{parse_hostport, Host, Uri};

/// Header parameters (`*( SEMI generic-param )`), kept raw and scanned on demand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Params<'a> {
    raw: &'a [u8],
}

/// `gen-value` characters (RFC 3261 §25.1: token / host / quoted-string), leniently including
/// `:` `[` `]` so that an IPv6 `received` parses with or without brackets (RFC 5118 §4.5).
fn is_gen_value(b: u8) -> bool {
    is_token(b) || matches!(b, b':' | b'[' | b']')
}

/// Scans `*( SEMI generic-param )` at the cursor. Stops (without error) at the first byte that
/// is not a `;` — the caller decides what may follow.
/// While scanning, the value of the parameter named `want` (compared case-insensitively) is
/// captured, so the one parameter every caller reads (a Via's branch, a From's tag) costs no
/// second scan.
fn scan_params<'a>(c: &mut Cursor<'a>, want: &[u8]) -> Result<(Params<'a>, Option<&'a [u8]>), &'static str> {
    let mut wanted = None;
    let start = c.pos;
    let mut end = c.pos;
    loop {
        let save = c.pos;
        if !c.eat_sep(b';') {
            c.pos = save;
            break;
        }
        let name = c.token().ok_or("empty parameter")?;
        if c.eat_sep(b'=') {
            let value = if c.peek() == Some(b'"') {
                c.quoted().ok_or("unterminated quoted parameter value")?
            } else {
                let v = c.take_while(is_gen_value);
                if v.is_empty() {
                    return Err("parameter without a value after '='");
                }
                v
            };
            if wanted.is_none() && name.eq_ignore_ascii_case(want) {
                wanted = Some(value);
            }
        }
        end = c.pos;
    }
    c.pos = end;
    Ok((Params { raw: c.slice(start, end) }, wanted))
}

impl<'a> Params<'a> {
    /// The raw text, starting at the first `;`.
    pub const fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Iterates `(name, value)` pairs; quoted values keep their quotes.
    pub fn iter(&self) -> ParamIter<'a> {
        ParamIter { c: Cursor::new(self.raw) }
    }

    /// Looks a parameter up by name (case-insensitive). `Some(None)`: present without value.
    pub fn get(&self, name: &str) -> Option<Option<&'a [u8]>> {
        self.iter().find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes())).map(|(_, v)| v)
    }
}

/// Iterator over [`Params`].
#[derive(Clone, Debug)]
pub struct ParamIter<'a> {
    c: Cursor<'a>,
}

impl<'a> Iterator for ParamIter<'a> {
    type Item = (&'a [u8], Option<&'a [u8]>);

    fn next(&mut self) -> Option<Self::Item> {
        if !self.c.eat_sep(b';') {
            return None;
        }
        let name = self.c.token()?;
        if !self.c.eat_sep(b'=') {
            return Some((name, None));
        }
        let value = if self.c.peek() == Some(b'"') { self.c.quoted()? } else { self.c.take_while(is_gen_value) };
        Some((name, Some(value)))
    }
}

/// One Via value (RFC 3261 §20.42): `SIP/2.0/UDP host:port;params`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Via<'a> {
    /// The transport (`UDP`, `TCP`, `TLS`, `SCTP`, `WS`, or an extension), as written.
    pub transport: &'a [u8],
    /// The sent-by host.
    pub host: Host<'a>,
    /// The sent-by port.
    pub port: Option<u16>,
    /// The parameters.
    pub params: Params<'a>,
    /// The branch, captured while the parameters were checked.
    branch: Option<&'a [u8]>,
}

impl<'a> Via<'a> {
    /// Parses one Via value.
    pub fn parse(v: &'a [u8]) -> Result<Via<'a>, &'static str> {
        let mut c = Cursor::new(v);
        c.skip_lws();
        let name = c.token().ok_or("no protocol name")?;
        if !c.eat_sep(b'/') {
            return Err("malformed sent-protocol");
        }
        let version = c.token().ok_or("no protocol version")?;
        if !c.eat_sep(b'/') {
            return Err("malformed sent-protocol");
        }
        let transport = c.token().ok_or("no transport")?;
        if !name.eq_ignore_ascii_case(b"SIP") || version != b"2.0" {
            return Err("sent-protocol is not SIP/2.0");
        }
        if !c.skip_lws() {
            return Err("no white space before sent-by");
        }
        let (host, mut port, used) = crate::uri::scan_hostport(c.rest())?;
        c.pos += used;
        // `sent-by = host [ COLON port ]` with COLON = SWS ":" SWS (RFC 3261 §25.1): the
        // spaced form is rare but legal.
        if port.is_none() && c.eat_sep(b':') {
            let p = c.take_while(|b| b.is_ascii_digit());
            port = Some(parse_u64(p).and_then(|v| u16::try_from(v).ok()).ok_or("bad port")?);
        }
        let (params, branch) = scan_params(&mut c, b"branch")?;
        c.skip_lws();
        if !c.at_end() {
            return Err("unexpected characters");
        }
        Ok(Via { transport, host, port, params, branch })
    }

    /// The `branch` parameter.
    pub fn branch(&self) -> Option<&'a [u8]> {
        self.branch
    }

    /// Whether the branch carries the RFC 3261 magic cookie `z9hG4bK` (§8.1.1.7).
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch().is_some_and(|b| b.starts_with(b"z9hG4bK"))
    }

    /// The `received` parameter, brackets removed if present (RFC 5118 §4.5).
    pub fn received(&self) -> Option<&'a [u8]> {
        let r = self.params.get("received").flatten()?;
        Some(match r {
            [b'[', inner @ .., b']'] => inner,
            _ => r,
        })
    }

    /// The `rport` parameter (RFC 3581): `None` absent, `Some(None)` requested, `Some(Some(p))`
    /// filled in.
    pub fn rport(&self) -> Option<Option<u16>> {
        match self.params.get("rport")? {
            None => Some(None),
            Some(v) => Some(parse_u64(v).and_then(|p| u16::try_from(p).ok())),
        }
    }

    /// The `maddr` parameter.
    pub fn maddr(&self) -> Option<&'a [u8]> {
        self.params.get("maddr").flatten()
    }
}

/// A `name-addr` or `addr-spec` with header parameters (From, To, Contact, Route, Record-Route,
/// Path, Refer-To...), RFC 3261 §20.10, §25.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// The display name as written: a quoted string with its quotes, or a run of tokens.
    pub display: Option<&'a [u8]>,
    /// The URI.
    pub uri: Uri<'a>,
    /// Whether the URI was in angle brackets.
    pub bracketed: bool,
    /// The header parameters after the URI (for an addr-spec these include everything after
    /// the first `;`, RFC 3261 §20.10).
    pub params: Params<'a>,
    /// The tag, captured while the parameters were checked.
    tag: Option<&'a [u8]>,
}

impl<'a> NameAddr<'a> {
    /// Parses one name-addr / addr-spec with parameters. The whole value must be consumed.
    pub fn parse(v: &'a [u8]) -> Result<NameAddr<'a>, &'static str> {
        let mut c = Cursor::new(v);
        c.skip_lws();
        let mut display = None;
        let bracketed;
        if c.peek() == Some(b'"') {
            display = Some(c.quoted().ok_or("unterminated quoted display name")?);
            c.skip_lws();
            if c.peek() != Some(b'<') {
                return Err("display name not followed by <URI>");
            }
            bracketed = true;
        } else {
            let start = c.pos;
            let mut last = c.pos;
            while c.token().is_some() {
                last = c.pos;
                c.skip_lws();
            }
            if c.peek() == Some(b'<') {
                if last > start {
                    display = Some(c.slice(start, last));
                }
                bracketed = true;
            } else {
                c.pos = start;
                if c.rest().contains(&b'<') {
                    return Err("display name with special characters must be quoted");
                }
                bracketed = false;
            }
        }
        let uri = if bracketed {
            c.eat(b'<');
            let start = c.pos;
            c.take_while(|b| b != b'>');
            let inner = c.slice(start, c.pos);
            if !c.eat(b'>') {
                return Err("unterminated <URI>");
            }
            if inner.first().is_some_and(|&b| b == b' ' || b == b'\t')
                || inner.last().is_some_and(|&b| b == b' ' || b == b'\t')
            {
                return Err("white space inside <URI>");
            }
            Uri::parse(inner)?
        } else {
            // addr-spec: the URI ends at the first ';' or white space; it may not contain
            // ',', '?' or ';' (RFC 3261 §20.10), those need the <> form (RFC 4475 §3.1.2.13).
            let start = c.pos;
            c.take_while(|b| !matches!(b, b';' | b' ' | b'\t' | b'\r' | b'\n' | b','));
            let text = c.slice(start, c.pos);
            if text.contains(&b'?') {
                return Err("URI with headers must be enclosed in <>");
            }
            Uri::parse(text)?
        };
        let (params, tag) = scan_params(&mut c, b"tag")?;
        c.skip_lws();
        if !c.at_end() {
            return Err("unexpected characters after the value");
        }
        Ok(NameAddr { display, uri, bracketed, params, tag })
    }

    /// The `tag` parameter (RFC 3261 §19.3).
    pub fn tag(&self) -> Option<&'a [u8]> {
        self.tag
    }

    /// A Contact's `expires` parameter, saturated to `u32::MAX` (RFC 3261 §20.19).
    pub fn expires(&self) -> Option<u32> {
        let v = self.params.get("expires").flatten()?;
        parse_u64_saturating(v).map(|e| u32::try_from(e).unwrap_or(u32::MAX))
    }

    /// A Contact's `q` in thousandths (`q=0.5` is 500), if present and valid (RFC 3261 §20.10).
    pub fn q(&self) -> Option<u16> {
        parse_q(self.params.get("q").flatten()?)
    }
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in thousandths.
pub(crate) fn parse_q(v: &[u8]) -> Option<u16> {
    let (int, frac) = match v.iter().position(|&b| b == b'.') {
        Some(d) => (v.get(..d)?, v.get(d + 1..)?),
        None => (v, &[][..]),
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut thousandths = 0u16;
    for i in 0..3 {
        thousandths = thousandths * 10 + frac.get(i).map_or(0, |d| u16::from(d - b'0'));
    }
    match int {
        b"0" => Some(thousandths),
        b"1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// A Contact value: `*` or a list of addresses (RFC 3261 §20.10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contact<'a> {
    /// `Contact: *` (REGISTER: remove all bindings).
    Star,
    /// One address.
    Addr(NameAddr<'a>),
}

/// `CSeq: 1*DIGIT LWS Method` (RFC 3261 §20.16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CSeq<'a> {
    /// The sequence number (a 32-bit unsigned integer).
    pub seq: u32,
    /// The method.
    pub method: Method<'a>,
}

impl<'a> CSeq<'a> {
    /// Parses a CSeq value.
    pub fn parse(v: &'a [u8]) -> Result<CSeq<'a>, &'static str> {
        let mut c = Cursor::new(v);
        c.skip_lws();
        let digits = c.take_while(|b| b.is_ascii_digit());
        if digits.is_empty() {
            return Err("no sequence number");
        }
        let seq = parse_u64(digits).and_then(|s| u32::try_from(s).ok()).ok_or("sequence number larger than 2**32-1")?;
        if !c.skip_lws() {
            return Err("no white space before the method");
        }
        let method = Method::parse(c.take_while(is_token)).ok_or("bad method")?;
        c.skip_lws();
        if !c.at_end() {
            return Err("unexpected characters");
        }
        Ok(CSeq { seq, method })
    }
}

/// Parses a header that is a single decimal number bounded by `max`.
fn number(v: &[u8], max: u64) -> Result<u64, &'static str> {
    let n = parse_u64(v).ok_or("not a decimal number")?;
    if n > max {
        return Err("value out of range");
    }
    Ok(n)
}

/// Iterates a list header's comma-separated values across all its header lines, parsing each.
pub struct ListIter<'h, 'a, T> {
    headers: core::slice::Iter<'h, crate::header::Header<'a>>,
    kind: HeaderKind,
    current: Option<CommaSplit<'a>>,
    parse: fn(&'a [u8]) -> Result<T, &'static str>,
}

impl<'a, T> Iterator for ListIter<'_, 'a, T> {
    type Item = Result<T, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(split) = &mut self.current {
                if let Some(v) = split.next() {
                    if v.is_empty() {
                        return Some(Err(ParseError::BadValue(self.kind, "empty list element")));
                    }
                    let kind = self.kind;
                    return Some((self.parse)(v).map_err(|e| ParseError::BadValue(kind, e)));
                }
            }
            let h = self.headers.by_ref().find(|h| h.kind == self.kind)?;
            // RFC 3261 §25.1: Accept, Accept-Encoding, Accept-Language, Allow and Supported are
            // `[ element *(COMMA element) ]`, so a line with no value at all is an empty list
            // (baresip 1.0 sends `Supported:`). An empty element inside a list (`a,,b`, `a,`)
            // and an empty Require, Via, Route... stay errors.
            if may_be_empty(self.kind) && h.value.iter().all(|&b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')) {
                self.current = None;
                continue;
            }
            self.current = Some(CommaSplit::new(h.value));
        }
    }
}

/// Whether the grammar of `kind` (RFC 3261 §25.1) allows a header line with an empty list.
const fn may_be_empty(kind: HeaderKind) -> bool {
    // Accept-Encoding and Accept-Language too, but they are `HeaderKind::Other` here.
    matches!(kind, HeaderKind::Accept | HeaderKind::Allow | HeaderKind::Supported)
}

fn parse_contact(v: &[u8]) -> Result<Contact<'_>, &'static str> {
    if v == b"*" {
        Ok(Contact::Star)
    } else {
        NameAddr::parse(v).map(Contact::Addr)
    }
}

fn parse_token(v: &[u8]) -> Result<&[u8], &'static str> {
    if !v.is_empty() && v.iter().all(|&b| is_token(b)) {
        Ok(v)
    } else {
        Err("not a token")
    }
}

impl<'h, 'a> Message<'h, 'a> {
    fn list<T>(&self, kind: HeaderKind, parse: fn(&'a [u8]) -> Result<T, &'static str>) -> ListIter<'h, 'a, T> {
        ListIter { headers: self.headers.iter(), kind, current: None, parse }
    }

    fn single<T>(
        &self,
        kind: HeaderKind,
        parse: impl FnOnce(&'a [u8]) -> Result<T, &'static str>,
    ) -> Option<Result<T, ParseError>> {
        let v = self.value(kind)?;
        Some(parse(v).map_err(|e| ParseError::BadValue(kind, e)))
    }

    /// Every Via value, topmost first, across all Via header lines.
    pub fn vias(&self) -> ListIter<'h, 'a, Via<'a>> {
        self.list(HeaderKind::Via, Via::parse)
    }

    /// The topmost Via value.
    pub fn top_via(&self) -> Option<Result<Via<'a>, ParseError>> {
        self.vias().next()
    }

    /// The From value.
    pub fn from(&self) -> Option<Result<NameAddr<'a>, ParseError>> {
        self.single(HeaderKind::From, NameAddr::parse)
    }

    /// The To value.
    pub fn to(&self) -> Option<Result<NameAddr<'a>, ParseError>> {
        self.single(HeaderKind::To, NameAddr::parse)
    }

    /// The CSeq value.
    pub fn cseq(&self) -> Option<Result<CSeq<'a>, ParseError>> {
        self.single(HeaderKind::CSeq, CSeq::parse)
    }

    /// Every Contact value, across all Contact lines.
    pub fn contacts(&self) -> ListIter<'h, 'a, Contact<'a>> {
        self.list(HeaderKind::Contact, parse_contact)
    }

    /// Every Route value, topmost first.
    pub fn routes(&self) -> ListIter<'h, 'a, NameAddr<'a>> {
        self.list(HeaderKind::Route, NameAddr::parse)
    }

    /// Every Record-Route value, topmost first.
    pub fn record_routes(&self) -> ListIter<'h, 'a, NameAddr<'a>> {
        self.list(HeaderKind::RecordRoute, NameAddr::parse)
    }

    /// Every Path value (RFC 3327), topmost first.
    pub fn paths(&self) -> ListIter<'h, 'a, NameAddr<'a>> {
        self.list(HeaderKind::Path, NameAddr::parse)
    }

    /// Option tags of a token-list header (Supported, Require, Proxy-Require, Unsupported,
    /// Allow...).
    pub fn tokens(&self, kind: HeaderKind) -> ListIter<'h, 'a, &'a [u8]> {
        self.list(kind, parse_token)
    }

    /// Digest credentials of the first `Authorization` header (RFC 3261 §22.2); an unknown
    /// scheme is `Err(DigestError::OtherScheme)`.
    pub fn authorization(&self) -> Option<Result<crate::digest::Credentials<'a>, crate::digest::DigestError>> {
        self.value(HeaderKind::Authorization).map(crate::digest::Credentials::parse)
    }

    /// Digest credentials of the first `Proxy-Authorization` header (RFC 3261 §22.3).
    pub fn proxy_authorization(&self) -> Option<Result<crate::digest::Credentials<'a>, crate::digest::DigestError>> {
        self.value(HeaderKind::ProxyAuthorization).map(crate::digest::Credentials::parse)
    }

    /// The digest challenge of the first `WWW-Authenticate` header (RFC 3261 §22.2).
    pub fn www_authenticate(&self) -> Option<Result<crate::digest::Challenge<'a>, crate::digest::DigestError>> {
        self.value(HeaderKind::WwwAuthenticate).map(crate::digest::Challenge::parse)
    }

    /// The digest challenge of the first `Proxy-Authenticate` header (RFC 3261 §22.3).
    pub fn proxy_authenticate(&self) -> Option<Result<crate::digest::Challenge<'a>, crate::digest::DigestError>> {
        self.value(HeaderKind::ProxyAuthenticate).map(crate::digest::Challenge::parse)
    }

    /// Max-Forwards, 0..=255 (RFC 3261 §20.22).
    pub fn max_forwards(&self) -> Option<Result<u8, ParseError>> {
        self.single(HeaderKind::MaxForwards, |v| number(v, 255).map(|n| n as u8))
    }

    /// Expires in seconds, saturated to `u32::MAX` (RFC 3261 §20.19).
    pub fn expires(&self) -> Option<Result<u32, ParseError>> {
        self.single(HeaderKind::Expires, |v| {
            parse_u64_saturating(v).map(|e| u32::try_from(e).unwrap_or(u32::MAX)).ok_or("not a decimal number")
        })
    }

    /// The Request-URI, parsed.
    pub fn request_uri(&self) -> Option<Result<Uri<'a>, ParseError>> {
        match self.start {
            crate::message::StartLine::Request { uri, .. } => Some(Uri::parse(uri).map_err(ParseError::BadRequestUri)),
            crate::message::StartLine::Response { .. } => None,
        }
    }
}

/// Splits a `sent-by`/`hostport` string; re-exported for callers that build Vias.
pub fn hostport(s: &[u8]) -> Result<(Host<'_>, Option<u16>), &'static str> {
    parse_hostport(s)
}

#[cfg(test)]
mod tests {
    extern crate alloc;
    use super::*;

    fn with_header(line: &str, check: impl FnOnce(&Message<'_, '_>)) {
        let text = alloc::format!(
            "OPTIONS sip:box SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.5;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n{line}\r\nContent-Length: 0\r\n\r\n"
        );
        let mut h = [crate::header::Header::EMPTY; 16];
        let Ok(crate::Status::Complete(m)) =
            crate::parse(text.as_bytes(), &mut h, crate::Framing::Datagram, &crate::ParseConfig::DEFAULT)
        else {
            panic!("{line} does not parse")
        };
        check(&m);
    }

    #[test]
    fn an_empty_supported_allow_or_accept_is_an_empty_list() {
        // RFC 3261 §25.1: `Supported = ( "Supported" / "k" ) HCOLON [option-tag *(COMMA option-tag)]`.
        for line in ["Supported:", "Supported: ", "k:", "Allow:", "Accept:  "] {
            with_header(line, |m| {
                assert_eq!(crate::validate(m), Ok(()), "{line}");
                let kind = m.headers[5].kind;
                assert_eq!(m.tokens(kind).count(), 0, "{line}");
            });
        }
        with_header("Supported:\r\nSupported: path, outbound", |m| {
            let mut tags = m.tokens(HeaderKind::Supported);
            assert_eq!(tags.next(), Some(Ok(&b"path"[..])));
            assert_eq!(tags.next(), Some(Ok(&b"outbound"[..])));
            assert_eq!(tags.next(), None);
        });
    }

    #[test]
    fn empty_elements_and_an_empty_require_are_still_refused() {
        for (line, kind) in [
            ("Require:", HeaderKind::Require),
            ("Proxy-Require:", HeaderKind::ProxyRequire),
            ("Supported: path,,outbound", HeaderKind::Supported),
            ("Supported: path,", HeaderKind::Supported),
            ("Supported: ,", HeaderKind::Supported),
            ("Supported: pa th", HeaderKind::Supported),
        ] {
            with_header(line, |m| {
                assert!(matches!(crate::validate(m), Err(ParseError::BadValue(k, _)) if k == kind), "{line}");
            });
        }
    }

    #[test]
    fn via_with_folds_and_lws() {
        let v = Via::parse(b"SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(v.transport, b"UDP");
        assert_eq!(v.host, Host::V4(core::net::Ipv4Addr::new(192, 0, 2, 2)));
        assert_eq!(v.branch(), Some(&b"390skdjuw"[..]));
        let v = Via::parse(b"SIP  / 2.0  / TCP     spindle.example.com   ;\r\n  branch  =   z9hG4bK9ikj8").unwrap();
        assert_eq!(v.branch(), Some(&b"z9hG4bK9ikj8"[..]));
        assert!(Via::parse(b"SIP/2.0/UDP 192.0.2.15;;").is_err());
    }

    #[test]
    fn via_ipv6_received_and_rport() {
        let v =
            Via::parse(b"SIP/2.0/UDP [2001:db8::9:1]:6050;received=[2001:db8::9:255];rport;branch=z9hG4bKas3").unwrap();
        assert_eq!(v.port, Some(6050));
        assert_eq!(v.received(), Some(&b"2001:db8::9:255"[..]));
        assert_eq!(v.rport(), Some(None));
    }

    #[test]
    fn name_addr_forms() {
        let n = NameAddr::parse(b"\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8")
            .unwrap();
        assert_eq!(n.tag(), Some(&b"98asjd8"[..]));
        let n = NameAddr::parse(b"caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(n.display, Some(&b"caller"[..]));
        let n = NameAddr::parse(b"sip:caller@example.com;unknownparam").unwrap();
        assert!(!n.bracketed);
        assert_eq!(n.params.get("unknownparam"), Some(None));
        assert!(NameAddr::parse(b"Bell, Alexander <sip:a.g.bell@example.com>;tag=43").is_err());
        assert!(NameAddr::parse(b"\"Mr. J. User <sip:j.user@example.com>").is_err());
        assert!(NameAddr::parse(b"< sip:t.watson@example.org >").is_err());
        assert!(NameAddr::parse(b"sip:user@example.com?Route=%3Csip:sip.example.com%3E").is_err());
    }

    #[test]
    fn q_values() {
        assert_eq!(parse_q(b"0.33"), Some(330));
        assert_eq!(parse_q(b"1"), Some(1000));
        assert_eq!(parse_q(b"1.5"), None);
        assert_eq!(parse_q(b"0.1234"), None);
    }

    #[test]
    fn authorization_through_the_message() {
        let bytes = b"REGISTER sip:s SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:101@s>;tag=1\r\n\
To: <sip:101@s>\r\nCall-ID: c\r\nCSeq: 2 REGISTER\r\n\
Authorization: Digest username=\"101\", realm=\"s\", nonce=\"n\", uri=\"sip:s\", response=\"0123456789abcdef0123456789abcdef\"\r\n\
Content-Length: 0\r\n\r\n";
        let mut h = [crate::Header::EMPTY; 16];
        let Ok(crate::Status::Complete(m)) =
            crate::parse(bytes, &mut h, crate::Framing::Datagram, &crate::ParseConfig::DEFAULT)
        else {
            panic!("parses")
        };
        let c = m.authorization().unwrap().unwrap();
        assert!(c.username().eq_unescaped(b"101"));
        assert!(m.proxy_authorization().is_none());
        assert!(m.www_authenticate().is_none());
    }

    #[test]
    fn cseq() {
        let c = CSeq::parse(b"0009\r\n  INVITE").unwrap();
        assert_eq!((c.seq, c.method), (9, Method::Invite));
        assert!(CSeq::parse(b"36893488147419103232 INVITE").is_err());
    }
}
