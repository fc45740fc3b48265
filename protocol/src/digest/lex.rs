//! The auth-param list shared by challenges and credentials.
//!
//! Grammar (RFC 3261 §25.1, the same as RFC 2617 §1.2 and RFC 7235 §2.1):
//!
//! ```text
//! challenge / credentials = auth-scheme LWS auth-param *(COMMA auth-param)
//! auth-param  = token EQUAL ( token / quoted-string )
//! COMMA = SWS "," SWS      EQUAL = SWS "=" SWS
//! LWS   = [*WSP CRLF] 1*WSP      SWS = [LWS]
//! quoted-string = SWS DQUOTE *(qdtext / quoted-pair) DQUOTE
//! quoted-pair   = "\" (%x00-09 / %x0B-0C / %x0E-7F)
//! ```

use core::fmt;

use super::{DigestError, Malformed};

/// RFC 3261 §25.1 `token` characters.
pub(crate) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~')
}

/// Whether `bytes` is a non-empty token.
pub(crate) fn is_token(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|&b| is_token_byte(b))
}

/// Skips SWS from `pos`: spaces, tabs and folds (CRLF followed by a space or tab,
/// RFC 3261 §7.3.1). Returns the first position that is not whitespace.
fn skip_sws(input: &[u8], mut pos: usize) -> usize {
    loop {
        match input.get(pos..) {
            Some([b' ' | b'\t', ..]) => pos += 1,
            Some([b'\r', b'\n', b' ' | b'\t', ..]) => pos += 3,
            _ => return pos,
        }
    }
}

/// The end of the token starting at `pos` (equal to `pos` if there is none).
fn token_end(input: &[u8], pos: usize) -> usize {
    let len = input.get(pos..).map_or(0, |rest| rest.iter().take_while(|&&b| is_token_byte(b)).count());
    pos + len
}

/// A `&str` view of a slice already checked to be ASCII tokens.
fn ascii(bytes: &[u8]) -> Result<&str, Malformed> {
    core::str::from_utf8(bytes).map_err(|_| Malformed::NotUtf8)
}

/// Splits off the auth-scheme. Returns it and the position of the first parameter.
pub(crate) fn split_scheme(input: &[u8]) -> Result<(&str, usize), Malformed> {
    let start = skip_sws(input, 0);
    if start >= input.len() {
        return Err(Malformed::Empty);
    }
    let end = token_end(input, start);
    let scheme = input.get(start..end).filter(|s| !s.is_empty()).ok_or(Malformed::Scheme)?;
    let params = skip_sws(input, end);
    // The scheme must be followed by LWS, or end the value.
    if params == end && end != input.len() {
        return Err(Malformed::Scheme);
    }
    Ok((ascii(scheme)?, params))
}

/// A parameter value as it appears on the wire, without its quotes but with its
/// backslash escapes (RFC 3261 §25.1 `quoted-pair`) still in place.
///
/// Tokens and quoted-strings are the same thing to a recipient (RFC 7235 §2.1), so both parse
/// to this type. [`raw`](Self::raw) is what to echo back into another header; compare and hash
/// the unescaped text with [`chunks`](Self::chunks), [`eq_unescaped`](Self::eq_unescaped) or
/// [`unescape_into`](Self::unescape_into). Guaranteed UTF-8 and free of CR and LF.
/// `==` compares the raw form: `"a\b"` and `"ab"` differ although both unescape to `ab`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EscapedStr<'a> {
    raw: &'a str,
}

impl<'a> EscapedStr<'a> {
    /// The value between the quotes, escapes included.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// Whether the value contains any backslash escape.
    pub fn has_escapes(&self) -> bool {
        self.raw.contains('\\')
    }

    /// The value itself if it contains no escape, which is the common case.
    pub fn as_unescaped(&self) -> Option<&'a str> {
        (!self.has_escapes()).then_some(self.raw)
    }

    /// The unescaped value, as consecutive pieces borrowed from the input.
    pub fn chunks(&self) -> Chunks<'a> {
        Chunks { rest: self.raw }
    }

    /// The unescaped value, byte by byte.
    pub fn bytes(&self) -> impl Iterator<Item = u8> + 'a {
        self.chunks().flat_map(str::bytes)
    }

    /// The length of the unescaped value in bytes.
    pub fn unescaped_len(&self) -> usize {
        self.chunks().map(str::len).sum()
    }

    /// Whether the unescaped value equals `other`, byte for byte.
    pub fn eq_unescaped(&self, other: &[u8]) -> bool {
        let mut rest = other;
        for chunk in self.chunks() {
            match rest.strip_prefix(chunk.as_bytes()) {
                Some(tail) => rest = tail,
                None => return false,
            }
        }
        rest.is_empty()
    }

    /// Whether the unescaped value equals `other`, ignoring ASCII case (for tokens such as
    /// `stale=TRUE`).
    pub fn eq_ignore_ascii_case(&self, other: &[u8]) -> bool {
        self.unescaped_len() == other.len() && self.bytes().zip(other).all(|(a, b)| a.eq_ignore_ascii_case(b))
    }

    /// Writes the unescaped value into `buf` and returns it.
    ///
    /// Fails with [`DigestError::BufferTooSmall`] if it does not fit; `buf` then holds a
    /// prefix.
    pub fn unescape_into<'b>(&self, buf: &'b mut [u8]) -> Result<&'b str, DigestError> {
        let mut len = 0usize;
        for chunk in self.chunks() {
            let end = len.checked_add(chunk.len()).ok_or(DigestError::BufferTooSmall)?;
            buf.get_mut(len..end).ok_or(DigestError::BufferTooSmall)?.copy_from_slice(chunk.as_bytes());
            len = end;
        }
        let out = buf.get(..len).ok_or(DigestError::BufferTooSmall)?;
        // Escapes only ever drop an ASCII backslash, so this cannot fail.
        core::str::from_utf8(out).map_err(|_| DigestError::Malformed(Malformed::NotUtf8))
    }
}

impl fmt::Debug for EscapedStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.raw)
    }
}

impl fmt::Display for EscapedStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.chunks().try_for_each(|chunk| f.write_str(chunk))
    }
}

/// The unescaped pieces of an [`EscapedStr`]: runs of plain text and single escaped
/// characters, in order. Made by [`EscapedStr::chunks`].
#[derive(Clone, Debug)]
pub struct Chunks<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Chunks<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        match self.rest.find('\\') {
            None if self.rest.is_empty() => None,
            None => Some(core::mem::take(&mut self.rest)),
            Some(0) => {
                // The escaped character is ASCII (checked when parsing), but stay on char
                // boundaries anyway so that no input can make this slice panic.
                let after = self.rest.get(1..)?;
                let width = after.chars().next().map_or(0, char::len_utf8);
                let (escaped, tail) = after.split_at_checked(width)?;
                self.rest = tail;
                (!escaped.is_empty()).then_some(escaped)
            }
            Some(i) => {
                let (plain, tail) = self.rest.split_at_checked(i)?;
                self.rest = tail;
                Some(plain)
            }
        }
    }
}

/// Reads a quoted-string starting at the `"` at `start`. Returns the content and the position
/// after the closing quote.
fn quoted_string(input: &[u8], start: usize) -> Result<(EscapedStr<'_>, usize), Malformed> {
    let content_start = start + 1;
    let mut i = content_start;
    loop {
        match input.get(i) {
            None => return Err(Malformed::UnterminatedQuote),
            Some(b'"') => break,
            Some(b'\\') => match input.get(i + 1) {
                None => return Err(Malformed::UnterminatedQuote),
                Some(b'\r' | b'\n') => return Err(Malformed::LineBreakInQuotes),
                Some(c) if c.is_ascii() => i += 2,
                Some(_) => return Err(Malformed::Escape),
            },
            Some(b'\r' | b'\n') => return Err(Malformed::LineBreakInQuotes),
            Some(&c) if (c < 0x20 && c != b'\t') || c == 0x7f => return Err(Malformed::ControlCharacter),
            Some(_) => i += 1,
        }
    }
    let content = input.get(content_start..i).ok_or(Malformed::UnterminatedQuote)?;
    let raw = core::str::from_utf8(content).map_err(|_| Malformed::NotUtf8)?;
    Ok((EscapedStr { raw }, i + 1))
}

/// The `name=value` parameters after the auth-scheme, in order, unknown ones included.
///
/// Yields an error at the first syntax error and then stops. Made by
/// [`Challenge::params`](super::Challenge::params) and
/// [`Credentials::params`](super::Credentials::params).
#[derive(Clone, Debug)]
pub struct Params<'a> {
    input: &'a [u8],
    pos: usize,
    first: bool,
    done: bool,
}

impl<'a> Params<'a> {
    /// Parameters of `input` starting at `pos` (just after the scheme and its LWS).
    pub(crate) fn new(input: &'a [u8], pos: usize) -> Self {
        Self { input, pos, first: true, done: false }
    }

    fn step(&mut self) -> Result<Option<(&'a str, EscapedStr<'a>)>, Malformed> {
        let input = self.input;
        let mut pos = skip_sws(input, self.pos);
        if pos >= input.len() {
            return Ok(None);
        }
        if !self.first {
            if input.get(pos) != Some(&b',') {
                return Err(Malformed::Separator);
            }
            pos = skip_sws(input, pos + 1);
        }
        self.first = false;

        let name_end = token_end(input, pos);
        let name = input.get(pos..name_end).filter(|n| !n.is_empty()).ok_or(Malformed::ParamName)?;
        pos = skip_sws(input, name_end);
        if input.get(pos) != Some(&b'=') {
            return Err(Malformed::Equals);
        }
        pos = skip_sws(input, pos + 1);

        let value = if input.get(pos) == Some(&b'"') {
            let (value, after) = quoted_string(input, pos)?;
            pos = after;
            value
        } else {
            let end = token_end(input, pos);
            let token = input.get(pos..end).filter(|t| !t.is_empty()).ok_or(Malformed::Value)?;
            pos = end;
            EscapedStr { raw: ascii(token)? }
        };
        self.pos = pos;
        Ok(Some((ascii(name)?, value)))
    }
}

impl<'a> Iterator for Params<'a> {
    type Item = Result<(&'a str, EscapedStr<'a>), DigestError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.step().map_err(DigestError::Malformed).transpose();
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        item
    }
}

impl core::iter::FusedIterator for Params<'_> {}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is the point
mod tests {
    use super::*;

    fn params(input: &[u8]) -> Params<'_> {
        Params::new(input, 0)
    }

    #[test]
    fn token_and_quoted_values() {
        let mut p = params(br#"a=b, c="d e", f = "" "#);
        let (n, v) = p.next().unwrap().unwrap();
        assert_eq!((n, v.raw()), ("a", "b"));
        let (n, v) = p.next().unwrap().unwrap();
        assert_eq!((n, v.raw()), ("c", "d e"));
        let (n, v) = p.next().unwrap().unwrap();
        assert_eq!((n, v.raw()), ("f", ""));
        assert!(p.next().is_none());
    }

    #[test]
    fn folded_whitespace_around_separators() {
        let input = b"a\r\n =\r\n\t\"x\"\r\n ,\r\n b=c";
        let mut p = params(input);
        assert_eq!(p.next().unwrap().unwrap().1.raw(), "x");
        assert_eq!(p.next().unwrap().unwrap().0, "b");
        assert!(p.next().is_none());
    }

    #[test]
    fn a_line_break_that_is_not_a_fold_is_an_error() {
        assert_eq!(params(b"a=b\r\nc=d").next().unwrap().unwrap().0, "a");
        assert_eq!(params(b"a=b\r\nc=d").nth(1), Some(Err(DigestError::Malformed(Malformed::Separator))));
    }

    #[test]
    fn escapes_are_kept_raw_and_unescaped_on_demand() {
        let (_, v) = params(br#"r="a\"b\\c""#).next().unwrap().unwrap();
        assert_eq!(v.raw(), r#"a\"b\\c"#);
        assert!(v.has_escapes());
        assert_eq!(v.as_unescaped(), None);
        assert!(v.eq_unescaped(br#"a"b\c"#));
        assert!(!v.eq_unescaped(br#"a"b\"#));
        assert!(!v.eq_unescaped(br#"a"b\cd"#));
        assert_eq!(v.unescaped_len(), 5);
        let mut buf = [0u8; 5];
        assert_eq!(v.unescape_into(&mut buf), Ok(r#"a"b\c"#));
        let mut small = [0u8; 4];
        assert_eq!(v.unescape_into(&mut small), Err(DigestError::BufferTooSmall));
    }

    #[test]
    fn syntax_errors() {
        let cases: &[(&[u8], Malformed)] = &[
            (b"a", Malformed::Equals),
            (b"a=", Malformed::Value),
            (b"=b", Malformed::ParamName),
            (b"a=b,", Malformed::ParamName),
            (b",a=b", Malformed::ParamName),
            (b"a=b c=d", Malformed::Separator),
            (b"a=\"b", Malformed::UnterminatedQuote),
            (b"a=\"b\\", Malformed::UnterminatedQuote),
            (b"a=\"b\r\n c\"", Malformed::LineBreakInQuotes),
            (b"a=\"b\x00\"", Malformed::ControlCharacter),
            (b"a=\"\\\xc3\xa9\"", Malformed::Escape),
            (b"a=\"\xff\"", Malformed::NotUtf8),
            (b"a=\xff", Malformed::Value),
        ];
        for (input, expected) in cases {
            let last = params(input).last();
            assert_eq!(last, Some(Err(DigestError::Malformed(*expected))), "{input:?}");
        }
    }

    #[test]
    fn utf8_in_quotes_is_accepted() {
        let (_, v) = params("u=\"Zoë\"".as_bytes()).next().unwrap().unwrap();
        assert_eq!(v.raw(), "Zoë");
    }

    #[test]
    fn scheme_split() {
        assert_eq!(split_scheme(b"  Digest a=b"), Ok(("Digest", 9)));
        assert_eq!(split_scheme(b"Digest\r\n\ta=b"), Ok(("Digest", 9)));
        assert_eq!(split_scheme(b"Digest"), Ok(("Digest", 6)));
        assert_eq!(split_scheme(b""), Err(Malformed::Empty));
        assert_eq!(split_scheme(b" \t "), Err(Malformed::Empty));
        assert_eq!(split_scheme(b",,,"), Err(Malformed::Scheme));
        assert_eq!(split_scheme(b"Digest,a=b"), Err(Malformed::Scheme));
        assert_eq!(split_scheme(b"\"Digest\" a=b"), Err(Malformed::Scheme));
    }
}
