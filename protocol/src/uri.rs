//! URIs as SIP carries them: `sip:`/`sips:` (RFC 3261 §19.1), `tel:` (RFC 3966), and any other
//! `absoluteURI` kept opaque (RFC 3261 §25.1, RFC 4475 §3.3.2–3.3.4).
//!
//! Parsing borrows from the input; escapes (`%41`) stay as written and are decoded on demand into
//! a caller buffer ([`unescape_into`]), once and never recursively (RFC 4475 §3.1.1.3).

use crate::lex::{class, is, is_hex, parse_u64};

/// Why a URI was rejected.
pub type UriError = &'static str;

/// The scheme of a URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scheme<'a> {
    /// `sip`
    Sip,
    /// `sips`
    Sips,
    /// `tel`
    Tel,
    /// Another scheme, as written.
    Other(&'a str),
}

impl Scheme<'_> {
    /// The scheme name.
    pub fn as_str(&self) -> &str {
        match self {
            Scheme::Sip => "sip",
            Scheme::Sips => "sips",
            Scheme::Tel => "tel",
            Scheme::Other(s) => s,
        }
    }
}

/// The host part of a SIP URI or Via sent-by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host<'a> {
    /// A host name (`example.com`): ASCII letters, digits, `-` and `.` only, so
    /// [`Host::name_str`] always succeeds. Kept as bytes to spare a UTF-8 check per URI.
    Name(&'a [u8]),
    /// A dotted IPv4 address.
    V4(core::net::Ipv4Addr),
    /// An IPv6 reference, as written *without* the brackets. RFC 5118 §4.10 asks to tolerate
    /// the three-colon form that RFC 3261's grammar allows, so this is kept as text;
    /// [`Host::ip`] parses it when it is a regular address.
    V6(&'a str),
}

impl<'a> Host<'a> {
    /// The host name as text, for [`Host::Name`].
    pub fn name_str(&self) -> Option<&'a str> {
        match self {
            Host::Name(n) => core::str::from_utf8(n).ok(),
            _ => None,
        }
    }

    /// The address, when the host is a literal address.
    pub fn ip(&self) -> Option<core::net::IpAddr> {
        match self {
            Host::Name(_) => None,
            Host::V4(a) => Some(core::net::IpAddr::V4(*a)),
            Host::V6(s) => s.parse::<core::net::Ipv6Addr>().ok().map(core::net::IpAddr::V6),
        }
    }

    /// Parses `host` (without port): a bracketed IPv6 reference, an IPv4 address or a name.
    pub fn parse(s: &'a [u8]) -> Result<Host<'a>, UriError> {
        match s {
            [] => Err("empty host"),
            [b'[', inner @ .., b']'] => {
                // IPv6reference: hex digits, colons and (for an embedded IPv4) dots.
                if inner.is_empty()
                    || !inner.iter().all(|&b| is_hex(b) || b == b':' || b == b'.')
                    || !inner.contains(&b':')
                {
                    return Err("bad IPv6 reference");
                }
                Ok(Host::V6(core::str::from_utf8(inner).map_err(|_| "bad IPv6 reference")?))
            }
            _ => {
                let mut dotted_digits = true;
                for &b in s {
                    if !is(b, class::HOST) {
                        return Err("bad character in host");
                    }
                    dotted_digits &= b.is_ascii_digit() || b == b'.';
                }
                if dotted_digits {
                    return parse_ipv4(s).map(Host::V4).ok_or("bad IPv4 address");
                }
                Ok(Host::Name(s))
            }
        }
    }
}

impl core::fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Host::Name(n) => f.write_str(core::str::from_utf8(n).map_err(|_| core::fmt::Error)?),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(s) => write!(f, "[{s}]"),
        }
    }
}

/// Dotted-quad IPv4 (`IPv4address`, RFC 3261 §25.1): four decimal octets, 1–3 digits each.
fn parse_ipv4(s: &[u8]) -> Option<core::net::Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut idx = 0;
    let mut value: u16 = 0;
    let mut digits = 0;
    for &b in s {
        if b == b'.' {
            if digits == 0 || idx >= 3 {
                return None;
            }
            *octets.get_mut(idx)? = u8::try_from(value).ok()?;
            idx += 1;
            value = 0;
            digits = 0;
        } else {
            // Only digits and dots reach here (the caller checked).
            digits += 1;
            if digits > 3 {
                return None;
            }
            value = value * 10 + u16::from(b.wrapping_sub(b'0'));
        }
    }
    if digits == 0 || idx != 3 {
        return None;
    }
    *octets.get_mut(3)? = u8::try_from(value).ok()?;
    Some(core::net::Ipv4Addr::from(octets))
}

/// Splits `hostport` into host and optional port. An unbracketed IPv6 address is rejected with
/// a clear reason (RFC 5118 §4.2).
pub fn parse_hostport(s: &[u8]) -> Result<(Host<'_>, Option<u16>), UriError> {
    let (host, port, used) = scan_hostport(s)?;
    if used != s.len() {
        return Err("bad character in host");
    }
    Ok((host, port))
}

/// Scans `host [ ":" port ]` at the start of `s` in one pass and says how many bytes it used;
/// the caller decides what may follow (`;`, `?`, end).
pub(crate) fn scan_hostport(s: &[u8]) -> Result<(Host<'_>, Option<u16>, usize), UriError> {
    let (host, mut i) = if s.first() == Some(&b'[') {
        let close = memchr::memchr(b']', s).ok_or("unterminated IPv6 reference")?;
        (Host::parse(s.get(..=close).unwrap_or(&[]))?, close + 1)
    } else {
        let mut i = 0;
        let mut dotted_digits = true;
        while let Some(&b) = s.get(i) {
            if !is(b, class::HOST) {
                break;
            }
            dotted_digits &= b.is_ascii_digit() || b == b'.';
            i += 1;
        }
        let text = s.get(..i).unwrap_or(&[]);
        if text.is_empty() {
            return Err("empty host");
        }
        if s.get(i) == Some(&b':') {
            // An IPv6 address without brackets reads as host "2001" and port "db8::10"
            // (RFC 5118 §4.2): say so rather than "bad port".
            let rest = s.get(i + 1..).unwrap_or(&[]);
            let end = rest.iter().position(|&b| b == b';' || b == b'?').unwrap_or(rest.len());
            if rest.get(..end).is_some_and(|p| p.contains(&b':')) {
                return Err("IPv6 address without [ ] brackets");
            }
        }
        let host = if dotted_digits { Host::V4(parse_ipv4(text).ok_or("bad IPv4 address")?) } else { Host::Name(text) };
        (host, i)
    };
    let mut port = None;
    if s.get(i) == Some(&b':') {
        let digits = s.get(i + 1..).unwrap_or(&[]);
        let n = digits.iter().take_while(|b| b.is_ascii_digit()).count();
        port = Some(parse_u64(digits.get(..n).unwrap_or(&[])).and_then(|v| u16::try_from(v).ok()).ok_or("bad port")?);
        i += 1 + n;
    }
    Ok((host, port, i))
}

/// A parsed URI, borrowing its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Uri<'a> {
    /// The whole URI as written.
    pub raw: &'a [u8],
    /// The scheme.
    pub scheme: Scheme<'a>,
    /// `sip`/`sips`: the user part, escapes as written. `tel`: the number.
    pub user: Option<&'a [u8]>,
    /// `sip`/`sips`: the password, if any.
    pub password: Option<&'a [u8]>,
    /// `sip`/`sips`: the host. `None` for `tel` and other schemes.
    pub host: Option<Host<'a>>,
    /// `sip`/`sips`: the port.
    pub port: Option<u16>,
    /// The parameters after the first `;` (without it), as written.
    pub params: &'a [u8],
    /// `sip`/`sips`: the headers after `?` (without it), as written.
    pub headers: &'a [u8],
}

/// Checks that `s` is made of bytes of the class `allowed` (see [`class`]) and well-formed
/// `%HH` escapes.
fn check_escaped(s: &[u8], allowed: u8) -> bool {
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        if b == b'%' {
            if !(s.get(i + 1).copied().is_some_and(is_hex) && s.get(i + 2).copied().is_some_and(is_hex)) {
                return false;
            }
            i += 3;
        } else if is(b, allowed) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

impl<'a> Uri<'a> {
    /// Parses a URI. `sip`, `sips` and `tel` are checked against their grammar; other schemes
    /// only need `scheme ":" 1*non-space` and are kept opaque.
    pub fn parse(raw: &'a [u8]) -> Result<Uri<'a>, UriError> {
        let colon = raw.iter().position(|&b| b == b':').ok_or("no scheme")?;
        let scheme_txt = raw.get(..colon).unwrap_or(&[]);
        let rest = raw.get(colon + 1..).unwrap_or(&[]);
        // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
        match scheme_txt.first() {
            Some(b) if b.is_ascii_alphabetic() => {}
            _ => return Err("bad scheme"),
        }
        if !scheme_txt.iter().all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')) {
            return Err("bad scheme");
        }
        let scheme = if scheme_txt.eq_ignore_ascii_case(b"sip") {
            Scheme::Sip
        } else if scheme_txt.eq_ignore_ascii_case(b"sips") {
            Scheme::Sips
        } else if scheme_txt.eq_ignore_ascii_case(b"tel") {
            Scheme::Tel
        } else {
            Scheme::Other(core::str::from_utf8(scheme_txt).map_err(|_| "bad scheme")?)
        };
        let mut uri =
            Uri { raw, scheme, user: None, password: None, host: None, port: None, params: &[], headers: &[] };
        // SIP URIs are checked piece by piece below; other schemes only need non-space text.
        let checked_below = matches!(scheme, Scheme::Sip | Scheme::Sips);
        if rest.is_empty()
            || (!checked_below && rest.iter().any(|&b| b <= b' ' || b >= 0x7f || b == b'<' || b == b'>' || b == b'"'))
        {
            return Err(match rest.iter().find(|&&b| b == b' ' || b == b'\t') {
                Some(_) => "white space inside the URI",
                None => "empty or bad characters in URI",
            });
        }
        match scheme {
            Scheme::Sip | Scheme::Sips => {
                // [ userinfo "@" ] hostport uri-parameters [ headers ]: the first '@' ends the
                // userinfo, since '@' is allowed in neither user nor password unescaped.
                let after_user = match memchr::memchr(b'@', rest) {
                    Some(at) => {
                        let userinfo = rest.get(..at).unwrap_or(&[]);
                        let (user, password) = match memchr::memchr(b':', userinfo) {
                            Some(c) => (userinfo.get(..c).unwrap_or(&[]), Some(userinfo.get(c + 1..).unwrap_or(&[]))),
                            None => (userinfo, None),
                        };
                        if user.is_empty() || !check_escaped(user, class::USER) {
                            return Err("bad user part");
                        }
                        if let Some(p) = password {
                            if !check_escaped(p, class::PASSWORD) {
                                return Err("bad password");
                            }
                        }
                        uri.user = Some(user);
                        uri.password = password;
                        rest.get(at + 1..).unwrap_or(&[])
                    }
                    None => rest,
                };
                // hostport, then ';' parameters, then '?' headers.
                let (host, port, used) = scan_hostport(after_user)?;
                uri.host = Some(host);
                uri.port = port;
                let tail = after_user.get(used..).unwrap_or(&[]);
                if !matches!(tail.first(), None | Some(b';' | b'?')) {
                    return Err("bad character in host");
                }
                let (params, headers) = match tail.first() {
                    Some(b';') => {
                        let p = tail.get(1..).unwrap_or(&[]);
                        match memchr::memchr(b'?', p) {
                            Some(q) => (Some(p.get(..q).unwrap_or(&[])), p.get(q + 1..)),
                            None => (Some(p), None),
                        }
                    }
                    Some(_) => (None, tail.get(1..)),
                    None => (None, None),
                };
                if let Some(params) = params {
                    for p in params.split(|&b| b == b';') {
                        let (name, value) = split_param(p);
                        if name.is_empty() || !check_escaped(name, class::PARAM) {
                            return Err("bad URI parameter");
                        }
                        if let Some(v) = value {
                            if v.is_empty() || !check_escaped(v, class::PARAM) {
                                return Err("bad URI parameter value");
                            }
                        }
                    }
                    uri.params = params;
                }
                if let Some(h) = headers {
                    for hv in h.split(|&b| b == b'&') {
                        let (name, value) = split_param(hv);
                        if name.is_empty()
                            || !check_escaped(name, class::HEADER)
                            || !check_escaped(value.unwrap_or(&[]), class::HEADER)
                        {
                            return Err("bad URI header");
                        }
                    }
                    uri.headers = h;
                }
            }
            Scheme::Tel => {
                // telephone-subscriber: the number up to the first ';', then parameters.
                let (num, params) = match rest.iter().position(|&b| b == b';') {
                    Some(s) => (rest.get(..s).unwrap_or(&[]), rest.get(s + 1..).unwrap_or(&[])),
                    None => (rest, &[][..]),
                };
                if num.is_empty()
                    || !num
                        .iter()
                        .all(|&b| b.is_ascii_hexdigit() || matches!(b, b'+' | b'-' | b'.' | b'(' | b')' | b'*' | b'#'))
                {
                    return Err("bad telephone number");
                }
                uri.user = Some(num);
                uri.params = params;
            }
            Scheme::Other(_) => {}
        }
        Ok(uri)
    }

    /// The value of a URI parameter (`Some(None)` for a parameter without value); names compare
    /// case-insensitively.
    pub fn param(&self, name: &str) -> Option<Option<&'a [u8]>> {
        find_param(self.params, b';', name)
    }

    /// Whether the URI carries `lr` (loose routing, RFC 3261 §19.1.1).
    pub fn is_loose_route(&self) -> bool {
        self.param("lr").is_some()
    }

    /// The user part decoded into `out` (escapes resolved once); `None` if `out` is too small
    /// or there is no user part.
    pub fn user_unescaped<'o>(&self, out: &'o mut [u8]) -> Option<&'o [u8]> {
        unescape_into(self.user?, out)
    }
}

/// Splits `name[=value]`.
pub(crate) fn split_param(p: &[u8]) -> (&[u8], Option<&[u8]>) {
    match p.iter().position(|&b| b == b'=') {
        Some(e) => (p.get(..e).unwrap_or(&[]), Some(p.get(e + 1..).unwrap_or(&[]))),
        None => (p, None),
    }
}

/// Finds a parameter in a `sep`-separated list (no white space handling; URI parameters).
pub(crate) fn find_param<'a>(list: &'a [u8], sep: u8, name: &str) -> Option<Option<&'a [u8]>> {
    if list.is_empty() {
        return None;
    }
    list.split(move |&b| b == sep).find_map(|p| {
        let (n, v) = split_param(p);
        n.eq_ignore_ascii_case(name.as_bytes()).then_some(v)
    })
}

/// Decodes `%HH` escapes once into `out`; `None` if `out` is too small or an escape is broken.
pub fn unescape_into<'o>(s: &[u8], out: &'o mut [u8]) -> Option<&'o [u8]> {
    let mut i = 0;
    let mut n = 0;
    while let Some(&b) = s.get(i) {
        let byte = if b == b'%' {
            let hi = hex_val(*s.get(i + 1)?)?;
            let lo = hex_val(*s.get(i + 2)?)?;
            i += 3;
            hi << 4 | lo
        } else {
            i += 1;
            b
        };
        *out.get_mut(n)? = byte;
        n += 1;
    }
    out.get(..n)
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_uri_parts() {
        let u = Uri::parse(b"sip:alice:pw@[2001:db8::10]:5070;transport=tcp;lr?subject=hi").unwrap();
        assert_eq!(u.scheme, Scheme::Sip);
        assert_eq!(u.user, Some(&b"alice"[..]));
        assert_eq!(u.password, Some(&b"pw"[..]));
        assert_eq!(u.host, Some(Host::V6("2001:db8::10")));
        assert_eq!(u.port, Some(5070));
        assert_eq!(u.param("TRANSPORT"), Some(Some(&b"tcp"[..])));
        assert!(u.is_loose_route());
        assert_eq!(u.headers, b"subject=hi");
    }

    #[test]
    fn ipv6_without_brackets_is_rejected() {
        assert_eq!(Uri::parse(b"sip:2001:db8::10").unwrap_err(), "IPv6 address without [ ] brackets");
        // RFC 5118 §4.3: the whole bracketed text is the host, there is no port.
        let u = Uri::parse(b"sip:[2001:db8::10:5070]").unwrap();
        assert_eq!(u.port, None);
    }

    #[test]
    fn semicolon_in_user_part() {
        let u = Uri::parse(b"sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(u.user, Some(&b"user;par=u%40example.net"[..]));
        assert_eq!(u.host, Some(Host::Name(b"example.com")));
    }

    #[test]
    fn ipv4_edge_cases() {
        assert_eq!(parse_ipv4(b"10.20.0.101"), Some(core::net::Ipv4Addr::new(10, 20, 0, 101)));
        for bad in [&b"1.2.3"[..], b"1.2.3.4.5", b"256.1.1.1", b"1..2.3", b".1.2.3", b"1.2.3.", b"1.2.3.1234", b""] {
            assert_eq!(parse_ipv4(bad), None, "{:?}", core::str::from_utf8(bad));
        }
    }

    #[test]
    fn unescape_once() {
        let mut buf = [0u8; 32];
        assert_eq!(unescape_into(b"v%61lue%25%34%31", &mut buf), Some(&b"value%41"[..]));
        assert_eq!(unescape_into(b"%0", &mut buf), None);
    }

    #[test]
    fn other_schemes_are_opaque() {
        let u = Uri::parse(b"soap.beep://192.0.2.103:3002").unwrap();
        assert_eq!(u.scheme, Scheme::Other("soap.beep"));
        assert!(Uri::parse(b"<sip:a@b>").is_err());
        assert!(Uri::parse(b"tel:+1-201-555-0123;phone-context=x").is_ok());
    }
}
