//! Writing header values into a caller's buffer.

use super::{DigestError, EscapedStr};

/// A cursor over the caller's output buffer. Every write either fits whole or fails with
/// [`DigestError::BufferTooSmall`].
pub(crate) struct Out<'b> {
    buf: &'b mut [u8],
    len: usize,
    first: bool,
}

impl<'b> Out<'b> {
    /// Starts a `Digest` challenge or credentials value.
    pub(crate) fn digest(buf: &'b mut [u8]) -> Result<Self, DigestError> {
        let mut out = Self { buf, len: 0, first: true };
        out.bytes(b"Digest ")?;
        Ok(out)
    }

    pub(crate) fn bytes(&mut self, bytes: &[u8]) -> Result<(), DigestError> {
        let end = self.len.checked_add(bytes.len()).ok_or(DigestError::BufferTooSmall)?;
        self.buf.get_mut(self.len..end).ok_or(DigestError::BufferTooSmall)?.copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    /// `, name=value` (or `name=value` for the first parameter), value unquoted: for tokens
    /// that RFC 7616 §3.3/§3.4 say MUST NOT be quoted (`algorithm`, `stale`, `qop`, `nc`).
    pub(crate) fn token_param(&mut self, name: &str, value: &[u8]) -> Result<(), DigestError> {
        self.name(name)?;
        self.bytes(value)
    }

    /// `, name="value"` for a value already in escaped form (echoed from a parsed header).
    pub(crate) fn escaped_param(&mut self, name: &str, value: EscapedStr<'_>) -> Result<(), DigestError> {
        self.name(name)?;
        self.bytes(b"\"")?;
        self.bytes(value.raw().as_bytes())?;
        self.bytes(b"\"")
    }

    /// `, name="value"`, escaping `"` and `\` (RFC 3261 §25.1 `quoted-pair`).
    ///
    /// CR, LF and other control characters but tab cannot appear in a quoted-string at all:
    /// they are [`DigestError::InvalidArgument`], so that no caller value can end the header
    /// or inject another one.
    pub(crate) fn quoted_param(&mut self, name: &str, value: &str) -> Result<(), DigestError> {
        if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(DigestError::InvalidArgument("control character in a quoted value"));
        }
        self.name(name)?;
        self.bytes(b"\"")?;
        for piece in value.split_inclusive(['"', '\\']) {
            let (plain, special) = match piece.as_bytes() {
                [plain @ .., last @ (b'"' | b'\\')] => (plain, Some(*last)),
                plain => (plain, None),
            };
            self.bytes(plain)?;
            if let Some(c) = special {
                self.bytes(&[b'\\', c])?;
            }
        }
        self.bytes(b"\"")
    }

    fn name(&mut self, name: &str) -> Result<(), DigestError> {
        if !core::mem::take(&mut self.first) {
            self.bytes(b", ")?;
        }
        self.bytes(name.as_bytes())?;
        self.bytes(b"=")
    }

    pub(crate) fn finish(self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_and_refuses_line_breaks() {
        let mut buf = [0u8; 64];
        let Ok(mut out) = Out::digest(&mut buf) else { panic!("64 bytes hold the scheme") };
        assert_eq!(out.quoted_param("a", r#"x"y\z"#), Ok(()));
        assert_eq!(out.token_param("b", b"c"), Ok(()));
        assert_eq!(
            out.quoted_param("c", "evil\r\nVia: x"),
            Err(DigestError::InvalidArgument("control character in a quoted value"))
        );
        let len = out.finish();
        assert_eq!(buf.get(..len), Some(&br#"Digest a="x\"y\\z", b=c"#[..]));
    }

    #[test]
    fn a_full_buffer_is_an_error() {
        assert!(Out::digest(&mut [0u8; 6]).is_err());
        let mut buf = [0u8; 10];
        let Ok(mut out) = Out::digest(&mut buf) else { panic!("10 bytes hold the scheme") };
        assert_eq!(out.quoted_param("realm", "r"), Err(DigestError::BufferTooSmall));
    }
}
