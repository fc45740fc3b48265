//! The digest computations of RFC 7616 §3.4.1–§3.4.4, on the stack.

use core::fmt;

use md5::{Digest as _, Md5};
use sha2::Sha256;

use super::{Algorithm, DigestError, EscapedStr};

/// A digest as lowercase hex digits (RFC 7616 §3.4.1 `LHEX`), held inline: 32 digits for MD5,
/// 64 for SHA-256. HA1, HA2 and `response` values are all of this type.
#[derive(Clone, Copy)]
pub struct Hex {
    // Invariant: buf[..len] are lowercase hex digits and buf[len..] are zero.
    buf: [u8; Hex::MAX_LEN],
    len: u8,
}

impl Hex {
    /// The longest digest held, in hex digits (SHA-256).
    pub const MAX_LEN: usize = 64;

    /// Encodes raw digest bytes; bytes past `MAX_LEN / 2` are dropped (never the case for
    /// the algorithms here).
    fn encode(digest: &[u8]) -> Self {
        let mut buf = [0u8; Self::MAX_LEN];
        let mut len = 0u8;
        for (pair, byte) in buf.chunks_exact_mut(2).zip(digest) {
            if let [hi, lo] = pair {
                *hi = hex_digit(byte >> 4);
                *lo = hex_digit(byte & 0x0f);
                len += 2;
            }
        }
        Self { buf, len }
    }

    /// Parses hex digits (either case; stored lowercase). `None` unless `hex` is 32 or 64 hex
    /// digits.
    pub fn parse(hex: &[u8]) -> Option<Self> {
        if !(hex.len() == 32 || hex.len() == 64) || !hex.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        let mut buf = [0u8; Self::MAX_LEN];
        for (dst, src) in buf.iter_mut().zip(hex) {
            *dst = src.to_ascii_lowercase();
        }
        Some(Self { buf, len: u8::try_from(hex.len()).ok()? })
    }

    /// The digits as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// The digits as a string.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.as_bytes()).unwrap_or("")
    }

    /// The number of digits.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether there are no digits (never true for a computed digest).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Compares with `other` in time that depends only on the lengths, not on where the
    /// digits differ. Hex letters in `other` match in either case.
    ///
    /// Use this, not `==`, whenever one side is secret or is checked against a secret.
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        let mine = self.as_bytes();
        if mine.len() != other.len() {
            return false;
        }
        // Setting bit 0x20 lowercases 'A'..='F' and leaves '0'..='9' and 'a'..='f' unchanged;
        // anything else that maps onto a hex digit this way is not a hex digit, so check that
        // separately (without branching on the comparison itself).
        let mut diff = 0u8;
        let mut bad = 0u8;
        for (&a, &b) in mine.iter().zip(other) {
            diff |= a ^ (b | 0x20);
            bad |= u8::from(!b.is_ascii_hexdigit());
        }
        diff == 0 && bad == 0
    }
}

impl PartialEq for Hex {
    /// Not constant-time: see [`Hex::ct_eq`].
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Hex {}

impl fmt::Debug for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hex({})", self.as_str())
    }
}

impl fmt::Display for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a registrar keeps instead of a password: `H(username ":" realm ":" password)`
/// (RFC 7616 §3.4.2) and the algorithm it was made with.
///
/// The algorithm is always a base one ([`Algorithm::Md5`] or [`Algorithm::Sha256`]): one
/// stored HA1 serves both an algorithm and its `-sess` variant. `Debug` does not show the
/// digest, which is as good as the password for this realm.
#[derive(Clone, Copy)]
pub struct StoredHa1 {
    algorithm: Algorithm,
    hex: Hex,
}

impl StoredHa1 {
    /// Computes the HA1 of a password, with `algorithm`'s hash function.
    pub fn from_password(algorithm: Algorithm, username: &[u8], realm: &[u8], password: &[u8]) -> Self {
        Self { algorithm: algorithm.base(), hex: ha1(algorithm, username, realm, password) }
    }

    /// Takes an HA1 that was computed elsewhere (synced from the cloud, read from a config),
    /// as hex digits of either case.
    ///
    /// Fails with [`DigestError::InvalidArgument`] unless `hex` has the length of
    /// `algorithm`'s digests and only hex digits.
    pub fn from_hex(algorithm: Algorithm, hex: &[u8]) -> Result<Self, DigestError> {
        let hex = Hex::parse(hex)
            .filter(|h| h.len() == algorithm.hex_len())
            .ok_or(DigestError::InvalidArgument("stored HA1 is not a hex digest of the algorithm's length"))?;
        Ok(Self { algorithm: algorithm.base(), hex })
    }

    /// The base algorithm the HA1 was computed with.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The HA1 digits.
    pub fn hex(&self) -> &Hex {
        &self.hex
    }
}

impl fmt::Debug for StoredHa1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredHa1").field("algorithm", &self.algorithm).finish_non_exhaustive()
    }
}

/// One of the two hash functions, chosen at run time.
enum Hasher {
    Md5(Md5),
    Sha256(Sha256),
}

impl Hasher {
    fn new(algorithm: Algorithm) -> Self {
        match algorithm.base() {
            Algorithm::Sha256 | Algorithm::Sha256Sess => Self::Sha256(Sha256::new()),
            Algorithm::Md5 | Algorithm::Md5Sess => Self::Md5(Md5::new()),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Md5(h) => h.update(bytes),
            Self::Sha256(h) => h.update(bytes),
        }
    }

    fn finish(self) -> Hex {
        match self {
            Self::Md5(h) => Hex::encode(&h.finalize()),
            Self::Sha256(h) => Hex::encode(&h.finalize()),
        }
    }
}

/// A piece of hashed data: plain bytes, or a parameter to be hashed unescaped
/// (RFC 7616 §3.4.1 `unq()`), without copying it anywhere.
#[derive(Clone, Copy)]
pub(crate) enum Piece<'a> {
    Bytes(&'a [u8]),
    Escaped(EscapedStr<'a>),
}

impl<'a> From<&'a [u8]> for Piece<'a> {
    fn from(bytes: &'a [u8]) -> Self {
        Self::Bytes(bytes)
    }
}

impl<'a> From<EscapedStr<'a>> for Piece<'a> {
    fn from(value: EscapedStr<'a>) -> Self {
        Self::Escaped(value)
    }
}

/// `H(p1 ":" p2 ":" ...)` with `algorithm`'s hash function.
pub(crate) fn h(algorithm: Algorithm, pieces: &[Piece<'_>]) -> Hex {
    let mut hasher = Hasher::new(algorithm);
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 {
            hasher.update(b":");
        }
        match piece {
            Piece::Bytes(bytes) => hasher.update(bytes),
            Piece::Escaped(value) => value.chunks().for_each(|c| hasher.update(c.as_bytes())),
        }
    }
    hasher.finish()
}

/// The lowercase hex digit of a nibble (`n` below 16).
fn hex_digit(n: u8) -> u8 {
    match n {
        0..=9 => b'0' + n,
        10..=15 => b'a' + (n - 10),
        _ => b'?',
    }
}

/// `nc` as RFC 7616 §3.4 writes it: exactly 8 lowercase hex digits.
pub(crate) fn nc_hex(nc: u32) -> [u8; 8] {
    let mut out = [0u8; 8];
    for (i, digit) in out.iter_mut().enumerate() {
        let shift = 28 - 4 * i;
        *digit = hex_digit(((nc >> shift) & 0xf) as u8);
    }
    out
}

/// The `qop=auth` response for a base HA1, deriving the session HA1 first for `-sess`
/// algorithms (RFC 7616 §3.4.1, §3.4.2).
pub(crate) fn response_auth(
    algorithm: Algorithm,
    base_ha1: &Hex,
    nonce: Piece<'_>,
    nc: Piece<'_>,
    cnonce: Piece<'_>,
    method: Piece<'_>,
    uri: Piece<'_>,
) -> Hex {
    let ha2 = h(algorithm, &[method, uri]);
    let session;
    let ha1 = if algorithm.is_session() {
        session = h(algorithm, &[Piece::Bytes(base_ha1.as_bytes()), nonce, cnonce]);
        &session
    } else {
        base_ha1
    };
    let pieces = [ha1.as_bytes().into(), nonce, nc, cnonce, Piece::Bytes(b"auth"), ha2.as_bytes().into()];
    h(algorithm, &pieces)
}

/// The RFC 2069 response without qop (RFC 2617 §3.2.2.1). `-sess` is refused: its session
/// HA1 needs a cnonce, which RFC 2617 §3.2.2 forbids without qop.
pub(crate) fn response_no_qop(
    algorithm: Algorithm,
    base_ha1: &Hex,
    nonce: Piece<'_>,
    method: Piece<'_>,
    uri: Piece<'_>,
) -> Result<Hex, DigestError> {
    if algorithm.is_session() {
        return Err(DigestError::UnsupportedQop);
    }
    let ha2 = h(algorithm, &[method, uri]);
    Ok(h(algorithm, &[base_ha1.as_bytes().into(), nonce, ha2.as_bytes().into()]))
}

/// HA1 = `H(username ":" realm ":" password)` (RFC 7616 §3.4.2, RFC 2617 §3.2.2.2), with
/// `algorithm`'s hash function.
///
/// This is the value a registrar stores. For a `-sess` algorithm it is the stored part; the
/// per-session HA1 is [`ha1_sess`] of it. Arguments are the unquoted, unescaped values.
pub fn ha1(algorithm: Algorithm, username: &[u8], realm: &[u8], password: &[u8]) -> Hex {
    h(algorithm, &[username.into(), realm.into(), password.into()])
}

/// The session HA1 of the `-sess` algorithms: `H(HA1 ":" nonce ":" cnonce)`
/// (RFC 7616 §3.4.2), where `ha1` is the result of [`ha1`].
pub fn ha1_sess(algorithm: Algorithm, ha1: &Hex, nonce: &[u8], cnonce: &[u8]) -> Hex {
    h(algorithm, &[ha1.as_bytes().into(), nonce.into(), cnonce.into()])
}

/// HA2 = `H(method ":" uri)` for `qop=auth` or no qop (RFC 7616 §3.4.3). In SIP the method is
/// the request's method and the uri its Request-URI (RFC 3261 §22.4).
pub fn ha2(algorithm: Algorithm, method: &[u8], uri: &[u8]) -> Hex {
    h(algorithm, &[method.into(), uri.into()])
}

/// The `response` for `qop=auth` (RFC 7616 §3.4.1):
/// `H(HA1 ":" nonce ":" nc ":" cnonce ":auth:" HA2)`, with `nc` written as 8 hex digits.
///
/// `ha1` is the stored HA1 from [`ha1`]; for a `-sess` algorithm this function derives the
/// session HA1 itself.
pub fn response(
    algorithm: Algorithm,
    ha1: &Hex,
    nonce: &[u8],
    nc: u32,
    cnonce: &[u8],
    method: &[u8],
    uri: &[u8],
) -> Hex {
    let nc = nc_hex(nc);
    response_auth(algorithm, ha1, nonce.into(), Piece::Bytes(&nc), cnonce.into(), method.into(), uri.into())
}

/// The `response` without qop, for RFC 2069 clients: `H(HA1 ":" nonce ":" HA2)`
/// (RFC 2617 §3.2.2.1).
///
/// Fails with [`DigestError::UnsupportedQop`] for a `-sess` algorithm, whose session HA1
/// needs a cnonce that RFC 2617 §3.2.2 forbids without qop.
pub fn response_without_qop(
    algorithm: Algorithm,
    ha1: &Hex,
    nonce: &[u8],
    method: &[u8],
    uri: &[u8],
) -> Result<Hex, DigestError> {
    response_no_qop(algorithm, ha1, nonce.into(), method.into(), uri.into())
}

/// The hashed username of RFC 7616 §3.4.4: `H(username ":" realm)`. A server that offers
/// `userhash=true` looks its users up by this value.
pub fn userhash(algorithm: Algorithm, username: &[u8], realm: &[u8]) -> Hex {
    h(algorithm, &[username.into(), realm.into()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_encoding_and_parsing() {
        let hex = Hex::encode(&[0x00, 0x1f, 0xa0, 0xff]);
        assert_eq!(hex.as_str(), "001fa0ff");
        assert_eq!(hex.len(), 8);
        let parsed = Hex::parse(b"939E7578ED9E3C518A452ACEE763BCE9").map(|h| *h.as_bytes().first().unwrap_or(&0));
        assert_eq!(parsed, Some(b'9'));
        assert!(Hex::parse(b"939e7578ed9e3c518a452acee763bce").is_none());
        assert!(Hex::parse(b"939e7578ed9e3c518a452acee763bceg").is_none());
        assert!(Hex::parse(b"").is_none());
    }

    #[test]
    fn ct_eq_is_exact_up_to_hex_case() {
        let hex = ha1(Algorithm::Md5, b"Mufasa", b"testrealm@host.com", b"Circle Of Life");
        assert!(hex.ct_eq(b"939e7578ed9e3c518a452acee763bce9"));
        assert!(hex.ct_eq(b"939E7578ED9E3C518A452ACEE763BCE9"));
        assert!(!hex.ct_eq(b"939e7578ed9e3c518a452acee763bce8"));
        assert!(!hex.ct_eq(b"939e7578ed9e3c518a452acee763bce"));
        assert!(!hex.ct_eq(b""));
        // 0x10 | 0x20 == b'0': a non-digit must not pass for one.
        let mut forged = *b"939e7578ed9e3c518a452acee763bce9";
        forged[1] = b'3' & !0x20;
        assert!(!hex.ct_eq(&forged));
    }

    #[test]
    fn nc_is_eight_lowercase_hex_digits() {
        assert_eq!(&nc_hex(1), b"00000001");
        assert_eq!(&nc_hex(0xdead_beef), b"deadbeef");
        assert_eq!(&nc_hex(0), b"00000000");
    }

    #[test]
    fn rfc2617_section_3_5_ha1() {
        let hex = ha1(Algorithm::Md5, b"Mufasa", b"testrealm@host.com", b"Circle Of Life");
        assert_eq!(hex.as_str(), "939e7578ed9e3c518a452acee763bce9");
    }

    #[test]
    fn sess_without_qop_is_refused() {
        let hex = ha1(Algorithm::Md5, b"u", b"r", b"p");
        assert_eq!(
            response_without_qop(Algorithm::Md5Sess, &hex, b"n", b"REGISTER", b"sip:r"),
            Err(DigestError::UnsupportedQop)
        );
    }

    #[test]
    fn stored_ha1_checks_length_and_hides_itself() {
        let md5 = "939e7578ed9e3c518a452acee763bce9";
        assert!(StoredHa1::from_hex(Algorithm::Md5Sess, md5.as_bytes()).is_ok());
        assert!(matches!(StoredHa1::from_hex(Algorithm::Sha256, md5.as_bytes()), Err(DigestError::InvalidArgument(_))));
        let stored = StoredHa1::from_password(Algorithm::Md5Sess, b"Mufasa", b"testrealm@host.com", b"Circle Of Life");
        assert_eq!(stored.algorithm(), Algorithm::Md5);
        assert_eq!(stored.hex().as_str(), md5);
        let mut buf = [0u8; 128];
        let shown = format_into(&mut buf, format_args!("{stored:?}"));
        assert!(!shown.contains("939e"), "{shown}");
        assert!(shown.contains("Md5"), "{shown}");
    }

    /// `format!` without `alloc`.
    fn format_into<'b>(buf: &'b mut [u8], args: fmt::Arguments<'_>) -> &'b str {
        struct W<'b> {
            buf: &'b mut [u8],
            len: usize,
        }
        impl fmt::Write for W<'_> {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                let end = self.len + s.len();
                self.buf.get_mut(self.len..end).ok_or(fmt::Error)?.copy_from_slice(s.as_bytes());
                self.len = end;
                Ok(())
            }
        }
        let mut w = W { buf, len: 0 };
        let _ = fmt::write(&mut w, args);
        let len = w.len;
        core::str::from_utf8(w.buf.get(..len).unwrap_or(&[])).unwrap_or("")
    }
}
