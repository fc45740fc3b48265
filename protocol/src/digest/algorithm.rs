//! The `algorithm` and `qop` parameters (RFC 7616 §3.3, RFC 8760 §2).

use core::fmt;

use super::DigestError;

/// A digest algorithm this module can compute (RFC 7616 §3.3, registered for SIP by
/// RFC 8760 §2).
///
/// An absent `algorithm` parameter means [`Md5`](Self::Md5) (RFC 2617 §3.2.1). The `-sess`
/// variants hash the nonce and cnonce into HA1 (RFC 7616 §3.4.2). SHA-512-256 is a valid
/// algorithm that this module does not implement: it parses as
/// [`DigestError::UnsupportedAlgorithm`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// `MD5`: the RFC 2617 default, still what most SIP phones send.
    #[default]
    Md5,
    /// `MD5-sess`.
    Md5Sess,
    /// `SHA-256` (RFC 7616 §3.3, RFC 8760 §2).
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
}

impl Algorithm {
    /// Parses an `algorithm` token, ASCII case-insensitively (RFC 7616 §3.3).
    ///
    /// Anything but the four supported names, including `SHA-512-256`, is
    /// [`DigestError::UnsupportedAlgorithm`]: RFC 2617 §3.2.1 and RFC 7616 §3.3 tell a client
    /// to ignore such a challenge (and use another one if there is one).
    pub fn parse(token: &[u8]) -> Result<Self, DigestError> {
        [Self::Md5, Self::Md5Sess, Self::Sha256, Self::Sha256Sess]
            .into_iter()
            .find(|alg| alg.as_str().as_bytes().eq_ignore_ascii_case(token))
            .ok_or(DigestError::UnsupportedAlgorithm)
    }

    /// The name as RFC 7616 §3.3 spells it (written unquoted, as §3.3 requires).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Md5Sess => "MD5-sess",
            Self::Sha256 => "SHA-256",
            Self::Sha256Sess => "SHA-256-sess",
        }
    }

    /// Whether this is a `-sess` variant, whose HA1 depends on nonce and cnonce.
    pub const fn is_session(self) -> bool {
        matches!(self, Self::Md5Sess | Self::Sha256Sess)
    }

    /// The variant without `-sess`: the one a stored HA1 is computed with.
    pub const fn base(self) -> Self {
        match self {
            Self::Md5 | Self::Md5Sess => Self::Md5,
            Self::Sha256 | Self::Sha256Sess => Self::Sha256,
        }
    }

    /// The length of this algorithm's digests in hex digits: 32 for MD5, 64 for SHA-256.
    pub const fn hex_len(self) -> usize {
        match self.base() {
            Self::Sha256 | Self::Sha256Sess => 64,
            Self::Md5 | Self::Md5Sess => 32,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A quality of protection (RFC 7616 §3.3 `qop`).
///
/// Only [`Auth`](Self::Auth) can be verified: `auth-int` needs the hash of the message body,
/// which SIP user agents rarely implement; it is recognised so that it can be refused with
/// [`DigestError::UnsupportedQop`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Qop {
    /// `auth`: authentication of method and URI.
    Auth,
    /// `auth-int`: also the body. Parsed, never computed.
    AuthInt,
}

impl Qop {
    /// Parses a qop token, ASCII case-insensitively; `None` for an unknown token.
    pub fn parse(token: &[u8]) -> Option<Self> {
        [Self::Auth, Self::AuthInt].into_iter().find(|qop| qop.as_str().as_bytes().eq_ignore_ascii_case(token))
    }

    /// The token as written on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::AuthInt => "auth-int",
        }
    }
}

impl fmt::Display for Qop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names_are_case_insensitive() {
        assert_eq!(Algorithm::parse(b"md5"), Ok(Algorithm::Md5));
        assert_eq!(Algorithm::parse(b"MD5-SESS"), Ok(Algorithm::Md5Sess));
        assert_eq!(Algorithm::parse(b"sha-256"), Ok(Algorithm::Sha256));
        assert_eq!(Algorithm::parse(b"SHA-256-sess"), Ok(Algorithm::Sha256Sess));
    }

    #[test]
    fn unknown_algorithms_are_unsupported() {
        for name in [&b"SHA-512-256"[..], b"SHA-512-256-sess", b"", b"MD5 ", b"sha256", b"\xff"] {
            assert_eq!(Algorithm::parse(name), Err(DigestError::UnsupportedAlgorithm));
        }
    }

    #[test]
    fn base_and_lengths() {
        assert_eq!(Algorithm::Sha256Sess.base(), Algorithm::Sha256);
        assert_eq!(Algorithm::Md5Sess.base(), Algorithm::Md5);
        assert!(Algorithm::Md5Sess.is_session() && !Algorithm::Sha256.is_session());
        assert_eq!(Algorithm::Md5Sess.hex_len(), 32);
        assert_eq!(Algorithm::Sha256Sess.hex_len(), 64);
    }

    #[test]
    fn qop_tokens() {
        assert_eq!(Qop::parse(b"AUTH"), Some(Qop::Auth));
        assert_eq!(Qop::parse(b"auth-int"), Some(Qop::AuthInt));
        assert_eq!(Qop::parse(b"auth-conf"), None);
    }
}
