//! The checks a stateful proxy applies to a message before it accepts it (RFC 3261 §8.2, §16.3),
//! each with the status to answer.
//!
//! [`validate`] is well-formedness: a message that fails it is rejected (a request gets the
//! error's status, a response is dropped). [`proxy_checks`] is what a proxy then refuses to
//! forward although the message is well-formed (483, 416, 420); those come back as a
//! [`Refusal`] because they are decisions, not syntax errors.

use crate::error::ParseError;
use crate::header::HeaderKind;
use crate::lex::{is_token, CommaSplit, Cursor};
use crate::message::{Message, StartLine};
use crate::typed::Contact;
use crate::uri::Scheme;

/// Checks well-formedness of every header a proxy or registrar relies on, and the cross-field
/// rules of RFC 3261 §8.1.1: mandatory headers present, single-valued headers once, CSeq method
/// equal to the request method, values within their grammar and range.
pub fn validate(msg: &Message<'_, '_>) -> Result<(), ParseError> {
    // Mandatory headers (RFC 3261 §8.1.1; Max-Forwards may be absent for RFC 2543 peers,
    // RFC 4475 §3.4.1) and single-valued headers once (RFC 4475 §3.3.8). Both in one pass.
    let mut seen = [0u8; 9];
    const SINGLE: [HeaderKind; 9] = [
        HeaderKind::From,
        HeaderKind::To,
        HeaderKind::CallId,
        HeaderKind::CSeq,
        HeaderKind::MaxForwards,
        HeaderKind::ContentLength,
        HeaderKind::ContentType,
        HeaderKind::Expires,
        HeaderKind::Date,
    ];
    let mut have_via = false;
    for h in msg.headers {
        if h.kind == HeaderKind::Via {
            have_via = true;
        }
        if let Some(i) = SINGLE.iter().position(|k| *k == h.kind) {
            if let Some(n) = seen.get_mut(i) {
                *n = n.saturating_add(1);
                if *n > 1 {
                    return Err(ParseError::Repeated(h.kind));
                }
            }
        }
    }
    for (i, kind) in SINGLE.iter().take(4).enumerate() {
        if seen.get(i) == Some(&0) {
            return Err(ParseError::Missing(*kind));
        }
    }
    if !have_via {
        return Err(ParseError::Missing(HeaderKind::Via));
    }

    // Values of the headers a proxy reads.
    for v in msg.vias() {
        v?;
    }
    msg.from().transpose()?;
    msg.to().transpose()?;
    let cseq = msg.cseq().transpose()?;
    check_call_id(msg.call_id().unwrap_or(&[]))?;
    msg.max_forwards().transpose()?;
    msg.expires().transpose()?;
    let mut star = false;
    let mut contacts = 0usize;
    for c in msg.contacts() {
        contacts += 1;
        star |= matches!(c?, Contact::Star);
    }
    if star && contacts > 1 {
        return Err(ParseError::BadValue(HeaderKind::Contact, "'*' mixed with addresses"));
    }
    for r in msg.routes() {
        r?;
    }
    for r in msg.record_routes() {
        r?;
    }
    for r in msg.paths() {
        r?;
    }
    for kind in [HeaderKind::Require, HeaderKind::ProxyRequire, HeaderKind::Supported] {
        for t in msg.tokens(kind) {
            t?;
        }
    }
    if let Some(d) = msg.value(HeaderKind::Date) {
        check_date(d).map_err(|e| ParseError::BadValue(HeaderKind::Date, e))?;
    }
    if let Some(ct) = msg.value(HeaderKind::ContentType) {
        check_media_type(ct).map_err(|e| ParseError::BadValue(HeaderKind::ContentType, e))?;
    }
    for kind in [HeaderKind::Authorization, HeaderKind::ProxyAuthorization] {
        for h in msg.headers_of(kind) {
            check_credentials(h.value).map_err(|e| ParseError::BadValue(kind, e))?;
        }
    }

    if let StartLine::Request { method, .. } = msg.start {
        // RFC 3261 §8.1.1.5: the CSeq method MUST match the request's method.
        if let Some(cseq) = cseq {
            if cseq.method != method {
                return Err(ParseError::CSeqMethodMismatch);
            }
        }
        let uri = msg.request_uri().transpose()?;
        if let Some(uri) = uri {
            // RFC 3261 §19.1.5: headers are not allowed in a Request-URI (RFC 4475 §3.1.2.11).
            if matches!(uri.scheme, Scheme::Sip | Scheme::Sips) && !uri.headers.is_empty() {
                return Err(ParseError::BadRequestUri("headers are not allowed in a Request-URI"));
            }
        }
    }
    Ok(())
}

/// `callid = word [ "@" word ]` (RFC 3261 §25.1).
fn check_call_id(v: &[u8]) -> Result<(), ParseError> {
    let word = |b: u8| {
        is_token(b)
            || matches!(b, b'(' | b')' | b'<' | b'>' | b':' | b'\\' | b'"' | b'/' | b'[' | b']' | b'?' | b'{' | b'}')
    };
    let ok = !v.is_empty() && {
        let mut parts = v.splitn(2, |&b| b == b'@');
        let a = parts.next().unwrap_or(&[]);
        let b = parts.next();
        !a.is_empty() && a.iter().all(|&c| word(c)) && b.is_none_or(|b| !b.is_empty() && b.iter().all(|&c| word(c)))
    };
    if ok {
        Ok(())
    } else {
        Err(ParseError::BadValue(HeaderKind::CallId, "not a word[@word]"))
    }
}

/// `rfc1123-date` in GMT (RFC 3261 §20.17): `Sat, 13 Nov 2010 23:29:00 GMT`.
fn check_date(v: &[u8]) -> Result<(), &'static str> {
    let days: [&[u8]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];
    let months: [&[u8]; 12] =
        [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];
    let mut parts = v.split(|&b| b == b' ').filter(|p| !p.is_empty());
    let (Some(wk), Some(day), Some(mon), Some(year), Some(time), Some(zone), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not an RFC 1123 date");
    };
    let digits = |s: &[u8], n: usize| s.len() == n && s.iter().all(u8::is_ascii_digit);
    let time_ok = time.len() == 8
        && time.split(|&b| b == b':').all(|t| digits(t, 2))
        && time.iter().filter(|&&b| b == b':').count() == 2;
    let weekday_ok = wk.len() == 4 && wk.ends_with(b",") && days.contains(&wk.get(..3).unwrap_or(&[]));
    if !(weekday_ok && digits(day, 2) && months.contains(&mon) && digits(year, 4) && time_ok) {
        return Err("not an RFC 1123 date");
    }
    if zone != b"GMT" {
        return Err("time zone must be GMT");
    }
    Ok(())
}

/// `media-type = m-type SLASH m-subtype *(SEMI m-parameter)` (RFC 3261 §20.15).
fn check_media_type(v: &[u8]) -> Result<(), &'static str> {
    let mut c = Cursor::new(v);
    c.token().ok_or("no media type")?;
    if !c.eat_sep(b'/') {
        return Err("no media subtype");
    }
    c.token().ok_or("no media subtype")?;
    while c.eat_sep(b';') {
        c.token().ok_or("empty parameter")?;
        if !c.eat_sep(b'=') {
            return Err("parameter without value");
        }
        if c.peek() == Some(b'"') {
            c.quoted().ok_or("unterminated quoted value")?;
        } else {
            c.token().ok_or("empty parameter value")?;
        }
    }
    c.skip_lws();
    if c.at_end() {
        Ok(())
    } else {
        Err("unexpected characters")
    }
}

/// `credentials = auth-scheme LWS auth-params` (RFC 3261 §25.1). Unknown schemes are passed
/// through unmodified (RFC 4475 §3.3.7); Digest parameters are checked by [`crate::digest`]
/// when a registrar verifies them.
fn check_credentials(v: &[u8]) -> Result<(), &'static str> {
    let mut c = Cursor::new(v);
    c.token().ok_or("no authentication scheme")?;
    if !c.at_end() && !c.skip_lws() {
        return Err("no white space after the scheme");
    }
    for p in CommaSplit::new(c.rest()) {
        if p.is_empty() {
            return Err("empty parameter");
        }
    }
    Ok(())
}

/// A well-formed request that a proxy must not forward as it is (RFC 3261 §16.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal<'a> {
    /// Max-Forwards is 0: answer 483 Too Many Hops (§16.3 step 3).
    TooManyHops,
    /// The Request-URI scheme is not one the proxy handles: 416 (§16.3 step 1).
    UnsupportedUriScheme,
    /// `Proxy-Require` lists an extension the proxy lacks: 420 with `Unsupported: tag` (§16.3 step 5).
    BadExtension(&'a [u8]),
}

impl Refusal<'_> {
    /// The status code to answer.
    pub const fn status(&self) -> u16 {
        match self {
            Refusal::TooManyHops => 483,
            Refusal::UnsupportedUriScheme => 416,
            Refusal::BadExtension(_) => 420,
        }
    }

    /// The reason phrase.
    pub const fn reason(&self) -> &'static str {
        match self {
            Refusal::TooManyHops => "Too Many Hops",
            Refusal::UnsupportedUriScheme => "Unsupported URI Scheme",
            Refusal::BadExtension(_) => "Bad Extension",
        }
    }
}

/// The proxy's request checks of RFC 3261 §16.3 for a message that passed [`validate`].
/// `supported` lists the option tags this proxy implements.
pub fn proxy_checks<'a>(msg: &Message<'_, 'a>, supported: &[&str]) -> Option<Refusal<'a>> {
    let StartLine::Request { .. } = msg.start else { return None };
    if let Some(Ok(uri)) = msg.request_uri() {
        if !matches!(uri.scheme, Scheme::Sip | Scheme::Sips | Scheme::Tel) {
            return Some(Refusal::UnsupportedUriScheme);
        }
    }
    if let Some(Ok(0)) = msg.max_forwards() {
        return Some(Refusal::TooManyHops);
    }
    msg.tokens(HeaderKind::ProxyRequire)
        .flatten()
        .find(|t| !supported.iter().any(|s| s.as_bytes().eq_ignore_ascii_case(t)))
        .map(Refusal::BadExtension)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert!(check_date(b"Sat, 13 Nov 2010 23:29:00 GMT").is_ok());
        assert_eq!(check_date(b"Fri, 01 Jan 2010 16:00:00 EST"), Err("time zone must be GMT"));
        assert!(check_date(b"yesterday").is_err());
    }

    #[test]
    fn call_ids() {
        assert!(check_call_id(b"intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{").is_ok());
        assert!(check_call_id(b"a b").is_err());
        assert!(check_call_id(b"a@").is_err());
    }
}
