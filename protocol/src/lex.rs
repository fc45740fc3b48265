//! Byte classes and a small cursor for header values (RFC 3261 §25.1).
//!
//! Header values are kept as they arrived, folded lines included, so every scanner here treats
//! linear white space (`LWS = [*WSP CRLF] 1*WSP`, RFC 3261 §25.1) as plain white space. Nothing
//! here allocates or panics: positions only move forward and every byte access is checked.

/// Character classes as bits of one 256-entry table, so that every scanner classifies a byte
/// with one load (the parser's hot loops are these scans).
pub(crate) mod class {
    /// `token` (RFC 3261 §25.1): alphanumerics and `-.!%*_+`'~`.
    pub const TOKEN: u8 = 1;
    /// `unreserved` (RFC 3261 §25.1): alphanumerics and `-_.!~*'()`.
    pub const UNRESERVED: u8 = 2;
    /// Host name characters: alphanumerics, `-` and `.`.
    pub const HOST: u8 = 4;
    /// SIP URI `user` (unescaped part): unreserved and `&=+$,;?/`.
    pub const USER: u8 = 16;
    /// SIP URI `password` (unescaped part): unreserved and `&=+$,`.
    pub const PASSWORD: u8 = 32;
    /// SIP URI `paramchar` (unescaped part): unreserved and `[]/:&+$`.
    pub const PARAM: u8 = 64;
    /// SIP URI `hname`/`hvalue` (unescaped part): unreserved and `[]/?:+$`.
    pub const HEADER: u8 = 128;
}

const fn classify(b: u8) -> u8 {
    let alnum = b.is_ascii_alphanumeric();
    let mut c = 0;
    if alnum || matches!(b, b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~') {
        c |= class::TOKEN;
    }
    if alnum || matches!(b, b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')') {
        c |= class::UNRESERVED;
    }
    if alnum || matches!(b, b'-' | b'.') {
        c |= class::HOST;
    }
    let unreserved = c & class::UNRESERVED != 0;
    if unreserved || matches!(b, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/') {
        c |= class::USER;
    }
    if unreserved || matches!(b, b'&' | b'=' | b'+' | b'$' | b',') {
        c |= class::PASSWORD;
    }
    if unreserved || matches!(b, b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$') {
        c |= class::PARAM;
    }
    if unreserved || matches!(b, b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$') {
        c |= class::HEADER;
    }
    c
}

const CLASSES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = classify(i as u8);
        i += 1;
    }
    t
};

/// Whether `b` is in all of the classes in `mask`.
#[inline(always)]
pub(crate) const fn is(b: u8, mask: u8) -> bool {
    CLASSES[b as usize] & mask != 0
}

/// `token` characters (RFC 3261 §25.1): alphanumerics and `-.!%*_+`'~`.
#[inline(always)]
pub(crate) const fn is_token(b: u8) -> bool {
    is(b, class::TOKEN)
}

/// White space inside a line: space or horizontal tab.
pub(crate) const fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// ASCII hexadecimal digit.
pub(crate) const fn is_hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

/// Parses an unsigned decimal number made only of digits; `None` when empty, not all digits,
/// or larger than `u64` (the caller applies the header's own range).
pub(crate) fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

/// Like [`parse_u64`] but saturating instead of failing on overflow (digits only).
pub(crate) fn parse_u64_saturating(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(parse_u64(s).unwrap_or(u64::MAX))
}

/// Trims linear white space (including folds) from both ends.
pub(crate) fn trim_lws(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if is_wsp(*first) || *first == b'\r' || *first == b'\n' {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if is_wsp(*last) || *last == b'\r' || *last == b'\n' {
            s = rest;
        } else {
            break;
        }
    }
    s
}

/// A forward-only cursor over one header value.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cursor<'a> {
    pub(crate) s: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) const fn new(s: &'a [u8]) -> Self {
        Cursor { s, pos: 0 }
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        self.s.get(self.pos..).unwrap_or(&[])
    }

    pub(crate) fn slice(&self, from: usize, to: usize) -> &'a [u8] {
        self.s.get(from..to).unwrap_or(&[])
    }

    /// Skips linear white space, folded line breaks included. Returns whether anything was
    /// skipped. A bare CR or LF not followed by white space is not LWS and stops the skip.
    pub(crate) fn skip_lws(&mut self) -> bool {
        let start = self.pos;
        loop {
            match self.peek() {
                Some(b) if is_wsp(b) => self.pos += 1,
                Some(b'\r') => {
                    let next = self.s.get(self.pos + 1).copied();
                    let after = self.s.get(self.pos + 2).copied();
                    if next == Some(b'\n') && after.is_some_and(is_wsp) {
                        self.pos += 3;
                    } else {
                        break;
                    }
                }
                Some(b'\n') if self.s.get(self.pos + 1).copied().is_some_and(is_wsp) => {
                    self.pos += 2;
                }
                _ => break,
            }
        }
        self.pos != start
    }

    /// Consumes `b` if it is next.
    pub(crate) fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Consumes `SWS b SWS` (RFC 3261 §25.1 separators such as `SEMI`, `EQUAL`, `SLASH`).
    pub(crate) fn eat_sep(&mut self, b: u8) -> bool {
        let save = self.pos;
        self.skip_lws();
        if self.eat(b) {
            self.skip_lws();
            true
        } else {
            self.pos = save;
            false
        }
    }

    /// Consumes the longest run of bytes matching `pred`.
    pub(crate) fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> &'a [u8] {
        let rest = self.rest();
        let n = rest.iter().position(|&b| !pred(b)).unwrap_or(rest.len());
        self.pos += n;
        rest.get(..n).unwrap_or(&[])
    }

    /// Consumes a non-empty token.
    pub(crate) fn token(&mut self) -> Option<&'a [u8]> {
        let t = self.take_while(is_token);
        if t.is_empty() {
            None
        } else {
            Some(t)
        }
    }

    /// Consumes a quoted string (RFC 3261 §25.1 `quoted-string`) and returns it with its
    /// quotes, escapes left as they are. `None` (cursor unmoved) when unterminated.
    pub(crate) fn quoted(&mut self) -> Option<&'a [u8]> {
        let start = self.pos;
        if !self.eat(b'"') {
            return None;
        }
        while let Some(b) = self.peek() {
            match b {
                b'"' => {
                    self.pos += 1;
                    return Some(self.slice(start, self.pos));
                }
                // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F): CR and LF cannot be escaped.
                b'\\' => match self.s.get(self.pos + 1) {
                    Some(b'\r' | b'\n') | None => break,
                    Some(_) => self.pos += 2,
                },
                b'\r' | b'\n' => {
                    // A fold inside a quoted string is LWS; a bare line break is not allowed.
                    if !self.skip_lws() {
                        break;
                    }
                }
                _ => self.pos += 1,
            }
        }
        self.pos = start;
        None
    }
}

/// Splits a list header value at top-level commas (outside quoted strings and `<>`), trimming
/// LWS around each element. Empty elements are yielded as empty slices so that strict callers
/// can reject them (RFC 4475 §3.1.2.1).
#[derive(Clone, Debug)]
pub(crate) struct CommaSplit<'a> {
    s: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> CommaSplit<'a> {
    pub(crate) const fn new(s: &'a [u8]) -> Self {
        CommaSplit { s, pos: 0, done: false }
    }
}

impl<'a> CommaSplit<'a> {
    /// What is left after the elements yielded so far (after their comma); `None` at the end.
    pub(crate) fn remainder(&self) -> Option<&'a [u8]> {
        if self.done {
            None
        } else {
            self.s.get(self.pos..)
        }
    }
}

impl<'a> Iterator for CommaSplit<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.done {
            return None;
        }
        let start = self.pos;
        let mut i = start;
        // Jump between the bytes that matter with memchr: list values are long (a Via is
        // ~100 bytes) and the separators few.
        loop {
            let rest = self.s.get(i..).unwrap_or(&[]);
            let Some(off) = memchr::memchr3(b',', b'"', b'<', rest) else { break };
            i += off;
            match self.s.get(i) {
                Some(b',') => {
                    self.pos = i + 1;
                    return Some(trim_lws(self.s.get(start..i).unwrap_or(&[])));
                }
                Some(b'"') => {
                    // Skip the quoted string, honouring backslash escapes.
                    i += 1;
                    loop {
                        let rest = self.s.get(i..).unwrap_or(&[]);
                        match memchr::memchr2(b'"', b'\\', rest) {
                            Some(q) if rest.get(q) == Some(&b'\\') => i += q + 2,
                            Some(q) => {
                                i += q + 1;
                                break;
                            }
                            None => {
                                i = self.s.len();
                                break;
                            }
                        }
                    }
                }
                _ => {
                    // Inside <...> commas belong to the URI.
                    let rest = self.s.get(i..).unwrap_or(&[]);
                    i = memchr::memchr(b'>', rest).map_or(self.s.len(), |g| i + g + 1);
                }
            }
        }
        self.done = true;
        Some(trim_lws(self.s.get(start..).unwrap_or(&[])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lws_skips_folds_but_not_bare_breaks() {
        let mut c = Cursor::new(b" \r\n\t x");
        assert!(c.skip_lws());
        assert_eq!(c.peek(), Some(b'x'));
        let mut c = Cursor::new(b" \r\nx");
        c.skip_lws();
        assert_eq!(c.peek(), Some(b'\r'));
    }

    #[test]
    fn quoted_strings_keep_escapes_and_reject_unterminated() {
        let mut c = Cursor::new(br#""a \" b" rest"#);
        assert_eq!(c.quoted(), Some(&br#""a \" b""#[..]));
        let mut c = Cursor::new(br#""open <sip:x>"#);
        assert_eq!(c.quoted(), None);
        assert_eq!(c.pos, 0);
    }

    #[test]
    fn comma_split_respects_quotes_and_angles() {
        let v: [&[u8]; 3] = [br#""a,b" <sip:x,y>"#, b"<sip:z>", b""];
        let got = CommaSplit::new(br#""a,b" <sip:x,y> , <sip:z>,"#);
        assert!(got.eq(v.iter().copied()));
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_u64(b"0068"), Some(68));
        assert_eq!(parse_u64(b"-1"), None);
        assert_eq!(parse_u64(b"36893488147419103232"), None);
        assert_eq!(parse_u64_saturating(b"36893488147419103232"), Some(u64::MAX));
    }
}
